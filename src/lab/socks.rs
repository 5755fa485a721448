//! Lab SOCKS servers: SOCKS5 (RFC 1928, with RFC 1929 username/password) honest or with a
//! malicious behaviour, and an honest SOCKS4/SOCKS4a server.
//!
//! Written by hand on purpose: no maintained crate fits. The crate's own SOCKS dependency
//! (tokio-socks) is a client, and server crates are built to behave correctly, while the lab
//! must misbehave on purpose at exact points of the handshake (accept any password, lie about
//! a name, hand the tunnel to an interceptor). Every read is bounded in size by the protocol
//! (fixed fields, and length-prefixed or NUL-terminated ones of at most 255 bytes) and in time
//! (5 s per step); client bytes never cause a panic, only a refusal or a closed connection.
//! Targets are resolved by the `Router`, so the servers reach loopback only.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use super::intercept::Interceptor;
use super::route::{Router, dial, serve_sessions, within};

/// SOCKS protocol version 5.
const SOCKS5: u8 = 5;
/// SOCKS protocol version 4.
const SOCKS4: u8 = 4;
/// Method: no authentication required.
const NO_AUTH: u8 = 0x00;
/// Method: username/password (RFC 1929).
const USER_PASS: u8 = 0x02;
/// Method reply: none of the offered methods is acceptable.
const NO_ACCEPTABLE: u8 = 0xFF;
/// Version of the username/password subnegotiation.
const USER_PASS_VERSION: u8 = 1;
/// Username/password status: accepted.
const USER_PASS_ACCEPTED: u8 = 0x00;
/// Username/password status: refused (the client must close).
const USER_PASS_REFUSED: u8 = 0x01;
/// The CONNECT command, in both SOCKS versions.
const CONNECT: u8 = 1;
/// SOCKS5 address type: IPv4.
const ATYP_IPV4: u8 = 1;
/// SOCKS5 address type: domain name.
const ATYP_DOMAIN: u8 = 3;
/// SOCKS5 address type: IPv6.
const ATYP_IPV6: u8 = 4;
/// SOCKS4 reply: request granted.
const SOCKS4_GRANTED: u8 = 0x5A;
/// SOCKS4 reply: request rejected or failed.
const SOCKS4_REJECTED: u8 = 0x5B;
/// Longest SOCKS4 user id or SOCKS4a domain accepted, without its NUL.
const MAX_SOCKS4_FIELD: usize = 255;
/// The bound address sent with SOCKS5 failure replies.
const UNSPECIFIED: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);

/// How a lab SOCKS5 server behaves.
pub(crate) enum Socks5Behaviour {
    /// An honest open proxy: no authentication (method 0x00) only.
    Honest,
    /// An honest proxy requiring RFC 1929 username/password (method 0x02); wrong credentials
    /// get status 0x01 and the connection closed.
    Auth {
        /// The username it accepts.
        username: String,
        /// The password it accepts.
        password: String,
    },
    /// A credential harvester: asks for a username and password like [`Self::Auth`], then
    /// accepts any pair (the lab lists it with one, as a harvester shares its links).
    AnyPassword,
    /// An honest no-auth handshake, then the tunnel goes through the interceptor, which
    /// terminates TLS with certificates of its own.
    Intercept(Arc<Interceptor>),
    /// An honest no-auth proxy, except that it "resolves" one name to the wrong place.
    LyingDns {
        /// The name it lies about (matched case-insensitively, domain targets only).
        name: String,
        /// Where it sends that name instead, whatever port was asked for.
        to: SocketAddr,
    },
    /// An honest no-auth proxy, except that every connection to one port, by name or by
    /// address, goes somewhere else (the hostile lab sends TLS to a server with a
    /// 1,000-certificate chain this way).
    RedirectPort {
        /// The destination port it redirects.
        port: u16,
        /// Where those connections go instead.
        to: SocketAddr,
    },
    /// An honest no-auth proxy that resets every tunnel whose first byte opens a TLS
    /// record, as a middlebox blocking HTTPS does: plain requests work, HTTPS never does.
    BreakTls,
}

