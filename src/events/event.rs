//! The event type: one model for producer, consumer and admin handles.

use std::time::Duration;

use crate::error::ErrorCode;

/// What happened. The numeric values are the C ABI's `LNC_EVENT_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum EventKind {
    /// A connection attempt starts (`server` = the first address tried).
    Connecting = 1,
    /// A connection is up and authenticated (`server`, `node_id`).
    Connected = 2,
    /// A connection was lost (`code` and `message` say why).
    Disconnected = 3,
    /// A connect attempt failed; the next one starts after `delay` (`attempt` = failures in a row).
    ReconnectScheduled = 4,
    /// A NOT_LEADER reply redirected the handle to `server`.
    LeaderChanged = 5,
    /// The server refused the token (AUTH_FAILED); no retry.
    AuthFailed = 6,
    /// The handle failed for good (`code`, `message`).
    Fatal = 7,
    /// `circuit.breaker.failures` connection failures in a row: the circuit opened.
    CircuitOpen = 8,
    /// `circuit.breaker.reset.ms` passed: one trial connection is allowed.
    CircuitHalfOpen = 9,
    /// A connection succeeded: the circuit closed.
    CircuitClosed = 10,
    /// The periodic statistics document (`message` holds the JSON text).
    Statistics = 11,
    /// The event queue was full: `attempt` events were dropped before this one (never silently).
    EventsDropped = 12,
}

impl EventKind {
    /// Every kind, for tables and bindings.
    pub const ALL: [EventKind; 12] = [
        EventKind::Connecting,
        EventKind::Connected,
        EventKind::Disconnected,
        EventKind::ReconnectScheduled,
        EventKind::LeaderChanged,
        EventKind::AuthFailed,
        EventKind::Fatal,
        EventKind::CircuitOpen,
        EventKind::CircuitHalfOpen,
        EventKind::CircuitClosed,
        EventKind::Statistics,
        EventKind::EventsDropped,
    ];

    /// Lower-case name (`reconnect_scheduled`), as in the C `lnc_event_kind_name`.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Connecting => "connecting",
            EventKind::Connected => "connected",
            EventKind::Disconnected => "disconnected",
            EventKind::ReconnectScheduled => "reconnect_scheduled",
            EventKind::LeaderChanged => "leader_changed",
            EventKind::AuthFailed => "auth_failed",
            EventKind::Fatal => "fatal",
            EventKind::CircuitOpen => "circuit_open",
            EventKind::CircuitHalfOpen => "circuit_half_open",
            EventKind::CircuitClosed => "circuit_closed",
            EventKind::Statistics => "statistics",
            EventKind::EventsDropped => "events_dropped",
        }
    }

    /// The kind for a C `LNC_EVENT_*` value.
    pub fn from_i32(v: i32) -> Option<EventKind> {
        EventKind::ALL.iter().copied().find(|k| *k as i32 == v)
    }

    /// The log level this kind is logged at.
    pub fn level(self) -> super::Level {
        use super::Level;
        match self {
            EventKind::Connecting | EventKind::Statistics => Level::Debug,
            EventKind::Connected
            | EventKind::ReconnectScheduled
            | EventKind::LeaderChanged
            | EventKind::CircuitHalfOpen
            | EventKind::CircuitClosed => Level::Info,
            EventKind::Disconnected | EventKind::CircuitOpen | EventKind::EventsDropped => Level::Warn,
            EventKind::AuthFailed | EventKind::Fatal => Level::Error,
        }
    }
}

/// One event, owned by whoever took it from the handle.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The error behind it (`Ok` when there is none).
    pub code: ErrorCode,
    /// The server concerned (`host:port`), empty when none.
    pub server: String,
    /// The node id when known (LWP's handshake does not name the node: 0 = unknown).
    pub node_id: u32,
    /// Failures in a row (reconnect scheduled) or events dropped (events dropped).
    pub attempt: u32,
    /// The delay before the next attempt (reconnect scheduled, circuit open).
    pub delay: Duration,
    /// A readable sentence (the reason), or the JSON document for statistics.
    pub message: String,
}

impl Event {
    /// An event of `kind` with `message` and nothing else set.
    pub fn new(kind: EventKind, message: impl Into<String>) -> Event {
        Event {
            kind,
            code: ErrorCode::Ok,
            server: String::new(),
            node_id: 0,
            attempt: 0,
            delay: Duration::ZERO,
            message: message.into(),
        }
    }

    /// Sets the server.
    pub fn server(mut self, server: impl Into<String>) -> Event {
        self.server = server.into();
        self
    }

    /// Sets the error code.
    pub fn code(mut self, code: ErrorCode) -> Event {
        self.code = code;
        self
    }

    /// Sets attempt and delay.
    pub fn attempt(mut self, attempt: u32, delay: Duration) -> Event {
        self.attempt = attempt;
        self.delay = delay;
        self
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.kind.name())?;
        if !self.server.is_empty() {
            write!(f, " {}", self.server)?;
        }
        if self.code != ErrorCode::Ok {
            write!(f, " [{}]", self.code.name())?;
        }
        if self.kind == EventKind::ReconnectScheduled {
            write!(f, " in {} ms (attempt {})", self.delay.as_millis(), self.attempt)?;
        }
        if !self.message.is_empty() && self.kind != EventKind::Statistics {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}
