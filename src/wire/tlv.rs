//! TLV records (lwp.md §5): the only payload format that survives the server's restart recovery.
//!
//! Standard record: `type u8 | length u32 | value`. Extended record: `0xFF | ext_type u16 |
//! length u32 | value`. A type byte of 0xFF always starts an extended header.

use std::fmt;

/// Largest record (header + value) that any valid ingest can carry: 16 MiB.
pub const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;
/// Standard header size.
pub const STANDARD_HEADER: usize = 5;
/// Extended header size.
pub const EXTENDED_HEADER: usize = 7;
/// Largest key of a key-value or key-timestamped record.
pub const MAX_KEY_BYTES: usize = u16::MAX as usize;

/// Standard type bytes (the written-spec / Python numbering, lwp.md §5.3).
pub mod record_type {
    #![allow(missing_docs)] // the names are the docs (lwp.md §5.3 table)
    pub const RESERVED: u8 = 0x00;
    pub const RAW: u8 = 0x01;
    pub const JSON: u8 = 0x02;
    pub const MSGPACK: u8 = 0x03;
    pub const PROTOBUF: u8 = 0x04;
    pub const AVRO: u8 = 0x05;
    pub const KEY_VALUE: u8 = 0x10;
    pub const TIMESTAMPED: u8 = 0x11;
    pub const KEY_TIMESTAMPED: u8 = 0x12;
    pub const USER_FIRST: u8 = 0x80;
    pub const USER_LAST: u8 = 0xFE;
    pub const EXTENDED: u8 = 0xFF;
}

/// Extended types.
pub mod ext_type {
    /// Tombstone / null record: `ff ff 00 00 00 00 00`.
    pub const TOMBSTONE: u16 = 0x00FF;
    /// LZ4 compression envelope (lwp.md §5.5).
    pub const LZ4_ENVELOPE: u16 = 0x0100;
}

/// Why a record could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordError {
    /// Key longer than 65,535 bytes.
    KeyTooLong(usize),
    /// Record (header + value) over 16 MiB.
    TooLarge(usize),
    /// A user type outside 0x80..=0xFE, or a standard type that cannot be written (0x00, 0xFF).
    BadType(u8),
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::KeyTooLong(n) => write!(f, "key of {n} bytes exceeds the 65535-byte limit"),
            RecordError::TooLarge(n) => write!(f, "record of {n} bytes exceeds the 16 MiB limit"),
            RecordError::BadType(t) => write!(f, "record type {t:#04x} cannot be written (user types are 0x80..=0xfe)"),
        }
    }
}

impl std::error::Error for RecordError {}

/// One TLV record: its type, full value bytes, and (when decoded from a log) its byte offset.
///
/// `value` is the whole TLV value: for key-value it includes the key length and key. Use the
/// accessors ([`Record::key`], [`Record::data`], [`Record::timestamp_ns`]) for the structured parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Type byte; 0xFF for extended records.
    pub record_type: u8,
    /// Extended type when `record_type == 0xFF`.
    pub ext_type: Option<u16>,
    /// The value bytes as on the wire.
    pub value: Vec<u8>,
    /// Byte offset of the record in the topic log (an envelope's inner records share its offset).
    pub offset: u64,
}

impl Record {
    fn standard(record_type: u8, value: Vec<u8>) -> Record {
        Record { record_type, ext_type: None, value, offset: 0 }
    }

