//! `tls` and `dns`: a TLS handshake to every TLS canary through the proxy, by name (the proxy
//! resolves it). A chain that does not validate for the name against the profile's roots and
//! pins is looked at again by the canary's address, when the profile gives one: foreign by
//! name but real by address is `dns_tampered` (a lying resolver), foreign both ways is
//! `tls_intercepted`; a chain from `rules/interception-cas.toml` is also
//! `known_interception_ca`. When every canary fails without a certificate, twice, the second
//! time by an answer (a reset, an alert, garbage, a refused tunnel), HTTPS does not work
//! through the proxy: `tls_broken`. A canary that timed out twice is inconclusive.

use std::net::SocketAddr;

use super::entry::{EntryState, Probing};
use super::{Step, StepFuture, alive_tunnel};
use crate::config::TlsCanary;
use crate::model::{Check, Code, Finding, ProbeResult, TlsObservation};
use crate::probe::dial::{Credentials, Target};
use crate::probe::tls::{CutOff, TlsOutcome, TlsPolicy, probe_tls};

/// The `tls` step (with `dns`).
pub(crate) struct Tls;

impl Step for Tls {
    fn serves(&self) -> &'static [Check] {
        &[Check::Tls, Check::Dns]
    }

    fn applies(&self, probing: &Probing<'_>, state: &EntryState) -> bool {
        alive_tunnel(probing, state)
    }

    fn run<'a>(&'a self, probing: &'a Probing<'_>, state: &'a mut EntryState) -> StepFuture<'a> {
        Box::pin(tls_canaries(probing, &mut state.result))
    }
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

/// `tls` and `dns` for every TLS canary, then `tls_broken` when no canary could be
/// reached at all.
async fn tls_canaries(probing: &Probing<'_>, result: &mut ProbeResult) {
    let canaries = &probing.context.profile.tls_canaries;
    let mut broken = Vec::new();
    for (canary, policy) in canaries.iter().zip(&probing.context.tls_policies) {
        if let CanaryTls::Broken(reasons) = tls(probing, result, canary, policy).await {
            broken.push((canary.name.clone(), reasons));
        }
    }
    let all_broken = !broken.is_empty() && broken.len() == canaries.len();
    if all_broken && probing.context.options.runs(Check::Tls) {
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
    probing: &Probing<'_>,
    result: &mut ProbeResult,
    canary: &TlsCanary,
    policy: &TlsPolicy,
) -> CanaryTls {
    let options = &probing.context.options;
    let Some(step) = probing.budget.step() else {
        result.inconclusive(Check::Tls, "entry deadline reached");
        return CanaryTls::Judged;
    };
    let by_name = match probing.target(&canary.host, canary.port, step).await {
        Ok(target) => target,
        Err(reason) => {
            result.inconclusive(Check::Tls, format!("{}: {reason}", canary.name));
            return CanaryTls::Judged;
        }
    };
    let named = match name_leg(probing, result, canary, policy, &by_name).await {
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
            tls_leg(probing, result, canary, policy, &target, "address").await
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
    probing: &Probing<'_>,
    result: &mut ProbeResult,
    canary: &TlsCanary,
    policy: &TlsPolicy,
    target: &Target,
) -> NameLeg {
    let mut reasons = Vec::new();
    let mut cut_off = true;
    for leg in ["name", "name (retry)"] {
        let Some(outcome) = tls_leg(probing, result, canary, policy, target, leg).await else {
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
    probing: &Probing<'_>,
    result: &mut ProbeResult,
    canary: &TlsCanary,
    policy: &TlsPolicy,
    target: &Target,
    leg: &str,
) -> Option<TlsOutcome> {
    let step = probing.budget.step()?;
    let outcome = match probing.tunnel(Credentials::AsListed, target, step).await {
        Ok(tunnel) => {
            let step = probing.budget.step()?;
            probe_tls(tunnel.stream, &canary.host, policy, step).await
        }
        // A refused connect or a reset to a proxy that has just worked says nothing;
        // counted with timeouts.
        Err(error) if error.transient() => TlsOutcome::cut_off(error.to_string(), CutOff::TimedOut),
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
