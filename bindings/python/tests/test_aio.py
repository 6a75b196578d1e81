"""asyncio API: eventfd-driven producer and consumer (no extra Python thread), async admin,
seed-compatible names."""

from __future__ import annotations

import asyncio
import threading

import pytest

import lnc
import lnc.aio as aio
from conftest import consume_all


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_async_producer_and_consumer_without_threads(mock, topic):
    async def main():
        threads_before = set(threading.enumerate())
        async with aio.AsyncProducer(mock.address) as p:
            bid = await p.send(topic, b"first")
            assert bid > 0
            futs = [await p.send_future(topic, b"f%d" % i) for i in range(100)]
            reps = await asyncio.gather(*futs)
            assert all(r.ok for r in reps)
            seen = []
            for i in range(1000):
                await p.send_async(topic, b"a%d" % i, callback=seen.append if i % 100 == 0 else None)
            await p.flush()
            assert len(seen) == 10 and p.stats["acked"] == 1101
            assert await p.send_batch(topic, [b"b1", lnc.TlvRecord.key_value("k", b"b2")]) > 0
        assert p.closed
        c = await aio.AsyncConsumer.connect(mock.address, lnc.StandaloneConfig("", topic_id=topic))
        got = []
        async for rec in c:
            got.append(rec.value)
            if len(got) == 1103:
                break
        assert got[0] == b"first" and got[-1] == b"\x01\x00kb2" and got[101:103] == [b"a0", b"a1"]
        assert await c.poll(0.05) is None
        assert c.rewind() is None  # a plain method, as in the seed
        r = await c.poll(5)
        assert r.records[0].value == b"first"
        assert await c.lag() > 0
        await c.commit()
        c.seek_to_end()
        assert await c.poll(0.05) is None  # waits for the END seek, then finds nothing new
        await c.close()
        # producer and consumer added no Python thread (the executor ran connect/seek/lag/close)
        extra = [t for t in set(threading.enumerate()) - threads_before if not t.name.startswith(("asyncio", "ThreadPoolExecutor"))]
        assert extra == []

    run(main())


def test_async_consumer_wakes_on_eventfd(mock, topic):
    async def main():
        c = await aio.AsyncConsumer.connect(mock.address, lnc.StandaloneConfig("", topic_id=topic))
        waiter = asyncio.ensure_future(c.poll(None))
        await asyncio.sleep(0.2)
        assert not waiter.done()
        async with aio.AsyncProducer(mock.address) as p:
            await p.send(topic, b"wake up")
        r = await asyncio.wait_for(waiter, 5)
        assert r.records[0].value == b"wake up"
        await c.close()

    run(main())


def test_async_errors_and_failures(mock, topic):
    async def main():
        p = await aio.AsyncProducer.connect(mock.address)
        fut = await p.send_future(555, b"x")
        with pytest.raises(lnc.TopicNotFoundError):
            await fut
        await p.send_async(556, b"lost")
        with pytest.raises(lnc.DeliveryFailedError):
            await p.flush()
        with pytest.raises(lnc.TopicNotFoundError):
            await p.send(557, b"x")

        def boom(rep):
            raise RuntimeError("cb")

        await p.send_async(topic, b"x", callback=boom)
        with pytest.raises(RuntimeError, match="cb"):
            await p.flush()
        await p.close()

    run(main())


def test_async_backpressure_does_not_block_the_loop(mock, topic):
    async def main():
        mock.stall_reading(True)
        cfg = lnc.ProducerConfig().with_buffer_memory(2048).with_send_timeout(0.3)
        p = aio.AsyncProducer(mock.address, cfg)
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        t = asyncio.ensure_future(ticker())
        with pytest.raises(lnc.BackpressureError):
            for _ in range(100):
                await p.send_async(topic, b"x" * 500)
        assert ticks >= 10, "the loop kept running while the buffer was full"
        mock.stall_reading(False)
        await p.close(10)
        t.cancel()

    run(main())


def test_async_admin_and_seed_names(mock):
    assert aio.LanceClient is aio.AsyncLanceClient and aio.Producer is aio.AsyncProducer
    assert aio.StandaloneConsumer is aio.AsyncConsumer

    async def main():
        async with aio.LanceClient(lnc.ClientConfig("127.0.0.1", mock.port)) as c:
            await c.connect()
            t = await c.ensure_topic("aio-topic")
            assert (await c.create_topic("aio-topic")).id == t.id
            assert [x.name for x in await c.list_topics()] == ["aio-topic"]
            assert (await c.get_topic(t.id)).name == "aio-topic"
            assert (await c.get_topic_by_name("aio-topic")).id == t.id
            assert await c.ping() > 0
            assert (await c.cluster_status()).is_standalone
            with pytest.raises(lnc.TopicAlreadyExistsError):
                await c.create_topic_once("aio-topic")
            r = await c.create_topic_with_retention("aio-ret", 60)
            await c.set_retention(r.id, 120)
            await c.delete_topic(r.id)
            assert (await c.fetch(t.id)).data == b""
            cid = lnc.consumer_id("x")
            await c.subscribe(t.id, 0, 1024, cid)
            await c.commit_offset(t.id, cid, 0)
            await c.unsubscribe(t.id, cid)
        # seed-style producer / consumer by name
        prod = await aio.Producer.connect(mock.address, lnc.ProducerConfig())
        await prod.send(topic="aio-topic", data=b"hello")
        await prod.flush()
        await prod.close()
        cons = await aio.StandaloneConsumer.connect(mock.address, lnc.StandaloneConfig.with_topic_name("c", "aio-topic"))
        records = await cons.poll(5)
        assert records.records[0].value == b"hello"
        await cons.commit()
        await cons.close()

    run(main())


