//! Ingestion: turns every input (file, stdin, URL) into [`Entry`]s and [`Rejected`] items,
//! accounting for everything that looked like a proxy.
//!
//! Format parsers (`text`, `json`, `html`, `csv`) know nothing of deduplication or counts:
//! they report each item they find to an [`ItemSink`]. The [`Collector`] is that sink: it
//! deduplicates (see `crate::policy::dedup`), classifies addresses, and keeps per-input
//! counts, so that `entries + duplicates + rejected` equals the items found.

pub mod bare;
pub mod csv;
pub(crate) mod detect;
pub mod html;
pub mod json;
mod json_scan;
pub(crate) mod labels;
pub mod link;
pub mod read;
pub mod record;
pub mod text;

use std::borrow::Cow;
use std::fmt;
use std::io::{self, BufRead};
use std::ops::Range;
use std::str::FromStr;
use std::sync::{Arc, mpsc};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::policy::address::AddressClass;
use crate::policy::dedup::{DedupIndex, EntryId, Seen};
use crate::proxy::{ProxyKind, ProxySpec, SpecError};

pub use detect::InputFormat;

/// Where in an input an item was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// One line of a text-like input (1-based).
    Line(u64),
    /// A labelled block spanning lines `first..=last` (1-based).
    Lines(u64, u64),
    /// A path into a JSON document, e.g. `messages[3].text_entities[1]`.
    Path(String),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Line(line) => write!(f, "line {line}"),
            Self::Lines(first, last) => write!(f, "lines {first}-{last}"),
            Self::Path(path) => f.write_str(path),
        }
    }
}

impl FromStr for Location {
    type Err = std::convert::Infallible;
    /// Inverse of `Display`; anything that is not `line N` / `lines A-B` is a path.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let line = s
            .strip_prefix("line ")
            .and_then(|n| n.parse().ok())
            .map(Self::Line);
        let lines = s.strip_prefix("lines ").and_then(|range| {
            let (first, last) = range.split_once('-')?;
            Some(Self::Lines(first.parse().ok()?, last.parse().ok()?))
        });
        Ok(line.or(lines).unwrap_or_else(|| Self::Path(s.to_owned())))
    }
}

impl Serialize for Location {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Location {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(text.parse().unwrap_or(Self::Path(text)))
    }
}

/// An input name and a place in it: enough for a user to find the line again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The input as the user named it (path, `-` for stdin, or URL), as [`shown_name`]
    /// shows it: a URL's password is never kept here.
    pub input: Arc<str>,
    /// Where in that input.
    pub location: Location,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.input, self.location)
    }
}

/// A unique proxy found in the inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Stable identifier derived from the dedup key (same proxy, same id, in every run).
    pub id: EntryId,
    /// What the proxy is.
    pub spec: ProxySpec,
    /// Class of the target address; names stay `unresolved` until the probe resolves them.
    pub address_class: AddressClass,
    /// Where it was first seen.
    pub source: Source,
    /// Every later place the same proxy was seen, in input order.
    pub duplicates: Vec<Source>,
    /// Where the text as first written sits in [`Inventory::written`], when it was one line
    /// (a link or a bare form); the cleaned list gives it back unchanged, so a `t.me` link
    /// stays a `t.me` link.
    pub written: Option<Range<usize>>,
}

/// Something that looked like a proxy but could not be read as one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Where it was.
    pub source: Source,
    /// The text as found (may hold credentials: human output redacts it).
    pub text: String,
    /// Why it was refused.
    pub reason: SpecError,
}

/// Counts for one input, for the summary and for `--strict`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Unique proxies first seen here.
    pub entries: u64,
    /// Items that repeat an earlier entry.
    pub duplicates: u64,
    /// Proxy-looking items that could not be read.
    pub rejected: u64,
    /// Non-blank lines or values with nothing proxy-like (prose, comments).
    pub ignored: u64,
}

impl Counts {
    fn add(&mut self, other: &Self) {
        self.entries += other.entries;
        self.duplicates += other.duplicates;
        self.rejected += other.rejected;
        self.ignored += other.ignored;
    }
}

/// What happened to one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputReport {
    /// The input as named, through [`shown_name`].
    pub name: Arc<str>,
    /// The format it was read as.
    pub format: InputFormat,
    /// What it contributed.
    pub counts: Counts,
    /// Why it could not be read (fully or partly); `None` when it was read to the end.
    pub error: Option<String>,
}

