//! Model checks of the producer's synchronisation core (`core.rs`) with shuttle.
//!
//! Built only with `RUSTFLAGS="--cfg lnc_shuttle"` (see `scripts/model-check.sh`), where the
//! core's lock and condition variables are shuttle's (`crate::sync`). Each test runs a small
//! scenario of 3 to 6 threads against the real [`Shared`] core, without sockets, under shuttle's
//! random scheduler and its PCT scheduler, thousands of schedules each. Shuttle fails a test on a
//! panic (a broken assertion), on a deadlock (every thread blocked: a lost wakeup) and on a
//! schedule longer than its step bound (a thread spinning for ever).
//!
//! The threads stand for the library's and the application's: `send` is [`Shared::accept`],
//! `poll_reports` and `poll` are [`Shared::serve`], the lane's sender thread is [`sender`] (what
//! `sender::run` does to the core, with every batch acknowledged at once instead of written to a
//! socket) and `Producer::close` is [`close`] (the same calls in the same order).
//!
//! Waits with a deadline [`far`] away never time out in the model, so these scenarios check that
//! every wait is ended by a notification. Waits with a deadline [`soon`] may time out at any
//! point (see `crate::sync`).
//!
//! `LNC_MODEL_ITERATIONS` sets the schedules per scheduler and test (default [`ITERATIONS`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shuttle::scheduler::{PctScheduler, RandomScheduler};
use shuttle::thread::{self, JoinHandle};

use super::core::{DeliveryCallback, Shared};
use super::lifecycle::Phase;
use super::memory::REPORT_COST;
use super::message::Message;
use super::reports::DeliveryReport;
use super::sender::fail_lane;
use super::settings::Settings;
use crate::config::Config;
use crate::error::{Error, ErrorCode};
use crate::net::NetConfig;

/// Schedules per scheduler and test unless `LNC_MODEL_ITERATIONS` says otherwise.
const ITERATIONS: usize = 2000;

/// Scheduling steps after which an execution counts as spinning for ever.
const MAX_STEPS: usize = 20_000;

/// The record every scenario sends (one byte of value).
fn record() -> Message<'static> {
    Message::raw(b"r")
}

/// Buffer memory one record is charged while buffered or in flight.
fn charge() -> usize {
    record().encoded_len().expect("valid record") + REPORT_COST
}

/// A timeout that never passes in the model (well past `crate::sync`'s threshold, so a deadline
/// computed from it is still unbounded when a wait on it starts).
const NEVER: Duration = Duration::from_secs(24 * 3600);

/// A deadline that never passes in the model.
fn far() -> Instant {
    Instant::now() + NEVER
}

/// A deadline that may pass at any scheduling point of a wait on it.
fn soon() -> Instant {
    Instant::now() + Duration::from_millis(1)
}

fn iterations() -> usize {
    std::env::var("LNC_MODEL_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(ITERATIONS)
}

/// Runs `scenario` under the random scheduler, then under PCT (depth 3).
fn check(scenario: fn()) {
    let mut config = shuttle::Config::new();
    config.stack_size = 1 << 18;
    config.max_steps = shuttle::MaxSteps::FailAfter(MAX_STEPS);
    let n = iterations();
    shuttle::Runner::new(RandomScheduler::new(n), config.clone()).run(scenario);
    shuttle::Runner::new(PctScheduler::new(3, n), config).run(scenario);
}

/// A producer core with one lane: linger 0, batches of two records, `records` records' worth of
/// buffer memory, `send.timeout.ms` = `send_timeout`.
fn shared(records: usize, send_timeout: Duration, callback: Option<DeliveryCallback>) -> Arc<Shared> {
    let config = Config::new();
    let mut settings = Settings::from_config(&config);
    settings.lanes = 1;
    settings.linger = Duration::ZERO;
    settings.batch_size = 2 * record().encoded_len().expect("valid record");
    settings.buffer_memory = records * charge();
    settings.send_block = true;
    settings.send_timeout = send_timeout;
    settings.delivery_timeout = NEVER;
    Arc::new(
        Shared::new(settings, NetConfig::from_config(&config).expect("net config"), callback, &config)
            .expect("eventfd"),
    )
}

/// The lane's sender thread as far as the core sees it: seals and takes the ready batches and
/// completes each as acknowledged; on abort (close) or a fatal error it fails what the lane
/// still holds (the real `fail_lane`) and exits; without either it exits once `stop` is set.
fn sender(s: Arc<Shared>, stop: Arc<AtomicBool>) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut batch_id = 0;
        loop {
            s.seal_due(0, Instant::now(), super::accumulator::WindowLoad::Idle);
            if s.abort.load(SeqCst) || s.fatal().is_some() {
                fail_lane(&s, 0);
                return;
            }
            while let Some(b) = s.pop_ready(0) {
                batch_id += 1;
                s.complete(b, batch_id, None);
            }
            if stop.load(SeqCst) {
                return;
            }
            thread::yield_now();
        }
    })
}

