//! Reproduction of issue 14's memory bug as a test: LZ4 envelopes that expand ~250×, consumed by
//! a poller slower than the fetcher, must keep the process's RSS growth within 128 MiB at the
//! default `queued.max.bytes` of 64 MiB (it grew by 367–495 MiB before the fix).
//!
//! Its own test binary (one test), so that no other test shares the process whose memory it
//! measures.

#[path = "support/consumer_memory.rs"]
mod support;

use std::time::Duration;

#[test]
fn lz4_consumer_rss_stays_within_queued_max_bytes() {
    let bound = 64 << 20;
    // 16 envelopes: 256 MiB of records, 4× the bound.
    let o = support::run(16, bound, Duration::from_secs(2), Duration::from_micros(200));
    let growth_mib = o.peak_kib.saturating_sub(o.baseline_kib) as f64 / 1024.0;
    println!(
        "{} records, {} MiB expanded from {} KiB compressed; queued.max.bytes {} MiB; RSS {} MiB before, peak {} MiB, growth {growth_mib:.1} MiB; {:.1} s",
        o.records,
        o.expanded_bytes >> 20,
        o.compressed_bytes >> 10,
        bound >> 20,
        o.baseline_kib / 1024,
        o.peak_kib / 1024,
        o.elapsed.as_secs_f64()
    );
    assert!(o.peak_kib > 0, "no RSS figures (/proc/self/status unreadable)");
    assert!(growth_mib <= 128.0, "RSS grew by {growth_mib:.1} MiB with queued.max.bytes = 64 MiB");
}
