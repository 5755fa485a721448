//! The probe layer: the only part of the pipeline that touches the network.
//!
//! An entry that passed the address guard is probed by [`runner`], which runs the selected
//! checks through the proxy and turns what it saw into observations and findings
//! ([`crate::model`]). Everything here is data: a dead or hostile proxy is a result, never an
//! error.
//!
//! - [`dial`]: connect to a proxy and open a tunnel (SOCKS5/4 via tokio-socks, HTTP CONNECT).
//! - [`http`]: one bounded HTTP/1.1 GET through a proxy (origin-form through a tunnel,
//!   absolute-form to an HTTP proxy).
//! - [`tls`]: a rustls handshake that records the presented chain and validates it.
//! - [`guard`]: the address guard (resolution included).
//! - [`judge`]: reading what a proxy judge received, and the anonymity level (pure).
//! - [`mtproto`], [`mtproto_conn`]: the MTProto checks and the connection they run over.
//! - `retry`: one more try for a step cut off by a timeout or a reset; then inconclusive.
//! - [`runner`]: concurrency (with a per-host limit), deadlines, progress, cancellation; the
//!   SOCKS/HTTP checks themselves.
//!
//! A finding needs observed misbehaviour; `docs/FINDINGS.md` lists the evidence each one
//! needs. A check that could not conclude is recorded in
//! [`crate::model::Observations::inconclusive`], never as a finding.

pub mod dial;
pub mod guard;
pub mod http;
pub mod judge;
pub mod mtproto;
pub mod mtproto_conn;
pub(crate) mod retry;
pub mod runner;
pub mod tls;
