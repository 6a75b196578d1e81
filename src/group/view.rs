//! The group's state machine (docs/groups.md §3–§5): every member feeds it the same group log and
//! derives the same view, and [`plan`] turns that view plus the member's own state and clock into
//! actions. Pure: no locks, no I/O, no clock (time comes from record timestamps and from the
//! `now_ms` argument of [`plan`]).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::assign::{assign, Strategy};
use super::record::{Body, GroupRecord};

/// How many past generations' assignments are kept to interpret late acknowledgements. An ack of
/// an older generation releases nothing (the owner's next ack or its session expiry does).
pub const HISTORY: usize = 64;

/// A live member as the log shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberState {
    /// Newest timestamp among its join and heartbeat records.
    pub last_heartbeat_ms: u64,
    /// Topics it subscribes to (from its latest join).
    pub topics: BTreeSet<u32>,
    /// Newest generation it acknowledged.
    pub acked: u64,
}

/// Who may consume a topic right now: granted when the topic's owner in `since` found it free.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// The member.
    pub member: String,
    /// The generation in which it was granted.
    pub since: u64,
}

/// The newest accepted commit of a topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    /// The next offset to read.
    pub offset: u64,
    /// Who wrote it.
    pub member: String,
}

/// What every member derives from the group log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupView {
    strategy: Strategy,
    session_timeout_ms: u64,
    /// The newest record timestamp seen: the log's own clock.
    pub log_time_ms: u64,
    /// Live members by id.
    pub members: BTreeMap<String, MemberState>,
    /// Bumped whenever the live members or the union of their topics change.
    pub generation: u64,
    /// Owner of every topic in the current generation.
    pub assignment: BTreeMap<u32, String>,
    history: VecDeque<(u64, BTreeMap<u32, String>)>,
    /// Who may consume each topic (at most one member per topic, by construction).
    pub holders: BTreeMap<u32, Holder>,
    /// The newest accepted commit of each topic, whoever wrote it.
    pub commits: BTreeMap<u32, Commit>,
    basis: (BTreeSet<String>, BTreeSet<u32>),
    /// Commits refused by the fence (writer was not the topic's holder in its generation).
    pub fenced_commits: u64,
}

impl GroupView {
    /// An empty view (generation 0, nobody alive).
    pub fn new(strategy: Strategy, session_timeout_ms: u64) -> GroupView {
        GroupView {
            strategy,
            session_timeout_ms,
            log_time_ms: 0,
            members: BTreeMap::new(),
            generation: 0,
            assignment: BTreeMap::new(),
            history: VecDeque::new(),
            holders: BTreeMap::new(),
            commits: BTreeMap::new(),
            basis: (BTreeSet::new(), BTreeSet::new()),
            fenced_commits: 0,
        }
    }

    /// The session timeout the view expires members with.
    pub fn session_timeout_ms(&self) -> u64 {
        self.session_timeout_ms
    }

    /// The assignment of generation `g`, if it is still remembered.
    pub fn assignment_of(&self, g: u64) -> Option<&BTreeMap<u32, String>> {
        if g == self.generation {
            return Some(&self.assignment);
        }
        self.history.iter().find(|(h, _)| *h == g).map(|(_, a)| a)
    }

