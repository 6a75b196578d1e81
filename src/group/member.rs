//! The member runtime: one thread per [`GroupConsumer`] reads the group topic, feeds the pure
//! [`GroupView`], asks [`plan`] what to do and does it with a [`Producer`] (group records) and one
//! [`StandaloneConsumer`] per owned topic. The application's `poll` drains those consumers on its
//! own thread.
//!
//! **Positions.** For every owned topic the runtime keeps *delivered* (just past the last record
//! `poll` handed out) and *processed* (delivered as of the start of the latest `poll` call: the
//! application has finished with everything an earlier poll returned). Commits write
//! *processed*, so a handover re-delivers at most what the old owner had handed out but not yet
//! seen processed (docs/groups.md §6). `close` commits *delivered*: the application is done.
//!
//! **Locks.** `Inner::shared` (lifecycle, slots, pending assignment events) and one lock per slot
//! (its consumer and positions). Neither is held while waiting, while calling the producer, or
//! while closing a consumer; the slot lock is held around a zero-timeout `poll_into` of that
//! topic's consumer (no I/O, no user code) so that a stop reads a position no poll can pass.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Condvar, Mutex};

use super::assign::Strategy;
use super::group_topic_name;
use super::record::{valid_member_id, Body, DecodeError, GroupRecord};
use super::view::{is_live, performed, plan, Action, GroupView, Local, Timing};
use crate::admin::{Admin, Retention};
use crate::config::Config;
use crate::consumer::StandaloneConsumer;
use crate::error::{Error, ErrorCode, Result};
use crate::notify::WakeFd;
use crate::producer::{Message, Producer};
use crate::wire::Record;

/// Retention of a group topic created on demand: a week, and at most 256 MiB (docs/groups.md §7).
pub const GROUP_TOPIC_RETENTION: Retention =
    Retention { max_age_secs: Some(7 * 24 * 3600), max_bytes: Some(256 * 1024 * 1024) };
/// How often a prefix subscription (or a list with topics not created yet) is listed again.
const TOPIC_REFRESH: Duration = Duration::from_secs(5);
/// Every owned topic's commit is written again at least this often, unchanged or not, so that
/// retention never removes the newest commit of a quiet topic.
const COMMIT_REFRESH: Duration = Duration::from_secs(3600);
/// Pause before a topic whose consumer could not be created is tried again.
const START_RETRY: Duration = Duration::from_secs(1);
/// How long a stopping topic's consumer may take to close.
const STOP_TIMEOUT: Duration = Duration::from_secs(2);

/// What `poll` returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupEvent {
    /// A record of an owned topic.
    Record {
        /// The topic it came from.
        topic_id: u32,
        /// The record (its `offset` is its byte offset in that topic).
        record: Record,
    },
    /// These topics are now this member's (consumption starts at the group's newest commit).
    Assigned(Vec<u32>),
    /// These topics are no longer this member's; records of them already returned may be
    /// delivered again to their next owner (docs/groups.md §6).
    Revoked(Vec<u32>),
    /// A consumer of `topic_id` reported an error (transport errors are retried underneath).
    Error {
        /// The topic.
        topic_id: u32,
        /// What happened.
        error: Error,
    },
}

/// Counters of one member (a snapshot).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupMetrics {
    /// The newest generation this member has seen.
    pub generation: u64,
    /// Live members in its view.
    pub members: u64,
    /// Records handed out by `poll`.
    pub records: u64,
    /// Topics started (assignments taken up).
    pub started: u64,
    /// Topics stopped (revocations).
    pub stopped: u64,
    /// Commit records written.
    pub commits: u64,
    /// Group records that failed to be written (the next heartbeat or commit follows).
    pub write_failures: u64,
    /// Group-topic records skipped: foreign, malformed or from a newer version.
    pub skipped_records: u64,
    /// Commits the view refused (writer no longer held the topic).
    pub fenced_commits: u64,
}

