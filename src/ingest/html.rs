//! HTML inputs: Telegram Desktop chat exports (`messages.html`) and any web page holding
//! proxy links, read as the text a browser would show.
//!
//! One step of ingestion, next to `text`, `json` and `csv`. The page is streamed line by line
//! (lines capped at `MAX_LINE`, as in the text format). Each line's markup becomes text:
//!
//! - an anchor whose `href` is a proxy link puts that link in the text (its inner text is
//!   dropped when it is the same link, so `<a href="tg://x">tg://x</a>` counts once);
//! - `<br>`, `</div>`, `</p>`, `</li>`, `</tr>` and `<hr>` end a text line; other tags are
//!   dropped; entities are decoded; `<script>`, `<style>` and comments are skipped;
//! - a new Telegram message (`<div class="message …">`) ends any labelled block, so blocks
//!   never run from one message into the next.
//!
//! The text lines go to a `TextScanner` whose position is the HTML line number, so items
//! are reported at `line N` (or `lines A-B` for a labelled block spread over lines). A text
//! line with nothing proxy-like counts as ignored, exactly as in the text format; markup
//! alone (a line that shows no text) counts as nothing. Export chrome (sender names, times)
//! is visible text, so it counts as ignored.

use std::io::{self, BufRead};

use html_escape::decode_html_entities;

use super::link::find_links;
use super::text::{Line, LineNumbers, MAX_LINE, TextScanner, for_each_line};
use super::{IngestOptions, ItemSink};

/// Tags that end a line of text (lower case, `/` for closing tags).
const LINE_BREAKS: &[&str] = &["br", "hr", "/div", "/p", "/li", "/tr"];

/// Reads an HTML input to the end, streaming.
pub fn parse(
    reader: impl BufRead,
    options: &IngestOptions,
    sink: &mut impl ItemSink,
) -> io::Result<()> {
    let mut scanner = TextScanner::new(options.default_kind);
    let mut sink = LineNumbers { sink };
    let mut markup = Markup::default();
    let lines = for_each_line(reader, |number, line| match line {
        Line::Text(bytes) => {
            for text in markup.text_lines(&String::from_utf8_lossy(bytes)) {
                scanner.line(&text, number, &mut sink);
            }
        }
        Line::TooLong(head) => {
            sink.too_long(number, head);
            markup.pending.clear();
        }
    })?;
    scanner.finish(lines, &mut sink);
    Ok(())
}

/// Turns HTML lines into the text lines they show, carrying state across lines.
#[derive(Debug, Default)]
struct Markup {
    /// End marker (`</script`, `</style`, `-->`) of the element being skipped, if any.
    raw_end: Option<&'static str>,
    /// A tag left open at the end of the previous line, completed by the next one.
    pending: String,
}

/// Text lines being built from one HTML line.
#[derive(Debug, Default)]
struct TextLines {
    /// Raw text (entities not yet decoded) of the line being built.
    current: String,
    /// Finished lines: decoded and non-blank, or empty where a Telegram message starts.
    lines: Vec<String>,
}

impl TextLines {
    /// Ends the current text line, keeping it when it shows anything.
    fn end_line(&mut self) {
        let decoded = decode_html_entities(&self.current);
        for part in decoded.split('\n') {
            if !part.trim().is_empty() {
                self.lines.push(part.to_owned());
            }
        }
        self.current.clear();
    }

    /// Marks the start of a new message: an empty line, which closes any open block.
    fn boundary(&mut self) {
        self.end_line();
        self.lines.push(String::new());
    }
}

impl Markup {
    /// The text lines one HTML line shows (an empty one where a Telegram message starts).
    fn text_lines(&mut self, line: &str) -> Vec<String> {
        let joined;
        let line = if self.pending.is_empty() {
            line
        } else if !line.contains('>') {
            // Still inside the tag: keep gathering it (a tag longer than a line is dropped).
            self.pending.push_str(line);
            if self.pending.len() > MAX_LINE {
                self.pending.clear();
            }
            return Vec::new();
        } else {
            joined = std::mem::take(&mut self.pending) + line;
            &joined
        };
        // ASCII lower-casing keeps byte offsets, so `lower` and `line` share them.
        let lower = line.to_ascii_lowercase();
        let mut out = TextLines::default();
        let mut at = 0;
        while at < line.len() {
            at = match self.raw_end {
                Some(end) => self.skip_raw(&lower, at, end),
                None => self.markup(line, &lower, at, &mut out),
            };
        }
        out.end_line();
        out.lines
    }

    /// Skips raw content up to its end marker; returns where text resumes.
    fn skip_raw(&mut self, lower: &str, at: usize, end: &str) -> usize {
        let Some(found) = find_from(lower, at, end) else {
            return lower.len();
        };
        self.raw_end = None;
        let after = found + end.len();
        if end.ends_with('>') {
            after
        } else {
            find_from(lower, after, ">").map_or(lower.len(), |gt| gt + 1)
        }
    }

