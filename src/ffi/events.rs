//! `lnc_event_*` and the log / event callbacks on the conf: the C face of [`crate::events`].
//! The poll calls per handle kind live beside their handle (`lnc_producer_poll_events`, …) and
//! share [`copy_events`].

use std::ffi::{c_char, c_void, CStr};

use super::conf::lnc_conf_t;
use super::{cstring_lossy, lnc_err_t};
use crate::events::{Event, EventKind, Level};
use crate::ffi_guard;

/// Event kinds (see the README's "Events and logs").
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum lnc_event_kind_t {
    /// A connection attempt starts (`server` = the first address tried).
    LNC_EVENT_CONNECTING = 1,
    /// A connection is up and authenticated (`server`; `node_id` 0 = unknown).
    LNC_EVENT_CONNECTED = 2,
    /// A connection was lost (`err`, `message`: why).
    LNC_EVENT_DISCONNECTED = 3,
    /// A connect attempt failed; the next starts after `delay_ms` (`attempt` = failures in a row).
    LNC_EVENT_RECONNECT_SCHEDULED = 4,
    /// A NOT_LEADER reply redirected the handle to `server`.
    LNC_EVENT_LEADER_CHANGED = 5,
    /// The server refused the token (no retry).
    LNC_EVENT_AUTH_FAILED = 6,
    /// The handle failed for good (`err`, `message`).
    LNC_EVENT_FATAL = 7,
    /// The circuit breaker opened (`delay_ms` until the half-open trial).
    LNC_EVENT_CIRCUIT_OPEN = 8,
    /// The circuit breaker lets one trial connection through.
    LNC_EVENT_CIRCUIT_HALF_OPEN = 9,
    /// The circuit breaker closed (a connection succeeded).
    LNC_EVENT_CIRCUIT_CLOSED = 10,
    /// The periodic statistics document: `message` is the JSON text.
    LNC_EVENT_STATISTICS = 11,
    /// The event queue was full: `attempt` events were dropped here.
    LNC_EVENT_EVENTS_DROPPED = 12,
}

impl From<EventKind> for lnc_event_kind_t {
    fn from(k: EventKind) -> lnc_event_kind_t {
        use lnc_event_kind_t::*;
        match k {
            EventKind::Connecting => LNC_EVENT_CONNECTING,
            EventKind::Connected => LNC_EVENT_CONNECTED,
            EventKind::Disconnected => LNC_EVENT_DISCONNECTED,
            EventKind::ReconnectScheduled => LNC_EVENT_RECONNECT_SCHEDULED,
            EventKind::LeaderChanged => LNC_EVENT_LEADER_CHANGED,
            EventKind::AuthFailed => LNC_EVENT_AUTH_FAILED,
            EventKind::Fatal => LNC_EVENT_FATAL,
            EventKind::CircuitOpen => LNC_EVENT_CIRCUIT_OPEN,
            EventKind::CircuitHalfOpen => LNC_EVENT_CIRCUIT_HALF_OPEN,
            EventKind::CircuitClosed => LNC_EVENT_CIRCUIT_CLOSED,
            EventKind::Statistics => LNC_EVENT_STATISTICS,
            EventKind::EventsDropped => LNC_EVENT_EVENTS_DROPPED,
        }
    }
}

/// Log levels (syslog numbering, as librdkafka): lower is more severe.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum lnc_log_level_t {
    /// Failures: authentication refused, fatal errors.
    LNC_LOG_ERROR = 3,
    /// Trouble the library handles: lost connections, an opened circuit, dropped events.
    LNC_LOG_WARN = 4,
    /// Notable: connected, reconnect scheduled, redirects, retries.
    LNC_LOG_INFO = 6,
    /// Everything else: connect attempts, statistics.
    LNC_LOG_DEBUG = 7,
}

impl From<Level> for lnc_log_level_t {
    fn from(l: Level) -> lnc_log_level_t {
        match l {
            Level::Error => lnc_log_level_t::LNC_LOG_ERROR,
            Level::Warn => lnc_log_level_t::LNC_LOG_WARN,
            Level::Info => lnc_log_level_t::LNC_LOG_INFO,
            Level::Debug => lnc_log_level_t::LNC_LOG_DEBUG,
        }
    }
}

