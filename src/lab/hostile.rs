//! Hostile lab endpoints: listeners that misbehave at the socket or protocol level, to show
//! that the auditor bounds every wait and every read and survives resets.
//!
//! The socket-level ones (`Hostile`) need no protocol: a tarpit, a drip, an endless stream,
//! garbage, a reset. The protocol-level ones speak just enough of the protocol they attack
//! to reach the point where they misbehave:
//!
//! - `Hostile::HugeReply` and `Hostile::HeaderBomb`: HTTP proxies answering with a 100 MB
//!   body, or with a head whose header fields never end;
//! - `Hostile::SocksHugeAddress`: a SOCKS5 success reply with the longest address the
//!   protocol allows, then an endless stream through the "tunnel";
//! - `serve_faketls_bad_lengths`: an `ee` MTProto proxy whose FakeTLS answer announces more
//!   bytes than it ever sends;
//! - `serve_mtproto_endless`: a `dd` MTProto proxy that accepts the handshake, then sends
//!   an answer whose frame never ends;
//! - `long_chain_config`: the TLS server behind the `tls-long-chain` SOCKS5 proxy, with a
//!   1,000-certificate chain.
//!
//! Everything that streams writes only as fast as the client reads (each write waits for
//! room in the socket), and adds what it wrote to a counter the lab exposes
//! ([`super::Lab::bytes_sent`]): an upper bound of what the client took, which is how the
//! tests show that the auditor's memory stays bounded.
//!
//! Each session ends promptly when its client goes away (a read returning EOF, or a write
//! failing), and all of them end when the serving future is dropped.

use std::io;
use std::iter;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::MissedTickBehavior;

use super::ca::{CaError, LabCa};
use super::route::{STEP, close_gracefully, serve_sessions, within};
use crate::proto::http_head::{HeadLimits, read_raw_head};
use crate::proto::mtproto::faketls::{
    self, AnswerParams, HANDSHAKE, MAX_CLIENT_HELLO_PAYLOAD, MIN_CLIENT_HELLO_PAYLOAD,
    RECORD_HEADER_LEN,
};
use crate::proto::mtproto::obfs2::{INIT_LEN, accept_init};
use crate::proto::mtproto::secret::{KEY_LEN, MtprotoSecret};

/// How often [`Hostile::Drip`] sends a byte.
const DRIP_EVERY: Duration = Duration::from_secs(1);
/// What [`Hostile::Drip`] sends first: a SOCKS5 "no authentication" choice, then the start
/// of a success reply for a 255-byte domain name, which a SOCKS5 client needs minutes to
/// receive.
const DRIP_START: &[u8] = &[0x05, 0x00, 0x05, 0x00, 0x00, 0x03, 0xFF];
/// What [`Hostile::Drip`] sends after [`DRIP_START`], forever: no CR or LF, so an HTTP
/// client never sees the end of a status line either.
const DRIP_FILL: u8 = b'.';
/// The status line [`Hostile::Endless`] starts with.
const ENDLESS_START: &[u8] = b"HTTP/1.1 200 OK\r\n";
/// The header line [`Hostile::Endless`] repeats after [`ENDLESS_START`]: the head never ends.
const ENDLESS_LINE: &[u8] = b"X-Lab-Endless: this head never ends; a client must cap it\r\n";
/// Size of each write of [`Hostile::Endless`].
const ENDLESS_CHUNK: usize = 16 * 1024;
/// What [`Hostile::Garbage`] sends: 64 bytes that are no SOCKS, HTTP or TLS message.
const GARBAGE: &[u8; 64] =
    b"\xDE\xAD lab garbage: neither SOCKS nor HTTP nor TLS: plain bytes.\xBE\xEF\r\n";
