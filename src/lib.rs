//! # liblnc
//!
//! A client library for the LANCE streaming server's wire protocol (LWP), as the deployed server
//! really speaks it (see `docs/lwp.md` in the project's shared documents).
//!
//! Layers, dependencies pointing down only:
//! - [`wire`]: the pure codec (frames, control payloads, TLV records).
//! - [`mock`]: an embedded mock broker behaving like the deployed server, for tests.
//! - [`net`]: connections, correlation, keepalive, reconnect.
//! - [`admin`]: topic administration and low-level control calls.
//! - [`config`]: the documented string key/value configuration.
//! - [`error`]: the one error type.
//! - [`stats`]: latency histograms, connection counters and the statistics documents.

#![warn(missing_docs)]

pub mod admin;
pub mod cancel;
pub mod config;
pub mod consumer;
pub mod error;
pub mod events;
pub mod ffi;
pub mod group;
pub mod mock;
pub mod net;
pub mod notify;
pub mod offsets;
pub mod producer;
pub(crate) mod reentry;
pub mod stats;
pub(crate) mod sync;
pub mod wire;

pub use admin::{Admin, FetchReply, Retention};
pub use cancel::Cancel;
pub use config::Config;
pub use consumer::{ConsumerMetrics, OffsetReset, SeekTo, StandaloneConsumer};
pub use error::{Error, ErrorCode, Result};
pub use events::{CircuitState, Event, EventKind, Level};
pub use group::{GroupConsumer, GroupEvent};
pub use offsets::{CallbackOffsetStore, FileOffsetStore, MemoryOffsetStore, OffsetStore};
pub use producer::{DeliveryReport, Message, Producer, ProducerMetrics, SendOptions};

/// The library version (`major.minor.patch`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
