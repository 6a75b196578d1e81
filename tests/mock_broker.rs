//! The mock broker against lwp.md, over real TCP with raw frames built by `lnc::wire`.
//!
//! Captured server replies come from `../shared/vectors/lwp-vectors.json` (loaded at test time).
//! Every read has a timeout so a failing test fails instead of hanging.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use lnc::mock::{MockBroker, MockConfig};
use lnc::wire::control::{self, reply_code};
use lnc::wire::{encode_frame, flags, Checksum, Frame, FrameDecoder, Header};
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(3);
const U64MAX: u64 = u64::MAX;

// ---------------------------------------------------------------- helpers

fn vectors() -> &'static Vec<Value> {
    static V: OnceLock<Vec<Value>> = OnceLock::new();
    V.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vectors/lwp-vectors.json");
        let text = std::fs::read_to_string(path).expect("read lwp-vectors.json");
        let v: Value = serde_json::from_str(&text).expect("parse vectors");
        v["vectors"].as_array().expect("vectors array").clone()
    })
}

fn vector(name: &str) -> &'static Value {
    vectors().iter().find(|v| v["name"] == name).unwrap_or_else(|| panic!("no vector {name}"))
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn vhex(v: &Value) -> Vec<u8> {
    hex(v["hex"].as_str().unwrap())
}

fn fhex(v: &Value, field: &str) -> Vec<u8> {
    hex(v["fields"][field].as_str().unwrap())
}

fn config() -> MockConfig {
    MockConfig { ack_delay: Duration::ZERO, ..MockConfig::default() }
}

fn broker() -> MockBroker {
    MockBroker::start(config()).expect("start mock")
}

fn broker_with(f: impl FnOnce(&mut MockConfig)) -> MockBroker {
    let mut c = config();
    f(&mut c);
    MockBroker::start(c).expect("start mock")
}

fn frame(cs: Checksum, fl: u8, batch_id: u64, topic_id: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&mut out, cs, fl, batch_id, 0, 0, topic_id, payload);
    out
}

fn ingest(batch_id: u64, topic_id: u32, payload: &[u8]) -> Vec<u8> {
    frame(Checksum::Crc32, flags::INGEST, batch_id, topic_id, payload)
}

fn ctl(code: u8, payload: &[u8]) -> Vec<u8> {
    frame(Checksum::Crc32, flags::CONTROL, code as u64, 0, payload)
}

fn keepalive() -> Vec<u8> {
    frame(Checksum::Crc32, flags::KEEPALIVE, 0, 0, &[])
}

fn ack_bytes(batch_id: u64) -> Vec<u8> {
    frame(Checksum::Crc32, flags::ACK, batch_id, 0, &[])
}

fn fetch_payload(topic_id: u32, start: u64, max_bytes: u32) -> Vec<u8> {
    control::Request::Fetch { topic_id, start_offset: start, max_bytes }.payload()
}

/// A standard TLV record.
fn rec(t: u8, value: &[u8]) -> Vec<u8> {
    let mut v = vec![t];
    v.extend_from_slice(&(value.len() as u32).to_le_bytes());
    v.extend_from_slice(value);
    v
}

struct Client {
    s: TcpStream,
    dec: FrameDecoder,
}

impl Client {
    fn connect(b: &MockBroker) -> Client {
        Client::connect_cs(b, Checksum::Crc32)
    }

    fn connect_cs(b: &MockBroker, cs: Checksum) -> Client {
        let s = TcpStream::connect(b.address()).expect("connect");
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        s.set_nodelay(true).unwrap();
        Client { s, dec: FrameDecoder::new(cs, 64 << 20) }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).expect("write");
    }

    fn recv(&mut self) -> Frame {
        loop {
            if let Some(f) = self.dec.next_frame().expect("valid frame from mock") {
                return f;
            }
            let mut buf = [0u8; 65536];
            match self.s.read(&mut buf) {
                Ok(0) => panic!("connection closed while waiting for a frame"),
                Ok(n) => self.dec.feed(&buf[..n]),
                Err(e) => panic!("no frame from mock: {e}"),
            }
        }
    }

    /// Sends a control request and returns its single reply.
    fn call(&mut self, code: u8, payload: &[u8]) -> Frame {
        self.send(&ctl(code, payload));
        self.recv()
    }

    /// The ErrorResponse text of a request (asserting it is one).
    fn call_err(&mut self, code: u8, payload: &[u8]) -> String {
        let f = self.call(code, payload);
        err_text(&f)
    }

    fn json(&mut self, code: u8, payload: &[u8]) -> (Value, Vec<u8>) {
        let f = self.call(code, payload);
        assert_eq!(
            (f.header.flags, f.header.batch_id),
            (flags::CONTROL, reply_code::TOPIC_RESPONSE as u64),
            "{:?}",
            text(&f)
        );
        (serde_json::from_slice(&f.payload).expect("json"), f.payload)
    }

    fn create(&mut self, name: &str) -> u32 {
        let (v, _) = self.json(0x01, name.as_bytes());
        v["id"].as_u64().unwrap() as u32
    }

    fn fetch(&mut self, topic: u32, start: u64, max: u32) -> Frame {
        self.call(0x10, &fetch_payload(topic, start, max))
    }

    /// (next_offset, data) of a FetchResponse.
    fn fetch_data(&mut self, topic: u32, start: u64, max: u32) -> (u64, Vec<u8>) {
        let f = self.fetch(topic, start, max);
        assert_eq!(f.header.batch_id, reply_code::FETCH_RESPONSE as u64, "{:?}", text(&f));
        let r = control::decode_fetch_response(&f.payload).unwrap();
        (r.next_offset, r.data.to_vec())
    }

    fn expect_ack(&mut self, batch_id: u64) {
        let f = self.recv();
        assert_eq!(
            (f.header.flags, f.header.batch_id),
            (flags::ACK, batch_id),
            "expected Ack {batch_id}, got {:?} {:?}",
            f.header,
            text(&f)
        );
    }

    /// Exactly `n` raw bytes.
    fn recv_raw(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.s.read_exact(&mut v).expect("raw bytes");
        v
    }

    /// The mock closed the connection, and sent nothing before closing.
    fn expect_closed_silently(&mut self) {
        assert_eq!(self.dec.buffered(), 0);
        let mut total = 0;
        let mut buf = [0u8; 4096];
        loop {
            match self.s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => total += n,
                Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted) => break,
                Err(e) => panic!("connection not closed: {e}"),
            }
        }
        assert_eq!(total, 0, "the mock sent bytes before closing");
    }

    /// The connection ends (EOF or reset) within the timeout; any bytes before are returned.
    fn expect_closed(&mut self) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match self.s.read(&mut buf) {
                Ok(0) => return got,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted) => return got,
                Err(e) => panic!("connection not closed: {e}"),
            }
        }
    }

    /// Nothing arrives within `ms`.
    fn expect_silence(&mut self, ms: u64) {
        assert_eq!(self.dec.buffered(), 0);
        self.s.set_read_timeout(Some(Duration::from_millis(ms))).unwrap();
        let mut buf = [0u8; 64];
        match self.s.read(&mut buf) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            other => panic!("expected silence, got {other:?}"),
        }
        self.s.set_read_timeout(Some(TIMEOUT)).unwrap();
    }
}

fn text(f: &Frame) -> String {
    String::from_utf8_lossy(&f.payload).into_owned()
}

