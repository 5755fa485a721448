//! The ciphers of the auth-key exchange: the tmp AES key and IV both sides derive from the
//! nonces, AES-256-IGE, RSA_PAD (how the client encrypts `p_q_inner_data_dc` to a server's
//! RSA key, and how a key holder undoes it), and reading and factoring `pq`, the exchange's
//! proof of work. Pure functions; the client (`client.rs`) and the lab's fake datacenter
//! call them.
//!
//! AES-256-IGE is implemented here over the `aes` crate's block cipher: IGE is not among the
//! RustCrypto block modes (its `ige` crate is not a dependency and is unmaintained), and the
//! mode is a dozen lines. It is tested against vectors from an independent implementation
//! (`tests/vectors/auth_vectors.py`, itself checked against OpenSSL's published IGE vector).

use aes::Aes256;
use aes::cipher::{BlockDecrypt as _, BlockEncrypt as _, KeyInit as _};
use rand::RngCore;
use sha1::{Digest as _, Sha1};
use sha2::Sha256;

use super::{AuthError, Int128, Int256};
use crate::proto::mtproto::factor;
use crate::proto::mtproto::rsa::{DcPrivateKey, MODULUS_LEN, TrustedKey};

/// Longest data RSA_PAD encrypts (the rest of its 192 bytes is random padding).
pub const RSA_PAD_DATA_MAX: usize = 144;
/// Size of RSA_PAD's padded data.
const RSA_PAD_PADDED: usize = 192;
/// How many temp_keys RSA_PAD tries before giving up (each fails with p < 1/2 for a 2048-bit
/// modulus, so this is never reached in practice).
const RSA_PAD_TRIES: usize = 64;
/// AES block size (the server pads its DH answer to it before encrypting).
pub(crate) const AES_BLOCK: usize = 16;

/// The tmp AES key and IV both sides derive after RSA: key = SHA-1(new_nonce ‖ server_nonce)
/// ‖ SHA-1(server_nonce ‖ new_nonce)[0..12]; iv = SHA-1(server_nonce ‖ new_nonce)[12..20] ‖
/// SHA-1(new_nonce ‖ new_nonce) ‖ new_nonce[0..4].
pub fn tmp_aes_key_iv(new_nonce: &Int256, server_nonce: &Int128) -> ([u8; 32], [u8; 32]) {
    let new_server = Sha1::new()
        .chain_update(new_nonce)
        .chain_update(server_nonce)
        .finalize();
    let server_new = Sha1::new()
        .chain_update(server_nonce)
        .chain_update(new_nonce)
        .finalize();
    let new_new = Sha1::new()
        .chain_update(new_nonce)
        .chain_update(new_nonce)
        .finalize();
    let key = collect_array(new_server.iter().chain(server_new.iter().take(12)));
    let iv = collect_array(
        server_new
            .iter()
            .skip(12)
            .chain(new_new.iter())
            .chain(new_nonce.iter().take(4)),
    );
    (key, iv)
}

/// Fills an array from an iterator (zeros if it runs short; callers pass exact lengths).
pub(super) fn collect_array<'a, const N: usize>(bytes: impl Iterator<Item = &'a u8>) -> [u8; N] {
    let mut out = [0; N];
    for (slot, byte) in out.iter_mut().zip(bytes) {
        *slot = *byte;
    }
    out
}

/// XOR of two blocks.
fn xor_block(a: &[u8; AES_BLOCK], b: &[u8; AES_BLOCK]) -> [u8; AES_BLOCK] {
    let mut out = [0; AES_BLOCK];
    for ((slot, x), y) in out.iter_mut().zip(a).zip(b) {
        *slot = x ^ y;
    }
    out
}

/// The two chaining blocks of an IGE IV: the "previous ciphertext" (first half) and the
/// "previous plaintext" (second half), as in OpenSSL's `AES_ige_encrypt` and MTProto.
fn ige_iv(iv: &[u8; 32]) -> ([u8; AES_BLOCK], [u8; AES_BLOCK]) {
    (
        collect_array(iv.iter().take(AES_BLOCK)),
        collect_array(iv.iter().skip(AES_BLOCK)),
    )
}

