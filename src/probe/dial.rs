//! Connecting to a proxy and opening a tunnel through it. (Stub: being written.)

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::probe::Code;
use crate::proxy::ProxyKind;

/// A proxy to dial: its kind, the address the auditor resolved, and credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyEndpoint {
    /// Protocol spoken.
    pub kind: ProxyKind,
    /// Resolved address (the guard has checked it).
    pub addr: SocketAddr,
    /// Host as listed: the TLS server name of an `https` proxy.
    pub host: String,
    /// Username as listed.
    pub username: Option<String>,
    /// Password as listed.
    pub password: Option<String>,
}

/// Where a tunnel leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A name the proxy resolves, and a port.
    Name(String, u16),
    /// An address.
    Addr(SocketAddr),
}

/// Which credentials to present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials<'a> {
    /// The entry's own (none when it has none).
    AsListed,
    /// These instead (the wrong-password test).
    Override {
        /// Username.
        username: &'a str,
        /// Password.
        password: &'a str,
    },
}

/// A byte stream through a proxy.
pub trait ProxyStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> ProxyStream for T {}

/// A boxed [`ProxyStream`].
pub type BoxStream = Box<dyn ProxyStream>;

/// An open tunnel and how long it took.
pub struct Tunnel {
    /// The stream to the target.
    pub stream: BoxStream,
    /// TCP connect to the proxy.
    pub connect: Duration,
    /// The proxy handshake after connect.
    pub handshake: Duration,
}

/// Why a tunnel could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialError {
    /// TCP connect refused or timed out.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The proxy did not speak its protocol (timeout, garbage, reset…).
    #[error("handshake failed: {0}")]
    Handshake(String),
    /// The proxy refused the credentials.
    #[error("credentials refused")]
    AuthRejected,
    /// The proxy answered properly but could not reach the target.
    #[error("target refused by proxy: {0}")]
    TargetFailed(String),
}

impl DialError {
    /// The finding code a dial failure maps to.
    pub fn code(&self) -> Code {
        match self {
            Self::Unreachable(_) => Code::Unreachable,
            _ => Code::HandshakeFailed,
        }
    }
}

/// Opens a TCP connection to the proxy.
pub async fn connect(
    proxy: &ProxyEndpoint,
    step: Duration,
) -> Result<(TcpStream, Duration), DialError> {
    let _ = (proxy, step);
    Err(DialError::Unreachable("not implemented".into()))
}

/// Opens a tunnel through the proxy to `target`.
pub async fn open_tunnel(
    proxy: &ProxyEndpoint,
    credentials: Credentials<'_>,
    target: &Target,
    step: Duration,
) -> Result<Tunnel, DialError> {
    let _ = (proxy, credentials, target, step);
    Err(DialError::Unreachable("not implemented".into()))
}
