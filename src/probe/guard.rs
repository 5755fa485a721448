//! The address guard: which entries may be contacted at all.
//!
//! A proxy list can point the auditor at its own machine or network (`127.0.0.1`,
//! `192.168.1.1`, `169.254.169.254` — a cloud metadata service). Such targets are refused
//! with `private_address` and never contacted unless `--allow-private` is given. A host name
//! is resolved by the auditor and the guard applies again to every address it resolves to,
//! so a public-looking name that points at loopback is refused too.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::OnceCell;

use crate::model::{Code, Finding};
use crate::policy::destination::{self, Refusal};
use crate::proto::ipv4::parse_lenient_ipv4;

/// How the auditor turns names into addresses.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    /// Names answered from this table (the profile's `[hosts]`) before asking the system.
    pub static_hosts: BTreeMap<String, Vec<IpAddr>>,
}

impl Resolver {
    /// Resolves `host` (an IP literal or a name) with the port, bounded by `step`.
    pub async fn resolve(
        &self,
        host: &str,
        port: u16,
        step: Duration,
    ) -> Result<Vec<SocketAddr>, String> {
        if let Some(ip) = literal_ip(host) {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        if let Some(addresses) = self.static_hosts.get(&host.to_ascii_lowercase()) {
            // An empty entry says the name does not exist.
            if addresses.is_empty() {
                return Err(format!("{host} has no address (the profile's [hosts])"));
            }
            return Ok(addresses
                .iter()
                .map(|&ip| SocketAddr::new(ip, port))
                .collect());
        }
        match tokio::time::timeout(step, tokio::net::lookup_host((host, port))).await {
            Ok(Ok(addresses)) => {
                let addresses: Vec<SocketAddr> = addresses.collect();
                if addresses.is_empty() {
                    Err(format!("{host} has no address"))
                } else {
                    Ok(addresses)
                }
            }
            Ok(Err(error)) => Err(format!("cannot resolve {host}: {error}")),
            Err(_) => Err(format!(
                "resolving {host} timed out after {}",
                crate::probe::budget::human_duration(step)
            )),
        }
    }
}

/// Names resolved at most once per run, for the names many entries share (FakeTLS
/// domains: a list often holds thousands of `ee` links for a handful of sites, and each
/// system lookup would take a thread of tokio's blocking pool). Answers are kept; failures
/// are not, so the next entry asks again. At most [`NameCache::CAPACITY`] names are kept;
/// past that, lookups go straight to the resolver.
#[derive(Debug, Default)]
pub(crate) struct NameCache {
    /// How names are resolved.
    resolver: Resolver,
    /// One cell per name (lower case), filled by the first lookup that succeeds.
    entries: Mutex<HashMap<String, Arc<OnceCell<Vec<IpAddr>>>>>,
    /// Lookups made so far (cache misses).
    lookups: AtomicUsize,
}

impl NameCache {
    /// Most names kept.
    pub(crate) const CAPACITY: usize = 4096;

    /// An empty cache over `resolver`.
    pub fn new(resolver: Resolver) -> Self {
        Self {
            resolver,
            ..Self::default()
        }
    }

    /// The addresses of `name`, from the cache or a lookup bounded by `step`.
    pub async fn resolve(&self, name: &str, step: Duration) -> Result<Vec<IpAddr>, String> {
        let key = name.to_ascii_lowercase();
        let cell = {
            let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            match entries.get(&key) {
                Some(cell) => Some(Arc::clone(cell)),
                None if entries.len() < Self::CAPACITY => {
                    let cell = Arc::new(OnceCell::new());
                    entries.insert(key, Arc::clone(&cell));
                    Some(cell)
                }
                None => None,
            }
        };
        let lookup = || async {
            self.lookups.fetch_add(1, Ordering::Relaxed);
            let addresses = self.resolver.resolve(name, 0, step).await?;
            Ok(addresses.iter().map(SocketAddr::ip).collect())
        };
        match cell {
            Some(cell) => cell.get_or_try_init(lookup).await.cloned(),
            None => lookup().await,
        }
    }

    /// The resolver behind the cache, for lookups that are not cached (each proxy's own
    /// host).
    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    /// Lookups made so far: names asked for that were not in the cache.
    #[cfg(test)]
    pub(crate) fn lookups(&self) -> usize {
        self.lookups.load(Ordering::Relaxed)
    }
}

/// An IP literal as hosts are normalised (IPv6 without brackets), IPv4 read leniently.
pub(crate) fn literal_ip(host: &str) -> Option<IpAddr> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>()
        .ok()
        .or_else(|| parse_lenient_ipv4(bare).map(IpAddr::V4))
}

/// What the guard decided for one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Contact the proxy at this address (the first the name resolved to).
    Allowed {
        /// Where to connect.
        addr: SocketAddr,
        /// Every address the host resolved to, for the report.
        resolved: Vec<SocketAddr>,
    },
    /// Never contact it.
    Refused(Finding),
    /// The name does not resolve: the proxy is unreachable.
    Unresolvable(Finding),
}

