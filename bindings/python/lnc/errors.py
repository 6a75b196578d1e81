"""The ``LanceError`` hierarchy and the single mapping table from ``lnc_err_t`` codes to classes.

Names follow the seed client (``lnc-client``): ``ConnectionError``, ``BackpressureError``,
``TopicNotFoundError``, ``NotLeaderError(leader_addr)``, ``ServerCatchingUpError(server_offset)``,
``AccessDeniedError``, ``InvalidFrameError``, ``TimeoutError`` ... plus one class for every other
liblnc category. Every error carries ``code`` (the ``lnc_err_t`` value), ``code_name``
(``"TIMED_OUT"``), ``message`` (liblnc's text; server errors keep the server's exact text),
``fatal`` and ``is_retryable()`` (liblnc's verdict when it gave details, else the category's).

``lnc.ConnectionError`` and ``lnc.TimeoutError`` carry the seed client's names and also derive
from the builtins of the same name, so ``except TimeoutError`` / ``except ConnectionError`` (and
``except OSError``) written against the builtins catch them too.
"""

from __future__ import annotations

import builtins
import ctypes
from typing import Optional, Union

from . import _ffi as F
from ._ffi import lib

__all__ = [
    "LanceError",
    "InvalidArgumentError",
    "ConfigError",
    "UnknownConfigKeyError",
    "InvalidConfigValueError",
    "TimeoutError",
    "BackpressureError",
    "ClosedError",
    "ProtocolError",
    "InvalidFrameError",
    "CorruptRecordError",
    "InternalError",
    "ConnectionError",
    "MessageTooLargeError",
    "OffsetOutOfRangeError",
    "PurgedError",
    "UnknownOutcomeError",
    "InCallbackError",
    "StateError",
    "LocalIOError",
    "TlsError",
    "TopicNotFoundError",
    "NotLeaderError",
    "ForwardFailedError",
    "RateLimitedError",
    "AccessDeniedError",
    "AuthenticationRequiredError",
    "AuthenticationFailedError",
    "ServerCatchingUpError",
    "TopicAlreadyExistsError",
    "InvalidTopicNameError",
    "ServerError",
    "CancelledError",
    "DeliveryFailedError",
    "CircuitOpenError",
    "ERROR_CLASSES",
    "error_class",
    "make_error",
]


class LanceError(Exception):
    """Base of every error raised by ``lnc``."""

    #: Default ``lnc_err_t`` of the class (instances carry the actual one).
    default_code: int = F.LNC_ERR_SERVER_ERROR
    #: Retryability of the category when liblnc gave no verdict.
    retryable_default: bool = False

    def __init__(
        self,
        message: str = "",
        *,
        code: Optional[int] = None,
        retryable: Optional[bool] = None,
        fatal: bool = False,
        leader_addr: Optional[str] = None,
        server_offset: Optional[int] = None,
    ) -> None:
        self.code: int = self.default_code if code is None else code
        self.message: str = message or F.err_str(self.code)
        self.fatal: bool = fatal
        self._retryable = retryable
        self.leader_addr: Optional[str] = leader_addr
        self.server_offset: Optional[int] = server_offset
        super().__init__(self.message)

    @property
    def code_name(self) -> str:
        """The code's name without prefix, e.g. ``"QUEUE_FULL"``."""
        return F.err_name(self.code)

    def is_retryable(self) -> bool:
        """Whether retrying the operation may succeed."""
        if self._retryable is not None:
            return self._retryable
        return self.retryable_default

    def __str__(self) -> str:
        return f"[{self.code_name}] {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code_name}, message={self.message!r})"

    @classmethod
    def _create(cls, message: str, **kw) -> "LanceError":
        """Builds an instance bypassing subclasses' seed-compatible positional signatures."""
        e = cls.__new__(cls)
        LanceError.__init__(e, message, **kw)
        return e

    def __reduce__(self):  # picklable (e.g. across process pools)
        return (
            _rebuild,
            (type(self), self.message, self.code, self._retryable, self.fatal, self.leader_addr, self.server_offset),
        )


