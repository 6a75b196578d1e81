"""Package test (scripts/test-packages.sh): run with the interpreter of a venv where the wheel
(or the sdist) was installed, from a directory outside the checkout. Produces N records to a
fresh topic on the broker at argv[1], consumes them back from the beginning, and checks every
value and the order."""

import sys

import lnc

N = 1000


def main() -> int:
    addr, name, label = sys.argv[1], sys.argv[2], sys.argv[3]
    where = lnc.library_path
    if "site-packages" not in str(where):
        print(f"{label}: liblnc loaded from {where}, not from the installed package", file=sys.stderr)
        return 1
    with lnc.LanceClient(addr) as admin:
        topic = admin.ensure_topic(name)
    with lnc.Producer(addr, lnc.ProducerConfig()) as producer:
        futures = [producer.send_async(topic.id, f"py-{i}".encode(), future=True) for i in range(N)]
        producer.flush()
        for f in futures:
            f.result(timeout=30)  # raises the record's error if it was not acknowledged
    cfg = lnc.StandaloneConfig("", topic_id=topic.id).with_option("start.offset", "beginning")
    got = []
    with lnc.StandaloneConsumer(addr, cfg) as consumer:
        for record in consumer.records(timeout=5.0):
            got.append(bytes(record.value))
            if len(got) == N:
                break
    want = [f"py-{i}".encode() for i in range(N)]
    if got != want:
        bad = next((i for i, (g, w) in enumerate(zip(got, want)) if g != w), min(len(got), N))
        print(f"{label}: {len(got)}/{N} records consumed, first mismatch at {bad}", file=sys.stderr)
        return 1
    print(f"{label}: lnc {lnc.__version__} (liblnc {lnc.version()} from {where}), {N}/{N} records produced, acked and consumed in order")
    return 0


if __name__ == "__main__":
    sys.exit(main())
