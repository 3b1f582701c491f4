//! A model is data: layer specs, and the `const fn`s that size its arena.

use crate::Activation;
use microprop_hal::op::Window;
use microprop_hal::{OpKind, OpSet, Span};

/// One layer of a feed-forward network.
///
/// Parameterised layers ([`Layer::Dense`], [`Layer::Maxout`]) state both their
/// input and output widths, like PyTorch's `nn.Linear(in, out)`, so that a
/// spec whose widths do not chain is caught by [`Spec::new`] at compile time.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Layer {
    /// Fully connected: `y = x Wᵀ + b`, with `W` of shape `[outputs, inputs]`
    /// (PyTorch's `nn.Linear` layout) followed by `b` of `[outputs]`.
    Dense {
        /// Input width.
        inputs: usize,
        /// Output width.
        outputs: usize,
    },
    /// Maxout: `pieces` affine maps per output unit, the unit takes their
    /// maximum. Parameters: `W` of `[outputs·pieces, inputs]` (the pieces of
    /// unit `u` are rows `u·pieces .. (u+1)·pieces`), then `b` of
    /// `[outputs·pieces]`.
    Maxout {
        /// Input width.
        inputs: usize,
        /// Output units.
        outputs: usize,
        /// Affine pieces per unit (k).
        pieces: usize,
    },
    /// An elementwise activation; keeps the width. Its parameter (leaky
    /// slope, ELU α) is `f64`, converted to the network's element type when
    /// the layer is lowered.
    Activation(Activation<f64>),
    /// Row-wise softmax; keeps the width. (For training a classifier, prefer
    /// the fused [`crate::Loss::SoftmaxCrossEntropy`] on raw logits.)
    Softmax,
    /// Convolution over channels-first images (PyTorch's `Conv1d` and
    /// `Conv2d`): each of `outputs` channels is the sum over the input
    /// channels of their cross-correlation with a `kh × kw` kernel, moved by
    /// `stride` over the zero-padded input, plus a bias. Parameters: `W` of
    /// `[outputs, channels, kh, kw]` (PyTorch's layout; for 1-D
    /// `[outputs, channels, kw]`), then `b` of `[outputs]`. A row of input
    /// is `channels × height × width` values, channels first; a row of
    /// output `outputs × out_h × out_w`. Build it with [`Layer::conv1d`] or
    /// [`Layer::conv2d`].
    Conv {
        /// The input's geometry and the kernel's sliding window.
        window: Window,
        /// Output channels.
        outputs: usize,
    },
    /// PyTorch's `nn.Flatten`: keeps the row as it is (rows are flat,
    /// channels first, already). It takes a place in the layer list, so
    /// parameter names match an `nn.Sequential` that has one
    /// (`"4.weight"` after a flatten at index 3).
    Flatten,
    /// Pooling over each channel of channels-first images (PyTorch's
    /// `MaxPool1d/2d`, `AvgPool1d/2d`, no padding, floor output size; global
    /// average pooling is a window as large as the image). No parameters.
    /// A row of output is `channels × out_h × out_w` values.
    Pool {
        /// The input's geometry and the pooling window.
        window: Window,
        /// Maximum or average.
        kind: PoolKind,
    },
}

/// What a [`Layer::Pool`] takes of each window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PoolKind {
    /// The largest element (its gradient goes to the first largest).
    Max,
    /// The mean of the window's elements.
    Avg,
}

/// A 1-D window: `channels` signals of `len` steps, a window of `k`,
/// `stride`, `pad` zeros at both ends.
const fn window1d(channels: usize, len: usize, k: usize, stride: usize, pad: usize) -> Window {
    Window {
        channels,
        height: 1,
        width: len,
        kh: 1,
        kw: k,
        stride,
        pad_h: 0,
        pad_w: pad,
    }
}

/// A 2-D window: `channels` images of `h × w`, a `k.0 × k.1` window,
/// `stride` and `pad` in both directions.
const fn window2d(
    channels: usize,
    (h, w): (usize, usize),
    (kh, kw): (usize, usize),
    stride: usize,
    pad: usize,
) -> Window {
    Window {
        channels,
        height: h,
        width: w,
        kh,
        kw,
        stride,
        pad_h: pad,
        pad_w: pad,
    }
}

