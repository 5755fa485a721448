//! Scores and verdicts: pure functions of a probe result and the rules.
//!
//! `rules/scoring.toml` gives a weight per finding code and two thresholds. A working entry
//! starts at 100 and loses the weight of each distinct finding code. The verdict:
//! - `refused`, `not_audited`, `dead` follow the probe status;
//! - any critical finding → `dangerous`, whatever the score;
//! - otherwise by score: `ok` at or above `thresholds.ok`, `suspicious` at or above
//!   `thresholds.suspicious`, `dangerous` below;
//! - an entry that would be `ok` but has a check that could not conclude (a transient
//!   failure twice, an unreadable judge answer, the deadline) is `inconclusive`: nothing was
//!   found, but not everything was looked at, so it is not vouched for.
//!
//! Every entry also gets one plain sentence saying why; it names the inconclusive checks.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::FileError;
use crate::probe::{Check, Code, ProbeResult, Severity, Status};

/// The built-in scoring rules.
pub const BUILT_IN: &str = include_str!("../../rules/scoring.toml");

/// The decision for one entry.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Works, and matches the curated trusted list with no bad finding.
    Trusted,
    /// Works; nothing serious found.
    Ok,
    /// Works and nothing serious was found, but some check could not conclude.
    Inconclusive,
    /// Works, but with weaknesses worth avoiding.
    Suspicious,
    /// Attacks or deceives its users.
    Dangerous,
    /// Does not work.
    Dead,
    /// Never contacted (policy).
    Refused,
    /// Not probed.
    NotAudited,
}

impl Verdict {
    /// Every verdict, best first.
    pub const ALL: [Self; 8] = [
        Self::Trusted,
        Self::Ok,
        Self::Inconclusive,
        Self::Suspicious,
        Self::Dangerous,
        Self::Dead,
        Self::Refused,
        Self::NotAudited,
    ];

    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Trusted => "trusted",
            Self::Ok => "ok",
            Self::Inconclusive => "inconclusive",
            Self::Suspicious => "suspicious",
            Self::Dangerous => "dangerous",
            Self::Dead => "dead",
            Self::Refused => "refused",
            Self::NotAudited => "not_audited",
        }
    }

    /// Rank for "at least" comparisons (`--keep`): trusted 0, ok 1, inconclusive 2,
    /// suspicious 3, others below every usable verdict.
    pub fn rank(self) -> u8 {
        match self {
            Self::Trusted => 0,
            Self::Ok => 1,
            Self::Inconclusive => 2,
            Self::Suspicious => 3,
            Self::Dangerous => 4,
            Self::Dead => 5,
            Self::Refused => 6,
            Self::NotAudited => 7,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Score thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// At or above: `ok`.
    pub ok: u8,
    /// At or above (and below `ok`): `suspicious`; below: `dangerous`.
    pub suspicious: u8,
}

/// The scoring rules.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scoring {
    /// Points each finding code costs.
    pub weights: BTreeMap<Code, u8>,
    /// Where the verdicts start.
    pub thresholds: Thresholds,
}

/// A scoring file that could not be used, naming the file and line.
pub type ScoringError = FileError;

/// A score, a verdict and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scored {
    /// 0–100 for entries that work; `None` otherwise.
    pub score: Option<u8>,
    /// The decision.
    pub verdict: Verdict,
    /// One sentence in plain language.
    pub explanation: String,
    /// Codes of the findings that decided the verdict.
    pub because: Vec<Code>,
    /// A match in the curated lists: `trusted: NAME`, `trusted_mismatch: NAME` or
    /// `blocklisted: REASON`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listed: Option<String>,
    /// Checks that could not conclude (from the observations), named in the explanation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inconclusive: Vec<Check>,
}

impl Scoring {
    /// The built-in rules.
    pub fn built_in() -> Result<Self, ScoringError> {
        Self::from_toml(BUILT_IN, "scoring.toml")
    }

