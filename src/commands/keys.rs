//! `proxy-audit keygen` and `proxy-audit verify`: the minisign key pair that signs trusted
//! lists, and checking a signed list.

use std::io::Write;

use anyhow::{Context, Result};

use super::reports::{signature_path_for, write_file};
use crate::cli::{Exit, KeygenArgs, VerifyArgs};
use crate::output::AtomicFile;
use crate::rules::sign;

/// `proxy-audit verify`.
pub(super) fn verify(args: &VerifyArgs) -> Result<Exit> {
    let data = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let signature_path = args
        .signature
        .clone()
        .unwrap_or_else(|| signature_path_for(&args.file));
    let signature = std::fs::read_to_string(&signature_path)
        .with_context(|| format!("cannot read {}", signature_path.display()))?;
    let key = std::fs::read_to_string(&args.key)
        .with_context(|| format!("cannot read {}", args.key.display()))?;
    match sign::verify(&data, &signature, &key) {
        Ok(()) => {
            println!("{}: signature good", args.file.display());
            Ok(Exit::Success)
        }
        Err(error) => {
            eprintln!(
                "proxy-audit: {}: signature BAD: {error}",
                args.file.display()
            );
            Ok(Exit::Rejected)
        }
    }
}

/// `proxy-audit keygen`: a new minisign key pair. The secret key is created, never
/// overwritten, and readable by its owner only.
pub(super) fn keygen(args: &KeygenArgs) -> Result<Exit> {
    let password = std::env::var("PROXY_AUDIT_KEY_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    let (public, secret) = sign::generate_keypair(password.as_deref())?;
    let path = &args.secret_key;
    let cannot = || format!("cannot write {}", path.display());
    let mut file = AtomicFile::create_private(path).with_context(cannot)?;
    file.write_all(secret.as_bytes()).with_context(cannot)?;
    file.commit_new().with_context(|| {
        format!(
            "cannot write {} (an existing key is never replaced)",
            path.display()
        )
    })?;
    write_file(&args.public_key, public.as_bytes())?;
    eprintln!(
        "wrote {} (public) and {} (secret{})",
        args.public_key.display(),
        path.display(),
        if password.is_some() {
            ", encrypted"
        } else {
            ", not encrypted"
        }
    );
    Ok(Exit::Success)
}
