"""``StandaloneConsumer`` (seed names, sync API) and the offset stores."""

from __future__ import annotations

import abc
import ctypes
import inspect
import weakref
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional, Union

from . import _ffi as F
from ._ffi import lib
from ._util import Deadline, Handle, ms_arg, to_ms
from .client import LanceClient, build_conf
from .config import CONNECTION_KEYS, ClientConfig, SeekPosition, SeekTarget, StandaloneConfig
from .errors import ClosedError, InvalidArgumentError, make_error
from .events import Event, EventHandler, Events, iterate_events
from .records import PollResult, TlvRecord, _VIEW, _from_view, records_from_views

__all__ = ["StandaloneConsumer", "OffsetStore", "FileOffsetStore", "MemoryOffsetStore"]


class OffsetStore(abc.ABC):
    """A user offset store: subclass and implement ``load``/``save`` (synchronous).

    liblnc calls them (through ``lnc_consumer_new_with_store``) when the consumer starts
    (``load``) and on ``commit``, auto-commit inside ``poll`` and ``close`` (``save``), always on
    the thread making that call. Offsets are byte positions on record boundaries. An exception
    raised here is re-raised from the consumer call that triggered it.
    """

    @abc.abstractmethod
    def load(self, consumer_name: str, topic_id: int, *, topic_name: Optional[str] = None) -> Optional[int]:
        """The stored offset, or None."""

    @abc.abstractmethod
    def save(self, consumer_name: str, topic_id: int, offset: int, *, topic_name: Optional[str] = None) -> None:
        """Persists ``offset``."""

    def delete(self, consumer_name: str, topic_id: int, *, topic_name: Optional[str] = None) -> None:
        """Optional: removes a stored offset."""


class FileOffsetStore:
    """liblnc's file store: ``<base_dir>/<consumer_name>/topic-<id>-consumer-<cid>.offset`` with a
    lock file, fsync and rename (byte-compatible with the official Rust client's store; NOT the
    seed Python client's JSON files). Requires a ``consumer_name``."""

    def __init__(self, base_dir: Union[str, Path]) -> None:
        self.base_dir = Path(base_dir)

    def __repr__(self) -> str:
        return f"FileOffsetStore({str(self.base_dir)!r})"


class MemoryOffsetStore:
    """liblnc's memory store: commits live as long as the consumer (useful for ``seek``-driven
    consumers and tests). Unlike the seed's, it is not shared between consumer objects; subclass
    :class:`OffsetStore` for a store of your own."""

    def __repr__(self) -> str:
        return "MemoryOffsetStore()"


StoreArg = Union[OffsetStore, FileOffsetStore, MemoryOffsetStore, None]


def _synchronous(result: Any, method: str) -> Any:
    """Refuses an ``async def`` store method (the seed's stores are async) instead of storing
    nothing: liblnc calls the store from inside commit/poll/close, where nothing can await."""
    if inspect.isawaitable(result):
        close = getattr(result, "close", None)
        if close is not None:
            close()  # no "never awaited" warning on top of the error
        raise TypeError(
            f"OffsetStore.{method} must be a plain (synchronous) method in lnc: liblnc calls it from inside "
            "commit/poll/close, where it cannot be awaited; define it with 'def', not 'async def'"
        )
    return result


class _StoreBridge:
    """ctypes callbacks for a user OffsetStore; never references the consumer."""

    def __init__(self, store: OffsetStore, consumer_name: str, topic_name: Optional[str]) -> None:
        self.store = store
        self.name = consumer_name
        self.topic_name = topic_name
        self.errors: List[BaseException] = []
        self.load_cb = F.lnc_offset_load_cb(self._load)
        self.save_cb = F.lnc_offset_save_cb(self._save)

    def _load(self, topic_id: int, out: Any, _opaque: Any) -> int:
        try:
            v = _synchronous(self.store.load(self.name, topic_id, topic_name=self.topic_name), "load")
            if v is None:
                return 0
            out[0] = int(v)
            return 1
        except BaseException as e:  # noqa: BLE001 - re-raised by the consumer call
            self.errors.append(e)
            return -1

    def _save(self, topic_id: int, offset: int, _opaque: Any) -> int:
        try:
            _synchronous(self.store.save(self.name, topic_id, offset, topic_name=self.topic_name), "save")
            return 0
        except BaseException as e:  # noqa: BLE001
            self.errors.append(e)
            return -1

    def reraise(self, cause: Optional[BaseException] = None) -> None:
        if self.errors:
            errs, self.errors = self.errors, []
            raise errs[0] from cause


