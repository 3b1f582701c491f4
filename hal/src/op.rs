//! The op vocabulary: what a backend must compute.
//!
//! All matrices are row-major and dense. `rows` is the batch dimension.
//! Every op's exact semantics are written on its variant; the CPU backend's
//! scalar reference is the executable form of these comments.

use crate::Element;

/// A range of elements in a backend's arena: `offset .. offset + len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Span {
    /// Index of the first element.
    pub offset: usize,
    /// Number of elements.
    pub len: usize,
}

impl Span {
    /// A span of `len` elements starting at `offset`.
    pub const fn new(offset: usize, len: usize) -> Self {
        Span { offset, len }
    }
    /// One past the last element (saturating, so a huge span never wraps).
    pub const fn end(&self) -> usize {
        self.offset.saturating_add(self.len)
    }
    /// The first `len` elements of this span (clamped to this span).
    pub const fn prefix(&self, len: usize) -> Self {
        let len = if len < self.len { len } else { self.len };
        Span {
            offset: self.offset,
            len,
        }
    }
    /// Elements `start .. start + len` of this span (clamped to this span).
    pub const fn slice(&self, start: usize, len: usize) -> Self {
        let start = if start < self.len { start } else { self.len };
        let room = self.len - start;
        let len = if len < room { len } else { room };
        Span {
            offset: self.offset + start,
            len,
        }
    }
    /// `true` when the two spans share at least one element.
    pub const fn overlaps(&self, other: &Span) -> bool {
        self.len > 0 && other.len > 0 && self.offset < other.end() && other.offset < self.end()
    }
}

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

impl<E> Activation<E> {
    /// The same activation with its parameter converted by `f` (for example
    /// from the `f32` of a spec to a backend's element type).
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

/// A loss function over a batch of predictions. Every loss is the mean over
/// the `rows` of the batch.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LossKind<E> {
    /// Mean squared error over all elements, as PyTorch's `MSELoss`:
    /// `L = 1/(rows·cols) Σ (p - t)²`, `dL/dp = 2 (p - t) / (rows·cols)`.
    /// Targets are `rows × cols` values.
    Mse,
    /// Softmax fused with cross-entropy, computed with log-sum-exp:
    /// `L = 1/rows Σ_r (logsumexp(p_r) - p_r[t_r])`,
    /// `dL/dp = (softmax(p) - onehot(t)) / rows`. Targets are `rows` class
    /// indices stored as element values.
    SoftmaxCrossEntropy,
    /// Multiclass SVM hinge (Weston–Watkins, the CS231n form):
    /// `L = 1/rows Σ_r Σ_{j≠t_r} max(0, p_r[j] - p_r[t_r] + margin)`.
    /// Targets are `rows` class indices stored as element values.
    Hinge {
        /// The margin Δ (1 in the lecture's form).
        margin: E,
    },
}

impl<E> LossKind<E> {
    /// The same loss with its parameter converted by `f`.
    pub fn map<F>(self, f: impl Fn(E) -> F) -> LossKind<F> {
        match self {
            LossKind::Mse => LossKind::Mse,
            LossKind::SoftmaxCrossEntropy => LossKind::SoftmaxCrossEntropy,
            LossKind::Hinge { margin } => LossKind::Hinge { margin: f(margin) },
        }
    }

    /// `true` when targets are class indices (one per row), `false` when they
    /// are `rows × cols` values.
    pub const fn uses_labels(&self) -> bool {
        !matches!(self, LossKind::Mse)
    }
}