    /// Reads text up to the next tag and that tag; returns where to go on.
    fn markup(&mut self, line: &str, lower: &str, at: usize, out: &mut TextLines) -> usize {
        let Some(lt) = tag_start(line, at) else {
            out.current.push_str(line.get(at..).unwrap_or_default());
            return line.len();
        };
        out.current.push_str(line.get(at..lt).unwrap_or_default());
        if lower.get(lt..).is_some_and(|rest| rest.starts_with("<!--")) {
            self.raw_end = Some("-->");
            return lt + 4;
        }
        let Some(gt) = find_from(line, lt, ">") else {
            let rest = line.get(lt..).unwrap_or_default();
            if rest.len() <= MAX_LINE {
                rest.clone_into(&mut self.pending);
            }
            return line.len();
        };
        let tag = line.get(lt..=gt).unwrap_or_default();
        match tag_name(tag).as_str() {
            "a" => return anchor(line, lower, tag, gt, out),
            "script" => self.raw_end = Some("</script"),
            "style" => self.raw_end = Some("</style"),
            "div" if is_message(tag) => out.boundary(),
            name if LINE_BREAKS.contains(&name) => out.end_line(),
            _ => {}
        }
        gt + 1
    }
}

/// Handles `<a …>` ending at `gt`: a proxy link in `href` goes into the text, and the
/// anchor's inner text is skipped when it is that same link. Returns where to go on.
fn anchor(line: &str, lower: &str, tag: &str, gt: usize, out: &mut TextLines) -> usize {
    let Some(href) = attribute(tag, "href") else {
        return gt + 1;
    };
    let decoded = decode_html_entities(href);
    if find_links(&decoded).is_empty() {
        return gt + 1;
    }
    out.current.push(' ');
    out.current.push_str(href);
    out.current.push(' ');
    let Some(close) = find_from(lower, gt + 1, "</a") else {
        return gt + 1;
    };
    let inner = line.get(gt + 1..close).unwrap_or_default();
    if decode_html_entities(inner).trim() != decoded.trim() {
        return gt + 1;
    }
    find_from(line, close, ">").map_or(line.len(), |end| end + 1)
}

/// Byte offset of `needle` in `haystack` at or after `from`.
fn find_from(haystack: &str, from: usize, needle: &str) -> Option<usize> {
    haystack.get(from..)?.find(needle).map(|found| from + found)
}

/// The next `<` at or after `from` that opens a tag (a letter, `/` or `!` follows it); a
/// lone `<` in text is text.
fn tag_start(line: &str, from: usize) -> Option<usize> {
    let bytes = line.as_bytes();
    let mut at = from;
    loop {
        let lt = at + memchr::memchr(b'<', bytes.get(at..)?)?;
        if bytes
            .get(lt + 1)
            .is_some_and(|b| b.is_ascii_alphabetic() || matches!(b, b'/' | b'!'))
        {
            return Some(lt);
        }
        at = lt + 1;
    }
}

/// A tag's name, lower case, with `/` in front for a closing tag: `<BR/>` → `br`.
fn tag_name(tag: &str) -> String {
    let inside = tag.trim_start_matches('<');
    let (slash, rest) = match inside.strip_prefix('/') {
        Some(rest) => ("/", rest),
        None => ("", inside),
    };
    let name: String = rest
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    format!("{slash}{name}")
}

/// True for the `<div class="message …">` that opens each message of a Telegram export.
fn is_message(tag: &str) -> bool {
    attribute(tag, "class").is_some_and(|class| class.split_whitespace().next() == Some("message"))
}

