//! A batch of records for one topic, and how it becomes a frame (LZ4 envelope, header, checksums).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use parking_lot::Mutex;

use super::message::now_ns;
use crate::error::{Error, ErrorCode, Result};
use crate::net::Outbound;
use crate::wire::header::{flags, Header, HEADER_LEN};
use crate::wire::tlv::encode_envelope;
use crate::wire::Checksum;

/// A `send_sync` caller waiting for one record's outcome.
pub(crate) type SyncWaiter = Sender<Result<u64>>;

/// A batch of records for one topic. `frame` holds 44 reserved header bytes, then the payload.
pub(crate) struct Batch {
    pub topic_id: u32,
    pub frame: Vec<u8>,
    pub opaques: Vec<u64>,
    /// Records whose report goes to a `send_sync` caller instead of the queue: (index, waiter).
    pub sync: Vec<(usize, SyncWaiter)>,
    /// Buffer-memory bytes charged for these records (see `memory`).
    pub charge: usize,
    pub created: Instant,
    /// Delivery deadline of the oldest record.
    pub deadline: Instant,
    /// Seal order within the lane: resends are kept sorted by it, so a batch put back after a
    /// failed attempt always lands in its original place.
    pub seq: u64,
    /// Times written to the wire.
    pub attempts: u32,
    /// An earlier attempt's outcome is unknown: a resend may duplicate it.
    pub maybe_stored: bool,
    /// Why the last attempt failed.
    pub last_error: Option<Error>,
    /// The finished frame, once finalised.
    pub wire: Option<Outbound>,
    pub payload_len: usize,
    /// When the current attempt was handed to the connection.
    pub sent_at: Instant,
    /// Where this batch's records go if it is dropped without an outcome (only a panic can do
    /// that): the handle's fatal path reports them, so no accepted record goes unreported.
    orphans: Option<Arc<Orphans>>,
}

impl Batch {
    pub fn new(topic_id: u32, cap: usize, now: Instant, delivery_timeout: Duration, orphans: Arc<Orphans>) -> Batch {
        let mut frame = Vec::with_capacity(HEADER_LEN + cap);
        frame.resize(HEADER_LEN, 0);
        Batch {
            topic_id,
            frame,
            opaques: Vec::new(),
            sync: Vec::new(),
            charge: 0,
            created: now,
            deadline: now + delivery_timeout,
            seq: 0,
            attempts: 0,
            maybe_stored: false,
            last_error: None,
            wire: None,
            payload_len: 0,
            sent_at: now,
            orphans: Some(orphans),
        }
    }

    pub fn records(&self) -> usize {
        self.opaques.len()
    }

    /// Appends `next`'s records (a later, never-sent batch of the same topic) to this never-sent
    /// batch, so they travel in one frame. Copies payload bytes: call it outside any lock.
    pub fn absorb(&mut self, mut next: Batch) {
        debug_assert!(self.wire.is_none() && next.wire.is_none() && self.topic_id == next.topic_id);
        self.frame.extend_from_slice(&next.frame[HEADER_LEN..]);
        self.payload_len += next.payload_len;
        let base = self.opaques.len();
        self.sync.extend(std::mem::take(&mut next.sync).into_iter().map(|(i, tx)| (base + i, tx)));
        self.opaques.append(&mut next.opaques);
        self.charge += next.charge;
        self.deadline = self.deadline.min(next.deadline);
        next.disarm();
    }

    /// The batch reached its outcome: it is no longer an orphan when dropped.
    pub fn disarm(&mut self) {
        self.orphans = None;
    }

    /// Builds the frame (first attempt) or re-stamps it with `batch_id` (resend). Heavy on the
    /// first call (LZ4, CRC over the payload): never call it under a lock.
    pub fn finalize(&mut self, checksum: Checksum, compress_from: Option<usize>, batch_id: u64) -> (Outbound, bool) {
        let ts = now_ns();
        if let Some(wire) = &mut self.wire {
            // batch_id and timestamp (bytes 12..28) are outside both checksums (lwp.md §1.1).
            let w = Arc::make_mut(wire);
            w[12..20].copy_from_slice(&batch_id.to_le_bytes());
            w[20..28].copy_from_slice(&ts.to_le_bytes());
            return (wire.clone(), false);
        }
        let mut frame = std::mem::take(&mut self.frame);
        let mut compressed = false;
        if compress_from.is_some_and(|min| self.payload_len >= min) {
            if let Some(env) = encode_envelope(&frame[HEADER_LEN..]) {
                frame.truncate(HEADER_LEN);
                frame.extend_from_slice(&env);
                compressed = true;
            }
        }
        let h = Header::new(
            checksum,
            flags::INGEST,
            batch_id,
            ts,
            self.records() as u32,
            self.topic_id,
            &frame[HEADER_LEN..],
        );
        frame[..HEADER_LEN].copy_from_slice(&h.encode());
        let wire = Arc::new(frame);
        self.wire = Some(wire.clone());
        (wire, compressed)
    }

    /// The final error of a batch that will not be retried.
    pub fn final_error(&self, why: &str) -> Error {
        let cause = self.last_error.as_ref().map(|e| format!(" (last error: {e})")).unwrap_or_default();
        if self.maybe_stored {
            Error::new(ErrorCode::UnknownOutcome, format!("{why}; an earlier attempt may have been stored{cause}"))
                .with_retryable(false)
        } else if let Some(e) = &self.last_error {
            let mut e = e.clone();
            e.message = format!("{why}: {}", e.message);
            e.retryable = false;
            e
        } else {
            Error::new(ErrorCode::TimedOut, format!("{why} before the batch could be sent")).with_retryable(false)
        }
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        if let Some(sink) = self.orphans.take() {
            sink.0.lock().push(Orphan {
                topic_id: self.topic_id,
                opaques: std::mem::take(&mut self.opaques),
                sync: std::mem::take(&mut self.sync),
                charge: self.charge,
            });
        }
    }
}

/// The records of a batch that was dropped without an outcome.
pub(crate) struct Orphan {
    pub topic_id: u32,
    pub opaques: Vec<u64>,
    pub sync: Vec<(usize, SyncWaiter)>,
    pub charge: usize,
}

/// Orphaned records waiting for the fatal path. Its lock is a leaf: held only to push or take.
#[derive(Default)]
pub(crate) struct Orphans(Mutex<Vec<Orphan>>);

impl Orphans {
    pub fn take(&self) -> Vec<Orphan> {
        std::mem::take(&mut *self.0.lock())
    }
}