fn err_text(f: &Frame) -> String {
    assert_eq!(
        (f.header.flags, f.header.batch_id),
        (flags::CONTROL, reply_code::ERROR_RESPONSE as u64),
        "expected an ErrorResponse, got {:?} {:?}",
        f.header,
        text(f)
    );
    text(f)
}

/// Every server frame has version 1, reserved 0, timestamp 0, record_count 0, topic 0.
fn assert_server_header(h: &Header) {
    assert_eq!((h.version, h.reserved, h.timestamp_ns, h.record_count, h.topic_id), (1, 0, 0, 0, 0));
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

// ---------------------------------------------------------------- configuration and lifecycle

#[test]
fn config_keys() {
    let mut c = MockConfig::default();
    assert_eq!(c.ack_delay, Duration::from_millis(5));
    assert_eq!((c.port, c.host.as_str(), c.max_payload), (0, "127.0.0.1", 16 * 1024 * 1024));
    c.set("port", "0").unwrap();
    c.set("host", "127.0.0.1").unwrap();
    c.set("ack.delay.ms", "0").unwrap();
    c.set("checksum", "crc32c").unwrap();
    c.set("max.payload.bytes", "1024").unwrap();
    c.set("auth.token", "tok").unwrap();
    c.set("write.only", "true").unwrap();
    c.set("fetch.rate.limit.bytes", "100").unwrap();
    c.set("segment.bytes", "4096").unwrap();
    assert_eq!(c.checksum, Checksum::Crc32c);
    assert_eq!((c.max_payload, c.auth_token.as_deref(), c.write_only), (1024, Some("tok"), true));
    assert_eq!((c.fetch_rate_limit, c.segment_bytes, c.ack_delay), (Some(100), 4096, Duration::ZERO));
    c.set("auth.token", "").unwrap();
    c.set("fetch.rate.limit.bytes", "none").unwrap();
    assert_eq!((c.auth_token.clone(), c.fetch_rate_limit), (None, None));
    assert!(c.set("nope", "1").unwrap_err().contains("unknown"));
    assert!(c.set("port", "70000").is_err());
    assert!(c.set("checksum", "md5").is_err());
    assert!(c.set("write.only", "maybe").is_err());
    assert!(c.set("segment.bytes", "0").is_err());
}

#[test]
fn start_stop_idempotent_and_bounded() {
    let b = broker();
    let addr = b.address();
    assert_eq!(b.address_string(), addr.to_string());
    assert!(addr.ip().is_loopback() && addr.port() != 0);
    let mut c = Client::connect(&b);
    assert_eq!(c.call(0x03, &[]).payload, b"{\"topics\":[]}");
    // A client that stays connected and one that sent half a frame must not hold stop() up.
    let mut half = Client::connect(&b);
    half.send(&keepalive()[..20]);
    b.stall_reading(true);
    let t = Instant::now();
    b.stop();
    b.stop();
    assert!(t.elapsed() < Duration::from_secs(2), "stop took {:?}", t.elapsed());
    c.expect_closed();
    half.expect_closed();
    assert!(TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_err());
    assert_eq!(b.stats().connections_open, 0);
}

// ---------------------------------------------------------------- control commands (§3)

/// Replays the captured control replies (control_response_payload/*) in a state that yields the
/// same topic ids; JSON is compared parsed and, with created_at substituted, as exact text (key
/// order).
#[test]
fn control_response_vectors() {
    let b = broker();
    let mut c = Client::connect(&b);
    let run = |c: &mut Client, name: &str| -> Frame {
        let v = vector(&format!("control_response_payload/{name}"));
        let code = match v["fields"]["request_command"].as_str().unwrap() {
            "create_topic" => 0x01,
            "delete_topic" => 0x02,
            "list_topics" => 0x03,
            "get_topic" => 0x04,
            "set_retention" => 0x05,
            "create_topic_with_retention" => 0x06,
            "get_cluster_status" => 0x07,
            "authenticate" => 0x08,
            "fetch" => 0x10,
            "subscribe" => 0x20,
            "commit_offset" => 0x22,
            "?" => 0x30,
            other => panic!("{other}"),
        };
        let f = c.call(code, &fhex(v, "request_payload_hex"));
        assert_server_header(&f.header);
        assert_eq!(f.header.batch_id, v["fields"]["reply_code"].as_u64().unwrap(), "{name}: {}", text(&f));
        if let Some(json_text) = v["fields"]["parsed"]["json_text"].as_str() {
            let ours: Value = serde_json::from_slice(&f.payload).unwrap();
            let mut theirs = v["fields"]["parsed"]["json"].clone();
            if let Some(created) = ours.get("created_at") {
                theirs["created_at"] = created.clone();
                let expect = json_text.replace("1795249921", &created.to_string());
                assert_eq!(text(&f), expect, "{name}: exact text");
            } else if name != "list_topics" {
                assert_eq!(text(&f), json_text, "{name}: exact text");
            }
            if name != "list_topics" {
                assert_eq!(ours, theirs, "{name}");
            }
        } else {
            assert_eq!(f.payload, vhex(v), "{name}: exact payload");
        }
        f
    };
    run(&mut c, "list_topics_empty");
    run(&mut c, "create_topic"); // orders = 1
    assert_eq!(c.create("events"), 2);
    assert_eq!(c.create("scratch"), 3);
    c.json(0x02, &3u32.to_le_bytes());
    run(&mut c, "create_topic_with_retention"); // metrics = 4
    let f = run(&mut c, "list_topics");
    // List order is arbitrary: compare the entries as a set, each in id,name,created_at,epoch order.
    let ours: Value = serde_json::from_slice(&f.payload).unwrap();
    let created = ours["topics"][0]["created_at"].clone();
    let mut got: Vec<String> = ours["topics"].as_array().unwrap().iter().map(|e| e.to_string()).collect();
    got.sort();
    let theirs = &vector("control_response_payload/list_topics")["fields"]["parsed"]["json"]["topics"];
    let mut want: Vec<String> = theirs
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let mut e = e.clone();
            e["created_at"] = created.clone();
            e.to_string()
        })
        .collect();
    want.sort();
    assert_eq!(got, want);
    for e in ["{\"id\":2,\"name\":\"events\",\"created_at\":", "{\"id\":1,\"name\":\"orders\",\"created_at\":"] {
        assert!(text(&f).contains(e), "entry key order: {}", text(&f));
    }
    run(&mut c, "get_topic");
    run(&mut c, "set_retention");
    assert_eq!(c.create("five"), 5);
    assert_eq!(c.create("six"), 6);
    run(&mut c, "delete_topic");
    run(&mut c, "get_cluster_status");
    run(&mut c, "authenticate_ok");
    run(&mut c, "subscribe_ack");
    run(&mut c, "commit_ack");
    run(&mut c, "subscribe_ack_committed");
    run(&mut c, "subscribe_ack_tail");
    run(&mut c, "commit_ack_unknown_topic");
    run(&mut c, "error_invalid_client_command");
    // CatchingUp needs the 78-byte log of topic 1.
    let data = fhex(vector("fetch_response/all"), "data_hex");
    c.send(&ingest(1, 1, &data));
    c.expect_ack(1);
    run(&mut c, "catching_up");
}

