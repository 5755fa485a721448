//! The probe runner: runs the checks for every entry with bounded concurrency, at most
//! `--per-host` entries of one proxy host at once, a per-step timeout and a per-entry
//! deadline, and hands each result over as soon as it is ready.
//!
//! The checks for one entry run in order, each through a fresh tunnel, one connection at a
//! time (so the per-host limit also bounds the connections to one host):
//! 1. the address guard ([`super::guard`]);
//! 2. `liveness`: connect, handshake, GET the profile's first HTTP canary (or, in a profile
//!    without one, a TLS handshake with its first TLS canary). A proxy that refuses the
//!    link's credentials is `credentials_rejected`;
//! 3. `credentials`: the liveness request again with a wrong password; only a request that
//!    *succeeds* (the canary's bytes come back) is `accepts_any_credentials`. No password
//!    at all is `open_proxy`;
//! 4. `content`: every HTTP canary's body hash;
//! 5. `tls` and `dns`: every TLS canary by name (resolved by the proxy) and, when the profile
//!    gives its address, by address — a bad chain by name but a good one by address is DNS
//!    tampering, bad both ways is interception. When every canary fails without a
//!    certificate, twice, HTTPS does not work through the proxy: `tls_broken`;
//! 6. `judge`: what a judge received through the proxy ([`super::judge`]): the anonymity
//!    level, and `client_ip_leaked` when it received one of the auditor's own addresses.
//!
//! A step after liveness cut off by a timeout or a reset is tried once more
//! (`probe::retry`); cut off again, its check is inconclusive, never a finding. Every step
//! gets at most `--timeout` and never more than what is left of the entry's deadline; when
//! the deadline passes, the checks not yet run are inconclusive.
//!
//! SOCKS4 follows curl: `socks4://` resolves target names on the auditor's side and sends
//! the address, `socks4a://` sends the name, and when a proxy refuses a SOCKS4a request it
//! is asked once more with the address.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt::Write as _;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::dial::{Credentials, DialError, ProxyEndpoint, Target, Tunnel, open_tunnel};
use super::guard::{self, Decision, NameCache, Resolver};
use super::http::{Fetched, GetError, HttpResponse, MAX_BODY, get_through, get_via_proxy};
use super::judge::{self, JudgeAnswer};
use super::mtproto::{MtprotoContext, Steps, TelegramSetup, audit_mtproto, audit_socks_telegram};
use super::retry::{Attempt, at_most_twice};
use super::tls::{CutOff, TlsOutcome, TlsPolicy, probe_tls};
use crate::catalog::default_secrets::DefaultSecrets;
use crate::catalog::interception::InterceptionCas;
use crate::config::{HttpCanary, HttpUrl, Profile, TlsCanary};
use crate::ingest::Entry;
use crate::model::{
    AnonymityObservation, Check, Code, Finding, HttpObservation, Observations, ProbeResult, Status,
    TlsObservation,
};
use crate::policy::address::AddressClass;
use crate::proto::hex::to_hex;
use crate::proto::mtproto::rsa::{KeyError, TrustedKeys, load_pem};
use crate::proxy::{ProxyKind, ProxySpec};

/// How an audit runs.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Entries probed at once.
    pub concurrency: usize,
    /// Entries of one proxy host probed at once (0: no limit). An entry holds at most one
    /// connection to its proxy at a time, so this bounds the connections too: lists hold
    /// dozens of secrets for one server, and hammering it trips its abuse limits.
    pub per_host: usize,
    /// Longest a single step (connect, handshake, one request) may take.
    pub step_timeout: Duration,
    /// Longest one entry may take, all checks together.
    pub entry_deadline: Duration,
    /// Checks to run (`liveness` always runs).
    pub checks: BTreeSet<Check>,
    /// Probe loopback and private targets too (the lab needs this).
    pub allow_private: bool,
    /// Telegram datacenter the `telegram` check asks for.
    pub dc: i16,
}

impl AuditOptions {
    /// True when `check` was selected.
    fn runs(&self, check: Check) -> bool {
        self.checks.contains(&check)
    }
}

/// Everything the checks share: the profile and what was prepared from it.
pub struct AuditContext {
    /// Where the checks point.
    pub profile: Profile,
    /// One TLS policy per TLS canary, in profile order.
    tls_policies: Vec<TlsPolicy>,
    /// How the audit runs.
    pub options: AuditOptions,
    /// Each HTTP canary's page as fetched directly, at most once per run.
    references: Vec<OnceCell<Reference>>,
    /// Datacenter, trusted keys and fronting roots for the MTProto checks (`None` when the
    /// profile has no `[telegram]` table).
    telegram: Option<TelegramSetup>,
    /// Secrets published as examples (the `secret` check).
    default_secrets: DefaultSecrets,
    /// The auditor's resolver (guard, direct fetches), with the FakeTLS domains it has
    /// resolved so far (the `camouflage` check).
    names: NameCache,
    /// Who the auditor is to the judge, learnt once per run (the `judge` check).
    judge_baseline: OnceCell<JudgeBaseline>,
}

/// The rule lists the checks consult (the scoring rules come later, in the judge).
#[derive(Debug, Clone, Default)]
pub struct ProbeRules {
    /// Known interception CAs (the `tls` and `fronting` checks).
    pub interception: InterceptionCas,
    /// Secrets published as examples (the `secret` check).
    pub default_secrets: DefaultSecrets,
}

impl ProbeRules {
    /// The built-in lists.
    pub fn built_in() -> Result<Self, crate::config::FileError> {
        Ok(Self {
            interception: InterceptionCas::built_in()?,
            default_secrets: DefaultSecrets::built_in()?,
        })
    }
}

/// Why an audit could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A `[telegram]` key file did not load.
    #[error("telegram key file {file}: {error}")]
    Keys {
        /// The file as named in the profile.
        file: String,
        /// What is wrong with it.
        error: KeyError,
    },
    /// `--dc` names a datacenter the profile does not list.
    #[error("datacenter {0} is not in the profile's [telegram] table")]
    UnknownDc(i16),
}

/// An HTTP canary's page as the canary serves it to a direct request.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reference {
    /// The body, whose hash is the profile's.
    Matches(Vec<u8>),
    /// The canary serves something else now (the page changed, or it is down): a
    /// difference through a proxy then says nothing about the proxy.
    Differs(String),
    /// No direct answer (the auditor's own network may block it): the profile's hash
    /// stands alone.
    Unavailable,
}

/// What the auditor is to the judge: learnt once per run from a direct request.
#[derive(Debug, Clone, Default)]
struct JudgeBaseline {
    /// The address the judge saw on the direct request (the auditor's public address).
    direct_address: Option<IpAddr>,
    /// Lower-case names of the fields the judge reported for the direct request beyond
    /// those the auditor sent: the judge's own infrastructure (a CDN's trace id…).
    infrastructure: BTreeSet<String>,
    /// The auditor's interface addresses.
    interfaces: Vec<IpAddr>,
}

