//! Shared helpers: configuration from `-b`/`-X`, connecting with a clear error, topic
//! resolution, progress bar, number formatting, base64, peak RSS, Ctrl-C.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use lnc::wire::TopicInfo;
use lnc::{Admin, Config, Error, ErrorCode};

use crate::args::{key_value, CliResult, Exit, Parsed};

/// Builds a [`Config`]: `defaults` first, then `-b`, then every `-X key=value` (so `-X` wins).
/// Every value goes through `Config::set`; a refusal is a usage error with its reason.
pub fn build_config(p: &Parsed, defaults: &[(&str, &str)]) -> CliResult<Config> {
    let mut c = Config::new();
    for (k, v) in defaults {
        c.set(k, v).map_err(|e| Exit::Runtime(format!("internal default {k}={v} refused: {}", e.message)))?;
    }
    if let Some(b) = p.get("bootstrap") {
        c.set("bootstrap.servers", b).map_err(|e| p.usage(format!("-b {b}: {}", e.message)))?;
    }
    for kv in p.all("config") {
        let Some((k, v)) = key_value(kv) else {
            return Err(
                p.usage(format!("-X {kv}: expected key=value (e.g. -X linger.ms=10); keys: `lnc config-table`"))
            );
        };
        c.set(k, v).map_err(|e| p.usage(format!("-X {kv}: {} ({})", e.message, e.code.name())))?;
    }
    Ok(c)
}

/// The server list as shown in messages.
pub fn servers(c: &Config) -> String {
    c.servers().join(",")
}

/// An admin client whose server answered a keepalive: a dead or wrong address fails here within
/// a few seconds with a message that says what to try.
pub fn connect(c: &Config) -> CliResult<Admin> {
    let admin = Admin::new(c).map_err(|e| Exit::Runtime(describe(&e, c, "connecting")))?;
    let probe = if c.is_set("connect.timeout.ms") { c.get_ms("connect.timeout.ms") } else { Duration::from_secs(3) };
    admin.ping(Some(probe)).map_err(|e| Exit::Runtime(describe(&e, c, "connecting")))?;
    Ok(admin)
}

/// One-line explanation of a library error: which server, what failed, what to try.
pub fn describe(e: &Error, c: &Config, doing: &str) -> String {
    let server = servers(c);
    let m = &e.message;
    match e.code {
        ErrorCode::Transport if doing == "connecting" || m.contains("could not connect") => {
            let why = if m.contains("refused") {
                "connection refused".to_string()
            } else if m.contains("resolve") {
                "cannot resolve the host name".to_string()
            } else if m.contains("timed out") || m.contains("deadline") {
                "connection timed out".to_string()
            } else {
                m.to_string()
            };
            let details = m.split("could not connect to any server: ").last().unwrap_or(m);
            format!(
                "could not connect to {server}: {why} — is the LANCE server running? try `lnc mock` for a local broker \
                 (details: {details})"
            )
        }
        ErrorCode::TimedOut if doing == "connecting" => format!(
            "could not connect to {server}: no reply within the timeout — is the address a LANCE server? \
             (try -X connect.timeout.ms=10000; details: {m})"
        ),
        ErrorCode::TimedOut => format!(
            "{doing} on {server} timed out: {m} — the server may be overloaded or unreachable; raise -X request.timeout.ms"
        ),
        ErrorCode::Transport => {
            format!("{doing} on {server} failed: connection lost: {m} — check that the server is still running")
        }
        ErrorCode::UnknownTopic => {
            format!("{doing} on {server} failed: {m} (UNKNOWN_TOPIC) — see `lnc topics list -b {server}`")
        }
        ErrorCode::AuthRequired | ErrorCode::AuthFailed => format!(
            "{doing} on {server} failed: {m} ({}) — pass the server's token with -X auth.token=…",
            e.code.name()
        ),
        ErrorCode::Protocol => format!(
            "{doing} on {server} failed: protocol error: {m} — is this a LANCE server speaking LWP with the same checksum \
             (-X checksum=crc32|crc32c)?"
        ),
        _ => format!("{doing} on {server} failed: {m} ({})", e.code.name()),
    }
}

/// Maps a library error to an exit: argument/validation problems are usage errors (2).
pub fn lib_exit(e: &Error, c: &Config, doing: &str) -> Exit {
    match e.code {
        ErrorCode::InvalidArg | ErrorCode::InvalidName | ErrorCode::InvalidValue | ErrorCode::UnknownKey => {
            Exit::Usage(format!("{doing}: {} ({})", e.message, e.code.name()))
        }
        _ => Exit::Runtime(describe(e, c, doing)),
    }
}

