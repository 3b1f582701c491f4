//! Differential fuzzing of the CPU backend's ops: the fast kernels
//! (`CpuBackend::new`, the default) against the scalar reference kernels
//! (`CpuBackend::reference`), on every kind of `Op`, f32, f64 and the
//! 16-bit fixed point `Q10` (where the fast gemm is bit-identical too, the
//! backend refuses Adam, and composites are not compared with their
//! decompositions, which round differently).
//!
//! Each input builds one op from the fuzz bytes (kind, dimensions, spans laid
//! out in an arena with gaps, hyperparameters, arena values), then:
//!
//! - a valid op runs `Ok` on both backends; every element the op does not
//!   reach through gemm is bit-identical between them (both NaN counts as
//!   equal); a gemm's `c` agrees within `2·(k+2)·eps·(|alpha|·Σ|a||b| +
//!   |beta·c|)` where everything it reads is finite and that sum cannot
//!   overflow;
//! - a composite op also runs as its reference decomposition (a
//!   primitives-only backend over the reference kernels); bias + activation
//!   is bit-identical; the perceptron ops are bit-identical on small integer
//!   data (where every sum is exact); the loss agrees within a tolerance
//!   derived from its size on small data; the scratch span is not compared;
//! - an invalid op (one field of a valid op changed: a span moved onto
//!   another, past the arena, to a huge offset, a length or a dimension
//!   changed) is an `Err` on every backend exactly when `Op::validate`
//!   rejects it, and an `Err` leaves the arena bit-identical;
//! - nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use microprop::hal::op::{self, PERCEPTRON_SCRATCH};
use microprop::hal::{Activation, LossKind, Op, OpError, Span};
use microprop::Backend;
use microprop_cpu::{CpuBackend, Float};
use microprop_fuzz::Bytes;

/// Hides the CPU backend's composite kernels, so that `Backend::execute`
/// runs each composite as its reference decomposition (host-tests'
/// `PrimitivesOnly`).
struct PrimitivesOnly<B>(B);

