//! `proxy-audit rules check DIR`: every rule file of the registry and every profile in
//! `DIR`, every error printed with its file and line.

use std::path::Path;

use crate::cli::Exit;
use crate::rules::registry::check_folder;

/// `proxy-audit rules check DIR`: exit 0 when every file is valid, 2 otherwise.
pub(super) fn check(dir: &Path) -> Exit {
    let check = check_folder(dir);
    for problem in &check.problems {
        eprintln!("{problem}");
    }
    if check.problems.is_empty() {
        println!(
            "{} rule files in {} are valid",
            check.checked,
            dir.display()
        );
        Exit::Success
    } else {
        eprintln!(
            "{} of {} rule files have errors",
            check.problems.len(),
            check.checked
        );
        Exit::InputError
    }
}
