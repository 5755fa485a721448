//! Scores and verdicts: pure functions of a probe result and the rules.
//!
//! Each finding code has a default weight in its catalogue row ([`Code::info`]);
//! `rules/scoring.toml` may override any of them and sets two thresholds. A working entry
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

use serde::{Deserialize, Serialize};

use crate::config::FileError;
use crate::model::{Check, Code, ProbeResult, Severity, Status, Verdict};

/// The built-in scoring rules.
pub(crate) const BUILT_IN: &str = include_str!("../../rules/scoring.toml");

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
pub(crate) type ScoringError = FileError;

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

    /// Points `code` costs: the rules' weight, else the code's default
    /// ([`Code::default_weight`]).
    pub(crate) fn weight(&self, code: Code) -> u8 {
        self.weights
            .get(&code)
            .copied()
            .unwrap_or_else(|| code.default_weight())
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
        let lost: u32 = codes.iter().map(|code| u32::from(self.weight(*code))).sum();
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
            .filter(|code| self.weight(*code) > 0)
            .collect();
        let mut explanation = match worst(&because.iter().copied().collect()) {
            Some(code) => code.explanation().to_owned(),
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
            explanation: main.explanation().to_owned(),
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
        .max_by_key(|code| (code.severity().rank(), std::cmp::Reverse(*code)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Check, Finding, Observations};

    fn result(status: Status, codes: &[Code]) -> ProbeResult {
        ProbeResult {
            status,
            latency_ms: None,
            findings: codes
                .iter()
                .map(|&code| Finding::new(code, [("k", "v")]))
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
        // Both ways: every code is in scoring.toml (a code the file left out would cost its
        // catalogue default, silently), and every key there is a code (unknown keys do not
        // load). The file may weigh a code differently from the catalogue's default.
        for code in Code::ALL {
            assert!(
                scoring.weights.contains_key(&code),
                "{code} is missing from rules/scoring.toml"
            );
        }
        assert_eq!(scoring.weights.len(), Code::ALL.len());
    }

    #[test]
    fn a_code_the_rules_leave_out_costs_its_default_weight() {
        let text = "[weights]\ntls_intercepted = 50\n[thresholds]\nok = 80\nsuspicious = 40\n";
        let scoring = Scoring::from_toml(text, "s.toml").unwrap();
        assert_eq!(scoring.weight(Code::TlsIntercepted), 50);
        assert_eq!(scoring.weight(Code::ClientIpLeaked), 40);
        let scored = scoring.score(&result(Status::Alive, &[Code::ClientIpLeaked]));
        assert_eq!(scored.score, Some(60));
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
        assert_eq!(scored.explanation, Code::TlsIntercepted.explanation());
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
        unread
            .findings
            .push(Finding::new(Code::ClientIpLeaked, [("k", "v")]));
        let scored = scoring.score(&unread);
        assert_eq!(scored.verdict, Verdict::Suspicious);
        assert!(
            scored
                .explanation
                .starts_with(Code::ClientIpLeaked.explanation())
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
