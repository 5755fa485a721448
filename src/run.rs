//! Runs a checked command line: reads the inputs, probes, writes the report, picks the exit
//! status. `anyhow` stops here; the library below returns typed errors.

use std::collections::BTreeSet;
use std::future::Future;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::catalog::default_secrets::DefaultSecrets;
use crate::catalog::interception::InterceptionCas;
use crate::cli::{
    AuditArgs, AuditFormat, Cli, Command, DemoArgs, Exit, InputArgs, KeygenArgs, LabArgs,
    MergeArgs, ParseArgs, ProbeArgs, ReportArgs, RescoreArgs, RulesCommand, VerifyArgs,
};
use crate::config::Profile;
use crate::ingest::read::{FetchLimits, fetch, is_url, open_local};
use crate::ingest::{Collector, IngestOptions, InputFormat, Inventory};
use crate::lab::{CA_FILE, DC_KEY_FILE, Lab, LabOptions};
use crate::model::Verdict;
use crate::model::{Check, ProbeResult, Status};
use crate::output::{AtomicFile, Output, write_atomically};
use crate::probe::runner::{self, AuditContext, AuditOptions, ProbeRules};
use crate::proxy::ProxySpec;
use crate::report::audit::{self as audit_report, AuditReport, AuditSummary, is_flagged};
use crate::report::clean;
use crate::report::{self, OutputFormat};
use crate::rules::blocklist::Blocklist;
use crate::rules::judge::Judge;
use crate::rules::scoring::Scoring;
use crate::rules::sign;
use crate::rules::trusted::{self, TrustedList};

/// Runs the command and returns the exit status.
pub async fn run(cli: Cli) -> Result<Exit> {
    match cli.command {
        Command::Parse(args) => parse(args).await,
        Command::Audit(args) => audit(args).await,
        Command::Lab(args) => lab(args).await,
        Command::Demo(args) => demo(args).await,
        Command::Rescore(args) => rescore(&args),
        Command::Merge(args) => merge(&args),
        Command::Verify(args) => verify(&args),
        Command::Keygen(args) => keygen(&args),
        Command::Rules(RulesCommand::Check { dir }) => Ok(check_rules(&dir)),
    }
}

/// `proxy-audit parse`.
async fn parse(args: ParseArgs) -> Result<Exit> {
    let inventory = read_inputs(&args.input).await?;
    let to_terminal = args.output.is_none() && io::stdout().is_terminal();
    let format = args.format.unwrap_or(if to_terminal {
        OutputFormat::Table
    } else {
        OutputFormat::Json
    });
    let mut out = open_output(args.output.as_deref())?;
    report::write(&inventory, format, &mut out)?;
    finish_output(out)?;

    let totals = inventory.totals();
    if inventory.failed_inputs().next().is_some() {
        Ok(Exit::InputError)
    } else if args.strict && totals.rejected > 0 {
        Ok(Exit::Rejected)
    } else {
        Ok(Exit::Success)
    }
}

