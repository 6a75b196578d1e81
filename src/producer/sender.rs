//! One lane's sender thread: seals lingering batches, keeps the connection up, fills the
//! in-flight window (resends first, in original order), and fails what expires. It finalises
//! batches (LZ4, CRC) with no lock held, and contains panics: a panic fails the handle with PANIC
//! and every record the lane held still gets its report.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::accumulator::WindowLoad;
use super::batch::Batch;
use super::core::Shared;
use super::window::{LaneRouter, Window};
use crate::error::{Error, ErrorCode};
use crate::events::{Event, EventKind, Level, Permit};
use crate::net::{dial, Backoff, Connection};

/// Longest sleep between checks when nothing wakes the thread.
const IDLE_TICK: Duration = Duration::from_millis(50);

/// Runs lane `lane`'s sender until the handle closes or fails.
pub(crate) fn run(shared: Arc<Shared>, lane: usize) {
    let s = shared.clone();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || SenderThread::new(s, lane).run()));
    if let Err(payload) = result {
        let what = panic_text(&payload);
        shared.fail_fatal(Error::new(
            ErrorCode::Panic,
            format!("internal panic in producer sender thread {lane}: {what}"),
        ));
        // The thread's connection was dropped while unwinding, which moved its in-flight batches
        // back into the window: fail them, and everything else this lane holds.
        fail_lane(&shared, lane);
    }
}

/// The message of a panic payload.
pub(crate) fn panic_text(payload: &Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into())
}

/// Gives every batch of `lane` its final report: the fatal error if there is one, else
/// UNKNOWN_OUTCOME for batches that may have been stored and PURGED for the others.
pub(crate) fn fail_lane(shared: &Shared, lane: usize) {
    let fatal = shared.fatal();
    let mut batches: Vec<Batch> = {
        let mut w = shared.lanes[lane].window.lock();
        w.connection_lost(&Error::closed("producer closed"), u64::MAX);
        w.retry.drain(..).collect()
    };
    batches.extend(shared.drain(Some(lane)));
    for b in batches {
        let e = match &fatal {
            Some(f) => f.clone(),
            None if b.maybe_stored => b.final_error("producer closed while the batch was in flight"),
            None => Error::new(ErrorCode::Purged, "purged by close before it was sent"),
        };
        shared.complete(b, 0, Some(e));
    }
}

struct SenderThread {
    shared: Arc<Shared>,
    lane: usize,
    conn: Option<Connection>,
    backoff: Backoff,
    next_connect: Instant,
    /// Hold back resends after FORWARD_FAILED-like errors.
    resend_after: Instant,
}

impl SenderThread {
    fn new(shared: Arc<Shared>, lane: usize) -> SenderThread {
        let backoff = shared.net.backoff();
        let now = Instant::now();
        SenderThread { shared, lane, conn: None, backoff, next_connect: now, resend_after: now }
    }

    fn run(mut self) {
        loop {
            #[cfg(test)]
            super::tests::fault_point("sender.loop", Arc::as_ptr(&self.shared) as usize);
            let now = Instant::now();
            let next_linger = self.shared.seal_due(self.lane, now, self.window_load());
            self.expire(now);
            if self.shared.abort.load(Ordering::Acquire) || self.shared.fatal().is_some() {
                if let Some(c) = self.conn.take() {
                    c.close(Error::closed("producer closed"));
                }
                fail_lane(&self.shared, self.lane);
                return;
            }
            self.notice_lost(now);
            let has_work = self.has_work();
            if has_work {
                self.ensure_connection(now);
                self.send_window(now);
            }
            let mut wait = IDLE_TICK;
            if let Some(t) = next_linger {
                wait = wait.min(t.saturating_duration_since(now));
            }
            if has_work && self.conn.is_none() {
                wait = wait.min(self.next_connect.saturating_duration_since(now));
            }
            if self.resend_after > now {
                wait = wait.min(self.resend_after - now);
            }
            if !wait.is_zero() {
                let _ = self.shared.lanes[self.lane].notify_rx.recv_timeout(wait);
            }
        }
    }

