//! `lnc quickstart`: embedded mock (or -b), produce N records, consume them back, verify every
//! one (content, order, count: exactly once), print throughput and ack latency.

use std::time::{Duration, Instant};

use lnc::mock::{MockBroker, MockConfig};
use lnc::{Admin, Config, DeliveryReport, Message, Producer, StandaloneConsumer};

use crate::args::{opt, parse, switch, CliResult, Exit, Parsed, BOOTSTRAP, CONFIG};
use crate::common::{build_config, connect, describe, group, lib_exit, rates, us, Progress};
use crate::help;

/// Bytes of the decimal record index at the start of every generated value.
const INDEX_DIGITS: usize = 10;
const ALPHABET: &[u8; 26] = b"abcdefghijklmnopqrstuvwxyz";

/// Generates the values of records 0, 1, 2…: a zero-padded index then a letter pattern shifted by
/// the index, so any swap, loss, duplicate or corruption is detected.
pub struct Payloads {
    size: usize,
    pattern: Vec<u8>,
}

impl Payloads {
    pub fn new(size: usize) -> Payloads {
        let size = size.max(INDEX_DIGITS);
        let pattern = ALPHABET.iter().copied().cycle().take(size + ALPHABET.len()).collect();
        Payloads { size, pattern }
    }

    /// Writes value `i` into `buf` (resized to the value size).
    pub fn fill(&self, buf: &mut Vec<u8>, i: u64) {
        buf.resize(self.size, 0);
        let mut n = i;
        for d in buf[..INDEX_DIGITS].iter_mut().rev() {
            *d = b'0' + (n % 10) as u8;
            n /= 10;
        }
        let off = (i.wrapping_mul(7) % 26) as usize;
        let tail = self.size - INDEX_DIGITS;
        buf[INDEX_DIGITS..].copy_from_slice(&self.pattern[off..off + tail]);
    }

    /// The index written at the start of a value, if it parses.
    pub fn index_of(value: &[u8]) -> Option<u64> {
        std::str::from_utf8(value.get(..INDEX_DIGITS)?).ok()?.parse().ok()
    }
}

/// What a timed produce run achieved.
pub struct ProduceStats {
    pub sent: u64,
    pub acked: u64,
    pub failed: u64,
    pub bytes: u64,
    pub elapsed: Duration,
    pub p50_us: u64,
    pub p99_us: u64,
    pub possible_duplicates: u64,
    pub first_error: Option<String>,
    pub p90_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    /// Statistics documents taken while it ran (`produce_n_with_stats`).
    pub stats_documents: u64,
}

/// Produces `n` generated records of `size` bytes round-robin over `topics`, then flushes; every
/// record gets its report. Timed from the first send to the last report.
pub fn produce_n(c: &Config, topics: &[u32], n: u64, size: usize, quiet: bool) -> CliResult<ProduceStats> {
    produce_n_with_stats(c, topics, n, size, quiet, None)
}

