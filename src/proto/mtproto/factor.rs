//! Splitting MTProto's `pq` (a product of two primes near 2³¹) into its factors, as every
//! client must before `req_DH_params`, with the proof that each is prime.
//!
//! The split is the largest CPU cost of a Telegram proof on the client's side, so it is done
//! by the elliptic-curve method (Lenstra), which beats Pollard's rho at this size: Suyama's
//! curves with x-only Montgomery arithmetic, stage 1 to B1 = 125 and a baby-step giant-step
//! stage 2 to B2 = 6,250. A curve costs about 5,000 modular products and splits a typical
//! `pq` about one time in six; Pollard's rho needs some 75,000 products for the same number.
//! Pollard–Brent remains as the fallback that always ends, for the rare input that 64 curves
//! leave whole. `cargo bench --bench mtproto` measures it: 72 µs per `pq`, against 425 µs
//! for Pollard–Brent alone.
//!
//! Written here because no kept crate splits a bare `u64` quickly: `machine-factor` 0.2
//! (Pollard's rho) took 322 µs and `num-prime` 0.7 1.36 ms per `pq` on 256 such semiprimes.

use std::sync::LazyLock;

/// Stage-1 bound: the curve's order must be a product of prime powers up to this (and one
/// more prime up to [`B2`]).
const B1: u64 = 125;
/// Stage-2 bound: the largest prime the order may have beyond [`B1`].
const B2: u64 = 50 * B1;
/// Stage-2 giant step, 2·3·5·7: the baby steps are the odd multiples coprime to it.
const WHEEL: u64 = 210;
/// Curves tried before falling back to Pollard–Brent.
const CURVES: u64 = 64;

/// Splits `pq` into primes `p < q`; `None` for anything but a product of two distinct
/// primes.
pub fn split(pq: u64) -> Option<(u64, u64)> {
    if pq < 6 || is_prime(pq) {
        return None;
    }
    let factor = if pq % 2 == 0 {
        2
    } else {
        (6..6 + CURVES)
            .find_map(|sigma| ecm(pq, sigma))
            .or_else(|| (1..=16).find_map(|c| brent(pq, c)))?
    };
    let (p, q) = (factor.min(pq / factor), factor.max(pq / factor));
    (p < q && p * q == pq && is_prime(p) && is_prime(q)).then_some((p, q))
}

/// `base^exp mod n` for an odd `n` (Montgomery products; the lab datacenter's CRT
/// exponentiations with its 64-bit primes).
pub(crate) fn pow_mod(base: u64, exp: u64, n: u64) -> u64 {
    let field = Montgomery::new(n);
    // mul(x, 1) = x · R⁻¹: out of Montgomery form.
    field.mul(field.pow(field.to_form(base % n), exp), 1)
}

/// Deterministic Miller–Rabin: bases 2, 7 and 61 decide every n below 4,759,123,141 (all
/// of `pq`'s factors), and Sinclair's seven bases every u64.
pub fn is_prime(n: u64) -> bool {
    /// Bit i set for each prime i below 64.
    const SMALL: u64 = 0x2820_8a20_a08a_28ac;
    if n < 64 {
        return SMALL >> n & 1 == 1;
    }
    if [2, 3, 5, 7].iter().any(|&d| n % d == 0) {
        return false;
    }
    let bases: &[u64] = if n < 4_759_123_141 {
        &[2, 7, 61]
    } else {
        &[2, 325, 9_375, 28_178, 450_775, 9_780_504, 1_795_265_022]
    };
    let field = Montgomery::new(n);
    let one = field.to_form(1);
    let minus_one = n - one;
    let shift = (n - 1).trailing_zeros();
    let odd = (n - 1) >> shift;
    bases.iter().all(|&base| {
        if base % n == 0 {
            return true;
        }
        let mut x = field.pow(field.to_form(base), odd);
        if x == one || x == minus_one {
            return true;
        }
        (1..shift).any(|_| {
            x = field.mul(x, x);
            x == minus_one
        })
    })
}

