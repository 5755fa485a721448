//! Lab HTTP proxies: `CONNECT` tunnels and absolute-form `GET`s, forwarded honestly or with
//! a behaviour (content injection, leaking the client's address).
//!
//! One request per connection, `Connection: close` on both sides. Every read is bounded:
//! request and response heads to 16 KiB (read by the shared reader of
//! [`crate::proto::http_head`]) and response bodies to 2 MiB, each within 5 s.
//! Targets are resolved by the [`Router`], so the proxies reach loopback
//! only. Written over raw bytes rather than an HTTP library so that the honest path is
//! byte-identical and the malicious ones change exactly what they mean to.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use memchr::memmem;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use super::route::{Router, close_gracefully, dial, serve_sessions, within};
use crate::proto::http_head::{HeadLimits, read_raw_head};

/// Largest request or response head read, blank line included.
const MAX_HEAD: usize = 16 * 1024;
/// Largest response body relayed for a `GET`.
const MAX_BODY: usize = 2 * 1024 * 1024;
/// Request fields for this hop only: never forwarded to the origin.
const HOP_BY_HOP: [&[u8]; 4] = [
    b"proxy-authorization",
    b"proxy-connection",
    b"connection",
    b"keep-alive",
];
/// The answer to a `CONNECT` whose tunnel is open.
const ESTABLISHED: &[u8] = b"HTTP/1.1 200 Connection established\r\n\r\n";

/// How a lab HTTP proxy treats the `GET`s it forwards. `CONNECT` tunnels are relayed
/// untouched whatever the behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HttpBehaviour {
    /// Forwards requests and responses unchanged, apart from hop-by-hop request fields.
    Honest,
    /// A content-injecting proxy: inserts this snippet into every uncompressed `text/*`
    /// response body (before `</body>` when there is one, else at the end) and fixes
    /// `Content-Length`.
    Inject(&'static str),
    /// An address-leaking proxy: tells the origin who the client is with
    /// `X-Forwarded-For: <client IP>` and `Via: 1.1 lab-proxy`.
    AddForwardedFor,
    /// An honest proxy that says it is one: `Via: 1.1 lab-proxy` (as tinyproxy and squid
    /// do by default), without the client's address. Anonymous, not elite.
    AddVia,
}

/// Serves HTTP proxy requests on `listener` with `behaviour`, one task per connection,
/// reaching targets through `router`. Runs until dropped.
pub(crate) async fn serve_http_proxy(
    listener: TcpListener,
    behaviour: Arc<HttpBehaviour>,
    router: Arc<Router>,
) {
    serve_sessions(listener, move |client, peer| {
        let behaviour = *behaviour;
        let router = Arc::clone(&router);
        async move {
            // A failed session is the client's business; the lab has no one to tell.
            let _ = session(client, peer.ip(), behaviour, &router).await;
        }
    })
    .await;
}

/// A request the proxy refuses, and the response saying so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// 400: not a proxy request, or malformed.
    BadRequest,
    /// 403: a target off the lab (unknown name, address off loopback).
    Forbidden,
    /// 405: neither `GET` nor `CONNECT`.
    MethodNotAllowed,
    /// 431: a request head over [`MAX_HEAD`].
    HeadTooLarge,
    /// 502: the origin could not be reached or answered badly.
    BadGateway,
}

impl Refusal {
    /// The complete response.
    fn response(self) -> &'static [u8] {
        match self {
            Self::BadRequest => {
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            }
            Self::Forbidden => {
                b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            }
            Self::MethodNotAllowed => {
                b"HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, CONNECT\r\n\
                  Content-Length: 0\r\nConnection: close\r\n\r\n"
            }
            Self::HeadTooLarge => {
                b"HTTP/1.1 431 Request Header Fields Too Large\r\n\
                  Content-Length: 0\r\nConnection: close\r\n\r\n"
            }
            Self::BadGateway => {
                b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            }
        }
    }
}

