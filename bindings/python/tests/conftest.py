"""Shared fixtures: every test runs against liblnc's embedded mock broker (lnc.MockBroker)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import lnc

_names = itertools.count(1)


@pytest.fixture
def mock():
    with lnc.MockBroker(ack_delay_ms=0) as m:
        yield m


@pytest.fixture
def topic(mock):
    """A fresh topic id on the mock."""
    return mock.create_topic(f"t{next(_names)}")


@pytest.fixture
def new_topic(mock):
    def make(prefix: str = "t") -> int:
        return mock.create_topic(f"{prefix}{next(_names)}")

    return make


def consume_all(address: str, topic_id: int, idle: float = 0.5, **opts) -> list:
    cfg = lnc.StandaloneConfig("", topic_id=topic_id)
    for k, v in opts.items():
        cfg.with_option(k, v)
    with lnc.StandaloneConsumer(address, cfg) as c:
        return list(c.records(timeout=idle))


def run_python(code: str, timeout: float = 30, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(lnc.__file__).resolve().parents[1]), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=timeout, env=env, **kw)