impl Socks5Behaviour {
    /// The authentication method the server insists on.
    fn method(&self) -> u8 {
        match self {
            Self::Auth { .. } | Self::AnyPassword => USER_PASS,
            Self::Honest
            | Self::Intercept(_)
            | Self::LyingDns { .. }
            | Self::RedirectPort { .. }
            | Self::BreakTls => NO_AUTH,
        }
    }

    /// Whether the username/password subnegotiation succeeds with these credentials.
    fn accepts(&self, username: &[u8], password: &[u8]) -> bool {
        match self {
            Self::Auth {
                username: expected_user,
                password: expected_password,
            } => username == expected_user.as_bytes() && password == expected_password.as_bytes(),
            Self::AnyPassword => true,
            Self::Honest
            | Self::Intercept(_)
            | Self::LyingDns { .. }
            | Self::RedirectPort { .. }
            | Self::BreakTls => false,
        }
    }

    /// Where a lying server sends the domain `requested`, when it lies about it.
    fn lie_about(&self, requested: &str) -> Option<SocketAddr> {
        match self {
            Self::LyingDns { name, to } if requested.eq_ignore_ascii_case(name) => Some(*to),
            _ => None,
        }
    }

    /// Where a redirecting server sends connections to `port`, when it redirects them.
    fn redirect(&self, port: u16) -> Option<SocketAddr> {
        match self {
            Self::RedirectPort {
                port: redirected,
                to,
            } if *redirected == port => Some(*to),
            _ => None,
        }
    }
}

/// SOCKS5 reply codes (RFC 1928 §6) the lab sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reply {
    /// 0x00: succeeded.
    Succeeded,
    /// 0x01: general SOCKS server failure.
    GeneralFailure,
    /// 0x02: connection not allowed by ruleset (an address off loopback).
    NotAllowed,
    /// 0x04: host unreachable (a name the lab does not know).
    HostUnreachable,
    /// 0x05: connection refused by the target.
    ConnectionRefused,
    /// 0x07: command not supported (anything but CONNECT).
    CommandNotSupported,
    /// 0x08: address type not supported.
    AddressTypeNotSupported,
}

impl Reply {
    /// The code on the wire.
    fn code(self) -> u8 {
        match self {
            Self::Succeeded => 0x00,
            Self::GeneralFailure => 0x01,
            Self::NotAllowed => 0x02,
            Self::HostUnreachable => 0x04,
            Self::ConnectionRefused => 0x05,
            Self::CommandNotSupported => 0x07,
            Self::AddressTypeNotSupported => 0x08,
        }
    }

    /// The reply for a failed connect to an allowed target.
    fn for_connect_error(error: &io::Error) -> Self {
        match error.kind() {
            io::ErrorKind::ConnectionRefused => Self::ConnectionRefused,
            io::ErrorKind::TimedOut => Self::HostUnreachable,
            io::ErrorKind::PermissionDenied => Self::NotAllowed,
            _ => Self::GeneralFailure,
        }
    }
}

/// A CONNECT target as the client wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// An IPv4 or IPv6 address.
    Addr(SocketAddr),
    /// A domain name (invalid UTF-8 replaced, so it matches no lab name) and a port.
    Name(String, u16),
}

/// Serves SOCKS5 on `listener` with `behaviour`, one task per connection, reaching targets
/// through `router`. Runs until dropped.
pub(crate) async fn serve_socks5(
    listener: TcpListener,
    behaviour: Arc<Socks5Behaviour>,
    router: Arc<Router>,
) {
    serve_sessions(listener, move |client, _peer| {
        let behaviour = Arc::clone(&behaviour);
        let router = Arc::clone(&router);
        async move {
            // A failed session is the client's business; the lab has no one to tell.
            let _ = socks5_session(client, &behaviour, &router).await;
        }
    })
    .await;
}

/// Serves honest SOCKS4 and SOCKS4a on `listener`, one task per connection, reaching
/// targets through `router`. Runs until dropped.
pub(crate) async fn serve_socks4(listener: TcpListener, router: Arc<Router>) {
    serve_sessions(listener, move |client, _peer| {
        let router = Arc::clone(&router);
        async move {
            // As for SOCKS5: a failed session has no one to report to.
            let _ = socks4_session(client, &router).await;
        }
    })
    .await;
}

