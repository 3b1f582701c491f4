//! Losses: the loss kinds, the composite loss op, and the label primitives
//! it is decomposed with (one-hot rows, the count of correct arg-maxes).

use super::{
    dims, Activate, ActivateBackward, Activation, Axpy, Check, Composite, Copy, Fill, Gemm,
    LogSoftmax, Op, OpInfo, Softmax, SumSquares,
};
use crate::{Element, OpError, Span};

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
    /// `dL/dp = (softmax(p) - onehot(t)) / rows`. Targets are `rows` label
    /// elements, each carrying its class index as [`Element::from_index`]
    /// encodes it.
    SoftmaxCrossEntropy,
    /// Multiclass SVM hinge (Weston–Watkins, the CS231n form):
    /// `L = 1/rows Σ_r Σ_{j≠t_r} max(0, p_r[j] - p_r[t_r] + margin)`.
    /// Targets are `rows` label elements (see [`Element::from_index`]).
    Hinge {
        /// The margin Δ (1 in the lecture's form).
        margin: E,
    },
}

/// The losses' names, in [`LossKind::index`] order.
pub(crate) const LOSS_NAMES: [&str; 3] = ["mse", "softmax_cross_entropy", "hinge"];

impl<E> LossKind<E> {
    /// The same loss with its parameter converted by `f`.
    pub fn map<F>(self, f: impl Fn(E) -> F) -> LossKind<F> {
        match self {
            LossKind::Mse => LossKind::Mse,
            LossKind::SoftmaxCrossEntropy => LossKind::SoftmaxCrossEntropy,
            LossKind::Hinge { margin } => LossKind::Hinge { margin: f(margin) },
        }
    }

    /// The loss's position in [`LossKind`]'s variants (its bit in an
    /// [`OpSet`](super::OpSet)), whatever its parameter.
    pub const fn index(&self) -> u32 {
        match self {
            LossKind::Mse => 0,
            LossKind::SoftmaxCrossEntropy => 1,
            LossKind::Hinge { .. } => 2,
        }
    }

    /// `true` when targets are class indices (one per row), `false` when they
    /// are `rows × cols` values.
    pub const fn uses_labels(&self) -> bool {
        !matches!(self, LossKind::Mse)
    }
}

/// `y[r][c] = value` where `labels[r]` carries the class index `c`
/// (`0 ≤ c < cols`), `0` elsewhere; a row whose label carries an index
/// `≥ cols` (or no index) is all zeros.
///
/// A label element carries its index in its bits, not as its value:
/// `labels[r]` is `E::from_index(c)` and a backend reads it with
/// [`Element::to_index`] (a shader reads the word as an unsigned integer), so
/// every `u32` index is exact, also where `c as f32` would round.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct OneHot<E> {
    /// `rows` label elements ([`Element::from_index`]).
    pub labels: Span,
    /// `rows × cols` output (overwritten).
    pub y: Span,
    /// Rows.
    pub rows: usize,
    /// Classes.
    pub cols: usize,
    /// The value at each label's position.
    pub value: E,
}

impl<E> OneHot<E> {
    /// The same op with `value` converted by `f`.
    pub fn map<F>(self, f: impl Fn(E) -> F) -> OneHot<F> {
        OneHot {
            labels: self.labels,
            y: self.y,
            rows: self.rows,
            cols: self.cols,
            value: f(self.value),
        }
    }
}

impl<E> OpInfo for OneHot<E> {
    const NAME: &'static str = "one_hot";
    fn check(&self, c: &Check) -> Result<(), OpError> {
        c.shape("labels", self.labels, self.rows)?;
        c.shape("y", self.y, dims(self.rows, self.cols))?;
        c.disjoint(self.y, self.labels)
    }
}

/// `out[0] = L(pred, target)` (see [`LossKind`]) and, when `grad` is given,
/// `grad = dL/dpred` (overwritten, `rows × cols`). For the classification
/// losses `target` holds label elements, read as [`OneHot`] reads them
/// ([`Element::to_index`]); a label whose index is not in `0..cols`
/// contributes neither loss nor gradient (`microprop` rejects such labels
/// before they reach a backend).
///
/// A composite: its reference decomposition works row by row in `scratch`
/// ([`Loss::scratch_len`] elements, whose contents it overwrites), with
/// [`OneHot`], [`LogSoftmax`], [`Softmax`], [`Gemm`] dot products and the
/// elementwise primitives. A backend with a fused loss kernel ignores
/// `scratch`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Loss<E> {
    /// Which loss.
    pub kind: LossKind<E>,
    /// `rows × cols` predictions (logits for the classification losses).
    pub pred: Span,
    /// `rows × cols` values (MSE) or `rows` label elements
    /// ([`Element::from_index`]).
    pub target: Span,
    /// Batch rows.
    pub rows: usize,
    /// Columns / classes.
    pub cols: usize,
    /// One element: the mean loss.
    pub out: Span,
    /// `rows × cols` gradient, if wanted.
    pub grad: Option<Span>,
    /// Working space of the decomposition: at least
    /// [`Loss::scratch_len`]`(kind, cols)` elements.
    pub scratch: Span,
}

