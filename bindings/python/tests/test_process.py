"""Process-level behaviour: Ctrl-C interrupts every blocking call promptly (a child process is
sent SIGINT while blocked), and the interpreter exits cleanly with handles left open."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from conftest import run_python

PRELUDE = """
import sys, lnc
m = lnc.MockBroker(ack_delay_ms=0)
tid = m.create_topic("t")
"""

BLOCKING = {
    "consumer.poll(None)": """
c = lnc.StandaloneConsumer(m.address, lnc.StandaloneConfig("", topic_id=tid))
print("ready", flush=True)
c.poll(None)
""",
    "for record in consumer": """
c = lnc.StandaloneConsumer(m.address, lnc.StandaloneConfig("", topic_id=tid))
print("ready", flush=True)
for r in c:
    pass
""",
    "producer.flush(None) stalled": """
m.stall_reading(True)
p = lnc.Producer(m.address)
p.send_async(tid, b"x")
print("ready", flush=True)
p.flush(None)
""",
    "producer.send() stalled": """
m.stall_reading(True)
p = lnc.Producer(m.address)
print("ready", flush=True)
p.send(tid, b"x", timeout=None)
""",
    "future.result() stalled": """
m.stall_reading(True)
p = lnc.Producer(m.address)
f = p.send_async(tid, b"x", future=True)
print("ready", flush=True)
f.result()
""",
    "admin call stalled": """
m.stall_reading(True)
c = lnc.LanceClient(lnc.ClientConfig(servers=m.address, request_timeout_s=3600))
print("ready", flush=True)
c.list_topics()
""",
    "send_async on a full buffer": """
m.stall_reading(True)
p = lnc.Producer(m.address, lnc.ProducerConfig().with_buffer_memory(4096).with_send_timeout(3600))
print("ready", flush=True)
while True:
    p.send_async(tid, b"x" * 1000)
""",
}


def _unstall_on_interrupt(body: str) -> str:
    # Resume the mock once interrupted so the exit-time close of the producers left open does
    # not wait for liblnc's 5 s flush bound (that case is test_exit_with_open_handles_on_a_stalled_server).
    return "try:\n" + textwrap.indent(body, "    ") + "\nexcept KeyboardInterrupt:\n    m.stall_reading(False)\n    raise\n"


@pytest.mark.parametrize("name", list(BLOCKING))
def test_ctrl_c_interrupts_blocking_call(name):
    import os

    env = dict(os.environ)
    from pathlib import Path

    import lnc

    env["PYTHONPATH"] = str(Path(lnc.__file__).resolve().parents[1])
    proc = subprocess.Popen(
        [sys.executable, "-c", PRELUDE + _unstall_on_interrupt(BLOCKING[name])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    seen_at: list = []
    err_lines: list = []

    def read_stderr():
        for line in proc.stderr:
            err_lines.append(line)
            if "KeyboardInterrupt" in line and not seen_at:
                seen_at.append(time.monotonic())

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.4)  # let it block inside liblnc
        assert proc.poll() is None, "".join(err_lines)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        # Exit itself may take up to liblnc's 5 s implicit-close flush for a producer left open
        # on a stalled server (finalizer at exit); the interrupt must be immediate.
        rc = proc.wait(timeout=15)
        exited = time.monotonic() - t0
        reader.join(5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = "".join(err_lines)
    assert "KeyboardInterrupt" in err, err
    assert rc != 0
    elapsed = seen_at[0] - t0
    assert elapsed < 1.5, f"took {elapsed:.2f}s to raise KeyboardInterrupt"
    assert exited < 5.0, f"took {exited:.2f}s to exit after SIGINT"


def test_exit_with_open_handles():
    code = PRELUDE + """
p = lnc.Producer(m.address)
for i in range(10000):
    p.send_async(tid, b"%d" % i)            # unflushed at exit
cb = lnc.Producer(m.address, on_delivery=lambda r: None)
cb.send_async(tid, b"cb")
c = lnc.StandaloneConsumer(m.address, lnc.StandaloneConfig("", topic_id=tid))
c.poll(0.01)
a = lnc.LanceClient(m.address)
a.ping()
class Holder:  # a reference cycle holding a producer
    pass
h = Holder(); h.self = h; h.p = lnc.Producer(m.address); h.p.send_async(tid, b"cycle")
print("done", flush=True)
"""
    t0 = time.monotonic()
    r = run_python(code, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "done"
    assert time.monotonic() - t0 < 15


def test_exit_with_open_handles_on_a_stalled_server():
    # liblnc bounds the implicit close at exit (5 s flush); the process must not hang.
    code = PRELUDE + """
m.stall_reading(True)
p = lnc.Producer(m.address)
p.send_async(tid, b"never acked")
c = lnc.LanceClient(m.address)
print("done", flush=True)
"""
    t0 = time.monotonic()
    r = run_python(code, timeout=30)
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - t0 < 15


def test_exit_with_open_handles_in_asyncio():
    code = PRELUDE + """
import asyncio, lnc.aio as aio
async def main():
    global p, c
    p = aio.AsyncProducer(m.address)
    await p.send_async(tid, b"x")
    c = await aio.AsyncConsumer.connect(m.address, lnc.StandaloneConfig("", topic_id=tid))
asyncio.run(main())
print("done", flush=True)
"""
    r = run_python(code, timeout=30)
    assert r.returncode == 0, r.stderr
