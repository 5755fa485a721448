//! SOCKS5 and SOCKS4/4a handshakes through tokio-socks, and what its errors mean for the
//! audit (credentials refused, a proper reply refusing the target, or a failed handshake).
//!
//! Part of [`crate::probe::dial`]: the plan (`Plan`) has already checked that tokio-socks
//! can encode the request, so nothing here can make it panic.

use std::borrow::Cow;

use tokio_socks::TargetAddr;
use tokio_socks::tcp::{Socks4Stream, Socks5Stream};

use super::io::io_failure;
use super::{BoxStream, DialError, Plan, ProxyStream, Target};

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
pub(super) async fn socks5<S>(stream: S, plan: &Plan<'_>) -> Result<BoxStream, DialError>
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
pub(super) async fn socks4<S>(stream: S, plan: &Plan<'_>) -> Result<BoxStream, DialError>
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

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::probe::dial::Credentials;
    use crate::probe::dial::testing::{
        addr, against, assert_carries, endpoint, expect_bytes, name, with_login,
    };
    use crate::proxy::ProxyKind;

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
}
