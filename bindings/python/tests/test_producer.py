"""Producer: send / send_async (fire-and-forget, callback, future) / send_batch / flush / close,
both report modes, callbacks' exceptions and IN_CALLBACK, names, stats, metrics."""

from __future__ import annotations

import select
import threading
from concurrent.futures import Future
import time

import pytest

import lnc
from conftest import consume_all


def test_send_waits_for_ack_and_returns_batch_id(mock, topic):
    with lnc.Producer(mock.address) as p:
        b1 = p.send(topic, b"one")
        b2 = p.send(topic=topic, data=b"two")
        assert b2 > b1 > 0
    assert [r.value for r in consume_all(mock.address, topic)] == [b"one", b"two"]


def test_send_async_fire_and_forget_counts(mock, topic):
    with lnc.Producer(mock.address, lnc.ProducerConfig().with_linger_ms(1)) as p:
        for i in range(5000):
            assert p.send_async(topic, b"%05d" % i) == i + 1  # the send number
        p.flush()
        assert p.stats == {"sent": 5000, "acked": 5000, "failed": 0, "pending": 0}
        m = p.metrics()
        assert m.records_acked == 5000 and m.outstanding_records == 0
    got = consume_all(mock.address, topic)
    assert [r.value for r in got] == [b"%05d" % i for i in range(5000)]


def test_send_async_callback_and_future(mock, topic):
    seen = []
    with lnc.Producer(mock.address) as p:
        p.send_async(topic, b"a", callback=seen.append)
        fut = p.send_async(topic, b"b", future=True)
        rep = fut.result(timeout=10)  # serves reports while waiting: no thread needed
        assert rep.ok and rep.topic_id == topic and rep.batch_id > 0
        p.poll(1.0)
        p.flush()
    assert len(seen) == 1 and seen[0].ok and seen[0].topic_id == topic
    bad = None
    with lnc.Producer(mock.address) as p:
        bad = p.send_async(999, b"x", future=True)
        with pytest.raises(lnc.TopicNotFoundError):
            bad.result(10)
        assert isinstance(bad.exception(0), lnc.TopicNotFoundError)


def test_fire_and_forget_failures_raised_by_flush_and_close(mock, topic):
    p = lnc.Producer(mock.address)
    p.send_async(topic, b"ok")
    p.send_async(4242, b"lost")
    with pytest.raises(lnc.DeliveryFailedError) as ei:
        p.flush()
    e = ei.value
    assert e.code_name == "DELIVERY_FAILED" and not e.is_retryable()
    assert "1 fire-and-forget record(s) failed" in e.message and "UNKNOWN_TOPIC" in e.message, e.message
    p.flush()  # reported once
    p.send_async(4242, b"lost again")
    p.poll(2.0)
    time.sleep(0.1)
    p.poll(0)  # taking the report does not clear liblnc's count: close raises it
    with pytest.raises(lnc.DeliveryFailedError, match="1 fire-and-forget"):
        p.close()
    assert p.closed
    assert p.stats["failed"] == 2 and p.stats["acked"] == 1
    assert not hasattr(p, "failures")


def test_record_types_keys_timestamps(mock, topic):
    with lnc.Producer(mock.address) as p:
        p.send_async(topic, b"v", key=b"k")
        p.send_async(topic, b"d", timestamp_ns=123)
        p.send_async(topic, b"d2", key="k2", timestamp_ns=456)
        p.send_async(topic, b'{"a":1}', record_type=lnc.RecordType.JSON)
        p.send_async(topic, lnc.TlvRecord.null())
        p.send_async(topic, lnc.TlvRecord.key_value("kk", b"vv"))
        p.send(topic, lnc.TlvRecord.timestamped(789, b"ts"))
        p.send_async(topic, bytearray(b"ba"))
        p.send_async(topic, memoryview(b"mv"))
    r = consume_all(mock.address, topic)
    assert r[0].as_key_value() == ("k", b"v") and r[0].record_type == 0x10
    assert r[1].as_timestamped() == (123, b"d")
    assert r[2].record_type == 0x12 and r[2].key == b"k2" and r[2].timestamp_ns == 456 and r[2].data == b"d2"
    assert r[3].record_type == 0x02 and r[3].as_json() == {"a": 1}
    assert r[4].is_tombstone
    assert r[5].as_key_value() == ("kk", b"vv")
    assert r[6].as_timestamped() == (789, b"ts")
    assert [x.value for x in r[7:]] == [b"ba", b"mv"]


def test_send_batch_waits_and_no_wait(mock, topic):
    seen = []
    with lnc.Producer(mock.address) as p:
        bid = p.send_batch(topic, [lnc.TlvRecord.raw(b"r1"), b"r2", lnc.TlvRecord.json(b"[]")])
        assert bid > 0
        assert p.send_batch(topic, [b"r3", b"r4"], wait=False, callback=seen.append) is None
        p.flush()
        with pytest.raises(lnc.TopicNotFoundError):
            p.send_batch(31337, [b"x"])
    assert len(seen) == 2 and all(s.ok for s in seen)
    assert [r.value for r in consume_all(mock.address, topic)] == [b"r1", b"r2", b"[]", b"r3", b"r4"]


