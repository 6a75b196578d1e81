//! Interop with the official crates.io `lnc-client` 0.2.8, against liblnc's embedded mock broker.
//!
//! (a) official Producer → liblnc consumer (raw mode for its raw byte stream; standard mode for
//!     its TLV path, `encode_record`/`encode_record_with_type`);
//! (b) liblnc Producer (defaults) → official consumer: the same bytes, byte for byte;
//!     extended records (tombstone, LZ4 envelope) are misparsed by the official record parser;
//! (c) offsets: official `LockFileOffsetStore` ↔ liblnc `FileOffsetStore` / `StandaloneConsumer`.
//!
//! Findings are summarised in RELIABILITY.md.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use lnc::mock::MockBroker;
use lnc::offsets::OffsetStore as _;
use lnc::wire::Record;
use lnc::{Config, ErrorCode, FileOffsetStore, Message, Producer, StandaloneConsumer};
use lnc_client::offset::OffsetStore as _;
use lnc_interop::{lnc_config, mock, runtime, Rng};

const WAIT: Duration = Duration::from_secs(20);

fn tmpdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("lnc-interop-{tag}-{}-{}", std::process::id(), lnc::producer::now_ns()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Reads `n` records (or until `WAIT`) with a liblnc consumer; panics on any error.
fn lnc_read(m: &MockBroker, topic: u32, n: usize, extra: &[(&str, &str)]) -> Vec<Record> {
    let mut cfg: Vec<(&str, &str)> = vec![("enable.auto.commit", "false")];
    cfg.extend_from_slice(extra);
    let topic_s = topic.to_string();
    cfg.push(("topic.id", &topic_s));
    let c = StandaloneConsumer::new(&lnc_config(&m.address_string(), &cfg)).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + WAIT;
    while out.len() < n && Instant::now() < deadline {
        out.extend(c.poll(Duration::from_millis(100)).unwrap());
    }
    c.close(Duration::from_secs(5)).unwrap();
    out
}

/// Reads `total` bytes of `topic` with the official `StandaloneConsumer`; returns its chunks
/// (`PollResult::data`, exactly what it hands to the application).
fn official_read(addr: &str, topic: u32, total: usize, max_fetch: u32) -> Vec<Bytes> {
    runtime().block_on(async {
        let cfg = lnc_client::StandaloneConfig::new("official-reader", topic)
            .with_max_fetch_bytes(max_fetch)
            .with_manual_commit();
        let mut c = lnc_client::StandaloneConsumer::connect(addr, cfg).await.unwrap();
        let mut chunks = Vec::new();
        let mut got = 0;
        let deadline = Instant::now() + WAIT;
        while got < total && Instant::now() < deadline {
            if let Some(r) = c.next_batch().await.unwrap() {
                got += r.data.len();
                chunks.push(r.data);
            } else {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        c.close().await.unwrap();
        chunks
    })
}

/// The official producer sends `payloads` (each one `send_async`, then `flush`).
fn official_produce(addr: &str, topic: u32, payloads: &[Vec<u8>]) {
    runtime().block_on(async {
        let p = lnc_client::Producer::connect(addr, lnc_client::ProducerConfig::new().with_linger_ms(1)).await.unwrap();
        for v in payloads {
            p.send_async(topic, v).await.unwrap();
        }
        p.flush().await.unwrap();
        p.close().await.unwrap();
    })
}

/// The official consumer's numeric id for a consumer name (its `hash_consumer_id`).
fn official_consumer_id(name: &str) -> u64 {
    let mut h = DefaultHasher::new();
    name.hash(&mut h);
    h.finish()
}

fn standard_messages(rng: &mut Rng, n: usize) -> Vec<(u8, Vec<u8>, Vec<u8>, u64)> {
    // (type, key, value, timestamp): every standard type liblnc writes by default.
    let types = [0x01u8, 0x02, 0x03, 0x04, 0x05, 0x10, 0x11, 0x12, 0x80, 0xFE];
    (0..n)
        .map(|i| {
            let t = types[i % types.len()];
            let len = rng.below(600) as usize;
            let value = if t == 0x02 {
                format!("{{\"i\":{i},\"pad\":\"{}\"}}", "p".repeat(len)).into_bytes()
            } else {
                rng.bytes(len)
            };
            let key = format!("key-{i}").into_bytes();
            (t, key, value, 1_700_000_000_000_000_000 + i as u64)
        })
        .collect()
}

fn as_message<'a>(m: &'a (u8, Vec<u8>, Vec<u8>, u64)) -> Message<'a> {
    let (t, key, value, ts) = m;
    match *t {
        0x10 => Message::key_value(key, value),
        0x11 => Message::timestamped(*ts, value),
        0x12 => Message::key_timestamped(*ts, key, value),
        t => Message::of_type(t, value),
    }
}

// ---------------------------------------------------------------------------------------------
// (a) official Rust Producer → liblnc
// ---------------------------------------------------------------------------------------------

#[test]
fn a1_official_producer_writes_raw_bytes_that_liblnc_reads_in_raw_mode() {
    let m = mock(Duration::ZERO);
    let t = m.create_topic("official-raw").unwrap();
    let mut rng = Rng::new(11);
    let payloads: Vec<Vec<u8>> = (0..3000)
        .map(|i| {
            let mut v = format!("official-{i:06}-").into_bytes();
            v.extend(std::iter::repeat_n(b'x', rng.below(300) as usize));
            v
        })
        .collect();
    official_produce(&m.address_string(), t, &payloads);
    let expected: Vec<u8> = payloads.concat();

    // What arrives at the server: the application bytes concatenated, no TLV header, no separator.
    assert_eq!(m.topic_log(t).unwrap(), expected, "official Producer = raw concatenated application bytes");

    // liblnc raw mode delivers the fetched bytes undecoded, at their byte offsets.
    let raw = lnc_read(&m, t, usize::MAX, &[("consume.raw", "true"), ("fetch.max.bytes", "4097")]);
    let mut next = 0u64;
    let mut got = Vec::new();
    for r in &raw {
        assert_eq!(r.offset, next, "raw chunks are contiguous");
        next += r.value.len() as u64;
        got.extend_from_slice(&r.value);
        if got.len() >= expected.len() {
            break;
        }
    }
    assert_eq!(got, expected, "every byte the official producer wrote, in order");

    // The standard (TLV) consumer must not guess: 'o','ffic' reads as a 1.6 GB record → CORRUPT_RECORD at 0.
    let c = StandaloneConsumer::new(&lnc_config(
        &m.address_string(),
        &[("topic.id", &t.to_string()), ("enable.auto.commit", "false")],
    ))
    .unwrap();
    let deadline = Instant::now() + WAIT;
    let err = loop {
        match c.poll(Duration::from_millis(100)) {
            Err(e) => break e,
            Ok(r) => assert!(r.is_empty() && Instant::now() < deadline, "standard mode must not deliver non-TLV bytes"),
        }
    };
    assert_eq!(err.code, ErrorCode::CorruptRecord, "{err}");
    assert_eq!(err.server_offset, Some(0));
    c.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn a2_official_producer_tlv_path_is_read_by_liblnc_standard_consumer() {
    // The official crate has no TLV-encoding producer; its TLV path is the application calling
    // `encode_record` / `record::encode_record_with_type` and sending the result. Each send is one
    // complete record, so the concatenation is a valid TLV stream.
    let m = mock(Duration::ZERO);
    let t = m.create_topic("official-tlv").unwrap();
    let mut rng = Rng::new(12);
    let types = [0x01u8, 0x02, 0x03, 0x04, 0x05, 0x80];
    let recs: Vec<(u8, Vec<u8>)> = (0..2000)
        .map(|i| {
            let len = rng.below(500) as usize;
            (types[i % types.len()], rng.bytes(len))
        })
        .collect();
    let payloads: Vec<Vec<u8>> = recs
        .iter()
        .enumerate()
        .map(|(i, (t, v))| {
            if i % 2 == 0 {
                lnc_client::record::encode_record_with_type(*t, v).to_vec()
            } else {
                // encode_record with the official enum; 0x01 Data is the only unambiguous name.
                lnc_client::encode_record(lnc_client::RecordType::Data, v).to_vec()
            }
        })
        .collect();
    official_produce(&m.address_string(), t, &payloads);
    let got = lnc_read(&m, t, recs.len(), &[("fetch.max.bytes", "7777")]);
    assert_eq!(got.len(), recs.len());
    let mut offset = 0u64;
    for (i, (r, (ty, v))) in got.iter().zip(&recs).enumerate() {
        let want_type = if i % 2 == 0 { *ty } else { 0x01 };
        assert_eq!((r.record_type, &r.value, r.offset), (want_type, v, offset), "record {i}");
        offset += 5 + v.len() as u64;
    }
}

// ---------------------------------------------------------------------------------------------
// (b) liblnc Producer → official consumer
// ---------------------------------------------------------------------------------------------

#[test]
fn b1_liblnc_defaults_are_read_byte_for_byte_by_the_official_consumer() {
    // liblnc defaults: compression none, no extended records unless asked.
    let defaults = Config::new();
    assert_eq!(defaults.get_str("compression"), "none");
    let m = mock(Duration::ZERO);
    let t = m.create_topic("liblnc-to-official").unwrap();
    let mut rng = Rng::new(21);
    let msgs = standard_messages(&mut rng, 3000);
    let p = Producer::new(&lnc_config(&m.address_string(), &[])).unwrap();
    let mut expected = Vec::new();
    for (i, mm) in msgs.iter().enumerate() {
        let msg = as_message(mm);
        msg.encode_into(&mut expected, 0).unwrap();
        p.send(t, &msg, i as u64).unwrap();
    }
    assert_eq!(p.flush(WAIT).unwrap(), 0);
    let met = p.metrics();
    assert_eq!((met.records_acked, met.records_failed, met.batches_compressed), (3000, 0, 0));
    p.close(Duration::from_secs(5)).unwrap();
    assert_eq!(m.topic_log(t).unwrap(), expected, "the log is exactly the encoded records");

    for max_fetch in [1 << 20, 4097, 100] {
        let chunks = official_read(&m.address_string(), t, expected.len(), max_fetch);
        let joined: Vec<u8> = chunks.concat();
        assert_eq!(joined, expected, "official consumer (max_fetch_bytes {max_fetch}) hands out the same bytes");
        // Its chunks are raw fetch windows: with small windows most cannot be parsed on their own.
        let unparsable = chunks.iter().filter(|c| lnc_client::parse_records((*c).clone()).is_err()).count();
        if max_fetch < 1 << 20 {
            assert!(unparsable > 0, "windows of {max_fetch} bytes cut records");
        }
    }

    // The official record parser reads every liblnc standard record (5-byte headers) ...
    let parsed = lnc_client::parse_records(Bytes::from(expected.clone())).unwrap();
    assert_eq!(parsed.len(), msgs.len());
    let mut check = Vec::new();
    for (r, mm) in parsed.iter().zip(&msgs) {
        check.clear();
        as_message(mm).encode_into(&mut check, 0).unwrap();
        assert_eq!(r.type_byte, mm.0);
        assert_eq!(&r.payload[..], &check[5..], "value bytes as on the wire");
    }
    // ... but names them differently (lwp.md §5.7): JSON 0x02 is its "Tombstone", 0x10 KV is "Compressed".
    assert_eq!(parsed[1].record_type, lnc_client::RecordType::Tombstone);
    assert!(parsed[1].is_tombstone(), "official client calls a JSON record a tombstone");
    assert_eq!(parsed[5].record_type, lnc_client::RecordType::Compressed);
    assert_eq!(parsed[0].record_type, lnc_client::RecordType::Data);
}

#[test]
fn b2_extended_records_tombstone_and_lz4_envelope_are_misparsed_by_the_official_parser() {
    let m = mock(Duration::ZERO);
    let t = m.create_topic("extended").unwrap();
    let p = Producer::new(&lnc_config(&m.address_string(), &[("linger.ms", "0")])).unwrap();
    p.send_batch(t, &[Message::raw(b"before"), Message::tombstone(), Message::raw(b"after")], 0).unwrap();
    assert_eq!(p.flush(WAIT).unwrap(), 0);
    p.close(Duration::from_secs(5)).unwrap();
    let log = m.topic_log(t).unwrap();
    assert_eq!(&log[11..18], b"\xff\xff\x00\x00\x00\x00\x00", "tombstone = extended 0x00FF, length 0");

    // liblnc reads it back.
    let mine = lnc_read(&m, t, 3, &[]);
    assert!(mine[1].is_tombstone() && mine[2].value == b"after");

    // The official parser reads 0xFF as a 5-byte header: length = ff 00 00 00 = 255 → runs past the data.
    let official = official_parse(&log);
    assert!(official[0].as_ref().unwrap().payload == b"before"[..]);
    assert!(
        matches!(official[1], Err(lnc_client::RecordParseError::InsufficientPayload { needed: 255, .. })),
        "{:?}",
        official[1]
    );
    // The official consumer still hands out the raw bytes: only its record parser fails.
    assert_eq!(official_read(&m.address_string(), t, log.len(), 1 << 20).concat(), log);

    // LZ4 envelope (compression=lz4, opt-in): ff 00 01 <len> ... → misparsed too.
    let t2 = m.create_topic("envelope").unwrap();
    let p = Producer::new(&lnc_config(
        &m.address_string(),
        &[("compression", "lz4"), ("compression.min.bytes", "0"), ("linger.ms", "50")],
    ))
    .unwrap();
    let vals: Vec<Vec<u8>> = (0..200).map(|i| format!("compressible record {i:05} ").repeat(4).into_bytes()).collect();
    let msgs: Vec<Message> = vals.iter().map(|v| Message::raw(v)).collect();
    p.send_batch(t2, &msgs, 0).unwrap();
    assert_eq!(p.flush(WAIT).unwrap(), 0);
    assert!(p.metrics().batches_compressed > 0);
    p.close(Duration::from_secs(5)).unwrap();
    let log2 = m.topic_log(t2).unwrap();
    assert_eq!(&log2[..3], b"\xff\x00\x01", "extended header, ext type 0x0100");
    let mine = lnc_read(&m, t2, vals.len(), &[]);
    assert_eq!(mine.iter().map(|r| r.value.clone()).collect::<Vec<_>>(), vals, "liblnc expands envelopes");
    let official = official_parse(&log2);
    let official_values: Vec<Vec<u8>> =
        official.iter().filter_map(|r| r.as_ref().ok()).map(|r| r.payload.to_vec()).collect();
    assert_ne!(official_values, vals, "the official parser cannot read envelopes");
    assert!(official
        .iter()
        .all(|r| r.as_ref().map_or(true, |r| r.type_byte != 0x01 || r.payload.len() != vals[0].len())));
}

/// The official `RecordIterator` up to and including its first error. It never advances past an
/// error: it yields the same error forever, so `collect()` on it never ends (see
/// `b3_official_record_iterator_repeats_its_error_forever`).
fn official_parse(data: &[u8]) -> Vec<Result<lnc_client::Record, lnc_client::RecordParseError>> {
    let mut out = Vec::new();
    for r in lnc_client::RecordIterator::new(Bytes::from(data.to_vec())) {
        let stop = r.is_err();
        out.push(r);
        if stop {
            break;
        }
    }
    out
}

#[test]
fn b3_official_record_iterator_repeats_its_error_forever() {
    // A finding about the official parser, not about liblnc: after an error the iterator does not
    // advance, so a caller that does not `break` on the first error loops (or, with `collect()`,
    // grows memory until it is killed).
    let data = b"\x01\x03\x00\x00\x00abc\xff\xff\x00\x00\x00\x00\x00".to_vec();
    let mut it = lnc_client::RecordIterator::new(Bytes::from(data));
    assert!(it.next().unwrap().is_ok());
    for _ in 0..1000 {
        assert!(matches!(it.next(), Some(Err(lnc_client::RecordParseError::InsufficientPayload { .. }))));
    }
}

// ---------------------------------------------------------------------------------------------
// (c) offsets: official LockFileOffsetStore ↔ liblnc
// ---------------------------------------------------------------------------------------------

/// Produces `n` raw records `v<i>` padded with 'x' (fixed size `size`) and returns their offsets.
fn produce_fixed(m: &MockBroker, t: u32, n: usize, size: usize, first: usize) -> Vec<u64> {
    let p = Producer::new(&lnc_config(&m.address_string(), &[("linger.ms", "0")])).unwrap();
    let base = m.topic_log(t).unwrap().len() as u64;
    let mut offsets = Vec::new();
    for i in first..first + n {
        let mut v = format!("v{i:05}").into_bytes();
        v.resize(size, b'x');
        offsets.push(base + ((i - first) * (size + 5)) as u64);
        p.send(t, &Message::raw(&v), i as u64).unwrap();
    }
    assert_eq!(p.flush(WAIT).unwrap(), 0);
    p.close(Duration::from_secs(5)).unwrap();
    offsets
}

fn first_value(r: &Record) -> String {
    String::from_utf8_lossy(&r.value[..6]).into_owned()
}

#[test]
fn c1_official_lockfile_store_to_liblnc_and_back() {
    let m = mock(Duration::ZERO);
    let t = m.create_topic("offsets").unwrap();
    let offsets = produce_fixed(&m, t, 100, 200, 0);
    let dir = tmpdir("offsets");
    let name = "interop-resume";
    let id = official_consumer_id(name);
    let mine = FileOffsetStore::new(&dir, name).unwrap();
    assert_eq!(mine.consumer_id(), id, "SipHash-1-3 id = the official DefaultHasher id");

    // Official writes → liblnc reads and resumes there.
    let official = lnc_client::LockFileOffsetStore::open(&dir, name).unwrap();
    official.save(t, id, offsets[40]).unwrap();
    assert_eq!(mine.load(t).unwrap(), Some(offsets[40]));
    let cfg = [
        ("topic.id", t.to_string()),
        ("consumer.name", name.to_string()),
        ("offset.dir", dir.display().to_string()),
        ("enable.auto.commit", "false".to_string()),
    ];
    let cfg: Vec<(&str, &str)> = cfg.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let c = StandaloneConsumer::new(&lnc_config(&m.address_string(), &cfg)).unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + WAIT;
    while got.len() < 30 && Instant::now() < deadline {
        let mut v = Vec::new();
        c.poll_into(Duration::from_millis(100), &mut v, 30 - got.len()).unwrap();
        got.extend(v);
    }
    assert_eq!(got[0].offset, offsets[40], "resumed at the official store's offset");
    assert_eq!(first_value(&got[0]), "v00040");
    assert_eq!(first_value(&got[29]), "v00069");
    // liblnc commits P (just past record 69) → the official store reads it.
    assert_eq!(c.commit().unwrap(), offsets[70]);
    c.close(Duration::from_secs(5)).unwrap();
    let reopened = lnc_client::LockFileOffsetStore::open(&dir, name).unwrap();
    assert_eq!(reopened.load(t, id).unwrap(), Some(offsets[70]));
    let file = dir.join(name).join(format!("topic-{t}-consumer-{id}.offset"));
    assert_eq!(std::fs::read(&file).unwrap(), format!("{}\n", offsets[70]).into_bytes(), "decimal + newline");
    assert!(
        dir.join(name).join(format!("topic-{t}-consumer-{id}.lock")).exists(),
        "lock file left in place as the official store does"
    );

    // The official StandaloneConsumer resumes from liblnc's commit: its first bytes are record 70.
    let log = m.topic_log(t).unwrap();
    let first = runtime().block_on(async {
        let cfg = lnc_client::StandaloneConfig::new(name, t).with_offset_dir(&dir).with_manual_commit();
        let mut oc = lnc_client::StandaloneConsumer::connect(&m.address_string(), cfg).await.unwrap();
        let deadline = Instant::now() + WAIT;
        let r = loop {
            if let Some(r) = oc.next_batch().await.unwrap() {
                break r;
            }
            assert!(Instant::now() < deadline);
        };
        oc.close().await.unwrap();
        r
    });
    assert_eq!(&first.data[..], &log[offsets[70] as usize..], "official consumer resumed at liblnc's committed offset");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn c2_official_consumer_commits_and_liblnc_resumes_including_end_sentinel() {
    let m = mock(Duration::ZERO);
    let t = m.create_topic("offsets2").unwrap();
    let offsets = produce_fixed(&m, t, 50, 200, 0);
    let end = m.topic_log(t).unwrap().len() as u64;
    let dir = tmpdir("offsets2");
    let name = "official-committer";

    // The official StandaloneConsumer reads everything and commits (its position = next_offset).
    let committed = runtime().block_on(async {
        let cfg = lnc_client::StandaloneConfig::new(name, t).with_offset_dir(&dir).with_manual_commit();
        let mut oc = lnc_client::StandaloneConsumer::connect(&m.address_string(), cfg).await.unwrap();
        let mut got = 0;
        while got < end as usize {
            if let Some(r) = oc.next_batch().await.unwrap() {
                got += r.data.len();
            }
        }
        oc.commit().await.unwrap();
        let c = oc.committed_offset();
        oc.close().await.unwrap();
        c
    });
    assert_eq!(committed, end);
    assert_eq!(FileOffsetStore::new(&dir, name).unwrap().load(t).unwrap(), Some(end));

    // New records after the commit: liblnc (start.offset=stored) reads exactly those.
    let more = produce_fixed(&m, t, 10, 200, 50);
    assert_eq!(more[0], end);
    let cfg = [
        ("topic.id", t.to_string()),
        ("consumer.name", name.to_string()),
        ("offset.dir", dir.display().to_string()),
        ("enable.auto.commit", "false".to_string()),
    ];
    let cfg: Vec<(&str, &str)> = cfg.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let got = {
        let c = StandaloneConsumer::new(&lnc_config(&m.address_string(), &cfg)).unwrap();
        let mut got = Vec::new();
        let deadline = Instant::now() + WAIT;
        while got.len() < 10 && Instant::now() < deadline {
            got.extend(c.poll(Duration::from_millis(100)).unwrap());
        }
        c.close(Duration::from_secs(5)).unwrap();
        got
    };
    assert_eq!(got.len(), 10);
    assert_eq!((got[0].offset, first_value(&got[0])), (end, "v00050".to_string()));

    // u64::MAX (the official "start at end" sentinel) → liblnc starts at the end.
    let official = lnc_client::LockFileOffsetStore::open(&dir, name).unwrap();
    official.save(t, official_consumer_id(name), u64::MAX).unwrap();
    let c = StandaloneConsumer::new(&lnc_config(&m.address_string(), &cfg)).unwrap();
    let tail = m.topic_log(t).unwrap().len() as u64;
    assert_eq!(c.position(), tail, "u64::MAX read back as seek-to-end");
    assert!(c.poll(Duration::from_millis(200)).unwrap().is_empty());
    produce_fixed(&m, t, 1, 200, 60);
    let deadline = Instant::now() + WAIT;
    let r = loop {
        let v = c.poll(Duration::from_millis(100)).unwrap();
        if let Some(r) = v.into_iter().next() {
            break r;
        }
        assert!(Instant::now() < deadline);
    };
    assert_eq!((r.offset, first_value(&r)), (tail, "v00060".to_string()));
    c.close(Duration::from_secs(5)).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let _ = offsets;
}

#[test]
fn c3_official_commit_inside_a_record_is_reported_as_corrupt_by_liblnc() {
    // The official consumer commits its fetch position (next_offset), which lies inside a record
    // whenever max_fetch_bytes cut one. liblnc refuses to guess from there: CORRUPT_RECORD.
    let m = mock(Duration::ZERO);
    let t = m.create_topic("midrecord").unwrap();
    produce_fixed(&m, t, 20, 200, 0);
    let dir = tmpdir("midrecord");
    let name = "official-mid";
    let committed = runtime().block_on(async {
        let cfg = lnc_client::StandaloneConfig::new(name, t)
            .with_offset_dir(&dir)
            .with_manual_commit()
            .with_max_fetch_bytes(1000);
        let mut oc = lnc_client::StandaloneConsumer::connect(&m.address_string(), cfg).await.unwrap();
        while oc.next_batch().await.unwrap().is_none() {}
        oc.commit().await.unwrap();
        let c = oc.committed_offset();
        oc.close().await.unwrap();
        c
    });
    assert_eq!(committed, 1000, "official commit = raw fetch position");
    assert_ne!(committed % 205, 0, "not a record boundary");
    let cfg = [
        ("topic.id", t.to_string()),
        ("consumer.name", name.to_string()),
        ("offset.dir", dir.display().to_string()),
        ("enable.auto.commit", "false".to_string()),
    ];
    let cfg: Vec<(&str, &str)> = cfg.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let c = StandaloneConsumer::new(&lnc_config(&m.address_string(), &cfg)).unwrap();
    let deadline = Instant::now() + WAIT;
    let err = loop {
        match c.poll(Duration::from_millis(100)) {
            Err(e) => break e,
            Ok(v) => assert!(v.is_empty() && Instant::now() < deadline, "must not deliver garbage: {v:?}"),
        }
    };
    assert_eq!((err.code, err.server_offset), (ErrorCode::CorruptRecord, Some(1000)));
    c.close(Duration::from_secs(5)).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn c4_store_files_are_identical_for_the_same_commit() {
    let dir_a = tmpdir("same-a");
    let dir_b = tmpdir("same-b");
    let name = "worker-1";
    let id = official_consumer_id(name);
    assert_eq!(id, 16750551406947868958, "lwp.md §7 table");
    lnc_client::LockFileOffsetStore::open(&dir_a, name).unwrap().save(7, id, 4096).unwrap();
    FileOffsetStore::new(&dir_b, name).unwrap().save(7, 4096).unwrap();
    let list = |d: &Path| {
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(d.join(name))
            .unwrap()
            .map(|e| e.unwrap())
            .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(list(&dir_a), list(&dir_b), "same file names and contents");
    let _ = (std::fs::remove_dir_all(&dir_a), std::fs::remove_dir_all(&dir_b));
}
