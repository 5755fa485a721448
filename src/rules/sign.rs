//! Minisign signatures for published rule files (the trusted list CI emits).
//!
//! Signatures are ordinary minisign ones (Ed25519 over the BLAKE2b-512 of the data, with a
//! signed trusted comment), made and checked with the [`minisign`] crate, so users can also
//! check a list with the `minisign` tool: `minisign -Vm trusted.toml -P <key>`.
//!
//! Keys travel as text: the public key as minisign writes it (a comment line and the key
//! line, or the key line alone, as printed by `minisign -P`), the secret key as a minisign
//! secret-key file, encrypted with a password or not. No key is stored in the repository;
//! tests generate theirs.
//!
//! A secret key is unlocked once, into a [`SigningKey`], before any work that depends on
//! it (the audit unlocks it before probing, so a wrong password costs nothing). Unencrypted
//! keys are accepted as `minisign -G -W` writes them: minisign 0.11 leaves their checksum
//! all zeros, which the crate's loader refuses as "Corrupted key"; such a key is read
//! directly and checked the way that matters, by signing with it and verifying with the
//! public half stored inside it (every key is checked so).
//!
//! The trusted comment of a list says when it was made and its sequence number
//! ([`ListStamp`]), so `verify` can tell its age and a reader can refuse an older list
//! served in place of a newer one.
//!
//! Nothing here prompts: a missing password for an encrypted key is an error, not a
//! question on the terminal.

use std::fmt;
use std::io::Cursor;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use minisign::{KeyPair, PublicKey, PublicKeyBox, SecretKey, SecretKeyBox, SignatureBox};

/// Why signing or verifying failed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// Key generation failed (no randomness, or the password could not be applied).
    #[error("cannot generate a key pair: {0}")]
    Generate(String),
    /// The public key text is not a minisign public key.
    #[error("bad public key: {0}")]
    PublicKey(String),
    /// The secret key text is not a minisign secret key, or the password is wrong or
    /// missing.
    #[error("bad secret key: {0}")]
    SecretKey(String),
    /// The trusted comment would not fit on its line of the signature.
    #[error("the trusted comment must be a single line")]
    Comment,
    /// Signing failed.
    #[error("cannot sign: {0}")]
    Sign(String),
    /// The signature text is not a minisign signature.
    #[error("malformed signature: {0}")]
    Malformed(String),
    /// The signature does not match the data, its comment or the key.
    #[error("signature verification failed: {0}")]
    Invalid(String),
}

/// A new key pair as text: (public key file, secret key file). With a password the secret
/// key is encrypted the way `minisign -G` does it (scrypt), which takes a moment.
pub(crate) fn generate_keypair(password: Option<&str>) -> Result<(String, String), SignError> {
    let generate = |e: minisign::PError| SignError::Generate(e.to_string());
    let pair = match password {
        Some(password) => KeyPair::generate_encrypted_keypair(Some(password.to_owned())),
        None => KeyPair::generate_unencrypted_keypair(),
    }
    .map_err(generate)?;
    let public = pair.pk.to_box().map_err(generate)?.into_string();
    let secret = pair
        .sk
        .to_box(Some("proxy-audit secret key"))
        .map_err(generate)?
        .into_string();
    Ok((public, secret))
}

/// Length of a minisign secret key's bytes: algorithms (3 × 2), scrypt salt (32) and
/// limits (2 × 8), key id (8), Ed25519 secret key (64), checksum (32).
const SECRET_KEY_LEN: usize = 158;

/// An unlocked secret key, ready to sign. `Debug` shows its key id only.
#[derive(Clone)]
pub struct SigningKey {
    /// The decrypted secret key.
    secret: SecretKey,
    /// Its public half (the one stored inside the secret key), which every signature is
    /// checked against before it is returned.
    public: PublicKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({})", self.key_id())
    }
}

