//! Property tests of the pure codec: random frames and record streams under random chunking,
//! and "never panics" on random bytes. Plus regression tests for bugs found by the vectors and
//! the fuzzers.

use lnc::wire::checksum::Checksum;
use lnc::wire::control::{self, Request};
use lnc::wire::frame::{encode_frame, FrameDecoder, FrameError};
use lnc::wire::header::{header_checksum, Header, HEADER_LEN};
use lnc::wire::tlv::{self, ext_type, Reassembler, Record};
use proptest::prelude::*;

const SMALL_MAX: usize = 1024;

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

fn checksum() -> impl Strategy<Value = Checksum> {
    prop_oneof![Just(Checksum::Crc32), Just(Checksum::Crc32c)]
}

#[derive(Clone, Debug)]
struct FrameSpec {
    flags: u8,
    batch_id: u64,
    timestamp_ns: u64,
    record_count: u32,
    topic_id: u32,
    payload: Vec<u8>,
}

fn frame_spec() -> impl Strategy<Value = FrameSpec> {
    (
        any::<u8>(),
        any::<u64>(),
        any::<u64>(),
        any::<u32>(),
        any::<u32>(),
        prop_oneof![3 => prop::collection::vec(any::<u8>(), 0..64), 1 => prop::collection::vec(any::<u8>(), 0..1500)],
    )
        .prop_map(|(flags, batch_id, timestamp_ns, record_count, topic_id, payload)| FrameSpec {
            flags,
            batch_id,
            timestamp_ns,
            record_count,
            topic_id,
            payload,
        })
}

/// Chunk sizes to cut a stream with (cycled); many small ones so cuts land everywhere.
fn chunking() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(prop_oneof![4 => 1usize..8, 2 => 8usize..64, 1 => 64usize..2000], 1..32)
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

/// Any record a reader can meet: every typed kind, reserved/unassigned standard types, user
/// types, tombstones and other extended types (never an envelope: those are built separately).
fn record() -> impl Strategy<Value = Record> {
    let value = || prop_oneof![3 => bytes(40), 1 => bytes(600)];
    prop_oneof![
        value().prop_map(Record::raw),
        value().prop_map(Record::json),
        value().prop_map(Record::msgpack),
        value().prop_map(Record::protobuf),
        value().prop_map(Record::avro),
        (bytes(20), value()).prop_map(|(k, v)| Record::key_value(&k, &v).unwrap()),
        (any::<u64>(), value()).prop_map(|(t, v)| Record::timestamped(t, &v)),
        (any::<u64>(), bytes(20), value()).prop_map(|(t, k, v)| Record::key_timestamped(t, &k, &v).unwrap()),
        (0x80u8..=0xFE, value()).prop_map(|(t, v)| Record::user(t, v).unwrap()),
        Just(Record::tombstone()),
        (any::<u16>().prop_filter("not an envelope", |e| *e != ext_type::LZ4_ENVELOPE), value())
            .prop_map(|(e, v)| Record::extended(e, v)),
        // Reserved 0x00 and unassigned standard types are delivered opaque, never as errors.
        (prop_oneof![Just(0u8), 0x06u8..0x10, 0x13u8..0x80], value()).prop_map(|(t, v)| Record {
            record_type: t,
            ext_type: None,
            value: v,
            offset: 0
        }),
    ]
}

#[derive(Clone, Debug)]
enum Item {
    Plain(Record),
    Envelope(Vec<Record>),
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        6 => record().prop_map(Item::Plain),
        1 => prop::collection::vec(record(), 1..12).prop_map(Item::Envelope),
        // Compressible envelopes: many copies of one record.
        1 => (record(), 2usize..20).prop_map(|(r, n)| Item::Envelope(vec![r; n])),
    ]
}

