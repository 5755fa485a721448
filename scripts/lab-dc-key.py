#!/usr/bin/env python3
"""Writes a lab-only multi-prime RSA key (RFC 8017 section 3.2) for the lab's fake Telegram
datacenter: a 2048-bit modulus with e = 65537, made of COUNT primes of 2048 / COUNT bits.

Why multi-prime: a client's side of the auth-key exchange (public-key encryption with the
2048-bit modulus) is the same whatever the primes, but the datacenter's decryption costs one
modular exponentiation per prime, and proxy-audit does primes of one machine word with
64-bit arithmetic: 32 primes of 64 bits cost about a fortieth of two 1024-bit ones. In the
field that decryption runs on Telegram's servers; in the lab it shares the auditor's
machine, so a two-prime key made every lab audit measure the fake datacenter's CPU more than
the auditor's. The key is published in the repository and trusted only by the lab profile,
so the strength of its primes does not matter.

Usage: scripts/lab-dc-key.py [COUNT] > src/lab/keys/lab-dc.primes   (the lab's: COUNT = 32)
"""
import math
import secrets
import sys

E = 65537
BITS = 2048


def probably_prime(n: int, rounds: int = 64) -> bool:
    """Miller-Rabin with random bases."""
    if n < 4:
        return n in (2, 3)
    if n % 2 == 0:
        return False
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(rounds):
        x = pow(2 + secrets.randbelow(n - 3), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def prime(low: int, high: int) -> int:
    """A random prime in [low, high) whose p - 1 is coprime with E."""
    while True:
        p = (low + secrets.randbelow(high - low)) | 1
        if p < high and math.gcd(E, p - 1) == 1 and probably_prime(p):
            return p


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 32
    if count < 2 or BITS % count:
        sys.exit(f"COUNT must be at least 2 and divide {BITS}")
    size = BITS // count
    # Each prime at least the count-th root of 2^(BITS - 1), so the product has all its bits.
    low = _root_low(count, size)
    primes = sorted({prime(low, 1 << size) for _ in range(count)})
    if len(primes) != count:
        sys.exit("drew the same prime twice; run again")
    n = math.prod(primes)
    assert n.bit_length() == BITS, n.bit_length()
    print("# lab-only key, never trusted outside the lab")
    print(f"# lab-dc: {BITS}-bit multi-prime RSA key (RFC 8017 section 3.2), e = {E}, {count} primes")
    print(f"# of {size} bits, one per line in hex, written by scripts/lab-dc-key.py {count}.")
    for p in primes:
        print(f"{p:x}")


def _root_low(count: int, size: int) -> int:
    """The least integer x with x^count >= 2^(BITS - 1)."""
    x = 1 << (size - 1)
    step = 1 << (size - 2)
    while step:
        if (x + step) ** count < 1 << (BITS - 1):
            x += step
        step >>= 1
    return x + 1


if __name__ == "__main__":
    main()
