//! `lnc_producer_*`.

use std::ffi::{c_int, c_void};
use std::time::Duration;

use super::cancel::{lnc_cancel_t, token};
use super::conf::{self, lnc_conf_t};
use super::gate::{Gate, Pass};
use super::record::{lnc_message_t, message};
use super::{fail, finish, in_callback, lnc_err_t, lnc_error_t, str_arg, timeout, CallbackScope};
use crate::error::{Error, ErrorCode};
use crate::ffi_guard;
use crate::producer::{DeliveryReport, Producer, ProducerMetrics, SendOptions};

/// A producer handle (thread-safe). Create with `lnc_producer_new`, free with
/// `lnc_producer_free` (safe while other threads are inside calls on it; see there).
pub struct lnc_producer_t {
    /// Counts the calls inside this handle so that `lnc_producer_free` can wait for them.
    gate: Gate,
    producer: Producer,
}

/// One record's final outcome, passed to the delivery callback. Borrowed for the call only.
#[repr(C)]
pub struct lnc_delivery_report_t {
    /// The topic.
    pub topic_id: u32,
    /// The message's `opaque`.
    pub opaque: *mut c_void,
    /// Batch id of the acknowledged (or last) attempt; 0 if never sent.
    pub batch_id: u64,
    /// `LNC_ERR_OK` when acknowledged (written and fsynced), else the final error.
    pub err: lnc_err_t,
    /// Error details (NULL on success); borrowed for the call.
    pub error: *const lnc_error_t,
}

/// Delivery callback: runs on the thread that calls `lnc_producer_poll`, `_flush` or `_close`.
/// Must not call `lnc_producer_close` or `lnc_producer_free` on the same producer.
pub type lnc_delivery_cb = Option<unsafe extern "C" fn(report: *const lnc_delivery_report_t, cb_opaque: *mut c_void)>;

/// Counters of a producer (see `lnc_producer_metrics`).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct lnc_producer_metrics_t {
    /// Records written to the wire (resends counted again).
    pub records_sent: u64,
    /// Records acknowledged.
    pub records_acked: u64,
    /// Records with a final error.
    pub records_failed: u64,
    /// Payload bytes written.
    pub bytes_sent: u64,
    /// Payload bytes acknowledged.
    pub bytes_acked: u64,
    /// Batches written.
    pub batches_sent: u64,
    /// Batches acknowledged.
    pub batches_acked: u64,
    /// Batches with a final error.
    pub batches_failed: u64,
    /// Batch resends.
    pub batches_retried: u64,
    /// Records resent.
    pub records_retried: u64,
    /// Records resent after an unknown outcome (possible duplicates).
    pub possible_duplicates: u64,
    /// Connections established.
    pub connects: u64,
    /// Connections lost or reset.
    pub disconnects: u64,
    /// ErrorResponses received for ingests.
    pub server_errors: u64,
    /// Batches sent compressed.
    pub batches_compressed: u64,
    /// Batches unacknowledged now.
    pub in_flight_batches: u64,
    /// Bytes buffered or in flight now.
    pub buffered_bytes: u64,
    /// Records without a served report now.
    pub outstanding_records: u64,
    /// Median ack latency, microseconds (HDR histogram: within 1 %).
    pub ack_latency_p50_us: u64,
    /// 99th percentile ack latency, microseconds (within 1 %). p90, p99.9 and max are in
    /// `lnc_producer_statistics`.
    pub ack_latency_p99_us: u64,
    /// Batch size limit in force now: `batch.size`, or up to `batch.size.max` while the
    /// in-flight window is full (adaptive batching).
    pub batch_size_current: u64,
}

