//! Memory and vector primitives: fill, copy, axpy, sum of squares.

use super::{Check, OpInfo};
use crate::{OpError, Span};

/// `dst[i] = value`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Fill<E> {
    /// Destination.
    pub dst: Span,
    /// Value written to every element.
    pub value: E,
}

impl<E> Fill<E> {
    /// The same op with its value converted by `f`.
    pub fn map<F>(self, f: impl Fn(E) -> F) -> Fill<F> {
        Fill {
            dst: self.dst,
            value: f(self.value),
        }
    }
}

impl<E> OpInfo for Fill<E> {
    const NAME: &'static str = "fill";
    fn check(&self, c: &Check) -> Result<(), OpError> {
        c.bounds(self.dst)
    }
}

/// `dst[i] = src[i]`; equal lengths; `dst` may be `src` (then nothing
/// happens), no partial overlap.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Copy {
    /// Source.
    pub src: Span,
    /// Destination.
    pub dst: Span,
}

impl OpInfo for Copy {
    const NAME: &'static str = "copy";
    fn check(&self, c: &Check) -> Result<(), OpError> {
        c.shape("src", self.src, self.dst.len)?;
        c.bounds(self.dst)?;
        c.disjoint_or_same(self.dst, self.src)
    }
}

/// `y[i] += alpha · x[i]`; equal lengths, no overlap.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Axpy<E> {
    /// Added span.
    pub x: Span,
    /// Accumulated span.
    pub y: Span,
    /// Scale of `x`.
    pub alpha: E,
}

impl<E> Axpy<E> {
    /// The same op with `alpha` converted by `f`.
    pub fn map<F>(self, f: impl Fn(E) -> F) -> Axpy<F> {
        Axpy {
            x: self.x,
            y: self.y,
            alpha: f(self.alpha),
        }
    }
}

impl<E> OpInfo for Axpy<E> {
    const NAME: &'static str = "axpy";
    fn check(&self, c: &Check) -> Result<(), OpError> {
        c.shape("x", self.x, self.y.len)?;
        c.bounds(self.y)?;
        c.disjoint(self.y, self.x)
    }
}

/// `out[0] = (accumulate ? out[0] : 0) + scale · Σ x[i]²`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SumSquares<E> {
    /// Summed span.
    pub x: Span,
    /// One element.
    pub out: Span,
    /// Factor on the sum (λ for L2 regularisation).
    pub scale: E,
    /// Add to `out[0]` instead of overwriting it.
    pub accumulate: bool,
}

impl<E> SumSquares<E> {
    /// The same op with `scale` converted by `f`.
    pub fn map<F>(self, f: impl Fn(E) -> F) -> SumSquares<F> {
        SumSquares {
            x: self.x,
            out: self.out,
            scale: f(self.scale),
            accumulate: self.accumulate,
        }
    }
}

impl<E> OpInfo for SumSquares<E> {
    const NAME: &'static str = "sum_squares";
    fn check(&self, c: &Check) -> Result<(), OpError> {
        c.bounds(self.x)?;
        c.shape("out", self.out, 1)?;
        c.disjoint(self.out, self.x)
    }
}
