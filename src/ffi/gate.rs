//! The handle gate: makes `lnc_*_free` safe while other threads are inside calls on the same
//! handle.
//!
//! Every exported call on a producer, consumer, admin or mock handle enters the handle's gate
//! first and leaves it when it returns (one atomic add and one atomic sub; nothing else on the fast
//! path). `free` enters like any call, marks the gate *freeing* (from then on every new entry is
//! refused, and the call returns `LNC_ERR_CLOSED`), closes the engine (which wakes blocked
//! callers), leaves, waits until no call is inside, and only then deallocates.
//!
//! The state is one word: the top bit is FREEING, the rest counts the calls inside. A call that
//! leaves must not touch the handle after its decrement (the freer may deallocate right away), so
//! the last call out wakes the freer through a process-wide condition variable instead of one
//! stored in the handle. That path only runs while a handle is being freed.
//!
//! What this cannot do (and the header says so): a call that *starts* after `free` has returned
//! reads freed memory, as in any C API; and a call that starts while `free` is running gets
//! CLOSED only if it reaches the gate before the deallocation — the caller cannot know that, so
//! starting calls concurrently with `free` is the caller's bug. Calls already in progress are safe.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// Top bit: the handle is being freed.
const FREEING: usize = 1 << (usize::BITS - 1);

/// Wakes freers when the last call leaves a freeing gate. Global so that a leaving call never
/// touches handle memory after its decrement.
static IDLE_LOCK: Mutex<()> = Mutex::new(());
static IDLE_CV: Condvar = Condvar::new();

/// The per-handle gate (embedded in each handle struct).
pub(crate) struct Gate {
    state: AtomicUsize,
}

/// Proof that a call is inside the gate; leaving happens on drop (also on unwind, so a panic
/// caught by `ffi_guard!` does not leave a count behind).
#[must_use]
pub(crate) struct Pass<'a> {
    gate: &'a Gate,
}

impl Drop for Pass<'_> {
    #[inline]
    fn drop(&mut self) {
        self.gate.leave();
    }
}

impl Gate {
    pub(crate) const fn new() -> Gate {
        Gate { state: AtomicUsize::new(0) }
    }

    /// Registers a call. `None` when the handle is being freed (the caller returns CLOSED).
    #[inline]
    pub(crate) fn enter(&self) -> Option<Pass<'_>> {
        // Acquire pairs with nothing in particular on the fast path; it keeps the handle's reads
        // after the registration, which is what makes the freer's wait meaningful.
        let prev = self.state.fetch_add(1, Ordering::Acquire);
        if prev & FREEING != 0 {
            self.leave();
            return None;
        }
        Some(Pass { gate: self })
    }

    #[inline]
    fn leave(&self) {
        // Release: everything this call did to the handle happens-before the freer's Acquire
        // load that sees the count at zero. After this line `self` may already be freed.
        let prev = self.state.fetch_sub(1, Ordering::Release);
        if prev == FREEING | 1 {
            wake_freers();
        }
    }

    /// Marks the handle freeing. The caller must hold a `Pass`. Returns false if another thread's
    /// `free` got there first (this caller then returns CLOSED and must not deallocate).
    pub(crate) fn begin_free(&self, _held: &Pass<'_>) -> bool {
        self.state.fetch_or(FREEING, Ordering::AcqRel) & FREEING == 0
    }

    /// Waits until no call is inside. Call after `begin_free` and after dropping the own `Pass`.
    pub(crate) fn wait_idle(&self) {
        let mut guard = IDLE_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        // Checked under IDLE_LOCK: a call that leaves after this check takes the lock to notify,
        // which it can only get once this thread waits, so the wake-up cannot be lost. The timeout
        // is a backstop only.
        while self.state.load(Ordering::Acquire) != FREEING {
            guard = match IDLE_CV.wait_timeout(guard, Duration::from_millis(50)) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// Calls inside right now (tests only).
    #[cfg(test)]
    fn active(&self) -> usize {
        self.state.load(Ordering::Acquire) & !FREEING
    }
}

/// A call inside a handle's gate with the handle's engine: derefs to the engine, leaves the gate
/// when dropped (at the end of the statement for a temporary, after the call it was used for).
pub(crate) struct Entered<'a, T> {
    _pass: Pass<'a>,
    engine: &'a T,
}

impl<'a, T> Entered<'a, T> {
    /// Enters `gate` for a call on `engine`; `None` while the handle is being freed.
    #[inline]
    pub(crate) fn new(gate: &'a Gate, engine: &'a T) -> Option<Entered<'a, T>> {
        gate.enter().map(|p| Entered { _pass: p, engine })
    }
}

impl<T> std::ops::Deref for Entered<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.engine
    }
}

#[cold]
fn wake_freers() {
    let _guard = IDLE_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    IDLE_CV.notify_all();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn enter_leave_counts_and_free_refuses_new_calls() {
        let g = Gate::new();
        let a = g.enter().expect("open");
        let b = g.enter().expect("open");
        assert_eq!(g.active(), 2);
        drop(b);
        let own = g.enter().expect("open");
        assert!(g.begin_free(&own));
        assert!(g.enter().is_none(), "a new call after free began is refused");
        assert!(!g.begin_free(&own), "a second free loses");
        drop(own);
        drop(a);
        assert_eq!(g.active(), 0);
        g.wait_idle();
    }

    #[test]
    fn wait_idle_returns_only_after_the_last_call_leaves() {
        // The freer must not pass wait_idle while a call is inside; here the "deallocation" is a
        // flag the calls assert on.
        for _ in 0..50 {
            let g = Arc::new(Gate::new());
            let freed = Arc::new(AtomicBool::new(false));
            let started = Arc::new(std::sync::Barrier::new(5));
            let threads: Vec<_> = (0..4)
                .map(|i| {
                    let (g, freed, started) = (g.clone(), freed.clone(), started.clone());
                    std::thread::spawn(move || {
                        let pass = g.enter().expect("not freeing yet");
                        started.wait();
                        std::thread::sleep(Duration::from_millis(i * 3));
                        assert!(!freed.load(Ordering::SeqCst), "freed while a call was inside");
                        drop(pass);
                        // Calls after free began are refused, never admitted.
                        while let Some(p) = g.enter() {
                            assert!(!freed.load(Ordering::SeqCst));
                            drop(p);
                        }
                    })
                })
                .collect();
            started.wait();
            let own = g.enter().expect("open");
            assert!(g.begin_free(&own));
            drop(own);
            let t0 = Instant::now();
            g.wait_idle();
            freed.store(true, Ordering::SeqCst);
            assert!(t0.elapsed() < Duration::from_secs(5));
            for t in threads {
                t.join().expect("no assertion failed in a caller");
            }
        }
    }

    #[test]
    fn a_pass_is_released_on_unwind() {
        let g = Gate::new();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _p = g.enter().expect("open");
            panic!("inside a call");
        }));
        assert!(r.is_err());
        assert_eq!(g.active(), 0);
    }
}
