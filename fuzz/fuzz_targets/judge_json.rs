//! Fuzzes the judge's JSON answer and the address finder run on every header value it
//! echoes: no panic, and a parsed answer written back as JSON parses to the same answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy_audit::probe::runner::{JudgeAnswer, address_in};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = address_in(text);
    }
    let Some(answer) = JudgeAnswer::parse(data) else {
        return;
    };
    for (name, value) in &answer.headers {
        let _ = address_in(name);
        let _ = address_in(value);
    }
    let json = serde_json::json!({ "address": answer.address, "headers": answer.headers });
    let again = JudgeAnswer::parse(json.to_string().as_bytes()).expect("our JSON parses");
    assert_eq!(again.address, answer.address);
    assert_eq!(again.headers, answer.headers);
});
