//! A fake Telegram datacenter: answers the first two steps of MTProto's auth-key exchange
//! (`req_pq_multi` → `resPQ`, `req_DH_params` → `server_DH_params_ok`) with a lab RSA key,
//! so the auditor's "is the far end Telegram?" check can be shown working (with
//! [`lab_dc_key`], trusted by the lab profile) and failing (with [`impostor_dc_key`], which
//! nobody trusts).
//!
//! Wire format: a 4-byte protocol tag, `ee ee ee ee` (intermediate) or `dd dd dd dd` (padded
//! intermediate), then frames of a 4-byte little-endian length and a payload holding one
//! unencrypted message. In padded mode a frame may carry up to 15 padding bytes after the
//! message; the message's own length field tells where it ends. Answers use the request's
//! framing (padded answers get 0–15 random padding bytes). The lab's own MTProto proxies and
//! the auditor's SOCKS5 tunnels send the tag in clear; real proxy servers (such as
//! mtprotoproxy in the interop tests) open with a secret-less obfuscated2 init announcing
//! the tag, as they would to Telegram, and everything after it is encrypted
//! (`accept_direct_init`). Anything else closes the connection.
//!
//! Every read is bounded in time (the lab's 5-second step) and size (`MAX_FRAME`).
//! The protocol logic itself is `DcSession`; this module only moves frames.

use std::io;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::{Rng as _, RngCore, SeedableRng as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use super::dc_session::DcSession;
use super::route::{close_gracefully, serve_sessions, within};
use crate::proto::mtproto::obfs2::{INIT_LEN, Obfs2Cipher, ProtocolTag, accept_direct_init};
use crate::proto::mtproto::rsa::{DcPrivateKey, KeyError};
use crate::proto::mtproto::tl::{PLAIN_HEADER_LEN, decode_plain, encode_plain, server_message_id};

/// The lab datacenter's private key: a multi-prime key, listed prime by prime (see
/// `scripts/lab-dc-key.py` for why: its decryption is cheap enough not to crowd the auditor
/// off a shared machine, while a client's work is that of any 2048-bit key).
const LAB_DC_PRIMES: &str = include_str!("keys/lab-dc.primes");
/// The impostor datacenter's private key: a valid RSA key that no profile trusts.
const IMPOSTOR_DC_PEM: &str = include_str!("keys/impostor-dc.pem");

/// Largest frame payload accepted (the handshake's largest request is about 340 bytes).
pub(crate) const MAX_FRAME: usize = 64 * 1024;
/// Protocol tag of the intermediate transport.
pub(crate) const TAG_INTERMEDIATE: [u8; 4] = [0xee; 4];
/// Protocol tag of the padded intermediate transport.
pub(crate) const TAG_PADDED: [u8; 4] = [0xdd; 4];
/// Most padding bytes a padded-intermediate frame carries.
const MAX_PADDING: usize = 15;

/// The lab datacenter's key; its public half goes into the lab profile
/// (`DcPrivateKey::public_pem`, `DcPrivateKey::fingerprint`).
pub fn lab_dc_key() -> Result<DcPrivateKey, KeyError> {
    DcPrivateKey::from_primes(LAB_DC_PRIMES, "lab:lab-dc")
}

/// The impostor datacenter's key: a server with it is "not Telegram" to every profile.
pub fn impostor_dc_key() -> Result<DcPrivateKey, KeyError> {
    DcPrivateKey::from_pem(IMPOSTOR_DC_PEM, "lab:impostor-dc")
}

/// How frames are laid out on a connection, chosen by its protocol tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `ee ee ee ee`: length + payload.
    Intermediate,
    /// `dd dd dd dd`: length + payload + 0–15 padding bytes counted in the length.
    PaddedIntermediate,
}

impl Framing {
    /// The framing a protocol tag announces.
    pub(crate) fn from_tag(tag: [u8; 4]) -> Option<Self> {
        match tag {
            TAG_INTERMEDIATE => Some(Self::Intermediate),
            TAG_PADDED => Some(Self::PaddedIntermediate),
            _ => None,
        }
    }

