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
//! use microprop_hal::{op, Activation, Backend, Op, Span};
//!
//! // On a microcontroller this would be a `static` buffer sized by the model.
//! let mut arena = [0.0f32; 8];
//! let mut cpu = CpuBackend::new(&mut arena);
//!
//! cpu.upload(0, &[-1.0, 2.0, -3.0, 4.0])?;
//! cpu.execute(&Op::Activate(op::Activate {
//!     act: Activation::Relu,
//!     x: Span::new(0, 4),
//!     y: Span::new(4, 4),
//! }))?;
//! let mut y = [0.0f32; 4];
//! cpu.download(4, &mut y)?;
//! assert_eq!(y, [0.0, 2.0, 0.0, 4.0]);
//!
//! // A span past the arena is an error, not a panic.
//! let bad = Op::Fill(op::Fill { dst: Span::new(6, 4), value: 1.0 });
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

mod fixed;
mod fused;
pub mod gemm;
mod math;
pub mod reference;
mod split;

#[cfg(test)]
mod tests;

use core::fmt;

use microprop_hal::op::OpInfo;
use microprop_hal::{
    op, Activation, Backend, ErrorKind, LossKind, Op, OpError, OpKind, OpSet, Span,
};

pub use math::Float;

/// An error from [`CpuBackend`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
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
            CpuError::Op(e) => e.fmt(f),
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

impl core::error::Error for CpuError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            CpuError::Op(e) => Some(e),
            CpuError::OutOfBounds { .. } => None,
        }
    }
}

/// The kernels of the ops a user may override in a [`CpuBackend`]: gemm,
/// the fused bias + activation and Adam's update. Every other op runs its kernel from
/// [`reference`](mod@crate::reference).
///
/// Each method has the fast kernel as its default, so an implementation
/// overrides only what it replaces, without forking the crate. For example a
/// gemm from a DSP library:
///
/// ```
/// use microprop_cpu::{CpuBackend, CpuKernels, Float};
/// use microprop_hal::{op, OpError};
///
/// /// Counts gemm calls, then runs the crate's fast gemm.
/// struct Counting(core::cell::Cell<usize>);
///
/// impl<E: Float> CpuKernels<E> for Counting {
///     fn gemm(&self, g: &op::Gemm<E>, a: &[E], b: &[E], c: &mut [E]) -> Result<(), OpError> {
///         self.0.set(self.0.get() + 1);
///         microprop_cpu::gemm::gemm(g.m, g.n, g.k, a, g.trans_a, b, g.trans_b, c, g.alpha, g.beta)
///     }
/// }
///
/// let mut arena = [0.0f32; 64];
/// let cpu = CpuBackend::with_kernels(&mut arena, Counting(core::cell::Cell::new(0)));
/// # let _ = cpu;
/// ```
pub trait CpuKernels<E: Float> {
    /// `true` when every method checks its slices' lengths against the op's
    /// dimensions and returns an error, writing nothing, when they differ
    /// (as the crate's kernels do): the backend then runs these ops before
    /// validating them, and validates only after a refusal (see
    /// `dispatch`). `false`, the default, validates each op first, so a
    /// kernel may rely on lengths that match the dimensions.
    const CHECKS_LENGTHS: bool = false;

    /// [`op::Gemm`]: `c = alpha · op(a) · op(b) + beta · c` over the op's
    /// operand slices. Default: the blocked [`gemm::gemm`].
    fn gemm(&self, g: &op::Gemm<E>, a: &[E], b: &[E], c: &mut [E]) -> Result<(), OpError> {
        gemm::gemm(
            g.m, g.n, g.k, a, g.trans_a, b, g.trans_b, c, g.alpha, g.beta,
        )
    }

    /// [`op::BiasActivate`] with `x` and `y` distinct. Default: one pass
    /// per element.
    #[inline(always)]
    fn bias_activate(
        &self,
        o: &op::BiasActivate<E>,
        bias: &[E],
        x: &mut [E],
        y: &mut [E],
    ) -> Result<(), OpError> {
        fused::bias_activate(o.act, o.rows, o.cols, bias, x, y)
    }

