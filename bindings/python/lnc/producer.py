"""``Producer``: batched, pipelined production through liblnc (seed names, sync API).

Delivery reports
----------------
liblnc gives every accepted record exactly one delivery report. This binding has two modes:

* **Bulk mode** (default, no ``on_delivery``): reports are drained in bulk with
  ``lnc_producer_poll_reports`` into a preallocated array, never through a per-record C->Python
  callback. ``send_async`` without ``callback``/``future`` passes opaque 0 (fire-and-forget):
  liblnc counts a failed one, and the next ``flush()`` or ``close()`` raises
  :class:`~lnc.errors.DeliveryFailedError` (liblnc's DELIVERY_FAILED). Per-send ``callback=``
  functions and ``future=True`` futures are keyed by an opaque id; they run inside ``poll()``,
  ``flush()``, ``close()`` or while a returned future's ``result()`` waits, always on the
  calling thread.
* **Callback mode** (``Producer(..., on_delivery=fn)``): liblnc calls ``fn(report)`` for every
  report from inside ``poll``/``flush``/``close`` (librdkafka model); per-send callbacks and
  futures are resolved there too.

In both modes an exception raised by a user callback is re-raised from the call that served it,
and ``close()``/``flush()``/``poll()`` called from inside a callback raise ``InCallbackError``
(liblnc's IN_CALLBACK rule; bulk mode applies the same rule to the callbacks it dispatches).

Waiting for buffer space is liblnc's (``lnc_producer_send_with_options``): a send first tries
without waiting; only when the buffer is full does it wait, as ``send.block``/``send.timeout.ms``
or the call's ``timeout`` say, on a worker thread with a cancellation token that Ctrl-C fires.
Reports are drained (without running user code) before and during that wait, since unserved
reports hold buffer memory.
"""

from __future__ import annotations

import ctypes
import itertools
import threading
import weakref
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Callable, Deque, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from . import _ffi as F
from ._ffi import lib
from ._util import Deadline, Handle, ms_arg
from .client import build_conf
from .config import ProducerConfig
from .errors import ClosedError, InCallbackError, LanceError, TimeoutError, make_error
from .events import Event, EventHandler, Events, iterate_events
from .records import TlvRecord

__all__ = ["Producer", "DeliveryReport", "ProducerMetrics", "DeliveryCallback"]

Bytes = Union[bytes, bytearray, memoryview]
Topic = Union[int, str]

# lnc_report_t layout, derived from the ctypes Structure (checked against C in the tests).
_RS = ctypes.sizeof(F.lnc_report_t)
assert _RS % 8 == 0
_R_I = _RS // 4  # int32 units per report
_R_Q = _RS // 8  # uint64 units per report
_TOPIC_I = F.lnc_report_t.topic_id.offset // 4
_ERR_I = F.lnc_report_t.err.offset // 4
_OPAQUE_Q = F.lnc_report_t.opaque.offset // 8
_BATCH_Q = F.lnc_report_t.batch_id.offset // 8
_ERROR_Q = F.lnc_report_t.error.offset // 8
_REPORTS_MAX = 4096
_ZERO = bytes(_RS * _REPORTS_MAX)
_AUTODRAIN_EVERY = 1024

_tls = threading.local()


def topic_arg(topic: Optional[Topic], topic_id: Optional[int]) -> Topic:
    """The topic of a seed-style call: ``topic`` (id or name) or the keyword ``topic_id=`` (the
    seed's older spelling, which its README still uses); giving both is refused."""
    if topic_id is not None:
        if topic is not None:
            raise TypeError(f"give the topic once: topic={topic!r} and topic_id={topic_id!r} were both given")
        if isinstance(topic_id, bool) or not isinstance(topic_id, int):
            raise TypeError(f"topic_id must be an int, not {type(topic_id).__name__}")
        return topic_id
    if topic is None:
        raise TypeError("a topic is required (topic= id or name, or topic_id=)")
    return topic


def _in_dispatch(core: "_Core") -> bool:
    return id(core) in getattr(_tls, "cores", ())


class DeliveryReport:
    """The final outcome of one record: ``error`` is None when the server acknowledged it."""

    __slots__ = ("topic_id", "batch_id", "error", "opaque")

    def __init__(self, topic_id: int, batch_id: int, error: Optional[LanceError], opaque: int = 0) -> None:
        self.topic_id = topic_id
        self.batch_id = batch_id
        self.error = error
        self.opaque = opaque

    @property
    def ok(self) -> bool:
        return self.error is None

    def raise_for_error(self) -> None:
        if self.error is not None:
            raise self.error

    def __repr__(self) -> str:
        state = "ok" if self.error is None else repr(self.error)
        return f"DeliveryReport(topic_id={self.topic_id}, batch_id={self.batch_id}, {state})"


DeliveryCallback = Callable[[DeliveryReport], Any]


