//! MTProto exchanges through a proxy, for the checks ([`crate::checks`]): a framed [`Link`]
//! to a datacenter (through an MTProto proxy, or plain framing down a SOCKS5 tunnel), and
//! the authenticity exchange over it.
//!
//! `prove_telegram`: `req_pq_multi` → `resPQ` (our nonce echoed) → `req_DH_params`
//! encrypted to a key the profile trusts → a `server_DH_params_ok` whose SHA-1 and nonces
//! verify ([Creating an authorization key](https://core.telegram.org/mtproto/auth_key)).
//! Every failure says whether it was cut off (a timeout, a reset: [`LinkError::transient`])
//! or an answer, so that only answers become findings.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use super::budget::Budget;
use super::dial::{self, BoxStream};
use super::mtproto_conn::{ConnError, MtprotoConn};
use super::tls::TlsPolicy;
use crate::config::Datacenter;
use crate::model::TelegramObservation;
use crate::proto::mtproto::auth::{AuthClient, AuthError};
use crate::proto::mtproto::rsa::TrustedKeys;
use crate::proto::mtproto::tl::{client_message_id, decode_plain, encode_plain};
use crate::proto::mtproto::transport::{FrameDecoder, Framing};

/// Largest MTProto answer read (a `server_DH_params_ok` is under 1 KiB).
pub(crate) const MAX_ANSWER: usize = 64 * 1024;

/// What the MTProto checks need from the profile.
pub(crate) struct TelegramSetup {
    /// The datacenter asked (`--dc`, DC 2 by default).
    pub dc: Datacenter,
    /// Keys whose holders are Telegram.
    pub keys: TrustedKeys,
    /// Roots a fronted domain's certificate must chain to.
    pub fronting: TlsPolicy,
}

/// A framed channel to a datacenter.
pub enum Link {
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
pub struct LinkError {
    /// What happened, for the evidence.
    pub reason: String,
    /// Cut off by a timeout or a reset (worth one retry), rather than an answer.
    pub transient: bool,
}

impl LinkError {
    /// A failure that is an answer of sorts: garbage, a close, a malformed frame.
    pub fn answer(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            transient: false,
        }
    }

    /// A failure that says nothing about the far end: a timeout, a reset.
    pub(crate) fn cut_off(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            transient: true,
        }
    }

    /// From a connection error of an MTProto proxy link.
    pub fn of(error: &ConnError) -> Self {
        match error {
            ConnError::Timeout | ConnError::Io(_) => Self::cut_off(describe(error)),
            _ => Self::answer(describe(error)),
        }
    }

    /// From an I/O error on a plain tunnel.
    pub(crate) fn of_io(error: &std::io::Error) -> Self {
        if dial::is_transient(error.kind()) {
            Self::cut_off(dial::io_reason(error))
        } else {
            Self::answer(dial::io_reason(error))
        }
    }
}

impl Link {
    /// Sends one transport frame.
    pub async fn send(&mut self, payload: &[u8], step: Duration) -> Result<(), LinkError> {
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
    pub(crate) async fn recv(&mut self, step: Duration) -> Result<Vec<u8>, LinkError> {
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
pub(crate) enum Exchange {
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
pub async fn ask(
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
pub(crate) async fn res_pq_answers(link: &mut Link, dc: i16, step: Duration) -> Result<(), String> {
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
pub(crate) async fn prove_telegram(
    link: &mut Link,
    setup: &TelegramSetup,
    budget: &Budget,
) -> Exchange {
    let Some(step) = budget.step() else {
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
    let Some(step) = budget.step() else {
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
pub(crate) fn auth_evidence(error: &AuthError, step: &str) -> Vec<(&'static str, String)> {
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

/// A connection error in a sentence.
pub(crate) fn describe(error: &ConnError) -> String {
    match error {
        ConnError::Io(reason) | ConnError::Protocol(reason) => reason.clone(),
        ConnError::Timeout => "timed out".to_owned(),
        ConnError::FakeTlsInvalid(reason) => format!("FakeTLS answer invalid: {reason}"),
        ConnError::Closed => "the proxy closed the connection".to_owned(),
    }
}

/// Seconds since 1970 (0 if the clock is before it), as MTProto and FakeTLS use.
pub(crate) fn unix_now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}