    /// Frames `message`, adding random padding in padded mode.
    pub fn frame(self, message: &[u8], rng: &mut impl RngCore) -> Vec<u8> {
        let padding = match self {
            Self::Intermediate => 0,
            Self::PaddedIntermediate => rng.random_range(0..=MAX_PADDING),
        };
        let len = u32::try_from(message.len() + padding).unwrap_or(u32::MAX);
        let mut frame = Vec::with_capacity(4 + message.len() + padding);
        frame.extend_from_slice(&len.to_le_bytes());
        frame.extend_from_slice(message);
        let start = frame.len();
        frame.resize(start + padding, 0);
        if let Some(tail) = frame.get_mut(start..) {
            rng.fill_bytes(tail);
        }
        frame
    }
}

/// Serves the fake datacenter on `listener` until dropped, one task per connection.
pub(crate) async fn serve_fake_dc(listener: TcpListener, key: Arc<DcPrivateKey>) {
    serve_sessions(listener, move |stream, _peer| {
        let key = Arc::clone(&key);
        async move {
            // A failed session only ends its own connection.
            let _ = session(stream, &key).await;
        }
    })
    .await;
}

/// One connection's bytes, decrypted and encrypted when it opened with an obfuscated2 init.
struct Wire {
    /// The connection.
    stream: TcpStream,
    /// The datacenter's side of the obfuscation, when there is one.
    cipher: Option<Obfs2Cipher>,
}

impl Wire {
    /// Reads exactly `buf.len()` bytes (within the lab's step) and decrypts them.
    async fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        within(self.stream.read_exact(buf)).await?;
        if let Some(cipher) = &mut self.cipher {
            cipher.decrypt.apply(buf);
        }
        Ok(())
    }

    /// Encrypts and writes `data` (within the lab's step).
    async fn write_all(&mut self, mut data: Vec<u8>) -> io::Result<()> {
        if let Some(cipher) = &mut self.cipher {
            cipher.encrypt.apply(&mut data);
        }
        within(self.stream.write_all(&data)).await
    }
}

/// Reads the opening: a clear tag, or a direct obfuscated2 init announcing one. `None`
/// for anything else (including the abridged transport, which the lab does not speak).
async fn open(mut stream: TcpStream) -> io::Result<Option<(Wire, Framing)>> {
    let mut init = [0; INIT_LEN];
    let (head, rest) = init.split_at_mut(4);
    within(stream.read_exact(head)).await?;
    if let Some(framing) = <[u8; 4]>::try_from(&*head).ok().and_then(Framing::from_tag) {
        let wire = Wire {
            stream,
            cipher: None,
        };
        return Ok(Some((wire, framing)));
    }
    within(stream.read_exact(rest)).await?;
    let Ok(accepted) = accept_direct_init(&init) else {
        return Ok(None);
    };
    let framing = match accepted.tag {
        ProtocolTag::Intermediate => Framing::Intermediate,
        ProtocolTag::PaddedIntermediate => Framing::PaddedIntermediate,
        ProtocolTag::Abridged => return Ok(None),
    };
    let wire = Wire {
        stream,
        cipher: Some(accepted.cipher),
    };
    Ok(Some((wire, framing)))
}

/// One connection: tag, then request/answer frames until the client stops or errs.
async fn session(stream: TcpStream, key: &DcPrivateKey) -> io::Result<()> {
    let Some((mut wire, framing)) = open(stream).await? else {
        return Ok(());
    };
    let mut rng = StdRng::from_rng(&mut rand::rng());
    let mut dc = DcSession::new();
    let mut counter = 0;
    while let Some(payload) = read_frame(&mut wire).await? {
        let Ok(message) = decode_plain(&payload) else {
            return Ok(());
        };
        let now = unix_time();
        let server_time = i32::try_from(now).unwrap_or(i32::MAX);
        let Ok(answer) = dc.answer(message.body, key, &mut rng, server_time) else {
            return Ok(());
        };
        counter += 1;
        let reply = encode_plain(server_message_id(now, counter), &answer);
        wire.write_all(framing.frame(&reply, &mut rng)).await?;
    }
    close_gracefully(wire.stream).await;
    Ok(())
}

