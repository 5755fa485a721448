//! Checked configuration: the probe profile (where the checks point).
//!
//! A profile is TOML (see `rules/profiles/internet.toml`): TLS canaries, plain-HTTP
//! canaries and an optional judge. Unknown keys are errors that name the file and line.
//! Relative file names inside a profile (PEM roots) are read relative to the profile, through
//! a caller-supplied reader so the lab can hand over its CA without touching the disk.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::Deserialize;

/// The built-in profile that points at public endpoints.
pub(crate) const INTERNET_PROFILE: &str = include_str!("../rules/profiles/internet.toml");

/// Telegram's RSA public keys, named `telegram-keys.pem` by the built-in profile.
pub(crate) const TELEGRAM_KEYS: &str = include_str!("../rules/profiles/telegram-keys.pem");

/// Where the checks point.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Profile name (`internet`, `lab`, …), shown in reports.
    pub name: String,
    /// TLS sites whose real certificates are known.
    pub tls_canaries: Vec<TlsCanary>,
    /// Plain-HTTP pages whose exact bytes are known.
    pub http_canaries: Vec<HttpCanary>,
    /// A server echoing request headers and the client address as JSON.
    pub judge: Option<HttpUrl>,
    /// Names the auditor resolves itself instead of asking the system (`[hosts]`); the lab
    /// profile maps its `*.lab.test` names here so reference fetches stay offline.
    pub hosts: BTreeMap<String, Vec<IpAddr>>,
    /// Telegram datacenters and the RSA keys that prove them (`[telegram]`).
    pub telegram: Option<TelegramProfile>,
}

/// The `[telegram]` table: where the datacenters are and which keys prove them.
#[derive(Debug, Clone)]
pub struct TelegramProfile {
    /// Datacenters by id.
    pub dcs: Vec<Datacenter>,
    /// The PEM files of trusted RSA public keys: (file name, text).
    pub rsa_public_keys: Vec<(String, String)>,
    /// Roots a FakeTLS proxy's fronted domain must chain to (the fronting check).
    pub fronting_roots: Arc<RootCertStore>,
}

/// One datacenter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datacenter {
    /// Datacenter id (1–5 in production).
    pub id: i16,
    /// Its address.
    pub address: SocketAddr,
}

/// A TLS site reached through the proxy.
#[derive(Debug, Clone)]
pub struct TlsCanary {
    /// Name in reports.
    pub name: String,
    /// Host sent through the proxy; also the SNI and the certificate name.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Optional IP literal for the by-address leg of the DNS check.
    pub address: Option<IpAddr>,
    /// Roots the presented chain must lead to.
    pub roots: Arc<RootCertStore>,
    /// Where the roots came from (`webpki` or the PEM file name), for reports.
    pub roots_source: String,
    /// Optional SubjectPublicKeyInfo SHA-256 pins; one must appear in the chain.
    pub spki_sha256: Vec<[u8; 32]>,
}

/// A plain-HTTP page with known bytes.
#[derive(Debug, Clone)]
pub struct HttpCanary {
    /// Name in reports.
    pub name: String,
    /// Where it is.
    pub url: HttpUrl,
    /// SHA-256 of the exact body.
    pub sha256: [u8; 32],
}

/// A parsed `http://host[:port]/path` URL (plain HTTP only: canaries and judges).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// TCP port (80 when the URL names none).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl HttpUrl {
    /// Parses `http://host[:port][/path]`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let rest = text
            .strip_prefix("http://")
            .ok_or_else(|| format!("{text:?}: only http:// URLs can be canaries or judges"))?;
        // The host and path go into the request line and Host field as they are.
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("{text:?}: spaces or control characters"));
        }
        let (authority, path) = match rest.find('/') {
            Some(at) => (
                rest.get(..at).unwrap_or(rest),
                rest.get(at..).unwrap_or("/"),
            ),
            None => (rest, "/"),
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("{text:?}: unclosed [ in host"))?;
            let port = match after {
                "" => None,
                _ => Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| format!("{text:?}: {after:?} after the ]"))?,
                ),
            };
            (host, port)
        } else if authority.matches(':').count() > 1 {
            return Err(format!("{text:?}: an IPv6 host goes in brackets"));
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(format!("{text:?}: no host"));
        }
        if host.contains(['[', ']']) {
            return Err(format!("{text:?}: bad host {host:?}"));
        }
        let port = match port {
            Some(port) => port
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| format!("{text:?}: bad port {port:?}"))?,
            None => 80,
        };
        Ok(Self {
            host: host.to_ascii_lowercase(),
            port,
            path: path.to_owned(),
        })
    }

    /// The `Host` header value.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.host_header(), self.path)
    }
}

