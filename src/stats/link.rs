//! Per-connection-slot statistics: one [`LinkStats`] per producer lane or consumer connection,
//! kept across reconnects. The connection's reader and writer threads add to it (one relaxed
//! atomic add per socket read or gathered write, never per record); the thread that owns the slot
//! reports connect attempts.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;

use super::rtt::{RttSummary, RttTracker};

/// Where a connection slot stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// No connection was tried yet (connections are made when there is work).
    Idle,
    /// Dialing, handshaking or authenticating.
    Connecting,
    /// A live connection.
    Connected,
    /// The last connection was lost, or the last attempt failed; a reconnect follows when there
    /// is work (with backoff).
    Disconnected,
}

impl LinkState {
    fn from_u8(v: u8) -> LinkState {
        match v {
            1 => LinkState::Connecting,
            2 => LinkState::Connected,
            3 => LinkState::Disconnected,
            _ => LinkState::Idle,
        }
    }
}

/// Counters of one connection slot.
#[derive(Debug)]
pub struct LinkStats {
    name: String,
    state: AtomicU8,
    server: Mutex<Option<String>>,
    connects: AtomicU64,
    connect_failures: AtomicU64,
    disconnects: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    rtt: Mutex<RttTracker>,
}

impl LinkStats {
    /// A slot named `name` (for example `producer-0`, `consumer-fetch`).
    pub fn new(name: &str) -> LinkStats {
        let z = || AtomicU64::new(0);
        LinkStats {
            name: name.to_string(),
            state: AtomicU8::new(0),
            server: Mutex::new(None),
            connects: z(),
            connect_failures: z(),
            disconnects: z(),
            bytes_in: z(),
            bytes_out: z(),
            rtt: Mutex::new(RttTracker::default()),
        }
    }

    fn set(&self, s: LinkState) {
        self.state.store(s as u8, Relaxed);
    }

    /// A connect attempt starts.
    pub fn connecting(&self) {
        self.set(LinkState::Connecting);
    }

    /// The attempt failed (a retry follows with backoff).
    pub fn connect_failed(&self) {
        self.connect_failures.fetch_add(1, Relaxed);
        self.set(LinkState::Disconnected);
    }

    /// A connection to `server` is up.
    pub fn connected(&self, server: &str) {
        *self.server.lock() = Some(server.to_string());
        self.connects.fetch_add(1, Relaxed);
        self.set(LinkState::Connected);
    }

    /// The connection closed (called once per connection).
    pub fn disconnected(&self) {
        self.disconnects.fetch_add(1, Relaxed);
        self.set(LinkState::Disconnected);
    }

    /// Bytes read from the server (LWP bytes, after TLS).
    pub fn received(&self, n: usize) {
        self.bytes_in.fetch_add(n as u64, Relaxed);
    }

    /// Bytes written to the server (LWP bytes, before TLS).
    pub fn sent(&self, n: usize) {
        self.bytes_out.fetch_add(n as u64, Relaxed);
    }

    /// A keepalive reply arrived `rtt` after its request.
    pub fn round_trip(&self, rtt: Duration) {
        self.rtt.lock().sample(rtt);
    }

    /// The slot's figures now.
    pub fn snapshot(&self) -> ConnectionStatistics {
        ConnectionStatistics {
            name: self.name.clone(),
            server: self.server.lock().clone(),
            state: LinkState::from_u8(self.state.load(Relaxed)),
            connects: self.connects.load(Relaxed),
            connect_failures: self.connect_failures.load(Relaxed),
            disconnects: self.disconnects.load(Relaxed),
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            rtt: self.rtt.lock().summary(),
        }
    }
}

/// One connection slot in a statistics document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConnectionStatistics {
    /// The slot: `producer-N` (lane N), `consumer-fetch`, `consumer-control`.
    pub name: String,
    /// The server of the current or last connection (bootstrap entry or redirect target); `None`
    /// before the first connection.
    pub server: Option<String>,
    /// Where the slot stands now.
    pub state: LinkState,
    /// Connections established.
    pub connects: u64,
    /// Connect attempts that failed.
    pub connect_failures: u64,
    /// Connections closed (lost, reset or closed by the client).
    pub disconnects: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Keepalive round trips (sent after `keepalive.interval.ms` of silence, so a busy connection
    /// has few or none).
    pub rtt: RttSummary,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_a_connection_slot_through_its_life() {
        let l = LinkStats::new("producer-0");
        assert_eq!(l.snapshot().state, LinkState::Idle);
        l.connecting();
        l.connect_failed();
        l.connecting();
        l.connected("127.0.0.1:1992");
        l.sent(44);
        l.received(60);
        l.round_trip(Duration::from_micros(120));
        l.disconnected();
        let s = l.snapshot();
        assert_eq!(s.state, LinkState::Disconnected);
        assert_eq!(s.server.as_deref(), Some("127.0.0.1:1992"));
        assert_eq!((s.connects, s.connect_failures, s.disconnects, s.bytes_in, s.bytes_out), (1, 1, 1, 60, 44));
        assert_eq!((s.rtt.samples, s.rtt.last_us), (1, 120));
    }
}
