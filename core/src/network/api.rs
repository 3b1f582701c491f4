//! The public training and inference API: PyTorch's steps one by one, the
//! whole training step, and evaluation.

use microprop_hal::{op, Backend, Element, Op};

use super::{Evaluation, Network, Result, Stage, Targets};
use crate::{Error, Operand, Optimizer};

impl<'s, B: Backend> Network<'s, B> {
    /// Run the network on a batch `x` of `rows × inputs` values (row-major).
    /// The output stays in the arena: read it with [`Network::output`].
    /// Returns the number of rows.
    pub fn forward(&mut self, x: &[B::Elem]) -> Result<usize, B> {
        let rows = self.check_input(x)?;
        self.backend
            .upload(self.layout.input.offset, x)
            .map_err(Error::Backend)?;
        self.emit_forward(rows)?;
        self.rows = rows;
        self.stage = Stage::Forward;
        Ok(rows)
    }

    /// Copy the last forward pass's `rows × outputs` outputs into `out`
    /// (also after a [`Network::train_step`]: its forward pass, at the
    /// parameters before its update).
    pub fn output(&mut self, out: &mut [B::Elem]) -> Result<(), B> {
        if self.stage == Stage::Idle {
            return Err(Error::OutOfOrder {
                called: "output",
                needs: "forward",
            });
        }
        let span = self.output_span(self.rows);
        if out.len() != span.len {
            return Err(Error::Length {
                what: Operand::Output,
                expected: span.len,
                got: out.len(),
            });
        }
        self.backend
            .download(span.offset, out)
            .map_err(Error::Backend)
    }

    /// Forward `x` and copy the outputs into `out` (`rows × outputs`).
    pub fn predict(&mut self, x: &[B::Elem], out: &mut [B::Elem]) -> Result<(), B> {
        let rows = self.check_input(x)?;
        let expected = rows * self.spec.outputs();
        if out.len() != expected {
            return Err(Error::Length {
                what: Operand::Output,
                expected,
                got: out.len(),
            });
        }
        self.forward(x)?;
        self.output(out)
    }

    /// Forward `x` and write each row's arg-max output (first on ties) into
    /// `classes`.
    pub fn classify(&mut self, x: &[B::Elem], classes: &mut [usize]) -> Result<(), B> {
        let rows = self.check_input(x)?;
        if classes.len() != rows {
            return Err(Error::Length {
                what: Operand::Output,
                expected: rows,
                got: classes.len(),
            });
        }
        self.forward(x)?;
        let cols = self.spec.outputs();
        let out = self.output_span(rows);
        let mut chunk = [B::Elem::ZERO; 64];
        for (r, class) in classes.iter_mut().enumerate() {
            let mut best = (0usize, B::Elem::ZERO);
            let mut c0 = 0;
            while c0 < cols {
                let n = (cols - c0).min(chunk.len());
                self.backend
                    .download(out.offset + r * cols + c0, &mut chunk[..n])
                    .map_err(Error::Backend)?;
                for (j, &v) in chunk[..n].iter().enumerate() {
                    if c0 + j == 0 || v > best.1 {
                        best = (c0 + j, v);
                    }
                }
                c0 += n;
            }
            *class = best.0;
        }
        Ok(())
    }

    /// Compute the loss of the last forward pass against `targets`, and the
    /// gradient at the output for a following [`Network::backward`]. The
    /// returned loss includes the L2 term and the L2-SP term
    /// ([`Network::set_anchor`]), whose gradients `backward` adds.
    ///
    /// Fails with [`Error::OutOfOrder`] (`needs: "forward"`) before any
    /// forward pass, and when the parameters changed since the last one
    /// ([`Network::step`], [`Network::train_step`],
    /// [`Network::load_parameters`], [`Network::load_blob`]): its
    /// activations no longer belong to them.
    pub fn loss(&mut self, targets: Targets<'_, B::Elem>) -> Result<B::Elem, B> {
        self.check_trains("loss")?;
        if !matches!(self.stage, Stage::Forward | Stage::Loss) {
            return Err(Error::OutOfOrder {
                called: "loss",
                needs: "forward",
            });
        }
        let rows = self.rows;
        self.check_targets(&targets, rows)?;
        // A loss that fails halfway leaves no output gradient to trust.
        self.stage = Stage::Forward;
        self.upload_targets(&targets)?;
        self.emit_loss(rows, true, true)?;
        self.stage = Stage::Loss;
        self.read_scalar(self.loss_scalar())
    }

