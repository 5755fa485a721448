//! `audit` against the lab: every lab proxy gets exactly the findings its behaviour calls
//! for, honest proxies get none of the bad ones, hostile endpoints end by their deadline,
//! the address guard refuses private targets, and Ctrl-C still writes the report.

use std::collections::{BTreeSet, HashMap};
use std::process::Stdio;
use std::time::Duration;

use proxy_audit::checks;
use proxy_audit::lab::{Lab, LabOptions};
use proxy_audit::model::Verdict;
use proxy_audit::model::{Anonymity, JudgeFormat};
use proxy_audit::model::{Check, Code, ProbeResult, Status};
use proxy_audit::rules::scoring::Scoring;

use crate::support::{binary, json_of, lab_context, lab_inventory, run};

/// Audits the whole lab in-process; results by lab proxy name.
async fn audit_lab(checks: &[Check], timeout: Duration) -> HashMap<String, ProbeResult> {
    let lab = Lab::start(LabOptions::default()).await.unwrap();
    let inventory = lab_inventory(&lab);
    assert_eq!(inventory.entries.len(), lab.proxies().len());
    let context = lab_context(&lab, checks, timeout, timeout * 6);
    let mut results = HashMap::new();
    // A hang guard, not a timing assertion: every entry has its own deadline.
    let interrupted = tokio::time::timeout(
        Duration::from_secs(60),
        checks::run(
            &inventory.entries,
            context,
            std::future::pending(),
            |index, result| {
                let spec = &inventory.entries[index].spec;
                let proxy = lab.proxies().iter().find(|p| &p.spec == spec).unwrap();
                results.insert(proxy.name.clone(), result);
            },
        ),
    )
    .await
    .expect("the audit must end by the entries' deadlines");
    assert!(!interrupted);
    assert_eq!(results.len(), lab.proxies().len());
    results
}

pub(crate) fn codes(result: &ProbeResult) -> BTreeSet<Code> {
    result.findings.iter().map(|f| f.code).collect()
}

