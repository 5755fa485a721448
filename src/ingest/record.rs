//! Field records: a JSON proxy object or a CSV row, read as named fields (`host`, `port`,
//! `secret`, `type`, `user`, `pass`, `link`…) and turned into the proxy items it holds.
//!
//! Sits between the structured parsers ([`super::json`], [`super::csv`]) and the shared
//! validation in [`crate::proxy`]: both parsers build a `Record` from name/value pairs and
//! report its `Record::items`, so JSON and CSV agree on aliases, kind inference and errors.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::bare::parse_bare;
use super::link::{find_links, split_host_port};
use crate::proto::mtproto::secret::MtprotoSecret;
use crate::proxy::{ProxyKind, ProxySpec, SpecError, normalize_host, parse_port};

/// What a field name stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    /// Host or IP, possibly `host:port`.
    Host,
    /// TCP port.
    Port,
    /// MTProto secret.
    Secret,
    /// Protocol name.
    Kind,
    /// SOCKS/HTTP username.
    User,
    /// SOCKS/HTTP password.
    Pass,
    /// A whole proxy: a link or a bare `host:port` form.
    Link,
}

/// Field names (lower case) and what they stand for.
const NAMES: &[(&str, Column)] = &[
    ("host", Column::Host),
    ("ip", Column::Host),
    ("server", Column::Host),
    ("address", Column::Host),
    ("addr", Column::Host),
    ("hostname", Column::Host),
    ("port", Column::Port),
    ("secret", Column::Secret),
    ("type", Column::Kind),
    ("protocol", Column::Kind),
    ("kind", Column::Kind),
    ("scheme", Column::Kind),
    ("user", Column::User),
    ("username", Column::User),
    ("login", Column::User),
    ("pass", Column::Pass),
    ("password", Column::Pass),
    ("pwd", Column::Pass),
    ("link", Column::Link),
    ("url", Column::Link),
    ("proxy", Column::Link),
];

/// Reads a field name, ignoring case and surrounding spaces.
fn column_of(name: &str) -> Option<Column> {
    let name = name.trim();
    NAMES
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(name))
        .map(|&(_, column)| column)
}

/// True when `name` is a field name records understand (CSV uses it to check a header).
pub(crate) fn is_field_name(name: &str) -> bool {
    column_of(name).is_some()
}

/// One proxy-looking thing a record holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordItem<'r> {
    /// The text to show if it is rejected: the link, or the fields as `host: … / port: …`.
    pub text: Cow<'r, str>,
    /// The proxy, or why it cannot be used.
    pub outcome: Result<ProxySpec, SpecError>,
}

/// The non-empty values of one JSON object or CSV row, each with the field it names
/// (`None` for fields records do not know, which are still searched for links).
#[derive(Debug, Clone, Default)]
pub(crate) struct Record<'a> {
    /// Values in input order; empty values are never stored, so they count as absent.
    cells: Vec<(Option<Column>, Cow<'a, str>)>,
}

impl<'a> Record<'a> {
    /// A record from `(field name, value)` pairs.
    pub(crate) fn from_pairs<N, V>(pairs: impl IntoIterator<Item = (N, V)>) -> Self
    where
        N: AsRef<str>,
        V: Into<Cow<'a, str>>,
    {
        let mut record = Self::default();
        for (name, value) in pairs {
            record.push(name.as_ref(), value);
        }
        record
    }

    /// Adds one field; a blank value is dropped (it counts as absent).
    pub fn push(&mut self, name: &str, value: impl Into<Cow<'a, str>>) {
        let value = value.into();
        if value.trim().is_empty() {
            return;
        }
        self.cells.push((column_of(name), value));
    }

    /// True when no field has a value.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// The first value of a field, trimmed.
    fn get(&self, column: Column) -> Option<&str> {
        self.cells
            .iter()
            .find(|(c, _)| *c == Some(column))
            .map(|(_, value)| value.trim())
    }

    /// Whether the fields name an endpoint on their own: a port (in its own field or inside
    /// the host value), or a host together with a secret or a type. JSON uses this to tell
    /// proxy objects from other objects that merely have an `ip` or `address` (Telegram
    /// session lists, venues).
    pub(crate) fn names_endpoint(&self) -> bool {
        let host = self.get(Column::Host);
        let host_has_port = host.is_some_and(|host| split_host_port(host).1.is_some());
        let described = self.get(Column::Secret).is_some() || self.get(Column::Kind).is_some();
        self.get(Column::Port).is_some() || host_has_port || (host.is_some() && described)
    }