/// One proxy connection: the request head, then a tunnel, a forwarded `GET` or a refusal.
async fn session(
    mut client: TcpStream,
    client_ip: IpAddr,
    behaviour: HttpBehaviour,
    router: &Router,
) -> io::Result<()> {
    let (head_bytes, early) = match read_head(&mut client).await {
        Ok(read) => read,
        Err(error) if error.kind() == io::ErrorKind::InvalidData => {
            return refuse(client, Refusal::HeadTooLarge).await;
        }
        Err(error) => return Err(error),
    };
    let Some((head, method, target)) = Head::parse(&head_bytes).and_then(|head| {
        head.request_line()
            .map(|(method, target)| (head, method, target))
    }) else {
        return refuse(client, Refusal::BadRequest).await;
    };
    match method {
        "CONNECT" => match split_authority(target, None) {
            Some((host, port)) => tunnel(client, &early, router.resolve_host(host, port)).await,
            None => refuse(client, Refusal::BadRequest).await,
        },
        "GET" => match Url::parse_absolute(target) {
            Some(url) => {
                let origin = router.resolve_host(url.host, url.port);
                forward(client, origin, &head, &url, behaviour, client_ip).await
            }
            None => refuse(client, Refusal::BadRequest).await,
        },
        _ => refuse(client, Refusal::MethodNotAllowed).await,
    }
}

/// Answers a `CONNECT`: opens the tunnel to `destination` (403 when the router refused it,
/// 502 when it cannot be reached) and relays, `early` (bytes the client sent behind its
/// request) first.
async fn tunnel(
    mut client: TcpStream,
    early: &[u8],
    destination: Option<SocketAddr>,
) -> io::Result<()> {
    let Some(destination) = destination else {
        return refuse(client, Refusal::Forbidden).await;
    };
    let Ok(mut upstream) = dial(destination).await else {
        return refuse(client, Refusal::BadGateway).await;
    };
    within(client.write_all(ESTABLISHED)).await?;
    within(upstream.write_all(early)).await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

/// Answers an absolute-form `GET`: forwards it to `origin` (403 when the router refused it,
/// 502 when it fails), applies `behaviour` and relays the response.
async fn forward(
    mut client: TcpStream,
    origin: Option<SocketAddr>,
    head: &Head<'_>,
    url: &Url<'_>,
    behaviour: HttpBehaviour,
    client_ip: IpAddr,
) -> io::Result<()> {
    let Some(origin) = origin else {
        return refuse(client, Refusal::Forbidden).await;
    };
    let request = forwarded_request(head, url, behaviour, client_ip);
    let Ok(response) = fetch(origin, &request).await else {
        return refuse(client, Refusal::BadGateway).await;
    };
    let response = match behaviour {
        HttpBehaviour::Inject(snippet) => response.injected(snippet),
        HttpBehaviour::Honest | HttpBehaviour::AddForwardedFor | HttpBehaviour::AddVia => response,
    };
    within(client.write_all(&response.head)).await?;
    within(client.write_all(&response.body)).await?;
    close_gracefully(client).await;
    Ok(())
}

/// Writes `refusal`'s response and closes.
async fn refuse(mut client: TcpStream, refusal: Refusal) -> io::Result<()> {
    within(client.write_all(refusal.response())).await?;
    close_gracefully(client).await;
    Ok(())
}

/// The request sent to the origin: origin-form, the client's fields minus the hop-by-hop
/// ones (a `Host` added if the client sent none), what `behaviour` adds, and
/// `Connection: close`.
fn forwarded_request(
    head: &Head<'_>,
    url: &Url<'_>,
    behaviour: HttpBehaviour,
    client_ip: IpAddr,
) -> Vec<u8> {
    let mut request = format!("GET {} HTTP/1.1\r\n", url.path).into_bytes();
    let mut has_host = false;
    for field in &head.fields {
        if HOP_BY_HOP.iter().any(|name| field.is(name)) {
            continue;
        }
        has_host |= field.is(b"host");
        request.extend_from_slice(field.line);
        request.extend_from_slice(b"\r\n");
    }
    if !has_host {
        request.extend_from_slice(format!("Host: {}\r\n", url.authority).as_bytes());
    }
    match behaviour {
        HttpBehaviour::AddForwardedFor => {
            let leak = format!("X-Forwarded-For: {client_ip}\r\nVia: 1.1 lab-proxy\r\n");
            request.extend_from_slice(leak.as_bytes());
        }
        HttpBehaviour::AddVia => request.extend_from_slice(b"Via: 1.1 lab-proxy\r\n"),
        HttpBehaviour::Honest | HttpBehaviour::Inject(_) => {}
    }
    request.extend_from_slice(b"Connection: close\r\n\r\n");
    request
}

/// A response from an origin, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Response {
    /// The head, blank line included.
    head: Vec<u8>,
    /// The body (the declared `Content-Length`, else everything up to EOF).
    body: Vec<u8>,
}

