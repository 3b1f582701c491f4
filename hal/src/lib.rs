//! # microprop-hal: the accelerator HAL
//!
//! The contract between `microprop` (the model, the training loop) and a
//! backend (the CPU reference, fast kernels, Vulkan). It holds:
//!
//! - [`Element`]: the scalar type a backend computes in (`f32`, `f64`).
//! - [`Span`]: a range of elements in the backend's one flat arena.
//! - [`Op`] and the structs of [`op`]: the small instruction set `microprop`
//!   lowers forward, backward and the optimizer step into, in two tiers
//!   (primitives every backend implements; composites with a reference
//!   decomposition into primitives). Every op reads and writes arena spans
//!   only.
//! - [`Backend`]: the trait a backend implements: run an op, move data in and
//!   out of the arena, end a unit of work.
//!
//! The crate is `no_std`, has no dependencies (`defmt` is optional) and never
//! allocates. [`Op::validate`] is shared by every backend so that a malformed
//! op is an [`OpError`], never an out-of-bounds panic.
//!
//! ## For implementers
//!
//! A backend implements [`Backend::dispatch`] for every primitive op and
//! returns an error for the others; composites then run as their reference
//! decomposition. To run a composite with its own kernel, a backend also
//! returns `true` from [`Backend::overrides`] for it and handles it in
//! `dispatch`.
//!
//! ```
//! use microprop_hal::{Backend, ErrorKind, Op, OpError, Span};
//!
//! /// A backend over a `Vec` that knows two primitives.
//! struct Tiny(Vec<f32>);
//!
//! impl Backend for Tiny {
//!     type Elem = f32;
//!     type Error = OpError;
//!     fn arena_len(&self) -> usize {
//!         self.0.len()
//!     }
//!     fn upload(&mut self, offset: usize, src: &[f32]) -> Result<(), OpError> {
//!         let span = Span::new(offset, src.len());
//!         let dst = self.0.get_mut(offset..span.end());
//!         dst.ok_or(OpError::OutOfBounds { span, arena_len: 0 })?.copy_from_slice(src);
//!         Ok(())
//!     }
//!     fn download(&mut self, offset: usize, dst: &mut [f32]) -> Result<(), OpError> {
//!         let span = Span::new(offset, dst.len());
//!         let src = self.0.get(offset..span.end());
//!         dst.copy_from_slice(src.ok_or(OpError::OutOfBounds { span, arena_len: 0 })?);
//!         Ok(())
//!     }
//!     fn dispatch(&mut self, op: &Op<f32>) -> Result<(), OpError> {
//!         op.validate(self.0.len())?;
//!         match op {
//!             Op::Fill(f) => self.0[f.dst.offset..f.dst.end()].fill(f.value),
//!             Op::Axpy(a) => {
//!                 for i in 0..a.x.len {
//!                     self.0[a.y.offset + i] += a.alpha * self.0[a.x.offset + i];
//!                 }
//!             }
//!             _ => return Err(OpError::Overlap { op: "unsupported here" }),
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let mut b = Tiny(vec![0.0; 4]);
//! b.execute(&Op::from(microprop_hal::op::Fill { dst: Span::new(0, 2), value: 2.0 }))?;
//! b.execute(&Op::from(microprop_hal::op::Axpy {
//!     x: Span::new(0, 2),
//!     y: Span::new(2, 2),
//!     alpha: 0.5,
//! }))?;
//! assert_eq!(b.0, [2.0, 2.0, 1.0, 1.0]);
//! # Ok::<(), OpError>(())
//! ```
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]

mod element;
mod error;
mod fixed;
pub mod op;
mod span;

pub use element::Element;
pub use error::{Error, ErrorKind, OpError};
pub use fixed::{Fixed, Q10};
pub use op::{Activation, LossKind, Op, OpKind, OpSet, Tier};
pub use span::Span;