struct SlotState {
    consumer: Option<StandaloneConsumer>,
    delivered: u64,
    processed: u64,
}

struct Slot {
    topic_id: u32,
    st: Mutex<SlotState>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Life {
    Open,
    Closing,
    Closed,
}

struct Shared {
    life: Life,
    fatal: Option<Error>,
    slots: BTreeMap<u32, Arc<Slot>>,
    events: VecDeque<GroupEvent>,
    thread: Option<JoinHandle<()>>,
    rotate: usize,
}

const RUN: u8 = 0;
const STOP_CLEAN: u8 = 1;
const STOP_CRASH: u8 = 2;

struct Inner {
    member_id: String,
    shared: Mutex<Shared>,
    cond: Condvar,
    wake: WakeFd,
    stop: AtomicU8,
    max_poll_records: usize,
    records: AtomicU64,
    metrics: Mutex<GroupMetrics>,
    /// Test hook: the member thread panics at its next turn.
    #[cfg(test)]
    inject_panic: std::sync::atomic::AtomicBool,
}

impl Inner {
    fn signal(&self) {
        self.wake.signal();
        self.cond.notify_all();
    }

    fn push_event(&self, e: GroupEvent) {
        self.shared.lock().events.push_back(e);
        self.signal();
    }
}

/// Which topics the group shares.
#[derive(Clone, Debug)]
enum TopicSpec {
    Names(Vec<String>),
    Prefix(String),
}

/// Settings read from the configuration.
#[derive(Clone, Debug)]
struct GroupSettings {
    group: String,
    member_id: String,
    strategy: Strategy,
    session_timeout_ms: u64,
    heartbeat_interval_ms: u64,
    commit_interval: Duration,
    topics: TopicSpec,
    start_when_uncommitted: String,
    request_timeout: Duration,
}

impl GroupSettings {
    fn from_config(c: &Config) -> Result<GroupSettings> {
        let group = c.get_str("group.id");
        if group.is_empty() {
            return Err(Error::invalid_arg("set \"group.id\" to join a group"));
        }
        let topic = group_topic_name(&group);
        if topic.len() > 255 || !group.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(Error::new(
                ErrorCode::InvalidValue,
                format!("group.id \"{group}\" must be [A-Za-z0-9-] and fit a topic name (\"{topic}\")"),
            ));
        }
        let member_id = match c.get_str("group.member.id") {
            s if s.is_empty() => format!("{}-{}-{:016x}", c.get_str("client.id"), std::process::id(), random_u64()),
            s => s,
        };
        if !valid_member_id(&member_id) {
            return Err(Error::new(ErrorCode::InvalidValue, "group.member.id must be 1 to 255 bytes"));
        }
        let strategy = Strategy::parse(&c.get_str("group.assignment.strategy"))
            .ok_or_else(|| Error::new(ErrorCode::InvalidValue, "unknown group.assignment.strategy"))?;
        let session_timeout_ms = c.get_u64("group.session.timeout.ms");
        let heartbeat_interval_ms = c.get_u64("group.heartbeat.interval.ms");
        if heartbeat_interval_ms.saturating_mul(2) > session_timeout_ms {
            return Err(Error::new(
                ErrorCode::InvalidValue,
                format!(
                    "group.heartbeat.interval.ms ({heartbeat_interval_ms}) must be at most half of \
                     group.session.timeout.ms ({session_timeout_ms})"
                ),
            ));
        }
        let names: Vec<String> =
            c.get_str("group.topics").split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
        let prefix = c.get_str("group.topic.prefix");
        let topics = match (names.is_empty(), prefix.is_empty()) {
            (false, true) => TopicSpec::Names(names),
            (true, false) => TopicSpec::Prefix(prefix),
            _ => {
                return Err(Error::invalid_arg("set exactly one of \"group.topics\" and \"group.topic.prefix\""));
            }
        };
        let start = match c.get_str("start.offset").as_str() {
            "stored" | "beginning" | "earliest" => "beginning".to_string(),
            "end" | "latest" => "end".to_string(),
            other => {
                return Err(Error::new(
                    ErrorCode::InvalidValue,
                    format!("a group consumer starts an uncommitted topic at beginning or end, not \"{other}\""),
                ))
            }
        };
        Ok(GroupSettings {
            group,
            member_id,
            strategy,
            session_timeout_ms,
            heartbeat_interval_ms,
            commit_interval: c.get_ms("group.commit.interval.ms"),
            topics,
            start_when_uncommitted: start,
            request_timeout: c.get_ms("request.timeout.ms"),
        })
    }
}

fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    h.finish()
}

fn wall_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// A member of a consumer group: shares the group's topics with the other live members, so that
/// each topic is consumed by exactly one of them, and takes over a dead member's topics at the
/// group's newest commit (at-least-once; docs/groups.md).
///
/// Thread-safe: every method takes `&self` and may race any other, `close` included. Dropping it
/// closes it.
pub struct GroupConsumer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for GroupConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupConsumer").field("member_id", &self.inner.member_id).finish()
    }
}

impl GroupConsumer {
    /// Joins the group `group.id`: creates its topic `lnc-group-<group.id>` if needed (blocking up
    /// to `request.timeout.ms` per call), then starts the member thread. Consumer keys
    /// (`fetch.*`, `queued.max.bytes`, `max.poll.records`, …) apply to every owned topic; producer
    /// keys to the group records.
    pub fn new(config: &Config) -> Result<GroupConsumer> {
        let s = GroupSettings::from_config(config)?;
        let admin = Admin::new(config)?;
        let group_topic = ensure_group_topic(&admin, &group_topic_name(&s.group), s.request_timeout)?;
        let tick_ms = (s.heartbeat_interval_ms / 4).clamp(1, 50);

        let mut log_cfg = config.clone();
        for (k, v) in [
            ("topic.id", group_topic.to_string()),
            ("start.offset", "beginning".into()),
            ("offset.store", "none".into()),
            ("enable.auto.commit", "false".into()),
            ("offset.reset", "earliest".into()),
            ("fetch.min.wait.ms", "1".into()),
            ("fetch.max.wait.ms", tick_ms.to_string()),
            ("max.poll.records", "100000".into()),
            ("consume.raw", "false".into()),
        ] {
            log_cfg.set(k, &v)?;
        }
        let log = StandaloneConsumer::new(&log_cfg)?;
        let mut prod_cfg = config.clone();
        prod_cfg.set("linger.ms", "0")?;
        prod_cfg.set("compression", "none")?;
        let producer = Producer::new(&prod_cfg)?;

        let mut data_cfg = config.clone();
        for (k, v) in [("offset.store", "none"), ("enable.auto.commit", "false"), ("consume.raw", "false")] {
            data_cfg.set(k, v)?;
        }
        let inner = Arc::new(Inner {
            member_id: s.member_id.clone(),
            shared: Mutex::new(Shared {
                life: Life::Open,
                fatal: None,
                slots: BTreeMap::new(),
                events: VecDeque::new(),
                thread: None,
                rotate: 0,
            }),
            cond: Condvar::new(),
            wake: WakeFd::new().map_err(|e| Error::new(ErrorCode::Io, format!("eventfd: {e}")))?,
            stop: AtomicU8::new(RUN),
            max_poll_records: config.get_u64("max.poll.records").max(1) as usize,
            records: AtomicU64::new(0),
            metrics: Mutex::new(GroupMetrics::default()),
            #[cfg(test)]
            inject_panic: std::sync::atomic::AtomicBool::new(false),
        });
        let runner = Runner {
            inner: inner.clone(),
            view: GroupView::new(s.strategy, s.session_timeout_ms),
            local: Local::default(),
            timing: Timing { heartbeat_interval_ms: s.heartbeat_interval_ms, fence_margin_ms: s.heartbeat_interval_ms },
            tick: Duration::from_millis(tick_ms),
            topics: Vec::new(),
            topics_listed: None,
            committed: BTreeMap::new(),
            next_commit: Instant::now() + s.commit_interval,
            retry_at: BTreeMap::new(),
            log_offset: 0,
            log_failed: false,
            s,
            admin,
            group_topic,
            log,
            producer,
            data_cfg,
        };
        let shared = inner.clone();
        let handle = std::thread::Builder::new()
            .name("lnc-group-member".into())
            .spawn(move || {
                let mut runner = runner;
                // design.md §10.4: a panic here fails the handle, waking every poll.
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runner.run()));
                if let Err(p) = outcome {
                    let what = p
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown payload".into());
                    shared.shared.lock().fatal =
                        Some(Error::new(ErrorCode::Panic, format!("the group member thread panicked: {what}")).fatal());
                    shared.signal();
                }
            })
            .map_err(|e| Error::new(ErrorCode::State, format!("cannot spawn the group member thread: {e}")))?;
        inner.shared.lock().thread = Some(handle);
        Ok(GroupConsumer { inner })
    }

    /// This member's id (`group.member.id`, or generated: client.id, process id, random).
    pub fn member_id(&self) -> &str {
        &self.inner.member_id
    }

    /// Waits up to `timeout` and returns what is ready: pending assignment changes first (alone),
    /// else up to `max.poll.records` records of the owned topics (empty on timeout).
    ///
    /// Calling `poll` marks every record returned by earlier polls as processed: those positions
    /// are what the member commits. CLOSED once `close` began (a waiting poll wakes and returns
    /// it); PANIC if the member thread died.
    pub fn poll(&self, timeout: Duration) -> Result<Vec<GroupEvent>> {
        let inner = &*self.inner;
        let deadline = Instant::now() + timeout;
        let mut marked = false;
        loop {
            let slots: Vec<Arc<Slot>> = {
                let mut sh = inner.shared.lock();
                if sh.life != Life::Open {
                    return Err(Error::closed("group consumer is closed"));
                }
                if let Some(e) = &sh.fatal {
                    return Err(e.clone());
                }
                if !sh.events.is_empty() {
                    return Ok(sh.events.drain(..).collect());
                }
                inner.wake.clear();
                // Start at a different topic each time so that one busy topic cannot starve the others.
                sh.rotate = sh.rotate.wrapping_add(1);
                let mut v: Vec<Arc<Slot>> = sh.slots.values().cloned().collect();
                if !v.is_empty() {
                    let k = sh.rotate % v.len();
                    v.rotate_left(k);
                }
                v
            };
            if !marked {
                for slot in &slots {
                    let mut st = slot.st.lock();
                    st.processed = st.delivered;
                }
                marked = true;
            }
            let mut out = Vec::new();
            let mut fds = vec![inner.wake.fd()];
            let mut buf = Vec::new();
            for slot in &slots {
                let left = inner.max_poll_records - out.len();
                if left == 0 {
                    break;
                }
                let mut st = slot.st.lock();
                let Some(c) = st.consumer.as_ref() else { continue };
                if let Some(fd) = c.eventfd() {
                    fds.push(fd);
                }
                buf.clear();
                let got = c.poll_into(Duration::ZERO, &mut buf, left);
                st.delivered = c.position();
                drop(st);
                match got {
                    Ok(_) => {
                        out.extend(buf.drain(..).map(|record| GroupEvent::Record { topic_id: slot.topic_id, record }))
                    }
                    // The topic was stopped meanwhile: its records belong to the next owner.
                    Err(e) if e.code == ErrorCode::Closed => {}
                    Err(error) => out.push(GroupEvent::Error { topic_id: slot.topic_id, error }),
                }
            }
            if !out.is_empty() {
                let n = out.iter().filter(|e| matches!(e, GroupEvent::Record { .. })).count() as u64;
                inner.records.fetch_add(n, Ordering::Relaxed);
                return Ok(out);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(out);
            }
            wait_readable(&fds, (deadline - now).min(Duration::from_millis(50)));
        }
    }

    /// Topics this member consumes now.
    pub fn assignment(&self) -> Vec<u32> {
        self.inner.shared.lock().slots.keys().copied().collect()
    }

    /// An eventfd readable while assignment events are pending (records: poll the topics'
    /// consumers through `poll`). Owned by the group consumer.
    pub fn eventfd(&self) -> i32 {
        self.inner.wake.fd()
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> GroupMetrics {
        let mut m = self.inner.metrics.lock().clone();
        m.records = self.inner.records.load(Ordering::Relaxed);
        m
    }

    /// Leaves the group: commits what `poll` handed out on every owned topic, writes a leave
    /// record (the other members take the topics over at once, no session timeout), flushes and
    /// stops. Waiting polls wake with CLOSED. Idempotent; returns TIMED_OUT if the member thread
    /// did not finish within `timeout` (it finishes on its own).
    pub fn close(&self, timeout: Duration) -> Result<()> {
        self.stop(STOP_CLEAN, timeout)
    }

    /// Stops like a killed process: no commit, no leave record, buffered group records dropped.
    /// The other members take the topics over after the session timeout. For failover tests and
    /// benchmarks.
    #[doc(hidden)]
    pub fn crash(&self) {
        let _ = self.stop(STOP_CRASH, Duration::from_secs(10));
    }

    fn stop(&self, how: u8, timeout: Duration) -> Result<()> {
        let inner = &*self.inner;
        let thread = {
            let mut sh = inner.shared.lock();
            if sh.life == Life::Open {
                sh.life = Life::Closing;
                let _ = inner.stop.compare_exchange(RUN, how, Ordering::AcqRel, Ordering::Acquire);
            }
            sh.thread.take()
        };
        inner.signal();
        let Some(handle) = thread else {
            // Another close owns the join: wait for it, up to our own timeout.
            let deadline = Instant::now() + timeout;
            let mut sh = inner.shared.lock();
            while sh.life != Life::Closed {
                if inner.cond.wait_until(&mut sh, deadline).timed_out() {
                    return Err(Error::timed_out("another close is still running"));
                }
            }
            return Ok(());
        };
        let deadline = Instant::now() + timeout;
        while !handle.is_finished() {
            if Instant::now() >= deadline {
                inner.shared.lock().thread = Some(handle);
                return Err(Error::timed_out("the group member thread did not stop within the close timeout"));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = handle.join();
        inner.shared.lock().life = Life::Closed;
        inner.signal();
        Ok(())
    }
}

impl Drop for GroupConsumer {
    fn drop(&mut self) {
        let _ = self.close(Duration::from_secs(10));
    }
}

fn wait_readable(fds: &[i32], timeout: Duration) {
    let mut p: Vec<libc::pollfd> =
        fds.iter().map(|&fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }).collect();
    // SAFETY: a valid array of pollfd of the given length. A descriptor closed meanwhile only
    // makes poll return early (POLLNVAL) and the caller rescans.
    unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, timeout.as_millis().clamp(1, 1000) as i32) };
}

