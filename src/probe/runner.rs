//! The probe runner: runs the checks for every entry with bounded concurrency, a per-step
//! timeout and a per-entry deadline, and hands each result over as soon as it is ready.
//!
//! The checks for one entry run in order, each through a fresh tunnel:
//! 1. the address guard ([`super::guard`]);
//! 2. `liveness`: connect, handshake, GET the profile's first HTTP canary;
//! 3. `credentials`: a wrong password must be refused; no password at all is `open_proxy`;
//! 4. `content`: every HTTP canary's body hash;
//! 5. `tls` and `dns`: every TLS canary by name (resolved by the proxy) and, when the profile
//!    gives its address, by address — a bad chain by name but a good one by address is DNS
//!    tampering, bad both ways is interception;
//! 6. `judge`: headers the proxy added that reveal the client's address.
//!
//! Every step gets at most `--timeout` and never more than what is left of the entry's
//! deadline; when the deadline passes, the remaining checks are recorded as skipped.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::dial::{Credentials, DialError, ProxyEndpoint, Target, open_tunnel};
use super::guard::{self, Decision, NameCache, Resolver};
use super::http::{GetError, HttpResponse, MAX_BODY, get_via_proxy};
use super::mtproto::{MtprotoContext, Steps, TelegramSetup, audit_mtproto, audit_socks_telegram};
use super::tls::{TlsOutcome, TlsPolicy, probe_tls};
use super::{
    Check, Code, Finding, HttpObservation, Observations, ProbeResult, Status, TlsObservation,
};
use crate::config::{HttpCanary, Profile, TlsCanary, to_hex};
use crate::ingest::Entry;
use crate::proto::mtproto::rsa::{KeyError, TrustedKeys, load_pem};
use crate::proxy::{ProxyKind, ProxySpec};
use crate::rules::default_secrets::DefaultSecrets;
use crate::rules::interception::InterceptionCas;

