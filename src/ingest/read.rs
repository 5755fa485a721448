//! Opening inputs: files, standard input, and `http(s)://` URLs, plus `Sniffed`, a reader
//! that lets format detection look at the head of a stream without consuming it.
//!
//! Text inputs are streamed (memory does not grow with the file); URL bodies are read into
//! memory under a size cap and a deadline, since a list server may be slow or hostile.
//!
//! A list URL names a server the auditor connects to directly, so it goes through the same
//! address policy as the proxies ([`crate::policy::destination`]): the URL's host and every
//! redirect's are checked before resolution and after it, the connection goes only to an
//! address that passed, and a loopback, private or link-local destination (a cloud metadata
//! service at `169.254.169.254`) is refused unless `--allow-private` is given.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use reqwest::Url;
use reqwest::header::LOCATION;

use super::ReadError;
use crate::policy::destination;

/// How much of an input detection looks at.
pub(crate) const SNIFF_LEN: usize = 64 * 1024;

/// Limits for fetching a list from a URL.
#[derive(Debug, Clone, Copy)]
pub struct FetchLimits {
    /// Largest body accepted, in bytes.
    pub max_bytes: u64,
    /// Deadline for the whole fetch: every redirect, name lookup and the body.
    pub timeout: Duration,
    /// Fetch from loopback, private, link-local and other non-public addresses too (and
    /// follow redirects there): `--allow-private`. Off, such a list URL or redirect is
    /// refused before any connection.
    pub allow_private: bool,
}

impl Default for FetchLimits {
    fn default() -> Self {
        Self {
            max_bytes: 32 * 1024 * 1024,
            timeout: Duration::from_secs(30),
            allow_private: false,
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

/// Most redirects followed for one list URL.
const MAX_REDIRECTS: usize = 5;

/// Fetches a list over HTTP(S): follows at most 5 redirects (`MAX_REDIRECTS`), each hop's
/// destination checked by the address policy (non-public ones only with
/// `limits.allow_private`), fails on a non-success status, and stops reading at
/// `limits.max_bytes` or `limits.timeout`.
pub async fn fetch(url: &str, limits: FetchLimits) -> Result<Vec<u8>, ReadError> {
    fetch_from(url, limits, limits.allow_private).await
}

/// [`fetch`], the first hop (`url` itself) held to `allow_first` instead of
/// `limits.allow_private`: the tests' loopback list server is let through while the
/// redirects it sends are held to the policy.
async fn fetch_from(
    url: &str,
    limits: FetchLimits,
    allow_first: bool,
) -> Result<Vec<u8>, ReadError> {
    tokio::time::timeout(limits.timeout, fetch_hops(url, limits, allow_first))
        .await
        .unwrap_or_else(|_| Err(format!("timed out after {:?}", limits.timeout)))
        .map_err(ReadError::Fetch)
}

/// [`fetch`] without its deadline: one guarded request per hop, redirects followed by hand
/// so that each `Location` goes through the address policy before anything connects.
async fn fetch_hops(url: &str, limits: FetchLimits, allow_first: bool) -> Result<Vec<u8>, String> {
    let mut url = Url::parse(url).map_err(|error| format!("invalid URL: {error}"))?;
    for hop in 0..=MAX_REDIRECTS {
        let allow_private = if hop == 0 {
            allow_first
        } else {
            limits.allow_private
        };
        let client = guarded_client(&url, allow_private, limits.timeout)
            .await
            .map_err(|refusal| {
                if hop == 0 {
                    refusal
                } else {
                    format!(
                        "redirected to {}: {refusal}",
                        super::shown_name(url.as_str())
                    )
                }
            })?;
        let mut response = client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| describe_reqwest_error(&e))?;
        let status = response.status();
        if matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
            if let Some(location) = response.headers().get(LOCATION) {
                let next = location
                    .to_str()
                    .ok()
                    .and_then(|location| url.join(location).ok())
                    .ok_or_else(|| format!("server answered {status} with a bad Location"))?;
                url = next;
                continue;
            }
        }
        if !status.is_success() {
            return Err(format!("server answered {status}"));
        }
        let too_large = || format!("body is larger than the {} byte limit", limits.max_bytes);
        if response
            .content_length()
            .is_some_and(|len| len > limits.max_bytes)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| describe_reqwest_error(&e))?
        {
            if body.len() as u64 + chunk.len() as u64 > limits.max_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        return Ok(body);
    }
    Err(format!("more than {MAX_REDIRECTS} redirects"))
}

/// A client for one request to `url` that can connect only where the address policy
/// allows (non-public addresses only with `allow_private`): the host is checked as written
/// and, for a name, resolved here and every address checked; the client is then pinned to
/// those addresses (no lookup of its own, no proxy from the environment, no redirect
/// followed).
async fn guarded_client(
    url: &Url,
    allow_private: bool,
    timeout: Duration,
) -> Result<reqwest::Client, String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{}: only http and https are fetched", url.scheme()));
    }
    let host = url.host_str().ok_or("the URL has no host")?;
    let port = url.port_or_known_default().ok_or("the URL has no port")?;
    // The URL parser writes IPv4 in dotted form (`2130706433` is `127.0.0.1` by now) and
    // IPv6 in brackets.
    let literal = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok();
    let resolve = || async move {
        match literal {
            Some(ip) => Ok(vec![SocketAddr::new(ip, port)]),
            None => match tokio::net::lookup_host((host, port)).await {
                Ok(addresses) => Ok(addresses.collect()),
                Err(error) => Err(format!("cannot resolve {host}: {error}")),
            },
        }
    };
    let addresses = destination::check(host, allow_private, resolve)
        .await
        .map_err(|refusal| refusal.to_string())?;
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("proxy-audit/", env!("CARGO_PKG_VERSION")));
    if literal.is_none() {
        builder = builder.resolve_to_addrs(host, &addresses);
    }
    builder
        .build()
        .map_err(|e| format!("cannot build HTTP client: {e}"))
}

