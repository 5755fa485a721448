//! Fuzzes the rule-file loaders on the same text: blocklist, interception CAs, trusted list,
//! scoring, default secrets, profile (whose named files read as the same bytes), PEM keys and the canary URL
//! parser. Errors are fine, panics are not; a parsed URL prints to text that parses back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy_audit::config::{HttpUrl, Profile};
use proxy_audit::proto::mtproto::rsa::load_pem;
use proxy_audit::rules::blocklist::Blocklist;
use proxy_audit::catalog::default_secrets::DefaultSecrets;
use proxy_audit::catalog::interception::InterceptionCas;
use proxy_audit::rules::scoring::Scoring;
use proxy_audit::rules::trusted::TrustedList;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Blocklist::from_toml(text, "fuzz");
    let _ = InterceptionCas::from_toml(text, "fuzz");
    let _ = TrustedList::from_toml(text, "fuzz");
    let _ = Scoring::from_toml(text, "fuzz");
    let _ = DefaultSecrets::from_toml(text, "fuzz");
    let _ = Profile::from_toml(text, "fuzz", |_| Ok(data.to_vec()));
    let _ = load_pem(text, "fuzz");
    if let Ok(url) = HttpUrl::parse(text) {
        let again = HttpUrl::parse(&url.to_string()).expect("a printed URL parses");
        assert_eq!(
            (again.host, again.port, again.path),
            (url.host, url.port, url.path)
        );
    }
});
