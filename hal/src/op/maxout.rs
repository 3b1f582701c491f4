//! Maxout and its backward.

use super::{dims, Check, OpInfo};
use crate::{OpError, Span};

/// Maxout: `y[r][u] = max_j x[r][u·k + j]`, `j < k` (the `k` pieces of a
/// unit are adjacent).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Maxout {
    /// `rows × (units·k)` affine pieces.
    pub x: Span,
    /// `rows × units`.
    pub y: Span,
    /// Batch rows.
    pub rows: usize,
    /// Output units.
    pub units: usize,
    /// Pieces per unit.
    pub k: usize,
}

impl OpInfo for Maxout {
    const NAME: &'static str = "maxout";
    fn check(&self, c: &Check) -> Result<(), OpError> {
        c.shape("x", self.x, dims(self.rows, dims(self.units, self.k)))?;
        c.shape("y", self.y, dims(self.rows, self.units))?;
        c.disjoint(self.y, self.x)
    }
}

/// Maxout backward: `dx[r][u·k + j] = dy[r][u]` for the first `j` that
/// attains the maximum, `0` for the other pieces.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MaxoutBackward {
    /// `rows × (units·k)` affine pieces (the forward input).
    pub x: Span,
    /// `rows × units` upstream gradient.
    pub dy: Span,
    /// `rows × (units·k)` downstream gradient (overwritten).
    pub dx: Span,
    /// Batch rows.
    pub rows: usize,
    /// Output units.
    pub units: usize,
    /// Pieces per unit.
    pub k: usize,
}

impl OpInfo for MaxoutBackward {
    const NAME: &'static str = "maxout_backward";
    fn check(&self, c: &Check) -> Result<(), OpError> {
        c.shape("x", self.x, dims(self.rows, dims(self.units, self.k)))?;
        c.shape("dy", self.dy, dims(self.rows, self.units))?;
        c.shape("dx", self.dx, dims(self.rows, dims(self.units, self.k)))?;
        c.disjoint(self.dx, self.x)?;
        c.disjoint(self.dx, self.dy)
    }
}
