//! One entry while it is probed: what does not change ([`Probing`]: the proxy, the shared
//! context, the entry's time budget) and what the checks build up ([`EntryState`]: the
//! result, and what liveness left for the checks after it).
//!
//! The helpers here open tunnels and GETs the way every SOCKS/HTTP check needs them, with
//! curl's SOCKS4 convention: `socks4://` resolves names on the auditor's side and sends the
//! address, `socks4a://` sends the name and, refused, the address.

use std::net::SocketAddr;
use std::time::Duration;

use super::context::AuditContext;
use crate::config::{HttpCanary, HttpUrl, TlsCanary};
use crate::model::{Finding, ProbeResult, Status};
use crate::probe::budget::{Budget, millis};
use crate::probe::dial::{Credentials, DialError, ProxyEndpoint, Target, Tunnel, open_tunnel};
use crate::probe::guard;
use crate::probe::http::{Fetched, GetError, HttpResponse, get_through, get_via_proxy};
use crate::probe::mtproto::Exchange;
use crate::probe::mtproto_conn::HandshakeInfo;
use crate::probe::tls::{TlsOutcome, TlsPolicy};
use crate::proxy::{ProxyKind, ProxySpec};

/// An entry being probed: what every check reads and none changes.
pub(crate) struct Probing<'a> {
    /// The entry as listed.
    pub(crate) spec: &'a ProxySpec,
    /// The proxy to dial (the guard has checked its address).
    pub(crate) proxy: ProxyEndpoint,
    /// Profile, options and what was prepared from them.
    pub(crate) context: &'a AuditContext,
    /// The entry's time.
    pub(crate) budget: Budget,
}

/// What the checks of one entry build up, in the order they run.
pub(crate) struct EntryState {
    /// The result so far.
    pub(crate) result: ProbeResult,
    /// What the SOCKS/HTTP liveness request brought back (`credentials` repeats the request
    /// and compares; `content` reuses the page).
    pub(crate) proof: Option<Proof>,
    /// What an MTProto proxy's liveness established (`telegram` reads its exchange, `replay`
    /// replays its first flight). Boxed: the first flight is 2 KiB, and every entry in
    /// flight carries this state, MTProto or not.
    pub(crate) mtproto: Option<Box<MtprotoLive>>,
}

/// The request that shows a SOCKS or HTTP proxy works; `credentials` repeats it with a
/// wrong password.
#[derive(Clone, Copy)]
pub(crate) enum Liveness<'a> {
    /// GET the profile's first HTTP canary.
    Get(&'a HttpCanary),
    /// A TLS handshake with the first TLS canary (for profiles without an HTTP canary).
    Tls(&'a TlsCanary, &'a TlsPolicy),
}

/// What the liveness request brought back, to recognise it when it comes back again.
pub(crate) enum Proof {
    /// The canary's page.
    Page(HttpResponse),
    /// The SHA-256 of the certificate the TLS canary presented.
    Leaf(String),
}

/// An MTProto proxy that completed its handshake and answered through it.
pub(crate) struct MtprotoLive {
    /// The first flight, for `replay`.
    pub(crate) info: HandshakeInfo,
    /// When `telegram` was selected, the authenticity exchange liveness ran on its
    /// connection (a `resPQ` is part of it), for `telegram` to judge.
    pub(crate) exchange: Option<Exchange>,
}

