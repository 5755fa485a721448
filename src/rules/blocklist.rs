//! The blocklist: hosts, address ranges, FakeTLS domains and secrets known to be hostile.
//!
//! The built-in list is `rules/blocklist.toml` (compiled in as `BUILT_IN`; it ships only
//! clearly marked examples on documentation addresses and `.invalid` names). A user loads
//! another file with [`Blocklist::load`]; [`Blocklist::check`] gives the reason of the first
//! rule a proxy matches.
//!
//! # File format
//! TOML; unknown keys are errors naming the file and line. Every rule needs a non-empty
//! `reason`.
//!
//! ```toml
//! [[host]]
//! name = "hostile-proxy.example.invalid"   # exact host name, or an IP literal
//! reason = "…"
//!
//! [[cidr]]
//! range = "203.0.113.0/24"                 # IPv4 or IPv6, host bits zero
//! reason = "…"
//!
//! [[faketls_domain]]
//! domain = "phishing.example.invalid"      # domain a FakeTLS (ee) secret imitates
//! reason = "…"
//!
//! [[secret]]
//! secret_sha256 = "…64 hex…"               # SHA-256 of the secret's 16 key bytes
//! reason = "…"
//! ```
//!
//! # Matching
//! Rules are tried kind by kind — hosts, ranges, domains, secrets — each kind in file order.
//! - A host name matches the proxy's host exactly, ASCII case-insensitively. An IP literal
//!   matches the proxy's host when that is the same address (IPv4 in any spelling the
//!   resolver accepts, see `parse_lenient_ipv4`) and any resolved address.
//! - A range matches when the host is an IP inside it, or any resolved address is.
//!   IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) count as the IPv4 address they carry.
//! - A FakeTLS domain matches the domain in an `ee` secret, ASCII case-insensitively.
//! - A secret hash matches the SHA-256 of the secret's key bytes (`key_sha256`), so one
//!   rule catches the plain, `dd` and `ee` forms of a key.
//!
//! Range matching is written out here rather than taken from a crate: an address is inside
//! `network/prefix` when their first `prefix` bits agree, which is one shift and compare on
//! the address as a `u32` (IPv4) or `u128` (IPv6).

use std::net::{IpAddr, Ipv6Addr};
use std::ops::Range;
use std::path::Path;
use std::str::FromStr;

use serde::Deserialize;
use toml::Spanned;

use crate::config::{FileError, read_rule_file};
use crate::proto::ipv4::parse_lenient_ipv4;
use crate::proxy::{ProxySpec, normalize_host};
use crate::rules::trusted::{hex_sha256, key_sha256};

/// The built-in list, `rules/blocklist.toml` (examples only).
pub(crate) const BUILT_IN: &str = include_str!("../../rules/blocklist.toml");

/// The loaded blocklist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Blocklist {
    /// `[[host]]` rules, in file order.
    pub hosts: Vec<HostRule>,
    /// `[[cidr]]` rules, in file order.
    pub cidrs: Vec<CidrRule>,
    /// `[[faketls_domain]]` rules, in file order.
    pub faketls_domains: Vec<DomainRule>,
    /// `[[secret]]` rules, in file order.
    pub secrets: Vec<SecretRule>,
}

/// A blocked host name or IP literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRule {
    /// The host, normalised (lower case, canonical IPv6).
    pub name: String,
    /// The address, when `name` is an IP literal.
    pub ip: Option<IpAddr>,
    /// Why it is blocked.
    pub reason: String,
}

/// A blocked address range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// First address of the range (host bits zero).
    pub network: IpAddr,
    /// Number of leading bits that must agree (0–32 for IPv4, 0–128 for IPv6).
    pub prefix: u8,
}

/// A `[[cidr]]` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrRule {
    /// The range.
    pub range: Cidr,
    /// Why it is blocked.
    pub reason: String,
}

/// A blocked FakeTLS domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainRule {
    /// The domain, lower case, without a trailing dot.
    pub domain: String,
    /// Why it is blocked.
    pub reason: String,
}

/// A blocked MTProto key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRule {
    /// SHA-256 of the secret's 16 key bytes.
    pub secret_sha256: [u8; 32],
    /// Why it is blocked.
    pub reason: String,
}

/// A blocklist that could not be loaded, naming the file and line when known.
pub(crate) type BlocklistError = FileError;

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawList {
    /// `[[host]]` tables.
    #[serde(default)]
    host: Vec<RawHost>,
    /// `[[cidr]]` tables.
    #[serde(default)]
    cidr: Vec<RawCidr>,
    /// `[[faketls_domain]]` tables.
    #[serde(default)]
    faketls_domain: Vec<RawDomain>,
    /// `[[secret]]` tables.
    #[serde(default)]
    secret: Vec<RawSecret>,
}

