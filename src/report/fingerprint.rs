//! `--redact`: the JSON and NDJSON reports made publishable. Every MTProto secret and every
//! password is replaced by a keyed fingerprint (HMAC-SHA256 under a key the publisher
//! holds), and the entry's `id` is keyed too. (The human formats never show credentials at
//! all: that is [`super::redact`].)
//!
//! Why keyed: the same proxy must get the same fingerprint in every vantage's report and
//! after `rescore` and `merge` (entries are matched by `id`), so the fingerprint has to be a
//! function of the credential; unkeyed, anyone could try a dictionary of passwords against
//! it (the host, port and username are right next to it), and the plain `id` (a SHA-256
//! prefix over a key holding the password) has the same weakness. Under a key only the
//! publisher holds, a fingerprint says "these two entries have the same secret" and nothing
//! else. Reports redacted with different keys never match: each redacted document names its
//! key by `redaction_key` (a fingerprint of the key itself), and `merge` refuses to mix keys,
//! or redacted reports with plain ones.
//!
//! What a redacted entry keeps and what it changes (`docs/report-schema.md` has the table):
//! - `kind`, `host`, `port`, `username`, `secret_mode`, `faketls_domain`, `address_class`:
//!   unchanged (none of them opens the proxy to anyone).
//! - `secret`: the mode prefix, 16 fingerprint bytes in place of the key, the FakeTLS
//!   domain: a valid secret of the right mode, so the `link` still reads back and `rescore`
//!   works; `secret_sha256` is added: the SHA-256 of the real 16 key bytes (128 random
//!   bits: irreversible), which the trusted list and the blocklist compare.
//! - `password`: 32 hex digits of fingerprint; the link carries the same.
//! - `as_written` is dropped (it is the original text); input names, rejected lines and the
//!   free text of the findings and observations have every form of the entry's secret and
//!   password (as written, percent-encoded, in HTTP Basic credentials) replaced by `***`.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest as _, Sha256};

use super::audit::{AuditReport, AuditedEntry};
use super::redact::redact_text;
use super::types::EntryOut;
use crate::model::ProbeResult;
use crate::proto::hex::to_hex;
use crate::proto::mtproto::secret::MtprotoSecret;
use crate::proxy::ProxySpec;

/// Shortest key accepted, in bytes: a key is only as good as its entropy, and 16 bytes is
/// what an MTProto secret has.
pub const MIN_KEY_LEN: usize = 16;

/// Marker put in free text in place of a credential.
const HIDDEN: &str = "***";

/// The key fingerprints are made with. Its `Debug` shows only its id.
#[derive(Clone)]
pub struct RedactionKey {
    /// The key bytes.
    key: Vec<u8>,
}

/// Why a report cannot be redacted or merged as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedactError {
    /// The key is too short to be a key.
    #[error("the redaction key has {0} bytes; it needs at least {MIN_KEY_LEN}")]
    ShortKey(usize),
    /// The report was redacted with another key: its fingerprints cannot be made to match.
    #[error(
        "the report was redacted with key {found}, not with this key ({expected}): fingerprints \
         made with different keys never match"
    )]
    OtherKey {
        /// The key id the report names.
        found: String,
        /// The id of the key given.
        expected: String,
    },
    /// Reports to merge were redacted differently (or some not at all).
    #[error(
        "cannot merge {first} with {other}: redacted reports match only reports redacted with \
         the same key"
    )]
    Mixed {
        /// How the first report was redacted.
        first: String,
        /// How the report that differs was.
        other: String,
    },
}

impl fmt::Debug for RedactionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedactionKey({})", self.id())
    }
}

impl RedactionKey {
    /// A key from its bytes (a key file's contents, an environment variable's value).
    pub fn new(key: Vec<u8>) -> Result<Self, RedactError> {
        if key.len() < MIN_KEY_LEN {
            return Err(RedactError::ShortKey(key.len()));
        }
        Ok(Self { key })
    }

