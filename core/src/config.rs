//! Training configuration: loss, optimizer, regularisation, initialisation.

use crate::{Loss, OptimizerKind, Spec};

/// An optimizer and its hyperparameters. The learning rate can be changed
/// between steps with [`crate::Network::set_lr`], so schedules work.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Optimizer {
    /// Gradient descent: `w -= lr · g`. With the whole data set as one batch
    /// this is batch gradient descent; with small batches, minibatch SGD.
    Sgd {
        /// Learning rate.
        lr: f32,
    },
    /// SGD with momentum (PyTorch's form): `v = μ v + g`, `w -= lr · v`.
    Momentum {
        /// Learning rate.
        lr: f32,
        /// Momentum μ in `[0, 1)`.
        momentum: f32,
    },
    /// Adam with bias correction.
    Adam {
        /// Learning rate.
        lr: f32,
        /// β1 in `[0, 1)`.
        beta1: f32,
        /// β2 in `[0, 1)`.
        beta2: f32,
        /// ε > 0.
        eps: f32,
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
        lr: f32,
    },
}

impl Optimizer {
    /// Plain (minibatch) gradient descent.
    pub const fn sgd(lr: f32) -> Self {
        Optimizer::Sgd { lr }
    }
    /// SGD with momentum.
    pub const fn momentum(lr: f32, momentum: f32) -> Self {
        Optimizer::Momentum { lr, momentum }
    }
    /// Adam with the usual defaults β1 = 0.9, β2 = 0.999, ε = 1e-8.
    pub const fn adam(lr: f32) -> Self {
        Optimizer::Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
    /// Gradient descent fused into backward (no gradient buffer); see
    /// [`Optimizer::FusedSgd`].
    pub const fn fused_sgd(lr: f32) -> Self {
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
    pub const fn lr(&self) -> f32 {
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
/// const NET: Spec = Spec::new(&[Layer::dense(4, 8), Layer::relu(), Layer::dense(8, 3)]);
/// const CFG: Config = Config::new(16, Loss::SoftmaxCrossEntropy, Optimizer::adam(1e-3)).with_l2(1e-4);
/// static mut ARENA: [f32; CFG.arena_len(&NET)] = [0.0; CFG.arena_len(&NET)];
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
    /// to the loss and `2λW` to their gradient.
    pub l2: f32,
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
    pub const fn with_l2(mut self, l2: f32) -> Self {
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
}