/// Resolves `TOPIC` (a name, or `id:N`) to its info. With `create`, a missing name is created.
pub fn resolve_topic(admin: &Admin, c: &Config, spec: &str, create: bool) -> CliResult<TopicInfo> {
    let server = servers(c);
    if let Some(id) = spec.strip_prefix("id:") {
        let id: u32 = id.parse().map_err(|_| Exit::Usage(format!("topic '{spec}': expected id:N with N a number")))?;
        return admin.get_topic(id, None).map_err(|e| {
            if e.code == ErrorCode::UnknownTopic {
                Exit::Runtime(format!("topic id {id} not found on {server} — see `lnc topics list -b {server}`"))
            } else {
                lib_exit(&e, c, &format!("looking up topic id {id}"))
            }
        });
    }
    if create {
        return admin.ensure_topic(spec, None).map_err(|e| lib_exit(&e, c, &format!("creating topic '{spec}'")));
    }
    match admin.topic_by_name(spec, None) {
        Ok(Some(t)) => Ok(t),
        Ok(None) => Err(Exit::Runtime(format!(
            "topic '{spec}' not found on {server} — create it with `lnc topics create {spec} -b {server}` (or pass --create), \
             or list topics with `lnc topics list -b {server}`"
        ))),
        Err(e) => Err(lib_exit(&e, c, "listing topics")),
    }
}

/// A topic id argument: `N`, `id:N`, or a name looked up with ListTopics.
pub fn topic_id_arg(admin: &Admin, c: &Config, arg: &str) -> CliResult<u32> {
    if let Ok(n) = arg.parse::<u32>() {
        return Ok(n);
    }
    Ok(resolve_topic(admin, c, arg, false)?.id)
}

/// `1234567` → `1,234,567`.
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Microseconds as a short human duration.
pub fn us(v: u64) -> String {
    if v >= 10_000 {
        format!("{:.1} ms", v as f64 / 1000.0)
    } else if v >= 1000 {
        format!("{:.2} ms", v as f64 / 1000.0)
    } else {
        format!("{v} µs")
    }
}

/// Records/s and MB/s (10^6 bytes) for `n` records of `bytes` total in `d`.
pub fn rates(n: u64, bytes: u64, d: Duration) -> (f64, f64) {
    let s = d.as_secs_f64().max(1e-9);
    (n as f64 / s, bytes as f64 / s / 1e6)
}

/// Peak resident set size (VmHWM) in KiB, from /proc/self/status.
pub fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Quantile of a sorted slice (nearest rank).
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64) * q).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 { T[(n >> 6) as usize & 63] as char } else { '=' });
        out.push(if chunk.len() > 2 { T[n as usize & 63] as char } else { '=' });
    }
    out
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Makes Ctrl-C / SIGTERM set a flag (checked with [`interrupted`]) instead of killing the
/// process, so commands can close cleanly (commit offsets, stop the mock).
pub fn catch_interrupts() {
    // SAFETY: installing an async-signal-safe handler that only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t);
    }
}

/// Whether Ctrl-C / SIGTERM arrived since [`catch_interrupts`].
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// A progress display on stderr: a carriage-return bar when stderr is a terminal, a plain line
/// every few seconds otherwise.
pub struct Progress {
    label: &'static str,
    total: u64,
    tty: bool,
    quiet: bool,
    start: Instant,
    last: Instant,
    drawn: bool,
}

impl Progress {
    pub fn new(label: &'static str, total: u64, quiet: bool) -> Progress {
        let now = Instant::now();
        Progress { label, total, tty: std::io::stderr().is_terminal(), quiet, start: now, last: now, drawn: false }
    }

    /// Cheap to call often: redraws at most every 100 ms (terminal) or 2 s (otherwise).
    pub fn update(&mut self, done: u64) {
        if self.quiet {
            return;
        }
        let every = if self.tty { Duration::from_millis(100) } else { Duration::from_secs(2) };
        if self.last.elapsed() < every {
            return;
        }
        self.last = Instant::now();
        self.draw(done);
    }

    fn draw(&mut self, done: u64) {
        let el = self.start.elapsed().as_secs_f64().max(1e-9);
        let pct = if self.total == 0 { 100.0 } else { done as f64 * 100.0 / self.total as f64 };
        let rate = done as f64 / el;
        let mut err = std::io::stderr().lock();
        if self.tty {
            const W: usize = 30;
            let fill = ((pct / 100.0) * W as f64).round().min(W as f64) as usize;
            let bar: String = "#".repeat(fill) + &".".repeat(W - fill);
            let _ = write!(
                err,
                "\r{:<8} [{bar}] {pct:5.1}%  {}/{}  {} rec/s   ",
                self.label,
                group(done),
                group(self.total),
                group(rate as u64)
            );
            self.drawn = true;
        } else {
            let _ = writeln!(
                err,
                "{}: {}/{} ({pct:.0}%, {} rec/s)",
                self.label,
                group(done),
                group(self.total),
                group(rate as u64)
            );
        }
        let _ = err.flush();
    }

    /// Final state; ends the terminal line.
    pub fn finish(&mut self, done: u64) {
        if self.quiet {
            return;
        }
        if self.tty {
            self.draw(done);
            let _ = writeln!(std::io::stderr());
        } else if self.start.elapsed() >= Duration::from_secs(2) {
            self.draw(done);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_known_values() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
    }

    #[test]
    fn grouping() {
        assert_eq!(group(0), "0");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1234567), "1,234,567");
    }
}
