//! The audit report: the parse report's entries, each with its probe result.
//!
//! # The `audit` JSON document (`schema_version` 1)
//!
//! ```json
//! {
//!   "schema_version": 1,
//!   "profile": "lab",
//!   "checks": ["liveness", "credentials", "tls", "content", "judge", "dns"],
//!   "interrupted": false,
//!   "summary": {"inputs": 1, "entries": 16, "duplicates": 0, "rejected": 0, "ignored": 3,
//!               "alive": 9, "dead": 6, "refused": 1, "not_audited": 0, "flagged": 5,
//!               "verdicts": {"trusted": 0, "ok": 5, "suspicious": 1, "dangerous": 3,
//!                            "dead": 6, "refused": 1, "not_audited": 0}},
//!   "inputs": [ … as in `parse` … ],
//!   "entries": [{
//!     … every field of a `parse` entry …,
//!     "status": "alive",
//!     "latency_ms": 3,
//!     "findings": [{"code": "tls_intercepted", "severity": "critical", "check": "tls",
//!                   "evidence": {"canary": "lab-tls", "issuer": "CN=Qaznet Trust Network", …}}],
//!     "observations": {"resolved": ["127.0.0.1:4242"], "connect_ms": 0, "handshake_ms": 2,
//!                      "exit_address": "127.0.0.1", "tls": [ … ], "http": [ … ],
//!                      "telegram": {"authentic": true, "dc": 2, "key_fingerprint": "0x…", …}},
//!     "score": 0, "verdict": "dangerous",
//!     "explanation": "It replaces websites' security certificates, so …",
//!     "because": ["known_interception_ca", "tls_intercepted"]
//!   }],
//!   "rejected": [ … as in `parse` … ]
//! }
//! ```
//!
//! `status` is `alive|dead|refused|not_audited`; `alive + dead + refused + not_audited` =
//! `entries`. `flagged` counts entries with a finding of severity low or worse. Secrets and
//! passwords appear in full (the document is meant to be read back); the table redacts them.
//! A report made with `--redact` says `"redacted": true` and names its key
//! (`"redaction_key"`) right after `schema_version`: its secrets and passwords are keyed
//! fingerprints ([`super::fingerprint`]), and it still merges and rescores.
//!
//! The document is written through one view (`AuditReport::document`) whether its entries
//! are in memory or streamed from a spool ([`super::json::EntrySpool`]), so both give the
//! same bytes.

use std::collections::BTreeMap;
use std::io::{self, Write};

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Attribute, Cell, Color, ContentArrangement, Table};
use serde::{Deserialize, Serialize};

use super::fingerprint::RedactError;
use super::redact::host_port;
use super::types::{EntryOut, InputOut, RejectedOut, SCHEMA_VERSION, Summary};
use crate::config::parse_sha256;
use crate::ingest::{Entry, Inventory};
use crate::model::Verdict;
use crate::model::{Check, ProbeResult, Severity, Status};
use crate::proxy::ProxySpec;
use crate::rules::scoring::Scored;
use crate::rules::trusted::{Identity, key_sha256};
use crate::rules::verdicts::Verdicts;

/// One audited entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditedEntry {
    /// The entry as `parse` reports it.
    #[serde(flatten)]
    pub entry: EntryOut,
    /// What the probe found.
    #[serde(flatten)]
    pub result: ProbeResult,
    /// Score, verdict and why.
    #[serde(flatten)]
    pub scored: Scored,
    /// In a merged report: what each vantage saw of this entry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vantages: Vec<VantageResult>,
}

/// One vantage's view of an entry in a merged report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VantageResult {
    /// The vantage name (or the report's file name when it had none).
    pub vantage: String,
    /// What the probe found from there.
    #[serde(flatten)]
    pub result: ProbeResult,
}

