//! The trusted list: proxies a curator vouches for, matched by endpoint and credential.
//!
//! The built-in list is `rules/trusted.toml` (compiled in as `BUILT_IN`; it ships only
//! clearly marked examples pointing at the loopback lab). A user loads another file with
//! [`TrustedList::load`]; the CI job that publishes the real list writes it with [`emit`] and
//! signs it with [`crate::rules::sign`].
//!
//! # File format
//! TOML, one `[[proxy]]` table per proxy; unknown keys are errors naming the file and line.
//!
//! ```toml
//! [[proxy]]
//! name = "example ee (EXAMPLE)"     # required, shown in reports
//! operator = "nobody"               # optional: who runs it
//! source = "https://…"              # required: where the recommendation comes from
//! added = 2026-11-29                # required: TOML date, unquoted
//! notes = "…"                       # optional
//! kind = "mtproto"                  # mtproto | socks5 | socks4 | http | https
//! host = "192.0.2.10"               # host name or IP literal
//! port = 443                        # 1–65535
//! secret_sha256 = "…64 hex…"        # mtproto: SHA-256 of the secret's 16 key bytes, or
//! secret = "dd…"                    # mtproto: the secret itself (exactly one of the two)
//! username = "…"                    # optional, socks/http only
//! password_sha256 = "…64 hex…"      # optional, needs username: SHA-256 of the password
//!                                   # (read for old lists; `emit` never writes it)
//! ```
//!
//! # Matching
//! [`TrustedList::check`] compares kind, host (ASCII case-insensitive, both sides normalised
//! by `normalize_host`) and port. When they match, the credential decides:
//! - MTProto: the SHA-256 of the secret's 16 key bytes (`key_sha256`). The mode prefix
//!   and FakeTLS domain are left out, so `dd…`, `ee…` and plain forms of one key all match,
//!   and a published hash does not reveal the key.
//! - SOCKS/HTTP: the username when the entry names one, and the SHA-256 of the password
//!   when the entry gives one.
//!
//! A credential that differs is a [`TrustMatch::Mismatch`]: an impostor on a trusted
//! address, or a rotation the list has not caught up with.
//!
//! A proxy is matched through its [`Identity`]: the spec, the key hash of its secret and
//! whether its password is known. A redacted report knows an MTProto key only by that hash
//! (which it keeps, so MTProto matching is as exact as on a live audit) and a password only
//! by a keyed fingerprint, which no SHA-256 can be compared with: an entry that asks for a
//! password hash is then [`TrustMatch::Unverified`], neither trusted nor an impostor.
//!
//! # Passwords are never published
//! A SHA-256 of a password is no protection: the host, port and username are next to it,
//! and a weak password falls to a dictionary in seconds. [`emit`] therefore writes the
//! endpoint, the username and (for MTProto) the hash of the 16 random key bytes, and no
//! password in any form; a published entry with a username trusts that login on that
//! endpoint whatever its password. Lists written before this change load as they are: their
//! `password_sha256` is still compared when the password is known (a live audit, an
//! unredacted report).

use std::cmp::Ordering;
use std::fmt::Write as _;
use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use toml::Spanned;
use toml::value::Datetime;

use crate::config::{FileError, parse_sha256, read_rule_file};
use crate::proto::hex::to_hex;
use crate::proto::mtproto::secret::MtprotoSecret;
use crate::proxy::{ProxyKind, ProxySpec, normalize_host};

/// The built-in list, `rules/trusted.toml` (examples only).
pub(crate) const BUILT_IN: &str = include_str!("../../rules/trusted.toml");

/// The loaded list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedList {
    /// Entries, in file order.
    pub entries: Vec<TrustedEntry>,
}

/// One trusted proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedEntry {
    /// Name shown in reports.
    pub name: String,
    /// Who runs the proxy, when given.
    pub operator: Option<String>,
    /// Where the recommendation comes from.
    pub source: String,
    /// Day the entry was added, `YYYY-MM-DD`.
    pub added: String,
    /// Free text, when given.
    pub notes: Option<String>,
    /// Protocol.
    pub kind: ProxyKind,
    /// Host, normalised (lower case, canonical IPv6).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// SHA-256 of the MTProto secret's key bytes; `Some` exactly for MTProto entries.
    pub secret_sha256: Option<[u8; 32]>,
    /// Username the proxy must use, when given.
    pub username: Option<String>,
    /// SHA-256 of the password the proxy must use, when given.
    pub password_sha256: Option<[u8; 32]>,
}

