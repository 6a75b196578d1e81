//! The consumer id used in offset file names (lwp.md §7).
//!
//! The official Rust client derives it with `std`'s `DefaultHasher` over the consumer name as a
//! `&str`: SipHash-1-3 with key (0, 0) over the UTF-8 bytes followed by one `0xFF` byte. std does
//! not promise that algorithm across releases, so it is implemented here explicitly.

/// The consumer id of `name`: SipHash-1-3, key (0, 0), message = `utf8(name) ++ [0xFF]`.
pub fn consumer_id(name: &str) -> u64 {
    let mut h = SipHasher13::new(0, 0);
    h.write(name.as_bytes());
    h.write(&[0xFF]);
    h.finish()
}

/// SipHash-1-3 of an arbitrary message with key (k0, k1): 1 compression round per 8-byte word,
/// 3 finalization rounds, the message length (mod 256) in the top byte of the last word.
pub fn siphash13(k0: u64, k1: u64, msg: &[u8]) -> u64 {
    let mut h = SipHasher13::new(k0, k1);
    h.write(msg);
    h.finish()
}

/// An incremental SipHash-1-3 state.
#[derive(Clone, Debug)]
struct SipHasher13 {
    v0: u64,
    v1: u64,
    v2: u64,
    v3: u64,
    /// Pending bytes of the current (incomplete) word.
    tail: u64,
    ntail: usize,
    length: usize,
}

impl SipHasher13 {
    fn new(k0: u64, k1: u64) -> SipHasher13 {
        SipHasher13 {
            v0: k0 ^ 0x736f_6d65_7073_6575,
            v1: k1 ^ 0x646f_7261_6e64_6f6d,
            v2: k0 ^ 0x6c79_6765_6e65_7261,
            v3: k1 ^ 0x7465_6462_7974_6573,
            tail: 0,
            ntail: 0,
            length: 0,
        }
    }

    #[inline]
    fn round(&mut self) {
        self.v0 = self.v0.wrapping_add(self.v1);
        self.v1 = self.v1.rotate_left(13);
        self.v1 ^= self.v0;
        self.v0 = self.v0.rotate_left(32);
        self.v2 = self.v2.wrapping_add(self.v3);
        self.v3 = self.v3.rotate_left(16);
        self.v3 ^= self.v2;
        self.v0 = self.v0.wrapping_add(self.v3);
        self.v3 = self.v3.rotate_left(21);
        self.v3 ^= self.v0;
        self.v2 = self.v2.wrapping_add(self.v1);
        self.v1 = self.v1.rotate_left(17);
        self.v1 ^= self.v2;
        self.v2 = self.v2.rotate_left(32);
    }

    #[inline]
    fn compress(&mut self, m: u64) {
        self.v3 ^= m;
        self.round();
        self.v0 ^= m;
    }

    fn write(&mut self, msg: &[u8]) {
        self.length += msg.len();
        for &b in msg {
            self.tail |= (b as u64) << (8 * self.ntail);
            self.ntail += 1;
            if self.ntail == 8 {
                let m = self.tail;
                self.compress(m);
                self.tail = 0;
                self.ntail = 0;
            }
        }
    }

    fn finish(&self) -> u64 {
        let mut s = self.clone();
        let b = ((s.length as u64 & 0xFF) << 56) | s.tail;
        s.compress(b);
        s.v2 ^= 0xFF;
        s.round();
        s.round();
        s.round();
        s.v0 ^ s.v1 ^ s.v2 ^ s.v3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lwp_md_table() {
        assert_eq!(consumer_id("my-consumer"), 18044035401257023742);
        assert_eq!(consumer_id("worker-1"), 16750551406947868958);
        assert_eq!(consumer_id("test-consumer"), 666084738560390654);
        assert_eq!(consumer_id(""), 3476900567878811119);
    }

    #[test]
    #[allow(deprecated)]
    fn matches_std_sip13_on_this_toolchain() {
        // Not a guarantee std gives (hence our own implementation), but a useful cross-check.
        use std::hash::{Hash, Hasher};
        for name in ["", "a", "exactly8", "seven77", "a-much-longer-consumer-name-0123456789", "ünïcode-名前"] {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            name.hash(&mut h);
            assert_eq!(consumer_id(name), h.finish(), "{name:?}");
        }
    }
}
