//! Connecting to a proxy and opening a tunnel through it.
//!
//! [`connect`] opens the TCP connection; [`open_tunnel`] adds the handshake of the proxy's
//! kind: SOCKS5 and SOCKS4/4a through tokio-socks, HTTP CONNECT (in clear for `http`
//! proxies, over TLS for `https` ones) written here. Each phase has one timeout of the
//! caller's `step`: one around the TCP connect, one around the whole handshake, so a tarpit
//! or a proxy dripping a byte a second ends on time.
//!
//! The proxy may be hostile: every read is bounded in bytes, nothing here indexes or unwraps
//! what it sends, and every way it can fail is a [`DialError`]. What is sent is checked
//! before connecting (`Plan`), so no request that tokio-socks cannot encode reaches it.
//!
//! Also shared with [`crate::probe::http`]: the response-head reader (`read_head`), the
//! stream that replays bytes read past a head (`Prefixed`), TLS to an `https` proxy
//! (`tls_to_proxy`) and the `Proxy-Authorization` field (`proxy_authorization`).

use std::borrow::Cow;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use base64::Engine as _;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_socks::TargetAddr;
use tokio_socks::tcp::{Socks4Stream, Socks5Stream};

use crate::model::Code;
use crate::probe::tls::AcceptAnyCertificate;
use crate::proto::http_head::{HeadError, MAX_HEAD, ResponseHead, parse_response_head};
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
    /// The proxy did not speak its protocol (garbage, a close, a reply it may not send…).
    #[error("handshake failed: {0}")]
    Handshake(String),
    /// The handshake was cut off for a reason that says nothing about the proxy's
    /// behaviour: a timeout, a reset. A step failing this way is worth one retry.
    #[error("handshake failed: {0}")]
    Interrupted(String),
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
            Self::AuthRejected => Code::CredentialsRejected,
            _ => Code::HandshakeFailed,
        }
    }

    /// True when the failure says nothing about the proxy's behaviour (refused or timed-out
    /// connect, a handshake cut off by a timeout or a reset): on a step after liveness, where
    /// the proxy has just worked, such a failure is retried once and then inconclusive.
    pub fn transient(&self) -> bool {
        matches!(self, Self::Unreachable(_) | Self::Interrupted(_))
    }
}

/// Opens a TCP connection to the proxy.
pub async fn connect(
    proxy: &ProxyEndpoint,
    step: Duration,
) -> Result<(TcpStream, Duration), DialError> {
    let started = Instant::now();
    let stream = match timeout(step, TcpStream::connect(proxy.addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => return Err(DialError::Unreachable(io_reason(&error))),
        Err(_) => return Err(DialError::Unreachable(timed_out(step))),
    };
    stream
        .set_nodelay(true)
        .map_err(|error| DialError::Unreachable(io_reason(&error)))?;
    Ok((stream, started.elapsed()))
}

/// Opens a tunnel through the proxy to `target`.
pub async fn open_tunnel(
    proxy: &ProxyEndpoint,
    credentials: Credentials<'_>,
    target: &Target,
    step: Duration,
) -> Result<Tunnel, DialError> {
    let plan = Plan::new(proxy, credentials, target)?;
    let (stream, connect) = connect(proxy, step).await?;
    let started = Instant::now();
    let stream = handshake_within(stream, &plan, step).await?;
    Ok(Tunnel {
        stream,
        connect,
        handshake: started.elapsed(),
    })
}

/// Runs the handshake with `proxy` over `stream`, an already open connection to it, without
/// a deadline: what [`open_tunnel`] does once connected.
///
/// Public so the fuzz targets can play the proxy's side from memory.
pub async fn handshake_over<S>(
    stream: S,
    proxy: &ProxyEndpoint,
    credentials: Credentials<'_>,
    target: &Target,
) -> Result<BoxStream, DialError>
where
    S: ProxyStream + 'static,
{
    let plan = Plan::new(proxy, credentials, target)?;
    handshake(stream, &plan).await
}

/// A username and password to present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Auth<'a> {
    /// Username.
    pub(crate) username: &'a str,
    /// Password (empty when the entry lists a username alone).
    pub(crate) password: &'a str,
}