/// Totals of an audit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditSummary {
    /// Parse totals.
    #[serde(flatten)]
    pub parse: Summary,
    /// Entries that worked.
    pub alive: u64,
    /// Entries that did not.
    pub dead: u64,
    /// Entries never contacted by policy.
    pub refused: u64,
    /// Entries not probed (interrupted, or not probed yet).
    pub not_audited: u64,
    /// Entries with a finding of severity low or worse.
    pub flagged: u64,
    /// Entries per verdict (every verdict listed; they add up to `entries`).
    pub verdicts: BTreeMap<Verdict, u64>,
}

impl AuditSummary {
    /// The parse totals of `inventory`, every verdict at 0: ready for [`AuditSummary::add`].
    pub fn of(inventory: &Inventory) -> Self {
        Self {
            parse: Summary::of(inventory),
            verdicts: Verdict::ALL.into_iter().map(|v| (v, 0)).collect(),
            ..Self::default()
        }
    }

    /// True when some entry's verdict reaches `gate` (as `--fail-on` counts: `dangerous`;
    /// `suspicious` or worse; `dead`, `inconclusive` or worse).
    pub fn reaches(&self, gate: Verdict) -> bool {
        let reached: &[Verdict] = match gate {
            Verdict::Dangerous => &[Verdict::Dangerous],
            Verdict::Suspicious => &[Verdict::Dangerous, Verdict::Suspicious],
            _ => &[
                Verdict::Dangerous,
                Verdict::Suspicious,
                Verdict::Inconclusive,
                Verdict::Dead,
            ],
        };
        reached
            .iter()
            .any(|verdict| self.verdicts.get(verdict).is_some_and(|count| *count > 0))
    }

    /// Counts one result and its verdict.
    pub fn add(&mut self, result: &ProbeResult, verdict: Verdict) {
        *self.verdicts.entry(verdict).or_default() += 1;
        match result.status {
            Status::Alive => self.alive += 1,
            Status::Dead => self.dead += 1,
            Status::Refused => self.refused += 1,
            Status::NotAudited => self.not_audited += 1,
        }
        if is_flagged(result) {
            self.flagged += 1;
        }
    }
}

/// True when a result has a finding that is a risk (low to critical).
pub(crate) fn is_flagged(result: &ProbeResult) -> bool {
    result.findings.iter().any(|finding| {
        matches!(
            finding.severity,
            Severity::Low | Severity::Medium | Severity::High | Severity::Critical
        )
    })
}

/// The whole audit report. It is serialised through `AuditReport::document`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AuditReport {
    /// Layout version.
    pub schema_version: u32,
    /// True when secrets and passwords are keyed fingerprints (`--redact`); omitted when
    /// false.
    #[serde(default)]
    pub redacted: bool,
    /// In a redacted report: the id of the key the fingerprints were made with
    /// ([`super::fingerprint::RedactionKey::id`]).
    #[serde(default)]
    pub redaction_key: Option<String>,
    /// `proxy-audit <version>` that probed.
    #[serde(default)]
    pub tool: String,
    /// Where the audit ran from (`--vantage`), for merging reports from several places.
    #[serde(default)]
    pub vantage: Option<String>,
    /// When probing started and finished (RFC 3339, UTC).
    #[serde(default)]
    pub started: String,
    /// See `started`.
    #[serde(default)]
    pub finished: String,
    /// Name of the profile the checks pointed at.
    pub profile: String,
    /// SHA-256 of the profile text (and the files it names).
    #[serde(default)]
    pub profile_digest: String,
    /// SHA-256 of the rules the verdicts came from.
    #[serde(default)]
    pub rules_digest: String,
    /// Checks that ran.
    pub checks: Vec<Check>,
    /// True when the run was stopped (Ctrl-C) before every entry finished.
    pub interrupted: bool,
    /// Totals.
    pub summary: AuditSummary,
    /// One line per input.
    pub inputs: Vec<InputOut>,
    /// Entries with their results, in input order.
    pub entries: Vec<AuditedEntry>,
    /// Items that could not be read.
    pub rejected: Vec<RejectedOut>,
}

