//! Publishing: the README's CI recipe run on the lab (`--redact`ed reports from two
//! vantages, `merge`, `--emit-trusted`, `--sign`, `verify`) leaks no password or secret;
//! redacted reports rescore and emit like plain ones; signing keys are unlocked before
//! probing and never leave an unsigned list behind; `keygen` keeps existing files; `verify`
//! tells a list's age; the JSON report streams; and (interop) minisign's own unencrypted
//! keys sign.

use std::collections::BTreeSet;
use std::io::{BufRead as _, Cursor};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use base64::Engine as _;
use proxy_audit::ingest::{Collector, IngestOptions};
use proxy_audit::proto::hex::to_hex;
use proxy_audit::proxy::ProxySpec;
use proxy_audit::rules::sign::{ListStamp, SigningKey};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::support::binary;

/// The key every vantage redacts with in these tests (as a CI secret would give it).
const REDACT_KEY: &str = "test-redaction-key-0123456789abcdef";

/// Runs the binary in `dir` with `args` and the redaction key in the environment.
fn run_in(dir: &Path, args: &[&str]) -> Output {
    binary()
        .current_dir(dir)
        .args(args)
        .env("PROXY_AUDIT_REDACT_KEY", REDACT_KEY)
        .env_remove("PROXY_AUDIT_KEY_PASSWORD")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The lab started as `proxy-audit lab` with its list and profile in `dir` (the process is
/// stopped when the returned guard is dropped).
struct LabProcess(Child);

impl LabProcess {
    fn start(dir: &Path) -> Self {
        let mut child = binary()
            .current_dir(dir)
            .args(["lab", "--list-out", "lab.txt", "--profile-out", "lab.toml"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut announcement = String::new();
        std::io::BufReader::new(child.stderr.take().unwrap())
            .read_line(&mut announcement)
            .unwrap();
        assert!(announcement.contains("lab running"), "{announcement}");
        Self(child)
    }
}

impl Drop for LabProcess {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// Every proxy of the lab's list, as the library reads it (the specs `Lab::proxies()`
/// lists, with their secrets and passwords).
fn lab_specs(dir: &Path) -> Vec<ProxySpec> {
    let list = std::fs::read_to_string(dir.join("lab.txt")).unwrap();
    let mut collector = Collector::new(IngestOptions::default());
    collector.read_input("lab", Cursor::new(list)).unwrap();
    let specs: Vec<ProxySpec> = collector
        .finish()
        .entries
        .into_iter()
        .map(|entry| entry.spec)
        .collect();
    assert!(specs.len() > 20, "{specs:?}");
    specs
}

/// Every form a lab secret or password could be published in: the whole secret and its
/// 16 key bytes in hex (both cases) and base64, each password as written and in HTTP Basic
/// credentials.
fn needles(specs: &[ProxySpec]) -> BTreeSet<String> {
    let mut needles = BTreeSet::new();
    for spec in specs {
        if let Some(secret) = &spec.secret {
            for bytes in [secret.as_bytes(), &secret.key()[..]] {
                let hex = to_hex(bytes);
                needles.insert(hex.to_uppercase());
                needles.insert(hex);
                needles.insert(base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes));
                needles.insert(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
            }
        }
        if let Some(password) = &spec.password {
            needles.insert(password.clone());
            let login = format!(
                "{}:{password}",
                spec.username.as_deref().unwrap_or_default()
            );
            needles.insert(base64::engine::general_purpose::STANDARD.encode(login));
        }
    }
    let passwords = specs.iter().filter(|s| s.password.is_some()).count();
    let secrets = specs.iter().filter(|s| s.secret.is_some()).count();
    assert!(passwords >= 2 && secrets >= 8, "{passwords} {secrets}");
    needles
}

/// SHA-256 (hex) of each lab MTProto key: the only form a published list may carry.
fn key_hashes(specs: &[ProxySpec]) -> BTreeSet<String> {
    specs
        .iter()
        .filter_map(|spec| spec.secret.as_ref())
        .map(|secret| to_hex(&Sha256::digest(secret.key())))
        .collect()
}

fn json_file(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The README's CI recipe, command by command, on the lab: each vantage audits with
/// `--redact`, one job merges, emits and signs, verifies; every file it publishes (the
/// uploaded vantage reports, `merged.json`, `summary.md`, `report.html`, `trusted.toml`
/// and its signature) is searched for every lab password and secret: none may appear.
#[test]
fn the_ci_recipe_publishes_no_password_or_secret_of_the_lab() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    assert!(
        readme.contains("--vantage ${{ matrix.vantage }} --redact"),
        "the README's recipe must redact the vantage reports"
    );
    let lab = LabProcess::start(d);
    let specs = lab_specs(d);
    let keygen = run_in(
        d,
        &[
            "keygen",
            "--public-key",
            "trusted.pub",
            "--secret-key",
            "signing.key",
        ],
    );
    assert!(keygen.status.success(), "{keygen:?}");
    for vantage in ["github-us", "home-eu"] {
        let report = format!("report-{vantage}.json");
        let audit = run_in(
            d,
            &[
                "audit",
                "lab.txt",
                "--profile",
                "lab.toml",
                "--allow-private",
                "--timeout",
                "1",
                "--quiet",
                "--vantage",
                vantage,
                "--redact",
                "--format",
                "json",
                "-o",
                &report,
            ],
        );
        assert!(matches!(audit.status.code(), Some(0 | 1)), "{audit:?}");
    }
    drop(lab);
    let merge = run_in(
        d,
        &[
            "merge",
            "report-github-us.json",
            "report-home-eu.json",
            "--format",
            "json",
            "-o",
            "merged.json",
            "--format",
            "markdown",
            "-o",
            "summary.md",
            "--format",
            "html",
            "-o",
            "report.html",
            "--emit-trusted",
            "trusted.toml",
            "--sign",
            "signing.key",
        ],
    );
    assert!(merge.status.success(), "{merge:?}");
    let verify = run_in(
        d,
        &[
            "verify",
            "trusted.toml",
            "--key",
            "trusted.pub",
            "--max-age",
            "1h",
        ],
    );
    assert!(verify.status.success(), "{verify:?}");
    let gate = run_in(
        d,
        &[
            "rescore",
            "merged.json",
            "--format",
            "markdown",
            "-o",
            "/dev/null",
            "--fail-on",
            "dangerous",
        ],
    );
    assert_eq!(
        gate.status.code(),
        Some(1),
        "the lab has dangerous proxies: {gate:?}"
    );

    // Redacted reports still merge: both vantages' entries matched by their keyed ids.
    let a = json_file(&d.join("report-github-us.json"));
    let merged = json_file(&d.join("merged.json"));
    let entries = merged["entries"].as_array().unwrap();
    assert_eq!(entries.len(), specs.len());
    assert_eq!(entries.len(), a["entries"].as_array().unwrap().len());
    assert!(
        entries
            .iter()
            .all(|e| e["vantages"].as_array().unwrap().len() == 2)
    );
    assert_eq!(merged["redacted"], true);
    assert_eq!(a["redacted"], true);
    assert_eq!(merged["redaction_key"], a["redaction_key"]);
    // The trusted list holds the lab's passing MTProto proxies by their real key hashes.
    let trusted = std::fs::read_to_string(d.join("trusted.toml")).unwrap();
    let list = proxy_audit::rules::trusted::TrustedList::from_toml(&trusted, "t").unwrap();
    let real = key_hashes(&specs);
    let published: Vec<String> = list
        .entries
        .iter()
        .filter_map(|e| e.secret_sha256)
        .map(|h| to_hex(&h))
        .collect();
    assert!(!published.is_empty(), "{trusted}");
    assert!(published.iter().all(|h| real.contains(h)), "{trusted}");
    assert!(list.entries.iter().all(|e| e.password_sha256.is_none()));

    let needles = needles(&specs);
    for file in [
        "report-github-us.json",
        "report-home-eu.json",
        "merged.json",
        "summary.md",
        "report.html",
        "trusted.toml",
        "trusted.toml.minisig",
    ] {
        let text = String::from_utf8_lossy(&std::fs::read(d.join(file)).unwrap()).into_owned();
        assert!(text.len() > 100, "{file} is empty");
        for needle in &needles {
            assert!(!text.contains(needle.as_str()), "{file} publishes {needle}");
        }
    }
}

/// The lab report's first entry of `kind` with `verdict` (and a secret or password).
fn first<'a>(report: &'a Value, kind: &str, verdict: &str, credential: &str) -> &'a Value {
    report["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == kind && e["verdict"] == verdict && e[credential].is_string())
        .unwrap_or_else(|| panic!("no {verdict} {kind} with a {credential}"))
}

/// SHA-256 of the 16 key bytes of a secret as a report writes it.
fn key_hash_of(entry: &Value) -> String {
    let secret = entry["secret"].as_str().unwrap();
    let key = if secret.len() == 32 {
        secret
    } else {
        &secret[2..34]
    };
    let bytes: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&key[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    to_hex(&Sha256::digest(bytes))
}

/// A redacted report is judged as the plain one: the same verdicts and list matches under
/// rules that trust one lab MTProto proxy by its key hash and block another, also when it
/// is read back and judged again, and the same trusted list emitted from it; an old-style
/// trusted entry with a password hash is "unverified" when judged from the redacted report,
/// as documented.
#[test]
fn a_redacted_report_rescores_and_emits_like_the_plain_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let lab = LabProcess::start(d);
    let audit = run_in(
        d,
        &[
            "audit",
            "lab.txt",
            "--profile",
            "lab.toml",
            "--allow-private",
            "--checks",
            "liveness,credentials",
            "--timeout",
            "1",
            "--quiet",
            "-f",
            "json",
            "-o",
            "plain.json",
        ],
    );
    drop(lab);
    assert!(matches!(audit.status.code(), Some(0 | 1)), "{audit:?}");
    let plain = json_file(&d.join("plain.json"));
    let good = first(&plain, "mtproto", "ok", "secret");
    let blocked = plain["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "mtproto" && e["secret"] != good["secret"])
        .unwrap();
    let login = first(&plain, "socks5", "ok", "password");
    let password_hash = to_hex(&Sha256::digest(
        login["password"].as_str().unwrap().as_bytes(),
    ));
    let rules = d.join("rules");
    std::fs::create_dir(&rules).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    for file in [
        "scoring.toml",
        "interception-cas.toml",
        "default-secrets.toml",
    ] {
        std::fs::copy(root.join(file), rules.join(file)).unwrap();
    }
    let entry = |name: &str, e: &Value, credential: &str| {
        format!(
            "[[proxy]]\nname = \"{name}\"\nsource = \"test\"\nadded = 2026-12-01\n\
             kind = {}\nhost = {}\nport = {}\n{credential}\n",
            e["kind"], e["host"], e["port"]
        )
    };
    std::fs::write(
        rules.join("trusted.toml"),
        entry(
            "lab key",
            good,
            &format!("secret_sha256 = \"{}\"", key_hash_of(good)),
        ) + &entry(
            "lab login",
            login,
            &format!(
                "username = {}\npassword_sha256 = \"{password_hash}\"",
                login["username"]
            ),
        ),
    )
    .unwrap();
    std::fs::write(
        rules.join("blocklist.toml"),
        format!(
            "[[secret]]\nsecret_sha256 = \"{}\"\nreason = \"a test block\"\n",
            key_hash_of(blocked)
        ),
    )
    .unwrap();
    let rules = rules.to_str().unwrap();
    let rescore = |input: &str, output: &str, list: &str, redact: bool| {
        let mut args = vec![
            "rescore",
            input,
            "--rules",
            rules,
            "-f",
            "json",
            "-o",
            output,
            "--emit-trusted",
            list,
        ];
        if redact {
            args.push("--redact");
        }
        let done = run_in(d, &args);
        assert!(done.status.success(), "{done:?}");
        json_file(&d.join(output))
    };
    let plain = rescore("plain.json", "plain2.json", "plain.toml", false);
    let redacted = rescore("plain.json", "redacted.json", "redacted.toml", true);
    let again = rescore("redacted.json", "again.json", "again.toml", false);
    assert_eq!(redacted["redacted"], true);
    assert_eq!(again["redacted"], true, "a redacted report stays redacted");
    let view = |report: &Value| -> Vec<(Value, Value, Value)> {
        report["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["host"].clone(), e["verdict"].clone(), e["listed"].clone()))
            .collect()
    };
    // Redacted on the way out, the report keeps the verdicts judged with the full
    // credentials.
    assert_eq!(view(&redacted), view(&plain));
    // Judged again from the redacted report: the same, except the login, whose password
    // can no longer be compared with the list's hash.
    let mut expected = view(&plain);
    let login_at = plain["entries"]
        .as_array()
        .unwrap()
        .iter()
        .position(|e| e["password"] == login["password"] && e["host"] == login["host"])
        .unwrap();
    assert_eq!(expected[login_at].1, "trusted");
    expected[login_at].1 = "ok".into();
    expected[login_at].2 = "trusted_unverified: lab login (the report is redacted: its \
                            password could not be compared)"
        .into();
    assert_eq!(view(&again), expected);
    let listed: Vec<&Value> = expected.iter().map(|(_, _, l)| l).collect();
    assert!(
        listed.contains(&&Value::from("trusted: lab key")),
        "{listed:?}"
    );
    assert!(
        listed.contains(&&Value::from("blocklisted: a test block")),
        "{listed:?}"
    );
    // The published list is the same from the plain and the redacted report, and names no
    // password.
    let text = |name: &str| std::fs::read_to_string(d.join(name)).unwrap();
    assert_eq!(text("plain.toml"), text("redacted.toml"));
    assert_eq!(text("redacted.toml"), text("again.toml"));
    assert!(!text("plain.toml").contains(&password_hash));
    // A redacted report gives no cleaned list: its links hold fingerprints.
    let clean = run_in(
        d,
        &[
            "rescore",
            "redacted.json",
            "-f",
            "json",
            "-o",
            "x.json",
            "--clean",
            "c.txt",
        ],
    );
    assert_eq!(clean.status.code(), Some(2), "{clean:?}");
    assert!(String::from_utf8_lossy(&clean.stderr).contains("redacted"));
    // Reports redacted with another key do not merge with these.
    let other = binary()
        .current_dir(d)
        .args([
            "rescore",
            "plain.json",
            "--redact",
            "-f",
            "json",
            "-o",
            "other.json",
        ])
        .env("PROXY_AUDIT_REDACT_KEY", "another-key-of-enough-length")
        .output()
        .unwrap();
    assert!(other.status.success(), "{other:?}");
    let mixed = run_in(d, &["merge", "redacted.json", "other.json", "-f", "json"]);
    assert_eq!(mixed.status.code(), Some(2), "{mixed:?}");
    let mixed = run_in(d, &["merge", "redacted.json", "plain.json", "-f", "json"]);
    assert_eq!(mixed.status.code(), Some(2), "{mixed:?}");
}

/// A list of one proxy that accepts the TCP connection and never answers, and a way to
/// tell whether anything connected to it.
fn silent_proxy(dir: &Path) -> std::net::TcpListener {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::fs::write(dir.join("list.txt"), format!("socks5://127.0.0.1:{port}\n")).unwrap();
    listener
}

/// `--sign` with a key that cannot sign (encrypted, no password) stops the audit before it
/// probes anything: the proxy sees no connection and no report appears.
#[test]
fn the_signing_key_is_unlocked_before_anything_is_probed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let made = binary()
        .current_dir(d)
        .args(["keygen", "--public-key", "k.pub", "--secret-key", "k.sec"])
        .env("PROXY_AUDIT_KEY_PASSWORD", "a password")
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let listener = silent_proxy(d);
    let audit = run_in(
        d,
        &[
            "audit",
            "list.txt",
            "--allow-private",
            "--timeout",
            "1",
            "--quiet",
            "-f",
            "json",
            "-o",
            "r.json",
            "--emit-trusted",
            "t.toml",
            "--sign",
            "k.sec",
        ],
    );
    assert_eq!(audit.status.code(), Some(2), "{audit:?}");
    assert!(
        String::from_utf8_lossy(&audit.stderr).contains("PROXY_AUDIT_KEY_PASSWORD"),
        "{audit:?}"
    );
    assert_eq!(
        listener.accept().map(|_| ()).unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock,
        "the proxy was contacted before the key was unlocked"
    );
    assert!(!d.join("r.json").exists() && !d.join("t.toml").exists());
}

/// When the signature cannot be put in place, the list it signs is not left unsigned.
#[test]
fn no_unsigned_list_is_left_where_a_signed_one_was_asked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let made = run_in(
        d,
        &["keygen", "--public-key", "k.pub", "--secret-key", "k.sec"],
    );
    assert!(made.status.success(), "{made:?}");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    std::fs::write(d.join("list.txt"), format!("socks5://127.0.0.1:{port}\n")).unwrap();
    let audit = run_in(
        d,
        &[
            "audit",
            "list.txt",
            "--allow-private",
            "--timeout",
            "1",
            "--quiet",
            "-f",
            "json",
            "-o",
            "r.json",
        ],
    );
    assert!(audit.status.success(), "{audit:?}");
    // The signature's place is taken by a folder: the signature cannot be written there.
    std::fs::create_dir_all(d.join("t.toml.minisig/occupied")).unwrap();
    let emit = run_in(
        d,
        &[
            "rescore",
            "r.json",
            "-f",
            "json",
            "-o",
            "x.json",
            "--emit-trusted",
            "t.toml",
            "--sign",
            "k.sec",
        ],
    );
    assert_eq!(emit.status.code(), Some(2), "{emit:?}");
    assert!(
        !d.join("t.toml").exists(),
        "an unsigned list was left behind"
    );
    // With room for the signature, both appear and verify.
    std::fs::remove_dir_all(d.join("t.toml.minisig")).unwrap();
    let emit = run_in(
        d,
        &[
            "rescore",
            "r.json",
            "-f",
            "json",
            "-o",
            "x.json",
            "--emit-trusted",
            "t.toml",
            "--sign",
            "k.sec",
            "--sequence",
            "7",
        ],
    );
    assert!(emit.status.success(), "{emit:?}");
    let verify = run_in(d, &["verify", "t.toml", "--key", "k.pub"]);
    assert!(verify.status.success(), "{verify:?}");
    assert!(
        String::from_utf8_lossy(&verify.stdout).contains("sequence 7"),
        "{verify:?}"
    );
}

/// `keygen` replaces neither file without `--force`, and both with it.
#[test]
fn keygen_refuses_to_overwrite_either_file_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("k.pub"), "my published key").unwrap();
    let keygen = |force: bool| {
        let mut args = vec!["keygen", "--public-key", "k.pub", "--secret-key", "k.sec"];
        if force {
            args.push("--force");
        }
        run_in(d, &args)
    };
    let refused = keygen(false);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force"));
    assert_eq!(
        std::fs::read_to_string(d.join("k.pub")).unwrap(),
        "my published key"
    );
    assert!(
        !d.join("k.sec").exists(),
        "nothing is written when one file is refused"
    );
    std::fs::remove_file(d.join("k.pub")).unwrap();
    std::fs::write(d.join("k.sec"), "my secret key").unwrap();
    assert_eq!(keygen(false).status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(d.join("k.sec")).unwrap(),
        "my secret key"
    );
    assert!(!d.join("k.pub").exists());
    let forced = keygen(true);
    assert!(forced.status.success(), "{forced:?}");
    let secret = std::fs::read_to_string(d.join("k.sec")).unwrap();
    let public = std::fs::read_to_string(d.join("k.pub")).unwrap();
    assert_eq!(
        SigningKey::unlock(&secret, None)
            .unwrap()
            .public_key()
            .unwrap()
            .trim(),
        public.trim()
    );
}

/// `verify` prints the list's age and sequence from its signed comment; `--max-age`
/// rejects a list older than that, and one whose comment gives no time.
#[test]
fn verify_tells_the_age_and_max_age_rejects_stale_lists() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let made = run_in(
        d,
        &["keygen", "--public-key", "k.pub", "--secret-key", "k.sec"],
    );
    assert!(made.status.success(), "{made:?}");
    let key = SigningKey::unlock(&std::fs::read_to_string(d.join("k.sec")).unwrap(), None).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let list = "# a list\n";
    let sign = |name: &str, comment: &str| {
        std::fs::write(d.join(name), list).unwrap();
        let signature = key.sign(list.as_bytes(), comment).unwrap();
        std::fs::write(d.join(format!("{name}.minisig")), signature).unwrap();
    };
    let ten_days_ago = i64::try_from(now).unwrap() - 10 * 86_400;
    sign(
        "old.toml",
        &ListStamp {
            created: ten_days_ago,
            sequence: 41,
        }
        .comment("old.toml"),
    );
    sign("bare.toml", "proxy-audit trusted list bare.toml");
    let verify = |name: &str, max_age: Option<&str>| {
        let mut args = vec!["verify", name, "--key", "k.pub"];
        if let Some(age) = max_age {
            args.extend(["--max-age", age]);
        }
        run_in(d, &args)
    };
    let told = verify("old.toml", None);
    assert!(told.status.success(), "{told:?}");
    let stdout = String::from_utf8_lossy(&told.stdout);
    assert!(
        stdout.contains("10 d 0 h ago") && stdout.contains("sequence 41"),
        "{stdout}"
    );
    assert_eq!(verify("old.toml", Some("7d")).status.code(), Some(1));
    assert_eq!(verify("old.toml", Some("11d")).status.code(), Some(0));
    assert_eq!(verify("bare.toml", None).status.code(), Some(0));
    let bare = verify("bare.toml", Some("30d"));
    assert_eq!(bare.status.code(), Some(1), "{bare:?}");
}

/// A `-f json` audit that keeps nothing in memory (the entries go through a spool) writes
/// the very document an audit keeping its entries does; interrupted, a stream still holds
/// every entry (the unfinished ones `not_audited`), in NDJSON too.
#[test]
fn the_streamed_json_report_is_the_kept_one_and_holds_every_entry() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let list = (1..=300)
        .map(|i| format!("socks5://127.9.{}.{}:9", i / 200, i % 200 + 1))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(d.join("list.txt"), list).unwrap();
    let audit = |extra: &[&str]| {
        let mut args = vec![
            "audit",
            "list.txt",
            "--allow-private",
            "--checks",
            "liveness",
            "--timeout",
            "1",
            "--quiet",
            "-f",
            "json",
            "-o",
            "r.json",
        ];
        args.extend(extra);
        let done = run_in(d, &args);
        assert!(done.status.success(), "{done:?}");
        let mut report = json_file(&d.join("r.json"));
        let object = report.as_object_mut().unwrap();
        object.remove("started");
        object.remove("finished");
        serde_json::to_string_pretty(&report).unwrap()
    };
    let streamed = audit(&[]);
    let kept = audit(&["-f", "csv", "-o", "r.csv"]);
    assert_eq!(streamed, kept);
    assert!(streamed.contains("127.9.1.101"), "the last entry is there");
    // Only the report itself appears in the folder: the spool leaves nothing behind.
    let mut names: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["list.txt", "r.csv", "r.json"]);

    // Interrupted: the silent proxy's entry never finishes; NDJSON-only still lists it.
    let listener = silent_proxy(d);
    let mut child = binary()
        .current_dir(d)
        .args([
            "audit",
            "list.txt",
            "--allow-private",
            "--timeout",
            "60",
            "--quiet",
            "-f",
            "ndjson",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    listener.set_nonblocking(false).unwrap();
    let (_held, _) = listener.accept().unwrap();
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let mut stdout = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0]["status"], "not_audited", "{stdout}");
    assert_eq!(lines[1]["summary"]["not_audited"], 1, "{stdout}");
}