/// Size of each read whose bytes are thrown away.
const SINK: usize = 4096;
/// Size of each write of the streaming endpoints.
const CHUNK: usize = 16 * 1024;
/// The kernel send buffer the streaming endpoints ask for: small, so that what they count as
/// sent is close to what the client took (the kernel doubles it and may round it up).
const SEND_BUFFER: usize = 64 * 1024;
/// The body length [`Hostile::HugeReply`] announces and sends: 100 MB.
pub(crate) const HUGE_BODY: u64 = 100 * 1024 * 1024;
/// The byte [`Hostile::HugeReply`]'s body is made of.
const HUGE_FILL: u8 = b'x';
/// The header field [`Hostile::HeaderBomb`] repeats: as short as a field can usefully be,
/// so the count of fields grows as fast as possible.
const BOMB_LINE: &[u8] = b"X-Bomb: 1\r\n";
/// Longest request head the HTTP endpoints read before answering.
const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// The address [`Hostile::SocksHugeAddress`] puts in its reply: a 255-byte name, the most a
/// SOCKS5 domain address can hold (its length is one byte).
const HUGE_ADDRESS_LEN: u8 = 255;
/// What the 255-byte name is made of (valid UTF-8 and name-like, so tokio-socks parses all
/// of it rather than stopping at the first byte).
const HUGE_ADDRESS_LABEL: &[u8] = b"huge-address.lab.test.";
/// The record length [`serve_faketls_bad_lengths`] announces for its ServerHello: the
/// largest a FakeTLS client accepts (16384 + 256), so the header passes and the client must
/// wait for bytes that never come.
pub(crate) const BAD_HELLO_LEN: u16 = 16_640;
/// The frame length [`serve_mtproto_endless`] announces: 1 GiB, far beyond any answer.
const ENDLESS_FRAME_LEN: u32 = 1 << 30;
/// Largest clock difference [`serve_faketls_bad_lengths`] accepts in a ClientHello.
const MAX_SKEW: u32 = 120;
/// How many certificates `tls-long-chain` presents.
pub(crate) const LONG_CHAIN_LEN: usize = 1000;

/// A hostile endpoint's behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hostile {
    /// Accepts and never writes nor closes; reads and discards until the client leaves.
    Tarpit,
    /// Sends one byte a second, forever: a SOCKS5-looking answer that never completes in
    /// time.
    Drip,
    /// Sends an HTTP-looking head that never ends, as fast as the client reads.
    Endless,
    /// Sends 64 bytes of no protocol, then closes.
    Garbage,
    /// Reads the client's first bytes (its greeting), then resets the connection.
    ResetAfterGreeting,
    /// An HTTP proxy answering every request (and the first request down a CONNECT
    /// tunnel) with `200 OK` and a [`HUGE_BODY`]-byte body.
    HugeReply,
    /// An HTTP proxy answering every request (CONNECT included) with a status line and then
    /// header fields, forever.
    HeaderBomb,
    /// A SOCKS5 proxy whose CONNECT reply is a success with a 255-byte domain address,
    /// followed by an endless HTTP-looking head instead of the target's bytes.
    SocksHugeAddress,
}

/// Serves `kind` on `listener`, one task per connection, adding every byte written to
/// `sent`. Runs until dropped.
pub(crate) async fn serve_hostile(listener: TcpListener, kind: Hostile, sent: Arc<AtomicU64>) {
    serve_sessions(listener, move |stream, _peer| {
        let sent = Arc::clone(&sent);
        async move {
            small_send_buffer(&stream);
            // A session ends when its client goes; how it went is of no interest.
            let _ = kind.session(stream, &sent).await;
        }
    })
    .await;
}

impl Hostile {
    /// Misbehaves on one connection until the client goes away.
    async fn session(self, stream: TcpStream, sent: &AtomicU64) -> io::Result<()> {
        match self {
            Self::Tarpit => tarpit(stream).await,
            Self::Drip => drip(stream).await,
            Self::Endless => endless(stream, sent).await,
            Self::Garbage => garbage(stream).await,
            Self::ResetAfterGreeting => reset_after_greeting(stream).await,
            Self::HugeReply => huge_reply(stream, sent).await,
            Self::HeaderBomb => header_bomb(stream, sent).await,
            Self::SocksHugeAddress => socks_huge_address(stream, sent).await,
        }
    }
}

/// Asks for a [`SEND_BUFFER`]-byte kernel send buffer (left as it is when refused: the
/// counts are then only looser bounds).
fn small_send_buffer(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_send_buffer_size(SEND_BUFFER);
}

