//! Interop with real third-party servers, each pinned to the verdict a security person
//! would give it: microsocks and dante (SOCKS), tinyproxy and squid (HTTP) from Debian's
//! packages; mtprotoproxy (MTProto) and mitmproxy (a TLS interceptor) from PyPI; minisign;
//! and judges answering in httpbin's and azenv's formats (small servers written here).
//! Ignored by default because they need those programs installed; `.ci/run` installs them
//! and runs these tests explicitly. The servers are started on loopback, told to listen on
//! 127.0.0.1 only, and pointed at the lab's origins and datacenter by IP address, so nothing
//! leaves the machine; their launchers are in `interop_servers`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use proxy_audit::checks::{self, AuditContext, AuditOptions, ProbeRules};
use proxy_audit::config::{HttpUrl, Profile};
use proxy_audit::ingest::{Collector, IngestOptions};
use proxy_audit::lab::{Lab, LabOptions};
use proxy_audit::model::Verdict;
use proxy_audit::model::{Anonymity, JudgeFormat};
use proxy_audit::model::{Check, Code, ProbeResult, Status};
use proxy_audit::rules::scoring::Scored;
use proxy_audit::rules::verdicts::Verdicts;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::interop_servers::{
    MitmMode, start_dante, start_microsocks, start_mitmproxy, start_mtprotoproxy, start_squid,
    start_tinyproxy,
};

/// One entry's audit and the verdict the built-in rules give it.
#[derive(Debug)]
struct Audited {
    /// What the probe found.
    result: ProbeResult,
    /// Score, verdict, why.
    scored: Scored,
}

impl Audited {
    /// The finding codes.
    fn codes(&self) -> BTreeSet<Code> {
        self.result.findings.iter().map(|f| f.code).collect()
    }

    /// The anonymity level the judge showed, if measured.
    fn anonymity(&self) -> Option<Anonymity> {
        self.result.observations.anonymity.as_ref().map(|a| a.level)
    }

    /// Asserts status, finding codes and verdict at once.
    fn assert(&self, what: &str, status: Status, codes: &[Code], verdict: Verdict) {
        let codes: BTreeSet<Code> = codes.iter().copied().collect();
        assert_eq!(self.result.status, status, "{what}: {self:#?}");
        assert_eq!(self.codes(), codes, "{what}: {self:#?}");
        assert_eq!(self.scored.verdict, verdict, "{what}: {self:#?}");
    }
}

/// Audits one link with every check against a fresh lab's origins (by address).
async fn audit_one(link: &str) -> Audited {
    let lab = Lab::start(LabOptions::default()).await.unwrap();
    let mut results = audit_links(&lab, link).await;
    assert_eq!(results.len(), 1, "{link}");
    results.remove(0)
}

/// Audits a list (one link per line) with every check against `lab`'s origins (by
/// address); results in list order.
async fn audit_links(lab: &Lab, list: &str) -> Vec<Audited> {
    audit_with(lab.profile_by_address().unwrap(), list).await
}

/// Audits a list (one link per line) with every check and `profile`; results in list order,
/// each judged by the built-in rules.
async fn audit_with(profile: Profile, list: &str) -> Vec<Audited> {
    let mut collector = Collector::new(IngestOptions::default());
    collector
        .read_input("interop", std::io::Cursor::new(list.to_owned()))
        .unwrap();
    let inventory = collector.finish();
    assert_eq!(inventory.entries.len(), list.lines().count(), "{list}");
    let options = AuditOptions {
        concurrency: 4,
        per_host: 4,
        step_timeout: Duration::from_secs(5),
        entry_deadline: Duration::from_secs(30),
        checks: Check::ALL.into_iter().collect(),
        allow_private: true,
        dc: 2,
    };
    let context =
        Arc::new(AuditContext::new(profile, ProbeRules::built_in().unwrap(), options).unwrap());
    let mut results: Vec<Option<ProbeResult>> = vec![None; inventory.entries.len()];
    checks::run(
        &inventory.entries,
        context,
        std::future::pending(),
        |index, result| results[index] = Some(result),
    )
    .await;
    let verdicts = Verdicts::built_in().unwrap();
    results
        .into_iter()
        .zip(&inventory.entries)
        .map(|(result, entry)| {
            let result = result.unwrap();
            Audited {
                scored: verdicts.verdict_for(&entry.spec, &result),
                result,
            }
        })
        .collect()
}

