//! The bounded event queue between the fetch thread and `poll`, with byte accounting.
//!
//! Plain data: no locks, no I/O, no clock. The consumer keeps one [`Queue`] inside its state
//! mutex; the fetch thread asks it for a [`Queue::budget`] before it decodes (and so before it
//! materialises any record cut out of an expanded envelope), which is what keeps
//! `queued.max.bytes` true after decompression.

use std::collections::VecDeque;

use crate::error::Error;
use crate::wire::Record;

/// Bytes charged against `queued.max.bytes` per event on top of a record's value: the `Record`
/// and its slot in the queue, plus allocator overhead for the value.
pub(crate) const RECORD_OVERHEAD: usize = 64;

/// One thing `poll` hands out.
pub(crate) enum Event {
    /// A record and P after it.
    Record(Record, u64),
    /// An error; `reposition` is the new P once it is handed out (offset.reset applied).
    Error(Box<Error>, Option<u64>),
}

impl Event {
    /// What the event counts against `queued.max.bytes`.
    pub(crate) fn cost(&self) -> usize {
        match self {
            Event::Record(r, _) => r.value.len() + RECORD_OVERHEAD,
            Event::Error(..) => RECORD_OVERHEAD,
        }
    }
}

/// The cost of a record about to be queued (same rule as [`Event::cost`]).
pub(crate) fn record_cost(r: &Record) -> usize {
    r.value.len() + RECORD_OVERHEAD
}

/// What [`Queue::take`] handed out.
#[derive(Debug)]
pub(crate) enum Taken {
    /// This many records were appended (maybe 0 when the queue was empty).
    Records(usize),
    /// The queue's head was an error (and no record was taken before it).
    Error(Box<Error>),
    /// The head record's value (this many bytes) exceeds the byte budget; nothing was taken.
    TooLarge(usize),
}

/// Queued events of the current generation, their cost, and the positions they imply.
pub(crate) struct Queue {
    events: VecDeque<Event>,
    bytes: usize,
    /// Bumped by every seek; events and replies of an older generation are discarded.
    pub(crate) generation: u64,
    /// Where the fetch thread starts for the current generation.
    pub(crate) target: u64,
    /// P: the position after the last record handed out.
    pub(crate) delivered: u64,
    /// The fetch thread is parked until `bytes` drops below the bound.
    pub(crate) fetcher_blocked: bool,
}

impl Queue {
    /// An empty queue positioned at `start`.
    pub(crate) fn new(start: u64) -> Queue {
        Queue {
            events: VecDeque::new(),
            bytes: 0,
            generation: 0,
            target: start,
            delivered: start,
            fetcher_blocked: false,
        }
    }

