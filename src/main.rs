//! The `proxy-audit` binary: parses arguments, runs, maps the outcome to an exit status.

use std::io;
use std::process::ExitCode;

use clap::Parser;

use proxy_audit::cli::{Cli, Exit};
use proxy_audit::commands::run;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("proxy-audit: cannot start the async runtime: {error}");
            return ExitCode::from(Exit::InputError as u8);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(exit) => ExitCode::from(exit as u8),
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("proxy-audit: {error:#}");
            ExitCode::from(Exit::InputError as u8)
        }
    }
}

/// A reader closed our stdout (`| head`): not an error worth reporting.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<io::Error>())
        .any(|io_error| io_error.kind() == io::ErrorKind::BrokenPipe)
}
