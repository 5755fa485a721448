//! What a shared proxy *is*, independent of where it was read: kind, endpoint, credentials.
//!
//! Every input format produces a [`ProxySpec`]; the policy layer deduplicates on
//! `ProxySpec::dedup_key`; reports render it back as a normalised link with
//! [`ProxySpec::to_link`]. Host and port validation lives here so all formats agree on it.

use std::fmt::{self, Write as _};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};

use crate::proto::ipv4::parse_lenient_ipv4;
use crate::proto::mtproto::secret::{MtprotoSecret, is_dns_label};

/// The protocol a proxy speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProxyKind {
    /// Telegram's MTProto proxy (obfuscated2, `dd` or FakeTLS `ee`).
    Mtproto,
    /// SOCKS5, with or without username/password (`tg://socks` links are SOCKS5).
    Socks5,
    /// SOCKS4 (`socks4://`): as curl does, the client resolves target names itself and
    /// sends the address.
    Socks4,
    /// SOCKS4a (`socks4a://`): target names are sent for the proxy to resolve.
    Socks4a,
    /// HTTP proxy (CONNECT).
    Http,
    /// HTTP proxy reached over TLS.
    Https,
}

impl ProxyKind {
    /// Every kind, in report order.
    pub const ALL: [Self; 6] = [
        Self::Mtproto,
        Self::Socks5,
        Self::Socks4,
        Self::Socks4a,
        Self::Http,
        Self::Https,
    ];

    /// The lower-case name used in JSON and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mtproto => "mtproto",
            Self::Socks5 => "socks5",
            Self::Socks4 => "socks4",
            Self::Socks4a => "socks4a",
            Self::Http => "http",
            Self::Https => "https",
        }
    }

    /// Reads a kind from the names lists use (`socks5h`, `MTProxy`, `socks4a`, `HTTPS`…).
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        let name = name.trim().to_ascii_lowercase();
        Some(match name.as_str() {
            "mtproto" | "mtproxy" | "mtp" | "proxy" | "tg" | "telegram" => Self::Mtproto,
            "socks5" | "socks5h" | "socks" | "tg-socks" => Self::Socks5,
            "socks4" => Self::Socks4,
            "socks4a" => Self::Socks4a,
            "http" | "connect" | "http-connect" => Self::Http,
            "https" => Self::Https,
            _ => return None,
        })
    }
}

impl fmt::Display for ProxyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for ProxyKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_name(s).ok_or_else(|| format!("unknown proxy kind {s:?}"))
    }
}

/// One proxy as its link or list line describes it. Hosts are normalised (lower case, IPv6
/// without brackets in canonical form, no trailing dot); everything else is kept as given.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProxySpec {
    /// Protocol spoken by the proxy.
    pub kind: ProxyKind,
    /// Hostname or IP literal, normalised by `normalize_host`.
    pub host: String,
    /// TCP port, 1–65535.
    pub port: u16,
    /// MTProto secret; `Some` exactly when `kind` is [`ProxyKind::Mtproto`].
    pub secret: Option<MtprotoSecret>,
    /// SOCKS/HTTP username (SOCKS4 user id), if any.
    pub username: Option<String>,
    /// SOCKS/HTTP password, if any.
    pub password: Option<String>,
}

