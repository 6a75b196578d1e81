"""lnc_err_t -> LanceError mapping: the table covers every code, each category is raised by a
real liblnc call where the mock can provoke it, and the attributes (code, code_name,
is_retryable, leader_addr, server_offset) come from liblnc."""

from __future__ import annotations

import pickle

import pytest

import lnc
import lnc.aio
from lnc import _ffi as F
from lnc.errors import ERROR_CLASSES, error_class, make_error

SEED_NAMES = [
    "LanceError",
    "ConnectionError",
    "ProtocolError",
    "TimeoutError",
    "BackpressureError",
    "TopicNotFoundError",
    "TopicAlreadyExistsError",
    "InvalidTopicNameError",
    "NotLeaderError",
    "ServerCatchingUpError",
    "AccessDeniedError",
    "InvalidFrameError",
]


def test_table_covers_every_code_once():
    assert set(ERROR_CLASSES) == set(F.ALL_ERROR_CODES)
    assert len(set(ERROR_CLASSES.values())) == len(ERROR_CLASSES), "one class per category"
    for code, cls in ERROR_CLASSES.items():
        assert issubclass(cls, lnc.LanceError)
        e = make_error(code)
        assert type(e) is cls and e.code == code
        assert e.code_name == F.err_name(code) != "UNKNOWN"
        assert e.message == F.err_str(code)
        assert isinstance(e.is_retryable(), bool)
        assert pickle.loads(pickle.dumps(e)).code == code
    assert error_class(12345) is lnc.LanceError


def test_seed_names_and_hierarchy():
    for n in SEED_NAMES:
        assert issubclass(getattr(lnc, n), lnc.LanceError)
    assert issubclass(lnc.InvalidFrameError, lnc.ProtocolError)
    assert issubclass(lnc.CorruptRecordError, lnc.InvalidFrameError)
    assert issubclass(lnc.RateLimitedError, lnc.BackpressureError)
    assert issubclass(lnc.AuthenticationFailedError, lnc.AccessDeniedError)
    assert issubclass(lnc.AuthenticationRequiredError, lnc.AccessDeniedError)
    assert ERROR_CLASSES[F.LNC_ERR_QUEUE_FULL] is lnc.BackpressureError
    assert ERROR_CLASSES[F.LNC_ERR_PROTOCOL] is lnc.InvalidFrameError
    assert ERROR_CLASSES[F.LNC_ERR_TRANSPORT] is lnc.ConnectionError
    # seed-style constructors
    e = lnc.NotLeaderError("10.0.0.1:1992")
    assert e.leader_addr == "10.0.0.1:1992" and e.is_retryable() and e.code == F.LNC_ERR_NOT_LEADER
    c = lnc.ServerCatchingUpError(4096)
    assert c.server_offset == 4096 and c.is_retryable() and c.code == F.LNC_ERR_CATCHING_UP
    assert lnc.ConnectionError("x").is_retryable() and lnc.TimeoutError("x").is_retryable()
    assert not lnc.TopicNotFoundError("x").is_retryable()
    assert isinstance(lnc.InvalidTopicNameError("x"), ValueError)


def test_synthetic_categories_without_a_mock_trigger():
    # PROTOCOL / PANIC / STATE / CATCHING_UP cannot be provoked through the mock from Python:
    # check they map and keep their code.
    for code, cls in [
        (F.LNC_ERR_PROTOCOL, lnc.InvalidFrameError),
        (F.LNC_ERR_PANIC, lnc.InternalError),
        (F.LNC_ERR_STATE, lnc.StateError),
        (F.LNC_ERR_CATCHING_UP, lnc.ServerCatchingUpError),
    ]:
        e = make_error(code, context="ctx")
        assert isinstance(e, cls) and e.code == code and e.message.startswith("ctx: ")


def test_config_errors():
    with pytest.raises(lnc.UnknownConfigKeyError) as ei:
        lnc.ProducerConfig().with_option("no.such.key", 1)
    assert ei.value.code == F.LNC_ERR_UNKNOWN_KEY and "no.such.key" in str(ei.value)
    with pytest.raises(lnc.InvalidConfigValueError) as ei:
        lnc.ProducerConfig().with_batch_size(0)
    assert ei.value.code == F.LNC_ERR_INVALID_VALUE
    assert isinstance(ei.value, lnc.ConfigError) and isinstance(ei.value, ValueError)


