"""StandaloneConsumer: poll results, iteration, seek/seek_to/rewind, commit with the three kinds
of offset store, poll_each callbacks (exceptions, IN_CALLBACK), eventfd."""

from __future__ import annotations

import select

import pytest

import lnc


def produce(mock, topic, values):
    with lnc.Producer(mock.address) as p:
        for v in values:
            p.send_async(topic, v)


def test_poll_result_fields(mock, topic):
    produce(mock, topic, [b"a" * 10, b"b" * 20, b"c" * 30])
    cfg = lnc.StandaloneConfig("", topic_id=topic).with_max_poll_records(2)
    with lnc.StandaloneConsumer.connect(mock.address, cfg) as c:
        assert c.topic_id == topic
        r = c.poll(5)
        assert [x.value for x in r.records] == [b"a" * 10, b"b" * 20]
        assert r.record_count == 2 and len(r) == 2 and not r.is_empty
        assert r.start_offset == 0 and r.records[0].offset == 0 and r.records[1].offset == 15
        assert r.end_offset == 15 + 25 == c.current_offset
        assert r.lag == 35 and r.high_water_mark == 75
        r2 = c.poll(5)
        assert r2.start_offset == 40 and r2.end_offset == 75 and r2.lag == 0
        assert c.poll(0.05) is None
        assert c.lag() == 0


def test_iteration_and_topic_name(mock):
    with lnc.LanceClient(mock.address) as admin:
        tid = admin.create_topic("iter-topic").id
    produce(mock, tid, [b"%d" % i for i in range(50)])
    cfg = lnc.StandaloneConfig.with_topic_name("", "iter-topic")
    c = lnc.StandaloneConsumer(mock.address, cfg)
    got = []
    for rec in c:
        got.append(rec.value)
        if len(got) == 50:
            c.close()
    assert got == [b"%d" % i for i in range(50)]


def test_seek_variants(mock, topic):
    produce(mock, topic, [b"x" * 5, b"y" * 5, b"z" * 5])  # 10 bytes per record
    with lnc.StandaloneConsumer(mock.address, lnc.StandaloneConfig("", topic_id=topic)) as c:
        assert [r.value for r in c.records(0.3)] == [b"x" * 5, b"y" * 5, b"z" * 5]
        assert c.rewind() == 0
        assert c.poll(5).records[0].value == b"x" * 5
        assert c.seek(10) == 10
        assert [r.value for r in c.records(0.3)] == [b"y" * 5, b"z" * 5]
        assert c.seek_to(lnc.SeekPosition.offset(20)) == 20
        assert [r.value for r in c.records(0.3)] == [b"z" * 5]
        assert c.seek_to(lnc.SeekPosition.BEGINNING) == 0
        assert c.seek_to(lnc.SeekPosition.END) == 30 == c.current_offset
        produce(mock, topic, [b"new"])
        assert [r.value for r in c.records(0.5)] == [b"new"]
        with pytest.raises(lnc.InvalidArgumentError):
            c.seek_to("nowhere")  # type: ignore[arg-type]


def test_start_position_config(mock, topic):
    produce(mock, topic, [b"first", b"second"])
    cfg = lnc.StandaloneConfig("", topic_id=topic, start_position=lnc.SeekPosition.offset(10))
    with lnc.StandaloneConsumer(mock.address, cfg) as c:
        assert [r.value for r in c.records(0.3)] == [b"second"]
    cfg = lnc.StandaloneConfig("", topic_id=topic).with_start_position(lnc.SeekPosition.END)
    with lnc.StandaloneConsumer(mock.address, cfg) as c:
        assert c.poll(0.2) is None and c.current_offset == 21


def test_file_offset_store_resumes(mock, topic, tmp_path):
    produce(mock, topic, [b"%d" % i for i in range(10)])
    cfg = lambda: lnc.StandaloneConfig("worker-1", topic_id=topic).with_manual_commit()  # noqa: E731
    with lnc.StandaloneConsumer(mock.address, cfg(), lnc.FileOffsetStore(tmp_path)) as c:
        r = c.poll(5)
        first = r.records[:4]
        c.seek(first[-1].offset)  # position back to a boundary
        c.poll(5)
        assert c.commit() > 0
        committed = c.current_offset
    # the Rust-client-compatible layout liblnc writes (checked by name only; no parsing here)
    files = list((tmp_path / "worker-1").glob("*.offset"))
    assert [f.name for f in files] == [f"topic-{topic}-consumer-{lnc.consumer_id('worker-1')}.offset"]
    with lnc.StandaloneConsumer(mock.address, cfg(), lnc.FileOffsetStore(tmp_path)) as c:
        assert c.current_offset == committed
    # offset_dir in the config is the same store
    with lnc.StandaloneConsumer(mock.address, cfg().with_offset_dir(tmp_path)) as c:
        assert c.current_offset == committed


def test_memory_offset_store(mock, topic):
    produce(mock, topic, [b"a", b"b"])
    with lnc.StandaloneConsumer(mock.address, lnc.StandaloneConfig("m", topic_id=topic), lnc.MemoryOffsetStore()) as c:
        c.poll(5)
        assert c.commit() == c.current_offset == 12


class DictStore(lnc.OffsetStore):
    def __init__(self):
        self.data = {}
        self.calls = []
        self.fail_save = False

    def load(self, consumer_name, topic_id, *, topic_name=None):
        self.calls.append(("load", consumer_name, topic_id))
        return self.data.get((consumer_name, topic_id))

    def save(self, consumer_name, topic_id, offset, *, topic_name=None):
        self.calls.append(("save", consumer_name, topic_id, offset))
        if self.fail_save:
            raise RuntimeError("store is down")
        self.data[(consumer_name, topic_id)] = offset