    /// The proxy the host/port fields describe; `None` when there is neither a host nor a
    /// port (not a proxy record at all).
    ///
    /// The kind comes from the type field, else a secret means MTProto, credentials mean
    /// SOCKS5, and anything else is `default_kind`. A secret on a non-MTProto kind and
    /// credentials on MTProto are ignored.
    pub(crate) fn to_spec(&self, default_kind: ProxyKind) -> Option<Result<ProxySpec, SpecError>> {
        let host = self.get(Column::Host);
        let port = self.get(Column::Port);
        if host.is_none() && port.is_none() {
            return None;
        }
        let (host, port) = match (host, port) {
            (Some(host), None) => split_host_port(host),
            (host, port) => (host.unwrap_or_default(), port),
        };
        Some(self.build(host, port, default_kind))
    }

    /// Validates the fields once host and port are known.
    fn build(
        &self,
        host: &str,
        port: Option<&str>,
        default_kind: ProxyKind,
    ) -> Result<ProxySpec, SpecError> {
        let host = normalize_host(host)?;
        let port = parse_port(port.unwrap_or_default())?;
        let kind = self.kind(default_kind)?;
        let secret = match (kind, self.get(Column::Secret)) {
            (ProxyKind::Mtproto, Some(secret)) => Some(MtprotoSecret::decode(secret)?),
            (ProxyKind::Mtproto, None) => return Err(SpecError::MissingSecret),
            _ => None,
        };
        let credential = |column| {
            self.get(column)
                .filter(|_| kind != ProxyKind::Mtproto)
                .map(str::to_owned)
        };
        Ok(ProxySpec {
            kind,
            host,
            port,
            secret,
            username: credential(Column::User),
            password: credential(Column::Pass),
        })
    }

    /// The kind the record names or implies.
    fn kind(&self, default_kind: ProxyKind) -> Result<ProxyKind, SpecError> {
        if let Some(name) = self.get(Column::Kind) {
            return ProxyKind::from_name(name).ok_or(SpecError::Malformed("unknown proxy type"));
        }
        Ok(if self.get(Column::Secret).is_some() {
            ProxyKind::Mtproto
        } else if self.get(Column::User).is_some() || self.get(Column::Pass).is_some() {
            ProxyKind::Socks5
        } else {
            default_kind
        })
    }

    /// The known fields as `host: … / port: …`, for a rejection message.
    pub(crate) fn describe(&self) -> String {
        let mut text = String::new();
        for (column, value) in &self.cells {
            let name = match column {
                Some(Column::Host) => "host",
                Some(Column::Port) => "port",
                Some(Column::Secret) => "secret",
                Some(Column::Kind) => "type",
                Some(Column::User) => "user",
                Some(Column::Pass) => "password",
                Some(Column::Link) | None => continue,
            };
            if !text.is_empty() {
                text.push_str(" / ");
            }
            let _ = write!(text, "{name}: {}", value.trim());
        }
        text
    }