#[test]
fn authenticate_vectors_with_token() {
    let b = broker_with(|c| c.auth_token = Some("secret-token".into()));
    let mut c = Client::connect(&b);
    for name in ["authenticate_invalid_token", "authenticate_no_token", "authenticate_bad_encoding"] {
        let v = vector(&format!("control_response_payload/{name}"));
        let f = c.call(0x08, &fhex(v, "request_payload_hex"));
        assert_eq!((f.header.flags, f.header.batch_id), (flags::CONTROL, 9));
        assert_eq!(f.payload, vhex(v), "{name}");
    }
    // The captured frame for a successful authentication, byte for byte.
    c.send(&vhex(vector("frame/client/authenticate")));
    let f = c.recv_raw(44 + 14);
    assert_eq!(f, vhex(vector("frame/server/authenticate_response_ok")));
}

#[test]
fn create_topic_rules() {
    let b = broker();
    let mut c = Client::connect(&b);
    assert_eq!(c.call_err(0x01, b""), "Topic name required");
    assert_eq!(c.create("orders"), 1);
    assert_eq!(c.call_err(0x01, b"orders"), "Topic 'orders' already exists");
    assert_eq!(
        c.call_err(0x01, b"bad name!"),
        "Invalid data: Topic name 'bad name!' contains invalid characters. Only alphanumeric characters (a-z, A-Z, 0-9) and dashes (-) are allowed"
    );
    // Invalid UTF-8 is converted lossily, then validated.
    assert_eq!(
        c.call_err(0x01, b"ab\xffc"),
        "Invalid data: Topic name 'ab\u{FFFD}c' contains invalid characters. Only alphanumeric characters (a-z, A-Z, 0-9) and dashes (-) are allowed"
    );
    // 255 bytes is fine; 256 fails with the I/O text and still uses up an id.
    assert_eq!(c.create(&"a".repeat(255)), 2);
    assert_eq!(c.call_err(0x01, "b".repeat(256).as_bytes()), "I/O error: File name too long (os error 36)");
    assert_eq!(c.create("next-Topic-9"), 4);
    // Deleted ids are never reused while running; re-creating a name gives a new id.
    c.json(0x02, &4u32.to_le_bytes());
    assert_eq!(c.create("next-Topic-9"), 5);
    assert_eq!(b.topic_id_by_name("next-Topic-9"), Some(5));
    assert_eq!(b.create_topic("viaapi"), Ok(6));
    assert_eq!(b.create_topic("viaapi"), Err("Topic 'viaapi' already exists".into()));
}

#[test]
fn create_topic_with_retention_rules() {
    let b = broker();
    let mut c = Client::connect(&b);
    let req = |name: &[u8], age: u64, bytes: u64| {
        control::Request::CreateTopicWithRetention { name: name.to_vec(), max_age_secs: age, max_bytes: bytes }
            .payload()
    };
    assert_eq!(c.call_err(0x06, &[0u8; 17]), "Invalid create topic payload");
    let mut p = req(b"abc", 1, 2);
    p[0] = 9; // name_len 9 but only 3 + 16 bytes follow
    assert_eq!(c.call_err(0x06, &p), "Invalid payload length");
    assert!(c.call_err(0x06, &req(b"a b", 1, 2)).starts_with("Invalid data: Topic name 'a b' contains"));
    let (v, raw) = c.json(0x06, &req(b"zero", 0, 0));
    assert_eq!((v["id"].as_u64(), v["max_age_secs"].as_u64(), v["max_bytes"].as_u64()), (Some(1), Some(0), Some(0)));
    let created = v["created_at"].as_u64().unwrap();
    assert_eq!(
        String::from_utf8(raw).unwrap(),
        format!("{{\"created_at\":{created},\"id\":1,\"max_age_secs\":0,\"max_bytes\":0,\"name\":\"zero\",\"topic_epoch\":1}}")
    );
    assert_eq!(c.call_err(0x06, &req(b"zero", 5, 5)), "Topic 'zero' already exists");
    assert_eq!(c.call_err(0x01, b"zero"), "Topic 'zero' already exists");
    // GetTopic never shows retention.
    let (v, _) = c.json(0x04, &1u32.to_le_bytes());
    assert!(v.get("max_bytes").is_none());
}

#[test]
fn delete_get_set_retention_errors() {
    let b = broker();
    let mut c = Client::connect(&b);
    assert_eq!(c.call_err(0x02, &77u32.to_le_bytes()), "Configuration error: Topic 77 not found");
    assert_eq!(c.call_err(0x02, &[1, 2]), "Configuration error: Topic 0 not found");
    assert_eq!(c.call_err(0x04, &77u32.to_le_bytes()), "Topic not found");
    assert_eq!(c.call_err(0x04, &[]), "Topic not found");
    assert_eq!(c.call_err(0x05, &[0u8; 19]), "Invalid set retention payload");
    let sr = control::Request::SetRetention { topic_id: 9, max_age_secs: 1, max_bytes: 2 }.payload();
    assert_eq!(c.call_err(0x05, &sr), "Configuration error: Topic 9 not found");
    let id = c.create("t");
    // Extra SetRetention bytes are ignored.
    let mut sr = control::Request::SetRetention { topic_id: id, max_age_secs: 3600, max_bytes: 1048576 }.payload();
    sr.extend_from_slice(b"xyz");
    let (_, raw) = c.json(0x05, &sr);
    assert_eq!(raw, b"{\"max_age_secs\":3600,\"max_bytes\":1048576,\"topic_id\":1}");
    // Delete: later ingests get Unknown topic, fetches Topic <id> not found.
    c.send(&ingest(1, id, &rec(1, b"x")));
    c.expect_ack(1);
    let (_, raw) = c.json(0x02, &id.to_le_bytes());
    assert_eq!(raw, b"{\"deleted\":1}");
    c.send(&ingest(2, id, &rec(1, b"x")));
    assert_eq!(err_text(&c.recv()), "Unknown topic");
    assert_eq!(err_text(&c.fetch(id, 0, 100)), "Topic 1 not found");
    assert_eq!(b.topic_log(id), None);
    let id2 = c.create("t");
    assert_eq!(id2, 2);
    assert_eq!(c.fetch_data(id2, 0, 100), (0, vec![]));
}

#[test]
fn list_cluster_status_and_invalid_codes() {
    let b = broker();
    let mut c = Client::connect(&b);
    // ListTopics ignores its payload; GetClusterStatus too.
    assert_eq!(c.call(0x03, b"junk").payload, b"{\"topics\":[]}");
    let f = c.call(0x07, b"junk");
    assert_eq!(f.header.batch_id, 0x81);
    assert_eq!(
        text(&f),
        "{\"current_term\":0,\"healthy_nodes\":1,\"is_leader\":true,\"leader_id\":0,\"mode\":\"standalone\",\"node_count\":1,\"node_id\":0,\"peer_states\":{},\"quorum_available\":true}"
    );
    assert_eq!(c.call(0x07, &[]).payload, fhex(vector("frame/server/cluster_status"), "payload_hex"));
    for code in [0x00u8, 0x0A, 0x11, 0x12, 0x23, 0x24, 0x30, 0x80, 0x81, 0xFF] {
        assert_eq!(c.call_err(code, &[]), "Invalid client command", "code {code:#x}");
    }
    assert_eq!(c.call_err(0x09, &[]), "Authentication handled at connection level");
    // The command is only the low byte of batch_id.
    c.send(&frame(Checksum::Crc32, flags::CONTROL, 0xABCD_EF00_0000_0103, 0, &[]));
    assert_eq!(c.recv().payload, b"{\"topics\":[]}");
    // Invalid code reply frame matches the captured error frame shape.
    let f = c.call(0x30, &[]);
    assert_server_header(&f.header);
}

