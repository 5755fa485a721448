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
//! fails on a quote left open, silently swallowing the rest of the file into one cell. Here
//! a quoted cell may span lines, but one still open at the end of the input is a syntax
//! error naming the line it opened on, as is a row longer than `MAX_LINE`.

use std::io::{self, BufRead};

use csv::{ByteRecord, ReaderBuilder};

use super::record::{Record, is_field_name};
use super::text::MAX_LINE;
use super::{IngestOptions, InputFormat, ItemSink, Location, ReadError};
use crate::proxy::ProxyKind;

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
        buf: Vec::new(),
    };
    let mut cells = CellSplitter::new(delimiter);
    let Some((_, header)) = rows.next_row()? else {
        return Ok(());
    };
    let header: Vec<String> = cells
        .split(&header)?
        .iter()
        .map(|name| String::from_utf8_lossy(name).trim().to_owned())
        .collect();
    if !header.iter().any(|name| is_field_name(name)) {
        let shown: String = header.join(",").chars().take(80).collect();
        return Err(ReadError::Syntax(format!(
            "line {}: no known column in the header row (expected host, port, secret, type, link…): {shown}",
            rows.line
        )));
    }
    while let Some((line, row)) = rows.next_row()? {
        let names = header
            .iter()
            .map(String::as_str)
            .chain(std::iter::repeat(""));
        let row = cells.split(&row)?;
        let record = Record::from_pairs(names.zip(row.iter().map(String::from_utf8_lossy)));
        report_row(&record, line, options.default_kind, sink);
    }
    Ok(())
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

/// Cuts the input into rows: physical lines, joined while a quoted cell is open.
struct Rows<R> {
    /// The input.
    reader: R,
    /// Cell delimiter (a quote opens a quoted cell only at the start of a cell).
    delimiter: u8,
    /// Number of the last physical line read (1-based).
    line: u64,
    /// The physical line being read.
    buf: Vec<u8>,
}

impl<R: BufRead> Rows<R> {
    /// The next row that is not blank, with the line it starts on; `None` at the end.
    fn next_row(&mut self) -> Result<Option<(u64, Vec<u8>)>, ReadError> {
        let mut row = Vec::new();
        let mut start = 0;
        let mut open = false;
        loop {
            self.buf.clear();
            let limit = (MAX_LINE + 1 - row.len()) as u64;
            let read =
                io::Read::take(self.reader.by_ref(), limit).read_until(b'\n', &mut self.buf)?;
            if read == 0 {
                return if open {
                    Err(ReadError::Syntax(format!(
                        "line {start}: a quoted cell is never closed"
                    )))
                } else {
                    Ok(None)
                };
            }
            self.line += 1;
            let text = self.buf.strip_suffix(b"\n").unwrap_or(&self.buf);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            if open {
                row.push(b'\n');
            } else if text.trim_ascii().is_empty() {
                continue;
            } else {
                start = self.line;
            }
            row.extend_from_slice(text);
            if row.len() > MAX_LINE {
                return Err(ReadError::Syntax(format!(
                    "line {start}: row longer than {MAX_LINE} bytes"
                )));
            }
            open = quote_open(text, self.delimiter, open);
            if !open {
                return Ok(Some((start, row)));
            }
        }
    }
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

    /// The cells of `row`.
    fn split(&mut self, row: &[u8]) -> Result<&ByteRecord, ReadError> {
        let mut reader = self.builder.from_reader(row);
        reader
            .read_byte_record(&mut self.cells)
            .map_err(|error| match error.into_kind() {
                csv::ErrorKind::Io(error) => ReadError::Io(error),
                kind => ReadError::Syntax(format!("CSV error: {kind:?}")),
            })?;
        Ok(&self.cells)
    }
}

#[cfg(test)]
mod tests {
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
    fn input_errors_name_the_line() {
        let unterminated = "host,port\n1.2.3.4,1080\n\n\"5.6.7.8,1081\n9.9.9.9,1082\n";
        let error = ingest(InputFormat::Csv, unterminated).unwrap_err();
        assert_eq!(error, "line 4: a quoted cell is never closed");
        let headerless = "1.2.3.4,1080\n5.6.7.8,1081\n";
        let error = ingest(InputFormat::Csv, headerless).unwrap_err();
        assert!(error.starts_with("line 1: no known column"), "{error}");
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

    #[test]
    fn overlong_rows_are_an_error() {
        let text = format!("host,port\n{}\n", "x".repeat(MAX_LINE + 1));
        let error = ingest(InputFormat::Csv, &text).unwrap_err();
        assert_eq!(error, format!("line 2: row longer than {MAX_LINE} bytes"));
    }

    #[test]
    fn rows_keep_what_came_before_an_error() {
        let mut collector = Collector::new(IngestOptions {
            forced_format: Some(InputFormat::Csv),
            ..IngestOptions::default()
        });
        let text = "host,port\n1.2.3.4,1080\n\"5.6.7.8,1081\n";
        assert!(
            collector
                .read_input("list.csv", io::Cursor::new(text))
                .is_err()
        );
        let inventory = collector.finish();
        assert_eq!(inventory.entries.len(), 1);
        assert!(inventory.inputs[0].error.is_some());
    }
}
