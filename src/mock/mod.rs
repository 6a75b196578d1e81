//! Embedded mock broker: an in-process LWP server that behaves like the deployed LANCE server
//! (standalone mode) byte for byte and error text for error text, as `docs/lwp.md` describes it,
//! plus fault injection for tests (design.md §7).
//!
//! Threads, not async: one accept thread and one thread per connection, blocking sockets. Data
//! lives in memory as per-topic logs made of segments, so retention and restart recovery act on
//! segments as on the server.
//!
//! ```no_run
//! use lnc::mock::{MockBroker, MockConfig};
//! let broker = MockBroker::start(MockConfig::default()).unwrap();
//! println!("listening on {}", broker.address());
//! broker.stop();
//! ```

mod conn;
mod shared;
mod state;
#[cfg(feature = "tls")]
mod tls;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use crate::wire::{Checksum, DEFAULT_MAX_PAYLOAD};
use shared::{ConnEntry, Counters, Faults, RateLimiter, Shared};
use state::State;

/// The deployed server's default segment size.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

/// Mock broker settings. Every field can also be set by string key with [`MockConfig::set`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MockConfig {
    /// Address to listen on (`host`). Default `127.0.0.1`.
    pub host: String,
    /// Port (`port`); 0 picks an ephemeral port. Default 0.
    pub port: u16,
    /// Durability delay before a read's Acks are written (`ack.delay.ms`). Default 5 ms, about
    /// the deployed server's fsync window; tests usually use 0.
    pub ack_delay: Duration,
    /// Checksum algorithm for both checksums in both directions (`checksum`: `crc32` | `crc32c`).
    pub checksum: Checksum,
    /// Largest accepted payload (`max.payload.bytes`). Default 16 MiB, the server's default.
    pub max_payload: usize,
    /// Token required before ingests (`auth.token`; empty = none). Default none.
    pub auth_token: Option<String>,
    /// The server's `write_only` option (`write.only`): switches the ingest auth check off.
    pub write_only: bool,
    /// Server-wide fetch rate limit in bytes per second (`fetch.rate.limit.bytes`; empty or
    /// `none` = off). Default off.
    pub fetch_rate_limit: Option<u64>,
    /// Segment size (`segment.bytes`): the active segment is sealed once it exceeds this.
    /// Default 64 MiB.
    pub segment_bytes: u64,
    /// Listen with TLS: PEM file of the server certificate chain (`tls.cert`). Needs the cargo
    /// feature `tls`. Default none (plaintext).
    pub tls_cert: Option<String>,
    /// PEM file of the server's private key (`tls.key`), with `tls_cert`.
    pub tls_key: Option<String>,
    /// Demand a client certificate signed by a CA in this PEM file (`tls.client.ca`; mutual TLS).
    pub tls_client_ca: Option<String>,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            host: "127.0.0.1".to_string(),
            port: 0,
            ack_delay: Duration::from_millis(5),
            checksum: Checksum::Crc32,
            max_payload: DEFAULT_MAX_PAYLOAD,
            auth_token: None,
            write_only: false,
            fetch_rate_limit: None,
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
        }
    }
}

impl MockConfig {
    /// Sets one setting by its string key (for the C ABI and the CLI). Keys: `host`, `port`,
    /// `ack.delay.ms`, `checksum`, `max.payload.bytes`, `auth.token`, `write.only`,
    /// `fetch.rate.limit.bytes`, `segment.bytes`, `tls.cert`, `tls.key`, `tls.client.ca` (file
    /// paths; empty = unset). The error is a readable reason.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        fn num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, String> {
            value
                .trim()
                .parse::<T>()
                .map_err(|_| format!("invalid value for {key}: {value:?} (expected an unsigned integer)"))
        }
        match key {
            "host" => {
                if value.is_empty() {
                    return Err("invalid value for host: empty".into());
                }
                self.host = value.to_string();
            }
            "port" => self.port = num(key, value)?,
            "ack.delay.ms" => self.ack_delay = Duration::from_millis(num(key, value)?),
            "checksum" => {
                self.checksum = Checksum::parse(value.trim())
                    .ok_or_else(|| format!("invalid value for checksum: {value:?} (expected crc32 or crc32c)"))?
            }
            "max.payload.bytes" => {
                let v: usize = num(key, value)?;
                if v == 0 || v > u32::MAX as usize {
                    return Err(format!("invalid value for max.payload.bytes: {value:?} (1..=4294967295)"));
                }
                self.max_payload = v;
            }
            "auth.token" => self.auth_token = if value.is_empty() { None } else { Some(value.to_string()) },
            "write.only" => {
                self.write_only = match value.trim() {
                    "true" | "1" | "yes" | "on" => true,
                    "false" | "0" | "no" | "off" => false,
                    _ => return Err(format!("invalid value for write.only: {value:?} (expected true or false)")),
                }
            }
            "fetch.rate.limit.bytes" => {
                let v = value.trim();
                self.fetch_rate_limit =
                    if v.is_empty() || v == "none" || v == "off" { None } else { Some(num(key, v)?) };
            }
            "segment.bytes" => {
                let v: u64 = num(key, value)?;
                if v == 0 {
                    return Err("invalid value for segment.bytes: must be at least 1".into());
                }
                self.segment_bytes = v;
            }
            "tls.cert" | "tls.key" | "tls.client.ca" => {
                if !cfg!(feature = "tls") && !value.is_empty() {
                    return Err(format!(
                        "invalid value for {key}: this liblnc was built without TLS support (cargo feature \"tls\")"
                    ));
                }
                let v = if value.is_empty() { None } else { Some(value.to_string()) };
                match key {
                    "tls.cert" => self.tls_cert = v,
                    "tls.key" => self.tls_key = v,
                    _ => self.tls_client_ca = v,
                }
            }
            _ => return Err(format!("unknown mock configuration key: {key:?}")),
        }
        Ok(())
    }
}

