//! Ingestion throughput: a generated 1,000,000-line list of links in the forms channels
//! share (tg://proxy with hex, dd, ee and base64 secrets; t.me links with `&amp;`; SOCKS
//! URLs with credentials; bare host:port; prose). Goal: at least 1M lines/s.
//!
//! Run: `cargo bench --bench parse`. Criterion prints the median time per 1M lines. The
//! inventory is dropped outside the timed part: freeing a million entries is not parsing.
#![allow(missing_docs, clippy::unwrap_used)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::io::Cursor;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use proxy_audit::ingest::{Collector, IngestOptions};

const LINES: u64 = 1_000_000;

/// A deterministic list: every line a distinct proxy except the prose lines.
fn generate(lines: u64) -> String {
    let key = "0123456789abcdef0123456789abcdef";
    let mut text = String::with_capacity(usize::try_from(lines).unwrap() * 90);
    for i in 0..lines {
        let (a, b, c) = ((i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
        let _ = match i % 8 {
            0 => writeln!(
                text,
                "tg://proxy?server=10.{a}.{b}.{c}&port=443&secret={key}"
            ),
            1 => writeln!(
                text,
                "tg://proxy?server=p{i}.example.com&port=443&secret=dd{key}"
            ),
            2 => writeln!(
                text,
                "https://t.me/proxy?server=10.{a}.{b}.{c}&amp;port=8443&amp;secret=ee{key}676f6f676c652e636f6d"
            ),
            3 => writeln!(text, "socks5://user{i}:pass@10.{a}.{b}.{c}:1080"),
            4 => writeln!(text, "10.{a}.{b}.{c}:3128"),
            5 => writeln!(
                text,
                "Fast proxy 🔥 tg://socks?server=10.{a}.{b}.{c}&port=9050 join us"
            ),
            6 => writeln!(
                text,
                "tg://proxy?server=10.{a}.{b}.{c}&port=444&secret=ASNFZ4mrze8BI0VniavN7w"
            ),
            _ => writeln!(text, "Channel news #{i}: all proxies checked today"),
        };
    }
    text
}

fn parse_million_lines(c: &mut Criterion) {
    let text = generate(LINES);
    let mut group = c.benchmark_group("ingest");
    group.sample_size(10);
    group.throughput(Throughput::Elements(LINES));
    group.bench_function("text_1M_lines", |b| {
        b.iter_with_large_drop(|| {
            let mut collector = Collector::new(IngestOptions::default());
            collector
                .read_input("bench", Cursor::new(text.as_bytes()))
                .unwrap();
            black_box(collector.finish())
        });
    });
    group.finish();
}

criterion_group!(benches, parse_million_lines);
criterion_main!(benches);