    /// Every link in any value, and for link columns (`link`, `url`, `proxy`) without one,
    /// a bare `host:port` form.
    fn links(&self, default_kind: ProxyKind) -> Vec<RecordItem<'_>> {
        let mut items = Vec::new();
        for (column, value) in &self.cells {
            let found = find_links(value);
            if found.is_empty() && *column == Some(Column::Link) {
                let token = value.trim();
                if let Some(outcome) = parse_bare(token, default_kind) {
                    items.push(RecordItem {
                        text: Cow::Borrowed(token),
                        outcome,
                    });
                }
            }
            items.extend(found.into_iter().map(|link| RecordItem {
                text: Cow::Borrowed(link.text),
                outcome: link.outcome,
            }));
        }
        items
    }

    /// What the record holds, each proxy once.
    ///
    /// Links describe the row; the host/port fields add an item when there is no link, or
    /// when they name a valid proxy none of the links names. (A row holding both a link and
    /// its fields is one proxy, not a duplicate; fields left incomplete next to a link are
    /// not a rejection.) Empty when the record holds nothing proxy-like.
    pub(crate) fn items(&self, default_kind: ProxyKind) -> Vec<RecordItem<'_>> {
        let links = self.links(default_kind);
        let fields = self.to_spec(default_kind).filter(|outcome| match outcome {
            Ok(spec) => !links.iter().any(|link| link.outcome.as_ref() == Ok(spec)),
            Err(_) => links.is_empty(),
        });
        let fields = fields.map(|outcome| RecordItem {
            text: Cow::Owned(self.describe()),
            outcome,
        });
        fields.into_iter().chain(links).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    /// `(kind, host, port, has secret, user, pass)`.
    type Fields = (ProxyKind, String, u16, bool, Option<String>, Option<String>);
    /// The fields of a spec, or an error code.
    type Summary = Result<Fields, &'static str>;
    /// Record fields and the items expected from them, as `(text, summary)`.
    type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<(&'a str, Summary)>);

    fn summary(outcome: &Result<ProxySpec, SpecError>) -> Summary {
        outcome
            .as_ref()
            .map(|s| {
                (
                    s.kind,
                    s.host.clone(),
                    s.port,
                    s.secret.is_some(),
                    s.username.clone(),
                    s.password.clone(),
                )
            })
            .map_err(SpecError::code)
    }

    #[expect(
        clippy::unnecessary_wraps,
        reason = "reads as the expected value in case tables"
    )]
    fn ok(
        kind: ProxyKind,
        host: &str,
        port: u16,
        secret: bool,
        user: Option<&str>,
        pass: Option<&str>,
    ) -> Summary {
        Ok((
            kind,
            host.to_owned(),
            port,
            secret,
            user.map(str::to_owned),
            pass.map(str::to_owned),
        ))
    }

    #[test]
    fn fields_map_to_a_spec() {
        use ProxyKind::{Http, Mtproto, Socks4a, Socks5};
        let cases: Vec<(Vec<(&str, &str)>, Summary)> = vec![
            (
                vec![("host", "1.2.3.4"), ("port", "1080")],
                ok(Socks5, "1.2.3.4", 1080, false, None, None),
            ),
            (
                vec![("IP", "1.2.3.4"), ("Port", " 1080 ")],
                ok(Socks5, "1.2.3.4", 1080, false, None, None),
            ),
            (
                vec![("Server", "A.Example:443"), ("secret", KEY)],
                ok(Mtproto, "a.example", 443, true, None, None),
            ),
            (
                vec![("addr", "[2001:db8::1]:8080"), ("type", "HTTP")],
                ok(Http, "2001:db8::1", 8080, false, None, None),
            ),
            (
                vec![
                    ("hostname", "h.example"),
                    ("port", "1"),
                    ("scheme", "socks4a"),
                ],
                ok(Socks4a, "h.example", 1, false, None, None),
            ),
            (
                vec![
                    ("address", "1.2.3.4"),
                    ("port", "1"),
                    ("login", "u"),
                    ("pwd", "p"),
                ],
                ok(Socks5, "1.2.3.4", 1, false, Some("u"), Some("p")),
            ),
            (
                vec![("host", "1.2.3.4"), ("port", "1"), ("password", "p")],
                ok(Socks5, "1.2.3.4", 1, false, None, Some("p")),
            ),
            (
                vec![
                    ("host", "1.2.3.4"),
                    ("port", "1"),
                    ("kind", "http"),
                    ("secret", KEY),
                ],
                ok(Http, "1.2.3.4", 1, false, None, None),
            ),
            (
                vec![
                    ("host", "1.2.3.4"),
                    ("port", "1"),
                    ("secret", KEY),
                    ("username", "u"),
                ],
                ok(Mtproto, "1.2.3.4", 1, true, None, None),
            ),
            (
                vec![
                    ("host", "1.2.3.4"),
                    ("port", "1"),
                    ("secret", ""),
                    ("user", " "),
                ],
                ok(Socks5, "1.2.3.4", 1, false, None, None),
            ),
            (
                vec![("host", ""), ("ip", "1.2.3.4"), ("port", "2")],
                ok(Socks5, "1.2.3.4", 2, false, None, None),
            ),
            (vec![("host", "1.2.3.4"), ("port", "0")], Err("bad_port")),
            (vec![("host", "1.2.3.4")], Err("missing_port")),
            (vec![("port", "1080"), ("secret", KEY)], Err("empty_host")),
            (vec![("host", "bad host"), ("port", "1")], Err("bad_host")),
            (
                vec![("host", "1.2.3.4"), ("port", "443"), ("type", "mtproto")],
                Err("missing_secret"),
            ),
            (
                vec![("host", "1.2.3.4"), ("port", "443"), ("secret", "abcd")],
                Err("bad_secret"),
            ),
            (
                vec![("host", "1.2.3.4"), ("port", "443"), ("type", "vmess")],
                Err("malformed"),
            ),
        ];
        for (pairs, expected) in cases {
            let record = Record::from_pairs(pairs.iter().copied());
            let outcome = record
                .to_spec(ProxyKind::Socks5)
                .unwrap_or_else(|| panic!("{pairs:?}"));
            assert_eq!(summary(&outcome), expected, "{pairs:?}");
        }
    }

    #[test]
    fn records_without_host_or_port_are_not_proxies() {
        for pairs in [
            vec![],
            vec![("name", "fast")],
            vec![("secret", KEY), ("user", "u")],
            vec![("host", "  ")],
        ] {
            let record = Record::from_pairs(pairs.iter().copied());
            assert_eq!(record.to_spec(ProxyKind::Socks5), None, "{pairs:?}");
            assert!(record.items(ProxyKind::Socks5).is_empty(), "{pairs:?}");
        }
    }

    #[test]
    fn default_kind_applies_without_hints() {
        let record = Record::from_pairs([("host", "1.2.3.4"), ("port", "8080")]);
        let spec = record.to_spec(ProxyKind::Http).unwrap().unwrap();
        assert_eq!(spec.kind, ProxyKind::Http);
        let error = record.to_spec(ProxyKind::Mtproto).unwrap().unwrap_err();
        assert_eq!(error, SpecError::MissingSecret);
    }

    #[test]
    fn links_and_fields_together() {
        let same = format!("tg://proxy?server=1.2.3.4&port=443&secret={KEY}");
        // (pairs, expected items as (text, summary))
        let cases: Vec<Case<'_>> = vec![
            // A link restating the fields is one item.
            (
                vec![
                    ("host", "1.2.3.4"),
                    ("port", "443"),
                    ("secret", KEY),
                    ("link", &same),
                ],
                vec![(
                    &same,
                    ok(ProxyKind::Mtproto, "1.2.3.4", 443, true, None, None),
                )],
            ),
            // Incomplete fields next to a link are not a rejection.
            (
                vec![("server", "1.2.3.4"), ("url", &same)],
                vec![(
                    &same,
                    ok(ProxyKind::Mtproto, "1.2.3.4", 443, true, None, None),
                )],
            ),
            // Fields naming another proxy are an item of their own.
            (
                vec![
                    ("host", "5.6.7.8"),
                    ("port", "1080"),
                    ("note", "also socks5://9.9.9.9:1"),
                ],
                vec![
                    (
                        "host: 5.6.7.8 / port: 1080",
                        ok(ProxyKind::Socks5, "5.6.7.8", 1080, false, None, None),
                    ),
                    (
                        "socks5://9.9.9.9:1",
                        ok(ProxyKind::Socks5, "9.9.9.9", 1, false, None, None),
                    ),
                ],
            ),
            // A proxy column may hold a bare form.
            (
                vec![("Proxy", " 1.2.3.4:1080 "), ("country", "DE")],
                vec![(
                    "1.2.3.4:1080",
                    ok(ProxyKind::Socks5, "1.2.3.4", 1080, false, None, None),
                )],
            ),
            // A broken link is reported; the rejected fields carry their text.
            (
                vec![("link", "socks5://1.2.3.4:0")],
                vec![("socks5://1.2.3.4:0", Err("bad_port"))],
            ),
            (
                vec![("host", "1.2.3.4"), ("port", "x")],
                vec![("host: 1.2.3.4 / port: x", Err("bad_port"))],
            ),
            // Link columns holding prose hold nothing.
            (
                vec![("url", "https://example.org/page"), ("name", "x")],
                vec![],
            ),
        ];
        for (pairs, expected) in cases {
            let record = Record::from_pairs(pairs.iter().copied());
            let items: Vec<_> = record
                .items(ProxyKind::Socks5)
                .iter()
                .map(|item| (item.text.to_string(), summary(&item.outcome)))
                .collect();
            let expected: Vec<_> = expected
                .into_iter()
                .map(|(t, s)| (t.to_owned(), s))
                .collect();
            assert_eq!(items, expected, "{pairs:?}");
        }
    }

    #[test]
    fn endpoint_detection_for_json_objects() {
        let cases: &[(&[(&str, &str)], bool)] = &[
            (&[("host", "1.2.3.4"), ("port", "1")], true),
            (&[("server", "1.2.3.4:443")], true),
            (&[("ip", "1.2.3.4"), ("secret", KEY)], true),
            (&[("port", "8080")], true),
            (&[("ip", "1.2.3.4"), ("country", "DE")], false),
            (&[("address", "Main Street 1")], false),
            (&[("name", "x")], false),
        ];
        for (pairs, expected) in cases {
            let record = Record::from_pairs(pairs.iter().copied());
            assert_eq!(record.names_endpoint(), *expected, "{pairs:?}");
        }
    }
}
