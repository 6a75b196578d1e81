//! Control requests and replies (lwp.md §3).
//!
//! Requests are encoded by clients and decoded by the mock broker with the deployed server's exact
//! error texts; replies the other way round. JSON replies are parsed with `serde_json`, never
//! compared as text.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Command codes (request batch_id low byte).
pub mod command {
    #![allow(missing_docs)] // the names are the docs (lwp.md §3.0 table)
    pub const CREATE_TOPIC: u8 = 0x01;
    pub const DELETE_TOPIC: u8 = 0x02;
    pub const LIST_TOPICS: u8 = 0x03;
    pub const GET_TOPIC: u8 = 0x04;
    pub const SET_RETENTION: u8 = 0x05;
    pub const CREATE_TOPIC_WITH_RETENTION: u8 = 0x06;
    pub const GET_CLUSTER_STATUS: u8 = 0x07;
    pub const AUTHENTICATE: u8 = 0x08;
    pub const FETCH: u8 = 0x10;
    pub const SUBSCRIBE: u8 = 0x20;
    pub const UNSUBSCRIBE: u8 = 0x21;
    pub const COMMIT_OFFSET: u8 = 0x22;
}

/// Reply codes (reply batch_id).
pub mod reply_code {
    #![allow(missing_docs)] // the names are the docs (lwp.md §3.0 table)
    pub const AUTHENTICATE_RESPONSE: u8 = 0x09;
    pub const FETCH_RESPONSE: u8 = 0x11;
    pub const CATCHING_UP: u8 = 0x12;
    pub const SUBSCRIBE_ACK: u8 = 0x23;
    pub const COMMIT_ACK: u8 = 0x24;
    pub const TOPIC_RESPONSE: u8 = 0x80;
    pub const CLUSTER_STATUS_RESPONSE: u8 = 0x81;
    pub const ERROR_RESPONSE: u8 = 0xFF;
}

/// Largest max_bytes liblnc ever requests: the reply (max_bytes + 16) then fits in 16 MiB.
pub const MAX_FETCH_BYTES: u32 = 16_777_156;
/// "Unlimited" retention age: larger values wrap inside the server (lwp.md §3.5).
pub const RETENTION_UNLIMITED_AGE_SECS: u64 = 18_446_744_073;
/// "Unlimited" retention size.
pub const RETENTION_UNLIMITED_BYTES: u64 = u64::MAX;
/// Fetch start offset meaning "the current tail" (lwp.md §4).
pub const TAIL_OFFSET: u64 = u64::MAX;
/// Longest valid topic name in bytes.
pub const MAX_TOPIC_NAME: usize = 255;

/// A control request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // fields are named as in lwp.md §3.0
pub enum Request {
    /// 0x01: the name bytes, no length prefix.
    CreateTopic { name: Vec<u8> },
    /// 0x02.
    DeleteTopic { topic_id: u32 },
    /// 0x03: no payload.
    ListTopics,
    /// 0x04.
    GetTopic { topic_id: u32 },
    /// 0x05. Unlimited is `RETENTION_UNLIMITED_AGE_SECS` / `RETENTION_UNLIMITED_BYTES`, never 0.
    SetRetention { topic_id: u32, max_age_secs: u64, max_bytes: u64 },
    /// 0x06: u16 name length, name, max_age_secs, max_bytes.
    CreateTopicWithRetention { name: Vec<u8>, max_age_secs: u64, max_bytes: u64 },
    /// 0x07: no payload.
    GetClusterStatus,
    /// 0x08: the token (UTF-8); answered by an AuthenticateResponse (0x09).
    Authenticate { token: Vec<u8> },
    /// 0x10: answered by FetchResponse (0x11) or CatchingUp (0x12).
    Fetch { topic_id: u32, start_offset: u64, max_bytes: u32 },
    /// 0x20: answered by SubscribeAck (0x23).
    Subscribe { topic_id: u32, start_offset: u64, max_batch_bytes: u32, consumer_id: u64 },
    /// 0x21: answered by an **Ack frame** whose batch_id is the consumer id.
    Unsubscribe { topic_id: u32, consumer_id: u64 },
    /// 0x22: answered by CommitAck (0x24).
    CommitOffset { topic_id: u32, consumer_id: u64, offset: u64 },
}

