//! Connecting to a proxy and opening a tunnel through it.
//!
//! [`connect`] opens the TCP connection; [`open_tunnel`] adds the handshake of the proxy's
//! kind: SOCKS5 and SOCKS4/4a through tokio-socks (`socks`), HTTP CONNECT in clear for
//! `http` proxies and over TLS for `https` ones, written here (`connect`). Each phase has
//! one timeout of the caller's `step`: one around the TCP connect, one around the whole
//! handshake, so a tarpit or a proxy dripping a byte a second ends on time.
//!
//! The proxy may be hostile: every read is bounded in bytes, nothing here indexes or unwraps
//! what it sends, and every way it can fail is a [`DialError`]. What is sent is checked
//! before connecting (`Plan`, in this file), so no request that tokio-socks cannot encode
//! reaches it.
//!
//! This file holds the public API and the plan; the handshakes and helpers live in:
//!
//! - `socks`: SOCKS5 and SOCKS4/4a through tokio-socks, and what its errors mean;
//! - `connect`: HTTP CONNECT, TLS to `https` proxies, the response-head reader;
//! - `io`: the stream that replays bytes read past a head, and how I/O errors read.
//!
//! Also shared with [`crate::probe::http`], re-exported here: the response-head reader
//! (`read_head`), the stream that replays bytes read past a head (`Prefixed`), TLS to an
//! `https` proxy (`tls_to_proxy`), the `Proxy-Authorization` field (`proxy_authorization`)
//! and the I/O error helpers (`io_reason`, `is_transient`, `timed_out`).

mod connect;
mod io;
mod socks;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::timeout;

pub(crate) use self::connect::{HeadReadError, proxy_authorization, read_head, tls_to_proxy};
pub(crate) use self::io::{Prefixed, io_reason, is_transient, timed_out};
use crate::model::Code;
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
pub(crate) type BoxStream = Box<dyn ProxyStream>;

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
    pub(crate) fn transient(&self) -> bool {
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
        ProxyKind::Socks5 => socks::socks5(stream, plan).await,
        // Which of the two sends names is the caller's choice: a name target is SOCKS4a.
        ProxyKind::Socks4 | ProxyKind::Socks4a => socks::socks4(stream, plan).await,
        ProxyKind::Http => connect::http_connect(stream, plan).await,
        ProxyKind::Https => {
            let stream = tls_to_proxy(stream, plan.proxy).await?;
            connect::http_connect(stream, plan).await
        }
        ProxyKind::Mtproto => Err(mtproto_not_here()),
    }
}

/// Scripted proxies on the far end of a `duplex`, for the handshake tests of every file of
/// `dial`.
#[cfg(test)]
mod testing {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};

    use super::{BoxStream, Credentials, DialError, Plan, ProxyEndpoint, Target, handshake_within};
    use crate::proxy::ProxyKind;

    /// Long enough never to fire on a loaded machine; the timeout tests use their own.
    pub(super) const STEP: Duration = Duration::from_secs(10);

    pub(super) fn endpoint(kind: ProxyKind) -> ProxyEndpoint {
        ProxyEndpoint {
            kind,
            addr: "127.0.0.1:1080".parse().unwrap(),
            host: "proxy.test".into(),
            username: None,
            password: None,
        }
    }

    pub(super) fn with_login(kind: ProxyKind) -> ProxyEndpoint {
        ProxyEndpoint {
            username: Some("alice".into()),
            password: Some("secret".into()),
            ..endpoint(kind)
        }
    }

    pub(super) fn name(host: &str, port: u16) -> Target {
        Target::Name(host.into(), port)
    }

    pub(super) fn addr(text: &str) -> Target {
        Target::Addr(text.parse().unwrap())
    }

    /// Runs the handshake against a scripted peer; returns the result and the peer's end.
    pub(super) async fn against<F, Fut>(
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

    pub(super) async fn expect_bytes(stream: &mut DuplexStream, expected: &[u8]) {
        let mut got = vec![0; expected.len()];
        stream.read_exact(&mut got).await.unwrap();
        assert_eq!(got, expected);
    }

    /// Reads up to and including the blank line ending a request head.
    pub(super) async fn request_head(stream: &mut DuplexStream) -> String {
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(stream.read_u8().await.unwrap());
        }
        String::from_utf8(head).unwrap()
    }

    /// Checks the tunnel carries bytes both ways.
    pub(super) async fn assert_carries(tunnel: &mut BoxStream, server: &mut DuplexStream) {
        server.write_all(b"from target").await.unwrap();
        let mut got = [0; 11];
        tunnel.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"from target");
        tunnel.write_all(b"to target").await.unwrap();
        expect_bytes(server, b"to target").await;
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    use super::testing::{STEP, addr, endpoint, name, with_login};
    use super::*;

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
}
