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
//! [`AuthClient`] is the client as a small state machine; [`DcSession`] is the server side
//! for the lab's fake datacenter. Neither does I/O: they take and return TL bodies (wrap
//! them with [`super::tl::encode_plain`]), and randomness comes in as an `RngCore`, so
//! tests can replay fixed vectors.
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

use super::rsa::{DcPrivateKey, KeyError, MODULUS_LEN, TrustedKey, TrustedKeys};
use super::tl::{Reader, TlError, Writer};

/// `req_pq#60469778` (the older request; Telegram Desktop's proxy checker still sends it).
pub const REQ_PQ: u32 = 0x6046_9778;
/// `req_pq_multi#be7e8ef1 nonce:int128 = ResPQ`.
pub const REQ_PQ_MULTI: u32 = 0xbe7e_8ef1;
/// `resPQ#05162463 nonce server_nonce pq:bytes server_public_key_fingerprints:Vector<long>`.
pub const RES_PQ: u32 = 0x0516_2463;
/// `p_q_inner_data_dc#a9f55f95 pq p q nonce server_nonce new_nonce:int256 dc:int`.
pub const P_Q_INNER_DATA_DC: u32 = 0xa9f5_5f95;
/// `req_DH_params#d712e4be nonce server_nonce p q public_key_fingerprint encrypted_data`.
pub const REQ_DH_PARAMS: u32 = 0xd712_e4be;
/// `server_DH_params_ok#d0e8075c nonce server_nonce encrypted_answer:bytes`.
pub const SERVER_DH_PARAMS_OK: u32 = 0xd0e8_075c;
/// `server_DH_params_fail#79cb045d nonce server_nonce new_nonce_hash:int128`.
pub const SERVER_DH_PARAMS_FAIL: u32 = 0x79cb_045d;
/// `server_DH_inner_data#b5890dba nonce server_nonce g dh_prime g_a server_time`.
pub const SERVER_DH_INNER_DATA: u32 = 0xb589_0dba;

/// Longest data RSA_PAD encrypts (the rest of its 192 bytes is random padding).
pub const RSA_PAD_DATA_MAX: usize = 144;
/// Size of RSA_PAD's padded data.
const RSA_PAD_PADDED: usize = 192;
/// How many temp_keys RSA_PAD tries before giving up (each fails with p < 1/2 for a 2048-bit
/// modulus, so this is never reached in practice).
const RSA_PAD_TRIES: usize = 64;
/// AES block size.
const BLOCK: usize = 16;
/// SHA-1 digest size.
const SHA1_LEN: usize = 20;

/// Telegram's published 2048-bit safe prime for DH (`dh_prime`; Telegram Desktop and
/// Telegram Android accept it without a primality test). The fake DC sends it.
pub const TELEGRAM_DH_PRIME: [u8; 256] = [
    0xc7, 0x1c, 0xae, 0xb9, 0xc6, 0xb1, 0xc9, 0x04, 0x8e, 0x6c, 0x52, 0x2f, 0x70, 0xf1, 0x3f, 0x73,
    0x98, 0x0d, 0x40, 0x23, 0x8e, 0x3e, 0x21, 0xc1, 0x49, 0x34, 0xd0, 0x37, 0x56, 0x3d, 0x93, 0x0f,
    0x48, 0x19, 0x8a, 0x0a, 0xa7, 0xc1, 0x40, 0x58, 0x22, 0x94, 0x93, 0xd2, 0x25, 0x30, 0xf4, 0xdb,
    0xfa, 0x33, 0x6f, 0x6e, 0x0a, 0xc9, 0x25, 0x13, 0x95, 0x43, 0xae, 0xd4, 0x4c, 0xce, 0x7c, 0x37,
    0x20, 0xfd, 0x51, 0xf6, 0x94, 0x58, 0x70, 0x5a, 0xc6, 0x8c, 0xd4, 0xfe, 0x6b, 0x6b, 0x13, 0xab,
    0xdc, 0x97, 0x46, 0x51, 0x29, 0x69, 0x32, 0x84, 0x54, 0xf1, 0x8f, 0xaf, 0x8c, 0x59, 0x5f, 0x64,
    0x24, 0x77, 0xfe, 0x96, 0xbb, 0x2a, 0x94, 0x1d, 0x5b, 0xcd, 0x1d, 0x4a, 0xc8, 0xcc, 0x49, 0x88,
    0x07, 0x08, 0xfa, 0x9b, 0x37, 0x8e, 0x3c, 0x4f, 0x3a, 0x90, 0x60, 0xbe, 0xe6, 0x7c, 0xf9, 0xa4,
    0xa4, 0xa6, 0x95, 0x81, 0x10, 0x51, 0x90, 0x7e, 0x16, 0x27, 0x53, 0xb5, 0x6b, 0x0f, 0x6b, 0x41,
    0x0d, 0xba, 0x74, 0xd8, 0xa8, 0x4b, 0x2a, 0x14, 0xb3, 0x14, 0x4e, 0x0e, 0xf1, 0x28, 0x47, 0x54,
    0xfd, 0x17, 0xed, 0x95, 0x0d, 0x59, 0x65, 0xb4, 0xb9, 0xdd, 0x46, 0x58, 0x2d, 0xb1, 0x17, 0x8d,
    0x16, 0x9c, 0x6b, 0xc4, 0x65, 0xb0, 0xd6, 0xff, 0x9c, 0xa3, 0x92, 0x8f, 0xef, 0x5b, 0x9a, 0xe4,
    0xe4, 0x18, 0xfc, 0x15, 0xe8, 0x3e, 0xbe, 0xa0, 0xf8, 0x7f, 0xa9, 0xff, 0x5e, 0xed, 0x70, 0x05,
    0x0d, 0xed, 0x28, 0x49, 0xf4, 0x7b, 0xf9, 0x59, 0xd9, 0x56, 0x85, 0x0c, 0xe9, 0x29, 0x85, 0x1f,
    0x0d, 0x81, 0x15, 0xf6, 0x35, 0xb1, 0x05, 0xee, 0x2e, 0x4e, 0x15, 0xd0, 0x4b, 0x24, 0x54, 0xbf,
    0x6f, 0x4f, 0xad, 0xf0, 0x34, 0xb1, 0x04, 0x03, 0x11, 0x9c, 0xd8, 0xe3, 0xb9, 0x2f, 0xcc, 0x5b,
];

/// The generator the fake DC announces with [`TELEGRAM_DH_PRIME`].
pub const DH_G: i32 = 3;

