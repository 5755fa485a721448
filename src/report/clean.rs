//! The cleaned list: the entries worth keeping, one per line, in the order and the form the
//! user gave them (a `t.me` link stays a `t.me` link, a base64 secret stays base64), so it
//! can be pasted back into Telegram. An entry first seen as a multi-line block, or whose
//! original text no longer reads back as the same proxy, is written as its normalised link.

use std::io::{self, Write};

use super::audit::{AuditReport, AuditedEntry};
use crate::ingest::bare::parse_bare;
use crate::ingest::link::find_links;
use crate::proto::mtproto::secret::MtprotoSecret;
use crate::proxy::ProxySpec;
use crate::rules::scoring::Verdict;

/// Writes every entry whose verdict is `keep` or better (trusted > ok > suspicious).
pub fn write(report: &AuditReport, keep: Verdict, out: &mut dyn Write) -> io::Result<()> {
    for audited in &report.entries {
        if audited.scored.verdict.rank() <= keep.rank() {
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
