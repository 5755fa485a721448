//! The checks: one module per check, each a `Step` in `REGISTRY`, which the audit of an
//! entry runs in order. The scheduler ([`crate::probe::runner`]) decides when an entry runs;
//! this module decides what auditing it means.
//!
//! For one entry: the address guard, then every registered step that was selected
//! (`--checks`; liveness always runs) and applies to the entry (its kind, whether liveness
//! found it alive). A step reads what earlier ones left in `EntryState` (the liveness
//! request's answer, the MTProto handshake) and adds findings and observations. When the
//! entry's deadline has passed, a step that would have run is recorded as inconclusive.
//!
//! | step | module | applies to |
//! |---|---|---|
//! | liveness | `liveness` | every entry |
//! | credentials | `credentials` | SOCKS/HTTP, alive |
//! | content | `content` | SOCKS/HTTP, alive |
//! | tls, dns | `tls` | SOCKS/HTTP, alive |
//! | judge | `judge` | SOCKS/HTTP, alive |
//! | telegram | `telegram` | MTProto; SOCKS5 alive |
//! | secret | `secret` | MTProto |
//! | replay | `replay` | MTProto, alive |
//! | fronting | `fronting` | MTProto `ee` |
//! | camouflage | `camouflage` | MTProto `ee` |
//!
//! Adding a check: a variant in [`crate::model::Check`], a module here implementing `Step`,
//! and its line in `REGISTRY` (a test holds the registry and `Check::ALL` to each other).

mod camouflage;
mod content;
mod context;
mod credentials;
mod entry;
mod fronting;
mod judge;
mod liveness;
mod replay;
mod secret;
mod telegram;
mod tls;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use context::{AuditContext, AuditOptions, ProbeRules, SetupError};
pub(crate) use entry::{EntryState, Probing};

use crate::ingest::Entry;
use crate::model::{Check, Observations, ProbeResult, Status};
use crate::probe::budget::Budget;
use crate::probe::dial::ProxyEndpoint;
use crate::probe::guard::{self, Decision};
use crate::probe::runner::{Limits, run_entries};
use crate::proxy::{ProxyKind, ProxySpec};

/// A future a step returns (boxed: an async fn's state is as large as its largest await, and
/// every entry in flight holds one, so without the boxes a liveness-only audit would pay for
/// the biggest check's buffers on each of its `--concurrency` tasks).
pub(crate) type StepFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// One check: which `--checks` names select it, whether it applies to an entry, and how it
/// runs.
pub(crate) trait Step: Sync {
    /// The checks it serves; the first names it. Selecting any of them runs it.
    fn serves(&self) -> &'static [Check];

    /// Whether it has anything to do for this entry, given what ran before it.
    fn applies(&self, probing: &Probing<'_>, state: &EntryState) -> bool;

    /// Runs it on one entry.
    fn run<'a>(&'a self, probing: &'a Probing<'_>, state: &'a mut EntryState) -> StepFuture<'a>;
}

/// Every check, in the order an entry's checks run.
pub(crate) static REGISTRY: &[&dyn Step] = &[
    &liveness::Liveness,
    &credentials::Credentials,
    &content::Content,
    &tls::Tls,
    &judge::Judge,
    &telegram::Telegram,
    &secret::Secret,
    &replay::Replay,
    &fronting::Fronting,
    &camouflage::Camouflage,
];

/// True for SOCKS and HTTP entries that liveness found alive: the checks through a tunnel.
fn alive_tunnel(probing: &Probing<'_>, state: &EntryState) -> bool {
    probing.spec.kind != ProxyKind::Mtproto
        && state.result.status == Status::Alive
        && state.proof.is_some()
}

/// Runs the audit of `entries` (see `crate::probe::runner::run_entries`): at most
/// `--concurrency` at once, at most `--per-host` of one host at once, each result handed to
/// `on_result(index, result)` as it is ready. Returns true when `shutdown` interrupted it.
pub async fn run<F>(
    entries: &[Entry],
    context: Arc<AuditContext>,
    shutdown: F,
    on_result: impl FnMut(usize, ProbeResult),
) -> bool
where
    F: Future<Output = ()>,
{
    let limits = Limits {
        concurrency: context.options.concurrency,
        per_host: context.options.per_host,
    };
    let audit_one = |spec: ProxySpec| {
        let context = Arc::clone(&context);
        async move { audit(&spec, &context).await }
    };
    run_entries(entries, limits, audit_one, shutdown, on_result).await
}

/// Audits one entry: the guard, then every selected step that applies, in order.
pub async fn audit(spec: &ProxySpec, context: &AuditContext) -> ProbeResult {
    let options = &context.options;
    let budget = Budget::new(options.entry_deadline, options.step_timeout);
    let mut state = EntryState {
        result: ProbeResult {
            status: Status::Dead,
            latency_ms: None,
            findings: Vec::new(),
            observations: Observations::default(),
        },
        proof: None,
        mtproto: None,
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
            state.result.observations.resolved = resolved.iter().map(ToString::to_string).collect();
            addr
        }
        Decision::Refused(finding) => {
            state.result.status = Status::Refused;
            state.result.findings.push(finding);
            return state.result;
        }
        Decision::Unresolvable(finding) => {
            state.result.findings.push(finding);
            return state.result;
        }
    };
    let probing = Probing {
        spec,
        proxy: ProxyEndpoint {
            kind: spec.kind,
            addr,
            host: spec.host.clone(),
            username: spec.username.clone(),
            password: spec.password.clone(),
        },
        context,
        budget,
    };
    for step in REGISTRY {
        let serves = step.serves();
        let selected = serves
            .iter()
            .any(|check| *check == Check::Liveness || options.runs(*check));
        if !selected || !step.applies(&probing, &state) {
            continue;
        }
        if probing.budget.step().is_none() {
            for check in serves.iter().filter(|check| options.runs(**check)) {
                state.result.inconclusive(*check, "entry deadline reached");
            }
            continue;
        }
        step.run(&probing, &mut state).await;
    }
    state.result
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_is_served_by_exactly_one_registered_step() {
        let mut served: Vec<Check> = REGISTRY
            .iter()
            .flat_map(|step| step.serves().iter().copied())
            .collect();
        served.sort();
        let mut all = Check::ALL.to_vec();
        all.sort();
        assert_eq!(served, all);
        assert_eq!(
            REGISTRY.first().map(|step| step.serves()),
            Some(&[Check::Liveness][..])
        );
    }
}
