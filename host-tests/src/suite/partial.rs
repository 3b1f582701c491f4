//! Partial training ([`Train`]): frozen and bias-only layers, on every
//! backend. Expected values come from a fully trained twin of the same
//! network (the full gradient, restricted to the trained entries) and from
//! central differences, never from the partial network itself.

use crate::Harness;
use microprop::{Config, Element, Layer, Loss, Network, Optimizer, Spec, Targets, Train};

/// The network of the partial-training and L2-SP tests.
pub(super) const LAYERS: [Layer; 5] = [
    Layer::dense(3, 5),
    Layer::tanh(),
    Layer::maxout(5, 4, 2),
    Layer::relu(),
    Layer::dense(4, 3),
];
pub(super) const FULL: Spec = Spec::new(&LAYERS);

/// (name, trainability) pairs covering frozen prefixes, bias-only layers,
/// a frozen layer between trained ones and nothing trained.
const CASES: [(&str, [Train; 5]); 5] = {
    use Train::{BiasOnly as B, Frozen as F, Full as T};
    [
        ("last layer only", [F, F, F, F, T]),
        ("bias only", [B, T, B, T, B]),
        ("frozen middle", [T, T, F, T, T]),
        ("bias-only first, full last", [B, F, F, F, T]),
        ("nothing trained", [F, F, F, F, F]),
    ]
};

/// `v` in element type `E`.
pub(super) fn e<E: Element>(v: &[f64]) -> Vec<E> {
    v.iter().map(|&x| E::from_f64(x)).collect()
}

/// Two rows of three inputs, and their labels.
pub(super) const X: [f64; 6] = [0.3, -0.7, 0.9, -0.1, 0.5, 0.2];
pub(super) const LABELS: [usize; 2] = [2, 0];

/// Which of the `FULL.param_count()` parameters `train` trains.
fn trained_mask(train: &[Train]) -> Vec<bool> {
    let mut mask = Vec::new();
    // A layer's parameters are its weights, then its biases; decided here,
    // not by `Train::trained_count`, which the tests check.
    for (l, t) in LAYERS.iter().zip(train) {
        let (n, w) = (l.param_count(), l.weight_count());
        mask.extend((0..n).map(|i| match t {
            Train::Full => true,
            Train::BiasOnly => i >= w,
            Train::Frozen => false,
        }));
    }
    mask
}

/// The gradient span holds only the trained parameters' gradients (and
/// Adam only their moments): the arena shrinks by exactly that much.
pub fn partial_training_arena_holds_only_trained_gradients<H: Harness>() {
    let _ = H::NAME;
    for (name, train) in CASES {
        let spec = FULL.with_training(&train);
        let frozen = trained_mask(&train).iter().filter(|t| !**t).count();
        assert_eq!(spec.trained_count(), FULL.param_count() - frozen, "{name}");
        for (kind, per) in [
            (microprop::OptimizerKind::Sgd, 1),
            (microprop::OptimizerKind::Momentum, 2),
            (microprop::OptimizerKind::Adam, 3),
            (microprop::OptimizerKind::FusedSgd, 0),
        ] {
            let saved = FULL.arena_len(2, kind) - spec.arena_len(2, kind);
            if spec.first_trained() == 0 {
                assert_eq!(saved, per * frozen, "{name}, {kind:?}");
            } else {
                // A frozen prefix also keeps no activations for backward.
                assert!(saved > per * frozen, "{name}, {kind:?}");
            }
        }
        // Trainability does not change what a blob is for.
        assert_eq!(spec.hash(), FULL.hash(), "{name}");
    }
    // By hand, batch 2, SGD. FULL: params 83 (20 + 48 + 15), grads 83,
    // input 2·3, activations 2·(5 + 5 + 12 + 4 + 3) = 58, scratch 2·2·8
    // (maxout's 8 pieces), loss scratch 4·3 + 2, targets 2·3, 4 scalars:
    // 286. Last layer only: grads 15; the first four layers' outputs take
    // two buffers of 2·12 in turn (48) and the last keeps 2·3 (54);
    // scratch 2·2·4 (the last layer's input): 198. Nothing trained: every
    // output in the two buffers (48), scratch 2·2·3 (the loss gradient):
    // 173. Forward only: params, input, the two buffers, scalars: 141.
    let sgd = microprop::OptimizerKind::Sgd;
    assert_eq!(FULL.arena_len(2, sgd), 286);
    assert_eq!(FULL.with_training(&CASES[0].1).arena_len(2, sgd), 198);
    assert_eq!(FULL.with_training(&CASES[4].1).arena_len(2, sgd), 173);
    assert_eq!(FULL.inference_arena_len(2), 141);
    assert_eq!(
        FULL.try_with_training(&[Train::Full; 4]).err(),
        Some(microprop::SpecError::Training { layers: 5, got: 4 })
    );
}

