//! `lnc_group_consumer_*`: a member of a consumer group (docs/groups.md).
//!
//! Assignment changes are returned by `lnc_group_consumer_poll` as tagged entries of the same
//! batch as records (`LNC_GROUP_EVENT_ASSIGNED` / `_REVOKED`), so that they can later be delivered
//! as events of the library-wide event model without changing their meaning.

use std::ffi::{c_char, CString};
use std::time::Duration;

use super::conf::{self, lnc_conf_t};
use super::gate::{Gate, Pass};
use super::record::{lnc_record_view_t, view};
use super::{fail, finish, lnc_err_t, lnc_error_t, timeout};
use crate::error::{Error, ErrorCode};
use crate::ffi_guard;
use crate::group::{GroupConsumer, GroupEvent};

/// A group consumer handle (thread-safe). Create with `lnc_group_consumer_new`, free with
/// `lnc_group_consumer_free` (safe while other threads are inside calls on it).
pub struct lnc_group_consumer_t {
    gate: Gate,
    member_id: CString,
    group: GroupConsumer,
}

/// What a group event is.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum lnc_group_event_kind_t {
    /// A record of an owned topic: `topic_id` and `record`.
    LNC_GROUP_EVENT_RECORD = 0,
    /// Topics now owned: `topics` / `topic_count`.
    LNC_GROUP_EVENT_ASSIGNED = 1,
    /// Topics no longer owned: `topics` / `topic_count`. Records of them already returned may be
    /// delivered again to their next owner.
    LNC_GROUP_EVENT_REVOKED = 2,
    /// A consumer of `topic_id` met an error: `error_code` and `error_message`.
    LNC_GROUP_EVENT_ERROR = 3,
}

/// One event, borrowed from its `lnc_group_events_t` (valid until that batch is freed).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct lnc_group_event_t {
    /// An `lnc_group_event_kind_t` value.
    pub kind: lnc_group_event_kind_t,
    /// RECORD, ERROR: the topic.
    pub topic_id: u32,
    /// RECORD: the record (zeroed otherwise).
    pub record: lnc_record_view_t,
    /// ASSIGNED, REVOKED: the topic ids (NULL otherwise).
    pub topics: *const u32,
    /// ASSIGNED, REVOKED: how many.
    pub topic_count: usize,
    /// ERROR: the error code (LNC_ERR_OK otherwise).
    pub error_code: lnc_err_t,
    /// ERROR: the message, NUL-terminated (NULL otherwise).
    pub error_message: *const c_char,
}

/// A batch of events returned by `lnc_group_consumer_poll`; free with `lnc_group_events_free`.
pub struct lnc_group_events_t {
    _events: Vec<GroupEvent>,
    _topics: Vec<Vec<u32>>,
    _messages: Vec<CString>,
    views: Vec<lnc_group_event_t>,
}

impl lnc_group_events_t {
    fn new(events: Vec<GroupEvent>) -> lnc_group_events_t {
        let mut topics = Vec::new();
        let mut messages = Vec::new();
        let mut views = Vec::with_capacity(events.len());
        for e in &events {
            // SAFETY: an all-zero record view is a valid "no record" (NULL pointers, zero lengths).
            let empty: lnc_record_view_t = unsafe { std::mem::zeroed() };
            let mut v = lnc_group_event_t {
                kind: lnc_group_event_kind_t::LNC_GROUP_EVENT_RECORD,
                topic_id: 0,
                record: empty,
                topics: std::ptr::null(),
                topic_count: 0,
                error_code: lnc_err_t::LNC_ERR_OK,
                error_message: std::ptr::null(),
            };
            match e {
                GroupEvent::Record { topic_id, record } => {
                    v.topic_id = *topic_id;
                    v.record = view(record);
                }
                GroupEvent::Assigned(t) | GroupEvent::Revoked(t) => {
                    v.kind = if matches!(e, GroupEvent::Assigned(_)) {
                        lnc_group_event_kind_t::LNC_GROUP_EVENT_ASSIGNED
                    } else {
                        lnc_group_event_kind_t::LNC_GROUP_EVENT_REVOKED
                    };
                    let owned = t.clone();
                    v.topics = owned.as_ptr();
                    v.topic_count = owned.len();
                    topics.push(owned);
                }
                GroupEvent::Error { topic_id, error } => {
                    v.kind = lnc_group_event_kind_t::LNC_GROUP_EVENT_ERROR;
                    v.topic_id = *topic_id;
                    v.error_code = error.code.into();
                    let m = CString::new(error.message.replace('\0', " ")).unwrap_or_default();
                    v.error_message = m.as_ptr();
                    messages.push(m);
                }
            }
            views.push(v);
        }
        // The views point into `events`, `topics` and `messages`, whose heap buffers do not move
        // when the vectors holding them are moved into the batch.
        lnc_group_events_t { _events: events, _topics: topics, _messages: messages, views }
    }
}