    /// Parses scoring rules; `origin` names the file in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ScoringError> {
        let scoring: Self = toml::from_str(text).map_err(|e| FileError::toml(origin, text, &e))?;
        let t = scoring.thresholds;
        if t.ok > 100 || t.suspicious > t.ok {
            return Err(FileError::new(
                origin,
                None,
                format!(
                    "thresholds must satisfy suspicious ({}) <= ok ({}) <= 100",
                    t.suspicious, t.ok
                ),
            ));
        }
        Ok(scoring)
    }

    /// Scores one probe result.
    pub fn score(&self, result: &ProbeResult) -> Scored {
        let codes: BTreeSet<Code> = result.findings.iter().map(|f| f.code).collect();
        match result.status {
            Status::Refused => {
                return self.fixed(Verdict::Refused, &codes, Code::PrivateAddress);
            }
            Status::NotAudited => {
                return Scored {
                    score: None,
                    verdict: Verdict::NotAudited,
                    explanation: "This proxy was not checked (the run stopped first, or it \
                                  could not be probed)."
                        .to_owned(),
                    because: Vec::new(),
                    listed: None,
                    inconclusive: Vec::new(),
                };
            }
            Status::Dead => {
                let worst = worst(&codes).unwrap_or(Code::Unreachable);
                return self.fixed(Verdict::Dead, &codes, worst);
            }
            Status::Alive => {}
        }
        let lost: u32 = codes
            .iter()
            .map(|code| u32::from(self.weights.get(code).copied().unwrap_or(0)))
            .sum();
        let score = u8::try_from(100u32.saturating_sub(lost)).unwrap_or(0);
        let critical = codes
            .iter()
            .any(|code| code.severity() == Severity::Critical);
        let inconclusive: Vec<Check> = result.observations.inconclusive.keys().copied().collect();
        let verdict = if critical || score < self.thresholds.suspicious {
            Verdict::Dangerous
        } else if score < self.thresholds.ok {
            Verdict::Suspicious
        } else if inconclusive.is_empty() {
            Verdict::Ok
        } else {
            Verdict::Inconclusive
        };
        let because: Vec<Code> = codes
            .iter()
            .copied()
            .filter(|code| self.weights.get(code).copied().unwrap_or(0) > 0)
            .collect();
        let mut explanation = match worst(&because.iter().copied().collect()) {
            Some(code) => explain(code).to_owned(),
            None if inconclusive.is_empty() => "It works and no check found a problem.".to_owned(),
            None => "It works and no check found a problem so far.".to_owned(),
        };
        if !inconclusive.is_empty() {
            explanation.push(' ');
            explanation.push_str(&not_concluded(&inconclusive));
        }
        Scored {
            score: Some(score),
            verdict,
            explanation,
            because,
            listed: None,
            inconclusive,
        }
    }

    /// A verdict that does not depend on the score.
    fn fixed(&self, verdict: Verdict, codes: &BTreeSet<Code>, main: Code) -> Scored {
        let _ = self;
        Scored {
            score: None,
            verdict,
            explanation: explain(main).to_owned(),
            because: codes.iter().copied().filter(|c| *c == main).collect(),
            listed: None,
            inconclusive: Vec::new(),
        }
    }
}

/// The sentence naming the checks that could not conclude: `But the tls check could not
/// finish, so it is not fully audited.`
fn not_concluded(checks: &[Check]) -> String {
    let names: Vec<&str> = checks.iter().map(|check| check.name()).collect();
    let (list, noun) = match names.as_slice() {
        [one] => ((*one).to_owned(), "check"),
        [rest @ .., last] => (format!("{} and {last}", rest.join(", ")), "checks"),
        [] => (String::new(), "checks"),
    };
    format!("But the {list} {noun} could not finish, so it is not fully audited.")
}

/// The most severe code (ties: the first in declaration order).
fn worst(codes: &BTreeSet<Code>) -> Option<Code> {
    codes
        .iter()
        .copied()
        .max_by_key(|code| (severity_rank(code.severity()), std::cmp::Reverse(*code)))
}

/// Severity as a number, worst highest.
fn severity_rank(severity: Severity) -> u8 {
    match severity {
        Severity::Info => 0,
        Severity::Low => 1,
        Severity::Medium => 2,
        Severity::High => 3,
        Severity::Critical => 4,
        Severity::Dead | Severity::Refused => 5,
    }
}

