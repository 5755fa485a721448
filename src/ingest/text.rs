//! Free text, line by line: links anywhere, bare `host:port` forms, labelled blocks, and
//! everything else counted as ignored. The text format streams (memory stays flat however
//! long the file); JSON and HTML exports reuse [`TextScanner`] on the text they extract.

use std::io::{self, BufRead};

use super::bare::parse_bare;
use super::labels::{Block, Closed, find_labels, may_have_labels};
use super::link::find_links;
use super::{IngestOptions, ItemSink, Location};
use crate::proxy::{ProxyKind, ProxySpec, SpecError};

/// Longest line read; a longer one is rejected and skipped without buffering it whole.
pub const MAX_LINE: usize = 1024 * 1024;

/// Where a text item was found, in the caller's positions `P`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At<P> {
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
pub trait TextSink<P> {
    /// A proxy-looking item.
    fn item(&mut self, at: At<P>, text: &str, outcome: Result<ProxySpec, SpecError>);
    /// `count` non-blank lines without anything proxy-like, the latest at `at`.
    fn ignored(&mut self, at: P, count: u64);
}

/// Scans lines of free text, carrying labelled blocks across lines.
#[derive(Debug)]
pub struct TextScanner<P> {
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

/// Reads a text input to the end, streaming, with lines capped at [`MAX_LINE`].
pub fn parse(
    mut reader: impl BufRead,
    options: &IngestOptions,
    sink: &mut impl ItemSink,
) -> io::Result<()> {
    let mut scanner = TextScanner::new(options.default_kind);
    let mut sink = LineNumbers { sink };
    let mut buf = Vec::with_capacity(256);
    let mut number = 0u64;
    loop {
        let read = read_line(&mut reader, &mut buf)?;
        if read == ReadLine::End {
            break;
        }
        number += 1;
        if read == ReadLine::TooLong {
            sink.too_long(number, &buf);
            continue;
        }
        let line = if number == 1 {
            buf.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&buf)
        } else {
            &buf
        };
        match std::str::from_utf8(line) {
            Ok(text) => scanner.line(text, number, &mut sink),
            Err(_) => scanner.line(&String::from_utf8_lossy(line), number, &mut sink),
        }
    }
    scanner.finish(number, &mut sink);
    Ok(())
}

/// What [`read_line`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadLine {
    /// A line, now in the buffer without its line end.
    Line,
    /// A line longer than [`MAX_LINE`]: its head is in the buffer, the rest was skipped.
    TooLong,
    /// The end of the input.
    End,
}

/// Reads one line into `buf`, never buffering more than [`MAX_LINE`] bytes of it.
pub(crate) fn read_line(reader: &mut impl BufRead, buf: &mut Vec<u8>) -> io::Result<ReadLine> {
    buf.clear();
    let read = io::Read::take(reader.by_ref(), MAX_LINE as u64 + 1).read_until(b'\n', buf)?;
    if read == 0 {
        return Ok(ReadLine::End);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        return Ok(ReadLine::Line);
    }
    if buf.len() <= MAX_LINE {
        return Ok(ReadLine::Line);
    }
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(ReadLine::TooLong);
        }
        if let Some(at) = memchr::memchr(b'\n', available) {
            reader.consume(at + 1);
            return Ok(ReadLine::TooLong);
        }
        let len = available.len();
        reader.consume(len);
    }
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
