//! Launchers for the real third-party proxy servers the interop tests audit, and one smoke
//! test per launcher showing the server really relays (through the library's own client).
//!
//! Every server listens on 127.0.0.1 only, on a port chosen at run time (the OS's choice
//! where the server can report it, otherwise [`free_port`]), keeps its config, logs and
//! state in a temporary directory that lives as long as its [`Server`], and is configured to
//! contact nothing beyond loopback: no upstream, no update check, no public-address lookup,
//! no DNS server but 127.0.0.1 where the server has a setting for it. microsocks, tinyproxy,
//! danted and mitmproxy have no such setting and resolve names with the system resolver, so
//! tests hand them IP literals only (the lab's `profile_by_address`).
//!
//! Debian's packages: microsocks, tinyproxy, squid, dante-server; PyPI's, in the venv of
//! [`interop_venv`]: mtprotoproxy 1.0.6 and mitmproxy 11.0.2. `.ci/run` installs them all.
//! The smoke tests are ignored by default and named `interop_…`, so CI's
//! `cargo test --test it -- --ignored interop` runs them.

use std::fmt::Write as _;
use std::io::{BufRead as _, Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proxy_audit::catalog::interception::InterceptionCas;
use proxy_audit::config::Profile;
use proxy_audit::lab::origins::JudgeReply;
use proxy_audit::lab::{Lab, LabOptions};
use proxy_audit::probe::dial::{self, Credentials, DialError, ProxyEndpoint, Target};
use proxy_audit::probe::http::{Fetched, GetError, get_via_proxy};
use proxy_audit::probe::tls::{TlsPolicy, probe_tls};
use proxy_audit::proxy::ProxyKind;
use tempfile::TempDir;

/// A server process, killed (SIGKILL) and reaped when the test ends, however it ends; its
/// temporary directory, if any, is removed after that.
pub(crate) struct Server {
    /// The process.
    child: Child,
    /// Its config, logs and state (`stdout.log`, `stderr.log` and the server's own).
    dir: Option<TempDir>,
}

impl Server {
    /// Spawns `command` with no input and its output in `dir`'s `stdout.log` and `stderr.log`.
    fn spawn(command: &mut Command, dir: TempDir, what: &str) -> Self {
        let log = |name: &str| std::fs::File::create(dir.path().join(name)).unwrap();
        let child = command
            .stdin(Stdio::null())
            .stdout(log("stdout.log"))
            .stderr(log("stderr.log"))
            .spawn()
            .unwrap_or_else(|error| panic!("{what} is installed: {error}"));
        Self {
            child,
            dir: Some(dir),
        }
    }

    /// The process id.
    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// The end of every `*.log` file in its directory, for failure messages.
    pub(crate) fn logs(&self) -> String {
        let Some(dir) = &self.dir else {
            return String::new();
        };
        let mut names: Vec<PathBuf> = std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
            .collect();
        names.sort();
        let mut logs = String::new();
        for path in names {
            let text = std::fs::read(&path).unwrap_or_default();
            let tail = &text[text.len().saturating_sub(4000)..];
            let _ = writeln!(
                logs,
                "--- {}\n{}",
                path.display(),
                String::from_utf8_lossy(tail)
            );
        }
        logs
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nobody listens on right now.
pub(crate) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Waits (bounded: 10 s) until something accepts connections on the port; panics with the
/// server's logs if it exits or never listens.
pub(crate) fn wait_listening(port: u16, server: &mut Server) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("the server exited: {status}\n{}", server.logs());
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "server never listened\n{}",
            server.logs()
        );
        std::thread::yield_now();
    }
}

/// True when this process runs as root (the owner of `/proc/self` is the effective user).
fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

/// The virtual environment holding mtprotoproxy and mitmproxy (`PROXY_AUDIT_INTEROP_VENV`,
/// by default `target/interop-venv`, where `.ci/run` installs them).
pub(crate) fn interop_venv() -> PathBuf {
    std::env::var_os("PROXY_AUDIT_INTEROP_VENV").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/interop-venv"),
        PathBuf::from,
    )
}

