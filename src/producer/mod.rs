//! The producer (design.md §3–§4, lwp.md §2).
//!
//! `send` appends a TLV record to its topic's open batch under a short lock. One sender thread per
//! connection ("lane") seals batches by size, linger or flush, finalises them outside the lock
//! (LZ4 envelope, checksums), and keeps up to `max.in.flight` of them unacknowledged. The
//! connection's reader thread matches Acks FIFO with lwp.md §2.3's error attribution. Every
//! accepted record ends in exactly one delivery report, queued and served on the caller's thread by
//! `poll`, `flush` and `close`.
//!
//! Retries: any retryable failure (connection loss, ack timeout, FORWARD_FAILED, NOT_LEADER, a
//! missing reply) resets the connection and resends every unacknowledged batch of that lane in
//! original order, so per-topic send order is kept; resends whose first attempt may have been
//! stored are counted as possible duplicates (at-least-once).

mod engine;
mod message;
mod metrics;

pub use engine::{DeliveryReport, Producer};
pub use message::{now_ns, Message};
pub use metrics::ProducerMetrics;
