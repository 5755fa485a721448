//! Protocol encodings, pure functions over bytes: no sockets here.

pub mod hex;
pub mod http_head;
pub(crate) mod ipv4;
pub mod mtproto;
pub mod tls;
