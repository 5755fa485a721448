//! The MTProto checks: through an MTProto proxy (or a SOCKS5 tunnel to a datacenter),
//! prove the far end holds a Telegram key the profile trusts, and judge how easily a
//! censor can spot or probe the proxy.
//!
//! - `telegram`: `req_pq_multi` → `resPQ` (our nonce echoed) → `req_DH_params` encrypted to
//!   a trusted key → a `server_DH_params_ok` whose SHA-1 and nonces verify. Success is the
//!   `telegram_authentic` observation; an untrusted key, a bad hash or garbage is
//!   `mtproto_not_telegram`. A plain secret is `weak_secret`.
//! - `secret`: the secret must not be one published as an example (`default_secret`, from
//!   `rules/default-secrets.toml`), and once the proxy has proved itself, the same handshake
//!   with a made-up key of the same mode (and FakeTLS domain) must not reach a datacenter,
//!   else `accepts_any_secret`. Obfuscated2 keys are SHA-256(init ‖ secret), so a genuine
//!   proxy cannot serve a key it was never given: one that does has no access control, or
//!   is something else posing as a proxy.
//! - `fronting` (`ee` secrets): a normal TLS client with SNI = the secret's domain must get a
//!   certificate valid for that domain, else `faketls_no_fronting`.
//! - `camouflage` (`ee` secrets): the secret's domain, resolved by the auditor, must include
//!   the proxy's address, else `faketls_domain_mismatch` (a censor sees SNI = that domain
//!   going to an address that is not the domain's). A name that does not resolve is noted
//!   in the observations and judged no further.
//! - `replay`: the first flight of a successful handshake, replayed on a new connection,
//!   must not reach the datacenter again, else `mtproto_replay_accepted`.
//!
//! `secret` and `replay` each open one more connection and run side by side.
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
use super::tls::{TlsPolicy, probe_tls};
use super::{Check, Code, Finding, ProbeResult, Status, TelegramObservation};
use crate::config::Datacenter;
use crate::proto::mtproto::auth::{AuthClient, AuthError};
use crate::proto::mtproto::rsa::TrustedKeys;
use crate::proto::mtproto::secret::{MtprotoSecret, SecretMode};
use crate::proto::mtproto::tl::{client_message_id, decode_plain, encode_plain};
use crate::proto::mtproto::transport::{FrameDecoder, Framing};
use crate::rules::default_secrets::DefaultSecrets;

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
    /// The profile's `wrong_secret_seed` (labs): derive the `secret` check's made-up key
    /// from it instead of at random.
    pub wrong_secret_seed: Option<[u8; 32]>,
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