def test_async_result_lag_is_known_without_a_server_call(mock, topic):
    async def main():
        async with aio.AsyncProducer(mock.address) as p:
            await p.send_batch(topic, [b"a" * 100, b"b" * 100, b"c" * 100])
        cfg = lnc.StandaloneConfig("", topic_id=topic).with_max_poll_records(1)
        c = await aio.AsyncConsumer.connect(mock.address, cfg)
        r = await c.poll(5)

        def no_server_call():
            raise AssertionError("result.lag asked liblnc from the event loop")

        c.sync.lag = no_server_call  # reading r.lag below must not reach it
        lag = r.lag
        await c.close()
        return r, lag

    r, lag = run(main())
    assert len(r.records) == 1 and lag > 0 and r.high_water_mark == r.end_offset + lag


def test_async_offset_store_methods_must_be_plain_functions(mock, topic):
    class SeedStyleStore(lnc.aio.OffsetStore):
        async def load(self, consumer_name, topic_id, *, topic_name=None):
            return 0

        async def save(self, consumer_name, topic_id, offset, *, topic_name=None):
            pass

        async def delete(self, consumer_name, topic_id, *, topic_name=None):
            pass

    async def main():
        await aio.StandaloneConsumer.connect(mock.address, lnc.StandaloneConfig("app", topic_id=topic), offset_store=SeedStyleStore())

    with pytest.raises(TypeError, match="OffsetStore.load must be a plain"):
        run(main())


def test_async_seeks_apply_in_order_and_race_with_close(mock, topic):
    async def main():
        async with aio.AsyncProducer(mock.address) as p:
            await p.send_batch(topic, [b"r%d" % i for i in range(10)])
        c = await aio.AsyncConsumer.connect(mock.address, lnc.StandaloneConfig("", topic_id=topic))
        first = await c.poll(5)
        c.seek_to_end()  # background: asks the tail
        c.seek(first.records[5].offset)  # queued behind it, so it wins
        assert (await c.poll(5)).records[0].value == b"r5"
        c.seek_to_end()
        await c.close()  # waits for the seek, then closes
        with pytest.raises(lnc.ClosedError):
            c.rewind()
        c2 = await aio.AsyncConsumer.connect(mock.address, lnc.StandaloneConfig("", topic_id=topic))
        c2.seek_to_end()
        closing = asyncio.ensure_future(c2.close())
        await asyncio.sleep(0)
        with pytest.raises(lnc.ClosedError):
            for _ in range(1000):
                c2.seek(0)
                await asyncio.sleep(0)
        await closing

    run(main())


def test_async_poll_keeps_its_records_when_lag_cannot_be_learnt(mock, topic):
    async def main():
        async with aio.AsyncProducer(mock.address) as p:
            await p.send_batch(topic, [b"kept"])
        c = await aio.AsyncConsumer.connect(mock.address, lnc.StandaloneConfig("", topic_id=topic))

        def lag_fails():
            raise lnc.ClosedError("consumer is closed")

        c.sync.lag = lag_fails
        r = await c.poll(5)  # the records are returned; the failure waits for whoever reads lag
        await c.close()
        return r

    r = run(main())
    assert [x.value for x in r.records] == [b"kept"]
    with pytest.raises(lnc.ClosedError):
        r.lag


def test_a_cancelled_async_poll_loses_no_records(mock, topic):
    import time as _time

    async def main():
        async with aio.AsyncProducer(mock.address) as p:
            await p.send_batch(topic, [b"one", b"two"])
        c = await aio.AsyncConsumer.connect(mock.address, lnc.StandaloneConfig("", topic_id=topic))
        real_lag = c.sync.lag

        def slow_lag():
            _time.sleep(0.5)  # in the executor: the poll is cancelled meanwhile
            return real_lag()

        c.sync.lag = slow_lag
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(c.poll(5), 0.1)
        r = await c.poll(5)
        await c.close()
        return r

    r = run(main())
    assert [x.value for x in r.records] == [b"one", b"two"] and r.lag == 0


def test_async_send_waits_for_space_off_the_loop_and_cancels_cleanly(mock, topic):
    async def main():
        mock.stall_reading(True)
        cfg = lnc.ProducerConfig().with_buffer_memory(4096).with_max_pending_acks(1)
        p = await aio.AsyncProducer.connect(mock.address, cfg)
        queued = 0
        try:
            with pytest.raises(lnc.BackpressureError):
                for _ in range(100):
                    await p.send_async(topic, b"x" * 1000, timeout=0)
                    queued += 1
            # waits in liblnc (executor); cancelling the task fires its token: nothing queued
            ticks = 0

            async def ticker():
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            t = asyncio.ensure_future(ticker())
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(p.send_async(topic, b"y" * 1000), 0.5)
            assert ticks >= 10, "the loop kept running while the send waited"
            t.cancel()
            # a waiting send completes once space frees (the loop drains the reports)
            waiting = asyncio.ensure_future(p.send_async(topic, b"z" * 1000, timeout=10))
            await asyncio.sleep(0.1)
            assert not waiting.done()
            mock.stall_reading(False)
            await asyncio.wait_for(waiting, 10)
            await p.flush(10)
        finally:
            mock.stall_reading(False)
            await p.close()
        return queued

    queued = run(main())
    values = [r.value for r in consume_all(mock.address, topic)]
    assert values == [b"x" * 1000] * queued + [b"z" * 1000]
