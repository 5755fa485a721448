//! Interop with real third-party servers: microsocks (SOCKS5) and tinyproxy (HTTP) from
//! Debian's packages, mtprotoproxy (MTProto, from PyPI) and minisign. Ignored by default
//! because they need those programs installed; `.ci/run` installs them and runs these tests
//! explicitly. The servers are started on loopback, told to listen on 127.0.0.1 only, and
//! pointed at the lab's origins and datacenter by IP address, so nothing leaves the machine.

use std::collections::BTreeSet;
use std::io::BufRead as _;
use std::net::TcpStream;
use std::path::PathBuf;
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

/// Audits one link with every check against a fresh lab's origins (by address).
async fn audit_one(link: &str) -> ProbeResult {
    let lab = Lab::start(LabOptions::default()).await.unwrap();
    let mut results = audit_links(&lab, link).await;
    assert_eq!(results.len(), 1, "{link}");
    results.remove(0)
}

/// Audits a list (one link per line) with every check against `lab`'s origins (by
/// address); results in list order.
async fn audit_links(lab: &Lab, list: &str) -> Vec<ProbeResult> {
    let mut collector = Collector::new(IngestOptions::default());
    collector
        .read_input("interop", std::io::Cursor::new(list.to_owned()))
        .unwrap();
    let inventory = collector.finish();
    assert_eq!(inventory.entries.len(), list.lines().count(), "{list}");
    let options = AuditOptions {
        concurrency: 4,
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
    let mut results: Vec<Option<ProbeResult>> = vec![None; inventory.entries.len()];
    runner::run(
        &inventory.entries,
        context,
        std::future::pending(),
        |index, result| results[index] = Some(result),
    )
    .await;
    results.into_iter().map(Option::unwrap).collect()
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
    let result = audit_one(&format!("socks5://127.0.0.1:{port}")).await;
    assert_honest(&result);
    // Through a real SOCKS5 server, the lab's datacenter proves its key too.
    let telegram = result.observations.telegram.as_ref();
    assert!(telegram.is_some_and(|t| t.authentic), "{result:#?}");
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

/// The virtual environment holding mtprotoproxy (`PROXY_AUDIT_INTEROP_VENV`, by default
/// `target/interop-venv`, where `.ci/run` installs it).
fn interop_venv() -> PathBuf {
    std::env::var_os("PROXY_AUDIT_INTEROP_VENV").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/interop-venv"),
        PathBuf::from,
    )
}

/// Starts mtprotoproxy for `users` (name → 32 hex digits) through
/// `tests/interop/mtprotoproxy.py`, relaying to the lab's datacenter and masking bad
/// clients to the lab's site for its FakeTLS domain; returns it and its port.
fn start_mtprotoproxy(lab: &Lab, users: &[(&str, &str)], dir: &std::path::Path) -> (Server, u16) {
    let users: Vec<String> = users
        .iter()
        .map(|(name, key)| format!("{name:?}: {key:?}"))
        .collect();
    let config = dir.join("config.py");
    // Loopback only, no public-address lookup, no middle proxies (no ad tag), stats quiet.
    std::fs::write(
        &config,
        format!(
            "PORT = 0\nUSERS = {{{users}}}\nLISTEN_ADDR_IPV4 = \"127.0.0.1\"\n\
             LISTEN_ADDR_IPV6 = \"\"\nPREFER_IPV6 = False\nTLS_DOMAIN = {domain:?}\n\
             MASK = True\nMASK_HOST = \"127.0.0.1\"\nMASK_PORT = {mask}\n\
             STATS_PRINT_PERIOD = 86400\n",
            users = users.join(", "),
            domain = proxy_audit::lab::FRONTED,
            mask = lab.fronted_site().port(),
        ),
    )
    .unwrap();
    let venv = interop_venv();
    let dc = lab.datacenter();
    let mut child = Command::new(venv.join("bin/python"))
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/mtprotoproxy.py"))
        .arg(venv.join("bin/mtprotoproxy"))
        .arg(&config)
        .arg(dc.ip().to_string())
        .arg(dc.port().to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("mtprotoproxy is installed in the interop venv");
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);
    // The wrapper prints the port the OS chose; read it on a thread so a silent server
    // cannot hang the test.
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(port) = line.strip_prefix("listening on ") {
                let _ = sender.send(port.trim().parse::<u16>().unwrap());
            }
        }
    });
    let port = receiver
        .recv_timeout(Duration::from_secs(30))
        .expect("mtprotoproxy reported its port");
    (server, port)
}

/// mtprotoproxy (alexbers, PyPI 1.0.6) is a real MTProto proxy written without reference to
/// this code. Through it, in plain, `dd` and FakeTLS modes, the lab's datacenter proves its
/// key; it refuses replays and made-up secrets and masks strangers to the real site, so the
/// only findings are the plain secret's weakness and the default secret its own config
/// ships.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs mtprotoproxy from PyPI in target/interop-venv; .ci/run installs it"]
async fn interop_mtprotoproxy_reaches_telegram_in_every_mode() {
    use proxy_audit::config::to_hex;
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
        (link(format!("dd{key}")), vec![]),
        (link(format!("ee{key}{domain}")), vec![]),
        (link(key.clone()), vec![Code::WeakSecret]),
        (link(format!("dd{published}")), vec![Code::DefaultSecret]),
    ];
    let list: Vec<&str> = cases.iter().map(|(link, _)| link.as_str()).collect();
    let results = audit_links(&lab, &list.join("\n")).await;
    for ((link, want), result) in cases.iter().zip(&results) {
        assert_eq!(result.status, Status::Alive, "{link}: {result:#?}");
        let codes: BTreeSet<Code> = result.findings.iter().map(|f| f.code).collect();
        let want: BTreeSet<Code> = want.iter().copied().collect();
        assert_eq!(codes, want, "{link}: {result:#?}");
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