/// Why a proxy description cannot be used. Stable `code()` strings appear in JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// No host where one was required.
    #[error("empty host")]
    EmptyHost,
    /// Host text that is neither an IP literal nor a DNS name.
    #[error("invalid host {0:?}")]
    BadHost(String),
    /// No port where one was required.
    #[error("missing port")]
    MissingPort,
    /// Port not a number in 1–65535.
    #[error("port {0:?} out of range 1-65535")]
    BadPort(String),
    /// MTProto link without a secret.
    #[error("missing secret")]
    MissingSecret,
    /// Secret present but invalid.
    #[error("bad secret: {0}")]
    BadSecret(#[from] crate::proto::mtproto::secret::SecretError),
    /// Link with a scheme or path we know but cannot read.
    #[error("malformed link: {0}")]
    Malformed(&'static str),
    /// A whole line or value that is too long to be a proxy.
    #[error("text longer than {0} bytes")]
    TooLong(usize),
    /// A name with non-ASCII letters that IDNA (UTS #46) cannot turn into an ASCII name.
    #[error("invalid internationalised host {0:?}")]
    BadIdn(String),
    /// A field that is not text: percent-decoded bytes, or bytes of the input, that are not
    /// UTF-8 (the field names which: `username`, `password`, `server`…).
    #[error("the {0} is not valid UTF-8")]
    BadEncoding(&'static str),
    /// A CSV/TSV row that cannot be cut into cells (a quoted cell never closed).
    #[error("unreadable row: {0}")]
    BadRow(&'static str),
}

impl SpecError {
    /// Stable snake_case code for machine-readable output.
    pub fn code(&self) -> &'static str {
        match self {
            Self::EmptyHost => "empty_host",
            Self::BadHost(_) | Self::BadIdn(_) => "bad_host",
            Self::MissingPort => "missing_port",
            Self::BadPort(_) => "bad_port",
            Self::MissingSecret => "missing_secret",
            Self::BadSecret(_) => "bad_secret",
            Self::Malformed(_) => "malformed",
            Self::TooLong(_) => "too_long",
            Self::BadEncoding(_) => "bad_encoding",
            Self::BadRow(_) => "bad_row",
        }
    }
}

/// Characters escaped in a query value or userinfo: everything but letters, digits, `-` and
/// `_`. `.` and `~` are escaped too, although unreserved, so that a link ending in a
/// credential never ends in punctuation that prose trimming would take off.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_');

impl ProxySpec {
    /// Key under which two descriptions are the same proxy: kind, host (already lower
    /// case), port, and the secret or credentials.
    ///
    /// The key is binary and every variable-length part is length-prefixed, so no two
    /// different specs share a key (`a|b` + `c` cannot collide with `a` + `b|c`).
    pub(crate) fn dedup_key(&self) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.host.len() + 64);
        self.feed_dedup_key(|bytes| key.extend_from_slice(bytes));
        key
    }

    /// Feeds the bytes of [`Self::dedup_key`] to `sink` piece by piece, so a digest of the
    /// key needs no buffer.
    pub(crate) fn feed_dedup_key(&self, mut sink: impl FnMut(&[u8])) {
        let secret = self
            .secret
            .as_ref()
            .map_or(&[][..], MtprotoSecret::as_bytes);
        sink(&[self.kind as u8]);
        sink(&self.port.to_be_bytes());
        let parts = [
            Some(self.host.as_bytes()),
            Some(secret),
            self.username.as_deref().map(str::as_bytes),
            self.password.as_deref().map(str::as_bytes),
        ];
        for part in parts {
            match part {
                // u32 lengths: every part is far shorter than a line (1 MiB).
                Some(bytes) => {
                    sink(&[1]);
                    sink(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
                    sink(bytes);
                }
                None => sink(&[0]),
            }
        }
    }

    /// The normalised link: `tg://proxy?…` for MTProto, `tg://socks?…` for SOCKS5, the
    /// scheme URL for the others. Parsing it back yields an equal spec.
    pub fn to_link(&self) -> String {
        let secret = self
            .secret
            .as_ref()
            .map(MtprotoSecret::to_hex)
            .unwrap_or_default();
        let password = self.password.as_deref().map(percent_encode);
        self.render_link(&secret, password.as_deref())
    }

    /// The link with the secret and password redacted, for human output.
    pub(crate) fn to_redacted_link(&self) -> String {
        let secret = self
            .secret
            .as_ref()
            .map(MtprotoSecret::redacted)
            .unwrap_or_default();
        self.render_link(&secret, self.password.as_ref().map(|_| "***"))
    }

    /// Renders the link with the secret and password text already encoded by the caller.
    fn render_link(&self, secret: &str, password: Option<&str>) -> String {
        // Hosts are letters, digits, `.-_:` and an IPv6 zone's `%`: only `%` needs escaping.
        let host = self.host.replace('%', "%25");
        match self.kind {
            ProxyKind::Mtproto => {
                format!(
                    "tg://proxy?server={host}&port={}&secret={secret}",
                    self.port
                )
            }
            ProxyKind::Socks5 => {
                let mut link = format!("tg://socks?server={host}&port={}", self.port);
                if let Some(user) = &self.username {
                    let _ = write!(link, "&user={}", percent_encode(user));
                }
                if let Some(pass) = password {
                    let _ = write!(link, "&pass={pass}");
                }
                link
            }
            ProxyKind::Socks4 | ProxyKind::Socks4a | ProxyKind::Http | ProxyKind::Https => {
                let mut link = format!("{}://", self.kind);
                if let Some(user) = &self.username {
                    link.push_str(&percent_encode(user));
                    if let Some(pass) = password {
                        let _ = write!(link, ":{pass}");
                    }
                    link.push('@');
                }
                let _ = write!(link, "{}:{}", bracket_host(&self.host), self.port);
                link
            }
        }
    }

    /// `host:port`, with IPv6 hosts in brackets.
    pub fn endpoint(&self) -> String {
        format!("{}:{}", bracket_host(&self.host), self.port)
    }
}

/// Percent-encodes a query value or userinfo part (see [`QUERY_VALUE`]).
fn percent_encode(text: &str) -> String {
    utf8_percent_encode(text, QUERY_VALUE).to_string()
}

/// Wraps an IPv6 literal in brackets for use in `host:port`.
pub(crate) fn bracket_host(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// Validates and normalises a host: IPv6 (bracketed or not, zone kept) in canonical form,
/// IPv4 including the odd spellings resolvers accept (kept as written, their class is
/// computed elsewhere), or a DNS name (lower case, trailing dot removed).
///
/// A name with non-ASCII characters goes through IDNA (UTS #46, as browsers and curl do):
/// `пример.рф` becomes `xn--e1afmkfd.xn--p1ai`, and full-width `１２７.０.０.１` becomes
/// `127.0.0.1`, so the address guard sees the address a client would reach. The result is
/// then checked as any ASCII host. A look-alike such as `lоcalhost` (Cyrillic `о`) becomes
/// `xn--lcalhost-…`, which is another name than `localhost`, as it is for a resolver: it is
/// not refused here, and the guard classifies what it resolves to. A name IDNA refuses is
/// [`SpecError::BadIdn`]; a host is never cut short.
pub(crate) fn normalize_host(raw: &str) -> Result<String, SpecError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(SpecError::EmptyHost);
    }
    let inner = raw.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    if let Some(v6) = inner.or_else(|| raw.contains(':').then_some(raw)) {
        let (addr, zone) = v6.split_once('%').map_or((v6, None), |(a, z)| (a, Some(z)));
        let parsed = Ipv6Addr::from_str(addr).map_err(|_| SpecError::BadHost(shown(raw)))?;
        return Ok(match zone {
            Some(zone) if !zone.is_empty() && zone.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                format!("{parsed}%{zone}")
            }
            Some(_) => return Err(SpecError::BadHost(shown(raw))),
            None => parsed.to_string(),
        });
    }
    if raw.is_ascii() {
        return normalize_ascii_name(raw).ok_or_else(|| SpecError::BadHost(shown(raw)));
    }
    let ascii = idna::domain_to_ascii_cow(raw.as_bytes(), idna::AsciiDenyList::URL)
        .map_err(|_| SpecError::BadIdn(shown(raw)))?;
    normalize_ascii_name(&ascii).ok_or_else(|| SpecError::BadIdn(shown(raw)))
}

