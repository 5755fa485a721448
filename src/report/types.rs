//! The serde output types every report format is fed from.
//!
//! # The `parse` JSON document (`schema_version` 1)
//!
//! ```json
//! {
//!   "schema_version": 1,
//!   "summary": {"inputs": 1, "entries": 2, "duplicates": 1, "rejected": 1, "ignored": 4},
//!   "inputs": [{"input": "list.txt", "format": "text", "entries": 2, "duplicates": 1,
//!               "rejected": 1, "ignored": 4, "error": null}],
//!   "entries": [{
//!     "id": "3f9a0c12d4e5", "kind": "mtproto", "host": "1.2.3.4", "port": 443,
//!     "secret": "ee…", "secret_mode": "ee", "faketls_domain": "google.com",
//!     "username": null, "password": null, "address_class": "public",
//!     "link": "tg://proxy?server=1.2.3.4&port=443&secret=ee…",
//!     "source": {"input": "list.txt", "location": "line 3"},
//!     "duplicates": [{"input": "list.txt", "location": "lines 7-9"}]
//!   }],
//!   "rejected": [{"source": {"input": "list.txt", "location": "line 5"},
//!                 "text": "tg://proxy?server=…&port=70000…",
//!                 "reason": "port \"70000\" out of range 1-65535", "reason_code": "bad_port"}]
//! }
//! ```
//!
//! `kind` is one of `mtproto|socks5|socks4|http|https`; `location` is `line N`, `lines A-B`
//! or a JSON path such as `messages[3].text_entities[1]`. Secrets and passwords appear in
//! full: this document is meant to be read back (the audit report's `--redact` replaces them
//! with keyed fingerprints, and adds `secret_sha256` to MTProto entries: see
//! `docs/report-schema.md`). The summary satisfies
//! `entries + duplicates + rejected` = proxy-looking items found.

use serde::{Deserialize, Serialize};

use crate::ingest::{Counts, Entry, InputFormat, InputReport, Inventory, Rejected, Source};
use crate::policy::address::AddressClass;
use crate::proto::mtproto::secret::{MtprotoSecret, SecretMode};
use crate::proxy::ProxyKind;

/// Version of the JSON layout; bumped on any incompatible change.
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// The whole `parse` report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ParseReport {
    /// Layout version, see [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Totals over all inputs.
    pub summary: Summary,
    /// One line per input: format read and what it contributed.
    pub inputs: Vec<InputOut>,
    /// Unique proxies, in the order first seen.
    pub entries: Vec<EntryOut>,
    /// Items that looked like proxies but could not be read.
    pub rejected: Vec<RejectedOut>,
}

/// Totals: `entries + duplicates + rejected` accounts for every proxy-looking item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Inputs named on the command line.
    pub inputs: u64,
    /// Unique proxies.
    pub entries: u64,
    /// Repeats of an earlier entry.
    pub duplicates: u64,
    /// Proxy-looking items refused.
    pub rejected: u64,
    /// Lines or values with nothing proxy-like.
    pub ignored: u64,
}

/// One input's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputOut {
    /// As named by the user.
    pub input: String,
    /// Format it was read as.
    pub format: InputFormat,
    /// What it contributed.
    #[serde(flatten)]
    pub counts: Counts,
    /// Why it could not be read, if it could not.
    pub error: Option<String>,
}

/// One unique proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryOut {
    /// Stable id (hash of the dedup key).
    pub id: String,
    /// Protocol.
    pub kind: ProxyKind,
    /// Normalised host.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// MTProto secret, lower-case hex.
    pub secret: Option<String>,
    /// `plain`, `dd` or `ee`.
    pub secret_mode: Option<SecretMode>,
    /// Domain a FakeTLS secret imitates.
    pub faketls_domain: Option<String>,
    /// Only in a redacted report: SHA-256 (hex) of the real secret's 16 key bytes, the form
    /// the trusted list and the blocklist compare (`secret` then holds a fingerprint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_sha256: Option<String>,
    /// SOCKS/HTTP username.
    pub username: Option<String>,
    /// SOCKS/HTTP password.
    pub password: Option<String>,
    /// Class of the target address.
    pub address_class: AddressClass,
    /// Normalised link.
    pub link: String,
    /// Where first seen.
    pub source: Source,
    /// Where seen again.
    pub duplicates: Vec<Source>,
    /// The text as first written, when it was one line (the cleaned list reuses it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_written: Option<String>,
}

/// One refused item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedOut {
    /// Where it was.
    pub source: Source,
    /// The text as found.
    pub text: String,
    /// Human reason.
    pub reason: String,
    /// Stable snake_case code of the reason.
    pub reason_code: String,
}

impl EntryOut {
    /// The output form of an entry of `inventory`.
    pub fn of(entry: &Entry, inventory: &Inventory) -> Self {
        let spec = &entry.spec;
        let secret = spec.secret.as_ref();
        Self {
            id: entry.id.to_string(),
            kind: spec.kind,
            host: spec.host.clone(),
            port: spec.port,
            secret: secret.map(MtprotoSecret::to_hex),
            secret_mode: secret.map(MtprotoSecret::mode),
            faketls_domain: secret
                .and_then(MtprotoSecret::faketls_domain)
                .map(str::to_owned),
            secret_sha256: None,
            username: spec.username.clone(),
            password: spec.password.clone(),
            address_class: entry.address_class,
            link: spec.to_link(),
            source: entry.source.clone(),
            duplicates: entry.duplicates.clone(),
            as_written: inventory.as_written(entry).map(str::to_owned),
        }
    }
}

impl From<&Rejected> for RejectedOut {
    fn from(rejected: &Rejected) -> Self {
        Self {
            source: rejected.source.clone(),
            text: rejected.text.clone(),
            reason: rejected.reason.to_string(),
            reason_code: rejected.reason.code().to_owned(),
        }
    }
}

impl From<&InputReport> for InputOut {
    fn from(input: &InputReport) -> Self {
        Self {
            input: input.name.to_string(),
            format: input.format,
            counts: input.counts.clone(),
            error: input.error.clone(),
        }
    }
}

impl Summary {
    /// Totals of an inventory.
    pub fn of(inventory: &Inventory) -> Self {
        let totals = inventory.totals();
        Self {
            inputs: inventory.inputs.len() as u64,
            entries: totals.entries,
            duplicates: totals.duplicates,
            rejected: totals.rejected,
            ignored: totals.ignored,
        }
    }
}

impl ParseReport {
    /// The report for an inventory.
    pub fn of(inventory: &Inventory) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            summary: Summary::of(inventory),
            inputs: inventory.inputs.iter().map(InputOut::from).collect(),
            entries: inventory
                .entries
                .iter()
                .map(|entry| EntryOut::of(entry, inventory))
                .collect(),
            rejected: inventory.rejected.iter().map(RejectedOut::from).collect(),
        }
    }
}