impl SigningKey {
    /// Reads and unlocks a secret key file's text. `password` decrypts an encrypted key and
    /// is ignored for an unencrypted one (a CI job may set it for every key).
    ///
    /// # Errors
    /// When the text is not a minisign secret key, an encrypted key has no password or the
    /// wrong one, or the key's halves do not belong together.
    pub fn unlock(secret_key_text: &str, password: Option<&str>) -> Result<Self, SignError> {
        let bad = |message: &str| SignError::SecretKey(message.to_owned());
        let key_line = secret_key_text
            .lines()
            .nth(1)
            .ok_or_else(|| bad("expected a comment line, then the key line"))?;
        let bytes = STANDARD
            .decode(key_line.trim())
            .map_err(|_| bad("the key line is not base64"))?;
        if bytes.len() != SECRET_KEY_LEN {
            return Err(bad("the key line has the wrong length"));
        }
        let encrypted = bytes.get(2..4) != Some(&[0, 0][..]);
        let zero_checksum = bytes
            .get(SECRET_KEY_LEN - 32..)
            .is_some_and(|checksum| checksum.iter().all(|&b| b == 0));
        let secret_box = SecretKeyBox::from_string(secret_key_text)
            .map_err(|e| SignError::SecretKey(e.to_string()))?;
        let secret = match (encrypted, password) {
            (true, Some(password)) => SecretKey::from_box(secret_box, Some(password.to_owned())),
            (true, None) => {
                return Err(bad(
                    "the key is encrypted: give its password (PROXY_AUDIT_KEY_PASSWORD)",
                ));
            }
            // `minisign -G -W` (0.11) writes no checksum; the signing check below stands in.
            (false, _) if zero_checksum => SecretKey::from_bytes(&bytes),
            (false, _) => SecretKey::from_unencrypted_box(secret_box),
        }
        .map_err(|e| SignError::SecretKey(e.to_string()))?;
        let public =
            PublicKey::from_secret_key(&secret).map_err(|e| SignError::SecretKey(e.to_string()))?;
        let key = Self { secret, public };
        key.sign(b"proxy-audit key check", "key check")
            .map_err(|_| bad("corrupted key: it does not verify with its own public half"))?;
        Ok(key)
    }

    /// The key id, as minisign prints it (16 upper-case hex digits).
    pub fn key_id(&self) -> String {
        let mut id = self.public.keynum().to_vec();
        id.reverse();
        crate::proto::hex::to_hex(&id).to_uppercase()
    }

    /// The public key file's text for this key.
    ///
    /// # Errors
    /// Never in practice (the crate's formatting is fallible in its signature only).
    pub fn public_key(&self) -> Result<String, SignError> {
        self.public
            .to_box()
            .map(PublicKeyBox::into_string)
            .map_err(|e| SignError::PublicKey(e.to_string()))
    }

    /// Signs `data`; returns the `.minisig` file text. `trusted_comment` is signed too (a
    /// date or version, say) and must be one line. The signature is verified with the
    /// key's public half before it is returned.
    ///
    /// # Errors
    /// When the comment is not one line, or signing fails.
    pub fn sign(&self, data: &[u8], trusted_comment: &str) -> Result<String, SignError> {
        if trusted_comment.contains(['\n', '\r']) {
            return Err(SignError::Comment);
        }
        let signature = minisign::sign(
            Some(&self.public),
            &self.secret,
            Cursor::new(data),
            Some(trusted_comment),
            Some("signature from proxy-audit"),
        )
        .map_err(|e| SignError::Sign(e.to_string()))?;
        Ok(signature.into_string())
    }
}

/// Signs `data` with a secret key file's text ([`SigningKey::unlock`], then
/// [`SigningKey::sign`]).
///
/// # Errors
/// As those two.
pub fn sign(
    data: &[u8],
    secret_key_text: &str,
    password: Option<&str>,
    trusted_comment: &str,
) -> Result<String, SignError> {
    SigningKey::unlock(secret_key_text, password)?.sign(data, trusted_comment)
}

/// Checks that `signature_text` is a valid signature of `data` (and of its trusted
/// comment) by the key in `public_key_text`, and returns the trusted comment. Legacy
/// (non-prehashed) signatures are refused.
pub fn verify(
    data: &[u8],
    signature_text: &str,
    public_key_text: &str,
) -> Result<String, SignError> {
    let public_key = parse_public_key(public_key_text)?;
    let signature = SignatureBox::from_string(signature_text)
        .map_err(|e| SignError::Malformed(e.to_string()))?;
    minisign::verify(
        &public_key,
        &signature,
        Cursor::new(data),
        true,
        false,
        false,
    )
    .map_err(|e| SignError::Invalid(e.to_string()))?;
    signature
        .trusted_comment()
        .map_err(|e| SignError::Malformed(e.to_string()))
}

/// Reads a public key file (comment line and key line) or a bare key line.
fn parse_public_key(text: &str) -> Result<PublicKey, SignError> {
    let text = text.trim();
    let parsed = if text.lines().count() == 1 {
        PublicKey::from_base64(text)
    } else {
        PublicKeyBox::from_string(text).and_then(PublicKeyBox::into_public_key)
    };
    parsed.map_err(|e| SignError::PublicKey(e.to_string()))
}

