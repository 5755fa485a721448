//! Labelled channel posts: `Server: … / Port: … / Secret: …` blocks, one field a line or
//! several on one line, with labels in English, Russian, Persian and Chinese.
//!
//! A [`Block`] gathers fields line by line and turns into one item when it ends: at a blank
//! line, when a field repeats (the next proxy starts), after a few unrelated lines, or at
//! the end of the input. Values are checked for shape before a word counts as a label, so
//! "Server: down for maintenance" stays prose.

use std::fmt::Write as _;

use crate::ingest::bare::plausible_host;
use crate::ingest::link::split_host_port;
use crate::proto::mtproto::secret::MtprotoSecret;
use crate::proxy::{ProxyKind, ProxySpec, SpecError, normalize_host, parse_port};

/// Unrelated non-blank lines a block may span before it is closed.
const MAX_GAP: u8 = 2;

/// A field a label names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    /// Host or address.
    Server,
    /// TCP port.
    Port,
    /// MTProto secret.
    Secret,
    /// SOCKS/HTTP username.
    User,
    /// SOCKS/HTTP password.
    Pass,
    /// Protocol name.
    Kind,
}

/// Label words, lower case, and the field each names.
const LABELS: &[(&str, Field)] = &[
    ("server", Field::Server),
    ("host", Field::Server),
    ("hostname", Field::Server),
    ("address", Field::Server),
    ("addr", Field::Server),
    ("ip", Field::Server),
    ("сервер", Field::Server),
    ("хост", Field::Server),
    ("адрес", Field::Server),
    ("айпи", Field::Server),
    ("سرور", Field::Server),
    ("آدرس", Field::Server),
    ("服务器", Field::Server),
    ("地址", Field::Server),
    ("port", Field::Port),
    ("порт", Field::Port),
    ("پورت", Field::Port),
    ("端口", Field::Port),
    ("secret", Field::Secret),
    ("key", Field::Secret),
    ("секрет", Field::Secret),
    ("ключ", Field::Secret),
    ("سکرت", Field::Secret),
    ("سیکرت", Field::Secret),
    ("密钥", Field::Secret),
    ("user", Field::User),
    ("username", Field::User),
    ("login", Field::User),
    ("пользователь", Field::User),
    ("логин", Field::User),
    ("юзер", Field::User),
    ("pass", Field::Pass),
    ("password", Field::Pass),
    ("пароль", Field::Pass),
    ("type", Field::Kind),
    ("protocol", Field::Kind),
    ("тип", Field::Kind),
    ("протокол", Field::Kind),
];

/// True when a line may hold a label (cheap test before [`find_labels`]).
pub(crate) fn may_have_labels(line: &str) -> bool {
    line.contains([':', '=', '：'])
}

/// Every `label: value` pair in a line whose value has the shape its field needs.
pub(crate) fn find_labels(line: &str) -> Vec<(Field, &str)> {
    let mut fields = Vec::new();
    for (at, sep) in line
        .char_indices()
        .filter(|(_, c)| matches!(c, ':' | '=' | '：'))
    {
        let before = line.get(..at).unwrap_or_default().trim_end();
        let word_start = before
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_alphabetic() || *c == '-')
            .last()
            .map_or(before.len(), |(i, _)| i);
        let word = before.get(word_start..).unwrap_or_default();
        if word.is_empty() {
            continue;
        }
        let word = word.to_lowercase();
        let Some(&(_, field)) = LABELS.iter().find(|(label, _)| *label == word) else {
            continue;
        };
        let after = line
            .get(at + sep.len_utf8()..)
            .unwrap_or_default()
            .trim_start();
        let value = after
            .split(|c: char| c.is_whitespace() || c == '|' || c == ',')
            .next()
            .unwrap_or_default()
            .trim_matches(|c: char| {
                matches!(
                    c,
                    '`' | '"' | '\'' | '*' | '«' | '»' | '[' | ']' | '(' | ')'
                )
            });
        if value_fits(field, value) {
            fields.push((field, value));
        }
    }
    fields
}

/// Whether a value has the shape of its field (so prose after a label word is not taken).
fn value_fits(field: Field, value: &str) -> bool {
    match field {
        Field::Server => {
            let (host, _) = split_host_port(value);
            plausible_host(host).is_some()
        }
        Field::Port => {
            !value.is_empty() && value.len() <= 8 && value.bytes().all(|b| b.is_ascii_digit())
        }
        Field::Secret => {
            value.len() >= 16
                && value.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_')
                })
        }
        Field::User | Field::Pass => !value.is_empty(),
        Field::Kind => ProxyKind::from_name(value).is_some(),
    }
}

