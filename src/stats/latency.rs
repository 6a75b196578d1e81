//! Latency quantiles: an HDR histogram of microseconds with ≤ 1 % relative error.
//!
//! Two significant digits give 256 sub-buckets per power of two, so every recorded value is
//! reported as at most 1/128 (0.8 %) above itself. The range is 1 µs to 1 hour (longer values are
//! counted as 1 hour); a histogram holds about 3,300 counters (26 KiB), so it is kept per lane or
//! per thread and merged when read, never behind a lock of its own.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Largest value recorded as itself, in microseconds (1 hour).
const HIGHEST_US: u64 = 3_600_000_000;
/// Significant decimal digits kept: 2 → ≤ 1/128 relative error.
const SIGNIFICANT_DIGITS: u8 = 2;

/// A latency histogram (microseconds). Recording is a few arithmetic operations and one
/// increment; the owner serialises it (an existing lock or one thread).
#[derive(Clone, Debug)]
pub struct LatencyHistogram {
    h: Histogram<u64>,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram::new()
    }
}

impl LatencyHistogram {
    /// An empty histogram.
    pub fn new() -> LatencyHistogram {
        let h =
            Histogram::new_with_bounds(1, HIGHEST_US, SIGNIFICANT_DIGITS).expect("constant histogram bounds are valid");
        LatencyHistogram { h }
    }

    /// Counts one latency.
    pub fn record(&mut self, d: Duration) {
        self.record_n(d, 1);
    }

    /// Counts `n` equal latencies (a batch acknowledged at once: one per record).
    pub fn record_n(&mut self, d: Duration, n: u64) {
        if n > 0 {
            self.h.saturating_record_n(micros(d), n);
        }
    }

    /// Adds every count of `other` into this one.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        // Same bounds and precision on both sides, and no auto-resize: addition cannot fail.
        let _ = self.h.add(&other.h);
    }

    /// Values counted.
    pub fn count(&self) -> u64 {
        self.h.len()
    }

    /// The value at quantile `q` (0..=1) in microseconds: the smallest recorded value (within
    /// 1 %) that at least `ceil(q × count)` values do not exceed. 0 when empty.
    pub fn quantile_us(&self, q: f64) -> u64 {
        if self.h.is_empty() {
            return 0;
        }
        self.h.value_at_quantile(q)
    }

    /// Count, mean, p50, p90, p99, p99.9 and max.
    pub fn summary(&self) -> LatencySummary {
        if self.h.is_empty() {
            return LatencySummary::default();
        }
        LatencySummary {
            count: self.h.len(),
            mean_us: self.h.mean().round() as u64,
            p50_us: self.h.value_at_quantile(0.50),
            p90_us: self.h.value_at_quantile(0.90),
            p99_us: self.h.value_at_quantile(0.99),
            p999_us: self.h.value_at_quantile(0.999),
            max_us: self.h.max(),
        }
    }
}

/// A duration in whole microseconds, saturating.
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Quantiles of a [`LatencyHistogram`], microseconds (all 0 when nothing was counted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LatencySummary {
    /// Values counted.
    pub count: u64,
    /// Mean.
    pub mean_us: u64,
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest value (within 1 %).
    pub max_us: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The reference: the `ceil(q·n)`-th smallest sample (nearest rank).
    fn nearest_rank(sorted: &[u64], q: f64) -> u64 {
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    fn within_one_percent(got: u64, want: u64) -> bool {
        got >= want && (got - want) as f64 <= want as f64 * 0.01
    }

    #[test]
    fn empty_reports_zeroes() {
        let h = LatencyHistogram::new();
        assert_eq!(h.summary(), LatencySummary::default());
        assert_eq!(h.quantile_us(0.5), 0);
    }

    #[test]
    fn quantiles_differ_when_latencies_do() {
        let mut h = LatencyHistogram::new();
        for us in 1..=10_000u64 {
            h.record(Duration::from_micros(us));
        }
        let s = h.summary();
        assert!(s.p50_us < s.p90_us && s.p90_us < s.p99_us && s.p99_us < s.p999_us && s.p999_us <= s.max_us, "{s:?}");
        assert!(within_one_percent(s.p50_us, 5_000), "{s:?}");
        assert!(within_one_percent(s.p99_us, 9_900), "{s:?}");
    }

    #[test]
    fn longer_than_an_hour_counts_as_an_hour() {
        let mut h = LatencyHistogram::new();
        h.record(Duration::from_secs(10_000));
        assert!(within_one_percent(h.summary().max_us, HIGHEST_US));
    }

    proptest! {
        /// Every quantile is within 1 % (above) of the nearest-rank quantile of the raw samples,
        /// merged histograms included.
        #[test]
        fn quantiles_match_raw_samples(samples in proptest::collection::vec(1u64..5_000_000, 1..400), split in 0usize..400) {
            let mut a = LatencyHistogram::new();
            let mut b = LatencyHistogram::new();
            for (i, us) in samples.iter().enumerate() {
                if i < split { a.record(Duration::from_micros(*us)) } else { b.record_n(Duration::from_micros(*us), 1) }
            }
            a.merge(&b);
            let mut sorted = samples.clone();
            sorted.sort_unstable();
            prop_assert_eq!(a.count(), samples.len() as u64);
            for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
                let (got, want) = (a.quantile_us(q), nearest_rank(&sorted, q));
                prop_assert!(within_one_percent(got, want), "q {} got {} want {}", q, got, want);
            }
            prop_assert!(within_one_percent(a.summary().max_us, *sorted.last().unwrap()));
        }
    }
}