impl JudgeBaseline {
    /// The auditor's own addresses as a proxy at `proxy` could see them: the address the
    /// judge saw directly, the public interface addresses, and, for a proxy on a private or
    /// loopback address (a lab, a LAN), the non-public interface addresses too. A remote
    /// proxy writing `127.0.0.1` or `10.0.0.5` names a hop of its own, not the auditor.
    fn own_for(&self, proxy: IpAddr) -> BTreeSet<IpAddr> {
        let near = !AddressClass::of_ip(proxy).is_public();
        self.interfaces
            .iter()
            .copied()
            .filter(|ip| near || AddressClass::of_ip(*ip).is_public())
            .chain(self.direct_address)
            .map(|ip| ip.to_canonical())
            .collect()
    }
}

/// Header fields the auditor sends itself (to a proxy, `Proxy-Authorization` too); anything
/// else the judge saw was added on the way.
const SENT_HEADERS: [&str; 5] = [
    "Host",
    "User-Agent",
    "Accept",
    "Connection",
    "Proxy-Authorization",
];

impl AuditContext {
    /// Prepares the checks for `profile`.
    pub fn new(
        profile: Profile,
        rules: ProbeRules,
        options: AuditOptions,
    ) -> Result<Self, SetupError> {
        let ProbeRules {
            interception,
            default_secrets,
        } = rules;
        let interception = Arc::new(interception);
        let telegram = match &profile.telegram {
            None => None,
            Some(telegram) => {
                let mut keys = TrustedKeys::default();
                for (file, text) in &telegram.rsa_public_keys {
                    let loaded = load_pem(text, file).map_err(|error| SetupError::Keys {
                        file: file.clone(),
                        error,
                    })?;
                    for key in loaded {
                        keys.push(key);
                    }
                }
                let dc = telegram
                    .dcs
                    .iter()
                    .find(|dc| dc.id == options.dc)
                    .copied()
                    .ok_or(SetupError::UnknownDc(options.dc))?;
                Some(TelegramSetup {
                    dc,
                    keys,
                    fronting: TlsPolicy::new(
                        Arc::clone(&telegram.fronting_roots),
                        Vec::new(),
                        Arc::clone(&interception),
                    ),
                })
            }
        };
        let tls_policies = profile
            .tls_canaries
            .iter()
            .map(|canary| {
                TlsPolicy::new(
                    Arc::clone(&canary.roots),
                    canary.spki_sha256.clone(),
                    Arc::clone(&interception),
                )
            })
            .collect();
        let resolver = Resolver {
            static_hosts: profile.hosts.clone(),
        };
        let references = profile
            .http_canaries
            .iter()
            .map(|_| OnceCell::new())
            .collect();
        Ok(Self {
            profile,
            tls_policies,
            names: NameCache::new(resolver),
            options,
            references,
            telegram,
            default_secrets,
            judge_baseline: OnceCell::new(),
        })
    }

    /// Fetches `url` directly (no proxy), through the address guard (a private or loopback
    /// target only with `--allow-private`), following no redirect, at most [`MAX_BODY`]
    /// bytes. Returns the status and the body.
    async fn fetch_direct(&self, url: &HttpUrl) -> Result<(u16, Vec<u8>), String> {
        let step = self.options.step_timeout;
        let resolver = self.names.resolver();
        let addr = match guard::check(
            &url.host,
            url.port,
            self.options.allow_private,
            resolver,
            step,
        )
        .await
        {
            Decision::Allowed { addr, .. } => addr,
            Decision::Refused(finding) | Decision::Unresolvable(finding) => {
                let why: Vec<String> = finding.evidence.into_values().collect();
                return Err(why.join("; "));
            }
        };
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(step)
            .redirect(reqwest::redirect::Policy::none())
            .resolve(&url.host, addr)
            .build()
            .map_err(|error| error.to_string())?;
        let mut response = client
            .get(url.to_string())
            .send()
            .await
            .map_err(|error| error.to_string())?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|error| error.to_string())? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(format!("the answer is longer than {MAX_BODY} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body))
    }

    /// The canary's page as fetched directly, once per run.
    async fn reference(&self, index: usize, canary: &HttpCanary) -> Reference {
        let Some(cell) = self.references.get(index) else {
            return Reference::Unavailable;
        };
        cell.get_or_init(|| async {
            match self.fetch_direct(&canary.url).await {
                Ok((_, body)) => {
                    let digest: [u8; 32] = Sha256::digest(&body).into();
                    if digest == canary.sha256 {
                        Reference::Matches(body)
                    } else {
                        Reference::Differs(to_hex(&digest))
                    }
                }
                Err(_) => Reference::Unavailable,
            }
        })
        .await
        .clone()
    }

    /// Who the auditor is to the judge: its interface addresses, and what a direct request
    /// to the judge shows (the address it comes from, the judge's own header fields).
    async fn judge_baseline(&self) -> &JudgeBaseline {
        self.judge_baseline
            .get_or_init(|| async {
                let interfaces = if_addrs::get_if_addrs()
                    .map(|interfaces| interfaces.iter().map(if_addrs::Interface::ip).collect())
                    .unwrap_or_default();
                let mut baseline = JudgeBaseline {
                    interfaces,
                    ..JudgeBaseline::default()
                };
                let Some(url) = &self.profile.judge else {
                    return baseline;
                };
                if let Some(answer) = self
                    .fetch_direct(url)
                    .await
                    .ok()
                    .and_then(|(_, body)| JudgeAnswer::parse(&body))
                {
                    baseline.direct_address = answer.exit_address();
                    baseline.infrastructure = answer
                        .headers
                        .iter()
                        .map(|(name, _)| name.to_ascii_lowercase())
                        .filter(|name| {
                            !SENT_HEADERS
                                .iter()
                                .any(|sent| sent.eq_ignore_ascii_case(name))
                        })
                        .collect();
                }
                baseline
            })
            .await
    }
}

/// A host's place in the schedule: entries in flight, and the ones waiting for a turn.
#[derive(Debug, Default)]
struct Lane {
    /// Entries of this host being probed.
    busy: usize,
    /// Entries of this host waiting, in list order.
    waiting: VecDeque<usize>,
}

/// Which entry starts next: list order, except that an entry whose host already has
/// `per_host` entries in flight waits for one of them to finish (without holding one of the
/// `--concurrency` places meanwhile).
struct Schedule<'a> {
    /// The entries.
    entries: &'a [Entry],
    /// Entries of one host at once (0: no limit).
    per_host: usize,
    /// The next entry in list order not yet started or queued.
    next: usize,
    /// Entries whose host made room for them, in the order they became ready.
    ready: VecDeque<usize>,
    /// Per host: in flight and waiting.
    lanes: HashMap<&'a str, Lane>,
}

