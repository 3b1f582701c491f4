//! L2-SP ([`Network::set_anchor`]): a penalty `λ·‖w − w₀‖²` toward the
//! pretrained weights of a device blob, on every backend. Expected values
//! come from a twin network without the anchor (the data loss and
//! gradient) and from the hand formula computed on the host from the blob's
//! bytes, never from the anchored network itself.

use super::partial::{e, FULL, LABELS, LAYERS, X};
use crate::{close, Harness};
use microprop::blob::{self, BlobError};
use microprop::{Config, Element, Error, Layer, Loss, Network, Optimizer, Spec, Targets, Train};

/// Trainabilities: all trained, a bias-only layer between trained ones,
/// only the last layer.
const CASES: [(&str, [Train; 5]); 3] = {
    use Train::{BiasOnly as B, Frozen as F, Full as T};
    [
        ("full", [T, T, T, T, T]),
        ("bias-only middle", [T, T, B, T, T]),
        ("last layer only", [F, F, F, F, T]),
    ]
};

const LAMBDA: f64 = 0.25;

/// Which parameters get the L2-SP penalty: the weights (not the biases)
/// of layers trained in full.
fn anchored_mask(train: &[Train]) -> Vec<bool> {
    let mut mask = Vec::new();
    for (l, t) in LAYERS.iter().zip(train) {
        let w = if *t == Train::Full {
            l.weight_count()
        } else {
            0
        };
        mask.extend((0..l.param_count()).map(|i| i < w));
    }
    mask
}

/// The optimizers the multi-step tests run under.
const OPTIMIZERS: [Optimizer; 3] = [
    Optimizer::sgd(0.2),
    Optimizer::momentum(0.1, 0.9),
    Optimizer::adam(0.05),
];

/// Batch 2, softmax cross-entropy, L2 0.01 (so that the two penalties add).
fn config(opt: Optimizer, seed: u64) -> Config {
    Config::new(2, Loss::SoftmaxCrossEntropy, opt)
        .with_l2(0.01)
        .with_seed(seed)
}

/// The pretrained weights: a device blob of the network initialised from
/// `seed`, and its parameters decoded on the host.
fn pretrained(seed: u64) -> (Vec<u8>, Vec<f64>) {
    let cfg = Config::new(2, Loss::SoftmaxCrossEntropy, Optimizer::sgd(0.1)).with_seed(seed);
    let mut arena = vec![0.0f64; cfg.arena_len(&FULL)];
    let mut net = Network::new(FULL, microprop_cpu::CpuBackend::new(&mut arena), cfg).unwrap();
    let mut bytes = vec![0u8; blob::blob_len(FULL.param_count())];
    net.save_blob(&mut bytes).unwrap();
    let mut w0 = vec![0.0f64; FULL.param_count()];
    blob::decode(&FULL, &bytes, &mut w0).unwrap();
    (bytes, w0)
}

fn params<H: Harness>(net: &mut Network<'_, H::B>) -> Vec<f64> {
    let mut p = vec![H::E::ZERO; FULL.param_count()];
    net.parameters(&mut p).unwrap();
    p.iter().map(|v| v.to_f64()).collect()
}

fn grads<H: Harness>(net: &mut Network<'_, H::B>) -> Vec<f64> {
    let mut g = vec![H::E::ZERO; FULL.param_count()];
    net.gradients(&mut g).unwrap();
    g.iter().map(|v| v.to_f64()).collect()
}

/// Loss and gradient of one forward/loss/backward on the test batch.
fn loss_and_grad<H: Harness>(net: &mut Network<'_, H::B>) -> (f64, Vec<f64>) {
    let x = e::<H::E>(&X);
    net.zero_grad().unwrap();
    net.forward(&x).unwrap();
    let loss = net.loss(Targets::Labels(&LABELS)).unwrap().to_f64();
    net.backward().unwrap();
    (loss, grads::<H>(net))
}

