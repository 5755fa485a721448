//! The lab: honest and malicious proxies and the origins they lead to, all on loopback.
//!
//! Trainers run it to show a class what a malicious proxy does (`proxy-audit lab`,
//! `proxy-audit demo`); the integration tests audit it. Every server binds `127.0.0.1:0`
//! and reports the port the OS chose. Proxies only ever connect to the lab's own names
//! (`*.lab.test`, resolved by [`route::Router`]) and loopback addresses, so the lab makes no
//! traffic off the machine.
//!
//! - [`ca`]: the lab CA that signs the canary's certificate, and the interceptor's CA.
//! - [`origins`]: the TLS canary, the plain-HTTP canary, the judge.
//! - [`socks`], [`http_proxy`]: proxies with one behaviour each; [`intercept`]: TLS
//!   interception for the intercepting proxy.
//! - [`hostile`]: endpoints that misbehave at the socket or protocol level (tarpit, drip,
//!   endless streams, a 100 MB reply, a header bomb, a huge SOCKS address, a 1,000-certificate
//!   chain, a FakeTLS answer with wrong lengths, an MTProto answer that never ends).

pub mod ca;
pub mod fake_dc;
pub mod hostile;
pub mod http_proxy;
pub mod intercept;
pub mod mtproxy;
pub mod origins;
pub mod route;
pub mod scale;
pub mod socks;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use self::ca::LabCa;
use self::hostile::Hostile;
use self::http_proxy::HttpBehaviour;
use self::intercept::Interceptor;
use self::mtproxy::MtproxyBehaviour;
use self::route::Router;
use self::socks::Socks5Behaviour;
use crate::config::{Profile, ProfileError};
use crate::proto::hex::to_hex;
use crate::proto::mtproto::rsa::KeyError;
use crate::proto::mtproto::secret::{MtprotoSecret, SecretMode};
use crate::proxy::{ProxyKind, ProxySpec};

/// The TLS canary's name.
pub const TLS_CANARY: &str = "tls.lab.test";
/// The plain-HTTP canary's name.
pub const HTTP_CANARY: &str = "http.lab.test";
/// The judge's name.
pub const JUDGE: &str = "judge.lab.test";
/// The impostor origin the DNS-lying proxy sends the TLS canary's name to.
pub const IMPOSTOR: &str = "impostor.lab.test";
/// File name of the lab CA next to the written profile.
pub const CA_FILE: &str = "lab-ca.pem";
/// File name of the lab datacenter's public key next to the written profile.
pub const DC_KEY_FILE: &str = "lab-dc.pub.pem";
/// The domain the lab's FakeTLS proxies imitate.
pub const FRONTED: &str = "fronted.lab.test";
/// The popular site one lab FakeTLS proxy poses as, from an address that is not the site's.
pub const POSED: &str = "popular.lab.test";
/// Where the lab profile's `[hosts]` says [`POSED`] lives: a loopback address no lab server
/// listens on, and that nothing connects to (only the `camouflage` check compares it).
const POSED_ADDRESS: &str = "127.0.0.2";
/// A secret published as a default (the `tg` user of alexbers/mtprotoproxy's `config.py`,
/// listed in `rules/default-secrets.toml`), behind a `dd` prefix: matching is on the key
/// alone.
const PUBLISHED_SECRET: &str = "dd00000000000000000000000000000001";

/// What the plain-HTTP canary serves.
const HTTP_CANARY_BODY: &[u8] = b"success\n";
/// What the TLS canary serves.
const TLS_CANARY_BODY: &[u8] = b"<html><body>proxy-audit lab canary</body></html>\n";
/// What the impostor serves.
const IMPOSTOR_BODY: &[u8] = b"<html><body>not the canary</body></html>\n";
/// What the injecting proxy adds to text bodies.
const INJECTED: &str = "<script src=\"http://ads.lab.test/track.js\"></script>";

/// Lab settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct LabOptions {
    /// Extra endpoints, each on its own port (for benchmarks), split by `mix`.
    pub scale: usize,
    /// How the `scale` endpoints split into live proxies, refused ports and blackholes.
    pub mix: scale::Mix,
    /// The first `scale` endpoint's loopback address [default: `127.1.0.1`]; each next one
    /// listens on the next address.
    pub bind: Option<IpAddr>,
    /// Extra honest MTProto proxies (`dd` secrets, relaying to the lab datacenter).
    pub mtproto_scale: usize,
}

