"""``TlvRecord`` (seed names), ``RecordType`` and ``PollResult``.

Records are encoded and decoded by liblnc (``lnc_record_encode`` / ``lnc_record_decode`` /
``lnc_records_views``); Python only copies the bytes liblnc points at.
"""

from __future__ import annotations

import ctypes
import enum
import struct
from typing import Callable, Iterator, List, Optional, Tuple, Union

from . import _ffi as F
from ._ffi import lib
from .errors import InvalidArgumentError, LanceError, check

__all__ = ["RecordType", "TlvRecord", "PollResult", "encode_records", "decode_records"]

Bytes = Union[bytes, bytearray, memoryview]


class RecordType(enum.IntEnum):
    """TLV type numbers (the written-spec / seed numbering)."""

    RESERVED = 0x00
    RAW_DATA = 0x01
    JSON = 0x02
    MSGPACK = 0x03
    PROTOBUF = 0x04
    AVRO = 0x05
    KEY_VALUE = 0x10
    TIMESTAMPED = 0x11
    KEY_TIMESTAMPED = 0x12
    #: The extended-header marker. ``TlvRecord.null()`` writes liblnc's tombstone (extended type
    #: 0x00FF), never the seed's 5-byte ``ff 00000000`` which the server's recovery truncates.
    NULL = 0xFF
    EXTENDED = 0xFF


RAW_CHUNK = 0x00

# struct layout of lnc_record_view_t (checked against ctypes at import, and against C in tests).
_VIEW = struct.Struct("=BBHBBxxQQQQQQQQ")
assert _VIEW.size == ctypes.sizeof(F.lnc_record_view_t), "lnc_record_view_t layout changed"
_string_at = ctypes.string_at


def _b(x: Union[Bytes, str, None]) -> Optional[bytes]:
    if x is None or type(x) is bytes:
        return x  # type: ignore[return-value]
    if isinstance(x, str):
        return x.encode("utf-8")
    return bytes(x)


