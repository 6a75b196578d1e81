//! `lnc_admin_*`: topics, retention, cluster status, ping, and low-level control calls.

use std::ffi::c_char;
use std::time::Duration;

use super::conf::{self, lnc_conf_t};
use super::gate::{Entered, Gate};
use super::{fail, finish, lnc_err_t, lnc_error_t, str_arg};
use crate::admin::{Admin, FetchReply, Retention};
use crate::error::{Error, Result};
use crate::ffi_guard;
use crate::wire::control::TopicInfo;

/// Retention value meaning "unlimited" (encoded the way the server understands it).
pub const LNC_RETENTION_UNLIMITED: u64 = u64::MAX;

/// An admin handle (thread-safe; connects lazily). Free with `lnc_admin_free` (safe while
/// other threads are inside calls on it; see there).
pub struct lnc_admin_t {
    /// Counts the calls inside this handle so that `lnc_admin_free` can wait for them.
    gate: Gate,
    admin: Admin,
}

/// Topic metadata.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct lnc_topic_t {
    /// Topic id.
    pub id: u32,
    /// NUL-terminated name (names are at most 255 bytes).
    pub name: [c_char; 256],
    /// Creation time, Unix seconds.
    pub created_at: u64,
    /// Topic epoch (always 1 on the deployed server).
    pub topic_epoch: u64,
    /// 1 if the retention fields are set (CreateTopicWithRetention replies only).
    pub has_retention: u8,
    /// Retention age in seconds.
    pub max_age_secs: u64,
    /// Retention size in bytes.
    pub max_bytes: u64,
}

fn topic(t: &TopicInfo) -> lnc_topic_t {
    let mut name = [0 as c_char; 256];
    for (i, b) in t.name.bytes().take(255).enumerate() {
        name[i] = b as c_char;
    }
    lnc_topic_t {
        id: t.id,
        name,
        created_at: t.created_at,
        topic_epoch: t.topic_epoch,
        has_retention: (t.max_age_secs.is_some() || t.max_bytes.is_some()) as u8,
        // The server's encoding of "no limit" reads back as LNC_RETENTION_UNLIMITED.
        max_age_secs: t.max_age_secs.map_or(0, |a| {
            if a == crate::wire::control::RETENTION_UNLIMITED_AGE_SECS {
                LNC_RETENTION_UNLIMITED
            } else {
                a
            }
        }),
        max_bytes: t.max_bytes.unwrap_or(0),
    }
}

/// Cluster status (standalone servers: `is_standalone` 1, `leader_id` 0).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct lnc_cluster_status_t {
    /// Raft term.
    pub current_term: u64,
    /// Healthy nodes.
    pub healthy_nodes: u32,
    /// Nodes in the cluster.
    pub node_count: u32,
    /// This node's id.
    pub node_id: u32,
    /// Leader id, or -1 when no leader is known.
    pub leader_id: i32,
    /// 1 if this node is the leader.
    pub is_leader: u8,
    /// 1 if a quorum is available.
    pub quorum_available: u8,
    /// 1 for a standalone server.
    pub is_standalone: u8,
}

/// The result of `lnc_admin_fetch`. Free `data` with `lnc_fetch_result_clear`.
#[repr(C)]
pub struct lnc_fetch_result_t {
    /// 1 if the server answered CatchingUp (offset at/past the end); `end_offset` is then set.
    pub catching_up: u8,
    /// Offset after the returned data.
    pub next_offset: u64,
    /// The topic's end (CatchingUp only).
    pub end_offset: u64,
    /// Raw log bytes (owned), or NULL when empty.
    pub data: *mut u8,
    /// Length of `data`.
    pub data_len: usize,
}

/// Enters the handle's gate for one call (the returned guard derefs to the `Admin` and leaves the
/// gate when dropped): INVALID_ARG for NULL, CLOSED while `lnc_admin_free` runs.
unsafe fn handle<'a>(a: *const lnc_admin_t) -> Result<Entered<'a, Admin>> {
    // SAFETY: NULL-checked; otherwise a handle from lnc_admin_new that has not been freed before
    // this call started (the caller's contract, see lnc_admin_free).
    let h = unsafe { a.as_ref() }.ok_or_else(|| Error::invalid_arg("admin is NULL"))?;
    Entered::new(&h.gate, &h.admin).ok_or_else(|| Error::closed("admin handle is being freed"))
}