def _rebuild(cls, message, code, retryable, fatal, leader, offset):
    return cls._create(message, code=code, retryable=retryable, fatal=fatal, leader_addr=leader, server_offset=offset)


# --- local conditions ---------------------------------------------------------------------------


class InvalidArgumentError(LanceError, ValueError):
    """A bad argument (NULL, invalid UTF-8, out-of-range value, invalid record type ...)."""

    default_code = F.LNC_ERR_INVALID_ARG


class ConfigError(LanceError, ValueError):
    """A configuration key or value was refused."""

    default_code = F.LNC_ERR_INVALID_VALUE


class UnknownConfigKeyError(ConfigError):
    default_code = F.LNC_ERR_UNKNOWN_KEY


class InvalidConfigValueError(ConfigError):
    default_code = F.LNC_ERR_INVALID_VALUE


class TimeoutError(LanceError, builtins.TimeoutError):
    """Operation exceeded its deadline (also a builtin ``TimeoutError``)."""

    default_code = F.LNC_ERR_TIMED_OUT
    retryable_default = True


class BackpressureError(LanceError):
    """The producer buffer is full (QUEUE_FULL); the server's rate limit is a subclass."""

    default_code = F.LNC_ERR_QUEUE_FULL
    retryable_default = True


class ClosedError(LanceError):
    """The handle is closed."""

    default_code = F.LNC_ERR_CLOSED


class ProtocolError(LanceError):
    """Base of protocol-level errors (the peer broke LWP, or the log holds undecodable bytes)."""

    default_code = F.LNC_ERR_PROTOCOL


class InvalidFrameError(ProtocolError):
    """The peer broke the protocol (bad frame, checksum mismatch ...)."""

    default_code = F.LNC_ERR_PROTOCOL


class CorruptRecordError(InvalidFrameError):
    """A record in the log cannot be decoded; ``server_offset`` is where it starts."""

    default_code = F.LNC_ERR_CORRUPT_RECORD


class InternalError(LanceError):
    """A panic was caught at liblnc's API boundary (a liblnc bug)."""

    default_code = F.LNC_ERR_PANIC


class ConnectionError(LanceError, builtins.ConnectionError):
    """Connecting failed or the connection was lost (also a builtin ``ConnectionError``)."""

    default_code = F.LNC_ERR_TRANSPORT
    retryable_default = True


class MessageTooLargeError(LanceError, ValueError):
    """A record or batch exceeds the frame size limit."""

    default_code = F.LNC_ERR_MSG_TOO_LARGE


class OffsetOutOfRangeError(LanceError):
    """The position is past the topic's end; ``server_offset`` is the end when known."""

    default_code = F.LNC_ERR_OFFSET_OUT_OF_RANGE


class PurgedError(LanceError):
    """The record was purged (e.g. by close) before it was sent."""

    default_code = F.LNC_ERR_PURGED


class UnknownOutcomeError(LanceError):
    """The batch may or may not be stored."""

    default_code = F.LNC_ERR_UNKNOWN_OUTCOME


class InCallbackError(LanceError, RuntimeError):
    """close/flush/poll/free called from inside a callback of the same handle."""

    default_code = F.LNC_ERR_IN_CALLBACK


class StateError(LanceError, RuntimeError):
    """Invalid in the handle's current state."""

    default_code = F.LNC_ERR_STATE


class LocalIOError(LanceError, OSError):
    """A local I/O failure (offset store, eventfd ...)."""

    default_code = F.LNC_ERR_IO


class TlsError(LanceError):
    """The TLS handshake failed: unknown CA, expired certificate, server name mismatch, or the
    server refused (or demanded) the client certificate. The message says which."""

    default_code = F.LNC_ERR_TLS


# --- server categories --------------------------------------------------------------------------