/// Applies the guard to `host:port`: before resolution (names such as `localhost`, literal
/// addresses) and after it (every resolved address), as [`destination::check`] decides.
pub async fn check(
    host: &str,
    port: u16,
    allow_private: bool,
    resolver: &Resolver,
    step: Duration,
) -> Decision {
    let resolve = || resolver.resolve(host, port, step);
    match destination::check(host, allow_private, resolve).await {
        Ok(addresses) => match addresses.first() {
            Some(&addr) => Decision::Allowed {
                addr,
                resolved: addresses,
            },
            None => Decision::Unresolvable(Finding::new(
                Code::Unreachable,
                [("reason", format!("{host} has no address"))],
            )),
        },
        Err(Refusal::Private { address, class }) => Decision::Refused(Finding::new(
            Code::PrivateAddress,
            [
                ("address", address),
                ("class", class.as_str().to_owned()),
                ("hint", "pass --allow-private to probe it anyway".to_owned()),
            ],
        )),
        Err(Refusal::Unresolvable(reason)) => {
            Decision::Unresolvable(Finding::new(Code::Unreachable, [("reason", reason)]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver(name: &str, ips: &[&str]) -> Resolver {
        let mut static_hosts = BTreeMap::new();
        static_hosts.insert(
            name.to_owned(),
            ips.iter().map(|ip| ip.parse().unwrap()).collect(),
        );
        Resolver { static_hosts }
    }

    fn refused_class(decision: &Decision) -> Option<String> {
        match decision {
            Decision::Refused(finding) => {
                assert_eq!(finding.code, Code::PrivateAddress);
                finding.evidence.get("class").cloned()
            }
            _ => None,
        }
    }

    const STEP: Duration = Duration::from_secs(1);

    #[tokio::test]
    async fn literal_private_addresses_are_refused_without_lookup() {
        let none = Resolver::default();
        for (host, class) in [
            ("127.0.0.1", "loopback"),
            ("10.1.2.3", "private"),
            ("169.254.169.254", "link_local"),
            ("::1", "loopback"),
            ("localhost", "loopback"),
            ("2130706433", "loopback"),
        ] {
            let decision = check(host, 1080, false, &none, STEP).await;
            assert_eq!(refused_class(&decision).as_deref(), Some(class), "{host}");
        }
    }

    #[tokio::test]
    async fn a_public_name_resolving_to_loopback_or_metadata_is_refused() {
        for ip in ["127.0.0.1", "169.254.169.254"] {
            let resolver = resolver("innocent.example", &["8.8.8.8", ip]);
            let decision = check("innocent.example", 1080, false, &resolver, STEP).await;
            assert!(refused_class(&decision).is_some(), "{ip}: {decision:?}");
        }
    }

    #[tokio::test]
    async fn allow_private_lets_loopback_through() {
        let resolver = resolver("lab.test", &["127.0.0.1"]);
        let decision = check("lab.test", 1080, true, &resolver, STEP).await;
        assert_eq!(
            decision,
            Decision::Allowed {
                addr: "127.0.0.1:1080".parse().unwrap(),
                resolved: vec!["127.0.0.1:1080".parse().unwrap()],
            }
        );
    }

    #[tokio::test]
    async fn public_addresses_pass() {
        let decision = check("8.8.8.8", 53, false, &Resolver::default(), STEP).await;
        assert!(matches!(decision, Decision::Allowed { .. }), "{decision:?}");
    }

    #[tokio::test]
    async fn a_shared_name_is_looked_up_once_and_failures_are_asked_again() {
        let mut table = resolver("site.example", &["192.0.2.7", "2001:db8::7"]);
        table
            .static_hosts
            .insert("gone.example".to_owned(), Vec::new());
        let cache = NameCache::new(table);
        for _ in 0..50 {
            assert_eq!(
                cache.resolve("Site.Example", STEP).await.unwrap(),
                vec![
                    "192.0.2.7".parse::<IpAddr>().unwrap(),
                    "2001:db8::7".parse().unwrap()
                ]
            );
        }
        assert_eq!(cache.lookups(), 1);
        for _ in 0..2 {
            assert!(cache.resolve("gone.example", STEP).await.is_err());
        }
        assert_eq!(cache.lookups(), 3, "a failure is not kept");
    }

    #[tokio::test]
    async fn past_its_capacity_the_cache_keeps_nothing_new() {
        let cache = NameCache::new(Resolver::default());
        let literal = |i: usize| format!("10.{}.{}.{}", i >> 16, (i >> 8) & 0xff, i & 0xff);
        for i in 0..NameCache::CAPACITY {
            cache.resolve(&literal(i), STEP).await.unwrap();
        }
        assert_eq!(cache.lookups(), NameCache::CAPACITY);
        cache.resolve(&literal(0), STEP).await.unwrap();
        assert_eq!(cache.lookups(), NameCache::CAPACITY, "kept");
        let extra = literal(NameCache::CAPACITY);
        cache.resolve(&extra, STEP).await.unwrap();
        cache.resolve(&extra, STEP).await.unwrap();
        assert_eq!(cache.lookups(), NameCache::CAPACITY + 2, "not kept");
    }
}
