//! The pure LWP codec: no I/O, no threads. Everything here is deterministic and fuzzable.
//!
//! - [`checksum`]: CRC-32/IEEE (default) and CRC-32C.
//! - [`header`]: the 44-byte header, flags, classification.
//! - [`frame`]: frame encoding and the streaming [`FrameDecoder`].
//! - [`control`]: control requests and replies.
//! - [`tlv`]: TLV records, the fetch-window [`Reassembler`], the LZ4 envelope.
//! - [`classify`]: server error texts → error categories.
//! - [`consumer_id`](mod@consumer_id): the SipHash-1-3 consumer id of offset file names.

pub mod checksum;
pub mod classify;
pub mod consumer_id;
pub mod control;
pub mod frame;
pub mod header;
pub mod tlv;

pub use checksum::Checksum;
pub use consumer_id::consumer_id;
pub use control::{Request, TopicInfo};
pub use frame::{encode_frame, Frame, FrameDecoder, FrameError, DEFAULT_MAX_PAYLOAD};
pub use header::{flags, FrameKind, Header, HEADER_LEN};
pub use tlv::{Reassembler, Record};