fn ensure_group_topic(admin: &Admin, name: &str, timeout: Duration) -> Result<u32> {
    match admin.create_topic_with_retention(name, GROUP_TOPIC_RETENTION, Some(timeout)) {
        Ok(t) => Ok(t.id),
        Err(e) if e.code == ErrorCode::TopicExists => admin
            .topic_by_name(name, Some(timeout))?
            .map(|t| t.id)
            .ok_or_else(|| Error::new(ErrorCode::UnknownTopic, format!("group topic '{name}' vanished"))),
        Err(e) => Err(e),
    }
}

/// The member thread's state: the view, what it did, and its connections.
struct Runner {
    inner: Arc<Inner>,
    s: GroupSettings,
    view: GroupView,
    local: Local,
    timing: Timing,
    tick: Duration,
    topics: Vec<u32>,
    topics_listed: Option<Instant>,
    committed: BTreeMap<u32, (u64, Instant)>,
    next_commit: Instant,
    /// When a topic whose consumer could not be created is tried again.
    retry_at: BTreeMap<u32, Instant>,
    /// Offset of the last group record applied (to notice the log consumer going back).
    log_offset: u64,
    /// The group log reader failed for good (reported once).
    log_failed: bool,
    admin: Admin,
    group_topic: u32,
    log: StandaloneConsumer,
    producer: Producer,
    data_cfg: Config,
}

