//! `lnc_conf_*`: string key/value configuration (keys documented in the README table).

use std::ffi::c_char;

use super::{copy_out, lnc_err_t, str_arg};
use crate::config::Config;
use crate::error::{Error, ErrorCode};
use crate::ffi_guard;

/// A configuration: string keys and values, validated on set. Owned by the caller until a
/// constructor that takes it succeeds.
pub struct lnc_conf_t {
    pub(crate) config: Config,
}

/// A new configuration with every key at its default. Free with `lnc_conf_free` (unless a
/// constructor took it).
#[no_mangle]
pub extern "C" fn lnc_conf_new() -> *mut lnc_conf_t {
    ffi_guard!(std::ptr::null_mut(), { Box::into_raw(Box::new(lnc_conf_t { config: Config::new() })) })
}

/// Sets `key` to `value`. Returns OK, UNKNOWN_KEY or INVALID_VALUE (INVALID_ARG for NULLs) and
/// writes a readable reason into `errbuf` (NUL-terminated, truncated to `errlen`; may be NULL).
#[no_mangle]
pub unsafe extern "C" fn lnc_conf_set(
    conf: *mut lnc_conf_t,
    key: *const c_char,
    value: *const c_char,
    errbuf: *mut c_char,
    errlen: usize,
) -> lnc_err_t {
    ffi_guard!({
        let result = (|| {
            // SAFETY: NULL-checked; otherwise a live conf from lnc_conf_new/dup.
            let conf = unsafe { conf.as_mut() }.ok_or_else(|| Error::invalid_arg("conf is NULL"))?;
            // SAFETY: NUL-terminated strings valid for the call, per the contract.
            let key = unsafe { str_arg(key, "key") }?;
            let value = unsafe { str_arg(value, "value") }?;
            conf.config.set(key, value)
        })();
        match result {
            Ok(()) => {
                // SAFETY: errbuf has errlen bytes (or is NULL).
                unsafe { copy_out("", errbuf, errlen) };
                lnc_err_t::LNC_ERR_OK
            }
            Err(e) => {
                // SAFETY: as above.
                unsafe { copy_out(&e.message, errbuf, errlen) };
                e.code.into()
            }
        }
    })
}

/// Reads `key`'s effective value (explicit or default) into `buf` of `*len` bytes. On return
/// `*len` is the value's length plus the NUL. A NULL `buf` just reports the size. Returns
/// UNKNOWN_KEY for keys that do not exist. Secret values (auth.token) are returned as set.
#[no_mangle]
pub unsafe extern "C" fn lnc_conf_get(
    conf: *const lnc_conf_t,
    key: *const c_char,
    buf: *mut c_char,
    len: *mut usize,
) -> lnc_err_t {
    ffi_guard!({
        // SAFETY: NULL-checked pointers from this library / the caller.
        let (Some(conf), false) = (unsafe { conf.as_ref() }, len.is_null()) else {
            return lnc_err_t::LNC_ERR_INVALID_ARG;
        };
        let key = match unsafe { str_arg(key, "key") } {
            Ok(k) => k,
            Err(_) => return lnc_err_t::LNC_ERR_INVALID_ARG,
        };
        let Some(v) = conf.config.get(key) else { return ErrorCode::UnknownKey.into() };
        // SAFETY: `len` is writable; buf has *len bytes or is NULL.
        unsafe {
            let cap = *len;
            if !buf.is_null() {
                copy_out(&v, buf, cap);
            }
            *len = v.len() + 1;
        }
        lnc_err_t::LNC_ERR_OK
    })
}

/// A copy of `conf` (NULL on NULL input).
#[no_mangle]
pub unsafe extern "C" fn lnc_conf_dup(conf: *const lnc_conf_t) -> *mut lnc_conf_t {
    ffi_guard!(std::ptr::null_mut(), {
        // SAFETY: NULL-checked; otherwise a live conf.
        match unsafe { conf.as_ref() } {
            Some(c) => Box::into_raw(Box::new(lnc_conf_t { config: c.config.clone() })),
            None => std::ptr::null_mut(),
        }
    })
}

/// Frees a configuration. NULL is accepted. Never free a conf a constructor took.
#[no_mangle]
pub unsafe extern "C" fn lnc_conf_free(conf: *mut lnc_conf_t) {
    ffi_guard!((), {
        if !conf.is_null() {
            // SAFETY: a pointer from lnc_conf_new/dup, freed once.
            drop(unsafe { Box::from_raw(conf) });
        }
    })
}

/// Takes ownership of `conf` for a constructor that succeeded.
pub(crate) unsafe fn take(conf: *mut lnc_conf_t) {
    // SAFETY: the constructor validated `conf` as a live pointer from lnc_conf_new/dup.
    drop(unsafe { Box::from_raw(conf) });
}
