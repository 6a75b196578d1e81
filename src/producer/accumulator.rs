//! Open batches per topic and sealed batches per lane, pure: no locks, no I/O, no clock (the
//! caller passes `now`).
//!
//! A batch is sealed when the next record would take it past `batch.size` (a record larger than
//! `batch.size` travels alone, so a buffer never outgrows its reservation), when it reaches
//! `batch.size`, when `linger.ms` has passed since its first record, or when a flush forces it.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::batch::{Batch, Orphans};

/// Open and sealed batches.
pub(crate) struct Accumulator {
    open: HashMap<u32, Batch>,
    /// Sealed, never-sent batches per lane, in seal order.
    ready: Vec<VecDeque<Batch>>,
    /// Next seal number per lane.
    next_seq: Vec<u64>,
    batch_size: usize,
    max_payload: usize,
    delivery_timeout: Duration,
    orphans: Arc<Orphans>,
}

impl Accumulator {
    pub fn new(lanes: usize, batch_size: usize, max_payload: usize, delivery_timeout: Duration, orphans: Arc<Orphans>) -> Accumulator {
        Accumulator {
            open: HashMap::new(),
            ready: (0..lanes).map(|_| VecDeque::new()).collect(),
            next_seq: vec![0; lanes],
            batch_size,
            max_payload,
            delivery_timeout,
            orphans,
        }
    }

    fn lanes(&self) -> usize {
        self.ready.len()
    }

    fn lane_of(&self, topic_id: u32) -> usize {
        topic_id as usize % self.lanes()
    }

    fn seal(&mut self, mut b: Batch) {
        let lane = self.lane_of(b.topic_id);
        b.seq = self.next_seq[lane];
        self.next_seq[lane] += 1;
        self.ready[lane].push_back(b);
    }

    /// The open batch that a record of `len` bytes for `topic_id` goes into, sealing the current
    /// one first if the record would take it past `batch.size`. True in the second value if a
    /// batch was sealed.
    pub fn batch_for(&mut self, topic_id: u32, len: usize, now: Instant) -> (&mut Batch, bool) {
        let mut sealed = false;
        let full = self.open.get(&topic_id).is_some_and(|b| b.payload_len > 0 && b.payload_len + len > self.batch_size);
        if full {
            if let Some(b) = self.open.remove(&topic_id) {
                self.seal(b);
                sealed = true;
            }
        }
        let cap = self.batch_size.max(len).min(self.max_payload);
        let (timeout, orphans) = (self.delivery_timeout, &self.orphans);
        let b = self.open.entry(topic_id).or_insert_with(|| Batch::new(topic_id, cap, now, timeout, orphans.clone()));
        (b, sealed)
    }

    /// Seals `topic_id`'s open batch if it reached `batch.size`. True if it did.
    pub fn seal_if_full(&mut self, topic_id: u32) -> bool {
        if self.open.get(&topic_id).is_some_and(|b| b.payload_len >= self.batch_size) {
            if let Some(b) = self.open.remove(&topic_id) {
                self.seal(b);
                return true;
            }
        }
        false
    }

    /// Seals `lane`'s open batches whose linger passed (all of them if `force`). Returns the next
    /// linger deadline of the ones left open.
    pub fn seal_due(&mut self, lane: usize, now: Instant, linger: Duration, force: bool) -> Option<Instant> {
        let lanes = self.lanes();
        let mut next = None::<Instant>;
        let mut due = Vec::new();
        for (t, b) in &self.open {
            if *t as usize % lanes != lane {
                continue;
            }
            let at = b.created + linger;
            if force || at <= now {
                due.push(*t);
            } else {
                next = Some(next.map_or(at, |n: Instant| n.min(at)));
            }
        }
        due.sort_unstable();
        for t in due {
            if let Some(b) = self.open.remove(&t) {
                self.seal(b);
            }
        }
        next
    }

    /// The oldest sealed batch of `lane`.
    pub fn pop_ready(&mut self, lane: usize) -> Option<Batch> {
        self.ready[lane].pop_front()
    }

