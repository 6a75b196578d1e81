//! `lnc topics list|create|delete|get|retention`.

use lnc::wire::TopicInfo;
use lnc::{Admin, Config, ErrorCode, Retention};

use crate::args::{opt, parse, suggest, switch, CliResult, Exit, Parsed, BOOTSTRAP, CONFIG, JSON};
use crate::common::{build_config, connect, lib_exit, servers, topic_id_arg};
use crate::help;

const SUBS: &[&str] = &["list", "create", "delete", "get", "retention"];

pub fn run(argv: &[String]) -> CliResult {
    let Some(sub) = argv.first() else {
        return Err(Exit::Usage(format!("missing subcommand: one of {}\n(see `lnc topics --help`)", SUBS.join(", "))));
    };
    let rest = &argv[1..];
    match sub.as_str() {
        "-h" | "--help" => Err(Exit::Help(help::TOPICS.into())),
        "list" => list(rest),
        "create" => create(rest),
        "delete" => delete(rest),
        "get" => get(rest),
        "retention" => retention(rest),
        other => Err(Exit::Usage(format!(
            "unknown topics subcommand '{other}'{}; one of {}\n(see `lnc topics --help`)",
            suggest(other, SUBS),
            SUBS.join(", ")
        ))),
    }
}

fn setup(p: &Parsed) -> CliResult<(Config, Admin)> {
    let c = build_config(p, &[])?;
    let admin = connect(&c)?;
    Ok((c, admin))
}

fn created(t: &TopicInfo) -> String {
    t.created_at.to_string()
}

fn print_topic(p: &Parsed, t: &TopicInfo) {
    if p.has("json") {
        println!("{}", serde_json::to_string(t).unwrap_or_default());
        return;
    }
    println!("id:         {}", t.id);
    println!("name:       {}", t.name);
    println!("created_at: {} (Unix seconds)", created(t));
    println!("epoch:      {}", t.topic_epoch);
    if let Some(a) = t.max_age_secs {
        println!("max_age:    {}", limit(a, lnc::wire::control::RETENTION_UNLIMITED_AGE_SECS));
    }
    if let Some(b) = t.max_bytes {
        println!("max_bytes:  {}", limit(b, u64::MAX));
    }
}

fn limit(v: u64, unlimited: u64) -> String {
    if v >= unlimited {
        "unlimited".into()
    } else {
        v.to_string()
    }
}

fn list(argv: &[String]) -> CliResult {
    let p = parse("topics list", argv, &[BOOTSTRAP, CONFIG, JSON], help::TOPICS_LIST)?;
    p.expect_positionals(&[])?;
    let (c, admin) = setup(&p)?;
    let mut topics = admin.list_topics(None).map_err(|e| lib_exit(&e, &c, "ListTopics"))?;
    topics.sort_by_key(|t| t.id);
    if p.has("json") {
        println!("{}", serde_json::to_string(&topics).unwrap_or_default());
        return Ok(());
    }
    if topics.is_empty() {
        eprintln!("no topics on {} (create one with `lnc topics create NAME`)", servers(&c));
        return Ok(());
    }
    println!("{:>6}  {:<40}  {:>12}", "ID", "NAME", "CREATED_AT");
    for t in &topics {
        println!("{:>6}  {:<40}  {:>12}", t.id, t.name, created(t));
    }
    Ok(())
}

/// A retention limit: a number, or 0/`unlimited`/absent → None.
fn limit_arg(p: &Parsed, flag: &str) -> CliResult<Option<u64>> {
    match p.get(flag) {
        None | Some("unlimited") | Some("none") => Ok(None),
        Some(v) => match crate::args::parse_num::<u64>(v) {
            // 0 means no limit, as in every binding (docs/bindings.md).
            Some(0) => Ok(None),
            Some(n) => Ok(Some(n)),
            None => Err(p.usage(format!("--{flag}: \"{v}\" is not a number (or `unlimited`)"))),
        },
    }
}

