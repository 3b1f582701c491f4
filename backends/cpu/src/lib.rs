//! # microprop-cpu: the CPU backend
//!
//! [`CpuBackend`] executes every [`Op`] of `microprop-hal` on the CPU, over an
//! arena the caller owns (a `static` array on a microcontroller, a `Vec` or a
//! local array on a host). It is `no_std`, never allocates and never panics
//! on bad input: every op is checked by [`Op::validate`] before anything is
//! written, and a bad op or out-of-range upload is a [`CpuError`].
//!
//! Each op runs its plain scalar kernel from [`reference`](mod@crate::reference): the executable
//! definition of the op that faster kernels and other backends are tested
//! against, except gemm, which by default runs the register- and
//! cache-blocked kernels of [`gemm`](mod@crate::gemm) ([`Kernels::Fast`]), and
//! the fused bias + activation, which by default runs in one pass over the
//! layer output instead of the reference's two.
//! [`CpuBackend::reference`] runs every op on the reference kernels.
//! Transcendental functions come from [`Float`] (`libm`, or `micromath` for
//! `f32` with the `fast-math` feature).
//!
//! ```
//! use microprop_cpu::{CpuBackend, CpuError};
//! use microprop_hal::{Activation, Backend, Op, Span};
//!
//! // On a microcontroller this would be a `static` buffer sized by the model.
//! let mut arena = [0.0f32; 8];
//! let mut cpu = CpuBackend::new(&mut arena);
//!
//! cpu.upload(0, &[-1.0, 2.0, -3.0, 4.0])?;
//! cpu.execute(&Op::Activate {
//!     act: Activation::Relu,
//!     x: Span::new(0, 4),
//!     y: Span::new(4, 4),
//! })?;
//! let mut y = [0.0f32; 4];
//! cpu.download(4, &mut y)?;
//! assert_eq!(y, [0.0, 2.0, 0.0, 4.0]);
//!
//! // A span past the arena is an error, not a panic.
//! let bad = Op::Fill { dst: Span::new(6, 4), value: 1.0 };
//! assert!(cpu.execute(&bad).is_err());
//! # Ok::<(), CpuError>(())
//! ```
//!
//! ## Features
//!
//! - `fast-math`: `f32` uses `micromath`'s approximations (tolerances on
//!   [`Float`]); `f64` keeps `libm`.
//! - `defmt`: `defmt::Format` for [`CpuError`] (and the HAL's types).
//! - `std`: links `std` only for `f32::mul_add`/`f64::mul_add`, so that a
//!   build with the `fma` target feature (`-C target-cpu=native` on a
//!   recent x86_64) gets fused multiply-adds in the fast gemm. Without the
//!   `fma` target feature it changes nothing.
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![deny(missing_docs)]

mod fused;
pub mod gemm;
mod math;
pub mod reference;
mod split;

#[cfg(test)]
mod tests;

use core::fmt;

use microprop_hal::{Backend, ErrorKind, Op, OpError, Span};

pub use math::Float;

/// An error from [`CpuBackend`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CpuError {
    /// The op was rejected (by [`Op::validate`] or a kernel's shape check).
    Op(OpError),
    /// An upload or download reached past the arena.
    OutOfBounds {
        /// First element of the transfer.
        offset: usize,
        /// Elements transferred.
        len: usize,
        /// Arena length in elements.
        arena_len: usize,
    },
}

impl From<OpError> for CpuError {
    fn from(e: OpError) -> Self {
        CpuError::Op(e)
    }
}

impl microprop_hal::Error for CpuError {
    fn kind(&self) -> ErrorKind {
        match self {
            CpuError::Op(e) => e.kind(),
            CpuError::OutOfBounds { .. } => ErrorKind::OutOfBounds,
        }
    }
}

impl fmt::Display for CpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CpuError::Op(OpError::OutOfBounds { span, arena_len }) => write!(
                f,
                "span {}..{} reaches past the arena of {} elements",
                span.offset,
                span.end(),
                arena_len
            ),
            CpuError::Op(OpError::Shape {
                op,
                operand,
                expected,
                got,
            }) => write!(
                f,
                "{op}: operand `{operand}` has {got} elements, the dimensions need {expected}"
            ),
            CpuError::Op(OpError::Overlap { op }) => {
                write!(f, "{op}: an output partially overlaps an input")
            }
            CpuError::OutOfBounds {
                offset,
                len,
                arena_len,
            } => write!(
                f,
                "transfer of {len} elements at {offset} reaches past the arena of {arena_len} elements"
            ),
        }
    }
}