/// A working proxy that changes nothing: every canary as it is.
fn assert_untouched(audited: &Audited) {
    let result = &audited.result;
    assert!(
        !result.observations.tls.is_empty() && result.observations.tls.iter().all(|leg| leg.valid),
        "{audited:#?}"
    );
    assert!(
        result.observations.http.iter().all(|h| h.matches),
        "{audited:#?}"
    );
    assert!(result.observations.inconclusive.is_empty(), "{audited:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs microsocks (Debian package); .ci/run runs it"]
async fn interop_microsocks_is_audited_as_honest() {
    let (_server, port) = start_microsocks(None);
    let audited = audit_one(&format!("socks5://127.0.0.1:{port}")).await;
    audited.assert("microsocks", Status::Alive, &[Code::OpenProxy], Verdict::Ok);
    assert_untouched(&audited);
    assert_eq!(audited.anonymity(), Some(Anonymity::Elite), "{audited:#?}");
    // Through a real SOCKS5 server, the lab's datacenter proves its key too.
    let telegram = audited.result.observations.telegram.as_ref();
    assert!(telegram.is_some_and(|t| t.authentic), "{audited:#?}");
}

/// microsocks with `-u`/`-P`: the right password works and a wrong one is refused, so it is
/// an honest password-protected proxy (no `accepts_any_credentials`); a link carrying the
/// wrong password is dead for its users, and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs microsocks (Debian package); .ci/run runs it"]
async fn interop_microsocks_with_a_password_is_honest_and_refuses_a_wrong_one() {
    let (_server, port) = start_microsocks(Some(("alice", "s3cret")));
    let lab = Lab::start(LabOptions::default()).await.unwrap();
    let list = format!(
        "socks5://alice:s3cret@127.0.0.1:{port}\n\
         tg://socks?server=127.0.0.1&port={port}&user=alice&pass=wrong\n\
         tg://socks?server=127.0.0.1&port={port}\n\
         tg://socks?server=127.0.0.1&port={port}&user=alice"
    );
    let audited = audit_links(&lab, &list).await;
    audited[0].assert("right password", Status::Alive, &[], Verdict::Ok);
    assert_untouched(&audited[0]);
    for (what, entry) in [
        ("wrong password", &audited[1]),
        ("no password", &audited[2]),
    ] {
        entry.assert(
            what,
            Status::Dead,
            &[Code::CredentialsRejected],
            Verdict::Dead,
        );
    }
    assert!(
        audited[1].result.findings[0].evidence["reason"].contains("refuses the username"),
        "{:#?}",
        audited[1]
    );
    // A username alone cannot be sent over SOCKS5 (RFC 1929): not audited, with the reason,
    // rather than dead without a try.
    assert_eq!(
        audited[3].result.status,
        Status::NotAudited,
        "{:#?}",
        audited[3]
    );
    assert!(
        audited[3].result.observations.skipped["all"].contains("RFC 1929"),
        "{:#?}",
        audited[3]
    );
}

/// tinyproxy as Debian ships it adds `Via`: the site learns a proxy is in the path, not who
/// is behind it. An honest, anonymous (not elite) proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tinyproxy (Debian package); .ci/run runs it"]
async fn interop_tinyproxy_is_honest_and_anonymous() {
    let (_server, port) = start_tinyproxy(None);
    let audited = audit_one(&format!("http://127.0.0.1:{port}")).await;
    audited.assert("tinyproxy", Status::Alive, &[Code::OpenProxy], Verdict::Ok);
    assert_untouched(&audited);
    let anonymity = audited.result.observations.anonymity.as_ref().unwrap();
    assert_eq!(anonymity.level, Anonymity::Anonymous, "{audited:#?}");
    assert!(
        anonymity
            .revealing
            .iter()
            .any(|(name, value)| name.eq_ignore_ascii_case("via") && value.contains("tinyproxy")),
        "{audited:#?}"
    );
}

/// tinyproxy with `BasicAuth` answers a wrong password with 401 (not 407) and refuses the
/// request: an honest password-protected proxy, not a credential harvester.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tinyproxy (Debian package); .ci/run runs it"]
async fn interop_tinyproxy_with_basic_auth_is_not_a_harvester() {
    let (_server, port) = start_tinyproxy(Some(("bob", "hunter2")));
    let lab = Lab::start(LabOptions::default()).await.unwrap();
    let list = format!(
        "http://bob:hunter2@127.0.0.1:{port}\n\
         http://bob:wrong@127.0.0.1:{port}\n\
         http://127.0.0.1:{port}"
    );
    let audited = audit_links(&lab, &list).await;
    audited[0].assert("right password", Status::Alive, &[], Verdict::Ok);
    assert_untouched(&audited[0]);
    audited[1].assert(
        "wrong password",
        Status::Dead,
        &[Code::CredentialsRejected],
        Verdict::Dead,
    );
    audited[2].assert(
        "no password",
        Status::Dead,
        &[Code::CredentialsRejected],
        Verdict::Dead,
    );
    assert!(
        audited[2].result.findings[0].evidence["reason"].contains("the link gives none"),
        "{:#?}",
        audited[2]
    );
}

/// squid as Debian configures it adds `X-Forwarded-For` with the client's address: every
/// site it carries a request to learns who asked. Transparent, so suspicious, whatever the
/// rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs squid (Debian package); .ci/run runs it"]
async fn interop_squid_tells_sites_the_client_address() {
    let (_server, port) = start_squid();
    let audited = audit_one(&format!("http://127.0.0.1:{port}")).await;
    audited.assert(
        "squid",
        Status::Alive,
        &[Code::OpenProxy, Code::ClientIpLeaked],
        Verdict::Suspicious,
    );
    assert_untouched(&audited);
    assert_eq!(audited.anonymity(), Some(Anonymity::Transparent));
    let leak = audited
        .result
        .findings
        .iter()
        .find(|f| f.code == Code::ClientIpLeaked)
        .unwrap();
    assert!(
        leak.evidence["header"].eq_ignore_ascii_case("x-forwarded-for"),
        "{leak:?}"
    );
    assert_eq!(leak.evidence["address"], "127.0.0.1");
}

/// dante speaks SOCKS4 but not SOCKS4a. `socks4://` resolves names on the auditor's side (as
/// curl does) and `socks4a://`, refused with 0x5b when it sends a name, is asked again with
/// the address: both come out alive and honest. The lab profile by name is used so that
/// names are really sent; dante is never asked to resolve one itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dante-server (Debian package); .ci/run runs it"]
async fn interop_dante_is_an_honest_socks4_proxy() {
    let (_server, port) = start_dante();
    let lab = Lab::start(LabOptions::default()).await.unwrap();
    let list = format!("socks4://127.0.0.1:{port}\nsocks4a://127.0.0.1:{port}");
    let audited = audit_with(lab.profile().unwrap(), &list).await;
    for (what, entry) in ["socks4", "socks4a"].iter().zip(&audited) {
        entry.assert(what, Status::Alive, &[Code::OpenProxy], Verdict::Ok);
        assert_untouched(entry);
        assert_eq!(entry.anonymity(), Some(Anonymity::Elite), "{entry:#?}");
    }
}

/// mitmproxy replaces every certificate with one of its own CA: interception, so dangerous,
/// whether it is used as an HTTP proxy or as a SOCKS5 one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs mitmproxy from PyPI in target/interop-venv; .ci/run installs it"]
async fn interop_mitmproxy_is_caught_intercepting_tls() {
    for (mode, scheme) in [(MitmMode::Http, "http"), (MitmMode::Socks5, "socks5")] {
        let (_server, port) = start_mitmproxy(mode);
        let audited = audit_one(&format!("{scheme}://127.0.0.1:{port}")).await;
        audited.assert(
            scheme,
            Status::Alive,
            &[
                Code::OpenProxy,
                Code::TlsIntercepted,
                Code::KnownInterceptionCa,
            ],
            Verdict::Dangerous,
        );
        // Plain pages come through unchanged: it is the TLS it attacks.
        assert!(
            audited.result.observations.http.iter().all(|h| h.matches),
            "{scheme}: {audited:#?}"
        );
        let intercepted = audited
            .result
            .findings
            .iter()
            .find(|f| f.code == Code::TlsIntercepted)
            .unwrap();
        assert!(
            intercepted.evidence["issuer"].contains("mitmproxy"),
            "{intercepted:?}"
        );
    }
}

/// The formats public judges answer in.
#[derive(Debug, Clone, Copy)]
enum JudgeStyle {
    /// httpbin's `/get`: JSON with a `headers` object and an `origin`.
    Httpbin,
    /// azenv.php: `KEY = value` lines in an HTML page.
    Azenv,
}

/// A judge on 127.0.0.1 answering every GET in `style`, naming the peer address and the
/// header fields it received; returns its URL.
async fn serve_judge(style: JudgeStyle) -> HttpUrl {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, peer)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
                    match stream.read(&mut byte).await {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let body = judge_body(style, peer, &String::from_utf8_lossy(&head));
                let kind = match style {
                    JudgeStyle::Httpbin => "application/json",
                    JudgeStyle::Azenv => "text/html",
                };
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
            });
        }
    });
    HttpUrl::parse(&format!("http://127.0.0.1:{port}/get")).unwrap()
}