fn create(argv: &[String]) -> CliResult {
    let p = parse(
        "topics create",
        argv,
        &[
            BOOTSTRAP,
            CONFIG,
            JSON,
            opt("retention-age", None),
            opt("retention-bytes", None),
            switch("if-not-exists", None),
        ],
        help::TOPICS_CREATE,
    )?;
    p.expect_positionals(&["NAME"])?;
    let name = &p.positionals[0];
    let (c, admin) = setup(&p)?;
    let with_retention = p.has("retention-age") || p.has("retention-bytes");
    let r = if with_retention {
        let ret =
            Retention { max_age_secs: limit_arg(&p, "retention-age")?, max_bytes: limit_arg(&p, "retention-bytes")? };
        admin.create_topic_with_retention(name, ret, None)
    } else {
        admin.create_topic(name, None)
    };
    let t = match r {
        Ok(t) => t,
        Err(e) if e.code == ErrorCode::TopicExists && p.has("if-not-exists") => {
            admin.ensure_topic(name, None).map_err(|e| lib_exit(&e, &c, &format!("looking up topic '{name}'")))?
        }
        Err(e) if e.code == ErrorCode::TopicExists => {
            return Err(Exit::Runtime(format!(
                "creating topic '{name}' on {} failed: {} (TOPIC_EXISTS) — pass --if-not-exists to accept it",
                servers(&c),
                e.message
            )))
        }
        Err(e) => return Err(lib_exit(&e, &c, &format!("creating topic '{name}'"))),
    };
    if !p.has("json") {
        eprintln!("created topic '{}' with id {}", t.name, t.id);
    }
    print_topic(&p, &t);
    Ok(())
}

fn delete(argv: &[String]) -> CliResult {
    let p = parse("topics delete", argv, &[BOOTSTRAP, CONFIG, JSON], help::TOPICS_DELETE)?;
    p.expect_positionals(&["TOPIC"])?;
    let (c, admin) = setup(&p)?;
    let id = topic_id_arg(&admin, &c, &p.positionals[0])?;
    let deleted = admin.delete_topic(id, None).map_err(|e| lib_exit(&e, &c, &format!("deleting topic {id}")))?;
    if p.has("json") {
        println!("{}", serde_json::json!({ "deleted": deleted }));
    } else {
        println!("deleted topic {deleted}");
    }
    Ok(())
}

fn get(argv: &[String]) -> CliResult {
    let p = parse("topics get", argv, &[BOOTSTRAP, CONFIG, JSON], help::TOPICS_GET)?;
    p.expect_positionals(&["TOPIC"])?;
    let (c, admin) = setup(&p)?;
    let id = topic_id_arg(&admin, &c, &p.positionals[0])?;
    let t = admin.get_topic(id, None).map_err(|e| lib_exit(&e, &c, &format!("getting topic {id}")))?;
    print_topic(&p, &t);
    Ok(())
}

fn retention(argv: &[String]) -> CliResult {
    let p = parse(
        "topics retention",
        argv,
        &[BOOTSTRAP, CONFIG, JSON, opt("age", None), opt("bytes", None)],
        help::TOPICS_RETENTION,
    )?;
    p.expect_positionals(&["TOPIC"])?;
    let ret = Retention { max_age_secs: limit_arg(&p, "age")?, max_bytes: limit_arg(&p, "bytes")? };
    ret.wire_values().map_err(|e| p.usage(e.message))?;
    let (c, admin) = setup(&p)?;
    let id = topic_id_arg(&admin, &c, &p.positionals[0])?;
    let r = admin
        .set_retention(id, ret, None)
        .map_err(|e| lib_exit(&e, &c, &format!("setting retention of topic {id}")))?;
    if p.has("json") {
        println!("{}", serde_json::to_string(&r).unwrap_or_default());
    } else {
        let age = limit(r.max_age_secs, lnc::wire::control::RETENTION_UNLIMITED_AGE_SECS);
        let age = if age == "unlimited" { age } else { format!("{age} s") };
        println!("topic {}: max_age {age}, max_bytes {}", r.topic_id, limit(r.max_bytes, u64::MAX));
    }
    Ok(())
}