/// Starts mtprotoproxy for `users` (name → 32 hex digits) through
/// `tests/interop/mtprotoproxy.py`, relaying to the lab's datacenter and masking bad
/// clients to the lab's site for its FakeTLS domain; returns it and its port.
pub(crate) fn start_mtprotoproxy(lab: &Lab, users: &[(&str, &str)], dir: &Path) -> (Server, u16) {
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
    let server = Server { child, dir: None };
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

/// Starts Debian's squid (5.7) as a plain forward proxy on 127.0.0.1; returns it and its
/// port.
///
/// It runs in the foreground as one process (`squid -N`: no daemon, no SMP kids) with a
/// config of its own in a temporary directory that also holds its logs (`cache.log`,
/// `access.log`, through the `stdio:` module rather than a log daemon), pid file and core
/// dumps. It keeps squid's default forwarding headers (`forwarded_for on` adds
/// `X-Forwarded-For: 127.0.0.1`, `via on` adds `Via: 1.1 interop-squid (squid/5.7)`),
/// which is what the audit must see of a real squid. Only 127.0.0.1 may use it; CONNECT is
/// allowed to any port (no `SSL_ports` rule: the lab's TLS canaries listen on high ports).
/// Nothing is cached (`cache deny all`, no `cache_dir`, no digest); ICP, HTCP and SNMP are
/// off, and so is the ICMP `pinger` helper; its only DNS server is 127.0.0.1 (targets are IP
/// literals anyway) and `visible_hostname` is set, so it looks up nothing; its outgoing TCP
/// and UDP come from 127.0.0.1. `shutdown_lifetime 0` would make a SIGTERM quick, though
/// [`Server`] kills it outright. Started as root, squid switches to Debian's `proxy` user
/// (`cache_effective_user`), so the directory is made writable by everyone. Ready in about
/// 0.1 s.
pub(crate) fn start_squid() -> (Server, u16) {
    let dir = tempfile::tempdir().unwrap();
    if running_as_root() {
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let port = free_port();
    let state = dir.path().display();
    let config = dir.path().join("squid.conf");
    std::fs::write(
        &config,
        format!(
            "http_port 127.0.0.1:{port}\n\
             acl loopback src 127.0.0.1/32\n\
             http_access allow loopback\n\
             http_access deny all\n\
             cache deny all\n\
             cache_mem 8 MB\n\
             digest_generation off\n\
             visible_hostname interop-squid\n\
             cache_effective_user proxy\n\
             dns_nameservers 127.0.0.1\n\
             tcp_outgoing_address 127.0.0.1\n\
             udp_incoming_address 127.0.0.1\n\
             udp_outgoing_address 127.0.0.1\n\
             icp_port 0\n\
             htcp_port 0\n\
             snmp_port 0\n\
             pinger_enable off\n\
             netdb_filename none\n\
             cache_store_log none\n\
             access_log stdio:{state}/access.log\n\
             cache_log {state}/cache.log\n\
             pid_filename {state}/squid.pid\n\
             coredump_dir {state}\n\
             shutdown_lifetime 0 seconds\n"
        ),
    )
    .unwrap();
    let mut server = Server::spawn(
        Command::new("squid")
            .arg("-N")
            .arg("-f")
            .arg(&config)
            .current_dir(dir.path()),
        dir,
        "squid",
    );
    wait_listening(port, &mut server);
    (server, port)
}

/// Starts Debian's tinyproxy (1.11) on 127.0.0.1, for `basic_auth` (user, password) when
/// given; returns it and its port.
///
/// In the foreground (`-d`), only 127.0.0.1 allowed, no upstream, errors only in the log
/// (its standard error, in the temporary directory). Its default `Via` header
/// (`1.1 HOSTNAME (tinyproxy/1.11.1)`, the host name from `gethostname`, no lookup) stays
/// on. Started as root it switches to `nobody`. With `BasicAuth`, tinyproxy 1.11 answers a
/// request without credentials with 407 and one with a wrong password with 401 (sic, with
/// `WWW-Authenticate`). Ready in a few milliseconds.
pub(crate) fn start_tinyproxy(basic_auth: Option<(&str, &str)>) -> (Server, u16) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut text = format!(
        "Port {port}\nListen 127.0.0.1\nTimeout 30\nAllow 127.0.0.1\nMaxClients 16\n\
         LogLevel Error\nUser nobody\nGroup nogroup\n"
    );
    if let Some((user, password)) = basic_auth {
        assert!(
            [user, password]
                .iter()
                .all(|word| !word.is_empty() && !word.contains(char::is_whitespace)),
            "tinyproxy's BasicAuth takes two words"
        );
        let _ = writeln!(text, "BasicAuth {user} {password}");
    }
    let config = dir.path().join("tinyproxy.conf");
    std::fs::write(&config, text).unwrap();
    let mut server = Server::spawn(
        Command::new("tinyproxy").arg("-d").arg("-c").arg(&config),
        dir,
        "tinyproxy",
    );
    wait_listening(port, &mut server);
    (server, port)
}

/// Starts Debian's microsocks (SOCKS5) on 127.0.0.1, requiring `auth` (user, password) when
/// given; returns it and its port.
///
/// `-i 127.0.0.1 -p PORT`, plus `-u USER -P PASS` with `auth`, but never `-1` (which would
/// let an address that once authenticated in without credentials afterwards, hiding a
/// wrong-password refusal). One process, one thread per client; ready in milliseconds.
pub(crate) fn start_microsocks(auth: Option<(&str, &str)>) -> (Server, u16) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut command = Command::new("microsocks");
    command.args(["-i", "127.0.0.1", "-p", &port.to_string()]);
    if let Some((user, password)) = auth {
        command.args(["-u", user, "-P", password]);
    }
    let mut server = Server::spawn(&mut command, dir, "microsocks");
    wait_listening(port, &mut server);
    (server, port)
}

