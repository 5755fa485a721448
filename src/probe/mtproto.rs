//! The MTProto checks: through an MTProto proxy (or a SOCKS5 tunnel to a datacenter),
//! prove the far end holds a Telegram key the profile trusts, and judge how easily a
//! censor can spot or probe the proxy.
//!
//! - `telegram`: `req_pq_multi` → `resPQ` (our nonce echoed) → `req_DH_params` encrypted to
//!   a trusted key → a `server_DH_params_ok` whose SHA-1 and nonces verify. Success is the
//!   `telegram_authentic` observation; an untrusted key, a bad hash or garbage is
//!   `mtproto_not_telegram`. An exchange cut off by a timeout or a reset after a valid
//!   `resPQ` is tried once more on a new connection, then left inconclusive. A plain secret
//!   is `weak_secret`.
//! - `secret`: the secret must not be one published as an example or default
//!   (`default_secret`, from `rules/default-secrets.toml`). (It used to also try a made-up
//!   key, `accepts_any_secret`; no real server can serve a key it was never given, so only
//!   our own lab could trip it, and the check was retired. The code stays for old reports.)
//! - `fronting` (`ee` secrets): a normal TLS client with SNI = the secret's domain must get a
//!   certificate valid for that domain, else `faketls_no_fronting`. A handshake cut off by a
//!   timeout or a reset is tried once more, then left inconclusive.
//! - `camouflage` (`ee` secrets): the secret's domain, resolved by the auditor, must include
//!   the proxy's address, else `faketls_domain_mismatch` (a censor sees SNI = that domain
//!   going to an address that is not the domain's). A name that does not resolve is noted
//!   in the observations and judged no further.
//! - `replay`: the first flight of a successful handshake, replayed on a new connection,
//!   must not reach the datacenter again, else `mtproto_replay_accepted`.
//!
//! Each check opens its own connection, one at a time, so an entry never holds more than one
//! connection to the proxy (the runner's per-host limit counts entries).
//!
//! Liveness for an MTProto proxy is the handshake plus `req_pq_multi` → `resPQ`.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use super::dial::{self, BoxStream, Credentials, ProxyEndpoint, Target};
use super::guard::NameCache;
use super::mtproto_conn::{ConnError, HandshakeInfo, MtprotoConn};
use super::retry::{Attempt, at_most_twice};
use super::tls::{TlsPolicy, probe_tls};
use crate::catalog::default_secrets::DefaultSecrets;
use crate::config::Datacenter;
use crate::model::{Check, Code, Finding, ProbeResult, Status, TelegramObservation};
use crate::proto::mtproto::auth::{AuthClient, AuthError};
use crate::proto::mtproto::rsa::TrustedKeys;
use crate::proto::mtproto::secret::{MtprotoSecret, SecretMode};
use crate::proto::mtproto::tl::{client_message_id, decode_plain, encode_plain};
use crate::proto::mtproto::transport::{FrameDecoder, Framing};

/// Largest MTProto answer read (a `server_DH_params_ok` is under 1 KiB).
const MAX_ANSWER: usize = 64 * 1024;

/// What the MTProto checks need from the profile.
pub struct TelegramSetup {
    /// The datacenter asked (`--dc`, DC 2 by default).
    pub dc: Datacenter,
    /// Keys whose holders are Telegram.
    pub keys: TrustedKeys,
    /// Roots a fronted domain's certificate must chain to.
    pub fronting: TlsPolicy,
}

/// What the MTProto checks consult besides the proxy itself.
pub struct MtprotoContext<'a> {
    /// Datacenter, keys and fronting roots (`None` when the profile has no `[telegram]`).
    pub setup: Option<&'a TelegramSetup>,
    /// Secrets published as examples (`rules/default-secrets.toml`).
    pub default_secrets: &'a DefaultSecrets,
    /// FakeTLS domains, resolved once per run with the auditor's resolver.
    pub names: &'a NameCache,
}

/// The checks' view of time and options for one entry.
pub struct Steps<'a> {
    /// Time allowed for the next step; `None` once the entry's deadline passed.
    pub step: &'a (dyn Fn() -> Option<Duration> + Sync),
    /// Whether a check was selected.
    pub runs: &'a (dyn Fn(Check) -> bool + Sync),
}

