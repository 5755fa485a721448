//! One bounded HTTP/1.1 GET through a proxy.
//!
//! Through a SOCKS proxy the request goes down a tunnel ([`dial::open_tunnel`]) in
//! origin-form. To an HTTP or HTTPS proxy it is sent in absolute-form, the way plain-HTTP
//! proxies are used (and exactly what a content-injecting proxy rewrites), with
//! `Proxy-Authorization` when credentials apply.
//!
//! The response is read under one deadline of `step` for all of it, head and body, so a slow
//! drip or an endless stream ends on time. The head goes through the shared parser
//! ([`crate::proto::http_head`]); the body is framed by `Transfer-Encoding: chunked`,
//! `Content-Length` or the end of the stream, and never more than `max_body` bytes of it are
//! kept: a longer body is a truncated result, not an error.
//!
//! Caps count bytes on the wire, not the decoded body: every byte the response takes from
//! the stream (interim 1xx heads, the head, chunk-size lines and their extensions, the CRLF
//! after each chunk, the body, what the buffered reader reads ahead) goes through one
//! `WireBudget` of `wire_budget(max_body)` bytes (1,179,648 with [`MAX_BODY`]). A peer
//! that wraps each body byte in a kilobyte of chunk extension, or sends endless tiny chunks,
//! gets an error once the budget is spent, not a gigabyte read.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
    ReadBuf, Take,
};
use tokio::time::timeout;

use crate::config::HttpUrl;
use crate::probe::dial::{
    self, Auth, BoxStream, Credentials, DialError, HeadReadError, Prefixed, ProxyEndpoint, Target,
    io_reason, is_transient, proxy_authorization, read_head, timed_out, tls_to_proxy,
};
use crate::proto::http_head::{MAX_HEAD, ResponseHead};
use crate::proxy::ProxyKind;

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
    /// The request went through but the response was missing or malformed.
    #[error("bad response: {0}")]
    Response(String),
    /// The response was cut off by a timeout or a reset: says nothing about the proxy.
    #[error("no complete response: {0}")]
    Interrupted(String),
}

impl GetError {
    /// True when the failure says nothing about the proxy's behaviour (see
    /// [`DialError::transient`]).
    pub(crate) fn transient(&self) -> bool {
        match self {
            Self::Dial(error) => error.transient(),
            Self::Interrupted(_) => true,
            Self::Response(_) => false,
        }
    }
}

/// GETs `url` through the proxy.
pub async fn get_via_proxy(
    proxy: &ProxyEndpoint,
    credentials: Credentials<'_>,
    url: &HttpUrl,
    step: Duration,
    max_body: usize,
) -> Result<Fetched, GetError> {
    match proxy.kind {
        ProxyKind::Http | ProxyKind::Https => {
            get_from_http_proxy(proxy, credentials, url, step, max_body).await
        }
        // open_tunnel refuses MTProto with the reason.
        ProxyKind::Socks5 | ProxyKind::Socks4 | ProxyKind::Socks4a | ProxyKind::Mtproto => {
            get_through_tunnel(proxy, credentials, url, step, max_body).await
        }
    }
}

/// The `User-Agent` sent with every request.
const USER_AGENT: &str = concat!("proxy-audit/", env!("CARGO_PKG_VERSION"));

/// Longest chunk-size line (size, extensions, CRLF) accepted in a chunked body.
const MAX_CHUNK_LINE: usize = 1024;

/// Wire bytes allowed beyond the final head's cap and the body's: chunk framing (about a
/// hundredth of a body sent in 1 KiB chunks), interim heads, the buffered reader's
/// read-ahead (8 KiB).
const FRAMING_ALLOWANCE: usize = 64 * 1024;

/// The most bytes one response may take from the stream when `max_body` bytes of body are
/// kept: the head cap ([`MAX_HEAD`]), `max_body`, and [`FRAMING_ALLOWANCE`]. With
/// [`MAX_BODY`] that is 1,179,648 bytes.
pub(crate) fn wire_budget(max_body: usize) -> u64 {
    as_u64(MAX_HEAD)
        .saturating_add(as_u64(max_body))
        .saturating_add(as_u64(FRAMING_ALLOWANCE))
}

/// A reader that lets at most its budget of bytes through from the stream, then fails every
/// read (non-transient: the peer sent more than any honest answer needs). Every read of a
/// response goes through one, so no framing makes a GET take more than the budget.
#[derive(Debug)]
struct WireBudget<R> {
    /// The stream, limited to what is left of the budget.
    inner: Take<R>,
    /// The whole budget, for the error.
    budget: u64,
}

