//! Format detection: decides from an input's name and first bytes which parser reads it.
//!
//! Detection is per input and conservative: anything not clearly JSON, HTML or a CSV with a
//! known header is read as text, which itself finds links and bare forms anywhere. A head
//! that opens with `{` or `[` is JSON only when it reads as the start of one JSON document
//! (a note that starts with `{`, or JSON Lines, is text: read as JSON it would fail whole).

use std::fmt;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

/// The formats ingestion reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum InputFormat {
    /// Lines of links, bare `host:port` forms and free-text channel posts.
    Text,
    /// JSON: proxy lists, or a Telegram Desktop `result.json` chat export.
    Json,
    /// HTML: a Telegram Desktop HTML chat export, or any page with proxy links.
    Html,
    /// Comma- (or semicolon-) separated values with a header row.
    Csv,
    /// Tab-separated values with a header row.
    Tsv,
}

impl InputFormat {
    /// Lower-case name, as accepted by `--input-format`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Json => "json",
            Self::Html => "html",
            Self::Csv => "csv",
            Self::Tsv => "tsv",
        }
    }
}

impl fmt::Display for InputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Header names that mark a delimited file as a proxy table.
pub(crate) const HEADER_WORDS: &[&str] = &[
    "host", "ip", "server", "address", "addr", "hostname", "port", "secret", "type", "protocol",
    "link", "url", "proxy",
];

/// Picks a format from the input's name and head (at most [`super::read::SNIFF_LEN`] bytes;
/// `whole` when the head is the entire input).
pub(crate) fn detect(name: &str, head: &[u8], whole: bool) -> InputFormat {
    let lower_name = name.to_ascii_lowercase();
    let path = lower_name.split(['?', '#']).next().unwrap_or_default();
    let by_extension = [
        (".json", InputFormat::Json),
        (".html", InputFormat::Html),
        (".htm", InputFormat::Html),
        (".tsv", InputFormat::Tsv),
        (".csv", InputFormat::Csv),
    ];
    if let Some((_, format)) = by_extension.iter().find(|(ext, _)| path.ends_with(ext)) {
        return *format;
    }
    let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let text = String::from_utf8_lossy(head);
    let trimmed = text.trim_start();
    if (trimmed.starts_with('{') || starts_json_array(trimmed)) && reads_as_json(head, whole) {
        return InputFormat::Json;
    }
    let lower = trimmed
        .get(..trimmed.len().min(2048))
        .unwrap_or(trimmed)
        .to_ascii_lowercase();
    if lower.starts_with("<!doctype html") || lower.starts_with("<html") || lower.contains("<body")
    {
        return InputFormat::Html;
    }
    let first_line = trimmed.lines().next().unwrap_or_default();
    delimited_header(first_line).unwrap_or(InputFormat::Text)
}

/// Whether `head` is one JSON document (followed by nothing but white space), or, when it
/// is not the whole input, the valid start of one. serde_json's own reader decides, so
/// detection and parsing agree on what JSON is.
fn reads_as_json(head: &[u8], whole: bool) -> bool {
    let mut values = serde_json::Deserializer::from_slice(head).into_iter::<IgnoredAny>();
    match values.next() {
        Some(Ok(_)) => head
            .get(values.byte_offset()..)
            .unwrap_or_default()
            .iter()
            .all(u8::is_ascii_whitespace),
        Some(Err(error)) => error.is_eof() && !whole,
        None => false,
    }
}

/// `[` opens JSON unless it is a bracketed IPv6 endpoint like `[2001:db8::1]:443`.
fn starts_json_array(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('[') else {
        return false;
    };
    let after = rest.trim_start();
    matches!(after.chars().next(), Some('{' | '[' | '"' | ']')) || after.is_empty()
}

/// A first line that splits on tab, comma or semicolon into known column names.
fn delimited_header(line: &str) -> Option<InputFormat> {
    if line.contains("://") {
        return None;
    }
    let candidates = [
        ('\t', InputFormat::Tsv),
        (',', InputFormat::Csv),
        (';', InputFormat::Csv),
    ];
    candidates.into_iter().find_map(|(delimiter, format)| {
        let columns: Vec<String> = line
            .split(delimiter)
            .map(|c| c.trim().trim_matches('"').to_ascii_lowercase())
            .collect();
        let known = columns
            .iter()
            .filter(|c| HEADER_WORDS.contains(&c.as_str()))
            .count();
        (columns.len() >= 2 && known >= 1).then_some(format)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_extension_then_content() {
        let cases: &[(&str, &str, InputFormat)] = &[
            ("result.json", "", InputFormat::Json),
            ("messages.html", "", InputFormat::Html),
            ("list.csv", "", InputFormat::Csv),
            ("list.tsv", "", InputFormat::Tsv),
            ("https://example.org/p.json?x=1", "", InputFormat::Json),
            ("-", "  {\"messages\": []}", InputFormat::Json),
            ("-", "[{\"host\":\"a\"}]", InputFormat::Json),
            ("-", "[\"tg://proxy?server=a\"]", InputFormat::Json),
            ("-", "[2001:db8::1]:1080\n", InputFormat::Text),
            ("-", "<!DOCTYPE html>\n<html>", InputFormat::Html),
            ("-", "host,port,secret\n1.2.3.4,443,00", InputFormat::Csv),
            ("-", "ip;port\n1.2.3.4;1080", InputFormat::Csv),
            ("-", "server\tport\n", InputFormat::Tsv),
            ("-", "tg://proxy?server=a,b", InputFormat::Text),
            ("-", "Server: 1.2.3.4, Port: 443", InputFormat::Text),
            ("-", "1.2.3.4:1080\n", InputFormat::Text),
            ("-", "\u{feff}{\"a\":1}", InputFormat::Json),
        ];
        for (name, head, expected) in cases {
            assert_eq!(
                detect(name, head.as_bytes(), true),
                *expected,
                "{name} {head:?}"
            );
        }
    }

    #[test]
    fn a_brace_led_head_must_read_as_json() {
        let cases: &[(&str, bool, InputFormat)] = &[
            // Regression: these were detected as JSON and failed whole.
            ("{\"a\":1}\n1.2.3.4:8080\n", true, InputFormat::Text),
            (
                "{Fresh proxies}\nsocks5://1.2.3.4:1080\n",
                true,
                InputFormat::Text,
            ),
            ("{\"a\":1}\n{\"b\":2}\n", true, InputFormat::Text),
            ("[{\"host\": 1.2.3.4}]", true, InputFormat::Text),
            ("{\"messages\": [", true, InputFormat::Text),
            // A document, or the start of one cut by the sniffing window.
            ("{\"messages\": [], \"id\": 1}\n\n", true, InputFormat::Json),
            ("{\"messages\": [{\"text\": \"a", false, InputFormat::Json),
            ("[\"tg://proxy?server=a\",", false, InputFormat::Json),
        ];
        for (head, whole, expected) in cases {
            assert_eq!(detect("-", head.as_bytes(), *whole), *expected, "{head:?}");
        }
    }
}