/// One SOCKS5 connection: method negotiation, authentication, the request, then the relay.
async fn socks5_session(
    mut client: TcpStream,
    behaviour: &Socks5Behaviour,
    router: &Router,
) -> io::Result<()> {
    let method = behaviour.method();
    if !negotiate(&mut client, method).await? {
        return Ok(());
    }
    if method == USER_PASS && !authenticate(&mut client, behaviour).await? {
        return Ok(());
    }
    let [version, command, _reserved, address_type] = read_array(&mut client).await?;
    if version != SOCKS5 {
        return Err(invalid("not a SOCKS5 request"));
    }
    let Some(target) = read_target(&mut client, address_type).await? else {
        return send_reply(&mut client, Reply::AddressTypeNotSupported, UNSPECIFIED).await;
    };
    if command != CONNECT {
        return send_reply(&mut client, Reply::CommandNotSupported, UNSPECIFIED).await;
    }
    let connected = match destination(behaviour, router, &target) {
        Ok(addr) => dial(addr)
            .await
            .map_err(|error| Reply::for_connect_error(&error)),
        Err(reply) => Err(reply),
    };
    let mut upstream = match connected {
        Ok(upstream) => upstream,
        Err(reply) => return send_reply(&mut client, reply, UNSPECIFIED).await,
    };
    send_reply(&mut client, Reply::Succeeded, upstream.local_addr()?).await?;
    match behaviour {
        Socks5Behaviour::Intercept(interceptor) => interceptor.relay(client, upstream).await,
        Socks5Behaviour::BreakTls => {
            let mut first = [0u8; 1];
            if within(client.read(&mut first)).await? == 0 {
                return Ok(());
            }
            if first == [TLS_HANDSHAKE_RECORD] {
                // Linger 0: dropping the socket now sends a reset.
                socket2::SockRef::from(&client).set_linger(Some(std::time::Duration::ZERO))?;
                return Ok(());
            }
            within(upstream.write_all(&first)).await?;
            tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
            Ok(())
        }
        _ => {
            tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
            Ok(())
        }
    }
}

/// The first byte of a TLS handshake record (a ClientHello opens with it).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Reads the client's method offer and answers it: `method` when offered (true), "no
/// acceptable methods" otherwise (false; the client is expected to close).
async fn negotiate(client: &mut TcpStream, method: u8) -> io::Result<bool> {
    let [version, count] = read_array(client).await?;
    if version != SOCKS5 {
        return Err(invalid("not a SOCKS5 greeting"));
    }
    let offered = read_vec(client, count.into()).await?;
    let chosen = if offered.contains(&method) {
        method
    } else {
        NO_ACCEPTABLE
    };
    within(client.write_all(&[SOCKS5, chosen])).await?;
    Ok(chosen == method)
}

/// The RFC 1929 subnegotiation: reads a username and password and answers whether
/// `behaviour` accepts them.
async fn authenticate(client: &mut TcpStream, behaviour: &Socks5Behaviour) -> io::Result<bool> {
    let [version, username_len] = read_array(client).await?;
    if version != USER_PASS_VERSION {
        return Err(invalid("not a username/password subnegotiation"));
    }
    let username = read_vec(client, username_len.into()).await?;
    let [password_len] = read_array(client).await?;
    let password = read_vec(client, password_len.into()).await?;
    let accepted = behaviour.accepts(&username, &password);
    let status = if accepted {
        USER_PASS_ACCEPTED
    } else {
        USER_PASS_REFUSED
    };
    within(client.write_all(&[USER_PASS_VERSION, status])).await?;
    Ok(accepted)
}

