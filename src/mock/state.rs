//! The mock broker's data: topics, their segmented logs, retention, restart recovery, server-side
//! subscriptions and commits (lwp.md §3, §4, §5.1). Pure data; no sockets, no threads.

use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::wire::control::{self, RetentionInfo, TopicDeleted, TopicInfo, TopicList};

/// One segment file of a topic's log.
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) data: Vec<u8>,
    pub(crate) sealed: bool,
    /// Last write; retention ages a closed segment from here (like a file's mtime).
    pub(crate) modified: SystemTime,
}

/// A topic's log: segments in write order. The last one is active unless it is sealed.
#[derive(Debug, Default)]
pub(crate) struct Log {
    pub(crate) segments: Vec<Segment>,
}

impl Log {
    /// Total bytes across all segments (the end offset).
    pub(crate) fn len(&self) -> u64 {
        self.segments.iter().map(|s| s.data.len() as u64).sum()
    }

    /// Appends one batch verbatim. A batch is never split; the active segment is sealed once it
    /// exceeds `segment_bytes`, and the next batch opens a new one.
    pub(crate) fn append(&mut self, batch: &[u8], segment_bytes: u64) {
        if self.segments.last().map_or(true, |s| s.sealed) {
            self.segments.push(Segment { data: Vec::new(), sealed: false, modified: SystemTime::now() });
        }
        if let Some(active) = self.segments.last_mut() {
            active.data.extend_from_slice(batch);
            active.modified = SystemTime::now();
            if active.data.len() as u64 > segment_bytes {
                active.sealed = true;
            }
        }
    }

    /// Copies up to `max` bytes starting at byte offset `start` (which may span segments).
    pub(crate) fn read(&self, start: u64, max: u64) -> Vec<u8> {
        let end = self.len();
        if start >= end || max == 0 {
            return Vec::new();
        }
        let n = max.min(end - start) as usize;
        let mut out = Vec::with_capacity(n);
        let mut pos = 0u64;
        for s in &self.segments {
            let seg_len = s.data.len() as u64;
            let seg_end = pos + seg_len;
            if seg_end > start && out.len() < n {
                let from = start.saturating_sub(pos) as usize;
                let take = (n - out.len()).min(s.data.len() - from);
                out.extend_from_slice(&s.data[from..from + take]);
            }
            pos = seg_end;
            if out.len() >= n {
                break;
            }
        }
        out
    }

    /// The whole live log.
    pub(crate) fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len() as usize);
        for s in &self.segments {
            v.extend_from_slice(&s.data);
        }
        v
    }

    /// The deployed server's start-up recovery (lwp.md §5.1): scan the active segment as TLV from
    /// 0, truncate at the first record whose header or value runs past the end, then seal it.
    /// Returns the number of bytes cut.
    pub(crate) fn recover(&mut self) -> u64 {
        let Some(active) = self.segments.last_mut() else { return 0 };
        if active.sealed {
            return 0;
        }
        let keep = tlv_valid_prefix(&active.data);
        let cut = (active.data.len() - keep) as u64;
        active.data.truncate(keep);
        active.sealed = true;
        if active.data.is_empty() {
            // An empty sealed file holds nothing and would only confuse retention counting.
            self.segments.pop();
        }
        cut
    }

    /// Drops the first `n` bytes of the log (clamped), as retention does but at any byte.
    pub(crate) fn truncate_front(&mut self, n: u64) -> u64 {
        let mut left = n.min(self.len());
        let removed = left;
        while left > 0 {
            let Some(first) = self.segments.first_mut() else { break };
            let len = first.data.len() as u64;
            if len <= left {
                left -= len;
                self.segments.remove(0);
            } else {
                first.data.drain(..left as usize);
                left = 0;
            }
        }
        removed
    }

    /// Retention (lwp.md §3.5) over closed segments only; returns the bytes deleted.
    pub(crate) fn apply_retention(&mut self, max_age_secs: u64, max_bytes: u64, now: SystemTime) -> u64 {
        let mut deleted = 0u64;
        // Age: the server compares nanoseconds against max_age_secs * 10^9 in wrapping u64.
        let limit_ns = max_age_secs.wrapping_mul(1_000_000_000);
        let mut i = 0;
        while i < self.segments.len() {
            let s = &self.segments[i];
            if s.sealed {
                let age_ns = now.duration_since(s.modified).map(|d| d.as_nanos() as u64).unwrap_or(0);
                if age_ns > limit_ns {
                    deleted += s.data.len() as u64;
                    self.segments.remove(i);
                    continue;
                }
            }
            i += 1;
        }
        // Size: delete the oldest closed segments until the total is at or below max_bytes.
        while self.len() > max_bytes {
            let Some(i) = self.segments.iter().position(|s| s.sealed) else { break };
            deleted += self.segments[i].data.len() as u64;
            self.segments.remove(i);
        }
        deleted
    }
}

