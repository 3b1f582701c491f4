//! A network with a plan (`Network::set_plan`) issues, on every training
//! step, exactly the ops the same network issues without one, in the same
//! order, and trains to the same bits: for every layer kind, loss and
//! optimizer, across batch sizes that change, learning-rate changes, an
//! L2-SP anchor set and cleared, a reset, and a plan buffer too small to
//! hold the step.

use microprop::{
    blob, plan_slot, Config, Layer, Loss, Network, Optimizer, Spec, Targets, Train, Q10,
};
use microprop_cpu::{CpuBackend, Float};
use microprop_hal::{Backend, Element, Op, OpSet};

/// A backend that logs every op the network executes, then runs it.
struct Spy<B: Backend> {
    inner: B,
    log: Vec<Op<B::Elem>>,
}

impl<B: Backend> Backend for Spy<B> {
    type Elem = B::Elem;
    type Error = B::Error;
    fn arena_len(&self) -> usize {
        self.inner.arena_len()
    }
    fn upload(&mut self, offset: usize, src: &[B::Elem]) -> Result<(), B::Error> {
        self.inner.upload(offset, src)
    }
    fn download(&mut self, offset: usize, dst: &mut [B::Elem]) -> Result<(), B::Error> {
        self.inner.download(offset, dst)
    }
    fn dispatch(&mut self, op: &Op<B::Elem>) -> Result<(), B::Error> {
        self.inner.dispatch(op)
    }
    fn overrides(&self, op: &Op<B::Elem>) -> bool {
        self.inner.overrides(op)
    }
    fn ops(&self) -> OpSet {
        self.inner.ops()
    }
    fn execute(&mut self, op: &Op<B::Elem>) -> Result<(), B::Error> {
        self.log.push(*op);
        self.inner.execute(op)
    }
}

/// What the script does between steps.
#[derive(Clone, Copy)]
enum Do {
    /// A training step on this many rows.
    Step(usize),
    SetLr(f64),
    /// Set the L2-SP anchor (a blob of the parameters now) with this λ.
    Anchor(f64),
    ClearAnchor,
    Reset(u64),
}

/// Deterministic inputs in [-1, 1].
fn inputs<E: Element>(n: usize, salt: usize) -> Vec<E> {
    (0..n)
        .map(|i| E::from_f64((((i + 3 * salt) as f64) * 0.618).sin()))
        .collect()
}

/// Run `script` on `spec` under `cfg` with and without a plan of `slots`
/// ops; every step must issue the same ops and return the same loss, and
/// the parameters must end the same. Returns the planned network's
/// `plan_ops`.
fn same_with_plan<E: Element + Float>(
    spec: Spec<'static>,
    cfg: Config,
    slots: usize,
    script: &[Do],
) -> Option<usize> {
    let len = cfg.arena_len(&spec);
    let (mut a, mut b) = (vec![E::ZERO; len], vec![E::ZERO; len]);
    let mut ops = vec![plan_slot::<E>(); slots];
    let mut anchor = vec![0u8; blob::blob_len(spec.param_count())];
    let spy = |arena| Spy {
        inner: CpuBackend::new(arena),
        log: Vec::new(),
    };
    let mut plain = Network::new(spec, spy(&mut a), cfg).unwrap();
    let mut planned = Network::new(spec, spy(&mut b), cfg).unwrap();
    planned.set_plan(&mut ops);
    let anchor: &'static [u8] = {
        plain.save_blob(&mut anchor).unwrap();
        Box::leak(anchor.into_boxed_slice())
    };
    let cols = spec.outputs();
    for (n, &d) in script.iter().enumerate() {
        match d {
            Do::Step(rows) => {
                let x = inputs::<E>(rows * spec.inputs(), n);
                let labels: Vec<usize> = (0..rows).map(|r| (r * 7 + n) % cols).collect();
                let values = inputs::<E>(rows * cols, n + 11);
                let t = if cfg.loss.uses_labels() {
                    Targets::Labels(&labels)
                } else {
                    Targets::Values(&values)
                };
                let l = plain.train_step(&x, t).unwrap();
                let m = planned.train_step(&x, t).unwrap();
                assert_eq!(l.to_f64().to_bits(), m.to_f64().to_bits(), "loss, step {n}");
            }
            Do::SetLr(lr) => {
                plain.set_lr(lr).unwrap();
                planned.set_lr(lr).unwrap();
            }
            Do::Anchor(lambda) => {
                plain.set_anchor(anchor, lambda).unwrap();
                planned.set_anchor(anchor, lambda).unwrap();
            }
            Do::ClearAnchor => {
                plain.clear_anchor();
                planned.clear_anchor();
            }
            Do::Reset(seed) => {
                plain.reset(seed).unwrap();
                planned.reset(seed).unwrap();
            }
        }
        let (lp, lq) = (&mut plain.backend_mut().log, &mut planned.backend_mut().log);
        assert_eq!(lp, lq, "the ops of script entry {n}");
        lp.clear();
        lq.clear();
    }
    let k = spec.param_count();
    let (mut wp, mut wq) = (vec![E::ZERO; k], vec![E::ZERO; k]);
    plain.parameters(&mut wp).unwrap();
    planned.parameters(&mut wq).unwrap();
    let bits = |w: &[E]| w.iter().map(|x| x.to_f64().to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&wp), bits(&wq));
    planned.plan_ops()
}

