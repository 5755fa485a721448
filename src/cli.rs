//! The command line as the user typed it (clap derive structs) and the exit codes: the
//! first stage of a run, in the top layer with the commands. Checking and running happen in
//! [`crate::commands`].

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use std::sync::OnceLock;

use clap::builder::PossibleValue;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::ingest::InputFormat;
use crate::lab::scale::Mix;
use crate::model::{Anonymity, Check, Verdict};
use crate::proxy::ProxyKind;
use crate::report::OutputFormat;

/// Audit the proxy lists shared in Telegram channels.
#[derive(Debug, Parser)]
#[command(name = "proxy-audit", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read proxy lists and report every proxy found, every duplicate and every rejected line.
    #[command(after_help = PARSE_EXAMPLES)]
    Parse(ParseArgs),
    /// Read proxy lists, then probe every proxy for what it does to traffic.
    #[command(after_help = AUDIT_EXAMPLES)]
    Audit(AuditArgs),
    /// Run the lab: honest and malicious proxies on this machine, until Ctrl-C.
    #[command(after_help = LAB_EXAMPLES)]
    Lab(LabArgs),
    /// Start the lab, audit it, print the report: a tour of what proxies can do.
    Demo(DemoArgs),
    /// Score a saved JSON report again (other rules, other formats), without probing.
    Rescore(RescoreArgs),
    /// Merge JSON reports from several vantages into one (worst evidence wins; each
    /// vantage's results are kept).
    Merge(MergeArgs),
    /// Check a signed trusted list (minisign): exit 0 when the signature is good.
    Verify(VerifyArgs),
    /// Make a minisign key pair for signing trusted lists (`--emit-trusted --sign`).
    #[command(after_help = KEYGEN_EXAMPLES)]
    Keygen(KeygenArgs),
    /// Work with rule folders.
    #[command(subcommand)]
    Rules(RulesCommand),
}

/// Examples shown after `audit --help`.
const AUDIT_EXAMPLES: &str = "\
Examples:
  proxy-audit audit lists/links.txt
  proxy-audit audit channel.json --checks liveness --timeout 2 --format ndjson
  proxy-audit audit list.txt --profile my-profile.toml -o report.json
  proxy-audit lab --list-out lab.txt --profile-out lab.toml &
  proxy-audit audit lab.txt --profile lab.toml --allow-private

Checks: liveness (always: connect, handshake, one request to the first HTTP canary; for
MTProto, the obfuscated/FakeTLS handshake and req_pq_multi), credentials, tls, content,
judge, dns, telegram (the datacenter proves it holds a trusted Telegram key; also through
SOCKS5 proxies), fronting (FakeTLS proxies show the fronted domain's certificate), replay. Loopback and private addresses are refused
(finding private_address) unless --allow-private is given.

Exit codes: 0 done; 1 --fail-on was reached; 2 an input could not be read or the
command line is wrong; 130 interrupted (the report is still written; unfinished entries are not_audited).";

/// Examples shown after `keygen --help`.
const KEYGEN_EXAMPLES: &str = "\
Examples:
  proxy-audit keygen --public-key trusted.pub --secret-key trusted.key
  PROXY_AUDIT_KEY_PASSWORD=... proxy-audit keygen --public-key trusted.pub --secret-key trusted.key

With PROXY_AUDIT_KEY_PASSWORD set, the secret key is encrypted with it (as minisign -G
does); --sign then reads the same variable. Keys are ordinary minisign keys (one made with
`minisign -G` or `minisign -G -W`, unencrypted, works too): users can check a list with
`minisign -Vm trusted.toml -p trusted.pub` or `proxy-audit verify`. An existing key file is
never replaced unless --force is given.";

/// Examples shown after `lab --help`.
const LAB_EXAMPLES: &str = "\
Examples:
  proxy-audit lab
  proxy-audit lab --list-out lab.txt --profile-out lab.toml
  proxy-audit lab --scale 2000 --list-out big.txt --profile-out lab.toml
  proxy-audit lab --scale 10000 --mix live=60,refused=30,blackhole=10 --bind 127.2.0.1

The profile's roots file (lab-ca.pem) is written next to --profile-out.";

/// Examples shown after `parse --help`.
const PARSE_EXAMPLES: &str = "\
Examples:
  proxy-audit parse lists/links.txt
  proxy-audit parse result.json messages.html --format links > clean.txt
  cat channel.txt | proxy-audit parse - --format json
  proxy-audit parse https://example.org/proxies.txt --strict
  proxy-audit parse hosts.txt --default-kind http --format ndjson

Exit codes: 0 done; 1 --strict and something was rejected; 2 an input could not be read
or the command line is wrong.";

/// Arguments of `parse`.
#[derive(Debug, Args)]
pub struct ParseArgs {
    /// What to read.
    #[command(flatten)]
    pub input: InputArgs,

    /// Output format [default: table on a terminal, json otherwise].
    #[arg(long, short = 'f', value_enum, value_name = "FORMAT")]
    pub format: Option<OutputFormat>,

    /// Write the report to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Exit with status 1 when any line was rejected.
    #[arg(long)]
    pub strict: bool,

    /// Fetch list URLs (and follow redirects) on loopback and private addresses too.
    #[arg(long)]
    pub allow_private: bool,
}

/// Arguments of `audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// What to read.
    #[command(flatten)]
    pub input: InputArgs,

    /// How to probe.
    #[command(flatten)]
    pub probe: ProbeArgs,

    /// Name of the place this audit runs from, recorded in the report (for merging).
    #[arg(long, value_name = "NAME")]
    pub vantage: Option<String>,

    /// Where the checks point: a profile file [default: the built-in `internet` profile].
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,

    /// Probe loopback and private addresses too (otherwise refused as private_address),
    /// and fetch list URLs there.
    #[arg(long)]
    pub allow_private: bool,

    /// How to write the report.
    #[command(flatten)]
    pub report: ReportArgs,
}