def test_topic_names_resolved_and_created(mock):
    with lnc.Producer.connect(mock.address, lnc.ProducerConfig()) as p:
        p.send("by-name", b"x")
        p.send_async("by-name", b"y")
        tid = p.resolve_topic("by-name")
    with lnc.LanceClient(mock.address) as c:
        assert c.get_topic_by_name("by-name").id == tid
    p2, tid2 = lnc.Producer.connect_for_topic(mock.address, "by-name")
    p2.close()
    assert tid2 == tid
    assert [r.value for r in consume_all(mock.address, tid)] == [b"x", b"y"]


def test_callback_exception_reraised_from_serving_call(mock, topic):
    def boom(rep):
        raise ValueError("from callback")

    p = lnc.Producer(mock.address)
    p.send_async(topic, b"x", callback=boom)
    with pytest.raises(ValueError, match="from callback"):
        p.flush()
    p.close()

    hits = []

    def on_delivery(rep):
        hits.append(rep)
        if len(hits) == 1:
            raise KeyError("first")

    p = lnc.Producer(mock.address, on_delivery=on_delivery)
    p.send_async(topic, b"a")
    p.send_async(topic, b"b")
    with pytest.raises(KeyError):
        p.flush()
    p.close()
    assert len(hits) == 2


def test_on_delivery_mode_serves_in_poll(mock, topic):
    reports = []
    per_send = []
    p = lnc.Producer(mock.address, lnc.ProducerConfig().with_linger_ms(0), on_delivery=reports.append)
    p.send_async(topic, b"a")
    fut = p.send_async(topic, b"b", future=True, callback=per_send.append)
    deadline = time.monotonic() + 10
    while len(reports) < 2 and time.monotonic() < deadline:
        p.poll(0.1)
    assert len(reports) == 2 and all(r.ok for r in reports)
    assert fut.done() and fut.result().ok and len(per_send) == 1
    p.send_async(777, b"bad")
    p.flush()  # on_delivery saw the failure: flush does not raise it again
    assert not reports[-1].ok and reports[-1].error.code_name == "UNKNOWN_TOPIC"
    p.close()


@pytest.mark.parametrize("mode", ["bulk", "on_delivery"])
def test_close_inside_callback_is_in_callback_error(mock, topic, mode):
    caught = []

    def cb(rep):
        for call in (lambda: p.close(), lambda: p.flush(), lambda: p.poll(0)):
            try:
                call()
            except lnc.InCallbackError as e:
                caught.append(e)

    if mode == "bulk":
        p = lnc.Producer(mock.address)
        p.send_async(topic, b"x", callback=cb)
    else:
        p = lnc.Producer(mock.address, on_delivery=cb)
        p.send_async(topic, b"x")
    p.flush()
    assert len(caught) == 3 and all(e.code_name == "IN_CALLBACK" for e in caught)
    assert not p.closed
    p.close()


def test_eventfd_signals_reports(mock, topic):
    with lnc.Producer(mock.address) as p:
        fd = p.fileno()
        assert fd >= 0
        p.send_async(topic, b"x", future=True)
        r, _, _ = select.select([fd], [], [], 5)
        assert r == [fd]
        assert p.poll(0) == 1


def test_config_builders_map_to_liblnc_keys():
    cfg = (
        lnc.ProducerConfig()
        .with_batch_size(65536)
        .with_linger_ms(2)
        .with_compression(True)
        .with_max_pending_acks(32)
        .with_connect_timeout(1.5)
        .with_request_timeout(3)
        .with_auto_reconnect(False)
        .with_option("client.id", "py")
    )
    assert cfg.options == {
        "batch.size": "65536",
        "linger.ms": "2",
        "compression": "lz4",
        "max.in.flight": "32",
        "connect.timeout.ms": "1500",
        "request.timeout.ms": "3000",
        "retries": "0",
        "client.id": "py",
    }
    assert cfg.batch_size == 65536 and cfg.compression and cfg.max_pending_acks == 32
    assert lnc.ProducerConfig(batch_size=1000, linger_ms=0).options == {"batch.size": "1000", "linger.ms": "0"}
    assert lnc.ProducerConfig().linger_ms == 5  # liblnc default


def test_compression_roundtrip(mock, topic):
    cfg = lnc.ProducerConfig().with_compression(True).with_option("compression.min.bytes", 0)
    with lnc.Producer(mock.address, cfg) as p:
        for i in range(2000):
            p.send_async(topic, b"compressible " * 10 + b"%d" % i)
        p.flush()
        assert p.metrics().batches_compressed > 0
    got = consume_all(mock.address, topic)
    assert [r.value for r in got] == [b"compressible " * 10 + b"%d" % i for i in range(2000)]


def test_close_is_idempotent_and_handles_freed(mock, topic):
    p = lnc.Producer(mock.address)
    p.send_async(topic, b"x")
    p.close()
    p.close()
    assert p.closed and p.fileno() == -1
    with pytest.raises(lnc.ClosedError):
        p.flush()
    with pytest.raises(lnc.ClosedError):
        p.metrics()