/// Greatest common divisor (Stein's binary algorithm: shifts and subtractions, no
/// division, which matters at one gcd per 128 steps of the rho walk).
fn gcd(mut a: u64, mut b: u64) -> u64 {
    if a == 0 || b == 0 {
        return a | b;
    }
    let shift = (a | b).trailing_zeros();
    a >>= a.trailing_zeros();
    loop {
        b >>= b.trailing_zeros();
        if a > b {
            (a, b) = (b, a);
        }
        b -= a;
        if b == 0 {
            return a << shift;
        }
    }
}

/// `a · b mod m` by a 128-bit remainder (for set-up, not inner loops).
fn mul_mod(a: u64, b: u64, m: u64) -> u64 {
    // Below m, so it fits.
    u64::try_from(u128::from(a) * u128::from(b) % u128::from(m)).unwrap_or(0)
}

/// `a⁻¹ mod n` (extended Euclid), or `Err(gcd(a, n))` when there is none.
fn inverse(a: u64, n: u64) -> Result<u64, u64> {
    let (mut r0, mut r1) = (i128::from(n), i128::from(a % n));
    let (mut t0, mut t1) = (0_i128, 1_i128);
    while r1 != 0 {
        let quotient = r0 / r1;
        (r0, r1) = (r1, r0 - quotient * r1);
        (t0, t1) = (t1, t0 - quotient * t1);
    }
    let common = u64::try_from(r0).unwrap_or(0);
    if common == 1 {
        // t0 is in (−n, n).
        Ok(u64::try_from(t0.rem_euclid(i128::from(n))).unwrap_or(0))
    } else {
        Err(common)
    }
}

/// Arithmetic modulo an odd `n` in Montgomery form (R = 2⁶⁴): a product costs three
/// multiplications and no 128-bit division. Every value is kept below `n`.
#[derive(Debug, Clone, Copy)]
struct Montgomery {
    /// The odd modulus.
    n: u64,
    /// n⁻¹ mod 2⁶⁴.
    inverse: u64,
}

impl Montgomery {
    /// The field for the odd modulus `n`.
    fn new(n: u64) -> Self {
        // Newton's iteration doubles the correct low bits each round: 3 (n·n ≡ 1 mod 8 for
        // odd n), 6, 12, 24, 48, 96.
        let mut inverse = n;
        for _ in 0..5 {
            inverse = inverse.wrapping_mul(2_u64.wrapping_sub(n.wrapping_mul(inverse)));
        }
        Self { n, inverse }
    }

    /// `x · R mod n`: `x` in Montgomery form (one 128-bit division; not for inner loops).
    fn to_form(self, x: u64) -> u64 {
        let form = (u128::from(x) << 64) % u128::from(self.n);
        // Below n, so it fits.
        u64::try_from(form).unwrap_or(0)
    }

    /// `a · b · R⁻¹ mod n` for `a, b < n` (REDC, subtracting form): with m = t·n⁻¹ mod R,
    /// t − m·n is a multiple of R, so its quotient is the difference of the high halves,
    /// which lies in (−n, n). No 128-bit sum, hence no carry to track.
    fn mul(self, a: u64, b: u64) -> u64 {
        let product = u128::from(a) * u128::from(b);
        #[allow(clippy::cast_possible_truncation)] // the low 64 bits are what REDC needs
        let m = (product as u64).wrapping_mul(self.inverse);
        #[allow(clippy::cast_possible_truncation)] // a high half always fits
        let (high, multiple) = (
            (product >> 64) as u64,
            ((u128::from(m) * u128::from(self.n)) >> 64) as u64,
        );
        let (difference, negative) = high.overflowing_sub(multiple);
        if negative {
            difference.wrapping_add(self.n)
        } else {
            difference
        }
    }

    /// `a + b mod n` for `a, b < n`.
    fn add(self, a: u64, b: u64) -> u64 {
        let (sum, carried) = a.overflowing_add(b);
        if carried || sum >= self.n {
            sum.wrapping_sub(self.n)
        } else {
            sum
        }
    }

