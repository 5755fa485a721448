//! The pipeline's main stage: an [`Inventory`] probed (policy and checks, in
//! [`crate::checks`]), each result scored by the [`Verdicts`], and the whole assembled into
//! an [`AuditReport`]. Progress and each finished entry go to the caller's [`Events`].

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::{Events, PipelineError, now_rfc3339, raise_open_files_limit};
use crate::checks::{self, AuditContext, AuditOptions};
use crate::config::Profile;
use crate::ingest::Inventory;
use crate::model::{Check, ProbeResult, Status};
use crate::report::audit::{self as audit_report, AuditReport, AuditSummary, is_flagged};
use crate::rules::RuleSet;
#[cfg(doc)]
use crate::rules::Verdicts;

/// Everything an audit needs besides the inventory.
#[derive(Debug, Clone)]
pub struct AuditRequest {
    /// Where the checks point (canaries, judge, Telegram keys).
    pub profile: Profile,
    /// SHA-256 of the profile's text, for the report (empty for a profile without a file,
    /// as the demo's lab).
    pub profile_digest: String,
    /// What the checks consult and what the verdicts come from.
    pub rules: RuleSet,
    /// How to probe: the checks, concurrency, timeouts.
    pub probe: AuditOptions,
    /// Where the audit runs from, recorded in the report (for merging).
    pub vantage: Option<String>,
    /// Record when probing started and finished in the report (the demo does not).
    pub timestamps: bool,
    /// Keep every entry for the report. Without it (when every output streams), the report
    /// has the summary, inputs and rejected items but no `entries`, and the memory an audit
    /// needs no longer grows with its results: every entry is then handed to
    /// [`Events::entry_audited`], those an interruption left unfinished too (as
    /// `not_audited`, after probing ends), so a stream holds every entry.
    pub keep_entries: bool,
    /// Hand each entry's scored line to [`Events::entry_audited`] as it finishes, although
    /// the entries are kept (they always are handed over when not kept).
    pub stream_entries: bool,
}

impl AuditRequest {
    /// An audit of `profile` with `probe`, judged by `rules`: every entry kept for the
    /// report, nothing streamed, times recorded, no vantage and no profile digest.
    pub fn new(profile: Profile, rules: RuleSet, probe: AuditOptions) -> Self {
        Self {
            profile,
            profile_digest: String::new(),
            rules,
            probe,
            vantage: None,
            timestamps: true,
            keep_entries: true,
            stream_entries: false,
        }
    }
}

/// A profile with the digest of the text it came from.
#[derive(Debug, Clone)]
pub struct LoadedProfile {
    /// The profile.
    pub profile: Profile,
    /// SHA-256 (lower-case hex) of the profile file's bytes, or of the built-in profile.
    pub digest: String,
}

/// The profile at `path`, or the built-in `internet` profile.
///
/// # Errors
/// When the file cannot be read or is not a valid profile.
pub fn load_profile(path: Option<&Path>) -> Result<LoadedProfile, PipelineError> {
    Ok(match path {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|source| PipelineError::Read {
                path: path.to_owned(),
                source,
            })?;
            let digest = sha256_hex(&bytes);
            LoadedProfile {
                profile: Profile::load(path)?,
                digest,
            }
        }
        None => LoadedProfile {
            profile: Profile::internet()?,
            digest: sha256_hex(crate::config::INTERNET_PROFILE.as_bytes()),
        },
    })
}

/// Lower-case hex SHA-256.
fn sha256_hex(bytes: &[u8]) -> String {
    crate::proto::hex::to_hex(&Sha256::digest(bytes))
}

/// Entries finished so far, as [`Events::entry_audited`] sees them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Entries finished.
    pub done: u64,
    /// Of them, the ones that worked.
    pub alive: u64,
    /// Of them, the ones with a finding of severity low or worse.
    pub flagged: u64,
    /// Position in the inventory of the entry that just finished (a streamed JSON document
    /// puts each entry back in input order by it).
    pub index: usize,
}

