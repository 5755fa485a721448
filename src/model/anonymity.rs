//! Anonymity levels and the judge formats they are read from.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The format a judge answered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JudgeFormat {
    /// httpbin's `/get` or `/headers` JSON (and its clones).
    Httpbin,
    /// The classic azenv.php / proxyjudge page: `KEY = value` lines, as text or HTML.
    Azenv,
    /// This project's judge (`proxy-audit lab`): `{"address": …, "headers": [[name, value], …]}`.
    ProxyAudit,
}

impl JudgeFormat {
    /// The name used in reports: `httpbin`, `azenv`, `proxy-audit`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Httpbin => "httpbin",
            Self::Azenv => "azenv",
            Self::ProxyAudit => "proxy-audit",
        }
    }
}

impl fmt::Display for JudgeFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// How much a proxy reveals to the sites it carries requests to (the levels ProxyBroker
/// users know).
///
/// Ordered from worst to best: `Transparent < Anonymous < Elite`, so a larger level is more
/// anonymous and [`Anonymity::at_least`] is a plain comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anonymity {
    /// The client's own address reached the site.
    Transparent,
    /// The client's address stays hidden, but headers show that a proxy is in the path.
    Anonymous,
    /// Nothing the site sees tells it a proxy is in the path.
    Elite,
}

impl Anonymity {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Transparent => "transparent",
            Self::Anonymous => "anonymous",
            Self::Elite => "elite",
        }
    }

    /// True when this level is `minimum` or better (`Elite` is the best).
    pub fn at_least(self, minimum: Self) -> bool {
        self >= minimum
    }
}

impl fmt::Display for Anonymity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl Anonymity {
    /// Every level, worst first.
    pub const ALL: [Self; 3] = [Self::Transparent, Self::Anonymous, Self::Elite];

    /// What the level means, in one line (`--min-anonymity --help` lists it).
    pub fn about(self) -> &'static str {
        match self {
            Self::Transparent => "your address reaches the sites you visit",
            Self::Anonymous => "header fields show a proxy is in the path, not who you are",
            Self::Elite => "no trace of a proxy",
        }
    }
}

impl FromStr for Anonymity {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|level| level.name() == text)
            .ok_or_else(|| format!("{text:?}: expected transparent, anonymous or elite"))
    }
}
