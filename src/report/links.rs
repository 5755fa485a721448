//! The cleaned list: one normalised link per unique entry, in the order first seen.
//! Secrets are kept: this output is meant to be imported.

use std::io::{self, Write};

use crate::ingest::Inventory;

/// Writes one link per entry.
pub fn write(inventory: &Inventory, out: &mut dyn Write) -> io::Result<()> {
    for entry in &inventory.entries {
        writeln!(out, "{}", entry.spec.to_link())?;
    }
    Ok(())
}
