//! Links: `tg://proxy`, `tg://socks`, `https://t.me/proxy` (and `telegram.me`,
//! `telegram.dog`), and proxy URLs (`socks5://`, `socks5h://`, `socks4://`, `socks4a://`,
//! `http://`, `https://`), found anywhere in a line of text.
//!
//! Written by hand rather than with the `url` crate: Telegram links are not URLs a general
//! parser treats kindly (`&amp;` left over from HTML, `+` that must stay `+` in base64
//! secrets, raw IPv6 in a query value, opaque `tg:` hosts), and this is the hot path of a
//! million-line list.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::LazyLock;

use memchr::memmem;
use percent_encoding::percent_decode_str;

use crate::proto::mtproto::secret::MtprotoSecret;
use crate::proxy::{ProxyKind, ProxySpec, SpecError, normalize_host, parse_port};

/// Port assumed for a SOCKS URL that names none.
const DEFAULT_SOCKS_PORT: u16 = 1080;

/// Hosts whose `/proxy` and `/socks` paths are Telegram proxy links.
const TELEGRAM_HOSTS: &[&str] = &["t.me", "telegram.me", "telegram.dog"];

/// Prepared searches, built once: this is the hot path of a million-line list.
static SCHEME_SEPARATOR: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new("://"));
/// `&` escaped by an HTML export.
static AMP_ENTITY: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new("&amp;"));

/// A link found in a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundLink<'a> {
    /// Byte range of the link in the line.
    pub range: Range<usize>,
    /// The link text.
    pub text: &'a str,
    /// The proxy it describes, or why it cannot be used.
    pub outcome: Result<ProxySpec, SpecError>,
}

/// Finds every proxy link in `line`. Links to other things (`https://example.org/page`,
/// `tg://resolve?…`) are not proxies and are skipped.
pub fn find_links(line: &str) -> Vec<FoundLink<'_>> {
    let mut found: Vec<FoundLink<'_>> = Vec::new();
    let bytes = line.as_bytes();
    for sep in SCHEME_SEPARATOR.find_iter(bytes) {
        let start = scheme_start(bytes, sep);
        if found.last().is_some_and(|last| start < last.range.end) {
            continue;
        }
        push_candidate(line, start, sep + 3, &mut found);
    }
    // A `/proxy?` or `/socks?` outside the links found means one pasted without a scheme:
    // only then is the slower scan worth it. One pass over the `?`s finds both paths.
    let schemeless = memchr::memchr_iter(b'?', bytes).any(|question| {
        let path = bytes.get(question.saturating_sub(6)..question);
        matches!(path, Some(b"/proxy" | b"/socks"))
            && !found.iter().any(|f| f.range.contains(&question))
    });
    if schemeless {
        find_schemeless(line, &mut found);
    }
    found
}

/// Links like `t.me/proxy?…` pasted without `https://`.
fn find_schemeless<'a>(line: &'a str, found: &mut Vec<FoundLink<'a>>) {
    let lower = line.to_ascii_lowercase();
    for host in TELEGRAM_HOSTS {
        for at in memmem::find_iter(lower.as_bytes(), host.as_bytes()) {
            let preceded_by_word = at > 0
                && lower
                    .as_bytes()
                    .get(at - 1)
                    .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'/' || *b == b'.');
            let inside_found = found.iter().any(|f| f.range.contains(&at));
            if preceded_by_word || inside_found {
                continue;
            }
            let mut new = Vec::new();
            push_candidate(line, at, at, &mut new);
            found.extend(new);
        }
    }
    found.sort_by_key(|f| f.range.start);
}

