//! IEEE 754 binary32 addition, subtraction and multiplication on integers,
//! for Arm cores without an FPU.
//!
//! On the Cortex-M0 every `f32` operation is a call into the soft-float
//! routines. Rust's (`compiler_builtins`) are generic: a multiply builds a
//! 64-bit product through `__aeabi_lmul` (the M0 has no `UMULL`) and an
//! addition normalises through `__clzsi2` (no `CLZ`); together they
//! executed 7.4 M of the 9.5 M instructions of the XOR firmware's run on
//! the M0 (`profile.sh`). These take the
//! 48-bit significand product from four 12 × 12-bit `MULS` and normalise
//! with a five-step shift search, and are exported under the EABI names
//! (`__aeabi_fadd`, `__aeabi_fsub`, `__aeabi_fmul`) on bare-metal Arm
//! targets with the soft-float ABI, where they replace the library's.
//!
//! Results are the correctly rounded ones (round to nearest, ties to even)
//! with subnormals, signed zeros and infinities as IEEE 754 specifies: the
//! same bits as an FPU's for every result that is not a NaN. A NaN result
//! is a quiet NaN whose sign and payload are not specified (an input's,
//! quieted, possibly with `sub`'s sign flip, or `0x7fc0_0000`); the tests
//! check only that it is a NaN. The tests (`tests/fpu.rs`) compare
//! each function with the host's FPU on about 32 million operand pairs:
//!
//! ```sh
//! cargo test --release -p microprop-softfloat --features host-test --target x86_64-unknown-linux-gnu
//! ```
#![no_std]

const SIGN: u32 = 0x8000_0000;
const ABS: u32 = 0x7fff_ffff;
const INF: u32 = 0x7f80_0000;
const QNAN: u32 = 0x7fc0_0000;
const FRAC: u32 = 0x007f_ffff;
const HIDDEN: u32 = 0x0080_0000;

/// `m` shifted right by `d`, with every bit shifted out OR-ed into bit 0
/// (the sticky bit that keeps rounding correct).
#[inline(always)]
fn shift_right_sticky(m: u32, d: u32) -> u32 {
    if d == 0 {
        m
    } else if d < 32 {
        (m >> d) | ((m << (32 - d)) != 0) as u32
    } else {
        (m != 0) as u32
    }
}

/// `m` (nonzero, below 2³¹) shifted left until bit 30 is set, and the
/// shift: five compares instead of a count-leading-zeros call.
#[inline(always)]
fn normalize(mut m: u32) -> (u32, u32) {
    let mut s = 0;
    if m < 1 << 15 {
        m <<= 16;
        s += 16;
    }
    if m < 1 << 23 {
        m <<= 8;
        s += 8;
    }
    if m < 1 << 27 {
        m <<= 4;
        s += 4;
    }
    if m < 1 << 29 {
        m <<= 2;
        s += 2;
    }
    if m < 1 << 30 {
        m <<= 1;
        s += 1;
    }
    (m, s)
}

/// The float `sign · m · 2^(e − 157)`, rounded to nearest, ties to even:
/// `m` carries the significand's leading bit at bit 30 (or lower for a
/// subnormal, with `e == 1`) and seven more bits below the last kept one,
/// the lowest of them sticky; `1 ≤ e ≤ 254`. The rounding is one add:
/// `m + 0x3f + lsb` carries into the kept bits exactly when the rest is
/// above half, or half with an odd lsb. A carry out of the significand
/// steps the exponent, up to infinity.
#[inline(always)]
fn round(sign: u32, e: u32, m: u32) -> u32 {
    let q = (m + 0x3f + ((m >> 7) & 1)) >> 7;
    sign | (((e - 1) << 23) + q)
}