impl From<ProducerMetrics> for lnc_producer_metrics_t {
    fn from(m: ProducerMetrics) -> Self {
        lnc_producer_metrics_t {
            records_sent: m.records_sent,
            records_acked: m.records_acked,
            records_failed: m.records_failed,
            bytes_sent: m.bytes_sent,
            bytes_acked: m.bytes_acked,
            batches_sent: m.batches_sent,
            batches_acked: m.batches_acked,
            batches_failed: m.batches_failed,
            batches_retried: m.batches_retried,
            records_retried: m.records_retried,
            possible_duplicates: m.possible_duplicates,
            connects: m.connects,
            disconnects: m.disconnects,
            server_errors: m.server_errors,
            batches_compressed: m.batches_compressed,
            in_flight_batches: m.in_flight_batches,
            buffered_bytes: m.buffered_bytes,
            outstanding_records: m.outstanding_records,
            ack_latency_p50_us: m.ack_latency_p50_us,
            ack_latency_p99_us: m.ack_latency_p99_us,
            batch_size_current: m.batch_size_current,
        }
    }
}

/// The C callback and its opaque, movable to the producer's owner thread.
struct CCallback {
    cb: unsafe extern "C" fn(*const lnc_delivery_report_t, *mut c_void),
    opaque: *mut c_void,
    /// The handle address, for the re-entrancy guard.
    handle: usize,
}
// SAFETY: the callback only runs on threads that call poll/flush/close, as documented; the
// opaque pointer is the caller's to make safe for that.
unsafe impl Send for CCallback {}

impl CCallback {
    fn call(&self, r: &DeliveryReport) {
        let error = r.error.clone().map(lnc_error_t::new);
        let report = lnc_delivery_report_t {
            topic_id: r.topic_id,
            opaque: r.opaque as usize as *mut c_void,
            batch_id: r.batch_id,
            err: r.error.as_ref().map_or(lnc_err_t::LNC_ERR_OK, |e| e.code.into()),
            error: error.as_ref().map_or(std::ptr::null(), |e| e as *const lnc_error_t),
        };
        let _scope = CallbackScope::enter(self.handle);
        // SAFETY: a valid function pointer given by the caller; the report lives for the call.
        unsafe { (self.cb)(&report, self.opaque) };
    }
}

/// Enters the handle's gate for the duration of one call (keep the `Pass` alive until the call
/// returns): INVALID_ARG for NULL, CLOSED while `lnc_producer_free` runs.
pub(super) unsafe fn handle<'a>(p: *const lnc_producer_t) -> Result<(Pass<'a>, &'a Producer), Error> {
    // SAFETY: NULL-checked; otherwise a handle from lnc_producer_new that has not been freed
    // before this call started (the caller's contract, see lnc_producer_free).
    let h = unsafe { p.as_ref() }.ok_or_else(|| Error::invalid_arg("producer is NULL"))?;
    let pass = h.gate.enter().ok_or_else(|| Error::closed("producer is being freed"))?;
    Ok((pass, &h.producer))
}

/// Creates a producer from `conf` (taken on success only; on failure the caller still owns
/// it). `cb` (may be NULL) receives every delivery report inside `poll`/`flush`/`close`, with
/// `cb_opaque`. Without a callback, reports are still counted and then dropped by `poll`.
/// Connects in the background: a dead server shows up as reports, not here.
#[no_mangle]
pub unsafe extern "C" fn lnc_producer_new(
    conf: *mut lnc_conf_t,
    cb: lnc_delivery_cb,
    cb_opaque: *mut c_void,
    out: *mut *mut lnc_producer_t,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        if out.is_null() {
            return fail(err, Error::invalid_arg("out is NULL"));
        }
        // SAFETY: NULL-checked; otherwise a live conf.
        let Some(c) = (unsafe { conf.as_ref() }) else { return fail(err, Error::invalid_arg("conf is NULL")) };
        // The handle address is needed by the callback before the handle exists: allocate first.
        let slot: Box<std::mem::MaybeUninit<lnc_producer_t>> = Box::new(std::mem::MaybeUninit::uninit());
        let raw = Box::into_raw(slot) as *mut lnc_producer_t;
        let built = match cb {
            Some(f) => {
                let c_cb = CCallback { cb: f, opaque: cb_opaque, handle: raw as usize };
                Producer::with_callback(&c.config, move |r| c_cb.call(r))
            }
            None => Producer::new(&c.config),
        };
        match built {
            Ok(producer) => {
                // SAFETY: `raw` is a fresh allocation of the right layout.
                unsafe {
                    raw.write(lnc_producer_t { gate: Gate::new(), producer });
                    conf::take(conf);
                    *out = raw;
                }
                lnc_err_t::LNC_ERR_OK
            }
            Err(e) => {
                // SAFETY: free the uninitialised allocation.
                drop(unsafe { Box::from_raw(raw as *mut std::mem::MaybeUninit<lnc_producer_t>) });
                fail(err, e)
            }
        }
    })
}