#[test]
fn subscribe_unsubscribe_commit() {
    let b = broker();
    let mut a = Client::connect(&b);
    let mut other = Client::connect(&b);
    let t = a.create("orders");
    let sub = |topic: u32, start: u64, consumer: u64| {
        control::Request::Subscribe {
            topic_id: topic,
            start_offset: start,
            max_batch_bytes: 65536,
            consumer_id: consumer,
        }
        .payload()
    };
    let commit = |topic: u32, consumer: u64, offset: u64| {
        control::Request::CommitOffset { topic_id: topic, consumer_id: consumer, offset }.payload()
    };
    assert_eq!(a.call_err(0x20, &[0u8; 23]), "Invalid subscribe payload");
    assert_eq!(a.call_err(0x20, &sub(42, 0, 7)), "Topic not found");
    let f = a.call(0x20, &sub(0, 0, 7)); // topic 0 accepted
    assert_eq!((f.header.batch_id, control::decode_consumer_ack(&f.payload).unwrap()), (0x23, (7, 0)));
    assert_eq!(a.call_err(0x21, &[0u8; 11]), "Invalid unsubscribe payload");
    assert_eq!(a.call_err(0x22, &[0u8; 19]), "Invalid commit offset payload");
    // Commits are server-wide, keyed by (topic, consumer).
    let f = a.call(0x22, &commit(t, 7, 99));
    assert_eq!((f.header.batch_id, control::decode_consumer_ack(&f.payload).unwrap()), (0x24, (7, 99)));
    let f = other.call(0x20, &sub(t, 0, 7));
    assert_eq!(control::decode_consumer_ack(&f.payload).unwrap(), (7, 99));
    let f = other.call(0x20, &sub(t, 0, 8));
    assert_eq!(control::decode_consumer_ack(&f.payload).unwrap(), (8, 0));
    let f = other.call(0x20, &sub(t, U64MAX, 7));
    assert_eq!(control::decode_consumer_ack(&f.payload).unwrap(), (7, U64MAX));
    // Commits are not checked.
    let f = a.call(0x22, &commit(999_999, 5, 7));
    assert_eq!(control::decode_consumer_ack(&f.payload).unwrap(), (5, 7));
    // Unsubscribe: an Ack frame whose batch_id is the consumer id, subscribed or not.
    let v = vector("frame/server/unsubscribe_reply");
    let up = hex("010000008877665544332211");
    a.send(&ctl(0x21, &up));
    assert_eq!(a.recv_raw(44), vhex(v));
    a.send(&ctl(0x21, &up));
    assert_eq!(a.recv_raw(44), vhex(v));
    // Subscribe/commit vectors, captured frames.
    a.send(&ctl(0x20, &hex("010000000a00000000000000000001008877665544332211")));
    assert_eq!(a.recv_raw(60), vhex(vector("frame/server/subscribe_ack")));
    a.send(&ctl(0x22, &hex("0100000088776655443322112a00000000000000")));
    assert_eq!(a.recv_raw(60), vhex(vector("frame/server/commit_ack")));
}

// ---------------------------------------------------------------- fetch (§3.9, §4)

fn fetch_fixture() -> (MockBroker, Client) {
    let b = broker();
    let mut c = Client::connect(&b);
    for name in ["orders", "events", "t3", "t4", "t5"] {
        c.create(name);
    }
    // The captured 78-byte log, ingested as the 5 batches it was made of.
    let data = fhex(vector("fetch_response/all"), "data_hex");
    let mut pos = 0;
    let mut batch = 0;
    for len in [20, 23, 17, 12, 6] {
        batch += 1;
        c.send(&ingest(batch, 1, &data[pos..pos + len]));
        c.expect_ack(batch);
        pos += len;
    }
    assert_eq!(pos, 78);
    assert_eq!(b.topic_log(1).unwrap(), data);
    (b, c)
}

#[test]
fn fetch_response_vectors() {
    let (_b, mut c) = fetch_fixture();
    let mut n = 0;
    for v in vectors().iter().filter(|v| v["kind"] == "fetch_response") {
        c.send(&fhex(v, "request_hex"));
        let want = vhex(v);
        let got = c.recv_raw(want.len());
        assert_eq!(hex_str(&got), hex_str(&want), "{}", v["name"]);
        n += 1;
    }
    assert!(n >= 12);
    // Fetch payload errors.
    assert_eq!(c.call_err(0x10, &[]), "Fetch request payload required");
    assert_eq!(c.call_err(0x10, &[0u8; 15]), "Protocol error: Fetch request payload too small");
    // Windows span batches; a window past the end is cut at the end.
    assert_eq!(c.fetch_data(1, 70, 100), (78, fhex(vector("fetch_response/all"), "data_hex")[70..].to_vec()));
}

fn hex_str(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn fetch_rate_limit() {
    let (b, mut c) = fetch_fixture();
    b.set_fetch_rate_limit(Some(10));
    // The bucket is not empty: the full window is served even though it exceeds the bucket.
    assert_eq!(c.fetch_data(1, 0, 1024).1.len(), 78);
    // Now it is empty: refused, and before the topic check.
    assert_eq!(c.call_err(0x10, &fetch_payload(1, 0, 10)), "Rate limit exceeded");
    assert_eq!(c.call_err(0x10, &fetch_payload(999, 0, 10)), "Rate limit exceeded");
    // Payload errors still come first.
    assert_eq!(c.call_err(0x10, &[]), "Fetch request payload required");
    // One bucket for the whole server.
    let mut other = Client::connect(&b);
    assert_eq!(other.call_err(0x10, &fetch_payload(1, 0, 10)), "Rate limit exceeded");
    std::thread::sleep(Duration::from_millis(1050));
    assert_eq!(other.fetch_data(1, 0, 5).1.len(), 5);
    assert_eq!(other.fetch_data(1, 5, 5).1.len(), 5);
    assert_eq!(other.call_err(0x10, &fetch_payload(1, 0, 10)), "Rate limit exceeded");
    b.set_fetch_rate_limit(None);
    assert_eq!(other.fetch_data(1, 0, 3).1.len(), 3);
}

// ---------------------------------------------------------------- data plane (§1, §2)

#[test]
fn ingest_ack_and_keepalive_vectors() {
    let b = broker();
    let mut c = Client::connect(&b);
    c.create("orders");
    c.send(&vhex(vector("frame/client/ingest_hello_world")));
    assert_eq!(c.recv_raw(44), vhex(vector("frame/server/ack")));
    c.send(&vhex(vector("frame/client/keepalive")));
    assert_eq!(c.recv_raw(44), vhex(vector("frame/server/keepalive_reply")));
    assert_eq!(b.topic_log(1).unwrap(), fhex(vector("frame/client/ingest_hello_world"), "payload_hex"));
    // An ingest to an unknown topic: the captured ErrorResponse frame.
    c.send(&ingest(7, 999_999, b"x"));
    assert_eq!(c.recv_raw(57), vhex(vector("frame/server/error_unknown_topic")));
    // Create frame from the vectors gets the captured reply (JSON compared with created_at).
    c.send(&vhex(vector("frame/client/list_topics")));
    let f = c.recv();
    assert_eq!(f.header.batch_id, 0x80);
    let s = b.stats();
    assert_eq!((s.ingests_stored, s.acks_sent, s.keepalives_answered, s.errors_sent), (1, 1, 1, 1));
}

#[test]
fn stream_vectors() {
    let b = broker();
    let mut c = Client::connect(&b);
    assert_eq!(c.create("orders"), 1);
    assert_eq!(c.create("events"), 2);

    // Three pipelined ingests: three Acks, FIFO, in one write.
    let v = vector("frame/stream/three_acks_one_segment");
    c.send(&fhex(v, "request_hex"));
    let want = vhex(v);
    assert_eq!(want, [ack_bytes(1002), ack_bytes(1003), ack_bytes(1004)].concat());
    let mut buf = vec![0u8; 4096];
    let n = c.s.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], &want[..], "all three acks in one read");

    // [Ingest 2001, Keepalive, GetTopic, Ingest 2002 (unknown topic)] in one write.
    let v = vector("frame/stream/ordering_one_write");
    c.send(&fhex(v, "request_hex"));
    for (i, fv) in v["fields"]["frames"].as_array().unwrap().iter().enumerate() {
        let f = c.recv();
        assert_eq!(f.header.flags as u64, fv["flags"].as_u64().unwrap(), "frame {i}");
        assert_eq!(f.header.batch_id.to_string(), fv["batch_id"].as_str().unwrap(), "frame {i}");
        let want = hex(fv["payload_hex"].as_str().unwrap());
        if f.header.batch_id == 0x80 {
            let mut a: Value = serde_json::from_slice(&f.payload).unwrap();
            let w: Value = serde_json::from_slice(&want).unwrap();
            a["created_at"] = w["created_at"].clone();
            assert_eq!(a, w);
        } else {
            assert_eq!(f.payload, want, "frame {i}");
        }
    }

    // [Ingest 3001 (unknown topic), Ingest 3002]: ErrorResponse, then Ack 3002, byte for byte.
    let v = vector("frame/stream/error_then_ack");
    c.send(&fhex(v, "request_hex"));
    let want = vhex(v);
    assert_eq!(c.recv_raw(want.len()), want);
}

