//! Rule files and the verdicts they give: scoring, the curated trusted list, the
//! blocklist, and signatures for published trusted lists. (The lists the checks themselves
//! consult, known interception CAs and published MTProto secrets, are in
//! [`crate::catalog`], below the probe.)
//!
//! - `registry`: the one table of the files a rules folder holds, and the [`RuleSet`]
//!   loaded from it (built in, or `--rules DIR`).
//! - [`verdicts`]: the verdict engine, [`Verdicts`]: score, then the curated lists.
//! - [`scoring`], [`trusted`], [`blocklist`]: one rule file each; [`sign`]: minisign
//!   signatures for published trusted lists.

pub mod blocklist;
pub(crate) mod registry;
pub mod scoring;
pub mod sign;
pub mod trusted;
pub mod verdicts;

pub use registry::{RULE_FILES, RuleFile, RuleSet, RulesError};
pub use verdicts::Verdicts;
