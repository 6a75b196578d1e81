//! The admin handle's statistics document: it has no traffic counters of its own, so it says
//! what the events side knows: the circuit state and how many events of each kind were raised
//! (schema in `docs/statistics.md`, "Admin").

use super::{EventKind, Events};

/// `{"version":1,"kind":"admin","timestamp_ms":…,"circuit":…,"events":{…}}`.
pub(crate) fn admin_json(events: &Events) -> String {
    let counts: Vec<String> = EventKind::ALL.iter().map(|k| format!("\"{}\":{}", k.name(), events.count(*k))).collect();
    format!(
        "{{\"version\":{},\"kind\":\"admin\",\"timestamp_ms\":{},\"circuit\":\"{}\",\"events\":{{{}}}}}",
        crate::stats::STATISTICS_VERSION,
        crate::stats::document::timestamp_ms(),
        events.circuit_state().name(),
        counts.join(",")
    )
}