impl<'a> Schedule<'a> {
    /// A schedule over `entries`.
    fn new(entries: &'a [Entry], per_host: usize) -> Self {
        Self {
            entries,
            per_host,
            next: 0,
            ready: VecDeque::new(),
            lanes: HashMap::new(),
        }
    }

    /// The host an entry counts against.
    fn host(&self, index: usize) -> &'a str {
        self.entries
            .get(index)
            .map_or("", |entry| entry.spec.host.as_str())
    }

    /// The next entry to start, if one may start now.
    fn take(&mut self) -> Option<usize> {
        if let Some(index) = self.ready.pop_front() {
            return Some(index);
        }
        while self.next < self.entries.len() {
            let index = self.next;
            self.next += 1;
            if self.per_host == 0 {
                return Some(index);
            }
            let lane = self.lanes.entry(self.host(index)).or_default();
            if lane.busy < self.per_host {
                lane.busy += 1;
                return Some(index);
            }
            lane.waiting.push_back(index);
        }
        None
    }

    /// Entry `index` finished: its host's next waiting entry (if any) becomes ready.
    fn finish(&mut self, index: usize) {
        if self.per_host == 0 {
            return;
        }
        let host = self.host(index);
        if let Some(lane) = self.lanes.get_mut(host) {
            match lane.waiting.pop_front() {
                Some(waiting) => self.ready.push_back(waiting),
                None => lane.busy = lane.busy.saturating_sub(1),
            }
            if lane.busy == 0 {
                self.lanes.remove(host);
            }
        }
    }
}

/// Runs the audit of `entries`, calling `on_result(index, result)` as each one finishes
/// (in completion order). When `shutdown` completes, no new entry is started, entries in
/// flight are abandoned, and every entry without a result gets `not_audited`. Returns true
/// when the run was interrupted.
pub async fn run<F>(
    entries: &[Entry],
    context: Arc<AuditContext>,
    shutdown: F,
    mut on_result: impl FnMut(usize, ProbeResult),
) -> bool
where
    F: Future<Output = ()>,
{
    let concurrency = context.options.concurrency.max(1);
    let mut schedule = Schedule::new(entries, context.options.per_host);
    let mut tasks: JoinSet<(usize, ProbeResult)> = JoinSet::new();
    let mut done = vec![false; entries.len()];
    let mut interrupted = false;
    tokio::pin!(shutdown);
    loop {
        while tasks.len() < concurrency {
            let Some(index) = schedule.take() else {
                break;
            };
            if let Some(entry) = entries.get(index) {
                let spec = entry.spec.clone();
                let context = Arc::clone(&context);
                tasks.spawn(async move { (index, audit(&spec, &context).await) });
            }
        }
        if tasks.is_empty() {
            break;
        }
        tokio::select! {
            joined = tasks.join_next() => {
                // A check that panicked is a bug, not a property of the proxy: its entry is
                // reported as not audited below rather than taking the run down. (Its host's
                // place is not given back; the rest of that host's entries end not audited.)
                if let Some(Ok((index, result))) = joined {
                    schedule.finish(index);
                    if let Some(slot) = done.get_mut(index) {
                        *slot = true;
                    }
                    on_result(index, result);
                }
            }
            () = &mut shutdown => {
                interrupted = true;
                tasks.abort_all();
                break;
            }
        }
    }
    let reason = if interrupted {
        "interrupted before this entry finished"
    } else {
        "the probe stopped unexpectedly"
    };
    for (index, finished) in done.iter().enumerate() {
        if !finished {
            on_result(index, ProbeResult::not_audited(reason));
        }
    }
    interrupted
}

/// The time an entry has left, and the per-step cap.
struct Budget {
    /// When the entry's time is up.
    deadline: Instant,
    /// Longest one step may take.
    step: Duration,
}

impl Budget {
    /// Time allowed for the next step; `None` once the deadline has passed.
    fn step(&self) -> Option<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        (!left.is_zero()).then(|| left.min(self.step))
    }
}

/// Audits one entry: guard, then the selected checks.
pub async fn audit(spec: &ProxySpec, context: &AuditContext) -> ProbeResult {
    let options = &context.options;
    let budget = Budget {
        deadline: Instant::now() + options.entry_deadline,
        step: options.step_timeout,
    };
    let mut result = ProbeResult {
        status: Status::Dead,
        latency_ms: None,
        findings: Vec::new(),
        observations: Observations::default(),
    };
    if let Some(reason) = unsendable_credentials(spec) {
        return ProbeResult::not_audited(&reason);
    }
    let Some(step) = budget.step() else {
        return ProbeResult::not_audited("no time left");
    };
    let addr = match guard::check(
        &spec.host,
        spec.port,
        options.allow_private,
        context.names.resolver(),
        step,
    )
    .await
    {
        Decision::Allowed { addr, resolved } => {
            result.observations.resolved = resolved.iter().map(ToString::to_string).collect();
            addr
        }
        Decision::Refused(finding) => {
            result.status = Status::Refused;
            result.findings.push(finding);
            return result;
        }
        Decision::Unresolvable(finding) => {
            result.findings.push(finding);
            return result;
        }
    };
    let proxy = ProxyEndpoint {
        kind: spec.kind,
        addr,
        host: spec.host.clone(),
        username: spec.username.clone(),
        password: spec.password.clone(),
    };
    let step = || budget.step();
    let runs = |check: Check| options.runs(check);
    let steps = Steps {
        step: &step,
        runs: &runs,
    };
    // The MTProto, telegram and post-liveness checks are boxed: an async fn's state is as
    // large as its largest await, and every entry in flight holds one, so without the boxes
    // a liveness-only audit would pay for the biggest check's buffers on each of its
    // `--concurrency` tasks.
    if let Some(secret) = &spec.secret {
        let mtproto = MtprotoContext {
            setup: context.telegram.as_ref(),
            default_secrets: &context.default_secrets,
            names: &context.names,
        };
        Box::pin(audit_mtproto(&proxy, secret, &mtproto, &steps, &mut result)).await;
        return result;
    }
    let probe = Probe {
        proxy: &proxy,
        context,
        budget: &budget,
    };
    probe.run(&mut result).await;
    if let (ProxyKind::Socks5, Status::Alive, Some(setup)) =
        (spec.kind, result.status, &context.telegram)
    {
        if options.runs(Check::Telegram) {
            Box::pin(audit_socks_telegram(&proxy, setup, &steps, &mut result)).await;
        }
    }
    result
}

