//! The mock broker's TLS listener (cargo feature `tls`): server certificate and key from PEM
//! files, optionally a client CA whose certificates every client must present (mutual TLS).
//!
//! A connection is one thread doing blocking I/O, so the session and its socket are one
//! [`ServerStream`] with `Read`/`Write`. Bytes go out with `send` (MSG_NOSIGNAL), never `writev`,
//! so a client that hangs up cannot raise SIGPIPE in a host process that embeds the mock.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};

use crate::net::tls::{send_pending, Blocking};

/// How long a client may take to complete its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn bad(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what)
}

fn certs(key: &str, path: &str) -> io::Result<Vec<CertificateDer<'static>>> {
    let v: Vec<_> = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| bad(format!("mock {key}: cannot read PEM certificates from {path}: {e}")))?;
    if v.is_empty() {
        return Err(bad(format!("mock {key}: {path} holds no PEM certificate")));
    }
    Ok(v)
}

/// Builds the server configuration.
pub(crate) fn server_config(cert: &str, key: &str, client_ca: Option<&str>) -> io::Result<Arc<ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = certs("tls.cert", cert)?;
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| bad(format!("mock tls.key: cannot read a PEM private key from {key}: {e}")))?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(format!("mock TLS provider: {e}")))?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in certs("tls.client.ca", ca)? {
                roots.add(c).map_err(|e| bad(format!("mock tls.client.ca: bad certificate in {ca}: {e}")))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| bad(format!("mock tls.client.ca: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder.with_single_cert(chain, key_der).map_err(|e| bad(format!("mock tls.key: {e}")))?;
    Ok(Arc::new(config))
}

/// A server-side TLS session over its socket.
pub(crate) struct ServerStream {
    conn: ServerConnection,
    sock: TcpStream,
}

impl ServerStream {
    /// Runs the server handshake; gives up after [`HANDSHAKE_TIMEOUT`] or when `stop` is set.
    /// The socket's read timeout must be short (it is the poll interval).
    pub(crate) fn accept(
        config: Arc<ServerConfig>,
        sock: TcpStream,
        stop: &dyn Fn() -> bool,
    ) -> io::Result<ServerStream> {
        let conn = ServerConnection::new(config).map_err(|e| io::Error::other(e.to_string()))?;
        let mut s = ServerStream { conn, sock };
        let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
        while s.conn.is_handshaking() {
            if stop() || Instant::now() >= deadline {
                return Err(io::ErrorKind::TimedOut.into());
            }
            if s.conn.wants_write() {
                s.flush_tls()?;
                continue;
            }
            match s.conn.read_tls(&mut &s.sock) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => {
                    if let Err(e) = s.conn.process_new_packets() {
                        // Send the alert that says why (unknown CA, certificate required ...).
                        let _ = s.flush_tls();
                        return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string()));
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        s.flush_tls()?;
        Ok(s)
    }

    fn flush_tls(&mut self) -> io::Result<()> {
        send_pending(&mut self.conn, &self.sock)
    }

    /// Blocking reads and writes over the session: the adapter the client dials with, too.
    fn io(&mut self) -> Blocking<'_, rustls::server::ServerConnectionData> {
        Blocking { conn: &mut self.conn, sock: &self.sock }
    }
}

impl Read for ServerStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // A timeout surfaces as the caller's poll tick; rustls keeps partial records.
        self.io().read(buf)
    }
}

impl Write for ServerStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.io().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_tls()
    }
}

impl ServerStream {
    /// The socket under the session.
    pub(crate) fn sock(&self) -> &TcpStream {
        &self.sock
    }
}

/// A stop check from the broker's and the connection's flags.
pub(crate) fn stop_check<'a>(a: &'a AtomicBool, b: &'a AtomicBool) -> impl Fn() -> bool + 'a {
    move || a.load(Ordering::SeqCst) || b.load(Ordering::SeqCst)
}
