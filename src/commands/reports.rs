//! Where the commands' results go: report outputs (each `--format` paired with its `-o`, or
//! standard output), the cleaned list (`--clean`), the trusted list (`--emit-trusted`,
//! `--sign`), and the `--fail-on` gate. Every file appears whole or not at all
//! ([`crate::output`]).

use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::cli::{AuditFormat, ReportArgs};
use crate::output::{Output, write_atomically};
use crate::pipeline;
use crate::report::audit::{self as audit_report, AuditReport};
use crate::report::clean;

/// One report to write: its format and where.
pub(super) struct Target {
    /// Format.
    pub(super) format: AuditFormat,
    /// Colour the table: standard output is a terminal and `NO_COLOR` is not set.
    pub(super) colour: bool,
    /// Destination (a file or standard output).
    pub(super) out: Output,
}

/// Pairs `--format`s with `-o`s; formats without a file go to standard output (one only).
pub(super) fn open_targets(args: &ReportArgs) -> Result<Vec<Target>> {
    if args.output.len() > args.format.len().max(1) {
        bail!("more -o files than --format values: give a --format for each -o");
    }
    let default = if args.output.is_empty() && io::stdout().is_terminal() {
        AuditFormat::Table
    } else {
        AuditFormat::Json
    };
    let formats = if args.format.is_empty() {
        vec![default]
    } else {
        args.format.clone()
    };
    if formats.len() > args.output.len() + 1 {
        bail!("only one --format can go to standard output: add -o FILE for the others");
    }
    formats
        .iter()
        .enumerate()
        .map(|(index, &format)| {
            let file = args.output.get(index).map(PathBuf::as_path);
            Ok(Target {
                format,
                colour: file.is_none() && wants_colour(),
                out: open_output(file)?,
            })
        })
        .collect()
}

/// True when the entries must be kept until the run ends: a target other than NDJSON, a
/// cleaned list or a trusted list needs them (`--fail-on` needs only the summary).
pub(super) fn keeps_entries(targets: &[Target], args: &ReportArgs) -> bool {
    targets.iter().any(|t| t.format != AuditFormat::Ndjson)
        || args.clean.is_some()
        || args.emit_trusted.is_some()
}

/// True when some target streams entries as they finish (NDJSON).
pub(super) fn streams_entries(targets: &[Target]) -> bool {
    targets.iter().any(|t| t.format == AuditFormat::Ndjson)
}

/// Writes the finished report to every target (NDJSON targets already have their entries).
/// Files appear only now, complete.
pub(super) fn write_targets(report: &AuditReport, targets: Vec<Target>) -> Result<()> {
    for mut target in targets {
        let out = &mut target.out;
        match target.format {
            AuditFormat::Table => audit_report::write_table(report, target.colour, out)?,
            AuditFormat::Json => audit_report::write_json(report, out)?,
            AuditFormat::Ndjson => audit_report::write_ndjson_tail(report, out)?,
            AuditFormat::Csv => crate::report::csv_out::write_csv(report, out)?,
            AuditFormat::Markdown => crate::report::markdown::write_markdown(report, out)?,
            AuditFormat::Html => crate::report::html::write_html(report, out)?,
        }
        finish_output(target.out)?;
    }
    Ok(())
}

/// Writes the cleaned list and the trusted list if asked, and tells whether `--fail-on`
/// was reached.
pub(super) fn finish_report(report: &AuditReport, args: &ReportArgs) -> Result<bool> {
    if let Some(path) = &args.clean {
        let mut list = Vec::new();
        let keep = clean::Keep {
            verdict: args.keep,
            min_anonymity: args.min_anonymity.map(|level| level.0),
        };
        clean::write(report, keep, &mut list)?;
        write_file(path, &list)?;
    }
    if let Some(path) = &args.emit_trusted {
        emit_trusted(report, path, args.sign.as_deref())?;
    }
    Ok(args
        .fail_on
        .is_some_and(|gate| report.summary.reaches(gate)))
}

/// Writes the trusted list of entries that passed, and signs it if asked.
fn emit_trusted(report: &AuditReport, path: &Path, key: Option<&Path>) -> Result<()> {
    let text = pipeline::trusted_list(report)?;
    write_file(path, text.as_bytes())?;
    if let Some(key) = key {
        let secret = std::fs::read_to_string(key)
            .with_context(|| format!("cannot read {}", key.display()))?;
        let password = std::env::var("PROXY_AUDIT_KEY_PASSWORD").ok();
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let signature = pipeline::sign_list(&text, &name, &secret, password.as_deref())?;
        write_file(&signature_path_for(path), signature.as_bytes())?;
    }
    Ok(())
}

/// `FILE.minisig`.
pub(super) fn signature_path_for(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".minisig");
    PathBuf::from(name)
}

/// Colour on standard output: a terminal, and `NO_COLOR` unset (no-color.org).
pub(super) fn wants_colour() -> bool {
    io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Standard output, or a file that appears only once complete.
pub(super) fn open_output(path: Option<&Path>) -> Result<Output> {
    Output::open(path).with_context(|| {
        format!(
            "cannot write {}",
            path.map_or_else(String::new, |p| p.display().to_string())
        )
    })
}

/// Puts a finished output in place (a file) or flushes it (standard output).
pub(super) fn finish_output(out: Output) -> Result<()> {
    let name = match &out {
        Output::File(file) => file.path().display().to_string(),
        Output::Device(_) => "the output device".to_owned(),
        Output::Stdout(_) => "standard output".to_owned(),
    };
    out.finish().with_context(|| format!("cannot write {name}"))
}

/// Writes a whole file atomically, naming it on failure.
pub(super) fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}
