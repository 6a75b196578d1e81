//! Open batches per topic and sealed batches per lane, pure: no locks, no I/O, no clock (the
//! caller passes `now`).
//!
//! A batch is sealed when the next record would take it past its lane's size limit (a record
//! larger than the limit travels alone), when it reaches the limit, when `linger.ms` has passed
//! since its first record, or when a flush forces it.
//!
//! **Adaptive batching.** The size limit is `batch.size` while the lane has nothing in flight, so
//! at low load nothing changes: batches are sealed by `linger.ms` or by `batch.size` and sent.
//! Each batch sealed by size while another is still in flight doubles the limit (records keep
//! arriving faster than the server acknowledges them), up to `batch.size.max`; when an earlier
//! sealed batch is still waiting to be sent as well, straight to `batch.size.max` (records
//! outrun the sender too), and batches waiting together leave as one frame. While the window is
//! full a sealed batch could not be sent anyway: the limit is `batch.size.max` and lingering
//! batches are not sealed, so what arrives while the server works on the window travels in one
//! large frame (the server's ingest rate grows with frame size, lwp.md §2.2). When the window
//! empties, the limit falls back to `batch.size`. Linger still bounds how long a record waits
//! whenever the window has room.
//!
//! The window is full at `max.in.flight` batches or at `max.in.flight.bytes` payload bytes,
//! whichever comes first ([`WindowLoad::of`]): sixteen small batches at moderate load, about four
//! large ones under saturation. More large frames in flight add ack latency (each waits behind
//! the others) without adding throughput, since the server takes them one read at a time.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::batch::{Batch, Orphans};
use crate::wire::header::HEADER_LEN;

/// How full a lane's in-flight window is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WindowLoad {
    /// Every slot is taken.
    Full,
    /// Nothing in flight (or no connection).
    Idle,
    /// Anything else.
    Busy,
}

impl WindowLoad {
    /// The load of a window holding `in_flight` batches of `bytes` payload bytes: full at
    /// `max_in_flight` batches or at `max_bytes` bytes (so one batch can always be in flight).
    pub fn of(in_flight: usize, bytes: usize, max_in_flight: usize, max_bytes: usize) -> WindowLoad {
        if in_flight >= max_in_flight || (in_flight > 0 && bytes >= max_bytes) {
            WindowLoad::Full
        } else if in_flight == 0 {
            WindowLoad::Idle
        } else {
            WindowLoad::Busy
        }
    }
}

/// Open and sealed batches.
pub(crate) struct Accumulator {
    open: HashMap<u32, Batch>,
    /// Sealed, never-sent batches per lane, in seal order.
    ready: Vec<VecDeque<Batch>>,
    /// Next seal number per lane.
    next_seq: Vec<u64>,
    /// Size limit per lane now, between `batch_size` and `batch_size_max`.
    limit: Vec<usize>,
    /// The lane has batches in flight (a batch sealed by size then doubles the limit).
    busy: Vec<bool>,
    batch_size: usize,
    batch_size_max: usize,
    max_payload: usize,
    delivery_timeout: Duration,
    orphans: Arc<Orphans>,
}

