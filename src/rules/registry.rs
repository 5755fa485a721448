//! The rule-file registry: the one table of the files a rules folder holds ([`RULE_FILES`]),
//! and the [`RuleSet`] an audit, a rescore or a merge is judged by.
//!
//! It sits at the top of the rules layer, between the probe (whose checks consult two of the
//! files, [`ProbeRules`]) and the report (whose verdicts come from the other three,
//! [`Verdicts`]). `--rules DIR` loading, `proxy-audit rules check` and the report's
//! `rules_digest` all read this table, so a new rule file is one new row.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::blocklist::{self, Blocklist};
use super::scoring::{self, Scoring};
use super::trusted::{self, TrustedList};
use super::verdicts::Verdicts;
use crate::catalog::default_secrets::{self, DefaultSecrets};
use crate::catalog::interception::{self, InterceptionCas};
use crate::checks::ProbeRules;
use crate::config::{FileError, Profile};

/// Who consults a rule file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumer {
    /// The checks, while probing ([`ProbeRules`]): changing the file needs a new audit.
    Checks,
    /// The verdict engine, after probing ([`Verdicts`]): a saved report can be rescored.
    Verdicts,
}

/// One file of a rules folder: its name, what it holds, and how it loads.
#[derive(Debug, Clone, Copy)]
pub struct RuleFile {
    /// Its name in a rules folder (and under `rules/` in the repository).
    pub name: &'static str,
    /// What it holds, in a few words.
    pub holds: &'static str,
    /// Who consults it.
    pub used_by: Consumer,
    /// The built-in text: the repository's `rules/` file, compiled in.
    pub built_in: &'static str,
    /// Parses a text (named `origin` in errors) into its part of a rule set.
    load: fn(&str, &str, &mut Parts) -> Result<(), FileError>,
}

impl RuleFile {
    /// Checks `text` as this file (named `origin` in errors) without keeping the result.
    ///
    /// # Errors
    /// The first problem, with its line when known.
    pub fn check(&self, text: &str, origin: &str) -> Result<(), FileError> {
        (self.load)(text, origin, &mut Parts::default())
    }
}

/// Every rule file, in the order their texts enter the rules digest (do not reorder: the
/// digest of the same rules would change).
pub static RULE_FILES: [RuleFile; 5] = [
    RuleFile {
        name: "scoring.toml",
        holds: "finding weights and verdict thresholds",
        used_by: Consumer::Verdicts,
        built_in: scoring::BUILT_IN,
        load: |text, origin, parts| {
            parts.scoring = Some(Scoring::from_toml(text, origin)?);
            Ok(())
        },
    },
    RuleFile {
        name: "interception-cas.toml",
        holds: "known TLS interception CAs",
        used_by: Consumer::Checks,
        built_in: interception::BUILT_IN,
        load: |text, origin, parts| {
            parts.interception = Some(InterceptionCas::from_toml(text, origin)?);
            Ok(())
        },
    },
    RuleFile {
        name: "trusted.toml",
        holds: "the curated trusted list",
        used_by: Consumer::Verdicts,
        built_in: trusted::BUILT_IN,
        load: |text, origin, parts| {
            parts.trusted = Some(TrustedList::from_toml(text, origin)?);
            Ok(())
        },
    },
    RuleFile {
        name: "blocklist.toml",
        holds: "hosts, ranges, FakeTLS domains and secrets never to use",
        used_by: Consumer::Verdicts,
        built_in: blocklist::BUILT_IN,
        load: |text, origin, parts| {
            parts.blocklist = Some(Blocklist::from_toml(text, origin)?);
            Ok(())
        },
    },
    RuleFile {
        name: "default-secrets.toml",
        holds: "published MTProto secrets, each with its source",
        used_by: Consumer::Checks,
        built_in: default_secrets::BUILT_IN,
        load: |text, origin, parts| {
            parts.default_secrets = Some(DefaultSecrets::from_toml(text, origin)?);
            Ok(())
        },
    },
];