    pub fn has_ready(&self, lane: usize) -> bool {
        !self.ready[lane].is_empty()
    }

    /// Removes `lane`'s sealed batches whose delivery deadline passed.
    pub fn expire_ready(&mut self, lane: usize, now: Instant) -> Vec<Batch> {
        let q = &mut self.ready[lane];
        if !q.iter().any(|b| b.deadline <= now) {
            return Vec::new();
        }
        let (keep, gone): (VecDeque<Batch>, VecDeque<Batch>) = q.drain(..).partition(|b| b.deadline > now);
        *q = keep;
        gone.into()
    }

    /// Removes every open and sealed batch of `lane` (or of every lane).
    pub fn drain(&mut self, lane: Option<usize>) -> Vec<Batch> {
        let lanes = self.lanes();
        let mine: Vec<u32> = self.open.keys().copied().filter(|t| lane.map_or(true, |l| *t as usize % lanes == l)).collect();
        let mut out: Vec<Batch> = Vec::new();
        for (l, q) in self.ready.iter_mut().enumerate() {
            if lane.map_or(true, |x| x == l) {
                out.extend(q.drain(..));
            }
        }
        for t in mine {
            out.extend(self.open.remove(&t));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acc(batch_size: usize) -> Accumulator {
        Accumulator::new(2, batch_size, 1 << 20, Duration::from_secs(60), Arc::new(Orphans::default()))
    }

    fn append(a: &mut Accumulator, topic: u32, len: usize, now: Instant) -> bool {
        let (b, sealed) = a.batch_for(topic, len, now);
        b.frame.extend(std::iter::repeat(0).take(len));
        b.payload_len += len;
        b.opaques.push(0);
        b.disarm();
        sealed | a.seal_if_full(topic)
    }

    #[test]
    fn seals_before_a_record_would_pass_batch_size_and_at_batch_size() {
        let now = Instant::now();
        let mut a = acc(100);
        assert!(!append(&mut a, 1, 60, now));
        assert!(append(&mut a, 1, 60, now), "60 + 60 > 100: the first batch is sealed");
        assert!(append(&mut a, 1, 40, now), "60 + 40 = 100: sealed at batch.size");
        let b1 = a.pop_ready(1).unwrap();
        let b2 = a.pop_ready(1).unwrap();
        assert_eq!((b1.payload_len, b2.payload_len, b1.seq, b2.seq), (60, 100, 0, 1));
        assert!(a.pop_ready(1).is_none());
        assert!(append(&mut a, 1, 500, now), "a record larger than batch.size travels alone");
        assert_eq!(a.pop_ready(1).unwrap().payload_len, 500);
    }

    #[test]
    fn linger_and_force_seal_only_their_lane() {
        let now = Instant::now();
        let linger = Duration::from_millis(5);
        let mut a = acc(1000);
        append(&mut a, 1, 10, now);
        append(&mut a, 2, 10, now);
        assert_eq!(a.seal_due(1, now, linger, false), Some(now + linger));
        assert!(!a.has_ready(1));
        assert_eq!(a.seal_due(1, now + linger, linger, false), None);
        assert!(a.has_ready(1) && !a.has_ready(0));
        assert_eq!(a.seal_due(0, now, linger, true), None);
        assert!(a.has_ready(0));
        let all = a.drain(None);
        assert_eq!(all.len(), 2);
    }

    #[test]
    fn expiry_takes_only_late_batches() {
        let now = Instant::now();
        let mut a = Accumulator::new(1, 10, 1 << 20, Duration::from_millis(10), Arc::new(Orphans::default()));
        append(&mut a, 1, 10, now);
        append(&mut a, 1, 10, now + Duration::from_millis(5));
        assert!(a.expire_ready(0, now + Duration::from_millis(9)).is_empty());
        let gone = a.expire_ready(0, now + Duration::from_millis(10));
        assert_eq!(gone.len(), 1);
        assert!(a.has_ready(0));
        a.drain(Some(0));
    }
}
