//! Rule files: known interception CAs (and, later, trusted lists, blocklists, scoring).

pub mod interception;
pub mod scoring;
