//! HTTP CONNECT (in clear to `http` proxies, over TLS to `https` ones) and the reader of
//! HTTP response heads that the CONNECT exchange and the GET in [`crate::probe::http`]
//! share.
//!
//! Part of [`crate::probe::dial`]. The head is read by the one bounded reader of
//! [`crate::proto::http_head`], at most [`MAX_HEAD`] bytes per head, skipping at most
//! eight interim (1xx) responses; the caller's step bounds the time.

use std::io;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use base64::Engine as _;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::io::{Prefixed, io_failure, io_reason};
use super::{Auth, BoxStream, DialError, Plan, ProxyEndpoint, ProxyStream, Target};
use crate::proto::http_head::{
    self, HeadError, HeadLimits, MAX_HEAD, ReadHeadError, ResponseHead, parse_response_head,
};
use crate::proto::tls::AcceptAnyCertificate;

/// `host:port` for a CONNECT line or a Host field (IPv6 in brackets).
fn authority(target: &Target) -> String {
    match target {
        Target::Name(name, port) if name.contains(':') => format!("[{name}]:{port}"),
        Target::Name(name, port) => format!("{name}:{port}"),
        Target::Addr(addr) => addr.to_string(),
    }
}

/// The `Proxy-Authorization` field (Basic), with its CRLF.
pub(crate) fn proxy_authorization(auth: Auth<'_>) -> String {
    let token = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", auth.username, auth.password));
    format!("Proxy-Authorization: Basic {token}\r\n")
}

/// The HTTP CONNECT exchange; the tunnel starts with any bytes sent along with the reply.
pub(super) async fn http_connect<S>(mut stream: S, plan: &Plan<'_>) -> Result<BoxStream, DialError>
where
    S: ProxyStream + 'static,
{
    let authority = authority(plan.target);
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(auth) = plan.auth {
        request.push_str(&proxy_authorization(auth));
    }
    request.push_str("\r\n");
    let sent = async {
        stream.write_all(request.as_bytes()).await?;
        stream.flush().await
    };
    sent.await.map_err(|error| io_failure(&error))?;
    let reply = read_head(&mut stream).await.map_err(|error| match error {
        HeadReadError::Io(error) => io_failure(&error),
        error => DialError::Handshake(error.to_string()),
    })?;
    match reply.head.status {
        200..=299 => Ok(Box::new(Prefixed::new(reply.rest, stream))),
        407 => Err(DialError::AuthRejected),
        _ => Err(DialError::TargetFailed(format!(
            "HTTP {}",
            reply.head.status_line()
        ))),
    }
}

/// Most interim (1xx) responses skipped before a final one.
const MAX_INTERIM: usize = 8;

/// The bounds of one response head: [`MAX_HEAD`] bytes (the caller's step bounds the time).
const HEAD_LIMITS: HeadLimits = HeadLimits::bytes(MAX_HEAD);

/// A response head as read, with what came after it.
#[derive(Debug)]
pub(crate) struct HeadRead {
    /// The final (non-1xx) response head.
    pub(crate) head: ResponseHead,
    /// Bytes read past the head: the start of the body or tunnel.
    pub(crate) rest: Vec<u8>,
    /// When the first byte of the response arrived.
    pub(crate) first_byte: Instant,
}

/// Why a response head could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HeadReadError {
    /// End of stream before any response byte.
    #[error("connection closed before a response")]
    ClosedBeforeResponse,
    /// End of stream inside the head.
    #[error("connection closed inside the response head")]
    ClosedInHead,
    /// A read failed.
    #[error("{}", io_reason(.0))]
    Io(#[from] io::Error),
    /// The bytes are not an acceptable head.
    #[error(transparent)]
    Invalid(#[from] HeadError),
    /// Interim responses without end.
    #[error("more than {MAX_INTERIM} interim (1xx) responses")]
    TooManyInterim,
}

/// Reads one response head (skipping interim 1xx ones), at most [`MAX_HEAD`] bytes each,
/// through the shared reader ([`http_head::read_head`]): bytes read past an interim head
/// are carried into the next, and those past the final one are kept in [`HeadRead::rest`].
///
/// The head is parsed again only when a read brings a line end (and after the first read,
/// to refuse garbage early), so a peer dripping bytes costs a bounded number of parses.
pub(crate) async fn read_head<S>(stream: &mut S) -> Result<HeadRead, HeadReadError>
where
    S: AsyncRead + Unpin,
{
    let mut carried = Vec::new();
    let mut first_byte: Option<Instant> = None;
    for _ in 0..=MAX_INTERIM {
        let found =
            match http_head::read_head(stream, carried, HEAD_LIMITS, parse_response_head).await {
                Ok(found) => found,
                Err(error) => return Err(head_read_error(error, first_byte.is_some())),
            };
        let first =
            *first_byte.get_or_insert_with(|| found.first_byte.unwrap_or_else(Instant::now));
        if !found.value.is_interim() {
            return Ok(HeadRead {
                head: found.value,
                rest: found.rest,
                first_byte: first,
            });
        }
        carried = found.rest;
    }
    Err(HeadReadError::TooManyInterim)
}

/// What a failure of the shared reader means here; `began` when an earlier (interim) head
/// was read, so an end of stream is inside the response.
fn head_read_error(error: ReadHeadError<HeadError>, began: bool) -> HeadReadError {
    match error {
        ReadHeadError::ClosedBefore if !began => HeadReadError::ClosedBeforeResponse,
        ReadHeadError::ClosedBefore | ReadHeadError::ClosedInside => HeadReadError::ClosedInHead,
        // The parser refuses a head at the cap itself; this is the same refusal.
        ReadHeadError::TooLarge(_) => HeadReadError::Invalid(HeadError::TooLarge),
        // No deadline per read is set: the caller's step bounds the whole read.
        ReadHeadError::TimedOut => HeadReadError::Io(io::ErrorKind::TimedOut.into()),
        ReadHeadError::Io(error) => HeadReadError::Io(error),
        ReadHeadError::Invalid(error) => HeadReadError::Invalid(error),
    }
}

/// The client configuration for TLS to `https` proxies, built once.
fn proxy_tls_config() -> Result<Arc<ClientConfig>, DialError> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            // The proxy's own certificate is not a canary: what the audit judges is what
            // the proxy does to the traffic it carries, and canary chains seen through the
            // tunnel are validated strictly by `probe::tls`.
            let verifier = Arc::new(AcceptAnyCertificate::new(&provider));
            let mut config = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|error| error.to_string())?
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(Arc::new(config))
        })
        .clone()
        .map_err(DialError::Handshake)
}

