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
use microprop::hal::{Op, Span};
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

/// Convert an op's scalars from f64 to `E` ([`Op::map`]).
pub fn cast_op<E: Element>(op: &Op<f64>) -> Op<E> {
    op.map(E::from_f64)
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
