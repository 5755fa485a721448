//! Proxy judges: reading what a judge says it received, and deciding how anonymous the
//! proxy is.
//!
//! The `judge` check ([`crate::checks`]) fetches a judge page (one that echoes the
//! request headers and the client address it saw) through the proxy and hands the body here.
//! This module is pure: [`JudgeAnswer::parse`] reads the body in the formats judges actually
//! use (httpbin JSON, the azenv/proxyjudge `KEY = value` pages, and the lab judge's own
//! JSON), and [`assess`] compares it with what the auditor sent and who the auditor is, and
//! names an [`Anonymity`] level with the evidence for it. No I/O happens here, so every rule
//! is tested on byte strings.
//!
//! A tampering proxy may add bytes before or after the answer (a banner, an injected
//! script); both readers look for the answer anywhere in the body, within fixed bounds.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::de::IgnoredAny;
use serde_json::{Map, Value};

use crate::model::{Anonymity, JudgeFormat};

/// What a judge said it received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JudgeAnswer {
    /// The format the answer was read in.
    pub format: JudgeFormat,
    /// The addresses the judge names as the client, in order, as written (httpbin's `origin`
    /// list; azenv's `REMOTE_ADDR`; our `address`). The last one is the address that
    /// connected to the judge; earlier ones were claimed by forwarding headers. Unparseable
    /// entries are skipped.
    pub origin: Vec<IpAddr>,
    /// Request header fields as the judge reported them (names as it wrote them), in its
    /// order.
    pub headers: Vec<(String, String)>,
}

impl JudgeAnswer {
    /// Reads a judge's body in any known format; `None` when no known format is found.
    ///
    /// JSON is looked for first (httpbin, then our shape, at each `{` in turn), then azenv
    /// lines anywhere in the body. Bytes before or after the answer are ignored.
    pub fn parse(body: &[u8]) -> Option<Self> {
        parse_json(body).or_else(|| parse_azenv(&String::from_utf8_lossy(body)))
    }

    /// The address the judge saw the request come from (the last origin address), with an
    /// IPv4-mapped IPv6 address written as the IPv4 address it carries.
    pub fn exit_address(&self) -> Option<IpAddr> {
        self.origin.last().map(IpAddr::to_canonical)
    }
}

/// One header (or the judge's origin list) that carried one of the auditor's own addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leak {
    /// The header field's name as the judge wrote it, or `origin` for the origin list.
    pub header: String,
    /// The field's whole value (for `origin`, the addresses joined by `, `).
    pub value: String,
    /// The own address found in it (IPv4-mapped addresses written as IPv4).
    pub address: IpAddr,
}

/// The judge's answer, judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// The anonymity level the evidence below supports.
    pub level: Anonymity,
    /// Where the auditor's own address appeared (non-empty exactly when `Transparent`).
    pub leaks: Vec<Leak>,
    /// Header fields the proxy added that show a proxy is in the path (`Via`, `Forwarded`,
    /// `X-Forwarded-For` naming another address, `X-Proxy-ID`, …), as the judge wrote them.
    pub revealing: Vec<(String, String)>,
}

/// Lower-case names of header fields that show a proxy is in the path when a proxy adds
/// them. Any added name containing `proxy` or `forwarded` counts too.
const REVEALING_HEADERS: [&str; 21] = [
    "via",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded",
    "forwarded-for",
    "x-forwarded-host",
    "x-forwarded-server",
    "x-forwarded-proto",
    "x-real-ip",
    "x-client-ip",
    "client-ip",
    "x-cluster-client-ip",
    "true-client-ip",
    "x-originating-ip",
    "x-remote-ip",
    "x-remote-addr",
    "x-proxy-id",
    "x-proxyuser-ip",
    "x-bluecoat-via",
    "proxy-connection",
    "x-proxy-connection",
];