/// The raw value of attribute `name` in a tag (quoted or not), entities not decoded.
fn attribute<'t>(tag: &'t str, name: &str) -> Option<&'t str> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(start) = find_from(&lower, from, name) {
        from = start + name.len();
        let after_space = start
            .checked_sub(1)
            .and_then(|before| lower.as_bytes().get(before))
            .is_some_and(u8::is_ascii_whitespace);
        let Some(value) = tag.get(from..)?.trim_start().strip_prefix('=') else {
            continue;
        };
        if !after_space {
            continue;
        }
        let value = value.trim_start();
        return match value.chars().next() {
            Some(quote @ ('"' | '\'')) => {
                let inner = value.get(1..)?;
                inner.get(..inner.find(quote)?)
            }
            _ => value.split(|c: char| c.is_whitespace() || c == '>').next(),
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::test_support::{counts, ingest_as};
    use crate::ingest::{InputFormat, Inventory, Location};
    use crate::proxy::ProxyKind;

    const KEY: &str = "0123456789abcdef0123456789abcdef";
    const EE: &str = "ee0123456789abcdef0123456789abcdef676f6f676c652e636f6d";

    fn ingest(html: &str) -> Inventory {
        ingest_as(Some(InputFormat::Html), "messages.html", html).unwrap()
    }

    /// `(host, first location, duplicate locations)` for every entry.
    fn places(inventory: &Inventory) -> Vec<(String, Location, Vec<Location>)> {
        inventory
            .entries
            .iter()
            .map(|e| {
                let dups = e.duplicates.iter().map(|d| d.location.clone()).collect();
                (e.spec.host.clone(), e.source.location.clone(), dups)
            })
            .collect()
    }

    #[test]
    fn telegram_html_export() {
        let page = format!(
            r#"<!DOCTYPE html>
<html>
 <head>
  <meta charset="utf-8"/>
<title>Exported Data</title>
  <style>.x {{ content: "socks5://6.6.6.6:1080"; }}</style>
  <script src="js/script.js" type="text/javascript">
  </script>
 </head>
 <body onload="CheckLocation();">
  <div class="page_wrap">
   <div class="page_body chat_page">
    <div class="history">
     <div class="message service" id="message-1">
      <div class="body details">
1 January 2024
      </div>
     </div>
     <div class="message default clearfix" id="message1">
      <div class="body">
       <div class="pull_right date details" title="01.01.2024 12:00:00 UTC+03:00">
12:00
       </div>
       <div class="from_name">
Proxy Channel
       </div>
       <div class="text">
🔥 New proxy<br>Server: <code>1.2.3.4</code><br>Port: <code>443</code><br>Secret: <code>{EE}</code><br><a href="tg://proxy?server=1.2.3.4&amp;port=443&amp;secret={EE}">Connect</a>
       </div>
      </div>
     </div>
     <div class="message default clearfix joined" id="message2">
      <div class="body">
       <div class="text">
Backup: <a href="socks5://5.6.7.8:1080">socks5://5.6.7.8:1080</a> &amp; see <a href="https://example.org/">our site</a>
       </div>
       <!-- tg://proxy?server=7.7.7.7&port=1&secret={KEY}
       -->
      </div>
     </div>
     <div class="message default clearfix joined" id="message3">
      <div class="body">
       <div class="text">
Server: <code>a.example</code><br>Port: <code>8443</code>
       </div>
      </div>
     </div>
     <div class="message default clearfix joined" id="message4">
      <div class="body">
       <div class="text">
Secret: <code>{KEY}</code><br>tg://proxy?server=b.example&amp;port=0&amp;secret={KEY}
       </div>
      </div>
     </div>
    </div>
   </div>
  </div>
 </body>
</html>
"#
        );
        let inventory = ingest(&page);
        // Ignored: title, date separator, time, sender, "🔥 New proxy", and the lone
        // `Secret:` of message 4, a block that names no proxy (it does not join message 3's).
        assert_eq!(counts(&inventory), (3, 1, 1, 6));
        let line = Location::Line;
        assert_eq!(
            places(&inventory),
            [
                ("1.2.3.4".to_owned(), line(28), vec![line(28)]),
                ("5.6.7.8".to_owned(), line(35), vec![]),
                ("a.example".to_owned(), line(44), vec![]),
            ]
        );
        assert_eq!(inventory.entries[0].spec.kind, ProxyKind::Mtproto);
        assert_eq!(inventory.entries[2].spec.kind, ProxyKind::Socks5);
        let rejected = &inventory.rejected[0];
        assert_eq!(
            (rejected.source.location.clone(), rejected.reason.code()),
            (line(51), "bad_port")
        );
    }

    #[test]
    fn an_anchor_showing_its_own_link_counts_once() {
        let link = format!("tg://proxy?server=a.example&amp;port=443&amp;secret={KEY}");
        let page =
            format!("<p><a href=\"{link}\">{link}</a></p>\n<p><A HREF='{link}'>Connect</A></p>\n");
        let inventory = ingest(&page);
        assert_eq!(counts(&inventory), (1, 1, 0, 0));
        assert_eq!(
            places(&inventory),
            [(
                "a.example".to_owned(),
                Location::Line(1),
                vec![Location::Line(2)]
            )]
        );
    }

    #[test]
    fn markup_alone_is_not_ignored_but_text_is() {
        let page = "<div>\n  <span class=\"x\"></span>\n</div>\n<p>Hello &nbsp;world</p>\n<script>\nvar a = 'hi';\n</script>\n";
        assert_eq!(counts(&ingest(page)), (0, 0, 0, 1));
    }

    #[test]
    fn tags_and_blocks_spanning_lines() {
        let page = format!(
            "<a class=\"btn\"\n   title=\"x\"\n   href=\"socks5://1.2.3.4:1080\">Connect</a>\n<div>Server: a.example<br>\nPort: 443<br>\nSecret: {KEY}</div>\n"
        );
        let inventory = ingest(&page);
        assert_eq!(counts(&inventory), (2, 0, 0, 0));
        assert_eq!(inventory.entries[0].source.location, Location::Line(3));
        assert_eq!(inventory.entries[1].source.location, Location::Lines(4, 6));
    }

    #[test]
    fn attributes_and_tag_names() {
        assert_eq!(
            attribute(r#"<a class="x" href="tg://a">"#, "href"),
            Some("tg://a")
        );
        assert_eq!(
            attribute("<a data-href='no' HREF = 'tg://b'>", "href"),
            Some("tg://b")
        );
        assert_eq!(attribute("<a href=tg://c>", "href"), Some("tg://c"));
        assert_eq!(attribute("<a title=\"x\">", "href"), None);
        assert_eq!(tag_name("<BR/>"), "br");
        assert_eq!(tag_name("</Div >"), "/div");
    }
}
