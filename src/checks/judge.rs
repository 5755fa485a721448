//! `judge`: what a judge (a page echoing the header fields and the address it received)
//! saw through the proxy, read by [`crate::probe::judge`]: the anonymity level, and
//! `client_ip_leaked` for every place the auditor's own address appeared. The auditor's own
//! addresses and the judge's own header fields are learnt once per run
//! ([`AuditContext`](super::AuditContext)). An answer that cannot be read, or a request cut
//! off twice, is inconclusive.

use super::context::SENT_HEADERS;
use super::entry::{EntryState, Probing};
use super::{Step, StepFuture, alive_tunnel};
use crate::model::{AnonymityObservation, Check, Code, Finding, ProbeResult};
use crate::probe::dial::Credentials;
use crate::probe::http::MAX_BODY;
use crate::probe::judge::{self, JudgeAnswer};
use crate::probe::retry::{Attempt, at_most_twice};

/// The `judge` step.
pub(crate) struct Judge;

impl Step for Judge {
    fn serves(&self) -> &'static [Check] {
        &[Check::Judge]
    }

    fn applies(&self, probing: &Probing<'_>, state: &EntryState) -> bool {
        alive_tunnel(probing, state) && probing.context.profile.judge.is_some()
    }

    fn run<'a>(&'a self, probing: &'a Probing<'_>, state: &'a mut EntryState) -> StepFuture<'a> {
        Box::pin(judge(probing, &mut state.result))
    }
}

/// `judge`: what the judge received through the proxy: the anonymity level, and
/// `client_ip_leaked` for every place the auditor's own address appeared.
async fn judge(probing: &Probing<'_>, result: &mut ProbeResult) {
    let Some(url) = &probing.context.profile.judge else {
        return;
    };
    let baseline = probing.context.judge_baseline().await;
    let answer = at_most_twice(|| async move {
        let Some(step) = probing.budget.step() else {
            return Attempt::CutOff("entry deadline reached".to_owned());
        };
        match probing
            .get(Credentials::AsListed, url, step, MAX_BODY)
            .await
        {
            Ok(fetched) => Attempt::Answered(Ok(fetched.response)),
            Err(error) if error.transient() => Attempt::CutOff(error.to_string()),
            Err(error) => Attempt::Answered(Err(error.to_string())),
        }
    })
    .await;
    let response = match answer {
        Ok(Ok(response)) => response,
        Ok(Err(reason)) => {
            result.inconclusive(
                Check::Judge,
                format!("no answer from the judge through the proxy: {reason}"),
            );
            return;
        }
        Err(reasons) => {
            result.inconclusive(
                Check::Judge,
                format!("the request to the judge was cut off: {reasons}"),
            );
            return;
        }
    };
    if probing.answers_http() && response.status >= 400 {
        result.inconclusive(
            Check::Judge,
            format!("the proxy answered HTTP {} for the judge", response.status),
        );
        return;
    }
    let Some(seen) = JudgeAnswer::parse(&response.body) else {
        result.inconclusive(
            Check::Judge,
            format!(
                "the judge's answer through the proxy ({} bytes, HTTP {}) is in no format \
                 proxy-audit reads (httpbin JSON, azenv, its own)",
                response.body.len(),
                response.status
            ),
        );
        return;
    };
    result.observations.exit_address = seen.exit_address().map(|ip| ip.to_string());
    let own = baseline.own_for(probing.proxy.addr.ip());
    let assessment = judge::assess(&seen, &SENT_HEADERS, &baseline.infrastructure, &own);
    for leak in &assessment.leaks {
        result.findings.push(Finding::new(
            Code::ClientIpLeaked,
            [
                ("header", leak.header.clone()),
                ("value", leak.value.clone()),
                ("address", leak.address.to_string()),
                (
                    "reason",
                    "the judge received the auditor's own address through the proxy".to_owned(),
                ),
            ],
        ));
    }
    result.observations.anonymity = Some(AnonymityObservation {
        level: assessment.level,
        judge_format: seen.format,
        revealing: assessment.revealing,
    });
}
