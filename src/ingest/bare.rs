//! Bare list lines: `host:port`, `host:port:user:pass`, `user:pass@host:port`,
//! `host:port:secret` (MTProto) and `[v6]:port`.
//!
//! A bare line only counts as a proxy when its host really looks like one (an IP literal, a
//! dotted name, or `localhost`), so prose such as `Note:12` or `12:30` is not mistaken for
//! a proxy; once the host looks right, a bad port or secret is a rejection, not prose.

use crate::ingest::link::split_host_port;
use crate::proto::mtproto::secret::MtprotoSecret;
use crate::proxy::{ProxyKind, ProxySpec, SpecError, normalize_host, parse_port};

/// Parses one token (a whole line, trimmed). `None`: not a bare proxy form.
pub(crate) fn parse_bare(
    token: &str,
    default_kind: ProxyKind,
) -> Option<Result<ProxySpec, SpecError>> {
    if token.is_empty() || token.contains(|c: char| c.is_whitespace()) {
        return None;
    }
    if let Some((userinfo, hostport)) = token.rsplit_once('@') {
        let (host, port) = split_host_port(hostport);
        let Some(host) = plausible_host(host) else {
            return refused_idn(host).map(Err);
        };
        let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        return Some(with_credentials(default_kind, host, port, user, pass));
    }
    if token.starts_with('[') {
        let close = token.find(']')?;
        let host = plausible_host(token.get(..=close)?)?;
        let rest = token.get(close + 1..)?.strip_prefix(':')?;
        let mut parts = rest.splitn(2, ':');
        let port = parts.next();
        return Some(from_fields(default_kind, host, port, parts.next()));
    }
    let mut parts = token.splitn(3, ':');
    let host = parts.next()?;
    let Some(host) = plausible_host(host) else {
        return refused_idn(host).map(Err);
    };
    let port = parts.next()?;
    Some(from_fields(default_kind, host, Some(port), parts.next()))
}

/// Builds a spec from host, port and what follows them (`secret` or `user:pass`).
fn from_fields(
    default_kind: ProxyKind,
    host: String,
    port: Option<&str>,
    extra: Option<&str>,
) -> Result<ProxySpec, SpecError> {
    match extra {
        None => {
            let port = parse_port(port.unwrap_or_default())?;
            if default_kind == ProxyKind::Mtproto {
                return Err(SpecError::MissingSecret);
            }
            Ok(plain(default_kind, host, port))
        }
        Some(extra) => {
            if let Some((user, pass)) = extra.split_once(':') {
                return with_credentials(default_kind, host, port, user, pass);
            }
            let port = parse_port(port.unwrap_or_default())?;
            let secret = MtprotoSecret::decode(extra)?;
            Ok(ProxySpec {
                secret: Some(secret),
                ..plain(ProxyKind::Mtproto, host, port)
            })
        }
    }
}

/// A SOCKS/HTTP spec with credentials; an MTProto default becomes SOCKS5 (MTProto has no
/// username).
fn with_credentials(
    default_kind: ProxyKind,
    host: String,
    port: Option<&str>,
    user: &str,
    pass: &str,
) -> Result<ProxySpec, SpecError> {
    let port = parse_port(port.unwrap_or_default())?;
    let kind = if default_kind == ProxyKind::Mtproto {
        ProxyKind::Socks5
    } else {
        default_kind
    };
    Ok(ProxySpec {
        username: Some(user.to_owned()).filter(|u| !u.is_empty()),
        password: Some(pass.to_owned()).filter(|p| !p.is_empty()),
        ..plain(kind, host, port)
    })
}

/// A spec with no secret and no credentials.
fn plain(kind: ProxyKind, host: String, port: u16) -> ProxySpec {
    ProxySpec {
        kind,
        host,
        port,
        secret: None,
        username: None,
        password: None,
    }
}

/// The normalised host when `text` looks like a proxy host in a bare line: an IPv6 literal
/// in brackets, a dotted IPv4 or name, or `localhost`.
pub(crate) fn plausible_host(text: &str) -> Option<String> {
    let host = normalize_host(text).ok()?;
    let shaped = host.contains('.') || host.contains(':') || host == "localhost";
    let has_letter_or_digit_label = host.bytes().any(|b| b.is_ascii_alphanumeric());
    (shaped && has_letter_or_digit_label).then_some(host)
}

