//! The admin client: topics, retention, cluster status, ping, authentication, and the low-level
//! fetch / subscribe / commit calls (lwp.md §3).

use std::time::{Duration, Instant};

use crate::cancel::Cancel;
use crate::net::backoff::Backoff;

use crate::config::Config;
use crate::error::{Error, ErrorCode, Result};
use crate::net::{ControlClient, NetConfig};
use crate::wire::control::{
    self, decode_auth_response, decode_catching_up, decode_cluster_status, decode_consumer_ack, decode_fetch_response,
    decode_retention, decode_topic_deleted, decode_topic_info, decode_topic_list, reply_code, ClusterStatus, Request,
    RetentionInfo, TopicInfo, RETENTION_UNLIMITED_AGE_SECS, RETENTION_UNLIMITED_BYTES,
};
use crate::wire::{Frame, FrameKind};

/// Retention limits. `None` means unlimited, encoded the way the server understands it
/// (lwp.md §3.5): max_age_secs 18,446,744,073 and max_bytes u64::MAX.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Delete closed segments older than this.
    pub max_age_secs: Option<u64>,
    /// Delete the oldest closed segments while the topic is larger than this.
    pub max_bytes: Option<u64>,
}

impl Retention {
    /// The wire values. `None` and `Some(0)` both mean unlimited (the seed client's meaning of
    /// 0, in every binding: docs/bindings.md); sent as 0 the server would instead delete every
    /// closed segment. Ages above 18,446,744,073 s are refused: they wrap inside the server.
    pub fn wire_values(&self) -> Result<(u64, u64)> {
        let age = match self.max_age_secs {
            None | Some(0) => RETENTION_UNLIMITED_AGE_SECS,
            Some(a) if a > RETENTION_UNLIMITED_AGE_SECS => {
                return Err(Error::invalid_arg(format!(
                    "max_age_secs {a} overflows on the server (largest is {RETENTION_UNLIMITED_AGE_SECS}); use None for unlimited"
                )))
            }
            Some(a) => a,
        };
        let bytes = match self.max_bytes {
            None | Some(0) => RETENTION_UNLIMITED_BYTES,
            Some(b) => b,
        };
        Ok((age, bytes))
    }
}

/// What a low-level Fetch returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchReply {
    /// Raw log bytes from the requested offset (records may be cut anywhere).
    Data {
        /// start_offset + data.len().
        next_offset: u64,
        /// The bytes.
        data: Vec<u8>,
    },
    /// The offset is past the end (or the node is catching up); `end_offset` is the current end.
    CatchingUp {
        /// The topic's end offset.
        end_offset: u64,
    },
}

/// Topic administration and control calls. Thread-safe; connects lazily and reconnects.
///
/// Every call takes an optional timeout; `None` uses `request.timeout.ms`.
pub struct Admin {
    client: ControlClient,
    default_timeout: Duration,
    wake: std::sync::Arc<crate::notify::WakeFd>,
    events: std::sync::Arc<crate::events::Events>,
}

impl Admin {
    /// An admin client for `config` (connects on the first call).
    pub fn new(config: &Config) -> Result<Admin> {
        let net = NetConfig::from_config(config)?;
        let wake = std::sync::Arc::new(
            crate::notify::WakeFd::new().map_err(|e| Error::new(ErrorCode::Io, format!("eventfd: {e}")))?,
        );
        let events = crate::events::Events::new(config, "admin", Some(wake.clone()));
        events.set_owner(std::sync::Arc::as_ptr(&events) as usize);
        events.start(crate::events::weak_source(std::sync::Arc::downgrade(&events), |e| {
            crate::events::stats_hook::admin_json(e)
        }))?;
        let client = ControlClient::new(net.clone(), "admin").with_events(events.clone());
        Ok(Admin { default_timeout: net.request_timeout, client, wake, events })
    }

    /// Takes up to `max` queued events (connection changes, statistics, …), waiting up to
    /// `timeout` for the first; see [`crate::events`]. With an event callback set on the config,
    /// events go there instead.
    pub fn poll_events(&self, max: usize, timeout: Duration) -> Vec<crate::events::Event> {
        let out = self.events.take(max, std::time::Instant::now() + timeout);
        // Clear first, then look: an event queued meanwhile re-signals.
        self.wake.clear();
        self.events.rearm();
        out
    }

