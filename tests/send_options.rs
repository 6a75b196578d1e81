//! The calls that let bindings stop re-implementing logic (issue #15): per-call space waits and
//! cancellation, topic names resolved in the core, fire-and-forget failures surfaced by
//! flush/close, per-call consumer timeouts, polls bounded by a caller's buffer, retention 0.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lnc::mock::{MockBroker, MockConfig};
use lnc::{Admin, Cancel, Config, ErrorCode, Message, Producer, Retention, SendOptions, StandaloneConsumer};

/// Hang detector for calls given a short budget: generous, never a performance assertion.
const SLACK: Duration = Duration::from_secs(20);

fn mock() -> MockBroker {
    MockBroker::start(MockConfig { ack_delay: Duration::ZERO, ..MockConfig::default() }).unwrap()
}

fn config(m: &MockBroker, extra: &[(&str, &str)]) -> Config {
    let mut c = Config::new();
    c.set("bootstrap.servers", &m.address_string()).unwrap();
    for (k, v) in extra {
        c.set(k, v).unwrap();
    }
    c
}

/// A producer whose buffer is full: the mock stops reading, so nothing is acknowledged.
fn full_producer(m: &MockBroker, topic: u32) -> Producer {
    let p = Producer::new(&config(
        m,
        &[("buffer.memory", "4096"), ("linger.ms", "0"), ("batch.size", "1024"), ("send.timeout.ms", "60000")],
    ))
    .unwrap();
    m.stall_reading(true);
    let v = [7u8; 200];
    let quick = SendOptions { timeout: Some(Duration::ZERO), cancel: None };
    while p.send_with(topic, &[Message::raw(&v)], &[1], &quick).is_ok() {}
    p
}

#[test]
fn zero_and_short_space_waits_fail_with_queue_full_without_accepting() {
    let m = mock();
    let t = m.create_topic("full").unwrap();
    let p = full_producer(&m, t);
    let before = p.outstanding();
    let v = [1u8; 200];
    let e = p.send_with(t, &[Message::raw(&v)], &[2], &SendOptions { timeout: Some(Duration::ZERO), cancel: None });
    assert_eq!(e.unwrap_err().code, ErrorCode::QueueFull);
    let t0 = Instant::now();
    let opts = SendOptions { timeout: Some(Duration::from_millis(50)), cancel: None };
    let e = p.send_with(t, &[Message::raw(&v)], &[3], &opts);
    assert_eq!(e.unwrap_err().code, ErrorCode::QueueFull);
    assert!(t0.elapsed() >= Duration::from_millis(50), "it waited its own timeout");
    assert!(t0.elapsed() < SLACK);
    assert_eq!(p.outstanding(), before, "a refused send is not accepted");
    m.stall_reading(false);
    p.close(Duration::from_secs(10)).unwrap();
}

#[test]
fn a_fired_token_ends_a_blocked_send_and_refuses_later_ones() {
    let m = mock();
    let t = m.create_topic("cancel").unwrap();
    let p = Arc::new(full_producer(&m, t));
    let cancel = Arc::new(Cancel::new());
    let (p2, c2) = (p.clone(), cancel.clone());
    let blocked = std::thread::spawn(move || {
        let v = [1u8; 200];
        let t0 = Instant::now();
        let r = p2.send_with(t, &[Message::raw(&v)], &[9], &SendOptions { timeout: None, cancel: Some(&c2) });
        (r, t0.elapsed())
    });
    std::thread::sleep(Duration::from_millis(100));
    cancel.fire();
    let (r, waited) = blocked.join().unwrap();
    assert_eq!(r.unwrap_err().code, ErrorCode::Cancelled);
    assert!(waited < SLACK, "send.timeout.ms is 60 s: only the token can have ended it");
    let v = [1u8; 10];
    let again = p.send_with(t, &[Message::raw(&v)], &[10], &SendOptions { timeout: None, cancel: Some(&cancel) });
    assert_eq!(again.unwrap_err().code, ErrorCode::Cancelled);
    m.stall_reading(false);
    p.close(Duration::from_secs(10)).unwrap();
}