impl Response {
    /// The response with `snippet` inserted, when it is uncompressed `text/*` with a plain
    /// body; unchanged otherwise.
    fn injected(self, snippet: &str) -> Self {
        let Some(head) = Head::parse(&self.head) else {
            return self;
        };
        let is_text = head
            .field(b"content-type")
            .is_some_and(|value| value.to_ascii_lowercase().starts_with(b"text/"));
        let is_plain = head.field(b"transfer-encoding").is_none()
            && head
                .field(b"content-encoding")
                .is_none_or(|value| value.eq_ignore_ascii_case(b"identity"));
        if !(is_text && is_plain) {
            return self;
        }
        let body = insert_snippet(&self.body, snippet);
        let head = head.with_content_length(body.len());
        Self { head, body }
    }
}

/// `body` with `snippet` before its last `</body>` (any case), or at its end.
fn insert_snippet(body: &[u8], snippet: &str) -> Vec<u8> {
    let at = memmem::rfind(&body.to_ascii_lowercase(), b"</body>").unwrap_or(body.len());
    let (before, after) = body.split_at_checked(at).unwrap_or((body, &[]));
    [before, snippet.as_bytes(), after].concat()
}

/// Sends `request` to `origin` and reads the response: the head at most [`MAX_HEAD`], the
/// body at most [`MAX_BODY`], each step bounded in time by [`within`].
async fn fetch(origin: SocketAddr, request: &[u8]) -> io::Result<Response> {
    let mut upstream = dial(origin).await?;
    within(upstream.write_all(request)).await?;
    let (head, mut body) = read_head(&mut upstream).await?;
    let length = Head::parse(&head)
        .ok_or_else(|| invalid("malformed response head"))?
        .content_length()?;
    within(read_body(&mut upstream, length, &mut body)).await?;
    Ok(Response { head, body })
}

/// Completes `body` (which holds what came with the head): `length` bytes when declared,
/// else everything up to EOF; [`io::ErrorKind::InvalidData`] past [`MAX_BODY`].
async fn read_body(
    upstream: &mut TcpStream,
    length: Option<usize>,
    body: &mut Vec<u8>,
) -> io::Result<()> {
    let limit = match length {
        Some(length) if length > MAX_BODY => return Err(invalid("response body over the cap")),
        Some(length) => {
            // Anything past the declared length is not part of this response.
            body.truncate(length);
            length
        }
        None => MAX_BODY + 1,
    };
    let missing = limit.saturating_sub(body.len());
    let missing = u64::try_from(missing).unwrap_or(u64::MAX);
    (&mut *upstream).take(missing).read_to_end(body).await?;
    match length {
        Some(length) if body.len() < length => Err(io::ErrorKind::UnexpectedEof.into()),
        None if body.len() > MAX_BODY => Err(invalid("response body over the cap")),
        _ => Ok(()),
    }
}