/// One event. Filled by the `lnc_*_poll_events` calls into an array the caller owns: the
/// strings belong to the event until `lnc_event_free`. Handed to an event callback, it is
/// borrowed for the call only.
#[repr(C)]
pub struct lnc_event_t {
    /// What happened.
    pub kind: lnc_event_kind_t,
    /// The error behind it (`LNC_ERR_OK` when none).
    pub err: lnc_err_t,
    /// The server concerned (`host:port`), "" when none. Never NULL in a filled event.
    pub server: *mut c_char,
    /// The node id when known (0 = unknown: LWP's handshake does not name the node).
    pub node_id: u32,
    /// Failures in a row (reconnect scheduled) or events dropped (events dropped).
    pub attempt: u32,
    /// Delay before the next attempt, milliseconds (reconnect scheduled, circuit open).
    pub delay_ms: u64,
    /// The reason as a sentence, or the JSON document for statistics. Never NULL in a filled event.
    pub message: *mut c_char,
}

impl lnc_event_t {
    /// An owned C copy of `e` (strings allocated; free with `lnc_event_free`).
    pub(crate) fn owned(e: &Event) -> lnc_event_t {
        lnc_event_t {
            kind: e.kind.into(),
            err: e.code.into(),
            server: cstring_lossy(&e.server).into_raw(),
            node_id: e.node_id,
            attempt: e.attempt,
            delay_ms: e.delay.as_millis().min(u64::MAX as u128) as u64,
            message: cstring_lossy(&e.message).into_raw(),
        }
    }
}

/// The body of every `lnc_*_poll_events`: checks the out pointers, takes up to `max` events with
/// `take` and copies them into the caller's array.
pub(crate) unsafe fn serve_events(
    out: *mut lnc_event_t,
    max: usize,
    count: *mut usize,
    take: impl FnOnce(usize) -> Vec<Event>,
) -> lnc_err_t {
    if count.is_null() || (out.is_null() && max > 0) {
        return lnc_err_t::LNC_ERR_INVALID_ARG;
    }
    // SAFETY: pointers checked above; `out` has room for `max`.
    unsafe { copy_events(take(max), out, count) };
    lnc_err_t::LNC_ERR_OK
}

/// Copies `events` into `out` (room for `max`), sets `*count`. The caller checked the pointers.
pub(crate) unsafe fn copy_events(events: Vec<Event>, out: *mut lnc_event_t, count: *mut usize) {
    for (i, e) in events.iter().enumerate() {
        // SAFETY: `out` has room for `max` events and `events.len() <= max`.
        unsafe { out.add(i).write(lnc_event_t::owned(e)) };
    }
    // SAFETY: checked non-NULL by the caller.
    unsafe { *count = events.len() };
}

/// Frees the strings an event filled by a `lnc_*_poll_events` call owns and sets them to NULL
/// (the struct itself is the caller's). NULL and already-freed events are accepted. Never call
/// it on an event borrowed by an event callback.
#[no_mangle]
pub unsafe extern "C" fn lnc_event_free(ev: *mut lnc_event_t) {
    ffi_guard!((), {
        // SAFETY: NULL-checked; otherwise an event filled by this library.
        let Some(ev) = (unsafe { ev.as_mut() }) else { return };
        for p in [&mut ev.server, &mut ev.message] {
            if !p.is_null() {
                // SAFETY: allocated by CString::into_raw in lnc_event_t::owned, freed once (then NULL).
                drop(unsafe { std::ffi::CString::from_raw(*p) });
                *p = std::ptr::null_mut();
            }
        }
    })
}

