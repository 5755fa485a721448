//! Rule files and the verdicts they give: known interception CAs, published (default)
//! MTProto secrets, scoring, the curated trusted list, the blocklist, and signatures for
//! published trusted lists.

pub mod blocklist;
pub mod default_secrets;
pub mod interception;
pub mod judge;
pub mod scoring;
pub mod sign;
pub mod trusted;
