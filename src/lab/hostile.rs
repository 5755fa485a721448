//! Hostile lab endpoints: listeners that misbehave at the socket level, to show that the
//! auditor bounds every wait and every read and survives resets.
//!
//! Each session ends promptly when its client goes away (a read returning EOF, or a write
//! failing), and all of them end when the serving future is dropped.

use std::io;
use std::iter;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::MissedTickBehavior;

use super::route::{close_gracefully, serve_sessions, within};

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

/// A hostile endpoint's behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hostile {
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
}

/// Serves `kind` on `listener`, one task per connection. Runs until dropped.
pub async fn serve_hostile(listener: TcpListener, kind: Hostile) {
    serve_sessions(listener, move |stream, _peer| async move {
        // A session ends when its client goes; how it went is of no interest.
        let _ = kind.session(stream).await;
    })
    .await;
}

impl Hostile {
    /// Misbehaves on one connection until the client goes away.
    async fn session(self, stream: TcpStream) -> io::Result<()> {
        match self {
            Self::Tarpit => tarpit(stream).await,
            Self::Drip => drip(stream).await,
            Self::Endless => endless(stream).await,
            Self::Garbage => garbage(stream).await,
            Self::ResetAfterGreeting => reset_after_greeting(stream).await,
        }
    }
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
async fn endless(mut stream: TcpStream) -> io::Result<()> {
    let chunk = ENDLESS_LINE.repeat(ENDLESS_CHUNK / ENDLESS_LINE.len());
    stream.write_all(ENDLESS_START).await?;
    loop {
        stream.write_all(&chunk).await?;
    }
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
    use crate::lab::route::STEP;

    /// How long a test waits to be sure nothing arrives.
    const QUIET: Duration = Duration::from_millis(200);

    async fn hostile(kind: Hostile) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve_hostile(listener, kind));
        addr
    }

    /// A connected client and the session serving it, run directly so its end is visible.
    async fn session(kind: Hostile) -> (TcpStream, JoinHandle<io::Result<()>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (client, tokio::spawn(kind.session(server)))
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
}