/// Encodes items; returns the stream and the records a reader must produce (with offsets
/// relative to `base`), plus for each the position P right after it was taken.
fn build_stream(items: &[Item], base: u64, expand: bool) -> (Vec<u8>, Vec<(Record, u64)>) {
    let mut stream = Vec::new();
    let mut want = Vec::new();
    for it in items {
        let at = base + stream.len() as u64;
        match it {
            Item::Plain(r) => {
                r.encode_into(&mut stream);
                let mut r = r.clone();
                r.offset = at;
                want.push((r, base + stream.len() as u64));
            }
            Item::Envelope(inner) => {
                let mut plain = Vec::new();
                for r in inner {
                    r.encode_into(&mut plain);
                }
                let env = tlv::build_envelope(&plain).expect("envelope");
                stream.extend_from_slice(&env);
                let end = base + stream.len() as u64;
                if expand {
                    for (i, r) in inner.iter().enumerate() {
                        let mut r = r.clone();
                        r.offset = at;
                        // P stays on the envelope until its last inner record is taken.
                        want.push((r, if i + 1 == inner.len() { end } else { at }));
                    }
                } else {
                    let rec = Record {
                        record_type: 0xFF,
                        ext_type: Some(ext_type::LZ4_ENVELOPE),
                        value: env[7..].to_vec(),
                        offset: at,
                    };
                    want.push((rec, end));
                }
            }
        }
    }
    (stream, want)
}

/// Feeds `data` cut by `chunks` (cycled), draining after each chunk; checks P after every record.
fn reassemble(r: &mut Reassembler, data: &[u8], chunks: &[usize]) -> Result<Vec<(Record, u64)>, tlv::CorruptRecord> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < data.len() {
        let n = chunks[i % chunks.len()].clamp(1, data.len() - at);
        i += 1;
        r.feed(&data[at..at + n]);
        at += n;
        while let Some(rec) = r.next_record()? {
            out.push((rec, r.position()));
        }
    }
    Ok(out)
}

fn drain_frames(d: &mut FrameDecoder) -> (Vec<lnc::wire::Frame>, Option<FrameError>) {
    let mut v = Vec::new();
    loop {
        match d.next_frame() {
            Ok(Some(f)) => v.push(f),
            Ok(None) => return (v, None),
            Err(e) => return (v, Some(e)),
        }
    }
}

/// A header with valid magic, version and header checksum announcing `len` payload bytes.
fn hostile_header(checksum: Checksum, flags: u8, len: u32) -> [u8; HEADER_LEN] {
    Header {
        version: 1,
        flags,
        reserved: 0,
        header_crc: header_checksum(checksum, 1, flags, 0),
        batch_id: 7,
        timestamp_ns: 0,
        record_count: 0,
        payload_length: len,
        payload_crc: 0,
        topic_id: 0,
    }
    .encode()
}

