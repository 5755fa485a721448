//! MTProto proxy protocol pieces.

pub mod auth;
pub mod factor;
pub mod faketls;
pub(crate) mod obfs2;
pub mod rsa;
pub mod secret;
pub mod tl;
pub mod transport;
