//! Property tests of the group state machine (src/group/view.rs, assign.rs) against simple
//! reference models, with no broker and no threads: several simulated members share one log,
//! each reading it with its own lag, writing through its own delayed outbox, crashing,
//! restarting and being partitioned, on one clock.
//!
//! Properties:
//! - never two members consuming one topic at once (generation fencing + self-fencing);
//! - every member fed the same log derives the same view;
//! - once faults stop, every topic is consumed by exactly one live member;
//! - assignments are balanced (sticky, range) and follow the reference formulas.

use std::collections::{BTreeMap, BTreeSet};

use lnc::group::assign::{assign, Strategy as Assignment};
use lnc::group::record::{Body, GroupRecord};
use lnc::group::view::{performed, plan, Action, GroupView, Local, Timing};
use proptest::prelude::*;

const T: u64 = 1000;
const HB: u64 = 100;
const TIMING: Timing = Timing { heartbeat_interval_ms: HB, fence_margin_ms: HB };

#[derive(Clone, Debug)]
enum Step {
    /// Time passes (at most one fence margin, so every member ticks often enough).
    Advance(u64),
    /// Member slot `i` delivers up to `n` records of its outbox to the log.
    Deliver(usize, usize),
    /// Member slot `i` reads up to `n` new log records.
    Read(usize, usize),
    /// Member slot `i` crashes and a new member takes the slot.
    Crash(usize),
    /// Member slot `i` is cut off (no reads, no deliveries) or healed.
    TogglePartition(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (1..=HB).prop_map(Step::Advance),
        4 => (0..3usize, 1..6usize).prop_map(|(i, n)| Step::Deliver(i, n)),
        4 => (0..3usize, 1..12usize).prop_map(|(i, n)| Step::Read(i, n)),
        1 => (0..3usize).prop_map(Step::Crash),
        1 => (0..3usize).prop_map(Step::TogglePartition),
    ]
}

struct Member {
    id: String,
    view: GroupView,
    cursor: usize,
    local: Local,
    outbox: std::collections::VecDeque<GroupRecord>,
    partitioned: bool,
    /// Records this member processed per topic (its position), to write in commits.
    progress: BTreeMap<u32, u64>,
}

struct World {
    strategy: Assignment,
    now: u64,
    log: Vec<GroupRecord>,
    members: Vec<Member>,
    /// Outboxes of crashed members: what they wrote may still land.
    orphans: Vec<std::collections::VecDeque<GroupRecord>>,
    topics: Vec<u32>,
    next_id: u64,
}

impl World {
    fn new(strategy: Assignment, slots: usize, topics: usize) -> World {
        let mut w = World {
            strategy,
            now: 1_000_000,
            log: Vec::new(),
            members: Vec::new(),
            orphans: Vec::new(),
            topics: (1..=topics as u32).collect(),
            next_id: 0,
        };
        for _ in 0..slots {
            let m = w.fresh();
            w.members.push(m);
        }
        w
    }

    fn fresh(&mut self) -> Member {
        self.next_id += 1;
        Member {
            id: format!("m{}", self.next_id),
            view: GroupView::new(self.strategy, T),
            cursor: 0,
            local: Local::default(),
            outbox: Default::default(),
            partitioned: false,
            progress: BTreeMap::new(),
        }
    }

    /// One runtime tick of member `i`: plan, perform, write.
    fn tick(&mut self, i: usize) {
        let now = self.now;
        let m = &mut self.members[i];
        let actions = plan(&m.view, &m.id, &self.topics, &m.local, now, TIMING);
        let g = m.view.generation;
        for a in &actions {
            let (generation, body) = match a {
                Action::Join(t) => (g, Body::Join { topics: t.clone() }),
                Action::Heartbeat => (g, Body::Heartbeat),
                Action::Stop(t) => (g, Body::Commit { topic_id: *t, offset: m.progress.get(t).copied().unwrap_or(0) }),
                Action::Ack(acked) => (*acked, Body::Ack),
                Action::Start(t, offset) => {
                    m.progress.insert(*t, offset.unwrap_or(0));
                    continue;
                }
            };
            m.outbox.push_back(GroupRecord { member: m.id.clone(), generation, timestamp_ms: now, body });
        }
        performed(&mut m.local, &actions, now);
        for t in &m.local.running {
            *m.progress.entry(*t).or_default() += 1;
        }
    }

    fn apply(&mut self, s: &Step) {
        match *s {
            Step::Advance(d) => {
                self.now += d;
                for i in 0..self.members.len() {
                    self.tick(i);
                }
            }
            Step::Deliver(i, n) => {
                let m = &mut self.members[i];
                if !m.partitioned {
                    for _ in 0..n {
                        match m.outbox.pop_front() {
                            Some(r) => self.log.push(r),
                            None => break,
                        }
                    }
                }
                // Crashed members' last records land too, eventually.
                if let Some(o) = self.orphans.iter_mut().find(|o| !o.is_empty()) {
                    self.log.extend(o.pop_front());
                }
            }
            Step::Read(i, n) => {
                let m = &mut self.members[i];
                if !m.partitioned {
                    let end = (m.cursor + n).min(self.log.len());
                    for r in &self.log[m.cursor..end] {
                        m.view.apply(r);
                    }
                    m.cursor = end;
                }
                self.tick(i);
            }
            Step::Crash(i) => {
                let fresh = self.fresh();
                let old = std::mem::replace(&mut self.members[i], fresh);
                self.orphans.push(old.outbox);
            }
            Step::TogglePartition(i) => self.members[i].partitioned ^= true,
        }
    }

