//! Concurrency torture test for the consumer (issue 14, design.md §10): several threads race every
//! pair of public calls — poll, poll_into, poll_each, seek, commit, lag, position, close, drop — on
//! one consumer while the mock broker injects faults (disconnects, restarts, CatchingUp, stalls).
//!
//! Asserted, over many iterations (bounded to ~20 s in total):
//! - every call returns within its own timeout plus a slack of 2 s, and a call waiting when
//!   close returned returns within the slack after it (close wakes every waiter);
//! - calls that start after close returned return CLOSED;
//! - no record is handed out twice within one generation (between seeks), nothing is skipped,
//!   and each record carries the offset its position in the log implies;
//! - `position()` is always a record boundary;
//! - no panic, no deadlock (the whole test runs under a watchdog).
//!
//! This is a hang detector, not a performance test: the slack is generous on purpose.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lnc::mock::{MockBroker, MockConfig};
use lnc::wire::tlv::{build_envelope, Record};
use lnc::wire::{encode_frame, flags, Checksum, FrameDecoder, FrameKind, DEFAULT_MAX_PAYLOAD};
use lnc::{Config, ErrorCode, SeekTo, StandaloneConsumer};
use parking_lot::Mutex;

const SLACK: Duration = Duration::from_secs(2);
const REQUEST_TIMEOUT: Duration = Duration::from_millis(1500);
const TOTAL: Duration = Duration::from_secs(20);

/// A tiny deterministic PRNG (xorshift), one per thread, seeded from the iteration.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The topic's content: which seq each record has, its offset, and the record boundaries.
struct Layout {
    /// seq → the offset its record reports (an envelope's inner records report the envelope's).
    offset_of: Vec<u64>,
    /// Record-boundary positions P may take, with the seq of the record that starts there (the
    /// log end maps to the record count).
    boundaries: BTreeMap<u64, u64>,
    end: u64,
}

/// Chunks of plain records alternating with LZ4 envelopes; every value starts with its seq.
fn build_log(chunks: u64, per_chunk: u64) -> (Vec<Vec<u8>>, Layout) {
    let mut payloads = Vec::new();
    let mut offset_of = Vec::new();
    let mut boundaries = BTreeMap::new();
    let mut off = 0u64;
    let mut seq = 0u64;
    for c in 0..chunks {
        let mut plain = Vec::new();
        let recs: Vec<Record> = (0..per_chunk)
            .map(|i| {
                let mut v = vec![b'x'; 24 + ((seq + i) % 40) as usize];
                v[..8].copy_from_slice(&(seq + i).to_le_bytes());
                Record::raw(v)
            })
            .collect();
        if c % 2 == 1 {
            for r in &recs {
                r.encode_into(&mut plain);
            }
            let env = build_envelope(&plain).unwrap();
            boundaries.insert(off, seq);
            for _ in &recs {
                offset_of.push(off);
            }
            off += env.len() as u64;
            seq += per_chunk;
            payloads.push(env);
        } else {
            for r in &recs {
                boundaries.insert(off, seq);
                offset_of.push(off);
                off += r.encoded_len() as u64;
                seq += 1;
                r.encode_into(&mut plain);
            }
            payloads.push(plain);
        }
    }
    boundaries.insert(off, seq);
    (payloads, Layout { offset_of, boundaries, end: off })
}

fn ingest(addr: &str, topic: u32, payloads: &[Vec<u8>]) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        encode_frame(&mut buf, Checksum::Crc32, flags::INGEST, i as u64 + 1, 0, 1, topic, p);
    }
    s.write_all(&buf).unwrap();
    let mut dec = FrameDecoder::new(Checksum::Crc32, DEFAULT_MAX_PAYLOAD);
    let mut acks = 0;
    while acks < payloads.len() {
        assert!(dec.read_from(&mut s, 64 * 1024).unwrap() > 0);
        while let Some(f) = dec.next_frame().unwrap() {
            assert_eq!(f.kind(), FrameKind::Ack);
            acks += 1;
        }
    }
}

fn seq_of(r: &Record) -> u64 {
    u64::from_le_bytes(r.value[..8].try_into().unwrap())
}

/// One batch handed out by a poll, with the seek counters around the call.
struct Batch {
    seqs: Vec<u64>,
    /// (seeks started, seeks finished) before the poll began and after it returned.
    before: (u64, u64),
    after: (u64, u64),
}

/// What every thread of one iteration shares.
struct Shared {
    consumer: Mutex<Option<Arc<StandaloneConsumer>>>,
    seeks_started: AtomicU64,
    seeks_done: AtomicU64,
    /// When close (or the drop) returned, as nanoseconds since `t0` (0 = not yet).
    closed_at: AtomicU64,
    stop: AtomicBool,
    /// This iteration ends with an explicit close, which must wake 30 s polls; an iteration that
    /// ends by dropping the last reference cannot (the pollers hold references), so it has none.
    long_polls: bool,
    t0: Instant,
    batches: Mutex<Vec<Batch>>,
    failures: Mutex<Vec<String>>,
    calls: AtomicU64,
}