#[test]
fn acks_wait_for_durability_and_immediate_replies_overtake() {
    let b = broker_with(|c| c.ack_delay = Duration::from_millis(150));
    let mut c = Client::connect(&b);
    let mut reader = Client::connect(&b);
    let t = reader.create("t");
    let payload = rec(1, b"hello");
    let mut w = ingest(1, t, &payload);
    w.extend_from_slice(&keepalive());
    w.extend_from_slice(&ctl(0x03, &[]));
    let start = Instant::now();
    c.send(&w);
    assert_eq!(c.recv().header.flags, flags::KEEPALIVE);
    assert_eq!(c.recv().header.batch_id, 0x80);
    // Not visible before its Ack.
    assert_eq!(reader.fetch_data(t, 0, 100), (0, vec![]));
    assert!(start.elapsed() < Duration::from_millis(140), "immediate replies were delayed");
    c.expect_ack(1);
    assert!(start.elapsed() >= Duration::from_millis(140), "ack came early: {:?}", start.elapsed());
    assert_eq!(reader.fetch_data(t, 0, 100), (payload.len() as u64, payload.clone()));
    // set_ack_delay takes effect at once.
    b.set_ack_delay(Duration::ZERO);
    let start = Instant::now();
    c.send(&ingest(2, t, &payload));
    c.expect_ack(2);
    assert!(start.elapsed() < Duration::from_millis(140));
}

#[test]
fn ingest_edge_cases() {
    let b = broker();
    let mut c = Client::connect(&b);
    let t = c.create("t");
    // Empty payload: silently dropped (no Ack, no error) — the Ack of the next batch comes first.
    let mut w = ingest(1, t, &[]);
    w.extend_from_slice(&keepalive());
    c.send(&w);
    assert_eq!(c.recv().header.flags, flags::KEEPALIVE);
    c.send(&ingest(2, t, b"x"));
    c.expect_ack(2);
    // Unknown topic comes before the empty check; nothing is stored.
    c.send(&ingest(3, 99, &[]));
    assert_eq!(err_text(&c.recv()), "Unknown topic");
    c.send(&ingest(4, 99, b"abc"));
    assert_eq!(err_text(&c.recv()), "Unknown topic");
    // Batch id 0 and duplicates are accepted; payloads appended verbatim (non-TLV too).
    c.send(&ingest(0, t, b"y"));
    c.expect_ack(0);
    c.send(&ingest(0, t, b"z"));
    c.expect_ack(0);
    // Topic 0: acked and stored, never fetchable.
    c.send(&ingest(5, 0, b"zero"));
    c.expect_ack(5);
    assert_eq!(b.topic_log(0).unwrap(), b"zero");
    assert_eq!(err_text(&c.fetch(0, 0, 10)), "Topic 0 not found");
    // Flags 0x00 / 0x01 / 0x02 with a payload are ingests, stored as is.
    for (i, fl) in [0x00u8, 0x01, 0x02].into_iter().enumerate() {
        c.send(&frame(Checksum::Crc32, fl, 10 + i as u64, t, b"f"));
        c.expect_ack(10 + i as u64);
    }
    // Client Ack, backpressure, unknown and 0x0C-with-payload frames: no reply.
    // 0x24 with a payload and 0xA0 are keepalives.
    let mut w = frame(Checksum::Crc32, flags::ACK, 1, 0, &[]);
    w.extend(frame(Checksum::Crc32, flags::BACKPRESSURE, 1, 0, &[]));
    w.extend(frame(Checksum::Crc32, 0x00, 1, 0, &[]));
    w.extend(frame(Checksum::Crc32, 0x80, 1, 0, &[]));
    w.extend(frame(Checksum::Crc32, 0x0C, 1, t, b"not stored"));
    w.extend(frame(Checksum::Crc32, 0x24, 1, t, b"not stored"));
    w.extend(frame(Checksum::Crc32, 0xA0, 1, 0, &[]));
    c.send(&w);
    for _ in 0..2 {
        let f = c.recv();
        assert_eq!(f.header.flags, flags::KEEPALIVE);
        assert_eq!(f.header.payload_length, 0);
    }
    c.send(&ingest(20, t, b"!"));
    c.expect_ack(20);
    assert_eq!(b.topic_log(t).unwrap(), b"xyzfff!");
    assert_eq!(b.topic_log(99), None);
}

#[test]
fn fatal_closes_on_reject_vectors() {
    let b = broker();
    let crc32c = broker_with(|c| c.checksum = Checksum::Crc32c);
    let mut n = 0;
    for v in vectors().iter().filter(|v| v["kind"] == "reject") {
        let target = if v["fields"]["checksum_mode"] == "crc32c" { &crc32c } else { &b };
        let mut c = Client::connect(target);
        c.send(&vhex(v));
        c.expect_closed_silently();
        n += 1;
    }
    assert!(n >= 9);
    assert_eq!(b.stats().fatal_closes + crc32c.stats().fatal_closes, n);
    // The broker keeps serving new connections.
    assert_eq!(Client::connect(&b).call(0x03, &[]).payload, b"{\"topics\":[]}");
    // A payload checksum mismatch on a control frame closes too.
    let mut c = Client::connect(&b);
    let mut f = ctl(0x01, b"abc");
    *f.last_mut().unwrap() ^= 1;
    c.send(&f);
    c.expect_closed_silently();
    // CRC-32C frames against the default mock.
    let mut c = Client::connect(&b);
    c.send(&vhex(vector("frame/crc32c/ingest_hello_world")));
    c.expect_closed_silently();
}

