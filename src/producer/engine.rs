//! Producer engine: accumulator, sender threads, ack attribution, report queue.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Condvar, Mutex};

use super::message::{now_ns, Message};
use super::metrics::{Counters, ProducerMetrics};
use crate::config::Config;
use crate::error::{Error, ErrorCode, Result};
use crate::net::{dial, Connection, NetConfig, Router};
use crate::notify::WakeFd;
use crate::wire::control::{decode_error_text, reply_code};
use crate::wire::header::{flags, Header, HEADER_LEN};
use crate::wire::tlv::encode_envelope;
use crate::wire::{Frame, FrameKind};

/// The final outcome of one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryReport {
    /// The topic it was sent to.
    pub topic_id: u32,
    /// The caller's value from `send`.
    pub opaque: u64,
    /// The batch id of the acknowledged (or last) attempt; 0 if it was never sent.
    pub batch_id: u64,
    /// `None`: acknowledged (written and fsynced). `Some`: the final error.
    pub error: Option<Error>,
}

/// A delivery callback, run on the thread calling `poll`, `flush` or `close`.
pub type DeliveryCallback = Box<dyn FnMut(&DeliveryReport) + Send>;

struct Settings {
    batch_size: usize,
    linger: Duration,
    max_in_flight: usize,
    delivery_timeout: Duration,
    buffer_memory: usize,
    send_block: bool,
    send_timeout: Duration,
    retries: u32,
    retry_backoff: Duration,
    compression: bool,
    compression_min: usize,
    lanes: usize,
    max_payload: usize,
}

impl Settings {
    fn from_config(c: &Config) -> Settings {
        Settings {
            batch_size: c.get_u64("batch.size") as usize,
            linger: c.get_ms("linger.ms"),
            max_in_flight: c.get_u64("max.in.flight") as usize,
            delivery_timeout: c.get_ms("delivery.timeout.ms"),
            buffer_memory: c.get_u64("buffer.memory") as usize,
            send_block: c.get_bool("send.block"),
            send_timeout: c.get_ms("send.timeout.ms"),
            retries: c.get_u64("retries").min(u32::MAX as u64) as u32,
            retry_backoff: c.get_ms("retry.backoff.ms"),
            compression: c.get_str("compression") == "lz4",
            compression_min: c.get_u64("compression.min.bytes") as usize,
            lanes: c.get_u64("connections") as usize,
            max_payload: c.max_payload(),
        }
    }
}

/// A batch of records for one topic. `frame` holds 44 reserved header bytes, then the payload.
struct Batch {
    topic_id: u32,
    frame: Vec<u8>,
    opaques: Vec<u64>,
    /// Records whose report goes to a `send_sync` caller instead of the queue: (index, waiter).
    sync: Vec<(usize, Sender<Result<u64>>)>,
    /// Buffer-memory bytes held until the batch completes.
    accounted: usize,
    created: Instant,
    /// Delivery deadline of the oldest record.
    deadline: Instant,
    /// Times written to the wire.
    attempts: u32,
    /// An earlier attempt's outcome is unknown: a resend may duplicate it.
    maybe_stored: bool,
    /// Why the last attempt failed.
    last_error: Option<Error>,
    /// The finished frame, once sealed and finalised.
    wire: Option<Arc<Vec<u8>>>,
    payload_len: usize,
}

impl Batch {
    fn new(topic_id: u32, cap: usize, now: Instant, delivery_timeout: Duration) -> Batch {
        let mut frame = Vec::with_capacity(HEADER_LEN + cap);
        frame.resize(HEADER_LEN, 0);
        Batch {
            topic_id,
            frame,
            opaques: Vec::new(),
            sync: Vec::new(),
            accounted: 0,
            created: now,
            deadline: now + delivery_timeout,
            attempts: 0,
            maybe_stored: false,
            last_error: None,
            wire: None,
            payload_len: 0,
        }
    }

    fn records(&self) -> usize {
        self.opaques.len()
    }
}

struct InFlight {
    batch: Batch,
    batch_id: u64,
    sent_at: Instant,
}

/// Per-lane state shared by the sender thread and the connection's reader.
#[derive(Default)]
struct Flight {
    /// On the current connection, in send order (lwp.md §2.3 "I").
    inflight: VecDeque<InFlight>,
    /// Unattributed ingest error texts ("Q").
    errors: VecDeque<Error>,
    /// Batches to resend first, in original order.
    retry: VecDeque<Batch>,
    /// NOT_LEADER redirect target for the next connection.
    redirect: Option<String>,
    /// Generation of the current connection (stale routers are ignored).
    generation: u64,
    /// Set by the router when the connection died: the sender must reconnect.
    dead: bool,
}

struct Lane {
    flight: Mutex<Flight>,
    notify_tx: Sender<()>,
    notify_rx: Receiver<()>,
}

impl Lane {
    fn wake(&self) {
        let _ = self.notify_tx.try_send(());
    }
}

struct State {
    open: HashMap<u32, Batch>,
    /// Sealed, never-sent batches per lane.
    ready: Vec<VecDeque<Batch>>,
}

struct ReportEntry {
    topic_id: u32,
    batch_id: u64,
    opaques: Vec<u64>,
    error: Option<Error>,
    served: usize,
}