/// A snapshot of the broker's counters (all since start; `connections_open` is current).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MockStats {
    /// Connections accepted.
    pub connections_accepted: u64,
    /// Connections currently open.
    pub connections_open: u64,
    /// Bytes read from clients.
    pub bytes_received: u64,
    /// Complete, valid frames received (any kind).
    pub frames_received: u64,
    /// Connections closed silently for a bad frame (magic, version, checksum, oversize).
    pub fatal_closes: u64,
    /// Ingest frames received (before any check).
    pub ingests_received: u64,
    /// Ingest batches appended to a log.
    pub ingests_stored: u64,
    /// Payload bytes appended to logs.
    pub bytes_stored: u64,
    /// Acks written.
    pub acks_sent: u64,
    /// Accepted batches whose Ack was never written (faults, cuts, fatal closes).
    pub acks_dropped: u64,
    /// ErrorResponses written (real and injected).
    pub errors_sent: u64,
    /// Keepalive replies written.
    pub keepalives_answered: u64,
    /// Control frames received (including Authenticate and Fetch).
    pub control_requests: u64,
    /// FetchResponses written (empty ones included).
    pub fetches_served: u64,
    /// Log bytes returned by fetches.
    pub fetch_bytes_served: u64,
    /// CatchingUp replies written (real and forced).
    pub catching_up_sent: u64,
    /// Connections cut by `drop_after_frames` / `drop_after_bytes`.
    pub injected_drops: u64,
    /// Calls to [`MockBroker::restart`].
    pub restarts: u64,
}

/// A running mock broker. All methods take `&self` and are thread-safe. Dropping it stops it.
pub struct MockBroker {
    shared: Arc<Shared>,
    addr: SocketAddr,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for MockBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockBroker").field("addr", &self.addr).finish()
    }
}