/// Starts Debian's dante-server (`danted` 1.4.2), SOCKS4 and SOCKS5 without authentication,
/// on 127.0.0.1; returns it and its port.
///
/// In the foreground (no `-D`) with one mother process (`-N 1`; it still forks a monitor and
/// pools of negotiate, request and io children, about 20 processes, which exit as soon as
/// the mother dies: the smoke test checks that dropping the [`Server`] ends them), its pid
/// file and log (`danted.log`) in the temporary directory, no systemd needed. `internal`
/// is 127.0.0.1:PORT and `external` 127.0.0.1, so its outgoing connections come from
/// loopback; client and socks rules pass only 127.0.0.0/8 sources to 127.0.0.0/8
/// destinations (TCP) and log what they block. The rules use addresses only: a host-name
/// rule (even `.`) makes danted reverse-resolve every address it matches against it, through
/// the system resolver. As root it keeps root for binding and runs as `nobody` otherwise.
///
/// danted does not speak SOCKS4a: a SOCKS4 request for 0.0.0.x with a host name is taken as
/// one for the address 0.0.0.x and refused (reply 0x5b) without resolving the name. Ready in
/// a few milliseconds.
pub(crate) fn start_dante() -> (Server, u16) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let state = dir.path().display();
    let users = if running_as_root() {
        "user.privileged: root\nuser.unprivileged: nobody\n"
    } else {
        ""
    };
    let config = dir.path().join("danted.conf");
    std::fs::write(
        &config,
        format!(
            "logoutput: {state}/danted.log\n\
             internal: 127.0.0.1 port = {port}\n\
             external: 127.0.0.1\n\
             socksmethod: none\n\
             clientmethod: none\n\
             {users}\
             client pass {{\n    from: 127.0.0.0/8 to: 127.0.0.0/8\n}}\n\
             client block {{\n    from: 0/0 to: 0/0\n    log: connect error\n}}\n\
             socks pass {{\n    from: 127.0.0.0/8 to: 127.0.0.0/8\n    protocol: tcp\n}}\n\
             socks block {{\n    from: 0/0 to: 0/0\n    log: connect error\n}}\n"
        ),
    )
    .unwrap();
    let mut server = Server::spawn(
        Command::new("danted")
            .arg("-f")
            .arg(&config)
            .arg("-N")
            .arg("1")
            .arg("-p")
            .arg(dir.path().join("danted.pid")),
        dir,
        "danted",
    );
    wait_listening(port, &mut server);
    (server, port)
}