    /// [`op::BiasActivate`] with `y == x`. Default: one pass per element.
    #[inline(always)]
    fn bias_activate_in_place(
        &self,
        o: &op::BiasActivate<E>,
        bias: &[E],
        xy: &mut [E],
    ) -> Result<(), OpError> {
        fused::bias_activate_in_place(o.act, o.rows, o.cols, bias, xy)
    }

    /// [`op::AdamStep`] over its operand slices. Default: the reference's
    /// formula with a square root within one ulp ([`Float::sqrt_fast`]).
    fn adam_step(
        &self,
        h: reference::AdamParams<E>,
        param: &mut [E],
        grad: &[E],
        m: &mut [E],
        v: &mut [E],
    ) -> Result<(), OpError> {
        fused::adam_step(h, param, grad, m, v)
    }
}

/// The fast kernels alone (every [`CpuKernels`] default), chosen at
/// compile time: a firmware that never runs the reference kernels does not
/// link them ([`CpuBackend::with_ops`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FastKernels;

impl<E: Float> CpuKernels<E> for FastKernels {
    const CHECKS_LENGTHS: bool = true;
}

/// The kernels this crate ships, chosen at run time: a [`CpuKernels`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Kernels {
    /// The blocked gemm of [`gemm`](mod@crate::gemm) and the one-pass bias +
    /// activation; the reference kernels for every other op. The default.
    Fast,
    /// The scalar kernels of [`reference`](mod@crate::reference) for every
    /// op: the ground truth, and the baseline the benches compare against.
    Reference,
}

impl<E: Float> CpuKernels<E> for Kernels {
    const CHECKS_LENGTHS: bool = true;

    #[inline]
    fn gemm(&self, g: &op::Gemm<E>, a: &[E], b: &[E], c: &mut [E]) -> Result<(), OpError> {
        match self {
            Kernels::Fast => gemm::gemm(
                g.m, g.n, g.k, a, g.trans_a, b, g.trans_b, c, g.alpha, g.beta,
            ),
            Kernels::Reference => reference::gemm(
                g.m, g.n, g.k, a, g.trans_a, b, g.trans_b, c, g.alpha, g.beta,
            ),
        }
    }

    #[inline(always)]
    fn bias_activate(
        &self,
        o: &op::BiasActivate<E>,
        bias: &[E],
        x: &mut [E],
        y: &mut [E],
    ) -> Result<(), OpError> {
        match self {
            Kernels::Fast => fused::bias_activate(o.act, o.rows, o.cols, bias, x, y),
            Kernels::Reference => reference::bias_activate(o.act, o.rows, o.cols, bias, x, y),
        }
    }

    #[inline(always)]
    fn bias_activate_in_place(
        &self,
        o: &op::BiasActivate<E>,
        bias: &[E],
        xy: &mut [E],
    ) -> Result<(), OpError> {
        match self {
            Kernels::Fast => fused::bias_activate_in_place(o.act, o.rows, o.cols, bias, xy),
            Kernels::Reference => {
                reference::bias_activate_in_place(o.act, o.rows, o.cols, bias, xy)
            }
        }
    }

    #[inline]
    fn adam_step(
        &self,
        h: reference::AdamParams<E>,
        param: &mut [E],
        grad: &[E],
        m: &mut [E],
        v: &mut [E],
    ) -> Result<(), OpError> {
        match self {
            Kernels::Fast => fused::adam_step(h, param, grad, m, v),
            Kernels::Reference => reference::adam_step(h, param, grad, m, v),
        }
    }
}

