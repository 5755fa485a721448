//! JSON inputs: Telegram Desktop chat exports (`result.json`) and JSON proxy lists, read
//! into items at JSON paths such as `messages[3].text_entities[1]`.
//!
//! One step of ingestion, next to `text`, `html` and `csv`. The document is streamed: it is
//! never held whole, so memory does not grow with its size (a Telegram export of a large
//! channel runs to hundreds of megabytes). Arrays are read element by element, and each
//! object is read whole when its JSON text is at most `UNIT_LIMIT` bytes, which every
//! message and every proxy object is; a larger object is read member by member (see
//! "Large objects"). `json_scan` finds where values end; serde_json reads each one. What
//! the walk meets decides how it is read:
//!
//! - a **message** (an object with `text` or `text_entities`): its text, reassembled from its
//!   entities, is scanned by `TextScanner` like a channel post, plus the link behind each
//!   `text_link` entity ("Connect"). Service messages are skipped.
//! - a **proxy object** (fields naming an endpoint, see `Record::names_endpoint`): one
//!   item per proxy it holds, through `Record`, at the object's path.
//! - any other **string**: scanned as text (links, bare `host:port`, labelled blocks).
//!
//! Ignored counting: each text unit (a message, or a string value) that holds nothing
//! proxy-like counts as **one** ignored, however many lines it has; blank ones count as
//! nothing. Values that belong to a unit already accounted for (a message's other fields, a
//! proxy object's nested values) are searched for items but never counted, and neither are
//! strings under `METADATA_KEYS`, numbers, booleans or null.
//!
//! Order: the keys of an object read whole are walked in serde_json's map order (sorted),
//! arrays in order. Large objects: an object over `UNIT_LIMIT` bytes (the export's root,
//! `chats`, a `{"proxies": {…}}` wrapper) is a container, never a message or a proxy
//! object (Telegram caps a message at 4096 characters), and its members are read in
//! document order, each by the same rules.
//!
//! Bounds: memory holds one object of at most `UNIT_LIMIT` bytes of JSON (and its parsed
//! form), or one string value, plus the path; depth is refused past `MAX_DEPTH` levels,
//! so neither the walk nor serde_json can overflow the stack. A syntax error ends the input
//! with what was found before it kept, as in the other formats.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::BufRead;

use serde_json::{Map, Value};

use super::json_scan::{Captured, JsonScanner, MAX_DEPTH, Position, ScanError};
use super::link::find_links;
use super::record::Record;
use super::text::{At, MAX_LINE, TextScanner, TextSink};
use super::{IngestOptions, ItemSink, Location, ReadError};
use crate::proxy::{ProxyKind, ProxySpec, SpecError};

/// Largest object read whole, in bytes of JSON (parsed, it takes some 30 times that).
pub(crate) const UNIT_LIMIT: usize = 1024 * 1024;

/// Keys whose string values are plainly metadata: never counted as ignored.
pub(crate) const METADATA_KEYS: &[&str] = &[
    "type",
    "id",
    "name",
    "title",
    "date",
    "date_unixtime",
    "edited",
    "edited_unixtime",
    "from",
    "from_id",
    "photo",
    "file",
];

/// Reads a JSON input: a Telegram Desktop export or a proxy list.
pub fn parse(
    reader: impl BufRead,
    options: &IngestOptions,
    sink: &mut impl ItemSink,
) -> Result<(), ReadError> {
    parse_with_limit(reader, options.default_kind, sink, UNIT_LIMIT)
}

/// [`parse`], reading objects of at most `unit_limit` bytes whole.
fn parse_with_limit(
    reader: impl BufRead,
    default_kind: ProxyKind,
    sink: &mut impl ItemSink,
    unit_limit: usize,
) -> Result<(), ReadError> {
    let mut stream = Stream {
        input: JsonScanner::new(reader),
        walker: Walker {
            sink,
            default_kind,
            path: String::new(),
            items: 0,
        },
        unit_limit,
        buf: Vec::new(),
    };
    let result = stream
        .input
        .skip_bom()
        .map_err(ScanError::from)
        .and_then(|()| stream.value(None, false, 0))
        .and_then(|()| match stream.input.peek()? {
            None => Ok(()),
            Some(_) => Err(stream.input.error("trailing characters")),
        });
    result.map_err(|error| match error {
        ScanError::Io(error) => ReadError::Io(error),
        ScanError::Syntax { at, message } => ReadError::Syntax(format!(
            "invalid JSON at line {} column {}: {message}",
            at.line, at.column
        )),
    })
}

