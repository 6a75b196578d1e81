//! `lnc bench produce|consume`: liblnc-only throughput figures, against the embedded mock (ack
//! delay 0 and 5 ms in one run) or a given server.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lnc::{Config, Message, Producer};

use crate::args::{opt, parse, suggest, switch, CliResult, Exit, Parsed, BOOTSTRAP, CONFIG};
use crate::common::{build_config, connect, group, lib_exit, peak_rss_kib, rates, servers, us};
use crate::help;
use crate::quickstart::{consume_n, embedded_mock, produce_n_with_stats, unique_topic};

pub fn run(argv: &[String]) -> CliResult {
    let Some(sub) = argv.first() else {
        return Err(Exit::Usage("missing subcommand: produce or consume\n(see `lnc bench --help`)".into()));
    };
    let (which, help_text) = match sub.as_str() {
        "-h" | "--help" => return Err(Exit::Help(help::BENCH.into())),
        "produce" => ("produce", help::BENCH_PRODUCE),
        "consume" => ("consume", help::BENCH_CONSUME),
        other => {
            return Err(Exit::Usage(format!(
                "unknown bench subcommand '{other}'{}; one of produce, consume\n(see `lnc bench --help`)",
                suggest(other, &["produce", "consume"])
            )))
        }
    };
    let p = parse(
        &format!("bench {which}"),
        &argv[1..],
        &[
            BOOTSTRAP,
            CONFIG,
            opt("count", Some('n')),
            opt("size", Some('s')),
            opt("connections", None),
            switch("no-compare", None),
            switch("tls", None),
        ],
        help_text,
    )?;
    p.expect_positionals(&[])?;
    let n: u64 = p.num("count", 1_000_000)?;
    let size: usize = p.num("size", 100)?;
    let conns: u32 = p.num("connections", 1)?;
    if n == 0 || size < 16 || !(1..=64).contains(&conns) {
        return Err(p.usage("need -n ≥ 1, -s ≥ 16 and --connections 1..64"));
    }
    println!("lnc bench {which}: liblnc {}, {} records of {size} bytes, {conns} connection(s)", lnc::VERSION, group(n));
    println!("{}", crate::quickstart::profile_line(&build_config(&p, crate::quickstart::DEFAULTS)?));
    println!(
        "{:<22} {:<24} {:>12} {:>9} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "target", "producer", "records/s", "MB/s", "ack p50", "ack p90", "ack p99", "ack p99.9", "ack max"
    );
    if p.has("tls") {
        if p.has("bootstrap") {
            return Err(p.usage("--tls compares plaintext, the TLS mock and stunnel on this machine; against a TLS server use -b with -X security.protocol=tls (and tls.* keys)"));
        }
        return tls_rows(&p, which, n, size, conns);
    }
    if p.has("bootstrap") {
        let c = build_config(&p, crate::quickstart::DEFAULTS)?;
        target(&p, which, &c, &servers(&c), n, size, conns)?;
    } else {
        for delay in [0u64, 5] {
            let (mock, c) = embedded_mock(&p, delay)?;
            target(&p, which, &c, &format!("mock, ack delay {delay} ms"), n, size, conns)?;
            mock.stop();
        }
    }
    match peak_rss_kib() {
        Some(k) => println!("peak RSS (VmHWM, whole process incl. embedded mock): {:.1} MiB", k as f64 / 1024.0),
        None => println!("peak RSS: unavailable (/proc/self/status not readable)"),
    }
    println!();
    let command = format!("cargo run --release -p lnc-interop --bin compare -- {which}");
    if p.has("no-compare") {
        println!("side by side with the official crates.io lnc-client (interop workspace member):\n  {command}");
        return Ok(());
    }
    let c = build_config(&p, crate::quickstart::DEFAULTS)?;
    compare(which, &p, &c, size, &command)
}

