"""``MockBroker``: liblnc's embedded LWP mock broker with every fault control, for tests."""

from __future__ import annotations

import ctypes
import weakref
from dataclasses import dataclass
from typing import Any, Optional

from ._ffi import lib, lnc_mock_stats_t
from ._util import conf_value
from .errors import ClosedError, check, error_class

__all__ = ["MockBroker", "MockStats"]


@dataclass
class MockStats:
    connections_accepted: int
    connections_open: int
    frames_received: int
    fatal_closes: int
    ingests_received: int
    ingests_stored: int
    bytes_stored: int
    acks_sent: int
    acks_dropped: int
    errors_sent: int
    keepalives_answered: int
    control_requests: int
    fetches_served: int


def _free_mock(ptr: int) -> None:
    lib.lnc_mock_free(ptr)


class MockBroker:
    """An in-process LANCE server on 127.0.0.1 (ephemeral port by default).

    Settings are liblnc's mock keys, given as keyword arguments with ``_`` for ``.``:
    ``host``, ``port``, ``ack_delay_ms`` (default 5), ``checksum``, ``max_payload_bytes``,
    ``auth_token``, ``write_only``, ``fetch_rate_limit_bytes``, ``segment_bytes``::

        with MockBroker(ack_delay_ms=0) as mock:
            tid = mock.create_topic("events")
            producer = Producer(mock.address)
    """

    def __init__(self, **settings: Any) -> None:
        keys = [k.replace("_", ".").encode() for k in settings]
        vals = [conf_value(v).encode() for v in settings.values()]
        n = len(keys)
        karr = (ctypes.c_char_p * max(n, 1))(*keys)
        varr = (ctypes.c_char_p * max(n, 1))(*vals)
        out = ctypes.c_void_p()
        buf = ctypes.create_string_buffer(512)
        rc = lib.lnc_mock_new(karr, varr, n, ctypes.byref(out), buf, len(buf))
        if rc:
            raise error_class(rc)._create(f"mock: {buf.value.decode('utf-8', 'replace')}", code=rc)
        ptr = out.value or 0
        self._ptr: Optional[int] = ptr
        self._finalizer = weakref.finalize(self, _free_mock, ptr)

    @property
    def _p(self) -> int:
        if not self._ptr:
            raise ClosedError("mock broker is closed")
        return self._ptr

    # --- addressing --------------------------------------------------------------------------

    @property
    def address(self) -> str:
        """``host:port`` to connect to."""
        buf = ctypes.create_string_buffer(128)
        lib.lnc_mock_address(self._p, buf, len(buf))
        return buf.value.decode()

    @property
    def port(self) -> int:
        return int(lib.lnc_mock_port(self._p))

    # --- topics & data -----------------------------------------------------------------------

    def create_topic(self, name: str) -> int:
        """Creates a topic directly; returns its id (TopicAlreadyExistsError / InvalidTopicNameError,
        with liblnc's reason)."""
        tid = ctypes.c_uint32()
        err = ctypes.c_void_p()
        check(lib.lnc_mock_create_topic(self._p, name.encode(), ctypes.byref(tid), ctypes.byref(err)), err, context=f"topic {name!r}")
        return tid.value

    def topic_size(self, topic_id: int) -> int:
        """Bytes stored in a topic's log."""
        n = ctypes.c_uint64()
        check(lib.lnc_mock_topic_size(self._p, topic_id, ctypes.byref(n)))
        return n.value

    def truncate_front(self, topic_id: int, n: int) -> None:
        """Drops ``n`` bytes from the front of a topic's log (a retention shift)."""
        check(lib.lnc_mock_truncate_front(self._p, topic_id, n))

    def stats(self) -> MockStats:
        s = lnc_mock_stats_t()
        check(lib.lnc_mock_stats(self._p, ctypes.byref(s)))
        return MockStats(**{f[0]: getattr(s, f[0]) for f in lnc_mock_stats_t._fields_})

    # --- fault injection ---------------------------------------------------------------------

    def drop_after_frames(self, n: int) -> None:
        """Closes the connection receiving the n-th next frame (its acks are lost). 0 disables."""
        check(lib.lnc_mock_drop_after_frames(self._p, n))

    def drop_after_bytes(self, n: int) -> None:
        """Closes the connection receiving the n-th next byte. 0 disables."""
        check(lib.lnc_mock_drop_after_bytes(self._p, n))

    def disconnect_all(self) -> None:
        """Cuts every open connection now."""
        check(lib.lnc_mock_disconnect_all(self._p))

    def set_ack_delay_ms(self, ms: int) -> None:
        """Durability delay before acks (the real server's is about 5 ms)."""
        check(lib.lnc_mock_set_ack_delay_ms(self._p, ms))

    def drop_next_acks(self, n: int) -> None:
        """Stores the next n ingests but never acks them (quorum loss)."""
        check(lib.lnc_mock_drop_next_acks(self._p, n))

    def stall_reading(self, stall: bool = True) -> None:
        """Stops (True) or resumes (False) reading sockets: TCP backpressure."""
        check(lib.lnc_mock_stall_reading(self._p, 1 if stall else 0))

    def force_catching_up(self, n: int) -> None:
        """Answers the next n data fetches with CatchingUp(end)."""
        check(lib.lnc_mock_force_catching_up(self._p, n))

    def set_fetch_rate_limit(self, bytes_per_sec: int) -> None:
        """Server-wide fetch rate limit (0 = off)."""
        check(lib.lnc_mock_set_fetch_rate_limit(self._p, bytes_per_sec))

    def restart(self) -> None:
        """Cuts connections, forgets subscriptions, runs the TLV recovery scan; keeps data."""
        check(lib.lnc_mock_restart(self._p))

    def set_write_only(self, on: bool = True) -> None:
        check(lib.lnc_mock_set_write_only(self._p, 1 if on else 0))

    def fail_next_ingests(self, n: int, text: str, store: bool = False) -> None:
        """Answers the next n ingests with ErrorResponse ``text`` (e.g. ``"FORWARD_FAILED: x"``,
        ``"NOT_LEADER: redirect to host:port"``); ``store`` stores them anyway."""
        check(lib.lnc_mock_fail_next_ingests(self._p, n, text.encode(), 1 if store else 0))

    def fail_next_requests(self, n: int, text: str) -> None:
        """Answers the next n control requests (fetches included) with ErrorResponse ``text``."""
        check(lib.lnc_mock_fail_next_requests(self._p, n, text.encode()))

    def require_token(self, token: Optional[str]) -> None:
        """Requires ``token`` for ingests (None = no authentication)."""
        check(lib.lnc_mock_require_token(self._p, token.encode() if token is not None else None))

    # --- lifecycle ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Stops the broker (idempotent); the object stays valid for stats."""
        if self._ptr:
            check(lib.lnc_mock_stop(self._ptr))

    def close(self) -> None:
        """Stops and frees the broker."""
        if self._ptr:
            self._ptr = None
            self._finalizer()

    @property
    def closed(self) -> bool:
        return not self._ptr

    def __enter__(self) -> "MockBroker":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MockBroker({self.address if self._ptr else 'closed'})"