/// Parses one value copied out of the stream, which started at `start`; serde_json's
/// error positions are moved to the document's.
fn parse_unit(bytes: &[u8], start: Position) -> Result<Value, ScanError> {
    serde_json::from_slice(bytes).map_err(|error| {
        let (line, column) = (error.line() as u64, error.column() as u64);
        let full = error.to_string();
        // The copy ends where the value does: running out inside it means the value
        // stops short (`tru]`), not that the document does.
        let message = if error.is_eof() {
            "incomplete value".to_owned()
        } else {
            full.strip_suffix(&format!(" at line {line} column {column}"))
                .unwrap_or(&full)
                .to_owned()
        };
        let at = if line <= 1 {
            Position {
                line: start.line,
                column: start.column.saturating_sub(1) + column,
            }
        } else {
            Position {
                line: start.line + line - 1,
                column,
            }
        };
        ScanError::Syntax { at, message }
    })
}

/// The streamed walk: arrays element by element, objects whole up to `unit_limit`.
struct Stream<'s, R, S> {
    /// The document.
    input: JsonScanner<R>,
    /// Reads the values taken whole, and keeps the path.
    walker: Walker<'s, S>,
    /// Largest object read whole.
    unit_limit: usize,
    /// The value being copied out (kept to reuse its allocation).
    buf: Vec<u8>,
}

impl<R: BufRead, S: ItemSink> Stream<'_, R, S> {
    /// Reads the value at the next byte. `key` is the key it sits under, `depth` the number
    /// of arrays and objects around it; `quiet` as in [`Walker::value`].
    fn value(&mut self, key: Option<&str>, quiet: bool, depth: usize) -> Result<(), ScanError> {
        let Some(first) = self.input.peek()? else {
            return Err(self.input.error("EOF while parsing a value"));
        };
        match first {
            b'[' => return self.array(quiet, depth),
            b',' | b':' | b']' | b'}' => return Err(self.input.error("expected value")),
            _ => {}
        }
        let start = self.input.position();
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let cap = if first == b'{' {
            self.unit_limit
        } else {
            usize::MAX
        };
        if self.input.capture(&mut buf, cap, depth)? == Captured::TooLarge {
            self.input.unread(buf, start);
            return self.object(quiet, depth);
        }
        let value = parse_unit(&buf, start);
        // A long string leaves a large buffer: let it go rather than keep it.
        if buf.capacity() <= self.unit_limit.saturating_mul(2) {
            self.buf = buf;
        }
        self.walker.value(&value?, key, quiet);
        Ok(())
    }

    /// Reads an array, element by element.
    fn array(&mut self, quiet: bool, depth: usize) -> Result<(), ScanError> {
        if depth >= MAX_DEPTH {
            return Err(self.input.error("recursion limit exceeded"));
        }
        self.input.bump();
        if self.input.peek()? == Some(b']') {
            self.input.bump();
            return Ok(());
        }
        let mut index = 0;
        loop {
            let mark = self.walker.enter_index(index);
            let read = self.value(None, quiet, depth + 1);
            self.walker.path.truncate(mark);
            read?;
            index += 1;
            match self.input.peek()? {
                Some(b',') => self.input.bump(),
                Some(b']') => {
                    self.input.bump();
                    return Ok(());
                }
                Some(_) => return Err(self.input.error("expected `,` or `]`")),
                None => return Err(self.input.error("EOF while parsing a list")),
            }
        }
    }

    /// Reads an object too large to read whole: a container, member by member in document
    /// order.
    fn object(&mut self, quiet: bool, depth: usize) -> Result<(), ScanError> {
        if depth >= MAX_DEPTH {
            return Err(self.input.error("recursion limit exceeded"));
        }
        self.input.bump();
        if self.input.peek()? == Some(b'}') {
            self.input.bump();
            return Ok(());
        }
        loop {
            match self.input.peek()? {
                Some(b'"') => {}
                Some(_) => return Err(self.input.error("key must be a string")),
                None => return Err(self.input.error("EOF while parsing an object")),
            }
            let start = self.input.position();
            let mut raw = Vec::new();
            self.input.capture(&mut raw, usize::MAX, depth + 1)?;
            let key: String = match parse_unit(&raw, start)? {
                Value::String(key) => key,
                _ => return Err(self.input.error("key must be a string")),
            };
            if self.input.peek()? != Some(b':') {
                return Err(self.input.error("expected `:`"));
            }
            self.input.bump();
            let mark = self.walker.enter_key(&key);
            let read = self.value(Some(&key), quiet, depth + 1);
            self.walker.path.truncate(mark);
            read?;
            match self.input.peek()? {
                Some(b',') => self.input.bump(),
                Some(b'}') => {
                    self.input.bump();
                    return Ok(());
                }
                Some(_) => return Err(self.input.error("expected `,` or `}`")),
                None => return Err(self.input.error("EOF while parsing an object")),
            }
        }
    }
}

