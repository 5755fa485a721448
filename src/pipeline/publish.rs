//! The pipeline's publishing end: the trusted list of the entries an audit passed
//! (`--emit-trusted`), and its minisign signature (`--sign`). Texts only: the caller writes
//! the files.

use super::now_rfc3339;
use crate::model::Verdict;
use crate::proxy::{ProxyKind, ProxySpec};
use crate::report::audit::{AuditReport, identity_of, spec_of};
use crate::report::redact::host_port;
use crate::rules::sign::{ListStamp, SignError, SigningKey};
use crate::rules::trusted::{self, Identity, TrustedError};

/// A publishable `trusted.toml` of the entries rated `ok` or `trusted`: MTProto keys as
/// SHA-256 hashes only, no password in any form (a redacted report gives the same list as
/// the plain one), dated the day the audit finished.
///
/// Entries are named by kind, login and endpoint (`socks5 user@1.2.3.4:1080`, `mtproto
/// 1.2.3.4:443 key 3f9a0c12` with the first digits of the key's hash), never by the
/// report's `id`: a plain report's id is a hash over the password, which a dictionary
/// reverses.
///
/// # Errors
/// When an entry cannot be written as a trusted-list entry.
pub fn trusted_list(report: &AuditReport) -> Result<String, TrustedError> {
    let passed: Vec<(&crate::report::audit::AuditedEntry, ProxySpec)> = report
        .entries
        .iter()
        .filter(|entry| matches!(entry.scored.verdict, Verdict::Ok | Verdict::Trusted))
        .filter_map(|entry| spec_of(&entry.entry).map(|spec| (entry, spec)))
        .collect();
    let named: Vec<(String, Identity<'_>)> = passed
        .iter()
        .map(|(entry, spec)| {
            let identity = identity_of(&entry.entry, spec, report.redacted);
            (list_name(&entry.entry, &identity), identity)
        })
        .collect();
    let pairs: Vec<(&str, Identity<'_>)> = named.iter().map(|(n, i)| (n.as_str(), *i)).collect();
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

/// The name a trusted-list entry is published under.
fn list_name(entry: &crate::report::types::EntryOut, identity: &Identity<'_>) -> String {
    let endpoint = host_port(entry);
    let login = entry
        .username
        .as_deref()
        .filter(|_| entry.kind != ProxyKind::Mtproto)
        .map_or_else(String::new, |user| format!("{user}@"));
    let key = identity
        .key_sha256
        .filter(|_| entry.kind == ProxyKind::Mtproto)
        .map_or_else(String::new, |hash| {
            format!(
                " key {}",
                crate::proto::hex::to_hex(hash.get(..4).unwrap_or_default())
            )
        });
    format!("{} {login}{endpoint}{key}", entry.kind)
}

/// The minisign signature of a trusted list published as `file_name`, made with an
/// unlocked `key`; its trusted comment carries `stamp` (creation time, sequence number).
///
/// # Errors
/// When signing fails (the file name is not one line, say).
pub fn sign_list(
    text: &str,
    file_name: &str,
    key: &SigningKey,
    stamp: ListStamp,
) -> Result<String, SignError> {
    key.sign(text.as_bytes(), &stamp.comment(file_name))
}
