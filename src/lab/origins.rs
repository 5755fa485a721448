//! The lab's origins: the TLS canary, the plain-HTTP canary and the judge, each a tiny
//! HTTP/1.1 responder on a loopback listener.
//!
//! Hand-written on purpose: an origin reads one request head, answers it and closes, and
//! that is all the lab needs. A full HTTP server crate would add a heavy dependency tree
//! for a few dozen lines, and would hide exactly what the audit tests rely on: which bytes
//! go out, and which headers came in, in which order, spelled how.
//!
//! Every connection gets its own task and one deadline (`CONNECTION_DEADLINE`) for all
//! of it, TLS handshake included; the request head is capped at [`MAX_HEAD`] bytes (read by
//! the shared reader of [`crate::proto::http_head`]).
//! Whatever a client sends, the worst it gets is an error status or a closed connection:
//! errors end that connection quietly and never the listener.

use std::borrow::Cow;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::proto::http_head::{HeadLimits, ReadHeadError, read_raw_head};

/// Largest request head read, request line to the blank line included.
pub const MAX_HEAD: u64 = HEAD_CAP as u64;

/// [`MAX_HEAD`] as the shared head reader counts it.
const HEAD_CAP: usize = 16 * 1024;

/// How long one connection may take, from accept to the last byte of the response.
pub(crate) const CONNECTION_DEADLINE: Duration = Duration::from_secs(5);

/// What the judge answers: the address the request came from and its header fields.
///
/// Serialised as `{"address":"127.0.0.1","headers":[["Host","judge.lab.test"],…]}`; see
/// [`serve_judge`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JudgeReply {
    /// The peer IP address of the connection, as text (`127.0.0.1`, `::1`).
    pub address: String,
    /// Header fields in the order received, names spelled as sent, values without
    /// surrounding spaces or tabs (bytes that are not UTF-8 show as U+FFFD).
    pub headers: Vec<(String, String)>,
}

/// Serves HTTPS on `listener` with `config`, answering every GET with `body`.
///
/// The body goes out as `text/html`. Each TLS handshake and request share the connection
/// deadline; a client that completes the handshake and closes without a request (as the
/// auditor's certificate check does) simply ends its connection.
pub(crate) async fn serve_tls_origin(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    body: &'static [u8],
) {
    let acceptor = TlsAcceptor::from(config);
    accept_loop(&listener, |tcp, _peer| {
        let acceptor = acceptor.clone();
        async move {
            let mut tls = acceptor.accept(tcp).await?;
            answer(&mut tls, |_| Reply::ok("text/html", body)).await
        }
    })
    .await;
}

/// Serves plain HTTP, answering every GET with `body` (`text/plain`).
///
/// The request target is not looked at, so origin-form (`GET /x`) and absolute-form
/// (`GET http://host/x`, as sent to HTTP proxies) requests get the same answer.
pub(crate) async fn serve_http_canary(listener: TcpListener, body: &'static [u8]) {
    accept_loop(&listener, |mut tcp, _peer| async move {
        answer(&mut tcp, |_| Reply::ok("text/plain", body)).await
    })
    .await;
}

/// Serves the judge: every GET is answered with JSON naming the peer address and the
/// request headers.
///
/// The answer is `200`, `Content-Type: application/json`, body (see [`JudgeReply`]):
///
/// ```json
/// {"address":"127.0.0.1","headers":[["Host","judge.lab.test"],["X-Forwarded-For","10.0.0.7"]]}
/// ```
///
/// - `address`: the IP address the TCP connection came from (the proxy's exit address when
///   the request went through one), IPv4-mapped IPv6 addresses shown as IPv4.
/// - `headers`: every header field as a `[name, value]` pair, in the order received, names
///   spelled as sent (compare them case-insensitively), values without surrounding
///   whitespace; repeated fields appear repeatedly.
///
/// The auditor compares these with what it sent: a proxy that adds `X-Forwarded-For`,
/// `X-Real-IP`, `Forwarded`, `Via` and the like holding the client's address leaks it.
pub async fn serve_judge(listener: TcpListener) {
    accept_loop(&listener, |mut tcp, peer| async move {
        answer(&mut tcp, |request| judge_reply(peer, request)).await
    })
    .await;
}

/// The judge's answer to `request` from `peer`.
fn judge_reply(peer: SocketAddr, request: &Request) -> Reply {
    let reply = JudgeReply {
        address: peer.ip().to_canonical().to_string(),
        headers: request.headers.clone(),
    };
    match serde_json::to_vec(&reply) {
        Ok(json) => Reply::ok("application/json", json),
        Err(_) => Reply::error(Status::InternalError),
    }
}

