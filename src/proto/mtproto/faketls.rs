//! FakeTLS: the TLS 1.3 imitation `ee` secrets wrap obfuscated2 in.
//!
//! Hand-written because no maintained crate implements it: it is not TLS (no key exchange
//! happens; the "handshake" is authenticated with HMAC-SHA256 keyed by the proxy secret),
//! so rustls cannot help, and the Rust MTProto stacks that have a version are application
//! code or fast-moving clients (`docs/MTPROTO.md` §5). Layout and checks follow §3 there:
//!
//! - **ClientHello** ([`build_client_hello`]): one 517-byte record (`16 03 01 02 00`),
//!   32-byte session id, SNI = the secret's domain, an x25519-shaped key share, a padding
//!   extension filling the payload to 512 bytes. Its random is HMAC-SHA256(key, record with
//!   a zero random), the last 4 bytes XORed with the Unix time (u32 LE).
//! - **Server answer** ([`build_server_answer`]): ServerHello record echoing the session id,
//!   `14 03 03 00 01 01`, one ApplicationData record of random bytes. Its random is
//!   HMAC-SHA256(key, client random ‖ answer with a zero random).
//! - **Data phase**: the client sends `14 03 03 00 01 01` once, then both sides send only
//!   ApplicationData records (`wrap_records`, [`RecordReader`]).
//!
//! Pure functions, no I/O. Everything that parses peer bytes is bounded and returns a
//! [`FakeTlsError`] on short, long or malformed input.

use hmac::{Hmac, Mac as _};
use rand::Rng as _;
use sha2::Sha256;

use super::secret::KEY_LEN;

/// HMAC-SHA256, the only MAC FakeTLS uses.
type HmacSha256 = Hmac<Sha256>;

/// Record type of a handshake record.
pub(crate) const HANDSHAKE: u8 = 0x16;
/// Record type of a ChangeCipherSpec record.
pub(crate) const CHANGE_CIPHER_SPEC_TYPE: u8 = 0x14;
/// Record type of an ApplicationData record.
pub(crate) const APPLICATION_DATA: u8 = 0x17;
/// The whole ChangeCipherSpec record both sides send once.
pub(crate) const CHANGE_CIPHER_SPEC: [u8; 6] = [0x14, 0x03, 0x03, 0x00, 0x01, 0x01];
/// Handshake message type of a ServerHello.
const SERVER_HELLO: u8 = 0x02;
/// Length of a record header (type, version, length).
pub(crate) const RECORD_HEADER_LEN: usize = 5;
/// Length of the ClientHello record this module builds.
pub(crate) const CLIENT_HELLO_LEN: usize = 517;
/// Largest ClientHello record payload a server accepts (MTProxy's limit).
pub(crate) const MAX_CLIENT_HELLO_PAYLOAD: usize = 4096;
/// Smallest ClientHello record payload a server accepts: clients pad to 512.
pub(crate) const MIN_CLIENT_HELLO_PAYLOAD: usize = 512;
/// Largest record payload anyone may send (TLS plaintext limit).
pub(crate) const MAX_RECORD_PAYLOAD: usize = 16_384;
/// Largest record payload a client sends: tdlib's cap, which every server accepts.
pub(crate) const CLIENT_RECORD_PAYLOAD: usize = 2878;
/// Largest incoming record payload accepted (TLS ciphertext limit).
const MAX_INCOMING_PAYLOAD: usize = MAX_RECORD_PAYLOAD + 256;
/// Where the random sits in a ClientHello or ServerHello record.
const RANDOM_AT: usize = 11;
/// Length of the random.
const RANDOM_LEN: usize = 32;
/// Length of the session id a client sends.
const SESSION_ID_LEN: usize = 32;
/// Extension type of server_name.
const EXT_SERVER_NAME: u16 = 0x0000;

/// Why FakeTLS bytes are not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FakeTlsError {
    /// The bytes do not start like the expected TLS record.
    #[error("not a FakeTLS record: {0}")]
    NotTls(&'static str),
    /// The input ended inside a structure.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// A length or field is out of range.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// A record's length disagrees with the length of the handshake message it carries.
    #[error(
        "{what} record announces {record} bytes but carries a {message}-byte handshake message"
    )]
    LengthMismatch {
        /// Which record.
        what: &'static str,
        /// The record header's payload length.
        record: usize,
        /// The handshake message's length, its 4-byte header included.
        message: usize,
    },
    /// The HMAC does not match: wrong secret, or not an MTProto proxy (a real TLS server).
    #[error("HMAC mismatch")]
    BadHmac,
    /// The ClientHello's timestamp is outside the accepted window.
    #[error("timestamp {timestamp} outside the window around {now}")]
    Skew {
        /// The client's time.
        timestamp: u32,
        /// The verifier's time.
        now: u32,
    },
}

/// The per-hello random parts of a ClientHello, separated so tests can fix them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelloParams {
    /// The 32-byte legacy session id.
    pub session_id: [u8; SESSION_ID_LEN],
    /// The x25519-shaped key share value (random bytes; nobody checks the point).
    pub key_share: [u8; 32],
    /// Seeds of the six GREASE values (high nibble used): cipher suite, first extension,
    /// supported group, key share, supported version, last extension.
    pub grease: [u8; 6],
}

impl HelloParams {
    /// Fresh random parts.
    pub fn random() -> Self {
        let mut rng = rand::rng();
        Self {
            session_id: rng.random(),
            key_share: rng.random(),
            grease: rng.random(),
        }
    }
}

