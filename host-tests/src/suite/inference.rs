//! Forward-only networks ([`Network::new_inference`]) and the frozen
//! prefix whose activations share two buffers. Expected outputs come from a
//! training network with the same parameters (its arena keeps every
//! activation), bit for bit.

use super::partial::e;
use crate::Harness;
use microprop::{Config, Element, Error, Layer, Loss, Network, Optimizer, Spec, Targets, Train};

const X: [f64; 12] = [
    0.3, -0.7, 0.9, -0.1, 0.5, 0.2, 0.8, -0.4, 0.6, -0.9, 0.05, 0.4,
];

/// Specs of odd and even depth, with fused dense + activation, maxout,
/// softmax, and a single layer.
const SPECS: [Spec; 4] = [
    Spec::new(&[Layer::dense(4, 6), Layer::relu(), Layer::dense(6, 3)]),
    Spec::new(&[
        Layer::maxout(4, 5, 3),
        Layer::tanh(),
        Layer::dense(5, 7),
        Layer::sigmoid(),
        Layer::dense(7, 2),
        Layer::softmax(),
    ]),
    Spec::new(&[Layer::dense(4, 2)]),
    Spec::new(&[
        Layer::dense(4, 9),
        Layer::elu(1.0),
        Layer::maxout(9, 3, 2),
        Layer::dense(3, 3),
    ]),
];

/// A forward-only network predicts exactly what a training network with
/// the same parameters predicts, for batches up to its capacity, in an
/// arena of `inference_arena_len`; every call that trains or needs a loss
/// is `InferenceOnly` and changes nothing.
pub fn inference_network_predicts_like_a_training_network<H: Harness>() {
    for (n, spec) in SPECS.iter().enumerate() {
        let cfg = Config::new(3, Loss::SoftmaxCrossEntropy, Optimizer::sgd(0.1)).with_seed(7);
        assert!(
            spec.inference_arena_len(3) < cfg.arena_len(spec),
            "spec {n}"
        );
        let (Some(bt), Some(bi)) = (
            H::backend(cfg.arena_len(spec)),
            H::backend(spec.inference_arena_len(3)),
        ) else {
            return;
        };
        let mut train = Network::new(*spec, bt, cfg).unwrap();
        let mut inf = Network::new_inference(*spec, bi, 3).unwrap();
        let p = spec.param_count();
        let mut params = vec![H::E::ZERO; p];
        train.parameters(&mut params).unwrap();
        inf.load_parameters(&params).unwrap();
        let outs = spec.outputs();
        for rows in [1, 3] {
            let x = e::<H::E>(&X[..rows * 4]);
            let (mut a, mut b) = (vec![H::E::ZERO; rows * outs], vec![H::E::ZERO; rows * outs]);
            train.predict(&x, &mut a).unwrap();
            inf.predict(&x, &mut b).unwrap();
            for (i, (a, b)) in a.iter().zip(&b).enumerate() {
                assert_eq!(
                    a.to_f64().to_bits(),
                    b.to_f64().to_bits(),
                    "{}: spec {n}, {rows} rows, output {i}",
                    H::NAME
                );
            }
            let (mut ca, mut cb) = (vec![0usize; rows], vec![0usize; rows]);
            train.classify(&x, &mut ca).unwrap();
            inf.classify(&x, &mut cb).unwrap();
            assert_eq!(ca, cb);
        }
        // Training calls: typed errors, parameters unchanged.
        let x = e::<H::E>(&X[..4]);
        let t = || Targets::Labels(&[0]);
        let refused = |r: Result<(), Error<_>>, what: &str| match r {
            Err(Error::InferenceOnly { called }) => assert_eq!(called, what),
            other => panic!("{}: {what}: {other:?}", H::NAME),
        };
        inf.forward(&x).unwrap();
        refused(inf.loss(t()).map(|_| ()), "loss");
        refused(inf.backward(), "backward");
        refused(inf.step(), "step");
        refused(inf.zero_grad(), "zero_grad");
        refused(inf.train_step(&x, t()).map(|_| ()), "train_step");
        refused(inf.evaluate(&x, t()).map(|_| ()), "evaluate");
        let mut g = vec![H::E::ZERO; p];
        refused(inf.gradients(&mut g), "gradients");
        let mut after = vec![H::E::ZERO; p];
        inf.parameters(&mut after).unwrap();
        assert_eq!(after, params, "{}: spec {n}", H::NAME);
    }
}

/// With a frozen prefix the arena keeps no activations of the prefix (the
/// suite's `partial_gradients_match_the_full_gradient` shows that the
/// gradients are still the full network's): the input gradient, which
/// would need them, is a typed error that changes nothing, and training
/// still works.
pub fn a_frozen_prefix_refuses_the_input_gradient<H: Harness>() {
    const LAYERS: [Layer; 5] = [
        Layer::dense(4, 6),
        Layer::tanh(),
        Layer::maxout(6, 3, 2),
        Layer::relu(),
        Layer::dense(3, 3),
    ];
    use Train::{Frozen as F, Full as T};
    let frozen = Spec::new(&LAYERS).with_training(&[F, F, F, F, T]);
    let cfg = Config::new(3, Loss::SoftmaxCrossEntropy, Optimizer::adam(0.05)).with_seed(3);
    assert_eq!(frozen.layout(3, cfg.optimizer.kind()).shared, 4);
    let Some(b) = H::backend(cfg.arena_len(&frozen)) else {
        return;
    };
    let mut net = Network::new(frozen, b, cfg).unwrap();
    let x = e::<H::E>(&X);
    let labels = [2usize, 0, 1];
    let first = net
        .train_step(&x, Targets::Labels(&labels))
        .unwrap()
        .to_f64();
    let p = frozen.param_count();
    let mut before = vec![H::E::ZERO; p];
    net.parameters(&mut before).unwrap();
    let mut dx = vec![H::E::ZERO; 12];
    net.forward(&x).unwrap();
    net.loss(Targets::Labels(&labels)).unwrap();
    match net.backward_with_input_grad(&mut dx) {
        Err(Error::NoInputGradient { called }) => assert_eq!(called, "backward_with_input_grad"),
        other => panic!("{}: {other:?}", H::NAME),
    }
    let mut gc = H::tolerances().gradcheck;
    gc.inputs = true;
    match net.grad_check(&x, Targets::Labels(&labels), &gc) {
        Err(Error::NoInputGradient { called }) => assert_eq!(called, "grad_check"),
        other => panic!("{}: {other:?}", H::NAME),
    }
    let mut after = vec![H::E::ZERO; p];
    net.parameters(&mut after).unwrap();
    assert_eq!(after, before);
    let mut last = first;
    for _ in 0..30 {
        last = net
            .train_step(&x, Targets::Labels(&labels))
            .unwrap()
            .to_f64();
    }
    assert!(last < first, "{}: loss {first} -> {last}", H::NAME);
}
