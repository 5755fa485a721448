//! JSON and NDJSON output. The document layout is documented on `super::types`.
//!
//! NDJSON: one entry object per line (the same objects as the document's `entries`), then
//! one `{"rejected": {…}}` line per rejected item, then one `{"summary": {…}}` line.
//!
//! [`EntrySpool`] is how the audit's JSON document is streamed: entries go to disk as they
//! finish and are read back one at a time, in input order, when the document is written.

use std::fs::File;
use std::io::{self, BufWriter, Read as _, Seek as _, SeekFrom, Write};
use std::path::Path;

use serde::Serialize;

use super::audit::AuditedEntry;
use super::types::{EntryOut, ParseReport, RejectedOut, Summary};
use crate::ingest::Inventory;

/// Writes the whole report as one pretty-printed JSON document.
pub(crate) fn write_document(inventory: &Inventory, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &ParseReport::of(inventory))?;
    writeln!(out)
}

/// Writes entries, rejected items and the summary as newline-delimited JSON.
pub(crate) fn write_lines(inventory: &Inventory, out: &mut dyn Write) -> io::Result<()> {
    /// Wrapper lines, so each record kind is recognisable by its only key.
    #[derive(Serialize)]
    #[serde(rename_all = "snake_case")]
    enum Line<'a> {
        Rejected(&'a RejectedOut),
        Summary(&'a Summary),
    }
    for entry in &inventory.entries {
        serde_json::to_writer(&mut *out, &EntryOut::of(entry, inventory))?;
        writeln!(out)?;
    }
    for rejected in &inventory.rejected {
        serde_json::to_writer(&mut *out, &Line::Rejected(&RejectedOut::from(rejected)))?;
        writeln!(out)?;
    }
    serde_json::to_writer(&mut *out, &Line::Summary(&Summary::of(inventory)))?;
    writeln!(out)
}

/// Audit entries written out as they finish, for a JSON document whose head (the summary)
/// is known only at the end and whose entries go in input order: each entry is appended to
/// a file as one compact JSON line, and its place is remembered by its input position.
/// [`EntrySpool::finish`] gives them back one at a time, in input order, for
/// `report::audit::write_json_with`, so the document never holds every entry in memory:
/// a million entries cost 16 MB of positions here, and the spool's bytes are on disk.
#[derive(Debug)]
pub struct EntrySpool {
    /// The spool file (an unnamed temporary), written through a buffer.
    out: BufWriter<File>,
    /// Byte offset and length of each entry, by input position; length 0: not there.
    spans: Vec<(u64, u32)>,
    /// Bytes written so far.
    end: u64,
    /// Reused for each entry's JSON.
    line: Vec<u8>,
}

impl EntrySpool {
    /// A spool in a new unnamed temporary file in `folder` (the report's folder, so the
    /// spool is on the disk the report will be on), or in the system's temporary folder.
    ///
    /// # Errors
    /// When the temporary file cannot be made.
    pub fn new(folder: Option<&Path>) -> io::Result<Self> {
        let file = match folder {
            Some(folder) => tempfile::tempfile_in(folder)?,
            None => tempfile::tempfile()?,
        };
        Ok(Self {
            out: BufWriter::new(file),
            spans: Vec::new(),
            end: 0,
            line: Vec::new(),
        })
    }

    /// Appends the entry at input position `index`.
    ///
    /// # Errors
    /// When the spool cannot be written.
    pub fn push(&mut self, index: usize, entry: &AuditedEntry) -> io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, entry)?;
        let len = u32::try_from(self.line.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "entry over 4 GiB"))?;
        self.out.write_all(&self.line)?;
        if self.spans.len() <= index {
            self.spans.resize(index + 1, (0, 0));
        }
        if let Some(span) = self.spans.get_mut(index) {
            *span = (self.end, len);
        }
        self.end += u64::from(len);
        Ok(())
    }

    /// The entries written, ready to be serialised in input order; there must be `count`.
    ///
    /// # Errors
    /// When the spool cannot be flushed, or an entry is missing.
    pub fn finish(self, count: usize) -> io::Result<SpooledEntries> {
        let file = self
            .out
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        let mut spans = self.spans;
        spans.resize(count, (0, 0));
        if let Some(missing) = spans.iter().position(|&(_, len)| len == 0) {
            return Err(io::Error::other(format!("entry {missing} never finished")));
        }
        Ok(SpooledEntries { file, spans })
    }
}

/// Spooled entries, serialised (as a JSON array) by reading each back in input order.
#[derive(Debug)]
pub struct SpooledEntries {
    /// The spool.
    file: File,
    /// Byte offset and length of each entry, in input order.
    spans: Vec<(u64, u32)>,
}

impl Serialize for SpooledEntries {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeSeq as _};
        let mut seq = serializer.serialize_seq(Some(self.spans.len()))?;
        let mut line = Vec::new();
        for &(offset, len) in &self.spans {
            line.resize(len as usize, 0);
            (&self.file)
                .seek(SeekFrom::Start(offset))
                .and_then(|_| (&self.file).read_exact(&mut line))
                .map_err(S::Error::custom)?;
            let entry: AuditedEntry = serde_json::from_slice(&line).map_err(S::Error::custom)?;
            seq.serialize_element(&entry)?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::super::audit::{write_json, write_json_with};
    use super::super::csv_out::tests::sample_report;
    use super::*;

    /// The spooled document is byte for byte the one written from memory, whatever order
    /// the entries finished in.
    #[test]
    fn a_spooled_document_is_the_document_written_from_memory() {
        let mut report = sample_report();
        let result = report.entries[0].result.clone();
        report.entries[0]
            .vantages
            .push(super::super::audit::VantageResult {
                vantage: "v".into(),
                result,
            });
        let mut expected = Vec::new();
        write_json(&report, &mut expected).unwrap();
        let mut spool = EntrySpool::new(None).unwrap();
        for (index, entry) in report.entries.iter().enumerate().rev() {
            spool.push(index, entry).unwrap();
        }
        let entries = spool.finish(report.entries.len()).unwrap();
        let mut streamed = Vec::new();
        write_json_with(&report, &entries, &mut streamed).unwrap();
        assert_eq!(
            String::from_utf8(streamed).unwrap(),
            String::from_utf8(expected.clone()).unwrap()
        );
        // And the derived layout is the document's: serde sees the same bytes.
        let mut derived = serde_json::to_vec_pretty(&report).unwrap();
        derived.push(b'\n');
        assert_eq!(derived, expected);
    }

    #[test]
    fn a_missing_entry_is_an_error_not_a_short_document() {
        let report = sample_report();
        let mut spool = EntrySpool::new(None).unwrap();
        spool.push(0, &report.entries[0]).unwrap();
        spool.push(2, &report.entries[2]).unwrap();
        let err = spool.finish(3).unwrap_err();
        assert!(err.to_string().contains("entry 1"), "{err}");
    }
}