/// Extends a candidate from `start` (scheme or host start) through the end of the link and
/// records it when it is a proxy link.
///
/// Text of another script glued to the end of a link (`socks5://1.2.3.4:1080быстрый`) is
/// part of the candidate, since a host or a credential may be written in it; when the link
/// does not read with it, and what fails is not the host, the link is read again without
/// that trailing run. A host is never cut short: `socks5://lоcalhost` is one name.
fn push_candidate<'a>(line: &'a str, start: usize, body: usize, found: &mut Vec<FoundLink<'a>>) {
    let end = body + link_len(line.get(body..).unwrap_or_default());
    let mut text = trim_trailing_punctuation(line.get(start..end).unwrap_or_default());
    let mut outcome = parse_link(text);
    let host_failed = matches!(
        outcome,
        Some(Err(SpecError::BadHost(_)
            | SpecError::BadIdn(_)
            | SpecError::EmptyHost))
    );
    if matches!(outcome, Some(Err(_))) && !host_failed {
        let shorter = trim_trailing_punctuation(text.trim_end_matches(|c: char| !c.is_ascii()));
        if shorter.len() < text.len() {
            if let Some(Ok(spec)) = parse_link(shorter) {
                text = shorter;
                outcome = Some(Ok(spec));
            }
        }
    }
    if let Some(outcome) = outcome {
        found.push(FoundLink {
            range: start..start + text.len(),
            text,
            outcome,
        });
    }
}

/// Length of the link that starts `rest`: up to the first terminator. A non-ASCII
/// character continues a link when it is a letter or digit (an internationalised host, a
/// credential) or U+FFFD (bytes of the input that were not UTF-8: cutting the link there
/// would silently change what it says); any other (emoji, `«»`, dashes) ends it.
fn link_len(rest: &str) -> usize {
    let bytes = rest.as_bytes();
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        if byte.is_ascii() {
            if is_terminator(byte) {
                break;
            }
            at += 1;
            continue;
        }
        match rest.get(at..).and_then(|tail| tail.chars().next()) {
            Some(c) if c.is_alphanumeric() || c == char::REPLACEMENT_CHARACTER => {
                at += c.len_utf8();
            }
            _ => break,
        }
    }
    at
}

/// Walks back from `://` over scheme characters.
fn scheme_start(bytes: &[u8], sep: usize) -> usize {
    let mut start = sep;
    while start > 0
        && bytes
            .get(start - 1)
            .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        start -= 1;
    }
    start
}

/// ASCII bytes that end a link in running text, as a table (the scan over each link is
/// hot); non-ASCII characters are decided by `link_len`.
#[allow(clippy::indexing_slicing)] // b < 256 = table.len()
static TERMINATORS: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        #[allow(clippy::cast_possible_truncation)] // b < 256
        let byte = b as u8;
        table[b] = byte.is_ascii_whitespace()
            || !matches!(byte, 0x20..0x80)
            || matches!(
                byte,
                b'"' | b'\''
                    | b'<'
                    | b'>'
                    | b'`'
                    | b'('
                    | b')'
                    | b'{'
                    | b'}'
                    | b'|'
                    | b'\\'
                    | b'^'
                    | b','
            );
        b += 1;
    }
    table
};

/// True when the ASCII byte `b` ends a link in running text.
#[allow(clippy::indexing_slicing)] // a u8 always indexes a 256-entry table
fn is_terminator(b: u8) -> bool {
    TERMINATORS[usize::from(b)]
}

/// Drops sentence punctuation and markdown that follow a link in prose.
fn trim_trailing_punctuation(text: &str) -> &str {
    let mut text = text.trim_end_matches(['.', ';', ':', '!', '?', '*']);
    if text.ends_with(']') && !text.contains('[') {
        text = text.trim_end_matches(']');
        text = text.trim_end_matches(['.', ';', ':', '!', '?', '*']);
    }
    text
}

/// Parses one link. `None` means "not a proxy link at all"; `Some(Err)` means it is one
/// but cannot be used.
pub fn parse_link(text: &str) -> Option<Result<ProxySpec, SpecError>> {
    let separator = SCHEME_SEPARATOR.find(text.as_bytes());
    let (scheme, rest) = match separator {
        Some(at) => (text.get(..at)?, text.get(at + 3..)?),
        None => ("https", text),
    };
    let is = |name: &str| scheme.eq_ignore_ascii_case(name);
    if is("tg") {
        parse_tg(rest)
    } else if is("http") || is("https") {
        match telegram_path(rest) {
            Some(path_and_query) => parse_tg(path_and_query),
            None if separator.is_some() => parse_proxy_url(scheme, rest, false),
            None => None,
        }
    } else if ["socks5", "socks5h", "socks", "socks4", "socks4a"]
        .iter()
        .any(|s| is(s))
    {
        parse_proxy_url(scheme, rest, true)
    } else {
        None
    }
}