/// What a judge of `style` answers to `head` from `peer`.
fn judge_body(style: JudgeStyle, peer: SocketAddr, head: &str) -> String {
    let fields: Vec<(&str, &str)> = head
        .split("\r\n")
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim(), value.trim()))
        .collect();
    match style {
        JudgeStyle::Httpbin => {
            let headers: serde_json::Map<String, serde_json::Value> = fields
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).into()))
                .collect();
            serde_json::json!({
                "args": {},
                "headers": headers,
                "origin": peer.ip().to_string(),
                "url": "http://judge.example/get",
            })
            .to_string()
        }
        JudgeStyle::Azenv => {
            let mut page =
                String::from("<html><head><title>AZ Environment</title></head><body><pre>\n");
            for (name, value) in &fields {
                let key = format!("HTTP_{}", name.to_ascii_uppercase().replace('-', "_"));
                writeln!(page, "{key} = {value}").unwrap();
            }
            write!(
                page,
                "REMOTE_ADDR = {}\nREMOTE_PORT = {}\nREQUEST_METHOD = GET\n</pre></body></html>\n",
                peer.ip(),
                peer.port()
            )
            .unwrap();
            page
        }
    }
}

/// The judges public lists use, read as they answer: through squid (which adds the
/// client's address) both call it transparent; through tinyproxy (which adds only `Via`)
/// anonymous; through microsocks (which adds nothing) elite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs squid, tinyproxy and microsocks (Debian packages); .ci/run runs it"]
async fn interop_httpbin_and_azenv_judges_are_read_through_real_proxies() {
    let lab = Lab::start(LabOptions::default()).await.unwrap();
    let (_squid, squid) = start_squid();
    let (_tinyproxy, tinyproxy) = start_tinyproxy(None);
    let (_microsocks, microsocks) = start_microsocks(None);
    let list = format!(
        "http://127.0.0.1:{squid}\nhttp://127.0.0.1:{tinyproxy}\nsocks5://127.0.0.1:{microsocks}"
    );
    for (style, format) in [
        (JudgeStyle::Httpbin, JudgeFormat::Httpbin),
        (JudgeStyle::Azenv, JudgeFormat::Azenv),
    ] {
        let mut profile = lab.profile_by_address().unwrap();
        profile.judge = Some(serve_judge(style).await);
        let audited = audit_with(profile, &list).await;
        let want = [
            (Anonymity::Transparent, Verdict::Suspicious),
            (Anonymity::Anonymous, Verdict::Ok),
            (Anonymity::Elite, Verdict::Ok),
        ];
        for ((level, verdict), entry) in want.iter().zip(&audited) {
            let seen = entry.result.observations.anonymity.as_ref();
            assert_eq!(
                seen.map(|a| (a.level, a.judge_format)),
                Some((*level, format)),
                "{style:?}: {entry:#?}"
            );
            assert_eq!(entry.scored.verdict, *verdict, "{style:?}: {entry:#?}");
            assert_eq!(
                entry.result.has(Code::ClientIpLeaked),
                *level == Anonymity::Transparent,
                "{style:?}: {entry:#?}"
            );
        }
    }
}

