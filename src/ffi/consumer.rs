//! `lnc_consumer_*`.

use std::ffi::{c_int, c_void};
use std::sync::Arc;
use std::time::Duration;

use super::conf::{self, lnc_conf_t};
use super::gate::{Gate, Pass};
use super::record::{lnc_record_view_t, lnc_records_t, view};
use super::{fail, finish, in_callback, lnc_err_t, lnc_error_t, timeout, CallbackScope};
use crate::consumer::{SeekTo, StandaloneConsumer};
use crate::error::{Error, ErrorCode};
use crate::ffi_guard;
use crate::offsets::CallbackOffsetStore;

/// A consumer handle (thread-safe). Create with `lnc_consumer_new`, free with
/// `lnc_consumer_free` (safe while other threads are inside calls on it; see there).
pub struct lnc_consumer_t {
    /// Counts the calls inside this handle so that `lnc_consumer_free` can wait for them.
    gate: Gate,
    /// How long `free` waits for the fetch thread (as the engine's drop: request.timeout.ms, at
    /// most 5 s).
    close_timeout: Duration,
    consumer: StandaloneConsumer,
    /// Reused by `lnc_consumer_poll_into` so that a poll allocates nothing (taken with
    /// `try_lock`: a concurrent poll uses its own vector).
    scratch: parking_lot::Mutex<Vec<crate::wire::Record>>,
}

/// Where to seek.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum lnc_seek_t {
    /// Offset 0.
    LNC_SEEK_BEGINNING = 0,
    /// The current end of the topic.
    LNC_SEEK_END = 1,
    /// The byte offset given (must be a record boundary, e.g. a record's `offset`).
    LNC_SEEK_OFFSET = 2,
}

/// User offset store, load: set `*offset` and return 1 if an offset is stored, return 0 if
/// none, or a negative value on failure. Called on the thread calling `lnc_consumer_new`.
pub type lnc_offset_load_cb =
    Option<unsafe extern "C" fn(topic_id: u32, offset: *mut u64, opaque: *mut c_void) -> c_int>;
/// User offset store, save: return 0 on success, negative on failure. Called on the thread
/// calling `lnc_consumer_commit`, `_poll` (auto-commit), `_close` or `_free`. Calling `commit`,
/// `poll`, `poll_cb`, `close` or `free` on the same consumer from inside it returns IN_CALLBACK.
pub type lnc_offset_save_cb = Option<unsafe extern "C" fn(topic_id: u32, offset: u64, opaque: *mut c_void) -> c_int>;
/// Per-record callback of `lnc_consumer_poll_cb`; the record is borrowed for the call.
pub type lnc_record_cb = Option<unsafe extern "C" fn(record: *const lnc_record_view_t, opaque: *mut c_void)>;

struct SendPtr(*mut c_void);
// SAFETY: the store callbacks run on caller threads as documented; the opaque is the caller's.
unsafe impl Send for SendPtr {}
// SAFETY: as above.
unsafe impl Sync for SendPtr {}

/// Enters the handle's gate for the duration of one call (keep the `Pass` alive until the call
/// returns): INVALID_ARG for NULL, CLOSED while `lnc_consumer_free` runs.
pub(super) unsafe fn handle<'a>(c: *const lnc_consumer_t) -> Result<(Pass<'a>, &'a StandaloneConsumer), Error> {
    // SAFETY: NULL-checked; otherwise a handle from lnc_consumer_new that has not been freed
    // before this call started (the caller's contract, see lnc_consumer_free).
    let h = unsafe { c.as_ref() }.ok_or_else(|| Error::invalid_arg("consumer is NULL"))?;
    let pass = h.gate.enter().ok_or_else(|| Error::closed("consumer is being freed"))?;
    Ok((pass, &h.consumer))
}

/// The re-entrancy key of `c`'s offset-store callbacks (distinct from the record callback's key,
/// `c` itself: handles are at least 8-byte aligned, so `c + 1` is never another handle).
fn store_key(c: *const lnc_consumer_t) -> usize {
    c as usize + 1
}

/// True on a thread running one of `c`'s callbacks (record callback or offset-store callback),
/// where close, free and poll would deadlock or free the handle under the running call.
fn in_any_callback(c: *const lnc_consumer_t) -> bool {
    in_callback(c as usize) || in_callback(store_key(c))
}

/// Builds the user offset store for the handle at the given address (known before the consumer
/// exists, so the store callbacks can mark themselves for the re-entrancy guard).
type StoreFactory = Box<dyn FnOnce(usize) -> CallbackOffsetStore>;

