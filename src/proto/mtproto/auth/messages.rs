//! The TL messages of the auth-key exchange, encoded and parsed: the constructor ids, the
//! five messages client and server trade (`resPQ`, `p_q_inner_data_dc`, `req_DH_params`,
//! `server_DH_params_ok`/`_fail`, `server_DH_inner_data`), Telegram's DH parameters, and the
//! two small rules both sides follow (nonces must be echoed; numbers travel as big-endian
//! bytes without leading zeros). Pure TL over [`crate::proto::mtproto::tl`]; the client
//! (`client.rs`) and the lab's fake datacenter build on these.

use super::AuthError;
use crate::proto::mtproto::tl::{Reader, TlError, Writer};

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

/// A 128-bit nonce (`int128`, opaque bytes).
pub type Int128 = [u8; 16];
/// A 256-bit nonce (`int256`, opaque bytes).
pub type Int256 = [u8; 32];

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

/// Fails unless both nonces are the expected ones (the client checks the server's echoes,
/// the lab's server the client's).
pub(crate) fn check_nonces(
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

/// `value` big-endian without leading zero bytes (TL `bytes` of a number).
pub(crate) fn min_be(value: u64) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|&&byte| byte == 0).count();
    bytes.iter().skip(skip).copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::mtproto::auth::vectors::{
        NONCE, PQ_INNER_DATA_HEX, REQ_DH_PARAMS_HEX, RES_PQ_HEX, RSA_PAD_PRODUCTION_HEX,
        SERVER_NONCE, new_nonce, rng,
    };
    use crate::proto::mtproto::auth::{AuthClient, factorize, pq_from_bytes};
    use crate::proto::mtproto::rsa::TrustedKeys;
    use crate::proto::mtproto::tl::{decode_plain, testing::hex};

    /// A resPQ as received from a production server, from core.telegram.org/mtproto/
    /// samples-auth_key (whole unencrypted message); pq factored by the Python script's rho.
    const DOC_RES_PQ_MESSAGE: &str = concat!(
        "0000000000000000014c527921a972685000000063241605",
        "75e622f3bc7d714632b833821fd7bb0c8ec53ec050cb2d475b457baf445b49f5",
        "0816e748b29522c68f00000015c4b51c03000000",
        "85fd64de851d9dd0a5b7f709355fc30b216be86c022bb4c3",
    );

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