#[test]
fn send_sync_cancelled_while_waiting_for_its_ack() {
    let m = mock();
    let t = m.create_topic("sync-cancel").unwrap();
    m.set_ack_delay(Duration::from_secs(30));
    let p = Producer::new(&config(&m, &[])).unwrap();
    let cancel = Arc::new(Cancel::new());
    let c2 = cancel.clone();
    let firer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        c2.fire();
    });
    let t0 = Instant::now();
    let r = p.send_sync_with(
        t,
        &Message::raw(b"x"),
        &SendOptions { timeout: None, cancel: Some(&cancel) },
        Duration::from_secs(60),
    );
    assert_eq!(r.unwrap_err().code, ErrorCode::Cancelled);
    assert!(t0.elapsed() < SLACK);
    firer.join().unwrap();
    m.set_ack_delay(Duration::ZERO);
    p.close(Duration::from_secs(10)).unwrap();
}

#[test]
fn topic_names_resolve_in_the_core_and_are_cached() {
    let m = mock();
    let existing = m.create_topic("known").unwrap();
    let p = Producer::new(&config(&m, &[])).unwrap();
    assert_eq!(p.topic_id("known", None, None).unwrap(), existing);
    let created = p.topic_id("auto-made", None, None).unwrap();
    assert_eq!(m.topic_id_by_name("auto-made").unwrap(), created, "topic.auto.create=true creates it");
    // Cached: resolving again needs no server.
    m.fail_next_requests(5, "Internal error");
    assert_eq!(p.topic_id("known", None, None).unwrap(), existing);
    m.fail_next_requests(0, "");
    p.close(Duration::from_secs(5)).unwrap();

    let strict = Producer::new(&config(&m, &[("topic.auto.create", "false")])).unwrap();
    let e = strict.topic_id("never-made", Some(Duration::from_secs(5)), None).unwrap_err();
    assert_eq!(e.code, ErrorCode::UnknownTopic);
    assert!(e.message.contains("topic.auto.create=false"), "{}", e.message);
    assert!(m.topic_id_by_name("never-made").is_none(), "nothing was created");
    assert_eq!(strict.topic_id("bad name!", None, None).unwrap_err().code, ErrorCode::InvalidName);
    strict.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_name_lookup_against_a_dead_server_ends_within_its_timeout() {
    let m = mock();
    let mut c = Config::new();
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    c.set("bootstrap.servers", &dead).unwrap();
    let p = Producer::new(&c).unwrap();
    let t0 = Instant::now();
    let e = p.topic_id("x", Some(Duration::from_millis(300)), None).unwrap_err();
    assert!(e.retryable, "{e:?}");
    assert!(t0.elapsed() < SLACK);
    p.close(Duration::from_secs(1)).unwrap();
    drop(m);
}

#[test]
fn failed_fire_and_forget_records_surface_once_at_flush_and_close() {
    let m = mock();
    let t = m.create_topic("faf").unwrap();
    let p = Producer::new(&config(&m, &[("linger.ms", "0")])).unwrap();
    // 999 is not a topic: the server rejects the batches.
    for _ in 0..3 {
        p.send(999, &Message::raw(b"lost"), 0).unwrap();
    }
    p.send(999, &Message::raw(b"tracked"), 42).unwrap();
    p.send(t, &Message::raw(b"fine"), 0).unwrap();
    let e = p.flush(Duration::from_secs(10)).unwrap_err();
    assert_eq!(e.code, ErrorCode::DeliveryFailed);
    assert!(e.message.starts_with("3 fire-and-forget record(s) failed"), "{}", e.message);
    assert!(e.message.contains("UNKNOWN_TOPIC"), "{}", e.message);
    assert_eq!(p.flush(Duration::from_secs(10)).unwrap(), 0, "reported once");
    // The tracked record's failure is its own report, not part of the count.
    let reports = p.poll_reports(100, Duration::ZERO);
    assert!(reports.iter().any(|r| r.opaque == 42 && r.error.is_some()));
    p.send(999, &Message::raw(b"lost again"), 0).unwrap();
    let e = p.close(Duration::from_secs(10)).unwrap_err();
    assert_eq!(e.code, ErrorCode::DeliveryFailed);
    assert!(p.is_closed(), "close finished; the error only tells of the failure");

    // With a callback every report has a listener: nothing is "fire and forget".
    let q = Producer::with_callback(&config(&m, &[("linger.ms", "0")]), |_| {}).unwrap();
    q.send(999, &Message::raw(b"seen"), 0).unwrap();
    assert_eq!(q.flush(Duration::from_secs(10)).unwrap(), 0);
    q.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn retention_zero_means_unlimited() {
    let r = Retention { max_age_secs: Some(0), max_bytes: Some(0) };
    assert_eq!(r.wire_values().unwrap(), Retention::default().wire_values().unwrap());
    let m = mock();
    let a = Admin::new(&config(&m, &[])).unwrap();
    let info = a.create_topic_with_retention("ret0", r, None).unwrap();
    assert!(info.id > 0);
}

#[test]
fn consumer_calls_take_their_own_timeouts() {
    let m = mock();
    let t = m.create_topic("ctime").unwrap();
    let p = Producer::new(&config(&m, &[])).unwrap();
    for i in 0..10u8 {
        p.send(t, &Message::raw(&[i; 100]), 0).unwrap();
    }
    p.flush(Duration::from_secs(10)).unwrap();
    let tid = t.to_string();
    let c = StandaloneConsumer::with_store_within(
        &config(&m, &[("topic.id", &tid), ("request.timeout.ms", "60000")]),
        Arc::new(lnc::MemoryOffsetStore::new()),
        Some(Duration::from_secs(5)),
    )
    .unwrap();
    // A stalled server: the per-call timeouts bound the calls, not request.timeout.ms (60 s).
    m.stall_reading(true);
    let t0 = Instant::now();
    let e = c.seek_within(lnc::SeekTo::End, Some(Duration::from_millis(200))).unwrap_err();
    assert_eq!(e.code, ErrorCode::TimedOut, "{e:?}");
    assert!(t0.elapsed() < SLACK);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_millis(600)); // the cached end goes stale
    let e = c.lag_within(Some(Duration::from_millis(200))).unwrap_err();
    assert_eq!(e.code, ErrorCode::TimedOut, "{e:?}");
    assert!(t0.elapsed() < SLACK);
    m.stall_reading(false);
    assert_eq!(c.commit_within(Some(Duration::from_secs(5))).unwrap(), 0);
    c.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_poll_bounded_by_bytes_takes_what_fits_and_never_drops_the_rest() {
    let m = mock();
    let t = m.create_topic("fit").unwrap();
    let p = Producer::new(&config(&m, &[])).unwrap();
    for i in 0..20u8 {
        p.send(t, &Message::raw(&[i; 100]), 0).unwrap();
    }
    p.send(t, &Message::raw(&[99u8; 5000]), 0).unwrap();
    p.flush(Duration::from_secs(10)).unwrap();
    let tid = t.to_string();
    let c = StandaloneConsumer::new(&config(&m, &[("topic.id", &tid)])).unwrap();
    let mut got = Vec::new();
    let mut out = Vec::new();
    while got.len() < 20 {
        out.clear();
        let n = c.poll_within_bytes(Duration::from_secs(5), &mut out, 1000, 350).unwrap();
        assert!(n <= 3, "3 values of 100 bytes fit in 350, not 4");
        assert!(out.iter().map(|r| r.value.len()).sum::<usize>() <= 350);
        got.extend(out.iter().map(|r| r.value.clone()));
    }
    for (i, v) in got.iter().enumerate() {
        assert_eq!(v[0], i as u8, "in order, none skipped");
    }
    let before = c.position();
    let e = c.poll_within_bytes(Duration::from_secs(5), &mut out, 10, 350).unwrap_err();
    assert_eq!(e.code, ErrorCode::MsgTooLarge);
    assert_eq!(c.position(), before, "nothing consumed");
    out.clear();
    assert_eq!(c.poll_within_bytes(Duration::from_secs(5), &mut out, 10, 6000).unwrap(), 1);
    assert_eq!(out[0].value.len(), 5000);
    c.close(Duration::from_secs(5)).unwrap();
    p.close(Duration::from_secs(5)).unwrap();
}

/// Every send-side call races a firing token, `close` and each other from several threads: each
/// ends (no hang), and every accepted record gets exactly one report.
#[test]
fn send_calls_race_cancel_and_close() {
    for run in 0..20u64 {
        let m = mock();
        let t = m.create_topic("race").unwrap();
        let p = Arc::new(
            Producer::new(&config(
                &m,
                &[("buffer.memory", "8192"), ("linger.ms", "0"), ("batch.size", "1024"), ("send.timeout.ms", "5000")],
            ))
            .unwrap(),
        );
        let cancel = Arc::new(Cancel::new());
        let accepted = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut threads = Vec::new();
        for k in 0..4u64 {
            let (p, cancel, accepted) = (p.clone(), cancel.clone(), accepted.clone());
            threads.push(std::thread::spawn(move || {
                let v = [k as u8; 300];
                for i in 0..200u64 {
                    let opts = SendOptions { timeout: None, cancel: Some(&cancel) };
                    let r = match (k + i) % 4 {
                        0 => p.send_with(t, &[Message::raw(&v), Message::raw(&v)], &[1, 1], &opts).map(|_| 2),
                        1 => p.send_sync_with(t, &Message::raw(&v), &opts, Duration::from_millis(200)).map(|_| 0),
                        2 => p.topic_id("race", Some(Duration::from_millis(200)), Some(&cancel)).map(|_| 0),
                        _ => p.send_with(t, &[Message::raw(&v)], &[1], &opts).map(|_| 1),
                    };
                    match r {
                        Ok(n) => {
                            accepted.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
                        }
                        Err(e) => assert!(
                            matches!(
                                e.code,
                                ErrorCode::Cancelled | ErrorCode::Closed | ErrorCode::QueueFull | ErrorCode::TimedOut
                            ),
                            "{e:?}"
                        ),
                    }
                }
            }));
        }
        let reaper = {
            let p = p.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                let until = Instant::now() + Duration::from_secs(60);
                while !p.is_closed() || p.outstanding() > 0 {
                    n += p.poll_reports(1000, Duration::from_millis(5)).len() as u64;
                    assert!(Instant::now() < until, "reports never came");
                }
                n + p.poll_reports(usize::MAX, Duration::ZERO).len() as u64
            })
        };
        std::thread::sleep(Duration::from_millis(run % 5 * 3));
        if run % 2 == 0 {
            cancel.fire();
        }
        let t0 = Instant::now();
        let _ = p.close(Duration::from_millis(500));
        assert!(t0.elapsed() < SLACK);
        for th in threads {
            th.join().unwrap();
        }
        let reported = reaper.join().unwrap();
        assert_eq!(reported, accepted.load(std::sync::atomic::Ordering::SeqCst), "run {run}: one report each");
    }
}

#[test]
fn send_sync_without_a_token_returns_its_batch_id() {
    let m = mock();
    let t = m.create_topic("sync-plain").unwrap();
    let p = Producer::new(&config(&m, &[])).unwrap();
    let id = p.send_sync_with(t, &Message::raw(b"x"), &SendOptions::default(), Duration::from_secs(10)).unwrap();
    assert!(id > 0);
    let cancel = Cancel::new();
    let id2 = p
        .send_sync_with(
            t,
            &Message::raw(b"y"),
            &SendOptions { timeout: None, cancel: Some(&cancel) },
            Duration::from_secs(10),
        )
        .unwrap();
    assert!(id2 >= id);
    p.close(Duration::from_secs(5)).unwrap();
}
