//! proxy-audit: audits the proxy lists people share in Telegram channels.
//!
//! # Layout
//! The pipeline, in the order data flows:
//!
//! - [`ingest`]: reads inputs (links, free text, Telegram exports, JSON, CSV) into entries
//!   and rejected items, accounting for every proxy-looking thing.
//! - [`policy`]: address classes for the probe's guard; deduplication.
//! - [`proxy`]: what a proxy is (kind, endpoint, credentials), links in and out.
//! - [`proto`]: pure protocol encodings (MTProto secrets so far).
//! - [`report`]: output formats fed by one set of serde types.
//! - [`cli`]: the command line as typed; [`run`]: the commands it runs; [`output`]: files
//!   that appear whole or not at all.

pub mod catalog;
pub mod cli;
pub mod config;
pub mod ingest;
pub mod lab;
pub mod model;
pub mod output;
pub mod policy;
pub mod probe;
pub mod proto;
pub mod proxy;
pub mod report;
pub mod rules;
pub mod run;
