//! `proxy-audit parse`: reads the inputs (the pipeline's ingest stage) and writes the parse
//! report; also the input reading `audit` shares.

use std::io::{self, IsTerminal};

use anyhow::{Result, bail};

use super::console::Console;
use super::reports::{finish_output, open_output};
use crate::cli::{Exit, InputArgs, ParseArgs};
use crate::ingest::read::FetchLimits;
use crate::ingest::{IngestOptions, Inventory};
use crate::pipeline::{self, Events};
use crate::report::{self, OutputFormat};

/// `proxy-audit parse`.
pub(super) async fn parse(args: ParseArgs) -> Result<Exit> {
    let inventory = read_inputs(&args.input, args.allow_private, &mut Console::new()).await?;
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

/// Reads every input named (or standard input, when it is not a terminal) into one
/// inventory; an input that cannot be read is named to `events`. List URLs on non-public
/// addresses are fetched only with `allow_private`.
pub(super) async fn read_inputs(
    args: &InputArgs,
    allow_private: bool,
    events: &mut dyn Events,
) -> Result<Inventory> {
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
        allow_private,
    };
    Ok(pipeline::ingest(&inputs, options, limits, events).await)
}