/// (a), (b): the anchored network's gradient minus its plain twin's is
/// `2λ(w − w₀)` on the weights of fully trained layers and exactly 0 on
/// biases and untrained parameters; its loss minus the twin's is
/// `λ·Σ(w − w₀)²` over the same weights, computed on the host from the
/// blob's bytes. Plain L2 is on in both twins: the two penalties add.
pub fn anchor_gradient_and_loss_match_the_hand_formula<H: Harness>() {
    let (bytes, w0) = pretrained(77);
    let tol = H::tolerances();
    for (name, train) in CASES {
        let spec = FULL.with_training(&train);
        let mask = anchored_mask(&train);
        let cfg = Config::new(2, Loss::SoftmaxCrossEntropy, Optimizer::sgd(0.1))
            .with_l2(0.01)
            .with_seed(3);
        let Some(b_plain) = H::backend(cfg.arena_len(&spec)) else {
            return;
        };
        let mut plain = Network::new(spec, b_plain, cfg).unwrap();
        let mut anchored =
            Network::new(spec, H::backend(cfg.arena_len(&spec)).unwrap(), cfg).unwrap();
        anchored.set_anchor(&bytes, LAMBDA).unwrap();
        let w = params::<H>(&mut anchored);
        assert_eq!(w, params::<H>(&mut plain), "same seed, same weights");
        let (l_plain, g_plain) = loss_and_grad::<H>(&mut plain);
        let (l_anch, g_anch) = loss_and_grad::<H>(&mut anchored);
        let lambda = H::E::from_f64(LAMBDA).to_f64();
        let mut penalty = 0.0;
        for i in 0..w.len() {
            let diff = g_anch[i] - g_plain[i];
            if mask[i] {
                penalty += (w[i] - w0[i]) * (w[i] - w0[i]);
                let want = 2.0 * lambda * (w[i] - w0[i]);
                assert!(
                    close(diff, want, tol.elementwise * 10.0),
                    "{}: {name}: weight {i}: gradient difference {diff}, want {want}",
                    H::NAME
                );
            } else {
                assert_eq!(
                    g_anch[i].to_bits(),
                    g_plain[i].to_bits(),
                    "{}: {name}: parameter {i} (bias or untrained) got a penalty",
                    H::NAME
                );
            }
        }
        let want = lambda * penalty;
        assert!(want > 0.1, "{name}: the test's w and w₀ differ ({want})");
        assert!(
            close(l_anch - l_plain, want, tol.reduction * 10.0),
            "{}: {name}: loss difference {}, want λ‖w − w₀‖² = {want}",
            H::NAME,
            l_anch - l_plain
        );
        // evaluate's data loss leaves the penalty out, as it leaves out L2.
        let x = e::<H::E>(&X);
        let ev_a = anchored.evaluate(&x, Targets::Labels(&LABELS)).unwrap();
        let ev_p = plain.evaluate(&x, Targets::Labels(&LABELS)).unwrap();
        assert_eq!(ev_a, ev_p, "{}: {name}: evaluate", H::NAME);
    }
}

/// (c): a gradient check against central differences passes with the
/// anchor set (every trained parameter, and the inputs where the harness
/// checks them).
pub fn anchor_passes_the_gradient_check<H: Harness>() {
    let (bytes, _) = pretrained(77);
    let tol = H::tolerances();
    let x = e::<H::E>(&X);
    for (name, train) in CASES {
        let spec = FULL.with_training(&train);
        let cfg = Config::new(2, Loss::SoftmaxCrossEntropy, Optimizer::adam(0.01)).with_seed(4);
        let Some(backend) = H::backend(cfg.arena_len(&spec)) else {
            return;
        };
        let mut net = Network::new(spec, backend, cfg).unwrap();
        net.set_anchor(&bytes, LAMBDA).unwrap();
        // Backward cannot reach the input past a frozen prefix.
        let mut gc = tol.gradcheck;
        gc.inputs &= spec.first_trained() == 0;
        let report = net.grad_check(&x, Targets::Labels(&LABELS), &gc).unwrap();
        assert!(
            report.max_rel_error < tol.gradcheck_max,
            "{}: {name}: {report:?}",
            H::NAME
        );
    }
}

/// Five training steps (loss returned by each, parameters after each).
fn trajectory<H: Harness>(net: &mut Network<'_, H::B>) -> Vec<u64> {
    let x = e::<H::E>(&X);
    let mut out = Vec::new();
    for _ in 0..5 {
        let l = net.train_step(&x, Targets::Labels(&LABELS)).unwrap();
        out.push(l.to_f64().to_bits());
        out.extend(params::<H>(net).iter().map(|v| v.to_bits()));
    }
    out
}