    /// `a − b mod n` for `a, b < n`.
    fn sub(self, a: u64, b: u64) -> u64 {
        let (difference, negative) = a.overflowing_sub(b);
        if negative {
            difference.wrapping_add(self.n)
        } else {
            difference
        }
    }

    /// `base^exp` for `base` in Montgomery form, in Montgomery form.
    fn pow(self, mut base: u64, mut exp: u64) -> u64 {
        let mut result = self.to_form(1);
        while exp > 0 {
            if exp & 1 == 1 {
                result = self.mul(result, base);
            }
            base = self.mul(base, base);
            exp >>= 1;
        }
        result
    }
}

/// A point of a Montgomery curve B·y² = x³ + A·x² + x by its projective x alone, (X : Z),
/// both in Montgomery form. Z ≡ 0 modulo a prime p means the point is the curve's zero
/// modulo p: the whole method rests on finding that p as gcd(Z, n).
#[derive(Debug, Clone, Copy)]
struct Point {
    /// X.
    x: u64,
    /// Z.
    z: u64,
}

/// One curve's arithmetic: the field and (A + 2) / 4.
#[derive(Debug, Clone, Copy)]
struct Curve {
    /// The field modulo the number being split.
    field: Montgomery,
    /// (A + 2) / 4 in Montgomery form.
    a24: u64,
}

impl Curve {
    /// Suyama's curve for `sigma` (≥ 6) modulo `n`, with its starting point: its order is a
    /// multiple of 12 modulo every prime, which makes it smooth far more often than a random
    /// curve's. `Err` carries gcd(n, ·) of a number that had no inverse.
    fn suyama(n: u64, sigma: u64) -> Result<(Self, Point), u64> {
        // u = σ² − 5, v = 4σ; start (u³ : v³); (A + 2)/4 = (v − u)³ (3u + v) / (16 u³ v).
        let times = |left: u64, right: u64| mul_mod(left, right, n);
        let cube = |value: u64| times(times(value, value), value);
        let sigma = sigma % n;
        let u = (times(sigma, sigma) + n - 5 % n) % n;
        let v = times(4 % n, sigma);
        let numerator = times(cube((v + n - u) % n), (times(3, u) + v) % n);
        let denominator = times(times(16 % n, cube(u)), v);
        let a24 = times(numerator, inverse(denominator, n)?);
        let field = Montgomery::new(n);
        let curve = Self {
            field,
            a24: field.to_form(a24),
        };
        let start = Point {
            x: field.to_form(cube(u)),
            z: field.to_form(cube(v)),
        };
        Ok((curve, start))
    }

    /// 2P (5 products).
    fn double(self, p: Point) -> Point {
        let f = self.field;
        let sum = f.add(p.x, p.z);
        let difference = f.sub(p.x, p.z);
        let (sum, difference) = (f.mul(sum, sum), f.mul(difference, difference));
        let cross = f.sub(sum, difference);
        Point {
            x: f.mul(sum, difference),
            z: f.mul(cross, f.add(difference, f.mul(self.a24, cross))),
        }
    }

    /// P + Q from P, Q and P − Q (6 products).
    fn add(self, p: Point, q: Point, difference: Point) -> Point {
        let f = self.field;
        let left = f.mul(f.sub(p.x, p.z), f.add(q.x, q.z));
        let right = f.mul(f.add(p.x, p.z), f.sub(q.x, q.z));
        let (sum, minus) = (f.add(left, right), f.sub(left, right));
        Point {
            x: f.mul(difference.z, f.mul(sum, sum)),
            z: f.mul(difference.x, f.mul(minus, minus)),
        }
    }

    /// k·P for k ≥ 1 (Montgomery's ladder: R₁ − R₀ = P throughout).
    fn multiply(self, p: Point, k: u64) -> Point {
        let (mut r0, mut r1) = (p, self.double(p));
        for bit in (0..k.checked_ilog2().unwrap_or(0)).rev() {
            if k >> bit & 1 == 1 {
                (r0, r1) = (self.add(r1, r0, p), self.double(r1));
            } else {
                (r0, r1) = (self.double(r0), self.add(r1, r0, p));
            }
        }
        r0
    }
}