class TlvRecord:
    """One TLV record.

    ``record_type`` and ``value`` (the whole TLV value as stored) are the seed client's fields;
    liblnc also decodes ``key``, ``timestamp_ns`` and ``data`` (the application payload after any
    key/timestamp prefix), ``ext_type`` for extended records and, for consumed records, the byte
    ``offset`` of the record in the topic log.
    """

    __slots__ = ("record_type", "value", "ext_type", "offset", "key", "timestamp_ns", "_data", "_parts")

    def __init__(
        self,
        record_type: int,
        value: Bytes = b"",
        *,
        ext_type: Optional[int] = None,
        offset: Optional[int] = None,
    ) -> None:
        self.record_type = int(record_type)
        self.value: bytes = _b(value) or b""
        if self.record_type == F.LNC_RECORD_EXTENDED and ext_type is None:
            ext_type = F.LNC_EXT_TOMBSTONE if not self.value else None
        self.ext_type = ext_type
        self.offset = offset
        self.key: Optional[bytes] = None
        self.timestamp_ns: Optional[int] = None
        self._data: Optional[bytes] = None
        self._parts = False  # key/timestamp/data not decoded yet

    # --- constructors (encoded by liblnc) ----------------------------------------------------

    @classmethod
    def raw(cls, data: Bytes) -> "TlvRecord":
        """A raw-bytes record (0x01)."""
        return cls._build(F.LNC_RECORD_RAW, value=_b(data))

    @classmethod
    def json(cls, data: Union[Bytes, str]) -> "TlvRecord":
        """A JSON record (0x02) from already-encoded JSON (bytes or str)."""
        return cls._build(F.LNC_RECORD_JSON, value=_b(data))

    @classmethod
    def key_value(cls, key: Union[str, Bytes], value: Bytes) -> "TlvRecord":
        """A key-value record (0x10)."""
        return cls._build(F.LNC_RECORD_KEY_VALUE, key=_b(key), value=_b(value))

    @classmethod
    def timestamped(cls, timestamp_ns: int, data: Bytes) -> "TlvRecord":
        """A timestamped record (0x11)."""
        return cls._build(F.LNC_RECORD_TIMESTAMPED, value=_b(data), timestamp_ns=timestamp_ns)

    @classmethod
    def key_timestamped(cls, timestamp_ns: int, key: Union[str, Bytes], value: Bytes) -> "TlvRecord":
        """A key-timestamped record (0x12)."""
        return cls._build(F.LNC_RECORD_KEY_TIMESTAMPED, key=_b(key), value=_b(value), timestamp_ns=timestamp_ns)

    @classmethod
    def null(cls) -> "TlvRecord":
        """The null / tombstone record: liblnc's extended tombstone (``ff ff00 00000000``)."""
        return cls._build(F.LNC_RECORD_EXTENDED, ext_type=F.LNC_EXT_TOMBSTONE)

    tombstone = null

    @classmethod
    def of_type(cls, record_type: int, data: Bytes) -> "TlvRecord":
        """A record of an unstructured type (0x01-0x05, user types 0x80-0xFE)."""
        return cls._build(int(record_type), value=_b(data))

    @classmethod
    def _build(
        cls,
        record_type: int,
        *,
        value: Optional[bytes] = b"",
        key: Optional[bytes] = None,
        timestamp_ns: Optional[int] = None,
        ext_type: int = 0,
    ) -> "TlvRecord":
        enc = _encode(record_type, ext_type, key, value or b"", timestamp_ns or 0)
        return decode_one(enc)

    @classmethod
    def decode(cls, encoded: Bytes) -> "TlvRecord":
        """Decodes one encoded record (liblnc's decoder)."""
        return decode_one(_b(encoded) or b"")

    # --- accessors -------------------------------------------------------------------------

    def _ensure_parts(self) -> None:
        if self._parts:
            return
        self._parts = True
        if self.record_type in (F.LNC_RECORD_KEY_VALUE, F.LNC_RECORD_TIMESTAMPED, F.LNC_RECORD_KEY_TIMESTAMPED):
            # Built from (type, whole value) as in the seed client: liblnc encodes the value as
            # stored and its decoder splits key / timestamp / data.
            r = decode_one(_encode_value(self.record_type, self.value))
            self.key, self.timestamp_ns, self._data = r.key, r.timestamp_ns, r._data

    @property
    def data(self) -> bytes:
        """The application payload (after any key / timestamp prefix)."""
        self._ensure_parts()
        return self.value if self._data is None else self._data

    @property
    def is_tombstone(self) -> bool:
        return self.record_type == F.LNC_RECORD_EXTENDED and self.ext_type == F.LNC_EXT_TOMBSTONE

    @property
    def total_size(self) -> int:
        """Encoded size in bytes."""
        return len(self.encode())

    def as_key_value(self) -> Tuple[str, bytes]:
        """``(key, value)`` of a key-value / key-timestamped record (key decoded as UTF-8 with
        replacement, as the seed does; ``.key`` has the raw bytes). Raises ValueError for other
        records or a malformed value."""
        self._ensure_parts()
        if self.key is None:
            raise ValueError(f"record type {self.record_type:#04x} carries no key (or its value is malformed)")
        return self.key.decode("utf-8", "replace"), self.data

    def as_timestamped(self) -> Tuple[int, bytes]:
        """``(timestamp_ns, data)`` of a timestamped / key-timestamped record."""
        self._ensure_parts()
        if self.timestamp_ns is None:
            raise ValueError(f"record type {self.record_type:#04x} carries no timestamp (or its value is malformed)")
        return self.timestamp_ns, self.data

    def as_json(self) -> object:
        import json

        return json.loads(self.data)

    def message_parts(self) -> Tuple[int, int, Optional[bytes], bytes, int]:
        """(record_type, ext_type, key, data, timestamp_ns) for ``lnc_message_t``."""
        if self.record_type == F.LNC_RECORD_EXTENDED:
            return self.record_type, self.ext_type or 0, None, self.value, 0
        self._ensure_parts()
        if self.record_type in (F.LNC_RECORD_KEY_VALUE, F.LNC_RECORD_KEY_TIMESTAMPED) and self.key is None:
            raise InvalidArgumentError(f"malformed key record value ({len(self.value)} bytes)")
        if self.record_type in (F.LNC_RECORD_TIMESTAMPED, F.LNC_RECORD_KEY_TIMESTAMPED) and self.timestamp_ns is None:
            raise InvalidArgumentError(f"malformed timestamped record value ({len(self.value)} bytes)")
        return self.record_type, 0, self.key, self.data, self.timestamp_ns or 0

    def encode(self) -> bytes:
        """The record's TLV encoding (liblnc's encoder)."""
        t, ext, key, data, ts = self.message_parts()
        return _encode(t, ext, key, data, ts)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TlvRecord):
            return NotImplemented
        return (self.record_type, self.ext_type, self.value) == (other.record_type, other.ext_type, other.value)

    def __hash__(self) -> int:
        return hash((self.record_type, self.ext_type, self.value))

    def __repr__(self) -> str:
        v = self.value if len(self.value) <= 32 else self.value[:32] + b"..."
        extra = f", ext_type={self.ext_type:#06x}" if self.ext_type is not None else ""
        off = f", offset={self.offset}" if self.offset is not None else ""
        return f"TlvRecord(record_type={self.record_type:#04x}{extra}, value={v!r}{off})"


