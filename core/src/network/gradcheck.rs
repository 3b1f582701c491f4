//! The network as a [`Differentiable`]: its gradient check against central
//! differences, over every parameter and optionally every input.

use microprop_hal::{Backend, Element, Span};

use super::{Network, Result, Stage, Targets};
use crate::gradcheck::{check, Differentiable, GradCheckConfig, GradCheckReport, Location};
use crate::Error;

/// A network, one batch, and where its analytic gradients are.
struct NetworkCheck<'n, 's, B: Backend> {
    net: &'n mut Network<'s, B>,
    rows: usize,
    params: usize,
    inputs: bool,
    input_grad: Span,
}

impl<B: Backend> NetworkCheck<'_, '_, B> {
    /// The parameter that check index `i < self.params` stands for: the
    /// check covers trained parameters only, in the gradient span's order.
    fn param(&self, i: usize) -> usize {
        let spec = self.net.spec();
        if spec.trains_all() {
            return i;
        }
        let mut g = 0;
        for (layer, l) in spec.layers().iter().enumerate() {
            let t = spec.train(layer).trained_count(l);
            if i < g + t {
                return spec.param_offset(layer) + l.param_count() - t + (i - g);
            }
            g += t;
        }
        i
    }

    fn offset(&self, i: usize) -> usize {
        if i < self.params {
            self.net.layout().params.offset + self.param(i)
        } else {
            self.net.layout().input.offset + (i - self.params)
        }
    }
    fn read(&mut self, off: usize) -> Result<f64, B> {
        let mut v = [B::Elem::ZERO];
        self.net
            .backend_mut()
            .download(off, &mut v)
            .map_err(Error::Backend)?;
        Ok(v[0].to_f64())
    }
}

impl<B: Backend> Differentiable for NetworkCheck<'_, '_, B> {
    type Error = Error<B::Error>;

    fn count(&self) -> usize {
        self.params
            + if self.inputs {
                self.rows * self.net.spec().inputs()
            } else {
                0
            }
    }

    fn location(&self, i: usize) -> Location {
        if i >= self.params {
            return Location::Input {
                index: i - self.params,
            };
        }
        let i = self.param(i);
        let spec = self.net.spec();
        for (layer, l) in spec.layers().iter().enumerate() {
            let start = spec.param_offset(layer);
            if i < start + l.param_count() {
                let local = i - start;
                return if local < l.weight_count() {
                    Location::Weight {
                        layer,
                        index: local,
                    }
                } else {
                    Location::Bias {
                        layer,
                        index: local - l.weight_count(),
                    }
                };
            }
        }
        Location::Value { index: i }
    }

    fn value(&mut self, i: usize) -> Result<f64, B> {
        self.read(self.offset(i))
    }

    fn set_value(&mut self, i: usize, v: f64) -> Result<f64, B> {
        let e = B::Elem::from_f64(v);
        let off = self.offset(i);
        self.net
            .backend_mut()
            .upload(off, &[e])
            .map_err(Error::Backend)?;
        Ok(e.to_f64())
    }

    fn loss(&mut self) -> Result<f64, B> {
        self.net.emit_forward(self.rows)?;
        self.net.emit_loss(self.rows, false, true)?;
        let off = self.net.loss_span().offset;
        self.read(off)
    }

    fn analytic(&mut self, i: usize) -> Result<f64, B> {
        let off = if i < self.params {
            self.net.layout().grads.offset + i
        } else {
            self.input_grad.offset + (i - self.params)
        };
        self.read(off)
    }
}

impl<B: Backend> Network<'_, B> {
    /// Check the analytic gradients of every trained parameter (and, with
    /// `config.inputs`, every input element) on one batch against central
    /// differences. Parameters are restored; the gradient span is left
    /// holding this batch's analytic gradient.
    ///
    /// ```
    /// use microprop::{Config, GradCheckConfig, Layer, Loss, Network, Optimizer, Spec, Targets};
    /// use microprop_cpu::CpuBackend;
    /// const NET: Spec = Spec::new(&[Layer::dense(3, 4), Layer::tanh(), Layer::dense(4, 2)]);
    /// const CFG: Config = Config::new(2, Loss::SoftmaxCrossEntropy, Optimizer::sgd(0.1));
    /// let mut arena = [0.0f64; CFG.arena_len(&NET)];
    /// let mut net = Network::new(NET, CpuBackend::new(&mut arena), CFG).unwrap();
    /// let x = [0.1, -0.2, 0.3, 0.5, 0.4, -0.6];
    /// let report = net.grad_check(&x, Targets::Labels(&[1, 0]), &GradCheckConfig::F64).unwrap();
    /// assert!(report.max_rel_error < 1e-7, "{report:?}");
    /// ```
    pub fn grad_check(
        &mut self,
        x: &[B::Elem],
        targets: Targets<'_, B::Elem>,
        config: &GradCheckConfig,
    ) -> Result<GradCheckReport, B> {
        if !(config.h.is_finite() && config.h > 0.0) {
            return Err(Error::Hyperparameter { name: "h" });
        }
        if config.inputs {
            self.check_input_grad("grad_check")?;
        }
        self.check_trains("grad_check")?;
        self.check_unfused("grad_check")?;
        let rows = self.check_input(x)?;
        self.check_targets(&targets, rows)?;
        // The check overwrites the input and the activations (its last
        // forward pass is at perturbed parameters): nothing of an earlier
        // forward pass is left to read.
        self.stage = Stage::Idle;
        self.rows = 0;
        let rows = self.stage_batch(x, &targets)?;
        self.emit_zero()?;
        self.emit_forward(rows)?;
        self.emit_loss(rows, true, true)?;
        let slot = self.emit_backward(rows, config.inputs)?;
        let input_grad = self.scratch(slot).prefix(rows * self.spec().inputs());
        let params = self.spec().trained_count();
        let mut check_target = NetworkCheck {
            net: self,
            rows,
            params,
            inputs: config.inputs,
            input_grad,
        };
        check(&mut check_target, config)
    }
}