class _RecordBridge:
    """The ``lnc_record_cb`` of ``poll_each``; never references the consumer."""

    def __init__(self) -> None:
        self.user: Optional[Callable[[TlvRecord], Any]] = None
        self.errors: List[BaseException] = []
        self.cfunc = F.lnc_record_cb(self._on_record)

    def _on_record(self, view_ptr: Any, _opaque: Any) -> None:
        try:
            rec = _from_view(_VIEW.unpack(ctypes.string_at(view_ptr, _VIEW.size)))
            if self.user is not None:
                self.user(rec)
        except BaseException as e:  # noqa: BLE001 - re-raised by poll_each
            self.errors.append(e)


def _consumer_free(ptr: int) -> None:
    lib.lnc_consumer_free(ptr)


def _seek_args(position: SeekTarget) -> tuple[int, int]:
    if position is SeekPosition.BEGINNING:
        return F.LNC_SEEK_BEGINNING, 0
    if position is SeekPosition.END:
        return F.LNC_SEEK_END, 0
    if isinstance(position, tuple) and len(position) == 2 and position[0] == "offset":
        return F.LNC_SEEK_OFFSET, int(position[1])
    if isinstance(position, int):
        return F.LNC_SEEK_OFFSET, position
    raise InvalidArgumentError(f"not a seek position: {position!r}")


def seek_asks_server(position: SeekTarget) -> bool:
    """Whether seeking to ``position`` needs the topic's tail from the server (END, or the
    u64::MAX offset that means it); any other seek only moves the position."""
    whence, off = _seek_args(position)
    return whence == F.LNC_SEEK_END or off == 2**64 - 1