def _encode(record_type: int, ext_type: int, key: Optional[bytes], value: bytes, timestamp_ns: int) -> bytes:
    msg = F.lnc_message_t()
    msg.record_type = record_type
    msg.ext_type = ext_type
    kbuf = vbuf = None
    if key is not None:
        kbuf = ctypes.create_string_buffer(key, len(key)) if key else ctypes.create_string_buffer(1)
        msg.key = ctypes.addressof(kbuf)
        msg.key_len = len(key)
    if value:
        vbuf = ctypes.create_string_buffer(value, len(value))
        msg.value = ctypes.addressof(vbuf)
        msg.value_len = len(value)
    msg.timestamp_ns = timestamp_ns
    need = ctypes.c_size_t()
    err = ctypes.c_void_p()
    check(lib.lnc_record_encode(ctypes.byref(msg), None, 0, ctypes.byref(need), ctypes.byref(err)), err)
    out = ctypes.create_string_buffer(need.value or 1)
    check(lib.lnc_record_encode(ctypes.byref(msg), out, need.value, ctypes.byref(need), ctypes.byref(err)), err)
    del kbuf, vbuf
    return out.raw[: need.value]


def _encode_value(record_type: int, value: bytes, ext_type: int = 0) -> bytes:
    """One record from its whole stored TLV value (liblnc's encoder)."""
    vbuf = ctypes.create_string_buffer(value, len(value)) if value else None
    need = ctypes.c_size_t()
    err = ctypes.c_void_p()
    check(lib.lnc_record_encode_value(record_type, ext_type, vbuf, len(value), None, 0, ctypes.byref(need), ctypes.byref(err)), err)
    out = ctypes.create_string_buffer(need.value or 1)
    check(lib.lnc_record_encode_value(record_type, ext_type, vbuf, len(value), out, need.value, ctypes.byref(need), ctypes.byref(err)), err)
    return out.raw[: need.value]


def decode_one(encoded: bytes) -> TlvRecord:
    view = F.lnc_record_view_t()
    consumed = ctypes.c_size_t()
    err = ctypes.c_void_p()
    check(lib.lnc_record_decode(encoded, len(encoded), ctypes.byref(view), ctypes.byref(consumed), ctypes.byref(err)), err)
    if consumed.value == 0:
        raise InvalidArgumentError("incomplete record")
    # The view's pointers borrow from `encoded` (alive here); _from_view copies the bytes.
    r = _from_view(_VIEW.unpack(ctypes.string_at(ctypes.addressof(view), _VIEW.size)))
    r.offset = None
    return r


def _from_view(t: tuple) -> TlvRecord:
    (rtype, has_ext, ext, has_key, has_ts, offset, ts, kp, kl, dp, dl, vp, vl) = t
    value = _string_at(vp, vl) if vl else b""
    r = TlvRecord.__new__(TlvRecord)
    r.record_type = rtype
    r.value = value
    r.ext_type = ext if has_ext else None
    r.offset = offset
    r.timestamp_ns = ts if has_ts else None
    if has_key:
        ko = kp - vp
        r.key = value[ko : ko + kl] if 0 <= ko and ko + kl <= vl else (_string_at(kp, kl) if kl else b"")
    else:
        r.key = None
    if dl == vl and (dp == vp or vl == 0):
        r._data = None
    else:
        do = dp - vp
        r._data = value[do : do + dl] if 0 <= do and do + dl <= vl else (_string_at(dp, dl) if dl else b"")
    r._parts = True
    return r


