//! The lock and condition variable of the producer's synchronisation core, swappable for model
//! checking.
//!
//! In every ordinary build these are parking_lot's `Mutex`, `MutexGuard` and `Condvar`,
//! re-exported as they are (no cost). In the model-checking build (`RUSTFLAGS="--cfg
//! lnc_shuttle"`, unit tests only, see `scripts/model-check.sh`) they are thin wrappers over
//! `shuttle::sync` with the same methods, so shuttle controls every lock, unlock, wait and
//! notification of the core and explores their interleavings.
//!
//! # How deadlines are modelled
//!
//! Shuttle has no clock (its own `Condvar::wait_timeout` never times out), while the core's waits
//! all take an `Instant` deadline and also compare deadlines with the real clock. The model keeps
//! the real clock for those comparisons and makes every wait one of three kinds:
//!
//! - **The deadline has passed** (by the real clock): the wait releases the lock, yields to the
//!   scheduler and relocks, and reports a timeout (parking_lot also releases the lock here).
//! - **The deadline is at least an hour away** (`model::UNBOUNDED`): the wait never times out.
//!   It is a plain shuttle wait that only a notification ends, so a missed notification leaves the
//!   thread blocked for ever and shuttle reports the deadlock. Model tests use such deadlines to
//!   check that nothing depends on a timeout to make progress (no lost wakeup).
//! - **Any other deadline** (at most 100 ms away: model tests use 1 ms, and a deadline between
//!   100 ms and an hour away is refused with a panic) may pass at any moment: the waiter gives up
//!   the lock and, at each of its scheduling points, either sees a notification (woken), or its
//!   deadline passes by a random choice that shuttle makes, records and replays, or it yields and
//!   keeps waiting. When the deadline passes this way the waiter really sleeps until it, so the
//!   real clock agrees with the timeout for the callers that check the clock themselves
//!   (`reserve` and `flush` loop on `Instant::now() >= deadline`). So a bounded wait can end by
//!   notification or by timeout in any interleaving, as a real one can, and a caller that ignored
//!   its timeout would be seen spinning (shuttle's step bound).
//!
//! `Mutex::try_lock_until` is modelled the same way: a passed deadline gives one `try_lock`; an
//! unbounded one a blocking `lock` (so shuttle sees a holder that never lets go as a deadlock);
//! another one retries `try_lock` at each scheduling point until it succeeds or the deadline
//! passes as above.
//!
//! Outside the lock the model keeps the real clock, and a bounded deadline can also pass by
//! itself during a slow step: that is one of the modelled behaviours, but replaying such a
//! schedule may not repeat it.

#[cfg(not(all(test, lnc_shuttle)))]
pub(crate) use parking_lot::{Condvar, Mutex, MutexGuard};

#[cfg(all(test, lnc_shuttle))]
pub(crate) use self::model::{Condvar, Mutex, MutexGuard};

#[cfg(all(test, lnc_shuttle))]
pub(crate) mod model {
    use std::ops::{Deref, DerefMut};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::PoisonError;
    use std::time::{Duration, Instant};

    use shuttle::rand::Rng;

    /// A deadline at least this far away never passes in the model.
    pub(crate) const UNBOUNDED: Duration = Duration::from_secs(3600);

    /// The longest bounded deadline: a wait on it may end by really sleeping until it.
    const LONGEST_BOUNDED: Duration = Duration::from_millis(100);

    /// One in this many scheduling points of a bounded wait is where its deadline passes.
    const TIMEOUT_ODDS: u32 = 4;

    /// How a deadline behaves in the model.
    enum Bound {
        Passed,
        Unbounded,
        Bounded,
    }

    fn bound(deadline: Instant) -> Bound {
        let now = Instant::now();
        if deadline <= now {
            Bound::Passed
        } else if deadline - now >= UNBOUNDED {
            Bound::Unbounded
        } else {
            assert!(
                deadline - now <= LONGEST_BOUNDED,
                "a model deadline must have passed, be at most {LONGEST_BOUNDED:?} away, or be at least {UNBOUNDED:?} away"
            );
            Bound::Bounded
        }
    }

