//! Policy: what is done with entries before any probe — address classes, whether a
//! destination may be contacted at all (shared by the probe's guard and the list fetcher),
//! and deduplication.

pub mod address;
pub(crate) mod dedup;
pub mod destination;