/// Products of two primes the fake DC hands out as `pq` (p < q, both about 31 bits). The
/// first two are the worked examples of core.telegram.org/mtproto/samples-auth_key.
pub const LAB_PQ_PAIRS: [(u64, u64); 2] = [
    (1_338_315_091, 1_710_990_221),
    (1_145_839_111, 1_440_313_657),
];

/// A 128-bit nonce (`int128`, opaque bytes).
pub type Int128 = [u8; 16];
/// A 256-bit nonce (`int256`, opaque bytes).
pub type Int256 = [u8; 32];

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

/// The client's view of the exchange.
#[derive(Debug, Clone)]
pub struct AuthClient {
    /// Our `nonce`.
    nonce: Int128,
    /// Our `new_nonce`, sent encrypted.
    new_nonce: Int256,
    /// The datacenter id put in `p_q_inner_data_dc` (test DCs: id + 10000).
    dc_id: i32,
    /// Where the exchange is.
    state: ClientState,
}

/// Where the client is in the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientState {
    /// `req_pq_multi` may be sent; waiting for `resPQ`.
    AwaitingResPq,
    /// `req_DH_params` was built; waiting for the server's DH parameters.
    AwaitingDhParams {
        /// The server's nonce from `resPQ`.
        server_nonce: Int128,
    },
}

/// What the client learnt from `resPQ`, and its next request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResPqOutcome {
    /// The TL body of `req_DH_params` to send.
    pub req_dh_params_body: Vec<u8>,
    /// The fingerprint of the trusted key chosen.
    pub fingerprint: u64,
    /// That key's label.
    pub key_label: String,
    /// True when that key is a test (or lab) key.
    pub test_key: bool,
    /// Every fingerprint the server offered, in its order.
    pub offered: Vec<u64>,
    /// The server's nonce.
    pub server_nonce: Int128,
    /// The proof-of-work number.
    pub pq: u64,
    /// Its smaller prime factor.
    pub p: u64,
    /// Its larger prime factor.
    pub q: u64,
}

/// A verified `server_DH_params_ok`: the server holds the trusted key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The DH generator.
    pub g: i32,
    /// Length in bytes of the DH prime (256 for Telegram).
    pub dh_prime_len: usize,
    /// Length in bytes of `g_a`.
    pub g_a_len: usize,
    /// The server's Unix time.
    pub server_time: i32,
}

impl AuthClient {
    /// A client with the given nonces, for datacenter `dc_id`.
    pub fn new(nonce: Int128, new_nonce: Int256, dc_id: i32) -> Self {
        Self {
            nonce,
            new_nonce,
            dc_id,
            state: ClientState::AwaitingResPq,
        }
    }

    /// A client with random nonces.
    pub fn random(rng: &mut impl RngCore, dc_id: i32) -> Self {
        let mut nonce = [0; 16];
        let mut new_nonce = [0; 32];
        rng.fill_bytes(&mut nonce);
        rng.fill_bytes(&mut new_nonce);
        Self::new(nonce, new_nonce, dc_id)
    }

    /// Our nonce (the server must echo it).
    pub fn nonce(&self) -> &Int128 {
        &self.nonce
    }

    /// The TL body of `req_pq_multi`.
    pub fn req_pq_multi(&self) -> Vec<u8> {
        Writer::with_constructor(REQ_PQ_MULTI)
            .raw(&self.nonce)
            .finish()
    }

    /// Handles `resPQ`: checks the nonce, picks the first offered key that is trusted,
    /// factors `pq` and builds `req_DH_params` with `new_nonce` encrypted to that key.
    pub fn on_res_pq(
        &mut self,
        body: &[u8],
        trusted: &TrustedKeys,
        rng: &mut impl RngCore,
    ) -> Result<ResPqOutcome, AuthError> {
        if self.state != ClientState::AwaitingResPq {
            return Err(AuthError::OutOfOrder("resPQ already handled"));
        }
        let res_pq = ResPq::parse(body)?;
        if res_pq.nonce != self.nonce {
            return Err(AuthError::NonceMismatch);
        }
        let Some(key) = trusted.first_trusted(&res_pq.fingerprints) else {
            return Err(AuthError::UnknownFingerprints(res_pq.fingerprints));
        };
        let pq = pq_from_bytes(&res_pq.pq)?;
        let (p, q) = factorize(pq)?;
        let inner = PqInnerData {
            pq: res_pq.pq.clone(),
            p: min_be(p),
            q: min_be(q),
            nonce: self.nonce,
            server_nonce: res_pq.server_nonce,
            new_nonce: self.new_nonce,
            dc: self.dc_id,
        };
        let encrypted = rsa_pad_encrypt(&inner.encode(), key, rng)?;
        let request = ReqDhParams {
            nonce: self.nonce,
            server_nonce: res_pq.server_nonce,
            p: inner.p,
            q: inner.q,
            fingerprint: key.fingerprint,
            encrypted_data: encrypted.to_vec(),
        };
        self.state = ClientState::AwaitingDhParams {
            server_nonce: res_pq.server_nonce,
        };
        Ok(ResPqOutcome {
            req_dh_params_body: request.encode(),
            fingerprint: key.fingerprint,
            key_label: key.label.clone(),
            test_key: key.test,
            offered: res_pq.fingerprints,
            server_nonce: res_pq.server_nonce,
            pq,
            p,
            q,
        })
    }

    /// Handles the answer to `req_DH_params`: decrypts it with the key derived from our
    /// `new_nonce` and checks its SHA-1 and nonces. Success proves the server read
    /// `new_nonce`, so it holds the private key we encrypted to.
    pub fn on_server_dh_params(&self, body: &[u8]) -> Result<Verified, AuthError> {
        let ClientState::AwaitingDhParams { server_nonce } = self.state else {
            return Err(AuthError::OutOfOrder("resPQ not handled yet"));
        };
        let encrypted_answer = match ServerDhParams::parse(body)? {
            ServerDhParams::Fail {
                nonce,
                server_nonce: answer_server_nonce,
                ..
            } => {
                check_nonces(&nonce, &self.nonce, &answer_server_nonce, &server_nonce)?;
                return Err(AuthError::ServerDhFail);
            }
            ServerDhParams::Ok {
                nonce,
                server_nonce: answer_server_nonce,
                encrypted_answer,
            } => {
                check_nonces(&nonce, &self.nonce, &answer_server_nonce, &server_nonce)?;
                encrypted_answer
            }
        };
        let inner = open_answer(&encrypted_answer, &self.new_nonce, &server_nonce)?;
        check_nonces(
            &inner.nonce,
            &self.nonce,
            &inner.server_nonce,
            &server_nonce,
        )?;
        Ok(Verified {
            g: inner.g,
            dh_prime_len: inner.dh_prime.len(),
            g_a_len: inner.g_a.len(),
            server_time: inner.server_time,
        })
    }
}