impl Shared {
    fn since(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.t0).as_nanos() as u64 + 1
    }
    fn seek_counters(&self) -> (u64, u64) {
        // Read done first: a seek counted in `started` but not yet in `done` is in flight.
        let done = self.seeks_done.load(Ordering::SeqCst);
        (self.seeks_started.load(Ordering::SeqCst), done)
    }
    fn fail(&self, msg: String) {
        self.failures.lock().push(msg);
    }

    /// Checks a call's duration: within its timeout + slack, and within the slack after close
    /// returned if it was still running then.
    fn timed<T>(&self, what: &str, timeout: Duration, f: impl FnOnce() -> T) -> (T, bool) {
        let start = Instant::now();
        let closed_before = self.closed_at.load(Ordering::SeqCst) != 0;
        let r = f();
        let end = Instant::now();
        self.calls.fetch_add(1, Ordering::Relaxed);
        let took = end - start;
        if took > timeout + SLACK {
            self.fail(format!("{what} took {took:?} (timeout {timeout:?})"));
        }
        let closed_at = self.closed_at.load(Ordering::SeqCst);
        if closed_at != 0 {
            let closed = self.t0 + Duration::from_nanos(closed_at - 1);
            if end > closed + SLACK && start < closed {
                self.fail(format!("{what} returned {:?} after close returned", end - closed));
            }
        }
        (r, closed_before)
    }
}

fn check_closed(shared: &Shared, what: &str, closed_before: bool, r: Result<(), lnc::Error>) {
    match r {
        Err(e) if closed_before && e.code != ErrorCode::Closed => {
            shared.fail(format!("{what} after close returned {:?}, not CLOSED", e.code))
        }
        Ok(()) if closed_before && what != "position" => shared.fail(format!("{what} after close succeeded")),
        Err(e) if !closed_before && e.code == ErrorCode::Panic => shared.fail(format!("{what}: PANIC {e}")),
        _ => {}
    }
}

fn worker(shared: Arc<Shared>, layout: Arc<Layout>, seed: u64) {
    let mut rng = Rng(seed | 1);
    let mut buf = Vec::new();
    while !shared.stop.load(Ordering::SeqCst) {
        let Some(c) = shared.consumer.lock().clone() else { return };
        let op = rng.below(100);
        match op {
            0..=39 => {
                // poll / poll_into / poll_each, mostly short, sometimes very long (close must wake it).
                let timeout = if shared.long_polls && rng.below(10) == 0 {
                    Duration::from_secs(30)
                } else {
                    Duration::from_millis(rng.below(150))
                };
                let before = shared.seek_counters();
                let kind = rng.below(3);
                let (r, closed_before) = shared.timed("poll", timeout, || match kind {
                    0 => c.poll(timeout).map(|v| v.iter().map(seq_and_offset).collect::<Vec<_>>()),
                    1 => {
                        buf.clear();
                        c.poll_into(timeout, &mut buf, 1 + rng.below(300) as usize)
                            .map(|_| buf.iter().map(seq_and_offset).collect())
                    }
                    _ => {
                        let mut got = Vec::new();
                        c.poll_each(timeout, |r| got.push(seq_and_offset(r))).map(|_| got)
                    }
                });
                let after = shared.seek_counters();
                match r {
                    Ok(v) => {
                        if closed_before {
                            shared.fail("poll after close succeeded".into());
                        }
                        for (s, off) in &v {
                            match layout.offset_of.get(*s as usize) {
                                Some(want) if want == off => {}
                                _ => shared.fail(format!("record seq {s} reports offset {off}")),
                            }
                        }
                        if !v.is_empty() {
                            shared.batches.lock().push(Batch {
                                seqs: v.into_iter().map(|(s, _)| s).collect(),
                                before,
                                after,
                            });
                        }
                    }
                    Err(e) => check_closed(&shared, "poll", closed_before, Err(e)),
                }
            }
            40..=51 => {
                let to = match rng.below(3) {
                    0 => SeekTo::Beginning,
                    1 => SeekTo::End,
                    _ => {
                        let i = rng.below(layout.boundaries.len() as u64) as usize;
                        SeekTo::Offset(*layout.boundaries.keys().nth(i).unwrap())
                    }
                };
                shared.seeks_started.fetch_add(1, Ordering::SeqCst);
                let (r, closed_before) = shared.timed("seek", REQUEST_TIMEOUT, || c.seek(to));
                shared.seeks_done.fetch_add(1, Ordering::SeqCst);
                check_closed(&shared, "seek", closed_before, r.map(|_| ()));
            }
            52..=63 => {
                let (r, closed_before) = shared.timed("commit", Duration::ZERO, || c.commit());
                if let Ok(p) = r {
                    if !layout.boundaries.contains_key(&p) {
                        shared.fail(format!("committed {p}, not a record boundary"));
                    }
                }
                check_closed(&shared, "commit", closed_before, r.map(|_| ()));
            }
            64..=73 => {
                let (r, closed_before) = shared.timed("lag", REQUEST_TIMEOUT, || c.lag());
                // A lag that began before the close returned is allowed to succeed.
                check_closed(&shared, "lag", closed_before, r.map(|_| ()));
            }
            74..=93 => {
                let (p, _) = shared.timed("position", Duration::ZERO, || c.position());
                if !layout.boundaries.contains_key(&p) {
                    shared.fail(format!("position {p} is not a record boundary"));
                }
            }
            _ => {
                let _ = shared.timed("eventfd", Duration::ZERO, || c.eventfd());
                std::thread::sleep(Duration::from_millis(rng.below(5)));
            }
        }
    }
}