impl AuditReport {
    /// Merges reports from several vantages into one. Entries are matched by id, in the
    /// order first seen. The merged result takes the worst evidence: every finding any
    /// vantage saw (one per code, the first seen), `alive` if any vantage reached the
    /// proxy, the lowest latency; each vantage's own result is kept under `vantages`. The
    /// verdicts are then scored again with `scoring`.
    ///
    /// # Errors
    /// When the reports are not all redacted with the same key, or all plain: their ids
    /// could never match.
    pub fn merge(
        reports: Vec<(String, Self)>,
        verdicts: &Verdicts,
        rules_digest: &str,
    ) -> Result<Self, RedactError> {
        let redaction = |report: &Self| match (&report.redacted, &report.redaction_key) {
            (false, _) => "a plain report".to_owned(),
            (true, Some(key)) => format!("a report redacted with key {key}"),
            (true, None) => "a report redacted with an unnamed key".to_owned(),
        };
        let (redacted, redaction_key) = match reports.first() {
            Some((_, first)) => {
                if let Some((name, other)) = reports
                    .iter()
                    .find(|(_, r)| redaction(r) != redaction(first))
                {
                    return Err(RedactError::Mixed {
                        first: redaction(first),
                        other: format!("{} ({name})", redaction(other)),
                    });
                }
                (first.redacted, first.redaction_key.clone())
            }
            None => (false, None),
        };
        let mut merged: Vec<AuditedEntry> = Vec::new();
        let mut index: BTreeMap<String, usize> = BTreeMap::new();
        let mut parse = Summary::default();
        let mut inputs = Vec::new();
        let mut rejected = Vec::new();
        let mut names = Vec::new();
        let mut checks: Vec<Check> = Vec::new();
        let mut interrupted = false;
        for (name, report) in reports {
            let vantage = report.vantage.clone().unwrap_or(name);
            names.push(vantage.clone());
            parse.inputs += report.summary.parse.inputs;
            parse.rejected += report.summary.parse.rejected;
            parse.ignored += report.summary.parse.ignored;
            inputs.extend(report.inputs);
            rejected.extend(report.rejected);
            interrupted |= report.interrupted;
            for check in report.checks {
                if !checks.contains(&check) {
                    checks.push(check);
                }
            }
            for entry in report.entries {
                let seen = VantageResult {
                    vantage: vantage.clone(),
                    result: entry.result.clone(),
                };
                if let Some(existing) = index.get(&entry.entry.id).and_then(|&i| merged.get_mut(i))
                {
                    combine(&mut existing.result, &entry.result);
                    existing.vantages.push(seen);
                } else {
                    index.insert(entry.entry.id.clone(), merged.len());
                    merged.push(AuditedEntry {
                        vantages: vec![seen],
                        ..entry
                    });
                }
            }
        }
        checks.sort();
        parse.entries = merged.len() as u64;
        let mut report = Self {
            schema_version: SCHEMA_VERSION,
            redacted,
            redaction_key,
            tool: format!("proxy-audit {}", env!("CARGO_PKG_VERSION")),
            vantage: Some(names.join("+")),
            started: String::new(),
            finished: String::new(),
            profile: String::new(),
            profile_digest: String::new(),
            rules_digest: String::new(),
            checks,
            interrupted,
            summary: AuditSummary {
                parse,
                ..AuditSummary::default()
            },
            inputs,
            entries: merged,
            rejected,
        };
        report.rescore(verdicts, rules_digest);
        Ok(report)
    }

    /// Judges every entry again (e.g. with other rules), recounting the summary.
    pub fn rescore(&mut self, verdicts: &Verdicts, rules_digest: &str) {
        let mut summary = AuditSummary {
            parse: self.summary.parse.clone(),
            verdicts: Verdict::ALL.into_iter().map(|v| (v, 0)).collect(),
            ..AuditSummary::default()
        };
        for entry in &mut self.entries {
            entry.scored = match spec_of(&entry.entry) {
                Some(spec) => verdicts.verdict_for_identity(
                    &identity_of(&entry.entry, &spec, self.redacted),
                    &entry.result,
                ),
                None => verdicts.scoring.score(&entry.result),
            };
            summary.add(&entry.result, entry.scored.verdict);
        }
        self.summary = summary;
        rules_digest.clone_into(&mut self.rules_digest);
    }