/// Length of the longest prefix of `data` that the server's recovery scan keeps: records are a
/// type byte, then (0xFF) u16 ext type + u32 length, or (other) u32 length, then the value.
pub(crate) fn tlv_valid_prefix(data: &[u8]) -> usize {
    let mut pos = 0usize;
    while pos < data.len() {
        let (hdr, len_at) = if data[pos] == 0xFF { (7, pos + 3) } else { (5, pos + 1) };
        if data.len() - pos < hdr {
            return pos;
        }
        let l = &data[len_at..len_at + 4];
        let vlen = u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize;
        if data.len() - pos - hdr < vlen {
            return pos;
        }
        pos += hdr + vlen;
    }
    pos
}

/// Topic metadata.
#[derive(Clone, Debug)]
pub(crate) struct Topic {
    pub(crate) id: u32,
    pub(crate) name: String,
    pub(crate) created_at: u64,
    /// (max_age_secs, max_bytes) as last set; stored exactly, zeros included.
    pub(crate) retention: Option<(u64, u64)>,
}

impl Topic {
    fn info(&self) -> TopicInfo {
        TopicInfo {
            id: self.id,
            name: self.name.clone(),
            created_at: self.created_at,
            topic_epoch: 1,
            max_age_secs: None,
            max_bytes: None,
        }
    }
}

/// What a Fetch resolves to after its payload and rate-limit checks (lwp.md §4, steps 3–5).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FetchOutcome {
    /// ErrorResponse text.
    Error(String),
    /// FetchResponse (possibly empty).
    Data { next_offset: u64, data: Vec<u8> },
    /// CatchingUp carrying the end offset.
    CatchingUp(u64),
}

/// All broker data behind one lock.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) topics: BTreeMap<u32, Topic>,
    /// Logs keyed by storage name: the topic name, and `"0"` for topic id 0 — so a topic named
    /// `0` shares storage with topic-id-0 data, as on the deployed server (lwp.md §4).
    pub(crate) logs: HashMap<String, Log>,
    pub(crate) next_id: u32,
    pub(crate) subscriptions: HashMap<(u32, u64), u64>,
    pub(crate) commits: HashMap<(u32, u64), u64>,
    pub(crate) segment_bytes: u64,
}

/// Result of a control command that replies JSON: Ok(JSON bytes) or Err(error text).
pub(crate) type JsonReply = Result<Vec<u8>, String>;

