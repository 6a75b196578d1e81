#!/usr/bin/env python3
"""Benchmark: lnc (this binding) vs the PyPI seed client (lnc-client 0.2.9), same process, same
embedded mock broker.

    python bench.py [--records 1000000] [--seed-records 50000] [--size 100] [--ack-delay-ms 0]

Prints records/s for produce (send_async of --size byte records, from one Python thread, until
every record is acknowledged) and consume (reading the topic back) for the sync lnc API, for
lnc.aio driven by the seed's own code (import changed), and for the seed client, with the ratio
lnc.aio / seed (the same program on both). The seed
client is asyncio-only; its send_async writes one frame per record and its consumer drops
records a fetch window splits (the count it returned is printed). Not run by test.sh.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time

import lnc


def bench_lnc_produce(mock: lnc.MockBroker, topic: int, n: int, payload: bytes) -> float:
    with lnc.Producer(mock.address) as p:
        send = p.send_async
        t0 = time.perf_counter()
        for _ in range(n):
            send(topic, payload)
        p.flush(timeout=None)
        dt = time.perf_counter() - t0
        assert p.stats["acked"] == n, p.stats
    return n / dt


def bench_lnc_consume(mock: lnc.MockBroker, topic: int, n: int) -> tuple[float, int]:
    cfg = lnc.StandaloneConfig("", topic_id=topic).with_max_poll_records(5000).with_max_fetch_bytes(4 << 20)
    with lnc.StandaloneConsumer(mock.address, cfg) as c:
        got = 0
        t0 = time.perf_counter()
        while got < n:
            r = c.poll(5)
            if r is None:
                break
            got += len(r.records)
        dt = time.perf_counter() - t0
    return got / dt, got


def bench_aio_produce(mock: lnc.MockBroker, topic: int, n: int, payload: bytes) -> float:
    """The seed's API on lnc.aio: the seed's produce loop with only the import changed."""
    from lnc.aio import Producer, ProducerConfig

    async def run() -> float:
        prod = await Producer.connect(mock.address, ProducerConfig())
        t0 = time.perf_counter()
        for _ in range(n):
            await prod.send_async(topic_id=topic, data=payload)
        await prod.flush(timeout=300)
        dt = time.perf_counter() - t0
        await prod.close()
        return n / dt

    return asyncio.run(run())


def bench_aio_consume(mock: lnc.MockBroker, topic: int, n: int) -> tuple[float, int]:
    from lnc.aio import StandaloneConfig, StandaloneConsumer

    async def run() -> tuple[float, int]:
        cfg = StandaloneConfig(consumer_name="", topic_id=topic, max_fetch_bytes=4 << 20)
        cons = await StandaloneConsumer.connect(mock.address, cfg)
        got = 0
        t0 = time.perf_counter()
        while got < n:
            r = await cons.poll()
            if r is None:
                break
            got += len(r.records)
        dt = time.perf_counter() - t0
        await cons.close()
        return got / dt, got

    return asyncio.run(run())


def bench_seed_produce(mock: lnc.MockBroker, topic: int, n: int, payload: bytes) -> float:
    import lnc_client as seed

    async def run() -> float:
        prod = await seed.Producer.connect(mock.address, seed.ProducerConfig())
        t0 = time.perf_counter()
        for _ in range(n):
            await prod.send_async(topic=topic, data=payload)
        await prod.flush(timeout=300)
        dt = time.perf_counter() - t0
        await prod.close()
        return n / dt

    return asyncio.run(run())


def bench_seed_consume(mock: lnc.MockBroker, topic: int, n: int) -> tuple[float, int]:
    import lnc_client as seed

    async def run() -> tuple[float, int]:
        cfg = seed.StandaloneConfig(consumer_name="bench", topic_id=topic, max_fetch_bytes=4 << 20)
        cons = await seed.StandaloneConsumer.connect(mock.address, cfg)
        got = 0
        t0 = time.perf_counter()
        while got < n:
            r = await cons.poll()
            if r is None:
                break
            got += len(r.records)
        dt = time.perf_counter() - t0
        await cons.close()
        return got / dt, got

    return asyncio.run(run())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000, help="records for lnc")
    ap.add_argument("--aio-records", type=int, default=200_000, help="records for lnc.aio (the seed's API)")
    ap.add_argument("--seed-records", type=int, default=50_000, help="records for the seed client")
    ap.add_argument("--size", type=int, default=100, help="record payload bytes")
    ap.add_argument("--ack-delay-ms", type=int, default=0, help="mock durability delay")
    args = ap.parse_args()
    payload = b"x" * args.size
    try:
        import lnc_client  # noqa: F401

        have_seed = True
    except ImportError:
        have_seed = False

    with lnc.MockBroker(ack_delay_ms=args.ack_delay_ms) as mock:
        t_lnc = mock.create_topic("bench-lnc")
        t_aio = mock.create_topic("bench-aio")
        t_seed = mock.create_topic("bench-seed")
        gc.collect()
        lnc_p = bench_lnc_produce(mock, t_lnc, args.records, payload)
        lnc_c, lnc_n = bench_lnc_consume(mock, t_lnc, args.records)
        aio_p = bench_aio_produce(mock, t_aio, args.aio_records, payload)
        aio_c, aio_n = bench_aio_consume(mock, t_aio, args.aio_records)
        seed_p = seed_c = None
        seed_n = 0
        if have_seed:
            seed_p = bench_seed_produce(mock, t_seed, args.seed_records, payload)
            seed_c, seed_n = bench_seed_consume(mock, t_seed, args.seed_records)

    print(f"liblnc {lnc.version()} via {lnc.library_path}")
    print(
        f"mock ack delay {args.ack_delay_ms} ms; payload {args.size} B; lnc {args.records} records, "
        f"lnc.aio {args.aio_records}, seed {args.seed_records}"
    )
    print(f"{'':32}{'lnc (sync)':>14}{'lnc.aio':>14}{'lnc-client 0.2.9':>18}{'aio/seed':>10}")

    def row(name: str, a: float, b: float, c: float | None, note: str = "") -> None:
        cs = f"{c:,.0f}" if c else "n/a"
        ratio = f"{b / c:.1f}x" if c else "n/a"
        print(f"{name:32}{a:>14,.0f}{b:>14,.0f}{cs:>18}{ratio:>10}  {note}")

    row("produce send_async (records/s)", lnc_p, aio_p, seed_p)
    note = f"(read: lnc {lnc_n}, lnc.aio {aio_n}" + (f", seed {seed_n} of {args.seed_records})" if have_seed else ")")
    row("consume (records/s)", lnc_c, aio_c, seed_c, note)
    if not have_seed:
        print("lnc-client not installed: `pip install lnc-client==0.2.9` for the comparison")


if __name__ == "__main__":
    main()