    /// The report for an inventory and one result per entry (same order).
    pub fn new(
        inventory: &Inventory,
        results: Vec<ProbeResult>,
        verdicts: &Verdicts,
        profile: &str,
        checks: Vec<Check>,
        interrupted: bool,
    ) -> Self {
        let mut summary = AuditSummary::of(inventory);
        let entries = inventory
            .entries
            .iter()
            .zip(results)
            .map(|(entry, result)| {
                let audited = audited(inventory, entry, result, verdicts);
                summary.add(&audited.result, audited.scored.verdict);
                audited
            })
            .collect();
        Self::assemble(inventory, entries, summary, profile, checks, interrupted)
    }

    /// The report for an inventory from entries already audited and counted in `summary`
    /// (which started as [`AuditSummary::of`]). `entries` may be empty when every output
    /// streamed them already: the summary, inputs and rejected items are all the rest needs.
    pub(crate) fn assemble(
        inventory: &Inventory,
        entries: Vec<AuditedEntry>,
        summary: AuditSummary,
        profile: &str,
        checks: Vec<Check>,
        interrupted: bool,
    ) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            redacted: false,
            redaction_key: None,
            tool: format!("proxy-audit {}", env!("CARGO_PKG_VERSION")),
            vantage: None,
            started: String::new(),
            finished: String::new(),
            profile: profile.to_owned(),
            profile_digest: String::new(),
            rules_digest: String::new(),
            checks,
            interrupted,
            summary,
            inputs: inventory.inputs.iter().map(InputOut::from).collect(),
            entries,
            rejected: inventory.rejected.iter().map(RejectedOut::from).collect(),
        }
    }
}

/// The proxy an entry of a saved report describes (read back from its full link). In a
/// redacted report its secret's key and its password are fingerprints: see
/// [`identity_of`].
pub fn spec_of(entry: &EntryOut) -> Option<ProxySpec> {
    crate::ingest::link::parse_link(&entry.link).and_then(Result::ok)
}

/// What the curated lists may compare of the entry whose spec is `spec`: the real key hash
/// (a redacted entry's `secret_sha256`, else the hash of the spec's key), and whether the
/// spec's password is the real one (not in a `redacted` report).
pub fn identity_of<'a>(entry: &EntryOut, spec: &'a ProxySpec, redacted: bool) -> Identity<'a> {
    let carried = entry.secret_sha256.as_deref().and_then(parse_sha256);
    Identity {
        spec,
        key_sha256: carried.or_else(|| spec.secret.as_ref().map(key_sha256)),
        password_known: !redacted,
    }
}

/// Folds another vantage's result into `into`: the worst evidence wins.
fn combine(into: &mut ProbeResult, other: &ProbeResult) {
    for finding in &other.findings {
        if !into.findings.iter().any(|f| f.code == finding.code) {
            into.findings.push(finding.clone());
        }
    }
    let rank = |status: Status| match status {
        Status::Alive => 0,
        Status::Dead => 1,
        Status::Refused => 2,
        Status::NotAudited => 3,
    };
    if rank(other.status) < rank(into.status) {
        into.status = other.status;
    }
    into.latency_ms = match (into.latency_ms, other.latency_ms) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    // A check one vantage could not finish leaves the merged entry not fully audited, and
    // the least anonymous view is the one that counts.
    for (check, reason) in &other.observations.inconclusive {
        into.observations
            .inconclusive
            .entry(*check)
            .or_insert_with(|| reason.clone());
    }
    if let Some(seen) = &other.observations.anonymity {
        let worse = into
            .observations
            .anonymity
            .as_ref()
            .is_none_or(|kept| seen.level < kept.level);
        if worse {
            into.observations.anonymity = Some(seen.clone());
        }
    }
    if into.status == Status::Alive {
        // A vantage that could not reach it does not make a working proxy dead.
        into.findings.retain(|f| {
            !matches!(
                f.code,
                crate::model::Code::Unreachable | crate::model::Code::HandshakeFailed
            )
        });
    }
}