/// How an audit runs.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Entries probed at once.
    pub concurrency: usize,
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
    /// Each HTTP canary's real body, fetched directly at most once per run.
    references: Vec<OnceCell<Option<Vec<u8>>>>,
    /// Datacenter, trusted keys and fronting roots for the MTProto checks (`None` when the
    /// profile has no `[telegram]` table).
    telegram: Option<TelegramSetup>,
    /// Secrets published as examples (the `secret` check).
    default_secrets: DefaultSecrets,
    /// The auditor's resolver (guard, reference fetches), with the FakeTLS domains it has
    /// resolved so far (the `camouflage` check).
    names: NameCache,
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
                    wrong_secret_seed: telegram.wrong_secret_seed,
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
        })
    }

    /// Fetches `canary` directly (no proxy) and keeps the body when its hash is the
    /// profile's. Used only to describe a mismatch, so any failure just means less evidence.
    async fn fetch_reference(&self, canary: &HttpCanary) -> Option<Vec<u8>> {
        let url = &canary.url;
        let step = self.options.step_timeout;
        let addresses = self
            .names
            .resolver()
            .resolve(&url.host, url.port, step)
            .await
            .ok()?;
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(step)
            .resolve_to_addrs(&url.host, &addresses)
            .build()
            .ok()?;
        let mut response = client.get(url.to_string()).send().await.ok()?;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.ok()? {
            if body.len() + chunk.len() > MAX_BODY {
                return None;
            }
            body.extend_from_slice(&chunk);
        }
        let digest: [u8; 32] = Sha256::digest(&body).into();
        (digest == canary.sha256).then_some(body)
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
    let mut tasks: JoinSet<(usize, ProbeResult)> = JoinSet::new();
    let mut done = vec![false; entries.len()];
    let mut next = 0;
    let mut interrupted = false;
    tokio::pin!(shutdown);
    loop {
        while next < entries.len() && tasks.len() < concurrency {
            if let Some(entry) = entries.get(next) {
                let spec = entry.spec.clone();
                let context = Arc::clone(&context);
                let index = next;
                tasks.spawn(async move { (index, audit(&spec, &context).await) });
            }
            next += 1;
        }
        if tasks.is_empty() {
            break;
        }
        tokio::select! {
            joined = tasks.join_next() => {
                // A check that panicked is a bug, not a property of the proxy: its entry is
                // reported as not audited below rather than taking the run down.
                if let Some(Ok((index, result))) = joined {
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

/// The checks for one reachable entry.
struct Probe<'a> {
    /// The proxy being probed.
    proxy: &'a ProxyEndpoint,
    /// Profile and options.
    context: &'a AuditContext,
    /// Time left.
    budget: &'a Budget,
}

impl Probe<'_> {
    /// Runs liveness, then the other selected checks while the proxy stays useful.
    async fn run(&self, result: &mut ProbeResult) {
        let Some(first) = self.context.profile.http_canaries.first() else {
            result.status = Status::NotAudited;
            return;
        };
        let Some(step) = self.budget.step() else {
            skip(result, Check::Liveness, "entry deadline reached");
            return;
        };
        let fetched = get_via_proxy(
            self.proxy,
            Credentials::AsListed,
            &first.url,
            step,
            MAX_BODY,
        )
        .await;
        let first_body = match fetched {
            Ok(fetched) => {
                result.status = Status::Alive;
                result.observations.connect_ms = Some(millis(fetched.connect));
                result.observations.handshake_ms = Some(millis(fetched.handshake));
                result.latency_ms = Some(millis(fetched.connect + fetched.handshake));
                fetched.response
            }
            Err(GetError::Dial(error)) => {
                result.findings.push(dial_finding(&error, Check::Liveness));
                return;
            }
            Err(GetError::Response(reason)) => {
                result.findings.push(Finding::new(
                    Code::HandshakeFailed,
                    Check::Liveness,
                    [
                        ("reason", format!("no answer through the proxy: {reason}")),
                        ("url", first.url.to_string()),
                    ],
                ));
                return;
            }
        };
        Box::pin(self.after_liveness(result, first, &first_body)).await;
    }

    /// The checks after liveness, in order, as selected.
    async fn after_liveness(
        &self,
        result: &mut ProbeResult,
        first: &HttpCanary,
        first_body: &HttpResponse,
    ) {
        let options = &self.context.options;
        if options.runs(Check::Credentials) {
            self.credentials(result).await;
        }
        if options.runs(Check::Content) {
            self.content(result, first, first_body).await;
        }
        if options.runs(Check::Tls) || options.runs(Check::Dns) {
            for (canary, policy) in self
                .context
                .profile
                .tls_canaries
                .iter()
                .zip(&self.context.tls_policies)
            {
                self.tls(result, canary, policy).await;
            }
        }
        if options.runs(Check::Judge) {
            self.judge(result).await;
        }
    }

    /// `credentials`: with credentials, a wrong password must be refused; without, the
    /// proxy is open.
    async fn credentials(&self, result: &mut ProbeResult) {
        let Some(username) = self.proxy.username.as_deref() else {
            result.findings.push(Finding::new(
                Code::OpenProxy,
                Check::Credentials,
                [("reason", "no username or password is required")],
            ));
            return;
        };
        if self.proxy.kind == ProxyKind::Socks4 {
            // SOCKS4 has a user id but no password: there is nothing to get wrong.
            result.findings.push(Finding::new(
                Code::OpenProxy,
                Check::Credentials,
                [("reason", "SOCKS4 has no password")],
            ));
            return;
        }
        let Some(step) = self.budget.step() else {
            skip(result, Check::Credentials, "entry deadline reached");
            return;
        };
        let wrong = wrong_password(self.proxy.password.as_deref());
        let credentials = Credentials::Override {
            username,
            password: &wrong,
        };
        let Some(first) = self.context.profile.http_canaries.first() else {
            return;
        };
        let outcome = match self.proxy.kind {
            ProxyKind::Http | ProxyKind::Https => {
                get_via_proxy(self.proxy, credentials, &first.url, step, 0)
                    .await
                    .map(|_| ())
                    .map_err(|error| match error {
                        GetError::Dial(error) => error,
                        GetError::Response(reason) => DialError::Handshake(reason),
                    })
            }
            _ => {
                let target = Target::Name(first.url.host.clone(), first.url.port);
                open_tunnel(self.proxy, credentials, &target, step)
                    .await
                    .map(|_| ())
            }
        };
        match outcome {
            Ok(()) | Err(DialError::TargetFailed(_)) => {
                result.findings.push(Finding::new(
                    Code::AcceptsAnyCredentials,
                    Check::Credentials,
                    [
                        ("username", username.to_owned()),
                        (
                            "reason",
                            "a wrong password was accepted: the proxy collects whatever \
                             credentials it is given"
                                .to_owned(),
                        ),
                    ],
                ));
            }
            Err(DialError::AuthRejected) => {}
            Err(error) => skip(result, Check::Credentials, &error.to_string()),
        }
    }

    /// `content`: every HTTP canary comes back byte for byte.
    async fn content(
        &self,
        result: &mut ProbeResult,
        first: &HttpCanary,
        first_body: &HttpResponse,
    ) {
        let canaries = &self.context.profile.http_canaries;
        for (index, canary) in canaries.iter().enumerate() {
            let body = if index == 0 && std::ptr::eq(canary, first) {
                Ok((first_body.body.clone(), first_body.truncated))
            } else {
                let Some(step) = self.budget.step() else {
                    skip(result, Check::Content, "entry deadline reached");
                    return;
                };
                get_via_proxy(
                    self.proxy,
                    Credentials::AsListed,
                    &canary.url,
                    step,
                    MAX_BODY,
                )
                .await
                .map(|fetched| (fetched.response.body, fetched.response.truncated))
                .map_err(|error| error.to_string())
            };
            let (body, truncated) = match body {
                Ok(fetched) => fetched,
                Err(error) => {
                    result.observations.http.push(HttpObservation {
                        canary: canary.name.clone(),
                        status: None,
                        bytes: None,
                        sha256: None,
                        matches: false,
                        error: Some(error),
                    });
                    continue;
                }
            };
            let digest: [u8; 32] = Sha256::digest(&body).into();
            let matches = digest == canary.sha256;
            result.observations.http.push(HttpObservation {
                canary: canary.name.clone(),
                status: None,
                bytes: Some(body.len() as u64),
                sha256: Some(to_hex(&digest)),
                matches,
                error: None,
            });
            if !matches {
                let mut evidence = vec![
                    ("canary", canary.name.clone()),
                    ("url", canary.url.to_string()),
                    ("expected_sha256", to_hex(&canary.sha256)),
                    ("received_sha256", to_hex(&digest)),
                    ("received_bytes", body.len().to_string()),
                ];
                if truncated {
                    evidence.push((
                        "truncated",
                        format!(
                            "the body went on past the {MAX_BODY}-byte cap; reading stopped there"
                        ),
                    ));
                }
                if let Some(reference) = self.reference(index, canary).await {
                    evidence.push(("expected_bytes", reference.len().to_string()));
                    let offset = first_difference(reference, &body);
                    evidence.push(("first_difference_at", offset.to_string()));
                    evidence.push(("received_snippet", snippet(&body, offset)));
                }
                result.findings.push(Finding::new(
                    Code::ContentTampered,
                    Check::Content,
                    evidence,
                ));
            }
        }
    }

    /// The canary's real body, fetched once per run without any proxy (used only for the
    /// evidence of a mismatch; `None` when it cannot be fetched or does not match).
    async fn reference(&self, index: usize, canary: &HttpCanary) -> Option<&[u8]> {
        let cell = self.context.references.get(index)?;
        cell.get_or_init(|| self.context.fetch_reference(canary))
            .await
            .as_deref()
    }

    /// `tls` and `dns` for one TLS canary.
    async fn tls(&self, result: &mut ProbeResult, canary: &TlsCanary, policy: &TlsPolicy) {
        let options = &self.context.options;
        let by_name = match guard::literal_ip(&canary.host) {
            Some(ip) => Target::Addr(SocketAddr::new(ip, canary.port)),
            None => Target::Name(canary.host.clone(), canary.port),
        };
        let Some(named) = self.tls_leg(result, canary, policy, by_name, "name").await else {
            return;
        };
        // A chain too large to read is not the canary's either.
        let substituted = !named.valid && (!named.chain.is_empty() || named.oversized);
        // The address leg tells DNS tampering from interception, so it runs only when the
        // name leg showed a foreign certificate (for `tls` and `dns` alike). A name leg that
        // proved the canary's certificate already shows the name led to the real server: a
        // second handshake would cost the proxy, the canary and us and could change nothing.
        let by_address = match canary.address {
            Some(ip) if substituted => {
                let target = Target::Addr(SocketAddr::new(ip, canary.port));
                self.tls_leg(result, canary, policy, target, "address")
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
                Check::Dns,
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
                Check::Tls,
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
                    Check::Tls,
                    [
                        ("ca", ca),
                        ("canary", canary.name.clone()),
                        ("subject", subject),
                        ("issuer", issuer),
                    ],
                ));
            }
        }
    }

    /// One TLS leg: a tunnel to `target`, then a handshake for the canary's name.
    async fn tls_leg(
        &self,
        result: &mut ProbeResult,
        canary: &TlsCanary,
        policy: &TlsPolicy,
        target: Target,
        leg: &str,
    ) -> Option<TlsOutcome> {
        let Some(step) = self.budget.step() else {
            skip(result, Check::Tls, "entry deadline reached");
            return None;
        };
        let outcome = match open_tunnel(self.proxy, Credentials::AsListed, &target, step).await {
            Ok(tunnel) => {
                let step = self.budget.step()?;
                probe_tls(tunnel.stream, &canary.host, policy, step).await
            }
            Err(error) => TlsOutcome {
                chain: Vec::new(),
                valid: false,
                error: Some(error.to_string()),
                known_ca: None,
                oversized: false,
            },
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

    /// `judge`: what the judge saw of us through the proxy.
    async fn judge(&self, result: &mut ProbeResult) {
        let Some(url) = &self.context.profile.judge else {
            return;
        };
        let Some(step) = self.budget.step() else {
            skip(result, Check::Judge, "entry deadline reached");
            return;
        };
        let response =
            match get_via_proxy(self.proxy, Credentials::AsListed, url, step, MAX_BODY).await {
                Ok(fetched) => fetched.response,
                Err(error) => {
                    skip(result, Check::Judge, &error.to_string());
                    return;
                }
            };
        let Some(seen) = JudgeAnswer::parse(&response.body) else {
            skip(result, Check::Judge, "the judge's answer is not its JSON");
            return;
        };
        result.observations.exit_address.clone_from(&seen.address);
        for (name, value) in &seen.headers {
            if SENT_HEADERS
                .iter()
                .any(|sent| sent.eq_ignore_ascii_case(name))
            {
                continue;
            }
            if let Some(address) = address_in(value) {
                result.findings.push(Finding::new(
                    Code::ClientIpLeaked,
                    Check::Judge,
                    [
                        ("header", name.clone()),
                        ("value", value.clone()),
                        ("address", address.to_string()),
                    ],
                ));
            }
        }
    }
}

/// Headers the auditor itself sends; anything else the judge saw was added on the way.
const SENT_HEADERS: [&str; 4] = ["host", "user-agent", "accept", "connection"];

/// The judge's JSON: `{"address": "203.0.113.9", "headers": [["Name", "value"], …]}`.
#[derive(Debug, serde::Deserialize)]
pub struct JudgeAnswer {
    /// The address the judge saw the request come from.
    pub address: Option<String>,
    /// Request headers in the order received.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
}

impl JudgeAnswer {
    /// Parses the judge's body; `None` when it is not the judge's JSON.
    pub fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice(body).ok()
    }
}

/// The first IP address written in a header value (`for=1.2.3.4`, `"[2001:db8::1]:80"`,
/// `1.2.3.4, 5.6.7.8`).
pub fn address_in(value: &str) -> Option<IpAddr> {
    value
        .split(|c: char| c == ',' || c == ';' || c == '=' || c == '"' || c.is_whitespace())
        .find_map(|token| {
            let token = token.trim_matches(|c| c == '[' || c == ']');
            token.parse::<IpAddr>().ok().or_else(|| {
                token
                    .parse::<SocketAddr>()
                    .ok()
                    .map(|addr| addr.ip())
                    .or_else(|| {
                        token
                            .rsplit_once(':')
                            .and_then(|(ip, _)| ip.trim_matches(['[', ']']).parse().ok())
                    })
            })
        })
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

/// The finding for a failed dial.
fn dial_finding(error: &DialError, check: Check) -> Finding {
    Finding::new(error.code(), check, [("reason", error.to_string())])
}

/// Records that a selected check could not run.
fn skip(result: &mut ProbeResult, check: Check, reason: &str) {
    result
        .observations
        .skipped
        .entry(check.name().to_owned())
        .or_insert_with(|| reason.to_owned());
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
    fn addresses_in_forwarding_headers() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(address_in("127.0.0.1"), ip("127.0.0.1"));
        assert_eq!(address_in("203.0.113.9, 10.0.0.1"), ip("203.0.113.9"));
        assert_eq!(address_in("for=192.0.2.60;proto=http"), ip("192.0.2.60"));
        assert_eq!(address_in("for=\"[2001:db8::1]:4711\""), ip("2001:db8::1"));
        assert_eq!(address_in("198.51.100.7:8080"), ip("198.51.100.7"));
        assert_eq!(address_in("1.1 lab-proxy"), None);
        assert_eq!(address_in("curl/8.0"), None);
    }

    #[test]
    fn judge_answer_parses_and_rejects_other_json() {
        let answer =
            JudgeAnswer::parse(br#"{"address":"1.2.3.4","headers":[["Via","1.1 x"]]}"#).unwrap();
        assert_eq!(answer.address.as_deref(), Some("1.2.3.4"));
        assert_eq!(answer.headers, vec![("Via".to_owned(), "1.1 x".to_owned())]);
        assert!(JudgeAnswer::parse(b"<html>").is_none());
    }

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
}
