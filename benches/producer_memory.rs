//! Producer memory benchmark: peak RSS beside the `buffer.memory` bound it must respect.
//!
//! `cargo bench --bench producer_memory [-- RECORDS]` (default 10 M records of 100 B; without
//! `--bench`, as under `cargo test --all-targets`, a 20 k-record smoke run). The broker
//! is `lnc mock` in a child process, so its stored log does not count; the peak RSS is this
//! process's VmHWM, reset between cases (`/proc/self/clear_refs`). Cases, at library defaults
//! (`buffer.memory` = 32 MiB):
//! - a poller that takes reports as they come;
//! - a slow poller (500 k reports/s, slower than the producer): unserved reports fill the buffer
//!   and `send` blocks, so memory must still stay inside the bound.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lnc::{Admin, Config, Message, Producer};

fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn reset_peak() {
    // "5" resets the peak resident set size (VmHWM) to the current RSS (Linux ≥ 4.0).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n: u64 =
        std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(if full { 10_000_000 } else { 20_000 });
    let mut mock = Command::new(env!("CARGO_BIN_EXE_lnc"))
        .args(["mock", "--port", "0", "--ack-delay-ms", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("lnc mock");
    let mut addr = String::new();
    BufReader::new(mock.stdout.take().unwrap()).read_line(&mut addr).unwrap();
    let addr = addr.trim().to_string();
    let mut c = Config::new();
    c.set("bootstrap.servers", &addr).unwrap();
    let bound = c.get_u64("buffer.memory");
    println!("producer memory: {n} records of 100 B per case, library defaults (buffer.memory {} MiB), lnc mock (ack delay 1 ms) in a child process", bound >> 20);
    println!(
        "{:<28} {:>12} {:>12} {:>14} {:>14} {:>12}",
        "case", "records/s", "seconds", "RSS before MiB", "peak RSS MiB", "bound MiB"
    );
    let admin = Admin::new(&c).unwrap();
    for (case, slow) in [("prompt poller", false), ("slow poller (200 k/s)", true)] {
        let topic = admin.create_topic(&format!("memory-{}", if slow { "slow" } else { "prompt" }), None).unwrap().id;
        reset_peak();
        let before = status_kib("VmRSS:");
        let p = Arc::new(Producer::new(&c).unwrap());
        let done = Arc::new(AtomicBool::new(false));
        let poller = {
            let (p, done) = (p.clone(), done.clone());
            std::thread::spawn(move || {
                let start = Instant::now();
                let mut taken = 0u64;
                let mut failed = 0u64;
                while !(done.load(Ordering::Acquire) && p.outstanding() == 0) {
                    let max = if slow { 5000 } else { usize::MAX };
                    let r = p.poll_reports(max, Duration::from_millis(10));
                    failed += r.iter().filter(|r| r.error.is_some()).count() as u64;
                    taken += r.len() as u64;
                    if slow {
                        let due = Duration::from_secs_f64(taken as f64 / 200_000.0);
                        std::thread::sleep(due.saturating_sub(start.elapsed()));
                    }
                }
                (taken, failed)
            })
        };
        let value = [0x5au8; 100];
        let start = Instant::now();
        for i in 0..n {
            p.send(topic, &Message::raw(&value), i).unwrap();
        }
        p.flush(Duration::from_secs(600)).unwrap();
        done.store(true, Ordering::Release);
        let (taken, failed) = poller.join().unwrap();
        let secs = start.elapsed().as_secs_f64();
        p.close(Duration::from_secs(10)).unwrap();
        let peak = status_kib("VmHWM:");
        assert_eq!((taken, failed), (n, 0), "every record reported, none failed");
        println!(
            "{case:<28} {:>12.0} {secs:>12.1} {:>14.1} {:>14.1} {:>12.1}",
            n as f64 / secs,
            before as f64 / 1024.0,
            peak as f64 / 1024.0,
            bound as f64 / 1048576.0
        );
    }
    println!("peak RSS includes the process baseline (RSS before); the growth above it is what buffer.memory bounds");
    let _ = mock.kill();
    let _ = mock.wait();
}
