//! Connection events, the log callback, the circuit breaker and periodic statistics: one model
//! for producer, consumer and admin handles (issue #17).
//!
//! - [`event`]: the [`Event`] type and its [`EventKind`]s;
//! - [`queue`]: the bounded per-handle queue with its counted "events dropped" marker (pure);
//! - [`circuit`]: the circuit breaker (pure state machine);
//! - [`log`](mod@log): levels, the log callback and the stderr default;
//! - `stats_hook`: the statistics document until the statistics work provides it.
//!
//! [`Events`] is what a handle owns: raising an event logs it once (with its reason), queues it
//! and signals the handle's eventfd; the user takes events on their own thread with the
//! handle's `poll_events`, or has a library thread pass them to an event callback set on the
//! config. No lock is held while user code (log or event callback) runs.

pub mod circuit;
pub mod event;
pub mod log;
pub mod queue;
pub(crate) mod stats_hook;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use circuit::{CircuitBreaker, CircuitState, Permit};
pub use event::{Event, EventKind};
pub use log::{Level, LogCallback};
pub use queue::EventQueue;

use crate::config::Config;
use crate::error::{Error, ErrorCode};
use crate::notify::WakeFd;
// parking_lot directly: the event thread is not part of the producer's shuttle model.
use parking_lot::{Condvar, Mutex};

/// An event callback, run on the handle's event thread (see `Config::set_event_callback`).
#[derive(Clone)]
pub struct EventCallback(pub(crate) Arc<dyn Fn(&Event) + Send + Sync>);

impl EventCallback {
    /// Wraps `f`.
    pub fn new(f: impl Fn(&Event) + Send + Sync + 'static) -> EventCallback {
        EventCallback(Arc::new(f))
    }
}

impl PartialEq for EventCallback {
    fn eq(&self, other: &EventCallback) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(&self.0), Arc::as_ptr(&other.0))
    }
}

impl std::fmt::Debug for EventCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventCallback")
    }
}

/// Produces a handle's statistics document (`None` once the handle is gone).
pub(crate) type StatsSource = Box<dyn Fn() -> Option<String> + Send>;

/// Most events handed to the event callback per round.
const DISPATCH_CHUNK: usize = 64;

/// One handle's events: queue, logger, circuit breaker, counters, and the optional event thread.
pub struct Events {
    owner: Arc<AtomicUsize>,
    queue: Mutex<EventQueue>,
    cond: Condvar,
    wake: Option<Arc<WakeFd>>,
    logger: log::Logger,
    breaker: Mutex<CircuitBreaker>,
    /// Mirror of "the breaker is open" for the send fast path.
    open: AtomicBool,
    counts: [AtomicU64; EventKind::ALL.len()],
    callback: Option<EventCallback>,
    stats_interval: Duration,
    closed: AtomicBool,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Set by the first `poll_events`: from then on events make the eventfd readable. Until
    /// then the eventfd keeps its old meaning (reports or records), so an event loop that never
    /// takes events is not woken (level-triggered: it would spin) by events it ignores.
    subscribed: AtomicBool,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").field("circuit", &self.circuit_state()).finish()
    }
}

impl Events {
    /// Events for a handle of `kind` ("producer", "consumer", "admin"), signalling `wake`.
    pub(crate) fn new(config: &Config, kind: &'static str, wake: Option<Arc<WakeFd>>) -> Arc<Events> {
        let owner = Arc::new(AtomicUsize::new(0));
        Arc::new(Events {
            logger: log::Logger::new(config, kind, owner.clone()),
            owner,
            queue: Mutex::new(EventQueue::new(config.get_u64("events.queue.max") as usize)),
            cond: Condvar::new(),
            wake,
            breaker: Mutex::new(CircuitBreaker::new(
                config.get_u64("circuit.breaker.failures") as u32,
                config.get_ms("circuit.breaker.reset.ms"),
            )),
            open: AtomicBool::new(false),
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            callback: config.event_callback(),
            stats_interval: config.get_ms("statistics.interval.ms"),
            closed: AtomicBool::new(false),
            thread: Mutex::new(None),
            subscribed: AtomicBool::new(false),
        })
    }