/// Judges an answer.
///
/// - `sent`: names of the header fields the auditor sent itself (compared without regard
///   to case), e.g. `["Host", "User-Agent", "Accept", "Connection"]`; they are never
///   "added by the proxy", and their values (which the auditor wrote) are not searched.
/// - `baseline`: lower-case names of the header fields the judge reported for a direct
///   request (no proxy) at the start of the run, e.g. its CDN's `x-amzn-trace-id`. Fields
///   with these names belong to the judge's infrastructure, so they reveal nothing about
///   the proxy; their values are still searched for leaks, because a judge behind a
///   reverse proxy appends to `X-Forwarded-For`, and a leaking proxy shows up there as
///   `ourip, proxyip`.
/// - `own`: the auditor's own addresses (interface addresses and the address the judge saw
///   on the direct request).
///
/// A leak is an own address in a searched header value, or in any origin address but the
/// last. The last origin address is the one that connected to the judge, the exit: in a
/// loopback lab the proxy runs on the auditor's machine and connects from `127.0.0.1`, which
/// is no leak. IPv4-mapped IPv6 addresses equal the IPv4 address they carry, on both sides.
pub fn assess(
    answer: &JudgeAnswer,
    sent: &[&str],
    baseline: &BTreeSet<String>,
    own: &BTreeSet<IpAddr>,
) -> Assessment {
    let own: BTreeSet<IpAddr> = own.iter().map(IpAddr::to_canonical).collect();
    let mut leaks = Vec::new();

    if let Some((_exit, claimed)) = answer.origin.split_last() {
        let value = answer
            .origin
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        push_leaks(&mut leaks, "origin", &value, claimed.iter().copied(), &own);
    }

    let mut revealing = Vec::new();
    for (name, value) in &answer.headers {
        if sent.iter().any(|sent| sent.eq_ignore_ascii_case(name)) {
            continue;
        }
        push_leaks(&mut leaks, name, value, addresses_in(value), &own);
        let lower = name.to_ascii_lowercase();
        if !baseline.contains(&lower) && reveals_proxy(&lower) {
            revealing.push((name.clone(), value.clone()));
        }
    }

    let level = if !leaks.is_empty() {
        Anonymity::Transparent
    } else if !revealing.is_empty() {
        Anonymity::Anonymous
    } else {
        Anonymity::Elite
    };
    Assessment {
        level,
        leaks,
        revealing,
    }
}

/// Records one leak per distinct own address among `found`, for the field `header`.
fn push_leaks(
    leaks: &mut Vec<Leak>,
    header: &str,
    value: &str,
    found: impl IntoIterator<Item = IpAddr>,
    own: &BTreeSet<IpAddr>,
) {
    let mut reported: Vec<IpAddr> = Vec::new();
    for address in found.into_iter().map(|address| address.to_canonical()) {
        if own.contains(&address) && !reported.contains(&address) {
            reported.push(address);
            leaks.push(Leak {
                header: header.to_owned(),
                value: value.to_owned(),
                address,
            });
        }
    }
}

/// True when an added field with this lower-case name shows a proxy is in the path.
fn reveals_proxy(lower: &str) -> bool {
    REVEALING_HEADERS.contains(&lower) || lower.contains("proxy") || lower.contains("forwarded")
}

/// Every IP address written in a header value: `1.2.3.4`, `1.2.3.4, 5.6.7.8`,
/// `for=192.0.2.60;proto=http`, `for="[2001:db8::1]:4711"`, `198.51.100.7:8080`,
/// `::ffff:127.0.0.1`, in the order written.
///
/// Strict on purpose: only full addresses count, so the `1.1` of `Via: 1.1 proxy (squid/5.7)`
/// and the `8.0` of `curl/8.0` are not addresses. A port after the address is allowed, even
/// an RFC 7239 obfuscated one (`192.0.2.43:_hidden`).
pub fn addresses_in(value: &str) -> Vec<IpAddr> {
    value
        .split(|c: char| matches!(c, ',' | ';' | '=' | '"' | '\'' | '(' | ')') || c.is_whitespace())
        .filter_map(address_token)
        .collect()
}

/// The address one token of a header value is, if it is one (with brackets or a port).
fn address_token(token: &str) -> Option<IpAddr> {
    if let Ok(address) = token.parse::<IpAddr>() {
        return Some(address);
    }
    if let Ok(socket) = token.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    if let Some(inner) = token.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return inner.parse().ok();
    }
    // `[v6]:port` or `v4:port` where the port is not a number (RFC 7239 `_hidden` ports).
    let (address, _port) = token.rsplit_once(':')?;
    match address.strip_prefix('[').and_then(|a| a.strip_suffix(']')) {
        Some(v6) => v6.parse().ok(),
        None => address.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
    }
}

/// How many `{` positions the JSON reader tries at most.
const MAX_JSON_STARTS: usize = 256;

/// How many bytes from one `{` the JSON reader parses at most. A judge echoes one GET's
/// headers, which servers cap well below this (8–32 KiB is usual).
const MAX_JSON_ANSWER: usize = 64 * 1024;