/// How a proxy relates to the trusted list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustMatch<'a> {
    /// Endpoint and credential match this entry.
    Trusted(&'a TrustedEntry),
    /// Endpoint matches this entry but the secret or credentials differ.
    Mismatch(&'a TrustedEntry),
    /// Endpoint and username match this entry, which asks for a password hash, but the
    /// password is not known (a redacted report): it can be neither trusted nor refused.
    Unverified(&'a TrustedEntry),
    /// No entry for this endpoint.
    None,
}

/// A proxy as the curated lists match it: its spec, and what is known of its credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity<'a> {
    /// Kind, host, port, username, and the FakeTLS domain of its secret. In a redacted
    /// report the secret's key bytes and the password are fingerprints, not the real ones.
    pub spec: &'a ProxySpec,
    /// SHA-256 of the MTProto secret's 16 key bytes (`key_sha256`), the form lists
    /// compare; `None` for other kinds.
    pub key_sha256: Option<[u8; 32]>,
    /// True when `spec.password` is the real password, false when it is a fingerprint.
    pub password_known: bool,
}

impl<'a> Identity<'a> {
    /// The identity of a proxy known in full (a live audit, an unredacted report).
    pub fn of(spec: &'a ProxySpec) -> Self {
        Self {
            spec,
            key_sha256: spec.secret.as_ref().map(key_sha256),
            password_known: true,
        }
    }
}

/// Whether a credential matches a list entry's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credential {
    /// It matches.
    Matches,
    /// It differs.
    Differs,
    /// It cannot be told (the password is not known).
    Unknown,
}

/// A list that could not be loaded (or emitted), naming the file and line when known.
pub(crate) type TrustedError = FileError;

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawList {
    /// `[[proxy]]` tables.
    #[serde(default)]
    proxy: Vec<RawEntry>,
}

/// `[[proxy]]` as written; fields that need checks after parsing keep their position.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    /// Name; its line locates entry-level errors.
    name: Spanned<String>,
    /// Operator.
    operator: Option<String>,
    /// Source.
    source: Spanned<String>,
    /// Date added.
    added: Spanned<Datetime>,
    /// Notes.
    notes: Option<String>,
    /// Kind name.
    kind: Spanned<String>,
    /// Host.
    host: Spanned<String>,
    /// Port, wide so that out-of-range values get our message.
    port: Spanned<i64>,
    /// Key hash.
    secret_sha256: Option<Spanned<String>>,
    /// The secret itself.
    secret: Option<Spanned<String>>,
    /// Username.
    username: Option<Spanned<String>>,
    /// Password hash.
    password_sha256: Option<Spanned<String>>,
}

impl TrustedList {
    /// The built-in list (`BUILT_IN`).
    pub fn built_in() -> Result<Self, TrustedError> {
        Self::from_toml(BUILT_IN, "built-in trusted.toml")
    }

    /// Loads a list file.
    pub fn load(path: &Path) -> Result<Self, TrustedError> {
        let (text, origin) = read_rule_file(path)?;
        Self::from_toml(&text, &origin)
    }

    /// Parses list text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, TrustedError> {
        let raw: RawList = toml::from_str(text).map_err(|e| FileError::toml(origin, text, &e))?;
        let entries = raw
            .proxy
            .into_iter()
            .map(|entry| {
                entry
                    .validate()
                    .map_err(|(span, message)| FileError::at(origin, text, span.start, message))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { entries })
    }

    /// Whether `spec` is trusted, an impostor of (or rotation on) a trusted endpoint, or
    /// unknown. When several entries share the endpoint, any matching credential wins.
    pub fn check(&self, spec: &ProxySpec) -> TrustMatch<'_> {
        self.check_identity(&Identity::of(spec))
    }

    /// [`TrustedList::check`] for a proxy known by its [`Identity`]: a matching credential
    /// wins, then a credential that cannot be told ([`TrustMatch::Unverified`]), then a
    /// differing one.
    pub fn check_identity(&self, identity: &Identity<'_>) -> TrustMatch<'_> {
        let mut unverified = None;
        let mut mismatch = None;
        for entry in self
            .entries
            .iter()
            .filter(|e| e.same_endpoint(identity.spec))
        {
            match entry.credential_matches(identity) {
                Credential::Matches => return TrustMatch::Trusted(entry),
                Credential::Unknown => {
                    unverified.get_or_insert(entry);
                }
                Credential::Differs => {
                    mismatch.get_or_insert(entry);
                }
            }
        }
        match (unverified, mismatch) {
            (Some(entry), _) => TrustMatch::Unverified(entry),
            (None, Some(entry)) => TrustMatch::Mismatch(entry),
            (None, None) => TrustMatch::None,
        }
    }
}

