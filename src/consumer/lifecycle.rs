//! The consumer handle's lifecycle as a pure state machine (design.md §10.2, §10.6).
//!
//! One [`Lifecycle`] lives inside the consumer's state mutex; every public call asks
//! [`Lifecycle::admit`] and acts on the verdict **under the same lock**, so no call can slip
//! between a check and its action (a poll cannot start waiting after close woke the waiters, a
//! seek cannot restart a closed fetcher, two commits never call the store at once).
//!
//! No locks, no I/O, no clock here: the decisions are tested exhaustively below.

use crate::error::ErrorCode;

/// Open → Closing → Closed; never back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Every call works.
    Open,
    /// `close` is stopping the fetch thread and making the final commit; everything else is
    /// refused with CLOSED.
    Closing,
    /// Done.
    Closed,
}

/// A public call (or an internal step of one) asking to proceed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// `poll`, `poll_into`, `poll_each`.
    Poll,
    /// `seek`, `rewind`.
    Seek,
    /// `lag`.
    Lag,
    /// `commit`.
    Commit,
    /// The auto-commit step of `poll`.
    AutoCommit,
    /// The final commit made by `close`.
    FinalCommit,
    /// `close` (and drop).
    Close,
}

/// What the caller must do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Proceed (for a commit: take the commit slot with [`Lifecycle::begin_commit`]).
    Go,
    /// Fail with this code.
    Refuse(ErrorCode),
    /// Another commit is calling the store: wait on the condvar and ask again.
    WaitForCommit,
    /// Nothing to do now (an auto-commit while another commit runs: the next poll retries).
    Skip,
    /// `close` already ran or is running on another thread: return OK.
    AlreadyClosing,
}

/// Phase, the fatal flag and the commit slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Lifecycle {
    phase: Phase,
    /// The fetch thread panicked: polls and seeks fail with PANIC.
    fatal: bool,
    /// A commit is calling the offset store (without any lock held).
    committing: bool,
}

impl Lifecycle {
    /// A fresh, open handle.
    pub(crate) fn new() -> Lifecycle {
        Lifecycle { phase: Phase::Open, fatal: false, committing: false }
    }

    /// The current phase.
    pub(crate) fn phase(&self) -> Phase {
        self.phase
    }

    /// True while a commit calls the store.
    #[cfg(test)]
    pub(crate) fn is_committing(&self) -> bool {
        self.committing
    }

    /// The decision for `op` in the current state.
    pub(crate) fn admit(&self, op: Op) -> Verdict {
        use Verdict::*;
        match (self.phase, op) {
            (Phase::Open, Op::Close) => Go,
            (_, Op::Close) => AlreadyClosing,
            (Phase::Open, Op::Poll | Op::Seek) if self.fatal => Refuse(ErrorCode::Panic),
            (Phase::Open, Op::Poll | Op::Seek | Op::Lag) => Go,
            (Phase::Open, Op::Commit) if self.committing => WaitForCommit,
            (Phase::Open, Op::AutoCommit) if self.committing => Skip,
            (Phase::Open, Op::Commit | Op::AutoCommit) => Go,
            // The final commit belongs to close alone.
            (Phase::Open, Op::FinalCommit) => Refuse(ErrorCode::State),
            (Phase::Closing, Op::FinalCommit) if self.committing => WaitForCommit,
            (Phase::Closing, Op::FinalCommit) => Go,
            (Phase::Closing | Phase::Closed, _) => Refuse(ErrorCode::Closed),
        }
    }

    /// Takes the commit slot (after [`Verdict::Go`] for a commit).
    pub(crate) fn begin_commit(&mut self) {
        debug_assert!(!self.committing);
        self.committing = true;
    }

    /// Releases the commit slot (whatever the store returned).
    pub(crate) fn end_commit(&mut self) {
        self.committing = false;
    }

    /// Open → Closing (after [`Verdict::Go`] for [`Op::Close`]).
    pub(crate) fn begin_close(&mut self) {
        if self.phase == Phase::Open {
            self.phase = Phase::Closing;
        }
    }

    /// → Closed.
    pub(crate) fn finish_close(&mut self) {
        self.phase = Phase::Closed;
    }

