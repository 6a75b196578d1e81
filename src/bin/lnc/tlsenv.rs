//! A throwaway TLS environment for `lnc bench --tls` and `lnc tls-fixture`: a CA, server and
//! client certificates made with the `openssl` command-line tool (Debian package `openssl`) in a
//! temporary directory, the embedded mock, and Debian's `stunnel4` in front of it. Nothing here is
//! for production: the keys live for the duration of the command and are deleted afterwards.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::args::{CliResult, Exit};

/// PEM files of one throwaway PKI; the directory is removed on drop.
pub struct Pki {
    pub dir: PathBuf,
    pub ca: String,
    pub server_cert: String,
    pub server_key: String,
    pub client_cert: String,
    pub client_key: String,
    /// A CA that signed nothing here (for "wrong CA" checks).
    pub other_ca: String,
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn openssl(dir: &Path, args: &[&str]) -> CliResult {
    let out = Command::new("openssl").args(args).current_dir(dir).stdin(Stdio::null()).output().map_err(|e| {
        Exit::Runtime(format!("cannot run openssl (apt-get install openssl) to make throwaway certificates: {e}"))
    })?;
    if !out.status.success() {
        return Err(Exit::Runtime(format!(
            "openssl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_string_lossy().into_owned()
}

/// Makes a CA, a server certificate for `localhost` and `127.0.0.1`, a client certificate and a
/// second, unrelated CA in a fresh directory under `base` (or the temp directory).
pub fn make_pki(base: Option<&Path>) -> CliResult<Pki> {
    let root = base.map(Path::to_path_buf).unwrap_or_else(std::env::temp_dir);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let dir = root.join(format!("lnc-tls-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Exit::Runtime(format!("cannot create {}: {e}", dir.display())))?;
    let pki = Pki {
        ca: path(&dir, "ca.pem"),
        server_cert: path(&dir, "server.pem"),
        server_key: path(&dir, "server.key"),
        client_cert: path(&dir, "client.pem"),
        client_key: path(&dir, "client.key"),
        other_ca: path(&dir, "other-ca.pem"),
        dir: dir.clone(),
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    for (name, cn) in [("ca", "lnc throwaway CA"), ("other-ca", "lnc unrelated CA")] {
        let (key, pem, subj) = (format!("{name}.key"), format!("{name}.pem"), format!("/CN={cn}"));
        let mut a = vec!["req", "-x509", "-new"];
        a.extend(ec);
        a.extend(["-keyout", &key, "-out", &pem, "-days", "2", "-subj", &subj]);
        a.extend(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
        openssl(&dir, &a)?;
    }
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text).map_err(|e| Exit::Runtime(format!("cannot write {name}: {e}")))
    };
    write("server.ext", "basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n")?;
    write(
        "client.ext",
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n",
    )?;
    for (name, cn) in [("server", "localhost"), ("client", "lnc test client")] {
        let (key, csr, pem, ext, subj) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
            format!("{name}.ext"),
            format!("/CN={cn}"),
        );
        let mut a = vec!["req", "-new"];
        a.extend(ec);
        a.extend(["-keyout", &key, "-out", &csr, "-subj", &subj]);
        openssl(&dir, &a)?;
        let serial = format!("{:#x}", (nanos as u64 & 0xffff_ffff) | 1 | (name.len() as u64) << 40);
        openssl(
            &dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-set_serial",
                &serial,
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
        )?;
    }
    Ok(pki)
}

/// The stunnel executable, if installed.
pub fn stunnel_binary() -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    for name in ["stunnel4", "stunnel"] {
        for dir in path.split(':').chain(["/usr/bin", "/usr/sbin"]) {
            let p = Path::new(dir).join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// A stunnel process (TLS in, plaintext out to the target); killed on drop.
pub struct Stunnel {
    child: Child,
    pub addr: String,
}

impl Drop for Stunnel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts stunnel on a free loopback port in front of `target`; with `mtls` it demands client
/// certificates signed by the PKI's CA. Waits until it listens.
pub fn start_stunnel(pki: &Pki, target: &str, mtls: bool) -> CliResult<Stunnel> {
    let bin =
        stunnel_binary().ok_or_else(|| Exit::Runtime("stunnel is not installed (apt-get install stunnel4)".into()))?;
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| Exit::Runtime(format!("no free port: {e}")))?
        .port();
    let log = pki.dir.join(format!("stunnel-{port}.log"));
    let verify = if mtls { format!("CAfile = {}\nverifyChain = yes\n", pki.ca) } else { String::new() };
    let conf = format!(
        "foreground = yes\npid =\noutput = {}\n[lnc]\naccept = 127.0.0.1:{port}\nconnect = {target}\ncert = {}\nkey = {}\n{verify}",
        log.display(),
        pki.server_cert,
        pki.server_key
    );
    let conf_path = pki.dir.join(format!("stunnel-{port}.conf"));
    std::fs::write(&conf_path, conf)
        .map_err(|e| Exit::Runtime(format!("cannot write {}: {e}", conf_path.display())))?;
    let child = Command::new(&bin)
        .arg(&conf_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Exit::Runtime(format!("cannot start {}: {e}", bin.display())))?;
    let mut s = Stunnel { child, addr: format!("127.0.0.1:{port}") };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(&s.addr).is_err() {
        if let Ok(Some(status)) = s.child.try_wait() {
            return Err(Exit::Runtime(format!(
                "stunnel exited ({status}): {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )));
        }
        if Instant::now() > deadline {
            return Err(Exit::Runtime(format!(
                "stunnel did not listen on {}: {}",
                s.addr,
                std::fs::read_to_string(&log).unwrap_or_default()
            )));
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    Ok(s)
}

/// Prints a JSON string literal.
pub fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// `lnc tls-fixture`: the environment the C, Python, Go and Node TLS tests share.
pub fn fixture(argv: &[String]) -> CliResult {
    use crate::args::{opt, parse};
    use lnc::mock::{MockBroker, MockConfig};
    let p = parse("tls-fixture", argv, &[opt("dir", None)], crate::help::TLS_FIXTURE)?;
    p.expect_positionals(&[])?;
    let pki = make_pki(p.get("dir").map(Path::new))?;
    let start = |tls: bool| {
        let mut mc = MockConfig { ack_delay: Duration::ZERO, ..MockConfig::default() };
        if tls {
            mc.tls_cert = Some(pki.server_cert.clone());
            mc.tls_key = Some(pki.server_key.clone());
            mc.tls_client_ca = Some(pki.ca.clone());
        }
        MockBroker::start(mc).map_err(|e| Exit::Runtime(format!("cannot start the mock: {e}")))
    };
    let plain = start(false)?;
    let tls_mock = start(true)?;
    let stunnel = start_stunnel(&pki, &plain.address_string(), true)?;
    let line = format!(
        "{{\"stunnel\":{},\"tls_mock\":{},\"plain\":{},\"ca\":{},\"cert\":{},\"key\":{},\"other_ca\":{},\"server_name\":\"localhost\"}}",
        json_str(&stunnel.addr),
        json_str(&tls_mock.address_string()),
        json_str(&plain.address_string()),
        json_str(&pki.ca),
        json_str(&pki.client_cert),
        json_str(&pki.client_key),
        json_str(&pki.other_ca)
    );
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
    // Runs until stdin closes (the test process ends or closes the pipe) or a signal arrives.
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        let _ = tx.send(());
    });
    crate::common::catch_interrupts();
    while !crate::common::interrupted() {
        if rx.recv_timeout(Duration::from_millis(100)).is_ok() {
            break;
        }
    }
    drop(stunnel);
    tls_mock.stop();
    plain.stop();
    drop(pki);
    Ok(())
}
