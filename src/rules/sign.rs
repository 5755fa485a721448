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
//! Nothing here prompts: a missing password for an encrypted key is an error, not a
//! question on the terminal.

use std::io::Cursor;

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

/// Signs `data`; returns the `.minisig` file text. `password` must be given exactly when
/// the secret key is encrypted. `trusted_comment` is signed too (a date or version, say)
/// and must be one line.
pub fn sign(
    data: &[u8],
    secret_key_text: &str,
    password: Option<&str>,
    trusted_comment: &str,
) -> Result<String, SignError> {
    if trusted_comment.contains(['\n', '\r']) {
        return Err(SignError::Comment);
    }
    let secret_box = SecretKeyBox::from_string(secret_key_text)
        .map_err(|e| SignError::SecretKey(e.to_string()))?;
    // `from_box` with no password would ask on the terminal; an unencrypted key needs none.
    let secret_key = match password {
        Some(password) => SecretKey::from_box(secret_box, Some(password.to_owned())),
        None => SecretKey::from_unencrypted_box(secret_box),
    }
    .map_err(|e| SignError::SecretKey(e.to_string()))?;
    let signature = minisign::sign(
        None,
        &secret_key,
        Cursor::new(data),
        Some(trusted_comment),
        Some("signature from proxy-audit"),
    )
    .map_err(|e| SignError::Sign(e.to_string()))?;
    Ok(signature.into_string())
}

/// Checks that `signature_text` is a valid signature of `data` (and of its trusted
/// comment) by the key in `public_key_text`. Legacy (non-prehashed) signatures are refused.
pub fn verify(data: &[u8], signature_text: &str, public_key_text: &str) -> Result<(), SignError> {
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
    .map_err(|e| SignError::Invalid(e.to_string()))
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
        verify(DATA, &signature, &public).unwrap();
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

    #[test]
    fn multi_line_comments_are_refused() {
        let (_, secret) = generate_keypair(None).unwrap();
        assert!(matches!(
            sign(DATA, &secret, None, "a\nb"),
            Err(SignError::Comment)
        ));
    }
}