fn seq_and_offset(r: &Record) -> (u64, u64) {
    (seq_of(r), r.offset)
}

/// Within each generation (polls that overlapped no seek), no seq twice, and no gap that a poll
/// overlapping a seek could not account for.
fn check_batches(shared: &Shared, layout: &Layout) {
    let batches = shared.batches.lock();
    let mut clean: BTreeMap<u64, Vec<&Batch>> = BTreeMap::new();
    for b in batches.iter() {
        // Internally consecutive: one batch is always one generation.
        for w in b.seqs.windows(2) {
            if w[1] != w[0] + 1 {
                shared.fail(format!("a batch jumps from seq {} to {}", w[0], w[1]));
            }
        }
        if b.before.0 == b.before.1 && b.before == b.after {
            clean.entry(b.before.0).or_default().push(b);
        }
    }
    for (k, bs) in &clean {
        let mut seen = BTreeSet::new();
        for b in bs {
            for s in &b.seqs {
                if !seen.insert(*s) {
                    shared.fail(format!("seq {s} handed out twice in generation {k}"));
                }
            }
        }
        let (Some(&lo), Some(&hi)) = (seen.first(), seen.last()) else { continue };
        // Batches from polls that overlapped a seek may belong to this generation too.
        let mut maybe = BTreeSet::new();
        for b in batches
            .iter()
            .filter(|b| b.before.1 <= *k && b.after.0 >= *k && !(b.before.0 == b.before.1 && b.before == b.after))
        {
            maybe.extend(b.seqs.iter().copied());
        }
        for s in lo..=hi {
            if !seen.contains(&s) && !maybe.contains(&s) {
                shared.fail(format!("seq {s} skipped in generation {k} ({lo}..={hi} handed out)"));
                break;
            }
        }
    }
    let _ = layout.end;
    RECORDS.fetch_add(batches.iter().map(|b| b.seqs.len() as u64).sum(), Ordering::Relaxed);
    CLEAN.fetch_add(clean.values().map(|v| v.len() as u64).sum(), Ordering::Relaxed);
}

/// Records handed out and batches checked as clean, over the whole run (printed: evidence the
/// ordering checks saw data).
static RECORDS: AtomicU64 = AtomicU64::new(0);
static CLEAN: AtomicU64 = AtomicU64::new(0);

