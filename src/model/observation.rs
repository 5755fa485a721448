//! What a probe observed of one entry, and its status: the evidence every verdict is a pure
//! function of (a saved report can be re-scored offline from these).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Anonymity, Check, Code, Finding, JudgeFormat};

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

impl Status {
    /// The snake_case name (JSON).
    pub fn name(self) -> &'static str {
        match self {
            Self::Alive => "alive",
            Self::Dead => "dead",
            Self::Refused => "refused",
            Self::NotAudited => "not_audited",
        }
    }

    /// The words human reports use.
    pub fn label(self) -> &'static str {
        match self {
            Self::Alive => "alive",
            Self::Dead => "dead",
            Self::Refused => "refused",
            Self::NotAudited => "not audited",
        }
    }
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
    pub level: Anonymity,
    /// The format the judge answered in.
    pub judge_format: JudgeFormat,
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
