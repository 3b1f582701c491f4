//! Every function against the host's FPU (x86-64 SSE or AArch64, both IEEE
//! 754 binary32 with round to nearest, ties to even, and subnormals): the
//! same bits, and a NaN where it gives one.

use microprop_softfloat::{add, mul, sub};

/// SplitMix64: a fixed, dependency-free stream of operands.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u32 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as u32
    }
}

fn check(name: &str, got: u32, want: f32, a: u32, b: u32) {
    let ok = if want.is_nan() {
        f32::from_bits(got).is_nan()
    } else {
        got == want.to_bits()
    };
    assert!(
        ok,
        "{name}({a:#010x}, {b:#010x}) = {got:#010x}, the FPU gives {:#010x}",
        want.to_bits()
    );
}

fn all(a: u32, b: u32) {
    let (x, y) = (f32::from_bits(a), f32::from_bits(b));
    check("add", add(a, b), x + y, a, b);
    check("sub", sub(a, b), x - y, a, b);
    check("mul", mul(a, b), x * y, a, b);
}

/// Zeros, subnormals, the edges of the normal range, infinities and NaNs,
/// each against each, with both signs.
#[test]
fn special_values_against_each_other() {
    let base = [
        0u32,
        1,
        2,
        3,
        0x0000_0400,
        0x003f_ffff,
        0x0040_0000,
        0x007f_fffe,
        0x007f_ffff,
        0x0080_0000,
        0x0080_0001,
        0x00ff_ffff,
        0x0100_0000,
        0x3f7f_ffff,
        0x3f80_0000,
        0x3f80_0001,
        0x3fc0_0000,
        0x4040_0000,
        0x4b00_0000,
        0x4b80_0000,
        0x7eff_ffff,
        0x7f00_0000,
        0x7f7f_fffe,
        0x7f7f_ffff,
        0x7f80_0000,
        0x7f80_0001,
        0x7fc0_0000,
        0x7fff_ffff,
        0x1f80_0000,
        0x2000_0000,
        0x5f80_0000,
        0x6000_0000,
    ];
    for &a in &base {
        for &b in &base {
            for s in [0, 0x8000_0000] {
                for t in [0, 0x8000_0000] {
                    all(a | s, b | t);
                }
            }
        }
    }
}

/// Uniformly random bit patterns: every exponent pair, mostly far apart.
#[test]
fn random_bit_patterns() {
    let mut r = Rng(1);
    for _ in 0..4_000_000 {
        all(r.next(), r.next());
    }
}

/// Operands whose exponents differ by at most 3, where addition cancels
/// and rounds most often, and whose products land near every exponent.
#[test]
fn close_exponents_and_cancellation() {
    let mut r = Rng(2);
    for _ in 0..6_000_000 {
        let a = r.next();
        let k = r.next();
        let e = (((a >> 23) & 0xff) as i32 + (k & 7) as i32 - 3).clamp(0, 0xfe) as u32;
        let b = (k & 0x8000_0000) | (e << 23) | (r.next() & 0x007f_ffff);
        // Also a b that shares a's leading significand bits.
        let c = (b & 0xff80_0000) | (a & 0x007f_ff00) | (k >> 24);
        all(a, b);
        all(a, c);
    }
}

/// Small operands: subnormal sums and differences, products that fall
/// below the normal range (gradual underflow, rounding up to the smallest
/// normal, flushing to zero), and subnormal times large.
#[test]
fn subnormal_and_underflow() {
    let mut r = Rng(3);
    for _ in 0..4_000_000 {
        let s = r.next();
        let a = (s & 0x8000_0000) | (r.next() % 0x0200_0000); // exponents 0..3
        let b = (s << 1 & 0x8000_0000) | (r.next() % 0x2000_0000 + 0x0f00_0000);
        let c = (s << 2 & 0x8000_0000) | (r.next() % 0x0100_0000);
        all(a, b);
        all(a, c);
        all(b, r.next() | 0x4000_0000 & !0x8000_0000);
    }
}

/// Products and sums near the top of the range: overflow to infinity,
/// and rounding up to it.
#[test]
fn overflow() {
    let mut r = Rng(4);
    for _ in 0..2_000_000 {
        let s = r.next();
        let a = (s & 0x8000_0000) | (0x7e00_0000 + r.next() % 0x0180_0000);
        let b = (s << 1 & 0x8000_0000) | (0x3f00_0000 + r.next() % 0x0100_0000);
        all(a, b);
        all(a, a ^ (s & 0x8000_0000));
    }
}
