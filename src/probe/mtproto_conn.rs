//! A client connection through an MTProto proxy: the handshake a Telegram client makes,
//! then framed, encrypted payloads both ways.
//!
//! Hand-written on [`crate::proto::mtproto`] because no maintained crate implements the
//! proxy side of MTProto (obfuscated2 keyed by the proxy secret, padded intermediate,
//! FakeTLS); see `docs/MTPROTO.md` §5.
//!
//! | secret | what [`MtprotoConn::handshake`] does                                          |
//! |--------|--------------------------------------------------------------------------------|
//! | plain  | sends a 64-byte obfuscated2 init with tag `ee ee ee ee` (intermediate)          |
//! | dd     | the same with tag `dd dd dd dd` (padded intermediate)                           |
//! | ee     | sends a FakeTLS ClientHello, reads and verifies the server's answer, then sends `14 03 03 00 01 01` and the init (tag `dd`) in an ApplicationData record |
//!
//! The handshake keeps the exact bytes it sent ([`HandshakeInfo`]) and the cipher state
//! right after them, so a prober can replay the first flight on a new connection
//! ([`MtprotoConn::replay`]) and talk with the same keys: an honest proxy with replay
//! protection refuses the replay, a careless one relays it.
//!
//! Every read is bounded in bytes and by the caller's `step`; every failure is a
//! [`ConnError`], never a panic.

use std::fmt;
use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::time::timeout;

use crate::probe::dial::BoxStream;
use crate::proto::mtproto::faketls::{
    self, CHANGE_CIPHER_SPEC, CLIENT_RECORD_PAYLOAD, HelloParams, RecordReader,
};
use crate::proto::mtproto::obfs2::{Obfs2Cipher, ObfuscatedInit};
use crate::proto::mtproto::secret::{KEY_LEN, MtprotoSecret, SecretMode};
use crate::proto::mtproto::transport::{FrameDecoder, Framing};

/// Size of one socket read.
const READ_CHUNK: usize = 16 * 1024;

/// Why a connection through an MTProto proxy failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnError {
    /// A socket error (reset, broken pipe…).
    #[error("i/o error: {0}")]
    Io(String),
    /// The peer did not complete a step in time.
    #[error("timed out")]
    Timeout,
    /// The FakeTLS server answer is missing, malformed or not authenticated by the secret:
    /// wrong secret, hello rejected (and masked), or not an MTProto proxy.
    #[error("FakeTLS answer invalid: {0}")]
    FakeTlsInvalid(String),
    /// The peer closed the connection before answering.
    #[error("closed by the peer")]
    Closed,
    /// The peer's bytes break the transport (bad record, oversized frame…).
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl From<io::Error> for ConnError {
    /// An unexpected EOF is [`ConnError::Closed`]; anything else [`ConnError::Io`].
    fn from(error: io::Error) -> Self {
        if error.kind() == io::ErrorKind::UnexpectedEof {
            Self::Closed
        } else {
            Self::Io(error.to_string())
        }
    }
}

/// What a handshake sent, kept for replaying it.
#[derive(Clone)]
pub struct HandshakeInfo {
    /// The secret's mode.
    pub mode: SecretMode,
    /// The client's first flight, byte for byte: the ClientHello record for `ee`, the
    /// 64-byte init header for plain and `dd`.
    pub first_flight: Vec<u8>,
    /// `ee` only: what followed the verified server answer, `14 03 03 00 01 01` and the
    /// ApplicationData record carrying the 64-byte init.
    pub init_flight: Option<Vec<u8>>,
    /// `ee` only: length of the server answer (ServerHello, CCS, ApplicationData).
    pub server_answer_len: Option<usize>,
    /// `ee` only: the ClientHello random, which the server answer's HMAC covers.
    client_random: Option<[u8; 32]>,
    /// The secret's key, to verify a replayed server answer.
    key: [u8; KEY_LEN],
    /// The cipher right after the init: what a replay continues with.
    resume: Obfs2Cipher,
    /// The framing the init announced.
    framing: Framing,
}

impl fmt::Debug for HandshakeInfo {
    /// Sizes only: the flights and the cipher are key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandshakeInfo")
            .field("mode", &self.mode)
            .field("first_flight_len", &self.first_flight.len())
            .field("init_flight_len", &self.init_flight.as_ref().map(Vec::len))
            .field("server_answer_len", &self.server_answer_len)
            .finish_non_exhaustive()
    }
}

