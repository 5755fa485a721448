//! Lab MTProto proxies: an honest one (with optional FakeTLS masking and replay protection)
//! and two broken ones, relaying to a DC on loopback.
//!
//! Hand-written on [`crate::proto::mtproto`]: no maintained crate implements the server side
//! of MTProto proxy obfuscation or FakeTLS (`docs/MTPROTO.md` §5), and the lab needs the
//! misbehaving variants anyway.
//!
//! One connection, as [`serve_mtproxy`] handles it:
//!
//! 1. `ee` secret: read one TLS record (at most 4096 bytes of payload). A valid FakeTLS
//!    ClientHello for the key (HMAC, timestamp within ±120 s, SNI = the secret's domain,
//!    not seen before when replay protection is on) gets the server answer; anything else
//!    is masked (relayed to `mask_to`, the bytes already read first) or closed. Then the
//!    64-byte init arrives in ApplicationData records and must announce padded intermediate.
//! 2. plain / `dd` secret: read the 64-byte init; it must decrypt to a known tag (`dd`
//!    secrets: padded intermediate only) and, with replay protection, be new.
//! 3. Connect to the DC, send it the 4-byte tag, then relay: client→DC decrypted (and
//!    unwrapped from records for `ee`), DC→client encrypted (and wrapped). The DC sees the
//!    transport frames unchanged.
//!
//! Every read is bounded by the lab's 5 s step and every buffer by a record or chunk size; a bad
//! client ends its own connection and nothing else.

use std::collections::{HashSet, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use super::route::{close_gracefully, dial, serve_sessions, within};
use crate::proto::mtproto::faketls::{
    self, AnswerParams, HANDSHAKE, MAX_CLIENT_HELLO_PAYLOAD, MAX_RECORD_PAYLOAD,
    MIN_CLIENT_HELLO_PAYLOAD, RECORD_HEADER_LEN, RecordReader,
};
use crate::proto::mtproto::obfs2::{AcceptedInit, CtrStream, INIT_LEN, ProtocolTag, accept_init};
use crate::proto::mtproto::secret::{MtprotoSecret, SecretMode};

/// Largest clock difference accepted in a ClientHello, in seconds.
const MAX_SKEW: u32 = 120;

/// How many client randoms / inits the replay cache remembers.
const REPLAY_CAPACITY: usize = 4096;

/// Size of one relay read.
const READ_CHUNK: usize = 16 * 1024;

/// What a lab MTProto proxy does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MtproxyBehaviour {
    /// A correct proxy.
    Honest {
        /// `ee` only: the TLS site bad clients are relayed to ("masking"); `None` closes
        /// their connections instead.
        mask_to: Option<SocketAddr>,
        /// Remember recent client randoms / inits and treat a repeat as a bad client.
        replay_protection: bool,
    },
    /// `ee` only: answers valid ClientHellos with a server random that is not the HMAC, so
    /// clients cannot authenticate it. No masking, no replay protection.
    BrokenHmac,
    /// Accepts each connection and closes it at once.
    CloseAfterAccept,
}

/// State shared by the connections of one proxy.
struct Proxy {
    /// The proxy's secret.
    secret: MtprotoSecret,
    /// What it does.
    behaviour: Arc<MtproxyBehaviour>,
    /// Where it relays.
    dc: SocketAddr,
    /// Client randoms (`ee`) or init key bytes (plain, `dd`) seen recently.
    replays: Mutex<ReplayCache>,
}

/// A bounded set of recently seen handshakes, the oldest forgotten first.
#[derive(Debug, Default)]
struct ReplayCache {
    /// Members in arrival order.
    order: VecDeque<Vec<u8>>,
    /// The same members, for lookup.
    seen: HashSet<Vec<u8>>,
}

impl ReplayCache {
    /// Records `key`; false when it was already there (a replay).
    fn insert(&mut self, key: &[u8]) -> bool {
        if self.seen.contains(key) {
            return false;
        }
        if self.order.len() >= REPLAY_CAPACITY {
            if let Some(oldest) = self.order.pop_front() {
                self.seen.remove(&oldest);
            }
        }
        self.order.push_back(key.to_vec());
        self.seen.insert(key.to_vec());
        true
    }
}

