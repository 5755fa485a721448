//! `proxy-audit rescore` and `proxy-audit merge`: saved JSON reports judged again by the
//! rules (one report, or several vantages' merged into one), without probing. A redacted
//! report stays redacted; `merge` takes reports redacted with one key, or plain ones.

use std::path::Path;

use anyhow::{Context, Result};

use super::reports::{Publishing, open_targets};
use crate::cli::{Exit, MergeArgs, RescoreArgs};
use crate::report::audit::AuditReport;
use crate::rules::RuleSet;

/// Reads a saved JSON audit report.
fn read_report(path: &Path) -> Result<AuditReport> {
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&text)
        .with_context(|| format!("{} is not an audit JSON report", path.display()))
}

/// `proxy-audit merge`: reports from several vantages as one.
pub(super) fn merge(args: &MergeArgs) -> Result<Exit> {
    let publishing = Publishing::prepare(&args.output)?;
    let reports = args
        .reports
        .iter()
        .map(|path| Ok((path.display().to_string(), read_report(path)?)))
        .collect::<Result<Vec<_>>>()?;
    let rules = RuleSet::load(args.output.rules.as_deref())?;
    let mut report = AuditReport::merge(reports, &rules.verdicts, &rules.digest)?;
    let targets = open_targets(&args.output)?;
    Ok(
        if publishing.publish(&mut report, targets, None, false, &args.output)? {
            Exit::Rejected
        } else {
            Exit::Success
        },
    )
}

/// `proxy-audit rescore`: the saved observations judged again.
pub(super) fn rescore(args: &RescoreArgs) -> Result<Exit> {
    let publishing = Publishing::prepare(&args.output)?;
    let mut report = read_report(&args.report)?;
    let rules = RuleSet::load(args.output.rules.as_deref())?;
    report.rescore(&rules.verdicts, &rules.digest);
    let targets = open_targets(&args.output)?;
    Ok(
        if publishing.publish(&mut report, targets, None, false, &args.output)? {
            Exit::Rejected
        } else {
            Exit::Success
        },
    )
}
