//! `lnc_mock_*`: the embedded mock broker, for users' own tests.

use std::ffi::{c_char, c_int};
use std::time::Duration;

use super::gate::{Entered, Gate};
use super::{copy_out, lnc_err_t, str_arg};
use crate::error::{Error, ErrorCode};
use crate::ffi_guard;
use crate::mock::{MockBroker, MockConfig};

/// A running mock broker (thread-safe). Free with `lnc_mock_free` (safe while other threads are
/// inside calls on it; see there).
pub struct lnc_mock_t {
    /// Counts the calls inside this handle so that `lnc_mock_free` can wait for them.
    gate: Gate,
    mock: MockBroker,
}

/// Mock broker counters.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct lnc_mock_stats_t {
    /// Connections accepted.
    pub connections_accepted: u64,
    /// Connections open now.
    pub connections_open: u64,
    /// Valid frames received.
    pub frames_received: u64,
    /// Connections closed for a bad frame.
    pub fatal_closes: u64,
    /// Ingest frames received.
    pub ingests_received: u64,
    /// Ingest batches stored.
    pub ingests_stored: u64,
    /// Payload bytes stored.
    pub bytes_stored: u64,
    /// Acks written.
    pub acks_sent: u64,
    /// Accepted batches whose Ack was never written.
    pub acks_dropped: u64,
    /// ErrorResponses written.
    pub errors_sent: u64,
    /// Keepalive replies written.
    pub keepalives_answered: u64,
    /// Control requests received.
    pub control_requests: u64,
    /// FetchResponses written.
    pub fetches_served: u64,
}

/// Enters the handle's gate for one call (the guard derefs to the broker and leaves the gate when
/// dropped): INVALID_ARG for NULL, CLOSED while `lnc_mock_free` runs.
unsafe fn handle<'a>(m: *const lnc_mock_t) -> Result<Entered<'a, MockBroker>, lnc_err_t> {
    // SAFETY: NULL-checked; otherwise a handle from lnc_mock_new that has not been freed before
    // this call started (the caller's contract, see lnc_mock_free).
    let h = unsafe { m.as_ref() }.ok_or(lnc_err_t::LNC_ERR_INVALID_ARG)?;
    Entered::new(&h.gate, &h.mock).ok_or(lnc_err_t::LNC_ERR_CLOSED)
}

/// Starts a mock broker on 127.0.0.1 (ephemeral port by default). `keys`/`values` are `count`
/// settings: `host`, `port`, `ack.delay.ms` (default 5), `checksum`, `max.payload.bytes`,
/// `auth.token`, `write.only`, `fetch.rate.limit.bytes`, `segment.bytes`, and with a liblnc built
/// with TLS `tls.cert`, `tls.key` (PEM files: listen with TLS) and `tls.client.ca` (demand client
/// certificates signed by it). A bad setting is INVALID_VALUE with the reason in `errbuf`.
#[no_mangle]
pub unsafe extern "C" fn lnc_mock_new(
    keys: *const *const c_char,
    values: *const *const c_char,
    count: usize,
    out: *mut *mut lnc_mock_t,
    errbuf: *mut c_char,
    errlen: usize,
) -> lnc_err_t {
    ffi_guard!({
        let r = (|| {
            if out.is_null() || (count > 0 && (keys.is_null() || values.is_null())) {
                return Err(Error::invalid_arg("out, keys or values is NULL"));
            }
            let mut cfg = MockConfig::default();
            for i in 0..count {
                // SAFETY: `count` valid string pointers in each array, per the contract.
                let (k, v) = unsafe { (str_arg(*keys.add(i), "key")?, str_arg(*values.add(i), "value")?) };
                cfg.set(k, v).map_err(|why| Error::new(ErrorCode::InvalidValue, format!("mock setting {k}: {why}")))?;
            }
            let mock = MockBroker::start(cfg)
                .map_err(|e| Error::new(ErrorCode::Io, format!("cannot start the mock broker: {e}")))?;
            unsafe { *out = Box::into_raw(Box::new(lnc_mock_t { gate: Gate::new(), mock })) };
            Ok(())
        })();
        match r {
            Ok(()) => lnc_err_t::LNC_ERR_OK,
            Err(e) => {
                unsafe { copy_out(&e.message, errbuf, errlen) };
                e.code.into()
            }
        }
    })
}

