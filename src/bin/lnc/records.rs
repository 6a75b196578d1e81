//! Record types by name (`--type`, `%y`, JSON `type`), and record output (`-f` format, `--json`).

use std::io::Write;

use lnc::wire::tlv::{ext_type, record_type as rt};
use lnc::wire::Record;
use lnc::Message;

use crate::common::base64;

/// What `--type` selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Raw,
    Json,
    Msgpack,
    Protobuf,
    Avro,
    Kv,
    Ts,
    Kts,
    Tombstone,
    User(u8),
}

pub const TYPE_NAMES: &[&str] =
    &["raw", "json", "msgpack", "protobuf", "avro", "kv", "ts", "kts", "tombstone", "user:0xNN"];

impl Kind {
    pub fn parse(s: &str) -> Result<Kind, String> {
        Ok(match s {
            "raw" => Kind::Raw,
            "json" => Kind::Json,
            "msgpack" => Kind::Msgpack,
            "protobuf" => Kind::Protobuf,
            "avro" => Kind::Avro,
            "kv" => Kind::Kv,
            "ts" => Kind::Ts,
            "kts" => Kind::Kts,
            "tombstone" => Kind::Tombstone,
            _ => {
                let Some(hex) = s.strip_prefix("user:") else {
                    return Err(format!("unknown record type '{s}' (one of {})", TYPE_NAMES.join(", ")));
                };
                let digits = hex.trim_start_matches("0x").trim_start_matches("0X");
                let n = u8::from_str_radix(digits, 16)
                    .map_err(|_| format!("'{s}': expected user:0xNN with NN hexadecimal"))?;
                if !(rt::USER_FIRST..=rt::USER_LAST).contains(&n) {
                    return Err(format!("'{s}': user types are 0x80..0xfe"));
                }
                Kind::User(n)
            }
        })
    }

    pub fn needs_key(self) -> bool {
        matches!(self, Kind::Kv | Kind::Kts)
    }

    /// Whether `-k` is allowed (raw with a key becomes kv).
    pub fn takes_key(self) -> bool {
        matches!(self, Kind::Raw | Kind::Kv | Kind::Kts)
    }

    /// The message for one input value.
    pub fn message<'a>(self, key: Option<&'a [u8]>, value: &'a [u8], now_ns: u64) -> Message<'a> {
        let m = match self {
            Kind::Raw => Message::raw(value),
            Kind::Json => Message::json(value),
            Kind::Msgpack => Message::msgpack(value),
            Kind::Protobuf => Message::protobuf(value),
            Kind::Avro => Message::avro(value),
            Kind::Kv => return Message::key_value(key.unwrap_or_default(), value),
            Kind::Ts => return Message::timestamped(now_ns, value),
            Kind::Kts => return Message::key_timestamped(now_ns, key.unwrap_or_default(), value),
            Kind::Tombstone => return Message::tombstone(),
            Kind::User(t) => Message::of_type(t, value),
        };
        match key {
            Some(k) => m.with_key(k),
            None => m,
        }
    }
}

/// The `--type` name of a consumed record (`user:0x80`, `ext:0x0123` for other extended types,
/// `0x42` for unassigned standard types).
pub fn type_name(r: &Record) -> String {
    match (r.record_type, r.ext_type) {
        (rt::EXTENDED, Some(ext_type::TOMBSTONE)) => "tombstone".into(),
        (rt::EXTENDED, Some(ext_type::LZ4_ENVELOPE)) => "lz4-envelope".into(),
        (rt::EXTENDED, Some(e)) => format!("ext:{e:#06x}"),
        (rt::RAW, _) => "raw".into(),
        (rt::JSON, _) => "json".into(),
        (rt::MSGPACK, _) => "msgpack".into(),
        (rt::PROTOBUF, _) => "protobuf".into(),
        (rt::AVRO, _) => "avro".into(),
        (rt::KEY_VALUE, _) => "kv".into(),
        (rt::TIMESTAMPED, _) => "ts".into(),
        (rt::KEY_TIMESTAMPED, _) => "kts".into(),
        (t, _) if (rt::USER_FIRST..=rt::USER_LAST).contains(&t) => format!("user:{t:#04x}"),
        (t, _) => format!("{t:#04x}"),
    }
}

/// Interprets `\n`, `\t`, `\r`, `\0`, `\\` and `\xNN` escapes.
pub fn unescape(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let c = *b.get(i + 1).ok_or("trailing '\\'")?;
        i += 2;
        match c {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'0' => out.push(0),
            b'\\' => out.push(b'\\'),
            b'x' => {
                let hex = s.get(i..i + 2).ok_or("\\x needs two hex digits")?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| format!("bad escape \\x{hex}"))?);
                i += 2;
            }
            other => return Err(format!("unknown escape '\\{}'", other as char)),
        }
    }
    Ok(out)
}