/// Writes `chunk` over and over (at most `limit` bytes in all, none when `limit` is 0 —
/// `None` is no limit), adding what was written to `sent`, until done or a write fails.
/// Each write waits for room in the socket: the pace is the client's.
async fn pour(
    stream: &mut TcpStream,
    chunk: &[u8],
    limit: Option<u64>,
    sent: &AtomicU64,
) -> io::Result<()> {
    let mut left = limit.unwrap_or(u64::MAX);
    while left > 0 {
        let take = usize::try_from(left).map_or(chunk.len(), |left| left.min(chunk.len()));
        let part = chunk.get(..take).unwrap_or(chunk);
        stream.write_all(part).await?;
        sent.fetch_add(part.len() as u64, Ordering::Relaxed);
        if limit.is_some() {
            left = left.saturating_sub(part.len() as u64);
        }
    }
    Ok(())
}

/// Writes `bytes`, counting them in `sent`.
async fn counted(stream: &mut TcpStream, bytes: &[u8], sent: &AtomicU64) -> io::Result<()> {
    within(stream.write_all(bytes)).await?;
    sent.fetch_add(bytes.len() as u64, Ordering::Relaxed);
    Ok(())
}

/// Reads and discards until EOF or an error; never writes.
async fn tarpit(mut stream: TcpStream) -> io::Result<()> {
    let mut sink = [0; SINK];
    while stream.read(&mut sink).await? > 0 {}
    Ok(())
}

/// Writes [`DRIP_START`] then [`DRIP_FILL`] one byte every [`DRIP_EVERY`], discarding what
/// the client sends, until it closes.
async fn drip(mut stream: TcpStream) -> io::Result<()> {
    let mut bytes = DRIP_START.iter().copied().chain(iter::repeat(DRIP_FILL));
    let mut ticks = tokio::time::interval(DRIP_EVERY);
    // A late tick (a write that waited) must not be made up for with a burst.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut sink = [0; SINK];
    loop {
        tokio::select! {
            read = stream.read(&mut sink) => {
                if read? == 0 {
                    return Ok(());
                }
            }
            _ = ticks.tick() => {
                let byte = bytes.next().unwrap_or(DRIP_FILL);
                stream.write_all(&[byte]).await?;
            }
        }
    }
}

/// Writes [`ENDLESS_START`] then [`ENDLESS_LINE`]s in chunks of about [`ENDLESS_CHUNK`]
/// until a write fails.
async fn endless(mut stream: TcpStream, sent: &AtomicU64) -> io::Result<()> {
    let chunk = ENDLESS_LINE.repeat(ENDLESS_CHUNK / ENDLESS_LINE.len());
    counted(&mut stream, ENDLESS_START, sent).await?;
    pour(&mut stream, &chunk, None, sent).await
}

/// Reads a request head (up to the blank line, at most [`MAX_REQUEST_HEAD`] bytes, each read
/// within the lab's step); what came after the head is dropped.
async fn read_request_head(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let limits = HeadLimits {
        max_bytes: MAX_REQUEST_HEAD,
        read_timeout: Some(STEP),
    };
    Ok(read_raw_head(stream, limits).await?.head)
}

/// [`Hostile::HugeReply`]: a CONNECT gets `200` and the tunnel's first bytes (a request,
/// or a TLS ClientHello) are answered as a plain request would be: `200 OK` with a
/// `Content-Length` of [`HUGE_BODY`] and that many bytes, written as fast as the client
/// reads them.
async fn huge_reply(mut stream: TcpStream, sent: &AtomicU64) -> io::Result<()> {
    let head = read_request_head(&mut stream).await?;
    if head.starts_with(b"CONNECT ") {
        counted(
            &mut stream,
            b"HTTP/1.1 200 Connection established\r\n\r\n",
            sent,
        )
        .await?;
        let mut first = [0; SINK];
        if within(stream.read(&mut first)).await? == 0 {
            return Ok(());
        }
    }
    let answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {HUGE_BODY}\r\n\
         Connection: close\r\n\r\n"
    );
    counted(&mut stream, answer.as_bytes(), sent).await?;
    pour(&mut stream, &[HUGE_FILL; CHUNK], Some(HUGE_BODY), sent).await?;
    close_gracefully(stream).await;
    Ok(())
}

