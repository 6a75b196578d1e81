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
import lnc.aio

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


def _ctx_round_trip(address: str, make_cfg, n: int = 50):
    """Produce and consume through configs made by ``make_cfg(kind)`` (seed-style ssl_context)."""
    with lnc.LanceClient(make_cfg(lnc.ClientConfig, address)) as admin:
        topic = admin.ensure_topic(f"pyctx{abs(hash(address)) % 100000}").id
    values = [b"ssl context record %d" % i for i in range(n)]
    with lnc.Producer(address, make_cfg(lnc.ProducerConfig, address)) as p:
        for v in values:
            p.send_async(topic, v)
        p.flush()
    got = []
    with lnc.StandaloneConsumer(address, make_cfg(lnc.StandaloneConfig, address, topic)) as c:
        for r in c.records(timeout=2.0):
            got.append(r.value)
            if len(got) == n:
                break
    assert got == values


def _with_ctx(env, ctx):
    def make(kind, address, topic=None):
        if kind is lnc.ClientConfig:
            cfg = lnc.ClientConfig(servers=address)
        elif kind is lnc.ProducerConfig:
            cfg = lnc.ProducerConfig(linger_ms=1)
        else:
            cfg = lnc.StandaloneConfig("", topic_id=topic)
        return cfg.with_ssl(ctx, cert_file=env["cert"], key_file=env["key"])

    return make


def test_ssl_context_cas_are_mapped_and_used(env):
    ctx = ssl.create_default_context(cafile=env["ca"])
    _ctx_round_trip(env["tls_mock"], _with_ctx(env, ctx))
    cfg = lnc.ProducerConfig(ssl_context=ctx)
    assert cfg.ssl_context is ctx and cfg.get("security.protocol") == "tls"
    assert Path(cfg.get("tls.ca.location")).read_text().count("BEGIN CERTIFICATE") == len(ctx.get_ca_certs())


def test_ssl_context_with_another_ca_is_refused_by_the_handshake(env):
    ctx = ssl.create_default_context(cafile=env["other_ca"])
    cfg = lnc.ClientConfig(servers=env["stunnel"]).with_ssl(ctx, cert_file=env["cert"], key_file=env["key"])
    with lnc.LanceClient(cfg) as admin:
        with pytest.raises(lnc.TlsError, match="unknown issuer"):
            admin.list_topics()


def test_ssl_context_without_verification_maps_to_acknowledged_insecure(env):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    cfg = lnc.StandaloneConfig("x", topic_id=1, ssl_context=ctx)
    assert (cfg.get("tls.verify"), cfg.get("tls.insecure.acknowledged")) == ("false", "true")
    _ctx_round_trip(env["tls_mock"], _with_ctx(env, ctx), n=5)


def test_ssl_context_settings_that_cannot_be_honoured_raise():
    no_name = ssl.create_default_context()
    no_name.check_hostname = False
    only13 = ssl.create_default_context()
    only13.minimum_version = ssl.TLSVersion.TLSv1_3
    for ctx, needle in ((no_name, "check_hostname"), (only13, "minimum_version")):
        for make in (
            lambda: lnc.ProducerConfig().with_ssl(ctx),
            lambda: lnc.ClientConfig(ssl_context=ctx),
            lambda: lnc.StandaloneConfig("x", topic_id=1, ssl_context=ctx),
            lambda: lnc.aio.ProducerConfig(ssl_context=ctx),
        ):
            with pytest.raises(lnc.TlsContextError, match=needle):
                make()
    with pytest.raises(TypeError, match="SSLContext"):
        lnc.ProducerConfig().with_ssl("ca.pem")
    with pytest.raises(ValueError, match="not both"):
        lnc.ProducerConfig().with_ssl(ssl.create_default_context(), ca_file="ca.pem")


def test_tls_key_with_plaintext_is_refused_at_creation(mock):
    cfg = lnc.ProducerConfig().with_option("tls.ca.location", "/tmp/ca.pem")
    with pytest.raises(lnc.InvalidConfigValueError, match="security.protocol"):
        lnc.Producer(mock.address, cfg)


def test_half_a_client_certificate_is_refused():
    with pytest.raises(ValueError, match="cert_file and key_file"):
        lnc.ProducerConfig().with_ssl(cert_file="c.pem")


def test_consumer_topic_name_lookup_uses_tls_too(env):
    """A StandaloneConfig addressing its topic by name resolves it over TLS as well (the
    lookup's connection carries the config's TLS keys)."""
    ctx = ssl.create_default_context(cafile=env["ca"])
    address = env["tls_mock"]
    with lnc.Producer(address, lnc.ProducerConfig(ssl_context=ctx).with_ssl(ctx, cert_file=env["cert"], key_file=env["key"])) as p:
        p.send("byname-tls", b"over tls")
    cfg = lnc.StandaloneConfig.with_topic_name("", "byname-tls").with_ssl(ctx, cert_file=env["cert"], key_file=env["key"])
    with lnc.StandaloneConsumer(address, cfg) as c:
        got = next(iter(c.records(timeout=2.0)))
    assert got.value == b"over tls"


def test_with_ssl_none_means_plaintext_as_in_the_seed():
    ctx = ssl.create_default_context()
    for cfg in (lnc.ProducerConfig(), lnc.aio.StandaloneConfig("x", topic_id=1), lnc.ClientConfig()):
        assert cfg.with_ssl().get("security.protocol") == "tls"  # the file-based form: TLS, platform roots
        cfg.with_ssl(ctx).with_ssl(None)
        assert cfg.get("security.protocol") == "plaintext" and cfg.ssl_context is None
        assert not any(k.startswith("tls.") for k in cfg.options)
    with pytest.raises(ValueError, match="plaintext"):
        lnc.ProducerConfig().with_ssl(None, ca_file="ca.pem")
