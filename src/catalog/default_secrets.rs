//! Published MTProto secrets: the rule list that turns "this proxy's key" into "this key was
//! printed in a README or sample configuration, so anyone can use and recognise the proxy".
//!
//! The built-in list is `rules/default-secrets.toml` (compiled in as `BUILT_IN`); a user
//! may load another file with [`DefaultSecrets::load`]. [`DefaultSecrets::matching`] gives the
//! first entry whose key is the key of a link's secret.
//!
//! # File format
//! TOML, one `[[secret]]` table per published secret; unknown keys are errors that name the
//! file and line.
//!
//! ```toml
//! [[secret]]
//! secret = "00000000000000000000000000000001"  # any form a link accepts (see below)
//! name = "mtprotoproxy default user tg"         # required, shown in findings
//! source = "https://github.com/alexbers/…"      # required: where it is published
//! ```
//!
//! `secret` is decoded like a link's `secret=` value
//! ([`MtprotoSecret::decode`]): hex in either case, plain (16 bytes), `dd`-prefixed, or
//! `ee`-prefixed with its FakeTLS domain, or the same bytes in base64 / base64url. Every
//! entry needs a decodable `secret`, a non-empty `name` and a non-empty `source`, and no key
//! may be listed twice (whatever the forms around it).
//!
//! # Matching
//! Only the 16 key bytes ([`MtprotoSecret::key`]) are compared: the mode prefix and the
//! FakeTLS domain are ignored, so an entry written as `ee<key><domain>` also matches
//! `<key>`, `dd<key>` and `ee<key>` with any other domain.

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::config::{FileError, line_of, read_rule_file};
use crate::proto::mtproto::secret::{KEY_LEN, MtprotoSecret};

/// The built-in list, `rules/default-secrets.toml`.
pub(crate) const BUILT_IN: &str = include_str!("../../rules/default-secrets.toml");

/// The loaded list.
#[derive(Debug, Clone, Default)]
pub struct DefaultSecrets {
    /// Entries, in file order (the first match wins).
    pub secrets: Vec<DefaultSecret>,
}

/// One published secret.
#[derive(Debug, Clone)]
pub struct DefaultSecret {
    /// The 16 key bytes (without mode prefix or FakeTLS domain).
    pub key: [u8; KEY_LEN],
    /// Short label shown in findings.
    pub name: String,
    /// Where the secret is published (URL and where in it).
    pub source: String,
}

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawList {
    /// `[[secret]]` tables.
    #[serde(default)]
    secret: Vec<RawSecret>,
}

/// `[[secret]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecret {
    /// The secret in any link form; spanned so entry-level errors can name its line.
    secret: Spanned<String>,
    /// Label in findings.
    name: String,
    /// Where it is published.
    source: String,
}

impl DefaultSecrets {
    /// The built-in list (`BUILT_IN`).
    pub fn built_in() -> Result<Self, FileError> {
        Self::from_toml(BUILT_IN, "built-in default-secrets.toml")
    }

    /// Loads a list file.
    pub fn load(path: &Path) -> Result<Self, FileError> {
        let (text, origin) = read_rule_file(path)?;
        Self::from_toml(&text, &origin)
    }

