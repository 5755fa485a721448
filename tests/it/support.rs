//! Helpers shared by the integration tests: run the built binary, read its JSON, audit the
//! lab in-process.

use std::io::{Cursor, Write as _};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use proxy_audit::checks::{AuditContext, AuditOptions, ProbeRules};
use proxy_audit::ingest::{Collector, IngestOptions, Inventory};
use proxy_audit::lab::Lab;
use proxy_audit::model::Check;

use serde_json::Value;

/// The built binary, run from the crate root.
pub fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_proxy-audit"));
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    command
}

/// Runs the binary with `args`, feeding `stdin`, and waits for it.
pub fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = binary()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    // A child that stops before reading its input (a usage error) may close the pipe first.
    if let Err(error) = pipe.write_all(stdin.unwrap_or_default().as_bytes()) {
        assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe, "{error}");
    }
    drop(pipe);
    child.wait_with_output().unwrap()
}

/// Standard output as JSON (panics with the output when it is not).
pub fn json_of(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Reads the lab's own list.
pub fn lab_inventory(lab: &Lab) -> Inventory {
    let mut collector = Collector::new(IngestOptions::default());
    collector
        .read_input("lab", Cursor::new(lab.list()))
        .unwrap();
    collector.finish()
}

/// What an in-process audit of the lab shares: the lab's profile, the built-in
/// rule lists, `checks`, 64 entries at a time, private (loopback) targets allowed.
pub fn lab_context(
    lab: &Lab,
    checks: &[Check],
    step: Duration,
    deadline: Duration,
) -> Arc<AuditContext> {
    let options = AuditOptions {
        concurrency: 64,
        per_host: 0,
        step_timeout: step,
        entry_deadline: deadline,
        checks: checks.iter().copied().collect(),
        allow_private: true,
        dc: 2,
    };
    let rules = ProbeRules::built_in().unwrap();
    Arc::new(AuditContext::new(lab.profile().unwrap(), rules, options).unwrap())
}