impl Proxy {
    /// True when the handshake keyed by `key` may proceed: always without replay
    /// protection, only the first time with it.
    fn first_time(&self, key: &[u8]) -> bool {
        match *self.behaviour {
            MtproxyBehaviour::Honest {
                replay_protection: true,
                ..
            } => self
                .replays
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key),
            _ => true,
        }
    }

    /// Where bad FakeTLS clients go.
    fn mask_to(&self) -> Option<SocketAddr> {
        match *self.behaviour {
            MtproxyBehaviour::Honest { mask_to, .. } => mask_to,
            _ => None,
        }
    }
}

/// Serves MTProto proxy connections on `listener` for `secret`, relaying to `dc` (a
/// loopback address). Runs until dropped.
pub(crate) async fn serve_mtproxy(
    listener: TcpListener,
    secret: MtprotoSecret,
    behaviour: Arc<MtproxyBehaviour>,
    dc: SocketAddr,
) {
    let proxy = Arc::new(Proxy {
        secret,
        behaviour,
        dc,
        replays: Mutex::new(ReplayCache::default()),
    });
    serve_sessions(listener, move |client, _peer| {
        let proxy = Arc::clone(&proxy);
        async move {
            // A failed session is the client's business; the lab has no one to tell.
            let _ = session(client, &proxy).await;
        }
    })
    .await;
}

/// One client connection.
async fn session(client: TcpStream, proxy: &Proxy) -> io::Result<()> {
    if *proxy.behaviour == MtproxyBehaviour::CloseAfterAccept {
        close_gracefully(client).await;
        return Ok(());
    }
    match proxy.secret.mode() {
        SecretMode::Ee => faketls_session(client, proxy).await,
        SecretMode::Plain | SecretMode::Dd => obfs2_session(client, proxy).await,
    }
}

/// A plain or `dd` client: the 64-byte init, then the relay.
async fn obfs2_session(mut client: TcpStream, proxy: &Proxy) -> io::Result<()> {
    let mut init = [0_u8; INIT_LEN];
    within(client.read_exact(&mut init)).await?;
    let accepted = accept_init(&init, &proxy.secret.key())
        .ok()
        .filter(|accepted| tag_allowed(proxy.secret.mode(), accepted.tag));
    let Some(accepted) = accepted else {
        close_gracefully(client).await;
        return Ok(());
    };
    if !proxy.first_time(init.get(8..56).unwrap_or_default()) {
        close_gracefully(client).await;
        return Ok(());
    }
    relay(client, proxy.dc, accepted, Vec::new(), None).await
}

/// Whether a secret of `mode` accepts a client announcing `tag`.
fn tag_allowed(mode: SecretMode, tag: ProtocolTag) -> bool {
    match mode {
        SecretMode::Plain => true,
        SecretMode::Dd | SecretMode::Ee => tag == ProtocolTag::PaddedIntermediate,
    }
}

/// An `ee` client: the ClientHello (or masking), the server answer, the init in records,
/// then the relay.
async fn faketls_session(mut client: TcpStream, proxy: &Proxy) -> io::Result<()> {
    let mut header = [0_u8; RECORD_HEADER_LEN];
    within(client.read_exact(&mut header)).await?;
    let [kind, major, minor, hi, lo] = header;
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    let mut record = header.to_vec();
    if [kind, major, minor] != [HANDSHAKE, 0x03, 0x01]
        || !(MIN_CLIENT_HELLO_PAYLOAD..=MAX_CLIENT_HELLO_PAYLOAD).contains(&len)
    {
        return reject(client, &record, proxy).await;
    }
    record.resize(RECORD_HEADER_LEN + len, 0);
    if let Some(body) = record.get_mut(RECORD_HEADER_LEN..) {
        within(client.read_exact(body)).await?;
    }
    let key = proxy.secret.key();
    let hello = match faketls::verify_client_hello(&record, &key, unix_now(), MAX_SKEW) {
        Ok(hello)
            if hello.sni.as_deref().is_some_and(|sni| {
                proxy
                    .secret
                    .faketls_domain()
                    .is_some_and(|domain| sni.eq_ignore_ascii_case(domain))
            }) && proxy.first_time(&hello.client_random) =>
        {
            hello
        }
        _ => return reject(client, &record, proxy).await,
    };

    let mut answer = faketls::build_server_answer(&key, &hello, &AnswerParams::random());
    if *proxy.behaviour == MtproxyBehaviour::BrokenHmac {
        if let Some(byte) = answer.get_mut(11) {
            *byte ^= 0xff;
        }
    }
    within(client.write_all(&answer)).await?;

    let mut reader = RecordReader::new();
    let mut payload = Vec::new();
    let mut chunk = vec![0_u8; READ_CHUNK];
    while payload.len() < INIT_LEN {
        let read = within(client.read(&mut chunk)).await?;
        if read == 0 {
            return Ok(());
        }
        reader.push(chunk.get(..read).unwrap_or_default());
        while let Some(part) = reader.next_payload().map_err(invalid_data)? {
            payload.extend(part);
        }
    }
    let (init, rest) = payload
        .split_at_checked(INIT_LEN)
        .unwrap_or((&payload, &[]));
    let init: [u8; INIT_LEN] = init.try_into().map_err(invalid_data)?;
    let accepted = match accept_init(&init, &key) {
        Ok(accepted) if accepted.tag == ProtocolTag::PaddedIntermediate => accepted,
        _ => {
            close_gracefully(client).await;
            return Ok(());
        }
    };
    relay(client, proxy.dc, accepted, rest.to_vec(), Some(reader)).await
}

