//! Known interception CAs: the rule list that turns "this chain is not the real one" into
//! "this chain comes from a CA known to intercept TLS".
//!
//! The built-in list is `rules/interception-cas.toml` (compiled in as `BUILT_IN`); a user
//! may load another file with [`InterceptionCas::load`]. The TLS probe
//! ([`crate::probe::tls`]) records the presented chain as [`CertFacts`] and asks
//! [`InterceptionCas::matches`] for the first entry any certificate matches.
//!
//! # File format
//! TOML, one `[[ca]]` table per CA; unknown keys are errors that name the file and line.
//!
//! ```toml
//! [[ca]]
//! name = "Qaznet Trust Network (Kazakhstan, 2019)"    # required, shown in findings
//! source = "https://bugzilla.mozilla.org/…"            # required: where the values come from
//! cert_sha256 = ["00309c73…"]  # SHA-256 of DER certificates, 64 hex digits each
//! spki_sha256 = ["b5ba8dd7…"]  # SHA-256 of DER SubjectPublicKeyInfos, 64 hex digits each
//! subjects = ["Qaznet Trust Network"]                  # common names
//! ```
//!
//! Every entry needs a non-empty `name`, a non-empty `source` and at least one value in
//! `cert_sha256`, `spki_sha256` or `subjects`. Hex digits may be upper or lower case.
//!
//! # Matching
//! An entry matches a chain when some presented certificate
//! - has a DER SHA-256 listed in `cert_sha256`, or
//! - has a SubjectPublicKeyInfo SHA-256 listed in `spki_sha256` (this catches certificates
//!   re-issued with the same key), or
//! - has a common name (`CN`) in its **subject or issuer** equal to one of `subjects`,
//!   compared exactly after Unicode lower-casing (no substrings, no wildcards). The issuer
//!   counts because an intercepting proxy often presents only the leaf it minted, whose
//!   issuer names its CA.
//!
//! Names are read from [`CertFacts::subject`] and [`CertFacts::issuer`], the RFC 4514 strings
//! written by the TLS probe; `common_names` parses them back (escapes included), so a CN
//! such as `Superfish, Inc.` survives the round trip.

use std::path::Path;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use toml::Spanned;

use crate::config::{FileError, line_of, parse_sha256, read_rule_file};
use crate::model::CertFacts;

/// The built-in list, `rules/interception-cas.toml`.
pub(crate) const BUILT_IN: &str = include_str!("../../rules/interception-cas.toml");

/// The loaded list.
#[derive(Debug, Clone, Default)]
pub struct InterceptionCas {
    /// Entries, in file order (the first match wins).
    pub cas: Vec<InterceptionCa>,
}

/// One known interception CA.
#[derive(Debug, Clone, Default)]
pub struct InterceptionCa {
    /// Name shown in findings.
    pub name: String,
    /// Where the values come from (announcement, bug or certificate URLs).
    pub source: String,
    /// SHA-256 of DER certificates of this CA.
    pub cert_sha256: Vec<[u8; 32]>,
    /// SHA-256 of DER SubjectPublicKeyInfos of this CA's keys.
    pub spki_sha256: Vec<[u8; 32]>,
    /// Common names compared (case-insensitively, exactly) with subject and issuer CNs.
    pub subjects: Vec<String>,
}

/// A list that could not be loaded, naming the file and line when known.
pub(crate) type InterceptionError = FileError;

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawList {
    /// `[[ca]]` tables.
    #[serde(default)]
    ca: Vec<RawCa>,
}

/// `[[ca]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCa {
    /// Name in findings; spanned so entry-level errors can name its line.
    name: Spanned<String>,
    /// Where the values come from.
    source: String,
    /// Certificate hashes.
    #[serde(default)]
    cert_sha256: Vec<Sha256Hex>,
    /// Key hashes.
    #[serde(default)]
    spki_sha256: Vec<Sha256Hex>,
    /// Common names.
    #[serde(default)]
    subjects: Vec<String>,
}

/// A SHA-256 written as 64 hex digits; a bad one fails deserialisation, so the TOML error
/// carries the value's position.
#[derive(Debug)]
struct Sha256Hex([u8; 32]);

