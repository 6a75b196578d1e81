"""Internal helpers: building an ``lnc_conf_t``, interruptible blocking, timeouts."""

from __future__ import annotations

import ctypes
import queue
import threading
import time
from concurrent.futures import Future
from typing import Any, Callable, Iterable, Mapping, Optional, TypeVar

from . import _ffi as F
from ._ffi import lib
from .errors import LanceError, check

T = TypeVar("T")

#: Longest time one liblnc call may block when a Python thread waits (Ctrl-C granularity).
SLICE_MS = 100


def to_ms(seconds: Optional[float], default_ms: int = -1) -> int:
    """Seconds (float, None = no limit) to a non-negative int32 millisecond count or -1."""
    if seconds is None:
        return default_ms
    if seconds < 0:
        return -1
    return min(int(seconds * 1000 + 0.5), 2**31 - 1)


class Conf:
    """An owned ``lnc_conf_t`` (freed unless a constructor took it)."""

    __slots__ = ("ptr",)

    def __init__(self, options: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        self.ptr: Optional[int] = lib.lnc_conf_new()
        if not self.ptr:
            raise MemoryError("lnc_conf_new")
        items = options.items() if isinstance(options, Mapping) else options
        try:
            for k, v in items:
                self.set(k, v)
        except BaseException:
            self.free()
            raise

    def set(self, key: str, value: Any) -> None:
        buf = ctypes.create_string_buffer(512)
        rc = lib.lnc_conf_set(self.ptr, key.encode(), conf_value(value).encode(), buf, len(buf))
        if rc:
            reason = buf.value.decode("utf-8", "replace") or F.err_str(rc)
            raise _conf_error(rc, key, reason)

    def get(self, key: str) -> str:
        n = ctypes.c_size_t(0)
        check(lib.lnc_conf_get(self.ptr, key.encode(), None, ctypes.byref(n)), context=f"config {key!r}")
        buf = ctypes.create_string_buffer(n.value)
        check(lib.lnc_conf_get(self.ptr, key.encode(), buf, ctypes.byref(n)), context=f"config {key!r}")
        return buf.value.decode()

    def take(self) -> int:
        """Hands the pointer to a constructor that succeeded."""
        p = self.ptr
        self.ptr = None
        assert p
        return p

    def free(self) -> None:
        if self.ptr:
            lib.lnc_conf_free(self.ptr)
            self.ptr = None

    def __del__(self) -> None:  # pragma: no cover - safety net
        try:
            self.free()
        except Exception:
            pass


def _conf_error(rc: int, key: str, reason: str) -> LanceError:
    from .errors import error_class

    return error_class(rc)._create(f"config {key!r}: {reason}", code=rc)


def conf_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def validate_option(key: str, value: Any) -> None:
    """Checks one key/value against liblnc's key table (raises ConfigError subclasses)."""
    c = Conf()
    try:
        c.set(key, value)
    finally:
        c.free()


def get_default(key: str) -> str:
    c = Conf()
    try:
        return c.get(key)
    finally:
        c.free()


# ------------------------------------------------------------------------------------------------
# Interruptible blocking: a liblnc call that cannot be sliced (one request/response) runs on a
# small pool of daemon worker threads while the main thread waits in short slices, so Ctrl-C
# raises KeyboardInterrupt promptly. Daemon threads never delay interpreter exit.
# ------------------------------------------------------------------------------------------------


class _Pool:
    def __init__(self) -> None:
        self._q: "queue.SimpleQueue[Optional[tuple[Future, Callable[[], Any]]]]" = queue.SimpleQueue()
        self._idle = 0
        self._lock = threading.Lock()

    def submit(self, fn: Callable[[], T]) -> "Future[T]":
        fut: "Future[T]" = Future()
        with self._lock:
            if self._idle == 0:
                t = threading.Thread(target=self._run, name="lnc-blocking", daemon=True)
                self._idle += 1
                t.start()
            self._idle -= 1
        self._q.put((fut, fn))
        return fut

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            fut, fn = item
            if fut.set_running_or_notify_cancel():
                try:
                    fut.set_result(fn())
                except BaseException as e:  # noqa: BLE001 - handed to the waiter
                    fut.set_exception(e)
            with self._lock:
                self._idle += 1


_pool = _Pool()


def interruptible(fn: Callable[[], T], on_abandon: Optional[Callable[[T], None]] = None) -> T:
    """Runs ``fn`` (a blocking liblnc call) so that the main thread stays responsive to signals.

    Off the main thread ``fn`` runs directly. On the main thread it runs on a daemon worker while
    the caller waits in short slices; if the wait is interrupted (KeyboardInterrupt), the call
    finishes in the background and ``on_abandon(result)`` releases whatever it created.
    """
    if threading.current_thread() is not threading.main_thread():
        return fn()
    fut = _pool.submit(fn)
    try:
        # wait() rather than result(timeout): a call that raises lnc.TimeoutError (a builtin
        # TimeoutError, as concurrent.futures' is) must not look like the slice running out.
        while not futures_wait([fut], timeout=SLICE_MS / 1000).done:
            pass
        return fut.result()
    except BaseException:
        if not fut.done() and on_abandon is not None:

            def _cleanup(f: "Future[T]") -> None:
                if f.exception() is None:
                    try:
                        on_abandon(f.result())
                    except Exception:
                        pass

            fut.add_done_callback(_cleanup)
        raise


from concurrent.futures import wait as futures_wait  # noqa: E402


def cancellable(
    call: Callable[[Optional[int]], T],
    *,
    while_waiting: Optional[Callable[[], Any]] = None,
    on_abandon: Optional[Callable[[T], None]] = None,
) -> T:
    """Runs ``call(cancel)``, a liblnc call that may wait and takes an ``lnc_cancel_t *``.

    On the main thread, or when ``while_waiting`` is given, the call runs on a daemon worker with
    a fresh token while this thread waits in slices of SLICE_MS, running ``while_waiting``
    between them. If the wait is interrupted (Ctrl-C), the token is fired: liblnc ends the call
    with CANCELLED (nothing it was given is accepted), ``on_abandon(result)`` releases what the
    call left, and the token is freed once the call has returned. Elsewhere ``call(None)`` runs
    on this thread (signals reach only the main thread).
    """
    if while_waiting is None and threading.current_thread() is not threading.main_thread():
        return call(None)
    token = lib.lnc_cancel_new()
    if not token:
        raise MemoryError("lnc_cancel_new")
    fut = _pool.submit(lambda: call(token))
    try:
        while not futures_wait([fut], timeout=SLICE_MS / 1000).done:
            if while_waiting is not None:
                while_waiting()
        return fut.result()
    except BaseException:
        lib.lnc_cancel_fire(token)  # no effect if the call has returned
        if on_abandon is not None:
            # The caller never sees the result: release it when the call returns (now, if it
            # returned just before the interruption).

            def _cleanup(f: "Future[T]") -> None:
                if f.exception() is None:
                    try:
                        on_abandon(f.result())
                    except Exception:
                        pass

            fut.add_done_callback(_cleanup)
        raise
    finally:
        # Runs now if the call returned, else when it does: never while the call uses the token.
        fut.add_done_callback(lambda _f: lib.lnc_cancel_free(token))


def ms_arg(seconds: Optional[float]) -> int:
    """A call's ``timeout`` for liblnc: < 0 = the configuration (-1), None = no limit (the
    largest int32), else milliseconds (0 = do not wait)."""
    if seconds is None:
        return 2**31 - 1
    if seconds < 0:
        return -1
    return min(int(seconds * 1000 + 0.5), 2**31 - 1)


class Deadline:
    """A monotonic deadline (None = no limit) handing out <= SLICE_MS slices."""

    __slots__ = ("end",)

    def __init__(self, timeout: Optional[float]) -> None:
        self.end = None if timeout is None or timeout < 0 else time.monotonic() + timeout

    def slice_ms(self) -> int:
        if self.end is None:
            return SLICE_MS
        left = self.end - time.monotonic()
        if left <= 0:
            return 0
        return min(SLICE_MS, int(left * 1000) + 1)

    def expired(self) -> bool:
        return self.end is not None and time.monotonic() >= self.end

    def remaining(self) -> Optional[float]:
        if self.end is None:
            return None
        return max(0.0, self.end - time.monotonic())


class Handle:
    """Ownership of one liblnc handle: freed exactly once, never while a call that was handed
    to a background worker (see ``interruptible``) still uses it. ``keep`` holds objects (ctypes
    callbacks ...) that must outlive the handle. Used as the ``weakref.finalize`` callback, so it
    must never reference the Python object that owns it."""

    __slots__ = ("ptr", "_free", "keep", "_lock", "_inflight", "_closing", "freed", "__weakref__")

    def __init__(self, ptr: int, free_fn: Callable[[int], Any], keep: Any = None) -> None:
        self.ptr: Optional[int] = ptr
        self._free = free_fn
        self.keep = keep
        self._lock = threading.Lock()
        self._inflight = 0
        self._closing = False
        self.freed = False

    def acquire(self) -> int:
        with self._lock:
            if self._closing or not self.ptr:
                from .errors import ClosedError

                raise ClosedError("handle is closed")
            self._inflight += 1
            return self.ptr

    def release(self) -> None:
        with self._lock:
            self._inflight -= 1
            do_free = self._closing and self._inflight == 0 and not self.freed
            if do_free:
                self.freed = True
        if do_free:
            self._do_free()

    def __call__(self) -> None:
        """Frees now, or when the last in-flight call returns."""
        with self._lock:
            self._closing = True
            do_free = self._inflight == 0 and not self.freed
            if do_free:
                self.freed = True
        if do_free:
            self._do_free()

    def _do_free(self) -> None:
        p, self.ptr = self.ptr, None
        if p:
            self._free(p)
        self.keep = None

    def run(self, fn: Callable[[int], T], on_abandon: Optional[Callable[[T], None]] = None) -> T:
        """``interruptible(fn(ptr))`` holding the handle alive for the call's duration."""
        p = self.acquire()

        def call() -> T:
            try:
                return fn(p)
            finally:
                self.release()

        return interruptible(call, on_abandon)

    def run_cancellable(
        self,
        fn: Callable[[int, Optional[int]], T],
        *,
        while_waiting: Optional[Callable[[], Any]] = None,
        on_abandon: Optional[Callable[[T], None]] = None,
    ) -> T:
        """``cancellable(fn(ptr, cancel))`` holding the handle alive for the call's duration."""
        p = self.acquire()

        def call(cancel: Optional[int]) -> T:
            try:
                return fn(p, cancel)
            finally:
                self.release()

        return cancellable(call, while_waiting=while_waiting, on_abandon=on_abandon)