#[test]
fn crc32c_mode_speaks_crc32c_both_ways() {
    let b = broker_with(|c| c.checksum = Checksum::Crc32c);
    let mut c = Client::connect_cs(&b, Checksum::Crc32c);
    c.send(&frame(Checksum::Crc32c, flags::CONTROL, 1, 0, b"orders"));
    assert_eq!(c.recv().header.batch_id, 0x80);
    c.send(&vhex(vector("frame/crc32c/keepalive")));
    let reply = c.recv_raw(44);
    assert_eq!(reply, vhex(vector("frame/crc32c/keepalive")), "keepalive reply in crc32c");
    c.send(&vhex(vector("frame/crc32c/ingest_hello_world")));
    let ack = c.recv_raw(44);
    assert_eq!(&ack[8..12], &[0xda, 0x4e, 0xb7, 0x7a]);
    assert_eq!(u64::from_le_bytes(ack[12..20].try_into().unwrap()), 1001);
    // A standard (IEEE) frame is fatal here.
    c.send(&keepalive());
    c.expect_closed_silently();
}

#[test]
fn oversize_closes_before_payload_and_exact_limit_is_accepted() {
    let b = broker_with(|c| c.max_payload = 1024);
    let mut c = Client::connect(&b);
    let t = c.create("t");
    c.send(&ingest(1, t, &vec![7u8; 1024]));
    c.expect_ack(1);
    // Only the header of an over-limit frame is sent: the mock closes without waiting.
    let f = ingest(2, t, &vec![7u8; 1025]);
    c.send(&f[..44]);
    c.expect_closed_silently();
    // The default limit, with the captured header (payload_length 16 MiB + 1).
    let d = broker();
    let mut c = Client::connect(&d);
    c.send(&vhex(vector("reject/oversize_length")));
    c.expect_closed_silently();
}

#[test]
fn fatal_frame_after_good_ingest_stores_without_ack() {
    let b = broker();
    let mut c = Client::connect(&b);
    let t = c.create("t");
    let mut w = keepalive();
    w.extend(ingest(1, t, b"good"));
    let mut bad = ingest(2, t, b"bad!");
    *bad.last_mut().unwrap() ^= 0xFF;
    w.extend(bad);
    w.extend(ingest(3, t, b"never"));
    c.send(&w);
    // The keepalive reply was immediate; the Ack is lost with the connection.
    assert_eq!(c.recv_raw(44), vhex(vector("frame/server/keepalive_reply")));
    assert_eq!(c.expect_closed(), b"");
    wait_until("stored", || b.topic_log(t).unwrap() == b"good");
    assert_eq!(b.stats().acks_sent, 0);
}

#[test]
fn frames_split_anywhere() {
    let b = broker();
    let mut c = Client::connect(&b);
    let t = c.create("t");
    let mut w = Vec::new();
    for i in 1..=5u64 {
        w.extend(ingest(i, t, &rec(1, format!("record-{i}").as_bytes())));
    }
    w.extend(keepalive());
    for chunk in w.chunks(7) {
        c.send(chunk);
        std::thread::sleep(Duration::from_micros(300));
    }
    let mut acks = 0;
    let mut keep = 0;
    while acks < 5 || keep < 1 {
        let f = c.recv();
        if f.header.flags == flags::ACK {
            acks += 1;
            assert_eq!(f.header.batch_id, acks, "FIFO");
        } else {
            assert_eq!(f.header.flags, flags::KEEPALIVE);
            keep += 1;
        }
    }
}

#[test]
fn auth_gates_ingest_only() {
    let b = broker_with(|c| c.auth_token = Some("s3cret".into()));
    let mut c = Client::connect(&b);
    // Control commands are never gated.
    let t = c.create("t");
    c.send(&ingest(1, t, b"x"));
    assert_eq!(err_text(&c.recv()), "Authentication required");
    // Auth comes before the unknown-topic check.
    c.send(&ingest(2, 999, b"x"));
    assert_eq!(err_text(&c.recv()), "Authentication required");
    let f = c.call(0x08, b"wrong");
    assert_eq!(f.payload, b"\x00Invalid token");
    c.send(&ingest(3, t, b"x"));
    assert_eq!(err_text(&c.recv()), "Authentication required");
    assert_eq!(c.call(0x08, b"s3cret").payload, b"\x01Authenticated");
    c.send(&ingest(4, t, b"x"));
    c.expect_ack(4);
    // A later failure does not revoke.
    assert_eq!(c.call(0x08, b"nope").payload, b"\x00Invalid token");
    c.send(&ingest(5, t, b"y"));
    c.expect_ack(5);
    // Per connection.
    let mut d = Client::connect(&b);
    d.send(&ingest(1, t, b"z"));
    assert_eq!(err_text(&d.recv()), "Authentication required");
    assert_eq!(d.fetch_data(t, 0, 10), (2, b"xy".to_vec()));
    // write_only switches the check off.
    b.set_write_only(true);
    d.send(&ingest(2, t, b"z"));
    d.expect_ack(2);
    b.set_write_only(false);
    d.send(&ingest(3, t, b"z"));
    assert_eq!(err_text(&d.recv()), "Authentication required");
    b.require_token(None);
    d.send(&ingest(4, t, b"w"));
    d.expect_ack(4);
    // Auth disabled: any non-empty UTF-8 token succeeds.
    assert_eq!(d.call(0x08, b"anything").payload, b"\x01Authenticated");
    assert_eq!(d.call(0x08, b"").payload, b"\x00No token provided");
    assert_eq!(d.call(0x08, b"\xff\xfe").payload, b"\x00Invalid token encoding");
    b.require_token(Some("new".into()));
    let mut e = Client::connect(&b);
    e.send(&ingest(1, t, b"z"));
    assert_eq!(err_text(&e.recv()), "Authentication required");
}

// ---------------------------------------------------------------- restart and retention (§3.5, §5.1)

#[test]
fn restart_truncates_unparsable_tail() {
    let b = broker();
    let addr = b.address();
    let mut c = Client::connect(&b);
    let t = c.create("orders");
    let u = c.create("python");
    let v = c.create("survivor");
    let w = c.create("gone");
    // A valid batch, then non-TLV bytes, then another valid batch: everything from the garbage on
    // is lost.
    let good = [rec(1, b"a1"), rec(2, b"{\"k\":1}")].concat();
    c.send(&ingest(1, t, &good));
    c.expect_ack(1);
    c.send(&ingest(2, t, b"raw bytes, not TLV"));
    c.expect_ack(2);
    c.send(&ingest(3, t, &rec(1, b"later")));
    c.expect_ack(3);
    // The Python null record: 01 p1 | ff 00000000 | 01 p2 → cut at offset 7.
    let py = hex("01020000007031ff0000000001020000007032");
    c.send(&ingest(4, u, &py));
    c.expect_ack(4);
    // Standard records, tombstones and envelopes survive (vector conventions_survive_restart).
    let conv = hex(vector("tlv_decode/conventions_survive_restart")["hex"].as_str().unwrap());
    c.send(&ingest(5, v, &conv));
    c.expect_ack(5);
    // Server-side commits are forgotten; the id counter resumes at the highest id + 1.
    let commit = control::Request::CommitOffset { topic_id: t, consumer_id: 7, offset: 42 }.payload();
    c.call(0x22, &commit);
    c.json(0x02, &w.to_le_bytes());
    let sr = control::Request::SetRetention { topic_id: t, max_age_secs: 5, max_bytes: 6 }.payload();
    c.json(0x05, &sr);

    b.restart();
    assert_eq!(c.expect_closed(), b"");
    assert_eq!(b.address(), addr);
    assert_eq!(b.topic_log(t).unwrap(), good);
    assert_eq!(b.topic_log(u).unwrap(), hex("01020000007031"));
    assert_eq!(b.topic_log(v).unwrap(), conv);
    let mut c = Client::connect(&b);
    assert_eq!(c.fetch_data(t, 0, 1000), (good.len() as u64, good.clone()));
    let sub =
        control::Request::Subscribe { topic_id: t, start_offset: 0, max_batch_bytes: 1, consumer_id: 7 }.payload();
    assert_eq!(control::decode_consumer_ack(&c.call(0x20, &sub).payload).unwrap(), (7, 0));
    assert_eq!(c.create("after"), 4);
    // New writes go to a new segment after the sealed one; the log continues.
    c.send(&ingest(1, t, &rec(1, b"new")));
    c.expect_ack(1);
    assert_eq!(b.topic_log(t).unwrap(), [good.clone(), rec(1, b"new")].concat());
    assert_eq!(b.stats().restarts, 1);
}

