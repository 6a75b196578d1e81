//! TLS for every connection (cargo feature `tls`, rustls with the ring provider).
//!
//! Configuration (`security.protocol=tls`, `tls.*`) is turned into a shared rustls
//! `ClientConfig` once, when a handle is created, so a missing or unreadable file is an
//! `INVALID_VALUE` error at creation. Each dial then runs the handshake on the caller's thread
//! (bounded by the connect attempt's deadline); the handshaken session is handed to
//! [`Connection`](super::Connection), whose reader and writer share it under a mutex that is never
//! held during socket I/O (see `conn.rs`).
//!
//! Built without the feature, [`TlsSettings`] and [`TlsSession`] are uninhabited types, so every
//! TLS branch compiles away and `security.protocol=tls` is refused by the configuration.

#[cfg(feature = "tls")]
pub use enabled::*;

#[cfg(not(feature = "tls"))]
pub use disabled::*;

#[cfg(not(feature = "tls"))]
mod disabled {
    use crate::config::Config;
    use crate::error::Result;

    /// TLS client settings; uninhabited in a build without the `tls` feature.
    #[derive(Debug)]
    pub enum TlsSettings {}

    /// A handshaken TLS session; uninhabited in a build without the `tls` feature.
    #[derive(Debug)]
    pub enum TlsSession {}

    /// Without the feature, `security.protocol=tls` was already refused by
    /// [`Config::check_security`](crate::config::Config::check_security).
    pub fn settings_from_config(c: &Config) -> Result<Option<std::sync::Arc<TlsSettings>>> {
        c.check_security()?;
        Ok(None)
    }
}

#[cfg(feature = "tls")]
mod enabled {
    use std::cell::Cell;
    use std::io::{self, Read, Write};
    use std::net::TcpStream;
    use std::path::Path;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::client::ResolvesClientCert;
    use rustls::crypto::CryptoProvider;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
    use rustls::sign::CertifiedKey;
    use rustls::{
        AlertDescription, CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
        SignatureScheme,
    };

    use crate::config::Config;
    use crate::error::{Error, ErrorCode, Result};

    /// A handshaken client session (boxed: it is large and moves between threads once).
    pub type TlsSession = Box<ClientConnection>;

    /// The TLS part of a handle's configuration, shared by all its connections.
    pub struct TlsSettings {
        /// The rustls configuration (roots, client certificate, verifier).
        pub config: Arc<ClientConfig>,
        /// `tls.server.name`, parsed; `None` = the host of the address dialed.
        pub server_name: Option<ServerName<'static>>,
        /// `tls.verify`.
        pub verify: bool,
        /// Where the roots came from, for error messages.
        pub roots: String,
    }

