//! Consumer groups against the embedded mock broker: sharing, failover, at-least-once under
//! crashes, disconnects and broker restarts, and public calls racing close (docs/groups.md).
//!
//! The soak's size comes from the environment (RELIABILITY.md §groups has the long rerun):
//! `LNC_GROUP_SOAK_RECORDS` (default 120000), `LNC_GROUP_SOAK_CHANGES` (default 12),
//! `LNC_GROUP_SOAK_SEED` (the schedule of changes; printed by the run).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lnc::group::{GroupConsumer, GroupEvent};
use lnc::mock::{MockBroker, MockConfig};
use lnc::producer::{Message, Producer};
use lnc::{Config, ErrorCode};
use parking_lot::Mutex;

const SESSION_MS: u64 = 1000;
const HEARTBEAT_MS: u64 = 100;
const COMMIT_MS: u64 = 200;
const MAX_POLL: u64 = 500;

fn bounded<F: FnOnce() + Send + 'static>(secs: u64, f: F) {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let h = std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => h.join().unwrap(),
        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
            if let Err(p) = h.join() {
                std::panic::resume_unwind(p);
            }
        }
        Err(_) => panic!("test did not finish within {secs} s"),
    }
}

fn env_u64(k: &str, d: u64) -> u64 {
    std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d)
}

fn member_config(addr: &str, group: &str, topics: &[String], id: &str) -> Config {
    let joined = topics.join(",");
    Config::from_pairs([
        ("bootstrap.servers", addr),
        ("group.id", group),
        ("group.member.id", id),
        ("group.topics", joined.as_str()),
        ("group.session.timeout.ms", &SESSION_MS.to_string()),
        ("group.heartbeat.interval.ms", &HEARTBEAT_MS.to_string()),
        ("group.commit.interval.ms", &COMMIT_MS.to_string()),
        ("max.poll.records", &MAX_POLL.to_string()),
        ("fetch.max.wait.ms", "10"),
        ("reconnect.backoff.ms", "10"),
        ("reconnect.backoff.max.ms", "200"),
    ])
    .unwrap()
}

fn make_topics(mock: &MockBroker, n: usize, tag: &str) -> (Vec<String>, Vec<u32>) {
    let names: Vec<String> = (0..n).map(|i| format!("{tag}-{i}")).collect();
    let ids = names.iter().map(|n| mock.create_topic(n).unwrap()).collect();
    (names, ids)
}

/// What every member instance processed: per topic, in delivery order, (sequence number,
/// instance, holding: how many times that instance had been assigned the topic).
#[derive(Default)]
struct Ledger {
    seen: HashMap<u32, Vec<(u64, u64, u64)>>,
}

/// Polls a member until it is closed, recording every record in the ledger. The record value is
/// the sequence number (u64 LE) within its topic.
fn worker(g: Arc<GroupConsumer>, instance: u64, ledger: Arc<Mutex<Ledger>>) -> std::thread::JoinHandle<()> {
    let mut holding: HashMap<u32, u64> = HashMap::new();
    std::thread::spawn(move || loop {
        match g.poll(Duration::from_millis(50)) {
            Ok(events) => {
                let mut l = ledger.lock();
                for e in events {
                    match e {
                        GroupEvent::Record { topic_id, record } => {
                            let seq = u64::from_le_bytes(record.value[..8].try_into().unwrap());
                            let h = holding[&topic_id];
                            l.seen.entry(topic_id).or_default().push((seq, instance, h));
                        }
                        GroupEvent::Assigned(topics) => {
                            for t in topics {
                                *holding.entry(t).or_default() += 1;
                            }
                        }
                        _ => {}
                    }
                }
            }
            Err(e) if e.code == ErrorCode::Closed => return,
            Err(e) => panic!("poll failed: {e}"),
        }
    })
}

/// Produces `seqs` to every topic, spread evenly over `spread` so that records keep flowing while
/// members come and go.
fn produce(addr: &str, ids: &[u32], seqs: std::ops::Range<u64>, spread: Duration) -> std::thread::JoinHandle<()> {
    let cfg = Config::from_pairs([("bootstrap.servers", addr), ("linger.ms", "2")]).unwrap();
    let ids = ids.to_vec();
    std::thread::spawn(move || {
        let p = Producer::new(&cfg).unwrap();
        let t0 = Instant::now();
        let (first, n) = (seqs.start, (seqs.end - seqs.start).max(1));
        for seq in seqs {
            if seq % 100 == 0 {
                let due = spread.mul_f64((seq - first) as f64 / n as f64);
                if let Some(ahead) = due.checked_sub(t0.elapsed()) {
                    std::thread::sleep(ahead);
                }
            }
            for &t in &ids {
                p.send(t, &Message::raw(&seq.to_le_bytes()), 0).unwrap();
            }
            if seq % 2000 == 0 {
                let _ = p.poll_reports(usize::MAX, Duration::ZERO);
            }
        }
        assert_eq!(p.flush(Duration::from_secs(60)).unwrap(), 0);
        for r in p.poll_reports(usize::MAX, Duration::ZERO) {
            assert!(r.error.is_none(), "a record failed: {:?}", r.error);
        }
        p.close(Duration::from_secs(5)).unwrap();
    })
}