/// Reads a head up to and including its blank line, all of it within [`within`]'s step;
/// returns it and the bytes read past it. [`io::ErrorKind::InvalidData`] when it is longer
/// than [`MAX_HEAD`], [`io::ErrorKind::UnexpectedEof`] when the peer closes first.
async fn read_head<S>(stream: &mut S) -> io::Result<(Vec<u8>, Vec<u8>)>
where
    S: AsyncRead + Unpin,
{
    let found = within(async {
        read_raw_head(stream, HeadLimits::bytes(MAX_HEAD))
            .await
            .map_err(io::Error::from)
    })
    .await?;
    Ok((found.head, found.rest))
}

/// A parsed request or response head, borrowing the bytes it was read as.
#[derive(Debug)]
struct Head<'a> {
    /// The request line or status line.
    start: &'a [u8],
    /// The header fields, in order.
    fields: Vec<Field<'a>>,
}

/// One header field.
#[derive(Debug)]
struct Field<'a> {
    /// The whole line as received, without its CRLF.
    line: &'a [u8],
    /// The name as received.
    name: &'a [u8],
    /// The value, surrounding whitespace trimmed.
    value: &'a [u8],
}

impl Field<'_> {
    /// Whether the field is called `name` (lower-case), ignoring case.
    fn is(&self, name: &[u8]) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

impl<'a> Head<'a> {
    /// Parses a head ending with its blank line; `None` when a line is not a field.
    fn parse(bytes: &'a [u8]) -> Option<Self> {
        let mut lines = bytes
            .strip_suffix(b"\r\n\r\n")?
            .split(|&byte| byte == b'\n');
        let start = lines.next()?;
        let start = start.strip_suffix(b"\r").unwrap_or(start);
        let fields = lines
            .map(|line| {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let mut parts = line.splitn(2, |&byte| byte == b':');
                let name = parts.next()?;
                let value = parts.next()?.trim_ascii();
                let valid_name = !name.is_empty() && !name.iter().any(u8::is_ascii_whitespace);
                valid_name.then_some(Field { line, name, value })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Self { start, fields })
    }

    /// The method and target of an HTTP/1.x request line.
    fn request_line(&self) -> Option<(&'a str, &'a str)> {
        let line = std::str::from_utf8(self.start).ok()?;
        let mut parts = line.split(' ');
        let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
        let well_formed = parts.next().is_none() && version.starts_with("HTTP/1.");
        well_formed.then_some((method, target))
    }

    /// The value of the first field called `name` (lower-case).
    fn field(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.fields
            .iter()
            .find(|field| field.is(name))
            .map(|field| field.value)
    }

    /// The declared body length: `None` when there is none, or when a transfer coding
    /// overrides it (the body then runs to EOF).
    fn content_length(&self) -> io::Result<Option<usize>> {
        if self.field(b"transfer-encoding").is_some() {
            return Ok(None);
        }
        self.field(b"content-length")
            .map(|value| {
                std::str::from_utf8(value)
                    .ok()
                    .and_then(|text| text.parse().ok())
                    .ok_or_else(|| invalid("malformed Content-Length"))
            })
            .transpose()
    }

    /// The head as bytes again, with `Content-Length: length` in place of any it had.
    fn with_content_length(&self, length: usize) -> Vec<u8> {
        let mut head = self.start.to_vec();
        head.extend_from_slice(b"\r\n");
        for field in self
            .fields
            .iter()
            .filter(|field| !field.is(b"content-length"))
        {
            head.extend_from_slice(field.line);
            head.extend_from_slice(b"\r\n");
        }
        head.extend_from_slice(format!("Content-Length: {length}\r\n\r\n").as_bytes());
        head
    }
}

/// An absolute-form `http://` request target.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Url<'a> {
    /// `host[:port]` as written.
    authority: &'a str,
    /// The host, without brackets.
    host: &'a str,
    /// The port (80 when not written).
    port: u16,
    /// Path and query, origin-form (at least `/`).
    path: String,
}

