//! L2-SP (Li et al. 2018, "Explicit inductive bias for transfer learning
//! with convolutional networks"): a penalty `λ·‖w − w₀‖²` that pulls the
//! trained weights toward the pretrained weights `w₀`, read from a device
//! blob where it lies (flash, `include_bytes!`), never copied into RAM.
//!
//! The penalty is lowered to backend ops, so it runs on every backend: the
//! blob's weights stream through a stack buffer of `CHUNK` elements into
//! the loss scratch (free once the loss op has run, and unused by
//! backward), then one [`op::Anchor`] per piece forms `w₀ − w` there and
//! adds `λ·Σ(w₀ − w)²` to the loss scalar (in `loss`) and/or `−2λ·(w₀ − w)`
//! to the weights' gradient (in `backward`, or both at once in
//! `train_step`). The CPU backend runs it in one pass; a backend without a
//! kernel for it runs its decomposition (axpy, sum of squares, axpy).

use microprop_hal::{op, Backend, Element, Op, OpKind, OpSet, Span};

use super::checks::finite_nonneg;
use super::{LayerSpans, Network, Result, Stage};
use crate::blob::{self, validate, BlobError, CHUNK, HEADER_LEN};
use crate::{Error, Optimizer};

impl<'s, B: Backend> Network<'s, B> {
    /// Anchor the trained weights to the pretrained weights `w₀` of the
    /// device blob `blob` (L2-SP): from now on [`Network::loss`] and
    /// [`Network::train_step`] return the loss plus `λ·‖w − w₀‖²`, and
    /// [`Network::backward`] adds its gradient `2λ·(w − w₀)`.
    ///
    /// - The blob stays where it is (typically flash, `include_bytes!`):
    ///   each loss and backward reads it again, a few elements at a time
    ///   (as many as the loss scratch holds, `4 · outputs + 2`, at most
    ///   64); no RAM holds `w₀`. The cost: per trained weight, one read
    ///   from the blob and, in one pass ([`op::Anchor`]), a subtraction and
    ///   a multiply-add for the loss and one for the gradient.
    /// - Like [`Config::with_l2`](crate::Config::with_l2), it covers
    ///   weights, not biases, and only weights that training updates
    ///   ([`Train::Full`](crate::Train::Full) layers: a frozen or bias-only layer's weights get
    ///   no penalty). [`Network::evaluate`]'s data loss leaves it out, as it
    ///   leaves out L2.
    /// - λ = 0 sets the anchor but changes nothing: every loss, gradient
    ///   and step is bit for bit that of a network without one.
    ///
    /// Fails, with the network unchanged, with [`Error::Hyperparameter`]
    /// (`"anchor_lambda"`) unless λ is finite and non-negative in the
    /// element type; with [`Error::Fused`] under fused SGD (its update is
    /// applied during backward, which has no room for the penalty's
    /// gradient); and with [`Error::Blob`] when [`validate`] rejects the
    /// blob for this spec (wrong spec or length, bad CRC, a non-finite
    /// value). A [`Network::loss`] computed before must be repeated before
    /// [`Network::backward`].
    ///
    /// ```
    /// use microprop::{blob, Config, Layer, Loss, Network, Optimizer, Spec, Targets};
    /// use microprop_cpu::CpuBackend;
    /// const NET: Spec = Spec::new(&[Layer::dense(2, 3), Layer::tanh(), Layer::dense(3, 2)]);
    /// const CFG: Config = Config::new(1, Loss::SoftmaxCrossEntropy, Optimizer::sgd(0.1));
    /// // The pretrained weights, as a firmware would embed them.
    /// let mut pretrained = [0u8; blob::blob_len(NET.param_count())];
    /// let mut arena = [0.0f32; CFG.arena_len(&NET)];
    /// let mut net = Network::new(NET, CpuBackend::new(&mut arena), CFG).unwrap();
    /// net.save_blob(&mut pretrained).unwrap();
    /// net.set_anchor(&pretrained, 0.01).unwrap();
    /// // At w = w₀ the penalty is 0; training then pulls toward w₀.
    /// net.train_step(&[0.5, -0.5], Targets::Labels(&[1])).unwrap();
    /// ```
    pub fn set_anchor(&mut self, blob: &'s [u8], lambda: f64) -> Result<(), B> {
        self.check_trains("set_anchor")?;
        super::need_ops::<B>(&self.backend, OpSet::of(&[OpKind::Anchor]))?;
        if !finite_nonneg::<B::Elem>(lambda) {
            return Err(Error::Hyperparameter {
                name: "anchor_lambda",
            });
        }
        if let Optimizer::FusedSgd { .. } = self.config.optimizer {
            return Err(Error::Fused {
                called: "set_anchor",
            });
        }
        let payload = validate(&self.spec, blob).map_err(Error::Blob)?.payload;
        self.anchor = Some((blob, payload));
        self.hyper = self.hyper.with_anchor(lambda);
        self.penalty_changed();
        Ok(())
    }

