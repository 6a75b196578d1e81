//! The standalone consumer (lwp.md §4, §7; design.md §3, §4).
//!
//! One fetch thread per consumer, on its own control connection, keeps one or two Fetch requests
//! in flight, reassembles TLV records across fetch windows cut anywhere, and fills a bounded queue
//! of records and errors. [`StandaloneConsumer::poll`] drains that queue on the caller's thread.
//!
//! **Positions.** P ([`StandaloneConsumer::position`]) is the record-boundary position just past
//! the last record handed out by `poll` (for an LZ4 envelope: the envelope's own offset until all
//! of its inner records were handed out, then the offset past it). Only P is ever committed.
//!
//! **Pipelining.** A Fetch returns `min(max_bytes, end − start)` bytes, so the next start is only
//! known once a reply is in. While windows come back full (`bytes == max_bytes`, i.e. data is
//! flowing), the fetch thread speculatively requests the next window at `start + max_bytes`
//! before the current one is processed (`fetch.pipeline = 2`). When a reply comes back short,
//! every speculative request behind it is discarded (its reply is dropped unread) and the next
//! fetch starts at the true fetch offset P + carry.
//!
//! **Errors** raised in the fetch thread are queued in order behind the records that precede
//! them and returned by `poll` as `Err` — never dropped. Transport failures are retried
//! transparently (reconnect with backoff, resume at P); a failed reconnect is reported once per
//! outage (retryable). CorruptRecord, UNKNOWN_TOPIC, authentication failures and other final
//! server errors pause the consumer until [`StandaloneConsumer::seek`].
//!
//! **Auto-commit** runs inside `poll`, on the caller's thread, before new records are taken: it
//! commits the position reached by the previous polls (the records the application has had),
//! which is at-least-once; user offset stores are thus never called from a library thread.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Condvar, Mutex};

use crate::config::Config;
use crate::error::{Error, ErrorCode, Result};
use crate::net::control::{check_error, ReplyResult};
use crate::net::{Backoff, ControlClient, ControlConn, NetConfig};
use crate::notify::WakeFd;
use crate::offsets::{FileOffsetStore, MemoryOffsetStore, NoOffsetStore, OffsetStore, END_SENTINEL};
use crate::wire::control::{self, decode_catching_up, decode_fetch_response, decode_topic_list, reply_code, Request};
use crate::wire::tlv::record_type;
use crate::wire::{Frame, Reassembler, Record};

/// How long a tail learned by the fetch thread (or by a previous [`StandaloneConsumer::lag`]) is
/// used before `lag` asks the server again.
const TAIL_FRESH: Duration = Duration::from_millis(500);
/// Bytes charged against `queued.max.bytes` per record on top of its value.
const RECORD_OVERHEAD: usize = 64;

/// Where to move the consumer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeekTo {
    /// Offset 0: the oldest data still in the topic.
    Beginning,
    /// The current end of the topic (resolved with one Fetch at u64::MAX).
    End,
    /// A byte offset. It must be a record boundary (a position obtained from
    /// [`StandaloneConsumer::position`] or a record's offset); anything else decodes as garbage or
    /// as CORRUPT_RECORD. `Offset(u64::MAX)` means [`SeekTo::End`].
    Offset(u64),
}

/// What to do when the position is past the end of the topic (`offset.reset`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffsetReset {
    /// Continue from offset 0.
    Earliest,
    /// Continue from the end.
    Latest,
    /// Pause until the application seeks.
    Error,
}

#[derive(Clone, Debug)]
struct Settings {
    topic_id: u32,
    max_bytes: u32,
    min_wait: Duration,
    max_wait: Duration,
    pipeline: usize,
    queued_max_bytes: usize,
    max_poll_records: usize,
    auto_commit: bool,
    auto_commit_interval: Duration,
    catching_up_retries: u32,
    expand_envelopes: bool,
    raw: bool,
    reset: OffsetReset,
    request_timeout: Duration,
    connect_timeout: Duration,
}