/// `[[host]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    /// Host name or IP literal.
    name: Spanned<String>,
    /// Why.
    reason: Spanned<String>,
}

/// `[[cidr]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCidr {
    /// `address/prefix`.
    range: Spanned<String>,
    /// Why.
    reason: Spanned<String>,
}

/// `[[faketls_domain]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDomain {
    /// The domain.
    domain: Spanned<String>,
    /// Why.
    reason: Spanned<String>,
}

/// `[[secret]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecret {
    /// Key hash.
    secret_sha256: Spanned<String>,
    /// Why.
    reason: Spanned<String>,
}

/// An error found in one rule: where (byte span) and what.
type RuleError = (Range<usize>, String);

impl Blocklist {
    /// The built-in list (`BUILT_IN`).
    pub fn built_in() -> Result<Self, BlocklistError> {
        Self::from_toml(BUILT_IN, "built-in blocklist.toml")
    }

    /// Loads a list file.
    pub fn load(path: &Path) -> Result<Self, BlocklistError> {
        let (text, origin) = read_rule_file(path)?;
        Self::from_toml(&text, &origin)
    }

    /// Parses list text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, BlocklistError> {
        let raw: RawList = toml::from_str(text).map_err(|e| FileError::toml(origin, text, &e))?;
        let located = |(span, message): RuleError| FileError::at(origin, text, span.start, message);
        Ok(Self {
            hosts: collect(&raw.host, host_rule).map_err(located)?,
            cidrs: collect(&raw.cidr, cidr_rule).map_err(located)?,
            faketls_domains: collect(&raw.faketls_domain, domain_rule).map_err(located)?,
            secrets: collect(&raw.secret, secret_rule).map_err(located)?,
        })
    }

    /// The reason of the first rule `spec` matches, trying hosts, ranges, FakeTLS domains
    /// and secrets in that order. `resolved` holds the addresses the host resolved to
    /// (empty when it was not resolved, or is an IP literal).
    pub fn check(&self, spec: &ProxySpec, resolved: &[IpAddr]) -> Option<String> {
        let host_ip = host_ip(&spec.host);
        let addresses: Vec<IpAddr> = host_ip
            .into_iter()
            .chain(resolved.iter().copied())
            .map(|ip| ip.to_canonical())
            .collect();
        let by_host = self.hosts.iter().find(|rule| match rule.ip {
            Some(ip) => addresses.contains(&ip),
            None => rule.name.eq_ignore_ascii_case(&spec.host),
        });
        let by_range = || {
            self.cidrs
                .iter()
                .find(|rule| addresses.iter().any(|&ip| rule.range.contains(ip)))
        };
        let domain = spec.secret.as_ref().and_then(|s| s.faketls_domain());
        let by_domain = || {
            self.faketls_domains
                .iter()
                .find(|rule| domain.is_some_and(|d| rule.domain.eq_ignore_ascii_case(d)))
        };
        let key_hash = spec.secret.as_ref().map(key_sha256);
        let by_secret = || {
            self.secrets
                .iter()
                .find(|rule| key_hash == Some(rule.secret_sha256))
        };
        by_host
            .map(|rule| &rule.reason)
            .or_else(|| by_range().map(|rule| &rule.reason))
            .or_else(|| by_domain().map(|rule| &rule.reason))
            .or_else(|| by_secret().map(|rule| &rule.reason))
            .cloned()
    }
}

