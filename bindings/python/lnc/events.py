"""Connection events and Python ``logging`` integration (liblnc's "Events and logs").

Every handle (``Producer``, ``StandaloneConsumer``, ``LanceClient``) queues the same events in
liblnc: connecting, connected, disconnected, reconnect scheduled, leader changed, authentication
failed, fatal, circuit open / half-open / closed, statistics, events dropped. This binding takes
them with ``lnc_*_poll_events`` on the caller's thread, from the calls that already serve the
handle (``poll``, ``flush``, ``close`` ...), and hands each one to the handler callables given to
the handle's constructor:

* ``on_connected(event)``    -- ``connected``;
* ``on_disconnected(event)`` -- ``disconnected``;
* ``on_error(event)``        -- ``auth_failed`` and ``fatal`` (the handle cannot go on as it is);
* ``on_event(event)``        -- every event, the three above included.

Handlers never run on a library thread. An exception raised by a handler is re-raised from the
call that served it. ``lnc.aio`` adds an async iterator (``async for event in x.events()``) woken
by the handle's eventfd.

Log lines go to the ``logging`` logger ``"lnc"`` (through ``lnc_conf_set_log_cb``) at the
matching level; ``log.level`` defaults to the logger's effective level when the handle is created.
liblnc scrubs the token from every line and event.
"""

from __future__ import annotations

import ctypes
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional

from . import _ffi as F
from ._ffi import lib
from ._util import Deadline
from .errors import ClosedError, LanceError, error_class, make_error

__all__ = ["Event", "EventHandler", "LOGGER_NAME"]

#: The ``logging`` logger liblnc's lines go to.
LOGGER_NAME = "lnc"

_logger = logging.getLogger(LOGGER_NAME)

_LEVELS = {
    F.LNC_LOG_ERROR: logging.ERROR,
    F.LNC_LOG_WARN: logging.WARNING,
    F.LNC_LOG_INFO: logging.INFO,
    F.LNC_LOG_DEBUG: logging.DEBUG,
}


def _on_log(level: int, line: bytes, _opaque: Any) -> None:
    # Runs on any thread, library threads included; logging is thread-safe. Never unwinds into C.
    try:
        _logger.log(_LEVELS.get(level, logging.WARNING), "%s", (line or b"").decode("utf-8", "replace"))
    except BaseException:  # noqa: BLE001 - a broken handler must not take liblnc down
        pass


# One callback object for every handle, alive as long as the module (handles may outlive any
# Python object that would own it).
_LOG_CB = F.lnc_log_cb(_on_log)


def log_level_for(logger: logging.Logger) -> str:
    """liblnc's ``log.level`` matching ``logger``'s effective level (lines below it would be
    dropped by ``logging`` anyway, so liblnc does not format them)."""
    lvl = logger.getEffectiveLevel()
    if lvl <= logging.DEBUG:
        return "debug"
    if lvl <= logging.INFO:
        return "info"
    if lvl <= logging.WARNING:
        return "warn"
    if lvl <= logging.ERROR:
        return "error"
    return "off"


def install_logging(conf_ptr: int, explicit: Dict[str, str]) -> None:
    """Routes the conf's log lines to the ``lnc`` logger; ``log.level`` follows the logger
    unless the user set it."""
    if "log.level" not in explicit:
        buf = ctypes.create_string_buffer(64)
        lib.lnc_conf_set(conf_ptr, b"log.level", log_level_for(_logger).encode(), buf, len(buf))
    rc = lib.lnc_conf_set_log_cb(conf_ptr, _LOG_CB, None)
    if rc:
        raise make_error(rc, context="lnc_conf_set_log_cb")


@dataclass
class Event:
    """One liblnc event.

    ``kind`` is liblnc's name (``"connected"``, ``"reconnect_scheduled"`` ...); ``error`` the
    error behind it (a :class:`LanceError`, or None); ``server`` the ``host:port`` concerned (""
    when none); ``node_id`` (0 = unknown); ``attempt`` (failures in a row, or events dropped);
    ``delay`` seconds before the next attempt (reconnect scheduled, circuit open); ``message``
    the reason; ``stats`` the parsed JSON document of a ``statistics`` event (else None).
    """

    kind: str
    code: int = 0
    server: str = ""
    node_id: int = 0
    attempt: int = 0
    delay_ms: int = 0
    message: str = ""
    stats: Optional[Dict[str, Any]] = field(default=None, repr=False)

    @property
    def delay(self) -> float:
        """``delay_ms`` in seconds."""
        return self.delay_ms / 1000

    @property
    def error(self) -> Optional[LanceError]:
        """The error behind the event as the mapped exception (None when there is none)."""
        if not self.code:
            return None
        return error_class(self.code)._create(self.message or F.err_str(self.code), code=self.code)

    def __str__(self) -> str:
        parts = [self.kind]
        if self.server:
            parts.append(self.server)
        if self.kind in ("reconnect_scheduled", "circuit_open"):
            parts.append(f"in {self.delay_ms} ms (attempt {self.attempt})")
        if self.code:
            parts.append(f"[{F.err_name(self.code)}]")
        if self.message and self.stats is None:
            parts.append(self.message)
        return " ".join(parts)


EventHandler = Callable[[Event], Any]

