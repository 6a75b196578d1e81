//! Whole frames: encoding, and a streaming decoder that accepts any chunking of bytes.

use std::fmt;

use super::checksum::Checksum;
use super::header::{FrameKind, Header, HEADER_LEN, MAGIC, VERSION};

/// The deployed server's default payload limit: 16 MiB (lwp.md §1.5).
pub const DEFAULT_MAX_PAYLOAD: usize = 16 * 1024 * 1024;

/// One complete frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The decoded header.
    pub header: Header,
    /// The payload (`header.payload_length` bytes).
    pub payload: Vec<u8>,
}

impl Frame {
    /// What the frame is (lwp.md §1.3).
    pub fn kind(&self) -> FrameKind {
        self.header.kind()
    }
}

/// Appends one whole frame (header + payload) to `out`, computing both checksums.
#[allow(clippy::too_many_arguments)] // one argument per header field
pub fn encode_frame(
    out: &mut Vec<u8>,
    checksum: Checksum,
    flags: u8,
    batch_id: u64,
    timestamp_ns: u64,
    record_count: u32,
    topic_id: u32,
    payload: &[u8],
) {
    let h = Header::new(checksum, flags, batch_id, timestamp_ns, record_count, topic_id, payload);
    out.reserve(HEADER_LEN + payload.len());
    out.extend_from_slice(&h.encode());
    out.extend_from_slice(payload);
}