impl Layer {
    /// `Layer::Dense { inputs, outputs }`.
    pub const fn dense(inputs: usize, outputs: usize) -> Self {
        Layer::Dense { inputs, outputs }
    }
    /// `Layer::Maxout { inputs, outputs, pieces }`.
    pub const fn maxout(inputs: usize, outputs: usize, pieces: usize) -> Self {
        Layer::Maxout {
            inputs,
            outputs,
            pieces,
        }
    }
    /// Logistic sigmoid.
    pub const fn sigmoid() -> Self {
        Layer::Activation(Activation::Sigmoid)
    }
    /// Hyperbolic tangent.
    pub const fn tanh() -> Self {
        Layer::Activation(Activation::Tanh)
    }
    /// Rectified linear unit.
    pub const fn relu() -> Self {
        Layer::Activation(Activation::Relu)
    }
    /// Leaky ReLU with the given negative slope.
    pub const fn leaky_relu(slope: f64) -> Self {
        Layer::Activation(Activation::LeakyRelu { slope })
    }
    /// ELU with the given alpha.
    pub const fn elu(alpha: f64) -> Self {
        Layer::Activation(Activation::Elu { alpha })
    }
    /// Softplus `ln(1 + eˣ)`.
    pub const fn softplus() -> Self {
        Layer::Activation(Activation::Softplus)
    }
    /// Row-wise softmax.
    pub const fn softmax() -> Self {
        Layer::Softmax
    }
    /// PyTorch's `nn.Flatten` (see [`Layer::Flatten`]).
    pub const fn flatten() -> Self {
        Layer::Flatten
    }
    /// 1-D convolution, PyTorch's `Conv1d(in_channels, out_channels, k,
    /// stride, padding)` over inputs of `len` steps (microprop sizes the
    /// arena at compile time, so the length is part of the layer): input
    /// width `in_channels · len`, output width `out_channels · ((len +
    /// 2·pad − k) / stride + 1)`.
    ///
    /// ```
    /// use microprop::{Layer, OptimizerKind, Spec};
    /// // 6 channels × 100 steps → 8 × 100 → pooled 8 × 50 → 8 → 4 classes.
    /// const NET: Spec = Spec::new(&[
    ///     Layer::conv1d(6, 8, 100, 5, 1, 2),
    ///     Layer::relu(),
    ///     Layer::max_pool1d(8, 100, 2, 2),
    ///     Layer::global_avg_pool1d(8, 50),
    ///     Layer::dense(8, 4),
    /// ]);
    /// static ARENA: [f32; NET.arena_len(1, OptimizerKind::Sgd)] = [0.0; NET.arena_len(1, OptimizerKind::Sgd)];
    /// assert_eq!(NET.param_count(), 8 * 6 * 5 + 8 + 8 * 4 + 4);
    /// ```
    ///
    /// Shapes that do not chain are a compile error: here the pooling
    /// expects 6 channels where the convolution gives 8.
    ///
    /// ```compile_fail
    /// use microprop::{Layer, OptimizerKind, Spec};
    /// const BAD: Spec = Spec::new(&[Layer::conv1d(6, 8, 100, 5, 1, 2), Layer::max_pool1d(6, 100, 2, 2)]);
    /// static ARENA: [f32; BAD.arena_len(1, OptimizerKind::Sgd)] = [0.0; BAD.arena_len(1, OptimizerKind::Sgd)];
    /// ```
    ///
    /// So is a window that does not fit its padded input (kernel 7 over 4
    /// steps padded to 6):
    ///
    /// ```compile_fail
    /// use microprop::{Layer, OptimizerKind, Spec};
    /// const BAD: Spec = Spec::new(&[Layer::conv1d(1, 2, 4, 7, 1, 1)]);
    /// static ARENA: [f32; BAD.arena_len(1, OptimizerKind::Sgd)] = [0.0; BAD.arena_len(1, OptimizerKind::Sgd)];
    /// ```
    pub const fn conv1d(
        in_channels: usize,
        out_channels: usize,
        len: usize,
        k: usize,
        stride: usize,
        pad: usize,
    ) -> Self {
        Layer::Conv {
            window: window1d(in_channels, len, k, stride, pad),
            outputs: out_channels,
        }
    }
    /// 2-D convolution, PyTorch's `Conv2d(in_channels, out_channels, (kh,
    /// kw), stride, padding)` over `h × w` images (`size = (h, w)`): input
    /// width `in_channels · h · w`.
    pub const fn conv2d(
        in_channels: usize,
        out_channels: usize,
        size: (usize, usize),
        kernel: (usize, usize),
        stride: usize,
        pad: usize,
    ) -> Self {
        Layer::Conv {
            window: window2d(in_channels, size, kernel, stride, pad),
            outputs: out_channels,
        }
    }
    /// 1-D max pooling, PyTorch's `MaxPool1d(k, stride)` over `channels`
    /// signals of `len` steps.
    pub const fn max_pool1d(channels: usize, len: usize, k: usize, stride: usize) -> Self {
        Layer::Pool {
            window: window1d(channels, len, k, stride, 0),
            kind: PoolKind::Max,
        }
    }
    /// 1-D average pooling, PyTorch's `AvgPool1d(k, stride)`.
    pub const fn avg_pool1d(channels: usize, len: usize, k: usize, stride: usize) -> Self {
        Layer::Pool {
            window: window1d(channels, len, k, stride, 0),
            kind: PoolKind::Avg,
        }
    }
    /// 2-D max pooling, PyTorch's `MaxPool2d(k, stride)` over `channels`
    /// images of `size = (h, w)`.
    pub const fn max_pool2d(
        channels: usize,
        size: (usize, usize),
        k: usize,
        stride: usize,
    ) -> Self {
        Layer::Pool {
            window: window2d(channels, size, (k, k), stride, 0),
            kind: PoolKind::Max,
        }
    }
    /// 2-D average pooling, PyTorch's `AvgPool2d(k, stride)`.
    pub const fn avg_pool2d(
        channels: usize,
        size: (usize, usize),
        k: usize,
        stride: usize,
    ) -> Self {
        Layer::Pool {
            window: window2d(channels, size, (k, k), stride, 0),
            kind: PoolKind::Avg,
        }
    }
    /// Global average pooling over `channels` signals of `len` steps (one
    /// value per channel; PyTorch's `AdaptiveAvgPool1d(1)` then flatten).
    pub const fn global_avg_pool1d(channels: usize, len: usize) -> Self {
        Self::avg_pool1d(channels, len, len, 1)
    }
    /// Global average pooling over `channels` images of `size = (h, w)`
    /// (PyTorch's `AdaptiveAvgPool2d(1)` then flatten).
    pub const fn global_avg_pool2d(channels: usize, size: (usize, usize)) -> Self {
        Layer::Pool {
            window: window2d(channels, size, size, 1, 0),
            kind: PoolKind::Avg,
        }
    }
}

/// One FNV-1a step of [`Spec::hash`]: `word`'s four little-endian bytes.
pub(crate) const fn mix(mut h: u32, word: u32) -> u32 {
    let bytes = word.to_le_bytes();
    let mut i = 0;
    while i < 4 {
        h ^= bytes[i] as u32;
        h = h.wrapping_mul(0x0100_0193);
        i += 1;
    }
    h
}

/// A width's words for [`Spec::hash`]: its low 32 bits, then, only if it
/// has any, its high 32 bits. A width below 2³² (every width on a 32-bit
/// target) hashes as one word, as it always has; a wider one (64-bit hosts)
/// is hashed in full instead of being truncated to the width mod 2³².
pub(crate) const fn mix_width(h: u32, width: usize) -> u32 {
    let w = width as u64;
    let h = mix(h, w as u32);
    let high = (w >> 32) as u32;
    if high == 0 {
        h
    } else {
        mix(h, high)
    }
}