    /// A random key, for a report that will never be merged with another.
    pub fn random() -> Self {
        Self {
            key: rand::random::<[u8; 32]>().to_vec(),
        }
    }

    /// The key's public name: 16 hex digits of HMAC over a fixed label, recorded in
    /// redacted reports as `redaction_key`. It tells keys apart and reveals nothing.
    pub fn id(&self) -> String {
        to_hex(
            self.mac("proxy-audit redaction key id", &[])
                .get(..8)
                .unwrap_or_default(),
        )
    }

    /// HMAC-SHA256 under the key of `label`, a zero byte, then `parts`.
    fn mac(&self, label: &str, parts: &[&[u8]]) -> [u8; 32] {
        // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return [0; 32];
        };
        mac.update(label.as_bytes());
        mac.update(&[0]);
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// Redacts a whole report in place: entries (and their vantages), input names, rejected
    /// lines; marks it `redacted`. A report already redacted with this key is left as it is.
    ///
    /// # Errors
    /// When the report was already redacted with another key.
    pub fn redact_report(&self, report: &mut AuditReport) -> Result<(), RedactError> {
        if report.redacted {
            return match &report.redaction_key {
                Some(found) if *found != self.id() => Err(RedactError::OtherKey {
                    found: found.clone(),
                    expected: self.id(),
                }),
                _ => Ok(()),
            };
        }
        for entry in &mut report.entries {
            self.redact_entry(entry);
        }
        redact_context(report);
        report.redacted = true;
        report.redaction_key = Some(self.id());
        Ok(())
    }

    /// Redacts one audited entry in place (its vantages' results too).
    pub fn redact_entry(&self, audited: &mut AuditedEntry) {
        let entry = &mut audited.entry;
        let needles = needles(entry);
        let spec = spec_of_fields(entry);
        if let Some(spec) = &spec {
            let mut key = Vec::new();
            spec.feed_dedup_key(|bytes| key.extend_from_slice(bytes));
            entry.id = to_hex(
                self.mac("proxy-audit id", &[&key])
                    .get(..6)
                    .unwrap_or_default(),
            );
        }
        let secret = spec.as_ref().and_then(|spec| spec.secret.as_ref());
        entry.secret_sha256 = secret.map(|secret| to_hex(&Sha256::digest(secret.key())));
        let placeholder = secret.and_then(|secret| self.placeholder(secret));
        entry.secret = placeholder.as_ref().map(MtprotoSecret::to_hex);
        entry.password = entry
            .password
            .as_deref()
            .map(|password| self.password_fingerprint(password));
        entry.link = match spec {
            Some(spec) => ProxySpec {
                secret: placeholder,
                password: entry.password.clone(),
                ..spec
            }
            .to_link(),
            None => redact_text(&entry.link),
        };
        entry.as_written = None;
        for source in std::iter::once(&mut entry.source).chain(&mut entry.duplicates) {
            redact_name(&mut source.input);
        }
        scrub_result(&mut audited.result, &needles);
        for vantage in &mut audited.vantages {
            scrub_result(&mut vantage.result, &needles);
        }
    }

    /// The secret with its 16 key bytes replaced by their fingerprint (mode and FakeTLS
    /// domain kept), so it is still a valid secret of its mode.
    fn placeholder(&self, secret: &MtprotoSecret) -> Option<MtprotoSecret> {
        let key = secret.key();
        let fingerprint = self.mac("proxy-audit secret", &[&key]);
        let bytes = secret.as_bytes();
        let start = bytes
            .len()
            .checked_sub(key.len() + secret.faketls_domain().map_or(0, str::len))?;
        let mut out = bytes.get(..start)?.to_vec();
        out.extend_from_slice(fingerprint.get(..key.len())?);
        out.extend_from_slice(bytes.get(start + key.len()..)?);
        MtprotoSecret::from_bytes(out).ok()
    }

