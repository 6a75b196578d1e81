"""GroupConsumer (sync and asyncio) against the mock: topics shared by two members, failover on
close and on a crash (a killed process), bad arguments, close racing calls from threads."""

from __future__ import annotations

import asyncio
import collections
import itertools
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import lnc
import lnc.aio
from lnc import GroupConsumer, GroupEventKind

_seq = itertools.count(1)

# short timings: a dead member expires after 2 s
FAST = {
    "group.session.timeout.ms": 2000,
    "group.heartbeat.interval.ms": 100,
    "group.commit.interval.ms": 100,
    "max.poll.records": 50,
}


def make_topics(mock, n):
    names = [f"py-grp-{os.getpid()}-{next(_seq)}-{i}" for i in range(n)]
    return [mock.create_topic(name) for name in names], names


def produce_each(address, ids, first, count):
    with lnc.Producer(address) as p:
        for tid in ids:
            for i in range(first, first + count):
                p.send_async(tid, f"{tid}:{i}".encode())
        p.flush()


class Seen:
    def __init__(self):
        self.counts = collections.Counter()
        self.assigned = collections.Counter()
        self.names = {}
        self.lock = threading.Lock()

    def add(self, member, events):
        with self.lock:
            for ev in events:
                if ev.kind is GroupEventKind.RECORD:
                    v = ev.record.value.decode()
                    assert v.startswith(f"{ev.topic.id}:"), (v, ev.topic)
                    self.counts[v] += 1
                elif ev.kind is GroupEventKind.ASSIGNED:
                    self.assigned[member] += 1
                    for t in ev.topics:
                        self.names[t.id] = t.name

    def missing(self, ids, first, count):
        with self.lock:
            return sum(1 for t in ids for i in range(first, first + count) if not self.counts[f"{t}:{i}"])


def poll_until(seen, members, done, limit=60.0):
    end = time.monotonic() + limit
    while not done():
        assert time.monotonic() < end, "timed out"
        for name, g in members.items():
            seen.add(name, g.poll(0.02))


def test_two_members_share_topics_and_take_over_on_close(mock):
    ids, names = make_topics(mock, 4)
    produce_each(mock.address, ids, 0, 100)
    group = f"py-share-{next(_seq)}"
    with GroupConsumer(mock.address, group, names, member_id="m1", options=FAST) as g1, GroupConsumer(
        mock.address, group, names, member_id="m2", options=FAST
    ) as g2:
        assert (g1.member_id, g2.member_id) == ("m1", "m2")
        seen = Seen()
        members = {"m1": g1, "m2": g2}
        poll_until(seen, members, lambda: seen.missing(ids, 0, 100) == 0 and len(g1.assignment()) == 2 and len(g2.assignment()) == 2)
        assert seen.assigned["m1"] and seen.assigned["m2"]
        assert {seen.names[t] for t in ids} == set(names)
        owned = [t.id for t in g1.assignment() + g2.assignment()]
        assert sorted(owned) == sorted(ids)
        assert all(t.name in names for t in g1.assignment())

        g1.close()
        g1.close()  # idempotent
        assert g1.closed
        with pytest.raises(lnc.ClosedError):
            g1.poll(0)
        with pytest.raises(lnc.ClosedError):
            g1.assignment()
        assert list(g1) == []  # iteration ends once closed

        before = seen.assigned["m2"]
        produce_each(mock.address, ids, 100, 50)
        poll_until(seen, {"m2": g2}, lambda: seen.missing(ids, 100, 50) == 0 and len(g2.assignment()) == 4, 30)
        assert seen.assigned["m2"] > before
        # a clean leave committed everything m1 was handed: only the new records come, once
        assert all(seen.counts[f"{t}:{i}"] == 1 for t in ids for i in range(100, 150))


VICTIM = """
import sys, time, lnc
addr, group, topics = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
opts = {opts!r}
g = lnc.GroupConsumer(addr, group, topics, member_id="victim", options=opts)
owned, idle_since, end = None, time.monotonic(), time.monotonic() + 60
while time.monotonic() < end:
    events = g.poll(0.05)
    now = sorted(t.id for t in g.assignment())
    if events or now != owned or len(now) in (0, len(topics)):
        owned, idle_since = now, time.monotonic()
    elif time.monotonic() - idle_since > 1.0:  # shares the group, all processed and committed
        print("READY", ",".join(map(str, owned)), flush=True)
        while True:  # until killed; never closes
            g.poll(0.05)
print("ERR never shared the group", flush=True)
"""


def test_crashed_member_topics_move_and_resume_at_its_commits(mock):
    """Two members share three topics; one is killed (a separate process: no leave record, no
    final commit). The survivor takes its topics over after the session timeout and resumes them
    at the dead member's commits."""
    ids, names = make_topics(mock, 3)
    produce_each(mock.address, ids, 0, 100)
    group = f"py-crash-{next(_seq)}"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(lnc.__file__).resolve().parents[1]), env.get("PYTHONPATH", "")])
    code = textwrap.dedent(VICTIM).replace("{opts!r}", repr(FAST))
    with GroupConsumer(mock.address, group, names, member_id="survivor", options=FAST) as g:
        seen = Seen()
        child = subprocess.Popen([sys.executable, "-c", code, mock.address, group, ",".join(names)], stdout=subprocess.PIPE, text=True, env=env)
        try:
            lines = []
            reader = threading.Thread(target=lambda: lines.append(child.stdout.readline()), daemon=True)
            reader.start()
            end = time.monotonic() + 90
            while reader.is_alive():  # the survivor polls its share meanwhile
                assert time.monotonic() < end, "child never got ready"
                seen.add("survivor", g.poll(0.02))
            assert lines[0].startswith("READY "), lines
            victim_topics = [int(x) for x in lines[0].split()[1].split(",")]
            assert len(g.assignment()) + len(victim_topics) == 3
        finally:
            child.kill()
            child.wait(30)

        before = seen.assigned["survivor"]
        old = dict(seen.counts)
        produce_each(mock.address, ids, 100, 50)
        poll_until(seen, {"survivor": g}, lambda: seen.missing(ids, 100, 50) == 0 and len(g.assignment()) == 3)
        assert seen.assigned["survivor"] > before
        # the victim committed all it had processed: none of its topics' old records comes again
        again = [k for t in victim_topics for i in range(100) if seen.counts[(k := f"{t}:{i}")] != old.get(k, 0)]
        assert again == []


