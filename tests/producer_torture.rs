//! Concurrency torture for the producer: every pair of public calls raced from several threads
//! against one handle, under mock faults. It checks the promises of design.md §10:
//! - exactly one report per accepted record, none for a refused one;
//! - every call returns within its timeout plus a slack (a hang detector, not a speed test);
//! - `close` is not blocked by other threads and wakes every waiter.
//!
//! Bounded to well under a minute. `LNC_TORTURE_ROUNDS` scales the closing-race runs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "support/broker.rs"]
mod broker;
use broker::{config, mock};
use lnc::{DeliveryReport, ErrorCode, Message, Producer};

/// Extra time any call may take past its own timeout before it counts as a hang.
const SLACK: Duration = Duration::from_secs(2);

/// Runs `f`, failing the test if it takes longer than `limit` + [`SLACK`].
fn timed<T>(what: &str, limit: Duration, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let v = f();
    let took = start.elapsed();
    assert!(took <= limit + SLACK, "{what} took {took:?} (its timeout is {limit:?})");
    v
}

/// Reports seen, by opaque.
#[derive(Default)]
struct Ledger {
    accepted: Mutex<Vec<u64>>,
    reports: Mutex<HashMap<u64, usize>>,
}

impl Ledger {
    fn accept(&self, opaques: impl IntoIterator<Item = u64>) {
        self.accepted.lock().unwrap().extend(opaques);
    }

    fn record(&self, reports: &[DeliveryReport]) {
        let mut r = self.reports.lock().unwrap();
        for rep in reports {
            *r.entry(rep.opaque).or_default() += 1;
        }
    }

    /// Every accepted record got exactly one report and nothing else got one.
    fn check(&self, what: &str) {
        let accepted = self.accepted.lock().unwrap();
        let reports = self.reports.lock().unwrap();
        let missing: Vec<u64> = accepted.iter().copied().filter(|o| !reports.contains_key(o)).take(5).collect();
        let doubled: Vec<(u64, usize)> =
            reports.iter().filter(|(_, n)| **n > 1).map(|(o, n)| (*o, *n)).take(5).collect();
        let unknown = reports.len() - accepted.iter().filter(|o| reports.contains_key(o)).count();
        assert!(
            missing.is_empty() && doubled.is_empty() && unknown == 0,
            "{what}: {} accepted, {} reported; without a report (first 5): {missing:?}; reported more than once: \
             {doubled:?}; reports for records never accepted: {unknown}",
            accepted.len(),
            reports.len()
        );
    }
}