    /// Applies the next record of the log.
    pub fn apply(&mut self, rec: &GroupRecord) {
        let t = rec.timestamp_ms;
        if t > self.log_time_ms {
            self.log_time_ms = t;
            let limit = self.log_time_ms;
            let timeout = self.session_timeout_ms;
            let expired: Vec<String> = self
                .members
                .iter()
                .filter(|(_, m)| m.last_heartbeat_ms.saturating_add(timeout) < limit)
                .map(|(id, _)| id.clone())
                .collect();
            for id in expired {
                self.remove(&id);
            }
        }
        let fresh = t.saturating_add(self.session_timeout_ms) >= self.log_time_ms;
        match &rec.body {
            Body::Join { topics } => {
                if fresh {
                    let topics: BTreeSet<u32> = topics.iter().copied().collect();
                    let m = self.members.entry(rec.member.clone()).or_insert(MemberState {
                        last_heartbeat_ms: t,
                        topics: BTreeSet::new(),
                        acked: 0,
                    });
                    m.last_heartbeat_ms = m.last_heartbeat_ms.max(t);
                    m.topics = topics;
                }
            }
            Body::Heartbeat => {
                if let Some(m) = self.members.get_mut(&rec.member) {
                    m.last_heartbeat_ms = m.last_heartbeat_ms.max(t);
                }
            }
            Body::Leave => self.remove(&rec.member),
            Body::Ack => self.ack(&rec.member, rec.generation),
            Body::Commit { topic_id, offset } => {
                let allowed =
                    self.holders.get(topic_id).is_some_and(|h| h.member == rec.member && rec.generation >= h.since);
                if allowed {
                    self.commits.insert(*topic_id, Commit { offset: *offset, member: rec.member.clone() });
                } else {
                    self.fenced_commits += 1;
                }
            }
        }
        self.next_generation_if_changed();
        self.grant();
    }

    fn remove(&mut self, id: &str) {
        if self.members.remove(id).is_some() {
            self.holders.retain(|_, h| h.member != id);
        }
    }

    fn ack(&mut self, id: &str, g: u64) {
        if g > self.generation {
            return; // a generation nobody has computed: ignore
        }
        let Some(m) = self.members.get_mut(id) else { return };
        m.acked = m.acked.max(g);
        let Some(assigned) = self.assignment_of(g).cloned() else { return };
        self.holders.retain(|topic, h| h.member != id || assigned.get(topic).is_some_and(|o| o == id));
    }

    fn next_generation_if_changed(&mut self) {
        let live: BTreeSet<String> = self.members.keys().cloned().collect();
        let topics: BTreeSet<u32> = self.members.values().flat_map(|m| m.topics.iter().copied()).collect();
        if (&live, &topics) == (&self.basis.0, &self.basis.1) {
            return;
        }
        let next = assign(self.strategy, &topics, &live, &self.assignment);
        let old = std::mem::replace(&mut self.assignment, next);
        self.history.push_front((self.generation, old));
        self.history.truncate(HISTORY);
        self.generation += 1;
        self.basis = (live, topics);
    }

    fn grant(&mut self) {
        for (topic, owner) in &self.assignment {
            self.holders.entry(*topic).or_insert_with(|| Holder { member: owner.clone(), since: self.generation });
        }
    }

    /// The topics `member` may consume now: assigned to it and held by it.
    pub fn runnable(&self, member: &str) -> BTreeSet<u32> {
        self.assignment
            .iter()
            .filter(|(t, o)| *o == member && self.holders.get(t).is_some_and(|h| h.member == member))
            .map(|(t, _)| *t)
            .collect()
    }
}

/// What one member has done so far (kept by its runtime, updated as it performs actions).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Local {
    /// Topics it is consuming.
    pub running: BTreeSet<u32>,
    /// Newest generation it acknowledged (reset by a join: a new life acknowledges anew).
    pub acked: u64,
    /// When it last wrote an ack (its clock, ms).
    pub ack_sent_ms: Option<u64>,
    /// When it last wrote a heartbeat (its clock, ms).
    pub last_heartbeat_sent_ms: Option<u64>,
    /// When it last wrote a join (its clock, ms).
    pub join_sent_ms: Option<u64>,
    /// The topic list of its last join.
    pub joined_topics: Vec<u32>,
}

/// One step for a member's runtime, in the order given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Write a join record listing these topics.
    Join(Vec<u32>),
    /// Write a heartbeat record.
    Heartbeat,
    /// Stop consuming the topic and write its commit (before any later Ack).
    Stop(u32),
    /// Write an ack of this generation (every Stop before it is done).
    Ack(u64),
    /// Start consuming the topic at the newest commit (`None`: there is none).
    Start(u32, Option<u64>),
}

