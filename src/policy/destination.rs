//! Whether the auditor may open a connection to a destination: the host as written, then
//! every address it resolves to.
//!
//! A proxy list, a list URL or a redirect can point the auditor at its own machine or
//! network (`127.0.0.1`, `192.168.1.1`, `169.254.169.254`, a cloud metadata service). Such
//! destinations are refused unless `--allow-private` is given. The host is classified as
//! written first (so `localhost`, `2130706433` and `[::1]` are refused without a lookup),
//! then resolved, and every address it resolves to is classified again: a public-looking
//! name that points at loopback is refused too. The caller then connects only to the
//! addresses this returned, never to a fresh lookup of the name.
//!
//! This is the one decision both sides need: the probe's address guard
//! (`probe::guard`, which turns a refusal into a `private_address` finding) and the list
//! fetcher (`ingest::read::fetch`, which applies it to the list URL and to every redirect).
//! Nothing here touches the network: each caller hands [`check`] its own resolver.

use std::fmt;
use std::net::SocketAddr;

use crate::policy::address::AddressClass;

/// Why a destination may not be contacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The destination is not public, and private destinations were not allowed.
    Private {
        /// What was refused: the host as written (`127.0.0.1`, `localhost`), or the name and
        /// the address it resolved to (`innocent.example resolves to 127.0.0.1`).
        address: String,
        /// The class that made it refused.
        class: AddressClass,
    },
    /// The name does not resolve: the reason.
    Unresolvable(String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Private { address, class } => {
                let article = if class.as_str().starts_with('u') {
                    "an"
                } else {
                    "a"
                };
                write!(
                    f,
                    "{address} is {article} {class} address, never contacted without \
                     --allow-private"
                )
            }
            Self::Unresolvable(reason) => f.write_str(reason),
        }
    }
}

/// Decides whether `host` may be contacted: as written (names such as `localhost`, literal
/// addresses, refused without a lookup), then every address `resolve` gives for it.
/// Returns those addresses, all of them allowed and at least one; a caller connects to
/// these and to nothing else.
///
/// `resolve` is the caller's (the probe's resolver honours the profile's `[hosts]`; the
/// list fetcher asks the system) and bounds its own time; it fails with a reason.
pub async fn check<F, Fut>(
    host: &str,
    allow_private: bool,
    resolve: F,
) -> Result<Vec<SocketAddr>, Refusal>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Vec<SocketAddr>, String>>,
{
    let as_listed = AddressClass::of_host(host);
    if !allow_private && as_listed != AddressClass::Unresolved && !as_listed.is_public() {
        return Err(Refusal::Private {
            address: host.to_owned(),
            class: as_listed,
        });
    }
    let addresses = resolve().await.map_err(Refusal::Unresolvable)?;
    if !allow_private {
        if let Some(bad) = addresses
            .iter()
            .find(|addr| !AddressClass::of_ip(addr.ip()).is_public())
        {
            return Err(Refusal::Private {
                address: format!("{host} resolves to {}", bad.ip()),
                class: AddressClass::of_ip(bad.ip()),
            });
        }
    }
    if addresses.is_empty() {
        return Err(Refusal::Unresolvable(format!("{host} has no address")));
    }
    Ok(addresses)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A resolver answering `ips` (with port 80), and whether it was asked.
    async fn check_with(
        host: &str,
        allow_private: bool,
        ips: &[&str],
    ) -> (Result<Vec<SocketAddr>, Refusal>, bool) {
        let mut asked = false;
        let resolve = || {
            asked = true;
            let addresses = ips
                .iter()
                .map(|ip| SocketAddr::new(ip.parse().unwrap(), 80))
                .collect();
            std::future::ready(Ok(addresses))
        };
        let result = check(host, allow_private, resolve).await;
        (result, asked)
    }

    #[tokio::test]
    async fn reserved_hosts_as_written_are_refused_without_a_lookup() {
        for (host, class) in [
            ("127.0.0.1", AddressClass::Loopback),
            ("169.254.169.254", AddressClass::LinkLocal),
            ("0xa9fea9fe", AddressClass::LinkLocal),
            ("[::1]", AddressClass::Loopback),
            ("localhost", AddressClass::Loopback),
            ("10.0.0.1", AddressClass::Private),
        ] {
            let (result, asked) = check_with(host, false, &["8.8.8.8"]).await;
            assert_eq!(
                result,
                Err(Refusal::Private {
                    address: host.to_owned(),
                    class
                }),
                "{host}"
            );
            assert!(!asked, "{host} was looked up");
        }
    }

    #[tokio::test]
    async fn every_resolved_address_is_checked() {
        let (result, asked) =
            check_with("lists.example", false, &["8.8.8.8", "169.254.169.254"]).await;
        assert!(asked);
        let refusal = result.unwrap_err();
        assert_eq!(
            refusal,
            Refusal::Private {
                address: "lists.example resolves to 169.254.169.254".into(),
                class: AddressClass::LinkLocal,
            }
        );
        assert_eq!(
            refusal.to_string(),
            "lists.example resolves to 169.254.169.254 is a link_local address, never \
             contacted without --allow-private"
        );
    }

    #[tokio::test]
    async fn allowed_destinations_give_every_address() {
        let (result, _) = check_with("lab.test", true, &["127.0.0.1", "::1"]).await;
        assert_eq!(
            result,
            Ok(vec![
                "127.0.0.1:80".parse().unwrap(),
                "[::1]:80".parse().unwrap()
            ])
        );
        let (result, _) = check_with("127.0.0.1", true, &["127.0.0.1"]).await;
        assert_eq!(result, Ok(vec!["127.0.0.1:80".parse().unwrap()]));
        let (result, _) = check_with("lists.example", false, &["8.8.8.8"]).await;
        assert_eq!(result, Ok(vec!["8.8.8.8:80".parse().unwrap()]));
        let (result, _) = check_with("gone.example", false, &[]).await;
        assert_eq!(
            result,
            Err(Refusal::Unresolvable("gone.example has no address".into()))
        );
        let failing = || std::future::ready(Err("cannot resolve x.example".to_owned()));
        assert_eq!(
            check("x.example", false, failing).await,
            Err(Refusal::Unresolvable("cannot resolve x.example".into()))
        );
    }
}