/// Report outputs, shared by `audit` and `rescore`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Output format; repeat with -o for several reports in one run (the n-th --format goes
    /// to the n-th -o; one may go to standard output) [default: table on a terminal, json
    /// otherwise].
    #[arg(long, short = 'f', value_enum, value_name = "FORMAT")]
    pub format: Vec<AuditFormat>,

    /// Write a report to FILE (repeatable, paired with --format).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Vec<PathBuf>,

    /// Also write a cleaned list to FILE: the entries whose verdict is at least --keep, in
    /// the order and form they were given, ready to paste back into Telegram.
    #[arg(long, value_name = "FILE")]
    pub clean: Option<PathBuf>,

    /// Lowest verdict kept in the cleaned list: trusted, ok, inconclusive (also the entries
    /// whose checks did not all finish) or suspicious.
    #[arg(long, value_name = "VERDICT", default_value = "ok", value_parser = parse_keep)]
    pub keep: Verdict,

    /// Keep in the cleaned list only SOCKS/HTTP proxies at least this anonymous, as the
    /// judge saw them: elite (no trace of a proxy), anonymous (headers show a proxy, not
    /// you) or transparent (your address reaches sites). Proxies whose level was not
    /// measured are left out; MTProto proxies are kept (the level does not apply).
    #[arg(long, value_enum, value_name = "LEVEL", requires = "clean")]
    pub min_anonymity: Option<AnonymityArg>,

    /// Rules folder (scoring.toml, interception-cas.toml, trusted.toml, blocklist.toml,
    /// default-secrets.toml) [default: the built-in rules].
    #[arg(long, value_name = "DIR")]
    pub rules: Option<PathBuf>,

    /// Write a trusted.toml of the entries that passed (verdict ok or trusted), to publish:
    /// MTProto secrets appear only as SHA-256 hashes of their key, passwords not at all
    /// (the endpoint and username identify a SOCKS/HTTP proxy).
    #[arg(long, value_name = "FILE")]
    pub emit_trusted: Option<PathBuf>,

    /// Sign the --emit-trusted file with this minisign secret key (FILE.minisig is written
    /// next to it; the key's password, if it is encrypted, is read from
    /// PROXY_AUDIT_KEY_PASSWORD). The key is read and unlocked before anything is probed;
    /// a list whose signature cannot be written is removed, never left unsigned.
    #[arg(long, value_name = "KEY", requires = "emit_trusted")]
    pub sign: Option<PathBuf>,

    /// Sequence number signed into the list's trusted comment, next to its creation time:
    /// each published list must have a higher one than the last, so a reader can refuse an
    /// older list served in its place [default: the Unix time of signing, which grows by
    /// itself from one run to the next].
    #[arg(long, value_name = "N", requires = "sign")]
    pub sequence: Option<u64>,

    /// Make the JSON and NDJSON reports publishable: every MTProto secret and password is
    /// replaced by a keyed fingerprint, and entry ids are keyed too ("redacted": true in the
    /// document). The same proxy gets the same fingerprint under the same key, so redacted
    /// reports still merge and rescore; give every vantage the same key. A redacted report
    /// stays redacted when read back. (Table, CSV, Markdown and HTML never show secrets.)
    #[arg(long)]
    pub redact: bool,

    /// The --redact key: a file of at least 16 bytes (e.g. `openssl rand -hex 32`) [default:
    /// the PROXY_AUDIT_REDACT_KEY variable, else a random key whose fingerprints match no
    /// other report's].
    #[arg(long, value_name = "FILE", requires = "redact")]
    pub redact_key: Option<PathBuf>,

    /// Exit with status 1 when any entry reaches this verdict: `dangerous`; `suspicious`
    /// (suspicious or dangerous); `dead` (dead, inconclusive, suspicious or dangerous).
    #[arg(long, value_name = "VERDICT", value_parser = parse_fail_on)]
    pub fail_on: Option<Verdict>,
}

