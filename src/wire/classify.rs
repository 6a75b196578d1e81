//! Server error text → error category (lwp.md §6). Texts are matched exactly or by prefix and
//! kept verbatim in the error.

use crate::error::{Error, ErrorCode};

/// Classifies an ErrorResponse (or failed AuthenticateResponse) text.
pub fn classify(text: &str) -> Error {
    let (code, retryable, leader) = category(text);
    let mut e = Error::new(code, text);
    e.retryable = retryable;
    e.leader = leader;
    e
}

fn category(text: &str) -> (ErrorCode, bool, Option<String>) {
    use ErrorCode::*;
    if text.starts_with("FORWARD_FAILED:") {
        return (ForwardFailed, true, None);
    }
    // NOT_LEADER is a redirect, not a plain retry (vectors error_classification/not_leader_*):
    // the caller reconnects to `leader` (or another seed) instead of resending to this node.
    if let Some(addr) = text.strip_prefix("NOT_LEADER: redirect to ") {
        return (NotLeader, false, Some(addr.trim().to_string()));
    }
    if text.starts_with("NOT_LEADER:") {
        return (NotLeader, false, None);
    }
    if text.starts_with("Topic '") && text.ends_with("' already exists") {
        return (TopicExists, false, None);
    }
    if text.starts_with("Invalid data: Topic name")
        || text == "Topic name required"
        || text == "I/O error: File name too long (os error 36)"
    {
        return (InvalidName, false, None);
    }
    let topic_not_found = |t: &str| {
        t.strip_prefix("Topic ")
            .and_then(|r| r.strip_suffix(" not found"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    let (code, retryable) = match text {
        "Rate limit exceeded" => (RateLimited, true),
        "Authentication required" => (AuthRequired, false),
        "Invalid token" | "No token provided" | "Invalid token encoding" => (AuthFailed, false),
        "Unknown topic" | "Topic not found" => (UnknownTopic, false),
        t if topic_not_found(t) => (UnknownTopic, false),
        t if t.strip_prefix("Configuration error: ").is_some_and(topic_not_found) => (UnknownTopic, false),
        _ => (ServerError, false),
    };
    (code, retryable, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples() {
        assert_eq!(classify("Topic 7 not found").code, ErrorCode::UnknownTopic);
        assert_eq!(classify("Topic x not found").code, ErrorCode::ServerError);
        let e = classify("NOT_LEADER: redirect to [::1]:1992");
        assert_eq!((e.code, e.leader.as_deref()), (ErrorCode::NotLeader, Some("[::1]:1992")));
        assert!(classify("FORWARD_FAILED: Connection pool exhausted").retryable);
        assert!(!classify("Invalid client command").retryable);
    }
}