    /// 32 hex digits of HMAC over the password.
    fn password_fingerprint(&self, password: &str) -> String {
        let mac = self.mac("proxy-audit password", &[password.as_bytes()]);
        to_hex(mac.get(..16).unwrap_or_default())
    }
}

/// The proxy an entry's typed fields describe (`None` when its secret does not decode, as
/// in an entry made by hand).
fn spec_of_fields(entry: &EntryOut) -> Option<ProxySpec> {
    let secret = match entry.secret.as_deref().map(MtprotoSecret::decode) {
        Some(Ok(secret)) => Some(secret),
        Some(Err(_)) => return None,
        None => None,
    };
    Some(ProxySpec {
        kind: entry.kind,
        host: entry.host.clone(),
        port: entry.port,
        secret,
        username: entry.username.clone(),
        password: entry.password.clone(),
    })
}

/// Every form in which the entry's secret or password could show up in free text: as
/// written, percent-encoded, in base64 (an HTTP `Proxy-Authorization: Basic` echoed back),
/// upper-case hex.
fn needles(entry: &EntryOut) -> Vec<String> {
    let mut needles = Vec::new();
    if let Some(password) = entry.password.as_deref().filter(|p| !p.is_empty()) {
        needles.push(password.to_owned());
        needles.push(utf8_percent_encode(password, NON_ALPHANUMERIC).to_string());
        let login = format!(
            "{}:{password}",
            entry.username.as_deref().unwrap_or_default()
        );
        needles.push(STANDARD.encode(login));
    }
    if let Some(Ok(secret)) = entry.secret.as_deref().map(MtprotoSecret::decode) {
        let key = secret.key();
        for bytes in [secret.as_bytes(), &key[..]] {
            needles.push(to_hex(bytes));
            needles.push(to_hex(bytes).to_uppercase());
            for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
                needles.push(engine.encode(bytes));
            }
        }
    }
    // Longest first, so a needle inside a longer one does not break the longer one up.
    needles.sort_by_key(|needle| std::cmp::Reverse(needle.len()));
    needles.dedup();
    needles
}

/// Replaces every needle in `text` by `***`.
fn scrub(text: &mut String, needles: &[String]) {
    for needle in needles {
        if text.contains(needle.as_str()) {
            *text = text.replace(needle.as_str(), HIDDEN);
        }
    }
}

/// Scrubs the free text of a result: finding evidence, TLS and HTTP errors, the reasons of
/// skipped and inconclusive checks, the header fields the judge echoed. Codes, names and
/// enums are left alone (they are the report's vocabulary and must read back).
fn scrub_result(result: &mut ProbeResult, needles: &[String]) {
    if needles.is_empty() {
        return;
    }
    for finding in &mut result.findings {
        for value in finding.evidence.values_mut() {
            scrub(value, needles);
        }
    }
    let observations = &mut result.observations;
    for leg in &mut observations.tls {
        if let Some(error) = &mut leg.error {
            scrub(error, needles);
        }
    }
    for fetch in &mut observations.http {
        if let Some(error) = &mut fetch.error {
            scrub(error, needles);
        }
    }
    for reason in observations
        .skipped
        .values_mut()
        .chain(observations.inconclusive.values_mut())
    {
        scrub(reason, needles);
    }
    if let Some(anonymity) = &mut observations.anonymity {
        for (_, value) in &mut anonymity.revealing {
            scrub(value, needles);
        }
    }
}

/// Redacts an input's name (shared by many entries: replaced only when it changes).
fn redact_name(name: &mut Arc<str>) {
    let redacted = redact_text(name);
    if *redacted != **name {
        *name = redacted.into();
    }
}

/// Redacts what a report holds besides its entries: input names (a URL may carry a token)
/// and errors, rejected lines.
fn redact_context(report: &mut AuditReport) {
    for input in &mut report.inputs {
        input.input = redact_text(&input.input);
        if let Some(error) = &mut input.error {
            *error = redact_text(error);
        }
    }
    for rejected in &mut report.rejected {
        rejected.text = redact_text(&rejected.text);
        redact_name(&mut rejected.source.input);
    }
}