    /// Raw bytes (0x01).
    pub fn raw(value: impl Into<Vec<u8>>) -> Record {
        Record::standard(record_type::RAW, value.into())
    }
    /// JSON text (0x02). The text is not validated.
    pub fn json(text: impl Into<Vec<u8>>) -> Record {
        Record::standard(record_type::JSON, text.into())
    }
    /// MessagePack bytes (0x03).
    pub fn msgpack(value: impl Into<Vec<u8>>) -> Record {
        Record::standard(record_type::MSGPACK, value.into())
    }
    /// Protobuf bytes (0x04).
    pub fn protobuf(value: impl Into<Vec<u8>>) -> Record {
        Record::standard(record_type::PROTOBUF, value.into())
    }
    /// Avro bytes (0x05).
    pub fn avro(value: impl Into<Vec<u8>>) -> Record {
        Record::standard(record_type::AVRO, value.into())
    }
    /// Key-value (0x10): `key_len u16 | key | value`.
    pub fn key_value(key: &[u8], value: &[u8]) -> Result<Record, RecordError> {
        Ok(Record::standard(record_type::KEY_VALUE, structured_value(record_type::KEY_VALUE, Some(key), 0, value)?))
    }
    /// Timestamped (0x11): `timestamp_ns u64 | data`.
    pub fn timestamped(timestamp_ns: u64, data: &[u8]) -> Record {
        let mut v = Vec::with_capacity(8 + data.len());
        v.extend_from_slice(&timestamp_ns.to_le_bytes());
        v.extend_from_slice(data);
        Record::standard(record_type::TIMESTAMPED, v)
    }
    /// Key-timestamped (0x12): `timestamp_ns u64 | key_len u16 | key | value`.
    pub fn key_timestamped(timestamp_ns: u64, key: &[u8], value: &[u8]) -> Result<Record, RecordError> {
        Ok(Record::standard(
            record_type::KEY_TIMESTAMPED,
            structured_value(record_type::KEY_TIMESTAMPED, Some(key), timestamp_ns, value)?,
        ))
    }
    /// User-defined type 0x80..=0xFE.
    pub fn user(record_type: u8, value: impl Into<Vec<u8>>) -> Result<Record, RecordError> {
        if !(record_type::USER_FIRST..=record_type::USER_LAST).contains(&record_type) {
            return Err(RecordError::BadType(record_type));
        }
        Ok(Record::standard(record_type, value.into()))
    }
    /// Tombstone / null record (extended 0x00FF, empty value).
    pub fn tombstone() -> Record {
        Record::extended(ext_type::TOMBSTONE, Vec::new())
    }
    /// Any extended record.
    pub fn extended(ext: u16, value: impl Into<Vec<u8>>) -> Record {
        Record { record_type: record_type::EXTENDED, ext_type: Some(ext), value: value.into(), offset: 0 }
    }

    /// True for the 0x00FF extended record.
    pub fn is_tombstone(&self) -> bool {
        self.ext_type == Some(ext_type::TOMBSTONE)
    }
    /// Header size of this record on the wire.
    pub fn header_len(&self) -> usize {
        if self.record_type == record_type::EXTENDED {
            EXTENDED_HEADER
        } else {
            STANDARD_HEADER
        }
    }
    /// Encoded size (header + value).
    pub fn encoded_len(&self) -> usize {
        self.header_len() + self.value.len()
    }
    /// Appends the encoded record.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self.ext_type {
            Some(ext) if self.record_type == record_type::EXTENDED => write_extended_header(out, ext, self.value.len()),
            _ => write_standard_header(out, self.record_type, self.value.len()),
        }
        out.extend_from_slice(&self.value);
    }
    /// The encoded record as a new vector.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut v);
        v
    }

    /// `(key, value)` of a well-formed key-value or key-timestamped record.
    pub fn as_key_value(&self) -> Option<(&[u8], &[u8])> {
        let v = &self.value;
        let at = match self.record_type {
            record_type::KEY_VALUE => 0,
            record_type::KEY_TIMESTAMPED => 8,
            _ => return None,
        };
        if v.len() < at + 2 {
            return None;
        }
        let klen = u16::from_le_bytes([v[at], v[at + 1]]) as usize;
        let kend = at + 2 + klen;
        if v.len() < kend {
            return None;
        }
        Some((&v[at + 2..kend], &v[kend..]))
    }
    /// `(timestamp_ns, data)` of a well-formed timestamped or key-timestamped record (for
    /// key-timestamped, `data` is the value after the key).
    pub fn as_timestamped(&self) -> Option<(u64, &[u8])> {
        match self.record_type {
            record_type::TIMESTAMPED if self.value.len() >= 8 => Some((self.timestamp_unchecked(), &self.value[8..])),
            record_type::KEY_TIMESTAMPED => {
                let (_, value) = self.as_key_value()?;
                Some((self.timestamp_unchecked(), value))
            }
            _ => None,
        }
    }
    fn timestamp_unchecked(&self) -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&self.value[..8]);
        u64::from_le_bytes(w)
    }
    /// The key, for well-formed key-value and key-timestamped records.
    pub fn key(&self) -> Option<&[u8]> {
        self.as_key_value().map(|(k, _)| k)
    }
    /// The timestamp, for well-formed timestamped and key-timestamped records.
    pub fn timestamp_ns(&self) -> Option<u64> {
        self.as_timestamped().map(|(t, _)| t)
    }
    /// The application payload: the value after any key/timestamp prefix; the whole value for
    /// other types and for malformed structured records.
    pub fn data(&self) -> &[u8] {
        match self.record_type {
            record_type::KEY_VALUE | record_type::KEY_TIMESTAMPED => {
                self.as_key_value().map(|(_, v)| v).unwrap_or(&self.value)
            }
            record_type::TIMESTAMPED => self.as_timestamped().map(|(_, v)| v).unwrap_or(&self.value),
            _ => &self.value,
        }
    }
}

