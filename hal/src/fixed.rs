//! The 16-bit fixed-point element type, [`Fixed`].

use core::cmp::Ordering;
use core::fmt;
use core::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

use crate::Element;

/// A signed 16-bit fixed-point number with `F` fractional bits (`1 ≤ F ≤ 14`):
/// the value `self.0 / 2^F`, an element type for training on cores without
/// an FPU.
///
/// [`Fixed<F>`] stores a value `v` as the `i16` `round(v · 2^F)`: with
/// [`Q10`] (`F = 10`, the format the firmware uses) that is the range
/// `[-32, 32)` in steps of `2^-10 ≈ 9.8e-4`. Why this representation:
///
/// - **Storage is half of `f32`'s.** A 64-16-10 network with its gradients
///   fits a 6 KB arena, which the 16 KiB micro:bit needs.
/// - **One format for every tensor.** A product of two elements is an exact
///   `i32` (the Cortex-M0's one-cycle `MULS` is 32 × 32 → 32), and a dot
///   product sums those in an `i64` (two instructions per add on the M0) and
///   rounds once: it cannot overflow for any length below `2^33`. A per-tensor
///   scale would buy range at the cost of a rescale in every op.
/// - **5 integer bits, 10 fractional.** Range matters more than resolution:
///   softmax cross-entropy keeps pushing a confident logit up, and a logit
///   stuck at the end of the range no longer stops the weights behind it
///   from growing. With 3 integer bits (`Fixed<12>`, ±8) the digits recipe
///   diverges that way (held-out accuracy 0.06); with 5 it reaches `f32`'s
///   0.972 (`host-tests/tests/fixed.rs`). Updates below the resolution are
///   kept by stochastic rounding (below).
/// - **Nothing wraps.** `+`, `-`, `·`, `/` and negation saturate at the
///   ends of the range (`/ 0` gives the end with the dividend's sign, `0/0`
///   gives 0), and every conversion saturates.
/// - **Rounding to nearest** for every product (ties towards `+∞`) and
///   quotient (ties away from zero) here. A backend rounds an *update* of a stored value
///   stochastically instead (the CPU backend: the optimizers' `lr · g`, a
///   gradient accumulated into its buffer, fused SGD's update; see its
///   `Float::scale_update`), so that updates smaller than one step still
///   move a weight in expectation.
/// - **Conversions without floating-point arithmetic.** `from_f32`,
///   `from_f64`, `to_f32` and `to_f64` work on the IEEE bit patterns with
///   integer operations, so that no soft-float routine is linked for them on
///   a core without an FPU.
///
/// Labels travel as the bit pattern of a `u16`: class indices up to 65,535.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct Fixed<const F: u32>(pub i16);

/// The format the firmware trains in: 5 integer bits (sign included),
/// 10 fractional bits.
pub type Q10 = Fixed<10>;

impl<const F: u32> Fixed<F> {
    /// The largest value, `2^(15−F) − 2^−F`.
    pub const MAX: Self = Fixed(i16::MAX);
    /// The smallest value, `−2^(15−F)`.
    pub const MIN: Self = Fixed(i16::MIN);
    /// The spacing of the format, `2^−F` (one unit in the last place).
    pub const ULP: Self = Fixed(1);
    /// Compile-time check of `F`.
    const VALID: () = assert!(F >= 1 && F <= 14, "Fixed<F> needs 1 <= F <= 14");

    /// The element whose stored integer is `raw`.
    #[inline(always)]
    pub const fn from_raw(raw: i16) -> Self {
        Fixed(raw)
    }

    /// The stored integer, `round(value · 2^F)`.
    #[inline(always)]
    pub const fn raw(self) -> i16 {
        self.0
    }

    /// `v` saturated to the `i16` range.
    #[inline(always)]
    pub const fn saturate(v: i32) -> Self {
        Fixed(if v > i16::MAX as i32 {
            i16::MAX
        } else if v < i16::MIN as i32 {
            i16::MIN
        } else {
            v as i16
        })
    }