impl Link {
    /// Sends one transport frame.
    async fn send(&mut self, payload: &[u8], step: Duration) -> Result<(), String> {
        match self {
            Self::Proxy(conn) => conn.send(payload).await.map_err(|e| describe(&e)),
            Self::Plain { stream, .. } => {
                let mut frame = Vec::with_capacity(payload.len() + 4);
                Framing::Intermediate
                    .encode(payload, &mut frame)
                    .map_err(|e| e.to_string())?;
                tokio::time::timeout(step, stream.write_all(&frame))
                    .await
                    .map_err(|_| "timed out sending".to_owned())?
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// Receives one transport frame (bounded in size and time).
    async fn recv(&mut self, step: Duration) -> Result<Vec<u8>, String> {
        match self {
            Self::Proxy(conn) => conn.recv(MAX_ANSWER, step).await.map_err(|e| describe(&e)),
            Self::Plain { stream, decoder } => {
                let deadline = Instant::now() + step;
                let mut buf = [0u8; 4096];
                loop {
                    if let Some(frame) = decoder.next_frame().map_err(|e| e.to_string())? {
                        return Ok(frame);
                    }
                    let read = tokio::time::timeout_at(
                        deadline,
                        tokio::io::AsyncReadExt::read(stream, &mut buf),
                    )
                    .await
                    .map_err(|_| "no answer in time".to_owned())?
                    .map_err(|e| e.to_string())?;
                    if read == 0 {
                        return Err("the connection closed".to_owned());
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
    /// No (usable) answer at all.
    NoAnswer(String),
}

/// Sends `body` as an unencrypted message and returns the body of the answer.
async fn ask(
    link: &mut Link,
    body: &[u8],
    step: Duration,
    counter: u32,
) -> Result<Vec<u8>, String> {
    let message = encode_plain(client_message_id(unix_now(), counter), body);
    link.send(&message, step).await?;
    let frame = link.recv(step).await?;
    let answer = decode_plain(&frame).map_err(|e| format!("not an MTProto message: {e}"))?;
    Ok(answer.body.to_vec())
}

/// `req_pq_multi` only: does the far end answer with our nonce? (Liveness and replay.)
async fn res_pq_answers(link: &mut Link, dc: i16, step: Duration) -> Result<(), String> {
    let client = AuthClient::random(&mut rand::rng(), i32::from(dc));
    let body = ask(link, &client.req_pq_multi(), step, 0).await?;
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
        Err(reason) => return Exchange::NoAnswer(reason),
    };
    let outcome = match client.on_res_pq(&res_pq, &setup.keys, &mut rand::rng()) {
        Ok(outcome) => outcome,
        Err(error) => return Exchange::NotTelegram(auth_evidence(&error, "resPQ")),
    };
    let Some(step) = (steps.step)() else {
        return Exchange::NoAnswer("entry deadline reached".to_owned());
    };
    let answer = match ask(link, &outcome.req_dh_params_body, step, 1).await {
        Ok(body) => body,
        Err(reason) => {
            return Exchange::NotTelegram(vec![
                ("step", "req_DH_params".to_owned()),
                (
                    "reason",
                    format!("no valid answer to req_DH_params after a valid resPQ: {reason}"),
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
            Check::Telegram,
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
                Check::Secret,
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
            result.findings.push(Finding::new(
                error.code(),
                Check::Liveness,
                [("reason", error.to_string())],
            ));
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
                    Check::Liveness,
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
    let run_telegram = (steps.runs)(Check::Telegram) && setup.is_some();
    let proved = match setup {
        Some(setup) if run_telegram => match prove_telegram(&mut link, setup, steps).await {
            Exchange::Authentic(observation) => {
                result.observations.telegram = Some(observation);
                Some(true)
            }
            Exchange::NotTelegram(evidence) => {
                result.findings.push(Finding::new(
                    Code::MtprotoNotTelegram,
                    Check::Telegram,
                    evidence,
                ));
                Some(false)
            }
            Exchange::NoAnswer(reason) => {
                result.findings.push(handshake_failed(&format!(
                    "no answer from a datacenter through the proxy: {reason}"
                )));
                None
            }
        },
        _ => match res_pq_answers(&mut link, dc, step).await {
            Ok(()) => Some(true),
            Err(reason) => {
                result.findings.push(handshake_failed(&format!(
                    "no answer from a datacenter through the proxy: {reason}"
                )));
                None
            }
        },
    };
    if let Some(proved) = proved {
        result.status = Status::Alive;
        let handshake = started.elapsed();
        result.observations.connect_ms = Some(millis(connect));
        result.observations.handshake_ms = Some(millis(handshake));
        result.latency_ms = Some(millis(connect + handshake));
        // A made-up key is only worth trying on a proxy that proved itself with the real
        // one: against a datacenter that is not Telegram, the finding would say nothing new.
        let seed = setup.and_then(|setup| setup.wrong_secret_seed);
        let (replayed, any_secret) = tokio::join!(
            async {
                if (steps.runs)(Check::Replay) {
                    replay(proxy, &info, dc, steps).await
                } else {
                    None
                }
            },
            async {
                if proved && (steps.runs)(Check::Secret) {
                    accepts_any_secret(proxy, secret, seed, dc, steps).await
                } else {
                    None
                }
            },
        );
        result
            .findings
            .extend(any_secret.into_iter().chain(replayed));
    }
    disguise(proxy, secret, context, steps, result).await;
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
    result.findings.extend(fronted);
    match camouflaged {
        Camouflage::Holds => {}
        Camouflage::Mismatch(finding) => result.findings.push(finding),
        Camouflage::Unresolved(reason) => {
            result
                .observations
                .skipped
                .insert(Check::Camouflage.name().to_owned(), reason);
        }
    }
}

/// `secret`: the handshake with a made-up key of the same mode (and FakeTLS domain) must
/// not reach a datacenter.
async fn accepts_any_secret(
    proxy: &ProxyEndpoint,
    secret: &MtprotoSecret,
    seed: Option<[u8; 32]>,
    dc: i16,
    steps: &Steps<'_>,
) -> Option<Finding> {
    let key = match seed {
        Some(seed) => secret.seeded_wrong_key(&seed),
        None => loop {
            let key = rand::random::<[u8; 16]>();
            if key != secret.key() {
                break key;
            }
        },
    };
    let made_up = secret.with_key(key);
    let step = (steps.step)()?;
    let (stream, _) = dial::connect(proxy, step).await.ok()?;
    let step = (steps.step)()?;
    let (conn, _) = MtprotoConn::handshake(Box::new(stream), &made_up, dc, step, unix_now())
        .await
        .ok()?;
    let mut link = Link::Proxy(Box::new(conn));
    res_pq_answers(&mut link, dc, step).await.ok()?;
    Some(Finding::new(
        Code::AcceptsAnySecret,
        Check::Secret,
        [
            ("mode", secret.mode().as_str().to_owned()),
            // Redacted like any secret: against a proxy that lets anyone in, it works.
            ("made_up_secret", made_up.redacted()),
            (
                "reason",
                "a handshake keyed with a secret the owner never set reached a datacenter \
                 (resPQ echoed our nonce): a genuine MTProto proxy cannot derive keys for a \
                 secret it was not given"
                    .to_owned(),
            ),
        ],
    ))
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
        Check::Replay,
        [(
            "reason",
            "a byte-for-byte replay of an earlier handshake reached a datacenter again: a \
             censor can confirm the proxy by replaying a client's traffic",
        )],
    ))
}

/// `fronting` (`ee` secrets only): a normal TLS client must get the fronted domain's
/// real certificate from the proxy port.
async fn fronting(
    proxy: &ProxyEndpoint,
    secret: &MtprotoSecret,
    setup: Option<&TelegramSetup>,
    steps: &Steps<'_>,
) -> Option<Finding> {
    let (domain, setup) = (secret.faketls_domain()?, setup?);
    if !(steps.runs)(Check::Fronting) {
        return None;
    }
    let step = (steps.step)()?;
    let (stream, _) = dial::connect(proxy, step).await.ok()?;
    let outcome = probe_tls(stream, domain, &setup.fronting, step).await;
    if outcome.valid {
        return None;
    }
    let leaf = outcome
        .chain
        .first()
        .map_or_else(|| "(none)".to_owned(), |cert| cert.subject.clone());
    Some(Finding::new(
        Code::FaketlsNoFronting,
        Check::Fronting,
        [
            ("domain", domain.to_owned()),
            ("presented_subject", leaf),
            ("reason", outcome.error.unwrap_or_default()),
        ],
    ))
}

/// How the `camouflage` check ended.
enum Camouflage {
    /// Not an `ee` secret, not selected, out of time, or the domain includes the proxy's
    /// address.
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
    let Some(step) = (steps.step)().filter(|_| (steps.runs)(Check::Camouflage)) else {
        return Camouflage::Holds;
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
        Check::Camouflage,
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
/// intermediate framing, the same proof as through an MTProto proxy.
pub async fn audit_socks_telegram(
    proxy: &ProxyEndpoint,
    setup: &TelegramSetup,
    steps: &Steps<'_>,
    result: &mut ProbeResult,
) {
    let Some(step) = (steps.step)() else {
        return;
    };
    let target = Target::Addr(setup.dc.address);
    let mut tunnel = match dial::open_tunnel(proxy, Credentials::AsListed, &target, step).await {
        Ok(tunnel) => tunnel,
        Err(error) => {
            result
                .observations
                .skipped
                .insert(Check::Telegram.name().to_owned(), error.to_string());
            return;
        }
    };
    let tag = Framing::Intermediate.tag().bytes();
    if tokio::time::timeout(step, tunnel.stream.write_all(&tag))
        .await
        .is_err()
    {
        return;
    }
    let mut link = Link::Plain {
        stream: tunnel.stream,
        decoder: FrameDecoder::new(MAX_ANSWER),
    };
    match prove_telegram(&mut link, setup, steps).await {
        Exchange::Authentic(observation) => result.observations.telegram = Some(observation),
        Exchange::NotTelegram(mut evidence) => {
            evidence.push(("datacenter", setup.dc.address.to_string()));
            result.findings.push(Finding::new(
                Code::MtprotoNotTelegram,
                Check::Telegram,
                evidence,
            ));
        }
        Exchange::NoAnswer(reason) => {
            result.observations.skipped.insert(
                Check::Telegram.name().to_owned(),
                format!("no answer from the datacenter through the proxy: {reason}"),
            );
        }
    }
}

/// A `handshake_failed` finding.
fn handshake_failed(reason: &str) -> Finding {
    Finding::new(
        Code::HandshakeFailed,
        Check::Liveness,
        [("reason", reason.to_owned())],
    )
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
}