/// A string or number as field text; other values are not fields.
fn scalar(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(text) => Some(Cow::Borrowed(text)),
        Value::Number(number) => Some(Cow::Owned(number.to_string())),
        _ => None,
    }
}

/// True for keys listed in [`METADATA_KEYS`].
fn is_metadata(key: &str) -> bool {
    METADATA_KEYS.contains(&key)
}

/// The location of a path; the document root is `$`.
fn location(path: &str) -> Location {
    Location::Path(if path.is_empty() {
        "$".to_owned()
    } else {
        path.to_owned()
    })
}

/// One part of a text unit: a message entity, or a whole string.
#[derive(Debug)]
struct Piece<'v> {
    /// JSON path of the part, the location of what is found in it.
    path: String,
    /// Its text as it appears in the message.
    text: &'v str,
    /// The link behind the text (`text_link` entities).
    href: Option<&'v str>,
}

/// Walks a document, keeping the path of the value being read.
struct Walker<'s, S> {
    /// Where items go.
    sink: &'s mut S,
    /// Kind for bare `host:port` forms and records that do not say.
    default_kind: ProxyKind,
    /// Path of the current value, e.g. `messages[3]`; empty at the root.
    path: String,
    /// Items reported so far, to tell whether a message produced any.
    items: u64,
}

