//! One module per layer kind: its sizes, its forward lowering and its
//! backward lowering (its chain rule), in one place.
//!
//! [`Layer`] (in [`spec`](crate::spec)) is the data; the methods below
//! dispatch on its kind to the kind's module. Adding a layer kind is adding
//! its module, its variant and one arm in each dispatch here.

mod activation;
mod conv;
mod dense;
mod maxout;
mod softmax;

use microprop_hal::{op, Backend, Op, OpKind, OpSet, Span};

use crate::network::{Cursor, LayerSpans, Network, Result};
use crate::spec::mix;
use crate::{Error, Layer, SpecError};

impl Layer {
    /// The checks [`Spec::try_new`](crate::Spec::try_new) makes of layer
    /// `index`, whose input is `width` wide.
    pub(crate) const fn check(
        &self,
        index: usize,
        width: usize,
    ) -> core::result::Result<(), SpecError> {
        match *self {
            Layer::Dense { inputs, outputs } => dense::check(index, width, inputs, outputs),
            Layer::Maxout {
                inputs,
                outputs,
                pieces,
            } => maxout::check(index, width, inputs, outputs, pieces),
            Layer::Conv {
                ref window,
                outputs,
            } => conv::check(index, width, window, outputs),
            Layer::Pool { ref window, .. } => conv::check_pool(index, width, window),
            Layer::Activation(_) | Layer::Softmax | Layer::Flatten => Ok(()),
        }
    }

    /// The ops this layer issues, forward and backward.
    pub(crate) const fn ops(&self) -> OpSet {
        match *self {
            Layer::Dense { .. } => dense::OPS,
            Layer::Maxout { .. } => maxout::OPS,
            Layer::Activation(ref a) => activation::OPS.with_activation(a),
            Layer::Softmax => softmax::OPS,
            Layer::Flatten => OpSet::of(&[OpKind::Copy]),
            Layer::Conv { .. } => conv::OPS,
            Layer::Pool { kind, .. } => conv::pool_ops(kind),
        }
    }

    /// Mix this layer into the spec hash `h`.
    pub(crate) const fn mix_hash(&self, h: u32) -> u32 {
        match *self {
            Layer::Dense { inputs, outputs } => dense::mix_hash(h, inputs, outputs),
            Layer::Maxout {
                inputs,
                outputs,
                pieces,
            } => maxout::mix_hash(h, inputs, outputs, pieces),
            Layer::Activation(a) => activation::mix_hash(h, a),
            Layer::Softmax => softmax::mix_hash(h),
            Layer::Flatten => mix(h, 7),
            Layer::Conv {
                ref window,
                outputs,
            } => conv::mix_hash(h, window, outputs),
            Layer::Pool { ref window, kind } => conv::mix_hash_pool(h, window, kind),
        }
    }

    /// Number of trainable parameters (weights then biases).
    #[inline]
    pub const fn param_count(&self) -> usize {
        match *self {
            Layer::Dense { inputs, outputs } => dense::param_count(inputs, outputs),
            Layer::Maxout {
                inputs,
                outputs,
                pieces,
            } => maxout::param_count(inputs, outputs, pieces),
            Layer::Conv {
                ref window,
                outputs,
            } => conv::param_count(window, outputs),
            Layer::Activation(_) | Layer::Softmax | Layer::Flatten | Layer::Pool { .. } => 0,
        }
    }

    /// Number of weights (the part L2 regularisation applies to).
    #[inline]
    pub const fn weight_count(&self) -> usize {
        match *self {
            Layer::Dense { inputs, outputs } => dense::weight_count(inputs, outputs),
            Layer::Maxout {
                inputs,
                outputs,
                pieces,
            } => maxout::weight_count(inputs, outputs, pieces),
            Layer::Conv {
                ref window,
                outputs,
            } => conv::weight_count(window, outputs),
            Layer::Activation(_) | Layer::Softmax | Layer::Flatten | Layer::Pool { .. } => 0,
        }
    }

    /// Output width given the input width.
    #[inline]
    pub const fn output_width(&self, input: usize) -> usize {
        match *self {
            Layer::Dense { outputs, .. } | Layer::Maxout { outputs, .. } => outputs,
            Layer::Conv {
                ref window,
                outputs,
            } => outputs.saturating_mul(window.positions()),
            Layer::Pool { ref window, .. } => window.channels.saturating_mul(window.positions()),
            Layer::Activation(_) | Layer::Softmax | Layer::Flatten => input,
        }
    }

    /// Input width given the output width: a dense or maxout layer states
    /// it, an elementwise layer keeps the width.
    #[inline]
    pub(crate) const fn input_width(&self, output: usize) -> usize {
        match *self {
            Layer::Dense { inputs, .. } | Layer::Maxout { inputs, .. } => inputs,
            Layer::Conv { ref window, .. } | Layer::Pool { ref window, .. } => window.image_len(),
            Layer::Activation(_) | Layer::Softmax | Layer::Flatten => output,
        }
    }

    /// Elements of sliding-window working space (the layout's `cols`,
    /// whatever the batch: these layers work sample by sample): one
    /// sample's windows for a convolution, and their gradient too for
    /// pooling; 0 for other layers.
    pub const fn cols_len(&self) -> usize {
        match *self {
            Layer::Conv { ref window, .. } => conv::cols_len(window, false),
            Layer::Pool { ref window, .. } => conv::cols_len(window, true),
            _ => 0,
        }
    }

