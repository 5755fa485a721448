//! The first steps of MTProto's auth-key exchange, as pure functions: enough to prove that
//! the far end of a connection holds the private half of an RSA key we trust, i.e. that it
//! is Telegram (core.telegram.org/mtproto/auth_key).
//!
//! ```text
//! client                                             server
//! req_pq_multi nonce                        ─────▶
//!                                           ◀─────   resPQ nonce server_nonce pq [fingerprints]
//! factor pq = p·q; RSA_PAD(p_q_inner_data_dc with new_nonce) to a trusted key
//! req_DH_params nonce server_nonce p q fp data ─▶
//!                                           ◀─────   server_DH_params_ok … AES-IGE(answer)
//! tmp key/iv from new_nonce and server_nonce; SHA-1 of server_DH_inner_data must match
//! ```
//!
//! Only a holder of the private key can read `new_nonce`, and without it the answer cannot be
//! encrypted so that its hash checks out. The exchange stops there: no auth key is made.
//!
//! This sits in the protocol layer: the probe's MTProto check drives [`AuthClient`], and the
//! lab's fake datacenter builds its server side (the lab's `dc_session` module) from the
//! same messages and ciphers. Nothing here does I/O: the client takes and returns TL bodies
//! (wrap them with [`super::tl::encode_plain`]), and randomness comes in as an `RngCore`, so
//! tests can replay fixed vectors.
//!
//! The pieces, one file each; every public item is re-exported here, so callers name
//! `auth::X` whatever file `X` lives in:
//!
//! - `messages`: the TL messages of the exchange (`resPQ`, `p_q_inner_data_dc`,
//!   `req_DH_params`, `server_DH_params_*`, `server_DH_inner_data`), encoded and parsed.
//! - `client`: [`AuthClient`], the client as a small state machine.
//! - `crypto`: the tmp AES key, AES-256-IGE, RSA_PAD, and reading and factoring `pq`.
//!
//! Their tests are checked against vectors from an independent implementation
//! (`tests/vectors/auth_vectors.py`).

mod client;
mod crypto;
mod messages;
#[cfg(test)]
pub(crate) mod vectors;

pub use self::client::{AuthClient, ResPqOutcome, Verified};
pub(crate) use self::crypto::AES_BLOCK;
pub use self::crypto::{
    RSA_PAD_DATA_MAX, factorize, ige_decrypt, ige_encrypt, pq_from_bytes, rsa_pad_decrypt,
    rsa_pad_encrypt, rsa_pad_encrypt_with, tmp_aes_key_iv,
};
pub use self::messages::{
    DH_G, Int128, Int256, P_Q_INNER_DATA_DC, PqInnerData, REQ_DH_PARAMS, REQ_PQ, REQ_PQ_MULTI,
    RES_PQ, ReqDhParams, ResPq, SERVER_DH_INNER_DATA, SERVER_DH_PARAMS_FAIL, SERVER_DH_PARAMS_OK,
    ServerDhInnerData, ServerDhParams, TELEGRAM_DH_PRIME,
};
pub(crate) use self::messages::{check_nonces, min_be};

use super::rsa::KeyError;
use super::tl::TlError;

/// Why a step of the exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// A message did not parse.
    #[error(transparent)]
    Tl(#[from] TlError),
    /// A key was unusable.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The server's `nonce` is not the client's.
    #[error("the answer does not echo our nonce")]
    NonceMismatch,
    /// The `server_nonce` differs from the one in `resPQ`.
    #[error("the server nonce changed during the exchange")]
    ServerNonceMismatch,
    /// `pq` is longer than 8 bytes.
    #[error("pq is {0} bytes long; at most 8 are allowed")]
    PqTooLarge(usize),
    /// `pq` is not the product of two distinct primes.
    #[error("pq {0} is not a product of two distinct primes")]
    NotSemiprime(u64),
    /// None of the server's key fingerprints is trusted: not Telegram, or not a key we know.
    #[error("no trusted key among the server's fingerprints {0:016x?}")]
    UnknownFingerprints(Vec<u64>),
    /// RSA_PAD was given more than [`RSA_PAD_DATA_MAX`] bytes, or padding of the wrong size.
    #[error("RSA_PAD input of {0} bytes does not fit")]
    RsaPadInput(usize),
    /// No temp_key gave a value below the modulus.
    #[error("RSA_PAD found no temp_key below the modulus")]
    RsaPadRetries,
    /// The server refused our `req_DH_params` (`server_DH_params_fail`).
    #[error("the server answered server_DH_params_fail")]
    ServerDhFail,
    /// The decrypted answer's SHA-1 does not match: the server could not read `new_nonce`.
    #[error("the server's DH answer does not hash correctly (it cannot decrypt our new_nonce)")]
    HashMismatch,
    /// A ciphertext whose length is not what the cipher needs.
    #[error("ciphertext of {0} bytes has the wrong length")]
    CiphertextLength(usize),
    /// A step was taken out of order.
    #[error("protocol step out of order: {0}")]
    OutOfOrder(&'static str),
    /// Server side: a request the fake DC does not answer.
    #[error("unexpected request {0:#010x}")]
    UnexpectedRequest(u32),
    /// Server side: `req_DH_params` names a key this server does not hold.
    #[error("request for key {0:#018x}, which this server does not hold")]
    WrongFingerprint(u64),
    /// Server side: the RSA_PAD hash did not match after decryption.
    #[error("RSA_PAD data does not hash correctly")]
    RsaPadHash,
    /// Server side: `p`, `q` or `pq` differ from what the server sent.
    #[error("the request's p, q or pq differ from the server's")]
    PqMismatch,
}