impl<'a> Credentials<'a> {
    /// The pair to present to `proxy`, if any.
    pub(crate) fn resolve<'p>(self, proxy: &'p ProxyEndpoint) -> Option<Auth<'p>>
    where
        'a: 'p,
    {
        match self {
            Self::AsListed => proxy.username.as_deref().map(|username| Auth {
                username,
                password: proxy.password.as_deref().unwrap_or_default(),
            }),
            Self::Override { username, password } => Some(Auth { username, password }),
        }
    }
}

/// Longest name a SOCKS5 or SOCKS4a request can carry (a one-byte length in SOCKS5).
const MAX_NAME: usize = 255;

/// Room for the user id plus the name in a SOCKS4a request: tokio-socks builds it in 513
/// bytes, 10 of which are the fixed fields and terminators.
const SOCKS4_VARIABLE_ROOM: usize = 503;

/// A handshake checked before any byte is sent: the proxy, what to present, where to go.
#[derive(Debug, Clone, Copy)]
struct Plan<'a> {
    /// The proxy (its kind picks the handshake; its host names an `https` proxy).
    proxy: &'a ProxyEndpoint,
    /// Credentials to present, if any.
    auth: Option<Auth<'a>>,
    /// Where the tunnel leads.
    target: &'a Target,
}

impl<'a> Plan<'a> {
    /// Checks that the request can be sent to a proxy of this kind.
    fn new(
        proxy: &'a ProxyEndpoint,
        credentials: Credentials<'a>,
        target: &'a Target,
    ) -> Result<Self, DialError> {
        if proxy.kind == ProxyKind::Mtproto {
            return Err(mtproto_not_here());
        }
        if let Target::Name(name, _) = target {
            check_name(name)?;
        }
        let auth = credentials.resolve(proxy);
        let unsendable = |why: &str| Err(DialError::Handshake(why.to_owned()));
        match proxy.kind {
            ProxyKind::Socks5 => {
                if let Some(auth) = auth {
                    let fits = |field: &str| (1..=255).contains(&field.len());
                    if !fits(auth.username) || !fits(auth.password) {
                        return unsendable(
                            "SOCKS5 username and password must be 1 to 255 bytes each",
                        );
                    }
                }
            }
            ProxyKind::Socks4 | ProxyKind::Socks4a => {
                let user_id = auth.map_or(0, |auth| auth.username.len());
                let name = match target {
                    Target::Name(name, _) => name.len(),
                    Target::Addr(SocketAddr::V4(_)) => 0,
                    Target::Addr(SocketAddr::V6(_)) => {
                        return Err(DialError::TargetFailed(
                            "SOCKS4 cannot carry an IPv6 address".into(),
                        ));
                    }
                };
                if user_id > 255 || user_id + name > SOCKS4_VARIABLE_ROOM {
                    return unsendable("SOCKS4 user id and target name are too long");
                }
            }
            ProxyKind::Http | ProxyKind::Https | ProxyKind::Mtproto => {}
        }
        Ok(Self {
            proxy,
            auth,
            target,
        })
    }
}

/// The error for MTProto entries, which have their own checks.
fn mtproto_not_here() -> DialError {
    DialError::Handshake("MTProto is probed by the MTProto checks".into())
}

/// Refuses a target name that cannot go in a SOCKS request or a CONNECT line.
fn check_name(name: &str) -> Result<(), DialError> {
    let printable = name
        .bytes()
        .all(|byte| !byte.is_ascii_control() && byte != b' ');
    if name.is_empty() || name.len() > MAX_NAME || !printable {
        return Err(DialError::Handshake(format!(
            "target name {name:?} cannot be sent"
        )));
    }
    Ok(())
}