/// [`Hostile::HeaderBomb`]: answers any request with a status line, then [`BOMB_LINE`]
/// forever.
async fn header_bomb(mut stream: TcpStream, sent: &AtomicU64) -> io::Result<()> {
    read_request_head(&mut stream).await?;
    counted(&mut stream, b"HTTP/1.1 200 OK\r\n", sent).await?;
    let chunk = BOMB_LINE.repeat(CHUNK / BOMB_LINE.len());
    pour(&mut stream, &chunk, None, sent).await
}

/// Reads `N` bytes within the lab's step.
async fn read_array<const N: usize>(stream: &mut TcpStream) -> io::Result<[u8; N]> {
    let mut bytes = [0; N];
    within(stream.read_exact(&mut bytes)).await?;
    Ok(bytes)
}

/// The reply of [`Hostile::SocksHugeAddress`]: success, a 255-byte domain, port 443.
fn huge_address_reply() -> Vec<u8> {
    let mut reply = vec![0x05, 0x00, 0x00, 0x03, HUGE_ADDRESS_LEN];
    reply.extend(
        HUGE_ADDRESS_LABEL
            .iter()
            .cycle()
            .take(usize::from(HUGE_ADDRESS_LEN)),
    );
    reply.extend_from_slice(&443_u16.to_be_bytes());
    reply
}

/// [`Hostile::SocksHugeAddress`]: a no-authentication greeting, any CONNECT request read
/// whole, the [`huge_address_reply`], then [`endless`] down the "tunnel".
///
/// Why a 255-byte name: a SOCKS5 address's length is one byte, so 255 is the most a reply
/// can announce; tokio-socks reads it into its fixed 513-byte buffer and checks it is UTF-8
/// (a valid name makes it go all the way to a tunnel, where an invalid type would stop it at
/// the fourth byte). What follows then tests the tunnel's reader: an endless head.
async fn socks_huge_address(mut stream: TcpStream, sent: &AtomicU64) -> io::Result<()> {
    let [_version, methods] = read_array::<2>(&mut stream).await?;
    let mut offered = vec![0; usize::from(methods)];
    within(stream.read_exact(&mut offered)).await?;
    counted(&mut stream, &[0x05, 0x00], sent).await?;
    let [_version, _command, _reserved, address_type] = read_array::<4>(&mut stream).await?;
    let rest = match address_type {
        0x01 => 4 + 2,
        0x04 => 16 + 2,
        0x03 => {
            let [len] = read_array::<1>(&mut stream).await?;
            usize::from(len) + 2
        }
        _ => return Ok(()),
    };
    let mut address = vec![0; rest];
    within(stream.read_exact(&mut address)).await?;
    counted(&mut stream, &huge_address_reply(), sent).await?;
    endless(stream, sent).await
}

/// Seconds since 1970, as FakeTLS timestamps count.
fn unix_now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}

/// Serves an `ee` MTProto proxy for `secret` whose FakeTLS answer has a wrong length: a
/// valid ClientHello gets the real answer (HMAC and all) except that its first record
/// header announces [`BAD_HELLO_LEN`] bytes, many more than follow; then the connection
/// stays open and silent. Anything else is closed. Runs until dropped.
pub(crate) async fn serve_faketls_bad_lengths(listener: TcpListener, secret: MtprotoSecret) {
    let key = secret.key();
    serve_sessions(listener, move |stream, _peer| async move {
        // As for every hostile session: how it ended is of no interest.
        let _ = faketls_bad_lengths(stream, &key).await;
    })
    .await;
}

/// One connection of [`serve_faketls_bad_lengths`].
async fn faketls_bad_lengths(mut stream: TcpStream, key: &[u8; KEY_LEN]) -> io::Result<()> {
    let header = read_array::<RECORD_HEADER_LEN>(&mut stream).await?;
    let [kind, major, minor, hi, lo] = header;
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    if [kind, major, minor] != [HANDSHAKE, 0x03, 0x01]
        || !(MIN_CLIENT_HELLO_PAYLOAD..=MAX_CLIENT_HELLO_PAYLOAD).contains(&len)
    {
        close_gracefully(stream).await;
        return Ok(());
    }
    let mut record = header.to_vec();
    record.resize(RECORD_HEADER_LEN + len, 0);
    if let Some(body) = record.get_mut(RECORD_HEADER_LEN..) {
        within(stream.read_exact(body)).await?;
    }
    let Ok(hello) = faketls::verify_client_hello(&record, key, unix_now(), MAX_SKEW) else {
        close_gracefully(stream).await;
        return Ok(());
    };
    let mut answer = faketls::build_server_answer(key, &hello, &AnswerParams::random());
    if let Some(length) = answer.get_mut(3..RECORD_HEADER_LEN) {
        length.copy_from_slice(&BAD_HELLO_LEN.to_be_bytes());
    }
    within(stream.write_all(&answer)).await?;
    tarpit(stream).await
}

