//! The vocabulary every layer shares, and nothing else: checks, finding codes with their
//! catalogue row (severity, sentence, default weight, the check that raises them),
//! findings, verdicts, and what a probe observed.
//!
//! The bottom of the dependency order (see `docs/ARCHITECTURE.md`): this module imports
//! nothing of the crate. The types derive serde because they *are* the report's JSON (one
//! shape, documented in `docs/report-schema.md`); the command line's adapters live in
//! [`crate::cli`].

mod anonymity;
mod check;
mod finding;
mod observation;
mod verdict;

pub use anonymity::{Anonymity, JudgeFormat};
pub use check::Check;
pub use finding::{Code, CodeInfo, Evidence, Finding, Severity};
pub use observation::{
    AnonymityObservation, CertFacts, HttpObservation, Observations, ProbeResult, Status,
    TelegramObservation, TlsObservation,
};
pub use verdict::Verdict;