/// Runs the handshake of `plan` over `stream`, all of it within `step`.
async fn handshake_within<S>(
    stream: S,
    plan: &Plan<'_>,
    step: Duration,
) -> Result<BoxStream, DialError>
where
    S: ProxyStream + 'static,
{
    timeout(step, handshake(stream, plan))
        .await
        .unwrap_or_else(|_| Err(DialError::Interrupted(timed_out(step))))
}

/// Runs the handshake of `plan` over `stream`, without a deadline.
async fn handshake<S>(stream: S, plan: &Plan<'_>) -> Result<BoxStream, DialError>
where
    S: ProxyStream + 'static,
{
    match plan.proxy.kind {
        ProxyKind::Socks5 => socks5(stream, plan).await,
        // Which of the two sends names is the caller's choice: a name target is SOCKS4a.
        ProxyKind::Socks4 | ProxyKind::Socks4a => socks4(stream, plan).await,
        ProxyKind::Http => http_connect(stream, plan).await,
        ProxyKind::Https => {
            let stream = tls_to_proxy(stream, plan.proxy).await?;
            http_connect(stream, plan).await
        }
        ProxyKind::Mtproto => Err(mtproto_not_here()),
    }
}

/// The target as tokio-socks takes it: a name is always sent as a name (remote resolution).
fn socks_target(target: &Target) -> TargetAddr<'_> {
    match target {
        Target::Name(name, port) => TargetAddr::Domain(Cow::Borrowed(name.as_str()), *port),
        Target::Addr(addr) => TargetAddr::Ip(*addr),
    }
}

/// SOCKS version, to name reply codes in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Socks {
    /// SOCKS5 (RFC 1928).
    V5,
    /// SOCKS4 and SOCKS4a.
    V4,
}

