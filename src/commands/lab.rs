//! `proxy-audit lab`: starts the lab, writes its list and profile, and runs it until
//! Ctrl-C.

use std::io::{self, Write};
use std::path::Path;

use anyhow::Result;

use super::interrupt_signal;
use super::reports::write_file;
use crate::cli::{Exit, LabArgs};
use crate::lab::{CA_FILE, DC_KEY_FILE, Lab, LabOptions};
use crate::pipeline;

/// `proxy-audit lab`.
pub(super) async fn lab(args: LabArgs) -> Result<Exit> {
    let interrupt = interrupt_signal();
    pipeline::raise_open_files_limit();
    let lab = Lab::start(LabOptions {
        scale: args.scale,
        mtproto_scale: args.mtproto_scale,
        mix: args.mix,
        bind: Some(args.bind),
    })
    .await?;
    if let Some(path) = &args.list_out {
        write_file(path, lab.list().as_bytes())?;
    } else {
        let mut stdout = io::stdout().lock();
        stdout.write_all(lab.list().as_bytes())?;
        stdout.flush()?;
    }
    if let Some(path) = &args.profile_out {
        write_file(path, lab.profile_toml().as_bytes())?;
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        write_file(&dir.join(CA_FILE), lab.ca_pem().as_bytes())?;
        write_file(&dir.join(DC_KEY_FILE), lab.dc_key_pem().as_bytes())?;
    }
    eprintln!(
        "proxy-audit: lab running with {} proxies on {}; Ctrl-C stops it",
        lab.proxies().len(),
        if args.scale > 0 && args.bind != crate::lab::scale::DEFAULT_BIND {
            format!(
                "127.0.0.1 (the {} scaled ones on {})",
                args.scale, args.bind
            )
        } else {
            "127.0.0.1".to_owned()
        }
    );
    lab.run_until(interrupt).await;
    Ok(Exit::Success)
}
