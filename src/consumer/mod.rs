//! The standalone consumer (lwp.md §4, §7; design.md §3, §4, §10).
//!
//! Files: `mod.rs` is the handle (public API, lifecycle, the entry points of commits);
//! `fetcher.rs` the fetch thread; `queue.rs` the bounded event queue with its byte accounting;
//! `lifecycle.rs` the pure lifecycle decisions; `commit.rs` store calls and the re-entrancy guard.
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
//! transparently (reconnect with backoff, resume at P + what the reassembler holds); a failed reconnect is reported once per
//! outage (retryable). CorruptRecord, UNKNOWN_TOPIC, authentication failures and other final
//! server errors pause the consumer until [`StandaloneConsumer::seek`].
//!
//! **Auto-commit** runs inside `poll`, on the caller's thread, before new records are taken: it
//! commits the position reached by the previous polls (the records the application has had),
//! which is at-least-once; user offset stores are thus never called from a library thread.
//!
//! **Memory** (`queued.max.bytes`, design.md §10.3). Records are counted when they are queued,
//! after decompression: the fetch thread decodes (and cuts records out of an expanded LZ4
//! envelope) only while the queue is under its bound, and sends no new Fetch while undecoded
//! data waits. Peak ≈ `queued.max.bytes` + one record + one decompressed envelope (≤ 16 MiB) +
//! the undecoded window and carry + `fetch.pipeline` windows in flight (`fetcher.rs`).
//!
//! **Lifecycle** (design.md §10.2). One lifecycle per handle, open → closing → closed, held with
//! the queue under one lock (`lifecycle.rs` decides, the handle acts under the same lock).
//! `close(timeout)` returns within its timeout whatever other threads do, wakes every waiter
//! (they return CLOSED), and later calls return CLOSED. The offset store is called without any
//! lock held, one commit at a time; calls into the consumer from inside its store fail with
//! IN_CALLBACK (`commit.rs`). A panic in the fetch thread fails the handle with PANIC: waiting
//! polls wake and return it.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Condvar, Mutex};

use crate::config::Config;
use crate::error::{Error, ErrorCode, Result};
use crate::net::control::check_error;
use crate::net::{ControlClient, NetConfig};
use crate::notify::WakeFd;
use crate::offsets::{FileOffsetStore, MemoryOffsetStore, NoOffsetStore, OffsetStore, END_SENTINEL};
use crate::stats::document::{render, timestamp_ms};
use crate::stats::{ConsumerStatistics, LatencyHistogram, LinkStats, STATISTICS_VERSION};
use crate::wire::control::{self, decode_catching_up, decode_fetch_response, decode_topic_list, reply_code, Request};
use crate::wire::Record;

pub(crate) mod commit;
mod fetcher;
pub(crate) mod lifecycle;
mod metrics;
pub(crate) mod queue;

pub use metrics::ConsumerMetrics;

use commit::Force;
use fetcher::Fetcher;
use lifecycle::{Lifecycle, Op, Verdict};
use queue::{Queue, Taken};

/// How long a tail learned by the fetch thread (or by a previous [`StandaloneConsumer::lag`]) is
/// used before `lag` asks the server again.
const TAIL_FRESH: Duration = Duration::from_millis(500);

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

/// Everything the handle and the fetch thread share that changes: one lock, so a decision and its
/// action are never apart.
struct State {
    q: Queue,
    lc: Lifecycle,
    /// The fetch thread's fatal error (PANIC), once it died.
    fatal: Option<Error>,
    /// The last offset this handle saved.
    last_commit: Option<u64>,
    next_auto: Instant,
    /// Dropped when close begins: disconnects `Inner::closing_rx`, waking seek/lag waiting on
    /// the server.
    closing_tx: Option<Sender<()>>,
    /// The fetch thread and the channel that disconnects when it ends.
    thread: Option<(JoinHandle<()>, Receiver<()>)>,
    /// Fetch request → reply latency, recorded by the fetch thread under this lock.
    fetch_latency: LatencyHistogram,
}

