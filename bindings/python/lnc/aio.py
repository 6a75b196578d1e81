"""asyncio API: ``AsyncProducer``, ``AsyncConsumer``, ``AsyncLanceClient``.

Producers and consumers are driven by liblnc's eventfd through ``loop.add_reader``: no extra
thread, reports and records are taken on the event loop's thread without blocking it. Admin
calls (which have no eventfd) run in the loop's default executor.

The seed client is asyncio-only; its names are available here too, so code written for it reads
``from lnc.aio import LanceClient, Producer, StandaloneConsumer`` and keeps its ``await``s.
"""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Any, AsyncIterator, Callable, List, Optional, Sequence, TypeVar, Union

from . import _ffi as F
from .client import FetchResult
from .client import LanceClient as _SyncClient
from .config import ClientConfig, ClusterStatus, ProducerConfig, SeekTarget, StandaloneConfig, TopicInfo
from .consumer import StandaloneConsumer as _SyncConsumer
from .consumer import StoreArg
from .errors import BackpressureError, ClosedError, TimeoutError
from .producer import DeliveryCallback, DeliveryReport, ProducerMetrics
from .producer import Producer as _SyncProducer
from .records import PollResult, TlvRecord

__all__ = [
    "AsyncProducer",
    "AsyncConsumer",
    "AsyncLanceClient",
    "Producer",
    "StandaloneConsumer",
    "LanceClient",
]

T = TypeVar("T")
Bytes = Union[bytes, bytearray, memoryview]
Topic = Union[int, str]


async def _run(fn: Callable[..., T], *args: Any) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, functools.partial(fn, *args))


class AsyncLanceClient:
    """``LanceClient`` with ``async`` methods (each call runs in the default executor)."""

    def __init__(self, config: Union[ClientConfig, str, None] = None, **kwargs: Any) -> None:
        self._c = _SyncClient(config, **kwargs)

    @property
    def sync(self) -> _SyncClient:
        return self._c

    async def connect(self) -> "AsyncLanceClient":
        await _run(self._c.ping)
        return self

    async def close(self) -> None:
        self._c.close()

    async def __aenter__(self) -> "AsyncLanceClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def create_topic(self, name: str) -> TopicInfo:
        return await _run(self._c.create_topic, name)

    async def create_topic_once(self, name: str) -> TopicInfo:
        return await _run(self._c.create_topic_once, name)

    async def ensure_topic(self, name: str, max_attempts: int = 20, base_backoff_ms: int = 500) -> TopicInfo:
        return await _run(self._c.ensure_topic, name, max_attempts, base_backoff_ms)

    async def ensure_topic_default(self, name: str) -> TopicInfo:
        return await _run(self._c.ensure_topic_default, name)

    async def resolve_topic_id(self, name: str) -> int:
        return await _run(self._c.resolve_topic_id, name)

    async def create_topic_with_retention(self, name: str, max_age_secs: Optional[int] = None, max_bytes: Optional[int] = None) -> TopicInfo:
        return await _run(self._c.create_topic_with_retention, name, max_age_secs, max_bytes)

    async def list_topics(self) -> List[TopicInfo]:
        return await _run(self._c.list_topics)

    async def get_topic(self, topic_id: int) -> TopicInfo:
        return await _run(self._c.get_topic, topic_id)

    async def get_topic_by_name(self, name: str) -> TopicInfo:
        return await _run(self._c.get_topic_by_name, name)

    async def delete_topic(self, topic_id: int) -> None:
        await _run(self._c.delete_topic, topic_id)

    async def set_retention(self, topic_id: int, max_age_secs: Optional[int] = None, max_bytes: Optional[int] = None) -> None:
        await _run(self._c.set_retention, topic_id, max_age_secs, max_bytes)

    async def ping(self) -> float:
        return await _run(self._c.ping)

    async def cluster_status(self) -> ClusterStatus:
        return await _run(self._c.cluster_status)

    async def authenticate(self, token: str) -> None:
        await _run(self._c.authenticate, token)

    async def fetch(self, topic_id: int, start_offset: int = 0, max_bytes: int = 1 << 20) -> FetchResult:
        return await _run(self._c.fetch, topic_id, start_offset, max_bytes)

    async def subscribe(self, topic_id: int, start_offset: int, max_batch_bytes: int, consumer_id: int) -> int:
        return await _run(self._c.subscribe, topic_id, start_offset, max_batch_bytes, consumer_id)

    async def unsubscribe(self, topic_id: int, consumer_id: int) -> None:
        await _run(self._c.unsubscribe, topic_id, consumer_id)

    async def commit_offset(self, topic_id: int, consumer_id: int, offset: int) -> None:
        await _run(self._c.commit_offset, topic_id, consumer_id, offset)