/// minisign's own unencrypted key (`minisign -G -W`, whose checksum minisign 0.11 leaves
/// empty) signs a list through `--sign`, and minisign and `verify` accept the signature.
#[test]
#[ignore = "needs minisign (Debian package); .ci/run runs it"]
fn interop_minisign_unencrypted_key_signs_a_trusted_list() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let made = Command::new("minisign")
        .current_dir(d)
        .args(["-G", "-W", "-p", "mini.pub", "-s", "mini.key"])
        .output()
        .expect("minisign is installed");
    assert!(made.status.success(), "{made:?}");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    std::fs::write(d.join("list.txt"), format!("socks5://127.0.0.1:{port}\n")).unwrap();
    let audit = run_in(
        d,
        &[
            "audit",
            "list.txt",
            "--allow-private",
            "--timeout",
            "1",
            "--quiet",
            "-f",
            "json",
            "-o",
            "r.json",
            "--emit-trusted",
            "trusted.toml",
            "--sign",
            "mini.key",
        ],
    );
    assert!(audit.status.success(), "{audit:?}");
    let checked = Command::new("minisign")
        .current_dir(d)
        .args(["-V", "-m", "trusted.toml", "-p", "mini.pub"])
        .output()
        .unwrap();
    assert!(checked.status.success(), "{checked:?}");
    let stdout = String::from_utf8_lossy(&checked.stdout);
    assert!(
        stdout.contains("proxy-audit trusted list timestamp:"),
        "{stdout}"
    );
    let verify = run_in(
        d,
        &[
            "verify",
            "trusted.toml",
            "--key",
            "mini.pub",
            "--max-age",
            "1h",
        ],
    );
    assert!(verify.status.success(), "{verify:?}");
}