    /// Backpropagate the gradient of the last [`Network::loss`], adding it to
    /// the parameters' gradients (as PyTorch does: call
    /// [`Network::zero_grad`] between steps). Each `backward` needs its own
    /// [`Network::loss`] after the last forward pass; `loss` then `backward`
    /// twice on one forward pass adds its gradient twice. Fails with
    /// [`Error::OutOfOrder`] (`needs: "loss"`) otherwise, also when the
    /// parameters changed since that `loss`.
    pub fn backward(&mut self) -> Result<(), B> {
        self.check_trains("backward")?;
        self.check_unfused("backward")?;
        if self.stage != Stage::Loss {
            return Err(Error::OutOfOrder {
                called: "backward",
                needs: "loss",
            });
        }
        self.grad_slot = self.emit_backward(self.rows, false)?;
        self.stage = Stage::Forward;
        Ok(())
    }

    /// [`Network::backward`], and also write the gradient of the loss with
    /// respect to the input batch into `dx` (`rows × inputs`), like reading
    /// `x.grad` in PyTorch.
    pub fn backward_with_input_grad(&mut self, dx: &mut [B::Elem]) -> Result<(), B> {
        self.check_input_grad("backward_with_input_grad")?;
        self.check_unfused("backward_with_input_grad")?;
        if self.stage != Stage::Loss {
            return Err(Error::OutOfOrder {
                called: "backward",
                needs: "loss",
            });
        }
        let expected = self.rows * self.spec.inputs();
        if dx.len() != expected {
            return Err(Error::Length {
                what: Operand::InputGradient,
                expected,
                got: dx.len(),
            });
        }
        self.grad_slot = self.emit_backward(self.rows, true)?;
        self.stage = Stage::Forward;
        let span = self.layout.scratch[self.grad_slot].prefix(expected);
        self.backend
            .download(span.offset, dx)
            .map_err(Error::Backend)
    }

    /// Set every gradient to zero.
    pub fn zero_grad(&mut self) -> Result<(), B> {
        self.check_trains("zero_grad")?;
        self.emit_zero_grad()
    }

    /// Apply the optimizer to the accumulated gradients. The last forward
    /// pass's activations then belong to the old parameters: a following
    /// [`Network::loss`] or [`Network::backward`] needs a new forward pass.
    pub fn step(&mut self) -> Result<(), B> {
        self.check_trains("step")?;
        self.check_unfused("step")?;
        self.params_changed();
        self.emit_step()?;
        self.backend.submit().map_err(Error::Backend)
    }

    /// One training step on a batch: zero the gradients, forward, loss,
    /// backward, optimizer step. Returns the loss (with the L2 and L2-SP
    /// terms) before the step. Nothing changes if `x` or `targets` is rejected. Its
    /// outputs stay readable with [`Network::output`]; [`Network::loss`] and
    /// [`Network::backward`] need a new forward pass (the parameters moved).
    ///
    /// On a recording backend this whole step is one submission.
    pub fn train_step(
        &mut self,
        x: &[B::Elem],
        targets: Targets<'_, B::Elem>,
    ) -> Result<B::Elem, B> {
        self.train_step_then(x, targets, |_| Ok(()))
    }

    /// [`Network::train_step`], issuing `then`'s ops after the step's and
    /// before the loss is read, so that they run in the step's one
    /// submission (the guard's check). `train_step` passes a no-op, which
    /// compiles away: its per-step code is what it was.
    pub(crate) fn train_step_then(
        &mut self,
        x: &[B::Elem],
        targets: Targets<'_, B::Elem>,
        then: impl FnOnce(&mut Self) -> Result<(), B>,
    ) -> Result<B::Elem, B> {
        self.check_trains("train_step")?;
        let rows = self.check_input(x)?;
        self.check_targets(&targets, rows)?;
        self.backend
            .upload(self.layout.input.offset, x)
            .map_err(Error::Backend)?;
        self.upload_targets(&targets)?;
        let fused = matches!(self.config.optimizer, Optimizer::FusedSgd { .. });
        self.grad_slot = self.emit_pass(rows, fused)?;
        self.emit_step()?;
        self.rows = rows;
        self.stage = Stage::Stale;
        then(self)?;
        // `download` executes everything issued before it: reading the loss
        // ends the step as one submission, also on devices whose memory the
        // host cannot map (a `submit` first would cost a second one there).
        self.read_scalar(self.loss_scalar())
    }

