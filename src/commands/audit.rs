//! `proxy-audit audit`: the whole pipeline on the inputs, then the reports, the cleaned and
//! trusted lists, and the exit status.

use std::collections::BTreeSet;

use anyhow::Result;

use super::console::Console;
use super::interrupt_signal;
use super::parse::read_inputs;
use super::reports::{Publishing, entry_spool, keeps_entries, open_targets, streams_entries};
use crate::checks::AuditOptions;
use crate::cli::{AuditArgs, Exit, ProbeArgs};
use crate::model::Check;
use crate::pipeline::{self, AuditRequest};
use crate::rules::RuleSet;

/// `proxy-audit audit`.
pub(super) async fn audit(args: AuditArgs) -> Result<Exit> {
    let interrupt = interrupt_signal();
    // The keys first: nothing is probed for a list that could not be signed.
    let publishing = Publishing::prepare(&args.report)?;
    let profile = pipeline::load_profile(args.profile.as_deref())?;
    let rules = RuleSet::load(args.report.rules.as_deref())?;
    let mut targets = open_targets(&args.report)?;
    let keeps = keeps_entries(&targets, &args.report);
    let mut spool = entry_spool(&targets, keeps)?;
    let request = AuditRequest {
        profile_digest: profile.digest,
        vantage: args.vantage.clone(),
        keep_entries: keeps,
        stream_entries: streams_entries(&targets),
        ..AuditRequest::new(
            profile.profile,
            rules,
            audit_options(&args.probe, args.allow_private),
        )
    };
    let mut console = Console::streaming(args.probe.quiet, &mut targets);
    let inventory = read_inputs(&args.input, args.allow_private, &mut console).await?;
    let mut events = publishing.events(&mut console, spool.as_mut());
    let mut report = pipeline::audit(&inventory, request, interrupt, &mut events).await?;
    events.finish()?;
    console.finish()?;
    let gate = publishing.publish(&mut report, targets, spool, true, &args.report)?;
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