/// mtprotoproxy (alexbers, PyPI 1.0.6) is a real MTProto proxy written without reference to
/// this code. Through it, in plain, `dd` and FakeTLS modes, the lab's datacenter proves its
/// key; it refuses replays and masks strangers to the real site, so the only findings are
/// the plain secret's weakness and the default secret its own config ships.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs mtprotoproxy from PyPI in target/interop-venv; .ci/run installs it"]
async fn interop_mtprotoproxy_reaches_telegram_in_every_mode() {
    use proxy_audit::proto::hex::to_hex;
    let lab = Lab::start(LabOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = to_hex(&rand::random::<[u8; 16]>());
    let published = "00000000000000000000000000000001";
    let (_server, port) = start_mtprotoproxy(
        &lab,
        &[("honest", key.as_str()), ("tg", published)],
        dir.path(),
    );
    let domain = to_hex(proxy_audit::lab::FRONTED.as_bytes());
    let link = |secret: String| format!("tg://proxy?server=127.0.0.1&port={port}&secret={secret}");
    let cases = [
        (link(format!("dd{key}")), vec![], Verdict::Ok),
        (link(format!("ee{key}{domain}")), vec![], Verdict::Ok),
        (link(key.clone()), vec![Code::WeakSecret], Verdict::Ok),
        (
            link(format!("dd{published}")),
            vec![Code::DefaultSecret],
            Verdict::Suspicious,
        ),
    ];
    let list: Vec<&str> = cases.iter().map(|(link, _, _)| link.as_str()).collect();
    let results = audit_links(&lab, &list.join("\n")).await;
    for ((link, want, verdict), audited) in cases.iter().zip(&results) {
        audited.assert(link, Status::Alive, want, *verdict);
        let result = &audited.result;
        let telegram = result.observations.telegram.as_ref();
        assert!(
            telegram
                .is_some_and(|t| t.authentic && t.key_label.as_deref() == Some("lab-dc.pub.pem:1")),
            "{link}: {result:#?}"
        );
    }
}

/// A trusted list signed with a key from `keygen` checks out with the `minisign` tool
/// itself, so users need not trust our verifier; a changed byte does not.
#[test]
#[ignore = "needs minisign (Debian package); .ci/run runs it"]
fn interop_minisign_verifies_a_signed_trusted_list() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let (public, secret) = (path("list.pub"), path("list.key"));
    let made = crate::support::run(
        &["keygen", "--public-key", &public, "--secret-key", &secret],
        None,
    );
    assert!(made.status.success(), "{made:?}");
    let list = "# a trusted list\n[[entry]]\nname = \"example\"\n";
    std::fs::write(path("trusted.toml"), list).unwrap();
    let signature = proxy_audit::rules::sign::sign(
        list.as_bytes(),
        &std::fs::read_to_string(&secret).unwrap(),
        None,
        "proxy-audit trusted list trusted.toml",
    )
    .unwrap();
    std::fs::write(path("trusted.toml.minisig"), signature).unwrap();
    let minisign = || {
        Command::new("minisign")
            .args(["-V", "-m", &path("trusted.toml"), "-p", &public])
            .output()
            .expect("minisign is installed")
    };
    let verified = minisign();
    assert!(verified.status.success(), "{verified:?}");
    assert!(String::from_utf8_lossy(&verified.stdout).contains("proxy-audit trusted list"));
    std::fs::write(path("trusted.toml"), list.replace("example", "exbmple")).unwrap();
    assert!(!minisign().status.success(), "a changed list must fail");
}