/// Reads the address and port of a SOCKS5 request; `None` for an unknown address type
/// (whose length cannot be known, so nothing more is read).
async fn read_target(client: &mut TcpStream, address_type: u8) -> io::Result<Option<Target>> {
    let target = match address_type {
        ATYP_IPV4 => {
            let [a, b, c, d, port_hi, port_lo] = read_array(client).await?;
            let ip = Ipv4Addr::new(a, b, c, d);
            Target::Addr(SocketAddr::from((
                ip,
                u16::from_be_bytes([port_hi, port_lo]),
            )))
        }
        ATYP_IPV6 => {
            let octets: [u8; 16] = read_array(client).await?;
            let port: [u8; 2] = read_array(client).await?;
            let ip = Ipv6Addr::from(octets);
            Target::Addr(SocketAddr::from((ip, u16::from_be_bytes(port))))
        }
        ATYP_DOMAIN => {
            let [len] = read_array(client).await?;
            let name = read_vec(client, len.into()).await?;
            let port: [u8; 2] = read_array(client).await?;
            Target::Name(
                String::from_utf8_lossy(&name).into_owned(),
                u16::from_be_bytes(port),
            )
        }
        _ => return Ok(None),
    };
    Ok(Some(target))
}

/// Where the request goes, or the reply refusing it: lab names and loopback only, except
/// for the one name a [`Socks5Behaviour::LyingDns`] server lies about and the one port a
/// [`Socks5Behaviour::RedirectPort`] server redirects (still loopback).
fn destination(
    behaviour: &Socks5Behaviour,
    router: &Router,
    target: &Target,
) -> Result<SocketAddr, Reply> {
    let port = match target {
        Target::Name(_, port) => *port,
        Target::Addr(addr) => addr.port(),
    };
    if let Some(to) = behaviour.redirect(port) {
        return router.resolve_addr(to).ok_or(Reply::NotAllowed);
    }
    match target {
        Target::Name(name, port) => match behaviour.lie_about(name) {
            Some(to) => router.resolve_addr(to).ok_or(Reply::NotAllowed),
            None => router
                .resolve_host(name, *port)
                .ok_or(Reply::HostUnreachable),
        },
        Target::Addr(addr) => router.resolve_addr(*addr).ok_or(Reply::NotAllowed),
    }
}

/// Writes a SOCKS5 reply carrying `bound` as BND.ADDR/BND.PORT.
async fn send_reply(client: &mut TcpStream, reply: Reply, bound: SocketAddr) -> io::Result<()> {
    let mut message = vec![SOCKS5, reply.code(), 0];
    match bound.ip() {
        IpAddr::V4(ip) => {
            message.push(ATYP_IPV4);
            message.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            message.push(ATYP_IPV6);
            message.extend_from_slice(&ip.octets());
        }
    }
    message.extend_from_slice(&bound.port().to_be_bytes());
    within(client.write_all(&message)).await
}

