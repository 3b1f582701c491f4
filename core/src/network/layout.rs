//! Where each layer's data live in the arena for a batch: its input,
//! output, parameters and gradients, and the network's scalars and scratch.

use microprop_hal::{Backend, Span};

use super::Network;
use crate::Layer;

/// Spans of one layer for a batch of `rows`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LayerSpans {
    pub input: Span,
    pub output: Span,
    /// Maxout's affine pieces (empty for other layers).
    pub pieces: Span,
    pub weights: Span,
    pub bias: Span,
    pub dweights: Span,
    pub dbias: Span,
    pub out_width: usize,
}

impl<'s, B: Backend> Network<'s, B> {
    /// Spans of layer `i` for `rows` rows.
    pub(crate) fn spans(&self, i: usize, rows: usize) -> LayerSpans {
        let layers = self.spec.layers();
        let cap = self.layout.batch;
        let mut width = self.spec.inputs();
        let mut act_off = self.layout.activations.offset;
        let mut prev_out = self.layout.input.prefix(rows * width);
        let mut j = 0;
        while j < i && j < layers.len() {
            let l = &layers[j];
            let w_out = l.output_width(width);
            let block = cap * l.activation_width(width);
            let y_off = act_off + block - cap * w_out;
            prev_out = Span::new(y_off, rows * w_out);
            act_off += block;
            width = w_out;
            j += 1;
        }
        let layer = layers.get(i).copied().unwrap_or(Layer::Softmax);
        let out_width = layer.output_width(width);
        let block = cap * layer.activation_width(width);
        let output = Span::new(act_off + block - cap * out_width, rows * out_width);
        let pieces = match layer {
            Layer::Maxout {
                outputs, pieces, ..
            } => Span::new(act_off, rows * outputs * pieces),
            _ => Span::new(act_off, 0),
        };
        let p_off = self.spec.param_offset(i);
        let n_w = layer.weight_count();
        let n_b = layer.param_count() - n_w;
        let g = self.layout.grads.offset;
        LayerSpans {
            input: prev_out,
            output,
            pieces,
            weights: Span::new(p_off, n_w),
            bias: Span::new(p_off + n_w, n_b),
            dweights: Span::new(g + p_off, n_w),
            dbias: Span::new(g + p_off + n_w, n_b),
            out_width,
        }
    }

    /// Span of the network's output for `rows` rows.
    pub(crate) fn output_span(&self, rows: usize) -> Span {
        self.spans(self.spec.layers().len().saturating_sub(1), rows)
            .output
    }

    pub(crate) fn loss_scalar(&self) -> Span {
        self.layout.scalars.slice(0, 1)
    }

    pub(crate) fn count_scalar(&self) -> Span {
        self.layout.scalars.slice(1, 1)
    }

    /// Scratch slot holding the input gradient after an `emit_backward`
    /// with `input_grad`.
    pub(crate) fn scratch(&self, slot: usize) -> Span {
        self.layout.scratch[slot % 2]
    }

    /// Arena span of the loss scalar (for the gradient check).
    pub(crate) fn loss_span(&self) -> Span {
        self.loss_scalar()
    }
}