/// Writes `host:port` (NUL-terminated, truncated to `len`) into `buf`; returns the full length
/// (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn lnc_mock_address(m: *const lnc_mock_t, buf: *mut c_char, len: usize) -> usize {
    ffi_guard!(0, { unsafe { handle(m) }.map_or(0, |x| unsafe { copy_out(&x.address_string(), buf, len) }) })
}

/// The listening port (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn lnc_mock_port(m: *const lnc_mock_t) -> u16 {
    ffi_guard!(0, { unsafe { handle(m) }.map_or(0, |x| x.address().port()) })
}

/// Runs `f` on a live mock; INVALID_ARG for NULL, CLOSED while it is being freed.
unsafe fn with_mock(m: *const lnc_mock_t, f: impl FnOnce(&MockBroker)) -> lnc_err_t {
    ffi_guard!({
        match unsafe { handle(m) } {
            Ok(x) => {
                f(&x);
                lnc_err_t::LNC_ERR_OK
            }
            Err(code) => code,
        }
    })
}

/// Closes the connection that receives the n-th next frame (after handling its read; its
/// Acks are lost, its ingests stored). 0 disables.
#[no_mangle]
pub unsafe extern "C" fn lnc_mock_drop_after_frames(m: *const lnc_mock_t, n: u64) -> lnc_err_t {
    // SAFETY: forwards the caller's handle.
    unsafe { with_mock(m, |x| x.drop_after_frames(n)) }
}

/// Closes the connection that receives the n-th next byte. 0 disables.
#[no_mangle]
pub unsafe extern "C" fn lnc_mock_drop_after_bytes(m: *const lnc_mock_t, n: u64) -> lnc_err_t {
    // SAFETY: forwards the caller's handle.
    unsafe { with_mock(m, |x| x.drop_after_bytes(n)) }
}

/// Cuts every open connection now.
#[no_mangle]
pub unsafe extern "C" fn lnc_mock_disconnect_all(m: *const lnc_mock_t) -> lnc_err_t {
    // SAFETY: forwards the caller's handle.
    unsafe { with_mock(m, |x| x.disconnect_all()) }
}

/// Sets the durability delay before Acks (the real server's is about 5 ms).
#[no_mangle]
pub unsafe extern "C" fn lnc_mock_set_ack_delay_ms(m: *const lnc_mock_t, ms: u64) -> lnc_err_t {
    // SAFETY: forwards the caller's handle.
    unsafe { with_mock(m, |x| x.set_ack_delay(Duration::from_millis(ms))) }
}

/// Stores the next n ingests but never acks them (cluster quorum loss).
#[no_mangle]
pub unsafe extern "C" fn lnc_mock_drop_next_acks(m: *const lnc_mock_t, n: u64) -> lnc_err_t {
    // SAFETY: forwards the caller's handle.
    unsafe { with_mock(m, |x| x.drop_next_acks(n)) }
}

/// Makes the mock stop reading sockets (1) or resume (0): TCP backpressure.
#[no_mangle]
pub unsafe extern "C" fn lnc_mock_stall_reading(m: *const lnc_mock_t, stall: c_int) -> lnc_err_t {
    // SAFETY: forwards the caller's handle.
    unsafe { with_mock(m, |x| x.stall_reading(stall != 0)) }
}

/// Answers the next n data fetches with CatchingUp(end).
#[no_mangle]
pub unsafe extern "C" fn lnc_mock_force_catching_up(m: *const lnc_mock_t, n: u64) -> lnc_err_t {
    // SAFETY: forwards the caller's handle.
    unsafe { with_mock(m, |x| x.force_catching_up(n)) }
}

/// Sets the server-wide fetch rate limit in bytes/s (0 = off).
#[no_mangle]
pub unsafe extern "C" fn lnc_mock_set_fetch_rate_limit(m: *const lnc_mock_t, bytes_per_sec: u64) -> lnc_err_t {
    // SAFETY: forwards the caller's handle.
    unsafe { with_mock(m, |x| x.set_fetch_rate_limit((bytes_per_sec > 0).then_some(bytes_per_sec))) }
}