def test_user_offset_store_callbacks(mock, topic):
    produce(mock, topic, [b"a", b"b", b"c"])
    store = DictStore()
    store.data[("app", topic)] = 6  # resume after the first record
    cfg = lnc.StandaloneConfig("app", topic_id=topic).with_manual_commit()
    with lnc.StandaloneConsumer(mock.address, cfg, store) as c:
        assert store.calls[0] == ("load", "app", topic)
        assert [r.value for r in c.records(0.3)] == [b"b", b"c"]
        assert c.commit() == 18
        assert store.data[("app", topic)] == 18
        store.fail_save = True
        with pytest.raises(RuntimeError, match="store is down"):
            c.commit()
        store.fail_save = False


def test_user_offset_store_load_failure_raised_from_constructor(mock, topic):
    class Broken(DictStore):
        def load(self, *a, **k):
            raise ConnectionRefusedError("db unreachable")

    with pytest.raises(ConnectionRefusedError):
        lnc.StandaloneConsumer(mock.address, lnc.StandaloneConfig("x", topic_id=topic), Broken())


def test_poll_each_callback_exceptions_and_in_callback(mock, topic):
    produce(mock, topic, [b"1", b"2", b"3"])
    with lnc.StandaloneConsumer(mock.address, lnc.StandaloneConfig("", topic_id=topic)) as c:
        seen = []
        assert c.poll_each(lambda r: seen.append(r.value), timeout=5, max_records=2) == 2
        assert seen == [b"1", b"2"]
        caught = []

        def close_inside(r):
            try:
                c.close()
            except lnc.InCallbackError as e:
                caught.append(e)
            raise ValueError("user bug")

        with pytest.raises(ValueError, match="user bug"):
            c.poll_each(close_inside, timeout=5)
        assert len(caught) == 1 and caught[0].code_name == "IN_CALLBACK" and not c.closed


def test_eventfd_readable_when_records_wait(mock, topic):
    with lnc.StandaloneConsumer(mock.address, lnc.StandaloneConfig("", topic_id=topic)) as c:
        fd = c.fileno()
        produce(mock, topic, [b"x"])
        assert select.select([fd], [], [], 5)[0] == [fd]
        assert c.poll(0).records[0].value == b"x"


def test_consumer_config_builders():
    cfg = (
        lnc.StandaloneConfig("n", topic_id=3, max_fetch_bytes=4096, auto_commit_interval_s=2.5)
        .with_poll_timeout(0.5)
        .with_max_poll_records(7)
        .with_offset_reset("earliest")
    )
    assert cfg.options == {
        "fetch.max.bytes": "4096",
        "enable.auto.commit": "true",
        "auto.commit.interval.ms": "2500",
        "max.poll.records": "7",
        "offset.reset": "earliest",
    }
    assert cfg.with_manual_commit().options["enable.auto.commit"] == "false"
    assert cfg.poll_timeout_s == 0.5 and cfg.max_fetch_bytes == 4096
    assert lnc.StandaloneConfig("n", topic_id=1, start_offset=42).options["start.offset"] == "42"


def test_closed_consumer(mock, topic):
    c = lnc.StandaloneConsumer(mock.address, lnc.StandaloneConfig("", topic_id=topic))
    c.close()
    c.close()
    with pytest.raises(lnc.ClosedError):
        c.poll(0)
    with pytest.raises(lnc.ClosedError):
        c.commit()
    with pytest.raises(lnc.ClosedError):
        c.seek(0)


def test_close_from_another_thread_ends_iteration(mock, topic):
    import threading

    c = lnc.StandaloneConsumer(mock.address, lnc.StandaloneConfig("", topic_id=topic))
    got = []
    errors = []

    def iterate():
        try:
            got.extend(c)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    t = threading.Thread(target=iterate)
    t.start()
    produce(mock, topic, [b"x"])
    import time

    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        time.sleep(0.01)
    c.close()  # the iterating thread is inside poll: the handle is freed after it returns
    t.join(5)
    assert not t.is_alive() and got[0].value == b"x" and errors == []


def test_seek_races_close_from_threads(mock, topic):
    """seek/seek_to/rewind (no I/O) from several threads while another thread closes: each
    call either moves the position or raises ClosedError; nothing crashes or hangs."""
    import threading

    with lnc.Producer(mock.address) as p:
        for i in range(20):
            p.send_async(topic, b"x%d" % i)
    for _ in range(5):
        c = lnc.StandaloneConsumer(mock.address, lnc.StandaloneConfig("", topic_id=topic))
        outcomes: list = []
        start = threading.Barrier(5)

        def seeker(k):
            start.wait()
            for i in range(300):
                try:
                    if i % 3 == 0:
                        c.seek(0)
                    elif i % 3 == 1:
                        c.seek_to(lnc.SeekPosition.BEGINNING)
                    else:
                        c.rewind()
                    outcomes.append("ok")
                except lnc.ClosedError:
                    outcomes.append("closed")

        threads = [threading.Thread(target=seeker, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        start.wait()
        c.close()
        for t in threads:
            t.join(10)
            assert not t.is_alive()
        assert set(outcomes) <= {"ok", "closed"} and len(outcomes) == 1200
        with pytest.raises(lnc.ClosedError):
            c.seek(0)
