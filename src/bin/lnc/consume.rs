//! `lnc consume`: records → stdout (format string or JSON lines).

use std::io::{BufWriter, ErrorKind, Write};
use std::time::Duration;

use lnc::StandaloneConsumer;

use crate::args::{opt, parse, switch, CliResult, Exit, BOOTSTRAP, CONFIG, JSON};
use crate::common::{build_config, catch_interrupts, connect, describe, interrupted, lib_exit, resolve_topic, servers};
use crate::help;
use crate::records::{parse_format, write_formatted, write_json};

pub fn run(argv: &[String]) -> CliResult {
    let p = parse(
        "consume",
        argv,
        &[
            BOOTSTRAP,
            CONFIG,
            JSON,
            opt("topic", Some('t')),
            opt("offset", Some('o')),
            opt("count", Some('c')),
            switch("exit", Some('e')),
            opt("format", Some('f')),
            opt("group-name", Some('G')),
            opt("offset-dir", None),
            switch("quiet", Some('q')),
            crate::stats::STATS,
            opt("group", None),
            opt("topic-prefix", None),
        ],
        help::CONSUME,
    )?;
    p.expect_positionals(&[])?;
    if let Some(g) = p.get("group") {
        return crate::group::run(&p, g);
    }
    let every = crate::stats::interval(&p)?;
    let topic = p.get("topic").ok_or_else(|| p.usage("missing -t TOPIC"))?.to_string();
    let count: Option<u64> = match p.get("count") {
        None => None,
        Some(_) => Some(p.num("count", 0u64)?),
    };
    let json = p.has("json");
    if json && p.has("format") {
        return Err(p.usage("use either -f FORMAT or --json"));
    }
    let fmt = parse_format(p.get("format").unwrap_or("%v\\n")).map_err(|e| p.usage(format!("-f: {e}")))?;
    let group = p.get("group-name");
    let dir = p.get("offset-dir");
    if group.is_some() != dir.is_some() {
        return Err(p.usage("--group-name and --offset-dir go together (offsets are stored in DIR/NAME/)"));
    }
    let start = match p.get("offset") {
        None if group.is_some() => "stored".to_string(),
        None | Some("beginning") | Some("earliest") => "beginning".to_string(),
        Some("end") | Some("latest") => "end".to_string(),
        Some("stored") if group.is_some() => "stored".to_string(),
        Some("stored") => return Err(p.usage("-o stored needs --group-name and --offset-dir")),
        Some(n) => match n.parse::<u64>() {
            Ok(v) => v.to_string(),
            Err(_) => return Err(p.usage(format!("-o {n}: expected beginning, end, stored or a byte offset"))),
        },
    };

    let mut defaults: Vec<(&str, &str)> = vec![("start.offset", &start)];
    match (group, dir) {
        (Some(g), Some(d)) => defaults.extend([
            ("consumer.name", g),
            ("offset.dir", d),
            ("offset.store", "file"),
            ("enable.auto.commit", "true"),
        ]),
        _ => defaults.extend([("offset.store", "none"), ("enable.auto.commit", "false")]),
    }
    let mut c = build_config(&p, &defaults)?;
    let admin = connect(&c)?;
    let info = resolve_topic(&admin, &c, &topic, false)?;
    c.set("topic.id", &info.id.to_string()).map_err(|e| Exit::Runtime(e.message))?;
    let consumer = std::sync::Arc::new(
        StandaloneConsumer::new(&c)
            .map_err(|e| lib_exit(&e, &c, &format!("starting the consumer of '{}'", info.name)))?,
    );
    let ticker = crate::stats::consumer_ticker(every, &consumer);

    catch_interrupts();
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut recs = Vec::new();
    let mut n = 0u64;
    let mut pipe_closed = false;
    let mut last_warning = String::new();
    'outer: while !interrupted() {
        if count.is_some_and(|c| n >= c) {
            break;
        }
        let want = count.map(|c| (c - n) as usize).unwrap_or(usize::MAX);
        recs.clear();
        match consumer.poll_into(Duration::from_millis(200), &mut recs, want) {
            Ok(k) => {
                for r in &recs {
                    let w = if json {
                        write_json(&mut out, r, &info.name, info.id)
                    } else {
                        write_formatted(&mut out, &fmt, r, &info.name, info.id)
                    };
                    if let Err(e) = w {
                        if e.kind() == ErrorKind::BrokenPipe {
                            pipe_closed = true;
                            break 'outer;
                        }
                        return Err(Exit::Runtime(format!("writing output: {e}")));
                    }
                }
                n += k as u64;
                if let Err(e) = out.flush() {
                    if e.kind() == ErrorKind::BrokenPipe {
                        pipe_closed = true;
                        break;
                    }
                    return Err(Exit::Runtime(format!("writing output: {e}")));
                }
                if k == 0 && p.has("exit") {
                    match consumer.lag() {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(e) => return Err(Exit::Runtime(describe(&e, &c, "asking for the end of the topic"))),
                    }
                }
            }
            Err(e) if e.retryable => {
                let msg = describe(&e, &c, "consuming");
                if msg != last_warning {
                    eprintln!("lnc: warning: {msg} (retrying)");
                    last_warning = msg;
                }
            }
            Err(e) => {
                let _ = out.flush();
                let at = e.server_offset.map(|o| format!(" at offset {o}")).unwrap_or_default();
                return Err(Exit::Runtime(format!(
                    "{}{at}; position {} — restart with -o beginning, -o end or -o <offset>",
                    describe(&e, &c, &format!("consuming topic '{}'", info.name)),
                    consumer.position()
                )));
            }
        }
    }
    drop(out);
    let position = consumer.position();
    let closed = consumer.close(Duration::from_secs(5));
    drop(ticker); // the last summary line
    if !p.has("quiet") && !pipe_closed {
        eprintln!(
            "consumed {n} records from topic '{}' (id {}) on {}; position {position}{}",
            info.name,
            info.id,
            servers(&c),
            if group.is_some() { " (committed)" } else { "" }
        );
    }
    closed.map_err(|e| lib_exit(&e, &c, "closing the consumer (committing the offset)"))?;
    Ok(())
}
