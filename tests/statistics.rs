//! Statistics: HDR quantiles against raw samples, the documents against
//! `docs/statistics.schema.json` on a live mock, counters against delivery reports and consumed
//! records, connection slots through a broker restart, and the schema checker's own teeth.

#[path = "support/json_schema.rs"]
mod json_schema;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lnc::mock::{MockBroker, MockConfig};
use lnc::stats::{LatencyHistogram, LinkState};
use lnc::{Config, DeliveryReport, Message, Producer, StandaloneConsumer};
use serde_json::Value;

fn schema() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/statistics.schema.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn assert_valid(json: &str) -> Value {
    let doc: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON ({e}): {json}"));
    if let Err(errors) = json_schema::check(&schema(), &doc) {
        panic!("document does not match docs/statistics.schema.json:\n{}\n{json}", errors.join("\n"));
    }
    doc
}

fn mock(ack_delay: Duration) -> MockBroker {
    MockBroker::start(MockConfig { ack_delay, ..MockConfig::default() }).unwrap()
}

fn config(m: &MockBroker, extra: &[(&str, &str)]) -> Config {
    let mut c = Config::new();
    c.set("bootstrap.servers", &m.address_string()).unwrap();
    for (k, v) in extra {
        c.set(k, v).unwrap();
    }
    c
}

/// The nearest-rank quantile: the `ceil(q·n)`-th smallest sample.
fn nearest_rank(sorted: &[u64], q: f64) -> u64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[test]
fn quantiles_are_within_one_percent_of_raw_samples() {
    // A latency-like mix: a fast body around 80 µs–2 ms and a slow tail up to 600 ms, from a
    // fixed-seed generator so a failure reproduces.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut h = LatencyHistogram::new();
    let mut raw = Vec::new();
    for _ in 0..200_000 {
        let r = next();
        let us = if r % 100 < 97 { 80 + r % 2_000 } else { 2_000 + (r >> 8) % 600_000 };
        h.record(Duration::from_micros(us));
        raw.push(us);
    }
    raw.sort_unstable();
    let s = h.summary();
    for (name, q, got) in
        [("p50", 0.5, s.p50_us), ("p90", 0.9, s.p90_us), ("p99", 0.99, s.p99_us), ("p999", 0.999, s.p999_us)]
    {
        let want = nearest_rank(&raw, q);
        let err = got.abs_diff(want) as f64 / want as f64;
        assert!(err <= 0.01, "{name}: reported {got} µs, raw samples say {want} µs ({:.3} %)", err * 100.0);
    }
    let max = *raw.last().unwrap();
    assert!(s.max_us.abs_diff(max) as f64 <= max as f64 * 0.01, "max {} vs {max}", s.max_us);
    assert!(s.p50_us < s.p90_us && s.p90_us < s.p99_us && s.p99_us < s.p999_us, "{s:?}");
}

