//! The queue of delivery reports waiting to be served, pure: no locks, no waiting.
//!
//! Reports of one batch share one entry (topic, batch id, error), so queuing a batch's outcome
//! costs one push whatever its record count. Each unserved record holds
//! [`REPORT_COST`](super::memory::REPORT_COST) bytes of `buffer.memory`, which `take` hands back.

use std::collections::VecDeque;

use super::memory::REPORT_COST;
use crate::error::Error;

/// The final outcome of one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryReport {
    /// The topic it was sent to.
    pub topic_id: u32,
    /// The caller's value from `send`.
    pub opaque: u64,
    /// The batch id of the acknowledged (or last) attempt; 0 if it was never sent.
    pub batch_id: u64,
    /// `None`: acknowledged (written and fsynced). `Some`: the final error.
    pub error: Option<Error>,
}

struct Entry {
    topic_id: u32,
    batch_id: u64,
    opaques: Vec<u64>,
    error: Option<Error>,
    served: usize,
}

/// Unserved reports, oldest first.
#[derive(Default)]
pub(crate) struct ReportQueue {
    entries: VecDeque<Entry>,
    /// Records in `entries` not yet served.
    records: usize,
}

impl ReportQueue {
    /// Queues the reports of `opaques` (one batch's records). Returns the bytes they hold.
    pub fn push(&mut self, topic_id: u32, batch_id: u64, opaques: Vec<u64>, error: Option<Error>) -> usize {
        if opaques.is_empty() {
            return 0;
        }
        let n = opaques.len();
        self.records += n;
        self.entries.push_back(Entry { topic_id, batch_id, opaques, error, served: 0 });
        n * REPORT_COST
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Records not yet served.
    pub fn records(&self) -> usize {
        self.records
    }

    /// Takes up to `max` reports, oldest first, into `out`. Returns the bytes they held.
    pub fn take(&mut self, max: usize, out: &mut Vec<DeliveryReport>) -> usize {
        let mut taken = 0;
        while taken < max {
            let Some(e) = self.entries.front_mut() else { break };
            let n = (e.opaques.len() - e.served).min(max - taken);
            out.extend(e.opaques[e.served..e.served + n].iter().map(|&opaque| DeliveryReport {
                topic_id: e.topic_id,
                opaque,
                batch_id: e.batch_id,
                error: e.error.clone(),
            }));
            e.served += n;
            taken += n;
            if e.served == e.opaques.len() {
                self.entries.pop_front();
            }
        }
        self.records -= taken;
        taken * REPORT_COST
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn serves_in_order_across_entries_and_partial_takes() {
        let mut q = ReportQueue::default();
        assert_eq!(q.push(1, 7, vec![10, 11, 12], None), 3 * REPORT_COST);
        assert_eq!(q.push(2, 0, vec![], None), 0);
        let e = Error::new(ErrorCode::Purged, "purged");
        q.push(2, 0, vec![20], Some(e.clone()));
        assert_eq!(q.records(), 4);
        let mut out = Vec::new();
        assert_eq!(q.take(2, &mut out), 2 * REPORT_COST);
        assert_eq!(out.iter().map(|r| r.opaque).collect::<Vec<_>>(), vec![10, 11]);
        out.clear();
        assert_eq!(q.take(10, &mut out), 2 * REPORT_COST);
        assert_eq!(out.iter().map(|r| (r.opaque, r.batch_id)).collect::<Vec<_>>(), vec![(12, 7), (20, 0)]);
        assert_eq!(out[1].error, Some(e));
        assert!(q.is_empty());
        assert_eq!(q.take(10, &mut out), 0);
    }
}

/// Failures of fire-and-forget records: no callback and opaque 0, so no one is told of them by
/// a report. `flush` and `close` surface them as one DELIVERY_FAILED error (docs/bindings.md).
#[derive(Default)]
pub(crate) struct Unobserved {
    count: u64,
    first: Option<Error>,
}

impl Unobserved {
    /// Notes `n` records that failed with `error`.
    pub fn note(&mut self, n: usize, error: &Error) {
        if n == 0 {
            return;
        }
        self.count += n as u64;
        self.first.get_or_insert_with(|| error.clone());
    }

    /// The DELIVERY_FAILED error for what was noted since the last take, and a fresh tally.
    pub fn take(&mut self) -> Option<Error> {
        let first = self.first.take()?;
        let n = std::mem::take(&mut self.count);
        Some(Error::new(
            crate::error::ErrorCode::DeliveryFailed,
            format!(
                "{n} fire-and-forget record(s) failed since the last flush; the first: {} ({})",
                first.message,
                first.code.name()
            ),
        ))
    }
}

#[cfg(test)]
mod unobserved_tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn counts_until_taken_and_keeps_the_first_error() {
        let mut u = Unobserved::default();
        assert!(u.take().is_none());
        u.note(0, &Error::timed_out("x"));
        assert!(u.take().is_none());
        u.note(2, &Error::new(ErrorCode::UnknownTopic, "topic 7 is gone"));
        u.note(3, &Error::timed_out("later"));
        let e = u.take().unwrap();
        assert_eq!(e.code, ErrorCode::DeliveryFailed);
        assert!(e.message.starts_with("5 fire-and-forget record(s) failed"), "{}", e.message);
        assert!(e.message.contains("topic 7 is gone (UNKNOWN_TOPIC)"), "{}", e.message);
        assert!(u.take().is_none());
    }
}
