//! Adaptive batching and the in-flight window against the mock (issue 20): batches grow while the
//! window is full and fall back when it empties; the window is full at `max.in.flight` batches or
//! at `max.in.flight.bytes`, whichever comes first.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[path = "support/broker.rs"]
mod broker;
use broker::{config, mock};
use lnc::{Config, Message, Producer};

/// The largest values of (in-flight batches, batch size limit) seen while `n` records of `size`
/// bytes are sent as fast as `send` takes them; the producer is flushed before it returns.
fn peaks_while_sending(p: &Producer, topic: u32, n: u64, size: usize) -> (u64, u64) {
    let (max_in_flight, max_limit) = (AtomicU64::new(0), AtomicU64::new(0));
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                let m = p.metrics();
                max_in_flight.fetch_max(m.in_flight_batches, Ordering::Relaxed);
                max_limit.fetch_max(m.batch_size_current, Ordering::Relaxed);
                std::thread::sleep(Duration::from_micros(200));
            }
        });
        let value = vec![0x5a; size];
        for i in 0..n {
            // Fire and forget with a non-zero opaque: reports are served by the poller below.
            p.send(topic, &Message::raw(&value), i + 1).unwrap();
        }
        assert_eq!(p.flush(Duration::from_secs(60)).unwrap(), 0, "every record acknowledged");
        done.store(true, Ordering::Relaxed);
    });
    (max_in_flight.into_inner(), max_limit.into_inner())
}

fn counting_producer(c: &Config) -> (Producer, Arc<AtomicU64>) {
    let acked = Arc::new(AtomicU64::new(0));
    let a2 = acked.clone();
    let p = Producer::with_callback(c, move |r| {
        assert!(r.error.is_none(), "{:?}", r.error);
        a2.fetch_add(1, Ordering::Relaxed);
    })
    .unwrap();
    (p, acked)
}

#[test]
fn batches_grow_under_load_and_fall_back_when_the_window_empties() {
    let m = mock(5);
    let t = m.create_topic("adaptive").unwrap();
    // Library defaults: batch.size 32 KiB, batch.size.max 1 MiB.
    let (p, acked) = counting_producer(&config(&m, &[]));
    let polling = AtomicBool::new(true);
    let (n, size) = (300_000u64, 100usize);
    let (_, max_limit) = std::thread::scope(|s| {
        s.spawn(|| {
            while polling.load(Ordering::Relaxed) {
                let _ = p.poll(Duration::from_millis(10));
            }
        });
        let peaks = peaks_while_sending(&p, t, n, size);
        while acked.load(Ordering::Relaxed) < n {
            let _ = p.poll(Duration::from_millis(10));
        }
        polling.store(false, Ordering::Relaxed);
        peaks
    });
    let stored = m.stats().ingests_stored;
    let mean_batch = n * size as u64 / stored.max(1);
    assert_eq!(max_limit, 1 << 20, "a full window takes the limit to batch.size.max");
    assert!(
        mean_batch > 4 * 32 * 1024,
        "batches grew under load: {stored} batches, {mean_batch} bytes each on average"
    );

    // Idle again: the limit is back at batch.size, and a lone record travels after linger.ms.
    std::thread::sleep(Duration::from_millis(300));
    p.send(t, &Message::raw(b"lone"), n + 1).unwrap();
    assert_eq!(p.flush(Duration::from_secs(10)).unwrap(), 0);
    assert_eq!(p.metrics().batch_size_current, 32 * 1024, "an empty window resets the limit to batch.size");
    assert_eq!(m.stats().ingests_stored, stored + 1);
    while acked.load(Ordering::Relaxed) < n + 1 {
        let _ = p.poll(Duration::from_millis(10));
    }
    p.close(Duration::from_secs(5)).unwrap();
}

/// Peak in-flight batches for fixed 4 KiB batches (no adaptive growth) under a 10 ms ack delay.
fn peak_in_flight(max_in_flight_bytes: &str) -> u64 {
    let m = mock(10);
    let t = m.create_topic("window").unwrap();
    let c = config(
        &m,
        &[
            ("batch.size", "4096"),
            ("batch.size.max", "4096"),
            ("linger.ms", "0"),
            ("max.in.flight", "16"),
            ("max.in.flight.bytes", max_in_flight_bytes),
        ],
    );
    let p = Producer::new(&c).unwrap();
    let (peak, limit) = peaks_while_sending(&p, t, 8_000, 100);
    assert_eq!(limit, 4096, "batch.size.max = batch.size turns growth off");
    p.close(Duration::from_secs(5)).unwrap();
    peak
}

#[test]
fn the_window_is_full_at_max_in_flight_or_max_in_flight_bytes() {
    // One byte: one batch at a time, although 16 are allowed by count.
    assert_eq!(peak_in_flight("1"), 1);
    // 16 KiB: four batches of up to 4 KiB fill it (a fifth when they are a little short of 4 KiB).
    let by_bytes = peak_in_flight("16384");
    assert!((2..=5).contains(&by_bytes), "peak {by_bytes} batches in flight for a 16 KiB window");
    // The default (4 MiB) does not bind small batches: the count does.
    let by_count = peak_in_flight("4194304");
    assert!(by_count > 5 && by_count <= 16, "peak {by_count} batches in flight for max.in.flight 16");
}