/// `a + b` on the bits of two `f32`s.
#[inline(always)]
pub fn add(a: u32, b: u32) -> u32 {
    // |a| ≥ |b| from here on (the shift drops the sign).
    let (a, b) = if a << 1 < b << 1 { (b, a) } else { (a, b) };
    let ea = a << 1 >> 24;
    let eb = b << 1 >> 24;
    if ea.wrapping_sub(1) < 0xfe {
        if b << 1 == 0 {
            // x + 0 = x (a is normal, so not zero).
            return a;
        }
        if eb != 0 {
            // Both normal: significands with the leading one at bit 30.
            let d = ea - eb;
            let ma = (a << 8 | SIGN) >> 1;
            let mut mb = (b << 8 | SIGN) >> 1;
            if d > 7 {
                // Bits fall off the bottom: keep them as the sticky bit.
                mb = if d < 32 {
                    (mb >> d) | (mb << (32 - d) != 0) as u32
                } else {
                    1
                };
            } else {
                // The seven spare bits take them all.
                mb >>= d;
            }
            let sign = a & SIGN;
            if (a ^ b) & SIGN == 0 {
                let m = ma + mb;
                if m < 1 << 31 {
                    return round(sign, ea, m);
                }
                if ea < 0xfe {
                    return round(sign, ea + 1, (m >> 1) | (m & 1));
                }
            } else {
                let m = ma - mb;
                if m >= 1 << 30 {
                    return round(sign, ea, m);
                }
                if m >= 1 << 29 {
                    if ea > 1 {
                        return round(sign, ea - 1, m << 1);
                    }
                } else if m != 0 {
                    // Cancellation (exponents at most one apart): exact.
                    let (n, s) = normalize(m);
                    if s < ea {
                        return round(sign, ea - s, n);
                    }
                }
            }
        }
    } else if a << 1 == 0 {
        // Both zero: -0 only if both are.
        return a & b;
    }
    add_general(a, b)
}

/// [`add`] for every input with `|a| ≥ |b|` (as `add` orders them):
/// zeros, subnormals, infinities, NaNs, results that overflow or cancel
/// below the normal range.
#[inline(never)]
fn add_general(a: u32, b: u32) -> u32 {
    let ea = (a >> 23) & 0xff;
    if ea == 0xff {
        // a is infinite or NaN (so is b, or it is finite).
        if a & FRAC != 0 {
            return a | QNAN;
        }
        if b & ABS > INF {
            return b | QNAN;
        }
        if b & ABS == INF && (a ^ b) & SIGN != 0 {
            return QNAN;
        }
        return a;
    }
    if b & ABS == 0 {
        // x + 0 = x; zeros add to -0 only if both are -0.
        return if a & ABS == 0 { a & b } else { a };
    }
    let sign = a & SIGN;
    let eb = (b >> 23) & 0xff;
    // Significands with the leading bit at 30; a subnormal has exponent 1
    // and no hidden bit.
    let (ea, ma) = if ea == 0 {
        (1, (a & FRAC) << 7)
    } else {
        (ea, ((a & FRAC) | HIDDEN) << 7)
    };
    let (eb, mb) = if eb == 0 {
        (1, (b & FRAC) << 7)
    } else {
        (eb, ((b & FRAC) | HIDDEN) << 7)
    };
    let mb = shift_right_sticky(mb, ea - eb);
    if (a ^ b) & SIGN == 0 {
        let mut m = ma + mb;
        let mut e = ea;
        if m >= 1 << 31 {
            m = (m >> 1) | (m & 1);
            e += 1;
            if e == 0xff {
                return sign | INF;
            }
        }
        round(sign, e, m)
    } else {
        let m = ma - mb;
        if m == 0 {
            return 0;
        }
        let (n, s) = normalize(m);
        if s < ea {
            round(sign, ea - s, n)
        } else {
            // Below the normal range: as far as exponent 1 allows.
            round(sign, 1, m << (ea - 1))
        }
    }
}

/// `a − b` on the bits of two `f32`s.
#[inline(always)]
pub fn sub(a: u32, b: u32) -> u32 {
    add(a, b ^ SIGN)
}

/// `a · b` on the bits of two `f32`s.
#[inline(always)]
pub fn mul(a: u32, b: u32) -> u32 {
    let ea = a << 1 >> 24;
    let eb = b << 1 >> 24;
    if ea.wrapping_sub(1) < 0xfe && eb.wrapping_sub(1) < 0xfe {
        let (hi, lo) = product((a << 8 | SIGN) >> 8, (b << 8 | SIGN) >> 8);
        let sign = (a ^ b) & SIGN;
        // The exponent biased once: ea + eb − 127 (+1 for a product ≥ 2).
        let e = ea + eb;
        if hi >= 1 << 23 {
            if (127..126 + 0xff).contains(&e) {
                let m = (hi << 7) | (lo >> 17) | ((lo & 0x1_ffff) != 0) as u32;
                return round(sign, e - 126, m);
            }
        } else if (128..127 + 0xff).contains(&e) {
            let m = (hi << 8) | (lo >> 16) | ((lo & 0xffff) != 0) as u32;
            return round(sign, e - 127, m);
        }
    }
    mul_general(a, b)
}

