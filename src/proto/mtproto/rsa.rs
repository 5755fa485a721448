//! RSA keys for MTProto's auth-key exchange: the public keys a profile trusts, and the
//! private keys of the lab's fake datacenters.
//!
//! A Telegram server names the keys it holds in `resPQ` by fingerprint: the low 64 bits of
//! SHA-1(TL `bytes`(n) ‖ TL `bytes`(e)), with n and e big-endian and without leading zeros,
//! i.e. SHA-1 bytes 12..20 read as a little-endian u64 (core.telegram.org/mtproto/auth_key).
//! The client encrypts `new_nonce` to one of those keys; a correct answer proves the server
//! holds the private half.
//!
//! Keys come as PEM: `RSA PUBLIC KEY` (PKCS#1) or `PUBLIC KEY` (SPKI) for trusted keys,
//! `RSA PRIVATE KEY` (PKCS#1) or `PRIVATE KEY` (PKCS#8) for the lab. Text outside the
//! armour is commentary and is skipped; in a trusted-key file, comment lines before a key may
//! carry `label: NAME`, `test: true` and `fingerprint: 0x…` (the published value, which the
//! loader then checks against the computed one). The `rsa` crate decodes the DER; the
//! MTProto operations themselves are raw RSA (no PKCS#1 padding: RSA_PAD brings its own) done
//! with `num-bigint`.

use std::fmt;

use num_bigint::BigUint;
use rsa::pkcs1::{DecodeRsaPrivateKey as _, DecodeRsaPublicKey as _, EncodeRsaPublicKey as _};
use rsa::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _, LineEnding};
use rsa::traits::{PrivateKeyParts as _, PublicKeyParts as _};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha1::{Digest as _, Sha1};

use super::factor::pow_mod;
use super::tl::Writer;

/// Size in bytes of the modulus MTProto's RSA_PAD works with (2048-bit keys).
pub(crate) const MODULUS_LEN: usize = 256;

/// Public exponents up to this many bits are applied by square-and-multiply.
const SHORT_EXPONENT_BITS: u64 = 64;

/// Telegram's published public keys (production and test), with their sources.
pub(crate) const TELEGRAM_KEYS_PEM: &str =
    include_str!("../../../rules/profiles/telegram-keys.pem");

/// Why a key could not be loaded or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// A `-----BEGIN …-----` line without its `-----END …-----`.
    #[error("PEM block {0:?} is not terminated")]
    Unterminated(String),
    /// A PEM block of a type this loader does not read.
    #[error("unsupported PEM block {0:?}")]
    Unsupported(String),
    /// The DER inside a PEM block did not decode as an RSA key.
    #[error("cannot read the RSA key {label}: {message}")]
    Parse {
        /// The key's label.
        label: String,
        /// The decoder's message.
        message: String,
    },
    /// The fingerprint stated in the file's comments is not the one computed from the key.
    #[error("key {label}: stated fingerprint {stated:#018x}, computed {computed:#018x}")]
    FingerprintMismatch {
        /// The key's label.
        label: String,
        /// The fingerprint the comment states.
        stated: u64,
        /// The fingerprint of the key itself.
        computed: u64,
    },
    /// A `fingerprint:` comment that is not a hexadecimal u64.
    #[error("key {0}: unreadable fingerprint comment")]
    BadFingerprintComment(String),
    /// The text holds no key of the expected kind.
    #[error("no RSA key found")]
    NoKeys,
    /// The key is not a 2048-bit key, which MTProto's RSA_PAD needs.
    #[error("key {label} has a {bits}-bit modulus; MTProto needs 2048 bits")]
    KeySize {
        /// The key's label.
        label: String,
        /// The modulus size.
        bits: u64,
    },
}

impl KeyError {
    /// [`KeyError::Parse`] for the key `label`.
    fn parse(label: &str, message: impl fmt::Display) -> Self {
        Self::Parse {
            label: label.to_owned(),
            message: message.to_string(),
        }
    }
}

/// A public key the profile trusts to prove "this is Telegram".
#[derive(Clone, PartialEq, Eq)]
pub struct TrustedKey {
    /// The MTProto fingerprint (low 64 bits of SHA-1 of the TL-serialised n and e).
    pub fingerprint: u64,
    /// The modulus.
    pub n: BigUint,
    /// The public exponent.
    pub e: BigUint,
    /// Where the key comes from (`telegram:telegram-production`, `lab:lab-dc`, …).
    pub label: String,
    /// True for keys of Telegram's test servers (or the lab), not production.
    pub test: bool,
}