def test_admin_errors(mock, topic):
    cfg = lnc.ClientConfig(servers=mock.address).with_option("redirect.max", 0)
    with lnc.LanceClient(cfg) as c:
        with pytest.raises(lnc.TopicNotFoundError) as ei:
            c.get_topic(999)
        assert ei.value.code == F.LNC_ERR_UNKNOWN_TOPIC and not ei.value.is_retryable()
        with pytest.raises(lnc.TopicAlreadyExistsError):
            c.create_topic_once(c.get_topic(topic).name)
        with pytest.raises(lnc.InvalidTopicNameError):
            c.create_topic_once("bad name!")
        mock.fail_next_requests(1, "NOT_LEADER: redirect to 127.0.0.1:9")
        with pytest.raises(lnc.NotLeaderError) as ei:
            c.get_topic(topic)
        assert ei.value.leader_addr == "127.0.0.1:9" and ei.value.code_name == "NOT_LEADER"
        mock.fail_next_requests(1, "I/O error: disk on fire")
        with pytest.raises(lnc.ServerError) as ei:
            c.get_topic(topic)
        assert "I/O error: disk on fire" in ei.value.message, "server text kept verbatim"
        mock.fail_next_requests(1, "Authentication required")
        with pytest.raises(lnc.AuthenticationRequiredError):
            c.get_topic(topic)
        mock.require_token("sesame")
        with pytest.raises(lnc.AuthenticationFailedError) as ei:
            c.authenticate("wrong")
        assert isinstance(ei.value, lnc.AccessDeniedError)
        c.authenticate("sesame")


def test_transport_error():
    with lnc.LanceClient(lnc.ClientConfig("127.0.0.1", 1, connect_timeout_s=0.5, request_timeout_s=0.5)) as c:
        with pytest.raises(lnc.ConnectionError) as ei:
            c.ping()
    assert ei.value.is_retryable() and ei.value.code == F.LNC_ERR_TRANSPORT


def test_producer_errors(mock, topic):
    cfg = lnc.ProducerConfig().with_option("max.frame.bytes", 2048).with_batch_size(1024)
    with lnc.Producer(mock.address, cfg) as p:
        with pytest.raises(lnc.InvalidArgumentError):
            p.send_async(0, b"x")  # topic id 0 is never a topic
        with pytest.raises(lnc.MessageTooLargeError):
            p.send_async(topic, b"x" * 4096)
        with pytest.raises(lnc.InvalidArgumentError):
            p.send_async(topic, b"x", record_type=0x42)  # unassigned type
    with pytest.raises(lnc.ClosedError):
        p.send_async(topic, b"x")
    with pytest.raises(lnc.ClosedError):
        p.send(topic, b"x")


def test_retryable_server_errors(mock, topic):
    # liblnc retries FORWARD_FAILED / rate limits itself; they surface once its budget is spent.
    cfg = lnc.ClientConfig(servers=mock.address, request_timeout_s=1.0)
    with lnc.LanceClient(cfg) as c:
        for text, cls in [("FORWARD_FAILED: quorum timeout", lnc.ForwardFailedError), ("Rate limit exceeded", lnc.RateLimitedError)]:
            mock.fail_next_requests(1000, text)
            with pytest.raises(cls) as ei:
                c.get_topic(topic)
            mock.fail_next_requests(0, text)
            assert ei.value.is_retryable() and text in ei.value.message


def test_delivery_report_errors(mock, topic):
    cfg = lnc.ProducerConfig().with_retries(0)
    with lnc.Producer(mock.address, cfg) as p:
        mock.fail_next_ingests(1, "Topic 7 not found")
        f = p.send_async(topic, b"x", future=True)
        with pytest.raises(lnc.TopicNotFoundError) as ei:
            f.result(10)
        assert not ei.value.is_retryable() and "Topic 7 not found" in ei.value.message
        # a retryable ingest error with no retries left: the outcome is unknown (it may be stored)
        mock.fail_next_ingests(1, "FORWARD_FAILED: quorum timeout")
        f = p.send_async(topic, b"x", future=True)
        with pytest.raises(lnc.UnknownOutcomeError) as ei:
            f.result(10)
        assert "FORWARD_FAILED" in ei.value.message
        mock.require_token("s")
        f = p.send_async(topic, b"x", future=True)
        with pytest.raises(lnc.AuthenticationRequiredError):
            f.result(10)


def test_timeout_and_backpressure(mock, topic):
    mock.stall_reading(True)
    try:
        cfg = lnc.ProducerConfig().with_buffer_memory(4096).with_send_block(False).with_max_pending_acks(1)
        with lnc.Producer(mock.address, cfg) as p:
            with pytest.raises(lnc.BackpressureError) as ei:
                for _ in range(100):
                    p.send_async(topic, b"x" * 1000)
            assert ei.value.code_name == "QUEUE_FULL" and ei.value.is_retryable()
            with pytest.raises(lnc.TimeoutError) as ei:
                p.flush(timeout=0.3)
            assert ei.value.is_retryable()
            with pytest.raises(lnc.TimeoutError):
                p.send(topic, b"y", timeout=0.2)
            mock.stall_reading(False)
            p.flush(timeout=10)
    finally:
        mock.stall_reading(False)