/// Reads one frame's payload; `None` when the client closed the connection between frames.
/// Lengths outside what an unencrypted message can be (or above [`MAX_FRAME`]) are errors.
async fn read_frame(wire: &mut Wire) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0; 4];
    match wire.read_exact(&mut len).await {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(error) => return Err(error),
    }
    let len = usize::try_from(u32::from_le_bytes(len)).unwrap_or(usize::MAX);
    if !(PLAIN_HEADER_LEN..=MAX_FRAME).contains(&len) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes"),
        ));
    }
    let mut payload = vec![0; len];
    wire.read_exact(&mut payload).await?;
    Ok(Some(payload))
}

/// Seconds since the Unix epoch (0 if the clock is before it), as MTProto's u32 time.
fn unix_time() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u32::try_from(elapsed.as_secs()).unwrap_or(u32::MAX)
        })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rsa::RsaPublicKey;
    use rsa::pkcs1::DecodeRsaPublicKey as _;
    use rsa::pkcs8::{EncodePublicKey as _, LineEnding};

    use super::*;
    use crate::proto::mtproto::auth::{AuthClient, AuthError, Verified};
    use crate::proto::mtproto::obfs2::ObfuscatedInit;
    use crate::proto::mtproto::rsa::{MODULUS_LEN, TrustedKeys, load_pem};
    use crate::proto::mtproto::tl::{PlainMessage, client_message_id};

    /// The lab keys' fingerprints, from `tests/vectors/auth_fingerprints.py`: its
    /// `fingerprint` of the product of `lab-dc.primes` (e = 65537), and the script run on
    /// `openssl rsa -RSAPublicKey_out` of `impostor-dc.pem`.
    const LAB_DC_FINGERPRINT: u64 = 0x2b8f_42f1_41ef_b38e;
    /// See [`LAB_DC_FINGERPRINT`].
    const IMPOSTOR_DC_FINGERPRINT: u64 = 0xb218_5aa6_835a_0044;

    /// Starts a fake DC with `key` on a loopback port.
    async fn start(key: DcPrivateKey) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        (addr, tokio::spawn(serve_fake_dc(listener, Arc::new(key))))
    }

    /// A tiny framed client: writes frames with `padding` extra bytes, reads frames;
    /// obfuscated like a proxy towards a datacenter when `direct`.
    struct FramedClient {
        /// The connection.
        stream: TcpStream,
        /// Padding bytes added to each request (padded mode only).
        padding: usize,
        /// Message counter for client message ids.
        counter: u32,
        /// The client's side of a direct obfuscated2 opening.
        cipher: Option<Obfs2Cipher>,
        /// Whether the tag announced padded intermediate.
        padded: bool,
    }

    impl FramedClient {
        async fn connect(addr: std::net::SocketAddr, tag: [u8; 4], padding: usize) -> Self {
            Self::open(addr, tag, padding, false).await
        }

        async fn open(
            addr: std::net::SocketAddr,
            tag: [u8; 4],
            padding: usize,
            direct: bool,
        ) -> Self {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let cipher = if direct {
                let tag = ProtocolTag::from_bytes(tag).unwrap();
                let (wire, cipher) = ObfuscatedInit::generate(tag, 2).seal_direct();
                stream.write_all(&wire).await.unwrap();
                Some(cipher)
            } else {
                stream.write_all(&tag).await.unwrap();
                None
            };
            Self {
                stream,
                padding,
                counter: 0,
                cipher,
                padded: tag == TAG_PADDED,
            }
        }

        async fn send(&mut self, body: &[u8]) {
            self.counter += 1;
            let mut payload = encode_plain(client_message_id(1_700_000_000, self.counter), body);
            payload.extend(std::iter::repeat_n(0x5a, self.padding));
            let mut frame = u32::try_from(payload.len()).unwrap().to_le_bytes().to_vec();
            frame.extend_from_slice(&payload);
            if let Some(cipher) = &mut self.cipher {
                cipher.encrypt.apply(&mut frame);
            }
            self.stream.write_all(&frame).await.unwrap();
        }

        /// Reads one frame's payload, or `None` at EOF.
        async fn receive(&mut self) -> Option<Vec<u8>> {
            let read = async {
                let mut len = [0; 4];
                self.stream.read_exact(&mut len).await.ok()?;
                if let Some(cipher) = &mut self.cipher {
                    cipher.decrypt.apply(&mut len);
                }
                let mut payload = vec![0; u32::from_le_bytes(len) as usize];
                self.stream.read_exact(&mut payload).await.ok()?;
                if let Some(cipher) = &mut self.cipher {
                    cipher.decrypt.apply(&mut payload);
                }
                Some(payload)
            };
            tokio::time::timeout(Duration::from_secs(10), read)
                .await
                .unwrap()
        }
    }

    /// Checks an answer's envelope and returns its body.
    fn body(payload: &[u8], padded: bool) -> Vec<u8> {
        let PlainMessage {
            message_id,
            body,
            trailing,
        } = decode_plain(payload).unwrap();
        assert_eq!(message_id % 4, 1, "server message ids are 1 mod 4");
        assert!(trailing <= MAX_PADDING);
        if !padded {
            assert_eq!(trailing, 0);
        }
        body.to_vec()
    }

    /// Runs the exchange over TCP; `Err` from the client's checks.
    async fn exchange(
        addr: std::net::SocketAddr,
        tag: [u8; 4],
        padding: usize,
        trusted: &TrustedKeys,
    ) -> Result<Verified, AuthError> {
        exchange_over(FramedClient::connect(addr, tag, padding).await, trusted).await
    }

    /// The exchange over an open client.
    async fn exchange_over(
        mut framed: FramedClient,
        trusted: &TrustedKeys,
    ) -> Result<Verified, AuthError> {
        let padded = framed.padded;
        let mut rng = StdRng::seed_from_u64(3);
        let mut client = AuthClient::random(&mut rng, 2);
        framed.send(&client.req_pq_multi()).await;
        let res_pq = body(&framed.receive().await.unwrap(), padded);
        let outcome = client.on_res_pq(&res_pq, trusted, &mut rng)?;
        framed.send(&outcome.req_dh_params_body).await;
        let answer = body(&framed.receive().await.unwrap(), padded);
        client.on_server_dh_params(&answer)
    }

    fn lab_trust() -> TrustedKeys {
        TrustedKeys::new(vec![lab_dc_key().unwrap().public().clone()])
    }

    #[tokio::test]
    async fn answers_over_intermediate_and_padded_intermediate() {
        let (addr, server) = start(lab_dc_key().unwrap()).await;
        let before = i64::from(unix_time());
        for (tag, padding) in [(TAG_INTERMEDIATE, 0), (TAG_PADDED, 0), (TAG_PADDED, 13)] {
            let verified = exchange(addr, tag, padding, &lab_trust()).await.unwrap();
            assert_eq!(verified.g, 3);
            assert_eq!(verified.dh_prime_len, 256);
            assert!((i64::from(verified.server_time) - before).abs() < 60);
        }
        server.abort();
    }

    #[tokio::test]
    async fn answers_a_proxy_that_opens_with_a_direct_obfuscated_init() {
        let (addr, server) = start(lab_dc_key().unwrap()).await;
        for (tag, padding) in [(TAG_INTERMEDIATE, 0), (TAG_PADDED, 7)] {
            let framed = FramedClient::open(addr, tag, padding, true).await;
            let verified = exchange_over(framed, &lab_trust()).await.unwrap();
            assert_eq!(verified.g, 3);
        }
        // An abridged init, which the lab does not speak, is closed.
        let mut framed = FramedClient::open(addr, [0xef; 4], 0, true).await;
        framed.send(b"anyone?").await;
        assert_eq!(framed.receive().await, None);
        server.abort();
    }

    #[tokio::test]
    async fn impostor_is_not_trusted() {
        let impostor = impostor_dc_key().unwrap();
        let fingerprint = impostor.fingerprint();
        let (addr, server) = start(impostor).await;
        assert_eq!(
            exchange(addr, TAG_INTERMEDIATE, 0, &lab_trust()).await,
            Err(AuthError::UnknownFingerprints(vec![fingerprint]))
        );
        server.abort();
    }

    #[tokio::test]
    async fn closes_on_anything_else() {
        let (addr, server) = start(lab_dc_key().unwrap()).await;
        // An unknown protocol tag (abridged is not served).
        let mut framed = FramedClient::connect(addr, [0xef; 4], 0).await;
        framed
            .send(&AuthClient::new([1; 16], [2; 32], 2).req_pq_multi())
            .await;
        assert_eq!(framed.receive().await, None);
        // A request that is not the next step.
        let mut framed = FramedClient::connect(addr, TAG_INTERMEDIATE, 0).await;
        framed.send(&0xd712_e4be_u32.to_le_bytes()).await;
        assert_eq!(framed.receive().await, None);
        // An encrypted message (non-zero auth_key_id).
        let mut framed = FramedClient::connect(addr, TAG_INTERMEDIATE, 0).await;
        let mut frame = 24_u32.to_le_bytes().to_vec();
        frame.extend_from_slice(&[1; 24]);
        framed.stream.write_all(&frame).await.unwrap();
        assert_eq!(framed.receive().await, None);
        // A frame longer than allowed.
        let mut framed = FramedClient::connect(addr, TAG_INTERMEDIATE, 0).await;
        let too_long = u32::try_from(MAX_FRAME + 1).unwrap().to_le_bytes();
        framed.stream.write_all(&too_long).await.unwrap();
        assert_eq!(framed.receive().await, None);
        server.abort();
    }

    #[test]
    fn public_pem_exports_the_trusted_key() {
        let key = lab_dc_key().unwrap();
        let pem = key.public_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN RSA PUBLIC KEY-----"));
        let loaded = load_pem(&pem, "lab").unwrap();
        assert_eq!(loaded[0].fingerprint, key.fingerprint());
        assert_ne!(key.fingerprint(), impostor_dc_key().unwrap().fingerprint());
    }

    #[test]
    fn padded_frames_carry_at_most_fifteen_extra_bytes() {
        let mut rng = StdRng::seed_from_u64(1);
        let message = encode_plain(5, b"abcd");
        let mut lengths = std::collections::HashSet::new();
        for _ in 0..200 {
            let frame = Framing::PaddedIntermediate.frame(&message, &mut rng);
            let len = u32::from_le_bytes(frame[..4].try_into().unwrap()) as usize;
            assert_eq!(frame.len(), 4 + len);
            assert!((message.len()..=message.len() + MAX_PADDING).contains(&len));
            assert_eq!(decode_plain(&frame[4..]).unwrap().body, b"abcd");
            lengths.insert(len);
        }
        assert!(lengths.len() > 8, "padding varies");
        let frame = Framing::Intermediate.frame(&message, &mut rng);
        assert_eq!(&frame[4..], &message[..]);
    }

    #[test]
    fn spki_and_pkcs1_give_the_same_key() {
        let lab = lab_dc_key().unwrap();
        let pkcs1 = lab.public_pem().unwrap();
        assert!(pkcs1.starts_with("-----BEGIN RSA PUBLIC KEY-----"));
        let spki = RsaPublicKey::from_pkcs1_pem(&pkcs1)
            .unwrap()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        assert!(spki.starts_with("-----BEGIN PUBLIC KEY-----"));
        let both = format!("comment\n{pkcs1}\nmore comment\n{spki}");
        let keys = load_pem(&both, "lab").unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].fingerprint, LAB_DC_FINGERPRINT);
        assert_eq!(keys[1].fingerprint, LAB_DC_FINGERPRINT);
        assert_eq!(
            (keys[0].label.as_str(), keys[1].label.as_str()),
            ("lab:1", "lab:2")
        );
    }

    #[test]
    fn lab_keys_load_with_their_comment_headers() {
        let lab = lab_dc_key().unwrap();
        let impostor = impostor_dc_key().unwrap();
        assert_eq!(lab.fingerprint(), LAB_DC_FINGERPRINT);
        assert_eq!(impostor.fingerprint(), IMPOSTOR_DC_FINGERPRINT);
        // Raw RSA round trip through the CRT path.
        let message = [0x42; MODULUS_LEN - 1];
        let encrypted = lab.public().raw_encrypt(&message).unwrap();
        assert_ne!(&encrypted[1..], &message[..]);
        assert_eq!(&lab.raw_decrypt(&encrypted)[1..], &message[..]);
        assert_eq!(lab.raw_decrypt(&encrypted)[0], 0);
        // The other key cannot undo it, and undoes its own (the two-prime PEM path).
        assert_ne!(&impostor.raw_decrypt(&encrypted)[1..], &message[..]);
        let encrypted = impostor.public().raw_encrypt(&message).unwrap();
        assert_eq!(&impostor.raw_decrypt(&encrypted)[1..], &message[..]);
    }
}
