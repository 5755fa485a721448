//! `camouflage` (`ee` secrets): the secret's domain, resolved by the auditor (the profile's
//! `[hosts]`, then the system), must include the proxy's address, else
//! `faketls_domain_mismatch`: a censor sees SNI = that domain going to an address that is not
//! the domain's. A name that does not resolve is noted under `skipped` and judged no further.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::entry::{EntryState, Probing};
use super::{Step, StepFuture};
use crate::model::{Check, Code, Finding};
use crate::probe::budget::Budget;
use crate::probe::dial::ProxyEndpoint;
use crate::probe::guard::NameCache;
use crate::proto::mtproto::secret::MtprotoSecret;

/// The `camouflage` step.
pub(crate) struct Camouflage;

impl Step for Camouflage {
    fn serves(&self) -> &'static [Check] {
        &[Check::Camouflage]
    }

    fn applies(&self, probing: &Probing<'_>, _: &EntryState) -> bool {
        probing
            .spec
            .secret
            .as_ref()
            .is_some_and(|secret| secret.faketls_domain().is_some())
    }

    fn run<'a>(&'a self, probing: &'a Probing<'_>, state: &'a mut EntryState) -> StepFuture<'a> {
        Box::pin(async move {
            let Some(secret) = &probing.spec.secret else {
                return;
            };
            let ending = camouflage(
                &probing.proxy,
                secret,
                &probing.context.names,
                &probing.budget,
                &state.result.observations.resolved,
            )
            .await;
            match ending {
                Ending::Holds => {}
                Ending::Mismatch(finding) => state.result.findings.push(finding),
                Ending::Unresolved(reason) => state.result.skip(Check::Camouflage, &reason),
                Ending::NoTime => {
                    state
                        .result
                        .inconclusive(Check::Camouflage, "entry deadline reached");
                }
            }
        })
    }
}

/// How the `camouflage` check ended.
enum Ending {
    /// The entry's deadline came first.
    NoTime,
    /// Not an `ee` secret, or the domain includes the proxy's address.
    Holds,
    /// The domain resolves elsewhere.
    Mismatch(Finding),
    /// The domain did not resolve (an observation, not a finding).
    Unresolved(String),
}

/// `camouflage` (`ee` secrets only): the FakeTLS domain, resolved by the auditor, must
/// include the proxy's address. `proxy_at` is what the proxy's host resolved to
/// (`ip:port`), the connected address counting too.
async fn camouflage(
    proxy: &ProxyEndpoint,
    secret: &MtprotoSecret,
    names: &NameCache,
    budget: &Budget,
    proxy_at: &[String],
) -> Ending {
    let Some(domain) = secret.faketls_domain() else {
        return Ending::Holds;
    };
    let Some(step) = budget.step() else {
        return Ending::NoTime;
    };
    let domain_ips: BTreeSet<IpAddr> = match names.resolve(domain, step).await {
        Ok(addresses) => addresses.into_iter().collect(),
        Err(reason) => {
            return Ending::Unresolved(format!(
                "the FakeTLS domain {domain} did not resolve, so it was not compared with the \
                 proxy's address: {reason}"
            ));
        }
    };
    let proxy_ips: BTreeSet<IpAddr> = proxy_at
        .iter()
        .filter_map(|text| text.parse::<std::net::SocketAddr>().ok())
        .map(|addr| addr.ip())
        .chain([proxy.addr.ip()])
        .collect();
    if domain_ips.intersection(&proxy_ips).next().is_some() {
        return Ending::Holds;
    }
    let list = |ips: &BTreeSet<IpAddr>| {
        ips.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    Ending::Mismatch(Finding::new(
        Code::FaketlsDomainMismatch,
        [
            ("domain", domain.to_owned()),
            ("domain_addresses", list(&domain_ips)),
            ("proxy_addresses", list(&proxy_ips)),
            (
                "reason",
                format!(
                    "the proxy poses as {domain}, but {domain} does not resolve to the \
                     proxy's address: a censor sees that name going to an address that is \
                     not the site's"
                ),
            ),
        ],
    ))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::probe::guard::Resolver;
    use crate::proxy::ProxyKind;

    const STEP: Duration = Duration::from_secs(1);

    fn endpoint(addr: &str) -> ProxyEndpoint {
        ProxyEndpoint {
            kind: ProxyKind::Mtproto,
            addr: addr.parse().unwrap(),
            host: "proxy.example".to_owned(),
            username: None,
            password: None,
        }
    }

    fn resolver(hosts: &[(&str, &[&str])]) -> NameCache {
        NameCache::new(Resolver {
            static_hosts: hosts
                .iter()
                .map(|(name, ips)| {
                    let ips = ips.iter().map(|ip| ip.parse().unwrap()).collect();
                    ((*name).to_owned(), ips)
                })
                .collect(),
        })
    }

    async fn judge(secret: &str, proxy: &str, resolved: &[&str], hosts: &NameCache) -> Ending {
        let budget = Budget::new(STEP * 6, STEP);
        let secret = MtprotoSecret::decode(secret).unwrap();
        let resolved: Vec<String> = resolved.iter().map(|&s| s.to_owned()).collect();
        camouflage(&endpoint(proxy), &secret, hosts, &budget, &resolved).await
    }

    /// `ee` + 16 key bytes + `site.example`.
    const EE: &str = "ee0123456789abcdef0123456789abcdef736974652e6578616d706c65";

    #[tokio::test]
    async fn camouflage_holds_when_any_address_of_the_domain_is_the_proxys() {
        let hosts = resolver(&[("site.example", &["192.0.2.7", "2001:db8::7"])]);
        let held = judge(EE, "198.51.100.1:443", &["[2001:db8::7]:443"], &hosts).await;
        assert!(matches!(held, Ending::Holds));
        let held = judge(EE, "192.0.2.7:443", &[], &hosts).await;
        assert!(matches!(held, Ending::Holds));
        // Not FakeTLS: nothing to compare.
        let dd = "dd0123456789abcdef0123456789abcdef";
        assert!(matches!(
            judge(dd, "198.51.100.1:443", &[], &hosts).await,
            Ending::Holds
        ));
    }

    #[tokio::test]
    async fn camouflage_reports_a_domain_that_lives_elsewhere_with_both_addresses() {
        let hosts = resolver(&[("site.example", &["192.0.2.7", "192.0.2.8"])]);
        let Ending::Mismatch(finding) =
            judge(EE, "198.51.100.1:443", &["198.51.100.1:443"], &hosts).await
        else {
            panic!("expected a mismatch");
        };
        assert_eq!(finding.code, Code::FaketlsDomainMismatch);
        let evidence = |key: &str| finding.evidence[key].clone();
        assert_eq!(evidence("domain"), "site.example");
        assert_eq!(evidence("domain_addresses"), "192.0.2.7, 192.0.2.8");
        assert_eq!(evidence("proxy_addresses"), "198.51.100.1");
    }

    #[tokio::test]
    async fn camouflage_skips_a_domain_that_does_not_resolve_and_says_why() {
        let hosts = resolver(&[("site.example", &[])]);
        let Ending::Unresolved(reason) = judge(EE, "198.51.100.1:443", &[], &hosts).await else {
            panic!("expected the check to be skipped");
        };
        assert!(reason.contains("site.example did not resolve"), "{reason}");
    }
}