/// A GREASE value `XA XA` from a seed's high nibble.
fn grease(seed: u8) -> u16 {
    let byte = (seed & 0xf0) | 0x0a;
    u16::from_be_bytes([byte, byte])
}

/// Appends a big-endian u16; lengths here are bounded far below `u16::MAX` by construction,
/// and saturate rather than wrap if that ever changed.
fn put_u16(out: &mut Vec<u8>, value: usize) {
    out.extend_from_slice(&u16::try_from(value).unwrap_or(u16::MAX).to_be_bytes());
}

/// Appends a big-endian u24 (saturating).
fn put_u24(out: &mut Vec<u8>, value: usize) {
    let [_, b1, b2, b3] = u32::try_from(value.min(0xff_ffff))
        .unwrap_or(0xff_ffff)
        .to_be_bytes();
    out.extend_from_slice(&[b1, b2, b3]);
}

/// Appends one extension: type, length, body.
fn put_ext(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
    out.extend_from_slice(&kind.to_be_bytes());
    put_u16(out, body.len());
    out.extend_from_slice(body);
}

/// Cipher suites after the GREASE one (tdlib's pre-2025 list; a TLS 1.3 suite first).
const CIPHER_SUITES: [u16; 15] = [
    0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c,
    0x009d, 0x002f, 0x0035,
];

/// Signature algorithms offered.
const SIGNATURE_ALGORITHMS: [u16; 8] = [
    0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
];

/// The extensions before padding.
fn hello_extensions(domain: &[u8], params: &HelloParams) -> Vec<u8> {
    let [_, g_first, g_group, g_share, g_version, g_last] = params.grease;
    let first = grease(g_first);
    let mut last = grease(g_last);
    if last == first {
        // Two extensions of one type make the hello invalid TLS.
        last ^= 0x1010;
    }
    let mut exts = Vec::with_capacity(512);
    put_ext(&mut exts, first, &[]);
    let mut sni = Vec::with_capacity(domain.len() + 5);
    put_u16(&mut sni, domain.len() + 3);
    sni.push(0);
    put_u16(&mut sni, domain.len());
    sni.extend_from_slice(domain);
    put_ext(&mut exts, EXT_SERVER_NAME, &sni);
    put_ext(&mut exts, 0x0017, &[]);
    put_ext(&mut exts, 0xff01, &[0]);
    let mut groups = Vec::with_capacity(10);
    put_u16(&mut groups, 8);
    for group in [grease(g_group), 0x001d, 0x0017, 0x0018] {
        groups.extend_from_slice(&group.to_be_bytes());
    }
    put_ext(&mut exts, 0x000a, &groups);
    put_ext(&mut exts, 0x000b, &[0x01, 0x00]);
    put_ext(&mut exts, 0x0023, &[]);
    put_ext(&mut exts, 0x0010, b"\x00\x0c\x02h2\x08http/1.1");
    put_ext(&mut exts, 0x0005, &[0x01, 0, 0, 0, 0]);
    let mut algorithms = Vec::with_capacity(18);
    put_u16(&mut algorithms, 2 * SIGNATURE_ALGORITHMS.len());
    for algorithm in SIGNATURE_ALGORITHMS {
        algorithms.extend_from_slice(&algorithm.to_be_bytes());
    }
    put_ext(&mut exts, 0x000d, &algorithms);
    put_ext(&mut exts, 0x0012, &[]);
    let mut share = Vec::with_capacity(43);
    put_u16(&mut share, 5 + 4 + params.key_share.len());
    share.extend_from_slice(&grease(g_share).to_be_bytes());
    share.extend_from_slice(&[0x00, 0x01, 0x00, 0x00, 0x1d, 0x00, 0x20]);
    share.extend_from_slice(&params.key_share);
    put_ext(&mut exts, 0x0033, &share);
    put_ext(&mut exts, 0x002d, &[0x01, 0x01]);
    let mut versions = vec![0x0a];
    for version in [grease(g_version), 0x0304, 0x0303, 0x0302, 0x0301] {
        versions.extend_from_slice(&version.to_be_bytes());
    }
    put_ext(&mut exts, 0x002b, &versions);
    put_ext(&mut exts, 0x001b, &[0x02, 0x00, 0x02]);
    put_ext(&mut exts, last, &[0x00]);
    exts
}

/// The ClientHello record with a zero random (what both sides HMAC).
fn zeroed_client_hello(domain: &[u8], params: &HelloParams) -> Vec<u8> {
    let mut body = Vec::with_capacity(CLIENT_HELLO_LEN);
    body.extend_from_slice(&[0x03, 0x03]);
    body.extend_from_slice(&[0; RANDOM_LEN]);
    body.push(0x20); // session id length: SESSION_ID_LEN
    body.extend_from_slice(&params.session_id);
    put_u16(&mut body, 2 * (1 + CIPHER_SUITES.len()));
    body.extend_from_slice(&grease(params.grease[0]).to_be_bytes());
    for suite in CIPHER_SUITES {
        body.extend_from_slice(&suite.to_be_bytes());
    }
    body.extend_from_slice(&[0x01, 0x00]);
    let mut exts = hello_extensions(domain, params);
    // Record header + handshake header + body + extensions length, before padding.
    let unpadded = RECORD_HEADER_LEN + 4 + body.len() + 2 + exts.len();
    if unpadded < CLIENT_HELLO_LEN {
        // Padding (4-byte header) brings the record to 517 bytes; when even its header does
        // not fit, an empty one still takes the payload past the 512 bytes servers require.
        let padding = CLIENT_HELLO_LEN.saturating_sub(unpadded + 4);
        put_ext(&mut exts, 0x0015, &vec![0; padding]);
    }
    put_u16(&mut body, exts.len());
    body.extend_from_slice(&exts);
    let mut record = Vec::with_capacity(CLIENT_HELLO_LEN);
    record.extend_from_slice(&[HANDSHAKE, 0x03, 0x01]);
    put_u16(&mut record, 4 + body.len());
    record.push(0x01);
    put_u24(&mut record, body.len());
    record.extend_from_slice(&body);
    record
}

