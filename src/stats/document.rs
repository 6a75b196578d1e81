//! The statistics documents (schema version [`STATISTICS_VERSION`], described in
//! `docs/statistics.md` and `docs/statistics.schema.json`). Field names are part of the schema:
//! adding a field keeps the version, renaming or removing one raises it.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::latency::LatencySummary;
use super::link::ConnectionStatistics;

/// The version of the documents' schema.
pub const STATISTICS_VERSION: u32 = 1;

/// Milliseconds since the Unix epoch, now.
pub fn timestamp_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A producer's statistics document.
#[derive(Clone, Debug, Serialize)]
pub struct ProducerStatistics {
    /// [`STATISTICS_VERSION`].
    pub version: u32,
    /// Always `"producer"`.
    pub kind: &'static str,
    /// When the document was taken, ms since the Unix epoch.
    pub timestamp_ms: u64,
    /// The circuit breaker's state: `closed`, `open` or `half_open` (see the README's events).
    pub circuit: &'static str,
    /// Records written to the wire (resends counted again).
    pub records_sent: u64,
    /// Records acknowledged.
    pub records_acked: u64,
    /// Records given a final error report.
    pub records_failed: u64,
    /// Records resent after a retryable failure.
    pub records_retried: u64,
    /// Records resent whose earlier attempt may have been stored.
    pub possible_duplicates: u64,
    /// Payload bytes written (resends counted again).
    pub bytes_sent: u64,
    /// Payload bytes acknowledged.
    pub bytes_acked: u64,
    /// Batches written (resends counted again).
    pub batches_sent: u64,
    /// Batches acknowledged.
    pub batches_acked: u64,
    /// Batches given a final error.
    pub batches_failed: u64,
    /// Batch resends.
    pub batches_retried: u64,
    /// Batches sent as an LZ4 envelope.
    pub batches_compressed: u64,
    /// ErrorResponses received for ingests.
    pub server_errors: u64,
    /// Batches unacknowledged on the wire now.
    pub in_flight_batches: u64,
    /// Bytes of records buffered or in flight now (bounded by `buffer.memory`).
    pub buffered_bytes: u64,
    /// Records accepted whose report was not served yet.
    pub outstanding_records: u64,
    /// The batch size limit in force now (adaptive batching).
    pub batch_size_current: u64,
    /// Send → ack latency, one value per acknowledged record.
    pub ack_latency: LatencySummary,
    /// One entry per lane.
    pub connections: Vec<ConnectionStatistics>,
}

/// A consumer's statistics document.
#[derive(Clone, Debug, Serialize)]
pub struct ConsumerStatistics {
    /// [`STATISTICS_VERSION`].
    pub version: u32,
    /// Always `"consumer"`.
    pub kind: &'static str,
    /// When the document was taken, ms since the Unix epoch.
    pub timestamp_ms: u64,
    /// The circuit breaker's state: `closed`, `open` or `half_open` (see the README's events).
    pub circuit: &'static str,
    /// The topic consumed.
    pub topic_id: u32,
    /// Records handed to the application by `poll`.
    pub records: u64,
    /// Value bytes of those records.
    pub bytes: u64,
    /// Fetch replies received (data or empty).
    pub fetches: u64,
    /// Fetch replies without data (at the tail).
    pub empty_fetches: u64,
    /// Bytes received in Fetch replies.
    pub fetch_bytes: u64,
    /// CatchingUp replies received.
    pub catching_up: u64,
    /// Errors queued for the application (each is returned by one `poll`).
    pub errors: u64,
    /// P: the position just past the last record handed out.
    pub position: u64,
    /// The end of the topic as last learned from a reply (no request is made for it); `None`
    /// before the first one.
    pub end_offset: Option<u64>,
    /// How long ago the end was learned, ms.
    pub end_offset_age_ms: Option<u64>,
    /// `end_offset − position` (saturating); `None` while the end is unknown.
    pub lag: Option<u64>,
    /// Records and errors queued, waiting for `poll`.
    pub queued_events: u64,
    /// Bytes queued (bounded by `queued.max.bytes`).
    pub queued_bytes: u64,
    /// Bytes held by the reassembler: the start of a record cut by a fetch window, plus whole
    /// records not yet decoded.
    pub reassembly_carry_bytes: u64,
    /// Fetch request → reply latency.
    pub fetch_latency: LatencySummary,
    /// The fetch connection and the control connection (seek to end, lag).
    pub connections: Vec<ConnectionStatistics>,
}

/// Renders a document as one line of JSON.
pub fn render<T: Serialize>(doc: &T) -> String {
    // Only strings, integers, options and vectors: serialization cannot fail.
    serde_json::to_string(doc).unwrap_or_else(|e| format!("{{\"version\":{STATISTICS_VERSION},\"error\":\"{e}\"}}"))
}