/// Builds a TLV value from its structured parts: key (for 0x10/0x12), timestamp (0x11/0x12)
/// and data. Other types take `data` as the whole value.
pub fn structured_value(rtype: u8, key: Option<&[u8]>, timestamp_ns: u64, data: &[u8]) -> Result<Vec<u8>, RecordError> {
    let mut v = Vec::with_capacity(structured_len(rtype, key, data)?);
    write_structured_value(&mut v, rtype, key, timestamp_ns, data);
    Ok(v)
}

/// Value length of a structured record; checks the key limit.
pub fn structured_len(rtype: u8, key: Option<&[u8]>, data: &[u8]) -> Result<usize, RecordError> {
    let k = key.map_or(0, |k| k.len());
    if k > MAX_KEY_BYTES {
        return Err(RecordError::KeyTooLong(k));
    }
    let len = match rtype {
        record_type::KEY_VALUE => 2 + k + data.len(),
        record_type::TIMESTAMPED => 8 + data.len(),
        record_type::KEY_TIMESTAMPED => 10 + k + data.len(),
        _ => data.len(),
    };
    if len + STANDARD_HEADER > MAX_RECORD_BYTES {
        return Err(RecordError::TooLarge(len + STANDARD_HEADER));
    }
    Ok(len)
}

fn write_structured_value(out: &mut Vec<u8>, rtype: u8, key: Option<&[u8]>, timestamp_ns: u64, data: &[u8]) {
    let key = key.unwrap_or(&[]);
    if matches!(rtype, record_type::TIMESTAMPED | record_type::KEY_TIMESTAMPED) {
        out.extend_from_slice(&timestamp_ns.to_le_bytes());
    }
    if matches!(rtype, record_type::KEY_VALUE | record_type::KEY_TIMESTAMPED) {
        out.extend_from_slice(&(key.len() as u16).to_le_bytes());
        out.extend_from_slice(key);
    }
    out.extend_from_slice(data);
}

/// Appends one standard record built from structured parts, without an intermediate value buffer
/// (the producer's hot path). Returns the bytes appended.
pub fn append_structured(
    out: &mut Vec<u8>,
    rtype: u8,
    key: Option<&[u8]>,
    timestamp_ns: u64,
    data: &[u8],
) -> Result<usize, RecordError> {
    if rtype == record_type::EXTENDED {
        return Err(RecordError::BadType(rtype));
    }
    let len = structured_len(rtype, key, data)?;
    out.reserve(STANDARD_HEADER + len);
    write_standard_header(out, rtype, len);
    write_structured_value(out, rtype, key, timestamp_ns, data);
    Ok(STANDARD_HEADER + len)
}

#[inline]
fn write_standard_header(out: &mut Vec<u8>, rtype: u8, len: usize) {
    out.push(rtype);
    out.extend_from_slice(&(len as u32).to_le_bytes());
}

#[inline]
fn write_extended_header(out: &mut Vec<u8>, ext: u16, len: usize) {
    out.push(record_type::EXTENDED);
    out.extend_from_slice(&ext.to_le_bytes());
    out.extend_from_slice(&(len as u32).to_le_bytes());
}

/// A stream position where records can no longer be trusted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorruptRecord {
    /// Byte offset (in the topic log) where the bad record starts.
    pub offset: u64,
    /// What was wrong.
    pub reason: String,
}

impl fmt::Display for CorruptRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "corrupt record at offset {}: {}", self.offset, self.reason)
    }
}

impl std::error::Error for CorruptRecord {}