impl<R: AsyncRead> WireBudget<R> {
    /// Lets `budget` bytes be read from `inner`.
    fn new(inner: R, budget: u64) -> Self {
        Self {
            inner: inner.take(budget),
            budget,
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for WireBudget<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.inner.limit() == 0 && buf.remaining() > 0 {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the response went past {} bytes on the wire (head, chunk framing and \
                     body together)",
                    this.budget
                ),
            )));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

/// Who reads the request line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hop {
    /// The origin, through a tunnel: a 407 is just a response.
    Origin,
    /// An HTTP proxy: a 407 refuses our credentials.
    HttpProxy,
}

/// A GET through a SOCKS tunnel, origin-form.
async fn get_through_tunnel(
    proxy: &ProxyEndpoint,
    credentials: Credentials<'_>,
    url: &HttpUrl,
    step: Duration,
    max_body: usize,
) -> Result<Fetched, GetError> {
    get_through(proxy, credentials, url, &tunnel_target(url), step, max_body).await
}

/// GETs `url` in origin-form down a tunnel to `target`: for a caller that decides where the
/// tunnel leads (a SOCKS4 client resolving names itself).
pub(crate) async fn get_through(
    proxy: &ProxyEndpoint,
    credentials: Credentials<'_>,
    url: &HttpUrl,
    target: &Target,
    step: Duration,
    max_body: usize,
) -> Result<Fetched, GetError> {
    let tunnel = dial::open_tunnel(proxy, credentials, target, step).await?;
    let request = request_head(&url.path, url, None);
    let exchange = exchange_within(tunnel.stream, &request, max_body, step, Hop::Origin).await?;
    Ok(Fetched {
        response: exchange.response,
        connect: tunnel.connect,
        handshake: tunnel.handshake,
    })
}

/// Where a tunnel for `url` leads: its address when the host is an IP literal.
fn tunnel_target(url: &HttpUrl) -> Target {
    match url.host.parse::<IpAddr>() {
        Ok(ip) => Target::Addr(SocketAddr::new(ip, url.port)),
        Err(_) => Target::Name(url.host.clone(), url.port),
    }
}

/// A GET sent to an HTTP(S) proxy, absolute-form.
async fn get_from_http_proxy(
    proxy: &ProxyEndpoint,
    credentials: Credentials<'_>,
    url: &HttpUrl,
    step: Duration,
    max_body: usize,
) -> Result<Fetched, GetError> {
    let (tcp, connect) = dial::connect(proxy, step).await?;
    let connected = Instant::now();
    let stream: BoxStream = if proxy.kind == ProxyKind::Https {
        let tls = timeout(step, tls_to_proxy(tcp, proxy))
            .await
            .map_err(|_| {
                DialError::Interrupted(format!("TLS to the proxy {}", timed_out(step)))
            })??;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    let request = request_head(&url.to_string(), url, credentials.resolve(proxy));
    let exchange = exchange_within(stream, &request, max_body, step, Hop::HttpProxy).await?;
    Ok(Fetched {
        response: exchange.response,
        connect,
        handshake: exchange.first_byte.saturating_duration_since(connected),
    })
}

/// The request head: `GET {target} HTTP/1.1` and the fixed fields.
fn request_head(target: &str, url: &HttpUrl, proxy_auth: Option<Auth<'_>>) -> Vec<u8> {
    let mut head = format!(
        "GET {target} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {USER_AGENT}\r\nAccept: */*\r\n\
         Connection: close\r\n",
        url.host_header()
    );
    if let Some(auth) = proxy_auth {
        head.push_str(&proxy_authorization(auth));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// A response and when its first byte came.
#[derive(Debug)]
struct Exchange {
    /// The response (body capped).
    response: HttpResponse,
    /// Arrival of the first byte of the response head.
    first_byte: Instant,
}

/// [`exchange`] with one deadline of `step` for all of it.
async fn exchange_within<S>(
    stream: S,
    request: &[u8],
    max_body: usize,
    step: Duration,
    hop: Hop,
) -> Result<Exchange, GetError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    timeout(step, exchange(stream, request, max_body, hop))
        .await
        .unwrap_or_else(|_| Err(GetError::Interrupted(timed_out(step))))
}

/// Reads a response (head, then the body as framed, capped at `max_body` bytes) from
/// `stream`, the way [`get_via_proxy`] reads an origin's answer through a tunnel.
///
/// Public so the fuzz targets can feed it a peer's bytes without a proxy; nothing is sent.
pub async fn read_response<S>(stream: S, max_body: usize) -> Result<HttpResponse, GetError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    exchange(stream, &[], max_body, Hop::Origin)
        .await
        .map(|exchange| exchange.response)
}

/// Sends `request` and reads the response, the body capped at `max_body` bytes and all of
/// it at `wire_budget(max_body)` bytes from the stream.
async fn exchange<S>(
    mut stream: S,
    request: &[u8],
    max_body: usize,
    hop: Hop,
) -> Result<Exchange, GetError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let sent = async {
        stream.write_all(request).await?;
        stream.flush().await
    };
    sent.await
        .map_err(|error| io_error(&error, "sending the request: "))?;
    let mut wire = WireBudget::new(&mut stream, wire_budget(max_body));
    let reply = read_head(&mut wire).await.map_err(|error| match error {
        HeadReadError::Io(error) => io_error(&error, ""),
        error => GetError::Response(error.to_string()),
    })?;
    // 407 is the proxy asking for credentials; tinyproxy's BasicAuth answers 401 instead.
    // (Canaries and judges never ask for credentials themselves.)
    if hop == Hop::HttpProxy && matches!(reply.head.status, 401 | 407) {
        return Err(GetError::Dial(DialError::AuthRejected));
    }
    let framing = Framing::of(&reply.head)?;
    let mut reader = BufReader::new(Prefixed::new(reply.rest, wire));
    let (body, truncated) = read_body(&mut reader, framing, max_body).await?;
    Ok(Exchange {
        response: HttpResponse {
            status: reply.head.status,
            headers: reply.head.headers,
            body,
            truncated,
        },
        first_byte: reply.first_byte,
    })
}