impl<'a> Url<'a> {
    /// Parses `http://authority[/path][?query]`; `None` for any other form.
    fn parse_absolute(target: &'a str) -> Option<Self> {
        let (scheme, rest) = target.split_at_checked("http://".len())?;
        if !scheme.eq_ignore_ascii_case("http://") {
            return None;
        }
        let (authority, path) =
            rest.split_at_checked(rest.find(['/', '?']).unwrap_or(rest.len()))?;
        let (host, port) = split_authority(authority, Some(80))?;
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        Some(Self {
            authority,
            host,
            port,
            path,
        })
    }
}

/// Splits `host:port` (`[v6]:port` for IPv6) into host and port, `default_port` when none
/// is written; `None` when malformed or carrying credentials.
fn split_authority(authority: &str, default_port: Option<u16>) -> Option<(&str, u16)> {
    if authority.contains('@') {
        return None;
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => {
            let (host, after) = bracketed.split_once(']')?;
            match after {
                "" => (host, None),
                _ => (host, Some(after.strip_prefix(':')?)),
            }
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port = match port {
        Some(port) => port.parse().ok()?,
        None => default_port?,
    };
    (!host.is_empty()).then_some((host, port))
}

/// An [`io::ErrorKind::InvalidData`] error: the peer does not speak HTTP as the lab reads it.
fn invalid(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, TcpListener as StdListener};

    use tokio::sync::mpsc;

    use super::*;
    use crate::lab::route::STEP;

    const SNIPPET: &str = "<script>lab()</script>";

    /// Starts an origin answering every request with `response`; returns its address and
    /// the request heads it received.
    async fn origin(response: &[u8]) -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (requests_tx, requests_rx) = mpsc::unbounded_channel();
        let response = Arc::<[u8]>::from(response);
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                let (head, _) = read_head(&mut stream).await.unwrap();
                requests_tx.send(String::from_utf8(head).unwrap()).unwrap();
                stream.write_all(&response).await.unwrap();
                stream.shutdown().await.unwrap();
            }
        });
        (addr, requests_rx)
    }

    /// Starts an echo server that first sends `echo`, then echoes.
    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            stream.write_all(b"echo").await.unwrap();
            let (mut reader, mut writer) = stream.split();
            let _ = tokio::io::copy(&mut reader, &mut writer).await;
        });
        addr
    }

    async fn proxy(behaviour: HttpBehaviour) -> SocketAddr {
        let mut router = Router::default();
        router.insert("origin.lab.test", IpAddr::V4(Ipv4Addr::LOCALHOST));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve_http_proxy(
            listener,
            Arc::new(behaviour),
            Arc::new(router),
        ));
        addr
    }

    /// Sends `request` to the proxy and reads everything it answers until it closes.
    async fn exchange(proxy: SocketAddr, request: &str) -> Vec<u8> {
        let mut stream = TcpStream::connect(proxy).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        tokio::time::timeout(STEP, stream.read_to_end(&mut response))
            .await
            .unwrap()
            .unwrap();
        response
    }

    fn get(port: u16, extra: &str) -> String {
        format!(
            "GET http://origin.lab.test:{port}/page?x=1 HTTP/1.1\r\n\
             Host: origin.lab.test:{port}\r\n\
             Proxy-Authorization: Basic bGFiOmxhYg==\r\n\
             Proxy-Connection: keep-alive\r\n\
             X-Custom: kept\r\n{extra}\r\n"
        )
    }

    fn html_response() -> Vec<u8> {
        let body = "<html><BODY>canary</BODY></html>";
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
             Content-Length: {}\r\nX-Origin: lab\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    /// Splits a response into its head (as text) and body.
    fn split_response(response: &[u8]) -> (String, Vec<u8>) {
        let end = memmem::find(response, b"\r\n\r\n").unwrap() + 4;
        let (head, body) = response.split_at(end);
        (String::from_utf8(head.to_vec()).unwrap(), body.to_vec())
    }

    #[tokio::test]
    async fn honest_get_is_byte_identical_and_drops_hop_by_hop_fields() {
        let response = html_response();
        let (origin, mut requests) = origin(&response).await;
        let proxy = proxy(HttpBehaviour::Honest).await;
        let received = exchange(proxy, &get(origin.port(), "Connection: keep-alive\r\n")).await;
        assert_eq!(received, response);

        let request = requests.recv().await.unwrap();
        let expected = format!(
            "GET /page?x=1 HTTP/1.1\r\nHost: origin.lab.test:{}\r\nX-Custom: kept\r\n\
             Connection: close\r\n\r\n",
            origin.port()
        );
        assert_eq!(request, expected);
    }

    #[tokio::test]
    async fn honest_get_adds_a_missing_host() {
        let (origin, mut requests) = origin(&html_response()).await;
        let proxy = proxy(HttpBehaviour::Honest).await;
        let request = format!(
            "GET http://origin.lab.test:{}?q HTTP/1.1\r\n\r\n",
            origin.port()
        );
        exchange(proxy, &request).await;
        let expected = format!(
            "GET /?q HTTP/1.1\r\nHost: origin.lab.test:{}\r\nConnection: close\r\n\r\n",
            origin.port()
        );
        assert_eq!(requests.recv().await.unwrap(), expected);
    }

    #[tokio::test]
    async fn inject_inserts_before_body_end_and_fixes_content_length() {
        let (origin, _requests) = origin(&html_response()).await;
        let proxy = proxy(HttpBehaviour::Inject(SNIPPET)).await;
        let received = exchange(proxy, &get(origin.port(), "")).await;
        let (head, body) = split_response(&received);
        let expected_body = format!("<html><BODY>canary{SNIPPET}</BODY></html>");
        assert_eq!(body, expected_body.as_bytes());
        assert_eq!(head.matches("Content-Length").count(), 1, "{head}");
        assert!(
            head.contains(&format!("\r\nContent-Length: {}\r\n", expected_body.len())),
            "{head}"
        );
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n") && head.contains("X-Origin: lab\r\n"));
    }

    #[tokio::test]
    async fn inject_appends_to_text_without_body_tag_or_length() {
        let response = b"HTTP/1.1 200 OK\r\nContent-Type: Text/Plain\r\n\r\ncanary";
        let (origin, _requests) = origin(response).await;
        let proxy = proxy(HttpBehaviour::Inject(SNIPPET)).await;
        let received = exchange(proxy, &get(origin.port(), "")).await;
        let (head, body) = split_response(&received);
        let expected_body = format!("canary{SNIPPET}");
        assert_eq!(body, expected_body.as_bytes());
        assert!(head.ends_with(&format!(
            "\r\nContent-Length: {}\r\n\r\n",
            expected_body.len()
        )));
    }

    #[tokio::test]
    async fn inject_leaves_json_and_compressed_text_alone() {
        let json = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                     Content-Length: 15\r\n\r\n{\"a\":\"</body>\"}";
        let gzip = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\n\
                     Content-Length: 4\r\n\r\n\x1f\x8b\x08\x00";
        for response in [&json[..], &gzip[..]] {
            let (origin, _requests) = origin(response).await;
            let proxy = proxy(HttpBehaviour::Inject(SNIPPET)).await;
            let received = exchange(proxy, &get(origin.port(), "")).await;
            assert_eq!(received, response);
        }
    }

    #[tokio::test]
    async fn add_forwarded_for_tells_the_origin_the_client_address() {
        let response = html_response();
        let (origin, mut requests) = origin(&response).await;
        let proxy = proxy(HttpBehaviour::AddForwardedFor).await;
        let received = exchange(proxy, &get(origin.port(), "")).await;
        assert_eq!(received, response);
        let request = requests.recv().await.unwrap();
        assert!(
            request.contains("\r\nX-Forwarded-For: 127.0.0.1\r\n"),
            "{request}"
        );
        assert!(request.contains("\r\nVia: 1.1 lab-proxy\r\n"), "{request}");
    }

    #[tokio::test]
    async fn honest_does_not_tell_the_origin_the_client_address() {
        let (origin, mut requests) = origin(&html_response()).await;
        let proxy = proxy(HttpBehaviour::Honest).await;
        exchange(proxy, &get(origin.port(), "")).await;
        let request = requests.recv().await.unwrap();
        assert!(
            !request.contains("127.0.0.1") && !request.contains("Via"),
            "{request}"
        );
    }

    #[tokio::test]
    async fn connect_opens_a_tunnel_carrying_early_bytes() {
        let echo = echo_server().await;
        let proxy = proxy(HttpBehaviour::Inject(SNIPPET)).await;
        let mut stream = TcpStream::connect(proxy).await.unwrap();
        let request = format!(
            "CONNECT origin.lab.test:{0} HTTP/1.1\r\nHost: origin.lab.test:{0}\r\n\r\nping",
            echo.port()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut received = vec![0; ESTABLISHED.len() + 8];
        stream.read_exact(&mut received).await.unwrap();
        assert_eq!(received, [ESTABLISHED, b"echoping"].concat());
    }

    #[tokio::test]
    async fn requests_off_the_lab_or_malformed_are_refused() {
        let closed = StdListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let proxy = proxy(HttpBehaviour::Honest).await;
        let cases = [
            ("CONNECT 192.0.2.1:443 HTTP/1.1\r\n\r\n".to_owned(), "403"),
            (
                "CONNECT nowhere.test:443 HTTP/1.1\r\n\r\n".to_owned(),
                "403",
            ),
            ("CONNECT origin.lab.test HTTP/1.1\r\n\r\n".to_owned(), "400"),
            (
                "GET http://nowhere.test/ HTTP/1.1\r\n\r\n".to_owned(),
                "403",
            ),
            (
                "GET http://[::ffff:127.0.0.1]:80/ HTTP/1.1\r\n\r\n".to_owned(),
                "403",
            ),
            (
                format!("GET http://127.0.0.1:{}/ HTTP/1.1\r\n\r\n", closed.port()),
                "502",
            ),
            (
                format!("CONNECT 127.0.0.1:{} HTTP/1.1\r\n\r\n", closed.port()),
                "502",
            ),
            (
                "GET / HTTP/1.1\r\nHost: origin.lab.test\r\n\r\n".to_owned(),
                "400",
            ),
            (
                "GET https://origin.lab.test/ HTTP/1.1\r\n\r\n".to_owned(),
                "400",
            ),
            (
                "GET http://u:p@origin.lab.test/ HTTP/1.1\r\n\r\n".to_owned(),
                "400",
            ),
            (
                "POST http://origin.lab.test/ HTTP/1.1\r\n\r\n".to_owned(),
                "405",
            ),
            ("\x05\x01\x00 nonsense\r\n\r\n".to_owned(), "400"),
            (
                "GET http://origin.lab.test/ HTTP/1.1\r\nno colon\r\n\r\n".to_owned(),
                "400",
            ),
            (
                format!(
                    "GET http://origin.lab.test/{} HTTP/1.1\r\n\r\n",
                    "a".repeat(MAX_HEAD)
                ),
                "431",
            ),
        ];
        for (request, status) in cases {
            let received = exchange(proxy, &request).await;
            let expected = format!("HTTP/1.1 {status} ");
            assert!(received.starts_with(expected.as_bytes()), "{request:?}");
        }
    }

    #[test]
    fn authorities_split_into_host_and_port() {
        assert_eq!(split_authority("a.test:81", None), Some(("a.test", 81)));
        assert_eq!(split_authority("a.test", Some(80)), Some(("a.test", 80)));
        assert_eq!(split_authority("[::1]:82", None), Some(("::1", 82)));
        assert_eq!(split_authority("[::1]", Some(80)), Some(("::1", 80)));
        for bad in [
            "a.test",
            ":80",
            "a.test:x",
            "[::1]x",
            "a.test:99999",
            "u@a.test:1",
        ] {
            assert_eq!(split_authority(bad, None), None, "{bad}");
        }
    }
}
