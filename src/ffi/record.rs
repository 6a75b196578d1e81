//! Records across the C ABI: `lnc_message_t` (what to produce), `lnc_record_view_t` (a decoded
//! record, borrowed), `lnc_records_t` (an owned batch from `lnc_consumer_poll`), and the
//! `lnc_record_*` TLV helpers for C users who handle raw bytes.

use std::ffi::c_void;

use super::{bytes_arg, fail, lnc_err_t, lnc_error_t};
use crate::error::{Error, Result};
use crate::ffi_guard;
use crate::producer::Message;
use crate::wire::tlv::{self, Record};

/// Record type: raw bytes.
pub const LNC_RECORD_RAW: u8 = 0x01;
/// Record type: JSON text.
pub const LNC_RECORD_JSON: u8 = 0x02;
/// Record type: MessagePack.
pub const LNC_RECORD_MSGPACK: u8 = 0x03;
/// Record type: Protobuf.
pub const LNC_RECORD_PROTOBUF: u8 = 0x04;
/// Record type: Avro.
pub const LNC_RECORD_AVRO: u8 = 0x05;
/// Record type: key-value.
pub const LNC_RECORD_KEY_VALUE: u8 = 0x10;
/// Record type: timestamped.
pub const LNC_RECORD_TIMESTAMPED: u8 = 0x11;
/// Record type: key-timestamped.
pub const LNC_RECORD_KEY_TIMESTAMPED: u8 = 0x12;
/// Record type: extended (see `ext_type`).
pub const LNC_RECORD_EXTENDED: u8 = 0xFF;
/// Extended type: tombstone / null record.
pub const LNC_EXT_TOMBSTONE: u16 = 0x00FF;
/// Raw-mode chunk (`consume.raw=true`): undecoded log bytes.
pub const LNC_RECORD_RAW_CHUNK: u8 = 0x00;

/// One record to produce. Zero-initialise it, then set what applies.
///
/// `type` is an `LNC_RECORD_*` value (0 means raw). A raw record given a key becomes key-value,
/// given a timestamp becomes timestamped, given both key-timestamped. `key == NULL` means no
/// key (a non-NULL key of length 0 is an empty key). `timestamp_ns == 0` means none (timestamped
/// types then use the current time). For `LNC_RECORD_EXTENDED`, set `ext_type` (e.g.
/// `LNC_EXT_TOMBSTONE`). `opaque` comes back in the delivery report. All pointers are borrowed
/// for the call only.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct lnc_message_t {
    /// `LNC_RECORD_*`; 0 = raw.
    pub record_type: u8,
    /// Extended type when `record_type == LNC_RECORD_EXTENDED`.
    pub ext_type: u16,
    /// Key bytes, or NULL for no key.
    pub key: *const u8,
    /// Key length.
    pub key_len: usize,
    /// Value bytes (NULL allowed when `value_len == 0`).
    pub value: *const u8,
    /// Value length.
    pub value_len: usize,
    /// Nanoseconds since the Unix epoch; 0 = none / now.
    pub timestamp_ns: u64,
    /// Returned in the delivery report.
    pub opaque: *mut c_void,
}

/// Borrows a C message as a Rust message.
pub(crate) unsafe fn message<'a>(m: &'a lnc_message_t) -> Result<Message<'a>> {
    // SAFETY: pointer/length pairs valid for the call per the contract.
    let value = unsafe { bytes_arg(m.value, m.value_len, "message value") }?;
    let key = if m.key.is_null() {
        if m.key_len != 0 {
            return Err(Error::invalid_arg("message key is NULL with a non-zero length"));
        }
        None
    } else {
        // SAFETY: as above.
        Some(unsafe { bytes_arg(m.key, m.key_len, "message key") }?)
    };
    let t = if m.record_type == 0 { LNC_RECORD_RAW } else { m.record_type };
    Ok(Message {
        record_type: t,
        ext_type: (t == LNC_RECORD_EXTENDED).then_some(m.ext_type),
        key,
        timestamp_ns: (m.timestamp_ns != 0).then_some(m.timestamp_ns),
        value,
    })
}

/// A decoded record, borrowed from its owner (an `lnc_records_t`, or the buffer given to
/// `lnc_record_decode`, or the duration of a callback).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct lnc_record_view_t {
    /// Type byte (`LNC_RECORD_*`; 0x00 for a raw-mode chunk).
    pub record_type: u8,
    /// 1 if `ext_type` is meaningful (extended record).
    pub has_ext_type: u8,
    /// Extended type.
    pub ext_type: u16,
    /// 1 if `key` is meaningful.
    pub has_key: u8,
    /// 1 if `timestamp_ns` is meaningful.
    pub has_timestamp: u8,
    /// Byte offset of the record in the topic log (records of one envelope share it).
    pub offset: u64,
    /// Timestamp (timestamped types).
    pub timestamp_ns: u64,
    /// Key bytes (key-value types).
    pub key: *const u8,
    /// Key length.
    pub key_len: usize,
    /// Application payload (after any key/timestamp prefix).
    pub data: *const u8,
    /// Payload length.
    pub data_len: usize,
    /// The whole TLV value as stored.
    pub value: *const u8,
    /// Value length.
    pub value_len: usize,
}

