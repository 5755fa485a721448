//! `secret` (MTProto): the secret's 16 key bytes must not be one published as an example or
//! default (`rules/default-secrets.toml`, whatever the prefix or FakeTLS domain), else
//! `default_secret`: anyone can use the proxy, and a censor can probe for it. Pure: no
//! connection. (It used to also try a made-up key, `accepts_any_secret`; no real server can
//! serve a key it was never given, so only our own lab ever tripped it, and it was retired.)

use super::entry::{EntryState, Probing};
use super::{Step, StepFuture};
use crate::model::{Check, Code, Finding};

/// The `secret` step.
pub(crate) struct Secret;

impl Step for Secret {
    fn serves(&self) -> &'static [Check] {
        &[Check::Secret]
    }

    fn applies(&self, probing: &Probing<'_>, _: &EntryState) -> bool {
        probing.spec.secret.is_some()
    }

    fn run<'a>(&'a self, probing: &'a Probing<'_>, state: &'a mut EntryState) -> StepFuture<'a> {
        Box::pin(async move {
            let Some(secret) = &probing.spec.secret else {
                return;
            };
            if let Some(published) = probing.context.default_secrets.matching(secret) {
                state.result.findings.push(Finding::new(
                    Code::DefaultSecret,
                    [
                        ("published_as", published.name.clone()),
                        ("source", published.source.clone()),
                        (
                            "reason",
                            "the secret's key is one published as an example or default: \
                             anyone can use the proxy, and a censor can probe for it"
                                .to_owned(),
                        ),
                    ],
                ));
            }
        })
    }
}