/// The finding codes each lab proxy must get with every check, and its status.
pub(crate) fn expected() -> Vec<(&'static str, Status, Vec<Code>)> {
    use Code::*;
    vec![
        ("honest-socks5", Status::Alive, vec![OpenProxy]),
        ("honest-socks5-auth", Status::Alive, vec![]),
        (
            "harvesting-socks5",
            Status::Alive,
            vec![AcceptsAnyCredentials],
        ),
        (
            "intercepting-socks5",
            Status::Alive,
            vec![OpenProxy, TlsIntercepted, KnownInterceptionCa],
        ),
        (
            "lying-dns-socks5",
            Status::Alive,
            vec![OpenProxy, DnsTampered],
        ),
        (
            "tls-breaking-socks5",
            Status::Alive,
            vec![OpenProxy, TlsBroken],
        ),
        ("honest-socks4", Status::Alive, vec![OpenProxy]),
        ("honest-http", Status::Alive, vec![OpenProxy]),
        (
            "injecting-http",
            Status::Alive,
            vec![OpenProxy, ContentTampered],
        ),
        (
            "leaking-http",
            Status::Alive,
            vec![OpenProxy, ClientIpLeaked],
        ),
        ("announcing-http", Status::Alive, vec![OpenProxy]),
        ("honest-mtproto-ee", Status::Alive, vec![]),
        ("honest-mtproto-dd", Status::Alive, vec![]),
        ("default-secret-mtproto", Status::Alive, vec![DefaultSecret]),
        (
            "posing-mtproto-ee",
            Status::Alive,
            vec![FaketlsDomainMismatch],
        ),
        (
            "weak-mtproto",
            Status::Alive,
            vec![WeakSecret, MtprotoReplayAccepted],
        ),
        ("fake-telegram", Status::Alive, vec![MtprotoNotTelegram]),
        (
            "broken-faketls",
            Status::Dead,
            vec![FaketlsInvalid, FaketlsNoFronting],
        ),
        ("closing-mtproto", Status::Dead, vec![HandshakeFailed]),
        ("closed-port", Status::Dead, vec![Unreachable]),
        ("tarpit", Status::Dead, vec![HandshakeFailed]),
        ("slow-drip", Status::Dead, vec![HandshakeFailed]),
        ("endless", Status::Dead, vec![HandshakeFailed]),
        ("garbage", Status::Dead, vec![HandshakeFailed]),
        ("reset", Status::Dead, vec![HandshakeFailed]),
        // The hostile corpus (tests/it/hostile.rs says why each gets what it gets).
        (
            "huge-reply",
            Status::Alive,
            vec![OpenProxy, ContentTampered, TlsBroken],
        ),
        ("header-bomb", Status::Dead, vec![HandshakeFailed]),
        ("socks-huge-address", Status::Dead, vec![HandshakeFailed]),
        (
            "tls-long-chain",
            Status::Alive,
            vec![OpenProxy, TlsIntercepted],
        ),
        (
            "faketls-bad-lengths",
            Status::Dead,
            vec![FaketlsInvalid, FaketlsNoFronting],
        ),
        ("mtproto-endless", Status::Dead, vec![HandshakeFailed]),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_lab_proxy_gets_exactly_its_findings() {
    let results = audit_lab(&Check::ALL, Duration::from_secs(2)).await;
    let expected = expected();
    assert_eq!(
        results.len(),
        expected.len(),
        "a lab proxy has no expectation"
    );
    for (name, status, want) in expected {
        let result = &results[name];
        let want: BTreeSet<Code> = want.into_iter().collect();
        assert_eq!(codes(result), want, "{name}: {result:#?}");
        assert_eq!(result.status, status, "{name}: {result:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_lab_proxy_gets_the_verdict_its_behaviour_deserves() {
    use Verdict::*;
    let results = audit_lab(&Check::ALL, Duration::from_secs(2)).await;
    let scoring = Scoring::built_in().unwrap();
    let expected = [
        ("honest-socks5", Ok),
        ("honest-socks5-auth", Ok),
        ("honest-socks4", Ok),
        ("honest-http", Ok),
        ("honest-mtproto-ee", Ok),
        ("honest-mtproto-dd", Ok),
        ("posing-mtproto-ee", Ok),
        ("weak-mtproto", Suspicious),
        ("default-secret-mtproto", Suspicious),
        ("leaking-http", Suspicious),
        ("tls-breaking-socks5", Suspicious),
        ("announcing-http", Ok),
        ("harvesting-socks5", Dangerous),
        ("intercepting-socks5", Dangerous),
        ("lying-dns-socks5", Dangerous),
        ("injecting-http", Dangerous),
        ("fake-telegram", Dangerous),
        ("broken-faketls", Dead),
        ("closing-mtproto", Dead),
        ("closed-port", Dead),
        ("tarpit", Dead),
        ("slow-drip", Dead),
        ("endless", Dead),
        ("garbage", Dead),
        ("reset", Dead),
        ("huge-reply", Dangerous),
        ("header-bomb", Dead),
        ("socks-huge-address", Dead),
        ("tls-long-chain", Dangerous),
        ("faketls-bad-lengths", Dead),
        ("mtproto-endless", Dead),
    ];
    assert_eq!(expected.len(), results.len());
    for (name, verdict) in expected {
        let scored = scoring.score(&results[name]);
        assert_eq!(scored.verdict, verdict, "{name}: {scored:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_mtproto_and_socks5_proxies_reach_an_authentic_telegram() {
    let results = audit_lab(&Check::ALL, Duration::from_secs(2)).await;
    let authentic = |name: &str| {
        results[name]
            .observations
            .telegram
            .as_ref()
            .is_some_and(|t| t.authentic && t.key_label.as_deref() == Some("lab-dc.pub.pem:1"))
    };
    for name in [
        "honest-mtproto-ee",
        "honest-mtproto-dd",
        "default-secret-mtproto",
        "posing-mtproto-ee",
        "weak-mtproto",
        "honest-socks5",
        "honest-socks5-auth",
    ] {
        assert!(authentic(name), "{name}: {:#?}", results[name]);
    }
    for name in [
        "fake-telegram",
        "broken-faketls",
        "closing-mtproto",
        "honest-http",
    ] {
        assert!(!authentic(name), "{name}");
    }
    let fake = results["fake-telegram"]
        .findings
        .iter()
        .find(|f| f.code == Code::MtprotoNotTelegram)
        .unwrap();
    assert!(
        fake.evidence["offered_fingerprints"].contains("0xb2185aa6835a0044"),
        "the impostor's key must be named: {fake:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn findings_carry_the_evidence_a_user_needs() {
    let results = audit_lab(&Check::ALL, Duration::from_secs(2)).await;
    let evidence = |name: &str, code: Code| {
        results[name]
            .findings
            .iter()
            .find(|f| f.code == code)
            .unwrap()
            .evidence
            .clone()
    };
    let intercepted = evidence("intercepting-socks5", Code::TlsIntercepted);
    assert!(
        intercepted["issuer"].contains("Qaznet Trust Network"),
        "{intercepted:?}"
    );
    assert_eq!(intercepted["spki_sha256"].len(), 64);
    let known = evidence("intercepting-socks5", Code::KnownInterceptionCa);
    assert!(known["ca"].contains("Qaznet"), "{known:?}");
    let tampered = evidence("injecting-http", Code::ContentTampered);
    assert_eq!(tampered["expected_bytes"], "8");
    assert_eq!(tampered["first_difference_at"], "8", "{tampered:?}");
    assert!(
        tampered["received_snippet"].contains("<script"),
        "{tampered:?}"
    );
    let leaked = evidence("leaking-http", Code::ClientIpLeaked);
    assert_eq!(leaked["address"], "127.0.0.1");
    assert!(leaked["header"].eq_ignore_ascii_case("x-forwarded-for"));
    assert_eq!(
        results["honest-http"].observations.exit_address.as_deref(),
        Some("127.0.0.1")
    );
    // The judge's view, as anonymity levels: the leaker names the client (transparent);
    // honest proxies leave no trace (elite).
    let level = |name: &str| {
        let anonymity = results[name].observations.anonymity.as_ref();
        anonymity.map(|a| (a.level, a.judge_format))
    };
    assert_eq!(
        level("leaking-http"),
        Some((Anonymity::Transparent, JudgeFormat::ProxyAudit))
    );
    assert_eq!(
        level("announcing-http"),
        Some((Anonymity::Anonymous, JudgeFormat::ProxyAudit))
    );
    for honest in ["honest-http", "honest-socks5", "honest-socks4"] {
        assert_eq!(
            level(honest),
            Some((Anonymity::Elite, JudgeFormat::ProxyAudit)),
            "{honest}"
        );
    }
    let dead = evidence("tarpit", Code::HandshakeFailed);
    assert!(dead["reason"].contains("timed out"), "{dead:?}");
    let published = evidence("default-secret-mtproto", Code::DefaultSecret);
    assert!(published["source"].starts_with("https://"), "{published:?}");
    let posing = evidence("posing-mtproto-ee", Code::FaketlsDomainMismatch);
    assert_eq!(posing["domain"], "popular.lab.test");
    assert_eq!(posing["domain_addresses"], "127.0.0.2");
    // Each lab proxy has a loopback address of its own.
    assert!(
        posing["proxy_addresses"].starts_with("127.0.1."),
        "{posing:?}"
    );
    // The honest FakeTLS proxy's domain resolves to its own address: nothing skipped.
    let honest = &results["honest-mtproto-ee"].observations;
    assert!(!honest.skipped.contains_key("camouflage"), "{honest:?}");
    assert!(results["honest-socks5"].latency_ms.is_some());
    // The address leg runs only where the name leg showed a foreign certificate: it is what
    // tells the lying resolver from the interceptor, and an honest proxy is spared it.
    let legs = |name: &str| {
        let tls = &results[name].observations.tls;
        tls.iter().map(|leg| leg.leg.as_str()).collect::<Vec<_>>()
    };
    assert_eq!(legs("honest-socks5"), ["name"]);
    assert_eq!(legs("lying-dns-socks5"), ["name", "address"]);
    assert_eq!(legs("intercepting-socks5"), ["name", "address"]);
}

/// A profile for MTProto lists needs no HTTP canary: SOCKS and HTTP proxies then show they
/// work with a TLS handshake through them (and are still checked for interception), and
/// MTProto proxies are audited as always.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_without_http_canaries_still_audits_every_kind() {
    let lab = Lab::start(LabOptions::default()).await.unwrap();
    let text = lab.profile_toml();
    let start = text.find("[[http_canary]]").unwrap();
    let end = text.find("# The auditor resolves").unwrap();
    let text = format!("{}{}", &text[..start], &text[end..]);
    assert!(
        !text.contains("http_canary") && !text.contains("[judge]"),
        "{text}"
    );
    let profile = lab.load(&text).unwrap();
    assert!(profile.http_canaries.is_empty() && profile.judge.is_none());
    let inventory = lab_inventory(&lab);
    let options = proxy_audit::checks::AuditOptions {
        concurrency: 64,
        per_host: 0,
        step_timeout: Duration::from_secs(2),
        entry_deadline: Duration::from_secs(12),
        checks: Check::ALL.into_iter().collect(),
        allow_private: true,
        dc: 2,
    };
    let context = std::sync::Arc::new(
        checks::AuditContext::new(
            profile,
            proxy_audit::checks::ProbeRules::built_in().unwrap(),
            options,
        )
        .unwrap(),
    );
    let mut results = HashMap::new();
    checks::run(
        &inventory.entries,
        context,
        std::future::pending(),
        |index, result| {
            let spec = &inventory.entries[index].spec;
            let proxy = lab.proxies().iter().find(|p| &p.spec == spec).unwrap();
            results.insert(proxy.name.clone(), result);
        },
    )
    .await;
    let scoring = Scoring::built_in().unwrap();
    for (name, verdict, code) in [
        ("honest-socks5", Verdict::Ok, None),
        ("honest-socks4", Verdict::Ok, None),
        ("honest-http", Verdict::Ok, None),
        ("honest-socks5-auth", Verdict::Ok, None),
        (
            "harvesting-socks5",
            Verdict::Dangerous,
            Some(Code::AcceptsAnyCredentials),
        ),
        (
            "intercepting-socks5",
            Verdict::Dangerous,
            Some(Code::TlsIntercepted),
        ),
        ("honest-mtproto-ee", Verdict::Ok, None),
        (
            "fake-telegram",
            Verdict::Dangerous,
            Some(Code::MtprotoNotTelegram),
        ),
    ] {
        let result = &results[name];
        assert_eq!(result.status, Status::Alive, "{name}: {result:#?}");
        assert_eq!(
            scoring.score(result).verdict,
            verdict,
            "{name}: {result:#?}"
        );
        if let Some(code) = code {
            assert!(result.has(code), "{name}: {result:#?}");
        }
    }
    assert!(results["honest-socks5"].observations.http.is_empty());
    assert!(results["tarpit"].status == Status::Dead);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liveness_alone_reports_only_whether_proxies_work() {
    let results = audit_lab(&[Check::Liveness], Duration::from_secs(1)).await;
    for (name, status, want) in expected() {
        let result = &results[name];
        assert_eq!(result.status, status, "{name}");
        let dead_codes: BTreeSet<Code> = want
            .into_iter()
            .filter(|c| {
                matches!(
                    c,
                    Code::Unreachable | Code::HandshakeFailed | Code::FaketlsInvalid
                )
            })
            .collect();
        assert_eq!(codes(result), dead_codes, "{name}: {result:#?}");
        assert!(result.observations.tls.is_empty(), "{name}");
    }
}

#[test]
fn private_targets_are_refused_and_never_contacted() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let list = format!("127.0.0.1:{port}\nsocks5://169.254.169.254:1080\nlocalhost:{port}\n");
    let output = run(&["audit", "-", "--format", "json", "--quiet"], Some(&list));
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let json = json_of(&output);
    let entries = json["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    for entry in entries {
        assert_eq!(entry["status"], "refused", "{entry}");
        assert_eq!(entry["findings"][0]["code"], "private_address", "{entry}");
    }
    assert_eq!(json["summary"]["refused"], 3);
    let nobody = listener.accept().unwrap_err();
    assert_eq!(
        nobody.kind(),
        std::io::ErrorKind::WouldBlock,
        "a refused target was contacted"
    );
}

#[test]
fn demo_prints_the_audit_of_the_whole_lab() {
    let output = run(
        &["demo", "--format", "json", "--timeout", "1", "--quiet"],
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let json = json_of(&output);
    assert_eq!(json["profile"], "lab");
    let entries = json["entries"].as_array().unwrap();
    assert_eq!(entries.len(), expected().len());
    let s = &json["summary"];
    let total: u64 = ["alive", "dead", "refused", "not_audited"]
        .iter()
        .map(|k| s[k].as_u64().unwrap())
        .sum();
    assert_eq!(total, s["entries"].as_u64().unwrap());
    assert_eq!(s["alive"], 19);
    assert_eq!(s["dead"], 12);
    let table = run(&["demo", "--timeout", "1", "--quiet"], None);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("tls_intercepted") && text.contains("intercepting-socks5"));
    assert!(!text.contains("hunter2"), "the table must redact passwords");
}

/// Ctrl-C mid-run: every finished result is kept, the rest is `not_audited`, the summary
/// adds up, the report file appears whole (no temporary left), and the exit status is 130.
#[test]
fn interrupt_keeps_finished_results_and_exits_130() {
    use std::io::BufRead as _;
    let tarpit = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let list = format!(
        "127.0.0.1:{}\n127.0.0.1:{}\n",
        tarpit.local_addr().unwrap().port(),
        closed.local_addr().unwrap().port()
    );
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    let list_path = dir.path().join("list.txt");
    std::fs::write(&list_path, list).unwrap();
    let report = dir.path().join("report.json");
    let mut child = binary()
        .args(["audit", "--allow-private", "--timeout", "60", "--quiet"])
        .args(["-f", "json", "-o"])
        .arg(&report)
        .args(["-f", "ndjson"])
        .arg(&list_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The closed port's result streams out first; the tarpit's probe is then in flight.
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["status"], "dead", "{first}");
    let (_held, _) = tarpit.accept().unwrap();
    assert!(!report.exists(), "the report appears only when complete");
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["interrupted"], true);
    assert_eq!(json["entries"][0]["status"], "not_audited");
    assert_eq!(json["entries"][1]["status"], "dead");
    assert_eq!(json["entries"][1]["findings"][0]["code"], "unreachable");
    let summary = &json["summary"];
    assert_eq!(summary["not_audited"], 1);
    let verdicts = summary["verdicts"].as_object().unwrap();
    let total: u64 = verdicts.values().map(|n| n.as_u64().unwrap()).sum();
    assert_eq!(
        total, 2,
        "the verdicts add up to the input count: {summary}"
    );
    assert!(
        rest.iter().any(|line| line.contains("not_audited")),
        "the NDJSON stream ends with the unfinished entry and the summary: {rest:?}"
    );
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 2, "only the list and the report: {names:?}");
}

/// `lab` writes its list and profile, `audit --profile` uses them, Ctrl-C stops the lab.
#[test]
fn lab_command_serves_its_list_to_a_separate_audit() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("lab.txt");
    let profile = dir.path().join("lab.toml");
    let mut lab = binary()
        .args(["lab", "--list-out"])
        .arg(&list)
        .arg("--profile-out")
        .arg(&profile)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The lab announces itself on stderr once its files are written.
    let mut announcement = String::new();
    std::io::BufReader::new(lab.stderr.take().unwrap())
        .read_line(&mut announcement)
        .unwrap();
    assert!(announcement.contains("lab running"), "{announcement}");
    assert!(dir.path().join("lab-ca.pem").exists());
    let output = run(
        &[
            "audit",
            list.to_str().unwrap(),
            "--profile",
            profile.to_str().unwrap(),
            "--allow-private",
            "--checks",
            "liveness,tls,secret",
            "--timeout",
            "1",
            "--format",
            "json",
            "--quiet",
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let json = json_of(&output);
    assert_eq!(json["summary"]["alive"], 19, "{}", json["summary"]);
    assert_eq!(
        json["checks"],
        serde_json::json!(["liveness", "tls", "secret"])
    );
    // The default secret needs no network at all.
    let flagged = json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["findings"].to_string().contains("default_secret"))
        .count();
    assert_eq!(flagged, 1);
    // intercepting-socks5, lying-dns-socks5 and tls-long-chain.
    assert_eq!(
        json["summary"]["verdicts"]["dangerous"], 3,
        "{}",
        json["summary"]
    );
    let intercepted = json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["findings"].to_string().contains("tls_intercepted"))
        .count();
    // intercepting-socks5 and tls-long-chain (whose chain is too large to be the canary's).
    assert_eq!(intercepted, 2);
    std::process::Command::new("kill")
        .args(["-INT", &lab.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(lab.wait().unwrap().code(), Some(0));
}

#[test]
fn fail_on_gates_the_exit_status() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let list = format!("127.0.0.1:{port}\n");
    let audit = |extra: &[&str]| {
        let mut args = vec![
            "audit",
            "-",
            "--allow-private",
            "--checks",
            "liveness",
            "--format",
            "json",
            "--quiet",
        ];
        args.extend_from_slice(extra);
        run(&args, Some(&list))
    };
    let output = audit(&["--fail-on", "dead"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(json_of(&output)["entries"][0]["verdict"], "dead");
    assert_eq!(audit(&["--fail-on", "dangerous"]).status.code(), Some(0));
    assert_eq!(audit(&[]).status.code(), Some(0));
    assert_eq!(audit(&["--fail-on", "ok"]).status.code(), Some(2));
}

/// Several reports in one run, the cleaned list in the user's own link forms, and rescoring
/// the saved observations offline (byte-identical twice; other rules, other verdicts).
#[test]
fn reports_cleaned_list_and_rescore() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let mut lab = binary()
        .args([
            "lab",
            "--list-out",
            &path("lab.txt"),
            "--profile-out",
            &path("lab.toml"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut announcement = String::new();
    std::io::BufReader::new(lab.stderr.take().unwrap())
        .read_line(&mut announcement)
        .unwrap();
    // The user shared the MTProto proxies as t.me links.
    let list = std::fs::read_to_string(path("lab.txt"))
        .unwrap()
        .replace("tg://proxy?", "https://t.me/proxy?");
    std::fs::write(path("mine.txt"), &list).unwrap();
    let output = run(
        &[
            "audit",
            &path("mine.txt"),
            "--profile",
            &path("lab.toml"),
            "--allow-private",
            "--checks",
            "liveness,credentials",
            "--timeout",
            "1",
            "--quiet",
            "-f",
            "json",
            "-o",
            &path("report.json"),
            "-f",
            "table",
            "-o",
            &path("report.txt"),
            "--clean",
            &path("clean.txt"),
        ],
        None,
    );
    std::process::Command::new("kill")
        .args(["-INT", &lab.id().to_string()])
        .status()
        .unwrap();
    lab.wait().unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path("report.json")).unwrap()).unwrap();
    assert!(
        std::fs::read_to_string(path("report.txt"))
            .unwrap()
            .contains("Verdicts:")
    );
    assert!(report["rules_digest"].as_str().unwrap().len() == 64);
    assert!(report["started"].as_str().unwrap().ends_with('Z'));

    // The cleaned list: only ok entries, as written, in order, and it parses back.
    let clean = std::fs::read_to_string(path("clean.txt")).unwrap();
    let kept: Vec<&serde_json::Value> = report["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["verdict"] == "ok")
        .collect();
    assert_eq!(clean.lines().count(), kept.len(), "{clean}");
    assert!(
        clean.contains("https://t.me/proxy?"),
        "t.me links must stay t.me: {clean}"
    );
    assert!(!clean.contains("tg://proxy?"), "{clean}");
    for (line, entry) in clean.lines().zip(&kept) {
        assert!(list.lines().any(|l| l == line), "not as written: {line}");
        assert_eq!(entry["as_written"], line);
    }
    let reparsed = run(&["parse", "-", "--format", "json"], Some(&clean));
    let reparsed = json_of(&reparsed);
    let ids: Vec<&serde_json::Value> = reparsed["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["id"])
        .collect();
    let kept_ids: Vec<&serde_json::Value> = kept.iter().map(|e| &e["id"]).collect();
    assert_eq!(ids, kept_ids);

    // Rescore: the same observations give byte-identical output.
    for name in ["a.json", "b.json"] {
        let output = run(
            &[
                "rescore",
                &path("report.json"),
                "-f",
                "json",
                "-o",
                &path(name),
            ],
            None,
        );
        assert_eq!(output.status.code(), Some(0), "{output:?}");
    }
    assert_eq!(
        std::fs::read(path("a.json")).unwrap(),
        std::fs::read(path("b.json")).unwrap()
    );
    // Stricter rules: an open proxy now costs 30 points and becomes suspicious.
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    for file in [
        "interception-cas.toml",
        "trusted.toml",
        "blocklist.toml",
        "default-secrets.toml",
    ] {
        std::fs::copy(root.join(file), rules.join(file)).unwrap();
    }
    let scoring = std::fs::read_to_string(root.join("scoring.toml"))
        .unwrap()
        .replace("open_proxy = 0", "open_proxy = 30");
    std::fs::write(rules.join("scoring.toml"), scoring).unwrap();
    let output = run(
        &[
            "rescore",
            &path("report.json"),
            "--rules",
            rules.to_str().unwrap(),
            "-f",
            "json",
            "--fail-on",
            "suspicious",
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let rescored = json_of(&output);
    let before = report["summary"]["verdicts"]["suspicious"]
        .as_u64()
        .unwrap();
    let after = rescored["summary"]["verdicts"]["suspicious"]
        .as_u64()
        .unwrap();
    assert!(after > before, "{before} -> {after}");
    assert_ne!(rescored["rules_digest"], report["rules_digest"]);

    // Emit the entries that passed as a signed trusted list; verify it; tamper; refuse.
    let keygen = || {
        let args = [
            "keygen",
            "--public-key",
            &path("key.pub"),
            "--secret-key",
            &path("key.sec"),
        ];
        run(&args, None).status.code()
    };
    assert_eq!(keygen(), Some(0));
    let secret_key = std::fs::read(path("key.sec")).unwrap();
    assert_eq!(
        keygen(),
        Some(2),
        "an existing secret key must not be replaced"
    );
    assert_eq!(std::fs::read(path("key.sec")).unwrap(), secret_key);
    for name in ["t1.toml", "t2.toml"] {
        let output = run(
            &[
                "rescore",
                &path("report.json"),
                "-f",
                "json",
                "-o",
                &path("ignored.json"),
                "--emit-trusted",
                &path(name),
                "--sign",
                &path("key.sec"),
            ],
            None,
        );
        assert_eq!(output.status.code(), Some(0), "{output:?}");
    }
    let emitted = std::fs::read(path("t1.toml")).unwrap();
    assert_eq!(
        emitted,
        std::fs::read(path("t2.toml")).unwrap(),
        "emit must be repeatable"
    );
    let trusted =
        proxy_audit::rules::trusted::TrustedList::load(std::path::Path::new(&path("t1.toml")))
            .unwrap();
    assert_eq!(trusted.entries.len(), kept.len());
    let text = String::from_utf8(emitted.clone()).unwrap();
    for entry in &kept {
        if let Some(secret) = entry["secret"].as_str() {
            let key = if secret.len() == 32 {
                secret
            } else {
                &secret[2..34]
            };
            assert!(!text.contains(key), "the secret must not be published");
        }
    }
    let verify = |file: &str| {
        run(&["verify", &path(file), "--key", &path("key.pub")], None)
            .status
            .code()
    };
    assert_eq!(verify("t1.toml"), Some(0));
    let mut tampered = emitted;
    tampered[10] ^= 1;
    std::fs::write(path("t1.toml"), tampered).unwrap();
    assert_eq!(verify("t1.toml"), Some(1));

    // Merge: a second vantage saw the first ok entry tamper with content.
    let mut other = report.clone();
    other["vantage"] = "second".into();
    let first_ok = other["entries"]
        .as_array()
        .unwrap()
        .iter()
        .position(|e| e["verdict"] == "ok")
        .unwrap();
    other["entries"][first_ok]["findings"]
        .as_array_mut()
        .unwrap()
        .push(
            serde_json::json!({"code": "content_tampered", "severity": "critical",
                                  "check": "content", "evidence": {"canary": "x"}}),
        );
    std::fs::write(path("other.json"), other.to_string()).unwrap();
    let output = run(
        &[
            "merge",
            &path("report.json"),
            &path("other.json"),
            "-f",
            "json",
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let merged = json_of(&output);
    assert_eq!(
        merged["entries"].as_array().unwrap().len(),
        report["entries"].as_array().unwrap().len()
    );
    let entry = &merged["entries"][first_ok];
    assert_eq!(entry["verdict"], "dangerous", "{entry}");
    assert_eq!(entry["vantages"].as_array().unwrap().len(), 2);
    assert_eq!(entry["vantages"][1]["vantage"], "second");
}

/// `--min-anonymity` keeps only SOCKS/HTTP proxies the judge saw at that level or better
/// (MTProto proxies are kept: the level does not apply to them).
#[test]
fn min_anonymity_keeps_only_proxies_the_judge_saw_at_that_level() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let demo = run(&["demo", "--timeout", "1", "--quiet", "-f", "json"], None);
    assert_eq!(demo.status.code(), Some(0), "{demo:?}");
    std::fs::write(path("report.json"), &demo.stdout).unwrap();
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path("report.json")).unwrap()).unwrap();
    let entries = report["entries"].as_array().unwrap();
    let level = |e: &serde_json::Value| e["observations"]["anonymity"]["level"].clone();
    let endpoint = |e: &serde_json::Value| format!("{}:{}", e["host"].as_str().unwrap(), e["port"]);
    let kept = |minimum: &str| {
        let list = path(&format!("{minimum}.txt"));
        let output = run(
            &[
                "rescore",
                &path("report.json"),
                "-f",
                "json",
                "-o",
                &path("rescored.json"),
                "--clean",
                &list,
                "--min-anonymity",
                minimum,
            ],
            None,
        );
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        let parsed = json_of(&run(&["parse", &list, "--format", "json"], None));
        parsed["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(endpoint)
            .collect::<BTreeSet<String>>()
    };
    let ok = |e: &&serde_json::Value| e["verdict"] == "ok";
    let expect = |levels: &[&str]| {
        entries
            .iter()
            .filter(ok)
            .filter(|e| e["kind"] == "mtproto" || levels.iter().any(|l| level(e) == *l))
            .map(endpoint)
            .collect::<BTreeSet<String>>()
    };
    let elite = kept("elite");
    let anonymous = kept("anonymous");
    assert_eq!(elite, expect(&["elite"]));
    assert_eq!(anonymous, expect(&["elite", "anonymous"]));
    // The lab's announcing proxy (Via only) is ok and anonymous: kept at that level only.
    let announcing: Vec<String> = entries
        .iter()
        .filter(ok)
        .filter(|e| level(e) == "anonymous")
        .map(endpoint)
        .collect();
    assert_eq!(announcing.len(), 1, "{announcing:?}");
    assert!(anonymous.contains(&announcing[0]) && !elite.contains(&announcing[0]));
    assert!(elite.len() >= 5, "{elite:?}");
}

/// docs/report-schema.md lists every key a real report has (and no stale ones).
#[test]
fn report_schema_doc_matches_a_real_report() {
    let output = run(
        &["demo", "--format", "json", "--timeout", "1", "--quiet"],
        None,
    );
    let report = json_of(&output);
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report-schema.md"),
    )
    .unwrap();
    let documented = |key: &str| doc.contains(&format!("`{key}`"));
    for key in report.as_object().unwrap().keys() {
        assert!(documented(key), "top-level key {key} is not documented");
    }
    for key in report["summary"].as_object().unwrap().keys() {
        assert!(documented(key), "summary key {key} is not documented");
    }
    for entry in report["entries"].as_array().unwrap() {
        for key in entry.as_object().unwrap().keys() {
            assert!(documented(key), "entry key {key} is not documented");
        }
        for key in entry["observations"].as_object().unwrap().keys() {
            assert!(documented(key), "observation {key} is not documented");
        }
    }
}

/// The table's rows as trimmed cells joined by `|`, ports and latencies masked. Column
/// widths follow them and text wraps to fit, so the box drawing is not stable: wrapped
/// lines are joined back into their row.
fn table_cells(table: &str) -> Vec<String> {
    let mut rows: Vec<Vec<String>> = Vec::new();
    for line in table.lines().filter(|line| line.starts_with('│')) {
        let cells: Vec<&str> = line.trim_matches('│').split('┆').map(str::trim).collect();
        match rows.last_mut() {
            Some(row) if cells.first().is_some_and(|verdict| verdict.is_empty()) => {
                for (cell, more) in row.iter_mut().zip(cells) {
                    if !more.is_empty() {
                        cell.push(' ');
                        cell.push_str(more);
                    }
                }
            }
            _ => rows.push(cells.into_iter().map(str::to_owned).collect()),
        }
    }
    rows.into_iter()
        .map(|mut row| {
            if let Some(endpoint) = row.get_mut(3)
                && let Some((host, port)) = endpoint.rsplit_once(':')
                && port.parse::<u16>().is_ok()
            {
                *endpoint = format!("{host}:PORT");
            }
            if let Some(ms) = row.get_mut(4).filter(|ms| ms.parse::<u64>().is_ok()) {
                "MS".clone_into(ms);
            }
            format!("| {}", row.join(" | "))
        })
        .collect()
}

/// Snapshot of the demo's stable fields (ports, ids, times and latencies vary). Set
/// `UPDATE_SNAPSHOTS=1` to rewrite `tests/snapshots/demo.txt` after an intended change.
#[test]
fn demo_snapshot_of_stable_fields() {
    let json = json_of(&run(
        &["demo", "--format", "json", "--timeout", "1", "--quiet"],
        None,
    ));
    let mut lines = Vec::new();
    for entry in json["entries"].as_array().unwrap() {
        let mut codes: Vec<&str> = entry["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["code"].as_str().unwrap())
            .collect();
        codes.sort_unstable();
        lines.push(format!(
            "{} {} {} {} score={} telegram={} [{}] {}",
            entry["kind"].as_str().unwrap(),
            entry["secret_mode"].as_str().unwrap_or("-"),
            entry["status"].as_str().unwrap(),
            entry["verdict"].as_str().unwrap(),
            entry["score"],
            entry["observations"]["telegram"]["authentic"],
            codes.join(","),
            entry["explanation"].as_str().unwrap(),
        ));
    }
    lines.push(format!("verdicts {}", json["summary"]["verdicts"]));
    let table = run(&["demo", "--timeout", "1", "--quiet"], None);
    let table = String::from_utf8(table.stdout).unwrap();
    lines.extend(table_cells(&table));
    let verdict_line = table.lines().find(|l| l.starts_with("Verdicts:")).unwrap();
    lines.push(verdict_line.to_owned());
    let actual = lines.join("\n") + "\n";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/demo.txt");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        actual, expected,
        "demo output changed; UPDATE_SNAPSHOTS=1 to accept"
    );
}

#[test]
fn rules_check_names_every_bad_file_and_line() {
    let ok = run(&["rules", "check"], None);
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    let dir = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    for file in ["scoring.toml", "interception-cas.toml", "trusted.toml"] {
        std::fs::copy(root.join(file), dir.path().join(file)).unwrap();
    }
    let scoring = std::fs::read_to_string(root.join("scoring.toml")).unwrap();
    std::fs::write(
        dir.path().join("scoring.toml"),
        scoring.replace("[weights]\n", "[weights]\nmystery = 3\n"),
    )
    .unwrap();
    let bad = run(&["rules", "check", dir.path().to_str().unwrap()], None);
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    let line = scoring.lines().position(|l| l == "[weights]").unwrap() + 2;
    assert!(
        stderr.contains(&format!("scoring.toml:{line}:")),
        "{stderr}"
    );
    assert!(stderr.contains("blocklist.toml: cannot read"), "{stderr}");
}
