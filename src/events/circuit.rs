//! The circuit breaker as a pure state machine (no clock, no lock, no I/O): the caller passes the
//! time in. `failures` consecutive connection failures open the circuit; after `reset` it goes
//! half-open and lets exactly one connection attempt through; that attempt's success closes it,
//! its failure opens it again for another `reset`.

use std::time::{Duration, Instant};

/// The breaker's state as seen from outside (also in the statistics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CircuitState {
    /// Connections are attempted normally.
    Closed,
    /// Connection attempts are held back until the reset time; non-blocking sends fail fast.
    Open,
    /// One trial connection attempt is allowed.
    HalfOpen,
}

impl CircuitState {
    /// Lower-case name (`closed`, `open`, `half-open`).
    pub fn name(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half-open",
        }
    }
}

/// What the caller may do about connecting now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permit {
    /// Attempt a connection (and report its outcome).
    Attempt,
    /// Do not attempt before this time (the circuit is open, or the half-open trial is out).
    WaitUntil(Instant),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Inner {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { trial_out: bool },
}

/// The breaker. `failures == 0` turns it off (it stays closed whatever happens).
#[derive(Clone, Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    reset: Duration,
    inner: Inner,
}

impl CircuitBreaker {
    /// A closed breaker opening after `threshold` consecutive failures (0 = never).
    pub fn new(threshold: u32, reset: Duration) -> CircuitBreaker {
        CircuitBreaker { threshold, reset, inner: Inner::Closed { failures: 0 } }
    }