/// Restarts: cuts connections, forgets subscriptions, runs the TLV recovery scan (truncating
/// non-TLV tails), keeps data.
#[no_mangle]
pub unsafe extern "C" fn lnc_mock_restart(m: *const lnc_mock_t) -> lnc_err_t {
    // SAFETY: forwards the caller's handle.
    unsafe { with_mock(m, |x| x.restart()) }
}

/// Switches the server's `write_only` quirk (disables ingest auth).
#[no_mangle]
pub unsafe extern "C" fn lnc_mock_set_write_only(m: *const lnc_mock_t, on: c_int) -> lnc_err_t {
    // SAFETY: forwards the caller's handle.
    unsafe { with_mock(m, |x| x.set_write_only(on != 0)) }
}

/// Drops `n` bytes from the front of a topic's log (a retention shift).
#[no_mangle]
pub unsafe extern "C" fn lnc_mock_truncate_front(m: *const lnc_mock_t, topic_id: u32, n: u64) -> lnc_err_t {
    // SAFETY: forwards the caller's handle.
    unsafe {
        with_mock(m, |x| {
            x.truncate_front(topic_id, n);
        })
    }
}

/// Answers the next `n` ingests with ErrorResponse `text` (e.g. "FORWARD_FAILED: ..." or
/// "NOT_LEADER: redirect to host:port"); `store` != 0 stores them anyway.
#[no_mangle]
pub unsafe extern "C" fn lnc_mock_fail_next_ingests(
    m: *const lnc_mock_t,
    n: u64,
    text: *const c_char,
    store: c_int,
) -> lnc_err_t {
    ffi_guard!({
        let Ok(t) = (unsafe { str_arg(text, "text") }) else { return lnc_err_t::LNC_ERR_INVALID_ARG };
        match unsafe { handle(m) } {
            Ok(x) => {
                x.fail_next_ingests(n, t, store != 0);
                lnc_err_t::LNC_ERR_OK
            }
            Err(code) => code,
        }
    })
}

/// Answers the next `n` control requests (fetches included) with ErrorResponse `text`.
#[no_mangle]
pub unsafe extern "C" fn lnc_mock_fail_next_requests(m: *const lnc_mock_t, n: u64, text: *const c_char) -> lnc_err_t {
    ffi_guard!({
        let Ok(t) = (unsafe { str_arg(text, "text") }) else { return lnc_err_t::LNC_ERR_INVALID_ARG };
        match unsafe { handle(m) } {
            Ok(x) => {
                x.fail_next_requests(n, t);
                lnc_err_t::LNC_ERR_OK
            }
            Err(code) => code,
        }
    })
}

/// Requires `token` for ingests (NULL = no authentication).
#[no_mangle]
pub unsafe extern "C" fn lnc_mock_require_token(m: *const lnc_mock_t, token: *const c_char) -> lnc_err_t {
    ffi_guard!({
        let x = match unsafe { handle(m) } {
            Ok(x) => x,
            Err(code) => return code,
        };
        if token.is_null() {
            x.require_token(None);
            return lnc_err_t::LNC_ERR_OK;
        }
        match unsafe { str_arg(token, "token") } {
            Ok(t) => {
                x.require_token(Some(t.to_string()));
                lnc_err_t::LNC_ERR_OK
            }
            Err(_) => lnc_err_t::LNC_ERR_INVALID_ARG,
        }
    })
}

