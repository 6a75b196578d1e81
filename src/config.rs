//! String key/value configuration shared by every handle (design.md §5).
//!
//! Every key is declared once in [`KEYS`] with its type, default, range and meaning; `set`
//! validates against it, typed getters read it, and the README table is checked against it by a
//! test, so documentation and behaviour cannot drift apart.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::error::{Error, ErrorCode, Result};

/// Which handles read a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every handle (connection settings).
    Common,
    /// Producers.
    Producer,
    /// Consumers.
    Consumer,
}

impl Scope {
    /// Lower-case name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Common => "all",
            Scope::Producer => "producer",
            Scope::Consumer => "consumer",
        }
    }
}

/// The type and valid range of a key's value.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// Any UTF-8 string (possibly empty).
    Str,
    /// A comma-separated `host[:port]` list (default port 1992).
    Servers,
    /// An unsigned integer in `min..=max`.
    Int {
        /// Smallest allowed value.
        min: u64,
        /// Largest allowed value.
        max: u64,
    },
    /// A float in `min..=max`.
    Float {
        /// Smallest allowed value.
        min: f64,
        /// Largest allowed value.
        max: f64,
    },
    /// `true`/`false` (also `1`/`0`).
    Bool,
    /// One of the listed words.
    Enum(&'static [&'static str]),
}

impl Kind {
    /// Short type name for tables.
    pub fn type_name(&self) -> &'static str {
        match self {
            Kind::Str => "string",
            Kind::Servers => "host:port list",
            Kind::Int { .. } => "integer",
            Kind::Float { .. } => "float",
            Kind::Bool => "bool",
            Kind::Enum(_) => "enum",
        }
    }
}

/// One documented configuration key.
#[derive(Clone, Copy, Debug)]
pub struct KeyDef {
    /// Dotted lower-case name.
    pub name: &'static str,
    /// Value type and range.
    pub kind: Kind,
    /// Default value as a string (what `get` returns when unset).
    pub default: &'static str,
    /// Which handles read it.
    pub scope: Scope,
    /// One sentence: what it does.
    pub doc: &'static str,
    /// Never shown in dumps, logs or errors.
    pub secret: bool,
}

const fn key(name: &'static str, kind: Kind, default: &'static str, scope: Scope, doc: &'static str) -> KeyDef {
    KeyDef { name, kind, default, scope, doc, secret: false }
}

const MS_MAX: u64 = 24 * 3600 * 1000 * 365;
const MIB16: u64 = 16 * 1024 * 1024;

/// The server's default payload limit plus the header: the largest frame on the wire.
pub const DEFAULT_MAX_FRAME_BYTES: u64 = MIB16 + 44;