impl fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedKey")
            .field("fingerprint", &format_args!("{:#018x}", self.fingerprint))
            .field("bits", &self.n.bits())
            .field("label", &self.label)
            .field("test", &self.test)
            .finish_non_exhaustive()
    }
}

impl TrustedKey {
    /// A key from its modulus and exponent; the fingerprint is computed.
    pub fn new(n: BigUint, e: BigUint, label: impl Into<String>, test: bool) -> Self {
        Self {
            fingerprint: fingerprint(&n, &e),
            n,
            e,
            label: label.into(),
            test,
        }
    }

    /// Raw RSA, `m^e mod n`, as `MODULUS_LEN` big-endian bytes. `message` is a big-endian
    /// number; the caller keeps it below `n` (RSA_PAD retries otherwise).
    pub fn raw_encrypt(&self, message: &[u8]) -> Result<[u8; MODULUS_LEN], KeyError> {
        self.check_size()?;
        let base = BigUint::from_bytes_be(message);
        // For a short exponent (every published key's is 65537: 16 squarings and one
        // product), plain square-and-multiply with remainders takes about a third of the time
        // of `modpow`, whose Montgomery set-up and window table pay off only for long ones.
        let power = if self.e.bits() <= SHORT_EXPONENT_BITS {
            let base = base % &self.n;
            (0..self.e.bits())
                .rev()
                .fold(BigUint::from(1_u8), |power, bit| {
                    let squared = &power * &power % &self.n;
                    if self.e.bit(bit) {
                        squared * &base % &self.n
                    } else {
                        squared
                    }
                })
        } else {
            base.modpow(&self.e, &self.n)
        };
        Ok(to_fixed(&power))
    }

    /// Fails unless the modulus is exactly 2048 bits.
    pub(crate) fn check_size(&self) -> Result<(), KeyError> {
        if self.n.bits() == 8 * MODULUS_LEN as u64 {
            Ok(())
        } else {
            Err(KeyError::KeySize {
                label: self.label.clone(),
                bits: self.n.bits(),
            })
        }
    }

    /// True when the big-endian number `value` is below the modulus.
    pub(crate) fn below_modulus(&self, value: &[u8]) -> bool {
        BigUint::from_bytes_be(value) < self.n
    }
}

/// The keys a profile trusts, looked up by fingerprint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedKeys {
    /// The keys, in file order.
    keys: Vec<TrustedKey>,
}

impl TrustedKeys {
    /// A set of keys.
    pub fn new(keys: Vec<TrustedKey>) -> Self {
        Self { keys }
    }

    /// Telegram's published keys (`TELEGRAM_KEYS_PEM`), production and test.
    pub fn telegram() -> Result<Self, KeyError> {
        load_pem(TELEGRAM_KEYS_PEM, "telegram").map(Self::new)
    }

    /// Adds a key (a later duplicate fingerprint never shadows an earlier key).
    pub fn push(&mut self, key: TrustedKey) {
        self.keys.push(key);
    }

    /// The key with this fingerprint.
    pub fn get(&self, fingerprint: u64) -> Option<&TrustedKey> {
        self.keys.iter().find(|key| key.fingerprint == fingerprint)
    }

    /// The first of `offered` (in the server's order) that is trusted.
    pub(crate) fn first_trusted(&self, offered: &[u64]) -> Option<&TrustedKey> {
        offered
            .iter()
            .find_map(|&fingerprint| self.get(fingerprint))
    }

