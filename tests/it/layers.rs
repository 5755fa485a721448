//! The dependency order of `docs/ARCHITECTURE.md`, enforced: no module may name a module of
//! a layer above its own (`crate::…` paths in code, tests included; comments do not count).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The layers, bottom first. A module may use its own layer and the ones before it.
const LAYERS: &[&[&str]] = &[
    &["model"],
    &["proto"],
    &["proxy"],
    &["config"],
    &["policy"],
    &["ingest"],
    &["catalog"],
    &["lab"],
    &["probe"],
    &["checks"],
    &["rules"],
    &["report"],
    &["pipeline"],
    &["output"],
    &["commands", "cli"],
];

/// Modules held to fewer layers than their place allows: the lab speaks the protocols
/// through `proto` only, so a bug in the prober cannot hide behind a matching bug in the lab.
const ONLY: &[(&str, &[&str])] = &[("lab", &["model", "proto", "proxy", "config"])];

/// The layer of a top-level module (`None`: not a module of the library, e.g. `main.rs`).
fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a line of code names as `crate::x` or `crate::{x, y::…}`.
fn named_modules(line: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            // `crate::{a, b::c, d::{e, f}}`: the first identifier of each top-level item.
            let mut depth = 0;
            let mut item_start = true;
            let mut ident = String::new();
            for ch in group.chars() {
                match ch {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_alphanumeric() || c == '_') => ident.push(c),
                    _ if item_start && !ident.is_empty() => {
                        names.insert(std::mem::take(&mut ident));
                        item_start = false;
                    }
                    _ => {}
                }
            }
            if !ident.is_empty() {
                names.insert(ident);
            }
        } else {
            let ident: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !ident.is_empty() {
                names.insert(ident);
            }
        }
        rest = after;
    }
    names
}

#[test]
fn no_module_uses_a_layer_above_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    let mut unplaced = BTreeSet::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let module = first.to_str().unwrap().trim_end_matches(".rs").to_owned();
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(own) = layer_of(&module) else {
            unplaced.insert(module);
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for named in named_modules(code) {
                let narrowed = ONLY.iter().find(|(narrow, _)| *narrow == module);
                if let Some((_, allowed)) = narrowed {
                    if named != module && !allowed.contains(&named.as_str()) {
                        violations.push(format!(
                            "{}:{}: {module} uses {named}; it may use only {allowed:?}",
                            relative.display(),
                            number + 1
                        ));
                    }
                }
                match layer_of(&named) {
                    Some(theirs) if theirs > own => violations.push(format!(
                        "{}:{}: {module} uses {named}, a layer above it",
                        relative.display(),
                        number + 1
                    )),
                    Some(_) => {}
                    None => {
                        unplaced.insert(named);
                    }
                }
            }
        }
    }
    assert!(
        unplaced.is_empty(),
        "modules not placed in a layer: {unplaced:?}"
    );
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_layer_reader_sees_grouped_and_nested_paths() {
    let names = named_modules("use crate::{model::Check, probe::{dial, http}, rules};");
    assert_eq!(names, ["model", "probe", "rules"].map(str::to_owned).into());
    let names = named_modules("let x = crate::lab::fake_dc::key(); crate::proto::hex(x)");
    assert_eq!(names, ["lab", "proto"].map(str::to_owned).into());
    assert_eq!(layer_of("model"), Some(0));
    assert!(layer_of("lab") < layer_of("probe"));
}