/// How [`start_mitmproxy`] takes clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MitmMode {
    /// An HTTP proxy (`--mode regular`): absolute-form GETs and CONNECT.
    Http,
    /// A SOCKS5 proxy without authentication (`--mode socks5`).
    Socks5,
}

/// Starts mitmproxy 11.0.2 (`mitmdump`, from the interop venv) in `mode` on 127.0.0.1;
/// returns it and its port.
///
/// It intercepts TLS: every tunnel gets a certificate minted for the target by its own CA
/// (`CN=mitmproxy, O=mitmproxy`), which is what the audit must catch. Its CA and config live
/// in the temporary directory (`confdir`), not in `~/.mitmproxy`. `ssl_insecure` lets it
/// intercept although it does not know the lab's CA. The port is the OS's choice
/// (`--listen-port 0`), read from its "listening at 127.0.0.1:PORT" line, waited for at most
/// 30 s (Python starts in about 2 s). Quiet: no flow dumps (`flow_detail=0`), its
/// connection log drained to `stdout.log`; no `mitm.it` onboarding app. mitmproxy has no
/// update check or telemetry; it connects only to the targets it is asked for (IP literals
/// on loopback here).
pub(crate) fn start_mitmproxy(mode: MitmMode) -> (Server, u16) {
    let dir = tempfile::tempdir().unwrap();
    let mode = match mode {
        MitmMode::Http => "regular",
        MitmMode::Socks5 => "socks5",
    };
    let stderr = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
    let mut stdout_log = std::fs::File::create(dir.path().join("stdout.log")).unwrap();
    let mut child = Command::new(interop_venv().join("bin/mitmdump"))
        .args([
            "--mode",
            mode,
            "--listen-host",
            "127.0.0.1",
            "--listen-port",
            "0",
        ])
        .arg("--set")
        .arg(format!("confdir={}", dir.path().join("conf").display()))
        .args(["--set", "ssl_insecure=true"])
        .args(["--set", "flow_detail=0"])
        .args(["--set", "onboarding=false"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("mitmproxy is installed in the interop venv");
    let stdout = child.stdout.take().unwrap();
    let server = Server {
        child,
        dir: Some(dir),
    };
    // Read the port it reports on a thread (a silent server cannot hang the test), which
    // then keeps draining its log so the pipe never fills.
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = writeln!(stdout_log, "{line}");
            if let Some((_, address)) = line.split_once("listening at 127.0.0.1:") {
                let port = address.trim().trim_end_matches('.');
                let _ = sender.send(port.parse::<u16>());
            }
        }
    });
    let port = match receiver.recv_timeout(Duration::from_secs(30)) {
        Ok(Ok(port)) => port,
        Ok(Err(error)) => panic!("mitmproxy reported a bad port: {error}\n{}", server.logs()),
        Err(error) => panic!(
            "mitmproxy never said it listened: {error}\n{}",
            server.logs()
        ),
    };
    (server, port)
}

/// Per-step timeout of the smoke tests' requests.
const STEP: Duration = Duration::from_secs(5);

/// The largest body the smoke tests read.
const MAX_BODY: usize = 64 * 1024;

/// A proxy on 127.0.0.1:`port`.
fn endpoint(kind: ProxyKind, port: u16, auth: Option<(&str, &str)>) -> ProxyEndpoint {
    ProxyEndpoint {
        kind,
        addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
        host: "127.0.0.1".to_owned(),
        username: auth.map(|(user, _)| user.to_owned()),
        password: auth.map(|(_, password)| password.to_owned()),
    }
}

