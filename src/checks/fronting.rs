//! `fronting` (`ee` secrets): an ordinary TLS client with SNI = the secret's domain must get,
//! from the proxy's port, a certificate valid for that domain (the proxy "fronts" for the
//! real site), else `faketls_no_fronting`: a censor's probe would see it is no web server. A
//! handshake cut off by a timeout or a reset is tried once more, then left inconclusive.

use super::entry::{EntryState, Probing};
use super::{Step, StepFuture};
use crate::model::{Check, Code, Finding};
use crate::probe::budget::Budget;
use crate::probe::dial::{self, ProxyEndpoint};
use crate::probe::mtproto::TelegramSetup;
use crate::probe::retry::{Attempt, at_most_twice};
use crate::probe::tls::probe_tls;
use crate::proto::mtproto::secret::MtprotoSecret;

/// The `fronting` step.
pub(crate) struct Fronting;

impl Step for Fronting {
    fn serves(&self) -> &'static [Check] {
        &[Check::Fronting]
    }

    fn applies(&self, probing: &Probing<'_>, _: &EntryState) -> bool {
        probing.context.telegram.is_some()
            && probing
                .spec
                .secret
                .as_ref()
                .is_some_and(|secret| secret.faketls_domain().is_some())
    }

    fn run<'a>(&'a self, probing: &'a Probing<'_>, state: &'a mut EntryState) -> StepFuture<'a> {
        Box::pin(async move {
            let (Some(secret), Some(setup)) =
                (&probing.spec.secret, probing.context.telegram.as_ref())
            else {
                return;
            };
            match fronting(&probing.proxy, secret, setup, &probing.budget).await {
                Ending::Holds => {}
                Ending::Fails(finding) => state.result.findings.push(finding),
                Ending::CutOff(reason) => state.result.inconclusive(Check::Fronting, reason),
            }
        })
    }
}

/// How the `fronting` check ended.
enum Ending {
    /// Not an `ee` secret, or the fronted domain's certificate came back.
    Holds,
    /// The port answered an ordinary TLS client with something else.
    Fails(Finding),
    /// Cut off twice by a timeout or a reset (or out of time): no conclusion.
    CutOff(String),
}

/// `fronting` (`ee` secrets only): a normal TLS client must get the fronted domain's
/// real certificate from the proxy port.
async fn fronting(
    proxy: &ProxyEndpoint,
    secret: &MtprotoSecret,
    setup: &TelegramSetup,
    budget: &Budget,
) -> Ending {
    let Some(domain) = secret.faketls_domain() else {
        return Ending::Holds;
    };
    let handshake = at_most_twice(|| async move {
        let Some(step) = budget.step() else {
            return Attempt::CutOff("entry deadline reached".to_owned());
        };
        let stream = match dial::connect(proxy, step).await {
            Ok((stream, _)) => stream,
            Err(error) => return Attempt::CutOff(error.to_string()),
        };
        let outcome = probe_tls(stream, domain, &setup.fronting, step).await;
        if outcome.cut_off.is_some() {
            Attempt::CutOff(outcome.error.unwrap_or_default())
        } else {
            Attempt::Answered(outcome)
        }
    })
    .await;
    let outcome = match handshake {
        Ok(outcome) if outcome.valid => return Ending::Holds,
        Ok(outcome) => outcome,
        Err(reasons) => {
            return Ending::CutOff(format!(
                "a TLS handshake for {domain} with the proxy's port was cut off: {reasons}"
            ));
        }
    };
    let leaf = outcome
        .chain
        .first()
        .map_or_else(|| "(none)".to_owned(), |cert| cert.subject.clone());
    Ending::Fails(Finding::new(
        Code::FaketlsNoFronting,
        [
            ("domain", domain.to_owned()),
            ("presented_subject", leaf),
            ("reason", outcome.error.unwrap_or_default()),
        ],
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use tokio::io::AsyncWriteExt;

    use super::*;
    use crate::config::Datacenter;
    use crate::probe::tls::TlsPolicy;
    use crate::proto::mtproto::rsa::TrustedKeys;
    use crate::proxy::ProxyKind;

    const STEP: Duration = Duration::from_secs(1);

    /// `ee` + 16 key bytes + `site.example`.
    const EE: &str = "ee0123456789abcdef0123456789abcdef736974652e6578616d706c65";

    fn endpoint(addr: &str) -> ProxyEndpoint {
        ProxyEndpoint {
            kind: ProxyKind::Mtproto,
            addr: addr.parse().unwrap(),
            host: "proxy.example".to_owned(),
            username: None,
            password: None,
        }
    }

    /// A port that takes each connection, reads what the client sends, then answers with
    /// `answer` (a reset when `None`); returns its address and a count of connections.
    async fn one_shot_server(
        answer: Option<&'static [u8]>,
    ) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let mut hello = [0u8; 5];
                let _ = tokio::io::AsyncReadExt::read_exact(&mut stream, &mut hello).await;
                match answer {
                    Some(bytes) => {
                        let _ = stream.write_all(bytes).await;
                    }
                    None => {
                        // Linger 0: closing sends a reset instead of a clean end.
                        socket2::SockRef::from(&stream)
                            .set_linger(Some(Duration::ZERO))
                            .unwrap();
                    }
                }
            }
        });
        (addr, accepted)
    }

    async fn fronting_of(addr: std::net::SocketAddr) -> Ending {
        let setup = TelegramSetup {
            dc: Datacenter {
                id: 2,
                address: addr,
            },
            keys: TrustedKeys::default(),
            fronting: TlsPolicy::new(
                Arc::new(rustls::RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                }),
                Vec::new(),
                Arc::new(crate::catalog::interception::InterceptionCas::default()),
            ),
        };
        let budget = Budget::new(STEP * 6, STEP);
        let secret = MtprotoSecret::decode(EE).unwrap();
        fronting(&endpoint(&addr.to_string()), &secret, &setup, &budget).await
    }

    /// Under load a reset can hit any handshake: the fronting handshake is tried again, and a
    /// second reset leaves the check inconclusive instead of accusing an honest proxy.
    #[tokio::test]
    async fn a_fronting_handshake_reset_twice_is_inconclusive_not_a_finding() {
        let (addr, accepted) = one_shot_server(None).await;
        let Ending::CutOff(reason) = fronting_of(addr).await else {
            panic!("a reset must not be a finding");
        };
        assert_eq!(accepted.load(Ordering::SeqCst), 2, "tried once more");
        assert!(reason.contains("reset"), "{reason}");
    }

    /// A port that answers an ordinary TLS client with something that is not the domain's
    /// certificate is observed misbehaviour: the finding, after the one attempt.
    #[tokio::test]
    async fn a_fronting_answer_that_is_not_tls_is_a_finding() {
        let (addr, accepted) = one_shot_server(Some(b"HTTP/1.1 400 Bad Request\r\n\r\n")).await;
        let Ending::Fails(finding) = fronting_of(addr).await else {
            panic!("garbage instead of the site is no fronting");
        };
        assert_eq!(finding.code, Code::FaketlsNoFronting);
        assert_eq!(finding.evidence["domain"], "site.example");
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            1,
            "an answer is not retried"
        );
    }
}
