//! `telegram`: does the far end hold a Telegram key the profile trusts?
//!
//! - Through an MTProto proxy, liveness already ran the authenticity exchange on its
//!   connection ([`crate::probe::mtproto::prove_telegram`]); this step judges it. Cut off
//!   after a valid `resPQ` (a timeout, a reset), it is tried once more on a new connection,
//!   then left inconclusive. A plain secret (no `dd`/`ee`) is also `weak_secret` here.
//! - Through a SOCKS5 proxy: a tunnel to the datacenter's address, plain intermediate
//!   framing, the same proof. A proxy that refuses the tunnel is noted under `skipped`.
//!
//! A verified `server_DH_params_ok` is the `telegram_authentic` observation; an untrusted
//! key, a bad hash or garbage is `mtproto_not_telegram`.

use tokio::io::AsyncWriteExt;

use super::entry::{EntryState, Probing};
use super::{Step, StepFuture};
use crate::model::{Check, Code, Finding, ProbeResult, Status};
use crate::probe::budget::Budget;
use crate::probe::dial::{self, Credentials, ProxyEndpoint, Target};
use crate::probe::mtproto::{
    Exchange, Link, MAX_ANSWER, TelegramSetup, describe, prove_telegram, unix_now,
};
use crate::probe::mtproto_conn::MtprotoConn;
use crate::probe::retry::{Attempt, at_most_twice};
use crate::proto::mtproto::secret::{MtprotoSecret, SecretMode};
use crate::proto::mtproto::transport::{FrameDecoder, Framing};
use crate::proxy::ProxyKind;

/// The `telegram` step.
pub(crate) struct Telegram;

impl Step for Telegram {
    fn serves(&self) -> &'static [Check] {
        &[Check::Telegram]
    }

    fn applies(&self, probing: &Probing<'_>, state: &EntryState) -> bool {
        match probing.spec.kind {
            ProxyKind::Mtproto => true,
            ProxyKind::Socks5 => {
                state.result.status == Status::Alive && probing.context.telegram.is_some()
            }
            _ => false,
        }
    }

    fn run<'a>(&'a self, probing: &'a Probing<'_>, state: &'a mut EntryState) -> StepFuture<'a> {
        Box::pin(async move {
            let Some(setup) = probing.context.telegram.as_ref() else {
                if let Some(secret) = &probing.spec.secret {
                    weak(secret, &mut state.result);
                }
                return;
            };
            match &probing.spec.secret {
                Some(secret) => {
                    weak(secret, &mut state.result);
                    let exchange = state.mtproto.as_mut().and_then(|live| live.exchange.take());
                    if let Some(exchange) = exchange {
                        let exchange = match exchange {
                            Exchange::CutOff(first) => {
                                match prove_again(&probing.proxy, secret, setup, &probing.budget)
                                    .await
                                {
                                    Exchange::NoAnswer(second) | Exchange::CutOff(second) => {
                                        Exchange::CutOff(format!("{first}; on the retry: {second}"))
                                    }
                                    exchange => exchange,
                                }
                            }
                            exchange => exchange,
                        };
                        record_exchange(exchange, &mut state.result, &[]);
                    }
                }
                None => {
                    socks_telegram(&probing.proxy, setup, &probing.budget, &mut state.result).await;
                }
            }
        })
    }
}

/// `weak_secret` for a plain secret.
fn weak(secret: &MtprotoSecret, result: &mut ProbeResult) {
    if secret.mode() == SecretMode::Plain {
        result.findings.push(Finding::new(
            Code::WeakSecret,
            [(
                "reason",
                "a plain secret (no dd/ee prefix): its traffic pattern is easy for DPI to \
                 recognise",
            )],
        ));
    }
}

/// Records what a `telegram` exchange showed: the proof, the finding, or, cut off, an
/// inconclusive check.
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

/// The `telegram` proof once more, on a new connection through the proxy.
async fn prove_again(
    proxy: &ProxyEndpoint,
    secret: &MtprotoSecret,
    setup: &TelegramSetup,
    budget: &Budget,
) -> Exchange {
    let Some(step) = budget.step() else {
        return Exchange::CutOff("entry deadline reached".to_owned());
    };
    let stream = match dial::connect(proxy, step).await {
        Ok((stream, _)) => stream,
        Err(error) => return Exchange::CutOff(error.to_string()),
    };
    let Some(step) = budget.step() else {
        return Exchange::CutOff("entry deadline reached".to_owned());
    };
    match MtprotoConn::handshake(Box::new(stream), secret, setup.dc.id, step, unix_now()).await {
        Ok((conn, _)) => prove_telegram(&mut Link::Proxy(Box::new(conn)), setup, budget).await,
        Err(error) => Exchange::CutOff(describe(&error)),
    }
}

/// The `telegram` check for a SOCKS5 proxy: a tunnel to the datacenter's address, plain
/// intermediate framing, the same proof as through an MTProto proxy. A proxy that refuses
/// the tunnel is noted under `skipped`; one cut off twice leaves the check inconclusive.
async fn socks_telegram(
    proxy: &ProxyEndpoint,
    setup: &TelegramSetup,
    budget: &Budget,
    result: &mut ProbeResult,
) {
    let exchange = at_most_twice(|| async move {
        let Some(step) = budget.step() else {
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
        match prove_telegram(&mut link, setup, budget).await {
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
