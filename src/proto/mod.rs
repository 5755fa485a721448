//! Protocol encodings, pure functions over bytes: no sockets here.

pub mod http_head;
pub mod mtproto;