/// The head of a refused host, for the error message.
fn shown(raw: &str) -> String {
    raw.chars().take(80).collect()
}

/// An ASCII IPv4 literal (any spelling resolvers accept) or DNS name, lower case without
/// its trailing dot; `None` when it is neither.
fn normalize_ascii_name(raw: &str) -> Option<String> {
    let host = raw.strip_suffix('.').unwrap_or(raw).to_ascii_lowercase();
    if host.ends_with('.') || !host.is_ascii() {
        return None;
    }
    if Ipv4Addr::from_str(&host).is_ok() || parse_lenient_ipv4(&host).is_some() {
        return Some(host);
    }
    let looks_numeric = host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    let valid_name = host.len() <= 253
        && !looks_numeric
        && host
            .split('.')
            .all(|label| is_dns_label(label) || is_underscore_label(label));
    valid_name.then_some(host)
}

/// Labels like `_proxy` appear in real names (SRV-style); allow underscores inside labels.
fn is_underscore_label(label: &str) -> bool {
    (1..=63).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// Parses a port: decimal digits only, 1–65535.
pub(crate) fn parse_port(raw: &str) -> Result<u16, SpecError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(SpecError::MissingPort);
    }
    match raw.parse::<u16>() {
        Ok(port) if port != 0 && raw.bytes().all(|b| b.is_ascii_digit()) => Ok(port),
        _ => Err(SpecError::BadPort(raw.chars().take(20).collect())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_normalise() {
        let cases = [
            ("Example.COM", Ok("example.com")),
            ("example.com.", Ok("example.com")),
            ("142.3..", Err(SpecError::BadHost("142.3..".into()))),
            ("[2001:DB8::1]", Ok("2001:db8::1")),
            ("2001:db8:0:0::1", Ok("2001:db8::1")),
            ("[fe80::1%eth0]", Ok("fe80::1%eth0")),
            ("1.2.3.4", Ok("1.2.3.4")),
            ("0x7f.1", Ok("0x7f.1")),
            ("2130706433", Ok("2130706433")),
            ("localhost", Ok("localhost")),
            ("_srv.example.org", Ok("_srv.example.org")),
            ("1.2.3.999", Err(SpecError::BadHost("1.2.3.999".into()))),
            (
                "exa mple.com",
                Err(SpecError::BadHost("exa mple.com".into())),
            ),
            ("-bad.com", Err(SpecError::BadHost("-bad.com".into()))),
            ("[::zz]", Err(SpecError::BadHost("[::zz]".into()))),
            ("", Err(SpecError::EmptyHost)),
        ];
        for (input, expected) in cases {
            assert_eq!(
                normalize_host(input),
                expected.map(str::to_owned),
                "{input}"
            );
        }
    }

    #[test]
    fn non_ascii_hosts_become_punycode_or_are_refused_never_cut() {
        let cases = [
            // Cyrillic `о` in `localhost`: another name, kept whole as punycode.
            ("l\u{043e}calhost", Ok("xn--lcalhost-nbh")),
            ("Пример.РФ", Ok("xn--e1afmkfd.xn--p1ai")),
            ("пример.рф.", Ok("xn--e1afmkfd.xn--p1ai")),
            ("bücher.example", Ok("xn--bcher-kva.example")),
            // Full-width digits and dots name the address a client would reach.
            ("１２７.０.０.１", Ok("127.0.0.1")),
            (
                "bad\u{fffd}.example",
                Err(SpecError::BadIdn("bad\u{fffd}.example".into())),
            ),
            (
                "a\u{2026}b.example",
                Err(SpecError::BadIdn("a\u{2026}b.example".into())),
            ),
            ("exa mple.рф", Err(SpecError::BadIdn("exa mple.рф".into()))),
        ];
        for (input, expected) in cases {
            assert_eq!(
                normalize_host(input),
                expected.map(str::to_owned),
                "{input}"
            );
        }
        assert_eq!(SpecError::BadIdn("x".into()).code(), "bad_host");
    }

    #[test]
    fn ports_validate() {
        assert_eq!(parse_port("443"), Ok(443));
        assert_eq!(parse_port("65535"), Ok(65535));
        assert_eq!(parse_port("0"), Err(SpecError::BadPort("0".into())));
        assert_eq!(parse_port("65536"), Err(SpecError::BadPort("65536".into())));
        assert_eq!(parse_port("+80"), Err(SpecError::BadPort("+80".into())));
        assert_eq!(parse_port(""), Err(SpecError::MissingPort));
    }

    #[test]
    fn dedup_key_separates_credentials_unambiguously() {
        let base = ProxySpec {
            kind: ProxyKind::Socks5,
            host: "h".into(),
            port: 1,
            secret: None,
            username: Some("a|b".into()),
            password: Some("c".into()),
        };
        let other = ProxySpec {
            username: Some("a".into()),
            password: Some("b|c".into()),
            ..base.clone()
        };
        assert_ne!(base.dedup_key(), other.dedup_key());
    }

    #[test]
    fn redacted_link_hides_password_and_secret() {
        let spec = ProxySpec {
            kind: ProxyKind::Http,
            host: "h.example".into(),
            port: 8080,
            secret: None,
            username: Some("u".into()),
            password: Some("hunter2".into()),
        };
        assert_eq!(spec.to_redacted_link(), "http://u:***@h.example:8080");
        assert_eq!(spec.to_link(), "http://u:hunter2@h.example:8080");
    }
}
