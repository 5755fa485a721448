//! What the checks of a run share: the options, the profile and what was prepared from it
//! (TLS policies, the Telegram setup, the reference lists), and what is learnt once per run
//! (each HTTP canary's page fetched directly, the auditor as the judge sees it).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use crate::catalog::default_secrets::DefaultSecrets;
use crate::catalog::interception::InterceptionCas;
use crate::config::{HttpCanary, HttpUrl, Profile};
use crate::model::Check;
use crate::policy::address::AddressClass;
use crate::probe::guard::{self, Decision, NameCache, Resolver};
use crate::probe::http::MAX_BODY;
use crate::probe::judge::JudgeAnswer;
use crate::probe::mtproto::TelegramSetup;
use crate::probe::tls::TlsPolicy;
use crate::proto::hex::to_hex;
use crate::proto::mtproto::rsa::{KeyError, TrustedKeys, load_pem};

/// How an audit runs.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Entries probed at once.
    pub concurrency: usize,
    /// Entries of one proxy host probed at once (0: no limit). An entry holds at most one
    /// connection to its proxy at a time, so this bounds the connections too: lists hold
    /// dozens of secrets for one server, and hammering it trips its abuse limits.
    pub per_host: usize,
    /// Longest a single step (connect, handshake, one request) may take.
    pub step_timeout: Duration,
    /// Longest one entry may take, all checks together.
    pub entry_deadline: Duration,
    /// Checks to run (`liveness` always runs).
    pub checks: BTreeSet<Check>,
    /// Probe loopback and private targets too (the lab needs this).
    pub allow_private: bool,
    /// Telegram datacenter the `telegram` check asks for.
    pub dc: i16,
}

impl AuditOptions {
    /// True when `check` was selected.
    pub fn runs(&self, check: Check) -> bool {
        self.checks.contains(&check)
    }
}

/// Everything the checks share: the profile and what was prepared from it.
pub struct AuditContext {
    /// Where the checks point.
    pub profile: Profile,
    /// One TLS policy per TLS canary, in profile order.
    pub(crate) tls_policies: Vec<TlsPolicy>,
    /// How the audit runs.
    pub options: AuditOptions,
    /// Each HTTP canary's page as fetched directly, at most once per run.
    references: Vec<OnceCell<Reference>>,
    /// Datacenter, trusted keys and fronting roots for the MTProto checks (`None` when the
    /// profile has no `[telegram]` table).
    pub(crate) telegram: Option<TelegramSetup>,
    /// Secrets published as examples (the `secret` check).
    pub(crate) default_secrets: DefaultSecrets,
    /// The auditor's resolver (guard, direct fetches), with the FakeTLS domains it has
    /// resolved so far (the `camouflage` check).
    pub(crate) names: NameCache,
    /// Who the auditor is to the judge, learnt once per run (the `judge` check).
    judge_baseline: OnceCell<JudgeBaseline>,
}

/// The rule lists the checks consult (the scoring rules come later, in the verdicts).
#[derive(Debug, Clone, Default)]
pub struct ProbeRules {
    /// Known interception CAs (the `tls` and `fronting` checks).
    pub interception: InterceptionCas,
    /// Secrets published as examples (the `secret` check).
    pub default_secrets: DefaultSecrets,
}

impl ProbeRules {
    /// The built-in lists.
    pub fn built_in() -> Result<Self, crate::config::FileError> {
        Ok(Self {
            interception: InterceptionCas::built_in()?,
            default_secrets: DefaultSecrets::built_in()?,
        })
    }
}

/// Why an audit could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A `[telegram]` key file did not load.
    #[error("telegram key file {file}: {error}")]
    Keys {
        /// The file as named in the profile.
        file: String,
        /// What is wrong with it.
        error: KeyError,
    },
    /// `--dc` names a datacenter the profile does not list.
    #[error("datacenter {0} is not in the profile's [telegram] table")]
    UnknownDc(i16),
}

/// An HTTP canary's page as the canary serves it to a direct request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reference {
    /// The body, whose hash is the profile's.
    Matches(Vec<u8>),
    /// The canary serves something else now (the page changed, or it is down): a
    /// difference through a proxy then says nothing about the proxy.
    Differs(String),
    /// No direct answer (the auditor's own network may block it): the profile's hash
    /// stands alone.
    Unavailable,
}

/// What the auditor is to the judge: learnt once per run from a direct request.
#[derive(Debug, Clone, Default)]
pub(crate) struct JudgeBaseline {
    /// The address the judge saw on the direct request (the auditor's public address).
    direct_address: Option<IpAddr>,
    /// Lower-case names of the fields the judge reported for the direct request beyond
    /// those the auditor sent: the judge's own infrastructure (a CDN's trace id…).
    pub(crate) infrastructure: BTreeSet<String>,
    /// The auditor's interface addresses.
    interfaces: Vec<IpAddr>,
}

