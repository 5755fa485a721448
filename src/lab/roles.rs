//! The lab's roles: one row per proxy the lab starts (its name, its sentence, the kind it is
//! listed as, and the server behind it), in list order, and the servers they stand on
//! (origins, datacenters). Adding a lab behaviour is its server's code and one row here.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use tokio::net::{TcpListener, TcpSocket};
use tokio::task::JoinSet;

use super::ca::LabCa;
use super::hostile::{self, Hostile};
use super::http_proxy::{self, HttpBehaviour};
use super::intercept::Interceptor;
use super::mtproxy::{self, MtproxyBehaviour};
use super::route::Router;
use super::socks::{self, Socks5Behaviour};
use super::{
    FRONTED, HTTP_CANARY_BODY, IMPOSTOR, IMPOSTOR_BODY, INJECTED, LabError, LabOptions, LabProxy,
    POSED, PUBLISHED_SECRET, ProxyHosts, TLS_CANARY, TLS_CANARY_BODY, bind, fake_dc, origins,
    random_secret, scale,
};
use crate::proto::mtproto::secret::{MtprotoSecret, SecretMode};
use crate::proxy::{ProxyKind, ProxySpec};

/// The servers behind the lab's proxies, all on 127.0.0.1: the origins the profile points
/// at, the sites FakeTLS proxies mask to, and the Telegram datacenters.
pub(super) struct Backends {
    /// The TLS canary ([`TLS_CANARY`]).
    pub(super) tls: SocketAddr,
    /// The impostor the DNS-lying proxy sends the TLS canary's name to ([`IMPOSTOR`]).
    pub(super) impostor: SocketAddr,
    /// The plain-HTTP canary ([`HTTP_CANARY`]).
    pub(super) http: SocketAddr,
    /// The judge ([`JUDGE`]).
    pub(super) judge: SocketAddr,
    /// The TLS site for [`FRONTED`] and [`POSED`] that FakeTLS proxies mask to.
    pub(super) fronted: SocketAddr,
    /// The TLS server with a 1,000-certificate chain, behind `tls-long-chain`.
    pub(super) long_chain: SocketAddr,
    /// The lab's Telegram datacenter (trusted by the lab profile).
    pub(super) dc: SocketAddr,
    /// The lab datacenter's public key (PEM).
    pub(super) dc_key_pem: String,
    /// A datacenter with a key of its own, which the lab profile does not trust.
    pub(super) impostor_dc: SocketAddr,
}

impl Backends {
    /// Starts every backend (certificates from `ca`) in `tasks`.
    pub(super) fn start(ca: &LabCa, tasks: &mut JoinSet<()>) -> Result<Self, LabError> {
        let mut tls_origin = |config, body| -> io::Result<SocketAddr> {
            let (listener, addr) = bind()?;
            tasks.spawn(origins::serve_tls_origin(listener, config, body));
            Ok(addr)
        };
        let tls = tls_origin(
            ca.server_config(&[TLS_CANARY, "127.0.0.1"])?,
            TLS_CANARY_BODY,
        )?;
        let impostor = tls_origin(ca.server_config(&[IMPOSTOR])?, IMPOSTOR_BODY)?;
        let fronted = tls_origin(ca.server_config(&[FRONTED, POSED])?, TLS_CANARY_BODY)?;
        let long_chain = tls_origin(
            hostile::long_chain_config(&[TLS_CANARY, "127.0.0.1"])?,
            TLS_CANARY_BODY,
        )?;
        let (listener, http) = bind()?;
        tasks.spawn(origins::serve_http_canary(listener, HTTP_CANARY_BODY));
        let (listener, judge) = bind()?;
        tasks.spawn(origins::serve_judge(listener));

        let dc_key = fake_dc::lab_dc_key()?;
        let dc_key_pem = dc_key.public_pem()?;
        let (listener, dc) = bind()?;
        tasks.spawn(fake_dc::serve_fake_dc(listener, Arc::new(dc_key)));
        let (listener, impostor_dc) = bind()?;
        tasks.spawn(fake_dc::serve_fake_dc(
            listener,
            Arc::new(fake_dc::impostor_dc_key()?),
        ));
        Ok(Self {
            tls,
            impostor,
            http,
            judge,
            fronted,
            long_chain,
            dc,
            dc_key_pem,
            impostor_dc,
        })
    }
}

