//! Opening connections: every bootstrap host resolved to all its addresses and tried in turn,
//! TCP_NODELAY, the TLS handshake when `security.protocol=tls`, and the Authenticate handshake
//! before the connection is handed out. One attempt (connect + TLS + authentication) is bounded
//! by `connect.timeout.ms`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::tls::{TlsSession, TlsSettings};
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
    /// TLS settings (`security.protocol=tls`); `None` = plaintext.
    pub tls: Option<Arc<TlsSettings>>,
}

impl NetConfig {
    /// Reads the common keys. Fails with INVALID_VALUE when the security keys do not fit
    /// together or a TLS file cannot be loaded (see [`Config::check_security`]).
    pub fn from_config(c: &Config) -> Result<NetConfig> {
        let tls = super::tls::settings_from_config(c)?;
        Ok(NetConfig {
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
            tls,
        })
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
    /// The TLS session over `stream` (handshake done) when `security.protocol=tls`.
    pub tls: Option<TlsSession>,
}

/// Blocking I/O during the dial phase: the plain socket, or the TLS session over it.
struct DialIo<'a> {
    sock: &'a TcpStream,
    tls: Option<&'a mut TlsSession>,
}

impl DialIo<'_> {
    fn arm(&self, deadline: Instant) -> std::io::Result<()> {
        self.sock.set_read_timeout(Some(remaining(deadline)))?;
        self.sock.set_write_timeout(Some(remaining(deadline)))
    }
}

impl Read for DialIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match &mut self.tls {
            None => (&mut &*self.sock).read(buf),
            #[cfg(feature = "tls")]
            Some(t) => super::tls::Blocking { conn: t, sock: self.sock }.read(buf),
            #[cfg(not(feature = "tls"))]
            Some(t) => match **t {},
        }
    }
}

impl Write for DialIo<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.tls {
            None => (&mut &*self.sock).write(buf),
            #[cfg(feature = "tls")]
            Some(t) => super::tls::Blocking { conn: t, sock: self.sock }.write(buf),
            #[cfg(not(feature = "tls"))]
            Some(t) => match **t {},
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An I/O error of the dial phase as an [`Error`], classifying a TLS alert or failure.
#[cfg_attr(not(feature = "tls"), allow(unused_variables))]
fn dial_io_error(e: std::io::Error, cfg: &NetConfig, server: &str, what: &str) -> Error {
    #[cfg(feature = "tls")]
    if let Some(t) = super::tls::tls_failure(&e) {
        let settings = cfg.tls.as_deref();
        let name = settings
            .and_then(|s| super::tls::server_name_for(s, server).ok())
            .map(|n| n.to_str().into_owned())
            .unwrap_or_default();
        return super::tls::classify(t, server, &name, settings);
    }
    if is_timeout(&e) {
        Error::timed_out(format!("{what}: socket timed out"))
    } else {
        Error::transport(format!("{what}: {e}"))
    }
}

/// Connects to `preferred` first (a NOT_LEADER redirect target), then every seed in order, every
/// resolved address of each; authenticates when a token is configured. Gives up at `deadline`.
pub fn dial(cfg: &NetConfig, preferred: Option<&str>, deadline: Instant) -> Result<Dialed> {
    let mut errors: Vec<String> = Vec::new();
    let mut tls_failure: Option<Error> = None;
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
            // Past the deadline, stop — but only after one real attempt: a refused or unreachable
            // address says more than "deadline reached" (a caller that was slow to get here).
            if now >= deadline && !errors.is_empty() {
                errors.push("deadline reached".into());
                return Err(dial_error(errors, tls_failure));
            }
            // One attempt: TCP connect, TLS handshake and authentication share connect.timeout.ms.
            let attempt_deadline = (now + cfg.connect_timeout).min(deadline);
            let timeout = attempt_deadline.saturating_duration_since(now).max(Duration::from_millis(1));
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    match secure_and_authenticate(&stream, cfg, server, attempt_deadline) {
                        Ok(tls) => return Ok(Dialed { stream, server: server.to_string(), addr, tls }),
                        Err(e) if e.code == ErrorCode::AuthFailed => return Err(e),
                        Err(e) => {
                            errors.push(format!("{server} ({addr}): {}", e.message));
                            // A certificate problem is not fixed by retrying: remember it, so the
                            // final error is TLS (not retryable) unless another server works.
                            if e.code == ErrorCode::Tls && tls_failure.is_none() {
                                tls_failure = Some(e);
                            }
                        }
                    }
                }
                Err(e) => errors.push(format!("{server} ({addr}): {e}")),
            }
        }
    }
    Err(dial_error(errors, tls_failure))
}

