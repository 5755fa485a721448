//! Where the commands' results go: report outputs (each `--format` paired with its `-o`, or
//! standard output), the cleaned list (`--clean`), the trusted list (`--emit-trusted`,
//! `--sign`), redaction (`--redact`), and the `--fail-on` gate. Every file appears whole or
//! not at all ([`crate::output`]).
//!
//! [`Publishing::prepare`] reads and unlocks every key first (the signing key, the
//! redaction key), so a wrong password or a missing key file stops a command before it
//! probes anything; [`Publishing::publish`] writes everything at the end.

use std::io::{self, IsTerminal, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::cli::{AuditFormat, ReportArgs};
use crate::ingest::ReadError;
use crate::output::{Output, write_atomically};
use crate::pipeline::{self, Events, Tally};
use crate::report::audit::{self as audit_report, AuditReport, AuditedEntry};
use crate::report::clean;
use crate::report::fingerprint::RedactionKey;
use crate::report::json::{EntrySpool, SpooledEntries};
use crate::rules::sign::{ListStamp, SigningKey};

/// The environment variable holding the redaction key when `--redact-key` is not given.
const REDACT_KEY_VARIABLE: &str = "PROXY_AUDIT_REDACT_KEY";

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

/// True when the entries must be kept until the run ends: a table, CSV, Markdown or HTML
/// target, a cleaned list or a trusted list needs them. NDJSON streams them, JSON spools
/// them ([`entry_spool`]), `--fail-on` needs only the summary.
pub(super) fn keeps_entries(targets: &[Target], args: &ReportArgs) -> bool {
    targets
        .iter()
        .any(|t| !matches!(t.format, AuditFormat::Ndjson | AuditFormat::Json))
        || args.clean.is_some()
        || args.emit_trusted.is_some()
}

/// True when some target takes entries as they finish (NDJSON; JSON through a spool).
pub(super) fn streams_entries(targets: &[Target]) -> bool {
    targets
        .iter()
        .any(|t| matches!(t.format, AuditFormat::Ndjson | AuditFormat::Json))
}

/// A spool for the JSON targets when the entries are not kept: entries go to an unnamed
/// temporary file as they finish (in the first JSON report's folder) and the document is
/// written from it at the end, so `-f json` needs about the memory `-f ndjson` does.
pub(super) fn entry_spool(targets: &[Target], keeps: bool) -> Result<Option<EntrySpool>> {
    if keeps {
        return Ok(None);
    }
    let Some(json) = targets.iter().find(|t| t.format == AuditFormat::Json) else {
        return Ok(None);
    };
    let folder = match &json.out {
        Output::File(file) => Some(match file.path().parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        }),
        Output::Device(_) | Output::Stdout(_) => None,
    };
    EntrySpool::new(folder.as_deref())
        .map(Some)
        .context("cannot make a temporary file for the JSON report")
}

/// How entries are redacted: with the key the user gave, or with a random one.
#[derive(Debug)]
struct Redaction {
    /// The key.
    key: RedactionKey,
    /// True when no key was given: a report already redacted is then left as it is.
    random: bool,
}

/// Everything publishing needs, read and unlocked before the work starts.
#[derive(Debug)]
pub(super) struct Publishing {
    /// The unlocked `--sign` key.
    signer: Option<SigningKey>,
    /// `--sequence`.
    sequence: Option<u64>,
    /// `--redact`, with its key.
    redaction: Option<Redaction>,
}