/// The 48-bit product of two 24-bit significands as `(p >> 24, p & 0xff_ffff)`,
/// from 12-bit halves: every partial product fits in 32 bits, so the M0's
/// 32-bit `MULS` does it without a 64-bit multiply call.
#[inline(always)]
fn product(ma: u32, mb: u32) -> (u32, u32) {
    let (ah, al) = (ma >> 12, ma & 0xfff);
    let (bh, bl) = (mb >> 12, mb & 0xfff);
    let mid = ah * bl + al * bh;
    let t = al * bl + ((mid & 0xfff) << 12);
    (ah * bh + (mid >> 12) + (t >> 24), t & 0x00ff_ffff)
}

/// [`mul`] for every input: zeros, subnormals, infinities, NaNs, products
/// that overflow or underflow.
#[inline(never)]
fn mul_general(a: u32, b: u32) -> u32 {
    let sign = (a ^ b) & SIGN;
    let (mut ea, mut eb) = (((a >> 23) & 0xff) as i32, ((b >> 23) & 0xff) as i32);
    let (mut ma, mut mb) = (a & FRAC, b & FRAC);
    if ea == 0xff || eb == 0xff {
        if a & ABS > INF {
            return a | QNAN;
        }
        if b & ABS > INF {
            return b | QNAN;
        }
        // ∞ · 0 is NaN; ∞ · x is ∞.
        if a & ABS == 0 || b & ABS == 0 {
            return QNAN;
        }
        return sign | INF;
    }
    if a & ABS == 0 || b & ABS == 0 {
        return sign;
    }
    // Significands of 24 bits with the leading one at bit 23; a subnormal's
    // is shifted up and its exponent goes below 1.
    if ea == 0 {
        let (n, s) = normalize(ma << 7);
        ma = n >> 7;
        ea = 1 - s as i32;
    } else {
        ma |= HIDDEN;
    }
    if eb == 0 {
        let (n, s) = normalize(mb << 7);
        mb = n >> 7;
        eb = 1 - s as i32;
    } else {
        mb |= HIDDEN;
    }
    let (upper, lower) = product(ma, mb); // upper in [2²², 2²⁴)
    let (m, mut e) = if upper >= 1 << 23 {
        let m = (upper << 7) | (lower >> 17) | ((lower & 0x1_ffff) != 0) as u32;
        (m, ea + eb - 126)
    } else {
        let m = (upper << 8) | (lower >> 16) | ((lower & 0xffff) != 0) as u32;
        (m, ea + eb - 127)
    };
    if e >= 0xff {
        return sign | INF;
    }
    let mut m = m;
    if e < 1 {
        m = shift_right_sticky(m, (1 - e) as u32);
        e = 1;
    }
    round(sign, e as u32, m)
}

/// The EABI entry points the compiler calls for `f32` `+`, `−` and `·` on
/// Arm targets without an FPU.
#[cfg(all(target_arch = "arm", target_os = "none", not(target_abi = "eabihf")))]
#[allow(unsafe_code)] // `no_mangle`: these names are the EABI's contract.
mod aeabi {
    /// `a + b` (soft-float EABI).
    #[no_mangle]
    #[inline(never)]
    pub extern "C" fn __aeabi_fadd(a: f32, b: f32) -> f32 {
        f32::from_bits(super::add(a.to_bits(), b.to_bits()))
    }
    /// `a − b` (soft-float EABI): [`__aeabi_fadd`] of `−b`, one copy of
    /// the addition in flash.
    #[no_mangle]
    pub extern "C" fn __aeabi_fsub(a: f32, b: f32) -> f32 {
        __aeabi_fadd(a, -b)
    }
    /// `a · b` (soft-float EABI).
    #[no_mangle]
    pub extern "C" fn __aeabi_fmul(a: f32, b: f32) -> f32 {
        f32::from_bits(super::mul(a.to_bits(), b.to_bits()))
    }
}
