//! The tests of this crate's own API: error values and their messages, the
//! reference kernels' slice checks and label rule, and the accuracy of the
//! `f32` math ([`Float`]).
//!
//! Every op's results are checked by the shared suite in `host-tests`, on
//! the fast kernels and on the reference kernels, in `f32` and `f64`
//! (`cargo test -p host-tests`: `cpu_fast_f32::…`, `cpu_reference_f64::…`;
//! hand-derived values, finite differences, extreme inputs, in-place forms,
//! spans past the arena, random data against the reference kernels); the
//! fast gemm's blocking is checked in `gemm.rs`.

use microprop_hal::{Activation, Backend, Error as _, ErrorKind, LossKind, OpError, Span};

use crate::{CpuBackend, CpuError, Float};

fn s(offset: usize, len: usize) -> Span {
    Span::new(offset, len)
}

/// A host copy past the arena is [`CpuError::OutOfBounds`] naming the copy
/// and the arena, with a message.
fn host_copy_errors_name_the_range<E: Float>() {
    let mut arena = [E::ZERO; 4];
    let mut cpu = CpuBackend::new(&mut arena);
    let three = [E::ONE; 3];
    assert_eq!(
        cpu.upload(2, &three),
        Err(CpuError::OutOfBounds {
            offset: 2,
            len: 3,
            arena_len: 4
        })
    );
    let mut out = [E::ZERO; 2];
    let e = cpu.download(3, &mut out).expect_err("past the arena");
    assert_eq!(
        e,
        CpuError::OutOfBounds {
            offset: 3,
            len: 2,
            arena_len: 4
        }
    );
    assert_eq!(e.kind(), ErrorKind::OutOfBounds);
    assert!(!format!("{e}").is_empty());
}

#[test]
fn host_copy_errors_name_the_range_f32() {
    host_copy_errors_name_the_range::<f32>();
}

#[test]
fn host_copy_errors_name_the_range_f64() {
    host_copy_errors_name_the_range::<f64>();
}

#[test]
fn error_messages_say_what_is_wrong() {
    let e = CpuError::Op(OpError::Shape {
        op: "gemm",
        operand: "c",
        expected: 6,
        got: 5,
    });
    assert_eq!(
        e.to_string(),
        "gemm: operand `c` has 5 elements, the dimensions need 6"
    );
    let e = CpuError::Op(OpError::OutOfBounds {
        span: s(8, 4),
        arena_len: 10,
    });
    assert_eq!(
        e.to_string(),
        "span 8..12 reaches past the arena of 10 elements"
    );
}

#[test]
fn labels_are_indices_carried_in_bits_and_must_be_in_range() {
    use crate::reference::label;
    use microprop_hal::Element;
    let big = (1u32 << 24) + 1; // 2^24 + 1: no f32 value holds it
    assert_eq!(label(f32::from_index(2), 3), Some(2));
    assert_eq!(label(f64::from_index(0), 3), Some(0));
    assert_eq!(label(f32::from_index(big), 1 << 25), Some(1 << 24 | 1));
    assert_eq!(label(f64::from_index(big), 1 << 25), Some(1 << 24 | 1));
    assert_eq!(
        label(f32::from_index(u32::MAX), usize::MAX),
        Some(u32::MAX as usize)
    );
    assert_eq!(label(f32::from_index(3), 3), None);
    assert_eq!(label(f32::from_index(big), 1 << 24), None);
    assert_eq!(label(f32::from_index(0), 0), None);
    // Element values are not labels: 2.0's bits are no index below 3, and
    // an f64 whose high word is set carries no index at all.
    assert_eq!(label(2.0f32, 3), None);
    assert_eq!(label(2.0f64, usize::MAX), None);
    assert_eq!(label(f64::NAN, usize::MAX), None);
}