/// HMAC-SHA256 over the concatenation of `parts`.
fn hmac(key: &[u8; KEY_LEN], parts: &[&[u8]]) -> HmacSha256 {
    // RFC 2104 pads a short key with zeros to the 64-byte block; doing it here lets the
    // infallible fixed-size constructor stand in for `new_from_slice`.
    let mut block = [0_u8; 64];
    for (slot, byte) in block.iter_mut().zip(key) {
        *slot = *byte;
    }
    let mut mac = <HmacSha256 as hmac::digest::KeyInit>::new(&block.into());
    for part in parts {
        mac.update(part);
    }
    mac
}

/// Builds a ClientHello record for `domain`, authenticated with `key` at Unix time `now`.
///
/// The record is 517 bytes for any domain up to about 200 bytes (the padding extension
/// absorbs the difference); longer domains give a longer record without padding.
pub fn build_client_hello(
    domain: &str,
    key: &[u8; KEY_LEN],
    now: u32,
    params: &HelloParams,
) -> Vec<u8> {
    let mut record = zeroed_client_hello(domain.as_bytes(), params);
    let mut random: [u8; RANDOM_LEN] = hmac(key, &[&record]).finalize().into_bytes().into();
    if let Some(tail) = random.get_mut(28..) {
        for (byte, time) in tail.iter_mut().zip(now.to_le_bytes()) {
            *byte ^= time;
        }
    }
    if let Some(slot) = record.get_mut(RANDOM_AT..RANDOM_AT + RANDOM_LEN) {
        slot.copy_from_slice(&random);
    }
    record
}

/// The random of a ClientHello or ServerHello record (bytes 11..43).
pub fn hello_random(record: &[u8]) -> Option<[u8; RANDOM_LEN]> {
    record
        .get(RANDOM_AT..RANDOM_AT + RANDOM_LEN)
        .and_then(|random| random.try_into().ok())
}

/// A bounded cursor over peer bytes.
struct Cursor<'a> {
    /// The bytes.
    data: &'a [u8],
    /// Next unread offset.
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// The next `len` bytes, or `Truncated(what)`.
    fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], FakeTlsError> {
        let end = self
            .pos
            .checked_add(len)
            .ok_or(FakeTlsError::Truncated(what))?;
        let slice = self
            .data
            .get(self.pos..end)
            .ok_or(FakeTlsError::Truncated(what))?;
        self.pos = end;
        Ok(slice)
    }

    /// One byte.
    fn u8(&mut self, what: &'static str) -> Result<u8, FakeTlsError> {
        match self.take(1, what)? {
            [byte] => Ok(*byte),
            _ => Err(FakeTlsError::Truncated(what)),
        }
    }

    /// A big-endian u16.
    fn u16(&mut self, what: &'static str) -> Result<usize, FakeTlsError> {
        match self.take(2, what)? {
            [hi, lo] => Ok(usize::from(u16::from_be_bytes([*hi, *lo]))),
            _ => Err(FakeTlsError::Truncated(what)),
        }
    }

    /// A big-endian u24.
    fn u24(&mut self, what: &'static str) -> Result<usize, FakeTlsError> {
        match self.take(3, what)? {
            [b1, b2, b3] => Ok(usize::from(*b1) << 16 | usize::from(*b2) << 8 | usize::from(*b3)),
            _ => Err(FakeTlsError::Truncated(what)),
        }
    }

    /// True when every byte was read.
    fn at_end(&self) -> bool {
        self.pos >= self.data.len()
    }
}

/// What a server learns from a valid ClientHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHelloInfo {
    /// The random as sent (the server answer's HMAC starts with it; replay caches key on it).
    pub client_random: [u8; RANDOM_LEN],
    /// The legacy session id, echoed in the ServerHello.
    pub session_id: Vec<u8>,
    /// The first host name of the server_name extension, when there is one (invalid UTF-8
    /// replaced).
    pub sni: Option<String>,
    /// The client's Unix time recovered from the random.
    pub timestamp: u32,
}

