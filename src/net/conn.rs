//! One live connection: a reader thread (decode, route, keepalive, deadlines) and a writer thread
//! (a crossbeam queue drained with vectored writes). Any failure closes the connection once and
//! tells the router, so every waiter gets an error instead of hanging. A panic in either thread is
//! caught and closes the connection with a PANIC error the same way.
//!
//! Transport: plaintext is the two threads on `try_clone`d sockets, the writer gathering frames
//! into one `sendmsg` (zero copy). A TLS session cannot be split into halves, so with TLS the
//! session sits in one mutex: the reader reads raw bytes from the socket *outside* the lock, then
//! locks only to feed them to rustls, decrypt and drain the plaintext; the writer locks only to
//! encrypt the gathered frames into its buffer, then sends that buffer outside the lock. Only the
//! writer writes to the socket, so records leave in the order rustls sealed them; when the reader
//! makes rustls want to send something (an alert, a key update) it wakes the writer with an empty
//! item.

use std::io::IoSlice;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use super::dial::{is_timeout, Dialed, NetConfig};
use super::tls::TlsSession;
use crate::error::{Error, ErrorCode, Result};
use crate::stats::LinkStats;
use crate::wire::{encode_frame, flags, Frame, FrameDecoder, FrameKind};

/// How often an idle reader wakes to check keepalive and deadlines.
const TICK: Duration = Duration::from_millis(20);
/// Most frames gathered into one vectored write.
const MAX_GATHER: usize = 64;

/// Receives what arrives on a connection. Called from the reader thread; must not block long.
pub trait Router: Send + Sync + 'static {
    /// A control or ack frame arrived, in wire order. `Err` closes the connection (protocol error).
    fn on_frame(&self, frame: Frame) -> Result<()>;
    /// Checked after every read and on every tick: `Some` closes the connection (a deadline passed).
    fn check_deadlines(&self, now: Instant) -> Option<Error>;
    /// The connection is gone. Called exactly once, from whichever thread noticed first.
    /// `data_frames_attempted` counts frames queued with [`Connection::send_data`] whose write
    /// was at least started: later ones never reached the socket.
    fn on_closed(&self, error: &Error, data_frames_attempted: u64);
}

/// Bytes queued for the writer. Shared so a producer can keep a batch for resending without a copy.
pub type Outbound = Arc<Vec<u8>>;

/// One queued write: the bytes, and whether it is a data frame (counted for `on_closed`).
type Queued = Option<(Outbound, bool)>;

struct Shared {
    stream: TcpStream,
    /// The TLS session (`None` = plaintext), shared by reader and writer; never locked across
    /// socket I/O.
    tls: Option<Mutex<TlsSession>>,
    tx: Sender<Queued>,
    /// Data frames whose write was started (counted before writing: errs towards "maybe sent").
    data_attempted: AtomicU64,
    closed: AtomicBool,
    close_error: Mutex<Option<Error>>,
    router: Arc<dyn Router>,
    cfg: NetConfig,
    epoch: Instant,
    /// Nanoseconds since `epoch` of the last byte received / frame queued.
    last_recv: AtomicU64,
    last_send: AtomicU64,
    /// Keepalives sent and not yet answered, in order; `None` = an internal liveness probe.
    keepalives: Mutex<std::collections::VecDeque<(Instant, Option<Sender<Duration>>)>>,
    /// The owner's connection slot: bytes, keepalive round trips, disconnects.
    stats: Arc<LinkStats>,
}

