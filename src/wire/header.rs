//! The 44-byte LWP frame header (lwp.md §1.1–§1.3).

use super::checksum::Checksum;

/// Size of every frame header.
pub const HEADER_LEN: usize = 44;
/// `"LANC"`.
pub const MAGIC: [u8; 4] = *b"LANC";
/// The only protocol version the server accepts.
pub const VERSION: u8 = 1;

/// Frame flag bits (lwp.md §1.2). liblnc sends only `INGEST`, `KEEPALIVE` and `CONTROL`.
pub mod flags {
    /// Ignored by the server; liblnc never sets it (compression uses the TLV envelope instead).
    pub const COMPRESSED: u8 = 0x01;
    /// Ignored by the server; never set.
    pub const ENCRYPTED: u8 = 0x02;
    /// Marks an ingest (data) frame.
    pub const INGEST: u8 = 0x04;
    /// Server → client acknowledgement.
    pub const ACK: u8 = 0x08;
    /// Never sent by the deployed server; ignored when received.
    pub const BACKPRESSURE: u8 = 0x10;
    /// Keepalive request / reply.
    pub const KEEPALIVE: u8 = 0x20;
    /// Control request / reply.
    pub const CONTROL: u8 = 0x40;
}

/// What a frame is, decided from its flags in the deployed server's order (lwp.md §1.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// `0x40`: command or reply code in the low byte of batch_id.
    Control,
    /// `0x20` (and not control).
    Keepalive,
    /// `0x08`.
    Ack,
    /// `0x10`.
    Backpressure,
    /// `0x04`, or any other flags with a payload.
    Ingest,
    /// No recognised bit and no payload.
    Unknown,
}

/// A decoded header. Fields are kept exactly as on the wire; see [`Header::parse`] and
/// [`Header::encode`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// Protocol version (byte 4).
    pub version: u8,
    /// Flag bits (byte 5).
    pub flags: u8,
    /// Reserved (bytes 6..8); sent as 0, ignored on receive.
    pub reserved: u16,
    /// Checksum of bytes 0..8.
    pub header_crc: u32,
    /// Ingest: client batch id. Control: command/reply code in the low byte. Ack: acked id.
    pub batch_id: u64,
    /// Ingest: wall clock nanoseconds; otherwise 0.
    pub timestamp_ns: u64,
    /// Ingest: number of logical records (never checked by the server).
    pub record_count: u32,
    /// Payload bytes following the header.
    pub payload_length: u32,
    /// Checksum of the payload; 0 for an empty payload.
    pub payload_crc: u32,
    /// Ingest: target topic; otherwise 0.
    pub topic_id: u32,
}

impl Header {
    /// A header for `payload` with both checksums computed by `checksum`.
    pub fn new(
        checksum: Checksum,
        flags: u8,
        batch_id: u64,
        timestamp_ns: u64,
        record_count: u32,
        topic_id: u32,
        payload: &[u8],
    ) -> Header {
        let payload_crc = if payload.is_empty() { 0 } else { checksum.compute(payload) };
        Header {
            version: VERSION,
            flags,
            reserved: 0,
            header_crc: header_checksum(checksum, VERSION, flags, 0),
            batch_id,
            timestamp_ns,
            record_count,
            payload_length: payload.len() as u32,
            payload_crc,
            topic_id,
        }
    }