/// AES-256-IGE encryption: `c_i = E(p_i ⊕ c_{i−1}) ⊕ p_{i−1}`. `data` must be a whole
/// number of 16-byte blocks.
pub fn ige_encrypt(data: &[u8], key: &[u8; 32], iv: &[u8; 32]) -> Result<Vec<u8>, AuthError> {
    if data.len() % AES_BLOCK != 0 {
        return Err(AuthError::CiphertextLength(data.len()));
    }
    let cipher = Aes256::new(key.into());
    let (mut prev_cipher, mut prev_plain) = ige_iv(iv);
    let mut out = Vec::with_capacity(data.len());
    for chunk in data.chunks_exact(AES_BLOCK) {
        let plain: [u8; AES_BLOCK] = collect_array(chunk.iter());
        let mut block = xor_block(&plain, &prev_cipher).into();
        cipher.encrypt_block(&mut block);
        let encrypted = xor_block(&block.into(), &prev_plain);
        out.extend_from_slice(&encrypted);
        (prev_cipher, prev_plain) = (encrypted, plain);
    }
    Ok(out)
}

/// AES-256-IGE decryption: `p_i = D(c_i ⊕ p_{i−1}) ⊕ c_{i−1}`. `data` must be a whole
/// number of 16-byte blocks.
pub fn ige_decrypt(data: &[u8], key: &[u8; 32], iv: &[u8; 32]) -> Result<Vec<u8>, AuthError> {
    if data.len() % AES_BLOCK != 0 {
        return Err(AuthError::CiphertextLength(data.len()));
    }
    let cipher = Aes256::new(key.into());
    let (mut prev_cipher, mut prev_plain) = ige_iv(iv);
    let mut out = Vec::with_capacity(data.len());
    for chunk in data.chunks_exact(AES_BLOCK) {
        let encrypted: [u8; AES_BLOCK] = collect_array(chunk.iter());
        let mut block = xor_block(&encrypted, &prev_plain).into();
        cipher.decrypt_block(&mut block);
        let plain = xor_block(&block.into(), &prev_cipher);
        out.extend_from_slice(&plain);
        (prev_cipher, prev_plain) = (encrypted, plain);
    }
    Ok(out)
}

/// RSA_PAD: encrypts up to [`RSA_PAD_DATA_MAX`] bytes to `key`, with random padding and
/// temp_keys from `rng` (a new temp_key while the value is not below the modulus).
pub fn rsa_pad_encrypt(
    data: &[u8],
    key: &TrustedKey,
    rng: &mut impl RngCore,
) -> Result<[u8; MODULUS_LEN], AuthError> {
    let mut padding = vec![0; RSA_PAD_PADDED.saturating_sub(data.len())];
    rng.fill_bytes(&mut padding);
    for _ in 0..RSA_PAD_TRIES {
        let mut temp_key = [0; 32];
        rng.fill_bytes(&mut temp_key);
        if let Some(encrypted) = rsa_pad_encrypt_with(data, key, &padding, &temp_key)? {
            return Ok(encrypted);
        }
    }
    Err(AuthError::RsaPadRetries)
}

/// RSA_PAD with its randomness given: `padding` fills `data` up to 192 bytes. `Ok(None)`
/// when `temp_key_xor ‖ aes_encrypted` is not below the modulus (try another temp_key).
///
/// data_with_hash = reverse(data ‖ padding) ‖ SHA-256(temp_key ‖ data ‖ padding);
/// aes_encrypted = AES-256-IGE(data_with_hash, temp_key, zero IV);
/// temp_key_xor = temp_key ⊕ SHA-256(aes_encrypted); result = (temp_key_xor ‖
/// aes_encrypted)^e mod n.
pub fn rsa_pad_encrypt_with(
    data: &[u8],
    key: &TrustedKey,
    padding: &[u8],
    temp_key: &[u8; 32],
) -> Result<Option<[u8; MODULUS_LEN]>, AuthError> {
    key.check_size()?;
    if data.len() > RSA_PAD_DATA_MAX || data.len() + padding.len() != RSA_PAD_PADDED {
        return Err(AuthError::RsaPadInput(data.len()));
    }
    let padded: Vec<u8> = data.iter().chain(padding).copied().collect();
    let hash = Sha256::new()
        .chain_update(temp_key)
        .chain_update(&padded)
        .finalize();
    let data_with_hash: Vec<u8> = padded.iter().rev().chain(hash.iter()).copied().collect();
    let aes_encrypted = ige_encrypt(&data_with_hash, temp_key, &[0; 32])?;
    let aes_hash = Sha256::digest(&aes_encrypted);
    let key_aes_encrypted: Vec<u8> = temp_key
        .iter()
        .zip(aes_hash.iter())
        .map(|(a, b)| a ^ b)
        .chain(aes_encrypted)
        .collect();
    if !key.below_modulus(&key_aes_encrypted) {
        return Ok(None);
    }
    Ok(Some(key.raw_encrypt(&key_aes_encrypted)?))
}

