//! The head of an HTTP/1.x response (status line and header fields), parsed from bytes.
//!
//! Shared by the CONNECT exchange in [`crate::probe::dial`] and the GET in
//! [`crate::probe::http`]. The bytes come from a proxy that may be hostile, so parsing is
//! bounded: a head longer than [`MAX_HEAD`] bytes or with more than [`MAX_HEADERS`] fields is
//! an error, and header values that are not UTF-8 are kept lossily. Parsing itself is
//! `httparse`'s, with its strict defaults.

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

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

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
}