/// One lab proxy as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabProxy {
    /// Short name (`honest-socks5`, `tarpit`, …).
    pub name: String,
    /// What it does, in a sentence.
    pub about: &'static str,
    /// The proxy.
    pub spec: ProxySpec,
}

/// Why the lab could not start.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A port could not be bound.
    #[error("cannot listen on loopback: {0}")]
    Io(#[from] io::Error),
    /// A certificate could not be made.
    #[error("cannot make the lab certificates: {0}")]
    Certificate(#[from] rcgen::Error),
    /// A lab datacenter key did not load.
    #[error("cannot load the lab datacenter keys: {0}")]
    Key(#[from] KeyError),
}

/// A running lab. Dropping it stops every server.
pub struct Lab {
    /// The proxies, in list order.
    proxies: Vec<LabProxy>,
    /// The lab CA (PEM), which signs the canary's certificate.
    ca_pem: String,
    /// The lab datacenter's public key (PEM), which the lab profile trusts.
    dc_key_pem: String,
    /// The profile pointing at the lab's origins.
    profile_toml: String,
    /// The same profile with IP literals instead of `*.lab.test` names, for third-party
    /// proxies that resolve names with the system resolver.
    profile_by_address_toml: String,
    /// Bytes written by the streaming hostile endpoints, by proxy name.
    sent: HashMap<String, Arc<AtomicU64>>,
    /// The TLS site for [`FRONTED`] and [`POSED`] that FakeTLS proxies mask to.
    fronted_site: SocketAddr,
    /// The lab's Telegram datacenter (trusted by the lab profile).
    datacenter: SocketAddr,
    /// Every server task.
    tasks: JoinSet<()>,
}

/// Loopback, where everything in the lab listens.
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Binds a loopback port chosen by the OS (with a deep accept queue: [`scale::listener`]).
fn bind() -> io::Result<(TcpListener, SocketAddr)> {
    scale::listener(LOOPBACK)
}

/// Where the lab's proxies listen: each on a loopback address of its own (127.0.1.1,
/// 127.0.1.2, …), as real proxies are on distinct hosts; the audit lets only `--per-host`
/// entries of one host run at once. (The origins and datacenters stay on 127.0.0.1.) Where
/// 127.0.0.1 is the only loopback address (macOS), every proxy shares it.
#[derive(Debug, Default)]
struct ProxyHosts {
    /// Addresses handed out so far.
    used: u32,
    /// Set once a second loopback address could not be bound.
    shared: bool,
}

impl ProxyHosts {
    /// The first proxy's address.
    const FIRST: Ipv4Addr = Ipv4Addr::new(127, 0, 1, 1);

    /// A listener on the next proxy address, port chosen by the OS.
    fn bind(&mut self) -> io::Result<(TcpListener, SocketAddr)> {
        if !self.shared {
            let ip = Ipv4Addr::from(u32::from(Self::FIRST).saturating_add(self.used));
            self.used += 1;
            match scale::listener(IpAddr::V4(ip)) {
                Err(error) if error.kind() == io::ErrorKind::AddrNotAvailable => {
                    self.shared = true;
                }
                bound => return bound,
            }
        }
        bind()
    }
}

impl Lab {
    /// Starts every lab server.
    pub async fn start(options: LabOptions) -> Result<Self, LabError> {
        let mut tasks = JoinSet::new();
        let ca = LabCa::new("proxy-audit lab CA", "proxy-audit lab")?;

        // Origins.
        let (listener, tls_addr) = bind()?;
        let config = ca.server_config(&[TLS_CANARY, "127.0.0.1"])?;
        tasks.spawn(origins::serve_tls_origin(listener, config, TLS_CANARY_BODY));
        let (listener, impostor_addr) = bind()?;
        let config = ca.server_config(&[IMPOSTOR])?;
        tasks.spawn(origins::serve_tls_origin(listener, config, IMPOSTOR_BODY));
        let (listener, http_addr) = bind()?;
        tasks.spawn(origins::serve_http_canary(listener, HTTP_CANARY_BODY));
        let (listener, judge_addr) = bind()?;
        tasks.spawn(origins::serve_judge(listener));
        let (listener, fronted_addr) = bind()?;
        let config = ca.server_config(&[FRONTED, POSED])?;
        tasks.spawn(origins::serve_tls_origin(listener, config, TLS_CANARY_BODY));

        // Telegram datacenters: the lab's (trusted by the lab profile) and an impostor.
        let dc_key = fake_dc::lab_dc_key()?;
        let dc_key_pem = dc_key.public_pem()?;
        let (listener, dc_addr) = bind()?;
        tasks.spawn(fake_dc::serve_fake_dc(listener, Arc::new(dc_key)));
        let (listener, impostor_dc_addr) = bind()?;
        tasks.spawn(fake_dc::serve_fake_dc(
            listener,
            Arc::new(fake_dc::impostor_dc_key()?),
        ));

        let mut hosts = ProxyHosts::default();
        let router = Arc::new(Router {
            names: [TLS_CANARY, HTTP_CANARY, JUDGE, IMPOSTOR]
                .into_iter()
                .map(|name| (name.to_owned(), LOOPBACK))
                .collect::<HashMap<_, _>>(),
        });

        let mut proxies = Vec::new();
        let mut add = |name: &str, about: &'static str, spec: ProxySpec| {
            proxies.push(LabProxy {
                name: name.to_owned(),
                about,
                spec,
            });
        };
        let socks5 = |addr: SocketAddr, user: Option<(&str, &str)>| ProxySpec {
            kind: ProxyKind::Socks5,
            host: addr.ip().to_string(),
            port: addr.port(),
            secret: None,
            username: user.map(|(u, _)| u.to_owned()),
            password: user.map(|(_, p)| p.to_owned()),
        };
        let of_kind = |kind: ProxyKind, addr: SocketAddr| ProxySpec {
            kind,
            ..socks5(addr, None)
        };

        let mut socks5_proxy = async |behaviour: Socks5Behaviour| -> io::Result<SocketAddr> {
            let (listener, addr) = hosts.bind()?;
            tasks.spawn(socks::serve_socks5(
                listener,
                Arc::new(behaviour),
                Arc::clone(&router),
            ));
            Ok(addr)
        };
        let addr = socks5_proxy(Socks5Behaviour::Honest).await?;
        add(
            "honest-socks5",
            "honest SOCKS5 proxy without authentication",
            socks5(addr, None),
        );
        let (user, pass) = ("alice", "correct-horse");
        let addr = socks5_proxy(Socks5Behaviour::Auth {
            username: user.to_owned(),
            password: pass.to_owned(),
        })
        .await?;
        add(
            "honest-socks5-auth",
            "honest SOCKS5 proxy that checks its password",
            socks5(addr, Some((user, pass))),
        );
        let addr = socks5_proxy(Socks5Behaviour::AnyPassword {
            username: "bob".to_owned(),
            password: "hunter2".to_owned(),
        })
        .await?;
        add(
            "harvesting-socks5",
            "SOCKS5 proxy that accepts any password (collects credentials)",
            socks5(addr, Some(("bob", "hunter2"))),
        );
        let interceptor = Interceptor::new(LabCa::new("Qaznet Trust Network", "proxy-audit lab")?);
        let addr = socks5_proxy(Socks5Behaviour::Intercept(Arc::new(interceptor))).await?;
        add(
            "intercepting-socks5",
            "SOCKS5 proxy that replaces TLS certificates (like Kazakhstan's 2019 Qaznet CA)",
            socks5(addr, None),
        );
        let addr = socks5_proxy(Socks5Behaviour::LyingDns {
            name: TLS_CANARY.to_owned(),
            to: impostor_addr,
        })
        .await?;
        add(
            "lying-dns-socks5",
            "SOCKS5 proxy that sends a site's name to an impostor server",
            socks5(addr, None),
        );
        let addr = socks5_proxy(Socks5Behaviour::BreakTls).await?;
        add(
            "tls-breaking-socks5",
            "SOCKS5 proxy that resets every TLS connection (HTTPS does not work through it)",
            socks5(addr, None),
        );

        let (listener, addr) = hosts.bind()?;
        tasks.spawn(socks::serve_socks4(listener, Arc::clone(&router)));
        add(
            "honest-socks4",
            "honest SOCKS4 proxy",
            of_kind(ProxyKind::Socks4, addr),
        );
        for (name, about, behaviour) in [
            (
                "honest-http",
                "honest HTTP proxy (CONNECT and plain requests)",
                HttpBehaviour::Honest,
            ),
            (
                "injecting-http",
                "HTTP proxy that injects a script into pages",
                HttpBehaviour::Inject(INJECTED),
            ),
            (
                "leaking-http",
                "HTTP proxy that tells sites the client's address (X-Forwarded-For)",
                HttpBehaviour::AddForwardedFor,
            ),
            (
                "announcing-http",
                "honest HTTP proxy that tells sites a proxy is in the path (Via), not who",
                HttpBehaviour::AddVia,
            ),
        ] {
            let (listener, addr) = hosts.bind()?;
            tasks.spawn(http_proxy::serve_http_proxy(
                listener,
                Arc::new(behaviour),
                Arc::clone(&router),
            ));
            add(name, about, of_kind(ProxyKind::Http, addr));
        }

        let mtproto = |addr: SocketAddr, secret: &MtprotoSecret| ProxySpec {
            kind: ProxyKind::Mtproto,
            secret: Some(secret.clone()),
            ..socks5(addr, None)
        };
        let published = MtprotoSecret::decode(PUBLISHED_SECRET)
            .map_err(|error| LabError::Io(io::Error::other(error.to_string())))?;
        let honest = MtproxyBehaviour::Honest {
            mask_to: None,
            replay_protection: true,
        };
        for (name, about, secret, behaviour, dc) in [
            (
                "honest-mtproto-ee",
                "honest FakeTLS MTProto proxy: masks other clients to the real site, refuses replays",
                random_secret(SecretMode::Ee, FRONTED)?,
                MtproxyBehaviour::Honest {
                    mask_to: Some(fronted_addr),
                    replay_protection: true,
                },
                dc_addr,
            ),
            (
                "honest-mtproto-dd",
                "honest MTProto proxy with a dd secret",
                random_secret(SecretMode::Dd, FRONTED)?,
                honest.clone(),
                dc_addr,
            ),
            (
                "default-secret-mtproto",
                "MTProto proxy running the default secret from a server's example config",
                published,
                honest.clone(),
                dc_addr,
            ),
            (
                "posing-mtproto-ee",
                "FakeTLS MTProto proxy posing as a popular site that lives at another address",
                random_secret(SecretMode::Ee, POSED)?,
                MtproxyBehaviour::Honest {
                    mask_to: Some(fronted_addr),
                    replay_protection: true,
                },
                dc_addr,
            ),
            (
                "weak-mtproto",
                "MTProto proxy with a plain secret and no replay protection",
                random_secret(SecretMode::Plain, FRONTED)?,
                MtproxyBehaviour::Honest {
                    mask_to: None,
                    replay_protection: false,
                },
                dc_addr,
            ),
            (
                "fake-telegram",
                "MTProto proxy relaying to an impostor datacenter, not Telegram",
                random_secret(SecretMode::Dd, FRONTED)?,
                honest,
                impostor_dc_addr,
            ),
            (
                "broken-faketls",
                "FakeTLS MTProto proxy whose answer does not prove it holds the secret",
                random_secret(SecretMode::Ee, FRONTED)?,
                MtproxyBehaviour::BrokenHmac,
                dc_addr,
            ),
            (
                "closing-mtproto",
                "MTProto proxy that accepts the connection and closes it",
                random_secret(SecretMode::Dd, FRONTED)?,
                MtproxyBehaviour::CloseAfterAccept,
                dc_addr,
            ),
        ] {
            let (listener, addr) = hosts.bind()?;
            tasks.spawn(mtproxy::serve_mtproxy(
                listener,
                secret.clone(),
                Arc::new(behaviour),
                dc,
            ));
            add(name, about, mtproto(addr, &secret));
        }

        let (_, closed) = hosts.bind()?;
        add(
            "closed-port",
            "nothing listens here any more",
            socks5(closed, None),
        );
        let mut sent = HashMap::new();
        for (name, about, kind, proxy_kind) in [
            (
                "tarpit",
                "accepts and never answers",
                Hostile::Tarpit,
                ProxyKind::Socks5,
            ),
            (
                "slow-drip",
                "answers one byte per second",
                Hostile::Drip,
                ProxyKind::Socks5,
            ),
            (
                "endless",
                "answers with an endless stream",
                Hostile::Endless,
                ProxyKind::Socks5,
            ),
            (
                "garbage",
                "answers with garbage",
                Hostile::Garbage,
                ProxyKind::Socks5,
            ),
            (
                "reset",
                "resets the connection after the greeting",
                Hostile::ResetAfterGreeting,
                ProxyKind::Socks5,
            ),
            (
                "huge-reply",
                "HTTP proxy answering every request with a 100 MB body",
                Hostile::HugeReply,
                ProxyKind::Http,
            ),
            (
                "header-bomb",
                "HTTP proxy answering with header fields that never end",
                Hostile::HeaderBomb,
                ProxyKind::Http,
            ),
            (
                "socks-huge-address",
                "SOCKS5 proxy replying with a 255-byte address, then an endless stream",
                Hostile::SocksHugeAddress,
                ProxyKind::Socks5,
            ),
        ] {
            let (listener, addr) = hosts.bind()?;
            let counter = Arc::new(AtomicU64::new(0));
            sent.insert(name.to_owned(), Arc::clone(&counter));
            tasks.spawn(hostile::serve_hostile(listener, kind, counter));
            add(name, about, of_kind(proxy_kind, addr));
        }
        let (listener, long_chain_addr) = bind()?;
        let config = hostile::long_chain_config(&[TLS_CANARY, "127.0.0.1"])?;
        tasks.spawn(origins::serve_tls_origin(listener, config, TLS_CANARY_BODY));
        let (listener, addr) = hosts.bind()?;
        tasks.spawn(socks::serve_socks5(
            listener,
            Arc::new(Socks5Behaviour::RedirectPort {
                port: tls_addr.port(),
                to: long_chain_addr,
            }),
            Arc::clone(&router),
        ));
        add(
            "tls-long-chain",
            "SOCKS5 proxy sending TLS to a server with a 1,000-certificate chain",
            socks5(addr, None),
        );
        let secret = random_secret(SecretMode::Ee, FRONTED)?;
        let (listener, addr) = hosts.bind()?;
        tasks.spawn(hostile::serve_faketls_bad_lengths(listener, secret.clone()));
        add(
            "faketls-bad-lengths",
            "FakeTLS MTProto proxy whose answer announces more bytes than it sends",
            mtproto(addr, &secret),
        );
        let secret = random_secret(SecretMode::Dd, FRONTED)?;
        let (listener, addr) = hosts.bind()?;
        let counter = Arc::new(AtomicU64::new(0));
        sent.insert("mtproto-endless".to_owned(), Arc::clone(&counter));
        tasks.spawn(hostile::serve_mtproto_endless(
            listener,
            secret.clone(),
            counter,
        ));
        add(
            "mtproto-endless",
            "MTProto proxy answering the handshake with an answer that never ends",
            mtproto(addr, &secret),
        );
        let scale_ip = scale::check_bind(options.bind.unwrap_or(scale::DEFAULT_BIND))?;
        let mut held = (Vec::new(), Vec::new());
        for (index, kind) in options.mix.sequence(options.scale).enumerate() {
            let ip = scale::nth_address(scale_ip, index)?;
            let addr = match kind {
                scale::Kind::Live => {
                    let (listener, addr) = scale::listener(ip)?;
                    tasks.spawn(socks::serve_socks5(
                        listener,
                        Arc::new(Socks5Behaviour::Honest),
                        Arc::clone(&router),
                    ));
                    addr
                }
                scale::Kind::Refused => {
                    let (socket, addr) = scale::refused(ip)?;
                    held.0.push(socket);
                    addr
                }
                scale::Kind::Blackhole => {
                    let (listener, addr) = scale::blackhole(ip)?;
                    held.1.push(listener);
                    addr
                }
            };
            add(
                &format!("scale-{}-{index}", kind.name()),
                kind.about(),
                socks5(addr, None),
            );
        }
        // Refused ports and blackholes do nothing but exist, for as long as the lab runs.
        tasks.spawn(async move {
            let _held = held;
            std::future::pending::<()>().await;
        });

        for index in 0..options.mtproto_scale {
            let secret = random_secret(SecretMode::Dd, FRONTED)?;
            let (listener, addr) = hosts.bind()?;
            tasks.spawn(mtproxy::serve_mtproxy(
                listener,
                secret.clone(),
                Arc::new(MtproxyBehaviour::Honest {
                    mask_to: None,
                    replay_protection: true,
                }),
                dc_addr,
            ));
            add(
                &format!("mtproto-scale-{index}"),
                "honest MTProto proxy (scale)",
                mtproto(addr, &secret),
            );
        }

        let ports = Ports {
            tls: tls_addr.port(),
            http: http_addr.port(),
            judge: judge_addr.port(),
            dc: dc_addr.port(),
        };
        // The fronted domain lives where its proxies are (and its site, on 127.0.0.1): the
        // `camouflage` check compares the two.
        let fronted_at: Vec<String> = std::iter::once(LOOPBACK.to_string())
            .chain(
                proxies
                    .iter()
                    .filter(|proxy| {
                        proxy
                            .spec
                            .secret
                            .as_ref()
                            .and_then(MtprotoSecret::faketls_domain)
                            == Some(FRONTED)
                    })
                    .map(|proxy| proxy.spec.host.clone()),
            )
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let profile = |by_address| profile_toml(ports, &fronted_at, by_address);
        Ok(Self {
            proxies,
            ca_pem: ca.cert_pem(),
            dc_key_pem,
            profile_toml: profile(false),
            profile_by_address_toml: profile(true),
            sent,
            fronted_site: fronted_addr,
            datacenter: dc_addr,
            tasks,
        })
    }

    /// Where the TLS site for the lab's FakeTLS domains listens (third-party proxies under
    /// test mask to it).
    pub fn fronted_site(&self) -> SocketAddr {
        self.fronted_site
    }

    /// Where the lab's Telegram datacenter listens (third-party proxies under test relay
    /// to it).
    pub fn datacenter(&self) -> SocketAddr {
        self.datacenter
    }

    /// The lab's proxies, in list order.
    pub fn proxies(&self) -> &[LabProxy] {
        &self.proxies
    }

    /// The proxy list: each link after a comment saying what the proxy does.
    pub fn list(&self) -> String {
        let mut list = String::from("# proxy-audit lab: every proxy below runs on this machine\n");
        for proxy in &self.proxies {
            let _ = writeln!(
                list,
                "# {}: {}\n{}",
                proxy.name,
                proxy.about,
                proxy.spec.to_link()
            );
        }
        list
    }

    /// Bytes the streaming hostile endpoint `name` has written so far (`huge-reply`,
    /// `header-bomb`, `socks-huge-address`, `endless`, `mtproto-endless`, and the
    /// socket-level ones, which write little or nothing): an upper bound of what its clients
    /// took. `None` for other names.
    pub fn bytes_sent(&self, name: &str) -> Option<u64> {
        self.sent
            .get(name)
            .map(|counter| counter.load(Ordering::Relaxed))
    }

    /// The lab CA certificate (PEM); the profile names it [`CA_FILE`].
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The lab datacenter's public key (PEM); the profile names it [`DC_KEY_FILE`].
    pub fn dc_key_pem(&self) -> &str {
        &self.dc_key_pem
    }

    /// The lab profile (TOML); its roots file is [`CA_FILE`].
    pub fn profile_toml(&self) -> &str {
        &self.profile_toml
    }

    /// The lab profile, loaded.
    pub fn profile(&self) -> Result<Profile, ProfileError> {
        self.load(&self.profile_toml)
    }

    /// A lab profile with IP literals in place of names, for auditing third-party proxies
    /// (they resolve names with the system resolver, which does not know `*.lab.test`).
    pub fn profile_by_address(&self) -> Result<Profile, ProfileError> {
        self.load(&self.profile_by_address_toml)
    }

    /// Loads profile text that may name the lab's CA and datacenter key files (for a
    /// profile edited from [`Lab::profile_toml`]).
    pub fn load(&self, text: &str) -> Result<Profile, ProfileError> {
        Profile::from_toml(text, "lab", |name| {
            if name == CA_FILE {
                Ok(self.ca_pem.as_bytes().to_vec())
            } else if name == DC_KEY_FILE {
                Ok(self.dc_key_pem.as_bytes().to_vec())
            } else {
                Err(io::Error::new(io::ErrorKind::NotFound, name.to_owned()))
            }
        })
    }

    /// Runs until `shutdown` completes, then stops every server.
    pub async fn run_until(mut self, shutdown: impl Future<Output = ()>) {
        shutdown.await;
        self.tasks.shutdown().await;
    }
}

/// Ports of the origins a profile points at.
#[derive(Debug, Clone, Copy)]
struct Ports {
    /// TLS canary.
    tls: u16,
    /// Plain-HTTP canary.
    http: u16,
    /// Judge.
    judge: u16,
    /// The lab's Telegram datacenter.
    dc: u16,
}

/// A fresh random secret of `mode` (FakeTLS secrets imitate `domain`).
fn random_secret(mode: SecretMode, domain: &str) -> Result<MtprotoSecret, LabError> {
    let mut bytes = match mode {
        SecretMode::Plain => Vec::new(),
        SecretMode::Dd => vec![0xdd],
        SecretMode::Ee => vec![0xee],
    };
    bytes.extend_from_slice(&rand::random::<[u8; 16]>());
    if mode == SecretMode::Ee {
        bytes.extend_from_slice(domain.as_bytes());
    }
    MtprotoSecret::from_bytes(bytes)
        .map_err(|error| LabError::Io(io::Error::other(error.to_string())))
}

/// The lab profile: names (resolved by the proxies) or IP literals.
fn profile_toml(ports: Ports, fronted_at: &[String], by_address: bool) -> String {
    let host = |name: &'static str| if by_address { "127.0.0.1" } else { name };
    let sha = to_hex(&Sha256::digest(HTTP_CANARY_BODY));
    format!(
        "# The lab profile: written by `proxy-audit lab`, valid while that lab runs.\n\
         name = \"lab\"\n\n\
         [[tls_canary]]\n\
         name = \"lab-tls\"\n\
         host = \"{tls_host}\"\n\
         port = {tls}\n\
         address = \"127.0.0.1\"\n\
         roots = \"{CA_FILE}\"\n\n\
         [[http_canary]]\n\
         name = \"lab-http\"\n\
         url = \"http://{http_host}:{http}/success.txt\"\n\
         sha256 = \"{sha}\"\n\n\
         [judge]\n\
         url = \"http://{judge_host}:{judge}/\"\n\n\
         # The auditor resolves the lab's names itself (for reference fetches).\n\
         [hosts]\n\
         \"{TLS_CANARY}\" = \"127.0.0.1\"\n\
         \"{HTTP_CANARY}\" = \"127.0.0.1\"\n\
         \"{JUDGE}\" = \"127.0.0.1\"\n\
         # FakeTLS domains: the honest proxies' own, and a site one of them poses as.\n\
         \"{FRONTED}\" = [{fronted_at}]\n\
         \"{POSED}\" = \"{POSED_ADDRESS}\"\n\n\
         # The lab's Telegram datacenter and the key that proves it.\n\
         [telegram]\n\
         dc = [{{ id = 2, address = \"127.0.0.1:{dc}\" }}]\n\
         rsa_public_keys = [\"{DC_KEY_FILE}\"]\n\
         fronting_roots = \"{CA_FILE}\"\n",
        tls_host = host(TLS_CANARY),
        tls = ports.tls,
        http_host = host(HTTP_CANARY),
        http = ports.http,
        judge_host = host(JUDGE),
        judge = ports.judge,
        dc = ports.dc,
        fronted_at = fronted_at
            .iter()
            .map(|ip| format!("\"{ip}\""))
            .collect::<Vec<_>>()
            .join(", "),
    )
}
