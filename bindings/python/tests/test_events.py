"""Connection events (issue 17), Python's side: every event kind caused by a mock fault and
checked in order, the handler keywords (served on the calling thread from the calls the
binding already makes), the ``lnc.aio`` async iterators, and ``logging`` integration."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Callable, List

import pytest

import lnc
import lnc.aio as aio
from lnc import Event

OUTAGE = {
    "reconnect.backoff.ms": 40,
    "reconnect.jitter": 0,
    "circuit.breaker.failures": 0,
    "linger.ms": 0,
    "log.level": "off",
}


def consumer_cfg(topic: int, **opts) -> lnc.StandaloneConfig:
    c = lnc.StandaloneConfig("", topic_id=topic)
    for k, v in opts.items():
        c.with_option(k, v)
    return c


def until(step: Callable[[], object], seen: List[Event], stop: Callable[[Event], bool], limit: float = 20.0) -> None:
    """Runs ``step`` (which makes handlers append to ``seen``) until an event satisfies ``stop``."""
    deadline = time.monotonic() + limit
    start = len(seen)
    while time.monotonic() < deadline:
        step()
        if any(stop(e) for e in seen[start:]):
            return
        time.sleep(0.01)
    pytest.fail(f"event not seen within {limit} s; saw {[str(e) for e in seen]}")


def poll_through_outage(c: lnc.StandaloneConsumer) -> None:
    """A consumer's poll raises the connection errors it meets (after serving events)."""
    try:
        c.poll(0.05)
    except lnc.ConnectionError:
        pass


def kinds(events: List[Event]) -> List[str]:
    return [e.kind for e in events if e.kind != "statistics"]


def check_outage(events: List[Event]) -> None:
    """disconnected -> reconnect scheduled (growing delays) -> connected, nothing else between
    but connect attempts."""
    ks = kinds(events)
    d = ks.index("disconnected")
    c = len(ks) - 1 - ks[::-1].index("connected")
    assert d < c, ks
    scheduled = [e for e in events if e.kind == "reconnect_scheduled"]
    assert len(scheduled) >= 2, ks
    for a, b in zip(scheduled, scheduled[1:]):
        assert b.delay_ms > a.delay_ms and b.delay > a.delay, (a, b)
        assert b.attempt == a.attempt + 1
        assert isinstance(a.error, lnc.LanceError) and a.message
    assert set(ks[d + 1 : c]) <= {"reconnect_scheduled", "connecting"}, ks
    assert "reconnect_scheduled" in ks[d + 1 : c]


def test_killing_the_mock_under_a_producer_and_a_consumer(mock):
    port = mock.port
    t = mock.create_topic("outage")
    seen_p: List[Event] = []
    seen_c: List[Event] = []
    threads = set()

    def note(seen):
        def h(e: Event) -> None:
            threads.add(threading.current_thread())
            seen.append(e)

        return h

    connected: List[Event] = []
    p = lnc.Producer(
        mock.address, lnc.ProducerConfig().with_options(OUTAGE), on_event=note(seen_p), on_connected=connected.append
    )
    c = lnc.StandaloneConsumer(mock.address, consumer_cfg(t, **OUTAGE), on_event=note(seen_c))
    try:
        p.send(t, b"first")
        until(lambda: p.poll(0.05), seen_p, lambda e: e.kind == "connected")
        until(lambda: c.poll(0.05), seen_c, lambda e: e.kind == "connected")
        assert kinds(seen_p) == ["connecting", "connected"] and seen_p[1].server == mock.address
        assert kinds(seen_c) == ["connecting", "connected"]
        assert [e.kind for e in connected] == ["connected"]
        mock.close()  # killed: every connection drops, nothing listens
        p.send_async(t, b"during the outage")
        until(lambda: p.poll(0.05), seen_p, lambda e: e.kind == "reconnect_scheduled" and e.attempt >= 3)
        until(lambda: poll_through_outage(c), seen_c, lambda e: e.kind == "reconnect_scheduled" and e.attempt >= 3)
        with lnc.MockBroker(ack_delay_ms=0, port=port) as again:
            again.create_topic("outage")
            until(lambda: p.poll(0.05), seen_p, lambda e: e.kind == "connected")
            # (the new broker's log is not the old one: take the events without reading records)
            until(lambda: c.poll_events(0.05), seen_c, lambda e: e.kind == "connected")
            check_outage(seen_p)
            check_outage(seen_c)
            p.flush(10)  # the record sent during the outage was delivered
            assert p.stats == {"sent": 1, "acked": 1, "failed": 0, "pending": 0}
            assert len(connected) == 2
            c.close()
            p.close()
    finally:
        c.close()
        p.close(0)
    assert threads == {threading.main_thread()}, "handlers run on the calling thread only"


