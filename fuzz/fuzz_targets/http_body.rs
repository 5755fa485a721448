//! Fuzzes reading a whole HTTP response (head, interim responses, chunked / Content-Length /
//! until-close bodies) from a peer's bytes, dripped or whole: no panic, no hang, and a body
//! never longer than the cap or than what the peer sent.
#![no_main]

#[path = "common/peer.rs"]
mod peer;

use libfuzzer_sys::fuzz_target;
use proxy_audit::probe::http::read_response;

fuzz_target!(|data: &[u8]| {
    let [control, cap, bytes @ ..] = data else {
        return;
    };
    // Small caps exercise truncation; 255 stands for "large".
    let max_body = if *cap == 255 {
        1 << 20
    } else {
        usize::from(*cap)
    };
    let peer = peer::Peer::new(bytes, peer::chunk_of(*control));
    let result = peer::runtime().block_on(read_response(peer, max_body));
    if let Ok(response) = result {
        assert!(response.body.len() <= max_body);
        assert!(response.body.len() <= bytes.len());
        assert!(
            response.status >= 200,
            "interim {} returned as final",
            response.status
        );
    }
});