impl TrustedEntry {
    /// Same kind, host (ASCII case-insensitive) and port.
    fn same_endpoint(&self, spec: &ProxySpec) -> bool {
        self.kind == spec.kind
            && self.port == spec.port
            && self.host.eq_ignore_ascii_case(&spec.host)
    }

    /// The secret's key hash, or the username and password hash the entry gives.
    fn credential_matches(&self, identity: &Identity<'_>) -> Credential {
        let spec = identity.spec;
        let agrees = |same: bool| {
            if same {
                Credential::Matches
            } else {
                Credential::Differs
            }
        };
        if let Some(expected) = self.secret_sha256 {
            return agrees(identity.key_sha256 == Some(expected));
        }
        let user_ok = self
            .username
            .as_ref()
            .is_none_or(|user| spec.username.as_ref() == Some(user));
        match self.password_sha256 {
            None => agrees(user_ok),
            Some(_) if !user_ok => Credential::Differs,
            // A redacted entry's password is a fingerprint; no entry's hash can match it.
            Some(_) if spec.password.is_some() && !identity.password_known => Credential::Unknown,
            Some(expected) => {
                agrees(spec.password.as_deref().map(|p| sha256(p.as_bytes())) == Some(expected))
            }
        }
    }
}

/// An error found in one entry: where (byte span) and what.
type EntryError = (Range<usize>, String);

impl RawEntry {
    /// Checks one entry and builds it.
    fn validate(self) -> Result<TrustedEntry, EntryError> {
        let entry_span = self.name.span();
        let name = self.name.into_inner().trim().to_owned();
        if name.is_empty() {
            return Err((entry_span, "a [[proxy]] needs a non-empty name".to_owned()));
        }
        let at = |span: Range<usize>, message: &str| (span, format!("proxy {name:?}: {message}"));
        let source = self.source.get_ref().trim().to_owned();
        if source.is_empty() {
            return Err(at(
                self.source.span(),
                "source must say where the recommendation comes from",
            ));
        }
        let added = match self.added.get_ref() {
            Datetime {
                date: Some(date),
                time: None,
                offset: None,
            } => date.to_string(),
            _ => {
                return Err(at(
                    self.added.span(),
                    "added must be a date like 2026-11-29",
                ));
            }
        };
        let kind = ProxyKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == self.kind.get_ref())
            .ok_or_else(|| {
                at(
                    self.kind.span(),
                    &format!(
                        "unknown kind {:?}; expected mtproto, socks5, socks4, http or https",
                        self.kind.get_ref()
                    ),
                )
            })?;
        let host = normalize_host(self.host.get_ref())
            .map_err(|e| at(self.host.span(), &e.to_string()))?;
        let port = u16::try_from(*self.port.get_ref())
            .ok()
            .filter(|&port| port != 0)
            .ok_or_else(|| at(self.port.span(), "port must be in 1-65535"))?;
        let secret_sha256 = match (kind, self.secret, self.secret_sha256) {
            (ProxyKind::Mtproto, Some(secret), None) => Some(
                MtprotoSecret::decode(secret.get_ref())
                    .map(|s| key_sha256(&s))
                    .map_err(|e| at(secret.span(), &e.to_string()))?,
            ),
            (ProxyKind::Mtproto, None, Some(hash)) => {
                Some(hex_sha256(&hash).map_err(|(span, m)| at(span, &m))?)
            }
            (ProxyKind::Mtproto, Some(_), Some(hash)) => {
                return Err(at(hash.span(), "give secret or secret_sha256, not both"));
            }
            (ProxyKind::Mtproto, None, None) => {
                return Err(at(
                    entry_span,
                    "an mtproto entry needs secret or secret_sha256",
                ));
            }
            (_, secret, hash) => {
                if let Some(span) = secret.map(|s| s.span()).or(hash.map(|h| h.span())) {
                    return Err(at(span, "secret and secret_sha256 are only for mtproto"));
                }
                None
            }
        };
        if kind == ProxyKind::Mtproto {
            let login = self.username.as_ref().map(Spanned::span);
            if let Some(span) = login.or(self.password_sha256.as_ref().map(Spanned::span)) {
                return Err(at(
                    span,
                    "username and password_sha256 are only for socks/http",
                ));
            }
        }
        let password_sha256 = match (&self.username, &self.password_sha256) {
            (None, Some(hash)) => return Err(at(hash.span(), "password_sha256 needs a username")),
            (_, Some(hash)) => Some(hex_sha256(hash).map_err(|(span, m)| at(span, &m))?),
            (_, None) => None,
        };
        Ok(TrustedEntry {
            name,
            operator: non_empty(self.operator),
            source,
            added,
            notes: non_empty(self.notes),
            kind,
            host,
            port,
            secret_sha256,
            username: self.username.map(Spanned::into_inner),
            password_sha256,
        })
    }
}