/// A one-line reason for a failed request, with the underlying cause.
fn describe_reqwest_error(error: &reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
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
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    /// A loopback HTTP server answering every connection with `response` (head and body,
    /// as sent); its address.
    async fn serve(response: String) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = [0; 4096];
                let _ = stream.read(&mut request).await;
                let _ = stream.write_all(response.as_bytes()).await;
            }
        });
        addr
    }

    fn list(body: &str) -> String {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    fn redirect(location: &str) -> String {
        format!(
            "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\
             Connection: close\r\n\r\n"
        )
    }

    /// A loopback listener that nothing may connect to.
    struct Untouched(std::net::TcpListener);

    impl Untouched {
        fn new() -> Self {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.set_nonblocking(true).unwrap();
            Self(listener)
        }

        fn port(&self) -> u16 {
            self.0.local_addr().unwrap().port()
        }

        /// Panics when a connection is waiting. A fetch that connected did so before it
        /// returned, so the connection is queued by the time this looks.
        fn assert_untouched(&self) {
            match self.0.accept() {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                other => panic!("something connected: {other:?}"),
            }
        }
    }

    fn limits(allow_private: bool) -> FetchLimits {
        FetchLimits {
            timeout: Duration::from_secs(10),
            allow_private,
            ..FetchLimits::default()
        }
    }

    fn message(result: Result<Vec<u8>, ReadError>) -> String {
        match result {
            Err(ReadError::Fetch(message)) => message,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_list_url_on_a_reserved_address_is_refused_before_connecting() {
        let target = Untouched::new();
        let port = target.port();
        for (url, refused) in [
            (
                format!("http://127.0.0.1:{port}/list.txt"),
                "127.0.0.1 is a loopback address",
            ),
            // The URL parser reads the number as 127.0.0.1.
            (
                format!("http://2130706433:{port}/list.txt"),
                "127.0.0.1 is a loopback address",
            ),
            (
                format!("http://LocalHost:{port}/"),
                "localhost is a loopback address",
            ),
            ("https://[::1]/".to_owned(), "[::1] is a loopback address"),
            (
                format!("http://0.0.0.0:{port}/"),
                "0.0.0.0 is an unspecified address",
            ),
        ] {
            let error = message(fetch(&url, limits(false)).await);
            assert!(
                error.contains(refused) && error.contains("--allow-private"),
                "{url}: {error}"
            );
        }
        target.assert_untouched();
    }

    #[tokio::test]
    async fn redirects_into_reserved_addresses_are_refused_before_connecting() {
        let target = Untouched::new();
        let port = target.port();
        for (location, refused) in [
            (
                "http://169.254.169.254/latest/meta-data/".to_owned(),
                "169.254.169.254 is a link_local address",
            ),
            (
                format!("http://127.0.0.1:{port}/list.txt"),
                "127.0.0.1 is a loopback address",
            ),
            (
                format!("http://localhost:{port}/list.txt"),
                "localhost is a loopback address",
            ),
            (
                format!("https://0x7f.1:{port}/"),
                "127.0.0.1 is a loopback address",
            ),
        ] {
            let server = serve(redirect(&location)).await;
            let url = format!("http://{server}/list.txt");
            // The list server itself is let through; what it redirects to is not.
            let error = message(fetch_from(&url, limits(false), true).await);
            assert!(
                error.starts_with("redirected to ") && error.contains(refused),
                "{location}: {error}"
            );
        }
        target.assert_untouched();
    }

    #[tokio::test]
    async fn with_allow_private_loopback_lists_and_redirects_are_followed() {
        let server = serve(list("socks5://198.51.100.7:1080\n")).await;
        let absolute = serve(redirect(&format!("http://{server}/list.txt"))).await;
        let relative = serve(redirect("/moved/list.txt")).await;
        assert_eq!(
            fetch(&format!("http://{server}/list.txt"), limits(true))
                .await
                .unwrap(),
            b"socks5://198.51.100.7:1080\n"
        );
        assert_eq!(
            fetch(&format!("http://{absolute}/"), limits(true))
                .await
                .unwrap(),
            b"socks5://198.51.100.7:1080\n"
        );
        // A relative Location leads back to the redirecting server, which redirects again.
        let error = message(fetch(&format!("http://{relative}/"), limits(true)).await);
        assert_eq!(error, "more than 5 redirects");
        let elsewhere = serve(redirect("ftp://files.example/list.txt")).await;
        let error = message(fetch(&format!("http://{elsewhere}/"), limits(true)).await);
        assert!(error.contains("only http and https"), "{error}");
    }

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