/// Reassembles records from raw fetch windows cut anywhere (lwp.md §4, §5.6).
///
/// Keeps the record-boundary position P ([`Reassembler::position`]) and the carry of a trailing
/// partial record; the next fetch starts at [`Reassembler::fetch_offset`] = P + carry. Envelopes
/// are expanded (unless disabled); their inner records carry the envelope's offset and P moves
/// past the envelope only when all of them were taken. Errors are sticky.
#[derive(Debug)]
pub struct Reassembler {
    buf: Vec<u8>,
    start: usize,
    /// Log offset of `buf[start]`.
    base: u64,
    expand_envelopes: bool,
    /// The envelope being taken apart, if any: its inner records are cut out of the decompressed
    /// block one at a time as they are taken, so expanding an envelope costs one buffer of at most
    /// 16 MiB, not a record allocation per inner record up front (the consumer's memory bound
    /// counts records as they are taken).
    inner: Option<Expanded>,
    /// The buffer of the last envelope taken apart, reused for the next one: a fresh 16 MiB
    /// allocation per envelope fragments the heap between the records cut out of the previous one.
    spare: Vec<u8>,
    failed: Option<CorruptRecord>,
}

/// A decompressed envelope whose inner stream was validated; `pos` is the next inner record.
#[derive(Debug)]
struct Expanded {
    plain: Vec<u8>,
    pos: usize,
    /// The envelope's own log offset, which every inner record carries.
    offset: u64,
}

impl Reassembler {
    /// A reassembler whose first byte is at log offset `position`.
    pub fn new(position: u64, expand_envelopes: bool) -> Reassembler {
        Reassembler {
            buf: Vec::new(),
            start: 0,
            base: position,
            expand_envelopes,
            inner: None,
            spare: Vec::new(),
            failed: None,
        }
    }

    /// Drops all state and restarts at `position` (seek).
    pub fn reset(&mut self, position: u64) {
        *self = Reassembler::new(position, self.expand_envelopes);
    }