/// Completes on the first Ctrl-C (SIGINT). The handler is installed when this is called,
/// not when the future is first polled, so a Ctrl-C while work is starting is not lost.
fn interrupt_signal() -> Pin<Box<dyn Future<Output = ()> + Send>> {
    #[cfg(unix)]
    if let Ok(mut signal) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
    {
        return Box::pin(async move {
            let _ = signal.recv().await;
        });
    }
    Box::pin(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// `proxy-audit audit`.
async fn audit(args: AuditArgs) -> Result<Exit> {
    let interrupt = interrupt_signal();
    let (profile, profile_digest) = match &args.profile {
        Some(path) => {
            let digest = sha256_file(path)?;
            (Profile::load(path)?, digest)
        }
        None => (
            Profile::internet()?,
            sha256_hex(crate::config::INTERNET_PROFILE.as_bytes()),
        ),
    };
    let rules = Rules::load(args.report.rules.as_deref())?;
    let mut targets = open_targets(&args.report)?;
    let inventory = read_inputs(&args.input).await?;
    let options = audit_options(&args.probe, args.allow_private);
    let started = now_rfc3339();
    let keep_entries = keeps_entries(&targets, &args.report);
    let (interrupted, mut report) = audit_inventory(
        &inventory,
        profile,
        options,
        args.probe.quiet,
        &mut targets,
        interrupt,
        &rules,
        keep_entries,
    )
    .await?;
    report.vantage.clone_from(&args.vantage);
    report.started = started;
    report.finished = now_rfc3339();
    report.profile_digest = profile_digest;
    write_targets(&report, targets)?;
    let gate = finish_report(&report, &args.report)?;
    if interrupted {
        Ok(Exit::Interrupted)
    } else if gate {
        Ok(Exit::Rejected)
    } else if inventory.failed_inputs().next().is_some() {
        Ok(Exit::InputError)
    } else {
        Ok(Exit::Success)
    }
}

/// Reads a saved JSON audit report.
fn read_report(path: &Path) -> Result<AuditReport> {
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&text)
        .with_context(|| format!("{} is not an audit JSON report", path.display()))
}

/// `proxy-audit merge`: reports from several vantages as one.
fn merge(args: &MergeArgs) -> Result<Exit> {
    let reports = args
        .reports
        .iter()
        .map(|path| Ok((path.display().to_string(), read_report(path)?)))
        .collect::<Result<Vec<_>>>()?;
    let rules = Rules::load(args.output.rules.as_deref())?;
    let report = AuditReport::merge(reports, &rules.judge, &rules.digest);
    let targets = open_targets(&args.output)?;
    write_targets(&report, targets)?;
    Ok(if finish_report(&report, &args.output)? {
        Exit::Rejected
    } else {
        Exit::Success
    })
}

/// `proxy-audit rescore`: the saved observations judged again.
fn rescore(args: &RescoreArgs) -> Result<Exit> {
    let mut report = read_report(&args.report)?;
    let rules = Rules::load(args.output.rules.as_deref())?;
    report.rescore(&rules.judge, &rules.digest);
    let targets = open_targets(&args.output)?;
    write_targets(&report, targets)?;
    Ok(if finish_report(&report, &args.output)? {
        Exit::Rejected
    } else {
        Exit::Success
    })
}

/// Parses a rule file's text, naming it `origin` in errors.
type RuleValidator = fn(&str, &str) -> Result<(), String>;

/// A loader's outcome as [`check_rules`] reports it.
fn valid<T>(loaded: Result<T, crate::config::FileError>) -> Result<(), String> {
    loaded.map(drop).map_err(|error| error.to_string())
}

/// `proxy-audit rules check DIR`: every rule file and profile, every error printed.
fn check_rules(dir: &Path) -> Exit {
    let mut errors = Vec::new();
    let mut checked = 0;
    let mut check = |name: &str, result: Result<(), String>| {
        checked += 1;
        if let Err(error) = result {
            errors.push(format!("{name}: {error}"));
        }
    };
    let files: [(&str, RuleValidator); 5] = [
        ("scoring.toml", |text, origin| {
            valid(Scoring::from_toml(text, origin))
        }),
        ("interception-cas.toml", |text, origin| {
            valid(InterceptionCas::from_toml(text, origin))
        }),
        ("trusted.toml", |text, origin| {
            valid(TrustedList::from_toml(text, origin))
        }),
        ("blocklist.toml", |text, origin| {
            valid(Blocklist::from_toml(text, origin))
        }),
        ("default-secrets.toml", |text, origin| {
            valid(DefaultSecrets::from_toml(text, origin))
        }),
    ];
    for (name, validate) in files {
        let path = dir.join(name);
        let result = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
            .and_then(|text| validate(&text, &path.display().to_string()));
        check(name, result);
    }
    if let Ok(profiles) = std::fs::read_dir(dir.join("profiles")) {
        let mut paths: Vec<PathBuf> = profiles
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
            .collect();
        paths.sort();
        for path in paths {
            let name = path.display().to_string();
            check(&name, valid(Profile::load(&path)));
        }
    }
    for error in &errors {
        eprintln!("{error}");
    }
    if errors.is_empty() {
        println!("{checked} rule files in {} are valid", dir.display());
        Exit::Success
    } else {
        eprintln!("{} of {checked} rule files have errors", errors.len());
        Exit::InputError
    }
}

/// `proxy-audit verify`.
fn verify(args: &VerifyArgs) -> Result<Exit> {
    let data = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let signature_path = args
        .signature
        .clone()
        .unwrap_or_else(|| signature_path_for(&args.file));
    let signature = std::fs::read_to_string(&signature_path)
        .with_context(|| format!("cannot read {}", signature_path.display()))?;
    let key = std::fs::read_to_string(&args.key)
        .with_context(|| format!("cannot read {}", args.key.display()))?;
    match sign::verify(&data, &signature, &key) {
        Ok(()) => {
            println!("{}: signature good", args.file.display());
            Ok(Exit::Success)
        }
        Err(error) => {
            eprintln!(
                "proxy-audit: {}: signature BAD: {error}",
                args.file.display()
            );
            Ok(Exit::Rejected)
        }
    }
}

/// `proxy-audit keygen`: a new minisign key pair. The secret key is created, never
/// overwritten, and readable by its owner only.
fn keygen(args: &KeygenArgs) -> Result<Exit> {
    let password = std::env::var("PROXY_AUDIT_KEY_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    let (public, secret) = sign::generate_keypair(password.as_deref())?;
    let path = &args.secret_key;
    let cannot = || format!("cannot write {}", path.display());
    let mut file = AtomicFile::create_private(path).with_context(cannot)?;
    file.write_all(secret.as_bytes()).with_context(cannot)?;
    file.commit_new().with_context(|| {
        format!(
            "cannot write {} (an existing key is never replaced)",
            path.display()
        )
    })?;
    write_file(&args.public_key, public.as_bytes())?;
    eprintln!(
        "wrote {} (public) and {} (secret{})",
        args.public_key.display(),
        path.display(),
        if password.is_some() {
            ", encrypted"
        } else {
            ", not encrypted"
        }
    );
    Ok(Exit::Success)
}

/// `FILE.minisig`.
fn signature_path_for(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".minisig");
    PathBuf::from(name)
}

/// Writes the trusted list of entries that passed, and signs it if asked.
fn emit_trusted(report: &AuditReport, path: &Path, key: Option<&Path>) -> Result<()> {
    let passed: Vec<(String, ProxySpec)> = report
        .entries
        .iter()
        .filter(|entry| matches!(entry.scored.verdict, Verdict::Ok | Verdict::Trusted))
        .filter_map(|entry| {
            audit_report::spec_of(&entry.entry)
                .map(|spec| (format!("{} {}", entry.entry.kind, entry.entry.id), spec))
        })
        .collect();
    let pairs: Vec<(&str, &ProxySpec)> = passed.iter().map(|(n, s)| (n.as_str(), s)).collect();
    let source = match &report.vantage {
        Some(vantage) => format!("{} audit from {vantage}", report.tool),
        None => format!("{} audit", report.tool),
    };
    // The date of the audit, not of this run: re-emitting old observations is repeatable.
    let added = report
        .finished
        .get(..10)
        .filter(|date| date.len() == 10)
        .map_or_else(|| now_rfc3339().chars().take(10).collect(), str::to_owned);
    let text = trusted::emit(&pairs, &source, &added)?;
    write_file(path, text.as_bytes())?;
    if let Some(key) = key {
        let secret = std::fs::read_to_string(key)
            .with_context(|| format!("cannot read {}", key.display()))?;
        let password = std::env::var("PROXY_AUDIT_KEY_PASSWORD").ok();
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let signature = sign::sign(
            text.as_bytes(),
            &secret,
            password.as_deref(),
            &format!("proxy-audit trusted list {name}"),
        )?;
        write_file(&signature_path_for(path), signature.as_bytes())?;
    }
    Ok(())
}

/// Writes the cleaned list and the trusted list if asked, and tells whether `--fail-on`
/// was reached.
fn finish_report(report: &AuditReport, args: &ReportArgs) -> Result<bool> {
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

/// One report to write: its format and where.
struct Target {
    /// Format.
    format: AuditFormat,
    /// Colour the table: standard output is a terminal and `NO_COLOR` is not set.
    colour: bool,
    /// Destination (a file or standard output).
    out: Output,
}

/// Pairs `--format`s with `-o`s; formats without a file go to standard output (one only).
fn open_targets(args: &ReportArgs) -> Result<Vec<Target>> {
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

/// Writes the finished report to every target (NDJSON targets already have their entries).
/// Files appear only now, complete.
fn write_targets(report: &AuditReport, targets: Vec<Target>) -> Result<()> {
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

/// Colour on standard output: a terminal, and `NO_COLOR` unset (no-color.org).
fn wants_colour() -> bool {
    io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Now, RFC 3339 in UTC.
fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Lower-case hex SHA-256.
fn sha256_hex(bytes: &[u8]) -> String {
    crate::proto::hex::to_hex(&Sha256::digest(bytes))
}

/// SHA-256 of a file's bytes.
fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(sha256_hex(&bytes))
}

/// `proxy-audit lab`.
async fn lab(args: LabArgs) -> Result<Exit> {
    let interrupt = interrupt_signal();
    raise_open_files_limit();
    let lab = Lab::start(LabOptions {
        scale: args.scale,
        mtproto_scale: args.mtproto_scale,
        mix: args.mix,
        bind: Some(args.bind),
    })
    .await?;
    if let Some(path) = &args.list_out {
        write_file(path, lab.list().as_bytes())?;
    } else {
        let mut stdout = io::stdout().lock();
        stdout.write_all(lab.list().as_bytes())?;
        stdout.flush()?;
    }
    if let Some(path) = &args.profile_out {
        write_file(path, lab.profile_toml().as_bytes())?;
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        write_file(&dir.join(CA_FILE), lab.ca_pem().as_bytes())?;
        write_file(&dir.join(DC_KEY_FILE), lab.dc_key_pem().as_bytes())?;
    }
    eprintln!(
        "proxy-audit: lab running with {} proxies on {}; Ctrl-C stops it",
        lab.proxies().len(),
        if args.scale > 0 && args.bind != crate::lab::scale::DEFAULT_BIND {
            format!(
                "127.0.0.1 (the {} scaled ones on {})",
                args.scale, args.bind
            )
        } else {
            "127.0.0.1".to_owned()
        }
    );
    lab.run_until(interrupt).await;
    Ok(Exit::Success)
}

/// `proxy-audit demo`: the lab audited by its own profile.
async fn demo(args: DemoArgs) -> Result<Exit> {
    let interrupt = interrupt_signal();
    raise_open_files_limit();
    let lab = Lab::start(LabOptions::default()).await?;
    let profile = lab.profile()?;
    let mut collector = Collector::new(IngestOptions::default());
    collector.read_input("lab", io::Cursor::new(lab.list()))?;
    let inventory = collector.finish();
    if io::stderr().is_terminal() && !args.probe.quiet {
        eprintln!(
            "proxy-audit: started a lab of {} proxies on 127.0.0.1; auditing it…",
            lab.proxies().len()
        );
    }
    let options = audit_options(&args.probe, true);
    let rules = Rules::load(None)?;
    let mut targets = vec![Target {
        format: args.format,
        colour: wants_colour(),
        out: open_output(None)?,
    }];
    let (interrupted, report) = audit_inventory(
        &inventory,
        profile,
        options,
        args.probe.quiet,
        &mut targets,
        interrupt,
        &rules,
        true,
    )
    .await?;
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
    Ok(if interrupted {
        Exit::Interrupted
    } else {
        Exit::Success
    })
}

/// The rules an audit judges by.
struct Rules {
    /// The lists the checks consult.
    probe: ProbeRules,
    /// Scoring and the curated lists.
    judge: Judge,
    /// SHA-256 over the rule files' texts, for the report.
    digest: String,
}

impl Rules {
    /// The built-in rules, or those in `dir` (every file must be there).
    fn load(dir: Option<&Path>) -> Result<Self> {
        Ok(match dir {
            None => Self {
                probe: ProbeRules::built_in()?,
                judge: Judge {
                    scoring: Scoring::built_in()?,
                    trusted: TrustedList::built_in()?,
                    blocklist: Blocklist::built_in()?,
                },
                digest: sha256_hex(
                    [
                        crate::rules::scoring::BUILT_IN,
                        crate::catalog::interception::BUILT_IN,
                        crate::rules::trusted::BUILT_IN,
                        crate::rules::blocklist::BUILT_IN,
                        crate::catalog::default_secrets::BUILT_IN,
                    ]
                    .concat()
                    .as_bytes(),
                ),
            },
            Some(dir) => {
                let read = |name: &str| {
                    let path = dir.join(name);
                    std::fs::read_to_string(&path)
                        .map(|text| (text, path.display().to_string()))
                        .with_context(|| format!("cannot read {}", path.display()))
                };
                let (scoring, scoring_at) = read("scoring.toml")?;
                let (cas, cas_at) = read("interception-cas.toml")?;
                let (trusted, trusted_at) = read("trusted.toml")?;
                let (blocklist, blocklist_at) = read("blocklist.toml")?;
                let (defaults, defaults_at) = read("default-secrets.toml")?;
                Self {
                    probe: ProbeRules {
                        interception: InterceptionCas::from_toml(&cas, &cas_at)?,
                        default_secrets: DefaultSecrets::from_toml(&defaults, &defaults_at)?,
                    },
                    judge: Judge {
                        scoring: Scoring::from_toml(&scoring, &scoring_at)?,
                        trusted: TrustedList::from_toml(&trusted, &trusted_at)?,
                        blocklist: Blocklist::from_toml(&blocklist, &blocklist_at)?,
                    },
                    digest: sha256_hex(
                        [scoring, cas, trusted, blocklist, defaults]
                            .concat()
                            .as_bytes(),
                    ),
                }
            }
        })
    }
}

/// The checked probe settings.
fn audit_options(args: &ProbeArgs, allow_private: bool) -> AuditOptions {
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

/// Probes every entry and writes the report; returns true when interrupted.
///
/// NDJSON targets get each entry's line as soon as it finishes. With `keep_entries` false
/// (every target streams, and nothing after the run needs the entries), no entry is kept:
/// the returned report has the summary, inputs and rejected items but no `entries`, and the
/// memory an audit needs no longer grows with its results.
#[expect(
    clippy::too_many_arguments,
    reason = "the run's inputs, each used once; a struct would only rename them"
)]
async fn audit_inventory(
    inventory: &Inventory,
    profile: Profile,
    options: AuditOptions,
    quiet: bool,
    targets: &mut [Target],
    interrupt: impl Future<Output = ()>,
    rules: &Rules,
    keep_entries: bool,
) -> Result<(bool, AuditReport)> {
    raise_open_files_limit();
    let profile_name = profile.name.clone();
    let checks: Vec<Check> = options.checks.iter().copied().collect();
    let judge = &rules.judge;
    let context = Arc::new(AuditContext::new(profile, rules.probe.clone(), options)?);

    let progress = progress_bar(inventory.entries.len() as u64, quiet);
    let mut results: Vec<Option<ProbeResult>> = Vec::new();
    if keep_entries {
        results.resize_with(inventory.entries.len(), || None);
    }
    let streaming = targets.iter().any(|t| t.format == AuditFormat::Ndjson);
    let mut summary = AuditSummary::of(inventory);
    let (mut alive, mut flagged) = (0u64, 0u64);
    let mut write_error: Option<io::Error> = None;
    let interrupted = runner::run(&inventory.entries, context, interrupt, |index, result| {
        alive += u64::from(result.status == Status::Alive);
        flagged += u64::from(is_flagged(&result));
        progress.inc(1);
        progress.set_message(format!("{alive} alive, {flagged} flagged"));
        let Some(entry) = inventory.entries.get(index) else {
            return;
        };
        let kept = if keep_entries {
            results.get_mut(index)
        } else {
            None
        };
        let line = if let Some(slot) = kept {
            let line =
                streaming.then(|| audit_report::audited(inventory, entry, result.clone(), judge));
            *slot = Some(result);
            line
        } else {
            let line = audit_report::audited(inventory, entry, result, judge);
            summary.add(&line.result, line.scored.verdict);
            Some(line)
        };
        let Some(line) = line else {
            return;
        };
        for target in targets
            .iter_mut()
            .filter(|t| t.format == AuditFormat::Ndjson)
        {
            if let Err(error) = audit_report::write_ndjson_entry(&line, &mut target.out) {
                write_error.get_or_insert(error);
            }
        }
    })
    .await;
    progress.finish_and_clear();
    if let Some(error) = write_error {
        return Err(error.into());
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
            judge,
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
    report.rules_digest.clone_from(&rules.digest);
    Ok((interrupted, report))
}

/// True when the entries must be kept until the run ends: a target other than NDJSON, a
/// cleaned list or a trusted list needs them (`--fail-on` needs only the summary).
fn keeps_entries(targets: &[Target], args: &ReportArgs) -> bool {
    targets.iter().any(|t| t.format != AuditFormat::Ndjson)
        || args.clean.is_some()
        || args.emit_trusted.is_some()
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

/// Raises the open-files soft limit to the hard limit, so high concurrency does not run
/// out of descriptors. Failing to raise it is not fatal: connections then fail one by one.
fn raise_open_files_limit() {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
}

/// Reads every input named (or standard input) into one inventory.
async fn read_inputs(args: &InputArgs) -> Result<Inventory> {
    let inputs = if args.inputs.is_empty() {
        if io::stdin().is_terminal() {
            bail!("no input: name a file, a URL, or - for standard input (see --help)");
        }
        vec!["-".to_owned()]
    } else {
        args.inputs.clone()
    };
    let options = IngestOptions {
        default_kind: args.default_kind,
        forced_format: args.input_format,
    };
    let limits = FetchLimits {
        max_bytes: args.max_fetch_bytes,
        timeout: args.fetch_timeout,
    };
    Ok(ingest(&inputs, options, limits).await)
}

/// Standard output, or a file that appears only once complete.
fn open_output(path: Option<&Path>) -> Result<Output> {
    Output::open(path).with_context(|| {
        format!(
            "cannot write {}",
            path.map_or_else(String::new, |p| p.display().to_string())
        )
    })
}

/// Puts a finished output in place (a file) or flushes it (standard output).
fn finish_output(out: Output) -> Result<()> {
    let name = match &out {
        Output::File(file) => file.path().display().to_string(),
        Output::Device(_) => "the output device".to_owned(),
        Output::Stdout(_) => "standard output".to_owned(),
    };
    out.finish().with_context(|| format!("cannot write {name}"))
}

/// Writes a whole file atomically, naming it on failure.
fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// Reads every input into one inventory; failures are reported on stderr and recorded.
pub async fn ingest(inputs: &[String], options: IngestOptions, limits: FetchLimits) -> Inventory {
    let mut collector = Collector::new(options);
    for name in inputs {
        let result = if is_url(name) {
            match fetch(name, limits).await {
                Ok(body) => collector.read_input(name, io::Cursor::new(body)),
                Err(error) => Err(collector.fail_input(name, InputFormat::Text, error)),
            }
        } else {
            match open_local(name) {
                Ok(reader) => collector.read_input(name, reader),
                Err(error) => Err(collector.fail_input(name, InputFormat::Text, error.into())),
            }
        };
        if let Err(error) = result {
            eprintln!("proxy-audit: cannot read {name}: {error}");
        }
    }
    collector.finish()
}
