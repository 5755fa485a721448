//! The server side of MTProto's auth-key exchange, for the lab's fake datacenter
//! ([`super::fake_dc`], which moves the frames): answers `req_pq_multi` with `resPQ` and
//! `req_DH_params` with `server_DH_params_ok`, decrypting the client's `p_q_inner_data_dc`
//! with a lab RSA key. Like the client it is pure, over TL bodies, with randomness passed in;
//! the messages and ciphers are the protocol layer's ([`crate::proto::mtproto::auth`]).

use rand::RngCore;
use sha1::{Digest as _, Sha1};

use crate::proto::mtproto::auth::{
    AES_BLOCK, AuthError, DH_G, Int128, PqInnerData, REQ_DH_PARAMS, REQ_PQ, REQ_PQ_MULTI,
    ReqDhParams, ResPq, ServerDhInnerData, ServerDhParams, TELEGRAM_DH_PRIME, check_nonces,
    ige_encrypt, min_be, rsa_pad_decrypt, tmp_aes_key_iv,
};
use crate::proto::mtproto::rsa::DcPrivateKey;
use crate::proto::mtproto::tl::Reader;

/// Products of two primes the fake DC hands out as `pq` (p < q, both about 31 bits). The
/// first two are the worked examples of core.telegram.org/mtproto/samples-auth_key.
pub(crate) const LAB_PQ_PAIRS: [(u64, u64); 2] = [
    (1_338_315_091, 1_710_990_221),
    (1_145_839_111, 1_440_313_657),
];

/// The server side of the exchange: one per connection to the fake datacenter.
#[derive(Debug, Clone, Default)]
pub(crate) struct DcSession {
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
        let mut padding = vec![0; (AES_BLOCK - with_hash.len() % AES_BLOCK) % AES_BLOCK];
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
    use super::*;
    use crate::lab::fake_dc::{impostor_dc_key, lab_dc_key};
    use crate::proto::mtproto::auth::vectors::{PQ_INNER_DATA_HEX, rng};
    use crate::proto::mtproto::auth::{AuthClient, ResPqOutcome, Verified, rsa_pad_encrypt};
    use crate::proto::mtproto::rsa::TrustedKeys;
    use crate::proto::mtproto::tl::testing::hex;

    /// The lab datacenter's key.
    fn lab_key() -> DcPrivateKey {
        lab_dc_key().unwrap()
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
        let impostor = impostor_dc_key().unwrap();
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
            rsa_pad_decrypt(&encrypted, &impostor_dc_key().unwrap()),
            Err(AuthError::RsaPadHash)
        );
        assert_eq!(
            rsa_pad_decrypt(&encrypted[1..], &key),
            Err(AuthError::CiphertextLength(255))
        );
    }
}
