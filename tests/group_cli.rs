//! `lnc consume --group NAME` against the embedded mock broker: two CLI members share two topics.

use std::process::Command;
use std::time::Duration;

use lnc::mock::{MockBroker, MockConfig};
use lnc::producer::{Message, Producer};
use lnc::Config;

const LNC: &str = env!("CARGO_BIN_EXE_lnc");

#[test]
fn consume_with_group_prints_every_record_and_the_group_resumes_after_it() {
    let mock = MockBroker::start(MockConfig { ack_delay: Duration::ZERO, ..Default::default() }).unwrap();
    let addr = mock.address_string();
    let a = mock.create_topic("cli-a").unwrap();
    let b = mock.create_topic("cli-b").unwrap();
    let p = Producer::new(&Config::from_pairs([("bootstrap.servers", addr.as_str())]).unwrap()).unwrap();
    for i in 0..10 {
        p.send(a, &Message::raw(format!("a{i}").as_bytes()), 0).unwrap();
        p.send(b, &Message::raw(format!("b{i}").as_bytes()), 0).unwrap();
    }
    assert_eq!(p.flush(Duration::from_secs(10)).unwrap(), 0);
    let run = |count: &str| {
        let o = Command::new(LNC)
            .args(["consume", "--group", "cli", "-t", "cli-a,cli-b", "-b", &addr, "-c", count, "-f", "%t %v\\n"])
            .args(["-X", "group.session.timeout.ms=1000", "-X", "group.heartbeat.interval.ms=100"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let mut lines: Vec<String> = String::from_utf8(o.stdout).unwrap().lines().map(String::from).collect();
        lines.sort();
        (lines, String::from_utf8(o.stderr).unwrap())
    };
    let (first, err) = run("20");
    assert_eq!(first.len(), 20, "{err}");
    assert!(first.contains(&"cli-a a0".to_string()) && first.contains(&"cli-b b9".to_string()), "{first:?}");
    assert!(err.contains("assigned topics"), "{err}");
    // The first run left cleanly and committed: the next member starts after what it printed.
    for i in 10..12 {
        p.send(a, &Message::raw(format!("a{i}").as_bytes()), 0).unwrap();
    }
    assert_eq!(p.flush(Duration::from_secs(10)).unwrap(), 0);
    let (second, err) = run("2");
    assert_eq!(second, vec!["cli-a a10".to_string(), "cli-a a11".to_string()], "{err}");
    let usage = Command::new(LNC).args(["consume", "--group", "cli", "-b", &addr]).output().unwrap();
    assert!(!usage.status.success());
    assert!(String::from_utf8_lossy(&usage.stderr).contains("--topic-prefix"));
}