// ---------------------------------------------------------------------------------------------
// Round trips under random chunking
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn frames_survive_any_chunking(cs in checksum(), specs in prop::collection::vec(frame_spec(), 1..12), chunks in chunking()) {
        let mut stream = Vec::new();
        for s in &specs {
            encode_frame(&mut stream, cs, s.flags, s.batch_id, s.timestamp_ns, s.record_count, s.topic_id, &s.payload);
        }
        let mut d = FrameDecoder::new(cs, lnc::wire::DEFAULT_MAX_PAYLOAD);
        let mut got = Vec::new();
        let (mut at, mut i) = (0, 0);
        while at < stream.len() {
            let n = chunks[i % chunks.len()].clamp(1, stream.len() - at);
            i += 1;
            d.feed(&stream[at..at + n]);
            at += n;
            let (f, e) = drain_frames(&mut d);
            prop_assert!(e.is_none(), "error {:?}", e);
            got.extend(f);
        }
        prop_assert_eq!(d.buffered(), 0);
        prop_assert_eq!(got.len(), specs.len());
        for (f, s) in got.iter().zip(&specs) {
            let want = Header::new(cs, s.flags, s.batch_id, s.timestamp_ns, s.record_count, s.topic_id, &s.payload);
            prop_assert_eq!(f.header, want);
            prop_assert_eq!(&f.payload, &s.payload);
            prop_assert_eq!(f.header.payload_crc == 0, s.payload.is_empty() || cs.compute(&s.payload) == 0);
        }
    }

    #[test]
    fn read_from_matches_feed(cs in checksum(), specs in prop::collection::vec(frame_spec(), 1..6), chunk in 1usize..300, reads in chunking()) {
        let mut stream = Vec::new();
        for s in &specs {
            encode_frame(&mut stream, cs, s.flags, s.batch_id, s.timestamp_ns, s.record_count, s.topic_id, &s.payload);
        }
        // A reader returning short reads of the sizes in `reads`.
        struct Short<'a> { data: &'a [u8], sizes: Vec<usize>, i: usize }
        impl std::io::Read for Short<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = self.sizes[self.i % self.sizes.len()].min(buf.len()).min(self.data.len());
                self.i += 1;
                buf[..n].copy_from_slice(&self.data[..n]);
                self.data = &self.data[n..];
                Ok(n)
            }
        }
        let mut rd = Short { data: &stream, sizes: reads, i: 0 };
        let mut d = FrameDecoder::new(cs, lnc::wire::DEFAULT_MAX_PAYLOAD);
        let mut got = Vec::new();
        while got.len() < specs.len() {
            let n = d.read_from(&mut rd, chunk).unwrap();
            let (f, e) = drain_frames(&mut d);
            prop_assert!(e.is_none());
            got.extend(f);
            if n == 0 { break; }
        }
        prop_assert_eq!(got.len(), specs.len());
        for (f, s) in got.iter().zip(&specs) {
            prop_assert_eq!(&f.payload, &s.payload);
            prop_assert_eq!(f.header.batch_id, s.batch_id);
        }
    }

    #[test]
    fn records_survive_any_chunking(items in prop::collection::vec(item(), 0..24), base in 0u64..(1 << 62), expand in any::<bool>(), chunks in chunking()) {
        let (stream, want) = build_stream(&items, base, expand);
        let mut r = Reassembler::new(base, expand);
        let got = reassemble(&mut r, &stream, &chunks).unwrap();
        prop_assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            prop_assert_eq!(&g.0, &w.0, "record {}", i);
            prop_assert_eq!(g.1, w.1, "position after record {}", i);
        }
        prop_assert_eq!(r.position(), base + stream.len() as u64);
        prop_assert!(r.carry().is_empty());
        prop_assert_eq!(r.fetch_offset(), base + stream.len() as u64);
        // decode_all agrees (offsets relative to 0).
        let all = tlv::decode_all(&stream, expand).unwrap();
        prop_assert_eq!(all.len(), want.len());
        for (a, w) in all.iter().zip(&want) {
            prop_assert_eq!(a.offset + base, w.0.offset);
            prop_assert_eq!(&a.value, &w.0.value);
        }
    }

    #[test]
    fn cut_streams_keep_a_carry(items in prop::collection::vec(item(), 1..16), cut in any::<prop::sample::Index>(), expand in any::<bool>(), chunks in chunking()) {
        let (stream, want) = build_stream(&items, 0, expand);
        let cut = cut.index(stream.len() + 1);
        let mut r = Reassembler::new(0, expand);
        let got = reassemble(&mut r, &stream[..cut], &chunks).unwrap();
        // Exactly the records that end at or before the cut, and P at the last boundary.
        let complete: Vec<_> = want.iter().filter(|(_, end_p)| *end_p <= cut as u64).collect();
        // Inner records of an envelope are all-or-nothing: count by boundary positions.
        let boundary = complete.last().map_or(0, |(_, p)| *p);
        prop_assert_eq!(r.position(), boundary);
        prop_assert_eq!(r.carry(), &stream[boundary as usize..cut]);
        let expected: Vec<_> = want.iter().filter(|(rec, _)| (rec.offset) < boundary).collect();
        prop_assert_eq!(got.len(), expected.len());
        // Feeding the rest completes the stream exactly.
        let rest = reassemble(&mut r, &stream[cut..], &chunks).unwrap();
        prop_assert_eq!(got.len() + rest.len(), want.len());
        prop_assert_eq!(r.position(), stream.len() as u64);
    }

    #[test]
    fn envelopes_round_trip(inner in prop::collection::vec(record(), 1..20)) {
        let mut plain = Vec::new();
        for r in &inner { r.encode_into(&mut plain); }
        let env = tlv::build_envelope(&plain).unwrap();
        let recs = tlv::expand_envelope(&env[7..]).unwrap();
        prop_assert_eq!(&recs, &inner);
        if let Some(small) = tlv::encode_envelope(&plain) {
            prop_assert!(small.len() < plain.len());
            prop_assert_eq!(tlv::decode_all(&small, true).unwrap(), inner);
        }
    }

    #[test]
    fn requests_round_trip(req in request()) {
        let p = req.payload();
        prop_assert_eq!(Request::decode(req.code(), &p), Ok(req.clone()));
    }

    #[test]
    fn replies_round_trip(next in any::<u64>(), data in bytes(300), cid in any::<u64>(), off in any::<u64>(), ok in any::<bool>(), msg in "[ -~]{0,40}") {
        let mut p = Vec::new();
        control::encode_fetch_response(&mut p, next, &data);
        let r = control::decode_fetch_response(&p).unwrap();
        prop_assert_eq!((r.next_offset, r.data, r.record_count), (next, &data[..], !data.is_empty() as u32));
        prop_assert_eq!(control::decode_consumer_ack(&control::encode_consumer_ack(cid, off)).unwrap(), (cid, off));
        let a = control::decode_auth_response(&control::encode_auth_response(ok, &msg)).unwrap();
        prop_assert_eq!((a.success, a.message), (ok, msg));
    }
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 1..300).prop_map(|name| Request::CreateTopic { name }),
        any::<u32>().prop_map(|topic_id| Request::DeleteTopic { topic_id }),
        Just(Request::ListTopics),
        any::<u32>().prop_map(|topic_id| Request::GetTopic { topic_id }),
        (any::<u32>(), any::<u64>(), any::<u64>()).prop_map(|(topic_id, max_age_secs, max_bytes)| {
            Request::SetRetention { topic_id, max_age_secs, max_bytes }
        }),
        (bytes(300), any::<u64>(), any::<u64>()).prop_map(|(name, max_age_secs, max_bytes)| {
            Request::CreateTopicWithRetention { name, max_age_secs, max_bytes }
        }),
        Just(Request::GetClusterStatus),
        bytes(100).prop_map(|token| Request::Authenticate { token }),
        (any::<u32>(), any::<u64>(), any::<u32>()).prop_map(|(topic_id, start_offset, max_bytes)| Request::Fetch {
            topic_id,
            start_offset,
            max_bytes
        }),
        (any::<u32>(), any::<u64>(), any::<u32>(), any::<u64>()).prop_map(
            |(topic_id, start_offset, max_batch_bytes, consumer_id)| Request::Subscribe {
                topic_id,
                start_offset,
                max_batch_bytes,
                consumer_id
            }
        ),
        (any::<u32>(), any::<u64>()).prop_map(|(topic_id, consumer_id)| Request::Unsubscribe { topic_id, consumer_id }),
        (any::<u32>(), any::<u64>(), any::<u64>()).prop_map(|(topic_id, consumer_id, offset)| Request::CommitOffset {
            topic_id,
            consumer_id,
            offset
        }),
    ]
}

