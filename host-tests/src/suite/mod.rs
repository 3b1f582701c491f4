//! The generic tests. Each `pub fn name<H: Harness>()` (no parameters, no
//! return type) in this folder is one test, found by `build.rs` and stamped
//! per backend by [`crate::Suite`].

#![allow(missing_docs)] // each function is one test; its name and comments say what it checks

pub mod anchor;
pub mod contract;
pub mod conv;
pub mod differential;
pub mod edges;
pub mod grads;
pub mod guard;
pub mod inference;
pub mod interop;
pub mod ops;
pub mod partial;
pub mod perceptron;
pub mod replay;
pub mod train;

use crate::{assert_close, CpuReference, Harness};
use microprop::hal::{Op, Span};
use microprop::{Backend, Element};

/// Builds an arena's initial contents span by span.
///
/// The contents are described in f64: values, and class labels as the f64
/// label elements of [`label`]. [`run_ops`] turns the description into a
/// backend's element type with [`elem`].
#[derive(Default)]
pub struct ArenaBuilder {
    /// Values, as f64.
    pub vals: Vec<f64>,
}

/// The class index `i` in an arena description: the f64 label element
/// `f64::from_index(i)` (bits `i`, a subnormal below `2^-1042` that no test
/// uses as a value). [`elem`] makes it `E::from_index(i)` for any `E`.
pub fn label(i: u32) -> f64 {
    f64::from_index(i)
}

/// One entry of an arena description as an `E`: a label ([`label`])
/// becomes `E::from_index` of its index (exact), a value `E::from_f64` of
/// it. `0.0` is both the value 0 and label 0 (`from_index(0)` is `+0`).
pub fn elem<E: Element>(v: f64) -> E {
    match v.to_index() {
        Some(i) if i != 0 => E::from_index(i),
        _ => E::from_f64(v),
    }
}

/// The inverse of [`elem`] for reading an arena back: where the description
/// held a label and the element still carries that index, the label;
/// everywhere else the element's value.
pub fn describe<E: Element>(init: f64, got: E) -> f64 {
    match init.to_index() {
        Some(i) if i != 0 && got.to_index() == Some(i) => init,
        _ => got.to_f64(),
    }
}

impl ArenaBuilder {
    /// Append `v` and return its span.
    pub fn put(&mut self, v: &[f64]) -> Span {
        let s = Span::new(self.vals.len(), v.len());
        self.vals.extend_from_slice(v);
        s
    }
    /// Append the class labels `labels` ([`label`]) and return their span.
    pub fn put_labels(&mut self, labels: &[u32]) -> Span {
        let v: Vec<f64> = labels.iter().map(|&i| label(i)).collect();
        self.put(&v)
    }
    /// Append `n` zeros.
    pub fn zeros(&mut self, n: usize) -> Span {
        self.put(&vec![0.0; n])
    }
}

/// Run `ops` on a fresh backend of `H` whose arena starts as `init`; return
/// the whole arena as f64, or `None` when the harness skips.
pub fn run_ops<H: Harness>(init: &[f64], ops: &[Op<f64>]) -> Option<Vec<f64>> {
    let mut b = H::backend(init.len())?;
    let vals: Vec<H::E> = init.iter().map(|&v| elem(v)).collect();
    b.upload(0, &vals).expect("upload");
    for op in ops {
        b.execute(&op.map(H::E::from_f64))
            .unwrap_or_else(|e| panic!("{}: {op:?}: {e:?}", H::NAME));
    }
    b.submit().expect("submit");
    let mut out = vec![H::E::ZERO; init.len()];
    b.download(0, &mut out).expect("download");
    Some(init.iter().zip(out).map(|(&i, v)| describe(i, v)).collect())
}

/// The values of `span` in an arena snapshot.
pub fn at(arena: &[f64], s: Span) -> &[f64] {
    &arena[s.offset..s.offset + s.len]
}

/// Run `ops` from `init` on `H` and on the CPU reference kernels in f64
/// ([`CpuReference`], the ground truth), and assert that the whole arenas
/// are [`crate::close`] within `tol`. A composite's scratch is left out of
/// the comparison: it holds whatever its decomposition left there (nothing
/// when a backend overrides the op).
#[track_caller]
pub fn assert_matches_reference<H: Harness>(what: &str, init: &[f64], ops: &[Op<f64>], tol: f64) {
    let Some(mut got) = run_ops::<H>(init, ops) else {
        return;
    };
    let mut want = run_ops::<CpuReference<f64>>(init, ops).expect("the reference runs");
    for s in ops.iter().filter_map(scratch_of) {
        got[s.offset..s.end()].fill(0.0);
        want[s.offset..s.end()].fill(0.0);
    }
    assert_close(&format!("{}: {what}", H::NAME), &got, &want, tol);
}

/// The working space of a composite op, if it has one.
fn scratch_of(op: &Op<f64>) -> Option<Span> {
    match op {
        Op::Loss(l) => Some(l.scratch),
        Op::PerceptronEpoch(p) => Some(p.scratch),
        Op::PerceptronErrors(p) => Some(p.scratch),
        _ => None,
    }
}