/// One SOCKS4/4a connection: the request, the reply, then the relay.
async fn socks4_session(mut client: TcpStream, router: &Router) -> io::Result<()> {
    let [version, command, port_hi, port_lo, a, b, c, d] = read_array(&mut client).await?;
    if version != SOCKS4 {
        return Err(invalid("not a SOCKS4 request"));
    }
    let port = u16::from_be_bytes([port_hi, port_lo]);
    // The user id: read so the request is consumed, otherwise ignored.
    read_nul_terminated(&mut client).await?;
    // SOCKS4a: 0.0.0.x (x ≠ 0) means "the name follows the user id".
    let destination = if [a, b, c] == [0, 0, 0] && d != 0 {
        let name = read_nul_terminated(&mut client).await?;
        router.resolve_host(&String::from_utf8_lossy(&name), port)
    } else {
        router.resolve_addr(SocketAddr::from((Ipv4Addr::new(a, b, c, d), port)))
    };
    let upstream = match destination {
        Some(addr) if command == CONNECT => dial(addr).await.ok(),
        _ => None,
    };
    let Some(mut upstream) = upstream else {
        return within(client.write_all(&[0, SOCKS4_REJECTED, 0, 0, 0, 0, 0, 0])).await;
    };
    let mut reply = vec![0, SOCKS4_GRANTED];
    match upstream.local_addr()? {
        SocketAddr::V4(bound) => {
            reply.extend_from_slice(&bound.port().to_be_bytes());
            reply.extend_from_slice(&bound.ip().octets());
        }
        // SOCKS4 cannot say an IPv6 address; clients ignore these fields anyway.
        SocketAddr::V6(_) => reply.extend_from_slice(&[0; 6]),
    }
    within(client.write_all(&reply)).await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

/// Reads exactly `N` bytes, bounded in time by [`within`].
async fn read_array<const N: usize>(client: &mut TcpStream) -> io::Result<[u8; N]> {
    let mut bytes = [0; N];
    within(client.read_exact(&mut bytes)).await?;
    Ok(bytes)
}

/// Reads exactly `len` bytes (a length-prefixed field, so at most 255), bounded in time by
/// [`within`].
async fn read_vec(client: &mut TcpStream, len: usize) -> io::Result<Vec<u8>> {
    let mut bytes = vec![0; len];
    within(client.read_exact(&mut bytes)).await?;
    Ok(bytes)
}

/// Reads a NUL-terminated SOCKS4 field of at most [`MAX_SOCKS4_FIELD`] bytes, bounded in time
/// by [`within`]; returns it without the NUL. Byte by byte, so nothing sent after the request
/// is consumed.
async fn read_nul_terminated(client: &mut TcpStream) -> io::Result<Vec<u8>> {
    within(async {
        let mut field = Vec::new();
        loop {
            match client.read_u8().await? {
                0 => return Ok(field),
                _ if field.len() == MAX_SOCKS4_FIELD => {
                    return Err(invalid("SOCKS4 field longer than 255 bytes"));
                }
                byte => field.push(byte),
            }
        }
    })
    .await
}

/// An [`io::ErrorKind::InvalidData`] error: the client does not speak the protocol.
fn invalid(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener as StdListener;

    use super::*;
    use crate::lab::route::STEP;

    /// Starts an echo server that first sends `id`, then echoes; returns its address.
    async fn echo_server(id: &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    stream.write_all(id).await.unwrap();
                    let (mut reader, mut writer) = stream.split();
                    let _ = tokio::io::copy(&mut reader, &mut writer).await;
                });
            }
        });
        addr
    }

    /// A router knowing `echo.lab.test` → 127.0.0.1.
    fn router() -> Arc<Router> {
        let mut router = Router::default();
        router.insert("echo.lab.test", IpAddr::V4(Ipv4Addr::LOCALHOST));
        Arc::new(router)
    }

    async fn socks5_server(behaviour: Socks5Behaviour) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve_socks5(listener, Arc::new(behaviour), router()));
        addr
    }

    async fn socks4_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve_socks4(listener, router()));
        addr
    }

    async fn read_n(stream: &mut TcpStream, n: usize) -> Vec<u8> {
        let mut bytes = vec![0; n];
        stream.read_exact(&mut bytes).await.unwrap();
        bytes
    }

    /// Connects and completes a no-auth greeting.
    async fn greeted(server: SocketAddr) -> TcpStream {
        let mut stream = TcpStream::connect(server).await.unwrap();
        stream.write_all(&[5, 1, 0]).await.unwrap();
        assert_eq!(read_n(&mut stream, 2).await, [5, 0]);
        stream
    }

    fn request_addr(addr: SocketAddr) -> Vec<u8> {
        let mut request = vec![5, 1, 0];
        match addr.ip() {
            IpAddr::V4(ip) => {
                request.push(1);
                request.extend_from_slice(&ip.octets());
            }
            IpAddr::V6(ip) => {
                request.push(4);
                request.extend_from_slice(&ip.octets());
            }
        }
        request.extend_from_slice(&addr.port().to_be_bytes());
        request
    }

    fn request_name(name: &str, port: u16) -> Vec<u8> {
        let mut request = vec![5, 1, 0, 3, u8::try_from(name.len()).unwrap()];
        request.extend_from_slice(name.as_bytes());
        request.extend_from_slice(&port.to_be_bytes());
        request
    }

    /// Sends a request and returns the reply code, checking the reply is well formed.
    async fn request(stream: &mut TcpStream, request: &[u8]) -> u8 {
        stream.write_all(request).await.unwrap();
        let head = read_n(stream, 4).await;
        assert_eq!((head[0], head[2]), (5, 0), "reply head {head:?}");
        let rest = match head[3] {
            1 => 6,
            4 => 18,
            other => panic!("unexpected bound address type {other}"),
        };
        read_n(stream, rest).await;
        head[1]
    }

    /// Reads the echo server's id, then checks a round trip.
    async fn assert_echo(stream: &mut TcpStream, id: &[u8]) {
        assert_eq!(read_n(stream, id.len()).await, id);
        stream.write_all(b"ping").await.unwrap();
        assert_eq!(read_n(stream, 4).await, b"ping");
    }

    async fn auth(stream: &mut TcpStream, username: &str, password: &str) -> Vec<u8> {
        let mut message = vec![1, u8::try_from(username.len()).unwrap()];
        message.extend_from_slice(username.as_bytes());
        message.push(u8::try_from(password.len()).unwrap());
        message.extend_from_slice(password.as_bytes());
        stream.write_all(&message).await.unwrap();
        read_n(stream, 2).await
    }

    /// Reads until the server closes (cleanly or with a reset; failing if it does not
    /// within [`STEP`]); returns what arrived.
    async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(STEP, stream.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "the server kept the connection open");
        rest
    }

    fn auth_behaviour() -> Socks5Behaviour {
        Socks5Behaviour::Auth {
            username: "lab".into(),
            password: "secret".into(),
        }
    }

    #[tokio::test]
    async fn honest_connects_by_ipv4_address() {
        let echo = echo_server(b"echo").await;
        let mut stream = greeted(socks5_server(Socks5Behaviour::Honest).await).await;
        assert_eq!(request(&mut stream, &request_addr(echo)).await, 0);
        assert_echo(&mut stream, b"echo").await;
    }

    #[tokio::test]
    async fn honest_connects_by_router_name() {
        let echo = echo_server(b"echo").await;
        let mut stream = greeted(socks5_server(Socks5Behaviour::Honest).await).await;
        let code = request(&mut stream, &request_name("ECHO.lab.test", echo.port())).await;
        assert_eq!(code, 0);
        assert_echo(&mut stream, b"echo").await;
    }

    #[tokio::test]
    async fn honest_refuses_username_password_only_clients() {
        let server = socks5_server(Socks5Behaviour::Honest).await;
        let mut stream = TcpStream::connect(server).await.unwrap();
        stream.write_all(&[5, 1, 2]).await.unwrap();
        assert_eq!(read_n(&mut stream, 2).await, [5, 0xFF]);
    }

    #[tokio::test]
    async fn auth_accepts_the_right_credentials() {
        let echo = echo_server(b"echo").await;
        let server = socks5_server(auth_behaviour()).await;
        let mut stream = TcpStream::connect(server).await.unwrap();
        stream.write_all(&[5, 2, 0, 2]).await.unwrap();
        assert_eq!(read_n(&mut stream, 2).await, [5, 2]);
        assert_eq!(auth(&mut stream, "lab", "secret").await, [1, 0]);
        assert_eq!(request(&mut stream, &request_addr(echo)).await, 0);
        assert_echo(&mut stream, b"echo").await;
    }

    #[tokio::test]
    async fn auth_rejects_a_wrong_password_and_closes() {
        let server = socks5_server(auth_behaviour()).await;
        let mut stream = TcpStream::connect(server).await.unwrap();
        stream.write_all(&[5, 1, 2]).await.unwrap();
        assert_eq!(read_n(&mut stream, 2).await, [5, 2]);
        assert_eq!(auth(&mut stream, "lab", "wrong").await, [1, 1]);
        assert!(read_until_closed(&mut stream).await.is_empty());
    }

    #[tokio::test]
    async fn auth_answers_a_no_auth_offer_with_no_acceptable_method() {
        let server = socks5_server(auth_behaviour()).await;
        let mut stream = TcpStream::connect(server).await.unwrap();
        stream.write_all(&[5, 1, 0]).await.unwrap();
        assert_eq!(read_n(&mut stream, 2).await, [5, 0xFF]);
        assert!(read_until_closed(&mut stream).await.is_empty());
    }

    #[tokio::test]
    async fn any_password_accepts_a_wrong_password() {
        let echo = echo_server(b"echo").await;
        let server = socks5_server(Socks5Behaviour::AnyPassword).await;
        let mut stream = TcpStream::connect(server).await.unwrap();
        stream.write_all(&[5, 2, 0, 2]).await.unwrap();
        assert_eq!(
            read_n(&mut stream, 2).await,
            [5, 2],
            "must ask for a password"
        );
        assert_eq!(auth(&mut stream, "someone", "wrong").await, [1, 0]);
        assert_eq!(request(&mut stream, &request_addr(echo)).await, 0);
        assert_echo(&mut stream, b"echo").await;
    }

    #[tokio::test]
    async fn lying_dns_sends_its_name_elsewhere_and_nothing_else() {
        let real = echo_server(b"real").await;
        let fake = echo_server(b"fake").await;
        let mut router = Router::default();
        router.insert("canary.lab.test", IpAddr::V4(Ipv4Addr::LOCALHOST));
        router.insert("other.lab.test", IpAddr::V4(Ipv4Addr::LOCALHOST));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = listener.local_addr().unwrap();
        let behaviour = Socks5Behaviour::LyingDns {
            name: "canary.lab.test".into(),
            to: fake,
        };
        tokio::spawn(serve_socks5(
            listener,
            Arc::new(behaviour),
            Arc::new(router),
        ));

        let mut lied = greeted(server).await;
        let code = request(&mut lied, &request_name("Canary.Lab.Test", real.port())).await;
        assert_eq!(code, 0);
        assert_echo(&mut lied, b"fake").await;

        let mut by_address = greeted(server).await;
        assert_eq!(request(&mut by_address, &request_addr(real)).await, 0);
        assert_echo(&mut by_address, b"real").await;

        let mut other_name = greeted(server).await;
        let code = request(
            &mut other_name,
            &request_name("other.lab.test", real.port()),
        )
        .await;
        assert_eq!(code, 0);
        assert_echo(&mut other_name, b"real").await;
    }

    #[tokio::test]
    async fn redirect_port_sends_one_port_elsewhere_by_name_and_by_address() {
        let real = echo_server(b"real").await;
        let other = echo_server(b"other").await;
        let elsewhere = echo_server(b"elsewhere").await;
        let server = socks5_server(Socks5Behaviour::RedirectPort {
            port: real.port(),
            to: elsewhere,
        })
        .await;

        let mut by_address = greeted(server).await;
        assert_eq!(request(&mut by_address, &request_addr(real)).await, 0);
        assert_echo(&mut by_address, b"elsewhere").await;

        let mut by_name = greeted(server).await;
        let code = request(&mut by_name, &request_name("canary.lab.test", real.port())).await;
        assert_eq!(code, 0);
        assert_echo(&mut by_name, b"elsewhere").await;

        let mut other_port = greeted(server).await;
        assert_eq!(request(&mut other_port, &request_addr(other)).await, 0);
        assert_echo(&mut other_port, b"other").await;
    }

    #[tokio::test]
    async fn intercept_relays_through_the_interceptor() {
        // The interceptor passes non-TLS bytes through, so a plain echo comes back.
        let Ok(ca) = crate::lab::ca::LabCa::new("Lab CA", "Lab") else {
            return; // The CA is not available yet; nothing to intercept with.
        };
        let echo = echo_server(b"echo").await;
        let behaviour = Socks5Behaviour::Intercept(Arc::new(Interceptor::new(ca)));
        let mut stream = greeted(socks5_server(behaviour).await).await;
        assert_eq!(request(&mut stream, &request_addr(echo)).await, 0);
        assert_echo(&mut stream, b"echo").await;
    }

    #[tokio::test]
    async fn targets_off_loopback_or_unknown_are_refused_without_a_connection() {
        // A live listener on loopback: the IPv4-mapped spelling of its address is not
        // loopback to the lab, so the proxy must refuse it without connecting.
        let watched = StdListener::bind("127.0.0.1:0").unwrap();
        watched.set_nonblocking(true).unwrap();
        let port = watched.local_addr().unwrap().port();
        let mapped = SocketAddr::from((Ipv4Addr::LOCALHOST.to_ipv6_mapped(), port));
        let server = socks5_server(Socks5Behaviour::Honest).await;

        let mut stream = greeted(server).await;
        assert_eq!(request(&mut stream, &request_addr(mapped)).await, 0x02);
        let mut stream = greeted(server).await;
        let public = SocketAddr::from((Ipv4Addr::new(192, 0, 2, 1), 80));
        assert_eq!(request(&mut stream, &request_addr(public)).await, 0x02);
        let mut stream = greeted(server).await;
        assert_eq!(
            request(&mut stream, &request_name("example.com", 80)).await,
            0x04
        );
        let mut stream = greeted(server).await;
        let code = request(&mut stream, &request_name("localhost", port)).await;
        assert_eq!(code, 0x04);

        // Had the proxy connected, the connection would be queued by now (the reply follows
        // the connect).
        let accepted = watched.accept().map(|_| ()).map_err(|error| error.kind());
        assert_eq!(accepted, Err(io::ErrorKind::WouldBlock));
    }

    #[tokio::test]
    async fn a_closed_port_is_connection_refused() {
        let closed = StdListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut stream = greeted(socks5_server(Socks5Behaviour::Honest).await).await;
        assert_eq!(request(&mut stream, &request_addr(closed)).await, 0x05);
    }

    #[tokio::test]
    async fn commands_other_than_connect_and_unknown_address_types_are_refused() {
        let echo = echo_server(b"echo").await;
        let server = socks5_server(Socks5Behaviour::Honest).await;
        let mut stream = greeted(server).await;
        let mut bind = request_addr(echo);
        bind[1] = 2;
        assert_eq!(request(&mut stream, &bind).await, 0x07);
        let mut stream = greeted(server).await;
        stream.write_all(&[5, 1, 0, 9]).await.unwrap();
        assert_eq!(read_n(&mut stream, 2).await, [5, 0x08]);
    }

    #[tokio::test]
    async fn non_socks5_bytes_are_dropped() {
        let server = socks5_server(Socks5Behaviour::Honest).await;
        let mut stream = TcpStream::connect(server).await.unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        assert!(read_until_closed(&mut stream).await.is_empty());
    }

    fn socks4_request(ip: [u8; 4], port: u16, user: &[u8], name: Option<&str>) -> Vec<u8> {
        let mut request = vec![4, 1];
        request.extend_from_slice(&port.to_be_bytes());
        request.extend_from_slice(&ip);
        request.extend_from_slice(user);
        request.push(0);
        if let Some(name) = name {
            request.extend_from_slice(name.as_bytes());
            request.push(0);
        }
        request
    }

    #[tokio::test]
    async fn socks4_connects_by_address() {
        let echo = echo_server(b"echo").await;
        let mut stream = TcpStream::connect(socks4_server().await).await.unwrap();
        let request = socks4_request([127, 0, 0, 1], echo.port(), b"someone", None);
        stream.write_all(&request).await.unwrap();
        let reply = read_n(&mut stream, 8).await;
        assert_eq!(reply[..2], [0, 0x5A]);
        assert_echo(&mut stream, b"echo").await;
    }

    #[tokio::test]
    async fn socks4a_connects_by_router_name() {
        let echo = echo_server(b"echo").await;
        let mut stream = TcpStream::connect(socks4_server().await).await.unwrap();
        let request = socks4_request([0, 0, 0, 1], echo.port(), b"", Some("echo.lab.test"));
        stream.write_all(&request).await.unwrap();
        assert_eq!(read_n(&mut stream, 8).await[..2], [0, 0x5A]);
        assert_echo(&mut stream, b"echo").await;
    }

    #[tokio::test]
    async fn socks4_rejects_unknown_names_off_loopback_and_overlong_user_ids() {
        let server = socks4_server().await;
        for request in [
            socks4_request([0, 0, 0, 1], 80, b"", Some("example.com")),
            socks4_request([192, 0, 2, 1], 80, b"", None),
        ] {
            let mut stream = TcpStream::connect(server).await.unwrap();
            stream.write_all(&request).await.unwrap();
            assert_eq!(read_n(&mut stream, 8).await[..2], [0, 0x5B]);
        }
        let mut stream = TcpStream::connect(server).await.unwrap();
        let request = socks4_request([127, 0, 0, 1], 80, &[b'u'; 300], None);
        // The server may close while the overlong id is still being sent.
        let _ = stream.write_all(&request).await;
        assert!(read_until_closed(&mut stream).await.is_empty());
    }
}