impl Publishing {
    /// Reads and unlocks the `--sign` key (its password from `PROXY_AUDIT_KEY_PASSWORD`)
    /// and the `--redact` key (`--redact-key FILE`, else `PROXY_AUDIT_REDACT_KEY`, else a
    /// random key, with a warning).
    pub(super) fn prepare(args: &ReportArgs) -> Result<Self> {
        let signer = match &args.sign {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let password = std::env::var("PROXY_AUDIT_KEY_PASSWORD")
                    .ok()
                    .filter(|p| !p.is_empty());
                let key = SigningKey::unlock(&text, password.as_deref())
                    .with_context(|| format!("cannot use {} to sign", path.display()))?;
                Some(key)
            }
            None => None,
        };
        let redaction = if args.redact {
            Some(redaction_key(args.redact_key.as_deref())?)
        } else {
            None
        };
        Ok(Self {
            signer,
            sequence: args.sequence,
            redaction,
        })
    }

    /// The pipeline's events for `inner`, with each streamed entry redacted (when asked)
    /// before `inner` and the spool see it.
    pub(super) fn events<'a>(
        &'a self,
        inner: &'a mut dyn Events,
        spool: Option<&'a mut EntrySpool>,
    ) -> PublishingEvents<'a> {
        PublishingEvents {
            inner,
            spool,
            redaction: self.redaction.as_ref().map(|r| &r.key),
            error: None,
        }
    }

    /// Writes everything: the cleaned list (from the plain entries), then, redacted if
    /// asked, every report target (`spool` holds the JSON entries when they were not kept;
    /// `streamed` says NDJSON targets already have theirs), the trusted list and its
    /// signature. Tells whether `--fail-on` was reached.
    pub(super) fn publish(
        &self,
        report: &mut AuditReport,
        targets: Vec<Target>,
        spool: Option<EntrySpool>,
        streamed: bool,
        args: &ReportArgs,
    ) -> Result<bool> {
        if let Some(path) = &args.clean {
            if report.redacted {
                bail!(
                    "cannot write a cleaned list from a redacted report: its links hold \
                     fingerprints, not secrets"
                );
            }
            let mut list = Vec::new();
            let keep = clean::Keep {
                verdict: args.keep,
                min_anonymity: args.min_anonymity.map(|level| level.0),
            };
            clean::write(report, keep, &mut list)?;
            write_file(path, &list)?;
        }
        if let Some(redaction) = &self.redaction {
            if !(report.redacted && redaction.random) {
                redaction.key.redact_report(report)?;
            }
        }
        let spooled = match spool {
            Some(spool) => {
                let count = usize::try_from(report.summary.parse.entries).unwrap_or(usize::MAX);
                Some(
                    spool
                        .finish(count)
                        .context("cannot read back the JSON report's entries")?,
                )
            }
            None => None,
        };
        write_targets_with(report, targets, spooled.as_ref(), streamed)?;
        if let Some(path) = &args.emit_trusted {
            self.emit_trusted(report, path)?;
        }
        Ok(args
            .fail_on
            .is_some_and(|gate| report.summary.reaches(gate)))
    }

    /// Writes the trusted list of entries that passed, and its signature if asked. The
    /// signature is made before either file is written; should the signature not be put in
    /// place, the new list is removed: no unsigned list is left where a signed one was asked.
    fn emit_trusted(&self, report: &AuditReport, path: &Path) -> Result<()> {
        let text = pipeline::trusted_list(report)?;
        let Some(key) = &self.signer else {
            return write_file(path, text.as_bytes());
        };
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let created = time::OffsetDateTime::now_utc().unix_timestamp();
        let stamp = ListStamp {
            created,
            sequence: self
                .sequence
                .unwrap_or_else(|| u64::try_from(created).unwrap_or_default()),
        };
        let signature = pipeline::sign_list(&text, &name, key, stamp)?;
        let signature_path = signature_path_for(path);
        let mut list = open_output(Some(path))?;
        let mut sig = open_output(Some(&signature_path))?;
        list.write_all(text.as_bytes())
            .and_then(|()| sig.write_all(signature.as_bytes()))
            .with_context(|| format!("cannot write {}", path.display()))?;
        finish_output(list)?;
        if let Err(error) = finish_output(sig) {
            if path.is_file() {
                let _ = std::fs::remove_file(path);
            }
            return Err(error.context(format!(
                "{} was removed: it is not published without its signature",
                path.display()
            )));
        }
        Ok(())
    }
}