/// The first recognised judge JSON object in `body`, tried at each `{` in turn.
///
/// Bounded work: serde_json fails fast on garbage, but a long valid-looking prefix makes an
/// attempt scan far, and a body made of many such prefixes (`{"a":[1,1,…,{"a":[1,1,…`)
/// would cost quadratic time. So each attempt reads a window of at most
/// [`MAX_JSON_ANSWER`] bytes, and at most [`MAX_JSON_STARTS`] attempts are made: at most
/// 256 × 64 KiB = 16 MiB of scanning per body, whatever it holds. Each attempt first skims
/// the window with `IgnoredAny` (syntax only, no allocation, no recursion); only a complete
/// value is then built as a `Value`, from exactly its own bytes (serde_json's nesting limit
/// of 128 bounds the stack there). A complete value that is not a judge's shape is skipped
/// whole, interior included: its inner objects are its content, not another answer.
fn parse_json(body: &[u8]) -> Option<JudgeAnswer> {
    let mut from = 0;
    for _ in 0..MAX_JSON_STARTS {
        let start = from + memchr::memchr(b'{', body.get(from..)?)?;
        let end = body.len().min(start.saturating_add(MAX_JSON_ANSWER));
        let window = body.get(start..end)?;
        let mut skim = serde_json::Deserializer::from_slice(window).into_iter::<IgnoredAny>();
        let Some(Ok(IgnoredAny)) = skim.next() else {
            from = start + 1;
            continue;
        };
        let length = skim.byte_offset().max(1);
        let value = window
            .get(..length)
            .and_then(|json| serde_json::from_slice::<Value>(json).ok());
        if let Some(Value::Object(object)) = value
            && let Some(answer) = httpbin(&object).or_else(|| proxy_audit(&object))
        {
            return Some(answer);
        }
        from = start + length;
    }
    None
}

/// httpbin's shape: `headers` is an object of strings (or arrays of strings, for repeated
/// fields); `origin`, when present, is a string of comma-separated addresses.
fn httpbin(object: &Map<String, Value>) -> Option<JudgeAnswer> {
    let Value::Object(fields) = object.get("headers")? else {
        return None;
    };
    let mut headers = Vec::with_capacity(fields.len());
    for (name, value) in fields {
        match value {
            Value::String(text) => headers.push((name.clone(), text.clone())),
            Value::Array(items) => {
                for item in items {
                    headers.push((name.clone(), item.as_str()?.to_owned()));
                }
            }
            _ => return None,
        }
    }
    let origin = match object.get("origin") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(origin)) => origin
            .split(',')
            .filter_map(|a| address_token(a.trim()))
            .collect(),
        Some(_) => return None,
    };
    Some(JudgeAnswer {
        format: JudgeFormat::Httpbin,
        origin,
        headers,
    })
}

/// Our judge's shape: `headers` is an array of `[name, value]` string pairs; `address`,
/// when present and not null, is a string.
fn proxy_audit(object: &Map<String, Value>) -> Option<JudgeAnswer> {
    let Value::Array(pairs) = object.get("headers")? else {
        return None;
    };
    let headers = pairs
        .iter()
        .map(|pair| match pair.as_array()?.as_slice() {
            [Value::String(name), Value::String(value)] => Some((name.clone(), value.clone())),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    let origin = match object.get("address") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(address)) => address_token(address.trim()).into_iter().collect(),
        Some(_) => return None,
    };
    Some(JudgeAnswer {
        format: JudgeFormat::ProxyAudit,
        origin,
        headers,
    })
}

/// An azenv / proxyjudge page: `KEY = value` lines anywhere in `text`, plain or HTML.
///
/// `REMOTE_ADDR` is the connecting address (the first one counts: a later one can only come
/// from bytes added to the page); `HTTP_*` keys are request headers, `HTTP_X_FORWARDED_FOR`
/// naming `X-Forwarded-For`. Keys are upper-case, as CGI and PHP write them; others are
/// ignored. The page counts as azenv only with `REMOTE_ADDR` or at least one `HTTP_` key.
fn parse_azenv(text: &str) -> Option<JudgeAnswer> {
    let mut remote_addr: Option<Option<IpAddr>> = None;
    let mut headers = Vec::new();
    for line in azenv_lines(text) {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            continue;
        }
        let value = html_escape::decode_html_entities(value.trim());
        let value = value.trim();
        if key == "REMOTE_ADDR" {
            if remote_addr.is_none() {
                remote_addr = Some(address_token(value));
            }
        } else if let Some(name) = key.strip_prefix("HTTP_").filter(|name| !name.is_empty()) {
            headers.push((header_name(name), value.to_owned()));
        }
    }
    if remote_addr.is_none() && headers.is_empty() {
        return None;
    }
    Some(JudgeAnswer {
        format: JudgeFormat::Azenv,
        origin: remote_addr.flatten().into_iter().collect(),
        headers,
    })
}