/// Every key liblnc understands.
pub const KEYS: &[KeyDef] = &[
    // --- connection (all handles) ---
    key("bootstrap.servers", Kind::Servers, "127.0.0.1:1992", Scope::Common,
        "Comma-separated host[:port] list (default port 1992); every address of every host is tried in turn."),
    key("client.id", Kind::Str, "liblnc", Scope::Common, "Free-form name of this client, used in logs and metrics."),
    key("checksum", Kind::Enum(&["crc32", "crc32c"]), "crc32", Scope::Common,
        "Frame checksum: crc32 (IEEE, what the deployed server speaks) or crc32c (the written spec; the deployed server refuses it)."),
    key("connect.timeout.ms", Kind::Int { min: 1, max: MS_MAX }, "10000", Scope::Common,
        "Timeout for one connect attempt: TCP connect, TLS handshake and authentication together."),
    key("request.timeout.ms", Kind::Int { min: 1, max: MS_MAX }, "30000", Scope::Common,
        "Deadline for a reply (control reply, Ack, keepalive reply); on expiry the connection is closed."),
    key("keepalive.interval.ms", Kind::Int { min: 0, max: MS_MAX }, "10000", Scope::Common,
        "Send a keepalive probe after this much idle time (0 = never); no reply within request.timeout.ms = dead connection."),
    key("reconnect.backoff.ms", Kind::Int { min: 1, max: MS_MAX }, "100", Scope::Common, "First reconnect delay; doubles per failed attempt."),
    key("reconnect.backoff.max.ms", Kind::Int { min: 1, max: MS_MAX }, "30000", Scope::Common, "Upper bound of the reconnect delay."),
    key("reconnect.jitter", Kind::Float { min: 0.0, max: 1.0 }, "0.1", Scope::Common, "Random +/- fraction applied to every reconnect delay."),
    KeyDef { name: "auth.token", kind: Kind::Str, default: "", scope: Scope::Common,
        doc: "Token sent with Authenticate first on every connection that ingests (empty = no authentication). Never logged.", secret: true },
    key("max.frame.bytes", Kind::Int { min: 44 + 1024, max: 1 << 31 }, "16777260", Scope::Common,
        "Largest frame sent or accepted, header included (the server's 16 MiB payload limit + 44)."),
    key("redirect.max", Kind::Int { min: 0, max: 100 }, "3", Scope::Common, "How many NOT_LEADER redirects one request may follow."),
    // --- TLS (all handles; needs a liblnc built with the cargo feature `tls`) ---
    key("security.protocol", Kind::Enum(&["plaintext", "tls"]), "plaintext", Scope::Common,
        "plaintext, or tls for every connection (bootstrap, redirects, producer, consumer, admin); tls needs a liblnc built with the cargo feature tls."),
    key("tls.ca.location", Kind::Str, "", Scope::Common,
        "PEM file or directory of PEM files with the CA certificates trusted for the server (empty = the platform's roots, loaded with the rustls-native-certs crate)."),
    key("tls.certificate.location", Kind::Str, "", Scope::Common,
        "PEM file with the client certificate chain for mutual TLS (with tls.key.location)."),
    key("tls.key.location", Kind::Str, "", Scope::Common,
        "PEM file with the client certificate's private key (PKCS#8, PKCS#1 or SEC1) for mutual TLS."),
    key("tls.server.name", Kind::Str, "", Scope::Common,
        "Name sent as SNI and verified against the server's certificate (empty = the host dialed, the redirect target's host after NOT_LEADER); set it when connecting by IP address."),
    key("tls.verify", Kind::Bool, "true", Scope::Common,
        "Verify the server's certificate chain and name; false is refused unless tls.insecure.acknowledged=true, and then warns on stderr at every connect."),
    key("tls.insecure.acknowledged", Kind::Bool, "false", Scope::Common,
        "Must be true for tls.verify=false to be accepted (the connection is then open to impersonation)."),
    // --- producer ---
    key("batch.size", Kind::Int { min: 1, max: MIB16 }, "32768", Scope::Producer, "Seal a topic's batch at this many payload bytes while its connection has nothing in flight: the low-load batch size (see batch.size.max)."),
    key("batch.size.max", Kind::Int { min: 1, max: MIB16 }, "1048576", Scope::Producer, "Largest batch under load (adaptive batching): the limit doubles per batch filled while others are in flight and is this while the in-flight window is full; <= batch.size turns it off; capped by max.frame.bytes."),
    key("linger.ms", Kind::Int { min: 0, max: MS_MAX }, "5", Scope::Producer, "Seal a non-empty batch this long after its first record."),
    key("max.in.flight", Kind::Int { min: 1, max: 1024 }, "16", Scope::Producer, "Unacknowledged batches allowed per connection."),
    key("max.in.flight.bytes", Kind::Int { min: 1, max: 1 << 32 }, "4194304", Scope::Producer,
        "Unacknowledged payload bytes allowed per connection: the window is full at max.in.flight batches or at this many bytes, whichever comes first (one batch may always be in flight). Keeps the ack latency of large adaptive batches low at the same throughput; raise it with batch.size.max."),
    key("delivery.timeout.ms", Kind::Int { min: 1, max: MS_MAX }, "120000", Scope::Producer,
        "Upper bound from send to a final delivery report; a record still unacknowledged then fails with TIMED_OUT."),
    key("buffer.memory", Kind::Int { min: 1024, max: 1 << 40 }, "33554432", Scope::Producer, "Bytes of buffered and in-flight records, plus 64 per record whose report is not served yet, allowed."),
    key("send.block", Kind::Bool, "true", Scope::Producer, "When the buffer is full: block up to send.timeout.ms (true) or fail at once with QUEUE_FULL (false)."),
    key("topic.auto.create", Kind::Bool, "true", Scope::Producer, "Sending to a topic name that does not exist creates it (true) or fails with UNKNOWN_TOPIC (false)."),
    key("send.timeout.ms", Kind::Int { min: 0, max: MS_MAX }, "60000", Scope::Producer, "How long send may block on a full buffer."),
    key("retries", Kind::Int { min: 0, max: u32::MAX as u64 }, "2147483647", Scope::Producer,
        "How many times a batch is resent after a retryable failure (bounded also by delivery.timeout.ms)."),
    key("retry.backoff.ms", Kind::Int { min: 0, max: MS_MAX }, "100", Scope::Producer, "Wait before resending after FORWARD_FAILED / RATE_LIMITED."),
    key("compression", Kind::Enum(&["none", "lz4"]), "none", Scope::Producer,
        "lz4 writes batches as the 0x0100 TLV envelope (never frame flag 0x01); only liblnc reads envelopes."),
    key("compression.min.bytes", Kind::Int { min: 0, max: MIB16 }, "1024", Scope::Producer, "Batches smaller than this are never compressed."),
    key("connections", Kind::Int { min: 1, max: 64 }, "1", Scope::Producer, "Producer connections; topics are spread over them (one topic stays on one connection to keep order)."),
    // --- consumer ---
    key("topic", Kind::Str, "", Scope::Consumer, "Topic name to consume (resolved with ListTopics); or use topic.id."),
    key("topic.id", Kind::Int { min: 0, max: u32::MAX as u64 }, "0", Scope::Consumer, "Topic id to consume (0 = use topic)."),
    key("consumer.name", Kind::Str, "", Scope::Consumer, "Consumer name: the offset store directory and the SipHash consumer id. Empty = no offset store."),
    key("offset.dir", Kind::Str, "", Scope::Consumer, "Base directory of the file offset store (empty = memory store)."),
    key("offset.store", Kind::Enum(&["auto", "file", "memory", "none"]), "auto", Scope::Consumer,
        "auto = file if offset.dir and consumer.name are set, else memory."),
    key("start.offset", Kind::Str, "stored", Scope::Consumer,
        "Where to start: stored (the committed offset, else beginning), beginning, end, or a byte offset."),
    key("offset.reset", Kind::Enum(&["earliest", "latest", "error"]), "error", Scope::Consumer,
        "What to do when the position is past the end (OFFSET_OUT_OF_RANGE): rewind, jump to the end, or report."),
    key("fetch.max.bytes", Kind::Int { min: 1, max: 16_777_156 }, "1048576", Scope::Consumer, "max_bytes of each Fetch (the server allocates it up front)."),
    key("fetch.min.wait.ms", Kind::Int { min: 0, max: MS_MAX }, "1", Scope::Consumer, "First idle backoff after an empty fetch."),
    key("fetch.max.wait.ms", Kind::Int { min: 1, max: MS_MAX }, "100", Scope::Consumer, "Largest idle backoff between empty fetches."),
    key("fetch.pipeline", Kind::Int { min: 1, max: 2 }, "2", Scope::Consumer, "Fetch requests kept in flight while data is flowing."),
    key("queued.max.bytes", Kind::Int { min: 1024, max: 1 << 40 }, "67108864", Scope::Consumer, "Bytes of fetched records buffered ahead of poll."),
    key("max.poll.records", Kind::Int { min: 1, max: 1 << 24 }, "500", Scope::Consumer, "Most records returned by one poll."),
    key("enable.auto.commit", Kind::Bool, "true", Scope::Consumer, "Commit the position every auto.commit.interval.ms and on close."),
    key("auto.commit.interval.ms", Kind::Int { min: 1, max: MS_MAX }, "5000", Scope::Consumer, "Auto-commit period."),
    key("catching.up.retries", Kind::Int { min: 0, max: 1000 }, "5", Scope::Consumer,
        "CatchingUp replies in a row (with backoff) before the position is declared OFFSET_OUT_OF_RANGE."),
    key("expand.envelopes", Kind::Bool, "true", Scope::Consumer, "Expand LZ4 envelopes into their records (false: deliver them opaque)."),
    key("consume.raw", Kind::Bool, "false", Scope::Consumer,
        "Deliver fetched bytes undecoded (for data written by non-TLV producers such as the official Rust Producer)."),
    // --- events, logs, circuit breaker, statistics (all handles) ---
    key("log.level", Kind::Enum(&["debug", "info", "warn", "error", "off"]), "warn", Scope::Common,
        "Least severe level logged: to the log callback if one is set (lnc_conf_set_log_cb), else to stderr; off = nothing."),
    key("events.queue.max", Kind::Int { min: 1, max: 1_000_000 }, "1000", Scope::Common,
        "Events a handle queues for poll_events; past it events are counted and reported as one events_dropped event."),
    key("circuit.breaker.failures", Kind::Int { min: 0, max: 1_000_000 }, "5", Scope::Common,
        "Connection failures in a row that open the circuit (0 = no breaker): while open, send with send.block=false fails with CIRCUIT_OPEN and no connection is attempted."),
    key("circuit.breaker.reset.ms", Kind::Int { min: 1, max: MS_MAX }, "5000", Scope::Common,
        "How long the circuit stays open before it goes half-open and tries one connection."),
    key("statistics.interval.ms", Kind::Int { min: 0, max: MS_MAX }, "0", Scope::Common,
        "Emit a statistics event (JSON document) this often (0 = never)."),
    // --- consumer groups (docs/groups.md) ---
    key("group.id", Kind::Str, "", Scope::Consumer,
        "Consumer group name ([A-Za-z0-9-]); its state lives in the topic lnc-group-<group.id>, created on demand with a bounded retention."),
    key("group.member.id", Kind::Str, "", Scope::Consumer,
        "This member's id in the group, 1-255 bytes (empty = client.id, process id and a random number: a new member on every start)."),
    key("group.topics", Kind::Str, "", Scope::Consumer, "Comma-separated topic names the group shares (or use group.topic.prefix)."),
    key("group.topic.prefix", Kind::Str, "", Scope::Consumer,
        "Share every topic whose name starts with this prefix (listed again every 5 s; group topics excluded)."),
    key("group.session.timeout.ms", Kind::Int { min: 2, max: MS_MAX }, "10000", Scope::Consumer,
        "A member without a heartbeat in the group log for this long is dead; its topics move (resuming at the group's newest commit)."),
    key("group.heartbeat.interval.ms", Kind::Int { min: 1, max: MS_MAX }, "1000", Scope::Consumer,
        "How often a member writes a heartbeat; at most half the session timeout (a tenth is advised)."),
    key("group.assignment.strategy", Kind::Enum(&["sticky", "range", "roundrobin"]), "sticky", Scope::Consumer,
        "How topics are spread over live members: sticky (balanced, moves only what must move), range or roundrobin (by sorted ids)."),
    key("group.commit.interval.ms", Kind::Int { min: 1, max: MS_MAX }, "1000", Scope::Consumer,
        "How often a member writes the processed position of each owned topic that moved to the group log."),
];

