//! The hostile corpus (issue 6): every hostile lab proxy, audited with every check and a
//! short step, ends by its deadline with exactly the finding its attack calls for, and the
//! endpoints that stream gave the auditor no more than a few MiB: memory stays bounded.
//!
//! Real sockets and real time (paused time would fire the auditor's timeouts before the
//! loopback bytes arrive); the outer timeouts are hang guards, not performance assertions.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proxy_audit::checks;
use proxy_audit::lab::{Lab, LabOptions};
use proxy_audit::model::{Check, Code, ProbeResult, Status};
use proxy_audit::probe::http::MAX_BODY;
use proxy_audit::proxy::ProxySpec;
use tokio::task::JoinSet;

use crate::audit::{codes, expected};
use crate::support::{lab_context, lab_inventory};

/// The step the hostile entries are audited with.
const STEP: Duration = Duration::from_secs(1);
/// Each entry's deadline: the runner's usual six steps.
const DEADLINE: Duration = Duration::from_secs(6);
/// Time an entry may take past its deadline (scheduling on a busy 2-core machine).
const SLACK: Duration = Duration::from_secs(2);
/// The most any streaming endpoint may have written while being audited: the 1 MiB body cap
/// and the 64 KiB head cap, times the few requests an entry makes, plus socket buffers.
const BOUNDED: u64 = 8 * 1024 * 1024;
/// The body cap the auditor must apply (its `MAX_BODY`, written out so that a changed cap
/// fails here too).
const BODY_CAP: usize = 1024 * 1024;

/// The hostile lab proxies. Their status and exact findings are in the lab-wide table
/// ([`crate::audit::expected`]); why they get them:
/// - the five socket-level ones (tarpit, drip, endless, garbage, reset) and `header-bomb`,
///   `socks-huge-address`, `mtproto-endless` never complete a usable answer:
///   `handshake_failed`;
/// - `huge-reply` answers, so it is alive, but the canary does not come back as it is;
/// - `tls-long-chain` works, but TLS to the canary meets a chain that is not the canary's;
/// - `faketls-bad-lengths` gives a FakeTLS answer that does not verify.
const HOSTILE: [&str; 11] = [
    "tarpit",
    "slow-drip",
    "endless",
    "garbage",
    "reset",
    "huge-reply",
    "header-bomb",
    "socks-huge-address",
    "tls-long-chain",
    "faketls-bad-lengths",
    "mtproto-endless",
];

/// Every hostile lab proxy, its status and exact findings with every check.
fn hostile() -> Vec<(&'static str, Status, Vec<Code>)> {
    let hostile: Vec<_> = expected()
        .into_iter()
        .filter(|(name, _, _)| HOSTILE.contains(name))
        .collect();
    assert_eq!(
        hostile.len(),
        HOSTILE.len(),
        "every hostile proxy has its row"
    );
    hostile
}

/// A finished hostile audit: results by name, with how long each entry took.
struct Audited {
    /// The lab, still running (its byte counters are read after the audit).
    lab: Lab,
    /// Result and duration by lab proxy name.
    results: HashMap<String, (ProbeResult, Duration)>,
}

