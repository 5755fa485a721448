//! Redaction for human output, in one place: every human-facing format (table, CSV,
//! Markdown, HTML) shows entries and free text through these functions, and none shows a
//! secret or a password.
//!
//! - Entries are redacted from their typed fields: `redacted_link` (through
//!   `ProxySpec::to_redacted_link`) and `redacted_endpoint`.
//! - Free text (rejected lines may hold `secret=…`, `pass=…`, `user:pass@`,
//!   `host:port:user:pass`, `Secret: …`): `redact_text`.

use super::types::EntryOut;
use crate::proto::mtproto::secret::MtprotoSecret;
use crate::proxy::ProxySpec;

/// Marker put in place of a hidden value.
const HIDDEN: &str = "***";

/// Query keys and labels whose values are credentials (lower case).
const SECRET_KEYS: &[&str] = &[
    "secret=",
    "pass=",
    "password=",
    "secret: ",
    "password: ",
    "key: ",
];

/// Returns `text` with credential values replaced by `***`.
pub(crate) fn redact_text(text: &str) -> String {
    let mut out = redact_keyed_values(text);
    out = redact_userinfo(&out);
    redact_bare_credentials(&out)
}

/// `secret=VALUE`, `pass=VALUE`, `Secret: VALUE`: the value up to `&`, `/` or whitespace.
fn redact_keyed_values(text: &str) -> String {
    let lower = text.to_lowercase();
    if lower.len() != text.len() {
        // Case folding changed byte offsets (rare non-ASCII); fall back to hiding values
        // after any '=' or ': ' conservatively.
        return hide_after_any_key(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    while pos < text.len() {
        let next = SECRET_KEYS
            .iter()
            .filter_map(|key| lower.get(pos..)?.find(key).map(|at| (pos + at, key.len())))
            .min();
        let Some((at, key_len)) = next else {
            out.push_str(text.get(pos..).unwrap_or_default());
            break;
        };
        let value_start = at + key_len;
        let value_len = text
            .get(value_start..)
            .unwrap_or_default()
            .find(|c: char| c == '&' || c == '/' || c.is_whitespace())
            .unwrap_or(text.len() - value_start);
        out.push_str(text.get(pos..value_start).unwrap_or_default());
        if value_len > 0 {
            out.push_str(HIDDEN);
        }
        pos = value_start + value_len;
    }
    out
}

/// Conservative fallback: hide everything after the first `=` or `: `.
fn hide_after_any_key(text: &str) -> String {
    match text.find(['=', ':']) {
        Some(at) => format!("{}{HIDDEN}", text.get(..=at).unwrap_or_default()),
        None => text.to_owned(),
    }
}

/// `scheme://user:pass@host` → `scheme://user:***@host`.
fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let authority_end = tail
            .find(|c: char| c == '/' || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = tail.get(..authority_end).unwrap_or_default();
        match authority
            .rfind('@')
            .and_then(|amp| Some((amp, authority.get(..amp)?.find(':')?)))
        {
            Some((amp, colon)) => {
                out.push_str(authority.get(..=colon).unwrap_or_default());
                out.push_str(HIDDEN);
                out.push_str(authority.get(amp..).unwrap_or_default());
            }
            None => out.push_str(authority),
        }
        rest = tail.get(authority_end..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

/// Bare forms `host:port:user:pass` and `host:port:secret`: hide from the third field on;
/// `user:pass@host:port`: hide the password.
fn redact_bare_credentials(text: &str) -> String {
    if text.contains("://") || text.contains(char::is_whitespace) {
        return text.to_owned();
    }
    if let Some((userinfo, hostport)) = text.rsplit_once('@') {
        return match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:{HIDDEN}@{hostport}"),
            None => text.to_owned(),
        };
    }
    let mut fields = text.splitn(3, ':');
    match (fields.next(), fields.next(), fields.next()) {
        (Some(host), Some(port), Some(_)) if !host.starts_with('[') => {
            format!("{host}:{port}:{HIDDEN}")
        }
        _ => text.to_owned(),
    }
}

/// `host:port`, with an IPv6 host in brackets.
pub(crate) fn host_port(entry: &EntryOut) -> String {
    if entry.host.contains(':') {
        format!("[{}]:{}", entry.host, entry.port)
    } else {
        format!("{}:{}", entry.host, entry.port)
    }
}

/// The entry's link with the secret shortened and the password replaced by `***`.
///
/// The link is rebuilt from the entry's typed fields and rendered by
/// [`ProxySpec::to_redacted_link`], the one place links are redacted. Should the secret
/// not decode (an `EntryOut` made by hand), the stored link is redacted as free text
/// instead, which hides the whole secret.
pub(crate) fn redacted_link(entry: &EntryOut) -> String {
    let secret = match entry.secret.as_deref().map(MtprotoSecret::decode) {
        Some(Ok(secret)) => Some(secret),
        Some(Err(_)) => return redact_text(&entry.link),
        None => None,
    };
    ProxySpec {
        kind: entry.kind,
        host: entry.host.clone(),
        port: entry.port,
        secret,
        username: entry.username.clone(),
        password: entry.password.clone(),
    }
    .to_redacted_link()
}

/// `host:port` (IPv6 in brackets), preceded by `user:***@` or `user@` when the entry has a
/// username, and followed by the shortened secret for MTProto entries.
pub(crate) fn redacted_endpoint(entry: &EntryOut) -> String {
    let host_port = host_port(entry);
    let with_user = match (&entry.username, &entry.password) {
        (Some(user), Some(_)) => format!("{user}:***@{host_port}"),
        (Some(user), None) => format!("{user}@{host_port}"),
        (None, _) => host_port,
    };
    match entry.secret.as_deref().map(MtprotoSecret::decode) {
        Some(Ok(secret)) => format!("{with_user} {}", secret.redacted()),
        Some(Err(_)) => format!("{with_user} ***"),
        None => with_user,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_hidden() {
        let cases = [
            (
                "tg://proxy?server=a&port=70000&secret=ee0011",
                "tg://proxy?server=a&port=70000&secret=***",
            ),
            (
                "tg://socks?server=a&pass=hunter2&port=1",
                "tg://socks?server=a&pass=***&port=1",
            ),
            ("socks5://bob:hunter2@h:99999", "socks5://bob:***@h:99999"),
            ("bob:hunter2@1.2.3.4:99999", "bob:***@1.2.3.4:99999"),
            ("1.2.3.4:0:bob:hunter2", "1.2.3.4:0:***"),
            ("1.2.3.4:443:badsecret", "1.2.3.4:443:***"),
            (
                "Server: a / Port: 1 / Secret: 00ff / Password: pw",
                "Server: a / Port: 1 / Secret: *** / Password: ***",
            ),
            ("SECRET=ABC", "SECRET=***"),
            ("1.2.3.4:99999", "1.2.3.4:99999"),
        ];
        for (input, expected) in cases {
            assert_eq!(redact_text(input), expected, "{input}");
        }
    }

    #[test]
    fn endpoints_are_redacted() {
        let report = super::super::csv_out::tests::sample_report();
        let endpoints: Vec<String> = report
            .entries
            .iter()
            .map(|audited| redacted_endpoint(&audited.entry))
            .collect();
        assert_eq!(
            endpoints,
            [
                "1.2.3.4:443 dd01…ef",
                "user:***@5.6.7.8:1080",
                "9.9.9.9:8080"
            ]
        );
    }

    #[test]
    fn an_undecodable_secret_is_hidden_whole() {
        let mut entry = super::super::csv_out::tests::sample_report().entries[0]
            .entry
            .clone();
        entry.secret = Some("zz-not-hex".to_owned());
        entry.link = "tg://proxy?server=1.2.3.4&port=443&secret=zz-not-hex".to_owned();
        assert_eq!(
            redacted_link(&entry),
            "tg://proxy?server=1.2.3.4&port=443&secret=***"
        );
        assert_eq!(redacted_endpoint(&entry), "1.2.3.4:443 ***");
    }
}