/// Why a spec is not a valid network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SpecError {
    /// The spec has no layers.
    Empty,
    /// The first layer is not `Dense`, `Maxout`, `Conv` or `Pool`, so the
    /// input width is unknown.
    NoInputWidth,
    /// Layer `layer` (a convolution or pooling) has a geometry that does not
    /// work: a zero size or stride, or a window larger than its padded
    /// input.
    Geometry {
        /// Index of the layer in the spec.
        layer: usize,
        /// What is wrong.
        problem: &'static str,
    },
    /// Layer `layer` expects `expected` inputs but the previous layer gives `got`.
    Chain {
        /// Index of the layer in the spec.
        layer: usize,
        /// Its declared input width.
        expected: usize,
        /// The width arriving from the previous layer.
        got: usize,
    },
    /// Layer `layer` has a zero width or zero maxout pieces.
    ZeroWidth {
        /// Index of the layer in the spec.
        layer: usize,
    },
    /// The sizes overflow `usize`.
    TooLarge,
    /// A trainability list ([`Spec::with_training`]) whose length is not
    /// the number of layers.
    Training {
        /// Number of layers in the spec.
        layers: usize,
        /// Entries in the list.
        got: usize,
    },
}

/// Which of a layer's parameters training updates (set per layer with
/// [`Spec::with_training`]; every layer is [`Train::Full`] by default).
///
/// A frozen layer, or a bias-only layer's weights, gets no gradient and no
/// optimizer state in the arena, and backward stops at the first layer that
/// has something to train. The frozen layers before it only run forward:
/// their outputs take two shared buffers in turn instead of one span each
/// ([`Layout::shared`]), so the gradient with respect to the network's input
/// is not available ([`Error::NoInputGradient`](crate::Error::NoInputGradient)). Layers without parameters (activations, softmax) accept any
/// value; it does not change them. Trainability is not part of the spec
/// hash: a blob saved by a fully trained network loads into the same layers
/// frozen, which is how fine-tuning starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Train {
    /// Weights and biases are trained.
    Full,
    /// Only the biases are trained (TinyTL's bias-only update).
    BiasOnly,
    /// Nothing in the layer is trained.
    Frozen,
}

impl Train {
    /// Whether this mode trains the layer's weights.
    pub const fn trains_weights(self) -> bool {
        matches!(self, Train::Full)
    }

    /// Whether this mode trains the layer's biases.
    pub const fn trains_biases(self) -> bool {
        !matches!(self, Train::Frozen)
    }

    /// Parameters of `layer` that this mode trains: they come last in the
    /// layer's parameters (weights, then biases), so the trained ones are
    /// always the layer's last `n`.
    #[inline]
    pub const fn trained_count(self, layer: &Layer) -> usize {
        layer.param_count() - self.untrained_count(layer)
    }

    /// Parameters of `layer` that this mode leaves untrained: its first
    /// ones (all, its weights, or none).
    #[inline]
    pub const fn untrained_count(self, layer: &Layer) -> usize {
        if self.trains_weights() {
            0
        } else if self.trains_biases() {
            layer.weight_count()
        } else {
            layer.param_count()
        }
    }
}

/// Which optimizer the arena must hold state for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum OptimizerKind {
    /// Gradient descent / SGD: no state.
    Sgd,
    /// SGD with momentum: one velocity per parameter.
    Momentum,
    /// Adam: two moments per parameter.
    Adam,
    /// SGD applied layer by layer during backward: no state and no gradient
    /// buffer (the `grads` span is empty).
    FusedSgd,
}

impl OptimizerKind {
    /// State elements per parameter.
    pub const fn state_per_param(self) -> usize {
        match self {
            OptimizerKind::Sgd | OptimizerKind::FusedSgd => 0,
            OptimizerKind::Momentum => 1,
            OptimizerKind::Adam => 2,
        }
    }

    /// Gradient elements per parameter: 1, or 0 for [`OptimizerKind::FusedSgd`].
    pub const fn grads_per_param(self) -> usize {
        match self {
            OptimizerKind::FusedSgd => 0,
            _ => 1,
        }
    }
}

/// A network: a list of layers whose widths chain.
///
/// Build it as a `const` so that a spec that does not chain fails to compile:
///
/// ```
/// use microprop::{Layer, OptimizerKind, Spec};
/// use static_cell::ConstStaticCell;
/// const NET: Spec = Spec::new(&[Layer::dense(64, 32), Layer::relu(), Layer::dense(32, 10)]);
/// const ARENA_LEN: usize = NET.arena_len(32, OptimizerKind::Adam);
/// static ARENA: ConstStaticCell<[f32; ARENA_LEN]> = ConstStaticCell::new([0.0; ARENA_LEN]);
/// assert_eq!(NET.param_count(), 64 * 32 + 32 + 32 * 10 + 10);
/// ```
///
/// Widths that do not chain are a compile error, not a run-time surprise:
///
/// ```compile_fail
/// use microprop::{Layer, OptimizerKind, Spec};
/// // 32 outputs feed a layer that expects 31 inputs.
/// const BAD: Spec = Spec::new(&[Layer::dense(64, 32), Layer::relu(), Layer::dense(31, 10)]);
/// static ARENA: [f32; BAD.arena_len(1, OptimizerKind::Sgd)] = [0.0; BAD.arena_len(1, OptimizerKind::Sgd)];
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Spec<'a> {
    layers: &'a [Layer],
    /// One entry per layer, or empty: every layer [`Train::Full`].
    train: &'a [Train],
    inputs: usize,
    outputs: usize,
}

impl<'a> Spec<'a> {
    /// Validate `layers` and build the spec; meant for `const` items.
    ///
    /// # Panics
    /// If the widths do not chain. In a `const` item that panic is a
    /// compile-time error; at run time use [`Spec::try_new`], which returns
    /// the [`SpecError`] instead.
    pub const fn new(layers: &'a [Layer]) -> Self {
        match Self::try_new(layers) {
            Ok(spec) => spec,
            Err(SpecError::Empty) => panic!("microprop spec: no layers"),
            Err(SpecError::NoInputWidth) => {
                panic!("microprop spec: the first layer must be Dense, Maxout, Conv or Pool")
            }
            Err(SpecError::Geometry { .. }) => panic!(
                "microprop spec: a convolution or pooling window has a zero size or stride, or is larger than its padded input"
            ),
            Err(SpecError::Chain { .. }) => {
                panic!("microprop spec: a layer's inputs do not match the previous layer's outputs")
            }
            Err(SpecError::ZeroWidth { .. }) => panic!("microprop spec: a layer has zero width"),
            Err(SpecError::TooLarge) => panic!("microprop spec: sizes overflow usize"),
            Err(SpecError::Training { .. }) => {
                panic!("microprop spec: one trainability entry per layer")
            }
        }
    }

