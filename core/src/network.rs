//! The network: lowering forward, backward and the optimizer step into ops.

use crate::spec::Layout;
use crate::{Activation, Config, Error, Init, Layer, Operand, Optimizer, Rng, Spec};
use microprop_hal::{op, Backend, Element, LossKind, Op, Span};

/// Targets for one batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Targets<'a, E> {
    /// One class index per row (softmax cross-entropy, hinge).
    Labels(&'a [usize]),
    /// `rows × outputs` values (MSE).
    Values(&'a [E]),
}

impl<'a, E> Targets<'a, E> {
    /// Rows `start .. start + rows` of these targets (clamped).
    pub fn rows(&self, start: usize, rows: usize, outputs: usize) -> Targets<'a, E> {
        fn sub<T>(s: &[T], a: usize, n: usize) -> &[T] {
            let a = a.min(s.len());
            let b = a.saturating_add(n).min(s.len());
            s.get(a..b).unwrap_or(&[])
        }
        match *self {
            Targets::Labels(l) => Targets::Labels(sub(l, start, rows)),
            Targets::Values(v) => Targets::Values(sub(
                v,
                start.saturating_mul(outputs),
                rows.saturating_mul(outputs),
            )),
        }
    }
}

/// Loss and accuracy over a data set.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Evaluation {
    /// Mean data loss per sample (without the L2 term).
    pub loss: f64,
    /// Fraction of samples whose arg-max output is the label (label losses only).
    pub accuracy: Option<f64>,
    /// Samples evaluated.
    pub samples: usize,
}

/// Where the model is in the forward → loss → backward sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Idle,
    Forward,
    Loss,
}

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

/// A network bound to a backend: parameters, gradients, optimizer state and
/// activations all live in the backend's one arena.
///
/// The PyTorch habits map one to one: [`forward`](Network::forward),
/// [`loss`](Network::loss), [`backward`](Network::backward),
/// [`zero_grad`](Network::zero_grad), [`step`](Network::step); or
/// [`train_step`](Network::train_step) for all five.
pub struct Network<'s, B: Backend> {
    backend: B,
    spec: Spec<'s>,
    layout: Layout,
    config: Config,
    lr: f64,
    /// The hyperparameters in the element type, converted once.
    hyper: Hyper<B::Elem>,
    adam_t: u64,
    beta1_t: f64,
    beta2_t: f64,
    rows: usize,
    stage: Stage,
    /// Scratch slot that holds the output gradient after `loss`, and the
    /// input gradient after `backward`.
    grad_slot: usize,
}

/// `Result` with this crate's error for backend `B`.
pub type Result<T, B> = core::result::Result<T, Error<<B as Backend>::Error>>;

/// A hyperparameter as element type `E` holds it, widened back to `f64`
/// (exact for f32 and f64). Quantities derived from several
/// hyperparameters are computed from these values, so that an f32 network
/// gets the same numbers as from f32 hyperparameters, and an f64 network
/// the exact ones.
pub(crate) fn at<E: Element>(v: f64) -> f64 {
    E::from_f64(v).to_f64()
}

/// The hyperparameters as the ops take them: converted to the element type
/// once, by [`Network::new`] and [`Network::set_lr`], so that a training
/// step converts nothing (on a Cortex-M4F every `f64` conversion is a
/// software routine).
#[derive(Debug, Clone, Copy)]
struct Hyper<E> {
    lr: E,
    neg_lr: E,
    /// L2 strength λ.
    l2: E,
    /// `2λ`, the L2 gradient's factor.
    two_l2: E,
    /// Fused SGD's weight decay `1 − 2·lr·λ`.
    decay: E,
    momentum: E,
    beta1: E,
    beta2: E,
    eps: E,
    /// β1 and β2 at element precision, widened, for Adam's clock.
    beta1_wide: f64,
    beta2_wide: f64,
}