/// GETs the lab's plain-HTTP canary through `proxy`.
async fn get_canary(profile: &Profile, proxy: &ProxyEndpoint) -> Result<Fetched, GetError> {
    let url = &profile.http_canaries[0].url;
    get_via_proxy(proxy, Credentials::AsListed, url, STEP, MAX_BODY).await
}

/// Asserts that `proxy` relays the lab's plain-HTTP canary unchanged.
async fn assert_relays(profile: &Profile, proxy: &ProxyEndpoint, server: &Server) {
    let fetched = get_canary(profile, proxy).await;
    let fetched = fetched.unwrap_or_else(|error| panic!("{error}\n{}", server.logs()));
    assert_eq!(fetched.response.status, 200, "{fetched:#?}");
    assert_eq!(fetched.response.body, b"success\n", "{fetched:#?}");
}

/// Live processes whose parent is `pid` (from `/proc/*/stat`).
fn children_of(pid: u32) -> Vec<u32> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.first() != Some(&"Z") && fields.get(1) == Some(&pid.to_string().as_str()) {
            children.push(child);
        }
    }
    children
}

/// True while process `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
    })
}

/// squid relays the canary, opens a CONNECT tunnel to a high port, keeps to one process,
/// and tells the judge who the client is: `X-Forwarded-For: 127.0.0.1` and
/// `Via: 1.1 interop-squid (squid/5.7)` (it also adds `Cache-Control: max-age=259200` and
/// `Connection: keep-alive`, and moves `Host` after the client's other fields).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs squid (Debian package); .ci/run runs it"]
async fn interop_squid_relays_and_forwards_the_client_address() {
    let started = Instant::now();
    let (server, port) = start_squid();
    let startup = started.elapsed();
    let lab = Lab::start(LabOptions::default()).await.unwrap();
    let profile = lab.profile_by_address().unwrap();
    let proxy = endpoint(ProxyKind::Http, port, None);
    assert_relays(&profile, &proxy, &server).await;
    let judge = profile.judge.as_ref().unwrap();
    let fetched = get_via_proxy(&proxy, Credentials::AsListed, judge, STEP, MAX_BODY)
        .await
        .unwrap_or_else(|error| panic!("{error}\n{}", server.logs()));
    assert_eq!(fetched.response.status, 200, "{fetched:#?}");
    let reply: JudgeReply = serde_json::from_slice(&fetched.response.body).unwrap();
    let header = |name: &str| {
        reply
            .headers
            .iter()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    };
    assert!(
        header("X-Forwarded-For").is_some_and(|value| value.contains("127.0.0.1")),
        "{reply:#?}"
    );
    assert!(
        header("Via").is_some_and(|value| value.contains("squid")),
        "{reply:#?}"
    );
    // Through CONNECT too (to the TLS canary's port: squid allows any).
    let canary = &profile.tls_canaries[0];
    let target = Target::Addr(SocketAddr::new(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        canary.port,
    ));
    let tunnel = dial::open_tunnel(&proxy, Credentials::AsListed, &target, STEP).await;
    assert!(tunnel.is_ok(), "{}", server.logs());
    assert!(
        children_of(server.id()).is_empty(),
        "squid -N forked: {:?}",
        children_of(server.id())
    );
    eprintln!("squid listened after {startup:?}");
}