    /// At a scheduling point of a bounded wait: does the deadline pass here? If it does, the real
    /// clock is brought past it.
    fn times_out_now(deadline: Instant) -> bool {
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        if shuttle::rand::thread_rng().gen_ratio(1, TIMEOUT_ODDS) {
            let mut now = now;
            while now < deadline {
                std::thread::sleep(deadline - now);
                now = Instant::now();
            }
            return true;
        }
        false
    }

    /// `parking_lot::Mutex` over `shuttle::sync::Mutex` (a panic while locked does not poison).
    pub(crate) struct Mutex<T> {
        inner: shuttle::sync::Mutex<T>,
    }

    /// The guard; the inner guard is absent only inside [`Condvar::wait_until`].
    pub(crate) struct MutexGuard<'a, T> {
        mutex: &'a shuttle::sync::Mutex<T>,
        inner: Option<shuttle::sync::MutexGuard<'a, T>>,
    }

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Mutex<T> {
            Mutex { inner: shuttle::sync::Mutex::new(value) }
        }

        fn guard<'a>(&'a self, inner: shuttle::sync::MutexGuard<'a, T>) -> MutexGuard<'a, T> {
            MutexGuard { mutex: &self.inner, inner: Some(inner) }
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.guard(self.inner.lock().unwrap_or_else(PoisonError::into_inner))
        }

        pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            match self.inner.try_lock() {
                Ok(g) => Some(self.guard(g)),
                Err(std::sync::TryLockError::Poisoned(p)) => Some(self.guard(p.into_inner())),
                Err(std::sync::TryLockError::WouldBlock) => None,
            }
        }

        /// Locks if that is possible before `deadline` (see the module documentation).
        pub(crate) fn try_lock_until(&self, deadline: Instant) -> Option<MutexGuard<'_, T>> {
            if let Some(g) = self.try_lock() {
                return Some(g);
            }
            match bound(deadline) {
                Bound::Passed => None,
                Bound::Unbounded => Some(self.lock()),
                Bound::Bounded => loop {
                    if times_out_now(deadline) {
                        return None;
                    }
                    shuttle::thread::yield_now();
                    if let Some(g) = self.try_lock() {
                        return Some(g);
                    }
                },
            }
        }
    }

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.inner.as_deref().expect("guard holds the lock")
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.inner.as_deref_mut().expect("guard holds the lock")
        }
    }

    /// Whether a timed wait ended by its deadline.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) struct WaitTimeoutResult(bool);

    impl WaitTimeoutResult {
        pub(crate) fn timed_out(self) -> bool {
            self.0
        }
    }

    /// `parking_lot::Condvar` over `shuttle::sync::Condvar`, with modelled deadlines.
    pub(crate) struct Condvar {
        inner: shuttle::sync::Condvar,
        /// Notifications so far: a bounded waiter is woken when this moves.
        epoch: AtomicU64,
    }

    impl Condvar {
        pub(crate) fn new() -> Condvar {
            Condvar { inner: shuttle::sync::Condvar::new(), epoch: AtomicU64::new(0) }
        }

        pub(crate) fn notify_all(&self) {
            self.epoch.fetch_add(1, Ordering::SeqCst);
            self.inner.notify_all();
        }

        /// Releases the lock, waits for a notification or `deadline` (see the module
        /// documentation), relocks.
        pub(crate) fn wait_until<T>(&self, guard: &mut MutexGuard<'_, T>, deadline: Instant) -> WaitTimeoutResult {
            let held = guard.inner.take().expect("guard holds the lock");
            let (relocked, timed_out) = match bound(deadline) {
                Bound::Unbounded => (self.inner.wait(held).unwrap_or_else(PoisonError::into_inner), false),
                Bound::Passed => {
                    drop(held);
                    shuttle::thread::yield_now();
                    (guard.mutex.lock().unwrap_or_else(PoisonError::into_inner), true)
                }
                Bound::Bounded => {
                    // Read under the lock: a notification sent after the unlock moves it.
                    let seen = self.epoch.load(Ordering::SeqCst);
                    drop(held);
                    let timed_out = loop {
                        shuttle::thread::yield_now();
                        if self.epoch.load(Ordering::SeqCst) != seen {
                            break false;
                        }
                        if times_out_now(deadline) {
                            break true;
                        }
                    };
                    (guard.mutex.lock().unwrap_or_else(PoisonError::into_inner), timed_out)
                }
            };
            guard.inner = Some(relocked);
            WaitTimeoutResult(timed_out)
        }
    }
}
