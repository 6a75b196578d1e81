"""TlvRecord constructors and accessors (encoded / decoded by liblnc)."""

from __future__ import annotations

import pytest

import lnc
from lnc import RecordType, TlvRecord


def test_constructors_encode_like_the_spec():
    assert TlvRecord.raw(b"ab").encode() == b"\x01\x02\x00\x00\x00ab"
    assert TlvRecord.json(b"{}").record_type == RecordType.JSON
    kv = TlvRecord.key_value("k", b"v")
    assert kv.record_type == 0x10 and kv.value == b"\x01\x00kv" and kv.as_key_value() == ("k", b"v")
    ts = TlvRecord.timestamped(7, b"d")
    assert ts.value == (7).to_bytes(8, "little") + b"d" and ts.as_timestamped() == (7, b"d")
    kts = TlvRecord.key_timestamped(9, b"k", b"v")
    assert kts.record_type == 0x12 and kts.as_key_value() == ("k", b"v") and kts.as_timestamped() == (9, b"v")
    # the null record is liblnc's extended tombstone, never the 5-byte ff 00000000
    assert TlvRecord.null().encode() == b"\xff\xff\x00\x00\x00\x00\x00" and TlvRecord.null().is_tombstone
    assert TlvRecord(RecordType.NULL, b"").encode() == TlvRecord.null().encode()


def test_seed_style_direct_construction_is_split_by_liblnc():
    kv = TlvRecord(0x10, b"\x02\x00abXYZ")
    assert kv.as_key_value() == ("ab", b"XYZ") and kv.key == b"ab" and kv.data == b"XYZ"
    assert kv.encode() == b"\x10\x07\x00\x00\x00\x02\x00abXYZ"
    assert TlvRecord(0x11, (5).to_bytes(8, "little") + b"q").as_timestamped() == (5, b"q")
    assert TlvRecord(0x10, b"\x01") != kv
    with pytest.raises(ValueError):
        TlvRecord(0x10, b"\x09").as_key_value()  # malformed: key_len past the value
    with pytest.raises(ValueError):
        TlvRecord.raw(b"x").as_key_value()
    with pytest.raises(ValueError):
        TlvRecord.raw(b"x").as_timestamped()


def test_decode_and_helpers():
    recs = [TlvRecord.raw(b"a"), TlvRecord.key_value("k", b"v"), TlvRecord.null(), TlvRecord.of_type(0x80, b"user")]
    blob = lnc.encode_records(recs)
    back = lnc.decode_records(blob)
    assert back == recs
    assert [r.offset for r in back] == [0, 6, 15, 22]
    assert lnc.decode_records(blob + b"\x01\x05\x00")[-1] == recs[-1], "a trailing partial record is left"
    assert TlvRecord.decode(TlvRecord.raw(b"z").encode()).value == b"z"
    assert TlvRecord.raw(b"a").total_size == 6
    assert "TlvRecord(record_type=0x01" in repr(TlvRecord.raw(b"a"))
    with pytest.raises(lnc.InvalidArgumentError):
        TlvRecord.of_type(0x42, b"")  # unassigned type refused by liblnc
