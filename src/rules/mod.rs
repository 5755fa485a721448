//! Rule files and the verdicts they give: scoring, the curated trusted list, the
//! blocklist, and signatures for published trusted lists. (The lists the checks themselves
//! consult, known interception CAs and published MTProto secrets, are in
//! [`crate::catalog`], below the probe.)

pub mod blocklist;
pub mod judge;
pub mod scoring;
pub mod sign;
pub mod trusted;
