//! Fuzzes the judge answer reader (httpbin JSON, azenv pages, our own JSON, with bytes
//! around them) and the address finder run on every header value: no panic, and a parsed
//! answer written back in our own JSON shape parses to the same origin and headers.
#![no_main]

use std::collections::BTreeSet;

use libfuzzer_sys::fuzz_target;
use proxy_audit::probe::judge::{JudgeAnswer, addresses_in, assess};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = addresses_in(text);
    }
    let Some(answer) = JudgeAnswer::parse(data) else {
        return;
    };
    for (name, value) in &answer.headers {
        let _ = addresses_in(name);
        let _ = addresses_in(value);
    }
    let own: BTreeSet<_> = answer.origin.iter().copied().collect();
    let _ = assess(&answer, &["Host"], &BTreeSet::new(), &own);
    let Some(exit) = answer.exit_address() else {
        return;
    };
    let json = serde_json::json!({ "address": exit.to_string(), "headers": answer.headers });
    let again = JudgeAnswer::parse(json.to_string().as_bytes()).expect("our JSON parses");
    assert_eq!(again.exit_address(), Some(exit));
    assert_eq!(again.headers, answer.headers);
});
