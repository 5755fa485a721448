//! The pipeline's first stage: inputs (files, standard input, `http(s)://` URLs, or a text
//! in memory) read into one [`Inventory`], deduplicated as they are read. An input that
//! cannot be read is recorded in the inventory and told to the caller's [`Events`]; the
//! others are still read.

use std::io;

use super::Events;
use crate::ingest::read::{FetchLimits, fetch, is_url, open_local};
use crate::ingest::{Collector, IngestOptions, InputFormat, Inventory, ReadError};

/// Reads every input (a path, `-` for standard input, or a URL fetched within `limits`,
/// a loopback or private one, or a redirect there, only with `limits.allow_private`) into
/// one inventory, in order. A failure is recorded in the inventory (its input's
/// `error`) and reported to `events`.
pub async fn ingest(
    inputs: &[String],
    options: IngestOptions,
    limits: FetchLimits,
    events: &mut dyn Events,
) -> Inventory {
    let mut collector = Collector::new(options);
    for name in inputs {
        let result = if is_url(name) {
            match fetch(name, limits).await {
                Ok(body) => collector.read_input(name, io::Cursor::new(body)),
                Err(error) => Err(collector.fail_input(name, InputFormat::Text, error)),
            }
        } else {
            match open_local(name) {
                Ok(reader) => collector.read_input(name, reader),
                Err(error) => Err(collector.fail_input(name, InputFormat::Text, error.into())),
            }
        };
        if let Err(error) = result {
            events.input_failed(&crate::ingest::shown_name(name), &error);
        }
    }
    collector.finish()
}

/// Reads one text already in memory (the lab's list, say), named `name` in the inventory.
///
/// # Errors
/// When the text is a structured input (JSON, CSV) that is malformed.
pub fn ingest_text(name: &str, text: &str, options: IngestOptions) -> Result<Inventory, ReadError> {
    let mut collector = Collector::new(options);
    collector.read_input(name, io::Cursor::new(text))?;
    Ok(collector.finish())
}