#[cfg(test)]
mod tests {
    use super::super::csv_out::tests::{PASSWORD, SECRET, sample_report};
    use super::*;
    use crate::report::audit::spec_of;

    fn key(byte: u8) -> RedactionKey {
        RedactionKey::new(vec![byte; 32]).unwrap()
    }

    #[test]
    fn short_keys_are_refused() {
        assert_eq!(
            RedactionKey::new(b"short".to_vec()).unwrap_err(),
            RedactError::ShortKey(5)
        );
        assert!(RedactionKey::new(vec![0; MIN_KEY_LEN]).is_ok());
        assert!(
            !format!("{:?}", key(7)).contains("7, 7"),
            "Debug hides the key"
        );
    }

    #[test]
    fn no_secret_or_password_survives_and_the_links_read_back() {
        let mut report = sample_report();
        report.entries[1].result.findings[0].evidence.insert(
            "echoed".into(),
            format!("Basic {}", STANDARD.encode(format!("user:{PASSWORD}"))),
        );
        report.entries[0].result.observations.skipped.insert(
            "x".into(),
            format!("secret {} refused", SECRET.to_uppercase()),
        );
        let original = report.clone();
        key(1).redact_report(&mut report).unwrap();
        let text = serde_json::to_string(&report).unwrap();
        for needle in [
            SECRET,
            &SECRET[2..],
            &SECRET.to_uppercase(),
            PASSWORD,
            &STANDARD.encode(format!("user:{PASSWORD}")),
        ] {
            assert!(!text.contains(needle), "{needle} in {text}");
        }
        assert!(report.redacted);
        assert_eq!(report.redaction_key.as_deref(), Some(key(1).id().as_str()));
        for (before, after) in original.entries.iter().zip(&report.entries) {
            let (b, a) = (&before.entry, &after.entry);
            assert_ne!(a.id, b.id, "the plain id is a dictionary target");
            assert_eq!((a.kind, &a.host, a.port), (b.kind, &b.host, b.port));
            assert_eq!((&a.username, a.secret_mode), (&b.username, b.secret_mode));
            assert_eq!(a.as_written, None);
            let spec = spec_of(a).expect("a redacted link reads back");
            assert_eq!(spec.secret.as_ref().map(MtprotoSecret::mode), b.secret_mode);
            assert_eq!(spec.password, a.password);
        }
        let mtproto = &report.entries[0].entry;
        assert_eq!(
            mtproto.secret_sha256.as_deref(),
            Some(
                to_hex(&Sha256::digest(
                    MtprotoSecret::decode(SECRET).unwrap().key()
                ))
                .as_str()
            )
        );
        assert_eq!(report.entries[2].entry.secret_sha256, None);
    }

    #[test]
    fn fingerprints_are_stable_per_key_and_differ_between_keys() {
        let redacted = |k: &RedactionKey| {
            let mut report = sample_report();
            k.redact_report(&mut report).unwrap();
            report
        };
        let (a, b, other) = (redacted(&key(1)), redacted(&key(1)), redacted(&key(2)));
        assert_eq!(a, b, "same key, same document");
        for (x, y) in a.entries.iter().zip(&other.entries) {
            assert_ne!(x.entry.id, y.entry.id);
        }
        // The two entries with a credential: its fingerprint depends on the key.
        for (x, y) in a.entries.iter().zip(&other.entries).take(2) {
            assert_ne!(x.entry.link, y.entry.link);
        }
        // Redacting twice with the same key changes nothing; with another key it is refused.
        let mut again = a.clone();
        key(1).redact_report(&mut again).unwrap();
        assert_eq!(again, a);
        assert!(matches!(
            key(2).redact_report(&mut again),
            Err(RedactError::OtherKey { .. })
        ));
    }
}