/// The fields of one post being gathered, with the positions of its first and last lines.
#[derive(Debug)]
pub(crate) struct Block<P> {
    /// Position of the first label line, `None` while empty.
    first: Option<P>,
    /// Position of the latest label line.
    last: Option<P>,
    /// Label lines taken so far (to count them as ignored if they never make a proxy).
    lines: u64,
    /// Unrelated lines since the latest label line.
    gap: u8,
    /// Field values as written.
    server: Option<String>,
    /// Port text.
    port: Option<String>,
    /// Secret text.
    secret: Option<String>,
    /// Username.
    user: Option<String>,
    /// Password.
    pass: Option<String>,
    /// Protocol named by a `Type:` label.
    kind: Option<ProxyKind>,
}

/// What a finished block turned into.
#[derive(Debug)]
pub(crate) enum Closed<P> {
    /// A proxy-looking item spanning `first..=last`.
    Item {
        /// First line position.
        first: P,
        /// Last line position.
        last: P,
        /// The fields, rendered for a rejection message.
        text: String,
        /// The proxy, or why not.
        outcome: Result<ProxySpec, SpecError>,
    },
    /// Label lines that named no proxy (only a username, say): this many ignored lines.
    Nothing(u64),
}

impl<P: Copy> Default for Block<P> {
    fn default() -> Self {
        Self {
            first: None,
            last: None,
            lines: 0,
            gap: 0,
            server: None,
            port: None,
            secret: None,
            user: None,
            pass: None,
            kind: None,
        }
    }
}

impl<P: Copy> Block<P> {
    /// Adds a line's fields. A field that is already set starts a new block: the closed
    /// one is returned.
    pub fn add(&mut self, at: P, fields: &[(Field, &str)]) -> Option<Closed<P>> {
        let repeats = fields.iter().any(|(field, _)| self.has(*field));
        let closed = if repeats { self.close() } else { None };
        self.first.get_or_insert(at);
        self.last = Some(at);
        self.lines += 1;
        self.gap = 0;
        for &(field, value) in fields {
            self.set(field, value);
        }
        closed
    }

    /// Notes an unrelated line; a long enough gap closes the block.
    pub(crate) fn gap(&mut self) -> Option<Closed<P>> {
        self.first?;
        self.gap += 1;
        if self.gap > MAX_GAP {
            self.close()
        } else {
            None
        }
    }

    /// Ends the block (blank line, end of input) and resets it.
    pub fn close(&mut self) -> Option<Closed<P>> {
        let first = self.first?;
        let last = self.last.unwrap_or(first);
        let block = std::mem::take(self);
        let names_a_proxy =
            block.server.is_some() || (block.port.is_some() && block.secret.is_some());
        if !names_a_proxy {
            return Some(Closed::Nothing(block.lines));
        }
        Some(Closed::Item {
            first,
            last,
            text: block.describe(),
            outcome: block.spec(),
        })
    }

    fn has(&self, field: Field) -> bool {
        match field {
            Field::Server => self.server.is_some(),
            Field::Port => self.port.is_some(),
            Field::Secret => self.secret.is_some(),
            Field::User => self.user.is_some(),
            Field::Pass => self.pass.is_some(),
            Field::Kind => self.kind.is_some(),
        }
    }

    fn set(&mut self, field: Field, value: &str) {
        match field {
            Field::Server => {
                let (host, port) = split_host_port(value);
                self.server = Some(host.to_owned());
                if let Some(port) = port.filter(|_| self.port.is_none()) {
                    self.port = Some(port.to_owned());
                }
            }
            Field::Port => self.port = Some(value.to_owned()),
            Field::Secret => self.secret = Some(value.to_owned()),
            Field::User => self.user = Some(value.to_owned()),
            Field::Pass => self.pass = Some(value.to_owned()),
            Field::Kind => self.kind = ProxyKind::from_name(value),
        }
    }

    /// The fields as `Server: … / Port: …` for a rejection message.
    fn describe(&self) -> String {
        let mut text = String::new();
        let parts = [
            ("Server", self.server.as_deref()),
            ("Port", self.port.as_deref()),
            ("Secret", self.secret.as_deref()),
            ("User", self.user.as_deref()),
            ("Password", self.pass.as_deref()),
            ("Type", self.kind.map(ProxyKind::as_str)),
        ];
        for (name, value) in parts {
            if let Some(value) = value {
                if !text.is_empty() {
                    text.push_str(" / ");
                }
                let _ = write!(text, "{name}: {value}");
            }
        }
        text
    }

