//! Memory and vector ops: fill, copy, axpy, sum of squares (primitives)
//! and the L2-SP anchor (a composite of them).

use super::{Check, Composite, Op, OpInfo};
use crate::{Element, OpError, Span};

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

/// One piece of the L2-SP penalty `λ·‖w − w₀‖²` (composite): with
/// `d[i] = anchor[i] − w[i]`, which is written into `anchor` (it held the
/// pretrained `w₀[i]`),
///
/// - `out[0] += scale · Σ d[i]²` when `out` is given (one element; `scale`
///   is λ),
/// - `grad[i] += alpha · d[i]` when `grad` is given (`alpha` is −2λ, so the
///   gradient gains `2λ·(w − w₀)`).
///
/// `anchor`, `w` and `grad` have equal lengths; `anchor`, `grad` and `out`
/// are outputs and share no element with each other or with `w`.
///
/// Reference decomposition: [`Axpy`] (`anchor += −1 · w`), [`SumSquares`]
/// (accumulating into `out`), [`Axpy`] (`grad += alpha · anchor`). A
/// backend's kernel does it in one pass.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Anchor<E> {
    /// `w₀` in, `w₀ − w` out.
    pub anchor: Span,
    /// The current weights.
    pub w: Span,
    /// The weights' gradient, accumulated into (or none).
    pub grad: Option<Span>,
    /// The loss scalar, accumulated into (or none).
    pub out: Option<Span>,
    /// Factor on the sum of squares (λ).
    pub scale: E,
    /// Factor on the difference added to the gradient (−2λ).
    pub alpha: E,
}

impl<E> Anchor<E> {
    /// The same op with `scale` and `alpha` converted by `f`.
    pub fn map<F>(self, f: impl Fn(E) -> F) -> Anchor<F> {
        Anchor {
            anchor: self.anchor,
            w: self.w,
            grad: self.grad,
            out: self.out,
            scale: f(self.scale),
            alpha: f(self.alpha),
        }
    }
}

impl<E> OpInfo for Anchor<E> {
    const NAME: &'static str = "anchor";
    fn check(&self, c: &Check) -> Result<(), OpError> {
        c.shape("w", self.w, self.anchor.len)?;
        c.bounds(self.anchor)?;
        c.disjoint(self.anchor, self.w)?;
        if let Some(g) = self.grad {
            c.shape("grad", g, self.anchor.len)?;
            c.disjoint(g, self.w)?;
            c.disjoint(g, self.anchor)?;
        }
        if let Some(o) = self.out {
            c.shape("out", o, 1)?;
            c.disjoint(o, self.w)?;
            c.disjoint(o, self.anchor)?;
            if let Some(g) = self.grad {
                c.disjoint(o, g)?;
            }
        }
        Ok(())
    }
}

impl<E: Element> Composite<E> for Anchor<E> {
    fn decompose<Er>(&self, emit: &mut dyn FnMut(&Op<E>) -> Result<(), Er>) -> Result<(), Er> {
        emit(&Op::Axpy(Axpy {
            x: self.w,
            y: self.anchor,
            alpha: E::from_f64(-1.0),
        }))?;
        if let Some(out) = self.out {
            emit(&Op::SumSquares(SumSquares {
                x: self.anchor,
                out,
                scale: self.scale,
                accumulate: true,
            }))?;
        }
        match self.grad {
            Some(y) => emit(&Op::Axpy(Axpy {
                x: self.anchor,
                y,
                alpha: self.alpha,
            })),
            None => Ok(()),
        }
    }
}
