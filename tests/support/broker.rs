//! The embedded mock and a client configuration pointing at it, shared by the producer tests.

use std::time::Duration;

use lnc::mock::{MockBroker, MockConfig};
use lnc::Config;

/// A mock broker acknowledging after `ack_delay_ms` (its durability wait).
pub fn mock(ack_delay_ms: u64) -> MockBroker {
    MockBroker::start(MockConfig { ack_delay: Duration::from_millis(ack_delay_ms), ..MockConfig::default() }).unwrap()
}

/// A configuration for `m` with `extra` keys set.
pub fn config(m: &MockBroker, extra: &[(&str, &str)]) -> Config {
    let mut c = Config::new();
    c.set("bootstrap.servers", &m.address_string()).unwrap();
    for (k, v) in extra {
        c.set(k, v).unwrap();
    }
    c
}