const STEPS: [Do; 4] = [Do::Step(4), Do::Step(4), Do::Step(4), Do::Step(4)];

const XOR: Spec = Spec::new(&[
    Layer::dense(2, 4),
    Layer::tanh(),
    Layer::dense(4, 1),
    Layer::sigmoid(),
]);

const MLP: Spec = Spec::new(&[
    Layer::dense(6, 5),
    Layer::relu(),
    Layer::dense(5, 4),
    Layer::tanh(),
    Layer::dense(4, 3),
]);

#[test]
fn xor_with_momentum_records_once_and_issues_the_same_ops() {
    let cfg = Config::new(4, Loss::Mse, Optimizer::momentum(0.5, 0.9));
    let n = same_with_plan::<f32>(XOR, cfg, 32, &STEPS).expect("recorded");
    // Zero the gradients; per dense layer a gemm and a bias with its
    // activation forward; the loss; backward: two activation gradients,
    // two bias gradients, two weight gradients and one input gradient
    // (the first layer's input gradient is not needed).
    assert_eq!(n, 1 + 4 + 1 + 7);
}

#[test]
fn every_optimizer_and_loss() {
    let cfgs = [
        Config::new(4, Loss::SoftmaxCrossEntropy, Optimizer::sgd(0.1)),
        Config::new(4, Loss::SoftmaxCrossEntropy, Optimizer::adam(0.01)).with_l2(0.01),
        Config::new(4, Loss::Hinge { margin: 1.0 }, Optimizer::fused_sgd(0.1)),
        Config::new(4, Loss::Mse, Optimizer::momentum(0.1, 0.9)).with_l2(0.001),
    ];
    for cfg in cfgs {
        assert!(same_with_plan::<f32>(MLP, cfg, 64, &STEPS).is_some());
    }
}

#[test]
fn layer_kinds_frozen_layers_and_fixed_point() {
    const CONV: Spec = Spec::new(&[
        Layer::conv1d(2, 3, 8, 3, 1, 1),
        Layer::relu(),
        Layer::max_pool1d(3, 8, 2, 2),
        Layer::flatten(),
        Layer::dense(12, 3),
    ]);
    let cfg = Config::new(4, Loss::SoftmaxCrossEntropy, Optimizer::momentum(0.05, 0.9));
    assert!(same_with_plan::<f32>(CONV, cfg, 64, &STEPS).is_some());
    const MAXOUT: Spec = Spec::new(&[Layer::maxout(6, 4, 3), Layer::dense(4, 3), Layer::softmax()]);
    let cfg = Config::new(4, Loss::Mse, Optimizer::sgd(0.1));
    assert!(same_with_plan::<f32>(MAXOUT, cfg, 64, &STEPS).is_some());
    const FROZEN: Spec = MLP.with_training(&[
        Train::Frozen,
        Train::Full,
        Train::BiasOnly,
        Train::Full,
        Train::Full,
    ]);
    let cfg = Config::new(4, Loss::SoftmaxCrossEntropy, Optimizer::adam(0.01));
    assert!(same_with_plan::<f32>(FROZEN, cfg, 64, &STEPS).is_some());
    let cfg = Config::new(4, Loss::Mse, Optimizer::momentum(0.25, 0.5));
    assert!(same_with_plan::<Q10>(XOR, cfg, 32, &STEPS).is_some());
}

#[test]
fn changes_between_steps_record_again() {
    // Fused SGD's learning rate is in backward's ops: a recording kept
    // across `set_lr` would issue the old one (and fail the op logs).
    let script = [
        Do::Step(4),
        Do::Step(4),
        Do::SetLr(0.05),
        Do::Step(4),
        Do::Step(3),
        Do::Step(3),
        Do::Step(4),
        Do::Reset(7),
        Do::Step(4),
        Do::Step(4),
    ];
    let cfg = Config::new(4, Loss::SoftmaxCrossEntropy, Optimizer::fused_sgd(0.1));
    assert!(same_with_plan::<f32>(MLP, cfg, 64, &script).is_some());
    // The anchor's loss and gradient ops, and its blob read during the
    // step: nothing is recorded while it is set, and its λ is in the ops.
    let script = [
        Do::Step(4),
        Do::Step(4),
        Do::Anchor(0.1),
        Do::Step(4),
        Do::Step(4),
        Do::Anchor(0.5),
        Do::Step(4),
        Do::ClearAnchor,
        Do::Step(4),
        Do::Step(4),
    ];
    let cfg = Config::new(4, Loss::SoftmaxCrossEntropy, Optimizer::momentum(0.1, 0.9));
    assert!(same_with_plan::<f32>(MLP, cfg, 64, &script).is_some());
}

#[test]
fn a_plan_too_small_says_what_it_needs_and_changes_nothing() {
    let cfg = Config::new(4, Loss::Mse, Optimizer::momentum(0.5, 0.9));
    let need = same_with_plan::<f32>(XOR, cfg, 64, &STEPS).expect("recorded");
    let small = same_with_plan::<f32>(XOR, cfg, need - 1, &STEPS).expect("recorded");
    assert_eq!(small, need);
    assert_eq!(same_with_plan::<f32>(XOR, cfg, 0, &STEPS), Some(need));
}
