//! The one error type of liblnc (design.md §5).
//!
//! [`ErrorCode`] values are stable: they are the `lnc_err_t` numbers of the C ABI. 0 is success,
//! negative codes are local conditions, positive codes are server categories (lwp.md §6).

use std::fmt;

/// Error categories. The numeric values are part of the C ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum ErrorCode {
    /// Success (never carried by an [`Error`]).
    Ok = 0,
    /// A bad argument: NULL pointer, invalid UTF-8, out-of-range value.
    InvalidArg = -1,
    /// An unknown configuration key.
    UnknownKey = -2,
    /// A configuration value that does not parse or is out of range.
    InvalidValue = -3,
    /// A deadline passed (request timeout, delivery timeout, poll/flush timeout).
    TimedOut = -4,
    /// The producer's buffer is full and `send.block=false` (or the block timed out).
    QueueFull = -5,
    /// The handle is closed or closing.
    Closed = -6,
    /// The peer broke the protocol (bad frame, unexpected reply); the connection was dropped.
    Protocol = -7,
    /// A record in the log cannot be decoded; `server_offset` is where it starts.
    CorruptRecord = -8,
    /// A panic was caught at the C boundary.
    Panic = -9,
    /// Connecting failed or the connection was lost.
    Transport = -10,
    /// A record or batch is larger than the configured frame limit.
    MsgTooLarge = -11,
    /// The consumer's position is past the topic's end (retention or restart moved offsets).
    OffsetOutOfRange = -12,
    /// The record was purged from the queue before it was sent (close, purge).
    Purged = -13,
    /// The batch was in flight when its connection was lost and retries ran out: it may or may
    /// not be stored.
    UnknownOutcome = -14,
    /// A call that is not allowed from inside a callback of the same handle (close, free).
    InCallback = -15,
    /// The call is not valid in the handle's current state.
    State = -16,
    /// A local I/O failure (offset store files).
    Io = -17,
    /// The TLS handshake failed: unknown CA, expired certificate, name mismatch, client
    /// certificate refused, or no common protocol. Not retryable when a certificate is the cause.
    Tls = -18,
    /// The call's cancellation token (`lnc_cancel_t`) was fired; nothing was accepted or changed.
    Cancelled = -19,
    /// `flush`/`close`: fire-and-forget records (no callback and no opaque, so no one to report
    /// to) failed since the last flush; the message gives their count and the first error.
    DeliveryFailed = -20,
    /// The circuit breaker is open (`circuit.breaker.failures` connection failures in a row) and
    /// the call would have to wait for a connection: a `send` with `send.block=false` fails fast
    /// with it instead of queueing. Retryable once the circuit closes.
    CircuitOpen = -21,
    /// The topic does not exist (ingest, fetch, get, delete).
    UnknownTopic = 1,
    /// The node is not the leader; `leader` may hold the address to redirect to.
    NotLeader = 2,
    /// A follower could not forward to the leader: retryable.
    ForwardFailed = 3,
    /// The server's fetch rate limit: retry after at least one second.
    RateLimited = 4,
    /// Ingest on a connection that has not authenticated.
    AuthRequired = 5,
    /// The token was refused.
    AuthFailed = 6,
    /// The server is catching up / the offset is at or past the end; `server_offset` is the end.
    CatchingUp = 7,
    /// CreateTopic of a name that exists.
    TopicExists = 8,
    /// The topic name is invalid (empty, characters outside `[A-Za-z0-9-]`, over 255 bytes).
    InvalidName = 9,
    /// Any other server error text (including requests the server found malformed).
    ServerError = 10,
}

