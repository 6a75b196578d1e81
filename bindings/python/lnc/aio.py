"""asyncio API: a faithful superset of the seed client (PyPI ``lnc-client`` 0.2.9).

Seed code runs with only its import changed (``from lnc.aio import ...``): the same names, the
same signatures, keywords, defaults and return values (``send(topic_id=, data=)`` returns the
batch id; ``seek``/``seek_to``/``rewind`` are plain methods; ``create_topic`` returns a dict).
The differences that are on purpose are listed in the package README.

Producers and consumers are driven by liblnc's eventfd through ``loop.add_reader``: no extra
thread, reports and records are taken on the event loop's thread without blocking it. Calls that
wait for the server (admin requests, consumer creation, the tail for ``SeekPosition.END``, lag)
run in the loop's default executor, never on the loop thread.
"""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Any, AsyncIterator, Callable, Dict, List, Optional, Sequence, Tuple, TypeVar, Union

from .client import FetchResult
from .client import LanceClient as _SyncClient
from .config import (
    ClientConfig,
    ClusterStatus,
    ProducerConfig,
    RetentionInfo,
    SeekPosition,
    SeekTarget,
    StandaloneConfig,
    TlsContextError,
    TopicInfo,
)
from .consumer import FileOffsetStore, MemoryOffsetStore, OffsetStore, StoreArg, seek_asks_server
from .consumer import StandaloneConsumer as _SyncConsumer
from .errors import (
    AccessDeniedError,
    BackpressureError,
    ClosedError,
    ConnectionError,
    DeliveryError,
    InternalError,
    InvalidFrameError,
    InvalidTopicNameError,
    LanceError,
    NotLeaderError,
    ProtocolError,
    ServerCatchingUpError,
    TimeoutError,
    TopicAlreadyExistsError,
    TopicNotFoundError,
)
from .producer import DeliveryCallback, DeliveryReport, ProducerMetrics, topic_arg
from .producer import Producer as _SyncProducer
from .records import PollResult, RecordType, TlvRecord, decode_records, encode_records

__all__ = [
    # the seed client's public names
    "DEFAULT_PORT",
    "RecordType",
    "TlvRecord",
    "encode_records",
    "decode_records",
    "LanceError",
    "ConnectionError",
    "ProtocolError",
    "TimeoutError",
    "BackpressureError",
    "TopicNotFoundError",
    "TopicAlreadyExistsError",
    "InvalidTopicNameError",
    "NotLeaderError",
    "ServerCatchingUpError",
    "AccessDeniedError",
    "InvalidFrameError",
    "ClientConfig",
    "ProducerConfig",
    "StandaloneConfig",
    "SeekPosition",
    "TopicInfo",
    "RetentionInfo",
    "LanceClient",
    "Producer",
    "StandaloneConsumer",
    "PollResult",
    "OffsetStore",
    "FileOffsetStore",
    "MemoryOffsetStore",
    # lnc's additions
    "AsyncLanceClient",
    "AsyncProducer",
    "AsyncConsumer",
    "ClosedError",
    "DeliveryError",
    "DeliveryReport",
    "InternalError",
    "TlsContextError",
]

#: The LANCE server's default port.
DEFAULT_PORT = 1992

T = TypeVar("T")
Bytes = Union[bytes, bytearray, memoryview]
Topic = Union[int, str]


