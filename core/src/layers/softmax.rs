//! Softmax layer: row-wise softmax; keeps the width, no parameters.

use microprop_hal::{op, Backend, Op, OpKind, OpSet, Span};

use crate::network::{LayerSpans, Network, Result};
use crate::spec::mix;

/// The ops a softmax layer issues.
pub(crate) const OPS: OpSet = OpSet::of(&[OpKind::Softmax, OpKind::SoftmaxBackward]);

/// The spec hash's word for this layer: kind 4.
pub(crate) const fn mix_hash(h: u32) -> u32 {
    mix(h, 4)
}

/// `y = softmax(x)` row by row.
pub(crate) fn forward<B: Backend>(
    net: &mut Network<'_, B>,
    s: &LayerSpans,
    rows: usize,
) -> Result<(), B> {
    net.exec(&Op::Softmax(op::Softmax {
        x: s.input,
        y: s.output,
        rows,
        cols: s.out_width,
    }))
}

/// `dy ← y ⊙ (dy − Σ dy·y)` row by row, in place.
pub(crate) fn backward<B: Backend>(
    net: &mut Network<'_, B>,
    s: &LayerSpans,
    dy: Span,
    rows: usize,
) -> Result<(), B> {
    net.exec(&Op::SoftmaxBackward(op::SoftmaxBackward {
        y: s.output,
        dy,
        dx: dy,
        rows,
        cols: s.out_width,
    }))
}
