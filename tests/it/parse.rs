//! `parse`: the built binary on the shipped samples, exit codes, stdin, URLs, redaction,
//! and the link round trip.

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::Path;

use proptest::prelude::*;
use proxy_audit::ingest::link::parse_link;
use proxy_audit::ingest::{Collector, IngestOptions};
use proxy_audit::proto::mtproto::secret::MtprotoSecret;
use proxy_audit::proxy::{ProxyKind, ProxySpec};
use serde_json::Value;

use crate::support::{json_of, run};

const KEY: &str = "0123456789abcdef0123456789abcdef";

/// Every sample in `lists/` with the counts it must give: (entries, duplicates, rejected,
/// ignored). A new sample without a row here fails the test, so samples cannot rot.
#[test]
fn every_sample_list_parses_to_its_expected_counts() {
    let expected: &[(&str, &str, [u64; 4])] = &[
        ("channel-post.txt", "text", [2, 1, 1, 2]),
        ("hosts.txt", "text", [6, 1, 1, 2]),
        ("links.txt", "text", [5, 1, 2, 1]),
        ("messages.html", "html", [3, 0, 0, 2]),
        ("proxies.csv", "csv", [3, 0, 1, 0]),
        ("proxies.json", "json", [4, 1, 1, 1]),
        ("proxies.tsv", "tsv", [2, 0, 0, 0]),
        ("result.json", "json", [3, 1, 1, 1]),
    ];
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("lists");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let listed: Vec<&str> = expected.iter().map(|(name, _, _)| *name).collect();
    assert_eq!(
        names, listed,
        "lists/ and this table must name the same files"
    );
    for (name, format, counts) in expected {
        let output = run(
            &["parse", &format!("lists/{name}"), "--format", "json"],
            None,
        );
        assert!(
            output.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let doc = json_of(&output);
        let s = &doc["summary"];
        let got = ["entries", "duplicates", "rejected", "ignored"].map(|k| s[k].as_u64().unwrap());
        assert_eq!(&got, counts, "{name}");
        assert_eq!(doc["inputs"][0]["format"], *format, "{name}");
        assert_eq!(
            doc["entries"].as_array().unwrap().len() as u64,
            counts[0],
            "{name}"
        );
        let dups: usize = doc["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["duplicates"].as_array().unwrap().len())
            .sum();
        assert_eq!(dups as u64, counts[1], "{name}");
    }
}

#[test]
fn json_document_has_the_documented_shape() {
    let output = run(&["parse", "lists/links.txt", "-f", "json"], None);
    let doc = json_of(&output);
    assert_eq!(doc["schema_version"], 1);
    let first = &doc["entries"][0];
    for key in [
        "id",
        "kind",
        "host",
        "port",
        "secret",
        "secret_mode",
        "faketls_domain",
        "username",
        "password",
        "address_class",
        "link",
        "source",
        "duplicates",
    ] {
        assert!(first.get(key).is_some(), "missing {key}");
    }
    assert_eq!(first["kind"], "mtproto");
    assert_eq!(first["secret_mode"], "ee");
    assert_eq!(first["faketls_domain"], "google.com");
    assert_eq!(first["secret"], format!("ee{KEY}676f6f676c652e636f6d"));
    assert_eq!(first["source"]["location"], "line 2");
    assert_eq!(first["duplicates"][0]["location"], "line 4");
    let rejected = &doc["rejected"][0];
    assert_eq!(rejected["source"]["location"], "line 8");
    assert_eq!(rejected["reason_code"], "bad_port");
    // socks5 with credentials: password percent-decoded
    let socks = doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["username"] == "alice")
        .unwrap();
    assert_eq!(socks["password"], "s@fe");
    assert_eq!(socks["address_class"], "documentation");
}

#[test]
fn several_inputs_merge_and_remember_their_source() {
    let output = run(
        &["parse", "lists/proxies.json", "-", "-f", "json"],
        Some("socks5://198.51.100.30:1080\n"),
    );
    let doc = json_of(&output);
    assert_eq!(doc["summary"]["inputs"], 2);
    let entry = doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["host"] == "198.51.100.30")
        .unwrap();
    assert_eq!(entry["source"]["input"], "lists/proxies.json");
    assert_eq!(entry["duplicates"][0]["input"], "-");
    assert_eq!(entry["duplicates"][0]["location"], "line 1");
}

