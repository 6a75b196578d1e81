//! Shared helpers of the interop suite, the side-by-side benchmark and the fault soak.
//!
//! This crate is dev-only (`publish = false`): it holds every heavy dependency (the official
//! crates.io `lnc-client` 0.2.8 and tokio) so that `cargo build -p lnc` stays small.

use std::time::Duration;

use lnc::mock::{MockBroker, MockConfig};
use lnc::Config;

/// xorshift64: deterministic, dependency-free randomness for tests and the soak.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// A generator from `seed` (0 is replaced by a fixed odd constant).
    pub fn new(seed: u64) -> Rng {
        Rng(if seed == 0 { 0x9e37_79b9_7f4a_7c15 } else { seed })
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// Starts an embedded mock broker on an ephemeral loopback port with the given ack delay.
pub fn mock(ack_delay: Duration) -> MockBroker {
    MockBroker::start(MockConfig { ack_delay, ..MockConfig::default() }).expect("start mock broker")
}

/// A liblnc configuration for `addr` plus `extra` key/value pairs (panics on a bad key: a test bug).
pub fn lnc_config(addr: &str, extra: &[(&str, &str)]) -> Config {
    let mut c = Config::new();
    c.set("bootstrap.servers", addr).expect("bootstrap.servers");
    for (k, v) in extra {
        c.set(k, v).unwrap_or_else(|e| panic!("config {k}={v}: {e}"));
    }
    c
}

/// A current-thread tokio runtime for driving the official async client from sync code.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

/// Peak resident set size of this process in KiB (`VmHWM` from /proc/self/status), 0 if unknown.
pub fn vm_hwm_kib() -> u64 {
    proc_status_kib("VmHWM:")
}

/// Current resident set size in KiB (`VmRSS`).
pub fn vm_rss_kib() -> u64 {
    proc_status_kib("VmRSS:")
}

fn proc_status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Percentile (0..=100) of an unsorted sample, by nearest rank; 0 for an empty sample.
pub fn percentile(samples: &mut [u64], p: f64) -> u64 {
    if samples.is_empty() {
        return 0;
    }
    samples.sort_unstable();
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

/// Lower-case hex of `b`.
pub fn hex(b: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(H[(x >> 4) as usize] as char);
        s.push(H[(x & 15) as usize] as char);
    }
    s
}

/// Parses lower- or upper-case hex; `None` on odd length or a bad digit.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect()
}

/// Minimal `--flag value` argument access for the helper binaries (no clap: keep builds light).
#[derive(Clone, Debug)]
pub struct Args(pub Vec<String>);

impl Args {
    /// The process arguments after the program name.
    pub fn from_env() -> Args {
        Args(std::env::args().skip(1).collect())
    }
    /// The value after `name` (e.g. `--addr`), if present.
    pub fn value(&self, name: &str) -> Option<String> {
        self.0.iter().position(|a| a == name).and_then(|i| self.0.get(i + 1)).cloned()
    }
    /// All values after each occurrence of `name`.
    pub fn values(&self, name: &str) -> Vec<String> {
        self.0.iter().enumerate().filter(|(_, a)| *a == name).filter_map(|(i, _)| self.0.get(i + 1).cloned()).collect()
    }
    /// Whether the bare flag `name` is present.
    pub fn flag(&self, name: &str) -> bool {
        self.0.iter().any(|a| a == name)
    }
    /// A parsed numeric value with a default; accepts `_` separators and k/m suffixes (1k, 10m).
    pub fn num(&self, name: &str, default: u64) -> u64 {
        self.value(name)
            .map(|v| parse_num(&v).unwrap_or_else(|| panic!("bad number for {name}: {v}")))
            .unwrap_or(default)
    }
}

/// Parses `1000`, `1_000`, `100k`, `10m`.
pub fn parse_num(s: &str) -> Option<u64> {
    let s = s.replace('_', "").to_ascii_lowercase();
    let (digits, mult) = match s.strip_suffix('k') {
        Some(d) => (d.to_string(), 1_000),
        None => match s.strip_suffix('m') {
            Some(d) => (d.to_string(), 1_000_000),
            None => (s.clone(), 1),
        },
    };
    digits.parse::<u64>().ok().map(|v| v * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(unhex(&hex(b"\x00\xffab")).unwrap(), b"\x00\xffab");
        assert_eq!(parse_num("10m"), Some(10_000_000));
        assert_eq!(parse_num("1_000"), Some(1000));
        let mut v = vec![5, 1, 3, 2, 4];
        assert_eq!(percentile(&mut v, 50.0), 3);
        assert_eq!(percentile(&mut v, 100.0), 5);
        assert!(vm_hwm_kib() > 0);
    }
}