impl<S: ItemSink> Walker<'_, S> {
    /// Reports one item.
    fn report(&mut self, location: Location, text: &str, outcome: Result<ProxySpec, SpecError>) {
        self.items += 1;
        self.sink.item(location, text, outcome);
    }

    /// Appends `.key` (just `key` at the root) to the path; returns the length to go back to.
    fn enter_key(&mut self, key: &str) -> usize {
        let mark = self.path.len();
        if !self.path.is_empty() {
            self.path.push('.');
        }
        self.path.push_str(key);
        mark
    }

    /// Appends `[index]` to the path; returns the length to go back to.
    fn enter_index(&mut self, index: usize) -> usize {
        let mark = self.path.len();
        let _ = write!(self.path, "[{index}]");
        mark
    }

    /// Reads any value. `key` is the key it sits under; `quiet` values belong to a unit
    /// already accounted for and are never counted as ignored.
    fn value(&mut self, value: &Value, key: Option<&str>, quiet: bool) {
        match value {
            Value::Object(map) => self.object(map, quiet),
            Value::Array(values) => {
                for (index, value) in values.iter().enumerate() {
                    let mark = self.enter_index(index);
                    self.value(value, None, quiet);
                    self.path.truncate(mark);
                }
            }
            Value::String(text) => {
                let counted = !quiet && !key.is_some_and(is_metadata);
                let pieces = [Piece {
                    path: self.path.clone(),
                    text,
                    href: None,
                }];
                self.text_unit(&pieces, counted);
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// Reads an object as a message, a proxy object, or a container of other values.
    fn object(&mut self, map: &Map<String, Value>, quiet: bool) {
        if map.contains_key("text") || map.contains_key("text_entities") {
            self.message(map, quiet);
            return;
        }
        let record = Record::from_pairs(
            map.iter()
                .filter_map(|(key, value)| Some((key, scalar(value)?))),
        );
        if record.names_endpoint() {
            for item in record.items(self.default_kind) {
                self.report(location(&self.path), &item.text, item.outcome);
            }
            // Scalars were the record's fields; nested values are searched quietly.
            self.children(
                map,
                |_, value| !matches!(value, Value::Array(_) | Value::Object(_)),
                true,
            );
        } else {
            self.children(map, |_, _| false, quiet);
        }
    }

    /// Reads the values of `map`, except those `skip` picks by key and value.
    fn children(
        &mut self,
        map: &Map<String, Value>,
        skip: impl Fn(&str, &Value) -> bool,
        quiet: bool,
    ) {
        for (key, value) in map {
            if skip(key, value) {
                continue;
            }
            let mark = self.enter_key(key);
            self.value(value, Some(key), quiet);
            self.path.truncate(mark);
        }
    }

    /// Reads a Telegram message: its text (from `text_entities` when present, else `text`),
    /// then its other fields quietly (bot buttons may hold links). Counts one ignored when
    /// it has prose and produced no item.
    fn message(&mut self, map: &Map<String, Value>, quiet: bool) {
        if map.get("type").and_then(Value::as_str) == Some("service") {
            return;
        }
        let before = self.items;
        let pieces = self.pieces(map);
        let prose = self.text_unit(&pieces, false);
        self.children(map, |key, _| key == "text" || key == "text_entities", true);
        if prose && !quiet && self.items == before {
            self.sink.ignored();
        }
    }

    /// The parts of a message's text, with their paths.
    fn pieces<'v>(&mut self, map: &'v Map<String, Value>) -> Vec<Piece<'v>> {
        let (key, value) = match (map.get("text_entities"), map.get("text")) {
            (Some(entities @ Value::Array(_)), _) => ("text_entities", entities),
            (_, Some(text)) => ("text", text),
            _ => return Vec::new(),
        };
        let mark = self.enter_key(key);
        let pieces = match value {
            Value::String(text) => vec![Piece {
                path: self.path.clone(),
                text,
                href: None,
            }],
            Value::Array(entities) => entities
                .iter()
                .enumerate()
                .map(|(index, entity)| {
                    let inner = self.enter_index(index);
                    let piece = entity_piece(self.path.clone(), entity);
                    self.path.truncate(inner);
                    piece
                })
                .collect(),
            _ => Vec::new(),
        };
        self.path.truncate(mark);
        pieces
    }

    /// Scans a text unit, its pieces joined, line by line, then the links behind its pieces.
    /// Counts one ignored when `counted`, the unit has prose, and nothing was found. Returns
    /// whether it had prose (non-blank lines holding nothing).
    fn text_unit(&mut self, pieces: &[Piece<'_>], counted: bool) -> bool {
        let mut starts = Vec::with_capacity(pieces.len());
        // One piece (a string value) is scanned where it is: it may be long.
        let text = if let [piece] = pieces {
            starts.push(0);
            Cow::Borrowed(piece.text)
        } else {
            let mut text = String::new();
            for piece in pieces {
                starts.push(text.len());
                text.push_str(piece.text);
            }
            Cow::Owned(text)
        };
        let mut sink = PieceSink {
            sink: &mut *self.sink,
            pieces,
            starts: &starts,
            items: 0,
            prose: false,
        };
        scan_lines(&text, self.default_kind, &mut sink);
        let (mut items, prose) = (sink.items, sink.prose);
        self.items += items;
        for piece in pieces {
            let Some(href) = piece.href.filter(|href| href.trim() != piece.text.trim()) else {
                continue;
            };
            for link in find_links(href) {
                items += 1;
                self.report(location(&piece.path), link.text, link.outcome);
            }
        }
        if counted && prose && items == 0 {
            self.sink.ignored();
        }
        prose
    }
}

/// A message entity as a piece: a plain string, or an object with `text` and maybe `href`.
fn entity_piece(path: String, entity: &Value) -> Piece<'_> {
    let field = |name| entity.get(name).and_then(Value::as_str);
    match entity {
        Value::String(text) => Piece {
            path,
            text,
            href: None,
        },
        _ => Piece {
            path,
            text: field("text").unwrap_or_default(),
            href: field("href"),
        },
    }
}

/// Feeds `text` to a fresh scanner line by line; positions are line starts in `text`. A
/// line longer than [`MAX_LINE`] is rejected, as in the text format.
fn scan_lines(text: &str, default_kind: ProxyKind, sink: &mut impl TextSink<usize>) {
    let mut scanner = TextScanner::new(default_kind);
    let mut start = 0;
    for line in text.split('\n') {
        if line.len() > MAX_LINE {
            let head: String = line.chars().take(80).collect();
            let at = At::Line {
                line: start,
                offset: 0,
            };
            sink.item(at, &head, Err(SpecError::TooLong(MAX_LINE)));
        } else {
            scanner.line(line.strip_suffix('\r').unwrap_or(line), start, sink);
        }
        start += line.len() + 1;
    }
    scanner.finish(start, sink);
}

