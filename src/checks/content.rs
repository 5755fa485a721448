//! `content`: every plain-HTTP canary comes back byte for byte (the first one is the page
//! liveness already fetched). A difference is `content_tampered` with the sizes, the first
//! differing offset and a snippet; an HTTP proxy's own 4xx/5xx page, a canary that itself now
//! serves other bytes to a direct request, or a fetch cut off twice are inconclusive.

use sha2::{Digest, Sha256};

use super::context::Reference;
use super::entry::{EntryState, Probing, Proof};
use super::{Step, StepFuture, alive_tunnel};
use crate::config::HttpCanary;
use crate::model::{Check, Code, Finding, HttpObservation, ProbeResult};
use crate::probe::dial::Credentials;
use crate::probe::http::{HttpResponse, MAX_BODY};
use crate::probe::retry::{Attempt, at_most_twice};
use crate::proto::hex::to_hex;

/// The `content` step.
pub(crate) struct Content;

impl Step for Content {
    fn serves(&self) -> &'static [Check] {
        &[Check::Content]
    }

    fn applies(&self, probing: &Probing<'_>, state: &EntryState) -> bool {
        alive_tunnel(probing, state)
    }

    fn run<'a>(&'a self, probing: &'a Probing<'_>, state: &'a mut EntryState) -> StepFuture<'a> {
        Box::pin(async move {
            let Some(proof) = &state.proof else {
                return;
            };
            content(probing, &mut state.result, proof).await;
        })
    }
}

/// `content`: every HTTP canary comes back byte for byte.
async fn content(probing: &Probing<'_>, result: &mut ProbeResult, proof: &Proof) {
    for (index, canary) in probing.context.profile.http_canaries.iter().enumerate() {
        let fetched;
        let response = match proof {
            Proof::Page(first) if index == 0 => Ok(first),
            _ => {
                fetched = at_most_twice(|| async move {
                    let Some(step) = probing.budget.step() else {
                        return Attempt::CutOff("entry deadline reached".to_owned());
                    };
                    match probing
                        .get(Credentials::AsListed, &canary.url, step, MAX_BODY)
                        .await
                    {
                        Ok(fetched) => Attempt::Answered(Ok(fetched.response)),
                        Err(error) if error.transient() => Attempt::CutOff(error.to_string()),
                        Err(error) => Attempt::Answered(Err(error.to_string())),
                    }
                })
                .await;
                match &fetched {
                    Ok(Ok(response)) => Ok(response),
                    Ok(Err(reason)) => Err(reason.clone()),
                    Err(reasons) => Err(format!("cut off: {reasons}")),
                }
            }
        };
        match response {
            Ok(response) => compare_page(probing, result, index, canary, response).await,
            Err(error) => {
                result.observations.http.push(HttpObservation {
                    canary: canary.name.clone(),
                    status: None,
                    bytes: None,
                    sha256: None,
                    matches: false,
                    error: Some(error.clone()),
                });
                result.inconclusive(
                    Check::Content,
                    format!("{}: no page through the proxy: {error}", canary.name),
                );
            }
        }
    }
}

/// Compares one canary's page as it came through the proxy with the profile's hash.
async fn compare_page(
    probing: &Probing<'_>,
    result: &mut ProbeResult,
    index: usize,
    canary: &HttpCanary,
    response: &HttpResponse,
) {
    let body = &response.body;
    let digest: [u8; 32] = Sha256::digest(body).into();
    let matches = digest == canary.sha256;
    result.observations.http.push(HttpObservation {
        canary: canary.name.clone(),
        status: Some(response.status),
        bytes: Some(body.len() as u64),
        sha256: Some(to_hex(&digest)),
        matches,
        error: None,
    });
    if matches {
        return;
    }
    if probing.answers_http() && response.status >= 400 {
        // An error page of the proxy's own: it refused or failed, it did not rewrite.
        result.inconclusive(
            Check::Content,
            format!(
                "{}: the proxy answered HTTP {} instead of the page",
                canary.name, response.status
            ),
        );
        return;
    }
    let reference = probing.context.reference(index, canary).await;
    if let Reference::Differs(direct) = &reference {
        result.inconclusive(
            Check::Content,
            format!(
                "{}: the page differs through the proxy, but the canary itself now serves \
                 other bytes to a direct request (SHA-256 {direct}), so the difference \
                 says nothing about the proxy",
                canary.name
            ),
        );
        return;
    }
    let mut evidence = vec![
        ("canary", canary.name.clone()),
        ("url", canary.url.to_string()),
        ("expected_sha256", to_hex(&canary.sha256)),
        ("received_sha256", to_hex(&digest)),
        ("received_bytes", body.len().to_string()),
    ];
    if response.truncated {
        evidence.push((
            "truncated",
            format!("the body went on past the {MAX_BODY}-byte cap; reading stopped there"),
        ));
    }
    if let Reference::Matches(reference) = &reference {
        evidence.push(("expected_bytes", reference.len().to_string()));
        let offset = first_difference(reference, body);
        evidence.push(("first_difference_at", offset.to_string()));
        evidence.push(("received_snippet", snippet(body, offset)));
    }
    result
        .findings
        .push(Finding::new(Code::ContentTampered, evidence));
}

/// The first byte offset where `a` and `b` differ (the shorter length when one is a prefix).
fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or_else(|| a.len().min(b.len()))
}

/// Up to 60 bytes of `body` from a little before `offset`, escaped for a report.
fn snippet(body: &[u8], offset: usize) -> String {
    let start = offset.saturating_sub(10);
    let end = (start + 60).min(body.len());
    let part = body.get(start..end).unwrap_or_default();
    part.escape_ascii().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn difference_offsets_and_snippets() {
        assert_eq!(first_difference(b"success\n", b"success\n<script>"), 8);
        assert_eq!(first_difference(b"abc", b"abd"), 2);
        assert_eq!(snippet(b"success\n<script>", 8), "success\\n<script>");
    }
}
