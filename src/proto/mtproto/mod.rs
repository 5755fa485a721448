//! MTProto proxy protocol pieces.

pub mod secret;