/// A live connection to one server. Dropping it closes the socket and joins its threads.
pub struct Connection {
    shared: Arc<Shared>,
    peer: SocketAddr,
    server: String,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Connection {
    /// Starts the reader and writer threads on a dialed socket.
    pub fn start(dialed: Dialed, cfg: NetConfig, router: Arc<dyn Router>, name: &str) -> Result<Connection> {
        Connection::start_with_stats(dialed, cfg, router, name, Arc::new(LinkStats::new(name)))
    }

    /// [`Connection::start`], counting into the owner's connection slot `stats` (which this
    /// connection marks connected now and disconnected when it closes).
    pub fn start_with_stats(
        dialed: Dialed,
        cfg: NetConfig,
        router: Arc<dyn Router>,
        name: &str,
        stats: Arc<LinkStats>,
    ) -> Result<Connection> {
        let Dialed { stream, server, addr, tls } = dialed;
        stream.set_read_timeout(Some(TICK))?;
        stream.set_write_timeout(Some(cfg.request_timeout))?;
        let (tx, rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(Shared {
            stream: stream.try_clone()?,
            tls: tls.map(Mutex::new),
            tx,
            data_attempted: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            close_error: Mutex::new(None),
            router,
            cfg,
            epoch: Instant::now(),
            last_recv: AtomicU64::new(0),
            last_send: AtomicU64::new(0),
            keepalives: Mutex::new(Default::default()),
            stats,
        });
        // Before the threads start, so a close they notice at once comes after it.
        shared.stats.connected(&server);
        let reader_stream = stream.try_clone()?;
        let r = shared.clone();
        let reader = std::thread::Builder::new()
            .name(format!("lnc-{name}-rd"))
            .spawn(move || contain_panics(&r.clone(), "reader", || reader_loop(r, reader_stream)))
            .map_err(|e| Error::transport(format!("cannot spawn reader thread: {e}")))?;
        let w = shared.clone();
        let writer = std::thread::Builder::new()
            .name(format!("lnc-{name}-wr"))
            .spawn(move || contain_panics(&w.clone(), "writer", || writer_loop(w, stream, rx)))
            .map_err(|e| Error::transport(format!("cannot spawn writer thread: {e}")))?;
        Ok(Connection { shared, peer: addr, server, threads: Mutex::new(vec![reader, writer]) })
    }

    /// Queues bytes (one or more whole frames) for writing.
    pub fn send(&self, bytes: Outbound) -> Result<()> {
        self.enqueue(bytes, false)
    }

    /// Queues one data frame (an ingest); see [`Router::on_closed`] for why they are counted.
    pub fn send_data(&self, frame: Outbound) -> Result<()> {
        self.enqueue(frame, true)
    }

    fn enqueue(&self, bytes: Outbound, data: bool) -> Result<()> {
        if let Some(e) = self.error() {
            return Err(e);
        }
        self.shared.last_send.store(self.shared.now_ns(), Ordering::Relaxed);
        self.shared.tx.send(Some((bytes, data))).map_err(|_| Error::transport("connection writer stopped"))
    }

    /// Sends a keepalive and returns a receiver for the round-trip time.
    pub fn ping(&self) -> Result<Receiver<Duration>> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.shared.send_keepalive(Some(tx))?;
        Ok(rx)
    }

    /// True once the connection failed or was closed.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Why the connection closed, if it did.
    pub fn error(&self) -> Option<Error> {
        if self.is_closed() {
            Some(self.shared.close_error.lock().clone().unwrap_or_else(|| Error::transport("connection closed")))
        } else {
            None
        }
    }

    /// Closes the connection with `error` (idempotent; the router hears of it once).
    pub fn close(&self, error: Error) {
        self.shared.close(error);
    }

    /// The address connected to.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The bootstrap entry (or redirect target) that was used.
    pub fn server(&self) -> &str {
        &self.server
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.shared.close(Error::closed("connection closed by the client"));
        let me = std::thread::current().id();
        for t in self.threads.lock().drain(..) {
            // Never join ourselves (a router dropping its connection from the reader thread).
            if t.thread().id() != me {
                let _ = t.join();
            }
        }
    }
}

impl Shared {
    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    fn close(&self, error: Error) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        *self.close_error.lock() = Some(error.clone());
        self.stats.disconnected();
        let _ = self.stream.shutdown(Shutdown::Both);
        let _ = self.tx.send(None);
        self.keepalives.lock().clear();
        self.router.on_closed(&error, self.data_attempted.load(Ordering::Acquire));
    }