class StandaloneConsumer:
    """A consumer of one topic with client-side offsets (liblnc fetches ahead on its own thread).

    ``StandaloneConsumer("host:port", StandaloneConfig("my-app", topic_name="events"))`` or the
    seed's ``StandaloneConsumer.connect(address, config, offset_store=None)``. Iterate it
    (``for record in consumer``) or ``poll()`` batches; ``commit()`` stores the position.

    ``timeout`` (seconds; < 0 = ``request.timeout.ms``, None = no limit) bounds the server calls
    of the construction (topic resolution, stored offset, the tail for ``start.offset=end``);
    ``seek_to``, ``commit`` and ``lag`` take their own ``timeout=`` the same way. Connection
    events go to the handler keywords ``on_connected``, ``on_disconnected``, ``on_error`` and
    ``on_event`` (see :mod:`lnc.events`), run inside ``poll`` on the calling thread.
    """

    def __init__(
        self,
        servers: str,
        config: StandaloneConfig,
        offset_store: StoreArg = None,
        *,
        timeout: Optional[float] = -1.0,
        on_connected: Optional[EventHandler] = None,
        on_disconnected: Optional[EventHandler] = None,
        on_error: Optional[EventHandler] = None,
        on_event: Optional[EventHandler] = None,
    ) -> None:
        self._config = config
        self._servers = servers
        self._closed = True
        self._events = Events(
            lib.lnc_consumer_poll_events,
            on_connected=on_connected,
            on_disconnected=on_disconnected,
            on_error=on_error,
            on_event=on_event,
        )
        timeout_ms = ms_arg(timeout)
        topic_id = config.topic_id
        if not topic_id and config.topic_name:
            # Seed semantics: the name is resolved with ensure_topic (created if missing).
            cc = ClientConfig(servers=servers)
            cc.options.update({k: v for k, v in config.options.items() if k in CONNECTION_KEYS})
            with LanceClient(cc) as admin:
                topic_id = admin.ensure_topic(config.topic_name).id
            config.topic_id = topic_id
        conf = build_conf(servers, config)
        self._bridge: Optional[_StoreBridge] = None
        try:
            if topic_id:
                conf.set("topic.id", topic_id)
            elif "topic" not in config.options and "topic.id" not in config.options:
                raise InvalidArgumentError("StandaloneConfig needs topic_id or topic_name")
            if config.consumer_name:
                conf.set("consumer.name", config.consumer_name)
            if isinstance(offset_store, FileOffsetStore):
                conf.set("offset.dir", str(offset_store.base_dir))
                conf.set("offset.store", "file")
            elif isinstance(offset_store, MemoryOffsetStore):
                conf.set("offset.store", "memory")
            elif isinstance(offset_store, OffsetStore):
                self._bridge = _StoreBridge(offset_store, config.consumer_name, config.topic_name)
            elif offset_store is not None:
                raise InvalidArgumentError(f"not an offset store: {offset_store!r}")
        except BaseException:
            conf.free()
            raise
        bridge = self._bridge
        cptr = conf.ptr
        err = ctypes.c_void_p()

        def create() -> tuple[int, int]:
            out = ctypes.c_void_p()
            if bridge is not None:
                rc = lib.lnc_consumer_new_with_store(
                    cptr, bridge.load_cb, bridge.save_cb, None, timeout_ms, ctypes.byref(out), ctypes.byref(err)
                )
            else:
                rc = lib.lnc_consumer_new(cptr, timeout_ms, ctypes.byref(out), ctypes.byref(err))
            return rc, out.value or 0

        def abandon(result: tuple[int, int]) -> None:
            rc, ptr = result
            if rc == 0:
                lib.lnc_consumer_free(ptr)
            else:
                conf.free()
                lib.lnc_error_free(err.value)

        from ._util import interruptible

        rc, ptr = interruptible(create, abandon)
        if rc:
            conf.free()
            e = make_error(rc, err.value)
            if bridge is not None:
                bridge.reraise(e)
            raise e
        conf.take()
        self._handle = Handle(ptr, _consumer_free, keep=bridge)
        self._finalizer = weakref.finalize(self, self._handle)
        self._ptr = ptr
        self._closed = False
        self._poll_timeout = config.poll_timeout_s
        self._rec = _RecordBridge()
        self._handle.keep = (bridge, self._rec)

    @classmethod
    def connect(
        cls,
        address: str,
        config: StandaloneConfig,
        offset_store: StoreArg = None,
        *,
        timeout: Optional[float] = -1.0,
        **handlers: Optional[EventHandler],
    ) -> "StandaloneConsumer":
        """Seed-style constructor (``timeout`` and the handlers as for the class)."""
        return cls(address, config, offset_store, timeout=timeout, **handlers)

    # ------------------------------------------------------------------------------------------

    def _p(self) -> int:
        p = self._handle.ptr
        if not p or self._closed:
            raise ClosedError("consumer is closed")
        return p

    def _raise(self, rc: int, err: Optional[ctypes.c_void_p] = None) -> None:
        e = make_error(rc, err.value if err is not None else None)
        if self._bridge is not None:
            self._bridge.reraise(e)
        raise e

    @property
    def topic_id(self) -> int:
        return int(lib.lnc_consumer_topic_id(self._p()))

    @property
    def topic_name(self) -> Optional[str]:
        return self._config.topic_name

    @property
    def consumer_name(self) -> str:
        return self._config.consumer_name

    @property
    def current_offset(self) -> int:
        """The position: just past the last record handed out."""
        pos = ctypes.c_uint64()
        rc = lib.lnc_consumer_position(self._p(), ctypes.byref(pos))
        if rc:
            self._raise(rc)
        return pos.value

    position = current_offset

    # ------------------------------------------------------------------------------------------
    # polling
    # ------------------------------------------------------------------------------------------

    def poll(self, timeout: Optional[float] = -1.0) -> Optional[PollResult]:
        """Waits up to ``timeout`` seconds (default: the config's poll timeout, 0.1 s; None =
        until records arrive) for records; returns a :class:`PollResult`, or None on timeout.
        Errors the consumer met (OffsetOutOfRangeError, CorruptRecordError, ...) are raised
        after every record preceding them was returned."""
        p = self._enter()
        try:
            return self._poll(p, timeout)
        finally:
            self._handle.release()

    def _enter(self) -> int:
        """Marks a call in flight: a concurrent close() frees the handle only after it."""
        if self._closed:
            raise ClosedError("consumer is closed")
        try:
            return self._handle.acquire()
        except ClosedError:
            raise ClosedError("consumer is closed") from None

    def _poll(self, p: int, timeout: Optional[float]) -> Optional[PollResult]:
        if timeout is not None and timeout < 0:
            timeout = self._poll_timeout
        dl = Deadline(timeout)
        recs = ctypes.c_void_p()
        err = ctypes.c_void_p()
        start = self.current_offset
        while True:
            self._serve_events(p)
            rc = lib.lnc_consumer_poll(p, dl.slice_ms(), ctypes.byref(recs), ctypes.byref(err))
            if rc:
                self._raise(rc, err)
            if self._bridge is not None and self._bridge.errors:
                lib.lnc_records_free(recs.value)
                self._bridge.reraise()
            if recs.value:
                try:
                    n = lib.lnc_records_count(recs.value)
                    if n:
                        records = records_from_views(lib.lnc_records_views(recs.value), n)
                    else:
                        records = []
                finally:
                    lib.lnc_records_free(recs.value)
                    recs.value = None
                if records:
                    end = self.current_offset
                    if records[0].offset is not None and records[0].offset < start:
                        start = records[0].offset
                    return PollResult(records, start, end, lag_fn=self._lag_at)
            if dl.expired():
                return None

    def poll_each(self, callback: Callable[[TlvRecord], Any], timeout: Optional[float] = -1.0, max_records: int = 0) -> int:
        """Calls ``callback(record)`` for up to ``max_records`` records (0 = max.poll.records)
        through ``lnc_consumer_poll_cb``, waiting up to ``timeout`` for the first; returns how
        many. ``close()`` inside the callback raises ``InCallbackError`` (liblnc's rule); an
        exception from the callback is re-raised here."""
        p = self._enter()
        try:
            return self._poll_each(p, callback, timeout, max_records)
        finally:
            self._handle.release()

    def _poll_each(self, p: int, callback: Callable[[TlvRecord], Any], timeout: Optional[float], max_records: int) -> int:
        if timeout is not None and timeout < 0:
            timeout = self._poll_timeout
        dl = Deadline(timeout)
        count = ctypes.c_size_t()
        err = ctypes.c_void_p()
        rb = self._rec
        rb.user = callback
        try:
            while True:
                self._serve_events(p)
                rc = lib.lnc_consumer_poll_cb(p, dl.slice_ms(), max_records, rb.cfunc, None, ctypes.byref(count), ctypes.byref(err))
                if rb.errors:
                    errs, rb.errors = rb.errors, []
                    if rc:
                        lib.lnc_error_free(err.value)
                    raise errs[0]
                if rc:
                    self._raise(rc, err)
                if count.value or dl.expired():
                    return count.value
        finally:
            rb.user = None

    def __iter__(self) -> Iterator[TlvRecord]:
        """Yields records until the consumer is closed (Ctrl-C interrupts the wait)."""
        while not self._closed:
            try:
                r = self.poll(None if self._poll_timeout is None else max(self._poll_timeout, 0.1))
            except ClosedError:
                if self._closed:  # closed by another thread while waiting
                    return
                raise
            if r is not None:
                yield from r.records

    def records(self, timeout: Optional[float] = None) -> Iterator[TlvRecord]:
        """Yields records until none arrives for ``timeout`` seconds (None = forever)."""
        while not self._closed:
            r = self.poll(timeout)
            if r is None:
                return
            yield from r.records

    # ------------------------------------------------------------------------------------------
    # positions
    # ------------------------------------------------------------------------------------------

    def seek(self, offset: int) -> int:
        """Moves to byte ``offset`` (a record boundary, e.g. a record's ``offset``); returns it."""
        return self.seek_to(SeekPosition.offset(offset))

    def seek_to(self, position: SeekTarget, *, timeout: Optional[float] = -1.0) -> int:
        """Moves to ``SeekPosition.BEGINNING``, ``SeekPosition.END`` or ``SeekPosition.offset(n)``;
        returns the new position. Records queued for the old position are dropped. ``END`` asks
        the server for the tail within ``timeout`` seconds (< 0 = ``request.timeout.ms``)."""
        whence, off = _seek_args(position)
        pos = ctypes.c_uint64()
        err = ctypes.c_void_p()
        timeout_ms = ms_arg(timeout)

        def seek(p: int) -> int:
            return int(lib.lnc_consumer_seek(p, whence, off, timeout_ms, ctypes.byref(pos), ctypes.byref(err)))

        if seek_asks_server(position):
            # asks the server for the tail: interruptible, on a worker
            try:
                rc = self._handle.run(seek)
            except ClosedError:
                raise ClosedError("consumer is closed") from None
        else:
            # no I/O: liblnc only moves the position under its lock
            p = self._enter()
            try:
                rc = seek(p)
            finally:
                self._handle.release()
        if rc:
            self._raise(rc, err)
        return pos.value

    def rewind(self) -> int:
        """Back to offset 0."""
        return self.seek_to(SeekPosition.BEGINNING)

    def seek_to_end(self, *, timeout: Optional[float] = -1.0) -> int:
        return self.seek_to(SeekPosition.END, timeout=timeout)

    def commit(self, *, timeout: Optional[float] = -1.0) -> int:
        """Stores the position in the offset store; returns the committed offset. Waits up to
        ``timeout`` seconds (< 0 = ``request.timeout.ms``) for a commit running on another
        thread."""
        out = ctypes.c_uint64()
        err = ctypes.c_void_p()
        rc = lib.lnc_consumer_commit(self._p(), ms_arg(timeout), ctypes.byref(out), ctypes.byref(err))
        if self._bridge is not None and self._bridge.errors:
            e = make_error(rc, err.value) if rc else None
            self._bridge.reraise(e)
        if rc:
            self._raise(rc, err)
        return out.value

    def lag(self, *, timeout: Optional[float] = -1.0) -> int:
        """Bytes between the position and the topic's end (asks the server within ``timeout``
        seconds, < 0 = ``request.timeout.ms``, when the cached end is stale)."""
        out = ctypes.c_uint64()
        err = ctypes.c_void_p()
        timeout_ms = ms_arg(timeout)
        try:
            rc = self._handle.run(lambda p: lib.lnc_consumer_lag(p, timeout_ms, ctypes.byref(out), ctypes.byref(err)))
        except ClosedError:
            raise ClosedError("consumer is closed") from None
        if rc:
            self._raise(rc, err)
        return out.value

    def _lag_at(self, offset: int) -> int:
        lag = self.lag()
        return max(0, self.current_offset + lag - offset)

    # ------------------------------------------------------------------------------------------

    def _serve_events(self, p: int) -> None:
        self._events.serve(p)

    def poll_events(self, timeout: Optional[float] = 0.0) -> List[Event]:
        """Takes the waiting events (waiting up to ``timeout`` seconds for the first, in slices
        so Ctrl-C interrupts), hands them to the handlers and returns them."""
        return self._events.poll(self._enter, self._handle.release, timeout)

    def events(self, timeout: Optional[float] = None) -> Iterator[Event]:
        """Yields events as they come (taken with ``poll_events``, so the handlers run too)
        until the handle closes or none arrives for ``timeout`` seconds (None = no limit)."""
        return iterate_events(self, timeout)

    def fileno(self) -> int:
        """liblnc's eventfd: readable while records or an error wait for ``poll``, and events
        too once events were taken (``poll_events`` or a handler)."""
        return int(lib.lnc_consumer_eventfd(self._p()))

    eventfd = fileno

    def close(self, timeout: Optional[float] = 5.0) -> None:
        """Stops fetching, makes the final auto-commit and frees the handle. Idempotent.
        Raises ``InCallbackError`` from inside this consumer's ``poll_each`` callback."""
        if self._closed:
            return
        p = self._handle.ptr
        self._closed = True  # before liblnc's close: a concurrent poll then ends quietly
        if p:
            rc = lib.lnc_consumer_close(p, to_ms(timeout))
            if rc == F.LNC_ERR_IN_CALLBACK:
                self._closed = False
                raise make_error(rc)
        try:
            if p and not self._handle._closing:
                self._serve_events(p)  # the last events, before the handle goes
        finally:
            self._events.end_sinks()
            self._finalizer()
        if self._bridge is not None:
            self._bridge.reraise()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "StandaloneConsumer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"StandaloneConsumer({self._servers}, topic_id={self._config.topic_id}{', closed' if self._closed else ''})"


