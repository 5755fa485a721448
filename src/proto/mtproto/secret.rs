//! MTProto proxy secrets: decoding from the forms people share, validation, and rendering.
//!
//! Sits under ingestion (every `secret=` value passes through [`MtprotoSecret::decode`]) and
//! under the MTProto checks later (they need [`MtprotoSecret::key`] and the FakeTLS domain).
//!
//! A secret is 16 key bytes, optionally prefixed by a mode byte and, for FakeTLS, followed by
//! the ASCII domain the connection pretends to reach:
//!
//! | mode  | bytes                          | hex length  |
//! |-------|--------------------------------|-------------|
//! | plain | key (16)                       | 32          |
//! | dd    | `dd` + key (16)                | 34          |
//! | ee    | `ee` + key (16) + domain (1..) | 36 and more |
//!
//! Links carry the bytes as hex (either case) or as base64 / base64url, padded or not.

use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::{Deserialize, Serialize};

/// Length of the key material every secret carries.
pub(crate) const KEY_LEN: usize = 16;

/// Longest domain a FakeTLS secret may carry (the DNS limit for a name).
const MAX_DOMAIN_LEN: usize = 253;

/// Longest textual secret we try to decode; anything longer is rejected before decoding.
const MAX_TEXT_LEN: usize = 2 * (1 + KEY_LEN + MAX_DOMAIN_LEN);

/// How the client must talk to the proxy, chosen by the secret's first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretMode {
    /// 16 bytes, no prefix: classic obfuscated2, easy for DPI to spot by packet lengths.
    Plain,
    /// `dd` prefix: obfuscated2 with the padded-intermediate transport.
    Dd,
    /// `ee` prefix: FakeTLS, the connection imitates TLS 1.3 to a named domain.
    Ee,
}

impl SecretMode {
    /// The lower-case name used in reports (`plain`, `dd`, `ee`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Dd => "dd",
            Self::Ee => "ee",
        }
    }
}

impl fmt::Display for SecretMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Why a textual secret is not a usable MTProto secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Nothing after `secret=`.
    #[error("empty secret")]
    Empty,
    /// Neither hex nor base64.
    #[error("secret is neither hex nor base64")]
    NotEncoded,
    /// Decoded, but the byte count fits no mode.
    #[error("secret has {0} bytes; expected 16 (plain), 17 (dd) or 18+ (ee with a domain)")]
    BadLength(usize),
    /// 17 bytes but not starting with `dd`.
    #[error("17-byte secret must start with dd, found {0:02x}")]
    BadPrefix(u8),
    /// `ee` prefix and key but no domain after them.
    #[error("FakeTLS (ee) secret carries no domain")]
    MissingDomain,
    /// FakeTLS secret whose domain is not a hostname.
    #[error("FakeTLS secret carries an invalid domain {0:?}")]
    BadDomain(String),
}

/// A validated MTProto secret. Construction checks length, prefix and FakeTLS domain, so
/// the accessors cannot fail.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MtprotoSecret {
    /// The secret's bytes as shared: optional mode prefix, 16 key bytes, optional domain.
    bytes: Vec<u8>,
}