unsafe fn create(
    conf: *mut lnc_conf_t,
    timeout_ms: i32,
    out: *mut *mut lnc_consumer_t,
    err: *mut *mut lnc_error_t,
    store: Option<StoreFactory>,
) -> lnc_err_t {
    if out.is_null() {
        return fail(err, Error::invalid_arg("out is NULL"));
    }
    // SAFETY: NULL-checked; otherwise a live conf.
    let Some(c) = (unsafe { conf.as_ref() }) else { return fail(err, Error::invalid_arg("conf is NULL")) };
    let close_timeout = Duration::from_millis(c.config.get_u64("request.timeout.ms")).min(Duration::from_secs(5));
    // The handle address is needed by the store callbacks before the handle exists: allocate first.
    let slot: Box<std::mem::MaybeUninit<lnc_consumer_t>> = Box::new(std::mem::MaybeUninit::uninit());
    let raw = Box::into_raw(slot) as *mut lnc_consumer_t;
    let wait = call_timeout(timeout_ms);
    let built = match store {
        Some(make) => StandaloneConsumer::with_store_within(&c.config, Arc::new(make(store_key(raw))), wait),
        None => crate::consumer::store_from_config(&c.config)
            .and_then(|store| StandaloneConsumer::with_store_within(&c.config, store, wait)),
    };
    match built {
        Ok(consumer) => {
            // SAFETY: `raw` is a fresh allocation of the right layout; conf validated above; out
            // writable.
            unsafe {
                raw.write(lnc_consumer_t { gate: Gate::new(), close_timeout, consumer, scratch: Default::default() });
                conf::take(conf);
                *out = raw;
            }
            lnc_err_t::LNC_ERR_OK
        }
        Err(e) => {
            // SAFETY: free the uninitialised allocation.
            drop(unsafe { Box::from_raw(raw as *mut std::mem::MaybeUninit<lnc_consumer_t>) });
            fail(err, e)
        }
    }
}

/// Creates a consumer of `topic` / `topic.id` from `conf` (taken on success only). Resolves the
/// topic, loads the stored offset (offset.dir + consumer.name: file store compatible with the
/// official Rust client) and starts fetching. Its server calls share `timeout_ms` (< 0 =
/// `request.timeout.ms`).
#[no_mangle]
pub unsafe extern "C" fn lnc_consumer_new(
    conf: *mut lnc_conf_t,
    timeout_ms: i32,
    out: *mut *mut lnc_consumer_t,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    // SAFETY: forwards the caller's pointers.
    ffi_guard!({ unsafe { create(conf, timeout_ms, out, err, None) } })
}

/// A per-call timeout: < 0 = the configuration's `request.timeout.ms`.
fn call_timeout(ms: i32) -> Option<Duration> {
    (ms >= 0).then(|| timeout(ms))
}

/// Like `lnc_consumer_new` with a user offset store made of two callbacks (both required).
#[no_mangle]
pub unsafe extern "C" fn lnc_consumer_new_with_store(
    conf: *mut lnc_conf_t,
    load: lnc_offset_load_cb,
    save: lnc_offset_save_cb,
    opaque: *mut c_void,
    timeout_ms: i32,
    out: *mut *mut lnc_consumer_t,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        let (Some(load), Some(save)) = (load, save) else {
            return fail(err, Error::invalid_arg("load and save callbacks are required"));
        };
        let op = Arc::new(SendPtr(opaque));
        let op2 = op.clone();
        let make: StoreFactory = Box::new(move |key| {
            CallbackOffsetStore::new(
                Box::new(move |topic| {
                    let mut off = 0u64;
                    let _scope = CallbackScope::enter(key);
                    // SAFETY: the caller's function pointer and opaque.
                    let rc = unsafe { load(topic, &mut off, op.0) };
                    match rc {
                        1 => Ok(Some(off)),
                        0 => Ok(None),
                        n => Err(Error::new(ErrorCode::Io, format!("offset store load callback failed ({n})"))),
                    }
                }),
                Box::new(move |topic, off| {
                    // commit, poll, close and free from inside the save callback are refused with
                    // IN_CALLBACK (the save runs under the commit lock and inside the calling call).
                    let _scope = CallbackScope::enter(key);
                    // SAFETY: as above.
                    let rc = unsafe { save(topic, off, op2.0) };
                    if rc == 0 {
                        Ok(())
                    } else {
                        Err(Error::new(ErrorCode::Io, format!("offset store save callback failed ({rc})")))
                    }
                }),
            )
        });
        // SAFETY: forwards the caller's pointers.
        unsafe { create(conf, timeout_ms, out, err, Some(make)) }
    })
}