/// Fails unless both nonces are the expected ones.
fn check_nonces(
    nonce: &Int128,
    expected_nonce: &Int128,
    server_nonce: &Int128,
    expected_server_nonce: &Int128,
) -> Result<(), AuthError> {
    if nonce != expected_nonce {
        Err(AuthError::NonceMismatch)
    } else if server_nonce != expected_server_nonce {
        Err(AuthError::ServerNonceMismatch)
    } else {
        Ok(())
    }
}

/// `resPQ`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResPq {
    /// The client's nonce, echoed.
    pub nonce: Int128,
    /// The server's nonce.
    pub server_nonce: Int128,
    /// The proof-of-work number, big-endian.
    pub pq: Vec<u8>,
    /// Fingerprints of the RSA keys the server holds.
    pub fingerprints: Vec<u64>,
}

impl ResPq {
    /// Parses a `resPQ` body (bytes after it are ignored).
    pub fn parse(body: &[u8]) -> Result<Self, TlError> {
        let mut reader = Reader::new(body);
        reader.expect(RES_PQ)?;
        Ok(Self {
            nonce: reader.array()?,
            server_nonce: reader.array()?,
            pq: reader.bytes()?.to_vec(),
            fingerprints: reader
                .long_vector()?
                .into_iter()
                .map(|fingerprint| u64::from_le_bytes(fingerprint.to_le_bytes()))
                .collect(),
        })
    }

    /// The TL body.
    pub fn encode(&self) -> Vec<u8> {
        let fingerprints: Vec<i64> = self
            .fingerprints
            .iter()
            .map(|fingerprint| i64::from_le_bytes(fingerprint.to_le_bytes()))
            .collect();
        Writer::with_constructor(RES_PQ)
            .raw(&self.nonce)
            .raw(&self.server_nonce)
            .bytes(&self.pq)
            .long_vector(&fingerprints)
            .finish()
    }
}

/// `p_q_inner_data_dc`: what the client encrypts to the server's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PqInnerData {
    /// The proof-of-work number, as the server sent it.
    pub pq: Vec<u8>,
    /// Its smaller factor, big-endian.
    pub p: Vec<u8>,
    /// Its larger factor, big-endian.
    pub q: Vec<u8>,
    /// The client's nonce.
    pub nonce: Int128,
    /// The server's nonce.
    pub server_nonce: Int128,
    /// The client's secret nonce.
    pub new_nonce: Int256,
    /// The datacenter id.
    pub dc: i32,
}

impl PqInnerData {
    /// The TL serialisation.
    pub fn encode(&self) -> Vec<u8> {
        Writer::with_constructor(P_Q_INNER_DATA_DC)
            .bytes(&self.pq)
            .bytes(&self.p)
            .bytes(&self.q)
            .raw(&self.nonce)
            .raw(&self.server_nonce)
            .raw(&self.new_nonce)
            .int(self.dc)
            .finish()
    }

    /// Parses it from the start of `data` (RSA_PAD's random padding follows).
    pub fn parse(data: &[u8]) -> Result<Self, TlError> {
        let mut reader = Reader::new(data);
        reader.expect(P_Q_INNER_DATA_DC)?;
        Ok(Self {
            pq: reader.bytes()?.to_vec(),
            p: reader.bytes()?.to_vec(),
            q: reader.bytes()?.to_vec(),
            nonce: reader.array()?,
            server_nonce: reader.array()?,
            new_nonce: reader.array()?,
            dc: reader.int()?,
        })
    }
}

/// `req_DH_params`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReqDhParams {
    /// The client's nonce.
    pub nonce: Int128,
    /// The server's nonce.
    pub server_nonce: Int128,
    /// The smaller factor of pq, big-endian.
    pub p: Vec<u8>,
    /// The larger factor, big-endian.
    pub q: Vec<u8>,
    /// The fingerprint of the key `encrypted_data` is encrypted to.
    pub fingerprint: u64,
    /// RSA_PAD(`p_q_inner_data_dc`), 256 bytes.
    pub encrypted_data: Vec<u8>,
}

impl ReqDhParams {
    /// The TL body.
    pub fn encode(&self) -> Vec<u8> {
        Writer::with_constructor(REQ_DH_PARAMS)
            .raw(&self.nonce)
            .raw(&self.server_nonce)
            .bytes(&self.p)
            .bytes(&self.q)
            .long(i64::from_le_bytes(self.fingerprint.to_le_bytes()))
            .bytes(&self.encrypted_data)
            .finish()
    }

    /// Parses a `req_DH_params` body (bytes after it are ignored).
    pub fn parse(body: &[u8]) -> Result<Self, TlError> {
        let mut reader = Reader::new(body);
        reader.expect(REQ_DH_PARAMS)?;
        Ok(Self {
            nonce: reader.array()?,
            server_nonce: reader.array()?,
            p: reader.bytes()?.to_vec(),
            q: reader.bytes()?.to_vec(),
            fingerprint: u64::from_le_bytes(reader.array()?),
            encrypted_data: reader.bytes()?.to_vec(),
        })
    }
}

/// The server's answer to `req_DH_params`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerDhParams {
    /// `server_DH_params_ok`.
    Ok {
        /// The client's nonce.
        nonce: Int128,
        /// The server's nonce.
        server_nonce: Int128,
        /// AES-256-IGE(SHA-1(answer) ‖ answer ‖ padding) under the tmp key.
        encrypted_answer: Vec<u8>,
    },
    /// `server_DH_params_fail`.
    Fail {
        /// The client's nonce.
        nonce: Int128,
        /// The server's nonce.
        server_nonce: Int128,
        /// Low 128 bits of SHA-1(new_nonce).
        new_nonce_hash: Int128,
    },
}

impl ServerDhParams {
    /// Parses either answer (bytes after it are ignored).
    pub fn parse(body: &[u8]) -> Result<Self, TlError> {
        let mut reader = Reader::new(body);
        match reader.u32()? {
            SERVER_DH_PARAMS_OK => Ok(Self::Ok {
                nonce: reader.array()?,
                server_nonce: reader.array()?,
                encrypted_answer: reader.bytes()?.to_vec(),
            }),
            SERVER_DH_PARAMS_FAIL => Ok(Self::Fail {
                nonce: reader.array()?,
                server_nonce: reader.array()?,
                new_nonce_hash: reader.array()?,
            }),
            found => Err(TlError::UnexpectedConstructor {
                expected: SERVER_DH_PARAMS_OK,
                found,
            }),
        }
    }