/// Stage 1's multiplier as u64 chunks: the product of every prime power up to [`B1`].
static STAGE_ONE: LazyLock<Vec<u64>> = LazyLock::new(|| {
    let mut chunks = vec![1_u64];
    for prime in (2..=B1).filter(|&k| is_prime(k)) {
        let mut power = prime;
        while power * prime <= B1 {
            power *= prime;
        }
        match chunks.last_mut() {
            Some(last) if last.checked_mul(power).is_some() => *last *= power,
            _ => chunks.push(power),
        }
    }
    chunks
});

/// One ECM curve on the odd composite `n`, Suyama's with parameter `sigma` (≥ 6). A factor,
/// or `None` (try another curve).
fn ecm(n: u64, sigma: u64) -> Option<u64> {
    let (curve, start) = match Curve::suyama(n, sigma) {
        Ok(curve) => curve,
        // The set-up met a number sharing a factor with n: that is what we are after (or,
        // when the share is n itself, the curve is useless).
        Err(common) => return Some(common).filter(|&d| d > 1 && d < n),
    };
    let field = curve.field;
    let stage_one = STAGE_ONE
        .iter()
        .fold(start, |point, &chunk| curve.multiply(point, chunk));
    let found = |value: u64| Some(gcd(value, n)).filter(|&d| d > 1 && d < n);
    if let Some(factor) = found(stage_one.z) {
        return Some(factor);
    }
    // Stage 2: with W = WHEEL, a prime ℓ ∈ (B1, B2] is j·W ± b for a baby step b coprime to
    // W, and ℓ·Q = 0 mod p (Q the stage-1 point) makes x(j·W·Q) = x(b·Q) mod p:
    // X_j·Z_b − X_b·Z_j ≡ 0.
    let babies = baby_steps(curve, stage_one);
    let step = curve.multiply(stage_one, WHEEL);
    let mut accumulated = field.to_form(1);
    let mut accumulate = |giant: Point| {
        for baby in &babies {
            let cross = field.sub(field.mul(giant.x, baby.z), field.mul(baby.x, giant.z));
            accumulated = field.mul(accumulated, cross);
        }
    };
    // Giant steps j·W·Q for j = 1, 2, …: each the last plus W·Q, the one before being the
    // difference.
    let (mut previous, mut giant) = (step, curve.double(step));
    accumulate(previous);
    for _ in 2..=B2 / WHEEL + 1 {
        accumulate(giant);
        (previous, giant) = (giant, curve.add(giant, step, previous));
    }
    found(accumulated)
}

/// b·Q for every odd b below [`WHEEL`] / 2 that is coprime to it.
fn baby_steps(curve: Curve, q: Point) -> Vec<Point> {
    let twice = curve.double(q);
    // (b + 2)·Q = b·Q + 2·Q, the difference being (b − 2)·Q.
    let (mut before, mut last) = (q, curve.add(twice, q, q));
    let mut odd = vec![before, last];
    for _ in (5..WHEEL / 2).step_by(2) {
        (before, last) = (last, curve.add(last, twice, before));
        odd.push(last);
    }
    (1..WHEEL / 2)
        .step_by(2)
        .zip(odd)
        .filter(|&(b, _)| gcd(b, WHEEL) == 1)
        .map(|(_, point)| point)
        .collect()
}

