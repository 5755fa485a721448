//! Fuzzes the HTTP/1.x response-head parser shared by CONNECT and GET: no panic, a complete
//! head never claims more bytes than given (nor more than the limits allow), and the head
//! parses the same from exactly its own bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy_audit::proto::http_head::{MAX_HEAD, MAX_HEADERS, parse_response_head};

fuzz_target!(|data: &[u8]| {
    let Ok(Some((head, len))) = parse_response_head(data) else {
        return;
    };
    assert!(
        len <= data.len() && len <= MAX_HEAD,
        "len {len} of {}",
        data.len()
    );
    assert!(head.headers.len() <= MAX_HEADERS);
    assert!((100..=999).contains(&head.status), "status {}", head.status);
    assert!(head.minor_version <= 1);
    let _ = head.status_line();
    let _ = head.is_interim();
    let _ = head.header("content-length");
    assert_eq!(parse_response_head(&data[..len]), Ok(Some((head, len))));
});