#[derive(Default)]
struct ReportQueue {
    entries: VecDeque<ReportEntry>,
    /// Records in `entries` not yet served.
    records: usize,
}

struct Inner {
    settings: Settings,
    net: NetConfig,
    state: Mutex<State>,
    lanes: Vec<Lane>,
    /// Buffered + in-flight record bytes.
    buffered: AtomicUsize,
    space_lock: Mutex<()>,
    space_cv: Condvar,
    space_waiters: AtomicUsize,
    /// Records accepted whose outcome is not known yet.
    incomplete: AtomicUsize,
    reports: Mutex<ReportQueue>,
    reports_cv: Condvar,
    wake: WakeFd,
    callback: Mutex<Option<DeliveryCallback>>,
    /// `send` refuses new records.
    closing: AtomicBool,
    /// Sender threads must give up everything and exit.
    abort: AtomicBool,
    /// Linger is ignored while a flush is running.
    flushing: AtomicUsize,
    fatal: Mutex<Option<Error>>,
    closed: AtomicBool,
    counters: Counters,
    /// Deadline of an ongoing close, bounding reconnect attempts.
    close_deadline: Mutex<Option<Instant>>,
}

thread_local! {
    /// Producers whose callback is running on this thread (re-entrancy guard).
    static IN_CALLBACK: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// A thread-safe producer. See the module documentation.
pub struct Producer {
    inner: Arc<Inner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Producer {
    /// A producer without a delivery callback: take reports with [`Producer::poll_reports`].
    pub fn new(config: &Config) -> Result<Producer> {
        Producer::build(config, None)
    }

    /// A producer whose reports are passed to `callback` inside `poll`, `flush` and `close`.
    pub fn with_callback(config: &Config, callback: impl FnMut(&DeliveryReport) + Send + 'static) -> Result<Producer> {
        Producer::build(config, Some(Box::new(callback)))
    }

    fn build(config: &Config, callback: Option<DeliveryCallback>) -> Result<Producer> {
        let settings = Settings::from_config(config);
        let net = NetConfig::from_config(config)?;
        if settings.batch_size > settings.max_payload {
            return Err(Error::new(ErrorCode::InvalidValue, "batch.size exceeds max.frame.bytes minus the 44-byte header"));
        }
        let lanes = (0..settings.lanes)
            .map(|_| {
                let (notify_tx, notify_rx) = crossbeam_channel::bounded(1);
                Lane { flight: Mutex::new(Flight::default()), notify_tx, notify_rx }
            })
            .collect();
        let inner = Arc::new(Inner {
            state: Mutex::new(State { open: HashMap::new(), ready: (0..settings.lanes).map(|_| VecDeque::new()).collect() }),
            lanes,
            settings,
            net,
            buffered: AtomicUsize::new(0),
            space_lock: Mutex::new(()),
            space_cv: Condvar::new(),
            space_waiters: AtomicUsize::new(0),
            incomplete: AtomicUsize::new(0),
            reports: Mutex::new(ReportQueue::default()),
            reports_cv: Condvar::new(),
            wake: WakeFd::new().map_err(|e| Error::new(ErrorCode::Io, format!("eventfd: {e}")))?,
            callback: Mutex::new(callback),
            closing: AtomicBool::new(false),
            abort: AtomicBool::new(false),
            flushing: AtomicUsize::new(0),
            fatal: Mutex::new(None),
            closed: AtomicBool::new(false),
            counters: Counters::new(),
            close_deadline: Mutex::new(None),
        });
        let mut threads = Vec::new();
        for lane in 0..inner.settings.lanes {
            let i = inner.clone();
            let t = std::thread::Builder::new()
                .name(format!("lnc-producer-{lane}"))
                .spawn(move || Sender_::new(i, lane).run())
                .map_err(|e| Error::new(ErrorCode::Io, format!("cannot spawn sender thread: {e}")))?;
            threads.push(t);
        }
        Ok(Producer { inner, threads: Mutex::new(threads) })
    }

    /// Appends one record to `topic_id`'s batch. `opaque` comes back in its delivery report.
    ///
    /// Errors (the record is then not accepted and gets no report): INVALID_ARG, MSG_TOO_LARGE,
    /// QUEUE_FULL, CLOSED, or the producer's fatal error.
    pub fn send(&self, topic_id: u32, msg: &Message<'_>, opaque: u64) -> Result<()> {
        self.send_inner(topic_id, std::slice::from_ref(msg), &[opaque], None)
    }

    /// Appends several records atomically: all are accepted or none. Record `i` reports
    /// `first_opaque + i`.
    pub fn send_batch(&self, topic_id: u32, msgs: &[Message<'_>], first_opaque: u64) -> Result<()> {
        let opaques: Vec<u64> = (0..msgs.len() as u64).map(|i| first_opaque.wrapping_add(i)).collect();
        self.send_inner(topic_id, msgs, &opaques, None)
    }

    /// Like [`Producer::send_batch`] with one opaque per record (`opaques.len() == msgs.len()`).
    pub fn send_batch_with_opaques(&self, topic_id: u32, msgs: &[Message<'_>], opaques: &[u64]) -> Result<()> {
        if msgs.len() != opaques.len() {
            return Err(Error::invalid_arg(format!("{} messages but {} opaques", msgs.len(), opaques.len())));
        }
        self.send_inner(topic_id, msgs, opaques, None)
    }

    /// Sends one record and waits for its acknowledgement; returns the batch id. Its report goes
    /// to this call only, not to the callback or `poll_reports`.
    pub fn send_sync(&self, topic_id: u32, msg: &Message<'_>, timeout: Duration) -> Result<u64> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.send_inner(topic_id, std::slice::from_ref(msg), &[0], Some(tx))?;
        self.inner.flushing.fetch_add(1, Ordering::AcqRel);
        for lane in &self.inner.lanes {
            lane.wake();
        }
        let r = rx.recv_timeout(timeout);
        self.inner.flushing.fetch_sub(1, Ordering::AcqRel);
        match r {
            Ok(r) => r,
            Err(_) => Err(Error::timed_out(
                "no delivery report before the timeout; the record is still queued and will be reported to this call's \
                 channel only (it may yet be delivered)",
            )),
        }
    }

    fn send_inner(&self, topic_id: u32, msgs: &[Message<'_>], opaques: &[u64], sync: Option<Sender<Result<u64>>>) -> Result<()> {
        let inner = &self.inner;
        if inner.closing.load(Ordering::Acquire) {
            return Err(Error::closed("producer is closed"));
        }
        if let Some(e) = inner.fatal.lock().clone() {
            return Err(e);
        }
        if topic_id == 0 {
            return Err(Error::invalid_arg("topic id 0 is not a topic: the server stores it but it can never be fetched"));
        }
        let mut total = 0usize;
        for m in msgs {
            let n = m.encoded_len()?;
            if n > inner.settings.max_payload {
                return Err(Error::new(
                    ErrorCode::MsgTooLarge,
                    format!("record of {n} bytes exceeds the {}-byte frame payload limit (max.frame.bytes)", inner.settings.max_payload),
                ));
            }
            total += n;
        }
        if msgs.is_empty() {
            return Ok(());
        }
        inner.reserve(total)?;
        let now = Instant::now();
        let ts = now_ns();
        let lane = topic_id as usize % inner.settings.lanes;
        let mut notify = false;
        {
            let mut st = inner.state.lock();
            for (i, m) in msgs.iter().enumerate() {
                let n = m.encoded_len().expect("validated above");
                // Seal before a record would take the batch past batch.size (a record larger than
                // batch.size travels alone), so a batch buffer never outgrows its reservation.
                let need_new = match st.open.get(&topic_id) {
                    Some(b) => b.payload_len > 0 && b.payload_len + n > inner.settings.batch_size,
                    None => true,
                };
                if need_new {
                    if let Some(b) = st.open.remove(&topic_id) {
                        st.ready[lane].push_back(b);
                    }
                    let cap = inner.settings.batch_size.max(n).min(inner.settings.max_payload);
                    st.open.insert(topic_id, Batch::new(topic_id, cap, now, inner.settings.delivery_timeout));
                    notify = true;
                }
                let b = st.open.get_mut(&topic_id).expect("just ensured");
                let written = m.encode_into(&mut b.frame, ts).expect("validated above");
                b.payload_len += written;
                b.accounted += written;
                if let (Some(tx), 0) = (&sync, i) {
                    b.sync.push((b.opaques.len(), tx.clone()));
                }
                b.opaques.push(opaques[i]);
                if b.payload_len >= inner.settings.batch_size {
                    let b = st.open.remove(&topic_id).expect("present");
                    st.ready[lane].push_back(b);
                    notify = true;
                }
            }
        }
        inner.incomplete.fetch_add(msgs.len(), Ordering::AcqRel);
        if notify {
            inner.lanes[lane].wake();
        }
        Ok(())
    }

    /// Serves queued delivery reports to the callback (or discards them when there is none),
    /// waiting up to `timeout` for the first. Returns how many were served.
    pub fn poll(&self, timeout: Duration) -> Result<usize> {
        self.inner.guard_not_in_callback("poll")?;
        Ok(self.inner.serve(timeout, usize::MAX, None))
    }

    /// Takes up to `max` queued reports as values (no callback), waiting up to `timeout` for the
    /// first. Works after `close` too, to drain what is left.
    pub fn poll_reports(&self, max: usize, timeout: Duration) -> Vec<DeliveryReport> {
        let mut out = Vec::new();
        self.inner.serve(timeout, max, Some(&mut out));
        out
    }

    /// Sends everything buffered now (ignoring linger) and waits until every record has a final
    /// outcome, serving reports to the callback meanwhile. Returns how many records remain.
    pub fn flush(&self, timeout: Duration) -> Result<usize> {
        self.inner.guard_not_in_callback("flush")?;
        Ok(self.inner.flush(Instant::now() + timeout))
    }

    /// Fails every record not yet written to the wire with PURGED (reported as usual). Returns
    /// how many were purged. In-flight batches are not affected.
    pub fn purge(&self) -> usize {
        let inner = &self.inner;
        let batches: Vec<Batch> = {
            let mut st = inner.state.lock();
            let mut v: Vec<Batch> = st.open.drain().map(|(_, b)| b).collect();
            for q in st.ready.iter_mut() {
                v.extend(q.drain(..));
            }
            v
        };
        let n = batches.iter().map(Batch::records).sum();
        for b in batches {
            inner.complete(b, 0, Some(Error::new(ErrorCode::Purged, "purged before it was sent")));
        }
        n
    }

    /// Flushes until `timeout`, then purges what is left (unsent → PURGED, in flight →
    /// UNKNOWN_OUTCOME), joins every thread and serves the remaining reports. No callback runs
    /// after it returns. Idempotent. Calling it from inside this producer's callback is
    /// IN_CALLBACK.
    pub fn close(&self, timeout: Duration) -> Result<()> {
        let inner = &self.inner;
        inner.guard_not_in_callback("close")?;
        if inner.closed.load(Ordering::Acquire) {
            return Ok(());
        }
        let deadline = Instant::now() + timeout;
        *inner.close_deadline.lock() = Some(deadline);
        inner.closing.store(true, Ordering::Release);
        inner.flush(deadline);
        inner.abort.store(true, Ordering::Release);
        self.purge();
        for lane in &inner.lanes {
            lane.wake();
        }
        for t in self.threads.lock().drain(..) {
            let _ = t.join();
        }
        // Everything now has its report queued; serve them (callback users) and finish.
        if inner.callback.lock().is_some() {
            inner.serve(Duration::ZERO, usize::MAX, None);
        }
        inner.space_cv.notify_all();
        inner.closed.store(true, Ordering::Release);
        Ok(())
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> ProducerMetrics {
        let i = &self.inner;
        let c = &i.counters;
        let g = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        ProducerMetrics {
            records_sent: g(&c.records_sent),
            records_acked: g(&c.records_acked),
            records_failed: g(&c.records_failed),
            bytes_sent: g(&c.bytes_sent),
            bytes_acked: g(&c.bytes_acked),
            batches_sent: g(&c.batches_sent),
            batches_acked: g(&c.batches_acked),
            batches_failed: g(&c.batches_failed),
            batches_retried: g(&c.batches_retried),
            records_retried: g(&c.records_retried),
            possible_duplicates: g(&c.possible_duplicates),
            connects: g(&c.connects),
            disconnects: g(&c.disconnects),
            server_errors: g(&c.server_errors),
            batches_compressed: g(&c.batches_compressed),
            in_flight_batches: i.lanes.iter().map(|l| l.flight.lock().inflight.len() as u64).sum(),
            buffered_bytes: i.buffered.load(Ordering::Relaxed) as u64,
            outstanding_records: (i.incomplete.load(Ordering::Relaxed) + i.reports.lock().records) as u64,
            ack_latency_p50_us: c.ack_latency.quantile_us(0.50),
            ack_latency_p99_us: c.ack_latency.quantile_us(0.99),
        }
    }

    /// Records accepted whose report has not been served yet.
    pub fn outstanding(&self) -> usize {
        self.inner.incomplete.load(Ordering::Acquire) + self.inner.reports.lock().records
    }

    /// An eventfd that is readable while delivery reports are waiting. Owned by the producer.
    pub fn eventfd(&self) -> i32 {
        self.inner.wake.fd()
    }

    /// True while this producer's delivery callback runs on the current thread (where `close`,
    /// `flush`, `poll` and freeing the handle are refused).
    pub fn in_callback(&self) -> bool {
        self.inner.guard_not_in_callback("").is_err()
    }

    /// The fatal error that stopped the producer, if any.
    pub fn fatal_error(&self) -> Option<Error> {
        self.inner.fatal.lock().clone()
    }
}

impl Drop for Producer {
    /// Closes with a 5 s flush if `close` was not called.
    fn drop(&mut self) {
        if !self.inner.closed.load(Ordering::Acquire) {
            let _ = self.close(Duration::from_secs(5));
        }
    }
}

impl Inner {
    fn guard_not_in_callback(&self, what: &str) -> Result<()> {
        let me = self as *const Inner as usize;
        if IN_CALLBACK.with(|c| c.borrow().contains(&me)) {
            return Err(Error::new(ErrorCode::InCallback, format!("{what} called from inside this producer's delivery callback")));
        }
        Ok(())
    }

    /// Reserves buffer memory, blocking per send.block / send.timeout.ms.
    fn reserve(&self, n: usize) -> Result<()> {
        let limit = self.settings.buffer_memory;
        if n > limit {
            return Err(Error::new(ErrorCode::MsgTooLarge, format!("{n} bytes exceed buffer.memory ({limit})")));
        }
        let try_take = || {
            self.buffered
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| (cur + n <= limit).then_some(cur + n))
                .is_ok()
        };
        if try_take() {
            return Ok(());
        }
        let full = || Error::new(ErrorCode::QueueFull, format!("buffer.memory ({limit} bytes) is full"));
        if !self.settings.send_block || self.settings.send_timeout.is_zero() {
            return Err(full());
        }
        let deadline = Instant::now() + self.settings.send_timeout;
        self.space_waiters.fetch_add(1, Ordering::AcqRel);
        let mut g = self.space_lock.lock();
        let result = loop {
            if try_take() {
                break Ok(());
            }
            if self.closing.load(Ordering::Acquire) {
                break Err(Error::closed("producer closed while waiting for buffer space"));
            }
            if let Some(e) = self.fatal.lock().clone() {
                break Err(e);
            }
            if Instant::now() >= deadline {
                break Err(full());
            }
            // release() frees space before taking space_lock, so no wakeup is lost.
            self.space_cv.wait_until(&mut g, deadline);
        };
        drop(g);
        self.space_waiters.fetch_sub(1, Ordering::AcqRel);
        result
    }

    fn release(&self, n: usize) {
        self.buffered.fetch_sub(n, Ordering::AcqRel);
        if self.space_waiters.load(Ordering::Acquire) > 0 {
            let _g = self.space_lock.lock();
            self.space_cv.notify_all();
        }
    }

    /// Final outcome of a batch: counters, memory, sync waiters, report entry.
    fn complete(&self, mut b: Batch, batch_id: u64, error: Option<Error>) {
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
        self.release(b.accounted);
        let mut opaques = std::mem::take(&mut b.opaques);
        if !b.sync.is_empty() {
            let result = match &error {
                None => Ok(batch_id),
                Some(e) => Err(e.clone()),
            };
            // Remove from the back so indices stay valid.
            for (idx, tx) in b.sync.drain(..).rev() {
                let _ = tx.send(result.clone());
                opaques.remove(idx);
            }
        }
        // Queue the reports before the records stop counting as incomplete: a flush reading both
        // counters in between must never see zero while a report is not yet queued.
        if !opaques.is_empty() {
            let mut q = self.reports.lock();
            q.records += opaques.len();
            q.entries.push_back(ReportEntry { topic_id: b.topic_id, batch_id, opaques, error, served: 0 });
            drop(q);
            self.wake.signal();
        }
        self.incomplete.fetch_sub(n, Ordering::AcqRel);
        self.reports_cv.notify_all();
    }

    /// Serves up to `max` reports: into `out` if given, else to the callback (or dropped).
    fn serve(&self, timeout: Duration, max: usize, mut out: Option<&mut Vec<DeliveryReport>>) -> usize {
        let deadline = Instant::now() + timeout;
        let mut served = 0;
        // One thread dispatches at a time so callbacks never run concurrently.
        let mut cb_guard = if out.is_none() { Some(self.callback.lock()) } else { None };
        loop {
            let taken: Vec<DeliveryReport> = {
                let mut q = self.reports.lock();
                while q.entries.is_empty() && served == 0 && !timeout.is_zero() {
                    if self.reports_cv.wait_until(&mut q, deadline).timed_out() {
                        break;
                    }
                }
                let mut v = Vec::new();
                while served + v.len() < max {
                    let Some(e) = q.entries.front_mut() else { break };
                    let take = (e.opaques.len() - e.served).min(max - served - v.len());
                    for &op in &e.opaques[e.served..e.served + take] {
                        v.push(DeliveryReport { topic_id: e.topic_id, opaque: op, batch_id: e.batch_id, error: e.error.clone() });
                    }
                    e.served += take;
                    if e.served == e.opaques.len() {
                        q.entries.pop_front();
                    }
                    if v.len() >= 4096 {
                        break;
                    }
                }
                q.records -= v.len();
                if q.entries.is_empty() {
                    self.wake.clear();
                }
                v
            };
            if taken.is_empty() {
                return served;
            }
            served += taken.len();
            match (&mut out, &mut cb_guard) {
                (Some(out), _) => out.extend(taken),
                (None, Some(cb)) => {
                    if let Some(cb) = cb.as_mut() {
                        let me = self as *const Inner as usize;
                        IN_CALLBACK.with(|c| c.borrow_mut().push(me));
                        for r in &taken {
                            // A panicking callback must not poison the producer.
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(r)));
                        }
                        IN_CALLBACK.with(|c| c.borrow_mut().retain(|p| *p != me));
                    }
                }
                (None, None) => {}
            }
            if served >= max {
                return served;
            }
        }
    }

    fn flush(&self, deadline: Instant) -> usize {
        self.flushing.fetch_add(1, Ordering::AcqRel);
        for lane in &self.lanes {
            lane.wake();
        }
        let has_cb = self.callback.lock().is_some();
        loop {
            // incomplete first: a record moves from it to the report queue, never the other way.
            let incomplete = self.incomplete.load(Ordering::Acquire);
            let remaining = incomplete + if has_cb { self.reports.lock().records } else { 0 };
            let now = Instant::now();
            if remaining == 0 || now >= deadline {
                self.flushing.fetch_sub(1, Ordering::AcqRel);
                return remaining;
            }
            let slice = (deadline - now).min(Duration::from_millis(5));
            if has_cb {
                self.serve(slice, usize::MAX, None);
            } else {
                let mut q = self.reports.lock();
                let _ = self.reports_cv.wait_for(&mut q, slice);
            }
        }
    }

    fn fail_fatal(&self, e: Error) {
        *self.fatal.lock() = Some(e);
        self.space_cv.notify_all();
    }
}

/// Routes frames of one producer connection into its lane (runs on the reader thread).
struct LaneRouter {
    inner: Arc<Inner>,
    lane: usize,
    generation: u64,
}

impl LaneRouter {
    fn flight(&self) -> Option<parking_lot::MutexGuard<'_, Flight>> {
        let f = self.inner.lanes[self.lane].flight.lock();
        (f.generation == self.generation).then_some(f)
    }
}

impl Router for LaneRouter {
    fn on_frame(&self, frame: Frame) -> Result<()> {
        let Some(mut f) = self.flight() else { return Ok(()) };
        let now = Instant::now();
        match frame.kind() {
            FrameKind::Ack => {
                let k = frame.header.batch_id;
                let pos = f.inflight.iter().position(|x| x.batch_id == k).ok_or_else(|| {
                    Error::protocol(format!("Ack for batch {k}, which is not in flight on this connection"))
                })?;
                if pos > f.errors.len() {
                    // Some batch before k got neither Ack nor error (cluster quorum loss, lwp.md
                    // §2.3): which text belongs to which batch is no longer knowable. Attribute
                    // nothing; all of them have an unknown outcome and are resent in order.
                    let acked = f.inflight.remove(pos).expect("found above");
                    self.inner.counters.ack_latency.record_n(now - acked.sent_at, acked.batch.records() as u64);
                    self.inner.complete(acked.batch, k, None);
                    f.errors.clear();
                    for _ in 0..pos {
                        let mut x = f.inflight.pop_back().expect("pos items before k");
                        x.batch.maybe_stored = true;
                        x.batch.last_error = Some(Error::new(ErrorCode::UnknownOutcome, "no reply from the server"));
                        f.retry.push_front(x.batch);
                    }
                    return Err(Error::protocol("a batch got neither Ack nor error; resetting the connection"));
                }
                // Every batch sent before k was rejected: the oldest batch takes the oldest text.
                for _ in 0..pos {
                    let x = f.inflight.pop_front().expect("pos < len");
                    let e = f.errors.pop_front().expect("pos <= errors");
                    self.reject(x, e);
                }
                let acked = f.inflight.pop_front().expect("found above");
                self.inner.counters.ack_latency.record_n(now - acked.sent_at, acked.batch.records() as u64);
                self.inner.complete(acked.batch, k, None);
                self.pair_all(&mut f);
                drop(f);
                // A window slot is free: let the sender refill it now, not at its next tick.
                self.inner.lanes[self.lane].wake();
                Ok(())
            }
            FrameKind::Control if frame.header.code() == reply_code::ERROR_RESPONSE => {
                let e = Error::from_server_text(&decode_error_text(&frame.payload));
                self.inner.counters.server_errors.fetch_add(1, Ordering::Relaxed);
                let has_token = !self.inner.net.token.is_empty();
                let resend = e.retryable || e.code == ErrorCode::NotLeader || (e.code == ErrorCode::AuthRequired && has_token);
                if resend {
                    // Reset the connection so every unacknowledged batch is resent in order.
                    if e.code == ErrorCode::NotLeader {
                        f.redirect = e.leader.clone();
                    }
                    return Err(e);
                }
                f.errors.push_back(e);
                self.pair_all(&mut f);
                drop(f);
                self.inner.lanes[self.lane].wake();
                Ok(())
            }
            _ => Err(Error::protocol(format!(
                "unexpected reply code {:#04x} on a producer connection",
                frame.header.code()
            ))),
        }
    }

    fn check_deadlines(&self, now: Instant) -> Option<Error> {
        let f = self.flight()?;
        let oldest = f.inflight.front()?;
        (now.duration_since(oldest.sent_at) >= self.inner.net.request_timeout).then(|| {
            Error::timed_out(format!(
                "no Ack for batch {} within request.timeout.ms ({} ms)",
                oldest.batch_id,
                self.inner.net.request_timeout.as_millis()
            ))
        })
    }

    fn on_closed(&self, error: &Error, data_frames_attempted: u64) {
        let Some(mut f) = self.flight() else { return };
        f.dead = true;
        f.errors.clear();
        let n = f.inflight.len();
        for _ in 0..n {
            let mut x = f.inflight.pop_back().expect("n items");
            // Batch ids count this connection's data frames from 1, so a batch whose id is above
            // the attempted count never reached the socket: its outcome is known (not stored).
            if x.batch_id <= data_frames_attempted {
                x.batch.maybe_stored = true;
            }
            x.batch.last_error = Some(error.clone());
            f.retry.push_front(x.batch);
        }
        if n > 0 {
            self.inner.counters.disconnects.fetch_add(1, Ordering::Relaxed);
        }
        drop(f);
        self.inner.lanes[self.lane].wake();
    }
}

impl LaneRouter {
    fn reject(&self, x: InFlight, e: Error) {
        self.inner.complete(x.batch, x.batch_id, Some(e));
    }

    /// lwp.md §2.3 step 3: when every in-flight batch has an error text, they were all rejected.
    fn pair_all(&self, f: &mut Flight) {
        if !f.errors.is_empty() && f.inflight.len() == f.errors.len() {
            while let (Some(x), Some(e)) = (f.inflight.pop_front(), f.errors.pop_front()) {
                self.reject(x, e);
            }
        }
    }
}

/// One lane's sender thread.
struct Sender_ {
    inner: Arc<Inner>,
    lane: usize,
    conn: Option<Connection>,
    next_batch_id: u64,
    backoff: crate::net::Backoff,
    next_connect: Instant,
    /// Hold back resends after FORWARD_FAILED-like errors.
    resend_after: Instant,
}

impl Sender_ {
    fn new(inner: Arc<Inner>, lane: usize) -> Sender_ {
        let backoff = inner.net.backoff();
        Sender_ { inner, lane, conn: None, next_batch_id: 0, backoff, next_connect: Instant::now(), resend_after: Instant::now() }
    }

    fn lane(&self) -> &Lane {
        &self.inner.lanes[self.lane]
    }

    fn run(mut self) {
        loop {
            let now = Instant::now();
            let next_linger = self.collect_sealed(now);
            self.expire(now);
            if self.inner.abort.load(Ordering::Acquire) {
                self.shutdown();
                return;
            }
            let has_work = self.has_work();
            if has_work {
                self.ensure_connection(now);
                self.send_window(now);
            }
            let mut wait = Duration::from_millis(50);
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
                let _ = self.lane().notify_rx.recv_timeout(wait);
            }
        }
    }

    /// Seals this lane's lingering (or flushed) open batches; returns the next linger deadline.
    fn collect_sealed(&mut self, now: Instant) -> Option<Instant> {
        let inner = &self.inner;
        let force = inner.flushing.load(Ordering::Acquire) > 0 || inner.closing.load(Ordering::Acquire);
        let lanes = inner.settings.lanes;
        let mut st = inner.state.lock();
        let mut next = None::<Instant>;
        let due: Vec<u32> = st
            .open
            .iter()
            .filter(|(t, _)| **t as usize % lanes == self.lane)
            .filter_map(|(t, b)| {
                let at = b.created + inner.settings.linger;
                if force || at <= now {
                    Some(*t)
                } else {
                    next = Some(next.map_or(at, |n: Instant| n.min(at)));
                    None
                }
            })
            .collect();
        for t in due {
            let b = st.open.remove(&t).expect("listed");
            st.ready[self.lane].push_back(b);
        }
        next
    }

    fn has_work(&self) -> bool {
        let f = self.lane().flight.lock();
        !f.retry.is_empty() || !f.inflight.is_empty() || !self.inner.state.lock().ready[self.lane].is_empty()
    }

    /// Fails unsent batches whose delivery deadline passed.
    fn expire(&mut self, now: Instant) {
        let mut expired = Vec::new();
        {
            let mut f = self.lane().flight.lock();
            let (keep, gone): (VecDeque<Batch>, VecDeque<Batch>) = f.retry.drain(..).partition(|b| b.deadline > now);
            f.retry = keep;
            expired.extend(gone);
        }
        {
            let mut st = self.inner.state.lock();
            let q = &mut st.ready[self.lane];
            if q.iter().any(|b| b.deadline <= now) {
                let (keep, gone): (VecDeque<Batch>, VecDeque<Batch>) = q.drain(..).partition(|b| b.deadline > now);
                *q = keep;
                expired.extend(gone);
            }
        }
        for b in expired {
            let e = final_error(&b, "delivery.timeout.ms expired");
            self.inner.complete(b, 0, Some(e));
        }
    }

    fn ensure_connection(&mut self, now: Instant) {
        let dead = self.lane().flight.lock().dead;
        if let Some(c) = &self.conn {
            if !dead && !c.is_closed() {
                return;
            }
            // Closing the old connection runs on_closed: its in-flight batches move to retry.
            c.close(Error::transport("connection reset"));
            self.conn = None;
            self.resend_after = now + self.inner.settings.retry_backoff;
        }
        if now < self.next_connect {
            return;
        }
        let mut deadline = now + self.inner.net.connect_timeout;
        if let Some(d) = *self.inner.close_deadline.lock() {
            deadline = deadline.min(d.max(now + Duration::from_millis(1)));
        }
        let redirect = self.lane().flight.lock().redirect.take();
        match dial(&self.inner.net, redirect.as_deref(), deadline) {
            Ok(d) => {
                let generation = {
                    let mut f = self.lane().flight.lock();
                    f.generation += 1;
                    f.dead = false;
                    f.errors.clear();
                    f.generation
                };
                let router = Arc::new(LaneRouter { inner: self.inner.clone(), lane: self.lane, generation });
                match Connection::start(d, self.inner.net.clone(), router, &format!("producer-{}", self.lane)) {
                    Ok(c) => {
                        self.conn = Some(c);
                        self.next_batch_id = 0;
                        self.backoff.reset();
                        self.inner.counters.connects.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => self.next_connect = now + self.backoff.next_delay(),
                }
            }
            Err(e) if e.code == ErrorCode::AuthFailed || e.code == ErrorCode::Tls => {
                self.inner.fail_fatal(e);
                self.fail_everything();
            }
            Err(_) => self.next_connect = Instant::now() + self.backoff.next_delay(),
        }
    }

    /// Fills the in-flight window: resends first (original order), then new batches.
    fn send_window(&mut self, now: Instant) {
        let Some(conn) = &self.conn else { return };
        if now < self.resend_after {
            return;
        }
        let max = self.inner.settings.max_in_flight;
        let mut to_send: Vec<Arc<Vec<u8>>> = Vec::new();
        loop {
            let mut f = self.inner.lanes[self.lane].flight.lock();
            if f.dead || f.inflight.len() >= max {
                break;
            }
            let batch = match f.retry.pop_front() {
                Some(b) => b,
                None => match self.inner.state.lock().ready[self.lane].pop_front() {
                    Some(b) => b,
                    None => break,
                },
            };
            if batch.attempts > 0 && batch.attempts > self.inner.settings.retries {
                drop(f);
                let e = final_error(&batch, "retries exhausted");
                self.inner.complete(batch, 0, Some(e));
                continue;
            }
            let mut batch = batch;
            self.next_batch_id += 1;
            let id = self.next_batch_id;
            let wire = finalize(&self.inner, &mut batch, id);
            let c = &self.inner.counters;
            if batch.attempts > 0 {
                c.batches_retried.fetch_add(1, Ordering::Relaxed);
                c.records_retried.fetch_add(batch.records() as u64, Ordering::Relaxed);
                if batch.maybe_stored {
                    c.possible_duplicates.fetch_add(batch.records() as u64, Ordering::Relaxed);
                }
            }
            batch.attempts += 1;
            c.batches_sent.fetch_add(1, Ordering::Relaxed);
            c.records_sent.fetch_add(batch.records() as u64, Ordering::Relaxed);
            c.bytes_sent.fetch_add(batch.payload_len as u64, Ordering::Relaxed);
            to_send.push(wire);
            f.inflight.push_back(InFlight { batch, batch_id: id, sent_at: Instant::now() });
        }
        for w in to_send {
            if conn.send_data(w).is_err() {
                break; // on_closed has moved everything to retry
            }
        }
    }

    /// Abort: every batch this lane holds gets its final report, then the connection closes.
    fn shutdown(&mut self) {
        if let Some(c) = self.conn.take() {
            c.close(Error::closed("producer closed"));
        }
        self.fail_everything();
    }

    fn fail_everything(&mut self) {
        let fatal = self.inner.fatal.lock().clone();
        let (mut batches, inflight): (Vec<Batch>, Vec<InFlight>) = {
            let mut f = self.lane().flight.lock();
            (f.retry.drain(..).collect(), f.inflight.drain(..).collect())
        };
        batches.extend(inflight.into_iter().map(|mut x| {
            x.batch.maybe_stored = true;
            x.batch
        }));
        {
            let mut st = self.inner.state.lock();
            batches.extend(st.ready[self.lane].drain(..));
            let lanes = self.inner.settings.lanes;
            let mine: Vec<u32> = st.open.keys().copied().filter(|t| *t as usize % lanes == self.lane).collect();
            for t in mine {
                batches.extend(st.open.remove(&t));
            }
        }
        for b in batches {
            let e = match &fatal {
                Some(f) => f.clone(),
                None if b.maybe_stored => final_error(&b, "producer closed while the batch was in flight"),
                None => Error::new(ErrorCode::Purged, "purged by close before it was sent"),
            };
            self.inner.complete(b, 0, Some(e));
        }
    }
}

/// The final error of a batch that will not be retried.
fn final_error(b: &Batch, why: &str) -> Error {
    let cause = b.last_error.as_ref().map(|e| format!(" (last error: {e})")).unwrap_or_default();
    if b.maybe_stored {
        Error::new(ErrorCode::UnknownOutcome, format!("{why}; an earlier attempt may have been stored{cause}")).with_retryable(false)
    } else if let Some(e) = &b.last_error {
        let mut e = e.clone();
        e.message = format!("{why}: {}", e.message);
        e.retryable = false;
        e
    } else {
        Error::new(ErrorCode::TimedOut, format!("{why} before the batch could be sent")).with_retryable(false)
    }
}

/// Builds (first time) or re-stamps (resend) the batch's frame with `batch_id`.
fn finalize(inner: &Inner, b: &mut Batch, batch_id: u64) -> Arc<Vec<u8>> {
    let ts = now_ns();
    match &mut b.wire {
        Some(wire) => {
            // batch_id and timestamp (bytes 12..28) are outside both checksums (lwp.md §1.1).
            let w = Arc::make_mut(wire);
            w[12..20].copy_from_slice(&batch_id.to_le_bytes());
            w[20..28].copy_from_slice(&ts.to_le_bytes());
            wire.clone()
        }
        None => {
            let mut frame = std::mem::take(&mut b.frame);
            let payload_len = frame.len() - HEADER_LEN;
            if inner.settings.compression && payload_len >= inner.settings.compression_min {
                if let Some(env) = encode_envelope(&frame[HEADER_LEN..]) {
                    frame.truncate(HEADER_LEN);
                    frame.extend_from_slice(&env);
                    inner.counters.batches_compressed.fetch_add(1, Ordering::Relaxed);
                }
            }
            let h = Header::new(inner.net.checksum, flags::INGEST, batch_id, ts, b.records() as u32, b.topic_id, &frame[HEADER_LEN..]);
            frame[..HEADER_LEN].copy_from_slice(&h.encode());
            let wire = Arc::new(frame);
            b.wire = Some(wire.clone());
            wire
        }
    }
}
