//! The perceptron's composite ops: one epoch of the update rule, and the
//! count of training mistakes for fixed weights.

use super::{dims, ActivateBackward, Activation, Axpy, Check, Composite, Fill, Gemm, Op, OpInfo};
use crate::{Element, OpError, Span};

/// Scratch elements the perceptron ops' decompositions need.
pub const PERCEPTRON_SCRATCH: usize = 6;

/// One epoch of the perceptron rule, in row order: for each row `r`,
/// `s = w · x_r`; if `labels[r] · s ≤ 0` then `w += labels[r] · x_r` and
/// `stats[0] += 1`. When `average` is given, `average += w` after each row
/// (for the averaged perceptron). Labels are ±1.
///
/// A composite: its reference decomposition issues, per row, [`Gemm`] dot
/// products, the mistake indicator `1 - [labels[r] · s > 0]` from
/// [`ActivateBackward`] of ReLU, and a rank-one [`Gemm`] update, in
/// `scratch` ([`PERCEPTRON_SCRATCH`] elements, overwritten).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PerceptronEpoch {
    /// `cols` weights (bias folded in as a constant input).
    pub weights: Span,
    /// `rows × cols` samples.
    pub samples: Span,
    /// `rows` labels, ±1.
    pub labels: Span,
    /// Samples.
    pub rows: usize,
    /// Features, bias input included.
    pub cols: usize,
    /// `cols` running sum of weights, if wanted.
    pub average: Option<Span>,
    /// One element: mistakes, accumulated.
    pub stats: Span,
    /// Working space of the decomposition: at least [`PERCEPTRON_SCRATCH`]
    /// elements.
    pub scratch: Span,
}

/// The checks both perceptron ops make of their weights, samples and labels.
fn check_data(
    c: &Check,
    (weights, samples, labels): (Span, Span, Span),
    rows: usize,
    cols: usize,
) -> Result<(), OpError> {
    c.shape("weights", weights, cols)?;
    c.shape("samples", samples, dims(rows, cols))?;
    c.shape("labels", labels, rows)
}

impl OpInfo for PerceptronEpoch {
    const NAME: &'static str = "perceptron_epoch";
    fn check(&self, c: &Check) -> Result<(), OpError> {
        let data = (self.weights, self.samples, self.labels);
        check_data(c, data, self.rows, self.cols)?;
        c.shape("stats", self.stats, 1)?;
        c.disjoint(self.weights, self.samples)?;
        c.disjoint(self.weights, self.labels)?;
        c.disjoint(self.stats, self.weights)?;
        c.disjoint(self.stats, self.samples)?;
        c.disjoint(self.stats, self.labels)?;
        if let Some(avg) = self.average {
            c.shape("average", avg, self.cols)?;
            c.disjoint(avg, self.weights)?;
            c.disjoint(avg, self.samples)?;
            c.disjoint(avg, self.labels)?;
            c.disjoint(avg, self.stats)?;
        }
        Ok(())
    }
}

/// `out[0] = #{r : labels[r] · (w · x_r) ≤ 0}`: the perceptron's training
/// mistakes for fixed weights (used by the pocket algorithm). A composite,
/// decomposed like [`PerceptronEpoch`] without the update.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PerceptronErrors {
    /// `cols` weights.
    pub weights: Span,
    /// `rows × cols` samples.
    pub samples: Span,
    /// `rows` labels, ±1.
    pub labels: Span,
    /// Samples.
    pub rows: usize,
    /// Features, bias input included.
    pub cols: usize,
    /// One element, overwritten.
    pub out: Span,
    /// Working space of the decomposition: at least [`PERCEPTRON_SCRATCH`]
    /// elements.
    pub scratch: Span,
}

impl OpInfo for PerceptronErrors {
    const NAME: &'static str = "perceptron_errors";
    fn check(&self, c: &Check) -> Result<(), OpError> {
        let data = (self.weights, self.samples, self.labels);
        check_data(c, data, self.rows, self.cols)?;
        c.shape("out", self.out, 1)?;
        c.disjoint(self.out, self.weights)?;
        c.disjoint(self.out, self.samples)?;
        c.disjoint(self.out, self.labels)
    }
}

fn dot<E: Element>(k: usize, a: Span, b: Span, c: Span, beta: E) -> Op<E> {
    Op::Gemm(Gemm {
        m: 1,
        n: 1,
        k,
        a,
        trans_a: false,
        b,
        trans_b: false,
        c,
        alpha: E::ONE,
        beta,
    })
}

