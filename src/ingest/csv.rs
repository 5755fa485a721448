//! CSV and TSV inputs: proxy tables with a header row (`host,port,secret,type`,
//! `ip<TAB>port<TAB>username<TAB>password`, `link;country`…), read row by row.
//!
//! One step of ingestion, next to `text`, `json` and `html`. The header names the fields a
//! `Record` understands; each row becomes a record and reports its items at the line the
//! row starts on. Rows are streamed (memory stays flat), may have more or fewer cells than
//! the header, and may hold links in any cell. A row with visible cells and nothing
//! proxy-like counts as ignored; blank lines and rows of empty cells count as nothing.
//!
//! Rows are cut here, not by the `csv` reader, which only splits each row into cells: the
//! reader skips blank lines without saying so (its line numbers drift after one) and never
//! fails on a quote left open, silently swallowing the rest of the file into one cell.
//!
//! A bad row never stops the file: it is a rejected item at its line, and reading goes on.
//! A quoted cell may span lines, up to `MAX_ROW_LINES` lines and `MAX_LINE` bytes; a
//! quote that is still open at that point or at the end of the input, or whose closing
//! quote on a later line is followed by more text (`"a.example",1080` read as the close of
//! the quote above it), was never meant to span lines: its row's first line is rejected
//! (`bad_row`) and the lines after it are read again as rows of their own. A line longer
//! than `MAX_LINE` is rejected (`too_long`) without being buffered. Reading again costs at
//! most `MAX_ROW_LINES` times the work, and memory stays at one row.

use std::collections::VecDeque;
use std::io::{self, BufRead};

use csv::{ByteRecord, ReaderBuilder};

use super::record::{Record, is_field_name};
use super::text::MAX_LINE;
use super::{IngestOptions, InputFormat, ItemSink, Location, ReadError};
use crate::proxy::{ProxyKind, SpecError};

/// Most lines one quoted cell may span.
pub(crate) const MAX_ROW_LINES: usize = 100;

/// Why a row that opens a quoted cell never closed it, as its rejection says.
const UNCLOSED: &str = "a quoted cell opened on this line is never closed";

/// Reads a CSV/TSV input. The delimiter is a tab for TSV; for CSV, `;` when the header line
/// holds more semicolons than commas, else `,`.
pub fn parse(
    mut reader: impl BufRead,
    format: InputFormat,
    options: &IngestOptions,
    sink: &mut impl ItemSink,
) -> Result<(), ReadError> {
    let head = reader.fill_buf()?;
    let bom = if head.starts_with(b"\xef\xbb\xbf") {
        3
    } else {
        0
    };
    reader.consume(bom);
    let delimiter = match format {
        InputFormat::Tsv => b'\t',
        _ => sniff_delimiter(reader.fill_buf()?),
    };
    let mut rows = Rows {
        reader,
        delimiter,
        line: 0,
        again: VecDeque::new(),
        buf: Vec::new(),
    };
    let mut cells = CellSplitter::new(delimiter);
    let header = match rows.next_row()? {
        None => return Ok(()),
        Some(Row::Cells(_, header)) => header,
        Some(Row::Bad(line, _, reason)) => {
            return Err(ReadError::Syntax(format!(
                "line {line}: the header row cannot be read: {reason}"
            )));
        }
    };
    let header: Vec<String> = match cells.split(&header) {
        Some(names) => names
            .iter()
            .map(|name| String::from_utf8_lossy(name).trim().to_owned())
            .collect(),
        None => Vec::new(),
    };
    if !header.iter().any(|name| is_field_name(name)) {
        let shown: String = header.join(",").chars().take(80).collect();
        return Err(ReadError::Syntax(format!(
            "line {}: no known column in the header row (expected host, port, secret, type, link…): {shown}",
            rows.line
        )));
    }
    while let Some(row) = rows.next_row()? {
        let (line, row) = match row {
            Row::Cells(line, row) => (line, row),
            Row::Bad(line, head, reason) => {
                sink.item(Location::Line(line), &shown_head(&head), Err(reason));
                continue;
            }
        };
        let Some(cells) = cells.split(&row) else {
            let reason = SpecError::BadRow("its cells cannot be split");
            sink.item(Location::Line(line), &shown_head(&row), Err(reason));
            continue;
        };
        let names = header
            .iter()
            .map(String::as_str)
            .chain(std::iter::repeat(""));
        let record = Record::from_pairs(names.zip(cells.iter().map(String::from_utf8_lossy)));
        report_row(&record, line, options.default_kind, sink);
    }
    Ok(())
}

