//! The fetch thread: pipelined Fetch requests, reassembly, and decoding under the queue's byte
//! budget (see the module documentation of [`super`]).
//!
//! **Memory.** Before it decodes, the fetcher asks the queue how many bytes it may still add
//! ([`super::queue::Queue::budget`]) and stops taking records out of the reassembler once that is
//! spent; the rest stays in the reassembler as fetched (still compressed, or as the remainder of
//! the one envelope being taken apart) and no new Fetch is sent until `poll` made room. So the
//! consumer holds at most `queued.max.bytes` of records (+ one record), one decompressed envelope
//! (≤ 16 MiB), the undecoded window plus carry, and `fetch.pipeline` replies in flight.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use super::metrics::Counters;
use super::queue::{record_cost, Event};
use super::{Inner, OffsetReset};
use crate::error::{Error, ErrorCode};
use crate::events::{Event as HandleEvent, EventKind, Permit};
use crate::net::control::{check_error, ReplyResult};
use crate::net::{Backoff, ControlConn};
use crate::wire::control::{decode_catching_up, decode_fetch_response, reply_code, Request};
use crate::wire::tlv::record_type;
use crate::wire::{Frame, Reassembler, Record};

/// Records decoded between two pushes to the queue: pollers see data early and the budget is
/// re-read often, without a lock round trip per record.
const PUSH_EVERY_BYTES: usize = 256 * 1024;

enum Decoder {
    Tlv(Reassembler),
    Raw { position: u64 },
}

impl Decoder {
    fn fetch_offset(&self) -> u64 {
        match self {
            Decoder::Tlv(r) => r.fetch_offset(),
            Decoder::Raw { position } => *position,
        }
    }
    fn reset(&mut self, at: u64) {
        match self {
            Decoder::Tlv(r) => r.reset(at),
            Decoder::Raw { position } => *position = at,
        }
    }
}

struct InFlight {
    rx: Receiver<ReplyResult>,
    start: u64,
    sent_at: Instant,
}

pub(super) struct Fetcher {
    inner: Arc<Inner>,
    wake: Receiver<()>,
    conn: Option<ControlConn>,
    leader: Option<String>,
    reconnect: Backoff,
    reconnect_at: Instant,
    generation: u64,
    decoder: Decoder,
    inflight: VecDeque<InFlight>,
    /// The last reply was a full window: keep the pipeline full.
    streaming: bool,
    /// Current idle backoff (zero after data).
    idle: Duration,
    next_fetch_at: Instant,
    catching_up: u32,
    /// Since when (and for how many empty fetches) we have been at the tail holding a partial
    /// record: a TLV log always ends on a record boundary, so a carry that never completes means
    /// a misaligned position or non-TLV data.
    stuck_at_tail: Option<(Instant, u32)>,
    paused: bool,
    outage_reported: bool,
    /// The reassembler may hold whole records not yet decoded because the queue's budget was
    /// spent: decode them (when room frees up) before fetching anything new.
    backlog: bool,
    batch: Vec<Event>,
    batch_bytes: usize,
}

enum Wait {
    Until(Instant),
    Forever,
}

impl Fetcher {
    pub(super) fn new(inner: Arc<Inner>, wake: Receiver<()>, start: u64) -> Fetcher {
        let decoder = if inner.s.raw {
            Decoder::Raw { position: start }
        } else {
            Decoder::Tlv(Reassembler::new(start, inner.s.expand_envelopes))
        };
        let reconnect = inner.net.backoff();
        let generation = inner.state.lock().q.generation;
        Fetcher {
            inner,
            wake,
            conn: None,
            leader: None,
            reconnect,
            reconnect_at: Instant::now(),
            generation,
            decoder,
            inflight: VecDeque::new(),
            streaming: false,
            idle: Duration::ZERO,
            next_fetch_at: Instant::now(),
            catching_up: 0,
            stuck_at_tail: None,
            paused: false,
            outage_reported: false,
            backlog: false,
            batch: Vec::new(),
            batch_bytes: 0,
        }
    }

    /// Sleeps until `w` or until woken (seek, close, queue space).
    fn sleep(&self, w: Wait) {
        match w {
            Wait::Until(t) => {
                let _ = self.wake.recv_timeout(t.saturating_duration_since(Instant::now()));
            }
            Wait::Forever => {
                let _ = self.wake.recv();
            }
        }
    }

