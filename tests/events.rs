//! Connection events, the log callback and the circuit breaker against the mock broker: every
//! event kind caused by a mock fault and checked in order.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lnc::mock::{MockBroker, MockConfig};
use lnc::{Admin, CircuitState, Config, ErrorCode, Event, EventKind, Level, Message, Producer, StandaloneConsumer};

fn mock_on(port: u16, f: impl FnOnce(&mut MockConfig)) -> MockBroker {
    let mut c = MockConfig { ack_delay: Duration::ZERO, port, host: "127.0.0.1".into(), ..MockConfig::default() };
    f(&mut c);
    MockBroker::start(c).unwrap()
}

fn config(addr: &str, extra: &[(&str, &str)]) -> Config {
    let mut c = Config::new();
    c.set("bootstrap.servers", addr).unwrap();
    // Quiet by default; tests that look at logs set a callback.
    c.set("log.level", "off").unwrap();
    for (k, v) in extra {
        c.set(k, v).unwrap();
    }
    c
}

/// Polls `poll` until an event satisfies `stop` (returning every event seen, in order) or panics
/// after 20 s with what was seen.
fn until(mut poll: impl FnMut() -> Vec<Event>, stop: impl Fn(&Event) -> bool) -> Vec<Event> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let batch = poll();
        let done = batch.iter().any(&stop);
        // Keep the whole batch: events after the awaited one belong to the sequence too.
        seen.extend(batch);
        if done {
            return seen;
        }
    }
    panic!("event not seen within 20 s; saw {:?}", seen.iter().map(|e| e.to_string()).collect::<Vec<_>>());
}

fn kinds(events: &[Event]) -> Vec<EventKind> {
    events.iter().map(|e| e.kind).filter(|k| *k != EventKind::Statistics).collect()
}

/// disconnected → reconnect scheduled (growing delays) → connected, in that order, with nothing
/// else between but connect attempts.
fn check_outage(events: &[Event]) {
    let ks = kinds(events);
    let d = ks.iter().position(|k| *k == EventKind::Disconnected).expect("disconnected");
    let c = ks.iter().rposition(|k| *k == EventKind::Connected).expect("connected");
    assert!(d < c, "{ks:?}");
    let scheduled: Vec<&Event> = events.iter().filter(|e| e.kind == EventKind::ReconnectScheduled).collect();
    assert!(scheduled.len() >= 2, "at least two failed attempts while the broker was down: {ks:?}");
    for w in scheduled.windows(2) {
        assert!(w[1].delay > w[0].delay, "delays grow: {:?} then {:?}", w[0].delay, w[1].delay);
        assert_eq!(w[1].attempt, w[0].attempt + 1);
    }
    for k in &ks[d + 1..c] {
        assert!(
            matches!(k, EventKind::ReconnectScheduled | EventKind::Connecting),
            "unexpected {k:?} in {:?}",
            events.iter().map(|e| e.to_string()).collect::<Vec<_>>()
        );
    }
    assert!(ks[d + 1..c].contains(&EventKind::ReconnectScheduled));
}

const OUTAGE_KEYS: &[(&str, &str)] =
    &[("reconnect.backoff.ms", "40"), ("reconnect.jitter", "0"), ("circuit.breaker.failures", "0"), ("linger.ms", "0")];