#[test]
fn table_output_redacts_secrets_and_passwords() {
    let output = run(&["parse", "lists/links.txt", "-f", "table"], None);
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("ee01…ef google.com"), "{text}");
    assert!(
        text.contains("bad_port") || text.contains("out of range"),
        "{text}"
    );
    assert!(!text.contains(KEY), "secret leaked:\n{text}");
    assert!(!text.contains("hunter2"), "password leaked:\n{text}");
    assert!(!text.contains("s@fe"), "password leaked:\n{text}");
}

#[test]
fn links_output_is_a_cleaned_list_that_parses_back() {
    let output = run(
        &["parse", "lists/links.txt", "lists/hosts.txt", "-f", "links"],
        None,
    );
    let links = String::from_utf8(output.stdout).unwrap();
    assert_eq!(links.lines().count(), 11);
    let again = run(&["parse", "-", "-f", "json"], Some(&links));
    let doc = json_of(&again);
    assert_eq!(doc["summary"]["entries"], 11);
    assert_eq!(doc["summary"]["rejected"], 0);
    assert_eq!(doc["summary"]["duplicates"], 0);
}

#[test]
fn ndjson_has_one_entry_per_line_then_rejected_then_summary() {
    let output = run(&["parse", "lists/links.txt", "-f", "ndjson"], None);
    let lines: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5 + 2 + 1);
    assert!(lines[..5].iter().all(|l| l.get("kind").is_some()));
    assert!(lines[5..7].iter().all(|l| l.get("rejected").is_some()));
    assert_eq!(lines[7]["summary"]["entries"], 5);
}

#[test]
fn strict_exits_1_on_rejections_and_unreadable_input_exits_2() {
    assert_eq!(
        run(&["parse", "lists/proxies.tsv", "-f", "json"], None)
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        run(&["parse", "lists/links.txt", "-f", "json"], None)
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        run(
            &["parse", "lists/links.txt", "--strict", "-f", "json"],
            None
        )
        .status
        .code(),
        Some(1)
    );
    let missing = run(
        &["parse", "lists/links.txt", "no/such/file.txt", "-f", "json"],
        None,
    );
    assert_eq!(missing.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("no/such/file.txt"), "{stderr}");
    // The readable input was still reported, with the failure recorded.
    let doc = json_of(&missing);
    assert_eq!(doc["summary"]["entries"], 5);
    assert!(doc["inputs"][1]["error"].is_string());
}

#[test]
fn forced_input_format_and_default_kind() {
    let output = run(
        &[
            "parse",
            "-",
            "--input-format",
            "text",
            "--default-kind",
            "http",
            "-f",
            "json",
        ],
        Some("{\"a\":1}\n1.2.3.4:8080\n"),
    );
    let doc = json_of(&output);
    assert_eq!(doc["inputs"][0]["format"], "text");
    assert_eq!(doc["entries"][0]["kind"], "http");
}

/// A one-shot HTTP server on loopback serving `body`, for the URL input.
fn serve_once(status: &str, body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let status = status.to_owned();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request);
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(response.as_bytes()).unwrap();
    });
    format!("http://{addr}/list.txt")
}

#[test]
fn url_inputs_are_fetched_and_failures_named() {
    // The list server is on loopback: fetched only with --allow-private.
    let url = serve_once("200 OK", "socks5://198.51.100.90:1080\nhello\n");
    let output = run(&["parse", &url, "--allow-private", "-f", "json"], None);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let doc = json_of(&output);
    assert_eq!(doc["entries"][0]["host"], "198.51.100.90");
    assert_eq!(doc["entries"][0]["source"]["input"], url.as_str());

    let url = serve_once("404 Not Found", "");
    let output = run(&["parse", &url, "--allow-private", "-f", "json"], None);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains(&url) && stderr.contains("404"), "{stderr}");
}