/// After training, every parameter a spec does not train is bit-identical
/// to its starting value, under every optimizer (fused SGD included), and
/// the trained ones moved.
pub fn frozen_parameters_stay_bit_identical<H: Harness>() {
    let x = e::<H::E>(&X);
    for (name, train) in CASES {
        let spec = FULL.with_training(&train);
        let mask = trained_mask(&train);
        for opt in [
            Optimizer::sgd(0.2),
            Optimizer::momentum(0.1, 0.9),
            Optimizer::adam(0.05),
            Optimizer::fused_sgd(0.2),
        ] {
            let cfg = Config::new(2, Loss::SoftmaxCrossEntropy, opt)
                .with_l2(0.01)
                .with_seed(5);
            let Some(backend) = H::backend(cfg.arena_len(&spec)) else {
                return;
            };
            let mut net = Network::new(spec, backend, cfg).unwrap();
            let p = FULL.param_count();
            let mut before = vec![H::E::ZERO; p];
            net.parameters(&mut before).unwrap();
            for _ in 0..5 {
                net.train_step(&x, Targets::Labels(&LABELS)).unwrap();
            }
            let mut after = vec![H::E::ZERO; p];
            net.parameters(&mut after).unwrap();
            for (i, t) in mask.iter().enumerate() {
                let same = before[i].to_f64().to_bits() == after[i].to_f64().to_bits();
                if *t {
                    // A trained parameter can stay put only by accident
                    // (a relu unit that never fires gets zero gradient);
                    // the biases of the last layer always move.
                    continue;
                }
                assert!(
                    same,
                    "{}: {name}, {opt:?}: untrained parameter {i} changed",
                    H::NAME
                );
            }
            let moved = mask
                .iter()
                .zip(before.iter().zip(&after))
                .filter(|(t, (b, a))| **t && b.to_f64() != a.to_f64())
                .count();
            let trained = mask.iter().filter(|t| **t).count();
            if trained > 0 {
                assert!(moved > 0, "{}: {name}, {opt:?}: nothing trained", H::NAME);
            } else {
                assert_eq!(moved, 0);
            }
        }
    }
}

/// The gradients of a partial network equal the matching entries of the
/// full gradient (of a fully trained twin with the same parameters, on the
/// same batch), and read as zero elsewhere; a gradient check against
/// central differences passes over the trained parameters.
pub fn partial_gradients_match_the_full_gradient<H: Harness>() {
    let x = e::<H::E>(&X);
    let cfg = Config::new(2, Loss::SoftmaxCrossEntropy, Optimizer::sgd(0.1))
        .with_l2(0.02)
        .with_seed(9);
    let Some(b_full) = H::backend(cfg.arena_len(&FULL)) else {
        return;
    };
    let mut full = Network::new(FULL, b_full, cfg).unwrap();
    let p = FULL.param_count();
    let mut params = vec![H::E::ZERO; p];
    full.parameters(&mut params).unwrap();
    full.forward(&x).unwrap();
    full.loss(Targets::Labels(&LABELS)).unwrap();
    full.backward().unwrap();
    let mut g_full = vec![H::E::ZERO; p];
    full.gradients(&mut g_full).unwrap();
    let tol = H::tolerances();
    for (name, train) in CASES {
        let spec = FULL.with_training(&train);
        let mask = trained_mask(&train);
        let backend = H::backend(cfg.arena_len(&spec)).unwrap();
        let mut net = Network::new(spec, backend, cfg).unwrap();
        net.load_parameters(&params).unwrap();
        net.forward(&x).unwrap();
        net.loss(Targets::Labels(&LABELS)).unwrap();
        net.backward().unwrap();
        let mut g = vec![H::E::ZERO; p];
        net.gradients(&mut g).unwrap();
        for i in 0..p {
            let want = if mask[i] { g_full[i].to_f64() } else { 0.0 };
            assert_eq!(
                g[i].to_f64(),
                want,
                "{}: {name}: gradient {i} (trained: {})",
                H::NAME,
                mask[i]
            );
        }
        // Backward cannot reach the input past a frozen prefix (its
        // activations are not kept): check the inputs only without one.
        let mut gc = tol.gradcheck;
        gc.inputs &= spec.first_trained() == 0;
        let report = net.grad_check(&x, Targets::Labels(&LABELS), &gc).unwrap();
        assert_eq!(
            report.checked,
            mask.iter().filter(|t| **t).count() + if gc.inputs { X.len() } else { 0 },
            "{}: {name}: the check covers the trained parameters",
            H::NAME
        );
        assert!(
            report.max_rel_error < tol.gradcheck_max,
            "{}: {name}: {report:?}",
            H::NAME
        );
    }
}