impl<B: Backend> Backend for PrimitivesOnly<B> {
    type Elem = B::Elem;
    type Error = B::Error;
    fn arena_len(&self) -> usize {
        self.0.arena_len()
    }
    fn upload(&mut self, offset: usize, src: &[Self::Elem]) -> Result<(), Self::Error> {
        self.0.upload(offset, src)
    }
    fn download(&mut self, offset: usize, dst: &mut [Self::Elem]) -> Result<(), Self::Error> {
        self.0.download(offset, dst)
    }
    fn dispatch(&mut self, op: &Op<Self::Elem>) -> Result<(), Self::Error> {
        if op.is_primitive() {
            self.0.dispatch(op)
        } else {
            Err(OpError::Unsupported { op: op.name() }.into())
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut r = Bytes::new(data);
    match r.below(3) {
        0 => run::<f32>(&mut r),
        1 => run::<f64>(&mut r),
        _ => run::<microprop::Q10>(&mut r),
    }
});

/// How the arena's values are drawn.
#[derive(Clone, Copy, PartialEq)]
enum Values {
    /// Anything: small, huge, tiny, NaN, ±inf, raw bits.
    Any,
    /// Small integers (`-4..=4`): every sum is exact.
    Integers,
}

/// Lays spans out one after another with small gaps; records which spans
/// hold labels.
struct Layout {
    next: usize,
    labels: Vec<Span>,
}

impl Layout {
    fn alloc(&mut self, r: &mut Bytes, len: usize) -> Span {
        let gap = if r.u8() < 64 { r.below(3) } else { 0 };
        let s = Span::new(self.next + gap, len);
        self.next = s.end();
        s
    }
    fn labels(&mut self, r: &mut Bytes, len: usize) -> Span {
        let s = self.alloc(r, len);
        self.labels.push(s);
        s
    }
    /// `x` itself (in place) or a new span of its length.
    fn same_or_new(&mut self, r: &mut Bytes, x: Span) -> Span {
        if r.u8() < 80 {
            x
        } else {
            self.alloc(r, x.len)
        }
    }
}

fn value<E: Float>(r: &mut Bytes, v: Values) -> E {
    match v {
        Values::Any => E::from_f64(r.f64_any()),
        Values::Integers => E::from_f64(r.below(9) as f64 - 4.0),
    }
}

/// A hyperparameter: usually small, sometimes anything.
fn hyper<E: Float>(r: &mut Bytes, v: Values) -> E {
    if v == Values::Integers || r.u8() < 200 {
        E::from_f64(r.f64_small())
    } else {
        E::from_f64(r.f64_any())
    }
}

fn activation<E: Float>(r: &mut Bytes, v: Values) -> Activation<E> {
    match r.below(7) {
        0 => Activation::Identity,
        1 => Activation::Sigmoid,
        2 => Activation::Tanh,
        3 => Activation::Relu,
        4 => Activation::LeakyRelu { slope: hyper(r, v) },
        5 => Activation::Elu { alpha: hyper(r, v) },
        _ => Activation::Softplus,
    }
}

/// A valid sliding window over small images (1-D sometimes).
fn window(r: &mut Bytes) -> op::Window {
    let one_d = r.bool();
    let (height, kh, pad_h) = if one_d {
        (1, 1, 0)
    } else {
        let h = r.range(1, 7);
        let pad = r.range(0, 2);
        (h, r.range(1, h + 2 * pad), pad)
    };
    let width = r.range(1, 9);
    let pad_w = r.range(0, 2);
    op::Window {
        channels: r.range(1, 3),
        height,
        width,
        kh,
        kw: r.range(1, width + 2 * pad_w),
        stride: r.range(1, 3),
        pad_h,
        pad_w,
    }
}

/// The dimensions of an im2col or col2im, mutably.
fn window_dims<'a>(rows: &'a mut usize, w: &'a mut op::Window) -> Vec<&'a mut usize> {
    vec![
        rows,
        &mut w.channels,
        &mut w.height,
        &mut w.width,
        &mut w.kh,
        &mut w.kw,
        &mut w.stride,
        &mut w.pad_h,
        &mut w.pad_w,
    ]
}

/// A small dimension (0 sometimes, longer than a vector width sometimes).
fn dim(r: &mut Bytes) -> usize {
    match r.u8() % 8 {
        0 => 0,
        1..=5 => r.range(1, 5),
        _ => r.range(6, 19),
    }
}

/// One valid op of kind `kind` (an index into the 26 kinds of `Op`).
fn build<E: Float>(r: &mut Bytes, l: &mut Layout, kind: u8, v: Values) -> Op<E> {
    match kind % 26 {
        0 => {
            let n = dim(r);
            op::Fill {
                dst: l.alloc(r, n),
                value: value(r, Values::Any),
            }
            .into()
        }
        1 => {
            let n = dim(r);
            let src = l.alloc(r, n);
            let dst = l.same_or_new(r, src);
            op::Copy { src, dst }.into()
        }
        2 => {
            let n = dim(r);
            op::Axpy {
                x: l.alloc(r, n),
                y: l.alloc(r, n),
                alpha: hyper(r, v),
            }
            .into()
        }
        3 => {
            let n = dim(r);
            op::SumSquares {
                x: l.alloc(r, n),
                out: l.alloc(r, 1),
                scale: hyper(r, v),
                accumulate: r.bool(),
            }
            .into()
        }
        4 => {
            let (m, n) = (dim(r), dim(r));
            // Past one k-block (256) sometimes.
            let k = if r.u8() < 24 {
                r.range(250, 300)
            } else {
                dim(r) * 2
            };
            let beta = match r.below(4) {
                0 => E::ZERO,
                1 => E::ONE,
                _ => hyper(r, v),
            };
            op::Gemm {
                m,
                n,
                k,
                a: l.alloc(r, m * k),
                trans_a: r.bool(),
                b: l.alloc(r, k * n),
                trans_b: r.bool(),
                c: l.alloc(r, m * n),
                alpha: if r.bool() { E::ONE } else { hyper(r, v) },
                beta,
            }
            .into()
        }
        5 => {
            let (rows, cols) = (dim(r), dim(r));
            op::BiasAdd {
                bias: l.alloc(r, cols),
                out: l.alloc(r, rows * cols),
                rows,
                cols,
            }
            .into()
        }
        6 => {
            let (rows, cols) = (dim(r), dim(r));
            op::BiasGrad {
                dout: l.alloc(r, rows * cols),
                dbias: l.alloc(r, cols),
                rows,
                cols,
            }
            .into()
        }
        7 => {
            let n = dim(r);
            let act = activation(r, v);
            let x = l.alloc(r, n);
            let y = l.same_or_new(r, x);
            op::Activate { act, x, y }.into()
        }
        8 => {
            let (rows, cols) = (dim(r), dim(r));
            let act = activation(r, v);
            let bias = l.alloc(r, cols);
            let x = l.alloc(r, rows * cols);
            let y = l.same_or_new(r, x);
            op::BiasActivate {
                act,
                bias,
                x,
                y,
                rows,
                cols,
            }
            .into()
        }
        9 => {
            let n = dim(r);
            let act = activation(r, v);
            let (x, y) = (l.alloc(r, n), l.alloc(r, n));
            let dy = l.alloc(r, n);
            let dx = l.same_or_new(r, dy);
            op::ActivateBackward { act, x, y, dy, dx }.into()
        }
        10 | 11 => {
            let (rows, cols) = (dim(r), dim(r));
            let x = l.alloc(r, rows * cols);
            let y = l.same_or_new(r, x);
            if kind % 26 == 10 {
                op::Softmax { x, y, rows, cols }.into()
            } else {
                op::LogSoftmax { x, y, rows, cols }.into()
            }
        }
        12 => {
            let (rows, cols) = (dim(r), dim(r));
            let y = l.alloc(r, rows * cols);
            let dy = l.alloc(r, rows * cols);
            let dx = l.same_or_new(r, dy);
            op::SoftmaxBackward {
                y,
                dy,
                dx,
                rows,
                cols,
            }
            .into()
        }
        13 => {
            let (rows, units, k) = (dim(r), dim(r), r.below(5));
            op::Maxout {
                x: l.alloc(r, rows * units * k),
                y: l.alloc(r, rows * units),
                rows,
                units,
                k,
            }
            .into()
        }
        14 => {
            let (rows, units, k) = (dim(r), dim(r), r.below(5));
            op::MaxoutBackward {
                x: l.alloc(r, rows * units * k),
                dy: l.alloc(r, rows * units),
                dx: l.alloc(r, rows * units * k),
                rows,
                units,
                k,
            }
            .into()
        }
        15 => {
            let (rows, cols) = (dim(r), dim(r));
            op::OneHot {
                labels: l.labels(r, rows),
                y: l.alloc(r, rows * cols),
                rows,
                cols,
                value: hyper(r, v),
            }
            .into()
        }
        16 => {
            // A loss needs at least one column (`cols == 0` is invalid).
            let (rows, cols) = (dim(r), dim(r).max(1));
            let kind = match r.below(3) {
                0 => LossKind::Mse,
                1 => LossKind::SoftmaxCrossEntropy,
                _ => LossKind::Hinge {
                    margin: if v == Values::Integers {
                        E::from_f64(r.below(9) as f64 / 4.0 - 1.0)
                    } else {
                        hyper(r, v)
                    },
                },
            };
            let pred = l.alloc(r, rows * cols);
            let target = if kind.uses_labels() {
                l.labels(r, rows)
            } else {
                l.alloc(r, rows * cols)
            };
            let out = l.alloc(r, 1);
            let grad = if r.bool() {
                Some(l.alloc(r, rows * cols))
            } else {
                None
            };
            let need = op::Loss::<E>::scratch_len(&kind, cols);
            let extra = r.below(3);
            let scratch = l.alloc(r, need + extra);
            op::Loss {
                kind,
                pred,
                target,
                rows,
                cols,
                out,
                grad,
                scratch,
            }
            .into()
        }
        17 => {
            let (rows, cols) = (dim(r), dim(r));
            op::CountCorrect {
                pred: l.alloc(r, rows * cols),
                target: l.labels(r, rows),
                rows,
                cols,
                out: l.alloc(r, 1),
            }
            .into()
        }
        18 => {
            let n = dim(r);
            op::SgdStep {
                param: l.alloc(r, n),
                grad: l.alloc(r, n),
                lr: hyper(r, v),
            }
            .into()
        }
        19 => {
            let n = dim(r);
            op::MomentumStep {
                param: l.alloc(r, n),
                grad: l.alloc(r, n),
                velocity: l.alloc(r, n),
                lr: hyper(r, v),
                momentum: hyper(r, v),
            }
            .into()
        }
        20 => {
            let n = dim(r);
            op::AdamStep {
                param: l.alloc(r, n),
                grad: l.alloc(r, n),
                m: l.alloc(r, n),
                v: l.alloc(r, n),
                lr: hyper(r, v),
                beta1: hyper(r, v),
                beta2: hyper(r, v),
                eps: hyper(r, v),
                bias1: hyper(r, v),
                bias2: hyper(r, v),
            }
            .into()
        }
        21 => {
            let (rows, cols) = (dim(r), dim(r));
            let weights = l.alloc(r, cols);
            let samples = l.alloc(r, rows * cols);
            let labels = l.labels(r, rows);
            let average = if r.bool() {
                Some(l.alloc(r, cols))
            } else {
                None
            };
            let stats = l.alloc(r, 1);
            let extra = r.below(2);
            let scratch = l.alloc(r, PERCEPTRON_SCRATCH + extra);
            op::PerceptronEpoch {
                weights,
                samples,
                labels,
                rows,
                cols,
                average,
                stats,
                scratch,
            }
            .into()
        }
        24 | 25 => {
            let rows = r.range(0, 3);
            let window = window(r);
            let x = l.alloc(r, rows * window.image_len());
            let cols = l.alloc(r, rows * window.cols_len());
            let layout = if r.bool() {
                op::ColLayout::Conv
            } else {
                op::ColLayout::Pool
            };
            if kind % 26 == 24 {
                op::Im2col {
                    x,
                    cols,
                    rows,
                    window,
                    layout,
                }
                .into()
            } else {
                op::Col2im {
                    cols,
                    x,
                    rows,
                    window,
                    layout,
                }
                .into()
            }
        }
        23 => {
            let n = dim(r);
            op::Anchor {
                anchor: l.alloc(r, n),
                w: l.alloc(r, n),
                grad: r.bool().then(|| l.alloc(r, n)),
                out: r.bool().then(|| l.alloc(r, 1)),
                scale: hyper(r, v),
                alpha: hyper(r, v),
            }
            .into()
        }
        _ => {
            let (rows, cols) = (dim(r), dim(r));
            let weights = l.alloc(r, cols);
            let samples = l.alloc(r, rows * cols);
            let labels = l.labels(r, rows);
            let out = l.alloc(r, 1);
            let extra = r.below(2);
            let scratch = l.alloc(r, PERCEPTRON_SCRATCH + extra);
            op::PerceptronErrors {
                weights,
                samples,
                labels,
                rows,
                cols,
                out,
                scratch,
            }
            .into()
        }
    }
}

/// Every span of `op` (scratch and optional operands included), mutably.
fn spans<E>(op: &mut Op<E>) -> Vec<&mut Span> {
    let mut v: Vec<&mut Span> = Vec::new();
    match op {
        Op::Fill(o) => v.push(&mut o.dst),
        Op::Copy(o) => v.extend([&mut o.src, &mut o.dst]),
        Op::Axpy(o) => v.extend([&mut o.x, &mut o.y]),
        Op::SumSquares(o) => v.extend([&mut o.x, &mut o.out]),
        Op::Gemm(o) => v.extend([&mut o.a, &mut o.b, &mut o.c]),
        Op::BiasAdd(o) => v.extend([&mut o.bias, &mut o.out]),
        Op::BiasGrad(o) => v.extend([&mut o.dout, &mut o.dbias]),
        Op::Activate(o) => v.extend([&mut o.x, &mut o.y]),
        Op::BiasActivate(o) => v.extend([&mut o.bias, &mut o.x, &mut o.y]),
        Op::ActivateBackward(o) => v.extend([&mut o.x, &mut o.y, &mut o.dy, &mut o.dx]),
        Op::Softmax(o) => v.extend([&mut o.x, &mut o.y]),
        Op::LogSoftmax(o) => v.extend([&mut o.x, &mut o.y]),
        Op::SoftmaxBackward(o) => v.extend([&mut o.y, &mut o.dy, &mut o.dx]),
        Op::Maxout(o) => v.extend([&mut o.x, &mut o.y]),
        Op::MaxoutBackward(o) => v.extend([&mut o.x, &mut o.dy, &mut o.dx]),
        Op::OneHot(o) => v.extend([&mut o.labels, &mut o.y]),
        Op::Loss(o) => {
            v.extend([&mut o.pred, &mut o.target, &mut o.out, &mut o.scratch]);
            v.extend(o.grad.as_mut());
        }
        Op::CountCorrect(o) => v.extend([&mut o.pred, &mut o.target, &mut o.out]),
        Op::SgdStep(o) => v.extend([&mut o.param, &mut o.grad]),
        Op::MomentumStep(o) => v.extend([&mut o.param, &mut o.grad, &mut o.velocity]),
        Op::AdamStep(o) => v.extend([&mut o.param, &mut o.grad, &mut o.m, &mut o.v]),
        Op::PerceptronEpoch(o) => {
            v.extend([
                &mut o.weights,
                &mut o.samples,
                &mut o.labels,
                &mut o.stats,
                &mut o.scratch,
            ]);
            v.extend(o.average.as_mut());
        }
        Op::PerceptronErrors(o) => v.extend([
            &mut o.weights,
            &mut o.samples,
            &mut o.labels,
            &mut o.out,
            &mut o.scratch,
        ]),
        Op::Im2col(o) => v.extend([&mut o.x, &mut o.cols]),
        Op::Col2im(o) => v.extend([&mut o.cols, &mut o.x]),
        Op::Anchor(o) => {
            v.extend([&mut o.anchor, &mut o.w]);
            v.extend(o.grad.as_mut());
            v.extend(o.out.as_mut());
        }
    }
    v
}

/// Every dimension of `op`, mutably.
fn dims<E>(op: &mut Op<E>) -> Vec<&mut usize> {
    match op {
        Op::Gemm(o) => vec![&mut o.m, &mut o.n, &mut o.k],
        Op::BiasAdd(o) => vec![&mut o.rows, &mut o.cols],
        Op::BiasGrad(o) => vec![&mut o.rows, &mut o.cols],
        Op::BiasActivate(o) => vec![&mut o.rows, &mut o.cols],
        Op::Softmax(o) => vec![&mut o.rows, &mut o.cols],
        Op::LogSoftmax(o) => vec![&mut o.rows, &mut o.cols],
        Op::SoftmaxBackward(o) => vec![&mut o.rows, &mut o.cols],
        Op::Maxout(o) => vec![&mut o.rows, &mut o.units, &mut o.k],
        Op::MaxoutBackward(o) => vec![&mut o.rows, &mut o.units, &mut o.k],
        Op::OneHot(o) => vec![&mut o.rows, &mut o.cols],
        Op::Loss(o) => vec![&mut o.rows, &mut o.cols],
        Op::CountCorrect(o) => vec![&mut o.rows, &mut o.cols],
        Op::PerceptronEpoch(o) => vec![&mut o.rows, &mut o.cols],
        Op::PerceptronErrors(o) => vec![&mut o.rows, &mut o.cols],
        Op::Im2col(o) => window_dims(&mut o.rows, &mut o.window),
        Op::Col2im(o) => window_dims(&mut o.rows, &mut o.window),
        _ => vec![],
    }
}

/// Change one field of `op`: mostly to something invalid.
fn mutate<E>(r: &mut Bytes, op: &mut Op<E>, arena_len: usize) {
    let others: Vec<Span> = spans(op).into_iter().map(|s| *s).collect();
    let choice = r.below(8);
    if choice == 7 {
        let mut d = dims(op);
        if !d.is_empty() {
            let i = r.below(d.len());
            let new = match r.below(4) {
                0 => *d[i] + 1,
                1 => d[i].saturating_sub(1),
                2 => usize::MAX - r.below(3),
                _ => 1usize << r.range(16, 63),
            };
            *d[i] = new;
            return;
        }
    }
    let mut s = spans(op);
    let i = r.below(s.len());
    let span = &mut *s[i];
    match choice {
        // Onto (or into) another operand: a partial or full overlap.
        0 | 1 => {
            let other = others[r.below(others.len())];
            span.offset = other.offset + r.below(other.len.max(1));
        }
        // Just past the arena's end.
        2 => span.offset = (arena_len + 1 + r.below(2)).saturating_sub(span.len.max(1)),
        // A huge offset (offset + len overflows).
        3 => span.offset = usize::MAX - r.below(4),
        // A length off by a little.
        4 => {
            span.len = if r.bool() {
                span.len + 1
            } else {
                span.len.saturating_sub(1)
            }
        }
        // A huge length.
        5 => span.len = usize::MAX - r.below(4),
        // Anywhere.
        _ => span.offset = r.below(arena_len + 4),
    }
}

/// Adam's fast kernel: the reference's formula with a square root within
/// one ulp. That ulp changes the denominator `√v̂ + eps` by up to `ulp(√v̂)`,
/// which relative to the denominator is large when `eps` nearly cancels
/// `√v̂` (any hyperparameter goes here): each parameter's update `u = p₀ −
/// p` may differ by `|u| · (2·eps·√v̂ / |√v̂ + eps| + 4·eps)` plus two ulps
/// of rounding in the subtraction. Non-finite results must match exactly (a
/// non-normal second moment takes the exact root).
fn check_adam<E: Float>(a: &op::AdamStep<E>, before: &[E], fast: &[E], refr: &[E]) {
    let (bias2, eps_h) = (a.bias2.to_f64(), a.eps.to_f64());
    for k in 0..a.param.len {
        let i = a.param.offset + k;
        let (p0, f, r) = (before[i].to_f64(), fast[i].to_f64(), refr[i].to_f64());
        if !r.is_finite() || !f.is_finite() || !p0.is_finite() {
            assert!(
                same_bits(fast[i], refr[i]),
                "adam_step at {i}: fast {f} vs reference {r}"
            );
            continue;
        }
        let root = (refr[a.v.offset + k].to_f64() / bias2).sqrt();
        let den = (root + eps_h).abs();
        let rel = 2.0 * eps::<E>() * root / den + 4.0 * eps::<E>();
        let ulp = (r.abs() * eps::<E>()).max(denorm::<E>());
        let bound = if rel.is_finite() {
            rel * (p0 - r).abs() + 2.0 * ulp
        } else {
            f64::INFINITY
        };
        assert!(
            (f - r).abs() <= bound,
            "adam_step at {i}: fast {f} vs reference {r} (from {p0}), bound {bound}"
        );
    }
}

fn same_bits<E: Float>(a: E, b: E) -> bool {
    let (x, y) = (a.to_f64(), b.to_f64());
    (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits()
}

fn eps<E: Float>() -> f64 {
    E::EPSILON.to_f64()
}

/// The smallest positive subnormal of `E`.
fn denorm<E: Float>() -> f64 {
    if E::BYTES == 4 {
        f32::from_bits(1) as f64
    } else {
        f64::from_bits(1)
    }
}

fn max_finite<E: Float>() -> f64 {
    if E::BYTES == 4 {
        f32::MAX as f64
    } else {
        f64::MAX
    }
}

fn run<E: Float>(r: &mut Bytes) {
    let kind = r.u8();
    let values = if r.u8() < 96 {
        Values::Integers
    } else {
        Values::Any
    };
    let mut l = Layout {
        next: r.below(3),
        labels: vec![],
    };
    let valid = build::<E>(r, &mut l, kind, values);
    let arena_len = l.next + r.below(4);
    let mut arena = vec![E::ZERO; arena_len];
    for x in arena.iter_mut() {
        *x = value(r, values);
    }
    for s in &l.labels {
        for v in &mut arena[s.offset..s.end()] {
            *v = match r.below(16) {
                0 => E::from_f64(f64::NAN),
                1 => E::from_f64(-1.0),
                2 => E::from_f64(0.5),
                3 => E::from_f64(1e9),
                4 => E::from_f64(r.below(64) as f64),
                // Perceptron labels: ±1.
                5..=8 => E::from_f64(if r.bool() { 1.0 } else { -1.0 }),
                _ => E::from_f64(r.below(20) as f64),
            };
            // Small integer data stays exact: no NaN or 1e9 label.
            let a = v.to_f64().abs();
            if values == Values::Integers && (a.is_nan() || a > 64.0) {
                *v = E::from_f64(-1.0);
            }
        }
    }

    let invalid = r.u8() < 96;
    let mut op = valid;
    if invalid {
        mutate(r, &mut op, arena_len);
    }
    let verdict = op.validate(arena_len);

    let mut fast = arena.clone();
    let rf = CpuBackend::new(&mut fast).execute(&op);
    let mut refr = arena.clone();
    let rr = CpuBackend::reference(&mut refr).execute(&op);
    let mut prim = arena.clone();
    let rp = PrimitivesOnly(CpuBackend::reference(&mut prim)).execute(&op);

    // An `Err` changes nothing, on every backend.
    for (res, out, name) in [
        (&rf, &fast, "fast"),
        (&rr, &refr, "reference"),
        (&rp, &prim, "primitives"),
    ] {
        if res.is_err() {
            assert!(
                out.iter()
                    .zip(&arena)
                    .all(|(a, b)| a.to_f64().to_bits() == b.to_f64().to_bits()),
                "{name}: a rejected {} changed the arena: {res:?}",
                op.name()
            );
        }
    }
    // A fixed-point backend leaves Adam out of its set: Unsupported, and
    // nothing changed (checked above).
    if E::WIDE_ACC && matches!(op, Op::AdamStep(_)) {
        for res in [&rf, &rr] {
            assert!(
                matches!(res, Err(microprop_cpu::CpuError::Op(OpError::Unsupported { .. }))),
                "{res:?}"
            );
        }
        return;
    }
    // The kernels run exactly what `validate` accepts.
    for (res, name) in [(&rf, "fast"), (&rr, "reference")] {
        match res {
            Ok(()) => assert!(verdict.is_ok(), "{name} ran an op validate rejects: {op:?}"),
            Err(e) => assert!(
                verdict.is_err(),
                "{name} rejected an op validate accepts: {e:?} {op:?}"
            ),
        }
    }
    if !invalid {
        assert!(rf.is_ok(), "a valid op was rejected: {rf:?} {op:?}");
        assert!(
            op.validate_decomposition(arena_len).is_ok(),
            "a valid op's decomposition was rejected: {op:?}"
        );
        assert!(
            rp.is_ok(),
            "primitives-only rejected a valid op: {rp:?} {op:?}"
        );
    }
    assert_eq!(
        rf.is_ok(),
        rr.is_ok(),
        "fast {rf:?} vs reference {rr:?}: {op:?}"
    );
    if rf.is_err() {
        return;
    }
    if op.is_primitive() {
        assert!(rp.is_ok());
    }

    // Fast against reference: gemm's `c` and Adam's parameters (whose fast
    // square root is within an ulp) within their bounds, the rest bit for
    // bit.
    let loose = match op {
        Op::Gemm(_) if E::WIDE_ACC => None,
        Op::Gemm(g) => Some(g.c),
        Op::AdamStep(a) => Some(a.param),
        _ => None,
    };
    for i in 0..arena_len {
        if loose.is_some_and(|c| c.offset <= i && i < c.end()) {
            continue;
        }
        assert!(
            same_bits(fast[i], refr[i]),
            "{}: fast {:?} != reference {:?} at {i}: {op:?}",
            op.name(),
            fast[i],
            refr[i]
        );
    }
    if let Op::Gemm(g) = op {
        if !E::WIDE_ACC {
            check_gemm(&g, &arena, &fast, &refr);
        }
    }
    if let Op::AdamStep(a) = op {
        check_adam(&a, &arena, &fast, &refr);
    }

    // A composite against its decomposition.
    if rp.is_ok() && !op.is_primitive() && !E::WIDE_ACC {
        check_decomposition(&op, values, &fast, &prim);
    }
}

fn check_gemm<E: Float>(g: &op::Gemm<E>, before: &[E], fast: &[E], refr: &[E]) {
    let (m, n, k) = (g.m, g.n, g.k);
    // `c` empty: nothing to compare (and `m` or `n` may be huge).
    if g.c.len == 0 {
        return;
    }
    let (alpha, beta) = (g.alpha.to_f64(), g.beta.to_f64());
    if !alpha.is_finite() || !beta.is_finite() {
        return;
    }
    let at = |s: Span, i: usize| before[s.offset + i].to_f64();
    for i in 0..m {
        for j in 0..n {
            let mut sum = 0.0f64;
            let mut finite = true;
            for p in 0..k {
                let a = at(g.a, if g.trans_a { p * m + i } else { i * k + p });
                let b = at(g.b, if g.trans_b { j * k + p } else { p * n + j });
                finite &= a.is_finite() && b.is_finite();
                sum += (a * b).abs();
            }
            let c0 = at(g.c, i * n + j);
            let cterm = if beta == 0.0 {
                0.0
            } else {
                finite &= c0.is_finite();
                (beta * c0).abs()
            };
            let mag = alpha.abs() * sum + cterm;
            // Also no intermediate (alpha·partial sum, before alpha) may
            // overflow.
            let limit = max_finite::<E>() / 4.0;
            let in_range = mag < limit && sum < limit;
            if !finite || !in_range {
                continue;
            }
            let bound = 2.0 * (k as f64 + 2.0) * eps::<E>() * mag
                + (k as f64 + 2.0) * (alpha.abs() + 1.0) * denorm::<E>();
            let x = fast[g.c.offset + i * n + j].to_f64();
            let y = refr[g.c.offset + i * n + j].to_f64();
            assert!(
                x.is_finite() && y.is_finite() && (x - y).abs() <= bound,
                "gemm c[{i},{j}]: fast {x:e} reference {y:e} |diff| {:e} > bound {bound:e}: {g:?}",
                (x - y).abs()
            );
        }
    }
}

fn check_decomposition<E: Float>(op: &Op<E>, values: Values, fast: &[E], prim: &[E]) {
    let exact = match op {
        Op::BiasActivate(_) => true,
        Op::PerceptronEpoch(_) | Op::PerceptronErrors(_) => {
            if values != Values::Integers {
                return;
            }
            true
        }
        Op::Loss(_) => {
            if values != Values::Integers {
                return;
            }
            false
        }
        _ => true,
    };
    let (rows, cols) = match op {
        Op::Loss(o) => (o.rows, o.cols),
        _ => (0, 0),
    };
    let tol = 64.0 * (rows * cols + 8) as f64 * eps::<E>();
    // The op's own scratch (a mutated op may have moved it).
    let scratch = match op {
        Op::Loss(o) => Some(o.scratch),
        Op::PerceptronEpoch(o) => Some(o.scratch),
        Op::PerceptronErrors(o) => Some(o.scratch),
        _ => None,
    };
    let in_scratch = |i: usize| scratch.is_some_and(|s| s.offset <= i && i < s.end());
    for i in 0..fast.len() {
        if in_scratch(i) {
            continue;
        }
        let (x, y) = (fast[i], prim[i]);
        let ok = if exact {
            same_bits(x, y)
        } else {
            let (x, y) = (x.to_f64(), y.to_f64());
            (x.is_nan() && y.is_nan()) || x == y || (x - y).abs() <= tol * (1.0 + x.abs() + y.abs())
        };
        assert!(
            ok,
            "{}: kernel {x:?} != decomposition {y:?} at {i}: {op:?}",
            op.name()
        );
    }
}
