//! Findings: what a check found wrong (or worth knowing) about a proxy.
//!
//! Every finding code is one row of [`Code::info`]: its name, severity, the sentence people
//! read, its default weight and the check that raises it. Adding a code is adding a variant
//! and its row; `rules/scoring.toml` may change the weight, and a test holds the two lists
//! to each other.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::Check;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing; not a problem by itself.
    Info,
    /// A weakness.
    Low,
    /// A real risk to privacy or availability.
    Medium,
    /// Active misbehaviour.
    High,
    /// Attacks the user's traffic.
    Critical,
    /// The proxy does not work (dead entries).
    Dead,
    /// The entry was not probed (policy).
    Refused,
}

impl Severity {
    /// The snake_case name reports use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
            Self::Dead => "dead",
            Self::Refused => "refused",
        }
    }

    /// What the HTML page calls it, for people who are not security experts.
    pub fn label(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low risk",
            Self::Medium => "medium risk",
            Self::High => "high risk",
            Self::Critical => "critical",
            Self::Dead => "not working",
            Self::Refused => "not contacted",
        }
    }

    /// Rank for "worst first": info 0 … critical 4; dead and refused above them.
    pub fn rank(self) -> u8 {
        match self {
            Self::Info => 0,
            Self::Low => 1,
            Self::Medium => 2,
            Self::High => 3,
            Self::Critical => 4,
            Self::Dead | Self::Refused => 5,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// Stable finding codes (reports, rules and tests use these names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    /// TCP connect refused or timed out.
    Unreachable,
    /// The port answers, but not as the claimed protocol.
    HandshakeFailed,
    /// The target is loopback, private, link-local or reserved; not probed.
    PrivateAddress,
    /// A TLS canary's certificate through the proxy is not the real one.
    TlsIntercepted,
    /// The substituted chain comes from a known interception CA.
    KnownInterceptionCa,
    /// A plain-HTTP canary's bytes changed through the proxy.
    ContentTampered,
    /// A name resolved by the proxy led somewhere else than its address.
    DnsTampered,
    /// The judge received one of the auditor's own addresses through the proxy.
    ClientIpLeaked,
    /// A request with a wrong username/password succeeded.
    AcceptsAnyCredentials,
    /// No authentication is required.
    OpenProxy,
    /// Through the proxy, the datacenter fails Telegram's key check.
    MtprotoNotTelegram,
    /// An `ee` secret, but the server's FakeTLS answer does not verify.
    FaketlsInvalid,
    /// A normal TLS client to the port does not reach the fronted domain.
    FaketlsNoFronting,
    /// A replayed handshake is relayed again (active-probing risk).
    MtprotoReplayAccepted,
    /// A plain secret without `dd`/`ee`: easy to detect by DPI.
    WeakSecret,
    /// Retired: a made-up secret of the same mode reached a datacenter. No real MTProto
    /// server can serve a key it was never given, so the check could only fire on our own
    /// lab; the code stays so that old reports still load and rescore.
    AcceptsAnySecret,
    /// The secret is one published as an example or default.
    DefaultSecret,
    /// The FakeTLS domain resolves, but not to the proxy's address.
    FaketlsDomainMismatch,
    /// Every TLS canary failed through the proxy for reasons other than its certificate
    /// (reset, handshake failure, garbage, a refused tunnel), each twice: HTTPS does not work.
    TlsBroken,
    /// The proxy refuses the username and password the link gives (or asks for some the
    /// link does not give).
    CredentialsRejected,
}

/// One row of the finding catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeInfo {
    /// The code.
    pub code: Code,
    /// Its snake_case name (reports, rule files).
    pub name: &'static str,
    /// How bad it is.
    pub severity: Severity,
    /// Points it costs unless `rules/scoring.toml` says otherwise.
    pub weight: u8,
    /// The check that raises it.
    pub check: Check,
    /// No check raises it any more; kept so old reports still load and rescore.
    pub retired: bool,
    /// One plain sentence for people who are not security experts.
    pub explanation: &'static str,
}

/// A row of [`Code::info`].
const fn row(
    code: Code,
    name: &'static str,
    severity: Severity,
    weight: u8,
    check: Check,
    explanation: &'static str,
) -> CodeInfo {
    CodeInfo {
        code,
        name,
        severity,
        weight,
        check,
        retired: false,
        explanation,
    }
}