/// Everything ingestion produced, in input order.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// Unique proxies.
    pub entries: Vec<Entry>,
    /// Items refused by the parsers.
    pub rejected: Vec<Rejected>,
    /// One report per input.
    pub inputs: Vec<InputReport>,
    /// The entries' texts as first written, back to back (one buffer rather than an
    /// allocation per entry: a million-line list has a million of them).
    pub written: String,
}

impl Inventory {
    /// The text `entry` was first written as, when it was one line.
    pub fn as_written(&self, entry: &Entry) -> Option<&str> {
        entry
            .written
            .as_ref()
            .and_then(|range| self.written.get(range.clone()))
    }

    /// Totals over all inputs.
    pub fn totals(&self) -> Counts {
        let mut total = Counts::default();
        for input in &self.inputs {
            total.add(&input.counts);
        }
        total
    }

    /// Inputs that could not be read.
    pub(crate) fn failed_inputs(&self) -> impl Iterator<Item = &InputReport> {
        self.inputs.iter().filter(|input| input.error.is_some())
    }
}

/// Options every format parser needs.
#[derive(Debug, Clone, Copy)]
pub struct IngestOptions {
    /// Kind for bare `host:port` lines that do not say what they are.
    pub default_kind: ProxyKind,
    /// Format to use instead of detection.
    pub forced_format: Option<InputFormat>,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            default_kind: ProxyKind::Socks5,
            forced_format: None,
        }
    }
}

/// The name an input is shown and recorded under: the name itself, except that a URL's
/// userinfo is hidden (`http://u:***@host/…`; a username alone, often an access token, as
/// `***@host`). The real URL serves only to fetch the list; every report, message and
/// published document shows this one.
pub fn shown_name(name: &str) -> Cow<'_, str> {
    if !read::is_url(name) {
        return Cow::Borrowed(name);
    }
    let Some(authority_start) = name.find("://").map(|at| at + 3) else {
        return Cow::Borrowed(name);
    };
    let rest = name.get(authority_start..).unwrap_or_default();
    let authority = rest.get(..rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    let Some(at) = authority.and_then(|authority| authority.rfind('@')) else {
        return Cow::Borrowed(name);
    };
    let userinfo = rest.get(..at).unwrap_or_default();
    let shown = match userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => "***".to_owned(),
    };
    Cow::Owned(format!(
        "{}{shown}{}",
        name.get(..authority_start).unwrap_or_default(),
        rest.get(at..).unwrap_or_default()
    ))
}

/// Where a format parser reports what it finds.
pub trait ItemSink {
    /// A proxy-looking item; `text` is the text as found (kept only if rejected).
    fn item(&mut self, location: Location, text: &str, outcome: Result<ProxySpec, SpecError>);
    /// A non-blank line or value with nothing proxy-like in it.
    fn ignored(&mut self);
}

/// Collects items from all inputs into an [`Inventory`], deduplicating across inputs.
#[derive(Debug)]
pub struct Collector {
    /// What parse options apply to every input.
    options: IngestOptions,
    /// The result so far.
    inventory: Inventory,
    /// Dedup key → index into `inventory.entries`.
    index: DedupIndex,
    /// Name of the input being read.
    current: Arc<str>,
    /// Counts for the input being read.
    counts: Counts,
}

impl Collector {
    /// A collector with nothing in it.
    pub fn new(options: IngestOptions) -> Self {
        Self {
            options,
            inventory: Inventory::default(),
            index: DedupIndex::default(),
            current: Arc::from(""),
            counts: Counts::default(),
        }
    }

