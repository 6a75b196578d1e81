//! Ack attribution for one producer connection (lwp.md §2.3), as a pure state machine: no locks,
//! no I/O, no clock. Events go in (a batch was sent, an Ack arrived, an error text arrived, the
//! connection closed); decisions come out (acknowledged, rejected with a text, resend).
//!
//! The server gives each accepted non-empty ingest exactly one Ack or one ErrorResponse, in the
//! order the ingests were sent, but ErrorResponses carry no batch id and are written ahead of the
//! Acks of earlier ingests of the same read. So the connection keeps **I** (batches in flight, in
//! send order) and **Q** (error texts not yet attributed):
//! 1. an error text is appended to Q;
//! 2. Ack(k): every batch sent before k was rejected and takes the texts of Q, oldest first; k
//!    succeeded;
//! 3. when |I| == |Q| > 0, every batch in I was rejected: pair them in order.
//!
//! When Q runs out in step 2 (cluster quorum loss drops Acks, lwp.md §8) a reply is missing and
//! later replies can no longer be matched: the machine asks for the connection to be reset, and
//! every batch still in flight is resent in its original order with an unknown earlier outcome.

use std::collections::VecDeque;

use crate::error::{Error, ErrorCode};

/// What happens to one batch.
#[derive(Debug, PartialEq)]
pub enum Decision<T> {
    /// Acknowledged: written and fsynced.
    Acked {
        /// The batch id of the acknowledged attempt.
        batch_id: u64,
        /// The batch.
        item: T,
    },
    /// Rejected by the server with this error text (final for this attempt).
    Rejected {
        /// The batch id of the rejected attempt.
        batch_id: u64,
        /// The batch.
        item: T,
        /// The server's error.
        error: Error,
    },
    /// Must be sent again. Decisions of this kind come out in the batches' original send order.
    Resend {
        /// The batch.
        item: T,
        /// The attempt may have been stored: a resend can duplicate it.
        maybe_stored: bool,
        /// Why the attempt did not complete.
        cause: Error,
    },
}

/// Whether the connection can go on after an event.
#[derive(Debug, PartialEq)]
pub enum Next {
    /// Keep the connection.
    Continue,
    /// Close the connection with this error, then feed [`Attribution::closed`].
    Reset(Error),
}

/// I and Q of one connection. `T` is the batch (any payload; tests use plain numbers).
#[derive(Debug)]
pub struct Attribution<T> {
    inflight: VecDeque<(u64, T)>,
    errors: VecDeque<Error>,
    last_id: u64,
    /// A reset was decided: the connection is going away and accepts nothing more.
    reset: bool,
}

impl<T> Default for Attribution<T> {
    fn default() -> Self {
        Attribution { inflight: VecDeque::new(), errors: VecDeque::new(), last_id: 0, reset: false }
    }
}

impl<T> Attribution<T> {
    /// A fresh connection: nothing in flight.
    pub fn new() -> Self {
        Self::default()
    }

    /// Batches in flight.
    pub fn in_flight(&self) -> usize {
        self.inflight.len()
    }

    /// The batches in flight, oldest first.
    pub fn items(&self) -> impl Iterator<Item = &T> {
        self.inflight.iter().map(|(_, t)| t)
    }

    /// The oldest batch in flight, with its id.
    pub fn oldest(&self) -> Option<(u64, &T)> {
        self.inflight.front().map(|(id, t)| (*id, t))
    }

    /// The id the next batch must use (ids count 1, 2, 3, … per connection, lwp.md §2.1).
    pub fn next_id(&self) -> u64 {
        self.last_id + 1
    }

    /// True once a reset was decided or the connection closed.
    pub fn is_reset(&self) -> bool {
        self.reset
    }