/// Waits up to `timeout_ms` (< 0 = no limit) for records and returns up to `max.poll.records`
/// of them in `*records` (owned: free with `lnc_records_free`; an empty batch on timeout). An
/// error the consumer met (OFFSET_OUT_OF_RANGE, CORRUPT_RECORD, UNKNOWN_TOPIC, TRANSPORT …) is
/// returned after every record that precedes it, with `*records` NULL.
#[no_mangle]
pub unsafe extern "C" fn lnc_consumer_poll(
    c: *const lnc_consumer_t,
    timeout_ms: i32,
    records: *mut *mut lnc_records_t,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        if records.is_null() {
            return fail(err, Error::invalid_arg("records is NULL"));
        }
        unsafe { *records = std::ptr::null_mut() };
        let (_pass, consumer) = match unsafe { handle(c) } {
            Ok(x) => x,
            Err(e) => return fail(err, e),
        };
        if in_any_callback(c) {
            return fail(
                err,
                Error::new(ErrorCode::InCallback, "poll called from inside one of this consumer's callbacks"),
            );
        }
        match consumer.poll(timeout(timeout_ms)) {
            Ok(v) => {
                unsafe { *records = Box::into_raw(Box::new(lnc_records_t::new(v))) };
                lnc_err_t::LNC_ERR_OK
            }
            Err(e) => fail(err, e),
        }
    })
}

/// Like `lnc_consumer_poll`, into memory the caller owns (no allocation per call): up to
/// `max_views` records (and `max.poll.records`) are copied into `buf` while their values fit
/// in `buf_len` bytes, and `views[i]` describes record `i` with pointers into `buf` (valid until
/// `buf` is reused). `*count` receives how many (0 on timeout). If the first record alone does
/// not fit, MSG_TOO_LARGE is returned (the message gives the size needed) and nothing is
/// consumed. Errors are returned as by `lnc_consumer_poll`.
#[no_mangle]
pub unsafe extern "C" fn lnc_consumer_poll_into(
    c: *const lnc_consumer_t,
    timeout_ms: i32,
    buf: *mut u8,
    buf_len: usize,
    views: *mut lnc_record_view_t,
    max_views: usize,
    count: *mut usize,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        let r = (|| {
            if count.is_null() {
                return Err(Error::invalid_arg("count is NULL"));
            }
            unsafe { *count = 0 };
            if views.is_null() || max_views == 0 {
                return Err(Error::invalid_arg("views is NULL or max_views is 0"));
            }
            if buf.is_null() && buf_len > 0 {
                return Err(Error::invalid_arg("buf is NULL with a non-zero buf_len"));
            }
            let (_pass, consumer) = unsafe { handle(c) }?;
            if in_any_callback(c) {
                return Err(Error::new(
                    ErrorCode::InCallback,
                    "poll called from inside one of this consumer's callbacks",
                ));
            }
            let h = unsafe { &*c };
            let mut own = Vec::new();
            let mut shared = h.scratch.try_lock();
            let records = shared.as_deref_mut().unwrap_or(&mut own);
            records.clear();
            let n = consumer.poll_within_bytes(timeout(timeout_ms), records, max_views, buf_len)?;
            let mut at = 0usize;
            for (i, r) in records.drain(..).enumerate() {
                let len = r.value.len();
                // SAFETY: the queue took only records whose values fit in buf_len together.
                let dst = unsafe { buf.add(at) };
                unsafe { std::ptr::copy_nonoverlapping(r.value.as_ptr(), dst, len) };
                let mut v = view(&r);
                let rebase = |p: *const u8| -> *const u8 {
                    if p.is_null() {
                        p
                    } else {
                        // SAFETY: `p` points into `r.value`; the same offset is inside the copy.
                        unsafe { dst.add(p as usize - r.value.as_ptr() as usize) as *const u8 }
                    }
                };
                v.key = rebase(v.key);
                v.data = rebase(v.data);
                v.value = dst;
                unsafe { views.add(i).write(v) };
                at += len;
            }
            unsafe { *count = n };
            Ok(())
        })();
        finish(err, r)
    })
}