impl Code {
    /// Every code, in declaration order.
    pub const ALL: [Self; 20] = [
        Self::Unreachable,
        Self::HandshakeFailed,
        Self::PrivateAddress,
        Self::TlsIntercepted,
        Self::KnownInterceptionCa,
        Self::ContentTampered,
        Self::DnsTampered,
        Self::ClientIpLeaked,
        Self::AcceptsAnyCredentials,
        Self::OpenProxy,
        Self::MtprotoNotTelegram,
        Self::FaketlsInvalid,
        Self::FaketlsNoFronting,
        Self::MtprotoReplayAccepted,
        Self::WeakSecret,
        Self::AcceptsAnySecret,
        Self::DefaultSecret,
        Self::FaketlsDomainMismatch,
        Self::TlsBroken,
        Self::CredentialsRejected,
    ];

    /// This code's row of the catalogue: the one table of codes (a match, so that a code
    /// without a row does not compile).
    pub const fn info(self) -> CodeInfo {
        match self {
            Self::Unreachable => row(
                Self::Unreachable,
                "unreachable",
                Severity::Dead,
                0,
                Check::Liveness,
                "Nothing answers at this address: the proxy is down or gone.",
            ),
            Self::HandshakeFailed => row(
                Self::HandshakeFailed,
                "handshake_failed",
                Severity::Dead,
                0,
                Check::Liveness,
                "Something answers, but it does not work as the proxy it claims to be.",
            ),
            Self::PrivateAddress => row(
                Self::PrivateAddress,
                "private_address",
                Severity::Refused,
                0,
                Check::Liveness,
                "It points at a private or local address, so it was not contacted: it cannot be \
             a public proxy and may be a trap.",
            ),
            Self::TlsIntercepted => row(
                Self::TlsIntercepted,
                "tls_intercepted",
                Severity::Critical,
                100,
                Check::Tls,
                "It replaces websites' security certificates, so it can read and change your \
             encrypted traffic.",
            ),
            Self::KnownInterceptionCa => row(
                Self::KnownInterceptionCa,
                "known_interception_ca",
                Severity::Critical,
                100,
                Check::Tls,
                "It uses a certificate authority known for state or commercial interception of \
             encrypted traffic.",
            ),
            Self::ContentTampered => row(
                Self::ContentTampered,
                "content_tampered",
                Severity::Critical,
                100,
                Check::Content,
                "It changes the pages that pass through it.",
            ),
            Self::DnsTampered => row(
                Self::DnsTampered,
                "dns_tampered",
                Severity::High,
                70,
                Check::Dns,
                "It sends you to a different server than the site you asked for.",
            ),
            Self::ClientIpLeaked => row(
                Self::ClientIpLeaked,
                "client_ip_leaked",
                Severity::Medium,
                40,
                Check::Judge,
                "It tells the sites you visit your real address, so it does not hide you.",
            ),
            Self::AcceptsAnyCredentials => row(
                Self::AcceptsAnyCredentials,
                "accepts_any_credentials",
                Severity::High,
                70,
                Check::Credentials,
                "It accepts any password, so it is likely collecting the passwords people try.",
            ),
            Self::OpenProxy => row(
                Self::OpenProxy,
                "open_proxy",
                Severity::Info,
                0,
                Check::Credentials,
                "It works without a password; anyone can use it.",
            ),
            Self::MtprotoNotTelegram => row(
                Self::MtprotoNotTelegram,
                "mtproto_not_telegram",
                Severity::Critical,
                100,
                Check::Telegram,
                "It does not lead to Telegram: the server behind it failed Telegram's key check.",
            ),
            Self::FaketlsInvalid => row(
                Self::FaketlsInvalid,
                "faketls_invalid",
                Severity::High,
                60,
                Check::Liveness,
                "It does not prove it knows the secret in its link: someone else may be answering.",
            ),
            Self::FaketlsNoFronting => row(
                Self::FaketlsNoFronting,
                "faketls_no_fronting",
                Severity::Medium,
                25,
                Check::Fronting,
                "Its disguise as an ordinary website does not hold, so censors can spot it easily.",
            ),
            Self::MtprotoReplayAccepted => row(
                Self::MtprotoReplayAccepted,
                "mtproto_replay_accepted",
                Severity::Medium,
                25,
                Check::Replay,
                "It accepts replayed connections, so censors can confirm it is a proxy by probing.",
            ),
            Self::WeakSecret => row(
                Self::WeakSecret,
                "weak_secret",
                Severity::Low,
                15,
                Check::Telegram,
                "It uses an old secret type whose traffic censors can recognise.",
            ),
            Self::AcceptsAnySecret => CodeInfo {
                retired: true,
                ..row(
                    Self::AcceptsAnySecret,
                    "accepts_any_secret",
                    Severity::Medium,
                    40,
                    Check::Secret,
                    "It let in a connection with a made-up secret, which a real MTProto proxy \
                 cannot do: it has no lock at all, or it is a trap that records who connects.",
                )
            },
            Self::DefaultSecret => row(
                Self::DefaultSecret,
                "default_secret",
                Severity::Medium,
                25,
                Check::Secret,
                "Its secret is a published example, so anyone can use it and censors can test for \
             it.",
            ),
            Self::FaketlsDomainMismatch => row(
                Self::FaketlsDomainMismatch,
                "faketls_domain_mismatch",
                Severity::Low,
                10,
                Check::Camouflage,
                "It poses as a website that lives at a different address, which censors can check \
             with one lookup.",
            ),
            Self::TlsBroken => row(
                Self::TlsBroken,
                "tls_broken",
                Severity::Medium,
                25,
                Check::Tls,
                "Secure (HTTPS) connections do not work through it: every test site's handshake \
             failed.",
            ),
            Self::CredentialsRejected => row(
                Self::CredentialsRejected,
                "credentials_rejected",
                Severity::Dead,
                0,
                Check::Liveness,
                "It refuses the username and password in its link (or wants some the link does \
             not give), so it cannot be used as shared.",
            ),
        }
    }

