//! The verdict engine ([`Verdicts`]): the last step of scoring, after the probe and before
//! the report. It gives one entry its verdict: the score (`scoring.toml`), then the curated
//! lists. (Not to be confused with the *judge*, the header-echo server the `judge` check
//! asks, in `src/probe/judge.rs`.)
//!
//! - On the blocklist → `dangerous`, with the list's reason (unless never contacted).
//! - On the trusted list with the same secret or credentials, and `ok` by score →
//!   `trusted`.
//! - Same kind, host and port as a trusted entry but another secret or password →
//!   `suspicious` at best: an impostor, or the operator rotated it; the sentence says both.
//! - A redacted report's entry whose password the trusted entry would have to compare
//!   (`TrustMatch::Unverified`) keeps its score's verdict, and `listed` says why it was not
//!   compared.

use std::net::{IpAddr, SocketAddr};

use super::blocklist::Blocklist;
use super::scoring::{Scored, Scoring};
use super::trusted::{Identity, TrustMatch, TrustedList};
use crate::config::FileError;
use crate::model::ProbeResult;
use crate::model::Verdict;
use crate::proxy::ProxySpec;

/// The verdict engine: everything a verdict depends on.
#[derive(Debug, Clone)]
pub struct Verdicts {
    /// Weights and thresholds.
    pub scoring: Scoring,
    /// The curated trusted list.
    pub trusted: TrustedList,
    /// Hosts, ranges, domains and secrets never to use.
    pub blocklist: Blocklist,
}

impl Verdicts {
    /// The built-in scoring, trusted list and blocklist.
    ///
    /// # Errors
    /// When a built-in rule file does not load (a bug the tests catch).
    pub fn built_in() -> Result<Self, FileError> {
        Ok(Self {
            scoring: Scoring::built_in()?,
            trusted: TrustedList::built_in()?,
            blocklist: Blocklist::built_in()?,
        })
    }

    /// The verdict for `spec` given what the probe found.
    pub fn verdict_for(&self, spec: &ProxySpec, result: &ProbeResult) -> Scored {
        self.verdict_for_identity(&Identity::of(spec), result)
    }

    /// The verdict for a proxy known by its [`Identity`] (a redacted report's entry knows
    /// its MTProto key only by its hash, its password not at all).
    pub fn verdict_for_identity(&self, identity: &Identity<'_>, result: &ProbeResult) -> Scored {
        let spec = identity.spec;
        let mut scored = self.scoring.score(result);
        let resolved: Vec<IpAddr> = result
            .observations
            .resolved
            .iter()
            .filter_map(|text| text.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
            .collect();
        // The key hash again: a redacted spec's secret is a fingerprint, the hash is real.
        let by_key_hash = || {
            let hash = identity.key_sha256?;
            let rule = self
                .blocklist
                .secrets
                .iter()
                .find(|r| r.secret_sha256 == hash);
            rule.map(|rule| rule.reason.clone())
        };
        if let Some(reason) = self.blocklist.check(spec, &resolved).or_else(by_key_hash) {
            if scored.verdict != Verdict::Refused {
                scored.verdict = Verdict::Dangerous;
                scored.explanation =
                    format!("It is on the blocklist: {}.", reason.trim_end_matches('.'));
                scored.listed = Some(format!("blocklisted: {reason}"));
            }
            return scored;
        }
        match self.trusted.check_identity(identity) {
            TrustMatch::Trusted(entry) if scored.verdict == Verdict::Ok => {
                scored.verdict = Verdict::Trusted;
                scored.explanation = format!(
                    "It is on the curated trusted list as \u{201c}{}\u{201d} and every check \
                     passed.",
                    entry.name
                );
                scored.listed = Some(format!("trusted: {}", entry.name));
            }
            TrustMatch::Mismatch(entry) => {
                if matches!(scored.verdict, Verdict::Ok | Verdict::Inconclusive) {
                    scored.verdict = Verdict::Suspicious;
                }
                scored.explanation = format!(
                    "Its address is on the trusted list as \u{201c}{}\u{201d}, but with a \
                     different secret or password: an impostor, or the operator changed it.",
                    entry.name
                );
                scored.listed = Some(format!("trusted_mismatch: {}", entry.name));
            }
            TrustMatch::Unverified(entry) => {
                scored.listed = Some(format!(
                    "trusted_unverified: {} (the report is redacted: its password could not \
                     be compared)",
                    entry.name
                ));
            }
            _ => {}
        }
        scored
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::link::parse_link;
    use crate::model::{Observations, Status};

    fn verdicts() -> Verdicts {
        let trusted = TrustedList::from_toml(
            "[[proxy]]\nname = \"good\"\nsource = \"test\"\nadded = 2026-11-29\nkind = \"mtproto\"\n\
             host = \"198.51.100.7\"\nport = 443\nsecret = \"dd0123456789abcdef0123456789abcdef\"\n",
            "trusted.toml",
        )
        .unwrap();
        let blocklist = Blocklist::from_toml(
            "[[cidr]]\nrange = \"203.0.113.0/24\"\nreason = \"a known bad network\"\n",
            "blocklist.toml",
        )
        .unwrap();
        Verdicts {
            scoring: Scoring::built_in().unwrap(),
            trusted,
            blocklist,
        }
    }

    fn alive() -> ProbeResult {
        ProbeResult {
            status: Status::Alive,
            latency_ms: Some(5),
            findings: Vec::new(),
            observations: Observations::default(),
        }
    }

    fn spec(link: &str) -> ProxySpec {
        parse_link(link).unwrap().unwrap()
    }

    #[test]
    fn trusted_mismatch_and_blocklist() {
        let verdicts = verdicts();
        let key = "0123456789abcdef0123456789abcdef";
        let trusted = verdicts.verdict_for(
            &spec(&format!(
                "tg://proxy?server=198.51.100.7&port=443&secret=ee{key}676f6f676c652e636f6d"
            )),
            &alive(),
        );
        assert_eq!(trusted.verdict, Verdict::Trusted, "{trusted:?}");
        let impostor = verdicts.verdict_for(
            &spec(
                "tg://proxy?server=198.51.100.7&port=443&secret=dd00000000000000000000000000000000",
            ),
            &alive(),
        );
        assert_eq!(impostor.verdict, Verdict::Suspicious);
        assert!(impostor.explanation.contains("impostor"), "{impostor:?}");
        let blocked = verdicts.verdict_for(&spec("socks5://203.0.113.9:1080"), &alive());
        assert_eq!(blocked.verdict, Verdict::Dangerous);
        assert_eq!(
            blocked.explanation,
            "It is on the blocklist: a known bad network."
        );
        let unknown = verdicts.verdict_for(&spec("socks5://192.0.2.1:1080"), &alive());
        assert_eq!(unknown.verdict, Verdict::Ok);
        assert_eq!(unknown.listed, None);
    }
}