/// Like `lnc_consumer_poll`, but calls `cb` for each of up to `max` records (0 = max.poll.records)
/// on this thread. `*count` (may be NULL) receives how many. The callback must not close or free
/// this consumer.
#[no_mangle]
pub unsafe extern "C" fn lnc_consumer_poll_cb(
    c: *const lnc_consumer_t,
    timeout_ms: i32,
    max: usize,
    cb: lnc_record_cb,
    opaque: *mut c_void,
    count: *mut usize,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        let r = (|| {
            let (_pass, consumer) = unsafe { handle(c) }?;
            let cb = cb.ok_or_else(|| Error::invalid_arg("cb is NULL"))?;
            if in_any_callback(c) {
                return Err(Error::new(
                    ErrorCode::InCallback,
                    "poll called from inside one of this consumer's callbacks",
                ));
            }
            let mut buf = Vec::new();
            let n = consumer.poll_into(timeout(timeout_ms), &mut buf, if max == 0 { usize::MAX } else { max })?;
            let _scope = CallbackScope::enter(c as usize);
            for r in &buf {
                let v = view(r);
                // SAFETY: the caller's function pointer; the view lives for the call.
                unsafe { cb(&v, opaque) };
            }
            if !count.is_null() {
                unsafe { *count = n };
            }
            Ok(())
        })();
        finish(err, r)
    })
}

/// Moves the position: `whence` is an `lnc_seek_t` value (`LNC_SEEK_BEGINNING`, `LNC_SEEK_END`,
/// or `LNC_SEEK_OFFSET` with `offset`, which must be a record boundary such as a record's
/// `offset`). Queued records of the old position are dropped. `*position` (may be NULL) receives
/// the new position. END asks the server for the tail within `timeout_ms` (< 0 =
/// `request.timeout.ms`).
#[no_mangle]
pub unsafe extern "C" fn lnc_consumer_seek(
    c: *const lnc_consumer_t,
    whence: c_int,
    offset: u64,
    timeout_ms: i32,
    position: *mut u64,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        let r = (|| {
            let (_pass, consumer) = unsafe { handle(c) }?;
            let to = match whence {
                0 => SeekTo::Beginning,
                1 => SeekTo::End,
                2 => SeekTo::Offset(offset),
                w => return Err(Error::invalid_arg(format!("unknown seek whence {w}"))),
            };
            let p = consumer.seek_within(to, call_timeout(timeout_ms))?;
            if !position.is_null() {
                unsafe { *position = p };
            }
            Ok(())
        })();
        finish(err, r)
    })
}

/// Commits the position (just past the last record handed out) to the offset store.
/// `*committed` (may be NULL) receives it. Waits up to `timeout_ms` (< 0 =
/// `request.timeout.ms`) for a commit running on another thread; the store call itself is not
/// interrupted.
#[no_mangle]
pub unsafe extern "C" fn lnc_consumer_commit(
    c: *const lnc_consumer_t,
    timeout_ms: i32,
    committed: *mut u64,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        let r = (|| {
            let (_pass, consumer) = unsafe { handle(c) }?;
            if in_callback(store_key(c)) {
                return Err(Error::new(
                    ErrorCode::InCallback,
                    "commit called from inside this consumer's offset-store callback",
                ));
            }
            let o = consumer.commit_within(call_timeout(timeout_ms))?;
            if !committed.is_null() {
                unsafe { *committed = o };
            }
            Ok(())
        })();
        finish(err, r)
    })
}

/// Bytes between the position and the topic's end. Asks the server within `timeout_ms` (< 0 =
/// `request.timeout.ms`) when the cached end is stale.
#[no_mangle]
pub unsafe extern "C" fn lnc_consumer_lag(
    c: *const lnc_consumer_t,
    timeout_ms: i32,
    lag: *mut u64,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        let r = (|| {
            if lag.is_null() {
                return Err(Error::invalid_arg("lag is NULL"));
            }
            let (_pass, consumer) = unsafe { handle(c) }?;
            let l = consumer.lag_within(call_timeout(timeout_ms))?;
            unsafe { *lag = l };
            Ok(())
        })();
        finish(err, r)
    })
}

/// The position: the offset just past the last record handed out (a record boundary).
#[no_mangle]
pub unsafe extern "C" fn lnc_consumer_position(c: *const lnc_consumer_t, position: *mut u64) -> lnc_err_t {
    ffi_guard!({
        if position.is_null() {
            return lnc_err_t::LNC_ERR_INVALID_ARG;
        }
        match unsafe { handle(c) } {
            Ok((_pass, consumer)) => {
                unsafe { *position = consumer.position() };
                lnc_err_t::LNC_ERR_OK
            }
            Err(e) => e.code.into(),
        }
    })
}

