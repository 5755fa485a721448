//! The audit pipeline as library calls: ingest → policy → probe → score → report.
//!
//! It sits above the report layer and below the commands. Nothing here prints or writes a
//! file: what a running pipeline has to tell (an input that could not be read, progress,
//! each entry as it finishes) goes to the caller's [`Events`], and the results come back as
//! values (an [`Inventory`], an [`AuditReport`]). The `proxy-audit` commands are one caller;
//! another program audits a list the same way:
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//!
//! use proxy_audit::checks::AuditOptions;
//! use proxy_audit::ingest::IngestOptions;
//! use proxy_audit::ingest::read::FetchLimits;
//! use proxy_audit::model::Check;
//! use proxy_audit::pipeline::{self, AuditRequest, Silent};
//! use proxy_audit::rules::RuleSet;
//!
//! let inputs = ["list.txt".to_owned()];
//! let inventory =
//!     pipeline::ingest(&inputs, IngestOptions::default(), FetchLimits::default(), &mut Silent)
//!         .await;
//! let profile = pipeline::load_profile(None)?;
//! let options = AuditOptions {
//!     concurrency: 256,
//!     per_host: 4,
//!     step_timeout: Duration::from_secs(5),
//!     entry_deadline: Duration::from_secs(30),
//!     checks: Check::ALL.into_iter().collect(),
//!     allow_private: false,
//!     dc: 2,
//! };
//! let request = AuditRequest::new(profile.profile, RuleSet::built_in()?, options);
//! let report = pipeline::audit(&inventory, request, std::future::pending(), &mut Silent).await?;
//! println!("{} entries, {} alive", report.summary.parse.entries, report.summary.alive);
//! # Ok(())
//! # }
//! ```
//!
//! - [`ingest()`]: inputs (files, standard input, URLs) into one [`Inventory`].
//! - [`audit()`]: an inventory probed and scored into an [`AuditReport`].
//! - [`trusted_list`], [`sign_list`]: what `--emit-trusted` and `--sign` publish.

mod audit;
mod ingest;
mod publish;

use std::io;
use std::path::PathBuf;

pub use audit::{AuditRequest, LoadedProfile, Tally, audit, load_profile};
pub use ingest::{ingest, ingest_text};
pub use publish::{sign_list, trusted_list};

use crate::checks::SetupError;
use crate::config::FileError;
#[cfg(doc)]
use crate::ingest::Inventory;
use crate::ingest::ReadError;
#[cfg(doc)]
use crate::report::audit::AuditReport;
use crate::report::audit::AuditedEntry;

/// What a running pipeline tells its caller. Every method does nothing by default; the
/// command line implements them as stderr messages, a progress bar and NDJSON lines.
pub trait Events {
    /// An input could not be read. It is recorded in the inventory as failed, and the other
    /// inputs are still read.
    fn input_failed(&mut self, name: &str, error: &ReadError) {
        let _ = (name, error);
    }

    /// Probing starts, for `entries` entries.
    fn probing_started(&mut self, entries: usize) {
        let _ = entries;
    }

    /// One entry finished (in completion order). `entry` is its scored report line when the
    /// request streams entries or does not keep them; `tally` counts the entries so far.
    fn entry_audited(&mut self, tally: Tally, entry: Option<&AuditedEntry>) {
        let _ = (tally, entry);
    }

    /// Probing ended (every entry finished, or the run was interrupted).
    fn probing_finished(&mut self) {}
}

/// Events nobody listens to.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Events for Silent {}

/// Why the pipeline could not run.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A file (the profile) could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The profile is not valid.
    #[error(transparent)]
    Profile(#[from] FileError),
    /// The checks could not be prepared from the profile (a key file, the datacenter).
    #[error(transparent)]
    Setup(#[from] SetupError),
}

/// Raises the open-files soft limit to the hard limit, so high concurrency does not run
/// out of descriptors. Failing to raise it is not fatal: connections then fail one by one.
/// [`audit()`] calls it; a caller starting the lab first calls it too.
pub(crate) fn raise_open_files_limit() {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
}

/// Now, RFC 3339 in UTC.
fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