/// [`produce_n`] while a thread takes the producer's statistics document every `stats_every`
/// (what `statistics.interval.ms` costs), for `lnc bench`'s statistics on/off figures.
pub fn produce_n_with_stats(
    c: &Config,
    topics: &[u32],
    n: u64,
    size: usize,
    quiet: bool,
    stats_every: Option<Duration>,
) -> CliResult<ProduceStats> {
    let producer = std::sync::Arc::new(Producer::new(c).map_err(|e| lib_exit(&e, c, "starting the producer"))?);
    let load = crate::stats::StatsLoad::start(stats_every, &producer);
    let gen = Payloads::new(size);
    let mut buf = Vec::with_capacity(size);
    let mut st = ProduceStats {
        sent: 0,
        acked: 0,
        failed: 0,
        bytes: 0,
        elapsed: Duration::ZERO,
        p50_us: 0,
        p99_us: 0,
        possible_duplicates: 0,
        first_error: None,
        p90_us: 0,
        p999_us: 0,
        max_us: 0,
        stats_documents: 0,
    };
    let mut bar = Progress::new("produce", n, quiet);
    let take = |reports: Vec<DeliveryReport>, st: &mut ProduceStats| {
        for r in reports {
            match r.error {
                None => st.acked += 1,
                Some(e) => {
                    st.failed += 1;
                    st.first_error.get_or_insert_with(|| describe(&e, c, &format!("producing record {}", r.opaque)));
                }
            }
        }
    };
    let start = Instant::now();
    for i in 0..n {
        gen.fill(&mut buf, i);
        let topic = topics[(i % topics.len() as u64) as usize];
        if let Err(e) = producer.send(topic, &Message::raw(&buf), i) {
            st.failed += 1;
            st.first_error.get_or_insert_with(|| describe(&e, c, &format!("sending record {i}")));
            if e.fatal || e.code == lnc::ErrorCode::Closed {
                break;
            }
            continue;
        }
        st.sent += 1;
        st.bytes += buf.len() as u64;
        if i % 4096 == 4095 {
            take(producer.poll_reports(usize::MAX, Duration::ZERO), &mut st);
            bar.update(st.acked + st.failed);
        }
    }
    let deadline = Instant::now() + c.get_ms("delivery.timeout.ms") + Duration::from_secs(5);
    loop {
        let left = producer.flush(Duration::from_millis(100)).unwrap_or(0);
        take(producer.poll_reports(usize::MAX, Duration::ZERO), &mut st);
        bar.update(st.acked + st.failed);
        if left == 0 || Instant::now() >= deadline {
            break;
        }
    }
    take(producer.poll_reports(usize::MAX, Duration::ZERO), &mut st);
    st.elapsed = start.elapsed();
    st.stats_documents = load.stop();
    bar.finish(st.acked + st.failed);
    let m = producer.metrics();
    st.p50_us = m.ack_latency_p50_us;
    st.p99_us = m.ack_latency_p99_us;
    (st.p90_us, st.p999_us, st.max_us) = (m.ack_latency_p90_us, m.ack_latency_p999_us, m.ack_latency_max_us);
    st.possible_duplicates = m.possible_duplicates;
    let _ = producer.close(Duration::from_secs(5));
    take(producer.poll_reports(usize::MAX, Duration::ZERO), &mut st);
    Ok(st)
}

/// What a timed consume run saw.
pub struct ConsumeStats {
    pub records: u64,
    pub bytes: u64,
    pub elapsed: Duration,
    /// Records that matched their expected value, in order.
    pub verified: u64,
    /// The first problem found (mismatch, extra record, error).
    pub problem: Option<String>,
}