/// Appends one record to `topic_id`'s batch. On error the record was not accepted and gets no
/// report: INVALID_ARG, MSG_TOO_LARGE, QUEUE_FULL (`send.block=false` or the block timed out),
/// CLOSED, or the producer's fatal error.
#[no_mangle]
pub unsafe extern "C" fn lnc_producer_send(
    p: *const lnc_producer_t,
    topic_id: u32,
    msg: *const lnc_message_t,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        let r = (|| {
            let (_pass, producer) = unsafe { handle(p) }?;
            // SAFETY: NULL-checked; the message is valid for the call.
            let m = unsafe { msg.as_ref() }.ok_or_else(|| Error::invalid_arg("msg is NULL"))?;
            let opaque = m.opaque as usize as u64;
            producer.send(topic_id, &unsafe { message(m) }?, opaque)
        })();
        finish(err, r)
    })
}

/// Appends `count` records atomically (all accepted or none).
#[no_mangle]
pub unsafe extern "C" fn lnc_producer_send_batch(
    p: *const lnc_producer_t,
    topic_id: u32,
    msgs: *const lnc_message_t,
    count: usize,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        let r = (|| {
            let (_pass, producer) = unsafe { handle(p) }?;
            if msgs.is_null() && count > 0 {
                return Err(Error::invalid_arg("msgs is NULL"));
            }
            let raw: &[lnc_message_t] =
                if count == 0 { &[] } else { unsafe { std::slice::from_raw_parts(msgs, count) } };
            let converted = raw.iter().map(|m| unsafe { message(m) }).collect::<Result<Vec<_>, _>>()?;
            let opaques: Vec<u64> = raw.iter().map(|c| c.opaque as usize as u64).collect();
            producer.send_batch_with_opaques(topic_id, &converted, &opaques)
        })();
        finish(err, r)
    })
}

/// One delivery report copied out by `lnc_producer_poll_reports`.
#[repr(C)]
pub struct lnc_report_t {
    /// The topic.
    pub topic_id: u32,
    /// The message's `opaque`.
    pub opaque: *mut c_void,
    /// Batch id of the acknowledged (or last) attempt; 0 if never sent.
    pub batch_id: u64,
    /// `LNC_ERR_OK` when acknowledged, else the final error.
    pub err: lnc_err_t,
    /// Error details, owned by the caller (free with `lnc_error_free`); NULL on success.
    pub error: *mut lnc_error_t,
}

