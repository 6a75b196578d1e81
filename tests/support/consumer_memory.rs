//! Shared by `tests/consumer_memory.rs` and `benches/consumer_memory.rs`: a topic of highly
//! compressible LZ4 envelopes (1 KiB records, 16 MiB of records per envelope, as `compression=lz4`
//! with `batch.size=16777216` writes them), consumed by a poller slower than the fetcher, with the
//! process's resident memory measured before and at its peak.

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lnc::mock::{MockBroker, MockConfig};
use lnc::wire::tlv::{build_envelope, Record};
use lnc::wire::{encode_frame, flags, Checksum, FrameDecoder, FrameKind, DEFAULT_MAX_PAYLOAD};
use lnc::{Config, StandaloneConsumer};

/// Value bytes per record.
pub const RECORD: usize = 1024;
/// Records per envelope: as many 1 KiB records as fit in 16 MiB of plain records.
pub const PER_ENVELOPE: u64 = (16 * 1024 * 1024 / (RECORD + 5)) as u64;

/// What one run measured.
pub struct Outcome {
    pub records: u64,
    pub expanded_bytes: u64,
    pub compressed_bytes: u64,
    /// VmRSS before the consumer was created, KiB.
    pub baseline_kib: u64,
    /// The highest VmRSS seen while consuming (VmHWM after a reset where the kernel allows it,
    /// and never below the sampled maximum), KiB.
    pub peak_kib: u64,
    pub elapsed: Duration,
}

fn status_kib(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// VmRSS in KiB.
pub fn rss_kib() -> u64 {
    status_kib("VmRSS:").unwrap_or(0)
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0); false if not possible.
fn reset_hwm() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn ingest(b: &MockBroker, topic: u32, envelope: &[u8], n: u64) {
    let mut s = TcpStream::connect(b.address()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut frame = Vec::new();
    for i in 0..n {
        frame.clear();
        encode_frame(&mut frame, Checksum::Crc32, flags::INGEST, i + 1, 0, PER_ENVELOPE as u32, topic, envelope);
        s.write_all(&frame).unwrap();
    }
    let mut dec = FrameDecoder::new(Checksum::Crc32, DEFAULT_MAX_PAYLOAD);
    let mut acks = 0;
    while acks < n {
        assert!(dec.read_from(&mut s, 64 * 1024).unwrap() > 0, "the broker closed the ingest connection");
        while let Some(f) = dec.next_frame().unwrap() {
            assert_eq!(f.kind(), FrameKind::Ack, "ingest refused");
            acks += 1;
        }
    }
}

/// Loads `envelopes` envelopes, then consumes them all with `queued.max.bytes = queued_max_bytes`
/// (other settings default): the poller first waits `head_start` (the fetcher runs ahead and
/// fills the queue), then sleeps `pause` after every poll. Checks every record (order, content).
pub fn run(envelopes: u64, queued_max_bytes: u64, head_start: Duration, pause: Duration) -> Outcome {
    let b = MockBroker::start(MockConfig { ack_delay: Duration::ZERO, ..Default::default() }).unwrap();
    let topic = b.create_topic("memory").unwrap();
    let mut plain = Vec::with_capacity(16 << 20);
    for i in 0..PER_ENVELOPE {
        let mut v = vec![b'a' + (i % 26) as u8; RECORD];
        v[..8].copy_from_slice(&i.to_le_bytes());
        Record::raw(v).encode_into(&mut plain);
    }
    let envelope = build_envelope(&plain).expect("16 MiB of records fit one envelope");
    let expanded = plain.len() as u64 * envelopes;
    drop(plain);
    ingest(&b, topic, &envelope, envelopes);
    let addr = b.address_string();
    let tid = topic.to_string();
    let qmb = queued_max_bytes.to_string();
    let cfg = Config::from_pairs([
        ("bootstrap.servers", addr.as_str()),
        ("topic.id", tid.as_str()),
        ("start.offset", "beginning"),
        ("queued.max.bytes", qmb.as_str()),
        ("enable.auto.commit", "false"),
        ("offset.store", "none"),
    ])
    .unwrap();

    let baseline = rss_kib();
    let hwm_reset = reset_hwm();
    // Sample VmRSS too: VmHWM cannot be reset everywhere.
    let sampled = Arc::new(AtomicU64::new(baseline));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (sampled, stop) = (sampled.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                sampled.fetch_max(rss_kib(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let t0 = Instant::now();
    let c = StandaloneConsumer::new(&cfg).unwrap();
    std::thread::sleep(head_start);
    let total = PER_ENVELOPE * envelopes;
    let mut n = 0u64;
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    while n < total {
        assert!(Instant::now() < deadline, "only {n} of {total} records arrived");
        out.clear();
        c.poll_into(Duration::from_millis(500), &mut out, usize::MAX).unwrap();
        for r in &out {
            let i = n % PER_ENVELOPE;
            assert_eq!(u64::from_le_bytes(r.value[..8].try_into().unwrap()), i, "record {n}");
            assert_eq!(r.value.len(), RECORD);
            assert_eq!(r.offset, (n / PER_ENVELOPE) * envelope.len() as u64);
            n += 1;
        }
        if !pause.is_zero() {
            std::thread::sleep(pause);
        }
    }
    let elapsed = t0.elapsed();
    assert_eq!(c.position(), envelopes * envelope.len() as u64);
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let mut peak = sampled.load(Ordering::Relaxed);
    if hwm_reset {
        peak = peak.max(status_kib("VmHWM:").unwrap_or(0));
    }
    drop(c);
    Outcome {
        records: total,
        expanded_bytes: expanded,
        compressed_bytes: envelope.len() as u64 * envelopes,
        baseline_kib: baseline,
        peak_kib: peak,
        elapsed,
    }
}
