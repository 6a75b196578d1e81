//! Every control reply decoder and Request::decode on hostile payloads.
//!
//! Input: byte 0 = command code, the rest = payload. Invariants: nothing panics; a request that
//! decodes re-encodes to a payload that decodes to the same request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lnc::wire::control::{self, Request};
use lnc::wire::tlv;

fuzz_target!(|data: &[u8]| {
    let Some((&code, p)) = data.split_first() else { return };
    let _ = control::decode_topic_info(p);
    let _ = control::decode_topic_list(p);
    let _ = control::decode_topic_deleted(p);
    let _ = control::decode_retention(p);
    let _ = control::decode_cluster_status(p);
    if let Ok(r) = control::decode_fetch_response(p) {
        assert_eq!(r.data.len() + 16, p.len());
        let mut enc = Vec::new();
        control::encode_fetch_response(&mut enc, r.next_offset, r.data);
        assert_eq!(&enc[..12], &p[..12]);
    }
    let _ = control::decode_catching_up(p);
    if let Ok((c, o)) = control::decode_consumer_ack(p) {
        assert_eq!(control::encode_consumer_ack(c, o), &p[..16]);
    }
    if let Ok(a) = control::decode_auth_response(p) {
        let _ = lnc::wire::classify::classify(&a.message);
    }
    let text = control::decode_error_text(p);
    let e = lnc::wire::classify::classify(&text);
    assert_eq!(e.message, text);
    let _ = tlv::expand_envelope(p);
    match Request::decode(code, p) {
        Ok(req) => {
            assert_eq!(req.code(), code);
            let enc = req.payload();
            assert_eq!(Request::decode(code, &enc), Ok(req));
        }
        Err(text) => {
            let _ = lnc::wire::classify::classify(text);
        }
    }
});
