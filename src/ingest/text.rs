//! Free text, line by line: links anywhere, bare `host:port` forms, labelled blocks, and
//! everything else counted as ignored. The text format streams (memory stays flat however
//! long the file); JSON and HTML exports reuse `TextScanner` on the text they extract.

use std::io::{self, BufRead};

use super::bare::parse_bare;
use super::labels::{Block, Closed, find_labels, may_have_labels};
use super::link::find_links;
use super::{IngestOptions, ItemSink, Location};
use crate::proxy::{ProxyKind, ProxySpec, SpecError};

/// Longest line read; a longer one is rejected and skipped without buffering it whole.
pub(crate) const MAX_LINE: usize = 1024 * 1024;

/// Where a text item was found, in the caller's positions `P`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum At<P> {
    /// In one line, starting at byte `offset`.
    Line {
        /// The line.
        line: P,
        /// Byte offset of the item in the line.
        offset: usize,
    },
    /// A labelled block from `first` to `last` line.
    Block {
        /// First line.
        first: P,
        /// Last line.
        last: P,
    },
}

/// Receives what a [`TextScanner`] finds.
pub(crate) trait TextSink<P> {
    /// A proxy-looking item.
    fn item(&mut self, at: At<P>, text: &str, outcome: Result<ProxySpec, SpecError>);
    /// `count` non-blank lines without anything proxy-like, the latest at `at`.
    fn ignored(&mut self, at: P, count: u64);
}

/// Scans lines of free text, carrying labelled blocks across lines.
#[derive(Debug)]
pub(crate) struct TextScanner<P> {
    /// Kind for bare `host:port` lines.
    default_kind: ProxyKind,
    /// The labelled block being gathered.
    block: Block<P>,
}

impl<P: Copy> TextScanner<P> {
    /// A scanner with no block open.
    pub fn new(default_kind: ProxyKind) -> Self {
        Self {
            default_kind,
            block: Block::default(),
        }
    }

    /// Scans one line (without its line terminator).
    pub fn line(&mut self, line: &str, at: P, sink: &mut impl TextSink<P>) {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            self.finish(at, sink);
            return;
        }
        let links = find_links(line);
        if !links.is_empty() {
            for link in links {
                let at = At::Line {
                    line: at,
                    offset: link.range.start,
                };
                sink.item(at, link.text, link.outcome);
            }
            return;
        }
        // Bare forms first: `user:pw@host:port` must not read as a `user:` label.
        if !is_comment(trimmed) {
            let token = strip_decoration(trimmed);
            if let Some(outcome) = parse_bare(token, self.default_kind) {
                self.finish(at, sink);
                let offset = token.as_ptr() as usize - line.as_ptr() as usize;
                sink.item(At::Line { line: at, offset }, token, outcome);
                return;
            }
        }
        if may_have_labels(line) {
            let fields = find_labels(line);
            if !fields.is_empty() {
                let closed = self.block.add(at, &fields);
                emit(closed, at, sink);
                return;
            }
        }
        sink.ignored(at, 1);
        let closed = self.block.gap();
        emit(closed, at, sink);
    }

    /// Ends the open block, if any (a blank line or the end of the text).
    pub fn finish(&mut self, at: P, sink: &mut impl TextSink<P>) {
        let closed = self.block.close();
        emit(closed, at, sink);
    }
}

/// Reports a closed block.
fn emit<P: Copy>(closed: Option<Closed<P>>, at: P, sink: &mut impl TextSink<P>) {
    match closed {
        Some(Closed::Item {
            first,
            last,
            text,
            outcome,
        }) => sink.item(At::Block { first, last }, &text, outcome),
        Some(Closed::Nothing(lines)) => sink.ignored(at, lines),
        None => {}
    }
}

/// Comment lines: `#`, `//`, `;`.
fn is_comment(trimmed: &str) -> bool {
    trimmed.starts_with('#') || trimmed.starts_with("//") || trimmed.starts_with(';')
}

/// Drops list markers (`- `, `* `, `• `, `1. `, `1) `), a trailing ` # comment`, and
/// backticks around a bare form.
fn strip_decoration(trimmed: &str) -> &str {
    let mut token = trimmed;
    if let Some((before, _)) = token.split_once(" #") {
        token = before.trim_end();
    }
    for marker in ["- ", "* ", "• ", "+ "] {
        if let Some(rest) = token.strip_prefix(marker) {
            token = rest.trim_start();
        }
    }
    let digits = token.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 {
        let rest = token.get(digits..).unwrap_or_default();
        if let Some(after) = rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") ")) {
            token = after.trim_start();
        }
    }
    token.trim_matches('`')
}