    fn send_keepalive(&self, waiter: Option<Sender<Duration>>) -> Result<()> {
        let mut frame = Vec::with_capacity(44);
        encode_frame(&mut frame, self.cfg.checksum, flags::KEEPALIVE, 0, 0, 0, 0, &[]);
        // Register before queuing so the reply can never arrive first.
        let mut q = self.keepalives.lock();
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::transport("connection closed"));
        }
        q.push_back((Instant::now(), waiter));
        self.last_send.store(self.now_ns(), Ordering::Relaxed);
        self.tx.send(Some((Arc::new(frame), false))).map_err(|_| Error::transport("connection writer stopped"))
    }

    /// Keepalive probe after idleness; dead connection when a keepalive goes unanswered.
    fn check_liveness(&self, now: Instant) -> Option<Error> {
        let timeout = self.cfg.request_timeout;
        if let Some((sent, _)) = self.keepalives.lock().front() {
            if now.duration_since(*sent) > timeout {
                return Some(Error::timed_out(format!("no keepalive reply within {} ms", timeout.as_millis())));
            }
            return None;
        }
        let interval = self.cfg.keepalive_interval;
        if interval.is_zero() {
            return None;
        }
        let last = self.last_recv.load(Ordering::Relaxed).max(self.last_send.load(Ordering::Relaxed));
        if self.now_ns().saturating_sub(last) >= interval.as_nanos() as u64 {
            if let Err(e) = self.send_keepalive(None) {
                return Some(e);
            }
        }
        None
    }
}

/// Runs a connection thread's body; a panic in it closes the connection with a PANIC error, so the
/// router's `on_closed` runs and every waiter wakes instead of hanging (design.md §10.4).
fn contain_panics(shared: &Arc<Shared>, which: &str, body: impl FnOnce()) {
    if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(non-string panic payload)".to_string());
        let e = Error::new(ErrorCode::Panic, format!("internal panic in the connection {which} thread: {msg}")).fatal();
        // If the panic came from inside `close` (a router's on_closed), the connection is already
        // marked closed and this is a no-op; otherwise this is where the router hears of it.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| shared.close(e)));
    }
}

/// Size of one raw socket read.
const READ_CHUNK: usize = 64 * 1024;

