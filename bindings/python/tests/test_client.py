"""LanceClient: every admin call of the seed client, plus fetch / authenticate."""

from __future__ import annotations

import time

import pytest

import lnc


def test_topic_admin(mock):
    with lnc.LanceClient(lnc.ClientConfig("127.0.0.1", mock.port)) as c:
        assert c.connect() is c
        t = c.create_topic("alpha")
        assert t.id > 0 and t.name == "alpha" and t["id"] == t.id
        assert c.create_topic("alpha").id == t.id, "create_topic is idempotent, as in the seed"
        assert c.ensure_topic("alpha").id == t.id
        assert c.resolve_topic_id("alpha") == t.id
        with pytest.raises(lnc.TopicAlreadyExistsError):
            c.create_topic_once("alpha")
        r = c.create_topic_with_retention("beta", max_age_secs=3600, max_bytes=None)
        assert r.retention == lnc.RetentionInfo(max_age_secs=3600, max_bytes=None)
        names = {x.name: x.id for x in c.list_topics()}
        assert names == {"alpha": t.id, "beta": r.id}
        assert c.get_topic(t.id).name == "alpha"
        assert c.get_topic_by_name("beta").id == r.id
        with pytest.raises(lnc.TopicNotFoundError):
            c.get_topic_by_name("gamma")
        c.set_retention(r.id, max_age_secs=60, max_bytes=1 << 30)
        c.set_retention(r.id)  # None/0 mean unlimited (liblnc refuses a literal 0)
        c.delete_topic(r.id)
        assert [x.name for x in c.list_topics()] == ["alpha"]
        with pytest.raises(lnc.TopicNotFoundError):
            c.get_topic(r.id)


def test_ping_status_fetch_subscribe(mock, topic):
    with lnc.Producer(mock.address) as p:
        p.send(topic, b"hello")
    with lnc.LanceClient(mock.address) as c:
        assert 0 < c.ping() < 5
        s = c.cluster_status()
        assert s.is_standalone and s.node_count >= 1 and isinstance(s, lnc.ClusterStatus)
        f = c.fetch(topic, 0, 4096)
        assert len(f.data) == 10 and f.next_offset == 10 and not f.catching_up
        assert lnc.decode_records(f.data)[0].value == b"hello"
        f = c.fetch(topic, 10_000, 4096)
        assert f.catching_up and f.end_offset == 10
        cid = lnc.consumer_id("my-consumer")
        assert cid == 18044035401257023742 == c.consumer_id("my-consumer")  # lwp.md §7 vector
        assert c.subscribe(topic, 0, 4096, cid) == {"consumer_id": cid, "offset": 0}
        assert c.commit_offset(topic, cid, 10) == {"consumer_id": cid, "offset": 10}
        assert c.subscribe(topic, 0, 4096, cid)["offset"] in (0, 10)
        c.unsubscribe(topic, cid)
        mock.require_token("tok")
        c.authenticate("tok")


def test_closed_client(mock):
    c = lnc.LanceClient(mock.address)
    c.close()
    c.close()
    assert c.closed
    with pytest.raises(lnc.ClosedError):
        c.ping()


def test_ensure_topic_is_one_liblnc_call_with_the_seeds_worst_case_as_timeout(mock):
    from lnc.client import ensure_topic_timeout_ms

    # the seed sleeps base * (k + 1) after attempt k: 500 * (1 + ... + 20) = 105 s, plus one request
    assert ensure_topic_timeout_ms(20, 500, 30_000) == 105_000 + 30_000
    assert ensure_topic_timeout_ms(1, 0, 1000) == 1000
    assert ensure_topic_timeout_ms(0, 500, 1000) == 1500  # at least one attempt
    assert ensure_topic_timeout_ms(10**6, 10**6, 1) == 2**31 - 1
    cfg = lnc.ClientConfig(servers=mock.address).with_option("request.timeout.ms", 1000)
    with lnc.LanceClient(cfg) as c:
        mock.fail_next_requests(2, "FORWARD_FAILED: injected")  # retryable: liblnc retries
        t = c.ensure_topic("retried", max_attempts=3, base_backoff_ms=100)
        assert t.name == "retried"
        mock.fail_next_requests(10_000, "FORWARD_FAILED: injected")
        before = mock.stats().control_requests
        t0 = time.monotonic()
        with pytest.raises(lnc.ForwardFailedError):
            c.ensure_topic("never", max_attempts=1, base_backoff_ms=0)  # timeout = one request.timeout.ms
        took = time.monotonic() - t0
        assert 0.5 < took < 5, took
        assert mock.stats().control_requests - before >= 3, "retried inside the one call"
