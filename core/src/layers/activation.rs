//! Activation layer: `y = f(x)` elementwise; keeps the width, no parameters.
//!
//! Forward is one activate op (or fused into the dense layer before it, see
//! [`dense::forward`](super::dense::forward)); backward multiplies the
//! upstream gradient by `f'` in place.

use microprop_hal::{op, Activation, Backend, Element, Op, Span};

use crate::network::{LayerSpans, Network, Result};

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
