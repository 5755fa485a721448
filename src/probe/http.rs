//! One bounded HTTP/1.1 GET through a proxy. (Stub: being written.)

use std::time::Duration;

use crate::config::HttpUrl;
use crate::probe::dial::{Credentials, DialError, ProxyEndpoint};

/// Largest body read.
pub const MAX_BODY: usize = 1024 * 1024;

/// A response as received (body capped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header fields in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body, at most the cap.
    pub body: Vec<u8>,
    /// True when the body was longer than the cap.
    pub truncated: bool,
}

/// A GET and how long its parts took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The response.
    pub response: HttpResponse,
    /// TCP connect to the proxy.
    pub connect: Duration,
    /// Handshake (SOCKS/CONNECT) or, for HTTP proxies, time to the response head.
    pub handshake: Duration,
}

/// Why a GET failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GetError {
    /// The proxy could not be dialled or the tunnel not opened.
    #[error(transparent)]
    Dial(#[from] DialError),
    /// The request went through but the response was missing, malformed or too slow.
    #[error("bad response: {0}")]
    Response(String),
}

/// GETs `url` through the proxy.
pub async fn get_via_proxy(
    proxy: &ProxyEndpoint,
    credentials: Credentials<'_>,
    url: &HttpUrl,
    step: Duration,
    max_body: usize,
) -> Result<Fetched, GetError> {
    let _ = (proxy, credentials, url, step, max_body);
    Err(GetError::Response("not implemented".into()))
}