fn to(ms: i32) -> Option<Duration> {
    Some(super::timeout(ms))
}

/// 0 and `LNC_RETENTION_UNLIMITED` both mean no limit (docs/bindings.md).
fn retention(max_age_secs: u64, max_bytes: u64) -> Retention {
    let limit = |v: u64| (v != LNC_RETENTION_UNLIMITED && v != 0).then_some(v);
    Retention { max_age_secs: limit(max_age_secs), max_bytes: limit(max_bytes) }
}

unsafe fn put<T>(out: *mut T, v: T) -> Result<()> {
    if out.is_null() {
        return Err(Error::invalid_arg("output pointer is NULL"));
    }
    // SAFETY: non-NULL writable pointer per the contract.
    unsafe { out.write(v) };
    Ok(())
}

/// Creates an admin handle from `conf` (taken on success only). Connects on the first call.
#[no_mangle]
pub unsafe extern "C" fn lnc_admin_new(
    conf: *mut lnc_conf_t,
    out: *mut *mut lnc_admin_t,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        if out.is_null() {
            return fail(err, Error::invalid_arg("out is NULL"));
        }
        // SAFETY: NULL-checked; otherwise a live conf.
        let Some(c) = (unsafe { conf.as_ref() }) else { return fail(err, Error::invalid_arg("conf is NULL")) };
        match Admin::new(&c.config) {
            Ok(admin) => {
                unsafe {
                    conf::take(conf);
                    *out = Box::into_raw(Box::new(lnc_admin_t { gate: Gate::new(), admin }));
                }
                lnc_err_t::LNC_ERR_OK
            }
            Err(e) => fail(err, e),
        }
    })
}

/// Frees an admin handle. NULL is accepted.
///
/// Safe against calls in progress on other threads: `free` deallocates only after every call
/// already inside this handle has returned. Admin calls are not interrupted: each ends within its
/// own `timeout_ms`, and `free` waits for them (so avoid `timeout_ms < 0` on calls that may race
/// `free`). A call that starts while `free` runs returns LNC_ERR_CLOSED; a second concurrent `free`
/// returns at once without freeing. Not guaranteed: a call that starts after `free` has returned
/// uses freed memory — as in any C API that is the caller's bug.
#[no_mangle]
pub unsafe extern "C" fn lnc_admin_free(a: *mut lnc_admin_t) {
    ffi_guard!((), {
        if a.is_null() {
            return;
        }
        // SAFETY: a live handle (the caller's contract); the gate keeps it alive from here on.
        let h = unsafe { &*a };
        let Some(pass) = h.gate.enter() else { return };
        // From inside this admin's log or event callback: freeing would pull the handle out from
        // under the running callback. Refused (this call returns nothing, so it is a no-op).
        if h.admin.in_callback() {
            return;
        }
        if !h.gate.begin_free(&pass) {
            return;
        }
        // Wake the calls blocked in lnc_admin_poll_events before waiting for them.
        h.admin.close_events();
        drop(pass);
        h.gate.wait_idle();
        // SAFETY: a pointer from lnc_admin_new; this thread won begin_free, so it is freed once,
        // and no call is inside any more.
        drop(unsafe { Box::from_raw(a) });
    })
}

/// Creates a topic (name validated locally: 1–255 bytes of `[A-Za-z0-9-]`). TOPIC_EXISTS if the
/// name is taken. `*out` (may be NULL) receives the topic.
#[no_mangle]
pub unsafe extern "C" fn lnc_admin_create_topic(
    a: *const lnc_admin_t,
    name: *const c_char,
    timeout_ms: i32,
    out: *mut lnc_topic_t,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        let r = (|| {
            let t = unsafe { handle(a) }?.create_topic(unsafe { str_arg(name, "name") }?, to(timeout_ms))?;
            if !out.is_null() {
                unsafe { put(out, topic(&t)) }?;
            }
            Ok(())
        })();
        finish(err, r)
    })
}

