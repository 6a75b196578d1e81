//! `lnc produce`: stdin lines (or files) → records.

use std::collections::BTreeMap;
use std::io::{BufRead, Read};
use std::time::Duration;

use lnc::producer::now_ns;
use lnc::{DeliveryReport, Producer};

use crate::args::{opt, parse, switch, CliResult, Exit, BOOTSTRAP, CONFIG};
use crate::common::{build_config, connect, lib_exit, resolve_topic, servers};
use crate::help;
use crate::records::{unescape, Kind};

#[derive(Default)]
struct Tally {
    sent: u64,
    acked: u64,
    failed: u64,
    reasons: BTreeMap<String, u64>,
}

impl Tally {
    fn report(&mut self, r: &DeliveryReport) {
        match &r.error {
            None => self.acked += 1,
            Some(e) => self.fail(format!("{}: {}", e.code.name(), e.message)),
        }
    }
    fn fail(&mut self, why: String) {
        self.failed += 1;
        *self.reasons.entry(why).or_default() += 1;
    }
}

pub fn run(argv: &[String]) -> CliResult {
    let p = parse(
        "produce",
        argv,
        &[
            BOOTSTRAP,
            CONFIG,
            opt("topic", Some('t')),
            opt("key", Some('k')),
            opt("type", None),
            opt("compression", Some('z')),
            opt("file", Some('f')),
            opt("delimiter", Some('D')),
            switch("create", None),
            switch("quiet", Some('q')),
            crate::stats::STATS,
        ],
        help::PRODUCE,
    )?;
    p.expect_positionals(&[])?;
    let every = crate::stats::interval(&p)?;
    let topic = p.get("topic").ok_or_else(|| p.usage("missing -t TOPIC"))?.to_string();
    let kind = Kind::parse(p.get("type").unwrap_or("raw")).map_err(|e| p.usage(format!("--type: {e}")))?;
    let key = p.get("key").map(|k| k.as_bytes().to_vec());
    if kind.needs_key() && key.is_none() {
        return Err(p.usage(format!("--type {} needs a key: add -k KEY", p.get("type").unwrap_or_default())));
    }
    if key.is_some() && !kind.takes_key() {
        return Err(p.usage(format!(
            "--type {} records carry no key (use --type raw, kv or kts with -k)",
            p.get("type").unwrap_or_default()
        )));
    }
    let delim = match p.get("delimiter") {
        None => b'\n',
        Some(d) => match unescape(d).map_err(|e| p.usage(format!("--delimiter: {e}")))?.as_slice() {
            [b] => *b,
            _ => return Err(p.usage(format!("--delimiter must be one byte, got \"{d}\""))),
        },
    };
    let mut defaults: Vec<(&str, &str)> = Vec::new();
    match p.get("compression") {
        None => {}
        Some(z @ ("none" | "lz4")) => defaults.push(("compression", z)),
        Some(z) => return Err(p.usage(format!("-z {z}: expected none or lz4"))),
    }
    let c = build_config(&p, &defaults)?;
    let admin = connect(&c)?;
    let info = resolve_topic(&admin, &c, &topic, p.has("create"))?;
    let producer = std::sync::Arc::new(Producer::new(&c).map_err(|e| lib_exit(&e, &c, "starting the producer"))?);
    let ticker = crate::stats::producer_ticker(every, &producer);

    let mut t = Tally::default();
    let key_ref = key.as_deref();
    let send = |value: &[u8], t: &mut Tally| {
        let msg = kind.message(key_ref, value, now_ns());
        match producer.send(info.id, &msg, t.sent) {
            Ok(()) => {}
            Err(e) => t.fail(format!("{}: {}", e.code.name(), e.message)),
        }
        t.sent += 1;
        if t.sent % 1024 == 0 {
            for r in producer.poll_reports(usize::MAX, Duration::ZERO) {
                t.report(&r);
            }
        }
    };
    let files = p.all("file");
    if files.is_empty() {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let n = input.read_until(delim, &mut buf).map_err(|e| Exit::Runtime(format!("reading stdin: {e}")))?;
            if n == 0 {
                break;
            }
            if buf.last() == Some(&delim) {
                buf.pop();
                if delim == b'\n' && buf.last() == Some(&b'\r') {
                    buf.pop();
                }
            }
            send(&buf, &mut t);
        }
    } else {
        for f in files {
            let mut data = Vec::new();
            std::fs::File::open(f)
                .and_then(|mut fh| fh.read_to_end(&mut data))
                .map_err(|e| Exit::Runtime(format!("reading {f}: {e}")))?;
            send(&data, &mut t);
        }
    }
    let flush_for = c.get_ms("delivery.timeout.ms") + Duration::from_secs(5);
    let _ = producer.flush(flush_for);
    let _ = producer.close(Duration::from_secs(5));
    for r in producer.poll_reports(usize::MAX, Duration::ZERO) {
        t.report(&r);
    }
    drop(ticker); // the last summary line, after the flush
    let m = producer.metrics();
    if !p.has("quiet") {
        eprintln!(
            "produced to topic '{}' (id {}) on {}: sent {}, acked {}, failed {}{}",
            info.name,
            info.id,
            servers(&c),
            t.sent,
            t.acked,
            t.failed,
            if m.possible_duplicates > 0 {
                format!(" ({} possible duplicates after retries)", m.possible_duplicates)
            } else {
                String::new()
            }
        );
    }
    if t.failed > 0 {
        let reasons: Vec<String> = t.reasons.iter().take(5).map(|(why, n)| format!("{n} × {why}")).collect();
        return Err(Exit::Runtime(format!("{} of {} records failed: {}", t.failed, t.sent, reasons.join("; "))));
    }
    Ok(())
}
