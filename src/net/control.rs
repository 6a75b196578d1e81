//! Control connections: requests pipelined, replies matched by position (lwp.md §3.0), and a
//! reconnecting client that follows NOT_LEADER redirects and retries FORWARD_FAILED.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;

use super::conn::{Connection, Router};
use super::dial::{dial, NetConfig};
use super::Backoff;
use crate::error::{Error, ErrorCode, Result};
use crate::events::{Event, EventKind, Permit};
use crate::stats::LinkStats;
use crate::wire::control::{command, decode_error_text, reply_code, Request};
use crate::wire::{encode_frame, flags, Frame, FrameKind};

/// The reply to one request: the frame, or why it never came.
pub type ReplyResult = Result<Frame>;

struct Pending {
    code: u8,
    /// When the connection is declared dead if this reply has not arrived.
    kill_at: Instant,
    reply: Sender<ReplyResult>,
}

#[derive(Default)]
struct Waiters {
    queue: Mutex<VecDeque<Pending>>,
}

/// Whether `frame` can be the reply to a request with command `code`.
fn reply_fits(code: u8, frame: &Frame) -> bool {
    let h = &frame.header;
    if frame.kind() == FrameKind::Ack {
        return code == command::UNSUBSCRIBE;
    }
    let r = h.code();
    if r == reply_code::ERROR_RESPONSE {
        return true;
    }
    match code {
        command::CREATE_TOPIC
        | command::DELETE_TOPIC
        | command::LIST_TOPICS
        | command::GET_TOPIC
        | command::SET_RETENTION
        | command::CREATE_TOPIC_WITH_RETENTION => r == reply_code::TOPIC_RESPONSE,
        command::GET_CLUSTER_STATUS => r == reply_code::CLUSTER_STATUS_RESPONSE,
        command::AUTHENTICATE => r == reply_code::AUTHENTICATE_RESPONSE,
        command::FETCH => r == reply_code::FETCH_RESPONSE || r == reply_code::CATCHING_UP,
        command::SUBSCRIBE => r == reply_code::SUBSCRIBE_ACK,
        command::COMMIT_OFFSET => r == reply_code::COMMIT_ACK,
        _ => false,
    }
}

impl Router for Waiters {
    fn on_frame(&self, frame: Frame) -> Result<()> {
        let p = self.queue.lock().pop_front().ok_or_else(|| {
            Error::protocol(format!("unsolicited reply (code {:#04x}) on a control connection", frame.header.code()))
        })?;
        if !reply_fits(p.code, &frame) {
            let e = Error::protocol(format!(
                "reply code {:#04x} (flags {:#04x}) does not answer command {:#04x}",
                frame.header.code(),
                frame.header.flags,
                p.code
            ));
            let _ = p.reply.send(Err(e.clone()));
            return Err(e);
        }
        let _ = p.reply.send(Ok(frame));
        Ok(())
    }

    fn check_deadlines(&self, now: Instant) -> Option<Error> {
        // Replies are FIFO: only the oldest can be overdue first. A missing reply makes every later
        // reply unmatchable, so the connection must go.
        let q = self.queue.lock();
        let p = q.front()?;
        (now >= p.kill_at)
            .then(|| Error::timed_out(format!("no reply to command {:#04x} within the request timeout", p.code)))
    }

    fn on_closed(&self, error: &Error, _data_frames_attempted: u64) {
        for p in self.queue.lock().drain(..) {
            let _ = p.reply.send(Err(error.clone()));
        }
    }
}

/// One control connection.
pub struct ControlConn {
    conn: Connection,
    waiters: Arc<Waiters>,
    cfg: NetConfig,
}

impl ControlConn {
    /// Dials and starts a control connection.
    pub fn connect(cfg: &NetConfig, preferred: Option<&str>, deadline: Instant, name: &str) -> Result<ControlConn> {
        ControlConn::connect_with_stats(cfg, preferred, deadline, name, Arc::new(LinkStats::new(name)))
    }

