//! The logger: levels, the user's log callback (set on the [`Config`](crate::Config)), and the
//! default of writing warnings and errors to stderr when no callback is set (as librdkafka does).
//! The callback runs with no library lock held, inside a re-entrancy scope of the handle, so a
//! callback that calls back into the library gets IN_CALLBACK for `close`/`free` instead of a
//! deadlock. The token is scrubbed from every line, whatever produced it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::config::Config;

/// Log levels, numbered like syslog (and librdkafka): lower is more severe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(i32)]
pub enum Level {
    /// Failures: authentication refused, fatal errors.
    Error = 3,
    /// Trouble that the library handles: lost connections, an opened circuit, dropped events.
    Warn = 4,
    /// Normal but notable: connected, reconnect scheduled, redirects, retries.
    Info = 6,
    /// Everything else: connect attempts, statistics.
    Debug = 7,
}

impl Level {
    /// Lower-case name (`warn`).
    pub fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }

    /// The level named by `log.level` (`None` for `off`).
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "error" => Some(Level::Error),
            "warn" => Some(Level::Warn),
            "info" => Some(Level::Info),
            "debug" => Some(Level::Debug),
            _ => None,
        }
    }

    /// The level for a C `LNC_LOG_*` value.
    pub fn from_i32(v: i32) -> Option<Level> {
        [Level::Error, Level::Warn, Level::Info, Level::Debug].into_iter().find(|l| *l as i32 == v)
    }
}

/// The function behind a [`LogCallback`].
pub type LogFn = dyn Fn(Level, &str) + Send + Sync;

/// A log callback: level and one line (no trailing newline).
#[derive(Clone)]
pub struct LogCallback(pub(crate) Arc<LogFn>);

impl LogCallback {
    /// Wraps `f`.
    pub fn new(f: impl Fn(Level, &str) + Send + Sync + 'static) -> LogCallback {
        LogCallback(Arc::new(f))
    }
}

impl PartialEq for LogCallback {
    fn eq(&self, other: &LogCallback) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(&self.0), Arc::as_ptr(&other.0))
    }
}

impl std::fmt::Debug for LogCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogCallback")
    }
}

/// One handle's logger.
pub(crate) struct Logger {
    /// `None` = off.
    threshold: Option<Level>,
    callback: Option<LogCallback>,
    client_id: String,
    handle_kind: &'static str,
    /// Scrubbed from every line (empty = none).
    token: String,
    /// The re-entrancy id of the owning handle (0 until set).
    owner: Arc<AtomicUsize>,
}

impl Logger {
    pub(crate) fn new(config: &Config, handle_kind: &'static str, owner: Arc<AtomicUsize>) -> Logger {
        Logger {
            threshold: Level::parse(&config.get_str("log.level")),
            callback: config.log_callback(),
            client_id: config.get_str("client.id"),
            handle_kind,
            token: config.get_str("auth.token"),
            owner,
        }
    }

    /// Whether a line at `level` would be written (skip building it otherwise).
    pub(crate) fn enabled(&self, level: Level) -> bool {
        self.threshold.is_some_and(|t| level <= t)
    }

    /// `text` with the token replaced.
    pub(crate) fn scrub(&self, text: &str) -> String {
        if !self.token.is_empty() && text.contains(&self.token) {
            text.replace(&self.token, "<redacted>")
        } else {
            text.to_string()
        }
    }

    /// Writes one line at `level`: to the callback if set, else to stderr. Call with no lock held.
    pub(crate) fn log(&self, level: Level, text: &str) {
        if !self.enabled(level) {
            return;
        }
        let line = format!("{} {}: {}", self.client_id, self.handle_kind, self.scrub(text));
        match &self.callback {
            Some(cb) => {
                let _scope = crate::reentry::Scope::enter(self.owner.load(Ordering::Acquire));
                // A panicking callback must not take a library thread down.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (cb.0)(level, &line)));
            }
            None => eprintln!("liblnc {}: {line}", level.name().to_uppercase()),
        }
    }
}
