//! Side-by-side benchmark: liblnc vs the official crates.io `lnc-client` 0.2.8, in one run,
//! against the same broker.
//!
//! ```text
//! cargo run --release -p lnc-interop --bin compare -- produce|consume|all|rss [--addr host:port]
//!     [-n N] [--seconds S] [--sizes 100,1024] [--delays 0,5]
//! ```
//!
//! Without `--addr`, one embedded mock broker is started in this process and every scenario runs
//! against it: produce once with ack delay 0 and once with the server-like 5 ms, for 100 B and
//! 1 KiB records, one connection per client. With `--addr`, the same scenarios run against that
//! server (its own ack behaviour; the delay column then reads "ext").
//!
//! Each client runs in its own child process of this binary (`compare child ...`), so the peak
//! RSS (`VmHWM`) reported is that client's alone; the broker's memory stays in the parent.
//!
//! - produce: the record count is `-n` (default 2 M for 100 B, scaled by size) but each run stops
//!   sending after `--seconds` (default 3) and then flushes; rates count acknowledged records over
//!   the whole time including the flush. MB/s counts application bytes (record values).
//!   liblnc: `Producer` with defaults (`send`, reports polled every 4096 sends); ack p50/p99 from
//!   its metrics (batch written → Ack, per record). Official: `Producer` with defaults,
//!   `send_async` (it flushes a full 16 KiB batch inline and waits for its Ack, one batch at a
//!   time); ack p50/p99 = duration of the `send_async` calls that wrote a batch (write → Ack).
//! - consume: the topic is preloaded with `-n` TLV records (liblnc producer, in the parent);
//!   liblnc `StandaloneConsumer` decodes every record; the official `StandaloneConsumer` hands out
//!   raw 1 MiB fetch chunks and does no record decoding at all (its best case).
//! - rss: liblnc produces 10 M records of 100 B (`-n`), reporting its peak RSS against
//!   `buffer.memory` + 32 MiB.

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use lnc::admin::Admin;
use lnc::mock::MockBroker;
use lnc::{Message, Producer, StandaloneConsumer};
use lnc_interop::{lnc_config, mock, percentile, runtime, vm_hwm_kib, Args};
use serde_json::{json, Value};

const MIB: f64 = 1024.0 * 1024.0;

