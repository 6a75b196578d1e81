//! The producer's synchronisation core: one lock over the lifecycle, buffer memory, the
//! accumulator, the count of records without an outcome, and the report queue. Every decision
//! that must not interleave with another (accept vs. close, reserve vs. release, queue vs. serve)
//! is made under this one lock by the pure parts (`lifecycle`, `memory`, `accumulator`,
//! `reports`); the lock is never held while user code, I/O, compression or checksums run.
//!
//! Condition variables: `space` wakes senders waiting for buffer memory, `progress` wakes pollers
//! and flushers waiting for outcomes or reports. Both are notified on every lifecycle change, so
//! `close` and a fatal error wake every waiter.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::accumulator::{Accumulator, WindowLoad};
use super::batch::{Batch, Orphan, Orphans, SyncWaiter};
use super::lifecycle::{Lifecycle, Phase};
use super::memory::{Memory, REPORT_COST};
use super::message::{now_ns, Message};
use super::metrics::Counters;
use super::reports::{DeliveryReport, ReportQueue, Unobserved};
use super::settings::Settings;
use super::window::Lane;
use crate::cancel::Cancel;
use crate::error::{Error, ErrorCode, Result};
use crate::net::NetConfig;
use crate::notify::WakeFd;
use crate::sync::{Condvar, Mutex, MutexGuard};

/// A delivery callback, run on the thread calling `poll`, `flush` or `close`.
pub type DeliveryCallback = Box<dyn FnMut(&DeliveryReport) + Send>;

/// Most reports taken from the queue per callback round (bounds the temporary vector).
const SERVE_CHUNK: usize = 4096;

/// Everything under the core lock.
pub(crate) struct Core {
    pub life: Lifecycle,
    pub memory: Memory,
    pub acc: Accumulator,
    pub reports: ReportQueue,
    /// Fire-and-forget failures not yet surfaced by `flush`/`close`.
    pub unobserved: Unobserved,
    /// Accepted records whose outcome is not known yet.
    pub incomplete: usize,
    space_waiters: usize,
    progress_waiters: usize,
}

/// How long `accept` may wait for buffer space, and what can end the wait early.
#[derive(Clone, Copy, Default)]
pub(crate) struct SpaceWait<'a> {
    /// `None`: the configuration (send.block, send.timeout.ms); `Some(0)`: never wait.
    pub timeout: Option<Duration>,
    pub cancel: Option<&'a Cancel>,
}

/// State shared by the handle, the sender threads and the connections' readers.
pub(crate) struct Shared {
    pub settings: Settings,
    pub net: NetConfig,
    core: Mutex<Core>,
    space: Condvar,
    progress: Condvar,
    pub lanes: Vec<Lane>,
    pub wake: Arc<WakeFd>,
    /// Connection events, the log, the circuit breaker.
    pub events: Arc<crate::events::Events>,
    /// The callback; holding this lock is the right to dispatch, so callbacks never overlap and
    /// reports are served in queue order. Never held while waiting for reports.
    dispatch: Mutex<Option<DeliveryCallback>>,
    has_callback: bool,
    /// Linger is ignored while a flush (or a `send_sync`) runs.
    pub flushing: AtomicUsize,
    /// Sender threads must give up everything and exit.
    pub abort: AtomicBool,
    pub counters: Counters,
    /// Deadline of an ongoing close, bounding reconnect attempts.
    pub close_deadline: Mutex<Option<Instant>>,
    orphans: Arc<Orphans>,
}

impl Shared {
    pub fn new(
        settings: Settings,
        net: NetConfig,
        callback: Option<DeliveryCallback>,
        config: &crate::config::Config,
    ) -> Result<Shared> {
        let wake = Arc::new(WakeFd::new().map_err(|e| Error::new(ErrorCode::Io, format!("eventfd: {e}")))?);
        let events = crate::events::Events::new(config, "producer", Some(wake.clone()));
        let orphans = Arc::new(Orphans::default());
        let acc = Accumulator::new(
            settings.lanes,
            (settings.batch_size, settings.batch_size_max),
            settings.max_payload,
            settings.delivery_timeout,
            orphans.clone(),
        );
        let core = Core {
            life: Lifecycle::new(),
            memory: Memory::new(settings.buffer_memory),
            acc,
            reports: ReportQueue::default(),
            unobserved: Unobserved::default(),
            incomplete: 0,
            space_waiters: 0,
            progress_waiters: 0,
        };
        Ok(Shared {
            lanes: (0..settings.lanes).map(Lane::new).collect(),
            settings,
            net,
            core: Mutex::new(core),
            space: Condvar::new(),
            progress: Condvar::new(),
            wake,
            events,
            has_callback: callback.is_some(),
            dispatch: Mutex::new(callback),
            flushing: AtomicUsize::new(0),
            abort: AtomicBool::new(false),
            counters: Counters::new(),
            close_deadline: Mutex::new(None),
            orphans,
        })
    }