def test_waiting_on_a_future_inside_a_callback_is_refused(mock, topic):
    p = lnc.Producer(mock.address, lnc.ProducerConfig().with_linger_ms(50))
    caught = []
    holder = {}

    def cb(rep):
        try:
            holder["other"].result(1)  # its report comes after this one: it is still pending
        except lnc.InCallbackError as e:
            caught.append(e)

    p.send_async(topic, b"first", callback=cb)
    holder["other"] = p.send_async(topic, b"second", future=True)  # same batch
    p.flush()
    p.close()
    assert holder["other"].result(0).ok
    assert len(caught) == 1, "refused instead of waiting forever"


def test_handles_are_garbage_collected(mock, topic):
    import gc
    import weakref

    p = lnc.Producer(mock.address)
    p.send_async(topic, b"x")
    c = lnc.StandaloneConsumer(mock.address, lnc.StandaloneConfig("", topic_id=topic))
    refs = [weakref.ref(p), weakref.ref(c)]
    del p, c
    gc.collect()
    assert all(r() is None for r in refs), "no reference cycle through ctypes callbacks"
    assert mock.topic_size(topic) == 6, "the finalizer closed the producer, flushing its record"


def test_send_async_numbers_are_unique_across_threads(mock, topic):
    import threading

    with lnc.Producer(mock.address, lnc.ProducerConfig().with_linger_ms(1)) as p:
        got: list = []

        def sender():
            mine = [p.send_async(topic, b"n") for _ in range(2000)]
            got.extend(mine)

        threads = [threading.Thread(target=sender) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        p.flush()
        assert sorted(got) == list(range(1, 8001))
        assert isinstance(p.send_async(topic, b"x", future=True), Future)
        assert p.send_async(topic, b"y", callback=lambda r: None) == 8001


def _fill(p: lnc.Producer, topic: int) -> int:
    """Queues 1000-byte records without waiting until the buffer is full; returns how many."""
    n = 0
    with pytest.raises(lnc.BackpressureError):
        for _ in range(1000):
            p.send_async(topic, b"x" * 1000, timeout=0)
            n += 1
    return n


def test_a_blocking_send_waits_in_liblnc_until_space_frees(mock, topic):
    mock.stall_reading(True)
    cfg = lnc.ProducerConfig().with_buffer_memory(8192).with_max_pending_acks(1).with_send_timeout(30)
    with lnc.Producer(mock.address, cfg) as p:
        try:
            queued = _fill(p, topic)
            threading.Timer(0.3, mock.stall_reading, args=(False,)).start()
            t0 = time.monotonic()
            f = p.send_async(topic, b"y" * 1000, future=True)  # waits (send.block=true): liblnc's wait
            assert time.monotonic() - t0 >= 0.2
            assert f.result(10).ok
        finally:
            mock.stall_reading(False)
        p.flush(10)
        assert p.stats["sent"] >= queued + 1


def test_waiting_sends_race_close_from_several_threads(mock, topic):
    for _ in range(3):
        mock.stall_reading(True)
        # a name lookup asks the stalled server: it is bounded by request.timeout.ms, not woken
        cfg = lnc.ProducerConfig().with_buffer_memory(8192).with_max_pending_acks(1).with_send_timeout(30)
        cfg.with_option("request.timeout.ms", 2000)
        p = lnc.Producer(mock.address, cfg)
        _fill(p, topic)
        outcomes: list = []
        barrier = threading.Barrier(5)

        def waiting_send(kind: str) -> None:
            barrier.wait()
            try:
                if kind == "async":
                    p.send_async(topic, b"w" * 1000)
                elif kind == "batch":
                    p.send_batch(topic, [b"b" * 1000, b"c" * 1000], wait=False)
                elif kind == "sync":
                    p.send(topic, b"s" * 1000, timeout=30)
                else:
                    p.resolve_topic("raced-name")
                outcomes.append((kind, "accepted", time.monotonic()))
            except (lnc.ClosedError, lnc.BackpressureError, lnc.PurgedError, lnc.TimeoutError) as e:
                outcomes.append((kind, type(e).__name__, time.monotonic()))
            except BaseException as e:  # noqa: BLE001
                outcomes.append(e)

        threads = [threading.Thread(target=waiting_send, args=(k,)) for k in ("async", "batch", "sync", "name")]
        for t in threads:
            t.start()
        barrier.wait()
        time.sleep(0.2)
        t0 = time.monotonic()
        try:
            p.close(0.5)
        except lnc.DeliveryFailedError:
            pass  # the queued fire-and-forget records were purged
        for t in threads:
            t.join(10)
        mock.stall_reading(False)
        assert all(isinstance(o, tuple) for o in outcomes), outcomes
        assert len(outcomes) == 4, outcomes
        for kind, _what, at in outcomes:
            assert at - t0 < (5 if kind == "name" else 2), (kind, outcomes)
        assert p.closed
