//! The lowering driver: forward, loss, backward and the optimizer step as
//! ops. Each layer kind lowers itself (see [`crate::layers`]); this walks the
//! layers and adds what is not a layer's (the loss, L2, the update).

use microprop_hal::{op, Backend, Element, Op, OpKind, Span};

use super::{Network, Result};
use crate::{layers, Optimizer};

impl<'s, B: Backend> Network<'s, B> {
    /// Issue the forward ops for `rows` rows already in the input span,
    /// layer by layer (a layer may cover the next, see
    /// [`layers::forward`]).
    pub(crate) fn emit_forward(&mut self, rows: usize) -> Result<(), B> {
        let layers = self.spec.layers();
        let mut c = self.first();
        while c.i < layers.len() {
            c = layers::forward(self, layers, c, rows)?;
        }
        Ok(())
    }

    /// Issue the loss (and, with `grad`, its gradient into scratch slot 0)
    /// for `rows` rows whose targets are uploaded. With `l2`, adds the L2
    /// and L2-SP terms.
    pub(crate) fn emit_loss(&mut self, rows: usize, grad: bool, l2: bool) -> Result<(), B> {
        self.emit_loss_with(rows, grad, l2, false)
    }

    /// [`Self::emit_loss`]; with `fold_anchor`, the L2-SP term's gradient
    /// is added to the gradient span in the same pass over `w₀` (for
    /// `train_step`, whose gradients were zeroed and whose backward then
    /// leaves it out), instead of a second pass in backward.
    pub(crate) fn emit_loss_with(
        &mut self,
        rows: usize,
        grad: bool,
        l2: bool,
        fold_anchor: bool,
    ) -> Result<(), B> {
        let cols = self.spec.outputs();
        let target = if self.config.loss.uses_labels() {
            self.layout.target.prefix(rows)
        } else {
            self.layout.target.prefix(rows * cols)
        };
        self.exec(&Op::Loss(op::Loss {
            kind: self.config.loss.map(B::Elem::from_f64),
            pred: self.output_span(rows),
            target,
            rows,
            cols,
            out: self.loss_scalar(),
            grad: if grad {
                Some(self.layout.scratch[0].prefix(rows * cols))
            } else {
                None
            },
            scratch: self.layout.loss_scratch,
        }))?;
        if l2 && self.hyper.penalty && self.has_penalty_ops() {
            self.emit_penalty_loss(fold_anchor)?;
        }
        Ok(())
    }

    /// Whether the backend's set has a penalty's ops: L2's `SumSquares` or
    /// L2-SP's `Anchor`. A network with a penalty has them (checked at
    /// construction and by `set_anchor`); without them the penalty code is
    /// compiled out of a firmware whose set is a constant.
    #[inline(always)]
    fn has_penalty_ops(&self) -> bool {
        self.can(OpKind::SumSquares) || self.can(OpKind::Anchor)
    }

    /// The L2 term `λ·Σw²` over every weight, and the L2-SP term (see
    /// [`Network::set_anchor`]), added to the loss scalar.
    #[inline(never)]
    fn emit_penalty_loss(&mut self, fold_anchor: bool) -> Result<(), B> {
        if self.hyper.has_l2 {
            let lambda = self.hyper.l2;
            let mut c = self.first();
            while c.i < self.spec.layers().len() {
                let s = self.spans_at(c, 0);
                c = self.next(c);
                if s.weights.len > 0 {
                    self.exec(&Op::SumSquares(op::SumSquares {
                        x: s.weights,
                        out: self.loss_scalar(),
                        scale: lambda,
                        accumulate: true,
                    }))?;
                }
            }
        }
        self.emit_anchor_loss(fold_anchor)
    }

    /// The penalties' gradients for one layer's weights, after its
    /// backward: `2λ·w` (L2) and, with `anchor`, `2λ·(w − w₀)` (L2-SP).
    #[inline(never)]
    fn emit_penalty_grad(&mut self, s: &super::LayerSpans, anchor: bool) -> Result<(), B> {
        if self.hyper.has_l2 {
            self.exec(&Op::Axpy(op::Axpy {
                x: s.weights,
                y: s.dweights,
                alpha: self.hyper.two_l2,
            }))?;
        }
        if anchor {
            self.emit_anchor_grad(s)?;
        }
        Ok(())
    }

    /// Issue backprop from the output gradient in scratch slot 0,
    /// accumulating into the gradient span (with the L2 and L2-SP
    /// penalties' gradients on trained weights). It stops at the first layer with
    /// a trained parameter ([`crate::Train`]): the frozen layers before it
    /// get no backward ops. With `input_grad`, it runs down to the input and
    /// computes the gradient with respect to the input batch too. Returns
    /// the scratch slot that holds the last computed downstream gradient.
    pub(crate) fn emit_backward(&mut self, rows: usize, input_grad: bool) -> Result<usize, B> {
        self.emit_backward_with(rows, input_grad, false, true)
    }