/// The `--redact` key: `--redact-key FILE` (its bytes, surrounding white space trimmed),
/// else `PROXY_AUDIT_REDACT_KEY`, else a random key.
fn redaction_key(file: Option<&Path>) -> Result<Redaction> {
    let given = match file {
        Some(path) => {
            Some(std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?)
        }
        None => std::env::var_os(REDACT_KEY_VARIABLE)
            .filter(|value| !value.is_empty())
            .map(std::ffi::OsString::into_encoded_bytes),
    };
    let Some(bytes) = given else {
        eprintln!(
            "proxy-audit: --redact without --redact-key or {REDACT_KEY_VARIABLE}: fingerprints \
             are made with a random key, so they match no other report's (give every vantage \
             the same key to merge their reports)"
        );
        return Ok(Redaction {
            key: RedactionKey::random(),
            random: true,
        });
    };
    let trimmed = bytes.trim_ascii().to_vec();
    Ok(Redaction {
        key: RedactionKey::new(trimmed).context("cannot use the redaction key")?,
        random: false,
    })
}

/// The pipeline's events passed on to the console, each finished entry redacted first (when
/// asked) and appended to the JSON spool (when there is one).
pub(super) struct PublishingEvents<'a> {
    /// The console (progress, warnings, NDJSON lines).
    inner: &'a mut dyn Events,
    /// Where JSON entries wait for the end of the run.
    spool: Option<&'a mut EntrySpool>,
    /// `--redact`'s key.
    redaction: Option<&'a RedactionKey>,
    /// The first failed write to the spool (the run goes on; the command then fails).
    error: Option<io::Error>,
}

impl PublishingEvents<'_> {
    /// Done: the first write to the spool that failed, if any.
    pub(super) fn finish(self) -> io::Result<()> {
        self.error.map_or(Ok(()), Err)
    }
}

impl Events for PublishingEvents<'_> {
    fn input_failed(&mut self, name: &str, error: &ReadError) {
        self.inner.input_failed(name, error);
    }

    fn probing_started(&mut self, entries: usize) {
        self.inner.probing_started(entries);
    }

    fn entry_audited(&mut self, tally: Tally, entry: Option<&AuditedEntry>) {
        let redacted = match (entry, self.redaction) {
            (Some(entry), Some(key)) => {
                let mut line = entry.clone();
                key.redact_entry(&mut line);
                Some(line)
            }
            _ => None,
        };
        let entry = redacted.as_ref().or(entry);
        if let (Some(spool), Some(line)) = (self.spool.as_deref_mut(), entry) {
            if let Err(error) = spool.push(tally.index, line) {
                self.error.get_or_insert(error);
            }
        }
        self.inner.entry_audited(tally, entry);
    }

    fn probing_finished(&mut self) {
        self.inner.probing_finished();
    }
}

/// Writes the finished report to every target (NDJSON targets already have their entries).
/// Files appear only now, complete.
pub(super) fn write_targets(report: &AuditReport, targets: Vec<Target>) -> Result<()> {
    write_targets_with(report, targets, None, true)
}

/// Writes the finished report to every target: JSON from `spooled` when given, NDJSON with
/// its entries unless `streamed` (they went out as they finished).
fn write_targets_with(
    report: &AuditReport,
    targets: Vec<Target>,
    spooled: Option<&SpooledEntries>,
    streamed: bool,
) -> Result<()> {
    for mut target in targets {
        let out = &mut target.out;
        match target.format {
            AuditFormat::Table => audit_report::write_table(report, target.colour, out)?,
            AuditFormat::Json => match spooled {
                Some(entries) => audit_report::write_json_with(report, entries, out)?,
                None => audit_report::write_json(report, out)?,
            },
            AuditFormat::Ndjson => {
                if !streamed {
                    for entry in &report.entries {
                        audit_report::write_ndjson_entry(entry, out)?;
                    }
                }
                audit_report::write_ndjson_tail(report, out)?;
            }
            AuditFormat::Csv => crate::report::csv_out::write_csv(report, out)?,
            AuditFormat::Markdown => crate::report::markdown::write_markdown(report, out)?,
            AuditFormat::Html => crate::report::html::write_html(report, out)?,
        }
        finish_output(target.out)?;
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
