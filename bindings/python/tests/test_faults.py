"""Fault injection while producing >= 50k records: connection drops, FORWARD_FAILED, an unknown
topic. Every record is counted: sent == acked + failed exactly, failures are exactly the
unknown-topic records, and the topic holds every acknowledged record (duplicates only from
resends liblnc reports as possible duplicates)."""

from __future__ import annotations

import collections

import lnc
from conftest import consume_all

N = 60_000
BAD_TOPIC = 9_999


def test_fault_injection_counts_every_record(mock, topic):
    cfg = lnc.ProducerConfig().with_linger_ms(1).with_batch_size(4096).with_option("reconnect.backoff.ms", 10)
    p = lnc.Producer(mock.address, cfg)
    good, bad = [], 0
    for i in range(N):
        if i % 1000 == 999:
            p.send_async(BAD_TOPIC, b"bad%d" % i)
            bad += 1
        else:
            v = b"%08d" % i
            p.send_async(topic, v)
            good.append(v)
        k = i % 10_000
        if k == 2_000:
            mock.fail_next_ingests(3, "FORWARD_FAILED: injected")
        elif k == 5_000:
            mock.drop_after_frames(3)
        elif k == 8_000:
            mock.disconnect_all()
    failed_message = ""
    try:
        p.flush(timeout=60)
    except lnc.DeliveryFailedError as e:
        failed_message = e.message
    stats = p.stats
    metrics = p.metrics()
    p.close()

    assert stats["sent"] == N
    assert stats["sent"] == stats["acked"] + stats["failed"], stats
    assert stats["pending"] == 0
    assert stats["failed"] == bad == metrics.records_failed
    assert failed_message.startswith(f"{bad} fire-and-forget record(s) failed") and "UNKNOWN_TOPIC" in failed_message
    assert stats["acked"] == len(good)
    assert metrics.disconnects >= 2 and metrics.batches_retried >= 1 and metrics.server_errors >= 3

    consumed = [r.value for r in consume_all(mock.address, topic, **{"fetch.max.bytes": 1 << 20})]
    counts = collections.Counter(consumed)
    assert set(counts) == set(good), "every acknowledged record is in the log, nothing else"
    dupes = len(consumed) - len(counts)
    assert dupes <= metrics.possible_duplicates, (dupes, metrics.possible_duplicates)