/// Runs the side-by-side comparison with the official client: the interop member's `compare`
/// binary (which holds the official crate and tokio, kept out of this binary). Uses it next to
/// this executable, or builds it when run from the repository; the same producer settings apply.
fn compare(which: &str, p: &Parsed, c: &Config, size: usize, command: &str) -> CliResult {
    use std::path::PathBuf;
    use std::process::Command;
    let me = std::env::current_exe().ok();
    let beside = me.as_ref().and_then(|e| e.parent().map(|d| d.join("compare")));
    // A checkout is found from the executable (target/<profile>/lnc), never from a path compiled
    // in: a packaged lnc must not refer to the tree it was built in.
    let repo: PathBuf = me
        .as_ref()
        .and_then(|e| e.ancestors().skip(1).find(|d| d.join("interop/Cargo.toml").exists()).map(PathBuf::from))
        .unwrap_or_default();
    let exe = match beside.filter(|b| b.exists()) {
        Some(b) => b,
        None if repo.join("interop/Cargo.toml").exists() => {
            println!("building the comparison (official lnc-client + tokio, interop member; once)…");
            let status = Command::new("cargo")
                .args(["build", "--release", "-p", "lnc-interop", "--bin", "compare", "--manifest-path"])
                .arg(repo.join("Cargo.toml"))
                .status()
                .map_err(|e| {
                    Exit::Runtime(format!("cannot run cargo to build the comparison: {e}\nrun it yourself: {command}"))
                })?;
            if !status.success() {
                return Err(Exit::Runtime(format!("building the comparison failed\nrun it yourself: {command}")));
            }
            repo.join("target/release/compare")
        }
        None => {
            println!("side by side with the official crates.io lnc-client (from a source checkout):\n  {command}");
            return Ok(());
        }
    };
    println!("side by side with the official crates.io lnc-client ({}):", exe.display());
    let mut cmd = Command::new(&exe);
    cmd.args([which, "--sizes", &size.to_string()]);
    if p.has("bootstrap") {
        cmd.args(["--addr", &c.get_str("bootstrap.servers")]);
    }
    let profile = format!(
        "batch.size={},max.in.flight={},linger.ms={}",
        c.get_str("batch.size"),
        c.get_str("max.in.flight"),
        c.get_str("linger.ms")
    );
    cmd.env("LNC_COMPARE_PRODUCER", profile);
    let status = cmd.status().map_err(|e| Exit::Runtime(format!("cannot run {}: {e}", exe.display())))?;
    if status.success() {
        Ok(())
    } else {
        Err(Exit::Runtime(format!("the comparison failed ({status})")))
    }
}

/// The rows of one target: the settings as given; for produce (unless `-X batch.size` was given)
/// also 1 MiB batches with 4 in flight, the bulk settings adaptive batching should match, and the
/// ack latency at 100 records/s with adaptive batching on and off.
fn target(p: &Parsed, which: &str, c: &Config, label: &str, n: u64, size: usize, conns: u32) -> CliResult {
    let given = settings_label(p);
    let rate = one(p, which, c, label, given, n, size, conns)?;
    if which == "produce" {
        statistics_cost(p, c, label, n, size, conns)?;
    }
    if which != "produce" || p.all("config").iter().any(|kv| kv.starts_with("batch.size")) {
        return Ok(());
    }
    let mut bulk = c.clone();
    for (k, v) in [("batch.size", "1048576"), ("max.in.flight", "4")] {
        bulk.set(k, v).map_err(|e| Exit::Runtime(e.message))?;
    }
    let bulk_rate = one(p, which, &bulk, label, "batch.size 1 MiB, 4 in fl.", n, size, conns)?;
    println!("{:<22} {given} reach {:.0}% of the 1 MiB figure", "", 100.0 * rate / bulk_rate.max(1.0));
    let mut fixed = c.clone();
    fixed.set("batch.size.max", &c.get_str("batch.size")).map_err(|e| Exit::Runtime(e.message))?;
    for (cfg, what) in [(c, format!("{given}, 100 rec/s")), (&fixed, "adaptive off, 100 rec/s".to_string())] {
        let (p50, p99) = paced(cfg, 100, Duration::from_secs(2), size)?;
        println!(
            "{label:<22} {what:<24} {:>12} {:>9} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "100",
            "-",
            us(p50),
            "-",
            us(p99),
            "-",
            "-"
        );
    }
    Ok(())
}

