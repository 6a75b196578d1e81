//! The producer handle: the public API over the core and the sender threads.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::core::{DeliveryCallback, Shared, SpaceWait};
use super::lifecycle::Phase;
use super::message::Message;
use super::metrics::ProducerMetrics;
use super::reports::DeliveryReport;
use super::sender;
use super::settings::Settings;
use crate::admin::Admin;
use crate::cancel::Cancel;
use crate::config::Config;
use crate::error::{Error, ErrorCode, Result};
use crate::net::NetConfig;
use crate::stats::document::{render, timestamp_ms};
use crate::stats::{LatencyHistogram, LatencySummary, ProducerStatistics, STATISTICS_VERSION};

/// A thread-safe producer. See the module documentation.
pub struct Producer {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Resolves topic names (connects on first use only).
    admin: Admin,
    /// `topic.auto.create`: a name that does not exist is created (true) or refused.
    auto_create: bool,
    /// Names resolved so far. Ids never change for a name while the topic exists.
    topics: Mutex<std::collections::HashMap<String, u32>>,
}

/// Options of one send call. The default is the configuration's behaviour.
#[derive(Clone, Copy, Default)]
pub struct SendOptions<'a> {
    /// How long to wait for buffer space: `None` = `send.block`/`send.timeout.ms`, zero = never
    /// (QUEUE_FULL at once).
    pub timeout: Option<Duration>,
    /// Ends the waits early with CANCELLED when fired from another thread.
    pub cancel: Option<&'a Cancel>,
}

impl SendOptions<'_> {
    fn space_wait(&self) -> SpaceWait<'_> {
        SpaceWait { timeout: self.timeout, cancel: self.cancel }
    }
}