impl<'de> Deserialize<'de> for Sha256Hex {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        // `parse_sha256` alone would let `u8::from_str_radix` accept a `+` sign.
        let digits_only = text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit());
        digits_only
            .then(|| parse_sha256(&text))
            .flatten()
            .map(Self)
            .ok_or_else(|| D::Error::custom(format!("{text:?} is not a SHA-256 (64 hex digits)")))
    }
}

impl InterceptionCas {
    /// The built-in list (`BUILT_IN`).
    pub fn built_in() -> Result<Self, InterceptionError> {
        Self::from_toml(BUILT_IN, "built-in interception-cas.toml")
    }

    /// Loads a list file.
    pub fn load(path: &Path) -> Result<Self, InterceptionError> {
        let (text, origin) = read_rule_file(path)?;
        Self::from_toml(&text, &origin)
    }

    /// Parses list text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, InterceptionError> {
        let error = |line: Option<usize>, message: String| FileError::new(origin, line, message);
        let raw: RawList = toml::from_str(text).map_err(|e| FileError::toml(origin, text, &e))?;
        let cas = raw
            .ca
            .into_iter()
            .map(|raw| {
                let line = Some(line_of(text, raw.name.span().start));
                let name = raw.name.into_inner().trim().to_owned();
                let source = raw.source.trim().to_owned();
                let subjects: Vec<String> = raw
                    .subjects
                    .iter()
                    .map(|subject| subject.trim().to_owned())
                    .collect();
                if name.is_empty() {
                    return Err(error(line, "a [[ca]] needs a non-empty name".to_owned()));
                }
                let at = |message: &str| error(line, format!("ca {name:?}: {message}"));
                if source.is_empty() {
                    return Err(at("source must say where the values come from"));
                }
                if subjects.iter().any(String::is_empty) {
                    return Err(at("subjects must not be empty strings"));
                }
                if raw.cert_sha256.is_empty() && raw.spki_sha256.is_empty() && subjects.is_empty() {
                    return Err(at(
                        "needs at least one of cert_sha256, spki_sha256 or subjects",
                    ));
                }
                Ok(InterceptionCa {
                    name,
                    source,
                    cert_sha256: raw.cert_sha256.into_iter().map(|h| h.0).collect(),
                    spki_sha256: raw.spki_sha256.into_iter().map(|h| h.0).collect(),
                    subjects,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { cas })
    }

    /// The name of the first entry (in list order) any certificate of `chain` matches.
    pub fn matches(&self, chain: &[CertFacts]) -> Option<&str> {
        let presented: Vec<Presented> = chain.iter().map(Presented::of).collect();
        self.cas
            .iter()
            .find(|ca| presented.iter().any(|cert| ca.matches(cert)))
            .map(|ca| ca.name.as_str())
    }
}

impl InterceptionCa {
    /// True when this entry matches one presented certificate.
    fn matches(&self, cert: &Presented) -> bool {
        cert.sha256
            .is_some_and(|hash| self.cert_sha256.contains(&hash))
            || cert
                .spki_sha256
                .is_some_and(|hash| self.spki_sha256.contains(&hash))
            || self.subjects.iter().any(|subject| {
                let subject = subject.to_lowercase();
                cert.names.contains(&subject)
            })
    }
}

/// A presented certificate reduced to what matching compares.
struct Presented {
    /// DER hash, when the hex was well formed.
    sha256: Option<[u8; 32]>,
    /// Key hash, when known (empty for unparsable certificates).
    spki_sha256: Option<[u8; 32]>,
    /// Lower-cased CNs of the subject and the issuer.
    names: Vec<String>,
}

impl Presented {
    /// Decodes the facts the TLS probe recorded.
    fn of(facts: &CertFacts) -> Self {
        Self {
            sha256: parse_sha256(&facts.sha256),
            spki_sha256: parse_sha256(&facts.spki_sha256),
            names: common_names(&facts.subject)
                .into_iter()
                .chain(common_names(&facts.issuer))
                .map(|name| name.to_lowercase())
                .collect(),
        }
    }
}

/// The common-name values of an RFC 4514 distinguished name string, unescaped.
///
/// Attributes are separated by unescaped `,` (between RDNs) or `+` (inside one); the type
/// (`CN`, `commonName` or `2.5.4.3`, any case) ends at the first `=`. Escapes are `\` before
/// a character, or `\` and two hex digits for one byte of UTF-8. A value written as `#hex`
/// (not a string) is returned as written. Text that is not a name (`(unparsable)`) yields
/// nothing.
pub(crate) fn common_names(dn: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = dn;
    while !rest.is_empty() {
        let (attribute, after) = split_unescaped(rest);
        rest = after;
        let Some((kind, value)) = attribute.split_once('=') else {
            continue;
        };
        let kind = kind.trim();
        if kind.eq_ignore_ascii_case("CN")
            || kind.eq_ignore_ascii_case("commonName")
            || kind == "2.5.4.3"
        {
            names.push(unescape(value));
        }
    }
    names
}

/// Splits at the first unescaped `,` or `+`: (attribute, the rest after the separator).
fn split_unescaped(text: &str) -> (&str, &str) {
    let mut escaped = false;
    for (at, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ',' | '+' => {
                let rest = text.get(at + 1..).unwrap_or_default();
                return (text.get(..at).unwrap_or(text), rest);
            }
            _ => {}
        }
    }
    (text, "")
}

/// Undoes RFC 4514 escaping (`\,`, `\+`, `\5C`, …); bad UTF-8 from hex escapes is replaced.
fn unescape(value: &str) -> String {
    let mut bytes = Vec::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let Some(next) = chars.next() else {
            break;
        };
        let pair = chars
            .peek()
            .and_then(|low| Some((next.to_digit(16)?, low.to_digit(16)?)));
        if let Some((high, low)) = pair {
            chars.next();
            // Two hex digits are at most 0xff.
            bytes.push(u8::try_from(high * 16 + low).unwrap_or(u8::MAX));
        } else {
            let mut buf = [0u8; 4];
            bytes.extend_from_slice(next.encode_utf8(&mut buf).as_bytes());
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::hex::to_hex;

    /// The Qaznet / Kazakhstan hashes the list must carry (Chromium's blocklist file names).
    const KAZAKHSTAN: [&str; 10] = [
        "00309c736dd661da6f1eb24173aa849944c168a43a15bffd192eecfdb6f8dbd2",
        "61c0fc2e38b5b6f9071b42cee54a9013d858b6697c68b460948551b3249576a1",
        "1df696f021ab1c3ace9a376b07ed7256a40214cd3396d7934087614924e2d7ef",
        "0230a604d99220e5612ee7862ab9f7a6e18e4f1ac4c9e27075788cc5220169ab",
        "06fd20629c143b9eab28d2799caefc5d23fde267d16c631e3f5b8b4bab3f68e6",
        "0bd39de4793cdc117138f47708aa4d583acf67adb059a0d91f668d1803bf6489",
        "c95c133b68319ee516b5f41e377f589878af1556567cc2834ef03b1d10830fd3",
        "c530fadc9bfa265e63b755cc6ee04c2d70d60bb916ce2f331dc7359362571b25",
        "89107c8e50e029b7b5f4ff0ccd2956bcc9d0c8ba2bfb6a58374ed63a6b034a30",
        "3472e4f16c570e0dd388aaaa4a64a34a4b939f1ca770996b5be0037c1aded9c1",
    ];

    /// Facts for a certificate with these names and hashes.
    fn facts(subject: &str, issuer: &str, sha256: &str, spki_sha256: &str) -> CertFacts {
        CertFacts {
            subject: subject.to_owned(),
            issuer: issuer.to_owned(),
            sha256: sha256.to_owned(),
            spki_sha256: spki_sha256.to_owned(),
        }
    }

    /// A two-entry list used by the matching tests.
    fn sample() -> InterceptionCas {
        let text = format!(
            "[[ca]]\nname = \"By hash\"\nsource = \"test\"\ncert_sha256 = [\"{}\"]\n\
             spki_sha256 = [\"{}\"]\n\n[[ca]]\nname = \"By name\"\nsource = \"test\"\n\
             subjects = [\"Qaznet Trust Network\", \"Superfish, Inc.\"]\n",
            "ab".repeat(32),
            "CD".repeat(32),
        );
        InterceptionCas::from_toml(&text, "sample.toml").unwrap()
    }

    #[test]
    fn built_in_list_loads_with_sources() {
        let list = InterceptionCas::built_in().unwrap();
        assert!(list.cas.len() >= 3, "{list:?}");
        for ca in &list.cas {
            assert!(
                ca.source.contains("https://"),
                "{} has no source URL",
                ca.name
            );
        }
        let qaznet = list
            .cas
            .iter()
            .find(|ca| ca.name == "Qaznet Trust Network (Kazakhstan, 2019)")
            .unwrap();
        assert_eq!(qaznet.subjects, ["Qaznet Trust Network"]);
        assert_eq!(to_hex(&qaznet.cert_sha256[0]), KAZAKHSTAN[0]);
    }

    #[test]
    fn built_in_list_carries_all_ten_kazakhstan_hashes() {
        let list = InterceptionCas::built_in().unwrap();
        let certs: Vec<String> = list
            .cas
            .iter()
            .flat_map(|ca| ca.cert_sha256.iter().map(|h| to_hex(h)))
            .collect();
        let keys: Vec<String> = list
            .cas
            .iter()
            .flat_map(|ca| ca.spki_sha256.iter().map(|h| to_hex(h)))
            .collect();
        let (key_named, certificates) = KAZAKHSTAN.split_last().unwrap();
        for hash in certificates {
            assert!(
                certs.iter().any(|c| c == hash),
                "certificate {hash} missing"
            );
        }
        // Chromium names this file by the hash of its key, not of the certificate (whose
        // DER hash is 235150de…); the list files it accordingly.
        assert!(
            keys.iter().any(|k| k == key_named),
            "key {key_named} missing"
        );
        assert!(
            certs.iter().any(|c| c.starts_with("235150de7df7db2e")),
            "certificate of key {key_named} missing"
        );
    }

    #[test]
    fn built_in_list_matches_each_kazakhstan_hash() {
        let list = InterceptionCas::built_in().unwrap();
        for hash in &KAZAKHSTAN[..9] {
            let chain = [facts("CN=x", "CN=y", hash, "")];
            assert!(list.matches(&chain).is_some(), "{hash}");
        }
        let chain = [facts("CN=x", "CN=y", "", KAZAKHSTAN[9])];
        assert!(list.matches(&chain).is_some());
    }

    #[test]
    fn unknown_key_names_file_and_line() {
        let text = "[[ca]]\nname = \"a\"\nsource = \"s\"\nsubjects = [\"a\"]\ncolour = 1\n";
        let err = InterceptionCas::from_toml(text, "my.toml").unwrap_err();
        assert_eq!(
            (err.origin.as_str(), err.line),
            ("my.toml", Some(5)),
            "{err}"
        );
        assert!(err.to_string().starts_with("my.toml:5: "), "{err}");
        assert!(err.message.contains("colour"), "{err}");
    }

    #[test]
    fn bad_hex_is_an_error_on_its_line() {
        for bad in [
            "00".repeat(31),
            "zz".repeat(32),
            "+f".repeat(32),
            "0".repeat(65),
        ] {
            let text =
                format!("[[ca]]\nname = \"a\"\nsource = \"s\"\n\ncert_sha256 = [\"{bad}\"]\n");
            let err = InterceptionCas::from_toml(&text, "bad.toml").unwrap_err();
            assert_eq!(err.line, Some(5), "{err}");
            assert!(err.message.contains("64 hex digits"), "{err}");
        }
        let text = format!(
            "[[ca]]\nname = \"a\"\nsource = \"s\"\nspki_sha256 = [\"{}\"]\n",
            "g".repeat(64)
        );
        assert!(InterceptionCas::from_toml(&text, "bad.toml").is_err());
    }

    #[test]
    fn entries_need_a_name_a_source_and_something_to_match() {
        let cases = [
            (
                "[[ca]]\nname = \" \"\nsource = \"s\"\nsubjects = [\"a\"]\n",
                "non-empty name",
            ),
            (
                "[[ca]]\nname = \"a\"\nsource = \"\"\nsubjects = [\"a\"]\n",
                "source",
            ),
            ("[[ca]]\nname = \"a\"\nsubjects = [\"a\"]\n", "source"),
            ("[[ca]]\nname = \"a\"\nsource = \"s\"\n", "at least one"),
            (
                "[[ca]]\nname = \"a\"\nsource = \"s\"\nsubjects = [\"\"]\n",
                "empty strings",
            ),
        ];
        for (text, expected) in cases {
            let err = InterceptionCas::from_toml(text, "t.toml").unwrap_err();
            assert!(err.message.contains(expected), "{text:?}: {err}");
            assert!(err.line.is_some(), "{err}");
        }
    }

    #[test]
    fn load_reads_a_file_and_names_it_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cas.toml");
        std::fs::write(
            &path,
            "[[ca]]\nname = \"F\"\nsource = \"s\"\nsubjects = [\"f\"]\n",
        )
        .unwrap();
        let list = InterceptionCas::load(&path).unwrap();
        assert_eq!(list.cas[0].name, "F");
        let missing = dir.path().join("missing.toml");
        let err = InterceptionCas::load(&missing).unwrap_err();
        assert_eq!(err.line, None);
        assert!(err.origin.ends_with("missing.toml"), "{err}");
    }

    #[test]
    fn matches_by_certificate_hash() {
        let list = sample();
        let chain = [
            facts("CN=leaf", "CN=ca", &"00".repeat(32), ""),
            facts("CN=ca", "CN=ca", &"AB".repeat(32), ""),
        ];
        assert_eq!(list.matches(&chain), Some("By hash"));
    }

    #[test]
    fn matches_by_key_hash() {
        let list = sample();
        let chain = [facts(
            "CN=leaf",
            "CN=ca",
            &"00".repeat(32),
            &"cd".repeat(32),
        )];
        assert_eq!(list.matches(&chain), Some("By hash"));
    }

    #[test]
    fn matches_by_subject_or_issuer_common_name_ignoring_case() {
        let list = sample();
        let root = [facts(
            "O=proxy-audit lab,CN=QAZNET trust network",
            "CN=x",
            "",
            "",
        )];
        assert_eq!(list.matches(&root), Some("By name"));
        let leaf_only = [facts(
            "CN=canary.test",
            "CN=Qaznet Trust Network,C=KZ",
            "",
            "",
        )];
        assert_eq!(list.matches(&leaf_only), Some("By name"));
        let escaped = [facts("CN=Superfish\\, Inc.,C=US", "CN=x", "", "")];
        assert_eq!(list.matches(&escaped), Some("By name"));
    }

    #[test]
    fn no_match_for_an_unrelated_chain() {
        let list = sample();
        let chain = [
            facts(
                "CN=example.org",
                "CN=R11,O=Let's Encrypt,C=US",
                &"01".repeat(32),
                &"02".repeat(32),
            ),
            facts("(unparsable)", "(unparsable)", &"03".repeat(32), ""),
        ];
        assert_eq!(list.matches(&chain), None);
        // Names must be the CN and equal, not merely contained.
        let near = [facts(
            "O=Qaznet Trust Network,CN=other",
            "CN=Qaznet Trust Network 2",
            "",
            "",
        )];
        assert_eq!(list.matches(&near), None);
        assert_eq!(list.matches(&[]), None);
        assert_eq!(InterceptionCas::default().matches(&chain), None);
    }

    #[test]
    fn first_matching_entry_wins() {
        let list = sample();
        let chain = [
            facts("CN=Qaznet Trust Network", "CN=x", "", ""),
            facts("CN=y", "CN=y", &"ab".repeat(32), ""),
        ];
        assert_eq!(list.matches(&chain), Some("By hash"));
    }

    #[test]
    fn common_names_undo_rfc4514_escaping() {
        assert_eq!(common_names("CN=a,O=b,CN=c"), ["a", "c"]);
        assert_eq!(
            common_names("O=x+CN=Superfish\\, Inc.,C=US"),
            ["Superfish, Inc."]
        );
        assert_eq!(common_names("cn=\\#1 \\2B\\5C end\\ "), ["#1 +\\ end "]);
        assert_eq!(common_names("commonName=a,2.5.4.3=b"), ["a", "b"]);
        assert_eq!(common_names("CN=\\D0\\9A\\D0\\97"), ["КЗ"]);
        assert_eq!(common_names("CN=\\FF"), ["\u{fffd}"]);
        assert_eq!(common_names("CN=trailing\\"), ["trailing"]);
        assert!(common_names("(unparsable)").is_empty());
        assert!(common_names("").is_empty());
    }
}
