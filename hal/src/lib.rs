//! # microprop-hal: the accelerator HAL
//!
//! The contract between `microprop` (the model, the training loop) and a
//! backend (the CPU reference, fast kernels, Vulkan). It holds:
//!
//! - [`Element`]: the scalar type a backend computes in (`f32`, `f64`).
//! - [`Span`]: a range of elements in the backend's one flat arena.
//! - [`Op`]: the small instruction set `microprop` lowers forward, backward and
//!   the optimizer step into. Every op reads and writes arena spans only.
//! - [`Backend`]: the trait a backend implements: run an op, move data in and
//!   out of the arena, end a unit of work.
//!
//! The crate is `no_std`, has no dependencies (`defmt` is optional) and never
//! allocates. [`Op::validate`] is shared by every backend so that a malformed
//! op is an [`OpError`], never an out-of-bounds panic.
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]

mod element;
mod op;

pub use element::Element;
pub use op::{Activation, LossKind, Op, OpError, Span};

/// What kind of failure a backend reported, independent of the backend.
///
/// Modelled on `embedded-hal`: each backend has its own error type, and every
/// such type maps onto one of these kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ErrorKind {
    /// A span reached past the end of the arena.
    OutOfBounds,
    /// The sizes inside an op, or of a host slice, do not agree.
    Shape,
    /// The backend does not implement this op or element type.
    Unsupported,
    /// The device failed (lost, out of memory, driver error).
    Device,
    /// Anything else.
    Other,
}

/// A backend error: anything that can say which [`ErrorKind`] it is.
pub trait Error: core::fmt::Debug {
    /// The backend-independent kind of this error.
    fn kind(&self) -> ErrorKind;
}

impl Error for OpError {
    fn kind(&self) -> ErrorKind {
        match self {
            OpError::OutOfBounds { .. } => ErrorKind::OutOfBounds,
            OpError::Shape { .. } | OpError::Overlap { .. } => ErrorKind::Shape,
        }
    }
}

impl Error for core::convert::Infallible {
    fn kind(&self) -> ErrorKind {
        match *self {}
    }
}

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
/// Implementations must not panic on a malformed op: call [`Op::validate`]
/// (or check equivalently) and return an error.
pub trait Backend {
    /// The scalar type of the arena.
    type Elem: Element;
    /// The error this backend reports.
    type Error: Error;

    /// The number of elements in the arena.
    fn arena_len(&self) -> usize;

    /// Copy `src` into the arena starting at element `offset`.
    fn upload(&mut self, offset: usize, src: &[Self::Elem]) -> Result<(), Self::Error>;

    /// Copy arena elements starting at `offset` into `dst`. Every op issued
    /// before this call has executed when it returns.
    fn download(&mut self, offset: usize, dst: &mut [Self::Elem]) -> Result<(), Self::Error>;

    /// Execute (or record) one op.
    fn execute(&mut self, op: &Op<Self::Elem>) -> Result<(), Self::Error>;

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
    fn execute(&mut self, op: &Op<Self::Elem>) -> Result<(), Self::Error> {
        (**self).execute(op)
    }
    fn submit(&mut self) -> Result<(), Self::Error> {
        (**self).submit()
    }
}
