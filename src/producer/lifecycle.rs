//! The producer handle's lifecycle, pure: open → closing → closed, plus a fatal error that can
//! stop it at any point. It lives inside the core lock, so accepting a record and sealing the
//! handle for close can never interleave: a record is either accepted (and gets its report) or
//! refused.

use crate::error::{Error, ErrorCode};

/// Where the handle is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Accepting records.
    Open,
    /// `close` is running: no new record is accepted; what was accepted is flushed or failed.
    Closing,
    /// Every thread joined; nothing is pending except unserved reports.
    Closed,
}

/// The phase and the fatal error, if any.
#[derive(Debug)]
pub(crate) struct Lifecycle {
    phase: Phase,
    fatal: Option<Error>,
}

impl Lifecycle {
    pub fn new() -> Lifecycle {
        Lifecycle { phase: Phase::Open, fatal: None }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn fatal(&self) -> Option<&Error> {
        self.fatal.as_ref()
    }

    /// Why a new record is refused now, if it is.
    pub fn refuse_new(&self) -> Option<Error> {
        if self.phase != Phase::Open {
            return Some(Error::closed("producer is closed"));
        }
        self.fatal.clone()
    }

    /// Starts closing. False if it was already closing or closed.
    pub fn begin_close(&mut self) -> bool {
        if self.phase == Phase::Open {
            self.phase = Phase::Closing;
            true
        } else {
            false
        }
    }

    /// Marks the handle closed (after `begin_close`).
    pub fn finish_close(&mut self) {
        self.phase = Phase::Closed;
    }

    /// Records the first fatal error (later ones are ignored). True if this one was the first.
    pub fn fail(&mut self, e: Error) -> bool {
        if self.fatal.is_some() {
            return false;
        }
        let mut e = e;
        e.fatal = true;
        e.retryable = false;
        if e.code == ErrorCode::Ok {
            e.code = ErrorCode::State;
        }
        self.fatal = Some(e);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_transition() {
        let mut l = Lifecycle::new();
        assert!(l.refuse_new().is_none());
        assert!(l.begin_close());
        assert!(!l.begin_close(), "closing twice");
        assert_eq!(l.refuse_new().map(|e| e.code), Some(ErrorCode::Closed));
        l.finish_close();
        assert_eq!(l.phase(), Phase::Closed);
        assert!(!l.begin_close());
        assert_eq!(l.refuse_new().map(|e| e.code), Some(ErrorCode::Closed));
    }

    #[test]
    fn a_fatal_error_refuses_new_records_and_only_the_first_counts() {
        let mut l = Lifecycle::new();
        assert!(l.fail(Error::new(ErrorCode::AuthFailed, "Invalid token")));
        assert!(!l.fail(Error::new(ErrorCode::Panic, "later")));
        let e = l.refuse_new().unwrap();
        assert_eq!(e.code, ErrorCode::AuthFailed);
        assert!(e.fatal && !e.retryable);
        // Close still works after a fatal error.
        assert!(l.begin_close());
    }
}