    /// Remove the L2-SP anchor (if any): the loss and gradients are again
    /// those without it.
    pub fn clear_anchor(&mut self) {
        self.anchor = None;
        self.hyper = self.hyper.with_anchor(0.0);
        self.penalty_changed();
    }

    /// The L2-SP anchor's blob and strength λ (at element precision), if
    /// one is set.
    pub fn anchor(&self) -> Option<(&'s [u8], f64)> {
        self.anchor.map(|(b, _)| (b, self.hyper.anchor_l.to_f64()))
    }

    /// A loss computed before no longer matches the loss function: its
    /// output gradient may be reused only after a new `loss`.
    fn penalty_changed(&mut self) {
        self.plan_changed();
        if self.stage == Stage::Loss {
            self.stage = Stage::Forward;
        }
    }

    /// Add `λ·Σ(w − w₀)²` over the trained weights to the loss scalar;
    /// with `fold`, also `2λ·(w − w₀)` to their gradients (the loss pass of
    /// `train_step`: backward's scratch slot 1 is free then, so the pieces
    /// may use it when it is longer than the loss scratch).
    pub(crate) fn emit_anchor_loss(&mut self, fold: bool) -> Result<(), B> {
        let Some(anchor) = self.anchor else {
            return Ok(());
        };
        if !self.hyper.has_anchor {
            return Ok(());
        }
        let scale = self.hyper.anchor_l;
        let alpha = self.hyper.anchor_neg_two;
        let out = self.loss_scalar();
        let buffer = if fold && self.layout.scratch[1].len > self.layout.loss_scratch.len {
            self.layout.scratch[1]
        } else {
            self.layout.loss_scratch
        };
        let mut c = self.first();
        while c.i < self.spec.layers().len() {
            let s = self.spans_at(c, 0);
            c = self.next(c);
            if !s.train.trains_weights() || s.weights.len == 0 {
                continue;
            }
            // A fully trained layer: its weights have a gradient span.
            let dweights = fold.then_some(s.dweights);
            self.anchor_chunks(anchor, s.weights, buffer, |w, chunk, done| op::Anchor {
                anchor: chunk,
                w,
                grad: dweights.map(|d| d.slice(done, chunk.len)),
                out: Some(out),
                scale,
                alpha,
            })?;
        }
        Ok(())
    }

    /// Add `2λ·(w − w₀)` to the gradient of layer `s`'s weights (a
    /// [`Train::Full`](crate::Train::Full) layer's).
    pub(crate) fn emit_anchor_grad(&mut self, s: &LayerSpans) -> Result<(), B> {
        let Some(anchor) = self.anchor else {
            return Ok(());
        };
        if !self.hyper.has_anchor || !s.train.trains_weights() {
            return Ok(());
        }
        let alpha = self.hyper.anchor_neg_two;
        let scale = self.hyper.anchor_l;
        let dweights = s.dweights;
        let buffer = self.layout.loss_scratch;
        self.anchor_chunks(anchor, s.weights, buffer, |w, chunk, done| op::Anchor {
            anchor: chunk,
            w,
            grad: Some(dweights.slice(done, chunk.len)),
            out: None,
            scale,
            alpha,
        })
    }

    /// For each piece of `weights`: upload its `w₀` from the anchor's blob
    /// (its payload kind from `set_anchor`'s validation) into
    /// `scratch` (a span free at this point) and run the op
    /// `f(piece's span in weights, its span in the scratch, index of its
    /// first element in weights)`.
    fn anchor_chunks(
        &mut self,
        (blob, payload): (&[u8], blob::Payload),
        weights: Span,
        scratch: Span,
        mut f: impl FnMut(Span, Span, usize) -> op::Anchor<B::Elem>,
    ) -> Result<(), B> {
        let step = scratch.len.min(CHUNK);
        if step == 0 {
            return Ok(());
        }
        let size = payload.bytes().max(1);
        let first = weights.offset.saturating_sub(self.layout.params.offset);
        let mut buf = [B::Elem::ZERO; CHUNK];
        let mut done = 0;
        while done < weights.len {
            let n = step.min(weights.len - done);
            let start = first
                .checked_add(done)
                .and_then(|i| i.checked_mul(size))
                .and_then(|b| b.checked_add(HEADER_LEN));
            let bytes = start
                .and_then(|a| Some(a..a.checked_add(n.checked_mul(size)?)?))
                .and_then(|r| blob.get(r));
            let (Some(bytes), Some(piece)) = (bytes, buf.get_mut(..n)) else {
                // `set_anchor` validated the blob against this spec.
                return Err(Error::Blob(BlobError::Truncated {
                    needed: HEADER_LEN.saturating_add(self.layout.params.len.saturating_mul(size)),
                    got: blob.len(),
                }));
            };
            for (o, c) in piece.iter_mut().zip(bytes.chunks_exact(size)) {
                *o = payload.element(c);
            }
            let chunk = scratch.prefix(n);
            self.backend
                .upload(chunk.offset, piece)
                .map_err(Error::Backend)?;
            self.exec(&Op::Anchor(f(weights.slice(done, n), chunk, done)))?;
            done += n;
        }
        Ok(())
    }
}
