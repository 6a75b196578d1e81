//! Statistics: latency histograms, per-connection counters and the versioned JSON documents
//! returned by [`crate::Producer::statistics_json`] and
//! [`crate::StandaloneConsumer::statistics_json`] (schema: `docs/statistics.md`).
//!
//! - [`latency`]: HDR histogram wrapper (≤ 1 % relative error), merged when read.
//! - [`rtt`]: keepalive round trips and jitter (a pure state machine).
//! - [`link`]: one connection slot's counters and state.
//! - [`document`]: the documents and their rendering.
//!
//! Nothing here takes a lock on a record's path: histograms are recorded under a lock the caller
//! already holds (the producer's lane lock, the consumer's state lock), counters are relaxed
//! atomics.

pub mod document;
pub mod latency;
pub mod link;
pub mod rtt;

pub use document::{ConsumerStatistics, ProducerStatistics, STATISTICS_VERSION};
pub use latency::{LatencyHistogram, LatencySummary};
pub use link::{ConnectionStatistics, LinkState, LinkStats};
pub use rtt::{RttSummary, RttTracker};
