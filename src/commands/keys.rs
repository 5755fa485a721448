//! `proxy-audit keygen` and `proxy-audit verify`: the minisign key pair that signs trusted
//! lists, and checking a signed list (its signature, and how old it is).

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::reports::{signature_path_for, write_file};
use crate::cli::{Exit, KeygenArgs, VerifyArgs};
use crate::output::AtomicFile;
use crate::rules::sign::{self, ListStamp};

/// `proxy-audit verify`: the signature, then the age the signed comment gives (`--max-age`
/// rejects a list older than that, or one that does not say).
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
    let file = args.file.display();
    let comment = match sign::verify(&data, &signature, &key) {
        Ok(comment) => comment,
        Err(error) => {
            eprintln!("proxy-audit: {file}: signature BAD: {error}");
            return Ok(Exit::Rejected);
        }
    };
    let Some(stamp) = ListStamp::parse(&comment) else {
        println!("{file}: signature good; its signed comment gives no creation time: {comment}");
        if args.max_age.is_some() {
            eprintln!("proxy-audit: {file}: its age cannot be told, so --max-age rejects it");
            return Ok(Exit::Rejected);
        }
        return Ok(Exit::Success);
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let age = now.saturating_sub(stamp.created);
    println!(
        "{file}: signature good; created {} ({}), sequence {}",
        rfc3339(stamp.created),
        describe_age(age),
        stamp.sequence
    );
    if let Some(max) = args.max_age {
        if age > i64::try_from(max.as_secs()).unwrap_or(i64::MAX) {
            eprintln!(
                "proxy-audit: {file}: the list is stale: signed {} ago, more than --max-age {}",
                span(age),
                span(i64::try_from(max.as_secs()).unwrap_or(i64::MAX))
            );
            return Ok(Exit::Rejected);
        }
    }
    Ok(Exit::Success)
}

/// Unix seconds as RFC 3339 (UTC), or the number itself when out of range.
fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("Unix time {unix}"))
}

/// `3 h 12 min ago`, or how far ahead of this clock a future time is.
fn describe_age(age: i64) -> String {
    if age < 0 {
        format!("{} in the future of this machine's clock", span(-age))
    } else {
        format!("{} ago", span(age))
    }
}

/// A number of seconds in the two largest units: `2 d 4 h`, `3 h 12 min`, `45 s`.
fn span(seconds: i64) -> String {
    let (days, hours) = (seconds / 86_400, seconds % 86_400 / 3_600);
    let (minutes, secs) = (seconds % 3_600 / 60, seconds % 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{secs} s"),
        (0, 0, _) => format!("{minutes} min {secs} s"),
        (0, _, _) => format!("{hours} h {minutes} min"),
        _ => format!("{days} d {hours} h"),
    }
}

/// `proxy-audit keygen`: a new minisign key pair. Neither file is replaced unless
/// `--force`; the secret key is readable by its owner only.
pub(super) fn keygen(args: &KeygenArgs) -> Result<Exit> {
    if !args.force {
        for path in [&args.public_key, &args.secret_key] {
            if path.symlink_metadata().is_ok() {
                bail!(
                    "{} exists: keygen does not replace a key file without --force",
                    path.display()
                );
            }
        }
    }
    let password = std::env::var("PROXY_AUDIT_KEY_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    let (public, secret) = sign::generate_keypair(password.as_deref())?;
    let path = &args.secret_key;
    let cannot = || format!("cannot write {}", path.display());
    let mut file = AtomicFile::create_private(path).with_context(cannot)?;
    file.write_all(secret.as_bytes()).with_context(cannot)?;
    if args.force {
        file.commit().with_context(cannot)?;
    } else {
        // Created, never replaced: a key that appeared since the check above stays.
        file.commit_new().with_context(|| {
            format!(
                "cannot write {} (an existing key is never replaced without --force)",
                path.display()
            )
        })?;
    }
    write_public_key(&args.public_key, &public, args.force)?;
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

/// Writes the public key: replacing a file only when `force`.
fn write_public_key(path: &Path, text: &str, force: bool) -> Result<()> {
    if force {
        return write_file(path, text.as_bytes());
    }
    let cannot = || {
        format!(
            "cannot write {} (an existing key is never replaced without --force)",
            path.display()
        )
    };
    let mut file = AtomicFile::create(path).with_context(cannot)?;
    file.write_all(text.as_bytes()).with_context(cannot)?;
    file.commit_new().with_context(cannot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_in_their_two_largest_units() {
        assert_eq!(span(45), "45 s");
        assert_eq!(span(125), "2 min 5 s");
        assert_eq!(span(3 * 3_600 + 12 * 60 + 9), "3 h 12 min");
        assert_eq!(span(2 * 86_400 + 4 * 3_600 + 59), "2 d 4 h");
        assert_eq!(
            describe_age(-30),
            "30 s in the future of this machine's clock"
        );
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
