//! Errors: what an op check rejects, and the backend-independent kinds of
//! failure.

use core::fmt;

use crate::Span;

/// Why an op was rejected by [`Op::validate`](crate::Op::validate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum OpError {
    /// `span` reaches past the arena of `arena_len` elements.
    OutOfBounds {
        /// The offending span.
        span: Span,
        /// Arena length in elements.
        arena_len: usize,
    },
    /// A span's length does not match the op's dimensions.
    Shape {
        /// The op's name.
        op: &'static str,
        /// Which operand.
        operand: &'static str,
        /// Length implied by the dimensions.
        expected: usize,
        /// The span's length.
        got: usize,
    },
    /// An output partially overlaps an input.
    Overlap {
        /// The op's name.
        op: &'static str,
    },
    /// The backend has no kernel for this op (a composite it neither
    /// overrides nor expects to be given, see
    /// [`Backend::execute`](crate::Backend::execute)).
    Unsupported {
        /// The op's name.
        op: &'static str,
    },
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpError::OutOfBounds { span, arena_len } => write!(
                f,
                "span {}..{} reaches past the arena of {} elements",
                span.offset,
                span.end(),
                arena_len
            ),
            OpError::Shape {
                op,
                operand,
                expected,
                got,
            } => write!(
                f,
                "{op}: operand `{operand}` has {got} elements, the dimensions need {expected}"
            ),
            OpError::Overlap { op } => write!(f, "{op}: an output partially overlaps an input"),
            OpError::Unsupported { op } => write!(f, "{op}: this backend has no kernel for it"),
        }
    }
}

impl core::error::Error for OpError {}

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

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::OutOfBounds => "out of bounds",
            ErrorKind::Shape => "shape mismatch",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Device => "device failure",
            ErrorKind::Other => "other error",
        })
    }
}

impl core::error::Error for ErrorKind {}

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
            OpError::Unsupported { .. } => ErrorKind::Unsupported,
        }
    }
}

impl Error for ErrorKind {
    fn kind(&self) -> ErrorKind {
        *self
    }
}

impl Error for core::convert::Infallible {
    fn kind(&self) -> ErrorKind {
        match *self {}
    }
}