/// What stands behind a lab proxy's address.
pub(super) enum Server {
    /// A lab SOCKS5 server ([`socks::serve_socks5`]).
    Socks5(Socks5Behaviour),
    /// The honest lab SOCKS4/4a server ([`socks::serve_socks4`]).
    Socks4,
    /// A lab HTTP proxy ([`http_proxy::serve_http_proxy`]).
    Http(HttpBehaviour),
    /// A lab MTProto proxy ([`mtproxy::serve_mtproxy`]).
    Mtproxy {
        /// Its secret (listed with it).
        secret: MtprotoSecret,
        /// What it does.
        behaviour: MtproxyBehaviour,
        /// The datacenter it relays to.
        dc: SocketAddr,
    },
    /// A hostile endpoint ([`hostile::serve_hostile`]); what it writes is counted.
    Hostile(Hostile),
    /// The FakeTLS proxy whose answer has wrong lengths
    /// ([`hostile::serve_faketls_bad_lengths`]), for this secret.
    FakeTlsBadLengths(MtprotoSecret),
    /// The MTProto proxy whose answer never ends ([`hostile::serve_mtproto_endless`]), for
    /// this secret; what it writes is counted.
    MtprotoEndless(MtprotoSecret),
    /// Nothing: the address was bound, then let go, so connections are refused.
    Closed,
    /// A socket bound on this address and not listening: connections are refused
    /// ([`scale::refused`]).
    Refused(IpAddr),
    /// A listener on this address that never accepts: connections hang
    /// ([`scale::blackhole`]).
    Blackhole(IpAddr),
}

impl Server {
    /// The MTProto secret the proxy is listed with, if it has one.
    pub(super) fn secret(&self) -> Option<&MtprotoSecret> {
        match self {
            Self::Mtproxy { secret, .. }
            | Self::FakeTlsBadLengths(secret)
            | Self::MtprotoEndless(secret) => Some(secret),
            _ => None,
        }
    }
}

/// One lab proxy: its name and description, how it is listed, and what runs behind it.
/// The lab is the list of these ([`roles`]); a new lab behaviour is one more row (and the
/// server code it names).
pub(super) struct Role {
    /// Short name (`honest-socks5`, `tarpit`, …).
    name: String,
    /// What it does, in a sentence.
    about: &'static str,
    /// The kind it is listed as (hostile endpoints speak no protocol, or only part of one).
    kind: ProxyKind,
    /// The username and password it is listed with.
    login: Option<(&'static str, &'static str)>,
    /// Where a listening server binds: `None` for the next proxy host ([`ProxyHosts`]),
    /// else this address (the scale endpoints).
    at: Option<IpAddr>,
    /// What stands behind the address.
    server: Server,
}

impl Role {
    /// A proxy on the next proxy host, listed without credentials.
    pub(super) fn new(
        name: impl Into<String>,
        about: &'static str,
        kind: ProxyKind,
        server: Server,
    ) -> Self {
        Self {
            name: name.into(),
            about,
            kind,
            login: None,
            at: None,
            server,
        }
    }

    /// The same, listed with `username` and `password`.
    pub(super) fn login(self, username: &'static str, password: &'static str) -> Self {
        Self {
            login: Some((username, password)),
            ..self
        }
    }

    /// The same, listening on `ip` instead of a proxy host.
    pub(super) fn at(self, ip: IpAddr) -> Self {
        Self {
            at: Some(ip),
            ..self
        }
    }

    /// Starts the proxy's server in `lab`; returns the proxy as listed.
    pub(super) fn start(self, lab: &mut Starting) -> Result<LabProxy, LabError> {
        let secret = self.server.secret().cloned();
        let addr = lab.serve(&self.name, self.at, self.server)?;
        Ok(LabProxy {
            name: self.name,
            about: self.about,
            spec: ProxySpec {
                kind: self.kind,
                host: addr.ip().to_string(),
                port: addr.port(),
                secret,
                username: self.login.map(|(username, _)| username.to_owned()),
                password: self.login.map(|(_, password)| password.to_owned()),
            },
        })
    }
}