    /// Closes the connection now (a later call connects again): a producer closing drops the
    /// connection it used for topic names.
    pub(crate) fn disconnect(&self) {
        self.client.disconnect();
    }

    /// Wakes every `poll_events` waiter and stops the event thread (before the handle is freed;
    /// later polls return at once with what is left).
    pub fn close_events(&self) {
        self.events.close();
    }

    /// True while this admin's log or event callback runs on the current thread.
    pub fn in_callback(&self) -> bool {
        crate::reentry::active(std::sync::Arc::as_ptr(&self.events) as usize)
    }

    /// An eventfd that is readable while events wait. Owned by the admin client.
    pub fn eventfd(&self) -> i32 {
        self.wake.fd()
    }

    /// The circuit breaker's state.
    pub fn circuit_state(&self) -> crate::events::CircuitState {
        self.events.circuit_state()
    }

    /// The statistics document (JSON text), as the statistics event carries it.
    pub fn statistics_json(&self) -> String {
        crate::events::stats_hook::admin_json(&self.events)
    }

    fn call(&self, req: &Request, timeout: Option<Duration>) -> Result<Frame> {
        self.client.request(req, timeout.unwrap_or(self.default_timeout))
    }

    fn expect(frame: &Frame, code: u8) -> Result<&[u8]> {
        if frame.kind() == FrameKind::Control && frame.header.code() == code {
            Ok(&frame.payload)
        } else {
            Err(Error::protocol(format!("expected reply code {code:#04x}, got {:#04x}", frame.header.code())))
        }
    }

    /// Creates a topic. The name is validated locally with the server's rule and error text.
    pub fn create_topic(&self, name: &str, timeout: Option<Duration>) -> Result<TopicInfo> {
        check_name(name)?;
        let f = self.call(&Request::CreateTopic { name: name.as_bytes().to_vec() }, timeout)?;
        Ok(decode_topic_info(Self::expect(&f, reply_code::TOPIC_RESPONSE)?)?)
    }

    /// Creates a topic with retention limits.
    pub fn create_topic_with_retention(
        &self,
        name: &str,
        retention: Retention,
        timeout: Option<Duration>,
    ) -> Result<TopicInfo> {
        check_name(name)?;
        let (max_age_secs, max_bytes) = retention.wire_values()?;
        let req = Request::CreateTopicWithRetention { name: name.as_bytes().to_vec(), max_age_secs, max_bytes };
        let f = self.call(&req, timeout)?;
        Ok(decode_topic_info(Self::expect(&f, reply_code::TOPIC_RESPONSE)?)?)
    }

    /// Creates the topic, or returns the existing one with that name (create, then list on
    /// `already exists`). Retryable failures (a dead or catching-up server, a lost leader) are
    /// retried with a growing backoff until `timeout` (default `request.timeout.ms`) is spent.
    pub fn ensure_topic(&self, name: &str, timeout: Option<Duration>) -> Result<TopicInfo> {
        self.resolve_topic(name, true, timeout, None)
    }

    /// The topic called `name`: created when missing if `create`, else UNKNOWN_TOPIC. Retries
    /// retryable failures until `timeout` (default `request.timeout.ms`); `cancel` ends the
    /// waits between attempts. The one place a name becomes an id (producers use it too).
    pub fn resolve_topic(
        &self,
        name: &str,
        create: bool,
        timeout: Option<Duration>,
        cancel: Option<&Cancel>,
    ) -> Result<TopicInfo> {
        check_name(name)?;
        let deadline = Instant::now() + timeout.unwrap_or(self.default_timeout);
        retrying(deadline, cancel, "topic lookup", |left| {
            if !create {
                return self.topic_by_name(name, Some(left))?.ok_or_else(|| {
                    Error::new(
                        ErrorCode::UnknownTopic,
                        format!("topic '{name}' does not exist (topic.auto.create=false)"),
                    )
                    .with_retryable(false)
                });
            }
            match self.create_topic(name, Some(left)) {
                Err(e) if e.code == ErrorCode::TopicExists => self.topic_by_name(name, Some(left))?.ok_or_else(|| {
                    Error::new(
                        ErrorCode::UnknownTopic,
                        format!("topic '{name}' exists per CreateTopic but is missing from ListTopics"),
                    )
                }),
                other => other,
            }
        })
    }

