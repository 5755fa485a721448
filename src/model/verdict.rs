//! Verdicts: the one-word answer for an entry, best first.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The decision for one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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
        f.pad(self.name())
    }
}
