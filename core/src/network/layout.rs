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
    /// What training updates in this layer.
    pub train: crate::Train,
}

/// Where layer `i` starts in the arena: its input width, the offset of its
/// activation block and of its parameters. [`Network::next`] and
/// [`Network::prev`] move it one layer in O(1), so walking the layers
/// forward or backward is linear in their number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor {
    /// The layer's index.
    pub i: usize,
    /// Its input width.
    width: usize,
    /// First element of its activation block.
    act_off: usize,
    /// First element of its parameters within the parameter span.
    p_off: usize,
    /// Parameters before it that are not trained (see [`crate::Train`]):
    /// its gradients start `p_off - skipped` into the gradient span.
    skipped: usize,
}

impl<'s, B: Backend> Network<'s, B> {
    /// One past the end of shared buffer `i % 2` (see
    /// [`Layout::shared`](crate::Layout::shared)): layer `i < shared`'s
    /// activation block ends there.
    fn shared_end(&self, i: usize) -> usize {
        self.layout.activations.offset + (i % 2 + 1) * self.layout.shared_len
    }

    /// The cursor at layer 0.
    pub(crate) fn first(&self) -> Cursor {
        let width = self.spec.inputs();
        let act_off = if self.layout.shared > 0 {
            let block = self.layout.batch * self.layer(0).activation_width(width);
            self.shared_end(0).saturating_sub(block)
        } else {
            self.layout.activations.offset
        };
        Cursor {
            i: 0,
            width,
            act_off,
            p_off: 0,
            skipped: 0,
        }
    }

    /// The cursor one past the last layer (its `width` is the network's
    /// output width).
    pub(crate) fn end(&self) -> Cursor {
        Cursor {
            i: self.spec.layers().len(),
            width: self.spec.outputs(),
            act_off: self.layout.activations.end(),
            p_off: self.layout.params.len,
            skipped: self.layout.params.len - self.trained,
        }
    }

    /// The cursor at the layer after `c`'s.
    #[inline(always)]
    pub(crate) fn next(&self, c: Cursor) -> Cursor {
        let layer = self.layer(c.i);
        let (i, width) = (c.i + 1, layer.output_width(c.width));
        let shared = self.layout.shared;
        let act_off = if i > shared {
            c.act_off + self.layout.batch * layer.activation_width(c.width)
        } else if i == shared {
            self.layout.activations.offset + 2 * self.layout.shared_len
        } else {
            let block = self.layout.batch * self.layer(i).activation_width(width);
            self.shared_end(i).saturating_sub(block)
        };
        Cursor {
            i,
            width,
            act_off,
            p_off: c.p_off + layer.param_count(),
            skipped: c.skipped + self.spec.train(c.i).untrained_count(layer),
        }
    }

    /// The cursor at the layer before `c`'s (`c.i > 0`). Backward only:
    /// it never walks into the shared layers (`c.i > shared`), whose
    /// activations backward does not read.
    pub(crate) fn prev(&self, c: Cursor) -> Cursor {
        let layer = self.layer(c.i.wrapping_sub(1));
        let width = layer.input_width(c.width);
        Cursor {
            i: c.i.wrapping_sub(1),
            width,
            act_off: c
                .act_off
                .saturating_sub(self.layout.batch * layer.activation_width(width)),
            p_off: c.p_off.saturating_sub(layer.param_count()),
            skipped: c
                .skipped
                .saturating_sub(self.spec.train(c.i.wrapping_sub(1)).untrained_count(layer)),
        }
    }

