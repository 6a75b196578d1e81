//! Connection engine and admin client against the mock broker and hostile fake servers.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lnc::mock::{MockBroker, MockConfig};
use lnc::wire::{encode_frame, flags, Checksum};
use lnc::{Admin, Config, ErrorCode, FetchReply, Retention};

const T: Option<Duration> = Some(Duration::from_secs(5));

/// stall_reading takes effect once the mock's blocked read wakes up (within its poll interval).
fn stall(m: &MockBroker) {
    m.stall_reading(true);
    std::thread::sleep(Duration::from_millis(150));
}

fn mock() -> MockBroker {
    MockBroker::start(MockConfig { ack_delay: Duration::ZERO, ..MockConfig::default() }).unwrap()
}

fn config(servers: &str, extra: &[(&str, &str)]) -> Config {
    let mut c = Config::new();
    c.set("bootstrap.servers", servers).unwrap();
    for (k, v) in extra {
        c.set(k, v).unwrap();
    }
    c
}

fn admin(m: &MockBroker) -> Admin {
    Admin::new(&config(&m.address_string(), &[])).unwrap()
}

/// A port nothing listens on.
fn dead_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn topic_lifecycle_and_every_error_code() {
    let m = mock();
    let a = admin(&m);
    let t = a.create_topic("orders", T).unwrap();
    assert_eq!((t.name.as_str(), t.topic_epoch), ("orders", 1));
    assert!(t.created_at > 1_700_000_000);

    let e = a.create_topic("orders", T).unwrap_err();
    assert_eq!((e.code, e.message.as_str()), (ErrorCode::TopicExists, "Topic 'orders' already exists"));
    assert!(!e.retryable);
    assert_eq!(a.ensure_topic("orders", T).unwrap().id, t.id, "ensure_topic finds the existing topic");
    let fresh = a.ensure_topic("fresh", T).unwrap();
    assert_ne!(fresh.id, t.id);

    // Names are validated locally with the server's text, and the server agrees.
    let bad = a.create_topic("bad name", T).unwrap_err();
    assert_eq!(bad.code, ErrorCode::InvalidName);
    assert!(
        bad.message.starts_with("Invalid data: Topic name 'bad name' contains invalid characters"),
        "{}",
        bad.message
    );
    assert_eq!(a.create_topic("", T).unwrap_err().code, ErrorCode::InvalidName);
    assert_eq!(a.create_topic(&"a".repeat(256), T).unwrap_err().message, "I/O error: File name too long (os error 36)");
    a.create_topic(&"a".repeat(255), T).unwrap();

    let list = a.list_topics(T).unwrap();
    assert!(list.iter().any(|x| x.id == t.id && x.name == "orders"));
    assert_eq!(a.get_topic(t.id, T).unwrap().name, "orders");
    assert_eq!(a.topic_by_name("nope", T).unwrap(), None);
    let e = a.get_topic(9999, T).unwrap_err();
    assert_eq!((e.code, e.message.as_str()), (ErrorCode::UnknownTopic, "Topic not found"));

    let r = a.set_retention(t.id, Retention { max_age_secs: Some(3600), max_bytes: Some(1 << 20) }, T).unwrap();
    assert_eq!((r.topic_id, r.max_age_secs, r.max_bytes), (t.id, 3600, 1 << 20));
    let r = a.set_retention(t.id, Retention::default(), T).unwrap();
    assert_eq!((r.max_age_secs, r.max_bytes), (18_446_744_073, u64::MAX), "unlimited is encoded the safe way");
    // 0 means no limit (docs/bindings.md), never sent as 0.
    let r = a.set_retention(t.id, Retention { max_age_secs: Some(0), max_bytes: Some(0) }, T).unwrap();
    assert_eq!((r.max_age_secs, r.max_bytes), (18_446_744_073, u64::MAX));
    assert_eq!(
        a.set_retention(t.id, Retention { max_age_secs: Some(18_446_744_074), max_bytes: None }, T).unwrap_err().code,
        ErrorCode::InvalidArg
    );
    let e = a.set_retention(4242, Retention::default(), T).unwrap_err();
    assert_eq!((e.code, e.message.as_str()), (ErrorCode::UnknownTopic, "Configuration error: Topic 4242 not found"));

    let wr = a.create_topic_with_retention("kept", Retention { max_age_secs: Some(60), max_bytes: None }, T).unwrap();
    assert_eq!((wr.max_age_secs, wr.max_bytes), (Some(60), Some(u64::MAX)));

    assert_eq!(a.delete_topic(t.id, T).unwrap(), t.id);
    let e = a.delete_topic(t.id, T).unwrap_err();
    assert_eq!(
        (e.code, e.message),
        (ErrorCode::UnknownTopic, format!("Configuration error: Topic {} not found", t.id))
    );
    let again = a.create_topic("orders", T).unwrap();
    assert!(again.id > t.id, "deleted ids are never reused");
}

