//! Producer → mock → consumer, end to end: records of random sizes (1 B … 1 MiB) and every type,
//! read back through small, odd fetch windows so every cut case happens. Each record must come
//! back exactly once, in order, byte-equal, at the offset its predecessors' sizes predict.

use std::time::{Duration, Instant};

use lnc::consumer::StandaloneConsumer;
use lnc::mock::{MockBroker, MockConfig};
use lnc::{Config, Message, Producer};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Log-uniform in 1..=max, so tiny and huge records both occur.
    fn size(&mut self, max: usize) -> usize {
        let bits = (usize::BITS - max.leading_zeros()) as u64;
        let b = 1 + self.next() % bits;
        ((self.next() % (1u64 << b)) as usize).clamp(1, max)
    }
}

/// What one sent record must look like when read back.
#[derive(Debug, PartialEq)]
struct Expect {
    record_type: u8,
    key: Option<Vec<u8>>,
    timestamp_ns: Option<u64>,
    data: Vec<u8>,
    tombstone: bool,
}

fn config(m: &MockBroker, extra: &[(&str, &str)]) -> Config {
    let mut c = Config::new();
    c.set("bootstrap.servers", &m.address_string()).unwrap();
    for (k, v) in extra {
        c.set(k, v).unwrap();
    }
    c
}

/// Produces `n` random records (sizes up to `max`) and returns what must come back.
fn produce(m: &MockBroker, topic: u32, n: usize, max: usize, rng: &mut Rng, extra: &[(&str, &str)]) -> Vec<Expect> {
    let p = Producer::new(&config(m, extra)).unwrap();
    let mut out = Vec::new();
    for i in 0..n {
        let size = rng.size(max);
        let mut value = vec![0u8; size];
        for (j, b) in value.iter_mut().enumerate() {
            *b = (i * 31 + j * 7) as u8;
        }
        let key = format!("key-{i}").into_bytes();
        let ts = 1_700_000_000_000_000_000 + i as u64;
        let (msg, e) = match rng.next() % 9 {
            0 => (
                Message::raw(&value),
                Expect { record_type: 0x01, key: None, timestamp_ns: None, data: value.clone(), tombstone: false },
            ),
            1 => (
                Message::json(&value),
                Expect { record_type: 0x02, key: None, timestamp_ns: None, data: value.clone(), tombstone: false },
            ),
            2 => (
                Message::msgpack(&value),
                Expect { record_type: 0x03, key: None, timestamp_ns: None, data: value.clone(), tombstone: false },
            ),
            3 => (
                Message::avro(&value),
                Expect { record_type: 0x05, key: None, timestamp_ns: None, data: value.clone(), tombstone: false },
            ),
            4 => (
                Message::key_value(&key, &value),
                Expect {
                    record_type: 0x10,
                    key: Some(key.clone()),
                    timestamp_ns: None,
                    data: value.clone(),
                    tombstone: false,
                },
            ),
            5 => (
                Message::timestamped(ts, &value),
                Expect { record_type: 0x11, key: None, timestamp_ns: Some(ts), data: value.clone(), tombstone: false },
            ),
            6 => (
                Message::key_timestamped(ts, &key, &value),
                Expect {
                    record_type: 0x12,
                    key: Some(key.clone()),
                    timestamp_ns: Some(ts),
                    data: value.clone(),
                    tombstone: false,
                },
            ),
            7 => (
                Message::of_type(0x80 + (i % 0x7f) as u8, &value),
                Expect {
                    record_type: 0x80 + (i % 0x7f) as u8,
                    key: None,
                    timestamp_ns: None,
                    data: value.clone(),
                    tombstone: false,
                },
            ),
            _ => (
                Message::tombstone(),
                Expect { record_type: 0xff, key: None, timestamp_ns: None, data: vec![], tombstone: true },
            ),
        };
        p.send(topic, &msg, i as u64).unwrap();
        out.push(e);
    }
    assert_eq!(p.flush(Duration::from_secs(60)).unwrap(), 0);
    let reports = p.poll_reports(usize::MAX, Duration::ZERO);
    assert_eq!(reports.len(), n);
    assert!(reports.iter().all(|r| r.error.is_none()), "every record acked");
    p.close(Duration::from_secs(5)).unwrap();
    out
}

