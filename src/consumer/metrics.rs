//! Consumer counters (relaxed atomics, added once per fetch reply or per poll, never per record)
//! and the snapshot [`ConsumerMetrics`]. The fetch-latency histogram lives in the consumer's
//! state, recorded under the lock the fetch thread already takes.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Atomic counters behind [`ConsumerMetrics`].
#[derive(Default)]
pub(crate) struct Counters {
    pub records: AtomicU64,
    pub bytes: AtomicU64,
    pub errors: AtomicU64,
    pub fetches: AtomicU64,
    pub empty_fetches: AtomicU64,
    pub fetch_bytes: AtomicU64,
    pub catching_up: AtomicU64,
    /// Gauge: bytes held by the reassembler after the fetch thread's last step.
    pub carry: AtomicU64,
}

impl Counters {
    pub(crate) fn add(a: &AtomicU64, n: u64) {
        a.fetch_add(n, Relaxed);
    }

    pub(crate) fn get(a: &AtomicU64) -> u64 {
        a.load(Relaxed)
    }
}

/// A point-in-time view of a consumer's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConsumerMetrics {
    /// Records handed to the application by `poll`.
    pub records: u64,
    /// Value bytes of those records.
    pub bytes: u64,
    /// Errors handed to the application by `poll`.
    pub errors: u64,
    /// Fetch replies received (data, empty or CatchingUp).
    pub fetches: u64,
    /// Fetch replies with no data (the consumer is at the tail).
    pub empty_fetches: u64,
    /// Bytes of Fetch reply payloads received.
    pub fetch_bytes: u64,
    /// CatchingUp replies received.
    pub catching_up: u64,
    /// P: the position just past the last record handed out.
    pub position: u64,
    /// The end of the topic as last learned from a reply (no request is made); `None` before
    /// the first.
    pub end_offset: Option<u64>,
    /// Milliseconds since `end_offset` was learned.
    pub end_offset_age_ms: u64,
    /// `end_offset − position` (0 while the end is unknown: check `end_offset`).
    pub lag: u64,
    /// Records and errors queued for `poll`.
    pub queued_events: u64,
    /// Bytes queued (bounded by `queued.max.bytes`).
    pub queued_bytes: u64,
    /// Bytes held by the reassembler: the start of a record cut by a fetch window, plus whole
    /// records not yet decoded while the queue is full.
    pub reassembly_carry_bytes: u64,
    /// Median fetch latency (request → reply), microseconds, within 1 %.
    pub fetch_latency_p50_us: u64,
    /// 99th percentile fetch latency, microseconds, within 1 %.
    pub fetch_latency_p99_us: u64,
    /// Largest fetch latency, microseconds, within 1 %.
    pub fetch_latency_max_us: u64,
    /// Reconnections of the fetch connection (connections established minus the first).
    pub reconnects: u64,
}
