//! The producer's configuration, read once from [`Config`].

use std::time::Duration;

use crate::config::Config;

/// Producer settings (see the README's configuration table for each key).
pub(crate) struct Settings {
    pub batch_size: usize,
    /// Largest batch while the in-flight window is full (≥ batch_size, ≤ max_payload).
    pub batch_size_max: usize,
    pub linger: Duration,
    pub max_in_flight: usize,
    /// Payload bytes in flight that make the window full, whatever the batch count.
    pub max_in_flight_bytes: usize,
    pub delivery_timeout: Duration,
    pub buffer_memory: usize,
    pub send_block: bool,
    pub send_timeout: Duration,
    pub retries: u32,
    pub retry_backoff: Duration,
    pub compression: bool,
    pub compression_min: usize,
    pub lanes: usize,
    pub max_payload: usize,
}

impl Settings {
    pub fn from_config(c: &Config) -> Settings {
        Settings {
            batch_size: c.get_u64("batch.size") as usize,
            batch_size_max: (c.get_u64("batch.size.max") as usize)
                .max(c.get_u64("batch.size") as usize)
                .min(c.max_payload()),
            linger: c.get_ms("linger.ms"),
            max_in_flight: c.get_u64("max.in.flight") as usize,
            max_in_flight_bytes: c.get_u64("max.in.flight.bytes") as usize,
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

    /// The lane (connection) that carries `topic_id`: one topic stays on one lane to keep order.
    pub fn lane_of(&self, topic_id: u32) -> usize {
        topic_id as usize % self.lanes
    }
}