/// Which kernels a [`CpuBackend`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Kernels {
    /// The blocked gemm of [`gemm`](mod@crate::gemm); the reference kernels
    /// for every other op. The default.
    Fast,
    /// The scalar kernels of [`reference`](mod@crate::reference) for every
    /// op: the ground truth, and the baseline the benches compare against.
    Reference,
}

/// The CPU backend: executes each op when it is issued, over a caller-owned
/// arena, with the fast gemm and the scalar kernels of
/// [`reference`](mod@crate::reference) for the rest (see [`Kernels`]).
///
/// Implements [`Backend`] for any [`Float`] element (`f32`, `f64`).
#[derive(Debug)]
pub struct CpuBackend<'a, E> {
    arena: &'a mut [E],
    kernels: Kernels,
}

impl<'a, E> CpuBackend<'a, E> {
    /// A backend over `arena` with the fast kernels; the arena's contents
    /// are kept as they are.
    pub fn new(arena: &'a mut [E]) -> Self {
        Self::with_kernels(arena, Kernels::Fast)
    }

    /// A backend over `arena` that runs every op on the scalar
    /// [`reference`](mod@crate::reference) kernels.
    pub fn reference(arena: &'a mut [E]) -> Self {
        Self::with_kernels(arena, Kernels::Reference)
    }

    /// A backend over `arena` with the given kernels.
    pub fn with_kernels(arena: &'a mut [E], kernels: Kernels) -> Self {
        CpuBackend { arena, kernels }
    }

    /// The kernels this backend runs.
    pub fn kernels(&self) -> Kernels {
        self.kernels
    }

    /// The whole arena.
    pub fn arena(&self) -> &[E] {
        self.arena
    }

    /// The whole arena, mutably (direct access instead of
    /// [`Backend::upload`]).
    pub fn arena_mut(&mut self) -> &mut [E] {
        self.arena
    }

    /// Give the arena back.
    pub fn into_arena(self) -> &'a mut [E] {
        self.arena
    }
}

/// The `M` outputs of `op` and access to its inputs.
fn parts<'a, E, const M: usize>(
    arena: &'a mut [E],
    outs: [Span; M],
    op: &'static str,
) -> Result<split::Parts<'a, E, M>, CpuError> {
    split::split(arena, outs).ok_or(CpuError::Op(OpError::Overlap { op }))
}

/// An input span of `op` (never an output: `validate` has checked).
fn input<'a, E, const M: usize>(
    p: &split::Parts<'a, E, M>,
    s: Span,
    op: &'static str,
) -> Result<&'a [E], CpuError> {
    p.input(s).ok_or(CpuError::Op(OpError::Overlap { op }))
}

/// `offset .. offset + len` if it lies inside an arena of `arena_len`
/// elements, else the error naming it.
fn host_range(
    arena_len: usize,
    offset: usize,
    len: usize,
) -> Result<core::ops::Range<usize>, CpuError> {
    match offset.checked_add(len) {
        Some(end) if end <= arena_len => Ok(offset..end),
        _ => Err(CpuError::OutOfBounds {
            offset,
            len,
            arena_len,
        }),
    }
}

