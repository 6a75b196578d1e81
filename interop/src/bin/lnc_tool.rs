//! liblnc as a command-line peer for the Python interop tests.
//!
//! `lnc_tool produce --addr A --topic-id T [--set key=value]...`
//!   reads JSON lines from stdin, one record each:
//!   `{"type": 1, "value_hex": "..", "key_hex": "..", "ts": N}` or `{"tombstone": true}`,
//!   sends them with liblnc's Producer (defaults unless `--set`), flushes, and prints
//!   `{"sent": n, "acked": n, "failed": n, "errors": [...]}`.
//!
//! `lnc_tool consume --addr A --topic-id T [-n N] [--timeout-ms MS] [--set key=value]...`
//!   consumes until N records (default: until idle for --idle-ms, 1000), printing one JSON line
//!   per record `{"offset", "type", "ext", "value_hex"}`; an error is printed as
//!   `{"error": "CORRUPT_RECORD", "message", "offset"}` and ends the run. Last line:
//!   `{"done": true, "count": n}`.

use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use lnc::{Message, Producer, StandaloneConsumer};
use lnc_interop::{hex, lnc_config, unhex, Args};

fn settings(args: &Args) -> Vec<(String, String)> {
    args.values("--set")
        .into_iter()
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or_else(|| panic!("--set wants key=value, got {kv}"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn config(args: &Args, extra: Vec<(String, String)>) -> lnc::Config {
    let addr = args.value("--addr").expect("--addr host:port");
    let mut all = extra;
    all.extend(settings(args));
    let pairs: Vec<(&str, &str)> = all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    lnc_config(&addr, &pairs)
}

fn produce(args: &Args) {
    let topic: u32 = args.num("--topic-id", 0) as u32;
    let p = Producer::new(&config(args, vec![])).expect("producer");
    let mut sent = 0u64;
    let mut owned = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&line).expect("JSON record");
        owned.push(v);
    }
    for (i, v) in owned.iter().enumerate() {
        let value = unhex(v["value_hex"].as_str().unwrap_or("")).expect("value_hex");
        let key = v["key_hex"].as_str().map(|k| unhex(k).expect("key_hex"));
        let ts = v["ts"].as_u64();
        let t = v["type"].as_u64().unwrap_or(1) as u8;
        let msg = if v["tombstone"].as_bool() == Some(true) {
            Message::tombstone()
        } else {
            match (t, &key, ts) {
                (0x10, Some(k), _) => Message::key_value(k, &value),
                (0x11, _, Some(ts)) => Message::timestamped(ts, &value),
                (0x12, Some(k), Some(ts)) => Message::key_timestamped(ts, k, &value),
                _ => Message::of_type(t, &value),
            }
        };
        p.send(topic, &msg, i as u64).expect("send");
        sent += 1;
    }
    let left = p.flush(Duration::from_secs(60)).expect("flush");
    let reports = p.poll_reports(usize::MAX, Duration::ZERO);
    let m = p.metrics();
    let errors: Vec<String> = reports.iter().filter_map(|r| r.error.as_ref().map(|e| e.to_string())).collect();
    p.close(Duration::from_secs(10)).expect("close");
    println!(
        "{}",
        serde_json::json!({"sent": sent, "acked": m.records_acked, "failed": m.records_failed, "left": left, "errors": errors})
    );
}

fn consume(args: &Args) {
    let topic = args.num("--topic-id", 0).to_string();
    let n = args.num("-n", u64::MAX);
    let timeout = Duration::from_millis(args.num("--timeout-ms", 20_000));
    let idle = Duration::from_millis(args.num("--idle-ms", 1000));
    let c = StandaloneConsumer::new(&config(
        args,
        vec![
            ("topic.id".into(), topic),
            ("enable.auto.commit".into(), "false".into()),
            ("start.offset".into(), "beginning".into()),
        ],
    ))
    .expect("consumer");
    let mut out = std::io::stdout().lock();
    let (mut count, start) = (0u64, Instant::now());
    let mut last_data = Instant::now();
    while count < n && start.elapsed() < timeout && (n != u64::MAX || last_data.elapsed() < idle) {
        match c.poll(Duration::from_millis(50)) {
            Ok(recs) => {
                if !recs.is_empty() {
                    last_data = Instant::now();
                }
                for r in recs {
                    count += 1;
                    let line = serde_json::json!({"offset": r.offset, "type": r.record_type, "ext": r.ext_type, "value_hex": hex(&r.value)});
                    writeln!(out, "{line}").unwrap();
                }
            }
            Err(e) => {
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({"error": e.code.name(), "message": e.message, "offset": e.server_offset})
                )
                .unwrap();
                break;
            }
        }
    }
    writeln!(out, "{}", serde_json::json!({"done": true, "count": count})).unwrap();
    out.flush().unwrap();
    let _ = c.close(Duration::from_secs(5));
}

fn main() {
    let args = Args::from_env();
    match args.0.first().map(String::as_str) {
        Some("produce") => produce(&args),
        Some("consume") => consume(&args),
        _ => {
            eprintln!("usage: lnc_tool produce|consume --addr host:port --topic-id T [...]");
            std::process::exit(2);
        }
    }
}