pub(crate) struct Inner {
    s: Settings,
    net: NetConfig,
    store: Arc<dyn OffsetStore>,
    state: Mutex<State>,
    /// Signalled on every change pollers or committers may wait for.
    cond: Condvar,
    wake_tx: Sender<()>,
    wakefd: Option<Arc<WakeFd>>,
    /// Connection events, the log, the circuit breaker.
    pub(crate) events: Arc<crate::events::Events>,
    /// For ListTopics, seek-to-end and lag queries (lazy; separate from the fetch connection).
    aux: ControlClient,
    /// The most recently learned end of the topic and when.
    tail: Mutex<Option<(u64, Instant)>>,
    closing_rx: Receiver<()>,
    counters: metrics::Counters,
    /// The fetch connection's slot (the auxiliary client has its own).
    fetch_link: Arc<LinkStats>,
    /// Test hook: the fetch thread panics at its next turn.
    #[cfg(test)]
    inject_panic: std::sync::atomic::AtomicBool,
}

impl Inner {
    fn wake_fetcher(&self) {
        let _ = self.wake_tx.try_send(());
    }

    fn note_tail(&self, end: u64) {
        *self.tail.lock() = Some((end, Instant::now()));
    }

    /// The error for a refused call.
    fn refusal(&self, code: ErrorCode, st: &State) -> Error {
        match code {
            ErrorCode::Closed => Error::closed("consumer is closed"),
            ErrorCode::Panic => {
                st.fatal.clone().unwrap_or_else(|| Error::new(ErrorCode::Panic, "the consumer's fetch thread panicked"))
            }
            c => Error::new(c, "not allowed in the consumer's current state"),
        }
    }

    /// Wakes every waiter: pollers and committers (condvar), event loops (eventfd), the fetcher.
    fn wake_all(&self) {
        if let Some(w) = &self.wakefd {
            w.signal();
        }
        self.cond.notify_all();
        self.wake_fetcher();
    }

    /// The fetch thread died from a panic: fail the handle so that every waiter sees PANIC.
    fn fail_fatal(&self, what: String) {
        let mut st = self.state.lock();
        st.lc.fail();
        st.fatal = Some(
            Error::new(ErrorCode::Panic, format!("the consumer's fetch thread panicked: {what}")).with_retryable(false),
        );
        drop(st);
        self.wake_all();
        let e =
            crate::events::Event::new(crate::events::EventKind::Fatal, format!("the fetch thread panicked: {what}"));
        self.events.emit(e.code(ErrorCode::Panic));
    }

    /// The current end of the topic: one Fetch at u64::MAX on the auxiliary connection. Waiting
    /// for the reply ends early with CLOSED when the consumer closes.
    /// The topic's end, asked of the server within `timeout` (default `request.timeout.ms`).
    fn query_end(&self, timeout: Option<Duration>) -> Result<u64> {
        let req = Request::Fetch { topic_id: self.s.topic_id, start_offset: u64::MAX, max_bytes: 1 };
        let deadline = Instant::now() + timeout.unwrap_or(self.s.request_timeout);
        let f = loop {
            let conn = self.aux.connection(deadline)?;
            let outcome = match conn.submit(&req) {
                Ok(rx) => crossbeam_channel::select! {
                    recv(rx) -> r => r.unwrap_or_else(|_| Err(Error::transport("connection closed before the reply"))),
                    recv(self.closing_rx) -> _ => return Err(Error::closed("consumer is closed")),
                    default(deadline.saturating_duration_since(Instant::now())) => {
                        return Err(Error::timed_out("no reply before the call's timeout"))
                    }
                },
                Err(e) => Err(e),
            };
            match outcome.and_then(check_error) {
                Ok(f) => break f,
                Err(e) if matches!(e.code, ErrorCode::Transport | ErrorCode::Protocol) && Instant::now() < deadline => {
                    self.aux.reset_connection();
                }
                Err(e)
                    if matches!(e.code, ErrorCode::NotLeader | ErrorCode::ForwardFailed | ErrorCode::RateLimited) =>
                {
                    // Redirects and server-side retries: the control client's full policy, for
                    // the rest of the call's time.
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(e);
                    }
                    break self.aux.request(&req, left)?;
                }
                Err(e) => return Err(e),
            }
        };
        let end = match f.header.code() {
            reply_code::FETCH_RESPONSE => decode_fetch_response(&f.payload)?.next_offset,
            reply_code::CATCHING_UP => decode_catching_up(&f.payload)?,
            c => return Err(Error::protocol(format!("unexpected Fetch reply code {c:#04x}"))),
        };
        self.note_tail(end);
        Ok(end)
    }

    /// Open → closing without waiting for anything: the fetch thread is told to stop and
    /// detached, no final commit. For a drop that cannot block (from inside the store).
    fn seal(&self) {
        let mut st = self.state.lock();
        if st.lc.admit(Op::Close) == Verdict::Go {
            st.lc.begin_close();
            st.lc.finish_close();
            st.q.clear();
            st.closing_tx = None;
            st.thread = None;
        }
        drop(st);
        self.wake_all();
    }
}

