//! Fuzzes the text ingestion path (links, bare forms, labelled blocks) and the structured
//! formats on arbitrary bytes: no input may panic, and the accounting must hold.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy_audit::ingest::{Collector, IngestOptions, InputFormat};

fuzz_target!(|data: &[u8]| {
    for format in [
        InputFormat::Text,
        InputFormat::Json,
        InputFormat::Html,
        InputFormat::Csv,
    ] {
        let options = IngestOptions {
            forced_format: Some(format),
            ..IngestOptions::default()
        };
        let mut collector = Collector::new(options);
        let _ = collector.read_input("fuzz", std::io::Cursor::new(data));
        let inventory = collector.finish();
        let totals = inventory.totals();
        assert_eq!(totals.entries as usize, inventory.entries.len());
        assert_eq!(totals.rejected as usize, inventory.rejected.len());
        for entry in &inventory.entries {
            // Every entry renders to a link that parses back to itself.
            let link = entry.spec.to_link();
            let again = proxy_audit::ingest::link::parse_link(&link);
            assert_eq!(again, Some(Ok(entry.spec.clone())), "{link}");
        }
    }
});