impl<E: Element> Hyper<E> {
    fn new(config: &Config, lr: f64) -> Self {
        let (momentum, beta1, beta2, eps) = match config.optimizer {
            Optimizer::Momentum { momentum, .. } => (momentum, 0.0, 0.0, 0.0),
            Optimizer::Adam {
                beta1, beta2, eps, ..
            } => (0.0, beta1, beta2, eps),
            Optimizer::Sgd { .. } | Optimizer::FusedSgd { .. } => (0.0, 0.0, 0.0, 0.0),
        };
        Hyper {
            lr: E::from_f64(lr),
            neg_lr: E::from_f64(-lr),
            l2: E::from_f64(config.l2),
            two_l2: E::from_f64(2.0 * config.l2),
            decay: E::from_f64(1.0 - at::<E>(lr) * 2.0 * at::<E>(config.l2)),
            momentum: E::from_f64(momentum),
            beta1: E::from_f64(beta1),
            beta2: E::from_f64(beta2),
            eps: E::from_f64(eps),
            beta1_wide: at::<E>(beta1),
            beta2_wide: at::<E>(beta2),
        }
    }
}

/// `v` is finite and non-negative at element precision.
fn finite_nonneg<E: Element>(v: f64) -> bool {
    let v = at::<E>(v);
    v.is_finite() && v >= 0.0
}

/// `v` is in `[0, 1)` at element precision.
fn unit_interval<E: Element>(v: f64) -> bool {
    let v = at::<E>(v);
    v.is_finite() && (0.0..1.0).contains(&v)
}

/// Check hyperparameters that would otherwise poison the arena silently, at
/// the precision of element type `E` (a momentum of `1 - 1e-9` is 1 in f32).
fn check_config<E: Element, BE>(
    spec: &Spec,
    config: &Config,
) -> core::result::Result<(), Error<BE>> {
    let bad = |name| Err(Error::Hyperparameter { name });
    if !finite_nonneg::<E>(config.optimizer.lr()) {
        return bad("lr");
    }
    match config.optimizer {
        Optimizer::Sgd { .. } | Optimizer::FusedSgd { .. } => {}
        Optimizer::Momentum { momentum, .. } => {
            if !unit_interval::<E>(momentum) {
                return bad("momentum");
            }
        }
        Optimizer::Adam {
            beta1, beta2, eps, ..
        } => {
            if !unit_interval::<E>(beta1) {
                return bad("beta1");
            }
            if !unit_interval::<E>(beta2) {
                return bad("beta2");
            }
            let eps = at::<E>(eps);
            if !(eps.is_finite() && eps > 0.0) {
                return bad("eps");
            }
        }
    }
    if !finite_nonneg::<E>(config.l2) {
        return bad("l2");
    }
    if let LossKind::Hinge { margin } = config.loss {
        if !finite_nonneg::<E>(margin) {
            return bad("margin");
        }
    }
    for layer in spec.layers() {
        if let Layer::Activation(a) = layer {
            match *a {
                Activation::LeakyRelu { slope } if !at::<E>(slope).is_finite() => {
                    return bad("slope")
                }
                Activation::Elu { alpha } if !at::<E>(alpha).is_finite() => return bad("alpha"),
                _ => {}
            }
        }
    }
    if config.loss.uses_labels() && spec.outputs() < 2 {
        return Err(Error::LossWidth {
            outputs: spec.outputs(),
        });
    }
    if config.batch == 0 {
        return Err(Error::EmptyBatch);
    }
    Ok(())
}

