//! The byte level under `json`: a pull reader over a JSON stream that steps over white space
//! and punctuation, and copies out one whole value at a time (with a size cap for objects),
//! so that `json` can read a document of any size while holding one small part of it.
//!
//! Written by hand because serde_json's reader cannot give back what it has read: a value
//! found too large to read whole must be read again, piece by piece, from its first byte.
//! This file only finds where values end (strings with their escapes, nesting); what a
//! value says, and whether it is well formed, is for serde_json, which `json` gives each
//! copied value to. Positions are counted as serde_json counts them (1-based lines, byte
//! columns), so error messages read the same whichever of the two found the fault.

use std::io::{self, BufRead};

/// Deepest nesting read (serde_json's own limit): deeper documents are refused, so neither
/// the streamed walk nor serde_json's parser can overflow the stack.
pub(crate) const MAX_DEPTH: usize = 128;

/// Where a byte of the input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    /// Line, from 1.
    pub line: u64,
    /// Byte column in the line, from 1.
    pub column: u64,
}

/// Why a stream cannot be read as JSON.
#[derive(Debug)]
pub(crate) enum ScanError {
    /// The reader failed.
    Io(io::Error),
    /// The bytes are not JSON.
    Syntax {
        /// Where the fault was found.
        at: Position,
        /// What is wrong, in serde_json's words where it has some.
        message: String,
    },
}

impl From<io::Error> for ScanError {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

/// How [`JsonScanner::capture`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Captured {
    /// The whole value is in the buffer.
    Whole,
    /// The value (an object or array) outgrew the cap: the buffer holds its head, which
    /// must be given back with [`JsonScanner::unread`] before reading on.
    TooLarge,
}

/// A pull reader over JSON bytes.
pub(crate) struct JsonScanner<R> {
    /// The input.
    reader: R,
    /// Bytes given back by `unread`, read again before the reader.
    replay: Vec<u8>,
    /// How much of `replay` was read again.
    replay_at: usize,
    /// Line of the next byte.
    line: u64,
    /// Column of the last byte read on the current line (0 at a line start).
    column: u64,
}

/// What consuming some bytes does to the position.
struct Moved {
    /// Line ends among them.
    newlines: u64,
    /// Bytes after the last line end (all of them when there is none).
    tail: u64,
}

/// How `bytes` move the position.
fn moved(bytes: &[u8]) -> Moved {
    let newlines = memchr::memchr_iter(b'\n', bytes).count() as u64;
    let tail = memchr::memrchr(b'\n', bytes).map_or(bytes.len(), |at| bytes.len() - at - 1);
    Moved {
        newlines,
        tail: tail as u64,
    }
}

/// JSON's white space.
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

impl<R: BufRead> JsonScanner<R> {
    /// A scanner at the start of `reader`.
    pub(crate) fn new(reader: R) -> Self {
        Self {
            reader,
            replay: Vec::new(),
            replay_at: 0,
            line: 1,
            column: 0,
        }
    }

    /// The next bytes: what `unread` gave back, else the reader's buffer; empty at the end.
    fn fill(&mut self) -> io::Result<&[u8]> {
        if self.replay_at < self.replay.len() {
            return Ok(self.replay.get(self.replay_at..).unwrap_or_default());
        }
        if !self.replay.is_empty() {
            self.replay = Vec::new();
            self.replay_at = 0;
        }
        self.reader.fill_buf()
    }

    /// Marks `amount` bytes read, which moved the position by `moved`.
    fn consume(&mut self, amount: usize, moved: &Moved) {
        if self.replay_at < self.replay.len() {
            self.replay_at += amount;
        } else {
            self.reader.consume(amount);
        }
        if moved.newlines > 0 {
            self.line += moved.newlines;
            self.column = moved.tail;
        } else {
            self.column += moved.tail;
        }
    }

    /// Where the next byte is.
    pub(crate) fn position(&self) -> Position {
        Position {
            line: self.line,
            column: self.column + 1,
        }
    }

    /// A syntax error at the next byte.
    pub(crate) fn error(&self, message: &str) -> ScanError {
        ScanError::Syntax {
            at: self.position(),
            message: message.to_owned(),
        }
    }

    /// Skips a UTF-8 byte-order mark at the start (serde_json counts positions after it).
    pub(crate) fn skip_bom(&mut self) -> io::Result<()> {
        if self.fill()?.starts_with(b"\xef\xbb\xbf") {
            let none = Moved {
                newlines: 0,
                tail: 0,
            };
            self.consume(3, &none);
        }
        Ok(())
    }