pub(crate) fn view(r: &Record) -> lnc_record_view_t {
    let (key, key_len, has_key) = match r.key() {
        Some(k) => (k.as_ptr(), k.len(), 1),
        None => (std::ptr::null(), 0, 0),
    };
    let (ts, has_ts) = match r.timestamp_ns() {
        Some(t) => (t, 1),
        None => (0, 0),
    };
    let data = r.data();
    lnc_record_view_t {
        record_type: r.record_type,
        has_ext_type: r.ext_type.is_some() as u8,
        ext_type: r.ext_type.unwrap_or(0),
        has_key,
        has_timestamp: has_ts,
        offset: r.offset,
        timestamp_ns: ts,
        key,
        key_len,
        data: data.as_ptr(),
        data_len: data.len(),
        value: r.value.as_ptr(),
        value_len: r.value.len(),
    }
}

/// An owned batch of records returned by `lnc_consumer_poll`. Free with `lnc_records_free`.
pub struct lnc_records_t {
    /// Owns the bytes the views point into.
    _records: Vec<Record>,
    pub(crate) views: Vec<lnc_record_view_t>,
}

impl lnc_records_t {
    pub(crate) fn new(records: Vec<Record>) -> lnc_records_t {
        let views = records.iter().map(view).collect();
        lnc_records_t { _records: records, views }
    }
}

/// Number of records in the batch (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn lnc_records_count(records: *const lnc_records_t) -> usize {
    // SAFETY: NULL-checked; otherwise a live batch.
    ffi_guard!(0, { unsafe { records.as_ref() }.map_or(0, |r| r.views.len()) })
}

/// The batch's records as a contiguous array of `lnc_records_count` views, valid until
/// `lnc_records_free`. NULL for NULL or an empty batch.
#[no_mangle]
pub unsafe extern "C" fn lnc_records_views(records: *const lnc_records_t) -> *const lnc_record_view_t {
    ffi_guard!(std::ptr::null(), {
        // SAFETY: NULL-checked; otherwise a live batch.
        match unsafe { records.as_ref() } {
            Some(r) if !r.views.is_empty() => r.views.as_ptr(),
            _ => std::ptr::null(),
        }
    })
}

/// Copies record `index` into `*out`. INVALID_ARG for NULLs or an index out of range.
#[no_mangle]
pub unsafe extern "C" fn lnc_records_get(
    records: *const lnc_records_t,
    index: usize,
    out: *mut lnc_record_view_t,
) -> lnc_err_t {
    ffi_guard!({
        // SAFETY: NULL-checked pointers.
        match (unsafe { records.as_ref() }, out.is_null()) {
            (Some(r), false) if index < r.views.len() => {
                unsafe { *out = r.views[index] };
                lnc_err_t::LNC_ERR_OK
            }
            _ => lnc_err_t::LNC_ERR_INVALID_ARG,
        }
    })
}

/// Frees a batch. NULL is accepted.
#[no_mangle]
pub unsafe extern "C" fn lnc_records_free(records: *mut lnc_records_t) {
    ffi_guard!((), {
        if !records.is_null() {
            // SAFETY: a pointer from lnc_consumer_poll, freed once.
            drop(unsafe { Box::from_raw(records) });
        }
    })
}

/// Encodes one record as TLV bytes into `buf` (`buflen` bytes). `*written` receives the encoded
/// size; if `buf` is NULL or too small, nothing is written, `*written` is the size needed and
/// the result is MSG_TOO_LARGE (for a too-small buffer) or OK (for a NULL size query).
#[no_mangle]
pub unsafe extern "C" fn lnc_record_encode(
    msg: *const lnc_message_t,
    buf: *mut u8,
    buflen: usize,
    written: *mut usize,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        // SAFETY: NULL-checked pointers; msg valid for the call.
        let (Some(m), false) = (unsafe { msg.as_ref() }, written.is_null()) else {
            return fail(err, Error::invalid_arg("msg and written must not be NULL"));
        };
        let m = match unsafe { message(m) } {
            Ok(m) => m,
            Err(e) => return fail(err, e),
        };
        let n = match m.encoded_len() {
            Ok(n) => n,
            Err(e) => return fail(err, e),
        };
        unsafe { *written = n };
        if buf.is_null() {
            return lnc_err_t::LNC_ERR_OK;
        }
        if buflen < n {
            return fail(
                err,
                Error::new(crate::ErrorCode::MsgTooLarge, format!("buffer of {buflen} bytes, {n} needed")),
            );
        }
        let mut v = Vec::with_capacity(n);
        if let Err(e) = m.encode_into(&mut v, crate::producer::now_ns()) {
            return fail(err, e);
        }
        // SAFETY: buf has buflen >= n writable bytes.
        unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), buf, n) };
        lnc_err_t::LNC_ERR_OK
    })
}