/// One instruction for a backend.
///
/// Output spans must not partially overlap their inputs; where a variant says
/// so, an output may be *exactly* an input (in place).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Op<E> {
    /// `dst[i] = value`.
    Fill {
        /// Destination.
        dst: Span,
        /// Value written to every element.
        value: E,
    },
    /// `dst[i] = src[i]`; equal lengths, no overlap.
    Copy {
        /// Source.
        src: Span,
        /// Destination.
        dst: Span,
    },
    /// `y[i] += alpha · x[i]`; equal lengths, no overlap.
    Axpy {
        /// Added span.
        x: Span,
        /// Accumulated span.
        y: Span,
        /// Scale of `x`.
        alpha: E,
    },
    /// `out[0] = (accumulate ? out[0] : 0) + scale · Σ x[i]²`.
    SumSquares {
        /// Summed span.
        x: Span,
        /// One element.
        out: Span,
        /// Factor on the sum (λ for L2 regularisation).
        scale: E,
        /// Add to `out[0]` instead of overwriting it.
        accumulate: bool,
    },
    /// `C = alpha · op(A) · op(B) + beta · C`, with `op(A)` of shape `m × k`
    /// and `op(B)` of shape `k × n`. `A` is stored `m × k`, or `k × m` when
    /// `trans_a`; `B` is stored `k × n`, or `n × k` when `trans_b`. When
    /// `beta == 0`, `C` is overwritten (its old contents, NaN included, are
    /// ignored). `C` must not overlap `A` or `B`.
    Gemm {
        /// Rows of `C`.
        m: usize,
        /// Columns of `C`.
        n: usize,
        /// Inner dimension.
        k: usize,
        /// Left operand.
        a: Span,
        /// Left operand stored transposed.
        trans_a: bool,
        /// Right operand.
        b: Span,
        /// Right operand stored transposed.
        trans_b: bool,
        /// Output, `m × n`.
        c: Span,
        /// Scale of the product.
        alpha: E,
        /// Scale of the old `C`.
        beta: E,
    },
    /// `out[r][c] += bias[c]` for a `rows × cols` output.
    BiasAdd {
        /// `cols` elements.
        bias: Span,
        /// `rows × cols`, updated in place.
        out: Span,
        /// Batch rows.
        rows: usize,
        /// Columns.
        cols: usize,
    },
    /// `dbias[c] += Σ_r dout[r][c]` (accumulates, like every gradient).
    BiasGrad {
        /// `rows × cols` upstream gradient.
        dout: Span,
        /// `cols` elements, accumulated.
        dbias: Span,
        /// Batch rows.
        rows: usize,
        /// Columns.
        cols: usize,
    },
    /// `y[i] = f(x[i])`; equal lengths; `y` may be `x` (in place).
    Activate {
        /// The function.
        act: Activation<E>,
        /// Input (pre-activation).
        x: Span,
        /// Output.
        y: Span,
    },
    /// Bias add fused with an activation, for a `rows × cols` layer output:
    /// `x[r][c] += bias[c]`, then `y[r][c] = f(x[r][c])`. Exactly
    /// [`Op::BiasAdd`] on `x` followed by [`Op::Activate`] from `x` to `y`,
    /// in one pass over memory. `x` keeps the pre-activation (what
    /// [`Op::ActivateBackward`] reads); `y` may be `x` (then only `f(z)` is
    /// kept). `bias` must not overlap `x` or `y`.
    BiasActivate {
        /// The function.
        act: Activation<E>,
        /// `cols` elements.
        bias: Span,
        /// `rows × cols`: the affine output on entry, `+ bias` on return.
        x: Span,
        /// `rows × cols` output `f(x + bias)`.
        y: Span,
        /// Batch rows.
        rows: usize,
        /// Columns.
        cols: usize,
    },
    /// `dx[i] = f'(x[i]) · dy[i]`, given both `x` and `y = f(x)` (a backend
    /// uses whichever is cheaper). Equal lengths; `dx` may be `dy`.
    ActivateBackward {
        /// The function.
        act: Activation<E>,
        /// Its input.
        x: Span,
        /// Its output.
        y: Span,
        /// Upstream gradient.
        dy: Span,
        /// Downstream gradient (overwritten).
        dx: Span,
    },
    /// Row-wise softmax, stable (the row maximum is subtracted first).
    /// `y` may be `x`.
    Softmax {
        /// `rows × cols` logits.
        x: Span,
        /// `rows × cols` probabilities.
        y: Span,
        /// Batch rows.
        rows: usize,
        /// Classes.
        cols: usize,
    },
    /// Softmax backward: `dx[r][j] = y[r][j] (dy[r][j] - Σ_i dy[r][i] y[r][i])`.
    /// `dx` may be `dy`.
    SoftmaxBackward {
        /// `rows × cols` softmax outputs.
        y: Span,
        /// Upstream gradient.
        dy: Span,
        /// Downstream gradient (overwritten).
        dx: Span,
        /// Batch rows.
        rows: usize,
        /// Classes.
        cols: usize,
    },
    /// Maxout: `y[r][u] = max_j x[r][u·k + j]`, `j < k` (the `k` pieces of a
    /// unit are adjacent).
    Maxout {
        /// `rows × (units·k)` affine pieces.
        x: Span,
        /// `rows × units`.
        y: Span,
        /// Batch rows.
        rows: usize,
        /// Output units.
        units: usize,
        /// Pieces per unit.
        k: usize,
    },
    /// Maxout backward: `dx[r][u·k + j] = dy[r][u]` for the first `j` that
    /// attains the maximum, `0` for the other pieces.
    MaxoutBackward {
        /// `rows × (units·k)` affine pieces (the forward input).
        x: Span,
        /// `rows × units` upstream gradient.
        dy: Span,
        /// `rows × (units·k)` downstream gradient (overwritten).
        dx: Span,
        /// Batch rows.
        rows: usize,
        /// Output units.
        units: usize,
        /// Pieces per unit.
        k: usize,
    },
    /// `out[0] = L(pred, target)` (see [`LossKind`]) and, when `grad` is
    /// given, `grad = dL/dpred` (overwritten, `rows × cols`). A label that is
    /// not an integer in `0..cols` contributes neither loss nor gradient
    /// (`microprop` rejects such labels before they reach a backend).
    Loss {
        /// Which loss.
        kind: LossKind<E>,
        /// `rows × cols` predictions (logits for the classification losses).
        pred: Span,
        /// `rows × cols` values (MSE) or `rows` labels.
        target: Span,
        /// Batch rows.
        rows: usize,
        /// Columns / classes.
        cols: usize,
        /// One element: the mean loss.
        out: Span,
        /// `rows × cols` gradient, if wanted.
        grad: Option<Span>,
    },
    /// `out[0] += #{r : argmax_j pred[r][j] == target[r]}` (first maximum on
    /// ties).
    CountCorrect {
        /// `rows × cols` scores.
        pred: Span,
        /// `rows` labels.
        target: Span,
        /// Batch rows.
        rows: usize,
        /// Classes.
        cols: usize,
        /// One element, accumulated.
        out: Span,
    },
    /// Gradient descent: `param[i] -= lr · grad[i]`.
    SgdStep {
        /// Parameters.
        param: Span,
        /// Their gradient.
        grad: Span,
        /// Learning rate.
        lr: E,
    },
    /// SGD with momentum, PyTorch's form: `v = momentum · v + g`,
    /// `param -= lr · v`.
    MomentumStep {
        /// Parameters.
        param: Span,
        /// Their gradient.
        grad: Span,
        /// Velocity state.
        velocity: Span,
        /// Learning rate.
        lr: E,
        /// Momentum μ.
        momentum: E,
    },
    /// Adam with bias correction: `m = β1 m + (1-β1) g`,
    /// `v = β2 v + (1-β2) g²`, `param -= lr · (m / bias1) / (sqrt(v / bias2) + eps)`
    /// where `bias1 = 1 - β1^t` and `bias2 = 1 - β2^t` for step `t ≥ 1`.
    AdamStep {
        /// Parameters.
        param: Span,
        /// Their gradient.
        grad: Span,
        /// First-moment state.
        m: Span,
        /// Second-moment state.
        v: Span,
        /// Learning rate.
        lr: E,
        /// β1.
        beta1: E,
        /// β2.
        beta2: E,
        /// ε.
        eps: E,
        /// `1 - β1^t`.
        bias1: E,
        /// `1 - β2^t`.
        bias2: E,
    },
    /// One epoch of the perceptron rule, in row order: for each row `r`,
    /// `s = w · x_r`; if `labels[r] · s ≤ 0` then `w += labels[r] · x_r` and
    /// `stats[0] += 1`. When `average` is given, `average += w` after each row
    /// (for the averaged perceptron). Labels are ±1.
    PerceptronEpoch {
        /// `cols` weights (bias folded in as a constant input).
        weights: Span,
        /// `rows × cols` samples.
        samples: Span,
        /// `rows` labels, ±1.
        labels: Span,
        /// Samples.
        rows: usize,
        /// Features, bias input included.
        cols: usize,
        /// `cols` running sum of weights, if wanted.
        average: Option<Span>,
        /// One element: mistakes, accumulated.
        stats: Span,
    },
    /// `out[0] = #{r : labels[r] · (w · x_r) ≤ 0}`: the perceptron's training
    /// mistakes for fixed weights (used by the pocket algorithm).
    PerceptronErrors {
        /// `cols` weights.
        weights: Span,
        /// `rows × cols` samples.
        samples: Span,
        /// `rows` labels, ±1.
        labels: Span,
        /// Samples.
        rows: usize,
        /// Features, bias input included.
        cols: usize,
        /// One element, overwritten.
        out: Span,
    },
}