impl Runner {
    fn run(&mut self) {
        while self.inner.stop.load(Ordering::Acquire) == RUN {
            #[cfg(test)]
            if self.inner.inject_panic.load(Ordering::Acquire) {
                panic!("injected panic");
            }
            self.read_log();
            self.refresh_topics();
            let now = wall_ms();
            let mut actions = plan(&self.view, &self.s.member_id, &self.topics, &self.local, now, self.timing);
            // A topic whose consumer could not be created is retried after a pause, not every tick.
            let tick_start = Instant::now();
            actions
                .retain(|a| !matches!(a, Action::Start(t, _) if self.retry_at.get(t).is_some_and(|r| *r > tick_start)));
            let failed = self.execute(&actions);
            performed(&mut self.local, &actions, now);
            for t in failed {
                self.local.running.remove(&t);
                self.retry_at.insert(t, Instant::now() + START_RETRY);
            }
            if Instant::now() >= self.next_commit {
                self.commit_running(false);
                self.next_commit = Instant::now() + self.s.commit_interval;
            }
            self.note_reports();
            self.publish_metrics();
        }
        if self.inner.stop.load(Ordering::Acquire) == STOP_CRASH {
            self.crash();
        } else {
            self.leave();
        }
    }

    fn read_log(&mut self) {
        match self.log.poll(self.tick) {
            Ok(records) => {
                for r in &records {
                    // The log consumer went back (offset.reset=earliest after retention shifted
                    // the log): rebuild the view from what is there, never apply records twice.
                    if r.offset < self.log_offset {
                        self.view = GroupView::new(self.s.strategy, self.s.session_timeout_ms);
                    }
                    self.log_offset = r.offset;
                    match GroupRecord::from_record(r) {
                        Ok(g) => self.view.apply(&g),
                        Err(DecodeError::Foreign)
                        | Err(DecodeError::NewerVersion(_))
                        | Err(DecodeError::UnknownKind(_))
                        | Err(DecodeError::Malformed(_)) => self.inner.metrics.lock().skipped_records += 1,
                    }
                }
            }
            // Transport errors are retried by the consumer underneath. A corrupt group log stops
            // the view: this member then stops hearing its own heartbeats and fences itself
            // within the session timeout, which is safe; the application is told.
            Err(error) => {
                if error.code != ErrorCode::Transport && !self.log_failed {
                    self.log_failed = true;
                    self.inner.push_event(GroupEvent::Error { topic_id: self.group_topic, error });
                }
                std::thread::sleep(self.tick);
            }
        }
    }