    /// The thread body; returns when the consumer closes.
    pub(super) fn run(mut self) {
        loop {
            #[cfg(test)]
            if self.inner.inject_panic.load(std::sync::atomic::Ordering::Acquire) {
                panic!("injected fetch-thread panic (test)");
            }
            // Follow seeks and close; read the budget. Parking is decided under the same lock
            // that `poll` frees room under, so the wakeup cannot be lost.
            let budget = {
                let mut st = self.inner.state.lock();
                if st.lc.phase() != super::lifecycle::Phase::Open {
                    return;
                }
                if st.q.generation != self.generation {
                    self.generation = st.q.generation;
                    let target = st.q.target;
                    drop(st);
                    self.restart_at(target);
                    continue;
                }
                let budget = st.q.budget(self.inner.s.queued_max_bytes);
                if budget == 0 && (self.backlog || self.inflight.is_empty()) && !self.paused {
                    st.q.fetcher_blocked = true;
                }
                budget
            };
            if self.paused {
                self.sleep(Wait::Forever);
                continue;
            }
            let queue_full = budget == 0;
            if self.backlog {
                if queue_full {
                    // Back-pressure: poll wakes us when room frees up.
                    self.sleep(Wait::Forever);
                } else {
                    self.drain(budget);
                    self.note_carry();
                }
                continue;
            }
            if queue_full && self.inflight.is_empty() {
                self.sleep(Wait::Forever);
                continue;
            }
            if !self.ensure_connected() {
                continue;
            }
            if self.inflight.is_empty() {
                let now = Instant::now();
                if now < self.next_fetch_at {
                    self.sleep(Wait::Until(self.next_fetch_at));
                    continue;
                }
                let at = self.decoder.fetch_offset();
                if !self.submit(at) {
                    continue;
                }
            }
            // Speculative pipelining while windows come back full.
            while self.streaming && !queue_full && self.inflight.len() < self.inner.s.pipeline {
                let at = self
                    .inflight
                    .back()
                    .map_or(self.decoder.fetch_offset(), |f| f.start + self.inner.s.max_bytes as u64);
                if !self.submit(at) {
                    break;
                }
            }
            let Some(head) = self.inflight.front() else {
                continue;
            };
            let safety = self.inner.s.request_timeout + Duration::from_secs(1);
            let reply = crossbeam_channel::select! {
                recv(head.rx) -> r => r.unwrap_or_else(|_| Err(Error::transport("connection closed before the reply"))),
                recv(self.wake) -> _ => continue,
                default(safety) => Err(Error::timed_out("no Fetch reply within the request timeout")),
            };
            if let Some(head) = self.inflight.pop_front() {
                self.count_reply(head.sent_at, &reply);
                self.on_reply(head.start, reply);
                self.note_carry();
            }
        }
    }

    /// Counts a Fetch reply and its latency (under the state lock, once per reply).
    fn count_reply(&self, sent_at: Instant, reply: &ReplyResult) {
        let Ok(frame) = reply else { return };
        let c = &self.inner.counters;
        Counters::add(&c.fetches, 1);
        Counters::add(&c.fetch_bytes, frame.payload.len() as u64);
        self.inner.state.lock().fetch_latency.record(sent_at.elapsed());
    }

    /// Publishes how much the reassembler holds.
    fn note_carry(&self) {
        let held = match &self.decoder {
            Decoder::Tlv(r) => r.carry_len() as u64,
            Decoder::Raw { .. } => 0,
        };
        self.inner.counters.carry.store(held, std::sync::atomic::Ordering::Relaxed);
    }

    fn restart_at(&mut self, target: u64) {
        self.inflight.clear();
        self.decoder.reset(target);
        self.streaming = false;
        self.idle = Duration::ZERO;
        self.next_fetch_at = Instant::now();
        self.catching_up = 0;
        self.stuck_at_tail = None;
        self.paused = false;
        self.backlog = false;
        self.batch.clear();
        self.batch_bytes = 0;
        self.note_carry();
    }