/// Why a byte stream was refused. Every variant is fatal: the connection must be closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The first four bytes were not `LANC`.
    BadMagic([u8; 4]),
    /// A version other than 1.
    BadVersion(u8),
    /// The header checksum (bytes 0..8) did not match.
    #[allow(missing_docs)] // expected: what the frame says; actual: what was computed
    HeaderChecksum { expected: u32, actual: u32 },
    /// The payload checksum did not match.
    #[allow(missing_docs)] // expected: what the frame says; actual: what was computed
    PayloadChecksum { expected: u32, actual: u32 },
    /// payload_length above the configured maximum; refused before allocating.
    #[allow(missing_docs)] // length: announced; max: the configured limit
    Oversize { length: u64, max: u64 },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::BadMagic(m) => write!(f, "bad magic {:02x?} (expected \"LANC\")", m),
            FrameError::BadVersion(v) => write!(f, "unsupported protocol version {v} (expected 1)"),
            FrameError::HeaderChecksum { expected, actual } => {
                write!(f, "header checksum mismatch: frame says {expected:#010x}, computed {actual:#010x}")
            }
            FrameError::PayloadChecksum { expected, actual } => {
                write!(f, "payload checksum mismatch: frame says {expected:#010x}, computed {actual:#010x}")
            }
            FrameError::Oversize { length, max } => {
                write!(f, "frame payload of {length} bytes exceeds the {max}-byte limit")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// Validates a header's magic, version and header checksum (not the payload).
pub fn check_header(bytes: &[u8; HEADER_LEN], checksum: Checksum, max_payload: usize) -> Result<Header, FrameError> {
    if bytes[0..4] != MAGIC {
        return Err(FrameError::BadMagic([bytes[0], bytes[1], bytes[2], bytes[3]]));
    }
    let h = Header::parse(bytes);
    if h.version != VERSION {
        return Err(FrameError::BadVersion(h.version));
    }
    let actual = checksum.compute(&bytes[0..8]);
    if actual != h.header_crc {
        return Err(FrameError::HeaderChecksum { expected: h.header_crc, actual });
    }
    if h.payload_length as u64 > max_payload as u64 {
        return Err(FrameError::Oversize { length: h.payload_length as u64, max: max_payload as u64 });
    }
    Ok(h)
}

/// A streaming frame decoder: feed bytes in any chunking, take whole, verified frames out.
///
/// The header is validated as soon as its 44 bytes are present, so an oversize length is refused
/// before any payload is buffered. After an error the decoder stays failed: the stream can no longer
/// be trusted. It never panics, whatever the input.
#[derive(Debug)]
pub struct FrameDecoder {
    checksum: Checksum,
    max_payload: usize,
    /// `buf[start..end]` is data not yet returned. `buf[end..]` is initialised spare room that
    /// [`FrameDecoder::read_from`] reads into: it is zero-filled once when the buffer grows and
    /// then reused, so a frame arriving in many small reads costs linear, not quadratic, work.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    pending: Option<Header>,
    failed: Option<FrameError>,
}

impl FrameDecoder {
    /// A decoder checking `checksum` and refusing payloads above `max_payload` bytes.
    pub fn new(checksum: Checksum, max_payload: usize) -> FrameDecoder {
        FrameDecoder { checksum, max_payload, buf: Vec::new(), start: 0, end: 0, pending: None, failed: None }
    }

    /// Appends received bytes.
    pub fn feed(&mut self, data: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        self.compact();
        self.buf.truncate(self.end);
        self.buf.extend_from_slice(data);
        self.end = self.buf.len();
    }

    /// Reads once from `reader` straight into the internal buffer (no intermediate copy) and
    /// returns what `read` returned. At most what the pending frame still needs, or `chunk` bytes,
    /// is reserved, so a hostile length cannot make it allocate more than one valid frame. Spare
    /// room is zero-filled only when the buffer grows, never again on later reads.
    pub fn read_from<R: std::io::Read>(&mut self, reader: &mut R, chunk: usize) -> std::io::Result<usize> {
        if let Some(e) = &self.failed {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()));
        }
        self.compact();
        let need = match self.pending {
            Some(h) => (HEADER_LEN + h.payload_length as usize).saturating_sub(self.end - self.start),
            None => 0,
        };
        let want = need.max(chunk).max(1);
        if self.buf.len() < self.end + want {
            // Only the growth is zero-filled; bytes beyond `end` left by earlier reads are reused.
            self.buf.resize(self.end + want, 0);
        }
        let result = reader.read(&mut self.buf[self.end..self.end + want]);
        if let Ok(n) = result {
            self.end += n.min(want);
        }
        result
    }

    /// Bytes buffered but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// The next whole frame, `Ok(None)` if more bytes are needed, or the (sticky) stream error.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let avail = &self.buf[self.start..self.end];
        let header = match self.pending {
            Some(h) => h,
            None => {
                if avail.len() < HEADER_LEN {
                    return Ok(None);
                }
                let mut hb = [0u8; HEADER_LEN];
                hb.copy_from_slice(&avail[..HEADER_LEN]);
                match check_header(&hb, self.checksum, self.max_payload) {
                    Ok(h) => {
                        self.pending = Some(h);
                        h
                    }
                    Err(e) => return Err(self.fail(e)),
                }
            }
        };
        let total = HEADER_LEN + header.payload_length as usize;
        if avail.len() < total {
            return Ok(None);
        }
        let payload = &avail[HEADER_LEN..total];
        if !payload.is_empty() {
            let actual = self.checksum.compute(payload);
            if actual != header.payload_crc {
                return Err(self.fail(FrameError::PayloadChecksum { expected: header.payload_crc, actual }));
            }
        }
        let frame = Frame { header, payload: payload.to_vec() };
        self.start += total;
        self.pending = None;
        Ok(Some(frame))
    }

    fn fail(&mut self, e: FrameError) -> FrameError {
        self.failed = Some(e.clone());
        self.buf = Vec::new();
        self.start = 0;
        self.end = 0;
        e
    }

    /// Moves unread data to the front once the consumed prefix is large (or everything was
    /// consumed), keeping the initialised length so the room can be read into without zeroing.
    fn compact(&mut self) {
        if self.start > 0 && (self.start == self.end || self.start >= self.buf.capacity() / 2) {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that delivers `data` in pieces of at most `piece` bytes, scribbles 0xA5 over the
    /// rest of every buffer it is handed, and counts the zero bytes it found there (bytes the
    /// decoder initialised for this call).
    struct Trickle<'a> {
        data: &'a [u8],
        piece: usize,
        zeroed_seen: u64,
        /// Scribble and count (costs a pass over every buffer; off where pieces are tiny).
        scan: bool,
    }

    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.scan {
                self.zeroed_seen += buf.iter().filter(|b| **b == 0).count() as u64;
            }
            let n = self.piece.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            if self.scan {
                buf[n..].fill(0xA5);
            }
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn frame_of(len: usize, fill: u8) -> Vec<u8> {
        let mut out = Vec::new();
        encode_frame(&mut out, Checksum::Crc32, 0x04, 1, 0, 1, 7, &vec![fill; len]);
        out
    }

    /// Regression: every read used to zero-fill the whole rest of the pending frame, so a 16 MiB
    /// frame arriving in 64 KiB reads initialised ~2 GiB (a 4 MiB one here: ~128 MiB). Now each
    /// byte of room is initialised once: the zeroes handed to the reader stay within one frame
    /// plus one chunk.
    #[test]
    fn large_frame_in_small_reads_initialises_each_byte_once() {
        let len = 4 << 20;
        let mut stream = frame_of(len, 0x11);
        stream.extend_from_slice(&frame_of(1000, 0x22));
        let mut r = Trickle { data: &stream, piece: 64 * 1024, zeroed_seen: 0, scan: true };
        let mut d = FrameDecoder::new(Checksum::Crc32, DEFAULT_MAX_PAYLOAD);
        let mut got = Vec::new();
        while got.len() < 2 {
            assert!(d.read_from(&mut r, 64 * 1024).unwrap() > 0);
            while let Some(f) = d.next_frame().unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got[0].payload.len(), len);
        assert!(got[0].payload.iter().all(|b| *b == 0x11));
        assert_eq!(got[1].payload, vec![0x22; 1000]);
        assert_eq!(d.buffered(), 0);
        let bound = (HEADER_LEN + len + 2 * 64 * 1024) as u64;
        assert!(
            r.zeroed_seen <= bound,
            "{} zero bytes handed out for a {len}-byte frame (bound {bound})",
            r.zeroed_seen
        );
    }

    /// Reads and feeds may interleave in any way; data read into reused room is never confused
    /// with stale bytes from an earlier frame.
    #[test]
    fn reads_and_feeds_interleave() {
        let mut stream = Vec::new();
        for i in 0..20u8 {
            stream.extend_from_slice(&frame_of(100 + i as usize * 3000, i + 1));
        }
        for piece in [1usize, 7, 4096, 100_000] {
            let mut d = FrameDecoder::new(Checksum::Crc32, DEFAULT_MAX_PAYLOAD);
            let mut r = Trickle { data: &stream[..stream.len() / 2], piece, zeroed_seen: 0, scan: false };
            let mut got = Vec::new();
            while !r.data.is_empty() {
                d.read_from(&mut r, 512).unwrap();
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f);
                }
            }
            for c in stream[stream.len() / 2..].chunks(piece) {
                d.feed(c);
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f);
                }
            }
            assert_eq!(got.len(), 20, "piece {piece}");
            for (i, f) in got.iter().enumerate() {
                assert_eq!(f.payload, vec![i as u8 + 1; 100 + i * 3000]);
            }
        }
    }

    /// The room reserved for one read never exceeds what the pending frame still needs (or the
    /// chunk), so a hostile header cannot make the decoder allocate past its payload limit.
    #[test]
    fn oversize_header_is_refused_before_allocating() {
        let f = frame_of(10, 1);
        let mut d = FrameDecoder::new(Checksum::Crc32, 5);
        let mut r = Trickle { data: &f[..], piece: 4096, zeroed_seen: 0, scan: true };
        d.read_from(&mut r, 64).unwrap();
        assert!(matches!(d.next_frame(), Err(FrameError::Oversize { .. })));
        assert!(d.read_from(&mut r, 64).is_err());
    }
}
