//! A minimal statistics document, until the statistics work (issue #17, second half) provides
//! `statistics_json` on each handle with the full, versioned schema. It says what the events
//! side knows: the handle kind, the circuit state and how many events of each kind were raised.

use super::{EventKind, Events};

/// `{"version":1,"handle":…,"circuit":…,"events":{…}}`.
pub(crate) fn minimal_json(handle: &str, events: &Events) -> String {
    let counts: Vec<String> = EventKind::ALL.iter().map(|k| format!("\"{}\":{}", k.name(), events.count(*k))).collect();
    format!(
        "{{\"version\":1,\"handle\":\"{handle}\",\"circuit\":\"{}\",\"events\":{{{}}}}}",
        events.circuit_state().name(),
        counts.join(",")
    )
}
