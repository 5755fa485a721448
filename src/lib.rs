//! proxy-audit: audits the proxy lists people share in Telegram channels.
//!
//! # Layout
//! The layers, bottom first; a module uses only its own layer and the ones before it
//! (`tests/it/layers.rs` checks it):
//!
//! - [`model`]: the vocabulary every layer shares (checks, finding codes, verdicts,
//!   observations).
//! - [`proto`]: pure protocol encodings (MTProto secrets, FakeTLS, HTTP heads).
//! - [`proxy`]: what a proxy is (kind, endpoint, credentials), links in and out.
//! - [`config`]: profiles (where the checks point) and rule-file errors.
//! - [`policy`]: address classes for the probe's guard; deduplication.
//! - [`ingest`]: reads inputs (links, free text, Telegram exports, JSON, CSV) into entries
//!   and rejected items, accounting for every proxy-looking thing.
//! - [`catalog`]: the lists the checks consult (interception CAs, published secrets).
//! - [`lab`]: honest and malicious proxies on loopback, for the demo and the tests.
//! - [`probe`]: the network primitives and the scheduler; [`checks`]: what auditing an
//!   entry means, one module per check.
//! - [`rules`]: the rule-file registry, scoring and the verdict engine, signatures.
//! - [`report`]: output formats fed by one set of serde types.
//! - [`pipeline`]: ingest → policy → probe → score → report as library calls that print
//!   nothing.
//! - `output`: files that appear whole or not at all.
//! - [`commands`]: each command checks its arguments, calls the pipeline and prints;
//!   [`cli`]: the command line as typed, and the exit codes.
//!
//! # Using the library
//!
//! A program audits a list the way the `audit` command does, through [`pipeline`]: read the
//! inputs into an [`Inventory`], describe the run with an [`AuditRequest`] (a [`Profile`],
//! a [`RuleSet`], [`AuditOptions`]) and get an [`AuditReport`] back; [`Events`] hears about
//! progress, or [`Silent`] ignores it. `examples/audit_list.rs` audits the built-in [`Lab`]
//! in about thirty lines (`cargo run --example audit_list`).

pub mod catalog;
pub mod checks;
pub mod cli;
pub mod commands;
pub mod config;
pub mod ingest;
pub mod lab;
pub mod model;
mod output;
pub mod pipeline;
pub mod policy;
pub mod probe;
pub mod proto;
pub mod proxy;
pub mod report;
pub mod rules;

pub use checks::AuditOptions;
pub use config::Profile;
pub use ingest::{IngestOptions, Inventory};
pub use lab::{Lab, LabOptions};
pub use pipeline::{AuditRequest, Events, Silent};
pub use report::audit::AuditReport;
pub use rules::RuleSet;