fn main() {
    let args = Args::from_env();
    match args.0.first().map(String::as_str) {
        Some("child") => child(&args),
        Some(mode @ ("produce" | "consume" | "all" | "rss")) => parent(mode, &args),
        _ => {
            eprintln!("usage: compare produce|consume|all|rss [--addr host:port] [-n N] [--seconds S] [--sizes 100,1024] [--delays 0,5]");
            std::process::exit(2);
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Parent: scenarios, broker, table
// ------------------------------------------------------------------------------------------------

struct Target {
    addr: String,
    mock: Option<MockBroker>,
    admin: Admin,
}

impl Target {
    fn topic(&self, name: &str) -> u32 {
        let name = format!("{name}-{}", std::process::id());
        self.admin.ensure_topic(&name, Some(Duration::from_secs(10))).expect("ensure topic").id
    }
    fn release(&self, topic: u32) {
        match &self.mock {
            Some(m) => {
                m.truncate_front(topic, u64::MAX);
            }
            None => {
                let _ = self.admin.delete_topic(topic, Some(Duration::from_secs(10)));
            }
        }
    }
    fn set_delay(&self, ms: u64) {
        if let Some(m) = &self.mock {
            m.set_ack_delay(Duration::from_millis(ms));
        }
    }
}

fn list(args: &Args, name: &str, default: &[u64]) -> Vec<u64> {
    args.value(name)
        .map(|v| v.split(',').map(|x| lnc_interop::parse_num(x.trim()).expect("number list")).collect())
        .unwrap_or_else(|| default.to_vec())
}

fn run_child(params: &[String]) -> Value {
    let exe = std::env::current_exe().expect("current exe");
    let out = Command::new(exe).arg("child").args(params).output().expect("spawn child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    match stdout.lines().rev().find_map(|l| serde_json::from_str::<Value>(l).ok()) {
        Some(v) if out.status.success() => v,
        _ => {
            eprintln!("child {params:?} failed: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
            json!({"error": format!("child failed: {}", out.status)})
        }
    }
}

fn parent(mode: &str, args: &Args) {
    let (addr, mock) = match args.value("--addr") {
        Some(a) => (a, None),
        None => {
            let m = mock(Duration::ZERO);
            (m.address_string(), Some(m))
        }
    };
    let admin = Admin::new(&lnc_config(&addr, &[])).expect("admin");
    let target = Target { addr, mock, admin };
    let external = target.mock.is_none();
    let seconds = args.num("--seconds", 3);
    let sizes = list(args, "--sizes", &[100, 1024]);
    let delays = if external { vec![u64::MAX] } else { list(args, "--delays", &[0, 5]) };
    let started = Instant::now();
    println!(
        "liblnc {} vs official lnc-client 0.2.8 — broker: {} — one connection per client, each client in its own process",
        lnc::VERSION,
        if external { format!("external {}", target.addr) } else { format!("embedded mock {}", target.addr) }
    );
    let overrides = producer_overrides();
    if !overrides.is_empty() {
        println!("liblnc producer settings (LNC_COMPARE_PRODUCER): {overrides:?}");
    }
    let mut rows: Vec<Row> = Vec::new();
    if mode == "produce" || mode == "all" {
        for &delay in &delays {
            target.set_delay(if delay == u64::MAX { 0 } else { delay });
            for &size in &sizes {
                let n = args.num("-n", if size <= 100 { 10_000_000 } else { 2_000_000 });
                for client in ["liblnc", "official"] {
                    let topic = target.topic(&format!("cmp-p-{client}-{size}"));
                    let r = run_child(&[
                        "produce".into(),
                        client.into(),
                        target.addr.clone(),
                        topic.to_string(),
                        size.to_string(),
                        n.to_string(),
                        seconds.to_string(),
                    ]);
                    target.release(topic);
                    rows.push(Row::new("produce", delay, size, client, r));
                }
            }
        }
        target.set_delay(0);
    }
    if mode == "consume" || mode == "all" {
        target.set_delay(0);
        for &size in &sizes {
            let n = args.num("-n", if size <= 100 { 8_000_000 } else { 1_000_000 });
            let topic = target.topic(&format!("cmp-c-{size}"));
            let loaded = preload(&target.addr, topic, size as usize, n);
            for client in ["liblnc", "official", "off+parse"] {
                let r = run_child(&[
                    "consume".into(),
                    client.into(),
                    target.addr.clone(),
                    topic.to_string(),
                    n.to_string(),
                    loaded.to_string(),
                ]);
                rows.push(Row::new("consume", 0, size, client, r));
            }
            target.release(topic);
        }
    }
    if mode == "rss" {
        target.set_delay(0);
        let n = args.num("-n", 10_000_000);
        let topic = target.topic("cmp-rss");
        let r = run_child(&[
            "produce".into(),
            "liblnc".into(),
            target.addr.clone(),
            topic.to_string(),
            "100".into(),
            n.to_string(),
            "100000".into(),
        ]);
        target.release(topic);
        rows.push(Row::new("rss", 0, 100, "liblnc", r));
    }
    print_table(&rows, external);
    println!("total time {:.1} s", started.elapsed().as_secs_f64());
}

/// Loads `n` raw records of `size` value bytes with liblnc; returns the topic's byte length.
fn preload(addr: &str, topic: u32, size: usize, n: u64) -> u64 {
    let p = Producer::new(&lnc_config(addr, &[("linger.ms", "2")])).expect("producer");
    let value = vec![b'c'; size];
    for i in 0..n {
        p.send(topic, &Message::raw(&value), i).expect("send");
        if i % 4096 == 0 {
            let _ = p.poll(Duration::ZERO);
        }
    }
    assert_eq!(p.flush(Duration::from_secs(120)).expect("flush"), 0, "preload flushed");
    let m = p.metrics();
    assert_eq!(m.records_acked, n, "preload acked");
    p.close(Duration::from_secs(10)).expect("close");
    n * (size as u64 + 5)
}

struct Row {
    mode: &'static str,
    delay: u64,
    size: u64,
    client: &'static str,
    r: Value,
}

impl Row {
    fn new(mode: &'static str, delay: u64, size: u64, client: &'static str, r: Value) -> Row {
        Row { mode, delay, size, client, r }
    }
    fn f(&self, k: &str) -> f64 {
        self.r[k].as_f64().unwrap_or(0.0)
    }
    fn rate(&self) -> f64 {
        let s = self.f("secs");
        if s > 0.0 {
            self.f("records") / s
        } else {
            0.0
        }
    }
}

fn print_table(rows: &[Row], external: bool) {
    println!();
    println!(
        "{:<8} {:>5} {:>6} {:<9} {:>10} {:>7} {:>13} {:>9} {:>10} {:>10} {:>10} {:>8}",
        "mode",
        "delay",
        "size",
        "client",
        "records",
        "secs",
        "records/s",
        "MB/s",
        "ack p50",
        "ack p99",
        "peak RSS",
        "ratio"
    );
    let mut targets: Vec<String> = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        if let Some(e) = row.r.get("error") {
            println!("{:<8} {:>5} {:>6} {:<9} ERROR {e}", row.mode, delay_s(row.delay, external), row.size, row.client);
            continue;
        }
        let liblnc_row = rows[..i]
            .iter()
            .rev()
            .take(2)
            .find(|r| r.client == "liblnc" && r.mode == row.mode && r.size == row.size && r.delay == row.delay);
        let ratio = if let Some(lr) = liblnc_row.filter(|_| row.client != "liblnc") {
            let off = row.rate();
            if off > 0.0 {
                Some(lr.rate() / off)
            } else {
                None
            }
        } else {
            None
        };
        let lat = |k: &str| match row.r[k].as_u64() {
            Some(us) if row.mode != "consume" => fmt_us(us),
            _ => "-".to_string(),
        };
        println!(
            "{:<8} {:>5} {:>6} {:<9} {:>10} {:>7.2} {:>13} {:>9.1} {:>10} {:>10} {:>8} MiB {:>8}",
            row.mode,
            delay_s(row.delay, external),
            format!("{}B", row.size),
            row.client,
            row.f("records") as u64,
            row.f("secs"),
            fmt_rate(row.rate()),
            row.f("bytes") / MIB / row.f("secs").max(1e-9),
            lat("p50_us"),
            lat("p99_us"),
            row.f("hwm_kib") as u64 / 1024,
            ratio.map_or(String::new(), |r| format!("{r:.1}x")),
        );
        if let Some(note) = row.r.get("note").and_then(|n| n.as_str()) {
            println!("{:>36}note: {note}", "");
        }
        // Targets from issues 4 and 5.
        if !external {
            if row.mode == "produce" && row.client == "liblnc" && row.delay == 0 && row.size == 100 {
                targets.push(check(
                    "liblnc produce 100 B, ack delay 0: >= 2 M records/s",
                    row.rate() >= 2e6,
                    fmt_rate(row.rate()),
                ));
            }
            if let Some(r) = ratio {
                if row.mode == "produce" && row.delay == 5 {
                    targets.push(check(
                        &format!("produce {} B, ack delay 5 ms: liblnc >= 40x official", row.size),
                        r >= 40.0,
                        format!("{r:.1}x"),
                    ));
                }
                if row.mode == "consume" && row.client == "official" {
                    targets.push(check(
                        &format!("consume {} B: liblnc >= 5x official", row.size),
                        r >= 5.0,
                        format!("{r:.1}x"),
                    ));
                }
            }
        }
        if row.mode == "rss" {
            let limit = row.f("buffer_memory") / 1024.0 + 32.0 * 1024.0;
            println!(
                "{:>36}process RSS before the producer was created: {} MiB",
                "",
                row.f("rss_start_kib") as u64 / 1024
            );
            targets.push(check(
                &format!(
                    "peak RSS producing {} records < buffer.memory + 32 MiB ({:.0} MiB)",
                    row.f("records") as u64,
                    limit / 1024.0
                ),
                row.f("hwm_kib") < limit,
                format!("{} MiB", row.f("hwm_kib") as u64 / 1024),
            ));
        }
    }
    if !external && rows.iter().any(|r| r.mode == "produce" && r.delay > 0) {
        println!(
            "\nnote: like the server's codec (64 KiB connection buffer), the mock reads at most 64 KiB per \
             socket read and waits the ack delay after each read that completed a frame. With liblnc's \
             default 32 KiB batches one connection tops out near 64 KiB / 5 ms = 12.5 MiB/s (~4x the \
             official Producer's one 16 KiB batch per round trip); a batch larger than one read is taken \
             in several reads with one wait, so bulk producers set e.g. \
             LNC_COMPARE_PRODUCER=batch.size=1048576,max.in.flight=4 (what `lnc quickstart` uses)."
        );
    }
    if !targets.is_empty() {
        println!("\ntargets:");
        for t in targets {
            println!("  {t}");
        }
    }
    let _ = std::io::stdout().flush();
}

fn check(what: &str, ok: bool, got: String) -> String {
    format!("[{}] {what}: {got}", if ok { "PASS" } else { "MISS" })
}

fn delay_s(d: u64, external: bool) -> String {
    if external {
        "ext".into()
    } else {
        format!("{d}ms")
    }
}

fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1} k", r / 1e3)
    } else {
        format!("{r:.0}")
    }
}