/// How the body of a response is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// No body (204, 304).
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the connection closes.
    UntilClose,
}

impl Framing {
    /// The framing a response head announces.
    fn of(head: &ResponseHead) -> Result<Self, GetError> {
        if matches!(head.status, 204 | 304) {
            return Ok(Self::Empty);
        }
        let codings: Vec<&str> = head
            .values("transfer-encoding")
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .filter(|coding| !coding.is_empty())
            .collect();
        if let Some(last) = codings.last() {
            // Transfer-Encoding overrides Content-Length; without chunked last, the body
            // runs to the end of the connection.
            return Ok(if last.eq_ignore_ascii_case("chunked") {
                Self::Chunked
            } else {
                Self::UntilClose
            });
        }
        let mut length = None;
        for value in head
            .values("content-length")
            .flat_map(|value| value.split(','))
        {
            let parsed = parse_content_length(value.trim())
                .ok_or_else(|| GetError::Response(format!("invalid Content-Length {value:?}")))?;
            if length.is_some_and(|seen| seen != parsed) {
                return Err(GetError::Response(
                    "conflicting Content-Length values".into(),
                ));
            }
            length = Some(parsed);
        }
        Ok(length.map_or(Self::UntilClose, Self::Length))
    }
}

/// A Content-Length value: decimal digits only.
fn parse_content_length(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The size on a chunk-size line (`1a;ext=1\r\n`): hex digits, extensions ignored.
fn parse_chunk_size(line: &[u8]) -> Option<u64> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let size = line.split(|&byte| byte == b';').next()?.trim_ascii();
    if size.is_empty() || size.len() > 16 || !size.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(size).ok()?, 16).ok()
}

/// Reads the body as framed, keeping at most `cap` bytes; true when there was more.
async fn read_body<R>(
    reader: &mut R,
    framing: Framing,
    cap: usize,
) -> Result<(Vec<u8>, bool), GetError>
where
    R: AsyncBufRead + Unpin,
{
    let mut body = Vec::new();
    match framing {
        Framing::Empty => Ok((body, false)),
        Framing::Length(length) => {
            let wanted = length.min(as_u64(cap));
            read_exactly(reader, wanted, &mut body).await?;
            Ok((body, length > wanted))
        }
        Framing::UntilClose => {
            (&mut *reader)
                .take(as_u64(cap).saturating_add(1))
                .read_to_end(&mut body)
                .await
                .map_err(|error| body_error(&error))?;
            let truncated = body.len() > cap;
            body.truncate(cap);
            Ok((body, truncated))
        }
        Framing::Chunked => loop {
            let size = read_chunk_size(reader).await?;
            if size == 0 {
                return Ok((body, false));
            }
            let wanted = size.min(as_u64(cap.saturating_sub(body.len())));
            read_exactly(reader, wanted, &mut body).await?;
            if size > wanted {
                return Ok((body, true));
            }
            let end = read_line(reader, MAX_CHUNK_LINE).await?;
            if end != b"\r\n" && end != b"\n" {
                return Err(GetError::Response("chunk not followed by CRLF".into()));
            }
        },
    }
}

/// Appends exactly `count` bytes from `reader` to `body`.
async fn read_exactly<R>(reader: &mut R, count: u64, body: &mut Vec<u8>) -> Result<(), GetError>
where
    R: AsyncRead + Unpin,
{
    let before = body.len();
    (&mut *reader)
        .take(count)
        .read_to_end(body)
        .await
        .map_err(|error| body_error(&error))?;
    let got = body.len().saturating_sub(before);
    if as_u64(got) < count {
        return Err(GetError::Response(format!(
            "connection closed after {got} of {count} body bytes"
        )));
    }
    Ok(())
}

