//! Training configuration: loss, optimizer, regularisation, initialisation.

use microprop_hal::{OpKind, OpSet};

use crate::{Loss, OptimizerKind, Spec};

/// An optimizer and its hyperparameters. The learning rate can be changed
/// between steps with [`crate::Network::set_lr`], so schedules work.
///
/// Hyperparameters are `f64` here and are converted to the network's element
/// type ([`crate::Element::from_f64`]) when the ops are issued: an f64
/// network steps with `lr = 0.01` exactly, and an f32 network with
/// `0.01f32`, the value its f32 literal would have.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Optimizer {
    /// Gradient descent: `w -= lr · g`. With the whole data set as one batch
    /// this is batch gradient descent; with small batches, minibatch SGD.
    Sgd {
        /// Learning rate.
        lr: f64,
    },
    /// SGD with momentum (PyTorch's form): `v = μ v + g`, `w -= lr · v`.
    Momentum {
        /// Learning rate.
        lr: f64,
        /// Momentum μ in `[0, 1)`.
        momentum: f64,
    },
    /// Adam with bias correction.
    Adam {
        /// Learning rate.
        lr: f64,
        /// β1 in `[0, 1)`.
        beta1: f64,
        /// β2 in `[0, 1)`.
        beta2: f64,
        /// ε > 0.
        eps: f64,
    },
    /// Gradient descent fused into backward: each layer's update
    /// `W ← (1 − 2·lr·λ)·W − lr·dZᵀX`, `b ← b − lr·Σ dZ` is applied as soon
    /// as that layer's input gradient has been computed from the old `W`, so
    /// the arena has no gradient buffer (parameters + activations +
    /// scratch). Gives the weights of [`Optimizer::Sgd`] up to rounding.
    /// Only [`crate::Network::train_step`] trains: the calls that need a
    /// gradient buffer (`backward`, `step`, `gradients`) return
    /// [`crate::Error::Fused`]. Meant for batch 1 on a microcontroller,
    /// where the gradient buffer would be as large as the model.
    FusedSgd {
        /// Learning rate.
        lr: f64,
    },
}

impl Optimizer {
    /// Plain (minibatch) gradient descent.
    pub const fn sgd(lr: f64) -> Self {
        Optimizer::Sgd { lr }
    }
    /// SGD with momentum.
    pub const fn momentum(lr: f64, momentum: f64) -> Self {
        Optimizer::Momentum { lr, momentum }
    }
    /// Adam with the usual defaults β1 = 0.9, β2 = 0.999, ε = 1e-8.
    pub const fn adam(lr: f64) -> Self {
        Optimizer::Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
    /// Gradient descent fused into backward (no gradient buffer); see
    /// [`Optimizer::FusedSgd`].
    pub const fn fused_sgd(lr: f64) -> Self {
        Optimizer::FusedSgd { lr }
    }
    /// Which state the arena must hold.
    pub const fn kind(&self) -> OptimizerKind {
        match self {
            Optimizer::Sgd { .. } => OptimizerKind::Sgd,
            Optimizer::FusedSgd { .. } => OptimizerKind::FusedSgd,
            Optimizer::Momentum { .. } => OptimizerKind::Momentum,
            Optimizer::Adam { .. } => OptimizerKind::Adam,
        }
    }
    /// The configured learning rate.
    pub const fn lr(&self) -> f64 {
        match *self {
            Optimizer::Sgd { lr }
            | Optimizer::FusedSgd { lr }
            | Optimizer::Momentum { lr, .. }
            | Optimizer::Adam { lr, .. } => lr,
        }
    }
}

/// How weights are initialised (biases start at zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Init {
    /// He for layers followed by ReLU, leaky ReLU or ELU; Xavier otherwise.
    Auto,
    /// Xavier/Glorot uniform: `U(±sqrt(6 / (fan_in + fan_out)))`.
    Xavier,
    /// He/Kaiming uniform: `U(±sqrt(6 / fan_in))`.
    He,
}

/// Everything about training that is not the network's shape.
///
/// ```
/// use microprop::{Config, Layer, Loss, Optimizer, Spec};
/// use static_cell::ConstStaticCell;
/// const NET: Spec = Spec::new(&[Layer::dense(4, 8), Layer::relu(), Layer::dense(8, 3)]);
/// const CFG: Config = Config::new(16, Loss::SoftmaxCrossEntropy, Optimizer::adam(1e-3)).with_l2(1e-4);
/// // The arena, sized at compile time; `ARENA.try_take()` hands it out once.
/// static ARENA: ConstStaticCell<[f32; CFG.arena_len(&NET)]> = ConstStaticCell::new([0.0; CFG.arena_len(&NET)]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    /// Batch capacity: the most rows one call may carry.
    pub batch: usize,
    /// The loss.
    pub loss: Loss,
    /// The optimizer.
    pub optimizer: Optimizer,
    /// L2 regularisation strength λ: adds `λ · ΣW²` over weights (not biases)
    /// to the loss and `2λW` to their gradient. Converted to the element type
    /// when the ops are issued, like the optimizer's hyperparameters.
    pub l2: f64,
    /// Seed for weight initialisation.
    pub seed: u64,
    /// Initialisation scheme.
    pub init: Init,
}