    /// The fetch thread died (panic): fatal from now on.
    pub(crate) fn fail(&mut self) {
        self.fatal = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const OPS: [Op; 7] = [Op::Poll, Op::Seek, Op::Lag, Op::Commit, Op::AutoCommit, Op::FinalCommit, Op::Close];

    fn all_states() -> Vec<Lifecycle> {
        let mut v = Vec::new();
        for phase in [Phase::Open, Phase::Closing, Phase::Closed] {
            for fatal in [false, true] {
                for committing in [false, true] {
                    v.push(Lifecycle { phase, fatal, committing });
                }
            }
        }
        v
    }

    /// Every (state, op) pair, against the rules written out longhand.
    #[test]
    fn decision_table_is_exhaustively_as_documented() {
        for s in all_states() {
            for op in OPS {
                let v = s.admit(op);
                let want = match (s.phase, op) {
                    (Phase::Open, Op::Close) => Verdict::Go,
                    (_, Op::Close) => Verdict::AlreadyClosing,
                    (Phase::Closing | Phase::Closed, Op::FinalCommit) if s.phase == Phase::Closed => {
                        Verdict::Refuse(ErrorCode::Closed)
                    }
                    (Phase::Closing, Op::FinalCommit) => {
                        if s.committing {
                            Verdict::WaitForCommit
                        } else {
                            Verdict::Go
                        }
                    }
                    (Phase::Closing | Phase::Closed, _) => Verdict::Refuse(ErrorCode::Closed),
                    (Phase::Open, Op::Poll | Op::Seek) => {
                        if s.fatal {
                            Verdict::Refuse(ErrorCode::Panic)
                        } else {
                            Verdict::Go
                        }
                    }
                    (Phase::Open, Op::Lag) => Verdict::Go,
                    (Phase::Open, Op::Commit) => {
                        if s.committing {
                            Verdict::WaitForCommit
                        } else {
                            Verdict::Go
                        }
                    }
                    (Phase::Open, Op::AutoCommit) => {
                        if s.committing {
                            Verdict::Skip
                        } else {
                            Verdict::Go
                        }
                    }
                    (Phase::Open, Op::FinalCommit) => Verdict::Refuse(ErrorCode::State),
                };
                assert_eq!(v, want, "{s:?} {op:?}");
            }
        }
    }

    #[derive(Clone, Debug)]
    enum Step {
        Ask(usize),
        EndCommit,
        FinishClose,
        Fail,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            6 => (0..OPS.len()).prop_map(Step::Ask),
            2 => Just(Step::EndCommit),
            1 => Just(Step::FinishClose),
            1 => Just(Step::Fail),
        ]
    }

    proptest! {
        /// Random interleavings of callers that act on their verdicts, as the handle does:
        /// the commit slot is never taken twice, close is granted at most once, the phase never
        /// goes back, and once Closed every call but close is refused with CLOSED.
        #[test]
        fn interleavings_keep_the_invariants(steps in proptest::collection::vec(step(), 0..200)) {
            let mut s = Lifecycle::new();
            let mut closes_granted = 0;
            let mut closing_started = false;
            for st in steps {
                let before = s.phase;
                match st {
                    Step::Ask(i) => match s.admit(OPS[i]) {
                        Verdict::Go => match OPS[i] {
                            Op::Commit | Op::AutoCommit | Op::FinalCommit => {
                                prop_assert!(!s.is_committing(), "two commits in the store at once");
                                s.begin_commit();
                            }
                            Op::Close => {
                                closes_granted += 1;
                                closing_started = true;
                                s.begin_close();
                            }
                            _ => prop_assert_eq!(s.phase(), Phase::Open),
                        },
                        Verdict::Refuse(code) if s.phase() != Phase::Open => prop_assert_eq!(code, ErrorCode::Closed),
                        _ => {}
                    },
                    Step::EndCommit => s.end_commit(),
                    Step::FinishClose => {
                        if closing_started {
                            s.finish_close();
                        }
                    }
                    Step::Fail => s.fail(),
                }
                let rank = |p: Phase| match p { Phase::Open => 0, Phase::Closing => 1, Phase::Closed => 2 };
                prop_assert!(rank(s.phase()) >= rank(before), "phase went back");
                if s.phase() == Phase::Closed {
                    for op in OPS {
                        let v = s.admit(op);
                        if op == Op::Close {
                            prop_assert_eq!(v, Verdict::AlreadyClosing);
                        } else {
                            prop_assert_eq!(v, Verdict::Refuse(ErrorCode::Closed));
                        }
                    }
                }
            }
            prop_assert!(closes_granted <= 1);
        }
    }
}