    /// Skips white space; returns the next byte without reading it, `None` at the end.
    pub(crate) fn peek(&mut self) -> io::Result<Option<u8>> {
        loop {
            let chunk = self.fill()?;
            if chunk.is_empty() {
                return Ok(None);
            }
            let spaces = chunk
                .iter()
                .position(|&byte| !is_space(byte))
                .unwrap_or(chunk.len());
            let next = chunk.get(spaces).copied();
            let moved = moved(chunk.get(..spaces).unwrap_or_default());
            self.consume(spaces, &moved);
            if next.is_some() {
                return Ok(next);
            }
        }
    }

    /// Reads the byte [`Self::peek`] returned (punctuation, never a line end).
    pub(crate) fn bump(&mut self) {
        let one = Moved {
            newlines: 0,
            tail: 1,
        };
        self.consume(1, &one);
    }

    /// Copies the value that starts at the next byte (after [`Self::peek`]) into `out`.
    /// An object or array longer than `cap` bytes stops at [`Captured::TooLarge`]; a string
    /// or a number is copied whole. `depth` is the nesting the value sits in, for the
    /// [`MAX_DEPTH`] check.
    pub(crate) fn capture(
        &mut self,
        out: &mut Vec<u8>,
        cap: usize,
        depth: usize,
    ) -> Result<Captured, ScanError> {
        let mut nest = 0usize;
        // Bit `n` set: the container opened at nesting `n + 1` is an array (`nest` never
        // passes MAX_DEPTH = 128).
        let mut arrays = 0u128;
        let mut in_string = false;
        let mut escape = false;
        let mut atom = false;
        loop {
            let position = self.position();
            // Never look past the cap, so that where a value is cut does not depend on
            // how the input arrives.
            let room = cap.saturating_sub(out.len()).saturating_add(1);
            let chunk = self.fill()?;
            let chunk = chunk.get(..room.min(chunk.len())).unwrap_or_default();
            if chunk.is_empty() {
                if atom {
                    return Ok(Captured::Whole);
                }
                let what = if in_string {
                    "EOF while parsing a string"
                } else {
                    "EOF while parsing a value"
                };
                return Err(self.error(what));
            }
            let mut at = 0;
            let mut done = false;
            while let Some(&byte) = chunk.get(at) {
                if in_string {
                    if escape {
                        escape = false;
                        at += 1;
                        continue;
                    }
                    let rest = chunk.get(at..).unwrap_or_default();
                    let Some(found) = memchr::memchr2(b'"', b'\\', rest) else {
                        at = chunk.len();
                        continue;
                    };
                    at += found;
                    if chunk.get(at) == Some(&b'\\') {
                        escape = true;
                    } else {
                        in_string = false;
                        done = nest == 0;
                    }
                    at += 1;
                    if done {
                        break;
                    }
                    continue;
                }
                if atom {
                    if is_space(byte) || matches!(byte, b',' | b':' | b']' | b'}' | b'[' | b'{') {
                        done = true;
                        break;
                    }
                    at += 1;
                    continue;
                }
                match byte {
                    b'"' => in_string = true,
                    b'{' | b'[' => {
                        nest += 1;
                        let bit = 1u128.checked_shl(u32::try_from(nest - 1).unwrap_or(u32::MAX));
                        if byte == b'[' {
                            arrays |= bit.unwrap_or(0);
                        } else {
                            arrays &= !bit.unwrap_or(0);
                        }
                        if depth + nest > MAX_DEPTH {
                            let mut at_error = position;
                            let before = moved(chunk.get(..at).unwrap_or_default());
                            if before.newlines > 0 {
                                at_error.line += before.newlines;
                                at_error.column = before.tail + 1;
                            } else {
                                at_error.column += before.tail;
                            }
                            return Err(ScanError::Syntax {
                                at: at_error,
                                message: "recursion limit exceeded".to_owned(),
                            });
                        }
                    }
                    b'}' | b']' => {
                        let bit = u32::try_from(nest.saturating_sub(1))
                            .ok()
                            .and_then(|shift| 1u128.checked_shl(shift))
                            .unwrap_or(0);
                        let opened_array = arrays & bit != 0;
                        nest = nest.saturating_sub(1);
                        // A close that does not match its opening ends the copy here, for
                        // serde_json to name the fault where it is.
                        if nest == 0 || opened_array != (byte == b']') {
                            at += 1;
                            done = true;
                            break;
                        }
                    }
                    _ if nest == 0 && !is_space(byte) => atom = true,
                    _ => {}
                }
                at += 1;
            }
            let taken = chunk.get(..at).unwrap_or_default();
            out.extend_from_slice(taken);
            let moved = moved(taken);
            self.consume(at, &moved);
            if done {
                return Ok(Captured::Whole);
            }
            if nest > 0 && out.len() > cap {
                return Ok(Captured::TooLarge);
            }
        }
    }