fn fmt_us(us: u64) -> String {
    if us >= 10_000 {
        format!("{:.1} ms", us as f64 / 1000.0)
    } else {
        format!("{us} us")
    }
}

// ------------------------------------------------------------------------------------------------
// Children: one client each
// ------------------------------------------------------------------------------------------------

fn child(args: &Args) {
    let a = &args.0;
    let get = |i: usize| a.get(i).cloned().unwrap_or_else(|| panic!("child argument {i} missing: {a:?}"));
    let result = match (get(1).as_str(), get(2).as_str()) {
        ("produce", client) => {
            let (addr, topic, size, n, secs) = (
                get(3),
                get(4).parse().unwrap(),
                get(5).parse().unwrap(),
                get(6).parse().unwrap(),
                get(7).parse().unwrap(),
            );
            if client == "liblnc" {
                produce_liblnc(&addr, topic, size, n, Duration::from_secs(secs))
            } else {
                produce_official(&addr, topic, size, n, Duration::from_secs(secs))
            }
        }
        ("consume", client) => {
            let (addr, topic, n, total) =
                (get(3), get(4).parse().unwrap(), get(5).parse().unwrap(), get(6).parse().unwrap());
            match client {
                "liblnc" => consume_liblnc(&addr, topic, n),
                "official" => consume_official(&addr, topic, n, total, false),
                _ => consume_official(&addr, topic, n, total, true),
            }
        }
        other => panic!("unknown child job {other:?}"),
    };
    println!("{result}");
}

