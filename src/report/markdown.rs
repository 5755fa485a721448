//! The audit as Markdown, for an issue or pull-request comment: a heading, a one-line
//! summary, then a GitHub table.
//!
//! Rows are ordered worst first ([`comment_order`]): dangerous, suspicious, ok, trusted,
//! then the entries that could not be judged (dead, refused, not audited). A comment is
//! read top down, so the proxies people must stop using come first; this is deliberately
//! not [`Verdict::rank`], which orders best first for `--keep`. Entries with the same
//! verdict keep report order. Credentials are redacted, and `|` and line breaks in cells
//! are escaped so that hostile text cannot break the table.

use std::io::{self, Write};

use super::audit::finding_codes;
use super::audit::{AuditReport, AuditedEntry};
use super::redact::redacted_endpoint;
use crate::model::Verdict;

/// Writes the Markdown report.
pub(crate) fn write_markdown(report: &AuditReport, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "## Proxy audit\n")?;
    writeln!(out, "{}\n", summary_line(report))?;
    if report.entries.is_empty() {
        return writeln!(out, "No proxies were audited.");
    }
    writeln!(
        out,
        "| verdict | score | kind | endpoint | why | findings |"
    )?;
    writeln!(out, "| --- | ---: | --- | --- | --- | --- |")?;
    let mut rows: Vec<&AuditedEntry> = report.entries.iter().collect();
    rows.sort_by_key(|audited| comment_order(audited.scored.verdict));
    for audited in rows {
        let score = audited
            .scored
            .score
            .map(|score| score.to_string())
            .unwrap_or_default();
        let codes = finding_codes(audited, ", ");
        writeln!(
            out,
            "| **{}** | {} | {} | `{}` | {} | {} |",
            audited.scored.verdict,
            score,
            audited.entry.kind,
            code_cell(&redacted_endpoint(&audited.entry)),
            cell(&audited.scored.explanation),
            cell(&codes),
        )?;
    }
    Ok(())
}

/// Position of a verdict in a comment: worst usable verdicts first, unjudged ones last.
pub(crate) fn comment_order(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Dangerous => 0,
        Verdict::Suspicious => 1,
        Verdict::Inconclusive => 2,
        Verdict::Ok => 3,
        Verdict::Trusted => 4,
        Verdict::Dead => 5,
        Verdict::Refused => 6,
        Verdict::NotAudited => 7,
    }
}

/// `N entries (profile P): 1 dangerous, 2 ok.`: only verdicts that occur, worst first.
fn summary_line(report: &AuditReport) -> String {
    let mut counts: Vec<(Verdict, u64)> = report
        .summary
        .verdicts
        .iter()
        .filter(|(_, count)| **count > 0)
        .map(|(verdict, count)| (*verdict, *count))
        .collect();
    counts.sort_by_key(|(verdict, _)| comment_order(*verdict));
    let counts = counts
        .iter()
        .map(|(verdict, count)| format!("{count} {verdict}"))
        .collect::<Vec<_>>()
        .join(", ");
    let entries = report.summary.parse.entries;
    let mut line = format!(
        "{entries} {} (profile `{}`)",
        if entries == 1 { "entry" } else { "entries" },
        code_cell(&report.profile),
    );
    if !counts.is_empty() {
        line.push_str(": ");
        line.push_str(&counts);
    }
    line.push('.');
    if report.interrupted {
        line.push_str(" The run was interrupted: unfinished entries are not audited.");
    }
    line
}

/// Text made safe for one table cell: `|` escaped, line breaks turned into `<br>`.
fn cell(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace("\r\n", "<br>")
        .replace(['\n', '\r'], "<br>")
}

/// Text made safe for a code span in a table cell: `|` escaped (GitHub unescapes it
/// before reading the span), backticks and line breaks replaced.
fn code_cell(text: &str) -> String {
    text.replace('|', "\\|")
        .replace('`', "'")
        .replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use crate::report::csv_out::tests::{PASSWORD, SECRET, render, sample_report};

    #[test]
    fn has_a_header_and_one_row_per_entry_worst_first() {
        let report = sample_report();
        let text = render(write_markdown, &report);
        assert!(text.starts_with("## Proxy audit\n"), "{text}");
        assert!(
            text.contains("3 entries (profile `lab`): 1 dangerous, 1 suspicious, 1 dead."),
            "{text}"
        );
        assert!(
            text.contains("| verdict | score | kind | endpoint | why | findings |\n"),
            "{text}"
        );
        let rows: Vec<&str> = text
            .lines()
            .filter(|line| line.starts_with("| **"))
            .collect();
        assert_eq!(rows.len(), report.entries.len(), "{text}");
        assert!(rows[0].starts_with("| **dangerous** | 0 | mtproto | `1.2.3.4:443 dd01…ef` |"));
        assert!(rows[0].ends_with("| content_tampered, weak_secret |"));
        assert!(rows[1].starts_with("| **suspicious** | 60 | socks5 | `user:***@5.6.7.8:1080` |"));
        assert!(rows[2].starts_with("| **dead** |  | http |"));
    }

    #[test]
    fn cells_escape_pipes_and_line_breaks() {
        let mut report = sample_report();
        report.entries[0].scored.explanation = "one | two\nthree".to_owned();
        let text = render(write_markdown, &report);
        assert!(text.contains("| one \\| two<br>three |"), "{text}");
        for line in text.lines().filter(|line| line.starts_with("| **")) {
            let unescaped = line.replace("\\|", "");
            assert_eq!(unescaped.matches('|').count(), 7, "{line}");
        }
    }

    #[test]
    fn never_shows_credentials() {
        let text = render(write_markdown, &sample_report());
        assert!(!text.contains(&SECRET[2..]), "{text}");
        assert!(!text.contains(PASSWORD), "{text}");
    }

    #[test]
    fn comment_order_puts_dangerous_first_and_covers_every_verdict() {
        let mut verdicts = Verdict::ALL.to_vec();
        verdicts.sort_by_key(|verdict| comment_order(*verdict));
        assert_eq!(verdicts[0], Verdict::Dangerous);
        assert_eq!(verdicts.last(), Some(&Verdict::NotAudited));
        let orders: std::collections::BTreeSet<u8> =
            Verdict::ALL.iter().map(|v| comment_order(*v)).collect();
        assert_eq!(orders.len(), Verdict::ALL.len());
    }
}