/// One piece of a parsed `-f` format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Lit(Vec<u8>),
    Key,
    Value,
    Offset,
    Timestamp,
    Topic,
    TopicId,
    Type,
    KeyLen,
    ValueLen,
}

/// Parses a kcat-like format: `%k %v %o %T %t %i %y %K %S %%` and backslash escapes.
pub fn parse_format(f: &str) -> Result<Vec<Piece>, String> {
    let raw = unescape(f)?;
    let mut out = Vec::new();
    let mut lit = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] != b'%' {
            lit.push(raw[i]);
            i += 1;
            continue;
        }
        let c = *raw.get(i + 1).ok_or("format ends with '%'")?;
        i += 2;
        let piece = match c {
            b'%' => {
                lit.push(b'%');
                continue;
            }
            b'k' => Piece::Key,
            b'v' | b's' => Piece::Value,
            b'o' => Piece::Offset,
            b'T' => Piece::Timestamp,
            b't' => Piece::Topic,
            b'i' => Piece::TopicId,
            b'y' => Piece::Type,
            b'K' => Piece::KeyLen,
            b'S' => Piece::ValueLen,
            other => {
                return Err(format!(
                    "unknown format directive '%{}' (use %k %v %o %T %t %i %y %K %S %%)",
                    other as char
                ))
            }
        };
        if !lit.is_empty() {
            out.push(Piece::Lit(std::mem::take(&mut lit)));
        }
        out.push(piece);
    }
    if !lit.is_empty() {
        out.push(Piece::Lit(lit));
    }
    Ok(out)
}

/// Writes one record with a parsed format.
pub fn write_formatted(
    w: &mut impl Write,
    fmt: &[Piece],
    r: &Record,
    topic: &str,
    topic_id: u32,
) -> std::io::Result<()> {
    for p in fmt {
        match p {
            Piece::Lit(b) => w.write_all(b)?,
            Piece::Key => w.write_all(r.key().unwrap_or_default())?,
            Piece::Value => w.write_all(r.data())?,
            Piece::Offset => write!(w, "{}", r.offset)?,
            Piece::Timestamp => match r.timestamp_ns() {
                Some(t) => write!(w, "{t}")?,
                None => w.write_all(b"-1")?,
            },
            Piece::Topic => w.write_all(topic.as_bytes())?,
            Piece::TopicId => write!(w, "{topic_id}")?,
            Piece::Type => w.write_all(type_name(r).as_bytes())?,
            Piece::KeyLen => match r.key() {
                Some(k) => write!(w, "{}", k.len())?,
                None => w.write_all(b"-1")?,
            },
            Piece::ValueLen => write!(w, "{}", r.data().len())?,
        }
    }
    Ok(())
}

fn text_or_b64(b: &[u8]) -> (String, &'static str) {
    match std::str::from_utf8(b) {
        Ok(s) => (s.to_string(), "utf-8"),
        Err(_) => (base64(b), "base64"),
    }
}

/// One JSON object per record (one line).
pub fn write_json(w: &mut impl Write, r: &Record, topic: &str, topic_id: u32) -> std::io::Result<()> {
    let mut o = serde_json::Map::new();
    o.insert("topic".into(), topic.into());
    o.insert("topic_id".into(), topic_id.into());
    o.insert("offset".into(), r.offset.into());
    o.insert("type".into(), type_name(r).into());
    match r.key() {
        Some(k) => {
            let (s, enc) = text_or_b64(k);
            o.insert("key".into(), s.into());
            o.insert("key_encoding".into(), enc.into());
        }
        None => {
            o.insert("key".into(), serde_json::Value::Null);
        }
    }
    let (s, enc) = text_or_b64(r.data());
    o.insert("value".into(), s.into());
    o.insert("value_encoding".into(), enc.into());
    o.insert("timestamp_ns".into(), r.timestamp_ns().map(serde_json::Value::from).unwrap_or(serde_json::Value::Null));
    serde_json::to_writer(&mut *w, &serde_json::Value::Object(o))?;
    w.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let f = parse_format("%k=%v@%o %%\\n").unwrap();
        let r = Record { offset: 7, ..Record::key_value(b"a", b"b").unwrap() };
        let mut out = Vec::new();
        write_formatted(&mut out, &f, &r, "t", 1).unwrap();
        assert_eq!(out, b"a=b@7 %\n");
        assert!(parse_format("%q").is_err());
    }

    #[test]
    fn kinds() {
        assert_eq!(Kind::parse("user:0x80").unwrap(), Kind::User(0x80));
        assert!(Kind::parse("user:0x10").is_err());
        assert!(Kind::parse("bogus").is_err());
    }
}