impl Settings {
    fn from_config(c: &Config, topic_id: u32, net: &NetConfig) -> Settings {
        // A reply is max_bytes + 16 payload bytes and must fit the inbound frame limit.
        let frame_cap = net.max_payload.saturating_sub(16).max(1) as u64;
        let max_bytes = c.get_u64("fetch.max.bytes").clamp(1, control::MAX_FETCH_BYTES as u64).min(frame_cap) as u32;
        let min_wait = c.get_ms("fetch.min.wait.ms");
        Settings {
            topic_id,
            max_bytes,
            min_wait,
            max_wait: c.get_ms("fetch.max.wait.ms").max(min_wait),
            pipeline: c.get_u64("fetch.pipeline").clamp(1, 2) as usize,
            queued_max_bytes: c.get_u64("queued.max.bytes") as usize,
            max_poll_records: c.get_u64("max.poll.records").max(1) as usize,
            auto_commit: c.get_bool("enable.auto.commit"),
            auto_commit_interval: c.get_ms("auto.commit.interval.ms"),
            catching_up_retries: c.get_u64("catching.up.retries") as u32,
            expand_envelopes: c.get_bool("expand.envelopes"),
            raw: c.get_bool("consume.raw"),
            reset: match c.get_str("offset.reset").as_str() {
                "earliest" => OffsetReset::Earliest,
                "latest" => OffsetReset::Latest,
                _ => OffsetReset::Error,
            },
            request_timeout: net.request_timeout,
            connect_timeout: net.connect_timeout,
        }
    }
}

enum Event {
    /// A record and P after it.
    Record(Record, u64),
    /// An error; `reposition` is the new P once it is handed out (offset.reset applied).
    Error(Box<Error>, Option<u64>),
}

impl Event {
    fn cost(&self) -> usize {
        match self {
            Event::Record(r, _) => r.value.len() + RECORD_OVERHEAD,
            Event::Error(..) => RECORD_OVERHEAD,
        }
    }
}

struct Queue {
    events: VecDeque<Event>,
    bytes: usize,
    /// Bumped by every seek; events and replies of an older generation are discarded.
    generation: u64,
    /// Where the fetch thread starts for the current generation.
    target: u64,
    /// P: the position after the last record handed out.
    delivered: u64,
    closed: bool,
    /// The fetch thread waits for queue space.
    fetcher_blocked: bool,
}

struct CommitState {
    last: Option<u64>,
    next_auto: Instant,
}

struct Inner {
    s: Settings,
    net: NetConfig,
    store: Arc<dyn OffsetStore>,
    q: Mutex<Queue>,
    cond: Condvar,
    wake_tx: Sender<()>,
    wakefd: Option<WakeFd>,
    /// For ListTopics, seek-to-end and lag queries (lazy; separate from the fetch connection).
    aux: ControlClient,
    /// The most recently learned end of the topic and when.
    tail: Mutex<Option<(u64, Instant)>>,
    commit: Mutex<CommitState>,
    closed: AtomicBool,
}

impl Inner {
    fn wake_fetcher(&self) {
        let _ = self.wake_tx.try_send(());
    }

    fn note_tail(&self, end: u64) {
        *self.tail.lock() = Some((end, Instant::now()));
    }

    /// The current end of the topic: one Fetch at u64::MAX on the auxiliary connection.
    fn query_end(&self) -> Result<u64> {
        let f = self.aux.request(
            &Request::Fetch { topic_id: self.s.topic_id, start_offset: u64::MAX, max_bytes: 1 },
            self.s.request_timeout,
        )?;
        let end = match f.header.code() {
            reply_code::FETCH_RESPONSE => decode_fetch_response(&f.payload)?.next_offset,
            reply_code::CATCHING_UP => decode_catching_up(&f.payload)?,
            c => return Err(Error::protocol(format!("unexpected Fetch reply code {c:#04x}"))),
        };
        self.note_tail(end);
        Ok(end)
    }
}