/// tinyproxy relays the canary with its `Via`; with BasicAuth, the right password relays,
/// a wrong one gets 401 and none gets 407, both refused credentials to the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tinyproxy (Debian package); .ci/run runs it"]
async fn interop_tinyproxy_relays_and_checks_basic_auth() {
    let lab = Lab::start(LabOptions::default()).await.unwrap();
    let profile = lab.profile_by_address().unwrap();
    let (open, port) = start_tinyproxy(None);
    let proxy = endpoint(ProxyKind::Http, port, None);
    assert_relays(&profile, &proxy, &open).await;
    let judge = profile.judge.as_ref().unwrap();
    let fetched = get_via_proxy(&proxy, Credentials::AsListed, judge, STEP, MAX_BODY)
        .await
        .unwrap();
    let reply: JudgeReply = serde_json::from_slice(&fetched.response.body).unwrap();
    assert!(
        reply
            .headers
            .iter()
            .any(|(name, value)| name.eq_ignore_ascii_case("Via") && value.contains("tinyproxy")),
        "{reply:#?}"
    );

    let (server, port) = start_tinyproxy(Some(("alice", "s3cret")));
    assert_relays(
        &profile,
        &endpoint(ProxyKind::Http, port, Some(("alice", "s3cret"))),
        &server,
    )
    .await;
    // A wrong password: tinyproxy answers 401 (with `WWW-Authenticate`), no credentials
    // 407; the client takes both as refused credentials.
    let wrong = Some(("alice", "wrong"));
    assert_eq!(raw_status(port, &profile, wrong), 401, "{}", server.logs());
    assert_eq!(raw_status(port, &profile, None), 407, "{}", server.logs());
    for auth in [wrong, None] {
        let refused = get_canary(&profile, &endpoint(ProxyKind::Http, port, auth)).await;
        assert!(
            matches!(refused, Err(GetError::Dial(DialError::AuthRejected))),
            "{auth:?}: {refused:#?}"
        );
    }
}

/// The status code an HTTP proxy on 127.0.0.1:`proxy` answers to a plain GET of the lab's
/// canary, with Basic `auth` when given (read off the raw status line).
fn raw_status(proxy: u16, profile: &Profile, auth: Option<(&str, &str)>) -> u16 {
    use base64::Engine as _;
    let url = &profile.http_canaries[0].url;
    let mut request = format!(
        "GET {url} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        url.host_header()
    );
    if let Some((user, password)) = auth {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let _ = write!(request, "Proxy-Authorization: Basic {token}\r\n");
    }
    request.push_str("\r\n");
    let mut stream = TcpStream::connect(("127.0.0.1", proxy)).unwrap();
    stream.set_read_timeout(Some(STEP)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut line = String::new();
    std::io::BufReader::new(stream)
        .read_line(&mut line)
        .unwrap();
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok());
    status.unwrap_or_else(|| panic!("not a status line: {line:?}"))
}

/// microsocks relays the canary; with a user, the right password relays and a wrong one or
/// none is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs microsocks (Debian package); .ci/run runs it"]
async fn interop_microsocks_relays_and_checks_its_password() {
    let lab = Lab::start(LabOptions::default()).await.unwrap();
    let profile = lab.profile_by_address().unwrap();
    let (open, port) = start_microsocks(None);
    assert_relays(&profile, &endpoint(ProxyKind::Socks5, port, None), &open).await;

    let (server, port) = start_microsocks(Some(("alice", "s3cret")));
    assert_relays(
        &profile,
        &endpoint(ProxyKind::Socks5, port, Some(("alice", "s3cret"))),
        &server,
    )
    .await;
    let wrong = get_canary(
        &profile,
        &endpoint(ProxyKind::Socks5, port, Some(("alice", "wrong"))),
    )
    .await;
    assert!(
        matches!(wrong, Err(GetError::Dial(DialError::AuthRejected))),
        "{wrong:#?}"
    );
    // No credentials: microsocks accepts none of the offered methods (0xff).
    let none = get_canary(&profile, &endpoint(ProxyKind::Socks5, port, None)).await;
    assert!(
        matches!(none, Err(GetError::Dial(DialError::AuthRejected))),
        "{none:#?}"
    );
}

/// Sends one SOCKS4 CONNECT request to 127.0.0.1:`proxy` and returns the reply code.
fn socks4_reply(proxy: u16, request: &[u8]) -> u8 {
    let mut stream = TcpStream::connect(("127.0.0.1", proxy)).unwrap();
    stream.set_read_timeout(Some(STEP)).unwrap();
    stream.write_all(request).unwrap();
    let mut reply = [0_u8; 8];
    stream.read_exact(&mut reply).unwrap();
    assert_eq!(reply[0], 0, "{reply:?}");
    reply[1]
}