    /// The snake_case name.
    pub const fn name(self) -> &'static str {
        self.info().name
    }

    /// The severity a finding with this code has.
    pub fn severity(self) -> Severity {
        self.info().severity
    }

    /// The check that raises it.
    pub fn check(self) -> Check {
        self.info().check
    }

    /// Points it costs unless the scoring rules say otherwise.
    pub fn default_weight(self) -> u8 {
        self.info().weight
    }

    /// True for codes no check reports any more (kept so old reports still load).
    pub fn retired(self) -> bool {
        self.info().retired
    }

    /// One plain sentence for people who are not security experts.
    pub fn explanation(self) -> &'static str {
        self.info().explanation
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// Facts backing a finding, as short named strings (shown in reports).
pub type Evidence = BTreeMap<String, String>;

/// One thing found wrong (or worth knowing) about a proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable code.
    pub code: Code,
    /// How bad it is (follows from the code).
    pub severity: Severity,
    /// The check that found it (follows from the code).
    pub check: Check,
    /// What was seen.
    pub evidence: Evidence,
}

impl Finding {
    /// A finding with the code's severity and check and the given evidence pairs.
    pub fn new<K, V>(code: Code, evidence: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            code,
            severity: code.severity(),
            check: code.check(),
            evidence: evidence
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_row_and_all_lists_every_code_once() {
        for (index, code) in Code::ALL.into_iter().enumerate() {
            let row = code.info();
            assert_eq!(code as usize, index, "{}", row.name);
            assert_eq!(row.code, code);
            assert!(row.explanation.ends_with('.'), "{}", row.name);
            // The serde name and the table's name are the same word.
            let json = serde_json::to_string(&row.code).unwrap();
            assert_eq!(json, format!("\"{}\"", row.name));
        }
        // One past the last declared code is not a code.
        assert!(serde_json::from_str::<Code>("\"no_such_code\"").is_err());
        let retired: Vec<Code> = Code::ALL.into_iter().filter(|c| c.retired()).collect();
        assert_eq!(retired, vec![Code::AcceptsAnySecret]);
    }

    #[test]
    fn a_finding_takes_its_severity_and_check_from_the_code() {
        let finding = Finding::new(Code::TlsBroken, [("canaries", "a, b")]);
        assert_eq!(finding.severity, Severity::Medium);
        assert_eq!(finding.check, Check::Tls);
        assert_eq!(finding.evidence["canaries"], "a, b");
    }
}
