//! Codec throughput: `cargo bench --bench codec`. Plain `std::time::Instant`, one core, best of
//! several runs. Targets: Reassembler ≥ 1 GB/s on 1 KiB records; CRC-32 and CRC-32C ≥ 8 GB/s.

use std::hint::black_box;
use std::time::{Duration, Instant};

use lnc::wire::checksum::Checksum;
use lnc::wire::frame::{check_header, encode_frame, FrameDecoder, DEFAULT_MAX_PAYLOAD};
use lnc::wire::header::{flags, Header, HEADER_LEN};
use lnc::wire::tlv::{self, record_type, Reassembler};

const MIB: usize = 1 << 20;

/// `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it, and
/// then it only does a quick smoke run (tiny sizes, one short run each) so the test suite stays
/// fast.
fn full() -> bool {
    std::env::args().any(|a| a == "--bench")
}
fn runs() -> usize {
    if full() {
        5
    } else {
        1
    }
}
fn min_run() -> Duration {
    if full() {
        Duration::from_millis(200)
    } else {
        Duration::from_millis(1)
    }
}
/// Size of the reassembly log.
fn log_size() -> usize {
    if full() {
        64 * MIB
    } else {
        2 * MIB
    }
}

/// Runs `f` repeatedly for at least `min_run()`, `runs()` times; returns the best (seconds per
/// call).
fn best<F: FnMut()>(mut f: F) -> f64 {
    f(); // warm up
    let mut best = f64::INFINITY;
    for _ in 0..runs() {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < min_run() {
            f();
            n += 1;
        }
        best = best.min(start.elapsed().as_secs_f64() / n as f64);
    }
    best
}

fn gbps(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / secs / 1e9
}

fn row(name: &str, value: f64, unit: &str, target: &str) {
    println!("| {name:<52} | {value:>10.2} {unit:<6} | {target:<10} |");
}

fn pseudo_random(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A log of raw records whose encoded size is `record_size`, about `total` bytes long.
fn record_log(record_size: usize, total: usize) -> (Vec<u8>, usize) {
    let value = pseudo_random(record_size - 5);
    let mut log = Vec::with_capacity(total + record_size);
    let mut n = 0;
    while log.len() + record_size <= total {
        tlv::append_structured(&mut log, record_type::RAW, None, 0, &value).unwrap();
        n += 1;
    }
    (log, n)
}

fn main() {
    if !full() {
        println!("smoke run (use `cargo bench --bench codec` for figures)");
    }
    println!("liblnc codec benchmark (one core, best of {} runs of >= {:?})", runs(), min_run());
    println!();
    println!("| {:<52} | {:>17} | {:<10} |", "measurement", "result", "target");
    println!("|{:-<54}|{:-<19}|{:-<12}|", "", "", "");

    // Header: encode + parse + validate (magic, version, header CRC, length).
    let mut id = 0u64;
    let per = best(|| {
        for _ in 0..1000 {
            id = id.wrapping_add(1);
            let h = Header::new(Checksum::Crc32, flags::INGEST, black_box(id), 1, 2, 3, &[]);
            let bytes = black_box(h.encode());
            let back = check_header(&bytes, Checksum::Crc32, DEFAULT_MAX_PAYLOAD).unwrap();
            black_box(back);
        }
    });
    row("header encode+decode+verify (crc32)", per / 1000.0 * 1e9, "ns/op", "");
    let per = best(|| {
        for _ in 0..1000 {
            id = id.wrapping_add(1);
            let h = Header { batch_id: black_box(id), ..Header::default() };
            black_box(Header::parse(&black_box(h.encode())));
        }
    });
    row("header encode+parse (no CRC)", per / 1000.0 * 1e9, "ns/op", "");

    // CRCs over 1 MiB buffers.
    let buf = pseudo_random(MIB);
    for (name, cs) in
        [("CRC-32/IEEE (crc32fast), 1 MiB", Checksum::Crc32), ("CRC-32C (crc32c), 1 MiB", Checksum::Crc32c)]
    {
        let per = best(|| {
            black_box(cs.compute(black_box(&buf)));
        });
        row(name, gbps(MIB, per), "GB/s", ">= 8");
    }

    // TLV encode and reassembly.
    for size in [100usize, 1024] {
        let value = pseudo_random(size - 5);
        let per_batch = MIB / size;
        let mut out = Vec::with_capacity(MIB + size);
        let per = best(|| {
            out.clear();
            for _ in 0..per_batch {
                tlv::append_structured(&mut out, record_type::RAW, None, 0, black_box(&value)).unwrap();
            }
            black_box(&out);
        });
        row(&format!("TLV encode, {size} B records (append_structured)"), gbps(per_batch * size, per), "GB/s", "");

        let (log, n) = record_log(size, log_size());
        let per = best(|| {
            // 1 MiB fetch windows, cut anywhere (mid-record), fed in order.
            let mut r = Reassembler::new(0, true);
            let mut count = 0usize;
            for window in log.chunks(MIB) {
                r.feed(window);
                while let Some(rec) = r.next_record().unwrap() {
                    black_box(&rec);
                    count += 1;
                }
            }
            assert_eq!(count, n);
            assert_eq!(r.position(), log.len() as u64);
        });
        let target = if size == 1024 { ">= 1" } else { "" };
        row(&format!("Reassembler, {size} B records, 1 MiB windows"), gbps(log.len(), per), "GB/s", target);
    }

    // Frame decode: FetchResponse-sized frames (1 MiB payload) arriving in 64 KiB socket reads.
    for (name, cs) in [
        ("frame decode, 1 MiB payloads, 64 KiB reads, crc32", Checksum::Crc32),
        ("frame decode, 1 MiB payloads, 64 KiB reads, crc32c", Checksum::Crc32c),
    ] {
        let payload = pseudo_random(MIB);
        let mut stream = Vec::new();
        let frames_n = if full() { 16 } else { 2 };
        for i in 0..frames_n {
            encode_frame(&mut stream, cs, flags::CONTROL, 0x11 + (i << 8), 0, 0, 0, &payload);
        }
        let per = best(|| {
            let mut d = FrameDecoder::new(cs, DEFAULT_MAX_PAYLOAD);
            let mut frames = 0;
            for chunk in stream.chunks(64 * 1024) {
                d.feed(chunk);
                while let Some(f) = d.next_frame().unwrap() {
                    black_box(&f);
                    frames += 1;
                }
            }
            assert_eq!(frames, frames_n);
        });
        row(name, gbps(stream.len(), per), "GB/s", "");
    }
    // Small frames (acks / keepalives), many per read.
    let mut stream = Vec::new();
    for i in 0..10_000u64 {
        encode_frame(&mut stream, Checksum::Crc32, flags::ACK, i, 0, 0, 0, &[]);
    }
    let per = best(|| {
        let mut d = FrameDecoder::new(Checksum::Crc32, DEFAULT_MAX_PAYLOAD);
        let mut frames = 0;
        for chunk in stream.chunks(64 * 1024) {
            d.feed(chunk);
            while let Some(f) = d.next_frame().unwrap() {
                black_box(&f);
                frames += 1;
            }
        }
        assert_eq!(frames, 10_000);
    });
    row("frame decode, header-only acks", per / 10_000.0 * 1e9, "ns/fr", "");
    let _ = HEADER_LEN;
}
