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
    buf: Vec<u8>,
    start: usize,
    pending: Option<Header>,
    failed: Option<FrameError>,
}

impl FrameDecoder {
    /// A decoder checking `checksum` and refusing payloads above `max_payload` bytes.
    pub fn new(checksum: Checksum, max_payload: usize) -> FrameDecoder {
        FrameDecoder { checksum, max_payload, buf: Vec::new(), start: 0, pending: None, failed: None }
    }

    /// Appends received bytes.
    pub fn feed(&mut self, data: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        self.compact();
        self.buf.extend_from_slice(data);
    }

    /// Reads once from `reader` straight into the internal buffer (no intermediate copy) and
    /// returns what `read` returned. At most what the pending frame still needs, or `chunk` bytes,
    /// is reserved, so a hostile length cannot make it allocate more than one valid frame.
    pub fn read_from<R: std::io::Read>(&mut self, reader: &mut R, chunk: usize) -> std::io::Result<usize> {
        if let Some(e) = &self.failed {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()));
        }
        self.compact();
        let len = self.buf.len();
        let need = match self.pending {
            Some(h) => (HEADER_LEN + h.payload_length as usize).saturating_sub(len - self.start),
            None => 0,
        };
        let want = need.max(chunk).max(1);
        self.buf.resize(len + want, 0);
        let result = reader.read(&mut self.buf[len..]);
        let n = *result.as_ref().unwrap_or(&0);
        self.buf.truncate(len + n);
        result
    }

    /// Bytes buffered but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next whole frame, `Ok(None)` if more bytes are needed, or the (sticky) stream error.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let avail = &self.buf[self.start..];
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
        e
    }

    fn compact(&mut self) {
        if self.start > 0 && (self.start == self.buf.len() || self.start >= self.buf.capacity() / 2) {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }
}