/// For `t.me/proxy?…` style links, returns `proxy?…`; `None` for any other host or path.
fn telegram_path(rest: &str) -> Option<&str> {
    let (host, path) = split_once_byte(rest, b'/')?;
    let host = match host.get(..4) {
        Some(www) if www.eq_ignore_ascii_case("www.") => host.get(4..)?,
        _ => host,
    };
    let is_telegram = TELEGRAM_HOSTS.iter().any(|t| t.eq_ignore_ascii_case(host));
    is_telegram.then_some(path)
}

/// Splits `text` at the first `byte` (ASCII). For the short pieces of a link, testing each
/// byte beats `str::split_once(char)`, which sets up a `memchr` scan for every call (the
/// difference shows in profiles of million-line lists).
fn split_once_byte(text: &str, byte: u8) -> Option<(&str, &str)> {
    let at = text.bytes().position(|b| b == byte)?;
    Some((text.get(..at)?, text.get(at + 1..)?))
}

/// Parses `proxy?…` or `socks?…` (the part after `tg://` or `t.me/`).
fn parse_tg(rest: &str) -> Option<Result<ProxySpec, SpecError>> {
    let (path, query) = split_once_byte(rest, b'?').unwrap_or((rest, ""));
    let path = path.trim_end_matches('/');
    let kind = if path.eq_ignore_ascii_case("proxy") {
        ProxyKind::Mtproto
    } else if path.eq_ignore_ascii_case("socks") {
        ProxyKind::Socks5
    } else {
        return None;
    };
    Some(tg_spec(kind, query))
}

/// Builds a spec from a Telegram link's query, parameters in any order, unknown ones
/// ignored, `&amp;` accepted as `&`.
fn tg_spec(kind: ProxyKind, query: &str) -> Result<ProxySpec, SpecError> {
    let query = split_once_byte(query, b'#').map_or(query, |(query, _)| query);
    let query: Cow<'_, str> = if AMP_ENTITY.find(query.as_bytes()).is_some() {
        Cow::Owned(query.replace("&amp;", "&"))
    } else {
        Cow::Borrowed(query)
    };
    let mut server = None;
    let mut port = None;
    let mut secret = None;
    let mut user = None;
    let mut pass = None;
    let mut rest = Some(&*query);
    while let Some(text) = rest {
        let (pair, next) = split_once_byte(text, b'&').map_or((text, None), |(p, n)| (p, Some(n)));
        rest = next;
        let (key, value) = split_once_byte(pair, b'=').unwrap_or((pair, ""));
        let mut slots = [
            ("server", &mut server),
            ("port", &mut port),
            ("secret", &mut secret),
            ("user", &mut user),
            ("pass", &mut pass),
        ];
        let Some((_, slot)) = slots
            .iter_mut()
            .find(|(name, _)| key.eq_ignore_ascii_case(name))
        else {
            continue;
        };
        if slot.is_none() {
            **slot = Some(decode_component(value, field_name(key))?);
        }
    }
    let host = normalize_host(server.as_deref().unwrap_or_default())?;
    let port = parse_port(port.as_deref().unwrap_or_default())?;
    let nonempty = |v: Option<Cow<'_, str>>| v.filter(|v| !v.is_empty()).map(Cow::into_owned);
    let spec = match kind {
        ProxyKind::Mtproto => {
            let secret = secret
                .filter(|s| !s.is_empty())
                .ok_or(SpecError::MissingSecret)?;
            ProxySpec {
                kind,
                host,
                port,
                secret: Some(MtprotoSecret::decode(&secret)?),
                username: None,
                password: None,
            }
        }
        _ => ProxySpec {
            kind,
            host,
            port,
            secret: None,
            username: nonempty(user),
            password: nonempty(pass),
        },
    };
    Ok(spec)
}