/// Consumes `topic` from the beginning until `n` records arrived (or nothing comes for
/// `request.timeout.ms`). With `verify`, record k must be generated value k, and nothing may
/// follow record n−1.
pub fn consume_n(c: &Config, topic: u32, n: u64, size: usize, verify: bool, quiet: bool) -> CliResult<ConsumeStats> {
    let mut cc = c.clone();
    for (k, v) in [
        ("topic.id", topic.to_string()),
        ("start.offset", "beginning".into()),
        ("offset.store", "none".into()),
        ("enable.auto.commit", "false".into()),
    ] {
        if !c.is_set(k) || k == "topic.id" {
            cc.set(k, &v).map_err(|e| Exit::Runtime(e.message))?;
        }
    }
    if !c.is_set("max.poll.records") {
        let _ = cc.set("max.poll.records", "65536");
    }
    let gen = Payloads::new(size);
    let mut expected = Vec::with_capacity(size);
    let mut bar = Progress::new("consume", n, quiet);
    let stall = c.get_ms("request.timeout.ms");
    let start = Instant::now();
    let consumer = StandaloneConsumer::new(&cc).map_err(|e| lib_exit(&e, c, "starting the consumer"))?;
    let mut st = ConsumeStats { records: 0, bytes: 0, elapsed: Duration::ZERO, verified: 0, problem: None };
    let mut recs = Vec::with_capacity(65536);
    let mut last_data = Instant::now();
    let mut last_offset: Option<u64> = None;
    while st.records < n {
        recs.clear();
        match consumer.poll_into(Duration::from_millis(100), &mut recs, (n - st.records) as usize) {
            Ok(0) => {
                if last_data.elapsed() >= stall {
                    st.problem = Some(format!(
                        "no record for {} ms after {} of {n} records (lag {} bytes)",
                        stall.as_millis(),
                        st.records,
                        consumer.lag().map(|l| l.to_string()).unwrap_or_else(|e| e.to_string())
                    ));
                    break;
                }
            }
            Ok(_) => {
                last_data = Instant::now();
                for r in &recs {
                    let k = st.records;
                    st.records += 1;
                    st.bytes += r.value.len() as u64;
                    if verify && st.problem.is_none() {
                        gen.fill(&mut expected, k);
                        let in_order = last_offset.map_or(true, |o| r.offset > o);
                        if r.record_type == lnc::wire::tlv::record_type::RAW && r.value == expected && in_order {
                            st.verified += 1;
                        } else {
                            let got = match Payloads::index_of(&r.value) {
                                Some(j) if j < k => format!("record #{j} again (duplicate or reordered)"),
                                Some(j) if j > k => format!("record #{j} (records lost or reordered)"),
                                _ if !in_order => format!("offset {} not after {}", r.offset, last_offset.unwrap_or(0)),
                                _ => format!(
                                    "type {:#04x}, {} bytes that differ from what was sent",
                                    r.record_type,
                                    r.value.len()
                                ),
                            };
                            st.problem = Some(format!("record {k} at offset {}: expected #{k}, got {got}", r.offset));
                        }
                    }
                    last_offset = Some(r.offset);
                }
                bar.update(st.records);
            }
            Err(e) if e.retryable => {}
            Err(e) => {
                st.problem = Some(describe(&e, c, "consuming"));
                break;
            }
        }
    }
    st.elapsed = start.elapsed();
    bar.finish(st.records);
    if verify && st.problem.is_none() {
        // Exactly once: nothing may follow the last record.
        recs.clear();
        match consumer.poll_into(Duration::from_millis(300), &mut recs, usize::MAX) {
            Ok(0) => match consumer.lag() {
                Ok(0) => {}
                Ok(l) => st.problem = Some(format!("{l} more bytes after the last expected record")),
                Err(e) => st.problem = Some(describe(&e, c, "checking the end of the topic")),
            },
            Ok(k) => st.problem = Some(format!("{k} extra record(s) after the last expected record")),
            Err(e) => st.problem = Some(describe(&e, c, "checking the end of the topic")),
        }
    }
    let _ = consumer.close(Duration::from_secs(5));
    Ok(st)
}

/// Producer settings of quickstart and bench: the library defaults (adaptive batching reaches the
/// server's bulk rate by itself), each overridable with -X.
pub const DEFAULTS: &[(&str, &str)] = &[];

/// The producer settings as shown to the user.
pub fn profile_line(c: &Config) -> String {
    format!(
        "producer settings: batch.size={} batch.size.max={} max.in.flight={} linger.ms={} (override with -X key=value)",
        c.get_str("batch.size"),
        c.get_str("batch.size.max"),
        c.get_str("max.in.flight"),
        c.get_str("linger.ms")
    )
}

/// A unique, valid topic name.
pub fn unique_topic(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{prefix}-{}-{}", std::process::id(), nanos % 1_000_000_000_000)
}

/// Starts an in-process mock with `ack_delay_ms` and returns it with a config pointing at it.
pub fn embedded_mock(p: &Parsed, ack_delay_ms: u64) -> CliResult<(MockBroker, Config)> {
    let mock =
        MockBroker::start(MockConfig { ack_delay: Duration::from_millis(ack_delay_ms), ..MockConfig::default() })
            .map_err(|e| Exit::Runtime(format!("cannot start the embedded mock broker on 127.0.0.1: {e}")))?;
    let addr = mock.address_string();
    let mut c = build_config(p, DEFAULTS)?;
    c.set("bootstrap.servers", &addr).map_err(|e| Exit::Runtime(e.message))?;
    Ok((mock, c))
}