impl<E: Float> Backend for CpuBackend<'_, E> {
    type Elem = E;
    type Error = CpuError;

    fn arena_len(&self) -> usize {
        self.arena.len()
    }

    fn upload(&mut self, offset: usize, src: &[E]) -> Result<(), CpuError> {
        let range = host_range(self.arena.len(), offset, src.len())?;
        // `host_range` checked the bounds; the empty fallback is unreachable.
        let dst = self.arena.get_mut(range).unwrap_or_default();
        for (d, s) in dst.iter_mut().zip(src) {
            *d = *s;
        }
        Ok(())
    }

    fn download(&mut self, offset: usize, dst: &mut [E]) -> Result<(), CpuError> {
        let range = host_range(self.arena.len(), offset, dst.len())?;
        let src = self.arena.get(range).unwrap_or_default();
        for (d, s) in dst.iter_mut().zip(src) {
            *d = *s;
        }
        Ok(())
    }

    fn execute(&mut self, op: &Op<E>) -> Result<(), CpuError> {
        op.validate(self.arena.len())?;
        let name = op.name();
        let fast = self.kernels == Kernels::Fast;
        let arena = &mut *self.arena;
        match *op {
            Op::Fill { dst, value } => {
                let [d] = parts(arena, [dst], name)?.outs;
                reference::fill(d, value);
            }
            Op::Copy { src, dst } => {
                if src == dst {
                    return Ok(());
                }
                let p = parts(arena, [dst], name)?;
                let s = input(&p, src, name)?;
                let [d] = p.outs;
                reference::copy(s, d)?;
            }
            Op::Axpy { x, y, alpha } => {
                let p = parts(arena, [y], name)?;
                let xs = input(&p, x, name)?;
                let [ys] = p.outs;
                reference::axpy(alpha, xs, ys)?;
            }
            Op::SumSquares {
                x,
                out,
                scale,
                accumulate,
            } => {
                let p = parts(arena, [out], name)?;
                let s = reference::sum_squares(input(&p, x, name)?, scale);
                let [o] = p.outs;
                if let Some(o) = o.first_mut() {
                    *o = if accumulate { *o + s } else { s };
                }
            }
            Op::Gemm {
                m,
                n,
                k,
                a,
                trans_a,
                b,
                trans_b,
                c,
                alpha,
                beta,
            } => {
                let p = parts(arena, [c], name)?;
                let (a, b) = (input(&p, a, name)?, input(&p, b, name)?);
                let [c] = p.outs;
                if fast {
                    gemm::gemm(m, n, k, a, trans_a, b, trans_b, c, alpha, beta)?;
                } else {
                    reference::gemm(m, n, k, a, trans_a, b, trans_b, c, alpha, beta)?;
                }
            }
            Op::BiasAdd {
                bias,
                out,
                rows,
                cols,
            } => {
                let p = parts(arena, [out], name)?;
                let bias = input(&p, bias, name)?;
                let [out] = p.outs;
                reference::bias_add(rows, cols, bias, out)?;
            }
            Op::BiasGrad {
                dout,
                dbias,
                rows,
                cols,
            } => {
                let p = parts(arena, [dbias], name)?;
                let dout = input(&p, dout, name)?;
                let [dbias] = p.outs;
                reference::bias_grad(rows, cols, dout, dbias)?;
            }
            Op::Activate { act, x, y } => {
                let p = parts(arena, [y], name)?;
                if x == y {
                    let [y] = p.outs;
                    reference::activate_in_place(act, y);
                } else {
                    let x = input(&p, x, name)?;
                    let [y] = p.outs;
                    reference::activate(act, x, y)?;
                }
            }
            Op::BiasActivate {
                act,
                bias,
                x,
                y,
                rows,
                cols,
            } => {
                if x == y {
                    let p = parts(arena, [x], name)?;
                    let bias = input(&p, bias, name)?;
                    let [xy] = p.outs;
                    if fast {
                        fused::bias_activate_in_place(act, rows, cols, bias, xy)?;
                    } else {
                        reference::bias_activate_in_place(act, rows, cols, bias, xy)?;
                    }
                } else {
                    let p = parts(arena, [x, y], name)?;
                    let bias = input(&p, bias, name)?;
                    let [x, y] = p.outs;
                    if fast {
                        fused::bias_activate(act, rows, cols, bias, x, y)?;
                    } else {
                        reference::bias_activate(act, rows, cols, bias, x, y)?;
                    }
                }
            }
            Op::ActivateBackward { act, x, y, dy, dx } => {
                let p = parts(arena, [dx], name)?;
                let (x, y) = (input(&p, x, name)?, input(&p, y, name)?);
                if dy == dx {
                    let [d] = p.outs;
                    reference::activate_backward_in_place(act, x, y, d)?;
                } else {
                    let dy = input(&p, dy, name)?;
                    let [dx] = p.outs;
                    reference::activate_backward(act, x, y, dy, dx)?;
                }
            }
            Op::Softmax { x, y, rows, cols } => {
                let p = parts(arena, [y], name)?;
                if x == y {
                    let [y] = p.outs;
                    reference::softmax_in_place(rows, cols, y)?;
                } else {
                    let x = input(&p, x, name)?;
                    let [y] = p.outs;
                    reference::softmax(rows, cols, x, y)?;
                }
            }
            Op::SoftmaxBackward {
                y,
                dy,
                dx,
                rows,
                cols,
            } => {
                let p = parts(arena, [dx], name)?;
                let y = input(&p, y, name)?;
                if dy == dx {
                    let [d] = p.outs;
                    reference::softmax_backward_in_place(rows, cols, y, d)?;
                } else {
                    let dy = input(&p, dy, name)?;
                    let [dx] = p.outs;
                    reference::softmax_backward(rows, cols, y, dy, dx)?;
                }
            }
            Op::Maxout {
                x,
                y,
                rows,
                units,
                k,
            } => {
                let p = parts(arena, [y], name)?;
                let x = input(&p, x, name)?;
                let [y] = p.outs;
                reference::maxout(rows, units, k, x, y)?;
            }
            Op::MaxoutBackward {
                x,
                dy,
                dx,
                rows,
                units,
                k,
            } => {
                let p = parts(arena, [dx], name)?;
                let (x, dy) = (input(&p, x, name)?, input(&p, dy, name)?);
                let [dx] = p.outs;
                reference::maxout_backward(rows, units, k, x, dy, dx)?;
            }
            Op::Loss {
                kind,
                pred,
                target,
                rows,
                cols,
                out,
                grad,
            } => {
                let g = grad.unwrap_or_default();
                let p = parts(arena, [out, g], name)?;
                let (pred, target) = (input(&p, pred, name)?, input(&p, target, name)?);
                let [o, g] = p.outs;
                let g = if grad.is_some() { Some(g) } else { None };
                let l = reference::loss(kind, rows, cols, pred, target, g)?;
                if let Some(o) = o.first_mut() {
                    *o = l;
                }
            }
            Op::CountCorrect {
                pred,
                target,
                rows,
                cols,
                out,
            } => {
                let p = parts(arena, [out], name)?;
                let (pred, target) = (input(&p, pred, name)?, input(&p, target, name)?);
                let n = reference::count_correct(rows, cols, pred, target)?;
                let [o] = p.outs;
                if let Some(o) = o.first_mut() {
                    *o += E::from_usize(n);
                }
            }
            Op::SgdStep { param, grad, lr } => {
                let p = parts(arena, [param], name)?;
                let grad = input(&p, grad, name)?;
                let [param] = p.outs;
                reference::sgd_step(lr, param, grad)?;
            }
            Op::MomentumStep {
                param,
                grad,
                velocity,
                lr,
                momentum,
            } => {
                let p = parts(arena, [param, velocity], name)?;
                let grad = input(&p, grad, name)?;
                let [param, velocity] = p.outs;
                reference::momentum_step(lr, momentum, param, grad, velocity)?;
            }
            Op::AdamStep {
                param,
                grad,
                m,
                v,
                lr,
                beta1,
                beta2,
                eps,
                bias1,
                bias2,
            } => {
                let p = parts(arena, [param, m, v], name)?;
                let grad = input(&p, grad, name)?;
                let [param, m, v] = p.outs;
                let h = reference::AdamParams {
                    lr,
                    beta1,
                    beta2,
                    eps,
                    bias1,
                    bias2,
                };
                reference::adam_step(h, param, grad, m, v)?;
            }
            Op::PerceptronEpoch {
                weights,
                samples,
                labels,
                rows,
                cols,
                average,
                stats,
            } => {
                let avg = average.unwrap_or_default();
                let p = parts(arena, [weights, avg, stats], name)?;
                let (samples, labels) = (input(&p, samples, name)?, input(&p, labels, name)?);
                let [w, avg, st] = p.outs;
                let avg = if average.is_some() { Some(avg) } else { None };
                let n = reference::perceptron_epoch(rows, cols, w, samples, labels, avg)?;
                if let Some(s) = st.first_mut() {
                    *s += E::from_usize(n);
                }
            }
            Op::PerceptronErrors {
                weights,
                samples,
                labels,
                rows,
                cols,
                out,
            } => {
                let p = parts(arena, [out], name)?;
                let w = input(&p, weights, name)?;
                let (samples, labels) = (input(&p, samples, name)?, input(&p, labels, name)?);
                let n = reference::perceptron_errors(rows, cols, w, samples, labels)?;
                let [o] = p.outs;
                if let Some(o) = o.first_mut() {
                    *o = E::from_usize(n);
                }
            }
        }
        Ok(())
    }
}