impl<'s, B: Backend> Network<'s, B> {
    /// Bind `spec` to `backend` under `config`, and initialise the weights
    /// from `config.seed`.
    ///
    /// Fails with [`Error::ArenaTooSmall`] when the backend's arena is shorter
    /// than [`Config::arena_len`], and with [`Error::Hyperparameter`] for a
    /// learning rate, momentum or β outside its range.
    pub fn new(spec: Spec<'s>, backend: B, config: Config) -> Result<Self, B> {
        // Re-validate: a `Spec` built at run time with `try_new` is valid, but
        // this keeps `new` honest for any spec value.
        let spec = Spec::try_new(spec.layers())?;
        check_config::<B::Elem, _>(&spec, &config)?;
        let layout = spec.layout(config.batch, config.optimizer.kind());
        if backend.arena_len() < layout.len {
            return Err(Error::ArenaTooSmall {
                needed: layout.len,
                available: backend.arena_len(),
            });
        }
        let mut net = Network {
            backend,
            spec,
            layout,
            config,
            lr: config.optimizer.lr(),
            hyper: Hyper::new(&config, config.optimizer.lr()),
            adam_t: 0,
            beta1_t: 1.0,
            beta2_t: 1.0,
            rows: 0,
            stage: Stage::Idle,
            grad_slot: 0,
        };
        net.reset(config.seed)?;
        Ok(net)
    }

    /// Re-initialise the weights from `seed`, zero the biases, gradients and
    /// optimizer state, and restart Adam's step count.
    pub fn reset(&mut self, seed: u64) -> Result<(), B> {
        let mut rng = Rng::new(seed);
        let layers = self.spec.layers();
        for (i, layer) in layers.iter().enumerate() {
            let (fan_in, fan_out) = match *layer {
                Layer::Dense { inputs, outputs } => (inputs, outputs),
                Layer::Maxout {
                    inputs,
                    outputs,
                    pieces,
                } => (inputs, outputs * pieces),
                _ => continue,
            };
            let next_is_rectifier = matches!(
                layers.get(i + 1),
                Some(Layer::Activation(
                    Activation::Relu | Activation::LeakyRelu { .. } | Activation::Elu { .. }
                ))
            );
            let he = match self.config.init {
                Init::He => true,
                Init::Xavier => false,
                Init::Auto => next_is_rectifier,
            };
            let bound = if he {
                libm::sqrt(6.0 / fan_in as f64)
            } else {
                libm::sqrt(6.0 / (fan_in + fan_out) as f64)
            };
            let s = self.spans(i, 0);
            let mut chunk = [B::Elem::ZERO; 64];
            let mut done = 0;
            while done < s.weights.len {
                let n = (s.weights.len - done).min(chunk.len());
                for c in chunk.iter_mut().take(n) {
                    *c = B::Elem::from_f64(rng.uniform(-bound, bound));
                }
                self.backend
                    .upload(s.weights.offset + done, &chunk[..n])
                    .map_err(Error::Backend)?;
                done += n;
            }
            self.exec(&Op::Fill(op::Fill {
                dst: s.bias,
                value: B::Elem::ZERO,
            }))?;
        }
        let zero = B::Elem::ZERO;
        self.exec(&Op::Fill(op::Fill {
            dst: self.layout.grads,
            value: zero,
        }))?;
        self.exec(&Op::Fill(op::Fill {
            dst: self.layout.state,
            value: zero,
        }))?;
        self.adam_t = 0;
        self.beta1_t = 1.0;
        self.beta2_t = 1.0;
        self.stage = Stage::Idle;
        self.backend.submit().map_err(Error::Backend)
    }