impl ErrorCode {
    /// Every code, for tables and bindings.
    pub const ALL: [ErrorCode; 32] = [
        ErrorCode::Ok,
        ErrorCode::InvalidArg,
        ErrorCode::UnknownKey,
        ErrorCode::InvalidValue,
        ErrorCode::TimedOut,
        ErrorCode::QueueFull,
        ErrorCode::Closed,
        ErrorCode::Protocol,
        ErrorCode::CorruptRecord,
        ErrorCode::Panic,
        ErrorCode::Transport,
        ErrorCode::MsgTooLarge,
        ErrorCode::OffsetOutOfRange,
        ErrorCode::Purged,
        ErrorCode::UnknownOutcome,
        ErrorCode::InCallback,
        ErrorCode::State,
        ErrorCode::Io,
        ErrorCode::Tls,
        ErrorCode::Cancelled,
        ErrorCode::DeliveryFailed,
        ErrorCode::CircuitOpen,
        ErrorCode::UnknownTopic,
        ErrorCode::NotLeader,
        ErrorCode::ForwardFailed,
        ErrorCode::RateLimited,
        ErrorCode::AuthRequired,
        ErrorCode::AuthFailed,
        ErrorCode::CatchingUp,
        ErrorCode::TopicExists,
        ErrorCode::InvalidName,
        ErrorCode::ServerError,
    ];

    /// The code for a C `lnc_err_t` value.
    pub fn from_i32(v: i32) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| *c as i32 == v)
    }

    /// Upper-case name, as in the C enum (`TIMED_OUT`).
    pub fn name(self) -> &'static str {
        use ErrorCode::*;
        match self {
            Ok => "OK",
            InvalidArg => "INVALID_ARG",
            UnknownKey => "UNKNOWN_KEY",
            InvalidValue => "INVALID_VALUE",
            TimedOut => "TIMED_OUT",
            QueueFull => "QUEUE_FULL",
            Closed => "CLOSED",
            Protocol => "PROTOCOL",
            CorruptRecord => "CORRUPT_RECORD",
            Panic => "PANIC",
            Transport => "TRANSPORT",
            MsgTooLarge => "MSG_TOO_LARGE",
            OffsetOutOfRange => "OFFSET_OUT_OF_RANGE",
            Purged => "PURGED",
            UnknownOutcome => "UNKNOWN_OUTCOME",
            InCallback => "IN_CALLBACK",
            State => "STATE",
            Io => "IO",
            Tls => "TLS",
            Cancelled => "CANCELLED",
            DeliveryFailed => "DELIVERY_FAILED",
            CircuitOpen => "CIRCUIT_OPEN",
            UnknownTopic => "UNKNOWN_TOPIC",
            NotLeader => "NOT_LEADER",
            ForwardFailed => "FORWARD_FAILED",
            RateLimited => "RATE_LIMITED",
            AuthRequired => "AUTH_REQUIRED",
            AuthFailed => "AUTH_FAILED",
            CatchingUp => "CATCHING_UP",
            TopicExists => "TOPIC_EXISTS",
            InvalidName => "INVALID_NAME",
            ServerError => "SERVER_ERROR",
        }
    }

    /// A one-line description.
    pub fn description(self) -> &'static str {
        use ErrorCode::*;
        match self {
            Ok => "success",
            InvalidArg => "invalid argument",
            UnknownKey => "unknown configuration key",
            InvalidValue => "invalid configuration value",
            TimedOut => "operation timed out",
            QueueFull => "producer queue is full",
            Closed => "handle is closed",
            Protocol => "protocol violation by the peer",
            CorruptRecord => "corrupt record in the log",
            Panic => "internal panic caught at the API boundary",
            Transport => "connection failed or lost",
            MsgTooLarge => "record or batch exceeds the frame size limit",
            OffsetOutOfRange => "offset is beyond the end of the topic",
            Purged => "record purged before it was sent",
            UnknownOutcome => "batch outcome unknown: it may or may not be stored",
            InCallback => "call not allowed from inside a callback of the same handle",
            State => "operation invalid in the current state",
            Io => "local I/O error",
            Tls => "TLS handshake failed",
            Cancelled => "cancelled by the caller",
            DeliveryFailed => "fire-and-forget records failed",
            CircuitOpen => "circuit breaker open: the server has been unreachable",
            UnknownTopic => "unknown topic",
            NotLeader => "server is not the leader",
            ForwardFailed => "server failed to forward to the leader",
            RateLimited => "server rate limit exceeded",
            AuthRequired => "authentication required",
            AuthFailed => "authentication failed",
            CatchingUp => "server is catching up or offset is at/after the end",
            TopicExists => "topic already exists",
            InvalidName => "invalid topic name",
            ServerError => "server error",
        }
    }

    /// Whether retrying the same operation can succeed by itself (lwp.md §6).
    pub fn default_retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::TimedOut
                | ErrorCode::Transport
                | ErrorCode::ForwardFailed
                | ErrorCode::RateLimited
                | ErrorCode::CatchingUp
                | ErrorCode::NotLeader
                | ErrorCode::QueueFull
                | ErrorCode::CircuitOpen
                | ErrorCode::UnknownOutcome
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A rich error: category, message (server text kept verbatim), and what the caller may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// The category.
    pub code: ErrorCode,
    /// Human-readable message; for server errors, the server's exact text.
    pub message: String,
    /// Retrying may succeed.
    pub retryable: bool,
    /// The handle cannot continue (e.g. authentication failure on a producer).
    pub fatal: bool,
    /// `host:port` from `NOT_LEADER: redirect to …`.
    pub leader: Option<String>,
    /// An offset the server reported (CatchingUp end, OffsetOutOfRange end, CorruptRecord start).
    pub server_offset: Option<u64>,
}

