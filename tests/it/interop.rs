//! Interop with real third-party proxy servers from Debian's packages: microsocks (SOCKS5)
//! and tinyproxy (HTTP). Ignored by default because they need those programs installed;
//! `.ci/run` installs them and runs these tests explicitly. Both are started on loopback,
//! told to listen on 127.0.0.1 only, and pointed at the lab's origins by IP address, so
//! nothing leaves the machine.

use std::collections::BTreeSet;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proxy_audit::ingest::{Collector, IngestOptions};
use proxy_audit::lab::{Lab, LabOptions};
use proxy_audit::probe::runner::{self, AuditContext, AuditOptions, ProbeRules};
use proxy_audit::probe::{Check, Code, ProbeResult, Status};

/// A child process killed when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Waits (bounded) until something accepts connections on the port.
fn wait_listening(port: u16, server: &mut Server) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = server.0.try_wait() {
            panic!("the server exited: {status}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "server never listened"
        );
        std::thread::yield_now();
    }
}

/// Audits one link with every check against the lab's origins (by address).
async fn audit_one(link: &str) -> ProbeResult {
    let lab = Lab::start(LabOptions::default()).await.unwrap();
    let mut collector = Collector::new(IngestOptions::default());
    collector
        .read_input("interop", std::io::Cursor::new(link.to_owned()))
        .unwrap();
    let inventory = collector.finish();
    assert_eq!(inventory.entries.len(), 1, "{link}");
    let options = AuditOptions {
        concurrency: 1,
        step_timeout: Duration::from_secs(5),
        entry_deadline: Duration::from_secs(30),
        checks: Check::ALL.into_iter().collect(),
        allow_private: true,
        dc: 2,
    };
    let context = Arc::new(
        AuditContext::new(
            lab.profile_by_address().unwrap(),
            ProbeRules::built_in().unwrap(),
            options,
        )
        .unwrap(),
    );
    let mut result = None;
    runner::run(
        &inventory.entries,
        context,
        std::future::pending(),
        |_, r| {
            result = Some(r);
        },
    )
    .await;
    result.unwrap()
}

fn assert_honest(result: &ProbeResult) {
    assert_eq!(result.status, Status::Alive, "{result:#?}");
    let codes: BTreeSet<Code> = result.findings.iter().map(|f| f.code).collect();
    assert_eq!(codes, BTreeSet::from([Code::OpenProxy]), "{result:#?}");
    assert!(
        result.observations.tls.iter().all(|leg| leg.valid),
        "{result:#?}"
    );
    assert!(
        result.observations.http.iter().all(|h| h.matches),
        "{result:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs microsocks (Debian package); .ci/run runs it"]
async fn interop_microsocks_is_audited_as_honest() {
    let port = free_port();
    let mut server = Server(
        Command::new("microsocks")
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("microsocks is installed"),
    );
    wait_listening(port, &mut server);
    assert_honest(&audit_one(&format!("socks5://127.0.0.1:{port}")).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tinyproxy (Debian package); .ci/run runs it"]
async fn interop_tinyproxy_is_audited_as_honest() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tinyproxy.conf");
    // Loopback only; no upstream, no DNS of its own beyond what requests name.
    std::fs::write(
        &config,
        format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 30\nAllow 127.0.0.1\nMaxClients 16\n\
             LogLevel Error\nUser nobody\nGroup nogroup\n"
        ),
    )
    .unwrap();
    let mut server = Server(
        Command::new("tinyproxy")
            .arg("-d")
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tinyproxy is installed"),
    );
    wait_listening(port, &mut server);
    assert_honest(&audit_one(&format!("http://127.0.0.1:{port}")).await);
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