#[test]
fn cluster_status_ping_auth_and_low_level_calls() {
    let m = mock();
    let a = admin(&m);
    let s = a.cluster_status(T).unwrap();
    assert_eq!((s.mode.as_deref(), s.is_leader, s.node_count, s.leader_id), (Some("standalone"), true, 1, Some(0)));
    let rtt = a.ping(T).unwrap();
    assert!(rtt < Duration::from_secs(5));
    assert!(m.stats().keepalives_answered >= 1);
    a.authenticate("anything", T).unwrap(); // auth disabled: any non-empty token succeeds
    let e = a.authenticate("", T).unwrap_err();
    assert_eq!((e.code, e.message.as_str()), (ErrorCode::AuthFailed, "No token provided"));

    let t = a.create_topic("low", T).unwrap().id;
    assert_eq!(a.fetch(t, 0, 1024, T).unwrap(), FetchReply::Data { next_offset: 0, data: vec![] });
    assert_eq!(a.fetch(t, u64::MAX, 1024, T).unwrap(), FetchReply::Data { next_offset: 0, data: vec![] });
    assert_eq!(a.fetch(t, 10, 1024, T).unwrap(), FetchReply::CatchingUp { end_offset: 0 });
    assert_eq!(a.fetch(t, 0, 0, T).unwrap_err().code, ErrorCode::InvalidArg);
    assert_eq!(a.fetch(t, 0, 16_777_157, T).unwrap_err().code, ErrorCode::InvalidArg);
    let e = a.fetch(777, 0, 10, T).unwrap_err();
    assert_eq!((e.code, e.message.as_str()), (ErrorCode::UnknownTopic, "Topic 777 not found"));

    assert_eq!(a.subscribe(t, 10, 65536, 42, T).unwrap(), (42, 10));
    assert_eq!(a.subscribe(t, u64::MAX, 65536, 42, T).unwrap(), (42, u64::MAX), "tail sentinel echoed");
    assert_eq!(a.commit_offset(t, 42, 99, T).unwrap(), (42, 99));
    assert_eq!(a.subscribe(t, 0, 65536, 42, T).unwrap(), (42, 99), "0 resolves to the committed offset");
    a.unsubscribe(t, 42, T).unwrap();
    let e = a.subscribe(555, 0, 1, 1, T).unwrap_err();
    assert_eq!((e.code, e.message.as_str()), (ErrorCode::UnknownTopic, "Topic not found"));
    assert_eq!(a.connects(), 1, "all calls pipelined on one connection");
}

#[test]
fn server_side_injected_errors_are_classified() {
    let m = mock();
    let a = admin(&m);
    for (text, code) in [
        ("Invalid client command", ErrorCode::ServerError),
        ("I/O error: disk on fire", ErrorCode::ServerError),
        ("Rate limit exceeded", ErrorCode::RateLimited),
    ] {
        m.fail_next_requests(1, text);
        let e = a.fetch(1, 0, 10, Some(Duration::from_millis(300))).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (code, text));
    }
    // FORWARD_FAILED is retried with backoff within the call's deadline.
    let t = a.create_topic("fw", T).unwrap().id;
    m.fail_next_requests(2, "FORWARD_FAILED: Leader not ready (apply/metadata catch-up)");
    assert_eq!(a.get_topic(t, T).unwrap().id, t);
    m.fail_next_requests(100, "FORWARD_FAILED: Forward operation timed out");
    let start = Instant::now();
    let e = a.get_topic(t, Some(Duration::from_millis(500))).unwrap_err();
    assert_eq!(e.code, ErrorCode::ForwardFailed);
    assert!(e.retryable);
    assert!(start.elapsed() < Duration::from_secs(3), "bounded by the call's timeout");
}

