//! # liblnc
//!
//! A client library for the LANCE streaming server's wire protocol (LWP), as the deployed server
//! really speaks it (see `docs/lwp.md` in the project's shared documents).
//!
//! Layers, dependencies pointing down only:
//! - [`wire`]: the pure codec (frames, control payloads, TLV records).
//! - [`mock`]: an embedded mock broker behaving like the deployed server, for tests.
//! - [`error`]: the one error type.

#![warn(missing_docs)]

pub mod error;
pub mod mock;
pub mod wire;

pub use error::{Error, ErrorCode, Result};

/// The library version (`major.minor.patch`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
