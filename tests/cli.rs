//! End-to-end tests of the `lnc` binary: quickstart, produce/consume round trips through
//! `lnc mock` run as a child process, topics, ping, status, error cases, --help, README tables.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const LNC: &str = env!("CARGO_BIN_EXE_lnc");

/// A child process killed (and reaped) on every path, panics included.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `lnc mock --port 0 --ack-delay-ms 0` as a child; its address is its first stdout line.
struct Mock {
    _child: Guard,
    addr: String,
}

fn mock() -> Mock {
    let mut child = Command::new(LNC)
        .args(["mock", "--port", "0", "--ack-delay-ms", "0", "-q"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn lnc mock");
    let stdout = child.stdout.take().unwrap();
    let guard = Guard(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read mock address");
    let addr = line.trim().to_string();
    assert!(addr.starts_with("127.0.0.1:"), "mock printed {addr:?}");
    Mock { _child: guard, addr }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn to_run(o: Output) -> Run {
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn lnc(args: &[&str]) -> Run {
    lnc_in(args, b"")
}

/// Runs `lnc args` with `input` on stdin, killed after 30 s.
fn lnc_in(args: &[&str], input: &[u8]) -> Run {
    let mut child = Command::new(LNC)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn lnc");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let pid = child.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d2 = done.clone();
    let killer = std::thread::spawn(move || {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(30) {
            if d2.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    });
    let out = child.wait_with_output().expect("wait lnc");
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = writer.join();
    let _ = killer.join();
    to_run(out)
}

fn ok(args: &[&str]) -> Run {
    let r = lnc(args);
    assert_eq!(r.code, 0, "lnc {args:?} failed:\nstdout: {}\nstderr: {}", r.stdout, r.stderr);
    r
}

fn ok_in(args: &[&str], input: &[u8]) -> Run {
    let r = lnc_in(args, input);
    assert_eq!(r.code, 0, "lnc {args:?} failed:\nstdout: {}\nstderr: {}", r.stdout, r.stderr);
    r
}

fn json_lines(s: &str) -> Vec<serde_json::Value> {
    s.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}"))).collect()
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lnc-cli-{tag}-{}-{:?}", std::process::id(), Instant::now()));
    let d = PathBuf::from(d.to_string_lossy().replace([' ', '{', '}', ':', ','], ""));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn quickstart_end_to_end() {
    let r = ok(&["quickstart", "-n", "20000", "-q"]);
    let last = r.stdout.lines().last().unwrap_or_default();
    assert_eq!(last, "verified 20000/20000 records: OK", "stdout: {}", r.stdout);
    assert!(r.stdout.contains("records/s") && r.stdout.contains("MB/s") && r.stdout.contains("p99"), "{}", r.stdout);
}

#[test]
fn quickstart_against_lnc_mock() {
    let m = mock();
    let r = ok(&["quickstart", "-b", &m.addr, "-n", "3000", "-s", "64"]);
    assert!(r.stdout.ends_with("verified 3000/3000 records: OK\n"), "{}", r.stdout);
    // The quickstart topic is deleted afterwards on a real server.
    let list = ok(&["topics", "list", "-b", &m.addr, "--json"]);
    assert_eq!(list.stdout.trim(), "[]");
}

#[test]
fn produce_consume_every_type() {
    let m = mock();
    let b = m.addr.as_str();
    let cases: &[(&[&str], &str, Option<&str>)] = &[
        (&["--type", "raw"], "raw", None),
        (&["--type", "raw", "-k", "k1"], "kv", Some("k1")),
        (&["--type", "json"], "json", None),
        (&["--type", "msgpack"], "msgpack", None),
        (&["--type", "protobuf"], "protobuf", None),
        (&["--type", "avro"], "avro", None),
        (&["--type", "kv", "-k", "k2"], "kv", Some("k2")),
        (&["--type", "ts"], "ts", None),
        (&["--type", "kts", "-k", "k3"], "kts", Some("k3")),
        (&["--type", "user:0x80"], "user:0x80", None),
        (&["--type", "user:0xfe"], "user:0xfe", None),
    ];
    for (i, (flags, ty, key)) in cases.iter().enumerate() {
        let topic = format!("types-{i}");
        let mut args = vec!["produce", "-b", b, "-t", &topic, "--create"];
        args.extend_from_slice(flags);
        let r = ok_in(&args, b"{\"n\":1}\n{\"n\":2}\n");
        assert!(r.stderr.contains("sent 2, acked 2, failed 0"), "{ty}: {}", r.stderr);
        let c = ok(&["consume", "-b", b, "-t", &topic, "-e", "--json"]);
        let recs = json_lines(&c.stdout);
        assert_eq!(recs.len(), 2, "{ty}: {}", c.stdout);
        for (j, rec) in recs.iter().enumerate() {
            assert_eq!(rec["type"], *ty);
            assert_eq!(rec["value"], format!("{{\"n\":{}}}", j + 1));
            assert_eq!(rec["value_encoding"], "utf-8");
            assert_eq!(rec["topic"], topic.as_str());
            match key {
                Some(k) => assert_eq!(rec["key"], *k),
                None => assert!(rec["key"].is_null()),
            }
            let has_ts = matches!(*ty, "ts" | "kts");
            assert_eq!(rec["timestamp_ns"].is_u64(), has_ts, "{ty}: {rec}");
        }
    }
    // Tombstones and binary values (base64 in JSON).
    ok_in(&["produce", "-b", b, "-t", "bin", "--create", "--type", "tombstone"], b"x\n");
    ok_in(&["produce", "-b", b, "-t", "bin", "--type", "user:0x90"], b"\xff\xfe\x00\n");
    let recs = json_lines(&ok(&["consume", "-b", b, "-t", "bin", "-e", "--json"]).stdout);
    assert_eq!(recs[0]["type"], "tombstone");
    assert_eq!(recs[1]["value"], "//4A");
    assert_eq!(recs[1]["value_encoding"], "base64");
}

#[test]
fn consume_offsets_count_format_and_groups() {
    let m = mock();
    let b = m.addr.as_str();
    ok_in(&["produce", "-b", b, "-t", "offs", "--create", "-k", "key"], b"a\nbb\nccc\n");
    // -f: every directive; offsets are byte positions (5-byte header + 2 + 3-byte key + value).
    let r = ok(&["consume", "-b", b, "-t", "offs", "-e", "-f", "%o|%k|%v|%y|%t|%i|%K|%S|%T%%\\n"]);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines, ["0|key|a|kv|offs|1|3|1|-1%", "11|key|bb|kv|offs|1|3|2|-1%", "23|key|ccc|kv|offs|1|3|3|-1%"]);
    // -o N (a record boundary), -c.
    assert_eq!(ok(&["consume", "-b", b, "-t", "offs", "-o", "11", "-c", "1"]).stdout, "bb\n");
    assert_eq!(ok(&["consume", "-b", b, "-t", "id:1", "-o", "beginning", "-c", "2"]).stdout, "a\nbb\n");
    // -o end -e: nothing yet.
    assert_eq!(ok(&["consume", "-b", b, "-t", "offs", "-o", "end", "-e"]).stdout, "");
    // Groups: the offset is stored in the lock-file store and resumed.
    let dir = temp_dir("groups");
    let d = dir.to_str().unwrap();
    assert_eq!(
        ok(&["consume", "-b", b, "-t", "offs", "--group-name", "g", "--offset-dir", d, "-c", "2"]).stdout,
        "a\nbb\n"
    );
    let stored =
        std::fs::read_to_string(dir.join("g").join(format!("topic-1-consumer-{}.offset", lnc::wire::consumer_id("g"))))
            .unwrap();
    assert_eq!(stored, "23\n");
    assert_eq!(ok(&["consume", "-b", b, "-t", "offs", "--group-name", "g", "--offset-dir", d, "-e"]).stdout, "ccc\n");
    assert_eq!(ok(&["consume", "-b", b, "-t", "offs", "--group-name", "g", "--offset-dir", d, "-e"]).stdout, "");
    let _ = std::fs::remove_dir_all(&dir);
    // Custom delimiter, files, lz4.
    let f = temp_dir("files").join("rec.bin");
    std::fs::write(&f, b"whole\nfile").unwrap();
    ok(&["produce", "-b", b, "-t", "misc", "--create", "-f", f.to_str().unwrap()]);
    ok_in(&["produce", "-b", b, "-t", "misc", "-D", ";"], b"x;y;");
    let big: String = (0..400).map(|i| format!("line-{i:04}-{}\n", "z".repeat(40))).collect();
    let r = ok_in(&["produce", "-b", b, "-t", "misc", "-z", "lz4", "-X", "linger.ms=50"], big.as_bytes());
    assert!(r.stderr.contains("sent 400, acked 400"), "{}", r.stderr);
    let out = ok(&["consume", "-b", b, "-t", "misc", "-e", "-f", "%v\\x00"]).stdout;
    let vals: Vec<&str> = out.split('\0').collect();
    assert_eq!(&vals[..3], ["whole\nfile", "x", "y"]);
    assert_eq!(vals.len(), 3 + 400 + 1);
    assert!(vals[3].starts_with("line-0000-") && vals[402].starts_with("line-0399-"));
}

#[test]
fn topics_ping_status() {
    let m = mock();
    let b = m.addr.as_str();
    let created: serde_json::Value =
        serde_json::from_str(&ok(&["topics", "create", "orders", "-b", b, "--json"]).stdout).unwrap();
    assert_eq!(created["name"], "orders");
    let id = created["id"].as_u64().unwrap().to_string();
    let ret: serde_json::Value =
        serde_json::from_str(&ok(&["topics", "create", "logs", "--retention-age", "3600", "-b", b, "--json"]).stdout)
            .unwrap();
    assert_eq!(ret["max_age_secs"], 3600);
    assert_eq!(ret["max_bytes"], u64::MAX);
    let r = lnc(&["topics", "create", "orders", "-b", b]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
    ok(&["topics", "create", "orders", "-b", b, "--if-not-exists"]);
    let list: serde_json::Value = serde_json::from_str(&ok(&["topics", "list", "-b", b, "--json"]).stdout).unwrap();
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["orders", "logs"]);
    assert!(ok(&["topics", "list", "-b", b]).stdout.contains("orders"));
    let got: serde_json::Value = serde_json::from_str(&ok(&["topics", "get", &id, "-b", b, "--json"]).stdout).unwrap();
    assert_eq!(got["name"], "orders");
    assert!(ok(&["topics", "get", "logs", "-b", b]).stdout.contains("name:       logs"));
    let set: serde_json::Value = serde_json::from_str(
        &ok(&["topics", "retention", "orders", "--age", "60", "--bytes", "1000", "-b", b, "--json"]).stdout,
    )
    .unwrap();
    assert_eq!((set["max_age_secs"].as_u64(), set["max_bytes"].as_u64()), (Some(60), Some(1000)));
    // 0 means no limit, as in every binding (docs/bindings.md).
    let set: serde_json::Value = serde_json::from_str(
        &ok(&["topics", "retention", "orders", "--age", "0", "--bytes", "0", "-b", b, "--json"]).stdout,
    )
    .unwrap();
    assert_eq!((set["max_age_secs"].as_u64(), set["max_bytes"].as_u64()), (Some(18_446_744_073), Some(u64::MAX)));
    let r = lnc(&["topics", "create", "bad_name", "-b", b]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("invalid characters"), "{}", r.stderr);
    assert_eq!(ok(&["topics", "delete", &format!("id:{id}"), "-b", b]).stdout.trim(), format!("deleted topic {id}"));
    let r = lnc(&["topics", "get", &id, "-b", b]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("not found"), "{}", r.stderr);

    let p = ok(&["ping", "-b", b, "-c", "3", "-i", "1"]);
    assert_eq!(p.stdout.matches("keepalive reply from").count(), 3, "{}", p.stdout);
    assert!(p.stdout.contains("p50") && p.stdout.contains("p99"));
    let s = ok(&["status", "-b", b]);
    assert!(s.stdout.contains("mode:             standalone"), "{}", s.stdout);
    let s: serde_json::Value = serde_json::from_str(&ok(&["status", "-b", b, "--json"]).stdout).unwrap();
    assert_eq!(s["is_leader"], true);
}

/// A local port with nothing listening.
fn dead_address() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap().to_string();
    drop(l);
    a
}

#[test]
fn errors_are_clear_with_exit_codes() {
    let dead = dead_address();
    for args in [
        vec!["topics", "list", "-b", &dead],
        vec!["ping", "-b", &dead],
        vec!["status", "-b", &dead],
        vec!["consume", "-t", "x", "-b", &dead],
        vec!["produce", "-t", "x", "-b", &dead],
    ] {
        let t = Instant::now();
        let r = lnc(&args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert!(t.elapsed() < Duration::from_secs(8), "{args:?} took {:?}", t.elapsed());
        assert!(r.stderr.contains(&format!("could not connect to {dead}: connection refused")), "{}", r.stderr);
        assert!(r.stderr.contains("lnc mock"), "{}", r.stderr);
    }
    let m = mock();
    let b = m.addr.as_str();
    let r = lnc(&["consume", "-t", "nope", "-b", b]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("topic 'nope' not found") && r.stderr.contains("lnc topics create nope"), "{}", r.stderr);
    let r = lnc_in(&["produce", "-t", "nope", "-b", b], b"x\n");
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("--create"), "{}", r.stderr);
    let r = lnc(&["produce", "-t", "id:77", "-b", b]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("topic id 77 not found"), "{}", r.stderr);

    // Usage errors: exit 2 with the reason.
    let r = lnc(&["produce", "-t", "x", "-b", b, "-X", "linger.mss=5"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("unknown configuration key \"linger.mss\"") && r.stderr.contains("linger.ms"),
        "{}",
        r.stderr
    );
    let r = lnc(&["consume", "-t", "x", "-X", "fetch.max.bytes=0"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("invalid value \"0\" for \"fetch.max.bytes\""), "{}", r.stderr);
    let r = lnc(&["ping", "-X", "novalue"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("expected key=value"), "{}", r.stderr);
    let r = lnc(&["ping", "-b", "host:notaport"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("bad port"), "{}", r.stderr);
    let r = lnc(&["frobnicate"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unknown command 'frobnicate'"), "{}", r.stderr);
    let r = lnc(&["prodcue"]);
    assert!(r.code == 2 && r.stderr.contains("did you mean 'produce'"), "{}", r.stderr);
    let r = lnc(&["consume", "-t", "x", "--offest", "end"]);
    assert!(r.code == 2 && r.stderr.contains("did you mean '--offset'"), "{}", r.stderr);
    let r = lnc(&["produce", "-t", "x", "--type", "kv"]);
    assert!(r.code == 2 && r.stderr.contains("needs a key"), "{}", r.stderr);
    let r = lnc(&["produce", "-t", "x", "--type", "bogus"]);
    assert!(r.code == 2 && r.stderr.contains("unknown record type"), "{}", r.stderr);
    let r = lnc(&["consume", "-t", "x", "-f", "%q"]);
    assert!(r.code == 2 && r.stderr.contains("unknown format directive"), "{}", r.stderr);
    let r = lnc(&["topics", "lst"]);
    assert!(r.code == 2 && r.stderr.contains("did you mean 'list'"), "{}", r.stderr);
    let r = lnc(&["mock", "-X", "nope=1"]);
    assert!(r.code == 2 && r.stderr.contains("unknown mock configuration key"), "{}", r.stderr);
    assert_eq!(lnc(&[]).code, 2);
}

#[test]
fn help_for_every_command() {
    let paths: &[&[&str]] = &[
        &[],
        &["quickstart"],
        &["produce"],
        &["consume"],
        &["topics"],
        &["topics", "list"],
        &["topics", "create"],
        &["topics", "delete"],
        &["topics", "get"],
        &["topics", "retention"],
        &["ping"],
        &["status"],
        &["mock"],
        &["bench"],
        &["bench", "produce"],
        &["bench", "consume"],
        &["config-table"],
        &["error-table"],
    ];
    for path in paths {
        for flag in ["--help", "-h"] {
            let mut args: Vec<&str> = path.to_vec();
            args.push(flag);
            let r = ok(&args);
            let want = if path.is_empty() {
                "usage: lnc <command>".to_string()
            } else {
                format!("usage: lnc {}", path.join(" "))
            };
            assert!(r.stdout.contains(&want), "lnc {args:?}: {}", r.stdout);
        }
        let mut args = vec!["help"];
        args.extend_from_slice(path);
        assert!(ok(&args).stdout.starts_with(if path.is_empty() { "lnc —" } else { "usage: lnc" }));
    }
}

#[test]
fn bench_smoke() {
    let r = ok(&["bench", "produce", "-n", "2000", "-s", "32", "--no-compare"]);
    assert!(r.stdout.contains("mock, ack delay 0 ms") && r.stdout.contains("mock, ack delay 5 ms"), "{}", r.stdout);
    assert!(r.stdout.contains("peak RSS"), "{}", r.stdout);
    assert!(r.stdout.contains("cargo run --release -p lnc-interop --bin compare -- produce"), "{}", r.stdout);
    let m = mock();
    let r = ok(&["bench", "consume", "-b", &m.addr, "-n", "2000", "-s", "32", "--no-compare"]);
    assert!(r.stdout.contains(&m.addr) && r.stdout.contains("-- consume"), "{}", r.stdout);
}

fn readme_section(readme: &str, name: &str) -> String {
    let begin = format!("<!-- {name}:BEGIN -->\n");
    let end = format!("<!-- {name}:END -->");
    let a = readme.find(&begin).unwrap_or_else(|| panic!("README.md lacks {begin:?}")) + begin.len();
    let b = readme[a..].find(&end).unwrap_or_else(|| panic!("README.md lacks {end:?}")) + a;
    readme[a..b].to_string()
}

#[test]
fn readme_tables_in_sync() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for (marker, cmd) in [("CONFIG-TABLE", "config-table"), ("ERROR-TABLE", "error-table")] {
        let generated = ok(&[cmd]).stdout;
        assert_eq!(
            readme_section(&readme, marker),
            generated,
            "README.md's {marker} is stale: replace the lines between its markers with the output of `lnc {cmd}`"
        );
    }
    assert_eq!(ok(&["config-table"]).stdout, lnc::config::markdown_table());
}