/// Arguments of `merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// JSON reports written by `audit` (ideally with different `--vantage` names).
    #[arg(value_name = "REPORT.json", required = true, num_args = 1..)]
    pub reports: Vec<PathBuf>,

    /// How to write the merged report.
    #[command(flatten)]
    pub output: ReportArgs,
}

/// Arguments of `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The signed file (e.g. a trusted.toml from --emit-trusted).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// The minisign public key file.
    #[arg(long, value_name = "PUB")]
    pub key: PathBuf,

    /// The signature [default: FILE.minisig].
    #[arg(long, value_name = "SIG")]
    pub signature: Option<PathBuf>,

    /// Reject a list signed longer ago than this (from the creation time in its signed
    /// comment; a list without one is rejected too): seconds, or `90m`, `36h`, `7d`.
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    pub max_age: Option<Duration>,
}

/// Arguments of `keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the public key (publish it with the list).
    #[arg(long, value_name = "PUB")]
    pub public_key: PathBuf,

    /// Where to write the secret key (keep it in the CI's secret store).
    #[arg(long, value_name = "KEY")]
    pub secret_key: PathBuf,

    /// Replace existing key files (without it, keygen refuses to overwrite either file).
    #[arg(long)]
    pub force: bool,
}

/// `rules` subcommands.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Check every rule file in DIR (default: ./rules) and print every error with its file
    /// and line; exit 2 when any is wrong.
    Check {
        /// The rules folder.
        #[arg(value_name = "DIR", default_value = "rules")]
        dir: PathBuf,
    },
}

/// Arguments of `rescore`.
#[derive(Debug, Args)]
pub struct RescoreArgs {
    /// A JSON report written by `audit`.
    #[arg(value_name = "REPORT.json")]
    pub report: PathBuf,

    /// How to write the new report.
    #[command(flatten)]
    pub output: ReportArgs,
}

/// Probe settings shared by `audit` and `demo`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Proxies probed at once. The open-files limit is raised to allow it.
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub concurrency: u32,

    /// Proxies of one host probed at once, whatever --concurrency is (0: no limit). Each
    /// holds one connection at a time, so this is also the most connections the audit
    /// opens to one server: lists hold dozens of secrets for one host, and hammering it
    /// trips its abuse limits and makes an honest server look dead.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub per_host: u32,

    /// Longest one step may take (connect, handshake, one request): seconds (`2`, `0.5`)
    /// or a duration (`500ms`).
    #[arg(long, value_name = "DURATION", default_value = "5", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Longest one proxy may take, all checks together [default: 6 × --timeout].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub deadline: Option<Duration>,

    /// Telegram datacenter the `telegram` check asks for (an id in the profile's
    /// `[telegram]` table).
    #[arg(long, value_name = "ID", default_value_t = 2)]
    pub dc: i16,

    /// Checks to run, comma-separated [default: all]. `liveness` always runs.
    #[arg(long, value_enum, value_delimiter = ',', value_name = "CHECKS")]
    pub checks: Vec<CheckArg>,

    /// No progress bar (it is also hidden when standard error is not a terminal).
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// Arguments of `lab`.
#[derive(Debug, Args)]
pub struct LabArgs {
    /// Write the lab's proxy list to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub list_out: Option<PathBuf>,