/// Why an op was rejected by [`Op::validate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum OpError {
    /// `span` reaches past the arena of `arena_len` elements.
    OutOfBounds {
        /// The offending span.
        span: Span,
        /// Arena length in elements.
        arena_len: usize,
    },
    /// A span's length does not match the op's dimensions.
    Shape {
        /// The op's name.
        op: &'static str,
        /// Which operand.
        operand: &'static str,
        /// Length implied by the dimensions.
        expected: usize,
        /// The span's length.
        got: usize,
    },
    /// An output partially overlaps an input.
    Overlap {
        /// The op's name.
        op: &'static str,
    },
}

fn dims(a: usize, b: usize) -> usize {
    a.saturating_mul(b)
}

impl<E: Element> Op<E> {
    /// The op's name, for errors and traces.
    pub const fn name(&self) -> &'static str {
        match self {
            Op::Fill { .. } => "fill",
            Op::Copy { .. } => "copy",
            Op::Axpy { .. } => "axpy",
            Op::SumSquares { .. } => "sum_squares",
            Op::Gemm { .. } => "gemm",
            Op::BiasAdd { .. } => "bias_add",
            Op::BiasGrad { .. } => "bias_grad",
            Op::Activate { .. } => "activate",
            Op::BiasActivate { .. } => "bias_activate",
            Op::ActivateBackward { .. } => "activate_backward",
            Op::Softmax { .. } => "softmax",
            Op::SoftmaxBackward { .. } => "softmax_backward",
            Op::Maxout { .. } => "maxout",
            Op::MaxoutBackward { .. } => "maxout_backward",
            Op::Loss { .. } => "loss",
            Op::CountCorrect { .. } => "count_correct",
            Op::SgdStep { .. } => "sgd_step",
            Op::MomentumStep { .. } => "momentum_step",
            Op::AdamStep { .. } => "adam_step",
            Op::PerceptronEpoch { .. } => "perceptron_epoch",
            Op::PerceptronErrors { .. } => "perceptron_errors",
        }
    }

    /// Check every span against an arena of `arena_len` elements and against
    /// the op's dimensions, and that no output partially overlaps an input.
    /// A backend that calls this before executing can index without panics.
    pub fn validate(&self, arena_len: usize) -> Result<(), OpError> {
        let name = self.name();
        let bounds = |s: &Span| {
            if s.end() > arena_len || s.offset.checked_add(s.len).is_none() {
                Err(OpError::OutOfBounds {
                    span: *s,
                    arena_len,
                })
            } else {
                Ok(())
            }
        };
        let shape = |operand: &'static str, s: &Span, expected: usize| {
            bounds(s)?;
            if s.len != expected {
                Err(OpError::Shape {
                    op: name,
                    operand,
                    expected,
                    got: s.len,
                })
            } else {
                Ok(())
            }
        };
        // An output may equal an input exactly (in place) where allowed, but
        // never overlap it partially.
        let disjoint_or_same = |out: &Span, inp: &Span| {
            if out.overlaps(inp) && out != inp {
                Err(OpError::Overlap { op: name })
            } else {
                Ok(())
            }
        };
        let disjoint = |out: &Span, inp: &Span| {
            if out.overlaps(inp) {
                Err(OpError::Overlap { op: name })
            } else {
                Ok(())
            }
        };
        match self {
            Op::Fill { dst, .. } => bounds(dst),
            Op::Copy { src, dst } => {
                shape("src", src, dst.len)?;
                bounds(dst)?;
                disjoint_or_same(dst, src)
            }
            Op::Axpy { x, y, .. } => {
                shape("x", x, y.len)?;
                bounds(y)?;
                disjoint(y, x)
            }
            Op::SumSquares { x, out, .. } => {
                bounds(x)?;
                shape("out", out, 1)?;
                disjoint(out, x)
            }
            Op::Gemm {
                m, n, k, a, b, c, ..
            } => {
                shape("a", a, dims(*m, *k))?;
                shape("b", b, dims(*k, *n))?;
                shape("c", c, dims(*m, *n))?;
                disjoint(c, a)?;
                disjoint(c, b)
            }
            Op::BiasAdd {
                bias,
                out,
                rows,
                cols,
            } => {
                shape("bias", bias, *cols)?;
                shape("out", out, dims(*rows, *cols))?;
                disjoint(out, bias)
            }
            Op::BiasGrad {
                dout,
                dbias,
                rows,
                cols,
            } => {
                shape("dout", dout, dims(*rows, *cols))?;
                shape("dbias", dbias, *cols)?;
                disjoint(dbias, dout)
            }
            Op::Activate { x, y, .. } => {
                shape("x", x, y.len)?;
                bounds(y)?;
                disjoint_or_same(y, x)
            }
            Op::BiasActivate {
                bias,
                x,
                y,
                rows,
                cols,
                ..
            } => {
                shape("bias", bias, *cols)?;
                shape("x", x, dims(*rows, *cols))?;
                shape("y", y, dims(*rows, *cols))?;
                disjoint(x, bias)?;
                disjoint(y, bias)?;
                disjoint_or_same(y, x)
            }
            Op::ActivateBackward { x, y, dy, dx, .. } => {
                let n = dx.len;
                shape("x", x, n)?;
                shape("y", y, n)?;
                shape("dy", dy, n)?;
                bounds(dx)?;
                disjoint(dx, x)?;
                disjoint(dx, y)?;
                disjoint_or_same(dx, dy)
            }
            Op::Softmax { x, y, rows, cols } => {
                shape("x", x, dims(*rows, *cols))?;
                shape("y", y, dims(*rows, *cols))?;
                disjoint_or_same(y, x)
            }
            Op::SoftmaxBackward {
                y,
                dy,
                dx,
                rows,
                cols,
            } => {
                shape("y", y, dims(*rows, *cols))?;
                shape("dy", dy, dims(*rows, *cols))?;
                shape("dx", dx, dims(*rows, *cols))?;
                disjoint(dx, y)?;
                disjoint_or_same(dx, dy)
            }
            Op::Maxout {
                x,
                y,
                rows,
                units,
                k,
            } => {
                shape("x", x, dims(*rows, dims(*units, *k)))?;
                shape("y", y, dims(*rows, *units))?;
                disjoint(y, x)
            }
            Op::MaxoutBackward {
                x,
                dy,
                dx,
                rows,
                units,
                k,
            } => {
                shape("x", x, dims(*rows, dims(*units, *k)))?;
                shape("dy", dy, dims(*rows, *units))?;
                shape("dx", dx, dims(*rows, dims(*units, *k)))?;
                disjoint(dx, x)?;
                disjoint(dx, dy)
            }
            Op::Loss {
                kind,
                pred,
                target,
                rows,
                cols,
                out,
                grad,
            } => {
                shape("pred", pred, dims(*rows, *cols))?;
                let t = if kind.uses_labels() {
                    *rows
                } else {
                    dims(*rows, *cols)
                };
                shape("target", target, t)?;
                shape("out", out, 1)?;
                disjoint(out, pred)?;
                disjoint(out, target)?;
                if let Some(g) = grad {
                    shape("grad", g, dims(*rows, *cols))?;
                    disjoint(g, pred)?;
                    disjoint(g, target)?;
                    disjoint(g, out)?;
                }
                Ok(())
            }
            Op::CountCorrect {
                pred,
                target,
                rows,
                cols,
                out,
            } => {
                shape("pred", pred, dims(*rows, *cols))?;
                shape("target", target, *rows)?;
                shape("out", out, 1)?;
                disjoint(out, pred)?;
                disjoint(out, target)
            }
            Op::SgdStep { param, grad, .. } => {
                shape("grad", grad, param.len)?;
                bounds(param)?;
                disjoint(param, grad)
            }
            Op::MomentumStep {
                param,
                grad,
                velocity,
                ..
            } => {
                bounds(param)?;
                shape("grad", grad, param.len)?;
                shape("velocity", velocity, param.len)?;
                disjoint(param, grad)?;
                disjoint(param, velocity)?;
                disjoint(velocity, grad)
            }
            Op::AdamStep {
                param, grad, m, v, ..
            } => {
                bounds(param)?;
                shape("grad", grad, param.len)?;
                shape("m", m, param.len)?;
                shape("v", v, param.len)?;
                disjoint(param, grad)?;
                disjoint(param, m)?;
                disjoint(param, v)?;
                disjoint(m, v)?;
                disjoint(m, grad)?;
                disjoint(v, grad)
            }
            Op::PerceptronEpoch {
                weights,
                samples,
                labels,
                rows,
                cols,
                average,
                stats,
            } => {
                shape("weights", weights, *cols)?;
                shape("samples", samples, dims(*rows, *cols))?;
                shape("labels", labels, *rows)?;
                shape("stats", stats, 1)?;
                disjoint(weights, samples)?;
                disjoint(weights, labels)?;
                disjoint(stats, weights)?;
                disjoint(stats, samples)?;
                disjoint(stats, labels)?;
                if let Some(avg) = average {
                    shape("average", avg, *cols)?;
                    disjoint(avg, weights)?;
                    disjoint(avg, samples)?;
                    disjoint(avg, labels)?;
                    disjoint(avg, stats)?;
                }
                Ok(())
            }
            Op::PerceptronErrors {
                weights,
                samples,
                labels,
                rows,
                cols,
                out,
            } => {
                shape("weights", weights, *cols)?;
                shape("samples", samples, dims(*rows, *cols))?;
                shape("labels", labels, *rows)?;
                shape("out", out, 1)?;
                disjoint(out, weights)?;
                disjoint(out, samples)?;
                disjoint(out, labels)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gemm(c: Span) -> Op<f32> {
        Op::Gemm {
            m: 2,
            n: 3,
            k: 4,
            a: Span::new(0, 8),
            trans_a: false,
            b: Span::new(8, 12),
            trans_b: false,
            c,
            alpha: 1.0,
            beta: 0.0,
        }
    }

    #[test]
    fn gemm_shapes_are_checked() {
        let op = gemm(Span::new(20, 6));
        assert_eq!(op.validate(26), Ok(()));
        assert!(matches!(op.validate(25), Err(OpError::OutOfBounds { .. })));
        assert!(matches!(
            gemm(Span::new(20, 5)).validate(100),
            Err(OpError::Shape {
                operand: "c",
                expected: 6,
                got: 5,
                ..
            })
        ));
        assert!(matches!(
            gemm(Span::new(4, 6)).validate(100),
            Err(OpError::Overlap { .. })
        ));
    }

    #[test]
    fn huge_spans_do_not_wrap() {
        let op = Op::<f64>::Fill {
            dst: Span::new(usize::MAX - 1, 10),
            value: 0.0,
        };
        assert!(matches!(op.validate(100), Err(OpError::OutOfBounds { .. })));
    }

    #[test]
    fn in_place_activation_is_allowed_partial_overlap_is_not() {
        let same = Op::<f32>::Activate {
            act: Activation::Relu,
            x: Span::new(0, 4),
            y: Span::new(0, 4),
        };
        assert_eq!(same.validate(8), Ok(()));
        let partial = Op::<f32>::Activate {
            act: Activation::Relu,
            x: Span::new(0, 4),
            y: Span::new(2, 4),
        };
        assert_eq!(
            partial.validate(8),
            Err(OpError::Overlap { op: "activate" })
        );
    }

    #[test]
    fn bias_activate_checks_shapes_and_overlaps() {
        let op = |bias: Span, x: Span, y: Span| Op::<f32>::BiasActivate {
            act: Activation::Relu,
            bias,
            x,
            y,
            rows: 2,
            cols: 3,
        };
        let (b, x) = (Span::new(0, 3), Span::new(3, 6));
        assert_eq!(op(b, x, Span::new(9, 6)).validate(15), Ok(()));
        assert_eq!(op(b, x, x).validate(15), Ok(()));
        assert!(matches!(
            op(b, x, Span::new(9, 6)).validate(14),
            Err(OpError::OutOfBounds { .. })
        ));
        assert!(matches!(
            op(Span::new(0, 2), x, x).validate(15),
            Err(OpError::Shape {
                operand: "bias",
                ..
            })
        ));
        assert!(matches!(
            op(b, x, Span::new(9, 5)).validate(15),
            Err(OpError::Shape { operand: "y", .. })
        ));
        assert_eq!(
            op(b, x, Span::new(5, 6)).validate(15),
            Err(OpError::Overlap {
                op: "bias_activate"
            })
        );
        assert_eq!(
            op(Span::new(4, 3), Span::new(0, 6), Span::new(7, 6)).validate(15),
            Err(OpError::Overlap {
                op: "bias_activate"
            })
        );
        assert_eq!(
            op(Span::new(7, 3), Span::new(0, 6), Span::new(8, 6)).validate(15),
            Err(OpError::Overlap {
                op: "bias_activate"
            })
        );
    }

    #[test]
    fn span_helpers_clamp() {
        let s = Span::new(10, 5);
        assert_eq!(s.prefix(3), Span::new(10, 3));
        assert_eq!(s.prefix(9), s);
        assert_eq!(s.slice(2, 2), Span::new(12, 2));
        assert_eq!(s.slice(4, 9), Span::new(14, 1));
        assert!(s.overlaps(&Span::new(14, 1)));
        assert!(!s.overlaps(&Span::new(15, 1)));
    }
}
