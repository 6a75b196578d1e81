//! Assignment strategies: which live member owns which topic (docs/groups.md §3). Pure and
//! deterministic: the same inputs give the same map on every member.

use std::collections::{BTreeMap, BTreeSet};

/// How topics are spread over members (`group.assignment.strategy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Balanced (counts differ by at most one) and moving as few topics as possible: every member
    /// keeps what it had, up to its share; only the rest moves. The default.
    Sticky,
    /// Topics sorted by id, cut into one contiguous range per member (members sorted by id; the
    /// first `topics % members` get one more).
    Range,
    /// Topic `i` (in id order) goes to member `i % members` (members sorted by id).
    RoundRobin,
}

impl Strategy {
    /// Parses a `group.assignment.strategy` value.
    pub fn parse(s: &str) -> Option<Strategy> {
        match s {
            "sticky" => Some(Strategy::Sticky),
            "range" => Some(Strategy::Range),
            "roundrobin" => Some(Strategy::RoundRobin),
            _ => None,
        }
    }
}

/// The owner of every topic. `previous` is the last assignment (used by [`Strategy::Sticky`]).
/// No members: nobody owns anything.
pub fn assign(
    strategy: Strategy,
    topics: &BTreeSet<u32>,
    members: &BTreeSet<String>,
    previous: &BTreeMap<u32, String>,
) -> BTreeMap<u32, String> {
    let mut out = BTreeMap::new();
    if members.is_empty() {
        return out;
    }
    let ms: Vec<&String> = members.iter().collect();
    let k = ms.len();
    let n = topics.len();
    match strategy {
        Strategy::RoundRobin => {
            for (i, t) in topics.iter().enumerate() {
                out.insert(*t, ms[i % k].clone());
            }
        }
        Strategy::Range => {
            let (base, extra) = (n / k, n % k);
            let mut it = topics.iter();
            for (i, m) in ms.iter().enumerate() {
                for _ in 0..base + usize::from(i < extra) {
                    out.insert(*it.next().expect("counts add up to n"), (*m).clone());
                }
            }
        }
        Strategy::Sticky => {
            let (floor, mut ceil_slots) = (n / k, n % k);
            let mut count: BTreeMap<&String, usize> = ms.iter().map(|m| (*m, 0)).collect();
            // Everyone keeps up to `floor` of its previous topics (lowest ids first)...
            let mut overflow: BTreeMap<&String, Vec<u32>> = BTreeMap::new();
            for t in topics {
                if let Some(owner) = previous.get(t).and_then(|o| members.get(o)) {
                    let c = count.get_mut(owner).expect("members are counted");
                    if *c < floor {
                        *c += 1;
                        out.insert(*t, owner.clone());
                    } else {
                        overflow.entry(owner).or_default().push(*t);
                    }
                }
            }
            // ...then one more while the topics-per-member remainder allows it (members by id).
            for (owner, extra) in &overflow {
                if ceil_slots > 0 {
                    ceil_slots -= 1;
                    *count.get_mut(owner).unwrap() += 1;
                    out.insert(extra[0], (*owner).clone());
                }
            }
            // The rest go, in id order, to whoever has fewest (ties: the smallest id).
            for t in topics {
                if !out.contains_key(t) {
                    let (m, c) = count.iter_mut().min_by_key(|(m, c)| (**c, **m)).expect("members is not empty");
                    *c += 1;
                    out.insert(*t, (*m).clone());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set<T: Ord + Clone>(v: &[T]) -> BTreeSet<T> {
        v.iter().cloned().collect()
    }
    fn members(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn range_and_roundrobin_follow_their_formulas() {
        let t = set(&[10, 11, 12, 13, 14]);
        let m = members(&["a", "b"]);
        let r = assign(Strategy::Range, &t, &m, &BTreeMap::new());
        let owners: Vec<&str> = r.values().map(|s| s.as_str()).collect();
        assert_eq!(owners, ["a", "a", "a", "b", "b"]);
        let rr = assign(Strategy::RoundRobin, &t, &m, &BTreeMap::new());
        let owners: Vec<&str> = rr.values().map(|s| s.as_str()).collect();
        assert_eq!(owners, ["a", "b", "a", "b", "a"]);
    }

    #[test]
    fn sticky_moves_only_the_dead_members_topics() {
        let t: BTreeSet<u32> = (0..12).collect();
        let three = assign(Strategy::Sticky, &t, &members(&["a", "b", "c"]), &BTreeMap::new());
        let two = assign(Strategy::Sticky, &t, &members(&["a", "c"]), &three);
        for (topic, owner) in &three {
            if owner != "b" {
                assert_eq!(&two[topic], owner, "topic {topic} moved although its owner stayed");
            }
        }
        let back = assign(Strategy::Sticky, &t, &members(&["a", "b", "c"]), &two);
        let moved = back.iter().filter(|(t, o)| two[*t] != **o).count();
        assert_eq!(moved, 4, "a joining member takes exactly its share");
    }

    #[test]
    fn no_members_no_owners() {
        assert!(assign(Strategy::Sticky, &set(&[1]), &BTreeSet::new(), &BTreeMap::new()).is_empty());
    }
}