/// The topic id being consumed (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn lnc_consumer_topic_id(c: *const lnc_consumer_t) -> u32 {
    ffi_guard!(0, { unsafe { handle(c) }.map_or(0, |(_pass, x)| x.topic_id()) })
}

/// An eventfd readable while records or an error wait for `poll`. Owned by the consumer; -1 if
/// unavailable or NULL.
#[no_mangle]
pub unsafe extern "C" fn lnc_consumer_eventfd(c: *const lnc_consumer_t) -> c_int {
    ffi_guard!(-1, { unsafe { handle(c) }.ok().and_then(|(_pass, x)| x.eventfd()).unwrap_or(-1) })
}

/// Stops fetching, joins the fetch thread (up to `timeout_ms`) and makes the final auto-commit.
/// Idempotent. IN_CALLBACK from inside this consumer's callback.
#[no_mangle]
pub unsafe extern "C" fn lnc_consumer_close(c: *const lnc_consumer_t, timeout_ms: i32) -> lnc_err_t {
    ffi_guard!({
        if in_any_callback(c) {
            return ErrorCode::InCallback.into();
        }
        match unsafe { handle(c) } {
            Ok((_pass, x)) => finish(std::ptr::null_mut(), x.close(timeout(timeout_ms))),
            Err(e) => e.code.into(),
        }
    })
}

/// Closes (if needed) and frees the consumer. NULL is accepted. IN_CALLBACK (nothing freed)
/// from inside one of its own callbacks (record callback, offset-store callbacks).
///
/// Safe against calls in progress on other threads: calls already inside this consumer when
/// `free` starts (a thread blocked in `poll` or `poll_cb`) are woken by the close and return
/// promptly with LNC_ERR_CLOSED or their normal result; `free` deallocates only after the last of
/// them has returned. Calls that ask the server (`lag`, `seek` to the end) are not interrupted:
/// they end within `request.timeout.ms`, and `free` waits for them. A call that starts while
/// `free` runs returns LNC_ERR_CLOSED, and a second concurrent `free` returns LNC_ERR_CLOSED
/// without freeing. Not guaranteed: a call that starts after `free` has returned uses freed
/// memory — as in any C API that is the caller's bug, so stop starting new calls before calling
/// `free`.
#[no_mangle]
pub unsafe extern "C" fn lnc_consumer_free(c: *mut lnc_consumer_t) -> lnc_err_t {
    ffi_guard!({
        if c.is_null() {
            return lnc_err_t::LNC_ERR_OK;
        }
        if in_any_callback(c) {
            return ErrorCode::InCallback.into();
        }
        // SAFETY: a live handle (the caller's contract); the gate keeps it alive from here on.
        let h = unsafe { &*c };
        let Some(pass) = h.gate.enter() else { return ErrorCode::Closed.into() };
        if !h.gate.begin_free(&pass) {
            return ErrorCode::Closed.into();
        }
        // New calls are refused from here on. Close before waiting: the close wakes pollers.
        let _ = h.consumer.close(h.close_timeout);
        drop(pass);
        h.gate.wait_idle();
        // SAFETY: a pointer from lnc_consumer_new; this thread won begin_free, so it is freed once,
        // and no call is inside any more.
        drop(unsafe { Box::from_raw(c) });
        lnc_err_t::LNC_ERR_OK
    })
}

/// Takes up to `max` waiting events (connection changes, circuit changes, statistics; see the
/// README's "Events and logs") into `out`, an array the caller owns, waiting up to `timeout_ms`
/// for the first; `*count` receives how many. Free each with `lnc_event_free`. The consumer's
/// eventfd is readable while events (or records) wait. Works after `lnc_consumer_close` too.
/// Empty when an event callback is set on the conf.
#[no_mangle]
pub unsafe extern "C" fn lnc_consumer_poll_events(
    c: *const lnc_consumer_t,
    timeout_ms: i32,
    out: *mut super::events::lnc_event_t,
    max: usize,
    count: *mut usize,
) -> lnc_err_t {
    ffi_guard!({
        let (_pass, consumer) = match unsafe { handle(c) } {
            Ok(h) => h,
            Err(e) => return e.code.into(),
        };
        // SAFETY: the caller's array and count pointer, checked inside.
        unsafe {
            super::events::serve_events(out, max, count, |max| consumer.poll_events(max, super::timeout(timeout_ms)))
        }
    })
}
