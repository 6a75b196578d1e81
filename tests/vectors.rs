//! Conformance: every vector of `../shared/vectors/lwp-vectors.json` against the pure codec.
//!
//! The file is read at test time (never copied). Each vector is dispatched on its `kind`; an
//! unknown kind fails the test, and the final assertion checks that every vector was exercised.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use lnc::wire::checksum::Checksum;
use lnc::wire::classify::classify;
use lnc::wire::consumer_id::{consumer_id, siphash13};
use lnc::wire::control::{self, command, reply_code, Request};
use lnc::wire::frame::{encode_frame, Frame, FrameDecoder, FrameError, DEFAULT_MAX_PAYLOAD};
use lnc::wire::header::{flags, header_checksum, FrameKind, Header, HEADER_LEN};
use lnc::wire::tlv::{self, Reassembler, Record};
use serde_json::Value;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vectors/lwp-vectors.json");

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd-length hex {s:?}");
    let nib = |c: u8| match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => panic!("bad hex digit {:?} in {s:?}", c as char),
    };
    s.as_bytes().chunks(2).map(|p| nib(p[0]) << 4 | nib(p[1])).collect()
}

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A u64 protocol value: a decimal string in the vectors (JSON loses precision), or a number.
fn num(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.parse().unwrap_or_else(|e| panic!("not a decimal u64: {s:?}: {e}")),
        Value::Number(n) => n.as_u64().unwrap_or_else(|| panic!("not a u64: {n}")),
        other => panic!("expected a number, got {other}"),
    }
}

fn field<'a>(f: &'a Value, key: &str) -> &'a Value {
    f.get(key).unwrap_or_else(|| panic!("missing field {key:?}"))
}
fn u(f: &Value, key: &str) -> u64 {
    num(field(f, key))
}
fn s<'a>(f: &'a Value, key: &str) -> &'a str {
    field(f, key).as_str().unwrap_or_else(|| panic!("field {key:?} is not a string"))
}
fn h(f: &Value, key: &str) -> Vec<u8> {
    hex(s(f, key))
}

fn checksum_of(f: &Value, key: &str) -> Checksum {
    match f.get(key).and_then(Value::as_str) {
        None => Checksum::Crc32, // the default the deployed server uses
        Some(name) => Checksum::parse(name).unwrap_or_else(|| panic!("unknown checksum {name:?}")),
    }
}

fn kind_name(k: FrameKind) -> &'static str {
    match k {
        FrameKind::Control => "control",
        FrameKind::Keepalive => "keepalive",
        FrameKind::Ack => "ack",
        FrameKind::Backpressure => "backpressure",
        FrameKind::Ingest => "ingest",
        FrameKind::Unknown => "unknown",
    }
}

/// Header fields as the vectors spell them.
fn header_from_fields(f: &Value) -> Header {
    Header {
        version: u(f, "version") as u8,
        flags: u(f, "flags") as u8,
        reserved: u(f, "reserved") as u16,
        header_crc: u(f, "header_crc") as u32,
        batch_id: u(f, "batch_id"),
        timestamp_ns: u(f, "timestamp_ns"),
        record_count: u(f, "record_count") as u32,
        payload_length: u(f, "payload_length") as u32,
        payload_crc: u(f, "payload_crc") as u32,
        topic_id: u(f, "topic_id") as u32,
    }
}

/// Feeds `bytes` in the given chunk sizes (cycled), draining frames after every chunk.
fn decode_frames(bytes: &[u8], checksum: Checksum, chunks: &[usize]) -> Result<Vec<Frame>, FrameError> {
    let mut d = FrameDecoder::new(checksum, DEFAULT_MAX_PAYLOAD);
    let mut out = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < bytes.len() {
        let n = chunks[i % chunks.len()].max(1).min(bytes.len() - at);
        i += 1;
        d.feed(&bytes[at..at + n]);
        at += n;
        while let Some(fr) = d.next_frame()? {
            out.push(fr);
        }
    }
    assert_eq!(d.buffered(), 0, "bytes left in the decoder after the last frame");
    Ok(out)
}

/// The chunkings every frame stream is decoded under (whole, byte-by-byte, awkward sizes, a
/// deterministic pseudo-random one, plus `extra` such as the captured TCP read sizes).
fn chunkings(len: usize, extra: Option<Vec<usize>>) -> Vec<Vec<usize>> {
    let mut v =
        vec![vec![len.max(1)], vec![1], vec![2], vec![3], vec![7], vec![43], vec![44], vec![45], vec![13, 1, 60]];
    let mut x: u32 = 0x9e37_79b9 ^ len as u32;
    let rnd: Vec<usize> = (0..64)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            1 + (x % 50) as usize
        })
        .collect();
    v.push(rnd);
    if let Some(e) = extra {
        v.push(e);
    }
    v
}