impl Producer {
    /// A producer without a delivery callback: take reports with [`Producer::poll_reports`].
    ///
    /// Unserved reports count against `buffer.memory` (64 bytes each), so a producer whose
    /// reports are never taken eventually blocks in `send` (or fails with QUEUE_FULL).
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
            return Err(Error::new(
                ErrorCode::InvalidValue,
                "batch.size exceeds max.frame.bytes minus the 44-byte header",
            ));
        }
        let shared = Arc::new(Shared::new(settings, net, callback, config)?);
        shared.events.set_owner(Arc::as_ptr(&shared) as usize);
        shared
            .events
            .start(crate::events::weak_source(Arc::downgrade(&shared), |s: &Shared| render(&statistics_of(s))))?;
        let producer = Producer {
            shared: shared.clone(),
            threads: Mutex::new(Vec::new()),
            admin: Admin::new(&name_resolver_config(config))?,
            auto_create: config.get_bool("topic.auto.create"),
            topics: Mutex::new(std::collections::HashMap::new()),
        };
        for lane in 0..shared.settings.lanes {
            let s = shared.clone();
            let t = std::thread::Builder::new()
                .name(format!("lnc-producer-{lane}"))
                .spawn(move || sender::run(s, lane))
                .map_err(|e| Error::new(ErrorCode::Io, format!("cannot spawn sender thread: {e}")))?;
            producer.threads.lock().push(t);
        }
        Ok(producer)
    }

    /// Appends one record to `topic_id`'s batch. `opaque` comes back in its delivery report.
    ///
    /// `Ok` means the record was accepted and will get exactly one report. Any error means it
    /// was not accepted and gets none: INVALID_ARG, MSG_TOO_LARGE, QUEUE_FULL, CLOSED, or the
    /// producer's fatal error.
    pub fn send(&self, topic_id: u32, msg: &Message<'_>, opaque: u64) -> Result<()> {
        self.send_inner(topic_id, std::slice::from_ref(msg), &[opaque], None, &SpaceWait::default())
    }

    /// Appends several records atomically: all are accepted or none. Record `i` reports
    /// `first_opaque + i`.
    pub fn send_batch(&self, topic_id: u32, msgs: &[Message<'_>], first_opaque: u64) -> Result<()> {
        let opaques: Vec<u64> = (0..msgs.len() as u64).map(|i| first_opaque.wrapping_add(i)).collect();
        self.send_inner(topic_id, msgs, &opaques, None, &SpaceWait::default())
    }

    /// Like [`Producer::send_batch`] with one opaque per record (`opaques.len() == msgs.len()`).
    pub fn send_batch_with_opaques(&self, topic_id: u32, msgs: &[Message<'_>], opaques: &[u64]) -> Result<()> {
        if msgs.len() != opaques.len() {
            return Err(Error::invalid_arg(format!("{} messages but {} opaques", msgs.len(), opaques.len())));
        }
        self.send_inner(topic_id, msgs, opaques, None, &SpaceWait::default())
    }

    /// Appends `msgs` atomically (all accepted or none) with one opaque each, waiting for buffer
    /// space as `opts` says.
    pub fn send_with(
        &self,
        topic_id: u32,
        msgs: &[Message<'_>],
        opaques: &[u64],
        opts: &SendOptions<'_>,
    ) -> Result<()> {
        if msgs.len() != opaques.len() {
            return Err(Error::invalid_arg(format!("{} messages but {} opaques", msgs.len(), opaques.len())));
        }
        let _wake = self.wake_on_cancel(opts.cancel);
        self.send_inner(topic_id, msgs, opaques, None, &opts.space_wait())
    }

    /// The id of the topic called `name`, from this producer's cache or, on a miss, from the
    /// server (created when `topic.auto.create` is true, else UNKNOWN_TOPIC). Retryable
    /// failures are retried until `timeout` (default `request.timeout.ms`).
    pub fn topic_id(&self, name: &str, timeout: Option<Duration>, cancel: Option<&Cancel>) -> Result<u32> {
        if let Some(&id) = self.topics.lock().get(name) {
            return Ok(id);
        }
        if self.is_closed() {
            return Err(Error::closed("producer is closed"));
        }
        let info = self.admin.resolve_topic(name, self.auto_create, timeout, cancel)?;
        self.topics.lock().insert(name.to_string(), info.id);
        Ok(info.id)
    }

    /// Sends one record and waits for its acknowledgement; returns the batch id. Its report goes
    /// to this call only, not to the callback or `poll_reports`.
    pub fn send_sync(&self, topic_id: u32, msg: &Message<'_>, timeout: Duration) -> Result<u64> {
        self.send_sync_with(topic_id, msg, &SendOptions::default(), timeout)
    }

    /// [`Producer::send_sync`] with options: `opts` governs the wait for buffer space and
    /// cancellation (of both waits); `timeout` bounds the whole call.
    pub fn send_sync_with(
        &self,
        topic_id: u32,
        msg: &Message<'_>,
        opts: &SendOptions<'_>,
        timeout: Duration,
    ) -> Result<u64> {
        let until = Instant::now() + timeout;
        let (tx, rx) = crossbeam_channel::bounded(1);
        let (cancelled_tx, cancelled_rx) = crossbeam_channel::bounded::<()>(1);
        let _wake = self.wake_on_cancel(opts.cancel);
        // The sender stays alive here, so without a token the cancel arm never fires.
        let _ack_wake = opts.cancel.map(|c| {
            let tx = cancelled_tx.clone();
            c.on_fire(move || {
                let _ = tx.try_send(());
            })
        });
        let space = SpaceWait { timeout: Some(opts.timeout.map_or(timeout, |t| t.min(timeout))), cancel: opts.cancel };
        let space = if opts.timeout.is_none() && !self.shared.settings.send_block {
            SpaceWait { timeout: Some(Duration::ZERO), ..space }
        } else {
            space
        };
        self.send_inner(topic_id, std::slice::from_ref(msg), &[0], Some(tx), &space)?;
        self.shared.flushing.fetch_add(1, Ordering::AcqRel);
        self.shared.wake_lanes();
        let left = until.saturating_duration_since(Instant::now());
        let r = if opts.cancel.is_some_and(|c| c.is_fired()) {
            None
        } else {
            crossbeam_channel::select! {
                recv(rx) -> r => r.ok(),
                recv(cancelled_rx) -> _ => None,
                default(left) => None,
            }
        };
        drop(cancelled_tx);
        self.shared.flushing.fetch_sub(1, Ordering::AcqRel);
        match r {
            Some(r) => r,
            None if opts.cancel.is_some_and(|c| c.is_fired()) => Err(Error::new(
                ErrorCode::Cancelled,
                "send_sync cancelled while waiting for the acknowledgement; the record was accepted and may yet be \
                 delivered (its report is dropped)",
            )),
            None => Err(Error::timed_out(
                "no delivery report before the timeout; the record is still queued and will be reported to this call's \
                 channel only (it may yet be delivered)",
            )),
        }
    }

    /// While the returned registration lives, firing `cancel` wakes this producer's threads
    /// that wait for buffer space (they then see the token and give up).
    fn wake_on_cancel<'c>(&self, cancel: Option<&'c Cancel>) -> Option<crate::cancel::Registration<'c>> {
        let shared = Arc::downgrade(&self.shared);
        cancel.map(|c| {
            c.on_fire(move || {
                if let Some(s) = shared.upgrade() {
                    s.wake_space_waiters();
                }
            })
        })
    }

    fn send_inner(
        &self,
        topic_id: u32,
        msgs: &[Message<'_>],
        opaques: &[u64],
        sync: Option<super::batch::SyncWaiter>,
        wait: &SpaceWait<'_>,
    ) -> Result<()> {
        if topic_id == 0 {
            return Err(Error::invalid_arg(
                "topic id 0 is not a topic: the server stores it but it can never be fetched",
            ));
        }
        self.shared.accept(topic_id, msgs, opaques, sync, wait)
    }

    /// Serves queued delivery reports to the callback (or discards them when there is none),
    /// waiting up to `timeout` for the first. Returns how many were served. Returns early when
    /// the producer is closed and nothing is left.
    pub fn poll(&self, timeout: Duration) -> Result<usize> {
        self.shared.guard_not_in_callback("poll")?;
        let until = Instant::now() + timeout;
        Ok(self.shared.serve(until, until, usize::MAX, None))
    }

    /// Takes up to `max` queued reports as values (no callback), waiting up to `timeout` for the
    /// first. Works after `close` too, to drain what is left.
    pub fn poll_reports(&self, max: usize, timeout: Duration) -> Vec<DeliveryReport> {
        let mut out = Vec::new();
        let until = Instant::now() + timeout;
        self.shared.serve(until, until, max, Some(&mut out));
        out
    }

    /// Sends everything buffered now (ignoring linger) and waits until every record has a final
    /// outcome, serving reports to the callback meanwhile. Returns how many records remain.
    ///
    /// When nothing remains but fire-and-forget records (no callback, opaque 0) failed since
    /// the last flush, returns DELIVERY_FAILED with their count and the first error.
    pub fn flush(&self, timeout: Duration) -> Result<usize> {
        self.shared.guard_not_in_callback("flush")?;
        let remaining = self.shared.flush(Instant::now() + timeout);
        if remaining == 0 {
            if let Some(e) = self.shared.take_unobserved() {
                return Err(e);
            }
        }
        Ok(remaining)
    }

    /// Fails every record not yet handed to a sender with PURGED (reported as usual). Returns
    /// how many were purged. Batches being sent or in flight are not affected.
    pub fn purge(&self) -> usize {
        self.shared.purge()
    }

    /// Stops accepting records, flushes until `timeout`, then fails what is left (unsent →
    /// PURGED, in flight → UNKNOWN_OUTCOME), joins every thread and serves the remaining reports.
    ///
    /// Returns within `timeout` plus a small slack whatever other threads do: callers blocked in
    /// `send`, `poll` or `flush` wake (a blocked `send` fails with CLOSED). A callback running on
    /// another thread when `close` ends may still be finishing; reports it did not take are left
    /// for `poll_reports`/`poll`. Idempotent; a concurrent second `close` waits for the first up
    /// to its own timeout. From inside this producer's callback it is IN_CALLBACK. Returns
    /// DELIVERY_FAILED (after closing) when fire-and-forget records failed since the last flush.
    pub fn close(&self, timeout: Duration) -> Result<()> {
        self.shared.guard_not_in_callback("close")?;
        let join = || {
            let threads: Vec<JoinHandle<()>> = self.threads.lock().drain(..).collect();
            for t in threads {
                let _ = t.join();
            }
        };
        if self.shared.close(Instant::now() + timeout, join) {
            self.shared.events.close();
            self.admin.disconnect();
            // Closed either way; DELIVERY_FAILED only tells of fire-and-forget failures.
            self.shared.take_unobserved().map_or(Ok(()), Err)
        } else {
            Err(Error::timed_out("another thread's close is still running"))
        }
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> ProducerMetrics {
        metrics_and_latency(&self.shared).0
    }

    /// The statistics document (schema version 1, `docs/statistics.md`): counters, gauges, ack
    /// latency quantiles and one entry per lane's connection. Works in every state, closed
    /// included; takes each lane lock briefly and never blocks on the network.
    pub fn statistics(&self) -> ProducerStatistics {
        statistics_of(&self.shared)
    }

    /// [`Producer::statistics`] as one line of JSON.
    pub fn statistics_json(&self) -> String {
        render(&self.statistics())
    }
}

/// The statistics document of a producer's shared state (also taken by the event thread for
/// `statistics.interval.ms`).
fn statistics_of(shared: &Shared) -> ProducerStatistics {
    {
        let (m, lat) = metrics_and_latency(shared);
        ProducerStatistics {
            version: STATISTICS_VERSION,
            kind: "producer",
            timestamp_ms: timestamp_ms(),
            circuit: shared.events.circuit_state().name(),
            records_sent: m.records_sent,
            records_acked: m.records_acked,
            records_failed: m.records_failed,
            records_retried: m.records_retried,
            possible_duplicates: m.possible_duplicates,
            bytes_sent: m.bytes_sent,
            bytes_acked: m.bytes_acked,
            batches_sent: m.batches_sent,
            batches_acked: m.batches_acked,
            batches_failed: m.batches_failed,
            batches_retried: m.batches_retried,
            batches_compressed: m.batches_compressed,
            server_errors: m.server_errors,
            in_flight_batches: m.in_flight_batches,
            buffered_bytes: m.buffered_bytes,
            outstanding_records: m.outstanding_records,
            batch_size_current: m.batch_size_current,
            ack_latency: lat,
            connections: shared.lanes.iter().map(|l| l.link.snapshot()).collect(),
        }
    }
}

/// The counters and the merged ack latency of a producer's shared state.
fn metrics_and_latency(s: &Shared) -> (ProducerMetrics, LatencySummary) {
    {
        let lat = ack_latency(s);
        let c = &s.counters;
        let g = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let (outstanding, buffered) = s.gauges();
        let m = ProducerMetrics {
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
            in_flight_batches: s.lanes.iter().map(|l| l.window.lock().conn.in_flight() as u64).sum(),
            buffered_bytes: buffered as u64,
            outstanding_records: outstanding as u64,
            ack_latency_p50_us: lat.p50_us,
            ack_latency_p99_us: lat.p99_us,
            batch_size_current: s.batch_limit() as u64,
            ack_latency_p90_us: lat.p90_us,
            ack_latency_p999_us: lat.p999_us,
            ack_latency_max_us: lat.max_us,
        };
        (m, lat)
    }
}

impl Producer {
    /// Records accepted whose report has not been served yet.
    pub fn outstanding(&self) -> usize {
        self.shared.gauges().0
    }

    /// An eventfd that is readable while delivery reports are waiting. Owned by the producer.
    pub fn eventfd(&self) -> i32 {
        self.shared.wake.fd()
    }

    /// True while this producer's delivery callback runs on the current thread (where `close`,
    /// `flush`, `poll` and freeing the handle are refused).
    pub fn in_callback(&self) -> bool {
        self.shared.guard_not_in_callback("").is_err()
    }

    /// The fatal error that stopped the producer, if any.
    pub fn fatal_error(&self) -> Option<Error> {
        self.shared.fatal()
    }

    /// Identifies this producer's shared state to test fault points.
    #[cfg(test)]
    pub(crate) fn test_id(&self) -> usize {
        Arc::as_ptr(&self.shared) as usize
    }

    /// Takes up to `max` queued events (connection changes, circuit changes, statistics, …),
    /// waiting up to `timeout` for the first; see [`crate::events`]. Works after `close` too, to
    /// drain what is left. With an event callback set on the config, events go there instead.
    pub fn poll_events(&self, max: usize, timeout: Duration) -> Vec<crate::events::Event> {
        let out = self.shared.events.take(max, Instant::now() + timeout);
        self.shared.rearm_after_events();
        out
    }

    /// The circuit breaker's state.
    pub fn circuit_state(&self) -> crate::events::CircuitState {
        self.shared.events.circuit_state()
    }

    /// True once `close` has finished.
    pub fn is_closed(&self) -> bool {
        self.shared.phase() == Phase::Closed
    }
}

impl Drop for Producer {
    /// Closes with a 5 s flush if `close` was not called.
    fn drop(&mut self) {
        if self.shared.phase() != Phase::Closed {
            let _ = self.close(Duration::from_secs(5));
        }
    }
}

/// The configuration of the producer's name-resolving admin client: same connection settings,
/// but its events and statistics are not the application's (the producer reports its own).
fn name_resolver_config(config: &Config) -> Config {
    let mut c = config.clone();
    c.remove_event_callback();
    // Cannot fail: a known key and a valid value.
    let _ = c.set("statistics.interval.ms", "0");
    c
}

/// Every lane's ack latencies merged (each lane lock held only while its histogram is added).
fn ack_latency(shared: &Shared) -> LatencySummary {
    let mut all = LatencyHistogram::new();
    for lane in &shared.lanes {
        all.merge(&lane.window.lock().ack_latency);
    }
    all.summary()
}