/// Takes up to `max` waiting delivery reports into `out` (an array the caller owns), waiting
/// up to `timeout_ms` for the first; `*count` receives how many. No callback runs: this is the
/// fast path for bindings (one call per batch of reports). Works after `lnc_producer_close` too,
/// to drain what is left. Free each non-NULL `error`.
#[no_mangle]
pub unsafe extern "C" fn lnc_producer_poll_reports(
    p: *const lnc_producer_t,
    timeout_ms: i32,
    out: *mut lnc_report_t,
    max: usize,
    count: *mut usize,
) -> lnc_err_t {
    ffi_guard!({
        let (_pass, producer) = match unsafe { handle(p) } {
            Ok(h) => h,
            Err(e) => return e.code.into(),
        };
        if count.is_null() || (out.is_null() && max > 0) {
            return lnc_err_t::LNC_ERR_INVALID_ARG;
        }
        let reports = producer.poll_reports(max, timeout(timeout_ms));
        for (i, r) in reports.iter().enumerate() {
            let report = lnc_report_t {
                topic_id: r.topic_id,
                opaque: r.opaque as usize as *mut c_void,
                batch_id: r.batch_id,
                err: r.error.as_ref().map_or(lnc_err_t::LNC_ERR_OK, |e| e.code.into()),
                error: r.error.clone().map_or(std::ptr::null_mut(), |e| Box::into_raw(Box::new(lnc_error_t::new(e)))),
            };
            // SAFETY: `out` has room for `max` reports and i < reports.len() <= max.
            unsafe { out.add(i).write(report) };
        }
        unsafe { *count = reports.len() };
        lnc_err_t::LNC_ERR_OK
    })
}

/// Appends one record given as flat arguments (the fast path for bindings; same rules as
/// `lnc_message_t`: `record_type` 0 = raw, `key` NULL = no key, `timestamp_ns` 0 = none/now,
/// `ext_type` only for `LNC_RECORD_EXTENDED`).
#[no_mangle]
pub unsafe extern "C" fn lnc_producer_send_record(
    p: *const lnc_producer_t,
    topic_id: u32,
    record_type: u8,
    ext_type: u16,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    timestamp_ns: u64,
    opaque: *mut c_void,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    let m = lnc_message_t { record_type, ext_type, key, key_len, value, value_len, timestamp_ns, opaque };
    // SAFETY: forwards the caller's arguments.
    unsafe { lnc_producer_send(p, topic_id, &m, err) }
}

/// Convenience: produces one raw record.
#[no_mangle]
pub unsafe extern "C" fn lnc_producer_produce(
    p: *const lnc_producer_t,
    topic_id: u32,
    value: *const u8,
    len: usize,
    opaque: *mut c_void,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    let m = lnc_message_t {
        record_type: 0,
        ext_type: 0,
        key: std::ptr::null(),
        key_len: 0,
        value,
        value_len: len,
        timestamp_ns: 0,
        opaque,
    };
    // SAFETY: forwards the caller's arguments.
    unsafe { lnc_producer_send(p, topic_id, &m, err) }
}

/// Options of `lnc_producer_send_with_options` and `lnc_producer_send_sync`. A NULL pointer
/// means the configuration's behaviour; in a filled struct that is `timeout_ms = -1` (0 means
/// "never wait").
#[repr(C)]
pub struct lnc_send_options_t {
    /// Used when `topic_id` is 0: the topic's name (NUL-terminated, borrowed for the call),
    /// resolved by the producer and cached (created when `topic.auto.create` is true).
    pub topic_name: *const std::ffi::c_char,
    /// How long to wait for buffer space: < 0 = the configuration (`send.block`,
    /// `send.timeout.ms`), 0 = never (QUEUE_FULL at once), > 0 = up to that many ms. A name not
    /// yet cached is looked up within `request.timeout.ms` whatever this says.
    pub timeout_ms: i32,
    /// Fired from another thread, ends the call's waits with LNC_ERR_CANCELLED. May be NULL.
    pub cancel: *const lnc_cancel_t,
}

/// The topic id and Rust options of a C options pointer.
unsafe fn send_options<'a>(
    producer: &Producer,
    topic_id: u32,
    opts: *const lnc_send_options_t,
) -> crate::Result<(u32, SendOptions<'a>)> {
    // SAFETY: NULL or valid for the call per the contract.
    let Some(o) = (unsafe { opts.as_ref() }) else {
        return Ok((topic_id, SendOptions::default()));
    };
    let cancel = unsafe { token(o.cancel) };
    let options = SendOptions { timeout: (o.timeout_ms >= 0).then(|| timeout(o.timeout_ms)), cancel };
    if topic_id != 0 || o.topic_name.is_null() {
        return Ok((topic_id, options));
    }
    let name = unsafe { str_arg(o.topic_name, "topic_name") }?;
    Ok((producer.topic_id(name, None, cancel)?, options))
}

