//! State shared by the broker handle, the accept thread and the connection threads.

use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

use super::state::State;
use super::MockStats;
use crate::wire::Checksum;

/// Pending fault injections. Counters count down; `None` / 0 means disarmed.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    pub(crate) drop_after_frames: Option<u64>,
    pub(crate) drop_after_bytes: Option<u64>,
    pub(crate) drop_next_acks: u64,
    pub(crate) fail_ingests: u64,
    pub(crate) fail_ingest_text: String,
    pub(crate) fail_ingest_store: bool,
    pub(crate) fail_requests: u64,
    pub(crate) fail_request_text: String,
    pub(crate) force_catching_up: u64,
}

/// The deployed server's fetch limiter: one bucket of bytes for the whole server, refilled to one
/// second's worth every second; a fetch is refused only when the bucket is empty.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    pub(crate) rate: Option<u64>,
    tokens: u64,
    last_refill: Instant,
}

impl RateLimiter {
    pub(crate) fn new(rate: Option<u64>) -> RateLimiter {
        RateLimiter { rate, tokens: rate.unwrap_or(0), last_refill: Instant::now() }
    }

    pub(crate) fn set(&mut self, rate: Option<u64>) {
        *self = RateLimiter::new(rate);
    }

    /// May a fetch go ahead now?
    pub(crate) fn admit(&mut self) -> bool {
        let Some(rate) = self.rate else { return true };
        let elapsed = self.last_refill.elapsed();
        if elapsed >= Duration::from_secs(1) {
            self.tokens = rate;
            // Keep the refill on whole-second ticks.
            self.last_refill += Duration::from_secs(elapsed.as_secs());
        }
        self.tokens > 0
    }

    /// Charges bytes actually served.
    pub(crate) fn consume(&mut self, bytes: u64) {
        if self.rate.is_some() {
            self.tokens = self.tokens.saturating_sub(bytes);
        }
    }
}

/// Monotonic counters behind [`MockStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) connections_accepted: AtomicU64,
    pub(crate) connections_open: AtomicU64,
    pub(crate) bytes_received: AtomicU64,
    pub(crate) frames_received: AtomicU64,
    pub(crate) fatal_closes: AtomicU64,
    pub(crate) ingests_received: AtomicU64,
    pub(crate) ingests_stored: AtomicU64,
    pub(crate) bytes_stored: AtomicU64,
    pub(crate) acks_sent: AtomicU64,
    pub(crate) acks_dropped: AtomicU64,
    pub(crate) errors_sent: AtomicU64,
    pub(crate) keepalives_answered: AtomicU64,
    pub(crate) control_requests: AtomicU64,
    pub(crate) fetches_served: AtomicU64,
    pub(crate) fetch_bytes_served: AtomicU64,
    pub(crate) catching_up_sent: AtomicU64,
    pub(crate) injected_drops: AtomicU64,
    pub(crate) restarts: AtomicU64,
}

impl Counters {
    pub(crate) fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> MockStats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MockStats {
            connections_accepted: g(&self.connections_accepted),
            connections_open: g(&self.connections_open),
            bytes_received: g(&self.bytes_received),
            frames_received: g(&self.frames_received),
            fatal_closes: g(&self.fatal_closes),
            ingests_received: g(&self.ingests_received),
            ingests_stored: g(&self.ingests_stored),
            bytes_stored: g(&self.bytes_stored),
            acks_sent: g(&self.acks_sent),
            acks_dropped: g(&self.acks_dropped),
            errors_sent: g(&self.errors_sent),
            keepalives_answered: g(&self.keepalives_answered),
            control_requests: g(&self.control_requests),
            fetches_served: g(&self.fetches_served),
            fetch_bytes_served: g(&self.fetch_bytes_served),
            catching_up_sent: g(&self.catching_up_sent),
            injected_drops: g(&self.injected_drops),
            restarts: g(&self.restarts),
        }
    }
}

/// One live connection as the registry sees it.
pub(crate) struct ConnEntry {
    /// A clone of the socket, so the handle can shut it down under a blocked reader or writer.
    pub(crate) stream: TcpStream,
    /// Tells the connection thread it was cut on purpose.
    pub(crate) closed: Arc<AtomicBool>,
    pub(crate) handle: JoinHandle<()>,
}

impl ConnEntry {
    pub(crate) fn cut(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// Everything the threads share.
pub(crate) struct Shared {
    pub(crate) checksum: Checksum,
    pub(crate) max_payload: usize,
    pub(crate) ack_delay_ns: AtomicU64,
    pub(crate) auth_token: RwLock<Option<String>>,
    pub(crate) write_only: AtomicBool,
    pub(crate) stall: AtomicBool,
    pub(crate) stopping: AtomicBool,
    pub(crate) rate: Mutex<RateLimiter>,
    pub(crate) faults: Mutex<Faults>,
    pub(crate) state: Mutex<State>,
    pub(crate) stats: Counters,
    pub(crate) conns: Mutex<Vec<ConnEntry>>,
    /// Held by restart / disconnect_all / stop while they cut connections, and by the accept
    /// thread while it registers one, so no connection slips in half-way.
    pub(crate) lifecycle: Mutex<()>,
    /// The TLS listener's configuration (`None` = plaintext).
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
}

impl Shared {
    pub(crate) fn ack_delay(&self) -> Duration {
        Duration::from_nanos(self.ack_delay_ns.load(Ordering::Relaxed))
    }

    /// Cuts every registered connection and waits for its thread. Threads never block for long:
    /// reads time out, writes fail once the socket is shut down, and the ack delay is
    /// interruptible.
    pub(crate) fn cut_all(&self) {
        let entries: Vec<ConnEntry> = std::mem::take(&mut *self.conns.lock());
        for e in &entries {
            e.cut();
        }
        for e in entries {
            let _ = e.handle.join();
        }
    }
}