    /// Queues the decoded events (under the generation check) and wakes pollers.
    fn push(&mut self) {
        self.batch_bytes = 0;
        if self.batch.is_empty() {
            return;
        }
        let mut st = self.inner.state.lock();
        if st.lc.phase() != super::lifecycle::Phase::Open {
            self.batch.clear();
            return;
        }
        if st.q.push(self.generation, &mut self.batch) {
            if let Some(w) = &self.inner.wakefd {
                w.signal();
            }
        }
        drop(st);
        self.inner.cond.notify_all();
    }

    fn report(&mut self, e: Error, reposition: Option<u64>) {
        self.batch.push(Event::Error(Box::new(e), reposition));
        self.push();
    }

    fn drop_connection(&mut self) {
        self.conn = None;
        self.inflight.clear();
        self.streaming = false;
        // The reassembler keeps what it holds (whole records not yet decoded, the envelope being
        // taken apart, the carry): the next fetch starts at P + carry on the new connection, so
        // nothing already queued is fetched and handed out again.
    }

    /// Returns false when there is no connection yet (the caller loops).
    fn ensure_connected(&mut self) -> bool {
        if let Some(c) = &self.conn {
            if !c.connection().is_closed() {
                return true;
            }
            let why = c.connection().error().unwrap_or_else(|| Error::transport("connection closed"));
            let lost = HandleEvent::new(EventKind::Disconnected, why.message).code(why.code);
            self.inner.events.emit(lost.server(c.connection().server()));
            self.drop_connection();
        }
        let now = Instant::now();
        if now < self.reconnect_at {
            self.sleep(Wait::Until(self.reconnect_at));
            return false;
        }
        let events = &self.inner.events;
        if let Permit::WaitUntil(t) = events.permit_connect(now) {
            self.reconnect_at = t;
            self.sleep(Wait::Until(t));
            return false;
        }
        let first = self.leader.clone().or_else(|| self.inner.net.servers.first().cloned()).unwrap_or_default();
        events.emit(HandleEvent::new(EventKind::Connecting, "consumer fetch connection").server(first));
        let deadline = now + self.inner.s.connect_timeout;
        let link = self.inner.fetch_link.clone();
        match ControlConn::connect_with_stats(&self.inner.net, self.leader.as_deref(), deadline, "consumer", link) {
            Ok(c) => {
                events.connected(c.connection().server());
                self.conn = Some(c);
                self.leader = None;
                true
            }
            Err(e) => {
                self.leader = None;
                if e.code == ErrorCode::AuthFailed || e.code == ErrorCode::Tls {
                    self.reconnect_at = Instant::now() + self.reconnect.next_delay();
                    if e.code == ErrorCode::AuthFailed {
                        events.emit(HandleEvent::new(EventKind::AuthFailed, e.message.clone()).code(e.code));
                    }
                    self.paused = true;
                    self.report(e, None);
                } else {
                    let delay = self.reconnect.next_delay();
                    let wait = events.connect_failed(&e, self.reconnect.failures(), delay);
                    self.reconnect_at = Instant::now() + wait;
                    if !self.outage_reported {
                        self.outage_reported = true;
                        let e = Error::transport(format!("consumer cannot reach the server (retrying): {}", e.message));
                        self.report(e, None);
                    }
                }
                false
            }
        }
    }

    fn submit(&mut self, start: u64) -> bool {
        let Some(c) = &self.conn else { return false };
        let req =
            Request::Fetch { topic_id: self.inner.s.topic_id, start_offset: start, max_bytes: self.inner.s.max_bytes };
        match c.submit(&req) {
            Ok(rx) => {
                self.inflight.push_back(InFlight { rx, start, sent_at: Instant::now() });
                true
            }
            Err(e) => {
                // A connection found dead here is a disconnection like any other (its event).
                let lost = HandleEvent::new(EventKind::Disconnected, e.message.clone()).code(e.code);
                self.inner.events.emit(lost.server(c.connection().server()));
                self.drop_connection();
                false
            }
        }
    }

    fn idle_backoff(&mut self) {
        self.idle =
            if self.idle.is_zero() { self.inner.s.min_wait } else { (self.idle * 2).min(self.inner.s.max_wait) };
        self.next_fetch_at = Instant::now() + self.idle;
    }