    /// Gives back `bytes`, read from `from` on, to be read again first.
    pub(crate) fn unread(&mut self, mut bytes: Vec<u8>, from: Position) {
        bytes.extend_from_slice(self.replay.get(self.replay_at..).unwrap_or_default());
        self.replay = bytes;
        self.replay_at = 0;
        self.line = from.line;
        self.column = from.column.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufReader, Cursor};

    use super::*;

    /// Every top-level value of `text` as captured with `cap`, read through a buffer of
    /// `capacity` bytes, with the position each started at.
    fn values(text: &str, cap: usize, capacity: usize) -> Vec<(Position, String, Captured)> {
        let mut scanner = JsonScanner::new(BufReader::with_capacity(capacity, Cursor::new(text)));
        let mut found = Vec::new();
        while scanner.peek().unwrap().is_some() {
            let at = scanner.position();
            let mut out = Vec::new();
            let captured = scanner.capture(&mut out, cap, 0).unwrap();
            found.push((at, String::from_utf8(out.clone()).unwrap(), captured));
            if captured == Captured::TooLarge {
                scanner.unread(out, at);
                scanner.bump();
            }
        }
        found
    }

    #[test]
    fn values_end_where_json_says_whatever_the_buffer() {
        let text = "{\"a\": \"}\\\"]\"}\n [1, [2]] \"x\\\\\" -1.5e3 true\nnull";
        let at = |line, column| Position { line, column };
        let expected = vec![
            (at(1, 1), "{\"a\": \"}\\\"]\"}".to_owned(), Captured::Whole),
            (at(2, 2), "[1, [2]]".to_owned(), Captured::Whole),
            (at(2, 11), "\"x\\\\\"".to_owned(), Captured::Whole),
            (at(2, 17), "-1.5e3".to_owned(), Captured::Whole),
            (at(2, 24), "true".to_owned(), Captured::Whole),
            (at(3, 1), "null".to_owned(), Captured::Whole),
        ];
        for capacity in [1, 2, 3, 7, 4096] {
            assert_eq!(values(text, usize::MAX, capacity), expected, "{capacity}");
        }
    }

    #[test]
    fn a_value_over_the_cap_is_given_back_whole() {
        let text = "[\"0123456789\", {\"k\": 1}]";
        let mut scanner = JsonScanner::new(BufReader::with_capacity(4, Cursor::new(text)));
        scanner.peek().unwrap();
        let mut head = Vec::new();
        assert_eq!(
            scanner.capture(&mut head, 8, 0).unwrap(),
            Captured::TooLarge
        );
        assert!(head.len() > 8 && head.len() < text.len(), "{head:?}");
        scanner.unread(head, Position { line: 1, column: 1 });
        let mut whole = Vec::new();
        assert_eq!(
            scanner.capture(&mut whole, usize::MAX, 0).unwrap(),
            Captured::Whole
        );
        assert_eq!(whole, text.as_bytes());
    }

    #[test]
    fn faults_are_placed() {
        let mut scanner = JsonScanner::new(Cursor::new("\n  \"open"));
        scanner.peek().unwrap();
        let Err(ScanError::Syntax { at, message }) = scanner.capture(&mut Vec::new(), 9, 0) else {
            panic!("expected a syntax error");
        };
        assert_eq!(
            (at.line, at.column, message.as_str()),
            (2, 8, "EOF while parsing a string")
        );
        let deep = "[".repeat(MAX_DEPTH + 1);
        let mut scanner = JsonScanner::new(Cursor::new(deep));
        scanner.peek().unwrap();
        let Err(ScanError::Syntax { at, message }) = scanner.capture(&mut Vec::new(), 1 << 20, 0)
        else {
            panic!("expected a syntax error");
        };
        assert_eq!(message, "recursion limit exceeded");
        assert_eq!(at.column, MAX_DEPTH as u64 + 1);
    }
}