/// Creates a topic directly; `*topic_id` receives its id. TOPIC_EXISTS / INVALID_NAME with the
/// server's own text in `*err` (may be NULL), as the server would answer.
#[no_mangle]
pub unsafe extern "C" fn lnc_mock_create_topic(
    m: *const lnc_mock_t,
    name: *const c_char,
    topic_id: *mut u32,
    err: *mut *mut super::lnc_error_t,
) -> lnc_err_t {
    ffi_guard!({
        let r = (|| {
            let n = unsafe { str_arg(name, "name") }?;
            if topic_id.is_null() {
                return Err(Error::invalid_arg("topic_id is NULL"));
            }
            let x = match unsafe { handle(m) } {
                Ok(x) => x,
                Err(lnc_err_t::LNC_ERR_CLOSED) => return Err(Error::closed("mock broker is being freed")),
                Err(_) => return Err(Error::invalid_arg("mock is NULL")),
            };
            let id = x.create_topic(n).map_err(|text| Error::from_server_text(&text))?;
            unsafe { *topic_id = id };
            Ok(())
        })();
        super::finish(err, r)
    })
}

/// Copies the counters into `*out`.
#[no_mangle]
pub unsafe extern "C" fn lnc_mock_stats(m: *const lnc_mock_t, out: *mut lnc_mock_stats_t) -> lnc_err_t {
    ffi_guard!({
        if out.is_null() {
            return lnc_err_t::LNC_ERR_INVALID_ARG;
        }
        let x = match unsafe { handle(m) } {
            Ok(x) => x,
            Err(code) => return code,
        };
        let s = x.stats();
        unsafe {
            *out = lnc_mock_stats_t {
                connections_accepted: s.connections_accepted,
                connections_open: s.connections_open,
                frames_received: s.frames_received,
                fatal_closes: s.fatal_closes,
                ingests_received: s.ingests_received,
                ingests_stored: s.ingests_stored,
                bytes_stored: s.bytes_stored,
                acks_sent: s.acks_sent,
                acks_dropped: s.acks_dropped,
                errors_sent: s.errors_sent,
                keepalives_answered: s.keepalives_answered,
                control_requests: s.control_requests,
                fetches_served: s.fetches_served,
            }
        };
        lnc_err_t::LNC_ERR_OK
    })
}

/// The size in bytes of a topic's stored log (UNKNOWN_TOPIC if it does not exist).
#[no_mangle]
pub unsafe extern "C" fn lnc_mock_topic_size(m: *const lnc_mock_t, topic_id: u32, size: *mut u64) -> lnc_err_t {
    ffi_guard!({
        if size.is_null() {
            return lnc_err_t::LNC_ERR_INVALID_ARG;
        }
        let x = match unsafe { handle(m) } {
            Ok(x) => x,
            Err(code) => return code,
        };
        match x.topic_log(topic_id) {
            Some(log) => {
                unsafe { *size = log.len() as u64 };
                lnc_err_t::LNC_ERR_OK
            }
            None => ErrorCode::UnknownTopic.into(),
        }
    })
}

/// Stops the broker (idempotent): closes every connection and joins its threads.
#[no_mangle]
pub unsafe extern "C" fn lnc_mock_stop(m: *const lnc_mock_t) -> lnc_err_t {
    ffi_guard!({
        match unsafe { handle(m) } {
            Ok(x) => {
                x.stop();
                lnc_err_t::LNC_ERR_OK
            }
            Err(code) => code,
        }
    })
}

/// Stops and frees the broker. NULL is accepted.
///
/// Safe against calls in progress on other threads: `free` deallocates only after every call
/// already inside this handle has returned; a call that starts while `free` runs returns
/// LNC_ERR_CLOSED (0 for `lnc_mock_address`/`lnc_mock_port`), and a second concurrent `free`
/// returns at once without freeing. Not guaranteed: a call that starts after `free` has returned
/// uses freed memory — as in any C API that is the caller's bug.
#[no_mangle]
pub unsafe extern "C" fn lnc_mock_free(m: *mut lnc_mock_t) {
    ffi_guard!((), {
        if m.is_null() {
            return;
        }
        // SAFETY: a live handle (the caller's contract); the gate keeps it alive from here on.
        let h = unsafe { &*m };
        let Some(pass) = h.gate.enter() else { return };
        if !h.gate.begin_free(&pass) {
            return;
        }
        drop(pass);
        h.gate.wait_idle();
        // SAFETY: a pointer from lnc_mock_new; this thread won begin_free, so it is freed once,
        // and no call is inside any more.
        drop(unsafe { Box::from_raw(m) });
    })
}