/// TLS handshake (if configured), its confirmation, and authentication on a fresh socket.
fn secure_and_authenticate(
    stream: &TcpStream,
    cfg: &NetConfig,
    server: &str,
    deadline: Instant,
) -> Result<Option<TlsSession>> {
    let (mut session, confirm) = match cfg.tls.as_deref() {
        None => (None, false),
        #[cfg(feature = "tls")]
        Some(t) => {
            let (s, confirm) = super::tls::handshake(t, server, stream, deadline)?;
            (Some(s), confirm)
        }
        #[cfg(not(feature = "tls"))]
        Some(t) => match *t {},
    };
    let mut io = DialIo { sock: stream, tls: session.as_mut() };
    if confirm && cfg.token.is_empty() {
        // TLS 1.3: the server judges our certificate after our side of the handshake is done, so a
        // refusal would only show on the first read. One keepalive round trip surfaces it here,
        // as a TLS error of the dial, instead of as a broken connection later. (With a token,
        // the Authenticate round trip does the same.)
        confirm_round_trip(&mut io, cfg, server, deadline)?;
    }
    authenticate(&mut io, cfg, server, deadline)?;
    Ok(session)
}

/// Sends a keepalive and waits for the server's reply.
fn confirm_round_trip(io: &mut DialIo<'_>, cfg: &NetConfig, server: &str, deadline: Instant) -> Result<()> {
    let mut frame = Vec::with_capacity(44);
    encode_frame(&mut frame, cfg.checksum, flags::KEEPALIVE, 0, 0, 0, 0, &[]);
    io.arm(deadline).map_err(|e| dial_io_error(e, cfg, server, "TLS confirmation"))?;
    io.write_all(&frame).map_err(|e| dial_io_error(e, cfg, server, "TLS confirmation"))?;
    let mut dec = FrameDecoder::new(cfg.checksum, cfg.max_payload);
    loop {
        io.arm(deadline).map_err(|e| dial_io_error(e, cfg, server, "TLS confirmation"))?;
        match dec.read_from(io, 4096) {
            Ok(0) => {
                return Err(Error::transport(format!("{server} closed the connection right after the TLS handshake")))
            }
            Ok(_) => {}
            Err(e) if is_timeout(&e) => {
                return Err(Error::timed_out(format!("{server}: no reply to the keepalive after the TLS handshake")))
            }
            Err(e) => return Err(dial_io_error(e, cfg, server, "TLS confirmation")),
        }
        if let Some(f) = dec.next_frame()? {
            if f.kind() == FrameKind::Keepalive {
                return Ok(());
            }
            return Err(Error::protocol(format!("unexpected frame {:?} in reply to a keepalive", f.kind())));
        }
    }
}

fn dial_error(errors: Vec<String>, tls_failure: Option<Error>) -> Error {
    let all = errors.join("; ");
    match tls_failure {
        // Keep the TLS error's code and fatality; list every attempt.
        Some(mut e) if errors.len() > 1 => {
            e.message = format!("{} (all attempts: {all})", e.message);
            e
        }
        Some(e) => e,
        None => Error::transport(format!("could not connect to any server: {all}")),
    }
}

/// Sends Authenticate and waits for its reply, before any other traffic.
fn authenticate(io: &mut DialIo<'_>, cfg: &NetConfig, server: &str, deadline: Instant) -> Result<()> {
    if cfg.token.is_empty() {
        return Ok(());
    }
    let req = Request::Authenticate { token: cfg.token.as_bytes().to_vec() };
    let mut frame = Vec::new();
    encode_frame(&mut frame, cfg.checksum, flags::CONTROL, req.code() as u64, 0, 0, 0, &req.payload());
    io.arm(deadline)?;
    io.write_all(&frame).map_err(|e| dial_io_error(e, cfg, server, "sending Authenticate"))?;
    let mut dec = FrameDecoder::new(cfg.checksum, cfg.max_payload);
    loop {
        io.arm(deadline)?;
        match dec.read_from(io, 4096) {
            Ok(0) => return Err(Error::transport("connection closed during authentication")),
            Ok(_) => {}
            Err(e) if is_timeout(&e) => return Err(Error::timed_out("no reply to Authenticate")),
            Err(e) => return Err(dial_io_error(e, cfg, server, "authenticating")),
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
