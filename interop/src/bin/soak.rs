//! Fault soak (issue 11): liblnc's producer and consumer under random broker faults, counting
//! every record.
//!
//! ```text
//! cargo run --release -p lnc-interop --bin soak -- [-n 1000000] [--seconds N] [--rate R] [--quick] [--seed S]
//! ```
//!
//! Sends are paced at `--rate` records/s (default 12 000; quick 7 000; 0 = unpaced) because the
//! faults are injected every 3–23 ms (quick 2–12 ms): pacing keeps many batches between faults.
//!
//! Two embedded mock brokers, A (bootstrap) and B, with the same three topics. Records
//! `"<topic>:<seq>:<padding>"` (seq = a global send sequence) go to the three topics, plus 0.5 % to
//! an unknown topic (rejected with a report). Two phases, each with its own Producer:
//!
//! - **P (pipelined, max.in.flight 16)**, ~70 % of the records. Faults whose batches the broker
//!   stores (or never saw): disconnect_all, drop_after_frames, random ack delay 0–20 ms,
//!   FORWARD_FAILED with store=true, FORWARD_FAILED "Quorum not reached - required 2 ACKs, got 1"
//!   with the Acks of the next 1–4 ingests dropped (the cluster quorum-loss case of lwp.md §8;
//!   silent Ack loss is only injected together with that error, see lwp.md §2.3), restart, and
//!   CatchingUp for the consumers.
//! - **S (strict, max.in.flight 1)**, ~30 %. Adds the faults whose batches are NOT stored:
//!   FORWARD_FAILED store=false and NOT_LEADER redirects A→B / B→A. With pipelining, a batch the
//!   broker did not store can be overtaken by a later batch it did store (no client can undo
//!   that; see tests/producer.rs `strict_order_with_one_in_flight...`), hence one batch in flight.
//!
//! Six liblnc StandaloneConsumers (3 topics × 2 brokers, odd fetch sizes) read concurrently
//! under the same faults and must return exactly each broker's final log.
//!
//! Definitions (printed with the report):
//! - sent: records accepted by `send`; acked / failed-with-report: their delivery reports;
//! - unreported = sent − reports (must be 0); lost = acked records absent from both logs (must be 0);
//! - duplicates = stored occurrences beyond the first (A and B together; at-least-once);
//! - order violation: within one broker's log of one topic, the first occurrence of a record that
//!   comes after the first occurrence of a record sent later to the same topic (must be 0);
//! - consumer mismatch: a consumer's (offset, record) sequence differs from its broker's log.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lnc::mock::MockBroker;
use lnc::wire::tlv::decode_all;
use lnc::{Config, DeliveryReport, ErrorCode, Message, Producer, SeekTo, StandaloneConsumer};
use lnc_interop::{lnc_config, mock, Args, Rng};

const TOPICS: [&str; 3] = ["soak-a", "soak-b", "soak-c"];
const UNKNOWN_TOPIC: u32 = 4242;
const QUORUM: &str = "FORWARD_FAILED: Quorum not reached - required 2 ACKs, got 1";

fn value(topic: u32, seq: u64, pad: usize) -> Vec<u8> {
    let mut v = format!("{topic}:{seq:010}:").into_bytes();
    v.resize(v.len() + pad, b'.');
    v
}

fn parse(v: &[u8]) -> (u32, u64) {
    let t = v.iter().position(|&b| b == b':').expect("topic");
    let topic = std::str::from_utf8(&v[..t]).unwrap().parse().unwrap();
    let seq = std::str::from_utf8(&v[t + 1..t + 11]).unwrap().parse().unwrap();
    (topic, seq)
}

#[derive(Default)]
struct FaultCounts {
    counts: Mutex<HashMap<&'static str, u64>>,
}

impl FaultCounts {
    fn add(&self, k: &'static str) {
        *self.counts.lock().unwrap().entry(k).or_default() += 1;
    }
}

fn producer_config(addr: &str, strict: bool) -> Config {
    let mif = if strict { "1" } else { "16" };
    lnc_config(
        addr,
        &[
            ("linger.ms", if strict { "10" } else { "1" }),
            ("batch.size", "16384"),
            ("max.in.flight", mif),
            ("request.timeout.ms", "1000"),
            ("reconnect.backoff.ms", "5"),
            ("reconnect.backoff.max.ms", "100"),
            ("retry.backoff.ms", "5"),
            ("delivery.timeout.ms", "120000"),
            ("redirect.max", "100"),
        ],
    )
}