/// What the trusted comment of a signed list says of it: when it was made and its
/// sequence number. Written as
/// `proxy-audit trusted list timestamp:UNIX sequence:N file:NAME` (minisign's own comments
/// use `timestamp:`; the file name comes last because it may hold spaces).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListStamp {
    /// When the list was signed, in Unix seconds.
    pub created: i64,
    /// The list's number: each published list's is higher than the last one's.
    pub sequence: u64,
}

/// The words every trusted comment of a list starts with.
const STAMP_PREFIX: &str = "proxy-audit trusted list";

impl ListStamp {
    /// The trusted comment for the list published as `file_name`.
    pub fn comment(&self, file_name: &str) -> String {
        format!(
            "{STAMP_PREFIX} timestamp:{} sequence:{} file:{file_name}",
            self.created, self.sequence
        )
    }

    /// Reads a trusted comment written by [`ListStamp::comment`]; `None` for any other (a
    /// list signed before lists were stamped, or by another tool).
    pub fn parse(comment: &str) -> Option<Self> {
        let rest = comment.strip_prefix(STAMP_PREFIX)?;
        let fields = rest.split(" file:").next()?;
        let mut created = None;
        let mut sequence = None;
        for field in fields.split_whitespace() {
            if let Some(value) = field.strip_prefix("timestamp:") {
                created = value.parse().ok();
            } else if let Some(value) = field.strip_prefix("sequence:") {
                sequence = value.parse().ok();
            }
        }
        Some(Self {
            created: created?,
            sequence: sequence?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Data standing in for a published list.
    const DATA: &[u8] = b"[[proxy]]\nname = \"x\"\n";

    #[test]
    fn signature_verifies_with_its_key() {
        let (public, secret) = generate_keypair(None).unwrap();
        let signature = sign(DATA, &secret, None, "trusted.toml 2026-12-01").unwrap();
        assert!(
            signature.contains("trusted comment: trusted.toml 2026-12-01"),
            "{signature}"
        );
        assert_eq!(
            verify(DATA, &signature, &public).unwrap(),
            "trusted.toml 2026-12-01"
        );
        // The bare key line (as `minisign -P` takes it) works too.
        let key_line = public.lines().nth(1).unwrap();
        verify(DATA, &signature, key_line).unwrap();
    }

    #[test]
    fn changed_data_fails() {
        let (public, secret) = generate_keypair(None).unwrap();
        let signature = sign(DATA, &secret, None, "c").unwrap();
        for at in [0, DATA.len() / 2, DATA.len() - 1] {
            let mut changed = DATA.to_vec();
            changed[at] ^= 1;
            let err = verify(&changed, &signature, &public).unwrap_err();
            assert!(matches!(err, SignError::Invalid(_)), "{err}");
        }
        let mut longer = DATA.to_vec();
        longer.push(b'\n');
        assert!(verify(&longer, &signature, &public).is_err());
    }

    #[test]
    fn another_key_fails() {
        let (_, secret) = generate_keypair(None).unwrap();
        let (other_public, _) = generate_keypair(None).unwrap();
        let signature = sign(DATA, &secret, None, "c").unwrap();
        let err = verify(DATA, &signature, &other_public).unwrap_err();
        assert!(matches!(err, SignError::Invalid(_)), "{err}");
    }

    #[test]
    fn garbled_signature_fails() {
        let (public, secret) = generate_keypair(None).unwrap();
        let signature = sign(DATA, &secret, None, "published 2026-12-01").unwrap();
        let lines: Vec<&str> = signature.lines().collect();
        // Flip one character of the signature line, then of the global signature line.
        for line in [1, 3] {
            let mut garbled: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
            let text = &mut garbled[line];
            let middle = text.len() / 2;
            let flipped = if text[middle..].starts_with('A') {
                'B'
            } else {
                'A'
            };
            text.replace_range(middle..=middle, &flipped.to_string());
            let garbled = garbled.join("\n") + "\n";
            assert_ne!(garbled, signature);
            assert!(verify(DATA, &garbled, &public).is_err(), "line {line}");
        }
        // A changed trusted comment is caught by the global signature.
        let forged = signature.replace("published 2026-12-01", "published 2099-12-01");
        let err = verify(DATA, &forged, &public).unwrap_err();
        assert!(matches!(err, SignError::Invalid(_)), "{err}");
        // Truncated and empty signatures are malformed.
        let truncated: String = lines[..2].join("\n");
        assert!(matches!(
            verify(DATA, &truncated, &public),
            Err(SignError::Malformed(_))
        ));
        assert!(matches!(
            verify(DATA, "", &public),
            Err(SignError::Malformed(_))
        ));
        assert!(matches!(
            verify(DATA, &signature, "not a key"),
            Err(SignError::PublicKey(_))
        ));
    }

    #[test]
    fn encrypted_keys_need_their_password() {
        let (public, secret) = generate_keypair(Some("correct horse")).unwrap();
        let signature = sign(DATA, &secret, Some("correct horse"), "c").unwrap();
        verify(DATA, &signature, &public).unwrap();
        assert!(matches!(
            sign(DATA, &secret, Some("wrong"), "c"),
            Err(SignError::SecretKey(_))
        ));
        assert!(matches!(
            sign(DATA, &secret, None, "c"),
            Err(SignError::SecretKey(_))
        ));
    }

    /// A secret key as `minisign -G -W` (0.11) writes it: unencrypted, checksum all zeros.
    fn without_checksum(secret: &str) -> String {
        let mut lines: Vec<String> = secret.lines().map(str::to_owned).collect();
        let mut bytes = STANDARD.decode(&lines[1]).unwrap();
        let len = bytes.len();
        bytes[len - 32..].fill(0);
        lines[1] = STANDARD.encode(&bytes);
        lines.join("\n") + "\n"
    }

    #[test]
    fn unencrypted_keys_without_a_checksum_sign() {
        let (public, secret) = generate_keypair(None).unwrap();
        let bare = without_checksum(&secret);
        assert_ne!(bare, secret);
        let signature = sign(DATA, &bare, None, "c").unwrap();
        assert_eq!(verify(DATA, &signature, &public).unwrap(), "c");
        // A password set for every key does not get in the way of an unencrypted one.
        let key = SigningKey::unlock(&bare, Some("ignored")).unwrap();
        assert_eq!(key.public_key().unwrap().trim(), public.trim());
        assert!(!format!("{key:?}").contains(&secret[40..60]), "{key:?}");
        // Without the checksum, a damaged key is still caught: its halves disagree.
        let mut lines: Vec<String> = bare.lines().map(str::to_owned).collect();
        let mut bytes = STANDARD.decode(&lines[1]).unwrap();
        bytes[70] ^= 1; // inside the Ed25519 seed (bytes 62..94)
        lines[1] = STANDARD.encode(&bytes);
        let damaged = lines.join("\n");
        let err = SigningKey::unlock(&damaged, None).unwrap_err();
        assert!(err.to_string().contains("corrupted"), "{err}");
        // With a checksum, a damaged key is refused by it.
        let mut lines: Vec<String> = secret.lines().map(str::to_owned).collect();
        let mut bytes = STANDARD.decode(&lines[1]).unwrap();
        bytes[70] ^= 1;
        lines[1] = STANDARD.encode(&bytes);
        assert!(SigningKey::unlock(&lines.join("\n"), None).is_err());
    }

    #[test]
    fn an_encrypted_key_without_its_password_says_so() {
        let (_, secret) = generate_keypair(Some("pw")).unwrap();
        let err = SigningKey::unlock(&secret, None).unwrap_err();
        assert!(
            err.to_string().contains("PROXY_AUDIT_KEY_PASSWORD"),
            "{err}"
        );
        assert!(SigningKey::unlock("not a key", None).is_err());
        assert!(SigningKey::unlock("comment\nAAAA\n", None).is_err());
    }

    #[test]
    fn list_stamps_round_trip_through_the_trusted_comment() {
        let stamp = ListStamp {
            created: 1_796_000_000,
            sequence: 42,
        };
        let comment = stamp.comment("my list.toml");
        assert_eq!(
            comment,
            "proxy-audit trusted list timestamp:1796000000 sequence:42 file:my list.toml"
        );
        assert_eq!(ListStamp::parse(&comment), Some(stamp));
        // A file name cannot forge the fields: they are read before ` file:`.
        let sneaky = stamp.comment("x sequence:99");
        assert_eq!(ListStamp::parse(&sneaky), Some(stamp));
        for other in [
            "proxy-audit trusted list trusted.toml",
            "timestamp:1796000000 file:trusted.toml",
            "proxy-audit trusted list timestamp:soon sequence:1 file:t",
        ] {
            assert_eq!(ListStamp::parse(other), None, "{other}");
        }
        let (public, secret) = generate_keypair(None).unwrap();
        let key = SigningKey::unlock(&secret, None).unwrap();
        let signature = key.sign(DATA, &comment).unwrap();
        let signed = verify(DATA, &signature, &public).unwrap();
        assert_eq!(ListStamp::parse(&signed), Some(stamp));
    }

    #[test]
    fn multi_line_comments_are_refused() {
        let (_, secret) = generate_keypair(None).unwrap();
        assert!(matches!(
            sign(DATA, &secret, None, "a\nb"),
            Err(SignError::Comment)
        ));
    }
}
