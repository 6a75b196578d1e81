//! Consumer throughput against the embedded mock broker: `cargo bench --bench consume`.
//!
//! Pre-loads a topic (1 M records of 100 B, then 200 k records of 1 KiB) with large ingest
//! batches written directly, then times a `StandaloneConsumer` from creation until the last record
//! was polled, and prints records/s and MB/s (value bytes). Target: ≥ 1 M records/s for 100 B.
//! Without `--bench` (e.g. `cargo test --all-targets`) it does a small smoke run.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use lnc::mock::{MockBroker, MockConfig};
use lnc::wire::{encode_frame, flags, Checksum, FrameDecoder, FrameKind, DEFAULT_MAX_PAYLOAD};
use lnc::{Config, StandaloneConsumer};

fn full() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// Appends `n` records of `size` value bytes to the topic in ~4 MiB ingest batches.
fn preload(b: &MockBroker, topic: u32, n: usize, size: usize) {
    let mut s = TcpStream::connect(b.address()).unwrap();
    let rec_len = 5 + size;
    let per_batch = ((4 << 20) / rec_len).max(1);
    let mut sent = 0usize;
    let mut batches = 0u64;
    let mut frame = Vec::new();
    let mut payload = Vec::with_capacity(per_batch * rec_len);
    let value = vec![0x5au8; size];
    while sent < n {
        let k = per_batch.min(n - sent);
        payload.clear();
        for i in 0..k {
            payload.push(0x01);
            payload.extend_from_slice(&(size as u32).to_le_bytes());
            let at = payload.len();
            payload.extend_from_slice(&value);
            let seq = ((sent + i) as u64).to_le_bytes();
            let m = size.min(8);
            payload[at..at + m].copy_from_slice(&seq[..m]);
        }
        batches += 1;
        frame.clear();
        encode_frame(&mut frame, Checksum::Crc32, flags::INGEST, batches, 0, k as u32, topic, &payload);
        s.write_all(&frame).unwrap();
        sent += k;
    }
    let mut dec = FrameDecoder::new(Checksum::Crc32, DEFAULT_MAX_PAYLOAD);
    let mut acks = 0;
    while acks < batches {
        assert!(dec.read_from(&mut s, 4096).unwrap() > 0);
        while let Some(f) = dec.next_frame().unwrap() {
            assert_eq!(f.kind(), FrameKind::Ack);
            acks += 1;
        }
    }
}

fn run(label: &str, n: usize, size: usize, extra: &[(&str, &str)]) {
    let b = MockBroker::start(MockConfig { ack_delay: Duration::ZERO, ..Default::default() }).unwrap();
    let topic = b.create_topic("bench").unwrap();
    let t0 = Instant::now();
    preload(&b, topic, n, size);
    let load = t0.elapsed();
    let addr = b.address_string();
    let tid = topic.to_string();
    let mut pairs = vec![
        ("bootstrap.servers", addr.as_str()),
        ("topic.id", tid.as_str()),
        ("enable.auto.commit", "false"),
        ("offset.store", "none"),
        ("max.poll.records", "10000"),
    ];
    pairs.extend_from_slice(extra);
    let cfg = Config::from_pairs(pairs).unwrap();
    let reps = if full() { 3 } else { 1 };
    let mut times = Vec::new();
    for _ in 0..reps {
        times.push(consume_all(&cfg, n, size));
    }
    times.sort();
    let best = times[0];
    let bytes = (n * size) as f64;
    println!(
        "{label:<34} {n:>9} x {size:>4} B: best {:>6.3} s  {:>10.0} records/s  {:>7.1} MB/s  (median {:.3} s, preload {:.2} s)",
        best.as_secs_f64(),
        n as f64 / best.as_secs_f64(),
        bytes / best.as_secs_f64() / 1e6,
        times[times.len() / 2].as_secs_f64(),
        load.as_secs_f64()
    );
}

/// Creates a consumer at the beginning, polls every record (checking order), returns the time
/// from creation to the last record.
fn consume_all(cfg: &Config, n: usize, size: usize) -> Duration {
    let start = Instant::now();
    let c = StandaloneConsumer::new(cfg).unwrap();
    let mut out = Vec::with_capacity(10_000);
    let mut got = 0usize;
    let mut expect = 0u64;
    while got < n {
        out.clear();
        c.poll_into(Duration::from_secs(10), &mut out, usize::MAX).unwrap();
        assert!(!out.is_empty(), "stalled after {got} records");
        for r in &out {
            if size >= 8 {
                let seq = u64::from_le_bytes(r.value[..8].try_into().unwrap());
                assert_eq!(seq, expect, "lost or reordered record");
            }
            expect += 1;
        }
        got += out.len();
    }
    let el = start.elapsed();
    c.close(Duration::from_secs(5)).unwrap();
    el
}

fn main() {
    let (n100, n1k) = if full() { (1_000_000, 200_000) } else { (20_000, 2_000) };
    run("100 B, fetch 1 MiB, pipeline 2", n100, 100, &[]);
    if full() {
        run("100 B, fetch 1 MiB, pipeline 1", n100, 100, &[("fetch.pipeline", "1")]);
        run("100 B, fetch 4 MiB, pipeline 2", n100, 100, &[("fetch.max.bytes", "4194304")]);
    }
    run("1 KiB, fetch 1 MiB, pipeline 2", n1k, 1024, &[]);
    if full() {
        run("1 KiB, fetch 4 MiB, pipeline 2", n1k, 1024, &[("fetch.max.bytes", "4194304")]);
    }
}