_KIND_NAMES = {k: (lib.lnc_event_kind_name(k) or b"unknown").decode() for k in range(1, 13)}
_BATCH = 64


def _from_c(ev: F.lnc_event_t) -> Event:
    message = (ev.message or b"").decode("utf-8", "replace")
    kind = _KIND_NAMES.get(ev.kind) or (lib.lnc_event_kind_name(ev.kind) or b"unknown").decode()
    stats = None
    if ev.kind == F.LNC_EVENT_STATISTICS:
        try:
            stats = json.loads(message)
        except ValueError:
            stats = None
    return Event(
        kind=kind,
        code=ev.err,
        server=(ev.server or b"").decode("utf-8", "replace"),
        node_id=ev.node_id,
        attempt=ev.attempt,
        delay_ms=ev.delay_ms,
        message=message,
        stats=stats,
    )


def iterate_events(handle: Any, timeout: Optional[float]) -> Iterator["Event"]:
    """``handle.events(timeout)`` for every handle: yields what ``handle.poll_events`` takes (so
    the handlers run too) until the handle closes or none arrives for ``timeout`` seconds."""
    while not handle.closed:
        try:
            evs = handle.poll_events(timeout)
        except ClosedError:
            return
        if not evs:
            return
        yield from evs


class Events:
    """The events of one handle: takes them with ``poll_fn`` (an ``lnc_*_poll_events``) and hands
    them to the handlers and the sinks (``lnc.aio`` iterators). Never references its handle."""

    def __init__(
        self,
        poll_fn: Callable[..., int],
        *,
        on_connected: Optional[EventHandler] = None,
        on_disconnected: Optional[EventHandler] = None,
        on_error: Optional[EventHandler] = None,
        on_event: Optional[EventHandler] = None,
    ) -> None:
        for name, h in (
            ("on_connected", on_connected),
            ("on_disconnected", on_disconnected),
            ("on_error", on_error),
            ("on_event", on_event),
        ):
            if h is not None and not callable(h):
                raise TypeError(f"{name} must be callable, not {type(h).__name__}")
        self._poll_fn = poll_fn
        self.on_connected = on_connected
        self.on_disconnected = on_disconnected
        self.on_error = on_error
        self.on_event = on_event
        self.sinks: List[Callable[[Optional[Event]], None]] = []
        # Once events were taken, the handle's eventfd signals them too: from then on every
        # serve takes them (dropping those nothing wants) so an event loop is never woken in
        # vain by events no one takes.
        self.armed = False

    def end_sinks(self) -> None:
        """Tells the sinks that no event will come (the handle closed)."""
        for sink in list(self.sinks):
            sink(None)

    @property
    def wanted(self) -> bool:
        """Whether anything takes events (else they stay queued in liblnc, bounded by
        ``events.queue.max``, and the eventfd is not armed for them)."""
        return bool(self.sinks) or any(
            h is not None for h in (self.on_connected, self.on_disconnected, self.on_error, self.on_event)
        )

    def poll(self, acquire: Callable[[], int], release: Callable[[], None], timeout: Optional[float]) -> List[Event]:
        """The body of every handle's ``poll_events``: takes the waiting events (waiting up to
        ``timeout`` seconds for the first, in slices so Ctrl-C interrupts), hands them to the
        handlers and returns them. ``acquire``/``release`` pin the handle for each slice."""
        dl = Deadline(timeout)
        while True:
            p = acquire()
            try:
                evs = self.take(p, dl.slice_ms())
            finally:
                release()
            if evs or dl.expired():
                self.dispatch(evs)
                return evs

    def take(self, ptr: int, timeout_ms: int = 0) -> List[Event]:
        """Takes every waiting event (waiting up to ``timeout_ms`` for the first)."""
        out: List[Event] = []
        self.armed = True
        # One array per call: several threads may take events of the same handle at once.
        buf = (F.lnc_event_t * _BATCH)()
        count = ctypes.c_size_t()
        while True:
            rc = self._poll_fn(ptr, timeout_ms, buf, _BATCH, ctypes.byref(count))
            if rc:
                raise make_error(rc, context="poll_events")
            n = count.value
            for i in range(n):
                ev = buf[i]
                try:
                    out.append(_from_c(ev))
                finally:
                    lib.lnc_event_free(ctypes.byref(ev))
            if n < _BATCH:
                return out
            timeout_ms = 0

    def dispatch(self, events: List[Event]) -> None:
        """Runs the handlers for ``events`` (in order); re-raises the first handler exception
        after every event was handed out."""
        first: Optional[BaseException] = None
        for ev in events:
            for sink in self.sinks:
                sink(ev)
            specific = {
                "connected": self.on_connected,
                "disconnected": self.on_disconnected,
                "auth_failed": self.on_error,
                "fatal": self.on_error,
            }.get(ev.kind)
            for h in (specific, self.on_event):
                if h is None:
                    continue
                try:
                    h(ev)
                except BaseException as e:  # noqa: BLE001 - re-raised below
                    first = first or e
        if first is not None:
            raise first

    def serve(self, ptr: Optional[int]) -> int:
        """Takes the waiting events and dispatches them, when anything wants them."""
        if not ptr or not (self.wanted or self.armed):
            return 0
        evs = self.take(ptr, 0)
        if evs:
            self.dispatch(evs)
        return len(evs)
