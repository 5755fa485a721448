//! Audits a proxy list with the library, as another program would: it starts the built-in
//! lab on loopback, reads the lab's list, audits it with every check and prints each proxy's
//! verdict and the sentence behind it. `cargo run --example audit_list`.

use std::time::Duration;

use proxy_audit::model::{Check, Verdict};
use proxy_audit::pipeline;
use proxy_audit::{AuditOptions, AuditRequest, IngestOptions, Lab, LabOptions, RuleSet, Silent};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let lab = Lab::start(LabOptions::default()).await?;
    let inventory = pipeline::ingest_text("lab", &lab.list(), IngestOptions::default())?;
    let options = AuditOptions {
        concurrency: 64,
        per_host: 4,
        step_timeout: Duration::from_secs(2),
        entry_deadline: Duration::from_secs(12),
        checks: Check::ALL.into_iter().collect(),
        allow_private: true, // the lab is on loopback
        dc: 2,
    };
    let request = AuditRequest::new(lab.profile()?, RuleSet::built_in()?, options);
    let report = pipeline::audit(&inventory, request, std::future::pending(), &mut Silent).await?;
    for audited in &report.entries {
        let score = audited
            .scored
            .score
            .map_or("-".to_owned(), |s| s.to_string());
        let verdict = audited.scored.verdict;
        let entry = &audited.entry;
        let endpoint = format!("{}:{}", entry.host, entry.port);
        let kind = entry.kind;
        println!(
            "{verdict:<12} {score:>3}  {kind:<7} {endpoint:<21} {}",
            audited.scored.explanation
        );
    }
    let dangerous = report.summary.verdicts.get(&Verdict::Dangerous);
    println!(
        "{} proxies, {} dangerous",
        report.entries.len(),
        dangerous.copied().unwrap_or(0)
    );
    Ok(())
}