#[test]
fn connection_killed_mid_request_retries_idempotent_calls_and_reports_others() {
    let m = mock();
    let a = admin(&m);
    a.create_topic("k", T).unwrap();
    stall(&m);
    let m2 = Arc::new(m);
    let killer = {
        let m = m2.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            m.disconnect_all();
            m.stall_reading(false);
        })
    };
    // ListTopics is idempotent: transparently retried on a new connection.
    let start = Instant::now();
    let topics = a.list_topics(T).unwrap();
    assert!(topics.iter().any(|t| t.name == "k"));
    assert!(start.elapsed() < Duration::from_secs(5));
    killer.join().unwrap();
    assert!(a.connects() >= 2);

    // CreateTopic is not idempotent: the caller gets a retryable error instead.
    stall(&m2);
    let k = {
        let m = m2.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            m.disconnect_all();
            m.stall_reading(false);
        })
    };
    let e = a.create_topic("k2", T).unwrap_err();
    assert_eq!(e.code, ErrorCode::Transport, "{e}");
    assert!(e.retryable);
    k.join().unwrap();
}

#[test]
fn request_timeout_kills_a_silent_connection_without_hanging() {
    let m = mock();
    let c = config(&m.address_string(), &[("request.timeout.ms", "300"), ("reconnect.backoff.ms", "50")]);
    let a = Admin::new(&c).unwrap();
    a.list_topics(T).unwrap();
    stall(&m);
    let start = Instant::now();
    let e = a.list_topics(Some(Duration::from_millis(800))).unwrap_err();
    assert!(matches!(e.code, ErrorCode::TimedOut | ErrorCode::Transport), "{e}");
    assert!(start.elapsed() < Duration::from_secs(3));
    m.stall_reading(false);
    a.list_topics(T).unwrap();
}

#[test]
fn bootstrap_failover_to_the_second_server() {
    let m = mock();
    let servers = format!("127.0.0.1:{},{}", dead_port(), m.address_string());
    let a = Admin::new(&config(&servers, &[])).unwrap();
    a.create_topic("failover", T).unwrap();
    assert_eq!(m.stats().connections_accepted, 1);

    let none = Admin::new(&config(&format!("127.0.0.1:{}", dead_port()), &[("reconnect.backoff.ms", "10")])).unwrap();
    let e = none.list_topics(Some(Duration::from_millis(300))).unwrap_err();
    assert_eq!(e.code, ErrorCode::Transport);
    assert!(e.message.contains("could not connect"), "{}", e.message);
}

#[test]
fn not_leader_redirect_is_followed() {
    let follower = mock();
    let leader = mock();
    let a = admin(&follower);
    a.list_topics(T).unwrap();
    follower.fail_next_requests(1, &format!("NOT_LEADER: redirect to {}", leader.address_string()));
    leader.create_topic("on-leader").unwrap();
    let topics = a.list_topics(T).unwrap();
    assert!(topics.iter().any(|t| t.name == "on-leader"), "answered by the leader");
    assert_eq!(leader.stats().connections_accepted, 1);

    // "leader unknown": no address; the call retries the seeds with backoff.
    follower.fail_next_requests(1, "NOT_LEADER: leader unknown");
    let b = admin(&follower);
    b.list_topics(T).unwrap();
}

#[test]
fn reconnect_follows_the_backoff_schedule() {
    // A server that accepts and hangs up at once: every attempt is a failure.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let times = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let t2 = times.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            t2.lock().unwrap().push(Instant::now());
            drop(s);
        }
    });
    let c = config(
        &format!("127.0.0.1:{port}"),
        &[("reconnect.backoff.ms", "100"), ("reconnect.backoff.max.ms", "400"), ("reconnect.jitter", "0.1")],
    );
    let a = Admin::new(&c).unwrap();
    let _ = a.list_topics(Some(Duration::from_millis(1700)));
    let t = times.lock().unwrap().clone();
    assert!(t.len() >= 4, "expected at least 4 attempts, got {}", t.len());
    // Delays can only be longer than scheduled (sleep never wakes early), so lower bounds cannot
    // flake: 100, 200, 400, 400 ms nominal, minus 10 % jitter.
    let nominal = [100u64, 200, 400, 400, 400, 400];
    for (i, w) in t.windows(2).enumerate().take(nominal.len()) {
        let gap = w[1] - w[0];
        assert!(gap >= Duration::from_millis(nominal[i] * 9 / 10), "gap {i} was {gap:?}");
    }
    // And no hammering: with the cap at 400 ms, at most ~7 attempts fit in 1.7 s.
    assert!(t.len() <= 8, "{} attempts", t.len());
}