    /// The TL body.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Ok {
                nonce,
                server_nonce,
                encrypted_answer,
            } => Writer::with_constructor(SERVER_DH_PARAMS_OK)
                .raw(nonce)
                .raw(server_nonce)
                .bytes(encrypted_answer)
                .finish(),
            Self::Fail {
                nonce,
                server_nonce,
                new_nonce_hash,
            } => Writer::with_constructor(SERVER_DH_PARAMS_FAIL)
                .raw(nonce)
                .raw(server_nonce)
                .raw(new_nonce_hash)
                .finish(),
        }
    }
}

/// `server_DH_inner_data`: the encrypted part of `server_DH_params_ok`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerDhInnerData {
    /// The client's nonce.
    pub nonce: Int128,
    /// The server's nonce.
    pub server_nonce: Int128,
    /// The DH generator.
    pub g: i32,
    /// The DH prime, big-endian.
    pub dh_prime: Vec<u8>,
    /// `g^a mod dh_prime`, big-endian.
    pub g_a: Vec<u8>,
    /// The server's Unix time.
    pub server_time: i32,
}

impl ServerDhInnerData {
    /// The TL serialisation.
    pub fn encode(&self) -> Vec<u8> {
        Writer::with_constructor(SERVER_DH_INNER_DATA)
            .raw(&self.nonce)
            .raw(&self.server_nonce)
            .int(self.g)
            .bytes(&self.dh_prime)
            .bytes(&self.g_a)
            .int(self.server_time)
            .finish()
    }

    /// Parses exactly one value filling `data`.
    pub fn parse(data: &[u8]) -> Result<Self, TlError> {
        let mut reader = Reader::new(data);
        reader.expect(SERVER_DH_INNER_DATA)?;
        let inner = Self {
            nonce: reader.array()?,
            server_nonce: reader.array()?,
            g: reader.int()?,
            dh_prime: reader.bytes()?.to_vec(),
            g_a: reader.bytes()?.to_vec(),
            server_time: reader.int()?,
        };
        reader.finish()?;
        Ok(inner)
    }
}

/// Decrypts and checks `encrypted_answer`: the plaintext is SHA-1(answer) ‖ answer ‖ 0–15
/// padding bytes. The hash is checked before the answer is parsed, so any tampering reads as
/// [`AuthError::HashMismatch`].
fn open_answer(
    encrypted: &[u8],
    new_nonce: &Int256,
    server_nonce: &Int128,
) -> Result<ServerDhInnerData, AuthError> {
    let (key, iv) = tmp_aes_key_iv(new_nonce, server_nonce);
    let plain = ige_decrypt(encrypted, &key, &iv)?;
    let Some((hash, rest)) = plain.split_at_checked(SHA1_LEN) else {
        return Err(AuthError::CiphertextLength(encrypted.len()));
    };
    let answer = (0..BLOCK)
        .filter_map(|padding| rest.get(..rest.len().checked_sub(padding)?))
        .find(|answer| Sha1::digest(answer).as_slice() == hash)
        .ok_or(AuthError::HashMismatch)?;
    Ok(ServerDhInnerData::parse(answer)?)
}

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
fn collect_array<'a, const N: usize>(bytes: impl Iterator<Item = &'a u8>) -> [u8; N] {
    let mut out = [0; N];
    for (slot, byte) in out.iter_mut().zip(bytes) {
        *slot = *byte;
    }
    out
}

/// XOR of two blocks.
fn xor_block(a: &[u8; BLOCK], b: &[u8; BLOCK]) -> [u8; BLOCK] {
    let mut out = [0; BLOCK];
    for ((slot, x), y) in out.iter_mut().zip(a).zip(b) {
        *slot = x ^ y;
    }
    out
}

/// The two chaining blocks of an IGE IV: the "previous ciphertext" (first half) and the
/// "previous plaintext" (second half), as in OpenSSL's `AES_ige_encrypt` and MTProto.
fn ige_iv(iv: &[u8; 32]) -> ([u8; BLOCK], [u8; BLOCK]) {
    (
        collect_array(iv.iter().take(BLOCK)),
        collect_array(iv.iter().skip(BLOCK)),
    )
}

