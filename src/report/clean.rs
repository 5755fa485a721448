//! The cleaned list: the entries worth keeping, one per line, in the order and the form the
//! user gave them (a `t.me` link stays a `t.me` link, a base64 secret stays base64), so it
//! can be pasted back into Telegram. An entry first seen as a multi-line block, or whose
//! original text no longer reads back as the same proxy, is written as its normalised link.

use std::io::{self, Write};

use super::audit::{AuditReport, AuditedEntry};
use crate::ingest::bare::parse_bare;
use crate::ingest::link::find_links;
use crate::model::Anonymity;
use crate::model::Verdict;
use crate::proto::mtproto::secret::MtprotoSecret;
use crate::proxy::{ProxyKind, ProxySpec};

/// Which entries the cleaned list keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keep {
    /// The lowest verdict kept (trusted > ok > inconclusive > suspicious).
    pub verdict: Verdict,
    /// For SOCKS and HTTP proxies, the lowest anonymity level kept; one whose level was not
    /// measured (no judge, or its answer could not be read) is left out. MTProto proxies
    /// carry only Telegram's traffic, which has no headers to reveal anything: the level
    /// does not apply to them.
    pub min_anonymity: Option<Anonymity>,
}

impl Keep {
    /// True when `audited` belongs in the cleaned list.
    pub fn keeps(&self, audited: &AuditedEntry) -> bool {
        if audited.scored.verdict.rank() > self.verdict.rank() {
            return false;
        }
        let Some(minimum) = self.min_anonymity else {
            return true;
        };
        audited.entry.kind == ProxyKind::Mtproto
            || audited
                .result
                .observations
                .anonymity
                .as_ref()
                .is_some_and(|seen| seen.level.at_least(minimum))
    }
}

/// Writes every entry `keep` keeps.
pub fn write(report: &AuditReport, keep: Keep, out: &mut dyn Write) -> io::Result<()> {
    for audited in &report.entries {
        if keep.keeps(audited) {
            writeln!(out, "{}", line_for(audited))?;
        }
    }
    Ok(())
}

/// The original text when it still reads as this very proxy, else the normalised link.
fn line_for(audited: &AuditedEntry) -> String {
    let entry = &audited.entry;
    let same = |spec: &ProxySpec| {
        spec.kind == entry.kind
            && spec.host == entry.host
            && spec.port == entry.port
            && spec.username == entry.username
            && spec.password == entry.password
            && spec.secret.as_ref().map(MtprotoSecret::to_hex) == entry.secret
    };
    if let Some(text) = &entry.as_written {
        let links = find_links(text);
        let reads_back = match links.as_slice() {
            [only] => only.outcome.as_ref().is_ok_and(same) && only.text == text.trim(),
            [] => parse_bare(text.trim(), entry.kind).is_some_and(|r| r.as_ref().is_ok_and(same)),
            _ => false,
        };
        if reads_back {
            return text.trim().to_owned();
        }
    }
    entry.link.clone()
}
