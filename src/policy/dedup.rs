//! Deduplication: the same proxy shared twice is one entry with two sources.
//!
//! Two items are the same proxy when kind, host (case-insensitive; hosts arrive normalised),
//! port and secret or credentials agree, which is exactly `ProxySpec`'s equality. Measured
//! fields never take part, so re-reading a list gives the same ids.
//!
//! The index stores only entry positions and looks the specs up in the caller's entry list,
//! so a million entries cost a million `usize`s here, not a second copy of every key.

use std::fmt;
use std::hash::BuildHasher;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::proxy::ProxySpec;

/// Positions of the first entry of every distinct proxy, hashed by spec.
#[derive(Debug, Default)]
pub(crate) struct DedupIndex {
    /// Entry positions with their spec's hash (kept so growing the table never has to
    /// revisit the specs); the spec of each lives in the caller's list.
    first_seen: HashTable<(u64, usize)>,
    /// Hasher for specs (foldhash: fast, seeded per run, not DoS-prone).
    hasher: foldhash::fast::RandomState,
    /// Reused buffer for the dedup key of a new entry.
    key: Vec<u8>,
}

/// The outcome of offering a spec to the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seen {
    /// Already present as the entry at this index.
    Before(usize),
    /// New; recorded under the caller's index with this stable id.
    New {
        /// Stable id: 6 bytes of SHA-256 over the dedup key.
        id: EntryId,
    },
}

impl DedupIndex {
    /// Records `spec` as entry `next` unless an equal proxy is already known. `spec_at`
    /// gives the spec of an entry recorded earlier (by the position it was recorded with).
    pub fn insert<'a>(
        &mut self,
        spec: &ProxySpec,
        next: usize,
        spec_at: impl Fn(usize) -> Option<&'a ProxySpec>,
    ) -> Seen {
        let hash = self.hasher.hash_one(spec);
        let same = |&(known_hash, index): &(u64, usize)| {
            known_hash == hash && spec_at(index) == Some(spec)
        };
        match self.first_seen.entry(hash, same, |&(hash, _)| hash) {
            Entry::Occupied(first) => Seen::Before(first.get().1),
            Entry::Vacant(slot) => {
                slot.insert((hash, next));
                self.key.clear();
                spec.feed_dedup_key(|bytes| self.key.extend_from_slice(bytes));
                Seen::New {
                    id: EntryId::of_key(&self.key),
                }
            }
        }
    }

    /// Number of unique proxies recorded.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.first_seen.len()
    }
}

/// A stable entry id: the first 6 bytes of SHA-256 over the spec's dedup key, shown as 12
/// hex digits. Stable across runs and machines, and a hash, so it reveals nothing of the
/// secret or password in the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryId([u8; 6]);

impl EntryId {
    /// The id of `spec`.
    pub fn of(spec: &ProxySpec) -> Self {
        Self::of_key(&spec.dedup_key())
    }

    /// The id of the spec whose [`ProxySpec::dedup_key`] is `key`.
    fn of_key(key: &[u8]) -> Self {
        let digest = Sha256::digest(key);
        let mut id = [0; 6];
        for (to, from) in id.iter_mut().zip(digest.iter()) {
            *to = *from;
        }
        Self(id)
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl Serialize for EntryId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
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
        let mut specs: Vec<ProxySpec> = Vec::new();
        let mut offer = |index: &mut DedupIndex, spec: ProxySpec| {
            let seen = index.insert(&spec, specs.len(), |i| specs.get(i));
            if matches!(seen, Seen::New { .. }) {
                specs.push(spec);
            }
            seen
        };
        let Seen::New { id } = offer(&mut index, spec("a.example", 1080, None)) else {
            panic!("first insert must be new");
        };
        assert_eq!(id.to_string().len(), 12);
        assert_eq!(
            offer(&mut index, spec("a.example", 1080, None)),
            Seen::Before(0)
        );
        assert!(matches!(
            offer(&mut index, spec("a.example", 1081, None)),
            Seen::New { .. }
        ));
        assert!(matches!(
            offer(&mut index, spec("a.example", 1080, Some("u"))),
            Seen::New { .. }
        ));
        assert_eq!(
            offer(&mut index, spec("a.example", 1080, Some("u"))),
            Seen::Before(2)
        );
        assert_eq!(index.len(), 3);
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = spec("a.example", 1080, None);
        assert_eq!(EntryId::of(&a), EntryId::of(&a.clone()));
        assert_ne!(EntryId::of(&a), EntryId::of(&spec("b.example", 1080, None)));
    }

    #[test]
    fn id_is_the_sha256_prefix_of_the_dedup_key() {
        // Pins the id scheme: ids in saved reports and trusted lists must not drift. The
        // value is SHA-256 over the key bytes 01 0438 01 00000009 "a.example" 01 00000000
        // 00 00, computed independently (Python hashlib).
        let a = spec("a.example", 1080, None);
        assert_eq!(EntryId::of(&a).to_string(), "ba58e5ad5a9e");
    }
}