/// An entry with its result, scored.
pub fn audited(
    inventory: &Inventory,
    entry: &Entry,
    result: ProbeResult,
    verdicts: &Verdicts,
) -> AuditedEntry {
    AuditedEntry {
        entry: EntryOut::of(entry, inventory),
        scored: verdicts.verdict_for(&entry.spec, &result),
        result,
        vantages: Vec::new(),
    }
}

/// The audit JSON document as written: the report's fields in their order, with `entries`
/// given apart (the report's own, or a spool's), so every way of writing it is one layout.
#[derive(Serialize)]
pub(crate) struct Document<'a, E: Serialize> {
    /// See [`AuditReport::schema_version`].
    schema_version: u32,
    /// See [`AuditReport::redacted`]; omitted when false, so a plain report's layout is
    /// unchanged.
    #[serde(skip_serializing_if = "is_false")]
    redacted: bool,
    /// See [`AuditReport::redaction_key`].
    #[serde(skip_serializing_if = "Option::is_none")]
    redaction_key: Option<&'a str>,
    /// See [`AuditReport::tool`].
    tool: &'a str,
    /// See [`AuditReport::vantage`].
    vantage: Option<&'a str>,
    /// See [`AuditReport::started`].
    started: &'a str,
    /// See [`AuditReport::finished`].
    finished: &'a str,
    /// See [`AuditReport::profile`].
    profile: &'a str,
    /// See [`AuditReport::profile_digest`].
    profile_digest: &'a str,
    /// See [`AuditReport::rules_digest`].
    rules_digest: &'a str,
    /// See [`AuditReport::checks`].
    checks: &'a [Check],
    /// See [`AuditReport::interrupted`].
    interrupted: bool,
    /// See [`AuditReport::summary`].
    summary: &'a AuditSummary,
    /// See [`AuditReport::inputs`].
    inputs: &'a [InputOut],
    /// The entries, in input order.
    entries: E,
    /// See [`AuditReport::rejected`].
    rejected: &'a [RejectedOut],
}

/// For `skip_serializing_if`.
#[expect(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde passes a reference"
)]
fn is_false(value: &bool) -> bool {
    !*value
}

impl AuditReport {
    /// The document of this report with `entries` in place of its own.
    pub(crate) fn document<E: Serialize>(&self, entries: E) -> Document<'_, E> {
        Document {
            schema_version: self.schema_version,
            redacted: self.redacted,
            redaction_key: self.redaction_key.as_deref(),
            tool: &self.tool,
            vantage: self.vantage.as_deref(),
            started: &self.started,
            finished: &self.finished,
            profile: &self.profile,
            profile_digest: &self.profile_digest,
            rules_digest: &self.rules_digest,
            checks: &self.checks,
            interrupted: self.interrupted,
            summary: &self.summary,
            inputs: &self.inputs,
            entries,
            rejected: &self.rejected,
        }
    }
}

impl Serialize for AuditReport {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.document(&self.entries).serialize(serializer)
    }
}

/// Writes the JSON document.
pub(crate) fn write_json(report: &AuditReport, out: &mut dyn Write) -> io::Result<()> {
    write_json_with(report, &report.entries, out)
}

/// Writes the JSON document with `entries` in place of the report's own (a spool's, read
/// back one at a time, so a million entries are never in memory at once).
pub(crate) fn write_json_with(
    report: &AuditReport,
    entries: impl Serialize,
    out: &mut dyn Write,
) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &report.document(entries))?;
    writeln!(out)
}

/// Writes one NDJSON line for an entry (streamed as results finish).
pub(crate) fn write_ndjson_entry(entry: &AuditedEntry, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer(&mut *out, entry)?;
    writeln!(out)?;
    // A reader at the other end of a pipe sees each entry as soon as it is done.
    out.flush()
}