/// Sockets that only need to exist: refused ports and blackholes of the scale endpoints.
#[derive(Default)]
pub(super) struct Held {
    /// Bound, not listening.
    pub(super) refused: Vec<TcpSocket>,
    /// Listening, never accepting.
    pub(super) blackholes: Vec<TcpListener>,
}

/// A lab being started: where the proxies' servers go.
pub(super) struct Starting {
    /// Every server task.
    pub(super) tasks: JoinSet<()>,
    /// The proxy hosts handed out so far.
    pub(super) hosts: ProxyHosts,
    /// The names the lab proxies resolve.
    pub(super) router: Arc<Router>,
    /// Byte counters of the streaming hostile endpoints, by proxy name.
    pub(super) sent: HashMap<String, Arc<AtomicU64>>,
    /// Refused ports and blackholes.
    pub(super) held: Held,
}

impl Starting {
    /// Puts `server` at its address (`at`, or the next proxy host) for the proxy `name`;
    /// returns the address.
    pub(super) fn serve(
        &mut self,
        name: &str,
        at: Option<IpAddr>,
        server: Server,
    ) -> Result<SocketAddr, LabError> {
        let (listener, addr) = match server {
            Server::Refused(ip) => {
                let (socket, addr) = scale::refused(ip)?;
                self.held.refused.push(socket);
                return Ok(addr);
            }
            Server::Blackhole(ip) => {
                let (listener, addr) = scale::blackhole(ip)?;
                self.held.blackholes.push(listener);
                return Ok(addr);
            }
            _ => match at {
                Some(ip) => scale::listener(ip)?,
                None => self.hosts.bind()?,
            },
        };
        let router = Arc::clone(&self.router);
        match server {
            Server::Socks5(behaviour) => {
                self.tasks
                    .spawn(socks::serve_socks5(listener, Arc::new(behaviour), router));
            }
            Server::Socks4 => {
                self.tasks.spawn(socks::serve_socks4(listener, router));
            }
            Server::Http(behaviour) => {
                self.tasks.spawn(http_proxy::serve_http_proxy(
                    listener,
                    Arc::new(behaviour),
                    router,
                ));
            }
            Server::Mtproxy {
                secret,
                behaviour,
                dc,
            } => {
                self.tasks.spawn(mtproxy::serve_mtproxy(
                    listener,
                    secret,
                    Arc::new(behaviour),
                    dc,
                ));
            }
            Server::Hostile(kind) => {
                let counter = self.counter(name);
                self.tasks
                    .spawn(hostile::serve_hostile(listener, kind, counter));
            }
            Server::FakeTlsBadLengths(secret) => {
                self.tasks
                    .spawn(hostile::serve_faketls_bad_lengths(listener, secret));
            }
            Server::MtprotoEndless(secret) => {
                let counter = self.counter(name);
                self.tasks
                    .spawn(hostile::serve_mtproto_endless(listener, secret, counter));
            }
            // Dropping the listener closes the port: nothing listens there any more.
            Server::Closed | Server::Refused(_) | Server::Blackhole(_) => drop(listener),
        }
        Ok(addr)
    }

    /// A new byte counter for the streaming endpoint `name` ([`Lab::bytes_sent`]).
    pub(super) fn counter(&mut self, name: &str) -> Arc<AtomicU64> {
        let counter = Arc::new(AtomicU64::new(0));
        self.sent.insert(name.to_owned(), Arc::clone(&counter));
        counter
    }
}

