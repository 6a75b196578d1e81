//! One client connection: read, dispatch every complete frame of that read, write immediate
//! replies during dispatch, then the read's Acks after the durability delay (lwp.md §1.6, §2).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::shared::{Counters, Shared};
use super::state::FetchOutcome;
use crate::wire::control::{self, command, reply_code, Request};
use crate::wire::{encode_frame, flags, Frame, FrameDecoder, FrameKind};

/// Bytes asked of the socket per read. Memory stays bounded: at most one frame plus one chunk is
/// ever buffered, and the decoder refuses an oversize length before buffering its payload.
const READ_CHUNK: usize = 64 * 1024;
/// How often a blocked read wakes up to look at the stop / cut / stall flags.
const POLL: Duration = Duration::from_millis(20);

/// The deployed server's standalone GetClusterStatus reply, byte for byte (lwp.md §3.7).
pub(crate) const CLUSTER_STATUS: &str = "{\"current_term\":0,\"healthy_nodes\":1,\"is_leader\":true,\"leader_id\":0,\"mode\":\"standalone\",\"node_count\":1,\"node_id\":0,\"peer_states\":{},\"quorum_available\":true}";

/// An accepted ingest waiting for its read's durability point.
struct Pending {
    batch_id: u64,
    topic_id: u32,
    payload: Vec<u8>,
    /// False when a fault swallows the Ack (or the ingest was answered with an injected error
    /// but stored anyway).
    ack: bool,
}

/// The connection's byte stream: the socket, or a TLS session over it.
enum MockStream {
    Plain(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<super::tls::ServerStream>),
}

impl MockStream {
    fn socket(&self) -> &TcpStream {
        match self {
            MockStream::Plain(s) => s,
            #[cfg(feature = "tls")]
            MockStream::Tls(t) => t.sock(),
        }
    }
}

impl Read for MockStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            MockStream::Plain(s) => s.read(buf),
            #[cfg(feature = "tls")]
            MockStream::Tls(t) => t.read(buf),
        }
    }
}

impl Write for MockStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            MockStream::Plain(s) => s.write(buf),
            #[cfg(feature = "tls")]
            MockStream::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Conn {
    shared: Arc<Shared>,
    stream: MockStream,
    closed: Arc<AtomicBool>,
    authenticated: bool,
    /// A write failed: finish the read's bookkeeping, then close.
    dead: bool,
}