    /// Every topic (order as the server returns it; retention not included).
    pub fn list_topics(&self, timeout: Option<Duration>) -> Result<Vec<TopicInfo>> {
        let f = self.call(&Request::ListTopics, timeout)?;
        Ok(decode_topic_list(Self::expect(&f, reply_code::TOPIC_RESPONSE)?)?.topics)
    }

    /// The topic with this name, if any.
    pub fn topic_by_name(&self, name: &str, timeout: Option<Duration>) -> Result<Option<TopicInfo>> {
        Ok(self.list_topics(timeout)?.into_iter().find(|t| t.name == name))
    }

    /// One topic by id.
    pub fn get_topic(&self, topic_id: u32, timeout: Option<Duration>) -> Result<TopicInfo> {
        let f = self.call(&Request::GetTopic { topic_id }, timeout)?;
        Ok(decode_topic_info(Self::expect(&f, reply_code::TOPIC_RESPONSE)?)?)
    }

    /// Deletes a topic and its data; returns the deleted id.
    pub fn delete_topic(&self, topic_id: u32, timeout: Option<Duration>) -> Result<u32> {
        let f = self.call(&Request::DeleteTopic { topic_id }, timeout)?;
        Ok(decode_topic_deleted(Self::expect(&f, reply_code::TOPIC_RESPONSE)?)?.deleted)
    }

    /// Sets a topic's retention.
    pub fn set_retention(
        &self,
        topic_id: u32,
        retention: Retention,
        timeout: Option<Duration>,
    ) -> Result<RetentionInfo> {
        let (max_age_secs, max_bytes) = retention.wire_values()?;
        let f = self.call(&Request::SetRetention { topic_id, max_age_secs, max_bytes }, timeout)?;
        Ok(decode_retention(Self::expect(&f, reply_code::TOPIC_RESPONSE)?)?)
    }

    /// Cluster status (standalone servers report mode "standalone").
    pub fn cluster_status(&self, timeout: Option<Duration>) -> Result<ClusterStatus> {
        let f = self.call(&Request::GetClusterStatus, timeout)?;
        Ok(decode_cluster_status(Self::expect(&f, reply_code::CLUSTER_STATUS_RESPONSE)?)?)
    }

    /// Keepalive round-trip time.
    pub fn ping(&self, timeout: Option<Duration>) -> Result<Duration> {
        self.client.ping(timeout.unwrap_or(self.default_timeout))
    }

    /// Authenticates the admin connection with `token` (control commands never need it; this
    /// checks a token). A refused token is AUTH_FAILED.
    pub fn authenticate(&self, token: &str, timeout: Option<Duration>) -> Result<()> {
        let f = self.call(&Request::Authenticate { token: token.as_bytes().to_vec() }, timeout)?;
        let r = decode_auth_response(Self::expect(&f, reply_code::AUTHENTICATE_RESPONSE)?)?;
        if r.success {
            Ok(())
        } else {
            Err(Error::new(ErrorCode::AuthFailed, r.message))
        }
    }

    /// One raw Fetch. `max_bytes` must be 1..=16,777,156 (0 would return nothing, larger replies
    /// would not fit a frame). Use `u64::MAX` as `start_offset` to learn the tail.
    pub fn fetch(
        &self,
        topic_id: u32,
        start_offset: u64,
        max_bytes: u32,
        timeout: Option<Duration>,
    ) -> Result<FetchReply> {
        if max_bytes == 0 || max_bytes > control::MAX_FETCH_BYTES {
            return Err(Error::invalid_arg(format!(
                "max_bytes must be 1..={}, got {max_bytes}",
                control::MAX_FETCH_BYTES
            )));
        }
        let f = self.call(&Request::Fetch { topic_id, start_offset, max_bytes }, timeout)?;
        decode_fetch_frame(&f)
    }