/// The definition of `name`, if it is a known key.
pub fn key_def(name: &str) -> Option<&'static KeyDef> {
    KEYS.iter().find(|k| k.name == name)
}

/// A validated configuration: only explicitly set keys are stored; getters fall back to defaults.
#[derive(Clone, Default, PartialEq)]
pub struct Config {
    values: BTreeMap<&'static str, String>,
    log_callback: Option<crate::events::LogCallback>,
    event_callback: Option<crate::events::EventCallback>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.dump()).finish()
    }
}

impl Config {
    /// An empty configuration (all defaults).
    pub fn new() -> Config {
        Config::default()
    }

    /// Builds from pairs; the first bad pair is the error.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Config> {
        let mut c = Config::new();
        for (k, v) in pairs {
            c.set(k, v)?;
        }
        Ok(c)
    }

    /// Sets `key` after validating `value`. Unknown keys give `UNKNOWN_KEY`, bad values
    /// `INVALID_VALUE`, each with a readable reason (never echoing a secret value).
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let def = key_def(key).ok_or_else(|| {
            let hint = KEYS
                .iter()
                .filter(|k| similar(k.name, key))
                .map(|k| k.name)
                .next()
                .map(|n| format!(" (did you mean \"{n}\"?)"))
                .unwrap_or_default();
            Error::new(ErrorCode::UnknownKey, format!("unknown configuration key \"{key}\"{hint}"))
        })?;
        validate(def, value).and_then(|()| build_supports(def.name, value.trim())).map_err(|why| {
            let shown = if def.secret { "<redacted>".to_string() } else { format!("\"{value}\"") };
            Error::new(ErrorCode::InvalidValue, format!("invalid value {shown} for \"{key}\": {why}"))
        })?;
        self.values.insert(def.name, value.trim().to_string());
        Ok(())
    }

    /// The value of `key` (explicit or default); `None` for unknown keys.
    pub fn get(&self, key: &str) -> Option<String> {
        let def = key_def(key)?;
        Some(self.values.get(def.name).cloned().unwrap_or_else(|| def.default.to_string()))
    }

    /// Whether `key` was set explicitly.
    pub fn is_set(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }

    /// Every key with its effective value, secrets redacted.
    pub fn dump(&self) -> Vec<(&'static str, String)> {
        KEYS.iter()
            .map(|d| {
                let v = self.get(d.name).unwrap_or_default();
                (d.name, if d.secret && !v.is_empty() { "<redacted>".into() } else { v })
            })
            .collect()
    }

    fn def_value(&self, key: &str) -> (&'static KeyDef, String) {
        let def = key_def(key).unwrap_or_else(|| panic!("liblnc bug: undeclared config key {key}"));
        (def, self.get(key).unwrap_or_default())
    }

    /// Integer value of a declared integer key.
    pub fn get_u64(&self, key: &str) -> u64 {
        let (_, v) = self.def_value(key);
        v.parse().unwrap_or(0)
    }

    /// Float value of a declared float key.
    pub fn get_f64(&self, key: &str) -> f64 {
        let (_, v) = self.def_value(key);
        v.parse().unwrap_or(0.0)
    }

    /// Boolean value of a declared bool key.
    pub fn get_bool(&self, key: &str) -> bool {
        let (_, v) = self.def_value(key);
        matches!(v.as_str(), "true" | "1")
    }

    /// String value of a declared key.
    pub fn get_str(&self, key: &str) -> String {
        self.def_value(key).1
    }

    /// Millisecond key as a duration.
    pub fn get_ms(&self, key: &str) -> Duration {
        Duration::from_millis(self.get_u64(key))
    }

    /// The checksum algorithm.
    pub fn checksum(&self) -> crate::wire::Checksum {
        crate::wire::Checksum::parse(&self.get_str("checksum")).unwrap_or_default()
    }

    /// Largest payload (frame minus header) allowed by `max.frame.bytes`.
    pub fn max_payload(&self) -> usize {
        (self.get_u64("max.frame.bytes") - 44) as usize
    }

    /// Checks the keys that only make sense together: `security.protocol` and the `tls.*` keys.
    /// A TLS key with `security.protocol=plaintext` is an error (never silently ignored), as is
    /// `tls.verify=false` without `tls.insecure.acknowledged=true`, half a client certificate, or
    /// `tls` in a build without the `tls` feature. Run when a handle is created.
    pub fn check_security(&self) -> Result<()> {
        let bad = |m: String| Err(Error::new(ErrorCode::InvalidValue, m));
        let protocol = self.get_str("security.protocol");
        let tls_keys: Vec<&str> =
            KEYS.iter().map(|k| k.name).filter(|n| n.starts_with("tls.") && self.is_set(n)).collect();
        if protocol != "tls" {
            if !tls_keys.is_empty() {
                return bad(format!(
                    "{} set while security.protocol is {protocol}: set security.protocol=tls to use TLS, or remove the TLS keys",
                    tls_keys.iter().map(|k| format!("\"{k}\"")).collect::<Vec<_>>().join(", ")
                ));
            }
            return Ok(());
        }
        build_supports("security.protocol", &protocol)
            .or_else(|why| bad(format!("invalid value \"tls\" for \"security.protocol\": {why}")))?;
        if !self.get_bool("tls.verify") && !self.get_bool("tls.insecure.acknowledged") {
            return bad("tls.verify=false turns off server authentication: it is accepted only together with tls.insecure.acknowledged=true".into());
        }
        let (cert, key) = (self.get_str("tls.certificate.location"), self.get_str("tls.key.location"));
        if cert.is_empty() != key.is_empty() {
            return bad("a client certificate needs both tls.certificate.location and tls.key.location".into());
        }
        if !self.get_bool("tls.verify") && self.is_set("tls.ca.location") {
            return bad("tls.ca.location is set but tls.verify=false would ignore it".into());
        }
        Ok(())
    }

    /// Sends log lines at or above `log.level` to `f` instead of stderr. It runs on whichever
    /// thread logs (often a library thread) with no library lock held; `close` and freeing the
    /// handle from inside it are refused with IN_CALLBACK.
    pub fn set_log_callback(&mut self, f: impl Fn(crate::events::Level, &str) + Send + Sync + 'static) {
        self.log_callback = Some(crate::events::LogCallback::new(f));
    }

    /// Back to the default: log lines go to stderr.
    pub fn remove_log_callback(&mut self) {
        self.log_callback = None;
    }

    /// Back to the default: events are queued for `poll_events`.
    pub fn remove_event_callback(&mut self) {
        self.event_callback = None;
    }

    /// The log callback, if set.
    pub fn log_callback(&self) -> Option<crate::events::LogCallback> {
        self.log_callback.clone()
    }

    /// Has a library thread (one per handle) pass every event to `f` instead of queueing it for
    /// `poll_events`. `close` and freeing the handle from inside it are refused with IN_CALLBACK.
    pub fn set_event_callback(&mut self, f: impl Fn(&crate::events::Event) + Send + Sync + 'static) {
        self.event_callback = Some(crate::events::EventCallback::new(f));
    }

    /// The event callback, if set.
    pub fn event_callback(&self) -> Option<crate::events::EventCallback> {
        self.event_callback.clone()
    }

    /// The bootstrap list as `host:port` strings.
    pub fn servers(&self) -> Vec<String> {
        parse_servers(&self.get_str("bootstrap.servers")).unwrap_or_default()
    }
}