#[test]
fn restart_cuts_pending_acks_but_keeps_data() {
    let b = broker_with(|c| c.ack_delay = Duration::from_millis(300));
    let mut c = Client::connect(&b);
    let t = b.create_topic("t").unwrap();
    c.send(&ingest(1, t, &rec(1, b"x")));
    std::thread::sleep(Duration::from_millis(50));
    b.restart();
    assert_eq!(c.expect_closed(), b"");
    assert_eq!(b.topic_log(t).unwrap(), rec(1, b"x"));
    assert_eq!(b.stats().acks_sent, 0);
}

#[test]
fn retention_deletes_closed_segments_and_shifts_offsets() {
    let b = broker_with(|c| c.segment_bytes = 10);
    let mut c = Client::connect(&b);
    let t = c.create("t");
    let batches: Vec<Vec<u8>> = (0..3).map(|i| rec(1, format!("batch-{i}").as_bytes())).collect(); // 12 bytes each
    for (i, p) in batches.iter().enumerate() {
        c.send(&ingest(i as u64 + 1, t, p));
        c.expect_ack(i as u64 + 1);
    }
    c.send(&ingest(9, t, &rec(1, b"")));
    c.expect_ack(9); // 5 bytes, the active segment
    assert_eq!(b.topic_log(t).unwrap().len(), 41);
    // No retention set: nothing happens.
    assert_eq!(b.run_retention(), 0);
    // "Unlimited" as liblnc encodes it deletes nothing.
    let set = |c: &mut Client, age: u64, bytes: u64| {
        c.json(0x05, &control::Request::SetRetention { topic_id: t, max_age_secs: age, max_bytes: bytes }.payload());
    };
    set(&mut c, 18_446_744_073, u64::MAX);
    assert_eq!(b.run_retention(), 0);
    // max_bytes: oldest closed segments until the total is <= 20.
    set(&mut c, 18_446_744_073, 20);
    assert_eq!(b.run_retention(), 24);
    assert_eq!(b.topic_log(t).unwrap(), [batches[2].clone(), rec(1, b"")].concat());
    assert_eq!(c.fetch_data(t, 0, 12), (12, batches[2].clone()));
    // An old position is now past the end.
    let f = c.fetch(t, 36, 100);
    assert_eq!((f.header.batch_id, control::decode_catching_up(&f.payload).unwrap()), (0x12, 17));
    // max_age 2^63 s wraps to 0 ns: every closed segment goes; the active one stays.
    set(&mut c, 1 << 63, u64::MAX);
    assert_eq!(b.run_retention(), 12);
    assert_eq!(b.topic_log(t).unwrap(), rec(1, b""));
    // 0 deletes every closed segment but never the active one.
    set(&mut c, 0, 0);
    assert_eq!(b.run_retention(), 0);
    assert_eq!(b.topic_log(t).unwrap(), rec(1, b""));
}

#[test]
fn truncate_front_shifts_offsets() {
    let b = broker();
    let mut c = Client::connect(&b);
    let t = c.create("t");
    c.send(&ingest(1, t, b"0123456789"));
    c.expect_ack(1);
    assert_eq!(b.truncate_front(t, 4), Some(4));
    assert_eq!(c.fetch_data(t, 0, 100), (6, b"456789".to_vec()));
    let f = c.fetch(t, 8, 100);
    assert_eq!(f.header.batch_id, 0x12);
    assert_eq!(b.truncate_front(t, 100), Some(6));
    assert_eq!(b.truncate_front(77, 1), None);
    assert_eq!(c.fetch_data(t, 0, 100), (0, vec![]));
}

// ---------------------------------------------------------------- fault injection (design.md §7)

#[test]
fn fault_drop_after_frames() {
    let b = broker();
    let mut c = Client::connect(&b);
    let t = c.create("t");
    b.drop_after_frames(3);
    c.send(&ingest(1, t, b"a"));
    c.expect_ack(1);
    c.send(&keepalive());
    c.recv();
    // The third frame: stored, connection closed, Ack never sent.
    c.send(&ingest(2, t, b"b"));
    assert_eq!(c.expect_closed(), b"");
    assert_eq!(b.topic_log(t).unwrap(), b"ab");
    // Disarmed after firing.
    let mut d = Client::connect(&b);
    for i in 0..5 {
        d.send(&ingest(10 + i, t, b"c"));
        d.expect_ack(10 + i);
    }
    assert_eq!(b.stats().injected_drops, 1);
    // A whole read is dispatched before the cut.
    b.drop_after_frames(1);
    let mut w = keepalive();
    w.extend(ingest(20, t, b"d"));
    d.send(&w);
    assert_eq!(d.expect_closed(), vhex(vector("frame/server/keepalive_reply")));
    assert_eq!(b.topic_log(t).unwrap(), b"abcccccd");
}

#[test]
fn fault_drop_after_bytes() {
    let b = broker();
    let mut c = Client::connect(&b);
    let t = c.create("t");
    let f1 = ingest(1, t, b"first");
    let f2 = ingest(2, t, b"second");
    b.drop_after_bytes((f1.len() + 10) as u64);
    c.send(&f1);
    c.expect_ack(1);
    // The cut lands 10 bytes into the second frame: it is never seen.
    c.send(&f2);
    assert_eq!(c.expect_closed(), b"");
    assert_eq!(b.topic_log(t).unwrap(), b"first");
    // Exactly at a frame end: the frame is dispatched (stored) but not acked.
    let mut d = Client::connect(&b);
    b.drop_after_bytes(f2.len() as u64);
    d.send(&f2);
    assert_eq!(d.expect_closed(), b"");
    assert_eq!(b.topic_log(t).unwrap(), b"firstsecond");
    let mut e = Client::connect(&b);
    e.send(&ingest(3, t, b"!"));
    e.expect_ack(3);
}

#[test]
fn fault_disconnect_all() {
    let b = broker();
    let mut c1 = Client::connect(&b);
    let mut c2 = Client::connect(&b);
    c1.create("t");
    c2.call(0x03, &[]);
    wait_until("two open", || b.stats().connections_open == 2);
    b.disconnect_all();
    c1.expect_closed();
    c2.expect_closed();
    assert_eq!(b.stats().connections_open, 0);
    let mut c3 = Client::connect(&b);
    assert_eq!(c3.create("u"), 2);
    assert_eq!(b.stats().connections_accepted, 3);
}