/// A CGI header key without `HTTP_` as a header name: `X_FORWARDED_FOR` → `X-Forwarded-For`.
fn header_name(cgi: &str) -> String {
    let mut name = String::with_capacity(cgi.len());
    for (index, word) in cgi.split('_').enumerate() {
        if index > 0 {
            name.push('-');
        }
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            name.push(first.to_ascii_uppercase());
            name.extend(chars.map(|c| c.to_ascii_lowercase()));
        }
    }
    name
}

/// Inline HTML tags: removed without breaking the line (`<b>REMOTE_ADDR</b> = …`). Every
/// other tag (`<br>`, `<pre>`, `<p>`, `<div>`, …) ends a line.
const INLINE_TAGS: [&str; 17] = [
    "a", "abbr", "b", "big", "code", "em", "font", "i", "kbd", "mark", "s", "samp", "small",
    "span", "strong", "tt", "u",
];

/// The text lines of a page with HTML tags taken out: lines end at `\n`, `\r` and at every
/// tag but the [`INLINE_TAGS`]. Entities are left for the caller to decode, after the split,
/// so that an escaped `&lt;br&gt;` in a value stays text.
///
/// Linear in the text: a `<` that starts a tag is skipped to its `>`, and when no `>`
/// follows, no later `<` can close either, so the rest is text.
fn azenv_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut rest = text;
    // False once a tag was left unclosed: no `>` follows, so every later `<` is text.
    let mut tags_close = true;
    while let Some(position) = rest.find(['\n', '\r', '<']) {
        let (before, after) = rest.split_at(position);
        line.push_str(before);
        let mut chars = after.chars();
        let separator = chars.next();
        let tail = chars.as_str();
        rest = tail;
        if separator != Some('<') {
            lines.push(std::mem::take(&mut line));
            continue;
        }
        let starts_tag = tags_close
            && tail
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '!');
        // Only looked for when a tag can start here: searching after every literal `<`
        // would be quadratic.
        let close = if starts_tag { tail.find('>') } else { None };
        if let Some(close) = close {
            let (tag, after_tag) = tail.split_at(close);
            if !is_inline_tag(tag) {
                lines.push(std::mem::take(&mut line));
            }
            rest = after_tag.get(1..).unwrap_or_default();
        } else {
            tags_close &= !starts_tag;
            line.push('<');
        }
    }
    line.push_str(rest);
    lines.push(line);
    lines
}