    fn on_reply(&mut self, start: u64, reply: ReplyResult) {
        let frame = match reply.and_then(check_error) {
            Ok(f) => f,
            Err(e) => return self.on_error(e),
        };
        match frame.header.code() {
            reply_code::FETCH_RESPONSE => self.on_data(start, &frame),
            reply_code::CATCHING_UP => match decode_catching_up(&frame.payload) {
                Ok(end) => self.on_catching_up(end),
                Err(e) => self.on_error(e.into()),
            },
            c => self.on_error(Error::protocol(format!("unexpected Fetch reply code {c:#04x}"))),
        }
    }

    fn on_error(&mut self, e: Error) {
        self.inflight.clear();
        self.streaming = false;
        match e.code {
            ErrorCode::Transport | ErrorCode::TimedOut | ErrorCode::Protocol | ErrorCode::Closed => {
                if let Some(c) = &self.conn {
                    c.connection().close(e.clone());
                    let lost = HandleEvent::new(EventKind::Disconnected, e.message.clone()).code(e.code);
                    self.inner.events.emit(lost.server(c.connection().server()));
                }
                self.drop_connection();
                // Reconnect at once the first time; the backoff grows if that fails.
                self.reconnect_at = Instant::now();
            }
            ErrorCode::RateLimited => {
                self.next_fetch_at = Instant::now() + self.reconnect.next_delay().max(Duration::from_secs(1));
            }
            ErrorCode::ForwardFailed | ErrorCode::CatchingUp => {
                self.next_fetch_at = Instant::now() + self.reconnect.next_delay();
            }
            ErrorCode::NotLeader => {
                self.leader = e.leader.clone();
                let to = e.leader.clone().unwrap_or_default();
                self.inner
                    .events
                    .emit(HandleEvent::new(EventKind::LeaderChanged, e.message.clone()).code(e.code).server(to));
                self.conn = None;
                self.drop_connection();
                if self.leader.is_none() {
                    self.reconnect_at = Instant::now() + self.reconnect.next_delay();
                }
            }
            _ => {
                // Final: UNKNOWN_TOPIC, auth, SERVER_ERROR (bad request / I/O). Pause until seek.
                self.paused = true;
                self.report(e, None);
            }
        }
    }

    /// At the tail with a partial record that never completes: report it as corruption at P
    /// (after a few empty fetches over at least a second, so a batch still being written at the
    /// tail is not mistaken for it) instead of waiting forever.
    fn check_partial_at_tail(&mut self) {
        let Decoder::Tlv(reasm) = &self.decoder else {
            return;
        };
        let carry = reasm.carry_len();
        if carry == 0 {
            self.stuck_at_tail = None;
            return;
        }
        let (since, empties) = self.stuck_at_tail.get_or_insert((Instant::now(), 0));
        *empties += 1;
        if *empties < 3 || since.elapsed() < Duration::from_secs(1) {
            return;
        }
        let at = reasm.position();
        let msg = format!(
            "record at offset {at} runs past the end of the log ({carry} bytes held, the log ends at {}): the position is \
             not on a record boundary, or the data is not TLV (consume.raw=true reads non-TLV producers); seek to recover",
            reasm.fetch_offset()
        );
        self.stuck_at_tail = None;
        self.paused = true;
        self.inflight.clear();
        self.streaming = false;
        self.report(Error::new(ErrorCode::CorruptRecord, msg).with_offset(at).with_retryable(false), None);
    }

    fn on_catching_up(&mut self, end: u64) {
        self.inflight.clear();
        self.streaming = false;
        self.inner.note_tail(end);
        Counters::add(&self.inner.counters.catching_up, 1);
        self.catching_up += 1;
        if self.catching_up <= self.inner.s.catching_up_retries {
            self.idle_backoff();
            return;
        }
        self.catching_up = 0;
        let at = self.decoder.fetch_offset();
        if end >= at {
            // The node says "catching up" although its end is not behind us: a lagging replica
            // (lwp.md §4, §8), not an out-of-range position. Say so once per streak, keep the
            // position, keep backing off.
            let msg = format!(
                "topic {} is catching up: CatchingUp {} times in a row at position {at} (server end {end}); still retrying",
                self.inner.s.topic_id,
                self.inner.s.catching_up_retries + 1
            );
            self.report(Error::new(ErrorCode::CatchingUp, msg).with_offset(end), None);
            self.idle_backoff();
            return;
        }
        let base = format!(
            "position {at} of topic {} is past its end ({end}) (CatchingUp {} times in a row)",
            self.inner.s.topic_id,
            self.inner.s.catching_up_retries + 1
        );
        let (msg, reposition) = match self.inner.s.reset {
            OffsetReset::Earliest => (format!("{base}; offset.reset=earliest: continuing from offset 0"), Some(0)),
            OffsetReset::Latest => (format!("{base}; offset.reset=latest: continuing from the end ({end})"), Some(end)),
            OffsetReset::Error => (format!("{base}; offset.reset=error: paused until seek"), None),
        };
        let err = Error::new(ErrorCode::OffsetOutOfRange, msg).with_offset(end).with_retryable(false);
        match reposition {
            Some(p) => {
                self.decoder.reset(p);
                self.idle = Duration::ZERO;
                self.next_fetch_at = Instant::now();
            }
            None => self.paused = true,
        }
        self.report(err, reposition);
    }

