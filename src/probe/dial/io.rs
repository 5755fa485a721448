//! Byte-stream helpers of [`crate::probe::dial`], shared with the rest of the probe: the
//! stream that replays bytes read past a head (`Prefixed`), and how I/O errors read and
//! whether they say anything about the peer (`io_reason`, `is_transient`, `timed_out`).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::DialError;

/// A stream that yields `prefix` (bytes read past a response head) before reading `inner`;
/// writes go straight to `inner`.
#[derive(Debug)]
pub(crate) struct Prefixed<S> {
    /// Bytes to yield first.
    prefix: Vec<u8>,
    /// How many of them were yielded.
    consumed: usize,
    /// The stream itself.
    inner: S,
}

impl<S> Prefixed<S> {
    /// Yields `prefix`, then reads `inner`.
    pub(crate) fn new(prefix: Vec<u8>, inner: S) -> Self {
        Self {
            prefix,
            consumed: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let pending = this.prefix.get(this.consumed..).unwrap_or_default();
        if pending.is_empty() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let count = pending.len().min(buf.remaining());
        buf.put_slice(pending.get(..count).unwrap_or_default());
        this.consumed += count;
        if this.consumed >= this.prefix.len() {
            this.prefix = Vec::new();
            this.consumed = 0;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// An I/O error during a handshake: [`DialError::Interrupted`] when it is transient
/// ([`is_transient`]), else [`DialError::Handshake`].
pub(super) fn io_failure(error: &io::Error) -> DialError {
    if is_transient(error.kind()) {
        DialError::Interrupted(io_reason(error))
    } else {
        DialError::Handshake(io_reason(error))
    }
}

/// True for the I/O failures that say nothing about what the peer meant: a timeout, a
/// reset, an abort, a refusal, a write into a connection already gone. A clean close (end
/// of stream) is not one of them: closing is something a server decides to do.
pub(crate) fn is_transient(kind: io::ErrorKind) -> bool {
    use io::ErrorKind as K;
    matches!(
        kind,
        K::TimedOut
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::ConnectionRefused
            | K::BrokenPipe
    )
}

/// A short reason for an I/O error (`connection refused`, `connection closed`…).
pub(crate) fn io_reason(error: &io::Error) -> String {
    use io::ErrorKind as K;
    let reason = match error.kind() {
        K::ConnectionRefused => "connection refused",
        K::ConnectionReset => "connection reset",
        K::ConnectionAborted => "connection aborted",
        K::BrokenPipe => "connection closed while sending",
        K::UnexpectedEof => "connection closed",
        K::NetworkUnreachable => "network unreachable",
        K::HostUnreachable => "host unreachable",
        K::TimedOut => "timed out",
        _ => return error.to_string(),
    };
    reason.to_owned()
}

/// `timed out after 2s`.
pub(crate) fn timed_out(step: Duration) -> String {
    format!("timed out after {step:?}")
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    #[tokio::test]
    async fn prefixed_yields_the_prefix_first() {
        let mut stream = Prefixed::new(b"abc".to_vec(), &b"def"[..]);
        let mut two = [0; 2];
        stream.read_exact(&mut two).await.unwrap();
        assert_eq!(&two, b"ab");
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"cdef");
    }
}
