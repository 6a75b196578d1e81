//! The versioned group record format (docs/groups.md §2): what members write to the group topic.
//!
//! Each group record is the value of one TLV raw record (type 0x01) in the group topic. Pure codec:
//! no I/O, no clock.

use crate::wire::tlv::{record_type, Record};

/// First bytes of every group record's value.
pub const MAGIC: &[u8; 4] = b"LNCG";
/// The format version this library writes. Readers skip records of a higher version.
pub const VERSION: u8 = 1;
/// The longest member id (bytes).
pub const MAX_MEMBER_ID: usize = 255;
/// The most topics one join record may list.
pub const MAX_TOPICS: usize = 65_536;

/// What a record says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// The member joins (or re-announces itself) and lists the topic ids it subscribes to.
    Join {
        /// Sorted, without duplicates.
        topics: Vec<u32>,
    },
    /// The member is alive.
    Heartbeat,
    /// The member leaves the group (after committing and stopping every topic).
    Leave,
    /// The member has stopped every topic not assigned to it in the record's generation.
    Ack,
    /// The member processed `topic_id` up to `offset` (a record-boundary position).
    Commit {
        /// The topic.
        topic_id: u32,
        /// The next offset to read.
        offset: u64,
    },
}

impl Body {
    fn kind(&self) -> u8 {
        match self {
            Body::Join { .. } => 1,
            Body::Heartbeat => 2,
            Body::Leave => 3,
            Body::Ack => 4,
            Body::Commit { .. } => 5,
        }
    }
}

/// One decoded group record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRecord {
    /// The writer.
    pub member: String,
    /// The newest generation the writer knew when it wrote the record (for Ack: the generation
    /// acknowledged).
    pub generation: u64,
    /// The writer's wall clock, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// What it says.
    pub body: Body,
}

/// Why a value is not a usable group record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Not a raw record starting with [`MAGIC`]: something else was written to the group topic.
    Foreign,
    /// A version this library does not understand (written by a newer one): skipped.
    NewerVersion(u8),
    /// A record kind this version does not know: skipped.
    UnknownKind(u8),
    /// The value ends before its fields do, or a field is out of range.
    Malformed(&'static str),
}

impl GroupRecord {
    /// The TLV record that carries this group record.
    pub fn to_record(&self) -> Record {
        Record::raw(self.encode())
    }

    /// The value bytes (docs/groups.md §2).
    pub fn encode(&self) -> Vec<u8> {
        let id = self.member.as_bytes();
        let mut v = Vec::with_capacity(24 + id.len() + 16);
        v.extend_from_slice(MAGIC);
        v.push(VERSION);
        v.push(self.body.kind());
        v.extend_from_slice(&(id.len() as u16).to_le_bytes());
        v.extend_from_slice(id);
        v.extend_from_slice(&self.generation.to_le_bytes());
        v.extend_from_slice(&self.timestamp_ms.to_le_bytes());
        match &self.body {
            Body::Join { topics } => {
                v.extend_from_slice(&(topics.len() as u32).to_le_bytes());
                for t in topics {
                    v.extend_from_slice(&t.to_le_bytes());
                }
            }
            Body::Commit { topic_id, offset } => {
                v.extend_from_slice(&topic_id.to_le_bytes());
                v.extend_from_slice(&offset.to_le_bytes());
            }
            Body::Heartbeat | Body::Leave | Body::Ack => {}
        }
        v
    }

    /// Decodes a record read from the group topic.
    pub fn from_record(r: &Record) -> Result<GroupRecord, DecodeError> {
        if r.record_type != record_type::RAW {
            return Err(DecodeError::Foreign);
        }
        GroupRecord::decode(&r.value)
    }