def test_auth_failure_then_fatal_on_error_and_logging_without_the_token(mock, topic, caplog):
    token = "s3cret-wrong-token-xyz"
    mock.require_token("the-right-one")
    errors: List[Event] = []
    seen: List[Event] = []
    caplog.set_level(logging.DEBUG, logger="lnc")  # log.level follows the logger: debug
    p = lnc.Producer(
        mock.address, lnc.ProducerConfig().with_auth_token(token), on_error=errors.append, on_event=seen.append
    )
    fut = p.send_async(topic, b"x", future=True)
    until(lambda: p.poll(0.05), seen, lambda e: e.kind == "fatal")
    assert kinds(seen) == ["connecting", "auth_failed", "fatal"]
    assert [e.kind for e in errors] == ["auth_failed", "fatal"]
    assert all(e.code == lnc._ffi.LNC_ERR_AUTH_FAILED and isinstance(e.error, lnc.AuthenticationFailedError) for e in errors)
    with pytest.raises(lnc.AuthenticationFailedError):
        fut.result(5)
    p.close(1)
    records = [r for r in caplog.records if r.name == "lnc"]
    assert any(r.levelno == logging.ERROR and "auth_failed" in r.getMessage() for r in records), records
    assert any(r.levelno == logging.DEBUG for r in records), "debug lines reach the logger"
    for r in records:
        assert token not in r.getMessage()
    for e in seen:
        assert token not in e.message and token not in str(e)


def test_not_leader_redirect_is_leader_changed(mock):
    with lnc.MockBroker(ack_delay_ms=0) as leader:
        t = mock.create_topic("moved")
        assert leader.create_topic("moved") == t
        seen: List[Event] = []
        with lnc.Producer(mock.address, lnc.ProducerConfig().with_options({"linger.ms": 0}), on_event=seen.append) as p:
            p.send(t, b"0")
            mock.fail_next_ingests(1, f"NOT_LEADER: redirect to {leader.address}")
            p.send(t, b"1", timeout=10)
            until(lambda: p.poll(0.05), seen, lambda e: e.kind == "connected" and e.server == leader.address)
        lc = [e for e in seen if e.kind == "leader_changed"]
        assert len(lc) == 1 and lc[0].server == leader.address
        assert isinstance(lc[0].error, lnc.NotLeaderError)


def test_circuit_opens_fails_fast_half_opens_and_closes(mock):
    port = mock.port
    t = mock.create_topic("circuit")
    keys = {
        "reconnect.backoff.ms": 10,
        "reconnect.backoff.max.ms": 20,
        "circuit.breaker.failures": 3,
        "circuit.breaker.reset.ms": 300,
        "send.block": "false",
        "linger.ms": 0,
        "log.level": "off",
    }
    seen: List[Event] = []
    p = lnc.Producer(mock.address, lnc.ProducerConfig().with_options(keys), on_event=seen.append)
    try:
        p.send(t, b"up")
        mock.close()
        accepted = p.send_async(t, b"accepted before the circuit opened", future=True)
        until(lambda: p.poll(0.05), seen, lambda e: e.kind == "circuit_open")
        with pytest.raises(lnc.CircuitOpenError) as ei:
            p.send_async(t, b"refused")
        assert ei.value.code_name == "CIRCUIT_OPEN" and ei.value.is_retryable()
        until(lambda: p.poll(0.05), seen, lambda e: e.kind == "circuit_half_open")
        until(lambda: p.poll(0.05), seen, lambda e: e.kind == "circuit_open")
        with lnc.MockBroker(ack_delay_ms=0, port=port) as again:
            again.create_topic("circuit")
            until(lambda: p.poll(0.05), seen, lambda e: e.kind == "circuit_closed")
            circuit = [k for k in kinds(seen) if k.startswith("circuit_")]
            assert circuit[:2] == ["circuit_open", "circuit_half_open"] and circuit[-1] == "circuit_closed"
            opened = next(e for e in seen if e.kind == "circuit_open")
            assert opened.delay_ms > 0
            p.send_async(t, b"after")
            p.flush(10)
            assert accepted.result(5).ok, "nothing accepted lost its report"
            p.close()
    finally:
        p.close(0)