/// Consumes the whole topic with `fetch` byte windows and checks it against `expected`.
fn consume_and_check(m: &MockBroker, topic: u32, expected: &[Expect], fetch: &str) {
    let c = StandaloneConsumer::new(&config(
        m,
        &[("topic.id", &topic.to_string()), ("fetch.max.bytes", fetch), ("start.offset", "beginning")],
    ))
    .unwrap();
    let log = m.topic_log(topic).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got = Vec::new();
    while got.len() < expected.len() {
        assert!(Instant::now() < deadline, "fetch {fetch}: {} of {} records", got.len(), expected.len());
        got.extend(c.poll(Duration::from_millis(200)).unwrap());
    }
    assert!(c.poll(Duration::from_millis(100)).unwrap().is_empty(), "fetch {fetch}: nothing beyond what was sent");
    let mut offset = 0u64;
    for (i, (r, e)) in got.iter().zip(expected).enumerate() {
        let actual = Expect {
            record_type: r.record_type,
            key: r.key().map(<[u8]>::to_vec),
            timestamp_ns: r.timestamp_ns(),
            data: r.data().to_vec(),
            tombstone: r.is_tombstone(),
        };
        assert!(
            actual == *e,
            "fetch {fetch}: record {i} differs: got type {:#x} len {}",
            r.record_type,
            r.data().len()
        );
        assert_eq!(r.offset, offset, "fetch {fetch}: record {i} offset");
        offset += r.encoded_len() as u64;
    }
    assert_eq!(offset, log.len() as u64, "fetch {fetch}: every byte of the log accounted for");
    assert_eq!(c.position(), offset);
    c.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn random_sizes_and_types_survive_every_fetch_cut() {
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    println!("seed {seed}");
    let mut rng = Rng(seed);
    let m = MockBroker::start(MockConfig { ack_delay: Duration::ZERO, ..MockConfig::default() }).unwrap();
    // Window sizes scale with record sizes so a 7-byte window does not need minutes.
    let small = m.create_topic("small").unwrap();
    let medium = m.create_topic("medium").unwrap();
    let large = m.create_topic("large").unwrap();
    let e_small = produce(&m, small, 300, 4096, &mut rng, &[]);
    let e_medium = produce(&m, medium, 150, 64 * 1024, &mut rng, &[("batch.size", "65536")]);
    let e_large = produce(&m, large, 40, 1024 * 1024, &mut rng, &[("batch.size", "262144")]);
    consume_and_check(&m, small, &e_small, "7");
    consume_and_check(&m, medium, &e_medium, "100");
    consume_and_check(&m, large, &e_large, "4097");
    consume_and_check(&m, large, &e_large, "1048576");
}

#[test]
fn compressed_batches_read_back_exactly() {
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let m = MockBroker::start(MockConfig { ack_delay: Duration::ZERO, ..MockConfig::default() }).unwrap();
    let t = m.create_topic("lz4").unwrap();
    let expected = produce(&m, t, 500, 2048, &mut rng, &[("compression", "lz4"), ("compression.min.bytes", "64")]);
    // Inner records of an envelope share its offset, so check content and order only here.
    for fetch in ["13", "4097"] {
        let c = StandaloneConsumer::new(&config(
            &m,
            &[("topic.id", &t.to_string()), ("fetch.max.bytes", fetch), ("start.offset", "beginning")],
        ))
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut got = Vec::new();
        while got.len() < expected.len() {
            assert!(Instant::now() < deadline, "fetch {fetch}: {} of {}", got.len(), expected.len());
            got.extend(c.poll(Duration::from_millis(200)).unwrap());
        }
        for (i, (r, e)) in got.iter().zip(&expected).enumerate() {
            assert_eq!((r.record_type, r.data()), (e.record_type, &e.data[..]), "fetch {fetch}: record {i}");
        }
        assert_eq!(c.position(), m.topic_log(t).unwrap().len() as u64);
        c.close(Duration::from_secs(5)).unwrap();
    }
}