    fn refresh_topics(&mut self) {
        let due = self.topics_listed.map_or(true, |t| t.elapsed() >= TOPIC_REFRESH);
        let complete = matches!(&self.s.topics, TopicSpec::Names(n) if n.len() == self.topics.len());
        if !due || (complete && self.topics_listed.is_some()) {
            return;
        }
        self.topics_listed = Some(Instant::now());
        let Ok(list) = self.admin.list_topics(Some(self.s.request_timeout)) else { return };
        let mut ids: Vec<u32> = list
            .iter()
            .filter(|t| t.id != self.group_topic)
            .filter(|t| match &self.s.topics {
                TopicSpec::Names(n) => n.contains(&t.name),
                TopicSpec::Prefix(p) => t.name.starts_with(p.as_str()) && !t.name.starts_with(super::TOPIC_PREFIX),
            })
            .map(|t| t.id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        self.topics = ids;
    }

    fn send(&self, generation: u64, body: Body) {
        let rec = GroupRecord { member: self.s.member_id.clone(), generation, timestamp_ms: wall_ms(), body };
        let value = rec.encode();
        if self.producer.send(self.group_topic, &Message::raw(&value), 0).is_err() {
            self.inner.metrics.lock().write_failures += 1;
        }
    }

    /// Performs the actions; returns the topics whose consumer could not be created.
    fn execute(&mut self, actions: &[Action]) -> Vec<u32> {
        let g = self.view.generation;
        let mut failed = Vec::new();
        let mut started = Vec::new();
        let mut stopped = Vec::new();
        for a in actions {
            match a {
                Action::Join(topics) => self.send(g, Body::Join { topics: topics.clone() }),
                Action::Heartbeat => self.send(g, Body::Heartbeat),
                Action::Stop(t) => {
                    self.stop_topic(*t, false);
                    stopped.push(*t);
                }
                Action::Ack(acked) => self.send(*acked, Body::Ack),
                Action::Start(t, offset) => match self.start_topic(*t, *offset) {
                    Some(slot) => started.push(slot),
                    None => failed.push(*t),
                },
            }
        }
        if !stopped.is_empty() {
            self.inner.metrics.lock().stopped += stopped.len() as u64;
            self.inner.push_event(GroupEvent::Revoked(stopped));
        }
        if !started.is_empty() {
            self.inner.metrics.lock().started += started.len() as u64;
            // The event and the slots become visible together: poll returns the assignment
            // before any record of it.
            let mut sh = self.inner.shared.lock();
            sh.events.push_back(GroupEvent::Assigned(started.iter().map(|s| s.topic_id).collect()));
            for slot in started {
                sh.slots.insert(slot.topic_id, slot);
            }
            drop(sh);
            self.inner.signal();
        }
        failed
    }

    /// Creates the slot consuming `topic` (made visible to `poll` by the caller); `None` (and an
    /// error event) if its consumer cannot be created.
    fn start_topic(&mut self, topic: u32, offset: Option<u64>) -> Option<Arc<Slot>> {
        let mut cfg = self.data_cfg.clone();
        let start = offset.map_or_else(|| self.s.start_when_uncommitted.clone(), |o| o.to_string());
        let made = cfg
            .set("topic.id", &topic.to_string())
            .and_then(|_| cfg.set("start.offset", &start))
            .and_then(|_| StandaloneConsumer::new(&cfg));
        let consumer = match made {
            Ok(c) => c,
            Err(error) => {
                self.inner.push_event(GroupEvent::Error { topic_id: topic, error });
                return None;
            }
        };
        self.retry_at.remove(&topic);
        let at = consumer.position();
        if let Some(o) = offset {
            self.committed.insert(topic, (o, Instant::now()));
        }
        let slot = Arc::new(Slot {
            topic_id: topic,
            st: Mutex::new(SlotState { consumer: Some(consumer), delivered: at, processed: at }),
        });
        Some(slot)
    }

    /// Takes the topic away from `poll`, closes its consumer and writes its commit.
    fn stop_topic(&mut self, topic: u32, everything_delivered: bool) {
        let Some(slot) = self.inner.shared.lock().slots.remove(&topic) else { return };
        let (consumer, pos) = {
            let mut st = slot.st.lock();
            let pos = if everything_delivered { st.delivered } else { st.processed };
            (st.consumer.take(), pos)
        };
        if let Some(c) = consumer {
            let _ = c.close(STOP_TIMEOUT);
        }
        self.write_commit(topic, pos);
    }

    fn write_commit(&mut self, topic: u32, pos: u64) {
        self.send(self.view.generation, Body::Commit { topic_id: topic, offset: pos });
        self.committed.insert(topic, (pos, Instant::now()));
        self.inner.metrics.lock().commits += 1;
    }

    /// Writes the processed position of every owned topic that moved (or whose last commit is
    /// older than [`COMMIT_REFRESH`]); `delivered` commits what poll handed out instead.
    fn commit_running(&mut self, delivered: bool) {
        let slots: Vec<Arc<Slot>> = self.inner.shared.lock().slots.values().cloned().collect();
        for slot in slots {
            let pos = {
                let st = slot.st.lock();
                if delivered {
                    st.delivered
                } else {
                    st.processed
                }
            };
            let stale = match self.committed.get(&slot.topic_id) {
                Some((c, at)) => *c != pos || at.elapsed() >= COMMIT_REFRESH,
                None => true,
            };
            if stale {
                self.write_commit(slot.topic_id, pos);
            }
        }
    }

    fn note_reports(&self) {
        let failed =
            self.producer.poll_reports(usize::MAX, Duration::ZERO).iter().filter(|r| r.error.is_some()).count();
        if failed > 0 {
            self.inner.metrics.lock().write_failures += failed as u64;
        }
    }

    fn publish_metrics(&self) {
        let mut m = self.inner.metrics.lock();
        m.generation = self.view.generation;
        m.members = self.view.members.len() as u64;
        m.fenced_commits = self.view.fenced_commits;
    }

    /// Clean stop: commit what was handed out, stop every topic, leave, flush.
    fn leave(&mut self) {
        let live = is_live(&self.view, &self.s.member_id, wall_ms(), self.timing);
        let running: Vec<u32> = self.local.running.iter().copied().collect();
        for t in running {
            self.stop_topic(t, true);
        }
        self.local.running = BTreeSet::new();
        if live || self.view.members.contains_key(&self.s.member_id) {
            self.send(self.view.generation, Body::Leave);
        }
        let _ = self.producer.close(self.s.request_timeout.min(Duration::from_secs(5)));
        let _ = self.log.close(Duration::from_secs(1));
        self.note_reports();
        self.publish_metrics();
    }

    /// Like a killed process: nothing more reaches the log.
    fn crash(&mut self) {
        self.producer.purge();
        let _ = self.producer.close(Duration::ZERO);
        let slots: Vec<Arc<Slot>> = std::mem::take(&mut self.inner.shared.lock().slots).into_values().collect();
        for slot in slots {
            let consumer = slot.st.lock().consumer.take();
            if let Some(c) = consumer {
                let _ = c.close(Duration::from_secs(1));
            }
        }
        let _ = self.log.close(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::{MockBroker, MockConfig};

    #[test]
    fn a_panicking_member_thread_wakes_every_poll_with_panic() {
        let mock = MockBroker::start(MockConfig { ack_delay: Duration::ZERO, ..Default::default() }).unwrap();
        mock.create_topic("p-0").unwrap();
        let addr = mock.address_string();
        let cfg = Config::from_pairs([
            ("bootstrap.servers", addr.as_str()),
            ("group.id", "panic"),
            ("group.topics", "p-0"),
            ("group.session.timeout.ms", "1000"),
            ("group.heartbeat.interval.ms", "100"),
        ])
        .unwrap();
        let g = Arc::new(GroupConsumer::new(&cfg).unwrap());
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let g = g.clone();
                std::thread::spawn(move || {
                    let t0 = Instant::now();
                    loop {
                        match g.poll(Duration::from_secs(30)) {
                            Ok(_) => assert!(t0.elapsed() < Duration::from_secs(20), "never woken"),
                            Err(e) => return (e.code, t0.elapsed()),
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        g.inner.inject_panic.store(true, Ordering::Release);
        for w in waiters {
            let (code, waited) = w.join().unwrap();
            assert_eq!(code, ErrorCode::Panic);
            assert!(waited < Duration::from_secs(20));
        }
        assert_eq!(g.poll(Duration::ZERO).unwrap_err().code, ErrorCode::Panic);
        g.close(Duration::from_secs(10)).unwrap();
        assert_eq!(g.poll(Duration::ZERO).unwrap_err().code, ErrorCode::Closed);
    }
}
