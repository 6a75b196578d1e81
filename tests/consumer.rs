//! The consumer engine and offset stores against the embedded mock broker.
//!
//! Every test is deterministic (no timing assertions) and bounded: its body runs on a thread with
//! a deadline, so a hang fails the test instead of blocking the suite.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lnc::mock::{MockBroker, MockConfig};
use lnc::offsets::{parse_offset_file_name, CallbackOffsetStore, FileOffsetStore, MemoryOffsetStore, OffsetStore};
use lnc::wire::tlv::{build_envelope, ext_type, record_type, Record};
use lnc::wire::{encode_frame, flags, Checksum, FrameDecoder, FrameKind, DEFAULT_MAX_PAYLOAD};
use lnc::{Config, ErrorCode, SeekTo, StandaloneConsumer};
use serde_json::Value;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vectors/lwp-vectors.json");

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Runs `f` on a thread and fails if it takes longer than `secs`.
fn bounded<F: FnOnce() + Send + 'static>(secs: u64, f: F) {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let h = std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => h.join().unwrap(),
        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
            // The body panicked: re-raise its panic.
            if let Err(p) = h.join() {
                std::panic::resume_unwind(p);
            }
        }
        Err(_) => panic!("test did not finish within {secs} s"),
    }
}

fn broker() -> MockBroker {
    MockBroker::start(MockConfig { ack_delay: Duration::ZERO, ..Default::default() }).unwrap()
}

fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let d = std::env::temp_dir().join(format!(
        "lnc-consumer-test-{}-{tag}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes each payload as one ingest frame (batch ids 1, 2, 3, …) and waits for every Ack.
fn ingest(addr: &str, topic: u32, payloads: &[Vec<u8>]) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        assert!(!p.is_empty());
        encode_frame(&mut buf, Checksum::Crc32, flags::INGEST, i as u64 + 1, 0, 1, topic, p);
    }
    s.write_all(&buf).unwrap();
    let mut dec = FrameDecoder::new(Checksum::Crc32, DEFAULT_MAX_PAYLOAD);
    let mut acks = 0;
    while acks < payloads.len() {
        let n = dec.read_from(&mut s, 64 * 1024).expect("ack read");
        assert!(n > 0, "broker closed the ingest connection");
        while let Some(f) = dec.next_frame().unwrap() {
            assert_eq!(f.kind(), FrameKind::Ack, "ingest refused: {:?}", String::from_utf8_lossy(&f.payload));
            acks += 1;
            assert_eq!(f.header.batch_id, acks as u64);
        }
    }
}

fn config(b: &MockBroker, topic: u32, extra: &[(&str, &str)]) -> Config {
    let addr = b.address_string();
    let topic = topic.to_string();
    let mut pairs: Vec<(&str, &str)> = vec![
        ("bootstrap.servers", addr.as_str()),
        ("topic.id", topic.as_str()),
        ("reconnect.backoff.ms", "10"),
        ("reconnect.backoff.max.ms", "200"),
        ("request.timeout.ms", "5000"),
        ("connect.timeout.ms", "2000"),
        ("fetch.max.wait.ms", "5"),
        ("enable.auto.commit", "false"),
    ];
    pairs.extend_from_slice(extra);
    Config::from_pairs(pairs).unwrap()
}

/// Polls until `n` records arrived (or fails after 10 s); errors fail the test.
fn take(c: &StandaloneConsumer, n: usize) -> Vec<Record> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut out = Vec::new();
    while out.len() < n {
        assert!(Instant::now() < deadline, "only {} of {n} records arrived", out.len());
        let want = n - out.len();
        c.poll_into(Duration::from_millis(100), &mut out, want)
            .unwrap_or_else(|e| panic!("poll failed after {} of {n} records: {e}", out.len()));
    }
    assert_eq!(out.len(), n, "more records than expected");
    out
}

/// Polls until an error arrives; returns the records before it and the error.
fn take_until_error(c: &StandaloneConsumer) -> (Vec<Record>, lnc::Error) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut out = Vec::new();
    loop {
        assert!(Instant::now() < deadline, "no error arrived ({} records)", out.len());
        match c.poll(Duration::from_millis(100)) {
            Ok(r) => out.extend(r),
            Err(e) => return (out, e),
        }
    }
}

/// Asserts that nothing (no record, no error) arrives within a short wait.
fn assert_quiet(c: &StandaloneConsumer) {
    match c.poll(Duration::from_millis(150)) {
        Ok(r) => assert!(
            r.is_empty(),
            "unexpected {} records: {:?}",
            r.len(),
            r.iter().map(|r| (r.offset, r.value.clone())).collect::<Vec<_>>()
        ),
        Err(e) => panic!("unexpected error {e}"),
    }
}