impl JudgeBaseline {
    /// The auditor's own addresses as a proxy at `proxy` could see them: the address the
    /// judge saw directly, the public interface addresses, and, for a proxy on a private or
    /// loopback address (a lab, a LAN), the non-public interface addresses too. A remote
    /// proxy writing `127.0.0.1` or `10.0.0.5` names a hop of its own, not the auditor.
    pub(crate) fn own_for(&self, proxy: IpAddr) -> BTreeSet<IpAddr> {
        let near = !AddressClass::of_ip(proxy).is_public();
        self.interfaces
            .iter()
            .copied()
            .filter(|ip| near || AddressClass::of_ip(*ip).is_public())
            .chain(self.direct_address)
            .map(|ip| ip.to_canonical())
            .collect()
    }
}

/// Header fields the auditor sends itself (to a proxy, `Proxy-Authorization` too); anything
/// else the judge saw was added on the way.
pub(crate) const SENT_HEADERS: [&str; 5] = [
    "Host",
    "User-Agent",
    "Accept",
    "Connection",
    "Proxy-Authorization",
];

impl AuditContext {
    /// Prepares the checks for `profile`.
    pub fn new(
        profile: Profile,
        rules: ProbeRules,
        options: AuditOptions,
    ) -> Result<Self, SetupError> {
        let ProbeRules {
            interception,
            default_secrets,
        } = rules;
        let interception = Arc::new(interception);
        let telegram = match &profile.telegram {
            None => None,
            Some(telegram) => {
                let mut keys = TrustedKeys::default();
                for (file, text) in &telegram.rsa_public_keys {
                    let loaded = load_pem(text, file).map_err(|error| SetupError::Keys {
                        file: file.clone(),
                        error,
                    })?;
                    for key in loaded {
                        keys.push(key);
                    }
                }
                let dc = telegram
                    .dcs
                    .iter()
                    .find(|dc| dc.id == options.dc)
                    .copied()
                    .ok_or(SetupError::UnknownDc(options.dc))?;
                Some(TelegramSetup {
                    dc,
                    keys,
                    fronting: TlsPolicy::new(
                        Arc::clone(&telegram.fronting_roots),
                        Vec::new(),
                        Arc::clone(&interception),
                    ),
                })
            }
        };
        let tls_policies = profile
            .tls_canaries
            .iter()
            .map(|canary| {
                TlsPolicy::new(
                    Arc::clone(&canary.roots),
                    canary.spki_sha256.clone(),
                    Arc::clone(&interception),
                )
            })
            .collect();
        let resolver = Resolver {
            static_hosts: profile.hosts.clone(),
        };
        let references = profile
            .http_canaries
            .iter()
            .map(|_| OnceCell::new())
            .collect();
        Ok(Self {
            profile,
            tls_policies,
            names: NameCache::new(resolver),
            options,
            references,
            telegram,
            default_secrets,
            judge_baseline: OnceCell::new(),
        })
    }

