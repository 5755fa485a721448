//! Fuzzes MTProto secret decoding: no panic, and a decoded secret re-encodes to hex that
//! decodes to the same secret.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy_audit::proto::mtproto::secret::MtprotoSecret;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(secret) = MtprotoSecret::decode(text) {
        let again = MtprotoSecret::decode(&secret.to_hex()).expect("hex of a secret decodes");
        assert_eq!(again, secret);
        let _ = secret.redacted();
        let _ = secret.faketls_domain();
    }
});
