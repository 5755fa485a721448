//! Policy: what is done with entries before any probe — address classes for the guard, and
//! deduplication.

pub mod address;
pub(crate) mod dedup;