/// Values this build cannot honour: `security.protocol=tls` without the `tls` feature.
fn build_supports(key: &str, value: &str) -> std::result::Result<(), String> {
    if key == "security.protocol" && value == "tls" && !cfg!(feature = "tls") {
        return Err("this liblnc was built without TLS support (rebuild with the cargo feature \"tls\": cargo build --features tls)".into());
    }
    Ok(())
}

fn validate(def: &KeyDef, raw: &str) -> std::result::Result<(), String> {
    let v = raw.trim();
    match def.kind {
        Kind::Str => Ok(()),
        Kind::Servers => parse_servers(v).map(|_| ()),
        Kind::Int { min, max } => {
            let n: u64 = v.parse().map_err(|_| format!("expected an unsigned integer in {min}..={max}"))?;
            if n < min || n > max {
                return Err(format!("out of range {min}..={max}"));
            }
            Ok(())
        }
        Kind::Float { min, max } => {
            let n: f64 = v.parse().map_err(|_| format!("expected a number in {min}..={max}"))?;
            if !(min..=max).contains(&n) {
                return Err(format!("out of range {min}..={max}"));
            }
            Ok(())
        }
        Kind::Bool => match v {
            "true" | "false" | "1" | "0" => Ok(()),
            _ => Err("expected true or false".into()),
        },
        Kind::Enum(words) => {
            if words.contains(&v) {
                Ok(())
            } else {
                Err(format!("expected one of {}", words.join(", ")))
            }
        }
    }
}