fn decode_frames_all_chunkings(bytes: &[u8], checksum: Checksum, extra: Option<Vec<usize>>) -> Vec<Frame> {
    let mut first: Option<Vec<Frame>> = None;
    for c in chunkings(bytes.len(), extra) {
        let frames = decode_frames(bytes, checksum, &c).unwrap_or_else(|e| panic!("decode under chunking {c:?}: {e}"));
        match &first {
            None => first = Some(frames),
            Some(f) => assert_eq!(&frames, f, "chunking {c:?} changed the result"),
        }
    }
    first.unwrap()
}

fn request_from_params(command: &str, p: &Value) -> Request {
    let name = |k: &str| s(p, k).as_bytes().to_vec();
    match command {
        "create_topic" => Request::CreateTopic { name: name("name") },
        "delete_topic" => Request::DeleteTopic { topic_id: u(p, "topic_id") as u32 },
        "list_topics" => Request::ListTopics,
        "get_topic" => Request::GetTopic { topic_id: u(p, "topic_id") as u32 },
        "set_retention" => Request::SetRetention {
            topic_id: u(p, "topic_id") as u32,
            max_age_secs: u(p, "max_age_secs"),
            max_bytes: u(p, "max_bytes"),
        },
        "create_topic_with_retention" => Request::CreateTopicWithRetention {
            name: name("name"),
            max_age_secs: u(p, "max_age_secs"),
            max_bytes: u(p, "max_bytes"),
        },
        "get_cluster_status" => Request::GetClusterStatus,
        "authenticate" => Request::Authenticate { token: name("token") },
        "fetch" => Request::Fetch {
            topic_id: u(p, "topic_id") as u32,
            start_offset: u(p, "start_offset"),
            max_bytes: u(p, "max_bytes") as u32,
        },
        "subscribe" => Request::Subscribe {
            topic_id: u(p, "topic_id") as u32,
            start_offset: u(p, "start_offset"),
            max_batch_bytes: u(p, "max_batch_bytes") as u32,
            consumer_id: u(p, "consumer_id"),
        },
        "unsubscribe" => Request::Unsubscribe { topic_id: u(p, "topic_id") as u32, consumer_id: u(p, "consumer_id") },
        "commit_offset" => Request::CommitOffset {
            topic_id: u(p, "topic_id") as u32,
            consumer_id: u(p, "consumer_id"),
            offset: u(p, "offset"),
        },
        other => panic!("unknown command {other:?}"),
    }
}

fn command_code(name: &str) -> Option<u8> {
    Some(match name {
        "create_topic" => command::CREATE_TOPIC,
        "delete_topic" => command::DELETE_TOPIC,
        "list_topics" => command::LIST_TOPICS,
        "get_topic" => command::GET_TOPIC,
        "set_retention" => command::SET_RETENTION,
        "create_topic_with_retention" => command::CREATE_TOPIC_WITH_RETENTION,
        "get_cluster_status" => command::GET_CLUSTER_STATUS,
        "authenticate" => command::AUTHENTICATE,
        "fetch" => command::FETCH,
        "subscribe" => command::SUBSCRIBE,
        "unsubscribe" => command::UNSUBSCRIBE,
        "commit_offset" => command::COMMIT_OFFSET,
        _ => return None,
    })
}

/// `{type, value_hex, ext_type?, offset?}` records of the vectors.
fn assert_records(got: &[Record], want: &Value, with_offsets: bool) {
    let want = want.as_array().expect("records array");
    assert_eq!(got.len(), want.len(), "record count; got {got:?}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.record_type as u64, u(w, "type"), "record {i} type");
        assert_eq!(g.ext_type.map(u64::from), w.get("ext_type").map(num), "record {i} ext_type");
        assert_eq!(to_hex(&g.value), s(w, "value_hex"), "record {i} value");
        if with_offsets {
            assert_eq!(g.offset, u(w, "offset"), "record {i} offset");
        }
    }
}