/// The first 80 characters of a rejected row's first line.
fn shown_head(row: &[u8]) -> String {
    let line = row.split(|&b| b == b'\n').next().unwrap_or_default();
    String::from_utf8_lossy(line).chars().take(80).collect()
}

/// Reports a row's items at its line, or one ignored when it shows something but holds no
/// proxy.
fn report_row(record: &Record<'_>, line: u64, default_kind: ProxyKind, sink: &mut impl ItemSink) {
    let items = record.items(default_kind);
    if items.is_empty() {
        if !record.is_empty() {
            sink.ignored();
        }
        return;
    }
    for item in items {
        sink.item(Location::Line(line), &item.text, item.outcome);
    }
}

/// `;` when the first line holds more semicolons than commas, else `,`.
fn sniff_delimiter(head: &[u8]) -> u8 {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let count = |delimiter: u8| memchr::memchr_iter(delimiter, line).count();
    if count(b';') > count(b',') {
        b';'
    } else {
        b','
    }
}

/// One physical line of the input.
enum Physical {
    /// A line (without its line end) and its number.
    Text(u64, Vec<u8>),
    /// A line longer than `MAX_LINE`: its number and head; the rest was skipped.
    TooLong(u64, Vec<u8>),
}

/// What [`Rows::next_row`] hands out.
enum Row {
    /// A row's bytes (lines joined by `\n`) and the line it starts on.
    Cells(u64, Vec<u8>),
    /// A row that cannot be read: its line, its head, and why.
    Bad(u64, Vec<u8>, SpecError),
}

/// Cuts the input into rows: physical lines, joined while a quoted cell is open.
struct Rows<R> {
    /// The input.
    reader: R,
    /// Cell delimiter (a quote opens a quoted cell only at the start of a cell).
    delimiter: u8,
    /// Number of the last physical line read from the input (1-based).
    line: u64,
    /// Lines to read again, before the input: those after a row given up.
    again: VecDeque<Physical>,
    /// The physical line being read.
    buf: Vec<u8>,
}

impl<R: BufRead> Rows<R> {
    /// The next physical line, `None` at the end; a line over `MAX_LINE` is cut there and
    /// the rest of it skipped without buffering.
    fn read_line(&mut self) -> io::Result<Option<Physical>> {
        if let Some(line) = self.again.pop_front() {
            return Ok(Some(line));
        }
        self.buf.clear();
        let limit = (MAX_LINE + 2) as u64;
        let read = io::Read::take(self.reader.by_ref(), limit).read_until(b'\n', &mut self.buf)?;
        if read == 0 {
            return Ok(None);
        }
        self.line += 1;
        let text = self.buf.strip_suffix(b"\n").unwrap_or(&self.buf);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.len() <= MAX_LINE {
            return Ok(Some(Physical::Text(self.line, text.to_vec())));
        }
        let head = text.get(..80).unwrap_or(text).to_vec();
        if !self.buf.ends_with(b"\n") {
            skip_line(&mut self.reader)?;
        }
        Ok(Some(Physical::TooLong(self.line, head)))
    }

    /// The next row that is not blank, or a bad one; `None` at the end.
    fn next_row(&mut self) -> io::Result<Option<Row>> {
        // The lines of a row whose quoted cell is open, and their length.
        let mut open: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut bytes = 0;
        loop {
            let Some(line) = self.read_line()? else {
                return Ok((!open.is_empty()).then(|| self.give_up(open)));
            };
            let (number, text) = match line {
                Physical::TooLong(number, head) if open.is_empty() => {
                    return Ok(Some(Row::Bad(number, head, SpecError::TooLong(MAX_LINE))));
                }
                Physical::TooLong(number, head) => {
                    self.again.push_front(Physical::TooLong(number, head));
                    return Ok(Some(self.give_up(open)));
                }
                Physical::Text(number, text) => (number, text),
            };
            if open.is_empty() {
                if text.trim_ascii().is_empty() {
                    continue;
                }
                if !quote_open(&text, self.delimiter, false) {
                    return Ok(Some(Row::Cells(number, text)));
                }
                bytes = text.len();
                open.push((number, text));
                continue;
            }
            let fits = open.len() < MAX_ROW_LINES && bytes + 1 + text.len() <= MAX_LINE;
            if !fits || !closes_cleanly(&text, self.delimiter) {
                self.again.push_front(Physical::Text(number, text));
                return Ok(Some(self.give_up(open)));
            }
            let still_open = quote_open(&text, self.delimiter, true);
            bytes += 1 + text.len();
            open.push((number, text));
            if !still_open {
                let first = open.first().map_or(number, |(number, _)| *number);
                let joined = open
                    .into_iter()
                    .map(|(_, text)| text)
                    .collect::<Vec<_>>()
                    .join(&b'\n');
                return Ok(Some(Row::Cells(first, joined)));
            }
        }
    }