    /// Sets the re-entrancy id of the owning handle (user callbacks run inside its scope, so
    /// `close` from inside them is IN_CALLBACK).
    pub(crate) fn set_owner(&self, id: usize) {
        self.owner.store(id, Ordering::Release);
    }

    /// Starts the event thread when an event callback or statistics are configured. `stats`
    /// produces the statistics document.
    pub(crate) fn start(self: &Arc<Self>, stats: StatsSource) -> crate::Result<()> {
        if self.callback.is_none() && self.stats_interval.is_zero() {
            return Ok(());
        }
        let me = self.clone();
        let t = std::thread::Builder::new()
            .name("lnc-events".into())
            .spawn(move || {
                let ev = me.clone();
                if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ev.run(stats))) {
                    let what = p
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "non-string panic payload".into());
                    me.emit(
                        Event::new(EventKind::Fatal, format!("internal panic in the event thread: {what}"))
                            .code(ErrorCode::Panic),
                    );
                }
            })
            .map_err(|e| Error::new(ErrorCode::Io, format!("cannot spawn the event thread: {e}")))?;
        *self.thread.lock() = Some(t);
        Ok(())
    }

    /// The event thread: statistics every interval, and the event callback.
    fn run(&self, stats: StatsSource) {
        let mut next_stats = (!self.stats_interval.is_zero()).then(|| Instant::now() + self.stats_interval);
        let mut batch = Vec::new();
        loop {
            let closed = self.closed.load(Ordering::Acquire);
            if let Some(t) = next_stats {
                if Instant::now() >= t && !closed {
                    next_stats = Some(t + self.stats_interval).map(|n| n.max(Instant::now()));
                    match stats() {
                        Some(json) => self.emit(Event::new(EventKind::Statistics, json)),
                        None => next_stats = None,
                    }
                }
            }
            if let Some(cb) = &self.callback {
                batch.clear();
                self.queue.lock().take(DISPATCH_CHUNK, &mut batch);
                if !batch.is_empty() {
                    let _scope = crate::reentry::Scope::enter(self.owner.load(Ordering::Acquire));
                    for e in &batch {
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (cb.0)(e)));
                    }
                    continue;
                }
            }
            if closed {
                return;
            }
            let mut q = self.queue.lock();
            if self.closed.load(Ordering::Acquire) || (self.callback.is_some() && !q.is_empty()) {
                continue;
            }
            match next_stats {
                Some(t) => {
                    self.cond.wait_until(&mut q, t);
                }
                None => self.cond.wait(&mut q),
            }
        }
    }

    /// Stops the event thread (after it passed every queued event to the callback) and wakes
    /// every `poll_events` waiter. Events raised later are still queued for `poll_events`.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        {
            let _q = self.queue.lock();
            self.cond.notify_all();
        }
        let t = self.thread.lock().take();
        if let Some(t) = t {
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }

    /// Logs `e` once and queues it (counted, signalled). Call with no lock held.
    pub fn emit(&self, mut e: Event) {
        if e.kind != EventKind::Statistics {
            e.message = self.logger.scrub(&e.message);
        }
        self.counts[Self::slot(e.kind)].fetch_add(1, Ordering::Relaxed);
        let level = e.kind.level();
        if self.logger.enabled(level) {
            self.logger.log(level, &e.to_string());
        }
        let became_ready = self.queue.lock().push(e);
        self.cond.notify_all();
        if became_ready && self.subscribed.load(Ordering::Acquire) {
            if let Some(w) = &self.wake {
                w.signal();
            }
        }
    }

    /// Logs a line that is not an event (a retry, a protocol oddity). Call with no lock held.
    pub fn log(&self, level: Level, text: impl FnOnce() -> String) {
        if self.logger.enabled(level) {
            self.logger.log(level, &text());
        }
    }

    fn slot(kind: EventKind) -> usize {
        kind as usize - 1
    }

    /// How many events of `kind` were raised so far.
    pub fn count(&self, kind: EventKind) -> u64 {
        self.counts[Self::slot(kind)].load(Ordering::Relaxed)
    }

    /// Takes up to `max` events, waiting until `until` for the first (not after [`Events::close`]).
    /// The first call subscribes the eventfd to events (see `subscribed`).
    pub fn take(&self, max: usize, until: Instant) -> Vec<Event> {
        self.subscribed.store(true, Ordering::Release);
        let mut out = Vec::new();
        let mut q = self.queue.lock();
        if self.callback.is_some() {
            // The event thread owns the queue: nothing to take, but honour the timeout.
            while !self.closed.load(Ordering::Acquire) {
                if self.cond.wait_until(&mut q, until).timed_out() {
                    break;
                }
            }
            return out;
        }
        while q.is_empty() && !self.closed.load(Ordering::Acquire) && max > 0 {
            if self.cond.wait_until(&mut q, until).timed_out() {
                break;
            }
        }
        q.take(max, &mut out);
        out
    }

    /// True while events wait to be taken.
    pub fn pending(&self) -> bool {
        !self.queue.lock().is_empty()
    }

    /// Re-signals the eventfd if events wait (call after clearing it for another queue).
    pub(crate) fn rearm(&self) {
        if let Some(w) = &self.wake {
            if self.subscribed.load(Ordering::Acquire) && self.pending() {
                w.signal();
            }
        }
    }

    // ---- circuit breaker ----

    /// The breaker's state (for statistics).
    pub fn circuit_state(&self) -> CircuitState {
        self.breaker.lock().state()
    }

    /// True while the circuit is open (one atomic load: the send fast path).
    pub fn circuit_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// May a connect attempt start now? Raises the half-open event when it does.
    pub(crate) fn permit_connect(&self, now: Instant) -> Permit {
        let (p, t) = self.breaker.lock().permit(now);
        if let Some(t) = t {
            self.circuit_changed(t, "");
        }
        p
    }

    /// A connect attempt to `server` succeeded.
    pub(crate) fn connected(&self, server: &str) {
        let t = self.breaker.lock().on_success();
        if let Some(t) = t {
            self.circuit_changed(t, server);
        }
        self.emit(Event::new(EventKind::Connected, "").server(server));
    }

    /// A connect attempt failed with `e`; the next one is in `delay` (`failures` in a row).
    /// Raises reconnect scheduled (with the later of the delay and the circuit's reset time),
    /// and circuit open when this failure opened it.
    pub(crate) fn connect_failed(&self, e: &Error, failures: u32, delay: Duration) -> Duration {
        let now = Instant::now();
        let (t, wait) = {
            let mut b = self.breaker.lock();
            let t = b.on_failure(now);
            let wait = match b.open_until() {
                Some(until) => delay.max(until.saturating_duration_since(now)),
                None => delay,
            };
            (t, wait)
        };
        if let Some(t) = t {
            self.circuit_changed(t, &e.message);
        }
        self.emit(Event::new(EventKind::ReconnectScheduled, e.message.clone()).code(e.code).attempt(failures, wait));
        wait
    }

    fn circuit_changed(&self, to: CircuitState, why: &str) {
        self.open.store(to == CircuitState::Open, Ordering::Release);
        let e = match to {
            CircuitState::Open => {
                let reset = self.breaker.lock().reset();
                Event::new(
                    EventKind::CircuitOpen,
                    format!("too many connection failures in a row; next trial in {} ms: {why}", reset.as_millis()),
                )
                .code(ErrorCode::CircuitOpen)
                .attempt(0, reset)
            }
            CircuitState::HalfOpen => Event::new(EventKind::CircuitHalfOpen, "trying one connection"),
            CircuitState::Closed => Event::new(EventKind::CircuitClosed, "connected again").server(why),
        };
        self.emit(e);
    }

    /// The error for a non-blocking call refused while the circuit is open.
    pub(crate) fn open_error(&self) -> Error {
        Error::new(
            ErrorCode::CircuitOpen,
            "the circuit breaker is open: the server has been unreachable for circuit.breaker.failures connection \
             attempts in a row (a blocking send would wait for the connection)",
        )
    }
}

/// Keeps a handle's statistics source from keeping the handle alive.
pub(crate) fn weak_source<T: Send + Sync + 'static>(w: Weak<T>, f: fn(&T) -> String) -> StatsSource {
    Box::new(move || w.upgrade().map(|t| f(&t)))
}
