"""TLS through stunnel4 (mutual TLS) and the mock's own TLS listener, via ``with_ssl``.

The environment comes from ``lnc tls-fixture`` (throwaway certificates, a TLS mock demanding
client certificates, and stunnel demanding them in front of a plaintext mock). Without the lnc
binary or stunnel the tests are skipped with the reason, except under CI=true, where that is a
failure.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
from pathlib import Path

import pytest

import lnc

ROOT = Path(__file__).resolve().parents[3]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true")


def _unavailable(reason: str):
    if IN_CI:
        pytest.fail(f"TLS environment unavailable under CI=true: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def env():
    try:
        lnc.ProducerConfig().with_option("security.protocol", "tls")
    except lnc.InvalidConfigValueError as e:
        _unavailable(f"liblnc was built without TLS: {e}")
    exe = Path(os.environ.get("LNC_BIN", ROOT / "target" / "release" / "lnc"))
    if not exe.is_file():
        _unavailable(f"{exe} not found (cargo build --release --features tls --bin lnc)")
    proc = subprocess.Popen([str(exe), "tls-fixture"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line:
        err = proc.stderr.read()
        proc.wait()
        _unavailable(f"lnc tls-fixture failed: {err.strip()}")
    try:
        yield json.loads(line)
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _ssl(cfg, env, **over):
    kw = dict(ca_file=env["ca"], cert_file=env["cert"], key_file=env["key"])
    kw.update(over)
    return cfg.with_ssl(**kw)


def _round_trip(env, address: str, n: int = 200):
    with lnc.LanceClient(_ssl(lnc.ClientConfig(servers=address), env)) as admin:
        topic = admin.ensure_topic(f"pytls{abs(hash(address)) % 100000}").id
        assert admin.ping() > 0
    values = [f"python tls record {i}".encode() * (1 + i % 7) for i in range(n)]
    with lnc.Producer(address, _ssl(lnc.ProducerConfig().with_linger_ms(1), env)) as p:
        for v in values:
            p.send_async(topic, v)
        p.flush()
    cfg = _ssl(lnc.StandaloneConfig("", topic_id=topic).with_start_position(lnc.SeekPosition.BEGINNING), env)
    got = []
    with lnc.StandaloneConsumer(address, cfg) as c:
        for r in c.records(timeout=2.0):
            got.append(r.value)
            if len(got) == n:
                break
    assert got == values


def test_round_trip_through_stunnel_with_client_certificates(env):
    _round_trip(env, env["stunnel"])


def test_round_trip_over_the_mock_tls_listener(env):
    _round_trip(env, env["tls_mock"])


@pytest.mark.parametrize(
    "over, needle",
    [
        ({"ca_file": "other_ca"}, "unknown issuer"),
        ({"server_name": "wrong.example"}, "server name mismatch"),
        ({"cert_file": None, "key_file": None}, "client certificate"),
    ],
    ids=["wrong-ca", "wrong-server-name", "missing-client-certificate"],
)
def test_handshake_failures_are_clear_tls_errors(env, over, needle):
    over = {k: (env[v] if v == "other_ca" else v) for k, v in over.items()}
    kw = dict(ca_file=env["ca"], cert_file=env["cert"], key_file=env["key"])
    kw.update(over)
    kw = {k: v for k, v in kw.items() if v is not None}
    with lnc.LanceClient(lnc.ClientConfig(servers=env["stunnel"]).with_ssl(**kw)) as admin:
        with pytest.raises(lnc.TlsError) as ei:
            admin.list_topics()
    assert needle in str(ei.value), str(ei.value)
    assert not ei.value.is_retryable()


def test_ssl_context_is_refused_with_the_file_based_form():
    ctx = ssl.create_default_context()
    for make in (
        lambda: lnc.ProducerConfig().with_ssl(ctx),
        lambda: lnc.ClientConfig().with_ssl(ssl_context=ctx),
        lambda: lnc.StandaloneConfig("x", topic_id=1, ssl_context=ctx),
        lambda: lnc.ClientConfig(ssl_context=ctx),
    ):
        with pytest.raises(TypeError, match=r"with_ssl\(ca_file="):
            make()


def test_tls_key_with_plaintext_is_refused_at_creation(mock):
    cfg = lnc.ProducerConfig().with_option("tls.ca.location", "/tmp/ca.pem")
    with pytest.raises(lnc.InvalidConfigValueError, match="security.protocol"):
        lnc.Producer(mock.address, cfg)


def test_half_a_client_certificate_is_refused():
    with pytest.raises(ValueError, match="cert_file and key_file"):
        lnc.ProducerConfig().with_ssl(cert_file="c.pem")
