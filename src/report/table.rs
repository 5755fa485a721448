//! The human table: entries, then rejected items with their reasons, then per-input counts
//! and totals. Secrets and passwords are redacted here, always.

use std::io::{self, Write};

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};

use super::redact::redact_text;
use super::types::Summary;
use crate::ingest::{Entry, Inventory};

/// Longest rejected text shown; the rest is cut with `…`.
const MAX_TEXT: usize = 100;

/// Writes the table report.
pub fn write(inventory: &Inventory, out: &mut dyn Write) -> io::Result<()> {
    if !inventory.entries.is_empty() {
        let mut table = Table::new();
        table
            .load_preset(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Disabled)
            .set_header([
                "id",
                "kind",
                "endpoint",
                "secret / user",
                "address",
                "source",
                "seen",
            ]);
        for entry in &inventory.entries {
            table.add_row(row(entry));
        }
        writeln!(out, "{table}")?;
    }
    if !inventory.rejected.is_empty() {
        writeln!(out, "\nRejected ({}):", inventory.rejected.len())?;
        for rejected in &inventory.rejected {
            writeln!(
                out,
                "  {}: {}\n      {}",
                rejected.source,
                rejected.reason,
                shorten(&redact_text(&rejected.text))
            )?;
        }
    }
    if inventory.inputs.len() > 1 {
        writeln!(out)?;
        for input in &inventory.inputs {
            let c = &input.counts;
            write!(
                out,
                "  {} ({}): {} entries, {} duplicates, {} rejected, {} ignored",
                input.name, input.format, c.entries, c.duplicates, c.rejected, c.ignored
            )?;
            match &input.error {
                Some(error) => writeln!(out, " — not read to the end: {error}")?,
                None => writeln!(out)?,
            }
        }
    }
    let s = Summary::of(inventory);
    writeln!(
        out,
        "\n{} input{}: {} entries, {} duplicates, {} rejected, {} ignored",
        s.inputs,
        if s.inputs == 1 { "" } else { "s" },
        s.entries,
        s.duplicates,
        s.rejected,
        s.ignored
    )
}

/// One table row; credentials redacted.
fn row(entry: &Entry) -> [String; 7] {
    let spec = &entry.spec;
    let credentials = match (&spec.secret, &spec.username) {
        (Some(secret), _) => match secret.faketls_domain() {
            Some(domain) => format!("{} {domain}", secret.redacted()),
            None => secret.redacted(),
        },
        (None, Some(user)) if spec.password.is_some() => format!("{user}:***"),
        (None, Some(user)) => user.clone(),
        (None, None) => String::new(),
    };
    [
        entry.id.to_string(),
        spec.kind.to_string(),
        spec.endpoint(),
        credentials,
        entry.address_class.to_string(),
        entry.source.to_string(),
        (1 + entry.duplicates.len()).to_string(),
    ]
}

/// Cuts long text for display.
fn shorten(text: &str) -> String {
    if text.chars().count() <= MAX_TEXT {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(MAX_TEXT).collect();
    short.push('…');
    short
}