    /// Validate `layers` and build the spec, or say what is wrong.
    pub const fn try_new(layers: &'a [Layer]) -> Result<Self, SpecError> {
        if layers.is_empty() {
            return Err(SpecError::Empty);
        }
        let inputs = match layers[0] {
            Layer::Dense { inputs, .. } | Layer::Maxout { inputs, .. } => inputs,
            Layer::Conv { window, .. } | Layer::Pool { window, .. } => window.image_len(),
            _ => return Err(SpecError::NoInputWidth),
        };
        let mut width = inputs;
        let mut params: usize = 0;
        let mut i = 0;
        while i < layers.len() {
            if let Err(e) = layers[i].check(i, width) {
                return Err(e);
            }
            // Each layer's count fits (its check); their sum must too.
            params = match params.checked_add(layers[i].param_count()) {
                Some(p) => p,
                None => return Err(SpecError::TooLarge),
            };
            width = layers[i].output_width(width);
            i += 1;
        }
        Ok(Spec {
            layers,
            train: &[],
            inputs,
            outputs: width,
        })
    }

    /// This spec with per-layer trainability, one entry per layer; meant
    /// for `const` items:
    ///
    /// ```
    /// use microprop::{Layer, OptimizerKind, Spec, Train};
    /// const LAYERS: [Layer; 3] = [Layer::dense(64, 32), Layer::relu(), Layer::dense(32, 10)];
    /// const FULL: Spec = Spec::new(&LAYERS);
    /// // Fine-tune the last layer only: no gradient or Adam state for the first.
    /// const LAST: Spec = FULL.with_training(&[Train::Frozen, Train::Frozen, Train::Full]);
    /// assert_eq!(LAST.trained_count(), 32 * 10 + 10);
    /// // Saved: gradient, m and v of the first layer's 2,080 parameters, and
    /// // backprop scratch for 32 instead of 64 (backward stops at the
    /// // last layer, whose input is 32 wide), in each of two buffers.
    /// assert_eq!(
    ///     FULL.arena_len(1, OptimizerKind::Adam) - LAST.arena_len(1, OptimizerKind::Adam),
    ///     3 * (64 * 32 + 32) + 2 * (64 - 32)
    /// );
    /// assert_eq!(LAST.hash(), FULL.hash());
    /// ```
    ///
    /// # Panics
    /// If `train`'s length is not the number of layers (in a `const` item,
    /// a compile error); [`Spec::try_with_training`] returns the error.
    pub const fn with_training(self, train: &'a [Train]) -> Self {
        match self.try_with_training(train) {
            Ok(spec) => spec,
            Err(_) => panic!("microprop spec: one trainability entry per layer"),
        }
    }

    /// [`Spec::with_training`], or [`SpecError::Training`] when `train`
    /// does not have one entry per layer. An empty list means every layer
    /// is [`Train::Full`].
    pub const fn try_with_training(self, train: &'a [Train]) -> Result<Self, SpecError> {
        if !train.is_empty() && train.len() != self.layers.len() {
            return Err(SpecError::Training {
                layers: self.layers.len(),
                got: train.len(),
            });
        }
        Ok(Spec { train, ..self })
    }