// ---------------------------------------------------------------------------------------------
// Hostile input: never panic, never over-buffer
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn frame_decoder_never_panics(cs in checksum(), data in prop_oneof![bytes(200), bytes(3000)], chunks in chunking(), small in any::<bool>()) {
        let max = if small { SMALL_MAX } else { lnc::wire::DEFAULT_MAX_PAYLOAD };
        let mut d = FrameDecoder::new(cs, max);
        let (mut at, mut i) = (0, 0);
        while at < data.len() {
            let n = chunks[i % chunks.len()].clamp(1, data.len() - at);
            i += 1;
            d.feed(&data[at..at + n]);
            at += n;
            let (_, e) = drain_frames(&mut d);
            if let Some(e) = e {
                prop_assert_eq!(d.next_frame(), Err(e));
                prop_assert_eq!(d.buffered(), 0);
                break;
            }
            prop_assert!(d.buffered() < HEADER_LEN + max);
        }
    }

    #[test]
    fn valid_header_random_rest_never_panics(cs in checksum(), flags in any::<u8>(), len in 0u32..3000, rest in bytes(3000), chunks in chunking()) {
        // Passes the header checks, so the payload path (and its checksum) is exercised.
        let mut data = hostile_header(cs, flags, len).to_vec();
        data.extend_from_slice(&rest);
        let mut d = FrameDecoder::new(cs, SMALL_MAX);
        let (mut at, mut i) = (0, 0);
        while at < data.len() {
            let n = chunks[i % chunks.len()].clamp(1, data.len() - at);
            i += 1;
            d.feed(&data[at..at + n]);
            at += n;
            let (_, e) = drain_frames(&mut d);
            if e.is_some() { break; }
            prop_assert!(d.buffered() < HEADER_LEN + SMALL_MAX);
        }
    }

    #[test]
    fn hostile_length_is_refused_after_the_header(cs in checksum(), flags in any::<u8>(), len in (SMALL_MAX as u32 + 1)..=u32::MAX, chunk in 1usize..64) {
        let hdr = hostile_header(cs, flags, len);
        let mut d = FrameDecoder::new(cs, SMALL_MAX);
        for (i, c) in hdr.chunks(chunk).enumerate() {
            d.feed(c);
            let r = d.next_frame();
            if (i + 1) * chunk < HEADER_LEN {
                prop_assert_eq!(r, Ok(None));
            } else {
                prop_assert_eq!(r, Err(FrameError::Oversize { length: len as u64, max: SMALL_MAX as u64 }));
            }
        }
        // Nothing more is buffered, whatever follows.
        d.feed(&vec![0u8; 4096]);
        prop_assert_eq!(d.buffered(), 0);
        prop_assert!(d.next_frame().is_err());
    }

    #[test]
    fn read_from_never_overreads_a_hostile_length(cs in checksum(), len in 0u32..=(SMALL_MAX as u32), chunk in 1usize..5000) {
        // The peer announces `len` bytes, then streams zeros forever.
        let hdr = hostile_header(cs, 0x40, len);
        let mut src = std::io::Read::chain(&hdr[..], std::io::repeat(0));
        let mut d = FrameDecoder::new(cs, SMALL_MAX);
        for _ in 0..20 {
            if d.read_from(&mut src, chunk).is_err() { break; }
            prop_assert!(d.buffered() <= HEADER_LEN + SMALL_MAX + chunk, "buffered {}", d.buffered());
            let (_, e) = drain_frames(&mut d);
            if e.is_some() { break; }
        }
    }

    #[test]
    fn reassembler_never_panics(data in prop_oneof![bytes(200), bytes(3000)], chunks in chunking(), expand in any::<bool>(), base in any::<u32>()) {
        let mut r = Reassembler::new(base as u64, expand);
        match reassemble(&mut r, &data, &chunks) {
            Ok(_) => prop_assert_eq!(r.fetch_offset(), base as u64 + data.len() as u64),
            Err(e) => {
                prop_assert_eq!(e.offset, r.position());
                prop_assert_eq!(r.next_record(), Err(e));
                prop_assert!(r.carry().is_empty());
            }
        }
    }

    #[test]
    fn envelope_and_replies_never_panic(code in any::<u8>(), p in prop_oneof![bytes(64), bytes(2000)]) {
        let _ = tlv::expand_envelope(&p);
        let _ = control::decode_topic_info(&p);
        let _ = control::decode_topic_list(&p);
        let _ = control::decode_topic_deleted(&p);
        let _ = control::decode_retention(&p);
        let _ = control::decode_cluster_status(&p);
        let _ = control::decode_fetch_response(&p);
        let _ = control::decode_catching_up(&p);
        let _ = control::decode_consumer_ack(&p);
        let _ = control::decode_auth_response(&p);
        let _ = control::decode_error_text(&p);
        let _ = lnc::wire::classify::classify(&String::from_utf8_lossy(&p));
        if let Ok(req) = Request::decode(code, &p) {
            prop_assert_eq!(req.code(), code);
            prop_assert_eq!(Request::decode(code, &req.payload()), Ok(req));
        }
    }

    #[test]
    fn lz4_shaped_envelopes_never_panic(declared in 0u32..100_000, block in bytes(300)) {
        // A plausible header in front of a random block reaches the LZ4 decoder.
        let mut v = declared.to_le_bytes().to_vec();
        v.extend_from_slice(&block);
        let _ = tlv::expand_envelope(&v);
    }
}