/// Appends `count` records atomically (all accepted or none) to `topic_id`, or to
/// `opts->topic_name` when `topic_id` is 0, waiting for buffer space as `opts` says (NULL =
/// the configuration). `*topic_id_out` (may be NULL) receives the topic id used. On error
/// nothing was accepted and no report will come: INVALID_ARG, MSG_TOO_LARGE, QUEUE_FULL,
/// CANCELLED, CLOSED, UNKNOWN_TOPIC (name not found with `topic.auto.create=false`), a lookup
/// failure, or the producer's fatal error.
#[no_mangle]
pub unsafe extern "C" fn lnc_producer_send_with_options(
    p: *const lnc_producer_t,
    topic_id: u32,
    msgs: *const lnc_message_t,
    count: usize,
    opts: *const lnc_send_options_t,
    topic_id_out: *mut u32,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        let r = (|| {
            let (_pass, producer) = unsafe { handle(p) }?;
            if msgs.is_null() && count > 0 {
                return Err(Error::invalid_arg("msgs is NULL"));
            }
            let (tid, options) = unsafe { send_options(producer, topic_id, opts) }?;
            let raw: &[lnc_message_t] =
                if count == 0 { &[] } else { unsafe { std::slice::from_raw_parts(msgs, count) } };
            let converted = raw.iter().map(|m| unsafe { message(m) }).collect::<Result<Vec<_>, _>>()?;
            let opaques: Vec<u64> = raw.iter().map(|c| c.opaque as usize as u64).collect();
            producer.send_with(tid, &converted, &opaques, &options)?;
            if !topic_id_out.is_null() {
                unsafe { *topic_id_out = tid };
            }
            Ok(())
        })();
        finish(err, r)
    })
}

/// Resolves a topic name through the producer's cache: from the server on a miss (created
/// when `topic.auto.create` is true, else UNKNOWN_TOPIC), retrying retryable failures for up to
/// `timeout_ms` (< 0 = `request.timeout.ms`). `cancel` (may be NULL) ends the waits between
/// attempts.
#[no_mangle]
pub unsafe extern "C" fn lnc_producer_topic_id(
    p: *const lnc_producer_t,
    name: *const std::ffi::c_char,
    timeout_ms: i32,
    cancel: *const lnc_cancel_t,
    topic_id: *mut u32,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        let r = (|| {
            let (_pass, producer) = unsafe { handle(p) }?;
            let name = unsafe { str_arg(name, "name") }?;
            if topic_id.is_null() {
                return Err(Error::invalid_arg("topic_id is NULL"));
            }
            let wait = (timeout_ms >= 0).then(|| timeout(timeout_ms));
            let id = producer.topic_id(name, wait, unsafe { token(cancel) })?;
            unsafe { *topic_id = id };
            Ok(())
        })();
        finish(err, r)
    })
}

/// Sends one record and waits for its acknowledgement (its report goes to this call, not the
/// callback). `opts` (may be NULL) sets the topic by name, the wait for buffer space and a
/// cancellation token for both waits; `timeout_ms` bounds the whole call. `*batch_id` (may be
/// NULL) receives the acking batch id. TIMED_OUT or CANCELLED after acceptance means the record
/// may still be delivered.
#[no_mangle]
pub unsafe extern "C" fn lnc_producer_send_sync(
    p: *const lnc_producer_t,
    topic_id: u32,
    msg: *const lnc_message_t,
    opts: *const lnc_send_options_t,
    timeout_ms: i32,
    batch_id: *mut u64,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        let r = (|| {
            let (_pass, producer) = unsafe { handle(p) }?;
            let m = unsafe { msg.as_ref() }.ok_or_else(|| Error::invalid_arg("msg is NULL"))?;
            let (tid, options) = unsafe { send_options(producer, topic_id, opts) }?;
            let id = producer.send_sync_with(tid, &unsafe { message(m) }?, &options, timeout(timeout_ms))?;
            if !batch_id.is_null() {
                unsafe { *batch_id = id };
            }
            Ok(())
        })();
        finish(err, r)
    })
}