/// Why an entry's credentials cannot be presented as the link gives them, if they cannot:
/// SOCKS5's username/password method (RFC 1929) needs a username and a password of 1 to
/// 255 bytes each, so a link with a username alone cannot be tried as given (and calling it
/// dead without a try would be wrong).
fn unsendable_credentials(spec: &ProxySpec) -> Option<String> {
    if spec.kind != ProxyKind::Socks5 {
        return None;
    }
    let username = spec.username.as_deref()?;
    let password = spec.password.as_deref().unwrap_or_default();
    if password.is_empty() {
        return Some(
            "the link gives a SOCKS5 username without a password; SOCKS5's username and \
             password method (RFC 1929) needs both, so it cannot be tried as given"
                .to_owned(),
        );
    }
    if username.len() > 255 || password.len() > 255 {
        return Some(
            "the link's SOCKS5 username or password is longer than the 255 bytes SOCKS5 \
             (RFC 1929) can carry"
                .to_owned(),
        );
    }
    None
}

/// The checks for one reachable entry.
struct Probe<'a> {
    /// The proxy being probed.
    proxy: &'a ProxyEndpoint,
    /// Profile and options.
    context: &'a AuditContext,
    /// Time left.
    budget: &'a Budget,
}

/// The request that shows a SOCKS or HTTP proxy works; the `credentials` check repeats it
/// with a wrong password.
#[derive(Clone, Copy)]
enum Liveness<'a> {
    /// GET the profile's first HTTP canary.
    Get(&'a HttpCanary),
    /// A TLS handshake with the first TLS canary (for profiles without an HTTP canary).
    Tls(&'a TlsCanary, &'a TlsPolicy),
}

/// What the liveness request brought back, to recognise it when it comes back again.
enum Proof {
    /// The canary's page.
    Page(HttpResponse),
    /// The SHA-256 of the certificate the TLS canary presented.
    Leaf(String),
}

/// How one TLS canary's check ended.
enum CanaryTls {
    /// A certificate came back and was judged (or the check could not run at all).
    Judged,
    /// Every try failed without a certificate, not by a timeout: the reasons.
    Broken(String),
}

/// How the handshakes by name with one TLS canary ended, after at most two tries.
enum NameLeg {
    /// A certificate chain came back (valid or not).
    Presented(TlsOutcome),
    /// No certificate, and the last try got an answer of sorts: a reset, an alert, garbage,
    /// a refused tunnel. The reasons of both tries.
    Broken(String),
    /// No certificate, the last try cut off by a timeout (or no time was left).
    CutOff(String),
}