/// Undoes RSA_PAD with the private key: raw RSA, then temp_key, IGE and the hash check.
/// Returns the 192 padded bytes (the data is a prefix; its own encoding tells its length).
pub fn rsa_pad_decrypt(encrypted: &[u8], key: &DcPrivateKey) -> Result<Vec<u8>, AuthError> {
    if encrypted.len() != MODULUS_LEN {
        return Err(AuthError::CiphertextLength(encrypted.len()));
    }
    let decrypted = key.raw_decrypt(encrypted);
    let (temp_key_xor, aes_encrypted) = decrypted.split_at(32);
    let aes_hash = Sha256::digest(aes_encrypted);
    let mut temp_key = [0; 32];
    for ((slot, masked), mask) in temp_key.iter_mut().zip(temp_key_xor).zip(aes_hash.iter()) {
        *slot = masked ^ mask;
    }
    let data_with_hash = ige_decrypt(aes_encrypted, &temp_key, &[0; 32])?;
    let (reversed, hash) = data_with_hash
        .split_at_checked(RSA_PAD_PADDED)
        .ok_or(AuthError::CiphertextLength(encrypted.len()))?;
    let padded: Vec<u8> = reversed.iter().rev().copied().collect();
    let expected = Sha256::new()
        .chain_update(temp_key)
        .chain_update(&padded)
        .finalize();
    if expected.as_slice() != hash {
        return Err(AuthError::RsaPadHash);
    }
    Ok(padded)
}

/// Reads `pq` (big-endian, at most 8 significant bytes).
pub fn pq_from_bytes(pq: &[u8]) -> Result<u64, AuthError> {
    let significant = pq
        .iter()
        .position(|&byte| byte != 0)
        .and_then(|start| pq.get(start..))
        .unwrap_or_default();
    if significant.len() > 8 {
        return Err(AuthError::PqTooLarge(pq.len()));
    }
    Ok(significant
        .iter()
        .fold(0, |value, &byte| value << 8 | u64::from(byte)))
}

