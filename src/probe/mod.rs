//! The probe layer: the network primitives the checks ([`crate::checks`]) are made of, and
//! the scheduler that runs them. Everything here is data: a dead or hostile proxy is a
//! result, never an error.
//!
//! - [`dial`]: connect to a proxy and open a tunnel (SOCKS5/4 via tokio-socks, HTTP CONNECT).
//! - [`http`]: one bounded HTTP/1.1 GET through a proxy (origin-form through a tunnel,
//!   absolute-form to an HTTP proxy).
//! - [`tls`]: a rustls handshake that records the presented chain and validates it.
//! - `mtproto_conn`: an MTProto proxy connection (obfuscated2, FakeTLS); [`mtproto`]: the
//!   authenticity exchange with a datacenter over it (or down a SOCKS5 tunnel).
//! - [`judge`]: reading what a proxy judge received, and the anonymity level (pure).
//! - [`guard`]: the address guard (resolution included).
//! - `budget`: a step's timeout inside an entry's deadline; `retry`: one more try for a
//!   step cut off by a timeout or a reset, then inconclusive.
//! - [`runner`]: the scheduler: concurrency, the per-host limit, interrupts.
//!
//! Every failure here says whether it was cut off (a timeout, a reset) or an answer of the
//! proxy's, so that the checks can turn only answers into findings (`docs/FINDINGS.md`).

pub(crate) mod budget;
pub mod dial;
pub mod guard;
pub mod http;
pub mod judge;
pub mod mtproto;
pub(crate) mod mtproto_conn;
pub(crate) mod retry;
pub mod runner;
pub mod tls;