    /// The spec.
    pub fn spec(&self) -> &Spec<'s> {
        &self.spec
    }
    /// The arena layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }
    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }
    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }
    /// The backend, mutably (for reading the arena directly; issuing ops on
    /// the model's spans is the caller's responsibility).
    pub fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }
    /// Give the backend (and with it the arena) back.
    pub fn into_backend(self) -> B {
        self.backend
    }
    /// Rows of the last forward pass (0 before any).
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Optimizer steps taken (Adam's `t`).
    pub fn steps(&self) -> u64 {
        self.adam_t
    }

    /// Adam's clock `(t, β1ᵗ, β2ᵗ)`, for snapshots (the divergence guard).
    pub(crate) fn clock(&self) -> (u64, f64, f64) {
        (self.adam_t, self.beta1_t, self.beta2_t)
    }

    /// Restore a clock taken with [`Network::clock`].
    pub(crate) fn set_clock(&mut self, (t, b1, b2): (u64, f64, f64)) {
        self.adam_t = t;
        self.beta1_t = b1;
        self.beta2_t = b2;
    }

    /// The current learning rate, as configured or last set (the steps use
    /// it rounded to the element type).
    pub fn lr(&self) -> f64 {
        self.lr
    }

    /// Change the learning rate for the following steps (for schedules).
    /// Rejected with [`Error::Hyperparameter`] unless finite and
    /// non-negative in the element type.
    pub fn set_lr(&mut self, lr: f64) -> Result<(), B> {
        if !finite_nonneg::<B::Elem>(lr) {
            return Err(Error::Hyperparameter { name: "lr" });
        }
        self.lr = lr;
        self.hyper = Hyper::new(&self.config, lr);
        Ok(())
    }

    pub(crate) fn exec(&mut self, op: &Op<B::Elem>) -> Result<(), B> {
        self.backend.execute(op).map_err(Error::Backend)
    }

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

    fn loss_scalar(&self) -> Span {
        self.layout.scalars.slice(0, 1)
    }
    fn count_scalar(&self) -> Span {
        self.layout.scalars.slice(1, 1)
    }

    // ---------------------------------------------------------------- checks

    /// Rows in `x` (any number), or why `x` is not valid input data: empty,
    /// not a whole number of rows, or not finite.
    fn check_rows(&self, x: &[B::Elem]) -> Result<usize, B> {
        let n_in = self.spec.inputs();
        if x.is_empty() {
            return Err(Error::EmptyBatch);
        }
        // `n_in == 0` first: no division by zero (and no panic path).
        if n_in == 0 || x.len() % n_in != 0 {
            return Err(Error::Length {
                what: Operand::Input,
                expected: n_in,
                got: x.len(),
            });
        }
        if let Some(index) = x.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: Operand::Input,
                index,
            });
        }
        Ok(x.len() / n_in)
    }

    /// Rows in `x`, or why `x` is not a valid batch (also: over capacity).
    fn check_input(&self, x: &[B::Elem]) -> Result<usize, B> {
        let rows = self.check_rows(x)?;
        if rows > self.layout.batch {
            return Err(Error::BatchTooLarge {
                rows,
                capacity: self.layout.batch,
            });
        }
        Ok(rows)
    }

    fn check_targets(&self, t: &Targets<'_, B::Elem>, rows: usize) -> Result<(), B> {
        let classes = self.spec.outputs();
        let wants_labels = self.config.loss.uses_labels();
        match *t {
            Targets::Labels(labels) => {
                if !wants_labels {
                    return Err(Error::TargetKind { wants_labels });
                }
                if labels.len() != rows {
                    return Err(Error::Length {
                        what: Operand::Target,
                        expected: rows,
                        got: labels.len(),
                    });
                }
                if let Some(index) = labels.iter().position(|&l| l >= classes) {
                    return Err(Error::LabelOutOfRange {
                        index,
                        label: labels[index],
                        classes,
                    });
                }
            }
            Targets::Values(values) => {
                if wants_labels {
                    return Err(Error::TargetKind { wants_labels });
                }
                if values.len() != rows * classes {
                    return Err(Error::Length {
                        what: Operand::Target,
                        expected: rows * classes,
                        got: values.len(),
                    });
                }
                if let Some(index) = values.iter().position(|v| !v.is_finite()) {
                    return Err(Error::NonFinite {
                        what: Operand::Target,
                        index,
                    });
                }
            }
        }
        Ok(())
    }

    fn upload_targets(&mut self, t: &Targets<'_, B::Elem>) -> Result<(), B> {
        let off = self.layout.target.offset;
        match *t {
            Targets::Values(v) => self.backend.upload(off, v).map_err(Error::Backend),
            Targets::Labels(labels) => {
                let mut chunk = [B::Elem::ZERO; 64];
                for (c, part) in labels.chunks(chunk.len()).enumerate() {
                    for (dst, &l) in chunk.iter_mut().zip(part) {
                        *dst = B::Elem::from_usize(l);
                    }
                    self.backend
                        .upload(off + c * 64, &chunk[..part.len()])
                        .map_err(Error::Backend)?;
                }
                Ok(())
            }
        }
    }

    // ------------------------------------------------------------ lowering

    /// Issue the forward ops for `rows` rows already in the input span.
    pub(crate) fn emit_forward(&mut self, rows: usize) -> Result<(), B> {
        let one = B::Elem::ONE;
        let zero = B::Elem::ZERO;
        let layers = self.spec.layers();
        let mut i = 0;
        while let Some(&layer) = layers.get(i) {
            let s = self.spans(i, rows);
            i += 1;
            match layer {
                Layer::Dense { inputs, outputs } => {
                    self.exec(&Op::Gemm(op::Gemm {
                        m: rows,
                        n: outputs,
                        k: inputs,
                        a: s.input,
                        trans_a: false,
                        b: s.weights,
                        trans_b: true,
                        c: s.output,
                        alpha: one,
                        beta: zero,
                    }))?;
                    if let Some(&Layer::Activation(a)) = layers.get(i) {
                        // Dense then activation: one fused pass writes the
                        // pre-activation `z = xWᵀ + b` (kept in the dense
                        // output, which ActivateBackward reads as `x`) and
                        // `f(z)` into the activation layer's output.
                        let y = self.spans(i, rows).output;
                        i += 1;
                        self.exec(&Op::BiasActivate(op::BiasActivate {
                            act: a.map(B::Elem::from_f64),
                            bias: s.bias,
                            x: s.output,
                            y,
                            rows,
                            cols: outputs,
                        }))?;
                    } else {
                        self.exec(&Op::BiasAdd(op::BiasAdd {
                            bias: s.bias,
                            out: s.output,
                            rows,
                            cols: outputs,
                        }))?;
                    }
                }
                Layer::Maxout {
                    inputs,
                    outputs,
                    pieces,
                } => {
                    let np = outputs * pieces;
                    self.exec(&Op::Gemm(op::Gemm {
                        m: rows,
                        n: np,
                        k: inputs,
                        a: s.input,
                        trans_a: false,
                        b: s.weights,
                        trans_b: true,
                        c: s.pieces,
                        alpha: one,
                        beta: zero,
                    }))?;
                    self.exec(&Op::BiasAdd(op::BiasAdd {
                        bias: s.bias,
                        out: s.pieces,
                        rows,
                        cols: np,
                    }))?;
                    self.exec(&Op::Maxout(op::Maxout {
                        x: s.pieces,
                        y: s.output,
                        rows,
                        units: outputs,
                        k: pieces,
                    }))?;
                }
                Layer::Activation(a) => self.exec(&Op::Activate(op::Activate {
                    act: a.map(B::Elem::from_f64),
                    x: s.input,
                    y: s.output,
                }))?,
                Layer::Softmax => self.exec(&Op::Softmax(op::Softmax {
                    x: s.input,
                    y: s.output,
                    rows,
                    cols: s.out_width,
                }))?,
            }
        }
        Ok(())
    }

    /// Issue the loss (and, with `grad`, its gradient into scratch slot 0)
    /// for `rows` rows whose targets are uploaded. Adds the L2 term.
    pub(crate) fn emit_loss(&mut self, rows: usize, grad: bool, l2: bool) -> Result<(), B> {
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
        if l2 && self.config.l2 > 0.0 {
            let lambda = self.hyper.l2;
            for i in 0..self.spec.layers().len() {
                let s = self.spans(i, rows);
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
        Ok(())
    }

    /// Issue backprop from the output gradient in scratch slot 0,
    /// accumulating into the gradient span. With `input_grad`, the gradient
    /// with respect to the input batch is computed too. Returns the scratch
    /// slot that holds the last computed downstream gradient.
    pub(crate) fn emit_backward(&mut self, rows: usize, input_grad: bool) -> Result<usize, B> {
        self.emit_backward_with(rows, input_grad, false)
    }

    /// [`Self::emit_backward`]; with `fused`, each affine layer's SGD update
    /// is applied into its parameters (after its input gradient has been
    /// computed from the old weights) instead of accumulating gradients.
    fn emit_backward_with(
        &mut self,
        rows: usize,
        input_grad: bool,
        fused: bool,
    ) -> Result<usize, B> {
        let two_l2 = self.hyper.two_l2;
        let mut slot = 0;
        let n = self.spec.layers().len();
        for i in (0..n).rev() {
            let layer = self.spec.layers()[i];
            let s = self.spans(i, rows);
            let dy = self.layout.scratch[slot].prefix(rows * s.out_width);
            let want_dx = i > 0 || input_grad;
            match layer {
                Layer::Dense { inputs, outputs } => {
                    let shape = (rows, inputs, outputs);
                    self.emit_affine_backward(&s, dy, shape, slot, want_dx, fused)?;
                    if want_dx {
                        slot = 1 - slot;
                    }
                }
                Layer::Maxout {
                    inputs,
                    outputs,
                    pieces,
                } => {
                    let np = outputs * pieces;
                    let dz = self.layout.scratch[1 - slot].prefix(rows * np);
                    self.exec(&Op::MaxoutBackward(op::MaxoutBackward {
                        x: s.pieces,
                        dy,
                        dx: dz,
                        rows,
                        units: outputs,
                        k: pieces,
                    }))?;
                    slot = 1 - slot;
                    let shape = (rows, inputs, np);
                    self.emit_affine_backward(&s, dz, shape, slot, want_dx, fused)?;
                    if want_dx {
                        slot = 1 - slot;
                    }
                }
                Layer::Activation(a) => self.exec(&Op::ActivateBackward(op::ActivateBackward {
                    act: a.map(B::Elem::from_f64),
                    x: s.input,
                    y: s.output,
                    dy,
                    dx: dy,
                }))?,
                Layer::Softmax => self.exec(&Op::SoftmaxBackward(op::SoftmaxBackward {
                    y: s.output,
                    dy,
                    dx: dy,
                    rows,
                    cols: s.out_width,
                }))?,
            }
            if !fused && self.config.l2 > 0.0 && s.weights.len > 0 {
                self.exec(&Op::Axpy(op::Axpy {
                    x: s.weights,
                    y: s.dweights,
                    alpha: two_l2,
                }))?;
            }
        }
        Ok(slot)
    }

    /// `dW += dzᵀ x`, `db += Σ dz`, and (with `want_dx`) `dx = dz W` into the
    /// other scratch slot. `shape` is `(rows, inputs, outputs)`.
    ///
    /// With `fused` (SGD during backward): `dx = dz W` first, from the old
    /// `W`; then one gemm `W ← (1 − 2·lr·λ)·W − lr·dzᵀx` (the L2 gradient
    /// `2λW` folded into `beta`) and `b ← b − lr·dz[r]` per row.
    fn emit_affine_backward(
        &mut self,
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
            self.exec(&Op::Gemm(op::Gemm {
                m: rows,
                n: inputs,
                k: outputs,
                a: dz,
                trans_a: false,
                b: s.weights,
                trans_b: false,
                c: self.layout.scratch[1 - slot].prefix(rows * inputs),
                alpha: one,
                beta: B::Elem::ZERO,
            }))?;
        }
        let neg_lr = self.hyper.neg_lr;
        let (c, alpha, beta) = if fused {
            (s.weights, neg_lr, self.hyper.decay)
        } else {
            (s.dweights, one, one)
        };
        self.exec(&Op::Gemm(op::Gemm {
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
        if fused {
            for r in 0..rows {
                self.exec(&Op::Axpy(op::Axpy {
                    x: dz.slice(r * outputs, outputs),
                    y: s.bias,
                    alpha: neg_lr,
                }))?;
            }
            return Ok(());
        }
        self.exec(&Op::BiasGrad(op::BiasGrad {
            dout: dz,
            dbias: s.dbias,
            rows,
            cols: outputs,
        }))
    }

    /// Issue the optimizer update over every parameter at once.
    fn emit_step(&mut self) -> Result<(), B> {
        let l = self.layout;
        let h = self.hyper;
        let lr = h.lr;
        match self.config.optimizer {
            // Applied during backward.
            Optimizer::FusedSgd { .. } => Ok(()),
            Optimizer::Sgd { .. } => self.exec(&Op::SgdStep(op::SgdStep {
                param: l.params,
                grad: l.grads,
                lr,
            })),
            Optimizer::Momentum { .. } => self.exec(&Op::MomentumStep(op::MomentumStep {
                param: l.params,
                grad: l.grads,
                velocity: l.state,
                lr,
                momentum: h.momentum,
            })),
            Optimizer::Adam { .. } => {
                self.adam_t += 1;
                self.beta1_t *= h.beta1_wide;
                self.beta2_t *= h.beta2_wide;
                let p = l.params.len;
                self.exec(&Op::AdamStep(op::AdamStep {
                    param: l.params,
                    grad: l.grads,
                    m: l.state.slice(0, p),
                    v: l.state.slice(p, p),
                    lr,
                    beta1: h.beta1,
                    beta2: h.beta2,
                    eps: h.eps,
                    bias1: B::Elem::from_f64(1.0 - self.beta1_t),
                    bias2: B::Elem::from_f64(1.0 - self.beta2_t),
                }))
            }
        }
    }

    /// [`Error::Fused`] for a call that needs the gradient buffer a fused-SGD
    /// network does not have.
    pub(crate) fn check_unfused(&self, called: &'static str) -> Result<(), B> {
        match self.config.optimizer {
            Optimizer::FusedSgd { .. } => Err(Error::Fused { called }),
            _ => Ok(()),
        }
    }

    fn emit_zero_grad(&mut self) -> Result<(), B> {
        self.exec(&Op::Fill(op::Fill {
            dst: self.layout.grads,
            value: B::Elem::ZERO,
        }))
    }

    fn read_scalar(&mut self, span: Span) -> Result<B::Elem, B> {
        let mut v = [B::Elem::ZERO];
        self.backend
            .download(span.offset, &mut v)
            .map_err(Error::Backend)?;
        Ok(v[0])
    }

    // ---------------------------------------------------------- public API

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

    /// Copy the last forward pass's `rows × outputs` outputs into `out`.
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
    /// returned loss includes the L2 term.
    pub fn loss(&mut self, targets: Targets<'_, B::Elem>) -> Result<B::Elem, B> {
        if self.stage == Stage::Idle {
            return Err(Error::OutOfOrder {
                called: "loss",
                needs: "forward",
            });
        }
        let rows = self.rows;
        self.check_targets(&targets, rows)?;
        self.upload_targets(&targets)?;
        self.emit_loss(rows, true, true)?;
        self.stage = Stage::Loss;
        self.read_scalar(self.loss_scalar())
    }

    /// Backpropagate the gradient of the last [`Network::loss`], adding it to
    /// the parameters' gradients (as PyTorch does: call
    /// [`Network::zero_grad`] between steps).
    pub fn backward(&mut self) -> Result<(), B> {
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
        self.emit_zero_grad()
    }

    /// Apply the optimizer to the accumulated gradients.
    pub fn step(&mut self) -> Result<(), B> {
        self.check_unfused("step")?;
        self.emit_step()?;
        self.backend.submit().map_err(Error::Backend)
    }

    /// One training step on a batch: zero the gradients, forward, loss,
    /// backward, optimizer step. Returns the loss (with the L2 term) before
    /// the step. Nothing changes if `x` or `targets` is rejected.
    ///
    /// On a recording backend this whole step is one submission.
    pub fn train_step(
        &mut self,
        x: &[B::Elem],
        targets: Targets<'_, B::Elem>,
    ) -> Result<B::Elem, B> {
        let rows = self.check_input(x)?;
        self.check_targets(&targets, rows)?;
        self.backend
            .upload(self.layout.input.offset, x)
            .map_err(Error::Backend)?;
        self.upload_targets(&targets)?;
        let fused = matches!(self.config.optimizer, Optimizer::FusedSgd { .. });
        if !fused {
            self.emit_zero_grad()?;
        }
        self.emit_forward(rows)?;
        self.emit_loss(rows, true, true)?;
        self.grad_slot = self.emit_backward_with(rows, false, fused)?;
        self.emit_step()?;
        self.rows = rows;
        self.stage = Stage::Forward;
        // `download` executes everything issued before it: reading the loss
        // ends the step as one submission, also on devices whose memory the
        // host cannot map (a `submit` first would cost a second one there).
        self.read_scalar(self.loss_scalar())
    }

    /// Mean data loss and accuracy over a whole data set (`x` of
    /// `n × inputs`, `targets` for `n` rows), in batches of the planned
    /// capacity. Parameters and gradients are not changed.
    pub fn evaluate(
        &mut self,
        x: &[B::Elem],
        targets: Targets<'_, B::Elem>,
    ) -> Result<Evaluation, B> {
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
        self.exec(&Op::Fill(op::Fill {
            dst: self.count_scalar(),
            value: B::Elem::ZERO,
        }))?;
        let mut loss_sum = 0.0f64;
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
            start += rows;
        }
        self.rows = 0;
        self.stage = Stage::Idle;
        let accuracy = if labels {
            Some(self.read_scalar(self.count_scalar())?.to_f64() / n as f64)
        } else {
            None
        };
        Ok(Evaluation {
            loss: loss_sum / n as f64,
            accuracy,
            samples: n,
        })
    }

    /// Copy every parameter (layer after layer, weights `[out, in]` row-major
    /// then biases) into `out`, of length [`Spec::param_count`]. Saving a
    /// model is this copy.
    pub fn parameters(&mut self, out: &mut [B::Elem]) -> Result<(), B> {
        self.read_span(self.layout.params, out, Operand::Parameters)
    }

    /// Copy the accumulated gradients into `out` (same layout as
    /// [`Network::parameters`]).
    pub fn gradients(&mut self, out: &mut [B::Elem]) -> Result<(), B> {
        self.check_unfused("gradients")?;
        self.read_span(self.layout.grads, out, Operand::Gradients)
    }

    /// Replace every parameter with `params` (same layout as
    /// [`Network::parameters`]). Rejected, with the model unchanged, when
    /// the length is wrong or a value is not finite.
    pub fn load_parameters(&mut self, params: &[B::Elem]) -> Result<(), B> {
        let p = self.layout.params;
        if params.len() != p.len {
            return Err(Error::Length {
                what: Operand::Parameters,
                expected: p.len,
                got: params.len(),
            });
        }
        if let Some(index) = params.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: Operand::Parameters,
                index,
            });
        }
        self.backend
            .upload(p.offset, params)
            .map_err(Error::Backend)
    }

    /// Download `span` into `out`, whose wrong length is reported as `what`.
    fn read_span(&mut self, span: Span, out: &mut [B::Elem], what: Operand) -> Result<(), B> {
        if out.len() != span.len {
            return Err(Error::Length {
                what,
                expected: span.len,
                got: out.len(),
            });
        }
        self.backend
            .download(span.offset, out)
            .map_err(Error::Backend)
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

    /// Validate and upload a batch and its targets without issuing ops.
    pub(crate) fn stage_batch(
        &mut self,
        x: &[B::Elem],
        targets: &Targets<'_, B::Elem>,
    ) -> Result<usize, B> {
        let rows = self.check_input(x)?;
        self.check_targets(targets, rows)?;
        self.backend
            .upload(self.layout.input.offset, x)
            .map_err(Error::Backend)?;
        self.upload_targets(targets)?;
        Ok(rows)
    }

    /// Zero the gradients (ops only).
    pub(crate) fn emit_zero(&mut self) -> Result<(), B> {
        self.emit_zero_grad()
    }
}
