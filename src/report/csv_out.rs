//! The audit as CSV: one row per entry, in report order, for spreadsheets and scripts.
//!
//! Columns: `id,verdict,score,kind,host,port,status,latency_ms,findings,explanation,link`.
//! `findings` holds the finding codes joined with `;`; empty cells mean "none" (no score
//! for entries that do not work, no latency for entries that never answered). The `link`
//! is redacted like every human-facing output: the secret in its short form, the password
//! as `***`. The JSON document is the output that carries credentials in full.
//!
//! The helpers shared by the human formats (redacted link and endpoint, finding codes)
//! live here too, so Markdown and HTML redact exactly as CSV does.

use std::io::{self, Write};

use super::audit::{AuditReport, AuditedEntry, finding_codes};
use super::redact::redacted_link;

/// Column names, in order.
pub(crate) const HEADER: [&str; 11] = [
    "id",
    "verdict",
    "score",
    "kind",
    "host",
    "port",
    "status",
    "latency_ms",
    "findings",
    "explanation",
    "link",
];

/// Writes the CSV report: a header row, then one row per entry in report order.
pub(crate) fn write_csv(report: &AuditReport, out: &mut dyn Write) -> io::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(HEADER)?;
    for audited in &report.entries {
        writer.write_record(row(audited))?;
    }
    writer.flush()
}

/// One CSV row, in [`HEADER`] order.
fn row(audited: &AuditedEntry) -> [String; 11] {
    let entry = &audited.entry;
    let result = &audited.result;
    [
        entry.id.clone(),
        audited.scored.verdict.to_string(),
        audited
            .scored
            .score
            .map(|score| score.to_string())
            .unwrap_or_default(),
        entry.kind.to_string(),
        entry.host.clone(),
        entry.port.to_string(),
        result.status.label().to_owned(),
        result
            .latency_ms
            .map(|ms| ms.to_string())
            .unwrap_or_default(),
        finding_codes(audited, ";"),
        audited.scored.explanation.clone(),
        redacted_link(entry),
    ]
}

#[cfg(test)]
pub(crate) mod tests {
    //! Also hosts the sample report the Markdown and HTML tests share.
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use std::io::Cursor;

    use super::*;
    use crate::ingest::{Collector, IngestOptions};
    use crate::model::{Check, Code, Finding, Observations, ProbeResult, Status};
    use crate::rules::verdicts::Verdicts;

    /// The MTProto secret of the sample report (must never appear in human output).
    pub(crate) const SECRET: &str = "dd0123456789abcdef0123456789abcdef";
    /// The SOCKS5 password of the sample report (must never appear in human output).
    pub(crate) const PASSWORD: &str = "hunter2secret";
    /// Hostile evidence carried by one finding.
    pub(crate) const SCRIPT: &str = "<script>alert(1)</script>";

    /// A report with three entries: a dangerous MTProto proxy whose evidence holds a
    /// script and a `|`, a SOCKS5 proxy with a password, and a dead HTTP proxy.
    pub(crate) fn sample_report() -> AuditReport {
        let list = format!(
            "tg://proxy?server=1.2.3.4&port=443&secret={SECRET}\n\
             socks5://user:{PASSWORD}@5.6.7.8:1080\n\
             http://9.9.9.9:8080\n"
        );
        let mut collector = Collector::new(IngestOptions::default());
        collector.read_input("list.txt", Cursor::new(list)).unwrap();
        let inventory = collector.finish();
        assert_eq!(inventory.entries.len(), 3);
        let results = vec![
            ProbeResult {
                status: Status::Alive,
                latency_ms: Some(42),
                findings: vec![
                    Finding::new(
                        Code::ContentTampered,
                        [("snippet", SCRIPT), ("canary", "a|b\nc")],
                    ),
                    Finding::new(Code::WeakSecret, [("mode", "dd")]),
                ],
                observations: Observations::default(),
            },
            ProbeResult {
                status: Status::Alive,
                latency_ms: Some(730),
                findings: vec![Finding::new(
                    Code::ClientIpLeaked,
                    [("header", "X-Forwarded-For")],
                )],
                observations: Observations::default(),
            },
            ProbeResult {
                status: Status::Dead,
                latency_ms: None,
                findings: vec![Finding::new(
                    Code::Unreachable,
                    [("error", "connection refused")],
                )],
                observations: Observations::default(),
            },
        ];
        AuditReport::new(
            &inventory,
            results,
            &Verdicts::built_in().unwrap(),
            "lab",
            vec![Check::Liveness, Check::Content],
            false,
        )
    }

    /// Renders a report with one of the writers.
    pub(crate) fn render(
        write: fn(&AuditReport, &mut dyn Write) -> io::Result<()>,
        report: &AuditReport,
    ) -> String {
        let mut out = Vec::new();
        write(report, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn csv_reads_back_with_one_row_per_entry() {
        let report = sample_report();
        let text = render(write_csv, &report);
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(
            reader.headers().unwrap(),
            &csv::StringRecord::from(&HEADER[..])
        );
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), report.entries.len());

        let mtproto = &rows[0];
        assert_eq!(&mtproto[0], report.entries[0].entry.id);
        assert_eq!(&mtproto[1], "dangerous");
        assert_eq!(&mtproto[2], "0");
        assert_eq!(&mtproto[3], "mtproto");
        assert_eq!(&mtproto[4], "1.2.3.4");
        assert_eq!(&mtproto[5], "443");
        assert_eq!(&mtproto[6], "alive");
        assert_eq!(&mtproto[7], "42");
        assert_eq!(&mtproto[8], "content_tampered;weak_secret");
        assert_eq!(&mtproto[9], report.entries[0].scored.explanation);
        assert_eq!(
            &mtproto[10],
            "tg://proxy?server=1.2.3.4&port=443&secret=dd01…ef"
        );

        let socks = &rows[1];
        assert_eq!(&socks[1], "suspicious");
        assert_eq!(&socks[3], "socks5");
        assert_eq!(&socks[8], "client_ip_leaked");
        assert_eq!(
            &socks[10],
            "tg://socks?server=5.6.7.8&port=1080&user=user&pass=***"
        );

        let dead = &rows[2];
        assert_eq!(&dead[1], "dead");
        assert_eq!(&dead[2], "");
        assert_eq!(&dead[6], "dead");
        assert_eq!(&dead[7], "");
        assert_eq!(&dead[8], "unreachable");
    }

    #[test]
    fn csv_never_shows_credentials() {
        let text = render(write_csv, &sample_report());
        assert!(!text.contains(SECRET), "{text}");
        assert!(!text.contains(&SECRET[2..]), "{text}");
        assert!(!text.contains(PASSWORD), "{text}");
    }
}
