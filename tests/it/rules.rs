//! The shipped rule files cannot misfire: every example entry of `rules/blocklist.toml` and
//! `rules/trusted.toml` uses documentation addresses, `.invalid` names and keys nobody
//! publishes, so none of them matches a real proxy, a published default secret
//! (`rules/default-secrets.toml`) or a lab proxy.

use std::net::IpAddr;

use proxy_audit::catalog::default_secrets::DefaultSecrets;
use proxy_audit::lab::{Lab, LabOptions};
use proxy_audit::model::Verdict;
use proxy_audit::model::{Observations, ProbeResult, Status};
use proxy_audit::policy::address::AddressClass;
use proxy_audit::rules::blocklist::Blocklist;
use proxy_audit::rules::trusted::TrustedList;
use proxy_audit::rules::verdicts::Verdicts;
use sha2::{Digest, Sha256};

/// True for an address or name that no real proxy can have.
fn is_documentation(host: &str) -> bool {
    match host.parse::<IpAddr>() {
        Ok(ip) => AddressClass::of_ip(ip) == AddressClass::Documentation,
        Err(_) => host.ends_with(".invalid"),
    }
}

/// The SHA-256 of every published default key.
fn published_key_hashes() -> Vec<[u8; 32]> {
    let defaults = DefaultSecrets::built_in().unwrap();
    assert!(defaults.secrets.len() >= 10, "{defaults:?}");
    defaults
        .secrets
        .iter()
        .map(|secret| Sha256::digest(secret.key).into())
        .collect()
}

#[test]
fn shipped_blocklist_examples_match_nothing_real() {
    let list = Blocklist::built_in().unwrap();
    let published = published_key_hashes();
    assert!(!list.hosts.is_empty() && !list.cidrs.is_empty() && !list.secrets.is_empty());
    for rule in &list.hosts {
        assert!(is_documentation(&rule.name), "host rule {}", rule.name);
        assert!(rule.reason.starts_with("EXAMPLE"), "{}", rule.reason);
    }
    for rule in &list.cidrs {
        // The network address and the range's last address are both documentation space,
        // so the whole range is.
        let network = rule.range.network;
        let bits = u32::from(rule.range.prefix);
        let broadcast = match network {
            IpAddr::V4(v4) => {
                IpAddr::V4((u32::from(v4) | u32::MAX.checked_shr(bits).unwrap_or(0)).into())
            }
            IpAddr::V6(v6) => {
                IpAddr::V6((u128::from(v6) | u128::MAX.checked_shr(bits).unwrap_or(0)).into())
            }
        };
        for ip in [network, broadcast] {
            assert_eq!(
                AddressClass::of_ip(ip),
                AddressClass::Documentation,
                "range {:?} reaches {ip}",
                rule.range
            );
        }
    }
    for rule in &list.faketls_domains {
        assert!(
            is_documentation(&rule.domain),
            "domain rule {}",
            rule.domain
        );
    }
    for rule in &list.secrets {
        assert!(
            !published.contains(&rule.secret_sha256),
            "the blocklist's secret rule \"{}\" is a published default key: real proxies run it",
            rule.reason
        );
    }
}

#[test]
fn shipped_trusted_examples_match_nothing_real() {
    let list = TrustedList::built_in().unwrap();
    let published = published_key_hashes();
    assert!(!list.entries.is_empty());
    for entry in &list.entries {
        assert!(
            is_documentation(&entry.host),
            "trusted example {}",
            entry.host
        );
        assert!(entry.name.contains("EXAMPLE"), "{}", entry.name);
        if let Some(hash) = entry.secret_sha256 {
            assert!(
                !published.contains(&hash),
                "{} trusts a published key",
                entry.name
            );
        }
    }
}

/// No lab proxy is on the blocklist or the trusted list: each is judged by what it does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_shipped_rule_matches_a_lab_proxy() {
    let lab = Lab::start(LabOptions::default()).await.unwrap();
    let verdicts = Verdicts::built_in().unwrap();
    assert!(lab.proxies().len() >= 20);
    for proxy in lab.proxies() {
        let alive = ProbeResult {
            status: Status::Alive,
            latency_ms: Some(1),
            findings: Vec::new(),
            observations: Observations {
                resolved: vec![format!("{}:{}", proxy.spec.host, proxy.spec.port)],
                ..Observations::default()
            },
        };
        let scored = verdicts.verdict_for(&proxy.spec, &alive);
        assert_eq!(scored.listed, None, "{}: {scored:?}", proxy.name);
        assert_eq!(scored.verdict, Verdict::Ok, "{}: {scored:?}", proxy.name);
    }
}