    /// True if nothing waits for `poll`.
    pub(crate) fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Records and errors waiting for `poll`.
    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }

    /// Bytes currently charged.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// How many more bytes may be queued under `bound`.
    pub(crate) fn budget(&self, bound: usize) -> usize {
        bound.saturating_sub(self.bytes)
    }

    /// Appends events decoded for `generation`; a stale generation is dropped. Returns true if
    /// the queue went from empty to non-empty (the eventfd must be signalled).
    pub(crate) fn push(&mut self, generation: u64, batch: &mut Vec<Event>) -> bool {
        if generation != self.generation {
            batch.clear();
            return false;
        }
        let was_empty = self.events.is_empty();
        for e in batch.drain(..) {
            self.bytes += e.cost();
            self.events.push_back(e);
        }
        was_empty && !self.events.is_empty()
    }

    /// Takes up to `max` (≥ 1) records into `out`, or, if the head is an error, that error alone.
    /// Advances P past what was taken.
    #[cfg(test)]
    pub(crate) fn take(&mut self, max: usize, out: &mut Vec<Record>) -> Taken {
        self.take_within(max, usize::MAX, out)
    }

    /// Like `take`, stopping before a record whose value would bring the values taken past
    /// `budget` bytes; `TooLarge` if the head record alone exceeds it.
    pub(crate) fn take_within(&mut self, max: usize, budget: usize, out: &mut Vec<Record>) -> Taken {
        let max = max.max(1);
        if let Some(Event::Error(..)) = self.events.front() {
            if let Some(Event::Error(e, repos)) = self.events.pop_front() {
                self.bytes = self.bytes.saturating_sub(RECORD_OVERHEAD);
                if let Some(p) = repos {
                    self.delivered = p;
                }
                return Taken::Error(e);
            }
        }
        out.reserve(max.min(self.events.len()));
        let mut n = 0;
        let mut left = budget;
        while n < max {
            match self.events.front() {
                Some(Event::Record(r, _)) if r.value.len() > left => {
                    if n == 0 {
                        return Taken::TooLarge(r.value.len());
                    }
                    break;
                }
                Some(Event::Record(..)) => {
                    if let Some(Event::Record(r, next)) = self.events.pop_front() {
                        self.bytes = self.bytes.saturating_sub(record_cost(&r));
                        self.delivered = next;
                        left -= r.value.len();
                        out.push(r);
                        n += 1;
                    }
                }
                _ => break,
            }
        }
        Taken::Records(n)
    }

    /// Drops everything queued and starts a new generation at `target` (seek).
    pub(crate) fn seek(&mut self, target: u64) {
        self.generation += 1;
        self.clear();
        self.target = target;
        self.delivered = target;
        self.fetcher_blocked = false;
    }

    /// Drops everything queued (close); positions are kept.
    pub(crate) fn clear(&mut self) {
        self.events = VecDeque::new();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn rec(len: usize, offset: u64) -> Record {
        Record { record_type: 1, ext_type: None, value: vec![0; len], offset }
    }

    #[test]
    fn accounting_follows_push_and_take() {
        let mut q = Queue::new(10);
        let mut b = vec![Event::Record(rec(100, 10), 115), Event::Record(rec(50, 115), 170)];
        assert!(q.push(0, &mut b));
        assert!(b.is_empty());
        assert_eq!(q.bytes(), 150 + 2 * RECORD_OVERHEAD);
        assert_eq!(q.budget(1000), 1000 - 150 - 2 * RECORD_OVERHEAD);
        assert_eq!(q.budget(10), 0);
        let mut out = Vec::new();
        assert!(matches!(q.take(1, &mut out), Taken::Records(1)));
        assert_eq!(q.delivered, 115);
        assert_eq!(q.bytes(), 50 + RECORD_OVERHEAD);
        assert!(matches!(q.take(9, &mut out), Taken::Records(1)));
        assert_eq!((q.delivered, q.bytes(), out.len()), (170, 0, 2));
        assert!(matches!(q.take(9, &mut out), Taken::Records(0)));
        // A byte budget stops before the record that does not fit; a head that alone does not
        // fit is TooLarge and stays queued.
        let mut b = vec![Event::Record(rec(10, 170), 185), Event::Record(rec(10, 185), 200)];
        assert!(q.push(0, &mut b));
        assert!(matches!(q.take_within(9, 15, &mut out), Taken::Records(1)));
        assert_eq!(q.delivered, 185);
        assert!(matches!(q.take_within(9, 5, &mut out), Taken::TooLarge(10)));
        assert_eq!(q.delivered, 185, "nothing taken");
        assert!(matches!(q.take_within(9, 1 << 20, &mut out), Taken::Records(1)));
        assert_eq!(q.delivered, 200);
    }

    #[test]
    fn an_error_is_handed_out_alone_and_in_order() {
        let mut q = Queue::new(0);
        let mut b = vec![
            Event::Record(rec(1, 0), 6),
            Event::Error(Box::new(Error::new(ErrorCode::OffsetOutOfRange, "x")), Some(0)),
            Event::Record(rec(1, 0), 6),
        ];
        q.push(0, &mut b);
        let mut out = Vec::new();
        assert!(matches!(q.take(10, &mut out), Taken::Records(1)));
        assert_eq!(q.delivered, 6);
        assert!(matches!(q.take(10, &mut out), Taken::Error(e) if e.code == ErrorCode::OffsetOutOfRange));
        assert_eq!(q.delivered, 0, "the reposition applies when the error is handed out");
        assert!(matches!(q.take(10, &mut out), Taken::Records(1)));
        assert_eq!(q.bytes(), 0);
    }

    #[test]
    fn a_stale_generation_is_dropped_and_seek_resets() {
        let mut q = Queue::new(0);
        q.push(0, &mut vec![Event::Record(rec(1, 0), 6)]);
        q.seek(500);
        assert_eq!((q.generation, q.target, q.delivered, q.bytes()), (1, 500, 500, 0));
        assert!(q.is_empty());
        let mut stale = vec![Event::Record(rec(1, 0), 6)];
        assert!(!q.push(0, &mut stale));
        assert!(stale.is_empty() && q.is_empty());
    }
}
