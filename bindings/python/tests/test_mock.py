"""MockBroker: every fault control of lnc_mock_* is reachable and has its effect."""

from __future__ import annotations

import time

import pytest

import lnc
from conftest import consume_all


def test_settings_and_address():
    with lnc.MockBroker(ack_delay_ms=1, segment_bytes=1 << 20) as m:
        host, port = m.address.rsplit(":", 1)
        assert host == "127.0.0.1" and int(port) == m.port > 0
    assert m.closed
    with pytest.raises(lnc.InvalidConfigValueError):
        lnc.MockBroker(ack_delay_ms="soon")


def test_topics_stats_size_truncate(mock):
    tid = mock.create_topic("m1")
    with pytest.raises(lnc.TopicAlreadyExistsError) as ei:
        mock.create_topic("m1")
    assert ei.value.message == "topic 'm1': Topic 'm1' already exists"  # lnc_mock_create_topic's err
    with pytest.raises(lnc.InvalidTopicNameError) as ei2:
        mock.create_topic("no spaces")
    assert "contains invalid characters" in ei2.value.message
    with lnc.Producer(mock.address) as p:
        p.send(tid, b"0123456789")
        p.send(tid, b"abcdefghij")
    assert mock.topic_size(tid) == 30
    s = mock.stats()
    assert s.ingests_stored == 2 and s.acks_sent == 2 and s.bytes_stored == 30 and s.connections_accepted >= 1
    mock.truncate_front(tid, 15)
    with pytest.raises(lnc.TopicNotFoundError):
        mock.topic_size(999)


def test_connection_faults_recovered_by_liblnc(mock, topic):
    with lnc.Producer(mock.address, lnc.ProducerConfig().with_linger_ms(0)) as p:
        p.send(topic, b"warm")
        before = mock.stats().connections_accepted
        mock.drop_after_frames(2)
        for i in range(20):
            p.send_async(topic, b"f%d" % i)
        p.flush(10)
        mock.drop_after_bytes(100)
        for i in range(20):
            p.send_async(topic, b"b%d" % i)
        p.flush(10)
        mock.disconnect_all()
        p.send(topic, b"after-cut")
        assert mock.stats().connections_accepted > before
        assert p.metrics().disconnects >= 1
    values = {r.value for r in consume_all(mock.address, topic)}
    assert {b"f%d" % i for i in range(20)} | {b"b%d" % i for i in range(20)} | {b"after-cut"} <= values


def test_ack_controls(mock, topic):
    mock.set_ack_delay_ms(50)
    with lnc.Producer(mock.address) as p:
        t0 = time.monotonic()
        p.send(topic, b"slow")
        assert time.monotonic() - t0 >= 0.045
        mock.set_ack_delay_ms(0)
        mock.drop_next_acks(1)
        p2 = lnc.Producer(mock.address, lnc.ProducerConfig().with_request_timeout(0.5))
        p2.send(topic, b"ack dropped: resent after the request timeout", timeout=10)
        p2.close()
    assert mock.stats().acks_dropped == 1


def test_stall_catching_up_rate_limit_restart(mock, topic):
    with lnc.Producer(mock.address) as p:
        p.send(topic, b"x" * 100)
    mock.stall_reading(True)
    with lnc.Producer(mock.address) as p:
        with pytest.raises(lnc.TimeoutError):
            p.send(topic, b"stalled", timeout=0.3)
        mock.stall_reading(False)
        p.flush(10)
    mock.force_catching_up(2)
    with lnc.LanceClient(mock.address) as c:
        assert c.fetch(topic, 0).catching_up
    mock.set_fetch_rate_limit(1_000_000)
    mock.set_fetch_rate_limit(0)
    mock.restart()
    assert [r.value for r in consume_all(mock.address, topic)][:1] == [b"x" * 100]


def test_auth_and_write_only_and_failures(mock, topic):
    mock.require_token("secret")
    with lnc.Producer(mock.address, lnc.ProducerConfig().with_auth_token("secret")) as p:
        p.send(topic, b"authed")
    mock.set_write_only(True)  # the server quirk: ingest auth disabled
    with lnc.Producer(mock.address) as p:
        p.send(topic, b"no token needed")
    mock.set_write_only(False)
    mock.require_token(None)
    mock.fail_next_ingests(1, "FORWARD_FAILED: leader lost", store=False)
    with lnc.Producer(mock.address) as p:
        p.send(topic, b"retried by liblnc")
        assert p.metrics().batches_retried >= 1
    mock.fail_next_requests(1, "Unknown topic")
    with lnc.LanceClient(mock.address) as c, pytest.raises(lnc.TopicNotFoundError):
        c.list_topics()
    assert mock.stats().errors_sent >= 2


def test_stop(mock):
    mock.stop()
    mock.stop()
    with lnc.LanceClient(lnc.ClientConfig(servers=mock.address, connect_timeout_s=0.5, request_timeout_s=0.5)) as c:
        with pytest.raises(lnc.ConnectionError):
            c.ping()
