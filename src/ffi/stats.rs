//! Statistics over the C ABI: the JSON documents (schema in `docs/statistics.md`) as owned
//! strings, and the consumer's counters as a struct like `lnc_producer_metrics_t`.

use std::ffi::{c_char, CString};

use super::consumer::lnc_consumer_t;
use super::lnc_err_t;
use super::producer::lnc_producer_t;
use crate::consumer::ConsumerMetrics;
use crate::ffi_guard;

/// Counters of a consumer (see `lnc_consumer_metrics`).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct lnc_consumer_metrics_t {
    /// Records handed to the application by poll.
    pub records: u64,
    /// Value bytes of those records.
    pub bytes: u64,
    /// Errors handed to the application by poll.
    pub errors: u64,
    /// Fetch replies received (data, empty or CatchingUp).
    pub fetches: u64,
    /// Fetch replies with no data (at the tail).
    pub empty_fetches: u64,
    /// Bytes of Fetch reply payloads received.
    pub fetch_bytes: u64,
    /// CatchingUp replies received.
    pub catching_up: u64,
    /// The position just past the last record handed out.
    pub position: u64,
    /// 1 if `end_offset`, `end_offset_age_ms` and `lag` are known, else 0.
    pub end_offset_known: u64,
    /// The end of the topic as last learned from a reply (no request is made for it).
    pub end_offset: u64,
    /// Milliseconds since `end_offset` was learned.
    pub end_offset_age_ms: u64,
    /// `end_offset - position` (0 when unknown).
    pub lag: u64,
    /// Records and errors queued for poll.
    pub queued_events: u64,
    /// Bytes queued (bounded by `queued.max.bytes`).
    pub queued_bytes: u64,
    /// Bytes held by the reassembler (a record cut by a fetch window, undecoded records).
    pub reassembly_carry_bytes: u64,
    /// Median fetch latency (request to reply), microseconds (within 1 %).
    pub fetch_latency_p50_us: u64,
    /// 99th percentile fetch latency, microseconds (within 1 %).
    pub fetch_latency_p99_us: u64,
    /// Largest fetch latency, microseconds (within 1 %).
    pub fetch_latency_max_us: u64,
    /// Reconnections of the fetch connection.
    pub reconnects: u64,
}

impl From<ConsumerMetrics> for lnc_consumer_metrics_t {
    fn from(m: ConsumerMetrics) -> Self {
        lnc_consumer_metrics_t {
            records: m.records,
            bytes: m.bytes,
            errors: m.errors,
            fetches: m.fetches,
            empty_fetches: m.empty_fetches,
            fetch_bytes: m.fetch_bytes,
            catching_up: m.catching_up,
            position: m.position,
            end_offset_known: m.end_offset.is_some() as u64,
            end_offset: m.end_offset.unwrap_or(0),
            end_offset_age_ms: m.end_offset_age_ms,
            lag: m.lag,
            queued_events: m.queued_events,
            queued_bytes: m.queued_bytes,
            reassembly_carry_bytes: m.reassembly_carry_bytes,
            fetch_latency_p50_us: m.fetch_latency_p50_us,
            fetch_latency_p99_us: m.fetch_latency_p99_us,
            fetch_latency_max_us: m.fetch_latency_max_us,
            reconnects: m.reconnects,
        }
    }
}

/// Hands `json` to the caller as an owned C string in `*out`.
fn give(json: String, out: *mut *mut c_char) -> lnc_err_t {
    // serde_json escapes every control character: a document never contains NUL.
    match CString::new(json) {
        Ok(s) => {
            // SAFETY: the caller checked `out` for NULL.
            unsafe { *out = s.into_raw() };
            lnc_err_t::LNC_ERR_OK
        }
        Err(_) => lnc_err_t::LNC_ERR_PANIC,
    }
}

/// Copies the consumer's counters into `*out`. Never blocks on the network; works on a closed
/// consumer. INVALID_ARG for NULL; CLOSED while `lnc_consumer_free` runs.
#[no_mangle]
pub unsafe extern "C" fn lnc_consumer_metrics(c: *const lnc_consumer_t, out: *mut lnc_consumer_metrics_t) -> lnc_err_t {
    ffi_guard!({
        if out.is_null() {
            return lnc_err_t::LNC_ERR_INVALID_ARG;
        }
        match unsafe { super::consumer::handle(c) } {
            Ok((_pass, consumer)) => {
                unsafe { *out = consumer.metrics().into() };
                lnc_err_t::LNC_ERR_OK
            }
            Err(e) => e.code.into(),
        }
    })
}

/// The producer's statistics document (JSON, schema version 1, see docs/statistics.md) as a new
/// NUL-terminated string in `*json`, owned by the caller: free it with `lnc_string_free`. Never
/// blocks on the network; allowed inside callbacks and on a closed producer. INVALID_ARG for
/// NULL (then `*json` is untouched); CLOSED while `lnc_producer_free` runs.
#[no_mangle]
pub unsafe extern "C" fn lnc_producer_statistics(p: *const lnc_producer_t, json: *mut *mut c_char) -> lnc_err_t {
    ffi_guard!({
        if json.is_null() {
            return lnc_err_t::LNC_ERR_INVALID_ARG;
        }
        match unsafe { super::producer::handle(p) } {
            Ok((_pass, producer)) => give(producer.statistics_json(), json),
            Err(e) => e.code.into(),
        }
    })
}

/// The consumer's statistics document (JSON, schema version 1, see docs/statistics.md) as a new
/// NUL-terminated string in `*json`, owned by the caller: free it with `lnc_string_free`. Never
/// blocks on the network; allowed inside the offset-store callback and on a closed consumer.
/// INVALID_ARG for NULL (then `*json` is untouched); CLOSED while `lnc_consumer_free` runs.
#[no_mangle]
pub unsafe extern "C" fn lnc_consumer_statistics(c: *const lnc_consumer_t, json: *mut *mut c_char) -> lnc_err_t {
    ffi_guard!({
        if json.is_null() {
            return lnc_err_t::LNC_ERR_INVALID_ARG;
        }
        match unsafe { super::consumer::handle(c) } {
            Ok((_pass, consumer)) => give(consumer.statistics_json(), json),
            Err(e) => e.code.into(),
        }
    })
}

/// Frees a string this library returned as owned (`lnc_producer_statistics`,
/// `lnc_consumer_statistics`). NULL is accepted.
#[no_mangle]
pub unsafe extern "C" fn lnc_string_free(s: *mut c_char) {
    ffi_guard!((), {
        if !s.is_null() {
            // SAFETY: a pointer from CString::into_raw in this library, freed once.
            drop(unsafe { CString::from_raw(s) });
        }
    })
}
