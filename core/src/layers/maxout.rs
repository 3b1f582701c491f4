//! Maxout layer: `pieces` affine maps per output unit; each unit takes their
//! maximum. `W` of `[outputs·pieces, inputs]`, then `b` of `[outputs·pieces]`.
//!
//! Its sizes (the affine pieces are kept as activations, for backward), its
//! forward lowering (gemm, bias, maxout) and its backward lowering (maxout
//! backward into the pieces, then the affine chain rule of
//! [`dense`](super::dense)).

use microprop_hal::{op, Backend, Element, Op, OpKind, OpSet, Span};

use super::dense;
use crate::network::{LayerSpans, Network, Result};
use crate::spec::{mix, mix_width};
use crate::SpecError;

/// The ops a maxout layer issues: dense's affine map and gradients
/// (pieces as outputs) and the max over pieces.
pub(crate) const OPS: OpSet = dense::OPS.with(OpKind::Maxout).with(OpKind::MaxoutBackward);

/// The spec checks: the declared input width chains from `width`, no width
/// or piece count is 0, and `W` and `b` are addressable.
pub(crate) const fn check(
    layer: usize,
    width: usize,
    inputs: usize,
    outputs: usize,
    pieces: usize,
) -> core::result::Result<(), SpecError> {
    if let Err(e) = dense::chain(layer, width, inputs) {
        return Err(e);
    }
    if inputs == 0 || outputs == 0 || pieces == 0 {
        return Err(SpecError::ZeroWidth { layer });
    }
    match (outputs.checked_mul(pieces), inputs.checked_add(1)) {
        (Some(op), Some(i)) if op.checked_mul(i).is_some() => Ok(()),
        _ => Err(SpecError::TooLarge),
    }
}

/// The spec hash's words for this layer: kind 2, then its widths and pieces.
pub(crate) const fn mix_hash(h: u32, inputs: usize, outputs: usize, pieces: usize) -> u32 {
    mix_width(mix_width(mix_width(mix(h, 2), inputs), outputs), pieces)
}

/// Parameters: `W` then `b`.
pub(crate) const fn param_count(inputs: usize, outputs: usize, pieces: usize) -> usize {
    outputs * pieces * inputs + outputs * pieces
}

/// Weights (the part L2 regularisation applies to).
pub(crate) const fn weight_count(inputs: usize, outputs: usize, pieces: usize) -> usize {
    outputs * pieces * inputs
}

/// Activation storage per row: the pieces, then the output.
pub(crate) const fn activation_width(outputs: usize, pieces: usize) -> usize {
    outputs * pieces + outputs
}

/// Backprop scratch per row: the widest of input, output and pieces.
pub(crate) const fn scratch_width(inputs: usize, outputs: usize, pieces: usize) -> usize {
    let mut w = inputs;
    if outputs > w {
        w = outputs;
    }
    if outputs * pieces > w {
        w = outputs * pieces;
    }
    w
}

/// `z = x Wᵀ + b` into the pieces, then `y = max over each unit's pieces`.
pub(crate) fn forward<B: Backend>(
    net: &mut Network<'_, B>,
    s: &LayerSpans,
    (rows, inputs, outputs, pieces): (usize, usize, usize, usize),
) -> Result<(), B> {
    let np = outputs * pieces;
    net.exec(&Op::Gemm(op::Gemm {
        m: rows,
        n: np,
        k: inputs,
        a: s.input,
        trans_a: false,
        b: s.weights,
        trans_b: true,
        c: s.pieces,
        alpha: B::Elem::ONE,
        beta: B::Elem::ZERO,
    }))?;
    net.exec(&Op::BiasAdd(op::BiasAdd {
        bias: s.bias,
        out: s.pieces,
        rows,
        cols: np,
    }))?;
    net.exec(&Op::Maxout(op::Maxout {
        x: s.pieces,
        y: s.output,
        rows,
        units: outputs,
        k: pieces,
    }))
}

/// Backward from `dy` in scratch slot `slot`: the pieces' gradient into the
/// other slot, then the affine chain rule. Returns the slot holding the
/// downstream gradient.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward<B: Backend>(
    net: &mut Network<'_, B>,
    s: &LayerSpans,
    dy: Span,
    (rows, inputs, outputs, pieces): (usize, usize, usize, usize),
    slot: usize,
    want_dx: bool,
    fused: bool,
) -> Result<usize, B> {
    let np = outputs * pieces;
    let dz = net.scratch(1 - slot).prefix(rows * np);
    net.exec(&Op::MaxoutBackward(op::MaxoutBackward {
        x: s.pieces,
        dy,
        dx: dz,
        rows,
        units: outputs,
        k: pieces,
    }))?;
    let slot = 1 - slot;
    dense::affine_backward(net, s, dz, (rows, inputs, np), slot, want_dx, fused)?;
    Ok(if want_dx { 1 - slot } else { slot })
}