/// A list URL is a direct connection, so a loopback one is refused (and not contacted)
/// unless `--allow-private` is given, by `parse` and `audit` alike, and nothing is parsed
/// from it. (Redirects, and link-local targets, are tested in `ingest::read`.)
#[test]
fn list_urls_on_reserved_addresses_are_refused_without_allow_private() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/list.txt", listener.local_addr().unwrap());
    for args in [
        vec!["parse", &url, "-f", "json"],
        vec![
            "audit", &url, "--checks", "liveness", "--quiet", "-f", "json",
        ],
    ] {
        let output = run(&args, None);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&url)
                && stderr.contains("127.0.0.1 is a loopback address")
                && stderr.contains("--allow-private"),
            "{args:?}: {stderr}"
        );
        let doc = json_of(&output);
        assert_eq!(doc["entries"].as_array().map(Vec::len), Some(0), "{doc}");
    }
    // Both runs are over: a connection either made would be waiting here.
    match listener.accept() {
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the list server was contacted: {other:?}"),
    }
}

#[test]
fn oversized_url_bodies_are_refused() {
    let url = serve_once("200 OK", "1.2.3.4:1080\n1.2.3.5:1080\n1.2.3.6:1080\n");
    let output = run(
        &[
            "parse",
            &url,
            "--allow-private",
            "--max-fetch-bytes",
            "10",
            "-f",
            "json",
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8(output.stderr).unwrap().contains("limit"));
}

#[test]
fn accounting_holds_for_a_mixed_paste() {
    let mut text = String::new();
    for i in 0..300 {
        match i % 3 {
            0 => {
                let _ = writeln!(
                    text,
                    "tg://proxy?server=10.0.{}.{}&port=443&secret={KEY}",
                    i / 256,
                    i % 256
                );
            }
            1 => text.push_str("tg://proxy?server=10.0.0.0&port=443&secret="),
            _ => text.push_str("socks5://1.2.3.4:1080\n"),
        }
        if i % 3 == 1 {
            text.push_str(KEY);
            text.push('\n');
        }
    }
    text.push_str("socks5://1.2.3.4:0\n");
    let mut collector = Collector::new(IngestOptions::default());
    collector
        .read_input("paste", std::io::Cursor::new(text))
        .unwrap();
    let inventory = collector.finish();
    let t = inventory.totals();
    assert_eq!(t.entries + t.duplicates + t.rejected, 301);
    assert_eq!(t.rejected, 1);
    // 100 unique MTProto (the repeated 10.0.0.0 link duplicates the first) and 1 SOCKS5.
    assert_eq!(t.entries, 101);
}

fn arb_spec() -> impl Strategy<Value = ProxySpec> {
    let host = prop_oneof![
        "[a-z][a-z0-9-]{0,10}[a-z0-9]\\.[a-z]{2,6}",
        any::<[u8; 4]>().prop_map(|o| std::net::Ipv4Addr::from(o).to_string()),
        any::<[u16; 8]>().prop_map(|s| std::net::Ipv6Addr::from(s).to_string()),
    ];
    let secret = prop_oneof![
        any::<[u8; 16]>().prop_map(|k| k.to_vec()),
        any::<[u8; 16]>().prop_map(|k| [&[0xdd][..], &k].concat()),
        (any::<[u8; 16]>(), "[a-z]{1,10}\\.[a-z]{2,5}").prop_map(|(k, d)| [
            &[0xee][..],
            &k,
            d.as_bytes()
        ]
        .concat()),
    ];
    let cred = proptest::option::of("[ -~]{1,12}");
    (0usize..5, host, 1u16.., secret, cred.clone(), cred).prop_map(
        |(kind, host, port, secret, username, password)| {
            let kind = ProxyKind::ALL[kind];
            let mtproto = kind == ProxyKind::Mtproto;
            ProxySpec {
                kind,
                host,
                port,
                secret: mtproto.then(|| MtprotoSecret::from_bytes(secret).unwrap()),
                username: if mtproto { None } else { username.clone() },
                // A password is only expressible after a username in scheme URLs.
                password: if mtproto || (kind != ProxyKind::Socks5 && username.is_none()) {
                    None
                } else {
                    password
                },
            }
        },
    )
}

proptest! {
    /// Rendering an entry as a link and parsing it back gives the same entry.
    #[test]
    fn link_round_trip(spec in arb_spec()) {
        let link = spec.to_link();
        prop_assert_eq!(parse_link(&link), Some(Ok(spec)), "{}", link);
    }

    /// The same link found inside prose parses to the same entry.
    #[test]
    fn link_round_trip_inside_prose(spec in arb_spec()) {
        let line = format!("Proxy of the day: {} — enjoy!", spec.to_link());
        let found = proxy_audit::ingest::link::find_links(&line);
        prop_assert_eq!(found.len(), 1);
        prop_assert_eq!(&found[0].outcome, &Ok(spec));
    }
}

/// Regression: `socks5://lоcalhost:…` (a Cyrillic `о`) was read as host `l`; credentials in
/// another script, or bytes that are not UTF-8 after `user=`, silently vanished.
#[test]
fn non_ascii_hosts_and_credentials_are_kept_whole_or_rejected() {
    let list = "socks5://l\u{43e}calhost:1080\n\
                tg://socks?server=a.example&port=1&user=юзер&pass=пароль\n\
                tg://socks?server=b.example&port=1&user=%ff&pass=x\n";
    let doc = json_of(&run(&["parse", "-", "-f", "json"], Some(list)));
    let entries: Vec<_> = doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["host"].clone(),
                e["username"].clone(),
                e["password"].clone(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            ("xn--lcalhost-nbh".into(), Value::Null, Value::Null),
            ("a.example".into(), "юзер".into(), "пароль".into()),
        ]
    );
    assert_eq!(doc["rejected"][0]["reason_code"], "bad_encoding");
    assert_eq!(doc["rejected"][0]["source"]["location"], "line 3");
}