    /// Writes the 44 header bytes exactly as the fields say (no checksum is recomputed).
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&MAGIC);
        b[4] = self.version;
        b[5] = self.flags;
        b[6..8].copy_from_slice(&self.reserved.to_le_bytes());
        b[8..12].copy_from_slice(&self.header_crc.to_le_bytes());
        b[12..20].copy_from_slice(&self.batch_id.to_le_bytes());
        b[20..28].copy_from_slice(&self.timestamp_ns.to_le_bytes());
        b[28..32].copy_from_slice(&self.record_count.to_le_bytes());
        b[32..36].copy_from_slice(&self.payload_length.to_le_bytes());
        b[36..40].copy_from_slice(&self.payload_crc.to_le_bytes());
        b[40..44].copy_from_slice(&self.topic_id.to_le_bytes());
        b
    }

    /// Reads the fields of 44 header bytes without validating anything (the magic is not a field).
    pub fn parse(b: &[u8; HEADER_LEN]) -> Header {
        let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(w)
        };
        Header {
            version: b[4],
            flags: b[5],
            reserved: u16_at(6),
            header_crc: u32_at(8),
            batch_id: u64_at(12),
            timestamp_ns: u64_at(20),
            record_count: u32_at(28),
            payload_length: u32_at(32),
            payload_crc: u32_at(36),
            topic_id: u32_at(40),
        }
    }

    /// Classification in the deployed server's order (lwp.md §1.3): the first match wins.
    pub fn kind(&self) -> FrameKind {
        let f = self.flags;
        if f & flags::CONTROL != 0 {
            FrameKind::Control
        } else if f & flags::KEEPALIVE != 0 {
            FrameKind::Keepalive
        } else if f & flags::ACK != 0 {
            FrameKind::Ack
        } else if f & flags::BACKPRESSURE != 0 {
            FrameKind::Backpressure
        } else if f & flags::INGEST != 0 || self.payload_length > 0 {
            FrameKind::Ingest
        } else {
            FrameKind::Unknown
        }
    }

    /// The command (request) or reply code of a control frame: the low byte of batch_id.
    pub fn code(&self) -> u8 {
        (self.batch_id & 0xFF) as u8
    }
}

/// Checksum of header bytes 0..8 (magic, version, flags, reserved).
#[inline]
pub fn header_checksum(checksum: Checksum, version: u8, flags: u8, reserved: u16) -> u32 {
    let r = reserved.to_le_bytes();
    let b = [MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3], version, flags, r[0], r[1]];
    checksum.compute(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_crc_table_from_lwp_md() {
        let table: &[(u8, [u8; 4], [u8; 4])] = &[
            (0x00, [0xe6, 0x58, 0xd1, 0x6b], [0x1f, 0x70, 0xe6, 0x42]),
            (0x04, [0x3a, 0xf0, 0xd8, 0x6c], [0x05, 0xd4, 0x38, 0xdc]),
            (0x05, [0x0d, 0x9a, 0x1a, 0x6d], [0x7b, 0x46, 0x79, 0x79]),
            (0x08, [0x5e, 0x09, 0xc2, 0x65], [0xda, 0x4e, 0xb7, 0x7a]),
            (0x10, [0x96, 0xfb, 0xf7, 0x77], [0x95, 0x0d, 0x44, 0x32]),
            (0x20, [0x06, 0x1e, 0x9c, 0x53], [0x0b, 0x8b, 0xa2, 0xa3]),
            (0x40, [0x26, 0xd5, 0x4b, 0x1b], [0xc6, 0xf0, 0x83, 0x85]),
        ];
        for &(f, ieee, castagnoli) in table {
            assert_eq!(header_checksum(Checksum::Crc32, 1, f, 0).to_le_bytes(), ieee, "flags {f:#x}");
            assert_eq!(header_checksum(Checksum::Crc32c, 1, f, 0).to_le_bytes(), castagnoli);
        }
    }

    #[test]
    fn classification_order() {
        let k = |flags: u8, len: u32| Header { flags, payload_length: len, ..Header::default() }.kind();
        assert_eq!(k(0x0C, 5), FrameKind::Ack);
        assert_eq!(k(0x24, 5), FrameKind::Keepalive);
        assert_eq!(k(0xA0, 0), FrameKind::Keepalive);
        assert_eq!(k(0x00, 3), FrameKind::Ingest);
        assert_eq!(k(0x01, 3), FrameKind::Ingest);
        assert_eq!(k(0x00, 0), FrameKind::Unknown);
        assert_eq!(k(0x60, 0), FrameKind::Control);
        assert_eq!(k(0x10, 0), FrameKind::Backpressure);
    }
}