def test_purged_and_unknown_outcome(mock, topic):
    cfg = lnc.ProducerConfig().with_linger_ms(60_000).with_batch_size(1 << 20)
    p = lnc.Producer(mock.address, cfg)
    for _ in range(10):
        p.send_async(topic, b"x")
    assert p.purge() == 10
    with pytest.raises(lnc.DeliveryFailedError) as ei:
        p.flush(5)
    assert ei.value.code == F.LNC_ERR_DELIVERY_FAILED
    assert "10 fire-and-forget record(s)" in ei.value.message and "PURGED" in ei.value.message
    p.close()

    # in flight when close gives up: UNKNOWN_OUTCOME (the batch may or may not be stored)
    mock.drop_next_acks(1)
    p = lnc.Producer(mock.address, lnc.ProducerConfig().with_retries(0))
    f = p.send_async(topic, b"x", future=True)
    p.close(timeout=0.5)  # the failure belongs to the future, so close does not raise it
    with pytest.raises(lnc.UnknownOutcomeError):
        f.result(0)
    # the same failure of a fire-and-forget record is raised by close()
    mock.drop_next_acks(1)
    p = lnc.Producer(mock.address, lnc.ProducerConfig().with_retries(0))
    p.send_async(topic, b"x")
    with pytest.raises(lnc.DeliveryFailedError) as ei:
        p.close(timeout=0.5)
    assert "UNKNOWN_OUTCOME" in ei.value.message and p.closed


def test_local_io_and_offset_out_of_range(mock, topic, tmp_path):
    bad = tmp_path / "file"
    bad.write_text("not a directory")
    cfg = lnc.StandaloneConfig("me", topic_id=topic).with_offset_dir(bad)
    with pytest.raises(lnc.LocalIOError) as ei:
        lnc.StandaloneConsumer(mock.address, cfg).commit()
    assert isinstance(ei.value, OSError)

    cfg = lnc.StandaloneConfig("", topic_id=topic).with_option("catching.up.retries", 0)
    with lnc.StandaloneConsumer(mock.address, cfg) as c:
        c.seek(10_000)
        with pytest.raises(lnc.OffsetOutOfRangeError) as ei:
            c.poll(5)
        assert ei.value.server_offset == 0


def test_lnc_timeout_error_is_a_builtin_timeout_error_and_propagates_from_workers():
    """lnc.TimeoutError is also builtins.TimeoutError (which concurrent.futures uses for a wait
    running out): an interruptible call raising it must raise it, not wait again forever."""
    import builtins
    import threading
    import time

    from lnc._util import interruptible

    assert threading.current_thread() is threading.main_thread()

    def fails():
        raise lnc.TimeoutError("no reply within request.timeout.ms")

    t0 = time.monotonic()
    with pytest.raises(lnc.TimeoutError, match="request.timeout.ms"):
        interruptible(fails)
    assert time.monotonic() - t0 < 5
    e = lnc.TimeoutError("x")
    assert isinstance(e, builtins.TimeoutError) and isinstance(e, OSError) and isinstance(e, lnc.LanceError)
    c = lnc.ConnectionError("y")
    assert isinstance(c, builtins.ConnectionError) and c.is_retryable() and str(c) == "[TRANSPORT] y"
    import pickle

    assert type(pickle.loads(pickle.dumps(e))) is lnc.TimeoutError


def test_cancelled_delivery_failed_and_circuit_open_classes():
    for code, cls, retryable in [
        (F.LNC_ERR_CANCELLED, lnc.CancelledError, False),
        (F.LNC_ERR_DELIVERY_FAILED, lnc.DeliveryFailedError, False),
        (F.LNC_ERR_CIRCUIT_OPEN, lnc.CircuitOpenError, True),
    ]:
        assert ERROR_CLASSES[code] is cls and cls.default_code == code
        e = make_error(code)
        assert type(e) is cls and e.is_retryable() is retryable
        assert issubclass(cls, lnc.LanceError) and getattr(lnc.aio, cls.__name__) is cls
    assert (F.LNC_ERR_CANCELLED, F.LNC_ERR_DELIVERY_FAILED, F.LNC_ERR_CIRCUIT_OPEN) == (-19, -20, -21)
    assert not hasattr(lnc, "DeliveryError"), "fire-and-forget failures are liblnc's DELIVERY_FAILED"
