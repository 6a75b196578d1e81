//! A wakeup file descriptor (Linux eventfd) that becomes readable when a handle's event queue goes
//! from empty to non-empty, so asyncio (`loop.add_reader`), libuv (`uv_poll`) and Go can wait on
//! it without an extra thread (design.md §4).

use std::sync::atomic::{AtomicBool, Ordering};

/// An eventfd in non-blocking, close-on-exec mode.
#[derive(Debug)]
pub struct WakeFd {
    fd: libc::c_int,
    armed: AtomicBool,
}

impl WakeFd {
    /// Creates the eventfd.
    pub fn new() -> std::io::Result<WakeFd> {
        // SAFETY: plain syscall; the returned fd is owned by this struct and closed in Drop.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(WakeFd { fd, armed: AtomicBool::new(false) })
    }

    /// The descriptor to watch for readability. Owned by the handle: do not close it.
    pub fn fd(&self) -> libc::c_int {
        self.fd
    }

    /// Makes the fd readable (once until the next [`WakeFd::clear`]).
    pub fn signal(&self) {
        if !self.armed.swap(true, Ordering::AcqRel) {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a valid u64 to our own eventfd.
            unsafe { libc::write(self.fd, &one as *const u64 as *const libc::c_void, 8) };
        }
    }

    /// Drains the fd (call when the queue was emptied).
    pub fn clear(&self) {
        if self.armed.swap(false, Ordering::AcqRel) {
            let mut v: u64 = 0;
            // SAFETY: reads 8 bytes into a valid u64 from our own non-blocking eventfd.
            unsafe { libc::read(self.fd, &mut v as *mut u64 as *mut libc::c_void, 8) };
        }
    }
}

impl Drop for WakeFd {
    fn drop(&mut self) {
        // SAFETY: we own the fd.
        unsafe { libc::close(self.fd) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readable(fd: libc::c_int) -> bool {
        let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd, zero timeout.
        unsafe { libc::poll(&mut p, 1, 0) == 1 }
    }

    #[test]
    fn signal_and_clear() {
        let w = WakeFd::new().unwrap();
        assert!(!readable(w.fd()));
        w.signal();
        w.signal();
        assert!(readable(w.fd()));
        w.clear();
        assert!(!readable(w.fd()));
    }
}