/// The scalar slots of the decompositions, in `scratch` order.
struct Slots {
    s: Span,
    z: Span,
    one: Span,
    ind: Span,
    mis: Span,
    coef: Span,
}

impl Slots {
    fn new(scratch: Span) -> Self {
        Slots {
            s: scratch.slice(0, 1),
            z: scratch.slice(1, 1),
            one: scratch.slice(2, 1),
            ind: scratch.slice(3, 1),
            mis: scratch.slice(4, 1),
            coef: scratch.slice(5, 1),
        }
    }

    /// The ops that leave `mis[0] = 1` when the row is a mistake
    /// (`y_r · (w · x_r) ≤ 0`), else `0`.
    fn mistake<E: Element, Er>(
        &self,
        weights: Span,
        x_r: Span,
        y_r: Span,
        emit: &mut dyn FnMut(&Op<E>) -> Result<(), Er>,
    ) -> Result<(), Er> {
        emit(&dot(weights.len, x_r, weights, self.s, E::ZERO))?;
        emit(&dot(1, y_r, self.s, self.z, E::ZERO))?;
        emit(&Op::ActivateBackward(ActivateBackward {
            act: Activation::Relu,
            x: self.z,
            y: self.z,
            dy: self.one,
            dx: self.ind,
        }))?;
        emit(&Op::Fill(Fill {
            dst: self.mis,
            value: E::ONE,
        }))?;
        emit(&Op::Axpy(Axpy {
            x: self.ind,
            y: self.mis,
            alpha: -E::ONE,
        }))
    }
}

impl<E: Element> Composite<E> for PerceptronEpoch {
    fn check_scratch(&self, c: &Check) -> Result<(), OpError> {
        c.at_least("scratch", self.scratch, PERCEPTRON_SCRATCH)?;
        for s in [self.weights, self.samples, self.labels, self.stats] {
            c.disjoint(self.scratch, s)?;
        }
        match self.average {
            Some(avg) => c.disjoint(avg, self.scratch),
            None => Ok(()),
        }
    }

    fn decompose<Er>(&self, emit: &mut dyn FnMut(&Op<E>) -> Result<(), Er>) -> Result<(), Er> {
        let slot = Slots::new(self.scratch);
        emit(&Op::Fill(Fill {
            dst: slot.one,
            value: E::ONE,
        }))?;
        for r in 0..self.rows {
            let x_r = self.samples.slice(r * self.cols, self.cols);
            let y_r = self.labels.slice(r, 1);
            slot.mistake(self.weights, x_r, y_r, emit)?;
            emit(&Op::Axpy(Axpy {
                x: slot.mis,
                y: self.stats,
                alpha: E::ONE,
            }))?;
            emit(&dot(1, slot.mis, y_r, slot.coef, E::ZERO))?;
            // w (1 × cols) += coef (1 × 1) · x_r (1 × cols).
            emit(&Op::Gemm(Gemm {
                m: 1,
                n: self.cols,
                k: 1,
                a: slot.coef,
                trans_a: false,
                b: x_r,
                trans_b: false,
                c: self.weights,
                alpha: E::ONE,
                beta: E::ONE,
            }))?;
            if let Some(avg) = self.average {
                emit(&Op::Axpy(Axpy {
                    x: self.weights,
                    y: avg,
                    alpha: E::ONE,
                }))?;
            }
        }
        Ok(())
    }
}

impl<E: Element> Composite<E> for PerceptronErrors {
    fn check_scratch(&self, c: &Check) -> Result<(), OpError> {
        c.at_least("scratch", self.scratch, PERCEPTRON_SCRATCH)?;
        for s in [self.weights, self.samples, self.labels, self.out] {
            c.disjoint(self.scratch, s)?;
        }
        Ok(())
    }

    fn decompose<Er>(&self, emit: &mut dyn FnMut(&Op<E>) -> Result<(), Er>) -> Result<(), Er> {
        let slot = Slots::new(self.scratch);
        emit(&Op::Fill(Fill {
            dst: self.out,
            value: E::ZERO,
        }))?;
        emit(&Op::Fill(Fill {
            dst: slot.one,
            value: E::ONE,
        }))?;
        for r in 0..self.rows {
            let x_r = self.samples.slice(r * self.cols, self.cols);
            slot.mistake(self.weights, x_r, self.labels.slice(r, 1), emit)?;
            emit(&Op::Axpy(Axpy {
                x: slot.mis,
                y: self.out,
                alpha: E::ONE,
            }))?;
        }
        Ok(())
    }
}