    /// Reads one input to the end. A read error midway keeps what was read before it and
    /// is recorded on the input (and returned), so one bad input never stops the run.
    ///
    /// `name` is recorded as [`shown_name`] gives it (a URL's password hidden).
    pub fn read_input(&mut self, name: &str, reader: impl BufRead) -> Result<(), ReadError> {
        let mut reader = read::Sniffed::new(reader);
        let format = match self.options.forced_format {
            Some(format) => format,
            None => match reader.peek() {
                Ok(head) => detect::detect(name, head, head.len() < read::SNIFF_LEN),
                Err(error) => return Err(self.fail_input(name, InputFormat::Text, error.into())),
            },
        };
        self.current = Arc::from(shown_name(name).as_ref());
        self.counts = Counts::default();
        let options = self.options;
        // Two stages on two threads: this one reads and parses, the other deduplicates and
        // records. Items cross in batches so the hand-over costs little per item.
        let recorder_side = &mut *self;
        let result = std::thread::scope(|scope| {
            let (sender, receiver) = mpsc::sync_channel::<Batch>(BATCHES_IN_FLIGHT);
            // Emptied batches go back to the parser: reusing them saves allocating (and
            // page-faulting in) a fresh batch every 4096 items.
            let (recycle, recycled) = mpsc::channel::<Batch>();
            let recorder = scope.spawn(move || {
                for mut batch in receiver {
                    for found in batch.items.drain(..) {
                        recorder_side.record(found, &batch.text);
                    }
                    batch.text.clear();
                    let _ = recycle.send(batch);
                }
            });
            let mut sink = Batcher::new(sender, recycled);
            let result = match format {
                InputFormat::Text => {
                    text::parse(reader, &options, &mut sink).map_err(ReadError::from)
                }
                InputFormat::Html => {
                    html::parse(reader, &options, &mut sink).map_err(ReadError::from)
                }
                InputFormat::Json => json::parse(reader, &options, &mut sink),
                InputFormat::Csv | InputFormat::Tsv => {
                    csv::parse(reader, format, &options, &mut sink)
                }
            };
            sink.flush();
            drop(sink);
            if let Err(panic) = recorder.join() {
                std::panic::resume_unwind(panic);
            }
            result
        });
        let counts = std::mem::take(&mut self.counts);
        self.inventory.inputs.push(InputReport {
            name: Arc::clone(&self.current),
            format,
            counts,
            error: result.as_ref().err().map(ToString::to_string),
        });
        result
    }

    /// Records an input that could not be opened or fetched at all (under [`shown_name`]).
    pub(crate) fn fail_input(
        &mut self,
        name: &str,
        format: InputFormat,
        error: ReadError,
    ) -> ReadError {
        self.inventory.inputs.push(InputReport {
            name: Arc::from(shown_name(name).as_ref()),
            format,
            counts: Counts::default(),
            error: Some(error.to_string()),
        });
        error
    }

    /// The inventory of everything read.
    pub fn finish(self) -> Inventory {
        self.inventory
    }
}

/// Items handed from the parsing thread to the recording thread at a time.
const BATCH_LEN: usize = 4096;

/// Batches allowed in the channel before the parser waits (bounds memory).
const BATCHES_IN_FLIGHT: usize = 4;

/// One thing a parser reported, on its way to the recorder.
enum Found {
    /// A proxy-looking item; its text is `range` in the batch's text buffer (empty unless
    /// the recorder may need it).
    Item(Location, Range<usize>, Result<ProxySpec, SpecError>),
    /// A line or value with nothing proxy-like.
    Ignored,
}

/// Items on their way to the recorder, with the text they refer to in one buffer (one
/// allocation per batch instead of one per item, on the busier parsing thread).
#[derive(Default)]
struct Batch {
    /// The items, in input order.
    items: Vec<Found>,
    /// Their texts, back to back.
    text: String,
}

/// The parsing side of the pipeline: collects items into batches for the recorder.
struct Batcher {
    /// Items not yet sent.
    batch: Batch,
    /// Where full batches go.
    sender: mpsc::SyncSender<Batch>,
    /// Empty batches coming back from the recorder.
    recycled: mpsc::Receiver<Batch>,
}

impl Batcher {
    fn new(sender: mpsc::SyncSender<Batch>, recycled: mpsc::Receiver<Batch>) -> Self {
        Self {
            batch: Batch {
                items: Vec::with_capacity(BATCH_LEN),
                text: String::new(),
            },
            sender,
            recycled,
        }
    }

    fn push(&mut self, found: Found) {
        self.batch.items.push(found);
        if self.batch.items.len() >= BATCH_LEN {
            self.flush();
        }
    }

    /// Sends what is batched. The recorder only stops early by panicking, which `join`
    /// re-raises, so a failed send needs no handling here.
    fn flush(&mut self) {
        if !self.batch.items.is_empty() {
            let empty = self.recycled.try_recv().unwrap_or_else(|_| Batch {
                items: Vec::with_capacity(BATCH_LEN),
                text: String::new(),
            });
            let batch = std::mem::replace(&mut self.batch, empty);
            let _ = self.sender.send(batch);
        }
    }
}

