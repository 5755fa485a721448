//! The MTProto checks: through an MTProto proxy (or a SOCKS5 tunnel to a datacenter),
//! prove the far end holds a Telegram key the profile trusts, and judge how easily a
//! censor can spot or probe the proxy.
//!
//! - `telegram`: `req_pq_multi` → `resPQ` (our nonce echoed) → `req_DH_params` encrypted to
//!   a trusted key → a `server_DH_params_ok` whose SHA-1 and nonces verify. Success is the
//!   `telegram_authentic` observation; an untrusted key, a bad hash or garbage is
//!   `mtproto_not_telegram`. A plain secret is `weak_secret`.
//! - `fronting` (`ee` secrets): a normal TLS client with SNI = the secret's domain must get a
//!   certificate valid for that domain, else `faketls_no_fronting`.
//! - `replay`: the first flight of a successful handshake, replayed on a new connection,
//!   must not reach the datacenter again, else `mtproto_replay_accepted`.
//!
//! Liveness for an MTProto proxy is the handshake plus `req_pq_multi` → `resPQ`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use super::dial::{self, BoxStream, Credentials, ProxyEndpoint, Target};
use super::mtproto_conn::{ConnError, HandshakeInfo, MtprotoConn};
use super::tls::{TlsPolicy, probe_tls};
use super::{Check, Code, Finding, ProbeResult, Status, TelegramObservation};
use crate::config::Datacenter;
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

/// Audits an MTProto proxy: liveness (handshake + resPQ), `telegram`, `replay`,
/// `fronting`, and `weak_secret`.
pub async fn audit_mtproto(
    proxy: &ProxyEndpoint,
    secret: &MtprotoSecret,
    setup: Option<&TelegramSetup>,
    steps: &Steps<'_>,
    result: &mut ProbeResult,
) {
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
    let (conn, info) =
        match MtprotoConn::handshake(Box::new(stream), secret, dc, step, unix_now()).await {
            Ok(done) => done,
            Err(ConnError::FakeTlsInvalid(reason)) => {
                result.findings.push(Finding::new(
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
                ));
                fronting(proxy, secret, setup, steps, result).await;
                return;
            }
            Err(error) => {
                result.findings.push(handshake_failed(&describe(&error)));
                fronting(proxy, secret, setup, steps, result).await;
                return;
            }
        };
    let mut link = Link::Proxy(Box::new(conn));
    let run_telegram = (steps.runs)(Check::Telegram) && setup.is_some();
    let alive = match setup {
        Some(setup) if run_telegram => match prove_telegram(&mut link, setup, steps).await {
            Exchange::Authentic(observation) => {
                result.observations.telegram = Some(observation);
                true
            }
            Exchange::NotTelegram(evidence) => {
                result.findings.push(Finding::new(
                    Code::MtprotoNotTelegram,
                    Check::Telegram,
                    evidence,
                ));
                true
            }
            Exchange::NoAnswer(reason) => {
                result.findings.push(handshake_failed(&format!(
                    "no answer from a datacenter through the proxy: {reason}"
                )));
                false
            }
        },
        _ => match res_pq_answers(&mut link, dc, step).await {
            Ok(()) => true,
            Err(reason) => {
                result.findings.push(handshake_failed(&format!(
                    "no answer from a datacenter through the proxy: {reason}"
                )));
                false
            }
        },
    };
    if alive {
        result.status = Status::Alive;
        let handshake = started.elapsed();
        result.observations.connect_ms = Some(millis(connect));
        result.observations.handshake_ms = Some(millis(handshake));
        result.latency_ms = Some(millis(connect + handshake));
        if (steps.runs)(Check::Replay) {
            replay(proxy, &info, dc, steps, result).await;
        }
    }
    fronting(proxy, secret, setup, steps, result).await;
}

/// `replay`: the same first flight on a new connection must not reach a datacenter.
async fn replay(
    proxy: &ProxyEndpoint,
    info: &HandshakeInfo,
    dc: i16,
    steps: &Steps<'_>,
    result: &mut ProbeResult,
) {
    let Some(step) = (steps.step)() else {
        return;
    };
    let Ok((stream, _)) = dial::connect(proxy, step).await else {
        return;
    };
    let Ok(conn) = MtprotoConn::replay(Box::new(stream), info, step).await else {
        return;
    };
    let mut link = Link::Proxy(Box::new(conn));
    if res_pq_answers(&mut link, dc, step).await.is_ok() {
        result.findings.push(Finding::new(
            Code::MtprotoReplayAccepted,
            Check::Replay,
            [(
                "reason",
                "a byte-for-byte replay of an earlier handshake reached a datacenter again: \
                 a censor can confirm the proxy by replaying a client's traffic",
            )],
        ));
    }
}

/// `fronting` (`ee` secrets only): a normal TLS client must get the fronted domain's
/// real certificate from the proxy port.
async fn fronting(
    proxy: &ProxyEndpoint,
    secret: &MtprotoSecret,
    setup: Option<&TelegramSetup>,
    steps: &Steps<'_>,
    result: &mut ProbeResult,
) {
    let (Some(domain), Some(setup)) = (secret.faketls_domain(), setup) else {
        return;
    };
    if !(steps.runs)(Check::Fronting) {
        return;
    }
    let Some(step) = (steps.step)() else {
        return;
    };
    let outcome = match dial::connect(proxy, step).await {
        Ok((stream, _)) => probe_tls(stream, domain, &setup.fronting, step).await,
        Err(_) => return,
    };
    if !outcome.valid {
        let leaf = outcome
            .chain
            .first()
            .map_or_else(|| "(none)".to_owned(), |cert| cert.subject.clone());
        result.findings.push(Finding::new(
            Code::FaketlsNoFronting,
            Check::Fronting,
            [
                ("domain", domain.to_owned()),
                ("presented_subject", leaf),
                ("reason", outcome.error.unwrap_or_default()),
            ],
        ));
    }
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