    fn check_exclusive(&self) -> Result<(), TestCaseError> {
        let mut owners: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
        for m in &self.members {
            for t in &m.local.running {
                owners.entry(*t).or_default().push(&m.id);
            }
        }
        for (t, o) in owners {
            prop_assert!(o.len() <= 1, "topic {} consumed by {:?} at {}", t, o, self.now);
        }
        Ok(())
    }

    /// Faults stop: deliver and read everything, tick for a while.
    fn heal(&mut self) {
        for m in &mut self.members {
            m.partitioned = false;
        }
        for _ in 0..(3 * T / HB) {
            self.now += HB / 2;
            for o in &mut self.orphans {
                self.log.extend(o.drain(..));
            }
            for i in 0..self.members.len() {
                let m = &mut self.members[i];
                self.log.extend(m.outbox.drain(..));
            }
            for i in 0..self.members.len() {
                let m = &mut self.members[i];
                for r in &self.log[m.cursor..] {
                    m.view.apply(r);
                }
                m.cursor = self.log.len();
                self.tick(i);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn fencing_never_lets_two_members_consume_one_topic(
        steps in prop::collection::vec(step(), 1..400),
        strategy in prop_oneof![Just(Assignment::Sticky), Just(Assignment::Range), Just(Assignment::RoundRobin)],
        topics in 1usize..8,
    ) {
        let mut w = World::new(strategy, 3, topics);
        for s in &steps {
            w.apply(s);
            w.check_exclusive()?;
        }
        w.heal();
        w.check_exclusive()?;
        // Same log, same view.
        let first = &w.members[0].view;
        for m in &w.members[1..] {
            prop_assert_eq!(&m.view, first);
        }
        // Converged: every topic consumed by exactly one live member.
        let mut owned: BTreeMap<u32, usize> = BTreeMap::new();
        for m in &w.members {
            for t in &m.local.running {
                *owned.entry(*t).or_default() += 1;
            }
        }
        let all: BTreeSet<u32> = w.topics.iter().copied().collect();
        prop_assert_eq!(owned.keys().copied().collect::<BTreeSet<_>>(), all);
        prop_assert!(owned.values().all(|&n| n == 1));
        prop_assert_eq!(first.members.len(), 3);
    }

    #[test]
    fn a_view_depends_only_on_the_log(
        steps in prop::collection::vec(step(), 1..200),
        cut in 0usize..1000,
    ) {
        // Feeding the log in two parts, or to a fresh view, gives the same result.
        let mut w = World::new(Assignment::Sticky, 3, 5);
        for s in &steps {
            w.apply(s);
        }
        let mut a = GroupView::new(Assignment::Sticky, T);
        let mut b = GroupView::new(Assignment::Sticky, T);
        let cut = cut.min(w.log.len());
        for r in &w.log[..cut] {
            a.apply(r);
        }
        let snapshot = a.clone();
        for r in &w.log[cut..] {
            a.apply(r);
        }
        for r in &w.log {
            b.apply(r);
        }
        prop_assert_eq!(&a, &b);
        // Generations only grow; holders are always assigned-or-releasing members of the view.
        prop_assert!(snapshot.generation <= a.generation);
        for h in a.holders.values() {
            prop_assert!(a.members.contains_key(&h.member));
        }
    }

    #[test]
    fn assignments_are_balanced_and_match_the_reference(
        topics in prop::collection::btree_set(0u32..40, 0..20),
        members in prop::collection::btree_set("[a-e][0-9]", 1..6),
        previous_members in prop::collection::btree_set("[a-e][0-9]", 1..6),
    ) {
        let ms: Vec<&String> = members.iter().collect();
        let ts: Vec<u32> = topics.iter().copied().collect();
        // Reference: round-robin and range by formula.
        let rr = assign(Assignment::RoundRobin, &topics, &members, &BTreeMap::new());
        for (i, t) in ts.iter().enumerate() {
            prop_assert_eq!(&rr[t], ms[i % ms.len()]);
        }
        let range = assign(Assignment::Range, &topics, &members, &BTreeMap::new());
        let (base, extra) = (ts.len() / ms.len(), ts.len() % ms.len());
        let mut i = 0;
        for (k, m) in ms.iter().enumerate() {
            for _ in 0..base + usize::from(k < extra) {
                prop_assert_eq!(&range[&ts[i]], *m);
                i += 1;
            }
        }
        // Sticky: balanced, total, and every surviving member keeps its share of what it had.
        let prev = assign(Assignment::Sticky, &topics, &previous_members, &BTreeMap::new());
        let sticky = assign(Assignment::Sticky, &topics, &members, &prev);
        prop_assert_eq!(sticky.keys().copied().collect::<BTreeSet<_>>(), topics.clone());
        let mut count: BTreeMap<&String, usize> = members.iter().map(|m| (m, 0)).collect();
        for o in sticky.values() {
            *count.get_mut(o).unwrap() += 1;
        }
        let (lo, hi) = (count.values().min().copied().unwrap_or(0), count.values().max().copied().unwrap_or(0));
        prop_assert!(hi - lo <= 1, "unbalanced: {:?}", count);
        let floor = ts.len() / ms.len();
        for m in &members {
            let had = prev.values().filter(|o| *o == m).count();
            let kept = prev.iter().filter(|(t, o)| *o == m && sticky[*t] == *m).count();
            prop_assert!(kept >= had.min(floor), "{} kept {} of {} (floor {})", m, kept, had, floor);
        }
    }
}