unsafe fn handle<'a>(g: *const lnc_group_consumer_t) -> Result<(Pass<'a>, &'a lnc_group_consumer_t), Error> {
    // SAFETY: NULL-checked; otherwise a handle from lnc_group_consumer_new not yet freed when this
    // call started (the caller's contract, see lnc_group_consumer_free).
    let h = unsafe { g.as_ref() }.ok_or_else(|| Error::invalid_arg("group consumer is NULL"))?;
    let pass = h.gate.enter().ok_or_else(|| Error::closed("group consumer is being freed"))?;
    Ok((pass, h))
}

/// Joins the consumer group `group.id` from `conf` (taken on success only): `group.topics` or
/// `group.topic.prefix` name the shared topics. Creates the group topic `lnc-group-<group.id>`
/// if needed (blocks up to `request.timeout.ms`), then starts the member thread.
#[no_mangle]
pub unsafe extern "C" fn lnc_group_consumer_new(
    conf: *mut lnc_conf_t,
    out: *mut *mut lnc_group_consumer_t,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        if out.is_null() {
            return fail(err, Error::invalid_arg("out is NULL"));
        }
        // SAFETY: NULL-checked; otherwise a live conf.
        let Some(c) = (unsafe { conf.as_ref() }) else { return fail(err, Error::invalid_arg("conf is NULL")) };
        match GroupConsumer::new(&c.config) {
            Ok(group) => {
                let member_id = CString::new(group.member_id().replace('\0', " ")).unwrap_or_default();
                let h = Box::new(lnc_group_consumer_t { gate: Gate::new(), member_id, group });
                // SAFETY: conf validated above; out writable.
                unsafe {
                    conf::take(conf);
                    *out = Box::into_raw(h);
                }
                lnc_err_t::LNC_ERR_OK
            }
            Err(e) => fail(err, e),
        }
    })
}

/// Waits up to `timeout_ms` (< 0 = no limit) and returns what is ready in `*events` (owned: free
/// with `lnc_group_events_free`; empty on timeout): pending ASSIGNED/REVOKED entries alone, else up
/// to `max.poll.records` RECORD entries tagged with their topic (and ERROR entries). Calling poll
/// marks the records of earlier polls processed (they are what the member commits). CLOSED after
/// close (a waiting poll wakes with it).
#[no_mangle]
pub unsafe extern "C" fn lnc_group_consumer_poll(
    g: *const lnc_group_consumer_t,
    timeout_ms: i32,
    events: *mut *mut lnc_group_events_t,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        if events.is_null() {
            return fail(err, Error::invalid_arg("events is NULL"));
        }
        unsafe { *events = std::ptr::null_mut() };
        let (_pass, h) = match unsafe { handle(g) } {
            Ok(x) => x,
            Err(e) => return fail(err, e),
        };
        match h.group.poll(timeout(timeout_ms)) {
            Ok(v) => {
                unsafe { *events = Box::into_raw(Box::new(lnc_group_events_t::new(v))) };
                lnc_err_t::LNC_ERR_OK
            }
            Err(e) => fail(err, e),
        }
    })
}

/// Number of events in a batch (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn lnc_group_events_count(events: *const lnc_group_events_t) -> usize {
    // SAFETY: NULL-checked; otherwise a live batch.
    ffi_guard!(0, { unsafe { events.as_ref() }.map_or(0, |e| e.views.len()) })
}

