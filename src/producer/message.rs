//! What the application sends: one record, encoded straight into a batch buffer.

use crate::error::{Error, Result};
use crate::wire::tlv::{self, ext_type, record_type as rt};

/// One record to produce. Build it with a constructor and optionally add a key or timestamp.
///
/// A raw record given a key becomes key-value (0x10), given a timestamp becomes timestamped
/// (0x11), given both becomes key-timestamped (0x12). Other types carry no key or timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// TLV type byte (0xFF for extended records).
    pub record_type: u8,
    /// Extended type when `record_type` is 0xFF.
    pub ext_type: Option<u16>,
    /// Key (key-value and key-timestamped records).
    pub key: Option<&'a [u8]>,
    /// Timestamp in ns since the Unix epoch (timestamped types); `None` = now.
    pub timestamp_ns: Option<u64>,
    /// The application bytes.
    pub value: &'a [u8],
}

impl<'a> Message<'a> {
    /// A record of standard type `record_type`.
    pub fn of_type(record_type: u8, value: &'a [u8]) -> Message<'a> {
        Message { record_type, ext_type: None, key: None, timestamp_ns: None, value }
    }
    /// Raw bytes (0x01).
    pub fn raw(value: &'a [u8]) -> Message<'a> {
        Message::of_type(rt::RAW, value)
    }
    /// JSON text (0x02).
    pub fn json(value: &'a [u8]) -> Message<'a> {
        Message::of_type(rt::JSON, value)
    }
    /// MessagePack (0x03).
    pub fn msgpack(value: &'a [u8]) -> Message<'a> {
        Message::of_type(rt::MSGPACK, value)
    }
    /// Protobuf (0x04).
    pub fn protobuf(value: &'a [u8]) -> Message<'a> {
        Message::of_type(rt::PROTOBUF, value)
    }
    /// Avro (0x05).
    pub fn avro(value: &'a [u8]) -> Message<'a> {
        Message::of_type(rt::AVRO, value)
    }
    /// Key-value (0x10).
    pub fn key_value(key: &'a [u8], value: &'a [u8]) -> Message<'a> {
        Message { key: Some(key), ..Message::of_type(rt::KEY_VALUE, value) }
    }
    /// Timestamped (0x11).
    pub fn timestamped(timestamp_ns: u64, value: &'a [u8]) -> Message<'a> {
        Message { timestamp_ns: Some(timestamp_ns), ..Message::of_type(rt::TIMESTAMPED, value) }
    }
    /// Key-timestamped (0x12).
    pub fn key_timestamped(timestamp_ns: u64, key: &'a [u8], value: &'a [u8]) -> Message<'a> {
        Message { key: Some(key), timestamp_ns: Some(timestamp_ns), ..Message::of_type(rt::KEY_TIMESTAMPED, value) }
    }
    /// Tombstone / null record (extended 0x00FF, no value).
    pub fn tombstone() -> Message<'static> {
        Message {
            record_type: rt::EXTENDED,
            ext_type: Some(ext_type::TOMBSTONE),
            key: None,
            timestamp_ns: None,
            value: &[],
        }
    }
    /// An extended record of type `ext` (not 0x0100: envelopes are built by `compression=lz4`).
    pub fn extended(ext: u16, value: &'a [u8]) -> Message<'a> {
        Message { record_type: rt::EXTENDED, ext_type: Some(ext), key: None, timestamp_ns: None, value }
    }
    /// Adds a key.
    pub fn with_key(mut self, key: &'a [u8]) -> Message<'a> {
        self.key = Some(key);
        self
    }
    /// Adds a timestamp.
    pub fn with_timestamp(mut self, timestamp_ns: u64) -> Message<'a> {
        self.timestamp_ns = Some(timestamp_ns);
        self
    }

    /// The type actually written (raw promoted by key/timestamp), after validation.
    pub fn resolved_type(&self) -> Result<u8> {
        let t = self.record_type;
        if t == rt::EXTENDED {
            return match self.ext_type {
                None => Err(Error::invalid_arg("record type 0xff needs an extended type")),
                Some(ext_type::LZ4_ENVELOPE) => Err(Error::invalid_arg(
                    "extended type 0x0100 is the compression envelope: set compression=lz4 instead of writing it",
                )),
                Some(_) if self.key.is_some() || self.timestamp_ns.is_some() => {
                    Err(Error::invalid_arg("extended records carry no key or timestamp"))
                }
                Some(_) => Ok(t),
            };
        }
        if self.ext_type.is_some() {
            return Err(Error::invalid_arg(format!("extended type given for standard record type {t:#04x}")));
        }
        let t = match (t, self.key.is_some(), self.timestamp_ns.is_some()) {
            (rt::RAW, true, false) => rt::KEY_VALUE,
            (rt::RAW, false, true) => rt::TIMESTAMPED,
            (rt::RAW, true, true) => rt::KEY_TIMESTAMPED,
            (t, ..) => t,
        };
        let assigned = matches!(t, rt::RAW..=rt::AVRO | rt::KEY_VALUE..=rt::KEY_TIMESTAMPED)
            || (rt::USER_FIRST..=rt::USER_LAST).contains(&t);
        if !assigned {
            return Err(Error::invalid_arg(format!(
                "record type {t:#04x} is reserved or unassigned (use 0x01-0x05, 0x10-0x12 or user types 0x80-0xfe)"
            )));
        }
        let has_key = matches!(t, rt::KEY_VALUE | rt::KEY_TIMESTAMPED);
        let has_ts = matches!(t, rt::TIMESTAMPED | rt::KEY_TIMESTAMPED);
        if self.key.is_some() && !has_key {
            return Err(Error::invalid_arg(format!("record type {t:#04x} has no key")));
        }
        if self.timestamp_ns.is_some() && !has_ts {
            return Err(Error::invalid_arg(format!("record type {t:#04x} has no timestamp")));
        }
        Ok(t)
    }

    /// Encoded size (header + value), validating type and key length.
    pub fn encoded_len(&self) -> Result<usize> {
        let t = self.resolved_type()?;
        if t == rt::EXTENDED {
            let n = tlv::EXTENDED_HEADER + self.value.len();
            if n > tlv::MAX_RECORD_BYTES {
                return Err(tlv::RecordError::TooLarge(n).into());
            }
            return Ok(n);
        }
        Ok(tlv::STANDARD_HEADER + tlv::structured_len(t, self.key, self.value)?)
    }

    /// Appends the encoded record; `now_ns` fills a missing timestamp.
    pub fn encode_into(&self, out: &mut Vec<u8>, now_ns: u64) -> Result<usize> {
        let t = self.resolved_type()?;
        if t == rt::EXTENDED {
            let rec = tlv::Record::extended(self.ext_type.unwrap_or(0), self.value.to_vec());
            rec.encode_into(out);
            return Ok(rec.encoded_len());
        }
        Ok(tlv::append_structured(out, t, self.key, self.timestamp_ns.unwrap_or(now_ns), self.value)?)
    }
}

/// Nanoseconds since the Unix epoch.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promotion_and_validation() {
        assert_eq!(Message::raw(b"v").with_key(b"k").resolved_type().unwrap(), rt::KEY_VALUE);
        assert_eq!(Message::raw(b"v").with_timestamp(1).resolved_type().unwrap(), rt::TIMESTAMPED);
        assert_eq!(Message::raw(b"v").with_key(b"k").with_timestamp(1).resolved_type().unwrap(), rt::KEY_TIMESTAMPED);
        assert!(Message::json(b"{}").with_key(b"k").resolved_type().is_err());
        assert!(Message::of_type(0, b"").resolved_type().is_err());
        assert!(Message::of_type(0x42, b"").resolved_type().is_err());
        assert!(Message::extended(0x0100, b"").resolved_type().is_err());
        let mut out = Vec::new();
        Message::tombstone().encode_into(&mut out, 0).unwrap();
        assert_eq!(out, [0xff, 0xff, 0, 0, 0, 0, 0]);
        out.clear();
        let n = Message::key_timestamped(7, b"k", b"v").encode_into(&mut out, 0).unwrap();
        assert_eq!(n, Message::key_timestamped(7, b"k", b"v").encoded_len().unwrap());
        assert_eq!(out, tlv::Record::key_timestamped(7, b"k", b"v").unwrap().encode());
    }
}
