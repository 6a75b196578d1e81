//! Embedded mock broker.