    /// The trainability list as given (empty: every layer trained in full).
    pub const fn training(&self) -> &'a [Train] {
        self.train
    }

    /// What training updates in layer `layer` ([`Train::Full`] past the end).
    #[inline(always)]
    pub const fn train(&self, layer: usize) -> Train {
        if layer < self.train.len() {
            self.train[layer]
        } else {
            Train::Full
        }
    }

    /// Whether every parameter is trained (no layer frozen or bias-only).
    pub const fn trains_all(&self) -> bool {
        self.trained_count() == self.param_count()
    }

    /// Parameters training updates: the length of the gradient span (and
    /// of each optimizer-state vector).
    pub const fn trained_count(&self) -> usize {
        let mut n = 0;
        let mut i = 0;
        while i < self.layers.len() {
            n += self.train(i).trained_count(&self.layers[i]);
            i += 1;
        }
        n
    }

    /// Index of the first layer with a trained parameter (the number of
    /// layers when nothing is trained): backward stops there.
    pub const fn first_trained(&self) -> usize {
        let mut i = 0;
        while i < self.layers.len() {
            if self.train(i).trained_count(&self.layers[i]) > 0 {
                return i;
            }
            i += 1;
        }
        self.layers.len()
    }

    /// The layers.
    pub const fn layers(&self) -> &'a [Layer] {
        self.layers
    }
    /// Input width (features per sample).
    pub const fn inputs(&self) -> usize {
        self.inputs
    }
    /// Output width (classes or regression targets).
    pub const fn outputs(&self) -> usize {
        self.outputs
    }

    /// Input width of layer `i` (or of the network's output for `i == len`).
    pub const fn width_before(&self, layer: usize) -> usize {
        let mut width = self.inputs;
        let mut i = 0;
        while i < layer && i < self.layers.len() {
            width = self.layers[i].output_width(width);
            i += 1;
        }
        width
    }

    /// Total trainable parameters.
    pub const fn param_count(&self) -> usize {
        let mut n = 0;
        let mut i = 0;
        while i < self.layers.len() {
            n += self.layers[i].param_count();
            i += 1;
        }
        n
    }

    /// A 32-bit fingerprint of the layer list (FNV-1a over each layer's
    /// kind, widths in full and activation parameters). A device blob stores it so
    /// that parameters are never loaded into a network of another shape or
    /// with other activations. Stable across builds and targets. An
    /// activation parameter is hashed as the bits of its `f32` rounding (the
    /// blob format's element type), so the hash of a spec is the same whether
    /// its parameters were written as `f32` or `f64` literals.
    pub const fn hash(&self) -> u32 {
        let mut h: u32 = 0x811C_9DC5;
        let mut i = 0;
        while i < self.layers.len() {
            h = self.layers[i].mix_hash(h);
            i += 1;
        }
        h
    }

    /// Offset of layer `layer`'s parameters within the parameter span.
    pub const fn param_offset(&self, layer: usize) -> usize {
        let mut n = 0;
        let mut i = 0;
        while i < layer && i < self.layers.len() {
            n += self.layers[i].param_count();
            i += 1;
        }
        n
    }

    /// The arena layout for a batch capacity and optimizer.
    ///
    /// # Panics
    /// If the arena's size overflows `usize` (in a `const` item, a compile
    /// error). At run time use [`Spec::try_layout`], which returns
    /// [`SpecError::TooLarge`] instead.
    pub const fn layout(&self, batch: usize, optimizer: OptimizerKind) -> Layout {
        match self.try_layout(batch, optimizer) {
            Ok(layout) => layout,
            Err(_) => panic!("microprop spec: the arena's size overflows usize"),
        }
    }

    /// The arena layout for a batch capacity and optimizer, or
    /// [`SpecError::TooLarge`] when any size in it (a span, an offset, the
    /// total) overflows `usize`. Every size is computed with checked
    /// arithmetic, so a huge width or batch is refused, never wrapped into a
    /// small arena.
    pub const fn try_layout(
        &self,
        batch: usize,
        optimizer: OptimizerKind,
    ) -> Result<Layout, SpecError> {
        self.layout_with(batch, optimizer, self.first_trained(), false)
    }

    /// The arena layout of a network that only runs forward
    /// ([`Network::new_inference`](crate::Network::new_inference)): the
    /// parameters, the input batch and two buffers that the layers' outputs
    /// take in turn (each as long as the widest layer's output, maxout's
    /// pieces included, for `batch` rows); no gradients, optimizer state,
    /// backprop scratch or targets. [`SpecError::TooLarge`] when a size
    /// overflows `usize`.
    pub const fn try_inference_layout(&self, batch: usize) -> Result<Layout, SpecError> {
        self.layout_with(batch, OptimizerKind::FusedSgd, self.layers.len(), true)
    }

    /// Arena length, in elements, of a forward-only network for `batch`
    /// rows (see [`Spec::try_inference_layout`]): use it to size a `static`
    /// arena for inference. `usize::MAX` when the size overflows.
    ///
    /// ```
    /// use microprop::{Layer, OptimizerKind, Spec};
    /// const NET: Spec = Spec::new(&[Layer::dense(64, 32), Layer::relu(), Layer::dense(32, 10)]);
    /// // params 2410 + input 64 + two buffers of the widest output (32),
    /// // + 4 scalars; training with SGD at batch 1 needs 5142.
    /// assert_eq!(NET.inference_arena_len(1), 2410 + 64 + 2 * 32 + 4);
    /// assert_eq!(NET.arena_len(1, OptimizerKind::Sgd), 5142);
    /// ```
    pub const fn inference_arena_len(&self, batch: usize) -> usize {
        match self.try_inference_layout(batch) {
            Ok(layout) => layout.len,
            Err(_) => usize::MAX,
        }
    }

    /// The ops a forward-only network
    /// ([`Network::new_inference`](crate::Network::new_inference)) of this
    /// spec issues: its layers' ops, fills and copies (see
    /// [`Config::ops`](crate::Config::ops) for a training network).
    pub const fn inference_ops(&self) -> OpSet {
        let mut set = OpSet::of(&[OpKind::Fill, OpKind::Copy]);
        let mut i = 0;
        while i < self.layers.len() {
            set = set.union(self.layers[i].ops());
            i += 1;
        }
        set
    }

    /// The layout with the first `shared` layers' activations in two
    /// alternating buffers; `inference`: no backward spans at all.
    const fn layout_with(
        &self,
        batch: usize,
        optimizer: OptimizerKind,
        shared: usize,
        inference: bool,
    ) -> Result<Layout, SpecError> {
        // `?` is not available in a `const fn`: one macro per checked step.
        macro_rules! checked {
            ($e:expr) => {
                match $e {
                    Some(v) => v,
                    None => return Err(SpecError::TooLarge),
                }
            };
        }
        // Widths and counts: each layer's and their sum were checked by
        // `try_new` (the only way to build a `Spec`), the rest is new.
        let mut p: usize = 0;
        // Trained parameters (≤ p): the gradient and state vectors' length.
        let mut t: usize = 0;
        // Activation widths per row: the widest of the shared layers, and
        // the sum of the others (kept for their backward).
        let mut shared_w: usize = 0;
        let mut acts: usize = 0;
        // Backprop scratch per row: the input gradient (only when backward
        // can reach the input), every backward layer's widths, and the
        // loss gradient.
        let mut scratch_w = if shared == 0 { self.inputs } else { 0 };
        if self.outputs > scratch_w {
            scratch_w = self.outputs;
        }
        // Sliding-window working space (convolution and pooling, forward
        // and backward, one sample at a time), and constants.
        let mut cols_len: usize = 0;
        let mut consts_len: usize = 0;
        let mut width = self.inputs;
        let mut i = 0;
        while i < self.layers.len() {
            let layer = &self.layers[i];
            p = checked!(p.checked_add(layer.param_count()));
            let cw = layer.cols_len();
            if cw > cols_len {
                cols_len = cw;
            }
            let cl = layer.consts_len();
            if cl > consts_len {
                consts_len = cl;
            }
            t += self.train(i).trained_count(layer);
            let aw = layer.activation_width(width);
            if i < shared {
                if aw > shared_w {
                    shared_w = aw;
                }
            } else {
                acts = checked!(acts.checked_add(aw));
                let sw = layer.scratch_width(width);
                if sw > scratch_w {
                    scratch_w = sw;
                }
            }
            width = layer.output_width(width);
            i += 1;
        }
        if inference {
            t = 0;
            scratch_w = 0;
        }
        // Each span starts where the previous one ends; `at` is that end.
        const fn span(at: usize, len: usize) -> Option<Span> {
            match at.checked_add(len) {
                Some(_) => Some(Span::new(at, len)),
                None => None,
            }
        }
        let shared_len = checked!(batch.checked_mul(shared_w));
        let acts_len = checked!(
            checked!(batch.checked_mul(acts)).checked_add(checked!(shared_len.checked_mul(2)))
        );
        let params = checked!(span(0, p));
        let grads = checked!(span(
            params.end(),
            checked!(t.checked_mul(optimizer.grads_per_param()))
        ));
        let state = checked!(span(
            grads.end(),
            checked!(t.checked_mul(optimizer.state_per_param()))
        ));
        let input = checked!(span(state.end(), checked!(batch.checked_mul(self.inputs))));
        let activations = checked!(span(input.end(), acts_len));
        let sw = checked!(batch.checked_mul(scratch_w));
        let scratch_a = checked!(span(activations.end(), sw));
        let scratch_b = checked!(span(scratch_a.end(), sw));
        let cols = checked!(span(scratch_b.end(), cols_len));
        let consts = checked!(span(cols.end(), consts_len));
        // The loss decomposition's working space: enough for every loss
        // kind (hinge needs the most, `4 · outputs + 2`).
        let ls = if inference {
            0
        } else {
            checked!(checked!(self.outputs.checked_mul(4)).checked_add(2))
        };
        let loss_scratch = checked!(span(consts.end(), ls));
        let target = checked!(span(
            loss_scratch.end(),
            if inference {
                0
            } else {
                checked!(batch.checked_mul(self.outputs))
            }
        ));
        let scalars = checked!(span(target.end(), SCALARS));
        Ok(Layout {
            batch,
            optimizer,
            params,
            grads,
            state,
            input,
            activations,
            shared,
            shared_len,
            inference,
            scratch: [scratch_a, scratch_b],
            cols,
            consts,
            loss_scratch,
            target,
            scalars,
            len: scalars.end(),
        })
    }

    /// Arena length, in elements, for a batch capacity and optimizer: use it
    /// to size a `static` arena. `usize::MAX` when the size overflows
    /// (no arena is that long, and [`Network::new`](crate::Network::new)
    /// refuses such a configuration with [`SpecError::TooLarge`]).
    pub const fn arena_len(&self, batch: usize, optimizer: OptimizerKind) -> usize {
        match self.try_layout(batch, optimizer) {
            Ok(layout) => layout.len,
            Err(_) => usize::MAX,
        }
    }

    /// Arena size in bytes for element type size `elem_bytes` (saturating at
    /// `usize::MAX`, like [`Spec::arena_len`]).
    pub const fn arena_bytes(
        &self,
        batch: usize,
        optimizer: OptimizerKind,
        elem_bytes: usize,
    ) -> usize {
        self.arena_len(batch, optimizer).saturating_mul(elem_bytes)
    }
}