    /// The current state (an open circuit whose reset time passed still reads `Open` until
    /// [`CircuitBreaker::permit`] moves it to half-open).
    pub fn state(&self) -> CircuitState {
        match self.inner {
            Inner::Closed { .. } => CircuitState::Closed,
            Inner::Open { .. } => CircuitState::Open,
            Inner::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// Consecutive failures counted while closed.
    pub fn failures(&self) -> u32 {
        match self.inner {
            Inner::Closed { failures } => failures,
            _ => self.threshold,
        }
    }

    /// May a connection attempt start at `now`? Moves open → half-open once the reset time has
    /// passed (the returned transition), handing the one trial to this caller.
    pub fn permit(&mut self, now: Instant) -> (Permit, Option<CircuitState>) {
        match self.inner {
            Inner::Closed { .. } => (Permit::Attempt, None),
            Inner::Open { until } if now < until => (Permit::WaitUntil(until), None),
            Inner::Open { .. } => {
                self.inner = Inner::HalfOpen { trial_out: true };
                (Permit::Attempt, Some(CircuitState::HalfOpen))
            }
            Inner::HalfOpen { trial_out: false } => {
                self.inner = Inner::HalfOpen { trial_out: true };
                (Permit::Attempt, None)
            }
            // Another caller holds the trial: look again after a reset period at the latest.
            Inner::HalfOpen { trial_out: true } => (Permit::WaitUntil(now + self.reset), None),
        }
    }

    /// When an open circuit lets the next attempt through (`None` unless open). Changes nothing.
    pub fn open_until(&self) -> Option<Instant> {
        match self.inner {
            Inner::Open { until } => Some(until),
            _ => None,
        }
    }

    /// How long the circuit stays open.
    pub fn reset(&self) -> Duration {
        self.reset
    }

    /// A connection attempt succeeded: the circuit closes. Returns the transition, if any.
    pub fn on_success(&mut self) -> Option<CircuitState> {
        let was = self.state();
        self.inner = Inner::Closed { failures: 0 };
        (was != CircuitState::Closed).then_some(CircuitState::Closed)
    }

    /// A connection attempt failed at `now`. Returns the transition, if any.
    pub fn on_failure(&mut self, now: Instant) -> Option<CircuitState> {
        match self.inner {
            Inner::Closed { .. } if self.threshold == 0 => None,
            Inner::Closed { failures } if failures + 1 < self.threshold => {
                self.inner = Inner::Closed { failures: failures + 1 };
                None
            }
            Inner::Closed { .. } | Inner::HalfOpen { .. } => {
                self.inner = Inner::Open { until: now + self.reset };
                Some(CircuitState::Open)
            }
            // A failure of an attempt that started before the circuit opened: stays open.
            Inner::Open { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn opens_half_opens_and_closes() {
        let t0 = Instant::now();
        let mut b = CircuitBreaker::new(3, ms(1000));
        assert_eq!(b.on_failure(t0), None);
        assert_eq!(b.on_failure(t0), None);
        assert_eq!(b.on_failure(t0), Some(CircuitState::Open));
        assert_eq!(b.permit(t0 + ms(999)), (Permit::WaitUntil(t0 + ms(1000)), None));
        assert_eq!(b.permit(t0 + ms(1000)), (Permit::Attempt, Some(CircuitState::HalfOpen)));
        // Only one trial while half-open.
        assert!(matches!(b.permit(t0 + ms(1000)).0, Permit::WaitUntil(_)));
        assert_eq!(b.on_failure(t0 + ms(1100)), Some(CircuitState::Open));
        assert_eq!(b.permit(t0 + ms(2100)).1, Some(CircuitState::HalfOpen));
        assert_eq!(b.on_success(), Some(CircuitState::Closed));
        assert_eq!(b.on_success(), None);
        assert_eq!(b.failures(), 0);
    }

    #[test]
    fn zero_threshold_never_opens() {
        let t0 = Instant::now();
        let mut b = CircuitBreaker::new(0, ms(10));
        for _ in 0..1000 {
            assert_eq!(b.on_failure(t0), None);
            assert_eq!(b.permit(t0).0, Permit::Attempt);
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Permit(u64),
        Success,
        Failure(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![(0u64..50).prop_map(Op::Permit), Just(Op::Success), (0u64..50).prop_map(Op::Failure)]
    }

    /// The reference: the rules written as plainly as possible.
    #[derive(Debug)]
    struct Model {
        threshold: u32,
        reset: u64,
        failures: u32,
        open_until: Option<u64>,
        half_open: bool,
        trial_out: bool,
    }

    proptest! {
        #[test]
        fn matches_reference_model(threshold in 0u32..5, reset in 1u64..30, ops in proptest::collection::vec(op(), 0..200)) {
            let t0 = Instant::now();
            let mut b = CircuitBreaker::new(threshold, ms(reset));
            let mut m = Model { threshold, reset, failures: 0, open_until: None, half_open: false, trial_out: false };
            let mut now = 0u64;
            for o in ops {
                match o {
                    Op::Permit(dt) => {
                        now += dt;
                        let (p, t) = b.permit(t0 + ms(now));
                        let (want_p, want_t) = if let Some(u) = m.open_until {
                            if now < u { (Permit::WaitUntil(t0 + ms(u)), None) } else {
                                m.open_until = None; m.half_open = true; m.trial_out = true;
                                (Permit::Attempt, Some(CircuitState::HalfOpen))
                            }
                        } else if m.half_open {
                            if m.trial_out { (Permit::WaitUntil(t0 + ms(now + m.reset)), None) } else { m.trial_out = true; (Permit::Attempt, None) }
                        } else { (Permit::Attempt, None) };
                        prop_assert_eq!(p, want_p);
                        prop_assert_eq!(t, want_t);
                    }
                    Op::Success => {
                        let was_closed = m.open_until.is_none() && !m.half_open;
                        m.failures = 0; m.open_until = None; m.half_open = false; m.trial_out = false;
                        prop_assert_eq!(b.on_success(), (!was_closed).then_some(CircuitState::Closed));
                    }
                    Op::Failure(dt) => {
                        now += dt;
                        let want = if m.open_until.is_some() { None }
                            else if m.half_open { m.half_open = false; m.open_until = Some(now + m.reset); Some(CircuitState::Open) }
                            else if m.threshold == 0 { None }
                            else { m.failures += 1; if m.failures >= m.threshold { m.failures = 0; m.open_until = Some(now + m.reset); Some(CircuitState::Open) } else { None } };
                        prop_assert_eq!(b.on_failure(t0 + ms(now)), want);
                    }
                }
                let want_state = if m.open_until.is_some() { CircuitState::Open } else if m.half_open { CircuitState::HalfOpen } else { CircuitState::Closed };
                prop_assert_eq!(b.state(), want_state);
                // Invariant: an open circuit never permits an attempt before its reset time.
                if let Some(u) = m.open_until { prop_assert!(u > now || b.state() == CircuitState::Open); }
            }
        }
    }
}