/// (d): λ = 0 changes nothing bit for bit over five steps, under SGD,
/// momentum and Adam; an anchor at the current weights (w = w₀) gives the
/// same loss, gradient and first step bit for bit.
pub fn anchor_with_zero_lambda_or_at_w0_changes_nothing<H: Harness>() {
    let (bytes, _) = pretrained(77);
    for (name, train) in CASES {
        let spec = FULL.with_training(&train);
        for opt in OPTIMIZERS {
            let cfg = config(opt, 5);
            let Some(b) = H::backend(cfg.arena_len(&spec)) else {
                return;
            };
            let mut plain = Network::new(spec, b, cfg).unwrap();
            let mut zero =
                Network::new(spec, H::backend(cfg.arena_len(&spec)).unwrap(), cfg).unwrap();
            zero.set_anchor(&bytes, 0.0).unwrap();
            assert_eq!(
                trajectory::<H>(&mut zero),
                trajectory::<H>(&mut plain),
                "{}: {name}, {opt:?}: λ = 0",
                H::NAME
            );

            let mut plain =
                Network::new(spec, H::backend(cfg.arena_len(&spec)).unwrap(), cfg).unwrap();
            let mut at_w0 =
                Network::new(spec, H::backend(cfg.arena_len(&spec)).unwrap(), cfg).unwrap();
            plain.load_blob(&bytes).unwrap();
            at_w0.load_blob(&bytes).unwrap();
            at_w0.set_anchor(&bytes, 3.0).unwrap();
            let (lp, gp) = loss_and_grad::<H>(&mut plain);
            let (la, ga) = loss_and_grad::<H>(&mut at_w0);
            assert_eq!(
                la.to_bits(),
                lp.to_bits(),
                "{}: {name}: w = w₀ loss",
                H::NAME
            );
            let bits = |g: &[f64]| g.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&ga), bits(&gp), "{}: {name}: w = w₀ gradient", H::NAME);
            let x = e::<H::E>(&X);
            let sp = plain.train_step(&x, Targets::Labels(&LABELS)).unwrap();
            let sa = at_w0.train_step(&x, Targets::Labels(&LABELS)).unwrap();
            assert_eq!(sa.to_f64().to_bits(), sp.to_f64().to_bits());
            assert_eq!(
                bits(&params::<H>(&mut at_w0)),
                bits(&params::<H>(&mut plain)),
                "{}: {name}, {opt:?}: w = w₀ step",
                H::NAME
            );
        }
    }
}

/// (e): a blob with a flipped bit, a blob of another spec, a bad λ, and
/// fused SGD are typed errors that leave the network as it was: its
/// anchor, its loss and its gradient.
pub fn bad_anchor_is_a_typed_error_and_changes_nothing<H: Harness>() {
    let (bytes, _) = pretrained(77);
    let cfg = Config::new(2, Loss::SoftmaxCrossEntropy, Optimizer::sgd(0.1)).with_seed(6);
    let Some(b) = H::backend(cfg.arena_len(&FULL)) else {
        return;
    };
    let mut net = Network::new(FULL, b, cfg).unwrap();
    let mut flipped = bytes.clone();
    flipped[blob::HEADER_LEN + 13] ^= 0x04;
    const OTHER: Spec = Spec::new(&[Layer::dense(3, 5), Layer::tanh(), Layer::dense(5, 3)]);
    let mut other = vec![0u8; blob::blob_len(OTHER.param_count())];
    blob::encode(&OTHER, &vec![0.5f32; OTHER.param_count()], &mut other).unwrap();
    for with_anchor in [false, true] {
        if with_anchor {
            net.set_anchor(&bytes, LAMBDA).unwrap();
        }
        let before_anchor = net.anchor().map(|(b, l)| (b.as_ptr(), l));
        let before = loss_and_grad::<H>(&mut net);
        let err = net.set_anchor(&flipped, LAMBDA).unwrap_err();
        assert!(
            matches!(err, Error::Blob(BlobError::Crc { .. })),
            "{}: {err:?}",
            H::NAME
        );
        let err = net.set_anchor(&other, LAMBDA).unwrap_err();
        assert!(
            matches!(err, Error::Blob(BlobError::Spec { .. })),
            "{}: {err:?}",
            H::NAME
        );
        for bad in [-0.1, f64::NAN, f64::INFINITY] {
            let err = net.set_anchor(&bytes, bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Hyperparameter {
                        name: "anchor_lambda"
                    }
                ),
                "{}: λ = {bad}: {err:?}",
                H::NAME
            );
        }
        assert_eq!(net.anchor().map(|(b, l)| (b.as_ptr(), l)), before_anchor);
        let after = loss_and_grad::<H>(&mut net);
        assert_eq!(after.0.to_bits(), before.0.to_bits(), "{}: loss", H::NAME);
        assert_eq!(after.1, before.1, "{}: gradient", H::NAME);
    }
    net.clear_anchor();
    assert!(net.anchor().is_none());
    let fused = Config::new(2, Loss::SoftmaxCrossEntropy, Optimizer::fused_sgd(0.1)).with_seed(6);
    let mut f = Network::new(FULL, H::backend(fused.arena_len(&FULL)).unwrap(), fused).unwrap();
    let err = f.set_anchor(&bytes, LAMBDA).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Fused {
                called: "set_anchor"
            }
        ),
        "{}: {err:?}",
        H::NAME
    );
    assert!(f.anchor().is_none());
}