/// Issue 14, reproduction 1: four threads send into a 4 KiB buffer while the main thread closes
/// with a 0–2 ms timeout. Every record whose send returned OK must get exactly one report.
#[test]
fn closing_under_concurrent_sends_reports_every_accepted_record_exactly_once() {
    let rounds: usize = std::env::var("LNC_TORTURE_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let m = mock(1);
    let topic = m.create_topic("close-race").unwrap();
    let mut accepted_total = 0;
    for round in 0..rounds {
        let p = Arc::new(
            Producer::new(&config(
                &m,
                &[("buffer.memory", "4096"), ("send.block", "true"), ("linger.ms", "0"), ("batch.size", "1024")],
            ))
            .unwrap(),
        );
        let ledger = Arc::new(Ledger::default());
        let senders: Vec<_> = (0..4u64)
            .map(|t| {
                let (p, ledger) = (p.clone(), ledger.clone());
                std::thread::spawn(move || {
                    for i in 0.. {
                        // Never 0: opaque 0 without a callback is fire-and-forget (DELIVERY_FAILED at close).
                        let opaque = ((t + 1) << 32) | i;
                        match timed("send", Duration::from_secs(60), || {
                            p.send(topic, &Message::raw(&[7u8; 100]), opaque)
                        }) {
                            Ok(()) => ledger.accept([opaque]),
                            Err(e) => {
                                assert_eq!(e.code, ErrorCode::Closed, "{e}");
                                return;
                            }
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_micros(200 * (round as u64 % 10)));
        let close_timeout = Duration::from_millis(round as u64 % 3);
        timed("close", close_timeout, || p.close(close_timeout).unwrap());
        for s in senders {
            s.join().unwrap();
        }
        ledger.record(&p.poll_reports(usize::MAX, Duration::ZERO));
        assert!(p.poll_reports(usize::MAX, Duration::ZERO).is_empty());
        ledger.check(&format!("round {round}"));
        accepted_total += ledger.accepted.lock().unwrap().len();
    }
    println!("{rounds} closing races, {accepted_total} records accepted, each reported exactly once");
}

/// Issue 14, reproduction 2, extended to every kind of waiter: close(500 ms) returns in well
/// under a second while other threads wait in poll, flush, a blocked send and send_sync, and all
/// of them wake.
#[test]
fn close_is_not_blocked_by_waiters_and_wakes_them_all() {
    let m = mock(1);
    let topic = m.create_topic("waiters").unwrap();
    m.stall_reading(true); // nothing gets acknowledged: flush and send_sync wait for real
    let ledger = Arc::new(Ledger::default());
    let l2 = ledger.clone();
    let p = Arc::new(
        Producer::with_callback(
            &config(&m, &[("buffer.memory", "8192"), ("send.timeout.ms", "30000"), ("linger.ms", "0")]),
            move |r| l2.record(std::slice::from_ref(r)),
        )
        .unwrap(),
    );
    // Fill the buffer so one more send blocks.
    let mut i = 1u64;
    while p.send(topic, &Message::raw(&[1u8; 500]), i).is_ok() {
        ledger.accept([i]);
        i += 1;
        if i > 100 {
            break;
        }
    }
    let long = Duration::from_secs(30);
    let waiters: Vec<std::thread::JoinHandle<Duration>> = vec![
        {
            let p = p.clone();
            std::thread::spawn(move || {
                let s = Instant::now();
                let _ = p.poll(long);
                s.elapsed()
            })
        },
        {
            let p = p.clone();
            std::thread::spawn(move || {
                let s = Instant::now();
                let _ = p.flush(long);
                s.elapsed()
            })
        },
        {
            let (p, ledger) = (p.clone(), ledger.clone());
            std::thread::spawn(move || {
                let s = Instant::now();
                let big = vec![2u8; 4000];
                match p.send(topic, &Message::raw(&big), 1_000_000) {
                    Ok(()) => ledger.accept([1_000_000]),
                    Err(e) => assert_eq!(e.code, ErrorCode::Closed, "{e}"),
                }
                s.elapsed()
            })
        },
        {
            let p = p.clone();
            std::thread::spawn(move || {
                let s = Instant::now();
                let _ = p.send_sync(topic, &Message::raw(b"sync"), long);
                s.elapsed()
            })
        },
    ];
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    p.close(Duration::from_millis(500)).unwrap();
    let close_took = start.elapsed();
    assert!(close_took < Duration::from_secs(1), "close(500 ms) took {close_took:?}");
    for (k, w) in waiters.into_iter().enumerate() {
        let took = w.join().unwrap();
        assert!(took < Duration::from_secs(2), "waiter {k} woke after {took:?}");
    }
    ledger.record(&p.poll_reports(usize::MAX, Duration::ZERO));
    ledger.check("waiters");
    assert!(ledger.reports.lock().unwrap().keys().all(|o| *o != 0), "send_sync's report went to the queue");
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Send,
    SendBatch,
    SendSync,
    Poll,
    PollReports,
    Flush,
    Purge,
    Close,
    Drop,
    Metrics,
}

const OPS: [Op; 10] = [
    Op::Send,
    Op::SendBatch,
    Op::SendSync,
    Op::Poll,
    Op::PollReports,
    Op::Flush,
    Op::Purge,
    Op::Close,
    Op::Drop,
    Op::Metrics,
];

/// One call of `op`, timed against its own timeout.
fn call(op: Op, p: &Arc<Producer>, topic: u32, next: &AtomicU64, ledger: &Ledger) {
    let t = Duration::from_millis(50);
    match op {
        Op::Send => {
            let o = next.fetch_add(1, Ordering::Relaxed);
            if timed("send", Duration::from_millis(200), || p.send(topic, &Message::raw(&o.to_le_bytes()), o)).is_ok() {
                ledger.accept([o]);
            }
        }
        Op::SendBatch => {
            let o = next.fetch_add(3, Ordering::Relaxed);
            let msgs = [Message::raw(b"a"), Message::raw(b"bb"), Message::raw(b"ccc")];
            if timed("send_batch", Duration::from_millis(200), || p.send_batch(topic, &msgs, o)).is_ok() {
                ledger.accept([o, o + 1, o + 2]);
            }
        }
        Op::SendSync => {
            // Counted in `next` (the metrics check below) but never in the ledger: its report
            // goes to the call, not to the queue.
            next.fetch_add(1, Ordering::Relaxed);
            let _ = timed("send_sync", Duration::from_millis(200), || {
                p.send_sync(topic, &Message::raw(b"s"), Duration::from_millis(200))
            });
        }
        Op::Poll => {
            let _ = timed("poll", t, || p.poll(t));
        }
        Op::PollReports => ledger.record(&timed("poll_reports", t, || p.poll_reports(64, t))),
        Op::Flush => {
            let _ = timed("flush", t, || p.flush(t));
        }
        Op::Purge => {
            timed("purge", Duration::ZERO, || p.purge());
        }
        Op::Close => timed("close", Duration::from_millis(300), || match p.close(Duration::from_millis(300)) {
            // A concurrent close waits for the first one up to its own timeout only.
            Err(e) if e.code == ErrorCode::TimedOut && e.message.contains("another thread's close") => {}
            // Closed; fire-and-forget failures (opaque 0) are told here.
            Err(e) if e.code == ErrorCode::DeliveryFailed => {}
            r => r.unwrap(),
        }),
        Op::Drop => {
            // Rust cannot free a handle another thread uses; the last reference's drop closes.
            let q = p.clone();
            timed("drop", Duration::from_secs(5), || drop(q));
        }
        Op::Metrics => {
            let m = timed("metrics", Duration::ZERO, || p.metrics());
            assert!(m.records_acked + m.records_failed <= next.load(Ordering::Relaxed));
        }
    }
}

/// Every pair of public calls, from two threads each, on one producer, under disconnects and
/// FORWARD_FAILED; then every accepted record must have exactly one report.
#[test]
fn every_pair_of_calls_races_without_loss_or_hang() {
    let m = Arc::new(mock(1));
    let topic = m.create_topic("pairs").unwrap();
    let stop_faults = Arc::new(AtomicBool::new(false));
    let faults = {
        let (m, stop) = (m.clone(), stop_faults.clone());
        std::thread::spawn(move || {
            let mut k = 0u64;
            while !stop.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(7));
                k += 1;
                match k % 3 {
                    0 => m.disconnect_all(),
                    1 => m.fail_next_ingests(1, "FORWARD_FAILED: Forward operation timed out", k % 2 == 0),
                    _ => m.drop_after_frames(5),
                }
            }
        })
    };
    let started = Instant::now();
    let mut pairs = 0;
    for (i, a) in OPS.iter().enumerate() {
        for b in &OPS[i..] {
            let ledger = Arc::new(Ledger::default());
            let l2 = ledger.clone();
            let p = Arc::new(
                Producer::with_callback(
                    &config(
                        &m,
                        &[
                            ("linger.ms", "1"),
                            ("batch.size", "256"),
                            ("buffer.memory", "65536"),
                            ("send.timeout.ms", "100"),
                            ("request.timeout.ms", "500"),
                            ("reconnect.backoff.ms", "2"),
                            ("reconnect.backoff.max.ms", "20"),
                            ("retry.backoff.ms", "1"),
                            ("max.in.flight", "4"),
                        ],
                    ),
                    move |r| l2.record(std::slice::from_ref(r)),
                )
                .unwrap(),
            );
            let next = Arc::new(AtomicU64::new(1));
            let until = Instant::now() + Duration::from_millis(120);
            let threads: Vec<_> = [*a, *a, *b, *b, Op::Send]
                .into_iter()
                .map(|op| {
                    let (p, next, ledger) = (p.clone(), next.clone(), ledger.clone());
                    std::thread::spawn(move || {
                        while Instant::now() < until {
                            call(op, &p, topic, &next, &ledger);
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap_or_else(|_| panic!("a thread racing {a:?} with {b:?} panicked"));
            }
            timed("final close", Duration::from_secs(3), || p.close(Duration::from_secs(3)).unwrap());
            ledger.record(&p.poll_reports(usize::MAX, Duration::ZERO));
            assert_eq!(p.outstanding(), 0, "{a:?} x {b:?}: records without a served report after close");
            ledger.check(&format!("{a:?} x {b:?}"));
            pairs += 1;
        }
    }
    stop_faults.store(true, Ordering::Release);
    faults.join().unwrap();
    println!("{pairs} pairs raced in {:?}", started.elapsed());
}

/// Length of the longest strictly decreasing subsequence: by Mirsky's theorem, the least number
/// of in-order (non-decreasing) subsequences that the sequence can be split into.
fn in_order_streams(seq: &[u64]) -> usize {
    // tails[k] = largest possible last element of a strictly decreasing subsequence of length k+1.
    let mut tails: Vec<u64> = Vec::new();
    for &x in seq {
        // Decreasing in x is increasing in !x.
        let y = !x;
        let at = tails.partition_point(|&t| t < y);
        if at == tails.len() {
            tails.push(y);
        } else {
            tails[at] = y;
        }
    }
    tails.len().max(1)
}

#[test]
fn in_order_streams_counts_what_it_should() {
    assert_eq!(in_order_streams(&[1, 2, 3, 3, 4]), 1);
    assert_eq!(in_order_streams(&[1, 2, 5, 3, 4, 5, 6]), 2, "one resend after a reset");
    assert_eq!(in_order_streams(&[5, 3, 6, 4, 7]), 2, "an old connection's tail interleaved with the new one");
    assert_eq!(in_order_streams(&[3, 2, 1]), 3);
}

/// The ordering promise of `lnc::producer`, exactly: the topic's log is the merge of at most
/// (resets + 1) streams, each in send order, and nothing acknowledged is missing.
#[test]
fn the_log_is_in_send_order_between_resets() {
    let m = Arc::new(mock(0));
    let topic = m.create_topic("order").unwrap();
    let p = Producer::new(&config(
        &m,
        &[
            ("linger.ms", "1"),
            ("batch.size", "2048"),
            ("max.in.flight", "8"),
            ("reconnect.backoff.ms", "2"),
            ("retry.backoff.ms", "1"),
            ("request.timeout.ms", "500"),
        ],
    ))
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let faults = {
        let (m, stop) = (m.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut k = 0u64;
            while !stop.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(15));
                k += 1;
                match k % 4 {
                    0 => m.disconnect_all(),
                    1 => m.fail_next_ingests(1, "FORWARD_FAILED: Leader not ready (apply/metadata catch-up)", false),
                    2 => m.fail_next_ingests(1, "FORWARD_FAILED: Forward operation timed out", true),
                    _ => m.drop_after_frames(3),
                }
            }
        })
    };
    let n = 60_000u64;
    for i in 0..n {
        p.send(topic, &Message::raw(&i.to_le_bytes()), i).unwrap();
        if i % 5000 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    assert_eq!(p.flush(Duration::from_secs(60)).unwrap(), 0);
    stop.store(true, Ordering::Release);
    faults.join().unwrap();
    let reports = p.poll_reports(usize::MAX, Duration::ZERO);
    let met = p.metrics();
    p.close(Duration::from_secs(5)).unwrap();
    let acked: Vec<u64> = reports.iter().filter(|r| r.error.is_none()).map(|r| r.opaque).collect();
    assert_eq!(acked.len() as u64, n, "every record acknowledged (faults are all retryable)");
    let log = m.topic_log(topic).unwrap();
    let seq: Vec<u64> = lnc::wire::tlv::decode_all(&log, true)
        .unwrap()
        .iter()
        .map(|r| u64::from_le_bytes(r.data().try_into().unwrap()))
        .collect();
    let present: std::collections::HashSet<u64> = seq.iter().copied().collect();
    assert!(acked.iter().all(|o| present.contains(o)), "an acknowledged record is missing from the log");
    let streams = in_order_streams(&seq);
    let duplicates = seq.len() as u64 - n;
    println!(
        "{} records stored for {n} sent: {duplicates} duplicates (counted possible: {}), {} resets, {streams} in-order streams",
        seq.len(),
        met.possible_duplicates,
        met.disconnects
    );
    assert!(met.disconnects > 0, "faults caused resets");
    assert!(duplicates <= met.possible_duplicates, "more duplicates than counted");
    assert!(streams as u64 <= met.disconnects + 1, "{streams} in-order streams but only {} resets", met.disconnects);
}
