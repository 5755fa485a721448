//! The command line as the user typed it (clap derive structs) and the exit codes.
//! Checking and running happen in [`crate::run`].

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::ingest::InputFormat;
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
}

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

    /// Output format [default: table on a terminal, json otherwise].
    #[arg(long, short = 'f', value_enum, value_name = "FORMAT")]
    pub format: Option<OutputFormat>,

    /// Write the report to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Exit with status 1 when any line was rejected.
    #[arg(long)]
    pub strict: bool,

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
    /// `--strict` and something was rejected.
    Rejected = 1,
    /// An input could not be read, or the command line was wrong.
    InputError = 2,
}

/// Parses a proxy kind for `--default-kind`.
fn parse_kind(text: &str) -> Result<ProxyKind, String> {
    text.parse()
}

/// Parses a duration: bare seconds (`2`, `0.5`) or a number with `ms`, `s` or `m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
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
}