/// Renders a `trusted.toml` for `entries` (name, proxy): every MTProto key as
/// `secret_sha256` (taken from the identity, so a redacted report can be published from),
/// the username when there is one, and no password in any form (see the module's
/// "Passwords are never published").
///
/// The output is deterministic: entries are sorted by host, port, kind and name (so the
/// order of the input does not matter) and nothing time-dependent is written. `added` must
/// be `YYYY-MM-DD`. The text is parsed back before it is returned, so an invalid input (an
/// empty name or source, a bad date, an MTProto spec without a secret) is an error here
/// rather than a published file nobody can load.
pub fn emit(
    entries: &[(&str, Identity<'_>)],
    source: &str,
    added: &str,
) -> Result<String, TrustedError> {
    let invalid = |message: String| FileError::new("emitted trusted.toml", None, message);
    let date = added
        .parse::<Datetime>()
        .ok()
        .filter(|d| d.date.is_some() && d.time.is_none() && d.offset.is_none())
        .ok_or_else(|| invalid(format!("added {added:?} is not a date like 2026-11-29")))?;
    let mut sorted = entries.to_vec();
    sorted.sort_by(|(name_a, a), (name_b, b)| compare_for_emit(name_a, a, name_b, b));
    let mut out = String::from(
        "# Trusted proxies, generated by proxy-audit; do not edit by hand.\n\
         # Format: see rules/trusted.toml. MTProto keys appear only as SHA-256; passwords\n\
         # are never written.\n",
    );
    for (name, identity) in sorted {
        let spec = identity.spec;
        let _ = write!(
            out,
            "\n[[proxy]]\nname = {}\nsource = {}\nadded = {date}\nkind = {}\nhost = {}\nport = {}\n",
            toml_string(name),
            toml_string(source),
            toml_string(spec.kind.as_str()),
            toml_string(&spec.host),
            spec.port,
        );
        if let Some(hash) = identity
            .key_sha256
            .filter(|_| spec.kind == ProxyKind::Mtproto)
        {
            let _ = writeln!(out, "secret_sha256 = \"{}\"", to_hex(&hash));
        }
        if let Some(user) = spec
            .username
            .as_ref()
            .filter(|_| spec.kind != ProxyKind::Mtproto)
        {
            let _ = writeln!(out, "username = {}", toml_string(user));
        }
    }
    TrustedList::from_toml(&out, "emitted trusted.toml").map_err(|e| invalid(e.message))?;
    Ok(out)
}

/// Emission order: host, port, kind, name, then the key hash and username (so two entries
/// that differ only in their credential still sort the same way every time).
fn compare_for_emit(name_a: &str, a: &Identity<'_>, name_b: &str, b: &Identity<'_>) -> Ordering {
    (&a.spec.host, a.spec.port, a.spec.kind, name_a)
        .cmp(&(&b.spec.host, b.spec.port, b.spec.kind, name_b))
        .then_with(|| (a.key_sha256, &a.spec.username).cmp(&(b.key_sha256, &b.spec.username)))
}

/// SHA-256 of an MTProto secret's 16 key bytes: the form lists publish and compare.
pub(crate) fn key_sha256(secret: &MtprotoSecret) -> [u8; 32] {
    sha256(&secret.key())
}

/// SHA-256 of some bytes.
fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Reads a spanned 64-hex-digit SHA-256, or says where and why it is not one.
pub(crate) fn hex_sha256(text: &Spanned<String>) -> Result<[u8; 32], EntryError> {
    let value = text.get_ref();
    // `parse_sha256` alone would let `u8::from_str_radix` accept a `+` sign.
    let digits_only = value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit());
    digits_only
        .then(|| parse_sha256(value))
        .flatten()
        .ok_or_else(|| {
            (
                text.span(),
                format!("{value:?} is not a SHA-256 (64 hex digits)"),
            )
        })
}

/// `text` as a TOML string, quoted and escaped (the toml crate picks the basic or literal
/// form; both read back the same).
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// Trimmed text, or `None` when absent or blank.
fn non_empty(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key of the built-in MTProto example.
    const LAB_KEY: &str = "4558414d504c452d5452555354454421";

    /// An MTProto spec on the built-in example's endpoint with this secret.
    fn mtproto(secret_hex: &str) -> ProxySpec {
        ProxySpec {
            kind: ProxyKind::Mtproto,
            host: "192.0.2.10".into(),
            port: 443,
            secret: Some(MtprotoSecret::decode(secret_hex).unwrap()),
            username: None,
            password: None,
        }
    }

    /// A SOCKS5 spec on the built-in example's endpoint with these credentials.
    fn socks(user: Option<&str>, password: Option<&str>) -> ProxySpec {
        ProxySpec {
            kind: ProxyKind::Socks5,
            host: "192.0.2.11".into(),
            port: 1080,
            secret: None,
            username: user.map(str::to_owned),
            password: password.map(str::to_owned),
        }
    }

    /// The name of the entry a match points at, with the kind of match.
    fn outcome(found: TrustMatch<'_>) -> (&'static str, Option<&str>) {
        match found {
            TrustMatch::Trusted(e) => ("trusted", Some(e.name.as_str())),
            TrustMatch::Mismatch(e) => ("mismatch", Some(e.name.as_str())),
            TrustMatch::Unverified(e) => ("unverified", Some(e.name.as_str())),
            TrustMatch::None => ("none", None),
        }
    }

    #[test]
    fn built_in_list_loads_examples_with_sources() {
        let list = TrustedList::built_in().unwrap();
        assert_eq!(list.entries.len(), 3, "{list:?}");
        for entry in &list.entries {
            assert!(!entry.source.is_empty(), "{} has no source", entry.name);
            assert!(
                entry.name.contains("EXAMPLE"),
                "{} is not marked",
                entry.name
            );
            assert_eq!(entry.added, "2026-11-29");
            let class = crate::policy::address::AddressClass::of_host(&entry.host);
            assert_eq!(class.as_str(), "documentation", "{}", entry.host);
        }
        let lab = &list.entries[0];
        assert_eq!(lab.secret_sha256, Some(sha256(&parse_hex16(LAB_KEY))));
        assert_eq!(lab.operator.as_deref(), Some("nobody"));
    }

    /// 32 hex digits as bytes (test helper).
    fn parse_hex16(hex: &str) -> [u8; 16] {
        let mut out = [0u8; 16];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    #[test]
    fn check_truth_table() {
        let list = TrustedList::built_in().unwrap();
        let domain = "676f6f676c652e636f6d"; // google.com
        let other_key = "ffeeddccbbaa99887766554433221100";
        // The same key in every form is trusted.
        for secret in [
            LAB_KEY.to_owned(),
            format!("dd{LAB_KEY}"),
            format!("ee{LAB_KEY}{domain}"),
        ] {
            assert_eq!(
                outcome(list.check(&mtproto(&secret))).0,
                "trusted",
                "{secret}"
            );
        }
        // Same endpoint, another key: an impostor or a rotation.
        let found = list.check(&mtproto(&format!("dd{other_key}")));
        assert!(
            matches!(found, TrustMatch::Mismatch(e) if e.port == 443),
            "{found:?}"
        );
        // Another port, kind or host: not on the list at all.
        let mut moved = mtproto(LAB_KEY);
        moved.port = 8443;
        assert_eq!(outcome(list.check(&moved)).0, "none");
        let mut other_host = mtproto(LAB_KEY);
        other_host.host = "192.0.2.12".into();
        assert_eq!(outcome(list.check(&other_host)).0, "none");
        // SOCKS5: username and password both count.
        let cases = [
            (Some("example"), Some("example-password"), "trusted"),
            (Some("example"), Some("example-passwore"), "mismatch"),
            (Some("example"), None, "mismatch"),
            (Some("Example"), Some("example-password"), "mismatch"),
            (None, None, "mismatch"),
        ];
        for (user, password, expected) in cases {
            assert_eq!(
                outcome(list.check(&socks(user, password))).0,
                expected,
                "{user:?} {password:?}"
            );
        }
        // An entry without credentials trusts any login on its endpoint; host case is ignored.
        let http = ProxySpec {
            kind: ProxyKind::Http,
            host: "2001:db8::10".into(),
            port: 8080,
            secret: None,
            username: Some("anyone".into()),
            password: None,
        };
        assert_eq!(outcome(list.check(&http)).0, "trusted");
        let named = TrustedList::from_toml(
            "[[proxy]]\nname = \"n\"\nsource = \"s\"\nadded = 2026-01-01\nkind = \"http\"\n\
             host = \"Proxy.Example\"\nport = 80\n",
            "t.toml",
        )
        .unwrap();
        let mut upper = http.clone();
        upper.host = "PROXY.example".into();
        upper.port = 80;
        assert_eq!(outcome(named.check(&upper)), ("trusted", Some("n")));
        let mut wrong_kind = upper.clone();
        wrong_kind.kind = ProxyKind::Https;
        assert_eq!(outcome(named.check(&wrong_kind)).0, "none");
    }

    #[test]
    fn clear_secret_matches_like_its_hash() {
        let text = format!(
            "[[proxy]]\nname = \"n\"\nsource = \"s\"\nadded = 2026-01-01\nkind = \"mtproto\"\n\
             host = \"192.0.2.10\"\nport = 443\nsecret = \"dd{LAB_KEY}\"\n"
        );
        let list = TrustedList::from_toml(&text, "t.toml").unwrap();
        assert_eq!(
            list.entries[0].secret_sha256,
            TrustedList::built_in().unwrap().entries[0].secret_sha256
        );
        assert_eq!(outcome(list.check(&mtproto(LAB_KEY))).0, "trusted");
    }

    #[test]
    fn second_entry_on_the_same_endpoint_can_trust() {
        let entry = |hash: String| {
            format!(
                "[[proxy]]\nname = \"{}\"\nsource = \"s\"\nadded = 2026-01-01\nkind = \"mtproto\"\n\
                 host = \"192.0.2.10\"\nport = 443\nsecret_sha256 = \"{hash}\"\n",
                &hash[..4]
            )
        };
        let old = to_hex(&sha256(&[7u8; 16]));
        let new = to_hex(&sha256(&parse_hex16(LAB_KEY)));
        let list =
            TrustedList::from_toml(&(entry(old.clone()) + &entry(new.clone())), "t.toml").unwrap();
        assert_eq!(
            outcome(list.check(&mtproto(LAB_KEY))),
            ("trusted", Some(&new[..4]))
        );
    }

    #[test]
    fn unknown_key_names_file_and_line() {
        let text = "[[proxy]]\nname = \"a\"\nsource = \"s\"\nadded = 2026-01-01\nkind = \"http\"\n\
                    host = \"h.example\"\nport = 1\ncolour = 1\n";
        let err = TrustedList::from_toml(text, "my.toml").unwrap_err();
        assert_eq!(
            (err.origin.as_str(), err.line),
            ("my.toml", Some(8)),
            "{err}"
        );
        assert!(err.to_string().starts_with("my.toml:8: "), "{err}");
        assert!(err.message.contains("colour"), "{err}");
    }

    #[test]
    fn invalid_entries_are_errors_on_their_line() {
        let head = "[[proxy]]\nname = \"a\"\nsource = \"s\"\nadded = 2026-01-01\n";
        let key_hash = "ab".repeat(32);
        let cases = [
            (
                "kind = \"socks\"\nhost = \"h.example\"\nport = 1\n",
                5,
                "unknown kind",
            ),
            (
                "kind = \"http\"\nhost = \"h.example\"\nport = 0\n",
                7,
                "1-65535",
            ),
            (
                "kind = \"http\"\nhost = \"h.example\"\nport = 65536\n",
                7,
                "1-65535",
            ),
            (
                "kind = \"http\"\nhost = \"bad host\"\nport = 1\n",
                6,
                "invalid host",
            ),
            (
                "kind = \"mtproto\"\nhost = \"h.example\"\nport = 1\n",
                2,
                "needs secret",
            ),
            (
                &format!(
                    "kind = \"mtproto\"\nhost = \"h.example\"\nport = 1\nsecret_sha256 = \"{}\"\n",
                    "ab".repeat(31)
                ),
                8,
                "64 hex digits",
            ),
            (
                &format!(
                    "kind = \"mtproto\"\nhost = \"h.example\"\nport = 1\nsecret = \"{LAB_KEY}\"\nsecret_sha256 = \"{key_hash}\"\n"
                ),
                9,
                "not both",
            ),
            (
                "kind = \"mtproto\"\nhost = \"h.example\"\nport = 1\nsecret = \"abcd\"\n",
                8,
                "bytes",
            ),
            (
                &format!(
                    "kind = \"socks5\"\nhost = \"h.example\"\nport = 1\nsecret_sha256 = \"{key_hash}\"\n"
                ),
                8,
                "only for mtproto",
            ),
            (
                &format!(
                    "kind = \"mtproto\"\nhost = \"h.example\"\nport = 1\nsecret = \"{LAB_KEY}\"\nusername = \"u\"\n"
                ),
                9,
                "only for socks/http",
            ),
            (
                &format!(
                    "kind = \"socks5\"\nhost = \"h.example\"\nport = 1\npassword_sha256 = \"{key_hash}\"\n"
                ),
                8,
                "needs a username",
            ),
        ];
        for (tail, line, expected) in cases {
            let err = TrustedList::from_toml(&format!("{head}{tail}"), "t.toml").unwrap_err();
            assert_eq!(err.line, Some(line), "{tail:?}: {err}");
            assert!(err.message.contains(expected), "{tail:?}: {err}");
        }
        let missing_source = "[[proxy]]\nname = \"a\"\nadded = 2026-01-01\nkind = \"http\"\nhost = \"h\"\nport = 1\n";
        let err = TrustedList::from_toml(missing_source, "t.toml").unwrap_err();
        assert!(err.message.contains("source"), "{err}");
        let timestamp = head.replace("2026-01-01", "2026-01-01T10:00:00Z")
            + "kind = \"http\"\nhost = \"h.example\"\nport = 1\n";
        let err = TrustedList::from_toml(&timestamp, "t.toml").unwrap_err();
        assert_eq!(err.line, Some(4), "{err}");
    }

    #[test]
    fn load_reads_a_file_and_names_it_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trusted.toml");
        std::fs::write(&path, BUILT_IN).unwrap();
        assert_eq!(
            TrustedList::load(&path).unwrap(),
            TrustedList::built_in().unwrap()
        );
        let err = TrustedList::load(&dir.path().join("missing.toml")).unwrap_err();
        assert_eq!(err.line, None);
        assert!(err.origin.ends_with("missing.toml"), "{err}");
    }

    /// Specs covering every credential form, for the emit tests.
    fn emit_sample() -> Vec<(String, ProxySpec)> {
        vec![
            (
                "z \"quoted\" ee".to_owned(),
                mtproto(&format!("ee{LAB_KEY}676f6f676c652e636f6d")),
            ),
            (
                "socks".to_owned(),
                socks(Some("lab"), Some("example-password")),
            ),
            (
                "open http".to_owned(),
                ProxySpec {
                    kind: ProxyKind::Http,
                    host: "2001:db8::1".into(),
                    port: 3128,
                    secret: None,
                    username: None,
                    password: None,
                },
            ),
        ]
    }

    /// `(name, identity)` pairs of `sample`, as `emit` takes them.
    fn identities(sample: &[(String, ProxySpec)]) -> Vec<(&str, Identity<'_>)> {
        sample
            .iter()
            .map(|(n, s)| (n.as_str(), Identity::of(s)))
            .collect()
    }

    #[test]
    fn emit_round_trips_without_revealing_credentials() {
        let sample = emit_sample();
        let refs = identities(&sample);
        let text = emit(&refs, "CI audit run", "2026-12-01").unwrap();
        assert!(!text.contains(LAB_KEY), "{text}");
        assert!(!text.contains("example-password"), "{text}");
        let list = TrustedList::from_toml(&text, "emitted").unwrap();
        assert_eq!(list.entries.len(), sample.len());
        for (name, spec) in &sample {
            assert_eq!(
                outcome(list.check(spec)),
                ("trusted", Some(name.as_str())),
                "{text}"
            );
        }
        assert!(
            list.entries
                .iter()
                .all(|e| e.source == "CI audit run" && e.added == "2026-12-01")
        );
    }

    /// A published list must not let anyone recover a password: not in clear, and not as
    /// an unsalted SHA-256 next to its host, port and username (a dictionary reverses it).
    #[test]
    fn emitted_lists_carry_no_password_in_any_form() {
        let sample = emit_sample();
        let text = emit(&identities(&sample), "s", "2026-12-01").unwrap();
        let hash = to_hex(&sha256(b"example-password"));
        assert!(!text.contains(&hash), "{text}");
        assert!(!text.contains("password_sha256"), "{text}");
        assert!(!text.contains("password ="), "{text}");
        // The login is still published: the same user with any password is trusted.
        let list = TrustedList::from_toml(&text, "emitted").unwrap();
        let socks_entry = list.entries.iter().find(|e| e.kind == ProxyKind::Socks5);
        assert_eq!(socks_entry.and_then(|e| e.username.as_deref()), Some("lab"));
        assert_eq!(
            outcome(list.check(&socks(Some("lab"), Some("rotated")))),
            ("trusted", Some("socks"))
        );
        assert_eq!(
            outcome(list.check(&socks(Some("other"), None))).0,
            "mismatch"
        );
    }

    /// A redacted report knows an MTProto key by its hash and a password by a fingerprint:
    /// the key still matches exactly (and is published from the hash), an old list's
    /// password hash can be neither confirmed nor refused.
    #[test]
    fn redacted_identities_match_by_key_hash_and_leave_password_hashes_unverified() {
        let list = TrustedList::built_in().unwrap();
        let placeholder = mtproto(&format!("dd{}", "5a".repeat(16)));
        let real_hash = key_sha256(&MtprotoSecret::decode(LAB_KEY).unwrap());
        let redacted = Identity {
            spec: &placeholder,
            key_sha256: Some(real_hash),
            password_known: false,
        };
        assert_eq!(outcome(list.check_identity(&redacted)).0, "trusted");
        assert_eq!(outcome(list.check(&placeholder)).0, "mismatch");
        let other = Identity {
            key_sha256: Some(sha256(&[9u8; 16])),
            ..redacted
        };
        assert_eq!(outcome(list.check_identity(&other)).0, "mismatch");
        // The built-in SOCKS5 example asks for password_sha256 (an old-style entry).
        let fingerprint = socks(Some("example"), Some("0f1e2d3c4b5a69788796a5b4c3d2e1f0"));
        let hidden = Identity {
            password_known: false,
            ..Identity::of(&fingerprint)
        };
        assert_eq!(outcome(list.check_identity(&hidden)).0, "unverified");
        let wrong_user = socks(Some("someone"), Some("x"));
        let hidden_wrong_user = Identity {
            password_known: false,
            ..Identity::of(&wrong_user)
        };
        assert_eq!(
            outcome(list.check_identity(&hidden_wrong_user)).0,
            "mismatch"
        );
        // Emitted from the redacted identity: the real key's hash, never the placeholder's.
        let text = emit(&[("n", redacted)], "s", "2026-12-01").unwrap();
        assert!(text.contains(&to_hex(&real_hash)), "{text}");
    }

    #[test]
    fn emit_is_deterministic_and_order_independent() {
        let sample = emit_sample();
        let refs = identities(&sample);
        let mut reversed = refs.clone();
        reversed.reverse();
        let first = emit(&refs, "s", "2026-12-01").unwrap();
        assert_eq!(first, emit(&refs, "s", "2026-12-01").unwrap());
        assert_eq!(first, emit(&reversed, "s", "2026-12-01").unwrap());
        // Sorted by host: 192.0.2.10 (port 443, then 1080) before 2001:db8::1.
        let hosts: Vec<u16> = TrustedList::from_toml(&first, "e")
            .unwrap()
            .entries
            .iter()
            .map(|e| e.port)
            .collect();
        assert_eq!(hosts, [443, 1080, 3128]);
    }

    #[test]
    fn emit_refuses_what_would_not_load() {
        let spec = socks(None, None);
        let id = Identity::of(&spec);
        assert!(emit(&[("n", id)], "s", "2026-13-01").is_err());
        assert!(emit(&[("n", id)], "s", "yesterday").is_err());
        assert!(emit(&[("n", id)], "", "2026-12-01").is_err());
        let mut no_secret = mtproto(LAB_KEY);
        no_secret.secret = None;
        let err = emit(&[("n", Identity::of(&no_secret))], "s", "2026-12-01").unwrap_err();
        assert!(err.message.contains("needs secret"), "{err}");
        assert_eq!(
            emit(&[], "s", "2026-12-01")
                .map(|t| TrustedList::from_toml(&t, "e").map(|l| l.entries.len())),
            Ok(Ok(0))
        );
    }
}
