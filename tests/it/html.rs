//! The HTML report of a real lab audit, rendered by headless Chromium: the page loads
//! without script errors, draws a screenshot, and its DOM has one row per lab proxy.
//!
//! Ignored by default (needs `chromium`); `.ci/run` runs it with `--ignored html`.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use proxy_audit::checks;
use proxy_audit::lab::{Lab, LabOptions};
use proxy_audit::model::Check;
use proxy_audit::report::audit::AuditReport;
use proxy_audit::report::html::write_html;
use proxy_audit::rules::verdicts::Verdicts;

use crate::support::{lab_context, lab_inventory};

/// Audits the lab in-process with every check and builds the report.
async fn lab_report() -> AuditReport {
    let lab = Lab::start(LabOptions::default()).await.unwrap();
    let inventory = lab_inventory(&lab);
    let timeout = Duration::from_secs(2);
    let context = lab_context(&lab, &Check::ALL, timeout, timeout * 6);
    let mut results = vec![None; inventory.entries.len()];
    let interrupted = tokio::time::timeout(
        Duration::from_secs(60),
        checks::run(
            &inventory.entries,
            context,
            std::future::pending(),
            |index, result| results[index] = Some(result),
        ),
    )
    .await
    .expect("the audit must end by the entries' deadlines");
    assert!(!interrupted);
    let results = results.into_iter().map(Option::unwrap).collect();
    AuditReport::new(
        &inventory,
        results,
        &Verdicts::built_in().unwrap(),
        "lab",
        Check::ALL.to_vec(),
        false,
    )
}

/// The Chromium binary, under either of its Debian names.
fn chromium() -> &'static str {
    ["chromium", "chromium-browser"]
        .into_iter()
        .find(|name| Command::new(name).arg("--version").output().is_ok())
        .expect("chromium is not installed (apt-get install chromium)")
}

/// Runs headless Chromium on `page` with extra arguments.
fn headless(page: &Path, args: &[&str]) -> Output {
    let profile = tempfile::tempdir().unwrap();
    let output = Command::new(chromium())
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Lines of Chromium's log that report a script or console error.
fn script_errors(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|line| line.contains("Uncaught") || line.contains("CONSOLE"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs chromium; run by .ci/run"]
async fn html_report_renders_in_headless_chromium() {
    let report = lab_report().await;
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    let mut html = Vec::new();
    write_html(&report, &mut html).unwrap();
    std::fs::write(&page, &html).unwrap();
    let html = String::from_utf8(html).unwrap();
    // The injecting lab proxy's evidence holds a script tag: it must arrive escaped.
    assert!(!html.contains("<script"), "unescaped script in the page");

    let screenshot = dir.path().join("report.png");
    let shot = headless(
        &page,
        &[
            &format!("--screenshot={}", screenshot.display()),
            "--window-size=1280,2000",
        ],
    );
    let errors = script_errors(&shot.stderr);
    assert!(errors.is_empty(), "errors while rendering: {errors:#?}");
    let png = std::fs::read(&screenshot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        png.len() > 20_000,
        "screenshot suspiciously small: {} bytes",
        png.len()
    );
    if let Ok(keep) = std::env::var("PROXY_AUDIT_SCREENSHOT") {
        std::fs::copy(&screenshot, keep).unwrap();
    }

    let dom = headless(&page, &["--dump-dom"]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert_eq!(
        dom.matches("<tr class=\"entry\"").count(),
        report.entries.len(),
        "one row per lab proxy"
    );
    assert_eq!(dom.matches("<svg").count(), 2);
    assert!(!dom.contains("<script"), "a script element reached the DOM");
}