/// The sender threads, joined by whichever `close` runs first.
type Threads = Arc<shuttle::sync::Mutex<Vec<JoinHandle<()>>>>;

/// `Producer::close` (handle.rs runs the same `Shared::close`). True if closed by the deadline.
fn close(s: &Shared, threads: &Threads, deadline: Instant) -> bool {
    s.close(deadline, || {
        let joined: Vec<JoinHandle<()>> = threads.lock().expect("threads").drain(..).collect();
        for t in joined {
            t.join().expect("sender thread");
        }
    })
}

/// Sends each group of opaques with one `send_batch`; returns (accepted, refused with why).
fn send_groups(s: &Shared, groups: &[&[u64]]) -> (Vec<u64>, Vec<(u64, Error)>) {
    let (mut ok, mut refused) = (Vec::new(), Vec::new());
    for g in groups {
        let msgs = vec![record(); g.len()];
        match s.accept(1, &msgs, g, None, &Default::default()) {
            Ok(()) => ok.extend_from_slice(g),
            Err(e) => refused.extend(g.iter().map(|o| (*o, e.clone()))),
        }
    }
    (ok, refused)
}

/// Takes every report left (as `poll_reports` after `close` does).
fn drain_reports(s: &Shared) -> Vec<DeliveryReport> {
    let mut out = Vec::new();
    let past = Instant::now();
    s.serve(past, past, usize::MAX, Some(&mut out));
    out
}

/// Polls reports into a vector until the producer is closed and none is left.
fn poll_until_closed(s: &Shared) -> Vec<DeliveryReport> {
    let mut out = Vec::new();
    while s.serve(far(), far(), usize::MAX, Some(&mut out)) > 0 {}
    assert_eq!(s.phase(), Phase::Closed, "serve with a far deadline returned nothing before close");
    out
}

/// Every accepted record has exactly one report, and nothing else has one.
fn assert_exactly_once(accepted: &[u64], reports: &[DeliveryReport]) {
    let mut count = BTreeMap::<u64, usize>::new();
    for r in reports {
        *count.entry(r.opaque).or_default() += 1;
    }
    for o in accepted {
        assert_eq!(count.remove(o), Some(1), "accepted record {o} must have exactly one report: {reports:?}");
    }
    assert!(count.is_empty(), "reports of records never accepted: {count:?}");
}

/// Nothing is outstanding and no buffer memory is charged.
fn assert_settled(s: &Shared) {
    assert_eq!(s.gauges(), (0, 0), "(records without a served report, bytes charged) at the end");
}

fn join<T>(t: JoinHandle<T>) -> T {
    t.join().expect("model thread")
}

/// `send` racing two `close`s: every accepted record gets exactly one report, a refused one
/// none; a send blocked on memory is refused when the close starts; the second close waits for
/// the first; memory returns to 0.
fn accept_racing_close() {
    let s = shared(3, NEVER, None);
    let threads: Threads = Arc::new(shuttle::sync::Mutex::new(vec![sender(s.clone(), Arc::default())]));
    let app = {
        let s = s.clone();
        // 1 and [2, 3] fill the buffer; 4 waits for memory that only close ends.
        thread::spawn(move || send_groups(&s, &[&[1], &[2, 3], &[4]]))
    };
    let closers: Vec<_> = (0..2)
        .map(|_| {
            let (s, t) = (s.clone(), threads.clone());
            thread::spawn(move || close(&s, &t, far()))
        })
        .collect();
    let (accepted, refused) = join(app);
    for c in closers {
        assert!(join(c), "close with a far deadline gave up");
    }
    for (o, e) in &refused {
        assert_eq!(e.code, ErrorCode::Closed, "record {o}: {e}");
    }
    assert!(!accepted.contains(&4), "record 4 cannot fit beside three unserved reports");
    let reports = drain_reports(&s);
    assert_exactly_once(&accepted, &reports);
    assert_settled(&s);
}

