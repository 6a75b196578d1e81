"""Interop with the official PyPI client (``lnc-client==0.2.9``, the "seed") against the mock.

* seed Producer -> lnc consumer: every standard record (all types, send_async + send_batch) is
  read back with its type, value and offset (lwp.md §5.7: uncompressed seed records are standard
  TLV). The seed's 5-byte null record is not TLV for anyone else: lnc reports
  CorruptRecordError at its offset after delivering every record before it.
* lnc Producer -> seed StandaloneConsumer: the seed reads every record. Its consumer drops
  records that a fetch window splits, so this uses small records and a fetch size larger than
  the whole topic (documented limitation of the seed, not of liblnc).

Needs the seed installed (test.sh puts it in the venv); set LNC_REQUIRE_SEED=1 to fail rather
than skip without it.
"""

from __future__ import annotations

import asyncio
import os
import random
import struct

import pytest

import lnc

if os.environ.get("LNC_REQUIRE_SEED"):
    import lnc_client as seed
else:
    seed = pytest.importorskip("lnc_client")


def std_records(n: int, rng: random.Random) -> list[tuple[int, bytes]]:
    """(type, whole TLV value) in the seed numbering, values as the seed puts them on the wire."""
    types = [0x01, 0x02, 0x03, 0x04, 0x05, 0x10, 0x11, 0x12, 0x80]
    out = []
    for i in range(n):
        t = types[i % len(types)]
        body = rng.randbytes(rng.randrange(0, 200))
        if t == 0x02:
            body = b'{"i": %d}' % i
        elif t == 0x10:
            body = seed.TlvRecord.key_value(f"k{i}", body).value
        elif t == 0x11:
            body = seed.TlvRecord.timestamped(1_700_000_000_000_000_000 + i, body).value
        elif t == 0x12:
            key = f"k{i}".encode()
            body = struct.pack("<QH", 1_700_000_000_000_000_000 + i, len(key)) + key + body
        out.append((t, body))
    return out


def test_seed_is_the_pypi_package():
    assert "site-packages" in (seed.__file__ or ""), seed.__file__


def test_seed_producer_to_lnc_consumer(mock, topic):
    recs = std_records(900, random.Random(7))

    async def produce():
        prod = await seed.Producer.connect(mock.address, seed.ProducerConfig())
        for t, v in recs[:600]:
            await prod.send_async(topic=topic, data=v, record_type=t)
        await prod.flush()
        for i in range(600, 900, 100):
            await prod.send_batch(topic=topic, records=[seed.TlvRecord(t, v) for t, v in recs[i : i + 100]])
        await prod.close()

    asyncio.run(produce())
    cfg = lnc.StandaloneConfig("", topic_id=topic).with_max_fetch_bytes(4097)  # windows split records
    with lnc.StandaloneConsumer(mock.address, cfg) as c:
        got = list(c.records(timeout=1.0))
    assert [(r.record_type, r.value) for r in got] == recs
    offsets, off = [], 0
    for _t, v in recs:
        offsets.append(off)
        off += 5 + len(v)
    assert [r.offset for r in got] == offsets
    # structured accessors agree with the seed's own
    for r, (t, v) in zip(got, recs):
        if t == 0x10:
            assert r.as_key_value() == seed.TlvRecord(t, v).as_key_value()
        if t == 0x11:
            assert r.as_timestamped() == seed.TlvRecord(t, v).as_timestamped()


def test_seed_null_record_is_corrupt_for_lnc(mock, topic):
    async def produce():
        prod = await seed.Producer.connect(mock.address, seed.ProducerConfig())
        await prod.send_batch(topic=topic, records=[seed.TlvRecord.raw(b"before"), seed.TlvRecord.null(), seed.TlvRecord.raw(b"after")])
        await prod.close()

    asyncio.run(produce())
    with lnc.StandaloneConsumer(mock.address, lnc.StandaloneConfig("", topic_id=topic)) as c:
        r = c.poll(5)
        assert [x.value for x in r.records] == [b"before"]
        with pytest.raises(lnc.CorruptRecordError) as ei:
            c.poll(5)
    assert ei.value.server_offset == 11 and ei.value.code_name == "CORRUPT_RECORD"


def test_lnc_producer_to_seed_consumer(mock, topic):
    rng = random.Random(11)
    sent = []
    with lnc.Producer(mock.address) as p:
        for i in range(700):
            kind = i % 5
            body = rng.randbytes(rng.randrange(0, 120))
            if kind == 0:
                rec = lnc.TlvRecord.raw(body)
            elif kind == 1:
                rec = lnc.TlvRecord.json(b'{"n": %d}' % i)
            elif kind == 2:
                rec = lnc.TlvRecord.key_value(f"key-{i}", body)
            elif kind == 3:
                rec = lnc.TlvRecord.timestamped(1_000 + i, body)
            else:
                rec = lnc.TlvRecord.of_type(0x81, body)
            p.send_async(topic, rec)
            sent.append(rec)
        p.send_batch(topic, [lnc.TlvRecord.raw(b"batched-%d" % i) for i in range(50)])
        sent += [lnc.TlvRecord.raw(b"batched-%d" % i) for i in range(50)]
    assert mock.topic_size(topic) < 1 << 20

    async def read_all():
        cons = await seed.StandaloneConsumer.connect(
            mock.address, seed.StandaloneConfig(consumer_name="seed-reader", topic_id=topic, max_fetch_bytes=1 << 20)
        )
        out = []
        try:
            while True:
                r = await cons.poll()
                if r is None:
                    break
                out.extend(r.records)
        finally:
            await cons.close()
        return out

    got = asyncio.run(read_all())
    assert [(r.record_type, r.value) for r in got] == [(r.record_type, r.value) for r in sent]
    kv = [r for r in got if r.record_type == 0x10]
    assert kv[0].as_key_value() == ("key-2", sent[2].data)