/// A mixed stream: every record type, with the offsets a reader must report.
/// Returns the ingest payloads, the expected records (offset set) and the positions after each
/// expected record.
fn mixed_stream() -> (Vec<Vec<u8>>, Vec<Record>, Vec<u64>) {
    let mut payloads = Vec::new();
    let mut expected = Vec::new();
    let mut after = Vec::new();
    let mut offset = 0u64;
    let push_plain = |recs: Vec<Record>,
                      offset: &mut u64,
                      payloads: &mut Vec<Vec<u8>>,
                      expected: &mut Vec<Record>,
                      after: &mut Vec<u64>| {
        let mut p = Vec::new();
        for mut r in recs {
            r.offset = *offset;
            r.encode_into(&mut p);
            *offset += r.encoded_len() as u64;
            let offset = *offset;
            expected.push(r);
            after.push(offset);
        }
        payloads.push(p);
    };
    for round in 0..3u8 {
        let recs = vec![
            Record::raw(vec![round; 3]),
            Record::raw(Vec::new()),
            Record::json(format!("{{\"round\":{round}}}")),
            Record::msgpack(vec![0x81, 0xa1, b'a', round]),
            Record::protobuf(vec![8, round]),
            Record::avro(vec![2, round, 4]),
            Record::key_value(b"key", &[round; 20]).unwrap(),
            Record::timestamped(1_700_000_000_000_000_000 + round as u64, b"ts-data"),
            Record::key_timestamped(42 + round as u64, b"k2", b"v2").unwrap(),
            Record::user(0x80, vec![round; 11]).unwrap(),
            Record::user(0xFE, Vec::new()).unwrap(),
            Record::tombstone(),
            Record::extended(0x0200, vec![1, 2, 3]),
            Record { record_type: 0x42, ext_type: None, value: vec![7; 5], offset: 0 },
        ];
        push_plain(recs, &mut offset, &mut payloads, &mut expected, &mut after);
        // An envelope: its inner records carry its offset; P moves past it after the last one.
        let inner: Vec<Record> = (0..5)
            .map(|i| Record::json(format!("{{\"inner\":{i},\"r\":{round}}}")))
            .chain([Record::tombstone()])
            .collect();
        let mut plain = Vec::new();
        for r in &inner {
            r.encode_into(&mut plain);
        }
        let env = build_envelope(&plain).unwrap();
        let env_off = offset;
        offset += env.len() as u64;
        let n = inner.len();
        for (i, mut r) in inner.into_iter().enumerate() {
            r.offset = env_off;
            expected.push(r);
            after.push(if i + 1 == n { offset } else { env_off });
        }
        payloads.push(env);
    }
    (payloads, expected, after)
}

fn fixed_records(n: usize, size: usize, tag: u8) -> Vec<u8> {
    let mut p = Vec::new();
    for i in 0..n {
        let mut v = vec![tag; size];
        v[..8].copy_from_slice(&(i as u64).to_le_bytes());
        Record::raw(v).encode_into(&mut p);
    }
    p
}

fn seq(r: &Record) -> u64 {
    u64::from_le_bytes(r.value[..8].try_into().unwrap())
}

// ---------------------------------------------------------------------------------------------
// Fetch boundaries
// ---------------------------------------------------------------------------------------------

#[test]
fn records_split_at_every_fetch_boundary() {
    bounded(20, || {
        let b = broker();
        let t = b.create_topic("mixed").unwrap();
        let (payloads, expected, after) = mixed_stream();
        ingest(&b.address_string(), t, &payloads);
        let log_len = b.topic_log(t).unwrap().len() as u64;
        assert_eq!(log_len, *after.last().unwrap());
        let boundaries: BTreeSet<u64> = std::iter::once(0).chain(after.iter().copied()).collect();
        for (max, pipeline, poll_max) in [
            ("1", "2", "1"),
            ("7", "2", "3"),
            ("13", "1", "500"),
            ("13", "2", "1"),
            ("64", "2", "7"),
            ("1048576", "2", "500"),
        ] {
            let c = StandaloneConsumer::new(&config(
                &b,
                t,
                &[
                    ("fetch.max.bytes", max),
                    ("fetch.pipeline", pipeline),
                    ("max.poll.records", poll_max),
                    ("start.offset", "beginning"),
                ],
            ))
            .unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut got: Vec<Record> = Vec::new();
            while got.len() < expected.len() {
                assert!(Instant::now() < deadline, "max_bytes {max}: {} of {} records", got.len(), expected.len());
                let batch = c.poll(Duration::from_millis(100)).unwrap();
                got.extend(batch);
                // P only ever takes record-boundary values, and exactly the one after the last
                // record handed out.
                let p = c.position();
                assert!(boundaries.contains(&p), "max_bytes {max}: position {p} is not a record boundary");
                if !got.is_empty() {
                    assert_eq!(p, after[got.len() - 1], "max_bytes {max}: position after {} records", got.len());
                }
            }
            assert_eq!(got, expected, "max_bytes {max} pipeline {pipeline}");
            assert_quiet(&c);
            assert_eq!(c.position(), log_len);
            // Accessors on the delivered records.
            let kv = got.iter().find(|r| r.record_type == record_type::KEY_VALUE).unwrap();
            assert_eq!(kv.key(), Some(&b"key"[..]));
            let kt = got.iter().find(|r| r.record_type == record_type::KEY_TIMESTAMPED).unwrap();
            assert_eq!((kt.key(), kt.timestamp_ns(), kt.data()), (Some(&b"k2"[..]), Some(42), &b"v2"[..]));
            assert!(got.iter().any(|r| r.is_tombstone() && r.ext_type == Some(ext_type::TOMBSTONE)));
            c.close(Duration::from_secs(5)).unwrap();
        }
    });
}

#[test]
fn envelopes_opaque_when_expansion_is_off() {
    bounded(10, || {
        let b = broker();
        let t = b.create_topic("env").unwrap();
        let mut plain = Vec::new();
        for i in 0..10 {
            Record::json(format!("{{\"i\":{i}}}")).encode_into(&mut plain);
        }
        let env = build_envelope(&plain).unwrap();
        ingest(&b.address_string(), t, std::slice::from_ref(&env));
        let c = StandaloneConsumer::new(&config(&b, t, &[("expand.envelopes", "false"), ("fetch.max.bytes", "5")]))
            .unwrap();
        let got = take(&c, 1);
        assert_eq!(got[0].ext_type, Some(ext_type::LZ4_ENVELOPE));
        assert_eq!(got[0].encode(), env);
        assert_eq!(c.position(), env.len() as u64);
    });
}

