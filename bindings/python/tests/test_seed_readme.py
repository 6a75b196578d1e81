"""The seed client's README (lnc-client 0.2.9), section by section, against lnc.MockBroker.

Each test is the README's example written again (not copied) with only these changes: the import
line reads ``lnc.aio`` instead of ``lnc_client``; the server address is the mock's; directories
are temporary; the README's endless consumer loop stops once the records it expects are in; and
each test then checks that what the example did really happened.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path


import lnc


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def host_port(address: str):
    host, _, port = address.rpartition(":")
    return host, int(port)


def consume_sync(address: str, topic_id: int):
    with lnc.StandaloneConsumer(address, lnc.StandaloneConfig("", topic_id=topic_id)) as c:
        return list(c.records(timeout=0.5))


def test_topic_management(mock):
    from lnc.aio import ClientConfig, LanceClient

    host, port = host_port(mock.address)
    seen = {}

    async def main():
        async with LanceClient(ClientConfig(host=host, port=port)) as client:
            topic = await client.create_topic("my-events")
            topic_id = topic["id"]
            seen["topic"] = topic

            topic = await client.create_topic_with_retention("logs", max_age_secs=7 * 86400, max_bytes=1024**3)
            seen["logs"] = topic

            topics = await client.list_topics()
            seen["names"] = sorted(t["name"] for t in topics)

            info = await client.get_topic(topic_id)
            seen["info"] = info

            seen["retention"] = await client.set_retention(topic_id, max_age_secs=86400)

            await client.delete_topic(topic_id)

            rtt = await client.ping()
            seen["rtt"] = f"Round-trip: {rtt * 1000:.2f}ms"

    run(main())
    topic = seen["topic"]
    # The README's "returns {"id": 1, "name": "my-events", ...}": a real dict.
    assert isinstance(topic, dict) and dict(topic)["id"] == 1 and topic.get("name") == "my-events"
    assert json.loads(json.dumps(topic))["name"] == "my-events"
    assert topic.id == 1  # and the seed's attribute access
    assert seen["logs"]["name"] == "logs" and seen["logs"]["retention"]["max_age_secs"] == 7 * 86400
    assert seen["logs"].retention.max_bytes == 1024**3
    assert seen["names"] == ["logs", "my-events"]
    assert seen["info"]["id"] == 1 and seen["info"]["name"] == "my-events"
    assert seen["retention"]["id"] == 1 and seen["retention"]["retention"]["max_age_secs"] == 86400
    assert seen["rtt"].startswith("Round-trip: ") and seen["rtt"].endswith("ms")
    with lnc.LanceClient(mock.address) as admin:
        assert [t.name for t in admin.list_topics()] == ["logs"]


def test_producer(mock):
    from lnc.aio import Producer, ProducerConfig

    address = mock.address
    assert mock.create_topic("orders") == 1
    seen = {}

    async def main():
        config = ProducerConfig().with_batch_size(64 * 1024).with_linger_ms(10).with_compression(True)
        producer = await Producer.connect(address, config)

        batch_id = await producer.send(topic_id=1, data=b'{"price": 6942.25}')
        seen["acked"] = batch_id

        batch_id = await producer.send_async(topic_id=1, data=b"fire and forget")
        seen["queued"] = batch_id

        from lnc.aio import TlvRecord

        records = [TlvRecord.json(b'{"a":1}'), TlvRecord.json(b'{"b":2}')]
        seen["batch"] = await producer.send_batch(topic_id=1, records=records)

        await producer.flush()
        await producer.close()

    run(main())
    assert isinstance(seen["acked"], int) and seen["acked"] > 0
    assert isinstance(seen["queued"], int) and seen["queued"] > 0
    assert isinstance(seen["batch"], int) and seen["batch"] > seen["acked"]
    got = consume_sync(address, 1)
    assert [(r.record_type, r.value) for r in got] == [
        (lnc.RecordType.RAW_DATA, b'{"price": 6942.25}'),
        (lnc.RecordType.RAW_DATA, b"fire and forget"),
        (lnc.RecordType.JSON, b'{"a":1}'),
        (lnc.RecordType.JSON, b'{"b":2}'),
    ]


def _fill(address: str, n: int) -> None:
    with lnc.Producer(address) as p:
        for i in range(n):
            p.send_async(1, b"record %d" % i)


def test_standalone_consumer(mock, tmp_path):
    from lnc.aio import SeekPosition, StandaloneConfig, StandaloneConsumer

    address = mock.address
    assert mock.create_topic("events") == 1
    _fill(address, 50)
    printed = []

    async def main():
        config = (
            StandaloneConfig("my-consumer", topic_id=1)
            .with_start_position(SeekPosition.BEGINNING)
            .with_offset_dir(Path(tmp_path / "offsets"))
            .with_max_fetch_bytes(1_048_576)
        )
        consumer = await StandaloneConsumer.connect(address, config)

        records = 0
        while records < 50:  # the README loops forever
            result = await consumer.poll()
            if result is None:
                await asyncio.sleep(0.05)
                continue

            for record in result.records:
                printed.append(f"Type={record.record_type}, Data={record.value}")
                records += 1

            printed.append(f"Offset: {result.end_offset}, Lag: {result.lag} bytes")
            await consumer.commit()
        await consumer.close()

    run(main())
    data = [line for line in printed if line.startswith("Type=")]
    assert data[0] == f"Type={lnc.RecordType.RAW_DATA}, Data={b'record 0'}" and len(data) == 50
    assert printed[-1].endswith(", Lag: 0 bytes")
    # the commit landed in the file store under tmp_path
    assert any(p.is_file() for p in (tmp_path / "offsets").rglob("*"))


def test_seek_operations(mock):
    from lnc.aio import SeekPosition, StandaloneConfig, StandaloneConsumer

    address = mock.address
    assert mock.create_topic("events") == 1
    _fill(address, 20)

    async def main():
        consumer = await StandaloneConsumer.connect(address, StandaloneConfig("", topic_id=1))
        first = await consumer.poll(5)
        results = [
            consumer.seek(42000),  # plain calls, no await, as in the README
            consumer.seek_to(SeekPosition.BEGINNING),
            consumer.seek_to(SeekPosition.END),
            consumer.seek_to(SeekPosition.offset(first.records[3].offset)),
        ]
        assert results == [None] * 4
        after = await consumer.poll(5)
        consumer.rewind()
        again = await consumer.poll(5)
        await consumer.close()
        return first, after, again

    first, after, again = run(main())
    assert after.records[0].value == b"record 3"  # the seeks apply in order, END included
    assert again.records[0].value == b"record 0"


def test_low_level_client(mock):
    from lnc.aio import ClientConfig, LanceClient

    host, port = host_port(mock.address)  # the README's ClientConfig(host="127.0.0.1") + the mock's port
    assert mock.create_topic("events") == 1

    async def main():
        async with LanceClient(ClientConfig(host=host, port=port)) as client:
            sub = await client.subscribe(topic_id=1, start_offset=0, max_batch_bytes=65536, consumer_id=42)
            commit = await client.commit_offset(topic_id=1, consumer_id=42, offset=1024)
            await client.unsubscribe(topic_id=1, consumer_id=42)
            resub = await client.subscribe(topic_id=1, start_offset=0, max_batch_bytes=65536, consumer_id=42)
            return sub, commit, resub

    sub, commit, resub = run(main())
    assert sub == {"consumer_id": 42, "offset": 0}
    assert commit == {"consumer_id": 42, "offset": 1024}
    assert resub["offset"] == 1024  # a start of 0 resolves to the server-side commit


def test_offset_persistence(mock, tmp_path):
    from lnc.aio import FileOffsetStore, MemoryOffsetStore, StandaloneConfig, StandaloneConsumer

    address = mock.address
    assert mock.create_topic("events") == 1
    _fill(address, 10)
    offsets = tmp_path / "offsets"

    async def main():
        config = StandaloneConfig("my-consumer", topic_id=1).with_offset_dir(str(offsets))
        consumer = await StandaloneConsumer.connect(address, config)
        r = await consumer.poll(5)
        await consumer.commit()
        await consumer.close()

        store = FileOffsetStore(str(offsets))
        consumer = await StandaloneConsumer.connect(address, config, offset_store=store)
        resumed = consumer.current_offset
        await consumer.close()

        store = MemoryOffsetStore()
        consumer = await StandaloneConsumer.connect(address, StandaloneConfig("my-consumer", topic_id=1), offset_store=store)
        fresh = consumer.current_offset
        await consumer.close()
        return r.end_offset, resumed, fresh

    end, resumed, fresh = run(main())
    assert end > 0 and resumed == end and fresh == 0


def test_configuration_tables():
    import ssl

    from lnc.aio import ClientConfig, ProducerConfig, StandaloneConfig

    p = ProducerConfig(
        batch_size=32768, linger_ms=5, compression=False, max_pending_acks=64,
        connect_timeout_s=10.0, request_timeout_s=30.0, ssl_context=None, auto_reconnect=True,
    )
    assert (p.batch_size, p.linger_ms, p.compression, p.max_pending_acks) == (32768, 5, False, 64)
    assert (p.connect_timeout_s, p.request_timeout_s, p.ssl_context, p.auto_reconnect) == (10.0, 30.0, None, True)
    p = (
        ProducerConfig().with_batch_size(1000).with_linger_ms(1).with_compression(True).with_max_pending_acks(8)
        .with_connect_timeout(2.5).with_request_timeout(4.0).with_auto_reconnect(False)
    )
    assert (p.batch_size, p.linger_ms, p.compression, p.max_pending_acks) == (1000, 1, True, 8)
    assert (p.connect_timeout_s, p.request_timeout_s, p.auto_reconnect) == (2.5, 4.0, False)

    s = StandaloneConfig(
        "app", 7, max_fetch_bytes=65536, offset_dir=None, auto_commit_interval_s=5.0, poll_timeout_s=0.1, ssl_context=None
    )
    assert (s.consumer_name, s.topic_id, s.max_fetch_bytes, s.auto_commit_interval_s, s.poll_timeout_s) == ("app", 7, 65536, 5.0, 0.1)
    s = StandaloneConfig("app", 7).with_max_fetch_bytes(1024).with_auto_commit_interval(1.5).with_poll_timeout(0.5)
    assert (s.max_fetch_bytes, s.auto_commit_interval_s, s.poll_timeout_s) == (1024, 1.5, 0.5)

    c = ClientConfig(host="10.0.0.7", port=1993, connect_timeout_s=10.0, request_timeout_s=30.0, ssl_context=None)
    assert (c.host, c.port, c.address) == ("10.0.0.7", 1993, "10.0.0.7:1993")
    c = ClientConfig().with_host("h").with_port(7).with_connect_timeout(3.0)
    assert (c.address, c.connect_timeout_s) == ("h:7", 3.0)
    ctx = ssl.create_default_context()
    for cfg in (ProducerConfig(), StandaloneConfig("app", 1), ClientConfig()):
        assert cfg.with_ssl(ctx) is cfg and cfg.ssl_context is ctx
        assert cfg.get("security.protocol") == "tls"  # never silently plaintext


def test_tlv_record_types():
    from lnc.aio import RecordType, TlvRecord

    assert [int(t) for t in (RecordType.RAW_DATA, RecordType.JSON, RecordType.MSGPACK)] == [0x01, 0x02, 0x03]
    assert [int(t) for t in (RecordType.KEY_VALUE, RecordType.TIMESTAMPED, RecordType.NULL)] == [0x10, 0x11, 0xFF]

    rec = TlvRecord.raw(b"binary data")
    assert (rec.record_type, rec.value) == (RecordType.RAW_DATA, b"binary data")
    rec = TlvRecord.json(b'{"key": "value"}')
    assert rec.record_type == RecordType.JSON
    rec = TlvRecord.key_value("my-key", b"my-value")
    key, value = rec.as_key_value()
    assert (key, value) == ("my-key", b"my-value")
    rec = TlvRecord.timestamped(1706918400_000_000_000, b"event data")
    timestamp_ns, data = rec.as_timestamped()
    assert (timestamp_ns, data) == (1706918400_000_000_000, b"event data")
    rec = TlvRecord.null()
    assert rec.record_type == RecordType.NULL


def test_error_handling(mock):
    from lnc.aio import (
        AccessDeniedError,
        BackpressureError,
        ConnectionError,
        InvalidFrameError,
        LanceError,
        NotLeaderError,
        Producer,
        ServerCatchingUpError,
        TopicNotFoundError,
    )

    assert issubclass(AccessDeniedError, LanceError) and issubclass(InvalidFrameError, LanceError)
    caught = []

    async def main():
        producer = await Producer.connect(mock.address)
        try:
            await producer.send(topic_id=99, data=b"test")
        except NotLeaderError as e:
            caught.append(f"Redirect to leader: {e.leader_addr}")
        except ServerCatchingUpError as e:
            caught.append(f"Server at offset {e.server_offset}, backing off")
        except TopicNotFoundError:
            caught.append("Topic doesn't exist")
        except BackpressureError:
            caught.append("Server is overloaded, slow down")
        except ConnectionError:
            caught.append("Connection lost")
        except LanceError as e:
            if e.is_retryable():
                caught.append("Transient error, retrying...")
        await producer.close()

    run(main())
    assert caught == ["Topic doesn't exist"]