/// Drains every available record; stops at the first error.
fn drain(r: &mut Reassembler, out: &mut Vec<Record>) -> Result<(), tlv::CorruptRecord> {
    while let Some(rec) = r.next_record()? {
        out.push(rec);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// One function per kind
// ---------------------------------------------------------------------------------------------

fn check_checksum(f: &Value, bytes: &[u8]) {
    let algo = Checksum::parse(s(f, "algorithm")).expect("algorithm");
    assert_eq!(algo.name(), s(f, "algorithm"));
    let input = h(f, "input_hex");
    let value = algo.compute(&input);
    assert_eq!(value as u64, u(f, "value"));
    assert_eq!(&value.to_le_bytes()[..], bytes, "checksum bytes as written on the wire (LE)");
    assert_eq!(format!("{value:#010x}"), s(f, "value_hex"));
}

fn check_header(f: &Value, bytes: &[u8]) {
    let checksum = checksum_of(f, "checksum");
    let want = header_from_fields(f);
    assert_eq!(bytes.len(), HEADER_LEN);
    assert_eq!(&want.encode()[..], bytes, "encode from fields");
    let arr: &[u8; HEADER_LEN] = bytes.try_into().unwrap();
    let got = Header::parse(arr);
    assert_eq!(got, want, "decode");
    assert_eq!(kind_name(got.kind()), s(f, "frame_type"), "classification");
    assert_eq!(header_checksum(checksum, got.version, got.flags, got.reserved), got.header_crc, "header crc");
    lnc::wire::frame::check_header(arr, checksum, DEFAULT_MAX_PAYLOAD).expect("a valid header");
    if let Some(code) = f.get("command_code") {
        assert_eq!(got.code() as u64, num(code));
    }
}

fn check_frame(f: &Value, bytes: &[u8]) {
    let checksum = checksum_of(f, "checksum");
    if let Some(want_frames) = f.get("frames") {
        // A captured server stream: several frames back to back.
        let reads: Option<Vec<usize>> =
            f.get("tcp_read_sizes").map(|r| r.as_array().unwrap().iter().map(|x| num(x) as usize).collect());
        if let Some(r) = &reads {
            assert_eq!(r.iter().sum::<usize>(), bytes.len(), "tcp_read_sizes cover the capture");
        }
        let got = decode_frames_all_chunkings(bytes, checksum, reads);
        let want_frames = want_frames.as_array().unwrap();
        assert_eq!(got.len(), want_frames.len(), "frame count");
        for (g, w) in got.iter().zip(want_frames) {
            assert_eq!(kind_name(g.kind()), s(w, "frame_type"));
            assert_eq!(g.header.flags as u64, u(w, "flags"));
            assert_eq!(g.header.batch_id, u(w, "batch_id"));
            assert_eq!(to_hex(&g.payload), s(w, "payload_hex"));
            // Everything the server sends has these fixed (lwp.md §1.1).
            assert_eq!((g.header.version, g.header.reserved, g.header.timestamp_ns), (1, 0, 0));
            assert_eq!((g.header.record_count, g.header.topic_id), (0, 0));
        }
    } else {
        let want = header_from_fields(f);
        let payload = h(f, "payload_hex");
        assert_eq!(want.payload_length as usize, payload.len());
        // Encode from fields (client frames are what liblnc sends; server frames are what the
        // mock broker sends, so both must come out byte for byte).
        let mut enc = Vec::new();
        encode_frame(
            &mut enc,
            checksum,
            want.flags,
            want.batch_id,
            want.timestamp_ns,
            want.record_count,
            want.topic_id,
            &payload,
        );
        assert_eq!(to_hex(&enc), to_hex(bytes), "encode_frame from fields");
        let frames = decode_frames_all_chunkings(bytes, checksum, None);
        assert_eq!(frames.len(), 1);
        let fr = &frames[0];
        assert_eq!(fr.header, want, "decoded header fields");
        assert_eq!(fr.payload, payload);
        assert_eq!(kind_name(fr.kind()), s(f, "frame_type"));
        if let Some(code) = f.get("command_code") {
            assert_eq!(fr.header.code() as u64, num(code));
        }
        // The other checksum mode must refuse the frame.
        let other = if checksum == Checksum::Crc32 { Checksum::Crc32c } else { Checksum::Crc32 };
        assert!(matches!(decode_frames(bytes, other, &[bytes.len()]), Err(FrameError::HeaderChecksum { .. })));
    }
    // The request that produced a server reply must itself be a valid client stream.
    if let Some(req) = f.get("request_hex") {
        let req = hex(req.as_str().unwrap());
        let frames = decode_frames_all_chunkings(&req, Checksum::Crc32, None);
        assert!(!frames.is_empty());
        for fr in &frames {
            if fr.kind() == FrameKind::Control {
                // Control requests must decode the way the server reads them (ignoring the
                // reply-only authenticate path which still decodes to a request).
                Request::decode(fr.header.code(), &fr.payload).expect("request decodes");
            }
        }
    }
}

fn check_control_request(f: &Value, bytes: &[u8]) {
    let cmd = s(f, "command");
    let req = request_from_params(cmd, field(f, "params"));
    assert_eq!(req.code() as u64, u(f, "command_code"));
    assert_eq!(Some(req.code()), command_code(cmd));
    assert_eq!(to_hex(&req.payload()), to_hex(bytes), "encode from params");
    assert_eq!(Request::decode(req.code(), bytes), Ok(req.clone()), "decode round trip");
    // And as a whole frame: flags 0x40, the code in batch_id, everything else 0.
    let mut frame = Vec::new();
    encode_frame(&mut frame, Checksum::Crc32, flags::CONTROL, req.code() as u64, 0, 0, 0, bytes);
    let fr = decode_frames(&frame, Checksum::Crc32, &[1]).unwrap().pop().unwrap();
    assert_eq!((fr.kind(), fr.header.code(), fr.payload.as_slice()), (FrameKind::Control, req.code(), bytes));
}

fn check_control_response(f: &Value, bytes: &[u8]) {
    let parsed = field(f, "parsed");
    let code = u(f, "reply_code") as u8;
    let reply = s(f, "reply");
    // The request that produced it decodes as the server reads it.
    if let Some(cmd_code) = command_code(s(f, "request_command")) {
        let req_payload = h(f, "request_payload_hex");
        let req = Request::decode(cmd_code, &req_payload).expect("request decodes");
        assert_eq!(req.payload(), req_payload, "request re-encodes");
    }
    let json_eq = |got: Value| {
        let want = field(parsed, "json");
        assert_eq!(&got, want, "decoded reply, re-serialised");
        let text: Value = serde_json::from_str(s(parsed, "json_text")).unwrap();
        assert_eq!(&text, want);
        let wire: Value = serde_json::from_slice(bytes).unwrap();
        assert_eq!(&wire, want, "payload JSON (parsed, never compared as text)");
    };
    match (reply, code) {
        ("topic_response", reply_code::TOPIC_RESPONSE) => match s(f, "request_command") {
            "create_topic" | "get_topic" | "create_topic_with_retention" => {
                json_eq(serde_json::to_value(control::decode_topic_info(bytes).unwrap()).unwrap())
            }
            "list_topics" => json_eq(serde_json::to_value(control::decode_topic_list(bytes).unwrap()).unwrap()),
            "delete_topic" => json_eq(serde_json::to_value(control::decode_topic_deleted(bytes).unwrap()).unwrap()),
            "set_retention" => json_eq(serde_json::to_value(control::decode_retention(bytes).unwrap()).unwrap()),
            other => panic!("topic_response for {other:?}"),
        },
        ("cluster_status_response", reply_code::CLUSTER_STATUS_RESPONSE) => {
            json_eq(serde_json::to_value(control::decode_cluster_status(bytes).unwrap()).unwrap())
        }
        ("authenticate_response", reply_code::AUTHENTICATE_RESPONSE) => {
            let a = control::decode_auth_response(bytes).unwrap();
            assert_eq!(a.success, u(parsed, "success") == 1);
            assert_eq!(a.message, s(parsed, "message"));
            assert_eq!(control::encode_auth_response(a.success, &a.message), bytes, "bytes exact");
            if !a.success {
                assert_eq!(classify(&a.message).code.name(), "AUTH_FAILED");
            }
        }
        ("subscribe_ack", reply_code::SUBSCRIBE_ACK) | ("commit_ack", reply_code::COMMIT_ACK) => {
            let (cid, off) = control::decode_consumer_ack(bytes).unwrap();
            assert_eq!((cid, off), (u(parsed, "consumer_id"), u(parsed, "offset")));
            assert_eq!(control::encode_consumer_ack(cid, off), bytes, "bytes exact");
        }
        ("catching_up", reply_code::CATCHING_UP) => {
            let end = control::decode_catching_up(bytes).unwrap();
            assert_eq!(end, u(parsed, "end_offset"));
            assert_eq!(&end.to_le_bytes()[..], bytes, "bytes exact");
        }
        ("error_response", reply_code::ERROR_RESPONSE) => {
            assert_eq!(control::decode_error_text(bytes), s(parsed, "text"));
            assert_eq!(s(parsed, "text").as_bytes(), bytes, "bytes exact");
        }
        other => panic!("unknown reply {other:?}"),
    }
}

fn check_tlv_encode(f: &Value, bytes: &[u8]) {
    let value = h(f, "value_hex");
    let t = u(f, "type") as u8;
    let text = |k: &str| s(f, k).as_bytes().to_vec();
    let rec = match f.get("type_name").and_then(Value::as_str) {
        Some("raw") => Record::raw(value.clone()),
        Some("json") => Record::json(value.clone()),
        Some("msgpack") => Record::msgpack(value.clone()),
        Some("protobuf") => Record::protobuf(value.clone()),
        Some("avro") => Record::avro(value.clone()),
        Some("user_defined") => Record::user(t, value.clone()).unwrap(),
        Some("key_value") => Record::key_value(&text("key"), &text("value_ascii")).unwrap(),
        Some("timestamped") => Record::timestamped(u(f, "timestamp_ns"), &text("data_ascii")),
        Some("key_timestamped") => {
            Record::key_timestamped(u(f, "timestamp_ns"), &text("key"), &text("value_ascii")).unwrap()
        }
        None if t == 0xFF && u(f, "ext_type") == tlv::ext_type::TOMBSTONE as u64 => Record::tombstone(),
        None if t == 0xFF => Record::extended(u(f, "ext_type") as u16, value.clone()),
        other => panic!("unknown tlv type_name {other:?}"),
    };
    assert_eq!(to_hex(&rec.encode()), to_hex(bytes), "typed constructor encodes exactly");
    assert_eq!(rec.record_type, t);
    assert_eq!(rec.ext_type.map(u64::from), f.get("ext_type").map(num));
    assert_eq!(rec.value, value);
    assert_eq!(rec.header_len() as u64, u(f, "header_size"));
    assert_eq!(rec.value.len() as u64, u(f, "length"));
    assert_eq!(rec.encoded_len(), bytes.len());
    assert_eq!(rec.is_tombstone(), t == 0xFF && f.get("ext_type").map(num) == Some(0xFF));
    // Structured accessors.
    match f.get("type_name").and_then(Value::as_str) {
        Some("key_value") => {
            assert_eq!(rec.key(), Some(&text("key")[..]));
            assert_eq!(rec.data(), &text("value_ascii")[..]);
            assert_eq!(rec.timestamp_ns(), None);
        }
        Some("timestamped") => {
            assert_eq!(rec.timestamp_ns(), Some(u(f, "timestamp_ns")));
            assert_eq!(rec.data(), &text("data_ascii")[..]);
            assert_eq!(rec.key(), None);
        }
        Some("key_timestamped") => {
            assert_eq!(rec.timestamp_ns(), Some(u(f, "timestamp_ns")));
            assert_eq!(rec.key(), Some(&text("key")[..]));
            assert_eq!(rec.data(), &text("value_ascii")[..]);
        }
        _ => {
            assert_eq!(rec.data(), &value[..]);
            assert_eq!((rec.key(), rec.timestamp_ns()), (None, None));
        }
    }
    // The hot-path writer produces the same bytes for standard records.
    if t != 0xFF {
        let mut out = Vec::new();
        let (key, ts, data) = match f.get("type_name").and_then(Value::as_str) {
            Some("key_value") => (Some(text("key")), 0, text("value_ascii")),
            Some("timestamped") => (None, u(f, "timestamp_ns"), text("data_ascii")),
            Some("key_timestamped") => (Some(text("key")), u(f, "timestamp_ns"), text("value_ascii")),
            _ => (None, 0, value.clone()),
        };
        let n = tlv::append_structured(&mut out, t, key.as_deref(), ts, &data).unwrap();
        assert_eq!((n, to_hex(&out)), (bytes.len(), to_hex(bytes)), "append_structured");
    }
    // And it decodes back to the same record.
    let back = tlv::decode_all(bytes, true).unwrap();
    assert_eq!(back, vec![rec]);
}

fn check_tlv_decode(f: &Value, bytes: &[u8]) {
    let chunks: Vec<Vec<u8>> =
        field(f, "chunks").as_array().unwrap().iter().map(|c| hex(c.as_str().unwrap())).collect();
    assert_eq!(chunks.concat(), bytes, "chunks are the stream");
    let expand = field(f, "expand_envelopes").as_bool().unwrap();
    let run = |chunks: &[&[u8]]| {
        let mut r = Reassembler::new(0, expand);
        let mut recs = Vec::new();
        let mut err = None;
        for c in chunks {
            r.feed(c);
            if let Err(e) = drain(&mut r, &mut recs) {
                err = Some(e);
                break;
            }
        }
        (r, recs, err)
    };
    let vector_chunks: Vec<&[u8]> = chunks.iter().map(|c| c.as_slice()).collect();
    let (r, recs, err) = run(&vector_chunks);
    assert_records(&recs, field(f, "records"), true);
    assert_eq!(r.position(), u(f, "consumed"), "consumed == position()");
    assert_eq!(to_hex(r.carry()), s(f, "leftover_hex"), "leftover == carry");
    assert_eq!(r.carry_len(), r.carry().len());
    match field(f, "error") {
        Value::Null => {
            assert!(err.is_none(), "unexpected error {err:?}");
            assert_eq!(r.fetch_offset(), r.position() + r.carry_len() as u64);
        }
        e => {
            let err = err.clone().expect("an error");
            assert_eq!(s(e, "kind"), "corrupt");
            assert_eq!(err.offset, u(e, "offset"), "CorruptRecord offset");
            assert_eq!(err.reason, s(e, "reason"));
            assert_eq!(r.error(), Some(&err), "sticky");
        }
    }
    // Any other chunking gives the same outcome: byte-by-byte and all at once.
    for alt in [bytes.chunks(1).collect::<Vec<_>>(), vec![bytes], bytes.chunks(3).collect()] {
        let (r2, recs2, err2) = run(&alt);
        assert_eq!(recs2, recs);
        assert_eq!(err2, err);
        assert_eq!((r2.position(), r2.carry()), (r.position(), r.carry()));
    }
}

fn check_fetch_response(f: &Value, bytes: &[u8]) {
    let frames = decode_frames_all_chunkings(bytes, Checksum::Crc32, None);
    assert_eq!(frames.len(), 1);
    let fr = &frames[0];
    assert_eq!(fr.kind(), FrameKind::Control);
    assert_eq!(fr.header.code() as u64, u(f, "reply_code"));
    let p = &fr.payload;
    match s(f, "reply") {
        "fetch_response" => {
            let r = control::decode_fetch_response(p).unwrap();
            assert_eq!(r.next_offset, u(f, "next_offset"));
            assert_eq!(r.data.len() as u64, u(f, "bytes_returned"));
            assert_eq!(r.record_count as u64, u(f, "record_count"));
            assert_eq!(to_hex(r.data), s(f, "data_hex"));
            let mut enc = Vec::new();
            control::encode_fetch_response(&mut enc, r.next_offset, r.data);
            assert_eq!(&enc, p, "encode_fetch_response (mock side)");
        }
        "catching_up" => assert_eq!(control::decode_catching_up(p).unwrap(), u(f, "end_offset")),
        "error_response" => {
            let text = control::decode_error_text(p);
            assert_eq!(text, s(f, "text"));
            assert_eq!(classify(&text).code.name(), "UNKNOWN_TOPIC");
        }
        other => panic!("unknown reply {other:?}"),
    }
    // The request: encode from fields; decode it back the way the server does.
    let rq = field(f, "request");
    let req = Request::Fetch {
        topic_id: u(rq, "topic_id") as u32,
        start_offset: u(rq, "start_offset"),
        max_bytes: u(rq, "max_bytes") as u32,
    };
    let req_bytes = h(f, "request_hex");
    let mut enc = Vec::new();
    encode_frame(&mut enc, Checksum::Crc32, flags::CONTROL, req.code() as u64, 0, 0, 0, &req.payload());
    let sent = decode_frames(&req_bytes, Checksum::Crc32, &[1]).unwrap().pop().unwrap();
    assert_eq!(Request::decode(sent.header.code(), &sent.payload), Ok(req.clone()));
    if sent.payload.len() == 16 {
        assert_eq!(to_hex(&enc), to_hex(&req_bytes), "request_hex encodes from the request fields");
    } else {
        // fetch_response/extra_payload_bytes: a hand-made request with bytes after the 16 the
        // server reads; ours is exactly those 16.
        assert!(sent.payload.len() > 16 && sent.payload.starts_with(&req.payload()));
        assert_eq!(enc[12..32], req_bytes[12..32]);
    }
}

fn check_error_classification(f: &Value, bytes: &[u8]) {
    let text = s(f, "text");
    assert_eq!(text.as_bytes(), bytes);
    let e = classify(text);
    let want_code = match s(f, "category") {
        "bad_request" => "SERVER_ERROR", // a liblnc bug, reported as a server error (lwp.md §6)
        other => &*Box::leak(other.to_ascii_uppercase().into_boxed_str()),
    };
    assert_eq!(e.code.name(), want_code, "category");
    assert_eq!(e.retryable, field(f, "retryable").as_bool().unwrap(), "retryable");
    assert_eq!(e.leader.as_deref(), field(f, "redirect_to").as_str(), "redirect_to");
    assert_eq!(e.message, text, "the text is kept verbatim");
    let class = s(f, "class");
    match class {
        "retryable" => assert!(e.retryable),
        "not_retryable" => assert!(!e.retryable),
        "auth" => assert!(matches!(e.code.name(), "AUTH_REQUIRED" | "AUTH_FAILED")),
        "redirect" => assert_eq!(e.code.name(), "NOT_LEADER"),
        other => panic!("unknown class {other:?}"),
    }
}

fn check_offset_file(f: &Value, bytes: &[u8]) {
    let name = s(f, "consumer_name");
    let topic = u(f, "topic_id");
    let offset = u(f, "offset");
    match s(f, "format") {
        "rust_lockfile" => {
            assert!(field(f, "compatible").as_bool().unwrap());
            let id = consumer_id(name);
            assert_eq!(id, u(f, "consumer_id"), "consumer id");
            assert_eq!(format!("{offset}\n").as_bytes(), bytes, "contents: decimal + newline");
            let back: u64 = std::str::from_utf8(bytes).unwrap().trim().parse().unwrap();
            assert_eq!(back, offset, "contents parse back (whitespace trimmed)");
            let stem = format!("topic-{topic}-consumer-{id}");
            assert_eq!(s(f, "relative_path"), format!("{name}/{stem}.offset"));
            if let Some(lock) = f.get("lock_file") {
                assert_eq!(lock.as_str().unwrap(), format!("{name}/{stem}.lock"));
            }
            if let Some(tmp) = f.get("tmp_file") {
                assert_eq!(tmp.as_str().unwrap(), format!("{name}/{stem}.offset.tmp"));
            }
            // The reader's file-name rule: strip ".offset", split on '-'.
            let file = s(f, "relative_path").rsplit('/').next().unwrap();
            let parts: Vec<&str> = file.strip_suffix(".offset").unwrap().split('-').collect();
            assert_eq!((parts[0], parts[2]), ("topic", "consumer"));
            assert_eq!((parts[1].parse::<u32>().unwrap() as u64, parts[3].parse::<u64>().unwrap()), (topic, id));
        }
        "python_json" => {
            assert!(!field(f, "compatible").as_bool().unwrap());
            // Recognisable: a JSON object, never a bare decimal.
            assert!(std::str::from_utf8(bytes).unwrap().trim().parse::<u64>().is_err());
            let j: Value = serde_json::from_slice(bytes).expect("python offset files are JSON");
            assert!(j.is_object());
            assert_eq!(j["consumer"].as_str(), Some(name));
            assert_eq!(j["topic_id"].as_u64(), Some(topic));
            assert_eq!(&j["topic_name"], field(f, "topic_name"));
            assert_eq!(j["offset"].as_u64(), Some(offset));
            assert!(!bytes.ends_with(b"\n"), "no newline");
            let label = j["topic_name"].as_str().map(str::to_string).unwrap_or_else(|| topic.to_string());
            let file = format!("{}_{}.offset", name.replace(['/', '\\'], "_"), label);
            assert_eq!(s(f, "relative_path"), file);
        }
        other => panic!("unknown offset file format {other:?}"),
    }
}

fn check_consumer_id(f: &Value, bytes: &[u8]) {
    let name = s(f, "consumer_name");
    let mut input = name.as_bytes().to_vec();
    input.push(0xFF);
    assert_eq!(input, bytes, "hash input = utf8(name) + 0xff");
    let want = u(f, "consumer_id");
    assert_eq!(consumer_id(name), want);
    assert_eq!(siphash13(0, 0, bytes), want);
    if let Some(hx) = f.get("consumer_id_hex") {
        assert_eq!(format!("{want:#018x}"), hx.as_str().unwrap());
    }
}

fn check_compression_envelope(f: &Value, bytes: &[u8]) {
    let value = h(f, "value_hex");
    let inner_hex = h(f, "inner_hex");
    let want = field(f, "inner_records");
    // The whole record, opaque.
    let opaque = tlv::decode_all(bytes, false).unwrap();
    assert_eq!(opaque.len(), 1);
    assert_eq!(opaque[0].ext_type, Some(u(f, "ext_type") as u16));
    assert_eq!(opaque[0].header_len() as u64, u(f, "header_size"));
    assert_eq!(opaque[0].value.len() as u64, u(f, "length"));
    assert_eq!(opaque[0].value, value);
    assert_eq!(u32::from_le_bytes(value[..4].try_into().unwrap()) as u64, u(f, "uncompressed_length"));
    assert_eq!(inner_hex.len() as u64, u(f, "plain_size"));
    assert_eq!(bytes.len() as u64, u(f, "envelope_size"));
    assert_eq!(&value[4..], &h(f, "lz4_block_hex")[..]);
    // expand_envelope yields the inner records.
    assert_records(&tlv::expand_envelope(&value).unwrap(), want, false);
    assert_records(&tlv::decode_all(&inner_hex, false).unwrap(), want, false);
    // The reassembler expands it; every inner record carries the envelope's offset.
    let mut r = Reassembler::new(500, true);
    r.feed(bytes);
    let mut recs = Vec::new();
    drain(&mut r, &mut recs).unwrap();
    assert_records(&recs, want, false);
    assert!(recs.iter().all(|x| x.offset == 500));
    assert_eq!(r.position(), 500 + bytes.len() as u64);
    // Our encoder round-trips (compared by decoding, never by bytes).
    let ours = tlv::build_envelope(&inner_hex).unwrap();
    assert_records(&tlv::decode_all(&ours, true).unwrap(), want, false);
    let smaller = u(f, "envelope_size") < u(f, "plain_size");
    match tlv::encode_envelope(&inner_hex) {
        Some(env) => {
            assert!(env.len() < inner_hex.len());
            assert_records(&tlv::decode_all(&env, true).unwrap(), want, false);
        }
        None => assert!(!smaller, "lz4_flex compresses this, so encode_envelope must too"),
    }
}

fn check_reject(f: &Value, bytes: &[u8]) {
    let checksum = checksum_of(f, "checksum_mode");
    let reason = s(f, "reason");
    let matches = |e: &FrameError| match reason {
        "bad_magic" => matches!(e, FrameError::BadMagic(_)),
        "bad_version" => matches!(e, FrameError::BadVersion(_)),
        "bad_header_crc" => matches!(e, FrameError::HeaderChecksum { .. }),
        "bad_payload_crc" => matches!(e, FrameError::PayloadChecksum { .. }),
        "oversize" | "oversize_length" => matches!(e, FrameError::Oversize { .. }),
        other => panic!("unknown reject reason {other:?}"),
    };
    // All at once.
    let mut d = FrameDecoder::new(checksum, DEFAULT_MAX_PAYLOAD);
    d.feed(bytes);
    let whole = d.next_frame().expect_err("must be refused");
    assert!(matches(&whole), "{reason}: got {whole:?}");
    assert_eq!(d.next_frame(), Err(whole.clone()), "the error is sticky");
    // Byte by byte: the same error, and nothing before it.
    let mut d = FrameDecoder::new(checksum, DEFAULT_MAX_PAYLOAD);
    let mut fed = 0;
    let mut got = None;
    for b in bytes {
        d.feed(std::slice::from_ref(b));
        fed += 1;
        match d.next_frame() {
            Ok(None) => {}
            Ok(Some(fr)) => panic!("accepted a frame {fr:?}"),
            Err(e) => {
                got = Some(e);
                break;
            }
        }
    }
    assert_eq!(got.as_ref(), Some(&whole), "byte-by-byte gives the same error");
    if matches!(
        whole,
        FrameError::Oversize { .. }
            | FrameError::BadMagic(_)
            | FrameError::BadVersion(_)
            | FrameError::HeaderChecksum { .. }
    ) {
        assert_eq!(fed, HEADER_LEN, "a header error is reported as soon as the 44 header bytes are in");
    }
    if let FrameError::Oversize { length, max } = whole {
        assert_eq!(max, DEFAULT_MAX_PAYLOAD as u64);
        assert!(length > max);
        assert!(bytes.len() <= HEADER_LEN + 8, "oversize vectors carry (almost) no payload");
        assert_eq!(d.buffered(), 0, "nothing kept after the error");
    }
    // Where the vector quotes the codec's CRC message, the numbers must agree.
    if let Some(msg) = f.get("codec_error").and_then(Value::as_str) {
        if let Some(rest) = msg.strip_prefix("CRC mismatch: expected 0x") {
            let (exp, got) = rest.split_once(", got 0x").unwrap();
            let exp = u32::from_str_radix(exp, 16).unwrap();
            let got = u32::from_str_radix(got, 16).unwrap();
            match whole {
                FrameError::HeaderChecksum { expected, actual } | FrameError::PayloadChecksum { expected, actual } => {
                    assert_eq!((expected, actual), (exp, got));
                }
                _ => panic!("CRC message for {whole:?}"),
            }
        }
        if let Some(v) = msg.strip_prefix("Protocol error: Unsupported protocol version: ") {
            assert_eq!(whole, FrameError::BadVersion(v.parse().unwrap()));
        }
    }
}

// ---------------------------------------------------------------------------------------------

#[test]
fn every_vector() {
    let text = std::fs::read_to_string(VECTORS).unwrap_or_else(|e| {
        panic!("the conformance vectors must be at {VECTORS} (shared/vectors, next to the repo): {e}")
    });
    let doc: Value = serde_json::from_str(&text).expect("vectors JSON");
    let vectors = doc["vectors"].as_array().expect("vectors array");
    let total = vectors.len();
    assert!(total >= 150, "expected at least 150 vectors, found {total}");

    let mut handled = 0usize;
    let mut per_kind: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for v in vectors {
        let name = v["name"].as_str().expect("name");
        let kind = v["kind"].as_str().expect("kind");
        let f = &v["fields"];
        let bytes = hex(v["hex"].as_str().expect("hex"));
        let check: fn(&Value, &[u8]) = match kind {
            "checksum" => check_checksum,
            "header" => check_header,
            "frame" => check_frame,
            "control_request_payload" => check_control_request,
            "control_response_payload" => check_control_response,
            "tlv_encode" => check_tlv_encode,
            "tlv_decode" => check_tlv_decode,
            "fetch_response" => check_fetch_response,
            "error_classification" => check_error_classification,
            "offset_file" => check_offset_file,
            "consumer_id" => check_consumer_id,
            "compression_envelope" => check_compression_envelope,
            "reject" => check_reject,
            other => panic!("vector {name}: unknown kind {other:?} (the test must learn it)"),
        };
        match catch_unwind(AssertUnwindSafe(|| check(f, &bytes))) {
            Ok(()) => {
                handled += 1;
                *per_kind.entry(kind.to_string()).or_default() += 1;
            }
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("{name}: {msg}"));
            }
        }
    }
    eprintln!("vectors passed per kind: {per_kind:?}");
    assert!(failures.is_empty(), "{} of {total} vectors failed:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(handled, total, "every vector must be exercised");
}
