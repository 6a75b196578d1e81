//! The bounded per-handle event queue (pure: no lock, no clock). When the bound is hit the
//! newest events are counted instead of stored, and the next take returns one EventsDropped
//! event with that count at the place where they were lost, so a loss is never silent.

use std::collections::VecDeque;

use super::event::{Event, EventKind};

/// A bounded FIFO of events with a dropped-events marker.
#[derive(Debug)]
pub struct EventQueue {
    items: VecDeque<Event>,
    cap: usize,
    /// Events refused since the queue was last full.
    dropped: u32,
}

impl EventQueue {
    /// A queue holding at most `cap` events (at least 1).
    pub fn new(cap: usize) -> EventQueue {
        EventQueue { items: VecDeque::new(), cap: cap.max(1), dropped: 0 }
    }

    /// Appends `e`, or counts it as dropped when full (or while earlier drops are not yet
    /// reported, so order is kept: nothing newer overtakes the marker). Returns true when the
    /// queue went from empty to non-empty.
    pub fn push(&mut self, e: Event) -> bool {
        let was_empty = self.is_empty();
        if self.dropped > 0 || self.items.len() >= self.cap {
            self.dropped = self.dropped.saturating_add(1);
        } else {
            self.items.push_back(e);
        }
        was_empty && !self.is_empty()
    }

    /// Nothing to take (no event and no drop marker).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty() && self.dropped == 0
    }

    /// Events waiting plus the drop marker.
    pub fn len(&self) -> usize {
        self.items.len() + usize::from(self.dropped > 0)
    }

    /// Takes up to `max` events in order; the drop marker comes after every event stored
    /// before the loss.
    pub fn take(&mut self, max: usize, out: &mut Vec<Event>) -> usize {
        let mut n = 0;
        while n < max {
            if let Some(e) = self.items.pop_front() {
                out.push(e);
            } else if self.dropped > 0 {
                let d = std::mem::take(&mut self.dropped);
                let msg =
                    format!("{d} events were dropped: the handle's event queue was full (poll events more often)");
                out.push(Event::new(EventKind::EventsDropped, msg).attempt(d, std::time::Duration::ZERO));
            } else {
                break;
            }
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ev(i: u32) -> Event {
        Event::new(EventKind::Connecting, format!("{i}"))
    }

    #[test]
    fn marker_counts_and_keeps_order() {
        let mut q = EventQueue::new(2);
        assert!(q.push(ev(0)));
        assert!(!q.push(ev(1)));
        q.push(ev(2));
        q.push(ev(3));
        let mut out = Vec::new();
        assert_eq!(q.take(1, &mut out), 1);
        // Room now, but the loss must be reported before anything newer.
        q.push(ev(4));
        assert_eq!(q.take(10, &mut out), 2);
        assert_eq!(out[1].message, "1");
        assert_eq!(out[2].kind, EventKind::EventsDropped);
        assert_eq!(out[2].attempt, 3);
        assert!(q.is_empty());
    }

    proptest! {
        /// Against a reference: every pushed event is either taken in order or counted in a
        /// marker; the marker totals equal the losses; the queue never holds more than cap.
        #[test]
        fn nothing_lost_silently(cap in 1usize..6, ops in proptest::collection::vec(prop_oneof![Just(None), (1usize..4).prop_map(Some)], 0..200)) {
            let mut q = EventQueue::new(cap);
            let mut pushed = 0u32;
            let mut got = Vec::new();
            for o in ops {
                match o {
                    None => { q.push(ev(pushed)); pushed += 1; }
                    Some(n) => { q.take(n, &mut got); }
                }
                prop_assert!(q.items.len() <= cap);
            }
            q.take(usize::MAX, &mut got);
            let mut accounted = 0u32;
            let mut last: Option<u32> = None;
            for e in &got {
                if e.kind == EventKind::EventsDropped { accounted += e.attempt; continue; }
                let i: u32 = e.message.parse().unwrap();
                prop_assert!(last.is_none_or(|l| i > l), "order kept");
                last = Some(i);
                accounted += 1;
            }
            prop_assert_eq!(accounted, pushed);
        }
    }
}