    /// Appends the data of one fetch window (which starts at [`Reassembler::fetch_offset`]).
    pub fn feed(&mut self, data: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        if self.start > 0 && (self.start == self.buf.len() || self.start >= self.buf.capacity() / 2) {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// The record-boundary position P: the offset of the next record not yet returned. The only
    /// position that may be committed.
    pub fn position(&self) -> u64 {
        match &self.inner {
            Some(e) => e.offset,
            None => self.base,
        }
    }

    /// Decompressed bytes of the current envelope not yet taken as records (0 when none).
    pub fn expanded_pending(&self) -> usize {
        self.inner.as_ref().map_or(0, |e| e.plain.len() - e.pos)
    }

    /// Bytes held as a trailing partial record.
    pub fn carry_len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The carry itself: bytes fed but not yet returned as whole records (a trailing partial
    /// record). Empty after a corruption error.
    pub fn carry(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Where the next fetch must start: P + carry.
    pub fn fetch_offset(&self) -> u64 {
        self.base + self.carry_len() as u64
    }

    /// The sticky corruption error, if any.
    pub fn error(&self) -> Option<&CorruptRecord> {
        self.failed.as_ref()
    }

    /// The next whole record; `Ok(None)` when more data is needed.
    pub fn next_record(&mut self) -> Result<Option<Record>, CorruptRecord> {
        // A loop, not recursion: a run of envelopes that expand to nothing must not grow the stack.
        loop {
            if let Some(e) = &mut self.inner {
                let (rec, next) = record_at(&e.plain, e.pos, e.offset);
                e.pos = next;
                if e.pos >= e.plain.len() {
                    // The last inner record: P moves past the envelope now.
                    if let Some(done) = self.inner.take() {
                        self.spare = done.plain;
                    }
                }
                return Ok(Some(rec));
            }
            if let Some(e) = &self.failed {
                return Err(e.clone());
            }
            let avail = &self.buf[self.start..];
            let Some(&t) = avail.first() else { return Ok(None) };
            let (hlen, ext) = if t == record_type::EXTENDED {
                if avail.len() < EXTENDED_HEADER {
                    return Ok(None);
                }
                (EXTENDED_HEADER, Some(u16::from_le_bytes([avail[1], avail[2]])))
            } else {
                if avail.len() < STANDARD_HEADER {
                    return Ok(None);
                }
                (STANDARD_HEADER, None)
            };
            let len = u32::from_le_bytes([avail[hlen - 4], avail[hlen - 3], avail[hlen - 2], avail[hlen - 1]]) as u64;
            if hlen as u64 + len > MAX_RECORD_BYTES as u64 {
                return Err(self.fail("record larger than 16 MiB".into()));
            }
            let len = len as usize;
            if avail.len() < hlen + len {
                return Ok(None);
            }
            let offset = self.base;
            let value_range = self.start + hlen..self.start + hlen + len;
            if ext == Some(ext_type::LZ4_ENVELOPE) && self.expand_envelopes {
                let mut plain = std::mem::take(&mut self.spare);
                match decompress_envelope_into(&self.buf[value_range.clone()], &mut plain) {
                    Ok(()) => {
                        self.start += hlen + len;
                        self.base += (hlen + len) as u64;
                        // P (see position()) stays on the envelope until its inner records are
                        // taken. An envelope that expands to nothing is simply passed.
                        if plain.is_empty() {
                            self.spare = plain;
                        } else {
                            self.inner = Some(Expanded { plain, pos: 0, offset });
                        }
                        continue;
                    }
                    Err(reason) => return Err(self.fail(reason)),
                }
            }
            let value = self.buf[value_range].to_vec();
            self.start += hlen + len;
            self.base += (hlen + len) as u64;
            return Ok(Some(Record { record_type: t, ext_type: ext, value, offset }));
        }
    }

    fn fail(&mut self, reason: String) -> CorruptRecord {
        let e = CorruptRecord { offset: self.base, reason };
        self.failed = Some(e.clone());
        self.buf = Vec::new();
        self.start = 0;
        e
    }
}

/// The record at `pos` of a stream already checked by [`validate_inner`], and the position after
/// it. Never fails or panics on a validated stream.
fn record_at(plain: &[u8], pos: usize, offset: u64) -> (Record, usize) {
    let t = plain[pos];
    let (hlen, ext) = if t == record_type::EXTENDED {
        (EXTENDED_HEADER, Some(u16::from_le_bytes([plain[pos + 1], plain[pos + 2]])))
    } else {
        (STANDARD_HEADER, None)
    };
    let l = pos + hlen;
    let len = u32::from_le_bytes([plain[l - 4], plain[l - 3], plain[l - 2], plain[l - 1]]) as usize;
    let value = plain[l..l + len].to_vec();
    (Record { record_type: t, ext_type: ext, value, offset }, l + len)
}

/// Checks that `plain` (an envelope's contents) is an exact sequence of complete records with no
/// nested envelope, without copying anything (lwp.md §5.5 reader rules).
fn validate_inner(plain: &[u8]) -> Result<(), String> {
    let mut pos = 0usize;
    let mut nested = false;
    while pos < plain.len() {
        let avail = &plain[pos..];
        let (hlen, ext) = if avail[0] == record_type::EXTENDED {
            if avail.len() < EXTENDED_HEADER {
                return Err("envelope contents: stream ends inside a record".into());
            }
            (EXTENDED_HEADER, Some(u16::from_le_bytes([avail[1], avail[2]])))
        } else {
            if avail.len() < STANDARD_HEADER {
                return Err("envelope contents: stream ends inside a record".into());
            }
            (STANDARD_HEADER, None)
        };
        let len = u32::from_le_bytes([avail[hlen - 4], avail[hlen - 3], avail[hlen - 2], avail[hlen - 1]]) as u64;
        if hlen as u64 + len > MAX_RECORD_BYTES as u64 {
            return Err("envelope contents: record larger than 16 MiB".into());
        }
        if (avail.len() as u64) < hlen as u64 + len {
            return Err("envelope contents: stream ends inside a record".into());
        }
        nested |= ext == Some(ext_type::LZ4_ENVELOPE);
        pos += hlen + len as usize;
    }
    if nested {
        return Err("nested compression envelope".into());
    }
    Ok(())
}

/// Decompresses an envelope value and validates its inner stream; returns the plain bytes.
fn decompress_envelope(value: &[u8]) -> Result<Vec<u8>, String> {
    let mut plain = Vec::new();
    decompress_envelope_into(value, &mut plain)?;
    Ok(plain)
}

/// [`decompress_envelope`] into `plain` (its previous contents are replaced; its allocation is
/// reused when large enough).
fn decompress_envelope_into(value: &[u8], plain: &mut Vec<u8>) -> Result<(), String> {
    if value.len() < 4 {
        return Err("envelope value shorter than 4 bytes".into());
    }
    let declared = u32::from_le_bytes([value[0], value[1], value[2], value[3]]) as usize;
    if declared > MAX_RECORD_BYTES {
        return Err(format!("envelope declares {declared} uncompressed bytes (limit 16 MiB)"));
    }
    // An LZ4 block expands at most ~255x (a match-length byte of 255 per input byte). A larger
    // declared size cannot decode; refuse it before allocating (hostile 11-byte envelopes would
    // otherwise each cost a zeroed 16 MiB buffer).
    if declared > (value.len() - 4).saturating_mul(255).saturating_add(64) {
        return Err("LZ4 block does not decode to the declared length".into());
    }
    plain.clear();
    plain.resize(declared, 0);
    match lz4_flex::block::decompress_into(&value[4..], plain) {
        Ok(n) if n == declared => {}
        _ => return Err("LZ4 block does not decode to the declared length".into()),
    }
    validate_inner(plain)
}

/// Parses a complete record stream (every byte must belong to a whole record). Used for envelope
/// contents and tests.
pub fn decode_all(data: &[u8], expand_envelopes: bool) -> Result<Vec<Record>, CorruptRecord> {
    let mut r = Reassembler::new(0, expand_envelopes);
    r.feed(data);
    let mut out = Vec::new();
    while let Some(rec) = r.next_record()? {
        out.push(rec);
    }
    if r.carry_len() != 0 {
        return Err(CorruptRecord { offset: r.position(), reason: "stream ends inside a record".into() });
    }
    Ok(out)
}

/// Wraps a complete record stream into one 0x0100 envelope record (lwp.md §5.5) if that makes it
/// smaller; `None` means "send the records plain".
pub fn encode_envelope(records: &[u8]) -> Option<Vec<u8>> {
    let env = build_envelope(records)?;
    if env.len() >= records.len() {
        return None;
    }
    Some(env)
}

/// Wraps a complete record stream into one 0x0100 envelope record whether or not that saves
/// space (tests, tools). `None` if `records` is empty or the result would exceed 16 MiB.
pub fn build_envelope(records: &[u8]) -> Option<Vec<u8>> {
    if records.is_empty() || records.len() > MAX_RECORD_BYTES {
        return None;
    }
    let block = lz4_flex::block::compress_prepend_size(records);
    if EXTENDED_HEADER + block.len() > MAX_RECORD_BYTES {
        return None;
    }
    let mut out = Vec::with_capacity(EXTENDED_HEADER + block.len());
    write_extended_header(&mut out, ext_type::LZ4_ENVELOPE, block.len());
    out.extend_from_slice(&block);
    Some(out)
}

/// Expands an envelope value into its inner records (offsets 0; the caller assigns them).
pub fn expand_envelope(value: &[u8]) -> Result<Vec<Record>, String> {
    let plain = decompress_envelope(value)?;
    let mut records = Vec::new();
    let mut pos = 0;
    while pos < plain.len() {
        let (r, next) = record_at(&plain, pos, 0);
        records.push(r);
        pos = next;
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tombstone_bytes() {
        assert_eq!(Record::tombstone().encode(), vec![0xff, 0xff, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn envelope_round_trip_and_position() {
        let mut plain = Vec::new();
        for i in 0..50 {
            Record::json(format!("{{\"n\":{i},\"pad\":\"aaaaaaaaaaaaaaaa\"}}")).encode_into(&mut plain);
        }
        let env = encode_envelope(&plain).expect("compressible");
        let mut stream = Record::raw("a").encode();
        stream.extend_from_slice(&env);
        let mut r = Reassembler::new(100, true);
        r.feed(&stream);
        assert_eq!(r.next_record().unwrap().unwrap().offset, 100);
        for _ in 0..49 {
            let rec = r.next_record().unwrap().unwrap();
            assert_eq!(rec.offset, 106);
            assert_eq!(r.position(), 106, "P stays on the envelope until its last inner record");
        }
        r.next_record().unwrap().unwrap();
        assert_eq!(r.position(), 106 + env.len() as u64);
        assert!(r.next_record().unwrap().is_none());
    }

    #[test]
    fn structured_accessors_tolerate_malformed_values() {
        let r = Record { record_type: record_type::KEY_VALUE, ext_type: None, value: vec![9, 0, 1], offset: 0 };
        assert_eq!(r.as_key_value(), None);
        assert_eq!(r.data(), &[9, 0, 1]);
        let kv = Record::key_value(b"k", b"v").unwrap();
        assert_eq!(kv.as_key_value(), Some((&b"k"[..], &b"v"[..])));
        assert!(Record::key_value(&vec![0; 70000], b"").is_err());
        assert!(Record::user(0x7f, vec![]).is_err());
    }
}