/// Encodes one record from its whole TLV value as stored (for key-value types the value already
/// holds the key length and key; for timestamped types the timestamp): `record_type` 0xFF with
/// `ext_type` gives an extended record. Same buffer rules as `lnc_record_encode`. Any type byte is
/// accepted (this re-encodes records as read); MSG_TOO_LARGE above 16 MiB.
#[no_mangle]
pub unsafe extern "C" fn lnc_record_encode_value(
    record_type: u8,
    ext_type: u16,
    value: *const u8,
    value_len: usize,
    buf: *mut u8,
    buflen: usize,
    written: *mut usize,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        if written.is_null() {
            return fail(err, Error::invalid_arg("written must not be NULL"));
        }
        // SAFETY: (value, value_len) readable for the call per the contract.
        let value = match unsafe { bytes_arg(value, value_len, "value") } {
            Ok(v) => v,
            Err(e) => return fail(err, e),
        };
        let ext = (record_type == LNC_RECORD_EXTENDED).then_some(ext_type);
        let rec = Record { record_type, ext_type: ext, value: value.to_vec(), offset: 0 };
        let n = rec.encoded_len();
        if n > tlv::MAX_RECORD_BYTES {
            return fail(err, tlv::RecordError::TooLarge(n).into());
        }
        unsafe { *written = n };
        if buf.is_null() {
            return lnc_err_t::LNC_ERR_OK;
        }
        if buflen < n {
            return fail(
                err,
                Error::new(crate::ErrorCode::MsgTooLarge, format!("buffer of {buflen} bytes, {n} needed")),
            );
        }
        let encoded = rec.encode();
        // SAFETY: buf has buflen >= n writable bytes.
        unsafe { std::ptr::copy_nonoverlapping(encoded.as_ptr(), buf, n) };
        lnc_err_t::LNC_ERR_OK
    })
}

/// Decodes the first record of `buf` into `*out` (pointers borrow from `buf`). `*consumed` is
/// its encoded size, or 0 when `buf` holds only part of a record (feed more bytes). A record
/// that can never be valid (over 16 MiB) is CORRUPT_RECORD. Envelopes are not expanded here.
#[no_mangle]
pub unsafe extern "C" fn lnc_record_decode(
    buf: *const u8,
    len: usize,
    out: *mut lnc_record_view_t,
    consumed: *mut usize,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        if out.is_null() || consumed.is_null() {
            return fail(err, Error::invalid_arg("out and consumed must not be NULL"));
        }
        // SAFETY: (buf, len) readable per the contract.
        let bytes = match unsafe { bytes_arg(buf, len, "buf") } {
            Ok(b) => b,
            Err(e) => return fail(err, e),
        };
        unsafe { *consumed = 0 };
        let Some(&t) = bytes.first() else { return lnc_err_t::LNC_ERR_OK };
        let hlen = if t == tlv::record_type::EXTENDED { tlv::EXTENDED_HEADER } else { tlv::STANDARD_HEADER };
        if bytes.len() < hlen {
            return lnc_err_t::LNC_ERR_OK;
        }
        let vlen = u32::from_le_bytes([bytes[hlen - 4], bytes[hlen - 3], bytes[hlen - 2], bytes[hlen - 1]]) as usize;
        if hlen + vlen > tlv::MAX_RECORD_BYTES {
            return fail(err, Error::new(crate::ErrorCode::CorruptRecord, "record larger than 16 MiB").with_offset(0));
        }
        if bytes.len() < hlen + vlen {
            return lnc_err_t::LNC_ERR_OK;
        }
        // Build a view over `buf` directly (no copy): parse with a temporary Record for the
        // structured accessors, then re-point every slice into `buf`.
        let value = &bytes[hlen..hlen + vlen];
        let ext = (t == tlv::record_type::EXTENDED).then(|| u16::from_le_bytes([bytes[1], bytes[2]]));
        let tmp = Record { record_type: t, ext_type: ext, value: value.to_vec(), offset: 0 };
        let mut v = view(&tmp);
        let rebase = |p: *const u8| -> *const u8 {
            if p.is_null() {
                p
            } else {
                // Same offset within `value` as within tmp.value.
                value.as_ptr().wrapping_add(p as usize - tmp.value.as_ptr() as usize)
            }
        };
        v.key = rebase(v.key);
        v.data = rebase(v.data);
        v.value = value.as_ptr();
        unsafe {
            *out = v;
            *consumed = hlen + vlen;
        }
        lnc_err_t::LNC_ERR_OK
    })
}
