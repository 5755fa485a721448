//! Opening inputs: files, standard input, and `http(s)://` URLs, plus `Sniffed`, a reader
//! that lets format detection look at the head of a stream without consuming it.
//!
//! Text inputs are streamed (memory does not grow with the file); URL bodies are read into
//! memory under a size cap and a deadline, since a list server may be slow or hostile.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::time::Duration;

use super::ReadError;

/// How much of an input detection looks at.
pub(crate) const SNIFF_LEN: usize = 64 * 1024;

/// Limits for fetching a list from a URL.
#[derive(Debug, Clone, Copy)]
pub struct FetchLimits {
    /// Largest body accepted, in bytes.
    pub max_bytes: u64,
    /// Deadline for the whole request, body included.
    pub timeout: Duration,
}

impl Default for FetchLimits {
    fn default() -> Self {
        Self {
            max_bytes: 32 * 1024 * 1024,
            timeout: Duration::from_secs(30),
        }
    }
}

/// True when an input name is a URL to fetch rather than a path.
pub(crate) fn is_url(name: &str) -> bool {
    let lower = name.get(..8).unwrap_or(name).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// Opens a file, or standard input for `-`.
pub(crate) fn open_local(name: &str) -> io::Result<Box<dyn BufRead + Send>> {
    if name == "-" {
        return Ok(Box::new(BufReader::with_capacity(SNIFF_LEN, io::stdin())));
    }
    let file = File::open(name)?;
    Ok(Box::new(BufReader::with_capacity(SNIFF_LEN, file)))
}

/// Fetches a list over HTTP(S): follows a few redirects, fails on a non-success status,
/// and stops reading at `limits.max_bytes` or `limits.timeout`.
pub async fn fetch(url: &str, limits: FetchLimits) -> Result<Vec<u8>, ReadError> {
    let client = reqwest::Client::builder()
        .timeout(limits.timeout)
        .connect_timeout(limits.timeout)
        .redirect(reqwest::redirect::Policy::limited(5))
        .user_agent(concat!("proxy-audit/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ReadError::Fetch(format!("cannot build HTTP client: {e}")))?;
    let mut response = client
        .get(url)
        .send()
        .await
        .map_err(|e| ReadError::Fetch(describe_reqwest_error(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(ReadError::Fetch(format!("server answered {status}")));
    }
    if response
        .content_length()
        .is_some_and(|len| len > limits.max_bytes)
    {
        return Err(ReadError::Fetch(format!(
            "body is larger than the {} byte limit",
            limits.max_bytes
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ReadError::Fetch(describe_reqwest_error(&e)))?
    {
        if body.len() as u64 + chunk.len() as u64 > limits.max_bytes {
            return Err(ReadError::Fetch(format!(
                "body is larger than the {} byte limit",
                limits.max_bytes
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A one-line reason for a failed request, with the underlying cause.
fn describe_reqwest_error(error: &reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else if error.is_redirect() {
        "too many redirects"
    } else {
        "request failed"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        cause = inner.to_string();
        source = inner.source();
    }
    if cause.is_empty() {
        what.to_owned()
    } else {
        format!("{what}: {cause}")
    }
}

/// A buffered reader whose first [`SNIFF_LEN`] bytes can be looked at before reading.
pub(crate) struct Sniffed<R> {
    /// Bytes peeked and not yet handed out.
    head: Vec<u8>,
    /// How much of `head` was handed out.
    pos: usize,
    /// The rest of the stream.
    inner: R,
}

impl<R: BufRead> Sniffed<R> {
    /// Wraps a reader; nothing is read yet.
    pub fn new(inner: R) -> Self {
        Self {
            head: Vec::new(),
            pos: 0,
            inner,
        }
    }

    /// Reads up to [`SNIFF_LEN`] bytes (fewer at end of input) and returns them; they will
    /// still be read afterwards.
    pub(crate) fn peek(&mut self) -> io::Result<&[u8]> {
        if self.head.is_empty() {
            (&mut self.inner)
                .take(SNIFF_LEN as u64)
                .read_to_end(&mut self.head)?;
        }
        Ok(self.head.get(self.pos..).unwrap_or_default())
    }
}

impl<R: BufRead> Read for Sniffed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), available.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Sniffed<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos < self.head.len() {
            return Ok(self.head.get(self.pos..).unwrap_or_default());
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        if self.pos < self.head.len() {
            self.pos = (self.pos + amount).min(self.head.len());
        } else {
            self.inner.consume(amount);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffed_reader_replays_the_head() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut reader = Sniffed::new(io::Cursor::new(data.clone()));
        assert_eq!(reader.peek().unwrap().len(), SNIFF_LEN);
        let mut all = Vec::new();
        reader.read_to_end(&mut all).unwrap();
        assert_eq!(all, data);
    }

    #[test]
    fn urls_are_told_from_paths() {
        assert!(is_url("https://example.org/list.txt"));
        assert!(is_url("HTTP://example.org"));
        assert!(!is_url("lists/links.txt"));
        assert!(!is_url("-"));
    }
}
