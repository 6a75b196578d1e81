//! The producer handle: the public API over the core and the sender threads.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::core::{DeliveryCallback, Shared};
use super::lifecycle::Phase;
use super::message::Message;
use super::metrics::ProducerMetrics;
use super::reports::DeliveryReport;
use super::sender;
use super::settings::Settings;
use crate::config::Config;
use crate::error::{Error, ErrorCode, Result};
use crate::net::NetConfig;
use crate::stats::document::{render, timestamp_ms};
use crate::stats::{LatencyHistogram, LatencySummary, ProducerStatistics, STATISTICS_VERSION};

/// A thread-safe producer. See the module documentation.
pub struct Producer {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
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
        let shared = Arc::new(Shared::new(settings, net, callback)?);
        let producer = Producer { shared: shared.clone(), threads: Mutex::new(Vec::new()) };
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
        self.shared.flushing.fetch_add(1, Ordering::AcqRel);
        self.shared.wake_lanes();
        let r = rx.recv_timeout(timeout);
        self.shared.flushing.fetch_sub(1, Ordering::AcqRel);
        match r {
            Ok(r) => r,
            Err(_) => Err(Error::timed_out(
                "no delivery report before the timeout; the record is still queued and will be reported to this call's \
                 channel only (it may yet be delivered)",
            )),
        }
    }

    fn send_inner(
        &self,
        topic_id: u32,
        msgs: &[Message<'_>],
        opaques: &[u64],
        sync: Option<super::batch::SyncWaiter>,
    ) -> Result<()> {
        if topic_id == 0 {
            return Err(Error::invalid_arg(
                "topic id 0 is not a topic: the server stores it but it can never be fetched",
            ));
        }
        self.shared.accept(topic_id, msgs, opaques, sync)
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
    pub fn flush(&self, timeout: Duration) -> Result<usize> {
        self.shared.guard_not_in_callback("flush")?;
        Ok(self.shared.flush(Instant::now() + timeout))
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
    /// to its own timeout. From inside this producer's callback it is IN_CALLBACK.
    pub fn close(&self, timeout: Duration) -> Result<()> {
        self.shared.guard_not_in_callback("close")?;
        let join = || {
            let threads: Vec<JoinHandle<()>> = self.threads.lock().drain(..).collect();
            for t in threads {
                let _ = t.join();
            }
        };
        if self.shared.close(Instant::now() + timeout, join) {
            Ok(())
        } else {
            Err(Error::timed_out("another thread's close is still running"))
        }
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> ProducerMetrics {
        self.metrics_and_latency().0
    }

    /// Every lane's ack latencies merged (each lane lock held only while its histogram is added).
    fn ack_latency(&self) -> LatencySummary {
        let mut all = LatencyHistogram::new();
        for lane in &self.shared.lanes {
            all.merge(&lane.window.lock().ack_latency);
        }
        all.summary()
    }

    /// The statistics document (schema version 1, `docs/statistics.md`): counters, gauges, ack
    /// latency quantiles and one entry per lane's connection. Works in every state, closed
    /// included; takes each lane lock briefly and never blocks on the network.
    pub fn statistics(&self) -> ProducerStatistics {
        let (m, lat) = self.metrics_and_latency();
        ProducerStatistics {
            version: STATISTICS_VERSION,
            kind: "producer",
            timestamp_ms: timestamp_ms(),
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
            connections: self.shared.lanes.iter().map(|l| l.link.snapshot()).collect(),
        }
    }

    /// [`Producer::statistics`] as one line of JSON.
    pub fn statistics_json(&self) -> String {
        render(&self.statistics())
    }

    fn metrics_and_latency(&self) -> (ProducerMetrics, LatencySummary) {
        let lat = self.ack_latency();
        let s = &self.shared;
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