/// The lower-case name of an event kind (`"reconnect_scheduled"`), or `"unknown"`. Static.
#[no_mangle]
pub extern "C" fn lnc_event_kind_name(kind: i32) -> *const c_char {
    ffi_guard!(c"unknown".as_ptr(), {
        let name: &'static CStr = match EventKind::from_i32(kind) {
            Some(EventKind::Connecting) => c"connecting",
            Some(EventKind::Connected) => c"connected",
            Some(EventKind::Disconnected) => c"disconnected",
            Some(EventKind::ReconnectScheduled) => c"reconnect_scheduled",
            Some(EventKind::LeaderChanged) => c"leader_changed",
            Some(EventKind::AuthFailed) => c"auth_failed",
            Some(EventKind::Fatal) => c"fatal",
            Some(EventKind::CircuitOpen) => c"circuit_open",
            Some(EventKind::CircuitHalfOpen) => c"circuit_half_open",
            Some(EventKind::CircuitClosed) => c"circuit_closed",
            Some(EventKind::Statistics) => c"statistics",
            Some(EventKind::EventsDropped) => c"events_dropped",
            None => c"unknown",
        };
        name.as_ptr()
    })
}

/// A log callback: the level and one NUL-terminated line (borrowed for the call), with the
/// opaque given to `lnc_conf_set_log_cb`.
pub type lnc_log_cb = Option<unsafe extern "C" fn(level: lnc_log_level_t, line: *const c_char, opaque: *mut c_void)>;

/// An event callback: the event (borrowed for the call; do not `lnc_event_free` it), with the
/// opaque given to `lnc_conf_set_event_cb`.
pub type lnc_event_cb = Option<unsafe extern "C" fn(ev: *const lnc_event_t, opaque: *mut c_void)>;

/// The caller's opaque pointer, passed back to its callback from library threads.
#[derive(Clone, Copy)]
struct Opaque(*mut c_void);
// SAFETY: only handed back to the caller's callback; the caller makes it safe to use from the
// threads the documentation names (any library thread).
unsafe impl Send for Opaque {}
// SAFETY: as above.
unsafe impl Sync for Opaque {}

/// Sends log lines at or above `log.level` (default warn) to `cb` instead of stderr; NULL
/// restores stderr. The callback may run on any thread, library threads included, with no
/// library lock held; it may call the library, but `close`/`free` of the same handle from inside
/// it return IN_CALLBACK. Lines never contain the token.
#[no_mangle]
pub unsafe extern "C" fn lnc_conf_set_log_cb(conf: *mut lnc_conf_t, cb: lnc_log_cb, opaque: *mut c_void) -> lnc_err_t {
    ffi_guard!({
        // SAFETY: NULL-checked; otherwise a live conf.
        let Some(conf) = (unsafe { conf.as_mut() }) else { return lnc_err_t::LNC_ERR_INVALID_ARG };
        match cb {
            None => conf.config.remove_log_callback(),
            Some(f) => {
                let o = Opaque(opaque);
                conf.config.set_log_callback(move |level, line| {
                    let o = o;
                    let c = cstring_lossy(line);
                    // SAFETY: a valid function pointer given by the caller; the line lives for the call.
                    unsafe { f(level.into(), c.as_ptr(), o.0) };
                });
            }
        }
        lnc_err_t::LNC_ERR_OK
    })
}

/// Has a library thread (one per handle, started with it) pass every event to `cb` instead of
/// queueing it for `lnc_*_poll_events`; NULL restores polling. `close`/`free` of the same
/// handle from inside the callback return IN_CALLBACK; other calls are allowed.
#[no_mangle]
pub unsafe extern "C" fn lnc_conf_set_event_cb(
    conf: *mut lnc_conf_t,
    cb: lnc_event_cb,
    opaque: *mut c_void,
) -> lnc_err_t {
    ffi_guard!({
        // SAFETY: NULL-checked; otherwise a live conf.
        let Some(conf) = (unsafe { conf.as_mut() }) else { return lnc_err_t::LNC_ERR_INVALID_ARG };
        match cb {
            None => conf.config.remove_event_callback(),
            Some(f) => {
                let o = Opaque(opaque);
                conf.config.set_event_callback(move |e| {
                    let o = o;
                    let mut ev = lnc_event_t::owned(e);
                    // SAFETY: a valid function pointer given by the caller; the event lives for the call.
                    unsafe { f(&ev, o.0) };
                    // SAFETY: the event was filled above and is freed once.
                    unsafe { lnc_event_free(&mut ev) };
                });
            }
        }
        lnc_err_t::LNC_ERR_OK
    })
}
