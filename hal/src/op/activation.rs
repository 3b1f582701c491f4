//! Elementwise activations: the function set, its forward and backward
//! primitives, and the composite bias + activation.

use super::{dims, BiasAdd, Check, Composite, Op, OpInfo};
use crate::{Element, OpError, Span};

/// An elementwise activation function `y = f(x)`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Activation<E> {
    /// `y = x`.
    Identity,
    /// `y = 1 / (1 + e^-x)`; `f' = y (1 - y)`.
    Sigmoid,
    /// `y = tanh x`; `f' = 1 - y²`.
    Tanh,
    /// `y = max(0, x)`; `f' = 1` for `x > 0`, else `0`.
    Relu,
    /// `y = x` for `x > 0`, else `slope · x`; `f' = 1` or `slope`.
    LeakyRelu {
        /// Slope for negative inputs (typically 0.01).
        slope: E,
    },
    /// `y = x` for `x > 0`, else `alpha (e^x - 1)`; `f' = 1` or `y + alpha`.
    Elu {
        /// Saturation value for large negative inputs (typically 1).
        alpha: E,
    },
    /// `y = ln(1 + e^x)`, computed stably; `f' = sigmoid(x)`.
    Softplus,
}

/// The activation functions' names, in [`Activation::index`] order.
pub(crate) const ACTIVATION_NAMES: [&str; 7] = [
    "identity",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "elu",
    "softplus",
];

impl<E> Activation<E> {
    /// The function's position in [`Activation`]'s variants (its bit in an
    /// [`OpSet`](super::OpSet)), whatever its parameter.
    pub const fn index(&self) -> u32 {
        match self {
            Activation::Identity => 0,
            Activation::Sigmoid => 1,
            Activation::Tanh => 2,
            Activation::Relu => 3,
            Activation::LeakyRelu { .. } => 4,
            Activation::Elu { .. } => 5,
            Activation::Softplus => 6,
        }
    }

    /// The same activation with its parameter converted by `f` (for example
    /// from the `f64` of a spec to a backend's element type).
    pub fn map<F>(self, f: impl Fn(E) -> F) -> Activation<F> {
        match self {
            Activation::Identity => Activation::Identity,
            Activation::Sigmoid => Activation::Sigmoid,
            Activation::Tanh => Activation::Tanh,
            Activation::Relu => Activation::Relu,
            Activation::LeakyRelu { slope } => Activation::LeakyRelu { slope: f(slope) },
            Activation::Elu { alpha } => Activation::Elu { alpha: f(alpha) },
            Activation::Softplus => Activation::Softplus,
        }
    }
}

/// `y[i] = f(x[i])`; equal lengths; `y` may be `x` (in place).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Activate<E> {
    /// The function.
    pub act: Activation<E>,
    /// Input (pre-activation).
    pub x: Span,
    /// Output.
    pub y: Span,
}

impl<E> Activate<E> {
    /// The same op with the activation's parameter converted by `f`.
    pub fn map<F>(self, f: impl Fn(E) -> F) -> Activate<F> {
        Activate {
            act: self.act.map(f),
            x: self.x,
            y: self.y,
        }
    }
}

impl<E> OpInfo for Activate<E> {
    const NAME: &'static str = "activate";
    fn check(&self, c: &Check) -> Result<(), OpError> {
        c.shape("x", self.x, self.y.len)?;
        c.bounds(self.y)?;
        c.disjoint_or_same(self.y, self.x)
    }
}

/// Bias add fused with an activation, for a `rows × cols` layer output:
/// `x[r][c] += bias[c]`, then `y[r][c] = f(x[r][c])`. Exactly
/// [`BiasAdd`] on `x` followed by [`Activate`] from `x` to `y` (its
/// reference decomposition), in one pass over memory where a backend
/// overrides it. `x` keeps the pre-activation (what [`ActivateBackward`]
/// reads); `y` may be `x` (then only `f(z)` is kept). `bias` must not
/// overlap `x` or `y`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BiasActivate<E> {
    /// The function.
    pub act: Activation<E>,
    /// `cols` elements.
    pub bias: Span,
    /// `rows × cols`: the affine output on entry, `+ bias` on return.
    pub x: Span,
    /// `rows × cols` output `f(x + bias)`.
    pub y: Span,
    /// Batch rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
}

impl<E> BiasActivate<E> {
    /// The same op with the activation's parameter converted by `f`.
    pub fn map<F>(self, f: impl Fn(E) -> F) -> BiasActivate<F> {
        BiasActivate {
            act: self.act.map(f),
            bias: self.bias,
            x: self.x,
            y: self.y,
            rows: self.rows,
            cols: self.cols,
        }
    }
}

impl<E> OpInfo for BiasActivate<E> {
    const NAME: &'static str = "bias_activate";
    fn check(&self, c: &Check) -> Result<(), OpError> {
        c.shape("bias", self.bias, self.cols)?;
        c.shape("x", self.x, dims(self.rows, self.cols))?;
        c.shape("y", self.y, dims(self.rows, self.cols))?;
        c.disjoint(self.x, self.bias)?;
        c.disjoint(self.y, self.bias)?;
        c.disjoint_or_same(self.y, self.x)
    }
}

impl<E: Element> Composite<E> for BiasActivate<E> {
    fn decompose<Er>(&self, emit: &mut dyn FnMut(&Op<E>) -> Result<(), Er>) -> Result<(), Er> {
        emit(&Op::BiasAdd(BiasAdd {
            bias: self.bias,
            out: self.x,
            rows: self.rows,
            cols: self.cols,
        }))?;
        emit(&Op::Activate(Activate {
            act: self.act,
            x: self.x,
            y: self.y,
        }))
    }
}

/// `dx[i] = f'(x[i]) · dy[i]`, given both `x` and `y = f(x)` (a backend
/// uses whichever is cheaper). Equal lengths; `dx` may be `dy`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ActivateBackward<E> {
    /// The function.
    pub act: Activation<E>,
    /// Its input.
    pub x: Span,
    /// Its output.
    pub y: Span,
    /// Upstream gradient.
    pub dy: Span,
    /// Downstream gradient (overwritten).
    pub dx: Span,
}

impl<E> ActivateBackward<E> {
    /// The same op with the activation's parameter converted by `f`.
    pub fn map<F>(self, f: impl Fn(E) -> F) -> ActivateBackward<F> {
        ActivateBackward {
            act: self.act.map(f),
            x: self.x,
            y: self.y,
            dy: self.dy,
            dx: self.dx,
        }
    }
}

impl<E> OpInfo for ActivateBackward<E> {
    const NAME: &'static str = "activate_backward";
    fn check(&self, c: &Check) -> Result<(), OpError> {
        let n = self.dx.len;
        c.shape("x", self.x, n)?;
        c.shape("y", self.y, n)?;
        c.shape("dy", self.dy, n)?;
        c.bounds(self.dx)?;
        c.disjoint(self.dx, self.x)?;
        c.disjoint(self.dx, self.y)?;
        c.disjoint_or_same(self.dx, self.dy)
    }
}
