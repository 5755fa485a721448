//! What is known before any probing: the reference lists the checks consult while they run.
//!
//! - [`interception`]: TLS interception CAs (`rules/interception-cas.toml`), matched against
//!   the chains a proxy presents.
//! - [`default_secrets`]: MTProto secrets published as examples or defaults
//!   (`rules/default-secrets.toml`).
//!
//! They sit below the probe in the dependency order (`docs/ARCHITECTURE.md`): the checks read
//! them, and the rule files that turn findings into verdicts ([`crate::rules`]) come after.

pub mod default_secrets;
pub mod interception;