/// liblnc producer settings from `LNC_COMPARE_PRODUCER` ("key=value,key=value"; empty = library
/// defaults), so the same run can compare tuned batching (e.g. batch.size=1048576,max.in.flight=4).
fn producer_overrides() -> Vec<(String, String)> {
    std::env::var("LNC_COMPARE_PRODUCER")
        .unwrap_or_default()
        .split(',')
        .filter(|kv| !kv.trim().is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or_else(|| panic!("LNC_COMPARE_PRODUCER: bad entry {kv:?}"));
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect()
}

fn produce_liblnc(addr: &str, topic: u32, size: usize, n: u64, budget: Duration) -> Value {
    let rss_start_kib = lnc_interop::vm_rss_kib();
    let overrides = producer_overrides();
    let pairs: Vec<(&str, &str)> = overrides.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let cfg = lnc_config(addr, &pairs);
    let buffer_memory = cfg.get_u64("buffer.memory");
    let p = Producer::new(&cfg).expect("producer");
    let value = vec![b'p'; size];
    let msg = Message::raw(&value);
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < n {
        p.send(topic, &msg, sent).expect("send");
        sent += 1;
        if sent.is_multiple_of(4096) {
            let _ = p.poll(Duration::ZERO);
            if start.elapsed() >= budget {
                break;
            }
        }
    }
    let send_secs = start.elapsed().as_secs_f64();
    let left = p.flush(Duration::from_secs(120)).expect("flush");
    let secs = start.elapsed().as_secs_f64();
    let m = p.metrics();
    p.close(Duration::from_secs(10)).expect("close");
    json!({
        "send_secs": send_secs, "sent": sent,
        "records": m.records_acked, "bytes": m.records_acked * size as u64, "secs": secs,
        "p50_us": m.ack_latency_p50_us, "p99_us": m.ack_latency_p99_us, "hwm_kib": vm_hwm_kib(),
        "failed": m.records_failed, "left": left, "batches": m.batches_sent, "buffer_memory": buffer_memory,
        "rss_start_kib": rss_start_kib,
    })
}

fn produce_official(addr: &str, topic: u32, size: usize, n: u64, budget: Duration) -> Value {
    // The default #[tokio::main] runtime (multi-threaded), as an application would use it.
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async move {
        let p =
            lnc_client::Producer::connect(addr, lnc_client::ProducerConfig::new()).await.expect("official producer");
        let value = vec![b'p'; size];
        let mut lat_us: Vec<u64> = Vec::new();
        let mut backpressure = 0u64;
        let start = Instant::now();
        let mut sent = 0u64;
        while sent < n {
            let before = p.metrics().batches_sent;
            let t0 = Instant::now();
            match p.send_async(topic, &value).await {
                Ok(()) => {}
                Err(lnc_client::ClientError::ServerBackpressure) => {
                    backpressure += 1;
                    tokio::task::yield_now().await;
                    continue;
                }
                Err(e) => panic!("official send_async: {e}"),
            }
            if p.metrics().batches_sent > before {
                lat_us.push(t0.elapsed().as_micros() as u64);
            }
            sent += 1;
            if sent.is_multiple_of(1024) && start.elapsed() >= budget {
                break;
            }
        }
        p.flush().await.expect("official flush");
        let secs = start.elapsed().as_secs_f64();
        let m = p.metrics();
        p.close().await.expect("official close");
        json!({
            "records": m.records_sent, "bytes": m.records_sent * size as u64, "secs": secs,
            "p50_us": percentile(&mut lat_us, 50.0), "p99_us": percentile(&mut lat_us, 99.0), "hwm_kib": vm_hwm_kib(),
            "errors": m.errors, "batches": m.batches_sent, "backpressure": backpressure,
            "note": "official ack latency = send_async calls that wrote a batch (write -> Ack, one batch at a time)",
        })
    })
}

