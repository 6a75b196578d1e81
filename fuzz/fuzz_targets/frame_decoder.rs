//! FrameDecoder under hostile bytes and hostile chunking.
//!
//! Input layout: byte 0 = mode (bit 0: checksum, bit 1: small max_payload), byte 1 = chunking
//! seed, the rest = the stream. Invariants: never panics; every frame it returns re-encodes to
//! exactly the bytes it was decoded from; it never holds more than one frame (header + max
//! payload) once it has returned every whole frame; errors are sticky; a different chunking gives the same result.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lnc::wire::{Checksum, Frame, FrameDecoder, FrameError, HEADER_LEN};

fn run(data: &[u8], checksum: Checksum, max: usize, mut seed: u8) -> (Vec<Frame>, Option<FrameError>) {
    let mut d = FrameDecoder::new(checksum, max);
    let mut frames = Vec::new();
    let mut at = 0;
    while at < data.len() {
        seed = seed.wrapping_mul(37).wrapping_add(11);
        let n = (1 + (seed as usize % 64)).min(data.len() - at);
        d.feed(&data[at..at + n]);
        at += n;
        loop {
            match d.next_frame() {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => {
                    assert!(d.buffered() < HEADER_LEN + max, "buffered {} >= one whole frame", d.buffered());
                    break;
                }
                Err(e) => {
                    assert_eq!(d.next_frame(), Err(e.clone()), "sticky");
                    assert_eq!(d.buffered(), 0);
                    return (frames, Some(e));
                }
            }
        }
    }
    (frames, None)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let checksum = if data[0] & 1 == 0 { Checksum::Crc32 } else { Checksum::Crc32c };
    let max = if data[0] & 2 == 0 { lnc::wire::DEFAULT_MAX_PAYLOAD } else { 1024 };
    let stream = &data[2..];
    let (frames, err) = run(stream, checksum, max, data[1]);
    // Frames re-encode to the exact prefix of the stream they came from.
    let mut re = Vec::new();
    for f in &frames {
        assert_eq!(f.payload.len(), f.header.payload_length as usize);
        assert!(f.payload.len() <= max);
        re.extend_from_slice(&f.header.encode());
        re.extend_from_slice(&f.payload);
    }
    assert_eq!(&stream[..re.len()], &re[..]);
    // Whole-buffer feeding agrees with the chunked run.
    let mut d = FrameDecoder::new(checksum, max);
    d.feed(stream);
    let mut whole = Vec::new();
    let whole_err = loop {
        match d.next_frame() {
            Ok(Some(f)) => whole.push(f),
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    assert_eq!(whole, frames);
    assert_eq!(whole_err, err);
});
