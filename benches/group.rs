//! Consumer group benchmark (issue #19), against the embedded mock broker, printing figures side
//! by side (never asserted: the machine is shared).
//!
//! 1. Aggregate consume rate: 12 topics pre-filled, drained by a group of 3 members versus 12
//!    standalone consumers polled by 3 threads (the same threads and per-topic consumers), in the
//!    same run, each from its first record to its last (the group's join time is printed apart:
//!    on a run this short it would otherwise dominate).
//! 2. Handover: a member is crashed (no leave, no commit); time until the survivors own all of its
//!    topics, against the target session timeout + 2 heartbeats.
//!
//! Run: `cargo bench --features tls --bench group` (`LNC_BENCH_GROUP_RECORDS`, default 1200000;
//! `LNC_BENCH_GROUP_ROUNDS`, default 3).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lnc::group::{GroupConsumer, GroupEvent};
use lnc::mock::{MockBroker, MockConfig};
use lnc::producer::{Message, Producer};
use lnc::{Config, StandaloneConsumer};

const TOPICS: usize = 12;
const MEMBERS: usize = 3;
const SESSION_MS: u64 = 1000;
const HEARTBEAT_MS: u64 = 100;

fn env_u64(k: &str, d: u64) -> u64 {
    std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d)
}

fn fill(addr: &str, ids: &[u32], per_topic: u64) {
    let p = Producer::new(&Config::from_pairs([("bootstrap.servers", addr), ("linger.ms", "5")]).unwrap()).unwrap();
    let value = [7u8; 100];
    for _ in 0..per_topic {
        for &t in ids {
            p.send(t, &Message::raw(&value), 0).unwrap();
        }
        let _ = p.poll_reports(usize::MAX, Duration::ZERO);
    }
    assert_eq!(p.flush(Duration::from_secs(120)).unwrap(), 0);
    p.close(Duration::from_secs(5)).unwrap();
}

