//! The checks a probe can run (`--checks`), in the order they run.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a probe can check; `--checks` selects them. `liveness` always runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// Connect, the proxy handshake, one request to the profile's first HTTP canary.
    Liveness,
    /// A wrong password is refused; no password at all is reported.
    Credentials,
    /// TLS canaries through the proxy keep their real certificates.
    Tls,
    /// Plain-HTTP canaries come back byte for byte.
    Content,
    /// The judge sees no header revealing the client's address.
    Judge,
    /// Names resolved by the proxy lead where addresses do.
    Dns,
    /// Through the proxy, a datacenter proves it holds a Telegram key the profile trusts;
    /// plain MTProto secrets are reported as weak.
    Telegram,
    /// The MTProto secret is not a published default.
    Secret,
    /// A FakeTLS proxy shows the fronted domain's real certificate to ordinary TLS clients.
    Fronting,
    /// A FakeTLS proxy's domain resolves to the proxy's own address.
    Camouflage,
    /// A replayed MTProto handshake is refused.
    Replay,
}

impl Check {
    /// Every check, in the order they run.
    pub const ALL: [Self; 11] = [
        Self::Liveness,
        Self::Credentials,
        Self::Tls,
        Self::Content,
        Self::Judge,
        Self::Dns,
        Self::Telegram,
        Self::Secret,
        Self::Fronting,
        Self::Camouflage,
        Self::Replay,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Liveness => "liveness",
            Self::Credentials => "credentials",
            Self::Tls => "tls",
            Self::Content => "content",
            Self::Judge => "judge",
            Self::Dns => "dns",
            Self::Telegram => "telegram",
            Self::Secret => "secret",
            Self::Fronting => "fronting",
            Self::Camouflage => "camouflage",
            Self::Replay => "replay",
        }
    }

    /// What it checks, in one line (`audit --help` lists it).
    pub fn about(self) -> &'static str {
        match self {
            Self::Liveness => {
                "Connect, the proxy handshake, one request to the profile's first HTTP canary"
            }
            Self::Credentials => "A wrong password is refused; no password at all is reported",
            Self::Tls => "TLS canaries through the proxy keep their real certificates",
            Self::Content => "Plain-HTTP canaries come back byte for byte",
            Self::Judge => "The judge sees no header revealing the client's address",
            Self::Dns => "Names resolved by the proxy lead where addresses do",
            Self::Telegram => {
                "Through the proxy, a datacenter proves it holds a Telegram key the profile \
                 trusts; plain MTProto secrets are reported as weak"
            }
            Self::Secret => "The MTProto secret is not a published default",
            Self::Fronting => {
                "A FakeTLS proxy shows the fronted domain's real certificate to ordinary TLS \
                 clients"
            }
            Self::Camouflage => "A FakeTLS proxy's domain resolves to the proxy's own address",
            Self::Replay => "A replayed MTProto handshake is refused",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl FromStr for Check {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|check| check.name() == text)
            .ok_or_else(|| format!("no check named {text:?}"))
    }
}