    /// [`ControlConn::connect`], counting into the owner's connection slot `stats` (attempts,
    /// failures, bytes, round trips).
    pub fn connect_with_stats(
        cfg: &NetConfig,
        preferred: Option<&str>,
        deadline: Instant,
        name: &str,
        stats: Arc<LinkStats>,
    ) -> Result<ControlConn> {
        stats.connecting();
        let started = dial(cfg, preferred, deadline).and_then(|dialed| {
            let waiters = Arc::new(Waiters::default());
            let conn = Connection::start_with_stats(dialed, cfg.clone(), waiters.clone(), name, stats.clone())?;
            Ok(ControlConn { conn, waiters, cfg: cfg.clone() })
        });
        if started.is_err() {
            stats.connect_failed();
        }
        started
    }

    /// Sends a request; the receiver yields its reply (or the connection's error).
    pub fn submit(&self, req: &Request) -> Result<Receiver<ReplyResult>> {
        let payload = req.payload();
        if payload.len() > self.cfg.max_payload {
            return Err(Error::new(
                ErrorCode::MsgTooLarge,
                format!("request payload of {} bytes exceeds max.frame.bytes", payload.len()),
            ));
        }
        let mut frame = Vec::with_capacity(44 + payload.len());
        encode_frame(&mut frame, self.cfg.checksum, flags::CONTROL, req.code() as u64, 0, 0, 0, &payload);
        let (tx, rx) = crossbeam_channel::bounded(1);
        // Register and queue under one lock so waiter order == wire order.
        let mut q = self.waiters.queue.lock();
        if let Some(e) = self.conn.error() {
            return Err(e);
        }
        q.push_back(Pending { code: req.code(), kill_at: Instant::now() + self.cfg.request_timeout, reply: tx });
        if let Err(e) = self.conn.send(Arc::new(frame)) {
            q.pop_back();
            return Err(e);
        }
        Ok(rx)
    }

    /// The underlying connection.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

/// Waits for a reply until `deadline`.
pub fn wait_reply(rx: &Receiver<ReplyResult>, deadline: Instant) -> Result<Frame> {
    match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(r) => r,
        Err(RecvTimeoutError::Timeout) => Err(Error::timed_out("no reply before the call's timeout")),
        Err(RecvTimeoutError::Disconnected) => Err(Error::transport("connection closed before the reply")),
    }
}

/// Turns an ErrorResponse frame into its classified error; other frames pass through.
pub fn check_error(frame: Frame) -> Result<Frame> {
    if frame.kind() == FrameKind::Control && frame.header.code() == reply_code::ERROR_RESPONSE {
        return Err(Error::from_server_text(&decode_error_text(&frame.payload)));
    }
    Ok(frame)
}

struct ClientState {
    conn: Option<Arc<ControlConn>>,
    backoff: Backoff,
    /// Earliest time the next connect attempt may start.
    next_attempt: Instant,
    /// A NOT_LEADER redirect target to try first.
    leader: Option<String>,
    connects: u64,
}

/// A control client that (re)connects on demand with backoff, follows NOT_LEADER redirects and
/// retries retryable server errors within each call's deadline.
pub struct ControlClient {
    cfg: NetConfig,
    name: String,
    state: Mutex<ClientState>,
    /// Where connection events go (`None`: nowhere, e.g. a consumer's auxiliary connection).
    events: Option<Arc<crate::events::Events>>,
    /// Its connection slot (kept across reconnects).
    stats: Arc<LinkStats>,
}

/// Whether resending a request whose reply was lost cannot change the outcome.
fn idempotent(req: &Request) -> bool {
    !matches!(req, Request::CreateTopic { .. } | Request::CreateTopicWithRetention { .. } | Request::DeleteTopic { .. })
}