impl Accumulator {
    pub fn new(
        lanes: usize,
        (batch_size, batch_size_max): (usize, usize),
        max_payload: usize,
        delivery_timeout: Duration,
        orphans: Arc<Orphans>,
    ) -> Accumulator {
        Accumulator {
            open: HashMap::new(),
            ready: (0..lanes).map(|_| VecDeque::new()).collect(),
            next_seq: vec![0; lanes],
            limit: vec![batch_size; lanes],
            busy: vec![false; lanes],
            batch_size,
            batch_size_max: batch_size_max.max(batch_size),
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

    /// A batch of `lane` reached the size limit: if the lane is busy, load outruns the server's
    /// acknowledgements, so the next batch may be twice as large; if an earlier sealed batch is
    /// still waiting to be sent as well, load outruns the sender too, and it may be the largest.
    fn sealed_by_size(&mut self, lane: usize) {
        if self.busy[lane] {
            let grown = if self.ready[lane].len() > 1 { self.batch_size_max } else { self.limit[lane] * 2 };
            self.limit[lane] = grown.min(self.batch_size_max);
        }
    }

    fn seal(&mut self, mut b: Batch) {
        let lane = self.lane_of(b.topic_id);
        b.seq = self.next_seq[lane];
        self.next_seq[lane] += 1;
        self.ready[lane].push_back(b);
    }

    /// Moves `lane`'s size limit with the load on its in-flight window: `batch.size.max` when it
    /// is full, `batch.size` when it is empty. In between the limit stays (growing as batches
    /// fill up), so it does not flap each time one Ack frees one slot.
    pub fn set_window_load(&mut self, lane: usize, load: WindowLoad) {
        self.busy[lane] = load != WindowLoad::Idle;
        match load {
            WindowLoad::Full => self.limit[lane] = self.batch_size_max,
            WindowLoad::Idle => self.limit[lane] = self.batch_size,
            WindowLoad::Busy => {}
        }
    }

    /// The size limit in force for `lane`.
    pub fn limit(&self, lane: usize) -> usize {
        self.limit[lane]
    }

    /// The open batch that a record of `len` bytes for `topic_id` goes into, sealing the current
    /// one first if the record would take it past the lane's limit, with room reserved for the
    /// record. True in the second value if a batch was sealed.
    pub fn batch_for(&mut self, topic_id: u32, len: usize, now: Instant) -> (&mut Batch, bool) {
        let lane = self.lane_of(topic_id);
        let mut sealed = false;
        let full =
            self.open.get(&topic_id).is_some_and(|b| b.payload_len > 0 && b.payload_len + len > self.limit[lane]);
        if full {
            if let Some(b) = self.open.remove(&topic_id) {
                self.seal(b);
                self.sealed_by_size(lane);
                sealed = true;
            }
        }
        let limit = self.limit[lane];
        let cap = self.batch_size.max(len).min(self.max_payload);
        let (timeout, orphans) = (self.delivery_timeout, &self.orphans);
        let b = self.open.entry(topic_id).or_insert_with(|| Batch::new(topic_id, cap, now, timeout, orphans.clone()));
        // Grow by doubling, capped at what the limit allows, so a buffer never holds much more
        // than twice its records and never more than one frame.
        let need = b.frame.len() + len;
        if need > b.frame.capacity() {
            let want = (b.frame.capacity() * 2).max(need).min(HEADER_LEN + limit.max(len));
            b.frame.reserve_exact(want - b.frame.len());
        }
        (b, sealed)
    }

    /// Seals `topic_id`'s open batch if it reached the lane's limit. True if it did.
    pub fn seal_if_full(&mut self, topic_id: u32) -> bool {
        let lane = self.lane_of(topic_id);
        if self.open.get(&topic_id).is_some_and(|b| b.payload_len >= self.limit[lane]) {
            if let Some(b) = self.open.remove(&topic_id) {
                self.seal(b);
                self.sealed_by_size(lane);
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
    #[cfg(test)]
    pub fn pop_ready(&mut self, lane: usize) -> Option<Batch> {
        self.ready[lane].pop_front()
    }

    /// The oldest sealed batch of `lane` and the batches right behind it of the same topic, as
    /// many as fit `batch.size.max` together (merge them with [`Batch::absorb`], outside the
    /// lock). Batches already sealed and waiting delay nothing by leaving together: a backlog
    /// means records outran the sender (while it connected, or before the window filled up),
    /// and one frame costs the server one durability wait where several small ones cost several.
    /// At low load no backlog forms and every batch leaves alone.
    pub fn pop_ready_run(&mut self, lane: usize) -> Vec<Batch> {
        let limit = self.batch_size_max;
        let q = &mut self.ready[lane];
        let Some(first) = q.pop_front() else { return Vec::new() };
        let mut total = first.payload_len;
        let topic = first.topic_id;
        let mut run = vec![first];
        while let Some(next) = q.front() {
            if next.topic_id != topic || total + next.payload_len > limit {
                break;
            }
            total += next.payload_len;
            run.extend(q.pop_front());
        }
        run
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
        let mine: Vec<u32> =
            self.open.keys().copied().filter(|t| lane.map_or(true, |l| *t as usize % lanes == l)).collect();
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
        Accumulator::new(2, (batch_size, batch_size), 1 << 20, Duration::from_secs(60), Arc::new(Orphans::default()))
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
        let mut a = Accumulator::new(1, (10, 10), 1 << 20, Duration::from_millis(10), Arc::new(Orphans::default()));
        append(&mut a, 1, 10, now);
        append(&mut a, 1, 10, now + Duration::from_millis(5));
        assert!(a.expire_ready(0, now + Duration::from_millis(9)).is_empty());
        let gone = a.expire_ready(0, now + Duration::from_millis(10));
        assert_eq!(gone.len(), 1);
        assert!(a.has_ready(0));
        a.drain(Some(0));
    }
}

#[cfg(test)]
mod adaptive_tests {
    use super::*;

    fn add(a: &mut Accumulator, len: usize, now: Instant) -> bool {
        let (b, s) = a.batch_for(1, len, now);
        b.frame.extend(std::iter::repeat(0).take(len));
        b.payload_len += len;
        b.opaques.push(0);
        b.disarm();
        assert!(b.frame.capacity() <= HEADER_LEN + 1000, "a buffer never outgrows the largest limit");
        s | a.seal_if_full(1)
    }

    fn sizes(a: &mut Accumulator) -> Vec<usize> {
        std::iter::from_fn(|| a.pop_ready(0)).map(|b| b.payload_len).collect()
    }

    #[test]
    fn the_limit_follows_the_load_on_the_window() {
        let now = Instant::now();
        let mut a = Accumulator::new(1, (100, 1000), 1 << 20, Duration::from_secs(60), Arc::new(Orphans::default()));
        // Idle window: sealed at batch.size, and the limit stays.
        a.set_window_load(0, WindowLoad::Idle);
        for _ in 0..4 {
            add(&mut a, 50, now);
        }
        assert_eq!(sizes(&mut a), vec![100, 100]);
        assert_eq!(a.limit(0), 100);
        // Busy window, each sealed batch sent at once: each batch sealed by size doubles the
        // limit, up to batch.size.max.
        a.set_window_load(0, WindowLoad::Busy);
        let mut s = Vec::new();
        for _ in 0..60 {
            add(&mut a, 50, now);
            s.extend(sizes(&mut a));
        }
        assert_eq!(&s[..5], &[100, 200, 400, 800, 1000], "{s:?}");
        assert_eq!(a.limit(0), 1000);
        // Busy window and a sealed batch still waiting (the sender is behind): the next one may
        // be the largest at once.
        a.drain(None);
        a.set_window_load(0, WindowLoad::Idle);
        a.set_window_load(0, WindowLoad::Busy);
        for _ in 0..6 {
            add(&mut a, 50, now);
        }
        assert_eq!(a.limit(0), 1000, "two sealed batches waiting");
        assert_eq!(sizes(&mut a), vec![100, 200]);
        // One Ack freeing a slot does not lower it; an empty window does.
        a.set_window_load(0, WindowLoad::Busy);
        assert_eq!(a.limit(0), 1000);
        a.set_window_load(0, WindowLoad::Idle);
        assert_eq!(a.limit(0), 100);
        // A full window jumps straight to batch.size.max.
        a.set_window_load(0, WindowLoad::Full);
        assert_eq!(a.limit(0), 1000);
        a.drain(None);
    }

    #[test]
    fn a_window_is_full_at_its_batch_count_or_its_bytes() {
        const MIB: usize = 1 << 20;
        // By count (16 small batches), by bytes (4 of 1 MiB), whichever comes first.
        assert_eq!(WindowLoad::of(16, 16 * 32 * 1024, 16, 4 * MIB), WindowLoad::Full);
        assert_eq!(WindowLoad::of(15, 15 * 32 * 1024, 16, 4 * MIB), WindowLoad::Busy);
        assert_eq!(WindowLoad::of(4, 4 * MIB, 16, 4 * MIB), WindowLoad::Full);
        assert_eq!(WindowLoad::of(3, 4 * MIB - 1, 16, 4 * MIB), WindowLoad::Busy);
        // One batch larger than the byte bound may always be in flight, but only one.
        assert_eq!(WindowLoad::of(0, 0, 16, 4 * MIB), WindowLoad::Idle);
        assert_eq!(WindowLoad::of(1, 8 * MIB, 16, 4 * MIB), WindowLoad::Full);
        assert_eq!(WindowLoad::of(1, 100, 16, 4 * MIB), WindowLoad::Busy);
    }

    #[test]
    fn waiting_batches_of_a_topic_leave_merged_up_to_batch_size_max() {
        let now = Instant::now();
        let mut a = Accumulator::new(1, (100, 1000), 1 << 20, Duration::from_secs(60), Arc::new(Orphans::default()));
        // A lone batch leaves alone.
        add(&mut a, 50, now);
        add(&mut a, 50, now);
        assert_eq!(a.pop_ready_run(0).len(), 1);
        // A backlog of batches sealed at batch.size (idle window) leaves as one frame.
        for _ in 0..40 {
            add(&mut a, 50, now);
        }
        assert_eq!(a.limit(0), 100, "sealed small");
        let run = a.pop_ready_run(0);
        assert_eq!(run.iter().map(|b| b.payload_len).sum::<usize>(), 1000, "{}", run.len());
        let mut it = run.into_iter();
        let mut merged = it.next().unwrap();
        for b in it {
            merged.absorb(b);
        }
        assert_eq!(merged.payload_len, merged.frame.len() - HEADER_LEN);
        assert_eq!(merged.records(), 20);
        merged.disarm();
        a.drain(None);
    }
}
