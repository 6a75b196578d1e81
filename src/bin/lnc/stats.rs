//! Statistics in the CLI: `--stats SECONDS` summaries for `lnc produce` / `lnc consume` (one line
//! to stderr per period, from the handle's statistics document), and `lnc stats`, a live view of
//! a server: connection state, keepalive round trip with jitter, and per-topic lag of a consumer
//! name against the offsets it committed to its file offset store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Sender};
use lnc::admin::FetchReply;
use lnc::offsets::{FileOffsetStore, OffsetStore};
use lnc::stats::{ConnectionStatistics, ConsumerStatistics, ProducerStatistics, RttTracker};
use lnc::{Producer, StandaloneConsumer};

use crate::args::{opt, parse, CliResult, Exit, Flag, Parsed, BOOTSTRAP, CONFIG, JSON};
use crate::common::{
    build_config, catch_interrupts, connect, describe, group, interrupted, resolve_topic, servers, us,
};
use crate::help;

/// `--stats SECONDS` (produce, consume).
pub const STATS: Flag = opt("stats", None);

/// The `--stats` period, if given (seconds, fractions allowed, > 0).
pub fn interval(p: &Parsed) -> CliResult<Option<Duration>> {
    let Some(v) = p.get("stats") else { return Ok(None) };
    match v.trim().parse::<f64>() {
        Ok(s) if s > 0.0 && s <= 86_400.0 => Ok(Some(Duration::from_secs_f64(s))),
        _ => Err(p.usage(format!("--stats: \"{v}\" is not a number of seconds (0 < SECONDS ≤ 86400)"))),
    }
}

