//! Producer counters and the ack-latency histogram (lock-free, read as a snapshot).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Log-scale latency histogram: 4 buckets per power of two of microseconds, up to ~1 hour.
pub(crate) struct Histogram {
    buckets: Vec<AtomicU64>,
}

const SUB: u32 = 4;
const BUCKETS: usize = (32 * SUB) as usize;

impl Histogram {
    pub(crate) fn new() -> Histogram {
        Histogram { buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect() }
    }

    fn index(us: u64) -> usize {
        if us < 2 {
            return us as usize;
        }
        let log = 63 - us.leading_zeros();
        let frac = ((us >> (log.saturating_sub(2))) & 0b11) as u32;
        ((log * SUB + frac) as usize).min(BUCKETS - 1)
    }

    fn upper_us(index: usize) -> u64 {
        if index < 2 {
            return index as u64;
        }
        let log = index as u32 / SUB;
        let frac = index as u32 % SUB;
        let base = 1u64 << log;
        // Upper edge of [base + frac·base/4, base + (frac+1)·base/4).
        base + (base / 4).max(1) * (frac as u64 + 1)
    }

    #[cfg(test)]
    pub(crate) fn record(&self, d: Duration) {
        self.buckets[Self::index(d.as_micros() as u64)].fetch_add(1, Relaxed);
    }

    pub(crate) fn record_n(&self, d: Duration, n: u64) {
        self.buckets[Self::index(d.as_micros() as u64)].fetch_add(n, Relaxed);
    }

    /// The value at quantile `q` (0..1), in microseconds (bucket upper edge).
    pub(crate) fn quantile_us(&self, q: f64) -> u64 {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return 0;
        }
        let target = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= target {
                return Self::upper_us(i);
            }
        }
        Self::upper_us(BUCKETS - 1)
    }
}

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
    pub ack_latency: Histogram,
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
            ack_latency: Histogram::new(),
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
    /// Median ack latency (send → ack), microseconds.
    pub ack_latency_p50_us: u64,
    /// 99th percentile ack latency, microseconds.
    pub ack_latency_p99_us: u64,
    /// The batch size limit in force now: `batch.size`, or up to `batch.size.max` while the
    /// in-flight window is full (adaptive batching).
    pub batch_size_current: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_close() {
        let h = Histogram::new();
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        let p50 = h.quantile_us(0.5);
        let p99 = h.quantile_us(0.99);
        assert!((450..=700).contains(&p50), "p50 {p50}");
        assert!((900..=1300).contains(&p99), "p99 {p99}");
    }
}