    /// The keys, in order.
    pub fn iter(&self) -> impl Iterator<Item = &TrustedKey> {
        self.keys.iter()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The MTProto fingerprint of a public key `(n, e)`.
pub(crate) fn fingerprint(n: &BigUint, e: &BigUint) -> u64 {
    let serialised = Writer::new()
        .bytes(&n.to_bytes_be())
        .bytes(&e.to_bytes_be())
        .finish();
    let digest = Sha1::digest(&serialised);
    let mut low = [0; 8];
    low.copy_from_slice(digest.get(12..20).unwrap_or(&[0; 8]));
    u64::from_le_bytes(low)
}

/// Loads every public key in `text` (PKCS#1 `RSA PUBLIC KEY` or SPKI `PUBLIC KEY` blocks;
/// anything outside the armour is skipped). Each key is labelled `{label_prefix}:{name}`,
/// with the name from a `label:` comment before it or else its position (1, 2, …); a
/// `test: true` comment marks a test key; a `fingerprint:` comment must match the key.
pub fn load_pem(text: &str, label_prefix: &str) -> Result<Vec<TrustedKey>, KeyError> {
    let mut keys = Vec::new();
    for (index, block) in pem_blocks(text)?.into_iter().enumerate() {
        let name = block
            .directive("label")
            .map_or_else(|| (index + 1).to_string(), str::to_owned);
        let label = format!("{label_prefix}:{name}");
        let public = match block.kind {
            "RSA PUBLIC KEY" => {
                RsaPublicKey::from_pkcs1_pem(block.armour).map_err(|e| KeyError::parse(&label, e))
            }
            "PUBLIC KEY" => RsaPublicKey::from_public_key_pem(block.armour)
                .map_err(|e| KeyError::parse(&label, e)),
            other => return Err(KeyError::Unsupported(other.to_owned())),
        }?;
        let is_test = block.directive("test") == Some("true");
        let key = TrustedKey::new(to_num(public.n()), to_num(public.e()), label, is_test);
        if let Some(stated) = block.directive("fingerprint") {
            let stated = u64::from_str_radix(stated.trim_start_matches("0x"), 16)
                .map_err(|_| KeyError::BadFingerprintComment(key.label.clone()))?;
            if stated != key.fingerprint {
                return Err(KeyError::FingerprintMismatch {
                    label: key.label,
                    stated,
                    computed: key.fingerprint,
                });
            }
        }
        keys.push(key);
    }
    if keys.is_empty() {
        return Err(KeyError::NoKeys);
    }
    Ok(keys)
}

/// A datacenter's private key (lab only): answers `req_DH_params` like a Telegram server.
///
/// Two-prime keys come from PEM (`DcPrivateKey::from_pem`); multi-prime keys (RFC 8017
/// §3.2), which the `rsa` crate does not decode, from a list of primes
/// (`DcPrivateKey::from_primes`). Decryption is the CRT either way, one exponentiation per
/// prime; primes of one machine word are exponentiated with u64 Montgomery products, so the
/// lab's 32 primes of 64 bits decrypt some forty times faster than two 1024-bit ones.
#[derive(Clone)]
pub struct DcPrivateKey {
    /// The public half, as clients trust it.
    public: TrustedKey,
    /// The decoded key, for exporting the public PEM.
    rsa: RsaPublicKey,
    /// The primes with their CRT values, in the order Garner's recombination takes them.
    primes: Vec<CrtPrime>,
}

/// One prime `r` of a private key, with what decryption needs of it.
#[derive(Clone)]
struct CrtPrime {
    /// The prime.
    r: BigUint,
    /// `d mod (r − 1)`.
    exponent: BigUint,
    /// `r` and the exponent as machine words, when both fit: the exponentiation then runs
    /// on u64 Montgomery products instead of allocating big numbers.
    word: Option<(u64, u64)>,
    /// The product of the primes before this one (1 for the first).
    before: BigUint,
    /// `before⁻¹ mod r`.
    coefficient: BigUint,
}

impl fmt::Debug for DcPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DcPrivateKey")
            .field("public", &self.public)
            .field("primes", &self.primes.len())
            .finish_non_exhaustive()
    }
}

impl DcPrivateKey {
    /// Reads the first `RSA PRIVATE KEY` (PKCS#1) or `PRIVATE KEY` (PKCS#8) block in `text`,
    /// skipping text outside the armour. The key must be a 2048-bit key; the `rsa` crate
    /// decodes two-prime keys only.
    pub(crate) fn from_pem(text: &str, label: &str) -> Result<Self, KeyError> {
        let key = pem_blocks(text)?
            .into_iter()
            .find_map(|block| match block.kind {
                "RSA PRIVATE KEY" => Some(
                    RsaPrivateKey::from_pkcs1_pem(block.armour)
                        .map_err(|e| KeyError::parse(label, e)),
                ),
                "PRIVATE KEY" => Some(
                    RsaPrivateKey::from_pkcs8_pem(block.armour)
                        .map_err(|e| KeyError::parse(label, e)),
                ),
                _ => None,
            })
            .ok_or(KeyError::NoKeys)??;
        let d = to_num(key.d());
        let primes = key.primes().iter().map(to_num);
        let exponents = primes.map(|r| {
            let exponent = &d % (&r - 1_u8);
            (r, exponent)
        });
        Self::with_primes(exponents.collect(), to_num(key.e()), label)
    }