    impl std::fmt::Debug for TlsSettings {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("TlsSettings")
                .field("server_name", &self.server_name)
                .field("verify", &self.verify)
                .field("roots", &self.roots)
                .finish()
        }
    }

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    fn invalid(key: &str, why: impl std::fmt::Display) -> Error {
        Error::new(ErrorCode::InvalidValue, format!("\"{key}\": {why}"))
    }

    /// Builds the TLS settings from `security.protocol` and `tls.*` (`None` for plaintext).
    pub fn settings_from_config(c: &Config) -> Result<Option<Arc<TlsSettings>>> {
        c.check_security()?;
        if c.get_str("security.protocol") != "tls" {
            return Ok(None);
        }
        let provider = provider();
        let verify = c.get_bool("tls.verify");
        let ca = c.get_str("tls.ca.location");
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::new(ErrorCode::InvalidValue, format!("TLS provider: {e}")))?;
        let (builder, roots) = if verify {
            let (store, roots) = load_roots(&ca)?;
            (builder.with_root_certificates(store), roots)
        } else {
            let v = Arc::new(NoVerification(provider.clone()));
            (builder.dangerous().with_custom_certificate_verifier(v), "none (tls.verify=false)".to_string())
        };
        let cert = c.get_str("tls.certificate.location");
        let key = c.get_str("tls.key.location");
        let certified = if cert.is_empty() {
            None
        } else {
            let chain = load_certs("tls.certificate.location", &cert)?;
            let key_der = PrivateKeyDer::from_pem_file(&key).map_err(|e| {
                invalid(
                    "tls.key.location",
                    format!("cannot read a PEM private key (PKCS#8, PKCS#1 or SEC1) from {key}: {e}"),
                )
            })?;
            let ck = CertifiedKey::from_der(chain, key_der, &provider).map_err(|e| {
                invalid("tls.key.location", format!("the key in {key} does not fit the certificate in {cert}: {e}"))
            })?;
            Some(Arc::new(ck))
        };
        let config = builder.with_client_cert_resolver(Arc::new(ClientCert(certified)));
        let name = c.get_str("tls.server.name");
        let server_name =
            if name.is_empty() {
                None
            } else {
                Some(ServerName::try_from(name.clone()).map_err(|e| {
                    invalid("tls.server.name", format!("\"{name}\" is not a DNS name or IP address: {e}"))
                })?)
            };
        Ok(Some(Arc::new(TlsSettings { config: Arc::new(config), server_name, verify, roots })))
    }

    fn load_certs(key: &str, path: &str) -> Result<Vec<CertificateDer<'static>>> {
        let certs: Vec<_> = CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
            .map_err(|e| invalid(key, format!("cannot read PEM certificates from {path}: {e}")))?;
        if certs.is_empty() {
            return Err(invalid(key, format!("{path} holds no PEM certificate")));
        }
        Ok(certs)
    }

    fn load_roots(ca: &str) -> Result<(RootCertStore, String)> {
        let mut store = RootCertStore::empty();
        if ca.is_empty() {
            let found = rustls_native_certs::load_native_certs();
            let (added, _ignored) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                let why = found.errors.first().map(|e| format!(": {e}")).unwrap_or_default();
                return Err(invalid(
                    "tls.ca.location",
                    format!("empty, and no platform CA certificates were found (rustls-native-certs){why}; set it to a PEM file or directory"),
                ));
            }
            return Ok((store, format!("the platform's {added} CA certificates")));
        }
        let path = Path::new(ca);
        let files: Vec<std::path::PathBuf> = if path.is_dir() {
            let mut v: Vec<_> = std::fs::read_dir(path)
                .map_err(|e| invalid("tls.ca.location", format!("cannot list {ca}: {e}")))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            v.sort();
            v
        } else if path.is_file() {
            vec![path.to_path_buf()]
        } else {
            return Err(invalid("tls.ca.location", format!("{ca} is neither a file nor a directory")));
        };
        for f in &files {
            // In a directory, files that hold no certificate (hash links to them are fine) are
            // skipped; a single named file must hold at least one.
            let certs =
                match CertificateDer::pem_file_iter(f).and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>()) {
                    Ok(c) => c,
                    Err(e) if files.len() == 1 => {
                        return Err(invalid(
                            "tls.ca.location",
                            format!("cannot read PEM certificates from {}: {e}", f.display()),
                        ))
                    }
                    Err(_) => continue,
                };
            if path.is_dir() {
                // A system directory may hold certificates webpki cannot use: skip those.
                store.add_parsable_certificates(certs);
            } else {
                for cert in certs {
                    store.add(cert).map_err(|e| {
                        invalid("tls.ca.location", format!("bad CA certificate in {}: {e}", f.display()))
                    })?;
                }
            }
        }
        if store.is_empty() {
            return Err(invalid("tls.ca.location", format!("{ca} holds no PEM certificate")));
        }
        let roots = format!("{} CA certificate(s) from {ca}", store.len());
        Ok((store, roots))
    }

    thread_local! {
        /// Set by [`ClientCert`] when the server asks for a client certificate during a handshake
        /// run on this thread (handshakes run synchronously inside `dial`).
        static CERT_REQUESTED: Cell<bool> = const { Cell::new(false) };
    }

    /// Presents the configured client certificate (or none) and records that the server asked.
    #[derive(Debug)]
    struct ClientCert(Option<Arc<CertifiedKey>>);

    impl ResolvesClientCert for ClientCert {
        fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
            CERT_REQUESTED.with(|c| c.set(true));
            self.0.clone()
        }

        fn has_certs(&self) -> bool {
            self.0.is_some()
        }
    }

    /// `tls.verify=false`: any certificate is accepted, but handshake signatures are still checked
    /// (so the peer must hold the key of the certificate it shows).
    #[derive(Debug)]
    struct NoVerification(Arc<CryptoProvider>);

    impl ServerCertVerifier for NoVerification {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp: &[u8],
            _now: UnixTime,
        ) -> std::result::Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    /// A rustls error carried inside an `io::Error` (kind InvalidData) through `Read`/`Write`.
    #[derive(Debug)]
    pub struct TlsFailure(pub rustls::Error);

    impl std::fmt::Display for TlsFailure {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "TLS: {}", self.0)
        }
    }

    impl std::error::Error for TlsFailure {}

    /// Wraps a rustls error for `io::Error` plumbing.
    pub fn io_failure(e: rustls::Error) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, TlsFailure(e))
    }

    /// The rustls error inside `e`, if it carries one.
    pub fn tls_failure(e: &io::Error) -> Option<&rustls::Error> {
        e.get_ref().and_then(|inner| inner.downcast_ref::<TlsFailure>()).map(|f| &f.0)
    }

    /// Whether a rustls error is caused by a certificate (ours or the server's).
    fn certificate_cause(e: &rustls::Error) -> bool {
        use AlertDescription as A;
        match e {
            rustls::Error::InvalidCertificate(_)
            | rustls::Error::NoCertificatesPresented
            | rustls::Error::InvalidCertRevocationList(_) => true,
            rustls::Error::AlertReceived(a) => matches!(
                a,
                A::BadCertificate
                    | A::UnsupportedCertificate
                    | A::CertificateRevoked
                    | A::CertificateExpired
                    | A::CertificateUnknown
                    | A::UnknownCA
                    | A::CertificateRequired
                    | A::AccessDenied
                    | A::DecryptError
            ),
            _ => false,
        }
    }

    /// A clear error for a TLS failure of the handshake with `peer`: which side's certificate,
    /// and what to change. Not retryable: retrying alone cannot fix a certificate or a protocol
    /// mismatch.
    pub fn classify(e: &rustls::Error, peer: &str, name: &str, settings: Option<&TlsSettings>) -> Error {
        let why = explain(e, name, settings);
        Error::new(ErrorCode::Tls, format!("TLS handshake with {peer} failed: {why}")).fatal()
    }

    /// A TLS failure on an established connection (a late certificate refusal under TLS 1.3, a
    /// corrupted record, an alert). Fatal only when a certificate is the cause; otherwise the
    /// connection is simply lost and may be re-established.
    pub fn classify_established(e: &rustls::Error, settings: Option<&TlsSettings>) -> Error {
        let name = settings.and_then(|s| s.server_name.as_ref()).map(|n| n.to_str().into_owned()).unwrap_or_default();
        let why = explain(e, &name, settings);
        let err = Error::new(ErrorCode::Tls, format!("TLS failure on the connection: {why}"));
        if certificate_cause(e) {
            err.fatal()
        } else {
            err.with_retryable(true)
        }
    }

    fn explain(e: &rustls::Error, name: &str, settings: Option<&TlsSettings>) -> String {
        use AlertDescription as A;
        let roots = settings.map(|s| s.roots.as_str()).unwrap_or("the configured roots");
        let why = match e {
            rustls::Error::InvalidCertificate(ce) => match ce {
                CertificateError::UnknownIssuer => format!(
                    "the server's certificate is not signed by a trusted CA (unknown issuer; trusted: {roots}); set tls.ca.location to the CA that signed it"
                ),
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    format!("the server's certificate has expired ({ce:?})")
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    format!("the server's certificate is not valid yet ({ce:?}); check the clocks")
                }
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => format!(
                    "server name mismatch: the server's certificate is not valid for \"{name}\"; set tls.server.name to a name the certificate holds ({ce:?})"
                ),
                CertificateError::Revoked => "the server's certificate is revoked".to_string(),
                other => format!("the server's certificate was rejected: {other:?}"),
            },
            rustls::Error::AlertReceived(A::CertificateRequired) => {
                "the server requires a client certificate: set tls.certificate.location and tls.key.location".to_string()
            }
            rustls::Error::AlertReceived(a) if certificate_cause(e) => format!(
                "the server refused the client certificate (alert {a:?}); check tls.certificate.location / tls.key.location and the server's client CA"
            ),
            rustls::Error::AlertReceived(A::HandshakeFailure) => {
                "the server aborted the handshake (alert HandshakeFailure): no common protocol version or cipher suite, or it requires a client certificate".to_string()
            }
            rustls::Error::AlertReceived(A::UnrecognisedName) => {
                format!("the server does not know the name \"{name}\" (alert UnrecognisedName); set tls.server.name")
            }
            rustls::Error::InvalidMessage(_) => {
                "the server did not answer with TLS (is this a TLS port? security.protocol=tls expects one)".to_string()
            }
            other => other.to_string(),
        };
        why
    }

    /// The name verified and sent as SNI when dialing `server` (`host:port`).
    pub fn server_name_for(settings: &TlsSettings, server: &str) -> Result<ServerName<'static>> {
        if let Some(n) = &settings.server_name {
            return Ok(n.clone());
        }
        let host = match server.rsplit_once(':') {
            Some((h, _)) => h,
            None => server,
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        ServerName::try_from(host.to_string()).map_err(|e| {
            Error::new(
                ErrorCode::InvalidValue,
                format!("cannot use \"{host}\" as a TLS server name ({e}); set tls.server.name"),
            )
        })
    }

    /// Sets both socket timeouts to what is left until `deadline`.
    fn arm(sock: &TcpStream, deadline: Instant) -> io::Result<()> {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        sock.set_read_timeout(Some(left))?;
        sock.set_write_timeout(Some(left))
    }

    /// Sends everything rustls has queued (handshake messages, records, alerts) with `send`
    /// (MSG_NOSIGNAL on Linux), never `writev`: rustls' own `write_tls` to a socket would use
    /// `writev` and raise SIGPIPE on a closed peer.
    pub(crate) fn send_pending<D>(conn: &mut rustls::ConnectionCommon<D>, sock: &TcpStream) -> io::Result<()> {
        let mut out = Vec::new();
        while conn.wants_write() {
            conn.write_tls(&mut out)?;
        }
        let mut s = sock;
        s.write_all(&out)
    }

    /// Runs the client handshake on `sock`, bounded by `deadline`. On success, if the server asked
    /// for a client certificate over TLS 1.3 (where a refusal only arrives after the client's side
    /// of the handshake is complete), `confirm` must be run once the first reply arrives.
    pub fn handshake(
        settings: &TlsSettings,
        server: &str,
        sock: &TcpStream,
        deadline: Instant,
    ) -> Result<(TlsSession, bool)> {
        let name = server_name_for(settings, server)?;
        let shown = name.to_str().into_owned();
        if !settings.verify {
            eprintln!("liblnc: WARNING: TLS certificate verification is OFF (tls.verify=false) for {server}: the connection is encrypted but the server is not authenticated");
        }
        let mut conn = ClientConnection::new(settings.config.clone(), name)
            .map_err(|e| classify(&e, server, &shown, Some(settings)))?;
        CERT_REQUESTED.with(|c| c.set(false));
        let fail_io = |e: io::Error, what: &str| -> Error {
            if super::super::dial::is_timeout(&e) {
                Error::timed_out(format!("TLS handshake with {server} timed out ({what})"))
            } else {
                Error::transport(format!("TLS handshake with {server} failed ({what}): {e}"))
            }
        };
        let mut s = sock;
        while conn.is_handshaking() {
            if Instant::now() >= deadline {
                return Err(Error::timed_out(format!(
                    "TLS handshake with {server} did not finish within connect.timeout.ms"
                )));
            }
            if conn.wants_write() {
                arm(sock, deadline).map_err(|e| fail_io(e, "socket"))?;
                send_pending(&mut conn, sock).map_err(|e| fail_io(e, "sending"))?;
                continue;
            }
            arm(sock, deadline).map_err(|e| fail_io(e, "socket"))?;
            match conn.read_tls(&mut s) {
                Ok(0) => {
                    return Err(Error::transport(format!(
                        "TLS handshake with {server} failed: the server closed the connection (is this a TLS port?)"
                    )))
                }
                Ok(_) => {
                    if let Err(e) = conn.process_new_packets() {
                        // Tell the server why (best effort), then report.
                        let _ = send_pending(&mut conn, sock);
                        return Err(classify(&e, server, &shown, Some(settings)));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if super::super::dial::is_timeout(&e) => {
                    return Err(Error::timed_out(format!(
                        "TLS handshake with {server} did not finish within connect.timeout.ms"
                    )));
                }
                Err(e) => return Err(fail_io(e, "receiving")),
            }
        }
        arm(sock, deadline).map_err(|e| fail_io(e, "socket"))?;
        send_pending(&mut conn, sock).map_err(|e| fail_io(e, "sending"))?;
        let requested = CERT_REQUESTED.with(|c| c.replace(false));
        let tls13 = conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3);
        Ok((Box::new(conn), requested && tls13))
    }

    /// Blocking `Read`/`Write` over a handshaken session (client or server side): the dial phase
    /// (authentication and confirmation) before the connection threads take over, and the mock's
    /// one-thread-per-connection TLS listener. Timeouts are the socket's.
    pub struct Blocking<'a, D> {
        /// The session.
        pub conn: &'a mut rustls::ConnectionCommon<D>,
        /// Its socket.
        pub sock: &'a TcpStream,
    }

    impl<D> Read for Blocking<'_, D> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            loop {
                match self.conn.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                    Err(e) => return Err(e),
                }
                let mut s = self.sock;
                if self.conn.read_tls(&mut s)? == 0 {
                    return Ok(0);
                }
                if let Err(e) = self.conn.process_new_packets() {
                    let _ = send_pending(self.conn, self.sock);
                    return Err(io_failure(e));
                }
                if self.conn.wants_write() {
                    send_pending(self.conn, self.sock)?;
                }
            }
        }
    }

    impl<D> Write for Blocking<'_, D> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = self.conn.writer().write(buf)?;
            send_pending(self.conn, self.sock)?;
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            send_pending(self.conn, self.sock)
        }
    }
}