/// Serves a `dd` (or plain) MTProto proxy for `secret` that accepts a valid init and then,
/// instead of relaying to a datacenter, sends an answer that never ends: a frame announcing
/// 1 GiB, then encrypted bytes forever, as fast as the client reads, counted in `sent`. An
/// invalid init is closed. Runs until dropped.
pub(crate) async fn serve_mtproto_endless(
    listener: TcpListener,
    secret: MtprotoSecret,
    sent: Arc<AtomicU64>,
) {
    let key = secret.key();
    serve_sessions(listener, move |stream, _peer| {
        let sent = Arc::clone(&sent);
        async move {
            small_send_buffer(&stream);
            // As for every hostile session: how it ended is of no interest.
            let _ = mtproto_endless(stream, &key, &sent).await;
        }
    })
    .await;
}

/// One connection of [`serve_mtproto_endless`].
async fn mtproto_endless(
    mut stream: TcpStream,
    key: &[u8; KEY_LEN],
    sent: &AtomicU64,
) -> io::Result<()> {
    let init = read_array::<INIT_LEN>(&mut stream).await?;
    let Ok(accepted) = accept_init(&init, key) else {
        close_gracefully(stream).await;
        return Ok(());
    };
    let mut encrypt = accepted.cipher.encrypt;
    let (mut read, mut write) = stream.into_split();
    // What the client sends (its request) is read and thrown away, so it never blocks.
    let drain = async {
        let mut sink = [0; SINK];
        while matches!(read.read(&mut sink).await, Ok(read) if read > 0) {}
    };
    let flood = async {
        let mut header = ENDLESS_FRAME_LEN.to_le_bytes();
        encrypt.apply(&mut header);
        write.write_all(&header).await?;
        sent.fetch_add(header.len() as u64, Ordering::Relaxed);
        let mut chunk = vec![0; CHUNK];
        loop {
            chunk.fill(0);
            encrypt.apply(&mut chunk);
            write.write_all(&chunk).await?;
            sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
    };
    tokio::select! {
        () = drain => Ok(()),
        flooded = flood => flooded,
    }
}

/// The TLS server behind `tls-long-chain`: a leaf for `names` from a CA of its own, followed
/// by [`LONG_CHAIN_LEN`]` - 1` copies of that CA's certificate (about half a megabyte).
/// Generated once at lab start. The chain needs no valid path: its size is the attack.
pub(crate) fn long_chain_config(names: &[&str]) -> Result<Arc<rustls::ServerConfig>, CaError> {
    let ca = LabCa::new("proxy-audit lab long chain CA", "proxy-audit lab")?;
    let (issued, key) = ca.issue(names)?;
    let leaf = issued.into_iter().next();
    let chain: Vec<CertificateDer<'static>> = leaf
        .into_iter()
        .chain(iter::repeat_n(ca.cert_der(), LONG_CHAIN_LEN - 1))
        .collect();
    ca.server_config_with_chain(chain, key)
}

/// Writes [`GARBAGE`] and closes (gracefully, so the bytes arrive).
async fn garbage(mut stream: TcpStream) -> io::Result<()> {
    within(stream.write_all(GARBAGE)).await?;
    close_gracefully(stream).await;
    Ok(())
}

/// Reads once (the greeting), then closes with `SO_LINGER` 0: the client sees a reset.
async fn reset_after_greeting(mut stream: TcpStream) -> io::Result<()> {
    let mut greeting = [0; SINK];
    if within(stream.read(&mut greeting)).await? == 0 {
        return Ok(());
    }
    stream.set_zero_linger()?;
    drop(stream);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use tokio::task::JoinHandle;

    use super::*;

    /// How long a test waits to be sure nothing arrives.
    const QUIET: Duration = Duration::from_millis(200);

    async fn hostile(kind: Hostile) -> SocketAddr {
        counted_hostile(kind).await.0
    }

    /// A hostile endpoint and its byte counter.
    async fn counted_hostile(kind: Hostile) -> (SocketAddr, Arc<AtomicU64>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sent = Arc::new(AtomicU64::new(0));
        tokio::spawn(serve_hostile(listener, kind, Arc::clone(&sent)));
        (addr, sent)
    }

    /// A connected client and the session serving it, run directly so its end is visible.
    async fn session(kind: Hostile) -> (TcpStream, JoinHandle<io::Result<()>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let sent = AtomicU64::new(0);
        let running = async move { kind.session(server, &sent).await };
        (client, tokio::spawn(running))
    }

    /// Reads up to the end of a response head (at most 64 KiB).
    async fn response_head(client: &mut TcpStream) -> Vec<u8> {
        let mut head = Vec::new();
        let mut byte = [0; 1];
        while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
            client.read_exact(&mut byte).await.unwrap();
            head.push(byte[0]);
        }
        head
    }

    /// Drops the client and checks the session ends soon after.
    async fn assert_ends_when_client_leaves(
        client: TcpStream,
        session: JoinHandle<io::Result<()>>,
    ) {
        drop(client);
        let ended = tokio::time::timeout(STEP, session).await;
        assert!(ended.is_ok(), "the session outlived its client");
    }

    #[tokio::test]
    async fn tarpit_never_answers_nor_closes() {
        let mut client = TcpStream::connect(hostile(Hostile::Tarpit).await)
            .await
            .unwrap();
        client.write_all(&[5, 1, 0]).await.unwrap();
        let mut byte = [0; 1];
        let read = tokio::time::timeout(QUIET, client.read(&mut byte)).await;
        assert!(read.is_err(), "expected silence, got {read:?}");
    }

    #[tokio::test]
    async fn tarpit_ends_when_client_leaves() {
        let (mut client, session) = session(Hostile::Tarpit).await;
        client.write_all(b"hello").await.unwrap();
        assert_ends_when_client_leaves(client, session).await;
    }

    #[tokio::test]
    async fn drip_sends_one_byte_at_a_time_and_stays_open() {
        let mut client = TcpStream::connect(hostile(Hostile::Drip).await)
            .await
            .unwrap();
        client.write_all(&[5, 1, 0]).await.unwrap();
        let mut byte = [0; 1];
        client.read_exact(&mut byte).await.unwrap();
        assert_eq!(byte, [0x05]);
        let early = tokio::time::timeout(QUIET, client.read(&mut byte)).await;
        assert!(early.is_err(), "the second byte came too soon: {early:?}");
        let next = tokio::time::timeout(STEP, client.read(&mut byte)).await;
        assert_eq!(next.unwrap().unwrap(), 1, "the stream closed");
        assert_eq!(byte, [0x00]);
    }

    #[tokio::test]
    async fn drip_ends_when_client_leaves() {
        let (mut client, session) = session(Hostile::Drip).await;
        let mut byte = [0; 1];
        client.read_exact(&mut byte).await.unwrap();
        assert_ends_when_client_leaves(client, session).await;
    }

    #[tokio::test]
    async fn endless_never_stops_sending() {
        let client = TcpStream::connect(hostile(Hostile::Endless).await)
            .await
            .unwrap();
        let mut received = Vec::new();
        let limit = 2 * 1024 * 1024;
        client.take(limit).read_to_end(&mut received).await.unwrap();
        assert_eq!(received.len(), usize::try_from(limit).unwrap());
        assert!(received.starts_with(ENDLESS_START));
        assert!(memchr::memmem::find(&received, b"\r\n\r\n").is_none());
    }

    #[tokio::test]
    async fn endless_ends_when_client_leaves() {
        let (mut client, session) = session(Hostile::Endless).await;
        let mut start = [0; 64];
        client.read_exact(&mut start).await.unwrap();
        assert_ends_when_client_leaves(client, session).await;
    }

    #[tokio::test]
    async fn garbage_sends_64_bytes_then_closes() {
        let mut client = TcpStream::connect(hostile(Hostile::Garbage).await)
            .await
            .unwrap();
        client.write_all(&[5, 1, 0]).await.unwrap();
        let mut received = Vec::new();
        tokio::time::timeout(STEP, client.read_to_end(&mut received))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(received, GARBAGE);
        assert_ne!(received.first(), Some(&0x05));
    }

    #[tokio::test]
    async fn reset_after_greeting_resets() {
        let mut client = TcpStream::connect(hostile(Hostile::ResetAfterGreeting).await)
            .await
            .unwrap();
        client.write_all(&[5, 1, 0]).await.unwrap();
        let mut byte = [0; 1];
        let read = tokio::time::timeout(STEP, client.read(&mut byte))
            .await
            .unwrap();
        assert_eq!(
            read.map_err(|error| error.kind()),
            Err(io::ErrorKind::ConnectionReset)
        );
    }

    #[tokio::test]
    async fn huge_reply_announces_100_mb_and_writes_only_as_fast_as_read() {
        let (addr, sent) = counted_hostile(Hostile::HugeReply).await;
        let mut client = TcpStream::connect(addr).await.unwrap();
        client
            .write_all(b"GET http://http.lab.test/ HTTP/1.1\r\nHost: http.lab.test\r\n\r\n")
            .await
            .unwrap();
        let head = String::from_utf8(response_head(&mut client).await).unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(
            head.contains(&format!("Content-Length: {HUGE_BODY}\r\n")),
            "{head}"
        );
        let mut body = vec![0; 1024 * 1024];
        client.read_exact(&mut body).await.unwrap();
        assert!(body.iter().all(|&byte| byte == HUGE_FILL));
        // The client stopped after 1 MiB: the lab wrote at most that plus what the sockets
        // hold, nowhere near 100 MB.
        let written = sent.load(Ordering::Relaxed);
        assert!(written < 8 * 1024 * 1024, "{written} bytes written");
    }

    #[tokio::test]
    async fn huge_reply_answers_inside_a_connect_tunnel_too() {
        let mut client = TcpStream::connect(hostile(Hostile::HugeReply).await)
            .await
            .unwrap();
        client
            .write_all(b"CONNECT http.lab.test:80 HTTP/1.1\r\nHost: http.lab.test:80\r\n\r\n")
            .await
            .unwrap();
        let established = response_head(&mut client).await;
        assert_eq!(established, b"HTTP/1.1 200 Connection established\r\n\r\n");
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: http.lab.test\r\n\r\n")
            .await
            .unwrap();
        let head = String::from_utf8(response_head(&mut client).await).unwrap();
        assert!(
            head.contains(&format!("Content-Length: {HUGE_BODY}\r\n")),
            "{head}"
        );
    }

    #[tokio::test]
    async fn header_bomb_sends_header_fields_forever() {
        let (addr, sent) = counted_hostile(Hostile::HeaderBomb).await;
        let mut client = TcpStream::connect(addr).await.unwrap();
        client
            .write_all(b"GET http://http.lab.test/ HTTP/1.1\r\nHost: http.lab.test\r\n\r\n")
            .await
            .unwrap();
        let mut received = Vec::new();
        (&mut client)
            .take(512 * 1024)
            .read_to_end(&mut received)
            .await
            .unwrap();
        assert!(received.starts_with(b"HTTP/1.1 200 OK\r\nX-Bomb: 1\r\n"));
        assert!(memchr::memmem::find(&received, b"\r\n\r\n").is_none());
        let fields = memchr::memmem::find_iter(&received, BOMB_LINE).count();
        assert!(fields > 40_000, "only {fields} header fields");
        assert!(sent.load(Ordering::Relaxed) >= 512 * 1024);
    }

    #[tokio::test]
    async fn socks_huge_address_is_a_255_byte_success_tokio_socks_accepts() {
        let addr = hostile(Hostile::SocksHugeAddress).await;
        let mut tunnel = tokio_socks::tcp::Socks5Stream::connect(addr, ("tls.lab.test", 443))
            .await
            .unwrap();
        match tunnel.target_addr() {
            tokio_socks::TargetAddr::Domain(name, port) => {
                assert_eq!(name.len(), 255);
                assert!(name.starts_with("huge-address.lab.test."), "{name}");
                assert_eq!(port, 443);
            }
            other @ tokio_socks::TargetAddr::Ip(_) => panic!("expected a domain, got {other:?}"),
        }
        let mut start = vec![0; ENDLESS_START.len() + ENDLESS_LINE.len()];
        tunnel.read_exact(&mut start).await.unwrap();
        assert!(start.starts_with(ENDLESS_START));
        assert!(start.ends_with(ENDLESS_LINE));
    }

    #[test]
    fn huge_address_reply_is_the_longest_socks5_allows() {
        let reply = huge_address_reply();
        assert_eq!(reply.len(), 4 + 1 + 255 + 2);
        assert_eq!(reply[..5], [5, 0, 0, 3, 255]);
        assert!(std::str::from_utf8(&reply[5..260]).is_ok());
    }

    /// A lab secret of `mode` (FakeTLS for `fronted.lab.test`).
    fn secret(ee: bool) -> MtprotoSecret {
        let mut bytes = vec![if ee { 0xee } else { 0xdd }];
        bytes.extend_from_slice(&[7; 16]);
        if ee {
            bytes.extend_from_slice(b"fronted.lab.test");
        }
        MtprotoSecret::from_bytes(bytes).unwrap()
    }

    #[tokio::test]
    async fn faketls_bad_lengths_announces_more_than_it_sends_then_stays_silent() {
        let secret = secret(true);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve_faketls_bad_lengths(listener, secret.clone()));
        let mut client = TcpStream::connect(addr).await.unwrap();
        let hello = faketls::build_client_hello(
            "fronted.lab.test",
            &secret.key(),
            unix_now(),
            &faketls::HelloParams::random(),
        );
        client.write_all(&hello).await.unwrap();
        let mut header = [0; RECORD_HEADER_LEN + 4];
        client.read_exact(&mut header).await.unwrap();
        assert_eq!(header[..3], [HANDSHAKE, 3, 3]);
        assert_eq!(header[3..5], BAD_HELLO_LEN.to_be_bytes());
        let message = usize::from(header[6]) << 16 | usize::from(header[7]) << 8;
        let message = 4 + (message | usize::from(header[8]));
        assert!(message < usize::from(BAD_HELLO_LEN), "{message}");
        // The rest of the real answer comes, then nothing: the client would wait forever.
        let mut rest = vec![0; 64];
        client.read_exact(&mut rest).await.unwrap();
        let mut sink = vec![0; 64 * 1024];
        let more = async {
            loop {
                if client.read(&mut sink).await.unwrap() == 0 {
                    return;
                }
            }
        };
        assert!(tokio::time::timeout(QUIET, more).await.is_err());
        // What the auditor's MTProto client makes of it is tested with that client
        // (`probe::mtproto_conn`), which may use the lab.
    }

    #[tokio::test]
    async fn mtproto_endless_announces_a_1_gib_frame_then_streams() {
        let secret = secret(false);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sent = Arc::new(AtomicU64::new(0));
        tokio::spawn(serve_mtproto_endless(
            listener,
            secret.clone(),
            Arc::clone(&sent),
        ));
        let mut client = TcpStream::connect(addr).await.unwrap();
        let init = crate::proto::mtproto::obfs2::ObfuscatedInit::generate(
            crate::proto::mtproto::obfs2::ProtocolTag::PaddedIntermediate,
            2,
        );
        let (wire, mut cipher) = init.seal(&secret.key());
        client.write_all(&wire).await.unwrap();
        let mut header = [0; 4];
        client.read_exact(&mut header).await.unwrap();
        cipher.decrypt.apply(&mut header);
        assert_eq!(u32::from_le_bytes(header), ENDLESS_FRAME_LEN);
        let mut more = vec![0; 256 * 1024];
        client.read_exact(&mut more).await.unwrap();
        assert!(sent.load(Ordering::Relaxed) >= 4 + 256 * 1024);
    }

    #[test]
    fn long_chain_config_builds() {
        assert!(long_chain_config(&["tls.lab.test"]).is_ok());
    }
}
