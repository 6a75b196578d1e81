//! Opening connections: every bootstrap host resolved to all its addresses and tried in turn,
//! TCP_NODELAY, and the Authenticate handshake before the connection is handed out.

use std::io::Write;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::error::{Error, ErrorCode, Result};
use crate::wire::control::{decode_auth_response, reply_code, Request};
use crate::wire::{encode_frame, flags, Checksum, FrameDecoder, FrameKind};

/// Connection settings extracted from a [`Config`].
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// `host:port` seeds.
    pub servers: Vec<String>,
    /// Frame checksum.
    pub checksum: Checksum,
    /// Largest payload sent or accepted.
    pub max_payload: usize,
    /// One connect attempt.
    pub connect_timeout: Duration,
    /// Reply deadline; also the write timeout.
    pub request_timeout: Duration,
    /// Idle time before a keepalive probe (zero = never).
    pub keepalive_interval: Duration,
    /// Reconnect backoff start.
    pub backoff_base: Duration,
    /// Reconnect backoff cap.
    pub backoff_max: Duration,
    /// Reconnect jitter fraction.
    pub jitter: f64,
    /// Authentication token (empty = none). Never logged.
    pub token: String,
    /// NOT_LEADER redirects one request may follow.
    pub redirect_max: u32,
}

impl NetConfig {
    /// Reads the common keys.
    pub fn from_config(c: &Config) -> NetConfig {
        NetConfig {
            servers: c.servers(),
            checksum: c.checksum(),
            max_payload: c.max_payload(),
            connect_timeout: c.get_ms("connect.timeout.ms"),
            request_timeout: c.get_ms("request.timeout.ms"),
            keepalive_interval: c.get_ms("keepalive.interval.ms"),
            backoff_base: c.get_ms("reconnect.backoff.ms"),
            backoff_max: c.get_ms("reconnect.backoff.max.ms"),
            jitter: c.get_f64("reconnect.jitter"),
            token: c.get_str("auth.token"),
            redirect_max: c.get_u64("redirect.max") as u32,
        }
    }

    /// A fresh backoff schedule from these settings.
    pub fn backoff(&self) -> super::Backoff {
        super::Backoff::new(self.backoff_base, self.backoff_max, self.jitter, super::backoff::random_seed())
    }
}

/// A connected, authenticated socket.
pub struct Dialed {
    /// The socket (blocking, TCP_NODELAY).
    pub stream: TcpStream,
    /// The `host:port` entry that worked.
    pub server: String,
    /// The address connected to.
    pub addr: SocketAddr,
}

/// Connects to `preferred` first (a NOT_LEADER redirect target), then every seed in order, every
/// resolved address of each; authenticates when a token is configured. Gives up at `deadline`.
pub fn dial(cfg: &NetConfig, preferred: Option<&str>, deadline: Instant) -> Result<Dialed> {
    let mut errors: Vec<String> = Vec::new();
    let candidates: Vec<&str> = preferred.into_iter().chain(cfg.servers.iter().map(String::as_str)).collect();
    for server in candidates {
        let addrs = match server.to_socket_addrs() {
            Ok(a) => a.collect::<Vec<_>>(),
            Err(e) => {
                errors.push(format!("{server}: cannot resolve: {e}"));
                continue;
            }
        };
        for addr in addrs {
            let now = Instant::now();
            if now >= deadline {
                errors.push("deadline reached".into());
                return Err(dial_error(errors));
            }
            let timeout = cfg.connect_timeout.min(deadline - now).max(Duration::from_millis(1));
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    let auth_deadline = (Instant::now() + cfg.connect_timeout).min(deadline);
                    match authenticate(&stream, cfg, auth_deadline) {
                        Ok(()) => return Ok(Dialed { stream, server: server.to_string(), addr }),
                        Err(e) if e.code == ErrorCode::AuthFailed => return Err(e),
                        Err(e) => errors.push(format!("{server} ({addr}): {}", e.message)),
                    }
                }
                Err(e) => errors.push(format!("{server} ({addr}): {e}")),
            }
        }
    }
    Err(dial_error(errors))
}

fn dial_error(errors: Vec<String>) -> Error {
    Error::transport(format!("could not connect to any server: {}", errors.join("; ")))
}

/// Sends Authenticate and waits for its reply on the raw socket, before any other traffic.
fn authenticate(stream: &TcpStream, cfg: &NetConfig, deadline: Instant) -> Result<()> {
    if cfg.token.is_empty() {
        return Ok(());
    }
    let req = Request::Authenticate { token: cfg.token.as_bytes().to_vec() };
    let mut frame = Vec::new();
    encode_frame(&mut frame, cfg.checksum, flags::CONTROL, req.code() as u64, 0, 0, 0, &req.payload());
    let mut s = stream;
    s.set_write_timeout(Some(remaining(deadline)))?;
    s.write_all(&frame)?;
    let mut dec = FrameDecoder::new(cfg.checksum, cfg.max_payload);
    loop {
        s.set_read_timeout(Some(remaining(deadline)))?;
        match dec.read_from(&mut s, 4096) {
            Ok(0) => return Err(Error::transport("connection closed during authentication")),
            Ok(_) => {}
            Err(e) if is_timeout(&e) => return Err(Error::timed_out("no reply to Authenticate")),
            Err(e) => return Err(e.into()),
        }
        while let Some(f) = dec.next_frame()? {
            match f.kind() {
                FrameKind::Keepalive | FrameKind::Backpressure => continue,
                FrameKind::Control if f.header.code() == reply_code::AUTHENTICATE_RESPONSE => {
                    let r = decode_auth_response(&f.payload)?;
                    if r.success {
                        return Ok(());
                    }
                    // The server's text never contains the token.
                    return Err(Error::new(ErrorCode::AuthFailed, r.message).fatal());
                }
                _ => return Err(Error::protocol(format!("unexpected frame {:?} while authenticating", f.kind()))),
            }
        }
        if Instant::now() >= deadline {
            return Err(Error::timed_out("no reply to Authenticate"));
        }
    }
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1))
}

/// Read/write timeouts show up as WouldBlock or TimedOut depending on the platform.
pub fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        if is_timeout(&e) {
            Error::timed_out(format!("socket timed out: {e}"))
        } else {
            Error::transport(e.to_string())
        }
    }
}