#[test]
fn killing_the_broker_under_a_producer_gives_disconnected_reconnect_scheduled_connected() {
    let m = mock_on(0, |_| {});
    let port = m.address().port();
    let t = m.create_topic("outage").unwrap();
    let p = Producer::new(&config(&m.address_string(), OUTAGE_KEYS)).unwrap();
    p.send_sync(t, &Message::raw(b"first"), Duration::from_secs(5)).unwrap();
    let first = until(|| p.poll_events(100, Duration::from_millis(50)), |e| e.kind == EventKind::Connected);
    assert_eq!(kinds(&first), vec![EventKind::Connecting, EventKind::Connected]);
    assert_eq!(first[1].server, m.address_string());
    m.stop();
    drop(m);
    p.send(t, &Message::raw(b"during the outage"), 1).unwrap();
    let mut seen = until(
        || p.poll_events(100, Duration::from_millis(50)),
        |e| e.kind == EventKind::ReconnectScheduled && e.attempt >= 3,
    );
    let m = mock_on(port, |_| {});
    m.create_topic("outage").unwrap();
    seen.extend(until(|| p.poll_events(100, Duration::from_millis(50)), |e| e.kind == EventKind::Connected));
    check_outage(&seen);
    let r = p.poll_reports(10, Duration::from_secs(10));
    assert_eq!(r.len(), 1, "the record sent during the outage is reported");
    assert!(r[0].error.is_none(), "{:?}", r[0].error);
    p.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn killing_the_broker_under_a_consumer_gives_disconnected_reconnect_scheduled_connected() {
    let m = mock_on(0, |_| {});
    let port = m.address().port();
    let t = m.create_topic("outage").unwrap();
    let mut keys = OUTAGE_KEYS.to_vec();
    keys.push(("topic.id", Box::leak(t.to_string().into_boxed_str())));
    let c = StandaloneConsumer::new(&config(&m.address_string(), &keys)).unwrap();
    let first = until(|| c.poll_events(100, Duration::from_millis(50)), |e| e.kind == EventKind::Connected);
    assert_eq!(kinds(&first), vec![EventKind::Connecting, EventKind::Connected]);
    m.stop();
    drop(m);
    let mut seen = until(
        || {
            let _ = c.poll(Duration::from_millis(10));
            c.poll_events(100, Duration::from_millis(40))
        },
        |e| e.kind == EventKind::ReconnectScheduled && e.attempt >= 3,
    );
    let _m = mock_on(port, |_| {});
    seen.extend(until(|| c.poll_events(100, Duration::from_millis(50)), |e| e.kind == EventKind::Connected));
    check_outage(&seen);
    c.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn auth_failure_is_an_event_then_fatal_and_the_token_never_appears() {
    const TOKEN: &str = "s3cret-wrong-token-xyz";
    let m = mock_on(0, |c| c.auth_token = Some("the-right-one".into()));
    let t = m.create_topic("auth").unwrap();
    let lines = Arc::new(Mutex::new(Vec::<(Level, String)>::new()));
    let mut cfg = config(&m.address_string(), &[("auth.token", TOKEN), ("log.level", "debug")]);
    let l2 = lines.clone();
    cfg.set_log_callback(move |lvl, s| l2.lock().unwrap().push((lvl, s.to_string())));
    let p = Producer::new(&cfg).unwrap();
    p.send(t, &Message::raw(b"x"), 7).unwrap();
    let seen = until(|| p.poll_events(100, Duration::from_millis(50)), |e| e.kind == EventKind::Fatal);
    let ks = kinds(&seen);
    assert_eq!(ks, vec![EventKind::Connecting, EventKind::AuthFailed, EventKind::Fatal]);
    assert_eq!(seen[1].code, ErrorCode::AuthFailed);
    assert_eq!(seen[2].code, ErrorCode::AuthFailed);
    let r = p.poll_reports(10, Duration::from_secs(5));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].error.as_ref().unwrap().code, ErrorCode::AuthFailed);
    p.close(Duration::from_secs(5)).unwrap();
    let lines = lines.lock().unwrap();
    assert!(lines.iter().any(|(l, s)| *l == Level::Error && s.contains("auth_failed")), "{lines:?}");
    for (_, s) in lines.iter() {
        assert!(!s.contains(TOKEN), "token in a log line: {s}");
    }
    for e in &seen {
        assert!(!e.message.contains(TOKEN) && !e.to_string().contains(TOKEN));
    }
}

