//! Fuzzes the proxy handshakes' reply parsing (SOCKS5 with and without a password, SOCKS4
//! and SOCKS4a with and without a user id, HTTP CONNECT with and without credentials): the
//! fuzz bytes are the proxy's side. No panic, no hang, and an open tunnel yields only bytes
//! the proxy sent after its reply (a suffix of them, never invented ones).
#![no_main]

#[path = "common/peer.rs"]
mod peer;

use std::net::SocketAddr;

use libfuzzer_sys::fuzz_target;
use proxy_audit::probe::dial::{Credentials, ProxyEndpoint, Target, handshake_over};
use proxy_audit::proxy::ProxyKind;
use tokio::io::AsyncReadExt;

fuzz_target!(|data: &[u8]| {
    let [mode, control, bytes @ ..] = data else {
        return;
    };
    let kind = match mode % 3 {
        0 => ProxyKind::Socks5,
        1 => ProxyKind::Socks4,
        _ => ProxyKind::Http,
    };
    let with_login = mode & 0x08 != 0;
    let target = match (mode >> 4) % 3 {
        0 => Target::Name("example.com".into(), 443),
        1 => Target::Addr(SocketAddr::from(([192, 0, 2, 1], 80))),
        _ if kind == ProxyKind::Socks4 => Target::Addr(SocketAddr::from(([192, 0, 2, 1], 80))),
        _ => Target::Addr("[2001:db8::1]:443".parse().unwrap()),
    };
    let proxy = ProxyEndpoint {
        kind,
        addr: SocketAddr::from(([127, 0, 0, 1], 1080)),
        host: "proxy.test".into(),
        username: with_login.then(|| "user".to_owned()),
        password: with_login.then(|| "pass".to_owned()),
    };
    let peer = peer::Peer::new(bytes, peer::chunk_of(*control));
    peer::runtime().block_on(async {
        let Ok(mut tunnel) = handshake_over(peer, &proxy, Credentials::AsListed, &target).await
        else {
            return;
        };
        let mut rest = Vec::new();
        tunnel.read_to_end(&mut rest).await.unwrap();
        assert!(bytes.ends_with(&rest), "the tunnel invented bytes");
        assert!(rest.len() < bytes.len(), "the reply took no bytes");
    });
});
