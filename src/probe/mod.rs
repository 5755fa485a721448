//! The probe layer: the only part of the pipeline that touches the network.
//!
//! An entry that passed the address guard is probed by [`runner`], which runs the selected
//! [`Check`]s through the proxy and turns what it saw into [`Observations`] and
//! [`Finding`]s. Everything here is data: a dead or hostile proxy is a result, never an
//! error.
//!
//! - [`dial`]: connect to a proxy and open a tunnel (SOCKS5/4 via tokio-socks, HTTP CONNECT).
//! - [`http`]: one bounded HTTP/1.1 GET through a proxy (origin-form through a tunnel,
//!   absolute-form to an HTTP proxy).
//! - [`tls`]: a rustls handshake that records the presented chain and validates it.
//! - [`guard`]: the address guard (resolution included).
//! - [`judge`]: reading what a proxy judge received, and the anonymity level (pure).
//! - [`mtproto`], [`mtproto_conn`]: the MTProto checks and the connection they run over.
//! - `retry`: one more try for a step cut off by a timeout or a reset; then inconclusive.
//! - [`runner`]: concurrency (with a per-host limit), deadlines, progress, cancellation; the
//!   SOCKS/HTTP checks themselves.
//!
//! A finding needs observed misbehaviour; `docs/FINDINGS.md` lists the evidence each one
//! needs. A check that could not conclude is recorded in
//! [`Observations::inconclusive`], never as a finding.

pub mod dial;
pub mod guard;
pub mod http;
pub mod judge;
pub mod mtproto;
pub mod mtproto_conn;
pub(crate) mod retry;
pub mod runner;
pub mod tls;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// What a probe can check; `--checks` selects them. `liveness` always runs.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// Connect, the proxy handshake, one request to the profile's first HTTP canary.
    Liveness,
    /// A wrong password is refused; no password at all is reported.
    Credentials,
    /// TLS canaries through the proxy keep their real certificates.
    Tls,
    /// Plain-HTTP canaries come back byte for byte.
    Content,
    /// The judge sees no header revealing the client's address.
    Judge,
    /// Names resolved by the proxy lead where addresses do.
    Dns,
    /// Through the proxy, a datacenter proves it holds a Telegram key the profile trusts;
    /// plain MTProto secrets are reported as weak.
    Telegram,
    /// The MTProto secret is not a published default, and a made-up secret of the same mode
    /// is refused.
    Secret,
    /// A FakeTLS proxy shows the fronted domain's real certificate to ordinary TLS clients.
    Fronting,
    /// A FakeTLS proxy's domain resolves to the proxy's own address.
    Camouflage,
    /// A replayed MTProto handshake is refused.
    Replay,
}

impl Check {
    /// Every check, in the order they run.
    pub const ALL: [Self; 11] = [
        Self::Liveness,
        Self::Credentials,
        Self::Tls,
        Self::Content,
        Self::Judge,
        Self::Dns,
        Self::Telegram,
        Self::Secret,
        Self::Fronting,
        Self::Camouflage,
        Self::Replay,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Liveness => "liveness",
            Self::Credentials => "credentials",
            Self::Tls => "tls",
            Self::Content => "content",
            Self::Judge => "judge",
            Self::Dns => "dns",
            Self::Telegram => "telegram",
            Self::Secret => "secret",
            Self::Fronting => "fronting",
            Self::Camouflage => "camouflage",
            Self::Replay => "replay",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing; not a problem by itself.
    Info,
    /// A weakness.
    Low,
    /// A real risk to privacy or availability.
    Medium,
    /// Active misbehaviour.
    High,
    /// Attacks the user's traffic.
    Critical,
    /// The proxy does not work (dead entries).
    Dead,
    /// The entry was not probed (policy).
    Refused,
}

/// Stable finding codes (reports, rules and tests use these names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    /// TCP connect refused or timed out.
    Unreachable,
    /// The port answers, but not as the claimed protocol.
    HandshakeFailed,
    /// The target is loopback, private, link-local or reserved; not probed.
    PrivateAddress,
    /// A TLS canary's certificate through the proxy is not the real one.
    TlsIntercepted,
    /// The substituted chain comes from a known interception CA.
    KnownInterceptionCa,
    /// A plain-HTTP canary's bytes changed through the proxy.
    ContentTampered,
    /// A name resolved by the proxy led somewhere else than its address.
    DnsTampered,
    /// The proxy adds headers revealing the client's address.
    ClientIpLeaked,
    /// A wrong username/password is accepted.
    AcceptsAnyCredentials,
    /// No authentication is required.
    OpenProxy,
    /// Through the proxy, the datacenter fails Telegram's key check.
    MtprotoNotTelegram,
    /// An `ee` secret, but the server's FakeTLS answer does not verify.
    FaketlsInvalid,
    /// A normal TLS client to the port does not reach the fronted domain.
    FaketlsNoFronting,
    /// A replayed handshake is relayed again (active-probing risk).
    MtprotoReplayAccepted,
    /// A plain secret without `dd`/`ee`: easy to detect by DPI.
    WeakSecret,
    /// Retired: a made-up secret of the same mode reached a datacenter. No real MTProto
    /// server can serve a key it was never given, so the check could only fire on our own
    /// lab; the code stays so that old reports still load and rescore.
    AcceptsAnySecret,
    /// The secret is one published as an example or default.
    DefaultSecret,
    /// The FakeTLS domain resolves, but not to the proxy's address.
    FaketlsDomainMismatch,
    /// Every TLS canary failed through the proxy for reasons other than its certificate
    /// (reset, handshake failure, garbage, a refused tunnel), each twice: HTTPS does not work.
    TlsBroken,
    /// The proxy refuses the username and password the link gives (or asks for some the
    /// link does not give).
    CredentialsRejected,
}

