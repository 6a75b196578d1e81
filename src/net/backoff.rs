//! Exponential reconnect backoff with jitter: base → max, doubling per failure, reset after a
//! healthy connection. Pure (the random source is seeded), so the schedule is unit-testable.

use std::time::Duration;

/// Reconnect delay schedule.
#[derive(Clone, Debug)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    jitter: f64,
    failures: u32,
    rng: u64,
}

impl Backoff {
    /// A schedule starting at `base`, capped at `max`, with ±`jitter` (0..=1) randomisation.
    pub fn new(base: Duration, max: Duration, jitter: f64, seed: u64) -> Backoff {
        Backoff { base, max: max.max(base), jitter: jitter.clamp(0.0, 1.0), failures: 0, rng: seed | 1 }
    }

    /// Failures since the last reset.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Records a failure and returns how long to wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let exp = self.failures.min(30);
        self.failures = self.failures.saturating_add(1);
        let nominal = self.base.saturating_mul(1u32 << exp).min(self.max);
        let r = self.next_unit() * 2.0 - 1.0; // -1..1
        let factor = 1.0 + self.jitter * r;
        nominal.mul_f64(factor.max(0.0)).min(self.max)
    }

    /// Back to the first delay (after a healthy connection).
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    fn next_unit(&mut self) -> f64 {
        // xorshift64*: plenty for jitter, no dependency.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let v = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (v >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A seed that differs between processes and handles, so clients do not reconnect in lockstep.
pub fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_doubles_caps_and_resets() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(100), ms(30_000), 0.0, 7);
        let got: Vec<_> = (0..11).map(|_| b.next_delay()).collect();
        let want: Vec<_> = [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000].map(ms).to_vec();
        assert_eq!(got, want);
        b.reset();
        assert_eq!(b.next_delay(), ms(100));
    }

    #[test]
    fn jitter_stays_within_bounds_and_varies() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(1000), ms(1000), 0.1, 42);
        let ds: Vec<_> = (0..200).map(|_| b.next_delay()).collect();
        assert!(ds.iter().all(|d| *d >= ms(900) && *d <= ms(1000)));
        assert!(ds.iter().any(|d| *d < ms(990)), "jitter must actually vary the delay");
        let mut c = Backoff::new(ms(100), ms(30_000), 0.1, 42);
        for i in 0..8u32 {
            let d = c.next_delay().as_secs_f64();
            let nominal = 0.1 * 2f64.powi(i as i32);
            assert!(d >= nominal * 0.9 - 1e-9 && d <= nominal * 1.1 + 1e-9, "attempt {i}: {d}");
        }
    }
}