/// A profile or rule file that could not be loaded, naming the file (and line when known).
/// Every loader (profiles, scoring, trusted list, blocklist, interception CAs) reports
/// with it, so `rules check` and the command line print them all the same way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct FileError {
    /// The file name (or `internet`, `lab`, `built-in scoring.toml`…).
    pub origin: String,
    /// 1-based line of the problem, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl FileError {
    /// A problem in `origin`, at `line` when known.
    pub fn new(origin: &str, line: Option<usize>, message: impl Into<String>) -> Self {
        Self {
            origin: origin.to_owned(),
            line,
            message: message.into(),
        }
    }

    /// A problem at byte `offset` of `text`.
    pub fn at(origin: &str, text: &str, offset: usize, message: impl Into<String>) -> Self {
        Self::new(origin, Some(line_of(text, offset)), message)
    }

    /// TOML that does not parse or does not fit the schema (unknown keys included), at the
    /// line the parser points to.
    pub fn toml(origin: &str, text: &str, error: &toml::de::Error) -> Self {
        let line = error.span().map(|span| line_of(text, span.start));
        Self::new(origin, line, error.message().trim_end())
    }
}

/// Reads a profile or rule file; returns its text and its name for error messages.
///
/// # Errors
/// When the file cannot be read (the error names it).
pub(crate) fn read_rule_file(path: &Path) -> Result<(String, String), FileError> {
    let origin = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((text, origin)),
        Err(error) => Err(FileError::new(&origin, None, error.to_string())),
    }
}

/// A profile that could not be loaded.
pub(crate) type ProfileError = FileError;

/// The profile file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    /// Profile name.
    name: String,
    /// `[[tls_canary]]` tables.
    #[serde(default)]
    tls_canary: Vec<RawTlsCanary>,
    /// `[[http_canary]]` tables.
    #[serde(default)]
    http_canary: Vec<RawHttpCanary>,
    /// `[judge]` table.
    judge: Option<RawJudge>,
    /// `[hosts]` table: name → IP literal or list of them.
    #[serde(default)]
    hosts: BTreeMap<String, OneOrMany>,
    /// `[telegram]` table.
    telegram: Option<RawTelegram>,
}

/// `[telegram]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTelegram {
    /// `[{ id = 2, address = "149.154.167.51:443" }, …]`.
    dc: Vec<RawDatacenter>,
    /// PEM files relative to the profile.
    rsa_public_keys: Vec<String>,
    /// `webpki` or a PEM file: roots for the fronting check.
    #[serde(default = "webpki")]
    fronting_roots: String,
}

/// One `dc` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatacenter {
    /// Datacenter id.
    id: i16,
    /// `ip:port`.
    address: String,
}

/// A `[hosts]` value: one address or several.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    /// `"127.0.0.1"`.
    One(String),
    /// `["127.0.0.1", "::1"]`.
    Many(Vec<String>),
}

/// `[[tls_canary]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTlsCanary {
    /// Name in reports.
    name: String,
    /// Host (SNI, certificate name).
    host: String,
    /// Port, 443 by default.
    #[serde(default = "https_port")]
    port: u16,
    /// Optional IP literal ("" for none).
    #[serde(default)]
    address: String,
    /// `webpki` or a PEM file relative to the profile.
    #[serde(default = "webpki")]
    roots: String,
    /// Optional pins, hex.
    #[serde(default)]
    spki_sha256: Vec<String>,
}

/// `[[http_canary]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpCanary {
    /// Name in reports.
    name: String,
    /// `http://` URL.
    url: String,
    /// SHA-256 of the body, hex.
    sha256: String,
}

/// `[judge]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJudge {
    /// `http://` URL, or "" for none.
    #[serde(default)]
    url: String,
}

/// Serde default for `port`.
fn https_port() -> u16 {
    443
}

/// Serde default for `roots`.
fn webpki() -> String {
    "webpki".to_owned()
}