    /// Fetches `url` directly (no proxy), through the address guard (a private or loopback
    /// target only with `--allow-private`), following no redirect, at most [`MAX_BODY`]
    /// bytes. Returns the status and the body.
    async fn fetch_direct(&self, url: &HttpUrl) -> Result<(u16, Vec<u8>), String> {
        let step = self.options.step_timeout;
        let resolver = self.names.resolver();
        let addr = match guard::check(
            &url.host,
            url.port,
            self.options.allow_private,
            resolver,
            step,
        )
        .await
        {
            Decision::Allowed { addr, .. } => addr,
            Decision::Refused(finding) | Decision::Unresolvable(finding) => {
                let why: Vec<String> = finding.evidence.into_values().collect();
                return Err(why.join("; "));
            }
        };
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(step)
            .redirect(reqwest::redirect::Policy::none())
            .resolve(&url.host, addr)
            .build()
            .map_err(|error| error.to_string())?;
        let mut response = client
            .get(url.to_string())
            .send()
            .await
            .map_err(|error| error.to_string())?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|error| error.to_string())? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(format!("the answer is longer than {MAX_BODY} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body))
    }

    /// The canary's page as fetched directly, once per run.
    pub(crate) async fn reference(&self, index: usize, canary: &HttpCanary) -> Reference {
        let Some(cell) = self.references.get(index) else {
            return Reference::Unavailable;
        };
        cell.get_or_init(|| async {
            match self.fetch_direct(&canary.url).await {
                Ok((_, body)) => {
                    let digest: [u8; 32] = Sha256::digest(&body).into();
                    if digest == canary.sha256 {
                        Reference::Matches(body)
                    } else {
                        Reference::Differs(to_hex(&digest))
                    }
                }
                Err(_) => Reference::Unavailable,
            }
        })
        .await
        .clone()
    }

    /// Who the auditor is to the judge: its interface addresses, and what a direct request
    /// to the judge shows (the address it comes from, the judge's own header fields).
    pub(crate) async fn judge_baseline(&self) -> &JudgeBaseline {
        self.judge_baseline
            .get_or_init(|| async {
                let interfaces = if_addrs::get_if_addrs()
                    .map(|interfaces| interfaces.iter().map(if_addrs::Interface::ip).collect())
                    .unwrap_or_default();
                let mut baseline = JudgeBaseline {
                    interfaces,
                    ..JudgeBaseline::default()
                };
                let Some(url) = &self.profile.judge else {
                    return baseline;
                };
                if let Some(answer) = self
                    .fetch_direct(url)
                    .await
                    .ok()
                    .and_then(|(_, body)| JudgeAnswer::parse(&body))
                {
                    baseline.direct_address = answer.exit_address();
                    baseline.infrastructure = answer
                        .headers
                        .iter()
                        .map(|(name, _)| name.to_ascii_lowercase())
                        .filter(|name| {
                            !SENT_HEADERS
                                .iter()
                                .any(|sent| sent.eq_ignore_ascii_case(name))
                        })
                        .collect();
                }
                baseline
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(dc: i16) -> AuditOptions {
        AuditOptions {
            concurrency: 1,
            per_host: 4,
            step_timeout: Duration::from_secs(1),
            entry_deadline: Duration::from_secs(6),
            checks: Check::ALL.into_iter().collect(),
            allow_private: false,
            dc,
        }
    }

    /// A loopback listener nothing may connect to.
    fn untouched() -> std::net::TcpListener {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        listener
    }

    /// Panics when a connection is waiting: a fetch that connected did so before it
    /// returned, so its connection is queued by the time this looks.
    fn assert_untouched(listener: &std::net::TcpListener) {
        match listener.accept() {
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("something connected: {other:?}"),
        }
    }

    /// The internet profile with `canaries` (URLs) as its HTTP canaries and `canary.test`
    /// resolving to loopback.
    fn context_with(canaries: &[String], allow_private: bool) -> AuditContext {
        let mut profile = Profile::internet().unwrap();
        profile.http_canaries = canaries
            .iter()
            .map(|url| HttpCanary {
                name: url.clone(),
                url: HttpUrl::parse(url).unwrap(),
                sha256: [0; 32],
            })
            .collect();
        profile
            .hosts
            .insert("canary.test".into(), vec!["127.0.0.1".parse().unwrap()]);
        AuditContext::new(
            profile,
            ProbeRules::built_in().unwrap(),
            AuditOptions {
                allow_private,
                ..options(2)
            },
        )
        .unwrap()
    }

    #[tokio::test]
    async fn reference_canaries_on_reserved_addresses_are_not_contacted() {
        let listener = untouched();
        let port = listener.local_addr().unwrap().port();
        let canaries = [
            format!("http://127.0.0.1:{port}/page"),
            format!("http://canary.test:{port}/page"),
            format!("http://localhost:{port}/page"),
            format!("http://2130706433:{port}/page"),
        ];
        let context = context_with(&canaries, false);
        for (index, canary) in context.profile.http_canaries.iter().enumerate() {
            let error = context.fetch_direct(&canary.url).await.unwrap_err();
            assert!(error.contains("loopback"), "{}: {error}", canary.name);
            assert_eq!(
                context.reference(index, canary).await,
                Reference::Unavailable
            );
        }
        assert_untouched(&listener);
    }

    #[tokio::test]
    async fn reference_fetches_follow_no_redirect() {
        let target = untouched();
        let location = format!("http://{}/page", target.local_addr().unwrap());
        let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let canary = format!("http://{}/page", server.local_addr().unwrap());
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            while let Ok((mut stream, _)) = server.accept().await {
                let mut request = [0; 4096];
                let _ = stream.read(&mut request).await;
                let answer = format!(
                    "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\
                     Connection: close\r\n\r\n"
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            }
        });
        // Loopback is allowed here (the canary server is on it); the redirect is still not
        // followed.
        let context = context_with(&[canary], true);
        let canary = &context.profile.http_canaries[0];
        assert_eq!(
            context.fetch_direct(&canary.url).await,
            Ok((302, Vec::new()))
        );
        assert!(matches!(
            context.reference(0, canary).await,
            Reference::Differs(_)
        ));
        assert_untouched(&target);
    }

    #[test]
    fn internet_profile_trusts_telegrams_production_key_and_asks_dc2() {
        let context = AuditContext::new(
            Profile::internet().unwrap(),
            ProbeRules::built_in().unwrap(),
            options(2),
        )
        .unwrap();
        let telegram = context.telegram.as_ref().unwrap();
        assert_eq!(telegram.dc.address.to_string(), "149.154.167.51:443");
        let production = telegram.keys.get(0xd09d_1d85_de64_fd85).unwrap();
        assert!(!production.test);
        let error = AuditContext::new(
            Profile::internet().unwrap(),
            ProbeRules::built_in().unwrap(),
            options(9),
        )
        .err()
        .unwrap();
        assert!(matches!(error, SetupError::UnknownDc(9)));
    }
}