/// Statistics on vs off, same settings, in this run: rounds of off, every 1 s (what
/// `statistics.interval.ms=1000` costs: a thread calling `statistics_json()`), and every 10 ms (a
/// hundred times that load, which bounds the cost even when a run is shorter than a second),
/// best of 2 each, side by side. These runs delete their topics, so the mock's memory (and the
/// peak RSS line) is not inflated by them.
fn statistics_cost(p: &Parsed, c: &Config, label: &str, n: u64, size: usize, conns: u32) -> CliResult {
    let variants = [
        ("statistics off", None),
        ("statistics every 1 s", Some(Duration::from_secs(1))),
        ("statistics every 10 ms", Some(Duration::from_millis(10))),
    ];
    let mut best = [(0f64, 0u64); 3];
    for _ in 0..2 {
        for (i, (what, every)) in variants.iter().enumerate() {
            let (rate, taken) = one_with(p, "produce", c, label, what, n, size, conns, *every, true)?;
            best[i] = (best[i].0.max(rate), best[i].1 + taken);
        }
    }
    let off = best[0].0.max(1.0);
    let (doc_us, record_ns) = statistics_unit_costs(c, conns)?;
    println!(
        "{:<22} statistics costs: one statistics_json() {doc_us:.1} µs ({conns} lanes); one HDR record {record_ns:.1} ns (one per acked batch)",
        ""
    );
    println!(
        "{:<22} statistics, best of 2 each: off {} | every 1 s {} ({:+.1} %, {} documents) | every 10 ms {} ({:+.1} %, {} documents) records/s",
        "",
        group(best[0].0 as u64),
        group(best[1].0 as u64),
        100.0 * (best[1].0 - off) / off,
        best[1].1,
        group(best[2].0 as u64),
        100.0 * (best[2].0 - off) / off,
        best[2].1
    );
    Ok(())
}

/// The CPU cost of the two things statistics add, measured apart from the noisy throughput runs:
/// taking one document (µs), and recording one latency into an HDR histogram (ns).
fn statistics_unit_costs(c: &Config, conns: u32) -> CliResult<(f64, f64)> {
    let mut c = c.clone();
    c.set("connections", &conns.to_string()).map_err(|e| Exit::Runtime(e.message))?;
    let c = &c;
    let producer = Producer::new(c).map_err(|e| lib_exit(&e, c, "starting the producer"))?;
    // Latencies spread over the histogram first, so the merge is not of an empty one.
    let admin = connect(c)?;
    let name = unique_topic("bench-stats");
    let topic = admin.create_topic(&name, None).map_err(|e| lib_exit(&e, c, &format!("creating topic '{name}'")))?.id;
    for i in 0..20_000u32 {
        producer.send(topic, &Message::raw(&i.to_be_bytes()), 0).map_err(|e| lib_exit(&e, c, "sending"))?;
        if i % 500 == 0 {
            let _ = producer.flush(Duration::from_secs(5));
        }
    }
    let _ = producer.flush(Duration::from_secs(10));
    let docs = 2_000u32;
    let t = Instant::now();
    for _ in 0..docs {
        std::hint::black_box(producer.statistics_json());
    }
    let doc_us = t.elapsed().as_secs_f64() * 1e6 / docs as f64;
    let _ = producer.close(Duration::from_secs(1));
    let _ = admin.delete_topic(topic, None);
    let mut h = lnc::stats::LatencyHistogram::new();
    let values = 10_000_000u64;
    let t = Instant::now();
    for i in 0..values {
        h.record_n(Duration::from_micros(std::hint::black_box(50 + (i * 7919) % 200_000)), 1);
    }
    std::hint::black_box(h.count());
    Ok((doc_us, t.elapsed().as_secs_f64() * 1e9 / values as f64))
}