impl Profile {
    /// The built-in `internet` profile.
    pub(crate) fn internet() -> Result<Self, ProfileError> {
        Self::from_toml(INTERNET_PROFILE, "internet", |name| match name {
            "telegram-keys.pem" => Ok(TELEGRAM_KEYS.as_bytes().to_vec()),
            _ => Err(std::io::Error::other(format!(
                "the built-in profile cannot read {name}"
            ))),
        })
    }

    /// Loads a profile file; PEM roots are read relative to it.
    pub fn load(path: &Path) -> Result<Self, ProfileError> {
        let (text, origin) = read_rule_file(path)?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        Self::from_toml(&text, &origin, |name| std::fs::read(base.join(name)))
    }

    /// Parses profile text. `origin` names it in errors; `read` fetches files it names.
    pub fn from_toml(
        text: &str,
        origin: &str,
        read: impl Fn(&str) -> std::io::Result<Vec<u8>>,
    ) -> Result<Self, ProfileError> {
        let error = |line: Option<usize>, message: String| FileError::new(origin, line, message);
        let raw: RawProfile =
            toml::from_str(text).map_err(|e| FileError::toml(origin, text, &e))?;
        let mut tls_canaries = Vec::new();
        for canary in raw.tls_canary {
            let at =
                |message: String| error(None, format!("tls_canary {:?}: {message}", canary.name));
            let address =
                if canary.address.trim().is_empty() {
                    None
                } else {
                    Some(
                        canary.address.trim().parse::<IpAddr>().map_err(|_| {
                            at(format!("address {:?} is not an IP", canary.address))
                        })?,
                    )
                };
            let roots = load_roots(&canary.roots, &read).map_err(at)?;
            let spki_sha256 = canary
                .spki_sha256
                .iter()
                .map(|hex| parse_sha256(hex).ok_or_else(|| at(format!("bad pin {hex:?}"))))
                .collect::<Result<_, _>>()?;
            tls_canaries.push(TlsCanary {
                name: canary.name,
                host: canary.host.to_ascii_lowercase(),
                port: canary.port,
                address,
                roots,
                roots_source: canary.roots,
                spki_sha256,
            });
        }
        let mut http_canaries = Vec::new();
        for canary in raw.http_canary {
            let at =
                |message: String| error(None, format!("http_canary {:?}: {message}", canary.name));
            http_canaries.push(HttpCanary {
                url: HttpUrl::parse(&canary.url).map_err(at)?,
                sha256: parse_sha256(&canary.sha256)
                    .ok_or_else(|| at(format!("bad sha256 {:?}", canary.sha256)))?,
                name: canary.name,
            });
        }
        let judge = match raw.judge {
            Some(judge) if !judge.url.trim().is_empty() => Some(
                HttpUrl::parse(judge.url.trim()).map_err(|m| error(None, format!("judge: {m}")))?,
            ),
            _ => None,
        };
        let mut hosts = BTreeMap::new();
        for (name, value) in raw.hosts {
            let texts = match value {
                OneOrMany::One(text) => vec![text],
                OneOrMany::Many(texts) => texts,
            };
            let addresses = texts
                .iter()
                .map(|text| {
                    text.trim().parse::<IpAddr>().map_err(|_| {
                        error(None, format!("hosts: {name:?} = {text:?} is not an IP"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            hosts.insert(name.to_ascii_lowercase(), addresses);
        }
        let telegram = match raw.telegram {
            None => None,
            Some(raw) => {
                let at = |message: String| error(None, format!("telegram: {message}"));
                let dcs = raw
                    .dc
                    .iter()
                    .map(|dc| {
                        let address = dc.address.trim().parse::<SocketAddr>().map_err(|_| {
                            at(format!(
                                "dc {} address {:?} is not ip:port",
                                dc.id, dc.address
                            ))
                        })?;
                        Ok(Datacenter { id: dc.id, address })
                    })
                    .collect::<Result<Vec<_>, ProfileError>>()?;
                let mut rsa_public_keys = Vec::new();
                for name in raw.rsa_public_keys {
                    let bytes =
                        read(&name).map_err(|e| at(format!("cannot read {name:?}: {e}")))?;
                    let text = String::from_utf8(bytes)
                        .map_err(|_| at(format!("{name:?} is not text")))?;
                    rsa_public_keys.push((name, text));
                }
                let fronting_roots = load_roots(&raw.fronting_roots, &read).map_err(at)?;
                Some(TelegramProfile {
                    dcs,
                    rsa_public_keys,
                    fronting_roots,
                })
            }
        };
        Ok(Self {
            name: raw.name,
            tls_canaries,
            http_canaries,
            judge,
            hosts,
            telegram,
        })
    }
}

/// Roots: `webpki` (Mozilla's, built in) or a PEM file read through `read`.
fn load_roots(
    source: &str,
    read: &impl Fn(&str) -> std::io::Result<Vec<u8>>,
) -> Result<Arc<RootCertStore>, String> {
    if source == "webpki" {
        return Ok(Arc::new(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        }));
    }
    let pem = read(source).map_err(|e| format!("cannot read roots {source:?}: {e}"))?;
    let mut store = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| format!("roots {source:?}: {e}"))?;
        store
            .add(cert)
            .map_err(|e| format!("roots {source:?}: {e}"))?;
    }
    if store.is_empty() {
        return Err(format!("roots {source:?} holds no certificate"));
    }
    Ok(Arc::new(store))
}

/// 1-based line of a byte offset (for rule-file errors that name the line).
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(offset)
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Parses 64 hex digits.
pub(crate) fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim().as_bytes();
    if hex.len() != 64 || !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let text = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internet_profile_loads() {
        let profile = Profile::internet().unwrap();
        assert_eq!(profile.name, "internet");
        assert!(!profile.tls_canaries.is_empty());
        assert_eq!(
            profile.http_canaries[0].url.host,
            "detectportal.firefox.com"
        );
    }

    #[test]
    fn unknown_key_names_file_and_line() {
        let text = "name = \"x\"\n[[http_canary]]\nname = \"a\"\nurl = \"http://a/\"\nsha256 = \"00\"\ncolour = 1\n";
        let err = Profile::from_toml(text, "my.toml", |_| Ok(Vec::new())).unwrap_err();
        assert_eq!(err.origin, "my.toml");
        assert_eq!(err.line, Some(6), "{err}");
        assert!(err.to_string().starts_with("my.toml:6: "), "{err}");
        assert!(err.message.contains("colour"), "{err}");
    }

    #[test]
    fn http_urls() {
        let url = HttpUrl::parse("http://Example.org:8080/a?b").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.path.as_str()),
            ("example.org", 8080, "/a?b")
        );
        assert_eq!(url.host_header(), "example.org:8080");
        let v6 = HttpUrl::parse("http://[::1]/").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 80));
        assert_eq!(v6.host_header(), "[::1]");
        assert!(HttpUrl::parse("https://a/").is_err());
        assert!(HttpUrl::parse("http://a:0/").is_err());
        assert!(HttpUrl::parse("http:///x").is_err());
    }

    /// Found by the `rule_files` fuzz target: an unbracketed host with colons, text after
    /// the `]`, brackets inside a host or control characters parsed (into a different URL
    /// than the one printed back, or into a request line carrying them).
    #[test]
    fn url_parse_refuses_what_it_cannot_print_back() {
        for text in [
            "http://2001:db8::1/",
            "http://a:b:80/",
            "http://[::1]x/",
            "http://[::1]x:80/",
            "http://a]b/",
            "http://[a[b]/",
            "http://a b/",
            "http://a/p\r\nX-Injected: 1",
            "http://a/\u{1}",
        ] {
            assert!(HttpUrl::parse(text).is_err(), "{text:?}");
        }
        for text in [
            "http://a:8080/p?q",
            "http://[2001:db8::1]:8080/",
            "http://a/",
        ] {
            let url = HttpUrl::parse(text).unwrap();
            assert_eq!(HttpUrl::parse(&url.to_string()).unwrap(), url);
        }
    }

    #[test]
    fn pem_roots_are_read_relative_to_the_profile() {
        let text = "name = \"x\"\n[[tls_canary]]\nname = \"t\"\nhost = \"a\"\nroots = \"none.pem\"\n[[http_canary]]\nname = \"a\"\nurl = \"http://a/\"\nsha256 = \"81b2bd4ea98c8db66554fbc8d7637a1a69a130f331feb732b75caab4c4868fd5\"\n";
        let err = Profile::from_toml(text, "p.toml", |name| {
            assert_eq!(name, "none.pem");
            Ok(b"not pem".to_vec())
        })
        .unwrap_err();
        assert!(err.message.contains("holds no certificate"), "{err}");
    }
}