impl MtprotoSecret {
    /// Decodes a secret from hex (either case) or base64/base64url (padding optional).
    ///
    /// Hex is tried first because a hex secret is also valid base64 text; base64 is the
    /// fallback when the hex reading is not a valid secret.
    pub fn decode(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(SecretError::Empty);
        }
        if text.len() > MAX_TEXT_LEN {
            return Err(SecretError::BadLength(text.len() / 2));
        }
        let hex_attempt = decode_hex(text).map(Self::from_bytes);
        match hex_attempt {
            Some(Ok(secret)) => Ok(secret),
            Some(Err(hex_error)) => match decode_base64(text).map(Self::from_bytes) {
                Some(Ok(secret)) => Ok(secret),
                // Text that reads as hex was most likely meant as hex: report that reading.
                _ => Err(hex_error),
            },
            None => decode_base64(text).map_or(Err(SecretError::NotEncoded), Self::from_bytes),
        }
    }

    /// Validates raw secret bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, SecretError> {
        match (bytes.len(), bytes.first()) {
            (KEY_LEN, _) | (17, Some(0xdd)) => Ok(Self { bytes }),
            (17, Some(0xee)) => Err(SecretError::MissingDomain),
            (17, Some(&other)) => Err(SecretError::BadPrefix(other)),
            (len, Some(0xee)) if len > 1 + KEY_LEN => {
                let domain = bytes.get(1 + KEY_LEN..).unwrap_or_default();
                if domain.len() <= MAX_DOMAIN_LEN && is_faketls_domain(domain) {
                    Ok(Self { bytes })
                } else {
                    Err(SecretError::BadDomain(
                        String::from_utf8_lossy(domain).chars().take(64).collect(),
                    ))
                }
            }
            (len, _) => Err(SecretError::BadLength(len)),
        }
    }

    /// The mode the secret selects.
    pub fn mode(&self) -> SecretMode {
        match (self.bytes.len(), self.bytes.first()) {
            (KEY_LEN, _) => SecretMode::Plain,
            (_, Some(0xdd)) => SecretMode::Dd,
            _ => SecretMode::Ee,
        }
    }

    /// The 16 bytes of key material (never the prefix or the domain).
    pub fn key(&self) -> [u8; KEY_LEN] {
        let start = usize::from(self.mode() != SecretMode::Plain);
        let mut key = [0u8; KEY_LEN];
        if let Some(src) = self.bytes.get(start..start + KEY_LEN) {
            key.copy_from_slice(src);
        }
        key
    }

    /// The domain a FakeTLS (`ee`) secret imitates.
    pub fn faketls_domain(&self) -> Option<&str> {
        if self.mode() != SecretMode::Ee {
            return None;
        }
        self.bytes
            .get(1 + KEY_LEN..)
            .and_then(|domain| std::str::from_utf8(domain).ok())
    }

    /// The raw bytes, as shared.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Lower-case hex of the whole secret: the normal form used in links and JSON.
    pub fn to_hex(&self) -> String {
        let digit = |nibble: u8| char::from_digit(u32::from(nibble), 16).unwrap_or('0');
        let mut out = String::with_capacity(self.bytes.len() * 2);
        for byte in &self.bytes {
            out.push(digit(byte >> 4));
            out.push(digit(byte & 0x0f));
        }
        out
    }

    /// A form safe for human output: the mode prefix and the last two hex digits of the key,
    /// e.g. `ee12…9f` for FakeTLS, `dd4a…c3`, `3f…c3` for plain.
    pub fn redacted(&self) -> String {
        let hex = self.to_hex();
        let key_hex_start = if self.mode() == SecretMode::Plain {
            0
        } else {
            2
        };
        let key_hex = hex
            .get(key_hex_start..key_hex_start + 2 * KEY_LEN)
            .unwrap_or("");
        let head = hex.get(..key_hex_start + 2).unwrap_or("");
        let tail = key_hex.get(key_hex.len().saturating_sub(2)..).unwrap_or("");
        format!("{head}…{tail}")
    }
}

impl fmt::Debug for MtprotoSecret {
    /// Debug output is redacted too: secrets must not leak through logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MtprotoSecret({})", self.redacted())
    }
}

/// Hex decoding that accepts either case; `None` when the text is not hex at all.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let raw = text.as_bytes();
    if raw.len() % 2 != 0 {
        return None;
    }
    raw.chunks_exact(2)
        .map(|pair| match pair {
            [hi, lo] => Some(nibble(*hi)? << 4 | nibble(*lo)?),
            _ => None,
        })
        .collect()
}

/// Base64 in either alphabet, padding optional; `None` when it does not decode.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    const CONFIG: GeneralPurposeConfig = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, CONFIG);
    const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, CONFIG);
    let uses_url_alphabet = text.contains(['-', '_']);
    let engine = if uses_url_alphabet {
        &URL_SAFE
    } else {
        &STANDARD
    };
    engine.decode(text).ok()
}

/// A FakeTLS domain must be a real DNS hostname: at least two labels, letters, digits and
/// hyphens only, no label empty, longer than 63 or edged with a hyphen, and an alphabetic
/// top-level label (so IP addresses and junk bytes are refused).
pub(crate) fn is_faketls_domain(domain: &[u8]) -> bool {
    let Ok(domain) = std::str::from_utf8(domain) else {
        return false;
    };
    let labels: Vec<&str> = domain.split('.').collect();
    let Some(top) = labels.last() else {
        return false;
    };
    labels.len() >= 2
        && labels.iter().all(|label| is_dns_label(label))
        && top.bytes().all(|b| b.is_ascii_alphabetic())
}

