//! The audit as one self-contained HTML page, for people who are not security experts.
//!
//! The page has a summary, a verdict chart and a latency histogram (both inline SVG), then
//! a table with one row per proxy: its verdict, score, endpoint, latency, the plain
//! sentence saying why, and each finding with its own sentence and evidence.
//!
//! The file loads nothing: no scripts, fonts, images or style sheets from anywhere (the
//! CSS is inline and follows the reader's light or dark setting), so it can be mailed or
//! attached and opened offline. Every piece of text from the report is HTML-escaped:
//! evidence is what hostile proxies sent back and may hold markup. Credentials are
//! redacted as in the other human outputs. Rows are ordered worst first, like the Markdown
//! report (`comment_order`).

use std::io::{self, Write};

use html_escape::encode_safe;

use super::audit::{AuditReport, AuditedEntry};
use super::markdown::comment_order;
use super::redact::redacted_endpoint;
use crate::model::Verdict;
use crate::model::{Finding, Status};

/// Longest evidence value shown, in characters; longer ones are cut with `…`.
const MAX_EVIDENCE: usize = 200;

/// Latency buckets of the histogram: exclusive upper bound in milliseconds, and label.
const LATENCY_BUCKETS: [(u64, &str); 7] = [
    (10, "0–10"),
    (50, "10–50"),
    (100, "50–100"),
    (250, "100–250"),
    (500, "250–500"),
    (1000, "500–1000"),
    (u64::MAX, "1000+"),
];

/// Width in pixels of the longest bar of the verdict chart.
const VERDICT_BAR_MAX: u64 = 300;

/// Height in pixels of the tallest bar of the latency histogram.
const LATENCY_BAR_MAX: u64 = 130;

/// The style sheet: colours per verdict, light and dark schemes.
const STYLE: &str = r"
:root { color-scheme: light dark; --bg: #ffffff; --fg: #1f2328; --muted: #59636e;
  --line: #d1d9e0; --card: #f6f8fa; --code: #eff2f5; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #0d1117; --fg: #e6edf3; --muted: #9198a1; --line: #3d444d;
    --card: #151b23; --code: #262c36; }
}
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1200px; padding: 1.5rem; background: var(--bg);
  color: var(--fg); font: 15px/1.5 system-ui, -apple-system, 'Segoe UI', sans-serif; }
h1 { margin: 0 0 .25rem; font-size: 1.6rem; }
h2 { font-size: 1.15rem; margin: 1.5rem 0 .5rem; }
p.lead { margin: .25rem 0; }
.muted { color: var(--muted); }
.warning { border-left: 4px solid #bf8700; padding: .25rem .75rem; background: var(--card); }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: 0; padding: .75rem; background: var(--card); border: 1px solid var(--line);
  border-radius: 8px; flex: 1 1 460px; }
