"""Drift check against the seed client (lnc-client 0.2.9): every public name, signature, keyword,
default and sync/async-ness of the installed seed package is compared, through ``inspect``, with
``lnc.aio`` (same coroutines) and with ``lnc`` (the same names, blocking).

Skipped only when the seed package is absent and ``LNC_REQUIRE_SEED`` is unset (test.sh sets it).
Every difference allowed below carries its reason; the README lists the same ones.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import os
import ssl

import pytest

import lnc
import lnc.aio

try:
    seed = importlib.import_module("lnc_client")
except ImportError:  # pragma: no cover - test.sh installs it
    if os.environ.get("LNC_REQUIRE_SEED"):
        raise
    pytest.skip("the seed package lnc-client is not installed (set LNC_REQUIRE_SEED=1 to fail instead)", allow_module_level=True)

#: Seed names lnc does not offer, with the reason.
NOT_OFFERED = {
    "MAGIC": "wire framing lives in liblnc; the binding has no frame codec",
    "HEADER_SIZE": "wire framing lives in liblnc; the binding has no frame codec",
    "PROTOCOL_VERSION": "wire framing lives in liblnc; the binding has no frame codec",
    "Flag": "wire framing lives in liblnc; the binding has no frame codec",
    "ControlCommand": "wire framing lives in liblnc; the binding has no frame codec",
    "LwpHeader": "wire framing lives in liblnc; the binding has no frame codec",
    "validate_topic_name": "the name rule lives in liblnc (InvalidTopicNameError from every call); no C function exposes it yet",
    "ReconnectConfig": "reconnect policy lives in liblnc: reconnect.backoff.ms / reconnect.backoff.max.ms / reconnect.jitter",
}

#: Seed members lnc does not offer, with the reason.
MEMBERS_NOT_OFFERED = {
    ("Producer", "__init__"): "the seed's takes its internal connection object; use Producer.connect",
    ("StandaloneConsumer", "__init__"): "the seed's takes its internal connection object; use StandaloneConsumer.connect",
    ("PollResult", "__init__"): "results are built by the consumer",
    ("PollResult", "data"): "fetched bytes are decoded inside liblnc and not kept; use records",
    ("FileOffsetStore", "load"): "lnc's FileOffsetStore selects liblnc's file store (Rust-client format); it is not a Python object store",
    ("FileOffsetStore", "save"): "as FileOffsetStore.load",
    ("FileOffsetStore", "delete"): "as FileOffsetStore.load",
    ("MemoryOffsetStore", "load"): "lnc's MemoryOffsetStore selects liblnc's memory store",
    ("MemoryOffsetStore", "save"): "as MemoryOffsetStore.load",
    ("MemoryOffsetStore", "delete"): "as MemoryOffsetStore.load",
    ("TlvRecord", "total_size"): None,  # offered: listed only to document it is checked
}
MEMBERS_NOT_OFFERED = {k: v for k, v in MEMBERS_NOT_OFFERED.items() if v is not None}

#: (class.member, parameter) whose default differs, with the reason.
DEFAULTS_DIFFER = {
    ("Producer.send", "record_type"): "None = raw, or key-value/timestamped when key=/timestamp_ns= is given",
    ("Producer.send_async", "record_type"): "as Producer.send",
    ("LanceClient.set_retention", "max_age_secs"): "None = unlimited (the seed's 0 means unlimited too; both accepted)",
    ("LanceClient.set_retention", "max_bytes"): "as max_age_secs",
    ("LanceClient.create_topic_with_retention", "max_age_secs"): "as set_retention",
    ("LanceClient.create_topic_with_retention", "max_bytes"): "as set_retention",
    ("StandaloneConsumer.poll", "timeout"): "-1 = the config's poll timeout (the seed's None); None = no limit, as everywhere in lnc",
    ("ClientConfig.__init__", "connect_timeout_s"): "None = liblnc's default, which equals the seed's (checked below)",
    ("ClientConfig.__init__", "request_timeout_s"): "as connect_timeout_s",
    ("ClientConfig.__init__", "keepalive_interval_s"): "as connect_timeout_s",
    ("ProducerConfig.__init__", "batch_size"): "as ClientConfig",
    ("ProducerConfig.__init__", "linger_ms"): "as ClientConfig",
    ("ProducerConfig.__init__", "compression"): "as ClientConfig",
    ("ProducerConfig.__init__", "max_pending_acks"): "None = liblnc's max.in.flight (16): see CONFIG_DEFAULTS_DIFFER",
    ("ProducerConfig.__init__", "connect_timeout_s"): "as ClientConfig",
    ("ProducerConfig.__init__", "request_timeout_s"): "as ClientConfig",
    ("ProducerConfig.__init__", "keepalive_interval_s"): "as ClientConfig",
    ("RetentionInfo.__init__", "max_age_secs"): "None = unlimited, which the seed spells 0",
    ("RetentionInfo.__init__", "max_bytes"): "as max_age_secs",
}

#: Effective defaults of default-constructed configs that differ, with the reason.
CONFIG_DEFAULTS_DIFFER = {
    ("ProducerConfig", "max_pending_acks"): "liblnc's max.in.flight default (16 batches of up to 1 MiB) bounds memory per connection",
    ("StandaloneConfig", "start_position"): "None = the committed offset, else the beginning: the seed's restore did the same",
    ("StandaloneConfig", "poll_interval_ms"): "liblnc's fetch.max.wait.ms (100 ms): its idle backoff starts at 1 ms and grows to it",
}
CONFIG_DEFAULTS_DIFFER = {k: v for k, v in CONFIG_DEFAULTS_DIFFER.items() if v is not None}

#: Methods whose async-ness differs from the seed's, with the reason.
ASYNC_DIFFERS = {
    ("OffsetStore", "load"): "liblnc calls the store from inside commit/poll/close, where nothing can await",
    ("OffsetStore", "save"): "as load",
    ("OffsetStore", "delete"): "as load",
}

SEED_NAMES = [n for n in seed.__all__ if n not in NOT_OFFERED]
SEED_CLASSES = [n for n in SEED_NAMES if inspect.isclass(getattr(seed, n)) and not issubclass(getattr(seed, n), (BaseException, enum.Enum))]
SEED_FUNCTIONS = [n for n in SEED_NAMES if inspect.isfunction(getattr(seed, n))]
SEED_ERRORS = [n for n in SEED_NAMES if inspect.isclass(getattr(seed, n)) and issubclass(getattr(seed, n), BaseException)]
MODULES = {"lnc.aio": lnc.aio, "lnc": lnc}


def _public_members(cls):
    for name, value in vars(cls).items():
        if name.startswith("_") and name != "__init__":
            continue
        yield name, value


def _function(value):
    return value.__func__ if isinstance(value, (classmethod, staticmethod)) else value


def _params(fn):
    return [p for p in inspect.signature(fn).parameters.values() if p.name not in ("self", "cls")]


def _compare_signatures(where: str, seed_fn, our_fn, problems: list) -> None:
    ours = {p.name: p for p in _params(our_fn)}
    ours_list = _params(our_fn)
    seed_params = _params(seed_fn)
    for i, sp in enumerate(seed_params):
        if sp.kind is inspect.Parameter.VAR_KEYWORD:
            continue
        op = ours.get(sp.name)
        if op is None:
            problems.append(f"{where}: keyword {sp.name!r} missing")
            continue
        if sp.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
            if op.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD or ours_list.index(op) != i:
                problems.append(f"{where}: {sp.name!r} must be positional #{i} as in the seed")
        elif sp.kind is inspect.Parameter.KEYWORD_ONLY and op.kind not in (
            inspect.Parameter.KEYWORD_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            problems.append(f"{where}: {sp.name!r} must be accepted as a keyword")
        if sp.default is not inspect.Parameter.empty:
            if op.default is inspect.Parameter.empty:
                problems.append(f"{where}: {sp.name!r} needs a default (the seed's is {sp.default!r})")
            elif op.default != sp.default and (where.split(" ", 1)[-1], sp.name) not in DEFAULTS_DIFFER:
                problems.append(f"{where}: default of {sp.name!r} is {op.default!r}, the seed's {sp.default!r}")
    seed_names = {p.name for p in seed_params}
    for op in ours_list:
        if op.name in seed_names or op.kind in (inspect.Parameter.VAR_POSITIONAL,):
            continue
        if op.kind is inspect.Parameter.VAR_KEYWORD:
            continue  # config constructors: liblnc keys spelt with "_", validated (TypeError otherwise)
        if op.default is inspect.Parameter.empty:
            problems.append(f"{where}: extra parameter {op.name!r} must have a default")


@pytest.mark.parametrize("module", MODULES)
def test_every_seed_name_is_offered(module):
    assert SEED_FUNCTIONS and SEED_CLASSES and SEED_ERRORS  # the seed was introspected
    mod = MODULES[module]
    missing = [n for n in SEED_NAMES if not hasattr(mod, n)]
    assert missing == []
    not_exported = [n for n in SEED_NAMES if n not in mod.__all__]
    assert not_exported == []


@pytest.mark.parametrize("module", MODULES)
def test_signatures_keywords_defaults_and_async_match_the_seed(module):
    mod = MODULES[module]
    want_async = module == "lnc.aio"
    problems: list = []
    for fname in SEED_FUNCTIONS:
        seed_fn, our_fn = getattr(seed, fname), getattr(mod, fname)
        if inspect.iscoroutinefunction(our_fn) != (inspect.iscoroutinefunction(seed_fn) and want_async):
            problems.append(f"{module} {fname}: async-ness differs")
        _compare_signatures(f"{module} {fname}", seed_fn, our_fn, problems)
    for cname in SEED_CLASSES:
        seed_cls, our_cls = getattr(seed, cname), getattr(mod, cname)
        for mname, value in _public_members(seed_cls):
            if (cname, mname) in MEMBERS_NOT_OFFERED:
                continue
            where = f"{module} {cname}.{mname}"
            ours = inspect.getattr_static(our_cls, mname, None)
            if ours is None:
                # slots/dataclass fields are instance attributes; checked on instances below
                if type(value).__name__ == "member_descriptor":
                    continue
                problems.append(f"{where}: missing")
                continue
            if isinstance(value, property):
                if not isinstance(ours, property) and type(ours).__name__ != "member_descriptor":
                    problems.append(f"{where}: must be a property")
                continue
            fn = _function(value)
            if not callable(fn):
                continue
            ofn = _function(ours)
            if isinstance(value, classmethod) != isinstance(ours, classmethod) or isinstance(value, staticmethod) != isinstance(ours, staticmethod):
                problems.append(f"{where}: classmethod/staticmethod differs")
            if mname != "__init__" and (cname, mname) not in ASYNC_DIFFERS:
                seed_async = inspect.iscoroutinefunction(fn)
                ours_async = inspect.iscoroutinefunction(ofn)
                expected = seed_async and want_async
                if ours_async != expected:
                    problems.append(f"{where}: {'must' if expected else 'must not'} be a coroutine function")
            _compare_signatures(where, fn, ofn, problems)
    assert problems == []


@pytest.mark.parametrize("module", MODULES)
def test_exception_hierarchy_matches_the_seed(module):
    mod = MODULES[module]
    problems = []
    for name in SEED_ERRORS:
        seed_cls, our_cls = getattr(seed, name), getattr(mod, name)
        for base in seed_cls.__mro__[1:]:
            if base.__module__.startswith("lnc_client") and not issubclass(our_cls, getattr(mod, base.__name__)):
                problems.append(f"{name} must subclass {base.__name__}")
        assert hasattr(our_cls, "is_retryable")
    assert problems == []
    # lnc's TimeoutError/ConnectionError are also the builtins (the seed's shadow them)
    import builtins

    assert issubclass(mod.TimeoutError, builtins.TimeoutError) and issubclass(mod.TimeoutError, mod.LanceError)
    assert issubclass(mod.ConnectionError, builtins.ConnectionError) and issubclass(mod.ConnectionError, mod.LanceError)
    # the seed's positional constructors
    assert mod.NotLeaderError("h:1").leader_addr == "h:1"
    assert mod.ServerCatchingUpError(7).server_offset == 7
    assert mod.TopicNotFoundError(5).topic_id == 5
    assert mod.InvalidTopicNameError("a b").name == "a b"


def _instances(mod, source):
    return {
        "ClientConfig": source.ClientConfig(),
        "ProducerConfig": source.ProducerConfig(),
        "StandaloneConfig": source.StandaloneConfig("app", 3),
        "TopicInfo": source.TopicInfo(1, "t"),
        "RetentionInfo": source.RetentionInfo(),
    }


@pytest.mark.parametrize("module", MODULES)
def test_default_constructed_objects_have_the_seed_fields_and_values(module):
    mod = MODULES[module]
    ours, theirs = _instances(mod, mod), _instances(mod, seed)
    problems = []
    for cname, seed_obj in theirs.items():
        obj = ours[cname]
        for field in getattr(type(seed_obj), "__slots__", ()):
            if not hasattr(obj, field):
                problems.append(f"{cname}.{field}: missing")
                continue
            mine, want = getattr(obj, field), getattr(seed_obj, field)
            if (cname, field) in CONFIG_DEFAULTS_DIFFER:
                continue
            if cname == "RetentionInfo" and want == 0 and mine is None:
                continue  # unlimited: None here, 0 in the seed (DEFAULTS_DIFFER)
            if mine != want:
                problems.append(f"{cname}.{field}: {mine!r}, the seed's {want!r}")
    assert problems == []
    assert mod.SeekPosition.offset(5) == seed.SeekPosition.offset(5)
    assert [m.value for m in mod.SeekPosition] == [m.value for m in seed.SeekPosition]
    assert {m.name: int(m) for m in seed.RecordType}.items() <= {m.name: int(m) for m in mod.RecordType}.items()


def test_sync_module_mirrors_aio_name_for_name():
    """Every name lnc.aio exports (bar the Async* spellings) is in lnc, with the same
    keywords; the sync methods block instead of returning coroutines."""
    problems = []
    for name in lnc.aio.__all__:
        if name.startswith("Async"):
            continue
        if not hasattr(lnc, name) or name not in lnc.__all__:
            problems.append(f"lnc.{name} missing")
            continue
        a, s = getattr(lnc.aio, name), getattr(lnc, name)
        if not inspect.isclass(a) or a is s:
            continue
        for mname, value in _public_members(a):
            if mname in ("sync", "send_future"):
                continue  # aio-only: the sync object underneath; sync send_async(future=True)
            ours = inspect.getattr_static(s, mname, None)
            if ours is None:
                problems.append(f"lnc.{name}.{mname} missing")
                continue
            fn, sfn = _function(value), _function(ours)
            if callable(fn) and callable(sfn) and mname != "__init__":
                if inspect.iscoroutinefunction(sfn):
                    problems.append(f"lnc.{name}.{mname} must block, not be a coroutine function")
                missing = [p.name for p in _params(fn) if p.name not in {q.name for q in _params(sfn)}]
                if missing:
                    problems.append(f"lnc.{name}.{mname}: keywords {missing} missing")
    assert problems == []


def test_unknown_keywords_are_errors_not_no_ops():
    with pytest.raises(TypeError, match="bogus_option"):
        lnc.aio.ProducerConfig(bogus_option=1)
    with pytest.raises(TypeError, match="bogus_option"):
        lnc.aio.StandaloneConfig("app", 1, bogus_option=1)
    with pytest.raises(TypeError, match="bogus_option"):
        lnc.aio.ClientConfig(bogus_option=1)
    with pytest.raises(TypeError):
        lnc.aio.LanceClient(lnc.aio.ClientConfig(), timeout=3)  # type: ignore[call-arg]
    # liblnc keys spelt with "_" are accepted and validated
    assert lnc.aio.ProducerConfig(buffer_memory=4096).get("buffer.memory") == "4096"
    with pytest.raises(lnc.InvalidConfigValueError):
        lnc.aio.ProducerConfig(buffer_memory=1)
    with pytest.raises(AttributeError):
        lnc.aio.ProducerConfig().with_ssl_context(ssl.create_default_context())  # type: ignore[attr-defined]


def test_names_and_values_outside_the_api_fail_loudly(mock, topic):
    """A seed program importing a name lnc does not offer gets ImportError, not a stand-in; a
    value outside the API is refused, not ignored."""
    for name in NOT_OFFERED:
        with pytest.raises(ImportError, match=name):
            exec(f"from lnc.aio import {name}", {})
        assert not hasattr(lnc, name)

    async def main():
        c = await lnc.aio.StandaloneConsumer.connect(mock.address, lnc.aio.StandaloneConfig("", topic_id=topic))
        try:
            with pytest.raises(lnc.InvalidArgumentError, match="not a seek position"):
                c.seek_to("end")
            with pytest.raises(TypeError):
                c.seek(0, whence=2)  # type: ignore[call-arg]
            p = await lnc.aio.Producer.connect(mock.address)
            with pytest.raises(TypeError, match="give the topic once"):
                await p.send(topic, data=b"x", topic_id=topic)
            with pytest.raises(TypeError):
                await p.send(topic_id=topic, data=b"x", partition=0)  # type: ignore[call-arg]
            await p.close()
        finally:
            await c.close()

    import asyncio

    asyncio.run(main())