impl Config {
    /// A configuration with no L2, seed 0 and [`Init::Auto`].
    pub const fn new(batch: usize, loss: Loss, optimizer: Optimizer) -> Self {
        Config {
            batch,
            loss,
            optimizer,
            l2: 0.0,
            seed: 0,
            init: Init::Auto,
        }
    }
    /// Set the L2 strength.
    pub const fn with_l2(mut self, l2: f64) -> Self {
        self.l2 = l2;
        self
    }
    /// Set the initialisation seed.
    pub const fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Set the initialisation scheme.
    pub const fn with_init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }
    /// Arena elements `spec` needs under this configuration.
    pub const fn arena_len(&self, spec: &Spec) -> usize {
        spec.arena_len(self.batch, self.optimizer.kind())
    }

    /// The ops a network of `spec` under this configuration issues: its
    /// layers' forward and backward ops, the loss, the optimizer's update
    /// (with L2, its terms), evaluation's count (for a loss with labels:
    /// MSE has no accuracy), and the fills and copies
    /// of construction and checkpoints. What other features issue is added
    /// by the user: [`OpKind::Anchor`] for
    /// [`Network::set_anchor`](crate::Network::set_anchor),
    /// [`OpKind::SumSquares`] for the [`guard`](crate::guard).
    ///
    /// A backend built for exactly this set (the CPU backend's `OPS`
    /// parameter) compiles only these kernels; [`Network::new`](crate::Network::new)
    /// refuses a backend that lacks one of them.
    ///
    /// ```
    /// use microprop::{Config, ErrorKind, Layer, Loss, Network, Optimizer, Spec, Targets};
    /// use microprop_cpu::CpuBackend;
    ///
    /// const NET: Spec = Spec::new(&[Layer::dense(2, 4), Layer::tanh(), Layer::dense(4, 1)]);
    /// const CFG: Config = Config::new(4, Loss::Mse, Optimizer::sgd(0.1));
    /// const OPS: u64 = CFG.ops(&NET).bits();
    ///
    /// let mut arena = [0.0f32; CFG.arena_len(&NET)];
    /// let mut net = Network::new(NET, CpuBackend::with_ops::<OPS>(&mut arena), CFG).unwrap();
    /// net.train_step(&[0.0; 8], Targets::Values(&[0.0; 4])).unwrap();
    ///
    /// // Adam's update is not in that set: refused before anything runs.
    /// const ADAM: Config = Config::new(4, Loss::Mse, Optimizer::adam(0.01));
    /// let mut arena = [0.0f32; ADAM.arena_len(&NET)];
    /// let err = Network::new(NET, CpuBackend::with_ops::<OPS>(&mut arena), ADAM).err();
    /// assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::Unsupported));
    /// ```
    pub const fn ops(&self, spec: &Spec) -> OpSet {
        let mut set = OpSet::of(&[OpKind::Fill, OpKind::Copy, OpKind::Loss]);
        // `evaluate`'s count of right answers: only a loss with labels has
        // an accuracy (MSE's firmware does not link the kernel).
        if self.loss.uses_labels() {
            set = set.with(OpKind::CountCorrect);
        }
        let layers = spec.layers();
        let mut i = 0;
        while i < layers.len() {
            set = set.union(layers[i].ops());
            i += 1;
        }
        set = set.with(match self.optimizer {
            Optimizer::Sgd { .. } => OpKind::SgdStep,
            Optimizer::Momentum { .. } => OpKind::MomentumStep,
            Optimizer::Adam { .. } => OpKind::AdamStep,
            // Applied in backward: a gemm into the weights, an axpy per row
            // into the biases.
            Optimizer::FusedSgd { .. } => OpKind::Axpy,
        });
        if self.l2 != 0.0 {
            set = set.with(OpKind::SumSquares).with(OpKind::Axpy);
        }
        set.with_loss(&self.loss)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use microprop_hal::Element;

    /// Hyperparameters are f64 literals now, converted with
    /// `Element::from_f64`; for an f32 network that must give the value the
    /// f32 literal gave when they were stored as f32 (rounding the decimal
    /// to f64 first, then to f32, could in principle differ from rounding
    /// it to f32 directly). Checked for every default and every literal the
    /// repository's specs, configs, examples and tests use.
    #[test]
    fn f64_literals_round_to_the_f32_literals() {
        macro_rules! same {
            ($($v:literal),* $(,)?) => {$(
                let wide: f64 = $v;
                let narrow: f32 = $v;
                assert_eq!(
                    <f32 as Element>::from_f64(wide).to_bits(),
                    narrow.to_bits(),
                    "{}",
                    stringify!($v)
                );
            )*};
        }
        same!(
            0.0, 1e-8, 1e-7, 1e-5, 1e-4, 1e-3, 2e-3, 0.005, 0.01, 0.0125, 0.013, 0.02, 0.025, 0.05,
            0.1, 0.2, 0.25, 0.3, 0.5, 0.7, 0.9, 0.99, 0.999, 1.0, 1.5, 2.0, 3.0, 20.0, 1e4, 1e5,
            1e6
        );
        // The defaults, through the constructors.
        let Optimizer::Adam {
            beta1, beta2, eps, ..
        } = Optimizer::adam(1e-3)
        else {
            unreachable!()
        };
        assert_eq!(<f32 as Element>::from_f64(beta1), 0.9f32);
        assert_eq!(<f32 as Element>::from_f64(beta2), 0.999f32);
        assert_eq!(<f32 as Element>::from_f64(eps), 1e-8f32);
        assert_eq!(Config::new(1, Loss::Mse, Optimizer::sgd(0.1)).l2, 0.0);
    }

    /// An f64 network gets the decimal value itself.
    #[test]
    fn f64_hyperparameters_are_the_decimal_values() {
        let c = Config::new(
            1,
            Loss::Hinge { margin: 0.1 },
            Optimizer::momentum(0.01, 0.9),
        )
        .with_l2(0.01);
        assert_eq!(<f64 as Element>::from_f64(c.l2), 0.01);
        assert_eq!(c.optimizer.lr(), 0.01);
        assert_ne!(c.l2, f64::from(0.01f32));
        assert_eq!(c.loss, Loss::Hinge { margin: 0.1 });
    }
}
