//! The commands: each checks its arguments (as [`crate::cli`] parsed them), calls the
//! pipeline and the library below it, and prints. This is the top of the dependency order
//! and the binary's edge: `anyhow` stops here, and only here is anything written to
//! standard output or standard error.
//!
//! One file per command: `parse.rs`, `audit.rs`, `lab.rs`, `demo.rs`; `rescore.rs` holds
//! `rescore` and `merge` (saved reports judged again), `rules.rs` `rules check`, `keys.rs`
//! `keygen` and `verify`. What they share: `console.rs` shows the pipeline's events (a
//! progress bar, warnings, NDJSON lines as entries finish) and `reports.rs` writes report
//! outputs (`--format`/`-o` pairs), cleaned lists and trusted lists.

mod audit;
mod console;
mod demo;
mod keys;
mod lab;
mod parse;
mod reports;
mod rescore;
mod rules;

use std::future::Future;
use std::pin::Pin;

use anyhow::Result;

use crate::cli::{Cli, Command, Exit, RulesCommand};

/// Runs the command and returns the exit status.
///
/// # Errors
/// When the command cannot run (an unreadable file, a bad rules folder, a failed write);
/// the binary prints the error and exits with status 2.
pub async fn run(cli: Cli) -> Result<Exit> {
    match cli.command {
        Command::Parse(args) => parse::parse(args).await,
        Command::Audit(args) => audit::audit(args).await,
        Command::Lab(args) => lab::lab(args).await,
        Command::Demo(args) => demo::demo(args).await,
        Command::Rescore(args) => rescore::rescore(&args),
        Command::Merge(args) => rescore::merge(&args),
        Command::Verify(args) => keys::verify(&args),
        Command::Keygen(args) => keys::keygen(&args),
        Command::Rules(RulesCommand::Check { dir }) => Ok(rules::check(&dir)),
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
