//! Buffer-memory accounting (`buffer.memory`), pure: no locks, no waiting.
//!
//! A record is charged its encoded size plus [`REPORT_COST`] when it is accepted. The whole charge
//! is held while the record is buffered or in flight. When its outcome is known, the payload part
//! is released and [`REPORT_COST`] stays charged until the report is served (or handed to a
//! `send_sync` caller), so unserved reports count against the bound too and the report queue
//! cannot grow without limit. Completing a record never needs new memory, so it never waits.

/// Bytes charged per record from its outcome until its report is served: the report entry's
/// share (opaque, error reference, queue slot), rounded up.
pub(crate) const REPORT_COST: usize = 64;

/// Charged and allowed bytes.
#[derive(Debug)]
pub(crate) struct Memory {
    used: usize,
    limit: usize,
}

impl Memory {
    pub fn new(limit: usize) -> Memory {
        Memory { used: 0, limit }
    }

    /// The bound.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes charged now.
    pub fn used(&self) -> usize {
        self.used
    }

    /// A charge larger than the whole bound can never fit.
    pub fn can_ever_fit(&self, n: usize) -> bool {
        n <= self.limit
    }

    /// Takes `n` bytes if they fit.
    pub fn try_take(&mut self, n: usize) -> bool {
        if self.used + n <= self.limit {
            self.used += n;
            true
        } else {
            false
        }
    }

    /// Gives `n` bytes back.
    pub fn release(&mut self, n: usize) {
        debug_assert!(n <= self.used, "releasing {n} of {} charged bytes", self.used);
        self.used = self.used.saturating_sub(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_up_to_the_limit_and_no_further() {
        let mut m = Memory::new(100);
        assert!(m.try_take(60));
        assert!(!m.try_take(41));
        assert!(m.try_take(40));
        assert_eq!(m.used(), 100);
        m.release(30);
        assert!(m.try_take(30));
        assert!(!m.can_ever_fit(101));
    }
}