/// An open connection through an MTProto proxy, past the handshake.
pub struct MtprotoConn {
    /// The stream to the proxy.
    stream: BoxStream,
    /// The obfuscated2 streams, positioned after everything sent and received so far.
    cipher: Obfs2Cipher,
    /// How payloads are framed.
    framing: Framing,
    /// FakeTLS mode: the reader of incoming records (holding any bytes read past the
    /// server answer); `None` for plain and `dd`.
    tls: Option<RecordReader>,
    /// Decrypted transport bytes not yet returned as frames.
    frames: FrameDecoder,
    /// Time allowed for each write.
    step: Duration,
}

impl fmt::Debug for MtprotoConn {
    /// The framing and mode only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MtprotoConn")
            .field("framing", &self.framing)
            .field("faketls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl MtprotoConn {
    /// Runs the client handshake for `secret` over `stream`, asking for datacenter `dc`.
    ///
    /// `now_unix` goes into the FakeTLS ClientHello (the proxy checks it against its clock).
    /// Each write and the wait for the FakeTLS server answer get `step`. Plain and `dd`
    /// handshakes get no answer: whether the proxy relays shows at the first
    /// [`MtprotoConn::recv`].
    pub async fn handshake(
        stream: BoxStream,
        secret: &MtprotoSecret,
        dc: i16,
        step: Duration,
        now_unix: u32,
    ) -> Result<(Self, HandshakeInfo), ConnError> {
        let init = ObfuscatedInit::generate(framing_for(secret.mode()).tag(), dc);
        Self::handshake_with(
            stream,
            secret,
            &init,
            &HelloParams::random(),
            step,
            now_unix,
        )
        .await
    }

    /// [`MtprotoConn::handshake`] with the random parts given (tests use fixed vectors).
    async fn handshake_with(
        mut stream: BoxStream,
        secret: &MtprotoSecret,
        init: &ObfuscatedInit,
        hello: &HelloParams,
        step: Duration,
        now_unix: u32,
    ) -> Result<(Self, HandshakeInfo), ConnError> {
        let mode = secret.mode();
        let key = secret.key();
        let framing = framing_for(mode);
        let (wire, cipher) = init.seal(&key);
        let mut info = HandshakeInfo {
            mode,
            first_flight: wire.to_vec(),
            init_flight: None,
            server_answer_len: None,
            client_random: None,
            key,
            resume: cipher.clone(),
            framing,
        };
        let mut tls = None;
        if mode == SecretMode::Ee {
            let domain = secret.faketls_domain().unwrap_or_default();
            let client_hello = faketls::build_client_hello(domain, &key, now_unix, hello);
            let client_random = faketls::hello_random(&client_hello)
                .ok_or_else(|| ConnError::Protocol("ClientHello without a random".to_owned()))?;
            write_within(&mut stream, &client_hello, step).await?;
            let (answer_len, reader) =
                read_verified_answer(&mut stream, &key, &client_random, step).await?;
            let mut init_flight = CHANGE_CIPHER_SPEC.to_vec();
            faketls::wrap_records(&wire, CLIENT_RECORD_PAYLOAD, &mut init_flight);
            write_within(&mut stream, &init_flight, step).await?;
            info.first_flight = client_hello;
            info.init_flight = Some(init_flight);
            info.server_answer_len = Some(answer_len);
            info.client_random = Some(client_random);
            tls = Some(reader);
        } else {
            write_within(&mut stream, &wire, step).await?;
        }
        let conn = Self::new(stream, cipher, framing, tls, step);
        Ok((conn, info))
    }

    /// Replays a handshake's first flight on a new connection to the same proxy and
    /// continues with the original keys (a replayed init yields the same keys).
    ///
    /// For `ee` the proxy must answer the replayed ClientHello with an answer that verifies
    /// for the original client random, else [`ConnError::FakeTlsInvalid`] (a proxy with
    /// replay protection masks the connection) or [`ConnError::Closed`]. For plain and `dd`
    /// nothing comes back yet: send a payload and [`MtprotoConn::recv`]; an answer means
    /// the proxy relayed the replay.
    pub(crate) async fn replay(
        mut stream: BoxStream,
        info: &HandshakeInfo,
        step: Duration,
    ) -> Result<Self, ConnError> {
        write_within(&mut stream, &info.first_flight, step).await?;
        let mut tls = None;
        if let (Some(client_random), Some(init_flight)) = (&info.client_random, &info.init_flight) {
            let (_, reader) =
                read_verified_answer(&mut stream, &info.key, client_random, step).await?;
            write_within(&mut stream, init_flight, step).await?;
            tls = Some(reader);
        }
        Ok(Self::new(
            stream,
            info.resume.clone(),
            info.framing,
            tls,
            step,
        ))
    }

    /// A connection past its handshake.
    fn new(
        stream: BoxStream,
        cipher: Obfs2Cipher,
        framing: Framing,
        tls: Option<RecordReader>,
        step: Duration,
    ) -> Self {
        Self {
            stream,
            cipher,
            framing,
            tls,
            frames: FrameDecoder::default(),
            step,
        }
    }

    /// The framing in use (padded intermediate adds up to 15 bytes to what
    /// [`MtprotoConn::recv`] returns).
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Frames, encrypts and writes `payload` (in ApplicationData records for FakeTLS),
    /// within the handshake's `step`.
    pub async fn send(&mut self, payload: &[u8]) -> Result<(), ConnError> {
        let mut frame = Vec::with_capacity(payload.len() + 24);
        self.framing
            .encode(payload, &mut frame)
            .map_err(|error| ConnError::Protocol(error.to_string()))?;
        self.cipher.encrypt.apply(&mut frame);
        let wire = if self.tls.is_some() {
            let mut records = Vec::with_capacity(frame.len() + 16);
            faketls::wrap_records(&frame, CLIENT_RECORD_PAYLOAD, &mut records);
            records
        } else {
            frame
        };
        write_within(&mut self.stream, &wire, self.step).await
    }

    /// Reads one transport frame of at most `max` bytes within `step`, and returns its
    /// payload (padding included in padded-intermediate mode: the MTProto message carries
    /// its own length).
    ///
    /// EOF before a whole frame is [`ConnError::Closed`]; a larger frame, a bad record or
    /// a non-ApplicationData record is [`ConnError::Protocol`].
    pub(crate) async fn recv(&mut self, max: usize, step: Duration) -> Result<Vec<u8>, ConnError> {
        self.frames.set_max(max);
        let Self {
            stream,
            cipher,
            tls,
            frames,
            ..
        } = self;
        let read = async {
            let mut chunk = vec![0_u8; READ_CHUNK];
            loop {
                if let Some(frame) = frames.next_frame().map_err(protocol)? {
                    return Ok(frame);
                }
                let read = stream.read(&mut chunk).await?;
                let bytes = chunk.get_mut(..read).unwrap_or_default();
                if bytes.is_empty() {
                    return Err(ConnError::Closed);
                }
                if let Some(reader) = tls {
                    reader.push(bytes);
                    while let Some(mut payload) = reader.next_payload().map_err(protocol)? {
                        cipher.decrypt.apply(&mut payload);
                        frames.push(&payload);
                    }
                } else {
                    cipher.decrypt.apply(bytes);
                    frames.push(bytes);
                }
            }
        };
        timeout(step, read).await.map_err(|_| ConnError::Timeout)?
    }
}

/// The framing each secret mode requires.
fn framing_for(mode: SecretMode) -> Framing {
    match mode {
        SecretMode::Plain => Framing::Intermediate,
        SecretMode::Dd | SecretMode::Ee => Framing::PaddedIntermediate,
    }
}

/// A transport or record error as [`ConnError::Protocol`].
fn protocol(error: impl fmt::Display) -> ConnError {
    ConnError::Protocol(error.to_string())
}

/// Writes all of `bytes` and flushes, within `step`.
async fn write_within(
    stream: &mut BoxStream,
    bytes: &[u8],
    step: Duration,
) -> Result<(), ConnError> {
    let write = async {
        stream.write_all(bytes).await?;
        stream.flush().await
    };
    timeout(step, write)
        .await
        .map_err(|_| ConnError::Timeout)?
        .map_err(ConnError::from)
}

/// Reads the FakeTLS server answer within `step` and verifies it against `client_random`.
///
/// Returns the answer's length and a record reader holding any bytes read past it.
/// Nothing at all before EOF is [`ConnError::Closed`]; a short, malformed or
/// unauthenticated answer is [`ConnError::FakeTlsInvalid`].
async fn read_verified_answer(
    stream: &mut BoxStream,
    key: &[u8; KEY_LEN],
    client_random: &[u8; 32],
    step: Duration,
) -> Result<(usize, RecordReader), ConnError> {
    let invalid = |error: faketls::FakeTlsError| ConnError::FakeTlsInvalid(error.to_string());
    let read = async {
        let mut buf = Vec::new();
        let mut chunk = vec![0_u8; READ_CHUNK];
        loop {
            // `server_answer_len` rejects oversized headers, so `buf` stays bounded.
            if let Some(len) = faketls::server_answer_len(&buf).map_err(invalid)? {
                return Ok((buf, len));
            }
            let read = stream.read(&mut chunk).await?;
            let bytes = chunk.get(..read).unwrap_or_default();
            if bytes.is_empty() {
                return Err(if buf.is_empty() {
                    ConnError::Closed
                } else {
                    ConnError::FakeTlsInvalid(
                        "connection closed inside the server answer".to_owned(),
                    )
                });
            }
            buf.extend_from_slice(bytes);
        }
    };
    let (buf, len) = timeout(step, read)
        .await
        .map_err(|_| ConnError::Timeout)??;
    let (answer, rest) = buf.split_at_checked(len).unwrap_or((&buf, &[]));
    faketls::verify_server_answer(key, client_random, answer).map_err(invalid)?;
    let mut reader = RecordReader::new();
    reader.push(rest);
    Ok((len, reader))
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};