#[test]
fn not_leader_redirect_is_a_leader_changed_event() {
    let follower = mock_on(0, |_| {});
    let leader = mock_on(0, |_| {});
    let t = follower.create_topic("moved").unwrap();
    assert_eq!(leader.create_topic("moved").unwrap(), t);
    let p = Producer::new(&config(&follower.address_string(), &[("linger.ms", "0")])).unwrap();
    p.send_sync(t, &Message::raw(b"0"), Duration::from_secs(5)).unwrap();
    follower.fail_next_ingests(1, &format!("NOT_LEADER: redirect to {}", leader.address_string()), false);
    p.send_sync(t, &Message::raw(b"1"), Duration::from_secs(10)).unwrap();
    let seen = until(
        || p.poll_events(100, Duration::from_millis(50)),
        |e| e.kind == EventKind::Connected && e.server == leader.address_string(),
    );
    let ks = kinds(&seen);
    let lc = ks.iter().position(|k| *k == EventKind::LeaderChanged).expect("leader changed");
    assert_eq!(seen[lc].server, leader.address_string());
    assert_eq!(seen[lc].code, ErrorCode::NotLeader);
    assert_eq!(ks.iter().filter(|k| **k == EventKind::LeaderChanged).count(), 1);
    p.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn circuit_opens_fails_non_blocking_sends_fast_half_opens_and_closes() {
    let m = mock_on(0, |_| {});
    let port = m.address().port();
    let t = m.create_topic("circuit").unwrap();
    let keys = [
        ("reconnect.backoff.ms", "10"),
        ("reconnect.backoff.max.ms", "20"),
        ("circuit.breaker.failures", "3"),
        ("circuit.breaker.reset.ms", "300"),
        ("send.block", "false"),
        ("linger.ms", "0"),
    ];
    let p = Producer::new(&config(&m.address_string(), &keys)).unwrap();
    p.send_sync(t, &Message::raw(b"up"), Duration::from_secs(5)).unwrap();
    m.stop();
    drop(m);
    p.send(t, &Message::raw(b"accepted before the circuit opened"), 1).unwrap();
    let mut seen = until(|| p.poll_events(100, Duration::from_millis(50)), |e| e.kind == EventKind::CircuitOpen);
    assert_eq!(p.circuit_state(), CircuitState::Open);
    let e = p.send(t, &Message::raw(b"refused"), 2).unwrap_err();
    assert_eq!(e.code, ErrorCode::CircuitOpen, "{e}");
    seen.extend(until(|| p.poll_events(100, Duration::from_millis(50)), |e| e.kind == EventKind::CircuitHalfOpen));
    // The trial fails (still down): open again.
    seen.extend(until(|| p.poll_events(100, Duration::from_millis(50)), |e| e.kind == EventKind::CircuitOpen));
    let m = mock_on(port, |_| {});
    m.create_topic("circuit").unwrap();
    seen.extend(until(|| p.poll_events(100, Duration::from_millis(50)), |e| e.kind == EventKind::CircuitClosed));
    let circuit: Vec<EventKind> = kinds(&seen)
        .into_iter()
        .filter(|k| matches!(k, EventKind::CircuitOpen | EventKind::CircuitHalfOpen | EventKind::CircuitClosed))
        .collect();
    assert_eq!(circuit[..2], [EventKind::CircuitOpen, EventKind::CircuitHalfOpen]);
    assert_eq!(*circuit.last().unwrap(), EventKind::CircuitClosed);
    assert_eq!(p.circuit_state(), CircuitState::Closed);
    p.send(t, &Message::raw(b"after"), 3).unwrap();
    assert_eq!(p.flush(Duration::from_secs(10)).unwrap(), 0);
    // Nothing accepted lost its report; the refused record got none.
    let mut r: Vec<u64> = p.poll_reports(10, Duration::from_secs(1)).iter().map(|r| r.opaque).collect();
    r.sort();
    assert_eq!(r, vec![1, 3]);
    p.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn statistics_events_carry_json_and_the_event_callback_runs_on_a_library_thread() {
    let m = mock_on(0, |_| {});
    let got = Arc::new(Mutex::new(Vec::<(Event, String)>::new()));
    let mut cfg = config(&m.address_string(), &[("statistics.interval.ms", "50")]);
    let g2 = got.clone();
    cfg.set_event_callback(move |e| {
        g2.lock().unwrap().push((e.clone(), std::thread::current().name().unwrap_or("").to_string()))
    });
    let p = Producer::new(&cfg).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.lock().unwrap().iter().filter(|(e, _)| e.kind == EventKind::Statistics).count() < 3 {
        assert!(Instant::now() < deadline, "three statistics events");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(p.poll_events(10, Duration::ZERO).is_empty(), "with a callback, events go there");
    p.close(Duration::from_secs(5)).unwrap();
    for (e, thread) in got.lock().unwrap().iter().filter(|(e, _)| e.kind == EventKind::Statistics) {
        assert!(e.message.starts_with("{\"version\":1,\"kind\":\"producer\""), "{}", e.message);
        assert_eq!(thread, "lnc-events");
    }
}

#[test]
fn the_eventfd_is_readable_while_events_wait() {
    fn readable(fd: i32) -> bool {
        let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd, zero timeout.
        unsafe { libc::poll(&mut p, 1, 0) == 1 }
    }
    let m = mock_on(0, |_| {});
    let t = m.create_topic("fd").unwrap();
    let p = Producer::new(&config(&m.address_string(), &[("linger.ms", "0")])).unwrap();
    // Before the first poll_events, events do not touch the eventfd (an event loop that only
    // serves reports must not be woken, and spin, for events it never takes).
    p.send_sync(t, &Message::raw(b"x"), Duration::from_secs(5)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while p.outstanding() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(!readable(p.eventfd()), "only events wait");
    // The first poll_events subscribes: events left behind keep it readable.
    assert_eq!(p.poll_events(1, Duration::ZERO).len(), 1);
    assert!(readable(p.eventfd()), "one more event waits");
    p.send(t, &Message::raw(b"x"), 1).unwrap();
    p.flush(Duration::from_secs(5)).unwrap();
    assert!(readable(p.eventfd()));
    // Taking the reports leaves the fd readable: events still wait.
    assert_eq!(p.poll_reports(10, Duration::ZERO).len(), 1);
    assert!(readable(p.eventfd()), "events (connecting, connected) still wait");
    assert!(!p.poll_events(100, Duration::ZERO).is_empty());
    assert!(!readable(p.eventfd()));
    p.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn admin_connects_and_reports_lost_connections() {
    let m = mock_on(0, |_| {});
    let port = m.address().port();
    let a = Admin::new(&config(
        &m.address_string(),
        &[("reconnect.backoff.ms", "10"), ("reconnect.jitter", "0"), ("circuit.breaker.failures", "0")],
    ))
    .unwrap();
    a.create_topic("x", None).unwrap();
    let first = until(|| a.poll_events(100, Duration::from_millis(50)), |e| e.kind == EventKind::Connected);
    assert_eq!(kinds(&first), vec![EventKind::Connecting, EventKind::Connected]);
    m.stop();
    drop(m);
    assert!(a.list_topics(Some(Duration::from_millis(300))).is_err());
    let _m = mock_on(port, |_| {});
    a.list_topics(Some(Duration::from_secs(5))).unwrap();
    let seen = until(|| a.poll_events(100, Duration::from_millis(50)), |e| e.kind == EventKind::Connected);
    let ks = kinds(&seen);
    assert!(ks.contains(&EventKind::Disconnected), "{ks:?}");
    assert_eq!(*ks.last().unwrap(), EventKind::Connected);
}

#[test]
fn a_log_callback_may_call_back_into_the_library_and_cannot_close_from_inside() {
    let m = mock_on(0, |_| {});
    let t = m.create_topic("reentry").unwrap();
    let slot: Arc<Mutex<Option<Arc<Producer>>>> = Arc::new(Mutex::new(None));
    let results = Arc::new(Mutex::new(Vec::new()));
    let mut cfg = config(&m.address_string(), &[("log.level", "debug"), ("linger.ms", "0")]);
    let (s2, r2) = (slot.clone(), results.clone());
    cfg.set_log_callback(move |_, _| {
        let p = s2.lock().unwrap().clone();
        if let Some(p) = p {
            let _ = p.metrics();
            let _ = p.poll_events(1, Duration::ZERO);
            r2.lock().unwrap().push(p.close(Duration::from_millis(10)).map_err(|e| e.code));
        }
    });
    let p = Arc::new(Producer::new(&cfg).unwrap());
    *slot.lock().unwrap() = Some(p.clone());
    p.send_sync(t, &Message::raw(b"x"), Duration::from_secs(5)).unwrap();
    let _ = slot.lock().unwrap().take();
    p.close(Duration::from_secs(5)).unwrap();
    let results = results.lock().unwrap();
    assert!(!results.is_empty(), "the callback ran");
    assert!(results.iter().all(|r| *r == Err(ErrorCode::InCallback)), "{results:?}");
}

#[test]
fn poll_events_races_close_from_several_threads() {
    let m = mock_on(0, |_| {});
    let t = m.create_topic("race").unwrap();
    for round in 0..10 {
        let p = Arc::new(Producer::new(&config(&m.address_string(), &[("linger.ms", "0")])).unwrap());
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let p = p.clone();
                std::thread::spawn(move || {
                    let mut n = 0;
                    for j in 0..200u64 {
                        if i == 0 {
                            let _ = p.send(t, &Message::raw(b"r"), j);
                        }
                        n += p.poll_events(10, Duration::from_millis(1)).len();
                        let _ = p.poll_reports(10, Duration::ZERO);
                    }
                    n
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(round * 3));
        p.close(Duration::from_secs(5)).unwrap();
        for th in threads {
            th.join().unwrap();
        }
        // After close the queue still drains, and a poll never blocks past its timeout.
        let started = Instant::now();
        let _ = p.poll_events(100, Duration::from_millis(100));
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