    /// [`Self::emit_backward`]; with `fused`, each affine layer's SGD update
    /// is applied into its parameters (after its input gradient has been
    /// computed from the old weights) instead of accumulating gradients.
    /// Without `anchor`, the L2-SP gradient is left out (the loss pass
    /// added it, see [`Self::emit_loss_with`]).
    pub(crate) fn emit_backward_with(
        &mut self,
        rows: usize,
        input_grad: bool,
        fused: bool,
        anchor: bool,
    ) -> Result<usize, B> {
        let mut slot = 0;
        let layers = self.spec.layers();
        // Layers `stop..` run backward; a layer needs its input gradient
        // when one before it does.
        let stop = if input_grad { 0 } else { self.first_trained };
        let mut c = self.end();
        while c.i > stop {
            c = self.prev(c);
            let s = self.spans_at(c, rows);
            let dy = self.scratch(slot).prefix(rows * s.out_width);
            let want_dx = c.i > stop || input_grad;
            let layer = layers.get(c.i).unwrap_or(&crate::Layer::Softmax);
            slot = layers::backward(self, layer, &s, dy, rows, slot, want_dx, fused)?;
            if !fused
                && self.hyper.penalty
                && self.has_penalty_ops()
                && s.train.trains_weights()
                && s.weights.len > 0
            {
                self.emit_penalty_grad(&s, anchor)?;
            }
        }
        Ok(slot)
    }

    /// Issue the optimizer update: over every parameter at once, or, when
    /// some layers are frozen or bias-only, over each run of trained
    /// parameters (contiguous in both the parameter and the gradient span).
    pub(crate) fn emit_step(&mut self) -> Result<(), B> {
        let l = self.layout;
        let h = self.hyper;
        // (Gated on the backend's set too: a backend without Adam, such as
        // a fixed-point one, then links no f64 arithmetic for its clock.)
        if matches!(self.config.optimizer, Optimizer::Adam { .. }) && self.can(OpKind::AdamStep) {
            self.adam_t += 1;
            self.beta1_t *= h.beta1_wide;
            self.beta2_t *= h.beta2_wide;
        }
        if matches!(self.config.optimizer, Optimizer::FusedSgd { .. }) {
            // Applied during backward.
            return Ok(());
        }
        if self.trained == l.params.len {
            return self.emit_step_run(l.params, 0);
        }
        self.emit_partial_step()
    }

    /// [`Self::emit_step`] when some parameters are not trained.
    #[inline(never)]
    fn emit_partial_step(&mut self) -> Result<(), B> {
        let l = self.layout;
        // Runs of trained parameters: a layer's trained ones are its last
        // `t`; consecutive layers' runs join when they touch.
        let mut run = Span::new(0, 0);
        let mut run_g = 0;
        let mut c = self.first();
        while c.i < self.spec.layers().len() {
            let s = self.spans_at(c, 0);
            c = self.next(c);
            let (w, b) = (s.dweights.len, s.dbias.len);
            if w + b == 0 {
                continue;
            }
            let start = s.bias.end() - (w + b);
            if run.len > 0 && run.end() == start {
                run.len += w + b;
                continue;
            }
            self.emit_step_run(run, run_g)?;
            run = Span::new(start, w + b);
            run_g = s.dweights.offset - l.grads.offset;
        }
        self.emit_step_run(run, run_g)
    }

    /// The optimizer update of the parameters `param`, whose gradients
    /// (and state) start `g` elements into the gradient (state) vectors.
    #[inline(always)]
    fn emit_step_run(&mut self, param: Span, g: usize) -> Result<(), B> {
        if param.len == 0 {
            return Ok(());
        }
        let l = self.layout;
        let h = self.hyper;
        let lr = h.lr;
        let grad = l.grads.slice(g, param.len);
        match self.config.optimizer {
            Optimizer::FusedSgd { .. } => Ok(()),
            Optimizer::Sgd { .. } => self.exec(&Op::SgdStep(op::SgdStep { param, grad, lr })),
            Optimizer::Momentum { .. } => self.exec(&Op::MomentumStep(op::MomentumStep {
                param,
                grad,
                velocity: l.state.slice(g, param.len),
                lr,
                momentum: h.momentum,
            })),
            Optimizer::Adam { .. } if self.can(OpKind::AdamStep) => {
                self.exec(&Op::AdamStep(op::AdamStep {
                    param,
                    grad,
                    m: l.state.slice(g, param.len),
                    v: l.state.slice(self.trained + g, param.len),
                    lr,
                    beta1: h.beta1,
                    beta2: h.beta2,
                    eps: h.eps,
                    bias1: B::Elem::from_f64(1.0 - self.beta1_t),
                    bias2: B::Elem::from_f64(1.0 - self.beta2_t),
                }))
            }
            // Refused at construction (`Error::MissingOp`).
            Optimizer::Adam { .. } => Ok(()),
        }
    }

    pub(crate) fn emit_zero_grad(&mut self) -> Result<(), B> {
        self.exec(&Op::Fill(op::Fill {
            dst: self.layout.grads,
            value: B::Elem::ZERO,
        }))
    }

    /// Zero the gradients (ops only).
    pub(crate) fn emit_zero(&mut self) -> Result<(), B> {
        self.emit_zero_grad()
    }
}
