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
import ctypes
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
from . import _ffi as F
from ._ffi import lib
from .errors import (
    AccessDeniedError,
    BackpressureError,
    CancelledError,
    CircuitOpenError,
    ClosedError,
    ConnectionError,
    DeliveryFailedError,
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
    make_error,
)
from .events import Event, EventHandler
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
    "CancelledError",
    "CircuitOpenError",
    "ClosedError",
    "DeliveryFailedError",
    "Event",
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

    def __init__(self, config: Union[ClientConfig, str, None] = None, **handlers: Optional[EventHandler]) -> None:
        self._c = _SyncClient(config, **handlers)

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

    async def events(self) -> AsyncIterator[Event]:
        """``async for event in client.events()``: the admin client's events until it closes,
        woken by its eventfd (``loop.add_reader``); the handlers run as well."""
        loop = asyncio.get_running_loop()
        q: "asyncio.Queue[Optional[Event]]" = asyncio.Queue()
        events = self._c._events
        events.sinks.append(q.put_nowait)
        fd = -1

        def readable() -> None:
            try:
                self._c.poll_events(0)
            except ClosedError:
                q.put_nowait(None)

        try:
            self._c.poll_events(0)  # arms the eventfd for events, takes what waits
            fd = self._c.fileno()
            if fd >= 0:
                loop.add_reader(fd, readable)
            while True:
                ev = await q.get()
                if ev is None:
                    return
                yield ev
        finally:
            if fd >= 0:
                loop.remove_reader(fd)
            events.sinks.remove(q.put_nowait)

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


async def _events_from(events: Any, start: Callable[[], None]) -> AsyncIterator[Event]:
    """Yields the events ``events`` (a handle's :class:`lnc.events.Events`) hands to its sinks
    until the handle closes; ``start`` arms the eventfd and takes what already waits."""
    q: "asyncio.Queue[Optional[Event]]" = asyncio.Queue()
    sink = q.put_nowait
    events.sinks.append(sink)
    try:
        start()
        while True:
            ev = await q.get()
            if ev is None:
                return
            yield ev
    finally:
        events.sinks.remove(sink)