impl MockBroker {
    /// Binds `host:port` and starts serving.
    pub fn start(config: MockConfig) -> std::io::Result<MockBroker> {
        let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, m);
        #[cfg(feature = "tls")]
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(c), Some(k)) => Some(tls::server_config(c, k, config.tls_client_ca.as_deref())?),
            (None, None) if config.tls_client_ca.is_some() => {
                return Err(invalid("mock tls.client.ca needs tls.cert and tls.key".into()))
            }
            (None, None) => None,
            _ => return Err(invalid("mock TLS needs both tls.cert and tls.key".into())),
        };
        #[cfg(not(feature = "tls"))]
        if config.tls_cert.is_some() || config.tls_key.is_some() || config.tls_client_ca.is_some() {
            return Err(invalid("mock TLS: this liblnc was built without TLS support (cargo feature \"tls\")".into()));
        }
        let listener = TcpListener::bind((config.host.as_str(), config.port))?;
        let addr = listener.local_addr()?;
        // Non-blocking accept polled with a short sleep, so stop() never waits on accept().
        listener.set_nonblocking(true)?;
        let shared = Arc::new(Shared {
            checksum: config.checksum,
            max_payload: config.max_payload,
            ack_delay_ns: AtomicU64::new(config.ack_delay.as_nanos().min(u64::MAX as u128) as u64),
            auth_token: RwLock::new(config.auth_token.clone()),
            write_only: AtomicBool::new(config.write_only),
            stall: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            rate: Mutex::new(RateLimiter::new(config.fetch_rate_limit)),
            faults: Mutex::new(Faults::default()),
            state: Mutex::new(State::new(config.segment_bytes)),
            stats: Counters::default(),
            conns: Mutex::new(Vec::new()),
            lifecycle: Mutex::new(()),
            #[cfg(feature = "tls")]
            tls,
        });
        let s = shared.clone();
        let handle =
            std::thread::Builder::new().name("lnc-mock-accept".into()).spawn(move || accept_loop(s, listener))?;
        Ok(MockBroker { shared, addr, accept: Mutex::new(Some(handle)) })
    }

    /// The bound address. When listening on an unspecified address (`0.0.0.0`), the loopback
    /// address is returned so it can be connected to.
    pub fn address(&self) -> SocketAddr {
        let mut a = self.addr;
        if a.ip().is_unspecified() {
            a.set_ip(match a.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            });
        }
        a
    }

    /// [`address`](Self::address) as `host:port` (IPv6 as `[addr]:port`).
    pub fn address_string(&self) -> String {
        self.address().to_string()
    }

    /// Stops the broker: closes the listener and every connection, joins all threads. Idempotent;
    /// bounded in time even with stalled or connected clients.
    pub fn stop(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        if let Some(h) = self.accept.lock().take() {
            let _ = h.join();
        }
        let _g = self.shared.lifecycle.lock();
        self.shared.cut_all();
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> MockStats {
        self.shared.stats.snapshot()
    }

    // ---- fault injection ----

    /// Cuts the connection that receives the `n`-th frame from now (counted over all
    /// connections), right after dispatching the read that contained it: its immediate replies
    /// are sent, its ingests stored, its Acks never sent. `n == 0` disarms.
    pub fn drop_after_frames(&self, n: u64) {
        self.shared.faults.lock().drop_after_frames = if n == 0 { None } else { Some(n) };
    }

    /// Cuts the connection that receives the `n`-th byte from now (counted over all
    /// connections). Reads stop exactly at that byte; complete frames within it are dispatched
    /// (ingests stored, Acks never sent), then the connection is closed. `n == 0` disarms.
    pub fn drop_after_bytes(&self, n: u64) {
        self.shared.faults.lock().drop_after_bytes = if n == 0 { None } else { Some(n) };
    }

    /// Cuts every open connection now (pending Acks are lost; queued ingests are stored) and
    /// waits until their threads are gone. New connections are accepted as usual.
    pub fn disconnect_all(&self) {
        let _g = self.shared.lifecycle.lock();
        self.shared.cut_all();
    }

    /// Changes the durability delay applied before each read's Acks.
    pub fn set_ack_delay(&self, delay: Duration) {
        self.shared.ack_delay_ns.store(delay.as_nanos().min(u64::MAX as u128) as u64, Ordering::Relaxed);
    }

    /// The next `n` accepted ingests are stored but never acked; connections stay open (the
    /// cluster quorum-failure case, lwp.md §8). Replaces any previous count.
    pub fn drop_next_acks(&self, n: u64) {
        self.shared.faults.lock().drop_next_acks = n;
    }

    /// The next `n` non-empty ingests that pass the auth check are answered with ErrorResponse
    /// `text` (for example `FORWARD_FAILED: Forward operation timed out` or
    /// `NOT_LEADER: redirect to 127.0.0.1:9000`) instead of being checked further. With `store`
    /// the data is appended anyway (as a timed-out forward may be), without an Ack.
    pub fn fail_next_ingests(&self, n: u64, text: &str, store: bool) {
        let mut f = self.shared.faults.lock();
        f.fail_ingests = n;
        f.fail_ingest_text = text.to_string();
        f.fail_ingest_store = store;
    }

    /// The next `n` control requests (Fetch included; Authenticate excluded, since its replies
    /// are never ErrorResponses) are answered with ErrorResponse `text` and have no effect.
    pub fn fail_next_requests(&self, n: u64, text: &str) {
        let mut f = self.shared.faults.lock();
        f.fail_requests = n;
        f.fail_request_text = text.to_string();
    }

    /// The next `n` fetches that would return data answer CatchingUp(end) instead.
    pub fn force_catching_up(&self, n: u64) {
        self.shared.faults.lock().force_catching_up = n;
    }

    /// Stops (`true`) or resumes (`false`) reading every socket, so clients meet TCP
    /// backpressure as with the server's full ingestion queue (lwp.md §2.5).
    pub fn stall_reading(&self, stall: bool) {
        self.shared.stall.store(stall, Ordering::SeqCst);
    }

    /// Requires `token` before ingests (`None` switches token auth off). Already authenticated
    /// connections stay authenticated.
    pub fn require_token(&self, token: Option<String>) {
        *self.shared.auth_token.write() = token;
    }

    /// The server's `write_only` option: when on, the ingest auth check is switched off.
    pub fn set_write_only(&self, on: bool) {
        self.shared.write_only.store(on, Ordering::SeqCst);
    }

    /// Sets (or with `None` removes) the server-wide fetch rate limit in bytes per second; the
    /// bucket starts full.
    pub fn set_fetch_rate_limit(&self, bytes_per_sec: Option<u64>) {
        self.shared.rate.lock().set(bytes_per_sec);
    }

    /// Simulates a server restart: cuts every connection (their queued ingests are stored,
    /// un-acked), forgets server-side subscriptions and commits (and so every connection's
    /// auth), runs the TLV recovery scan on each topic's active segment — truncating at the first
    /// record that runs past the end — and seals it; the topic id counter resumes at the highest
    /// existing id + 1. Topics, retention settings and the port are kept.
    pub fn restart(&self) {
        let _g = self.shared.lifecycle.lock();
        self.shared.cut_all();
        self.shared.state.lock().restart();
        let rate = self.shared.rate.lock().rate;
        self.shared.rate.lock().set(rate);
        Counters::add(&self.shared.stats.restarts, 1);
    }

    /// Runs one retention pass now (the server's background task, lwp.md §3.5): for each topic
    /// with a retention setting, deletes closed segments older than max_age_secs (compared in
    /// wrapping nanoseconds; a closed segment's age counts from its last write), then the oldest
    /// closed segments until the topic's total is at most max_bytes. The active segment is never
    /// deleted. Later offsets shift down. Returns the bytes deleted.
    pub fn run_retention(&self) -> u64 {
        self.shared.state.lock().run_retention()
    }

    // ---- inspection and direct manipulation ----

    /// The topic's live log (all segments concatenated), or `None` for an unknown topic. Topic id
    /// 0 returns the data ingested to topic 0 (stored, never fetchable).
    pub fn topic_log(&self, topic_id: u32) -> Option<Vec<u8>> {
        let st = self.shared.state.lock();
        if topic_id != 0 && !st.topics.contains_key(&topic_id) {
            return None;
        }
        Some(st.log(topic_id).map(|l| l.to_vec()).unwrap_or_default())
    }

    /// The id of the topic named `name`.
    pub fn topic_id_by_name(&self, name: &str) -> Option<u32> {
        self.shared.state.lock().topic_id_by_name(name)
    }

    /// Creates a topic as CreateTopic would; returns its id or the server's error text.
    pub fn create_topic(&self, name: &str) -> Result<u32, String> {
        let mut st = self.shared.state.lock();
        st.create_topic(name.as_bytes(), None)?;
        st.topic_id_by_name(name).ok_or_else(|| "Topic not found".to_string())
    }

    /// Removes the first `n` bytes of a topic's log (clamped to its length), shifting every later
    /// offset down as retention does. Returns the bytes removed, or `None` for an unknown topic.
    pub fn truncate_front(&self, topic_id: u32, n: u64) -> Option<u64> {
        let mut st = self.shared.state.lock();
        if topic_id != 0 && !st.topics.contains_key(&topic_id) {
            return None;
        }
        Some(st.log_mut(topic_id).map_or(0, |l| l.truncate_front(n)))
    }
}

