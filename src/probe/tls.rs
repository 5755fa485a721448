//! A TLS handshake through a tunnel that records and validates the chain. (Stub.)

use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::probe::CertFacts;
use crate::rules::interception::InterceptionCas;

/// What a chain must satisfy.
#[derive(Debug, Clone)]
pub struct TlsPolicy {
    /// Trusted roots.
    pub roots: Arc<RootCertStore>,
    /// SPKI SHA-256 pins; when non-empty one must appear in the chain.
    pub spki_pins: Vec<[u8; 32]>,
    /// Known interception CAs.
    pub interception: Arc<InterceptionCas>,
}

/// What a handshake showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOutcome {
    /// Presented chain, leaf first.
    pub chain: Vec<CertFacts>,
    /// Valid for the name against roots and pins.
    pub valid: bool,
    /// Why not valid / why the handshake failed.
    pub error: Option<String>,
    /// Matched known interception CA name.
    pub known_ca: Option<String>,
}

/// Runs a TLS handshake with `server_name` over `stream`.
pub async fn probe_tls<S>(
    stream: S,
    server_name: &str,
    policy: &TlsPolicy,
    step: Duration,
) -> TlsOutcome
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let _ = (stream, server_name, policy, step);
    TlsOutcome {
        chain: Vec::new(),
        valid: false,
        error: Some("not implemented".into()),
        known_ca: None,
    }
}