impl Probing<'_> {
    /// The liveness request the profile allows: its first HTTP canary, else its first TLS
    /// canary.
    pub(crate) fn liveness_request(&self) -> Option<Liveness<'_>> {
        let profile = &self.context.profile;
        if let Some(canary) = profile.http_canaries.first() {
            return Some(Liveness::Get(canary));
        }
        profile
            .tls_canaries
            .first()
            .zip(self.context.tls_policies.first())
            .map(|(canary, policy)| Liveness::Tls(canary, policy))
    }

    /// True for proxies that answer HTTP themselves (their error pages are theirs, not an
    /// origin's).
    pub(crate) fn answers_http(&self) -> bool {
        matches!(self.proxy.kind, ProxyKind::Http | ProxyKind::Https)
    }

    /// Where a tunnel to `host:port` leads: an address for IP literals and for SOCKS4,
    /// which resolves names on the auditor's side as curl's `socks4://` does; a name
    /// otherwise. `Err` when the auditor cannot resolve the name for SOCKS4.
    pub(crate) async fn target(
        &self,
        host: &str,
        port: u16,
        step: Duration,
    ) -> Result<Target, String> {
        if let Some(ip) = guard::literal_ip(host) {
            return Ok(Target::Addr(SocketAddr::new(ip, port)));
        }
        if self.proxy.kind == ProxyKind::Socks4 {
            return self.resolved(host, port, step).await;
        }
        Ok(Target::Name(host.to_owned(), port))
    }

    /// `host` resolved by the auditor to an IPv4 address (all SOCKS4 can carry).
    async fn resolved(&self, host: &str, port: u16, step: Duration) -> Result<Target, String> {
        let addresses = self.context.names.resolve(host, step).await?;
        addresses
            .iter()
            .find(|ip| ip.is_ipv4())
            .map(|&ip| Target::Addr(SocketAddr::new(ip, port)))
            .ok_or_else(|| format!("{host} has no IPv4 address, which SOCKS4 needs"))
    }

    /// Opens a tunnel to `target`; a SOCKS4a proxy refusing a name is asked once more with
    /// the address (plenty of SOCKS4 servers, dante among them, do not speak SOCKS4a).
    pub(crate) async fn tunnel(
        &self,
        credentials: Credentials<'_>,
        target: &Target,
        step: Duration,
    ) -> Result<Tunnel, DialError> {
        let first = open_tunnel(&self.proxy, credentials, target, step).await;
        if let (Err(DialError::TargetFailed(_)), Target::Name(host, port), ProxyKind::Socks4a) =
            (&first, target, self.proxy.kind)
        {
            if let (Ok(address), Some(step)) =
                (self.resolved(host, *port, step).await, self.budget.step())
            {
                return open_tunnel(&self.proxy, credentials, &address, step).await;
            }
        }
        first
    }

    /// GETs `url` through the proxy, with the SOCKS4 rules of [`Probing::target`] and
    /// [`Probing::tunnel`].
    pub(crate) async fn get(
        &self,
        credentials: Credentials<'_>,
        url: &HttpUrl,
        step: Duration,
        max_body: usize,
    ) -> Result<Fetched, GetError> {
        if !matches!(self.proxy.kind, ProxyKind::Socks4 | ProxyKind::Socks4a) {
            return get_via_proxy(&self.proxy, credentials, url, step, max_body).await;
        }
        let target = self
            .target(&url.host, url.port, step)
            .await
            .map_err(|reason| GetError::Dial(DialError::TargetFailed(reason)))?;
        let first = get_through(&self.proxy, credentials, url, &target, step, max_body).await;
        if let (Err(GetError::Dial(DialError::TargetFailed(_))), Target::Name(host, port)) =
            (&first, &target)
        {
            if let (Ok(address), Some(step)) =
                (self.resolved(host, *port, step).await, self.budget.step())
            {
                return get_through(&self.proxy, credentials, url, &address, step, max_body).await;
            }
        }
        first
    }

    /// The finding for a failed liveness dial.
    pub(crate) fn dial_finding(&self, error: &DialError) -> Finding {
        let reason = match error {
            DialError::AuthRejected if self.proxy.username.is_some() => {
                "the proxy refuses the username and password in the link".to_owned()
            }
            DialError::AuthRejected => {
                "the proxy asks for a username and password, and the link gives none".to_owned()
            }
            error => error.to_string(),
        };
        Finding::new(error.code(), [("reason", reason)])
    }
}

impl EntryState {
    /// Records the proxy as alive, with its timings.
    pub(crate) fn alive(&mut self, connect: Duration, handshake: Duration) {
        let result = &mut self.result;
        result.status = Status::Alive;
        result.observations.connect_ms = Some(millis(connect));
        result.observations.handshake_ms = Some(millis(handshake));
        result.latency_ms = Some(millis(connect + handshake));
    }
}

/// The SHA-256 of the leaf certificate a handshake presented (empty when none).
pub(crate) fn leaf_sha256(outcome: &TlsOutcome) -> String {
    outcome
        .chain
        .first()
        .map(|cert| cert.sha256.clone())
        .unwrap_or_default()
}