/// Splits `pq` into primes `p < q` ([`factor::split`]); anything that is not a
/// product of two distinct primes is refused.
pub fn factorize(pq: u64) -> Result<(u64, u64), AuthError> {
    factor::split(pq).ok_or(AuthError::NotSemiprime(pq))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::mtproto::auth::vectors::{
        PQ_INNER_DATA_HEX, RSA_PAD_PRODUCTION_HEX, SERVER_NONCE, new_nonce,
    };
    use crate::proto::mtproto::rsa::TrustedKeys;
    use crate::proto::mtproto::tl::testing::hex;

    // Printed by `python3 tests/vectors/auth_vectors.py` (independent of this code).
    // AES-256-IGE: key 00..1f, iv 20..3f, plaintext 40..7f
    const IGE_CIPHERTEXT_HEX: &str = concat!(
        "b6b23cb46d2f43de2c67fc9a3a9e35104fad6ed15177969c1cebc616bcfa482cb220e4d159bedfd570df191a805e9d9d",
        "13b6d62f0ea1e40541bd31ebe72f51c6",
    );
    // tmp_aes from nonce a0..af, server_nonce b0..bf, new_nonce c0..df
    const TMP_AES_KEY_HEX: &str =
        "5f7c061c1626da2ad90b70eabadfb13d91f5c12ab6a3c4271e0fdea896f8252a";
    const TMP_AES_IV_HEX: &str = "47d1052b1c8b870b315c58d63b5713e4a03680fb0df50ee5bad7c778c0c1c2c3";

    /// Telegram's production key, which the RSA_PAD vector encrypts to.
    fn production_key() -> TrustedKey {
        TrustedKeys::telegram()
            .unwrap()
            .get(0xd09d_1d85_de64_fd85)
            .unwrap()
            .clone()
    }

    #[test]
    fn ige_matches_the_independent_vector() {
        let key: [u8; 32] = collect_array((0..32_u8).collect::<Vec<_>>().iter());
        let iv: [u8; 32] = collect_array((32..64_u8).collect::<Vec<_>>().iter());
        let plain: Vec<u8> = (64..128).collect();
        let encrypted = ige_encrypt(&plain, &key, &iv).unwrap();
        assert_eq!(encrypted, hex(IGE_CIPHERTEXT_HEX));
        assert_eq!(ige_decrypt(&encrypted, &key, &iv).unwrap(), plain);
        assert_eq!(
            ige_encrypt(&plain[..17], &key, &iv),
            Err(AuthError::CiphertextLength(17))
        );
        assert_eq!(
            ige_decrypt(&plain[..15], &key, &iv),
            Err(AuthError::CiphertextLength(15))
        );
    }

    #[test]
    fn tmp_aes_matches_the_independent_vector() {
        let (key, iv) = tmp_aes_key_iv(&new_nonce(), &SERVER_NONCE);
        assert_eq!(key.to_vec(), hex(TMP_AES_KEY_HEX));
        assert_eq!(iv.to_vec(), hex(TMP_AES_IV_HEX));
    }

    #[test]
    fn rsa_pad_matches_the_independent_vector() {
        let data = hex(PQ_INNER_DATA_HEX);
        let padding: Vec<u8> = (0..192 - data.len())
            .map(|i| u8::try_from((7 * i + 3) % 256).unwrap())
            .collect();
        let temp_key: [u8; 32] = collect_array((0x10..0x30_u8).collect::<Vec<_>>().iter());
        let key = production_key();
        let encrypted = rsa_pad_encrypt_with(&data, &key, &padding, &temp_key)
            .unwrap()
            .unwrap();
        assert_eq!(encrypted.to_vec(), hex(RSA_PAD_PRODUCTION_HEX));
        // The script found that temp_key [1; 32] gives a value above the modulus.
        assert_eq!(
            rsa_pad_encrypt_with(&data, &key, &padding, &[1; 32]),
            Ok(None)
        );
        assert_eq!(
            rsa_pad_encrypt_with(&[0; 145], &key, &[0; 47], &temp_key),
            Err(AuthError::RsaPadInput(145))
        );
        assert_eq!(
            rsa_pad_encrypt_with(&data, &key, &padding[1..], &temp_key),
            Err(AuthError::RsaPadInput(data.len()))
        );
    }

    #[test]
    fn factorisation_accepts_only_two_distinct_primes() {
        assert_eq!(factorize(6), Ok((2, 3)));
        assert_eq!(
            factorize(2_289_844_033_317_725_111),
            Ok((1_338_315_091, 1_710_990_221))
        );
        // The two largest 32-bit primes: the hardest case pq can be.
        assert_eq!(
            factorize(4_294_967_291 * 4_294_967_279),
            Ok((4_294_967_279, 4_294_967_291))
        );
        for bad in [
            0,
            1,
            4,
            5,
            9,
            105,
            1_000_000_007,
            1_338_315_091 * 1_338_315_091,
        ] {
            assert_eq!(factorize(bad), Err(AuthError::NotSemiprime(bad)), "{bad}");
        }
        // A prime just below 2⁶⁴ and a product of three primes.
        let prime = 18_446_744_073_709_551_557;
        assert_eq!(factorize(prime), Err(AuthError::NotSemiprime(prime)));
        let three = 1_009 * 1_338_315_091 * 3;
        assert_eq!(factorize(three), Err(AuthError::NotSemiprime(three)));
        assert_eq!(pq_from_bytes(&[0; 12]), Ok(0));
        assert_eq!(pq_from_bytes(&[0, 0, 1, 2]), Ok(0x102));
        assert_eq!(pq_from_bytes(&[1; 9]), Err(AuthError::PqTooLarge(9)));
    }
}