/// Adapts a [`TextSink`] over line numbers to an [`ItemSink`].
pub(crate) struct LineNumbers<'a, S> {
    /// Where items go.
    pub(crate) sink: &'a mut S,
}

impl<S: ItemSink> LineNumbers<'_, S> {
    /// Rejects an overlong line, quoting its head.
    pub(crate) fn too_long(&mut self, number: u64, head: &[u8]) {
        let head = String::from_utf8_lossy(head.get(..80).unwrap_or(head)).into_owned();
        self.sink.item(
            Location::Line(number),
            &head,
            Err(SpecError::TooLong(MAX_LINE)),
        );
    }
}

impl<S: ItemSink> TextSink<u64> for LineNumbers<'_, S> {
    fn item(&mut self, at: At<u64>, text: &str, outcome: Result<ProxySpec, SpecError>) {
        let location = match at {
            At::Line { line, .. } => Location::Line(line),
            At::Block { first, last } if first == last => Location::Line(first),
            At::Block { first, last } => Location::Lines(first, last),
        };
        self.sink.item(location, text, outcome);
    }

    fn ignored(&mut self, _at: u64, count: u64) {
        for _ in 0..count {
            self.sink.ignored();
        }
    }
}

/// Reads a text input to the end, streaming, with lines capped at `MAX_LINE`.
pub fn parse(
    reader: impl BufRead,
    options: &IngestOptions,
    sink: &mut impl ItemSink,
) -> io::Result<()> {
    let mut scanner = TextScanner::new(options.default_kind);
    let mut sink = LineNumbers { sink };
    let lines = for_each_line(reader, |number, line| match line {
        Line::Text(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => scanner.line(text, number, &mut sink),
            Err(_) => scanner.line(&String::from_utf8_lossy(bytes), number, &mut sink),
        },
        Line::TooLong(head) => sink.too_long(number, head),
    })?;
    scanner.finish(lines, &mut sink);
    Ok(())
}