/// Serves waiting delivery reports to the callback, waiting up to `timeout_ms` (< 0 = no limit)
/// for the first. `*served` (may be NULL) receives how many were served.
#[no_mangle]
pub unsafe extern "C" fn lnc_producer_poll(p: *const lnc_producer_t, timeout_ms: i32, served: *mut usize) -> lnc_err_t {
    ffi_guard!({
        let (_pass, producer) = match unsafe { handle(p) } {
            Ok(h) => h,
            Err(e) => return e.code.into(),
        };
        match producer.poll(timeout(timeout_ms)) {
            Ok(n) => {
                if !served.is_null() {
                    unsafe { *served = n };
                }
                lnc_err_t::LNC_ERR_OK
            }
            Err(e) => e.code.into(),
        }
    })
}

/// Sends everything now and waits up to `timeout_ms` until every record has its report,
/// serving reports meanwhile. `*remaining` (may be NULL) receives the records still pending.
/// Returns OK when none remain, else TIMED_OUT; DELIVERY_FAILED (details in `*err`) when none
/// remain but fire-and-forget records (no callback, opaque NULL) failed since the last flush.
#[no_mangle]
pub unsafe extern "C" fn lnc_producer_flush(
    p: *const lnc_producer_t,
    timeout_ms: i32,
    remaining: *mut usize,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        let r = (|| {
            let (_pass, producer) = unsafe { handle(p) }?;
            let flushed = producer.flush(timeout(timeout_ms));
            // DELIVERY_FAILED is only returned once nothing remains.
            let n = match &flushed {
                Ok(n) => *n,
                Err(e) if e.code == ErrorCode::DeliveryFailed => 0,
                Err(_) => return flushed.map(|_| ()),
            };
            if !remaining.is_null() {
                unsafe { *remaining = n };
            }
            flushed?;
            if n == 0 {
                Ok(())
            } else {
                Err(Error::timed_out(format!("{n} record(s) still without a report after the flush timeout")))
            }
        })();
        finish(err, r)
    })
}

/// Fails every record not yet written to the wire with PURGED (reported as usual).
/// `*purged` (may be NULL) receives the count.
#[no_mangle]
pub unsafe extern "C" fn lnc_producer_purge(p: *const lnc_producer_t, purged: *mut usize) -> lnc_err_t {
    ffi_guard!({
        match unsafe { handle(p) } {
            Ok((_pass, producer)) => {
                let n = producer.purge();
                if !purged.is_null() {
                    unsafe { *purged = n };
                }
                lnc_err_t::LNC_ERR_OK
            }
            Err(e) => e.code.into(),
        }
    })
}

/// Flushes up to `timeout_ms`, then purges the rest with reports, joins every thread and serves
/// the remaining reports; no callback runs after it returns. Idempotent. IN_CALLBACK from
/// inside this producer's callback. DELIVERY_FAILED (details in `*err`, may be NULL) means the
/// producer is closed but fire-and-forget records failed since the last flush.
#[no_mangle]
pub unsafe extern "C" fn lnc_producer_close(
    p: *const lnc_producer_t,
    timeout_ms: i32,
    err: *mut *mut lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        let r = (|| {
            let (_pass, producer) = unsafe { handle(p) }?;
            producer.close(timeout(timeout_ms))
        })();
        finish(err, r)
    })
}