    /// Rejects the first line of a row whose quoted cell never closed, and queues the
    /// lines after it to be read again (before any already queued: they came later).
    fn give_up(&mut self, open: Vec<(u64, Vec<u8>)>) -> Row {
        let mut lines = open.into_iter();
        let (number, first) = lines.next().unwrap_or_default();
        for (number, text) in lines.rev() {
            self.again.push_front(Physical::Text(number, text));
        }
        Row::Bad(number, first, SpecError::BadRow(UNCLOSED))
    }
}

/// Skips the rest of an overlong line, through its line end, without keeping it.
fn skip_line(reader: &mut impl BufRead) -> io::Result<()> {
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(());
        }
        let (used, found) = match memchr::memchr(b'\n', available) {
            Some(at) => (at + 1, true),
            None => (available.len(), false),
        };
        reader.consume(used);
        if found {
            return Ok(());
        }
    }
}

/// Whether a line that continues an open quoted cell closes it the way a cell ends: with
/// the closing quote followed by the delimiter or the end of the line (or not at all, the
/// cell going on). `"a.example",1080` does not: its quote opens a cell of a new row.
fn closes_cleanly(line: &[u8], delimiter: u8) -> bool {
    let mut bytes = line.iter().copied().peekable();
    while let Some(byte) = bytes.next() {
        if byte == b'"' && bytes.next_if_eq(&b'"').is_none() {
            return matches!(bytes.peek(), None | Some(&b'\r')) || bytes.peek() == Some(&delimiter);
        }
    }
    true
}

/// Whether a quoted cell is still open after `line`, given whether one was open before it.
/// Follows the `csv` reader: a quote opens a cell only as its first byte, `""` inside is a
/// literal quote, and a closing quote may be followed by more text.
fn quote_open(line: &[u8], delimiter: u8, mut open: bool) -> bool {
    let mut cell_start = !open;
    let mut bytes = line.iter().copied().peekable();
    while let Some(byte) = bytes.next() {
        if open {
            if byte == b'"' && bytes.next_if_eq(&b'"').is_none() {
                open = false;
            }
            continue;
        }
        open = byte == b'"' && cell_start;
        cell_start = byte == delimiter;
    }
    open
}

/// Splits one row into cells with the `csv` reader (quoting and escapes as it reads them).
struct CellSplitter {
    /// Reader settings shared by every row.
    builder: ReaderBuilder,
    /// The cells of the latest row.
    cells: ByteRecord,
}