/// With `2^24 + 2` classes, the label `2^24 + 1` (an f32 value would round
/// it to `2^24`) is the class `count_correct` and the losses use. The scores
/// are the one-hot row of class `2^24 + 1`: its arg-max is that class, so
/// the count is 1; every hinge margin `p_j - p_t + 1` off the label is
/// `0 - 1 + 1 = 0`, so the hinge loss is 0 (read as `2^24`, `p_t` would be 0
/// and the loss `2^24 + 2`: 1 for each other class, 2 for the one holding
/// the 1); the cross-entropy
/// gradient at the label is `softmax - 1 < 0` and `softmax > 0` elsewhere.
#[test]
fn count_and_losses_read_labels_above_2_pow_24_exactly() {
    use crate::reference::{count_correct, loss};
    use microprop_hal::{Element, LossKind};
    let big = (1u32 << 24) + 1;
    let (t, cols) = (big as usize, big as usize + 1);
    let mut pred = vec![0.0f32; cols];
    pred[t] = 1.0;
    let target = [f32::from_index(big)];
    assert_eq!(count_correct(1, cols, &pred, &target), Ok(1));
    let hinge = LossKind::Hinge { margin: 1.0 };
    assert_eq!(loss(hinge, 1, cols, &pred, &target, None), Ok(0.0));
    let mut g = vec![0.0f32; cols];
    let ce = loss(
        LossKind::SoftmaxCrossEntropy,
        1,
        cols,
        &pred,
        &target,
        Some(&mut g),
    );
    assert!(ce.is_ok());
    assert!(g[t] < 0.0 && g[t - 1] > 0.0, "{} {}", g[t], g[t - 1]);
}

#[test]
fn reference_kernels_reject_mismatched_slices() {
    use crate::reference;
    // A rejected call writes nothing, even where the kernel would copy first.
    let mut dx = [7.0f64; 3];
    let r =
        reference::activate_backward(Activation::Tanh, &[0.0; 2], &[0.0; 3], &[1.0; 3], &mut dx);
    assert!(r.is_err());
    let r = reference::softmax_backward(1, 3, &[0.0; 2], &[1.0; 3], &mut dx);
    assert!(r.is_err());
    assert_eq!(dx, [7.0; 3]);
    let mut c = [0.0f32; 5];
    let r = reference::gemm(
        2, 3, 1, &[1.0; 2], false, &[1.0; 3], false, &mut c, 1.0, 0.0,
    );
    assert!(matches!(r, Err(OpError::Shape { operand: "c", .. })));
    let r = reference::gemm(
        usize::MAX,
        2,
        2,
        &[],
        false,
        &[0.0f32; 4],
        false,
        &mut [],
        1.0,
        0.0,
    );
    assert!(r.is_err());
    let r = reference::loss(LossKind::Mse, 1, 2, &[0.0f64; 2], &[0.0; 1], None);
    assert!(r.is_err());
    // Degenerate dimensions do not panic and write nothing surprising.
    let mut y = [1.0f32; 2];
    assert!(reference::maxout(1, 2, 0, &[], &mut y).is_ok());
    assert_eq!(y, [f32::NEG_INFINITY; 2]);
    assert_eq!(
        reference::loss(LossKind::Mse, 0, 3, &[0.0f32; 0], &[], None),
        Ok(0.0)
    );
    assert_eq!(
        reference::count_correct(2, 0, &[0.0f32; 0], &[0.0; 2]),
        Ok(0)
    );
    assert!(reference::softmax_in_place(7, 0, &mut [0.0f64; 0]).is_ok());
}