    /// A key from its primes: lines of hexadecimal numbers, `#` comment lines and blank
    /// lines skipped; e = 65537. The product must be 2048 bits and every `r − 1` coprime
    /// with e. The primes are taken on trust: a composite one shows as wrong decryptions.
    pub(crate) fn from_primes(text: &str, label: &str) -> Result<Self, KeyError> {
        let e = BigUint::from(65_537_u32);
        let mut primes = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let r = BigUint::parse_bytes(line.as_bytes(), 16)
                .filter(|r| r.bits() > 1 && r.bit(0))
                .ok_or_else(|| {
                    KeyError::parse(label, format_args!("line {}: not an odd prime", index + 1))
                })?;
            let exponent = e.modinv(&(&r - 1_u8)).ok_or_else(|| {
                let message = format_args!("line {}: r − 1 shares a factor with e", index + 1);
                KeyError::parse(label, message)
            })?;
            primes.push((r, exponent));
        }
        if primes.len() < 2 {
            return Err(KeyError::NoKeys);
        }
        Self::with_primes(primes, e, label)
    }

    /// The key from its primes, each with `d mod (r − 1)`, and its public exponent.
    fn with_primes(
        primes: Vec<(BigUint, BigUint)>,
        e: BigUint,
        label: &str,
    ) -> Result<Self, KeyError> {
        let mut crt = Vec::with_capacity(primes.len());
        let mut before = BigUint::from(1_u8);
        for (r, exponent) in primes {
            let coefficient = (&before % &r)
                .modinv(&r)
                .ok_or_else(|| KeyError::parse(label, "the primes are not distinct"))?;
            let next = &before * &r;
            crt.push(CrtPrime {
                word: u64::try_from(&r).ok().zip(u64::try_from(&exponent).ok()),
                r,
                exponent,
                before,
                coefficient,
            });
            before = next;
        }
        let public = TrustedKey::new(before, e, label, true);
        public.check_size()?;
        let rsa = RsaPublicKey::new(from_num(&public.n), from_num(&public.e))
            .map_err(|error| KeyError::parse(label, error))?;
        Ok(Self {
            public,
            rsa,
            primes: crt,
        })
    }

    /// The public half, as a client trusts it.
    pub fn public(&self) -> &TrustedKey {
        &self.public
    }

    /// The MTProto fingerprint of the public half.
    pub(crate) fn fingerprint(&self) -> u64 {
        self.public.fingerprint
    }

    /// The public half as PEM (`-----BEGIN RSA PUBLIC KEY-----`, PKCS#1), for a profile.
    pub(crate) fn public_pem(&self) -> Result<String, KeyError> {
        self.rsa
            .to_pkcs1_pem(LineEnding::LF)
            .map_err(|e| KeyError::parse(&self.public.label, e))
    }

    /// Raw RSA decryption, `c^d mod n`, as `MODULUS_LEN` big-endian bytes: `c^d mod r`
    /// for each prime, recombined by Garner's method (RFC 8017 §5.1.2).
    pub fn raw_decrypt(&self, ciphertext: &[u8]) -> [u8; MODULUS_LEN] {
        let c = BigUint::from_bytes_be(ciphertext) % &self.public.n;
        let m = self.primes.iter().fold(BigUint::ZERO, |m, prime| {
            let part = match prime.word {
                Some((r, exponent)) => {
                    let residue = u64::try_from(&c % r).unwrap_or(0);
                    BigUint::from(pow_mod(residue, exponent, r))
                }
                None => c.modpow(&prime.exponent, &prime.r),
            };
            // h = (part − m) · before⁻¹ mod r, computed without going negative; then
            // m + before · h is m mod every earlier prime and part mod this one.
            let difference = part + &prime.r - (&m % &prime.r);
            let h = (difference * &prime.coefficient) % &prime.r;
            m + h * &prime.before
        });
        to_fixed(&m)
    }
}