// ---------------------------------------------------------------------------------------------
// Regressions
// ---------------------------------------------------------------------------------------------

/// An envelope value whose LZ4 block decodes to nothing.
fn empty_envelope() -> Vec<u8> {
    let block = lz4_flex::block::compress_prepend_size(&[]);
    let mut rec = vec![0xFF];
    rec.extend_from_slice(&ext_type::LZ4_ENVELOPE.to_le_bytes());
    rec.extend_from_slice(&(block.len() as u32).to_le_bytes());
    rec.extend_from_slice(&block);
    rec
}

/// Bug: next_record recursed once per expanded envelope, so a long run of envelopes that expand to
/// no records overflowed the stack (a crash on hostile log data).
#[test]
fn regression_many_empty_envelopes_do_not_recurse() {
    let one = empty_envelope();
    assert_eq!(tlv::expand_envelope(&one[7..]), Ok(vec![]));
    let n = 300_000;
    let mut stream = Vec::with_capacity(one.len() * n + 6);
    for _ in 0..n {
        stream.extend_from_slice(&one);
    }
    Record::raw("x").encode_into(&mut stream);
    let mut r = Reassembler::new(0, true);
    r.feed(&stream);
    let rec = r.next_record().unwrap().unwrap();
    assert_eq!((rec.value.as_slice(), rec.offset), (&b"x"[..], (one.len() * n) as u64));
    assert_eq!(r.next_record(), Ok(None));
    assert_eq!(r.position(), stream.len() as u64);
}

