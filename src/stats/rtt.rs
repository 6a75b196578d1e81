//! Keepalive round-trip times and their jitter: a pure state machine fed one sample at a time.
//!
//! Jitter is the RFC 3550 (§6.4.1) estimator applied to consecutive round trips: with
//! `D = |rttᵢ − rttᵢ₋₁|`, `J ← J + (D − J) / 16`. It smooths out one odd sample and follows a
//! lasting change, and needs no history.

use std::time::Duration;

use serde::Serialize;

/// Round-trip statistics of one connection slot (kept across reconnects).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RttTracker {
    samples: u64,
    last_us: f64,
    min_us: f64,
    max_us: f64,
    sum_us: f64,
    jitter_us: f64,
}

impl RttTracker {
    /// Counts one round trip.
    pub fn sample(&mut self, rtt: Duration) {
        let us = rtt.as_secs_f64() * 1e6;
        if self.samples == 0 {
            self.min_us = us;
            self.max_us = us;
        } else {
            self.jitter_us += ((us - self.last_us).abs() - self.jitter_us) / 16.0;
            self.min_us = self.min_us.min(us);
            self.max_us = self.max_us.max(us);
        }
        self.samples += 1;
        self.sum_us += us;
        self.last_us = us;
    }

    /// The figures so far (all 0 before the first sample).
    pub fn summary(&self) -> RttSummary {
        let r = |v: f64| v.round() as u64;
        RttSummary {
            samples: self.samples,
            last_us: r(self.last_us),
            min_us: r(self.min_us),
            max_us: r(self.max_us),
            mean_us: if self.samples == 0 { 0 } else { r(self.sum_us / self.samples as f64) },
            jitter_us: r(self.jitter_us),
        }
    }
}

/// Keepalive round trips of a connection slot, microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RttSummary {
    /// Keepalive replies measured.
    pub samples: u64,
    /// The latest round trip.
    pub last_us: u64,
    /// Smallest round trip.
    pub min_us: u64,
    /// Largest round trip.
    pub max_us: u64,
    /// Mean round trip.
    pub mean_us: u64,
    /// Smoothed variation between consecutive round trips (RFC 3550 §6.4.1).
    pub jitter_us: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The reference: the same figures computed from the whole list at once.
    fn reference(us: &[u64]) -> RttSummary {
        if us.is_empty() {
            return RttSummary::default();
        }
        let mut j = 0.0f64;
        for w in us.windows(2) {
            j += ((w[1] as f64 - w[0] as f64).abs() - j) / 16.0;
        }
        RttSummary {
            samples: us.len() as u64,
            last_us: *us.last().unwrap(),
            min_us: *us.iter().min().unwrap(),
            max_us: *us.iter().max().unwrap(),
            mean_us: (us.iter().map(|&v| v as f64).sum::<f64>() / us.len() as f64).round() as u64,
            jitter_us: j.round() as u64,
        }
    }

    #[test]
    fn a_steady_link_has_no_jitter() {
        let mut t = RttTracker::default();
        for _ in 0..100 {
            t.sample(Duration::from_micros(250));
        }
        let s = t.summary();
        assert_eq!((s.samples, s.min_us, s.max_us, s.mean_us, s.jitter_us), (100, 250, 250, 250, 0));
    }

    #[test]
    fn jitter_follows_alternating_round_trips() {
        let mut t = RttTracker::default();
        for i in 0..400 {
            t.sample(Duration::from_micros(if i % 2 == 0 { 100 } else { 300 }));
        }
        // Every step differs by 200 µs: the estimator converges to 200.
        assert_eq!(t.summary().jitter_us, 200);
    }

    proptest! {
        #[test]
        fn matches_the_reference(us in proptest::collection::vec(0u64..10_000_000, 0..200)) {
            let mut t = RttTracker::default();
            for &v in &us {
                t.sample(Duration::from_micros(v));
            }
            let (got, want) = (t.summary(), reference(&us));
            prop_assert_eq!((got.samples, got.last_us, got.min_us, got.max_us), (want.samples, want.last_us, want.min_us, want.max_us));
            prop_assert!(got.mean_us.abs_diff(want.mean_us) <= 1);
            prop_assert!(got.jitter_us.abs_diff(want.jitter_us) <= 1);
        }
    }
}
