//! Integration tests, one binary as the style guide asks: `parse` on the samples, and
//! `audit` against the lab.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

mod audit;
mod hostile;
mod html;
mod interop;
mod interop_servers;
mod layers;
mod parse;
mod publish;
mod rules;
mod support;