/// A framed channel to a datacenter.
enum Link {
    /// Through an MTProto proxy (obfuscated, maybe FakeTLS); boxed, as it carries cipher
    /// state.
    Proxy(Box<MtprotoConn>),
    /// Plain intermediate framing through a tunnel (SOCKS5 to the datacenter's address).
    Plain {
        /// The tunnel.
        stream: BoxStream,
        /// Frames read so far.
        decoder: FrameDecoder,
    },
}

/// Why a frame could not be sent or received.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LinkError {
    /// What happened, for the evidence.
    reason: String,
    /// Cut off by a timeout or a reset (worth one retry), rather than an answer.
    transient: bool,
}

impl LinkError {
    /// A failure that is an answer of sorts: garbage, a close, a malformed frame.
    fn answer(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            transient: false,
        }
    }

    /// A failure that says nothing about the far end: a timeout, a reset.
    fn cut_off(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            transient: true,
        }
    }

    /// From a connection error of an MTProto proxy link.
    fn of(error: &ConnError) -> Self {
        match error {
            ConnError::Timeout | ConnError::Io(_) => Self::cut_off(describe(error)),
            _ => Self::answer(describe(error)),
        }
    }

    /// From an I/O error on a plain tunnel.
    fn of_io(error: &std::io::Error) -> Self {
        if dial::is_transient(error.kind()) {
            Self::cut_off(dial::io_reason(error))
        } else {
            Self::answer(dial::io_reason(error))
        }
    }
}

impl Link {
    /// Sends one transport frame.
    async fn send(&mut self, payload: &[u8], step: Duration) -> Result<(), LinkError> {
        match self {
            Self::Proxy(conn) => conn.send(payload).await.map_err(|e| LinkError::of(&e)),
            Self::Plain { stream, .. } => {
                let mut frame = Vec::with_capacity(payload.len() + 4);
                Framing::Intermediate
                    .encode(payload, &mut frame)
                    .map_err(|e| LinkError::answer(e.to_string()))?;
                tokio::time::timeout(step, stream.write_all(&frame))
                    .await
                    .map_err(|_| LinkError::cut_off("timed out sending"))?
                    .map_err(|e| LinkError::of_io(&e))
            }
        }
    }

    /// Receives one transport frame (bounded in size and time).
    async fn recv(&mut self, step: Duration) -> Result<Vec<u8>, LinkError> {
        match self {
            Self::Proxy(conn) => conn
                .recv(MAX_ANSWER, step)
                .await
                .map_err(|e| LinkError::of(&e)),
            Self::Plain { stream, decoder } => {
                let deadline = Instant::now() + step;
                let mut buf = [0u8; 4096];
                loop {
                    if let Some(frame) = decoder
                        .next_frame()
                        .map_err(|e| LinkError::answer(e.to_string()))?
                    {
                        return Ok(frame);
                    }
                    let read = tokio::time::timeout_at(
                        deadline,
                        tokio::io::AsyncReadExt::read(stream, &mut buf),
                    )
                    .await
                    .map_err(|_| LinkError::cut_off("no answer in time"))?
                    .map_err(|e| LinkError::of_io(&e))?;
                    if read == 0 {
                        return Err(LinkError::answer("the connection closed"));
                    }
                    decoder.push(buf.get(..read).unwrap_or_default());
                }
            }
        }
    }
}