/// Accepts connections on `listener` forever, running `handle` for each in its own task
/// under [`CONNECTION_DEADLINE`].
///
/// Errors that concern one pending connection (reset or aborted before it was accepted)
/// are skipped; any other accept error means the listener is unusable, and ends the loop.
async fn accept_loop<F, Fut>(listener: &TcpListener, handle: F)
where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = io::Result<()>> + Send + 'static,
{
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) if is_per_connection(&error) => continue,
            Err(_) => return,
        };
        let connection = handle(stream, peer);
        tokio::spawn(async move {
            // A failed or slow connection only ends itself; a lab origin has no one to
            // report it to, and the client sees the connection close.
            let _ = tokio::time::timeout(CONNECTION_DEADLINE, connection).await;
        });
    }
}

/// True for accept errors that concern one connection, not the listener.
fn is_per_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// Reads one request head from `stream`, writes the response and closes the stream.
///
/// GETs are answered by `respond`; other methods get 405, unparsable heads 400, heads
/// over [`MAX_HEAD`] 431. A stream that closes or fails before a full head arrives is not
/// answered.
async fn answer<S>(stream: &mut S, respond: impl FnOnce(&Request) -> Reply) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let reply = match read_head(stream).await? {
        Head::Complete(head) => match Request::parse(&head) {
            Some(request) if request.method == "GET" => respond(&request),
            Some(_) => Reply::error(Status::MethodNotAllowed),
            None => Reply::error(Status::BadRequest),
        },
        Head::TooLarge => Reply::error(Status::HeadTooLarge),
    };
    stream.write_all(&reply.render()).await?;
    stream.shutdown().await
}

/// How reading a request head ended, when the stream did not.
#[derive(Debug, PartialEq, Eq)]
enum Head {
    /// The head, from the request line up to and including the blank line.
    Complete(Vec<u8>),
    /// [`MAX_HEAD`] bytes arrived without the blank line.
    TooLarge,
}

/// Reads from `stream` until the blank line ending a request head, at most [`MAX_HEAD`]
/// bytes. Bytes after the head (a body, a pipelined request) are read but dropped.
///
/// A stream that ends first is an `UnexpectedEof` error.
async fn read_head<R>(stream: &mut R) -> io::Result<Head>
where
    R: AsyncRead + Unpin,
{
    match read_raw_head(stream, HeadLimits::bytes(HEAD_CAP)).await {
        Ok(found) => Ok(Head::Complete(found.head)),
        Err(ReadHeadError::TooLarge(_)) => Ok(Head::TooLarge),
        Err(error) => Err(error.into()),
    }
}

/// The parts of a request head the origins use.
#[derive(Debug, PartialEq, Eq)]
struct Request {
    /// The method, as sent (methods are case-sensitive).
    method: String,
    /// Header fields in order, names as sent, values trimmed.
    headers: Vec<(String, String)>,
}

impl Request {
    /// Parses a head read by [`read_head`]; `None` when it is not an HTTP/1.x request.
    ///
    /// Lenient where it costs nothing (bare `\n` line ends, any request target), strict
    /// where a field would otherwise be misread (a header line without a name or colon).
    fn parse(head: &[u8]) -> Option<Self> {
        let text = String::from_utf8_lossy(head);
        let mut lines = text.split('\n').map(|line| line.trim_end_matches('\r'));

        let mut request_line = lines.next()?.split(' ');
        let (method, target, version) = (
            request_line.next()?,
            request_line.next()?,
            request_line.next()?,
        );
        if request_line.next().is_some()
            || method.is_empty()
            || target.is_empty()
            || !version.starts_with("HTTP/1.")
        {
            return None;
        }

        let mut headers = Vec::new();
        for line in lines.take_while(|line| !line.is_empty()) {
            let (name, value) = line.split_once(':')?;
            if name.is_empty() || name.contains(|c: char| c.is_ascii_whitespace()) {
                return None;
            }
            headers.push((name.to_owned(), value.trim_matches([' ', '\t']).to_owned()));
        }
        Some(Self {
            method: method.to_owned(),
            headers,
        })
    }
}

/// Response statuses the origins send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// 200: the origin's answer.
    Ok,
    /// 400: the head was not an HTTP/1.x request.
    BadRequest,
    /// 405: only GET is served.
    MethodNotAllowed,
    /// 431: the head was longer than [`MAX_HEAD`].
    HeadTooLarge,
    /// 500: the answer could not be built.
    InternalError,
}