#[test]
fn producer_quantiles_follow_the_ack_delays() {
    // Acks take 2 ms for the first 90 records and 40 ms for the last 10: p50 and p90 measure
    // the fast ones, p99 and max the slow ones (one record per send_sync, so one value each).
    let m = mock(Duration::from_millis(2));
    let t = m.create_topic("lat").unwrap();
    let p = Producer::new(&config(&m, &[("linger.ms", "0")])).unwrap();
    for i in 0..100u32 {
        if i == 90 {
            m.set_ack_delay(Duration::from_millis(40));
        }
        p.send_sync(t, &Message::raw(&i.to_be_bytes()), Duration::from_secs(10)).unwrap();
    }
    let mm = p.metrics();
    assert!((2_000..20_000).contains(&mm.ack_latency_p50_us), "{mm:?}");
    assert!((2_000..20_000).contains(&mm.ack_latency_p90_us), "{mm:?}");
    assert!(mm.ack_latency_p99_us >= 40_000 && mm.ack_latency_max_us >= mm.ack_latency_p99_us, "{mm:?}");
    assert!(mm.ack_latency_p999_us >= mm.ack_latency_p99_us, "{mm:?}");
    let doc = assert_valid(&p.statistics_json());
    assert_eq!(doc["ack_latency"]["count"], 100);
    assert_eq!(doc["ack_latency"]["p50_us"], mm.ack_latency_p50_us);
    p.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn producer_document_matches_schema_and_reports() {
    let m = mock(Duration::ZERO);
    let t = m.create_topic("docs").unwrap();
    let reports: Arc<Mutex<Vec<DeliveryReport>>> = Arc::default();
    let r2 = reports.clone();
    let c = config(&m, &[("linger.ms", "1"), ("connections", "2"), ("keepalive.interval.ms", "50")]);
    let p = Producer::with_callback(&c, move |r| r2.lock().unwrap().push(r.clone())).unwrap();
    let fresh = assert_valid(&p.statistics_json());
    assert_eq!((fresh["version"].as_u64(), fresh["kind"].as_str()), (Some(1), Some("producer")));
    assert_eq!(fresh["records_sent"], 0);
    for i in 0..5_000u32 {
        p.send(t, &Message::raw(format!("value-{i:06}").as_bytes()), i as u64).unwrap();
    }
    p.flush(Duration::from_secs(30)).unwrap();
    std::thread::sleep(Duration::from_millis(200)); // idle: keepalives measure the round trip
    let doc = assert_valid(&p.statistics_json());
    let reps = reports.lock().unwrap();
    let ok = reps.iter().filter(|r| r.error.is_none()).count() as u64;
    let ok_bytes = 5_000 * "value-000000".len() as u64;
    assert_eq!(doc["records_acked"], ok);
    assert_eq!(doc["records_acked"], 5_000);
    assert!(doc["bytes_acked"].as_u64().unwrap() >= ok_bytes, "{doc}");
    assert_eq!(doc["records_failed"], 0);
    assert_eq!((doc["outstanding_records"].as_u64(), doc["in_flight_batches"].as_u64()), (Some(0), Some(0)));
    assert_eq!(doc["ack_latency"]["count"], 5_000);
    let conns = doc["connections"].as_array().unwrap();
    let lanes = conns.len();
    assert!(lanes >= 1, "{doc}");
    let used: Vec<&Value> = conns.iter().filter(|c| c["connects"].as_u64() > Some(0)).collect();
    assert!(!used.is_empty(), "{doc}");
    for c in &used {
        assert_eq!(c["state"], "connected");
        assert_eq!(c["server"], m.address_string());
        assert!(c["bytes_out"].as_u64().unwrap() > 0 && c["bytes_in"].as_u64().unwrap() > 0, "{c}");
        assert!(c["rtt"]["samples"].as_u64().unwrap() > 0, "idle 200 ms with keepalive.interval.ms=50: {c}");
    }
    drop(reps);
    p.close(Duration::from_secs(5)).unwrap();
    let closed = assert_valid(&p.statistics_json());
    assert_eq!(closed["records_acked"], 5_000);
    for c in closed["connections"].as_array().unwrap().iter().filter(|c| c["connects"].as_u64() > Some(0)) {
        assert_eq!(c["state"], "disconnected", "{c}");
        assert_eq!(c["disconnects"], c["connects"], "{c}");
    }
}

#[test]
fn consumer_document_matches_schema_and_what_was_polled() {
    let m = mock(Duration::ZERO);
    let t = m.create_topic("cons").unwrap();
    let p = Producer::new(&config(&m, &[("linger.ms", "1")])).unwrap();
    for i in 0..3_000u32 {
        p.send(t, &Message::raw(format!("v{i:05}").as_bytes()), 0).unwrap();
    }
    p.flush(Duration::from_secs(30)).unwrap();
    p.close(Duration::from_secs(5)).unwrap();
    let c = StandaloneConsumer::new(&config(&m, &[("topic.id", &t.to_string()), ("fetch.max.bytes", "5000")])).unwrap();
    let fresh = assert_valid(&c.statistics_json());
    assert_eq!((fresh["kind"].as_str(), fresh["topic_id"].as_u64()), (Some("consumer"), Some(t as u64)));
    let (mut got, mut bytes) = (0u64, 0u64);
    let deadline = Instant::now() + Duration::from_secs(30);
    while got < 3_000 && Instant::now() < deadline {
        for r in c.poll(Duration::from_millis(200)).unwrap() {
            got += 1;
            bytes += r.value.len() as u64;
        }
    }
    assert_eq!(got, 3_000);
    // Let the fetcher reach the tail (an empty fetch tells the end).
    let until = Instant::now() + Duration::from_secs(10);
    while c.metrics().empty_fetches == 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    let doc = assert_valid(&c.statistics_json());
    assert_eq!((doc["records"].as_u64(), doc["bytes"].as_u64()), (Some(got), Some(bytes)));
    assert_eq!(doc["position"].as_u64(), Some(c.position()));
    assert_eq!(doc["end_offset"].as_u64(), Some(c.position()), "{doc}");
    assert_eq!(doc["lag"], 0);
    assert!(doc["fetches"].as_u64().unwrap() >= 3_000 * 10 / 5_000, "{doc}");
    assert!(doc["empty_fetches"].as_u64().unwrap() >= 1);
    assert!(doc["fetch_latency"]["count"].as_u64().unwrap() >= doc["fetches"].as_u64().unwrap() - 1);
    assert_eq!(doc["connections"][0]["name"], "consumer-fetch");
    assert_eq!(doc["connections"][0]["state"], "connected");
    let m2 = c.metrics();
    assert_eq!((m2.records, m2.reconnects, m2.queued_events), (3_000, 0, 0));
    c.close(Duration::from_secs(5)).unwrap();
    assert_valid(&c.statistics_json());
}

#[test]
fn connection_slots_count_a_broker_restart() {
    let m = mock(Duration::ZERO);
    let t = m.create_topic("restart").unwrap();
    let p = Producer::new(&config(&m, &[("linger.ms", "0"), ("reconnect.backoff.ms", "10")])).unwrap();
    p.send_sync(t, &Message::raw(b"before"), Duration::from_secs(10)).unwrap();
    m.restart();
    // The lane notices the cut and reconnects for the next record.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = p.send_sync(t, &Message::raw(b"after"), Duration::from_secs(5));
        let s = p.statistics();
        let lane = s.connections.iter().find(|c| c.connects > 0).unwrap();
        if r.is_ok() && lane.connects >= 2 {
            assert!(lane.disconnects >= 1, "{lane:?}");
            assert_eq!(lane.state, LinkState::Connected);
            break;
        }
        assert!(Instant::now() < deadline, "no reconnect counted: {s:?}");
    }
    assert_valid(&p.statistics_json());
    p.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn statistics_race_close_from_several_threads() {
    let m = mock(Duration::ZERO);
    let t = m.create_topic("race").unwrap();
    for _ in 0..5 {
        let p = Arc::new(Producer::new(&config(&m, &[("linger.ms", "1")])).unwrap());
        let c = Arc::new(
            StandaloneConsumer::new(&config(&m, &[("topic.id", &t.to_string()), ("fetch.max.wait.ms", "5")])).unwrap(),
        );
        let accepted = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut threads = Vec::new();
        for k in 0..4 {
            let (p, c, accepted) = (p.clone(), c.clone(), accepted.clone());
            threads.push(std::thread::spawn(move || {
                for i in 0..300u32 {
                    match k {
                        0 => {
                            if p.send(t, &Message::raw(&i.to_be_bytes()), 0).is_ok() {
                                accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                        }
                        1 => {
                            let _ = c.poll(Duration::from_millis(1));
                        }
                        _ => {
                            serde_json::from_str::<Value>(&p.statistics_json()).unwrap();
                            serde_json::from_str::<Value>(&c.statistics_json()).unwrap();
                            let _ = (p.metrics(), c.metrics());
                        }
                    }
                }
            }));
        }
        std::thread::sleep(Duration::from_millis(5));
        let (pc, cc) = (p.clone(), c.clone());
        let closer = std::thread::spawn(move || {
            pc.close(Duration::from_secs(5)).unwrap();
            cc.close(Duration::from_secs(5)).unwrap();
        });
        for th in threads {
            th.join().unwrap();
        }
        closer.join().unwrap();
        // Every accepted record has its outcome in the counters once close returned.
        let doc = assert_valid(&p.statistics_json());
        let settled = doc["records_acked"].as_u64().unwrap() + doc["records_failed"].as_u64().unwrap();
        assert_eq!(settled, accepted.load(std::sync::atomic::Ordering::Relaxed), "{doc}");
        assert_eq!(doc["in_flight_batches"], 0, "{doc}");
        assert_valid(&c.statistics_json());
    }
}

#[test]
fn the_schema_checker_rejects_what_the_schema_forbids() {
    let m = mock(Duration::ZERO);
    let p = Producer::new(&config(&m, &[])).unwrap();
    let good: Value = serde_json::from_str(&p.statistics_json()).unwrap();
    assert!(json_schema::check(&schema(), &good).is_ok());
    let mut cases: Vec<(&str, Value)> = Vec::new();
    let mut v = good.clone();
    v.as_object_mut().unwrap().remove("records_acked");
    cases.push(("missing field", v));
    let mut v = good.clone();
    v["surprise"] = Value::from(1);
    cases.push(("unknown field", v));
    let mut v = good.clone();
    v["version"] = Value::from(2);
    cases.push(("other version", v));
    let mut v = good.clone();
    v["bytes_sent"] = Value::from("12");
    cases.push(("string for integer", v));
    let mut v = good.clone();
    v["connections"][0]["state"] = Value::from("sleeping");
    cases.push(("unknown state", v));
    let mut v = good.clone();
    v["kind"] = Value::from("consumer");
    cases.push(("producer fields under kind consumer", v));
    let mut v = good.clone();
    v["ack_latency"]["p50_us"] = Value::from(-1);
    cases.push(("negative", v));
    for (what, doc) in cases {
        assert!(json_schema::check(&schema(), &doc).is_err(), "{what} was accepted");
    }
}
