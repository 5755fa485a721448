//! The auditor's CPU cost per Telegram proof: splitting `pq` (Pollard–Brent over Montgomery
//! products) is the largest single part of a full audit of a live proxy.
//!
//! Run: `cargo bench --bench mtproto`. Criterion prints the median time to factor 64 fixed
//! semiprimes, each the product of two primes drawn between 2³⁰ and 2³¹ as Telegram's are
//! (the report divides by 64 for the time per `pq`).
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use proxy_audit::proto::mtproto::auth::factorize;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

/// Trial division: enough for 31-bit numbers, and independent of the code measured.
fn is_prime(n: u64) -> bool {
    n >= 2 && (2..=n.isqrt()).all(|d| n % d != 0)
}

/// A prime between 2³⁰ and 2³¹.
fn prime(rng: &mut StdRng) -> u64 {
    loop {
        let candidate = rng.random_range(1_u64 << 30..1 << 31) | 1;
        if is_prime(candidate) {
            return candidate;
        }
    }
}

fn semiprimes() -> Vec<u64> {
    let mut rng = StdRng::seed_from_u64(0x7071);
    (0..64)
        .map(|_| {
            loop {
                let (p, q) = (prime(&mut rng), prime(&mut rng));
                if p != q {
                    break p * q;
                }
            }
        })
        .collect()
}

fn factoring(c: &mut Criterion) {
    let pqs = semiprimes();
    let mut group = c.benchmark_group("mtproto");
    group.throughput(Throughput::Elements(pqs.len() as u64));
    group.bench_function("factorize 64 pq", |b| {
        b.iter(|| {
            for &pq in &pqs {
                black_box(factorize(black_box(pq)).unwrap());
            }
        });
    });
    group.finish();
}

criterion_group!(benches, factoring);
criterion_main!(benches);