/// How a `telegram` exchange ended.
enum Exchange {
    /// The far end proved it holds a trusted key.
    Authentic(TelegramObservation),
    /// It answered, but not as Telegram.
    NotTelegram(Vec<(&'static str, String)>),
    /// No (usable) answer to `req_pq_multi`: the proxy does not reach a datacenter.
    NoAnswer(String),
    /// A valid `resPQ`, then the exchange was cut off by a timeout or a reset: the far end
    /// neither proved nor failed anything.
    CutOff(String),
}

/// Sends `body` as an unencrypted message and returns the body of the answer.
async fn ask(
    link: &mut Link,
    body: &[u8],
    step: Duration,
    counter: u32,
) -> Result<Vec<u8>, LinkError> {
    let message = encode_plain(client_message_id(unix_now(), counter), body);
    link.send(&message, step).await?;
    let frame = link.recv(step).await?;
    let answer = decode_plain(&frame)
        .map_err(|e| LinkError::answer(format!("not an MTProto message: {e}")))?;
    Ok(answer.body.to_vec())
}

/// `req_pq_multi` only: does the far end answer with our nonce? (Liveness and replay.)
async fn res_pq_answers(link: &mut Link, dc: i16, step: Duration) -> Result<(), String> {
    let client = AuthClient::random(&mut rand::rng(), i32::from(dc));
    let body = ask(link, &client.req_pq_multi(), step, 0)
        .await
        .map_err(|e| e.reason)?;
    let res_pq = crate::proto::mtproto::auth::ResPq::parse(&body).map_err(|e| e.to_string())?;
    if &res_pq.nonce == client.nonce() {
        Ok(())
    } else {
        Err("resPQ does not echo our nonce".to_owned())
    }
}

/// The full authenticity exchange over `link`.
async fn prove_telegram(link: &mut Link, setup: &TelegramSetup, steps: &Steps<'_>) -> Exchange {
    let Some(step) = (steps.step)() else {
        return Exchange::NoAnswer("entry deadline reached".to_owned());
    };
    let started = Instant::now();
    let mut client = AuthClient::random(&mut rand::rng(), i32::from(setup.dc.id));
    let res_pq = match ask(link, &client.req_pq_multi(), step, 0).await {
        Ok(body) => body,
        Err(error) => return Exchange::NoAnswer(error.reason),
    };
    let outcome = match client.on_res_pq(&res_pq, &setup.keys, &mut rand::rng()) {
        Ok(outcome) => outcome,
        Err(error) => return Exchange::NotTelegram(auth_evidence(&error, "resPQ")),
    };
    let Some(step) = (steps.step)() else {
        return Exchange::CutOff("entry deadline reached after resPQ".to_owned());
    };
    let answer = match ask(link, &outcome.req_dh_params_body, step, 1).await {
        Ok(body) => body,
        Err(error) if error.transient => {
            return Exchange::CutOff(format!(
                "req_DH_params after a valid resPQ: {}",
                error.reason
            ));
        }
        Err(error) => {
            return Exchange::NotTelegram(vec![
                ("step", "req_DH_params".to_owned()),
                (
                    "reason",
                    format!(
                        "no valid answer to req_DH_params after a valid resPQ: {}",
                        error.reason
                    ),
                ),
                ("key_fingerprint", format!("{:#018x}", outcome.fingerprint)),
            ]);
        }
    };
    match client.on_server_dh_params(&answer) {
        Ok(verified) => Exchange::Authentic(TelegramObservation {
            authentic: true,
            dc: setup.dc.id,
            key_fingerprint: Some(format!("{:#018x}", outcome.fingerprint)),
            key_label: Some(outcome.key_label),
            rtt_ms: Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)),
            server_time: Some(i64::from(verified.server_time)),
        }),
        Err(error) => {
            let mut evidence = auth_evidence(&error, "server_DH_params");
            evidence.push(("key_fingerprint", format!("{:#018x}", outcome.fingerprint)));
            Exchange::NotTelegram(evidence)
        }
    }
}

/// Evidence for a failed authenticity step.
fn auth_evidence(error: &AuthError, step: &str) -> Vec<(&'static str, String)> {
    let mut evidence = vec![("step", step.to_owned()), ("reason", error.to_string())];
    if let AuthError::UnknownFingerprints(offered) = error {
        let list = offered
            .iter()
            .map(|f| format!("{f:#018x}"))
            .collect::<Vec<_>>()
            .join(", ");
        evidence.push(("offered_fingerprints", list));
    }
    evidence
}

