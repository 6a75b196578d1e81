"""The rules every binding follows the same way (issue 15, section 2), Python's side.

- ping returns seconds as a float;
- a PANIC error code raises ``InternalError``;
- u64 values (offsets, retention, timestamps) are exact Python ints, above 2**53 too.
"""

from __future__ import annotations

import asyncio

import pytest

import lnc
import lnc.aio
from lnc import _ffi as F
from lnc.errors import check, make_error

BIG = 2**53 + 1  # the first integer a float (and a JavaScript number) cannot hold


def test_ping_returns_seconds_as_a_float(mock):
    with lnc.LanceClient(mock.address) as admin:
        rtt = admin.ping()
    assert type(rtt) is float and 0 < rtt < 5  # seconds: microseconds would be >= 1 here

    async def main():
        async with lnc.aio.LanceClient(mock.address) as client:
            return await client.ping()

    rtt = asyncio.run(main())
    assert type(rtt) is float and 0 < rtt < 5


def test_panic_raises_internal_error():
    with pytest.raises(lnc.InternalError) as ei:
        check(F.LNC_ERR_PANIC, context="lnc_producer_send")
    assert ei.value.code == F.LNC_ERR_PANIC and ei.value.code_name == "PANIC"
    assert not ei.value.is_retryable()
    # not a state error (the rule Node is changed to), and the same class in both modules
    assert not isinstance(ei.value, lnc.StateError)
    assert lnc.aio.InternalError is lnc.InternalError
    assert type(make_error(F.LNC_ERR_PANIC)) is lnc.InternalError


def test_u64_offsets_are_exact_ints(mock, topic):
    # a consumer position above 2**53 round-trips through lnc_consumer_seek/position
    with lnc.StandaloneConsumer(mock.address, lnc.StandaloneConfig("", topic_id=topic)) as c:
        assert c.seek(BIG) == BIG
        assert c.current_offset == BIG
    # the server echoes a u64::MAX Subscribe offset (lwp.md 3.8), through liblnc's reply parser
    with lnc.LanceClient(mock.address) as admin:
        ack = admin.subscribe(topic, 2**64 - 1, 65536, 7)
        assert ack["offset"] == 2**64 - 1 and type(ack["offset"]) is int
        # retention values come back from the server's JSON reply
        t = admin.create_topic_with_retention("bigretention", max_age_secs=3600, max_bytes=2**63 + 3)
        assert t.retention is not None and t.retention.max_bytes == 2**63 + 3


def test_u64_timestamps_are_exact_through_the_record_codec(mock, topic):
    rec = lnc.TlvRecord.timestamped(2**64 - 2, b"late")
    back = lnc.TlvRecord.decode(rec.encode())
    assert back.as_timestamped() == (2**64 - 2, b"late")
    with lnc.Producer(mock.address) as p:
        p.send(topic, rec)
    with lnc.StandaloneConsumer(mock.address, lnc.StandaloneConfig("", topic_id=topic)) as c:
        got = next(iter(c.records(timeout=2.0)))
    assert got.timestamp_ns == 2**64 - 2
