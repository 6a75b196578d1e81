"""``LanceClient``: topic administration and the other control commands (seed names)."""

from __future__ import annotations

import ctypes
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, TypeVar, Union

from . import _ffi as F
from ._ffi import lib
from ._util import Conf, Deadline, Handle
from .config import ClientConfig, ClusterStatus, RetentionInfo, TopicInfo, _Options
from .errors import ClosedError, check, make_error
from .events import Event, EventHandler, Events, install_logging, iterate_events

__all__ = ["LanceClient", "FetchResult", "consumer_id"]

T = TypeVar("T")


@dataclass
class FetchResult:
    """One raw Fetch: ``data`` (log bytes), ``next_offset``; when the server answered CatchingUp,
    ``catching_up`` is True and ``end_offset`` is the topic's end."""

    data: bytes
    next_offset: int
    catching_up: bool = False
    end_offset: Optional[int] = None


def consumer_id(name: str) -> int:
    """The consumer id liblnc's file store and the official Rust client derive from a name."""
    out = ctypes.c_uint64()
    check(lib.lnc_consumer_id(name.encode(), ctypes.byref(out)))
    return out.value


def _retention(v: Optional[int]) -> int:
    # None is "no limit"; 0 is passed as is: liblnc reads it as no limit too (docs/bindings.md).
    return F.LNC_RETENTION_UNLIMITED if v is None else int(v)


def ensure_topic_timeout_ms(max_attempts: int, base_backoff_ms: int, request_timeout_ms: int) -> int:
    """The seed's ``ensure_topic(name, max_attempts, base_backoff_ms)`` as one timeout: its
    worst case sleeps ``base_backoff_ms * (k + 1)`` after attempt k (k = 0 .. max_attempts-1),
    ``base_backoff_ms * n(n+1)/2`` in all, plus one ``request.timeout.ms`` for the last attempt.
    liblnc's ``lnc_admin_ensure_topic`` retries retryable failures with its own growing backoff
    until then."""
    n = max(1, int(max_attempts))
    total = max(0, int(base_backoff_ms)) * n * (n + 1) // 2 + request_timeout_ms
    return min(total, 2**31 - 1)


def topic_from_c(t: F.lnc_topic_t) -> TopicInfo:
    retention = None
    if t.has_retention:
        retention = RetentionInfo(
            max_age_secs=None if t.max_age_secs == F.LNC_RETENTION_UNLIMITED else t.max_age_secs,
            max_bytes=None if t.max_bytes == F.LNC_RETENTION_UNLIMITED else t.max_bytes,
        )
    return TopicInfo(
        id=t.id,
        name=t.name.decode("utf-8", "replace"),
        created_at=t.created_at,
        topic_epoch=t.topic_epoch,
        retention=retention,
    )


def build_conf(servers: str, options: _Options | None) -> Conf:
    """An ``lnc_conf_t`` for ``servers`` with ``options``; log lines go to the ``lnc`` logger."""
    conf = Conf()
    try:
        conf.set("bootstrap.servers", servers)
        explicit = options.options if options is not None else {}
        for k, v in explicit.items():
            conf.set(k, v)
        assert conf.ptr
        install_logging(conf.ptr, explicit)
    except BaseException:
        conf.free()
        raise
    return conf


def _admin_free(ptr: int) -> None:
    lib.lnc_admin_free(ptr)