class AsyncProducer:
    """The seed's ``Producer`` over the sync :class:`lnc.Producer` (bulk mode).

    Reports and events are taken when liblnc's eventfd becomes readable (``loop.add_reader``):
    they resolve the futures of ``send``/``send_batch``/``send_future``, run ``callback``s and
    the event handlers on the loop thread. A full buffer never blocks the loop: the send first
    tries without waiting, then waits in liblnc (``send.block``/``send.timeout.ms`` or the
    call's ``timeout``) in the default executor; cancelling the awaiting task fires the call's
    cancellation token, and nothing is queued.
    """

    def __init__(
        self,
        servers: Optional[str] = None,
        config: Optional[ProducerConfig] = None,
        *,
        on_connected: Optional[EventHandler] = None,
        on_disconnected: Optional[EventHandler] = None,
        on_error: Optional[EventHandler] = None,
        on_event: Optional[EventHandler] = None,
    ) -> None:
        self._p = _SyncProducer(
            servers,
            config,
            on_connected=on_connected,
            on_disconnected=on_disconnected,
            on_error=on_error,
            on_event=on_event,
        )
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._fd = self._p.fileno()

    @classmethod
    async def connect(
        cls, address: str, config: Optional[ProducerConfig] = None, **handlers: Optional[EventHandler]
    ) -> "AsyncProducer":
        """The seed's constructor: a producer for ``address`` ("host:port"); ``handlers`` are
        ``on_connected=`` ... (see :mod:`lnc.events`)."""
        p = cls(address, config, **handlers)  # type: ignore[arg-type]  # on_* keywords only
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
        try:
            p._serve_events()
        except BaseException as e:  # noqa: BLE001 - a handler's exception: raised by flush/close
            p._core.cb_errors.append(e)

    def events(self) -> AsyncIterator[Event]:
        """``async for event in producer.events()``: the producer's events, until it closes
        (woken by the eventfd; the handlers run as well)."""
        self._attach()
        return _events_from(self._p._events, self._on_readable)

    async def resolve_topic(self, topic: Topic) -> int:
        """Topic id of ``topic`` (a name is resolved by liblnc, in the executor; see
        :meth:`lnc.Producer.resolve_topic`)."""
        if isinstance(topic, int):
            return topic
        tid = self._p._topic_ids.get(topic)
        if tid is None:
            tid = await _run(self._p.resolve_topic, topic)
        return tid

    async def _submit(self, tid: int, arr: Any, n: int, oids: List[int], timeout: Optional[float]) -> None:
        """Queues ``arr`` atomically: first without waiting; on a full buffer, when the call may
        wait, once more waiting in liblnc in the executor while the loop serves reports."""
        p = self._p
        err = ctypes.c_void_p()
        rc = p._try_send(tid, arr, n, err)
        if rc == F.LNC_ERR_QUEUE_FULL and p._may_wait(timeout):
            lib.lnc_error_free(err.value)
            err.value = None
            rc = await self._send_waiting(tid, arr, n, p._wait_ms(timeout), err, oids)
        if rc:
            p._core.forget(oids)
            if rc == F.LNC_ERR_CLOSED:
                lib.lnc_error_free(err.value)
                raise ClosedError("producer is closed")
            raise make_error(rc, err.value)
        p._sent += n

    async def _send_waiting(self, tid: int, arr: Any, n: int, timeout_ms: int, err: ctypes.c_void_p, oids: List[int]) -> int:
        p = self._p
        token = lib.lnc_cancel_new()
        if not token:
            raise MemoryError("lnc_cancel_new")

        def call() -> int:
            try:
                ptr = p._handle.acquire()
            except ClosedError:
                return F.LNC_ERR_CLOSED
            try:
                return p._send_waiting(ptr, tid, arr, n, timeout_ms, token, err)
            finally:
                p._handle.release()

        fut = asyncio.get_running_loop().run_in_executor(None, call)
        try:
            return await asyncio.shield(fut)
        except BaseException:
            # Cancelled while liblnc waits: fire the token; the call returns CANCELLED promptly.
            lib.lnc_cancel_fire(token)

            def abandon(f: "asyncio.Future[int]") -> None:
                if f.cancelled() or f.exception() is not None:
                    return
                if f.result():
                    lib.lnc_error_free(err.value)
                    p._core.forget(oids)
                else:
                    p._sent += n

            fut.add_done_callback(abandon)
            raise
        finally:
            fut.add_done_callback(lambda _f: lib.lnc_cancel_free(token))

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
        timeout: Optional[float],
    ) -> Any:
        """Queues one record: the sync producer's ``send_async`` without waiting (its one-call
        fast path), and on a full buffer, when the call may wait, a send waiting in the
        executor. Returns the send number (or the future given)."""
        t = topic_arg(topic, topic_id)
        tid = t if t.__class__ is int else await self.resolve_topic(t)
        self._attach()
        p = self._p
        try:
            return p.send_async(
                tid, data, record_type=record_type, key=key, timestamp_ns=timestamp_ns, ext_type=ext_type,
                callback=callback, future=future if future is not None else False, timeout=0,
            )
        except BackpressureError as e:
            if e.code != F.LNC_ERR_QUEUE_FULL or not p._may_wait(timeout):
                raise
        arr, oids = p._messages([data], [future] if future is not None else None, callback, record_type, key, timestamp_ns, ext_type)
        await self._submit(tid, arr, 1, oids, timeout)
        return next(p._seq) if future is None else future

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
        ``timestamp_ns`` is given. Raises the record's error. The wait for buffer space follows
        the configuration; ``timeout`` bounds the wait for the acknowledgement.
        """
        loop = self._attach()
        fut: asyncio.Future[DeliveryReport] = loop.create_future()
        await self._queue(topic, topic_id, data, record_type, key, timestamp_ns, ext_type, fut, None, -1.0)
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
        timeout: Optional[float] = -1.0,
    ) -> int:
        """Queues one record without waiting for its acknowledgement (pipelined).

        Returns its send number (1, 2, ... per producer; see the README: liblnc forms batches
        after this call, so the wire batch id is known only from the record's report).
        ``callback(report)`` later runs on the loop thread; without it a failure is counted by
        liblnc and raised by ``flush()``/``close()`` as ``DeliveryFailedError``. ``timeout``
        bounds the wait for buffer space (< 0 = the configuration, 0 = never, None = no limit).
        """
        return int(await self._queue(topic, topic_id, data, record_type, key, timestamp_ns, ext_type, None, callback, timeout))

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
        timeout: Optional[float] = -1.0,
    ) -> "asyncio.Future[DeliveryReport]":
        """Queues one record; returns an asyncio future resolving to its DeliveryReport."""
        loop = self._attach()
        fut: asyncio.Future[DeliveryReport] = loop.create_future()
        await self._queue(topic, topic_id, data, record_type, key, timestamp_ns, ext_type, fut, None, timeout)
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
        arr, oids = self._p._messages(recs, futs or None, None)
        await self._submit(tid, arr, len(recs), oids, -1.0)
        if not wait:
            return None
        self._p._flush_slice(0)
        done, pending = await asyncio.wait(futs, timeout=timeout)
        if pending:
            raise TimeoutError(f"send_batch: {len(pending)} of {len(futs)} records unacknowledged after {timeout} s")
        return max(f.result().batch_id for f in futs)

    async def flush(self, timeout: Optional[float] = 30.0) -> None:
        """Awaits a report for every record; raises ``TimeoutError`` if some are missing after
        ``timeout`` seconds, and ``DeliveryFailedError`` for failed fire-and-forget records."""
        self._attach()
        deadline = None if timeout is None else time.monotonic() + timeout
        failed: Optional[LanceError] = None
        while True:
            remaining, failed = self._p._flush_slice(0)
            self._on_readable()
            self._p._core.raise_cb_errors()
            if remaining == 0:
                break
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError(f"flush: {remaining} records still without a delivery report")
            await asyncio.sleep(0.02 if left is None else min(left, 0.02))
        if failed is not None:
            raise failed

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
        self._waiters: "set[asyncio.Future[None]]" = set()
        self._reader_fd = -1

    @classmethod
    async def connect(
        cls,
        address: str,
        config: StandaloneConfig,
        offset_store: StoreArg = None,
        *,
        timeout: Optional[float] = -1.0,
        **handlers: Optional[EventHandler],
    ) -> "AsyncConsumer":
        """Creates the consumer (topic resolution and offset load run in the executor, within
        ``timeout`` seconds, < 0 = ``request.timeout.ms``); ``handlers`` are ``on_connected=``
        ... (see :mod:`lnc.events`), run on the loop thread inside ``poll``."""
        c = await _run(functools.partial(_SyncConsumer, address, config, offset_store, timeout=timeout, **handlers))
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
        """Waits until the consumer's eventfd is readable (records, an error, or events). One
        reader serves every waiter (poll and ``events()`` may wait at once)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        if not self._waiters:
            self._reader_fd = self._c.fileno()
            loop.add_reader(self._reader_fd, self._wake_waiters)
        self._waiters.add(fut)
        try:
            await asyncio.wait({fut}, timeout=timeout)
        finally:
            self._waiters.discard(fut)
            if not self._waiters:
                loop.remove_reader(self._reader_fd)

    def _wake_waiters(self) -> None:
        for f in list(self._waiters):
            if not f.done():
                f.set_result(None)

    def _take_events(self) -> None:
        try:
            self._c.poll_events(0)
        except ClosedError:
            pass

    async def events(self) -> AsyncIterator[Event]:
        """``async for event in consumer.events()``: the consumer's events until it closes,
        woken by its eventfd (the handlers run as well)."""
        q: "asyncio.Queue[Optional[Event]]" = asyncio.Queue()
        events = self._c._events
        events.sinks.append(q.put_nowait)
        try:
            while True:
                self._take_events()
                while not q.empty():
                    ev = q.get_nowait()
                    if ev is None:
                        return
                    yield ev
                if self._c.closed:
                    return
                await self._readable(None)
                if q.empty():
                    self._take_events()
                    if q.empty():
                        # Woken by records waiting for poll (the fd stays readable while they
                        # do): let the poller take them rather than spin.
                        await asyncio.sleep(0.05)
        finally:
            events.sinks.remove(q.put_nowait)

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

    async def commit(self, *, timeout: Optional[float] = -1.0) -> int:
        """Stores the position in the offset store; returns the committed offset (waits up to
        ``timeout`` seconds for a commit running elsewhere, < 0 = ``request.timeout.ms``)."""
        await self._settled()
        return await _run(functools.partial(self._c.commit, timeout=timeout))

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

    async def lag(self, *, timeout: Optional[float] = -1.0) -> int:
        """Bytes between the position and the topic's end (may ask the server, in the executor,
        within ``timeout`` seconds, < 0 = ``request.timeout.ms``)."""
        await self._settled()
        return await _run(functools.partial(self._c.lag, timeout=timeout))

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
