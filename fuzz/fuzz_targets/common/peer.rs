//! The far side of a connection, played from memory: reads yield the fuzz bytes in chunks of
//! a chosen size (so byte-at-a-time drips are covered), then end of stream; writes are
//! swallowed. Every poll is ready at once, so a hang is a bug in the reader, not here.

use std::io;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::runtime::Runtime;

/// A peer that sends `bytes`, at most `chunk` (at least 1) per read.
#[derive(Debug)]
pub struct Peer {
    bytes: Vec<u8>,
    at: usize,
    chunk: usize,
}

impl Peer {
    pub fn new(bytes: &[u8], chunk: usize) -> Self {
        Self {
            bytes: bytes.to_vec(),
            at: 0,
            chunk: chunk.max(1),
        }
    }
}

impl AsyncRead for Peer {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let left = self.bytes.len() - self.at;
        let n = left.min(self.chunk).min(buf.remaining());
        let at = self.at;
        buf.put_slice(&self.bytes[at..at + n]);
        self.at += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Peer {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Chunk size from a control byte: mostly whole reads, sometimes drips.
pub fn chunk_of(control: u8) -> usize {
    match control % 4 {
        0 => 1,
        1 => usize::from(control / 4) + 1,
        _ => usize::MAX,
    }
}

/// One current-thread runtime for the whole run.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime")
    })
}