/// Probes every entry of `inventory` and scores it: the report, whose `interrupted` is true
/// when `interrupt` completed first (entries without a result are then `not_audited`). The
/// process's open-files limit is raised first (`raise_open_files_limit`).
///
/// # Errors
/// When the checks cannot be prepared from the profile (nothing was probed).
pub async fn audit(
    inventory: &Inventory,
    request: AuditRequest,
    interrupt: impl Future<Output = ()>,
    events: &mut dyn Events,
) -> Result<AuditReport, PipelineError> {
    let AuditRequest {
        profile,
        profile_digest,
        rules,
        probe,
        vantage,
        timestamps,
        keep_entries,
        stream_entries,
    } = request;
    let RuleSet {
        probe: probe_rules,
        verdicts,
        digest: rules_digest,
    } = rules;
    let started = timestamps.then(now_rfc3339);
    raise_open_files_limit();
    let profile_name = profile.name.clone();
    let checks: Vec<Check> = probe.checks.iter().copied().collect();
    let verdicts = &verdicts;
    let context = Arc::new(AuditContext::new(profile, probe_rules, probe)?);

    events.probing_started(inventory.entries.len());
    let mut results: Vec<Option<ProbeResult>> = Vec::new();
    if keep_entries {
        results.resize_with(inventory.entries.len(), || None);
    }
    let mut summary = AuditSummary::of(inventory);
    let mut tally = Tally::default();
    // Without kept results, which entries finished (one byte each, not a result each).
    let mut finished: Vec<bool> = Vec::new();
    if !keep_entries {
        finished.resize(inventory.entries.len(), false);
    }
    let interrupted = checks::run(&inventory.entries, context, interrupt, |index, result| {
        tally.done += 1;
        tally.index = index;
        tally.alive += u64::from(result.status == Status::Alive);
        tally.flagged += u64::from(is_flagged(&result));
        let line = inventory.entries.get(index).and_then(|entry| {
            let kept = if keep_entries {
                results.get_mut(index)
            } else {
                None
            };
            if let Some(slot) = kept {
                let line = stream_entries
                    .then(|| audit_report::audited(inventory, entry, result.clone(), verdicts));
                *slot = Some(result);
                line
            } else {
                if let Some(done) = finished.get_mut(index) {
                    *done = true;
                }
                let line = audit_report::audited(inventory, entry, result, verdicts);
                summary.add(&line.result, line.scored.verdict);
                Some(line)
            }
        });
        events.entry_audited(tally, line.as_ref());
    })
    .await;
    events.probing_finished();
    // Streamed: the entries an interruption left unfinished go out too, as in a kept report.
    let unfinished = finished.iter().enumerate().filter(|(_, done)| !**done);
    for (index, entry) in unfinished.filter_map(|(i, _)| Some((i, inventory.entries.get(i)?))) {
        let result = ProbeResult::not_audited("no result");
        let line = audit_report::audited(inventory, entry, result, verdicts);
        summary.add(&line.result, line.scored.verdict);
        tally.index = index;
        events.entry_audited(tally, Some(&line));
    }

    let mut report = if keep_entries {
        // Built in one pass at the end: building each entry's report as its result arrives
        // interleaves long-lived allocations with the probes' short-lived ones, and peak RSS
        // tripled (fragmentation) in the 10k benchmark.
        let results = results
            .into_iter()
            .map(|result| result.unwrap_or_else(|| ProbeResult::not_audited("no result")))
            .collect();
        AuditReport::new(
            inventory,
            results,
            verdicts,
            &profile_name,
            checks,
            interrupted,
        )
    } else {
        AuditReport::assemble(
            inventory,
            Vec::new(),
            summary,
            &profile_name,
            checks,
            interrupted,
        )
    };
    report.rules_digest = rules_digest;
    report.profile_digest = profile_digest;
    report.vantage = vantage;
    if let Some(started) = started {
        report.started = started;
        report.finished = now_rfc3339();
    }
    Ok(report)
}
