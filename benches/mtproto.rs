//! The CPU cost of one Telegram proof on each side.
//!
//! - The auditor's largest part: splitting `pq` (elliptic curves, see `proto::mtproto::factor`).
//!   Criterion prints the median time to factor 64 fixed semiprimes, each the product of two
//!   primes drawn between 2³⁰ and 2³¹ as Telegram's are (divide by 64 for one `pq`).
//! - The auditor's RSA encryption of `req_DH_params` (public exponent 65537).
//! - The datacenter's: one raw RSA decryption of `req_DH_params`, with the lab's multi-prime
//!   key (32 primes of 64 bits) and with a two-prime 2048-bit key (the impostor's), to show
//!   what the multi-prime key saves a lab that shares the auditor's machine.
//!
//! Run: `cargo bench --bench mtproto`.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use proxy_audit::lab::fake_dc::{impostor_dc_key, lab_dc_key};
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

fn decryption(c: &mut Criterion) {
    let mut group = c.benchmark_group("mtproto");
    let message = [0x5a; 255];
    for (name, key) in [
        ("decrypt, 32 primes (lab)", lab_dc_key().unwrap()),
        ("decrypt, 2 primes", impostor_dc_key().unwrap()),
    ] {
        let ciphertext = key.public().raw_encrypt(&message).unwrap();
        if name.contains("lab") {
            group.bench_function("encrypt, e = 65537", |b| {
                b.iter(|| black_box(key.public().raw_encrypt(black_box(&message))));
            });
        }
        group.bench_function(name, |b| {
            b.iter(|| black_box(key.raw_decrypt(black_box(&ciphertext))));
        });
    }
    group.finish();
}

criterion_group!(benches, factoring, decryption);
criterion_main!(benches);