impl CellSplitter {
    /// A splitter for `delimiter`.
    fn new(delimiter: u8) -> Self {
        let mut builder = ReaderBuilder::new();
        builder
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true);
        Self {
            builder,
            cells: ByteRecord::new(),
        }
    }

    /// The cells of `row`; `None` when the `csv` reader refuses it.
    fn split(&mut self, row: &[u8]) -> Option<&ByteRecord> {
        let mut reader = self.builder.from_reader(row);
        reader.read_byte_record(&mut self.cells).ok()?;
        Some(&self.cells)
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;
    use std::io;

    use super::*;
    use crate::ingest::test_support::counts;
    use crate::ingest::{Collector, Inventory};

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    fn ingest(format: InputFormat, text: &str) -> Result<Inventory, String> {
        let mut collector = Collector::new(IngestOptions {
            forced_format: Some(format),
            ..IngestOptions::default()
        });
        collector
            .read_input("list", io::Cursor::new(text.to_owned()))
            .map_err(|e| e.to_string())?;
        Ok(collector.finish())
    }

    /// `(kind, host, port, line)` for every entry.
    fn entries(inventory: &Inventory) -> Vec<(ProxyKind, String, u16, Location)> {
        inventory
            .entries
            .iter()
            .map(|e| {
                (
                    e.spec.kind,
                    e.spec.host.clone(),
                    e.spec.port,
                    e.source.location.clone(),
                )
            })
            .collect()
    }

    #[test]
    fn csv_with_host_port_secret_type() {
        let text = format!(
            "\u{feff}host,port,secret,type,note\n1.2.3.4,443,{KEY},mtproto\n\na.example,1080,,socks5\n1.2.3.4,443,{KEY},\n,,,\n,,,,see you\nb.example,0,,http\n"
        );
        let inventory = ingest(InputFormat::Csv, &text).unwrap();
        assert_eq!(counts(&inventory), (2, 1, 1, 1));
        assert_eq!(
            entries(&inventory),
            [
                (
                    ProxyKind::Mtproto,
                    "1.2.3.4".to_owned(),
                    443,
                    Location::Line(2)
                ),
                (
                    ProxyKind::Socks5,
                    "a.example".to_owned(),
                    1080,
                    Location::Line(4)
                ),
            ]
        );
        assert_eq!(
            inventory.entries[0].duplicates[0].location,
            Location::Line(5)
        );
        let rejected = &inventory.rejected[0];
        assert_eq!(rejected.source.location, Location::Line(8));
        assert_eq!(
            (rejected.reason.code(), rejected.text.as_str()),
            ("bad_port", "host: b.example / port: 0 / type: http")
        );
    }

    #[test]
    fn tsv_with_credentials() {
        let text = "ip\tport\tusername\tpassword\n1.2.3.4\t1080\tuser\tp,w;d\n5.6.7.8\t8080\n";
        let inventory = ingest(InputFormat::Tsv, text).unwrap();
        assert_eq!(counts(&inventory), (2, 0, 0, 0));
        let first = &inventory.entries[0].spec;
        assert_eq!(
            (first.username.as_deref(), first.password.as_deref()),
            (Some("user"), Some("p,w;d"))
        );
        assert_eq!(inventory.entries[1].spec.username, None);
    }

    #[test]
    fn semicolons_quotes_and_link_cells() {
        let text = format!(
            "name;link;note\n\"fast; EU\";tg://proxy?server=a.example&port=443&secret={KEY};\n\"slow, US\";\"socks5://1.2.3.4:1080\";\"also socks5://5.6.7.8:1, ok\"\nnothing;;see you\n"
        );
        let inventory = ingest(InputFormat::Csv, &text).unwrap();
        assert_eq!(counts(&inventory), (3, 0, 0, 1));
        assert_eq!(
            entries(&inventory),
            [
                (
                    ProxyKind::Mtproto,
                    "a.example".to_owned(),
                    443,
                    Location::Line(2)
                ),
                (
                    ProxyKind::Socks5,
                    "1.2.3.4".to_owned(),
                    1080,
                    Location::Line(3)
                ),
                (
                    ProxyKind::Socks5,
                    "5.6.7.8".to_owned(),
                    1,
                    Location::Line(3)
                ),
            ]
        );
    }

    #[test]
    fn quoted_cells_with_commas_and_multi_line_cells() {
        let text = "\"host\",\"port\",\"comment\"\n\"1.2.3.4\",\"1080\",\"fast, cheap\"\n5.6.7.8,1081,\"two\nlines\"\n9.9.9.9,1082,x\n";
        let inventory = ingest(InputFormat::Csv, text).unwrap();
        let lines: Vec<_> = entries(&inventory)
            .into_iter()
            .map(|(_, host, _, at)| (host, at))
            .collect();
        assert_eq!(
            lines,
            [
                ("1.2.3.4".to_owned(), Location::Line(2)),
                ("5.6.7.8".to_owned(), Location::Line(3)),
                ("9.9.9.9".to_owned(), Location::Line(5)),
            ]
        );
    }

    #[test]
    fn a_headerless_file_is_an_input_error() {
        let headerless = "1.2.3.4,1080\n5.6.7.8,1081\n";
        let error = ingest(InputFormat::Csv, headerless).unwrap_err();
        assert!(error.starts_with("line 1: no known column"), "{error}");
    }

    /// `(location, reason code)` of every rejected item.
    fn rejections(inventory: &Inventory) -> Vec<(Location, &'static str)> {
        inventory
            .rejected
            .iter()
            .map(|r| (r.source.location.clone(), r.reason.code()))
            .collect()
    }

    #[test]
    fn a_bad_row_is_rejected_and_the_next_2000_rows_are_read() {
        // Regression: an unbalanced quote (or a row over 1 MiB) ended the whole file.
        for quoted in [false, true] {
            let mut text = String::from("host,port\n1.2.3.4,1080\n\"5.6.7.8,1081\n");
            for i in 0..2000 {
                let (a, b) = (i / 250, i % 250);
                if quoted {
                    let _ = writeln!(text, "\"10.0.{a}.{b}\",\"1080\"");
                } else {
                    let _ = writeln!(text, "10.0.{a}.{b},1080");
                }
            }
            let inventory = ingest(InputFormat::Csv, &text).unwrap();
            assert_eq!(inventory.inputs[0].error, None);
            assert_eq!(counts(&inventory), (2001, 0, 1, 0), "quoted: {quoted}");
            assert_eq!(rejections(&inventory), [(Location::Line(3), "bad_row")]);
            assert_eq!(inventory.rejected[0].text, "\"5.6.7.8,1081");
            let last = inventory.entries.last().unwrap();
            assert_eq!(
                (last.spec.host.as_str(), &last.source.location),
                ("10.0.7.249", &Location::Line(2003))
            );
        }
    }

    #[test]
    fn a_quote_open_at_the_end_or_closed_by_the_next_row_is_one_bad_row() {
        /// A CSV text, the `(host, line)` of its entries, and the line of its bad row.
        type Case<'a> = (&'a str, Vec<(&'a str, u64)>, u64);
        let cases: [Case<'_>; 3] = [
            (
                "host,port\n1.2.3.4,1080\n\n\"5.6.7.8,1081\n9.9.9.9,1082\n",
                vec![("1.2.3.4", 2), ("9.9.9.9", 5)],
                4,
            ),
            (
                "host,port\n\"5.6.7.8,1081\n9.9.9.9,1082\n\"a.example\",1080\n",
                vec![("9.9.9.9", 3), ("a.example", 4)],
                2,
            ),
            (
                "host,port\nb.example,1,\"x\n\"a.example\",1080",
                vec![("a.example", 3)],
                2,
            ),
        ];
        for (text, expected, bad) in cases {
            let inventory = ingest(InputFormat::Csv, text).unwrap();
            let found: Vec<_> = entries(&inventory)
                .into_iter()
                .map(|(_, host, _, at)| (host, at))
                .collect();
            let expected: Vec<_> = expected
                .into_iter()
                .map(|(host, line)| (host.to_owned(), Location::Line(line)))
                .collect();
            assert_eq!(found, expected, "{text:?}");
            assert_eq!(rejections(&inventory), [(Location::Line(bad), "bad_row")]);
        }
    }

    #[test]
    fn overlong_rows_are_rejected_and_skipped() {
        let text = format!(
            "host,port\n{}\n1.2.3.4,1080\n\"{}\n5.6.7.8,1080\n",
            "x".repeat(MAX_LINE + 1),
            "y".repeat(MAX_LINE - 1)
        );
        let inventory = ingest(InputFormat::Csv, &text).unwrap();
        assert_eq!(
            rejections(&inventory),
            [
                (Location::Line(2), "too_long"),
                (Location::Line(4), "bad_row")
            ]
        );
        assert_eq!(inventory.rejected[0].text, "x".repeat(80));
        let hosts: Vec<_> = entries(&inventory)
            .into_iter()
            .map(|(_, host, _, at)| (host, at))
            .collect();
        assert_eq!(
            hosts,
            [
                ("1.2.3.4".to_owned(), Location::Line(3)),
                ("5.6.7.8".to_owned(), Location::Line(5))
            ]
        );
    }

    #[test]
    fn a_quoted_cell_spans_at_most_max_row_lines() {
        let mut text = String::from("host,port,note\n1.2.3.4,1080,\"");
        text.push_str(&",,note\n".repeat(MAX_ROW_LINES - 1));
        text.push_str(",,end\"\n5.6.7.8,1080,\"");
        text.push_str(&",,more\n".repeat(MAX_ROW_LINES));
        text.push_str(",,end\"\n");
        let inventory = ingest(InputFormat::Csv, &text).unwrap();
        assert_eq!(
            entries(&inventory),
            [(
                ProxyKind::Socks5,
                "1.2.3.4".to_owned(),
                1080,
                Location::Line(2)
            )]
        );
        // The second cell is one line too long: its first line is rejected, and the lines
        // after it are rows of their own (prose: ignored).
        let first_long_row = Location::Line(2 + MAX_ROW_LINES as u64);
        assert_eq!(rejections(&inventory), [(first_long_row, "bad_row")]);
        assert_eq!(counts(&inventory), (1, 0, 1, MAX_ROW_LINES as u64));
    }

    #[test]
    fn quote_state_follows_the_csv_reader() {
        // (line, open before, open after)
        let cases = [
            ("a,b", false, false),
            ("\"a,b", false, true),
            ("\"a\",b", false, false),
            ("a,\"b\"\"c", false, true),
            ("a,\"b\"\"c\"", false, false),
            ("a\"b,c", false, false),
            (" \"a,b", false, false),
            ("end\",x", true, false),
            ("still \"\" open", true, true),
            ("x,\"\"", false, false),
        ];
        for (line, before, after) in cases {
            assert_eq!(quote_open(line.as_bytes(), b',', before), after, "{line}");
        }
    }
}