    /// Write the lab profile to FILE (and its CA to lab-ca.pem next to it).
    #[arg(long, value_name = "FILE")]
    pub profile_out: Option<PathBuf>,

    /// Add N endpoints, each on its own port (for benchmarks): honest SOCKS5 proxies,
    /// refused ports and blackholes as --mix says.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub scale: usize,

    /// How the --scale endpoints split, in percent adding up to 100: `live` (honest SOCKS5),
    /// `refused` (connection refused), `blackhole` (TCP handshake, then silence). Each is
    /// named in the list's comments (`# scale-refused-7: …`).
    #[arg(long, value_name = "MIX", default_value = "live=100")]
    pub mix: Mix,

    /// Loopback address of the first --scale endpoint (anything in 127.0.0.0/8, or ::1):
    /// each next one listens on the next address (127.1.0.1, 127.1.0.2, …), as the proxies
    /// of a real list are on distinct hosts. With ::1 they all share it. Several labs
    /// started from different addresses get past the per-process open-files limit.
    #[arg(long, value_name = "ADDRESS", default_value = "127.1.0.1", value_parser = parse_loopback)]
    pub bind: IpAddr,

    /// Add N honest MTProto proxies (dd secrets), each on its own port (for benchmarks).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub mtproto_scale: usize,
}

/// Arguments of `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How to probe (a short timeout keeps the tour quick).
    #[command(flatten)]
    pub probe: ProbeArgs,

    /// Output format.
    #[arg(
        long,
        short = 'f',
        value_enum,
        value_name = "FORMAT",
        default_value = "table"
    )]
    pub format: AuditFormat,
}

/// Output formats of `audit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuditFormat {
    /// Human table; secrets and passwords redacted.
    Table,
    /// One JSON document.
    Json,
    /// One JSON line per entry as it finishes, then rejected items and a summary line.
    Ndjson,
    /// CSV for spreadsheets (credentials redacted).
    Csv,
    /// A Markdown table for issue comments (credentials redacted).
    Markdown,
    /// One self-contained HTML page with charts, for people (credentials redacted).
    Html,
}

/// What to read: shared by `parse` and `audit`.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// Inputs: files, `-` for standard input, or http(s):// URLs. Without any, standard
    /// input is read when it is not a terminal.
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<String>,

    /// Read every input as this format instead of detecting it per input.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub input_format: Option<InputFormat>,

    /// Kind of proxy for bare `host:port` lines that do not say.
    #[arg(long, value_name = "KIND", default_value = "socks5", value_parser = parse_kind)]
    pub default_kind: ProxyKind,

    /// Largest list fetched from a URL, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 32 * 1024 * 1024)]
    pub max_fetch_bytes: u64,

    /// Deadline for fetching one URL: seconds (`30`, `0.5`) or a duration (`500ms`, `1m`).
    #[arg(long, value_name = "DURATION", default_value = "30", value_parser = parse_duration)]
    pub fetch_timeout: Duration,
}

/// Exit statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything was read (and, with `--strict`, nothing was rejected).
    Success = 0,
    /// `parse --strict` and something was rejected, or `audit --fail-on` was reached.
    Rejected = 1,
    /// An input could not be read, or the command line was wrong.
    InputError = 2,
    /// Interrupted by Ctrl-C (the report was still written).
    Interrupted = 130,
}

/// A [`Check`] as `--checks` takes it: the names and one-line descriptions are the model's,
/// so a new check appears on the command line without an edit here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckArg(pub Check);

impl ValueEnum for CheckArg {
    fn value_variants<'a>() -> &'a [Self] {
        static ALL: OnceLock<Vec<CheckArg>> = OnceLock::new();
        ALL.get_or_init(|| Check::ALL.into_iter().map(CheckArg).collect())
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.0.name()).help(self.0.about()))
    }
}