/// A send blocked on buffer memory is woken by reports being served (unserved reports hold
/// memory): with room for one record, three sends all succeed while a poller takes reports.
fn blocked_send_woken_by_served_reports() {
    let s = shared(1, NEVER, None);
    let stop = Arc::new(AtomicBool::new(false));
    let lane = sender(s.clone(), stop.clone());
    let app = {
        let s = s.clone();
        thread::spawn(move || send_groups(&s, &[&[1], &[2], &[3]]))
    };
    let poller = {
        let s = s.clone();
        thread::spawn(move || {
            let mut out = Vec::new();
            while out.len() < 3 {
                s.serve(far(), far(), usize::MAX, Some(&mut out));
            }
            out
        })
    };
    let (accepted, refused) = join(app);
    let reports = join(poller);
    stop.store(true, SeqCst);
    join(lane);
    assert!(refused.is_empty(), "{refused:?}");
    assert!(reports.iter().all(|r| r.error.is_none()), "{reports:?}");
    assert_exactly_once(&accepted, &reports);
    assert_settled(&s);
}

/// A send blocked on buffer memory that nothing will free is woken by close and refused with
/// CLOSED.
fn blocked_send_woken_by_close() {
    let s = shared(1, NEVER, None);
    let threads: Threads = Arc::new(shuttle::sync::Mutex::new(vec![sender(s.clone(), Arc::default())]));
    let app = {
        let s = s.clone();
        thread::spawn(move || send_groups(&s, &[&[1], &[2]]))
    };
    let closer = {
        let (s, t) = (s.clone(), threads.clone());
        thread::spawn(move || close(&s, &t, far()))
    };
    let (accepted, refused) = join(app);
    assert!(join(closer));
    // 1's report is never served before the end, so 2 can never fit.
    assert!(!accepted.contains(&2), "record 2 cannot fit beside record 1's unserved report");
    assert!(refused.iter().all(|(_, e)| e.code == ErrorCode::Closed), "{refused:?}");
    assert_exactly_once(&accepted, &drain_reports(&s));
    assert_settled(&s);
}

/// Two pollers (one serving a callback as `poll` does, one taking values as `poll_reports`
/// does) race settlement and close: both wake when the producer closes, every report is
/// delivered exactly once across them and close's own final serve, and two callbacks never run
/// at once.
fn serve_racing_settle_and_close() {
    let running = Arc::new(AtomicUsize::new(0));
    let overlapped = Arc::new(AtomicBool::new(false));
    let delivered = Arc::new(std::sync::Mutex::new(Vec::new()));
    let callback: DeliveryCallback = {
        let (running, overlapped, delivered) = (running.clone(), overlapped.clone(), delivered.clone());
        Box::new(move |r: &DeliveryReport| {
            if running.fetch_add(1, SeqCst) != 0 {
                overlapped.store(true, SeqCst);
            }
            // Let every other thread run while this callback runs.
            thread::yield_now();
            delivered.lock().expect("delivered").push(r.clone());
            running.fetch_sub(1, SeqCst);
        })
    };
    let s = shared(8, NEVER, Some(callback));
    let threads: Threads = Arc::new(shuttle::sync::Mutex::new(vec![sender(s.clone(), Arc::default())]));
    let app = {
        let s = s.clone();
        thread::spawn(move || send_groups(&s, &[&[1], &[2, 3], &[4]]))
    };
    let poll = {
        let s = s.clone();
        thread::spawn(move || while s.serve(far(), far(), usize::MAX, None) > 0 {})
    };
    let poll_reports = {
        let s = s.clone();
        thread::spawn(move || poll_until_closed(&s))
    };
    let closer = {
        let (s, t) = (s.clone(), threads.clone());
        thread::spawn(move || close(&s, &t, far()))
    };
    let (accepted, _) = join(app);
    assert!(join(closer));
    join(poll);
    let mut reports = join(poll_reports);
    assert!(!overlapped.load(SeqCst), "two delivery callbacks ran at once");
    reports.extend(delivered.lock().expect("delivered").drain(..));
    reports.extend(drain_reports(&s));
    assert_exactly_once(&accepted, &reports);
    assert_settled(&s);
}