/// AES-256-IGE encryption: `c_i = E(p_i ⊕ c_{i−1}) ⊕ p_{i−1}`. `data` must be a whole
/// number of 16-byte blocks.
pub fn ige_encrypt(data: &[u8], key: &[u8; 32], iv: &[u8; 32]) -> Result<Vec<u8>, AuthError> {
    if data.len() % BLOCK != 0 {
        return Err(AuthError::CiphertextLength(data.len()));
    }
    let cipher = Aes256::new(key.into());
    let (mut prev_cipher, mut prev_plain) = ige_iv(iv);
    let mut out = Vec::with_capacity(data.len());
    for chunk in data.chunks_exact(BLOCK) {
        let plain: [u8; BLOCK] = collect_array(chunk.iter());
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
    if data.len() % BLOCK != 0 {
        return Err(AuthError::CiphertextLength(data.len()));
    }
    let cipher = Aes256::new(key.into());
    let (mut prev_cipher, mut prev_plain) = ige_iv(iv);
    let mut out = Vec::with_capacity(data.len());
    for chunk in data.chunks_exact(BLOCK) {
        let encrypted: [u8; BLOCK] = collect_array(chunk.iter());
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

/// `value` big-endian without leading zero bytes (TL `bytes` of a number).
fn min_be(value: u64) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|&&byte| byte == 0).count();
    bytes.iter().skip(skip).copied().collect()
}

/// Splits `pq` into primes `p < q` ([`super::factor::split`]); anything that is not a
/// product of two distinct primes is refused.
pub fn factorize(pq: u64) -> Result<(u64, u64), AuthError> {
    super::factor::split(pq).ok_or(AuthError::NotSemiprime(pq))
}

/// The server side of the exchange, for the lab's fake datacenter.
#[derive(Debug, Clone, Default)]
pub struct DcSession {
    /// Where the session is.
    state: DcState,
}

/// Where a [`DcSession`] is.
#[derive(Debug, Clone, Default)]
enum DcState {
    /// Waiting for `req_pq_multi`.
    #[default]
    Fresh,
    /// `resPQ` sent; waiting for `req_DH_params`.
    SentResPq {
        /// The client's nonce.
        nonce: Int128,
        /// Our nonce.
        server_nonce: Int128,
        /// The pq sent, as TL bytes.
        pq: Vec<u8>,
        /// Its smaller factor.
        p: u64,
        /// Its larger factor.
        q: u64,
    },
    /// `server_DH_params_ok` sent; nothing more is answered.
    Done,
}

impl DcSession {
    /// A session waiting for `req_pq_multi`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers one request body: `req_pq_multi` (or `req_pq`) with `resPQ` naming `key`,
    /// then `req_DH_params` with `server_DH_params_ok`. Anything else is an error (the fake
    /// DC closes the connection).
    pub fn answer(
        &mut self,
        body: &[u8],
        key: &DcPrivateKey,
        rng: &mut impl RngCore,
        server_time: i32,
    ) -> Result<Vec<u8>, AuthError> {
        let constructor = Reader::new(body).u32()?;
        match (&self.state, constructor) {
            (DcState::Fresh, REQ_PQ_MULTI | REQ_PQ) => self.on_req_pq(body, key, rng),
            (DcState::SentResPq { .. }, REQ_DH_PARAMS) => {
                self.on_req_dh_params(body, key, rng, server_time)
            }
            _ => Err(AuthError::UnexpectedRequest(constructor)),
        }
    }

    /// `req_pq_multi` → `resPQ` with a pq from [`LAB_PQ_PAIRS`] and `key`'s fingerprint.
    fn on_req_pq(
        &mut self,
        body: &[u8],
        key: &DcPrivateKey,
        rng: &mut impl RngCore,
    ) -> Result<Vec<u8>, AuthError> {
        let mut reader = Reader::new(body);
        reader.u32()?;
        let nonce = reader.array()?;
        let mut server_nonce = [0; 16];
        rng.fill_bytes(&mut server_nonce);
        let pair = usize::try_from(rng.next_u32()).unwrap_or(0) % LAB_PQ_PAIRS.len();
        let (p, q) = LAB_PQ_PAIRS.get(pair).copied().unwrap_or((2, 3));
        let pq = min_be(p * q);
        let answer = ResPq {
            nonce,
            server_nonce,
            pq: pq.clone(),
            fingerprints: vec![key.fingerprint()],
        };
        self.state = DcState::SentResPq {
            nonce,
            server_nonce,
            pq,
            p,
            q,
        };
        Ok(answer.encode())
    }

    /// `req_DH_params` → `server_DH_params_ok`, after decrypting and checking the client's
    /// `p_q_inner_data_dc`.
    fn on_req_dh_params(
        &mut self,
        body: &[u8],
        key: &DcPrivateKey,
        rng: &mut impl RngCore,
        server_time: i32,
    ) -> Result<Vec<u8>, AuthError> {
        let DcState::SentResPq {
            nonce,
            server_nonce,
            pq,
            p,
            q,
        } = &self.state
        else {
            return Err(AuthError::OutOfOrder("req_DH_params before req_pq_multi"));
        };
        let request = ReqDhParams::parse(body)?;
        check_nonces(&request.nonce, nonce, &request.server_nonce, server_nonce)?;
        if request.fingerprint != key.fingerprint() {
            return Err(AuthError::WrongFingerprint(request.fingerprint));
        }
        let (p, q) = (min_be(*p), min_be(*q));
        if request.p != p || request.q != q {
            return Err(AuthError::PqMismatch);
        }
        let inner = PqInnerData::parse(&rsa_pad_decrypt(&request.encrypted_data, key)?)?;
        check_nonces(&inner.nonce, nonce, &inner.server_nonce, server_nonce)?;
        if inner.pq != *pq || inner.p != p || inner.q != q {
            return Err(AuthError::PqMismatch);
        }
        let mut g_a = vec![0; TELEGRAM_DH_PRIME.len()];
        rng.fill_bytes(&mut g_a);
        let answer = ServerDhInnerData {
            nonce: *nonce,
            server_nonce: *server_nonce,
            g: DH_G,
            dh_prime: TELEGRAM_DH_PRIME.to_vec(),
            g_a,
            server_time,
        }
        .encode();
        let mut with_hash: Vec<u8> = Sha1::digest(&answer).iter().copied().collect();
        with_hash.extend_from_slice(&answer);
        let mut padding = vec![0; (BLOCK - with_hash.len() % BLOCK) % BLOCK];
        rng.fill_bytes(&mut padding);
        with_hash.extend_from_slice(&padding);
        let (tmp_key, tmp_iv) = tmp_aes_key_iv(&inner.new_nonce, server_nonce);
        let reply = ServerDhParams::Ok {
            nonce: *nonce,
            server_nonce: *server_nonce,
            encrypted_answer: ige_encrypt(&with_hash, &tmp_key, &tmp_iv)?,
        };
        self.state = DcState::Done;
        Ok(reply.encode())
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng as _;
    use rand::rngs::StdRng;

    use super::super::tl::{decode_plain, testing::hex};
    use super::*;

    // Vectors printed by `python3 tests/vectors/auth_vectors.py` (independent of this code).
    // AES-256-IGE: key 00..1f, iv 20..3f, plaintext 40..7f
    const IGE_CIPHERTEXT_HEX: &str = concat!(
        "b6b23cb46d2f43de2c67fc9a3a9e35104fad6ed15177969c1cebc616bcfa482cb220e4d159bedfd570df191a805e9d9d",
        "13b6d62f0ea1e40541bd31ebe72f51c6",
    );
    // tmp_aes from nonce a0..af, server_nonce b0..bf, new_nonce c0..df
    const TMP_AES_KEY_HEX: &str =
        "5f7c061c1626da2ad90b70eabadfb13d91f5c12ab6a3c4271e0fdea896f8252a";
    const TMP_AES_IV_HEX: &str = "47d1052b1c8b870b315c58d63b5713e4a03680fb0df50ee5bad7c778c0c1c2c3";
    // p_q_inner_data_dc: pq 2289844033317725111 = 1338315091 * 1710990221, dc 2
    const PQ_INNER_DATA_HEX: &str = concat!(
        "955ff5a9081fc7290424f363b7000000044fc511530000000465fba38d000000a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
        "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf",
        "02000000",
    );
    // RSA_PAD(PQ_INNER_DATA_HEX) to the production key; padding[i] = 7i+3, temp_key 10..2f
    const RSA_PAD_PRODUCTION_HEX: &str = concat!(
        "8bf82c85942ec7838f4e888d79272faed38fb7359e2be4f3cca479ecc3398aaa8218d3848e4244fd288d2c82758f555d",
        "c7106be3679207555aace466a00d5f95d9685639a6205c6538eabc9646f88affc9091e9acf7fec0a975ff301206af1e2",
        "de0c481413bab6c9b240850ec3998a5240e1a253ab230786a900fe53f2d7cf0749ab694563c6db69e65b50f7d3bfac00",
        "85788800a76288ac886f03bf15ce89bc8d88f71074c5f1ebe098ab36fb8788c0aaa22ff37d4014172554962886de9af2",
        "8a841381fab7e4798f799426a1309f5c75ca8d304cc9a01644f9841dea421bf23a7379932112f514f53bbea00011b22f",
        "89e775df16175ddeb0bfa8cb4b81ed94",
    );
    const REQ_DH_PARAMS_HEX: &str = concat!(
        "bee412d7a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf044fc511530000000465fba3",
        "8d00000085fd64de851d9dd0fe0001008bf82c85942ec7838f4e888d79272faed38fb7359e2be4f3cca479ecc3398aaa",
        "8218d3848e4244fd288d2c82758f555dc7106be3679207555aace466a00d5f95d9685639a6205c6538eabc9646f88aff",
        "c9091e9acf7fec0a975ff301206af1e2de0c481413bab6c9b240850ec3998a5240e1a253ab230786a900fe53f2d7cf07",
        "49ab694563c6db69e65b50f7d3bfac0085788800a76288ac886f03bf15ce89bc8d88f71074c5f1ebe098ab36fb8788c0",
        "aaa22ff37d4014172554962886de9af28a841381fab7e4798f799426a1309f5c75ca8d304cc9a01644f9841dea421bf2",
        "3a7379932112f514f53bbea00011b22f89e775df16175ddeb0bfa8cb4b81ed94",
    );
    // server_DH_params_ok: g 3, Telegram's dh_prime, g_a[i] = 13i+1, server_time 1700000000, answer 564 bytes, padding 8 bytes f0..
    const SERVER_DH_PARAMS_OK_HEX: &str = concat!(
        "5c07e8d0a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebffe50020081e809264759c6d5",
        "3c55cb6184b1a67528d9d8731b8fbbaf544ac5d019ea4840b8771ac91de9ef432e182cdc4c689649810499aeec11edb8",
        "5330c66d3e1aa9065ce57b8b2c01305ad5e7929f447cf5b8306c87ebdf40755a9e4bf4dbeb28dccbe450e07742b8dae8",
        "c3ec52c9112cedda9fe8c6d1016204624ad2e070cc55dd817f9a3d68e23f62d7df3cb0a1f03a0b592da1933530cb09ae",
        "40896f5a460c01a305187b9d6a42b8c1edba0fb8a1d591da371e00ed74bcacbb5b0b038ee6c50cd924831ee3b6404a81",
        "2743f85f7a0437217891179202d6398c6b0f4c424747bee2f51c250808a290cc361217521e1cb8bb92c1e37ff22bbf1b",
        "48c779d2a11f7d4fe8570fb89b7103142041aaf5e83ddb7920efa0336f40b5448270e4a3f309c0530f5a677af3f93706",
        "9a8d4fe2b9c703ec3c528ff9eed18ba0219710abd4681d8aa64512aea270f13cf11c71a900f4b3b841788aed8b795089",
        "f0401ef8fe2ae716e982c339958f3bbcb05377664f010fb7517eb0396695eaa2006a479362114ebe6d31117dd529343c",
        "0ae5608c2159fc32e93eed8c4ce180234832db8cd56fc8ef7be098a9cfe84a87999e24a3311f9c412d99873f5668e49e",
        "82382dcfe5a7b94f1e64ad16797bf03a41c516c250704ef676a07472fdd174ec171cf1cf71eaa966d676d3a7f0dba15e",
        "adbe5c23e185289cf7d6113abb6be77ee7caaa786edf06af4585df55f0a193a9f3afc3d31a070461c6236bb79c9eddcb",
        "c1e688d99c897506f301a960c13c0ef83e518b6405b2a8bf9253da40b1ccec5c68ba745d77a2f93f4d4b4090678d0657",
        "575b04e9dfa67c27",
    );
    const RES_PQ_HEX: &str = concat!(
        "63241605a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf081fc7290424f363b7000000",
        "15c4b51c0200000085fd64de851d9dd0efcdab8967452301",
    );

    /// Nonces the Python vectors use.
    const NONCE: Int128 = [
        0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae,
        0xaf,
    ];
    /// See [`NONCE`].
    const SERVER_NONCE: Int128 = [
        0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe,
        0xbf,
    ];

    /// `new_nonce` of the Python vectors: c0..df.
    fn new_nonce() -> Int256 {
        collect_array((0xc0..=0xdf_u8).collect::<Vec<_>>().iter())
    }

    /// A resPQ as received from a production server, from core.telegram.org/mtproto/
    /// samples-auth_key (whole unencrypted message); pq factored by the Python script's rho.
    const DOC_RES_PQ_MESSAGE: &str = concat!(
        "0000000000000000014c527921a972685000000063241605",
        "75e622f3bc7d714632b833821fd7bb0c8ec53ec050cb2d475b457baf445b49f5",
        "0816e748b29522c68f00000015c4b51c03000000",
        "85fd64de851d9dd0a5b7f709355fc30b216be86c022bb4c3",
    );

    fn rng() -> StdRng {
        StdRng::seed_from_u64(7)
    }

    fn lab_key() -> DcPrivateKey {
        crate::lab::fake_dc::lab_dc_key().unwrap()
    }

    fn impostor_key() -> DcPrivateKey {
        DcPrivateKey::from_pem(
            include_str!("../../lab/keys/impostor-dc.pem"),
            "lab:impostor",
        )
        .unwrap()
    }

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
    fn requests_encode_like_the_independent_vectors() {
        let inner = PqInnerData {
            pq: min_be(2_289_844_033_317_725_111),
            p: min_be(1_338_315_091),
            q: min_be(1_710_990_221),
            nonce: NONCE,
            server_nonce: SERVER_NONCE,
            new_nonce: new_nonce(),
            dc: 2,
        };
        assert_eq!(inner.encode(), hex(PQ_INNER_DATA_HEX));
        assert_eq!(PqInnerData::parse(&hex(PQ_INNER_DATA_HEX)).unwrap(), inner);
        let request = ReqDhParams {
            nonce: NONCE,
            server_nonce: SERVER_NONCE,
            p: inner.p.clone(),
            q: inner.q.clone(),
            fingerprint: 0xd09d_1d85_de64_fd85,
            encrypted_data: hex(RSA_PAD_PRODUCTION_HEX),
        };
        assert_eq!(request.encode(), hex(REQ_DH_PARAMS_HEX));
        assert_eq!(
            ReqDhParams::parse(&hex(REQ_DH_PARAMS_HEX)).unwrap(),
            request
        );
        let res_pq = ResPq {
            nonce: NONCE,
            server_nonce: SERVER_NONCE,
            pq: inner.pq,
            fingerprints: vec![0xd09d_1d85_de64_fd85, 0x0123_4567_89ab_cdef],
        };
        assert_eq!(res_pq.encode(), hex(RES_PQ_HEX));
        assert_eq!(ResPq::parse(&hex(RES_PQ_HEX)).unwrap(), res_pq);
        let client = AuthClient::new(NONCE, new_nonce(), 2);
        assert_eq!(
            client.req_pq_multi(),
            hex("f18e7ebea0a1a2a3a4a5a6a7a8a9aaabacadaeaf")
        );
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
    fn rsa_pad_round_trips_with_the_lab_key_and_detects_tampering() {
        let key = lab_key();
        let data = hex(PQ_INNER_DATA_HEX);
        let encrypted = rsa_pad_encrypt(&data, key.public(), &mut rng()).unwrap();
        let padded = rsa_pad_decrypt(&encrypted, &key).unwrap();
        assert_eq!(padded.len(), 192);
        assert_eq!(&padded[..data.len()], &data[..]);
        let mut tampered = encrypted;
        tampered[100] ^= 1;
        assert_eq!(rsa_pad_decrypt(&tampered, &key), Err(AuthError::RsaPadHash));
        assert_eq!(
            rsa_pad_decrypt(&encrypted, &impostor_key()),
            Err(AuthError::RsaPadHash)
        );
        assert_eq!(
            rsa_pad_decrypt(&encrypted[1..], &key),
            Err(AuthError::CiphertextLength(255))
        );
    }

    #[test]
    fn client_verifies_the_independent_server_answer() {
        let mut client = AuthClient::new(NONCE, new_nonce(), 2);
        let trusted = TrustedKeys::telegram().unwrap();
        let outcome = client
            .on_res_pq(&hex(RES_PQ_HEX), &trusted, &mut rng())
            .unwrap();
        assert_eq!(outcome.fingerprint, 0xd09d_1d85_de64_fd85);
        assert_eq!(outcome.key_label, "telegram:telegram-production");
        assert!(!outcome.test_key);
        assert_eq!(
            (outcome.pq, outcome.p, outcome.q),
            (2_289_844_033_317_725_111, 1_338_315_091, 1_710_990_221)
        );
        // Everything before the (random) RSA_PAD ciphertext is the vector's.
        let request = hex(REQ_DH_PARAMS_HEX);
        let prefix = request.len() - 256;
        assert_eq!(outcome.req_dh_params_body.len(), request.len());
        assert_eq!(&outcome.req_dh_params_body[..prefix], &request[..prefix]);
        let verified = client
            .on_server_dh_params(&hex(SERVER_DH_PARAMS_OK_HEX))
            .unwrap();
        assert_eq!(
            verified,
            Verified {
                g: 3,
                dh_prime_len: 256,
                g_a_len: 256,
                server_time: 1_700_000_000,
            }
        );
        // The script used Telegram's published dh_prime, which the fake DC sends too.
        let ServerDhParams::Ok {
            encrypted_answer, ..
        } = ServerDhParams::parse(&hex(SERVER_DH_PARAMS_OK_HEX)).unwrap()
        else {
            panic!("not server_DH_params_ok");
        };
        let inner = open_answer(&encrypted_answer, &new_nonce(), &SERVER_NONCE).unwrap();
        assert_eq!(inner.dh_prime, TELEGRAM_DH_PRIME);
        let g_a: Vec<u8> = (0..256)
            .map(|i| u8::try_from((13 * i + 1) % 256).unwrap())
            .collect();
        assert_eq!(inner.g_a, g_a);
    }

    #[test]
    fn tampered_server_answer_fails_the_hash() {
        let mut client = AuthClient::new(NONCE, new_nonce(), 2);
        let trusted = TrustedKeys::telegram().unwrap();
        client
            .on_res_pq(&hex(RES_PQ_HEX), &trusted, &mut rng())
            .unwrap();
        let answer = hex(SERVER_DH_PARAMS_OK_HEX);
        // One flipped bit anywhere in the encrypted answer (header: 4 + 16 + 16 + 4 bytes).
        for offset in [40, 41, 100, 400, answer.len() - 1] {
            let mut tampered = answer.clone();
            tampered[offset] ^= 0x20;
            assert_eq!(
                client.on_server_dh_params(&tampered),
                Err(AuthError::HashMismatch),
                "offset {offset}"
            );
        }
        // The right answer with another new_nonce (a server that could not decrypt ours).
        let mut other = AuthClient::new(NONCE, [0x55; 32], 2);
        other
            .on_res_pq(&hex(RES_PQ_HEX), &trusted, &mut rng())
            .unwrap();
        assert_eq!(
            other.on_server_dh_params(&answer),
            Err(AuthError::HashMismatch)
        );
    }

    #[test]
    fn doc_res_pq_parses_and_factors() {
        let message = hex(DOC_RES_PQ_MESSAGE);
        let plain = decode_plain(&message).unwrap();
        assert_eq!(plain.message_id % 4, 1);
        let res_pq = ResPq::parse(plain.body).unwrap();
        assert_eq!(
            res_pq.nonce.to_vec(),
            hex("75e622f3bc7d714632b833821fd7bb0c")
        );
        assert_eq!(
            res_pq.fingerprints,
            [
                0xd09d_1d85_de64_fd85,
                0x0bc3_5f35_09f7_b7a5,
                0xc3b4_2b02_6ce8_6b21
            ]
        );
        let pq = pq_from_bytes(&res_pq.pq).unwrap();
        assert_eq!(pq, 0x16e7_48b2_9522_c68f);
        assert_eq!(factorize(pq), Ok((1_145_839_111, 1_440_313_657)));
        for len in 0..plain.body.len() {
            assert!(ResPq::parse(&plain.body[..len]).is_err(), "prefix {len}");
        }
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

    /// Runs the client against a [`DcSession`] holding `server_key`.
    fn run_exchange(
        server_key: &DcPrivateKey,
        trusted: &TrustedKeys,
    ) -> Result<(ResPqOutcome, Verified), AuthError> {
        let mut rng = rng();
        let mut client = AuthClient::random(&mut rng, 2);
        let mut server = DcSession::new();
        let res_pq = server.answer(&client.req_pq_multi(), server_key, &mut rng, 1_234)?;
        let outcome = client.on_res_pq(&res_pq, trusted, &mut rng)?;
        let dh = server.answer(&outcome.req_dh_params_body, server_key, &mut rng, 1_234)?;
        Ok((outcome.clone(), client.on_server_dh_params(&dh)?))
    }

    #[test]
    fn client_and_lab_server_complete_the_exchange() {
        let key = lab_key();
        let trusted = TrustedKeys::new(vec![key.public().clone()]);
        let (outcome, verified) = run_exchange(&key, &trusted).unwrap();
        assert_eq!(outcome.fingerprint, key.fingerprint());
        assert_eq!(outcome.offered, [key.fingerprint()]);
        assert!(LAB_PQ_PAIRS.contains(&(outcome.p, outcome.q)));
        assert_eq!(verified.g, DH_G);
        assert_eq!(verified.dh_prime_len, 256);
        assert_eq!(verified.server_time, 1_234);
    }

    #[test]
    fn client_refuses_an_untrusted_server() {
        let impostor = impostor_key();
        let trusted = TrustedKeys::new(vec![lab_key().public().clone()]);
        assert_eq!(
            run_exchange(&impostor, &trusted).map(|_| ()),
            Err(AuthError::UnknownFingerprints(vec![impostor.fingerprint()]))
        );
        // An impostor that claims the lab key's fingerprint cannot answer for it.
        let mut rng = rng();
        let mut client = AuthClient::random(&mut rng, 2);
        let mut server = DcSession::new();
        let res_pq = server
            .answer(&client.req_pq_multi(), &impostor, &mut rng, 0)
            .unwrap();
        let mut claimed = ResPq::parse(&res_pq).unwrap();
        claimed.fingerprints = vec![lab_key().fingerprint()];
        let outcome = client
            .on_res_pq(&claimed.encode(), &trusted, &mut rng)
            .unwrap();
        let mut request = ReqDhParams::parse(&outcome.req_dh_params_body).unwrap();
        request.fingerprint = impostor.fingerprint();
        assert_eq!(
            server.answer(&request.encode(), &impostor, &mut rng, 0),
            Err(AuthError::RsaPadHash)
        );
    }

    #[test]
    fn server_checks_the_request() {
        let key = lab_key();
        let trusted = TrustedKeys::new(vec![key.public().clone()]);
        let mut rng = rng();
        let mut client = AuthClient::random(&mut rng, 2);
        let mut server = DcSession::new();
        assert_eq!(
            server.answer(&hex("bee412d7"), &key, &mut rng, 0),
            Err(AuthError::UnexpectedRequest(REQ_DH_PARAMS))
        );
        let res_pq = server
            .answer(&client.req_pq_multi(), &key, &mut rng, 0)
            .unwrap();
        let outcome = client.on_res_pq(&res_pq, &trusted, &mut rng).unwrap();
        let request = ReqDhParams::parse(&outcome.req_dh_params_body).unwrap();
        let mut wrong = request.clone();
        wrong.fingerprint ^= 1;
        assert_eq!(
            server.clone().answer(&wrong.encode(), &key, &mut rng, 0),
            Err(AuthError::WrongFingerprint(key.fingerprint() ^ 1))
        );
        let mut wrong = request.clone();
        wrong.p = vec![1];
        assert_eq!(
            server.clone().answer(&wrong.encode(), &key, &mut rng, 0),
            Err(AuthError::PqMismatch)
        );
        let mut wrong = request.clone();
        wrong.nonce[0] ^= 1;
        assert_eq!(
            server.clone().answer(&wrong.encode(), &key, &mut rng, 0),
            Err(AuthError::NonceMismatch)
        );
        server
            .answer(&outcome.req_dh_params_body, &key, &mut rng, 0)
            .unwrap();
        assert_eq!(
            server.answer(&outcome.req_dh_params_body, &key, &mut rng, 0),
            Err(AuthError::UnexpectedRequest(REQ_DH_PARAMS))
        );
    }

    #[test]
    fn client_checks_nonces_order_and_failures() {
        let trusted = TrustedKeys::telegram().unwrap();
        let mut client = AuthClient::new([0; 16], new_nonce(), 2);
        assert_eq!(
            client.on_server_dh_params(&hex(SERVER_DH_PARAMS_OK_HEX)),
            Err(AuthError::OutOfOrder("resPQ not handled yet"))
        );
        assert_eq!(
            client.on_res_pq(&hex(RES_PQ_HEX), &trusted, &mut rng()),
            Err(AuthError::NonceMismatch)
        );
        let mut client = AuthClient::new(NONCE, new_nonce(), 2);
        client
            .on_res_pq(&hex(RES_PQ_HEX), &trusted, &mut rng())
            .unwrap();
        assert!(matches!(
            client.on_res_pq(&hex(RES_PQ_HEX), &trusted, &mut rng()),
            Err(AuthError::OutOfOrder(_))
        ));
        let fail = ServerDhParams::Fail {
            nonce: NONCE,
            server_nonce: SERVER_NONCE,
            new_nonce_hash: [0; 16],
        };
        assert_eq!(
            client.on_server_dh_params(&fail.encode()),
            Err(AuthError::ServerDhFail)
        );
        let mut other_server = hex(SERVER_DH_PARAMS_OK_HEX);
        other_server[20] ^= 1;
        assert_eq!(
            client.on_server_dh_params(&other_server),
            Err(AuthError::ServerNonceMismatch)
        );
        let answer = hex(SERVER_DH_PARAMS_OK_HEX);
        for len in 0..answer.len() {
            assert!(
                client.on_server_dh_params(&answer[..len]).is_err(),
                "prefix {len}"
            );
        }
        // A pq that is not a product of two primes.
        let mut res_pq = ResPq::parse(&hex(RES_PQ_HEX)).unwrap();
        res_pq.pq = min_be(1_000_000_007);
        let mut client = AuthClient::new(NONCE, new_nonce(), 2);
        assert_eq!(
            client.on_res_pq(&res_pq.encode(), &trusted, &mut rng()),
            Err(AuthError::NotSemiprime(1_000_000_007))
        );
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..700)) {
            let _ = ResPq::parse(&data);
            let _ = ReqDhParams::parse(&data);
            let _ = ServerDhParams::parse(&data);
            let _ = ServerDhInnerData::parse(&data);
            let _ = PqInnerData::parse(&data);
            let _ = decode_plain(&data);
            let mut client = AuthClient::new(NONCE, new_nonce(), 2);
            let _ = client.on_res_pq(&data, &TrustedKeys::default(), &mut rng());
        }
    }
}