impl Code {
    /// Every code, in declaration order.
    pub const ALL: [Self; 20] = [
        Self::Unreachable,
        Self::HandshakeFailed,
        Self::PrivateAddress,
        Self::TlsIntercepted,
        Self::KnownInterceptionCa,
        Self::ContentTampered,
        Self::DnsTampered,
        Self::ClientIpLeaked,
        Self::AcceptsAnyCredentials,
        Self::OpenProxy,
        Self::MtprotoNotTelegram,
        Self::FaketlsInvalid,
        Self::FaketlsNoFronting,
        Self::MtprotoReplayAccepted,
        Self::WeakSecret,
        Self::AcceptsAnySecret,
        Self::DefaultSecret,
        Self::FaketlsDomainMismatch,
        Self::TlsBroken,
        Self::CredentialsRejected,
    ];

    /// True for codes no check reports any more (kept so old reports still load).
    pub fn retired(self) -> bool {
        self == Self::AcceptsAnySecret
    }

    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unreachable => "unreachable",
            Self::HandshakeFailed => "handshake_failed",
            Self::PrivateAddress => "private_address",
            Self::TlsIntercepted => "tls_intercepted",
            Self::KnownInterceptionCa => "known_interception_ca",
            Self::ContentTampered => "content_tampered",
            Self::DnsTampered => "dns_tampered",
            Self::ClientIpLeaked => "client_ip_leaked",
            Self::AcceptsAnyCredentials => "accepts_any_credentials",
            Self::OpenProxy => "open_proxy",
            Self::MtprotoNotTelegram => "mtproto_not_telegram",
            Self::FaketlsInvalid => "faketls_invalid",
            Self::FaketlsNoFronting => "faketls_no_fronting",
            Self::MtprotoReplayAccepted => "mtproto_replay_accepted",
            Self::WeakSecret => "weak_secret",
            Self::AcceptsAnySecret => "accepts_any_secret",
            Self::DefaultSecret => "default_secret",
            Self::FaketlsDomainMismatch => "faketls_domain_mismatch",
            Self::TlsBroken => "tls_broken",
            Self::CredentialsRejected => "credentials_rejected",
        }
    }

    /// The severity a finding with this code has.
    pub fn severity(self) -> Severity {
        match self {
            Self::Unreachable | Self::HandshakeFailed | Self::CredentialsRejected => Severity::Dead,
            Self::PrivateAddress => Severity::Refused,
            Self::TlsIntercepted
            | Self::KnownInterceptionCa
            | Self::ContentTampered
            | Self::MtprotoNotTelegram => Severity::Critical,
            Self::DnsTampered | Self::AcceptsAnyCredentials | Self::FaketlsInvalid => {
                Severity::High
            }
            Self::ClientIpLeaked
            | Self::FaketlsNoFronting
            | Self::MtprotoReplayAccepted
            | Self::TlsBroken
            | Self::AcceptsAnySecret
            | Self::DefaultSecret => Severity::Medium,
            Self::WeakSecret | Self::FaketlsDomainMismatch => Severity::Low,
            Self::OpenProxy => Severity::Info,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Facts backing a finding, as short named strings (shown in reports).
pub type Evidence = BTreeMap<String, String>;

/// One thing found wrong (or worth knowing) about a proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable code.
    pub code: Code,
    /// How bad it is (follows from the code).
    pub severity: Severity,
    /// The check that found it.
    pub check: Check,
    /// What was seen.
    pub evidence: Evidence,
}

impl Finding {
    /// A finding with the code's severity and the given evidence pairs.
    pub fn new<K, V>(code: Code, check: Check, evidence: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            code,
            severity: code.severity(),
            check,
            evidence: evidence
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

/// Outcome of an audit for one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Handshake and the liveness request succeeded.
    Alive,
    /// Unreachable, or not speaking its protocol.
    Dead,
    /// Not probed by policy (e.g. a private address).
    Refused,
    /// Not probed: the run was interrupted, or the kind is not probed yet.
    NotAudited,
}

/// Facts about a certificate presented during a TLS handshake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertFacts {
    /// Subject distinguished name, RFC 4514 style.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// SHA-256 of the DER certificate, lower-case hex.
    pub sha256: String,
    /// SHA-256 of the DER SubjectPublicKeyInfo, lower-case hex.
    pub spki_sha256: String,
}

/// What one TLS canary leg showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsObservation {
    /// Canary name from the profile.
    pub canary: String,
    /// `name` (resolved by the proxy) or `address` (the profile's IP literal).
    pub leg: String,
    /// The chain as presented, leaf first (empty when the handshake never got there).
    pub chain: Vec<CertFacts>,
    /// True when the chain validated for the canary name against the profile's roots and pins.
    pub valid: bool,
    /// Why it did not validate, or why the handshake failed.
    pub error: Option<String>,
    /// Name of the known interception CA the chain matched, if any.
    pub known_ca: Option<String>,
}

