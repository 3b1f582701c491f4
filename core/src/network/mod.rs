//! The network: a spec bound to a backend's arena. Its parts: [`layout`]
//! (spans), [`checks`] (input validation), [`lowering`] (forward, loss,
//! backward and step as ops, layer by layer through [`crate::layers`]),
//! [`api`] (the public training API), [`params`] (parameter I/O), and the
//! blob and gradient-check methods ([`persist`], [`gradcheck`](mod@gradcheck)).

mod anchor;
mod api;
mod checks;
mod gradcheck;
mod layout;
mod lowering;
mod params;
mod persist;
mod plan;

use checks::{check_config, finite_nonneg};
pub(crate) use layout::{Cursor, LayerSpans};
#[cfg(feature = "plan")]
pub use plan::plan_slot;

use crate::spec::Layout;
use crate::{Activation, Config, Error, Init, Layer, Optimizer, Rng, Spec};
use microprop_hal::{op, Backend, Element, Op, OpSet};

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
    /// Mean data loss per sample (without the L2 and L2-SP terms).
    pub loss: f64,
    /// Fraction of samples whose arg-max output is the label (label losses only).
    pub accuracy: Option<f64>,
    /// Samples evaluated.
    pub samples: usize,
}

/// Where the model is in the forward → loss → backward sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// No forward pass to read (new, reset, after `evaluate` or a gradient
    /// check).
    Idle,
    /// The last forward pass's outputs are still readable with `output`, but
    /// the parameters changed since (`step`, `train_step`,
    /// `load_parameters`, `load_blob`, a guard restore): `loss` and
    /// `backward` would mix old activations with new parameters, so they
    /// need a new `forward`. (Second, with the discriminant `Forward` had:
    /// `train_step` stores it, and the same constant kept the firmware's
    /// per-step count on the Cortex-M0 where it was.)
    Stale,
    /// The activations are the last forward pass's, at the current
    /// parameters: `loss` may follow.
    Forward,
    /// `loss` left the output gradient: `backward` may follow.
    Loss,
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
    pub(crate) hyper: Hyper<B::Elem>,
    adam_t: u64,
    beta1_t: f64,
    beta2_t: f64,
    rows: usize,
    stage: Stage,
    /// Scratch slot that holds the output gradient after `loss`, and the
    /// input gradient after `backward`.
    grad_slot: usize,
    /// [`Spec::trained_count`] and [`Spec::first_trained`], computed once.
    trained: usize,
    first_trained: usize,
    /// The L2-SP anchor's device blob (see [`Network::set_anchor`]), with
    /// its payload kind from the validated header: read from where it lies
    /// (flash), never copied.
    anchor: Option<(&'s [u8], crate::blob::Payload)>,
    /// The recorded training step ([`Network::set_plan`]), and whether a
    /// step is being recorded into it.
    #[cfg(feature = "plan")]
    plan: Option<plan::Plan<'s, B::Elem>>,
    #[cfg(feature = "plan")]
    recording: bool,
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
pub(crate) struct Hyper<E> {
    pub(crate) lr: E,
    pub(crate) neg_lr: E,
    /// L2 strength λ.
    l2: E,
    /// `λ > 0` (checked once: an f64 comparison is a library call on a
    /// Cortex-M4F).
    has_l2: bool,
    /// `has_l2`, or an L2-SP anchor with `λ > 0` is set: the one flag the
    /// training path tests, so that a network with neither penalty pays
    /// one branch, as it did before L2-SP.
    pub(crate) penalty: bool,
    /// The L2-SP strength λ (0 without an anchor).
    anchor_l: E,
    /// `−2λ`, the L2-SP gradient's factor on `w₀ − w`.
    anchor_neg_two: E,
    /// An anchor with `λ > 0` is set.
    has_anchor: bool,
    /// `2λ`, the L2 gradient's factor.
    two_l2: E,
    /// Fused SGD's weight decay `1 − 2·lr·λ`.
    pub(crate) decay: E,
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
            has_l2: E::from_f64(config.l2) > E::ZERO,
            penalty: E::from_f64(config.l2) > E::ZERO,
            anchor_l: E::ZERO,
            anchor_neg_two: E::ZERO,
            has_anchor: false,
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

    /// Set the L2-SP strength (0: no anchor), keeping the rest.
    pub(crate) fn with_anchor(mut self, lambda: f64) -> Self {
        self.anchor_l = E::from_f64(lambda);
        self.anchor_neg_two = E::from_f64(-2.0 * at::<E>(lambda));
        self.has_anchor = self.anchor_l > E::ZERO;
        self.penalty = self.has_l2 || self.has_anchor;
        self
    }
}

impl<'s, B: Backend> Network<'s, B> {
    /// Bind `spec` to `backend` under `config`, and initialise the weights
    /// from `config.seed`.
    ///
    /// Fails with [`Error::ArenaTooSmall`] when the backend's arena is shorter
    /// than [`Config::arena_len`], with [`Error::Spec`]`(`[`SpecError::TooLarge`](crate::SpecError::TooLarge)`)`
    /// when the arena's size for this batch overflows `usize`, and with [`Error::Hyperparameter`] for a
    /// learning rate, momentum or β outside its range.
    // Inlined: a firmware's constant spec and config then fold its checks
    // and its layout at compile time (about 7 KB of flash on XOR).
    #[inline(always)]
    pub fn new(spec: Spec<'s>, backend: B, config: Config) -> Result<Self, B> {
        // Re-validate: a `Spec` built at run time with `try_new` is valid, but
        // this keeps `new` honest for any spec value.
        let spec = Spec::try_new(spec.layers())?.try_with_training(spec.training())?;
        // Ops first: a backend without the optimizer's op (Adam on a
        // fixed-point backend) is the error to report, not Adam's ε.
        need_ops::<B>(&backend, config.ops(&spec))?;
        check_config::<B::Elem, _>(&spec, &config)?;
        let layout = spec.try_layout(config.batch, config.optimizer.kind())?;
        Self::bind(spec, backend, config, layout)
    }

    /// A network that only runs forward ([`Network::forward`],
    /// [`Network::predict`], [`Network::classify`], [`Network::output`]) on
    /// up to `batch` rows, in an arena of
    /// [`Spec::inference_arena_len`]`(batch)` elements: the parameters, the
    /// input and two buffers the layers' outputs take in turn. Load its
    /// parameters with [`Network::load_blob`] or
    /// [`Network::load_parameters`] (it starts from seed 0's
    /// initialisation). The calls that train or need a loss return
    /// [`Error::InferenceOnly`] and change nothing.
    ///
    /// ```
    /// use microprop::{Layer, Network, Spec};
    /// use microprop_cpu::CpuBackend;
    /// const NET: Spec = Spec::new(&[Layer::dense(4, 8), Layer::relu(), Layer::dense(8, 3)]);
    /// let mut arena = [0.0f32; NET.inference_arena_len(1)];
    /// let mut net = Network::new_inference(NET, CpuBackend::new(&mut arena), 1).unwrap();
    /// let mut class = [0usize];
    /// net.classify(&[0.5, -1.0, 0.25, 2.0], &mut class).unwrap();
    /// assert!(class[0] < 3);
    /// ```
    pub fn new_inference(spec: Spec<'s>, backend: B, batch: usize) -> Result<Self, B> {
        let spec = Spec::try_new(spec.layers())?.try_with_training(spec.training())?;
        let config = Config::new(
            batch,
            crate::Loss::SoftmaxCrossEntropy,
            crate::Optimizer::fused_sgd(0.01),
        );
        check_config::<B::Elem, _>(&spec, &config)?;
        let layout = spec.try_inference_layout(batch)?;
        need_ops::<B>(&backend, spec.inference_ops())?;
        Self::bind(spec, backend, config, layout)
    }

    /// Check the arena's length against `layout`, bind, initialise from
    /// `config.seed`.
    fn bind(spec: Spec<'s>, backend: B, config: Config, layout: Layout) -> Result<Self, B> {
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
            trained: spec.trained_count(),
            first_trained: spec.first_trained(),
            anchor: None,
            #[cfg(feature = "plan")]
            plan: None,
            #[cfg(feature = "plan")]
            recording: false,
        };
        net.reset(config.seed)?;
        Ok(net)
    }

    /// Re-initialise the weights from `seed`, zero the biases, gradients and
    /// optimizer state, and restart Adam's step count.
    pub fn reset(&mut self, seed: u64) -> Result<(), B> {
        let mut rng = Rng::new(seed);
        let layers = self.spec.layers();
        let mut cursor = self.first();
        for (i, layer) in layers.iter().enumerate() {
            let s = self.spans_at(cursor, 0);
            cursor = self.next(cursor);
            let (fan_in, fan_out) = match *layer {
                Layer::Dense { inputs, outputs } => (inputs, outputs),
                Layer::Maxout {
                    inputs,
                    outputs,
                    pieces,
                } => (inputs, outputs * pieces),
                // A kernel's receptive field: channels · kh · kw in, outputs
                // · kh · kw out (Glorot's and He's convention for convolutions).
                Layer::Conv { window, outputs } => (
                    window.channels * window.window_len(),
                    outputs * window.window_len(),
                ),
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
        self.plan_changed();
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

    /// The parameters are about to change behind the last forward pass:
    /// `loss` and `backward` need a new `forward` (its outputs stay
    /// readable). Called before the write, so that a write that fails
    /// halfway leaves no stage that trusts the activations.
    /// (From `Idle` too, unconditionally: a branch here moved the
    /// firmware's per-step count through LTO. `output` then reads the last
    /// forward pass's outputs, if any, or nothing: `rows` is 0 before the
    /// first, after `evaluate` and after a gradient check.)
    pub(crate) fn params_changed(&mut self) {
        self.stage = Stage::Stale;
    }

    /// The arena's working space (input, activations, scratch, targets,
    /// scalars) was overwritten from outside (a checkpoint restore staged
    /// there): no forward pass is left to read.
    pub(crate) fn working_space_overwritten(&mut self) {
        self.stage = Stage::Idle;
        self.rows = 0;
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
        self.plan_changed();
        let lambda = self.hyper.anchor_l.to_f64();
        self.hyper = Hyper::new(&self.config, lr).with_anchor(lambda);
        Ok(())
    }

    /// The backend runs `kind` (a constant for a backend built for a fixed
    /// op set, so that what needs it is compiled out without it).
    #[inline(always)]
    pub(crate) fn can(&self, kind: microprop_hal::OpKind) -> bool {
        self.backend.ops().contains(kind)
    }

    pub(crate) fn exec(&mut self, op: &Op<B::Elem>) -> Result<(), B> {
        #[cfg(feature = "plan")]
        if self.recording {
            self.record(op);
        }
        self.backend.execute(op).map_err(Error::Backend)
    }
}

/// [`Error::MissingOp`] when `backend` cannot run one of `ops`.
pub(crate) fn need_ops<B: Backend>(backend: &B, ops: OpSet) -> Result<(), B> {
    match ops.missing_from(backend.ops()) {
        Some(op) => Err(Error::MissingOp { op }),
        None => Ok(()),
    }
}