impl<E> Loss<E> {
    /// Scratch elements the decomposition of a `kind` loss over `cols`
    /// columns needs: `cols` for MSE, `3·cols + 1` for cross-entropy,
    /// `4·cols + 2` for hinge.
    pub const fn scratch_len(kind: &LossKind<E>, cols: usize) -> usize {
        match kind {
            LossKind::Mse => cols,
            LossKind::SoftmaxCrossEntropy => cols.saturating_mul(3).saturating_add(1),
            LossKind::Hinge { .. } => cols.saturating_mul(4).saturating_add(2),
        }
    }

    /// The same op with the loss parameter converted by `f`.
    pub fn map<F>(self, f: impl Fn(E) -> F) -> Loss<F> {
        Loss {
            kind: self.kind.map(f),
            pred: self.pred,
            target: self.target,
            rows: self.rows,
            cols: self.cols,
            out: self.out,
            grad: self.grad,
            scratch: self.scratch,
        }
    }
}

impl<E> OpInfo for Loss<E> {
    const NAME: &'static str = "loss";
    fn check(&self, c: &Check) -> Result<(), OpError> {
        // A loss over no columns has no meaning (and, with every span
        // empty, nothing would bound `rows`).
        if self.cols == 0 {
            return Err(OpError::Shape {
                op: Self::NAME,
                operand: "cols",
                expected: 1,
                got: 0,
            });
        }
        let n = dims(self.rows, self.cols);
        c.shape("pred", self.pred, n)?;
        let t = if self.kind.uses_labels() {
            self.rows
        } else {
            n
        };
        c.shape("target", self.target, t)?;
        c.shape("out", self.out, 1)?;
        c.disjoint(self.out, self.pred)?;
        c.disjoint(self.out, self.target)?;
        if let Some(g) = self.grad {
            c.shape("grad", g, n)?;
            c.disjoint(g, self.pred)?;
            c.disjoint(g, self.target)?;
            c.disjoint(g, self.out)?;
        }
        Ok(())
    }
}

/// `c (1 × n) = alpha · a (1 × k) · b (k × n) + beta · c`: the dot products
/// and rank-one updates of the decompositions.
fn row_gemm<E: Element>(k: usize, n: usize, a: Span, b: Span, c: Span, alpha: E, beta: E) -> Op<E> {
    Op::Gemm(Gemm {
        m: 1,
        n,
        k,
        a,
        trans_a: false,
        b,
        trans_b: false,
        c,
        alpha,
        beta,
    })
}

impl<E: Element> Composite<E> for Loss<E> {
    fn check_scratch(&self, c: &Check) -> Result<(), OpError> {
        c.at_least(
            "scratch",
            self.scratch,
            Loss::scratch_len(&self.kind, self.cols),
        )?;
        for s in [self.pred, self.target, self.out] {
            c.disjoint(self.scratch, s)?;
        }
        if let Some(g) = self.grad {
            c.disjoint(g, self.scratch)?;
        }
        Ok(())
    }