    fn on_data(&mut self, start: u64, frame: &Frame) {
        let r = match decode_fetch_response(&frame.payload) {
            Ok(r) => r,
            Err(e) => return self.on_error(e.into()),
        };
        let max = self.inner.s.max_bytes as usize;
        let len = r.data.len();
        if r.next_offset != start.wrapping_add(len as u64) || len > max {
            return self.on_error(Error::protocol(format!(
                "Fetch at {start} returned {len} bytes with next_offset {} (max_bytes {max})",
                r.next_offset
            )));
        }
        if start != self.decoder.fetch_offset() {
            // A speculative window that no longer lines up: discard it and everything behind it.
            self.inflight.clear();
            self.streaming = false;
            return;
        }
        self.reconnect.reset();
        self.outage_reported = false;
        self.catching_up = 0;
        if len > 0 {
            self.stuck_at_tail = None;
        }
        if len < max {
            self.inner.note_tail(r.next_offset);
            // Anything requested beyond this window started past the end: drop it.
            self.inflight.clear();
            self.streaming = false;
            if len == 0 {
                Counters::add(&self.inner.counters.empty_fetches, 1);
                self.check_partial_at_tail();
                self.idle_backoff();
                return;
            }
            // Short but not empty: the tail is near; fetch again at once.
            self.idle = Duration::ZERO;
            self.next_fetch_at = Instant::now();
        } else {
            self.streaming = true;
            self.idle = Duration::ZERO;
        }
        match &mut self.decoder {
            Decoder::Raw { position } => {
                // One record per window; windows are only requested while the queue has room,
                // so this overshoots the bound by at most the windows in flight.
                let rec = Record {
                    record_type: record_type::RESERVED,
                    ext_type: None,
                    value: r.data.to_vec(),
                    offset: start,
                };
                *position = start + len as u64;
                self.batch.push(Event::Record(rec, *position));
                self.push();
            }
            Decoder::Tlv(reasm) => {
                reasm.feed(r.data);
                let budget = self.inner.state.lock().q.budget(self.inner.s.queued_max_bytes);
                self.drain(budget);
            }
        }
    }

    /// Takes records out of the reassembler until it needs more data or `budget` bytes are
    /// spent (then sets `backlog`), pushing to the queue every [`PUSH_EVERY_BYTES`] and
    /// re-reading the budget then. Nothing is decoded, and no envelope is expanded, once the
    /// budget is spent.
    fn drain(&mut self, mut budget: usize) {
        let mut spent = 0usize;
        loop {
            if spent >= budget {
                self.backlog = true;
                break;
            }
            let Decoder::Tlv(reasm) = &mut self.decoder else {
                break;
            };
            match reasm.next_record() {
                Ok(Some(rec)) => {
                    let cost = record_cost(&rec);
                    let p = reasm.position();
                    spent += cost;
                    self.batch_bytes += cost;
                    self.batch.push(Event::Record(rec, p));
                    if self.batch_bytes >= PUSH_EVERY_BYTES {
                        self.push();
                        budget = self.inner.state.lock().q.budget(self.inner.s.queued_max_bytes);
                        spent = 0;
                    }
                }
                Ok(None) => {
                    self.backlog = false;
                    break;
                }
                Err(c) => {
                    self.batch.push(Event::Error(Box::new(Error::from(c).with_retryable(false)), None));
                    self.backlog = false;
                    self.paused = true;
                    self.inflight.clear();
                    self.streaming = false;
                    break;
                }
            }
        }
        self.push();
    }
}