#[test]
fn authentication_on_connect_and_after_reconnect() {
    let m = MockBroker::start(MockConfig {
        ack_delay: Duration::ZERO,
        auth_token: Some("s3cret".into()),
        ..MockConfig::default()
    })
    .unwrap();
    let topic = m.create_topic("auth").unwrap();

    // Without a token, an ingest is refused (control commands are never gated).
    let mut s = TcpStream::connect(m.address()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut f = Vec::new();
    encode_frame(&mut f, Checksum::Crc32, flags::INGEST, 1, 0, 1, topic, &[1, 1, 0, 0, 0, b'x']);
    s.write_all(&f).unwrap();
    let mut reply = vec![0u8; 44 + 23];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(&reply[44..], b"Authentication required");

    // A wrong token is AUTH_FAILED, fatal, and the token never appears in the error.
    let bad = Admin::new(&config(&m.address_string(), &[("auth.token", "wrong-token-xyz")])).unwrap();
    let e = bad.list_topics(T).unwrap_err();
    assert_eq!((e.code, e.message.as_str()), (ErrorCode::AuthFailed, "Invalid token"));
    assert!(!format!("{e:?}").contains("wrong-token-xyz"));

    // With the token: authenticated on connect, and again after the server drops the connection.
    let good = Admin::new(&config(&m.address_string(), &[("auth.token", "s3cret")])).unwrap();
    good.list_topics(T).unwrap();
    m.disconnect_all();
    std::thread::sleep(Duration::from_millis(50));
    good.list_topics(T).unwrap();
    assert!(good.connects() >= 2);
}

/// A fake server that sends `reply` once a client connects, then keeps the socket open.
fn hostile(reply: Vec<u8>) -> (String, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let h = std::thread::spawn(move || {
        if let Ok((mut s, _)) = l.accept() {
            let mut buf = [0u8; 4096];
            s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
            let _ = s.read(&mut buf);
            let _ = s.write_all(&reply);
            std::thread::sleep(Duration::from_millis(1500));
        }
    });
    (addr, h)
}

#[test]
fn hostile_peers_give_clear_errors_without_hanging_or_allocating() {
    let header_with_len = |len: u32| {
        let mut f = Vec::new();
        encode_frame(&mut f, Checksum::Crc32, flags::CONTROL, 0x80, 0, 0, 0, &[]);
        f[32..36].copy_from_slice(&len.to_le_bytes());
        f
    };
    let mut bad_payload_crc = Vec::new();
    encode_frame(&mut bad_payload_crc, Checksum::Crc32, flags::CONTROL, 0x80, 0, 0, 0, b"{\"topics\":[]}");
    bad_payload_crc[36] ^= 0xff;
    let mut half = Vec::new();
    encode_frame(&mut half, Checksum::Crc32, flags::CONTROL, 0x80, 0, 0, 0, b"{\"topics\":[]}");
    half.truncate(50);
    let mut ingest_from_server = Vec::new();
    encode_frame(&mut ingest_from_server, Checksum::Crc32, flags::INGEST, 1, 0, 0, 1, b"x");
    let cases: Vec<(&str, Vec<u8>, &[ErrorCode])> = vec![
        ("oversize length", header_with_len(u32::MAX), &[ErrorCode::Protocol]),
        ("garbage", b"HTTP/1.1 400 Bad Request\r\n\r\n".repeat(3), &[ErrorCode::Protocol]),
        ("bad payload checksum", bad_payload_crc, &[ErrorCode::Protocol]),
        ("half a frame then silence", half, &[ErrorCode::TimedOut]),
        ("an ingest frame from the server", ingest_from_server, &[ErrorCode::Protocol]),
    ];
    for (name, reply, codes) in cases {
        let (addr, h) = hostile(reply);
        let c = config(&addr, &[("request.timeout.ms", "400"), ("reconnect.backoff.ms", "5000")]);
        let a = Admin::new(&c).unwrap();
        let start = Instant::now();
        // CreateTopic is not retried, so the first connection's failure is what we see.
        let e = a.create_topic("x", Some(Duration::from_secs(3))).unwrap_err();
        assert!(codes.contains(&e.code), "{name}: got {e}");
        assert!(start.elapsed() < Duration::from_secs(3), "{name}: took {:?}", start.elapsed());
        h.join().unwrap();
    }
}