/// Records what a `telegram` exchange showed. Returns true when the far end proved it is
/// Telegram or answered as something else (the proxy works either way).
fn record_exchange(exchange: Exchange, result: &mut ProbeResult, extra: &[(&'static str, String)]) {
    match exchange {
        Exchange::Authentic(observation) => result.observations.telegram = Some(observation),
        Exchange::NotTelegram(mut evidence) => {
            evidence.extend(extra.iter().cloned());
            result
                .findings
                .push(Finding::new(Code::MtprotoNotTelegram, evidence));
        }
        Exchange::NoAnswer(reason) | Exchange::CutOff(reason) => {
            result.inconclusive(Check::Telegram, reason);
        }
    }
}

/// Audits an MTProto proxy: liveness (handshake + resPQ), `telegram`, `secret`, `replay`,
/// `fronting`, `camouflage` and `weak_secret`.
pub async fn audit_mtproto(
    proxy: &ProxyEndpoint,
    secret: &MtprotoSecret,
    context: &MtprotoContext<'_>,
    steps: &Steps<'_>,
    result: &mut ProbeResult,
) {
    let setup = context.setup;
    if secret.mode() == SecretMode::Plain && (steps.runs)(Check::Telegram) {
        result.findings.push(Finding::new(
            Code::WeakSecret,
            [(
                "reason",
                "a plain secret (no dd/ee prefix): its traffic pattern is easy for DPI to \
                 recognise",
            )],
        ));
    }
    if (steps.runs)(Check::Secret) {
        if let Some(published) = context.default_secrets.matching(secret) {
            result.findings.push(Finding::new(
                Code::DefaultSecret,
                [
                    ("published_as", published.name.clone()),
                    ("source", published.source.clone()),
                    (
                        "reason",
                        "the secret's key is one published as an example or default: anyone \
                         can use the proxy, and a censor can probe for it"
                            .to_owned(),
                    ),
                ],
            ));
        }
    }
    let dc = setup.map_or(2, |setup| setup.dc.id);
    let Some(step) = (steps.step)() else {
        return;
    };
    let (stream, connect) = match dial::connect(proxy, step).await {
        Ok(connected) => connected,
        Err(error) => {
            result
                .findings
                .push(Finding::new(error.code(), [("reason", error.to_string())]));
            return;
        }
    };
    let Some(step) = (steps.step)() else {
        return;
    };
    let started = Instant::now();
    let handshake = MtprotoConn::handshake(Box::new(stream), secret, dc, step, unix_now()).await;
    let (conn, info) = match handshake {
        Ok(done) => done,
        Err(error) => {
            result.findings.push(match error {
                ConnError::FakeTlsInvalid(reason) => Finding::new(
                    Code::FaketlsInvalid,
                    [
                        (
                            "reason",
                            format!("the server's FakeTLS answer does not verify: {reason}"),
                        ),
                        (
                            "domain",
                            secret.faketls_domain().unwrap_or_default().to_owned(),
                        ),
                    ],
                ),
                error => handshake_failed(&describe(&error)),
            });
            disguise(proxy, secret, context, steps, result).await;
            return;
        }
    };
    let mut link = Link::Proxy(Box::new(conn));
    let alive = match setup {
        Some(setup) if (steps.runs)(Check::Telegram) => {
            match prove_telegram(&mut link, setup, steps).await {
                Exchange::NoAnswer(reason) => Err(reason),
                Exchange::CutOff(first) => {
                    // The proxy reached a datacenter (a valid resPQ came back): it is alive.
                    // The proof itself gets one more try, on a new connection.
                    drop(link);
                    let retried = prove_again(proxy, secret, setup, steps).await;
                    record_exchange(
                        match retried {
                            Exchange::NoAnswer(second) | Exchange::CutOff(second) => {
                                Exchange::CutOff(format!("{first}; on the retry: {second}"))
                            }
                            exchange => exchange,
                        },
                        result,
                        &[],
                    );
                    Ok(())
                }
                exchange => {
                    drop(link);
                    record_exchange(exchange, result, &[]);
                    Ok(())
                }
            }
        }
        _ => {
            let answered = res_pq_answers(&mut link, dc, step).await;
            drop(link);
            answered
        }
    };
    match alive {
        Ok(()) => {
            result.status = Status::Alive;
            let handshake = started.elapsed();
            result.observations.connect_ms = Some(millis(connect));
            result.observations.handshake_ms = Some(millis(handshake));
            result.latency_ms = Some(millis(connect + handshake));
            if (steps.runs)(Check::Replay) {
                if (steps.step)().is_none() {
                    result.inconclusive(Check::Replay, "entry deadline reached");
                }
                result
                    .findings
                    .extend(replay(proxy, &info, dc, steps).await);
            }
        }
        Err(reason) => result.findings.push(handshake_failed(&format!(
            "no answer from a datacenter through the proxy: {reason}"
        ))),
    }
    disguise(proxy, secret, context, steps, result).await;
}

/// The `telegram` proof once more, on a new connection through the proxy.
async fn prove_again(
    proxy: &ProxyEndpoint,
    secret: &MtprotoSecret,
    setup: &TelegramSetup,
    steps: &Steps<'_>,
) -> Exchange {
    let Some(step) = (steps.step)() else {
        return Exchange::CutOff("entry deadline reached".to_owned());
    };
    let stream = match dial::connect(proxy, step).await {
        Ok((stream, _)) => stream,
        Err(error) => return Exchange::CutOff(error.to_string()),
    };
    let Some(step) = (steps.step)() else {
        return Exchange::CutOff("entry deadline reached".to_owned());
    };
    match MtprotoConn::handshake(Box::new(stream), secret, setup.dc.id, step, unix_now()).await {
        Ok((conn, _)) => prove_telegram(&mut Link::Proxy(Box::new(conn)), setup, steps).await,
        Err(error) => Exchange::CutOff(describe(&error)),
    }
}

/// `fronting` and `camouflage`, side by side.
async fn disguise(
    proxy: &ProxyEndpoint,
    secret: &MtprotoSecret,
    context: &MtprotoContext<'_>,
    steps: &Steps<'_>,
    result: &mut ProbeResult,
) {
    let (fronted, camouflaged) = tokio::join!(
        fronting(proxy, secret, context.setup, steps),
        camouflage(
            proxy,
            secret,
            context.names,
            steps,
            &result.observations.resolved
        ),
    );
    match fronted {
        Fronting::Holds => {}
        Fronting::Fails(finding) => result.findings.push(finding),
        Fronting::CutOff(reason) => result.inconclusive(Check::Fronting, reason),
    }
    match camouflaged {
        Camouflage::Holds => {}
        Camouflage::Mismatch(finding) => result.findings.push(finding),
        Camouflage::Unresolved(reason) => result.skip(Check::Camouflage, &reason),
        Camouflage::NoTime => result.inconclusive(Check::Camouflage, "entry deadline reached"),
    }
}

/// `replay`: the same first flight on a new connection must not reach a datacenter.
async fn replay(
    proxy: &ProxyEndpoint,
    info: &HandshakeInfo,
    dc: i16,
    steps: &Steps<'_>,
) -> Option<Finding> {
    let step = (steps.step)()?;
    let (stream, _) = dial::connect(proxy, step).await.ok()?;
    let conn = MtprotoConn::replay(Box::new(stream), info, step)
        .await
        .ok()?;
    let mut link = Link::Proxy(Box::new(conn));
    res_pq_answers(&mut link, dc, step).await.ok()?;
    Some(Finding::new(
        Code::MtprotoReplayAccepted,
        [(
            "reason",
            "a byte-for-byte replay of an earlier handshake reached a datacenter again: a \
             censor can confirm the proxy by replaying a client's traffic",
        )],
    ))
}

/// How the `fronting` check ended.
enum Fronting {
    /// Not an `ee` secret, not selected, or the fronted domain's certificate came back.
    Holds,
    /// The port answered an ordinary TLS client with something else.
    Fails(Finding),
    /// Cut off twice by a timeout or a reset (or out of time): no conclusion.
    CutOff(String),
}

/// `fronting` (`ee` secrets only): a normal TLS client must get the fronted domain's
/// real certificate from the proxy port.
async fn fronting(
    proxy: &ProxyEndpoint,
    secret: &MtprotoSecret,
    setup: Option<&TelegramSetup>,
    steps: &Steps<'_>,
) -> Fronting {
    let (Some(domain), Some(setup)) = (secret.faketls_domain(), setup) else {
        return Fronting::Holds;
    };
    if !(steps.runs)(Check::Fronting) {
        return Fronting::Holds;
    }
    let handshake = at_most_twice(|| async move {
        let Some(step) = (steps.step)() else {
            return Attempt::CutOff("entry deadline reached".to_owned());
        };
        let stream = match dial::connect(proxy, step).await {
            Ok((stream, _)) => stream,
            Err(error) => return Attempt::CutOff(error.to_string()),
        };
        let outcome = probe_tls(stream, domain, &setup.fronting, step).await;
        if outcome.cut_off.is_some() {
            Attempt::CutOff(outcome.error.unwrap_or_default())
        } else {
            Attempt::Answered(outcome)
        }
    })
    .await;
    let outcome = match handshake {
        Ok(outcome) if outcome.valid => return Fronting::Holds,
        Ok(outcome) => outcome,
        Err(reasons) => {
            return Fronting::CutOff(format!(
                "a TLS handshake for {domain} with the proxy's port was cut off: {reasons}"
            ));
        }
    };
    let leaf = outcome
        .chain
        .first()
        .map_or_else(|| "(none)".to_owned(), |cert| cert.subject.clone());
    Fronting::Fails(Finding::new(
        Code::FaketlsNoFronting,
        [
            ("domain", domain.to_owned()),
            ("presented_subject", leaf),
            ("reason", outcome.error.unwrap_or_default()),
        ],
    ))
}

/// How the `camouflage` check ended.
enum Camouflage {
    /// The entry's deadline came first.
    NoTime,
    /// Not an `ee` secret, not selected, or the domain includes the proxy's address.
    Holds,
    /// The domain resolves elsewhere.
    Mismatch(Finding),
    /// The domain did not resolve (an observation, not a finding).
    Unresolved(String),
}

/// `camouflage` (`ee` secrets only): the FakeTLS domain, resolved by the auditor, must
/// include the proxy's address. `proxy_at` is what the proxy's host resolved to
/// (`ip:port`), the connected address counting too.
async fn camouflage(
    proxy: &ProxyEndpoint,
    secret: &MtprotoSecret,
    names: &NameCache,
    steps: &Steps<'_>,
    proxy_at: &[String],
) -> Camouflage {
    let Some(domain) = secret.faketls_domain() else {
        return Camouflage::Holds;
    };
    if !(steps.runs)(Check::Camouflage) {
        return Camouflage::Holds;
    }
    let Some(step) = (steps.step)() else {
        return Camouflage::NoTime;
    };
    let domain_ips: BTreeSet<IpAddr> = match names.resolve(domain, step).await {
        Ok(addresses) => addresses.into_iter().collect(),
        Err(reason) => {
            return Camouflage::Unresolved(format!(
                "the FakeTLS domain {domain} did not resolve, so it was not compared with the \
                 proxy's address: {reason}"
            ));
        }
    };
    let proxy_ips: BTreeSet<IpAddr> = proxy_at
        .iter()
        .filter_map(|text| text.parse::<std::net::SocketAddr>().ok())
        .map(|addr| addr.ip())
        .chain([proxy.addr.ip()])
        .collect();
    if domain_ips.intersection(&proxy_ips).next().is_some() {
        return Camouflage::Holds;
    }
    let list = |ips: &BTreeSet<IpAddr>| {
        ips.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    Camouflage::Mismatch(Finding::new(
        Code::FaketlsDomainMismatch,
        [
            ("domain", domain.to_owned()),
            ("domain_addresses", list(&domain_ips)),
            ("proxy_addresses", list(&proxy_ips)),
            (
                "reason",
                format!(
                    "the proxy poses as {domain}, but {domain} does not resolve to the \
                     proxy's address: a censor sees that name going to an address that is \
                     not the site's"
                ),
            ),
        ],
    ))
}

/// The `telegram` check for a SOCKS5 proxy: a tunnel to the datacenter's address, plain
/// intermediate framing, the same proof as through an MTProto proxy. A proxy that refuses
/// the tunnel is noted under `skipped`; one cut off twice leaves the check inconclusive.
pub async fn audit_socks_telegram(
    proxy: &ProxyEndpoint,
    setup: &TelegramSetup,
    steps: &Steps<'_>,
    result: &mut ProbeResult,
) {
    let exchange = at_most_twice(|| async move {
        let Some(step) = (steps.step)() else {
            return Attempt::CutOff("entry deadline reached".to_owned());
        };
        let target = Target::Addr(setup.dc.address);
        let mut tunnel = match dial::open_tunnel(proxy, Credentials::AsListed, &target, step).await
        {
            Ok(tunnel) => tunnel,
            Err(error) if error.transient() => return Attempt::CutOff(error.to_string()),
            Err(error) => return Attempt::Answered(Err(error.to_string())),
        };
        let tag = Framing::Intermediate.tag().bytes();
        match tokio::time::timeout(step, tunnel.stream.write_all(&tag)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Attempt::CutOff(dial::io_reason(&error)),
            Err(_) => return Attempt::CutOff("timed out sending".to_owned()),
        }
        let mut link = Link::Plain {
            stream: tunnel.stream,
            decoder: FrameDecoder::new(MAX_ANSWER),
        };
        match prove_telegram(&mut link, setup, steps).await {
            Exchange::CutOff(reason) => Attempt::CutOff(reason),
            Exchange::NoAnswer(reason) => Attempt::CutOff(format!(
                "no answer from the datacenter through the proxy: {reason}"
            )),
            exchange => Attempt::Answered(Ok(exchange)),
        }
    })
    .await;
    match exchange {
        Ok(Ok(exchange)) => record_exchange(
            exchange,
            result,
            &[("datacenter", setup.dc.address.to_string())],
        ),
        Ok(Err(refused)) => result.skip(Check::Telegram, &refused),
        Err(reasons) => result.inconclusive(Check::Telegram, reasons),
    }
}

/// A `handshake_failed` finding.
fn handshake_failed(reason: &str) -> Finding {
    Finding::new(Code::HandshakeFailed, [("reason", reason.to_owned())])
}

/// A connection error in a sentence.
fn describe(error: &ConnError) -> String {
    match error {
        ConnError::Io(reason) | ConnError::Protocol(reason) => reason.clone(),
        ConnError::Timeout => "timed out".to_owned(),
        ConnError::FakeTlsInvalid(reason) => format!("FakeTLS answer invalid: {reason}"),
        ConnError::Closed => "the proxy closed the connection".to_owned(),
    }
}

/// Whole milliseconds, saturating.
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Seconds since 1970 (0 if the clock is before it), as MTProto and FakeTLS use.
fn unix_now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::probe::guard::Resolver;
    use crate::proxy::ProxyKind;

    const STEP: Duration = Duration::from_secs(1);

    fn endpoint(addr: &str) -> ProxyEndpoint {
        ProxyEndpoint {
            kind: ProxyKind::Mtproto,
            addr: addr.parse().unwrap(),
            host: "proxy.example".to_owned(),
            username: None,
            password: None,
        }
    }

    fn resolver(hosts: &[(&str, &[&str])]) -> NameCache {
        NameCache::new(Resolver {
            static_hosts: hosts
                .iter()
                .map(|(name, ips)| {
                    let ips = ips.iter().map(|ip| ip.parse().unwrap()).collect();
                    ((*name).to_owned(), ips)
                })
                .collect(),
        })
    }

    async fn judge(secret: &str, proxy: &str, resolved: &[&str], hosts: &NameCache) -> Camouflage {
        let step = || Some(STEP);
        let runs = |_: Check| true;
        let steps = Steps {
            step: &step,
            runs: &runs,
        };
        let secret = MtprotoSecret::decode(secret).unwrap();
        let resolved: Vec<String> = resolved.iter().map(|&s| s.to_owned()).collect();
        camouflage(&endpoint(proxy), &secret, hosts, &steps, &resolved).await
    }

    /// `ee` + 16 key bytes + `site.example`.
    const EE: &str = "ee0123456789abcdef0123456789abcdef736974652e6578616d706c65";

    #[tokio::test]
    async fn camouflage_holds_when_any_address_of_the_domain_is_the_proxys() {
        let hosts = resolver(&[("site.example", &["192.0.2.7", "2001:db8::7"])]);
        let held = judge(EE, "198.51.100.1:443", &["[2001:db8::7]:443"], &hosts).await;
        assert!(matches!(held, Camouflage::Holds));
        let held = judge(EE, "192.0.2.7:443", &[], &hosts).await;
        assert!(matches!(held, Camouflage::Holds));
        // Not FakeTLS: nothing to compare.
        let dd = "dd0123456789abcdef0123456789abcdef";
        assert!(matches!(
            judge(dd, "198.51.100.1:443", &[], &hosts).await,
            Camouflage::Holds
        ));
    }

    #[tokio::test]
    async fn camouflage_reports_a_domain_that_lives_elsewhere_with_both_addresses() {
        let hosts = resolver(&[("site.example", &["192.0.2.7", "192.0.2.8"])]);
        let Camouflage::Mismatch(finding) =
            judge(EE, "198.51.100.1:443", &["198.51.100.1:443"], &hosts).await
        else {
            panic!("expected a mismatch");
        };
        assert_eq!(finding.code, Code::FaketlsDomainMismatch);
        let evidence = |key: &str| finding.evidence[key].clone();
        assert_eq!(evidence("domain"), "site.example");
        assert_eq!(evidence("domain_addresses"), "192.0.2.7, 192.0.2.8");
        assert_eq!(evidence("proxy_addresses"), "198.51.100.1");
    }

    #[tokio::test]
    async fn camouflage_skips_a_domain_that_does_not_resolve_and_says_why() {
        let hosts = resolver(&[("site.example", &[])]);
        let Camouflage::Unresolved(reason) = judge(EE, "198.51.100.1:443", &[], &hosts).await
        else {
            panic!("expected the check to be skipped");
        };
        assert!(reason.contains("site.example did not resolve"), "{reason}");
    }

    /// A port that takes each connection, reads what the client sends, then answers with
    /// `answer` (a reset when `None`); returns its address and a count of connections.
    async fn one_shot_server(
        answer: Option<&'static [u8]>,
    ) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let mut hello = [0u8; 5];
                let _ = tokio::io::AsyncReadExt::read_exact(&mut stream, &mut hello).await;
                match answer {
                    Some(bytes) => {
                        let _ = stream.write_all(bytes).await;
                    }
                    None => {
                        // Linger 0: closing sends a reset instead of a clean end.
                        socket2::SockRef::from(&stream)
                            .set_linger(Some(Duration::ZERO))
                            .unwrap();
                    }
                }
            }
        });
        (addr, accepted)
    }

    async fn fronting_of(addr: std::net::SocketAddr) -> Fronting {
        let setup = TelegramSetup {
            dc: Datacenter {
                id: 2,
                address: addr,
            },
            keys: TrustedKeys::default(),
            fronting: TlsPolicy::new(
                Arc::new(rustls::RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                }),
                Vec::new(),
                Arc::new(crate::catalog::interception::InterceptionCas::default()),
            ),
        };
        let step = || Some(STEP);
        let runs = |_: Check| true;
        let steps = Steps {
            step: &step,
            runs: &runs,
        };
        let secret = MtprotoSecret::decode(EE).unwrap();
        fronting(&endpoint(&addr.to_string()), &secret, Some(&setup), &steps).await
    }

    /// Under load a reset can hit any handshake: the fronting handshake is tried again, and a
    /// second reset leaves the check inconclusive instead of accusing an honest proxy.
    #[tokio::test]
    async fn a_fronting_handshake_reset_twice_is_inconclusive_not_a_finding() {
        let (addr, accepted) = one_shot_server(None).await;
        let Fronting::CutOff(reason) = fronting_of(addr).await else {
            panic!("a reset must not be a finding");
        };
        assert_eq!(accepted.load(Ordering::SeqCst), 2, "tried once more");
        assert!(reason.contains("reset"), "{reason}");
    }

    /// A port that answers an ordinary TLS client with something that is not the domain's
    /// certificate is observed misbehaviour: the finding, after the one attempt.
    #[tokio::test]
    async fn a_fronting_answer_that_is_not_tls_is_a_finding() {
        let (addr, accepted) = one_shot_server(Some(b"HTTP/1.1 400 Bad Request\r\n\r\n")).await;
        let Fronting::Fails(finding) = fronting_of(addr).await else {
            panic!("garbage instead of the site is no fronting");
        };
        assert_eq!(finding.code, Code::FaketlsNoFronting);
        assert_eq!(finding.evidence["domain"], "site.example");
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            1,
            "an answer is not retried"
        );
    }
}