    /// Layer `i` (a softmax, which has no parameters, past the end). A
    /// reference: a `Layer` is up to 40 bytes (a convolution's window), and
    /// copying one per call cost the firmware a `memcpy` each time.
    fn layer(&self, i: usize) -> &'s Layer {
        self.spec.layers().get(i).unwrap_or(&Layer::Softmax)
    }

    /// Spans of the layer at `c` for `rows` rows.
    #[inline(always)]
    pub(crate) fn spans_at(&self, c: Cursor, rows: usize) -> LayerSpans {
        let mut s = self.forward_spans_at(c, rows);
        let n_w = s.weights.len;
        let n_b = s.bias.len;
        // The trained parameters are the layer's last ones (biases, or
        // weights and biases), and the gradient span skips the untrained.
        let g = self.layout.grads.offset + c.p_off.saturating_sub(c.skipped);
        let train = self.spec.train(c.i);
        let dw = if train.trains_weights() { n_w } else { 0 };
        let db = if train.trains_biases() { n_b } else { 0 };
        s.dweights = Span::new(g, dw);
        s.dbias = Span::new(g + dw, db);
        s.train = train;
        s
    }

    /// [`Self::spans_at`] without the gradient spans (empty, `train` full):
    /// what a forward pass reads and writes.
    #[inline(always)]
    pub(crate) fn forward_spans_at(&self, c: Cursor, rows: usize) -> LayerSpans {
        let cap = self.layout.batch;
        let width = c.width;
        // The input is the batch for layer 0, else the previous layer's
        // output: the last `cap × width` elements before this block.
        let input = if c.i == 0 {
            self.layout.input.prefix(rows * width)
        } else if c.i <= self.layout.shared {
            // The previous layer's output ends its shared buffer.
            Span::new(
                self.shared_end(c.i - 1).saturating_sub(cap * width),
                rows * width,
            )
        } else {
            Span::new(c.act_off.saturating_sub(cap * width), rows * width)
        };
        let layer = self.layer(c.i);
        let out_width = layer.output_width(width);
        let block = cap * layer.activation_width(width);
        let output = Span::new(c.act_off + block - cap * out_width, rows * out_width);
        let pieces = match *layer {
            Layer::Maxout {
                outputs, pieces, ..
            } => Span::new(c.act_off, rows * outputs * pieces),
            _ => Span::new(c.act_off, 0),
        };
        let n_w = layer.weight_count();
        let n_b = layer.param_count() - n_w;
        let p = c.p_off;
        LayerSpans {
            input,
            output,
            pieces,
            weights: Span::new(p, n_w),
            bias: Span::new(p + n_w, n_b),
            dweights: Span::new(0, 0),
            dbias: Span::new(0, 0),
            out_width,
            train: crate::Train::Full,
        }
    }

    /// Span of the network's output for `rows` rows: the last
    /// `batch × outputs` elements of the activations.
    pub(crate) fn output_span(&self, rows: usize) -> Span {
        let w = self.spec.outputs();
        let layers = self.spec.layers().len();
        let end = if self.layout.shared >= layers {
            // Every layer shared: the last one's block ends its buffer.
            self.shared_end(layers.saturating_sub(1))
        } else {
            self.layout.activations.end()
        };
        Span::new(end.saturating_sub(self.layout.batch * w), rows * w)
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

#[cfg(test)]
mod tests {
    use crate::{Config, Error, Layer, Loss, Network, Optimizer, Spec, SpecError};
    use microprop_cpu::CpuBackend;

    const NET: Spec = Spec::new(&[
        Layer::maxout(3, 4, 2),
        Layer::tanh(),
        Layer::dense(4, 5),
        Layer::relu(),
        Layer::dense(5, 2),
        Layer::softmax(),
    ]);

    #[test]
    fn a_batch_whose_arena_overflows_is_too_large_not_a_short_arena() {
        // batch × 3 inputs wraps: the arena length used to come out small
        // (release) or overflow-panic (debug); now `new` refuses it.
        let cfg = Config::new(usize::MAX / 3 + 1, Loss::Mse, Optimizer::adam(0.01));
        assert_eq!(cfg.arena_len(&NET), usize::MAX);
        let mut arena = vec![0.0f32; 64];
        let before = arena.clone();
        let err = Network::new(NET, CpuBackend::new(&mut arena), cfg).err();
        assert!(
            matches!(err, Some(Error::Spec(SpecError::TooLarge))),
            "{err:?}"
        );
        assert_eq!(arena, before);
    }

    #[test]
    fn cursors_walk_forward_and_back_to_the_same_places() {
        let cfg = Config::new(3, Loss::Mse, Optimizer::sgd(0.1));
        let mut arena = vec![0.0f32; cfg.arena_len(&NET)];
        let net = Network::new(NET, CpuBackend::new(&mut arena), cfg).unwrap();
        let mut forward = vec![net.first()];
        while forward.len() <= NET.layers().len() {
            let c = *forward.last().unwrap();
            forward.push(net.next(c));
        }
        assert_eq!(*forward.last().unwrap(), net.end());
        let mut c = net.end();
        for want in forward.iter().rev().skip(1) {
            c = net.prev(c);
            assert_eq!(c, *want);
        }
        // Layer i's input is layer i-1's output; the last output is the
        // network's output span.
        for w in forward.windows(2).skip(1) {
            let (a, b) = (net.spans_at(w[0], 2), net.spans_at(w[1], 2));
            if w[1].i < NET.layers().len() {
                assert_eq!(a.output, b.input);
            }
        }
        let last = forward[NET.layers().len() - 1];
        assert_eq!(net.spans_at(last, 2).output, net.output_span(2));
        // Parameters tile the parameter span, layer after layer.
        let mut p = 0;
        for c in &forward[..NET.layers().len()] {
            let s = net.spans_at(*c, 1);
            assert_eq!(s.weights.offset, p);
            p = s.bias.end().max(p);
        }
        assert_eq!(p, NET.param_count());
    }
}