#[test]
fn fault_drop_next_acks() {
    let b = broker();
    let mut c = Client::connect(&b);
    let t = c.create("t");
    b.drop_next_acks(2);
    let mut w = ingest(1, t, b"a");
    w.extend(ingest(2, t, b"b"));
    w.extend(ingest(3, t, b"c"));
    c.send(&w);
    // Batches 1 and 2 are stored but never acked; the connection stays open.
    c.expect_ack(3);
    c.expect_silence(50);
    assert_eq!(b.topic_log(t).unwrap(), b"abc");
    c.send(&ingest(4, t, b"d"));
    c.expect_ack(4);
    let s = b.stats();
    assert_eq!((s.acks_sent, s.acks_dropped, s.ingests_stored), (2, 2, 4));
}

#[test]
fn fault_fail_next_ingests() {
    let b = broker();
    let mut c = Client::connect(&b);
    let t = c.create("t");
    b.fail_next_ingests(1, "FORWARD_FAILED: Forward operation timed out", true);
    c.send(&ingest(1, t, b"a"));
    assert_eq!(err_text(&c.recv()), "FORWARD_FAILED: Forward operation timed out");
    c.send(&ingest(2, t, b"b"));
    c.expect_ack(2);
    assert_eq!(b.topic_log(t).unwrap(), b"ab", "stored anyway");
    let redirect = format!("NOT_LEADER: redirect to {}", b.address_string());
    b.fail_next_ingests(2, &redirect, false);
    // Empty ingests are not counted (and stay silent).
    let mut w = ingest(3, t, &[]);
    w.extend(ingest(4, t, b"c"));
    w.extend(ingest(5, t, b"d"));
    w.extend(ingest(6, t, b"e"));
    c.send(&w);
    assert_eq!(err_text(&c.recv()), redirect);
    assert_eq!(err_text(&c.recv()), redirect);
    c.expect_ack(6);
    assert_eq!(b.topic_log(t).unwrap(), b"abe");
}

#[test]
fn fault_fail_next_requests_and_force_catching_up() {
    let (b, mut c) = fetch_fixture();
    b.fail_next_requests(2, "FORWARD_FAILED: Leader not ready (apply/metadata catch-up)");
    assert_eq!(c.call_err(0x03, &[]), "FORWARD_FAILED: Leader not ready (apply/metadata catch-up)");
    assert_eq!(
        c.call_err(0x10, &fetch_payload(1, 0, 10)),
        "FORWARD_FAILED: Leader not ready (apply/metadata catch-up)"
    );
    // Authenticate is not affected; and the count is spent.
    b.fail_next_requests(1, "X");
    assert_eq!(c.call(0x08, b"tok").payload, b"\x01Authenticated");
    assert_eq!(c.call_err(0x01, b"never-created"), "X");
    assert_eq!(b.topic_id_by_name("never-created"), None);
    assert_eq!(c.fetch_data(1, 0, 7).0, 7);

    b.force_catching_up(2);
    // Empty answers are not data fetches and do not use the count.
    assert_eq!(c.fetch_data(1, 78, 10), (78, vec![]));
    for _ in 0..2 {
        let f = c.fetch(1, 0, 10);
        assert_eq!((f.header.batch_id, control::decode_catching_up(&f.payload).unwrap()), (0x12, 78));
    }
    assert_eq!(c.fetch_data(1, 0, 10).0, 10);
}

#[test]
fn fault_stall_reading_gives_tcp_backpressure() {
    let b = broker();
    let mut c = Client::connect(&b);
    let t = c.create("t");
    b.stall_reading(true);
    std::thread::sleep(Duration::from_millis(30));
    c.s.set_nonblocking(true).unwrap();
    let payload = vec![1u8; 60_000];
    let mut sent_frames = 0u64;
    let partial: (Vec<u8>, usize);
    let deadline = Instant::now() + TIMEOUT;
    'outer: loop {
        let f = ingest(sent_frames + 1, t, &payload);
        let mut off = 0;
        while off < f.len() {
            match c.s.write(&f[off..]) {
                Ok(n) => off += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    partial = (f, off);
                    break 'outer;
                }
                Err(e) => panic!("{e}"),
            }
        }
        sent_frames += 1;
        assert!(Instant::now() < deadline, "writes never blocked");
    }
    assert!(sent_frames >= 1);
    c.s.set_nonblocking(false).unwrap();
    // Resume: everything is read and acked, in order.
    b.stall_reading(false);
    let (f, off) = partial;
    c.send(&f[off..]);
    for i in 1..=sent_frames + 1 {
        c.expect_ack(i);
    }
    assert_eq!(b.topic_log(t).unwrap().len(), 60_000 * (sent_frames as usize + 1));
}

#[test]
fn stats_count() {
    let b = broker();
    let mut c = Client::connect(&b);
    let t = c.create("t");
    c.send(&ingest(1, t, b"abc"));
    c.expect_ack(1);
    c.send(&ingest(2, 99, b"abc"));
    c.recv();
    c.send(&keepalive());
    c.recv();
    c.fetch_data(t, 0, 10);
    let s = b.stats();
    assert_eq!(s.connections_accepted, 1);
    assert_eq!(s.connections_open, 1);
    assert_eq!(s.frames_received, 5);
    assert_eq!(s.ingests_received, 2);
    assert_eq!((s.ingests_stored, s.bytes_stored, s.acks_sent, s.errors_sent), (1, 3, 1, 1));
    assert_eq!((s.keepalives_answered, s.control_requests, s.fetches_served, s.fetch_bytes_served), (1, 2, 1, 3));
    assert!(s.bytes_received > 5 * 44);
}

/// Random frames with valid checksums (random flags, codes, payloads) never crash the mock.
#[test]
fn robust_against_random_frames() {
    let b = broker_with(|c| c.max_payload = 4096);
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut c = Client::connect(&b);
    c.create("t");
    for round in 0..400 {
        let fl = (rnd() & 0xFF) as u8 & !flags::INGEST;
        let code =
            [0x01u8, 0x02, 0x04, 0x05, 0x06, 0x08, 0x10, 0x20, 0x21, 0x22, (rnd() & 0xFF) as u8][(rnd() % 11) as usize];
        let len = (rnd() % 40) as usize;
        let payload: Vec<u8> = (0..len).map(|_| rnd() as u8).collect();
        let f = frame(
            Checksum::Crc32,
            fl | (flags::CONTROL * ((round % 2) as u8)),
            code as u64,
            (rnd() % 3) as u32,
            &payload,
        );
        c.s.write_all(&f).unwrap();
        if round % 50 == 0 {
            // Drain replies now and then so neither side blocks; a commit with a unique consumer
            // id marks the end (Acks of the same read may still follow it).
            let marker = 0x00C0_FFEE_0000 + round as u64;
            c.send(&ctl(
                0x22,
                &control::Request::CommitOffset { topic_id: 1, consumer_id: marker, offset: 1 }.payload(),
            ));
            let deadline = Instant::now() + TIMEOUT;
            loop {
                let f = c.recv();
                if f.header.batch_id == 0x24 && f.payload.starts_with(&marker.to_le_bytes()) {
                    break;
                }
                assert!(Instant::now() < deadline);
            }
        }
    }
    c.send(&ctl(0x03, &[]));
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let f = c.recv();
        if f.header.flags == flags::CONTROL && f.header.batch_id == 0x80 && f.payload.starts_with(b"{\"topics\"") {
            break;
        }
        assert!(Instant::now() < deadline);
    }
    assert_eq!(Client::connect(&b).call(0x03, &[]).header.batch_id, 0x80);
}
