//! What the user sees while the pipeline runs: its [`Events`] shown on the terminal. An
//! input that cannot be read is named on standard error, probing shows a progress bar
//! (hidden with `--quiet` or when standard error is not a terminal), and each entry goes to
//! the NDJSON outputs as soon as it finishes.

use std::io::{self, IsTerminal};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::reports::Target;
use crate::cli::AuditFormat;
use crate::ingest::ReadError;
use crate::output::Output;
use crate::pipeline::{Events, Tally};
use crate::report::audit::{AuditedEntry, write_ndjson_entry};

/// The pipeline's events on the terminal and the NDJSON outputs.
pub(super) struct Console<'a> {
    /// No progress bar (`--quiet`).
    quiet: bool,
    /// The progress bar, while probing.
    bar: Option<ProgressBar>,
    /// The NDJSON outputs, which get each entry as it finishes.
    streams: Vec<&'a mut Output>,
    /// The first failed write to a stream (the run goes on; the command then fails).
    write_error: Option<io::Error>,
}

impl<'a> Console<'a> {
    /// Events for a command that only reads inputs.
    pub(super) fn new() -> Self {
        Self {
            quiet: true,
            bar: None,
            streams: Vec::new(),
            write_error: None,
        }
    }

    /// Events for an audit writing to `targets` (the NDJSON ones stream).
    pub(super) fn streaming(quiet: bool, targets: &'a mut [Target]) -> Self {
        Self {
            quiet,
            bar: None,
            streams: targets
                .iter_mut()
                .filter(|target| target.format == AuditFormat::Ndjson)
                .map(|target| &mut target.out)
                .collect(),
            write_error: None,
        }
    }

    /// Done: the first write to a stream that failed, if any.
    pub(super) fn finish(self) -> io::Result<()> {
        self.write_error.map_or(Ok(()), Err)
    }
}

impl Events for Console<'_> {
    fn input_failed(&mut self, name: &str, error: &ReadError) {
        eprintln!("proxy-audit: cannot read {name}: {error}");
    }

    fn probing_started(&mut self, entries: usize) {
        self.bar = Some(progress_bar(entries as u64, self.quiet));
    }

    fn entry_audited(&mut self, tally: Tally, entry: Option<&AuditedEntry>) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
            bar.set_message(format!("{} alive, {} flagged", tally.alive, tally.flagged));
        }
        let Some(entry) = entry else {
            return;
        };
        for out in &mut self.streams {
            if let Err(error) = write_ndjson_entry(entry, &mut **out) {
                self.write_error.get_or_insert(error);
            }
        }
    }

    fn probing_finished(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// Progress on standard error: hidden when it is not a terminal or with `--quiet`.
fn progress_bar(total: u64, quiet: bool) -> ProgressBar {
    if quiet || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} · {per_sec} · ETA {eta}")
    {
        bar.set_style(style);
    }
    bar
}