fn iteration(b: &MockBroker, topic: u32, layout: &Arc<Layout>, it: u64, total_calls: &AtomicU64) -> Vec<String> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (it + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let addr = b.address_string();
    let tid = topic.to_string();
    let fetch_max = [64u64, 700, 4096, 65536, 1 << 20][rng.below(5) as usize].to_string();
    let queued = [1024u64, 8192, 65536, 1 << 20][rng.below(4) as usize].to_string();
    let auto = if rng.below(2) == 0 { "true" } else { "false" };
    let pipeline = (1 + rng.below(2)).to_string();
    let poll_max = (1 + rng.below(500)).to_string();
    let cfg = Config::from_pairs([
        ("bootstrap.servers", addr.as_str()),
        ("topic.id", tid.as_str()),
        ("start.offset", "beginning"),
        ("request.timeout.ms", "1500"),
        ("connect.timeout.ms", "500"),
        ("reconnect.backoff.ms", "5"),
        ("reconnect.backoff.max.ms", "100"),
        ("fetch.max.wait.ms", "5"),
        ("fetch.max.bytes", fetch_max.as_str()),
        ("fetch.pipeline", pipeline.as_str()),
        ("queued.max.bytes", queued.as_str()),
        ("max.poll.records", poll_max.as_str()),
        ("enable.auto.commit", auto),
        ("auto.commit.interval.ms", "3"),
        ("offset.store", "memory"),
        ("catching.up.retries", "2"),
    ])
    .unwrap();
    let explicit_close = rng.below(4) != 0;
    let consumer = match StandaloneConsumer::new(&cfg) {
        Ok(c) => Arc::new(c),
        // A fault left over from the previous iteration (restart) may refuse the start.
        Err(e) if e.code == ErrorCode::Transport || e.code == ErrorCode::TimedOut => return Vec::new(),
        Err(e) => return vec![format!("iteration {it}: cannot start the consumer: {e}")],
    };
    let shared = Arc::new(Shared {
        consumer: Mutex::new(Some(consumer)),
        seeks_started: AtomicU64::new(0),
        seeks_done: AtomicU64::new(0),
        closed_at: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        long_polls: explicit_close,
        t0: Instant::now(),
        batches: Mutex::new(Vec::new()),
        failures: Mutex::new(Vec::new()),
        calls: AtomicU64::new(0),
    });
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (s, l) = (shared.clone(), layout.clone());
            let seed = rng.next() ^ w;
            std::thread::spawn(move || worker(s, l, seed))
        })
        .collect();
    // Faults while the workers race.
    let run_for = Duration::from_millis(300 + rng.below(400));
    let until = Instant::now() + run_for;
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20 + rng.below(80)));
        match rng.below(6) {
            0 => b.disconnect_all(),
            1 => b.restart(),
            2 => b.force_catching_up(1 + rng.below(2)),
            3 => {
                b.stall_reading(true);
                std::thread::sleep(Duration::from_millis(rng.below(60)));
                b.stall_reading(false);
            }
            _ => {}
        }
    }
    // End the handle: an explicit close racing the workers, or the last reference dropped.
    let c = shared.consumer.lock().clone().unwrap();
    if explicit_close {
        let timeout = Duration::from_millis(rng.below(600));
        let (r, _) = shared.timed("close", timeout, || c.close(timeout));
        shared.closed_at.store(shared.since(Instant::now()), Ordering::SeqCst);
        if let Err(e) = r {
            if e.code != ErrorCode::TimedOut {
                shared.fail(format!("close failed: {e}"));
            }
        }
        // Calls after close keep racing for a moment (they must all return CLOSED promptly).
        std::thread::sleep(Duration::from_millis(50 + rng.below(100)));
    }
    shared.stop.store(true, Ordering::SeqCst);
    shared.consumer.lock().take();
    for w in workers {
        if w.join().is_err() {
            shared.fail("a worker panicked".into());
        }
    }
    // The last reference: dropping it closes (bounded by min(request.timeout, 5 s)).
    let ((), _) = shared.timed("drop", REQUEST_TIMEOUT.min(Duration::from_secs(5)), || drop(c));
    check_batches(&shared, layout);
    total_calls.fetch_add(shared.calls.load(Ordering::Relaxed), Ordering::Relaxed);
    let f = shared.failures.lock();
    f.iter().map(|m| format!("iteration {it}: {m}")).collect()
}

#[test]
fn racing_public_calls_under_faults_never_hang_lose_or_duplicate() {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let body = std::thread::spawn(move || {
        let b = MockBroker::start(MockConfig { ack_delay: Duration::ZERO, ..Default::default() }).unwrap();
        let topic = b.create_topic("torture").unwrap();
        let (payloads, layout) = build_log(40, 250);
        ingest(&b.address_string(), topic, &payloads);
        let layout = Arc::new(layout);
        let total_calls = AtomicU64::new(0);
        let t0 = Instant::now();
        let mut failures = Vec::new();
        let mut it = 0;
        while t0.elapsed() < TOTAL {
            failures.extend(iteration(&b, topic, &layout, it, &total_calls));
            it += 1;
        }
        println!(
            "{it} iterations, {} timed calls, {} records handed out, {} batches checked within one generation, {} failures",
            total_calls.load(Ordering::Relaxed),
            RECORDS.load(Ordering::Relaxed),
            CLEAN.load(Ordering::Relaxed),
            failures.len()
        );
        let _ = tx.send((it, failures));
    });
    // Watchdog: a deadlock fails the test instead of hanging the suite.
    match rx.recv_timeout(TOTAL + Duration::from_secs(60)) {
        Ok((iterations, failures)) => {
            body.join().unwrap();
            assert!(iterations >= 5, "only {iterations} iterations ran");
            assert!(
                failures.is_empty(),
                "{} failures:\n{}",
                failures.len(),
                failures.iter().take(30).cloned().collect::<Vec<_>>().join("\n")
            );
        }
        Err(_) => {
            if body.is_finished() {
                if let Err(p) = body.join() {
                    std::panic::resume_unwind(p);
                }
            }
            panic!("the torture test did not finish: a call hung");
        }
    }
}
