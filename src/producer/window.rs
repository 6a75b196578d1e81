//! One lane's in-flight window: the current connection's ack attribution, the batches waiting to
//! be resent, and the router that feeds the connection's replies into them (on its reader thread).
//!
//! Everything here only moves batches between queues under the lane's lock; outcomes are settled
//! in the core after the lock is released.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Mutex, MutexGuard};

use super::attribution::{Attribution, Decision, Next};
use super::batch::Batch;
use super::core::Shared;
use crate::error::{Error, ErrorCode, Result};
use crate::net::Router;
use crate::stats::{LatencyHistogram, LinkStats};
use crate::wire::control::{decode_error_text, reply_code};
use crate::wire::{Frame, FrameKind};

/// Per-lane state shared by the sender thread and the connection's reader.
pub(crate) struct Window {
    /// I and Q of the current connection.
    pub conn: Attribution<Batch>,
    /// Batches to resend before any new one, sorted by seal order.
    pub retry: VecDeque<Batch>,
    /// NOT_LEADER redirect target for the next connection.
    pub redirect: Option<String>,
    /// Generation of the current connection (replies of older ones are ignored).
    pub generation: u64,
    /// Send → ack latency of this lane's records, recorded under this lock (merged when read).
    pub ack_latency: LatencyHistogram,
}

impl Window {
    /// Puts `b` back among the resends at its original place.
    pub fn requeue(&mut self, b: Batch) {
        let at = self.retry.partition_point(|x| x.seq < b.seq);
        self.retry.insert(at, b);
    }

    /// The connection closed or must be replaced: what it had in flight goes back for resending.
    pub fn connection_lost(&mut self, cause: &Error, data_frames_attempted: u64) -> usize {
        let mut out = Vec::new();
        self.conn.closed(cause, data_frames_attempted, &mut out);
        let n = out.len();
        for d in out {
            if let Decision::Resend { mut item, maybe_stored, cause } = d {
                item.maybe_stored |= maybe_stored;
                item.last_error = Some(cause);
                self.requeue(item);
            }
        }
        n
    }
}

/// A lane: its window and the channel that wakes its sender thread.
pub(crate) struct Lane {
    pub window: Mutex<Window>,
    /// The lane's connection slot (state, server, bytes, keepalive round trips).
    pub link: Arc<LinkStats>,
    notify_tx: Sender<()>,
    pub notify_rx: Receiver<()>,
}

impl Lane {
    pub fn new(index: usize) -> Lane {
        let (notify_tx, notify_rx) = crossbeam_channel::bounded(1);
        let window = Window {
            conn: Attribution::new(),
            retry: VecDeque::new(),
            redirect: None,
            generation: 0,
            ack_latency: LatencyHistogram::new(),
        };
        let link = Arc::new(LinkStats::new(&format!("producer-{index}")));
        Lane { window: Mutex::new(window), link, notify_tx, notify_rx }
    }

    pub fn wake(&self) {
        let _ = self.notify_tx.try_send(());
    }
}

/// Routes the frames of one producer connection into its lane (runs on the reader thread).
pub(crate) struct LaneRouter {
    pub shared: Arc<Shared>,
    pub lane: usize,
    pub generation: u64,
}

impl LaneRouter {
    fn window(&self) -> Option<MutexGuard<'_, Window>> {
        let w = self.shared.lanes[self.lane].window.lock();
        (w.generation == self.generation).then_some(w)
    }

    /// Settles the decided batches (outside the lane lock) and lets the sender refill the window.
    fn settle(&self, decisions: Vec<Decision<Batch>>) {
        for d in decisions {
            match d {
                Decision::Acked { batch_id, item } => self.shared.complete(item, batch_id, None),
                Decision::Rejected { batch_id, item, error } => self.shared.complete(item, batch_id, Some(error)),
                // Resends only come out of `closed`, which runs under the lane lock.
                Decision::Resend { item, .. } => self.shared.lanes[self.lane].window.lock().requeue(item),
            }
        }
        self.shared.wake_lane(self.lane);
    }
}

impl Router for LaneRouter {
    fn on_frame(&self, frame: Frame) -> Result<()> {
        #[cfg(test)]
        super::tests::fault_point("router.frame", Arc::as_ptr(&self.shared) as usize);
        let now = Instant::now();
        let mut decisions = Vec::new();
        let mut redirected: Option<Error> = None;
        let next = {
            let Some(mut w) = self.window() else { return Ok(()) };
            match frame.kind() {
                FrameKind::Ack => {
                    let next = w.conn.ack(frame.header.batch_id, &mut decisions);
                    // Under the lane lock this frame already holds: no lock of its own.
                    for d in &decisions {
                        if let Decision::Acked { item, .. } = d {
                            w.ack_latency.record_n(now.saturating_duration_since(item.sent_at), item.records() as u64);
                        }
                    }
                    next
                }
                FrameKind::Control if frame.header.code() == reply_code::ERROR_RESPONSE => {
                    let e = Error::from_server_text(&decode_error_text(&frame.payload));
                    self.shared.counters.server_errors.fetch_add(1, Ordering::Relaxed);
                    let has_token = !self.shared.net.token.is_empty();
                    let resend = e.retryable
                        || e.code == ErrorCode::NotLeader
                        || (e.code == ErrorCode::AuthRequired && has_token);
                    if e.code == ErrorCode::NotLeader {
                        // Every batch in flight gets the same reply: one event per new target.
                        if w.redirect != e.leader {
                            redirected = Some(e.clone());
                        }
                        w.redirect = e.leader.clone();
                    }
                    w.conn.error(e, resend, &mut decisions)
                }
                _ => Next::Reset(Error::protocol(format!(
                    "unexpected reply code {:#04x} on a producer connection",
                    frame.header.code()
                ))),
            }
        };
        self.settle(decisions);
        if let Some(e) = redirected {
            let to = e.leader.clone().unwrap_or_default();
            let ev = crate::events::Event::new(crate::events::EventKind::LeaderChanged, e.message).code(e.code);
            self.shared.events.emit(ev.server(to));
        }
        match next {
            Next::Continue => Ok(()),
            Next::Reset(e) => Err(e),
        }
    }

    fn check_deadlines(&self, now: Instant) -> Option<Error> {
        let w = self.window()?;
        let (id, oldest) = w.conn.oldest()?;
        let timeout = self.shared.net.request_timeout;
        (now.duration_since(oldest.sent_at) >= timeout).then(|| {
            Error::timed_out(format!("no Ack for batch {id} within request.timeout.ms ({} ms)", timeout.as_millis()))
        })
    }

    fn on_closed(&self, error: &Error, data_frames_attempted: u64) {
        let lost = match self.window() {
            Some(mut w) => w.connection_lost(error, data_frames_attempted),
            None => 0,
        };
        if lost > 0 {
            self.shared.counters.disconnects.fetch_add(1, Ordering::Relaxed);
        }
        if error.code == ErrorCode::Panic {
            // A panic in this connection's threads: the handle cannot be trusted to go on.
            self.shared.fail_fatal(error.clone());
        }
        self.shared.wake_lane(self.lane);
    }
}