/// A consumer of one topic that polls with Fetch and keeps its position in an offset store.
///
/// Thread-safe: every method takes `&self`, and any call may race any other (see the module
/// documentation for what close guarantees). Dropping it closes it (with a final auto-commit).
pub struct StandaloneConsumer {
    inner: Arc<Inner>,
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
                return Err(Error::new(
                    ErrorCode::InvalidValue,
                    "offset.store=file needs both offset.dir and consumer.name",
                ));
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
        StandaloneConsumer::with_store_within(config, store, None)
    }

    /// [`StandaloneConsumer::with_store`] whose server calls (name lookup, the end for a start
    /// at the end) share `timeout` (default `request.timeout.ms`).
    pub fn with_store_within(
        config: &Config,
        store: Arc<dyn OffsetStore>,
        timeout: Option<Duration>,
    ) -> Result<StandaloneConsumer> {
        let net = NetConfig::from_config(config)?;
        let deadline = Instant::now() + timeout.unwrap_or(net.request_timeout);
        let aux = ControlClient::new(net.clone(), "consumer-aux");
        let topic_id = match config.get_u64("topic.id") as u32 {
            0 => {
                let name = config.get_str("topic");
                if name.is_empty() {
                    return Err(Error::invalid_arg("set \"topic\" (a name) or \"topic.id\" to consume"));
                }
                let left = deadline.saturating_duration_since(Instant::now());
                let f = aux.request(&Request::ListTopics, left)?;
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
                    format!(
                        "invalid value \"{n}\" for \"start.offset\": expected stored, beginning, end or a byte offset"
                    ),
                )
            })?),
        };
        let (wake_tx, wake_rx) = crossbeam_channel::bounded(1);
        let (closing_tx, closing_rx) = crossbeam_channel::bounded::<()>(0);
        let wakefd = WakeFd::new().ok().map(Arc::new);
        let events = crate::events::Events::new(config, "consumer", wakefd.clone());
        let auto_next = Instant::now() + s.auto_commit_interval;
        let inner = Arc::new(Inner {
            s,
            net,
            store,
            state: Mutex::new(State {
                q: Queue::new(0),
                lc: Lifecycle::new(),
                fatal: None,
                last_commit: None,
                next_auto: auto_next,
                closing_tx: Some(closing_tx),
                thread: None,
                fetch_latency: LatencyHistogram::new(),
            }),
            cond: Condvar::new(),
            wake_tx,
            wakefd,
            events,
            aux,
            tail: Mutex::new(None),
            closing_rx,
            counters: metrics::Counters::default(),
            fetch_link: Arc::new(LinkStats::new("consumer-fetch")),
            #[cfg(test)]
            inject_panic: std::sync::atomic::AtomicBool::new(false),
        });
        let start_at = match wanted {
            SeekTo::Beginning => 0,
            SeekTo::Offset(o) if o != u64::MAX => o,
            _ => inner.query_end(Some(deadline.saturating_duration_since(Instant::now())))?,
        };
        inner.state.lock().q = Queue::new(start_at);
        inner.events.set_owner(inner.id());
        inner
            .events
            .start(crate::events::weak_source(Arc::downgrade(&inner), |i: &Inner| render(&statistics_of(i))))?;
        let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(1);
        let fetcher = Fetcher::new(inner.clone(), wake_rx, start_at);
        let shared = inner.clone();
        let handle = std::thread::Builder::new()
            .name("lnc-consumer-fetch".into())
            .spawn(move || {
                // design.md §10.4: a panic here must fail the handle, not stall it.
                if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fetcher.run())) {
                    let what = p
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown payload".into());
                    shared.fail_fatal(what);
                }
                drop(done_tx);
            })
            .map_err(|e| Error::new(ErrorCode::State, format!("cannot spawn the fetch thread: {e}")))?;
        inner.state.lock().thread = Some((handle, done_rx));
        Ok(StandaloneConsumer { inner })
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
    ///
    /// CLOSED once close began (a waiting poll wakes and returns it); PANIC after the fetch thread
    /// panicked; IN_CALLBACK from inside this consumer's offset store.
    pub fn poll(&self, timeout: Duration) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        self.poll_into(timeout, &mut out, usize::MAX)?;
        Ok(out)
    }

    /// Like [`StandaloneConsumer::poll`], but appends at most `max` (and at most
    /// `max.poll.records`) records to `out`; reuse `out` to avoid an allocation per poll. Returns
    /// how many records were appended. `max` 0 counts as 1.
    pub fn poll_into(&self, timeout: Duration, out: &mut Vec<Record>, max: usize) -> Result<usize> {
        self.poll_within_bytes(timeout, out, max, usize::MAX)
    }

    /// Like [`StandaloneConsumer::poll_into`], taking records only while their values total at
    /// most `budget` bytes (for a caller-owned buffer). If the first record alone is larger, it
    /// stays queued and the error is MSG_TOO_LARGE, naming the size needed.
    pub fn poll_within_bytes(
        &self,
        timeout: Duration,
        out: &mut Vec<Record>,
        max: usize,
        budget: usize,
    ) -> Result<usize> {
        let inner = &*self.inner;
        inner.refuse_in_store("poll")?;
        self.maybe_auto_commit()?;
        let deadline = Instant::now().checked_add(timeout);
        let mut st = inner.state.lock();
        loop {
            if let Verdict::Refuse(code) = st.lc.admit(Op::Poll) {
                return Err(inner.refusal(code, &st));
            }
            if !st.q.is_empty() {
                break;
            }
            match deadline {
                Some(d) => {
                    if inner.cond.wait_until(&mut st, d).timed_out() {
                        if let Verdict::Refuse(code) = st.lc.admit(Op::Poll) {
                            return Err(inner.refusal(code, &st));
                        }
                        if st.q.is_empty() {
                            return Ok(0);
                        }
                        break;
                    }
                }
                None => inner.cond.wait(&mut st),
            }
        }
        let max = inner.s.max_poll_records.min(max.max(1));
        let before = out.len();
        let taken = st.q.take_within(max, budget, out);
        if st.q.is_empty() {
            if let Some(w) = &inner.wakefd {
                w.clear();
                // Events share the eventfd: keep it readable while they wait.
                inner.events.rearm();
            }
        }
        if st.q.fetcher_blocked && st.q.bytes() < inner.s.queued_max_bytes {
            st.q.fetcher_blocked = false;
            inner.wake_fetcher();
        }
        drop(st);
        let c = &inner.counters;
        match taken {
            Taken::Records(n) => {
                metrics::Counters::add(&c.records, n as u64);
                metrics::Counters::add(&c.bytes, out[before..].iter().map(|r| r.value.len() as u64).sum());
                Ok(n)
            }
            Taken::Error(e) => {
                metrics::Counters::add(&c.errors, 1);
                Err(*e)
            }
            Taken::TooLarge(n) => Err(Error::new(
                ErrorCode::MsgTooLarge,
                format!("the next record's value is {n} bytes; the buffer has {budget} (nothing was consumed)"),
            )),
        }
    }

    /// Polls and calls `f` for each record (on this thread, no lock held). Returns how many
    /// records were handled; an error is returned as with [`StandaloneConsumer::poll`].
    pub fn poll_each<F: FnMut(&Record)>(&self, timeout: Duration, mut f: F) -> Result<usize> {
        let records = self.poll(timeout)?;
        for r in &records {
            f(r);
        }
        Ok(records.len())
    }

    /// A descriptor that is readable while records or errors are waiting to be polled (Linux
    /// eventfd; owned by the consumer, do not close it). `None` if it could not be created. It
    /// also becomes readable when the consumer closes or fails, so that the next poll reports it.
    pub fn eventfd(&self) -> Option<std::os::unix::io::RawFd> {
        self.inner.wakefd.as_ref().map(|w| w.fd())
    }

    /// Takes up to `max` queued events (connection changes, circuit changes, statistics, …),
    /// waiting up to `timeout` for the first; see [`crate::events`]. Works after `close` too, to
    /// drain what is left. With an event callback set on the config, events go there instead.
    pub fn poll_events(&self, max: usize, timeout: Duration) -> Vec<crate::events::Event> {
        let inner = &*self.inner;
        let out = inner.events.take(max, Instant::now() + timeout);
        if let Some(w) = &inner.wakefd {
            // Clear first, then look: anything queued meanwhile re-signals.
            let st = inner.state.lock();
            w.clear();
            if !st.q.is_empty() || st.lc.phase() != lifecycle::Phase::Open {
                w.signal();
            }
            drop(st);
            inner.events.rearm();
        }
        out
    }

    /// The circuit breaker's state.
    pub fn circuit_state(&self) -> crate::events::CircuitState {
        self.inner.events.circuit_state()
    }

    /// P: the record-boundary position just past the last record handed out by `poll` (the start
    /// position before the first record). This is what [`StandaloneConsumer::commit`] stores.
    pub fn position(&self) -> u64 {
        self.inner.state.lock().q.delivered
    }

    /// Moves the consumer: queued records and in-flight fetches of the old position are
    /// discarded, and a paused consumer (after CORRUPT_RECORD, OFFSET_OUT_OF_RANGE with
    /// `offset.reset=error`, or a final server error) resumes. [`SeekTo::End`] asks the server
    /// for the end first (blocking up to `request.timeout.ms`, or until close). Returns the new
    /// position. CLOSED once close began; PANIC after the fetch thread panicked.
    pub fn seek(&self, to: SeekTo) -> Result<u64> {
        self.seek_within(to, None)
    }

    /// [`StandaloneConsumer::seek`] with the server call (for [`SeekTo::End`]) bounded by
    /// `timeout` instead of `request.timeout.ms`.
    pub fn seek_within(&self, to: SeekTo, timeout: Option<Duration>) -> Result<u64> {
        let inner = &*self.inner;
        inner.refuse_in_store("seek")?;
        {
            let st = inner.state.lock();
            if let Verdict::Refuse(code) = st.lc.admit(Op::Seek) {
                return Err(inner.refusal(code, &st));
            }
        }
        let target = match to {
            SeekTo::Beginning => 0,
            SeekTo::Offset(o) if o != u64::MAX => o,
            _ => inner.query_end(timeout)?,
        };
        // Decide and act under one lock: a close that began meanwhile wins.
        let mut st = inner.state.lock();
        if let Verdict::Refuse(code) = st.lc.admit(Op::Seek) {
            return Err(inner.refusal(code, &st));
        }
        st.q.seek(target);
        if let Some(w) = &inner.wakefd {
            w.clear();
            inner.events.rearm();
        }
        drop(st);
        inner.wake_fetcher();
        Ok(target)
    }

    /// A snapshot of the counters. Never blocks on the network (the end of the topic is the
    /// last one a reply told; see [`StandaloneConsumer::lag`] for a fresh one). Works in every
    /// state, closed included.
    pub fn metrics(&self) -> ConsumerMetrics {
        metrics_of(&self.inner)
    }

    /// The statistics document (schema version 1, `docs/statistics.md`): counters, position,
    /// lag against the last known end, fetch latency quantiles, and the fetch and auxiliary
    /// connections. Never blocks on the network; works in every state, closed included.
    pub fn statistics(&self) -> ConsumerStatistics {
        statistics_of(&self.inner)
    }

    /// [`StandaloneConsumer::statistics`] as one line of JSON.
    pub fn statistics_json(&self) -> String {
        render(&self.statistics())
    }

    /// `seek(SeekTo::Beginning)`.
    pub fn rewind(&self) -> Result<u64> {
        self.seek(SeekTo::Beginning)
    }

    /// Bytes between [`StandaloneConsumer::position`] and the end of the topic. The end comes
    /// from the fetch thread's latest short window or CatchingUp reply when that is recent
    /// (under 500 ms); otherwise from one Fetch at u64::MAX (blocking up to
    /// `request.timeout.ms`, or until close), at most once per 500 ms.
    pub fn lag(&self) -> Result<u64> {
        self.lag_within(None)
    }

    /// [`StandaloneConsumer::lag`] with the server call bounded by `timeout` instead of
    /// `request.timeout.ms`.
    pub fn lag_within(&self, timeout: Option<Duration>) -> Result<u64> {
        let inner = &*self.inner;
        inner.refuse_in_store("lag")?;
        {
            let st = inner.state.lock();
            if let Verdict::Refuse(code) = st.lc.admit(Op::Lag) {
                return Err(inner.refusal(code, &st));
            }
        }
        let fresh = inner.tail.lock().filter(|(_, at)| at.elapsed() < TAIL_FRESH).map(|(t, _)| t);
        let tail = match fresh {
            Some(t) => t,
            None => inner.query_end(timeout)?,
        };
        Ok(tail.saturating_sub(self.position()))
    }

    /// Stores P in the offset store now; returns the committed offset. The store is called on
    /// this thread with no lock held; a commit running on another thread is waited for (up to
    /// `request.timeout.ms`).
    /// CLOSED once close began; IN_CALLBACK from inside this consumer's offset store.
    pub fn commit(&self) -> Result<u64> {
        self.commit_within(None)
    }

    /// [`StandaloneConsumer::commit`] waiting at most `timeout` (default `request.timeout.ms`)
    /// for a commit running on another thread (TIMED_OUT then); the store call itself is not
    /// interrupted.
    pub fn commit_within(&self, timeout: Option<Duration>) -> Result<u64> {
        // Hold our own reference: the store may drop the last other one.
        let inner = self.inner.clone();
        let deadline = Instant::now().checked_add(timeout.unwrap_or(inner.s.request_timeout));
        match inner.commit(Op::Commit, Force::Always, deadline)? {
            Some(p) => Ok(p),
            None => Ok(inner.state.lock().q.delivered),
        }
    }

    fn maybe_auto_commit(&self) -> Result<()> {
        let inner = self.inner.clone();
        if !inner.s.auto_commit {
            return Ok(());
        }
        let due = {
            let mut st = inner.state.lock();
            let now = Instant::now();
            if now >= st.next_auto && st.lc.admit(Op::AutoCommit) == Verdict::Go {
                st.next_auto = now + inner.s.auto_commit_interval;
                true
            } else {
                false
            }
        };
        if due {
            match inner.commit(Op::AutoCommit, Force::IfMoved, None) {
                // The poll itself reports CLOSED.
                Err(e) if e.code == ErrorCode::Closed => {}
                r => {
                    r?;
                }
            }
        }
        Ok(())
    }

    /// True while this consumer's offset store runs on the calling thread (inside `save`). Every
    /// fallible call made then fails with IN_CALLBACK; bindings use this to refuse freeing the
    /// handle from inside its own store.
    pub fn in_store_callback(&self) -> bool {
        commit::in_store(self.inner.id())
    }

    /// The last committed offset (by this handle), if any.
    pub fn committed(&self) -> Option<u64> {
        self.inner.state.lock().last_commit
    }

    /// Closes the consumer: every other call, now and later, returns CLOSED (waiting polls wake
    /// at once); stops and joins the fetch thread; then, with `enable.auto.commit`, commits P.
    /// Returns within `timeout` (plus scheduling slack) whatever other threads do, except for the
    /// time the final commit's own store call takes: TIMED_OUT if the fetch thread did not stop
    /// in time (it stops on its own) or a commit on another thread still ran at the deadline (the
    /// final commit is then skipped). Idempotent: later (or concurrent) calls return `Ok(())`.
    /// Records still queued are dropped (they were not handed out, so they are not committed).
    /// IN_CALLBACK from inside this consumer's offset store.
    pub fn close(&self, timeout: Duration) -> Result<()> {
        let inner = self.inner.clone();
        inner.refuse_in_store("close")?;
        let deadline = Instant::now().checked_add(timeout);
        let thread = {
            let mut st = inner.state.lock();
            if st.lc.admit(Op::Close) != Verdict::Go {
                return Ok(());
            }
            st.lc.begin_close();
            st.q.clear();
            st.closing_tx = None;
            st.thread.take()
        };
        inner.wake_all();
        let joined = match thread {
            None => true,
            Some((handle, done)) => {
                let stopped = match deadline {
                    Some(d) => !matches!(done.recv_deadline(d), Err(crossbeam_channel::RecvTimeoutError::Timeout)),
                    None => {
                        let _ = done.recv();
                        true
                    }
                };
                if stopped {
                    let _ = handle.join();
                }
                stopped
            }
        };
        let commit = if inner.s.auto_commit {
            inner.commit(Op::FinalCommit, Force::IfMoved, deadline).map(|_| ())
        } else {
            Ok(())
        };
        inner.state.lock().lc.finish_close();
        inner.cond.notify_all();
        inner.events.close();
        if !joined {
            return Err(Error::timed_out(
                "the fetch thread did not stop within the close timeout (it stops on its own)",
            ));
        }
        commit
    }
}