/// Creates the topic or finds the existing one with that name.
#[no_mangle]
pub unsafe extern "C" fn lnc_admin_ensure_topic(
    a: *const lnc_admin_t,
    name: *const c_char,
    timeout_ms: i32,
    out: *mut lnc_topic_t,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        let r = (|| {
            let t = unsafe { handle(a) }?.ensure_topic(unsafe { str_arg(name, "name") }?, to(timeout_ms))?;
            if !out.is_null() {
                unsafe { put(out, topic(&t)) }?;
            }
            Ok(())
        })();
        finish(err, r)
    })
}

/// Creates a topic with retention limits; 0 or `LNC_RETENTION_UNLIMITED` for no limit (0 is never
/// sent: on the server it would delete every closed segment).
#[no_mangle]
pub unsafe extern "C" fn lnc_admin_create_topic_with_retention(
    a: *const lnc_admin_t,
    name: *const c_char,
    max_age_secs: u64,
    max_bytes: u64,
    timeout_ms: i32,
    out: *mut lnc_topic_t,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        let r = (|| {
            let t = unsafe { handle(a) }?.create_topic_with_retention(
                unsafe { str_arg(name, "name") }?,
                retention(max_age_secs, max_bytes),
                to(timeout_ms),
            )?;
            if !out.is_null() {
                unsafe { put(out, topic(&t)) }?;
            }
            Ok(())
        })();
        finish(err, r)
    })
}

/// Lists topics into a new array `*topics` of `*count` entries; free with `lnc_topics_free`.
#[no_mangle]
pub unsafe extern "C" fn lnc_admin_list_topics(
    a: *const lnc_admin_t,
    timeout_ms: i32,
    topics: *mut *mut lnc_topic_t,
    count: *mut usize,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        let r = (|| {
            if topics.is_null() || count.is_null() {
                return Err(Error::invalid_arg("topics and count must not be NULL"));
            }
            let list: Vec<lnc_topic_t> = unsafe { handle(a) }?.list_topics(to(timeout_ms))?.iter().map(topic).collect();
            let boxed = list.into_boxed_slice();
            unsafe {
                *count = boxed.len();
                *topics = Box::into_raw(boxed) as *mut lnc_topic_t;
            }
            Ok(())
        })();
        finish(err, r)
    })
}

/// Frees an array from `lnc_admin_list_topics`. NULL is accepted.
#[no_mangle]
pub unsafe extern "C" fn lnc_topics_free(topics: *mut lnc_topic_t, count: usize) {
    ffi_guard!((), {
        if !topics.is_null() {
            // SAFETY: the boxed slice allocated by lnc_admin_list_topics with this count.
            drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(topics, count)) });
        }
    })
}

/// Finds a topic by name; UNKNOWN_TOPIC if there is none.
#[no_mangle]
pub unsafe extern "C" fn lnc_admin_find_topic(
    a: *const lnc_admin_t,
    name: *const c_char,
    timeout_ms: i32,
    out: *mut lnc_topic_t,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        let r = (|| {
            let name = unsafe { str_arg(name, "name") }?;
            let t = unsafe { handle(a) }?
                .topic_by_name(name, to(timeout_ms))?
                .ok_or_else(|| Error::new(crate::ErrorCode::UnknownTopic, format!("no topic named '{name}'")))?;
            unsafe { put(out, topic(&t)) }
        })();
        finish(err, r)
    })
}

/// Gets a topic by id.
#[no_mangle]
pub unsafe extern "C" fn lnc_admin_get_topic(
    a: *const lnc_admin_t,
    topic_id: u32,
    timeout_ms: i32,
    out: *mut lnc_topic_t,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        let r = (|| {
            let t = unsafe { handle(a) }?.get_topic(topic_id, to(timeout_ms))?;
            unsafe { put(out, topic(&t)) }
        })();
        finish(err, r)
    })
}

/// Deletes a topic and its data.
#[no_mangle]
pub unsafe extern "C" fn lnc_admin_delete_topic(
    a: *const lnc_admin_t,
    topic_id: u32,
    timeout_ms: i32,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({ finish(err, (|| unsafe { handle(a) }?.delete_topic(topic_id, to(timeout_ms)).map(|_| ()))()) })
}