/// An accelerator: one flat arena of [`Backend::Elem`] and an executor for
/// [`Op`]s over spans of it.
///
/// Ops are issued in program order. A backend may execute each op when it is
/// issued (the CPU backend does) or record them and execute the recorded
/// sequence at [`Backend::submit`] or at the next [`Backend::download`] (the
/// Vulkan backend does: one queue submission per training step). Either way,
/// the results a caller observes through [`Backend::download`] are those of
/// executing every op in order.
///
/// When an op is rejected, the ops issued before it since the last
/// [`Backend::submit`] or [`Backend::download`] have run on an executing
/// backend; a recording backend drops them instead, so that a failed unit of
/// work runs not at all rather than in part. Uploads that returned `Ok` are
/// never dropped.
///
/// Implementations must not panic on a malformed op: call [`Op::validate`]
/// (or check equivalently) in [`Backend::dispatch`] and return an error.
pub trait Backend {
    /// The scalar type of the arena.
    type Elem: Element;
    /// The error this backend reports.
    type Error: Error + From<OpError>;

    /// The number of elements in the arena.
    fn arena_len(&self) -> usize;

    /// Copy `src` into the arena starting at element `offset`.
    fn upload(&mut self, offset: usize, src: &[Self::Elem]) -> Result<(), Self::Error>;

    /// Copy arena elements starting at `offset` into `dst`. Every op issued
    /// before this call has executed when it returns.
    fn download(&mut self, offset: usize, dst: &mut [Self::Elem]) -> Result<(), Self::Error>;

    /// Execute (or record) one primitive op, or a composite op for which
    /// [`Backend::overrides`] is `true`. Validate it first (or check
    /// equivalently: refuse what [`Op::validate`] refuses, before writing
    /// anything).
    fn dispatch(&mut self, op: &Op<Self::Elem>) -> Result<(), Self::Error>;

    /// `true` when [`Backend::dispatch`] runs the composite `op` with its own
    /// kernel; `false` (the default) runs its reference decomposition.
    fn overrides(&self, op: &Op<Self::Elem>) -> bool {
        let _ = op;
        false
    }

    /// The ops this backend can run (default: all). A network whose ops
    /// are not all in it is refused at construction, before any op runs;
    /// an op outside it is `Unsupported`.
    fn ops(&self) -> OpSet {
        OpSet::ALL
    }

    /// Execute (or record) one op: a primitive, or a composite this backend
    /// overrides, goes to [`Backend::dispatch`]; any other composite is
    /// validated as a whole, scratch included
    /// ([`Op::validate_decomposition`]: nothing runs when it is malformed),
    /// and then runs as its reference decomposition into primitives.
    ///
    /// Callers use this method; backends implement `dispatch`.
    #[inline(always)]
    fn execute(&mut self, op: &Op<Self::Elem>) -> Result<(), Self::Error> {
        if op.is_primitive() || self.overrides(op) {
            self.dispatch(op)
        } else {
            op.validate_decomposition(self.arena_len())?;
            op.decompose(&mut |p| self.dispatch(p))
        }
    }

    /// End a unit of work (one training step): a recording backend submits
    /// what it recorded. Executing backends do nothing.
    fn submit(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

impl<B: Backend + ?Sized> Backend for &mut B {
    type Elem = B::Elem;
    type Error = B::Error;

    fn arena_len(&self) -> usize {
        (**self).arena_len()
    }
    fn upload(&mut self, offset: usize, src: &[Self::Elem]) -> Result<(), Self::Error> {
        (**self).upload(offset, src)
    }
    fn download(&mut self, offset: usize, dst: &mut [Self::Elem]) -> Result<(), Self::Error> {
        (**self).download(offset, dst)
    }
    fn dispatch(&mut self, op: &Op<Self::Elem>) -> Result<(), Self::Error> {
        (**self).dispatch(op)
    }
    fn overrides(&self, op: &Op<Self::Elem>) -> bool {
        (**self).overrides(op)
    }
    fn ops(&self) -> OpSet {
        (**self).ops()
    }
    fn execute(&mut self, op: &Op<Self::Elem>) -> Result<(), Self::Error> {
        (**self).execute(op)
    }
    fn submit(&mut self) -> Result<(), Self::Error> {
        (**self).submit()
    }
}