@dataclass
class ProducerMetrics:
    records_sent: int
    records_acked: int
    records_failed: int
    bytes_sent: int
    bytes_acked: int
    batches_sent: int
    batches_acked: int
    batches_failed: int
    batches_retried: int
    records_retried: int
    possible_duplicates: int
    connects: int
    disconnects: int
    server_errors: int
    batches_compressed: int
    in_flight_batches: int
    buffered_bytes: int
    outstanding_records: int
    ack_latency_p50_us: int
    ack_latency_p99_us: int
    batch_size_current: int


class _Core:
    """Dispatch state shared with the C callback; never references the Producer (no cycles)."""

    def __init__(self, on_delivery: Optional[DeliveryCallback]) -> None:
        self.on_delivery = on_delivery
        self.pending: Dict[int, Tuple[Optional[DeliveryCallback], Any]] = {}
        self.next_id = 1
        self.acked = 0
        self.failed = 0
        self.cb_errors: List[BaseException] = []
        self.deferred: Deque[Tuple[int, DeliveryReport]] = deque()

    def register(self, callback: Optional[DeliveryCallback], future: Any) -> int:
        oid = self.next_id
        self.next_id = oid + 1 if oid < (1 << 62) else 1
        self.pending[oid] = (callback, future)
        return oid

    def forget(self, oids: Sequence[int]) -> None:
        """Drops the entries of records that were not accepted (they get no report)."""
        for oid in oids:
            self.pending.pop(oid, None)

    def dispatch(self, oid: int, rep: DeliveryReport) -> None:
        """Runs user code for one report (on the serving thread)."""
        entry = self.pending.pop(oid, None) if oid else None
        if entry is not None:
            cb, fut = entry
            if fut is not None and not fut.done():
                try:
                    if rep.error is None:
                        fut.set_result(rep)
                    else:
                        fut.set_exception(rep.error)
                except Exception:  # cancelled meanwhile
                    pass
            if cb is not None:
                try:
                    cb(rep)
                except BaseException as e:  # noqa: BLE001 - re-raised by the serving call
                    self.cb_errors.append(e)
        if self.on_delivery is not None:
            try:
                self.on_delivery(rep)
            except BaseException as e:  # noqa: BLE001
                self.cb_errors.append(e)

    def run_deferred(self) -> int:
        n = 0
        cores = _tls.__dict__.setdefault("cores", set())
        cores.add(id(self))
        try:
            while self.deferred:
                oid, rep = self.deferred.popleft()
                self.dispatch(oid, rep)
                n += 1
        finally:
            cores.discard(id(self))
        return n

    def raise_cb_errors(self) -> None:
        if self.cb_errors:
            errs, self.cb_errors = self.cb_errors, []
            first = errs[0]
            if len(errs) > 1:
                try:
                    first.add_note(f"(+{len(errs) - 1} more exceptions raised by delivery callbacks)")  # type: ignore[attr-defined]
                except AttributeError:
                    pass
            raise first


def _make_trampoline(core: _Core) -> Any:
    def trampoline(report_ptr: Any, _cb_opaque: Any) -> None:
        try:
            r = report_ptr.contents
            err = make_error(r.err, r.error, free=False) if r.err else None  # borrowed
            rep = DeliveryReport(r.topic_id, r.batch_id, err, r.opaque or 0)
            if err is None:
                core.acked += 1
            else:
                core.failed += 1
            core.dispatch(rep.opaque, rep)
        except BaseException as e:  # noqa: BLE001 - never unwind into C
            core.cb_errors.append(e)

    return F.lnc_delivery_cb(trampoline)


def _producer_free(ptr: int) -> None:
    lib.lnc_producer_free(ptr)


class _ReportFuture(Future):  # type: ignore[type-arg]
    """A concurrent.futures.Future that serves its producer's reports while ``result()`` waits,
    so it resolves without a background thread."""

    def __init__(self, producer: "Producer") -> None:
        super().__init__()
        self._producer_ref = weakref.ref(producer)

    def _serve_until_done(self, timeout: Optional[float]) -> Optional[float]:
        dl = Deadline(timeout)
        while not self.done():
            p = self._producer_ref()
            if p is None or p.closed:
                break
            if _in_dispatch(p._core):
                # Waiting here would wait for the very dispatch this thread is running.
                raise InCallbackError(
                    "Future.result() of a pending record called from inside this producer's callback",
                    code=F.LNC_ERR_IN_CALLBACK,
                )
            p._serve_slice(dl.slice_ms())
            if dl.expired():
                break
        return dl.remaining()

    def result(self, timeout: Optional[float] = None) -> Any:
        return super().result(self._serve_until_done(timeout))

    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]:
        return super().exception(self._serve_until_done(timeout))