/// Writes the NDJSON tail: rejected items, then the summary line.
pub(crate) fn write_ndjson_tail(report: &AuditReport, out: &mut dyn Write) -> io::Result<()> {
    for rejected in &report.rejected {
        serde_json::to_writer(&mut *out, &serde_json::json!({ "rejected": rejected }))?;
        writeln!(out)?;
    }
    let mut summary = serde_json::json!({
        "summary": report.summary,
        "profile": report.profile,
        "interrupted": report.interrupted,
    });
    if report.redacted {
        if let Some(line) = summary.as_object_mut() {
            line.insert("redacted".to_owned(), true.into());
            line.insert(
                "redaction_key".to_owned(),
                report.redaction_key.clone().into(),
            );
        }
    }
    serde_json::to_writer(&mut *out, &summary)?;
    writeln!(out)
}

/// Writes the human table: one row per entry (credentials redacted), findings below.
pub(crate) fn write_table(
    report: &AuditReport,
    colour: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut table = Table::new();
    if colour {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::DynamicFullWidth)
        .set_width(160)
        .set_header([
            "verdict", "score", "kind", "endpoint", "ms", "why", "findings",
        ]);
    let mut rows: Vec<&AuditedEntry> = report.entries.iter().collect();
    rows.sort_by_key(|audited| audited.scored.verdict.rank());
    for audited in rows {
        let entry = &audited.entry;
        let result = &audited.result;
        let endpoint = match (&entry.username, entry.kind) {
            (Some(user), _) => format!("{user}:***@{}", host_port(entry)),
            (None, _) => host_port(entry),
        };
        let findings = result
            .findings
            .iter()
            .map(|finding| format!("{} ({})", finding.code, finding.severity))
            .collect::<Vec<_>>()
            .join("\n");
        let verdict = Cell::new(audited.scored.verdict);
        let verdict = match audited.scored.verdict {
            Verdict::Trusted | Verdict::Ok => verdict.fg(Color::Green),
            Verdict::Inconclusive | Verdict::Suspicious => verdict.fg(Color::Yellow),
            Verdict::Dangerous => verdict.fg(Color::Red).add_attribute(Attribute::Bold),
            Verdict::Dead | Verdict::Refused | Verdict::NotAudited => verdict.fg(Color::DarkGrey),
        };
        let score = audited.scored.score.map(|s| s.to_string());
        let latency = result.latency_ms.map(|ms| ms.to_string());
        table.add_row(vec![
            verdict,
            Cell::new(score.unwrap_or_default()),
            Cell::new(entry.kind),
            Cell::new(endpoint),
            Cell::new(latency.unwrap_or_default()),
            Cell::new(&audited.scored.explanation),
            Cell::new(findings),
        ]);
    }
    writeln!(out, "{table}")?;
    let s = &report.summary;
    let verdicts = s
        .verdicts
        .iter()
        .filter(|(_, count)| **count > 0)
        .map(|(verdict, count)| format!("{count} {verdict}"))
        .collect::<Vec<_>>()
        .join(", ");
    writeln!(out, "\nVerdicts: {verdicts}.")?;
    writeln!(
        out,
        "\n{} entries: {} alive, {} dead, {} refused, {} not audited; {} flagged \
         ({} duplicates, {} rejected). Profile: {}{}",
        s.parse.entries,
        s.alive,
        s.dead,
        s.refused,
        s.not_audited,
        s.flagged,
        s.parse.duplicates,
        s.parse.rejected,
        report.profile,
        if report.interrupted {
            ". Interrupted: unfinished entries are marked not audited."
        } else {
            "."
        }
    )
}

/// The entry's finding codes joined with `separator`, in the probe's order.
pub(crate) fn finding_codes(audited: &AuditedEntry, separator: &str) -> String {
    audited
        .result
        .findings
        .iter()
        .map(|finding| finding.code.name())
        .collect::<Vec<_>>()
        .join(separator)
}