def records_from_views(views_ptr: int, n: int) -> List[TlvRecord]:
    """Copies ``n`` contiguous ``lnc_record_view_t`` into TlvRecords: the views with one memcpy
    unpacked in C, then each value with one ``string_at`` (liblnc owns every record's value in
    its own allocation, so values are never copied as one region)."""
    if n == 0 or not views_ptr:
        return []
    new = TlvRecord.__new__
    string_at = _string_at
    out: List[TlvRecord] = []
    append = out.append
    for (rtype, has_ext, ext, has_key, has_ts, offset, ts, kp, kl, dp, dl, vp, vl) in _VIEW.iter_unpack(
        string_at(views_ptr, n * _VIEW.size)
    ):
        value = string_at(vp, vl) if vl else b""
        r = new(TlvRecord)
        r.record_type = rtype
        r.value = value
        r.offset = offset
        if has_ext or has_key or has_ts or dl != vl:
            r.ext_type = ext if has_ext else None
            r.timestamp_ns = ts if has_ts else None
            ko = kp - vp
            r.key = (value[ko : ko + kl] if 0 <= ko and ko + kl <= vl else string_at(kp, kl)) if has_key else None
            do = dp - vp
            r._data = value[do : do + dl] if 0 <= do and do + dl <= vl else (string_at(dp, dl) if dl else b"")
        else:
            r.ext_type = r.timestamp_ns = r.key = r._data = None
        r._parts = True
        append(r)
    return out


def encode_records(records: List[TlvRecord]) -> bytes:
    """Concatenated encodings of ``records`` (seed helper)."""
    return b"".join(r.encode() for r in records)


def decode_records(payload: Bytes, expected_count: Optional[int] = None) -> List[TlvRecord]:
    """Decodes every complete record of ``payload`` with liblnc's decoder (seed helper).
    Envelopes are not expanded; a trailing partial record is ignored."""
    data = _b(payload) or b""
    out: List[TlvRecord] = []
    view = F.lnc_record_view_t()
    consumed = ctypes.c_size_t()
    err = ctypes.c_void_p()
    pos = 0
    buf = ctypes.create_string_buffer(data, len(data)) if data else None
    base = ctypes.addressof(buf) if buf is not None else 0
    while pos < len(data) and (expected_count is None or len(out) < expected_count):
        check(
            lib.lnc_record_decode(
                ctypes.c_char_p(base + pos), len(data) - pos, ctypes.byref(view), ctypes.byref(consumed), ctypes.byref(err)
            ),
            err,
        )
        if consumed.value == 0:
            break
        r = _from_view(_VIEW.unpack(ctypes.string_at(ctypes.addressof(view), _VIEW.size)))
        r.offset = pos
        out.append(r)
        pos += consumed.value
    return out


class PollResult:
    """What one ``poll`` returned: ``records`` plus the positions around them.

    ``start_offset`` is the position before the first record, ``end_offset`` the position just
    past the last one (what ``commit`` would store). ``lag`` is the number of bytes between
    ``end_offset`` and the topic's end, asked of liblnc when first read.
    """

    __slots__ = ("records", "start_offset", "end_offset", "_lag", "_lag_fn", "_lag_error")

    def __init__(
        self,
        records: List[TlvRecord],
        start_offset: int,
        end_offset: int,
        lag_fn: Optional[Callable[[int], int]] = None,
        lag: Optional[int] = None,
    ) -> None:
        self.records = records
        self.start_offset = start_offset
        self.end_offset = end_offset
        self._lag = lag
        self._lag_fn = lag_fn
        self._lag_error: Optional[BaseException] = None

    @property
    def lag(self) -> int:
        if self._lag is None:
            if self._lag_error is not None:
                raise self._lag_error
            self._lag = self._lag_fn(self.end_offset) if self._lag_fn else 0
        return self._lag

    def resolve_lag(self) -> None:
        """Learns ``lag`` now (it may ask the server), so that reading it later never blocks.
        A failure (e.g. the consumer closed meanwhile) is kept and raised by reading ``lag``,
        never by the poll that returned these records."""
        try:
            self.lag
        except LanceError as e:
            self._lag_error = e

    @property
    def record_count(self) -> int:
        return len(self.records)

    @property
    def is_empty(self) -> bool:
        return not self.records

    @property
    def high_water_mark(self) -> int:
        return self.end_offset + self.lag

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[TlvRecord]:
        return iter(self.records)

    def __repr__(self) -> str:
        return f"PollResult({len(self.records)} records, {self.start_offset}..{self.end_offset})"
