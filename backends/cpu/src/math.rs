//! The math a CPU backend needs beyond [`Element`]'s arithmetic.
//!
//! [`Float`] is implemented for `f32` and `f64`. By default both use `libm`
//! (correctly rounded or within 1–2 ulp), except `f32`'s `tanh`, which is
//! this module's `tanh_f32` (within 1.505 ulp, in about half of
//! `libm`'s instructions). With the `fast-math` feature, `f32`
//! uses `micromath`'s approximations instead (faster on microcontrollers
//! without a math library in ROM); `f64` always uses `libm`, because
//! `micromath` has no `f64` functions and a target that computes in `f64`
//! has asked for accuracy. The tolerances measured for `fast-math` are listed
//! on [`Float`].

use microprop_hal::Element;

/// `√x` by the FPU's `VSQRT.F32`, on every Arm target with the hard-float
/// ABI (Cortex-M4F, M7, M33, ...: they all have the instruction). IEEE 754
/// requires it to be correctly rounded, as `libm::sqrtf` is, so the two
/// agree on every input but NaN payloads (the device test
/// `sqrt_is_libms_on_the_device` compares them bit for bit); it is one
/// instruction (and four moves) where `libm`'s integer square root takes
/// about 40.
///
/// Rust's inline assembly only binds `s` registers with the unstable `vfp2`
/// feature, so the value goes through core registers and `s0` is saved in
/// one and restored.
#[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
#[allow(unsafe_code)]
#[inline(always)]
fn sqrtf(x: f32) -> f32 {
    let bits: u32;
    // SAFETY: the block reads and writes only the core registers it
    // declares and `s0`, which it restores before it ends; it touches no
    // memory, no stack and no condition flag, and `VSQRT.F32` exists on
    // every hard-float Arm target.
    unsafe {
        core::arch::asm!(
            "vmov {save}, s0",
            "vmov s0, {x}",
            "vsqrt.f32 s0, s0",
            "vmov {x}, s0",
            "vmov s0, {save}",
            x = inout(reg) x.to_bits() => bits,
            save = out(reg) _,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    f32::from_bits(bits)
}

#[cfg(not(all(target_arch = "arm", target_abi = "eabihf")))]
use libm::sqrtf;

#[cfg(not(feature = "fast-math"))]
/// [`tanh_f32`]'s polynomial for `|x| < ln(3)/2`: `tanh(x) = x + x·z·P(z)`,
/// `z = x²` (generated, with its error, by `tools/tanh_coeffs.py`).
const TANH_P: [f32; 6] = [
    -3.333_333e-1,
    1.333_329_4e-1,
    -5.395_969e-2,
    2.178_320_5e-2,
    -8.415_384e-3,
    2.397_71e-3,
];
#[cfg(not(feature = "fast-math"))]
/// [`tanh_f32`]'s `e^r = 1 + r + r²·Q(r)` for `|r| ≤ ln(2)/2` (the same
/// script).
const EXP_Q: [f32; 5] = [
    0.5,
    1.666_651_7e-1,
    4.166_626e-2,
    8.369_151_5e-3,
    1.394_644_6e-3,
];

/// `tanh` in `f32` within 1.505 ulp of the exact value on every input
/// (`tools/tanh_coeffs.py` measures every `f32` from `2^-14` to `9.5`; below
/// `2^-12` it returns `x`, which is correctly rounded there, and from 9 on
/// `±1`).
///
/// In about 50 instructions on a Cortex-M4F, where `libm`'s `tanhf` (through
/// `expm1f`) takes about 95 (XOR's step, 16 calls: 740 fewer): below `ln(3)/2` an odd polynomial, above it
/// `1 - 2e/(1 + e)` with `e = e^-2|x|` from a Cody–Waite reduction and a
/// short polynomial, with no special cases inside (`e` lies in
/// `[e^-18, 1/3]`). Every step is an `f32` operation without fused
/// multiply-add, so every target gives the same bits.
#[cfg(not(feature = "fast-math"))]
#[inline]
pub(crate) fn tanh_f32(x: f32) -> f32 {
    const CUT: f32 = 0.549_306_15; // ln(3)/2: tanh = 1/2, e^-2|x| = 1/3
    const TINY: f32 = 1.0 / 4096.0; // 2^-12: x²/3 is below half an ulp
    const LOG2E: f32 = core::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75; // 16 bits: n·LN2_HI is exact
    const LN2_LO: f32 = 1.428_606_8e-6; // ln 2 - LN2_HI
    const ROUND: f32 = 12_582_912.0; // 1.5·2^23: adding it rounds to an integer
    let a = Element::abs(x);
    if a < CUT {
        if a < TINY {
            // x - x³/3 rounds to x (and ±0 keeps its sign).
            return x;
        }
        let z = x * x;
        let mut p = TANH_P[5];
        for c in [TANH_P[4], TANH_P[3], TANH_P[2], TANH_P[1], TANH_P[0]] {
            p = p * z + c;
        }
        return x + (x * z) * p;
    }
    if a >= 9.0 {
        // tanh(9) rounds to 1.
        return 1.0f32.copysign(x);
    }
    // NaN fails every comparison and comes out of the steps below as NaN.
    // e^y = 2^n · e^r with y = -2|x| in (-18, -1.09], n = round(y / ln 2)
    // in [-26, -2] and r = y - n·ln 2 in [-ln(2)/2, ln(2)/2].
    let y = -2.0 * a;
    let t = y * LOG2E + ROUND;
    let n = t - ROUND;
    let r = (y - n * LN2_HI) - n * LN2_LO;
    let mut q = EXP_Q[4];
    for c in [EXP_Q[3], EXP_Q[2], EXP_Q[1], EXP_Q[0]] {
        q = q * r + c;
    }
    let er = 1.0 + ((r * r) * q + r);
    // 2^n from its bits: n + 127 in [101, 125], a normal float. `t`'s low
    // bits hold n + 2^22 (two's complement in the mantissa).
    let biased = t.to_bits().wrapping_sub(0x4B40_0000).wrapping_add(127);
    let e = er * f32::from_bits(biased << 23);
    (1.0 - (e + e) / (1.0 + e)).copysign(x)
}

/// Transcendental functions and the stable compound functions built on them.
///
/// # `fast-math` accuracy (`f32` only)
///
/// Measured against `f64` `libm` on a grid of inputs (the crate's test
/// `f32_math_within_stated_tolerance` asserts these bounds; measured maxima in
/// brackets). The error comes almost entirely from `micromath`'s `exp`
/// (about 0.24% relative); `ln` is `micromath`'s on `[1, ∞)`, `ln_1p` uses
/// a short series near zero, and `sqrt` refines `micromath`'s estimate with
/// two Newton steps.
///
/// | function | domain | bound |
/// |---|---|---|
/// | `sigmoid` | `[-20, 20]` | `1e-3` absolute (`5.2e-4`) |
/// | `tanh` | `[-20, 20]` | `2e-3` absolute (`9.6e-4`) |
/// | `softplus` | `[-20, 20]` | `1e-3` absolute (`7.6e-4`), `4e-3` relative (`3.1e-3`) |
/// | `exp` | `[-20, 20]` | `3e-3` relative (`2.4e-3`) |
/// | `exp_m1` (ELU) | `[-20, 0]` | `2e-3` absolute (`1.2e-3`) |
/// | `ln` | `[1e-3, 1e4]` | `1e-4` absolute (`6.1e-5`) |
/// | `sqrt` | `[0, 1e6]` | `1e-5` relative (`1.5e-6`) |
///
/// Without `fast-math`, the same test holds `f32` `libm` to a few ulps
/// (`≤ 1e-6`).
pub trait Float: Element {
    /// Positive infinity.
    const INFINITY: Self;
    /// Negative infinity.
    const NEG_INFINITY: Self;

    /// `e^self`.
    fn exp(self) -> Self;
    /// `e^self - 1`, accurate near zero.
    fn exp_m1(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// `ln(1 + self)`, accurate near zero.
    fn ln_1p(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;

    /// Square root within one ulp, for the fast kernels (Adam's
    /// denominator). Default: [`Float::sqrt`]. On hard-float Arm, `f32`
    /// uses the FPU's `VSQRT.F32` (exact). Elsewhere `f32` (without
    /// `fast-math`) computes it with multiplies only: a bit-shift estimate
    /// of `1/√x`, two Newton steps, `x · (1/√x)` and one correction step
    /// (about 20 instructions on a core without the instruction, where
    /// `libm`'s integer square root takes about 40); zero, subnormal,
    /// negative and non-finite inputs go to [`Float::sqrt`].
    #[inline(always)]
    fn sqrt_fast(self) -> Self {
        self.sqrt()
    }

    /// `self · b + acc`, the multiply-accumulate of the fast gemm. Fused
    /// (one rounding, `mul_add`) when the crate's `std` feature is on and the
    /// build enables the `fma` target feature; otherwise a multiply and an
    /// add (Rust never contracts them on its own).
    #[inline(always)]
    fn mul_acc(self, b: Self, acc: Self) -> Self {
        acc + self * b
    }

    /// What a dot product sums in: the element itself for floats; an `i64`
    /// of exact products for [`Fixed`](microprop_hal::Fixed), rounded once
    /// by [`Float::acc_round`].
    type Acc: Copy;
    /// The empty sum.
    const ACC_ZERO: Self::Acc;
    /// `true` when [`Float::Acc`] is wider than the element: the fast gemm
    /// then runs its exact-sum kernel instead of the float blocks.
    const WIDE_ACC: bool = false;
    /// `acc + a · b` in the accumulator (floats: a multiply and an add).
    fn acc_mac(acc: Self::Acc, a: Self, b: Self) -> Self::Acc;
    /// The element nearest the sum (floats: the sum).
    fn acc_round(acc: Self::Acc) -> Self;
    /// A gemm's element `alpha · acc + beta · c` (floats: `alpha · acc`
    /// when `beta` is zero, so that a NaN in `c` does not propagate).
    #[inline(always)]
    fn acc_finish(acc: Self::Acc, alpha: Self, beta: Self, c: Self) -> Self {
        let s = Self::acc_round(acc);
        if beta == Self::ZERO {
            alpha * s
        } else {
            alpha * s + beta * c
        }
    }
    /// `acc + x` (a softmax's denominator, which passes the fixed-point
    /// range with ten classes).
    fn acc_add(acc: Self::Acc, x: Self) -> Self::Acc;
    /// `x / acc` (floats: the division).
    fn acc_div(x: Self, acc: Self::Acc) -> Self;
    /// `ln(acc)` (floats: [`Float::ln`]).
    fn acc_ln(acc: Self::Acc) -> Self;
    /// `acc / n` for a count `n ≥ 1` (a batch's mean loss; floats: divided
    /// by `from_usize(n)`).
    fn acc_mean(acc: Self::Acc, n: usize) -> Self;

    /// An optimizer's update `lr · g` for the parameter `w`. Floats: the
    /// product. [`Fixed`](microprop_hal::Fixed) rounds it stochastically,
    /// with a dither hashed from the product and `w`, so that an update
    /// below one step moves `w` in expectation, and the same inputs give
    /// the same bits on every target.
    #[inline(always)]
    fn scale_update(lr: Self, g: Self, w: Self) -> Self {
        let _ = w;
        lr * g
    }

    /// The logistic function `1 / (1 + e^-x)`, computed without overflow:
    /// for `x < 0` it is `e^x / (1 + e^x)`, so large negative inputs give `0`,
    /// not `NaN`.
    fn sigmoid(self) -> Self {
        if self >= Self::ZERO {
            Self::ONE / (Self::ONE + (-self).exp())
        } else {
            let e = self.exp();
            e / (Self::ONE + e)
        }
    }

    /// `ln(1 + e^x)`, computed stably as `max(x, 0) + ln(1 + e^-|x|)`: no
    /// overflow for large `x`, no loss of the tail for large negative `x`.
    fn softplus(self) -> Self {
        let pos = if self > Self::ZERO { self } else { Self::ZERO };
        pos + (-self.abs()).exp().ln_1p()
    }
}

/// A float's accumulator is the float itself: every `acc_*` hook is the
/// plain operation, so the kernels compute what they computed before the
/// hooks existed, bit for bit.
macro_rules! float_acc {
    () => {
        type Acc = Self;
        const ACC_ZERO: Self = 0.0;
        #[inline(always)]
        fn acc_mac(acc: Self, a: Self, b: Self) -> Self {
            acc + a * b
        }
        #[inline(always)]
        fn acc_round(acc: Self) -> Self {
            acc
        }
        #[inline(always)]
        fn acc_add(acc: Self, x: Self) -> Self {
            acc + x
        }
        #[inline(always)]
        fn acc_div(x: Self, acc: Self) -> Self {
            x / acc
        }
        #[inline(always)]
        fn acc_ln(acc: Self) -> Self {
            Float::ln(acc)
        }
        #[inline(always)]
        fn acc_mean(acc: Self, n: usize) -> Self {
            acc / Self::from_usize(n)
        }
    };
}

impl Float for f64 {
    const INFINITY: Self = f64::INFINITY;
    const NEG_INFINITY: Self = f64::NEG_INFINITY;
    float_acc!();

    #[cfg(all(feature = "std", target_feature = "fma"))]
    #[inline(always)]
    fn mul_acc(self, b: Self, acc: Self) -> Self {
        self.mul_add(b, acc)
    }

    #[inline]
    fn exp(self) -> Self {
        libm::exp(self)
    }
    #[inline]
    fn exp_m1(self) -> Self {
        libm::expm1(self)
    }
    #[inline]
    fn ln(self) -> Self {
        libm::log(self)
    }
    #[inline]
    fn ln_1p(self) -> Self {
        libm::log1p(self)
    }
    #[inline]
    fn tanh(self) -> Self {
        libm::tanh(self)
    }
    #[inline]
    fn sqrt(self) -> Self {
        libm::sqrt(self)
    }
}

#[cfg(not(feature = "fast-math"))]
impl Float for f32 {
    const INFINITY: Self = f32::INFINITY;
    const NEG_INFINITY: Self = f32::NEG_INFINITY;
    float_acc!();

    #[cfg(all(feature = "std", target_feature = "fma"))]
    #[inline(always)]
    fn mul_acc(self, b: Self, acc: Self) -> Self {
        self.mul_add(b, acc)
    }

    #[inline]
    fn exp(self) -> Self {
        libm::expf(self)
    }
    #[inline]
    fn exp_m1(self) -> Self {
        libm::expm1f(self)
    }
    #[inline]
    fn ln(self) -> Self {
        libm::logf(self)
    }
    #[inline]
    fn ln_1p(self) -> Self {
        libm::log1pf(self)
    }
    /// `math::tanh_f32`: within 1.505 ulp, in about half of `libm`'s
    /// instructions.
    #[inline]
    fn tanh(self) -> Self {
        tanh_f32(self)
    }
    /// `libm`'s, or the FPU's `VSQRT.F32` on hard-float Arm (the same
    /// bits).
    #[inline]
    fn sqrt(self) -> Self {
        sqrtf(self)
    }
    /// The hardware square root where there is one: exact and cheaper
    /// than the estimate below.
    #[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
    #[inline(always)]
    fn sqrt_fast(self) -> Self {
        sqrtf(self)
    }
    #[cfg(not(all(target_arch = "arm", target_abi = "eabihf")))]
    #[inline(always)]
    fn sqrt_fast(self) -> Self {
        let bits = self.to_bits();
        // Positive and normal: the biased exponent is 1..=254, the sign 0.
        if bits.wrapping_sub(0x0080_0000) >= 0x7f00_0000 {
            // √±0 = ±0 without the call (Adam's second moment of a
            // parameter that never had a gradient).
            return if self == 0.0 { self } else { sqrtf(self) };
        }
        // 1/√x from the exponent halved and negated (relative error below
        // 3.5 %), then Newton's y ← y (3/2 − x/2 · y²): error 1.8e-3, then
        // 5e-6.
        let h = 0.5 * self;
        let mut y = f32::from_bits(0x5f37_5a86 - (bits >> 1));
        y = y * (1.5 - h * y * y);
        y = y * (1.5 - h * y * y);
        // √x ≈ x·y (error 5e-6), and one Newton step for √x with the
        // residual x − s² (error ~1e-11 before rounding: within an ulp).
        let s = self * y;
        s + (0.5 * y) * (self - s * s)
    }
}

#[cfg(feature = "fast-math")]
impl Float for f32 {
    const INFINITY: Self = f32::INFINITY;
    const NEG_INFINITY: Self = f32::NEG_INFINITY;
    float_acc!();

    #[cfg(all(feature = "std", target_feature = "fma"))]
    #[inline(always)]
    fn mul_acc(self, b: Self, acc: Self) -> Self {
        self.mul_add(b, acc)
    }

    #[inline]
    fn exp(self) -> Self {
        micromath::F32Ext::exp(self)
    }
    #[inline]
    fn exp_m1(self) -> Self {
        micromath::F32Ext::exp(self) - 1.0
    }
    /// `micromath`'s `ln` for `x ≥ 1`, and `-ln(1/x)` with an exact division
    /// below 1 (`micromath` inverts with a rough approximation there, off
    /// by up to 0.12). Zero, negative, subnormal and non-finite inputs go to
    /// `libm`.
    #[inline]
    fn ln(self) -> Self {
        if self.is_nan() || self < f32::MIN_POSITIVE || self == f32::INFINITY {
            libm::logf(self)
        } else if self < 1.0 {
            -micromath::F32Ext::ln(1.0 / self)
        } else {
            micromath::F32Ext::ln(self)
        }
    }
    /// Three terms of the series for `|x| < 1/64` (error below `x⁴/4`),
    /// [`Float::ln`] of `1 + x` otherwise.
    #[inline]
    fn ln_1p(self) -> Self {
        if Element::abs(self) < 1.0 / 64.0 {
            self * (1.0 - self * (0.5 - self * (1.0 / 3.0)))
        } else {
            Float::ln(1.0 + self)
        }
    }
    /// `sign(x) (1 - e^-2|x|) / (1 + e^-2|x|)` from the fast `exp`.
    #[inline]
    fn tanh(self) -> Self {
        let e = micromath::F32Ext::exp(-2.0 * Element::abs(self));
        let t = (1.0 - e) / (1.0 + e);
        if self < 0.0 {
            -t
        } else {
            t
        }
    }
    /// The FPU's `VSQRT.F32` on hard-float Arm (exact).
    #[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
    #[inline]
    fn sqrt(self) -> Self {
        sqrtf(self)
    }
    /// `micromath`'s ~5% estimate refined by two Newton steps.
    #[cfg(not(all(target_arch = "arm", target_abi = "eabihf")))]
    #[inline]
    fn sqrt(self) -> Self {
        if self <= 0.0 || !Element::is_finite(self) {
            // 0 -> 0, negative -> NaN, inf -> inf, NaN -> NaN: as libm.
            return sqrtf(self);
        }
        let mut s = micromath::F32Ext::sqrt(self);
        s = 0.5 * (s + self / s);
        s = 0.5 * (s + self / s);
        s
    }
}
