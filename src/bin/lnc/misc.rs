//! `ping`, `status`, `mock`, and the README table generators.

use std::io::Write;
use std::time::Duration;

use lnc::mock::{MockBroker, MockConfig};
use lnc::ErrorCode;

use crate::args::{opt, parse, switch, CliResult, Exit, BOOTSTRAP, CONFIG, JSON};
use crate::common::{build_config, catch_interrupts, connect, describe, interrupted, quantile, servers};
use crate::help;

pub fn ping(argv: &[String]) -> CliResult {
    let p = parse(
        "ping",
        argv,
        &[BOOTSTRAP, CONFIG, opt("count", Some('c')), opt("interval", Some('i')), JSON],
        help::PING,
    )?;
    p.expect_positionals(&[])?;
    let count: u32 = p.num("count", 5)?;
    let interval: u64 = p.num("interval", 200)?;
    if count == 0 {
        return Err(p.usage("-c must be at least 1"));
    }
    let c = build_config(&p, &[])?;
    let admin = connect(&c)?;
    let server = servers(&c);
    let mut rtts = Vec::new();
    for i in 0..count {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(interval));
        }
        let rtt = admin.ping(None).map_err(|e| Exit::Runtime(describe(&e, &c, "ping")))?;
        println!("keepalive reply from {server}: seq={} time={:.3} ms", i + 1, rtt.as_secs_f64() * 1000.0);
        rtts.push(rtt);
    }
    rtts.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{} pings: min {:.3} ms, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        rtts.len(),
        ms(rtts[0]),
        ms(quantile(&rtts, 0.50)),
        ms(quantile(&rtts, 0.99)),
        ms(rtts[rtts.len() - 1])
    );
    Ok(())
}

pub fn status(argv: &[String]) -> CliResult {
    let p = parse("status", argv, &[BOOTSTRAP, CONFIG, JSON], help::STATUS)?;
    p.expect_positionals(&[])?;
    let c = build_config(&p, &[])?;
    let admin = connect(&c)?;
    let s = admin.cluster_status(None).map_err(|e| Exit::Runtime(describe(&e, &c, "GetClusterStatus")))?;
    if p.has("json") {
        println!("{}", serde_json::to_string(&s).unwrap_or_default());
        return Ok(());
    }
    println!("server:           {}", servers(&c));
    println!("mode:             {}", s.mode.as_deref().unwrap_or("cluster"));
    println!("node id:          {}", s.node_id);
    println!("leader:           {}", s.leader_id.map(|l| l.to_string()).unwrap_or_else(|| "unknown".into()));
    println!("is leader:        {}", s.is_leader);
    println!("term:             {}", s.current_term);
    println!("nodes:            {} ({} healthy)", s.node_count, s.healthy_nodes);
    println!("quorum available: {}", s.quorum_available);
    for (peer, state) in &s.peer_states {
        println!("peer {peer}:          {state}");
    }
    Ok(())
}

pub fn mock(argv: &[String]) -> CliResult {
    let p = parse(
        "mock",
        argv,
        &[
            opt("host", None),
            opt("port", Some('p')),
            opt("ack-delay-ms", None),
            opt("tls-cert", None),
            opt("tls-key", None),
            opt("tls-client-ca", None),
            CONFIG,
            switch("quiet", Some('q')),
        ],
        help::MOCK,
    )?;
    p.expect_positionals(&[])?;
    let mut mc = MockConfig { port: 1992, ..MockConfig::default() };
    let mut set = |k: &str, v: &str, shown: &str| mc.set(k, v).map_err(|why| p.usage(format!("{shown}: {why}")));
    if let Some(h) = p.get("host") {
        set("host", h, "--host")?;
    }
    if let Some(v) = p.get("port") {
        set("port", v, "--port")?;
    }
    if let Some(v) = p.get("ack-delay-ms") {
        set("ack.delay.ms", v, "--ack-delay-ms")?;
    }
    for (flag, key) in [("tls-cert", "tls.cert"), ("tls-key", "tls.key"), ("tls-client-ca", "tls.client.ca")] {
        if let Some(v) = p.get(flag) {
            set(key, v, &format!("--{flag}"))?;
        }
    }
    for kv in p.all("config") {
        let Some((k, v)) = crate::args::key_value(kv) else {
            return Err(p.usage(format!("-X {kv}: expected key=value")));
        };
        set(k.strip_prefix("mock.").unwrap_or(k), v, &format!("-X {kv}"))?;
    }
    let host = mc.host.clone();
    let port = mc.port;
    let ack = mc.ack_delay;
    let tls = match (&mc.tls_cert, &mc.tls_client_ca) {
        (None, _) => String::new(),
        (Some(_), None) => ", TLS".to_string(),
        (Some(_), Some(_)) => ", TLS with client certificates required".to_string(),
    };
    catch_interrupts();
    let broker = MockBroker::start(mc).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            " — the port is taken (another `lnc mock` or a LANCE server?); use --port 0 for any free port"
        } else {
            ""
        };
        if e.kind() == std::io::ErrorKind::InvalidInput {
            return p.usage(e.to_string());
        }
        Exit::Runtime(format!("cannot listen on {host}:{port}: {e}{hint}"))
    })?;
    let addr = broker.address_string();
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{addr}");
        let _ = out.flush();
    }
    if !p.has("quiet") {
        eprintln!(
            "lnc mock: LWP mock broker listening on {addr} (ack delay {} ms{tls}); stop with Ctrl-C. Try: lnc quickstart -b {addr}",
            ack.as_millis()
        );
    }
    while !interrupted() {
        std::thread::sleep(Duration::from_millis(100));
    }
    let st = broker.stats();
    broker.stop();
    if !p.has("quiet") {
        eprintln!(
            "lnc mock: stopped ({} connections, {} batches stored, {} bytes stored, {} fetches served)",
            st.connections_accepted, st.ingests_stored, st.bytes_stored, st.fetches_served
        );
    }
    Ok(())
}

pub fn table(argv: &[String], name: &str, help_text: &str, gen: fn() -> String) -> CliResult {
    let p = parse(name, argv, &[], help_text)?;
    p.expect_positionals(&[])?;
    print!("{}", gen());
    Ok(())
}

/// The README's error table, from [`ErrorCode::ALL`].
pub fn error_table() -> String {
    let mut s = String::from("| name | number | description | retryable by default |\n|---|---:|---|---|\n");
    for c in ErrorCode::ALL {
        s.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            c.name(),
            c as i32,
            c.description(),
            if c.default_retryable() { "yes" } else { "no" }
        ));
    }
    s
}