/// Reads a chunk-size line and parses it.
async fn read_chunk_size<R>(reader: &mut R) -> Result<u64, GetError>
where
    R: AsyncBufRead + Unpin,
{
    let line = read_line(reader, MAX_CHUNK_LINE).await?;
    parse_chunk_size(&line).ok_or_else(|| {
        let shown: String = String::from_utf8_lossy(&line).chars().take(32).collect();
        GetError::Response(format!("bad chunk-size line {shown:?}"))
    })
}

/// Reads one line, LF included, of at most `limit` bytes.
async fn read_line<R>(reader: &mut R, limit: usize) -> Result<Vec<u8>, GetError>
where
    R: AsyncBufRead + Unpin,
{
    let mut line = Vec::new();
    (&mut *reader)
        .take(as_u64(limit))
        .read_until(b'\n', &mut line)
        .await
        .map_err(|error| body_error(&error))?;
    if line.last() == Some(&b'\n') {
        Ok(line)
    } else if line.len() >= limit {
        Err(GetError::Response(format!(
            "chunk line longer than {limit} bytes"
        )))
    } else {
        Err(GetError::Response(
            "connection closed inside a chunked body".into(),
        ))
    }
}

/// A read error inside the body.
fn body_error(error: &io::Error) -> GetError {
    io_error(error, "reading the body: ")
}

/// An I/O error: [`GetError::Interrupted`] when transient, else [`GetError::Response`].
fn io_error(error: &io::Error, context: &str) -> GetError {
    let reason = format!("{context}{}", io_reason(error));
    if is_transient(error.kind()) {
        GetError::Interrupted(reason)
    } else {
        GetError::Response(reason)
    }
}