/// (f): fine-tuning on a new task from the pretrained weights, a large λ
/// keeps the trained weights closer to w₀ than no anchor does (distance
/// measured on the host from the blob), and clearing the anchor restores
/// plain training.
pub fn large_lambda_keeps_the_weights_near_w0<H: Harness>() {
    let (bytes, w0) = pretrained(77);
    let x = e::<H::E>(&X);
    // The new task: other labels than the pretraining would give.
    let labels = [1usize, 1];
    for opt in [Optimizer::sgd(0.2), Optimizer::adam(0.05)] {
        let cfg = Config::new(2, Loss::SoftmaxCrossEntropy, opt).with_seed(1);
        let mut distance = Vec::new();
        for lambda in [None, Some(1.0)] {
            let Some(b) = H::backend(cfg.arena_len(&FULL)) else {
                return;
            };
            let mut net = Network::new(FULL, b, cfg).unwrap();
            net.load_blob(&bytes).unwrap();
            if let Some(l) = lambda {
                net.set_anchor(&bytes, l).unwrap();
            }
            for _ in 0..40 {
                net.train_step(&x, Targets::Labels(&labels)).unwrap();
            }
            let w = params::<H>(&mut net);
            let mask = anchored_mask(&[Train::Full; 5]);
            let d: f64 = (0..w.len())
                .filter(|&i| mask[i])
                .map(|i| (w[i] - w0[i]) * (w[i] - w0[i]))
                .sum();
            distance.push(d.sqrt());
        }
        assert!(
            distance[1] < 0.5 * distance[0],
            "{}: {opt:?}: ‖w − w₀‖ with λ = 1: {}, without: {}",
            H::NAME,
            distance[1],
            distance[0]
        );
    }
}

/// `train_step` adds the L2-SP term and its gradient in one pass over `w₀`
/// (in its loss pass); it takes the same step as `zero_grad`, `forward`,
/// `loss`, `backward`, `step` (the two-pass path), to rounding, under SGD,
/// momentum and Adam and each trainability.
pub fn train_step_with_an_anchor_matches_the_step_by_step_path<H: Harness>() {
    let (bytes, _) = pretrained(31);
    let x = e::<H::E>(&X);
    let tol = H::tolerances().reduction * 10.0;
    for (name, train) in CASES {
        let spec = FULL.with_training(&train);
        for opt in OPTIMIZERS {
            let cfg = config(opt, 8);
            let (Some(b1), Some(b2)) = (
                H::backend(cfg.arena_len(&spec)),
                H::backend(cfg.arena_len(&spec)),
            ) else {
                return;
            };
            let mut one = Network::new(spec, b1, cfg).unwrap();
            let mut two = Network::new(spec, b2, cfg).unwrap();
            one.set_anchor(&bytes, 0.3).unwrap();
            two.set_anchor(&bytes, 0.3).unwrap();
            for step in 0..3 {
                let l1 = one
                    .train_step(&x, Targets::Labels(&LABELS))
                    .unwrap()
                    .to_f64();
                two.zero_grad().unwrap();
                two.forward(&x).unwrap();
                let l2 = two.loss(Targets::Labels(&LABELS)).unwrap().to_f64();
                two.backward().unwrap();
                two.step().unwrap();
                let what = format!("{}: {name}, {opt:?}, step {step}", H::NAME);
                assert!(close(l1, l2, tol), "{what}: loss {l1} vs {l2}");
                let (p1, p2) = (params::<H>(&mut one), params::<H>(&mut two));
                for (i, (a, b)) in p1.iter().zip(&p2).enumerate() {
                    assert!(close(*a, *b, tol), "{what}: parameter {i}: {a} vs {b}");
                }
            }
        }
    }
}