/// Copies event `index` of the batch into `*out` (its pointers borrow from the batch).
/// INVALID_ARG for NULL or an index out of range.
#[no_mangle]
pub unsafe extern "C" fn lnc_group_events_get(
    events: *const lnc_group_events_t,
    index: usize,
    out: *mut lnc_group_event_t,
) -> lnc_err_t {
    ffi_guard!({
        // SAFETY: NULL-checked; otherwise a live batch.
        let Some(e) = (unsafe { events.as_ref() }) else { return lnc_err_t::LNC_ERR_INVALID_ARG };
        match (e.views.get(index), out.is_null()) {
            (Some(v), false) => {
                unsafe { *out = *v };
                lnc_err_t::LNC_ERR_OK
            }
            _ => lnc_err_t::LNC_ERR_INVALID_ARG,
        }
    })
}

/// Frees a batch from `lnc_group_consumer_poll` (NULL accepted).
#[no_mangle]
pub unsafe extern "C" fn lnc_group_events_free(events: *mut lnc_group_events_t) {
    ffi_guard!((), {
        if !events.is_null() {
            // SAFETY: a pointer from lnc_group_consumer_poll, freed once.
            drop(unsafe { Box::from_raw(events) });
        }
    })
}

/// Copies up to `cap` ids of the topics this member consumes now into `topics` (may be NULL
/// when `cap` is 0); `*count` receives how many there are (possibly more than `cap`).
#[no_mangle]
pub unsafe extern "C" fn lnc_group_consumer_assignment(
    g: *const lnc_group_consumer_t,
    topics: *mut u32,
    cap: usize,
    count: *mut usize,
) -> lnc_err_t {
    ffi_guard!({
        if count.is_null() || (topics.is_null() && cap > 0) {
            return lnc_err_t::LNC_ERR_INVALID_ARG;
        }
        match unsafe { handle(g) } {
            Ok((_pass, h)) => {
                let a = h.group.assignment();
                for (i, t) in a.iter().take(cap).enumerate() {
                    // SAFETY: the caller provides `cap` writable slots.
                    unsafe { *topics.add(i) = *t };
                }
                unsafe { *count = a.len() };
                lnc_err_t::LNC_ERR_OK
            }
            Err(e) => e.code.into(),
        }
    })
}

/// This member's id, NUL-terminated, owned by the handle (NULL for NULL).
#[no_mangle]
pub unsafe extern "C" fn lnc_group_consumer_member_id(g: *const lnc_group_consumer_t) -> *const c_char {
    ffi_guard!(std::ptr::null(), {
        // SAFETY: NULL-checked; the string lives as long as the handle.
        unsafe { g.as_ref() }.map_or(std::ptr::null(), |h| h.member_id.as_ptr())
    })
}

/// Leaves the group: commits what poll handed out, writes a leave record (the others take the
/// topics over at once) and stops, within `timeout_ms` (< 0 = no limit). Idempotent. Waiting polls
/// wake with CLOSED.
#[no_mangle]
pub unsafe extern "C" fn lnc_group_consumer_close(g: *const lnc_group_consumer_t, timeout_ms: i32) -> lnc_err_t {
    ffi_guard!({
        match unsafe { handle(g) } {
            Ok((_pass, h)) => finish(std::ptr::null_mut(), h.group.close(timeout(timeout_ms))),
            Err(e) => e.code.into(),
        }
    })
}

/// Closes (if needed) and frees the group consumer. NULL is accepted. Calls already inside it on
/// other threads are woken by the close (a poll returns CLOSED) and `free` deallocates only after
/// the last has returned; a call starting while `free` runs returns CLOSED, and so does a second
/// concurrent `free` (which frees nothing).
#[no_mangle]
pub unsafe extern "C" fn lnc_group_consumer_free(g: *mut lnc_group_consumer_t) -> lnc_err_t {
    ffi_guard!({
        if g.is_null() {
            return lnc_err_t::LNC_ERR_OK;
        }
        // SAFETY: a live handle (the caller's contract); the gate keeps it alive from here on.
        let h = unsafe { &*g };
        let Some(pass) = h.gate.enter() else { return ErrorCode::Closed.into() };
        if !h.gate.begin_free(&pass) {
            return ErrorCode::Closed.into();
        }
        let _ = h.group.close(Duration::from_secs(10));
        drop(pass);
        h.gate.wait_idle();
        // SAFETY: from lnc_group_consumer_new; this thread won begin_free, nothing is inside.
        drop(unsafe { Box::from_raw(g) });
        lnc_err_t::LNC_ERR_OK
    })
}