fn standalone_rate(addr: &str, ids: &[u32], total: u64) -> f64 {
    let consumers: Vec<StandaloneConsumer> = ids
        .iter()
        .map(|t| {
            let c = Config::from_pairs([
                ("bootstrap.servers", addr),
                ("topic.id", &t.to_string()),
                ("start.offset", "beginning"),
                ("offset.store", "none"),
                ("enable.auto.commit", "false"),
            ])
            .unwrap();
            StandaloneConsumer::new(&c).unwrap()
        })
        .collect();
    let consumers = Arc::new(consumers);
    let got = Arc::new(AtomicU64::new(0));
    let first = Arc::new(parking_lot::Mutex::new(None::<Instant>));
    let threads: Vec<_> = (0..MEMBERS)
        .map(|k| {
            let (consumers, got, first) = (consumers.clone(), got.clone(), first.clone());
            std::thread::spawn(move || {
                let mine: Vec<&StandaloneConsumer> = consumers.iter().skip(k).step_by(MEMBERS).collect();
                let mut buf = Vec::new();
                while got.load(Ordering::Relaxed) < total {
                    let mut n = 0;
                    for c in &mine {
                        buf.clear();
                        n += c.poll_into(Duration::ZERO, &mut buf, 500).unwrap();
                    }
                    if n == 0 {
                        std::thread::sleep(Duration::from_micros(200));
                    } else {
                        first.lock().get_or_insert_with(Instant::now);
                    }
                    got.fetch_add(n as u64, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let t0 = first.lock().expect("records were consumed");
    total as f64 / t0.elapsed().as_secs_f64()
}

fn member(addr: &str, group: &str, names: &str, id: &str) -> GroupConsumer {
    GroupConsumer::new(
        &Config::from_pairs([
            ("bootstrap.servers", addr),
            ("group.id", group),
            ("group.member.id", id),
            ("group.topics", names),
            ("group.session.timeout.ms", &SESSION_MS.to_string()),
            ("group.heartbeat.interval.ms", &HEARTBEAT_MS.to_string()),
            ("max.poll.records", "500"),
        ])
        .unwrap(),
    )
    .unwrap()
}

fn owners(members: &[&GroupConsumer]) -> Vec<u32> {
    let mut v: Vec<u32> = members.iter().flat_map(|m| m.assignment()).collect();
    v.sort_unstable();
    v
}

/// Records/s from the first record to the last (as for the standalone consumers), and the time
/// from creating the members to the first record (joining the group).
fn group_rate(addr: &str, group: &str, names: &str, ids: &[u32], total: u64) -> (f64, Duration) {
    // A new group each time: a group that already committed would resume at the end.
    let members: Vec<GroupConsumer> = (0..MEMBERS).map(|i| member(addr, group, names, &format!("m{i}"))).collect();
    let members = Arc::new(members);
    let got = Arc::new(AtomicU64::new(0));
    let created = Instant::now();
    let first = Arc::new(parking_lot::Mutex::new(None::<Instant>));
    let threads: Vec<_> = (0..MEMBERS)
        .map(|k| {
            let (members, got, first) = (members.clone(), got.clone(), first.clone());
            std::thread::spawn(move || {
                while got.load(Ordering::Relaxed) < total {
                    let events = members[k].poll(Duration::from_millis(20)).unwrap();
                    let n = events.iter().filter(|e| matches!(e, GroupEvent::Record { .. })).count();
                    if n > 0 {
                        first.lock().get_or_insert_with(Instant::now);
                    }
                    got.fetch_add(n as u64, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let t0 = first.lock().expect("records were consumed");
    let rate = total as f64 / t0.elapsed().as_secs_f64();
    let join = t0 - created;
    let all: Vec<&GroupConsumer> = members.iter().collect();
    assert_eq!(owners(&all), ids, "every topic has one owner");
    for m in members.iter() {
        m.close(Duration::from_secs(5)).unwrap();
    }
    (rate, join)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let records = env_u64("LNC_BENCH_GROUP_RECORDS", 1_200_000);
    let rounds = env_u64("LNC_BENCH_GROUP_ROUNDS", 3);
    let mock = MockBroker::start(MockConfig { ack_delay: Duration::from_millis(1), ..Default::default() }).unwrap();
    let addr = mock.address_string();
    let names: Vec<String> = (0..TOPICS).map(|i| format!("bench-{i}")).collect();
    let ids: Vec<u32> = names.iter().map(|n| mock.create_topic(n).unwrap()).collect();
    let per_topic = records / TOPICS as u64;
    let total = per_topic * TOPICS as u64;
    fill(&addr, &ids, per_topic);

    // Alternate the two so that neither always runs on a warmer machine.
    let (mut s_rates, mut g_rates, mut joins) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..rounds {
        let group = format!("bench{r}");
        // Alternate the order so that neither always runs on a warmer machine.
        if r % 2 == 0 {
            s_rates.push(standalone_rate(&addr, &ids, total));
            let (g, j) = group_rate(&addr, &group, &names.join(","), &ids, total);
            g_rates.push(g);
            joins.push(j);
        } else {
            let (g, j) = group_rate(&addr, &group, &names.join(","), &ids, total);
            g_rates.push(g);
            joins.push(j);
            s_rates.push(standalone_rate(&addr, &ids, total));
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let (s, g) = (median(&mut s_rates), median(&mut g_rates));
    println!("group consume ({total} records of 100 B over {TOPICS} topics, {MEMBERS} threads; median of {rounds})");
    println!("  standalone x{TOPICS}   {:>12.0} rec/s", s);
    println!("  group of {MEMBERS}        {:>12.0} rec/s   ({:.0} % of standalone; target >= 90 %)", g, 100.0 * g / s);
    joins.sort();
    println!(
        "  (rates from the first record to the last; joining the group took {:?} median before the first)",
        joins[joins.len() / 2]
    );

    // Handover after a crash.
    let survivors_ids: Vec<String> = (0..MEMBERS).map(|i| format!("h{i}")).collect();
    let mut handovers = Vec::new();
    for round in 0..rounds {
        let ms: Vec<GroupConsumer> = survivors_ids
            .iter()
            .map(|id| member(&addr, "handover", &names.join(","), &format!("{id}-{round}")))
            .collect();
        let refs: Vec<&GroupConsumer> = ms.iter().collect();
        wait_for(|| owners(&refs) == ids && refs.iter().all(|m| !m.assignment().is_empty()));
        let victim_topics: BTreeSet<u32> = ms[0].assignment().into_iter().collect();
        let t0 = Instant::now();
        ms[0].crash();
        let rest: Vec<&GroupConsumer> = ms[1..].iter().collect();
        wait_for(|| {
            let owned: BTreeSet<u32> = rest.iter().flat_map(|m| m.assignment()).collect();
            victim_topics.is_subset(&owned)
        });
        handovers.push(t0.elapsed());
        for m in &ms {
            let _ = m.close(Duration::from_secs(5));
        }
    }
    handovers.sort();
    println!(
        "handover after a crash (session {SESSION_MS} ms, heartbeat {HEARTBEAT_MS} ms; target <= {} ms)",
        SESSION_MS + 2 * HEARTBEAT_MS
    );
    println!(
        "  min {:?}  median {:?}  max {:?}",
        handovers[0],
        handovers[handovers.len() / 2],
        handovers[handovers.len() - 1]
    );
}

fn wait_for(mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < Duration::from_secs(60), "not reached within 60 s");
        std::thread::sleep(Duration::from_millis(1));
    }
}
