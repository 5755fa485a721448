//! Reports: one module per output format, all fed by the serde types in `types`.
//!
//! Reports never touch the network or the parsers: they render an [`Inventory`].

pub mod audit;
pub mod clean;
pub(crate) mod csv_out;
pub mod fingerprint;
pub mod html;
pub mod json;
pub mod links;
pub(crate) mod markdown;
pub mod redact;
pub mod table;
pub(crate) mod types;

use std::io::{self, Write};

use crate::ingest::Inventory;

/// Output formats of `parse`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Human table; secrets and passwords redacted.
    Table,
    /// One JSON document (full secrets, meant to be read back).
    Json,
    /// One JSON entry per line, then rejected items, then a summary line.
    Ndjson,
    /// One normalised link per unique entry (a cleaned list).
    Links,
}

/// Writes an inventory in the chosen format.
pub fn write(inventory: &Inventory, format: OutputFormat, out: &mut dyn Write) -> io::Result<()> {
    match format {
        OutputFormat::Table => table::write(inventory, out),
        OutputFormat::Json => json::write_document(inventory, out),
        OutputFormat::Ndjson => json::write_lines(inventory, out),
        OutputFormat::Links => links::write(inventory, out),
    }
}
