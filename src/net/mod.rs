//! Networking: blocking sockets owned by threads, no async runtime (design.md §3).
//!
//! - [`dial`](mod@dial): bootstrap failover, TCP_NODELAY, Authenticate handshake.
//! - [`conn`]: one connection = reader thread + writer thread, keepalive, deadlines.
//! - [`control`]: position-matched control requests and a reconnecting control client.
//! - [`backoff`]: the reconnect schedule.
//! - [`tls`]: rustls client settings and handshake (cargo feature `tls`).

pub mod backoff;
pub mod conn;
pub mod control;
pub mod dial;
pub mod tls;

pub use backoff::Backoff;
pub use conn::{Connection, Outbound, Router};
pub use control::{ControlClient, ControlConn};
pub use dial::{dial, NetConfig};