    /// How full the lane's in-flight window is (a lane without a live connection counts as light).
    fn window_load(&self) -> WindowLoad {
        let w = self.shared.lanes[self.lane].window.lock();
        if self.conn.is_none() || w.conn.is_reset() {
            return WindowLoad::Idle;
        }
        self.load_of(&w)
    }

    /// The one rule for a full window (`max.in.flight` batches or `max.in.flight.bytes`).
    fn load_of(&self, w: &Window) -> WindowLoad {
        let s = &self.shared.settings;
        let bytes = w.conn.items().map(|b| b.payload_len).sum();
        WindowLoad::of(w.conn.in_flight(), bytes, s.max_in_flight, s.max_in_flight_bytes)
    }

    fn has_work(&self) -> bool {
        let busy = {
            let w = self.shared.lanes[self.lane].window.lock();
            !w.retry.is_empty() || w.conn.in_flight() > 0
        };
        busy || self.shared.has_ready(self.lane)
    }

    /// Fails unsent batches whose delivery deadline passed.
    fn expire(&mut self, now: Instant) {
        let mut expired: Vec<Batch> = {
            let mut w = self.shared.lanes[self.lane].window.lock();
            if w.retry.iter().any(|b| b.deadline <= now) {
                let (keep, gone): (std::collections::VecDeque<Batch>, std::collections::VecDeque<Batch>) =
                    w.retry.drain(..).partition(|b| b.deadline > now);
                w.retry = keep;
                gone.into()
            } else {
                Vec::new()
            }
        };
        expired.extend(self.shared.expire_ready(self.lane, now));
        for b in expired {
            let e = b.final_error("delivery.timeout.ms expired");
            self.shared.complete(b, 0, Some(e));
        }
    }

    /// A connection closed by its reader (lost, reset by the attribution, a missing reply):
    /// forget it and say why, once.
    fn notice_lost(&mut self, now: Instant) {
        let Some(c) = &self.conn else { return };
        // A reset decided by the attribution is carried out by the reader, which closes the
        // connection with its reason (FORWARD_FAILED, a missing reply, …) and runs on_closed:
        // wait for that instead of closing it here with a vaguer one.
        if !c.is_closed() {
            return;
        }
        let why = c.error().unwrap_or_else(|| Error::transport("connection closed"));
        let server = c.server().to_string();
        self.conn = None;
        self.resend_after = now + self.shared.settings.retry_backoff;
        self.shared.events.emit(Event::new(EventKind::Disconnected, why.message).code(why.code).server(server));
    }

    fn ensure_connection(&mut self, now: Instant) {
        if self.conn.is_some() {
            return;
        }
        if now < self.next_connect {
            return;
        }
        if let Permit::WaitUntil(t) = self.shared.events.permit_connect(now) {
            self.next_connect = t;
            return;
        }
        let mut deadline = now + self.shared.net.connect_timeout;
        if let Some(d) = *self.shared.close_deadline.lock() {
            deadline = deadline.min(d.max(now + Duration::from_millis(1)));
        }
        let redirect = self.shared.lanes[self.lane].window.lock().redirect.take();
        let first = redirect.clone().or_else(|| self.shared.net.servers.first().cloned()).unwrap_or_default();
        self.shared
            .events
            .emit(Event::new(EventKind::Connecting, format!("producer connection {}", self.lane)).server(first));
        let link = self.shared.lanes[self.lane].link.clone();
        link.connecting();
        match dial(&self.shared.net, redirect.as_deref(), deadline) {
            Ok(d) => {
                let server = d.server.clone();
                let generation = {
                    let mut w = self.shared.lanes[self.lane].window.lock();
                    // Whatever the old connection still had goes back first (normally nothing:
                    // its on_closed already ran).
                    w.connection_lost(&Error::transport("connection replaced"), u64::MAX);
                    w.conn = super::attribution::Attribution::new();
                    w.generation += 1;
                    w.generation
                };
                let router = Arc::new(LaneRouter { shared: self.shared.clone(), lane: self.lane, generation });
                let name = format!("producer-{}", self.lane);
                match Connection::start_with_stats(d, self.shared.net.clone(), router, &name, link.clone()) {
                    Ok(c) => {
                        self.conn = Some(c);
                        self.backoff.reset();
                        self.shared.counters.connects.fetch_add(1, Ordering::Relaxed);
                        self.shared.events.connected(&server);
                    }
                    Err(e) => {
                        link.connect_failed();
                        self.connect_failed(&e)
                    }
                }
            }
            Err(e) if e.code == ErrorCode::AuthFailed || e.code == ErrorCode::Tls => {
                link.connect_failed();
                if e.code == ErrorCode::AuthFailed {
                    self.shared.events.emit(Event::new(EventKind::AuthFailed, e.message.clone()).code(e.code));
                }
                self.shared.fail_fatal(e)
            }
            Err(e) => {
                link.connect_failed();
                self.connect_failed(&e)
            }
        }
    }