/// A consumer of one topic that polls with Fetch and keeps its position in an offset store.
///
/// Thread-safe: every method takes `&self`. Dropping it closes it (with a final auto-commit).
pub struct StandaloneConsumer {
    inner: Arc<Inner>,
    thread: Mutex<Option<(JoinHandle<()>, Receiver<()>)>>,
}

impl std::fmt::Debug for StandaloneConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StandaloneConsumer").field("topic_id", &self.inner.s.topic_id).finish()
    }
}

/// The offset store that `offset.store`, `offset.dir` and `consumer.name` select.
pub fn store_from_config(config: &Config) -> Result<Arc<dyn OffsetStore>> {
    let dir = config.get_str("offset.dir");
    let name = config.get_str("consumer.name");
    match config.get_str("offset.store").as_str() {
        "none" => Ok(Arc::new(NoOffsetStore)),
        "memory" => Ok(Arc::new(MemoryOffsetStore::new())),
        "file" => {
            if dir.is_empty() || name.is_empty() {
                return Err(Error::new(ErrorCode::InvalidValue, "offset.store=file needs both offset.dir and consumer.name"));
            }
            Ok(Arc::new(FileOffsetStore::new(dir, &name)?))
        }
        _ => {
            if !dir.is_empty() && !name.is_empty() {
                Ok(Arc::new(FileOffsetStore::new(dir, &name)?))
            } else {
                Ok(Arc::new(MemoryOffsetStore::new()))
            }
        }
    }
}

impl StandaloneConsumer {
    /// Creates a consumer with the offset store selected by the configuration
    /// (`offset.store`, `offset.dir`, `consumer.name`).
    ///
    /// Blocks up to `request.timeout.ms` when it must ask the server: to resolve `topic` by name
    /// (ListTopics; an unknown name is UNKNOWN_TOPIC) and to resolve a start at the end. Then
    /// starts the fetch thread.
    pub fn new(config: &Config) -> Result<StandaloneConsumer> {
        let store = store_from_config(config)?;
        StandaloneConsumer::with_store(config, store)
    }