class TopicNotFoundError(LanceError):
    """The topic does not exist. ``topic_id`` is the id or name asked for when known (the seed's
    ``TopicNotFoundError(topic_id)``)."""

    default_code = F.LNC_ERR_UNKNOWN_TOPIC
    topic_id: Union[int, str, None] = None

    def __init__(self, topic_id: Union[int, str, None] = None, message: str = "", **kw) -> None:
        if not message:
            message = f"Topic not found: {topic_id}" if topic_id is not None else ""
        super().__init__(message, **kw)
        self.topic_id = topic_id


class NotLeaderError(LanceError):
    """The server is not the leader; ``leader_addr`` is the redirect target (or None)."""

    default_code = F.LNC_ERR_NOT_LEADER
    retryable_default = True

    def __init__(self, leader_addr: Optional[str] = None, message: str = "", **kw) -> None:
        if not message:
            message = "Not leader" + (f" — redirect to {leader_addr}" if leader_addr else "")
        super().__init__(message, leader_addr=leader_addr, **kw)


class ForwardFailedError(LanceError):
    """The server failed to forward to the leader (retryable; the batch may be stored)."""

    default_code = F.LNC_ERR_FORWARD_FAILED
    retryable_default = True


class RateLimitedError(BackpressureError):
    """The server's rate limit (retry after at least 1 s)."""

    default_code = F.LNC_ERR_RATE_LIMITED


class AccessDeniedError(LanceError):
    """Base of authentication errors."""

    default_code = F.LNC_ERR_AUTH_FAILED


class AuthenticationRequiredError(AccessDeniedError):
    default_code = F.LNC_ERR_AUTH_REQUIRED


class AuthenticationFailedError(AccessDeniedError):
    default_code = F.LNC_ERR_AUTH_FAILED


class ServerCatchingUpError(LanceError):
    """The server is catching up / the offset is at or past the end; ``server_offset`` = its end."""

    default_code = F.LNC_ERR_CATCHING_UP
    retryable_default = True

    def __init__(self, server_offset: Optional[int] = None, message: str = "", **kw) -> None:
        if not message:
            message = f"Server catching up (at offset {server_offset or 0})"
        super().__init__(message, server_offset=server_offset, **kw)


class TopicAlreadyExistsError(LanceError):
    default_code = F.LNC_ERR_TOPIC_EXISTS


class InvalidTopicNameError(LanceError, ValueError):
    """Topic names are 1-255 bytes of ``[A-Za-z0-9-]``. ``name`` is the refused name when known
    (the seed's ``InvalidTopicNameError(name)``)."""

    default_code = F.LNC_ERR_INVALID_NAME
    name: Optional[str] = None

    def __init__(self, name: Optional[str] = None, message: str = "", **kw) -> None:
        if not message and name is not None:
            message = f"Invalid topic name: {name!r}; names are 1-255 characters of [A-Za-z0-9-]"
        super().__init__(message, **kw)
        self.name = name


class ServerError(LanceError):
    """Any other server error (text kept verbatim)."""

    default_code = F.LNC_ERR_SERVER_ERROR


class CancelledError(LanceError):
    """The call was cancelled (Ctrl-C while it waited): nothing it was given was accepted. A
    ``send`` cancelled while waiting for its acknowledgement may still be delivered."""

    default_code = F.LNC_ERR_CANCELLED


class DeliveryFailedError(LanceError):
    """Raised by ``flush()``/``close()`` when fire-and-forget records (sent without a callback or
    future) failed since the last flush. liblnc counts them (``records_failed``); the message
    gives the count and the first failure's text. ``close()`` has closed the producer all the
    same."""

    default_code = F.LNC_ERR_DELIVERY_FAILED


class CircuitOpenError(LanceError):
    """The circuit breaker is open (the server has been unreachable): a non-blocking send
    (``send.block=false``) fails at once instead of queueing. Retryable."""

    default_code = F.LNC_ERR_CIRCUIT_OPEN
    retryable_default = True


# ------------------------------------------------------------------------------------------------
# THE mapping table: lnc_err_t -> class (one entry per category).
# ------------------------------------------------------------------------------------------------