/// Timing of a member (`group.heartbeat.interval.ms`; `fence_margin_ms` is how long before its
/// session would expire in the log that a member stops consuming by itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Heartbeat period.
    pub heartbeat_interval_ms: u64,
    /// Self-fencing margin (the runtime uses one heartbeat interval).
    pub fence_margin_ms: u64,
}

/// True while `member` may consume: it is live in the view and, by its own clock, its newest
/// heartbeat in the log is younger than the session timeout minus the margin. Other members
/// expire it only once the log's clock passes the full timeout, so a member that stops hearing
/// itself stops consuming before anyone else may start its topics.
pub fn is_live(view: &GroupView, member: &str, now_ms: u64, timing: Timing) -> bool {
    view.members.get(member).is_some_and(|m| {
        now_ms.saturating_add(timing.fence_margin_ms) < m.last_heartbeat_ms.saturating_add(view.session_timeout_ms)
    })
}

/// The actions `member` should take now. `topics` is what it subscribes to (sorted).
pub fn plan(view: &GroupView, member: &str, topics: &[u32], local: &Local, now_ms: u64, timing: Timing) -> Vec<Action> {
    let mut out = Vec::new();
    let known = view.members.get(member);
    let rejoin = match local.join_sent_ms {
        None => true,
        Some(_) if local.joined_topics != topics => true,
        // Not in the view a session after joining: expired, or the join was lost.
        Some(j) => known.is_none() && now_ms >= j.saturating_add(view.session_timeout_ms),
    };
    let heartbeat_due =
        local.last_heartbeat_sent_ms.map_or(true, |h| now_ms >= h.saturating_add(timing.heartbeat_interval_ms));
    if rejoin {
        out.push(Action::Join(topics.to_vec()));
    } else if known.is_some() && heartbeat_due {
        out.push(Action::Heartbeat);
    }
    let should: BTreeSet<u32> =
        if is_live(view, member, now_ms, timing) { view.runnable(member) } else { BTreeSet::new() };
    for t in local.running.difference(&should) {
        out.push(Action::Stop(*t));
    }
    // An ack that has not shown up in the log a session after it was written was lost: again.
    let ack_lost = known.is_some_and(|m| m.acked < local.acked)
        && local.ack_sent_ms.is_some_and(|a| now_ms >= a.saturating_add(view.session_timeout_ms));
    if known.is_some() && (view.generation > local.acked || ack_lost) {
        out.push(Action::Ack(view.generation));
    }
    // Start only from a view that includes every ack this member wrote: its own ack can release
    // a topic it still holds at an earlier position of the log (the ack of generation g releases
    // what g does not assign it, even if a later generation the member has already read does).
    let own_acks_seen = known.is_some_and(|m| m.acked >= local.acked);
    if own_acks_seen {
        for t in should.difference(&local.running) {
            out.push(Action::Start(*t, view.commits.get(t).map(|c| c.offset)));
        }
    }
    out
}

/// Updates `local` as if every action had been performed at `now_ms`.
pub fn performed(local: &mut Local, actions: &[Action], now_ms: u64) {
    for a in actions {
        match a {
            Action::Join(topics) => {
                local.join_sent_ms = Some(now_ms);
                local.last_heartbeat_sent_ms = Some(now_ms);
                local.joined_topics = topics.clone();
                local.acked = 0;
            }
            Action::Heartbeat => local.last_heartbeat_sent_ms = Some(now_ms),
            Action::Stop(t) => {
                local.running.remove(t);
            }
            Action::Ack(g) => {
                local.acked = local.acked.max(*g);
                local.ack_sent_ms = Some(now_ms);
            }
            Action::Start(t, _) => {
                local.running.insert(*t);
            }
        }
    }
}