/// Sets a topic's retention; 0 or `LNC_RETENTION_UNLIMITED` for no limit (0 is never sent).
#[no_mangle]
pub unsafe extern "C" fn lnc_admin_set_retention(
    a: *const lnc_admin_t,
    topic_id: u32,
    max_age_secs: u64,
    max_bytes: u64,
    timeout_ms: i32,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        finish(
            err,
            (|| {
                unsafe { handle(a) }?
                    .set_retention(topic_id, retention(max_age_secs, max_bytes), to(timeout_ms))
                    .map(|_| ())
            })(),
        )
    })
}

/// Cluster status into `*out`.
#[no_mangle]
pub unsafe extern "C" fn lnc_admin_cluster_status(
    a: *const lnc_admin_t,
    timeout_ms: i32,
    out: *mut lnc_cluster_status_t,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        let r = (|| {
            let s = unsafe { handle(a) }?.cluster_status(to(timeout_ms))?;
            unsafe {
                put(
                    out,
                    lnc_cluster_status_t {
                        current_term: s.current_term,
                        healthy_nodes: s.healthy_nodes,
                        node_count: s.node_count,
                        node_id: s.node_id as u32,
                        leader_id: s.leader_id.map_or(-1, |l| l as i32),
                        is_leader: s.is_leader as u8,
                        quorum_available: s.quorum_available as u8,
                        is_standalone: (s.mode.as_deref() == Some("standalone")) as u8,
                    },
                )
            }
        })();
        finish(err, r)
    })
}

/// Keepalive round trip in microseconds into `*rtt_us`.
#[no_mangle]
pub unsafe extern "C" fn lnc_admin_ping(
    a: *const lnc_admin_t,
    timeout_ms: i32,
    rtt_us: *mut u64,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        let r = (|| {
            let d = unsafe { handle(a) }?.ping(to(timeout_ms))?;
            unsafe { put(rtt_us, d.as_micros() as u64) }
        })();
        finish(err, r)
    })
}

/// Checks `token` with Authenticate (AUTH_FAILED when refused).
#[no_mangle]
pub unsafe extern "C" fn lnc_admin_authenticate(
    a: *const lnc_admin_t,
    token: *const c_char,
    timeout_ms: i32,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        finish(err, (|| unsafe { handle(a) }?.authenticate(unsafe { str_arg(token, "token") }?, to(timeout_ms)))())
    })
}

/// One raw Fetch (`max_bytes` 1..=16,777,156; `start_offset` UINT64_MAX asks for the tail).
/// Free the result's data with `lnc_fetch_result_clear`.
#[no_mangle]
pub unsafe extern "C" fn lnc_admin_fetch(
    a: *const lnc_admin_t,
    topic_id: u32,
    start_offset: u64,
    max_bytes: u32,
    timeout_ms: i32,
    out: *mut lnc_fetch_result_t,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        let r = (|| {
            if out.is_null() {
                return Err(Error::invalid_arg("out is NULL"));
            }
            let res = match unsafe { handle(a) }?.fetch(topic_id, start_offset, max_bytes, to(timeout_ms))? {
                FetchReply::Data { next_offset, data } => {
                    let len = data.len();
                    let ptr =
                        if len == 0 { std::ptr::null_mut() } else { Box::into_raw(data.into_boxed_slice()) as *mut u8 };
                    lnc_fetch_result_t { catching_up: 0, next_offset, end_offset: 0, data: ptr, data_len: len }
                }
                FetchReply::CatchingUp { end_offset } => lnc_fetch_result_t {
                    catching_up: 1,
                    next_offset: start_offset,
                    end_offset,
                    data: std::ptr::null_mut(),
                    data_len: 0,
                },
            };
            unsafe { put(out, res) }
        })();
        finish(err, r)
    })
}