/// danted relays the canary over SOCKS5 and SOCKS4, grants a raw SOCKS4 request for an
/// address (0x5a) but refuses a SOCKS4a one naming a host (0x5b), and leaves no process
/// behind when dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dante-server (Debian package); .ci/run runs it"]
async fn interop_dante_relays_socks4_and_socks5_but_not_socks4a() {
    let lab = Lab::start(LabOptions::default()).await.unwrap();
    let profile = lab.profile_by_address().unwrap();
    let (server, port) = start_dante();
    assert_relays(&profile, &endpoint(ProxyKind::Socks5, port, None), &server).await;
    assert_relays(&profile, &endpoint(ProxyKind::Socks4, port, None), &server).await;

    let canary = profile.http_canaries[0].url.port.to_be_bytes();
    let mut socks4 = vec![4, 1, canary[0], canary[1], 127, 0, 0, 1];
    socks4.extend_from_slice(b"interop\0");
    assert_eq!(socks4_reply(port, &socks4), 0x5a, "{}", server.logs());
    // SOCKS4a: address 0.0.0.1, then the host name after the user id. "localhost" is in
    // /etc/hosts, so even a server that resolved it would ask no DNS server.
    let mut socks4a = vec![4, 1, canary[0], canary[1], 0, 0, 0, 1];
    socks4a.extend_from_slice(b"interop\0localhost\0");
    assert_eq!(socks4_reply(port, &socks4a), 0x5b, "{}", server.logs());

    let mother = server.id();
    let children = children_of(mother);
    assert!(!children.is_empty(), "danted forks its helpers");
    drop(server);
    let dropped = Instant::now();
    while children.iter().any(|&child| alive(child)) {
        assert!(
            dropped.elapsed() < Duration::from_secs(10),
            "danted's children outlived it: {children:?}"
        );
        std::thread::yield_now();
    }
}

/// Checks that mitmproxy in `mode` relays the canary and intercepts TLS: the lab's TLS
/// canary, reached through it, shows a certificate of mitmproxy's CA, not the lab's.
async fn assert_mitmproxy_intercepts(mode: MitmMode, kind: ProxyKind) {
    let lab = Lab::start(LabOptions::default()).await.unwrap();
    let profile = lab.profile_by_address().unwrap();
    let started = Instant::now();
    let (server, port) = start_mitmproxy(mode);
    let startup = started.elapsed();
    let proxy = endpoint(kind, port, None);
    assert_relays(&profile, &proxy, &server).await;

    let canary = &profile.tls_canaries[0];
    let target = Target::Addr(SocketAddr::new(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        canary.port,
    ));
    let tunnel = dial::open_tunnel(&proxy, Credentials::AsListed, &target, STEP)
        .await
        .unwrap_or_else(|error| panic!("{error}\n{}", server.logs()));
    let policy = TlsPolicy::new(
        Arc::clone(&canary.roots),
        canary.spki_sha256.clone(),
        Arc::new(InterceptionCas::built_in().unwrap()),
    );
    let outcome = probe_tls(tunnel.stream, &canary.host, &policy, STEP).await;
    assert!(!outcome.valid, "{outcome:#?}");
    let leaf = outcome.chain.first().expect("a certificate was presented");
    assert!(leaf.issuer.contains("mitmproxy"), "{outcome:#?}");
    eprintln!(
        "mitmproxy ({mode:?}) listened after {startup:?}; known CA: {:?}; error: {:?}",
        outcome.known_ca, outcome.error
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs mitmproxy from PyPI in target/interop-venv; .ci/run installs it"]
async fn interop_mitmproxy_http_intercepts_tls() {
    assert_mitmproxy_intercepts(MitmMode::Http, ProxyKind::Http).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs mitmproxy from PyPI in target/interop-venv; .ci/run installs it"]
async fn interop_mitmproxy_socks5_intercepts_tls() {
    assert_mitmproxy_intercepts(MitmMode::Socks5, ProxyKind::Socks5).await;
}