    fn decompose<Er>(&self, emit: &mut dyn FnMut(&Op<E>) -> Result<(), Er>) -> Result<(), Er> {
        let (rows, cols) = (self.rows, self.cols);
        let (one, zero) = (E::ONE, E::ZERO);
        let per_row = one / E::from_usize(rows.max(1));
        let s = self.scratch;
        emit(&Op::Fill(Fill {
            dst: self.out,
            value: zero,
        }))?;
        let pred_row = |r: usize| self.pred.slice(r * cols, cols);
        // Row r's label as a one-hot row in `t`.
        let one_hot = |r: usize, t: Span| {
            Op::OneHot(OneHot {
                labels: self.target.slice(r, 1),
                y: t,
                rows: 1,
                cols,
                value: one,
            })
        };
        let grad_row = |r: usize| self.grad.map(|g| g.slice(r * cols, cols));
        match self.kind {
            LossKind::Mse => {
                // d = p - t; L += Σ d² / (rows·cols); g = 2 d / (rows·cols).
                let n = E::from_usize(dims(rows, cols).max(1));
                let d = s.prefix(cols);
                for r in 0..rows {
                    emit(&Op::Copy(Copy {
                        src: pred_row(r),
                        dst: d,
                    }))?;
                    emit(&Op::Axpy(Axpy {
                        x: self.target.slice(r * cols, cols),
                        y: d,
                        alpha: -one,
                    }))?;
                    emit(&Op::SumSquares(SumSquares {
                        x: d,
                        out: self.out,
                        scale: one / n,
                        accumulate: true,
                    }))?;
                    if let Some(g) = grad_row(r) {
                        emit(&Op::Fill(Fill {
                            dst: g,
                            value: zero,
                        }))?;
                        emit(&Op::Axpy(Axpy {
                            x: d,
                            y: g,
                            alpha: (one + one) / n,
                        }))?;
                    }
                }
            }
            LossKind::SoftmaxCrossEntropy => {
                // t = onehot(label); l = log_softmax(p); L -= (l · t) / rows;
                // g = valid · (softmax(p) - t) / rows, valid = Σ t.
                let t = s.slice(0, cols);
                let l = s.slice(cols, cols);
                let ones = s.slice(2 * cols, cols);
                let valid = s.slice(3 * cols, 1);
                emit(&Op::Fill(Fill {
                    dst: ones,
                    value: one,
                }))?;
                for r in 0..rows {
                    emit(&one_hot(r, t))?;
                    emit(&Op::LogSoftmax(LogSoftmax {
                        x: pred_row(r),
                        y: l,
                        rows: 1,
                        cols,
                    }))?;
                    emit(&row_gemm(cols, 1, l, t, self.out, -per_row, one))?;
                    if let Some(g) = grad_row(r) {
                        emit(&Op::Softmax(Softmax {
                            x: pred_row(r),
                            y: l,
                            rows: 1,
                            cols,
                        }))?;
                        emit(&Op::Axpy(Axpy {
                            x: t,
                            y: l,
                            alpha: -one,
                        }))?;
                        emit(&row_gemm(cols, 1, t, ones, valid, one, zero))?;
                        emit(&row_gemm(1, cols, valid, l, g, per_row, zero))?;
                    }
                }
            }
            LossKind::Hinge { margin } => {
                // m = relu(p - p_t + Δ) off the label; m2 = valid · m;
                // L += Σ m2 / rows; g = ([m2 > 0] - count · t) / rows.
                let t = s.slice(0, cols);
                let m = s.slice(cols, cols);
                let m2 = s.slice(2 * cols, cols);
                let ones = s.slice(3 * cols, cols);
                let pt = s.slice(4 * cols, 1);
                let valid = s.slice(4 * cols + 1, 1);
                emit(&Op::Fill(Fill {
                    dst: ones,
                    value: one,
                }))?;
                for r in 0..rows {
                    emit(&one_hot(r, t))?;
                    emit(&row_gemm(cols, 1, pred_row(r), t, pt, one, zero))?;
                    emit(&row_gemm(cols, 1, t, ones, valid, one, zero))?;
                    emit(&Op::Copy(Copy {
                        src: pred_row(r),
                        dst: m,
                    }))?;
                    emit(&row_gemm(1, cols, pt, ones, m, -one, one))?;
                    emit(&Op::Axpy(Axpy {
                        x: ones,
                        y: m,
                        alpha: margin,
                    }))?;
                    emit(&Op::Axpy(Axpy {
                        x: t,
                        y: m,
                        alpha: -margin,
                    }))?;
                    emit(&Op::Activate(Activate {
                        act: Activation::Relu,
                        x: m,
                        y: m,
                    }))?;
                    emit(&row_gemm(1, cols, valid, m, m2, one, zero))?;
                    emit(&row_gemm(cols, 1, m2, ones, self.out, per_row, one))?;
                    if let Some(g) = grad_row(r) {
                        emit(&Op::ActivateBackward(ActivateBackward {
                            act: Activation::Relu,
                            x: m2,
                            y: m2,
                            dy: ones,
                            dx: m,
                        }))?;
                        emit(&row_gemm(cols, 1, m, ones, pt, one, zero))?;
                        emit(&row_gemm(1, cols, pt, t, m, -one, one))?;
                        emit(&Op::Fill(Fill {
                            dst: g,
                            value: zero,
                        }))?;
                        emit(&Op::Axpy(Axpy {
                            x: m,
                            y: g,
                            alpha: per_row,
                        }))?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// `out[0] += #{r : argmax_j pred[r][j] == target[r]}` (first maximum on
/// ties), where `target[r]` is a label element read as [`OneHot`] reads it
/// ([`Element::to_index`]); a label whose index is not in `0..cols` never
/// counts. The count is added as an element value.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CountCorrect {
    /// `rows × cols` scores.
    pub pred: Span,
    /// `rows` label elements ([`Element::from_index`]).
    pub target: Span,
    /// Batch rows.
    pub rows: usize,
    /// Classes.
    pub cols: usize,
    /// One element, accumulated.
    pub out: Span,
}

impl OpInfo for CountCorrect {
    const NAME: &'static str = "count_correct";
    fn check(&self, c: &Check) -> Result<(), OpError> {
        c.shape("pred", self.pred, dims(self.rows, self.cols))?;
        c.shape("target", self.target, self.rows)?;
        c.shape("out", self.out, 1)?;
        c.disjoint(self.out, self.pred)?;
        c.disjoint(self.out, self.target)
    }
}
