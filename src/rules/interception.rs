//! Known interception CAs (`rules/interception-cas.toml`). (Stub: being written.)

use crate::probe::CertFacts;

/// The loaded list.
#[derive(Debug, Clone, Default)]
pub struct InterceptionCas {
    /// Entries.
    pub cas: Vec<InterceptionCa>,
}

/// One known interception CA.
#[derive(Debug, Clone, Default)]
pub struct InterceptionCa {
    /// Name shown in findings.
    pub name: String,
}

impl InterceptionCas {
    /// The name of the first entry any certificate of `chain` matches.
    pub fn matches(&self, chain: &[CertFacts]) -> Option<&str> {
        let _ = chain;
        None
    }
}