def test_bad_arguments(mock):
    _, names = make_topics(mock, 1)
    with pytest.raises(lnc.InvalidArgumentError):
        GroupConsumer(mock.address, "", names)  # no group id
    with pytest.raises(lnc.UnknownConfigKeyError):
        GroupConsumer(mock.address, "g", names, options={"group.nope": 1})
    with pytest.raises(lnc.InvalidConfigValueError):
        GroupConsumer(mock.address, "g", names, options={"group.assignment.strategy": "x"})
    with pytest.raises(lnc.InvalidConfigValueError):
        GroupConsumer(mock.address, "a b", names)
    with pytest.raises(lnc.InvalidArgumentError):
        GroupConsumer(mock.address, "g", "a,b")  # a string, not a list
    g = GroupConsumer(mock.address, f"py-bad-{next(_seq)}", names, member_id="x", options=FAST)
    t0 = time.monotonic()
    while g.poll(0.05):  # the assignment events, then an idle member times out empty
        assert time.monotonic() - t0 < 30
    g.close()
    with pytest.raises(lnc.ClosedError):
        g.poll(None)
    assert g.member_id == "x" and "closed" in repr(g)


@pytest.mark.parametrize("round_", range(3))
def test_close_races_calls_from_threads(mock, round_):
    ids, names = make_topics(mock, 2)
    produce_each(mock.address, ids, 0, 200)
    g = GroupConsumer(mock.address, f"py-race-{next(_seq)}", names, member_id="r", options=FAST)
    errors = []
    stop = threading.Event()

    def poller():
        try:
            for _ in g:  # no timeout: only close ends it
                pass
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    def asker():
        while not stop.is_set():
            try:
                g.assignment()
                g.poll(0.001)
            except lnc.ClosedError:
                return
            except BaseException as e:  # noqa: BLE001
                errors.append(e)
                return

    threads = [threading.Thread(target=poller) for _ in range(3)] + [threading.Thread(target=asker) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.05 * (round_ + 1))
    closers = [threading.Thread(target=g.close) for _ in range(3)]
    for t in closers:
        t.start()
    for t in closers:
        t.join(30)
    for t in threads:
        t.join(30)
    stop.set()
    assert not any(t.is_alive() for t in threads + closers)
    assert errors == []
    assert g.closed


def test_asyncio_group_consumer(mock):
    ids, names = make_topics(mock, 2)
    produce_each(mock.address, ids, 0, 100)

    async def main():
        g = await lnc.aio.GroupConsumer.connect(mock.address, f"py-aio-{next(_seq)}", names, member_id="a", options=FAST)
        seen = Seen()
        cancelled = 0
        end = time.monotonic() + 60
        for n in itertools.count():
            if not seen.missing(ids, 0, 100):
                break
            assert time.monotonic() < end
            try:  # every other poll is cancelled at once: what it took comes with the next poll
                seen.add("a", await asyncio.wait_for(g.poll(1.0), 0 if n % 2 else 5))
            except asyncio.TimeoutError:
                cancelled += 1
        assert cancelled and seen.assigned["a"]
        assert sorted(t.id for t in g.assignment()) == sorted(ids)
        # every record exactly once for a single member, even with cancelled polls
        assert all(seen.counts[f"{t}:{i}"] == 1 for t in ids for i in range(100))

        got = []

        async def consume():
            async for ev in g:  # ends when closed
                got.append(ev)

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0.1)
        await g.close()
        await asyncio.wait_for(task, 10)
        assert g.closed
        with pytest.raises(lnc.ClosedError):
            await g.poll(0)

    asyncio.run(main())


def test_deleted_topic_comes_back_as_an_error_entry(mock):
    ids, names = make_topics(mock, 2)
    produce_each(mock.address, ids, 0, 10)
    with GroupConsumer(mock.address, f"py-err-{next(_seq)}", names, member_id="e", options=FAST) as g:
        seen = Seen()
        poll_until(seen, {"e": g}, lambda: seen.missing(ids, 0, 10) == 0)
        with lnc.LanceClient(mock.address) as admin:
            admin.delete_topic(ids[1])
        produce_each(mock.address, ids[:1], 10, 10)
        errors = []
        end = time.monotonic() + 30
        while not errors or seen.missing(ids[:1], 10, 10):
            assert time.monotonic() < end, (errors, seen.missing(ids[:1], 10, 10))
            events = g.poll(0.02)
            seen.add("e", events)
            errors += [ev for ev in events if ev.kind is GroupEventKind.ERROR]
        assert errors[0].topic == lnc.GroupTopic(ids[1], names[1])
        assert isinstance(errors[0].error, lnc.TopicNotFoundError)