/// Regression: a text file whose first line starts with `{` was read as JSON and failed
/// whole (exit 2, nothing found).
#[test]
fn a_brace_led_text_file_is_read_as_text() {
    let output = run(
        &["parse", "-", "-f", "json"],
        Some("{Fresh proxies, 1 June}\nsocks5://198.51.100.7:1080\n"),
    );
    assert_eq!(output.status.code(), Some(0));
    let doc = json_of(&output);
    assert_eq!(doc["inputs"][0]["format"], "text");
    assert_eq!(doc["inputs"][0]["error"], Value::Null);
    assert_eq!(doc["entries"][0]["host"], "198.51.100.7");
}

/// Regression: an unbalanced quote ended a CSV file; the 2,000 rows after it were never
/// reported.
#[test]
fn a_bad_csv_row_is_rejected_and_the_rest_is_read() {
    let mut csv = String::from("host,port\n198.51.100.1,1080\n\"198.51.100.2,1080\n");
    for i in 0..2000 {
        let _ = writeln!(csv, "10.1.{}.{},1080", i / 250, i % 250);
    }
    let output = run(&["parse", "-", "-f", "json"], Some(&csv));
    assert_eq!(output.status.code(), Some(0));
    let doc = json_of(&output);
    assert_eq!(doc["inputs"][0]["format"], "csv");
    assert_eq!(doc["summary"]["entries"], 2001);
    assert_eq!(doc["summary"]["rejected"], 1);
    let rejected = &doc["rejected"][0];
    assert_eq!(rejected["source"]["location"], "line 3");
    assert_eq!(rejected["reason_code"], "bad_row");
    assert_eq!(doc["entries"][2000]["source"]["location"], "line 2003");
}

/// Regression: a list URL's password (`http://u:PASS@…`) appeared in the parse table and
/// in the JSON `source` and `inputs`.
#[test]
fn list_url_credentials_are_redacted_everywhere_shown() {
    for format in ["json", "table"] {
        let url = serve_once("200 OK", "socks5://198.51.100.91:1080\n1.2.3.4:0\n").replacen(
            "http://",
            "http://reader:hunter2@",
            1,
        );
        let shown = url.replacen("hunter2", "***", 1);
        let output = run(&["parse", &url, "--allow-private", "-f", format], None);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "{stdout}");
        assert!(!stdout.contains("hunter2"), "password leaked:\n{stdout}");
        if format == "json" {
            let doc = json_of(&output);
            assert_eq!(doc["inputs"][0]["input"], shown.as_str());
            assert_eq!(doc["entries"][0]["source"]["input"], shown.as_str());
            assert_eq!(doc["rejected"][0]["source"]["input"], shown.as_str());
        } else {
            assert!(stdout.contains("reader:***@"), "{stdout}");
        }
    }
}
