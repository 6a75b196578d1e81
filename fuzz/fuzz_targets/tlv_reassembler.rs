//! Reassembler (and envelope expansion) under hostile bytes and chunking.
//!
//! Input: byte 0 = flags (bit 0: expand envelopes), byte 1 = chunking seed, then the stream.
//! Invariants: never panics; records come out in offset order; without expansion every record
//! re-encodes to exactly the bytes at its offset; position + carry == bytes fed; chunking does
//! not change the result; errors are sticky and point at a record start.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lnc::wire::tlv::{CorruptRecord, Reassembler};
use lnc::wire::Record;

const BASE: u64 = 1_000;

fn run(stream: &[u8], expand: bool, mut seed: u8) -> (Vec<Record>, Option<CorruptRecord>, u64, Vec<u8>) {
    let mut r = Reassembler::new(BASE, expand);
    let mut out = Vec::new();
    let mut at = 0;
    while at < stream.len() {
        seed = seed.wrapping_mul(53).wrapping_add(7);
        let n = (1 + (seed as usize % 80)).min(stream.len() - at);
        r.feed(&stream[at..at + n]);
        at += n;
        loop {
            match r.next_record() {
                Ok(Some(rec)) => {
                    assert!(rec.offset >= BASE && rec.offset < BASE + at as u64);
                    out.push(rec);
                }
                Ok(None) => {
                    assert_eq!(r.fetch_offset(), BASE + at as u64, "P + carry == bytes fed");
                    break;
                }
                Err(e) => {
                    assert_eq!(r.next_record(), Err(e.clone()), "sticky");
                    assert!(r.carry().is_empty());
                    return (out, Some(e), r.position(), Vec::new());
                }
            }
        }
    }
    let carry = r.carry().to_vec();
    (out, None, r.position(), carry)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let expand = data[0] & 1 == 1;
    let stream = &data[2..];
    let (recs, err, pos, carry) = run(stream, expand, data[1]);
    let mut last = BASE;
    for r in &recs {
        assert!(r.offset >= last, "offsets never go back");
        last = r.offset;
    }
    if !expand {
        // Opaque mode: records tile the stream exactly.
        let mut re = Vec::new();
        for r in &recs {
            assert_eq!(r.offset, BASE + re.len() as u64);
            r.encode_into(&mut re);
        }
        assert_eq!(&stream[..re.len()], &re[..]);
        assert_eq!(pos, BASE + re.len() as u64);
        if err.is_none() {
            assert_eq!(&stream[re.len()..], &carry[..]);
        }
    }
    if let Some(e) = &err {
        assert_eq!(e.offset, pos, "the error is at P");
    }
    // All-at-once gives the same outcome.
    let (recs2, err2, pos2, carry2) = run(stream, expand, 255);
    assert_eq!((recs2, err2, pos2, carry2), (recs, err, pos, carry));
});