/// Compact JSON with keys in alphabetical order (serde_json's default map is a BTreeMap).
fn alphabetical_json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_value(v).and_then(|v| serde_json::to_vec(&v)).unwrap_or_default()
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl State {
    pub(crate) fn new(segment_bytes: u64) -> State {
        State {
            topics: BTreeMap::new(),
            logs: HashMap::new(),
            next_id: 1,
            subscriptions: HashMap::new(),
            commits: HashMap::new(),
            segment_bytes: segment_bytes.max(1),
        }
    }

    fn storage_key(&self, topic_id: u32) -> Option<String> {
        if topic_id == 0 {
            Some("0".to_string())
        } else {
            self.topics.get(&topic_id).map(|t| t.name.clone())
        }
    }

    /// The log of an existing topic (or of topic id 0), if it has one yet.
    pub(crate) fn log(&self, topic_id: u32) -> Option<&Log> {
        let key = self.storage_key(topic_id)?;
        self.logs.get(&key)
    }

    pub(crate) fn log_mut(&mut self, topic_id: u32) -> Option<&mut Log> {
        let key = self.storage_key(topic_id)?;
        Some(self.logs.entry(key).or_default())
    }

    /// Does an ingest to `topic_id` pass the unknown-topic check (topic 0 always does)?
    pub(crate) fn ingest_target_exists(&self, topic_id: u32) -> bool {
        topic_id == 0 || self.topics.contains_key(&topic_id)
    }

    /// Appends one ingest payload; false when the topic vanished in between.
    pub(crate) fn append(&mut self, topic_id: u32, payload: &[u8]) -> bool {
        let seg = self.segment_bytes;
        match self.log_mut(topic_id) {
            Some(log) => {
                log.append(payload, seg);
                true
            }
            None => false,
        }
    }

    pub(crate) fn end_offset(&self, topic_id: u32) -> u64 {
        self.log(topic_id).map_or(0, Log::len)
    }

    pub(crate) fn topic_id_by_name(&self, name: &str) -> Option<u32> {
        self.topics.values().find(|t| t.name == name).map(|t| t.id)
    }

    /// CreateTopic / CreateTopicWithRetention (lwp.md §3.1, §3.6) after payload decoding.
    pub(crate) fn create_topic(&mut self, raw_name: &[u8], retention: Option<(u64, u64)>) -> JsonReply {
        // The server converts invalid UTF-8 lossily, then validates.
        let name = String::from_utf8_lossy(raw_name).into_owned();
        if self.topic_id_by_name(&name).is_some() {
            return Err(format!("Topic '{name}' already exists"));
        }
        if name.is_empty() {
            return Err("Topic name required".into());
        }
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(control::invalid_topic_name_text(&name));
        }
        // The id is taken before the directory is created, so an over-long name burns one.
        let id = self.next_id;
        self.next_id = self.next_id.saturating_add(1);
        if name.len() > control::MAX_TOPIC_NAME {
            return Err("I/O error: File name too long (os error 36)".into());
        }
        let topic = Topic { id, name: name.clone(), created_at: now_secs(), retention };
        let mut info = topic.info();
        if let Some((age, bytes)) = retention {
            info.max_age_secs = Some(age);
            info.max_bytes = Some(bytes);
        }
        self.topics.insert(id, topic);
        self.logs.entry(name).or_default();
        Ok(alphabetical_json(&info))
    }

    pub(crate) fn delete_topic(&mut self, topic_id: u32) -> JsonReply {
        match self.topics.remove(&topic_id) {
            Some(t) => {
                // The whole data directory goes; subscriptions and commits stay (lwp.md §3.2).
                self.logs.remove(&t.name);
                Ok(alphabetical_json(&TopicDeleted { deleted: topic_id }))
            }
            None => Err(format!("Configuration error: Topic {topic_id} not found")),
        }
    }

    pub(crate) fn list_topics(&self) -> Vec<u8> {
        // Struct field order gives the entries' id, name, created_at, topic_epoch key order.
        let list = TopicList { topics: self.topics.values().map(Topic::info).collect() };
        serde_json::to_vec(&list).unwrap_or_default()
    }

    pub(crate) fn get_topic(&self, topic_id: u32) -> JsonReply {
        match self.topics.get(&topic_id) {
            Some(t) => Ok(alphabetical_json(&t.info())),
            None => Err("Topic not found".into()),
        }
    }

    pub(crate) fn set_retention(&mut self, topic_id: u32, max_age_secs: u64, max_bytes: u64) -> JsonReply {
        match self.topics.get_mut(&topic_id) {
            Some(t) => {
                t.retention = Some((max_age_secs, max_bytes));
                Ok(alphabetical_json(&RetentionInfo { max_age_secs, max_bytes, topic_id }))
            }
            None => Err(format!("Configuration error: Topic {topic_id} not found")),
        }
    }

    /// Subscribe (lwp.md §3.10): Ok(offset to report) or the error text.
    pub(crate) fn subscribe(&mut self, topic_id: u32, start_offset: u64, consumer_id: u64) -> Result<u64, String> {
        if topic_id != 0 && !self.topics.contains_key(&topic_id) {
            return Err("Topic not found".into());
        }
        let offset = if start_offset == 0 {
            self.commits.get(&(topic_id, consumer_id)).copied().unwrap_or(0)
        } else {
            start_offset
        };
        self.subscriptions.insert((topic_id, consumer_id), offset);
        Ok(offset)
    }

    pub(crate) fn unsubscribe(&mut self, topic_id: u32, consumer_id: u64) {
        self.subscriptions.remove(&(topic_id, consumer_id));
    }

    pub(crate) fn commit(&mut self, topic_id: u32, consumer_id: u64, offset: u64) {
        self.commits.insert((topic_id, consumer_id), offset);
    }

    /// Fetch decision steps 3–5 (lwp.md §4). `force_catching_up` turns a data answer into
    /// CatchingUp(end) (fault injection); it is consulted only when data would be returned.
    pub(crate) fn fetch(
        &self,
        topic_id: u32,
        start_offset: u64,
        max_bytes: u32,
        force_catching_up: &mut dyn FnMut() -> bool,
    ) -> FetchOutcome {
        if topic_id == 0 || !self.topics.contains_key(&topic_id) {
            return FetchOutcome::Error(format!("Topic {topic_id} not found"));
        }
        let end = self.end_offset(topic_id);
        if start_offset == u64::MAX {
            return FetchOutcome::Data { next_offset: end, data: Vec::new() };
        }
        if max_bytes > 0 && start_offset < end {
            if force_catching_up() {
                return FetchOutcome::CatchingUp(end);
            }
            let data = self.log(topic_id).map(|l| l.read(start_offset, max_bytes as u64)).unwrap_or_default();
            return FetchOutcome::Data { next_offset: start_offset + data.len() as u64, data };
        }
        if start_offset > 0 && start_offset > end {
            return FetchOutcome::CatchingUp(end);
        }
        FetchOutcome::Data { next_offset: start_offset, data: Vec::new() }
    }

    /// What a restart keeps and recomputes (lwp.md §3.1, §3.10, §5.1).
    pub(crate) fn restart(&mut self) {
        self.subscriptions.clear();
        self.commits.clear();
        for log in self.logs.values_mut() {
            log.recover();
        }
        self.next_id = self.topics.keys().next_back().map_or(1, |id| id.saturating_add(1));
    }

    /// One retention pass over every topic with a retention setting; returns bytes deleted.
    pub(crate) fn run_retention(&mut self) -> u64 {
        let now = SystemTime::now();
        let settings: Vec<(String, (u64, u64))> =
            self.topics.values().filter_map(|t| t.retention.map(|r| (t.name.clone(), r))).collect();
        let mut deleted = 0;
        for (name, (age, bytes)) in settings {
            if let Some(log) = self.logs.get_mut(&name) {
                deleted += log.apply_retention(age, bytes, now);
            }
        }
        deleted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_prefix() {
        assert_eq!(tlv_valid_prefix(b""), 0);
        let good = [0x01, 2, 0, 0, 0, b'p', b'1'];
        assert_eq!(tlv_valid_prefix(&good), 7);
        // Python null record: ff 00000000 is a 7-byte extended header with a huge length.
        let mut py = good.to_vec();
        py.extend_from_slice(&[0xff, 0, 0, 0, 0]);
        py.extend_from_slice(&good);
        assert_eq!(tlv_valid_prefix(&py), 7);
        // Tombstone survives.
        let mut t = good.to_vec();
        t.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0, 0]);
        assert_eq!(tlv_valid_prefix(&t), 14);
        // Header cut short.
        assert_eq!(tlv_valid_prefix(&[0x01, 0, 0]), 0);
        assert_eq!(tlv_valid_prefix(&[0xff, 0, 1, 0, 0, 0]), 0);
    }

    #[test]
    fn segments_read_across_and_truncate() {
        let mut log = Log::default();
        log.append(b"abcd", 3); // sealed (4 > 3)
        log.append(b"ef", 3); // active
        log.append(b"gh", 3); // 4 > 3: sealed
        assert_eq!(log.segments.len(), 2);
        assert_eq!(log.read(2, 4), b"cdef");
        assert_eq!(log.read(0, 100), b"abcdefgh");
        assert_eq!(log.read(8, 1), b"");
        assert_eq!(log.truncate_front(3), 3);
        assert_eq!(log.to_vec(), b"defgh");
    }

    #[test]
    fn retention_rules() {
        let mut log = Log::default();
        for _ in 0..3 {
            log.append(b"0123456789", 5);
        }
        log.append(b"x", 100);
        let later = SystemTime::now() + std::time::Duration::from_secs(10);
        assert_eq!(log.apply_retention(18_446_744_073, u64::MAX, later), 0);
        assert_eq!(log.apply_retention(18_446_744_073, 21, later), 10);
        assert_eq!(log.len(), 21);
        // 2^63 s wraps to 0 ns: every closed segment goes; the active one stays.
        assert_eq!(log.apply_retention(1 << 63, u64::MAX, later), 20);
        assert_eq!(log.to_vec(), b"x");
        assert_eq!(log.apply_retention(0, 0, later), 0);
    }
}
