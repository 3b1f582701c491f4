//! Row-wise softmax, its backward, and log-softmax.

use super::{dims, Check, OpInfo};
use crate::{OpError, Span};

/// Row-wise softmax, stable (the row maximum is subtracted first).
/// `y` may be `x`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Softmax {
    /// `rows × cols` logits.
    pub x: Span,
    /// `rows × cols` probabilities.
    pub y: Span,
    /// Batch rows.
    pub rows: usize,
    /// Classes.
    pub cols: usize,
}

impl OpInfo for Softmax {
    const NAME: &'static str = "softmax";
    fn check(&self, c: &Check) -> Result<(), OpError> {
        row_wise(c, self.x, self.y, self.rows, self.cols)
    }
}

/// Row-wise log-softmax, stable: `y[r][j] = x[r][j] - m_r - ln Σ_i e^(x[r][i] - m_r)`
/// with `m_r` the row maximum. `y` may be `x`. (A primitive because the
/// classification losses need a logarithm that no other op provides.)
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LogSoftmax {
    /// `rows × cols` logits.
    pub x: Span,
    /// `rows × cols` log-probabilities.
    pub y: Span,
    /// Batch rows.
    pub rows: usize,
    /// Classes.
    pub cols: usize,
}

impl OpInfo for LogSoftmax {
    const NAME: &'static str = "log_softmax";
    fn check(&self, c: &Check) -> Result<(), OpError> {
        row_wise(c, self.x, self.y, self.rows, self.cols)
    }
}

fn row_wise(c: &Check, x: Span, y: Span, rows: usize, cols: usize) -> Result<(), OpError> {
    c.shape("x", x, dims(rows, cols))?;
    c.shape("y", y, dims(rows, cols))?;
    c.disjoint_or_same(y, x)
}

/// Softmax backward: `dx[r][j] = y[r][j] (dy[r][j] - Σ_i dy[r][i] y[r][i])`.
/// `dx` may be `dy`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SoftmaxBackward {
    /// `rows × cols` softmax outputs.
    pub y: Span,
    /// Upstream gradient.
    pub dy: Span,
    /// Downstream gradient (overwritten).
    pub dx: Span,
    /// Batch rows.
    pub rows: usize,
    /// Classes.
    pub cols: usize,
}

impl OpInfo for SoftmaxBackward {
    const NAME: &'static str = "softmax_backward";
    fn check(&self, c: &Check) -> Result<(), OpError> {
        let n = dims(self.rows, self.cols);
        c.shape("y", self.y, n)?;
        c.shape("dy", self.dy, n)?;
        c.shape("dx", self.dx, n)?;
        c.disjoint(self.dx, self.y)?;
        c.disjoint_or_same(self.dx, self.dy)
    }
}
