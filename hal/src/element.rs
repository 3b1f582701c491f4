//! The element-type trait.

use core::fmt::Debug;
use core::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

/// A scalar type a backend computes in: `f32`, `f64`, or the 16-bit
/// fixed-point [`Fixed`](crate::Fixed).
///
/// Only arithmetic and conversions live here; transcendental functions belong
/// to a backend (the CPU backend chooses `libm` or `micromath`).
pub trait Element:
    Copy
    + Default
    + Debug
    + PartialEq
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + Send
    + Sync
    + 'static
{
    /// Additive identity.
    const ZERO: Self;
    /// Multiplicative identity.
    const ONE: Self;
    /// The type's name, for reports (`"f32"`, `"f64"`).
    const NAME: &'static str;
    /// Size in bytes.
    const BYTES: usize;
    /// Machine epsilon.
    const EPSILON: Self;
    /// The largest count [`Element::from_usize`] holds exactly (`2^24` for
    /// `f32`; 31 for [`Q10`](crate::Q10)). Ops that count into one element
    /// (evaluation's correct predictions) are split so that no count passes it.
    const MAX_COUNT: usize = 1 << 24;

    /// Convert from `f64` (rounding to nearest).
    fn from_f64(v: f64) -> Self;
    /// Convert to `f64` (exact for `f32` and `f64`).
    fn to_f64(self) -> f64;
    /// Convert from `f32`.
    fn from_f32(v: f32) -> Self;
    /// Convert to `f32` (rounding to nearest).
    fn to_f32(self) -> f32;
    /// `true` unless NaN or ±∞.
    fn is_finite(self) -> bool;
    /// Convert a small non-negative integer (a count, a batch size) to the
    /// nearest value. Not for class labels: see [`Element::from_index`].
    fn from_usize(v: usize) -> Self;
    /// The element nearest `raw / 2^frac` (a 16-bit fixed-point value, as
    /// a fixed-point blob stores it; `frac ≤ 30`). Exact for `f32`, `f64`
    /// and a [`Fixed`](crate::Fixed) with at least `frac` fractional bits.
    #[inline]
    fn from_fixed(raw: i16, frac: u32) -> Self {
        Self::from_f64(f64::from(raw) / f64::from(1u32 << frac.min(30)))
    }
    /// `self / n` for a count `n ≥ 1` (a batch's mean): `self /
    /// from_usize(n)` for floats; a fixed-point type divides its integer, so
    /// that `n` need not fit its range.
    #[inline(always)]
    fn div_usize(self, n: usize) -> Self {
        self / Self::from_usize(n)
    }
    /// The element that carries the class index `i` in a label span: its
    /// bit pattern is `i` (for `f32`, `f32::from_bits(i)`; for `f64`,
    /// `f64::from_bits(i as u64)`). Every `u32` travels exactly, where an
    /// element value would round (`2^24 + 1` as an `f32` value is `2^24`).
    /// Such an element is not meant for arithmetic: ops that read labels
    /// ([`OneHot`](crate::op::OneHot), [`CountCorrect`](crate::op::CountCorrect),
    /// the classification [`Loss`](crate::op::Loss)es) decode it with
    /// [`Element::to_index`], and moves (upload, download, copy) keep bits.
    fn from_index(i: u32) -> Self;
    /// The class index a label element carries (see [`Element::from_index`]):
    /// `Some(i)` for the bit pattern of a `u32`, `None` for a pattern that no
    /// `from_index` makes (an `f64` whose high 32 bits are not zero).
    fn to_index(self) -> Option<u32>;
    /// The larger of two values (NaN-propagating is not guaranteed).
    fn max(self, other: Self) -> Self {
        if other > self {
            other
        } else {
            self
        }
    }
    /// The smaller of two values.
    fn min(self, other: Self) -> Self {
        if other < self {
            other
        } else {
            self
        }
    }
    /// Absolute value.
    fn abs(self) -> Self {
        if self < Self::ZERO {
            -self
        } else {
            self
        }
    }
}

macro_rules! float_element {
    ($t:ty, $name:literal, $pow2_neg:expr) => {
        impl Element for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NAME: &'static str = $name;
            const BYTES: usize = core::mem::size_of::<$t>();
            const EPSILON: Self = <$t>::EPSILON;

            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn from_f32(v: f32) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_f32(self) -> f32 {
                self as f32
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            /// `raw · 2^-frac`: one exact multiply by a power of two.
            #[inline(always)]
            fn from_fixed(raw: i16, frac: u32) -> Self {
                let pow2_neg: fn(u32) -> $t = $pow2_neg;
                <$t>::from(raw) * pow2_neg(frac.min(30))
            }
            #[inline(always)]
            fn from_usize(v: usize) -> Self {
                v as $t
            }
            #[inline(always)]
            #[allow(clippy::useless_conversion)] // u32 -> u32 for f32
            fn from_index(i: u32) -> Self {
                <$t>::from_bits(i.into())
            }
            #[inline(always)]
            #[allow(clippy::useless_conversion)] // u32 -> u32 for f32
            fn to_index(self) -> Option<u32> {
                u32::try_from(self.to_bits()).ok()
            }
        }
    };
}

float_element!(f32, "f32", |frac| f32::from_bits((127 - frac) << 23));
float_element!(f64, "f64", |frac| f64::from_bits(
    u64::from(1023 - frac) << 52
));

#[cfg(test)]
mod tests {
    use super::Element;

    /// `2^24 + 1` is the first integer an `f32` value cannot hold: as a value
    /// it rounds to `2^24`, as a label element it comes back exactly.
    #[test]
    fn label_indices_round_trip_exactly() {
        let big = (1u32 << 24) + 1;
        assert_eq!(big as f32 as u32, 1 << 24, "the rounding this avoids");
        for i in [0, 1, 9, big, (1 << 24) + 3, u32::MAX - 1, u32::MAX] {
            assert_eq!(f32::from_index(i).to_index(), Some(i));
            assert_eq!(f64::from_index(i).to_index(), Some(i));
        }
        assert_ne!(
            f32::from_index(big).to_index(),
            f32::from_index(1 << 24).to_index()
        );
        // Patterns that are no u32: an f64 value's bits (1.0 is 0x3FF0...).
        assert_eq!(1.0f64.to_index(), None);
        assert_eq!(f64::NAN.to_index(), None);
        // Fixed-point values come in exactly.
        assert_eq!(f32::from_fixed(-3, 4), -0.1875);
        assert_eq!(f64::from_fixed(16, 4), 1.0);
        assert_eq!(f32::from_fixed(i16::MIN, 10), -32.0);
        // An f32 value read as a label is some index, just not its value.
        assert_eq!(1.0f32.to_index(), Some(0x3F80_0000));
    }
}