/// True for the inside of a tag (`b`, `/span`, `font color=red`) that is an inline tag.
fn is_inline_tag(tag: &str) -> bool {
    let name = tag.trim_start_matches('/');
    let end = name
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(name.len());
    let name = name.get(..end).unwrap_or_default().to_ascii_lowercase();
    INLINE_TAGS.contains(&name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn pair(name: &str, value: &str) -> (String, String) {
        (name.to_owned(), value.to_owned())
    }

    fn answer(origin: &[&str], headers: &[(&str, &str)]) -> JudgeAnswer {
        JudgeAnswer {
            format: JudgeFormat::Httpbin,
            origin: origin.iter().map(|a| ip(a)).collect(),
            headers: headers.iter().map(|(n, v)| pair(n, v)).collect(),
        }
    }

    const SENT: [&str; 4] = ["Host", "User-Agent", "Accept", "Connection"];

    fn own(addresses: &[&str]) -> BTreeSet<IpAddr> {
        addresses.iter().map(|a| ip(a)).collect()
    }

    fn judged(answer: &JudgeAnswer, baseline: &[&str], own_addresses: &[&str]) -> Assessment {
        let baseline = baseline.iter().map(|b| (*b).to_owned()).collect();
        assess(answer, &SENT, &baseline, &own(own_addresses))
    }

    const HTTPBIN_GET: &str = r#"{
  "args": {},
  "headers": {
    "Accept": "*/*",
    "Host": "httpbin.org",
    "X-Amzn-Trace-Id": "Root=1-65a1b2c3-0123456789abcdef01234567",
    "X-Forwarded-For": "203.0.113.5"
  },
  "origin": "203.0.113.5, 198.51.100.7",
  "url": "http://httpbin.org/get"
}
"#;

    const AZENV_TEXT: &str = "REMOTE_ADDR = 198.51.100.7\nREMOTE_PORT = 4242\n\
        REQUEST_METHOD = GET\nHTTP_HOST = azenv.net\nHTTP_X_FORWARDED_FOR = 203.0.113.5\n\
        HTTP_VIA = 1.1 squid\n";

    const AZENV_PRE: &str = "<html><head><title>AZ Environment variables 1.04</title></head>\
        <body><pre>\nREMOTE_ADDR = 198.51.100.7\r\nREMOTE_PORT = 4242\r\n\
        HTTP_USER_AGENT = probe/1.0 (a &amp; b)\r\nHTTP_VIA = 1.1 squid\r\n</pre></body></html>";

    #[test]
    fn parses_httpbin_get_with_a_forwarding_chain_in_origin() {
        let answer = JudgeAnswer::parse(HTTPBIN_GET.as_bytes()).unwrap();
        assert_eq!(answer.format, JudgeFormat::Httpbin);
        assert_eq!(answer.origin, vec![ip("203.0.113.5"), ip("198.51.100.7")]);
        assert_eq!(answer.exit_address(), Some(ip("198.51.100.7")));
        assert_eq!(answer.headers.len(), 4);
        assert!(
            answer
                .headers
                .contains(&pair("X-Forwarded-For", "203.0.113.5"))
        );
    }

    #[test]
    fn parses_httpbin_get_with_one_origin() {
        let body = br#"{"args":{},"headers":{"Host":"httpbin.org"},"origin":"198.51.100.7","url":"http://httpbin.org/get"}"#;
        let answer = JudgeAnswer::parse(body).unwrap();
        assert_eq!(answer.format, JudgeFormat::Httpbin);
        assert_eq!(answer.origin, vec![ip("198.51.100.7")]);
        assert_eq!(answer.headers, vec![pair("Host", "httpbin.org")]);
    }

    #[test]
    fn parses_httpbin_headers_without_origin_and_with_repeated_fields() {
        let body = br#"{"headers":{"Host":"httpbin.org","Via":["1.1 a","1.1 b"]}}"#;
        let answer = JudgeAnswer::parse(body).unwrap();
        assert_eq!(answer.format, JudgeFormat::Httpbin);
        assert!(answer.origin.is_empty());
        assert_eq!(answer.exit_address(), None);
        assert_eq!(
            answer.headers,
            vec![
                pair("Host", "httpbin.org"),
                pair("Via", "1.1 a"),
                pair("Via", "1.1 b")
            ]
        );
    }

    #[test]
    fn parses_azenv_plain_text() {
        let answer = JudgeAnswer::parse(AZENV_TEXT.as_bytes()).unwrap();
        assert_eq!(answer.format, JudgeFormat::Azenv);
        assert_eq!(answer.origin, vec![ip("198.51.100.7")]);
        // REMOTE_PORT and REQUEST_METHOD are not headers; HTTP_ keys become header names.
        assert_eq!(
            answer.headers,
            vec![
                pair("Host", "azenv.net"),
                pair("X-Forwarded-For", "203.0.113.5"),
                pair("Via", "1.1 squid")
            ]
        );
    }

    #[test]
    fn azenv_text_keeps_angle_brackets_that_open_no_tag() {
        let body = "HTTP_X_A = a<b\nREMOTE_ADDR = 192.0.2.1\nHTTP_X_B = c < d\n";
        let answer = JudgeAnswer::parse(body.as_bytes()).unwrap();
        assert_eq!(answer.origin, vec![ip("192.0.2.1")]);
        assert_eq!(
            answer.headers,
            vec![pair("X-A", "a<b"), pair("X-B", "c < d")]
        );
    }

    #[test]
    fn parses_azenv_inside_pre() {
        let answer = JudgeAnswer::parse(AZENV_PRE.as_bytes()).unwrap();
        assert_eq!(answer.format, JudgeFormat::Azenv);
        assert_eq!(answer.origin, vec![ip("198.51.100.7")]);
        assert_eq!(
            answer.headers,
            vec![
                pair("User-Agent", "probe/1.0 (a & b)"),
                pair("Via", "1.1 squid")
            ]
        );
    }

    #[test]
    fn parses_azenv_with_br_separators_and_entities() {
        let body = "<html><body>REMOTE_ADDR = 198.51.100.7<br>HTTP_ACCEPT = text/html<BR />\
            <b>HTTP_X_REAL_IP</b> = 203.0.113.5<br/>HTTP_REFERER = http://x.test/?a=1&amp;b=&lt;br&gt;\
            </body></html>";
        let answer = JudgeAnswer::parse(body.as_bytes()).unwrap();
        assert_eq!(answer.format, JudgeFormat::Azenv);
        assert_eq!(answer.origin, vec![ip("198.51.100.7")]);
        assert_eq!(
            answer.headers,
            vec![
                pair("Accept", "text/html"),
                pair("X-Real-Ip", "203.0.113.5"),
                pair("Referer", "http://x.test/?a=1&b=<br>")
            ]
        );
    }

    #[test]
    fn parses_our_own_judge_json() {
        let body = br#"{"address":"127.0.0.1","headers":[["Host","judge.lab.test"],["X-Forwarded-For","10.0.0.7"]]}"#;
        let answer = JudgeAnswer::parse(body).unwrap();
        assert_eq!(answer.format, JudgeFormat::ProxyAudit);
        assert_eq!(answer.origin, vec![ip("127.0.0.1")]);
        assert_eq!(
            answer.headers,
            vec![
                pair("Host", "judge.lab.test"),
                pair("X-Forwarded-For", "10.0.0.7")
            ]
        );
        let without = JudgeAnswer::parse(br#"{"address":null,"headers":[]}"#).unwrap();
        assert_eq!(without.format, JudgeFormat::ProxyAudit);
        assert!(without.origin.is_empty());
    }

    #[test]
    fn reads_json_with_a_script_appended() {
        let body = format!("{HTTPBIN_GET}<script src=x></script>");
        let answer = JudgeAnswer::parse(body.as_bytes()).unwrap();
        assert_eq!(answer.format, JudgeFormat::Httpbin);
        assert_eq!(answer.exit_address(), Some(ip("198.51.100.7")));
    }

    #[test]
    fn reads_azenv_html_with_a_script_appended() {
        let body = format!("{AZENV_PRE}<script>var a = {{b: 1}}; HTTP_NOT = x</script>");
        let answer = JudgeAnswer::parse(body.as_bytes()).unwrap();
        assert_eq!(answer.format, JudgeFormat::Azenv);
        assert_eq!(answer.origin, vec![ip("198.51.100.7")]);
        assert_eq!(
            answer.headers,
            vec![
                pair("User-Agent", "probe/1.0 (a & b)"),
                pair("Via", "1.1 squid")
            ]
        );
    }

    #[test]
    fn reads_json_after_a_banner_with_braces() {
        let body = format!(
            "<html><script>if (x) {{ y(); }} var cfg = {{\"a\": {{\"headers\": {{}}}}}};</script>\
             </html>\n{HTTPBIN_GET}"
        );
        let answer = JudgeAnswer::parse(body.as_bytes()).unwrap();
        // The banner's inner `{"headers": {}}` is part of another value, not the answer.
        assert_eq!(answer.format, JudgeFormat::Httpbin);
        assert_eq!(answer.origin.len(), 2);
        assert_eq!(answer.headers.len(), 4);
    }

    #[test]
    fn reads_an_answer_in_a_body_that_is_not_utf8() {
        let mut body = vec![0xff, 0xfe, b'{', 0xc3];
        body.extend_from_slice(br#"{"address":"192.0.2.1","headers":[["Via","1.1 x"]]}"#);
        body.extend_from_slice(&[0x80, 0xff]);
        let answer = JudgeAnswer::parse(&body).unwrap();
        assert_eq!(answer.exit_address(), Some(ip("192.0.2.1")));
    }

    #[test]
    fn unreadable_answers_are_none() {
        assert_eq!(JudgeAnswer::parse(b""), None);
        assert_eq!(JudgeAnswer::parse(b"<html>hello</html>"), None);
        assert_eq!(JudgeAnswer::parse(br#"{"a":1}"#), None);
        assert_eq!(JudgeAnswer::parse(br#"{"origin":"1.2.3.4"}"#), None);
        assert_eq!(JudgeAnswer::parse(br#"{"headers":{"Via":3}}"#), None);
        assert_eq!(JudgeAnswer::parse(br#"{"headers":[["Via"]]}"#), None);
        assert_eq!(
            JudgeAnswer::parse(b"remote_addr = 1.2.3.4\nREMOTE PORT = 1"),
            None
        );
        assert_eq!(JudgeAnswer::parse(&vec![b'{'; 1 << 20]), None);
    }

    #[test]
    fn gives_up_after_the_bounded_number_of_starts() {
        // The bound is real: an answer behind more `{` than the reader tries is not found.
        let mut body = "{".repeat(MAX_JSON_STARTS);
        body.push_str(r#"{"headers":{}}"#);
        assert_eq!(JudgeAnswer::parse(body.as_bytes()), None);
        body.remove(0);
        assert!(JudgeAnswer::parse(body.as_bytes()).is_some());
    }

    #[test]
    fn every_prefix_of_every_sample_parses_without_panic() {
        let samples = [HTTPBIN_GET, AZENV_TEXT, AZENV_PRE, "<b>HTTP_A = &#x"];
        for sample in samples {
            for end in 0..=sample.len() {
                let _ = JudgeAnswer::parse(sample.as_bytes().get(..end).unwrap());
            }
        }
    }

    #[test]
    fn via_naming_another_address_is_anonymous_not_a_leak() {
        let seen = answer(&["198.51.100.7"], &[("Via", "1.1 10.9.8.7")]);
        let assessment = judged(&seen, &[], &["127.0.0.1"]);
        assert_eq!(assessment.level, Anonymity::Anonymous);
        assert!(assessment.leaks.is_empty());
        assert_eq!(assessment.revealing, vec![pair("Via", "1.1 10.9.8.7")]);
    }

    #[test]
    fn forwarded_for_holding_our_address_is_transparent() {
        let seen = answer(&["198.51.100.7"], &[("X-Forwarded-For", "127.0.0.1")]);
        let assessment = judged(&seen, &[], &["127.0.0.1"]);
        assert_eq!(assessment.level, Anonymity::Transparent);
        assert_eq!(
            assessment.leaks,
            vec![Leak {
                header: "X-Forwarded-For".to_owned(),
                value: "127.0.0.1".to_owned(),
                address: ip("127.0.0.1"),
            }]
        );
    }

    #[test]
    fn our_address_early_in_origin_is_a_leak() {
        let seen = answer(&["127.0.0.1", "198.51.100.7"], &[]);
        let assessment = judged(&seen, &[], &["127.0.0.1"]);
        assert_eq!(assessment.level, Anonymity::Transparent);
        assert_eq!(
            assessment.leaks,
            vec![Leak {
                header: "origin".to_owned(),
                value: "127.0.0.1, 198.51.100.7".to_owned(),
                address: ip("127.0.0.1"),
            }]
        );
    }

    #[test]
    fn our_address_as_the_exit_alone_is_elite() {
        let seen = answer(&["127.0.0.1"], &[("Host", "judge.lab.test")]);
        let assessment = judged(&seen, &[], &["127.0.0.1"]);
        assert_eq!(assessment.level, Anonymity::Elite);
        assert!(assessment.leaks.is_empty() && assessment.revealing.is_empty());
    }

    #[test]
    fn baseline_fields_reveal_nothing_but_still_leak() {
        let trace = answer(&["198.51.100.7"], &[("X-Amzn-Trace-Id", "Root=1-abc")]);
        // Not in the revealing set anyway; a baseline name that is in it must not count.
        let forwarded = answer(&["198.51.100.7"], &[("X-Forwarded-For", "198.51.100.7")]);
        let baseline = ["x-amzn-trace-id", "x-forwarded-for"];
        assert_eq!(
            judged(&trace, &baseline, &["127.0.0.1"]).level,
            Anonymity::Elite
        );
        assert_eq!(
            judged(&forwarded, &baseline, &["127.0.0.1"]).level,
            Anonymity::Elite
        );
        assert_eq!(
            judged(&forwarded, &[], &["127.0.0.1"]).level,
            Anonymity::Anonymous
        );

        let leaking = answer(
            &["198.51.100.7"],
            &[("X-Forwarded-For", "203.0.113.9, 127.0.0.1")],
        );
        let assessment = judged(&leaking, &baseline, &["127.0.0.1"]);
        assert_eq!(assessment.level, Anonymity::Transparent);
        assert_eq!(assessment.leaks.len(), 1);
        assert_eq!(assessment.leaks[0].address, ip("127.0.0.1"));
        assert!(assessment.revealing.is_empty());
    }

    #[test]
    fn forwarded_for_naming_another_address_is_anonymous() {
        let seen = answer(&["198.51.100.7"], &[("X-Forwarded-For", "10.0.0.7")]);
        let assessment = judged(&seen, &[], &["127.0.0.1"]);
        assert_eq!(assessment.level, Anonymity::Anonymous);
        assert!(assessment.leaks.is_empty());
    }

    #[test]
    fn ipv4_mapped_addresses_match_on_both_sides() {
        let mapped = answer(&["198.51.100.7"], &[("X-Real-IP", "::ffff:127.0.0.1")]);
        let assessment = judged(&mapped, &[], &["127.0.0.1"]);
        assert_eq!(assessment.level, Anonymity::Transparent);
        assert_eq!(assessment.leaks[0].address, ip("127.0.0.1"));

        let plain = answer(&["::ffff:127.0.0.1", "198.51.100.7"], &[]);
        assert_eq!(
            judged(&plain, &[], &["::ffff:127.0.0.1"]).level,
            Anonymity::Transparent
        );
        assert_eq!(plain.exit_address(), Some(ip("198.51.100.7")));
        assert_eq!(
            answer(&["::ffff:192.0.2.1"], &[]).exit_address(),
            Some(ip("192.0.2.1"))
        );
    }

    #[test]
    fn fields_we_sent_are_not_searched() {
        let seen = answer(
            &["198.51.100.7"],
            &[
                ("user-agent", "probe/1.0 (127.0.0.1)"),
                ("Host", "127.0.0.1"),
            ],
        );
        let assessment = judged(&seen, &[], &["127.0.0.1"]);
        assert_eq!(assessment.level, Anonymity::Elite);
        assert!(assessment.leaks.is_empty());
        // The same value in a field the proxy added is a leak.
        let added = answer(&["198.51.100.7"], &[("X-Agent", "probe/1.0 (127.0.0.1)")]);
        assert_eq!(
            judged(&added, &[], &["127.0.0.1"]).level,
            Anonymity::Transparent
        );
    }

    #[test]
    fn added_fields_that_name_no_proxy_are_elite() {
        let seen = answer(&["198.51.100.7"], &[("Cache-Control", "max-age=259200")]);
        assert_eq!(judged(&seen, &[], &["127.0.0.1"]).level, Anonymity::Elite);
        let named = answer(&["198.51.100.7"], &[("X-Proxy-Chain", "yes")]);
        assert_eq!(
            judged(&named, &[], &["127.0.0.1"]).level,
            Anonymity::Anonymous
        );
    }

    #[test]
    fn elite_is_the_best_level() {
        assert!(Anonymity::Elite.at_least(Anonymity::Anonymous));
        assert!(Anonymity::Anonymous.at_least(Anonymity::Anonymous));
        assert!(!Anonymity::Transparent.at_least(Anonymity::Anonymous));
        assert!(!Anonymity::Anonymous.at_least(Anonymity::Elite));
        assert_eq!(
            serde_json::to_string(&JudgeFormat::ProxyAudit).unwrap(),
            "\"proxy-audit\""
        );
        assert_eq!(
            serde_json::to_string(&Anonymity::Elite).unwrap(),
            "\"elite\""
        );
    }

    #[test]
    fn addresses_in_header_values() {
        let ips = |list: &[&str]| list.iter().map(|a| ip(a)).collect::<Vec<_>>();
        assert_eq!(addresses_in("1.2.3.4"), ips(&["1.2.3.4"]));
        assert_eq!(
            addresses_in("1.2.3.4, 5.6.7.8"),
            ips(&["1.2.3.4", "5.6.7.8"])
        );
        assert_eq!(
            addresses_in("for=192.0.2.60;proto=http"),
            ips(&["192.0.2.60"])
        );
        assert_eq!(
            addresses_in("for=\"[2001:db8::1]:4711\""),
            ips(&["2001:db8::1"])
        );
        assert_eq!(addresses_in("for=\"[2001:db8::1]\""), ips(&["2001:db8::1"]));
        assert_eq!(
            addresses_in("for=\"192.0.2.43:_hidden\""),
            ips(&["192.0.2.43"])
        );
        assert_eq!(addresses_in("198.51.100.7:8080"), ips(&["198.51.100.7"]));
        assert_eq!(addresses_in("::ffff:127.0.0.1"), ips(&["::ffff:127.0.0.1"]));
        assert_eq!(addresses_in("1.1 proxy-name (squid/5.7)"), ips(&[]));
        assert_eq!(addresses_in("curl/8.0"), ips(&[]));
        assert_eq!(addresses_in("1.1"), ips(&[]));
        assert_eq!(addresses_in("for=unknown, for=_gazonk"), ips(&[]));
    }
}