    /// Decodes a value. Bytes after the known fields are ignored, so that a later revision of the
    /// same version can append fields.
    pub fn decode(v: &[u8]) -> Result<GroupRecord, DecodeError> {
        let mut c = Cursor { v, at: 0 };
        if c.take(4).ok() != Some(&MAGIC[..]) {
            return Err(DecodeError::Foreign);
        }
        let version = c.u8()?;
        if version != VERSION {
            return Err(if version > VERSION {
                DecodeError::NewerVersion(version)
            } else {
                DecodeError::Malformed("version 0")
            });
        }
        let kind = c.u8()?;
        let id_len = c.u16()? as usize;
        if id_len == 0 || id_len > MAX_MEMBER_ID {
            return Err(DecodeError::Malformed("member id length"));
        }
        let member = std::str::from_utf8(c.take(id_len)?)
            .map_err(|_| DecodeError::Malformed("member id is not UTF-8"))?
            .to_string();
        let generation = c.u64()?;
        let timestamp_ms = c.u64()?;
        let body = match kind {
            1 => {
                let n = c.u32()? as usize;
                if n > MAX_TOPICS {
                    return Err(DecodeError::Malformed("topic count"));
                }
                let mut topics = Vec::with_capacity(n);
                for _ in 0..n {
                    topics.push(c.u32()?);
                }
                topics.sort_unstable();
                topics.dedup();
                Body::Join { topics }
            }
            2 => Body::Heartbeat,
            3 => Body::Leave,
            4 => Body::Ack,
            5 => Body::Commit { topic_id: c.u32()?, offset: c.u64()? },
            k => return Err(DecodeError::UnknownKind(k)),
        };
        Ok(GroupRecord { member, generation, timestamp_ms, body })
    }
}

/// Checks a member id: 1 to 255 bytes of UTF-8.
pub fn valid_member_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_MEMBER_ID
}

struct Cursor<'a> {
    v: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.v.len()).ok_or(DecodeError::Malformed("truncated"))?;
        let s = &self.v[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(body: Body) -> GroupRecord {
        GroupRecord { member: "m-1".into(), generation: 7, timestamp_ms: 1_700_000_000_123, body }
    }

    #[test]
    fn every_kind_round_trips() {
        for body in [
            Body::Join { topics: vec![1, 5, 9] },
            Body::Join { topics: vec![] },
            Body::Heartbeat,
            Body::Leave,
            Body::Ack,
            Body::Commit { topic_id: 3, offset: 4096 },
        ] {
            let r = rec(body);
            assert_eq!(GroupRecord::from_record(&r.to_record()).unwrap(), r);
        }
    }

    #[test]
    fn heartbeat_bytes_are_stable() {
        // The documented layout (docs/groups.md §2), byte for byte.
        let v = GroupRecord { member: "a".into(), generation: 2, timestamp_ms: 3, body: Body::Heartbeat }.encode();
        let want: Vec<u8> = [&b"LNCG"[..], &[1, 2, 1, 0, b'a'], &2u64.to_le_bytes(), &3u64.to_le_bytes()].concat();
        assert_eq!(v, want);
    }

    #[test]
    fn newer_versions_unknown_kinds_and_foreign_records_are_told_apart() {
        let mut v = rec(Body::Heartbeat).encode();
        v[4] = 2;
        assert_eq!(GroupRecord::decode(&v), Err(DecodeError::NewerVersion(2)));
        let mut v = rec(Body::Heartbeat).encode();
        v[5] = 99;
        assert_eq!(GroupRecord::decode(&v), Err(DecodeError::UnknownKind(99)));
        assert_eq!(GroupRecord::decode(b"hello"), Err(DecodeError::Foreign));
        assert_eq!(GroupRecord::from_record(&Record::json(rec(Body::Ack).encode())), Err(DecodeError::Foreign));
    }

    #[test]
    fn every_truncation_is_malformed_and_trailing_bytes_are_ignored() {
        let full = rec(Body::Commit { topic_id: 1, offset: 2 }).encode();
        for n in 4..full.len() {
            assert!(matches!(GroupRecord::decode(&full[..n]), Err(DecodeError::Malformed(_))), "cut at {n}");
        }
        let mut longer = full.clone();
        longer.extend_from_slice(b"future field");
        assert_eq!(GroupRecord::decode(&longer), GroupRecord::decode(&full));
    }
}
