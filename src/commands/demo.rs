//! `proxy-audit demo`: the lab started in this process and audited with its own profile,
//! the report on standard output, then (as a table) what each lab proxy does.

use std::io::{self, IsTerminal, Write};

use anyhow::Result;

use super::audit::audit_options;
use super::console::Console;
use super::interrupt_signal;
use super::reports::{Target, open_output, wants_colour, write_targets};
use crate::cli::{AuditFormat, DemoArgs, Exit};
use crate::ingest::IngestOptions;
use crate::lab::{Lab, LabOptions};
use crate::pipeline::{self, AuditRequest};
use crate::rules::RuleSet;

/// `proxy-audit demo`: the lab audited by its own profile.
pub(super) async fn demo(args: DemoArgs) -> Result<Exit> {
    let interrupt = interrupt_signal();
    pipeline::raise_open_files_limit();
    let lab = Lab::start(LabOptions::default()).await?;
    let profile = lab.profile()?;
    let inventory = pipeline::ingest_text("lab", &lab.list(), IngestOptions::default())?;
    if io::stderr().is_terminal() && !args.probe.quiet {
        eprintln!(
            "proxy-audit: started a lab of {} proxies on 127.0.0.1; auditing it…",
            lab.proxies().len()
        );
    }
    let options = audit_options(&args.probe, true);
    let rules = RuleSet::built_in()?;
    let mut targets = vec![Target {
        format: args.format,
        colour: wants_colour(),
        out: open_output(None)?,
    }];
    // The lab's profile has no file, and a tour needs no times: neither is recorded.
    let request = AuditRequest {
        timestamps: false,
        stream_entries: args.format == AuditFormat::Ndjson,
        ..AuditRequest::new(profile, rules, options)
    };
    let mut console = Console::streaming(args.probe.quiet, &mut targets);
    let report = pipeline::audit(&inventory, request, interrupt, &mut console).await?;
    console.finish()?;
    write_targets(&report, targets)?;
    let mut out = open_output(None)?;
    if args.format == AuditFormat::Table {
        writeln!(out, "\nWhat each lab proxy does:")?;
        for proxy in lab.proxies() {
            writeln!(
                out,
                "  {:<22} {:<20} {}",
                proxy.spec.endpoint(),
                proxy.name,
                proxy.about
            )?;
        }
        out.flush()?;
    }
    Ok(if report.interrupted {
        Exit::Interrupted
    } else {
        Exit::Success
    })
}