impl ControlClient {
    /// A client that connects lazily.
    pub fn new(cfg: NetConfig, name: &str) -> ControlClient {
        let backoff = cfg.backoff();
        ControlClient {
            cfg,
            stats: Arc::new(LinkStats::new(name)),
            name: name.to_string(),
            state: Mutex::new(ClientState {
                conn: None,
                backoff,
                next_attempt: Instant::now(),
                leader: None,
                connects: 0,
            }),
            events: None,
        }
    }

    /// Raises connection events (and obeys the circuit breaker) through `events`.
    pub(crate) fn with_events(mut self, events: Arc<crate::events::Events>) -> ControlClient {
        self.events = Some(events);
        self
    }

    fn emit(&self, e: crate::events::Event) {
        if let Some(ev) = &self.events {
            ev.emit(e);
        }
    }

    /// Connection settings.
    pub fn config(&self) -> &NetConfig {
        &self.cfg
    }

    /// The client's connection slot: state, server, bytes, keepalive round trips.
    pub fn link_stats(&self) -> &Arc<LinkStats> {
        &self.stats
    }

    /// How many connections were established so far.
    pub fn connects(&self) -> u64 {
        self.state.lock().connects
    }

    /// The live connection, connecting (after any backoff wait) if needed.
    pub fn connection(&self, deadline: Instant) -> Result<Arc<ControlConn>> {
        loop {
            let (wait, leader) = {
                let mut st = self.state.lock();
                if let Some(c) = &st.conn {
                    if !c.connection().is_closed() {
                        return Ok(c.clone());
                    }
                    let why = c.connection().error().unwrap_or_else(|| Error::transport("connection closed"));
                    let server = c.connection().server().to_string();
                    st.conn = None;
                    drop(st);
                    self.emit(Event::new(EventKind::Disconnected, why.message).code(why.code).server(server));
                    continue;
                }
                if let Some(ev) = &self.events {
                    if st.next_attempt <= Instant::now() {
                        if let Permit::WaitUntil(t) = ev.permit_connect(Instant::now()) {
                            st.next_attempt = t;
                        }
                    }
                }
                (st.next_attempt.saturating_duration_since(Instant::now()), st.leader.clone())
            };
            if !wait.is_zero() {
                if Instant::now() + wait > deadline {
                    return Err(Error::transport(format!(
                        "not connected; next reconnect attempt in {} ms is past the call's deadline",
                        wait.as_millis()
                    )));
                }
                std::thread::sleep(wait);
            }
            // Dial without holding the lock: other callers see "connecting" as no connection and
            // would dial too, so serialise through a second check.
            let first = leader.clone().or_else(|| self.cfg.servers.first().cloned()).unwrap_or_default();
            self.emit(Event::new(EventKind::Connecting, format!("{} connection", self.name)).server(first));
            let result =
                ControlConn::connect_with_stats(&self.cfg, leader.as_deref(), deadline, &self.name, self.stats.clone());
            let mut st = self.state.lock();
            match result {
                Ok(c) => {
                    if let Some(existing) = &st.conn {
                        if !existing.connection().is_closed() {
                            return Ok(existing.clone());
                        }
                    }
                    let c = Arc::new(c);
                    st.conn = Some(c.clone());
                    st.connects += 1;
                    drop(st);
                    if let Some(ev) = &self.events {
                        ev.connected(c.connection().server());
                    }
                    return Ok(c);
                }
                Err(e) => {
                    // A refused token or certificate does not fix itself: no backoff loop.
                    if e.code == ErrorCode::AuthFailed || e.code == ErrorCode::Tls {
                        drop(st);
                        if e.code == ErrorCode::AuthFailed {
                            self.emit(Event::new(EventKind::AuthFailed, e.message.clone()).code(e.code));
                        }
                        return Err(e);
                    }
                    st.leader = None;
                    let mut d = st.backoff.next_delay();
                    if let Some(ev) = &self.events {
                        let failures = st.backoff.failures();
                        drop(st);
                        d = ev.connect_failed(&e, failures, d);
                        st = self.state.lock();
                    }
                    st.next_attempt = Instant::now() + d;
                    if Instant::now() >= deadline {
                        return Err(e);
                    }
                    if Instant::now() + d > deadline {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Drops the current connection (the owner is closing); a later request connects again.
    pub fn disconnect(&self) {
        self.state.lock().conn = None;
    }

    /// Drops the current connection after it failed; the next connect waits out the backoff,
    /// which only a successful reply resets (so a server that accepts and hangs up is not hammered).
    pub fn reset_connection(&self) {
        let mut st = self.state.lock();
        st.conn = None;
        let d = st.backoff.next_delay();
        st.next_attempt = Instant::now() + d;
    }

    /// `conn` failed with `err`: reset it and say so.
    fn lost(&self, conn: &ControlConn, err: &Error) {
        self.reset_connection();
        let server = conn.connection().server().to_string();
        self.emit(Event::new(EventKind::Disconnected, err.message.clone()).code(err.code).server(server));
    }

    fn healthy(&self) {
        self.state.lock().backoff.reset();
    }

    /// One request with retries: transport failures (idempotent requests only), FORWARD_FAILED
    /// and rate limits retried with backoff, NOT_LEADER followed — all within `timeout`.
    pub fn request(&self, req: &Request, timeout: Duration) -> Result<Frame> {
        let deadline = Instant::now() + timeout;
        let mut redirects = 0;
        let mut retry_backoff = self.cfg.backoff();
        loop {
            let conn = self.connection(deadline)?;
            let outcome = match conn.submit(req) {
                Ok(rx) => match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                    Ok(r) => r,
                    // The call's own deadline: the connection may be fine, keep it.
                    Err(RecvTimeoutError::Timeout) => {
                        return Err(Error::timed_out("no reply before the call's timeout"))
                    }
                    Err(RecvTimeoutError::Disconnected) => Err(Error::transport("connection closed before the reply")),
                },
                Err(e) => Err(e),
            };
            let err = match outcome.and_then(check_error) {
                Ok(frame) => {
                    self.healthy();
                    return Ok(frame);
                }
                Err(e) => e,
            };
            let wait = match err.code {
                ErrorCode::Transport | ErrorCode::Protocol | ErrorCode::TimedOut if idempotent(req) => {
                    self.lost(&conn, &err);
                    Duration::ZERO
                }
                ErrorCode::Transport | ErrorCode::Protocol | ErrorCode::TimedOut => {
                    self.lost(&conn, &err);
                    return Err(err.with_retryable(true));
                }
                ErrorCode::NotLeader if redirects < self.cfg.redirect_max => {
                    redirects += 1;
                    let to = err.leader.clone().unwrap_or_default();
                    self.emit(Event::new(EventKind::LeaderChanged, err.message.clone()).code(err.code).server(to));
                    let mut st = self.state.lock();
                    st.leader = err.leader.clone();
                    st.conn = None;
                    if err.leader.is_some() {
                        Duration::ZERO
                    } else {
                        retry_backoff.next_delay()
                    }
                }
                ErrorCode::ForwardFailed => retry_backoff.next_delay(),
                ErrorCode::RateLimited => retry_backoff.next_delay().max(Duration::from_secs(1)),
                _ => return Err(err),
            };
            if Instant::now() + wait >= deadline {
                return Err(err);
            }
            std::thread::sleep(wait);
        }
    }

    /// A keepalive round trip on the control connection.
    pub fn ping(&self, timeout: Duration) -> Result<Duration> {
        let deadline = Instant::now() + timeout;
        let conn = self.connection(deadline)?;
        let rx = conn.connection().ping()?;
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(rtt) => Ok(rtt),
            Err(RecvTimeoutError::Timeout) => Err(Error::timed_out("no keepalive reply before the call's timeout")),
            Err(RecvTimeoutError::Disconnected) => Err(conn
                .connection()
                .error()
                .unwrap_or_else(|| Error::transport("connection closed before the keepalive reply"))),
        }
    }
}