/// The CPU backend: executes each op when it is issued, over a caller-owned
/// arena, with the kernels `K` for gemm and bias + activation (by default
/// [`Kernels`], fast unless asked otherwise) and the scalar kernels of
/// [`reference`](mod@crate::reference) for the rest. It runs every composite
/// op with its own kernel.
///
/// Implements [`Backend`] for any [`Float`] element (`f32`, `f64`).
#[derive(Debug)]
pub struct CpuBackend<'a, E, K = Kernels, const OPS: u64 = { OpSet::ALL.bits() }> {
    arena: &'a mut [E],
    kernels: K,
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

    /// A backend over `arena` with the fast kernels that runs only the ops
    /// in `OPS` ([`OpSet::bits`]; for a network, `microprop::Config::ops`):
    /// only their kernels and checks are compiled, so a firmware links what
    /// its model needs and no more. Any other op is
    /// [`OpError::Unsupported`] (and a network that needs one is refused at
    /// construction).
    ///
    /// ```
    /// use microprop_cpu::{CpuBackend, CpuError};
    /// use microprop_hal::{op, Backend, Op, OpError, OpKind, OpSet, Span};
    ///
    /// const OPS: u64 = OpSet::of(&[OpKind::Fill]).bits();
    /// let mut arena = [0.0f32; 4];
    /// let mut cpu = CpuBackend::with_ops::<OPS>(&mut arena);
    /// assert_eq!(cpu.ops(), OpSet::of(&[OpKind::Fill]));
    /// let fill = Op::Fill(op::Fill { dst: Span::new(0, 4), value: 1.0 });
    /// cpu.execute(&fill)?;
    /// let copy = Op::Copy(op::Copy { src: Span::new(0, 2), dst: Span::new(2, 2) });
    /// assert_eq!(
    ///     cpu.execute(&copy),
    ///     Err(CpuError::Op(OpError::Unsupported { op: "copy" }))
    /// );
    /// assert_eq!(arena, [1.0; 4]);
    /// # Ok::<(), CpuError>(())
    /// ```
    pub fn with_ops<const OPS: u64>(arena: &'a mut [E]) -> CpuBackend<'a, E, FastKernels, OPS> {
        CpuBackend::with_kernels_and_ops(arena, FastKernels)
    }
}

impl<'a, E, K> CpuBackend<'a, E, K> {
    /// A backend over `arena` with the given kernels ([`Kernels`] or a
    /// user's [`CpuKernels`]), running every op.
    pub fn with_kernels(arena: &'a mut [E], kernels: K) -> Self {
        CpuBackend { arena, kernels }
    }
}

impl<'a, E, K, const OPS: u64> CpuBackend<'a, E, K, OPS> {
    /// A backend over `arena` with the given kernels that runs only the
    /// ops in `OPS` (see [`CpuBackend::with_ops`]).
    pub fn with_kernels_and_ops(arena: &'a mut [E], kernels: K) -> Self {
        CpuBackend { arena, kernels }
    }

    /// The kernels this backend runs.
    pub fn kernels(&self) -> &K {
        &self.kernels
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

/// An input span of `op`: `Err` when it touches an output or lies past
/// the arena (which `validate` refuses too).
fn input<'a, E, const M: usize>(
    p: &split::Parts<'a, E, M>,
    s: Span,
    op: &'static str,
) -> Result<&'a [E], CpuError> {
    p.input(s).ok_or(CpuError::Op(OpError::Overlap { op }))
}

/// Run `kernel`, an op's arm of `dispatch`, with the op's checks deferred
/// when `checks` says the kernel checks its lengths: the arena split
/// ([`parts`], [`input`]) and the kernel's own length checks refuse every
/// op that [`OpInfo::validate`] refuses, before anything is written (the
/// ops fuzz target asserts both), so `validate` runs only after a refusal,
/// to return the error it names. A valid op is checked once instead of
/// twice: at batch 1 the checks were a tenth of a step on the M4F. Without
/// `checks` (a user's [`CpuKernels`] that leaves
/// [`CpuKernels::CHECKS_LENGTHS`] `false`) it validates first.
#[inline(always)]
fn deferred<O: OpInfo>(
    o: &O,
    arena_len: usize,
    checks: bool,
    kernel: impl FnOnce() -> Result<(), CpuError>,
) -> Result<(), CpuError> {
    if !checks {
        o.validate(arena_len)?;
    }
    kernel().map_err(|e| refused(o, arena_len, e))
}