def test_stalled_server_disconnects_and_statistics_carry_parsed_json(mock, topic):
    seen: List[Event] = []
    keys = {"keepalive.interval.ms": 50, "request.timeout.ms": 300, "statistics.interval.ms": 50, "log.level": "off"}
    with lnc.Producer(mock.address, lnc.ProducerConfig().with_options(keys), on_event=seen.append) as p:
        p.send(topic, b"x")
        f = p.send_async(topic, b"y", future=True)
        f.result(5)
        p.send_async(4242, b"lost", future=True)
        start = len(seen)
        # a document taken after both reports: its counters agree with them
        until(lambda: p.poll(0.05), seen, lambda e: e.kind == "statistics" and (e.stats or {}).get("records_failed") == 1)
        stats = [e for e in seen[start:] if e.kind == "statistics"][-1]
        assert stats.stats is not None and stats.stats["version"] == 1 and stats.stats["kind"] == "producer"
        assert stats.stats["records_acked"] == 2 and stats.stats["records_failed"] == 1  # send() + f; the lost one
        assert str(stats) == "statistics"  # the JSON stays in .message and .stats
        mock.stall_reading(True)
        try:
            until(lambda: p.poll(0.05), seen, lambda e: e.kind == "disconnected")
        finally:
            mock.stall_reading(False)
        d = next(e for e in seen if e.kind == "disconnected")
        assert d.error is not None and d.server == mock.address, d


def test_a_full_event_queue_reports_events_dropped(mock, topic):
    keys = {"statistics.interval.ms": 5, "events.queue.max": 2, "log.level": "off"}
    with lnc.Producer(mock.address, lnc.ProducerConfig().with_options(keys)) as p:
        time.sleep(0.3)  # no one takes events: the queue fills
        evs = p.poll_events(1.0)
        dropped = [e for e in evs if e.kind == "events_dropped"]
        assert dropped and dropped[0].attempt >= 1, [str(e) for e in evs]


def test_admin_events_handlers_and_sync_iterator(mock):
    port = mock.port
    seen: List[Event] = []
    client = lnc.LanceClient(lnc.ClientConfig(servers=mock.address).with_option("log.level", "off"), on_event=seen.append)
    client.ping()  # events of the call are served after it, on this thread
    assert "connected" in kinds(seen)
    mock.close()
    with pytest.raises(lnc.ConnectionError):
        client.ping()
    assert "disconnected" in kinds(seen)
    # the iterator ends when none arrives within its timeout
    assert [e.kind for e in client.events(timeout=0.05)] == []
    with lnc.MockBroker(ack_delay_ms=0, port=port):
        client.ping()
    client.close()
    assert list(client.events()) == []  # closed: nothing more


def test_handler_exceptions_are_raised_by_the_serving_call(mock, topic):
    def boom(e: Event) -> None:
        raise RuntimeError("handler")

    with pytest.raises(TypeError, match="on_connected must be callable"):
        lnc.Producer(mock.address, on_connected=42)  # type: ignore[arg-type]
    p = lnc.Producer(mock.address, on_connected=boom)
    p.send(topic, b"x")
    with pytest.raises(RuntimeError, match="handler"):
        for _ in range(200):
            p.poll(0.02)
    p.close()