#[test]
fn concurrent_production_with_speculative_pipelining() {
    bounded(20, || {
        let b = broker();
        let t = b.create_topic("live").unwrap();
        let addr = b.address_string();
        let producer = std::thread::spawn(move || {
            for batch in 0..40u64 {
                let mut p = Vec::new();
                for i in 0..25u64 {
                    let mut v = vec![0u8; 10 + (i as usize % 7)];
                    v[..8].copy_from_slice(&(batch * 25 + i).to_le_bytes());
                    Record::raw(v).encode_into(&mut p);
                }
                ingest(&addr, t, &[p]);
            }
        });
        let c =
            StandaloneConsumer::new(&config(&b, t, &[("fetch.max.bytes", "64"), ("fetch.min.wait.ms", "0")])).unwrap();
        let got = take(&c, 1000);
        producer.join().unwrap();
        for (i, r) in got.iter().enumerate() {
            assert_eq!(seq(r), i as u64, "record {i} out of order or duplicated");
        }
        assert_quiet(&c);
    });
}

#[test]
fn raw_mode_delivers_bytes_undecoded() {
    bounded(10, || {
        let b = broker();
        let t = b.create_topic("raw").unwrap();
        // Not TLV (the official Rust producer writes application bytes as they are).
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        ingest(&b.address_string(), t, &[data[..400].to_vec(), data[400..].to_vec()]);
        let c = StandaloneConsumer::new(&config(&b, t, &[("consume.raw", "true"), ("fetch.max.bytes", "97")])).unwrap();
        let mut all = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while all.len() < data.len() {
            assert!(Instant::now() < deadline);
            for r in c.poll(Duration::from_millis(100)).unwrap() {
                assert_eq!(r.offset, all.len() as u64, "chunks are contiguous");
                assert_eq!(r.record_type, record_type::RESERVED);
                all.extend_from_slice(&r.value);
            }
        }
        assert_eq!(all, data);
        assert_eq!(c.position(), 1000);
    });
}

#[test]
fn a_partial_record_at_the_tail_is_reported_not_waited_on_forever() {
    // Start inside a record whose bytes read like a header announcing 4096 more bytes: the log
    // ends first, so the record can never complete (misaligned position). CORRUPT_RECORD at that
    // position, not a silent wait; a seek to a real boundary recovers.
    bounded(15, || {
        let b = broker();
        let t = b.create_topic("misaligned").unwrap();
        let mut value = vec![0u8; 20];
        value[..5].copy_from_slice(&[0x01, 0x00, 0x10, 0x00, 0x00]);
        let mut payload = Vec::new();
        for _ in 0..3 {
            Record::raw(value.clone()).encode_into(&mut payload);
        }
        ingest(&b.address_string(), t, &[payload]);
        let c = StandaloneConsumer::new(&config(&b, t, &[("start.offset", "5")])).unwrap();
        let (recs, e) = take_until_error(&c);
        assert!(recs.is_empty());
        assert_eq!((e.code, e.server_offset, e.retryable), (ErrorCode::CorruptRecord, Some(5), false), "{e}");
        assert!(e.message.contains("not on a record boundary"), "{}", e.message);
        c.seek(SeekTo::Beginning).unwrap();
        assert_eq!(take(&c, 3).len(), 3);
    });
}

#[test]
fn corrupt_record_is_reported_at_its_offset_and_pauses() {
    bounded(10, || {
        let b = broker();
        let t = b.create_topic("corrupt").unwrap();
        let good = fixed_records(3, 10, 1);
        // A standard header announcing more than 16 MiB: no valid ingest can carry it.
        let bad = vec![0x01, 0xff, 0xff, 0xff, 0x7f, 0, 0];
        ingest(&b.address_string(), t, &[good.clone(), bad]);
        let c = StandaloneConsumer::new(&config(&b, t, &[("fetch.max.bytes", "8")])).unwrap();
        let (recs, e) = take_until_error(&c);
        assert_eq!(recs.len(), 3);
        assert_eq!(e.code, ErrorCode::CorruptRecord);
        assert_eq!(e.server_offset, Some(good.len() as u64));
        assert_eq!(c.position(), good.len() as u64);
        assert_quiet(&c);
        // Seeking resumes.
        c.seek(SeekTo::Beginning).unwrap();
        assert_eq!(take(&c, 3), recs);
    });
}

// ---------------------------------------------------------------------------------------------
// Offsets and restart
// ---------------------------------------------------------------------------------------------

#[test]
fn restart_resumes_exactly_after_the_committed_position() {
    bounded(15, || {
        let b = broker();
        let t = b.create_topic("resume").unwrap();
        ingest(&b.address_string(), t, &[fixed_records(60, 20, 2), fixed_records(40, 20, 3)]);
        let dir = temp_dir("resume");
        let d = dir.to_str().unwrap();
        let cfg = |extra: &[(&str, &str)]| {
            let mut v = vec![("consumer.name", "resumer"), ("offset.dir", d), ("fetch.max.bytes", "50")];
            v.extend_from_slice(extra);
            config(&b, t, &v)
        };
        let all: Vec<Record> = {
            let c = StandaloneConsumer::new(&cfg(&[("offset.store", "memory")])).unwrap();
            take(&c, 100)
        };
        // Manual commit after 37 records.
        let c = StandaloneConsumer::new(&cfg(&[("max.poll.records", "1")])).unwrap();
        let first = take(&c, 37);
        assert_eq!(first[..], all[..37]);
        let p = c.commit().unwrap();
        assert_eq!(p, all[37].offset);
        // Records polled after the commit are not committed (manual commit, no auto-commit).
        take(&c, 5);
        c.close(Duration::from_secs(5)).unwrap();
        let store = FileOffsetStore::new(&dir, "resumer").unwrap();
        assert_eq!(std::fs::read(store.offset_path(t)).unwrap(), format!("{p}\n").into_bytes());

        // Resume: exactly the records from the committed position.
        let c =
            StandaloneConsumer::new(&cfg(&[("enable.auto.commit", "true"), ("auto.commit.interval.ms", "3600000")]))
                .unwrap();
        assert_eq!(c.position(), p);
        let next = take(&c, 20);
        assert_eq!(next[..], all[37..57]);
        // Auto-commit commits on close.
        c.close(Duration::from_secs(5)).unwrap();
        assert_eq!(store.load(t).unwrap(), Some(all[57].offset));

        let c = StandaloneConsumer::new(&cfg(&[])).unwrap();
        let rest = take(&c, 43);
        assert_eq!(rest[..], all[57..]);
        assert_quiet(&c);
        let _ = std::fs::remove_dir_all(&dir);
    });
}