/// Random faults until `done`; `strict` adds the unstored ones (FORWARD_FAILED store=false, NOT_LEADER).
fn fault_loop(
    a: Arc<MockBroker>,
    b: Arc<MockBroker>,
    seed: u64,
    strict: bool,
    done: Arc<AtomicBool>,
    counts: Arc<FaultCounts>,
    quick: bool,
) {
    let mut rng = Rng::new(seed);
    let (lo, span) = if quick { (2, 10) } else { (3, 20) };
    // Which broker the producer currently writes to: the one whose ingest counter moved.
    let mut last_ingests = [a.stats().ingests_received, b.stats().ingests_received];
    let mut on_b = false;
    while !done.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(lo + rng.below(span)));
        let now = [a.stats().ingests_received, b.stats().ingests_received];
        let delta = [now[0].saturating_sub(last_ingests[0]), now[1].saturating_sub(last_ingests[1])];
        if delta[0] != delta[1] {
            on_b = delta[1] > delta[0];
        }
        last_ingests = now;
        // Faults hit the broker the producer most likely talks to; both brokers get some.
        let m = if rng.below(3) == 0 { &b } else { &a };
        // Phase S: 1/4 NOT_LEADER redirects, 1/8 FORWARD_FAILED store=false, the rest as phase P.
        let k = if strict {
            match rng.below(8) {
                0 | 1 => 9,
                2 => 8,
                _ => rng.below(8),
            }
        } else {
            rng.below(8)
        };
        match k {
            0 => {
                m.disconnect_all();
                counts.add("disconnect_all");
            }
            1 => {
                m.drop_after_frames(1 + rng.below(40));
                counts.add("drop_after_frames");
            }
            2 | 3 => {
                m.set_ack_delay(Duration::from_millis(rng.below(21)));
                counts.add("ack_delay 0-20ms");
            }
            4 => {
                m.fail_next_ingests(1 + rng.below(3), "FORWARD_FAILED: Forward operation timed out", true);
                counts.add("FORWARD_FAILED store=true");
            }
            5 => {
                // Quorum loss: the failing batch gets the error, the Acks of the next ones are dropped.
                m.drop_next_acks(1 + rng.below(4));
                m.fail_next_ingests(1, QUORUM, true);
                counts.add("quorum FORWARD_FAILED + dropped acks");
            }
            6 => {
                if rng.below(4) == 0 {
                    m.restart();
                    counts.add("restart");
                } else {
                    m.force_catching_up(1 + rng.below(3));
                    counts.add("CatchingUp (consumers)");
                }
            }
            7 => {
                m.force_catching_up(1 + rng.below(2));
                counts.add("CatchingUp (consumers)");
            }
            8 => {
                m.fail_next_ingests(
                    1 + rng.below(2),
                    "FORWARD_FAILED: Failed to connect to leader: Connection refused (os error 111)",
                    false,
                );
                counts.add("FORWARD_FAILED store=false");
            }
            _ => {
                // NOT_LEADER: the broker the producer writes to sends it to the other one.
                let (from, to) = if on_b { (&b, &a) } else { (&a, &b) };
                from.fail_next_ingests(1, &format!("NOT_LEADER: redirect to {}", to.address_string()), false);
                counts.add("NOT_LEADER redirect");
            }
        }
    }
    for m in [&a, &b] {
        m.set_ack_delay(Duration::ZERO);
        m.fail_next_ingests(0, "", false);
        m.drop_next_acks(0);
        m.drop_after_frames(0);
        m.force_catching_up(0);
    }
}

struct PhaseResult {
    sent: u64,
    reports: Vec<DeliveryReport>,
    close: Duration,
    retried: u64,
    possible_dups: u64,
    connects: u64,
}