/// The rule files in the order they are parsed: the checks' first, then the verdicts', each
/// in table order (so that of several broken files, the same one is reported first).
fn load_order() -> impl Iterator<Item = (usize, &'static RuleFile)> {
    let of = |consumer| {
        RULE_FILES
            .iter()
            .enumerate()
            .filter(move |(_, file)| file.used_by == consumer)
    };
    of(Consumer::Checks).chain(of(Consumer::Verdicts))
}

/// The parts of a rule set as the files load (each `None` until its file is read).
#[derive(Debug, Default)]
struct Parts {
    /// From `scoring.toml`.
    scoring: Option<Scoring>,
    /// From `interception-cas.toml`.
    interception: Option<InterceptionCas>,
    /// From `trusted.toml`.
    trusted: Option<TrustedList>,
    /// From `blocklist.toml`.
    blocklist: Option<Blocklist>,
    /// From `default-secrets.toml`.
    default_secrets: Option<DefaultSecrets>,
}

impl Parts {
    /// The rule set, once every file has loaded.
    fn finish(self, digest: String) -> Result<RuleSet, FileError> {
        // Only a row missing from the table leaves a part empty (a test loads them all).
        let missing = |part: &str| FileError::new(part, None, "no rule file loads it");
        Ok(RuleSet {
            probe: ProbeRules {
                interception: self.interception.ok_or_else(|| missing("interception"))?,
                default_secrets: self
                    .default_secrets
                    .ok_or_else(|| missing("default secrets"))?,
            },
            verdicts: Verdicts {
                scoring: self.scoring.ok_or_else(|| missing("scoring"))?,
                trusted: self.trusted.ok_or_else(|| missing("trusted list"))?,
                blocklist: self.blocklist.ok_or_else(|| missing("blocklist"))?,
            },
            digest,
        })
    }
}

/// A rules folder that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// A file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A file is not valid.
    #[error(transparent)]
    Invalid(#[from] FileError),
}

/// The rules an audit is judged by: what the checks consult, the verdict engine, and a
/// digest of the texts they came from.
#[derive(Debug, Clone)]
pub struct RuleSet {
    /// The lists the checks consult.
    pub probe: ProbeRules,
    /// Scoring and the curated lists.
    pub verdicts: Verdicts,
    /// SHA-256 (lower-case hex) over the rule files' texts in [`RULE_FILES`] order, for the
    /// report's `rules_digest`.
    pub digest: String,
}

impl RuleSet {
    /// The built-in rules, or those in `dir` (every file must be there).
    ///
    /// # Errors
    /// When a file cannot be read or is not valid.
    pub fn load(dir: Option<&Path>) -> Result<Self, RulesError> {
        match dir {
            None => Self::built_in(),
            Some(dir) => Self::from_dir(dir),
        }
    }

    /// The built-in rules.
    ///
    /// # Errors
    /// When a built-in file does not load (a bug the tests catch).
    pub fn built_in() -> Result<Self, RulesError> {
        let mut parts = Parts::default();
        for (_, file) in load_order() {
            (file.load)(
                file.built_in,
                &format!("built-in {}", file.name),
                &mut parts,
            )?;
        }
        let texts = RULE_FILES.iter().map(|file| file.built_in);
        Ok(parts.finish(digest(texts))?)
    }

    /// The rules in `dir`: every file of [`RULE_FILES`] is read before any is parsed.
    ///
    /// # Errors
    /// The first file that cannot be read, else the first that is not valid.
    pub(crate) fn from_dir(dir: &Path) -> Result<Self, RulesError> {
        let mut texts = Vec::with_capacity(RULE_FILES.len());
        for file in &RULE_FILES {
            let path = dir.join(file.name);
            match std::fs::read_to_string(&path) {
                Ok(text) => texts.push((text, path.display().to_string())),
                Err(source) => return Err(RulesError::Read { path, source }),
            }
        }
        let mut parts = Parts::default();
        for (index, file) in load_order() {
            if let Some((text, origin)) = texts.get(index) {
                (file.load)(text, origin, &mut parts)?;
            }
        }
        let digest = digest(texts.iter().map(|(text, _)| text.as_str()));
        Ok(parts.finish(digest)?)
    }
}