/// Sends `rate` records per second for `time`, one at a time, and returns the exact p50 and p99
/// of send → delivery report, in microseconds, from every record's own timestamps.
fn paced(c: &Config, rate: u32, time: Duration, size: usize) -> CliResult<(u64, u64)> {
    let admin = connect(c)?;
    let name = unique_topic("bench-paced");
    let topic = admin.create_topic(&name, None).map_err(|e| lib_exit(&e, c, &format!("creating topic '{name}'")))?.id;
    let n = (rate as f64 * time.as_secs_f64()) as usize;
    let sent_at: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; n]));
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let (s2, l2) = (sent_at.clone(), latencies.clone());
    let producer = Producer::with_callback(c, move |r| {
        if let (None, Some(Some(t))) = (&r.error, s2.lock().ok().and_then(|v| v.get(r.opaque as usize).copied())) {
            if let Ok(mut l) = l2.lock() {
                l.push(t.elapsed());
            }
        }
    })
    .map_err(|e| lib_exit(&e, c, "starting the producer"))?;
    let value = vec![0x42u8; size];
    let start = Instant::now();
    std::thread::scope(|s| -> CliResult {
        let poller = s.spawn(|| {
            while latencies.lock().map(|l| l.len() < n).unwrap_or(false)
                && start.elapsed() < time + Duration::from_secs(10)
            {
                let _ = producer.poll(Duration::from_millis(20));
            }
        });
        for i in 0..n {
            let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            if let Ok(mut v) = sent_at.lock() {
                v[i] = Some(Instant::now());
            }
            producer.send(topic, &Message::raw(&value), i as u64).map_err(|e| lib_exit(&e, c, "sending"))?;
        }
        let _ = poller.join();
        Ok(())
    })?;
    let _ = producer.close(Duration::from_secs(5));
    let mut l = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    if l.len() < n {
        return Err(Exit::Runtime(format!("paced run: only {} of {n} records acknowledged", l.len())));
    }
    l.sort();
    let q = |f: f64| l[((l.len() as f64 * f).ceil() as usize).clamp(1, l.len()) - 1].as_micros() as u64;
    Ok((q(0.50), q(0.99)))
}

/// `--tls`: the same workload against the plaintext mock, the mock's own TLS listener (rustls on
/// both ends) and stunnel4 in front of the plaintext mock, in one run, with the ratios. Client
/// certificates are used on both TLS paths; the certificates are throwaway (openssl CLI).
fn tls_rows(p: &Parsed, which: &str, n: u64, size: usize, conns: u32) -> CliResult {
    use lnc::mock::{MockBroker, MockConfig};
    let pki = crate::tlsenv::make_pki(None)?;
    let base = build_config(p, crate::quickstart::DEFAULTS)?;
    let start = |tls: bool| {
        let mut mc = MockConfig { ack_delay: std::time::Duration::ZERO, ..MockConfig::default() };
        if tls {
            mc.tls_cert = Some(pki.server_cert.clone());
            mc.tls_key = Some(pki.server_key.clone());
            mc.tls_client_ca = Some(pki.ca.clone());
        }
        MockBroker::start(mc).map_err(|e| Exit::Runtime(format!("cannot start the embedded mock: {e}")))
    };
    let with = |addr: &str, tls: bool| -> CliResult<Config> {
        let mut c = base.clone();
        let mut set = |k: &str, v: &str| c.set(k, v).map_err(|e| Exit::Runtime(format!("{k}: {}", e.message)));
        set("bootstrap.servers", addr)?;
        if tls {
            set("security.protocol", "tls")?;
            set("tls.ca.location", &pki.ca)?;
            set("tls.certificate.location", &pki.client_cert)?;
            set("tls.key.location", &pki.client_key)?;
        }
        Ok(c)
    };
    let plain = start(false)?;
    let given = settings_label(p);
    let r_plain = one(p, which, &with(&plain.address_string(), false)?, "plaintext mock, 0 ms", given, n, size, conns)?;
    let tls_mock = start(true)?;
    let r_tls =
        one(p, which, &with(&tls_mock.address_string(), true)?, "TLS mock (rustls), 0 ms", given, n, size, conns)?;
    tls_mock.stop();
    let r_stunnel = match crate::tlsenv::start_stunnel(&pki, &plain.address_string(), true) {
        Ok(st) => {
            let r = one(p, which, &with(&st.addr, true)?, "stunnel -> mock, 0 ms", given, n, size, conns)?;
            drop(st);
            Some(r)
        }
        Err(Exit::Runtime(why)) => {
            println!("{:<22} skipped: {why}", "stunnel -> mock");
            None
        }
        Err(e) => return Err(e),
    };
    plain.stop();
    println!(
        "TLS / plaintext records/s: rustls mock {:.2}{} (same run; ring provider, mutual TLS, client and mock share this machine's cores)",
        r_tls / r_plain,
        r_stunnel.map(|s| format!(", stunnel {:.2}", s / r_plain)).unwrap_or_default()
    );
    Ok(())
}