#[test]
fn stored_end_sentinel_starts_at_the_end() {
    bounded(10, || {
        let b = broker();
        let t = b.create_topic("sentinel").unwrap();
        let old = fixed_records(10, 10, 1);
        ingest(&b.address_string(), t, std::slice::from_ref(&old));
        let store = Arc::new(MemoryOffsetStore::new());
        store.save(t, u64::MAX).unwrap();
        let c = StandaloneConsumer::with_store(&config(&b, t, &[]), store).unwrap();
        assert_eq!(c.position(), old.len() as u64);
        ingest(&b.address_string(), t, &[fixed_records(2, 10, 9)]);
        let got = take(&c, 2);
        assert!(got.iter().all(|r| r.value[8] == 9));
        assert_quiet(&c);
    });
}

#[test]
fn callback_store_is_used_for_load_and_commit() {
    bounded(10, || {
        let b = broker();
        let t = b.create_topic("cb").unwrap();
        let data = fixed_records(10, 12, 4);
        ingest(&b.address_string(), t, &[data]);
        let rec_len = 5 + 12;
        let saved = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let s2 = saved.clone();
        let store = CallbackOffsetStore::new(
            Box::new(move |topic| Ok(if topic == t { Some(3 * rec_len) } else { None })),
            Box::new(move |topic, off| {
                s2.lock().push((topic, off));
                Ok(())
            }),
        );
        let c = StandaloneConsumer::with_store(&config(&b, t, &[]), Arc::new(store)).unwrap();
        let got = take(&c, 7);
        assert_eq!(seq(&got[0]), 3);
        c.commit().unwrap();
        assert_eq!(*saved.lock(), vec![(t, 10 * rec_len)]);
    });
}