    /// Schedules the next attempt after a failed one (backoff, or longer while the circuit is open).
    fn connect_failed(&mut self, e: &Error) {
        let delay = self.backoff.next_delay();
        let wait = self.shared.events.connect_failed(e, self.backoff.failures(), delay);
        self.next_connect = Instant::now() + wait;
    }

    /// The next batch to send: a resend first (original order), then a new batch.
    fn next_batch(&self) -> Option<Batch> {
        let from_retry = {
            let mut w = self.shared.lanes[self.lane].window.lock();
            if w.conn.is_reset() || self.load_of(&w) == WindowLoad::Full {
                return None;
            }
            w.retry.pop_front()
        };
        from_retry.or_else(|| self.shared.pop_ready(self.lane))
    }

    /// Fills the in-flight window.
    fn send_window(&mut self, now: Instant) {
        let Some(conn) = &self.conn else { return };
        if now < self.resend_after {
            return;
        }
        let settings = &self.shared.settings;
        let compress_from = settings.compression.then_some(settings.compression_min);
        while let Some(mut batch) = self.next_batch() {
            if batch.attempts > 0 && batch.attempts > settings.retries {
                let e = batch.final_error("retries exhausted");
                self.shared.complete(batch, 0, Some(e));
                continue;
            }
            let id = self.shared.lanes[self.lane].window.lock().conn.next_id();
            // Heavy on a first attempt (LZ4 + CRC): no lock is held here.
            let (wire, compressed) = batch.finalize(self.shared.net.checksum, compress_from, id);
            self.count_attempt(&batch, compressed);
            if batch.attempts > 0 {
                let (n, topic, attempt) = (batch.records(), batch.topic_id, batch.attempts);
                self.shared.events.log(Level::Info, || {
                    format!("resending a batch of {n} records to topic {topic} (attempt {})", attempt + 1)
                });
            }
            batch.attempts += 1;
            batch.sent_at = Instant::now();
            let registered = {
                let mut w = self.shared.lanes[self.lane].window.lock();
                match w.conn.sent(batch) {
                    Ok(got) => {
                        debug_assert_eq!(got, id);
                        true
                    }
                    Err(b) => {
                        // The connection is being reset: the batch waits at its original place.
                        w.requeue(b);
                        false
                    }
                }
            };
            // Registered before it is queued, so its Ack can never arrive first.
            if !registered || conn.send_data(wire).is_err() {
                break; // on_closed moves everything in flight back for resending
            }
        }
    }

    fn count_attempt(&self, batch: &Batch, compressed: bool) {
        let c = &self.shared.counters;
        let n = batch.records() as u64;
        if compressed {
            c.batches_compressed.fetch_add(1, Ordering::Relaxed);
        }
        if batch.attempts > 0 {
            c.batches_retried.fetch_add(1, Ordering::Relaxed);
            c.records_retried.fetch_add(n, Ordering::Relaxed);
            if batch.maybe_stored {
                c.possible_duplicates.fetch_add(n, Ordering::Relaxed);
            }
        }
        c.batches_sent.fetch_add(1, Ordering::Relaxed);
        c.records_sent.fetch_add(n, Ordering::Relaxed);
        c.bytes_sent.fetch_add(batch.payload_len as u64, Ordering::Relaxed);
    }
}