/// Hardening: an 11-byte envelope declaring 16 MiB is refused without decoding (the old code
/// zeroed a 16 MiB buffer for every such record).
#[test]
fn regression_impossible_envelope_size_is_corrupt() {
    let mut v = (16u32 << 20).to_le_bytes().to_vec();
    v.extend_from_slice(&[0x00, 0x00, 0x00]);
    assert_eq!(tlv::expand_envelope(&v), Err("LZ4 block does not decode to the declared length".to_string()));
    // A highly compressible but honest block still works (~250x ratio).
    let plain: Vec<u8> = std::iter::repeat(Record::raw(vec![0u8; 1 << 16]).encode()).take(8).flatten().collect();
    let env = tlv::encode_envelope(&plain).unwrap();
    assert!(plain.len() / (env.len() - 11) > 200, "ratio {}", plain.len() / (env.len() - 11));
    assert_eq!(tlv::decode_all(&env, true).unwrap().len(), 8);
    // The largest legal envelope: 16 MiB of zeros in one record.
    let big = Record::raw(vec![0u8; (16 << 20) - 5]).encode();
    let env = tlv::encode_envelope(&big).unwrap();
    let recs = tlv::decode_all(&env, true).unwrap();
    assert_eq!(recs[0].value.len(), (16 << 20) - 5);
}

/// Bug (vector control_request_payload/authenticate): Authenticate (0x08) was refused as
/// "Authentication handled at connection level", which is the server's answer to code 0x09.
#[test]
fn regression_authenticate_decodes() {
    assert_eq!(Request::decode(0x08, b"tok"), Ok(Request::Authenticate { token: b"tok".to_vec() }));
    assert_eq!(Request::decode(0x08, b""), Ok(Request::Authenticate { token: vec![] }));
    assert_eq!(Request::decode(0x09, b"tok"), Err("Authentication handled at connection level"));
    for code in [0x00, 0x11, 0x12, 0x23, 0x24, 0x30, 0x80, 0x81, 0xFF] {
        assert_eq!(Request::decode(code, b""), Err("Invalid client command"), "code {code:#x}");
    }
}

/// Bug (vectors error_classification/not_leader_*): NOT_LEADER was marked retryable; it is a
/// redirect (reconnect elsewhere), not a resend to the same node.
#[test]
fn regression_not_leader_is_a_redirect() {
    let e = lnc::wire::classify::classify("NOT_LEADER: redirect to [::1]:1992");
    assert_eq!((e.code.name(), e.retryable, e.leader.as_deref()), ("NOT_LEADER", false, Some("[::1]:1992")));
    let e = lnc::wire::classify::classify("NOT_LEADER: leader unknown");
    assert_eq!((e.retryable, e.leader), (false, None));
}

/// Exactly 16 MiB (header + value) is a legal record; one byte more is corrupt at once.
#[test]
fn record_size_limit_boundary() {
    let mut r = Reassembler::new(10, false);
    let len = (16u32 << 20) - 5;
    let mut hdr = vec![0x01];
    hdr.extend_from_slice(&len.to_le_bytes());
    r.feed(&hdr);
    assert_eq!(r.next_record(), Ok(None), "waits for a legal 16 MiB record");
    let mut r = Reassembler::new(10, false);
    let mut hdr = vec![0x01];
    hdr.extend_from_slice(&(len + 1).to_le_bytes());
    r.feed(&hdr);
    assert_eq!(r.next_record().unwrap_err().offset, 10);
    // u32::MAX in an extended header does not overflow anything.
    let mut r = Reassembler::new(0, true);
    r.feed(&[0xFF, 0x00, 0x01, 0xFF, 0xFF, 0xFF, 0xFF]);
    assert!(r.next_record().is_err());
}

/// Bug (found by `envelopes_round_trip`): expand_envelope documented offsets 0 but returned each
/// inner record's position inside the decompressed block, which looks like a log offset.
#[test]
fn regression_expand_envelope_offsets_are_zero() {
    let mut plain = Record::raw("a").encode();
    Record::raw("b").encode_into(&mut plain);
    let env = tlv::build_envelope(&plain).unwrap();
    let recs = tlv::expand_envelope(&env[7..]).unwrap();
    assert_eq!(recs.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![0, 0]);
}