/// The field a Telegram link parameter holds, as rejection messages name it.
fn field_name(key: &str) -> &'static str {
    const NAMES: [(&str, &str); 5] = [
        ("server", "server"),
        ("port", "port"),
        ("secret", "secret"),
        ("user", "username"),
        ("pass", "password"),
    ];
    NAMES
        .iter()
        .find(|(param, _)| key.eq_ignore_ascii_case(param))
        .map_or("value", |&(_, name)| name)
}

/// Percent-decodes a query value or userinfo part; `+` stays `+` (base64 secrets use it).
/// Bytes that decode to something other than UTF-8 are [`SpecError::BadEncoding`] of
/// `field`: a credential is never dropped or changed silently.
fn decode_component<'v>(value: &'v str, field: &'static str) -> Result<Cow<'v, str>, SpecError> {
    if !value.contains('%') {
        return Ok(Cow::Borrowed(value));
    }
    percent_decode_str(value)
        .decode_utf8()
        .map_err(|_| SpecError::BadEncoding(field))
}

/// Parses `[user[:pass]@]host[:port][/…]` after a proxy scheme. For `http(s)` only URLs
/// with an explicit port and no path count as proxies (`https://example.org/page` is a
/// web page); SOCKS URLs default to port 1080.
fn parse_proxy_url(
    scheme: &str,
    rest: &str,
    is_socks: bool,
) -> Option<Result<ProxySpec, SpecError>> {
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..authority_end)?;
    let tail = rest.get(authority_end..)?;
    if !(is_socks || tail.is_empty() || tail == "/") {
        return None;
    }
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(at) => (Some(authority.get(..at)?), authority.get(at + 1..)?),
        None => (None, authority),
    };
    let (host, port) = split_host_port(hostport);
    if !is_socks && port.is_none() {
        return None;
    }
    let kind = ProxyKind::from_name(scheme)?;
    Some(url_spec(kind, userinfo, host, port))
}

/// Validates the parts of a proxy URL.
fn url_spec(
    kind: ProxyKind,
    userinfo: Option<&str>,
    host: &str,
    port: Option<&str>,
) -> Result<ProxySpec, SpecError> {
    let host = normalize_host(host)?;
    let port = match port {
        Some(port) => parse_port(port)?,
        None => DEFAULT_SOCKS_PORT,
    };
    let (username, password) = match userinfo {
        Some(info) => {
            let (user, pass) = info
                .split_once(':')
                .map_or((info, None), |(u, p)| (u, Some(p)));
            let user = decode_component(user, "username")?.into_owned();
            let pass = pass
                .map(|pass| decode_component(pass, "password"))
                .transpose()?
                .map(Cow::into_owned);
            (
                Some(user).filter(|u| !u.is_empty()),
                pass.filter(|p| !p.is_empty()),
            )
        }
        None => (None, None),
    };
    Ok(ProxySpec {
        kind,
        host,
        port,
        secret: None,
        username,
        password,
    })
}