    /// Creates a consumer that keeps its offsets in `store`.
    pub fn with_store(config: &Config, store: Arc<dyn OffsetStore>) -> Result<StandaloneConsumer> {
        let net = NetConfig::from_config(config)?;
        let aux = ControlClient::new(net.clone(), "consumer-aux");
        let topic_id = match config.get_u64("topic.id") as u32 {
            0 => {
                let name = config.get_str("topic");
                if name.is_empty() {
                    return Err(Error::invalid_arg("set \"topic\" (a name) or \"topic.id\" to consume"));
                }
                let f = aux.request(&Request::ListTopics, net.request_timeout)?;
                if f.header.code() != reply_code::TOPIC_RESPONSE {
                    return Err(Error::protocol(format!("ListTopics answered with code {:#04x}", f.header.code())));
                }
                let list = decode_topic_list(&f.payload)?;
                list.topics
                    .into_iter()
                    .find(|t| t.name == name)
                    .map(|t| t.id)
                    .ok_or_else(|| Error::new(ErrorCode::UnknownTopic, format!("topic '{name}' not found")))?
            }
            id => id,
        };
        let s = Settings::from_config(config, topic_id, &net);
        let start = config.get_str("start.offset");
        let wanted = match start.as_str() {
            "stored" => match store.load(topic_id)? {
                Some(END_SENTINEL) => SeekTo::End,
                Some(o) => SeekTo::Offset(o),
                None => SeekTo::Beginning,
            },
            "beginning" | "earliest" => SeekTo::Beginning,
            "end" | "latest" => SeekTo::End,
            n => SeekTo::Offset(n.parse::<u64>().map_err(|_| {
                Error::new(
                    ErrorCode::InvalidValue,
                    format!("invalid value \"{n}\" for \"start.offset\": expected stored, beginning, end or a byte offset"),
                )
            })?),
        };
        let (wake_tx, wake_rx) = crossbeam_channel::bounded(1);
        let wakefd = WakeFd::new().ok();
        let auto_next = Instant::now() + s.auto_commit_interval;
        let inner = Arc::new(Inner {
            s,
            net,
            store,
            q: Mutex::new(Queue {
                events: VecDeque::new(),
                bytes: 0,
                generation: 0,
                target: 0,
                delivered: 0,
                closed: false,
                fetcher_blocked: false,
            }),
            cond: Condvar::new(),
            wake_tx,
            wakefd,
            aux,
            tail: Mutex::new(None),
            commit: Mutex::new(CommitState { last: None, next_auto: auto_next }),
            closed: AtomicBool::new(false),
        });
        let start_at = match wanted {
            SeekTo::Beginning => 0,
            SeekTo::Offset(o) if o != u64::MAX => o,
            _ => inner.query_end()?,
        };
        {
            let mut q = inner.q.lock();
            q.target = start_at;
            q.delivered = start_at;
        }
        let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(1);
        let fetcher = Fetcher::new(inner.clone(), wake_rx, start_at);
        let handle = std::thread::Builder::new()
            .name("lnc-consumer-fetch".into())
            .spawn(move || {
                fetcher.run();
                drop(done_tx);
            })
            .map_err(|e| Error::new(ErrorCode::State, format!("cannot spawn the fetch thread: {e}")))?;
        Ok(StandaloneConsumer { inner, thread: Mutex::new(Some((handle, done_rx))) })
    }

    /// The topic id being consumed.
    pub fn topic_id(&self) -> u32 {
        self.inner.s.topic_id
    }