impl Request {
    /// The command code carried in the low byte of batch_id.
    pub fn code(&self) -> u8 {
        use command::*;
        match self {
            Request::CreateTopic { .. } => CREATE_TOPIC,
            Request::DeleteTopic { .. } => DELETE_TOPIC,
            Request::ListTopics => LIST_TOPICS,
            Request::GetTopic { .. } => GET_TOPIC,
            Request::SetRetention { .. } => SET_RETENTION,
            Request::CreateTopicWithRetention { .. } => CREATE_TOPIC_WITH_RETENTION,
            Request::GetClusterStatus => GET_CLUSTER_STATUS,
            Request::Authenticate { .. } => AUTHENTICATE,
            Request::Fetch { .. } => FETCH,
            Request::Subscribe { .. } => SUBSCRIBE,
            Request::Unsubscribe { .. } => UNSUBSCRIBE,
            Request::CommitOffset { .. } => COMMIT_OFFSET,
        }
    }

    /// Appends the request payload (lwp.md §3.0 table).
    pub fn encode_payload(&self, out: &mut Vec<u8>) {
        match self {
            Request::CreateTopic { name } => out.extend_from_slice(name),
            Request::DeleteTopic { topic_id } | Request::GetTopic { topic_id } => {
                out.extend_from_slice(&topic_id.to_le_bytes())
            }
            Request::ListTopics | Request::GetClusterStatus => {}
            Request::SetRetention { topic_id, max_age_secs, max_bytes } => {
                out.extend_from_slice(&topic_id.to_le_bytes());
                out.extend_from_slice(&max_age_secs.to_le_bytes());
                out.extend_from_slice(&max_bytes.to_le_bytes());
            }
            Request::CreateTopicWithRetention { name, max_age_secs, max_bytes } => {
                out.extend_from_slice(&(name.len() as u16).to_le_bytes());
                out.extend_from_slice(name);
                out.extend_from_slice(&max_age_secs.to_le_bytes());
                out.extend_from_slice(&max_bytes.to_le_bytes());
            }
            Request::Authenticate { token } => out.extend_from_slice(token),
            Request::Fetch { topic_id, start_offset, max_bytes } => {
                out.extend_from_slice(&topic_id.to_le_bytes());
                out.extend_from_slice(&start_offset.to_le_bytes());
                out.extend_from_slice(&max_bytes.to_le_bytes());
            }
            Request::Subscribe { topic_id, start_offset, max_batch_bytes, consumer_id } => {
                out.extend_from_slice(&topic_id.to_le_bytes());
                out.extend_from_slice(&start_offset.to_le_bytes());
                out.extend_from_slice(&max_batch_bytes.to_le_bytes());
                out.extend_from_slice(&consumer_id.to_le_bytes());
            }
            Request::Unsubscribe { topic_id, consumer_id } => {
                out.extend_from_slice(&topic_id.to_le_bytes());
                out.extend_from_slice(&consumer_id.to_le_bytes());
            }
            Request::CommitOffset { topic_id, consumer_id, offset } => {
                out.extend_from_slice(&topic_id.to_le_bytes());
                out.extend_from_slice(&consumer_id.to_le_bytes());
                out.extend_from_slice(&offset.to_le_bytes());
            }
        }
    }

    /// The payload as a new vector.
    pub fn payload(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode_payload(&mut v);
        v
    }