class _Admin:
    """An owned ``lnc_admin_t`` (freed by ``close``, the finalizer, or after an abandoned call)."""

    def __init__(self, servers: str, options: Optional[_Options]) -> None:
        conf = build_conf(servers, options)
        out = ctypes.c_void_p()
        err = ctypes.c_void_p()
        rc = lib.lnc_admin_new(conf.ptr, ctypes.byref(out), ctypes.byref(err))
        if rc:
            conf.free()
            raise make_error(rc, err.value)
        conf.take()
        self.handle = Handle(out.value or 0, _admin_free)
        self._fin = weakref.finalize(self, self.handle)
        self.request_timeout_ms = int((options or ClientConfig()).get("request.timeout.ms"))
        # liblnc bounds a request by request.timeout.ms itself; give the call a little more.
        self.timeout_ms = min(self.request_timeout_ms + 1000, 2**31 - 1)

    @property
    def ptr(self) -> Optional[int]:
        return None if self.handle.freed or self.handle._closing else self.handle.ptr

    def close(self) -> None:
        self._fin()

    def call(self, fn: Callable[..., int], *args: Any, context: str = "") -> None:
        """Runs one admin call (interruptible on the main thread) and raises its error."""
        err = ctypes.c_void_p()
        try:
            rc = self.handle.run(lambda p: fn(p, *args, ctypes.byref(err)))
        except ClosedError:
            raise ClosedError("client is closed") from None
        if rc:
            raise make_error(rc, err.value, context=context)