    /// Waits up to `timeout` for records and returns up to `max.poll.records` of them (empty on
    /// timeout). An error raised by the fetch thread is returned as `Err` once every record before
    /// it has been returned; the records after it follow in later polls.
    ///
    /// With `enable.auto.commit`, first commits the position reached by the previous polls when
    /// `auto.commit.interval.ms` has passed (a failing store is returned as the error; no record
    /// is lost: they stay queued).
    pub fn poll(&self, timeout: Duration) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        self.poll_into(timeout, &mut out, usize::MAX)?;
        Ok(out)
    }

    /// Like [`StandaloneConsumer::poll`], but appends at most `max` (and at most
    /// `max.poll.records`) records to `out`; reuse `out` to avoid an allocation per poll. Returns
    /// how many records were appended. `max` 0 counts as 1.
    pub fn poll_into(&self, timeout: Duration, out: &mut Vec<Record>, max: usize) -> Result<usize> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::closed("consumer is closed"));
        }
        self.maybe_auto_commit()?;
        let inner = &*self.inner;
        let deadline = Instant::now().checked_add(timeout);
        let mut q = inner.q.lock();
        while q.events.is_empty() {
            if q.closed {
                return Err(Error::closed("consumer is closed"));
            }
            match deadline {
                Some(d) => {
                    if inner.cond.wait_until(&mut q, d).timed_out() && q.events.is_empty() {
                        return if q.closed { Err(Error::closed("consumer is closed")) } else { Ok(0) };
                    }
                }
                None => inner.cond.wait(&mut q),
            }
        }
        let max = inner.s.max_poll_records.min(max.max(1));
        let mut n = 0;
        let mut result = Ok(0);
        out.reserve(max.min(q.events.len()));
        while n < max {
            match q.events.front() {
                None => break,
                Some(Event::Error(..)) => {
                    if n == 0 {
                        if let Some(Event::Error(e, repos)) = q.events.pop_front() {
                            q.bytes = q.bytes.saturating_sub(RECORD_OVERHEAD);
                            if let Some(p) = repos {
                                q.delivered = p;
                            }
                            result = Err(*e);
                        }
                    }
                    break;
                }
                Some(Event::Record(..)) => {
                    if let Some(Event::Record(r, next)) = q.events.pop_front() {
                        q.bytes = q.bytes.saturating_sub(r.value.len() + RECORD_OVERHEAD);
                        q.delivered = next;
                        out.push(r);
                        n += 1;
                    }
                }
            }
        }
        if q.events.is_empty() {
            if let Some(w) = &inner.wakefd {
                w.clear();
            }
        }
        if q.fetcher_blocked && q.bytes < inner.s.queued_max_bytes {
            q.fetcher_blocked = false;
            inner.wake_fetcher();
        }
        drop(q);
        result.map(|_: usize| n)
    }

    /// Polls and calls `f` for each record (on this thread). Returns how many records were
    /// handled; an error is returned as with [`StandaloneConsumer::poll`].
    pub fn poll_each<F: FnMut(&Record)>(&self, timeout: Duration, mut f: F) -> Result<usize> {
        let records = self.poll(timeout)?;
        for r in &records {
            f(r);
        }
        Ok(records.len())
    }

    /// A descriptor that is readable while records or errors are waiting to be polled (Linux
    /// eventfd; owned by the consumer, do not close it). `None` if it could not be created.
    pub fn eventfd(&self) -> Option<std::os::unix::io::RawFd> {
        self.inner.wakefd.as_ref().map(|w| w.fd())
    }

    /// P: the record-boundary position just past the last record handed out by `poll` (the start
    /// position before the first record). This is what [`StandaloneConsumer::commit`] stores.
    pub fn position(&self) -> u64 {
        self.inner.q.lock().delivered
    }

    /// Moves the consumer: queued records and in-flight fetches of the old position are
    /// discarded, and a paused consumer (after CORRUPT_RECORD, OFFSET_OUT_OF_RANGE with
    /// `offset.reset=error`, or a final server error) resumes. [`SeekTo::End`] asks the server
    /// for the end first (blocking up to `request.timeout.ms`). Returns the new position.
    pub fn seek(&self, to: SeekTo) -> Result<u64> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::closed("consumer is closed"));
        }
        let target = match to {
            SeekTo::Beginning => 0,
            SeekTo::Offset(o) if o != u64::MAX => o,
            _ => self.inner.query_end()?,
        };
        let mut q = self.inner.q.lock();
        q.generation += 1;
        q.events.clear();
        q.bytes = 0;
        q.target = target;
        q.delivered = target;
        q.fetcher_blocked = false;
        if let Some(w) = &self.inner.wakefd {
            w.clear();
        }
        drop(q);
        self.inner.wake_fetcher();
        Ok(target)
    }

    /// `seek(SeekTo::Beginning)`.
    pub fn rewind(&self) -> Result<u64> {
        self.seek(SeekTo::Beginning)
    }

    /// Bytes between [`StandaloneConsumer::position`] and the end of the topic. The end comes
    /// from the fetch thread's latest short window or CatchingUp reply when that is recent
    /// (under 500 ms); otherwise from one Fetch at u64::MAX (blocking up to
    /// `request.timeout.ms`), at most once per 500 ms.
    pub fn lag(&self) -> Result<u64> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::closed("consumer is closed"));
        }
        let fresh = self.inner.tail.lock().filter(|(_, at)| at.elapsed() < TAIL_FRESH).map(|(t, _)| t);
        let tail = match fresh {
            Some(t) => t,
            None => self.inner.query_end()?,
        };
        Ok(tail.saturating_sub(self.position()))
    }

    /// Stores P in the offset store now; returns the committed offset.
    pub fn commit(&self) -> Result<u64> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::closed("consumer is closed"));
        }
        self.commit_now(true)
    }

    fn commit_now(&self, force: bool) -> Result<u64> {
        let mut c = self.inner.commit.lock();
        let p = self.position();
        if force || c.last != Some(p) {
            self.inner.store.save(self.inner.s.topic_id, p)?;
            c.last = Some(p);
        }
        Ok(p)
    }

    fn maybe_auto_commit(&self) -> Result<()> {
        if !self.inner.s.auto_commit {
            return Ok(());
        }
        let due = {
            let mut c = self.inner.commit.lock();
            let now = Instant::now();
            if now >= c.next_auto {
                c.next_auto = now + self.inner.s.auto_commit_interval;
                true
            } else {
                false
            }
        };
        if due {
            self.commit_now(false)?;
        }
        Ok(())
    }

    /// The last committed offset (by this handle), if any.
    pub fn committed(&self) -> Option<u64> {
        self.inner.commit.lock().last
    }

    /// Stops and joins the fetch thread (waiting at most `timeout`), then, with
    /// `enable.auto.commit`, commits P. Idempotent: later calls return `Ok(())`. Records still
    /// queued are dropped (they were not handed out, so they are not committed).
    pub fn close(&self, timeout: Duration) -> Result<()> {
        let Some((handle, done)) = self.thread.lock().take() else { return Ok(()) };
        self.inner.closed.store(true, Ordering::Release);
        {
            let mut q = self.inner.q.lock();
            q.closed = true;
            q.events.clear();
            q.bytes = 0;
        }
        // Wake event loops watching the descriptor: their next poll reports CLOSED.
        if let Some(w) = &self.inner.wakefd {
            w.signal();
        }
        self.inner.cond.notify_all();
        self.inner.wake_fetcher();
        let joined = !matches!(done.recv_timeout(timeout), Err(crossbeam_channel::RecvTimeoutError::Timeout));
        if joined {
            let _ = handle.join();
        }
        let commit = if self.inner.s.auto_commit { self.commit_now(false).map(|_| ()) } else { Ok(()) };
        if !joined {
            return Err(Error::timed_out("the fetch thread did not stop within the close timeout (it stops on its own)"));
        }
        commit
    }
}