/// One run of Pollard–Brent with `x ↦ x² + increment`: a non-trivial factor of the odd
/// composite `composite`, or `None` (try another increment). The cycle length is capped, so
/// a run is bounded.
fn brent(composite: u64, increment: u64) -> Option<u64> {
    /// Steps between two gcds.
    const BATCH: u64 = 128;
    /// Longest cycle length tried (√p for p < 2³² needs far less).
    const MAX_CYCLE: u64 = 1 << 24;
    let field = Montgomery::new(composite);
    let increment = increment % composite;
    let step = |value: u64| field.add(field.mul(value, value), increment);
    let mut hare = 2 % composite;
    let mut cycle = 1;
    let mut product = 1;
    let mut divisor = 1;
    let mut tortoise = hare;
    let mut saved = hare;
    while divisor == 1 {
        tortoise = hare;
        for _ in 0..cycle {
            hare = step(hare);
        }
        let mut done = 0;
        while done < cycle && divisor == 1 {
            saved = hare;
            for _ in 0..BATCH.min(cycle - done) {
                hare = step(hare);
                product = field.mul(product, tortoise.abs_diff(hare));
            }
            divisor = gcd(product, composite);
            done += BATCH;
        }
        cycle *= 2;
        if cycle > MAX_CYCLE {
            return None;
        }
    }
    if divisor == composite {
        // The batch overshot: replay it one step at a time.
        divisor = (0..BATCH)
            .map(|_| {
                saved = step(saved);
                gcd(tortoise.abs_diff(saved), composite)
            })
            .find(|&found| found > 1)?;
    }
    (divisor != 1 && divisor != composite).then_some(divisor)
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng as _, SeedableRng as _};

    use super::*;

    fn trial_division_prime(n: u64) -> bool {
        n >= 2 && (2..=n.isqrt()).all(|d| n % d != 0)
    }

    /// A prime between 2³⁰ and 2³¹, like each factor of Telegram's `pq`.
    fn prime(rng: &mut StdRng) -> u64 {
        loop {
            let candidate = rng.random_range(1_u64 << 30..1 << 31) | 1;
            if trial_division_prime(candidate) {
                return candidate;
            }
        }
    }

    #[test]
    fn primality_agrees_with_trial_division_and_knows_the_pseudoprimes() {
        for n in 0..20_000 {
            assert_eq!(is_prime(n), trial_division_prime(n), "{n}");
        }
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..2_000 {
            let n = rng.random_range(1_u64 << 30..1 << 33);
            assert_eq!(is_prime(n), trial_division_prime(n), "{n}");
        }
        // Strong pseudoprimes: to bases 2, 3, 5 and 7 (3,215,031,751); the first that 2, 7
        // and 61 miss (4,759,123,141 = 48,781 · 97,561, where the seven bases take over);
        // and a Carmichael number.
        for composite in [
            3_215_031_751,
            4_759_123_141,
            561,
            1_000_000_007 * 998_244_353,
        ] {
            assert!(!is_prime(composite), "{composite}");
        }
        for prime in [4_294_967_291, 18_446_744_073_709_551_557, 1_000_000_007] {
            assert!(is_prime(prime), "{prime}");
        }
    }

    #[test]
    fn elliptic_curves_alone_split_every_pq() {
        // Without the rho fallback, which would hide a broken curve arithmetic.
        let mut rng = StdRng::seed_from_u64(0x7071);
        let mut curves = 0;
        for _ in 0..200 {
            let (p, q) = (prime(&mut rng), prime(&mut rng));
            let n = p * q;
            let (tried, factor) = (6..6 + CURVES)
                .enumerate()
                .find_map(|(tried, a24)| ecm(n, a24).map(|factor| (tried + 1, factor)))
                .unwrap_or_else(|| panic!("no curve split {p} · {q}"));
            assert!(factor == p || factor == q, "{n}: {factor}");
            curves += tried;
        }
        // About three curves each; a fault that only sometimes finds a factor shows here.
        assert!(curves < 200 * 8, "{curves} curves for 200 numbers");
    }

    #[test]
    fn curve_arithmetic_agrees_with_the_ladder() {
        // 7·P three ways: the ladder, 2·(3·P) + P, and 3·P + 4·P; and 6·P by doubling.
        let n = 1_338_315_091 * 1_710_990_221;
        let field = Montgomery::new(n);
        let curve = Curve {
            field,
            a24: field.to_form(5),
        };
        let p = Point {
            x: field.to_form(2),
            z: field.to_form(1),
        };
        let same = |a: Point, b: Point| field.mul(a.x, b.z) == field.mul(b.x, a.z);
        let three = curve.multiply(p, 3);
        let four = curve.multiply(p, 4);
        let six = curve.double(three);
        assert!(same(six, curve.multiply(p, 6)));
        assert!(same(
            curve.add(six, p, curve.multiply(p, 5)),
            curve.multiply(p, 7)
        ));
        assert!(same(curve.add(four, three, p), curve.multiply(p, 7)));
        assert!(!same(curve.multiply(p, 7), curve.multiply(p, 8)));
    }

    #[test]
    fn pow_mod_agrees_with_square_and_multiply() {
        let mut rng = StdRng::seed_from_u64(5);
        for _ in 0..500 {
            let n = rng.random::<u64>() | 1;
            let (base, exp) = (rng.random::<u64>(), rng.random_range(0..1_u64 << 20));
            let mut expected = 1 % n;
            for bit in (0..64).rev() {
                expected = mul_mod(expected, expected, n);
                if exp >> bit & 1 == 1 {
                    expected = mul_mod(expected, base % n, n);
                }
            }
            assert_eq!(pow_mod(base, exp, n), expected, "{base}^{exp} mod {n}");
        }
        assert_eq!(pow_mod(5, 0, 1), 0);
    }

    #[test]
    fn split_refuses_all_but_two_distinct_primes() {
        let mut rng = StdRng::seed_from_u64(11);
        for _ in 0..50 {
            let (p, q) = (prime(&mut rng), prime(&mut rng));
            if p != q {
                assert_eq!(split(p * q), Some((p.min(q), p.max(q))));
            }
        }
        assert_eq!(split(6), Some((2, 3)));
        // The two largest 32-bit primes: the hardest case pq can be.
        assert_eq!(
            split(4_294_967_291 * 4_294_967_279),
            Some((4_294_967_279, 4_294_967_291))
        );
        let p = 1_338_315_091;
        for bad in [0, 1, 4, 5, 9, 105, 1_000_000_007, p * p, 1_009 * p * 3] {
            assert_eq!(split(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        /// Montgomery products agree with plain `u128` arithmetic, up to the R factor, for
        /// every odd modulus, including ones near 2⁶⁴; so do sums, differences and forms.
        #[test]
        fn montgomery_agrees_with_u128_arithmetic(
            n in proptest::prop_oneof![3_u64..1_000, (u64::MAX - 1_000)..=u64::MAX, 3_u64..],
            a: u64,
            b: u64,
        ) {
            let n = n | 1;
            let (a, b) = (a % n, b % n);
            let field = Montgomery::new(n);
            // R mod n, to undo REDC's R⁻¹: mul(a, b)·R ≡ a·b.
            let r = field.to_form(1);
            proptest::prop_assert_eq!(u128::from(r), (1_u128 << 64) % u128::from(n));
            let back = mul_mod(field.mul(a, b), r, n);
            proptest::prop_assert_eq!(back, mul_mod(a, b, n));
            proptest::prop_assert_eq!(field.to_form(a), mul_mod(a, r, n));
            let sum = (u128::from(a) + u128::from(b)) % u128::from(n);
            proptest::prop_assert_eq!(u128::from(field.add(a, b)), sum);
            let difference = (u128::from(a) + u128::from(n) - u128::from(b)) % u128::from(n);
            proptest::prop_assert_eq!(u128::from(field.sub(a, b)), difference);
        }

        /// Any number a server sends as `pq` gets an answer (no panic), and an answer is
        /// two distinct primes whose product it is.
        #[test]
        fn split_answers_any_u64_rightly(n: u64) {
            if let Some((p, q)) = split(n) {
                proptest::prop_assert!(p < q && p.checked_mul(q) == Some(n));
                proptest::prop_assert!(trial_division_prime(p));
                proptest::prop_assert!(is_prime(q));
            }
        }

        /// The binary gcd agrees with Euclid's.
        #[test]
        fn gcd_agrees_with_euclid(a: u64, b: u64, shift in 0_u32..20) {
            let (a, b) = (a >> shift, b.rotate_left(shift));
            let euclid = {
                let (mut x, mut y) = (a, b);
                while y != 0 {
                    (x, y) = (y, x % y);
                }
                x
            };
            proptest::prop_assert_eq!(gcd(a, b), euclid);
        }
    }
}