/// One plain sentence per finding code, for people who are not security experts.
pub fn explain(code: Code) -> &'static str {
    match code {
        Code::Unreachable => "Nothing answers at this address: the proxy is down or gone.",
        Code::HandshakeFailed => {
            "Something answers, but it does not work as the proxy it claims to be."
        }
        Code::PrivateAddress => {
            "It points at a private or local address, so it was not contacted: it cannot be \
             a public proxy and may be a trap."
        }
        Code::TlsIntercepted => {
            "It replaces websites' security certificates, so it can read and change your \
             encrypted traffic."
        }
        Code::KnownInterceptionCa => {
            "It uses a certificate authority known for state or commercial interception of \
             encrypted traffic."
        }
        Code::ContentTampered => "It changes the pages that pass through it.",
        Code::DnsTampered => "It sends you to a different server than the site you asked for.",
        Code::ClientIpLeaked => {
            "It tells the sites you visit your real address, so it does not hide you."
        }
        Code::AcceptsAnyCredentials => {
            "It accepts any password, so it is likely collecting the passwords people try."
        }
        Code::OpenProxy => "It works without a password; anyone can use it.",
        Code::MtprotoNotTelegram => {
            "It does not lead to Telegram: the server behind it failed Telegram's key check."
        }
        Code::FaketlsInvalid => {
            "It does not prove it knows the secret in its link: someone else may be answering."
        }
        Code::FaketlsNoFronting => {
            "Its disguise as an ordinary website does not hold, so censors can spot it easily."
        }
        Code::MtprotoReplayAccepted => {
            "It accepts replayed connections, so censors can confirm it is a proxy by probing."
        }
        Code::WeakSecret => "It uses an old secret type whose traffic censors can recognise.",
        Code::AcceptsAnySecret => {
            "It let in a connection with a made-up secret, which a real MTProto proxy cannot \
             do: it has no lock at all, or it is a trap that records who connects."
        }
        Code::DefaultSecret => {
            "Its secret is a published example, so anyone can use it and censors can test for \
             it."
        }
        Code::FaketlsDomainMismatch => {
            "It poses as a website that lives at a different address, which censors can check \
             with one lookup."
        }
        Code::TlsBroken => {
            "Secure (HTTPS) connections do not work through it: every test site's handshake \
             failed."
        }
        Code::CredentialsRejected => {
            "It refuses the username and password in its link (or wants some the link does not \
             give), so it cannot be used as shared."
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{Check, Finding, Observations};

    fn result(status: Status, codes: &[Code]) -> ProbeResult {
        ProbeResult {
            status,
            latency_ms: None,
            findings: codes
                .iter()
                .map(|&code| Finding::new(code, Check::Liveness, [("k", "v")]))
                .collect(),
            observations: Observations::default(),
        }
    }

    #[test]
    fn built_in_rules_load_and_weigh_every_code() {
        let scoring = Scoring::built_in().unwrap();
        assert_eq!(
            scoring.thresholds,
            Thresholds {
                ok: 80,
                suspicious: 40
            }
        );
        let unweighed: Vec<Code> = Code::ALL
            .into_iter()
            .filter(|code| !scoring.weights.contains_key(code))
            .collect();
        assert_eq!(unweighed, Vec::<Code>::new());
        assert_eq!(scoring.weights.len(), Code::ALL.len());
    }

    #[test]
    fn each_code_alone_and_in_combination_gets_its_verdict() {
        use Code::*;
        let scoring = Scoring::built_in().unwrap();
        let cases: &[(Status, &[Code], Verdict, Option<u8>)] = &[
            (Status::Alive, &[], Verdict::Ok, Some(100)),
            (Status::Alive, &[OpenProxy], Verdict::Ok, Some(100)),
            (Status::Alive, &[WeakSecret], Verdict::Ok, Some(85)),
            (
                Status::Alive,
                &[FaketlsDomainMismatch],
                Verdict::Ok,
                Some(90),
            ),
            (
                Status::Alive,
                &[DefaultSecret],
                Verdict::Suspicious,
                Some(75),
            ),
            (
                Status::Alive,
                &[AcceptsAnySecret],
                Verdict::Suspicious,
                Some(60),
            ),
            (
                Status::Alive,
                &[AcceptsAnySecret, DefaultSecret, WeakSecret],
                Verdict::Dangerous,
                Some(20),
            ),
            (
                Status::Alive,
                &[FaketlsNoFronting],
                Verdict::Suspicious,
                Some(75),
            ),
            (
                Status::Alive,
                &[MtprotoReplayAccepted],
                Verdict::Suspicious,
                Some(75),
            ),
            (
                Status::Alive,
                &[WeakSecret, MtprotoReplayAccepted],
                Verdict::Suspicious,
                Some(60),
            ),
            (
                Status::Alive,
                &[ClientIpLeaked],
                Verdict::Suspicious,
                Some(60),
            ),
            (
                Status::Alive,
                &[AcceptsAnyCredentials],
                Verdict::Dangerous,
                Some(30),
            ),
            (
                Status::Alive,
                &[FaketlsInvalid],
                Verdict::Suspicious,
                Some(40),
            ),
            (Status::Alive, &[DnsTampered], Verdict::Dangerous, Some(30)),
            (
                Status::Alive,
                &[ClientIpLeaked, AcceptsAnyCredentials],
                Verdict::Dangerous,
                Some(0),
            ),
            (
                Status::Alive,
                &[TlsIntercepted],
                Verdict::Dangerous,
                Some(0),
            ),
            (
                Status::Alive,
                &[KnownInterceptionCa],
                Verdict::Dangerous,
                Some(0),
            ),
            (
                Status::Alive,
                &[ContentTampered],
                Verdict::Dangerous,
                Some(0),
            ),
            (
                Status::Alive,
                &[MtprotoNotTelegram],
                Verdict::Dangerous,
                Some(0),
            ),
            (Status::Dead, &[Unreachable], Verdict::Dead, None),
            (Status::Dead, &[HandshakeFailed], Verdict::Dead, None),
            (
                Status::Dead,
                &[FaketlsInvalid, FaketlsNoFronting],
                Verdict::Dead,
                None,
            ),
            (Status::Refused, &[PrivateAddress], Verdict::Refused, None),
            (Status::NotAudited, &[], Verdict::NotAudited, None),
        ];
        for (status, codes, verdict, score) in cases {
            let scored = scoring.score(&result(*status, codes));
            assert_eq!(scored.verdict, *verdict, "{codes:?}");
            assert_eq!(scored.score, *score, "{codes:?}");
            assert!(scored.explanation.ends_with('.'), "{codes:?}");
        }
    }

    #[test]
    fn a_critical_finding_is_dangerous_whatever_the_weights() {
        let mut scoring = Scoring::built_in().unwrap();
        scoring.weights.insert(Code::ContentTampered, 0);
        let scored = scoring.score(&result(Status::Alive, &[Code::ContentTampered]));
        assert_eq!(scored.verdict, Verdict::Dangerous);
        assert_eq!(scored.score, Some(100));
    }

    #[test]
    fn the_explanation_names_the_worst_finding() {
        let scoring = Scoring::built_in().unwrap();
        let scored = scoring.score(&result(
            Status::Alive,
            &[Code::WeakSecret, Code::TlsIntercepted, Code::OpenProxy],
        ));
        assert_eq!(scored.explanation, explain(Code::TlsIntercepted));
        assert_eq!(scored.because, vec![Code::TlsIntercepted, Code::WeakSecret]);
    }

    #[test]
    fn a_check_that_could_not_finish_keeps_a_clean_entry_from_ok() {
        let scoring = Scoring::built_in().unwrap();
        let mut unread = result(Status::Alive, &[Code::OpenProxy]);
        unread.observations.inconclusive.insert(
            Check::Judge,
            "the judge's answer is in no format proxy-audit reads".to_owned(),
        );
        let scored = scoring.score(&unread);
        assert_eq!(scored.verdict, Verdict::Inconclusive);
        assert_eq!(scored.score, Some(100));
        assert_eq!(scored.inconclusive, vec![Check::Judge]);
        assert!(
            !scored.explanation.contains("no check found a problem."),
            "{scored:?}"
        );
        assert!(
            scored
                .explanation
                .ends_with("But the judge check could not finish, so it is not fully audited."),
            "{scored:?}"
        );
        // Two checks are both named; a finding still decides a worse verdict.
        unread
            .observations
            .inconclusive
            .insert(Check::Tls, "timed out twice".to_owned());
        let scored = scoring.score(&unread);
        assert!(
            scored.explanation.contains("the tls and judge checks"),
            "{scored:?}"
        );
        unread.findings.push(Finding::new(
            Code::ClientIpLeaked,
            Check::Judge,
            [("k", "v")],
        ));
        let scored = scoring.score(&unread);
        assert_eq!(scored.verdict, Verdict::Suspicious);
        assert!(
            scored
                .explanation
                .starts_with(explain(Code::ClientIpLeaked))
        );
        assert!(
            scored.explanation.contains("could not finish"),
            "{scored:?}"
        );
        assert!(Verdict::Ok.rank() < Verdict::Inconclusive.rank());
        assert!(Verdict::Inconclusive.rank() < Verdict::Suspicious.rank());
    }

    #[test]
    fn unknown_codes_and_keys_are_errors_with_lines() {
        let text = "[weights]\ntls_intercepted = 100\nmystery = 5\n[thresholds]\nok = 80\nsuspicious = 40\n";
        let error = Scoring::from_toml(text, "scoring.toml").unwrap_err();
        assert_eq!(error.line, Some(3), "{error}");
        let text = "[weights]\n[thresholds]\nok = 30\nsuspicious = 40\n";
        assert!(Scoring::from_toml(text, "s.toml").is_err());
    }
}