/// Copies the producer's counters into `*out`.
#[no_mangle]
pub unsafe extern "C" fn lnc_producer_metrics(p: *const lnc_producer_t, out: *mut lnc_producer_metrics_t) -> lnc_err_t {
    ffi_guard!({
        if out.is_null() {
            return lnc_err_t::LNC_ERR_INVALID_ARG;
        }
        match unsafe { handle(p) } {
            Ok((_pass, producer)) => {
                unsafe { *out = producer.metrics().into() };
                lnc_err_t::LNC_ERR_OK
            }
            Err(e) => e.code.into(),
        }
    })
}

/// An eventfd that is readable while delivery reports wait to be served (for poll/epoll/asyncio/
/// libuv). Owned by the producer: do not close it. -1 for NULL.
#[no_mangle]
pub unsafe extern "C" fn lnc_producer_eventfd(p: *const lnc_producer_t) -> c_int {
    ffi_guard!(-1, { unsafe { handle(p) }.map_or(-1, |(_pass, producer)| producer.eventfd()) })
}

/// Closes (flushing up to 5 s if `lnc_producer_close` was not called) and frees the producer.
/// NULL is accepted. Returns IN_CALLBACK (and frees nothing) from inside its own callback.
///
/// Safe against calls in progress on other threads: calls already inside this producer when
/// `free` starts (a thread blocked in `poll`, `flush`, `send_sync`, `poll_reports`, or in a send
/// waiting for buffer space) are woken by the close and return promptly with their normal result
/// or LNC_ERR_CLOSED; `free` deallocates only after the last of them has returned. A call that
/// starts while `free` runs returns LNC_ERR_CLOSED, and a second concurrent `free` returns
/// LNC_ERR_CLOSED without freeing. Not guaranteed: a call that starts after `free` has returned
/// uses freed memory — as in any C API that is the caller's bug, and since a call that starts
/// while `free` runs may equally start just after it returns, stop starting new calls before
/// calling `free`. Delivery callbacks served by the close run on the calling thread.
#[no_mangle]
pub unsafe extern "C" fn lnc_producer_free(p: *mut lnc_producer_t) -> lnc_err_t {
    ffi_guard!({
        if p.is_null() {
            return lnc_err_t::LNC_ERR_OK;
        }
        // SAFETY: a live handle (the caller's contract); the gate keeps it alive from here on.
        let h = unsafe { &*p };
        let Some(pass) = h.gate.enter() else { return ErrorCode::Closed.into() };
        if in_callback(p as usize) || h.producer.in_callback() {
            return ErrorCode::InCallback.into();
        }
        if !h.gate.begin_free(&pass) {
            return ErrorCode::Closed.into();
        }
        // New calls are refused from here on. Close now, before waiting, because the close is what
        // wakes the calls blocked inside (idempotent when lnc_producer_close already ran).
        let _ = h.producer.close(Duration::from_secs(5));
        drop(pass);
        h.gate.wait_idle();
        // SAFETY: a pointer from lnc_producer_new; this thread won begin_free, so it is freed once,
        // and no call is inside any more.
        drop(unsafe { Box::from_raw(p) });
        lnc_err_t::LNC_ERR_OK
    })
}

/// Takes up to `max` waiting events (connection changes, circuit changes, statistics; see the
/// README's "Events and logs") into `out`, an array the caller owns, waiting up to `timeout_ms`
/// for the first; `*count` receives how many. Free each with `lnc_event_free`. The producer's
/// eventfd is readable while events (or reports) wait. Works after `lnc_producer_close` too.
/// Empty when an event callback is set on the conf.
#[no_mangle]
pub unsafe extern "C" fn lnc_producer_poll_events(
    p: *const lnc_producer_t,
    timeout_ms: i32,
    out: *mut super::events::lnc_event_t,
    max: usize,
    count: *mut usize,
) -> lnc_err_t {
    ffi_guard!({
        let (_pass, producer) = match unsafe { handle(p) } {
            Ok(h) => h,
            Err(e) => return e.code.into(),
        };
        // SAFETY: the caller's array and count pointer, checked inside.
        unsafe {
            super::events::serve_events(out, max, count, |max| producer.poll_events(max, super::timeout(timeout_ms)))
        }
    })
}