impl Drop for StandaloneConsumer {
    fn drop(&mut self) {
        let t = self.inner.s.request_timeout.min(Duration::from_secs(5));
        let _ = self.close(t);
    }
}

// ---------------------------------------------------------------------------------------------
// The fetch thread.

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
    /// The record-boundary position after everything decoded so far.
    fn position(&self) -> u64 {
        match self {
            Decoder::Tlv(r) => r.position(),
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
}

struct Fetcher {
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
    batch: Vec<Event>,
}

enum Wait {
    Until(Instant),
    Forever,
}

impl Fetcher {
    fn new(inner: Arc<Inner>, wake: Receiver<()>, start: u64) -> Fetcher {
        let decoder =
            if inner.s.raw { Decoder::Raw { position: start } } else { Decoder::Tlv(Reassembler::new(start, inner.s.expand_envelopes)) };
        let reconnect = inner.net.backoff();
        let generation = inner.q.lock().generation;
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
            batch: Vec::new(),
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

    fn run(mut self) {
        loop {
            // Follow seeks and close.
            let queue_full = {
                let mut q = self.inner.q.lock();
                if q.closed {
                    return;
                }
                if q.generation != self.generation {
                    self.generation = q.generation;
                    let target = q.target;
                    drop(q);
                    self.restart_at(target);
                    continue;
                }
                let full = q.bytes >= self.inner.s.queued_max_bytes;
                if full && self.inflight.is_empty() {
                    q.fetcher_blocked = true;
                }
                full
            };
            if self.paused {
                self.sleep(Wait::Forever);
                continue;
            }
            if queue_full && self.inflight.is_empty() {
                // Back-pressure: poll wakes us when space frees up.
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
                let at = self.inflight.back().map_or(self.decoder.fetch_offset(), |f| f.start + self.inner.s.max_bytes as u64);
                if !self.submit(at) {
                    break;
                }
            }
            let Some(head) = self.inflight.front() else { continue };
            let safety = self.inner.s.request_timeout + Duration::from_secs(1);
            let reply = crossbeam_channel::select! {
                recv(head.rx) -> r => r.unwrap_or_else(|_| Err(Error::transport("connection closed before the reply"))),
                recv(self.wake) -> _ => continue,
                default(safety) => Err(Error::timed_out("no Fetch reply within the request timeout")),
            };
            let head = self.inflight.pop_front().expect("head exists");
            self.on_reply(head.start, reply);
        }
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
    }

    /// Queues events (under the generation check) and wakes pollers.
    fn push(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let mut q = self.inner.q.lock();
        if q.generation != self.generation || q.closed {
            self.batch.clear();
            return;
        }
        let was_empty = q.events.is_empty();
        let mut bytes = 0;
        for e in self.batch.drain(..) {
            bytes += e.cost();
            q.events.push_back(e);
        }
        q.bytes += bytes;
        if was_empty {
            if let Some(w) = &self.inner.wakefd {
                w.signal();
            }
        }
        drop(q);
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
        // Discard the carry; refetch from P.
        let p = self.decoder.position();
        self.decoder.reset(p);
    }

    /// Returns false when there is no connection yet (the caller loops).
    fn ensure_connected(&mut self) -> bool {
        if let Some(c) = &self.conn {
            if !c.connection().is_closed() {
                return true;
            }
            self.drop_connection();
        }
        let now = Instant::now();
        if now < self.reconnect_at {
            self.sleep(Wait::Until(self.reconnect_at));
            return false;
        }
        let deadline = now + self.inner.s.connect_timeout;
        match ControlConn::connect(&self.inner.net, self.leader.as_deref(), deadline, "consumer") {
            Ok(c) => {
                self.conn = Some(c);
                self.leader = None;
                true
            }
            Err(e) => {
                self.leader = None;
                self.reconnect_at = Instant::now() + self.reconnect.next_delay();
                if e.code == ErrorCode::AuthFailed || e.code == ErrorCode::Tls {
                    self.paused = true;
                    self.report(e, None);
                } else if !self.outage_reported {
                    self.outage_reported = true;
                    let e = Error::transport(format!("consumer cannot reach the server (retrying): {}", e.message));
                    self.report(e, None);
                }
                false
            }
        }
    }

    fn submit(&mut self, start: u64) -> bool {
        let Some(c) = &self.conn else { return false };
        let req = Request::Fetch { topic_id: self.inner.s.topic_id, start_offset: start, max_bytes: self.inner.s.max_bytes };
        match c.submit(&req) {
            Ok(rx) => {
                self.inflight.push_back(InFlight { rx, start });
                true
            }
            Err(_) => {
                self.drop_connection();
                false
            }
        }
    }

    fn idle_backoff(&mut self) {
        self.idle = if self.idle.is_zero() { self.inner.s.min_wait } else { (self.idle * 2).min(self.inner.s.max_wait) };
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
        let Decoder::Tlv(reasm) = &self.decoder else { return };
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
                let rec = Record { record_type: record_type::RESERVED, ext_type: None, value: r.data.to_vec(), offset: start };
                *position = start + len as u64;
                self.batch.push(Event::Record(rec, *position));
            }
            Decoder::Tlv(reasm) => {
                reasm.feed(r.data);
                loop {
                    match reasm.next_record() {
                        Ok(Some(rec)) => {
                            let p = reasm.position();
                            self.batch.push(Event::Record(rec, p));
                        }
                        Ok(None) => break,
                        Err(c) => {
                            self.batch.push(Event::Error(Box::new(Error::from(c).with_retryable(false)), None));
                            self.paused = true;
                            self.inflight.clear();
                            self.streaming = false;
                            break;
                        }
                    }
                }
            }
        }
        self.push();
    }
}