/// Frees the data of a fetch result and zeroes it. NULL is accepted.
#[no_mangle]
pub unsafe extern "C" fn lnc_fetch_result_clear(r: *mut lnc_fetch_result_t) {
    ffi_guard!((), {
        // SAFETY: NULL-checked; data came from lnc_admin_fetch with data_len bytes.
        if let Some(r) = unsafe { r.as_mut() } {
            if !r.data.is_null() {
                drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(r.data, r.data_len)) });
            }
            r.data = std::ptr::null_mut();
            r.data_len = 0;
        }
    })
}

/// Server-side Subscribe; `*offset` (may be NULL) receives the server's offset (0 resolves to the
/// server-side commit; UINT64_MAX is echoed).
#[no_mangle]
pub unsafe extern "C" fn lnc_admin_subscribe(
    a: *const lnc_admin_t,
    topic_id: u32,
    start_offset: u64,
    max_batch_bytes: u32,
    consumer_id: u64,
    timeout_ms: i32,
    offset: *mut u64,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        let r = (|| {
            let (_, o) = unsafe { handle(a) }?.subscribe(
                topic_id,
                start_offset,
                max_batch_bytes,
                consumer_id,
                to(timeout_ms),
            )?;
            if !offset.is_null() {
                unsafe { *offset = o };
            }
            Ok(())
        })();
        finish(err, r)
    })
}

/// Server-side Unsubscribe.
#[no_mangle]
pub unsafe extern "C" fn lnc_admin_unsubscribe(
    a: *const lnc_admin_t,
    topic_id: u32,
    consumer_id: u64,
    timeout_ms: i32,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({ finish(err, (|| unsafe { handle(a) }?.unsubscribe(topic_id, consumer_id, to(timeout_ms)))()) })
}

/// Server-side CommitOffset (server memory only).
#[no_mangle]
pub unsafe extern "C" fn lnc_admin_commit_offset(
    a: *const lnc_admin_t,
    topic_id: u32,
    consumer_id: u64,
    offset: u64,
    timeout_ms: i32,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        finish(
            err,
            (|| unsafe { handle(a) }?.commit_offset(topic_id, consumer_id, offset, to(timeout_ms)).map(|_| ()))(),
        )
    })
}

/// The consumer id the official Rust client and liblnc's file store derive from a consumer name
/// (SipHash-1-3, key 0, over the UTF-8 name plus 0xFF).
#[no_mangle]
pub unsafe extern "C" fn lnc_consumer_id(name: *const c_char, id: *mut u64) -> lnc_err_t {
    ffi_guard!({
        match (unsafe { str_arg(name, "name") }, id.is_null()) {
            (Ok(n), false) => {
                unsafe { *id = crate::wire::consumer_id::consumer_id(n) };
                lnc_err_t::LNC_ERR_OK
            }
            _ => lnc_err_t::LNC_ERR_INVALID_ARG,
        }
    })
}

/// Takes up to `max` waiting events (connection changes, statistics; see the README's "Events
/// and logs") into `out`, an array the caller owns, waiting up to `timeout_ms` for the first;
/// `*count` receives how many. Free each with `lnc_event_free`. Empty when an event callback is
/// set on the conf.
#[no_mangle]
pub unsafe extern "C" fn lnc_admin_poll_events(
    a: *const lnc_admin_t,
    timeout_ms: i32,
    out: *mut super::events::lnc_event_t,
    max: usize,
    count: *mut usize,
) -> lnc_err_t {
    ffi_guard!({
        let admin = match unsafe { handle(a) } {
            Ok(h) => h,
            Err(e) => return e.code.into(),
        };
        // SAFETY: the caller's array and count pointer, checked inside.
        unsafe {
            super::events::serve_events(out, max, count, |max| admin.poll_events(max, super::timeout(timeout_ms)))
        }
    })
}

/// An eventfd that is readable while the admin client's events wait (owned by the handle: do
/// not close it). -1 for NULL or a handle being freed.
#[no_mangle]
pub unsafe extern "C" fn lnc_admin_eventfd(a: *const lnc_admin_t) -> std::ffi::c_int {
    ffi_guard!(-1, {
        match unsafe { handle(a) } {
            Ok(admin) => admin.eventfd(),
            Err(_) => -1,
        }
    })
}