/// Server side: checks a whole ClientHello record (header included) against `key`.
///
/// The record must be a handshake record with version `03 01`, a payload of 512 to 4096
/// bytes and a well-formed ClientHello; the HMAC must match and the timestamp must be
/// within `max_skew` seconds of `now`.
pub fn verify_client_hello(
    record: &[u8],
    key: &[u8; KEY_LEN],
    now: u32,
    max_skew: u32,
) -> Result<ClientHelloInfo, FakeTlsError> {
    let mut cursor = Cursor {
        data: record,
        pos: 0,
    };
    if cursor.take(3, "record header")? != [HANDSHAKE, 0x03, 0x01] {
        return Err(FakeTlsError::NotTls(
            "not a TLS 1.0-versioned handshake record",
        ));
    }
    let record_len = cursor.u16("record header")?;
    if !(MIN_CLIENT_HELLO_PAYLOAD..=MAX_CLIENT_HELLO_PAYLOAD).contains(&record_len) {
        return Err(FakeTlsError::Malformed("ClientHello record length"));
    }
    if record.len() != RECORD_HEADER_LEN + record_len {
        return Err(FakeTlsError::Malformed(
            "bytes outside the ClientHello record",
        ));
    }
    if cursor.u8("handshake type")? != 0x01 {
        return Err(FakeTlsError::NotTls("not a ClientHello"));
    }
    if cursor.u24("handshake length")? != record_len - 4 {
        return Err(FakeTlsError::Malformed("ClientHello length"));
    }
    cursor.take(2, "client version")?;
    let client_random = hello_random(record).ok_or(FakeTlsError::Truncated("random"))?;
    cursor.take(RANDOM_LEN, "random")?;
    let session_len = usize::from(cursor.u8("session id")?);
    if session_len > SESSION_ID_LEN {
        return Err(FakeTlsError::Malformed("session id length"));
    }
    let session_id = cursor.take(session_len, "session id")?.to_vec();
    let suites = cursor.u16("cipher suites")?;
    cursor.take(suites, "cipher suites")?;
    let compression = usize::from(cursor.u8("compression")?);
    cursor.take(compression, "compression")?;
    let sni = if cursor.at_end() {
        None
    } else {
        let ext_len = cursor.u16("extensions")?;
        find_sni(cursor.take(ext_len, "extensions")?)?
    };

    let mut zeroed = record.to_vec();
    if let Some(slot) = zeroed.get_mut(RANDOM_AT..RANDOM_AT + RANDOM_LEN) {
        slot.fill(0);
    }
    let expected: [u8; RANDOM_LEN] = hmac(key, &[&zeroed]).finalize().into_bytes().into();
    let mut xored = [0_u8; RANDOM_LEN];
    for ((out, a), b) in xored.iter_mut().zip(expected).zip(client_random) {
        *out = a ^ b;
    }
    let [head @ .., t0, t1, t2, t3] = xored;
    // Not constant time: a lab server and a prober, not a production endpoint.
    if head != [0; 28] {
        return Err(FakeTlsError::BadHmac);
    }
    let timestamp = u32::from_le_bytes([t0, t1, t2, t3]);
    if timestamp.abs_diff(now) > max_skew {
        return Err(FakeTlsError::Skew { timestamp, now });
    }
    Ok(ClientHelloInfo {
        client_random,
        session_id,
        sni,
        timestamp,
    })
}

/// The first host name in the server_name extension of `extensions`, if any.
fn find_sni(extensions: &[u8]) -> Result<Option<String>, FakeTlsError> {
    let mut cursor = Cursor {
        data: extensions,
        pos: 0,
    };
    while !cursor.at_end() {
        let kind = cursor.u16("extension")?;
        let len = cursor.u16("extension")?;
        let body = cursor.take(len, "extension")?;
        if kind != usize::from(EXT_SERVER_NAME) {
            continue;
        }
        let mut names = Cursor { data: body, pos: 0 };
        let list_len = names.u16("server_name")?;
        let mut list = Cursor {
            data: names.take(list_len, "server_name")?,
            pos: 0,
        };
        while !list.at_end() {
            let name_type = list.u8("server_name")?;
            let name_len = list.u16("server_name")?;
            let name = list.take(name_len, "server_name")?;
            if name_type == 0 {
                return Ok(Some(String::from_utf8_lossy(name).into_owned()));
            }
        }
        return Ok(None);
    }
    Ok(None)
}

/// The per-answer random parts of a server answer, separated so tests can fix them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerParams {
    /// The x25519-shaped key share value.
    pub key_share: [u8; 32],
    /// The ApplicationData payload (a fake encrypted certificate).
    pub app_data: Vec<u8>,
}

impl AnswerParams {
    /// Random parts: a random key share and 1024–4095 random bytes, the size range of a
    /// certificate record.
    pub fn random() -> Self {
        let mut rng = rand::rng();
        let len = rng.random_range(1024..4096);
        Self {
            key_share: rng.random(),
            app_data: (0..len).map(|_| rng.random()).collect(),
        }
    }
}

