//! The lab: honest and malicious proxies and the origins they lead to, all on loopback.
//!
//! Trainers run it to show a class what a malicious proxy does (`proxy-audit lab`,
//! `proxy-audit demo`); the integration tests audit it. Every server binds `127.0.0.1:0`
//! and reports the port the OS chose. Proxies only ever connect to the lab's own names
//! (`*.lab.test`, resolved by `route::Router`) and loopback addresses, so the lab makes no
//! traffic off the machine.
//!
//! - [`ca`]: the lab CA that signs the canary's certificate, and the interceptor's CA.
//! - [`origins`]: the TLS canary, the plain-HTTP canary, the judge.
//! - [`socks`], `http_proxy`: proxies with one behaviour each; [`intercept`]: TLS
//!   interception for the intercepting proxy.
//! - [`hostile`]: endpoints that misbehave at the socket or protocol level (tarpit, drip,
//!   endless streams, a 100 MB reply, a header bomb, a huge SOCKS address, a 1,000-certificate
//!   chain, a FakeTLS answer with wrong lengths, an MTProto answer that never ends).
//!
//! The lab's proxies are one table (`roles` in this file): a row per proxy with its name,
//! what it does, the server behind it with its behaviour, and how it is listed (kind and
//! credentials). [`Lab::start`] starts the origins, then each row in order, each proxy on a
//! loopback address of its own. A new lab behaviour is one row plus its server code.

pub mod ca;
pub(crate) mod dc_session;
pub mod fake_dc;
pub mod hostile;
pub(crate) mod http_proxy;
pub mod intercept;
pub(crate) mod mtproxy;
pub mod origins;
mod roles;
pub(crate) mod route;
pub(crate) mod scale;
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
use self::roles::{Backends, Held, Starting, roles};
use self::route::Router;
use crate::config::{Profile, ProfileError};
use crate::proto::hex::to_hex;
use crate::proto::mtproto::rsa::KeyError;
use crate::proto::mtproto::secret::{MtprotoSecret, SecretMode};
use crate::proxy::ProxySpec;

/// The TLS canary's name.
pub(crate) const TLS_CANARY: &str = "tls.lab.test";
/// The plain-HTTP canary's name.
pub(crate) const HTTP_CANARY: &str = "http.lab.test";
/// The judge's name.
pub(crate) const JUDGE: &str = "judge.lab.test";
/// The impostor origin the DNS-lying proxy sends the TLS canary's name to.
pub(crate) const IMPOSTOR: &str = "impostor.lab.test";
/// File name of the lab CA next to the written profile.
pub(crate) const CA_FILE: &str = "lab-ca.pem";
/// File name of the lab datacenter's public key next to the written profile.
pub(crate) const DC_KEY_FILE: &str = "lab-dc.pub.pem";
/// The domain the lab's FakeTLS proxies imitate.
pub const FRONTED: &str = "fronted.lab.test";
/// The popular site one lab FakeTLS proxy poses as, from an address that is not the site's.
pub(crate) const POSED: &str = "popular.lab.test";
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
    /// Starts every lab server: the origins and datacenters (`Backends`), then each lab
    /// proxy of the roles table (`roles`), in list order.
    #[expect(
        clippy::unused_async,
        reason = "public API: callers await the start, which may come to wait for a server"
    )]
    pub async fn start(options: LabOptions) -> Result<Self, LabError> {
        let mut tasks = JoinSet::new();
        let ca = LabCa::new("proxy-audit lab CA", "proxy-audit lab")?;
        let backends = Backends::start(&ca, &mut tasks)?;
        let mut starting = Starting {
            tasks,
            hosts: ProxyHosts::default(),
            router: Arc::new(Router {
                names: [TLS_CANARY, HTTP_CANARY, JUDGE, IMPOSTOR]
                    .into_iter()
                    .map(|name| (name.to_owned(), LOOPBACK))
                    .collect::<HashMap<_, _>>(),
            }),
            sent: HashMap::new(),
            held: Held::default(),
        };
        let mut proxies = Vec::new();
        for role in roles(&backends, options)? {
            proxies.push(role.start(&mut starting)?);
        }
        let Starting {
            mut tasks,
            sent,
            held,
            ..
        } = starting;
        // Refused ports and blackholes do nothing but exist, for as long as the lab runs.
        tasks.spawn(async move {
            let _held = held;
            std::future::pending::<()>().await;
        });

        let ports = Ports {
            tls: backends.tls.port(),
            http: backends.http.port(),
            judge: backends.judge.port(),
            dc: backends.dc.port(),
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
            dc_key_pem: backends.dc_key_pem,
            profile_toml: profile(false),
            profile_by_address_toml: profile(true),
            sent,
            fronted_site: backends.fronted,
            datacenter: backends.dc,
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
    pub(crate) fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The lab datacenter's public key (PEM); the profile names it [`DC_KEY_FILE`].
    pub(crate) fn dc_key_pem(&self) -> &str {
        &self.dc_key_pem
    }

    /// The lab profile (TOML); its roots file is `CA_FILE`.
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
    pub(crate) async fn run_until(mut self, shutdown: impl Future<Output = ()>) {
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
