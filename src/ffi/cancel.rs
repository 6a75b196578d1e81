//! `lnc_cancel_*`: a cancellation token for blocking calls (Go fires it from
//! `context.AfterFunc`, Python from Ctrl-C handling).

use crate::cancel::Cancel;
use crate::ffi_guard;

/// A cancellation token. Create with `lnc_cancel_new`, fire with `lnc_cancel_fire` from any
/// thread, free with `lnc_cancel_free` once no call uses it.
pub struct lnc_cancel_t {
    pub(crate) cancel: Cancel,
}

/// A token that has not fired. Free with `lnc_cancel_free`. NULL only if allocation panicked.
#[no_mangle]
pub extern "C" fn lnc_cancel_new() -> *mut lnc_cancel_t {
    std::panic::catch_unwind(|| Box::into_raw(Box::new(lnc_cancel_t { cancel: Cancel::new() })))
        .unwrap_or(std::ptr::null_mut())
}

/// Fires the token: every call given it that is waiting (for buffer space, an acknowledgement,
/// between name-lookup attempts) returns LNC_ERR_CANCELLED promptly, and calls given it later
/// return LNC_ERR_CANCELLED at once. Idempotent, thread-safe. NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn lnc_cancel_fire(c: *const lnc_cancel_t) {
    ffi_guard!((), {
        // SAFETY: NULL or a live token per the contract.
        if let Some(c) = unsafe { c.as_ref() } {
            c.cancel.fire();
        }
    })
}

/// 1 if the token has fired, 0 if not (or NULL).
#[no_mangle]
pub unsafe extern "C" fn lnc_cancel_fired(c: *const lnc_cancel_t) -> std::ffi::c_int {
    // SAFETY: NULL or a live token per the contract.
    unsafe { c.as_ref() }.is_some_and(|c| c.cancel.is_fired()) as std::ffi::c_int
}

/// Frees the token. NULL is accepted. It must not be in use by a call (fire it, then free it
/// after that call returned).
#[no_mangle]
pub unsafe extern "C" fn lnc_cancel_free(c: *mut lnc_cancel_t) {
    ffi_guard!((), {
        if !c.is_null() {
            // SAFETY: allocated by lnc_cancel_new; the caller gives up ownership.
            drop(unsafe { Box::from_raw(c) });
        }
    });
}

/// The token behind an optional pointer, for the duration of a call.
pub(crate) unsafe fn token<'a>(c: *const lnc_cancel_t) -> Option<&'a Cancel> {
    // SAFETY: NULL or a live token per the contract.
    unsafe { c.as_ref() }.map(|c| &c.cancel)
}
