//! One live connection: a reader thread (decode, route, keepalive, deadlines) and a writer thread
//! (a crossbeam queue drained with vectored writes). Any failure closes the connection once and
//! tells the router, so every waiter gets an error instead of hanging.

use std::io::IoSlice;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use super::dial::{is_timeout, Dialed, NetConfig};
use crate::error::{Error, Result};
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
        let Dialed { stream, server, addr } = dialed;
        stream.set_read_timeout(Some(TICK))?;
        stream.set_write_timeout(Some(cfg.request_timeout))?;
        let (tx, rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(Shared {
            stream: stream.try_clone()?,
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
        });
        let reader_stream = stream.try_clone()?;
        let r = shared.clone();
        let reader = std::thread::Builder::new()
            .name(format!("lnc-{name}-rd"))
            .spawn(move || reader_loop(r, reader_stream))
            .map_err(|e| Error::transport(format!("cannot spawn reader thread: {e}")))?;
        let w = shared.clone();
        let writer = std::thread::Builder::new()
            .name(format!("lnc-{name}-wr"))
            .spawn(move || writer_loop(w, stream, rx))
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

fn reader_loop(shared: Arc<Shared>, mut stream: TcpStream) {
    let mut decoder = FrameDecoder::new(shared.cfg.checksum, shared.cfg.max_payload);
    while !shared.closed.load(Ordering::Acquire) {
        match decoder.read_from(&mut stream, 64 * 1024) {
            Ok(0) => {
                shared.close(Error::transport("connection closed by the server"));
                return;
            }
            Ok(_) => {
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
                let err = if e.kind() == std::io::ErrorKind::InvalidData {
                    Error::protocol(e.to_string())
                } else {
                    Error::transport(format!("read failed: {e}"))
                };
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
            if let Some((sent, Some(waiter))) = shared.keepalives.lock().pop_front() {
                let _ = waiter.try_send(sent.elapsed());
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
        if let Err(e) = write_all_vectored(&mut stream, &batch) {
            // A partial frame may be on the wire: the connection is unusable (lwp.md §2.4).
            let err = if is_timeout(&e) {
                Error::timed_out(format!("write timed out after {} ms", shared.cfg.request_timeout.as_millis()))
            } else {
                Error::transport(format!("write failed: {e}"))
            };
            shared.close(err);
            return;
        }
        if stop || shared.closed.load(Ordering::Acquire) {
            return;
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