impl Drop for StandaloneConsumer {
    fn drop(&mut self) {
        if commit::in_store(self.inner.id()) {
            // Dropped from inside its own offset store: close without waiting for anything.
            self.inner.seal();
            return;
        }
        let t = self.inner.s.request_timeout.min(Duration::from_secs(5));
        let _ = self.close(t);
    }
}

/// The counters of a consumer's shared state.
fn metrics_of(inner: &Inner) -> ConsumerMetrics {
    let (position, queued_events, queued_bytes, lat) = {
        let st = inner.state.lock();
        (st.q.delivered, st.q.len() as u64, st.q.bytes() as u64, st.fetch_latency.summary())
    };
    let tail = *inner.tail.lock();
    let c = &inner.counters;
    let g = metrics::Counters::get;
    ConsumerMetrics {
        records: g(&c.records),
        bytes: g(&c.bytes),
        errors: g(&c.errors),
        fetches: g(&c.fetches),
        empty_fetches: g(&c.empty_fetches),
        fetch_bytes: g(&c.fetch_bytes),
        catching_up: g(&c.catching_up),
        position,
        end_offset: tail.map(|(t, _)| t),
        end_offset_age_ms: tail.map_or(0, |(_, at)| at.elapsed().as_millis() as u64),
        lag: tail.map_or(0, |(t, _)| t.saturating_sub(position)),
        queued_events,
        queued_bytes,
        reassembly_carry_bytes: g(&c.carry),
        fetch_latency_p50_us: lat.p50_us,
        fetch_latency_p99_us: lat.p99_us,
        fetch_latency_max_us: lat.max_us,
        reconnects: inner.fetch_link.snapshot().connects.saturating_sub(1),
    }
}

