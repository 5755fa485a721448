//! `liveness` (always runs): does the proxy work as the proxy it claims to be?
//!
//! - SOCKS/HTTP: connect, the proxy handshake, one GET of the profile's first HTTP canary (a
//!   profile without one: a TLS handshake with its first TLS canary). An HTTP proxy answering
//!   with its own 4xx/5xx page does not work; a proxy refusing the link's credentials is
//!   `credentials_rejected`. What came back is kept for `credentials` and `content`.
//! - MTProto: connect, the obfuscated2 or FakeTLS handshake, and one exchange through it:
//!   `req_pq_multi` → `resPQ`, or, when `telegram` is selected, the whole authenticity
//!   exchange (which starts with it), left for `telegram` to judge. A FakeTLS answer that does
//!   not verify is `faketls_invalid`.
//!
//! Liveness is not retried: a dead verdict accuses nobody, and retrying every blackhole
//! would double what a dead list costs.

use tokio::time::Instant;

use super::entry::{EntryState, Liveness as Request, MtprotoLive, Probing, Proof, leaf_sha256};
use super::{Step, StepFuture};
use crate::model::{Check, Code, Finding, Status};
use crate::probe::dial::{self, Credentials};
use crate::probe::http::{GetError, MAX_BODY};
use crate::probe::mtproto::{Exchange, Link, describe, prove_telegram, res_pq_answers, unix_now};
use crate::probe::mtproto_conn::{ConnError, MtprotoConn};
use crate::probe::tls::probe_tls;
use crate::proto::mtproto::secret::MtprotoSecret;

/// The `liveness` step.
pub(crate) struct Liveness;

impl Step for Liveness {
    fn serves(&self) -> &'static [Check] {
        &[Check::Liveness]
    }

    fn applies(&self, _: &Probing<'_>, _: &EntryState) -> bool {
        true
    }

    fn run<'a>(&'a self, probing: &'a Probing<'_>, state: &'a mut EntryState) -> StepFuture<'a> {
        // Each kind's future is boxed on its own: a future is as large as its largest
        // branch, and a SOCKS entry should not pay for the MTProto exchange's state.
        match &probing.spec.secret {
            Some(secret) => Box::pin(mtproto(probing, secret, state)),
            None => Box::pin(tunnel(probing, state)),
        }
    }
}

/// A SOCKS or HTTP proxy: the liveness request through it.
async fn tunnel(probing: &Probing<'_>, state: &mut EntryState) {
    let result = &mut state.result;
    let Some(request) = probing.liveness_request() else {
        result.status = Status::NotAudited;
        result.skip(
            Check::Liveness,
            "the profile has neither an HTTP nor a TLS canary to try a SOCKS or HTTP proxy with",
        );
        return;
    };
    let Some(step) = probing.budget.step() else {
        result.inconclusive(Check::Liveness, "entry deadline reached");
        return;
    };
    let proof = match request {
        Request::Get(canary) => {
            match probing
                .get(Credentials::AsListed, &canary.url, step, MAX_BODY)
                .await
            {
                Ok(fetched) if probing.answers_http() && fetched.response.status >= 400 => {
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
                    state.alive(fetched.connect, fetched.handshake);
                    Proof::Page(fetched.response)
                }
                Err(GetError::Dial(error)) => {
                    result.findings.push(probing.dial_finding(&error));
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
        Request::Tls(canary, policy) => {
            let target = match probing.target(&canary.host, canary.port, step).await {
                Ok(target) => target,
                Err(reason) => {
                    result.status = Status::NotAudited;
                    result.skip(Check::Liveness, &reason);
                    return;
                }
            };
            let tunnel = match probing.tunnel(Credentials::AsListed, &target, step).await {
                Ok(tunnel) => tunnel,
                Err(error) => {
                    result.findings.push(probing.dial_finding(&error));
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
            state.alive(connect, handshake);
            Proof::Leaf(leaf_sha256(&outcome))
        }
    };
    state.proof = Some(proof);
}

/// An MTProto proxy: the handshake and one exchange through it.
async fn mtproto(probing: &Probing<'_>, secret: &MtprotoSecret, state: &mut EntryState) {
    let setup = probing.context.telegram.as_ref();
    let dc = setup.map_or(2, |setup| setup.dc.id);
    let result = &mut state.result;
    let Some(step) = probing.budget.step() else {
        return;
    };
    let (stream, connect) = match dial::connect(&probing.proxy, step).await {
        Ok(connected) => connected,
        Err(error) => {
            result
                .findings
                .push(Finding::new(error.code(), [("reason", error.to_string())]));
            return;
        }
    };
    let Some(step) = probing.budget.step() else {
        return;
    };
    let started = Instant::now();
    let handshake = MtprotoConn::handshake(Box::new(stream), secret, dc, step, unix_now()).await;
    let (conn, info) = match handshake {
        Ok(done) => done,
        Err(ConnError::FakeTlsInvalid(reason)) => {
            result.findings.push(Finding::new(
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
            ));
            return;
        }
        Err(error) => {
            result.findings.push(handshake_failed(&describe(&error)));
            return;
        }
    };
    let mut link = Link::Proxy(Box::new(conn));
    let answered = match setup {
        Some(setup) if probing.context.options.runs(Check::Telegram) => {
            match prove_telegram(&mut link, setup, &probing.budget).await {
                Exchange::NoAnswer(reason) => Err(reason),
                // Any other ending had a valid resPQ: the proxy reached a datacenter.
                exchange => Ok(Some(exchange)),
            }
        }
        _ => res_pq_answers(&mut link, dc, step).await.map(|()| None),
    };
    drop(link);
    match answered {
        Ok(exchange) => {
            state.alive(connect, started.elapsed());
            state.mtproto = Some(Box::new(MtprotoLive { info, exchange }));
        }
        Err(reason) => result.findings.push(handshake_failed(&format!(
            "no answer from a datacenter through the proxy: {reason}"
        ))),
    }
}

/// A `handshake_failed` finding.
fn handshake_failed(reason: &str) -> Finding {
    Finding::new(Code::HandshakeFailed, [("reason", reason.to_owned())])
}