/// The lab's proxies, in list order: one row each. `backends` are where they lead;
/// `options` add the scale endpoints at the end.
pub(super) fn roles(backends: &Backends, options: LabOptions) -> Result<Vec<Role>, LabError> {
    use ProxyKind::{Http, Mtproto, Socks4, Socks5};
    let honest = MtproxyBehaviour::Honest {
        mask_to: None,
        replay_protection: true,
    };
    let masking = MtproxyBehaviour::Honest {
        mask_to: Some(backends.fronted),
        replay_protection: true,
    };
    let mtproxy = |secret, behaviour, dc| Server::Mtproxy {
        secret,
        behaviour,
        dc,
    };
    let published = MtprotoSecret::decode(PUBLISHED_SECRET)
        .map_err(|error| LabError::Io(io::Error::other(error.to_string())))?;
    let interceptor = Interceptor::new(LabCa::new("Qaznet Trust Network", "proxy-audit lab")?);
    let dc = backends.dc;

    let mut roles = vec![
        Role::new(
            "honest-socks5",
            "honest SOCKS5 proxy without authentication",
            Socks5,
            Server::Socks5(Socks5Behaviour::Honest),
        ),
        Role::new(
            "honest-socks5-auth",
            "honest SOCKS5 proxy that checks its password",
            Socks5,
            Server::Socks5(Socks5Behaviour::Auth {
                username: "alice".to_owned(),
                password: "correct-horse".to_owned(),
            }),
        )
        .login("alice", "correct-horse"),
        Role::new(
            "harvesting-socks5",
            "SOCKS5 proxy that accepts any password (collects credentials)",
            Socks5,
            Server::Socks5(Socks5Behaviour::AnyPassword),
        )
        .login("bob", "hunter2"),
        Role::new(
            "intercepting-socks5",
            "SOCKS5 proxy that replaces TLS certificates (like Kazakhstan's 2019 Qaznet CA)",
            Socks5,
            Server::Socks5(Socks5Behaviour::Intercept(Arc::new(interceptor))),
        ),
        Role::new(
            "lying-dns-socks5",
            "SOCKS5 proxy that sends a site's name to an impostor server",
            Socks5,
            Server::Socks5(Socks5Behaviour::LyingDns {
                name: TLS_CANARY.to_owned(),
                to: backends.impostor,
            }),
        ),
        Role::new(
            "tls-breaking-socks5",
            "SOCKS5 proxy that resets every TLS connection (HTTPS does not work through it)",
            Socks5,
            Server::Socks5(Socks5Behaviour::BreakTls),
        ),
        Role::new(
            "honest-socks4",
            "honest SOCKS4 proxy",
            Socks4,
            Server::Socks4,
        ),
        Role::new(
            "honest-http",
            "honest HTTP proxy (CONNECT and plain requests)",
            Http,
            Server::Http(HttpBehaviour::Honest),
        ),
        Role::new(
            "injecting-http",
            "HTTP proxy that injects a script into pages",
            Http,
            Server::Http(HttpBehaviour::Inject(INJECTED)),
        ),
        Role::new(
            "leaking-http",
            "HTTP proxy that tells sites the client's address (X-Forwarded-For)",
            Http,
            Server::Http(HttpBehaviour::AddForwardedFor),
        ),
        Role::new(
            "announcing-http",
            "honest HTTP proxy that tells sites a proxy is in the path (Via), not who",
            Http,
            Server::Http(HttpBehaviour::AddVia),
        ),
        Role::new(
            "honest-mtproto-ee",
            "honest FakeTLS MTProto proxy: masks other clients to the real site, refuses replays",
            Mtproto,
            mtproxy(random_secret(SecretMode::Ee, FRONTED)?, masking.clone(), dc),
        ),
        Role::new(
            "honest-mtproto-dd",
            "honest MTProto proxy with a dd secret",
            Mtproto,
            mtproxy(random_secret(SecretMode::Dd, FRONTED)?, honest.clone(), dc),
        ),
        Role::new(
            "default-secret-mtproto",
            "MTProto proxy running the default secret from a server's example config",
            Mtproto,
            mtproxy(published, honest.clone(), dc),
        ),
        Role::new(
            "posing-mtproto-ee",
            "FakeTLS MTProto proxy posing as a popular site that lives at another address",
            Mtproto,
            mtproxy(random_secret(SecretMode::Ee, POSED)?, masking, dc),
        ),
        Role::new(
            "weak-mtproto",
            "MTProto proxy with a plain secret and no replay protection",
            Mtproto,
            mtproxy(
                random_secret(SecretMode::Plain, FRONTED)?,
                MtproxyBehaviour::Honest {
                    mask_to: None,
                    replay_protection: false,
                },
                dc,
            ),
        ),
        Role::new(
            "fake-telegram",
            "MTProto proxy relaying to an impostor datacenter, not Telegram",
            Mtproto,
            mtproxy(
                random_secret(SecretMode::Dd, FRONTED)?,
                honest.clone(),
                backends.impostor_dc,
            ),
        ),
        Role::new(
            "broken-faketls",
            "FakeTLS MTProto proxy whose answer does not prove it holds the secret",
            Mtproto,
            mtproxy(
                random_secret(SecretMode::Ee, FRONTED)?,
                MtproxyBehaviour::BrokenHmac,
                dc,
            ),
        ),
        Role::new(
            "closing-mtproto",
            "MTProto proxy that accepts the connection and closes it",
            Mtproto,
            mtproxy(
                random_secret(SecretMode::Dd, FRONTED)?,
                MtproxyBehaviour::CloseAfterAccept,
                dc,
            ),
        ),
        Role::new(
            "closed-port",
            "nothing listens here any more",
            Socks5,
            Server::Closed,
        ),
        Role::new(
            "tarpit",
            "accepts and never answers",
            Socks5,
            Server::Hostile(Hostile::Tarpit),
        ),
        Role::new(
            "slow-drip",
            "answers one byte per second",
            Socks5,
            Server::Hostile(Hostile::Drip),
        ),
        Role::new(
            "endless",
            "answers with an endless stream",
            Socks5,
            Server::Hostile(Hostile::Endless),
        ),
        Role::new(
            "garbage",
            "answers with garbage",
            Socks5,
            Server::Hostile(Hostile::Garbage),
        ),
        Role::new(
            "reset",
            "resets the connection after the greeting",
            Socks5,
            Server::Hostile(Hostile::ResetAfterGreeting),
        ),
        Role::new(
            "huge-reply",
            "HTTP proxy answering every request with a 100 MB body",
            Http,
            Server::Hostile(Hostile::HugeReply),
        ),
        Role::new(
            "header-bomb",
            "HTTP proxy answering with header fields that never end",
            Http,
            Server::Hostile(Hostile::HeaderBomb),
        ),
        Role::new(
            "socks-huge-address",
            "SOCKS5 proxy replying with a 255-byte address, then an endless stream",
            Socks5,
            Server::Hostile(Hostile::SocksHugeAddress),
        ),
        Role::new(
            "tls-long-chain",
            "SOCKS5 proxy sending TLS to a server with a 1,000-certificate chain",
            Socks5,
            Server::Socks5(Socks5Behaviour::RedirectPort {
                port: backends.tls.port(),
                to: backends.long_chain,
            }),
        ),
        Role::new(
            "faketls-bad-lengths",
            "FakeTLS MTProto proxy whose answer announces more bytes than it sends",
            Mtproto,
            Server::FakeTlsBadLengths(random_secret(SecretMode::Ee, FRONTED)?),
        ),
        Role::new(
            "mtproto-endless",
            "MTProto proxy answering the handshake with an answer that never ends",
            Mtproto,
            Server::MtprotoEndless(random_secret(SecretMode::Dd, FRONTED)?),
        ),
    ];

    // Benchmark endpoints: live proxies, refused ports and blackholes on addresses of their
    // own, then honest MTProto proxies on proxy hosts.
    let scale_ip = scale::check_bind(options.bind.unwrap_or(scale::DEFAULT_BIND))?;
    for (index, kind) in options.mix.sequence(options.scale).enumerate() {
        let ip = scale::nth_address(scale_ip, index)?;
        let server = match kind {
            scale::Kind::Live => Server::Socks5(Socks5Behaviour::Honest),
            scale::Kind::Refused => Server::Refused(ip),
            scale::Kind::Blackhole => Server::Blackhole(ip),
        };
        let name = format!("scale-{}-{index}", kind.name());
        roles.push(Role::new(name, kind.about(), Socks5, server).at(ip));
    }
    for index in 0..options.mtproto_scale {
        roles.push(Role::new(
            format!("mtproto-scale-{index}"),
            "honest MTProto proxy (scale)",
            Mtproto,
            mtproxy(random_secret(SecretMode::Dd, FRONTED)?, honest.clone(), dc),
        ));
    }
    Ok(roles)
}