    /// Decodes a request the way the deployed server does. `Err` carries the server's exact
    /// ErrorResponse text (lwp.md §3).
    pub fn decode(code: u8, p: &[u8]) -> Result<Request, &'static str> {
        use command::*;
        // Short id payloads read as id 0 (DeleteTopic, GetTopic).
        let id_or_zero = |p: &[u8]| if p.len() >= 4 { le_u32(p, 0) } else { 0 };
        match code {
            CREATE_TOPIC => {
                if p.is_empty() {
                    Err("Topic name required")
                } else {
                    Ok(Request::CreateTopic { name: p.to_vec() })
                }
            }
            DELETE_TOPIC => Ok(Request::DeleteTopic { topic_id: id_or_zero(p) }),
            LIST_TOPICS => Ok(Request::ListTopics),
            GET_TOPIC => Ok(Request::GetTopic { topic_id: id_or_zero(p) }),
            SET_RETENTION => {
                if p.len() < 20 {
                    return Err("Invalid set retention payload");
                }
                Ok(Request::SetRetention {
                    topic_id: le_u32(p, 0),
                    max_age_secs: le_u64(p, 4),
                    max_bytes: le_u64(p, 12),
                })
            }
            CREATE_TOPIC_WITH_RETENTION => {
                if p.len() < 18 {
                    return Err("Invalid create topic payload");
                }
                let n = u16::from_le_bytes([p[0], p[1]]) as usize;
                if p.len() < 2 + n + 16 {
                    return Err("Invalid payload length");
                }
                Ok(Request::CreateTopicWithRetention {
                    name: p[2..2 + n].to_vec(),
                    max_age_secs: le_u64(p, 2 + n),
                    max_bytes: le_u64(p, 10 + n),
                })
            }
            GET_CLUSTER_STATUS => Ok(Request::GetClusterStatus),
            AUTHENTICATE => Ok(Request::Authenticate { token: p.to_vec() }),
            // The AuthenticateResponse code sent as a command (lwp.md §3.0).
            reply_code::AUTHENTICATE_RESPONSE => Err("Authentication handled at connection level"),
            FETCH => {
                if p.is_empty() {
                    return Err("Fetch request payload required");
                }
                if p.len() < 16 {
                    return Err("Protocol error: Fetch request payload too small");
                }
                Ok(Request::Fetch { topic_id: le_u32(p, 0), start_offset: le_u64(p, 4), max_bytes: le_u32(p, 12) })
            }
            SUBSCRIBE => {
                if p.len() < 24 {
                    return Err("Invalid subscribe payload");
                }
                Ok(Request::Subscribe {
                    topic_id: le_u32(p, 0),
                    start_offset: le_u64(p, 4),
                    max_batch_bytes: le_u32(p, 12),
                    consumer_id: le_u64(p, 16),
                })
            }
            UNSUBSCRIBE => {
                if p.len() < 12 {
                    return Err("Invalid unsubscribe payload");
                }
                Ok(Request::Unsubscribe { topic_id: le_u32(p, 0), consumer_id: le_u64(p, 4) })
            }
            COMMIT_OFFSET => {
                if p.len() < 20 {
                    return Err("Invalid commit offset payload");
                }
                Ok(Request::CommitOffset { topic_id: le_u32(p, 0), consumer_id: le_u64(p, 4), offset: le_u64(p, 12) })
            }
            _ => Err("Invalid client command"),
        }
    }
}

/// Topic metadata as the server returns it (CreateTopic, GetTopic, ListTopics entries,
/// CreateTopicWithRetention which adds the retention fields).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicInfo {
    /// Topic id.
    pub id: u32,
    /// Topic name.
    pub name: String,
    /// Unix seconds.
    pub created_at: u64,
    /// Always 1 on the deployed server.
    #[serde(default)]
    pub topic_epoch: u64,
    /// Only in the CreateTopicWithRetention reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_secs: Option<u64>,
    /// Only in the CreateTopicWithRetention reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
}

/// ListTopics reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicList {
    /// In arbitrary order, without retention.
    pub topics: Vec<TopicInfo>,
}

/// DeleteTopic reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicDeleted {
    /// The deleted topic id.
    pub deleted: u32,
}

/// SetRetention reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionInfo {
    /// Age limit in seconds.
    pub max_age_secs: u64,
    /// Size limit in bytes.
    pub max_bytes: u64,
    /// The topic.
    pub topic_id: u32,
}

/// GetClusterStatus reply (standalone and cluster forms).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// Raft term (0 standalone).
    pub current_term: u64,
    /// Nodes currently healthy.
    pub healthy_nodes: u32,
    /// Whether the answering node leads.
    pub is_leader: bool,
    /// `null` in cluster mode while no leader is known.
    pub leader_id: Option<u16>,
    /// `"standalone"` on a standalone server; absent in cluster mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Cluster size.
    pub node_count: u32,
    /// The answering node (always 0 standalone).
    pub node_id: u16,
    /// Peer id (decimal string) → `Disconnected` | `Connecting` | `Connected` | `Failed`.
    #[serde(default)]
    pub peer_states: BTreeMap<String, String>,
    /// Whether a quorum is reachable.
    pub quorum_available: bool,
}

/// A FetchResponse, borrowing its data from the frame payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FetchResponse<'a> {
    /// start_offset + bytes_returned.
    pub next_offset: u64,
    /// 1 whenever data is returned; counts nothing.
    pub record_count: u32,
    /// Raw log bytes, cut anywhere (records may be split).
    pub data: &'a [u8],
}

/// AuthenticateResponse (0x09).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthResponse {
    /// Byte 0 == 1.
    pub success: bool,
    /// `Authenticated`, `Invalid token`, `No token provided`, `Invalid token encoding`.
    pub message: String,
}

/// A reply payload that does not have the shape its code promises.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyError(pub String);

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed reply: {}", self.0)
    }
}

impl std::error::Error for ReplyError {}

fn json<'a, T: Deserialize<'a>>(what: &str, p: &'a [u8]) -> Result<T, ReplyError> {
    serde_json::from_slice(p).map_err(|e| ReplyError(format!("{what} JSON: {e}")))
}