/// `usize` to `u64` (lossless on supported targets; saturates otherwise).
fn as_u64(value: usize) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};
    use tokio::net::{TcpListener, TcpStream};

    /// Long enough never to fire on a loaded machine; the timeout tests use their own.
    const STEP: Duration = Duration::from_secs(10);

    const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n";

    /// Reads up to and including the blank line ending a request head.
    async fn read_request<S: AsyncRead + Unpin>(stream: &mut S) -> String {
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(stream.read_u8().await.unwrap());
        }
        String::from_utf8(head).unwrap()
    }

    /// Runs [`exchange_within`] against a peer that reads the request and sends `reply`.
    async fn fetch(
        reply: &'static [u8],
        max_body: usize,
        hop: Hop,
    ) -> Result<HttpResponse, GetError> {
        let (client, mut server) = duplex(64 * 1024);
        let peer = async move {
            read_request(&mut server).await;
            // The client may stop reading early (cap reached): a failed write is fine.
            let _ = server.write_all(reply).await;
        };
        let (result, ()) =
            tokio::join!(exchange_within(client, REQUEST, max_body, STEP, hop), peer);
        result.map(|exchange| exchange.response)
    }

    async fn body_of(reply: &'static [u8], max_body: usize) -> (Vec<u8>, bool) {
        let response = fetch(reply, max_body, Hop::Origin).await.unwrap();
        (response.body, response.truncated)
    }

    async fn error_of(reply: &'static [u8]) -> String {
        match fetch(reply, MAX_BODY, Hop::Origin).await {
            Err(GetError::Response(reason)) => reason,
            other => panic!("{other:?}"),
        }
    }

    fn url(text: &str) -> HttpUrl {
        HttpUrl::parse(text).unwrap()
    }

    fn proxy(kind: ProxyKind, addr: SocketAddr) -> ProxyEndpoint {
        ProxyEndpoint {
            kind,
            addr,
            host: "proxy.test".into(),
            username: Some("alice".into()),
            password: Some("secret".into()),
        }
    }

    #[tokio::test]
    async fn absolute_form_get_through_an_http_proxy() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = proxy(ProxyKind::Http, listener.local_addr().unwrap());
        let peer = async {
            let (mut server, _) = listener.accept().await.unwrap();
            let head = read_request(&mut server).await;
            assert_eq!(
                head,
                concat!(
                    "GET http://example.org:8080/canary?x=1 HTTP/1.1\r\n",
                    "Host: example.org:8080\r\n",
                    "User-Agent: proxy-audit/",
                    env!("CARGO_PKG_VERSION"),
                    "\r\nAccept: */*\r\nConnection: close\r\n",
                    // base64("alice:secret")
                    "Proxy-Authorization: Basic YWxpY2U6c2VjcmV0\r\n\r\n",
                )
            );
            server
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nVia: p\r\n\r\nhello")
                .await
                .unwrap();
        };
        let canary = url("http://example.org:8080/canary?x=1");
        let (fetched, ()) = tokio::join!(
            get_via_proxy(&proxy, Credentials::AsListed, &canary, STEP, MAX_BODY),
            peer
        );
        let fetched = fetched.unwrap();
        assert_eq!(fetched.response.status, 200);
        assert_eq!(fetched.response.body, b"hello");
        assert!(!fetched.response.truncated);
        assert_eq!(
            fetched.response.headers,
            [
                ("Content-Length".to_owned(), "5".to_owned()),
                ("Via".to_owned(), "p".to_owned()),
            ]
        );
        assert!(fetched.connect < STEP && fetched.handshake < STEP);
    }

    #[tokio::test]
    async fn origin_form_get_through_socks5() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = ProxyEndpoint {
            username: None,
            password: None,
            ..proxy(ProxyKind::Socks5, listener.local_addr().unwrap())
        };
        let peer = async {
            let (mut server, _) = listener.accept().await.unwrap();
            let mut greeting = [0; 3];
            server.read_exact(&mut greeting).await.unwrap();
            assert_eq!(greeting, [5, 1, 0]);
            server.write_all(&[5, 0]).await.unwrap();
            let mut request = [0; 18];
            server.read_exact(&mut request).await.unwrap();
            assert_eq!(&request, b"\x05\x01\x00\x03\x0bexample.org\x00\x50");
            server
                .write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 80])
                .await
                .unwrap();
            let head = read_request(&mut server).await;
            assert!(head.starts_with("GET /canary HTTP/1.1\r\nHost: example.org\r\n"));
            assert!(!head.contains("Proxy-Authorization"));
            server
                .write_all(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                )
                .await
                .unwrap();
        };
        let canary = url("http://example.org/canary");
        let (fetched, ()) = tokio::join!(
            get_via_proxy(&proxy, Credentials::AsListed, &canary, STEP, MAX_BODY),
            peer
        );
        assert_eq!(fetched.unwrap().response.body, b"abc");
    }

    #[tokio::test]
    async fn http_proxy_refusing_credentials_is_a_dial_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = proxy(ProxyKind::Http, listener.local_addr().unwrap());
        let peer = async {
            let (mut server, _) = listener.accept().await.unwrap();
            let head = read_request(&mut server).await;
            // base64("bob:wrong")
            assert!(head.contains("\r\nProxy-Authorization: Basic Ym9iOndyb25n\r\n"));
            server
                .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
                .await
                .unwrap();
            server
        };
        let wrong = Credentials::Override {
            username: "bob",
            password: "wrong",
        };
        let canary = url("http://example.org/");
        let (fetched, _server) =
            tokio::join!(get_via_proxy(&proxy, wrong, &canary, STEP, MAX_BODY), peer);
        assert_eq!(fetched, Err(GetError::Dial(DialError::AuthRejected)));
    }

    #[tokio::test]
    async fn unreachable_proxy_is_a_dial_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closed = proxy(ProxyKind::Http, listener.local_addr().unwrap());
        drop(listener);
        let fetched = get_via_proxy(
            &closed,
            Credentials::AsListed,
            &url("http://a.test/"),
            STEP,
            MAX_BODY,
        )
        .await;
        assert!(matches!(
            fetched,
            Err(GetError::Dial(DialError::Unreachable(_)))
        ));
        // Keep the test honest about the listener being gone.
        assert!(TcpStream::connect(closed.addr).await.is_err());
    }

    #[tokio::test]
    async fn a_407_from_the_origin_is_just_a_response() {
        let reply = b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 2\r\n\r\nno";
        let response = fetch(reply, MAX_BODY, Hop::Origin).await.unwrap();
        assert_eq!(
            (response.status, response.body.as_slice()),
            (407, &b"no"[..])
        );
        assert_eq!(
            fetch(reply, MAX_BODY, Hop::HttpProxy).await,
            Err(GetError::Dial(DialError::AuthRejected))
        );
    }

    /// tinyproxy's `BasicAuth` answers a wrong password with 401, not 407: from the proxy
    /// hop that is a refusal of the credentials too (canaries and judges never ask for any).
    #[tokio::test]
    async fn a_401_from_an_http_proxy_refuses_the_credentials() {
        let reply = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 2\r\n\r\nno";
        assert_eq!(
            fetch(reply, MAX_BODY, Hop::HttpProxy).await,
            Err(GetError::Dial(DialError::AuthRejected))
        );
        let response = fetch(reply, MAX_BODY, Hop::Origin).await.unwrap();
        assert_eq!(response.status, 401);
    }

    /// A reset or a timeout is transient (worth a retry); a close or garbage is an answer.
    #[tokio::test]
    async fn failures_say_whether_they_are_transient() {
        let garbage = fetch(b"SSH-2.0-OpenSSH_9.6\r\n\r\n", MAX_BODY, Hop::Origin).await;
        assert!(
            garbage.as_ref().is_err_and(|e| !e.transient()),
            "{garbage:?}"
        );
        let closed = fetch(b"", MAX_BODY, Hop::Origin).await;
        assert!(closed.as_ref().is_err_and(|e| !e.transient()), "{closed:?}");
        assert!(GetError::Interrupted("timed out after 2s".into()).transient());
        assert!(GetError::Dial(DialError::Interrupted("connection reset".into())).transient());
        assert!(GetError::Dial(DialError::Unreachable("connection refused".into())).transient());
        assert!(!GetError::Dial(DialError::AuthRejected).transient());
        assert!(!GetError::Dial(DialError::TargetFailed("HTTP 403".into())).transient());
    }

    #[tokio::test]
    async fn chunked_body_is_decoded() {
        let reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
            5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n";
        assert_eq!(
            body_of(reply, MAX_BODY).await,
            (b"hello world".to_vec(), false)
        );
        // Exactly the cap is not truncated; one byte less is.
        assert_eq!(body_of(reply, 11).await, (b"hello world".to_vec(), false));
        assert_eq!(body_of(reply, 7).await, (b"hello w".to_vec(), true));
        assert_eq!(body_of(reply, 5).await, (b"hello".to_vec(), true));
    }

    #[tokio::test]
    async fn content_length_body_is_read_exactly() {
        let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789EXTRA";
        assert_eq!(
            body_of(reply, MAX_BODY).await,
            (b"0123456789".to_vec(), false)
        );
        assert_eq!(body_of(reply, 10).await, (b"0123456789".to_vec(), false));
        assert_eq!(body_of(reply, 4).await, (b"0123".to_vec(), true));
    }

    #[tokio::test]
    async fn body_without_length_runs_to_the_end() {
        let reply = b"HTTP/1.0 200 OK\r\n\r\nuntil close";
        assert_eq!(
            body_of(reply, MAX_BODY).await,
            (b"until close".to_vec(), false)
        );
        assert_eq!(body_of(reply, 11).await, (b"until close".to_vec(), false));
        assert_eq!(body_of(reply, 5).await, (b"until".to_vec(), true));
        let empty = b"HTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(body_of(empty, MAX_BODY).await, (Vec::new(), false));
    }

    #[tokio::test]
    async fn endless_body_ends_at_the_cap() {
        let (client, mut server) = duplex(64 * 1024);
        let peer = async move {
            read_request(&mut server).await;
            server.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
            // Writes until the client hangs up.
            while server.write_all(&[b'x'; 1024]).await.is_ok() {}
        };
        let (result, ()) = tokio::join!(
            exchange_within(client, REQUEST, 10_000, STEP, Hop::Origin),
            peer
        );
        let response = result.unwrap().response;
        assert!(response.truncated);
        assert_eq!(response.body.len(), 10_000);
    }

    /// The size of the in-memory pipe the wire-budget tests use: what the peer counts as
    /// sent exceeds what the client read by at most this.
    const PIPE: usize = 16 * 1024;

    /// Runs a GET (cap [`MAX_BODY`]) against a peer that sends `head`, then `repeated` over
    /// and over until the client goes (or `then` once, after `times` repetitions, when
    /// given); returns the result and the bytes the peer got into the pipe.
    async fn against_pouring_peer(
        head: &[u8],
        repeated: &[u8],
        then: Option<(usize, &[u8])>,
    ) -> (Result<HttpResponse, GetError>, u64) {
        let (client, mut server) = duplex(PIPE);
        let head = head.to_vec();
        let repeated = repeated.to_vec();
        let then = then.map(|(times, bytes)| (times, bytes.to_vec()));
        let peer = async move {
            read_request(&mut server).await;
            let mut sent = 0_u64;
            let pieces = std::iter::once(head)
                .chain(std::iter::repeat_n(
                    repeated.clone(),
                    then.as_ref().map_or(usize::MAX, |(times, _)| *times),
                ))
                .chain(then.map(|(_, bytes)| bytes));
            for piece in pieces {
                let mut piece: &[u8] = &piece;
                while !piece.is_empty() {
                    match server.write(piece).await {
                        Ok(0) | Err(_) => return sent,
                        Ok(n) => {
                            sent += n as u64;
                            piece = &piece[n..];
                        }
                    }
                }
            }
            sent
        };
        let (result, sent) = tokio::join!(
            exchange_within(client, REQUEST, MAX_BODY, STEP, Hop::Origin),
            peer
        );
        (result.map(|exchange| exchange.response), sent)
    }

    const CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

    fn assert_budget_spent(result: &Result<HttpResponse, GetError>, sent: u64) {
        let bound = wire_budget(MAX_BODY) + PIPE as u64;
        assert!(
            sent <= bound,
            "the peer got {sent} bytes in (bound {bound})"
        );
        match result {
            Err(GetError::Response(reason)) => assert!(
                reason.contains("went past 1179648 bytes on the wire"),
                "{reason}"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_wire_budget_is_the_head_cap_the_body_cap_and_64_kib() {
        assert_eq!(wire_budget(MAX_BODY), 1_179_648);
        assert_eq!(wire_budget(0), 128 * 1024);
    }

    /// One byte of body per kilobyte of chunk extension: without a wire budget, the 1 MiB
    /// body cap let this peer make one GET read a gigabyte.
    #[tokio::test]
    async fn chunk_extensions_count_against_the_wire_budget() {
        let chunk = format!("1;{}\r\nx\r\n", "e".repeat(MAX_CHUNK_LINE - 5));
        let (result, sent) = against_pouring_peer(CHUNKED, chunk.as_bytes(), None).await;
        assert_budget_spent(&result, sent);
    }

    /// Seven wire bytes per body byte (`1;\r\nx\r\n`), forever.
    #[tokio::test]
    async fn endless_tiny_chunks_count_against_the_wire_budget() {
        let (result, sent) = against_pouring_peer(CHUNKED, b"1;\r\nx\r\n", None).await;
        assert_budget_spent(&result, sent);
    }

    /// Eight 1xx heads of 60 KiB before a full-size answer: the heads count too.
    #[tokio::test]
    async fn interim_heads_count_against_the_wire_budget() {
        let mut interim = b"HTTP/1.1 103 Early Hints\r\n".to_vec();
        for _ in 0..60 {
            interim.extend_from_slice(format!("Link: <{}>\r\n", "l".repeat(1000)).as_bytes());
        }
        interim.extend_from_slice(b"\r\n");
        let last = format!("HTTP/1.1 200 OK\r\nContent-Length: {MAX_BODY}\r\n\r\n")
            .into_bytes()
            .into_iter()
            .chain(std::iter::repeat_n(b'x', MAX_BODY))
            .collect::<Vec<u8>>();
        let (result, sent) = against_pouring_peer(&interim, &interim, Some((7, &last))).await;
        assert_budget_spent(&result, sent);
    }

    /// A single endless extension is cut at the chunk-line cap.
    #[tokio::test]
    async fn a_ten_megabyte_chunk_extension_is_cut_at_the_line_cap() {
        let mut start = CHUNKED.to_vec();
        start.extend_from_slice(b"1;");
        let (result, sent) =
            against_pouring_peer(&start, &[b'e'; 1024], Some((10 * 1024, b""))).await;
        assert!(
            sent <= (64 * 1024 + PIPE) as u64,
            "the peer got {sent} bytes in"
        );
        assert_eq!(
            result,
            Err(GetError::Response(format!(
                "chunk line longer than {MAX_CHUNK_LINE} bytes"
            )))
        );
    }

    /// Trailers after the last chunk are never read: the body is complete without them.
    #[tokio::test]
    async fn endless_trailers_are_not_read() {
        let mut start = CHUNKED.to_vec();
        start.extend_from_slice(b"3\r\nabc\r\n0\r\n");
        let (result, sent) = against_pouring_peer(&start, b"X-Trailer: 1\r\n", None).await;
        assert!(
            sent <= (64 * 1024 + PIPE) as u64,
            "the peer got {sent} bytes in"
        );
        let response = result.unwrap();
        assert_eq!(
            (response.body.as_slice(), response.truncated),
            (&b"abc"[..], false)
        );
    }

    /// Honest framing fits the allowance: a full 1 MiB body in 256-byte chunks, after a
    /// head near its cap and an interim head.
    #[tokio::test]
    async fn honest_chunked_bodies_fit_the_wire_budget() {
        let mut head = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n".to_vec();
        for _ in 0..60 {
            head.extend_from_slice(format!("X-Big: {}\r\n", "b".repeat(1000)).as_bytes());
        }
        head.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
        let chunk = format!("100\r\n{}\r\n", "y".repeat(256));
        let chunks = MAX_BODY / 256;
        let (result, _) =
            against_pouring_peer(&head, chunk.as_bytes(), Some((chunks, b"0\r\n\r\n"))).await;
        let response = result.unwrap();
        assert_eq!((response.body.len(), response.truncated), (MAX_BODY, false));
        // One chunk more than the cap: truncated, not an error.
        let (result, _) =
            against_pouring_peer(&head, chunk.as_bytes(), Some((chunks + 1, b"0\r\n\r\n"))).await;
        let response = result.unwrap();
        assert_eq!((response.body.len(), response.truncated), (MAX_BODY, true));
    }

    #[tokio::test]
    async fn broken_responses_are_errors() {
        assert_eq!(error_of(b"").await, "connection closed before a response");
        assert_eq!(
            error_of(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc").await,
            "connection closed after 3 of 10 body bytes"
        );
        assert!(
            error_of(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
                .await
                .starts_with("bad chunk-size line")
        );
        assert_eq!(
            error_of(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n").await,
            "chunk not followed by CRLF"
        );
        assert_eq!(
            error_of(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab").await,
            "connection closed after 2 of 3 body bytes"
        );
        let bomb = format!("HTTP/1.1 200 OK\r\n{}\r\n", "X: y\r\n".repeat(101));
        let bomb: &'static [u8] = bomb.leak().as_bytes();
        assert!(error_of(bomb).await.starts_with("header bomb"));
        assert!(
            error_of(b"\x16\x03\x01\x00\x05hello")
                .await
                .starts_with("not an HTTP/1.x")
        );
    }

    #[tokio::test]
    async fn silent_peer_times_out() {
        // The peer's end stays open and silent.
        let (client, _server) = duplex(4096);
        let step = Duration::from_millis(50);
        let result = exchange_within(client, REQUEST, MAX_BODY, step, Hop::Origin).await;
        assert_eq!(
            result.err(),
            Some(GetError::Interrupted("timed out after 50ms".into()))
        );
    }

    #[tokio::test]
    async fn dripping_body_times_out_on_one_deadline() {
        let (client, mut server) = duplex(4096);
        let peer = async move {
            read_request(&mut server).await;
            server
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
                .await
                .unwrap();
            // A byte every 2 ms: each read is quick, the whole body would take 200 s.
            while server.write_all(b"x").await.is_ok() {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        };
        let step = Duration::from_millis(200);
        let client = exchange_within(client, REQUEST, MAX_BODY, step, Hop::Origin);
        // A per-read timeout would still be reading when this guard fires.
        let (result, ()) = tokio::time::timeout(Duration::from_secs(20), async {
            tokio::join!(client, peer)
        })
        .await
        .unwrap();
        assert_eq!(
            result.err(),
            Some(GetError::Interrupted("timed out after 200ms".into()))
        );
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let framing = |fields: &[(&str, &str)]| {
            let head = ResponseHead {
                minor_version: 1,
                status: 200,
                reason: "OK".into(),
                headers: fields
                    .iter()
                    .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                    .collect(),
            };
            Framing::of(&head)
        };
        assert_eq!(framing(&[]), Ok(Framing::UntilClose));
        assert_eq!(
            framing(&[("Content-Length", "42")]),
            Ok(Framing::Length(42))
        );
        assert_eq!(
            framing(&[("content-length", "7, 7"), ("Content-Length", "7")]),
            Ok(Framing::Length(7))
        );
        assert!(framing(&[("Content-Length", "7"), ("Content-Length", "8")]).is_err());
        assert!(framing(&[("Content-Length", "+7")]).is_err());
        assert!(framing(&[("Content-Length", "")]).is_err());
        assert!(framing(&[("Content-Length", "99999999999999999999999")]).is_err());
        assert_eq!(
            framing(&[
                ("Content-Length", "5"),
                ("Transfer-Encoding", "gzip, Chunked")
            ]),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            framing(&[("Transfer-Encoding", "chunked, gzip")]),
            Ok(Framing::UntilClose)
        );
        let no_content = ResponseHead {
            minor_version: 1,
            status: 304,
            reason: String::new(),
            headers: vec![("Content-Length".into(), "10".into())],
        };
        assert_eq!(Framing::of(&no_content), Ok(Framing::Empty));
    }

    #[test]
    fn chunk_size_lines() {
        assert_eq!(parse_chunk_size(b"0\r\n"), Some(0));
        assert_eq!(parse_chunk_size(b"1a\r\n"), Some(26));
        assert_eq!(parse_chunk_size(b"FF ; ext=\"v\"\r\n"), Some(255));
        assert_eq!(parse_chunk_size(b"10\n"), Some(16));
        assert_eq!(parse_chunk_size(b"ffffffffffffffff\r\n"), Some(u64::MAX));
        for bad in [
            &b"\r\n"[..],
            b"+1\r\n",
            b"-1\r\n",
            b"g\r\n",
            b"1",
            b"10000000000000000\r\n",
        ] {
            assert_eq!(parse_chunk_size(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn tunnel_target_is_an_address_for_ip_hosts() {
        let request = super::request_head("/p", &url("http://[::1]:8080/p"), None);
        assert!(request.starts_with(b"GET /p HTTP/1.1\r\nHost: [::1]:8080\r\n"));
        assert_eq!(
            tunnel_target(&url("http://127.0.0.1:8080/")),
            Target::Addr("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(
            tunnel_target(&url("http://[::1]/")),
            Target::Addr("[::1]:80".parse().unwrap())
        );
        assert_eq!(
            tunnel_target(&url("http://example.org/")),
            Target::Name("example.org".into(), 80)
        );
    }
}