    fn wake_all(&self, core: &Core) {
        if core.space_waiters > 0 {
            self.space.notify_all();
        }
        if core.progress_waiters > 0 {
            self.progress.notify_all();
        }
    }

    pub fn wake_lane(&self, lane: usize) {
        self.lanes[lane].wake();
    }

    pub fn wake_lanes(&self) {
        self.lanes.iter().for_each(Lane::wake);
    }

    /// Accepts `msgs` for `topic_id` atomically (all or none): waits for buffer memory per
    /// `wait` (by default send.block / send.timeout.ms), and is refused once the handle is
    /// closing or failed, or `wait.cancel` fires.
    pub fn accept(
        &self,
        topic_id: u32,
        msgs: &[Message<'_>],
        opaques: &[u64],
        sync: Option<SyncWaiter>,
        wait: &SpaceWait<'_>,
    ) -> Result<()> {
        let max = self.settings.max_payload;
        let mut charge = 0usize;
        for m in msgs {
            let n = m.encoded_len()?;
            if n > max {
                return Err(Error::new(
                    ErrorCode::MsgTooLarge,
                    format!("record of {n} bytes exceeds the {max}-byte frame payload limit (max.frame.bytes)"),
                ));
            }
            charge += n + REPORT_COST;
        }
        if msgs.is_empty() {
            return Ok(());
        }
        // Fail fast instead of queueing while the server is known unreachable (blocking sends
        // wait as usual: they may block, so they may also wait for the connection).
        if !self.settings.send_block && self.events.circuit_open() {
            return Err(self.events.open_error());
        }
        let mut core = self.core.lock();
        if !core.memory.can_ever_fit(charge) {
            let limit = core.memory.limit();
            return Err(Error::new(ErrorCode::MsgTooLarge, format!("{charge} bytes exceed buffer.memory ({limit})")));
        }
        self.reserve(&mut core, charge, wait)?;
        let now = Instant::now();
        let ts = now_ns();
        let mut wake = false;
        for (i, m) in msgs.iter().enumerate() {
            // Cannot fail: it succeeded above for the same message.
            let len = m.encoded_len().unwrap_or(0);
            let (b, s) = core.acc.batch_for(topic_id, len, now);
            // A new open batch wakes the sender too, so it learns the batch's linger deadline.
            wake |= s || b.opaques.is_empty();
            let written = m.encode_into(&mut b.frame, ts).unwrap_or(0);
            b.payload_len += written;
            b.charge += len + REPORT_COST;
            if let (Some(tx), 0) = (&sync, i) {
                b.sync.push((b.opaques.len(), tx.clone()));
            }
            b.opaques.push(opaques[i]);
            wake |= core.acc.seal_if_full(topic_id);
        }
        core.incomplete += msgs.len();
        drop(core);
        if wake {
            self.wake_lane(self.settings.lane_of(topic_id));
        }
        Ok(())
    }

    /// Takes `n` bytes of buffer memory, waiting if `wait` allows. Checks the lifecycle and the
    /// cancellation token on every wake.
    fn reserve(&self, core: &mut MutexGuard<'_, Core>, n: usize, wait: &SpaceWait<'_>) -> Result<()> {
        let budget = match wait.timeout {
            Some(t) => t,
            None if self.settings.send_block => self.settings.send_timeout,
            None => Duration::ZERO,
        };
        let mut deadline = None;
        loop {
            if let Some(e) = core.life.refuse_new() {
                return Err(e);
            }
            crate::cancel::check(wait.cancel, "send")?;
            if core.memory.try_take(n) {
                return Ok(());
            }
            let limit = core.memory.limit();
            let full = || {
                Error::new(
                    ErrorCode::QueueFull,
                    format!(
                        "buffer.memory ({limit} bytes) is full: records in flight or reports not yet served by poll"
                    ),
                )
            };
            if budget.is_zero() {
                return Err(full());
            }
            let until = *deadline.get_or_insert_with(|| Instant::now() + budget);
            if Instant::now() >= until {
                return Err(full());
            }
            core.space_waiters += 1;
            self.space.wait_until(core, until);
            core.space_waiters -= 1;
        }
    }

    /// Wakes every thread waiting for buffer space (a cancellation token fired), taking the
    /// core lock first so a waiter that just checked its token cannot miss the wake-up.
    pub fn wake_space_waiters(&self) {
        let _core = self.core.lock();
        self.space.notify_all();
    }

    /// The DELIVERY_FAILED error for fire-and-forget failures since the last call, if any.
    pub fn take_unobserved(&self) -> Option<Error> {
        self.core.lock().unobserved.take()
    }

    /// The final outcome of a batch: counters, `send_sync` waiters, the report entry, memory.
    pub fn complete(&self, mut b: Batch, batch_id: u64, error: Option<Error>) {
        b.disarm();
        let n = b.records();
        let c = &self.counters;
        match &error {
            None => {
                c.records_acked.fetch_add(n as u64, Ordering::Relaxed);
                c.bytes_acked.fetch_add(b.payload_len as u64, Ordering::Relaxed);
                c.batches_acked.fetch_add(1, Ordering::Relaxed);
            }
            Some(_) => {
                c.records_failed.fetch_add(n as u64, Ordering::Relaxed);
                c.batches_failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        let orphan = Orphan {
            topic_id: b.topic_id,
            opaques: std::mem::take(&mut b.opaques),
            sync: std::mem::take(&mut b.sync),
            charge: b.charge,
        };
        self.settle(orphan, batch_id, error);
        // The batch's buffers (up to a frame) are freed here, outside the lock.
        drop(b);
    }

    /// Queues the reports of `records` and releases their payload memory.
    fn settle(&self, records: Orphan, batch_id: u64, error: Option<Error>) {
        let Orphan { topic_id, mut opaques, sync, charge } = records;
        let n = opaques.len();
        if !sync.is_empty() {
            let result = match &error {
                None => Ok(batch_id),
                Some(e) => Err(e.clone()),
            };
            // Remove from the back so indices stay valid.
            for (idx, tx) in sync.into_iter().rev() {
                let _ = tx.send(result.clone());
                if idx < opaques.len() {
                    opaques.remove(idx);
                }
            }
        }
        let mut core = self.core.lock();
        if let (Some(e), false) = (&error, self.has_callback) {
            let n = opaques.iter().filter(|&&o| o == 0).count();
            core.unobserved.note(n, e);
        }
        let kept = core.reports.push(topic_id, batch_id, opaques, error);
        core.memory.release(charge.saturating_sub(kept));
        core.incomplete -= n;
        if kept > 0 {
            self.wake.signal();
        }
        self.wake_all(&core);
    }

    /// Serves up to `max` of the reports queued when the first one is there, waiting until
    /// `first_by` for it: into `out` if given, else to the callback (or dropped when there is
    /// none). Waits for the right to dispatch (another thread's callback) until `dispatch_by`.
    /// Returns how many were served.
    pub fn serve(
        &self,
        first_by: Instant,
        dispatch_by: Instant,
        max: usize,
        mut out: Option<&mut Vec<DeliveryReport>>,
    ) -> usize {
        let mut served = 0;
        let mut chunk = Vec::new();
        // What was queued when the first report was there: served in full, but reports that
        // keep arriving meanwhile are left for the next call, so a poll always returns.
        let mut max = max;
        let mut limited = false;
        while served < max {
            {
                let mut core = self.core.lock();
                while core.reports.is_empty() && served == 0 && core.life.phase() != Phase::Closed {
                    if Instant::now() >= first_by {
                        break;
                    }
                    core.progress_waiters += 1;
                    let timed_out = self.progress.wait_until(&mut core, first_by).timed_out();
                    core.progress_waiters -= 1;
                    if timed_out {
                        break;
                    }
                }
                if core.reports.is_empty() {
                    return served;
                }
                if !limited {
                    max = max.min(core.reports.records());
                    limited = true;
                }
            }
            match out.as_deref_mut() {
                Some(out) => {
                    let before = out.len();
                    self.take_reports(max - served, out);
                    served += out.len() - before;
                }
                None => {
                    // Take the dispatch right before the reports, so reports are served in order.
                    let Some(mut cb) = self.dispatch.try_lock_until(dispatch_by) else { return served };
                    chunk.clear();
                    self.take_reports((max - served).min(SERVE_CHUNK), &mut chunk);
                    served += chunk.len();
                    if let Some(cb) = cb.as_mut() {
                        let _scope = crate::reentry::Scope::enter(self as *const Shared as usize);
                        for r in &chunk {
                            // A panicking callback must not poison the producer.
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(r)));
                        }
                    }
                }
            }
        }
        served
    }

    fn take_reports(&self, max: usize, out: &mut Vec<DeliveryReport>) {
        let mut core = self.core.lock();
        let freed = core.reports.take(max, out);
        core.memory.release(freed);
        if core.reports.is_empty() {
            self.wake.clear();
            // Events share the eventfd: keep it readable while they wait.
            self.events.rearm();
        }
        if freed > 0 && core.space_waiters > 0 {
            self.space.notify_all();
        }
        if core.progress_waiters > 0 {
            self.progress.notify_all();
        }
    }

    /// Sends everything buffered now and waits until `deadline` for every outcome (and, with a
    /// callback, serves the reports). Returns how many records remain.
    pub fn flush(&self, deadline: Instant) -> usize {
        self.flushing.fetch_add(1, Ordering::AcqRel);
        self.wake_lanes();
        let remaining = loop {
            {
                let mut core = self.core.lock();
                let remaining = core.incomplete + if self.has_callback { core.reports.records() } else { 0 };
                if remaining == 0 || Instant::now() >= deadline {
                    break remaining;
                }
                if !self.has_callback || core.reports.is_empty() {
                    core.progress_waiters += 1;
                    self.progress.wait_until(&mut core, deadline);
                    core.progress_waiters -= 1;
                    continue;
                }
            }
            self.serve(Instant::now(), deadline, usize::MAX, None);
        };
        self.flushing.fetch_sub(1, Ordering::AcqRel);
        remaining
    }

    /// Seals `lane`'s batches whose linger passed (all of them while flushing or closing), and
    /// sets the lane's batch size limit. While the window is full nothing lingers out: a sealed
    /// batch could not be sent, and holding lets it grow (adaptive batching, `accumulator`).
    pub fn seal_due(&self, lane: usize, now: Instant, load: WindowLoad) -> Option<Instant> {
        let force = self.flushing.load(Ordering::Acquire) > 0;
        let mut core = self.core.lock();
        let force = force || core.life.phase() != Phase::Open;
        core.acc.set_window_load(lane, load);
        if load == WindowLoad::Full && !force {
            return None;
        }
        core.acc.seal_due(lane, now, self.settings.linger, force)
    }

    /// The batch size limit in force now (the largest over the lanes).
    pub fn batch_limit(&self) -> usize {
        let core = self.core.lock();
        (0..self.settings.lanes).map(|l| core.acc.limit(l)).max().unwrap_or(0)
    }

    /// The next sealed batch of `lane`, merged with the ones right behind it of the same topic
    /// up to the lane's size limit (the copying happens after the lock is released).
    pub fn pop_ready(&self, lane: usize) -> Option<Batch> {
        let run = self.core.lock().acc.pop_ready_run(lane);
        let mut it = run.into_iter();
        let mut first = it.next()?;
        for b in it {
            first.absorb(b);
        }
        Some(first)
    }

    pub fn has_ready(&self, lane: usize) -> bool {
        self.core.lock().acc.has_ready(lane)
    }

    pub fn expire_ready(&self, lane: usize, now: Instant) -> Vec<Batch> {
        self.core.lock().acc.expire_ready(lane, now)
    }

    /// Removes every batch not yet handed to a sender: of `lane`, or of every lane.
    pub fn drain(&self, lane: Option<usize>) -> Vec<Batch> {
        self.core.lock().acc.drain(lane)
    }

    /// Fails every batch not yet handed to a sender with PURGED. Returns how many records.
    pub fn purge(&self) -> usize {
        let batches = self.drain(None);
        let n = batches.iter().map(|b| b.records()).sum();
        for b in batches {
            self.complete(b, 0, Some(Error::new(ErrorCode::Purged, "purged before it was sent")));
        }
        n
    }

    /// The body of `Producer::close`: stop accepting, flush until `deadline`, purge, stop the
    /// senders (`join_senders` joins their threads), serve what is left, mark closed. False if
    /// another thread's close did not finish by `deadline`.
    pub fn close(&self, deadline: Instant, join_senders: impl FnOnce()) -> bool {
        if !self.begin_close() {
            return self.wait_closed(deadline);
        }
        *self.close_deadline.lock() = Some(deadline);
        self.flush(deadline);
        self.abort.store(true, Ordering::Release);
        self.purge();
        self.wake_lanes();
        join_senders();
        // Everything has its outcome now; serve what is left to the callback.
        if self.has_callback {
            self.serve(Instant::now(), deadline, usize::MAX, None);
        }
        self.finish_close();
        true
    }

    /// Starts closing (false if already closing or closed); wakes every waiter.
    pub fn begin_close(&self) -> bool {
        let mut core = self.core.lock();
        let first = core.life.begin_close();
        self.space.notify_all();
        self.progress.notify_all();
        drop(core);
        first
    }

    /// Marks the handle closed and wakes every waiter.
    pub fn finish_close(&self) {
        for o in self.orphans.take() {
            self.settle(o, 0, Some(Error::new(ErrorCode::Panic, "batch lost by a panicking library thread")));
        }
        let mut core = self.core.lock();
        core.life.finish_close();
        self.space.notify_all();
        self.progress.notify_all();
    }

    /// Waits until another thread's `close` finished, or `deadline`. True if closed.
    pub fn wait_closed(&self, deadline: Instant) -> bool {
        let mut core = self.core.lock();
        while core.life.phase() != Phase::Closed {
            core.progress_waiters += 1;
            let t = self.progress.wait_until(&mut core, deadline).timed_out();
            core.progress_waiters -= 1;
            if t {
                return core.life.phase() == Phase::Closed;
            }
        }
        true
    }

    pub fn phase(&self) -> Phase {
        self.core.lock().life.phase()
    }

    pub fn fatal(&self) -> Option<Error> {
        self.core.lock().life.fatal().cloned()
    }

    /// Fails the handle: new records are refused with `e`, every waiter wakes, and every record
    /// not yet handed to a sender (and any orphaned by a panic) gets `e` as its report. Senders
    /// fail what they hold when they see it.
    pub fn fail_fatal(&self, e: Error) {
        let (fatal, batches) = {
            let mut core = self.core.lock();
            if !core.life.fail(e) {
                return;
            }
            let fatal = core.life.fatal().cloned().unwrap_or_else(|| Error::new(ErrorCode::State, "failed"));
            let batches = core.acc.drain(None);
            self.space.notify_all();
            self.progress.notify_all();
            (fatal, batches)
        };
        self.events
            .emit(crate::events::Event::new(crate::events::EventKind::Fatal, fatal.message.clone()).code(fatal.code));
        self.wake_lanes();
        for b in batches {
            self.complete(b, 0, Some(fatal.clone()));
        }
        for o in self.orphans.take() {
            self.settle(o, 0, Some(fatal.clone()));
        }
    }

    /// Makes the eventfd readable exactly while reports or events wait (after `poll_events`).
    /// Clear first, then look: a report or event queued meanwhile re-signals it.
    pub fn rearm_after_events(&self) {
        let core = self.core.lock();
        self.wake.clear();
        if !core.reports.is_empty() {
            self.wake.signal();
        }
        drop(core);
        self.events.rearm();
    }

    /// Records without a served report; bytes charged.
    pub fn gauges(&self) -> (usize, usize) {
        let core = self.core.lock();
        (core.incomplete + core.reports.records(), core.memory.used())
    }

    /// Refuses `what` from inside this producer's callback on this thread.
    pub fn guard_not_in_callback(&self, what: &str) -> Result<()> {
        if crate::reentry::active(self as *const Shared as usize) {
            return Err(Error::new(
                ErrorCode::InCallback,
                format!("{what} called from inside this producer's delivery callback"),
            ));
        }
        Ok(())
    }
}