async def _run(fn: Callable[..., T], *args: Any) -> T:
    """Runs a blocking call in the loop's default executor."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, functools.partial(fn, *args))


class AsyncLanceClient:
    """The seed's ``LanceClient``: every request is a coroutine (run in the default executor).

    ``async with LanceClient(ClientConfig(host=...)) as client`` checks the server is reachable
    (a ping), as the seed's connect does; liblnc reconnects by itself afterwards.
    """

    def __init__(self, config: Union[ClientConfig, str, None] = None) -> None:
        self._c = _SyncClient(config)

    @property
    def sync(self) -> _SyncClient:
        """The blocking client underneath."""
        return self._c

    async def connect(self) -> "AsyncLanceClient":
        """Checks the server is reachable (one ping); returns self."""
        await _run(self._c.ping)
        return self

    async def close(self) -> None:
        self._c.close()

    async def __aenter__(self) -> "AsyncLanceClient":
        return await self.connect()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def create_topic(self, name: str) -> TopicInfo:
        """Creates the topic or returns the existing one (idempotent, as in the seed)."""
        return await _run(self._c.create_topic, name)

    async def create_topic_once(self, name: str) -> TopicInfo:
        """One CreateTopic; ``TopicAlreadyExistsError`` if it exists."""
        return await _run(self._c.create_topic_once, name)

    async def ensure_topic(self, name: str, max_attempts: int = 20, base_backoff_ms: int = 500) -> TopicInfo:
        return await _run(self._c.ensure_topic, name, max_attempts, base_backoff_ms)

    async def ensure_topic_default(self, name: str) -> TopicInfo:
        return await _run(self._c.ensure_topic_default, name)

    async def resolve_topic_id(self, name: str) -> int:
        return await _run(self._c.resolve_topic_id, name)

    async def delete_topic(self, topic_id: int) -> None:
        await _run(self._c.delete_topic, topic_id)

    async def list_topics(self) -> List[TopicInfo]:
        return await _run(self._c.list_topics)

    async def get_topic(self, topic_id: int) -> TopicInfo:
        return await _run(self._c.get_topic, topic_id)

    async def get_topic_by_name(self, name: str) -> TopicInfo:
        return await _run(self._c.get_topic_by_name, name)

    async def set_retention(self, topic_id: int, max_age_secs: Optional[int] = None, max_bytes: Optional[int] = None) -> TopicInfo:
        return await _run(self._c.set_retention, topic_id, max_age_secs, max_bytes)

    async def create_topic_with_retention(self, name: str, max_age_secs: Optional[int] = None, max_bytes: Optional[int] = None) -> TopicInfo:
        return await _run(self._c.create_topic_with_retention, name, max_age_secs, max_bytes)

    async def ping(self) -> float:
        """Keepalive round trip in seconds (a float)."""
        return await _run(self._c.ping)

    async def subscribe(self, topic_id: int, start_offset: int, max_batch_bytes: int, consumer_id: int) -> Dict[str, int]:
        return await _run(self._c.subscribe, topic_id, start_offset, max_batch_bytes, consumer_id)

    async def unsubscribe(self, topic_id: int, consumer_id: int) -> None:
        await _run(self._c.unsubscribe, topic_id, consumer_id)

    async def commit_offset(self, topic_id: int, consumer_id: int, offset: int) -> Dict[str, int]:
        return await _run(self._c.commit_offset, topic_id, consumer_id, offset)

    # --- lnc's additions ---------------------------------------------------------------------

    async def cluster_status(self) -> ClusterStatus:
        return await _run(self._c.cluster_status)

    async def authenticate(self, token: str) -> None:
        await _run(self._c.authenticate, token)

    async def fetch(self, topic_id: int, start_offset: int = 0, max_bytes: int = 1 << 20) -> FetchResult:
        return await _run(self._c.fetch, topic_id, start_offset, max_bytes)


class AsyncProducer:
    """The seed's ``Producer`` over the sync :class:`lnc.Producer` (bulk mode).

    Reports are taken when liblnc's eventfd becomes readable (``loop.add_reader``) and resolve
    the futures of ``send``/``send_batch``/``send_future`` and run ``callback``s on the loop
    thread. A full buffer never blocks the loop: a send awaits reports and retries (up to
    ``send.timeout.ms``), then raises ``BackpressureError``.
    """

    def __init__(self, servers: Optional[str] = None, config: Optional[ProducerConfig] = None) -> None:
        cfg = config or ProducerConfig()
        self._send_timeout_s = int(cfg.get("send.timeout.ms")) / 1000
        self._block = cfg.get("send.block") == "true"
        nb = ProducerConfig()
        nb.options.update(cfg.options)
        nb.options["send.block"] = "false"
        nb._ca_file = cfg._ca_file
        self._p = _SyncProducer(servers, nb)
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._fd = self._p.fileno()
        self._event: Optional[asyncio.Event] = None

    @classmethod
    async def connect(cls, address: str, config: Optional[ProducerConfig] = None) -> "AsyncProducer":
        """The seed's constructor: a producer for ``address`` ("host:port")."""
        p = cls(address, config)
        p._attach()
        return p

    @classmethod
    async def connect_for_topic(
        cls, address: str, topic_name: str, config: Optional[ProducerConfig] = None
    ) -> Tuple["AsyncProducer", int]:
        """A producer plus the id of ``topic_name`` (created if missing, as in the seed)."""
        p = await cls.connect(address, config)
        try:
            return p, await p.resolve_topic(topic_name)
        except BaseException:
            await p.close(0)
            raise

    @property
    def sync(self) -> _SyncProducer:
        """The blocking producer underneath."""
        return self._p

    def _attach(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None:
                self._detach()
            self._loop = loop
            self._event = asyncio.Event()
            loop.add_reader(self._fd, self._on_readable)
        return loop

    def _detach(self) -> None:
        if self._loop is not None:
            try:
                self._loop.remove_reader(self._fd)
            except Exception:
                pass
            self._loop = None

    def _on_readable(self) -> None:
        p = self._p
        if p.closed:
            self._detach()
            return
        while p._drain(0, True) == 4096:
            pass
        p._core.run_deferred()
        if self._event is not None:
            self._event.set()

    async def _wait_reports(self, timeout: Optional[float]) -> None:
        assert self._event is not None
        self._event.clear()
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    async def resolve_topic(self, topic: Topic) -> int:
        """Topic id of ``topic`` (a name is resolved once, creating the topic if missing)."""
        if isinstance(topic, int):
            return topic
        tid = self._p._topics.get(topic)
        if tid is None:
            tid = await _run(self._p.resolve_topic, topic)
        return tid

    async def _until_accepted(self, attempt: Callable[[], T]) -> T:
        """Runs ``attempt`` (a non-blocking queueing call) until the buffer accepts it."""
        self._attach()
        try:
            return attempt()
        except BackpressureError:
            if not self._block:
                raise
        deadline = time.monotonic() + self._send_timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BackpressureError(f"buffer.memory stayed full for send.timeout.ms ({self._send_timeout_s} s)")
            await self._wait_reports(min(left, 0.01))
            try:
                return attempt()
            except BackpressureError:
                continue

    async def _queue(
        self,
        topic: Optional[Topic],
        topic_id: Optional[int],
        data: Union[Bytes, TlvRecord],
        record_type: Optional[int],
        key: Optional[Union[Bytes, str]],
        timestamp_ns: Optional[int],
        ext_type: Optional[int],
        future: Any,
        callback: Optional[DeliveryCallback],
    ) -> Any:
        t = topic_arg(topic, topic_id)
        tid = t if t.__class__ is int else await self.resolve_topic(t)
        return await self._until_accepted(
            lambda: self._p.send_async(
                tid, data, record_type=record_type, key=key, timestamp_ns=timestamp_ns, ext_type=ext_type,
                callback=callback, future=future,
            )
        )

    async def _acked(self, fut: "asyncio.Future[DeliveryReport]", timeout: Optional[float], what: str) -> DeliveryReport:
        self._p._flush_slice(0)  # seal the batch now rather than after linger.ms
        done, _ = await asyncio.wait({fut}, timeout=timeout)
        if not done:
            raise TimeoutError(f"{what}: no acknowledgement within {timeout} s (the record may still be delivered)")
        return fut.result()

    async def send(
        self,
        topic: Optional[Topic] = None,
        data: Union[Bytes, TlvRecord] = b"",
        *,
        topic_id: Optional[int] = None,
        record_type: Optional[int] = None,
        key: Optional[Union[Bytes, str]] = None,
        timestamp_ns: Optional[int] = None,
        ext_type: Optional[int] = None,
        timeout: Optional[float] = 30.0,
    ) -> int:
        """Sends one record and waits for its acknowledgement; returns the acknowledging batch id.

        ``topic`` is an id or a name (``topic_id=`` is the seed's other spelling);
        ``record_type`` defaults to raw (0x01), or key-value / timestamped when ``key`` /
        ``timestamp_ns`` is given. Raises the record's error.
        """
        loop = self._attach()
        fut: asyncio.Future[DeliveryReport] = loop.create_future()
        await self._queue(topic, topic_id, data, record_type, key, timestamp_ns, ext_type, fut, None)
        return (await self._acked(fut, timeout, "send")).batch_id

    async def send_async(
        self,
        topic: Optional[Topic] = None,
        data: Union[Bytes, TlvRecord] = b"",
        *,
        topic_id: Optional[int] = None,
        record_type: Optional[int] = None,
        key: Optional[Union[Bytes, str]] = None,
        timestamp_ns: Optional[int] = None,
        ext_type: Optional[int] = None,
        callback: Optional[DeliveryCallback] = None,
    ) -> int:
        """Queues one record without waiting for its acknowledgement (pipelined).

        Returns its send number (1, 2, ... per producer; see the README: liblnc forms batches
        after this call, so the wire batch id is known only from the record's report).
        ``callback(report)`` later runs on the loop thread; without it a failure is kept for
        ``flush()``/``close()`` to raise as ``DeliveryError``.
        """
        return int(await self._queue(topic, topic_id, data, record_type, key, timestamp_ns, ext_type, False, callback))

    async def send_future(
        self,
        topic: Optional[Topic] = None,
        data: Union[Bytes, TlvRecord] = b"",
        *,
        topic_id: Optional[int] = None,
        record_type: Optional[int] = None,
        key: Optional[Union[Bytes, str]] = None,
        timestamp_ns: Optional[int] = None,
        ext_type: Optional[int] = None,
    ) -> "asyncio.Future[DeliveryReport]":
        """Queues one record; returns an asyncio future resolving to its DeliveryReport."""
        loop = self._attach()
        fut: asyncio.Future[DeliveryReport] = loop.create_future()
        await self._queue(topic, topic_id, data, record_type, key, timestamp_ns, ext_type, fut, None)
        return fut

    async def send_batch(
        self,
        topic: Optional[Topic] = None,
        records: Optional[Sequence[Union[TlvRecord, Bytes]]] = None,
        *,
        topic_id: Optional[int] = None,
        wait: bool = True,
        timeout: Optional[float] = 30.0,
    ) -> Optional[int]:
        """Queues ``records`` atomically (all or none, in order, in one batch when they fit)
        and, with ``wait`` (the seed's behaviour), awaits every acknowledgement: returns the
        last acknowledging batch id and raises the first failure. ``None`` for no records or
        ``wait=False``."""
        recs = list(records or [])
        t = topic_arg(topic, topic_id)
        if not recs:
            return None
        tid = t if t.__class__ is int else await self.resolve_topic(t)
        loop = self._attach()
        futs: List[asyncio.Future[DeliveryReport]] = [loop.create_future() for _ in recs] if wait else []
        await self._until_accepted(lambda: self._p._queue_batch(tid, recs, futs or None, None, False))
        if not wait:
            return None
        self._p._flush_slice(0)
        done, pending = await asyncio.wait(futs, timeout=timeout)
        if pending:
            raise TimeoutError(f"send_batch: {len(pending)} of {len(futs)} records unacknowledged after {timeout} s")
        return max(f.result().batch_id for f in futs)

    async def flush(self, timeout: Optional[float] = 30.0) -> None:
        """Awaits a report for every record; raises ``TimeoutError`` if some are missing after
        ``timeout`` seconds, and ``DeliveryError`` for failed fire-and-forget records."""
        self._attach()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = self._p._flush_slice(0)
            self._on_readable()
            self._p._core.raise_cb_errors()
            if remaining == 0:
                break
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError(f"flush: {remaining} records still without a delivery report")
            await self._wait_reports(0.02 if left is None else min(left, 0.02))
        e = self._p._core.take_failures()
        if e is not None:
            raise e

    async def close(self, timeout: Optional[float] = 30.0) -> None:
        """Flushes up to ``timeout``, then closes the producer (see ``Producer.close``)."""
        if self._p.closed:
            return
        first: Optional[BaseException] = None
        try:
            await self.flush(timeout)
        except (asyncio.CancelledError, KeyboardInterrupt):
            self._detach()
            self._p.close(0)
            raise
        except BaseException as e:  # noqa: BLE001 - raised after closing
            first = e
        self._detach()
        try:
            self._p.close(0)
        except BaseException as e:  # noqa: BLE001
            first = first or e
        if first is not None:
            raise first

    async def __aenter__(self) -> "AsyncProducer":
        self._attach()
        return self

    async def __aexit__(self, exc_type: Any, *exc: Any) -> None:
        if exc_type is None:
            await self.close()
        else:
            try:
                await self.close()
            except Exception:
                pass

    def metrics(self) -> ProducerMetrics:
        return self._p.metrics()

    @property
    def stats(self) -> Dict[str, int]:
        return self._p.stats

    @property
    def closed(self) -> bool:
        return self._p.closed


class AsyncConsumer:
    """The seed's ``StandaloneConsumer``: ``await poll()`` and ``async for record in consumer``,
    woken by liblnc's eventfd through ``loop.add_reader``.

    ``seek``, ``seek_to``, ``rewind`` and ``seek_to_end`` are plain methods, as in the seed. A
    seek that needs the server (``SeekPosition.END``: the tail is asked for) runs in the executor;
    every later call (poll, commit, lag, another seek, close) waits for it, and its error, if
    any, is raised by that later call.
    """

    def __init__(self, consumer: _SyncConsumer) -> None:
        self._c = consumer
        self._seeking: Optional[asyncio.Future[None]] = None
        self._seek_errors: List[BaseException] = []
        self._closing = False
        self._held: Optional[PollResult] = None  # records a cancelled poll took

    @classmethod
    async def connect(cls, address: str, config: StandaloneConfig, offset_store: StoreArg = None) -> "AsyncConsumer":
        """Creates the consumer (topic resolution and offset load run in the executor)."""
        c = await _run(_SyncConsumer, address, config, offset_store)
        return cls(c)

    @property
    def sync(self) -> _SyncConsumer:
        """The blocking consumer underneath."""
        return self._c

    async def _settled(self) -> None:
        """Waits for a seek in progress and raises its error."""
        while self._seeking is not None:
            pending = self._seeking
            await asyncio.shield(pending)
            if self._seeking is pending:
                self._seeking = None
        if self._seek_errors:
            errs, self._seek_errors = self._seek_errors, []
            raise errs[0]

    async def _readable(self, timeout: Optional[float]) -> None:
        loop = asyncio.get_running_loop()
        fd = self._c.fileno()
        fut: asyncio.Future[None] = loop.create_future()

        def ready() -> None:
            if not fut.done():
                fut.set_result(None)

        loop.add_reader(fd, ready)
        try:
            await asyncio.wait({fut}, timeout=timeout)
        finally:
            loop.remove_reader(fd)

    async def poll(self, timeout: Optional[float] = -1.0) -> Optional[PollResult]:
        """Awaits records up to ``timeout`` seconds (default: the config's poll timeout; None =
        until records arrive); None on timeout. The result's ``lag`` is already known (asked in
        the executor), so reading it never blocks the loop."""
        await self._settled()
        if self._held is not None:
            return await self._with_lag(self._held)
        if timeout is not None and timeout < 0:
            timeout = self._c._poll_timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            r = self._c.poll(0)
            if r is not None:
                return await self._with_lag(r)
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            await self._readable(left)

    async def _with_lag(self, r: PollResult) -> PollResult:
        # The records are taken already: a poll cancelled while the lag is asked for hands them
        # to the next poll instead of dropping them.
        self._held = r
        await _run(r.resolve_lag)
        self._held = None
        return r

    def __aiter__(self) -> AsyncIterator[TlvRecord]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[TlvRecord]:
        while not self._c.closed:
            r = await self.poll(None)
            if r is not None:
                for rec in r.records:
                    yield rec

    async def records(self, timeout: Optional[float] = None) -> AsyncIterator[TlvRecord]:
        """Yields records until none arrives for ``timeout`` seconds (None = forever)."""
        while not self._c.closed:
            r = await self.poll(timeout)
            if r is None:
                return
            for rec in r.records:
                yield rec

    async def commit(self) -> int:
        """Stores the position in the offset store; returns the committed offset."""
        await self._settled()
        return await _run(self._c.commit)

    def _seek(self, position: SeekTarget) -> None:
        needs_server = seek_asks_server(position)  # refuses what is not a position
        if self._closing or self._c.closed:
            raise ClosedError("consumer is closed")
        self._held = None  # records of the old position
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # called from plain code: blocking is fine there
            self._c.seek_to(position)
            return
        if self._seeking is None and not needs_server:
            self._c.seek_to(position)  # no I/O: liblnc moves the position under its lock
            return
        prev = self._seeking

        async def run() -> None:
            if prev is not None:
                await asyncio.wait({prev})
            try:
                await _run(self._c.seek_to, position)
            except BaseException as e:  # noqa: BLE001 - raised by the next call that waits
                self._seek_errors.append(e)

        self._seeking = asyncio.ensure_future(run())

    def seek(self, offset: int) -> None:
        """Moves to byte ``offset`` (a record boundary, e.g. a record's ``offset``)."""
        self._seek(SeekPosition.offset(offset))

    def seek_to(self, position: SeekTarget) -> None:
        """Moves to ``SeekPosition.BEGINNING``, ``SeekPosition.END`` or ``SeekPosition.offset(n)``.
        Records queued for the old position are dropped."""
        self._seek(position)

    def rewind(self) -> None:
        """Back to offset 0."""
        self._seek(SeekPosition.BEGINNING)

    def seek_to_end(self) -> None:
        """To the topic's end: the next poll returns only new records."""
        self._seek(SeekPosition.END)

    async def lag(self) -> int:
        """Bytes between the position and the topic's end (may ask the server, in the executor)."""
        await self._settled()
        return await _run(self._c.lag)

    @property
    def current_offset(self) -> int:
        """The position: just past the last record handed out."""
        return self._c.current_offset

    @property
    def topic_id(self) -> int:
        return self._c.topic_id

    @property
    def topic_name(self) -> Optional[str]:
        return self._c.topic_name

    async def close(self, timeout: Optional[float] = 5.0) -> None:
        """Waits for a seek in progress, then closes (committing when auto-commit is on)."""
        self._closing = True
        try:
            await self._settled()
        finally:
            await _run(self._c.close, timeout)

    @property
    def closed(self) -> bool:
        return self._c.closed

    async def __aenter__(self) -> "AsyncConsumer":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


# The seed client's names for the asyncio classes.
LanceClient = AsyncLanceClient
Producer = AsyncProducer
StandaloneConsumer = AsyncConsumer


# ------------------------------------------------------------------------------------------------
# Consumer groups
# ------------------------------------------------------------------------------------------------

from .group import GroupConsumer as _SyncGroupConsumer  # noqa: E402
from .group import GroupEvent, GroupEventKind, GroupTopic  # noqa: E402

__all__ += ["GroupConsumer", "GroupEvent", "GroupEventKind", "GroupTopic"]

#: How long one poll waits in the executor: a cancelled ``poll`` leaves at most this behind.
_GROUP_POLL_SLICE = 0.2


class GroupConsumer:
    """asyncio :class:`lnc.GroupConsumer`: ``await GroupConsumer.connect(...)`` (same arguments),
    ``await poll()``, ``async for event in consumer``. liblnc's group poll has no eventfd, so
    blocking calls run in the loop's default executor. A ``poll`` cancelled while the executor
    still waits never drops what that wait returns: the next ``poll`` returns it."""

    def __init__(self, consumer: _SyncGroupConsumer) -> None:
        self._c = consumer
        self._pending: Optional[asyncio.Future[List[GroupEvent]]] = None

    @classmethod
    async def connect(cls, servers: str, group_id: str, topics: Optional[Sequence[str]] = None, **kw: Any) -> "GroupConsumer":
        """Joins the group (in the executor: it may create the group topic)."""
        c = await _run(functools.partial(_SyncGroupConsumer, servers, group_id, topics, **kw))
        return cls(c)

    @property
    def sync(self) -> _SyncGroupConsumer:
        """The blocking group consumer underneath."""
        return self._c

    @property
    def member_id(self) -> str:
        return self._c.member_id

    @property
    def closed(self) -> bool:
        return self._c.closed

    async def poll(self, timeout: Optional[float] = None) -> List[GroupEvent]:
        """Awaits events up to ``timeout`` seconds (None = until something is ready); an empty
        list on timeout. Raises :class:`ClosedError` once closed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        loop = asyncio.get_running_loop()
        while True:
            if self._pending is None:
                left = _GROUP_POLL_SLICE if deadline is None else max(0.0, min(_GROUP_POLL_SLICE, deadline - time.monotonic()))
                self._pending = loop.run_in_executor(None, self._c.poll, left)
            pending = self._pending
            try:
                events = await asyncio.shield(pending)
            finally:
                if pending.done():
                    self._pending = None
            if events or (deadline is not None and time.monotonic() >= deadline):
                return events

    def __aiter__(self) -> AsyncIterator[GroupEvent]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[GroupEvent]:
        while True:
            try:
                events = await self.poll(None)
            except ClosedError:
                return
            for ev in events:
                yield ev

    def assignment(self) -> List[GroupTopic]:
        """The topics this member consumes now (does not wait)."""
        return self._c.assignment()

    async def close(self, timeout: Optional[float] = None) -> None:
        """Leaves the group (in the executor); a poll still waiting wakes with ClosedError."""
        pending = self._pending
        if pending is not None:  # its ClosedError is expected: retrieve it so it is never logged
            pending.add_done_callback(lambda f: f.cancelled() or f.exception())
        await _run(self._c.close, timeout)

    async def __aenter__(self) -> "GroupConsumer":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
