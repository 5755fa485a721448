//! Runs a checked command line: reads the inputs, writes the report, picks the exit status.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};

use anyhow::{Context, Result, bail};

use crate::cli::{Cli, Command, Exit, ParseArgs};
use crate::ingest::read::{FetchLimits, fetch, is_url, open_local};
use crate::ingest::{Collector, IngestOptions, Inventory};
use crate::report::{self, OutputFormat};

/// Runs the command and returns the exit status.
pub async fn run(cli: Cli) -> Result<Exit> {
    match cli.command {
        Command::Parse(args) => parse(args).await,
    }
}

/// `proxy-audit parse`.
async fn parse(args: ParseArgs) -> Result<Exit> {
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
    let inventory = ingest(&inputs, options, limits).await;

    let to_terminal = args.output.is_none() && io::stdout().is_terminal();
    let format = args.format.unwrap_or(if to_terminal {
        OutputFormat::Table
    } else {
        OutputFormat::Json
    });
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("cannot write {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(io::stdout().lock())),
    };
    report::write(&inventory, format, &mut out)?;
    out.flush()?;

    let totals = inventory.totals();
    if inventory.failed_inputs().next().is_some() {
        Ok(Exit::InputError)
    } else if args.strict && totals.rejected > 0 {
        Ok(Exit::Rejected)
    } else {
        Ok(Exit::Success)
    }
}

/// Reads every input into one inventory; failures are reported on stderr and recorded.
pub async fn ingest(inputs: &[String], options: IngestOptions, limits: FetchLimits) -> Inventory {
    let mut collector = Collector::new(options);
    for name in inputs {
        let result = if is_url(name) {
            match fetch(name, limits).await {
                Ok(body) => collector.read_input(name, io::Cursor::new(body)),
                Err(error) => {
                    Err(collector.fail_input(name, crate::ingest::InputFormat::Text, error))
                }
            }
        } else {
            match open_local(name) {
                Ok(reader) => collector.read_input(name, reader),
                Err(error) => {
                    Err(collector.fail_input(name, crate::ingest::InputFormat::Text, error.into()))
                }
            }
        };
        if let Err(error) = result {
            eprintln!("proxy-audit: cannot read {name}: {error}");
        }
    }
    collector.finish()
}
