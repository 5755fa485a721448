//! `proxy-audit audit`: the whole pipeline on the inputs, then the reports, the cleaned and
//! trusted lists, and the exit status.

use std::collections::BTreeSet;

use anyhow::Result;

use super::console::Console;
use super::interrupt_signal;
use super::parse::read_inputs;
use super::reports::{finish_report, keeps_entries, open_targets, streams_entries, write_targets};
use crate::checks::AuditOptions;
use crate::cli::{AuditArgs, Exit, ProbeArgs};
use crate::model::Check;
use crate::pipeline::{self, AuditRequest};
use crate::rules::RuleSet;

/// `proxy-audit audit`.
pub(super) async fn audit(args: AuditArgs) -> Result<Exit> {
    let interrupt = interrupt_signal();
    let profile = pipeline::load_profile(args.profile.as_deref())?;
    let rules = RuleSet::load(args.report.rules.as_deref())?;
    let mut targets = open_targets(&args.report)?;
    let request = AuditRequest {
        profile_digest: profile.digest,
        vantage: args.vantage.clone(),
        keep_entries: keeps_entries(&targets, &args.report),
        stream_entries: streams_entries(&targets),
        ..AuditRequest::new(
            profile.profile,
            rules,
            audit_options(&args.probe, args.allow_private),
        )
    };
    let mut console = Console::streaming(args.probe.quiet, &mut targets);
    let inventory = read_inputs(&args.input, &mut console).await?;
    let report = pipeline::audit(&inventory, request, interrupt, &mut console).await?;
    console.finish()?;
    write_targets(&report, targets)?;
    let gate = finish_report(&report, &args.report)?;
    if report.interrupted {
        Ok(Exit::Interrupted)
    } else if gate {
        Ok(Exit::Rejected)
    } else if inventory.failed_inputs().next().is_some() {
        Ok(Exit::InputError)
    } else {
        Ok(Exit::Success)
    }
}

/// The checked probe settings: every check when none is named, `liveness` always, the
/// entry deadline 6 × the step timeout unless given.
pub(super) fn audit_options(args: &ProbeArgs, allow_private: bool) -> AuditOptions {
    let mut checks: BTreeSet<Check> = if args.checks.is_empty() {
        Check::ALL.into_iter().collect()
    } else {
        args.checks.iter().map(|check| check.0).collect()
    };
    checks.insert(Check::Liveness);
    AuditOptions {
        concurrency: usize::try_from(args.concurrency).unwrap_or(usize::MAX),
        per_host: usize::try_from(args.per_host).unwrap_or(usize::MAX),
        step_timeout: args.timeout,
        entry_deadline: args.deadline.unwrap_or(args.timeout * 6),
        checks,
        allow_private,
        dc: args.dc,
    }
}
