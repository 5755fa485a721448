//! HTTP/1.x heads: the response head (status line and header fields) parsed from bytes, and
//! the one bounded reader that collects a head from a byte stream.
//!
//! The parser is shared by the CONNECT exchange in [`crate::probe::dial`] and the GET in
//! [`crate::probe::http`]. The bytes come from a proxy that may be hostile, so parsing is
//! bounded: a head longer than [`MAX_HEAD`] bytes or with more than [`MAX_HEADERS`] fields is
//! an error, and header values that are not UTF-8 are kept lossily. Parsing itself is
//! `httparse`'s, with its strict defaults.
//!
//! The reader (`read_head`) is the one place that reads "until the end of the head": the
//! probe's response heads and the lab servers' request and response heads all go through
//! it. It is generic over [`AsyncRead`] (no socket in sight, so tests drive it with
//! `tokio::io::duplex`), holds at most the caller's byte cap, can bound each read in time,
//! and keeps the bytes read past the head for the caller. Where the head ends is the
//! caller's choice: a parser such as [`parse_response_head`], or the first CRLF CRLF
//! (`read_raw_head`).

use std::convert::Infallible;
use std::io;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt as _};

/// Longest response head accepted, in bytes (status line, fields and the blank line).
pub const MAX_HEAD: usize = 64 * 1024;

/// Most header fields accepted in one response head.
pub const MAX_HEADERS: usize = 100;

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// Minor version: `0` for HTTP/1.0, `1` for HTTP/1.1.
    pub minor_version: u8,
    /// Status code (100 to 999).
    pub status: u16,
    /// Reason phrase, possibly empty.
    pub reason: String,
    /// Header fields in order, names as sent, values as lossy UTF-8.
    pub headers: Vec<(String, String)>,
}

