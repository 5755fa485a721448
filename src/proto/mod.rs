//! Protocol encodings, pure functions over bytes: no sockets here.

pub mod mtproto;
