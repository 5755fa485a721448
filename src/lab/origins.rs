//! The lab's origins: TLS canary, plain-HTTP canary, judge. (Stub: being written.)

use std::sync::Arc;

use tokio::net::TcpListener;

/// Serves HTTPS on `listener` with `config`, answering every GET with `body`.
pub async fn serve_tls_origin(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    body: &'static [u8],
) {
    let _ = (listener, config, body);
}

/// Serves plain HTTP, answering every GET with `body` (`text/plain`).
pub async fn serve_http_canary(listener: TcpListener, body: &'static [u8]) {
    let _ = (listener, body);
}

/// Serves the judge: every GET is answered with JSON naming the peer address and the
/// request headers.
pub async fn serve_judge(listener: TcpListener) {
    let _ = listener;
}