/// Starts a lab and audits its hostile entries (every check, [`STEP`], [`DEADLINE`]), each
/// in its own task and timed.
async fn audit_hostile() -> Audited {
    let lab = Lab::start(LabOptions::default()).await.unwrap();
    let inventory = lab_inventory(&lab);
    let context = lab_context(&lab, &Check::ALL, STEP, DEADLINE);
    let spec_of = |name: &str| -> ProxySpec {
        let proxy = lab.proxies().iter().find(|p| p.name == name).unwrap();
        let listed = inventory
            .entries
            .iter()
            .find(|entry| entry.spec == proxy.spec)
            .unwrap_or_else(|| panic!("{name} is not in the lab's list"));
        listed.spec.clone()
    };
    let mut tasks = JoinSet::new();
    for (name, _, _) in hostile() {
        let spec = spec_of(name);
        let context = Arc::clone(&context);
        tasks.spawn(async move {
            let started = Instant::now();
            let result = checks::audit(&spec, &context).await;
            (name, result, started.elapsed())
        });
    }
    let mut results = HashMap::new();
    // A hang guard, not a timing assertion: every entry has its own deadline.
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(joined) = tasks.join_next().await {
            let (name, result, took) = joined.expect("an audit panicked");
            results.insert(name.to_owned(), (result, took));
        }
    })
    .await
    .expect("the hostile audit must end by the entries' deadlines");
    Audited { lab, results }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_entry_ends_by_its_deadline_with_exactly_its_findings() {
    let Audited { lab, results } = audit_hostile().await;
    let hostile = hostile();
    assert_eq!(results.len(), hostile.len());
    for (name, status, want) in hostile {
        let (result, took) = &results[name];
        let want: BTreeSet<Code> = want.into_iter().collect();
        assert_eq!(codes(result), want, "{name}: {result:#?}");
        assert_eq!(result.status, status, "{name}: {result:#?}");
        assert!(
            *took <= DEADLINE + SLACK,
            "{name} took {took:?}, past its {DEADLINE:?} deadline"
        );
        assert!(
            lab.proxies()
                .iter()
                .any(|p| p.name == name && !p.about.is_empty()),
            "{name} is listed without a description"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auditor_takes_a_bounded_number_of_bytes_from_endless_and_huge_answers() {
    let Audited { lab, results } = audit_hostile().await;
    let sent = |name: &str| lab.bytes_sent(name).unwrap();
    // The auditor read the 100 MB reply up to its cap, and not much further.
    let huge = sent("huge-reply");
    eprintln!("bytes sent: huge-reply {huge}");
    assert_eq!(MAX_BODY, BODY_CAP);
    assert!(huge >= BODY_CAP as u64, "huge-reply sent only {huge} bytes");
    assert!(huge < BOUNDED, "huge-reply sent {huge} bytes");
    let (result, _) = &results["huge-reply"];
    let tampered = result
        .findings
        .iter()
        .find(|f| f.code == Code::ContentTampered)
        .unwrap();
    assert_eq!(
        tampered.evidence["received_bytes"],
        BODY_CAP.to_string(),
        "the body is kept up to the cap: {tampered:?}"
    );
    assert!(
        tampered.evidence.contains_key("truncated"),
        "the evidence says the body was cut at the cap: {tampered:?}"
    );
    for name in [
        "endless",
        "header-bomb",
        "socks-huge-address",
        "mtproto-endless",
    ] {
        let bytes = sent(name);
        eprintln!("bytes sent: {name} {bytes}");
        assert!(bytes > 0, "{name} sent nothing: is it reached at all?");
        assert!(bytes < BOUNDED, "{name} sent {bytes} bytes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_entries_give_their_reasons() {
    let Audited { results, .. } = audit_hostile().await;
    let reason = |name: &str, code: Code| {
        let (result, _) = &results[name];
        let finding = result
            .findings
            .iter()
            .find(|f| f.code == code)
            .unwrap_or_else(|| panic!("{name}: no {code}: {result:#?}"));
        finding
            .evidence
            .get("reason")
            .or_else(|| finding.evidence.get("error"))
            .cloned()
            .unwrap_or_default()
    };
    let bomb = reason("header-bomb", Code::HandshakeFailed);
    assert!(bomb.contains("header"), "{bomb}");
    let huge_address = reason("socks-huge-address", Code::HandshakeFailed);
    assert!(huge_address.contains("head"), "{huge_address}");
    let chain = reason("tls-long-chain", Code::TlsIntercepted);
    assert!(chain.contains("HandshakePayloadTooLarge"), "{chain}");
    let lengths = reason("faketls-bad-lengths", Code::FaketlsInvalid);
    assert!(lengths.contains("16640"), "{lengths}");
    let endless = reason("mtproto-endless", Code::HandshakeFailed);
    assert!(endless.contains("1073741824"), "{endless}");
}