/// Runs TLS to an `https` proxy over `stream`: SNI is the listed host when it is a DNS
/// name, and the proxy's certificate is not verified (see [`AcceptAnyCertificate`]).
pub(crate) async fn tls_to_proxy<S>(
    stream: S,
    proxy: &ProxyEndpoint,
) -> Result<TlsStream<S>, DialError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let config = proxy_tls_config()?;
    let name = ServerName::try_from(proxy.host.clone())
        .unwrap_or_else(|_| ServerName::IpAddress(proxy.addr.ip().into()));
    TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map_err(|error| match io_failure(&error) {
            DialError::Interrupted(reason) => {
                DialError::Interrupted(format!("TLS to the proxy: {reason}"))
            }
            _ => DialError::Handshake(format!("TLS to the proxy: {}", io_reason(&error))),
        })
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};

    use super::*;
    use crate::probe::dial::testing::{
        STEP, addr, against, assert_carries, endpoint, name, request_head, with_login,
    };
    use crate::probe::dial::{Credentials, handshake_within};
    use crate::proxy::ProxyKind;

    #[test]
    fn authority_brackets_ipv6() {
        assert_eq!(authority(&name("example.org", 443)), "example.org:443");
        assert_eq!(authority(&name("::1", 443)), "[::1]:443");
        assert_eq!(authority(&addr("[2001:db8::1]:80")), "[2001:db8::1]:80");
        assert_eq!(authority(&addr("127.0.0.1:80")), "127.0.0.1:80");
    }

    #[tokio::test]
    async fn http_connect_keeps_bytes_sent_with_the_reply() {
        let (tunnel, mut server) = against(
            &endpoint(ProxyKind::Http),
            Credentials::AsListed,
            &name("example.org", 443),
            |mut server| async move {
                assert_eq!(
                    request_head(&mut server).await,
                    "CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n"
                );
                server
                    .write_all(b"HTTP/1.1 200 Connection established\r\nVia: x\r\n\r\nEARLY")
                    .await
                    .unwrap();
                server
            },
        )
        .await;
        let mut tunnel = tunnel.unwrap();
        let mut early = [0; 5];
        tunnel.read_exact(&mut early).await.unwrap();
        assert_eq!(&early, b"EARLY");
        assert_carries(&mut tunnel, &mut server).await;
    }

    #[tokio::test]
    async fn http_connect_skips_interim_replies_and_brackets_ipv6() {
        let (tunnel, _server) = against(
            &endpoint(ProxyKind::Http),
            Credentials::AsListed,
            &addr("[::1]:443"),
            |mut server| async move {
                assert_eq!(
                    request_head(&mut server).await,
                    "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n"
                );
                server
                    .write_all(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\n\r\n")
                    .await
                    .unwrap();
                server
            },
        )
        .await;
        assert!(tunnel.is_ok());
    }

    #[tokio::test]
    async fn http_connect_407_is_auth_rejected() {
        let (tunnel, _server) = against(
            &with_login(ProxyKind::Http),
            Credentials::AsListed,
            &name("example.org", 443),
            |mut server| async move {
                let head = request_head(&mut server).await;
                // base64("alice:secret")
                assert!(head.contains("\r\nProxy-Authorization: Basic YWxpY2U6c2VjcmV0\r\n"));
                server
                    .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
                    .await
                    .unwrap();
                server
            },
        )
        .await;
        assert_eq!(tunnel.err(), Some(DialError::AuthRejected));
    }

    #[tokio::test]
    async fn http_connect_refusal_and_garbage() {
        let reply = |bytes: &'static [u8]| {
            move |mut server: DuplexStream| async move {
                request_head(&mut server).await;
                server.write_all(bytes).await.unwrap();
                server
            }
        };
        let proxy = endpoint(ProxyKind::Http);
        let target = name("example.org", 443);
        let (tunnel, _server) = against(
            &proxy,
            Credentials::AsListed,
            &target,
            reply(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"),
        )
        .await;
        assert_eq!(
            tunnel.err(),
            Some(DialError::TargetFailed("HTTP 403 Forbidden".into()))
        );

        let (tunnel, _server) = against(
            &proxy,
            Credentials::AsListed,
            &target,
            reply(b"SSH-2.0-OpenSSH_9.6\r\n"),
        )
        .await;
        match tunnel.err() {
            Some(DialError::Handshake(reason)) => assert!(reason.contains("not an HTTP/1.x")),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn https_proxy_gets_sni_and_any_certificate() {
        let issued = rcgen::generate_simple_self_signed(vec!["proxy.test".to_owned()]).unwrap();
        let key = rustls_pki_types::PrivateKeyDer::Pkcs8(issued.signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![issued.cert.der().clone()], key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let proxy = with_login(ProxyKind::Https);
        let target = name("example.org", 443);
        let plan = Plan::new(&proxy, Credentials::AsListed, &target).unwrap();
        let (client, server) = duplex(16 * 1024);
        let peer = async move {
            let mut tls = acceptor.accept(server).await.unwrap();
            assert_eq!(tls.get_ref().1.server_name(), Some("proxy.test"));
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                head.push(tls.read_u8().await.unwrap());
            }
            assert!(head.starts_with(b"CONNECT example.org:443 HTTP/1.1\r\n"));
            assert!(head.ends_with(b"Proxy-Authorization: Basic YWxpY2U6c2VjcmV0\r\n\r\n"));
            tls.write_all(b"HTTP/1.1 200 OK\r\n\r\nhello")
                .await
                .unwrap();
            tls.flush().await.unwrap();
            tls
        };
        let (tunnel, _tls) = tokio::join!(handshake_within(client, &plan, STEP), peer);
        let mut tunnel = tunnel.unwrap();
        let mut hello = [0; 5];
        tunnel.read_exact(&mut hello).await.unwrap();
        assert_eq!(&hello, b"hello");
    }

    #[tokio::test]
    async fn read_head_keeps_the_rest_and_reports_eof() {
        let mut bytes: &[u8] = b"HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody";
        let read = read_head(&mut bytes).await.unwrap();
        assert_eq!(read.head.status, 200);
        assert_eq!(read.rest, b"body");

        let mut empty: &[u8] = b"";
        assert!(matches!(
            read_head(&mut empty).await,
            Err(HeadReadError::ClosedBeforeResponse)
        ));
        let mut cut: &[u8] = b"HTTP/1.1 200 OK\r\nA: ";
        assert!(matches!(
            read_head(&mut cut).await,
            Err(HeadReadError::ClosedInHead)
        ));
        let endless = "HTTP/1.1 103 Early Hints\r\n\r\n".repeat(MAX_INTERIM + 1);
        assert!(matches!(
            read_head(&mut endless.as_bytes()).await,
            Err(HeadReadError::TooManyInterim)
        ));
        let mut big = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        big.resize(big.len() + MAX_HEAD, b'a');
        assert!(matches!(
            read_head(&mut big.as_slice()).await,
            Err(HeadReadError::Invalid(HeadError::TooLarge))
        ));
    }

    #[tokio::test]
    async fn read_head_from_a_byte_at_a_time() {
        // A one-byte pipe: every read returns a single byte.
        let (mut reader, mut writer) = duplex(1);
        let response = b"HTTP/1.1 204 No Content\r\nServer: drip\r\n\r\nafter";
        let peer = tokio::spawn(async move {
            writer.write_all(response).await.unwrap();
        });
        let read = read_head(&mut reader).await.unwrap();
        assert_eq!(read.head.status, 204);
        assert_eq!(read.head.header("server"), Some("drip"));
        // Whatever was read past the head is kept; the rest is still in the pipe.
        let mut after = Vec::new();
        reader.read_to_end(&mut after).await.unwrap();
        peer.await.unwrap();
        assert_eq!([read.rest, after].concat(), b"after");
    }
}