/// Maps what a [`TextScanner`] finds in a joined text back to the piece it came from.
struct PieceSink<'a, S> {
    /// Where items go.
    sink: &'a mut S,
    /// The pieces, in order.
    pieces: &'a [Piece<'a>],
    /// Byte offset of each piece in the joined text.
    starts: &'a [usize],
    /// Items reported.
    items: u64,
    /// Whether any non-blank line held nothing.
    prose: bool,
}

impl<S: ItemSink> TextSink<usize> for PieceSink<'_, S> {
    fn item(&mut self, at: At<usize>, text: &str, outcome: Result<ProxySpec, SpecError>) {
        let offset = match at {
            At::Line { line, offset } => line + offset,
            At::Block { first, .. } => first,
        };
        // The last piece starting at or before the offset is the one holding it.
        let index = self
            .starts
            .partition_point(|&start| start <= offset)
            .saturating_sub(1);
        let path = self
            .pieces
            .get(index)
            .map_or("", |piece| piece.path.as_str());
        self.items += 1;
        self.sink.item(location(path), text, outcome);
    }

    fn ignored(&mut self, _at: usize, count: u64) {
        self.prose |= count > 0;
    }
}

#[cfg(test)]
mod tests {
    use std::io::{self, BufReader, Read};

    use super::*;
    use crate::ingest::test_support::{counts, ingest_as};
    use crate::ingest::{Collector, InputFormat, Inventory};

    const KEY: &str = "0123456789abcdef0123456789abcdef";
    const EE: &str = "ee0123456789abcdef0123456789abcdef676f6f676c652e636f6d";

    fn ingest(json: &str) -> Inventory {
        ingest_as(Some(InputFormat::Json), "result.json", json).unwrap()
    }

    /// `(host, first location, duplicate locations)` for every entry.
    fn places(inventory: &Inventory) -> Vec<(String, String, Vec<String>)> {
        inventory
            .entries
            .iter()
            .map(|e| {
                let dups = e
                    .duplicates
                    .iter()
                    .map(|d| d.location.to_string())
                    .collect();
                (e.spec.host.clone(), e.source.location.to_string(), dups)
            })
            .collect()
    }

    fn read_as_json(reader: impl io::BufRead) -> Result<(), ReadError> {
        let mut collector = Collector::new(IngestOptions {
            forced_format: Some(InputFormat::Json),
            ..IngestOptions::default()
        });
        collector.read_input("x.json", reader)
    }

