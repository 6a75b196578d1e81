//! Producer counters (lock-free, read as a snapshot). The ack-latency histograms live in the lanes'
//! windows (recorded under the lane lock, merged when read).

use std::sync::atomic::AtomicU64;

/// Atomic counters behind [`ProducerMetrics`].
pub(crate) struct Counters {
    pub records_sent: AtomicU64,
    pub records_acked: AtomicU64,
    pub records_failed: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub bytes_acked: AtomicU64,
    pub batches_sent: AtomicU64,
    pub batches_acked: AtomicU64,
    pub batches_failed: AtomicU64,
    pub batches_retried: AtomicU64,
    pub records_retried: AtomicU64,
    pub possible_duplicates: AtomicU64,
    pub connects: AtomicU64,
    pub disconnects: AtomicU64,
    pub server_errors: AtomicU64,
    pub batches_compressed: AtomicU64,
}

impl Counters {
    pub(crate) fn new() -> Counters {
        let z = || AtomicU64::new(0);
        Counters {
            records_sent: z(),
            records_acked: z(),
            records_failed: z(),
            bytes_sent: z(),
            bytes_acked: z(),
            batches_sent: z(),
            batches_acked: z(),
            batches_failed: z(),
            batches_retried: z(),
            records_retried: z(),
            possible_duplicates: z(),
            connects: z(),
            disconnects: z(),
            server_errors: z(),
            batches_compressed: z(),
        }
    }
}

/// A point-in-time view of a producer's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProducerMetrics {
    /// Records written to the wire (resends counted again).
    pub records_sent: u64,
    /// Records acknowledged by the server.
    pub records_acked: u64,
    /// Records given a final error report.
    pub records_failed: u64,
    /// Payload bytes written (resends counted again).
    pub bytes_sent: u64,
    /// Payload bytes acknowledged.
    pub bytes_acked: u64,
    /// Batches written (resends counted again).
    pub batches_sent: u64,
    /// Batches acknowledged.
    pub batches_acked: u64,
    /// Batches given a final error.
    pub batches_failed: u64,
    /// Batch resends after a retryable failure.
    pub batches_retried: u64,
    /// Records resent after a retryable failure.
    pub records_retried: u64,
    /// Records resent whose earlier attempt may have been stored (possible duplicates).
    pub possible_duplicates: u64,
    /// Connections established.
    pub connects: u64,
    /// Connections lost or reset.
    pub disconnects: u64,
    /// ErrorResponses received for ingests.
    pub server_errors: u64,
    /// Batches sent as an LZ4 envelope.
    pub batches_compressed: u64,
    /// Batches currently unacknowledged on the wire.
    pub in_flight_batches: u64,
    /// Bytes of records buffered or in flight (bounded by buffer.memory).
    pub buffered_bytes: u64,
    /// Records accepted whose report has not been served yet.
    pub outstanding_records: u64,
    /// Median ack latency (send → ack, one value per acknowledged record), microseconds, within
    /// 1 % (HDR histogram).
    pub ack_latency_p50_us: u64,
    /// 99th percentile ack latency, microseconds, within 1 %.
    pub ack_latency_p99_us: u64,
    /// The batch size limit in force now: `batch.size`, or up to `batch.size.max` while the
    /// in-flight window is full (adaptive batching).
    pub batch_size_current: u64,
    /// 90th percentile ack latency, microseconds, within 1 %.
    pub ack_latency_p90_us: u64,
    /// 99.9th percentile ack latency, microseconds, within 1 %.
    pub ack_latency_p999_us: u64,
    /// Largest ack latency, microseconds, within 1 %.
    pub ack_latency_max_us: u64,
}
