//! The pipeline's publishing end: the trusted list of the entries an audit passed
//! (`--emit-trusted`), and its minisign signature (`--sign`). Texts only: the caller writes
//! the files.

use super::now_rfc3339;
use crate::model::Verdict;
use crate::proxy::ProxySpec;
use crate::report::audit::{AuditReport, spec_of};
use crate::rules::sign::{self, SignError};
use crate::rules::trusted::{self, TrustedError};

/// A publishable `trusted.toml` of the entries rated `ok` or `trusted` (secrets and
/// passwords as SHA-256 hashes only), dated the day the audit finished.
///
/// # Errors
/// When an entry cannot be written as a trusted-list entry.
pub fn trusted_list(report: &AuditReport) -> Result<String, TrustedError> {
    let passed: Vec<(String, ProxySpec)> = report
        .entries
        .iter()
        .filter(|entry| matches!(entry.scored.verdict, Verdict::Ok | Verdict::Trusted))
        .filter_map(|entry| {
            spec_of(&entry.entry)
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
    trusted::emit(&pairs, &source, &added)
}

/// The minisign signature of a trusted list published as `file_name`, made with
/// `secret_key` (the key file's text; `password` decrypts it, if it is encrypted).
///
/// # Errors
/// When the key cannot be read or decrypted, or signing fails.
pub fn sign_list(
    text: &str,
    file_name: &str,
    secret_key: &str,
    password: Option<&str>,
) -> Result<String, SignError> {
    sign::sign(
        text.as_bytes(),
        secret_key,
        password,
        &format!("proxy-audit trusted list {file_name}"),
    )
}