/// Keeps `connections_open` right however the thread ends (including a panic).
struct OpenGuard(Arc<Shared>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.stats.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs one connection to the end. Never panics on client input.
pub(crate) fn serve(shared: Arc<Shared>, stream: TcpStream, closed: Arc<AtomicBool>) {
    // connections_open was counted by the accept thread.
    let _open = OpenGuard(shared.clone());
    // The real server has no timeouts; this one only lets the thread notice stop/cut/stall.
    let _ = stream.set_read_timeout(Some(POLL));
    let _ = stream.set_nodelay(true);
    #[cfg(feature = "tls")]
    let stream = match shared.tls.clone() {
        None => MockStream::Plain(stream),
        Some(config) => {
            let stop = super::tls::stop_check(&shared.stopping, &closed);
            match super::tls::ServerStream::accept(config, stream, &stop) {
                Ok(s) => MockStream::Tls(Box::new(s)),
                // A refused handshake already sent its alert; the TCP connection just ends.
                Err(_) => return,
            }
        }
    };
    #[cfg(not(feature = "tls"))]
    let stream = MockStream::Plain(stream);
    let mut conn = Conn { shared, stream, closed, authenticated: false, dead: false };
    conn.run();
    let _ = conn.stream.socket().shutdown(Shutdown::Both);
}

impl Conn {
    fn cut(&self) -> bool {
        self.closed.load(Ordering::SeqCst) || self.shared.stopping.load(Ordering::SeqCst)
    }

    fn run(&mut self) {
        let mut decoder = FrameDecoder::new(self.shared.checksum, self.shared.max_payload);
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            if self.cut() {
                return;
            }
            if self.shared.stall.load(Ordering::SeqCst) {
                // Not reading lets the kernel buffers fill: the client sees TCP backpressure.
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
            // Never read past a drop-after-bytes budget, so the cut lands exactly there.
            let limit = match self.shared.faults.lock().drop_after_bytes {
                Some(b) => (b.max(1)).min(buf.len() as u64) as usize,
                None => buf.len(),
            };
            let n = match self.stream.read(&mut buf[..limit]) {
                Ok(0) => return,
                Ok(n) => n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {
                    continue
                }
                Err(_) => return,
            };
            Counters::add(&self.shared.stats.bytes_received, n as u64);
            let mut drop_now = false;
            {
                let mut f = self.shared.faults.lock();
                if let Some(b) = f.drop_after_bytes {
                    if n as u64 >= b {
                        f.drop_after_bytes = None;
                        drop_now = true;
                    } else {
                        f.drop_after_bytes = Some(b - n as u64);
                    }
                }
            }
            decoder.feed(&buf[..n]);

            // Dispatch every complete frame of this read, in order.
            let mut pending: Vec<Pending> = Vec::new();
            let mut fatal = false;
            loop {
                match decoder.next_frame() {
                    Ok(Some(frame)) => {
                        Counters::add(&self.shared.stats.frames_received, 1);
                        {
                            let mut f = self.shared.faults.lock();
                            if let Some(k) = f.drop_after_frames {
                                if k <= 1 {
                                    f.drop_after_frames = None;
                                    drop_now = true;
                                } else {
                                    f.drop_after_frames = Some(k - 1);
                                }
                            }
                        }
                        self.dispatch(frame, &mut pending);
                    }
                    Ok(None) => break,
                    Err(_) => {
                        // Bad magic/version/checksum or oversize: silent close (lwp.md §1.6).
                        fatal = true;
                        break;
                    }
                }
            }

            if fatal || drop_now || self.dead {
                // The read's ingests were queued for the writer: stored, never acked.
                let unacked = pending.iter().filter(|p| p.ack).count() as u64;
                Counters::add(&self.shared.stats.acks_dropped, unacked);
                self.store(&pending);
                if fatal {
                    Counters::add(&self.shared.stats.fatal_closes, 1);
                }
                if drop_now {
                    Counters::add(&self.shared.stats.injected_drops, 1);
                }
                return;
            }
            if pending.is_empty() {
                continue;
            }
            // The durability point: data becomes visible, then the Acks go out in one write.
            self.wait_ack_delay();
            self.store(&pending);
            let mut acks = Vec::new();
            let mut sent = 0u64;
            for p in &pending {
                if p.ack {
                    encode_frame(&mut acks, self.shared.checksum, flags::ACK, p.batch_id, 0, 0, 0, &[]);
                    sent += 1;
                } else {
                    Counters::add(&self.shared.stats.acks_dropped, 1);
                }
            }
            if self.cut() {
                Counters::add(&self.shared.stats.acks_dropped, sent);
                return;
            }
            if !acks.is_empty() {
                // Counted before the write so a client that has read an Ack sees it counted.
                Counters::add(&self.shared.stats.acks_sent, sent);
                if self.stream.write_all(&acks).is_err() {
                    self.shared.stats.acks_sent.fetch_sub(sent, Ordering::Relaxed);
                    Counters::add(&self.shared.stats.acks_dropped, sent);
                    return;
                }
            }
        }
    }

    fn wait_ack_delay(&self) {
        let deadline = Instant::now() + self.shared.ack_delay();
        loop {
            let now = Instant::now();
            if now >= deadline || self.cut() {
                return;
            }
            std::thread::sleep((deadline - now).min(Duration::from_millis(10)));
        }
    }

    fn store(&self, pending: &[Pending]) {
        if pending.is_empty() {
            return;
        }
        let mut st = self.shared.state.lock();
        for p in pending {
            if st.append(p.topic_id, &p.payload) {
                Counters::add(&self.shared.stats.ingests_stored, 1);
                Counters::add(&self.shared.stats.bytes_stored, p.payload.len() as u64);
            }
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        if self.dead {
            return;
        }
        if self.stream.write_all(bytes).is_err() {
            self.dead = true;
        }
    }

    fn send_frame(&mut self, frame_flags: u8, batch_id: u64, payload: &[u8]) {
        let mut out = Vec::with_capacity(44 + payload.len());
        encode_frame(&mut out, self.shared.checksum, frame_flags, batch_id, 0, 0, 0, payload);
        self.send(&out);
    }

    fn reply(&mut self, code: u8, payload: &[u8]) {
        self.send_frame(flags::CONTROL, code as u64, payload);
    }

    fn error(&mut self, text: &str) {
        Counters::add(&self.shared.stats.errors_sent, 1);
        self.reply(reply_code::ERROR_RESPONSE, text.as_bytes());
    }

    fn reply_json(&mut self, result: Result<Vec<u8>, String>) {
        match result {
            Ok(json) => self.reply(reply_code::TOPIC_RESPONSE, &json),
            Err(text) => self.error(&text),
        }
    }

    fn dispatch(&mut self, frame: Frame, pending: &mut Vec<Pending>) {
        match frame.kind() {
            FrameKind::Control => self.control(frame.header.code(), &frame.payload),
            FrameKind::Keepalive => {
                Counters::add(&self.shared.stats.keepalives_answered, 1);
                self.send_frame(flags::KEEPALIVE, 0, &[]);
            }
            // Client acks, backpressure and unknown frames are ignored silently.
            FrameKind::Ack | FrameKind::Backpressure | FrameKind::Unknown => {}
            FrameKind::Ingest => self.ingest(frame, pending),
        }
    }

    /// Ingest checks in the deployed server's order (lwp.md §2.1).
    fn ingest(&mut self, frame: Frame, pending: &mut Vec<Pending>) {
        Counters::add(&self.shared.stats.ingests_received, 1);
        let auth_required = self.shared.auth_token.read().is_some();
        if auth_required && !self.authenticated && !self.shared.write_only.load(Ordering::SeqCst) {
            self.error("Authentication required");
            return;
        }
        let topic_id = frame.header.topic_id;
        // Injected failures sit where a cluster follower forwards (step 2).
        if !frame.payload.is_empty() {
            let injected = {
                let mut f = self.shared.faults.lock();
                if f.fail_ingests > 0 {
                    f.fail_ingests -= 1;
                    Some((f.fail_ingest_text.clone(), f.fail_ingest_store))
                } else {
                    None
                }
            };
            if let Some((text, store)) = injected {
                if store {
                    // Stored in order with the read's other batches, but never acked.
                    pending.push(Pending {
                        batch_id: frame.header.batch_id,
                        topic_id,
                        payload: frame.payload,
                        ack: false,
                    });
                }
                self.error(&text);
                return;
            }
        }
        if !self.shared.state.lock().ingest_target_exists(topic_id) {
            self.error("Unknown topic");
            return;
        }
        if frame.payload.is_empty() {
            // Dropped silently: no Ack, no error.
            return;
        }
        let ack = {
            let mut f = self.shared.faults.lock();
            if f.drop_next_acks > 0 {
                f.drop_next_acks -= 1;
                false
            } else {
                true
            }
        };
        pending.push(Pending { batch_id: frame.header.batch_id, topic_id, payload: frame.payload, ack });
    }

    fn control(&mut self, code: u8, payload: &[u8]) {
        Counters::add(&self.shared.stats.control_requests, 1);
        // Authenticate is handled at connection level on the server, outside the command table.
        if code == command::AUTHENTICATE {
            self.authenticate(payload);
            return;
        }
        if code == reply_code::AUTHENTICATE_RESPONSE {
            self.error("Authentication handled at connection level");
            return;
        }
        let injected = {
            let mut f = self.shared.faults.lock();
            if f.fail_requests > 0 {
                f.fail_requests -= 1;
                Some(f.fail_request_text.clone())
            } else {
                None
            }
        };
        if let Some(text) = injected {
            self.error(&text);
            return;
        }
        let request = match Request::decode(code, payload) {
            Ok(r) => r,
            Err(text) => {
                self.error(text);
                return;
            }
        };
        match request {
            Request::CreateTopic { name } => {
                let r = self.shared.state.lock().create_topic(&name, None);
                self.reply_json(r);
            }
            Request::CreateTopicWithRetention { name, max_age_secs, max_bytes } => {
                let r = self.shared.state.lock().create_topic(&name, Some((max_age_secs, max_bytes)));
                self.reply_json(r);
            }
            Request::DeleteTopic { topic_id } => {
                let r = self.shared.state.lock().delete_topic(topic_id);
                self.reply_json(r);
            }
            Request::ListTopics => {
                let r = self.shared.state.lock().list_topics();
                self.reply(reply_code::TOPIC_RESPONSE, &r);
            }
            Request::GetTopic { topic_id } => {
                let r = self.shared.state.lock().get_topic(topic_id);
                self.reply_json(r);
            }
            Request::SetRetention { topic_id, max_age_secs, max_bytes } => {
                let r = self.shared.state.lock().set_retention(topic_id, max_age_secs, max_bytes);
                self.reply_json(r);
            }
            Request::GetClusterStatus => self.reply(reply_code::CLUSTER_STATUS_RESPONSE, CLUSTER_STATUS.as_bytes()),
            Request::Authenticate { token } => self.authenticate(&token),
            Request::Fetch { topic_id, start_offset, max_bytes } => self.fetch(topic_id, start_offset, max_bytes),
            Request::Subscribe { topic_id, start_offset, consumer_id, .. } => {
                let r = self.shared.state.lock().subscribe(topic_id, start_offset, consumer_id);
                match r {
                    Ok(offset) => {
                        self.reply(reply_code::SUBSCRIBE_ACK, &control::encode_consumer_ack(consumer_id, offset))
                    }
                    Err(text) => self.error(&text),
                }
            }
            Request::Unsubscribe { topic_id, consumer_id } => {
                self.shared.state.lock().unsubscribe(topic_id, consumer_id);
                // Answered with an Ack frame carrying the consumer id (lwp.md §3.10).
                self.send_frame(flags::ACK, consumer_id, &[]);
            }
            Request::CommitOffset { topic_id, consumer_id, offset } => {
                self.shared.state.lock().commit(topic_id, consumer_id, offset);
                self.reply(reply_code::COMMIT_ACK, &control::encode_consumer_ack(consumer_id, offset));
            }
            #[allow(unreachable_patterns)]
            _ => self.error("Invalid client command"),
        }
    }

    /// Authenticate (lwp.md §3.8): a failure never closes and never revokes.
    fn authenticate(&mut self, token: &[u8]) {
        let (ok, msg) = if token.is_empty() {
            (false, "No token provided")
        } else {
            match std::str::from_utf8(token) {
                Err(_) => (false, "Invalid token encoding"),
                Ok(t) => match &*self.shared.auth_token.read() {
                    None => (true, "Authenticated"),
                    Some(want) if want == t => {
                        self.authenticated = true;
                        (true, "Authenticated")
                    }
                    Some(_) => (false, "Invalid token"),
                },
            }
        };
        self.reply(reply_code::AUTHENTICATE_RESPONSE, &control::encode_auth_response(ok, msg));
    }

    /// Fetch decision order (lwp.md §4): payload checks (done by decode), rate limit, topic,
    /// tail sentinel, read.
    fn fetch(&mut self, topic_id: u32, start_offset: u64, max_bytes: u32) {
        if !self.shared.rate.lock().admit() {
            self.error("Rate limit exceeded");
            return;
        }
        let outcome = {
            let st = self.shared.state.lock();
            let faults = &self.shared.faults;
            st.fetch(topic_id, start_offset, max_bytes, &mut || {
                let mut f = faults.lock();
                if f.force_catching_up > 0 {
                    f.force_catching_up -= 1;
                    true
                } else {
                    false
                }
            })
        };
        match outcome {
            FetchOutcome::Error(text) => self.error(&text),
            FetchOutcome::CatchingUp(end) => {
                Counters::add(&self.shared.stats.catching_up_sent, 1);
                self.reply(reply_code::CATCHING_UP, &end.to_le_bytes());
            }
            FetchOutcome::Data { next_offset, data } => {
                self.shared.rate.lock().consume(data.len() as u64);
                Counters::add(&self.shared.stats.fetches_served, 1);
                Counters::add(&self.shared.stats.fetch_bytes_served, data.len() as u64);
                let mut p = Vec::with_capacity(16 + data.len());
                control::encode_fetch_response(&mut p, next_offset, &data);
                self.reply(reply_code::FETCH_RESPONSE, &p);
            }
        }
    }
}