/// One PEM block found in a text, with the comment text before it.
#[derive(Debug, Clone, Copy)]
struct PemBlock<'a> {
    /// The type after `BEGIN` (`RSA PUBLIC KEY`, …).
    kind: &'a str,
    /// The block from `-----BEGIN` to the end of its `-----END …-----` line.
    armour: &'a str,
    /// The text between the previous block (or the start) and this one.
    preamble: &'a str,
}

impl<'a> PemBlock<'a> {
    /// The value of a `name: value` comment line in the preamble (the last one wins).
    fn directive(&self, name: &str) -> Option<&'a str> {
        self.preamble
            .lines()
            .filter_map(|line| {
                let line = line.trim().trim_start_matches('#').trim();
                let (key, value) = line.split_once(':')?;
                (key.trim() == name).then(|| value.trim())
            })
            .next_back()
    }
}

/// Splits `text` into PEM blocks, skipping everything outside the armour.
fn pem_blocks(text: &str) -> Result<Vec<PemBlock<'_>>, KeyError> {
    const BEGIN: &str = "-----BEGIN ";
    const DASHES: &str = "-----";
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let (preamble, from_begin) = rest.split_at(start);
        let after_begin = from_begin.get(BEGIN.len()..).unwrap_or_default();
        let Some(kind_len) = after_begin.find(DASHES) else {
            return Err(KeyError::Unterminated(String::new()));
        };
        let kind = after_begin.get(..kind_len).unwrap_or_default();
        let end_line = format!("-----END {kind}-----");
        let Some(end) = from_begin.find(&end_line) else {
            return Err(KeyError::Unterminated(kind.to_owned()));
        };
        let (armour, after) = from_begin.split_at(end + end_line.len());
        blocks.push(PemBlock {
            kind,
            armour,
            preamble,
        });
        rest = after;
    }
    Ok(blocks)
}

/// Converts the `rsa` crate's big integer to `num-bigint`'s.
fn to_num(value: &rsa::BigUint) -> BigUint {
    BigUint::from_bytes_be(&value.to_bytes_be())
}

/// A `num-bigint` number as the `rsa` crate's.
fn from_num(value: &BigUint) -> rsa::BigUint {
    rsa::BigUint::from_bytes_be(&value.to_bytes_be())
}