/// TLS: one raw read from the socket (outside the lock), then under the lock: feed rustls,
/// decrypt, drain the plaintext into `decoder`. Returns the plaintext bytes added; `Ok(0)` = the
/// server closed; a `WouldBlock` error = nothing decrypted yet (as a read timeout).
#[cfg(feature = "tls")]
fn tls_read(
    shared: &Shared,
    tls: &Mutex<TlsSession>,
    stream: &mut TcpStream,
    raw: &mut [u8],
    plain: &mut [u8],
    decoder: &mut FrameDecoder,
) -> std::io::Result<usize> {
    use std::io::Read;
    let n = stream.read(raw)?;
    let mut c = tls.lock();
    let mut input = &raw[..n];
    let mut added = 0;
    let mut closed = n == 0;
    loop {
        if !input.is_empty() {
            if c.read_tls(&mut input)? == 0 {
                return Err(std::io::Error::other("TLS: rustls accepted no input"));
            }
        } else if n == 0 {
            // Let rustls see the EOF (for close_notify accounting).
            let _ = c.read_tls(&mut input);
        }
        let state = c.process_new_packets().map_err(super::tls::io_failure)?;
        loop {
            match c.reader().read(plain) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(k) => {
                    decoder.feed(&plain[..k]);
                    added += k;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    closed = true;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if state.peer_has_closed() {
            closed = true;
        }
        if input.is_empty() {
            break;
        }
    }
    let wake_writer = c.wants_write();
    drop(c);
    if wake_writer {
        // Only the writer writes to the socket: hand it the flush (an alert, a key update).
        let _ = shared.tx.send(Some((Arc::new(Vec::new()), false)));
    }
    if added > 0 {
        Ok(added)
    } else if closed {
        Ok(0)
    } else {
        Err(std::io::ErrorKind::WouldBlock.into())
    }
}

/// A read failure as the error that closes the connection.
fn read_error(shared: &Shared, e: std::io::Error) -> Error {
    #[cfg(feature = "tls")]
    if let Some(t) = super::tls::tls_failure(&e) {
        return super::tls::classify_established(t, shared.cfg.tls.as_deref());
    }
    let _ = shared;
    if e.kind() == std::io::ErrorKind::InvalidData {
        Error::protocol(e.to_string())
    } else {
        Error::transport(format!("read failed: {e}"))
    }
}

fn reader_loop(shared: Arc<Shared>, mut stream: TcpStream) {
    let mut decoder = FrameDecoder::new(shared.cfg.checksum, shared.cfg.max_payload);
    #[cfg(feature = "tls")]
    let (mut raw, mut plain) = match shared.tls {
        Some(_) => (vec![0u8; READ_CHUNK], vec![0u8; READ_CHUNK]),
        None => (Vec::new(), Vec::new()),
    };
    while !shared.closed.load(Ordering::Acquire) {
        let got = match &shared.tls {
            None => decoder.read_from(&mut stream, READ_CHUNK),
            #[cfg(feature = "tls")]
            Some(t) => tls_read(&shared, t, &mut stream, &mut raw, &mut plain, &mut decoder),
            #[cfg(not(feature = "tls"))]
            Some(t) => match *t.lock() {},
        };
        match got {
            Ok(0) => {
                shared.close(Error::transport("connection closed by the server"));
                return;
            }
            Ok(n) => {
                shared.stats.received(n);
                shared.last_recv.store(shared.now_ns(), Ordering::Relaxed);
                loop {
                    match decoder.next_frame() {
                        Ok(Some(frame)) => {
                            if let Err(e) = dispatch(&shared, frame) {
                                shared.close(e);
                                return;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            shared.close(Error::protocol(format!("bad frame from server: {e}")));
                            return;
                        }
                    }
                }
            }
            Err(e) if is_timeout(&e) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                let err = read_error(&shared, e);
                shared.close(err);
                return;
            }
        }
        let now = Instant::now();
        if let Some(e) = shared.check_liveness(now).or_else(|| shared.router.check_deadlines(now)) {
            shared.close(e);
            return;
        }
    }
}

fn dispatch(shared: &Shared, frame: Frame) -> Result<()> {
    match frame.kind() {
        FrameKind::Control | FrameKind::Ack => shared.router.on_frame(frame),
        FrameKind::Keepalive => {
            // Every keepalive from the server is a reply: never answer it (lwp.md §2.4).
            if let Some((sent, waiter)) = shared.keepalives.lock().pop_front() {
                let rtt = sent.elapsed();
                shared.stats.round_trip(rtt);
                if let Some(waiter) = waiter {
                    let _ = waiter.try_send(rtt);
                }
            }
            Ok(())
        }
        FrameKind::Backpressure => Ok(()),
        FrameKind::Ingest | FrameKind::Unknown => Err(Error::protocol(format!(
            "server sent an unexpected frame (flags {:#04x}, {} payload bytes)",
            frame.header.flags, frame.header.payload_length
        ))),
    }
}

fn writer_loop(shared: Arc<Shared>, mut stream: TcpStream, rx: Receiver<Queued>) {
    let mut batch: Vec<Outbound> = Vec::with_capacity(MAX_GATHER);
    #[cfg(feature = "tls")]
    let mut sealed: Vec<u8> = Vec::new();
    while let Ok(Some(first)) = rx.recv() {
        batch.clear();
        let mut data = first.1 as u64;
        batch.push(first.0);
        let mut stop = false;
        while batch.len() < MAX_GATHER {
            match rx.try_recv() {
                Ok(Some((b, d))) => {
                    data += d as u64;
                    batch.push(b);
                }
                Ok(None) => {
                    stop = true;
                    break;
                }
                Err(_) => break,
            }
        }
        // Counted before the write starts: a frame counted here may or may not have arrived.
        shared.data_attempted.fetch_add(data, Ordering::AcqRel);
        let written = match &shared.tls {
            None => write_all_vectored(&mut stream, &batch),
            #[cfg(feature = "tls")]
            Some(t) => tls_write(t, &stream, &batch, &mut sealed),
            #[cfg(not(feature = "tls"))]
            Some(t) => match *t.lock() {},
        };
        if let Err(e) = written {
            // A partial frame may be on the wire: the connection is unusable (lwp.md §2.4).
            let err = if is_timeout(&e) {
                Error::timed_out(format!("write timed out after {} ms", shared.cfg.request_timeout.as_millis()))
            } else {
                Error::transport(format!("write failed: {e}"))
            };
            shared.close(err);
            return;
        }
        shared.stats.sent(batch.iter().map(|b| b.len()).sum());
        if stop || shared.closed.load(Ordering::Acquire) {
            return;
        }
    }
}

/// Encrypted bytes gathered under the lock before they are sent (outside it).
#[cfg(feature = "tls")]
const SEAL_CHUNK: usize = 256 * 1024;

/// TLS: encrypts `bufs` under the session lock into `sealed` (at most about [`SEAL_CHUNK`] at a
/// time), sends each chunk with the lock released. An empty buffer just flushes what rustls has
/// queued (the reader's wake-up).
#[cfg(feature = "tls")]
fn tls_write(
    tls: &Mutex<TlsSession>,
    stream: &TcpStream,
    bufs: &[Outbound],
    sealed: &mut Vec<u8>,
) -> std::io::Result<()> {
    use std::io::Write;
    let (mut i, mut off) = (0usize, 0usize);
    loop {
        sealed.clear();
        {
            let mut c = tls.lock();
            while sealed.len() < SEAL_CHUNK && i < bufs.len() {
                let rest = &bufs[i][off..];
                if rest.is_empty() {
                    i += 1;
                    off = 0;
                    continue;
                }
                // rustls takes at most its buffer limit (64 KiB) per call; drain after each.
                let n = c.writer().write(rest)?;
                off += n;
                while c.wants_write() {
                    c.write_tls(sealed)?;
                }
                if n == 0 {
                    return Err(std::io::ErrorKind::WriteZero.into());
                }
            }
            while c.wants_write() {
                c.write_tls(sealed)?;
            }
        }
        if !sealed.is_empty() {
            let mut one = [IoSlice::new(sealed)];
            let mut slices = &mut one[..];
            while !slices.is_empty() {
                match send_vectored(stream, slices) {
                    Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                    Ok(n) => IoSlice::advance_slices(&mut slices, n),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if i >= bufs.len() {
            return Ok(());
        }
    }
}

fn write_all_vectored(stream: &mut TcpStream, bufs: &[Outbound]) -> std::io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
    let mut slices = &mut slices[..];
    while !slices.is_empty() {
        match send_vectored(stream, slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `sendmsg` with MSG_NOSIGNAL: `writev` would raise SIGPIPE on a closed socket and kill a C,
/// Python or Go host process that has not ignored the signal (Rust binaries do, libraries
/// cannot count on it).
fn send_vectored(stream: &TcpStream, slices: &[IoSlice<'_>]) -> std::io::Result<usize> {
    use std::os::fd::AsRawFd;
    // SAFETY: an all-zero msghdr is valid; IoSlice is guaranteed ABI-compatible with iovec on
    // Unix; the slices outlive the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = slices.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = slices.len().min(libc::UIO_MAXIOV as usize) as _;
    // SAFETY: valid fd and msghdr for the duration of the call.
    let n = unsafe { libc::sendmsg(stream.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    /// Panics on the first frame; records what `on_closed` saw.
    struct PanickyRouter {
        closed: Mutex<Vec<Error>>,
        done: Sender<()>,
    }

    impl Router for PanickyRouter {
        fn on_frame(&self, _frame: Frame) -> Result<()> {
            panic!("router exploded on purpose");
        }
        fn check_deadlines(&self, _now: Instant) -> Option<Error> {
            None
        }
        fn on_closed(&self, error: &Error, _data_frames_attempted: u64) {
            self.closed.lock().push(error.clone());
            let _ = self.done.send(());
        }
    }

    fn cfg() -> NetConfig {
        NetConfig::from_config(&crate::config::Config::new()).unwrap()
    }

    #[test]
    fn reader_panic_closes_with_panic_error_and_wakes_everyone() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            // The client's keepalive first, so its waiter is registered before the panic (else
            // the reader may panic and close before `ping` runs, and `ping` fails instead).
            let mut keepalive = [0u8; 44];
            std::io::Read::read_exact(&mut s, &mut keepalive).unwrap();
            let mut frame = Vec::new();
            encode_frame(&mut frame, crate::wire::Checksum::Crc32, flags::CONTROL, 0x80, 0, 0, 0, b"{}");
            s.write_all(&frame).unwrap();
            // Keep the socket open: only the panic may close the connection.
            std::thread::sleep(Duration::from_secs(2));
        });
        let stream = TcpStream::connect(addr).unwrap();
        let (done_tx, done_rx) = crossbeam_channel::bounded(1);
        let router = Arc::new(PanickyRouter { closed: Mutex::new(Vec::new()), done: done_tx });
        let dialed = Dialed { stream, server: addr.to_string(), addr, tls: None };
        let conn = Connection::start(dialed, cfg(), router.clone(), "panic-test").unwrap();
        // A waiter registered before the panic (a keepalive RTT) must be woken, not left hanging.
        let ping = conn.ping().unwrap();
        done_rx.recv_timeout(Duration::from_secs(5)).expect("on_closed must run after the panic");
        let seen = router.closed.lock().clone();
        assert_eq!(seen.len(), 1, "on_closed exactly once: {seen:?}");
        assert_eq!(seen[0].code, ErrorCode::Panic);
        assert!(
            seen[0].message.contains("internal panic in the connection reader thread: router exploded on purpose"),
            "{}",
            seen[0]
        );
        assert!(conn.is_closed());
        assert_eq!(conn.error().unwrap().code, ErrorCode::Panic);
        assert!(ping.recv_timeout(Duration::from_secs(5)).is_err(), "the keepalive waiter is woken by the close");
        assert!(conn.send(Arc::new(vec![0u8; 44])).is_err(), "a closed connection refuses writes");
        drop(conn);
        server.join().unwrap();
    }

    /// The writer thread's body runs in the same guard (`contain_panics`, named "writer"); no
    /// input makes the real writer panic, so the guard is driven directly with a panicking body.
    #[test]
    fn writer_panic_closes_with_panic_error() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            std::thread::sleep(Duration::from_secs(2));
            drop(s);
        });
        let stream = TcpStream::connect(addr).unwrap();
        let (done_tx, done_rx) = crossbeam_channel::bounded(1);
        let router = Arc::new(PanickyRouter { closed: Mutex::new(Vec::new()), done: done_tx });
        let dialed = Dialed { stream, server: addr.to_string(), addr, tls: None };
        let conn = Connection::start(dialed, cfg(), router.clone(), "panic-test-wr").unwrap();
        contain_panics(&conn.shared, "writer", || panic!("writer exploded"));
        done_rx.recv_timeout(Duration::from_secs(5)).expect("on_closed must run");
        let seen = router.closed.lock().clone();
        assert_eq!(seen[0].code, ErrorCode::Panic);
        assert!(
            seen[0].message.contains("internal panic in the connection writer thread: writer exploded"),
            "{}",
            seen[0]
        );
        assert!(conn.is_closed());
        drop(conn);
        server.join().unwrap();
    }
}