class Producer:
    """A thread-safe producer.

    ``Producer("host:port", ProducerConfig())`` or ``Producer.connect(address, config)``; liblnc
    connects in the background (a dead server shows up as failed reports, not here). Topics are
    ids (``int``) or names (``str``): liblnc resolves a name (``lnc_producer_topic_id``: looked
    up, created when ``topic.auto.create`` is true, the default) and caches it. Use as a context
    manager to ``close()`` (flush + purge) at the end.

    Connection events go to the handler keywords ``on_connected``, ``on_disconnected``,
    ``on_error`` and ``on_event`` (see :mod:`lnc.events`), run inside ``poll``/``flush``/``close``
    (and ``poll_events``) on the calling thread.
    """

    # Slots keep attribute access on the send path cheap (and the object small).
    __slots__ = (
        "_blocks", "_callback_mode", "_closed", "_config", "_core", "_count", "_count_ref",
        "_drain_lock", "_events", "_finalizer", "_handle", "_nowait", "_produce", "_ptr", "_reports",
        "_reports_addr", "_send", "_sent", "_seq", "_servers", "_since_drain", "_space_ms", "_topic_ids",
        "__weakref__",
    )

    def __init__(
        self,
        servers: Optional[str] = None,
        config: Optional[ProducerConfig] = None,
        *,
        on_delivery: Optional[DeliveryCallback] = None,
        on_connected: Optional[EventHandler] = None,
        on_disconnected: Optional[EventHandler] = None,
        on_error: Optional[EventHandler] = None,
        on_event: Optional[EventHandler] = None,
    ) -> None:
        self._closed = True  # until the handle exists
        cfg = config or ProducerConfig()
        self._config = cfg
        self._servers = servers or cfg.get("bootstrap.servers")
        self._events = Events(
            lib.lnc_producer_poll_events,
            on_connected=on_connected,
            on_disconnected=on_disconnected,
            on_error=on_error,
            on_event=on_event,
        )
        conf = build_conf(self._servers, cfg)
        # The one-call fast path (lnc_producer_produce) must never wait: a wait belongs on a
        # worker with a cancellation token (Ctrl-C). So the handle gets send.timeout.ms=0 (with
        # send.block=true it answers QUEUE_FULL at once, and never CIRCUIT_OPEN), and the
        # configured wait is handed to the waiting call as its timeout_ms.
        self._blocks = cfg.get("send.block") == "true"
        self._space_ms = min(int(cfg.get("send.timeout.ms")), 2**31 - 1) if self._blocks else 0
        if self._blocks:
            conf.set("send.timeout.ms", 0)
        self._core = core = _Core(on_delivery)
        self._callback_mode = on_delivery is not None
        cfunc = _make_trampoline(core) if on_delivery is not None else F.lnc_delivery_cb()
        out = ctypes.c_void_p()
        err = ctypes.c_void_p()
        rc = lib.lnc_producer_new(conf.ptr, cfunc, None, ctypes.byref(out), ctypes.byref(err))
        if rc:
            conf.free()
            raise make_error(rc, err.value)
        conf.take()
        self._ptr: int = out.value or 0
        self._handle = Handle(self._ptr, _producer_free, keep=cfunc)
        self._finalizer = weakref.finalize(self, self._handle)
        self._closed = False
        self._sent = 0
        self._seq = itertools.count(1)  # send_async's return value: next() is atomic under the GIL
        self._since_drain = 0
        self._reports = (F.lnc_report_t * _REPORTS_MAX)()
        self._reports_addr = ctypes.addressof(self._reports)
        self._count = ctypes.c_size_t()
        self._count_ref = ctypes.byref(self._count)
        self._drain_lock = threading.Lock()
        self._topic_ids: Dict[str, int] = {}
        self._produce = lib.lnc_producer_produce
        self._send = lib.lnc_producer_send_with_options
        self._nowait = F.lnc_send_options_t(None, 0, None)  # read-only: shared by every thread

    @classmethod
    def connect(
        cls,
        address: str,
        config: Optional[ProducerConfig] = None,
        *,
        on_delivery: Optional[DeliveryCallback] = None,
        **handlers: Optional[EventHandler],
    ) -> "Producer":
        """Seed-style constructor (``handlers``: ``on_connected=`` ... as for the class)."""
        return cls(address, config, on_delivery=on_delivery, **handlers)

    @classmethod
    def connect_for_topic(cls, address: str, topic_name: str, config: Optional[ProducerConfig] = None) -> Tuple["Producer", int]:
        """Seed helper: a producer plus the resolved (created if missing) topic id."""
        p = cls(address, config)
        try:
            return p, p.resolve_topic(topic_name)
        except BaseException:
            p.close(0)
            raise

    # ------------------------------------------------------------------------------------------
    # topics
    # ------------------------------------------------------------------------------------------

    def resolve_topic(self, topic: Topic) -> int:
        """Topic id of ``topic``: an id as is; a name through liblnc (``lnc_producer_topic_id``:
        looked up, created when ``topic.auto.create`` is true, else ``TopicNotFoundError``;
        retryable failures retried within ``request.timeout.ms``). Ctrl-C cancels the lookup."""
        if isinstance(topic, int):
            return topic
        # liblnc's answer, memoised so that later sends skip the worker hop that keeps a first
        # lookup interruptible; liblnc caches the same id for the handle's life.
        tid = self._topic_ids.get(topic)
        if tid is not None:
            return tid
        name = topic.encode()
        out = ctypes.c_uint32()
        err = ctypes.c_void_p()

        def call(p: int, cancel: Optional[int]) -> int:
            return int(lib.lnc_producer_topic_id(p, name, -1, cancel, ctypes.byref(out), ctypes.byref(err)))

        try:
            rc = self._handle.run_cancellable(call, on_abandon=lambda rc: lib.lnc_error_free(err.value))
        except ClosedError:
            raise ClosedError("producer is closed") from None
        if rc:
            raise make_error(rc, err.value, context=f"topic {topic!r}")
        self._topic_ids[topic] = out.value
        return out.value

    def _tid(self, topic: Optional[Topic], topic_id: Optional[int]) -> int:
        return self.resolve_topic(topic_arg(topic, topic_id))

    # ------------------------------------------------------------------------------------------
    # sending
    # ------------------------------------------------------------------------------------------

    def send_async(
        self,
        topic: Optional[Topic] = None,
        data: Union[Bytes, TlvRecord] = b"",
        *,
        record_type: Optional[int] = None,
        key: Optional[Union[Bytes, str]] = None,
        timestamp_ns: Optional[int] = None,
        ext_type: Optional[int] = None,
        callback: Optional[DeliveryCallback] = None,
        future: Any = False,
        topic_id: Optional[int] = None,
        timeout: Optional[float] = -1.0,
    ) -> Union[int, "Future[DeliveryReport]"]:
        """Queues one record and returns at once: its send number (1, 2, ... per producer,
        unique across threads, counting the ``send_async`` calls that returned a number; the seed
        returns a batch id here, but liblnc packs records into batches after this call, so the
        wire batch id is known only from the record's report), or its future.

        ``data`` is bytes (or a :class:`TlvRecord`); ``record_type`` defaults to raw (0x01), a
        ``key`` makes it key-value, a ``timestamp_ns`` timestamped (both: key-timestamped).
        With ``future=True`` returns a ``concurrent.futures.Future`` resolving to the
        :class:`DeliveryReport` (or raising its error; an existing concurrent or asyncio future
        may be passed instead of True); ``callback(report)`` runs in a later
        ``poll``/``flush``/``close``. Without either, a failure is counted by liblnc and raised
        by the next ``flush()``/``close()`` as ``DeliveryFailedError``.

        ``timeout`` bounds the wait for buffer space: < 0 (default) = the configuration
        (``send.block``, ``send.timeout.ms``), 0 = never wait, None = no limit, else seconds.
        A full buffer then raises ``BackpressureError`` (``CircuitOpenError`` while the circuit
        breaker is open and the send may not wait); Ctrl-C during the wait raises
        ``KeyboardInterrupt`` and nothing is queued.
        """
        # Fast path: raw bytes to a topic id, fire-and-forget, never waiting (one ctypes call).
        if (
            topic.__class__ is int
            and data.__class__ is bytes
            and future is False
            and record_type is key is timestamp_ns is ext_type is callback is None
            and not self._produce(self._ptr, topic, data, len(data), None, None)
        ):
            self._sent += 1
            n = self._since_drain + 1
            self._since_drain = n
            if n >= _AUTODRAIN_EVERY and not self._callback_mode:
                self._autodrain()
            return next(self._seq)
        return self._send_async_slow(topic, data, record_type, key, timestamp_ns, ext_type, callback, future, topic_id, timeout)

    def _send_async_slow(
        self,
        topic: Optional[Topic],
        data: Any,
        record_type: Optional[int],
        key: Any,
        timestamp_ns: Optional[int],
        ext_type: Optional[int],
        callback: Optional[DeliveryCallback],
        future: Any,
        topic_id: Optional[int],
        timeout: Optional[float],
    ) -> Union[int, "Future[DeliveryReport]"]:
        # Everything but the fast path, including a refused fast-path send (a refused send has
        # no effect, so sending it again to learn why, or to wait for space, is safe).
        tid = topic if topic.__class__ is int else self._tid(topic, topic_id)
        fut: Optional[Future] = None
        if callback is not None or future:
            fut = _ReportFuture(self) if future is True else (future or None)
        arr, oids = self._messages([data], [fut] if fut is not None else None, callback, record_type, key, timestamp_ns, ext_type)
        self._submit(tid, arr, 1, oids, timeout)
        self._since_drain += 1
        if self._since_drain >= _AUTODRAIN_EVERY and not self._callback_mode:
            self._autodrain()
        return next(self._seq) if fut is None else fut

    def _messages(
        self,
        recs: Sequence[Union[TlvRecord, Bytes]],
        futures: Optional[Sequence[Any]],
        callback: Optional[DeliveryCallback],
        record_type: Optional[int] = None,
        key: Optional[Union[Bytes, str]] = None,
        timestamp_ns: Optional[int] = None,
        ext_type: Optional[int] = None,
    ) -> Tuple[Any, List[int]]:
        """An ``lnc_message_t`` array for ``recs`` and the opaque ids registered for them
        (``futures[i]``, any concurrent or asyncio future, gets record i's report)."""
        n = len(recs)
        arr = (F.lnc_message_t * n)()
        oids: List[int] = []
        t: Optional[int]
        ext: Optional[int]
        k: Optional[Union[Bytes, str]]
        d: Bytes
        ts: Optional[int]
        for i, r in enumerate(recs):
            if isinstance(r, TlvRecord):
                if record_type is not None or key is not None or timestamp_ns is not None:
                    raise ValueError("record_type/key/timestamp_ns come from the TlvRecord")
                t, ext, k, d, ts = r.message_parts()
            else:
                t, ext, k, d, ts = record_type, ext_type, key, r, timestamp_ns
            fut = futures[i] if futures is not None else None
            oid = self._core.register(callback, fut) if (fut is not None or callback is not None) else 0
            if oid:
                oids.append(oid)
            _fill_message(arr[i], t, ext, k, d, ts, oid)
        return arr, oids

    def _may_wait(self, timeout: Optional[float]) -> bool:
        return timeout is None or timeout > 0 or (timeout < 0 and self._blocks)

    def _wait_ms(self, timeout: Optional[float]) -> int:
        """A call's ``timeout`` as the waiting call's timeout_ms (< 0: the configured wait)."""
        return self._space_ms if timeout is not None and timeout < 0 else ms_arg(timeout)

    def _try_send(self, tid: int, arr: Any, n: int, err: ctypes.c_void_p) -> int:
        """One send that never waits for buffer space."""
        try:
            p = self._handle.acquire()
        except ClosedError:
            return F.LNC_ERR_CLOSED
        try:
            return int(self._send(p, tid, arr, n, self._nowait, None, ctypes.byref(err)))
        finally:
            self._handle.release()

    def _send_waiting(self, p: int, tid: int, arr: Any, n: int, timeout_ms: int, cancel: Optional[int], err: ctypes.c_void_p) -> int:
        """One send that waits for buffer space as ``timeout_ms`` says (liblnc's wait)."""
        opts = F.lnc_send_options_t(None, timeout_ms, cancel)
        return int(self._send(p, tid, arr, n, ctypes.byref(opts), None, ctypes.byref(err)))

    def _submit(self, tid: int, arr: Any, n: int, oids: List[int], timeout: Optional[float]) -> None:
        """Queues ``arr`` atomically: first without waiting; on a full buffer, when the call may
        wait, once more waiting in liblnc on a worker (Ctrl-C fires its cancellation token)
        while this thread drains reports, which hold buffer memory until taken."""
        err = ctypes.c_void_p()
        rc = self._try_send(tid, arr, n, err)
        if rc == F.LNC_ERR_QUEUE_FULL and self._may_wait(timeout):
            lib.lnc_error_free(err.value)
            err.value = None
            drain = None if self._callback_mode else self._autodrain
            if drain is not None:
                drain()
            timeout_ms = self._wait_ms(timeout)

            def abandon(rc: int) -> None:  # the call ended after a KeyboardInterrupt
                if rc:
                    lib.lnc_error_free(err.value)
                    self._core.forget(oids)
                else:
                    self._sent += n

            try:
                rc = self._handle.run_cancellable(
                    lambda p, cancel: self._send_waiting(p, tid, arr, n, timeout_ms, cancel, err),
                    while_waiting=drain,
                    on_abandon=abandon,
                )
            except ClosedError:
                rc = F.LNC_ERR_CLOSED
        if rc:
            self._core.forget(oids)
            if rc == F.LNC_ERR_CLOSED:
                lib.lnc_error_free(err.value)
                raise ClosedError("producer is closed")
            raise make_error(rc, err.value)
        self._sent += n

    def produce(self, topic: Topic, value: Bytes, key: Optional[Bytes] = None, **kw: Any) -> Union[int, "Future[DeliveryReport]"]:
        """Alias of ``send_async(topic, value, key=key, ...)``."""
        return self.send_async(topic, value, key=key, **kw)

    def send(
        self,
        topic: Optional[Topic] = None,
        data: Union[Bytes, TlvRecord] = b"",
        *,
        record_type: Optional[int] = None,
        key: Optional[Union[Bytes, str]] = None,
        timestamp_ns: Optional[int] = None,
        ext_type: Optional[int] = None,
        timeout: Optional[float] = 30.0,
        topic_id: Optional[int] = None,
    ) -> int:
        """Sends one record and waits for its acknowledgement (``lnc_producer_send_sync``,
        ``timeout`` seconds for the whole call, None = no limit; the wait for buffer space follows
        the configuration). Returns the batch id that acknowledged it; raises the record's error.
        Its report goes to this call only (not to callbacks or counters). Ctrl-C cancels the call
        (``KeyboardInterrupt``); a record already accepted may still be delivered."""
        tid = self._tid(topic, topic_id)
        if isinstance(data, TlvRecord):
            record_type, ext_type, key, data, timestamp_ns = data.message_parts()
        msg = F.lnc_message_t()
        _fill_message(msg, record_type, ext_type, key, data, timestamp_ns, 0)
        bid = ctypes.c_uint64()
        err = ctypes.c_void_p()
        total_ms = ms_arg(timeout) if timeout is None or timeout >= 0 else ms_arg(None)
        drain = None if self._callback_mode else self._autodrain
        if drain is not None:
            drain()

        def call(p: int, cancel: Optional[int]) -> int:
            opts = F.lnc_send_options_t(None, -1, cancel)
            return int(lib.lnc_producer_send_sync(p, tid, ctypes.byref(msg), ctypes.byref(opts), total_ms, ctypes.byref(bid), ctypes.byref(err)))

        def abandon(rc: int) -> None:
            if rc:
                lib.lnc_error_free(err.value)

        try:
            rc = self._handle.run_cancellable(call, while_waiting=drain, on_abandon=abandon)
        except ClosedError:
            raise ClosedError("producer is closed") from None
        if rc:
            raise make_error(rc, err.value)
        return bid.value

    def send_batch(
        self,
        topic: Optional[Topic] = None,
        records: Optional[Sequence[Union[TlvRecord, Bytes]]] = None,
        *,
        wait: bool = True,
        timeout: Optional[float] = 30.0,
        callback: Optional[DeliveryCallback] = None,
        topic_id: Optional[int] = None,
    ) -> Optional[int]:
        """Queues ``records`` atomically (all accepted or none; bytes are raw records), waiting
        for buffer space as the configuration says.

        With ``wait=True`` (the seed's behaviour) waits until every record is acknowledged,
        serving other reports meanwhile, and returns the last acknowledging batch id; the first
        failure is raised. With ``wait=False`` returns None at once; ``callback`` (if any) gets
        each record's report.
        """
        recs = list(records or [])
        if not recs:
            return None
        tid = self._tid(topic, topic_id)
        n = len(recs)
        futs: List[Future] = [_ReportFuture(self) for _ in recs] if wait else []
        arr, oids = self._messages(recs, futs or None, callback)
        self._submit(tid, arr, n, oids, -1.0)
        if not wait:
            return None
        dl = Deadline(timeout)
        # Seal the batch now rather than after linger.
        self._flush_slice(0)
        while not all(f.done() for f in futs):
            if dl.expired():
                raise TimeoutError(f"send_batch: {sum(not f.done() for f in futs)} of {n} records unacknowledged")
            self._serve_slice(dl.slice_ms())
        last = 0
        for f in futs:
            rep = Future.result(f)  # raises the first failure
            last = max(last, rep.batch_id)
        return last

    # ------------------------------------------------------------------------------------------
    # reports and events
    # ------------------------------------------------------------------------------------------

    def _check_usable(self, what: str) -> None:
        if _in_dispatch(self._core):
            raise InCallbackError(f"{what} called from inside this producer's delivery callback", code=F.LNC_ERR_IN_CALLBACK)

    def _drain(self, timeout_ms: int, dispatch: bool) -> int:
        """Takes reports with lnc_producer_poll_reports (one call per <= 4096 reports)."""
        lock = self._drain_lock
        if timeout_ms > 0:
            if not lock.acquire(timeout=timeout_ms / 1000):
                return 0
        elif not lock.acquire(False):
            return 0
        try:
            try:
                ptr = self._handle.acquire()
            except ClosedError:
                return 0
            try:
                lib.lnc_producer_poll_reports(ptr, timeout_ms, self._reports, _REPORTS_MAX, self._count_ref)
            finally:
                self._handle.release()
            n = self._count.value
            if not n:
                return 0
            raw = ctypes.string_at(self._reports_addr, n * _RS)
            core = self._core
            mi = memoryview(raw).cast("i")
            mq = memoryview(raw).cast("Q")
            errs = mi[_ERR_I::_R_I]
            ops = mq[_OPAQUE_Q::_R_Q]
            any_err = errs.tobytes() != _ZERO[: 4 * n]
            any_op = ops.tobytes() != _ZERO[: 8 * n]
            nfail = 0
            if any_err or any_op:
                for i in range(n):
                    e = errs[i]
                    op = ops[i]
                    if not e and not op:
                        continue
                    if e:
                        nfail += 1
                    if op:
                        error = make_error(e, mq[i * _R_Q + _ERROR_Q] or None) if e else None
                        core.deferred.append((op, DeliveryReport(mi[i * _R_I + _TOPIC_I], mq[i * _R_Q + _BATCH_Q], error, op)))
                    elif e:
                        # fire-and-forget: liblnc counts it for flush/close (DELIVERY_FAILED)
                        lib.lnc_error_free(mq[i * _R_Q + _ERROR_Q] or None)
            core.acked += n - nfail
            core.failed += nfail
            return n
        finally:
            lock.release()
            self._since_drain = 0
            if dispatch and self._core.deferred:
                self._core.run_deferred()

    def _autodrain(self) -> None:
        # Non-blocking bulk drain from the send path; user callbacks wait for the next poll.
        while self._drain(0, False) == _REPORTS_MAX:
            pass

    def _serve_events(self) -> int:
        if not (self._events.wanted or self._events.armed):
            return 0
        try:
            p = self._handle.acquire()
        except ClosedError:
            return 0
        try:
            return self._events.serve(p)
        finally:
            self._handle.release()

    def _serve_slice(self, timeout_ms: int) -> int:
        """Serves reports (either mode) and events for up to one slice; re-raises callback
        exceptions."""
        core = self._core
        self._serve_events()
        if self._callback_mode:
            served = ctypes.c_size_t()
            try:
                p = self._handle.acquire()
            except ClosedError:
                return 0
            try:
                rc = lib.lnc_producer_poll(p, timeout_ms, ctypes.byref(served))
            finally:
                self._handle.release()
            core.raise_cb_errors()
            if rc:
                raise make_error(rc)
            return served.value
        n = core.run_deferred()
        if not n:
            n = self._drain(timeout_ms, True)
        while self._drain(0, True) == _REPORTS_MAX:
            n += _REPORTS_MAX
        core.raise_cb_errors()
        return n

    def poll(self, timeout: Optional[float] = 0.0) -> int:
        """Serves waiting delivery reports (callbacks, futures) and events (handlers), waiting
        up to ``timeout`` seconds (None = until one arrives) for the first report. Returns how
        many reports were served."""
        self._check_usable("poll")
        if self._closed:
            return self._core.run_deferred()
        dl = Deadline(timeout)
        while True:
            n = self._serve_slice(dl.slice_ms())
            if n or dl.expired():
                return n

    def poll_events(self, timeout: Optional[float] = 0.0) -> List[Event]:
        """Takes the waiting events (waiting up to ``timeout`` seconds for the first, in slices
        so Ctrl-C interrupts), hands them to the handlers and returns them."""
        return self._events.poll(self._acquire_open, self._handle.release, timeout)

    def _acquire_open(self) -> int:
        try:
            return self._handle.acquire()
        except ClosedError:
            raise ClosedError("producer is closed") from None

    def events(self, timeout: Optional[float] = None) -> Iterator[Event]:
        """Yields events as they come (taken with ``poll_events``, so the handlers run too)
        until the handle closes or none arrives for ``timeout`` seconds (None = no limit)."""
        return iterate_events(self, timeout)

    def _flush_slice(self, timeout_ms: int) -> Tuple[int, Optional[LanceError]]:
        """One ``lnc_producer_flush``: the records still pending, and the DELIVERY_FAILED error
        liblnc returns once none remain but fire-and-forget records failed."""
        remaining = ctypes.c_size_t()
        err = ctypes.c_void_p()
        try:
            p = self._handle.acquire()
        except ClosedError:
            return 0, None
        try:
            rc = lib.lnc_producer_flush(p, timeout_ms, ctypes.byref(remaining), ctypes.byref(err))
        finally:
            self._handle.release()
        self._core.raise_cb_errors()
        if rc == F.LNC_ERR_DELIVERY_FAILED:
            return 0, make_error(rc, err.value)
        if rc and rc != F.LNC_ERR_TIMED_OUT:
            raise make_error(rc, err.value)
        lib.lnc_error_free(err.value)
        return remaining.value, None

    def flush(self, timeout: Optional[float] = 30.0) -> None:
        """Sends everything now and waits until every record has its report, serving reports
        and events.

        Raises ``TimeoutError`` if records remain after ``timeout`` seconds (None = no limit),
        the first exception a callback raised, or ``DeliveryFailedError`` if fire-and-forget
        records failed since the last flush (liblnc's count and first error).
        """
        self._check_usable("flush")
        if self._closed:
            raise ClosedError("producer is closed")
        dl = Deadline(timeout)
        failed: Optional[LanceError] = None
        while True:
            remaining, failed = self._flush_slice(dl.slice_ms())
            if not self._callback_mode:
                self._serve_slice(0)
            if remaining == 0:
                break
            if dl.expired():
                raise TimeoutError(f"flush: {remaining} records still without a delivery report")
        self._serve_slice(0)
        if failed is not None:
            raise failed

    def purge(self) -> int:
        """Fails every record not yet written with PURGED (reported as usual); returns the count."""
        n = ctypes.c_size_t()
        p = self._handle.ptr
        if not p:
            raise ClosedError("producer is closed")
        rc = lib.lnc_producer_purge(p, ctypes.byref(n))
        if rc:
            raise make_error(rc)
        return n.value

    # ------------------------------------------------------------------------------------------
    # lifecycle
    # ------------------------------------------------------------------------------------------

    def close(self, timeout: Optional[float] = 30.0) -> None:
        """Flushes up to ``timeout`` seconds, then purges what is left (reported as failures),
        stops liblnc's threads, serves the last reports and events and frees the handle.
        Idempotent.

        Raises (after closing) the first callback exception, then ``DeliveryFailedError`` for
        failed fire-and-forget records.
        """
        self._check_usable("close")
        if self._closed:
            return
        first: Optional[BaseException] = None
        failed: Optional[LanceError] = None
        dl = Deadline(timeout)
        try:
            while True:
                remaining, f = self._flush_slice(dl.slice_ms())
                failed = failed or f
                if not self._callback_mode:
                    self._serve_slice(0)
                if remaining == 0 or dl.expired():
                    break
        except InCallbackError:
            raise
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # noqa: BLE001 - raised after the handle is closed
            first = e
        p = self._handle.ptr
        err = ctypes.c_void_p()
        rc = lib.lnc_producer_close(p, 0, ctypes.byref(err)) if p else 0
        if rc == F.LNC_ERR_IN_CALLBACK:
            lib.lnc_error_free(err.value)
            raise make_error(rc)
        if rc == F.LNC_ERR_DELIVERY_FAILED and failed is None:
            failed = make_error(rc, err.value)
        else:
            lib.lnc_error_free(err.value)
        self._closed = True
        try:
            if not self._callback_mode:
                while self._drain(0, True):
                    pass
                self._core.run_deferred()
            self._core.raise_cb_errors()
        except BaseException as e:  # noqa: BLE001
            first = first or e
        try:
            self._serve_events()
        except BaseException as e:  # noqa: BLE001
            first = first or e
        self._events.end_sinks()
        self._ptr = 0
        self._finalizer()
        for _oid, (_cb, fut) in list(self._core.pending.items()):
            if fut is not None and not fut.done():
                fut.set_exception(ClosedError("producer closed before the record's report"))
        self._core.pending.clear()
        if first is not None:
            raise first
        if failed is not None:
            raise failed

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "Producer":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            try:
                self.close()
            except LanceError:
                pass

    # ------------------------------------------------------------------------------------------
    # introspection
    # ------------------------------------------------------------------------------------------

    def fileno(self) -> int:
        """liblnc's eventfd: readable while delivery reports wait (for select/poll/asyncio), and
        events too once events were taken (``poll_events`` or a handler)."""
        p = self._handle.ptr
        return int(lib.lnc_producer_eventfd(p)) if p else -1

    eventfd = fileno

    def metrics(self) -> ProducerMetrics:
        m = F.lnc_producer_metrics_t()
        p = self._handle.ptr
        if not p:
            raise ClosedError("producer is closed")
        rc = lib.lnc_producer_metrics(p, ctypes.byref(m))
        if rc:
            raise make_error(rc)
        return ProducerMetrics(**{f[0]: getattr(m, f[0]) for f in F.lnc_producer_metrics_t._fields_})

    @property
    def stats(self) -> Dict[str, int]:
        """Python-side counts of ``send_async``/``send_batch`` records: ``sent`` (accepted),
        ``acked`` and ``failed`` (reports taken), ``pending`` (the rest). ``send()`` is not
        counted (its report goes to the call)."""
        c = self._core
        return {"sent": self._sent, "acked": c.acked, "failed": c.failed, "pending": self._sent - c.acked - c.failed}

    def __repr__(self) -> str:
        return f"Producer({self._servers}{', closed' if self._closed else ''})"


def _fill_message(
    m: F.lnc_message_t,
    record_type: Optional[int],
    ext_type: Optional[int],
    key: Optional[Union[Bytes, str]],
    data: Any,
    timestamp_ns: Optional[int],
    opaque: int,
) -> None:
    """Fills ``m`` (which keeps the key and value bytes alive)."""
    m.record_type = record_type or 0
    m.ext_type = ext_type or 0
    if key is not None:
        kb = key.encode() if isinstance(key, str) else bytes(key)
        m.key = kb if kb else b"\0"  # a key of length 0 is still a key: non-NULL pointer
        m.key_len = len(kb)
    db = data if type(data) is bytes else bytes(data)
    if db:
        m.value = db
        m.value_len = len(db)
    m.timestamp_ns = timestamp_ns or 0
    m.opaque = opaque or None