/// A number below 2^2048 as exactly [`MODULUS_LEN`] big-endian bytes (left-padded).
fn to_fixed(value: &BigUint) -> [u8; MODULUS_LEN] {
    let bytes = value.to_bytes_be();
    let mut out = [0; MODULUS_LEN];
    let skip = bytes.len().saturating_sub(MODULUS_LEN);
    let tail = bytes.get(skip..).unwrap_or_default();
    if let Some(dest) = out.get_mut(MODULUS_LEN - tail.len()..) {
        dest.copy_from_slice(tail);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Published fingerprints: Telegram Android `tgnet/Handshake.cpp` pins both next to the
    /// keys; core.telegram.org/mtproto/samples-auth_key shows the production one in resPQ.
    /// Recomputed independently by `tests/vectors/auth_fingerprints.py`.
    const PUBLISHED: [(&str, u64, bool); 2] = [
        ("telegram:telegram-production", 0xd09d_1d85_de64_fd85, false),
        ("telegram:telegram-test", 0xb258_98df_208d_2603, true),
    ];

    /// The lab datacenter's multi-prime key (32 primes of 64 bits), read from the lab's key
    /// file as test data: the tests below need a key with many word-sized primes.
    const LAB_DC_PRIMES: &str = include_str!("../../lab/keys/lab-dc.primes");

    /// The key of [`LAB_DC_PRIMES`], as the lab loads it.
    fn multi_prime_key() -> DcPrivateKey {
        DcPrivateKey::from_primes(LAB_DC_PRIMES, "lab:lab-dc").unwrap()
    }

    #[test]
    fn telegram_keys_match_their_published_fingerprints() {
        let keys = TrustedKeys::telegram().unwrap();
        assert_eq!(keys.len(), PUBLISHED.len());
        for ((label, fingerprint, test), key) in PUBLISHED.into_iter().zip(keys.iter()) {
            assert_eq!(key.label, label);
            assert_eq!(key.fingerprint, fingerprint, "{label}");
            assert_eq!(key.test, test, "{label}");
            assert_eq!(key.n.bits(), 2048);
            assert_eq!(key.e, BigUint::from(65_537_u32));
        }
        let production = keys.get(0xd09d_1d85_de64_fd85).unwrap();
        assert!(!production.test);
        assert_eq!(
            keys.first_trusted(&[1, 0xb258_98df_208d_2603, 0xd09d_1d85_de64_fd85])
                .map(|key| key.label.as_str()),
            Some("telegram:telegram-test")
        );
        assert!(keys.first_trusted(&[1, 2]).is_none());
    }

    #[test]
    fn encryption_agrees_with_modpow_for_short_and_long_exponents() {
        let n = multi_prime_key().public().n.clone();
        let messages = [
            BigUint::ZERO,
            BigUint::from(2_u8),
            BigUint::from_bytes_be(&[0xa7; MODULUS_LEN - 1]),
            &n - 1_u8,
        ];
        let long = (BigUint::from(1_u8) << 100_u32) + 277_u32;
        for e in [BigUint::from(3_u8), BigUint::from(65_537_u32), long] {
            let key = TrustedKey::new(n.clone(), e.clone(), "t", true);
            for message in &messages {
                let encrypted = key.raw_encrypt(&to_fixed(message)).unwrap();
                assert_eq!(
                    BigUint::from_bytes_be(&encrypted),
                    message.modpow(&e, &n),
                    "e = {e}"
                );
            }
        }
    }

    #[test]
    fn multi_prime_keys_decrypt_every_residue_and_refuse_bad_primes() {
        let lab = multi_prime_key();
        assert_eq!(lab.primes.len(), 32);
        assert!(lab.primes.iter().all(|prime| prime.word.is_some()));
        // Messages at the edges of each prime's residues: 0, 1, a prime itself, n − 1.
        let n = &lab.public().n;
        let edges = [
            BigUint::ZERO,
            BigUint::from(1_u8),
            lab.primes[3].r.clone(),
            n - 1_u8,
        ];
        for message in edges {
            let encrypted = lab.public().raw_encrypt(&to_fixed(&message)).unwrap();
            assert_eq!(
                BigUint::from_bytes_be(&lab.raw_decrypt(&encrypted)),
                message
            );
        }
        let primes: Vec<&str> = LAB_DC_PRIMES
            .lines()
            .filter(|line| !line.starts_with('#'))
            .collect();
        let parse = |lines: &[&str]| DcPrivateKey::from_primes(&lines.join("\n"), "t");
        let bad = |lines: &[&str]| matches!(parse(lines), Err(KeyError::Parse { .. }));
        assert!(parse(&primes).is_ok());
        // Too few primes for 2048 bits; one twice; an even number; not hexadecimal;
        // r − 1 a multiple of 65537 (65537 · 2 + 1 = 131075 is odd but shares the factor).
        assert!(matches!(parse(&primes[..7]), Err(KeyError::KeySize { .. })));
        assert!(bad(&[primes[0], primes[0], primes[1], primes[2]]));
        assert!(bad(&[&primes[..7], &["10"]].concat()));
        assert!(bad(&[&primes[..7], &["xyz"]].concat()));
        assert!(bad(&[&primes[..7], &["20003"]].concat()));
        assert_eq!(parse(&["# only a comment"]).unwrap_err(), KeyError::NoKeys);
    }

    #[test]
    fn loader_rejects_bad_files() {
        assert_eq!(load_pem("no keys here", "x"), Err(KeyError::NoKeys));
        assert_eq!(
            load_pem("-----BEGIN RSA PUBLIC KEY-----\nAAAA\n", "x"),
            Err(KeyError::Unterminated("RSA PUBLIC KEY".to_owned()))
        );
        assert!(matches!(
            load_pem(
                "-----BEGIN RSA PUBLIC KEY-----\n!!!!\n-----END RSA PUBLIC KEY-----",
                "x"
            ),
            Err(KeyError::Parse { .. })
        ));
        assert_eq!(
            load_pem(
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
                "x"
            ),
            Err(KeyError::Unsupported("CERTIFICATE".to_owned()))
        );
        let lying = TELEGRAM_KEYS_PEM.replace("0xd09d1d85de64fd85", "0xd09d1d85de64fd86");
        assert!(matches!(
            load_pem(&lying, "telegram"),
            Err(KeyError::FingerprintMismatch {
                stated: 0xd09d_1d85_de64_fd86,
                ..
            })
        ));
        assert_eq!(
            DcPrivateKey::from_pem(TELEGRAM_KEYS_PEM, "x").map(|key| key.fingerprint()),
            Err(KeyError::NoKeys)
        );
    }
}
