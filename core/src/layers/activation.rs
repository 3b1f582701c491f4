//! Activation layer: `y = f(x)` elementwise; keeps the width, no parameters.
//!
//! Forward is one activate op (or fused into the dense layer before it, see
//! [`dense::forward`](super::dense::forward)); backward multiplies the
//! upstream gradient by `f'` in place.

use microprop_hal::{op, Activation, Backend, Element, Op, OpKind, OpSet, Span};

use crate::network::{LayerSpans, Network, Result};
use crate::spec::mix;

/// The ops an activation layer issues.
pub(crate) const OPS: OpSet = OpSet::of(&[OpKind::Activate, OpKind::ActivateBackward]);

/// The spec hash's words for this layer: kind 3, the function's tag, and
/// its parameter as the bits of its `f32` rounding (the blob format's
/// element type), so a spec hashes the same whether its parameters were
/// written as `f32` or `f64` literals.
pub(crate) const fn mix_hash(h: u32, act: Activation<f64>) -> u32 {
    let (tag, param) = match act {
        Activation::Identity => (0, 0.0f64),
        Activation::Sigmoid => (1, 0.0),
        Activation::Tanh => (2, 0.0),
        Activation::Relu => (3, 0.0),
        Activation::LeakyRelu { slope } => (4, slope),
        Activation::Elu { alpha } => (5, alpha),
        Activation::Softplus => (6, 0.0),
    };
    mix(mix(mix(h, 3), tag), (param as f32).to_bits())
}

/// `y = f(x)`.
pub(crate) fn forward<B: Backend>(
    net: &mut Network<'_, B>,
    s: &LayerSpans,
    act: Activation<f64>,
) -> Result<(), B> {
    net.exec(&Op::Activate(op::Activate {
        act: act.map(B::Elem::from_f64),
        x: s.input,
        y: s.output,
    }))
}

/// `dy ← f'(x) · dy`, in place.
pub(crate) fn backward<B: Backend>(
    net: &mut Network<'_, B>,
    s: &LayerSpans,
    dy: Span,
    act: Activation<f64>,
) -> Result<(), B> {
    net.exec(&Op::ActivateBackward(op::ActivateBackward {
        act: act.map(B::Elem::from_f64),
        x: s.input,
        y: s.output,
        dy,
        dx: dy,
    }))
}