/// Parses a bootstrap list: `host[:port]` entries separated by commas; IPv6 as `[addr]:port`.
pub fn parse_servers(list: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        out.push(normalize_server(entry)?);
    }
    if out.is_empty() {
        return Err("expected at least one host[:port]".into());
    }
    Ok(out)
}

/// `host` → `host:1992`; validates the port.
pub fn normalize_server(entry: &str) -> std::result::Result<String, String> {
    const DEFAULT_PORT: u16 = 1992;
    let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or_else(|| format!("\"{entry}\": unclosed '['"))?;
        match after.strip_prefix(':') {
            Some(p) => (format!("[{h}]"), Some(p)),
            None if after.is_empty() => (format!("[{h}]"), None),
            None => return Err(format!("\"{entry}\": junk after ']'")),
        }
    } else if entry.matches(':').count() > 1 {
        // A bare IPv6 address without brackets: no port.
        (format!("[{entry}]"), None)
    } else {
        match entry.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (entry.to_string(), None),
        }
    };
    if host.is_empty() || host == "[]" {
        return Err(format!("\"{entry}\": empty host"));
    }
    let port = match port {
        Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| format!("\"{entry}\": bad port \"{p}\""))?,
        None => DEFAULT_PORT,
    };
    Ok(format!("{host}:{port}"))
}