impl ItemSink for Batcher {
    fn item(&mut self, location: Location, text: &str, outcome: Result<ProxySpec, SpecError>) {
        let outcome = outcome.and_then(refuse_replaced_credentials);
        // Kept for rejections (shown with the reason) and for single-line proxies (the
        // cleaned list gives them back exactly as the user wrote them).
        let start = self.batch.text.len();
        if outcome.is_err() || matches!(location, Location::Line(_)) {
            self.batch.text.push_str(text);
        }
        let range = start..self.batch.text.len();
        self.push(Found::Item(location, range, outcome));
    }

    fn ignored(&mut self) {
        self.push(Found::Ignored);
    }
}

/// Refuses a credential holding U+FFFD. Text, HTML and CSV inputs are decoded leniently
/// (one bad byte must not stop a list), which puts U+FFFD where bytes were not UTF-8; a
/// proxy read from there would be tried with a credential the list does not hold, so it is
/// [`SpecError::BadEncoding`] instead. (Hosts cannot hold it: IDNA refuses U+FFFD.)
fn refuse_replaced_credentials(spec: ProxySpec) -> Result<ProxySpec, SpecError> {
    let replaced = |field: &Option<String>| {
        field
            .as_deref()
            .is_some_and(|value| value.contains(char::REPLACEMENT_CHARACTER))
    };
    if replaced(&spec.username) {
        Err(SpecError::BadEncoding("username"))
    } else if replaced(&spec.password) {
        Err(SpecError::BadEncoding("password"))
    } else {
        Ok(spec)
    }
}

impl Collector {
    /// Records one item: rejected, duplicate, or a new entry.
    fn record(&mut self, found: Found, texts: &str) {
        let (location, text, outcome) = match found {
            Found::Item(location, range, outcome) => {
                (location, texts.get(range).unwrap_or_default(), outcome)
            }
            Found::Ignored => {
                self.counts.ignored += 1;
                return;
            }
        };
        let source = Source {
            input: Arc::clone(&self.current),
            location,
        };
        let spec = match outcome {
            Ok(spec) => spec,
            Err(reason) => {
                self.counts.rejected += 1;
                self.inventory.rejected.push(Rejected {
                    source,
                    text: text.to_owned(),
                    reason,
                });
                return;
            }
        };
        let next = self.inventory.entries.len();
        let entries = &self.inventory.entries;
        match self
            .index
            .insert(&spec, next, |i| entries.get(i).map(|entry| &entry.spec))
        {
            Seen::Before(first) => {
                self.counts.duplicates += 1;
                if let Some(entry) = self.inventory.entries.get_mut(first) {
                    entry.duplicates.push(source);
                }
            }
            Seen::New { id } => {
                self.counts.entries += 1;
                let written = (!text.is_empty()).then(|| {
                    let start = self.inventory.written.len();
                    self.inventory.written.push_str(text);
                    start..self.inventory.written.len()
                });
                self.inventory.entries.push(Entry {
                    id,
                    address_class: AddressClass::of_host(&spec.host),
                    spec,
                    source,
                    duplicates: Vec::new(),
                    written,
                });
            }
        }
    }
}

/// Why an input could not be read (fully).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The OS refused (missing file, permission, broken stream…).
    #[error("{0}")]
    Io(#[from] io::Error),
    /// A structured input (JSON, CSV) is malformed.
    #[error("{0}")]
    Syntax(String),
    /// A URL could not be fetched.
    #[error("{0}")]
    Fetch(String),
}

/// Helpers shared by the format parsers' unit tests.
#[cfg(test)]
pub(crate) mod test_support {
    use super::{Collector, Counts, IngestOptions, InputFormat, Inventory, ReadError};

    /// Reads `text` as one input named `name`, in `format` (detected when `None`).
    pub(crate) fn ingest_as(
        format: Option<InputFormat>,
        name: &str,
        text: &str,
    ) -> Result<Inventory, ReadError> {
        let mut collector = Collector::new(IngestOptions {
            forced_format: format,
            ..IngestOptions::default()
        });
        collector.read_input(name, std::io::Cursor::new(text.to_owned()))?;
        Ok(collector.finish())
    }

