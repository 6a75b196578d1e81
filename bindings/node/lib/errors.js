'use strict';
const binding = require('./binding');

/** Base class of every liblnc error. */
class LncError extends Error {
  constructor(message, details = {}) {
    super(message);
    this.name = new.target.name;
    /** Error name without prefix, e.g. 'UNKNOWN_TOPIC', 'TIMED_OUT'. */
    this.code = details.code || 'UNKNOWN';
    /** The numeric lnc_err_t value. */
    this.errno = details.errno ?? 0;
    /** True when retrying the operation may succeed. */
    this.retryable = !!details.retryable;
    /** True when the handle cannot continue. */
    this.fatal = !!details.fatal;
    /** host:port of a NOT_LEADER redirect, if any. */
    this.leaderAddr = details.leaderAddr ?? null;
    /** The server offset the error carries (CatchingUp end, corrupt record start), if any. */
    this.serverOffset = details.serverOffset ?? null;
  }
}

class ConfigError extends LncError {}
class InvalidArgumentError extends LncError {}
class TimeoutError extends LncError {}
class QueueFullError extends LncError {}
class ClosedError extends LncError {}
class ProtocolError extends LncError {}
class CorruptRecordError extends ProtocolError {}
class TransportError extends LncError {}
class MessageTooLargeError extends LncError {}
class OffsetOutOfRangeError extends LncError {}
class DeliveryError extends LncError {}
/** flush()/close(): fire-and-forget records failed (code 'DELIVERY_FAILED'; the count and the first error). */
class DeliveryFailedError extends DeliveryError {}
class StateError extends LncError {}
/** A panic caught inside liblnc (code 'PANIC'): a liblnc bug; the handle is unusable. */
class InternalError extends LncError {}
/** The call's cancellation fired (an AbortSignal): code 'CANCELLED'. */
class CancelledError extends LncError {}
class IoError extends LncError {}
/** The TLS handshake failed (unknown CA, expired, name mismatch, client certificate refused). */
class TlsError extends LncError {}
/** The circuit breaker is open (code 'CIRCUIT_OPEN', -21): the server has been unreachable; retry later. */
class CircuitOpenError extends LncError {}
class ServerError extends LncError {}
class UnknownTopicError extends ServerError {}
class NotLeaderError extends ServerError {}
class ForwardFailedError extends ServerError {}
class RateLimitedError extends ServerError {}
class AuthError extends ServerError {}
class CatchingUpError extends ServerError {}
class TopicExistsError extends ServerError {}
class InvalidNameError extends ServerError {}

const CLASSES = {
  INVALID_ARG: InvalidArgumentError,
  UNKNOWN_KEY: ConfigError,
  INVALID_VALUE: ConfigError,
  TIMED_OUT: TimeoutError,
  QUEUE_FULL: QueueFullError,
  CLOSED: ClosedError,
  PROTOCOL: ProtocolError,
  CORRUPT_RECORD: CorruptRecordError,
  PANIC: InternalError,
  TRANSPORT: TransportError,
  MSG_TOO_LARGE: MessageTooLargeError,
  OFFSET_OUT_OF_RANGE: OffsetOutOfRangeError,
  PURGED: DeliveryError,
  UNKNOWN_OUTCOME: DeliveryError,
  DELIVERY_FAILED: DeliveryFailedError,
  CANCELLED: CancelledError,
  IN_CALLBACK: StateError,
  STATE: StateError,
  IO: IoError,
  TLS: TlsError,
  UNKNOWN_TOPIC: UnknownTopicError,
  NOT_LEADER: NotLeaderError,
  FORWARD_FAILED: ForwardFailedError,
  RATE_LIMITED: RateLimitedError,
  AUTH_REQUIRED: AuthError,
  AUTH_FAILED: AuthError,
  CATCHING_UP: CatchingUpError,
  TOPIC_EXISTS: TopicExistsError,
  INVALID_NAME: InvalidNameError,
  SERVER_ERROR: ServerError,
  CIRCUIT_OPEN: CircuitOpenError,
};

/** Builds the right subclass; called by the addon for every liblnc error. */
function makeError(errno, code, message, retryable, fatal, leaderAddr, serverOffset) {
  const Cls = CLASSES[code] || LncError;
  return new Cls(message, { errno, code, retryable, fatal, leaderAddr, serverOffset });
}

/** An error made in JS for a liblnc code (the same classes and fields). */
function errorFor(code, message, extra = {}) {
  return new (CLASSES[code] || LncError)(message, { code, ...extra });
}

binding.setErrorFactory(makeError);

module.exports = {
  LncError, ConfigError, InvalidArgumentError, TimeoutError, QueueFullError, ClosedError, ProtocolError,
  CorruptRecordError, TransportError, MessageTooLargeError, OffsetOutOfRangeError, DeliveryError, StateError,
  InternalError, CancelledError, DeliveryFailedError,
  IoError, TlsError, ServerError, UnknownTopicError, NotLeaderError, ForwardFailedError, RateLimitedError, AuthError,
  CatchingUpError, TopicExistsError, InvalidNameError, CircuitOpenError,
  errorFor, makeError,
};