/// Builds the server answer to a ClientHello: ServerHello (TLS 1.3 shape, cipher 1301,
/// key_share then supported_versions), ChangeCipherSpec, one ApplicationData record, with
/// the server random set to HMAC(key, client random ‖ answer with a zero random).
///
/// A session id over 32 bytes (impossible after [`verify_client_hello`]) is cut to 32.
pub fn build_server_answer(
    key: &[u8; KEY_LEN],
    hello: &ClientHelloInfo,
    params: &AnswerParams,
) -> Vec<u8> {
    let session_id = hello
        .session_id
        .get(..hello.session_id.len().min(SESSION_ID_LEN))
        .unwrap_or_default();
    let mut exts = Vec::with_capacity(46);
    let mut share = vec![0x00, 0x1d, 0x00, 0x20];
    share.extend_from_slice(&params.key_share);
    put_ext(&mut exts, 0x0033, &share);
    put_ext(&mut exts, 0x002b, &[0x03, 0x04]);
    let mut body = Vec::with_capacity(128);
    body.extend_from_slice(&[0x03, 0x03]);
    body.extend_from_slice(&[0; RANDOM_LEN]);
    body.push(u8::try_from(session_id.len()).unwrap_or(0));
    body.extend_from_slice(session_id);
    body.extend_from_slice(&[0x13, 0x01, 0x00]);
    put_u16(&mut body, exts.len());
    body.extend_from_slice(&exts);

    let app_data = params
        .app_data
        .get(..params.app_data.len().min(MAX_RECORD_PAYLOAD))
        .unwrap_or_default();
    let mut answer = Vec::with_capacity(body.len() + app_data.len() + 20);
    answer.extend_from_slice(&[HANDSHAKE, 0x03, 0x03]);
    put_u16(&mut answer, 4 + body.len());
    answer.push(0x02);
    put_u24(&mut answer, body.len());
    answer.extend_from_slice(&body);
    answer.extend_from_slice(&CHANGE_CIPHER_SPEC);
    answer.extend_from_slice(&[APPLICATION_DATA, 0x03, 0x03]);
    put_u16(&mut answer, app_data.len());
    answer.extend_from_slice(app_data);

    let random: [u8; RANDOM_LEN] = hmac(key, &[&hello.client_random, &answer])
        .finalize()
        .into_bytes()
        .into();
    if let Some(slot) = answer.get_mut(RANDOM_AT..RANDOM_AT + RANDOM_LEN) {
        slot.copy_from_slice(&random);
    }
    answer
}

/// Client side: how long the server answer at the start of `buf` is, once complete.
///
/// `Ok(None)`: so far so good, more bytes needed. An error as soon as a header is wrong:
/// the first record must be a `16 03 03` handshake record of at least 38 and at most
/// 16640 bytes holding exactly one ServerHello (its handshake header's length plus 4 is the
/// record's length: a record announcing more, whose extra bytes may never come, is refused
/// as soon as the 4-byte handshake header is in), the second exactly `14 03 03 00 01 01`,
/// the third a `17 03 03` record of at most 16640 bytes. Nothing is ever allocated from an
/// announced length: the caller buffers what arrives.
pub fn server_answer_len(buf: &[u8]) -> Result<Option<usize>, FakeTlsError> {
    let Some(hello_len) = record_len(buf, HANDSHAKE, "ServerHello")? else {
        return Ok(None);
    };
    if hello_len < 4 + 2 + RANDOM_LEN {
        return Err(FakeTlsError::Malformed("ServerHello too short"));
    }
    let Some(&[kind, l1, l2, l3]) = buf.get(RECORD_HEADER_LEN..RECORD_HEADER_LEN + 4) else {
        return Ok(None);
    };
    if kind != SERVER_HELLO {
        return Err(FakeTlsError::NotTls(
            "the first handshake message is no ServerHello",
        ));
    }
    let message = 4 + (usize::from(l1) << 16 | usize::from(l2) << 8 | usize::from(l3));
    if message != hello_len {
        return Err(FakeTlsError::LengthMismatch {
            what: "ServerHello",
            record: hello_len,
            message,
        });
    }
    let ccs_at = RECORD_HEADER_LEN + hello_len;
    let rest = buf.get(ccs_at..).unwrap_or_default();
    let seen = rest.len().min(CHANGE_CIPHER_SPEC.len());
    if rest.get(..seen) != CHANGE_CIPHER_SPEC.get(..seen) {
        return Err(FakeTlsError::NotTls(
            "no ChangeCipherSpec after the ServerHello",
        ));
    }
    let data_at = ccs_at + CHANGE_CIPHER_SPEC.len();
    let Some(data_len) = record_len(
        buf.get(data_at..).unwrap_or_default(),
        APPLICATION_DATA,
        "ApplicationData",
    )?
    else {
        return Ok(None);
    };
    let total = data_at + RECORD_HEADER_LEN + data_len;
    Ok((buf.len() >= total).then_some(total))
}

/// The payload length of the record header at the start of `buf` (type `kind`, version
/// `03 03`), `None` when the header is incomplete.
fn record_len(buf: &[u8], kind: u8, what: &'static str) -> Result<Option<usize>, FakeTlsError> {
    let Some(&[found, major, minor, hi, lo]) = buf.get(..RECORD_HEADER_LEN) else {
        return Ok(None);
    };
    if found != kind || [major, minor] != [0x03, 0x03] {
        return Err(FakeTlsError::NotTls(what));
    }
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    if len > MAX_INCOMING_PAYLOAD {
        return Err(FakeTlsError::Malformed(what));
    }
    Ok(Some(len))
}

/// Client side: checks that `answer` is exactly one complete server answer whose random
/// is HMAC(key, `client_random` ‖ answer with a zero random).
pub fn verify_server_answer(
    key: &[u8; KEY_LEN],
    client_random: &[u8; RANDOM_LEN],
    answer: &[u8],
) -> Result<(), FakeTlsError> {
    match server_answer_len(answer)? {
        Some(len) if len == answer.len() => {}
        Some(_) => return Err(FakeTlsError::Malformed("bytes after the server answer")),
        None => return Err(FakeTlsError::Truncated("server answer")),
    }
    let server_random = hello_random(answer).ok_or(FakeTlsError::Truncated("server random"))?;
    let mut zeroed = answer.to_vec();
    if let Some(slot) = zeroed.get_mut(RANDOM_AT..RANDOM_AT + RANDOM_LEN) {
        slot.fill(0);
    }
    hmac(key, &[client_random, &zeroed])
        .verify_slice(&server_random)
        .map_err(|_| FakeTlsError::BadHmac)
}