    /// Parses list text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, FileError> {
        let raw: RawList = toml::from_str(text).map_err(|e| FileError::toml(origin, text, &e))?;
        let mut secrets: Vec<DefaultSecret> = Vec::with_capacity(raw.secret.len());
        for raw in raw.secret {
            let line = Some(line_of(text, raw.secret.span().start));
            let error = |message: String| FileError::new(origin, line, message);
            let name = raw.name.trim().to_owned();
            if name.is_empty() {
                return Err(error("a [[secret]] needs a non-empty name".to_owned()));
            }
            let source = raw.source.trim().to_owned();
            if source.is_empty() {
                return Err(error(format!(
                    "secret {name:?}: source must say where the secret is published"
                )));
            }
            let key = MtprotoSecret::decode(raw.secret.get_ref())
                .map_err(|e| error(format!("secret {name:?}: {e}")))?
                .key();
            if let Some(earlier) = secrets.iter().find(|entry| entry.key == key) {
                return Err(error(format!(
                    "secret {name:?} has the same key as {:?}, listed earlier",
                    earlier.name
                )));
            }
            secrets.push(DefaultSecret { key, name, source });
        }
        Ok(Self { secrets })
    }

    /// The first entry (in list order) whose key equals the 16 key bytes of `secret`,
    /// whatever its mode prefix or FakeTLS domain.
    pub fn matching(&self, secret: &MtprotoSecret) -> Option<&DefaultSecret> {
        let key = secret.key();
        self.secrets.iter().find(|entry| entry.key == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::hex::to_hex;

    /// The list must carry these keys (all zeros, alexbers' tg2 example).
    const REQUIRED: [&str; 2] = [
        "00000000000000000000000000000000",
        "0123456789abcdef0123456789abcdef",
    ];

    /// Hex of `text` (ASCII), for building FakeTLS secrets.
    fn hex_of(text: &str) -> String {
        to_hex(text.as_bytes())
    }

    /// A decoded secret.
    fn secret(text: &str) -> MtprotoSecret {
        MtprotoSecret::decode(text).unwrap()
    }

    #[test]
    fn built_in_list_loads_with_sources() {
        let list = DefaultSecrets::built_in().unwrap();
        assert!(list.secrets.len() >= 6, "{list:?}");
        for entry in &list.secrets {
            assert!(!entry.name.is_empty(), "{entry:?}");
            assert!(
                entry.source.starts_with("https://"),
                "{} has no source URL: {:?}",
                entry.name,
                entry.source
            );
            // Every source says where in the page, not just the URL.
            assert!(entry.source.contains(' '), "{}", entry.name);
        }
    }

    #[test]
    fn built_in_list_carries_the_well_known_keys() {
        let list = DefaultSecrets::built_in().unwrap();
        let keys: Vec<String> = list.secrets.iter().map(|e| to_hex(&e.key)).collect();
        for key in REQUIRED.iter().chain(&[
            "00000000000000000000000000000001",
            "00baadf00d15abad1deaa515baadcafe",
            "367a189aee18fa31c190054efd4a8e95",
            "87b51aa2f2e9305cdfc095de3c7bab4f",
        ]) {
            assert!(keys.iter().any(|k| k == key), "{key} missing");
        }
    }

    #[test]
    fn mtg_base64_test_secret_decodes_to_its_key() {
        let decoded = secret("7oe1GqLy6TBc38CV3jx7q09nb29nbGUuY29t");
        assert_eq!(decoded.to_hex().get(..2), Some("ee"));
        assert_eq!(to_hex(&decoded.key()), "87b51aa2f2e9305cdfc095de3c7bab4f");
        assert_eq!(decoded.faketls_domain(), Some("google.com"));
        let example = secret(
            "ee367a189aee18fa31c190054efd4a8e9573746f726167652e676f6f676c65617069732e636f6d",
        );
        assert_eq!(to_hex(&example.key()), "367a189aee18fa31c190054efd4a8e95");
        assert_eq!(example.faketls_domain(), Some("storage.googleapis.com"));
    }

    #[test]
    fn matching_ignores_prefix_and_domain() {
        let list = DefaultSecrets::built_in().unwrap();
        for key in REQUIRED {
            for form in [
                key.to_owned(),
                key.to_uppercase(),
                format!("dd{key}"),
                format!("ee{key}{}", hex_of("example.org")),
                format!("ee{key}{}", hex_of("www.cloudflare.com")),
            ] {
                let found = list.matching(&secret(&form));
                assert_eq!(
                    found.map(|e| to_hex(&e.key)),
                    Some(key.to_owned()),
                    "{form}"
                );
            }
        }
        // An entry written with its FakeTLS domain matches the bare key, and the reverse.
        let bare = secret("367a189aee18fa31c190054efd4a8e95");
        let found = list.matching(&bare).unwrap();
        assert_eq!(found.name, "mtg example.config.toml");
        let dd_of_base64_entry = secret(&format!("dd{}", "87b51aa2f2e9305cdfc095de3c7bab4f"));
        assert!(list.matching(&dd_of_base64_entry).is_some());
    }

    #[test]
    fn matching_finds_nothing_for_a_random_key() {
        let list = DefaultSecrets::built_in().unwrap();
        for form in [
            "3f9c2a7be41d05c86e7a91b2d4f0c513".to_owned(),
            "dd3f9c2a7be41d05c86e7a91b2d4f0c513".to_owned(),
            format!("ee3f9c2a7be41d05c86e7a91b2d4f0c513{}", hex_of("google.com")),
        ] {
            assert!(list.matching(&secret(&form)).is_none(), "{form}");
        }
        let empty = DefaultSecrets::default();
        assert!(empty.matching(&secret(REQUIRED[0])).is_none());
    }

    #[test]
    fn first_matching_entry_wins() {
        let text = "[[secret]]\nsecret = \"00000000000000000000000000000000\"\nname = \"a\"\n\
                    source = \"s\"\n\n[[secret]]\nsecret = \"11111111111111111111111111111111\"\n\
                    name = \"b\"\nsource = \"s\"\n";
        let list = DefaultSecrets::from_toml(text, "t.toml").unwrap();
        assert_eq!(list.secrets.len(), 2);
        let found = list.matching(&secret("dd11111111111111111111111111111111"));
        assert_eq!(found.map(|e| e.name.as_str()), Some("b"));
    }

    #[test]
    fn bad_secret_is_an_error_on_its_line() {
        for (bad, expected) in [
            // The Docker image README's example as printed: its typo makes it base64 of 24
            // bytes, not hex.
            ("00baadf00d15abad1deaa51sbaadcafe", "24 bytes"),
            ("not a secret!", "neither hex nor base64"),
            ("0000", "bytes"),
            ("", "empty secret"),
            ("ee00000000000000000000000000000000", "no domain"),
        ] {
            let text = format!("[[secret]]\nname = \"a\"\nsource = \"s\"\n\nsecret = \"{bad}\"\n");
            let err = DefaultSecrets::from_toml(&text, "bad.toml").unwrap_err();
            assert_eq!(
                (err.origin.as_str(), err.line),
                ("bad.toml", Some(5)),
                "{err}"
            );
            assert!(err.to_string().starts_with("bad.toml:5: "), "{err}");
            assert!(err.message.contains(expected), "{bad:?}: {err}");
            assert!(err.message.contains("\"a\""), "{err}");
        }
    }

    #[test]
    fn entries_need_a_name_and_a_source() {
        let key = "\"00000000000000000000000000000000\"";
        let cases = [
            (
                format!("[[secret]]\nsecret = {key}\nname = \" \"\nsource = \"s\"\n"),
                "non-empty name",
                2,
            ),
            (
                format!("[[secret]]\nsecret = {key}\nname = \"a\"\nsource = \"\"\n"),
                "source",
                2,
            ),
            (
                format!("\n[[secret]]\nname = \"a\"\nsecret = {key}\n"),
                "source",
                2,
            ),
            (
                format!("[[secret]]\nsecret = {key}\nsource = \"s\"\n"),
                "name",
                1,
            ),
        ];
        for (text, expected, line) in cases {
            let err = DefaultSecrets::from_toml(&text, "t.toml").unwrap_err();
            assert!(err.message.contains(expected), "{text:?}: {err}");
            assert_eq!(err.line, Some(line), "{text:?}: {err}");
        }
    }

    #[test]
    fn unknown_key_names_file_and_line() {
        let text = "[[secret]]\nsecret = \"00000000000000000000000000000000\"\nname = \"a\"\n\
                    source = \"s\"\ncolour = 1\n";
        let err = DefaultSecrets::from_toml(text, "my.toml").unwrap_err();
        assert_eq!(
            (err.origin.as_str(), err.line),
            ("my.toml", Some(5)),
            "{err}"
        );
        assert!(err.message.contains("colour"), "{err}");
        let top = "colour = 1\n";
        let err = DefaultSecrets::from_toml(top, "my.toml").unwrap_err();
        assert_eq!(err.line, Some(1), "{err}");
    }

    #[test]
    fn a_key_listed_twice_names_both_entries() {
        let text = format!(
            "[[secret]]\nsecret = \"{key}\"\nname = \"plain\"\nsource = \"s\"\n\n\
             [[secret]]\nsecret = \"ee{key}{domain}\"\nname = \"faketls\"\nsource = \"s\"\n",
            key = "0123456789abcdef0123456789abcdef",
            domain = hex_of("google.com"),
        );
        let err = DefaultSecrets::from_toml(&text, "dup.toml").unwrap_err();
        assert_eq!(err.line, Some(7), "{err}");
        assert!(err.message.contains("\"plain\""), "{err}");
        assert!(err.message.contains("\"faketls\""), "{err}");
    }

    #[test]
    fn an_empty_file_is_an_empty_list() {
        let list = DefaultSecrets::from_toml("# nothing yet\n", "e.toml").unwrap();
        assert!(list.secrets.is_empty());
    }

    #[test]
    fn load_reads_a_file_and_names_it_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.toml");
        std::fs::write(
            &path,
            "[[secret]]\nsecret = \"7oe1GqLy6TBc38CV3jx7q09nb29nbGUuY29t\"\nname = \"F\"\n\
             source = \"s\"\n",
        )
        .unwrap();
        let list = DefaultSecrets::load(&path).unwrap();
        assert_eq!(list.secrets[0].name, "F");
        assert_eq!(
            to_hex(&list.secrets[0].key),
            "87b51aa2f2e9305cdfc095de3c7bab4f"
        );
        let missing = dir.path().join("missing.toml");
        let err = DefaultSecrets::load(&missing).unwrap_err();
        assert_eq!(err.line, None);
        assert!(err.origin.ends_with("missing.toml"), "{err}");
    }
}