    /// `v / 2^shift` rounded to nearest (ties towards `+∞`) and saturated:
    /// the element of a wider fixed-point value with `F + shift` fractional
    /// bits (`1 ≤ shift ≤ 62`).
    #[inline(always)]
    pub const fn round_shift(v: i64, shift: u32) -> Self {
        let r = (v + (1i64 << (shift - 1))) >> shift;
        Fixed(if r > i16::MAX as i64 {
            i16::MAX
        } else if r < i16::MIN as i64 {
            i16::MIN
        } else {
            r as i16
        })
    }

    /// The element nearest a value given as `mantissa · 2^exp2` (exact
    /// integer arithmetic; saturates).
    const fn from_parts(negative: bool, mantissa: u64, exp2: i32) -> Self {
        let () = Self::VALID;
        if mantissa == 0 {
            return Fixed(0);
        }
        // value · 2^F = mantissa · 2^(exp2 + F)
        let s = exp2 + F as i32;
        let q: u64 = if s >= 0 {
            if s >= 16 || mantissa > (u16::MAX as u64 >> s) {
                u64::MAX
            } else {
                mantissa << s
            }
        } else {
            let r = (-s) as u32;
            if r > 63 {
                0
            } else {
                // mantissa < 2^53, so adding 2^62 cannot overflow.
                (mantissa + (1u64 << (r - 1))) >> r
            }
        };
        if negative {
            if q >= 1 << 15 {
                Fixed(i16::MIN)
            } else {
                Fixed(-(q as i16))
            }
        } else if q > i16::MAX as u64 {
            Fixed(i16::MAX)
        } else {
            Fixed(q as i16)
        }
    }

    /// `(negative, |raw|, exponent of its top bit)` for building a float.
    fn parts(self) -> Option<(bool, u32, u32)> {
        if self.0 == 0 {
            return None;
        }
        let a = (self.0 as i32).unsigned_abs();
        Some((self.0 < 0, a, 31 - a.leading_zeros()))
    }
}

impl<const F: u32> fmt::Debug for Fixed<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}q{}", self.to_f64(), F)
    }
}

/// The value, as an `f32` (exact).
#[cfg(feature = "defmt")]
impl<const F: u32> defmt::Format for Fixed<F> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=f32}", self.to_f32())
    }
}

impl<const F: u32> PartialOrd for Fixed<F> {
    #[inline(always)]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.0.cmp(&other.0))
    }
}

impl<const F: u32> Add for Fixed<F> {
    type Output = Self;
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        Fixed(self.0.saturating_add(o.0))
    }
}

impl<const F: u32> Sub for Fixed<F> {
    type Output = Self;
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        Fixed(self.0.saturating_sub(o.0))
    }
}

impl<const F: u32> Mul for Fixed<F> {
    type Output = Self;
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        let p = self.0 as i32 * o.0 as i32;
        Self::saturate((p + (1 << (F - 1))) >> F)
    }
}

impl<const F: u32> Div for Fixed<F> {
    type Output = Self;
    /// Rounded to nearest; `x / 0` saturates to the end with `x`'s sign.
    #[inline]
    fn div(self, o: Self) -> Self {
        let n = (self.0 as i32) << F;
        let d = o.0 as i32;
        if d == 0 {
            return match self.0.cmp(&0) {
                Ordering::Greater => Self::MAX,
                Ordering::Less => Self::MIN,
                Ordering::Equal => Fixed(0),
            };
        }
        let (na, da) = (n.unsigned_abs(), d.unsigned_abs());
        let q = ((na + da / 2) / da) as i32;
        Self::saturate(if (n < 0) != (d < 0) { -q } else { q })
    }
}

impl<const F: u32> Neg for Fixed<F> {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        Fixed(self.0.saturating_neg())
    }
}

impl<const F: u32> AddAssign for Fixed<F> {
    #[inline(always)]
    fn add_assign(&mut self, o: Self) {
        *self = *self + o;
    }
}

impl<const F: u32> SubAssign for Fixed<F> {
    #[inline(always)]
    fn sub_assign(&mut self, o: Self) {
        *self = *self - o;
    }
}

impl<const F: u32> MulAssign for Fixed<F> {
    #[inline(always)]
    fn mul_assign(&mut self, o: Self) {
        *self = *self * o;
    }
}