/// The f32 math against f64 libm over a grid. With `fast-math` these are the
/// tolerances documented on [`Float`]; without it, libm's f32 functions are
/// checked to be within a few f32 ulps.
#[test]
fn f32_math_within_stated_tolerance() {
    let fast = cfg!(feature = "fast-math");
    let grid =
        |lo: f64, hi: f64, n: usize| (0..=n).map(move |i| lo + (hi - lo) * i as f64 / n as f64);
    let sig = |x: f64| 1.0 / (1.0 + libm::exp(-x));
    let softplus = |x: f64| x.max(0.0) + libm::log1p(libm::exp(-x.abs()));

    // (name, max abs error, max rel error, tolerance, relative?)
    let mut report = Vec::new();
    let mut measure = |name: &str,
                       xs: &mut dyn Iterator<Item = f64>,
                       f: &dyn Fn(f32) -> f32,
                       want: &dyn Fn(f64) -> f64,
                       tol: f64,
                       relative: bool| {
        let (mut abs, mut rel) = (0.0f64, 0.0f64);
        for x in xs {
            let x = x as f32 as f64;
            let g = f(x as f32) as f64;
            let w = want(x);
            let e = (g - w).abs();
            abs = abs.max(e);
            if w != 0.0 {
                rel = rel.max(e / w.abs());
            }
        }
        let err = if relative { rel } else { abs };
        let ok = if err <= tol { "ok" } else { "OVER" };
        report.push((
            err <= tol,
            format!("{name}: max abs {abs:.3e}, max rel {rel:.3e}, tolerance {tol:.0e} {ok}"),
        ));
    };
    let t = |fast_tol: f64, libm_tol: f64| if fast { fast_tol } else { libm_tol };

    measure(
        "sigmoid",
        &mut grid(-20.0, 20.0, 4000),
        &|x: f32| x.sigmoid(),
        &sig,
        t(1e-3, 2e-7),
        false,
    );
    measure(
        "tanh",
        &mut grid(-20.0, 20.0, 4000),
        &|x: f32| Float::tanh(x),
        &libm::tanh,
        t(2e-3, 2e-7),
        false,
    );
    measure(
        "softplus",
        &mut grid(-20.0, 20.0, 4000),
        &|x: f32| x.softplus(),
        &softplus,
        t(1e-3, 1e-6),
        false,
    );
    measure(
        "softplus (relative)",
        &mut grid(-20.0, 20.0, 4000),
        &|x: f32| x.softplus(),
        &softplus,
        t(4e-3, 3e-7),
        true,
    );
    measure(
        "exp",
        &mut grid(-20.0, 20.0, 4000),
        &|x: f32| Float::exp(x),
        &libm::exp,
        t(3e-3, 3e-7),
        true,
    );
    measure(
        "exp_m1",
        &mut grid(-20.0, 0.0, 2000),
        &|x: f32| Float::exp_m1(x),
        &libm::expm1,
        t(2e-3, 2e-7),
        false,
    );
    measure(
        "ln",
        &mut grid(-3.0, 4.0, 2000).map(|p| libm::pow(10.0, p)),
        &|x: f32| Float::ln(x),
        &libm::log,
        t(1e-4, 1e-6),
        false,
    );
    measure(
        "sqrt",
        &mut grid(0.0, 1e6, 4000),
        &|x: f32| Float::sqrt(x),
        &libm::sqrt,
        t(1e-5, 2e-7),
        true,
    );
    for (_, line) in &report {
        println!("{line}");
    }
    assert!(
        report.iter().all(|(ok, _)| *ok),
        "a function is over its tolerance"
    );
}

/// A user's kernels: counts gemm and bias + activation calls, computes them
/// with the reference kernels.
struct Counting {
    gemms: core::cell::Cell<usize>,
    fused: core::cell::Cell<usize>,
}

impl<E: Float> crate::CpuKernels<E> for Counting {
    fn gemm(
        &self,
        g: &microprop_hal::op::Gemm<E>,
        a: &[E],
        b: &[E],
        c: &mut [E],
    ) -> Result<(), OpError> {
        self.gemms.set(self.gemms.get() + 1);
        crate::reference::gemm(
            g.m, g.n, g.k, a, g.trans_a, b, g.trans_b, c, g.alpha, g.beta,
        )
    }
    fn bias_activate(
        &self,
        o: &microprop_hal::op::BiasActivate<E>,
        bias: &[E],
        x: &mut [E],
        y: &mut [E],
    ) -> Result<(), OpError> {
        self.fused.set(self.fused.get() + 1);
        crate::reference::bias_activate(o.act, o.rows, o.cols, bias, x, y)
    }
}

#[test]
fn a_users_kernels_replace_gemm_and_bias_activate() {
    use microprop_hal::{op, Op};
    // c = a · b for 2×2 matrices, by hand: [[1,2],[3,4]]·[[5,6],[7,8]]
    // = [[19,22],[43,50]]; then tanh(c + bias) into y.
    let mut arena = [
        1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 0.0, 0.0, 0.0, 0.0, -19.0, -50.0, 0.0, 0.0, 0.0,
        0.0,
    ];
    let kernels = Counting {
        gemms: core::cell::Cell::new(0),
        fused: core::cell::Cell::new(0),
    };
    let mut cpu = CpuBackend::with_kernels(&mut arena, kernels);
    cpu.execute(&Op::Gemm(op::Gemm {
        m: 2,
        n: 2,
        k: 2,
        a: s(0, 4),
        trans_a: false,
        b: s(4, 4),
        trans_b: false,
        c: s(8, 4),
        alpha: 1.0,
        beta: 0.0,
    }))
    .unwrap();
    cpu.execute(&Op::BiasActivate(op::BiasActivate {
        act: Activation::Tanh,
        bias: s(12, 2),
        x: s(8, 4),
        y: s(14, 4),
        rows: 2,
        cols: 2,
    }))
    .unwrap();
    // Other ops still run on the crate's kernels.
    cpu.execute(&Op::Fill(op::Fill {
        dst: s(0, 1),
        value: 9.0,
    }))
    .unwrap();
    assert_eq!(
        (cpu.kernels().gemms.get(), cpu.kernels().fused.get()),
        (1, 1)
    );
    let a = cpu.arena();
    assert_eq!(&a[8..12], &[0.0, -28.0, 24.0, 0.0]);
    assert_eq!(&a[14..18], &[0.0, (-28.0f64).tanh(), 24.0f64.tanh(), 0.0]);
    assert_eq!(a[0], 9.0);
}

