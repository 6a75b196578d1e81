//! The producer (design.md §3–§4, lwp.md §2).
//!
//! A reader finds each job in its own file:
//! - [`handle`]: the public [`Producer`] API;
//! - `core`: the one lock over the lifecycle, buffer memory, accumulator and report queue, and
//!   the waits on it; the pure parts it combines are `lifecycle`, `memory`, `accumulator` and
//!   `reports`;
//! - `window`: one lane's in-flight window and the router fed by its connection's reader;
//! - [`attribution`]: lwp.md §2.3's ack attribution as a pure state machine;
//! - `sender`: one thread per lane (connection) that seals, finalises and sends;
//! - `batch`: a batch and how it becomes a frame; [`message`]: a record to send.
//!
//! **Promises.** A `send` that returns `Ok` accepted the record, and the record gets exactly one
//! delivery report, whatever other threads do meanwhile (`close`, `purge`, `flush`, drop,
//! faults, a panic in a library thread). Any other return means it was not accepted and gets no
//! report. Buffered, in-flight and unserved-report bytes stay within `buffer.memory`.
//!
//! **Order.** Each topic stays on one connection. Batches are written in send order and, after a
//! connection reset, every unacknowledged batch is resent in its original order before any newer
//! one. So between two resets the log holds a topic's records in send order. Across a reset the
//! resent batches may duplicate copies already stored (counted as `possible_duplicates`) and,
//! with `max.in.flight > 1`, a resent batch can land behind later batches that were in flight
//! with it and were stored (a FORWARD_FAILED batch that was not stored, followed by one that
//! was). Every place where the log's order goes backwards is therefore caused by a reset
//! (`disconnects` counts them). With `max.in.flight = 1`, acknowledged records are stored in send
//! order, each possibly preceded by a duplicate of itself.

mod accumulator;
pub mod attribution;
mod batch;
mod core;
pub mod handle;
mod lifecycle;
mod memory;
pub mod message;
mod metrics;
mod reports;
mod sender;
mod settings;
mod window;

#[cfg(test)]
pub(crate) mod tests;

#[cfg(all(test, lnc_shuttle))]
mod model;

pub use self::core::DeliveryCallback;
pub use handle::{Producer, SendOptions};
pub use message::{now_ns, Message};
pub use metrics::ProducerMetrics;
pub use reports::DeliveryReport;