impl Probe<'_> {
    /// The liveness request the profile allows: its first HTTP canary, else its first TLS
    /// canary.
    fn liveness_request(&self) -> Option<Liveness<'_>> {
        let profile = &self.context.profile;
        if let Some(canary) = profile.http_canaries.first() {
            return Some(Liveness::Get(canary));
        }
        profile
            .tls_canaries
            .first()
            .zip(self.context.tls_policies.first())
            .map(|(canary, policy)| Liveness::Tls(canary, policy))
    }

    /// True for proxies that answer HTTP themselves (their error pages are theirs, not an
    /// origin's).
    fn answers_http(&self) -> bool {
        matches!(self.proxy.kind, ProxyKind::Http | ProxyKind::Https)
    }

    /// Where a tunnel to `host:port` leads: an address for IP literals and for SOCKS4,
    /// which resolves names on the auditor's side as curl's `socks4://` does; a name
    /// otherwise. `Err` when the auditor cannot resolve the name for SOCKS4.
    async fn target(&self, host: &str, port: u16, step: Duration) -> Result<Target, String> {
        if let Some(ip) = guard::literal_ip(host) {
            return Ok(Target::Addr(SocketAddr::new(ip, port)));
        }
        if self.proxy.kind == ProxyKind::Socks4 {
            return self.resolved(host, port, step).await;
        }
        Ok(Target::Name(host.to_owned(), port))
    }

    /// `host` resolved by the auditor to an IPv4 address (all SOCKS4 can carry).
    async fn resolved(&self, host: &str, port: u16, step: Duration) -> Result<Target, String> {
        let addresses = self.context.names.resolve(host, step).await?;
        addresses
            .iter()
            .find(|ip| ip.is_ipv4())
            .map(|&ip| Target::Addr(SocketAddr::new(ip, port)))
            .ok_or_else(|| format!("{host} has no IPv4 address, which SOCKS4 needs"))
    }

    /// Opens a tunnel to `target`; a SOCKS4a proxy refusing a name is asked once more with
    /// the address (plenty of SOCKS4 servers, dante among them, do not speak SOCKS4a).
    async fn tunnel(
        &self,
        credentials: Credentials<'_>,
        target: &Target,
        step: Duration,
    ) -> Result<Tunnel, DialError> {
        let first = open_tunnel(self.proxy, credentials, target, step).await;
        if let (Err(DialError::TargetFailed(_)), Target::Name(host, port), ProxyKind::Socks4a) =
            (&first, target, self.proxy.kind)
        {
            if let (Ok(address), Some(step)) =
                (self.resolved(host, *port, step).await, self.budget.step())
            {
                return open_tunnel(self.proxy, credentials, &address, step).await;
            }
        }
        first
    }

    /// GETs `url` through the proxy, with the SOCKS4 rules of [`Probe::target`] and
    /// [`Probe::tunnel`].
    async fn get(
        &self,
        credentials: Credentials<'_>,
        url: &HttpUrl,
        step: Duration,
        max_body: usize,
    ) -> Result<Fetched, GetError> {
        if !matches!(self.proxy.kind, ProxyKind::Socks4 | ProxyKind::Socks4a) {
            return get_via_proxy(self.proxy, credentials, url, step, max_body).await;
        }
        let target = self
            .target(&url.host, url.port, step)
            .await
            .map_err(|reason| GetError::Dial(DialError::TargetFailed(reason)))?;
        let first = get_through(self.proxy, credentials, url, &target, step, max_body).await;
        if let (Err(GetError::Dial(DialError::TargetFailed(_))), Target::Name(host, port)) =
            (&first, &target)
        {
            if let (Ok(address), Some(step)) =
                (self.resolved(host, *port, step).await, self.budget.step())
            {
                return get_through(self.proxy, credentials, url, &address, step, max_body).await;
            }
        }
        first
    }

    /// Records the proxy as alive, with its timings.
    fn alive(result: &mut ProbeResult, connect: Duration, handshake: Duration) {
        result.status = Status::Alive;
        result.observations.connect_ms = Some(millis(connect));
        result.observations.handshake_ms = Some(millis(handshake));
        result.latency_ms = Some(millis(connect + handshake));
    }

    /// The finding for a failed liveness dial.
    fn dial_finding(&self, error: &DialError) -> Finding {
        let reason = match error {
            DialError::AuthRejected if self.proxy.username.is_some() => {
                "the proxy refuses the username and password in the link".to_owned()
            }
            DialError::AuthRejected => {
                "the proxy asks for a username and password, and the link gives none".to_owned()
            }
            error => error.to_string(),
        };
        Finding::new(error.code(), [("reason", reason)])
    }

    /// Runs liveness, then the other selected checks while the proxy stays useful.
    async fn run(&self, result: &mut ProbeResult) {
        let Some(liveness) = self.liveness_request() else {
            result.status = Status::NotAudited;
            result.skip(
                Check::Liveness,
                "the profile has neither an HTTP nor a TLS canary to try a SOCKS or HTTP \
                 proxy with",
            );
            return;
        };
        let Some(step) = self.budget.step() else {
            result.inconclusive(Check::Liveness, "entry deadline reached");
            return;
        };
        let proof = match liveness {
            Liveness::Get(canary) => {
                match self
                    .get(Credentials::AsListed, &canary.url, step, MAX_BODY)
                    .await
                {
                    Ok(fetched) if self.answers_http() && fetched.response.status >= 400 => {
                        result.findings.push(Finding::new(
                            Code::HandshakeFailed,
                            [
                                (
                                    "reason",
                                    format!(
                                        "the proxy answered HTTP {} instead of the page",
                                        fetched.response.status
                                    ),
                                ),
                                ("url", canary.url.to_string()),
                            ],
                        ));
                        return;
                    }
                    Ok(fetched) => {
                        Self::alive(result, fetched.connect, fetched.handshake);
                        Proof::Page(fetched.response)
                    }
                    Err(GetError::Dial(error)) => {
                        result.findings.push(self.dial_finding(&error));
                        return;
                    }
                    Err(GetError::Response(reason) | GetError::Interrupted(reason)) => {
                        result.findings.push(Finding::new(
                            Code::HandshakeFailed,
                            [
                                ("reason", format!("no answer through the proxy: {reason}")),
                                ("url", canary.url.to_string()),
                            ],
                        ));
                        return;
                    }
                }
            }
            Liveness::Tls(canary, policy) => {
                let target = match self.target(&canary.host, canary.port, step).await {
                    Ok(target) => target,
                    Err(reason) => {
                        result.status = Status::NotAudited;
                        result.skip(Check::Liveness, &reason);
                        return;
                    }
                };
                let tunnel = match self.tunnel(Credentials::AsListed, &target, step).await {
                    Ok(tunnel) => tunnel,
                    Err(error) => {
                        result.findings.push(self.dial_finding(&error));
                        return;
                    }
                };
                let (connect, handshake) = (tunnel.connect, tunnel.handshake);
                let outcome = probe_tls(tunnel.stream, &canary.host, policy, step).await;
                if !outcome.presented() {
                    result.findings.push(Finding::new(
                        Code::HandshakeFailed,
                        [
                            (
                                "reason",
                                format!(
                                    "no TLS answer through the proxy: {}",
                                    outcome.error.unwrap_or_default()
                                ),
                            ),
                            ("canary", canary.name.clone()),
                        ],
                    ));
                    return;
                }
                Self::alive(result, connect, handshake);
                Proof::Leaf(leaf_sha256(&outcome))
            }
        };
        Box::pin(self.after_liveness(result, liveness, &proof)).await;
    }

    /// The checks after liveness, in order, as selected.
    async fn after_liveness(
        &self,
        result: &mut ProbeResult,
        liveness: Liveness<'_>,
        proof: &Proof,
    ) {
        let options = &self.context.options;
        if options.runs(Check::Credentials) {
            self.credentials(result, liveness, proof).await;
        }
        if options.runs(Check::Content) {
            self.content(result, proof).await;
        }
        if options.runs(Check::Tls) || options.runs(Check::Dns) {
            self.tls_canaries(result).await;
        }
        if options.runs(Check::Judge) {
            self.judge(result).await;
        }
    }

    /// `credentials`: with credentials, a wrong password must not get the liveness request
    /// through; without, the proxy is open. Any refusal (401, 403, 407, a refused CONNECT,
    /// a SOCKS failure, a page that is not the canary's) is a refusal.
    async fn credentials(&self, result: &mut ProbeResult, liveness: Liveness<'_>, proof: &Proof) {
        let Some(username) = self.proxy.username.as_deref() else {
            result.findings.push(Finding::new(
                Code::OpenProxy,
                [("reason", "no username or password is required")],
            ));
            return;
        };
        if matches!(self.proxy.kind, ProxyKind::Socks4 | ProxyKind::Socks4a) {
            // SOCKS4 has a user id but no password: there is nothing to get wrong.
            result.findings.push(Finding::new(
                Code::OpenProxy,
                [("reason", "SOCKS4 has no password")],
            ));
            return;
        }
        let wrong = wrong_password(self.proxy.password.as_deref());
        let credentials = Credentials::Override {
            username,
            password: &wrong,
        };
        let answer = at_most_twice(|| async move {
            let Some(step) = self.budget.step() else {
                return Attempt::CutOff("entry deadline reached".to_owned());
            };
            self.liveness_again(liveness, credentials, step).await
        })
        .await;
        match answer {
            Ok(Some(again)) if recognised(&again, proof, liveness) => {
                result.findings.push(Finding::new(
                    Code::AcceptsAnyCredentials,
                    [
                        ("username", username.to_owned()),
                        (
                            "reason",
                            "the request made with a wrong password succeeded (the canary \
                             came back): the proxy lets anyone in and collects whatever \
                             credentials it is given"
                                .to_owned(),
                        ),
                    ],
                ));
            }
            Ok(_) => {}
            Err(reasons) => result.inconclusive(
                Check::Credentials,
                format!("the request with a wrong password was cut off: {reasons}"),
            ),
        }
    }

    /// The liveness request once more, with `credentials`: what came back (`None` when the
    /// proxy refused), or cut off.
    async fn liveness_again(
        &self,
        liveness: Liveness<'_>,
        credentials: Credentials<'_>,
        step: Duration,
    ) -> Attempt<Option<Proof>> {
        match liveness {
            Liveness::Get(canary) => match self.get(credentials, &canary.url, step, MAX_BODY).await
            {
                Ok(fetched) => Attempt::Answered(Some(Proof::Page(fetched.response))),
                Err(error) if error.transient() => Attempt::CutOff(error.to_string()),
                Err(_) => Attempt::Answered(None),
            },
            Liveness::Tls(canary, policy) => {
                let target = match self.target(&canary.host, canary.port, step).await {
                    Ok(target) => target,
                    Err(reason) => return Attempt::CutOff(reason),
                };
                let tunnel = match self.tunnel(credentials, &target, step).await {
                    Ok(tunnel) => tunnel,
                    Err(error) if error.transient() => return Attempt::CutOff(error.to_string()),
                    Err(_) => return Attempt::Answered(None),
                };
                let outcome = probe_tls(tunnel.stream, &canary.host, policy, step).await;
                if outcome.cut_off.is_some() {
                    Attempt::CutOff(outcome.error.unwrap_or_default())
                } else if outcome.presented() {
                    Attempt::Answered(Some(Proof::Leaf(leaf_sha256(&outcome))))
                } else {
                    Attempt::Answered(None)
                }
            }
        }
    }

    /// `content`: every HTTP canary comes back byte for byte.
    async fn content(&self, result: &mut ProbeResult, proof: &Proof) {
        for (index, canary) in self.context.profile.http_canaries.iter().enumerate() {
            let fetched;
            let response = match proof {
                Proof::Page(first) if index == 0 => Ok(first),
                _ => {
                    fetched = at_most_twice(|| async move {
                        let Some(step) = self.budget.step() else {
                            return Attempt::CutOff("entry deadline reached".to_owned());
                        };
                        match self
                            .get(Credentials::AsListed, &canary.url, step, MAX_BODY)
                            .await
                        {
                            Ok(fetched) => Attempt::Answered(Ok(fetched.response)),
                            Err(error) if error.transient() => Attempt::CutOff(error.to_string()),
                            Err(error) => Attempt::Answered(Err(error.to_string())),
                        }
                    })
                    .await;
                    match &fetched {
                        Ok(Ok(response)) => Ok(response),
                        Ok(Err(reason)) => Err(reason.clone()),
                        Err(reasons) => Err(format!("cut off: {reasons}")),
                    }
                }
            };
            match response {
                Ok(response) => self.compare_page(result, index, canary, response).await,
                Err(error) => {
                    result.observations.http.push(HttpObservation {
                        canary: canary.name.clone(),
                        status: None,
                        bytes: None,
                        sha256: None,
                        matches: false,
                        error: Some(error.clone()),
                    });
                    result.inconclusive(
                        Check::Content,
                        format!("{}: no page through the proxy: {error}", canary.name),
                    );
                }
            }
        }
    }

    /// Compares one canary's page as it came through the proxy with the profile's hash.
    async fn compare_page(
        &self,
        result: &mut ProbeResult,
        index: usize,
        canary: &HttpCanary,
        response: &HttpResponse,
    ) {
        let body = &response.body;
        let digest: [u8; 32] = Sha256::digest(body).into();
        let matches = digest == canary.sha256;
        result.observations.http.push(HttpObservation {
            canary: canary.name.clone(),
            status: Some(response.status),
            bytes: Some(body.len() as u64),
            sha256: Some(to_hex(&digest)),
            matches,
            error: None,
        });
        if matches {
            return;
        }
        if self.answers_http() && response.status >= 400 {
            // An error page of the proxy's own: it refused or failed, it did not rewrite.
            result.inconclusive(
                Check::Content,
                format!(
                    "{}: the proxy answered HTTP {} instead of the page",
                    canary.name, response.status
                ),
            );
            return;
        }
        let reference = self.context.reference(index, canary).await;
        if let Reference::Differs(direct) = &reference {
            result.inconclusive(
                Check::Content,
                format!(
                    "{}: the page differs through the proxy, but the canary itself now serves \
                     other bytes to a direct request (SHA-256 {direct}), so the difference \
                     says nothing about the proxy",
                    canary.name
                ),
            );
            return;
        }
        let mut evidence = vec![
            ("canary", canary.name.clone()),
            ("url", canary.url.to_string()),
            ("expected_sha256", to_hex(&canary.sha256)),
            ("received_sha256", to_hex(&digest)),
            ("received_bytes", body.len().to_string()),
        ];
        if response.truncated {
            evidence.push((
                "truncated",
                format!("the body went on past the {MAX_BODY}-byte cap; reading stopped there"),
            ));
        }
        if let Reference::Matches(reference) = &reference {
            evidence.push(("expected_bytes", reference.len().to_string()));
            let offset = first_difference(reference, body);
            evidence.push(("first_difference_at", offset.to_string()));
            evidence.push(("received_snippet", snippet(body, offset)));
        }
        result
            .findings
            .push(Finding::new(Code::ContentTampered, evidence));
    }

    /// `tls` and `dns` for every TLS canary, then `tls_broken` when no canary could be
    /// reached at all.
    async fn tls_canaries(&self, result: &mut ProbeResult) {
        let canaries = &self.context.profile.tls_canaries;
        let mut broken = Vec::new();
        for (canary, policy) in canaries.iter().zip(&self.context.tls_policies) {
            if let CanaryTls::Broken(reasons) = self.tls(result, canary, policy).await {
                broken.push((canary.name.clone(), reasons));
            }
        }
        let all_broken = !broken.is_empty() && broken.len() == canaries.len();
        if all_broken && self.context.options.runs(Check::Tls) {
            let names: Vec<&str> = broken.iter().map(|(name, _)| name.as_str()).collect();
            let mut evidence = vec![
                ("canaries", names.join(", ")),
                (
                    "reason",
                    "every TLS canary's handshake through the proxy failed twice without a \
                     certificate, while plain requests worked: HTTPS does not work through it"
                        .to_owned(),
                ),
            ];
            for (name, reasons) in broken {
                evidence.push(("failures", format!("{name}: {reasons}")));
            }
            result
                .findings
                .push(Finding::new(Code::TlsBroken, evidence_joined(evidence)));
        } else {
            for (name, reasons) in broken {
                result.inconclusive(
                    Check::Tls,
                    format!("{name}: no certificate through the proxy: {reasons}"),
                );
            }
        }
    }

    /// `tls` and `dns` for one TLS canary.
    async fn tls(
        &self,
        result: &mut ProbeResult,
        canary: &TlsCanary,
        policy: &TlsPolicy,
    ) -> CanaryTls {
        let options = &self.context.options;
        let Some(step) = self.budget.step() else {
            result.inconclusive(Check::Tls, "entry deadline reached");
            return CanaryTls::Judged;
        };
        let by_name = match self.target(&canary.host, canary.port, step).await {
            Ok(target) => target,
            Err(reason) => {
                result.inconclusive(Check::Tls, format!("{}: {reason}", canary.name));
                return CanaryTls::Judged;
            }
        };
        let named = match self.name_leg(result, canary, policy, &by_name).await {
            NameLeg::Presented(outcome) => outcome,
            NameLeg::Broken(reasons) => return CanaryTls::Broken(reasons),
            NameLeg::CutOff(reasons) => {
                result.inconclusive(
                    Check::Tls,
                    format!("{}: the handshake was cut off: {reasons}", canary.name),
                );
                return CanaryTls::Judged;
            }
        };
        // A chain too large to read is not the canary's either.
        let substituted = !named.valid;
        // The address leg tells DNS tampering from interception, so it runs only when the
        // name leg showed a foreign certificate (for `tls` and `dns` alike). A name leg that
        // proved the canary's certificate already shows the name led to the real server: a
        // second handshake would cost the proxy, the canary and us and could change nothing.
        let by_address = match canary.address {
            Some(ip) if substituted => {
                let target = Target::Addr(SocketAddr::new(ip, canary.port));
                self.tls_leg(result, canary, policy, &target, "address")
                    .await
            }
            _ => None,
        };
        let leaf = |outcome: &TlsOutcome| {
            outcome.chain.first().map_or_else(
                || ("(none)".to_owned(), "(none)".to_owned(), String::new()),
                |cert| {
                    (
                        cert.subject.clone(),
                        cert.issuer.clone(),
                        cert.spki_sha256.clone(),
                    )
                },
            )
        };
        let address_ok = by_address.as_ref().is_some_and(|outcome| outcome.valid);
        if substituted && address_ok {
            let (subject, issuer, _) = leaf(&named);
            result.findings.push(Finding::new(
                Code::DnsTampered,
                [
                    ("canary", canary.name.clone()),
                    ("name", canary.host.clone()),
                    (
                        "reason",
                        "by name the proxy led to a server without the canary's certificate; \
                         by address it reached the real one"
                            .to_owned(),
                    ),
                    ("by_name_subject", subject),
                    ("by_name_issuer", issuer),
                ],
            ));
        } else if substituted && options.runs(Check::Tls) {
            let (subject, issuer, spki) = leaf(&named);
            result.findings.push(Finding::new(
                Code::TlsIntercepted,
                [
                    ("canary", canary.name.clone()),
                    ("name", canary.host.clone()),
                    ("subject", subject),
                    ("issuer", issuer),
                    ("spki_sha256", spki),
                    ("error", named.error.clone().unwrap_or_default()),
                ],
            ));
        }
        if options.runs(Check::Tls) {
            let known = [Some(&named), by_address.as_ref()]
                .into_iter()
                .flatten()
                .find_map(|outcome| outcome.known_ca.clone().map(|ca| (ca, leaf(outcome))));
            if let Some((ca, (subject, issuer, _))) = known {
                result.findings.push(Finding::new(
                    Code::KnownInterceptionCa,
                    [
                        ("ca", ca),
                        ("canary", canary.name.clone()),
                        ("subject", subject),
                        ("issuer", issuer),
                    ],
                ));
            }
        }
        CanaryTls::Judged
    }

    /// The handshake by name, tried once more when no certificate came back.
    async fn name_leg(
        &self,
        result: &mut ProbeResult,
        canary: &TlsCanary,
        policy: &TlsPolicy,
        target: &Target,
    ) -> NameLeg {
        let mut reasons = Vec::new();
        let mut cut_off = true;
        for leg in ["name", "name (retry)"] {
            let Some(outcome) = self.tls_leg(result, canary, policy, target, leg).await else {
                reasons.push("entry deadline reached".to_owned());
                cut_off = true;
                break;
            };
            if outcome.presented() || outcome.valid {
                return NameLeg::Presented(outcome);
            }
            // A timeout (of the tunnel or the handshake) says nothing; a reset, an alert,
            // garbage or a refused tunnel are the proxy's answer.
            cut_off = outcome.cut_off == Some(CutOff::TimedOut);
            reasons.push(outcome.error.unwrap_or_default());
        }
        let reasons = reasons.join("; on the retry: ");
        if cut_off {
            NameLeg::CutOff(reasons)
        } else {
            NameLeg::Broken(reasons)
        }
    }

    /// One TLS leg: a tunnel to `target`, then a handshake for the canary's name; recorded
    /// in the observations. `None` when the entry's time is up.
    async fn tls_leg(
        &self,
        result: &mut ProbeResult,
        canary: &TlsCanary,
        policy: &TlsPolicy,
        target: &Target,
        leg: &str,
    ) -> Option<TlsOutcome> {
        let step = self.budget.step()?;
        let outcome = match self.tunnel(Credentials::AsListed, target, step).await {
            Ok(tunnel) => {
                let step = self.budget.step()?;
                probe_tls(tunnel.stream, &canary.host, policy, step).await
            }
            // A refused connect or a reset to a proxy that has just worked says nothing;
            // counted with timeouts.
            Err(error) if error.transient() => {
                TlsOutcome::cut_off(error.to_string(), CutOff::TimedOut)
            }
            Err(error) => TlsOutcome::failed(format!("the tunnel was refused: {error}")),
        };
        result.observations.tls.push(TlsObservation {
            canary: canary.name.clone(),
            leg: leg.to_owned(),
            chain: outcome.chain.clone(),
            valid: outcome.valid,
            error: outcome.error.clone(),
            known_ca: outcome.known_ca.clone(),
        });
        Some(outcome)
    }

    /// `judge`: what the judge received through the proxy: the anonymity level, and
    /// `client_ip_leaked` for every place the auditor's own address appeared.
    async fn judge(&self, result: &mut ProbeResult) {
        let Some(url) = &self.context.profile.judge else {
            return;
        };
        let baseline = self.context.judge_baseline().await;
        let answer = at_most_twice(|| async move {
            let Some(step) = self.budget.step() else {
                return Attempt::CutOff("entry deadline reached".to_owned());
            };
            match self.get(Credentials::AsListed, url, step, MAX_BODY).await {
                Ok(fetched) => Attempt::Answered(Ok(fetched.response)),
                Err(error) if error.transient() => Attempt::CutOff(error.to_string()),
                Err(error) => Attempt::Answered(Err(error.to_string())),
            }
        })
        .await;
        let response = match answer {
            Ok(Ok(response)) => response,
            Ok(Err(reason)) => {
                result.inconclusive(
                    Check::Judge,
                    format!("no answer from the judge through the proxy: {reason}"),
                );
                return;
            }
            Err(reasons) => {
                result.inconclusive(
                    Check::Judge,
                    format!("the request to the judge was cut off: {reasons}"),
                );
                return;
            }
        };
        if self.answers_http() && response.status >= 400 {
            result.inconclusive(
                Check::Judge,
                format!("the proxy answered HTTP {} for the judge", response.status),
            );
            return;
        }
        let Some(seen) = JudgeAnswer::parse(&response.body) else {
            result.inconclusive(
                Check::Judge,
                format!(
                    "the judge's answer through the proxy ({} bytes, HTTP {}) is in no format \
                     proxy-audit reads (httpbin JSON, azenv, its own)",
                    response.body.len(),
                    response.status
                ),
            );
            return;
        };
        result.observations.exit_address = seen.exit_address().map(|ip| ip.to_string());
        let own = baseline.own_for(self.proxy.addr.ip());
        let assessment = judge::assess(&seen, &SENT_HEADERS, &baseline.infrastructure, &own);
        for leak in &assessment.leaks {
            result.findings.push(Finding::new(
                Code::ClientIpLeaked,
                [
                    ("header", leak.header.clone()),
                    ("value", leak.value.clone()),
                    ("address", leak.address.to_string()),
                    (
                        "reason",
                        "the judge received the auditor's own address through the proxy".to_owned(),
                    ),
                ],
            ));
        }
        result.observations.anonymity = Some(AnonymityObservation {
            level: assessment.level,
            judge_format: seen.format,
            revealing: assessment.revealing,
        });
    }
}

