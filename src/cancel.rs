//! A cancellation token: one thread fires it to end the waits of calls that were given it
//! (buffer space, acknowledgements, name lookups between attempts). Go fires it from
//! `context.AfterFunc`, Python from its Ctrl-C handling.
//!
//! A waiting call registers a waker for the duration of its wait; `fire` sets the flag first and
//! then runs the wakers, and a waker takes the waiter's own lock before notifying, so a waiter
//! that checked the flag under that lock cannot miss the wake-up.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::{Error, ErrorCode};

type Waker = Arc<dyn Fn() + Send + Sync>;

/// A cancellation token. Cheap to check; `fire` is idempotent and may come from any thread.
#[derive(Default)]
pub struct Cancel {
    fired: AtomicBool,
    next_id: AtomicU64,
    wakers: Mutex<Vec<(u64, Waker)>>,
}

impl Cancel {
    /// A token that has not fired.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Fires the token: every wait it was given ends with [`ErrorCode::Cancelled`].
    pub fn fire(&self) {
        if self.fired.swap(true, Ordering::AcqRel) {
            return;
        }
        // Clone out, so a waker never runs under this token's lock.
        let wakers: Vec<Waker> = self.wakers.lock().iter().map(|(_, w)| w.clone()).collect();
        for w in wakers {
            w();
        }
    }

    /// Whether the token has fired.
    pub fn is_fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }

    /// `Err(Cancelled)` once fired; `what` names the call in the message.
    pub fn check(&self, what: &str) -> crate::error::Result<()> {
        if self.is_fired() {
            Err(Error::new(ErrorCode::Cancelled, format!("{what} cancelled by the caller")))
        } else {
            Ok(())
        }
    }

    /// Runs `waker` when the token fires, until the returned registration is dropped. If the
    /// token has already fired, `waker` is not run: the caller checks [`Cancel::is_fired`] after
    /// registering, under the lock its waker takes.
    pub fn on_fire(&self, waker: impl Fn() + Send + Sync + 'static) -> Registration<'_> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.wakers.lock().push((id, Arc::new(waker)));
        Registration { cancel: self, id }
    }
}

/// Removes its waker from the token when dropped.
pub struct Registration<'a> {
    cancel: &'a Cancel,
    id: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.cancel.wakers.lock().retain(|(id, _)| *id != self.id);
    }
}

/// `check` for an optional token.
pub fn check(cancel: Option<&Cancel>, what: &str) -> crate::error::Result<()> {
    cancel.map_or(Ok(()), |c| c.check(what))
}

/// Sleeps for `d`, or less when `cancel` fires (then `Err(Cancelled)`).
pub fn sleep(d: std::time::Duration, cancel: Option<&Cancel>, what: &str) -> crate::error::Result<()> {
    let Some(c) = cancel else {
        std::thread::sleep(d);
        return Ok(());
    };
    let (tx, rx) = crossbeam_channel::bounded::<()>(1);
    let _reg = c.on_fire(move || {
        let _ = tx.try_send(());
    });
    c.check(what)?;
    let _ = rx.recv_timeout(d);
    c.check(what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn fire_runs_registered_wakers_once_and_not_unregistered_ones() {
        let c = Cancel::new();
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let kept = c.on_fire(move || {
            h.fetch_add(1, Ordering::SeqCst);
        });
        let h2 = hits.clone();
        drop(c.on_fire(move || {
            h2.fetch_add(100, Ordering::SeqCst);
        }));
        assert!(c.check("x").is_ok());
        c.fire();
        c.fire();
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        assert_eq!(c.check("send").unwrap_err().code, ErrorCode::Cancelled);
        drop(kept);
        assert!(c.wakers.lock().is_empty());
    }

    #[test]
    fn sleep_ends_early_when_fired_from_another_thread() {
        let c = Arc::new(Cancel::new());
        let c2 = c.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            c2.fire();
        });
        let t0 = std::time::Instant::now();
        let r = sleep(std::time::Duration::from_secs(30), Some(&c), "wait");
        assert_eq!(r.unwrap_err().code, ErrorCode::Cancelled);
        assert!(t0.elapsed() < std::time::Duration::from_secs(25));
        t.join().unwrap();
        assert!(sleep(std::time::Duration::from_millis(1), None, "wait").is_ok());
    }
}
