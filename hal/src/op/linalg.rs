//! Matrix primitives: gemm, bias add and its gradient.

use super::{dims, Check, OpInfo};
use crate::{OpError, Span};

/// `C = alpha · op(A) · op(B) + beta · C`, with `op(A)` of shape `m × k`
/// and `op(B)` of shape `k × n`. `A` is stored `m × k`, or `k × m` when
/// `trans_a`; `B` is stored `k × n`, or `n × k` when `trans_b`. When
/// `beta == 0`, `C` is overwritten (its old contents, NaN included, are
/// ignored). `C` must not overlap `A` or `B`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Gemm<E> {
    /// Rows of `C`.
    pub m: usize,
    /// Columns of `C`.
    pub n: usize,
    /// Inner dimension.
    pub k: usize,
    /// Left operand.
    pub a: Span,
    /// Left operand stored transposed.
    pub trans_a: bool,
    /// Right operand.
    pub b: Span,
    /// Right operand stored transposed.
    pub trans_b: bool,
    /// Output, `m × n`.
    pub c: Span,
    /// Scale of the product.
    pub alpha: E,
    /// Scale of the old `C`.
    pub beta: E,
}

impl<E> Gemm<E> {
    /// The same op with `alpha` and `beta` converted by `f`.
    pub fn map<F>(self, f: impl Fn(E) -> F) -> Gemm<F> {
        Gemm {
            m: self.m,
            n: self.n,
            k: self.k,
            a: self.a,
            trans_a: self.trans_a,
            b: self.b,
            trans_b: self.trans_b,
            c: self.c,
            alpha: f(self.alpha),
            beta: f(self.beta),
        }
    }
}

impl<E> OpInfo for Gemm<E> {
    const NAME: &'static str = "gemm";
    fn check(&self, c: &Check) -> Result<(), OpError> {
        c.shape("a", self.a, dims(self.m, self.k))?;
        c.shape("b", self.b, dims(self.k, self.n))?;
        c.shape("c", self.c, dims(self.m, self.n))?;
        c.disjoint(self.c, self.a)?;
        c.disjoint(self.c, self.b)
    }
}

/// `out[r][c] += bias[c]` for a `rows × cols` output.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BiasAdd {
    /// `cols` elements.
    pub bias: Span,
    /// `rows × cols`, updated in place.
    pub out: Span,
    /// Batch rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
}

impl OpInfo for BiasAdd {
    const NAME: &'static str = "bias_add";
    fn check(&self, c: &Check) -> Result<(), OpError> {
        c.shape("bias", self.bias, self.cols)?;
        c.shape("out", self.out, dims(self.rows, self.cols))?;
        c.disjoint(self.out, self.bias)
    }
}

/// `dbias[c] += Σ_r dout[r][c]` (accumulates, like every gradient).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BiasGrad {
    /// `rows × cols` upstream gradient.
    pub dout: Span,
    /// `cols` elements, accumulated.
    pub dbias: Span,
    /// Batch rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
}

impl OpInfo for BiasGrad {
    const NAME: &'static str = "bias_grad";
    fn check(&self, c: &Check) -> Result<(), OpError> {
        c.shape("dout", self.dout, dims(self.rows, self.cols))?;
        c.shape("dbias", self.dbias, self.cols)?;
        c.disjoint(self.dbias, self.dout)
    }
}