/// Why a host shaped like an internationalised name (letters of any script, digits, dots,
/// hyphens, at least one dot and one non-ASCII character) was refused by IDNA: such a line
/// is a proxy with a bad host, not prose. `None` for anything else.
fn refused_idn(text: &str) -> Option<SpecError> {
    let shaped = text.contains('.')
        && !text.is_ascii()
        && text.chars().all(|c| {
            c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | char::REPLACEMENT_CHARACTER)
        });
    if shaped {
        normalize_host(text).err()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn bare_forms() {
        type Case<'a> = (
            &'a str,
            ProxyKind,
            &'a str,
            u16,
            Option<&'a str>,
            Option<&'a str>,
            bool,
        );
        let with_secret = format!("1.2.3.4:443:{KEY}");
        let cases: Vec<Case<'_>> = vec![
            (
                "1.2.3.4:1080",
                ProxyKind::Socks5,
                "1.2.3.4",
                1080,
                None,
                None,
                false,
            ),
            (
                "Proxy.Example:8080",
                ProxyKind::Socks5,
                "proxy.example",
                8080,
                None,
                None,
                false,
            ),
            (
                "localhost:9050",
                ProxyKind::Socks5,
                "localhost",
                9050,
                None,
                None,
                false,
            ),
            (
                "1.2.3.4:1080:user:pa:ss",
                ProxyKind::Socks5,
                "1.2.3.4",
                1080,
                Some("user"),
                Some("pa:ss"),
                false,
            ),
            (
                "user:pass@1.2.3.4:1080",
                ProxyKind::Socks5,
                "1.2.3.4",
                1080,
                Some("user"),
                Some("pass"),
                false,
            ),
            (
                "[2001:db8::1]:1080",
                ProxyKind::Socks5,
                "2001:db8::1",
                1080,
                None,
                None,
                false,
            ),
            (
                "[2001:db8::1]:1080:u:p",
                ProxyKind::Socks5,
                "2001:db8::1",
                1080,
                Some("u"),
                Some("p"),
                false,
            ),
            (
                "Пример.рф:1080",
                ProxyKind::Socks5,
                "xn--e1afmkfd.xn--p1ai",
                1080,
                None,
                None,
                false,
            ),
            (
                &with_secret,
                ProxyKind::Mtproto,
                "1.2.3.4",
                443,
                None,
                None,
                true,
            ),
        ];
        for (line, kind, host, port, user, pass, has_secret) in cases {
            let spec = parse_bare(line, ProxyKind::Socks5).unwrap().unwrap();
            assert_eq!(spec.kind, kind, "{line}");
            assert_eq!((spec.host.as_str(), spec.port), (host, port), "{line}");
            assert_eq!(spec.username.as_deref(), user, "{line}");
            assert_eq!(spec.password.as_deref(), pass, "{line}");
            assert_eq!(spec.secret.is_some(), has_secret, "{line}");
        }
    }

    #[test]
    fn default_kind_applies_to_plain_host_port() {
        let spec = parse_bare("1.2.3.4:8080", ProxyKind::Http)
            .unwrap()
            .unwrap();
        assert_eq!(spec.kind, ProxyKind::Http);
        let error = parse_bare("1.2.3.4:443", ProxyKind::Mtproto)
            .unwrap()
            .unwrap_err();
        assert_eq!(error, SpecError::MissingSecret);
    }

    #[test]
    fn prose_is_not_a_proxy() {
        for line in [
            "12:30",
            "Note:remember",
            "Time: 12:30",
            "http:",
            "a:b:c",
            "::",
            "[]:1",
            "@:",
        ] {
            assert_eq!(parse_bare(line, ProxyKind::Socks5), None, "{line}");
        }
    }

    #[test]
    fn proxy_shaped_lines_with_bad_parts_are_rejected() {
        let cases = [
            ("1.2.3.4:99999", "bad_port"),
            ("1.2.3.4:", "missing_port"),
            ("host.example:0", "bad_port"),
            ("1.2.3.4:443:nothex", "bad_secret"),
            ("[2001:db8::1]:x", "bad_port"),
            // Bytes that were not UTF-8 in a host: refused by IDNA, never cut or dropped.
            ("bad\u{fffd}.example:1080", "bad_host"),
            ("u:p@bad\u{fffd}.example:1080", "bad_host"),
        ];
        for (line, code) in cases {
            let error = parse_bare(line, ProxyKind::Socks5).unwrap().unwrap_err();
            assert_eq!(error.code(), code, "{line}");
        }
    }
}