/// The statistics document of a consumer's shared state (also taken by the event thread for
/// `statistics.interval.ms`).
fn statistics_of(inner: &Inner) -> ConsumerStatistics {
    let m = metrics_of(inner);
    let fetch_latency = inner.state.lock().fetch_latency.summary();
    ConsumerStatistics {
        version: STATISTICS_VERSION,
        kind: "consumer",
        timestamp_ms: timestamp_ms(),
        circuit: inner.events.circuit_state().name(),
        topic_id: inner.s.topic_id,
        records: m.records,
        bytes: m.bytes,
        fetches: m.fetches,
        empty_fetches: m.empty_fetches,
        fetch_bytes: m.fetch_bytes,
        catching_up: m.catching_up,
        errors: m.errors,
        position: m.position,
        end_offset: m.end_offset,
        end_offset_age_ms: m.end_offset.map(|_| m.end_offset_age_ms),
        lag: m.end_offset.map(|_| m.lag),
        queued_events: m.queued_events,
        queued_bytes: m.queued_bytes,
        reassembly_carry_bytes: m.reassembly_carry_bytes,
        fetch_latency,
        connections: vec![inner.fetch_link.snapshot(), inner.aux.link_stats().snapshot()],
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::TcpStream;
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::mock::{MockBroker, MockConfig};
    use crate::wire::tlv::build_envelope;
    use crate::wire::{encode_frame, flags, Checksum, FrameDecoder, FrameKind, DEFAULT_MAX_PAYLOAD};

    fn broker() -> MockBroker {
        MockBroker::start(MockConfig { ack_delay: Duration::ZERO, ..Default::default() }).unwrap()
    }

    /// Writes each payload as one ingest frame and waits for every Ack.
    fn ingest(b: &MockBroker, topic: u32, payloads: &[Vec<u8>]) {
        let mut s = TcpStream::connect(b.address()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = Vec::new();
        for (i, p) in payloads.iter().enumerate() {
            encode_frame(&mut buf, Checksum::Crc32, flags::INGEST, i as u64 + 1, 0, 1, topic, p);
        }
        s.write_all(&buf).unwrap();
        let mut dec = FrameDecoder::new(Checksum::Crc32, DEFAULT_MAX_PAYLOAD);
        let mut acks = 0;
        while acks < payloads.len() {
            assert!(dec.read_from(&mut s, 64 * 1024).unwrap() > 0);
            while let Some(f) = dec.next_frame().unwrap() {
                assert_eq!(f.kind(), FrameKind::Ack);
                acks += 1;
            }
        }
    }

    fn config(b: &MockBroker, topic: u32, extra: &[(&str, &str)]) -> Config {
        let addr = b.address_string();
        let topic = topic.to_string();
        let mut pairs: Vec<(&str, &str)> = vec![
            ("bootstrap.servers", addr.as_str()),
            ("topic.id", topic.as_str()),
            ("request.timeout.ms", "5000"),
            ("fetch.max.wait.ms", "5"),
            ("enable.auto.commit", "false"),
            ("start.offset", "beginning"),
        ];
        pairs.extend_from_slice(extra);
        Config::from_pairs(pairs).unwrap()
    }

    /// `n` raw records of `size` bytes, each starting with its sequence number.
    fn records(first: u64, n: u64, size: usize) -> Vec<u8> {
        let mut p = Vec::new();
        for i in first..first + n {
            let mut v = vec![0x61; size];
            v[..8].copy_from_slice(&i.to_le_bytes());
            Record::raw(v).encode_into(&mut p);
        }
        p
    }

    /// Regression (issue 14, reproduction 3, without RSS): envelopes that expand ~200× used to be
    /// expanded whole, a fetch window at a time, whatever the queue held. Now the queue never holds
    /// more than its bound plus one record, the decompressed remainder waits in the reassembler,
    /// and every record still arrives once, in order, with exact positions.
    #[test]
    fn lz4_envelopes_are_decoded_only_within_queued_max_bytes() {
        let b = broker();
        let t = b.create_topic("lz4").unwrap();
        let per_env = 1024u64; // 1 KiB records: 1 MiB plain per envelope, ~4 KiB compressed
        let envs: Vec<Vec<u8>> =
            (0..32).map(|e| build_envelope(&records(e * per_env, per_env, 1024)).unwrap()).collect();
        ingest(&b, t, &envs);
        let bound = 256 * 1024;
        let c = StandaloneConsumer::new(&config(
            &b,
            t,
            &[("queued.max.bytes", &bound.to_string()), ("max.poll.records", "100")],
        ))
        .unwrap();
        // Let the fetcher run ahead of a poller that has not started yet.
        std::thread::sleep(Duration::from_millis(500));
        let mut max_seen = 0;
        let mut next = 0u64;
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while next < 32 * per_env {
            assert!(Instant::now() < deadline, "only {next} records arrived");
            max_seen = max_seen.max(c.inner.state.lock().q.bytes());
            out.clear();
            c.poll_into(Duration::from_millis(100), &mut out, usize::MAX).unwrap();
            for r in &out {
                assert_eq!(u64::from_le_bytes(r.value[..8].try_into().unwrap()), next);
                next += 1;
            }
        }
        let limit = bound + 1024 + queue::RECORD_OVERHEAD;
        assert!(max_seen <= limit, "the queue held {max_seen} bytes (bound {bound})");
        assert!(
            max_seen >= bound / 2,
            "the fetcher never filled the queue ({max_seen}); the test did not exercise the bound"
        );
        let total: u64 = envs.iter().map(|e| e.len() as u64).sum();
        assert_eq!(c.position(), total);
    }

    /// design.md §10.4: a panic in the fetch thread fails the handle: a poll waiting with a long
    /// timeout wakes with PANIC, later polls and seeks return it, close still works.
    #[test]
    fn a_fetch_thread_panic_fails_the_handle_and_wakes_pollers() {
        let b = broker();
        let t = b.create_topic("panic").unwrap();
        let c = Arc::new(StandaloneConsumer::new(&config(&b, t, &[])).unwrap());
        let c2 = c.clone();
        let waiter = std::thread::spawn(move || {
            let t0 = Instant::now();
            (c2.poll(Duration::from_secs(30)), t0.elapsed())
        });
        std::thread::sleep(Duration::from_millis(200));
        c.inner.inject_panic.store(true, Ordering::Release);
        c.inner.wake_fetcher();
        let (r, took) = waiter.join().unwrap();
        assert_eq!(r.unwrap_err().code, ErrorCode::Panic);
        assert!(took < Duration::from_secs(20), "the waiting poll was not woken ({took:?})");
        assert_eq!(c.poll(Duration::from_secs(5)).unwrap_err().code, ErrorCode::Panic);
        assert_eq!(c.seek(SeekTo::Beginning).unwrap_err().code, ErrorCode::Panic);
        assert_eq!(c.commit().unwrap(), 0, "P is still valid and committable");
        c.close(Duration::from_secs(2)).unwrap();
        assert_eq!(c.poll(Duration::ZERO).unwrap_err().code, ErrorCode::Closed);
    }
}
