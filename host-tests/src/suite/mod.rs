//! The generic tests. Each `pub fn name<H: Harness>()` (no parameters, no
//! return type) in this folder is one test, found by `build.rs` and stamped
//! per backend by [`crate::Suite`].

#![allow(missing_docs)] // each function is one test; its name and comments say what it checks

pub mod grads;
pub mod guard;
pub mod interop;
pub mod ops;
pub mod perceptron;
pub mod train;

use crate::Harness;
use microprop::hal::{Activation, Op, Span};
use microprop::{Backend, Element};

/// Builds an arena's initial contents span by span.
#[derive(Default)]
pub struct ArenaBuilder {
    /// Values, as f64.
    pub vals: Vec<f64>,
}

impl ArenaBuilder {
    /// Append `v` and return its span.
    pub fn put(&mut self, v: &[f64]) -> Span {
        let s = Span::new(self.vals.len(), v.len());
        self.vals.extend_from_slice(v);
        s
    }
    /// Append `n` zeros.
    pub fn zeros(&mut self, n: usize) -> Span {
        self.put(&vec![0.0; n])
    }
}

/// Convert an op's scalars from f64 to `E`.
pub fn cast_op<E: Element>(op: &Op<f64>) -> Op<E> {
    let c = E::from_f64;
    let act = |a: Activation<f64>| a.map(c);
    match *op {
        Op::Fill { dst, value } => Op::Fill {
            dst,
            value: c(value),
        },
        Op::Copy { src, dst } => Op::Copy { src, dst },
        Op::Axpy { x, y, alpha } => Op::Axpy {
            x,
            y,
            alpha: c(alpha),
        },
        Op::SumSquares {
            x,
            out,
            scale,
            accumulate,
        } => Op::SumSquares {
            x,
            out,
            scale: c(scale),
            accumulate,
        },
        Op::Gemm {
            m,
            n,
            k,
            a,
            trans_a,
            b,
            trans_b,
            c: cc,
            alpha,
            beta,
        } => Op::Gemm {
            m,
            n,
            k,
            a,
            trans_a,
            b,
            trans_b,
            c: cc,
            alpha: c(alpha),
            beta: c(beta),
        },
        Op::BiasAdd {
            bias,
            out,
            rows,
            cols,
        } => Op::BiasAdd {
            bias,
            out,
            rows,
            cols,
        },
        Op::BiasGrad {
            dout,
            dbias,
            rows,
            cols,
        } => Op::BiasGrad {
            dout,
            dbias,
            rows,
            cols,
        },
        Op::Activate { act: a, x, y } => Op::Activate { act: act(a), x, y },
        Op::BiasActivate {
            act: a,
            bias,
            x,
            y,
            rows,
            cols,
        } => Op::BiasActivate {
            act: act(a),
            bias,
            x,
            y,
            rows,
            cols,
        },
        Op::ActivateBackward {
            act: a,
            x,
            y,
            dy,
            dx,
        } => Op::ActivateBackward {
            act: act(a),
            x,
            y,
            dy,
            dx,
        },
        Op::Softmax { x, y, rows, cols } => Op::Softmax { x, y, rows, cols },
        Op::SoftmaxBackward {
            y,
            dy,
            dx,
            rows,
            cols,
        } => Op::SoftmaxBackward {
            y,
            dy,
            dx,
            rows,
            cols,
        },
        Op::Maxout {
            x,
            y,
            rows,
            units,
            k,
        } => Op::Maxout {
            x,
            y,
            rows,
            units,
            k,
        },
        Op::MaxoutBackward {
            x,
            dy,
            dx,
            rows,
            units,
            k,
        } => Op::MaxoutBackward {
            x,
            dy,
            dx,
            rows,
            units,
            k,
        },
        Op::Loss {
            kind,
            pred,
            target,
            rows,
            cols,
            out,
            grad,
        } => Op::Loss {
            kind: kind.map(c),
            pred,
            target,
            rows,
            cols,
            out,
            grad,
        },
        Op::CountCorrect {
            pred,
            target,
            rows,
            cols,
            out,
        } => Op::CountCorrect {
            pred,
            target,
            rows,
            cols,
            out,
        },
        Op::SgdStep { param, grad, lr } => Op::SgdStep {
            param,
            grad,
            lr: c(lr),
        },
        Op::MomentumStep {
            param,
            grad,
            velocity,
            lr,
            momentum,
        } => Op::MomentumStep {
            param,
            grad,
            velocity,
            lr: c(lr),
            momentum: c(momentum),
        },
        Op::AdamStep {
            param,
            grad,
            m,
            v,
            lr,
            beta1,
            beta2,
            eps,
            bias1,
            bias2,
        } => Op::AdamStep {
            param,
            grad,
            m,
            v,
            lr: c(lr),
            beta1: c(beta1),
            beta2: c(beta2),
            eps: c(eps),
            bias1: c(bias1),
            bias2: c(bias2),
        },
        Op::PerceptronEpoch {
            weights,
            samples,
            labels,
            rows,
            cols,
            average,
            stats,
        } => Op::PerceptronEpoch {
            weights,
            samples,
            labels,
            rows,
            cols,
            average,
            stats,
        },
        Op::PerceptronErrors {
            weights,
            samples,
            labels,
            rows,
            cols,
            out,
        } => Op::PerceptronErrors {
            weights,
            samples,
            labels,
            rows,
            cols,
            out,
        },
    }
}

/// Run `ops` on a fresh backend of `H` whose arena starts as `init`; return
/// the whole arena as f64, or `None` when the harness skips.
pub fn run_ops<H: Harness>(init: &[f64], ops: &[Op<f64>]) -> Option<Vec<f64>> {
    let mut b = H::backend(init.len())?;
    let vals: Vec<H::E> = init.iter().map(|&v| H::E::from_f64(v)).collect();
    b.upload(0, &vals).expect("upload");
    for op in ops {
        b.execute(&cast_op::<H::E>(op))
            .unwrap_or_else(|e| panic!("{}: {op:?}: {e:?}", H::NAME));
    }
    b.submit().expect("submit");
    let mut out = vec![H::E::ZERO; init.len()];
    b.download(0, &mut out).expect("download");
    Some(out.into_iter().map(|v| v.to_f64()).collect())
}

/// The values of `span` in an arena snapshot.
pub fn at(arena: &[f64], s: Span) -> &[f64] {
    &arena[s.offset..s.offset + s.len]
}