/// A fatal error races sends (and close, if `with_close`): a send that starts after
/// `fail_fatal` returned is refused; a send blocked on memory wakes; every accepted record gets
/// exactly one report.
fn fatal_racing_accept(with_close: bool) {
    let s = shared(2, NEVER, None);
    let threads: Threads = Arc::new(shuttle::sync::Mutex::new(vec![sender(s.clone(), Arc::default())]));
    let failed = Arc::new(AtomicBool::new(false));
    let app = {
        let (s, failed) = (s.clone(), failed.clone());
        thread::spawn(move || {
            let mut after_failure = Vec::new();
            let mut results = (Vec::new(), Vec::new());
            for g in [&[1u64][..], &[2, 3], &[4]] {
                let failed_before = failed.load(SeqCst);
                let (ok, refused) = send_groups(&s, &[g]);
                if failed_before {
                    after_failure.extend_from_slice(&ok);
                }
                results.0.extend(ok);
                results.1.extend(refused);
            }
            (results, after_failure)
        })
    };
    let failer = {
        let (s, failed) = (s.clone(), failed.clone());
        thread::spawn(move || {
            s.fail_fatal(Error::new(ErrorCode::AuthFailed, "Invalid token"));
            failed.store(true, SeqCst);
        })
    };
    let closer = with_close.then(|| {
        let (s, t) = (s.clone(), threads.clone());
        thread::spawn(move || close(&s, &t, far()))
    });
    let ((accepted, refused), after_failure) = join(app);
    join(failer);
    if let Some(c) = closer {
        assert!(join(c));
    } else {
        let lane: Vec<_> = threads.lock().expect("threads").drain(..).collect();
        lane.into_iter().for_each(join);
    }
    assert!(after_failure.is_empty(), "accepted after fail_fatal returned: {after_failure:?}");
    for (o, e) in &refused {
        assert!(matches!(e.code, ErrorCode::AuthFailed | ErrorCode::Closed), "record {o}: {e}");
    }
    let reports = drain_reports(&s);
    for r in &reports {
        let code = r.error.as_ref().map(|e| e.code);
        assert!(matches!(code, None | Some(ErrorCode::AuthFailed | ErrorCode::Purged)), "{r:?}");
    }
    assert_exactly_once(&accepted, &reports);
    assert_settled(&s);
}

/// Waits with short deadlines end by notification or by timeout, whichever comes: a send with a
/// 1 ms `send.timeout.ms` on a full buffer fails with QUEUE_FULL unless a poller's (1 ms) serve
/// freed memory in time; `flush` with a 1 ms deadline returns; the accounting still balances.
fn short_timeouts_end_every_wait() {
    let s = shared(1, Duration::from_millis(1), None);
    let stop = Arc::new(AtomicBool::new(false));
    let lane = sender(s.clone(), stop.clone());
    let app = {
        let s = s.clone();
        thread::spawn(move || {
            let r = send_groups(&s, &[&[1], &[2]]);
            s.flush(soon());
            r
        })
    };
    let poller = {
        let s = s.clone();
        thread::spawn(move || {
            let mut out = Vec::new();
            s.serve(soon(), soon(), usize::MAX, Some(&mut out));
            out
        })
    };
    let (accepted, refused) = join(app);
    let mut reports = join(poller);
    for (o, e) in &refused {
        assert_eq!(e.code, ErrorCode::QueueFull, "record {o}: {e}");
    }
    // What is left is flushed and served without any deadline, then the sender stops.
    assert_eq!(s.flush(far()), 0);
    reports.extend(drain_reports(&s));
    stop.store(true, SeqCst);
    join(lane);
    assert_exactly_once(&accepted, &reports);
    assert_settled(&s);
}

#[test]
fn model_accept_racing_close() {
    check(accept_racing_close);
}

#[test]
fn model_blocked_send_woken_by_served_reports() {
    check(blocked_send_woken_by_served_reports);
}

#[test]
fn model_blocked_send_woken_by_close() {
    check(blocked_send_woken_by_close);
}

#[test]
fn model_serve_racing_settle_and_close() {
    check(serve_racing_settle_and_close);
}

#[test]
fn model_fatal_racing_accept_and_close() {
    check(|| fatal_racing_accept(true));
}

#[test]
fn model_fatal_racing_accept_without_close() {
    check(|| fatal_racing_accept(false));
}

#[test]
fn model_short_timeouts_end_every_wait() {
    check(short_timeouts_end_every_wait);
}
