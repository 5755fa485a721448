//! JSON and NDJSON output. The document layout is documented on `super::types`.
//!
//! NDJSON: one entry object per line (the same objects as the document's `entries`), then
//! one `{"rejected": {…}}` line per rejected item, then one `{"summary": {…}}` line.

use std::io::{self, Write};

use serde::Serialize;

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