class LanceClient:
    """Synchronous management client (the seed's ``LanceClient``, without ``await``).

    ``LanceClient(ClientConfig(host, port))``, ``LanceClient("host:port")`` or
    ``LanceClient.connect("host:port")``. liblnc connects lazily and reconnects by itself.
    Blocking calls run so that Ctrl-C interrupts them; they raise ``LanceError`` subclasses.
    """

    def __init__(
        self,
        config: Union[ClientConfig, str, None] = None,
        *,
        on_connected: Optional[EventHandler] = None,
        on_disconnected: Optional[EventHandler] = None,
        on_error: Optional[EventHandler] = None,
        on_event: Optional[EventHandler] = None,
    ) -> None:
        if isinstance(config, str):
            config = ClientConfig(servers=config)
        self._config = config or ClientConfig()
        self._events = Events(
            lib.lnc_admin_poll_events,
            on_connected=on_connected,
            on_disconnected=on_disconnected,
            on_error=on_error,
            on_event=on_event,
        )
        self._admin = _Admin(self._config.address, self._config)

    @classmethod
    def connect_to(cls, address: str, config: Optional[ClientConfig] = None) -> "LanceClient":
        cfg = config or ClientConfig()
        cfg.with_servers(address)
        return cls(cfg)

    def connect(self) -> "LanceClient":
        """Seed compatibility: checks the server is reachable (a ping) and returns self."""
        self.ping()
        return self

    def close(self) -> None:
        """Frees the handle (the events still waiting are handed to the handlers first)."""
        try:
            self._serve_events()
        finally:
            self._events.end_sinks()
            self._admin.close()

    @property
    def closed(self) -> bool:
        return not self._admin.ptr

    # --- events ------------------------------------------------------------------------------

    def _serve_events(self) -> None:
        if not (self._events.wanted or self._events.armed):
            return
        try:
            p = self._admin.handle.acquire()
        except ClosedError:
            return
        try:
            self._events.serve(p)
        finally:
            self._admin.handle.release()

    def _call(self, fn: Callable[..., int], *args: Any, context: str = "") -> None:
        """One admin call, then the events it caused, handed to the handlers on this thread."""
        try:
            self._admin.call(fn, *args, context=context)
        finally:
            self._serve_events()

    def poll_events(self, timeout: Optional[float] = 0.0) -> List[Event]:
        """Takes the waiting events (waiting up to ``timeout`` seconds for the first, in slices
        so Ctrl-C interrupts), hands them to the handlers and returns them."""
        return self._events.poll(self._acquire_open, self._admin.handle.release, timeout)

    def _acquire_open(self) -> int:
        try:
            return self._admin.handle.acquire()
        except ClosedError:
            raise ClosedError("client is closed") from None

    def events(self, timeout: Optional[float] = None) -> Iterator[Event]:
        """Yields events as they come (taken with ``poll_events``, so the handlers run too)
        until the handle closes or none arrives for ``timeout`` seconds (None = no limit)."""
        return iterate_events(self, timeout)

    def fileno(self) -> int:
        """liblnc's eventfd: readable while events wait, once events were taken."""
        p = self._admin.ptr
        return int(lib.lnc_admin_eventfd(p)) if p else -1

    def __enter__(self) -> "LanceClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def _t(self) -> int:
        return self._admin.timeout_ms

    # --- topics ------------------------------------------------------------------------------

    def create_topic(self, name: str) -> TopicInfo:
        """Creates the topic, or returns the existing one (idempotent, as in the seed client;
        ``create_topic_once`` is the strict variant)."""
        return self.ensure_topic(name)

    def create_topic_once(self, name: str) -> TopicInfo:
        """Creates a topic; raises ``TopicAlreadyExistsError`` if the name is taken."""
        out = F.lnc_topic_t()
        self._call(lib.lnc_admin_create_topic, name.encode(), self._t, ctypes.byref(out), context=f"create topic {name!r}")
        return topic_from_c(out)

    def ensure_topic(self, name: str, max_attempts: int = 20, base_backoff_ms: int = 500) -> TopicInfo:
        """Creates or finds the topic. liblnc retries retryable failures (a server starting,
        catching up, or without a leader) with a growing backoff for as long as the seed's
        ``max_attempts``/``base_backoff_ms`` could take at worst: ``base_backoff_ms * n(n+1)/2``
        plus one ``request.timeout.ms`` (see :func:`ensure_topic_timeout_ms`)."""
        out = F.lnc_topic_t()
        timeout_ms = ensure_topic_timeout_ms(max_attempts, base_backoff_ms, self._admin.request_timeout_ms)
        self._call(lib.lnc_admin_ensure_topic, name.encode(), timeout_ms, ctypes.byref(out), context=f"ensure topic {name!r}")
        return topic_from_c(out)

    def ensure_topic_default(self, name: str) -> TopicInfo:
        return self.ensure_topic(name, 20, 500)

    def resolve_topic_id(self, name: str) -> int:
        return self.ensure_topic(name).id

    def create_topic_with_retention(self, name: str, max_age_secs: Optional[int] = None, max_bytes: Optional[int] = None) -> TopicInfo:
        """Creates a topic with retention limits (``None`` or 0 = unlimited)."""
        out = F.lnc_topic_t()
        self._call(
            lib.lnc_admin_create_topic_with_retention,
            name.encode(),
            _retention(max_age_secs),
            _retention(max_bytes),
            self._t,
            ctypes.byref(out),
            context=f"create topic {name!r}",
        )
        return topic_from_c(out)

    def list_topics(self) -> List[TopicInfo]:
        arr = ctypes.POINTER(F.lnc_topic_t)()
        n = ctypes.c_size_t()
        self._call(lib.lnc_admin_list_topics, self._t, ctypes.byref(arr), ctypes.byref(n))
        try:
            topics = [topic_from_c(arr[i]) for i in range(n.value)]
        finally:
            lib.lnc_topics_free(arr, n.value)
        return topics

    def get_topic(self, topic_id: int) -> TopicInfo:
        out = F.lnc_topic_t()
        self._call(lib.lnc_admin_get_topic, topic_id, self._t, ctypes.byref(out), context=f"topic {topic_id}")
        return topic_from_c(out)

    def get_topic_by_name(self, name: str) -> TopicInfo:
        """Finds a topic by name without creating it (``TopicNotFoundError`` if absent)."""
        out = F.lnc_topic_t()
        self._call(lib.lnc_admin_find_topic, name.encode(), self._t, ctypes.byref(out), context=f"topic {name!r}")
        return topic_from_c(out)

    find_topic = get_topic_by_name

    def delete_topic(self, topic_id: int) -> None:
        self._call(lib.lnc_admin_delete_topic, topic_id, self._t, context=f"delete topic {topic_id}")

    def set_retention(self, topic_id: int, max_age_secs: Optional[int] = None, max_bytes: Optional[int] = None) -> TopicInfo:
        """Sets a topic's retention (``None`` or 0 = unlimited). Returns, as the seed does, the
        topic with the retention now in force; the SetRetention reply carries neither name nor
        creation time, so they are asked for (GetTopic, which never reports retention)."""
        self._call(
            lib.lnc_admin_set_retention, topic_id, _retention(max_age_secs), _retention(max_bytes), self._t,
            context=f"set retention of topic {topic_id}",
        )
        info = self.get_topic(topic_id)
        info.retention = RetentionInfo(max_age_secs=max_age_secs or None, max_bytes=max_bytes or None)
        return info

    # --- diagnostics -------------------------------------------------------------------------

    def ping(self) -> float:
        """Keepalive round trip in seconds."""
        rtt = ctypes.c_uint64()
        self._call(lib.lnc_admin_ping, self._t, ctypes.byref(rtt))
        return rtt.value / 1e6

    def cluster_status(self) -> ClusterStatus:
        s = F.lnc_cluster_status_t()
        self._call(lib.lnc_admin_cluster_status, self._t, ctypes.byref(s))
        return ClusterStatus(
            current_term=s.current_term,
            healthy_nodes=s.healthy_nodes,
            node_count=s.node_count,
            node_id=s.node_id,
            leader_id=None if s.leader_id < 0 else s.leader_id,
            is_leader=bool(s.is_leader),
            quorum_available=bool(s.quorum_available),
            is_standalone=bool(s.is_standalone),
        )

    def authenticate(self, token: str) -> None:
        """Checks a token with Authenticate (``AuthenticationFailedError`` when refused)."""
        self._call(lib.lnc_admin_authenticate, token.encode(), self._t)

    # --- data-plane control ------------------------------------------------------------------

    def fetch(self, topic_id: int, start_offset: int = 0, max_bytes: int = 1 << 20) -> FetchResult:
        """One raw Fetch (undecoded log bytes; use a consumer for records)."""
        r = F.lnc_fetch_result_t()
        self._call(lib.lnc_admin_fetch, topic_id, start_offset, max_bytes, self._t, ctypes.byref(r))
        try:
            data = ctypes.string_at(r.data, r.data_len) if r.data_len else b""
            return FetchResult(
                data=data,
                next_offset=r.next_offset,
                catching_up=bool(r.catching_up),
                end_offset=r.end_offset if r.catching_up else None,
            )
        finally:
            lib.lnc_fetch_result_clear(ctypes.byref(r))

    def subscribe(self, topic_id: int, start_offset: int, max_batch_bytes: int, consumer_id: int) -> Dict[str, int]:
        """Server-side Subscribe; returns the SubscribeAck as a dict: ``{"consumer_id": ...,
        "offset": ...}`` (the server's offset: a requested 0 resolves to its commit)."""
        off = ctypes.c_uint64()
        self._call(lib.lnc_admin_subscribe, topic_id, start_offset, max_batch_bytes, consumer_id, self._t, ctypes.byref(off))
        return {"consumer_id": consumer_id, "offset": off.value}

    def unsubscribe(self, topic_id: int, consumer_id: int) -> None:
        self._call(lib.lnc_admin_unsubscribe, topic_id, consumer_id, self._t)

    def commit_offset(self, topic_id: int, consumer_id: int, offset: int) -> Dict[str, int]:
        """Server-side CommitOffset (kept in server memory only). Returns the CommitAck as a
        dict, ``{"consumer_id": ..., "offset": ...}`` (the server echoes both)."""
        self._call(lib.lnc_admin_commit_offset, topic_id, consumer_id, offset, self._t)
        return {"consumer_id": consumer_id, "offset": offset}

    consumer_id = staticmethod(consumer_id)

    def __repr__(self) -> str:
        return f"LanceClient({self._config.address}{', closed' if self.closed else ''})"