/// An [`Anonymity`] level as `--min-anonymity` takes it (names and descriptions from the
/// model).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnonymityArg(pub Anonymity);

impl ValueEnum for AnonymityArg {
    fn value_variants<'a>() -> &'a [Self] {
        static ALL: OnceLock<Vec<AnonymityArg>> = OnceLock::new();
        ALL.get_or_init(|| Anonymity::ALL.into_iter().map(AnonymityArg).collect())
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.0.name()).help(self.0.about()))
    }
}

/// Parses `--fail-on`: only the verdicts that make sense as a gate.
fn parse_fail_on(text: &str) -> Result<Verdict, String> {
    match text {
        "dangerous" => Ok(Verdict::Dangerous),
        "suspicious" => Ok(Verdict::Suspicious),
        "dead" => Ok(Verdict::Dead),
        _ => Err(format!("{text:?}: expected dangerous, suspicious or dead")),
    }
}

/// Parses `--keep`.
fn parse_keep(text: &str) -> Result<Verdict, String> {
    match text {
        "trusted" => Ok(Verdict::Trusted),
        "ok" => Ok(Verdict::Ok),
        "inconclusive" => Ok(Verdict::Inconclusive),
        "suspicious" => Ok(Verdict::Suspicious),
        _ => Err(format!(
            "{text:?}: expected trusted, ok, inconclusive or suspicious"
        )),
    }
}

/// Parses `lab --bind`: a loopback address only.
fn parse_loopback(text: &str) -> Result<IpAddr, String> {
    let ip: IpAddr = text
        .parse()
        .map_err(|_| format!("{text:?} is not an IP address"))?;
    crate::lab::scale::check_bind(ip).map_err(|e| e.to_string())
}

/// Parses a proxy kind for `--default-kind`.
fn parse_kind(text: &str) -> Result<ProxyKind, String> {
    text.parse()
}

/// Parses `verify --max-age`: a duration as [`parse_duration`] takes it, or whole hours
/// (`36h`) or days (`7d`).
fn parse_age(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let scaled = |number: &str, unit: u64| {
        number
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .and_then(|n| n.checked_mul(unit))
            .map(Duration::from_secs)
            .ok_or_else(|| format!("{text:?} is not an age (try 3600, 90m, 36h or 7d)"))
    };
    if let Some(days) = text.strip_suffix('d') {
        scaled(days, 86_400)
    } else if let Some(hours) = text.strip_suffix('h') {
        scaled(hours, 3_600)
    } else {
        parse_duration(text)
    }
}

/// Parses a duration: bare seconds (`2`, `0.5`) or a number with `ms`, `s` or `m`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (try 5, 0.5, 500ms or 1m)"))?;
    Duration::try_from_secs_f64(value * scale)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{text:?} must be a positive duration"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// The `--rules` help spells the rule files out (clap needs a literal); it must name
    /// the registry's, in its order.
    #[test]
    fn the_rules_help_names_every_registered_file() {
        let command = Cli::command();
        let audit = command.find_subcommand("audit").unwrap();
        let rules = audit
            .get_arguments()
            .find(|arg| arg.get_id() == "rules")
            .unwrap();
        let help = rules.get_help().unwrap().to_string();
        let named: Vec<&str> = help
            .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '.'))
            .filter(|word| {
                std::path::Path::new(word)
                    .extension()
                    .is_some_and(|ext| ext == "toml")
            })
            .collect();
        let registered: Vec<&str> = crate::rules::RULE_FILES
            .iter()
            .map(|file| file.name)
            .collect();
        assert_eq!(named, registered);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("3s"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("NaN").is_err());
    }

    #[test]
    fn ages() {
        assert_eq!(parse_age("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_age("36h"), Ok(Duration::from_secs(36 * 3_600)));
        assert_eq!(parse_age("90m"), Ok(Duration::from_secs(90 * 60)));
        assert_eq!(parse_age("600"), Ok(Duration::from_secs(600)));
        assert!(parse_age("0d").is_err());
        assert!(parse_age("1.5d").is_err());
        assert!(parse_age("soon").is_err());
    }
}