/// One phase: sends `n` records (or until `deadline`) with its own producer; returns its reports.
#[allow(clippy::too_many_arguments)]
fn phase(
    a: &Arc<MockBroker>,
    b: &Arc<MockBroker>,
    topics: &[u32],
    strict: bool,
    first_seq: u64,
    n: u64,
    deadline: Instant,
    seed: u64,
    quick: bool,
    rate: u64,
    sent_log: &mut Vec<(u64, u32)>,
    counts: &Arc<FaultCounts>,
) -> PhaseResult {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let r2 = reports.clone();
    let p = Producer::with_callback(&producer_config(&a.address_string(), strict), move |r| {
        r2.lock().unwrap().push(r.clone())
    })
    .expect("producer");
    let done = Arc::new(AtomicBool::new(false));
    let faults = {
        let (a, b, done, counts) = (a.clone(), b.clone(), done.clone(), counts.clone());
        std::thread::spawn(move || fault_loop(a, b, seed, strict, done, counts, quick))
    };
    let mut rng = Rng::new(seed ^ 0x5eed);
    let mut sent = 0u64;
    let phase_start = Instant::now();
    while sent < n && Instant::now() < deadline {
        let seq = first_seq + sent;
        let t = if rng.below(200) == 0 { UNKNOWN_TOPIC } else { topics[rng.below(3) as usize] };
        let v = value(t, seq, rng.below(80) as usize);
        match p.send(t, &Message::raw(&v), seq) {
            Ok(()) => {
                sent_log.push((seq, t));
                sent += 1;
            }
            Err(e) => panic!("send refused: {e}"),
        }
        if sent.is_multiple_of(4096) {
            p.poll(Duration::ZERO).expect("poll");
        }
        // Pace the sends so that faults (time-based) land among many batches.
        if rate > 0 && sent.is_multiple_of(64) {
            let due = phase_start + Duration::from_secs_f64(sent as f64 / rate as f64);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
    }
    // Let faults run a little past the last send, then settle.
    std::thread::sleep(Duration::from_millis(200));
    done.store(true, Ordering::Release);
    faults.join().expect("fault thread");
    let left = p.flush(Duration::from_secs(120)).expect("flush");
    let start = Instant::now();
    p.close(Duration::from_secs(10)).expect("close");
    let close = start.elapsed();
    let m = p.metrics();
    let reports = std::mem::take(&mut *reports.lock().unwrap());
    println!(
        "phase {}: sent {sent}, reports {}, left after flush {left}, retried records {}, possible duplicates {}, connects {}, close {:?}",
        if strict { "S (max.in.flight 1)" } else { "P (max.in.flight 16)" },
        reports.len(),
        m.records_retried,
        m.possible_duplicates,
        m.connects,
        close
    );
    PhaseResult {
        sent,
        reports,
        close,
        retried: m.records_retried,
        possible_dups: m.possible_duplicates,
        connects: m.connects,
    }
}

/// A consumer thread reading one (broker, topic) until told the final end offset.
struct Reader {
    handle: JoinHandle<ReaderResult>,
    end: Arc<AtomicU64>,
}

#[derive(Default)]
struct ReaderResult {
    records: Vec<(u64, u64)>, // (offset, seq)
    errors: HashMap<String, u64>,
    fatal: Vec<String>,
}

fn start_reader(addr: String, topic: u32, fetch: u32, stop_at: Duration) -> Reader {
    let end = Arc::new(AtomicU64::new(u64::MAX));
    let e2 = end.clone();
    let handle = std::thread::spawn(move || {
        let c = StandaloneConsumer::new(&lnc_config(
            &addr,
            &[
                ("topic.id", &topic.to_string()),
                ("start.offset", "beginning"),
                ("enable.auto.commit", "false"),
                ("fetch.max.bytes", &fetch.to_string()),
                ("request.timeout.ms", "2000"),
                ("reconnect.backoff.ms", "5"),
                ("reconnect.backoff.max.ms", "100"),
                ("fetch.max.wait.ms", "20"),
                // Injected CatchingUp bursts can follow each other faster than one consumer's
                // retries (the count is global); the deployed server never answers CatchingUp
                // below the end in standalone mode, so tolerate long runs of them here.
                ("catching.up.retries", "1000"),
            ],
        ))
        .expect("consumer");
        let mut res = ReaderResult::default();
        let started = Instant::now();
        let mut buf = Vec::new();
        loop {
            let end = e2.load(Ordering::Acquire);
            if end != u64::MAX && c.position() >= end {
                break;
            }
            if started.elapsed() > stop_at {
                res.fatal.push(format!("timed out at position {} of {end}", c.position()));
                break;
            }
            buf.clear();
            match c.poll_into(Duration::from_millis(50), &mut buf, usize::MAX) {
                Ok(_) => {
                    for r in &buf {
                        let (t, seq) = parse(&r.value);
                        assert_eq!(t, topic);
                        res.records.push((r.offset, seq));
                    }
                }
                Err(e) => {
                    *res.errors.entry(e.code.name().to_string()).or_default() += 1;
                    if !e.retryable {
                        res.fatal.push(e.to_string());
                        if e.code == ErrorCode::OffsetOutOfRange {
                            let _ = c.seek(SeekTo::Offset(c.position()));
                        } else {
                            break;
                        }
                    }
                }
            }
        }
        let _ = c.close(Duration::from_secs(5));
        res
    });
    Reader { handle, end }
}

fn main() {
    let args = Args::from_env();
    let quick = args.flag("--quick");
    let n = args.num("-n", if quick { 100_000 } else { 1_000_000 });
    let seconds = args.num("--seconds", if quick { 25 } else { 600 });
    // Records per second offered (0 = as fast as possible).
    let rate = args.num("--rate", if quick { 7_000 } else { 12_000 });
    let seed = args.num(
        "--seed",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1,
    );
    println!("soak: n {n}, rate {rate}/s, budget {seconds} s, seed {seed} (rerun with --seed {seed})");
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let a = Arc::new(mock(Duration::from_millis(1)));
    let b = Arc::new(mock(Duration::from_millis(1)));
    let topics: Vec<u32> = TOPICS.iter().map(|t| a.create_topic(t).unwrap()).collect();
    let tb: Vec<u32> = TOPICS.iter().map(|t| b.create_topic(t).unwrap()).collect();
    assert_eq!(topics, tb, "same topic ids on both brokers");

    // Consumers on both brokers, reading while the faults happen.
    let fetch_sizes = [65_537u32, 4_097, 1_048_576];
    let stop_at = Duration::from_secs(seconds + 180);
    let mut readers = Vec::new();
    for (bi, m) in [&a, &b].iter().enumerate() {
        for (ti, &t) in topics.iter().enumerate() {
            readers.push((bi, t, start_reader(m.address_string(), t, fetch_sizes[(ti + bi) % 3], stop_at)));
        }
    }

    let counts = Arc::new(FaultCounts::default());
    let mut sent_log: Vec<(u64, u32)> = Vec::with_capacity(n as usize);
    let n_p = n * 7 / 10;
    let phase_p_deadline = started + Duration::from_secs(seconds * 7 / 10);
    let p = phase(
        &a,
        &b,
        &topics,
        false,
        0,
        n_p,
        phase_p_deadline.min(deadline),
        seed,
        quick,
        rate,
        &mut sent_log,
        &counts,
    );
    let s = phase(
        &a,
        &b,
        &topics,
        true,
        p.sent,
        n - p.sent,
        deadline,
        seed.rotate_left(17),
        quick,
        rate,
        &mut sent_log,
        &counts,
    );
    let produce_secs = started.elapsed().as_secs_f64();

    // ---- producer verification ----
    let sent = p.sent + s.sent;
    let mut reports: HashMap<u64, Option<lnc::Error>> = HashMap::with_capacity(sent as usize);
    let mut double_reports = 0u64;
    for r in p.reports.iter().chain(&s.reports) {
        if reports.insert(r.opaque, r.error.clone()).is_some() {
            double_reports += 1;
        }
    }
    let unreported = sent_log.iter().filter(|(seq, _)| !reports.contains_key(seq)).count() as u64;
    let acked = reports.values().filter(|e| e.is_none()).count() as u64;
    let failed = reports.values().filter(|e| e.is_some()).count() as u64;
    let mut fail_causes: HashMap<String, u64> = HashMap::new();
    for e in reports.values().flatten() {
        *fail_causes.entry(e.code.name().to_string()).or_default() += 1;
    }
    let phase_s_first = p.sent;

    // Logs of both brokers.
    let mut present: HashMap<u64, u32> = HashMap::with_capacity(sent as usize); // seq → occurrences
    let mut order_violations = [0u64; 2]; // [phase P records, phase S records]
    let mut logs: HashMap<(usize, u32), Vec<(u64, u64)>> = HashMap::new();
    let mut stored_total = 0u64;
    for (bi, m) in [&a, &b].iter().enumerate() {
        for &t in &topics {
            let log = m.topic_log(t).unwrap();
            let recs = decode_all(&log, true).expect("every log is a clean TLV stream");
            let mut seen = std::collections::HashSet::new();
            let mut last_first: Option<u64> = None;
            let mut list = Vec::with_capacity(recs.len());
            for r in &recs {
                let (tt, seq) = parse(&r.value);
                assert_eq!(tt, t, "record in the wrong topic");
                list.push((r.offset, seq));
                stored_total += 1;
                *present.entry(seq).or_default() += 1;
                if seen.insert(seq) {
                    if let Some(l) = last_first {
                        if seq < l {
                            order_violations[usize::from(seq >= phase_s_first)] += 1;
                        }
                    }
                    last_first = Some(last_first.map_or(seq, |l| l.max(seq)));
                }
            }
            logs.insert((bi, t), list);
        }
    }
    let duplicates = stored_total - present.len() as u64;
    let lost: Vec<u64> =
        reports.iter().filter(|(_, e)| e.is_none()).map(|(s, _)| *s).filter(|s| !present.contains_key(s)).collect();
    let rejected_stored = sent_log.iter().filter(|(s, t)| *t == UNKNOWN_TOPIC && present.contains_key(s)).count();

    // ---- consumer verification ----
    for (bi, t, r) in &readers {
        let end = if *bi == 0 { &a } else { &b }.topic_log(*t).unwrap().len() as u64;
        r.end.store(end, Ordering::Release);
    }
    let mut consumed = 0u64;
    let mut consumer_mismatch = 0u64;
    let mut consumer_errors: HashMap<String, u64> = HashMap::new();
    let mut consumer_fatal = Vec::new();
    for (bi, t, r) in readers {
        let res = r.handle.join().expect("reader thread");
        consumed += res.records.len() as u64;
        let want = &logs[&(bi, t)];
        if &res.records != want {
            consumer_mismatch += 1;
            let first_diff = res.records.iter().zip(want).position(|(x, y)| x != y);
            consumer_fatal.push(format!(
                "broker {} topic {t}: consumed {} records, log has {} (first difference at index {first_diff:?})",
                ["A", "B"][bi],
                res.records.len(),
                want.len()
            ));
        }
        for (k, v) in res.errors {
            *consumer_errors.entry(k).or_default() += v;
        }
        consumer_fatal.extend(res.fatal.into_iter().map(|f| format!("broker {} topic {t}: {f}", ["A", "B"][bi])));
    }
    let stats = (a.stats(), b.stats());

    // ---- report ----
    let max_close = p.close.max(s.close);
    println!();
    println!("=== soak report (seed {seed}) ===");
    println!("records sent (accepted by send)      {sent:>10}   (phase P {}, phase S {})", p.sent, s.sent);
    println!("acked                                {acked:>10}");
    println!("failed with report                   {failed:>10}   {fail_causes:?} (records to the unknown topic {UNKNOWN_TOPIC})");
    println!("unreported (sent - reports)          {unreported:>10}   must be 0 (double reports: {double_reports})");
    println!("lost (acked, in neither log)         {:>10}   must be 0", lost.len());
    println!("duplicates (stored copies beyond 1)  {duplicates:>10}   at-least-once; producer metrics: possible duplicates {}, records retried {}", p.possible_dups + s.possible_dups, p.retried + s.retried);
    let possible_dups = p.possible_dups + s.possible_dups;
    println!(
        "duplicates <= possible duplicates    {:>10}   every stored extra copy was counted by the producer",
        if duplicates <= possible_dups { "yes" } else { "NO" }
    );
    println!(
        "order violations                     {:>10}   phase P {} + phase S {}; must be 0",
        order_violations[0] + order_violations[1],
        order_violations[0],
        order_violations[1]
    );
    println!("rejected records found stored        {rejected_stored:>10}   must be 0");
    println!("max close() time                     {max_close:>10.1?}");
    println!("producer connects                    {:>10}", p.connects + s.connects);
    println!(
        "records in logs A+B                  {stored_total:>10}   (A {}, B {})",
        logs.iter().filter(|((bi, _), _)| *bi == 0).map(|(_, l)| l.len()).sum::<usize>(),
        logs.iter().filter(|((bi, _), _)| *bi == 1).map(|(_, l)| l.len()).sum::<usize>()
    );
    println!(
        "consumed (6 consumers, A and B)      {consumed:>10}   mismatches vs log: {consumer_mismatch} (must be 0)"
    );
    println!("consumer errors returned by poll     {consumer_errors:?}");
    let mut fc: Vec<(&'static str, u64)> = counts.counts.lock().unwrap().iter().map(|(k, v)| (*k, *v)).collect();
    fc.sort();
    println!("faults injected                      {fc:?}");
    println!("ingest frames received A/B            {}/{}", stats.0.ingests_received, stats.1.ingests_received);
    println!(
        "mock restarts A/B                    {}/{}; acks dropped A/B {}/{}",
        stats.0.restarts, stats.1.restarts, stats.0.acks_dropped, stats.1.acks_dropped
    );
    println!(
        "time                                 produce {produce_secs:.1} s, total {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for f in &consumer_fatal {
        println!("consumer problem: {f}");
    }
    if !lost.is_empty() {
        println!("first lost: {:?}", &lost[..lost.len().min(10)]);
    }
    let ok = unreported == 0
        && double_reports == 0
        && lost.is_empty()
        && order_violations == [0, 0]
        && rejected_stored == 0
        && consumer_mismatch == 0
        && consumer_fatal.is_empty()
        && acked + failed == sent
        && duplicates <= possible_dups
        && max_close < Duration::from_secs(10);
    println!("RESULT: {}", if ok { "PASS" } else { "FAIL" });
    std::process::exit(if ok { 0 } else { 1 });
}