    /// Iterates the batches in flight, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.inflight.iter().map(|(_, t)| t)
    }

    /// A batch was handed to the connection with id [`Attribution::next_id`]. Refused (the item
    /// comes back) once the connection is being reset.
    pub fn sent(&mut self, item: T) -> Result<u64, T> {
        if self.reset {
            return Err(item);
        }
        self.last_id += 1;
        self.inflight.push_back((self.last_id, item));
        Ok(self.last_id)
    }

    /// An Ack frame for `batch_id` arrived.
    pub fn ack(&mut self, batch_id: u64, out: &mut Vec<Decision<T>>) -> Next {
        if self.reset {
            return Next::Continue;
        }
        let Some(pos) = self.inflight.iter().position(|(id, _)| *id == batch_id) else {
            return self.reset_with(Error::protocol(format!(
                "Ack for batch {batch_id}, which is not in flight on this connection"
            )));
        };
        if pos > self.errors.len() {
            // A batch before k got neither Ack nor error: which text belongs to which batch is no
            // longer knowable. k succeeded; everything else is resent after the reset.
            if let Some((id, item)) = self.inflight.remove(pos) {
                out.push(Decision::Acked { batch_id: id, item });
            }
            return self.reset_with(Error::new(
                ErrorCode::UnknownOutcome,
                "a batch got neither Ack nor error (lwp.md §2.3); its outcome is unknown",
            ));
        }
        for _ in 0..pos {
            if let (Some((id, item)), Some(error)) = (self.inflight.pop_front(), self.errors.pop_front()) {
                out.push(Decision::Rejected { batch_id: id, item, error });
            }
        }
        if let Some((id, item)) = self.inflight.pop_front() {
            out.push(Decision::Acked { batch_id: id, item });
        }
        self.pair_all(out);
        Next::Continue
    }

    /// An ErrorResponse for an ingest arrived. `resend` says whether the text asks for the
    /// batches to be sent again (FORWARD_FAILED, NOT_LEADER, RATE_LIMITED, …): since the text
    /// cannot be tied to one batch for sure, the connection is reset and everything in flight is
    /// resent in order.
    pub fn error(&mut self, error: Error, resend: bool, out: &mut Vec<Decision<T>>) -> Next {
        if self.reset {
            return Next::Continue;
        }
        if self.inflight.len() <= self.errors.len() {
            return self.reset_with(Error::protocol(format!(
                "an ingest ErrorResponse ({}) arrived with no batch in flight to take it",
                error.message
            )));
        }
        if resend {
            return self.reset_with(error);
        }
        self.errors.push_back(error);
        self.pair_all(out);
        Next::Continue
    }

    /// The connection closed. `data_frames_attempted` counts frames whose write was at least
    /// started: batch ids above it never reached the socket, so they were certainly not stored.
    pub fn closed(&mut self, cause: &Error, data_frames_attempted: u64, out: &mut Vec<Decision<T>>) {
        self.reset = true;
        self.errors.clear();
        for (id, item) in self.inflight.drain(..) {
            out.push(Decision::Resend { item, maybe_stored: id <= data_frames_attempted, cause: cause.clone() });
        }
    }

    fn reset_with(&mut self, e: Error) -> Next {
        self.reset = true;
        Next::Reset(e)
    }

    /// Step 3: when every batch in flight has a text, they were all rejected.
    fn pair_all(&mut self, out: &mut Vec<Decision<T>>) {
        if !self.errors.is_empty() && self.inflight.len() == self.errors.len() {
            while let (Some((batch_id, item)), Some(error)) = (self.inflight.pop_front(), self.errors.pop_front()) {
                out.push(Decision::Rejected { batch_id, item, error });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn text(i: u64) -> Error {
        Error::from_server_text(&format!("Topic {i} not found"))
    }

    fn machine(n: u64) -> Attribution<u64> {
        let mut a = Attribution::new();
        for i in 1..=n {
            assert_eq!(a.sent(i), Ok(i));
        }
        a
    }

    #[test]
    fn acks_in_order_complete_their_batches() {
        let mut a = machine(3);
        let mut out = Vec::new();
        for k in 1..=3 {
            assert_eq!(a.ack(k, &mut out), Next::Continue);
        }
        assert_eq!(out, (1..=3).map(|k| Decision::Acked { batch_id: k, item: k }).collect::<Vec<_>>());
        assert_eq!(a.in_flight(), 0);
    }

    #[test]
    fn error_then_ack_gives_the_text_to_the_earlier_batch() {
        // Vector frame/stream/error_then_ack: [3001 unknown topic, 3002] in one write.
        let mut a = machine(2);
        let mut out = Vec::new();
        assert_eq!(a.error(text(1), false, &mut out), Next::Continue);
        assert!(out.is_empty(), "one text, two batches: not attributable yet");
        assert_eq!(a.ack(2, &mut out), Next::Continue);
        assert_eq!(
            out,
            vec![Decision::Rejected { batch_id: 1, item: 1, error: text(1) }, Decision::Acked { batch_id: 2, item: 2 }]
        );
    }

    #[test]
    fn an_error_overtaking_an_earlier_ack_pairs_after_the_ack() {
        // One read [1 ok, 2 unknown topic]: the text is written during dispatch, the Ack after.
        let mut a = machine(2);
        let mut out = Vec::new();
        a.error(text(2), false, &mut out);
        a.ack(1, &mut out);
        assert_eq!(
            out,
            vec![Decision::Acked { batch_id: 1, item: 1 }, Decision::Rejected { batch_id: 2, item: 2, error: text(2) }]
        );
    }

    #[test]
    fn as_many_texts_as_batches_rejects_them_all_in_order() {
        let mut a = machine(2);
        let mut out = Vec::new();
        a.error(text(1), false, &mut out);
        a.error(text(2), false, &mut out);
        assert_eq!(
            out,
            vec![
                Decision::Rejected { batch_id: 1, item: 1, error: text(1) },
                Decision::Rejected { batch_id: 2, item: 2, error: text(2) }
            ]
        );
    }

    #[test]
    fn a_missing_reply_acks_k_and_resets_then_resends_the_rest_in_order() {
        let mut a = machine(4);
        let mut out = Vec::new();
        let next = a.ack(3, &mut out);
        assert!(matches!(next, Next::Reset(ref e) if e.code == ErrorCode::UnknownOutcome), "{next:?}");
        assert_eq!(out, vec![Decision::Acked { batch_id: 3, item: 3 }]);
        out.clear();
        // Nothing is accepted between the reset decision and the close.
        assert_eq!(a.sent(9), Err(9));
        assert_eq!(a.ack(4, &mut out), Next::Continue);
        assert!(out.is_empty());
        let cause = Error::transport("reset");
        a.closed(&cause, 4, &mut out);
        assert_eq!(
            out,
            [1, 2, 4]
                .iter()
                .map(|&i| Decision::Resend { item: i, maybe_stored: true, cause: cause.clone() })
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn an_unknown_ack_is_a_protocol_error() {
        let mut a = machine(1);
        let mut out = Vec::new();
        assert!(matches!(a.ack(7, &mut out), Next::Reset(ref e) if e.code == ErrorCode::Protocol));
        assert!(out.is_empty());
    }

    #[test]
    fn an_error_with_nothing_to_take_it_is_a_protocol_error() {
        let mut a = Attribution::<u64>::new();
        let mut out = Vec::new();
        assert!(matches!(a.error(text(1), false, &mut out), Next::Reset(ref e) if e.code == ErrorCode::Protocol));
    }

    #[test]
    fn a_resend_text_resets_and_everything_in_flight_is_resent() {
        let mut a = machine(3);
        let mut out = Vec::new();
        a.ack(1, &mut out);
        let ff = Error::from_server_text("FORWARD_FAILED: Leader address unknown");
        assert!(matches!(a.error(ff.clone(), true, &mut out), Next::Reset(ref e) if *e == ff));
        out.clear();
        a.closed(&ff, 3, &mut out);
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|d| matches!(d, Decision::Resend { maybe_stored: true, .. })));
    }

    #[test]
    fn batches_past_the_attempted_count_were_certainly_not_stored() {
        let mut a = machine(3);
        let mut out = Vec::new();
        a.closed(&Error::transport("gone"), 1, &mut out);
        let stored: Vec<bool> = out
            .iter()
            .map(|d| match d {
                Decision::Resend { maybe_stored, .. } => *maybe_stored,
                _ => panic!("{d:?}"),
            })
            .collect();
        assert_eq!(stored, vec![true, false, false]);
        assert!(a.is_reset());
    }

    /// How the server treats one batch (lwp.md §2.2, §2.3, §8).
    #[derive(Clone, Copy, Debug)]
    enum Fate {
        Ack,
        /// An immediate ErrorResponse (Unknown topic).
        Reject,
        /// A forwarded FORWARD_FAILED, written immediately.
        ForwardFailed,
        /// Quorum not reached: FORWARD_FAILED at ack time; later Acks of the read are dropped.
        QuorumLost,
    }

    fn fate() -> impl Strategy<Value = Fate> {
        prop_oneof![6 => Just(Fate::Ack), 3 => Just(Fate::Reject), 1 => Just(Fate::ForwardFailed), 1 => Just(Fate::QuorumLost)]
    }

    enum Reply {
        Ack(u64),
        Text(u64, bool),
    }

    /// The server's replies for reads `groups` of batches 1..=n (the reference model): each
    /// read's immediate texts in order, then its Acks in order as they become durable.
    fn replies(fates: &[Fate], cuts: &[bool]) -> Vec<Reply> {
        let mut out = Vec::new();
        let mut start = 0;
        for end in 1..=fates.len() {
            if end < fates.len() && !cuts[end - 1] {
                continue;
            }
            let read: Vec<(u64, Fate)> = (start..end).map(|i| (i as u64 + 1, fates[i])).collect();
            for (id, f) in &read {
                match f {
                    Fate::Reject => out.push(Reply::Text(*id, false)),
                    Fate::ForwardFailed => out.push(Reply::Text(*id, true)),
                    _ => {}
                }
            }
            for (id, f) in &read {
                match f {
                    Fate::Ack => out.push(Reply::Ack(*id)),
                    Fate::QuorumLost => {
                        out.push(Reply::Text(*id, true));
                        break;
                    }
                    _ => {}
                }
            }
            start = end;
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn matches_the_reference_server(
            fates in prop::collection::vec(fate(), 1..14),
            cuts in prop::collection::vec(any::<bool>(), 14),
            attempted_short in 0u64..3,
        ) {
            let n = fates.len() as u64;
            let mut a = machine(n);
            let mut out = Vec::new();
            let mut reset = false;
            for r in replies(&fates, &cuts) {
                let next = match r {
                    Reply::Ack(k) => a.ack(k, &mut out),
                    Reply::Text(i, resend) => a.error(text(i), resend, &mut out),
                };
                if let Next::Reset(_) = next {
                    reset = true;
                    break;
                }
            }
            let before_close = out.len();
            let attempted = n.saturating_sub(attempted_short);
            a.closed(&Error::transport("closed"), attempted, &mut out);
            let any_forward_failed = fates.iter().any(|f| matches!(f, Fate::ForwardFailed | Fate::QuorumLost));
            if !any_forward_failed {
                prop_assert!(!reset, "a standalone server never forces a reset");
                prop_assert_eq!(before_close, out.len(), "every batch got its reply");
            }
            let mut seen = vec![0u32; n as usize + 1];
            let mut last_resend = 0u64;
            for d in &out {
                match d {
                    Decision::Acked { batch_id, item } => {
                        prop_assert_eq!(batch_id, item);
                        prop_assert!(matches!(fates[*item as usize - 1], Fate::Ack), "acked {item}: {:?}", fates);
                        seen[*item as usize] += 1;
                    }
                    Decision::Rejected { batch_id, item, error } => {
                        prop_assert_eq!(batch_id, item);
                        prop_assert!(matches!(fates[*item as usize - 1], Fate::Reject));
                        prop_assert_eq!(error, &text(*item), "batch {} took another batch's text", item);
                        seen[*item as usize] += 1;
                    }
                    Decision::Resend { item, maybe_stored, .. } => {
                        prop_assert!(*item > last_resend, "resends out of order");
                        last_resend = *item;
                        prop_assert_eq!(*maybe_stored, *item <= attempted);
                        seen[*item as usize] += 1;
                    }
                }
            }
            prop_assert!(seen[1..].iter().all(|&c| c == 1), "every batch decided exactly once: {:?}", seen);
        }
    }
}