fn consume_liblnc(addr: &str, topic: u32, n: u64) -> Value {
    let c = StandaloneConsumer::new(&lnc_config(
        addr,
        &[
            ("topic.id", &topic.to_string()),
            ("start.offset", "beginning"),
            ("enable.auto.commit", "false"),
            ("max.poll.records", "100000"),
        ],
    ))
    .expect("consumer");
    let start = Instant::now();
    let (mut records, mut bytes) = (0u64, 0u64);
    let mut buf = Vec::with_capacity(100_000);
    let deadline = start + Duration::from_secs(300);
    while records < n && Instant::now() < deadline {
        buf.clear();
        c.poll_into(Duration::from_millis(100), &mut buf, usize::MAX).expect("poll");
        records += buf.len() as u64;
        bytes += buf.iter().map(|r| r.value.len() as u64).sum::<u64>();
    }
    let secs = start.elapsed().as_secs_f64();
    c.close(Duration::from_secs(5)).expect("close");
    json!({"records": records, "bytes": bytes, "secs": secs, "hwm_kib": vm_hwm_kib(), "note": "liblnc: every record decoded (type, value, offset)"})
}

/// Parses complete TLV records out of `chunk` with the official parser, carrying a cut record
/// over to the next chunk (the reassembly the official consumer leaves to the application).
fn official_parse_chunk(carry: &mut Vec<u8>, chunk: bytes::Bytes) -> (u64, u64) {
    let data = if carry.is_empty() {
        chunk
    } else {
        carry.extend_from_slice(&chunk);
        bytes::Bytes::from(std::mem::take(carry))
    };
    let mut it = lnc_client::RecordIterator::new(data.clone());
    let (mut records, mut bytes) = (0u64, 0u64);
    let mut end = 0;
    for r in it.by_ref() {
        match r {
            Ok(rec) => {
                records += 1;
                bytes += rec.payload.len() as u64;
                end = rec.offset + rec.total_size();
            }
            Err(_) => break, // a cut record: it repeats this error forever, so stop here
        }
    }
    carry.extend_from_slice(&data[end..]);
    (records, bytes)
}

fn consume_official(addr: &str, topic: u32, n: u64, total: u64, parse: bool) -> Value {
    let rt = runtime();
    rt.block_on(async move {
        let cfg = lnc_client::StandaloneConfig::new("compare-official", topic).with_manual_commit();
        let mut c = lnc_client::StandaloneConsumer::connect(addr, cfg).await.expect("official consumer");
        let start = Instant::now();
        let (mut got, mut parsed, mut parsed_bytes) = (0u64, 0u64, 0u64);
        let mut carry = Vec::new();
        let deadline = start + Duration::from_secs(300);
        while got < total && Instant::now() < deadline {
            if let Some(r) = c.next_batch().await.expect("next_batch") {
                got += r.data.len() as u64;
                if parse {
                    let (k, b) = official_parse_chunk(&mut carry, r.data);
                    parsed += k;
                    parsed_bytes += b;
                }
            }
        }
        let secs = start.elapsed().as_secs_f64();
        let _ = c.close().await;
        if parse {
            return json!({
                "records": parsed, "bytes": parsed_bytes, "secs": secs, "hwm_kib": vm_hwm_kib(),
                "note": "official consumer + application-side reassembly with its RecordIterator (carry across chunks)",
            });
        }
        // It hands out raw bytes: count the records those bytes contain.
        let records = if got >= total { n } else { n * got / total.max(1) };
        json!({
            "records": records, "bytes": records * (total / n.max(1)).saturating_sub(5), "secs": secs, "hwm_kib": vm_hwm_kib(),
            "note": "official: raw 1 MiB fetch chunks, no record decoding",
        })
    })
}