ERROR_CLASSES: dict[int, type[LanceError]] = {
    F.LNC_ERR_INVALID_ARG: InvalidArgumentError,
    F.LNC_ERR_UNKNOWN_KEY: UnknownConfigKeyError,
    F.LNC_ERR_INVALID_VALUE: InvalidConfigValueError,
    F.LNC_ERR_TIMED_OUT: TimeoutError,
    F.LNC_ERR_QUEUE_FULL: BackpressureError,
    F.LNC_ERR_CLOSED: ClosedError,
    F.LNC_ERR_PROTOCOL: InvalidFrameError,
    F.LNC_ERR_CORRUPT_RECORD: CorruptRecordError,
    F.LNC_ERR_PANIC: InternalError,
    F.LNC_ERR_TRANSPORT: ConnectionError,
    F.LNC_ERR_MSG_TOO_LARGE: MessageTooLargeError,
    F.LNC_ERR_OFFSET_OUT_OF_RANGE: OffsetOutOfRangeError,
    F.LNC_ERR_PURGED: PurgedError,
    F.LNC_ERR_UNKNOWN_OUTCOME: UnknownOutcomeError,
    F.LNC_ERR_IN_CALLBACK: InCallbackError,
    F.LNC_ERR_STATE: StateError,
    F.LNC_ERR_IO: LocalIOError,
    F.LNC_ERR_TLS: TlsError,
    F.LNC_ERR_CANCELLED: CancelledError,
    F.LNC_ERR_DELIVERY_FAILED: DeliveryFailedError,
    F.LNC_ERR_CIRCUIT_OPEN: CircuitOpenError,
    F.LNC_ERR_UNKNOWN_TOPIC: TopicNotFoundError,
    F.LNC_ERR_NOT_LEADER: NotLeaderError,
    F.LNC_ERR_FORWARD_FAILED: ForwardFailedError,
    F.LNC_ERR_RATE_LIMITED: RateLimitedError,
    F.LNC_ERR_AUTH_REQUIRED: AuthenticationRequiredError,
    F.LNC_ERR_AUTH_FAILED: AuthenticationFailedError,
    F.LNC_ERR_CATCHING_UP: ServerCatchingUpError,
    F.LNC_ERR_TOPIC_EXISTS: TopicAlreadyExistsError,
    F.LNC_ERR_INVALID_NAME: InvalidTopicNameError,
    F.LNC_ERR_SERVER_ERROR: ServerError,
}


def error_class(code: int) -> type[LanceError]:
    return ERROR_CLASSES.get(code, LanceError)


def make_error(code: int, err_ptr: Optional[int] = None, *, free: bool = True, context: str = "") -> LanceError:
    """Builds the exception for ``code`` from an optional ``lnc_error_t *`` (freed unless told)."""
    message = ""
    retryable: Optional[bool] = None
    fatal = False
    leader: Optional[str] = None
    offset: Optional[int] = None
    if err_ptr:
        code = lib.lnc_error_code(err_ptr) or code
        raw = lib.lnc_error_message(err_ptr)
        message = raw.decode("utf-8", "replace") if raw else ""
        retryable = bool(lib.lnc_error_retryable(err_ptr))
        fatal = bool(lib.lnc_error_fatal(err_ptr))
        ld = lib.lnc_error_leader(err_ptr)
        leader = ld.decode("utf-8", "replace") if ld else None
        off = ctypes.c_uint64()
        if lib.lnc_error_server_offset(err_ptr, ctypes.byref(off)):
            offset = off.value
        if free:
            lib.lnc_error_free(err_ptr)
    if not message:
        message = F.err_str(code)
    if context:
        message = f"{context}: {message}"
    cls = error_class(code)
    return cls._create(message, code=code, retryable=retryable, fatal=fatal, leader_addr=leader, server_offset=offset)


def check(rc: int, errp: Optional[ctypes.c_void_p] = None, context: str = "") -> None:
    """Raises the mapped error when ``rc`` is not OK (freeing the ``lnc_error_t`` if any)."""
    if rc:
        raise make_error(rc, errp.value if errp is not None else None, context=context)