/// True when `again` (the liveness request repeated with a wrong password) brought back what
/// liveness did: the canary's page (its known bytes, or the very bytes liveness got) with a
/// success status, or the same certificate.
fn recognised(again: &Proof, proof: &Proof, liveness: Liveness<'_>) -> bool {
    match (again, proof, liveness) {
        (Proof::Page(again), Proof::Page(first), Liveness::Get(canary)) => {
            let digest: [u8; 32] = Sha256::digest(&again.body).into();
            (200..300).contains(&again.status)
                && (digest == canary.sha256 || again.body == first.body)
        }
        (Proof::Leaf(again), Proof::Leaf(first), _) => !again.is_empty() && again == first,
        _ => false,
    }
}

/// The SHA-256 of the leaf certificate a handshake presented (empty when none).
fn leaf_sha256(outcome: &TlsOutcome) -> String {
    outcome
        .chain
        .first()
        .map(|cert| cert.sha256.clone())
        .unwrap_or_default()
}

/// Evidence pairs with repeated keys joined into one value (`a; b`).
fn evidence_joined(pairs: Vec<(&'static str, String)>) -> Vec<(&'static str, String)> {
    let mut joined: Vec<(&'static str, String)> = Vec::new();
    for (key, value) in pairs {
        match joined.iter_mut().find(|(seen, _)| *seen == key) {
            Some((_, existing)) => {
                existing.push_str("; ");
                existing.push_str(&value);
            }
            None => joined.push((key, value)),
        }
    }
    joined
}

/// A password that is certainly not the right one.
fn wrong_password(right: Option<&str>) -> String {
    let mut wrong = String::from("wrong-");
    for byte in rand::random::<[u8; 6]>() {
        let _ = write!(wrong, "{byte:02x}");
    }
    if right == Some(wrong.as_str()) {
        wrong.push('x');
    }
    wrong
}

/// Whole milliseconds, saturating.
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The first byte offset where `a` and `b` differ (the shorter length when one is a prefix).
fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or_else(|| a.len().min(b.len()))
}

/// Up to 60 bytes of `body` from a little before `offset`, escaped for a report.
fn snippet(body: &[u8], offset: usize) -> String {
    let start = offset.saturating_sub(10);
    let end = (start + 60).min(body.len());
    let part = body.get(start..end).unwrap_or_default();
    part.escape_ascii().to_string()
}

/// A duration as people write it: `2s`, `500ms`.
pub fn human_duration(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn difference_offsets_and_snippets() {
        assert_eq!(first_difference(b"success\n", b"success\n<script>"), 8);
        assert_eq!(first_difference(b"abc", b"abd"), 2);
        assert_eq!(snippet(b"success\n<script>", 8), "success\\n<script>");
    }

    #[test]
    fn wrong_password_differs_from_the_right_one() {
        let wrong = wrong_password(Some("secret"));
        assert_ne!(wrong, "secret");
        assert!(wrong.starts_with("wrong-") && wrong.len() == 18, "{wrong}");
    }

    fn options(dc: i16) -> AuditOptions {
        AuditOptions {
            concurrency: 1,
            per_host: 4,
            step_timeout: Duration::from_secs(1),
            entry_deadline: Duration::from_secs(6),
            checks: Check::ALL.into_iter().collect(),
            allow_private: false,
            dc,
        }
    }

    #[test]
    fn internet_profile_trusts_telegrams_production_key_and_asks_dc2() {
        let context = AuditContext::new(
            Profile::internet().unwrap(),
            ProbeRules::built_in().unwrap(),
            options(2),
        )
        .unwrap();
        let telegram = context.telegram.as_ref().unwrap();
        assert_eq!(telegram.dc.address.to_string(), "149.154.167.51:443");
        let production = telegram.keys.get(0xd09d_1d85_de64_fd85).unwrap();
        assert!(!production.test);
        let error = AuditContext::new(
            Profile::internet().unwrap(),
            ProbeRules::built_in().unwrap(),
            options(9),
        )
        .err()
        .unwrap();
        assert!(matches!(error, SetupError::UnknownDc(9)));
    }

    #[tokio::test(start_paused = true)]
    async fn budget_caps_each_step_by_what_is_left() {
        let budget = Budget {
            deadline: Instant::now() + Duration::from_secs(3),
            step: Duration::from_secs(2),
        };
        assert_eq!(budget.step(), Some(Duration::from_secs(2)));
        tokio::time::advance(Duration::from_millis(2500)).await;
        assert_eq!(budget.step(), Some(Duration::from_millis(500)));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(budget.step(), None);
    }

    fn entries(hosts: &[&str]) -> Vec<Entry> {
        let mut list = String::new();
        for (port, host) in hosts.iter().enumerate() {
            writeln!(list, "socks5://{host}:{}", port + 1).unwrap();
        }
        let mut collector = crate::ingest::Collector::new(crate::ingest::IngestOptions::default());
        collector
            .read_input("test", std::io::Cursor::new(list))
            .unwrap();
        collector.finish().entries
    }

    #[test]
    fn no_host_has_more_than_its_share_in_flight_and_list_order_holds() {
        let hosts = [
            "a.example",
            "a.example",
            "a.example",
            "b.example",
            "a.example",
        ];
        let entries = entries(&hosts);
        let mut schedule = Schedule::new(&entries, 2);
        // a, a start; the third a waits without blocking b; the last a waits too.
        assert_eq!(schedule.take(), Some(0));
        assert_eq!(schedule.take(), Some(1));
        assert_eq!(schedule.take(), Some(3));
        assert_eq!(schedule.take(), None);
        // b finishing frees nothing for a.
        schedule.finish(3);
        assert_eq!(schedule.take(), None);
        // Each a finishing lets the next waiting a start, in list order.
        schedule.finish(0);
        assert_eq!(schedule.take(), Some(2));
        assert_eq!(schedule.take(), None);
        schedule.finish(1);
        assert_eq!(schedule.take(), Some(4));
        schedule.finish(2);
        schedule.finish(4);
        assert_eq!(schedule.take(), None);
        assert!(schedule.lanes.is_empty(), "{:?}", schedule.lanes.keys());
    }

    #[test]
    fn without_a_per_host_limit_entries_start_in_list_order() {
        let entries = entries(&["a.example", "a.example", "a.example"]);
        let mut schedule = Schedule::new(&entries, 0);
        let started: Vec<usize> = std::iter::from_fn(|| schedule.take()).collect();
        assert_eq!(started, vec![0, 1, 2]);
    }
}