    /// Elements of constant vectors (the layout's `consts`): ones over a
    /// convolution's positions, `1/k` over an average's window; 0 for other
    /// layers.
    pub const fn consts_len(&self) -> usize {
        match *self {
            Layer::Conv { ref window, .. } => window.positions(),
            Layer::Pool {
                ref window,
                kind: crate::PoolKind::Avg,
            } => window.window_len(),
            _ => 0,
        }
    }

    /// Elements of activation storage per batch row: the layer's output, and
    /// for maxout also its affine pieces.
    #[inline]
    pub const fn activation_width(&self, input: usize) -> usize {
        match *self {
            Layer::Maxout {
                outputs, pieces, ..
            } => maxout::activation_width(outputs, pieces),
            _ => self.output_width(input),
        }
    }

    /// Widest intermediate (per batch row) this layer needs in backprop
    /// scratch: its input, its output, and maxout's pieces.
    pub(crate) const fn scratch_width(&self, input: usize) -> usize {
        match *self {
            Layer::Maxout {
                outputs, pieces, ..
            } => maxout::scratch_width(input, outputs, pieces),
            _ => {
                let out = self.output_width(input);
                if out > input {
                    out
                } else {
                    input
                }
            }
        }
    }
}

/// Issue the forward ops for the layer at `c`, for `rows` rows. Returns the
/// cursor after the layers they covered: two layers when a dense layer
/// absorbed the activation after it.
pub(crate) fn forward<B: Backend>(
    net: &mut Network<'_, B>,
    layers: &[Layer],
    c: Cursor,
    rows: usize,
) -> Result<Cursor, B> {
    let s = &net.forward_spans_at(c, rows);
    let next = net.next(c);
    match *layers.get(c.i).unwrap_or(&Layer::Softmax) {
        Layer::Dense { inputs, outputs } => {
            if let Some(&Layer::Activation(a)) = layers.get(c.i + 1) {
                let y = net.forward_spans_at(next, rows).output;
                dense::forward(net, s, (rows, inputs, outputs), Some((a, y)))?;
                return Ok(net.next(next));
            }
            dense::forward(net, s, (rows, inputs, outputs), None)?;
        }
        Layer::Maxout {
            inputs,
            outputs,
            pieces,
        } if net.can(OpKind::Maxout) => maxout::forward(net, s, (rows, inputs, outputs, pieces))?,
        Layer::Activation(a) if net.can(OpKind::Activate) => activation::forward(net, s, a)?,
        Layer::Softmax if net.can(OpKind::Softmax) => softmax::forward(net, s, rows)?,
        // Rows are flat (channels first) already: the output is the input.
        Layer::Flatten => net.exec(&Op::Copy(op::Copy {
            src: s.input,
            dst: s.output,
        }))?,
        Layer::Conv {
            ref window,
            outputs,
        } if net.can(OpKind::Im2col) => conv::forward(net, s, rows, window, outputs)?,
        Layer::Pool { ref window, kind } if net.can(OpKind::Im2col) => {
            conv::pool_forward(net, s, rows, window, kind)?
        }
        // A layer whose ops the backend was built without (refused by
        // `Network::new`; here so that its lowering is compiled out).
        ref layer => return Err(missing(layer, net.backend().ops())),
    }
    Ok(next)
}

/// Issue `layer`'s backward ops from the upstream gradient `dy`, which sits
/// in scratch slot `slot`. `want_dx`: compute the downstream gradient (into
/// the other slot, for layers that change the width); `fused`: apply SGD
/// into the parameters instead of accumulating gradients. Returns the slot
/// holding the downstream gradient.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward<B: Backend>(
    net: &mut Network<'_, B>,
    layer: &Layer,
    s: &LayerSpans,
    dy: Span,
    rows: usize,
    slot: usize,
    want_dx: bool,
    fused: bool,
) -> Result<usize, B> {
    match *layer {
        Layer::Dense { inputs, outputs } => {
            dense::backward(net, s, dy, (rows, inputs, outputs), slot, want_dx, fused)
        }
        Layer::Maxout {
            inputs,
            outputs,
            pieces,
        } if net.can(OpKind::MaxoutBackward) => maxout::backward(
            net,
            s,
            dy,
            (rows, inputs, outputs, pieces),
            slot,
            want_dx,
            fused,
        ),
        Layer::Activation(a) if net.can(OpKind::ActivateBackward) => {
            activation::backward(net, s, dy, a).map(|()| slot)
        }
        Layer::Softmax if net.can(OpKind::SoftmaxBackward) => {
            softmax::backward(net, s, dy, rows).map(|()| slot)
        }
        // The gradient passes through unchanged.
        Layer::Flatten => Ok(slot),
        Layer::Conv {
            ref window,
            outputs,
        } if net.can(OpKind::Col2im) => {
            conv::backward(net, s, dy, rows, window, outputs, slot, want_dx, fused)
        }
        Layer::Pool { ref window, kind } if net.can(OpKind::Col2im) => {
            conv::pool_backward(net, s, dy, rows, window, (kind, slot, want_dx))
        }
        ref layer => Err(missing(layer, net.backend().ops())),
    }
}

/// [`Error::MissingOp`] for the first op of `layer` a backend running
/// `have` lacks.
#[cold]
fn missing<BE>(layer: &Layer, have: OpSet) -> Error<BE> {
    Error::MissingOp {
        op: layer.ops().missing_from(have).unwrap_or("?"),
    }
}