/// Found by fuzzing (`fuzz/seeds/ops/regression-maxout-overflow`): a maxout
/// op with 0 rows is empty whatever `units · k` is, as `Op::validate` says,
/// on the fast and the reference kernels; with a row, its overflowed length
/// matches no span and both refuse it.
#[test]
fn zero_row_maxout_ops_are_empty_even_when_units_times_k_overflows() {
    use microprop_hal::{op, Op};
    let empty = |rows: usize| {
        Op::<f32>::MaxoutBackward(op::MaxoutBackward {
            x: s(0, 0),
            dy: s(1, 2 * rows),
            dx: s(3, 0),
            rows,
            units: 2,
            k: usize::MAX - 2,
        })
    };
    let forward = Op::<f32>::Maxout(op::Maxout {
        x: s(0, 0),
        y: s(1, 0),
        rows: 0,
        units: 2,
        k: usize::MAX - 2,
    });
    for op in [empty(0), forward] {
        assert!(op.validate(5).is_ok());
        let mut a = [1.5f32; 5];
        assert_eq!(CpuBackend::new(&mut a).execute(&op), Ok(()), "{op:?}");
        assert_eq!(CpuBackend::reference(&mut a).execute(&op), Ok(()), "{op:?}");
        assert_eq!(a, [1.5; 5]);
    }
    let one = empty(1);
    assert!(one.validate(5).is_err());
    let mut a = [1.5f32; 5];
    assert!(CpuBackend::new(&mut a).execute(&one).is_err());
    assert!(CpuBackend::reference(&mut a).execute(&one).is_err());
}

/// `sqrt_fast` is within one ulp of the correctly rounded square root:
/// every power of two and its neighbours, and a geometric sweep over the
/// whole normal range; zero, subnormals, negatives and non-finite values
/// give `libm`'s answer exactly.
#[cfg(not(feature = "fast-math"))]
#[test]
fn f32_sqrt_fast_within_one_ulp() {
    let ulps = |x: f32| {
        let (got, want) = (Float::sqrt_fast(x), libm::sqrtf(x));
        (got.to_bits() as i64 - want.to_bits() as i64).abs()
    };
    let mut worst = (0, 0.0f32);
    let mut x = f32::MIN_POSITIVE;
    while x < f32::MAX / 1.0001 {
        for y in [
            x,
            f32::from_bits(x.to_bits() + 1),
            f32::from_bits(x.to_bits() - 1),
        ] {
            if y >= f32::MIN_POSITIVE {
                let u = ulps(y);
                if u > worst.0 {
                    worst = (u, y);
                }
            }
        }
        x *= 1.000_37;
    }
    assert!(worst.0 <= 1, "{} ulps at {}", worst.0, worst.1);
    for x in [0.0f32, -0.0, 1e-40, -1.0, f32::INFINITY, f32::NAN, f32::MAX] {
        let (got, want) = (Float::sqrt_fast(x), libm::sqrtf(x));
        assert!(
            got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
            "{x}"
        );
    }
}

/// The fast Adam step is the reference's formula but for the square root:
/// each parameter within a few ulps of the reference's, moments equal. An
/// odd length runs the fast kernel's pairs and its last single element.
#[test]
fn fast_adam_matches_the_reference() {
    use crate::reference::AdamParams;
    let n = 4097;
    let grad: Vec<f32> = (0..n).map(|i| ((i as f32) * 0.37).sin() * 0.1).collect();
    let mut state = (
        vec![0.5f32; n],
        vec![0.01f32; n],
        vec![0.02f32; n],
        vec![0.5f32; n],
        vec![0.01f32; n],
        vec![0.02f32; n],
    );
    let (p1, m1, v1, p2, m2, v2) = (
        &mut state.0,
        &mut state.1,
        &mut state.2,
        &mut state.3,
        &mut state.4,
        &mut state.5,
    );
    for t in 1..=20 {
        let h = AdamParams {
            lr: 0.01f32,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            bias1: 1.0 - 0.9f32.powi(t),
            bias2: 1.0 - 0.999f32.powi(t),
        };
        crate::fused::adam_step(h, p1, &grad, m1, v1).unwrap();
        crate::reference::adam_step(h, p2, &grad, m2, v2).unwrap();
    }
    assert_eq!(m1, m2);
    assert_eq!(v1, v2);
    for (a, b) in p1.iter().zip(p2.iter()) {
        // 20 steps of lr 0.01, each off by at most ~2 ulps of its size.
        assert!(
            (a - b).abs() <= 20.0 * 0.01 * 4.0 * f32::EPSILON,
            "{a} vs {b}"
        );
    }
}