    fn syntax_error(json: &[u8]) -> String {
        match read_as_json(io::Cursor::new(json)) {
            Err(ReadError::Syntax(message)) => message,
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    #[test]
    fn telegram_export_messages() {
        let export = serde_json::json!({
            "name": "Proxy Channel",
            "type": "public_channel",
            "id": 1,
            "messages": [
                {"id": 1, "type": "service", "action": "create_channel", "text": "Channel created", "text_entities": []},
                {"id": 2, "type": "message", "from": "Proxy Channel",
                 "text": ["Use this one: ", {"type": "text_link", "text": "Connect", "href": format!("tg://proxy?server=a.example&port=443&secret={KEY}")}],
                 "text_entities": [
                    {"type": "plain", "text": "Use this one: "},
                    {"type": "text_link", "text": "Connect", "href": format!("tg://proxy?server=a.example&port=443&secret={KEY}")},
                    {"type": "plain", "text": "\nBackup: "},
                    {"type": "link", "text": "socks5://5.6.7.8:1080"}]},
                {"id": 3, "type": "message", "text": "Nothing today, sorry.\nStay tuned"},
                {"id": 4, "type": "message", "text": "Free SOCKS\n1.2.3.4:1080"},
                {"id": 5, "type": "message", "text": [
                    "Proxy: ",
                    {"type": "link", "text": format!("tg://proxy?server=b.example&port=443&secret={KEY}")},
                    " and ",
                    {"type": "text_link", "text": "this", "href": format!("https://t.me/proxy?server=c.example&port=8443&secret=dd{KEY}")}]},
                {"id": 6, "type": "message", "text_entities": [
                    {"type": "plain", "text": "New MTProto\nServer: "},
                    {"type": "code", "text": "d.example"},
                    {"type": "plain", "text": "\nPort: "},
                    {"type": "code", "text": "443"},
                    {"type": "plain", "text": "\nSecret: "},
                    {"type": "code", "text": EE},
                    {"type": "plain", "text": "\n"},
                    {"type": "text_link", "text": "Connect", "href": format!("tg://proxy?server=d.example&port=443&secret={EE}")}]},
                {"id": 7, "type": "message", "text": "", "photo": "photos/photo_1.jpg"},
                {"id": 8, "type": "message", "text": [
                    {"type": "text_link", "text": "socks5://9.9.9.9:1080", "href": "socks5://9.9.9.9:1080"}]},
                {"id": 9, "type": "message", "text": format!("tg://proxy?server=e.example&port=0&secret={KEY}")},
                {"id": 10, "type": "message", "text": "Buttons below",
                 "inline_bot_buttons": [[{"type": "url", "text": "Connect", "data": "socks5://7.7.7.7:1080"}]]}
            ]
        });
        let inventory = ingest(&export.to_string());
        assert_eq!(counts(&inventory), (8, 1, 1, 1));
        let at = |s: &str| s.to_owned();
        assert_eq!(
            places(&inventory),
            vec![
                (at("5.6.7.8"), at("messages[1].text_entities[3]"), vec![]),
                (at("a.example"), at("messages[1].text_entities[1]"), vec![]),
                (at("1.2.3.4"), at("messages[3].text"), vec![]),
                (at("b.example"), at("messages[4].text[1]"), vec![]),
                (at("c.example"), at("messages[4].text[3]"), vec![]),
                (
                    at("d.example"),
                    at("messages[5].text_entities[0]"),
                    vec![at("messages[5].text_entities[7]")]
                ),
                (at("9.9.9.9"), at("messages[7].text[0]"), vec![]),
                (
                    at("7.7.7.7"),
                    at("messages[9].inline_bot_buttons[0][0].data"),
                    vec![]
                ),
            ]
        );
        let rejected = &inventory.rejected[0];
        assert_eq!(
            rejected.source.location,
            Location::Path("messages[8].text".into())
        );
        assert_eq!(rejected.reason.code(), "bad_port");
    }

    #[test]
    fn full_account_export_nests_chats() {
        let export = serde_json::json!({
            "about": "Here is the data you requested.",
            "chats": {"list": [{"name": "Proxies", "type": "public_channel", "messages": [
                {"id": 1, "type": "message", "text": "1.2.3.4:1080"}]}]},
            "sessions": {"list": [{"ip": "5.6.7.8", "application_name": "Telegram Desktop"}]}
        });
        let inventory = ingest(&export.to_string());
        // `about`, the session's ip and its application name are prose; nothing rejected.
        assert_eq!(counts(&inventory), (1, 0, 0, 3));
        assert_eq!(
            inventory.entries[0].source.location,
            Location::Path("chats.list[0].messages[0].text".into())
        );
    }

    #[test]
    fn list_of_proxy_objects() {
        let list = serde_json::json!([
            {"host": "1.2.3.4", "port": 1080, "type": "socks5", "username": "u", "password": "p", "tags": ["fast"]},
            {"server": "a.example", "port": "443", "secret": KEY, "country": "DE"},
            {"ip": "1.2.3.4", "port": "1080", "protocol": "SOCKS5", "login": "u", "pass": "p"},
            {"host": "5.6.7.8", "port": 0},
            {"name": "fast", "link": format!("tg://proxy?server=b.example&port=443&secret={KEY}")},
            {"host": "6.6.6.6", "port": 1080, "link": "socks5://6.6.6.6:1080"},
            "9.9.9.9:1080",
            "just a note",
            {"address": "c.example:8080", "type": "http"}
        ]);
        let inventory = ingest(&list.to_string());
        assert_eq!(counts(&inventory), (6, 1, 1, 1));
        let at = |s: &str| s.to_owned();
        assert_eq!(
            places(&inventory),
            vec![
                (at("1.2.3.4"), at("[0]"), vec![at("[2]")]),
                (at("a.example"), at("[1]"), vec![]),
                (at("b.example"), at("[4].link"), vec![]),
                (at("6.6.6.6"), at("[5]"), vec![]),
                (at("9.9.9.9"), at("[6]"), vec![]),
                (at("c.example"), at("[8]"), vec![]),
            ]
        );
        let first = &inventory.entries[0].spec;
        assert_eq!(
            (first.username.as_deref(), first.password.as_deref()),
            (Some("u"), Some("p"))
        );
        assert_eq!(inventory.entries[1].spec.kind, ProxyKind::Mtproto);
        assert_eq!(inventory.entries[5].spec.kind, ProxyKind::Http);
        let rejected = &inventory.rejected[0];
        assert_eq!(rejected.source.location, Location::Path("[3]".into()));
        assert_eq!(
            (rejected.reason.code(), rejected.text.as_str()),
            ("bad_port", "host: 5.6.7.8 / port: 0")
        );
    }

    #[test]
    fn nested_object_of_strings() {
        let json = format!(
            "\u{feff}{{\"proxies\": {{\"fast\": \"socks5://1.2.3.4:1080\", \"slow\": \"tg://proxy?server=a.example&port=443&secret={KEY}\"}}, \"updated\": \"yesterday\", \"id\": \"x1\", \"count\": 2}}"
        );
        let inventory = ingest(&json);
        assert_eq!(counts(&inventory), (2, 0, 0, 1));
        let locations: Vec<_> = inventory
            .entries
            .iter()
            .map(|e| e.source.location.to_string())
            .collect();
        assert_eq!(locations, ["proxies.fast", "proxies.slow"]);
    }

    #[test]
    fn root_values_are_located_at_dollar() {
        let inventory = ingest("{\"host\": \"1.2.3.4\", \"port\": 1080}");
        assert_eq!(
            inventory.entries[0].source.location,
            Location::Path("$".into())
        );
        let inventory = ingest("\"socks5://1.2.3.4:1080\"");
        assert_eq!(
            inventory.entries[0].source.location,
            Location::Path("$".into())
        );
    }

    #[test]
    fn malformed_json_names_line_and_column() {
        let message = syntax_error(b"[\n  {\"host\": \"1.2.3.4\",}\n]");
        assert!(
            message.starts_with("invalid JSON at line 2 column "),
            "{message}"
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let message = syntax_error("[".repeat(100_000).as_bytes());
        assert!(message.contains("recursion limit"), "{message}");
    }

    /// What a parse reported, item by item: `(location, host or reason code)`, then the
    /// ignored count.
    #[derive(Debug, Default, PartialEq, Eq)]
    struct Report {
        /// `(location, host or reason code)` of each item, in order.
        items: Vec<(String, String)>,
        /// Ignored units.
        ignored: u64,
    }

    impl ItemSink for Report {
        fn item(&mut self, location: Location, _text: &str, outcome: Result<ProxySpec, SpecError>) {
            let what = outcome.map_or_else(|e| e.code().to_owned(), |spec| spec.host);
            self.items.push((location.to_string(), what));
        }
        fn ignored(&mut self) {
            self.ignored += 1;
        }
    }

    /// Parses `json`, reading objects of at most `unit_limit` bytes whole.
    fn report(json: &str, unit_limit: usize) -> (Report, Result<(), String>) {
        let mut report = Report::default();
        let kind = ProxyKind::Socks5;
        let result = parse_with_limit(io::Cursor::new(json), kind, &mut report, unit_limit)
            .map_err(|e| e.to_string());
        (report, result)
    }

    #[test]
    fn a_document_larger_than_the_old_64_mib_cap_is_read() {
        // HEAD refused any JSON input over 64 MiB. Generated as it is read: never in memory.
        let head = io::Cursor::new("[\"socks5://1.2.3.4:1080\",");
        let padding = io::repeat(b' ').take(65 * 1024 * 1024);
        let tail = io::Cursor::new("\n{\"host\": \"5.6.7.8\", \"port\": 1080}]");
        let reader = BufReader::with_capacity(64 * 1024, head.chain(padding).chain(tail));
        let mut report = Report::default();
        parse(reader, &IngestOptions::default(), &mut report).unwrap();
        assert_eq!(
            report.items,
            [
                ("[0]".to_owned(), "1.2.3.4".to_owned()),
                ("[1]".to_owned(), "5.6.7.8".to_owned())
            ]
        );
    }

    #[test]
    fn items_before_a_fault_are_kept() {
        // A download cut short: HEAD parsed the document whole and kept nothing.
        let cut =
            "[{\"host\": \"1.2.3.4\", \"port\": 1080},\n \"socks5://5.6.7.8:1080\",\n {\"host\": ";
        let (report, result) = report(cut, UNIT_LIMIT);
        assert_eq!(
            report.items,
            [
                ("[0]".to_owned(), "1.2.3.4".to_owned()),
                ("[1]".to_owned(), "5.6.7.8".to_owned())
            ]
        );
        let error = result.unwrap_err();
        assert!(
            error.starts_with("invalid JSON at line 3 column "),
            "{error}"
        );
        let inventory = {
            let mut collector = Collector::new(IngestOptions {
                forced_format: Some(InputFormat::Json),
                ..IngestOptions::default()
            });
            assert!(
                collector
                    .read_input("cut.json", io::Cursor::new(cut))
                    .is_err()
            );
            collector.finish()
        };
        assert_eq!(inventory.entries.len(), 2);
        assert!(inventory.inputs[0].error.is_some());
    }

    /// A Telegram export of `messages` messages, with a proxy list beside it.
    fn large_export(messages: usize) -> String {
        let mut list = Vec::new();
        for i in 0..messages {
            let text = match i % 4 {
                0 => {
                    serde_json::json!(format!("Proxy: socks5://10.0.{}.{}:1080", i / 250, i % 250))
                }
                1 => {
                    serde_json::json!(["See ", {"type": "text_link", "text": "this", "href": format!("tg://proxy?server=m{i}.example&port=443&secret={KEY}")}])
                }
                2 => serde_json::json!("nothing here"),
                _ => serde_json::json!(format!("Server: s{i}.example\nPort: 0")),
            };
            list.push(serde_json::json!({"id": i, "type": "message", "date": "2024-01-01T00:00:00", "text": text}));
        }
        let export = serde_json::json!({
            "name": "Channel", "type": "public_channel", "id": 7,
            "messages": list,
        });
        export.to_string()
    }

    #[test]
    fn large_objects_are_read_member_by_member_with_the_same_findings() {
        let export = large_export(200);
        assert!(export.len() > 8 * 1024);
        let (whole, whole_result) = report(&export, usize::MAX);
        let (streamed, streamed_result) = report(&export, 1024);
        assert_eq!(whole_result, Ok(()));
        assert_eq!(streamed_result, Ok(()));
        assert_eq!(whole.items.len(), 200 - 50, "{whole:?}");
        assert_eq!(streamed, whole);
        assert_eq!(
            streamed.items[1],
            ("messages[1].text[1]".to_owned(), "m1.example".to_owned())
        );
        assert_eq!(
            streamed.items[2],
            ("messages[3].text".to_owned(), "bad_port".to_owned())
        );
        // An object over the limit is a container: its strings are read as strings.
        let list = "{\"note\": \"fresh\", \"proxies\": {\"a\": \"socks5://1.2.3.4:1080\"}, \"host\": \"9.9.9.9\", \"port\": 1}";
        let (streamed, _) = report(list, 16);
        assert_eq!(
            streamed,
            Report {
                items: vec![("proxies.a".to_owned(), "1.2.3.4".to_owned())],
                ignored: 2,
            }
        );
    }

    #[test]
    fn faults_in_a_streamed_document_name_line_and_column() {
        let cases = [
            (
                "{\"a\": [1, 2}",
                16,
                "line 1 column 12: expected `,` or `]`",
            ),
            (
                "{\"a\": 1 \"b\"}",
                4,
                "line 1 column 9: expected `,` or `}`",
            ),
            ("{\"a\" 1}", 4, "line 1 column 6: expected `:`"),
            ("{1: 2}", 2, "line 1 column 2: key must be a string"),
            ("[1]\n x", 1024, "line 2 column 2: trailing characters"),
            ("[1,\n [tru]]", 1024, "line 2 column 5: incomplete value"),
        ];
        for (json, limit, expected) in cases {
            let (_, result) = report(json, limit);
            let error = result.unwrap_err();
            assert!(error.ends_with(expected), "{json}: {error}");
        }
    }
}