impl Cidr {
    /// Whether `ip` lies in the range. IPv4 and IPv6 ranges never contain each other's
    /// addresses; callers canonicalise IPv4-mapped addresses first.
    pub fn contains(self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => same_prefix(
                u128::from(net.to_bits()),
                u128::from(ip.to_bits()),
                32,
                self.prefix,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                same_prefix(net.to_bits(), ip.to_bits(), 128, self.prefix)
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    /// Reads `address/prefix`; the prefix fits the family and the host bits are zero (a
    /// range like `203.0.113.5/24` is refused as a likely typo).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{text:?} is not a range like 203.0.113.0/24 or 2001:db8::/32");
        let (address, prefix) = text.trim().split_once('/').ok_or_else(bad)?;
        let network = IpAddr::from_str(address).map_err(|_| bad())?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|_| prefix.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(bad)?;
        let width = if network.is_ipv4() { 32 } else { 128 };
        if prefix > width {
            return Err(format!(
                "{text:?}: prefix /{prefix} is longer than {width} bits"
            ));
        }
        let range = Self { network, prefix };
        let zero_host = match network {
            IpAddr::V4(v4) => {
                mask(u128::from(v4.to_bits()), 32, prefix) == u128::from(v4.to_bits())
            }
            IpAddr::V6(v6) => mask(v6.to_bits(), 128, prefix) == v6.to_bits(),
        };
        if zero_host {
            Ok(range)
        } else {
            Err(format!("{text:?} has host bits set after /{prefix}"))
        }
    }
}

/// Whether `a` and `b`, numbers of `width` bits, agree in their first `prefix` bits.
fn same_prefix(a: u128, b: u128, width: u32, prefix: u8) -> bool {
    mask(a, width, prefix) == mask(b, width, prefix)
}

/// `value` (of `width` bits) with every bit after the first `prefix` cleared. The shift is
/// by the number of host bits; `checked_shl`/`checked_shr` cover a full-width shift (prefix
/// 0), which plain shifts would reject.
fn mask(value: u128, width: u32, prefix: u8) -> u128 {
    let host_bits = width.saturating_sub(u32::from(prefix));
    value
        .checked_shr(host_bits)
        .and_then(|kept| kept.checked_shl(host_bits))
        .unwrap_or(0)
}

/// The host as an IP address: IPv4 in any resolver spelling, IPv6 with its zone dropped.
fn host_ip(host: &str) -> Option<IpAddr> {
    if host.contains(':') {
        let address = host
            .split_once('%')
            .map_or(host, |(address, _zone)| address);
        Ipv6Addr::from_str(address).ok().map(IpAddr::V6)
    } else {
        parse_lenient_ipv4(host).map(IpAddr::V4)
    }
}

/// Builds every rule of one kind, stopping at the first error.
fn collect<R, T>(raw: &[R], build: fn(&R) -> Result<T, RuleError>) -> Result<Vec<T>, RuleError> {
    raw.iter().map(build).collect()
}

/// A trimmed non-empty reason, or an error at its position.
fn reason(reason: &Spanned<String>) -> Result<String, RuleError> {
    let text = reason.get_ref().trim().to_owned();
    if text.is_empty() {
        return Err((reason.span(), "reason must not be empty".to_owned()));
    }
    Ok(text)
}

/// Checks a `[[host]]`.
fn host_rule(raw: &RawHost) -> Result<HostRule, RuleError> {
    let name =
        normalize_host(raw.name.get_ref()).map_err(|e| (raw.name.span(), format!("host: {e}")))?;
    Ok(HostRule {
        ip: host_ip(&name).map(|ip| ip.to_canonical()),
        name,
        reason: reason(&raw.reason)?,
    })
}

/// Checks a `[[cidr]]`.
fn cidr_rule(raw: &RawCidr) -> Result<CidrRule, RuleError> {
    let range = Cidr::from_str(raw.range.get_ref()).map_err(|e| (raw.range.span(), e))?;
    Ok(CidrRule {
        range,
        reason: reason(&raw.reason)?,
    })
}

/// Checks a `[[faketls_domain]]`.
fn domain_rule(raw: &RawDomain) -> Result<DomainRule, RuleError> {
    let text = raw.domain.get_ref().trim();
    let domain = text.strip_suffix('.').unwrap_or(text).to_ascii_lowercase();
    if !crate::proto::mtproto::secret::is_faketls_domain(domain.as_bytes()) {
        return Err((
            raw.domain.span(),
            format!("{text:?} is not a domain a FakeTLS secret can carry"),
        ));
    }
    Ok(DomainRule {
        domain,
        reason: reason(&raw.reason)?,
    })
}

/// Checks a `[[secret]]`.
fn secret_rule(raw: &RawSecret) -> Result<SecretRule, RuleError> {
    Ok(SecretRule {
        secret_sha256: hex_sha256(&raw.secret_sha256)?,
        reason: reason(&raw.reason)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::mtproto::secret::MtprotoSecret;
    use crate::proxy::ProxyKind;

    /// The key the built-in example `[[secret]]` blocks.
    const BLOCKED_KEY: &str = "4558414d504c452d4e4f542d5245414c";

    /// A SOCKS5 spec for `host`.
    fn socks(host: &str) -> ProxySpec {
        ProxySpec {
            kind: ProxyKind::Socks5,
            host: host.to_owned(),
            port: 1080,
            secret: None,
            username: None,
            password: None,
        }
    }

    /// An MTProto spec on a harmless host with this secret.
    fn mtproto(secret_hex: &str) -> ProxySpec {
        ProxySpec {
            kind: ProxyKind::Mtproto,
            host: "proxy.example.org".to_owned(),
            port: 443,
            secret: Some(MtprotoSecret::decode(secret_hex).unwrap()),
            username: None,
            password: None,
        }
    }

    /// Hex of an ASCII domain (test helper for `ee` secrets).
    fn hex(text: &str) -> String {
        crate::proto::hex::to_hex(text.as_bytes())
    }

    /// Parses an address (test helper).
    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn built_in_list_loads_marked_examples() {
        let list = Blocklist::built_in().unwrap();
        let reasons: Vec<&String> = list
            .hosts
            .iter()
            .map(|r| &r.reason)
            .chain(list.cidrs.iter().map(|r| &r.reason))
            .chain(list.faketls_domains.iter().map(|r| &r.reason))
            .chain(list.secrets.iter().map(|r| &r.reason))
            .collect();
        assert_eq!(reasons.len(), 7, "{list:?}");
        assert!(
            reasons.iter().all(|r| r.starts_with("EXAMPLE")),
            "{reasons:?}"
        );
        assert!(!list.hosts.is_empty() && !list.cidrs.is_empty());
        assert!(!list.faketls_domains.is_empty() && !list.secrets.is_empty());
        // Only documentation space: nothing public is blocked by the shipped examples.
        for rule in &list.cidrs {
            let class = crate::policy::address::AddressClass::of_ip(rule.range.network);
            assert_eq!(class.as_str(), "documentation", "{rule:?}");
        }
    }

    #[test]
    fn check_truth_table() {
        let list = Blocklist::built_in().unwrap();
        let reason = |spec: &ProxySpec, resolved: &[IpAddr]| {
            list.check(spec, resolved)
                .map(|r| r.split(':').next().unwrap_or_default().to_owned())
        };
        let host_reason = Some("EXAMPLE".to_owned());
        // Host name, exact and case-insensitive; a subdomain or neighbour is not blocked.
        assert_eq!(
            reason(&socks("hostile-proxy.example.invalid"), &[]),
            host_reason
        );
        assert_eq!(
            reason(&socks("HOSTILE-proxy.example.invalid"), &[]),
            host_reason
        );
        assert_eq!(reason(&socks("a.hostile-proxy.example.invalid"), &[]), None);
        // An IP host rule, as written, in an odd spelling, and as a resolved address.
        assert_eq!(reason(&socks("192.0.2.66"), &[]), host_reason);
        assert_eq!(reason(&socks("3221226050"), &[]), host_reason);
        assert_eq!(
            reason(&socks("clean.example"), &[ip("192.0.2.66")]),
            host_reason
        );
        assert_eq!(reason(&socks("192.0.2.67"), &[]), None);
        // Ranges: IPv4 host, IPv6 host, resolved addresses (v4, v6, IPv4-mapped).
        assert_eq!(reason(&socks("203.0.113.200"), &[]), host_reason);
        assert_eq!(reason(&socks("203.0.114.1"), &[]), None);
        assert_eq!(reason(&socks("2001:db8:bad:1::5"), &[]), host_reason);
        assert_eq!(reason(&socks("2001:db8:bae::5"), &[]), None);
        let clean = socks("clean.example");
        assert_eq!(
            reason(&clean, &[ip("192.0.2.1"), ip("198.51.100.7")]),
            host_reason
        );
        assert_eq!(reason(&clean, &[ip("2001:db8:bad:ffff::1")]), host_reason);
        assert_eq!(reason(&clean, &[ip("::ffff:198.51.100.7")]), host_reason);
        assert_eq!(reason(&clean, &[ip("192.0.2.1"), ip("2001:db8::1")]), None);
        // FakeTLS domain, any case; the same domain as a host name is a different rule.
        let ee = |key: &str, domain: &str| mtproto(&format!("ee{key}{}", hex(domain)));
        let other_key = "ffeeddccbbaa99887766554433221100";
        assert_eq!(
            reason(&ee(other_key, "PHISHING.example.invalid"), &[]),
            host_reason
        );
        assert_eq!(reason(&ee(other_key, "example.invalid"), &[]), None);
        assert_eq!(reason(&socks("phishing.example.invalid"), &[]), None);
        // A blocked key in every form; another key is clean.
        for secret in [
            BLOCKED_KEY.to_owned(),
            format!("dd{BLOCKED_KEY}"),
            format!("ee{BLOCKED_KEY}{}", hex("www.example.org")),
        ] {
            assert_eq!(reason(&mtproto(&secret), &[]), host_reason, "{secret}");
        }
        assert_eq!(reason(&mtproto(&format!("dd{other_key}")), &[]), None);
    }

    #[test]
    fn first_rule_wins_and_its_reason_is_returned() {
        let text = "[[cidr]]\nrange = \"10.0.0.0/8\"\nreason = \"range\"\n\n\
                    [[host]]\nname = \"10.1.2.3\"\nreason = \"host\"\n\n\
                    [[cidr]]\nrange = \"10.1.0.0/16\"\nreason = \"narrower\"\n\n\
                    [[cidr]]\nrange = \"::/0\"\nreason = \"all v6\"\n";
        let list = Blocklist::from_toml(text, "t.toml").unwrap();
        assert_eq!(list.check(&socks("10.1.2.3"), &[]).as_deref(), Some("host"));
        assert_eq!(
            list.check(&socks("10.1.2.4"), &[]).as_deref(),
            Some("range")
        );
        assert_eq!(
            list.check(&socks("fe80::1%eth0"), &[]).as_deref(),
            Some("all v6")
        );
        assert_eq!(list.check(&socks("11.0.0.1"), &[]), None);
    }

    #[test]
    fn ranges_parse_strictly_and_match_by_prefix() {
        let range = |text: &str| Cidr::from_str(text);
        assert!(range("0.0.0.0/0").unwrap().contains(ip("255.255.255.255")));
        assert!(!range("0.0.0.0/0").unwrap().contains(ip("::1")));
        assert!(range("192.0.2.1/32").unwrap().contains(ip("192.0.2.1")));
        assert!(!range("192.0.2.1/32").unwrap().contains(ip("192.0.2.0")));
        assert!(range("192.0.2.128/25").unwrap().contains(ip("192.0.2.255")));
        assert!(!range("192.0.2.128/25").unwrap().contains(ip("192.0.2.127")));
        assert!(range("2001:db8::/127").unwrap().contains(ip("2001:db8::1")));
        assert!(!range("2001:db8::/127").unwrap().contains(ip("2001:db8::2")));
        assert!(range("::1/128").unwrap().contains(ip("::1")));
        for bad in [
            "192.0.2.0",
            "192.0.2.0/33",
            "::/129",
            "192.0.2.5/24",
            "x/8",
            "10.0.0.0/+8",
            "10.0.0.0/",
        ] {
            assert!(range(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_key_names_file_and_line() {
        let text = "[[host]]\nname = \"a.example\"\nreason = \"r\"\n\n[[cidr]]\nrange = \"10.0.0.0/8\"\nreason = \"r\"\nnote = \"x\"\n";
        let err = Blocklist::from_toml(text, "block.toml").unwrap_err();
        assert_eq!(
            (err.origin.as_str(), err.line),
            ("block.toml", Some(8)),
            "{err}"
        );
        assert!(err.to_string().starts_with("block.toml:8: "), "{err}");
        assert!(err.message.contains("note"), "{err}");
    }

    #[test]
    fn invalid_rules_are_errors_on_their_line() {
        let cases = [
            (
                "[[cidr]]\nrange = \"203.0.113.0/33\"\nreason = \"r\"\n",
                2,
                "longer than 32",
            ),
            (
                "[[cidr]]\nrange = \"203.0.113.9/24\"\nreason = \"r\"\n",
                2,
                "host bits",
            ),
            (
                "[[cidr]]\nrange = \"bad\"\nreason = \"r\"\n",
                2,
                "not a range",
            ),
            (
                "[[host]]\nname = \"bad host\"\nreason = \"r\"\n",
                2,
                "invalid host",
            ),
            (
                "[[host]]\nname = \"a.example\"\n\nreason = \" \"\n",
                4,
                "reason",
            ),
            (
                "[[faketls_domain]]\ndomain = \"127.0.0.1\"\nreason = \"r\"\n",
                2,
                "FakeTLS",
            ),
            (
                "[[secret]]\nsecret_sha256 = \"abcd\"\nreason = \"r\"\n",
                2,
                "64 hex digits",
            ),
            ("[[secret]]\nsecret_sha256 = \"abcd\"\n", 1, "reason"),
        ];
        for (text, line, expected) in cases {
            let err = Blocklist::from_toml(text, "b.toml").unwrap_err();
            assert_eq!(err.line, Some(line), "{text:?}: {err}");
            assert!(err.message.contains(expected), "{text:?}: {err}");
        }
    }

    #[test]
    fn load_reads_a_file_and_names_it_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blocklist.toml");
        std::fs::write(&path, BUILT_IN).unwrap();
        assert_eq!(
            Blocklist::load(&path).unwrap(),
            Blocklist::built_in().unwrap()
        );
        let err = Blocklist::load(&dir.path().join("missing.toml")).unwrap_err();
        assert_eq!(err.line, None);
        assert!(err.origin.ends_with("missing.toml"), "{err}");
    }
}