/// The SOCKS5 handshake (with username/password when credentials apply).
async fn socks5<S>(stream: S, plan: &Plan<'_>) -> Result<BoxStream, DialError>
where
    S: ProxyStream + 'static,
{
    let target = socks_target(plan.target);
    let result = match plan.auth {
        Some(auth) => {
            Socks5Stream::connect_with_password_and_socket(
                stream,
                target,
                auth.username,
                auth.password,
            )
            .await
        }
        None => Socks5Stream::connect_with_socket(stream, target).await,
    };
    match result {
        Ok(tunnel) => Ok(Box::new(tunnel.into_inner())),
        Err(error) => Err(socks_error(error, Socks::V5)),
    }
}

/// The SOCKS4 handshake; SOCKS4a when the target is a name. The username is the user id.
async fn socks4<S>(stream: S, plan: &Plan<'_>) -> Result<BoxStream, DialError>
where
    S: ProxyStream + 'static,
{
    let target = socks_target(plan.target);
    let user_id = plan
        .auth
        .map(|auth| auth.username)
        .filter(|id| !id.is_empty());
    let result = match user_id {
        Some(user_id) => {
            Socks4Stream::connect_with_userid_and_socket(stream, target, user_id).await
        }
        None => Socks4Stream::connect_with_socket(stream, target).await,
    };
    match result {
        Ok(tunnel) => Ok(Box::new(tunnel.into_inner())),
        Err(error) => Err(socks_error(error, Socks::V4)),
    }
}

/// Maps a tokio-socks error: refusals of credentials, proper replies refusing the target,
/// and everything else (I/O, bytes that are not the protocol) as a failed handshake.
fn socks_error(error: tokio_socks::Error, version: Socks) -> DialError {
    use tokio_socks::Error as E;
    let reply =
        |code: u8, meaning: &str| DialError::TargetFailed(format!("reply {code:#04x} {meaning}"));
    match error {
        // A proxy that wants credentials refuses the ones offered, or their absence.
        E::PasswordAuthFailure(_)
        | E::NoAcceptableAuthMethods
        | E::AuthorizationRequired
        | E::IdentdAuthFailure
        | E::InvalidUserIdAuthFailure => DialError::AuthRejected,
        E::GeneralSocksServerFailure => match version {
            Socks::V5 => reply(0x01, "general failure"),
            Socks::V4 => reply(0x5b, "rejected or failed"),
        },
        E::ConnectionNotAllowedByRuleset => reply(0x02, "not allowed by ruleset"),
        E::NetworkUnreachable => reply(0x03, "network unreachable"),
        E::HostUnreachable => reply(0x04, "host unreachable"),
        E::ConnectionRefused => reply(0x05, "connection refused"),
        E::TtlExpired => reply(0x06, "TTL expired"),
        E::CommandNotSupported => reply(0x07, "command not supported"),
        E::AddressTypeNotSupported => reply(0x08, "address type not supported"),
        E::Io(error) => io_failure(&error),
        E::InvalidResponseVersion => DialError::Handshake(match version {
            Socks::V5 => "not a SOCKS5 reply (version byte)".into(),
            Socks::V4 => "not a SOCKS4 reply (version byte)".into(),
        }),
        // tokio-socks reports a SOCKS5 reply code above 0x08 this way too.
        E::UnknownAuthMethod => {
            DialError::Handshake("auth method not offered, or an unknown reply code".into())
        }
        E::UnknownError => DialError::Handshake("unknown SOCKS4 reply code".into()),
        other => DialError::Handshake(other.to_string()),
    }
}

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
async fn http_connect<S>(mut stream: S, plan: &Plan<'_>) -> Result<BoxStream, DialError>
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

/// Bytes asked of the stream per read while looking for the end of a head.
const HEAD_READ: usize = 4096;

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

/// Reads one response head (skipping interim 1xx ones), at most [`MAX_HEAD`] bytes each.
///
/// The head is parsed again only when a read brings a line end (and after the first read,
/// to refuse garbage early), so a peer dripping bytes costs a bounded number of parses.
pub(crate) async fn read_head<S>(stream: &mut S) -> Result<HeadRead, HeadReadError>
where
    S: AsyncRead + Unpin,
{
    let mut buf: Vec<u8> = Vec::with_capacity(HEAD_READ);
    let mut first_byte = None;
    let mut interim = 0;
    let mut parse_now = false;
    loop {
        if parse_now {
            if let Some((head, len)) = parse_response_head(&buf)? {
                let rest = buf.split_off(len.min(buf.len()));
                if !head.is_interim() {
                    return Ok(HeadRead {
                        head,
                        rest,
                        first_byte: first_byte.unwrap_or_else(Instant::now),
                    });
                }
                interim += 1;
                if interim > MAX_INTERIM {
                    return Err(HeadReadError::TooManyInterim);
                }
                buf = rest;
                parse_now = !buf.is_empty();
                continue;
            }
        }
        // The parser refuses a partial head of MAX_HEAD bytes, so there is room here.
        let room = MAX_HEAD.saturating_sub(buf.len());
        let before = buf.len();
        buf.reserve(room.min(HEAD_READ));
        let limit = u64::try_from(room.min(HEAD_READ)).unwrap_or(u64::MAX);
        let read = (&mut *stream).take(limit).read_buf(&mut buf).await?;
        if read == 0 {
            return Err(if first_byte.is_none() {
                HeadReadError::ClosedBeforeResponse
            } else {
                HeadReadError::ClosedInHead
            });
        }
        first_byte.get_or_insert_with(Instant::now);
        let fresh = buf.get(before..).unwrap_or_default();
        parse_now = before == 0 || buf.len() >= MAX_HEAD || memchr::memchr(b'\n', fresh).is_some();
    }
}

/// A stream that yields `prefix` (bytes read past a response head) before reading `inner`;
/// writes go straight to `inner`.
#[derive(Debug)]
pub(crate) struct Prefixed<S> {
    /// Bytes to yield first.
    prefix: Vec<u8>,
    /// How many of them were yielded.
    consumed: usize,
    /// The stream itself.
    inner: S,
}

impl<S> Prefixed<S> {
    /// Yields `prefix`, then reads `inner`.
    pub(crate) fn new(prefix: Vec<u8>, inner: S) -> Self {
        Self {
            prefix,
            consumed: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let pending = this.prefix.get(this.consumed..).unwrap_or_default();
        if pending.is_empty() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let count = pending.len().min(buf.remaining());
        buf.put_slice(pending.get(..count).unwrap_or_default());
        this.consumed += count;
        if this.consumed >= this.prefix.len() {
            this.prefix = Vec::new();
            this.consumed = 0;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
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

/// An I/O error during a handshake: [`DialError::Interrupted`] when it is transient
/// ([`is_transient`]), else [`DialError::Handshake`].
fn io_failure(error: &io::Error) -> DialError {
    if is_transient(error.kind()) {
        DialError::Interrupted(io_reason(error))
    } else {
        DialError::Handshake(io_reason(error))
    }
}

/// True for the I/O failures that say nothing about what the peer meant: a timeout, a
/// reset, an abort, a refusal, a write into a connection already gone. A clean close (end
/// of stream) is not one of them: closing is something a server decides to do.
pub(crate) fn is_transient(kind: io::ErrorKind) -> bool {
    use io::ErrorKind as K;
    matches!(
        kind,
        K::TimedOut
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::ConnectionRefused
            | K::BrokenPipe
    )
}

/// A short reason for an I/O error (`connection refused`, `connection closed`…).
pub(crate) fn io_reason(error: &io::Error) -> String {
    use io::ErrorKind as K;
    let reason = match error.kind() {
        K::ConnectionRefused => "connection refused",
        K::ConnectionReset => "connection reset",
        K::ConnectionAborted => "connection aborted",
        K::BrokenPipe => "connection closed while sending",
        K::UnexpectedEof => "connection closed",
        K::NetworkUnreachable => "network unreachable",
        K::HostUnreachable => "host unreachable",
        K::TimedOut => "timed out",
        _ => return error.to_string(),
    };
    reason.to_owned()
}

/// `timed out after 2s`.
pub(crate) fn timed_out(step: Duration) -> String {
    format!("timed out after {step:?}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};

    /// Long enough never to fire on a loaded machine; the timeout tests use their own.
    const STEP: Duration = Duration::from_secs(10);

    fn endpoint(kind: ProxyKind) -> ProxyEndpoint {
        ProxyEndpoint {
            kind,
            addr: "127.0.0.1:1080".parse().unwrap(),
            host: "proxy.test".into(),
            username: None,
            password: None,
        }
    }

    fn with_login(kind: ProxyKind) -> ProxyEndpoint {
        ProxyEndpoint {
            username: Some("alice".into()),
            password: Some("secret".into()),
            ..endpoint(kind)
        }
    }

    fn name(host: &str, port: u16) -> Target {
        Target::Name(host.into(), port)
    }

    fn addr(text: &str) -> Target {
        Target::Addr(text.parse().unwrap())
    }

    /// Runs the handshake against a scripted peer; returns the result and the peer's end.
    async fn against<F, Fut>(
        proxy: &ProxyEndpoint,
        credentials: Credentials<'_>,
        target: &Target,
        peer: F,
    ) -> (Result<BoxStream, DialError>, DuplexStream)
    where
        F: FnOnce(DuplexStream) -> Fut,
        Fut: Future<Output = DuplexStream>,
    {
        let plan = Plan::new(proxy, credentials, target).unwrap();
        let (client, server) = duplex(4096);
        tokio::join!(handshake_within(client, &plan, STEP), peer(server))
    }

    async fn expect_bytes(stream: &mut DuplexStream, expected: &[u8]) {
        let mut got = vec![0; expected.len()];
        stream.read_exact(&mut got).await.unwrap();
        assert_eq!(got, expected);
    }

    /// Reads up to and including the blank line ending a request head.
    async fn request_head(stream: &mut DuplexStream) -> String {
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(stream.read_u8().await.unwrap());
        }
        String::from_utf8(head).unwrap()
    }

    /// Checks the tunnel carries bytes both ways.
    async fn assert_carries(tunnel: &mut BoxStream, server: &mut DuplexStream) {
        server.write_all(b"from target").await.unwrap();
        let mut got = [0; 11];
        tunnel.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"from target");
        tunnel.write_all(b"to target").await.unwrap();
        expect_bytes(server, b"to target").await;
    }

    #[tokio::test]
    async fn socks5_sends_a_name_for_remote_resolution() {
        let (tunnel, mut server) = against(
            &endpoint(ProxyKind::Socks5),
            Credentials::AsListed,
            &name("example.org", 80),
            |mut server| async move {
                expect_bytes(&mut server, &[5, 1, 0]).await;
                server.write_all(&[5, 0]).await.unwrap();
                let mut request = vec![5, 1, 0, 3, 11];
                request.extend_from_slice(b"example.org");
                request.extend_from_slice(&[0, 80]);
                expect_bytes(&mut server, &request).await;
                server
                    .write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90])
                    .await
                    .unwrap();
                server
            },
        )
        .await;
        assert_carries(&mut tunnel.unwrap(), &mut server).await;
    }

    #[tokio::test]
    async fn socks5_sends_an_ipv6_address_as_such() {
        let (tunnel, _server) = against(
            &endpoint(ProxyKind::Socks5),
            Credentials::AsListed,
            &addr("[::1]:443"),
            |mut server| async move {
                expect_bytes(&mut server, &[5, 1, 0]).await;
                server.write_all(&[5, 0]).await.unwrap();
                let mut request = vec![5, 1, 0, 4];
                request.extend_from_slice(&[0; 15]);
                request.extend_from_slice(&[1, 1, 0xbb]);
                expect_bytes(&mut server, &request).await;
                server
                    .write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0])
                    .await
                    .unwrap();
                server
            },
        )
        .await;
        assert!(tunnel.is_ok());
    }

    #[tokio::test]
    async fn socks5_refused_password_is_auth_rejected() {
        let (tunnel, _server) = against(
            &with_login(ProxyKind::Socks5),
            Credentials::Override {
                username: "bob",
                password: "wrong",
            },
            &name("example.org", 80),
            |mut server| async move {
                expect_bytes(&mut server, &[5, 2, 0, 2]).await;
                server.write_all(&[5, 2]).await.unwrap();
                expect_bytes(&mut server, b"\x01\x03bob\x05wrong").await;
                server.write_all(&[1, 1]).await.unwrap();
                server
            },
        )
        .await;
        assert_eq!(tunnel.err(), Some(DialError::AuthRejected));
    }

    #[tokio::test]
    async fn socks5_without_acceptable_method_is_auth_rejected() {
        let (tunnel, _server) = against(
            &endpoint(ProxyKind::Socks5),
            Credentials::AsListed,
            &name("example.org", 80),
            |mut server| async move {
                expect_bytes(&mut server, &[5, 1, 0]).await;
                server.write_all(&[5, 0xff]).await.unwrap();
                server
            },
        )
        .await;
        assert_eq!(tunnel.err(), Some(DialError::AuthRejected));
    }

    #[tokio::test]
    async fn socks5_failure_reply_is_target_failed() {
        let (tunnel, _server) = against(
            &with_login(ProxyKind::Socks5),
            Credentials::AsListed,
            &name("example.org", 80),
            |mut server| async move {
                expect_bytes(&mut server, &[5, 2, 0, 2]).await;
                server.write_all(&[5, 2]).await.unwrap();
                expect_bytes(&mut server, b"\x01\x05alice\x06secret").await;
                server.write_all(&[1, 0]).await.unwrap();
                let mut request = [0; 18];
                server.read_exact(&mut request).await.unwrap();
                server
                    .write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0])
                    .await
                    .unwrap();
                server
            },
        )
        .await;
        assert_eq!(
            tunnel.err(),
            Some(DialError::TargetFailed(
                "reply 0x05 connection refused".into()
            ))
        );
    }

    #[tokio::test]
    async fn socks5_garbage_and_eof_are_handshake_failures() {
        let (tunnel, _server) = against(
            &endpoint(ProxyKind::Socks5),
            Credentials::AsListed,
            &name("example.org", 80),
            |mut server| async move {
                expect_bytes(&mut server, &[5, 1, 0]).await;
                server
                    .write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                    .await
                    .unwrap();
                server
            },
        )
        .await;
        assert!(matches!(tunnel.err(), Some(DialError::Handshake(_))));

        let (tunnel, _server) = against(
            &endpoint(ProxyKind::Socks5),
            Credentials::AsListed,
            &name("example.org", 80),
            |mut server| async move {
                expect_bytes(&mut server, &[5, 1, 0]).await;
                server.shutdown().await.unwrap();
                server
            },
        )
        .await;
        assert_eq!(
            tunnel.err(),
            Some(DialError::Handshake("connection closed".into()))
        );
    }

    #[tokio::test]
    async fn socks4a_sends_user_id_and_name() {
        let (tunnel, mut server) = against(
            &with_login(ProxyKind::Socks4),
            Credentials::AsListed,
            &name("example.org", 80),
            |mut server| async move {
                expect_bytes(
                    &mut server,
                    b"\x04\x01\x00\x50\x00\x00\x00\x01alice\x00example.org\x00",
                )
                .await;
                server
                    .write_all(&[0, 0x5a, 0, 0, 0, 0, 0, 0])
                    .await
                    .unwrap();
                server
            },
        )
        .await;
        assert_carries(&mut tunnel.unwrap(), &mut server).await;
    }

    #[tokio::test]
    async fn socks4_rejection_is_target_failed() {
        let (tunnel, _server) = against(
            &endpoint(ProxyKind::Socks4),
            Credentials::AsListed,
            &addr("127.0.0.1:8080"),
            |mut server| async move {
                expect_bytes(&mut server, &[4, 1, 0x1f, 0x90, 127, 0, 0, 1, 0]).await;
                server
                    .write_all(&[0, 0x5b, 0, 0, 0, 0, 0, 0])
                    .await
                    .unwrap();
                server
            },
        )
        .await;
        assert_eq!(
            tunnel.err(),
            Some(DialError::TargetFailed(
                "reply 0x5b rejected or failed".into()
            ))
        );
    }

    #[test]
    fn plan_refuses_what_cannot_be_sent() {
        let target = name("example.org", 80);
        let plan = |proxy: &ProxyEndpoint, target: &Target| {
            Plan::new(proxy, Credentials::AsListed, target).map(|_| ())
        };
        assert_eq!(
            plan(&endpoint(ProxyKind::Mtproto), &target),
            Err(DialError::Handshake(
                "MTProto is probed by the MTProto checks".into()
            ))
        );
        assert!(matches!(
            plan(&endpoint(ProxyKind::Socks4), &addr("[::1]:80")),
            Err(DialError::TargetFailed(_))
        ));
        // RFC 1929 has no empty password.
        let no_password = ProxyEndpoint {
            password: None,
            ..with_login(ProxyKind::Socks5)
        };
        assert!(matches!(
            plan(&no_password, &target),
            Err(DialError::Handshake(_))
        ));
        // Longer than tokio-socks' SOCKS4a buffer (it would panic).
        let long_user = ProxyEndpoint {
            username: Some("u".repeat(255)),
            ..endpoint(ProxyKind::Socks4)
        };
        assert!(plan(&long_user, &name(&"a".repeat(248), 80)).is_ok());
        assert!(plan(&long_user, &name(&"a".repeat(249), 80)).is_err());
        for bad in ["", "a b", "a\r\nX: y", &"a".repeat(256)] {
            assert!(
                plan(&endpoint(ProxyKind::Http), &name(bad, 80)).is_err(),
                "{bad:?}"
            );
        }
        assert!(plan(&endpoint(ProxyKind::Http), &addr("[::1]:80")).is_ok());
    }

    #[test]
    fn credentials_resolve_against_the_entry() {
        let listed = with_login(ProxyKind::Http);
        let pair =
            |auth: Option<Auth<'_>>| auth.map(|a| (a.username.to_owned(), a.password.to_owned()));
        assert_eq!(
            pair(Credentials::AsListed.resolve(&endpoint(ProxyKind::Http))),
            None
        );
        assert_eq!(
            pair(Credentials::AsListed.resolve(&listed)),
            Some(("alice".into(), "secret".into()))
        );
        let user_only = ProxyEndpoint {
            password: None,
            ..listed.clone()
        };
        assert_eq!(
            pair(Credentials::AsListed.resolve(&user_only)),
            Some(("alice".into(), String::new()))
        );
        let wrong = Credentials::Override {
            username: "x",
            password: "y",
        };
        assert_eq!(pair(wrong.resolve(&listed)), Some(("x".into(), "y".into())));
    }

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
    async fn tarpit_ends_at_the_step() {
        let target = name("example.org", 443);
        for kind in [ProxyKind::Http, ProxyKind::Socks5, ProxyKind::Https] {
            let proxy = endpoint(kind);
            let plan = Plan::new(&proxy, Credentials::AsListed, &target).unwrap();
            // The peer's end stays open and silent.
            let (client, _server) = duplex(4096);
            let step = Duration::from_millis(50);
            let result = handshake_within(client, &plan, step).await;
            assert_eq!(
                result.err(),
                Some(DialError::Interrupted("timed out after 50ms".into())),
                "{kind}"
            );
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
    async fn connect_reports_refusal() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closed = ProxyEndpoint {
            addr: listener.local_addr().unwrap(),
            ..endpoint(ProxyKind::Socks5)
        };
        drop(listener);
        assert_eq!(
            connect(&closed, STEP).await.err(),
            Some(DialError::Unreachable("connection refused".into()))
        );
        // MTProto is refused before any connection is tried.
        let mtproto = ProxyEndpoint {
            kind: ProxyKind::Mtproto,
            ..closed
        };
        let result = open_tunnel(&mtproto, Credentials::AsListed, &name("a.test", 1), STEP).await;
        assert!(matches!(result.err(), Some(DialError::Handshake(_))));
    }

    #[tokio::test]
    async fn connect_and_open_tunnel_over_tcp() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = ProxyEndpoint {
            addr: listener.local_addr().unwrap(),
            ..endpoint(ProxyKind::Http)
        };
        let peer = async {
            let (mut server, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                head.push(server.read_u8().await.unwrap());
            }
            server.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
            server
        };
        let target = name("example.org", 443);
        let (tunnel, _server) = tokio::join!(
            open_tunnel(&proxy, Credentials::AsListed, &target, STEP),
            peer
        );
        let tunnel = tunnel.unwrap();
        assert!(tunnel.connect < STEP && tunnel.handshake < STEP);
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

    #[tokio::test]
    async fn prefixed_yields_the_prefix_first() {
        let mut stream = Prefixed::new(b"abc".to_vec(), &b"def"[..]);
        let mut two = [0; 2];
        stream.read_exact(&mut two).await.unwrap();
        assert_eq!(&two, b"ab");
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"cdef");
    }
}