/// The `f32` tanh ([`crate::math::tanh_f32`]) against `f64` `libm`: within
/// 1.51 ulp of the exact value (`tools/tanh_coeffs.py` measures 1.505 on
/// every `f32` from `2^-14` to `9.5`). Here every 61st `f32` of that range,
/// every `f32` within 2^12 steps of the two branch points (`ln(3)/2`, 9),
/// odd symmetry bit for bit, and the special values.
#[cfg(not(feature = "fast-math"))]
#[test]
fn f32_tanh_within_one_and_a_half_ulp() {
    let ulps = |x: f32| {
        let want = libm::tanh(f64::from(x));
        let w = want as f32;
        let ulp = f64::from(f32::from_bits(w.to_bits() + 1) - w);
        (f64::from(Float::tanh(x)) - want).abs() / ulp
    };
    let (lo, hi) = (2f32.powi(-14).to_bits(), 9.5f32.to_bits());
    let cut = 0.549_306_15f32.to_bits();
    let nine = 9f32.to_bits();
    let xs = (lo..hi)
        .step_by(61)
        .chain(cut - 4096..cut + 4096)
        .chain(nine - 4096..nine + 4096)
        .map(f32::from_bits);
    let (mut worst, mut at) = (0.0f64, 0.0f32);
    for x in xs {
        let e = ulps(x);
        if e > worst {
            (worst, at) = (e, x);
        }
        assert_eq!(
            Float::tanh(-x).to_bits(),
            (-Float::tanh(x)).to_bits(),
            "odd at {x}"
        );
    }
    assert!(worst <= 1.51, "{worst} ulp at {at}");
    // Below 2^-14 tanh(x) rounds to x; ±0 keep their sign; 9 and beyond
    // round to ±1; NaN stays NaN.
    for x in [1e-5f32, 1e-30, f32::from_bits(1), 0.0, -0.0, -1e-20] {
        assert_eq!(Float::tanh(x).to_bits(), x.to_bits(), "{x}");
    }
    for (x, want) in [
        (9.0f32, 1.0f32),
        (20.0, 1.0),
        (f32::INFINITY, 1.0),
        (-9.0, -1.0),
    ] {
        assert_eq!(Float::tanh(x), want);
    }
    assert_eq!(Float::tanh(f32::NEG_INFINITY), -1.0);
    assert!(Float::tanh(f32::NAN).is_nan());
}

/// Kernels of a user's that leave [`crate::CpuKernels::CHECKS_LENGTHS`]
/// `false` never see an op whose lengths do not match its dimensions: the
/// backend validates it first and the kernel is not called. The crate's
/// kernels, which check their lengths (the op runs first), return the same
/// error and change nothing.
#[test]
fn user_kernels_see_only_validated_ops() {
    use microprop_hal::{op, Op};

    let gemm = |c_len| {
        Op::Gemm(op::Gemm {
            m: 2,
            n: 2,
            k: 2,
            a: s(0, 4),
            trans_a: false,
            b: s(4, 4),
            trans_b: false,
            c: s(8, c_len),
            alpha: 1.0,
            beta: 0.0,
        })
    };
    let short = Err(CpuError::Op(OpError::Shape {
        op: "gemm",
        operand: "c",
        expected: 4,
        got: 3,
    }));
    let start: [f32; 16] = core::array::from_fn(|i| i as f32);

    let mut arena = start;
    let kernels = Counting {
        gemms: core::cell::Cell::new(0),
        fused: core::cell::Cell::new(0),
    };
    let mut cpu = CpuBackend::with_kernels(&mut arena, kernels);
    assert_eq!(cpu.execute(&gemm(3)), short);
    assert_eq!(cpu.kernels().gemms.get(), 0);
    assert_eq!(cpu.arena(), &start[..]);
    assert_eq!(cpu.execute(&gemm(4)), Ok(()));
    assert_eq!(cpu.kernels().gemms.get(), 1);
    // [0 1; 2 3] · [4 5; 6 7] = [6 7; 26 31]
    assert_eq!(cpu.arena()[8..12], [6.0, 7.0, 26.0, 31.0]);

    let mut arena = start;
    assert_eq!(CpuBackend::new(&mut arena).execute(&gemm(3)), short);
    assert_eq!(arena, start);
}
