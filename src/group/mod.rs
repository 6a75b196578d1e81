//! Consumer groups without a coordinator service (issue #19; docs/groups.md).
//!
//! A named group keeps its state in an ordinary LANCE topic, `lnc-group-<name>` (LANCE topic names
//! allow only `[A-Za-z0-9-]`). Members write join, heartbeat, leave, ack and commit records to it
//! and read it back; every member derives the same view from the same log.
//!
//! Files: `record.rs` the versioned record codec; `assign.rs` the assignment strategies;
//! `view.rs` the pure state machine (membership, assignment, generation fencing, commits) and the
//! member's decisions; `member.rs` the runtime that drives it with a producer and consumers.

pub mod assign;
pub mod member;
pub mod record;
pub mod view;

pub use assign::Strategy;
pub use member::{GroupConsumer, GroupEvent, GroupMetrics};
pub use record::{Body, GroupRecord};
pub use view::{Action, GroupView};

/// The prefix of every group topic's name.
pub const TOPIC_PREFIX: &str = "lnc-group-";

/// The name of `group`'s state topic.
pub fn group_topic_name(group: &str) -> String {
    format!("{TOPIC_PREFIX}{group}")
}