/// Scalars at the end of the arena: loss, correct count, and two spare.
pub(crate) const SCALARS: usize = 4;

/// Where each part of a model lives in its arena. All spans are disjoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Layout {
    /// Batch capacity (rows).
    pub batch: usize,
    /// Optimizer the state span is sized for.
    pub optimizer: OptimizerKind,
    /// All parameters, layer after layer (weights then biases).
    pub params: Span,
    /// Gradients of the trained parameters ([`Spec::trained_count`]),
    /// layer after layer in the order of `params` (the same layout as
    /// `params` when every layer is trained in full).
    pub grads: Span,
    /// Optimizer state for the trained parameters: velocity, or Adam's `m`
    /// then `v`, each laid out like `grads`.
    pub state: Span,
    /// The input batch, `batch × inputs`.
    pub input: Span,
    /// Every layer's outputs (and maxout pieces), `batch × width` each:
    /// first two buffers of `shared_len` elements that the first `shared`
    /// layers' outputs take in turn (layer `i` in buffer `i % 2`, at its
    /// end), then the other layers' one after another.
    pub activations: Span,
    /// Layers whose outputs share the two alternating buffers: the frozen
    /// layers before the first trained one (backward never reads them), or
    /// every layer in an inference layout.
    pub shared: usize,
    /// Elements of each shared buffer (`batch ×` the widest shared output).
    pub shared_len: usize,
    /// A forward-only layout ([`Spec::try_inference_layout`]).
    pub inference: bool,
    /// Two ping-pong buffers for backprop, `batch × width` each for the
    /// widest layer.
    pub scratch: [Span; 2],
    /// Working space of convolution and pooling layers (one sample's
    /// sliding windows, forward and backward; empty without such layers):
    /// the largest [`Layer::cols_len`], whatever the batch.
    pub cols: Span,
    /// Constant vectors of convolution and pooling layers (ones for a
    /// convolution's bias, `1/k` for an average), refilled by each layer
    /// that uses them: the largest [`Layer::consts_len`].
    pub consts: Span,
    /// Working space of the loss op's reference decomposition (see
    /// [`Loss::scratch_len`](microprop_hal::op::Loss::scratch_len)): a
    /// backend with a fused loss kernel leaves it untouched.
    pub loss_scratch: Span,
    /// Targets: `batch × outputs` values, or `batch` labels.
    pub target: Span,
    /// Loss, correct count, spare.
    pub scalars: Span,
    /// Total elements.
    pub len: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    const NET: Spec = Spec::new(&[Layer::dense(2, 4), Layer::tanh(), Layer::dense(4, 1)]);

    #[test]
    fn param_count_by_hand() {
        // 2·4 + 4 + 4·1 + 1 = 17
        assert_eq!(NET.param_count(), 17);
        assert_eq!(NET.param_offset(2), 12);
        assert_eq!(NET.inputs(), 2);
        assert_eq!(NET.outputs(), 1);
    }

    #[test]
    fn arena_len_by_hand() {
        // batch 4, Adam: params 17, grads 17, state 34, input 8,
        // activations 4·(4+4+1) = 36, scratch 2·4·4 = 32, loss scratch
        // 4·1 + 2 = 6, target 4, scalars 4.
        assert_eq!(
            NET.arena_len(4, OptimizerKind::Adam),
            17 + 17 + 34 + 8 + 36 + 32 + 6 + 4 + 4
        );
        assert_eq!(
            NET.arena_len(4, OptimizerKind::Sgd),
            17 + 17 + 8 + 36 + 32 + 6 + 4 + 4
        );
    }

    #[test]
    fn parameter_counts_that_overflow_are_too_large_not_a_panic() {
        let m = usize::MAX;
        // dense(MAX, 1): MAX weights fit, the bias does not (MAX + 1).
        assert_eq!(
            Spec::try_new(&[Layer::dense(m, 1)]).err(),
            Some(SpecError::TooLarge)
        );
        // maxout(MAX, 1, 1): inputs + 1 overflows.
        assert_eq!(
            Spec::try_new(&[Layer::maxout(m, 1, 1)]).err(),
            Some(SpecError::TooLarge)
        );
        // Each layer fits on its own, their sum does not: w = 2^(bits/2) - 1
        // gives w·(w + 1) = 2^bits - 2^(bits/2) per layer, twice > MAX.
        let w = (1usize << (usize::BITS / 2)) - 1;
        let one = [Layer::dense(w, w)];
        assert!(Spec::try_new(&one).is_ok());
        assert_eq!(
            Spec::try_new(&[Layer::dense(w, w), Layer::dense(w, w)]).err(),
            Some(SpecError::TooLarge)
        );
    }

    #[test]
    fn arena_sizes_that_overflow_are_too_large_not_wrapped() {
        // 2-4-1 is tiny; a batch whose input span alone (batch × 2) overflows
        // used to wrap to a short arena (or panic in debug builds).
        let huge = usize::MAX / 2 + 1;
        assert_eq!(
            NET.try_layout(huge, OptimizerKind::Sgd).err(),
            Some(SpecError::TooLarge)
        );
        assert_eq!(NET.arena_len(huge, OptimizerKind::Adam), usize::MAX);
        assert_eq!(
            NET.arena_bytes(usize::MAX / 64, OptimizerKind::Sgd, 4),
            usize::MAX
        );
        // Each span fits, their sum does not: activations 9·batch and
        // scratch 2·4·batch are 17·batch > MAX for batch = MAX / 16.
        assert_eq!(
            NET.try_layout(usize::MAX / 16, OptimizerKind::Sgd).err(),
            Some(SpecError::TooLarge)
        );
        // A width whose parameters fit (MAX / 2) but whose arena (params,
        // input, activations, scratch, 4 · outputs + 2 of loss scratch,
        // targets) does not.
        let wide = [Layer::dense(1, usize::MAX / 4)];
        let spec = Spec::try_new(&wide).unwrap();
        assert_eq!(
            spec.try_layout(1, OptimizerKind::Sgd).err(),
            Some(SpecError::TooLarge)
        );
        // The largest batch that fits still gives the layout by hand.
        assert_eq!(
            NET.try_layout(4, OptimizerKind::Adam).map(|l| l.len),
            Ok(NET.arena_len(4, OptimizerKind::Adam))
        );
    }

    #[test]
    fn spec_hash_is_fnv1a_over_kind_and_widths() {
        // FNV-1a (offset 0x811c9dc5, prime 0x01000193) over the bytes of the
        // words 1, 2, 3 (kind dense, inputs, outputs), little-endian,
        // computed independently (python3: h ^= b; h = h * 0x01000193 mod
        // 2^32): 0x794671b5.
        assert_eq!(Spec::new(&[Layer::dense(2, 3)]).hash(), 0x7946_71b5);
    }

    #[cfg(target_pointer_width = "64")]
    #[test]
    fn spec_hash_covers_widths_beyond_32_bits() {
        // dense(2^32 + 5, 3) used to hash as dense(5, 3): its width was
        // truncated to 32 bits. Now its high word is hashed too: the words
        // are 1, 5, 1, 3, whose FNV-1a is 0x4d8ba443 (computed as above).
        let wide = [Layer::dense((1 << 32) + 5, 3)];
        let narrow = [Layer::dense(5, 3)];
        let wide = Spec::try_new(&wide).unwrap();
        let narrow = Spec::try_new(&narrow).unwrap();
        assert_ne!(wide.hash(), narrow.hash());
        assert_eq!(wide.hash(), 0x4d8b_a443);
        let wide_maxout = [Layer::maxout(3, 2, (1 << 32) + 1)];
        let narrow_maxout = [Layer::maxout(3, 2, 1)];
        assert_ne!(
            Spec::try_new(&wide_maxout).unwrap().hash(),
            Spec::try_new(&narrow_maxout).unwrap().hash()
        );
    }

    #[test]
    fn chain_errors_name_the_layer() {
        let bad = [Layer::dense(3, 5), Layer::relu(), Layer::dense(4, 2)];
        assert_eq!(
            Spec::try_new(&bad),
            Err(SpecError::Chain {
                layer: 2,
                expected: 4,
                got: 5
            })
        );
        assert_eq!(Spec::try_new(&[]), Err(SpecError::Empty));
        assert_eq!(
            Spec::try_new(&[Layer::relu(), Layer::dense(1, 1)]),
            Err(SpecError::NoInputWidth)
        );
        assert_eq!(
            Spec::try_new(&[Layer::maxout(3, 2, 0)]),
            Err(SpecError::ZeroWidth { layer: 0 })
        );
        assert_eq!(
            Spec::try_new(&[Layer::dense(usize::MAX, 2)]),
            Err(SpecError::TooLarge)
        );
    }

    #[test]
    fn maxout_sizes() {
        const SPEC: Spec = Spec::new(&[Layer::maxout(3, 2, 4)]);
        let spec = SPEC;
        assert_eq!(spec.param_count(), 2 * 4 * 3 + 2 * 4);
        // activations per row: 8 pieces + 2 outputs; scratch width 8.
        let l = spec.layout(1, OptimizerKind::Sgd);
        assert_eq!(l.activations.len, 10);
        assert_eq!(l.scratch[0].len, 8);
    }

    /// BasicMotions' shape: 6 channels × 100 steps, a 1-D CNN.
    const CNN: [Layer; 5] = [
        Layer::conv1d(6, 8, 100, 5, 1, 2),
        Layer::relu(),
        Layer::max_pool1d(8, 100, 2, 2),
        Layer::global_avg_pool1d(8, 50),
        Layer::dense(8, 4),
    ];

    #[test]
    fn conv_and_pool_sizes_by_hand() {
        let spec = Spec::new(&CNN);
        // conv: W 8·6·5 = 240, b 8; dense 8·4 + 4 = 36.
        assert_eq!(spec.param_count(), 240 + 8 + 36);
        assert_eq!(spec.inputs(), 600);
        // (100 + 2·2 − 5)/1 + 1 = 100 positions × 8 channels; pooled 8 × 50;
        // global average 8; logits 4.
        assert_eq!(CNN[0].output_width(600), 800);
        assert_eq!(CNN[2].output_width(800), 400);
        assert_eq!(CNN[3].output_width(400), 8);
        assert_eq!(spec.outputs(), 4);
        // One sample's windows: conv 100 positions × 6 channels × 5 =
        // 3000; the max pool 8 channels × 50 × 2 = 800 and the global pool
        // 8 × 1 × 50 = 400, each twice (windows and their gradient).
        // Constants: 100 ones for the conv's bias, 50 for the global
        // average's 1/50.
        assert_eq!(
            [CNN[0].cols_len(), CNN[2].cols_len(), CNN[3].cols_len()],
            [3000, 1600, 800]
        );
        assert_eq!(
            [
                CNN[0].consts_len(),
                CNN[2].consts_len(),
                CNN[3].consts_len()
            ],
            [100, 0, 50]
        );
        let l = spec.layout(4, OptimizerKind::Sgd);
        assert_eq!((l.cols.len, l.consts.len), (3000, 100));
        // Batch 4, SGD: params 284 + grads 284 + input 2400 + activations
        // 4·(800 + 800 + 400 + 8 + 4) + scratch 2·4·800 + cols 3000 +
        // consts 100 + loss scratch 4·4 + 2 + targets 4·4 + scalars 4.
        assert_eq!(
            spec.arena_len(4, OptimizerKind::Sgd),
            284 + 284 + 2400 + 4 * 2012 + 6400 + 3000 + 100 + 18 + 16 + 4
        );
        // An MLP has no window space.
        let l = NET.layout(4, OptimizerKind::Sgd);
        assert_eq!((l.cols.len, l.consts.len), (0, 0));
    }

    /// README.md's "Convolutional models" example states this arena size.
    #[test]
    fn readme_cnn_arena() {
        const NET: Spec = Spec::new(&[
            Layer::conv1d(6, 8, 100, 4, 4, 0),
            Layer::relu(),
            Layer::conv1d(8, 8, 25, 3, 1, 1),
            Layer::relu(),
            Layer::global_avg_pool1d(8, 25),
            Layer::dense(8, 4),
        ]);
        assert_eq!(NET.arena_len(8, OptimizerKind::Adam) * 4, 93_276);
        assert_eq!(NET.param_count(), 436);
    }

    #[test]
    fn bad_conv_and_pool_geometry_is_a_typed_error_naming_the_layer() {
        let geometry = |layer, problem| Err(SpecError::Geometry { layer, problem });
        let too_big = "the window is larger than the padded image";
        // Kernel 7 over 4 steps padded by 1 (6).
        assert_eq!(
            Spec::try_new(&[Layer::conv1d(1, 2, 4, 7, 1, 1)]),
            geometry(0, too_big)
        );
        assert_eq!(
            Spec::try_new(&[Layer::dense(8, 8), Layer::max_pool1d(2, 4, 2, 0)]),
            geometry(1, "the stride is 0")
        );
        assert_eq!(
            Spec::try_new(&[Layer::conv2d(1, 2, (3, 3), (4, 2), 1, 0)]),
            geometry(0, too_big)
        );
        assert_eq!(
            Spec::try_new(&[Layer::conv1d(0, 2, 4, 1, 1, 0)]),
            geometry(0, "an image dimension is 0")
        );
        assert_eq!(
            Spec::try_new(&[Layer::conv1d(1, 0, 4, 1, 1, 0)]),
            Err(SpecError::ZeroWidth { layer: 0 })
        );
        // A pooling with padding (PyTorch pads max pooling with −∞).
        let padded = Layer::Pool {
            window: window1d(2, 4, 2, 2, 1),
            kind: PoolKind::Max,
        };
        assert_eq!(
            Spec::try_new(&[padded]),
            geometry(0, "pooling takes no padding")
        );
        // Channels that do not match: 3 channels × 9 steps arrive, the pool
        // expects 4 × 9.
        assert_eq!(
            Spec::try_new(&[
                Layer::conv1d(2, 3, 9, 3, 1, 1),
                Layer::max_pool1d(4, 9, 2, 2)
            ]),
            Err(SpecError::Chain {
                layer: 1,
                expected: 36,
                got: 27
            })
        );
        // Sizes that overflow are too large, not a wrap.
        let m = usize::MAX / 2;
        assert_eq!(
            Spec::try_new(&[Layer::conv1d(m, 2, m, 1, 1, 0)]),
            Err(SpecError::TooLarge)
        );
        // The conv and pool parts of the hash differ for different geometry.
        const A: [Layer; 1] = [Layer::conv1d(1, 2, 8, 3, 1, 1)];
        const B: [Layer; 1] = [Layer::conv1d(1, 2, 8, 3, 2, 2)];
        const C: [Layer; 1] = [Layer::avg_pool1d(2, 8, 2, 2)];
        const D: [Layer; 1] = [Layer::max_pool1d(2, 8, 2, 2)];
        assert_ne!(Spec::new(&A).hash(), Spec::new(&B).hash());
        assert_ne!(Spec::new(&C).hash(), Spec::new(&D).hash());
    }
}