fn similar(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.to_ascii_lowercase().replace(['_', '-'], ".");
    let (a, b) = (norm(a), norm(b));
    a == b || (b.len() > 3 && (a.contains(&b) || b.contains(&a)))
}

/// Renders the README's configuration table from [`KEYS`].
pub fn markdown_table() -> String {
    let mut s = String::from("| key | applies to | type | default | meaning |\n|---|---|---|---|---|\n");
    for k in KEYS {
        let ty = match k.kind {
            Kind::Int { min, max } => format!("integer {min}..{max}"),
            Kind::Enum(w) => w.join(" \\| "),
            other => other.type_name().to_string(),
        };
        let default = if k.default.is_empty() { "(empty)".to_string() } else { format!("`{}`", k.default) };
        s.push_str(&format!("| `{}` | {} | {} | {} | {} |\n", k.name, k.scope.name(), ty, default, k.doc));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let mut c = Config::new();
        assert_eq!(c.get_u64("request.timeout.ms"), 30_000);
        assert_eq!(c.set("linger_ms", "5").unwrap_err().code, ErrorCode::UnknownKey);
        assert!(c.set("linger_ms", "5").unwrap_err().message.contains("linger.ms"));
        assert_eq!(c.set("linger.ms", "-1").unwrap_err().code, ErrorCode::InvalidValue);
        assert_eq!(c.set("checksum", "md5").unwrap_err().code, ErrorCode::InvalidValue);
        c.set("checksum", "crc32c").unwrap();
        assert_eq!(c.checksum(), crate::wire::Checksum::Crc32c);
        for d in KEYS {
            validate(d, d.default).unwrap_or_else(|e| panic!("default of {} invalid: {e}", d.name));
        }
    }

    #[test]
    fn secrets_never_echoed() {
        let mut c = Config::new();
        c.set("auth.token", "s3cret").unwrap();
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn security_keys_checked_together() {
        let c = Config::from_pairs([("tls.ca.location", "/x.pem")]).unwrap();
        let e = c.check_security().unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidValue);
        assert!(e.message.contains("tls.ca.location") && e.message.contains("plaintext"), "{e}");
        let e = Config::from_pairs([("security.protocol", "plaintext"), ("tls.verify", "true")])
            .unwrap()
            .check_security()
            .unwrap_err();
        assert!(e.message.contains("tls.verify"), "{e}");
        Config::new().check_security().unwrap();
        if cfg!(feature = "tls") {
            let mut c = Config::from_pairs([("security.protocol", "tls"), ("tls.verify", "false")]).unwrap();
            assert!(c.check_security().unwrap_err().message.contains("tls.insecure.acknowledged"));
            c.set("tls.insecure.acknowledged", "true").unwrap();
            c.check_security().unwrap();
            let c = Config::from_pairs([("security.protocol", "tls"), ("tls.certificate.location", "/c.pem")]).unwrap();
            assert!(c.check_security().unwrap_err().message.contains("tls.key.location"));
        } else {
            let e = Config::new().set("security.protocol", "tls").unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidValue);
            assert!(e.message.contains("built without TLS"), "{e}");
        }
    }

    #[test]
    fn servers() {
        assert_eq!(parse_servers("a, b:7,[::1]:9,::1").unwrap(), vec!["a:1992", "b:7", "[::1]:9", "[::1]:1992"]);
        assert!(parse_servers("a:0").is_err());
        assert!(parse_servers(" , ").is_err());
        assert!(parse_servers("a:x").is_err());
    }
}