    /// `(entries, duplicates, rejected, ignored)` over all inputs.
    pub(crate) fn counts(inventory: &Inventory) -> (u64, u64, u64, u64) {
        let Counts {
            entries,
            duplicates,
            rejected,
            ignored,
        } = inventory.totals();
        (entries, duplicates, rejected, ignored)
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{counts, ingest_as};
    use super::*;

    #[test]
    fn url_credentials_are_hidden_in_input_names() {
        let cases = [
            (
                "http://u:hunter2@lists.example/p.txt",
                "http://u:***@lists.example/p.txt",
            ),
            (
                "HTTPS://ghp_token@raw.example/a?b=c",
                "HTTPS://***@raw.example/a?b=c",
            ),
            ("https://u:p@a@h.example", "https://u:***@h.example"),
            (
                "https://h.example/path@x?y@z",
                "https://h.example/path@x?y@z",
            ),
            ("lists/u:p@file.txt", "lists/u:p@file.txt"),
            ("-", "-"),
        ];
        for (name, shown) in cases {
            assert_eq!(shown_name(name), shown, "{name}");
        }
    }

    #[test]
    fn inputs_are_recorded_under_their_shown_name() {
        // Regression: the password appeared in every source, the input list and stderr.
        let url = "http://u:hunter2@lists.example/p.txt";
        let mut collector = Collector::new(IngestOptions::default());
        collector
            .read_input(
                url,
                io::Cursor::new("socks5://1.2.3.4:1080\nbad:0\n1.2.3.4:0\n"),
            )
            .unwrap();
        let _ = collector.fail_input(
            "https://v:pw2@down.example/",
            InputFormat::Text,
            ReadError::Fetch("server answered 404".into()),
        );
        let inventory = collector.finish();
        let names: Vec<_> = inventory.inputs.iter().map(|i| &*i.name).collect();
        assert_eq!(
            names,
            [
                "http://u:***@lists.example/p.txt",
                "https://v:***@down.example/"
            ]
        );
        assert_eq!(
            &*inventory.entries[0].source.input,
            "http://u:***@lists.example/p.txt"
        );
        assert_eq!(
            &*inventory.rejected[0].source.input,
            "http://u:***@lists.example/p.txt"
        );
    }

    #[test]
    fn credentials_from_bytes_that_are_not_utf8_are_rejected() {
        // Regression: `user=` followed by such bytes silently lost the credentials (the
        // link stopped there), and `u:\xff@host` kept U+FFFD as the password.
        let mut bytes = b"tg://socks?server=a.example&port=1&user=\xff\xfe&pass=x\n".to_vec();
        bytes.extend_from_slice(b"socks5://u:\xff@b.example:1\n");
        bytes.extend_from_slice(b"u:\xff@c.example:1\n");
        bytes.extend_from_slice(b"Server: d.example\nPort: 1\nUser: \xffbob\n\n");
        bytes.extend_from_slice(b"socks5://1.2.3.4:1080\xff\n");
        let mut collector = Collector::new(IngestOptions::default());
        collector
            .read_input("latin1.txt", io::Cursor::new(bytes))
            .unwrap();
        let inventory = collector.finish();
        let rejected: Vec<_> = inventory
            .rejected
            .iter()
            .map(|r| (r.source.location.to_string(), r.reason.to_string()))
            .collect();
        let at = |place: &str, why: &str| (place.to_owned(), why.to_owned());
        assert_eq!(
            rejected,
            [
                at("line 1", "the username is not valid UTF-8"),
                at("line 2", "the password is not valid UTF-8"),
                at("line 3", "the password is not valid UTF-8"),
                at("lines 4-6", "the username is not valid UTF-8"),
            ]
        );
        assert_eq!(inventory.rejected[0].reason.code(), "bad_encoding");
        // A byte glued after a link's port is not part of it.
        let hosts: Vec<_> = inventory.entries.iter().map(|e| &*e.spec.host).collect();
        assert_eq!(hosts, ["1.2.3.4"]);
    }

    #[test]
    fn a_non_ascii_host_is_never_cut_short() {
        // Regression: `socks5://lоcalhost:1080` (Cyrillic о) was read as host `l`.
        let inventory = ingest_as(None, "-", "socks5://l\u{43e}calhost:1080\n").unwrap();
        assert_eq!(counts(&inventory), (1, 0, 0, 0));
        let entry = &inventory.entries[0];
        assert_eq!(
            (&*entry.spec.host, entry.spec.port),
            ("xn--lcalhost-nbh", 1080)
        );
        assert_eq!(
            inventory.as_written(entry),
            Some("socks5://l\u{43e}calhost:1080")
        );
    }
}
