//! Starts liblnc's embedded mock broker for out-of-process clients (the Python interop tests).
//!
//! `mock_server [--ack-delay-ms D] [--topic NAME]...`
//!
//! Prints one JSON line `{"addr": "127.0.0.1:port", "topics": {"name": id, ...}}`, then serves
//! until stdin reaches EOF. Commands on stdin, one per line, each answered with one JSON line:
//! - `log <topic_id>`: `{"log_hex": "..."}`, the topic's whole log;
//! - `create <name>`: `{"id": n}`;
//! - `restart`: simulates a server restart (`{"ok": true}`);
//! - `stats`: the mock's counters.

use std::io::{BufRead, Write};
use std::time::Duration;

use lnc_interop::{hex, mock, Args};

fn main() {
    let args = Args::from_env();
    let m = mock(Duration::from_millis(args.num("--ack-delay-ms", 0)));
    let mut topics = serde_json::Map::new();
    for name in args.values("--topic") {
        let id = m.create_topic(&name).unwrap_or_else(|e| panic!("create topic {name}: {e}"));
        topics.insert(name, id.into());
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::json!({ "addr": m.address_string(), "topics": topics })).unwrap();
    out.flush().unwrap();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let mut it = line.split_whitespace();
        let reply = match (it.next(), it.next()) {
            (Some("log"), Some(t)) => match t.parse::<u32>().ok().and_then(|t| m.topic_log(t)) {
                Some(log) => serde_json::json!({ "log_hex": hex(&log) }),
                None => serde_json::json!({ "error": "unknown topic" }),
            },
            (Some("create"), Some(name)) => match m.create_topic(name) {
                Ok(id) => serde_json::json!({ "id": id }),
                Err(e) => serde_json::json!({ "error": e }),
            },
            (Some("restart"), _) => {
                m.restart();
                serde_json::json!({ "ok": true })
            }
            (Some("stats"), _) => serde_json::json!({ "stats": format!("{:?}", m.stats()) }),
            _ => serde_json::json!({ "error": format!("unknown command: {line}") }),
        };
        writeln!(out, "{reply}").unwrap();
        out.flush().unwrap();
    }
    m.stop();
}