/// Splits `host:port` or `[v6]:port`; the port is `None` when absent.
pub(crate) fn split_host_port(text: &str) -> (&str, Option<&str>) {
    if text.starts_with('[') {
        if let Some(close) = text.find(']') {
            let host = text.get(..=close).unwrap_or(text);
            let port = text.get(close + 1..).and_then(|p| p.strip_prefix(':'));
            return (host, port);
        }
        return (text, None);
    }
    match text.rsplit_once(':') {
        // More than one colon without brackets: a bare IPv6 address, no port.
        Some((host, _)) if host.contains(':') => (text, None),
        Some((host, port)) => (host, Some(port)),
        None => (text, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::mtproto::secret::SecretMode;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    fn one(line: &str) -> Result<ProxySpec, SpecError> {
        let found = find_links(line);
        assert_eq!(
            found.len(),
            1,
            "expected one link in {line:?}, got {found:?}"
        );
        found.into_iter().next().unwrap().outcome
    }

    #[test]
    fn telegram_links_in_every_spelling() {
        let ee = format!("ee{KEY}676f6f676c652e636f6d");
        // (line, host, port, secret hex)
        let cases = [
            (
                format!("tg://proxy?server=1.2.3.4&port=443&secret={KEY}"),
                "1.2.3.4",
                443,
                KEY.to_owned(),
            ),
            (
                format!("tg://proxy?secret={KEY}&port=443&server=1.2.3.4"),
                "1.2.3.4",
                443,
                KEY.to_owned(),
            ),
            (
                format!(
                    "TG://PROXY?Server=Proxy.Example.COM&Port=8443&Secret={}",
                    KEY.to_uppercase()
                ),
                "proxy.example.com",
                8443,
                KEY.to_owned(),
            ),
            (
                format!("https://t.me/proxy?server=1.2.3.4&amp;port=443&amp;secret={ee}"),
                "1.2.3.4",
                443,
                ee.clone(),
            ),
            (
                format!("https://telegram.me/proxy?server=a.example&port=1&secret=dd{KEY}&utm=x"),
                "a.example",
                1,
                format!("dd{KEY}"),
            ),
            (
                format!("http://www.t.me/proxy?server=a.example&port=2&secret={KEY}"),
                "a.example",
                2,
                KEY.to_owned(),
            ),
            (
                format!("tg://proxy?server=%31.2.3.4&port=44%33&secret={KEY}"),
                "1.2.3.4",
                443,
                KEY.to_owned(),
            ),
            (
                format!("tg://proxy?server=[2001:db8::1]&port=443&secret={KEY}"),
                "2001:db8::1",
                443,
                KEY.to_owned(),
            ),
            (
                format!("tg://proxy?server=2001:DB8::1&port=443&secret={KEY}"),
                "2001:db8::1",
                443,
                KEY.to_owned(),
            ),
            (
                format!("Fast proxy 👉 t.me/proxy?server=a.example&port=3&secret={KEY} enjoy!"),
                "a.example",
                3,
                KEY.to_owned(),
            ),
            (
                format!("Join:tg://proxy?server=a.example&port=4&secret={KEY}."),
                "a.example",
                4,
                KEY.to_owned(),
            ),
            (
                format!("[Connect](tg://proxy?server=a.example&port=5&secret={KEY})"),
                "a.example",
                5,
                KEY.to_owned(),
            ),
            (
                format!("«tg://proxy?server=a.example&port=6&secret={KEY}»"),
                "a.example",
                6,
                KEY.to_owned(),
            ),
            (
                "tg://proxy?server=a.example&port=7&secret=7gEjRWeJq83vASNFZ4mrze9nb29nbGUuY29t"
                    .to_owned(),
                "a.example",
                7,
                ee.clone(),
            ),
            (
                "tg://proxy?server=a.example&port=8&secret=ASNFZ4mrze8BI0VniavN7w==".to_owned(),
                "a.example",
                8,
                KEY.to_owned(),
            ),
            (
                "tg://proxy?server=a.example&port=9&secret=ASNFZ4mrze8BI0VniavN7w%3D%3D".to_owned(),
                "a.example",
                9,
                KEY.to_owned(),
            ),
        ];
        for (line, host, port, secret) in cases {
            let spec = one(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(spec.kind, ProxyKind::Mtproto, "{line}");
            assert_eq!((spec.host.as_str(), spec.port), (host, port), "{line}");
            assert_eq!(spec.secret.unwrap().to_hex(), secret, "{line}");
        }
    }

    #[test]
    fn socks_links_and_proxy_urls() {
        type Case<'a> = (
            &'a str,
            ProxyKind,
            &'a str,
            u16,
            Option<&'a str>,
            Option<&'a str>,
        );
        let cases: &[Case<'_>] = &[
            (
                "tg://socks?server=s.example&port=1080",
                ProxyKind::Socks5,
                "s.example",
                1080,
                None,
                None,
            ),
            (
                "tg://socks?server=s.example&port=1080&user=u%40x&pass=p%26q",
                ProxyKind::Socks5,
                "s.example",
                1080,
                Some("u@x"),
                Some("p&q"),
            ),
            (
                "https://t.me/socks?server=1.2.3.4&port=9050&user=a&pass=b",
                ProxyKind::Socks5,
                "1.2.3.4",
                9050,
                Some("a"),
                Some("b"),
            ),
            (
                "socks5://1.2.3.4:1080",
                ProxyKind::Socks5,
                "1.2.3.4",
                1080,
                None,
                None,
            ),
            (
                "socks5h://user:p%40ss@Host.Example:9999",
                ProxyKind::Socks5,
                "host.example",
                9999,
                Some("user"),
                Some("p@ss"),
            ),
            (
                "socks5://h.example",
                ProxyKind::Socks5,
                "h.example",
                1080,
                None,
                None,
            ),
            (
                "socks4://1.2.3.4:1080",
                ProxyKind::Socks4,
                "1.2.3.4",
                1080,
                None,
                None,
            ),
            (
                "socks4a://id@1.2.3.4:1080/",
                ProxyKind::Socks4a,
                "1.2.3.4",
                1080,
                Some("id"),
                None,
            ),
            (
                "http://1.2.3.4:8080",
                ProxyKind::Http,
                "1.2.3.4",
                8080,
                None,
                None,
            ),
            (
                "http://u:p@[2001:db8::2]:3128/",
                ProxyKind::Http,
                "2001:db8::2",
                3128,
                Some("u"),
                Some("p"),
            ),
            (
                "HTTPS://secure.example:443",
                ProxyKind::Https,
                "secure.example",
                443,
                None,
                None,
            ),
        ];
        for (line, kind, host, port, user, pass) in cases {
            let spec = one(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(spec.kind, *kind, "{line}");
            assert_eq!((spec.host.as_str(), spec.port), (*host, *port), "{line}");
            assert_eq!(spec.username.as_deref(), *user, "{line}");
            assert_eq!(spec.password.as_deref(), *pass, "{line}");
        }
    }

    #[test]
    fn web_links_are_not_proxies() {
        for line in [
            "see https://example.org/page and http://example.org",
            "https://t.me/some_channel",
            "tg://resolve?domain=foo",
            "https://example.org:8080/path",
            "ftp://1.2.3.4:21",
            "no links here at all",
        ] {
            assert_eq!(find_links(line), vec![], "{line}");
        }
    }

    #[test]
    fn broken_links_are_rejected_with_a_reason() {
        let cases = [
            (
                format!("tg://proxy?server=1.2.3.4&port=70000&secret={KEY}"),
                "bad_port",
            ),
            (
                format!("tg://proxy?server=&port=443&secret={KEY}"),
                "empty_host",
            ),
            (
                "tg://proxy?server=1.2.3.4&port=443".to_owned(),
                "missing_secret",
            ),
            (
                "tg://proxy?server=1.2.3.4&port=443&secret=abcd".to_owned(),
                "bad_secret",
            ),
            (
                format!("tg://proxy?server=1.2.3.4&secret={KEY}"),
                "missing_port",
            ),
            (
                format!("tg://proxy?server=bad_host!&port=1&secret={KEY}"),
                "bad_host",
            ),
            ("socks5://1.2.3.4:0".to_owned(), "bad_port"),
            (
                "tg://socks?server=a.example&port=1&user=%ff".to_owned(),
                "bad_encoding",
            ),
            (
                "socks5://bob:%c3%28@a.example:1080".to_owned(),
                "bad_encoding",
            ),
            ("socks5://l\u{fffd}:1080".to_owned(), "bad_host"),
        ];
        for (line, code) in cases {
            let error = one(&line).expect_err(&line);
            assert_eq!(error.code(), code, "{line}: {error}");
        }
    }

    #[test]
    fn non_ascii_text_is_part_of_a_link_never_a_cut() {
        // (line, link text found, host, port, user, pass)
        type Case<'a> = (
            &'a str,
            &'a str,
            &'a str,
            u16,
            Option<&'a str>,
            Option<&'a str>,
        );
        let cases: &[Case<'_>] = &[
            // Regression: a Cyrillic `о` cut the link to `socks5://l` (host `l`, port 1080).
            (
                "socks5://l\u{43e}calhost:1080",
                "socks5://l\u{43e}calhost:1080",
                "xn--lcalhost-nbh",
                1080,
                None,
                None,
            ),
            (
                "«socks5://пример.рф:1080» — new",
                "socks5://пример.рф:1080",
                "xn--e1afmkfd.xn--p1ai",
                1080,
                None,
                None,
            ),
            // Text glued after the port is not part of it.
            (
                "socks5://1.2.3.4:1080быстрый",
                "socks5://1.2.3.4:1080",
                "1.2.3.4",
                1080,
                None,
                None,
            ),
            (
                "socks5://l\u{43e}calhost:1080прокси",
                "socks5://l\u{43e}calhost:1080",
                "xn--lcalhost-nbh",
                1080,
                None,
                None,
            ),
            // Regression: credentials in another script were silently dropped (`user=`).
            (
                "tg://socks?server=a.example&port=1&user=юзер&pass=пароль",
                "tg://socks?server=a.example&port=1&user=юзер&pass=пароль",
                "a.example",
                1,
                Some("юзер"),
                Some("пароль"),
            ),
            // Regression: bytes that were not UTF-8 made the username the host (`u`); the
            // collector rejects the U+FFFD credential (see `ingest::tests`).
            (
                "socks5://u:\u{fffd}@a.example:1",
                "socks5://u:\u{fffd}@a.example:1",
                "a.example",
                1,
                Some("u"),
                Some("\u{fffd}"),
            ),
        ];
        for (line, text, host, port, user, pass) in cases {
            let found = find_links(line);
            assert_eq!(found.len(), 1, "{line}: {found:?}");
            assert_eq!(found[0].text, *text, "{line}");
            assert_eq!(&line[found[0].range.clone()], *text, "{line}");
            let spec = found[0]
                .outcome
                .clone()
                .unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!((spec.host.as_str(), spec.port), (*host, *port), "{line}");
            assert_eq!(spec.username.as_deref(), *user, "{line}");
            assert_eq!(spec.password.as_deref(), *pass, "{line}");
        }
    }

    #[test]
    fn several_links_on_one_line_keep_their_ranges() {
        let line = format!(
            "a tg://proxy?server=a.example&port=1&secret={KEY}, b socks5://b.example:2 c t.me/proxy?server=c.example&port=3&secret=dd{KEY}"
        );
        let found = find_links(&line);
        let hosts: Vec<_> = found
            .iter()
            .map(|f| f.outcome.as_ref().unwrap().host.clone())
            .collect();
        assert_eq!(hosts, ["a.example", "b.example", "c.example"]);
        for f in &found {
            assert_eq!(&line[f.range.clone()], f.text);
        }
        assert_eq!(
            found[2]
                .outcome
                .as_ref()
                .unwrap()
                .secret
                .as_ref()
                .unwrap()
                .mode(),
            SecretMode::Dd
        );
    }

    #[test]
    fn link_ending_in_a_dot_survives_prose() {
        // Regression (found by the round-trip property): `pass=.` at the end of a link in
        // a sentence lost its dot to punctuation trimming.
        let spec = ProxySpec {
            kind: ProxyKind::Socks5,
            host: "a0.aa".into(),
            port: 1,
            secret: None,
            username: None,
            password: Some(".".into()),
        };
        let line = format!("see {}.", spec.to_link());
        let found = find_links(&line);
        assert_eq!(found.first().map(|f| f.outcome.clone()), Some(Ok(spec)));
    }
}
