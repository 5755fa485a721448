//! The client side of the auth-key exchange: [`AuthClient`] sends `req_pq_multi`, answers
//! `resPQ` with `req_DH_params` (our `new_nonce` encrypted to a key the profile trusts), and
//! checks that `server_DH_params_ok` decrypts and hashes correctly, which only the holder of
//! that key's private half can bring about. A state machine over TL bodies with no I/O: the
//! probe's MTProto check moves the bytes.

use rand::RngCore;
use sha1::{Digest as _, Sha1};

use super::{
    AES_BLOCK, AuthError, Int128, Int256, PqInnerData, REQ_PQ_MULTI, ReqDhParams, ResPq,
    ServerDhInnerData, ServerDhParams, check_nonces, factorize, ige_decrypt, min_be, pq_from_bytes,
    rsa_pad_encrypt, tmp_aes_key_iv,
};
use crate::proto::mtproto::rsa::TrustedKeys;
use crate::proto::mtproto::tl::Writer;

/// SHA-1 digest size.
const SHA1_LEN: usize = 20;

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
    let answer = (0..AES_BLOCK)
        .filter_map(|padding| rest.get(..rest.len().checked_sub(padding)?))
        .find(|answer| Sha1::digest(answer).as_slice() == hash)
        .ok_or(AuthError::HashMismatch)?;
    Ok(ServerDhInnerData::parse(answer)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::mtproto::auth::TELEGRAM_DH_PRIME;
    use crate::proto::mtproto::auth::vectors::{
        NONCE, REQ_DH_PARAMS_HEX, RES_PQ_HEX, SERVER_NONCE, new_nonce, rng,
    };
    use crate::proto::mtproto::tl::testing::hex;

    // Printed by `python3 tests/vectors/auth_vectors.py` (independent of this code).
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
}