def test_log_level_follows_the_logger_and_an_explicit_key_wins(mock, topic, caplog):
    from lnc.events import log_level_for

    lg = logging.getLogger("lnc")
    old = lg.level
    try:
        for level, name in [(logging.DEBUG, "debug"), (logging.INFO, "info"), (logging.WARNING, "warn"), (logging.ERROR, "error"), (logging.CRITICAL, "off")]:
            lg.setLevel(level)
            assert log_level_for(lg) == name
    finally:
        lg.setLevel(old)
    caplog.set_level(logging.DEBUG, logger="lnc")
    with lnc.Producer(mock.address, lnc.ProducerConfig().with_option("log.level", "off")) as p:
        p.send(topic, b"quiet")
    assert [r for r in caplog.records if r.name == "lnc"] == []
    with lnc.Producer(mock.address) as p:
        p.send(topic, b"chatty")
    assert any(r.name == "lnc" and r.levelno == logging.INFO and "connected" in r.getMessage() for r in caplog.records)


def test_aio_event_iterators(mock, topic):
    async def main() -> None:
        got: List[str] = []
        p = await aio.Producer.connect(mock.address, lnc.ProducerConfig().with_option("log.level", "off"))
        c = await aio.StandaloneConsumer.connect(mock.address, consumer_cfg(topic, **{"log.level": "off"}))
        client = aio.LanceClient(lnc.ClientConfig(servers=mock.address).with_option("log.level", "off"))

        async def first_connected(it) -> Event:
            async for ev in it:
                if ev.kind == "connected":
                    return ev
            raise AssertionError("iterator ended")

        tp = asyncio.ensure_future(first_connected(p.events()))
        tc = asyncio.ensure_future(first_connected(c.events()))
        ta = asyncio.ensure_future(first_connected(client.events()))
        await asyncio.sleep(0)
        await p.send(topic, b"x")
        await client.ping()
        for t in (tp, tc, ta):
            ev = await asyncio.wait_for(t, 10)
            got.append(ev.kind)
            assert ev.server == mock.address
        assert got == ["connected"] * 3
        # records still flow while an events() iterator waits on the same eventfd
        it = c.events()
        waiter = asyncio.ensure_future(it.__anext__())
        r = await c.poll(5)
        assert r is not None and r.records[0].value == b"x"
        await p.close()
        await c.close()
        await client.close()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(waiter, 5)

    asyncio.run(main())


def test_poll_events_races_close_from_several_threads(mock, topic):
    for _ in range(5):
        p = lnc.Producer(mock.address, lnc.ProducerConfig().with_option("statistics.interval.ms", 5))
        c = lnc.StandaloneConsumer(mock.address, consumer_cfg(topic))
        errors: List[BaseException] = []
        start = threading.Barrier(5)

        def run(fn: Callable[[], object]) -> None:
            start.wait()
            try:
                for _ in range(50):
                    fn()
            except (lnc.ClosedError, lnc.DeliveryFailedError):
                pass  # closed meanwhile; records racing the close may be purged
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [
            threading.Thread(target=run, args=(lambda: p.poll_events(0.001),)),
            threading.Thread(target=run, args=(lambda: p.send_async(topic, b"r"),)),
            threading.Thread(target=run, args=(lambda: c.poll_events(0.001),)),
            threading.Thread(target=run, args=(lambda: (p.close(1), c.close()),)),
        ]
        for t in threads:
            t.start()
        start.wait()
        for t in threads:
            t.join(30)
        p.close()
        c.close()
        assert not errors, errors
        with pytest.raises(lnc.ClosedError):
            p.poll_events()


def test_admin_poll_events_races_close(mock):
    for _ in range(5):
        client = lnc.LanceClient(mock.address, on_event=lambda e: None)
        errors: List[BaseException] = []
        start = threading.Barrier(4)

        def run(fn: Callable[[], object]) -> None:
            start.wait()
            try:
                for _ in range(20):
                    fn()
            except lnc.ClosedError:
                pass
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [
            threading.Thread(target=run, args=(lambda: client.poll_events(0.005),)),
            threading.Thread(target=run, args=(client.ping,)),
            threading.Thread(target=run, args=(client.close,)),
        ]
        for t in threads:
            t.start()
        start.wait()
        for t in threads:
            t.join(30)
        client.close()
        assert not errors, errors
        with pytest.raises(lnc.ClosedError):
            client.poll_events()
