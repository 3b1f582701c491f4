//! Dense (fully connected) layer: `y = x Wᵀ + b`, `W` of `[outputs, inputs]`.
//!
//! Its sizes, its forward lowering (gemm, then the bias, fused with the
//! activation that follows when there is one) and its backward lowering (the
//! affine chain rule, which [`maxout`](super::maxout) reuses).

use microprop_hal::{op, Activation, Backend, Element, Op, OpKind, OpSet, Span};

use crate::network::{LayerSpans, Network, Result};
use crate::spec::{mix, mix_width};
use crate::SpecError;

/// The ops a dense layer issues: the affine map (with the next layer's
/// activation folded in), its gradients, and fused SGD's per-row bias
/// update.
pub(crate) const OPS: OpSet = OpSet::of(&[
    OpKind::Gemm,
    OpKind::BiasAdd,
    OpKind::BiasActivate,
    OpKind::BiasGrad,
    OpKind::Axpy,
]);

/// The spec checks: the declared input width chains from `width`, no width
/// is 0, and `W` is addressable.
pub(crate) const fn check(
    layer: usize,
    width: usize,
    inputs: usize,
    outputs: usize,
) -> core::result::Result<(), SpecError> {
    if let Err(e) = chain(layer, width, inputs) {
        return Err(e);
    }
    if inputs == 0 || outputs == 0 {
        return Err(SpecError::ZeroWidth { layer });
    }
    // W and b together: outputs · (inputs + 1) parameters.
    match inputs.checked_add(1) {
        Some(i) if i.checked_mul(outputs).is_some() => Ok(()),
        _ => Err(SpecError::TooLarge),
    }
}

/// A layer that declares `inputs` must follow one that gives `width`.
pub(crate) const fn chain(
    layer: usize,
    width: usize,
    inputs: usize,
) -> core::result::Result<(), SpecError> {
    if inputs != width {
        return Err(SpecError::Chain {
            layer,
            expected: inputs,
            got: width,
        });
    }
    Ok(())
}

/// The spec hash's words for this layer: kind 1, then its widths.
pub(crate) const fn mix_hash(h: u32, inputs: usize, outputs: usize) -> u32 {
    mix_width(mix_width(mix(h, 1), inputs), outputs)
}

/// Parameters: `W` then `b`.
pub(crate) const fn param_count(inputs: usize, outputs: usize) -> usize {
    outputs * inputs + outputs
}

/// Weights (the part L2 regularisation applies to).
pub(crate) const fn weight_count(inputs: usize, outputs: usize) -> usize {
    outputs * inputs
}

/// `z = x Wᵀ` into `s.output`, then `z += b`; with `act = Some((f, y))`, one
/// fused pass also writes `f(z)` into `y` (the following activation layer's
/// output; `z` stays in `s.output`, where that layer's backward reads it).
pub(crate) fn forward<B: Backend>(
    net: &mut Network<'_, B>,
    s: &LayerSpans,
    (rows, inputs, outputs): (usize, usize, usize),
    act: Option<(Activation<f64>, Span)>,
) -> Result<(), B> {
    net.exec(&Op::Gemm(op::Gemm {
        m: rows,
        n: outputs,
        k: inputs,
        a: s.input,
        trans_a: false,
        b: s.weights,
        trans_b: true,
        c: s.output,
        alpha: B::Elem::ONE,
        beta: B::Elem::ZERO,
    }))?;
    match act {
        Some((a, y)) => net.exec(&Op::BiasActivate(op::BiasActivate {
            act: a.map(B::Elem::from_f64),
            bias: s.bias,
            x: s.output,
            y,
            rows,
            cols: outputs,
        })),
        None => net.exec(&Op::BiasAdd(op::BiasAdd {
            bias: s.bias,
            out: s.output,
            rows,
            cols: outputs,
        })),
    }
}

/// Backward from `dy` (in scratch slot `slot`): see [`affine_backward`].
/// Returns the slot holding the downstream gradient.
pub(crate) fn backward<B: Backend>(
    net: &mut Network<'_, B>,
    s: &LayerSpans,
    dy: Span,
    shape: (usize, usize, usize),
    slot: usize,
    want_dx: bool,
    fused: bool,
) -> Result<usize, B> {
    affine_backward(net, s, dy, shape, slot, want_dx, fused)?;
    Ok(if want_dx { 1 - slot } else { slot })
}

/// `dW += dzᵀ x`, `db += Σ dz`, and (with `want_dx`) `dx = dz W` into the
/// other scratch slot. `shape` is `(rows, inputs, outputs)`. Only what the
/// layer trains ([`crate::Train`]) gets a gradient (or, fused, an update).
///
/// With `fused` (SGD during backward): `dx = dz W` first, from the old
/// `W`; then one gemm `W ← (1 − 2·lr·λ)·W − lr·dzᵀx` (the L2 gradient
/// `2λW` folded into `beta`) and `b ← b − lr·dz[r]` per row.
pub(crate) fn affine_backward<B: Backend>(
    net: &mut Network<'_, B>,
    s: &LayerSpans,
    dz: Span,
    (rows, inputs, outputs): (usize, usize, usize),
    slot: usize,
    want_dx: bool,
    fused: bool,
) -> Result<(), B> {
    let one = B::Elem::ONE;
    // dx first: the fused update below overwrites W.
    if want_dx {
        net.exec(&Op::Gemm(op::Gemm {
            m: rows,
            n: inputs,
            k: outputs,
            a: dz,
            trans_a: false,
            b: s.weights,
            trans_b: false,
            c: net.scratch(1 - slot).prefix(rows * inputs),
            alpha: one,
            beta: B::Elem::ZERO,
        }))?;
    }
    let neg_lr = net.hyper.neg_lr;
    let (train_w, train_b) = (s.train.trains_weights(), s.train.trains_biases());
    if !train_b {
        return Ok(());
    }
    let (c, alpha, beta) = if fused {
        (s.weights, neg_lr, net.hyper.decay)
    } else {
        (s.dweights, one, one)
    };
    if train_w {
        net.exec(&Op::Gemm(op::Gemm {
            m: outputs,
            n: inputs,
            k: rows,
            a: dz,
            trans_a: true,
            b: s.input,
            trans_b: false,
            c,
            alpha,
            beta,
        }))?;
    }
    if fused {
        for r in 0..rows {
            net.exec(&Op::Axpy(op::Axpy {
                x: dz.slice(r * outputs, outputs),
                y: s.bias,
                alpha: neg_lr,
            }))?;
        }
        return Ok(());
    }
    net.exec(&Op::BiasGrad(op::BiasGrad {
        dout: dz,
        dbias: s.dbias,
        rows,
        cols: outputs,
    }))
}