impl<const F: u32> Element for Fixed<F> {
    const ZERO: Self = Fixed(0);
    const ONE: Self = Fixed(1 << F);
    const NAME: &'static str = match F {
        8 => "q8",
        9 => "q9",
        10 => "q10",
        11 => "q11",
        12 => "q12",
        13 => "q13",
        14 => "q14",
        _ => "fixed16",
    };
    const BYTES: usize = 2;
    const EPSILON: Self = Fixed(1);
    const MAX_COUNT: usize = (i16::MAX >> F) as usize;

    /// Nearest element, saturating; NaN gives 0. Integer operations only.
    fn from_f64(v: f64) -> Self {
        let bits = v.to_bits();
        let exp = ((bits >> 52) & 0x7FF) as i32;
        let frac = bits & ((1 << 52) - 1);
        let negative = bits >> 63 != 0;
        match exp {
            0x7FF if frac != 0 => Fixed(0),
            0x7FF => Self::from_parts(negative, u64::MAX >> 12, 0),
            0 => Self::from_parts(negative, frac, -1074),
            _ => Self::from_parts(negative, frac | 1 << 52, exp - 1075),
        }
    }

    /// Exact (integer operations only).
    fn to_f64(self) -> f64 {
        let Some((negative, a, top)) = self.parts() else {
            return 0.0;
        };
        let exp = (top as i32 - F as i32 + 1023) as u64;
        let mant = ((a as u64) << (52 - top)) & ((1 << 52) - 1);
        f64::from_bits((negative as u64) << 63 | exp << 52 | mant)
    }

    /// Nearest element, saturating; NaN gives 0. Integer operations only.
    fn from_f32(v: f32) -> Self {
        let bits = v.to_bits();
        let exp = ((bits >> 23) & 0xFF) as i32;
        let frac = (bits & ((1 << 23) - 1)) as u64;
        let negative = bits >> 31 != 0;
        match exp {
            0xFF if frac != 0 => Fixed(0),
            0xFF => Self::from_parts(negative, u64::MAX >> 12, 0),
            0 => Self::from_parts(negative, frac, -149),
            _ => Self::from_parts(negative, frac | 1 << 23, exp - 150),
        }
    }

    /// Exact: 16 bits fit an `f32`'s 24 (integer operations only).
    fn to_f32(self) -> f32 {
        let Some((negative, a, top)) = self.parts() else {
            return 0.0;
        };
        let exp = (top as i32 - F as i32 + 127) as u32;
        let mant = (a << (23 - top)) & ((1 << 23) - 1);
        f32::from_bits((negative as u32) << 31 | exp << 23 | mant)
    }

    /// Integer shifts only: exact when `frac ≤ F`, rounded to nearest
    /// otherwise; saturates.
    fn from_fixed(raw: i16, frac: u32) -> Self {
        if frac <= F {
            Self::saturate((raw as i32) << (F - frac).min(16))
        } else {
            Self::round_shift(raw as i64, (frac - F).min(62))
        }
    }

    /// Always `true`: every pattern is a number.
    fn is_finite(self) -> bool {
        true
    }

    /// Saturates above [`Element::MAX_COUNT`].
    fn from_usize(v: usize) -> Self {
        if v > Self::MAX_COUNT {
            Self::MAX
        } else {
            Fixed((v << F) as i16)
        }
    }

    /// `x / n` with one rounding (to nearest, ties away from zero); `n = 0`
    /// divides by one.
    fn div_usize(self, n: usize) -> Self {
        let n = i32::try_from(n.max(1)).unwrap_or(i32::MAX);
        let x = self.0 as i32;
        let q = (x.abs() + n / 2) / n;
        Fixed((if x < 0 { -q } else { q }) as i16)
    }

    /// The bit pattern of `i` as a `u16`; indices above 65,535 saturate
    /// there (a label check refuses them before any op).
    fn from_index(i: u32) -> Self {
        Fixed(i.min(u16::MAX as u32) as u16 as i16)
    }

    fn to_index(self) -> Option<u32> {
        Some(self.0 as u16 as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::{Fixed, Q10};
    use crate::Element;

    type Q12 = Fixed<12>;

    /// Expected values are worked by hand from the definition `raw / 4096`.
    #[test]
    fn arithmetic_rounds_and_saturates() {
        let q = |v: f64| Q12::from_f64(v);
        assert_eq!(q(1.0).raw(), 4096);
        assert_eq!(q(-0.5).raw(), -2048);
        assert_eq!(q(1.0 / 8192.0).raw(), 1, "half an ulp rounds up");
        assert_eq!(q(0.9 / 8192.0).raw(), 0);
        assert_eq!(q(100.0), Q12::MAX);
        assert_eq!(q(-100.0), Q12::MIN);
        assert_eq!(q(f64::INFINITY), Q12::MAX);
        assert_eq!(q(f64::NEG_INFINITY), Q12::MIN);
        assert_eq!(q(f64::NAN), Q12::ZERO);
        assert_eq!(q(1e-300), Q12::ZERO);
        // 1.5 · 2.25 = 3.375 exactly; 3 · 3 = 9 saturates.
        assert_eq!((q(1.5) * q(2.25)).raw(), 3 * 4096 + 1536);
        assert_eq!(q(3.0) * q(3.0), Q12::MAX);
        assert_eq!(q(-3.0) * q(3.0), Q12::MIN);
        // (1/4096)·(1/2) = 1/8192: a tie, rounded up to one ulp.
        assert_eq!((Q12::ULP * q(0.5)).raw(), 1);
        assert_eq!((Q12::ULP * q(0.25)).raw(), 0);
        assert_eq!(q(7.0) + q(2.0), Q12::MAX);
        assert_eq!(q(-7.0) - q(2.0), Q12::MIN);
        assert_eq!(-Q12::MIN, Q12::MAX);
        // 1 / 3 = 1365.33 ulp → 1365; -2 / 3 → -2730.67 → -2731.
        assert_eq!((q(1.0) / q(3.0)).raw(), 1365);
        assert_eq!((q(-2.0) / q(3.0)).raw(), -2731);
        assert_eq!(q(1.0) / Q12::ZERO, Q12::MAX);
        assert_eq!(q(-1.0) / Q12::ZERO, Q12::MIN);
        assert_eq!(Q12::ZERO / Q12::ZERO, Q12::ZERO);
        assert_eq!(q(4.0) / q(0.25), Q12::MAX);
        assert_eq!(q(1.0).div_usize(3).raw(), 1365);
        assert_eq!(q(-1.0).div_usize(3).raw(), -1365);
        assert_eq!(Q12::from_usize(7), q(7.0));
        assert_eq!(Q12::from_usize(8), Q12::MAX);
        assert_eq!(Q12::MAX_COUNT, 7);
    }

    #[test]
    fn conversions_are_exact_where_the_value_fits() {
        for raw in i16::MIN..=i16::MAX {
            let x = Q12::from_raw(raw);
            let v = raw as f64 / 4096.0;
            assert_eq!(x.to_f64(), v);
            assert_eq!(x.to_f32(), v as f32);
            assert_eq!(Q12::from_f64(v), x);
            assert_eq!(Q12::from_f32(v as f32), x);
            // Values between two elements go to the nearer one.
            let third = v + 1.0 / 4096.0 / 3.0;
            assert_eq!(Q12::from_f64(third), x);
            assert_eq!(Q12::from_f32(third as f32), x);
        }
        assert_eq!(Fixed::<14>::ONE.to_f64(), 1.0);
        assert_eq!(Q10::from_f64(-31.5).raw(), -31 * 1024 - 512);
        assert_eq!(Q10::MAX_COUNT, 31);
        assert_eq!(Fixed::<8>::from_f32(-0.75).raw(), -192);
    }

    #[test]
    fn labels_travel_as_u16() {
        for i in [0u32, 1, 9, 32_767, 32_768, 65_535] {
            assert_eq!(Q12::from_index(i).to_index(), Some(i));
        }
        assert_eq!(Q12::from_index(70_000).to_index(), Some(65_535));
    }
}