figcaption { font-weight: 600; margin-bottom: .25rem; }
svg { display: block; max-width: 100%; height: auto; }
svg text { fill: var(--fg); font-size: 12px; }
svg .axis { stroke: var(--line); }
svg .bar-latency { fill: #0969da; }
dl.legend { display: grid; grid-template-columns: max-content 1fr; gap: .25rem .75rem;
  margin: .5rem 0; }
dl.legend dd { margin: 0; }
table { width: 100%; border-collapse: collapse; margin-top: .5rem; }
th, td { text-align: left; vertical-align: top; padding: .5rem; border-bottom: 1px solid var(--line); }
th { background: var(--card); position: sticky; top: 0; }
td.num { text-align: right; white-space: nowrap; }
code { background: var(--code); padding: 0 .25rem; border-radius: 4px; font-size: .9em;
  overflow-wrap: break-word; }
.badge { display: inline-block; padding: .1rem .5rem; border-radius: 999px; color: #ffffff;
  background: var(--verdict); font-weight: 600; font-size: .85em; white-space: nowrap; }
.bar { fill: var(--verdict); }
.v-trusted { --verdict: #1a7f37; }
.v-ok { --verdict: #2da44e; }
.v-inconclusive { --verdict: #6639ba; }
.v-suspicious { --verdict: #9a6700; }
.v-dangerous { --verdict: #cf222e; }
.v-dead { --verdict: #6e7781; }
.v-refused { --verdict: #8250df; }
.v-not_audited { --verdict: #57606a; }
ul.findings { margin: 0; padding-left: 1rem; }
ul.findings li { margin-bottom: .4rem; }
.severity { font-size: .8em; text-transform: uppercase; color: var(--muted); }
dl.evidence { margin: .15rem 0 0; font-size: .85em; color: var(--muted);
  display: grid; grid-template-columns: max-content 1fr; gap: 0 .5rem; }
dl.evidence dt { font-weight: 600; }
dl.evidence dd { margin: 0; overflow-wrap: anywhere; font-family: ui-monospace, monospace; }
";

/// Writes the HTML report.
pub fn write_html(report: &AuditReport, out: &mut dyn Write) -> io::Result<()> {
    let profile = encode_safe(&report.profile);
    writeln!(out, "<!DOCTYPE html>")?;
    writeln!(out, "<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">")?;
    writeln!(
        out,
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    )?;
    writeln!(out, "<title>Proxy audit — {profile}</title>")?;
    writeln!(out, "<style>{STYLE}</style>\n</head>\n<body>")?;
    write_summary(report, out)?;
    writeln!(out, "<section class=\"charts\">")?;
    write_verdict_chart(report, out)?;
    write_latency_histogram(report, out)?;
    writeln!(out, "</section>")?;
    write_table(report, out)?;
    writeln!(out, "</body>\n</html>")
}

/// The heading, the totals in a sentence, and what each verdict found means.
fn write_summary(report: &AuditReport, out: &mut dyn Write) -> io::Result<()> {
    let s = &report.summary;
    writeln!(out, "<header>\n<h1>Proxy audit</h1>")?;
    writeln!(
        out,
        "<p class=\"lead\">{} {} checked against the <strong>{}</strong> profile: {} working, \
         {} not working, {} not contacted, {} not checked. {} with a problem worth knowing.</p>",
        s.parse.entries,
        if s.parse.entries == 1 {
            "proxy"
        } else {
            "proxies"
        },
        encode_safe(&report.profile),
        s.alive,
        s.dead,
        s.refused,
        s.not_audited,
        s.flagged,
    )?;
    let checks = report
        .checks
        .iter()
        .map(|check| check.name())
        .collect::<Vec<_>>()
        .join(", ");
    writeln!(
        out,
        "<p class=\"muted\">Checks: {}. {} duplicate and {} unreadable list {} skipped.</p>",
        encode_safe(&checks),
        s.parse.duplicates,
        s.parse.rejected,
        if s.parse.duplicates + s.parse.rejected == 1 {
            "item"
        } else {
            "items"
        },
    )?;
    if report.interrupted {
        writeln!(
            out,
            "<p class=\"warning\">The run was stopped before it finished: proxies it did not \
             reach are marked “not audited”.</p>"
        )?;
    }
    writeln!(out, "</header>")?;
    let present = verdicts_worst_first(report);
    if !present.is_empty() {
        writeln!(
            out,
            "<h2>What the verdicts mean</h2>\n<dl class=\"legend\">"
        )?;
        for (verdict, _) in present.iter().filter(|(_, count)| *count > 0) {
            writeln!(
                out,
                "<dt><span class=\"badge v-{name}\">{name}</span></dt><dd>{}</dd>",
                meaning(*verdict),
                name = verdict.name(),
            )?;
        }
        writeln!(out, "</dl>")?;
    }
    Ok(())
}

/// Every verdict with its count, worst first.
fn verdicts_worst_first(report: &AuditReport) -> Vec<(Verdict, u64)> {
    let mut verdicts: Vec<(Verdict, u64)> = Verdict::ALL
        .iter()
        .map(|verdict| {
            let count = report
                .summary
                .verdicts
                .get(verdict)
                .copied()
                .unwrap_or_default();
            (*verdict, count)
        })
        .collect();
    verdicts.sort_by_key(|(verdict, _)| comment_order(*verdict));
    verdicts
}

/// What a verdict means, in one sentence for non-experts.
fn meaning(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Trusted => "Works, and is on the curated list of proxies known to be honest.",
        Verdict::Ok => "Works, and no check found a serious problem.",
        Verdict::Inconclusive => {
            "Works and nothing serious was found, but some check could not finish (a step \
             failed twice, or an answer could not be read): not fully audited."
        }
        Verdict::Suspicious => "Works, but has weaknesses: better avoided if you have a choice.",
        Verdict::Dangerous => "Spies on, changes or deceives its users' traffic: do not use it.",
        Verdict::Dead => "Does not work: nothing answers, or not as the proxy it claims to be.",
        Verdict::Refused => {
            "Not contacted, because it points at a private or local address (a possible trap)."
        }
        Verdict::NotAudited => "Not checked: the run stopped first, or it could not be probed.",
    }
}

/// The verdict chart: one horizontal bar per verdict, with its count.
fn write_verdict_chart(report: &AuditReport, out: &mut dyn Write) -> io::Result<()> {
    const ROW: u64 = 26;
    const LABEL_WIDTH: u64 = 100;
    let verdicts = verdicts_worst_first(report);
    let max = verdicts.iter().map(|(_, count)| *count).max().unwrap_or(0);
    let height = ROW * verdicts.len() as u64 + 8;
    let width = LABEL_WIDTH + 10 + VERDICT_BAR_MAX + 50;
    writeln!(
        out,
        "<figure>\n<figcaption id=\"verdict-chart-title\">Proxies per verdict</figcaption>"
    )?;
    writeln!(
        out,
        "<svg class=\"verdict-chart\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" \
         height=\"{height}\" role=\"img\" aria-labelledby=\"verdict-chart-title\">"
    )?;
    for (row, (verdict, count)) in (0u64..).zip(&verdicts) {
        let y = 4 + row * ROW;
        let bar = scale(*count, max, VERDICT_BAR_MAX);
        let bar_x = LABEL_WIDTH + 10;
        writeln!(
            out,
            "<g class=\"v-{name}\"><text x=\"{LABEL_WIDTH}\" y=\"{text_y}\" \
             text-anchor=\"end\">{name}</text><rect class=\"bar\" x=\"{bar_x}\" y=\"{y}\" \
             width=\"{bar}\" height=\"{bar_height}\" rx=\"3\"><title>{count} {name}</title>\
             </rect><text x=\"{count_x}\" y=\"{text_y}\">{count}</text></g>",
            name = verdict.name(),
            text_y = y + 14,
            bar_height = ROW - 6,
            count_x = bar_x + bar + 6,
        )?;
    }
    writeln!(out, "</svg>\n</figure>")
}

/// The latency histogram: working proxies per latency bucket.
fn write_latency_histogram(report: &AuditReport, out: &mut dyn Write) -> io::Result<()> {
    const COLUMN: u64 = 62;
    const BAR_WIDTH: u64 = 46;
    const TOP: u64 = 24;
    let counts = latency_counts(report);
    let measured: u64 = counts.iter().sum();
    let max = counts.iter().copied().max().unwrap_or(0);
    let width = COLUMN * LATENCY_BUCKETS.len() as u64 + 10;
    let baseline = TOP + LATENCY_BAR_MAX;
    let height = baseline + 44;
    writeln!(
        out,
        "<figure>\n<figcaption id=\"latency-chart-title\">Response time of working proxies \
         (connect and handshake, {measured} measured)</figcaption>"
    )?;
    writeln!(
        out,
        "<svg class=\"latency-chart\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" \
         height=\"{height}\" role=\"img\" aria-labelledby=\"latency-chart-title\">"
    )?;
    writeln!(
        out,
        "<line class=\"axis\" x1=\"0\" y1=\"{baseline}\" x2=\"{width}\" y2=\"{baseline}\"/>"
    )?;
    for (column, ((_, label), count)) in (0u64..).zip(LATENCY_BUCKETS.iter().zip(counts)) {
        let x = 5 + column * COLUMN + (COLUMN - BAR_WIDTH) / 2;
        let middle = x + BAR_WIDTH / 2;
        let bar = scale(count, max, LATENCY_BAR_MAX);
        writeln!(
            out,
            "<rect class=\"bar-latency\" x=\"{x}\" y=\"{y}\" width=\"{BAR_WIDTH}\" \
             height=\"{bar}\" rx=\"3\"><title>{count} at {label} ms</title></rect>\
             <text x=\"{middle}\" y=\"{count_y}\" text-anchor=\"middle\">{count}</text>\
             <text x=\"{middle}\" y=\"{label_y}\" text-anchor=\"middle\">{label}</text>",
            y = baseline - bar,
            count_y = baseline - bar - 5,
            label_y = baseline + 16,
        )?;
    }
    writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">milliseconds</text>",
        width / 2,
        baseline + 36
    )?;
    writeln!(out, "</svg>\n</figure>")
}

/// Alive entries with a latency, counted per [`LATENCY_BUCKETS`] bucket.
fn latency_counts(report: &AuditReport) -> [u64; LATENCY_BUCKETS.len()] {
    let mut counts = [0; LATENCY_BUCKETS.len()];
    let latencies = report
        .entries
        .iter()
        .filter(|audited| audited.result.status == Status::Alive)
        .filter_map(|audited| audited.result.latency_ms);
    for ms in latencies {
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|(upper, _)| ms < *upper)
            .and_then(|index| counts.get_mut(index));
        if let Some(count) = bucket {
            *count += 1;
        }
    }
    counts
}

/// `value` scaled to `0..=full` pixels against `max` (0 when there is nothing to show).
fn scale(value: u64, max: u64, full: u64) -> u64 {
    value
        .saturating_mul(full)
        .checked_div(max)
        .unwrap_or_default()
}

/// The table of proxies, worst first.
fn write_table(report: &AuditReport, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "<h2>Proxies</h2>")?;
    if report.entries.is_empty() {
        return writeln!(out, "<p>No proxies were audited.</p>");
    }
    writeln!(
        out,
        "<table>\n<thead><tr><th>Verdict</th><th>Score</th><th>Kind</th><th>Endpoint</th>\
         <th>Latency</th><th>Why</th><th>Findings</th></tr></thead>\n<tbody>"
    )?;
    let mut rows: Vec<&AuditedEntry> = report.entries.iter().collect();
    rows.sort_by_key(|audited| comment_order(audited.scored.verdict));
    for audited in rows {
        write_row(audited, out)?;
    }
    writeln!(out, "</tbody>\n</table>")
}

/// One table row.
fn write_row(audited: &AuditedEntry, out: &mut dyn Write) -> io::Result<()> {
    let verdict = audited.scored.verdict;
    let score = audited
        .scored
        .score
        .map_or_else(|| "—".to_owned(), |score| score.to_string());
    let latency = match audited.result.latency_ms {
        Some(ms) => format!("{ms} ms"),
        None => audited.result.status.label().to_owned(),
    };
    writeln!(
        out,
        "<tr class=\"entry\" id=\"entry-{id}\"><td><span class=\"badge v-{name}\" \
         title=\"{title}\">{name}</span></td><td class=\"num\">{score}</td><td>{kind}</td>\
         <td><code>{endpoint}</code></td><td class=\"num\">{latency}</td><td>{why}</td><td>",
        id = encode_safe(&audited.entry.id),
        name = verdict.name(),
        title = meaning(verdict),
        kind = audited.entry.kind,
        endpoint = encode_safe(&redacted_endpoint(&audited.entry)),
        latency = encode_safe(&latency),
        why = encode_safe(&audited.scored.explanation),
    )?;
    if audited.result.findings.is_empty() {
        write!(out, "<span class=\"muted\">none</span>")?;
    } else {
        writeln!(out, "<ul class=\"findings\">")?;
        for finding in &audited.result.findings {
            write_finding(finding, out)?;
        }
        write!(out, "</ul>")?;
    }
    writeln!(out, "</td></tr>")
}

/// One finding: code, severity, its sentence, then the evidence as a short list.
fn write_finding(finding: &Finding, out: &mut dyn Write) -> io::Result<()> {
    write!(
        out,
        "<li><code>{}</code> <span class=\"severity\">{}</span><br>{}",
        finding.code,
        finding.severity.label(),
        encode_safe(finding.code.explanation()),
    )?;
    if !finding.evidence.is_empty() {
        write!(out, "<dl class=\"evidence\">")?;
        for (key, value) in &finding.evidence {
            write!(
                out,
                "<dt>{}</dt><dd>{}</dd>",
                encode_safe(key),
                encode_safe(&shorten(value))
            )?;
        }
        write!(out, "</dl>")?;
    }
    writeln!(out, "</li>")
}

/// Cuts long evidence to [`MAX_EVIDENCE`] characters.
fn shorten(text: &str) -> String {
    if text.chars().count() <= MAX_EVIDENCE {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(MAX_EVIDENCE).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use crate::report::csv_out::tests::{PASSWORD, SCRIPT, SECRET, render, sample_report};

    #[test]
    fn has_two_charts_and_a_row_per_entry() {
        let report = sample_report();
        let html = render(write_html, &report);
        assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
        assert!(html.trim_end().ends_with("</html>"), "{html}");
        assert_eq!(html.matches("<svg").count(), 2, "{html}");
        assert_eq!(html.matches("</svg>").count(), 2, "{html}");
        assert_eq!(
            html.matches("<tr class=\"entry\"").count(),
            report.entries.len()
        );
        // Worst first: the dangerous entry's row comes before the suspicious one's.
        let dangerous = html.find("id=\"entry-").unwrap();
        assert!(
            html[dangerous..].starts_with(&format!("id=\"entry-{}\"", report.entries[0].entry.id))
        );
        assert!(html.contains(crate::model::Code::ContentTampered.explanation()));
        assert!(
            html.contains("<code>user:***@5.6.7.8:1080</code>"),
            "{html}"
        );
    }

    #[test]
    fn evidence_is_escaped() {
        let html = render(write_html, &sample_report());
        assert!(!html.contains(SCRIPT), "{html}");
        assert!(!html.contains("<script"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;"),
            "{html}"
        );
    }

    #[test]
    fn never_shows_credentials() {
        let html = render(write_html, &sample_report());
        assert!(!html.contains(&SECRET[2..]), "{html}");
        assert!(!html.contains(PASSWORD), "{html}");
    }

    #[test]
    fn loads_nothing_from_anywhere() {
        let html = render(write_html, &sample_report());
        for needle in ["src=", "href=", "url(", "@import", "http://", "https://"] {
            assert!(!html.contains(needle), "{needle} in {html}");
        }
    }

    #[test]
    fn latency_buckets_count_alive_entries_only() {
        let mut report = sample_report();
        report.entries[2].result.latency_ms = Some(5);
        assert_eq!(latency_counts(&report), [0, 1, 0, 0, 0, 1, 0]);
        report.entries[0].result.latency_ms = Some(10_000);
        assert_eq!(latency_counts(&report), [0, 0, 0, 0, 0, 1, 1]);
    }

    #[test]
    fn an_empty_report_still_renders_both_charts() {
        let mut report = sample_report();
        report.entries.clear();
        report.summary.verdicts.clear();
        let html = render(write_html, &report);
        assert_eq!(html.matches("<svg").count(), 2, "{html}");
        assert!(html.contains("No proxies were audited."));
    }
}
