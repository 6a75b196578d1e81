//! Commits: calling the offset store without holding any lock, one commit at a time, and
//! refusing re-entrant calls from inside the store.
//!
//! A commit takes the lifecycle's commit slot under the state lock, reads P, **releases the
//! lock**, calls `store.save` on the caller's thread, then re-locks to release the slot and wake
//! whoever waits for it. So a store may take as long as it likes without blocking `poll`, `seek`
//! or `close` (close waits for a running commit only until its own deadline), and a store that
//! calls back into its consumer gets IN_CALLBACK instead of a deadlock. The guard lives in the
//! core, so every binding gets it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use super::lifecycle::{Op, Verdict};
use super::Inner;
use crate::error::{Error, ErrorCode, Result};

/// True if `id`'s offset store is running on this thread.
pub(super) fn in_store(id: usize) -> bool {
    crate::reentry::active(id)
}

/// What a commit call should do about an unchanged position.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Force {
    /// Save even if P was saved already (an explicit `commit`).
    Always,
    /// Save only if P moved since the last save (auto-commit, the final commit).
    IfMoved,
}

impl Inner {
    /// The consumer's identity for the re-entrancy guard.
    pub(super) fn id(&self) -> usize {
        self as *const Inner as usize
    }

    /// Fails with IN_CALLBACK when called from inside this consumer's offset store.
    pub(super) fn refuse_in_store(&self, what: &str) -> Result<()> {
        if in_store(self.id()) {
            return Err(Error::new(
                ErrorCode::InCallback,
                format!("{what} called from inside this consumer's offset store"),
            ));
        }
        Ok(())
    }

    /// Runs one commit of kind `op` (Commit, AutoCommit or FinalCommit). Waits for a commit
    /// running on another thread (until `deadline`, if any); `Ok(None)` when an auto-commit was
    /// skipped because another commit runs.
    pub(super) fn commit(&self, op: Op, force: Force, deadline: Option<Instant>) -> Result<Option<u64>> {
        self.refuse_in_store("commit")?;
        let mut st = self.state.lock();
        loop {
            match st.lc.admit(op) {
                Verdict::Go => break,
                Verdict::Skip => return Ok(None),
                Verdict::WaitForCommit => match deadline {
                    Some(d) => {
                        if self.cond.wait_until(&mut st, d).timed_out() && st.lc.admit(op) == Verdict::WaitForCommit {
                            return Err(Error::timed_out(
                                "another commit was still calling the offset store at the deadline",
                            ));
                        }
                    }
                    None => self.cond.wait(&mut st),
                },
                Verdict::Refuse(code) => return Err(self.refusal(code, &st)),
                Verdict::AlreadyClosing => return Err(Error::closed("consumer is closed")),
            }
        }
        let p = st.q.delivered;
        if force == Force::IfMoved && st.last_commit == Some(p) {
            return Ok(Some(p));
        }
        st.lc.begin_commit();
        drop(st);
        let saved = {
            let _scope = crate::reentry::Scope::enter(self.id());
            // A panicking store must not leave the commit slot taken (every later commit would
            // wait forever) nor unwind through the caller's FFI frame.
            catch_unwind(AssertUnwindSafe(|| self.store.save(self.s.topic_id, p)))
                .unwrap_or_else(|_| Err(Error::new(ErrorCode::Panic, "the offset store panicked in save")))
        };
        let mut st = self.state.lock();
        st.lc.end_commit();
        if saved.is_ok() {
            st.last_commit = Some(p);
        }
        drop(st);
        self.cond.notify_all();
        saved.map(|()| Some(p))
    }
}