/// One DNS label: 1 to 63 letters, digits or hyphens, not starting or ending with a hyphen.
pub(crate) fn is_dns_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    (1..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        && bytes.first() != Some(&b'-')
        && bytes.last() != Some(&b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    const KEY_HEX: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn decodes_every_shared_form() {
        // (input, normal hex, mode, domain)
        let google_hex = "676f6f676c652e636f6d";
        let ee_hex = format!("ee{KEY_HEX}{google_hex}");
        let cases: Vec<(String, String, SecretMode, Option<&str>)> = vec![
            (KEY_HEX.into(), KEY_HEX.into(), SecretMode::Plain, None),
            (
                KEY_HEX.to_uppercase(),
                KEY_HEX.into(),
                SecretMode::Plain,
                None,
            ),
            (
                format!("dd{KEY_HEX}"),
                format!("dd{KEY_HEX}"),
                SecretMode::Dd,
                None,
            ),
            (
                format!("DD{}", KEY_HEX.to_uppercase()),
                format!("dd{KEY_HEX}"),
                SecretMode::Dd,
                None,
            ),
            (
                ee_hex.clone(),
                ee_hex.clone(),
                SecretMode::Ee,
                Some("google.com"),
            ),
            // base64 (standard, padded) of the plain key bytes
            (
                "ASNFZ4mrze8BI0VniavN7w==".into(),
                KEY_HEX.into(),
                SecretMode::Plain,
                None,
            ),
            // unpadded
            (
                "ASNFZ4mrze8BI0VniavN7w".into(),
                KEY_HEX.into(),
                SecretMode::Plain,
                None,
            ),
            // dd form in base64
            (
                "3QEjRWeJq83vASNFZ4mrze8=".into(),
                format!("dd{KEY_HEX}"),
                SecretMode::Dd,
                None,
            ),
            // ee in base64url without padding: 0xee encodes as '7'
            (
                "7gEjRWeJq83vASNFZ4mrze9nb29nbGUuY29t".into(),
                ee_hex.clone(),
                SecretMode::Ee,
                Some("google.com"),
            ),
        ];
        for (input, hex, mode, domain) in cases {
            let secret = MtprotoSecret::decode(&input)
                .unwrap_or_else(|e| panic!("{input:?} should decode: {e}"));
            assert_eq!(secret.to_hex(), hex, "{input}");
            assert_eq!(secret.mode(), mode, "{input}");
            assert_eq!(secret.faketls_domain(), domain, "{input}");
            assert_eq!(hex_of(&secret.key()), KEY_HEX, "{input}");
        }
    }

    #[test]
    fn base64url_alphabet_is_recognised() {
        // bytes fb ff ... need '-' and '_' in base64url
        let bytes = vec![0xfb_u8; 16];
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes);
        assert!(url.contains('-') || url.contains('_'), "{url}");
        let secret = MtprotoSecret::decode(&url).unwrap();
        assert_eq!(secret.as_bytes(), bytes.as_slice());
    }

    #[test]
    fn rejects_what_is_not_a_secret() {
        let cases: Vec<(String, SecretError)> = vec![
            (String::new(), SecretError::Empty),
            ("zz!!".into(), SecretError::NotEncoded),
            (KEY_HEX[..30].into(), SecretError::BadLength(15)),
            (format!("ab{KEY_HEX}"), SecretError::BadPrefix(0xab)),
            (format!("ee{KEY_HEX}"), SecretError::MissingDomain),
            (
                format!("ee{KEY_HEX}3132372e302e302e31"),
                SecretError::BadDomain("127.0.0.1".into()),
            ),
            (
                format!("ee{KEY_HEX}6c6f63616c686f7374"),
                SecretError::BadDomain("localhost".into()),
            ),
            (
                format!("ee{KEY_HEX}ff00"),
                SecretError::BadDomain("\u{fffd}\0".into()),
            ),
            (
                format!("ee{KEY_HEX}2d612e636f6d"),
                SecretError::BadDomain("-a.com".into()),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(MtprotoSecret::decode(&input), Err(expected), "{input:?}");
        }
    }

    #[test]
    fn redaction_keeps_mode_and_hides_key() {
        let ee = MtprotoSecret::decode(&format!("ee{KEY_HEX}676f6f676c652e636f6d")).unwrap();
        assert_eq!(ee.redacted(), "ee01…ef");
        let plain = MtprotoSecret::decode(KEY_HEX).unwrap();
        assert_eq!(plain.redacted(), "01…ef");
        assert!(!format!("{plain:?}").contains(KEY_HEX));
    }

    fn hex_of(bytes: &[u8]) -> String {
        bytes.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }
}
