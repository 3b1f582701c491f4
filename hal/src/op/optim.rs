//! Optimizer updates: SGD, momentum, Adam.

use super::{Check, OpInfo};
use crate::{OpError, Span};

/// Gradient descent: `param[i] -= lr · grad[i]`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SgdStep<E> {
    /// Parameters.
    pub param: Span,
    /// Their gradient.
    pub grad: Span,
    /// Learning rate.
    pub lr: E,
}

impl<E> SgdStep<E> {
    /// The same op with `lr` converted by `f`.
    pub fn map<F>(self, f: impl Fn(E) -> F) -> SgdStep<F> {
        SgdStep {
            param: self.param,
            grad: self.grad,
            lr: f(self.lr),
        }
    }
}

impl<E> OpInfo for SgdStep<E> {
    const NAME: &'static str = "sgd_step";
    fn check(&self, c: &Check) -> Result<(), OpError> {
        c.shape("grad", self.grad, self.param.len)?;
        c.bounds(self.param)?;
        c.disjoint(self.param, self.grad)
    }
}

/// SGD with momentum, PyTorch's form: `v = momentum · v + g`,
/// `param -= lr · v`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MomentumStep<E> {
    /// Parameters.
    pub param: Span,
    /// Their gradient.
    pub grad: Span,
    /// Velocity state.
    pub velocity: Span,
    /// Learning rate.
    pub lr: E,
    /// Momentum μ.
    pub momentum: E,
}

impl<E> MomentumStep<E> {
    /// The same op with `lr` and `momentum` converted by `f`.
    pub fn map<F>(self, f: impl Fn(E) -> F) -> MomentumStep<F> {
        MomentumStep {
            param: self.param,
            grad: self.grad,
            velocity: self.velocity,
            lr: f(self.lr),
            momentum: f(self.momentum),
        }
    }
}

impl<E> OpInfo for MomentumStep<E> {
    const NAME: &'static str = "momentum_step";
    fn check(&self, c: &Check) -> Result<(), OpError> {
        c.bounds(self.param)?;
        c.shape("grad", self.grad, self.param.len)?;
        c.shape("velocity", self.velocity, self.param.len)?;
        c.disjoint(self.param, self.grad)?;
        c.disjoint(self.param, self.velocity)?;
        c.disjoint(self.velocity, self.grad)
    }
}

/// Adam with bias correction: `m = β1 m + (1-β1) g`,
/// `v = β2 v + (1-β2) g²`, `param -= lr · (m / bias1) / (sqrt(v / bias2) + eps)`
/// where `bias1 = 1 - β1^t` and `bias2 = 1 - β2^t` for step `t ≥ 1`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AdamStep<E> {
    /// Parameters.
    pub param: Span,
    /// Their gradient.
    pub grad: Span,
    /// First-moment state.
    pub m: Span,
    /// Second-moment state.
    pub v: Span,
    /// Learning rate.
    pub lr: E,
    /// β1.
    pub beta1: E,
    /// β2.
    pub beta2: E,
    /// ε.
    pub eps: E,
    /// `1 - β1^t`.
    pub bias1: E,
    /// `1 - β2^t`.
    pub bias2: E,
}

impl<E> AdamStep<E> {
    /// The same op with every hyperparameter converted by `f`.
    pub fn map<F>(self, f: impl Fn(E) -> F) -> AdamStep<F> {
        AdamStep {
            param: self.param,
            grad: self.grad,
            m: self.m,
            v: self.v,
            lr: f(self.lr),
            beta1: f(self.beta1),
            beta2: f(self.beta2),
            eps: f(self.eps),
            bias1: f(self.bias1),
            bias2: f(self.bias2),
        }
    }
}

impl<E> OpInfo for AdamStep<E> {
    const NAME: &'static str = "adam_step";
    fn check(&self, c: &Check) -> Result<(), OpError> {
        let n = self.param.len;
        c.bounds(self.param)?;
        c.shape("grad", self.grad, n)?;
        c.shape("m", self.m, n)?;
        c.shape("v", self.v, n)?;
        c.disjoint(self.param, self.grad)?;
        c.disjoint(self.param, self.m)?;
        c.disjoint(self.param, self.v)?;
        c.disjoint(self.m, self.v)?;
        c.disjoint(self.m, self.grad)?;
        c.disjoint(self.v, self.grad)
    }
}