impl Drop for MockBroker {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let mut next_id: u64 = 0;
    while !shared.stopping.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _peer)) => {
                let _ = stream.set_nonblocking(false);
                let _g = shared.lifecycle.lock();
                if shared.stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(clone) = stream.try_clone() else { continue };
                Counters::add(&shared.stats.connections_accepted, 1);
                Counters::add(&shared.stats.connections_open, 1);
                next_id += 1;
                let closed = Arc::new(AtomicBool::new(false));
                let (s, c) = (shared.clone(), closed.clone());
                let spawned = std::thread::Builder::new()
                    .name(format!("lnc-mock-conn-{next_id}"))
                    .spawn(move || conn::serve(s, stream, c));
                if let Ok(handle) = spawned {
                    let mut conns = shared.conns.lock();
                    // Reap finished connections so the registry stays as small as the open set.
                    let (done, live): (Vec<ConnEntry>, Vec<ConnEntry>) =
                        std::mem::take(&mut *conns).into_iter().partition(|e| e.handle.is_finished());
                    *conns = live;
                    conns.push(ConnEntry { stream: clone, closed, handle });
                    drop(conns);
                    for e in done {
                        let _ = e.handle.join();
                    }
                } else {
                    shared.stats.connections_open.fetch_sub(1, Ordering::Relaxed);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(2)),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}