/// What one plain-HTTP canary fetch showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpObservation {
    /// Canary name from the profile.
    pub canary: String,
    /// HTTP status code received.
    pub status: Option<u16>,
    /// Body bytes read (at most 1 MiB).
    pub bytes: Option<u64>,
    /// SHA-256 of the body read, lower-case hex.
    pub sha256: Option<String>,
    /// True when the body hash equals the profile's.
    pub matches: bool,
    /// Why the fetch failed.
    pub error: Option<String>,
}

/// Everything seen while probing one entry, whatever it means.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observations {
    /// Addresses the auditor resolved the proxy's host to.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub resolved: Vec<String>,
    /// Milliseconds to open the TCP connection to the proxy.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub connect_ms: Option<u64>,
    /// Milliseconds for the proxy handshake (after connect).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub handshake_ms: Option<u64>,
    /// The exit address the judge saw.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub exit_address: Option<String>,
    /// What the judge showed of the proxy's anonymity.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub anonymity: Option<AnonymityObservation>,
    /// TLS canary legs.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub tls: Vec<TlsObservation>,
    /// Plain-HTTP canary fetches.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub http: Vec<HttpObservation>,
    /// The `telegram` check's proof, when a datacenter answered.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub telegram: Option<TelegramObservation>,
    /// Checks that were selected but do not apply or could not start, with the reason.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub skipped: BTreeMap<String, String>,
    /// Checks that ran but could not conclude (a step failed for a transient reason twice,
    /// the entry's deadline came first, or the answer could not be read), with what was
    /// seen. An entry with an inconclusive check is never `ok`: nothing was found, but not
    /// everything was looked at.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub inconclusive: BTreeMap<Check, String>,
}

/// What the `judge` check showed of a proxy's anonymity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnonymityObservation {
    /// `transparent` (the auditor's own address reached the judge: see the
    /// `client_ip_leaked` findings), `anonymous` (headers show a proxy) or `elite`.
    pub level: judge::Anonymity,
    /// The format the judge answered in.
    pub judge_format: judge::JudgeFormat,
    /// Header fields the proxy added that show a proxy is in the path, as `[name, value]`.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub revealing: Vec<(String, String)>,
}

/// What the `telegram` check saw (`telegram_authentic` when `authentic`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TelegramObservation {
    /// True when the datacenter proved it holds a trusted key: `telegram_authentic`.
    pub authentic: bool,
    /// Datacenter id asked for.
    pub dc: i16,
    /// Fingerprint of the key used, hex (`0x…`), when the server offered a trusted one.
    pub key_fingerprint: Option<String>,
    /// Label of that key in the profile (`production`, `lab`, …).
    pub key_label: Option<String>,
    /// Milliseconds from sending `req_pq_multi` to the verified `server_DH_params_ok`.
    pub rtt_ms: Option<u64>,
    /// Server time reported in `server_DH_inner_data` (Unix seconds).
    pub server_time: Option<i64>,
}

/// The audit of one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// Alive, dead, refused or not audited.
    pub status: Status,
    /// Connect plus handshake, in milliseconds, when the proxy answered.
    pub latency_ms: Option<u64>,
    /// What is wrong or worth knowing.
    pub findings: Vec<Finding>,
    /// What was seen.
    pub observations: Observations,
}

impl ProbeResult {
    /// A result for an entry that was never probed.
    pub fn not_audited(reason: &str) -> Self {
        let mut observations = Observations::default();
        observations
            .skipped
            .insert("all".to_owned(), reason.to_owned());
        Self {
            status: Status::NotAudited,
            latency_ms: None,
            findings: Vec::new(),
            observations,
        }
    }

    /// True when some finding has this code.
    pub fn has(&self, code: Code) -> bool {
        self.findings.iter().any(|finding| finding.code == code)
    }

    /// Records that a selected check does not apply or could not start (the first reason
    /// given is kept).
    pub(crate) fn skip(&mut self, check: Check, reason: &str) {
        self.observations
            .skipped
            .entry(check.name().to_owned())
            .or_insert_with(|| reason.to_owned());
    }

    /// Records that a check ran but could not conclude (the first reason given is kept).
    pub(crate) fn inconclusive(&mut self, check: Check, reason: impl Into<String>) {
        self.observations
            .inconclusive
            .entry(check)
            .or_insert_with(|| reason.into());
    }
}