    /// The proxy the fields name: the `Type:` label decides the kind, else a secret means
    /// MTProto and credentials mean SOCKS5.
    fn spec(&self) -> Result<ProxySpec, SpecError> {
        let host = normalize_host(self.server.as_deref().unwrap_or_default())?;
        let port = parse_port(self.port.as_deref().unwrap_or_default())?;
        let kind = self.kind.unwrap_or(if self.secret.is_some() {
            ProxyKind::Mtproto
        } else {
            ProxyKind::Socks5
        });
        let secret = match (kind, &self.secret) {
            (ProxyKind::Mtproto, Some(secret)) => Some(MtprotoSecret::decode(secret)?),
            (ProxyKind::Mtproto, None) => return Err(SpecError::MissingSecret),
            _ => None,
        };
        let credentials = kind != ProxyKind::Mtproto;
        Ok(ProxySpec {
            kind,
            host,
            port,
            secret,
            username: self.user.clone().filter(|_| credentials),
            password: self.pass.clone().filter(|_| credentials),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_in_several_languages() {
        let cases: &[(&str, &[(Field, &str)])] = &[
            ("Server: 1.2.3.4", &[(Field::Server, "1.2.3.4")]),
            (
                "🌐 Сервер: proxy.example.com",
                &[(Field::Server, "proxy.example.com")],
            ),
            ("▪️Порт: 443", &[(Field::Port, "443")]),
            (
                "🔑 Secret: `ee0123456789abcdef0123456789abcdef676f6f676c652e636f6d`",
                &[(
                    Field::Secret,
                    "ee0123456789abcdef0123456789abcdef676f6f676c652e636f6d",
                )],
            ),
            (
                "Ключ : dd0123456789abcdef0123456789abcdef",
                &[(Field::Secret, "dd0123456789abcdef0123456789abcdef")],
            ),
            ("سرور: 5.6.7.8", &[(Field::Server, "5.6.7.8")]),
            ("服务器：9.9.9.9", &[(Field::Server, "9.9.9.9")]),
            (
                "Server: 1.2.3.4 | Port: 443",
                &[(Field::Server, "1.2.3.4"), (Field::Port, "443")],
            ),
            (
                "Login: bob Password: s3cret",
                &[(Field::User, "bob"), (Field::Pass, "s3cret")],
            ),
            ("Type: SOCKS5", &[(Field::Kind, "SOCKS5")]),
            ("Server: down for maintenance", &[]),
            ("Port: unknown", &[]),
            ("Key: short", &[]),
            ("Time: 12:30", &[]),
        ];
        for (line, expected) in cases {
            assert_eq!(find_labels(line), expected.to_vec(), "{line}");
        }
    }

    fn feed(lines: &[&str]) -> Vec<Closed<usize>> {
        let mut block = Block::default();
        let mut out = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            let fields = find_labels(line);
            let closed = if line.trim().is_empty() {
                block.close()
            } else if fields.is_empty() {
                block.gap()
            } else {
                block.add(i + 1, &fields)
            };
            out.extend(closed);
        }
        out.extend(block.close());
        out
    }

    #[test]
    fn blocks_close_on_blank_line_repeat_and_end() {
        let closed = feed(&[
            "Server: a.example",
            "Port: 443",
            "Secret: 0123456789abcdef0123456789abcdef",
            "Server: b.example",
            "Port: 1080",
            "",
            "Server: c.example",
            "Port: 99999",
        ]);
        let summary: Vec<_> = closed
            .iter()
            .map(|c| match c {
                Closed::Item {
                    first,
                    last,
                    outcome,
                    ..
                } => (
                    *first,
                    *last,
                    outcome
                        .as_ref()
                        .map(|s| (s.kind, s.host.clone()))
                        .map_err(SpecError::code),
                ),
                Closed::Nothing(_) => panic!("unexpected empty block"),
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (1, 3, Ok((ProxyKind::Mtproto, "a.example".to_owned()))),
                (4, 5, Ok((ProxyKind::Socks5, "b.example".to_owned()))),
                (7, 8, Err("bad_port")),
            ]
        );
    }

    #[test]
    fn server_with_port_in_one_value_and_gaps() {
        let closed = feed(&[
            "Server: a.example:8443",
            "nice proxy",
            "Secret: 0123456789abcdef0123456789abcdef",
        ]);
        let [
            Closed::Item {
                outcome: Ok(spec),
                first: 1,
                last: 3,
                ..
            },
        ] = closed.as_slice()
        else {
            panic!("{closed:?}");
        };
        assert_eq!((spec.port, spec.kind), (8443, ProxyKind::Mtproto));
        let lonely = feed(&["Login: bob"]);
        assert!(matches!(lonely.as_slice(), [Closed::Nothing(1)]));
        let missing_port = feed(&["Server: a.example"]);
        assert!(matches!(
            missing_port.as_slice(),
            [Closed::Item {
                outcome: Err(SpecError::MissingPort),
                ..
            }]
        ));
    }
}