/// Lower-case hex SHA-256 over `texts`, one after the other.
fn digest<'a>(texts: impl Iterator<Item = &'a str>) -> String {
    let mut hasher = Sha256::new();
    for text in texts {
        hasher.update(text.as_bytes());
    }
    crate::proto::hex::to_hex(&hasher.finalize())
}

/// One problem `proxy-audit rules check` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileProblem {
    /// The file: a rule file's name, or a profile's path.
    pub file: String,
    /// What is wrong (with the line, when known).
    pub error: String,
}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.error)
    }
}

/// What checking a rules folder found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FolderCheck {
    /// Files checked: every rule file, and every profile under `profiles/`.
    pub checked: usize,
    /// Every problem, in the order the files were checked.
    pub problems: Vec<FileProblem>,
}

/// Checks every rule file of `dir` and every `profiles/*.toml` (in name order), keeping
/// every problem rather than stopping at the first.
pub(crate) fn check_folder(dir: &Path) -> FolderCheck {
    let mut report = FolderCheck::default();
    let mut record = |file: &str, result: Result<(), String>| {
        report.checked += 1;
        if let Err(error) = result {
            report.problems.push(FileProblem {
                file: file.to_owned(),
                error,
            });
        }
    };
    for file in &RULE_FILES {
        let path = dir.join(file.name);
        let result = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
            .and_then(|text| {
                file.check(&text, &path.display().to_string())
                    .map_err(|error| error.to_string())
            });
        record(file.name, result);
    }
    if let Ok(profiles) = std::fs::read_dir(dir.join("profiles")) {
        let mut paths: Vec<PathBuf> = profiles
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
            .collect();
        paths.sort();
        for path in paths {
            let result = Profile::load(&path)
                .map(drop)
                .map_err(|error| error.to_string());
            record(&path.display().to_string(), result);
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_has_a_row_and_the_built_ins_load() {
        let rules = RuleSet::built_in().unwrap();
        assert_eq!(rules.digest.len(), 64);
        assert_eq!(load_order().count(), RULE_FILES.len());
    }

    #[test]
    fn the_shipped_folder_is_the_built_in_rules() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        let from_dir = RuleSet::from_dir(&dir).unwrap();
        assert_eq!(from_dir.digest, RuleSet::built_in().unwrap().digest);
        let check = check_folder(&dir);
        assert!(check.problems.is_empty(), "{:?}", check.problems);
        assert!(
            check.checked > RULE_FILES.len(),
            "the profiles are checked too"
        );
    }

    #[test]
    fn a_missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let error = RuleSet::from_dir(dir.path()).unwrap_err();
        assert!(matches!(error, RulesError::Read { .. }));
        assert!(error.to_string().ends_with("scoring.toml"), "{error}");
        let check = check_folder(dir.path());
        assert_eq!(check.checked, RULE_FILES.len());
        let named: Vec<&str> = check.problems.iter().map(|p| p.file.as_str()).collect();
        let expected: Vec<&str> = RULE_FILES.iter().map(|file| file.name).collect();
        assert_eq!(named, expected);
    }

    #[test]
    fn the_checks_files_are_parsed_first() {
        let dir = tempfile::tempdir().unwrap();
        for file in &RULE_FILES {
            std::fs::write(dir.path().join(file.name), "not = [valid").unwrap();
        }
        let error = RuleSet::from_dir(dir.path()).unwrap_err().to_string();
        assert!(error.contains("interception-cas.toml"), "{error}");
    }
}
