//! `lnc consume --group NAME`: consume the group's share of topics as one member of a consumer
//! group (docs/groups.md), printing records like `lnc consume`.

use std::collections::HashMap;
use std::io::{BufWriter, ErrorKind, Write};
use std::time::Duration;

use lnc::group::{GroupConsumer, GroupEvent};

use crate::args::{CliResult, Exit, Parsed};
use crate::common::{build_config, catch_interrupts, connect, describe, interrupted, lib_exit, servers};
use crate::records::{parse_format, write_formatted, write_json};

pub fn run(p: &Parsed, group: &str) -> CliResult {
    if p.has("exit") || p.has("group-name") || p.has("offset-dir") {
        return Err(p.usage(
            "--group does not combine with -e, --group-name or --offset-dir (the group log keeps the offsets)",
        ));
    }
    let json = p.has("json");
    if json && p.has("format") {
        return Err(p.usage("use either -f FORMAT or --json"));
    }
    let fmt = parse_format(p.get("format").unwrap_or("%v\\n")).map_err(|e| p.usage(format!("-f: {e}")))?;
    let count: Option<u64> = match p.get("count") {
        None => None,
        Some(_) => Some(p.num("count", 0u64)?),
    };
    let start = match p.get("offset") {
        None | Some("beginning") | Some("earliest") => "beginning",
        Some("end") | Some("latest") => "end",
        Some(o) => return Err(p.usage(format!("-o {o}: a group starts uncommitted topics at beginning or end"))),
    };
    let mut defaults: Vec<(&str, &str)> = vec![("group.id", group), ("start.offset", start)];
    match (p.get("topic"), p.get("topic-prefix")) {
        (Some(t), None) => defaults.push(("group.topics", t)),
        (None, Some(prefix)) => defaults.push(("group.topic.prefix", prefix)),
        _ => return Err(p.usage("--group needs -t NAME[,NAME…] or --topic-prefix PREFIX")),
    }
    let c = build_config(p, &defaults)?;
    let admin = connect(&c)?;
    let member = GroupConsumer::new(&c).map_err(|e| lib_exit(&e, &c, &format!("joining group '{group}'")))?;
    let mut names: HashMap<u32, String> = HashMap::new();

    catch_interrupts();
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut n = 0u64;
    let mut pipe_closed = false;
    let quiet = p.has("quiet");
    'outer: while !interrupted() && !count.is_some_and(|c| n >= c) {
        let events = match member.poll(Duration::from_millis(200)) {
            Ok(e) => e,
            Err(e) => return Err(Exit::Runtime(describe(&e, &c, &format!("consuming as a member of '{group}'")))),
        };
        for e in events {
            match e {
                GroupEvent::Record { topic_id, record } => {
                    if count.is_some_and(|c| n >= c) {
                        break 'outer;
                    }
                    let name = names
                        .entry(topic_id)
                        .or_insert_with(|| admin.get_topic(topic_id, None).map(|t| t.name).unwrap_or_default());
                    let w = if json {
                        write_json(&mut out, &record, name, topic_id)
                    } else {
                        write_formatted(&mut out, &fmt, &record, name, topic_id)
                    };
                    if let Err(e) = w {
                        if e.kind() == ErrorKind::BrokenPipe {
                            pipe_closed = true;
                            break 'outer;
                        }
                        return Err(Exit::Runtime(format!("writing output: {e}")));
                    }
                    n += 1;
                }
                GroupEvent::Assigned(t) if !quiet => eprintln!("lnc: group '{group}': assigned topics {t:?}"),
                GroupEvent::Revoked(t) if !quiet => eprintln!("lnc: group '{group}': revoked topics {t:?}"),
                GroupEvent::Error { topic_id, error } => {
                    eprintln!("lnc: warning: {} (topic id {topic_id})", describe(&error, &c, "consuming"))
                }
                _ => {}
            }
        }
        if let Err(e) = out.flush() {
            if e.kind() == ErrorKind::BrokenPipe {
                pipe_closed = true;
                break;
            }
            return Err(Exit::Runtime(format!("writing output: {e}")));
        }
    }
    drop(out);
    let closed = member.close(Duration::from_secs(10));
    if !quiet && !pipe_closed {
        eprintln!("consumed {n} records as member '{}' of group '{group}' on {}", member.member_id(), servers(&c));
    }
    closed.map_err(|e| lib_exit(&e, &c, "leaving the group (committing)"))?;
    Ok(())
}