pub fn run(argv: &[String]) -> CliResult {
    let p = parse(
        "quickstart",
        argv,
        &[
            BOOTSTRAP,
            CONFIG,
            opt("count", Some('n')),
            opt("size", Some('s')),
            opt("ack-delay-ms", None),
            switch("keep", None),
            switch("quiet", Some('q')),
        ],
        help::QUICKSTART,
    )?;
    p.expect_positionals(&[])?;
    let n: u64 = p.num("count", 1_000_000)?;
    let size: usize = p.num("size", 100)?;
    if n == 0 {
        return Err(p.usage("-n must be at least 1"));
    }
    if size < 16 {
        return Err(p.usage("-s must be at least 16 (each value starts with its 10-digit index)"));
    }
    let quiet = p.has("quiet");
    let ack_delay: u64 = p.num("ack-delay-ms", 5)?;
    let (_mock, c) = if p.has("bootstrap") {
        let c = build_config(&p, DEFAULTS)?;
        println!("lnc quickstart against {} (liblnc {})", crate::common::servers(&c), lnc::VERSION);
        (None, c)
    } else {
        let (m, c) = embedded_mock(&p, ack_delay)?;
        println!(
            "lnc quickstart: embedded mock broker on {} (ack delay {ack_delay} ms{}; liblnc {})",
            m.address_string(),
            if ack_delay == 5 { ", like the server's fsync window" } else { "" },
            lnc::VERSION
        );
        (Some(m), c)
    };
    let admin: Admin = connect(&c)?;
    let name = unique_topic("quickstart");
    let topic = admin.create_topic(&name, None).map_err(|e| lib_exit(&e, &c, &format!("creating topic '{name}'")))?;
    println!("topic '{}' (id {}); {} records of {} bytes; {}", topic.name, topic.id, group(n), size, profile_line(&c));

    let ps = produce_n(&c, &[topic.id], n, size, quiet)?;
    let (rps, mbps) = rates(ps.acked, ps.bytes, ps.elapsed);
    println!(
        "produce: {} acked, {} failed in {:.2} s: {} records/s, {:.1} MB/s; ack latency p50 {}, p99 {}{}",
        group(ps.acked),
        group(ps.failed),
        ps.elapsed.as_secs_f64(),
        group(rps as u64),
        mbps,
        us(ps.p50_us),
        us(ps.p99_us),
        if ps.possible_duplicates > 0 {
            format!(" ({} possible duplicates after retries)", ps.possible_duplicates)
        } else {
            String::new()
        }
    );
    let cs = consume_n(&c, topic.id, n, size, true, quiet)?;
    let (rps, mbps) = rates(cs.records, cs.bytes, cs.elapsed);
    println!(
        "consume: {} records in {:.2} s: {} records/s, {:.1} MB/s",
        group(cs.records),
        cs.elapsed.as_secs_f64(),
        group(rps as u64),
        mbps
    );
    if p.has("bootstrap") && !p.has("keep") {
        if let Err(e) = admin.delete_topic(topic.id, None) {
            eprintln!("lnc: warning: could not delete topic '{name}': {}", describe(&e, &c, "deleting the topic"));
        }
    }
    let mut problems = Vec::new();
    if ps.failed > 0 {
        problems.push(format!(
            "{} records failed to produce: {}",
            ps.failed,
            ps.first_error.clone().unwrap_or_default()
        ));
    }
    if let Some(pr) = &cs.problem {
        problems.push(pr.clone());
    } else if cs.records != n {
        problems.push(format!("consumed {} records, expected {n}", cs.records));
    }
    if problems.is_empty() && cs.verified == n {
        println!("verified {n}/{n} records: OK");
        Ok(())
    } else {
        println!("verified {}/{n} records: FAILED ({})", cs.verified, problems.join("; "));
        Err(Exit::Runtime("verification failed".into()))
    }
}