impl ResponseHead {
    /// Values of every field called `name` (ASCII case-insensitive), in order.
    pub fn values<'s>(&'s self, name: &str) -> impl Iterator<Item = &'s str> {
        self.headers
            .iter()
            .filter(move |(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Value of the first field called `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.values(name).next()
    }

    /// True for an interim (1xx) response, which a final response follows.
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status)
    }

    /// `403 Forbidden`: the status and (at most 64 characters of) the reason, for messages.
    pub fn status_line(&self) -> String {
        let reason: String = self.reason.chars().take(64).collect();
        if reason.is_empty() {
            self.status.to_string()
        } else {
            format!("{} {reason}", self.status)
        }
    }
}

/// Why bytes are not an acceptable response head.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// No complete head within [`MAX_HEAD`] bytes.
    #[error("response head longer than {MAX_HEAD} bytes")]
    TooLarge,
    /// More than [`MAX_HEADERS`] header fields.
    #[error("header bomb: more than {MAX_HEADERS} header fields")]
    HeaderBomb,
    /// Not HTTP/1.x: the parser's complaint.
    #[error("not an HTTP/1.x response: {0}")]
    Malformed(String),
}

/// Parses the response head at the start of `bytes`.
///
/// `Ok(None)` means the head is not complete yet (read more and call again);
/// `Ok(Some((head, len)))` gives the head and its length in bytes, after which the body (or
/// tunnelled bytes) starts.
pub fn parse_response_head(bytes: &[u8]) -> Result<Option<(ResponseHead, usize)>, HeadError> {
    let window = bytes.get(..MAX_HEAD).unwrap_or(bytes);
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut fields);
    let len = match response.parse(window) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if window.len() >= MAX_HEAD => {
            return Err(HeadError::TooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::HeaderBomb),
        Err(error) => return Err(HeadError::Malformed(error.to_string())),
    };
    let (Some(minor_version), Some(status)) = (response.version, response.code) else {
        return Err(HeadError::Malformed("no status line".into()));
    };
    if status < 100 {
        return Err(HeadError::Malformed(format!("status code {status:03}")));
    }
    let head = ResponseHead {
        minor_version,
        status,
        reason: response.reason.unwrap_or_default().to_owned(),
        headers: response
            .headers
            .iter()
            .map(|field| {
                (
                    field.name.to_owned(),
                    String::from_utf8_lossy(field.value).into_owned(),
                )
            })
            .collect(),
    };
    Ok(Some((head, len)))
}

/// Bytes asked of the stream per read while looking for the end of a head.
const READ_CHUNK: usize = 4096;

/// The end of a raw head: CR LF CR LF.
const BLANK_LINE: &[u8] = b"\r\n\r\n";

/// How much [`read_head`] may read, and how long it may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeadLimits {
    /// Most bytes held while looking for the end of the head (bytes carried in included):
    /// the head must end within them. Never more is read from the stream.
    pub max_bytes: usize,
    /// Longest wait for any one read; `None` when the caller bounds the whole read itself.
    pub read_timeout: Option<Duration>,
}

impl HeadLimits {
    /// At most `max_bytes`, no deadline per read (the caller has one for the whole head).
    pub const fn bytes(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            read_timeout: None,
        }
    }
}

/// A head found by [`read_head`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FoundHead<T> {
    /// What the framing function made of the head (a [`ResponseHead`], or `()`).
    pub value: T,
    /// The head's bytes, up to and including the line that ends it.
    pub head: Vec<u8>,
    /// Bytes read past the head: the start of a body, a tunnel, or the next head.
    pub rest: Vec<u8>,
    /// When this call's first read brought bytes; `None` when the head was found in the
    /// bytes carried in, without reading.
    pub first_byte: Option<Instant>,
}

/// Why [`read_head`] found no head.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadHeadError<E> {
    /// End of stream with no byte held (none carried in, none read).
    #[error("connection closed before a head")]
    ClosedBefore,
    /// End of stream inside the head.
    #[error("connection closed inside the head")]
    ClosedInside,
    /// The cap's worth of bytes held and no end of head among them.
    #[error("head longer than {0} bytes")]
    TooLarge(usize),
    /// One read waited longer than [`HeadLimits::read_timeout`].
    #[error("timed out waiting for the head")]
    TimedOut,
    /// A read failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The framing function refused the bytes.
    #[error(transparent)]
    Invalid(E),
}

impl<E> From<ReadHeadError<E>> for io::Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    /// The error as the lab servers report it: an end of stream is
    /// [`io::ErrorKind::UnexpectedEof`], a head over the cap or refused
    /// [`io::ErrorKind::InvalidData`], a read too slow [`io::ErrorKind::TimedOut`].
    fn from(error: ReadHeadError<E>) -> Self {
        match error {
            ReadHeadError::ClosedBefore | ReadHeadError::ClosedInside => {
                io::ErrorKind::UnexpectedEof.into()
            }
            ReadHeadError::TooLarge(_) => {
                io::Error::new(io::ErrorKind::InvalidData, "head too large")
            }
            ReadHeadError::TimedOut => io::ErrorKind::TimedOut.into(),
            ReadHeadError::Io(error) => error,
            ReadHeadError::Invalid(error) => io::Error::new(io::ErrorKind::InvalidData, error),
        }
    }
}

/// Reads from `reader` until `frame` finds a complete head, holding at most
/// `limits.max_bytes` bytes; `carried` are bytes already read (what followed a previous
/// head), looked at before anything is read.
///
/// `frame` is given every byte held so far and answers `Ok(None)` (not complete yet),
/// `Ok(Some((value, len)))` (a head of `len` bytes) or an error, which ends the read: a
/// parser can refuse garbage without waiting for the cap. It is called again only when a
/// read brings a line end (and after the first read, and when the cap is reached), so a peer
/// dripping bytes costs a bounded number of calls. Reads ask for at most 4 KiB and never
/// for more than the cap leaves room for, so nothing past the cap is ever taken from the
/// stream.
pub(crate) async fn read_head<R, T, E, F>(
    reader: &mut R,
    carried: Vec<u8>,
    limits: HeadLimits,
    mut frame: F,
) -> Result<FoundHead<T>, ReadHeadError<E>>
where
    R: AsyncRead + Unpin,
    F: FnMut(&[u8]) -> Result<Option<(T, usize)>, E>,
{
    let mut buf = carried;
    let mut first_byte = None;
    let mut look = !buf.is_empty();
    loop {
        if look {
            if let Some((value, len)) = frame(&buf).map_err(ReadHeadError::Invalid)? {
                let rest = buf.split_off(len.min(buf.len()));
                return Ok(FoundHead {
                    value,
                    head: buf,
                    rest,
                    first_byte,
                });
            }
        }
        let room = limits.max_bytes.saturating_sub(buf.len());
        if room == 0 {
            return Err(ReadHeadError::TooLarge(limits.max_bytes));
        }
        let want = room.min(READ_CHUNK);
        let before = buf.len();
        buf.reserve(want);
        let limit = u64::try_from(want).unwrap_or(u64::MAX);
        let mut limited = (&mut *reader).take(limit);
        let read = limited.read_buf(&mut buf);
        let read = match limits.read_timeout {
            Some(patience) => tokio::time::timeout(patience, read)
                .await
                .map_err(|_| ReadHeadError::TimedOut)?,
            None => read.await,
        }?;
        if read == 0 {
            return Err(if buf.is_empty() {
                ReadHeadError::ClosedBefore
            } else {
                ReadHeadError::ClosedInside
            });
        }
        first_byte.get_or_insert_with(Instant::now);
        let fresh = buf.get(before..).unwrap_or_default();
        look =
            before == 0 || buf.len() >= limits.max_bytes || memchr::memchr(b'\n', fresh).is_some();
    }
}

/// Reads a head that ends at its first CR LF CR LF, without parsing it (the lab servers'
/// request heads and the origins' answers); see [`read_head`] for the limits.
///
/// The search for the blank line resumes where the previous one stopped, so a head costs
/// one pass over its bytes however it is cut into reads.
pub(crate) async fn read_raw_head<R>(
    reader: &mut R,
    limits: HeadLimits,
) -> Result<FoundHead<()>, ReadHeadError<Infallible>>
where
    R: AsyncRead + Unpin,
{
    let mut searched: usize = 0;
    read_head(reader, Vec::new(), limits, |bytes: &[u8]| {
        // The blank line may straddle two reads: look again from just before the new bytes.
        let from = searched.saturating_sub(BLANK_LINE.len() - 1);
        searched = bytes.len();
        let found = bytes
            .get(from..)
            .and_then(|tail| memchr::memmem::find(tail, BLANK_LINE));
        Ok(found.map(|at| ((), from + at + BLANK_LINE.len())))
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use tokio::io::{AsyncReadExt, AsyncWriteExt as _, DuplexStream};

    use super::*;

    fn complete(bytes: &[u8]) -> (ResponseHead, usize) {
        parse_response_head(bytes).unwrap().unwrap()
    }

    #[test]
    fn complete_head_gives_fields_and_length() {
        let bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nx-a: 2\r\n\r\nhello";
        let (head, len) = complete(bytes);
        assert_eq!(len, bytes.len() - 5);
        assert_eq!(head.minor_version, 1);
        assert_eq!(head.status, 200);
        assert_eq!(head.reason, "OK");
        assert_eq!(
            head.headers,
            [
                ("Content-Length".to_owned(), "5".to_owned()),
                ("X-A".to_owned(), "1".to_owned()),
                ("x-a".to_owned(), "2".to_owned()),
            ]
        );
        assert_eq!(head.header("content-length"), Some("5"));
        assert_eq!(head.values("X-a").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(head.header("missing"), None);
    }

    #[test]
    fn incomplete_head_asks_for_more() {
        let bytes = b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n";
        for cut in 0..bytes.len() {
            assert_eq!(parse_response_head(&bytes[..cut]), Ok(None), "cut at {cut}");
        }
        assert_eq!(complete(bytes).1, bytes.len());
    }

    #[test]
    fn status_line_variants() {
        let (head, _) = complete(b"HTTP/1.0 200 Connection established\r\n\r\n");
        assert_eq!((head.minor_version, head.status), (0, 200));
        assert_eq!(head.status_line(), "200 Connection established");

        let (head, len) = complete(b"HTTP/1.1 200\r\n\r\n");
        assert_eq!((head.status, head.reason.as_str(), len), (200, "", 16));
        assert_eq!(head.status_line(), "200");

        let (head, _) = complete(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n");
        assert_eq!(head.status_line(), "407 Proxy Authentication Required");

        let (head, _) = complete(b"HTTP/1.1 100 Continue\n\n");
        assert!(head.is_interim());
    }

    #[test]
    fn long_reason_is_cut_in_messages() {
        let bytes = format!("HTTP/1.1 403 {}\r\n\r\n", "x".repeat(500));
        let (head, _) = complete(bytes.as_bytes());
        assert_eq!(head.reason.len(), 500);
        assert_eq!(head.status_line().len(), 4 + 64);
    }

    #[test]
    fn garbage_is_malformed() {
        for bytes in [
            &b"SSH-2.0-OpenSSH_9.6\r\n"[..],
            b"\x05\x00",
            b"HTTP/2 200 OK\r\n\r\n",
            b"HTTP/1.1 2OO OK\r\n\r\n",
            b"HTTP/1.1 099 Low\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        ] {
            assert!(
                matches!(parse_response_head(bytes), Err(HeadError::Malformed(_))),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn hundred_fields_pass_and_more_is_a_bomb() {
        let head = |fields: usize| {
            let mut text = String::from("HTTP/1.1 200 OK\r\n");
            for i in 0..fields {
                write!(text, "X-{i}: v\r\n").unwrap();
            }
            text + "\r\n"
        };
        let (parsed, _) = complete(head(MAX_HEADERS).as_bytes());
        assert_eq!(parsed.headers.len(), MAX_HEADERS);
        assert_eq!(
            parse_response_head(head(MAX_HEADERS + 1).as_bytes()),
            Err(HeadError::HeaderBomb)
        );
        // The bomb is seen before the head is complete.
        let partial = head(MAX_HEADERS + 1);
        assert_eq!(
            parse_response_head(&partial.as_bytes()[..partial.len() - 2]),
            Err(HeadError::HeaderBomb)
        );
    }

    #[test]
    fn head_longer_than_the_limit_is_refused() {
        let mut bytes = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
        bytes.resize(MAX_HEAD, b'a');
        assert_eq!(parse_response_head(&bytes), Err(HeadError::TooLarge));
        bytes.extend_from_slice(b"\r\n\r\n");
        assert_eq!(parse_response_head(&bytes), Err(HeadError::TooLarge));
        // Just under the limit is fine.
        bytes.truncate(MAX_HEAD - 4);
        bytes.extend_from_slice(b"\r\n\r\n");
        assert_eq!(complete(&bytes).1, MAX_HEAD);
    }

    #[test]
    fn non_utf8_values_are_kept_lossily() {
        let (head, _) = complete(b"HTTP/1.1 200 OK\r\nX-Bytes: a\xffb\r\n\r\n");
        assert_eq!(head.header("x-bytes"), Some("a\u{fffd}b"));
    }

    /// A one-byte pipe fed `chunks` (so every read brings one byte), which then ends or,
    /// when `then_silent`, stays open and silent.
    fn reads(chunks: &[&[u8]], then_silent: bool) -> DuplexStream {
        let chunks: Vec<Vec<u8>> = chunks.iter().map(|chunk| chunk.to_vec()).collect();
        let (reader, mut writer) = tokio::io::duplex(1);
        tokio::spawn(async move {
            for chunk in chunks {
                writer.write_all(&chunk).await.unwrap();
            }
            if then_silent {
                std::future::pending::<()>().await;
            }
        });
        reader
    }

    /// A small cap, to test it cheaply.
    const CAP: HeadLimits = HeadLimits::bytes(64);

    #[tokio::test]
    async fn a_head_split_over_many_reads_is_found_and_the_rest_kept() {
        // A one-byte pipe: every read brings a single byte.
        let request = b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\nafter";
        let mut reader = reads(&[request], false);
        let found = read_raw_head(&mut reader, CAP).await.unwrap();
        assert_eq!(found.head, b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
        assert!(found.first_byte.is_some());
        let mut after = Vec::new();
        reader.read_to_end(&mut after).await.unwrap();
        assert_eq!([found.rest, after].concat(), b"after");

        let mut reader = reads(&[b"HTTP/1.1 204 No Content\r\nServer: drip\r\n\r\n"], false);
        let found = read_head(
            &mut reader,
            Vec::new(),
            HeadLimits::bytes(MAX_HEAD),
            parse_response_head,
        )
        .await
        .unwrap();
        assert_eq!(found.value.status, 204);
        assert_eq!(found.value.header("server"), Some("drip"));
    }

    #[tokio::test]
    async fn bytes_after_the_head_are_kept_and_the_blank_line_may_straddle_reads() {
        let mut one: &[u8] = b"GET / HTTP/1.1\r\n\r\nbody and more";
        let found = read_raw_head(&mut one, CAP).await.unwrap();
        assert_eq!(found.head, b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(found.rest, b"body and more");

        for cut in 1..4 {
            let whole = b"GET / HTTP/1.1\r\nA: b\r\n\r\nbody";
            let at = whole.len() - 4 - cut;
            let (first, second) = whole.split_at(at);
            let mut split = first.chain(second);
            let found = read_raw_head(&mut split, CAP).await.unwrap();
            assert_eq!(found.head, &whole[..whole.len() - 4], "cut {cut}");
            assert_eq!(found.rest, b"body", "cut {cut}");
        }
    }

    #[tokio::test]
    async fn a_head_over_the_cap_is_refused_without_reading_past_it() {
        let flood = [b'a'; 100];
        let mut stream = &flood[..];
        let error = read_raw_head(&mut stream, CAP).await.unwrap_err();
        assert!(matches!(error, ReadHeadError::TooLarge(64)), "{error:?}");
        assert_eq!(stream.len(), 100 - 64, "read past the cap");

        // Ending exactly at the cap is fine; one byte later is not.
        let mut exact = b"GET / HTTP/1.1\r\nX: ".to_vec();
        exact.resize(60, b'a');
        exact.extend_from_slice(b"\r\n\r\n");
        let found = read_raw_head(&mut &exact[..], CAP).await.unwrap();
        assert_eq!(found.head.len(), 64);
        exact.insert(20, b'a');
        assert!(matches!(
            read_raw_head(&mut &exact[..], CAP).await,
            Err(ReadHeadError::TooLarge(_))
        ));

        // The parser's own cap gives its own error first.
        let mut big = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        big.resize(MAX_HEAD + 10, b'a');
        let error = read_head(
            &mut &big[..],
            Vec::new(),
            HeadLimits::bytes(MAX_HEAD),
            parse_response_head,
        )
        .await
        .unwrap_err();
        assert!(
            matches!(error, ReadHeadError::Invalid(HeadError::TooLarge)),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn eof_before_and_inside_the_head() {
        let error = read_raw_head(&mut &b""[..], CAP).await.unwrap_err();
        assert!(matches!(error, ReadHeadError::ClosedBefore), "{error:?}");
        let error = read_raw_head(&mut &b"GET / HTTP/1.1\r\n"[..], CAP)
            .await
            .unwrap_err();
        assert!(matches!(error, ReadHeadError::ClosedInside), "{error:?}");
        // Bytes carried in count as held.
        let error = read_head(
            &mut &b""[..],
            b"HTTP/1.1 2".to_vec(),
            CAP,
            parse_response_head,
        )
        .await
        .unwrap_err();
        assert!(matches!(error, ReadHeadError::ClosedInside), "{error:?}");
    }

    #[tokio::test]
    async fn carried_bytes_are_framed_before_reading() {
        let carried = b"HTTP/1.1 200 OK\r\n\r\ntunnel".to_vec();
        // The stream would block forever: nothing is read from it.
        let mut silent = reads(&[], true);
        let found = read_head(&mut silent, carried, CAP, parse_response_head)
            .await
            .unwrap();
        assert_eq!(found.value.status, 200);
        assert_eq!(found.rest, b"tunnel");
        assert_eq!(found.first_byte, None);
    }

    #[tokio::test]
    async fn garbage_is_refused_at_once_without_waiting_for_more() {
        let mut reader = reads(&[b"SSH-2.0-OpenSSH_9.6\r\n"], true);
        let error = read_head(&mut reader, Vec::new(), CAP, parse_response_head)
            .await
            .unwrap_err();
        assert!(
            matches!(error, ReadHeadError::Invalid(HeadError::Malformed(_))),
            "{error:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_slower_than_the_timeout_ends_the_read() {
        let limits = HeadLimits {
            max_bytes: 64,
            read_timeout: Some(Duration::from_secs(5)),
        };
        let mut reader = reads(&[b"GET / HTTP/1.1\r\n"], true);
        let error = read_raw_head(&mut reader, limits).await.unwrap_err();
        assert!(matches!(error, ReadHeadError::TimedOut), "{error:?}");
    }

    #[test]
    fn errors_become_io_errors_of_the_right_kind() {
        let kind = |error: ReadHeadError<HeadError>| io::Error::from(error).kind();
        assert_eq!(
            kind(ReadHeadError::ClosedBefore),
            io::ErrorKind::UnexpectedEof
        );
        assert_eq!(
            kind(ReadHeadError::ClosedInside),
            io::ErrorKind::UnexpectedEof
        );
        assert_eq!(kind(ReadHeadError::TooLarge(1)), io::ErrorKind::InvalidData);
        assert_eq!(kind(ReadHeadError::TimedOut), io::ErrorKind::TimedOut);
        assert_eq!(
            kind(ReadHeadError::Invalid(HeadError::TooLarge)),
            io::ErrorKind::InvalidData
        );
        assert_eq!(
            kind(ReadHeadError::Io(io::ErrorKind::ConnectionReset.into())),
            io::ErrorKind::ConnectionReset
        );
    }
}