impl Status {
    /// The status line's code and reason phrase.
    fn line(self) -> &'static str {
        match self {
            Self::Ok => "200 OK",
            Self::BadRequest => "400 Bad Request",
            Self::MethodNotAllowed => "405 Method Not Allowed",
            Self::HeadTooLarge => "431 Request Header Fields Too Large",
            Self::InternalError => "500 Internal Server Error",
        }
    }
}

/// A complete response, before rendering.
#[derive(Debug)]
struct Reply {
    /// The status.
    status: Status,
    /// `Content-Type` value.
    content_type: &'static str,
    /// The body, sent exactly.
    body: Cow<'static, [u8]>,
}

impl Reply {
    /// A 200 with `body`.
    fn ok(content_type: &'static str, body: impl Into<Cow<'static, [u8]>>) -> Self {
        Self {
            status: Status::Ok,
            content_type,
            body: body.into(),
        }
    }

    /// An error status with its reason phrase as a plain-text body.
    fn error(status: Status) -> Self {
        Self {
            status,
            content_type: "text/plain",
            body: Cow::Owned(format!("{}\n", status.line()).into_bytes()),
        }
    }

    /// The response bytes: status line, headers, blank line, body.
    fn render(&self) -> Vec<u8> {
        let allow = if self.status == Status::MethodNotAllowed {
            "Allow: GET\r\n"
        } else {
            ""
        };
        let mut bytes = format!(
            "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
            self.status.line(),
            self.content_type,
            self.body.len(),
        )
        .into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::time::Duration;

    use rustls::RootCertStore;
    use rustls_pki_types::ServerName;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio_rustls::TlsConnector;

    use super::{Head, JudgeReply, MAX_HEAD, Request, read_head};
    use crate::lab::ca::LabCa;

    const BODY: &[u8] = b"canary body \x00\xff exact bytes\n";

    /// Binds a loopback listener and runs `serve` on it in the background.
    async fn spawn_origin<F, Fut>(serve: F) -> SocketAddr
    where
        F: FnOnce(TcpListener) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener));
        addr
    }

    /// Sends `request` over a new connection and reads until the server closes.
    async fn exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        response
    }

    /// Splits a response into status line, header fields and body, checking the framing.
    fn split_response(response: &[u8]) -> (String, Vec<(String, String)>, Vec<u8>) {
        let end = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = std::str::from_utf8(&response[..end]).unwrap();
        let body = response[end + 4..].to_vec();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().to_owned();
        let headers: Vec<(String, String)> = lines
            .map(|line| {
                let (name, value) = line.split_once(": ").unwrap();
                (name.to_owned(), value.to_owned())
            })
            .collect();
        let length = headers
            .iter()
            .find(|(name, _)| name == "Content-Length")
            .map(|(_, value)| value.parse::<usize>().unwrap())
            .unwrap();
        assert_eq!(length, body.len(), "Content-Length matches the body");
        (status, headers, body)
    }

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap()
    }

    #[tokio::test]
    async fn http_canary_answers_origin_form_with_the_exact_body() {
        let addr = spawn_origin(|l| super::serve_http_canary(l, BODY)).await;
        let response = exchange(
            addr,
            b"GET /canary HTTP/1.1\r\nHost: canary.lab.test\r\n\r\n",
        )
        .await;
        let (status, headers, body) = split_response(&response);
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(header(&headers, "Content-Type"), "text/plain");
        assert_eq!(header(&headers, "Connection"), "close");
        assert_eq!(body, BODY);
    }

    #[tokio::test]
    async fn http_canary_answers_absolute_form_with_the_exact_body() {
        let addr = spawn_origin(|l| super::serve_http_canary(l, BODY)).await;
        let request =
            b"GET http://canary.lab.test/canary HTTP/1.1\r\nHost: canary.lab.test\r\n\r\n";
        let (status, _, body) = split_response(&exchange(addr, request).await);
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(body, BODY);
    }

    #[tokio::test]
    async fn non_get_and_garbage_get_error_statuses() {
        let addr = spawn_origin(|l| super::serve_http_canary(l, BODY)).await;
        let (status, headers, body) =
            split_response(&exchange(addr, b"POST / HTTP/1.1\r\nHost: x\r\n\r\n").await);
        assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
        assert_eq!(header(&headers, "Allow"), "GET");
        assert_ne!(body, BODY);
        let (status, _, _) = split_response(&exchange(addr, b"\x16\x03\x01 hello\r\n\r\n").await);
        assert_eq!(status, "HTTP/1.1 400 Bad Request");
    }

    #[tokio::test]
    async fn judge_reports_peer_address_and_headers_in_order() {
        let addr = spawn_origin(super::serve_judge).await;
        let request = b"GET http://judge.lab.test/ HTTP/1.1\r\n\
            Host: judge.lab.test\r\n\
            x-custom-Probe:   token 42  \r\n\
            Accept: */*\r\n\
            Accept: text/plain\r\n\r\n";
        let (status, headers, body) = split_response(&exchange(addr, request).await);
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(header(&headers, "Content-Type"), "application/json");

        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "address": "127.0.0.1",
                "headers": [
                    ["Host", "judge.lab.test"],
                    ["x-custom-Probe", "token 42"],
                    ["Accept", "*/*"],
                    ["Accept", "text/plain"],
                ],
            })
        );
        let typed: JudgeReply = serde_json::from_slice(&body).unwrap();
        assert_eq!(typed.address, "127.0.0.1");
        assert_eq!(typed.headers.len(), 4);
    }

    #[tokio::test]
    async fn oversized_head_is_cut_off_and_the_server_keeps_serving() {
        let addr = spawn_origin(|l| super::serve_http_canary(l, BODY)).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let mut flood = b"GET / HTTP/1.1\r\nX-Flood: ".to_vec();
        flood.resize(usize::try_from(MAX_HEAD).unwrap() + 4096, b'a');
        // The server may stop reading and close while this is still being written.
        let _ = stream.write_all(&flood).await;
        let mut response = Vec::new();
        // Well within the connection deadline: the cut-off happens at the cap, not by timeout.
        let read = tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut response))
            .await
            .expect("the server cuts the head off at the cap, without waiting for the deadline");
        match read {
            Ok(_) => assert!(
                response.starts_with(b"HTTP/1.1 431 "),
                "{:?}",
                String::from_utf8_lossy(&response)
            ),
            // Closing with the rest of the flood unread resets the connection.
            Err(error) => assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset),
        }

        let (status, _, body) = split_response(&exchange(addr, b"GET / HTTP/1.1\r\n\r\n").await);
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(body, BODY);
    }

    #[tokio::test]
    async fn tls_origin_serves_clients_trusting_the_lab_ca() {
        let ca = LabCa::new("Lab Root", "proxy-audit lab").unwrap();
        let config = ca.server_config(&["canary.lab.test"]).unwrap();
        let addr = spawn_origin(|l| super::serve_tls_origin(l, config, BODY)).await;

        let mut roots = RootCertStore::empty();
        roots.add(ca.cert_der()).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = TlsConnector::from(Arc::new(client));
        let name = ServerName::try_from("canary.lab.test").unwrap();

        // The auditor's certificate check: handshake, then close without a request.
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut tls = connector.connect(name.clone(), tcp).await.unwrap();
        tls.shutdown().await.unwrap();
        drop(tls);

        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut tls = connector.connect(name, tcp).await.unwrap();
        tls.write_all(b"GET / HTTP/1.1\r\nHost: canary.lab.test\r\n\r\n")
            .await
            .unwrap();
        let mut response = Vec::new();
        tls.read_to_end(&mut response).await.unwrap();
        let (status, headers, body) = split_response(&response);
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(header(&headers, "Content-Type"), "text/html");
        assert_eq!(body, BODY);
    }

    #[tokio::test]
    async fn head_end_split_across_reads_is_found_and_trailing_bytes_dropped() {
        let mut split = (&b"GET / HTTP/1.1\r\nHost: x\r\n\r"[..]).chain(&b"\nbody"[..]);
        let head = read_head(&mut split).await.unwrap();
        assert_eq!(
            head,
            Head::Complete(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec())
        );
    }

    #[tokio::test]
    async fn head_reader_caps_and_reports_early_close() {
        let flood = vec![b'a'; usize::try_from(MAX_HEAD).unwrap() + 1];
        assert_eq!(read_head(&mut &flood[..]).await.unwrap(), Head::TooLarge);
        let error = read_head(&mut &b"GET / HTTP/1.1\r\n"[..])
            .await
            .unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn parse_rejects_what_it_cannot_read() {
        assert!(Request::parse(b"GET / HTTP/1.1\r\nNoColon\r\n\r\n").is_none());
        assert!(Request::parse(b"GET / HTTP/1.1\r\n: empty name\r\n\r\n").is_none());
        assert!(Request::parse(b"GET / HTTP/1.1\r\nBad Name: v\r\n\r\n").is_none());
        assert!(Request::parse(b"GET /\r\n\r\n").is_none());
        assert!(Request::parse(b"GET / SPDY/3\r\n\r\n").is_none());
        let request = Request::parse(b"GET / HTTP/1.0\nA: 1\n\n").unwrap();
        assert_eq!(request.method, "GET");
        assert_eq!(request.headers, vec![("A".to_owned(), "1".to_owned())]);
    }
}