impl Error {
    /// An error of `code` with a message; retryable per the code's default, not fatal.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
            retryable: code.default_retryable(),
            fatal: false,
            leader: None,
            server_offset: None,
        }
    }

    /// Marks the error fatal.
    pub fn fatal(mut self) -> Error {
        self.fatal = true;
        self.retryable = false;
        self
    }

    /// Attaches a server-reported offset.
    pub fn with_offset(mut self, offset: u64) -> Error {
        self.server_offset = Some(offset);
        self
    }

    /// Overrides retryability.
    pub fn with_retryable(mut self, retryable: bool) -> Error {
        self.retryable = retryable;
        self
    }

    /// Classifies a server ErrorResponse text (lwp.md §6).
    pub fn from_server_text(text: &str) -> Error {
        crate::wire::classify::classify(text)
    }

    /// Shorthand: a timeout.
    pub fn timed_out(message: impl Into<String>) -> Error {
        Error::new(ErrorCode::TimedOut, message)
    }

    /// Shorthand: invalid argument.
    pub fn invalid_arg(message: impl Into<String>) -> Error {
        Error::new(ErrorCode::InvalidArg, message)
    }

    /// Shorthand: handle closed.
    pub fn closed(message: impl Into<String>) -> Error {
        Error::new(ErrorCode::Closed, message)
    }

    /// Shorthand: protocol violation.
    pub fn protocol(message: impl Into<String>) -> Error {
        Error::new(ErrorCode::Protocol, message)
    }

    /// Shorthand: transport failure.
    pub fn transport(message: impl Into<String>) -> Error {
        Error::new(ErrorCode::Transport, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.name(), self.message)
    }
}

impl std::error::Error for Error {}

impl From<crate::wire::frame::FrameError> for Error {
    fn from(e: crate::wire::frame::FrameError) -> Error {
        Error::protocol(e.to_string())
    }
}

impl From<crate::wire::control::ReplyError> for Error {
    fn from(e: crate::wire::control::ReplyError) -> Error {
        Error::protocol(e.to_string())
    }
}

impl From<crate::wire::tlv::CorruptRecord> for Error {
    fn from(e: crate::wire::tlv::CorruptRecord) -> Error {
        Error::new(ErrorCode::CorruptRecord, e.to_string()).with_offset(e.offset)
    }
}

impl From<crate::wire::tlv::RecordError> for Error {
    fn from(e: crate::wire::tlv::RecordError) -> Error {
        let code = match e {
            crate::wire::tlv::RecordError::TooLarge(_) => ErrorCode::MsgTooLarge,
            _ => ErrorCode::InvalidArg,
        };
        Error::new(code, e.to_string())
    }
}

/// `Result` with liblnc's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