/// Waits until the live members' assignments cover `ids` with exactly one owner each; returns
/// how long that took.
fn converge(members: &[Arc<GroupConsumer>], ids: &[u32], limit: Duration) -> Duration {
    let t0 = Instant::now();
    loop {
        let mut owners: BTreeMap<u32, usize> = BTreeMap::new();
        for m in members {
            for t in m.assignment() {
                *owners.entry(t).or_default() += 1;
            }
        }
        let want: BTreeSet<u32> = ids.iter().copied().collect();
        let owned: BTreeSet<u32> = owners.keys().copied().collect();
        if owned == want && owners.values().all(|&n| n == 1) {
            return t0.elapsed();
        }
        assert!(t0.elapsed() < limit, "no single owner per topic after {limit:?}: {owners:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn members_share_topics_and_a_leaving_member_hands_over_at_once() {
    bounded(60, || {
        let mock = MockBroker::start(MockConfig { ack_delay: Duration::ZERO, ..Default::default() }).unwrap();
        let addr = mock.address_string();
        let (names, ids) = make_topics(&mock, 4, "share");
        let a = Arc::new(GroupConsumer::new(&member_config(&addr, "g1", &names, "a")).unwrap());
        let b = Arc::new(GroupConsumer::new(&member_config(&addr, "g1", &names, "b")).unwrap());
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let wa = worker(a.clone(), 1, ledger.clone());
        let wb = worker(b.clone(), 2, ledger.clone());
        // Sticky balances 4 topics over 2 members (after a first generation where `a` was alone).
        let t0 = Instant::now();
        while a.assignment().len() != 2 || b.assignment().len() != 2 {
            assert!(t0.elapsed() < Duration::from_secs(20), "{:?} / {:?}", a.assignment(), b.assignment());
            std::thread::sleep(Duration::from_millis(5));
        }
        converge(&[a.clone(), b.clone()], &ids, Duration::from_secs(20));
        produce(&addr, &ids, 0..1000, Duration::ZERO).join().unwrap();
        wait_all_seen(&ledger, &ids, 1000, Duration::from_secs(20));
        // A clean leave commits what was handed out and releases at once: no duplicates.
        a.close(Duration::from_secs(10)).unwrap();
        wa.join().unwrap();
        let handover = converge(std::slice::from_ref(&b), &ids, Duration::from_secs(20));
        assert!(handover < Duration::from_millis(SESSION_MS), "a leave does not wait for the session timeout");
        produce(&addr, &ids, 1000..2000, Duration::ZERO).join().unwrap();
        wait_all_seen(&ledger, &ids, 2000, Duration::from_secs(20));
        b.close(Duration::from_secs(10)).unwrap();
        wb.join().unwrap();
        let (dups, _) = duplicates(&ledger.lock());
        assert_eq!(dups, 0, "graceful handover after the records were processed re-delivers nothing");
        assert_eq!(a.metrics().fenced_commits, 0);
    });
}

fn wait_all_seen(ledger: &Mutex<Ledger>, ids: &[u32], per_topic: u64, limit: Duration) {
    let t0 = Instant::now();
    loop {
        let missing: u64 = {
            let l = ledger.lock();
            ids.iter()
                .map(|t| {
                    let got: BTreeSet<u64> = l.seen.get(t).map(|v| v.iter().map(|x| x.0).collect()).unwrap_or_default();
                    per_topic - got.range(..per_topic).count() as u64
                })
                .sum()
        };
        if missing == 0 {
            return;
        }
        assert!(t0.elapsed() < limit, "{missing} records never processed after {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// (duplicate deliveries, duplicates delivered twice by the same instance).
fn duplicates(l: &Ledger) -> (u64, u64) {
    let (mut dups, mut same) = (0, 0);
    for v in l.seen.values() {
        let mut by_seq: HashMap<u64, Vec<u64>> = HashMap::new();
        for (seq, inst, _) in v {
            by_seq.entry(*seq).or_default().push(*inst);
        }
        for insts in by_seq.values() {
            dups += insts.len() as u64 - 1;
            let distinct: BTreeSet<_> = insts.iter().collect();
            same += (insts.len() - distinct.len()) as u64;
        }
    }
    (dups, same)
}

#[test]
fn soak_three_members_twelve_topics_with_crashes_disconnects_and_restarts() {
    let records = env_u64("LNC_GROUP_SOAK_RECORDS", 120_000);
    let changes = env_u64("LNC_GROUP_SOAK_CHANGES", 12);
    bounded(110 + records / 2_000, move || soak(records, changes));
}

fn soak(records: u64, changes: u64) {
    let mock = MockBroker::start(MockConfig { ack_delay: Duration::from_millis(1), ..Default::default() }).unwrap();
    let addr = mock.address_string();
    let (names, ids) = make_topics(&mock, 12, "soak");
    let per_topic = records / ids.len() as u64;
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let next_instance = AtomicU64::new(1);
    let start = |slot: usize| {
        let inst = next_instance.fetch_add(1, Ordering::Relaxed);
        let g =
            Arc::new(GroupConsumer::new(&member_config(&addr, "soak", &names, &format!("m{slot}-{inst}"))).unwrap());
        let w = worker(g.clone(), inst, ledger.clone());
        (g, w, inst)
    };
    let mut slots: Vec<_> = (0..3).map(start).collect();
    let producer = produce(&addr, &ids, 0..per_topic, Duration::from_millis(750 * changes));

    // Chaos: every change is a crash, a clean restart, a disconnect of every connection or a
    // broker restart, at pseudo-random moments while the records flow.
    let seed = env_u64("LNC_GROUP_SOAK_SEED", 0x9e37_79b9_7f4a_7c15) | 1;
    let mut rng = seed;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (mut crashes, mut leaves) = (0, 0);
    for _ in 0..changes {
        std::thread::sleep(Duration::from_millis(300 + next() % 900));
        let slot = (next() % 3) as usize;
        match next() % 4 {
            0 | 1 => {
                let (g, w, _) = std::mem::replace(&mut slots[slot], start(slot));
                g.crash();
                w.join().unwrap();
                crashes += 1;
            }
            2 => {
                let (g, w, _) = std::mem::replace(&mut slots[slot], start(slot));
                g.close(Duration::from_secs(10)).unwrap();
                w.join().unwrap();
                leaves += 1;
            }
            _ => {
                if next() % 2 == 0 {
                    mock.disconnect_all();
                } else {
                    mock.restart();
                }
            }
        }
    }
    let members: Vec<Arc<GroupConsumer>> = slots.iter().map(|s| s.0.clone()).collect();
    // After the last change every topic has exactly one owner within the session timeout plus
    // a heartbeat (the measured time is printed; the bound checked here is generous, the machine
    // is shared: `lnc bench group` measures it).
    let settle = converge(&members, &ids, Duration::from_secs(30));
    producer.join().unwrap();
    wait_all_seen(&ledger, &ids, per_topic, Duration::from_secs(60 + records / 10_000));
    for (g, w, _) in slots {
        g.close(Duration::from_secs(10)).unwrap();
        w.join().unwrap();
    }
    let l = ledger.lock();
    let (dups, same_instance) = duplicates(&l);
    let delivered: u64 = l.seen.values().map(|v| v.len() as u64).sum();
    let log = mock.topic_log(mock.topic_id_by_name("lnc-group-soak").unwrap()).unwrap();
    let accounted = check_handovers(&log, &l);
    eprintln!(
        "group soak: records {} delivered {delivered} duplicates {dups} (in flight at handovers {accounted}) \
         crashes {crashes} leaves {leaves} settle {settle:?} seed {seed}",
        per_topic * ids.len() as u64
    );
    assert_eq!(same_instance, 0, "a member never receives a record twice");
    assert!(dups <= accounted, "{dups} duplicates but only {accounted} records were in flight at handovers");
}

/// Size of one test record in its topic: a raw TLV header (5 bytes) and the u64 sequence number.
const RECORD_BYTES: u64 = 13;

/// Checks that every holding of a topic (an instance's n-th assignment of it) started exactly at
/// an accepted commit of that topic in the group log (or at 0 before any), and returns the records
/// that were in flight at those handovers: delivered earlier, at or past that start.
fn check_handovers(log: &[u8], l: &Ledger) -> u64 {
    use lnc::group::assign::Strategy;
    use lnc::group::{GroupRecord, GroupView};
    let mut view = GroupView::new(Strategy::Sticky, SESSION_MS);
    let mut accepted: HashMap<u32, BTreeSet<u64>> = HashMap::new();
    for r in lnc::wire::tlv::decode_all(log, true).unwrap() {
        view.apply(&GroupRecord::from_record(&r).unwrap());
        for (t, c) in &view.commits {
            accepted.entry(*t).or_default().insert(c.offset);
        }
    }
    let mut in_flight = 0;
    for (t, v) in &l.seen {
        let mut started: BTreeSet<(u64, u64)> = BTreeSet::new();
        for (i, (seq, inst, h)) in v.iter().enumerate() {
            if !started.insert((*inst, *h)) {
                continue;
            }
            let at = seq * RECORD_BYTES;
            assert!(
                at == 0 || accepted.get(t).is_some_and(|c| c.contains(&at)),
                "instance {inst} started topic {t} at offset {at}, which no accepted commit names"
            );
            in_flight += v[..i].iter().filter(|x| x.0 >= *seq).count() as u64;
        }
    }
    in_flight
}