class AsyncProducer:
    """An asyncio producer over the sync :class:`lnc.Producer` in bulk mode.

    Reports are taken when liblnc's eventfd becomes readable (``loop.add_reader``) and resolve
    the asyncio futures of ``send``/``send_future`` and run ``callback``s on the loop thread.
    A full buffer never blocks the loop: ``send_async`` awaits reports and retries (up to
    ``send.timeout.ms``), then raises ``BackpressureError``.
    """

    def __init__(self, servers: Optional[str] = None, config: Optional[ProducerConfig] = None) -> None:
        cfg = config or ProducerConfig()
        self._send_timeout_s = int(cfg.get("send.timeout.ms")) / 1000
        self._block = cfg.get("send.block") == "true"
        nb = ProducerConfig()
        nb.options.update(cfg.options)
        nb.options["send.block"] = "false"
        self._p = _SyncProducer(servers, nb)
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._fd = self._p.fileno()
        self._event: Optional[asyncio.Event] = None

    @classmethod
    async def connect(cls, address: str, config: Optional[ProducerConfig] = None) -> "AsyncProducer":
        p = cls(address, config)
        p._attach()
        return p

    @property
    def sync(self) -> _SyncProducer:
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

    def _raise_pending(self) -> None:
        self._p._core.raise_cb_errors()

    async def resolve_topic(self, topic: Topic) -> int:
        if isinstance(topic, int):
            return topic
        tid = self._p._topics.get(topic)
        if tid is None:
            tid = await _run(self._p.resolve_topic, topic)
        return tid

    async def _send(self, topic: Topic, data: Any, future: Any, callback: Optional[DeliveryCallback], kw: dict) -> None:
        self._attach()
        tid = topic if topic.__class__ is int else await self.resolve_topic(topic)
        try:
            self._p.send_async(tid, data, future=future, callback=callback, **kw)
            return
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
                self._p.send_async(tid, data, future=future, callback=callback, **kw)
                return
            except BackpressureError:
                continue

    async def send_async(
        self,
        topic: Topic,
        data: Union[Bytes, TlvRecord] = b"",
        *,
        callback: Optional[DeliveryCallback] = None,
        **kw: Any,
    ) -> None:
        """Queues one record (keyword arguments as ``Producer.send_async``); returns once it is
        accepted. ``callback(report)`` later runs on the loop thread; without it a failure is
        kept for ``flush()``/``close()`` to raise."""
        await self._send(topic, data, None, callback, kw)

    async def send_future(self, topic: Topic, data: Union[Bytes, TlvRecord] = b"", **kw: Any) -> "asyncio.Future[DeliveryReport]":
        """Queues one record; returns an asyncio future resolving to its DeliveryReport."""
        loop = self._attach()
        fut: asyncio.Future[DeliveryReport] = loop.create_future()
        await self._send(topic, data, fut, None, kw)
        return fut

    async def send(self, topic: Topic, data: Union[Bytes, TlvRecord] = b"", *, timeout: Optional[float] = 30.0, **kw: Any) -> int:
        """Sends one record and waits for its acknowledgement; returns the batch id."""
        fut = await self.send_future(topic, data, **kw)
        self._p._flush_slice(0)
        try:
            rep = await asyncio.wait_for(asyncio.shield(fut), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"no acknowledgement within {timeout} s (the record may still be delivered)") from None
        return rep.batch_id

    async def send_batch(self, topic: Topic, records: Sequence[Union[TlvRecord, Bytes]], *, wait: bool = True, timeout: Optional[float] = 30.0) -> Optional[int]:
        """Queues the records (one by one, in order); with ``wait`` awaits every acknowledgement
        and returns the last batch id (raising the first failure)."""
        loop = self._attach()
        futs: List[asyncio.Future[DeliveryReport]] = []
        for r in records:
            if wait:
                f: asyncio.Future[DeliveryReport] = loop.create_future()
                await self._send(topic, r, f, None, {})
                futs.append(f)
            else:
                await self._send(topic, r, None, None, {})
        if not wait:
            return None
        self._p._flush_slice(0)
        try:
            reps = await asyncio.wait_for(asyncio.gather(*futs), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError("send_batch: records unacknowledged at the timeout") from None
        return max((r.batch_id for r in reps), default=0)

    async def flush(self, timeout: Optional[float] = 30.0) -> None:
        """Awaits a report for every record (raising as ``Producer.flush``)."""
        self._attach()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = self._p._flush_slice(0)
            self._on_readable()
            self._raise_pending()
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
    def stats(self) -> dict:
        return self._p.stats

    @property
    def closed(self) -> bool:
        return self._p.closed


class AsyncConsumer:
    """An asyncio consumer: ``await poll()`` and ``async for record in consumer``, woken by
    liblnc's eventfd through ``loop.add_reader``."""

    def __init__(self, consumer: _SyncConsumer) -> None:
        self._c = consumer

    @classmethod
    async def connect(cls, address: str, config: StandaloneConfig, offset_store: StoreArg = None) -> "AsyncConsumer":
        """Creates the consumer (topic resolution and offset load run in the executor)."""
        c = await _run(_SyncConsumer, address, config, offset_store)
        return cls(c)

    @property
    def sync(self) -> _SyncConsumer:
        return self._c

    async def _readable(self, timeout: Optional[float]) -> None:
        loop = asyncio.get_running_loop()
        fd = self._c.fileno()
        fut: asyncio.Future[None] = loop.create_future()

        def ready() -> None:
            if not fut.done():
                fut.set_result(None)

        loop.add_reader(fd, ready)
        try:
            await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            loop.remove_reader(fd)

    async def poll(self, timeout: Optional[float] = -1.0) -> Optional[PollResult]:
        """Awaits records up to ``timeout`` seconds (default: the config's poll timeout; None =
        until records arrive); None on timeout."""
        if timeout is not None and timeout < 0:
            timeout = self._c._poll_timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            r = self._c.poll(0)
            if r is not None:
                return r
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            await self._readable(left)

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
        return await _run(self._c.commit)

    async def seek(self, offset: int) -> int:
        return await _run(self._c.seek, offset)

    async def seek_to(self, position: SeekTarget) -> int:
        return await _run(self._c.seek_to, position)

    async def rewind(self) -> int:
        return await _run(self._c.rewind)

    async def seek_to_end(self) -> int:
        return await _run(self._c.seek_to_end)

    async def lag(self) -> int:
        return await _run(self._c.lag)

    @property
    def current_offset(self) -> int:
        return self._c.current_offset

    @property
    def topic_id(self) -> int:
        return self._c.topic_id

    async def close(self, timeout: Optional[float] = 5.0) -> None:
        await _run(self._c.close, timeout)

    @property
    def closed(self) -> bool:
        return self._c.closed

    async def __aenter__(self) -> "AsyncConsumer":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


# Seed-compatible names for asyncio code.
LanceClient = AsyncLanceClient  # type: ignore[misc]
Producer = AsyncProducer  # type: ignore[misc]
StandaloneConsumer = AsyncConsumer  # type: ignore[misc]