    /// Server-side Subscribe: returns (consumer_id, offset). Requested 0 resolves to the
    /// server-side commit; u64::MAX is echoed, not resolved.
    pub fn subscribe(
        &self,
        topic_id: u32,
        start_offset: u64,
        max_batch_bytes: u32,
        consumer_id: u64,
        timeout: Option<Duration>,
    ) -> Result<(u64, u64)> {
        let f = self.call(&Request::Subscribe { topic_id, start_offset, max_batch_bytes, consumer_id }, timeout)?;
        Ok(decode_consumer_ack(Self::expect(&f, reply_code::SUBSCRIBE_ACK)?)?)
    }

    /// Server-side Unsubscribe (answered with an Ack frame carrying the consumer id).
    pub fn unsubscribe(&self, topic_id: u32, consumer_id: u64, timeout: Option<Duration>) -> Result<()> {
        let f = self.call(&Request::Unsubscribe { topic_id, consumer_id }, timeout)?;
        if f.kind() == FrameKind::Ack && f.header.batch_id == consumer_id {
            Ok(())
        } else {
            Err(Error::protocol(format!(
                "Unsubscribe answered with batch id {} instead of {consumer_id}",
                f.header.batch_id
            )))
        }
    }

    /// Server-side CommitOffset (server memory only, lost on restart): returns (consumer_id, offset).
    pub fn commit_offset(
        &self,
        topic_id: u32,
        consumer_id: u64,
        offset: u64,
        timeout: Option<Duration>,
    ) -> Result<(u64, u64)> {
        let f = self.call(&Request::CommitOffset { topic_id, consumer_id, offset }, timeout)?;
        Ok(decode_consumer_ack(Self::expect(&f, reply_code::COMMIT_ACK)?)?)
    }

    /// Connections established so far (for tests and metrics).
    pub fn connects(&self) -> u64 {
        self.client.connects()
    }
}

/// Decodes a Fetch reply frame (FetchResponse or CatchingUp).
pub fn decode_fetch_frame(f: &Frame) -> Result<FetchReply> {
    match f.header.code() {
        reply_code::FETCH_RESPONSE => {
            let r = decode_fetch_response(&f.payload)?;
            Ok(FetchReply::Data { next_offset: r.next_offset, data: r.data.to_vec() })
        }
        reply_code::CATCHING_UP => Ok(FetchReply::CatchingUp { end_offset: decode_catching_up(&f.payload)? }),
        c => Err(Error::protocol(format!("unexpected Fetch reply code {c:#04x}"))),
    }
}

fn check_name(name: &str) -> Result<()> {
    control::validate_topic_name(name).map_err(|text| Error::new(ErrorCode::InvalidName, text))
}

/// Runs `attempt` with the time left until it succeeds, fails with an error that is not
/// retryable, or `deadline`/`cancel` ends it, waiting a growing backoff between attempts (at least
/// a second after RATE_LIMITED, lwp.md §6). The last error is returned.
fn retrying<T>(
    deadline: Instant,
    cancel: Option<&Cancel>,
    what: &str,
    mut attempt: impl FnMut(Duration) -> Result<T>,
) -> Result<T> {
    let seed = deadline.elapsed().as_nanos() as u64 ^ (what.len() as u64) << 32;
    let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(2), 0.2, seed);
    loop {
        crate::cancel::check(cancel, what)?;
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        let err = match attempt(left) {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        if !err.retryable {
            return Err(err);
        }
        let mut delay = backoff.next_delay();
        if err.code == ErrorCode::RateLimited {
            delay = delay.max(Duration::from_secs(1));
        }
        if Instant::now() + delay >= deadline {
            return Err(err);
        }
        crate::cancel::sleep(delay, cancel, what)?;
    }
}

impl Drop for Admin {
    /// Stops the event thread (if any) after it handed every queued event to the callback.
    fn drop(&mut self) {
        self.events.close();
    }
}
