//! The element-type trait.

use core::fmt::Debug;
use core::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

/// A scalar type a backend computes in: `f32` or `f64`.
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
    /// Convert a small non-negative integer (a class label, a count).
    fn from_usize(v: usize) -> Self;
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
    ($t:ty, $name:literal) => {
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
            #[inline(always)]
            fn from_usize(v: usize) -> Self {
                v as $t
            }
        }
    };
}

float_element!(f32, "f32");
float_element!(f64, "f64");