/// Parses a TopicResponse describing one topic.
pub fn decode_topic_info(p: &[u8]) -> Result<TopicInfo, ReplyError> {
    json("topic", p)
}
/// Parses a ListTopics TopicResponse.
pub fn decode_topic_list(p: &[u8]) -> Result<TopicList, ReplyError> {
    json("topic list", p)
}
/// Parses a DeleteTopic TopicResponse.
pub fn decode_topic_deleted(p: &[u8]) -> Result<TopicDeleted, ReplyError> {
    json("delete topic", p)
}
/// Parses a SetRetention TopicResponse.
pub fn decode_retention(p: &[u8]) -> Result<RetentionInfo, ReplyError> {
    json("retention", p)
}
/// Parses a ClusterStatusResponse.
pub fn decode_cluster_status(p: &[u8]) -> Result<ClusterStatus, ReplyError> {
    json("cluster status", p)
}

/// Parses a FetchResponse (0x11) payload: next_offset u64, bytes_returned u32, record_count u32,
/// data. bytes_returned must match the data length.
pub fn decode_fetch_response(p: &[u8]) -> Result<FetchResponse<'_>, ReplyError> {
    if p.len() < 16 {
        return Err(ReplyError(format!("FetchResponse of {} bytes (at least 16 expected)", p.len())));
    }
    let bytes_returned = le_u32(p, 8) as usize;
    if bytes_returned != p.len() - 16 {
        return Err(ReplyError(format!("FetchResponse says {bytes_returned} bytes but carries {}", p.len() - 16)));
    }
    Ok(FetchResponse { next_offset: le_u64(p, 0), record_count: le_u32(p, 12), data: &p[16..] })
}

/// Parses CatchingUp (0x12): the topic's current end offset.
pub fn decode_catching_up(p: &[u8]) -> Result<u64, ReplyError> {
    if p.len() < 8 {
        return Err(ReplyError(format!("CatchingUp of {} bytes (8 expected)", p.len())));
    }
    Ok(le_u64(p, 0))
}

/// Parses SubscribeAck (0x23) or CommitAck (0x24): (consumer_id, offset).
pub fn decode_consumer_ack(p: &[u8]) -> Result<(u64, u64), ReplyError> {
    if p.len() < 16 {
        return Err(ReplyError(format!("consumer ack of {} bytes (16 expected)", p.len())));
    }
    Ok((le_u64(p, 0), le_u64(p, 8)))
}

/// Parses AuthenticateResponse (0x09): success byte, then an ASCII message.
pub fn decode_auth_response(p: &[u8]) -> Result<AuthResponse, ReplyError> {
    match p.split_first() {
        Some((&flag, msg)) => {
            Ok(AuthResponse { success: flag == 1, message: String::from_utf8_lossy(msg).into_owned() })
        }
        None => Err(ReplyError("empty AuthenticateResponse".into())),
    }
}

/// Reads an ErrorResponse (0xFF) text. The server sends UTF-8; anything else is kept lossily.
pub fn decode_error_text(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}

/// FetchResponse payload (server side / mock).
pub fn encode_fetch_response(out: &mut Vec<u8>, next_offset: u64, data: &[u8]) {
    out.extend_from_slice(&next_offset.to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&(if data.is_empty() { 0u32 } else { 1u32 }).to_le_bytes());
    out.extend_from_slice(data);
}

/// SubscribeAck / CommitAck payload (server side / mock).
pub fn encode_consumer_ack(consumer_id: u64, offset: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(16);
    v.extend_from_slice(&consumer_id.to_le_bytes());
    v.extend_from_slice(&offset.to_le_bytes());
    v
}

/// AuthenticateResponse payload (server side / mock).
pub fn encode_auth_response(success: bool, message: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(1 + message.len());
    v.push(success as u8);
    v.extend_from_slice(message.as_bytes());
    v
}

/// A topic name the server accepts: 1–255 bytes of `[A-Za-z0-9-]`. The error is the server's
/// exact text for the same name, so local and remote validation read alike.
pub fn validate_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("Topic name required".into());
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(invalid_topic_name_text(name));
    }
    if name.len() > MAX_TOPIC_NAME {
        return Err("I/O error: File name too long (os error 36)".into());
    }
    Ok(())
}

/// The server's text for a name with characters outside `[A-Za-z0-9-]`.
pub fn invalid_topic_name_text(name: &str) -> String {
    format!(
        "Invalid data: Topic name '{name}' contains invalid characters. Only alphanumeric characters (a-z, A-Z, 0-9) and dashes (-) are allowed"
    )
}

#[inline]
pub(crate) fn le_u32(p: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]])
}

#[inline]
pub(crate) fn le_u64(p: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&p[at..at + 8]);
    u64::from_le_bytes(w)
}
