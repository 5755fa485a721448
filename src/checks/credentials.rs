//! `credentials`: for a proxy with credentials, the liveness request again with a wrong
//! password; only a request that *succeeds* (the canary's page or certificate comes back) is
//! `accepts_any_credentials`, and any refusal (401, 403, 407, a refused CONNECT, a SOCKS
//! failure, another page) is a refusal. A request cut off twice is inconclusive. A proxy
//! without credentials (or SOCKS4, which has no password) is `open_proxy`.

use std::fmt::Write as _;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::entry::{EntryState, Liveness, Probing, Proof, leaf_sha256};
use super::{Step, StepFuture, alive_tunnel};
use crate::model::{Check, Code, Finding, ProbeResult};
use crate::probe::dial::Credentials as Presented;
use crate::probe::http::MAX_BODY;
use crate::probe::retry::{Attempt, at_most_twice};
use crate::probe::tls::probe_tls;
use crate::proxy::ProxyKind;

/// The `credentials` step.
pub(crate) struct Credentials;

impl Step for Credentials {
    fn serves(&self) -> &'static [Check] {
        &[Check::Credentials]
    }

    fn applies(&self, probing: &Probing<'_>, state: &EntryState) -> bool {
        alive_tunnel(probing, state)
    }

    fn run<'a>(&'a self, probing: &'a Probing<'_>, state: &'a mut EntryState) -> StepFuture<'a> {
        Box::pin(async move {
            let (Some(liveness), Some(proof)) = (probing.liveness_request(), &state.proof) else {
                return;
            };
            credentials(probing, &mut state.result, liveness, proof).await;
        })
    }
}

/// `credentials`: with credentials, a wrong password must not get the liveness request
/// through; without, the proxy is open. Any refusal (401, 403, 407, a refused CONNECT,
/// a SOCKS failure, a page that is not the canary's) is a refusal.
async fn credentials(
    probing: &Probing<'_>,
    result: &mut ProbeResult,
    liveness: Liveness<'_>,
    proof: &Proof,
) {
    let Some(username) = probing.proxy.username.as_deref() else {
        result.findings.push(Finding::new(
            Code::OpenProxy,
            [("reason", "no username or password is required")],
        ));
        return;
    };
    if matches!(probing.proxy.kind, ProxyKind::Socks4 | ProxyKind::Socks4a) {
        // SOCKS4 has a user id but no password: there is nothing to get wrong.
        result.findings.push(Finding::new(
            Code::OpenProxy,
            [("reason", "SOCKS4 has no password")],
        ));
        return;
    }
    let wrong = wrong_password(probing.proxy.password.as_deref());
    let credentials = Presented::Override {
        username,
        password: &wrong,
    };
    let answer = at_most_twice(|| async move {
        let Some(step) = probing.budget.step() else {
            return Attempt::CutOff("entry deadline reached".to_owned());
        };
        liveness_again(probing, liveness, credentials, step).await
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
    probing: &Probing<'_>,
    liveness: Liveness<'_>,
    credentials: Presented<'_>,
    step: Duration,
) -> Attempt<Option<Proof>> {
    match liveness {
        Liveness::Get(canary) => {
            match probing.get(credentials, &canary.url, step, MAX_BODY).await {
                Ok(fetched) => Attempt::Answered(Some(Proof::Page(fetched.response))),
                Err(error) if error.transient() => Attempt::CutOff(error.to_string()),
                Err(_) => Attempt::Answered(None),
            }
        }
        Liveness::Tls(canary, policy) => {
            let target = match probing.target(&canary.host, canary.port, step).await {
                Ok(target) => target,
                Err(reason) => return Attempt::CutOff(reason),
            };
            let tunnel = match probing.tunnel(credentials, &target, step).await {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_password_differs_from_the_right_one() {
        let wrong = wrong_password(Some("secret"));
        assert_ne!(wrong, "secret");
        assert!(wrong.starts_with("wrong-") && wrong.len() == 18, "{wrong}");
    }
}