/// A client that is not ours: masked (relayed to the mask site, `already_read` first) when
/// the proxy masks, closed otherwise.
async fn reject(client: TcpStream, already_read: &[u8], proxy: &Proxy) -> io::Result<()> {
    let Some(mask_to) = proxy.mask_to() else {
        close_gracefully(client).await;
        return Ok(());
    };
    let mut site = dial(mask_to).await?;
    within(site.write_all(already_read)).await?;
    let (client_read, client_write) = client.into_split();
    let (site_read, site_write) = site.into_split();
    let (up, down) = tokio::join!(
        pump(client_read, site_write, |_| Ok(())),
        pump(site_read, client_write, |_| Ok(())),
    );
    up.and(down)
}

/// Connects to the DC and relays both ways.
///
/// `pending` is client payload already read past the init (still encrypted); `records` is
/// the FakeTLS record reader (with any bytes read past the init), `None` for plain and `dd`.
async fn relay(
    client: TcpStream,
    dc: SocketAddr,
    accepted: AcceptedInit,
    mut pending: Vec<u8>,
    records: Option<RecordReader>,
) -> io::Result<()> {
    let AcceptedInit { tag, cipher, .. } = accepted;
    let mut upstream = dial(dc).await?;
    let mut decrypt: CtrStream = cipher.decrypt;
    let mut encrypt: CtrStream = cipher.encrypt;
    decrypt.apply(&mut pending);
    let mut first = tag.bytes().to_vec();
    first.extend_from_slice(&pending);
    within(upstream.write_all(&first)).await?;

    let faketls = records.is_some();
    let mut records = records.unwrap_or_default();
    let (client_read, client_write) = client.into_split();
    let (dc_read, dc_write) = upstream.into_split();
    let up = pump(client_read, dc_write, |data| {
        if faketls {
            records.push(data);
            data.clear();
            while let Some(mut payload) = records.next_payload().map_err(invalid_data)? {
                decrypt.apply(&mut payload);
                data.extend_from_slice(&payload);
            }
        } else {
            decrypt.apply(data);
        }
        Ok(())
    });
    let down = pump(dc_read, client_write, |data| {
        encrypt.apply(data);
        if faketls {
            let mut wrapped = Vec::with_capacity(data.len() + 16);
            faketls::wrap_records(data, MAX_RECORD_PAYLOAD, &mut wrapped);
            *data = wrapped;
        }
        Ok(())
    });
    let (up, down) = tokio::join!(up, down);
    up.and(down)
}

/// Copies `from` to `to` through `transform` until EOF (then shuts `to` down), each read
/// and write within the lab's 5 s step.
async fn pump<R, W>(
    mut from: R,
    mut to: W,
    mut transform: impl FnMut(&mut Vec<u8>) -> io::Result<()>,
) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut chunk = vec![0_u8; READ_CHUNK];
    loop {
        let read = within(from.read(&mut chunk)).await?;
        if read == 0 {
            return to.shutdown().await;
        }
        let mut data = chunk.get(..read).unwrap_or_default().to_vec();
        transform(&mut data)?;
        if !data.is_empty() {
            within(to.write_all(&data)).await?;
        }
    }
}

/// Any parse failure as [`io::ErrorKind::InvalidData`].
fn invalid_data(error: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error.to_string())
}

/// The system clock as Unix seconds (0 before 1970, saturating in 2106).
fn unix_now() -> u32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    u32::try_from(secs).unwrap_or(u32::MAX)
}
