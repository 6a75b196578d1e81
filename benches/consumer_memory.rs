//! Consumer memory benchmark (issue 14): `cargo bench --bench consumer_memory`.
//!
//! 1 GiB of highly compressible LZ4 data (64 envelopes of 16 MiB of 1 KiB records, as
//! `compression=lz4` with `batch.size=16777216` writes them) consumed with default settings by a
//! poller slower than the fetcher (a 2 s head start, then a pause after every poll), against the
//! embedded mock. Prints peak RSS growth beside the bound, `queued.max.bytes` (64 MiB by default;
//! `-- --queued-max-bytes N` to change it). Without `--bench` (e.g. `cargo test --all-targets`)
//! it does a small smoke run.

#[path = "../tests/support/consumer_memory.rs"]
mod support;

use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench");
    let bound: u64 = args
        .iter()
        .position(|a| a == "--queued-max-bytes")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("--queued-max-bytes takes a byte count"))
        .unwrap_or(64 << 20);
    let envelopes = if full { 64 } else { 2 };
    let o = support::run(envelopes, bound, Duration::from_secs(if full { 2 } else { 0 }), Duration::from_micros(300));
    let growth = o.peak_kib.saturating_sub(o.baseline_kib) as f64 / 1024.0;
    println!(
        "consumer memory: {} records of {} B, {} MiB expanded from {:.1} MiB of LZ4 envelopes, slow poller",
        o.records,
        support::RECORD,
        o.expanded_bytes >> 20,
        o.compressed_bytes as f64 / 1048576.0
    );
    println!("  queued.max.bytes (bound)   {:>8.1} MiB", bound as f64 / 1048576.0);
    println!("  RSS before consuming       {:>8.1} MiB", o.baseline_kib as f64 / 1024.0);
    println!("  peak RSS                   {:>8.1} MiB", o.peak_kib as f64 / 1024.0);
    println!("  peak RSS growth            {:>8.1} MiB  ({:.2}x the bound)", growth, growth * 1048576.0 / bound as f64);
    println!(
        "  time                       {:>8.1} s ({:.0} MB/s of records)",
        o.elapsed.as_secs_f64(),
        o.expanded_bytes as f64 / 1e6 / o.elapsed.as_secs_f64()
    );
}