/// A thread printing one summary line to stderr every period until dropped (then one last line).
pub struct Ticker {
    stop: Option<Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ticker {
    /// Starts printing `line(previous document, current document, seconds between them)` every
    /// `every`; `None` → no thread at all.
    pub fn start<D, S, L>(every: Option<Duration>, snapshot: S, line: L) -> Ticker
    where
        D: Send + 'static,
        S: Fn() -> D + Send + 'static,
        L: Fn(&D, &D, f64) -> String + Send + 'static,
    {
        let Some(every) = every else { return Ticker { stop: None, thread: None } };
        let (tx, rx) = bounded::<()>(0);
        let thread = std::thread::spawn(move || {
            let (mut prev, mut at) = (snapshot(), Instant::now());
            loop {
                let stopped = !matches!(rx.recv_timeout(every), Err(crossbeam_channel::RecvTimeoutError::Timeout));
                let (now, t) = (snapshot(), Instant::now());
                eprintln!("{}", line(&prev, &now, t.duration_since(at).as_secs_f64()));
                if stopped {
                    return;
                }
                (prev, at) = (now, t);
            }
        });
        Ticker { stop: Some(tx), thread: Some(thread) }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A thread taking a producer's statistics document every period (the load
/// `statistics.interval.ms` puts on it), for benchmarks.
pub struct StatsLoad {
    stop: Option<Sender<()>>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl StatsLoad {
    /// Starts it; `None` → no thread.
    pub fn start(every: Option<Duration>, p: &Arc<Producer>) -> StatsLoad {
        let Some(every) = every else { return StatsLoad { stop: None, thread: None } };
        let (tx, rx) = bounded::<()>(0);
        let p = p.clone();
        let thread = std::thread::spawn(move || {
            let mut taken = 0u64;
            while rx.recv_timeout(every) == Err(crossbeam_channel::RecvTimeoutError::Timeout) {
                std::hint::black_box(p.statistics_json());
                taken += 1;
            }
            taken
        });
        StatsLoad { stop: Some(tx), thread: Some(thread) }
    }

    /// Stops it; returns how many documents it took.
    pub fn stop(mut self) -> u64 {
        drop(self.stop.take());
        self.thread.take().map_or(0, |t| t.join().unwrap_or(0))
    }
}

/// `--stats` for a producer.
pub fn producer_ticker(every: Option<Duration>, p: &Arc<Producer>) -> Ticker {
    let p = p.clone();
    Ticker::start(every, move || p.statistics(), producer_line)
}

/// `--stats` for a consumer.
pub fn consumer_ticker(every: Option<Duration>, c: &Arc<StandaloneConsumer>) -> Ticker {
    let c = c.clone();
    Ticker::start(every, move || c.statistics(), consumer_line)
}

fn per_sec(now: u64, prev: u64, secs: f64) -> u64 {
    (now.saturating_sub(prev) as f64 / secs.max(1e-9)) as u64
}

/// One line per connection slot that was used: `name state server rtt`.
fn links(conns: &[ConnectionStatistics]) -> String {
    let used: Vec<String> = conns
        .iter()
        .filter(|c| c.connects + c.connect_failures > 0)
        .map(|c| {
            let state = serde_json::to_value(c.state).ok().and_then(|v| v.as_str().map(str::to_string));
            let mut s = format!("{} {}", c.name, state.unwrap_or_default());
            if c.connects > 1 {
                s += &format!(" (reconnects {})", c.connects - 1);
            }
            if c.rtt.samples > 0 {
                s += &format!(" rtt {} ±{}", us(c.rtt.last_us), us(c.rtt.jitter_us));
            }
            s
        })
        .collect();
    if used.is_empty() {
        "not connected yet".into()
    } else {
        used.join(", ")
    }
}

/// The producer's one-line summary.
pub fn producer_line(prev: &ProducerStatistics, s: &ProducerStatistics, secs: f64) -> String {
    let l = &s.ack_latency;
    format!(
        "stats: acked {} ({}/s), failed {}, retried {}, in flight {} batches, buffered {} B; ack p50 {} p99 {} max {}; {}",
        group(s.records_acked),
        group(per_sec(s.records_acked, prev.records_acked, secs)),
        group(s.records_failed),
        group(s.records_retried),
        s.in_flight_batches,
        group(s.buffered_bytes),
        us(l.p50_us),
        us(l.p99_us),
        us(l.max_us),
        links(&s.connections)
    )
}

/// The consumer's one-line summary.
pub fn consumer_line(prev: &ConsumerStatistics, s: &ConsumerStatistics, secs: f64) -> String {
    let lag = match s.lag {
        Some(l) => format!("lag {} B", group(l)),
        None => "lag unknown".into(),
    };
    format!(
        "stats: records {} ({}/s), {} B, position {}, {lag}; fetches {} ({} empty), fetch p50 {} p99 {}; {}",
        group(s.records),
        group(per_sec(s.records, prev.records, secs)),
        group(s.bytes),
        group(s.position),
        group(s.fetches),
        group(s.empty_fetches),
        us(s.fetch_latency.p50_us),
        us(s.fetch_latency.p99_us),
        links(&s.connections)
    )
}

/// `lnc stats`: refreshes every `--interval` until Ctrl-C (or `--count` refreshes).
pub fn run(argv: &[String]) -> CliResult {
    let p = parse(
        "stats",
        argv,
        &[
            BOOTSTRAP,
            CONFIG,
            JSON,
            opt("topic", Some('t')),
            opt("consumer", Some('G')),
            opt("offset-dir", None),
            opt("interval", Some('i')),
            opt("count", Some('c')),
        ],
        help::STATS,
    )?;
    p.expect_positionals(&[])?;
    let every = match p.get("interval").map(|v| v.trim().parse::<f64>()) {
        None => Duration::from_secs(1),
        Some(Ok(s)) if s > 0.0 && s <= 86_400.0 => Duration::from_secs_f64(s),
        Some(_) => return Err(p.usage("--interval: expected seconds (0 < SECONDS ≤ 86400)")),
    };
    let count: u64 = p.num("count", 0)?;
    let store = match (p.get("consumer"), p.get("offset-dir")) {
        (Some(name), Some(dir)) => {
            Some(FileOffsetStore::new(dir, name).map_err(|e| p.usage(format!("--consumer: {}", e.message)))?)
        }
        (None, None) => None,
        _ => return Err(p.usage("--consumer and --offset-dir go together (offsets are read from DIR/NAME/)")),
    };
    let c = build_config(&p, &[])?;
    let admin = connect(&c)?;
    // Topics: the ones named, else those the consumer has committed offsets for.
    let mut topics = Vec::new();
    for t in p.all("topic") {
        let info = resolve_topic(&admin, &c, t, false)?;
        topics.push((info.id, info.name));
    }
    if topics.is_empty() {
        if let Some(s) = &store {
            let names = admin.list_topics(None).unwrap_or_default();
            let listed =
                s.list().map_err(|e| Exit::Runtime(format!("reading {}: {}", s.dir().display(), e.message)))?;
            for o in listed.into_iter().filter(|o| o.consumer_id == s.consumer_id()) {
                let name = names.iter().find(|t| t.id == o.topic_id).map(|t| t.name.clone()).unwrap_or_default();
                topics.push((o.topic_id, name));
            }
        }
    }
    catch_interrupts();
    let mut rtt = RttTracker::default();
    let mut n = 0u64;
    loop {
        let ping = admin.ping(Some(every.max(Duration::from_secs(1))));
        if let Ok(d) = &ping {
            rtt.sample(*d);
        }
        let status = admin.cluster_status(None).ok();
        let rows: Vec<TopicRow> = topics
            .iter()
            .map(|(id, name)| {
                let end = match admin.fetch(*id, u64::MAX, 1, None) {
                    Ok(FetchReply::CatchingUp { end_offset }) => Ok(end_offset),
                    Ok(FetchReply::Data { next_offset, .. }) => Ok(next_offset),
                    Err(e) => Err(e.code.name().to_string()),
                };
                let committed = store.as_ref().and_then(|s| s.load(*id).ok().flatten());
                TopicRow { id: *id, name: name.clone(), end, committed }
            })
            .collect();
        let r = rtt.summary();
        if p.has("json") {
            let doc = serde_json::json!({
                "server": servers(&c),
                "state": if ping.is_ok() { "connected" } else { "unreachable" },
                "error": ping.as_ref().err().map(|e| describe(e, &c, "keepalive")),
                "connects": admin.connects(),
                "rtt": r,
                "cluster": status,
                "consumer": p.get("consumer"),
                "topics": rows.iter().map(|t| serde_json::json!({
                    "id": t.id, "name": t.name,
                    "end_offset": t.end.as_ref().ok(), "error": t.end.as_ref().err(),
                    "committed": t.committed, "lag": t.lag(),
                })).collect::<Vec<_>>(),
            });
            println!("{doc}");
        } else {
            let state = match &ping {
                Ok(_) => format!(
                    "connected, rtt {} (jitter {}, min {}, max {})",
                    us(r.last_us),
                    us(r.jitter_us),
                    us(r.min_us),
                    us(r.max_us)
                ),
                Err(e) => format!("unreachable: {}", describe(e, &c, "keepalive")),
            };
            let node = status
                .as_ref()
                .map(|s| {
                    format!(
                        "; node {} ({}{}), {} of {} nodes healthy",
                        s.node_id,
                        s.mode.as_deref().unwrap_or("cluster"),
                        if s.is_leader { ", leader" } else { "" },
                        s.healthy_nodes,
                        s.node_count
                    )
                })
                .unwrap_or_default();
            println!("{} {state}{node}; connections made {}", servers(&c), admin.connects());
            if !rows.is_empty() {
                println!("  {:<24} {:>6} {:>16} {:>16} {:>16}", "topic", "id", "end", "committed", "lag (bytes)");
                for t in &rows {
                    let end = t.end.as_ref().map(|e| group(*e)).unwrap_or_else(|e| e.clone());
                    let committed = t.committed.map(group).unwrap_or_else(|| "-".into());
                    let lag = t.lag().map(group).unwrap_or_else(|| "-".into());
                    println!("  {:<24} {:>6} {end:>16} {committed:>16} {lag:>16}", t.name, t.id);
                }
            }
        }
        n += 1;
        if (count > 0 && n >= count) || interrupted() {
            return Ok(());
        }
        let until = Instant::now() + every;
        while Instant::now() < until && !interrupted() {
            std::thread::sleep(Duration::from_millis(50).min(until.saturating_duration_since(Instant::now())));
        }
        if interrupted() {
            return Ok(());
        }
    }
}

struct TopicRow {
    id: u32,
    name: String,
    end: Result<u64, String>,
    committed: Option<u64>,
}

impl TopicRow {
    /// End − committed; the official client's "start at end" sentinel counts as no lag.
    fn lag(&self) -> Option<u64> {
        let end = *self.end.as_ref().ok()?;
        let committed = self.committed?;
        Some(if committed == u64::MAX { 0 } else { end.saturating_sub(committed) })
    }
}