    use super::*;
    use crate::proto::mtproto::faketls::{AnswerParams, verify_client_hello};
    use crate::proto::mtproto::obfs2::{ProtocolTag, accept_init};

    const STEP: Duration = Duration::from_secs(5);
    const NOW: u32 = 1_700_000_000;
    const KEY_HEX: &str = "0123456789abcdeffedcba9876543210";

    fn secret(mode: SecretMode) -> MtprotoSecret {
        let text = match mode {
            SecretMode::Plain => KEY_HEX.to_owned(),
            SecretMode::Dd => format!("dd{KEY_HEX}"),
            SecretMode::Ee => format!("ee{KEY_HEX}{}", hex_of(b"mask.lab.test")),
        };
        MtprotoSecret::decode(&text).unwrap()
    }

    fn hex_of(bytes: &[u8]) -> String {
        bytes.iter().fold(String::new(), |mut text, byte| {
            let _ = write!(text, "{byte:02x}");
            text
        })
    }

    fn hex(text: &str) -> Vec<u8> {
        let text: String = text.split_whitespace().collect();
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    /// How the test proxy answers the ClientHello.
    #[derive(Clone, Copy, PartialEq)]
    enum Answer {
        Good,
        BadHmac,
    }

    /// A minimal proxy-and-echo on the far end of a duplex, built from the server-side
    /// functions: handshake, then echo every decrypted byte back encrypted.
    async fn echo_proxy(mut server: DuplexStream, secret: MtprotoSecret, answer: Answer) {
        let key = secret.key();
        let mut records = None;
        let init = if secret.mode() == SecretMode::Ee {
            let mut header = [0_u8; 5];
            server.read_exact(&mut header).await.unwrap();
            let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
            let mut record = header.to_vec();
            record.resize(5 + len, 0);
            server.read_exact(&mut record[5..]).await.unwrap();
            let hello = verify_client_hello(&record, &key, NOW, 120).unwrap();
            let mut reply = faketls::build_server_answer(&key, &hello, &AnswerParams::random());
            if answer == Answer::BadHmac {
                reply[20] ^= 1;
            }
            server.write_all(&reply).await.unwrap();
            let mut reader = RecordReader::new();
            let mut got = Vec::new();
            while got.len() < 64 {
                let mut chunk = [0_u8; 1024];
                let n = server.read(&mut chunk).await.unwrap();
                if n == 0 {
                    return;
                }
                reader.push(&chunk[..n]);
                while let Some(payload) = reader.next_payload().unwrap() {
                    got.extend(payload);
                }
            }
            records = Some(reader);
            got
        } else {
            let mut init = vec![0_u8; 64];
            server.read_exact(&mut init).await.unwrap();
            init
        };
        let mut accepted = accept_init(&init[..64].try_into().unwrap(), &key).unwrap();
        let mut pending = init[64..].to_vec();
        accepted.cipher.decrypt.apply(&mut pending);
        loop {
            if !pending.is_empty() {
                accepted.cipher.encrypt.apply(&mut pending);
                let mut out = Vec::new();
                if records.is_some() {
                    faketls::wrap_records(&pending, 1000, &mut out);
                } else {
                    out = pending.clone();
                }
                server.write_all(&out).await.unwrap();
                pending.clear();
            }
            let mut chunk = [0_u8; 4096];
            let n = match server.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if let Some(reader) = records.as_mut() {
                reader.push(&chunk[..n]);
                while let Some(payload) = reader.next_payload().unwrap() {
                    pending.extend(payload);
                }
            } else {
                pending.extend_from_slice(&chunk[..n]);
            }
            accepted.cipher.decrypt.apply(&mut pending);
        }
    }

    async fn connect(mode: SecretMode) -> (MtprotoConn, HandshakeInfo) {
        let (client, server) = duplex(1 << 16);
        tokio::spawn(echo_proxy(server, secret(mode), Answer::Good));
        MtprotoConn::handshake(Box::new(client), &secret(mode), 2, STEP, NOW)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn round_trips_in_every_mode() {
        for mode in [SecretMode::Plain, SecretMode::Dd, SecretMode::Ee] {
            let (mut conn, info) = connect(mode).await;
            assert_eq!(info.mode, mode);
            let payload: Vec<u8> = (0..251_u8).cycle().take(5000).collect();
            conn.send(&payload).await.unwrap();
            let echoed = conn.recv(1 << 16, STEP).await.unwrap();
            assert!(echoed.starts_with(&payload), "{mode}");
            assert!(echoed.len() <= payload.len() + 15);
            if mode == SecretMode::Plain {
                assert_eq!(echoed, payload);
            }
            conn.send(b"second").await.unwrap();
            assert!(conn.recv(64, STEP).await.unwrap().starts_with(b"second"));
        }
    }

    #[tokio::test]
    async fn first_flights_have_the_expected_shape() {
        let (_, plain) = connect(SecretMode::Plain).await;
        assert_eq!(plain.first_flight.len(), 64);
        assert!(plain.init_flight.is_none());
        let (_, ee) = connect(SecretMode::Ee).await;
        assert_eq!(&ee.first_flight[..5], &[0x16, 0x03, 0x01, 0x02, 0x00]);
        assert_eq!(ee.first_flight.len(), 517);
        let init_flight = ee.init_flight.unwrap();
        assert_eq!(&init_flight[..11], &hex("140303000101 1703030040"));
        assert_eq!(init_flight.len(), 6 + 5 + 64);
        assert!(ee.server_answer_len.unwrap() > 1024);
    }

    #[tokio::test]
    async fn replayed_first_flight_continues_with_the_same_keys() {
        for mode in [SecretMode::Plain, SecretMode::Dd, SecretMode::Ee] {
            let (_, info) = connect(mode).await;
            let (client, server) = duplex(1 << 16);
            // The test proxy has no replay protection: it must accept the same bytes.
            tokio::spawn(echo_proxy(server, secret(mode), Answer::Good));
            let mut conn = MtprotoConn::replay(Box::new(client), &info, STEP)
                .await
                .unwrap();
            conn.send(b"replayed").await.unwrap();
            assert!(conn.recv(64, STEP).await.unwrap().starts_with(b"replayed"));
        }
    }

    #[tokio::test]
    async fn spec_vector_b_first_flight_and_answer() {
        // docs/MTPROTO.md §4, vector B: dd secret, dc 2, a fixed init; then the sample DC answer.
        let secret = MtprotoSecret::decode("dd0123456789abcdeffedcba9876543210").unwrap();
        let init = ObfuscatedInit::from_bytes(
            hex(
                "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\
                 202122232425262728292a2b2c2d2e2f3031323334353637dddddddd02003e3f",
            )
            .try_into()
            .unwrap(),
            ProtocolTag::PaddedIntermediate,
            2,
        );
        let (client, mut server) = duplex(4096);
        let (mut conn, info) = MtprotoConn::handshake_with(
            Box::new(client),
            &secret,
            &init,
            &HelloParams::random(),
            STEP,
            NOW,
        )
        .await
        .unwrap();
        let wire = hex(
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\
             202122232425262728292a2b2c2d2e2f30313233343536378474af9931927338",
        );
        assert_eq!(info.first_flight, wire);
        let mut seen = vec![0_u8; 64];
        server.read_exact(&mut seen).await.unwrap();
        assert_eq!(seen, wire);

        server
            .write_all(&hex(
                "6edf617d353d6af553b99dc510a7cf1c676cfee5fcd796b38d6cfc144263188d\
                 9c37f6237d802090b724c967385fceecf2872f3ee12bbf0d1cce6ff47a95ded7\
                 38d686fe6d3b91b8e221ad46770d9e9cbab39884c215f8bd",
            ))
            .await
            .unwrap();
        let frame = conn.recv(1024, STEP).await.unwrap();
        let plaintext = hex(
            "5400000000000000000000000128fbd2ebe577674000000063241605a0a1a2a3\
             a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf0817ed48\
             941a08f98100000015c4b51c0100000045e475541f8df2c0",
        );
        assert_eq!(frame, plaintext[4..]);
    }

    #[tokio::test]
    async fn wrong_server_hmac_is_faketls_invalid() {
        let (client, server) = duplex(1 << 16);
        tokio::spawn(echo_proxy(server, secret(SecretMode::Ee), Answer::BadHmac));
        let error = MtprotoConn::handshake(Box::new(client), &secret(SecretMode::Ee), 2, STEP, NOW)
            .await
            .unwrap_err();
        assert_eq!(error, ConnError::FakeTlsInvalid("HMAC mismatch".to_owned()));
    }

    /// Runs an ee handshake against a peer that reads the hello and then answers `reply`
    /// (and closes when `close` is set).
    async fn ee_against(reply: Vec<u8>, close: bool) -> ConnError {
        let (client, mut server) = duplex(1 << 16);
        tokio::spawn(async move {
            let mut hello = [0_u8; 517];
            server.read_exact(&mut hello).await.unwrap();
            server.write_all(&reply).await.unwrap();
            if !close {
                std::future::pending::<()>().await;
            }
        });
        MtprotoConn::handshake(Box::new(client), &secret(SecretMode::Ee), 2, STEP, NOW)
            .await
            .unwrap_err()
    }

    #[tokio::test(start_paused = true)]
    async fn bad_or_missing_answers_are_classified() {
        assert_eq!(ee_against(Vec::new(), true).await, ConnError::Closed);
        assert!(matches!(
            ee_against(b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec(), true).await,
            ConnError::FakeTlsInvalid(_)
        ));
        assert!(matches!(
            ee_against(hex("160303007a0200"), true).await,
            ConnError::FakeTlsInvalid(_)
        ));
        assert_eq!(
            ee_against(hex("160303007a0200"), false).await,
            ConnError::Timeout
        );
        assert_eq!(ee_against(Vec::new(), false).await, ConnError::Timeout);
    }

    /// A plain-mode connection and the server's cipher for it.
    async fn plain_pair() -> (MtprotoConn, DuplexStream, Obfs2Cipher) {
        let (client, mut server) = duplex(1 << 16);
        let secret = secret(SecretMode::Plain);
        let (conn, _) = MtprotoConn::handshake(Box::new(client), &secret, 2, STEP, NOW)
            .await
            .unwrap();
        let mut init = [0_u8; 64];
        server.read_exact(&mut init).await.unwrap();
        let accepted = accept_init(&init, &secret.key()).unwrap();
        assert_eq!(accepted.tag, ProtocolTag::Intermediate);
        assert_eq!(accepted.dc, 2);
        (conn, server, accepted.cipher)
    }

    #[tokio::test(start_paused = true)]
    async fn recv_is_bounded_in_time_and_size() {
        let (mut conn, mut server, mut cipher) = plain_pair().await;
        assert_eq!(conn.recv(64, STEP).await, Err(ConnError::Timeout));
        let mut header = 1000_u32.to_le_bytes();
        cipher.encrypt.apply(&mut header);
        server.write_all(&header).await.unwrap();
        assert!(matches!(
            conn.recv(64, STEP).await,
            Err(ConnError::Protocol(_))
        ));

        let (mut conn, mut server, mut cipher) = plain_pair().await;
        let mut partial = b"\x10\x00\x00\x00half".to_vec();
        cipher.encrypt.apply(&mut partial);
        server.write_all(&partial).await.unwrap();
        drop(server);
        assert_eq!(conn.recv(64, STEP).await, Err(ConnError::Closed));
    }
}

/// This client against the lab's servers: its honest and misbehaving MTProto proxies
/// ([`crate::lab::mtproxy`]) and its hostile MTProto endpoints ([`crate::lab::hostile`]).
/// The probe may use the lab, not the other way round, so these tests live here.
#[cfg(test)]
mod against_the_lab {
    use std::fmt::Write as _;
    use std::io;
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use rustls::RootCertStore;
    use rustls_pki_types::ServerName;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::mpsc;
    use tokio_rustls::TlsConnector;

    use super::{ConnError, HandshakeInfo, MtprotoConn};
    use crate::lab::ca::LabCa;
    use crate::lab::hostile::{serve_faketls_bad_lengths, serve_mtproto_endless};
    use crate::lab::mtproxy::{MtproxyBehaviour, serve_mtproxy};
    use crate::lab::origins::serve_tls_origin;
    use crate::proto::mtproto::secret::{MtprotoSecret, SecretMode};

    const WAIT: Duration = Duration::from_secs(5);
    const KEY_HEX: &str = "00112233445566778899aabbccddeeff";
    const DOMAIN: &str = "mask.lab.test";
    const MASK_BODY: &[u8] = b"the real mask site\n";

    /// The system clock as Unix seconds, as FakeTLS timestamps count.
    fn unix_now() -> u32 {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        u32::try_from(secs).unwrap_or(u32::MAX)
    }

    fn secret(mode: SecretMode) -> MtprotoSecret {
        let domain_hex = DOMAIN.bytes().fold(String::new(), |mut text, byte| {
            let _ = write!(text, "{byte:02x}");
            text
        });
        MtprotoSecret::decode(&match mode {
            SecretMode::Plain => KEY_HEX.to_owned(),
            SecretMode::Dd => format!("dd{KEY_HEX}"),
            SecretMode::Ee => format!("ee{KEY_HEX}{domain_hex}"),
        })
        .unwrap()
    }

    /// A DC that reads the 4-byte tag (reported on `tags`), then echoes each frame.
    async fn echo_dc() -> (SocketAddr, mpsc::UnboundedReceiver<[u8; 4]>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tags, seen) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(echo_frames(stream, tags.clone()));
            }
        });
        (addr, seen)
    }

    /// One echo-DC connection: the tag, then each frame written back as it came.
    async fn echo_frames(
        mut stream: TcpStream,
        tags: mpsc::UnboundedSender<[u8; 4]>,
    ) -> io::Result<()> {
        let mut tag = [0_u8; 4];
        stream.read_exact(&mut tag).await?;
        let _ = tags.send(tag);
        loop {
            let mut header = [0_u8; 4];
            stream.read_exact(&mut header).await?;
            let mut frame = vec![0_u8; u32::from_le_bytes(header) as usize];
            stream.read_exact(&mut frame).await?;
            stream.write_all(&header).await?;
            stream.write_all(&frame).await?;
        }
    }

    async fn proxy(mode: SecretMode, behaviour: MtproxyBehaviour, dc: SocketAddr) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve_mtproxy(
            listener,
            secret(mode),
            Arc::new(behaviour),
            dc,
        ));
        addr
    }

    fn honest(replay_protection: bool) -> MtproxyBehaviour {
        MtproxyBehaviour::Honest {
            mask_to: None,
            replay_protection,
        }
    }

    async fn handshake(
        addr: SocketAddr,
        mode: SecretMode,
    ) -> Result<(MtprotoConn, HandshakeInfo), ConnError> {
        let stream = TcpStream::connect(addr).await.unwrap();
        MtprotoConn::handshake(Box::new(stream), &secret(mode), 2, WAIT, unix_now()).await
    }

    async fn round_trip(conn: &mut MtprotoConn, payload: &[u8]) -> Result<Vec<u8>, ConnError> {
        conn.send(payload).await?;
        conn.recv(1 << 16, WAIT).await
    }

    #[tokio::test]
    async fn round_trips_through_the_proxy_in_every_mode() {
        let (dc, mut tags) = echo_dc().await;
        for (mode, tag) in [
            (SecretMode::Plain, [0xee; 4]),
            (SecretMode::Dd, [0xdd; 4]),
            (SecretMode::Ee, [0xdd; 4]),
        ] {
            let addr = proxy(mode, honest(true), dc).await;
            let (mut conn, _) = handshake(addr, mode).await.unwrap();
            let payload: Vec<u8> = (0..253_u8).cycle().take(40_000).collect();
            let echoed = round_trip(&mut conn, &payload).await.unwrap();
            assert!(echoed.starts_with(&payload), "{mode}");
            assert!(echoed.len() <= payload.len() + 15);
            assert_eq!(tags.recv().await, Some(tag), "{mode}");
            let echoed = round_trip(&mut conn, b"again").await.unwrap();
            assert!(echoed.starts_with(b"again"));
        }
    }

    #[tokio::test]
    async fn replays_are_refused_with_protection_and_relayed_without() {
        let (dc, _tags) = echo_dc().await;
        for mode in [SecretMode::Plain, SecretMode::Dd, SecretMode::Ee] {
            for protection in [true, false] {
                let addr = proxy(mode, honest(protection), dc).await;
                let (mut conn, info) = handshake(addr, mode).await.unwrap();
                round_trip(&mut conn, b"original").await.unwrap();
                let stream = TcpStream::connect(addr).await.unwrap();
                let replayed = match MtprotoConn::replay(Box::new(stream), &info, WAIT).await {
                    Ok(mut conn) => round_trip(&mut conn, b"replayed").await,
                    Err(error) => Err(error),
                };
                if protection {
                    assert!(
                        matches!(replayed, Err(ConnError::Closed | ConnError::Io(_))),
                        "{mode}: {replayed:?}"
                    );
                } else {
                    assert!(replayed.unwrap().starts_with(b"replayed"), "{mode}");
                }
            }
        }
    }

    /// A TLS site for `DOMAIN` signed by `ca`.
    async fn mask_site(ca: &LabCa) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = ca.server_config(&[DOMAIN]).unwrap();
        tokio::spawn(serve_tls_origin(listener, config, MASK_BODY));
        addr
    }

    #[tokio::test]
    async fn tls_clients_are_masked_to_the_real_site() {
        let ca = LabCa::new("Lab Root", "proxy-audit lab").unwrap();
        let (dc, _tags) = echo_dc().await;
        let behaviour = MtproxyBehaviour::Honest {
            mask_to: Some(mask_site(&ca).await),
            replay_protection: true,
        };
        let addr = proxy(SecretMode::Ee, behaviour, dc).await;

        let mut roots = RootCertStore::empty();
        roots.add(ca.cert_der()).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut tls = TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from(DOMAIN).unwrap(), tcp)
            .await
            .unwrap();
        tls.write_all(b"GET / HTTP/1.1\r\nHost: mask.lab.test\r\n\r\n")
            .await
            .unwrap();
        let mut response = Vec::new();
        tls.read_to_end(&mut response).await.unwrap();
        assert!(response.ends_with(MASK_BODY));

        // A replayed ClientHello is masked too: the client sees a TLS site whose answer
        // does not verify.
        let (_, info) = handshake(addr, SecretMode::Ee).await.unwrap();
        let stream = TcpStream::connect(addr).await.unwrap();
        let replayed = MtprotoConn::replay(Box::new(stream), &info, WAIT).await;
        assert!(
            matches!(replayed, Err(ConnError::FakeTlsInvalid(_))),
            "{replayed:?}"
        );
    }

    #[tokio::test]
    async fn broken_hmac_fails_the_client_handshake() {
        let (dc, _tags) = echo_dc().await;
        let addr = proxy(SecretMode::Ee, MtproxyBehaviour::BrokenHmac, dc).await;
        let error = handshake(addr, SecretMode::Ee).await.unwrap_err();
        assert_eq!(error, ConnError::FakeTlsInvalid("HMAC mismatch".to_owned()));
    }

    #[tokio::test]
    async fn close_after_accept_gives_closed() {
        let (dc, _tags) = echo_dc().await;
        let addr = proxy(SecretMode::Ee, MtproxyBehaviour::CloseAfterAccept, dc).await;
        assert_eq!(
            handshake(addr, SecretMode::Ee).await.unwrap_err(),
            ConnError::Closed
        );
        let addr = proxy(SecretMode::Dd, MtproxyBehaviour::CloseAfterAccept, dc).await;
        let (mut conn, _) = handshake(addr, SecretMode::Dd).await.unwrap();
        assert!(matches!(
            round_trip(&mut conn, b"anyone?").await,
            Err(ConnError::Closed | ConnError::Io(_))
        ));
    }

    #[tokio::test]
    async fn wrong_secret_and_wrong_tag_are_refused() {
        let (dc, _tags) = echo_dc().await;
        let addr = proxy(SecretMode::Dd, honest(false), dc).await;
        let other = MtprotoSecret::decode("ddffeeddccbbaa99887766554433221100").unwrap();
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut conn, _) = MtprotoConn::handshake(Box::new(stream), &other, 2, WAIT, unix_now())
            .await
            .unwrap();
        assert!(round_trip(&mut conn, b"hello").await.is_err());
        // A plain client announces intermediate, which a dd proxy refuses.
        let (mut conn, _) = handshake(addr, SecretMode::Plain).await.unwrap();
        assert!(round_trip(&mut conn, b"hello").await.is_err());
    }

    // The hostile MTProto endpoints of `crate::lab::hostile`, as this client meets them.

    #[tokio::test]
    async fn faketls_bad_lengths_are_seen_at_once() {
        let secret = secret(SecretMode::Ee);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve_faketls_bad_lengths(listener, secret.clone()));
        // The answer announces 16640 bytes and sends fewer: the lengths disagree at once,
        // without waiting for bytes that never come.
        let stream = TcpStream::connect(addr).await.unwrap();
        let error = MtprotoConn::handshake(Box::new(stream), &secret, 2, WAIT, unix_now())
            .await
            .unwrap_err();
        assert!(error.to_string().contains("16640"), "{error}");
    }

    #[tokio::test]
    async fn mtproto_endless_answer_is_refused_by_its_announced_length() {
        let secret = secret(SecretMode::Dd);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sent = Arc::new(AtomicU64::new(0));
        tokio::spawn(serve_mtproto_endless(
            listener,
            secret.clone(),
            Arc::clone(&sent),
        ));
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut conn, _) = MtprotoConn::handshake(Box::new(stream), &secret, 2, WAIT, unix_now())
            .await
            .unwrap();
        conn.send(&[0; 40]).await.unwrap();
        let error = conn.recv(64 * 1024, WAIT).await.unwrap_err();
        assert!(error.to_string().contains("1073741824"), "{error}");
        assert!(sent.load(Ordering::Relaxed) > 0);
    }
}
