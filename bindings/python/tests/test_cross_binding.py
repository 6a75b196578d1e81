"""The rules every binding follows the same way (docs/bindings.md), Python's side.

- topic by name: resolved by liblnc (``topic.auto.create``), never by the binding;
- retention 0 means no limit (never an error);
- ping returns seconds as a float;
- a PANIC error code raises ``InternalError``;
- failed fire-and-forget records: ``DeliveryFailedError`` from ``flush()``/``close()``;
- u64 values (offsets, retention, timestamps) are exact Python ints, above 2**53 too;
- waiting for buffer space is liblnc's, and cancellation (Ctrl-C) ends a waiting call with
  nothing accepted.
"""

from __future__ import annotations

import _thread
import asyncio
import threading
import time

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


def test_topic_by_name_is_resolved_by_liblnc(mock):
    with lnc.Producer(mock.address) as p:
        p.send_async("by-name", b"a")  # topic.auto.create=true (the default): created
        assert p.send("by-name", b"b") > 0
        tid = p.resolve_topic("by-name")
    with lnc.LanceClient(mock.address) as admin:
        assert {t.name: t.id for t in admin.list_topics()} == {"by-name": tid}
    cfg = lnc.ProducerConfig().with_option("topic.auto.create", False)
    with lnc.Producer(mock.address, cfg) as p:
        assert p.resolve_topic("by-name") == tid  # found
        with pytest.raises(lnc.TopicNotFoundError):
            p.send_async("missing", b"x")
        with pytest.raises(lnc.TopicNotFoundError):
            p.send("missing", b"x")
    with lnc.LanceClient(mock.address) as admin:
        assert [t.name for t in admin.list_topics()] == ["by-name"], "nothing created by the binding"

    async def main():
        async with lnc.aio.Producer(mock.address, cfg) as ap:
            with pytest.raises(lnc.TopicNotFoundError):
                await ap.send_async("missing-too", b"x")
            await ap.send(topic="by-name", data=b"c")

    asyncio.run(main())
    assert len(consume_all_values(mock.address, tid)) == 3


def consume_all_values(address, tid):
    with lnc.StandaloneConsumer(address, lnc.StandaloneConfig("", topic_id=tid)) as c:
        return [r.value for r in c.records(timeout=0.5)]


def test_retention_zero_means_no_limit(mock):
    with lnc.LanceClient(mock.address) as admin:
        t = admin.create_topic_with_retention("zero", max_age_secs=0, max_bytes=0)
        assert t.retention is not None and t.retention.max_bytes is None and t.retention.max_age_secs is None
        r = admin.set_retention(t.id, 0, 0)
        assert r.retention is not None and r.retention.max_age_secs is None and r.retention.max_bytes is None
        admin.set_retention(t.id, None, None)


def test_failed_fire_and_forget_records_are_raised_by_flush_and_close(mock, topic):
    p = lnc.Producer(mock.address)
    p.send_async(4242, b"lost")  # no callback, no future: fire-and-forget
    with pytest.raises(lnc.DeliveryFailedError, match="1 fire-and-forget record"):
        p.flush()
    p.send_async(4242, b"lost")
    p.send_async(4242, b"lost")
    with pytest.raises(lnc.DeliveryFailedError, match="2 fire-and-forget record"):
        p.close()
    assert p.closed
    # a record with a listener gets its own report instead
    with lnc.Producer(mock.address) as p:
        f = p.send_async(4242, b"tracked", future=True)
        with pytest.raises(lnc.TopicNotFoundError):
            f.result(5)
        p.flush()


def _interrupt_main_after(seconds: float) -> threading.Timer:
    t = threading.Timer(seconds, _thread.interrupt_main)
    t.start()
    return t


def test_cancellation_ctrl_c_ends_a_blocking_send_with_nothing_accepted(mock, topic):
    assert threading.current_thread() is threading.main_thread()
    mock.stall_reading(True)
    cfg = lnc.ProducerConfig().with_buffer_memory(4096).with_max_pending_acks(1).with_send_timeout(60)
    p = lnc.Producer(mock.address, cfg)
    try:
        queued = 0
        with pytest.raises(lnc.BackpressureError):
            for _ in range(100):
                p.send_async(topic, b"x" * 1000, timeout=0)  # never waits
                queued += 1
        timer = _interrupt_main_after(0.3)
        t0 = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            p.send_async(topic, b"y" * 1000)  # waits up to send.timeout.ms (60 s) in liblnc
        assert time.monotonic() - t0 < 5
        timer.join()
        with pytest.raises(lnc.BackpressureError):
            p.send_async(topic, b"z" * 1000, timeout=0.2)  # a call's own timeout
        timer = _interrupt_main_after(0.3)
        with pytest.raises(KeyboardInterrupt):
            p.send_batch(topic, [b"b" * 1000, b"c" * 1000])  # atomic: neither fits
        timer.join()
        assert p.stats["sent"] == queued
    finally:
        mock.stall_reading(False)
    p.flush(10)
    p.close()
    values = consume_all_values(mock.address, topic)
    assert values == [b"x" * 1000] * queued, "the cancelled sends queued nothing"


def test_cancellation_ctrl_c_ends_send_waiting_for_its_ack(mock, topic):
    mock.set_ack_delay_ms(30_000)
    with lnc.Producer(mock.address) as p:
        timer = _interrupt_main_after(0.3)
        t0 = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            p.send(topic, b"slow ack", timeout=60)
        assert time.monotonic() - t0 < 5
        timer.join()
        mock.set_ack_delay_ms(0)


def test_a_fired_token_is_cancelled_error(mock, topic):
    import ctypes

    with lnc.Producer(mock.address) as p:
        token = F.lib.lnc_cancel_new()
        F.lib.lnc_cancel_fire(token)
        assert F.lib.lnc_cancel_fired(token) == 1
        out = ctypes.c_uint32()
        err = ctypes.c_void_p()
        rc = F.lib.lnc_producer_topic_id(p._handle.ptr, b"never-looked-up", -1, token, ctypes.byref(out), ctypes.byref(err))
        F.lib.lnc_cancel_free(token)
        e = make_error(rc, err.value)
        assert isinstance(e, lnc.CancelledError) and e.code_name == "CANCELLED"
