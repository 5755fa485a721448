//! Deduplication: the same proxy shared twice is one entry with two sources.
//!
//! Two items are the same proxy when kind, host (case-insensitive; hosts arrive normalised),
//! port and secret or credentials agree ([`ProxySpec::dedup_key`]). Measured fields never
//! take part, so re-reading a list gives the same ids.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::proxy::ProxySpec;

/// Dedup key → position of the first entry with that key.
#[derive(Debug, Default)]
pub struct DedupIndex {
    /// Keys seen so far, each with the index of the entry that owns it.
    first_seen: HashMap<Vec<u8>, usize, foldhash::fast::RandomState>,
}

/// The outcome of offering a spec to the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Already present as the entry at this index.
    Before(usize),
    /// New; recorded under the caller's index with this stable id.
    New {
        /// Stable id: 12 hex digits of SHA-256 over the dedup key.
        id: String,
    },
}

impl DedupIndex {
    /// Records `spec` as entry `next` unless an equal proxy is already known.
    pub fn insert(&mut self, spec: &ProxySpec, next: usize) -> Seen {
        match self.first_seen.entry(spec.dedup_key()) {
            Entry::Occupied(first) => Seen::Before(*first.get()),
            Entry::Vacant(slot) => {
                let id = stable_id(slot.key());
                slot.insert(next);
                Seen::New { id }
            }
        }
    }

    /// Number of unique proxies recorded.
    pub fn len(&self) -> usize {
        self.first_seen.len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.first_seen.is_empty()
    }
}

/// 12 hex digits of SHA-256 over the key: stable across runs and machines, and a hash, so
/// it reveals nothing of the secret or password in the key.
pub fn stable_id(key: &[u8]) -> String {
    let digest = Sha256::digest(key);
    let mut id = String::with_capacity(12);
    for byte in digest.iter().take(6) {
        let _ = write!(id, "{byte:02x}");
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::ProxyKind;

    fn spec(host: &str, port: u16, user: Option<&str>) -> ProxySpec {
        ProxySpec {
            kind: ProxyKind::Socks5,
            host: host.into(),
            port,
            secret: None,
            username: user.map(str::to_owned),
            password: None,
        }
    }

    #[test]
    fn same_proxy_is_seen_before_and_keeps_first_index() {
        let mut index = DedupIndex::default();
        let Seen::New { id } = index.insert(&spec("a.example", 1080, None), 0) else {
            panic!("first insert must be new");
        };
        assert_eq!(id.len(), 12);
        assert_eq!(
            index.insert(&spec("a.example", 1080, None), 7),
            Seen::Before(0)
        );
        assert!(matches!(
            index.insert(&spec("a.example", 1081, None), 1),
            Seen::New { .. }
        ));
        assert!(matches!(
            index.insert(&spec("a.example", 1080, Some("u")), 2),
            Seen::New { .. }
        ));
        assert_eq!(index.len(), 3);
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        assert_eq!(stable_id(b"x"), stable_id(b"x"));
        assert_ne!(stable_id(b"x"), stable_id(b"y"));
    }
}