/// The error of a refused op: `validate`'s when it refuses the op too,
/// else the kernel's `e`. Out of line and cold: a valid network never
/// reaches it.
#[cold]
#[inline(never)]
fn refused<O: OpInfo>(o: &O, arena_len: usize, e: CpuError) -> CpuError {
    match o.validate(arena_len) {
        Err(v) => CpuError::Op(v),
        Ok(()) => e,
    }
}

/// An op from `x` to `y` (`(x, y, op name)`) that may run in place: `y == x`
/// runs `in_place` on it, distinct spans run `apart`.
fn unary<E>(
    arena: &mut [E],
    (x, y, name): (Span, Span, &'static str),
    in_place: impl FnOnce(&mut [E]) -> Result<(), OpError>,
    apart: impl FnOnce(&[E], &mut [E]) -> Result<(), OpError>,
) -> Result<(), CpuError> {
    let p = parts(arena, [y], name)?;
    if x == y {
        let [y] = p.outs;
        in_place(y)?;
    } else {
        let x = input(&p, x, name)?;
        let [y] = p.outs;
        apart(x, y)?;
    }
    Ok(())
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

/// Run `$body` with `$a` rebuilt from `$act` as a constant variant, one arm
/// per activation function in the const op set `$ops` (the kernels inlined
/// into each arm then have no branch on the function, and a function
/// outside the set is not compiled); any other function is `Unsupported`.
macro_rules! per_activation_in {
    ($ops:expr, $act:expr, $name:expr, |$a:ident| $body:expr) => {{
        let set = OpSet::from_bits($ops);
        match $act {
            Activation::Identity if set.has_activation(&Activation::<u8>::Identity) => {
                let $a = Activation::Identity;
                $body
            }
            Activation::Sigmoid if set.has_activation(&Activation::<u8>::Sigmoid) => {
                let $a = Activation::Sigmoid;
                $body
            }
            Activation::Tanh if set.has_activation(&Activation::<u8>::Tanh) => {
                let $a = Activation::Tanh;
                $body
            }
            Activation::Relu if set.has_activation(&Activation::<u8>::Relu) => {
                let $a = Activation::Relu;
                $body
            }
            Activation::LeakyRelu { slope }
                if set.has_activation(&Activation::LeakyRelu { slope: 0u8 }) =>
            {
                let $a = Activation::LeakyRelu { slope };
                $body
            }
            Activation::Elu { alpha } if set.has_activation(&Activation::Elu { alpha: 0u8 }) => {
                let $a = Activation::Elu { alpha };
                $body
            }
            Activation::Softplus if set.has_activation(&Activation::<u8>::Softplus) => {
                let $a = Activation::Softplus;
                $body
            }
            _ => return Err(CpuError::Op(OpError::Unsupported { op: $name })),
        }
    }};
}

/// `kind` is in the const op set `ops` (a constant after inlining: the arms
/// of the ops outside it, and their kernels, are compiled out).
#[inline(always)]
const fn has(ops: u64, kind: OpKind) -> bool {
    OpSet::from_bits(ops).contains(kind)
}

impl<E: Float, K, const OPS: u64> CpuBackend<'_, E, K, OPS> {
    /// The ops this backend runs: `OPS`, less Adam for a fixed-point
    /// element ([`Float::WIDE_ACC`]), whose `ε` and second moments are below
    /// the format's resolution. A constant: the dispatch arms test it.
    const SET: u64 = if E::WIDE_ACC {
        OPS & !OpSet::of(&[OpKind::AdamStep]).bits()
    } else {
        OPS
    };
}

impl<E: Float, K: CpuKernels<E>, const OPS: u64> Backend for CpuBackend<'_, E, K, OPS> {
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

    /// Every composite comes to [`Backend::dispatch`]: those with a CPU
    /// kernel run it, any other runs its decomposition there (so the check
    /// costs nothing per op).
    fn overrides(&self, _op: &Op<E>) -> bool {
        true
    }

    /// `OPS`, less Adam for a fixed-point element (see `SET`).
    #[inline(always)]
    fn ops(&self) -> OpSet {
        OpSet::from_bits(Self::SET)
    }

    fn dispatch(&mut self, op: &Op<E>) -> Result<(), CpuError> {
        let name = op.name();
        let kernels = &self.kernels;
        let len = self.arena.len();
        let arena = &mut *self.arena;
        // Each arm checks its own op (`OpInfo::validate` of its struct, not
        // `Op::validate` over every variant), so that an op outside `OPS`
        // leaves neither its kernel nor its checks in the binary. The hot
        // arms defer it (`deferred`): their split and kernel refuse what it
        // refuses (a user's kernels only when they say so:
        // `CpuKernels::CHECKS_LENGTHS`). The others (scalar outputs written through `first_mut`,
        // windows the kernels do not check when a dimension is 0) check
        // first.
        match *op {
            Op::Fill(ref o) if has(Self::SET, OpKind::Fill) => {
                deferred(o, len, true, || {
                    let op::Fill { dst, value } = *o;
                    let [d] = parts(arena, [dst], name)?.outs;
                    reference::fill(d, value);
                    Ok(())
                })?;
            }
            Op::Copy(ref o) if has(Self::SET, OpKind::Copy) => {
                OpInfo::validate(o, len)?;
                let op::Copy { src, dst } = *o;
                if src == dst {
                    return Ok(());
                }
                let p = parts(arena, [dst], name)?;
                let s = input(&p, src, name)?;
                let [d] = p.outs;
                reference::copy(s, d)?;
            }
            Op::Axpy(ref o) if has(Self::SET, OpKind::Axpy) => {
                deferred(o, len, true, || {
                    let op::Axpy { x, y, alpha } = *o;
                    let p = parts(arena, [y], name)?;
                    let xs = input(&p, x, name)?;
                    let [ys] = p.outs;
                    reference::axpy(alpha, xs, ys)?;
                    Ok(())
                })?;
            }
            Op::SumSquares(ref o) if has(Self::SET, OpKind::SumSquares) => {
                OpInfo::validate(o, len)?;
                let op::SumSquares {
                    x,
                    out,
                    scale,
                    accumulate,
                } = *o;
                let p = parts(arena, [out], name)?;
                let s = reference::sum_squares(input(&p, x, name)?, scale);
                let [o] = p.outs;
                if let Some(o) = o.first_mut() {
                    *o = if accumulate { *o + s } else { s };
                }
            }
            Op::Anchor(ref o) if has(Self::SET, OpKind::Anchor) => {
                OpInfo::validate(o, len)?;
                // An absent output is an empty span (an empty slice).
                let none = Span::new(0, 0);
                let p = parts(
                    arena,
                    [o.anchor, o.grad.unwrap_or(none), o.out.unwrap_or(none)],
                    name,
                )?;
                let w = input(&p, o.w, name)?;
                let [anchor, grad, out] = p.outs;
                let s = reference::anchor(w, anchor, grad, o.scale, o.alpha)?;
                if let Some(out) = out.first_mut() {
                    *out += s;
                }
            }
            Op::Gemm(ref g) if has(Self::SET, OpKind::Gemm) => {
                deferred(g, len, K::CHECKS_LENGTHS, || {
                    let p = parts(arena, [g.c], name)?;
                    let (a, b) = (input(&p, g.a, name)?, input(&p, g.b, name)?);
                    let [c] = p.outs;
                    kernels.gemm(g, a, b, c)?;
                    Ok(())
                })?;
            }
            Op::BiasAdd(ref o) if has(Self::SET, OpKind::BiasAdd) => {
                deferred(o, len, true, || {
                    let op::BiasAdd {
                        bias,
                        out,
                        rows,
                        cols,
                    } = *o;
                    let p = parts(arena, [out], name)?;
                    let bias = input(&p, bias, name)?;
                    let [out] = p.outs;
                    reference::bias_add(rows, cols, bias, out)?;
                    Ok(())
                })?;
            }
            Op::BiasGrad(ref o) if has(Self::SET, OpKind::BiasGrad) => {
                deferred(o, len, true, || {
                    let op::BiasGrad {
                        dout,
                        dbias,
                        rows,
                        cols,
                    } = *o;
                    let p = parts(arena, [dbias], name)?;
                    let dout = input(&p, dout, name)?;
                    let [dbias] = p.outs;
                    reference::bias_grad(rows, cols, dout, dbias)?;
                    Ok(())
                })?;
            }
            Op::Activate(ref o) if has(Self::SET, OpKind::Activate) => {
                deferred(o, len, true, || {
                    let op::Activate { act, x, y } = *o;
                    per_activation_in!(Self::SET, act, name, |a| unary(
                        arena,
                        (x, y, name),
                        |y| {
                            reference::activate_in_place(a, y);
                            Ok(())
                        },
                        |x, y| reference::activate(a, x, y),
                    )?);
                    Ok(())
                })?;
            }
            Op::BiasActivate(ref o) if has(Self::SET, OpKind::BiasActivate) => {
                deferred(o, len, K::CHECKS_LENGTHS, || {
                    per_activation_in!(Self::SET, o.act, name, |a| {
                        let o = &op::BiasActivate { act: a, ..*o };
                        if o.x == o.y {
                            let p = parts(arena, [o.x], name)?;
                            let bias = input(&p, o.bias, name)?;
                            let [xy] = p.outs;
                            kernels.bias_activate_in_place(o, bias, xy)?;
                        } else {
                            let p = parts(arena, [o.x, o.y], name)?;
                            let bias = input(&p, o.bias, name)?;
                            let [x, y] = p.outs;
                            kernels.bias_activate(o, bias, x, y)?;
                        }
                    });
                    Ok(())
                })?;
            }
            Op::ActivateBackward(ref o) if has(Self::SET, OpKind::ActivateBackward) => {
                deferred(o, len, true, || {
                    let op::ActivateBackward { act, x, y, dy, dx } = *o;
                    let p = parts(arena, [dx], name)?;
                    let (x, y) = (input(&p, x, name)?, input(&p, y, name)?);
                    per_activation_in!(Self::SET, act, name, |a| if dy == dx {
                        let [d] = p.outs;
                        reference::activate_backward_in_place(a, x, y, d)?;
                    } else {
                        let dy = input(&p, dy, name)?;
                        let [dx] = p.outs;
                        reference::activate_backward(a, x, y, dy, dx)?;
                    });
                    Ok(())
                })?;
            }
            Op::Softmax(ref o) if has(Self::SET, OpKind::Softmax) => {
                deferred(o, len, true, || {
                    let op::Softmax { x, y, rows, cols } = *o;
                    unary(
                        arena,
                        (x, y, name),
                        |y| reference::softmax_in_place(rows, cols, y),
                        |x, y| reference::softmax(rows, cols, x, y),
                    )?;
                    Ok(())
                })?;
            }
            Op::LogSoftmax(ref o) if has(Self::SET, OpKind::LogSoftmax) => {
                deferred(o, len, true, || {
                    let op::LogSoftmax { x, y, rows, cols } = *o;
                    unary(
                        arena,
                        (x, y, name),
                        |y| reference::log_softmax_in_place(rows, cols, y),
                        |x, y| reference::log_softmax(rows, cols, x, y),
                    )?;
                    Ok(())
                })?;
            }
            Op::SoftmaxBackward(ref o) if has(Self::SET, OpKind::SoftmaxBackward) => {
                deferred(o, len, true, || {
                    let op::SoftmaxBackward {
                        y,
                        dy,
                        dx,
                        rows,
                        cols,
                    } = *o;
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
                    Ok(())
                })?;
            }
            Op::Maxout(ref o) if has(Self::SET, OpKind::Maxout) => {
                deferred(o, len, true, || {
                    let op::Maxout {
                        x,
                        y,
                        rows,
                        units,
                        k,
                    } = *o;
                    let p = parts(arena, [y], name)?;
                    let x = input(&p, x, name)?;
                    let [y] = p.outs;
                    reference::maxout(rows, units, k, x, y)?;
                    Ok(())
                })?;
            }
            Op::MaxoutBackward(ref o) if has(Self::SET, OpKind::MaxoutBackward) => {
                deferred(o, len, true, || {
                    let op::MaxoutBackward {
                        x,
                        dy,
                        dx,
                        rows,
                        units,
                        k,
                    } = *o;
                    let p = parts(arena, [dx], name)?;
                    let (x, dy) = (input(&p, x, name)?, input(&p, dy, name)?);
                    let [dx] = p.outs;
                    reference::maxout_backward(rows, units, k, x, dy, dx)?;
                    Ok(())
                })?;
            }
            Op::Im2col(ref o) if has(Self::SET, OpKind::Im2col) => {
                OpInfo::validate(o, len)?;
                let op::Im2col {
                    x,
                    cols,
                    rows,
                    ref window,
                    layout,
                } = *o;
                let p = parts(arena, [cols], name)?;
                let x = input(&p, x, name)?;
                let [cols] = p.outs;
                reference::im2col(window, layout, rows, x, cols)?;
            }
            Op::Col2im(ref o) if has(Self::SET, OpKind::Col2im) => {
                OpInfo::validate(o, len)?;
                let op::Col2im {
                    cols,
                    x,
                    rows,
                    ref window,
                    layout,
                } = *o;
                let p = parts(arena, [x], name)?;
                let cols = input(&p, cols, name)?;
                let [x] = p.outs;
                reference::col2im(window, layout, rows, cols, x)?;
            }
            Op::OneHot(ref o) if has(Self::SET, OpKind::OneHot) => {
                deferred(o, len, true, || {
                    let op::OneHot {
                        labels,
                        y,
                        rows,
                        cols,
                        value,
                    } = *o;
                    let p = parts(arena, [y], name)?;
                    let labels = input(&p, labels, name)?;
                    let [y] = p.outs;
                    reference::one_hot(rows, cols, labels, y, value)?;
                    Ok(())
                })?;
            }
            Op::Loss(ref o) if has(Self::SET, OpKind::Loss) => {
                OpInfo::validate(o, len)?;
                let op::Loss {
                    kind,
                    pred,
                    target,
                    rows,
                    cols,
                    out,
                    grad,
                    scratch: _,
                } = *o;
                let g = grad.unwrap_or_default();
                let p = parts(arena, [out, g], name)?;
                let (pred, target) = (input(&p, pred, name)?, input(&p, target, name)?);
                let [o, g] = p.outs;
                let g = if grad.is_some() { Some(g) } else { None };
                // One arm per loss in the set, the kind a constant in each (the
                // kernel is inlined there), so a loss outside it is not linked.
                let set = OpSet::from_bits(Self::SET);
                let l = match kind {
                    LossKind::Mse if set.has_loss(&LossKind::<u8>::Mse) => {
                        reference::loss(LossKind::Mse, rows, cols, pred, target, g)?
                    }
                    LossKind::SoftmaxCrossEntropy
                        if set.has_loss(&LossKind::<u8>::SoftmaxCrossEntropy) =>
                    {
                        let k = LossKind::SoftmaxCrossEntropy;
                        reference::loss(k, rows, cols, pred, target, g)?
                    }
                    LossKind::Hinge { margin }
                        if set.has_loss(&LossKind::Hinge { margin: 0u8 }) =>
                    {
                        let k = LossKind::Hinge { margin };
                        reference::loss(k, rows, cols, pred, target, g)?
                    }
                    _ => return Err(CpuError::Op(OpError::Unsupported { op: name })),
                };
                if let Some(o) = o.first_mut() {
                    *o = l;
                }
            }
            Op::CountCorrect(ref o) if has(Self::SET, OpKind::CountCorrect) => {
                OpInfo::validate(o, len)?;
                let op::CountCorrect {
                    pred,
                    target,
                    rows,
                    cols,
                    out,
                } = *o;
                let p = parts(arena, [out], name)?;
                let (pred, target) = (input(&p, pred, name)?, input(&p, target, name)?);
                let n = reference::count_correct(rows, cols, pred, target)?;
                let [o] = p.outs;
                if let Some(o) = o.first_mut() {
                    *o += E::from_usize(n);
                }
            }
            Op::SgdStep(ref o) if has(Self::SET, OpKind::SgdStep) => {
                deferred(o, len, true, || {
                    let op::SgdStep { param, grad, lr } = *o;
                    let p = parts(arena, [param], name)?;
                    let grad = input(&p, grad, name)?;
                    let [param] = p.outs;
                    reference::sgd_step(lr, param, grad)?;
                    Ok(())
                })?;
            }
            Op::MomentumStep(ref o) if has(Self::SET, OpKind::MomentumStep) => {
                deferred(o, len, true, || {
                    let op::MomentumStep {
                        param,
                        grad,
                        velocity,
                        lr,
                        momentum,
                    } = *o;
                    let p = parts(arena, [param, velocity], name)?;
                    let grad = input(&p, grad, name)?;
                    let [param, velocity] = p.outs;
                    reference::momentum_step(lr, momentum, param, grad, velocity)?;
                    Ok(())
                })?;
            }
            Op::AdamStep(ref o) if has(Self::SET, OpKind::AdamStep) => {
                deferred(o, len, K::CHECKS_LENGTHS, || {
                    let op::AdamStep {
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
                    } = *o;
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
                    kernels.adam_step(h, param, grad, m, v)?;
                    Ok(())
                })?;
            }
            Op::PerceptronEpoch(ref o) if has(Self::SET, OpKind::PerceptronEpoch) => {
                OpInfo::validate(o, len)?;
                let op::PerceptronEpoch {
                    weights,
                    samples,
                    labels,
                    rows,
                    cols,
                    average,
                    stats,
                    scratch: _,
                } = *o;
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
            Op::PerceptronErrors(ref o) if has(Self::SET, OpKind::PerceptronErrors) => {
                OpInfo::validate(o, len)?;
                let op::PerceptronErrors {
                    weights,
                    samples,
                    labels,
                    rows,
                    cols,
                    out,
                    scratch: _,
                } = *o;
                let p = parts(arena, [out], name)?;
                let w = input(&p, weights, name)?;
                let (samples, labels) = (input(&p, samples, name)?, input(&p, labels, name)?);
                let n = reference::perceptron_errors(rows, cols, w, samples, labels)?;
                let [o] = p.outs;
                if let Some(o) = o.first_mut() {
                    *o = E::from_usize(n);
                }
            }
            // An op outside the set: not compiled in.
            _ if !has(Self::SET, op.kind()) => {
                return Err(CpuError::Op(OpError::Unsupported { op: name }))
            }
            // A composite without a CPU kernel: its reference decomposition,
            // checked as a whole first (no op of this crate's vocabulary
            // reaches this arm today; with a smaller set it is compiled out).
            _ if OPS == OpSet::ALL.bits() => {
                op.validate_decomposition(self.arena.len())?;
                return op.decompose(&mut |p| self.dispatch(p));
            }
            _ => return Err(CpuError::Op(OpError::Unsupported { op: name })),
        }
        Ok(())
    }
}