/// One line handed out by [`for_each_line`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Line<'a> {
    /// A line without its line end (and, on line 1, without a UTF-8 byte-order mark).
    Text(&'a [u8]),
    /// A line longer than [`MAX_LINE`]: its head; the rest was skipped, not buffered.
    TooLong(&'a [u8]),
}

/// Calls `each` with every line of `reader` and its number (from 1); returns how many
/// lines there were.
///
/// A line that lies whole in the reader's buffer is handed out from there, without a
/// copy (the common case, and the hot path of a million-line list); only a line split
/// across buffer refills is gathered, up to [`MAX_LINE`] bytes.
pub(crate) fn for_each_line(
    mut reader: impl BufRead,
    mut each: impl FnMut(u64, Line<'_>),
) -> io::Result<u64> {
    let mut number = 0u64;
    let mut deliver = |bytes: &[u8], too_long: bool| {
        number += 1;
        let line = if too_long || bytes.len() > MAX_LINE {
            Line::TooLong(bytes)
        } else {
            let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
            let bytes = match number {
                1 => bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes),
                _ => bytes,
            };
            Line::Text(bytes)
        };
        each(number, line);
    };
    // The head of a line that spans buffer refills, and whether it outgrew MAX_LINE.
    let mut carry: Vec<u8> = Vec::new();
    let mut overflowed = false;
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            if !carry.is_empty() || overflowed {
                deliver(&carry, overflowed);
            }
            break;
        }
        let newline = memchr::memchr(b'\n', available);
        let piece = available
            .get(..newline.unwrap_or(available.len()))
            .unwrap_or_default();
        let used = newline.map_or(available.len(), |at| at + 1);
        if newline.is_some() && carry.is_empty() && !overflowed {
            deliver(piece, false);
        } else {
            let room = (MAX_LINE + 1).saturating_sub(carry.len());
            carry.extend_from_slice(piece.get(..room.min(piece.len())).unwrap_or_default());
            overflowed |= carry.len() > MAX_LINE;
            if newline.is_some() {
                deliver(&carry, overflowed);
                carry.clear();
                overflowed = false;
            }
        }
        reader.consume(used);
    }
    Ok(number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::test_support::ingest_as;
    use crate::ingest::{Collector, Inventory};

    fn ingest(text: &str) -> Inventory {
        ingest_as(None, "t.txt", text).unwrap()
    }

    #[test]
    fn a_channel_post_is_fully_accounted_for() {
        let post = "\
🔥 Fresh proxies for today!

Server: a.example
Port: 443
Secret: ee0123456789abcdef0123456789abcdef676f6f676c652e636f6d

# comment
1.2.3.4:1080
user:pw@5.6.7.8:1081
tg://proxy?server=b.example&port=70000&secret=00
Connect: https://t.me/proxy?server=a.example&port=443&secret=ee0123456789abcdef0123456789abcdef676f6f676c652e636f6d
Bye 👋
";
        let inventory = ingest(post);
        let totals = inventory.totals();
        assert_eq!(
            (
                totals.entries,
                totals.duplicates,
                totals.rejected,
                totals.ignored
            ),
            (3, 1, 1, 3)
        );
        let first = &inventory.entries[0];
        assert_eq!(first.source.location, Location::Lines(3, 5));
        assert_eq!(first.duplicates[0].location, Location::Line(11));
        assert_eq!(inventory.rejected[0].source.location, Location::Line(10));
        assert_eq!(inventory.rejected[0].reason.code(), "bad_port");
    }

    #[test]
    fn list_decorations_and_crlf() {
        let inventory = ingest("- 1.2.3.4:1080\r\n2) 1.2.3.5:1080 # fast\r\n`1.2.3.6:1080`\r\n");
        let hosts: Vec<_> = inventory
            .entries
            .iter()
            .map(|e| e.spec.host.as_str())
            .collect();
        assert_eq!(hosts, ["1.2.3.4", "1.2.3.5", "1.2.3.6"]);
    }

    #[test]
    fn overlong_lines_are_rejected_not_buffered() {
        let mut text = "x".repeat(MAX_LINE + 10);
        text.push_str("\n1.2.3.4:1080\n");
        let inventory = ingest(&text);
        assert_eq!(inventory.rejected.len(), 1);
        assert_eq!(inventory.rejected[0].reason, SpecError::TooLong(MAX_LINE));
        assert_eq!(inventory.entries[0].source.location, Location::Line(2));
    }

    /// Every line, as `for_each_line` hands it out, reading through a buffer of `capacity`.
    fn lines_of(text: &[u8], capacity: usize) -> Vec<(u64, Result<Vec<u8>, usize>)> {
        let reader = io::BufReader::with_capacity(capacity, text);
        let mut lines = Vec::new();
        let count = for_each_line(reader, |number, line| {
            lines.push(match line {
                Line::Text(bytes) => (number, Ok(bytes.to_vec())),
                Line::TooLong(head) => (number, Err(head.len())),
            });
        })
        .unwrap();
        assert_eq!(count, lines.len() as u64);
        lines
    }

    #[test]
    fn lines_are_the_same_whatever_the_buffer_size() {
        let text = b"\xef\xbb\xbfone\r\ntwo\n\nthree without end";
        let expected: Vec<(u64, Result<Vec<u8>, usize>)> = vec![
            (1, Ok(b"one".to_vec())),
            (2, Ok(b"two".to_vec())),
            (3, Ok(Vec::new())),
            (4, Ok(b"three without end".to_vec())),
        ];
        for capacity in [1, 2, 3, 5, 7, 64, 4096] {
            assert_eq!(lines_of(text, capacity), expected, "capacity {capacity}");
        }
    }

    #[test]
    fn an_overlong_line_split_across_refills_is_cut_at_the_limit() {
        let mut text = vec![b'x'; MAX_LINE + 1];
        text.extend_from_slice(b"\nok\n");
        text.extend(std::iter::repeat_n(b'y', MAX_LINE));
        let lines = lines_of(&text, 1000);
        assert_eq!(
            lines,
            vec![
                (1, Err(MAX_LINE + 1)),
                (2, Ok(b"ok".to_vec())),
                (3, Ok(vec![b'y'; MAX_LINE]))
            ]
        );
    }

    #[test]
    fn invalid_utf8_does_not_stop_the_scan() {
        let mut bytes = b"\xff\xfe garbage\n".to_vec();
        bytes.extend_from_slice(b"1.2.3.4:1080\n");
        let mut collector = Collector::new(IngestOptions::default());
        collector.read_input("bin", io::Cursor::new(bytes)).unwrap();
        let inventory = collector.finish();
        assert_eq!(inventory.entries.len(), 1);
        assert_eq!(inventory.totals().ignored, 1);
    }
}