    /// Mean data loss and accuracy over a whole data set (`x` of
    /// `n × inputs`, `targets` for `n` rows), in batches of the planned
    /// capacity (without the L2 and L2-SP terms). Parameters and gradients are not changed.
    pub fn evaluate(
        &mut self,
        x: &[B::Elem],
        targets: Targets<'_, B::Elem>,
    ) -> Result<Evaluation, B> {
        self.check_trains("evaluate")?;
        let n_in = self.spec.inputs();
        let cols = self.spec.outputs();
        let n = self.check_rows(x)?;
        // Check every target before touching the arena.
        let cap = self.layout.batch;
        let mut start = 0;
        while start < n {
            let rows = (n - start).min(cap);
            let t = targets.rows(start, rows, cols);
            self.check_targets(&t, rows).map_err(|e| match e {
                Error::LabelOutOfRange {
                    index,
                    label,
                    classes,
                } => Error::LabelOutOfRange {
                    index: index + start,
                    label,
                    classes,
                },
                Error::NonFinite { what, index } => Error::NonFinite {
                    what,
                    index: index + start * cols,
                },
                other => other,
            })?;
            start += rows;
        }
        let total_expected = if self.config.loss.uses_labels() {
            n
        } else {
            n * cols
        };
        let total_got = match targets {
            Targets::Labels(l) => l.len(),
            Targets::Values(v) => v.len(),
        };
        if total_got != total_expected {
            return Err(Error::Length {
                what: Operand::Target,
                expected: total_expected,
                got: total_got,
            });
        }
        let labels = self.config.loss.uses_labels();
        // The batches overwrite the input and the activations.
        self.stage = Stage::Idle;
        self.rows = 0;
        self.exec(&Op::Fill(op::Fill {
            dst: self.count_scalar(),
            value: B::Elem::ZERO,
        }))?;
        let mut loss_sum = 0.0f64;
        // A count above what one element holds (31 in `Q10`) is read and
        // reset per batch, in batches it can hold.
        let per_batch = n > B::Elem::MAX_COUNT;
        let cap = if per_batch {
            cap.min(B::Elem::MAX_COUNT)
        } else {
            cap
        };
        let mut correct = 0.0f64;
        let mut start = 0;
        while start < n {
            let rows = (n - start).min(cap);
            let xs = x.get(start * n_in..(start + rows) * n_in).unwrap_or(&[]);
            self.backend
                .upload(self.layout.input.offset, xs)
                .map_err(Error::Backend)?;
            self.upload_targets(&targets.rows(start, rows, cols))?;
            self.emit_forward(rows)?;
            self.emit_loss(rows, false, false)?;
            if labels {
                self.exec(&Op::CountCorrect(op::CountCorrect {
                    pred: self.output_span(rows),
                    target: self.layout.target.prefix(rows),
                    rows,
                    cols,
                    out: self.count_scalar(),
                }))?;
            }
            loss_sum += self.read_scalar(self.loss_scalar())?.to_f64() * rows as f64;
            if labels && per_batch {
                correct += self.read_scalar(self.count_scalar())?.to_f64();
                self.exec(&Op::Fill(op::Fill {
                    dst: self.count_scalar(),
                    value: B::Elem::ZERO,
                }))?;
            }
            start += rows;
        }
        let accuracy = if labels {
            if !per_batch {
                correct = self.read_scalar(self.count_scalar())?.to_f64();
            }
            Some(correct / n as f64)
        } else {
            None
        };
        Ok(Evaluation {
            loss: loss_sum / n as f64,
            accuracy,
            samples: n,
        })
    }
}