#[test]
fn file_store_matches_the_official_rust_store_vectors() {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(VECTORS).unwrap()).unwrap();
    let mut rust = 0;
    let mut python = 0;
    for v in doc["vectors"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        if !name.starts_with("offset_file/") {
            continue;
        }
        let f = &v["fields"];
        let bytes: Vec<u8> = (0..v["hex"].as_str().unwrap().len() / 2)
            .map(|i| u8::from_str_radix(&v["hex"].as_str().unwrap()[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        let base = temp_dir("vec");
        let consumer = f["consumer_name"].as_str().unwrap();
        let topic = f["topic_id"].as_u64().unwrap() as u32;
        let offset: u64 = f["offset"].as_str().unwrap().parse().unwrap();
        if name.starts_with("offset_file/rust/") {
            rust += 1;
            let store = FileOffsetStore::new(&base, consumer).unwrap();
            assert_eq!(store.consumer_id().to_string(), f["consumer_id"].as_str().unwrap(), "{name}");
            assert_eq!(store.load(topic).unwrap(), None);
            store.save(topic, offset).unwrap();
            let path = base.join(f["relative_path"].as_str().unwrap());
            assert_eq!(std::fs::read(&path).unwrap(), bytes, "{name}: file bytes");
            assert_eq!(path, store.offset_path(topic));
            assert_eq!(base.join(f["lock_file"].as_str().unwrap()), store.lock_path(topic));
            assert_eq!(base.join(f["tmp_file"].as_str().unwrap()), store.tmp_path(topic));
            let mut listing: Vec<String> = std::fs::read_dir(store.dir())
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            listing.sort();
            let mut want: Vec<String> = f["dir_listing_after_save"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().to_string())
                .collect();
            want.sort();
            assert_eq!(listing, want, "{name}: directory listing");
            assert_eq!(store.load(topic).unwrap(), Some(offset), "{name}: read back");
            // Files written by the official client read back (whitespace trimmed).
            std::fs::write(&path, &bytes).unwrap();
            assert_eq!(store.load(topic).unwrap(), Some(offset));
            std::fs::write(&path, format!("  {offset}\r\n")).unwrap();
            assert_eq!(store.load(topic).unwrap(), Some(offset));
            let listed = store.list().unwrap();
            assert_eq!(listed.len(), 1);
            assert_eq!(
                (listed[0].topic_id, listed[0].consumer_id, listed[0].offset),
                (topic, store.consumer_id(), offset)
            );
            let fname = path.file_name().unwrap().to_str().unwrap();
            assert_eq!(parse_offset_file_name(fname), Some((topic, store.consumer_id())));
        } else {
            python += 1;
            // Recognised, never used: a clear error with a hint instead of silently starting over.
            std::fs::write(base.join(f["relative_path"].as_str().unwrap()), &bytes).unwrap();
            let store = FileOffsetStore::new(&base, consumer.replace('/', "_").as_str()).unwrap();
            let e = store.load(topic).unwrap_err();
            assert!(e.message.contains("Python") && e.message.contains(&offset.to_string()), "{name}: {e}");
        }
        let _ = std::fs::remove_dir_all(&base);
    }
    assert_eq!((rust, python), (4, 2));
}

#[test]
fn file_store_rejects_bad_names() {
    for bad in ["", ".", "..", "a/b", "/abs", "a\\b", "nul\0"] {
        let e = FileOffsetStore::new("/tmp", bad).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidArg, "{bad:?}");
    }
    let c = Config::from_pairs([("consumer.name", "a/b"), ("offset.dir", "/tmp"), ("topic.id", "1")]).unwrap();
    assert_eq!(StandaloneConsumer::new(&c).unwrap_err().code, ErrorCode::InvalidArg);
}

#[test]
fn file_store_concurrent_saves_do_not_corrupt() {
    bounded(20, || {
        let base = temp_dir("conc");
        let writers: Vec<_> = (0..2u64)
            .map(|w| {
                let base = base.clone();
                std::thread::spawn(move || {
                    let store = FileOffsetStore::new(&base, "shared").unwrap();
                    for i in 0..200u64 {
                        store.save(5, w * 1_000_000 + i).unwrap();
                    }
                })
            })
            .collect();
        let reader = {
            let base = base.clone();
            std::thread::spawn(move || {
                let store = FileOffsetStore::new(&base, "shared").unwrap();
                for _ in 0..500 {
                    // Never a torn or empty value: rename is atomic and writes are serialised.
                    if let Some(v) = store.load(5).unwrap() {
                        assert!(v % 1_000_000 < 200, "{v}");
                    }
                }
            })
        };
        for w in writers {
            w.join().unwrap();
        }
        reader.join().unwrap();
        let store = FileOffsetStore::new(&base, "shared").unwrap();
        let v = store.load(5).unwrap().unwrap();
        assert!(v == 199 || v == 1_000_199, "last write wins: {v}");
        let names: BTreeSet<String> =
            std::fs::read_dir(store.dir()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        let id = store.consumer_id();
        assert_eq!(
            names,
            [format!("topic-5-consumer-{id}.lock"), format!("topic-5-consumer-{id}.offset")].into_iter().collect()
        );
        let _ = std::fs::remove_dir_all(&base);
    });
}

// ---------------------------------------------------------------------------------------------
// CatchingUp and OFFSET_OUT_OF_RANGE
// ---------------------------------------------------------------------------------------------

#[test]
fn transient_catching_up_is_retried() {
    bounded(10, || {
        let b = broker();
        let t = b.create_topic("cu").unwrap();
        ingest(&b.address_string(), t, &[fixed_records(20, 10, 1)]);
        b.force_catching_up(4);
        let c = StandaloneConsumer::new(&config(&b, t, &[("catching.up.retries", "5")])).unwrap();
        let got = take(&c, 20);
        assert!(got.iter().enumerate().all(|(i, r)| seq(r) == i as u64));
        assert_quiet(&c);
        assert!(b.stats().catching_up_sent >= 4);
    });
}

/// Consumes 50 records of 15 bytes, then truncates 20 records from the front: the position (750)
/// is now past the end (450).
fn past_the_end(policy: &str) -> (MockBroker, u32, StandaloneConsumer) {
    let b = broker();
    let t = b.create_topic("oor").unwrap();
    ingest(&b.address_string(), t, &[fixed_records(50, 10, 1)]);
    let c = StandaloneConsumer::new(&config(&b, t, &[("offset.reset", policy), ("catching.up.retries", "2")])).unwrap();
    take(&c, 50);
    assert_eq!(c.position(), 750);
    assert_eq!(b.truncate_front(t, 300), Some(300));
    (b, t, c)
}

#[test]
fn offset_out_of_range_policy_error_pauses_until_seek() {
    bounded(10, || {
        let (_b, _t, c) = past_the_end("error");
        let (recs, e) = take_until_error(&c);
        assert!(recs.is_empty());
        assert_eq!(e.code, ErrorCode::OffsetOutOfRange);
        assert_eq!(e.server_offset, Some(450));
        assert_eq!(c.position(), 750);
        assert_quiet(&c);
        assert_eq!(c.seek(SeekTo::Beginning).unwrap(), 0);
        let got = take(&c, 30);
        assert_eq!((seq(&got[0]), seq(&got[29])), (20, 49));
    });
}

#[test]
fn offset_out_of_range_policy_earliest_rewinds() {
    bounded(10, || {
        let (_b, _t, c) = past_the_end("earliest");
        let (recs, e) = take_until_error(&c);
        assert!(recs.is_empty());
        assert_eq!((e.code, e.server_offset), (ErrorCode::OffsetOutOfRange, Some(450)));
        assert_eq!(c.position(), 0);
        let got = take(&c, 30);
        assert_eq!((seq(&got[0]), got[0].offset, seq(&got[29])), (20, 0, 49));
        assert_eq!(c.position(), 450);
        assert_quiet(&c);
    });
}

#[test]
fn offset_out_of_range_policy_latest_jumps_to_end() {
    bounded(10, || {
        let (b, t, c) = past_the_end("latest");
        let (recs, e) = take_until_error(&c);
        assert!(recs.is_empty());
        assert_eq!((e.code, e.server_offset), (ErrorCode::OffsetOutOfRange, Some(450)));
        assert_eq!(c.position(), 450);
        assert_quiet(&c);
        ingest(&b.address_string(), t, &[fixed_records(3, 10, 7)]);
        let got = take(&c, 3);
        assert_eq!(got[0].offset, 450);
        assert!(got.iter().all(|r| r.value[8] == 7));
    });
}

#[test]
fn persistent_catching_up_behind_the_end_is_reported_and_retried() {
    // CatchingUp whose end is past our position is a lagging node, not an out-of-range position:
    // a retryable CATCHING_UP error, the position kept, and reading resumes by itself.
    bounded(10, || {
        let b = broker();
        let t = b.create_topic("stuck").unwrap();
        ingest(&b.address_string(), t, &[fixed_records(5, 10, 1)]);
        b.force_catching_up(1000);
        let c = StandaloneConsumer::new(&config(&b, t, &[("catching.up.retries", "3")])).unwrap();
        let (recs, e) = take_until_error(&c);
        assert!(recs.is_empty());
        assert_eq!((e.code, e.server_offset, e.retryable), (ErrorCode::CatchingUp, Some(75), true));
        assert_eq!(c.position(), 0);
        b.force_catching_up(0);
        assert_eq!(seq(&take(&c, 5)[0]), 0, "no seek needed, nothing skipped");
    });
}

// ---------------------------------------------------------------------------------------------
// Seek, lag, wakeup, lifecycle
// ---------------------------------------------------------------------------------------------

#[test]
fn seek_beginning_end_and_offset() {
    bounded(10, || {
        let b = broker();
        let t = b.create_topic("seek").unwrap();
        ingest(&b.address_string(), t, &[fixed_records(20, 10, 1)]);
        let c = StandaloneConsumer::new(&config(&b, t, &[("fetch.max.bytes", "40"), ("queued.max.bytes", "1024")]))
            .unwrap();
        let first = take(&c, 5);
        assert_eq!(seq(&first[0]), 0);
        // Seeking drops what was queued for the old position.
        assert_eq!(c.rewind().unwrap(), 0);
        let all = take(&c, 20);
        assert!(all.iter().enumerate().all(|(i, r)| seq(r) == i as u64));
        assert_eq!(c.seek(SeekTo::Offset(all[12].offset)).unwrap(), 180);
        assert_eq!(c.position(), 180);
        let tail = take(&c, 8);
        assert_eq!(seq(&tail[0]), 12);
        assert_eq!(c.seek(SeekTo::End).unwrap(), 300);
        assert_eq!(c.position(), 300);
        assert_quiet(&c);
        ingest(&b.address_string(), t, &[fixed_records(3, 10, 5)]);
        let new = take(&c, 3);
        assert!(new.iter().all(|r| r.value[8] == 5));
        assert_quiet(&c);
        // start.offset=end
        let c2 = StandaloneConsumer::new(&config(&b, t, &[("start.offset", "end")])).unwrap();
        assert_eq!(c2.position(), 345);
        assert_quiet(&c2);
        let c3 = StandaloneConsumer::new(&config(&b, t, &[("start.offset", "300")])).unwrap();
        assert_eq!(take(&c3, 3), new);
    });
}

#[test]
fn lag_counts_bytes_to_the_tail() {
    bounded(10, || {
        let b = broker();
        let t = b.create_topic("lag").unwrap();
        ingest(&b.address_string(), t, &[fixed_records(10, 10, 1)]);
        let c = StandaloneConsumer::new(&config(&b, t, &[("max.poll.records", "4")])).unwrap();
        assert_eq!(c.lag().unwrap(), 150);
        take(&c, 4);
        assert_eq!(c.lag().unwrap(), 90);
        take(&c, 6);
        assert_eq!(c.lag().unwrap(), 0);
    });
}

fn readable(fd: i32) -> bool {
    let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    unsafe { libc::poll(&mut p, 1, 0) == 1 }
}

#[test]
fn eventfd_signals_waiting_records() {
    bounded(10, || {
        let b = broker();
        let t = b.create_topic("efd").unwrap();
        let c = StandaloneConsumer::new(&config(&b, t, &[])).unwrap();
        let fd = c.eventfd().expect("eventfd");
        assert_quiet(&c);
        assert!(!readable(fd));
        ingest(&b.address_string(), t, &[fixed_records(3, 10, 1)]);
        let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        assert_eq!(unsafe { libc::poll(&mut p, 1, 5000) }, 1, "eventfd became readable");
        assert_eq!(take(&c, 3).len(), 3);
        assert!(!readable(fd), "drained queue clears the eventfd");
    });
}

#[test]
fn poll_times_out_empty_and_close_is_idempotent() {
    bounded(10, || {
        let b = broker();
        let t = b.create_topic("idle").unwrap();
        let c = StandaloneConsumer::new(&config(&b, t, &[])).unwrap();
        assert!(c.poll(Duration::from_millis(50)).unwrap().is_empty());
        let mut n = 0;
        assert_eq!(c.poll_each(Duration::from_millis(10), |_| n += 1).unwrap(), 0);
        c.close(Duration::from_secs(5)).unwrap();
        c.close(Duration::from_secs(5)).unwrap();
        assert_eq!(c.poll(Duration::from_millis(10)).unwrap_err().code, ErrorCode::Closed);
        assert_eq!(c.seek(SeekTo::Beginning).unwrap_err().code, ErrorCode::Closed);
        drop(c);
    });
}

#[test]
fn unknown_topic_is_reported() {
    bounded(10, || {
        let b = broker();
        let addr = b.address_string();
        let by_name = Config::from_pairs([("bootstrap.servers", addr.as_str()), ("topic", "missing")]).unwrap();
        assert_eq!(StandaloneConsumer::new(&by_name).unwrap_err().code, ErrorCode::UnknownTopic);
        let c = StandaloneConsumer::new(&config(&b, 999, &[])).unwrap();
        let (recs, e) = take_until_error(&c);
        assert!(recs.is_empty());
        assert_eq!(e.code, ErrorCode::UnknownTopic, "{e}");
        assert_quiet(&c);
        // By name, resolved with ListTopics.
        let t = b.create_topic("named").unwrap();
        ingest(&addr, t, &[fixed_records(2, 10, 1)]);
        let named = Config::from_pairs([
            ("bootstrap.servers", addr.as_str()),
            ("topic", "named"),
            ("enable.auto.commit", "false"),
        ])
        .unwrap();
        let c = StandaloneConsumer::new(&named).unwrap();
        assert_eq!(c.topic_id(), t);
        take(&c, 2);
    });
}

#[test]
fn dead_server_is_a_transport_error_through_poll() {
    bounded(10, || {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let addr = format!("127.0.0.1:{port}");
        let cfg = Config::from_pairs([
            ("bootstrap.servers", addr.as_str()),
            ("topic.id", "1"),
            ("reconnect.backoff.ms", "10"),
            ("connect.timeout.ms", "1000"),
        ])
        .unwrap();
        let c = StandaloneConsumer::new(&cfg).unwrap();
        let (recs, e) = take_until_error(&c);
        assert!(recs.is_empty());
        assert_eq!(e.code, ErrorCode::Transport);
        assert!(e.retryable && e.message.contains("cannot reach"), "{e}");
        c.close(Duration::from_secs(5)).unwrap();
    });
}

#[test]
fn reconnects_after_broker_restart_and_disconnects() {
    bounded(15, || {
        let b = broker();
        let t = b.create_topic("restart").unwrap();
        let mut next = 0u64;
        let mut batch = |n: usize| {
            let mut p = Vec::new();
            for _ in 0..n {
                let mut v = vec![0u8; 16];
                v[..8].copy_from_slice(&next.to_le_bytes());
                next += 1;
                Record::raw(v).encode_into(&mut p);
            }
            p
        };
        ingest(&b.address_string(), t, &[batch(50)]);
        let c =
            StandaloneConsumer::new(&config(&b, t, &[("fetch.max.bytes", "100"), ("max.poll.records", "10")])).unwrap();
        let mut got = take(&c, 20);
        b.restart();
        ingest(&b.address_string(), t, &[batch(50)]);
        got.extend(take(&c, 80));
        b.disconnect_all();
        b.fail_next_requests(2, "FORWARD_FAILED: Forward operation timed out");
        ingest(&b.address_string(), t, &[batch(30)]);
        got.extend(take(&c, 30));
        assert!(got.iter().enumerate().all(|(i, r)| seq(r) == i as u64), "every record exactly once, in order");
        assert_quiet(&c);
        assert!(b.stats().connections_accepted >= 3);
    });
}

#[test]
fn backpressure_bounds_the_queue_without_loss() {
    bounded(15, || {
        let b = broker();
        let t = b.create_topic("bp").unwrap();
        ingest(&b.address_string(), t, &[fixed_records(2000, 100, 1)]);
        let c = StandaloneConsumer::new(&config(&b, t, &[("queued.max.bytes", "4096"), ("fetch.max.bytes", "1000")]))
            .unwrap();
        let mut n = 0u64;
        let deadline = Instant::now() + Duration::from_secs(10);
        while n < 2000 {
            assert!(Instant::now() < deadline);
            for r in c.poll(Duration::from_millis(100)).unwrap() {
                assert_eq!(seq(&r), n);
                n += 1;
            }
        }
        assert_quiet(&c);
    });
}

#[test]
fn rate_limit_is_retried_transparently() {
    bounded(15, || {
        let b = broker();
        let t = b.create_topic("rl").unwrap();
        ingest(&b.address_string(), t, &[fixed_records(40, 10, 1)]);
        // The bucket (100 B/s) empties after the first window; later fetches get
        // "Rate limit exceeded" until it refills a second later.
        b.set_fetch_rate_limit(Some(100));
        let c = StandaloneConsumer::new(&config(&b, t, &[("fetch.max.bytes", "300")])).unwrap();
        let got = take(&c, 40);
        assert!(got.iter().enumerate().all(|(i, r)| seq(r) == i as u64));
        assert!(b.stats().errors_sent >= 1, "the limit was hit");
        b.set_fetch_rate_limit(None);
        assert_quiet(&c);
    });
}

#[test]
fn store_selection_from_config() {
    let base = [("topic.id", "1"), ("bootstrap.servers", "127.0.0.1:1")];
    let mut c = Config::from_pairs(base).unwrap();
    c.set("offset.store", "file").unwrap();
    assert_eq!(StandaloneConsumer::new(&c).unwrap_err().code, ErrorCode::InvalidValue);
    c.set("start.offset", "nonsense").unwrap();
    c.set("offset.store", "memory").unwrap();
    assert_eq!(StandaloneConsumer::new(&c).unwrap_err().code, ErrorCode::InvalidValue);
}

// ---------------------------------------------------------------------------------------------
// Lifecycle, store re-entrancy (issue 14)
// ---------------------------------------------------------------------------------------------

type Slot = Arc<parking_lot::Mutex<Option<Arc<StandaloneConsumer>>>>;
/// What each call made from inside the store returned.
type Seen = Arc<parking_lot::Mutex<Vec<(&'static str, Option<ErrorCode>)>>>;

/// A store whose save calls back into its own consumer (through `slot`) and records what each
/// call returned.
fn reentrant_store(slot: Slot, seen: Seen) -> CallbackOffsetStore {
    CallbackOffsetStore::new(
        Box::new(|_| Ok(None)),
        Box::new(move |_, _| {
            let c = slot.lock().clone();
            if let Some(c) = c {
                let code = |r: Result<(), lnc::Error>| r.err().map(|e| e.code);
                let mut s = seen.lock();
                s.push(("commit", code(c.commit().map(|_| ()))));
                s.push(("poll", code(c.poll(Duration::from_millis(10)).map(|_| ()))));
                s.push(("poll_each", code(c.poll_each(Duration::from_millis(10), |_| ()).map(|_| ()))));
                s.push(("seek", code(c.seek(SeekTo::Beginning).map(|_| ()))));
                s.push(("lag", code(c.lag().map(|_| ()))));
                s.push(("close", code(c.close(Duration::from_millis(100)))));
            }
            Ok(())
        }),
    )
}

/// Bug (issue 14): `save` ran under the commit mutex, so a store calling commit/close/poll on its
/// consumer deadlocked. Every such call now fails at once with IN_CALLBACK, from an explicit
/// commit, from an auto-committing poll and from close's final commit, and the consumer keeps
/// working afterwards.
#[test]
fn a_store_calling_back_into_its_consumer_gets_in_callback_not_a_deadlock() {
    bounded(20, || {
        let b = broker();
        let t = b.create_topic("reenter").unwrap();
        ingest(&b.address_string(), t, &[fixed_records(50, 16, 1)]);
        let slot: Slot = Arc::new(parking_lot::Mutex::new(None));
        let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let store = reentrant_store(slot.clone(), seen.clone());
        let cfg = config(
            &b,
            t,
            &[("enable.auto.commit", "true"), ("auto.commit.interval.ms", "1"), ("max.poll.records", "10")],
        );
        let c = Arc::new(StandaloneConsumer::with_store(&cfg, Arc::new(store)).unwrap());
        *slot.lock() = Some(c.clone());
        let all_refused = |seen: &[(&str, Option<ErrorCode>)]| {
            assert_eq!(seen.len(), 6, "{seen:?}");
            for (what, code) in seen {
                assert_eq!(*code, Some(ErrorCode::InCallback), "{what} from inside save");
            }
        };
        // Explicit commit.
        c.commit().unwrap();
        all_refused(&seen.lock());
        seen.lock().clear();
        // Auto-commit inside poll (P moved: 10 records were handed out).
        take(&c, 10);
        std::thread::sleep(Duration::from_millis(5));
        c.poll(Duration::from_millis(100)).unwrap();
        all_refused(&seen.lock());
        seen.lock().clear();
        // Still fully usable.
        assert_eq!(c.seek(SeekTo::Beginning).unwrap(), 0);
        assert_eq!(take(&c, 50).len(), 50);
        // close's final commit.
        c.close(Duration::from_secs(2)).unwrap();
        all_refused(&seen.lock());
        assert_eq!(c.committed(), Some(50 * 21));
        slot.lock().take();
    });
}

/// A store that takes its time does not hold anything up: polls proceed, close(500 ms) returns
/// in time (TIMED_OUT: the final commit was skipped because the slow commit still ran).
#[test]
fn a_slow_store_blocks_neither_poll_nor_close() {
    bounded(20, || {
        let b = broker();
        let t = b.create_topic("slow-store").unwrap();
        ingest(&b.address_string(), t, &[fixed_records(20, 16, 1)]);
        let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(0);
        let (entered_tx, entered_rx) = crossbeam_channel::bounded::<()>(1);
        let store = CallbackOffsetStore::new(
            Box::new(|_| Ok(None)),
            Box::new(move |_, _| {
                let _ = entered_tx.try_send(());
                let _ = release_rx.recv_timeout(Duration::from_secs(10));
                Ok(())
            }),
        );
        let cfg = config(&b, t, &[("enable.auto.commit", "true"), ("auto.commit.interval.ms", "600000")]);
        let c = Arc::new(StandaloneConsumer::with_store(&cfg, Arc::new(store)).unwrap());
        take(&c, 5);
        let c2 = c.clone();
        let committer = std::thread::spawn(move || c2.commit());
        entered_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        // The store is now blocked inside save, with no lock held.
        assert_eq!(take(&c, 15).len(), 15);
        assert_eq!(c.position(), 20 * 21);
        let t0 = Instant::now();
        let r = c.close(Duration::from_millis(500));
        let took = t0.elapsed();
        assert!(took < Duration::from_secs(3), "close took {took:?}");
        assert_eq!(r.unwrap_err().code, ErrorCode::TimedOut);
        assert_eq!(c.poll(Duration::ZERO).unwrap_err().code, ErrorCode::Closed);
        release_tx.send(()).unwrap();
        assert_eq!(committer.join().unwrap().unwrap(), 5 * 21);
    });
}

/// close wakes a poll waiting with a long timeout (it returns CLOSED), and every call after close
/// returns CLOSED at once.
#[test]
fn close_wakes_a_long_poll_and_later_calls_return_closed() {
    bounded(20, || {
        let b = broker();
        let t = b.create_topic("wake").unwrap();
        let c = Arc::new(StandaloneConsumer::new(&config(&b, t, &[("start.offset", "beginning")])).unwrap());
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || {
                    let t0 = Instant::now();
                    let r = c.poll(Duration::from_secs(60));
                    (r.map(|v| v.len()), t0.elapsed())
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(200));
        let t0 = Instant::now();
        c.close(Duration::from_millis(500)).unwrap();
        assert!(t0.elapsed() < Duration::from_secs(3));
        for w in waiters {
            let (r, took) = w.join().unwrap();
            assert_eq!(r.unwrap_err().code, ErrorCode::Closed);
            assert!(took < Duration::from_secs(5), "a waiting poll returned after {took:?}");
        }
        assert_eq!(c.poll(Duration::from_secs(60)).unwrap_err().code, ErrorCode::Closed);
        assert_eq!(c.seek(SeekTo::Beginning).unwrap_err().code, ErrorCode::Closed);
        assert_eq!(c.seek(SeekTo::End).unwrap_err().code, ErrorCode::Closed);
        assert_eq!(c.commit().unwrap_err().code, ErrorCode::Closed);
        assert_eq!(c.lag().unwrap_err().code, ErrorCode::Closed);
        c.close(Duration::from_secs(1)).unwrap();
    });
}

/// close wakes a seek-to-end waiting for a server that does not answer.
#[test]
fn close_wakes_a_seek_waiting_on_the_server() {
    bounded(20, || {
        let b = broker();
        let t = b.create_topic("stall").unwrap();
        let c = Arc::new(StandaloneConsumer::new(&config(&b, t, &[("request.timeout.ms", "30000")])).unwrap());
        // Open the auxiliary connection, then make the server stop answering.
        c.lag().unwrap();
        std::thread::sleep(Duration::from_millis(600));
        b.stall_reading(true);
        // Connection threads notice the flag at their next read timeout (20 ms).
        std::thread::sleep(Duration::from_millis(200));
        let c2 = c.clone();
        let seeker = std::thread::spawn(move || {
            let t0 = Instant::now();
            (c2.seek(SeekTo::End), t0.elapsed())
        });
        std::thread::sleep(Duration::from_millis(300));
        let _ = c.close(Duration::from_millis(500));
        let (r, took) = seeker.join().unwrap();
        assert_eq!(r.unwrap_err().code, ErrorCode::Closed);
        assert!(took < Duration::from_secs(5), "seek returned after {took:?}");
        b.stall_reading(false);
    });
}