/// Appends `payload` as ApplicationData records of at most `max_payload` bytes each
/// (clamped to 1..=16384). An empty payload appends nothing.
pub(crate) fn wrap_records(payload: &[u8], max_payload: usize, out: &mut Vec<u8>) {
    let max_payload = max_payload.clamp(1, MAX_RECORD_PAYLOAD);
    for chunk in payload.chunks(max_payload) {
        out.extend_from_slice(&[APPLICATION_DATA, 0x03, 0x03]);
        put_u16(out, chunk.len());
        out.extend_from_slice(chunk);
    }
}

/// Incremental reader of data-phase records: returns ApplicationData payloads, skips
/// ChangeCipherSpec records, rejects anything else.
#[derive(Debug, Clone, Default)]
pub struct RecordReader {
    /// Bytes received and not yet returned.
    buf: Vec<u8>,
}

impl RecordReader {
    /// An empty reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes buffered and not yet returned.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next ApplicationData payload; `None` when more bytes are needed. A record of
    /// another type (alerts included), another version or over 16640 bytes is an error.
    pub fn next_payload(&mut self) -> Result<Option<Vec<u8>>, FakeTlsError> {
        loop {
            let Some(&[kind, major, minor, hi, lo]) = self.buf.get(..RECORD_HEADER_LEN) else {
                return Ok(None);
            };
            if [major, minor] != [0x03, 0x03] {
                return Err(FakeTlsError::NotTls("record version"));
            }
            let len = usize::from(u16::from_be_bytes([hi, lo]));
            if len > MAX_INCOMING_PAYLOAD {
                return Err(FakeTlsError::Malformed("record length"));
            }
            let end = RECORD_HEADER_LEN + len;
            let Some(payload) = self.buf.get(RECORD_HEADER_LEN..end) else {
                return Ok(None);
            };
            match kind {
                APPLICATION_DATA => {
                    let payload = payload.to_vec();
                    self.buf.drain(..end);
                    return Ok(Some(payload));
                }
                CHANGE_CIPHER_SPEC_TYPE if payload == [0x01] => {
                    self.buf.drain(..end);
                }
                _ => return Err(FakeTlsError::NotTls("unexpected record type")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        let text: String = text.split_whitespace().collect();
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    fn array<const N: usize>(text: &str) -> [u8; N] {
        hex(text).try_into().unwrap()
    }

    // From tests/vectors/mtproto_vectors.py (hello.*, answer.*).
    const PY_KEY: &str = "00112233445566778899aabbccddeeff";
    const PY_DOMAIN: &str = "mask.lab.test";
    const PY_NOW: u32 = 1_700_000_000;
    const PY_CLIENT_RANDOM: &str =
        "9b63553d908fa6954ab1fd5b1032bf2c1a4bd515a068668232152cfd795bed98";
    const PY_HELLO_HEAD: &str = "1603010200010001fc03039b63553d908fa6954ab1fd5b1032bf2c1a4bd5\
        15a068668232152cfd795bed9820404142434445464748494a4b4c4d4e4f505152535455565758595a5b\
        5c5d5e5f00200a0a130113021303c02bc02fc02cc030cca9cca8c013c014009c009d002f003501000193\
        1a1a000000000012001000000d6d61736b2e6c61622e7465737400170000ff01000100000a000a00082a\
        2a001d00170018000b00020100002300000010000e000c02683208687474702f312e3100050005010000\
        0000000d0012001004030804040105030805050108060601001200000033002b00293a3a000100001d00\
        20808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f002d00020101002b00\
        0b0a4a4a0304030303020301001b00030200025a5a000100001500cf";
    const PY_ANSWER: &str = "160303007a020000760303715e4cf8a186d67782a96143a4798918605f5cce\
        ffac5f4cb24c654e9381769e20404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c\
        5d5e5f130100002e00330024001d0020777777777777777777777777777777777777777777777777777777\
        7777777777002b00020304140303000101170303006400070e151c232a31383f464d545b626970777e85\
        8c939aa1a8afb6bdc4cbd2d9e0e7eef5fc030a11181f262d343b424950575e656c737a81888f969da4ab\
        b2b9c0c7ced5dce3eaf1f8ff060d141b222930373e454c535a61686f767d848b9299a0a7aeb5";

    fn py_params() -> HelloParams {
        HelloParams {
            session_id: array("404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"),
            key_share: array("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"),
            grease: [0x00, 0x10, 0x20, 0x30, 0x40, 0x50],
        }
    }

    fn py_app_data() -> Vec<u8> {
        (0..100_u8).map(|i| i.wrapping_mul(7)).collect()
    }

    #[test]
    fn python_vector_client_hello() {
        let hello = build_client_hello(PY_DOMAIN, &array(PY_KEY), PY_NOW, &py_params());
        let mut expected = hex(PY_HELLO_HEAD);
        expected.resize(CLIENT_HELLO_LEN, 0);
        assert_eq!(hello, expected);
        assert_eq!(
            hello_random(&hello).unwrap().to_vec(),
            hex(PY_CLIENT_RANDOM)
        );

        let info = verify_client_hello(&hello, &array(PY_KEY), PY_NOW + 100, 120).unwrap();
        assert_eq!(info.timestamp, PY_NOW);
        assert_eq!(info.sni.as_deref(), Some(PY_DOMAIN));
        assert_eq!(info.session_id, py_params().session_id.to_vec());
    }

    #[test]
    fn python_vector_server_answer() {
        let key = array(PY_KEY);
        let hello = ClientHelloInfo {
            client_random: array(PY_CLIENT_RANDOM),
            session_id: py_params().session_id.to_vec(),
            sni: None,
            timestamp: PY_NOW,
        };
        let params = AnswerParams {
            key_share: [0x77; 32],
            app_data: py_app_data(),
        };
        let answer = build_server_answer(&key, &hello, &params);
        assert_eq!(answer, hex(PY_ANSWER));
        verify_server_answer(&key, &hello.client_random, &answer).unwrap();
        assert_eq!(server_answer_len(&answer), Ok(Some(answer.len())));
    }

    #[test]
    fn spec_vector_c_client_hello_verifies() {
        // docs/MTPROTO.md §4, vector C (mtg's testdata): a tdlib-shaped hello, not built here.
        let mut record = hex(
            "1603010200010001fc03035ef08f7376806c76e144bbf49149b2e817cf64e1af\
             b2eb1e779fc736c29710fb204add81676b873059f7076b6b0f58df76da63a093\
             8e83a24178b84573208c0aae0034130313011302c02cc02bc024c023c00ac009\
             cca9c030c02fc028c027c014c013cca8009d009c003d003c0035002fc008c012\
             000a0100017fff010001000000001b001900001673746f726167652e676f6f67\
             6c65617069732e636f6d00170000000d00180016040308040401050302030805\
             0805050108060601020100050005010000000033740000001200000010003000\
             2e0268320568322d31360568322d31350568322d313408737064792f332e3106\
             737064792f3308687474702f312e31000b00020100003300260024001d002007\
             fee82f1f491252002ec2c94bdd47d903725351f4a2c2b02147a556776c2f2200\
             2d00020101002b0009080304030303020301000a000a0008001d001700180019\
             001500a1",
        );
        record.resize(517, 0);
        let key = array("367a189aee18fa31c190054efd4a8e95");
        let info = verify_client_hello(&record, &key, 1_617_181_365, 3).unwrap();
        assert_eq!(info.timestamp, 1_617_181_365);
        assert_eq!(info.sni.as_deref(), Some("storage.googleapis.com"));
        assert_eq!(
            verify_client_hello(&record, &key, 1_617_181_365 + 10, 3),
            Err(FakeTlsError::Skew {
                timestamp: 1_617_181_365,
                now: 1_617_181_375
            })
        );
        record[100] ^= 1;
        assert_eq!(
            verify_client_hello(&record, &key, 1_617_181_365, 3),
            Err(FakeTlsError::BadHmac)
        );
    }

    #[test]
    fn spec_vector_d_server_answer() {
        // docs/MTPROTO.md §4, vector D: client random and session id of vector C.
        let key = array("367a189aee18fa31c190054efd4a8e95");
        let hello = ClientHelloInfo {
            client_random: array(
                "5ef08f7376806c76e144bbf49149b2e817cf64e1afb2eb1e779fc736c29710fb",
            ),
            session_id: hex("4add81676b873059f7076b6b0f58df76da63a0938e83a24178b84573208c0aae"),
            sni: None,
            timestamp: 0,
        };
        let params = AnswerParams {
            key_share: [0x11; 32],
            app_data: vec![0x42; 64],
        };
        let answer = build_server_answer(&key, &hello, &params);
        let expected = hex(
            "160303007a0200007603036b399d032a8a691d558732125f437e04515c6ad400\
             5b7e13f4c5cae3db66b8cd204add81676b873059f7076b6b0f58df76da63a093\
             8e83a24178b84573208c0aae130100002e00330024001d002011111111111111\
             11111111111111111111111111111111111111111111111111002b0002030414\
             0303000101170303004042424242424242424242424242424242424242424242\
             4242424242424242424242424242424242424242424242424242424242424242\
             42424242424242424242",
        );
        assert_eq!(answer, expected);
        verify_server_answer(&key, &hello.client_random, &expected).unwrap();
    }

    #[test]
    fn tampered_or_truncated_answers_fail_without_panicking() {
        let key = [9; 16];
        let hello = build_client_hello("example.com", &key, 1000, &HelloParams::random());
        let info = verify_client_hello(&hello, &key, 1000, 0).unwrap();
        let answer = build_server_answer(&key, &info, &AnswerParams::random());
        verify_server_answer(&key, &info.client_random, &answer).unwrap();
        for cut in 0..answer.len() {
            assert!(verify_server_answer(&key, &info.client_random, &answer[..cut]).is_err());
            assert!(matches!(server_answer_len(&answer[..cut]), Ok(None)));
        }
        let mut broken = answer.clone();
        broken[20] ^= 0x80;
        assert_eq!(
            verify_server_answer(&key, &info.client_random, &broken),
            Err(FakeTlsError::BadHmac)
        );
        assert_eq!(
            verify_server_answer(&[8; 16], &info.client_random, &answer),
            Err(FakeTlsError::BadHmac)
        );
        let mut extra = answer.clone();
        extra.push(0);
        assert!(verify_server_answer(&key, &info.client_random, &extra).is_err());
        assert!(server_answer_len(b"HTTP/1.1 400 Bad Request\r\n").is_err());
        assert!(server_answer_len(&[0x16, 0x03, 0x03, 0x00, 0x05]).is_err());
        assert!(server_answer_len(&[0x16, 0x03, 0x03, 0xff, 0xff]).is_err());
    }

    #[test]
    fn server_hello_lengths_that_disagree_fail_at_the_handshake_header() {
        let key = [9; 16];
        let hello = build_client_hello("example.com", &key, 1000, &HelloParams::random());
        let info = verify_client_hello(&hello, &key, 1000, 0).unwrap();
        let answer = build_server_answer(&key, &info, &AnswerParams::random());
        let real = usize::from(u16::from_be_bytes([answer[3], answer[4]]));
        // The record announces the most a client accepts; the message says its real size.
        let mut longer = answer.clone();
        longer[3..5].copy_from_slice(&16_640_u16.to_be_bytes());
        let expected = FakeTlsError::LengthMismatch {
            what: "ServerHello",
            record: 16_640,
            message: real,
        };
        // Known from the first 9 bytes: no waiting for the 16640 announced.
        assert_eq!(server_answer_len(&longer[..9]), Err(expected.clone()));
        assert_eq!(server_answer_len(&longer[..8]), Ok(None));
        assert_eq!(
            verify_server_answer(&key, &info.client_random, &longer),
            Err(expected)
        );
        // The other way round: a message longer than its record.
        let mut shorter = answer.clone();
        shorter[8] = shorter[8].wrapping_add(1);
        assert!(matches!(
            server_answer_len(&shorter),
            Err(FakeTlsError::LengthMismatch { .. })
        ));
        // A first message of another type.
        let mut other = answer;
        other[5] = 0x0b;
        assert!(matches!(
            server_answer_len(&other),
            Err(FakeTlsError::NotTls(_))
        ));
    }

    #[test]
    fn malformed_hellos_fail_without_panicking() {
        let key = [3; 16];
        let hello = build_client_hello("example.com", &key, 5000, &HelloParams::random());
        assert_eq!(hello.len(), CLIENT_HELLO_LEN);
        assert_eq!(&hello[..5], &[0x16, 0x03, 0x01, 0x02, 0x00]);
        for cut in 0..hello.len() {
            assert!(verify_client_hello(&hello[..cut], &key, 5000, 10).is_err());
        }
        assert!(verify_client_hello(&[0; 600], &key, 5000, 10).is_err());
        assert!(verify_client_hello(b"GET / HTTP/1.1\r\n\r\n", &key, 5000, 10).is_err());
        let mut wrong_sid = hello.clone();
        wrong_sid[43] = 200;
        assert!(verify_client_hello(&wrong_sid, &key, 5000, 10).is_err());
        let mut bogus_ext = hello;
        // Extensions length pointing far beyond the record.
        let ext_len_at = 5 + 4 + 2 + 32 + 1 + 32 + 2 + 32 + 2;
        bogus_ext[ext_len_at] = 0xff;
        assert!(verify_client_hello(&bogus_ext, &key, 5000, 10).is_err());
        assert_eq!(
            verify_client_hello(
                &build_client_hello("example.com", &[4; 16], 5000, &HelloParams::random()),
                &key,
                5000,
                10
            ),
            Err(FakeTlsError::BadHmac)
        );
    }

    #[test]
    fn long_domains_still_give_a_valid_hello() {
        let domain = format!("{}.example.com", "a".repeat(230));
        let key = [5; 16];
        let hello = build_client_hello(&domain, &key, 7, &HelloParams::random());
        let info = verify_client_hello(&hello, &key, 7, 0).unwrap();
        assert_eq!(info.sni.as_deref(), Some(domain.as_str()));
    }

    /// Found by the `faketls` fuzz target: domains of 221 to 223 bytes left no room for the
    /// padding header, so the record was 514 to 516 bytes, under the 512-byte payload minimum.
    #[test]
    fn client_hello_of_any_domain_length_verifies() {
        let key = [5; 16];
        for len in 0..=300 {
            let domain = "d".repeat(len);
            let hello = build_client_hello(&domain, &key, 7, &HelloParams::random());
            assert!(hello.len() >= CLIENT_HELLO_LEN, "domain of {len} bytes");
            let info = verify_client_hello(&hello, &key, 7, 0)
                .unwrap_or_else(|error| panic!("domain of {len} bytes: {error}"));
            assert_eq!(info.sni.as_deref(), Some(domain.as_str()));
        }
    }

    #[test]
    fn records_wrap_and_unwrap() {
        let payload: Vec<u8> = (0..=255_u8).cycle().take(40_000).collect();
        let mut wire = CHANGE_CIPHER_SPEC.to_vec();
        wrap_records(&payload, MAX_RECORD_PAYLOAD, &mut wire);
        assert_eq!(&wire[6..11], &[0x17, 0x03, 0x03, 0x40, 0x00]);
        let mut reader = RecordReader::new();
        let mut got = Vec::new();
        for chunk in wire.chunks(999) {
            reader.push(chunk);
            while let Some(part) = reader.next_payload().unwrap() {
                got.extend(part);
            }
        }
        assert_eq!(got, payload);
        assert_eq!(reader.buffered(), 0);

        let mut alert = RecordReader::new();
        alert.push(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]);
        assert!(alert.next_payload().is_err());
        let mut huge = RecordReader::new();
        huge.push(&[0x17, 0x03, 0x03, 0xff, 0xff]);
        assert!(huge.next_payload().is_err());
    }
}