/// How the rows name the producer settings: the library's defaults, or what `-X` changed.
fn settings_label(p: &Parsed) -> &'static str {
    if p.all("config").is_empty() {
        "defaults"
    } else {
        "as given (-X)"
    }
}

/// One row; returns the records/s.
#[allow(clippy::too_many_arguments)]
fn one(
    p: &Parsed,
    which: &str,
    c: &Config,
    label: &str,
    settings: &str,
    n: u64,
    size: usize,
    conns: u32,
) -> CliResult<f64> {
    Ok(one_with(p, which, c, label, settings, n, size, conns, None, p.has("bootstrap"))?.0)
}

/// One row, with a thread taking the producer's statistics every `stats_every`; returns the
/// records/s and how many statistics documents were taken. Deletes its topics afterwards when
/// `delete_topics`.
#[allow(clippy::too_many_arguments)]
fn one_with(
    p: &Parsed,
    which: &str,
    c: &Config,
    label: &str,
    settings: &str,
    n: u64,
    size: usize,
    conns: u32,
    stats_every: Option<Duration>,
    delete_topics: bool,
) -> CliResult<(f64, u64)> {
    let mut c = c.clone();
    if !p.all("config").iter().any(|kv| kv.starts_with("connections=")) {
        c.set("connections", &conns.to_string()).map_err(|e| p.usage(e.message))?;
    }
    let admin = connect(&c)?;
    let topics: Vec<u32> = (0..conns)
        .map(|_| {
            let name = unique_topic("bench");
            admin
                .create_topic(&name, None)
                .map(|t| t.id)
                .map_err(|e| lib_exit(&e, &c, &format!("creating topic '{name}'")))
        })
        .collect::<CliResult<_>>()?;
    let ps = produce_n_with_stats(&c, &topics, n, size, true, stats_every)?;
    let rate: f64;
    if ps.failed > 0 {
        return Err(Exit::Runtime(format!(
            "{label}: {} records failed: {}",
            ps.failed,
            ps.first_error.unwrap_or_default()
        )));
    }
    if which == "produce" {
        let (rps, mbps) = rates(ps.acked, ps.bytes, ps.elapsed);
        println!(
            "{label:<22} {settings:<24} {:>12} {mbps:>9.1} {:>10} {:>10} {:>10} {:>10} {:>10}",
            group(rps as u64),
            us(ps.p50_us),
            us(ps.p90_us),
            us(ps.p99_us),
            us(ps.p999_us),
            us(ps.max_us)
        );
        rate = rps;
    } else {
        let mut total = (0u64, 0u64, std::time::Duration::ZERO);
        for (i, t) in topics.iter().enumerate() {
            let per = n / conns as u64 + u64::from((i as u64) < n % conns as u64);
            let cs = consume_n(&c, *t, per, size, false, true)?;
            if let Some(pr) = cs.problem {
                return Err(Exit::Runtime(format!("{label}: consume failed: {pr}")));
            }
            total = (total.0 + cs.records, total.1 + cs.bytes, total.2 + cs.elapsed);
        }
        let (rps, mbps) = rates(total.0, total.1, total.2);
        println!(
            "{label:<22} {settings:<24} {:>12} {mbps:>9.1} {:>10} {:>10} {:>10} {:>10} {:>10}",
            group(rps as u64),
            "-",
            "-",
            "-",
            "-",
            "-"
        );
        rate = rps;
    }
    if delete_topics {
        for t in topics {
            let _ = admin.delete_topic(t, None);
        }
    }
    Ok((rate, ps.stats_documents))
}
