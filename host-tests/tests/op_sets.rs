//! A CPU backend built for exactly `Config::ops` of its network (the
//! firmware's way to link only the kernels a model needs) runs every call
//! of the network bit for bit like the backend with every op, for every
//! layer kind, loss, optimizer and feature; and a backend without an op the
//! network needs is refused with `Error::MissingOp` before anything runs.

use microprop::guard::{self, Guard, GuardConfig};
use microprop::{Config, Error, ErrorKind, Layer, Loss, Network, Optimizer, Spec, Targets, Train};
use microprop_cpu::CpuBackend;
use microprop_hal::{OpKind, OpSet};

/// Deterministic inputs in [-1, 1].
fn inputs(n: usize) -> Vec<f32> {
    (0..n).map(|i| ((i as f32) * 0.618).sin()).collect()
}

/// Labels for label losses, values in [0, 1] for MSE.
fn targets(cfg: &Config, rows: usize, outputs: usize) -> (Vec<usize>, Vec<f32>) {
    let labels = (0..rows).map(|r| (r * 7 + 3) % outputs).collect();
    let values = (0..rows * outputs)
        .map(|i| 0.5 + 0.5 * ((i as f32) * 1.3).cos())
        .collect();
    let _ = cfg;
    (labels, values)
}

/// Train, evaluate, predict and take the input gradient on a backend with
/// every op and on one built for `OPS`, and compare every result bit for
/// bit.
fn same_as_full<const OPS: u64>(spec: Spec<'static>, cfg: Config) {
    assert_eq!(OPS, cfg.ops(&spec).bits());
    let len = cfg.arena_len(&spec);
    let (mut a, mut b) = (vec![0.0f32; len], vec![0.0f32; len]);
    let mut full = Network::new(spec, CpuBackend::new(&mut a), cfg).unwrap();
    let mut only = Network::new(spec, CpuBackend::with_ops::<OPS>(&mut b), cfg).unwrap();
    let rows = cfg.batch;
    let x = inputs(rows * spec.inputs());
    let (labels, values) = targets(&cfg, rows, spec.outputs());
    let t = if cfg.loss.uses_labels() {
        Targets::Labels(&labels)
    } else {
        Targets::Values(&values)
    };
    for _ in 0..3 {
        let l = full.train_step(&x, t).unwrap();
        assert_eq!(l.to_bits(), only.train_step(&x, t).unwrap().to_bits());
    }
    let (ef, eo) = (full.evaluate(&x, t).unwrap(), only.evaluate(&x, t).unwrap());
    assert_eq!(ef.loss.to_bits(), eo.loss.to_bits());
    assert_eq!(ef.accuracy.map(f64::to_bits), eo.accuracy.map(f64::to_bits));
    let mut pf = vec![0.0f32; rows * spec.outputs()];
    let mut po = pf.clone();
    full.predict(&x, &mut pf).unwrap();
    only.predict(&x, &mut po).unwrap();
    assert_eq!(bits(&pf), bits(&po));
    let n = spec.param_count();
    let (mut wf, mut wo) = (vec![0.0f32; n], vec![0.0f32; n]);
    full.parameters(&mut wf).unwrap();
    only.parameters(&mut wo).unwrap();
    assert_eq!(bits(&wf), bits(&wo));
    // The input gradient, where backward reaches the input.
    if spec.training().iter().all(|t| *t == Train::Full)
        && !matches!(cfg.optimizer, Optimizer::FusedSgd { .. })
    {
        let mut df = vec![0.0f32; rows * spec.inputs()];
        let mut dd = df.clone();
        full.forward(&x).unwrap();
        full.loss(t).unwrap();
        full.backward_with_input_grad(&mut df).unwrap();
        only.forward(&x).unwrap();
        only.loss(t).unwrap();
        only.backward_with_input_grad(&mut dd).unwrap();
        assert_eq!(bits(&df), bits(&dd));
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

macro_rules! same {
    ($name:ident, $spec:expr, $cfg:expr) => {
        #[test]
        fn $name() {
            const SPEC: Spec = $spec;
            const CFG: Config = $cfg;
            same_as_full::<{ CFG.ops(&SPEC).bits() }>(SPEC, CFG);
        }
    };
}

const MLP: Spec = Spec::new(&[Layer::dense(6, 5), Layer::tanh(), Layer::dense(5, 3)]);

same!(
    dense_tanh_mse_momentum,
    Spec::new(&[
        Layer::dense(6, 5),
        Layer::tanh(),
        Layer::dense(5, 3),
        Layer::sigmoid()
    ]),
    Config::new(4, Loss::Mse, Optimizer::momentum(0.1, 0.9))
);
same!(
    dense_sce_sgd,
    MLP,
    Config::new(4, Loss::SoftmaxCrossEntropy, Optimizer::sgd(0.1))
);
same!(
    dense_sce_adam_l2,
    MLP,
    Config::new(4, Loss::SoftmaxCrossEntropy, Optimizer::adam(0.01)).with_l2(0.01)
);
same!(
    dense_hinge_fused_sgd,
    MLP,
    Config::new(4, Loss::Hinge { margin: 1.0 }, Optimizer::fused_sgd(0.1))
);
same!(
    activation_layers_and_softmax,
    Spec::new(&[
        Layer::dense(6, 5),
        Layer::relu(),
        Layer::leaky_relu(0.1),
        Layer::dense(5, 3),
        Layer::softmax(),
    ]),
    Config::new(2, Loss::Mse, Optimizer::sgd(0.1))
);
same!(
    maxout,
    Spec::new(&[Layer::maxout(6, 4, 3), Layer::dense(4, 3)]),
    Config::new(3, Loss::SoftmaxCrossEntropy, Optimizer::momentum(0.05, 0.9))
);
same!(
    partial_training,
    Spec::new(&[
        Layer::dense(6, 5),
        Layer::relu(),
        Layer::dense(5, 4),
        Layer::relu(),
        Layer::dense(4, 3)
    ])
    .with_training(&[
        Train::Frozen,
        Train::Full,
        Train::Full,
        Train::Full,
        Train::BiasOnly
    ]),
    Config::new(2, Loss::SoftmaxCrossEntropy, Optimizer::adam(0.01))
);
same!(
    conv1d_max_pool,
    Spec::new(&[
        Layer::conv1d(2, 3, 8, 3, 1, 1),
        Layer::relu(),
        Layer::max_pool1d(3, 8, 2, 2),
        Layer::flatten(),
        Layer::dense(12, 3),
    ]),
    Config::new(2, Loss::SoftmaxCrossEntropy, Optimizer::sgd(0.05))
);
same!(
    conv1d_alone,
    Spec::new(&[
        Layer::conv1d(2, 3, 8, 3, 1, 1),
        Layer::flatten(),
        Layer::dense(24, 2)
    ]),
    Config::new(2, Loss::Mse, Optimizer::sgd(0.05))
);
same!(
    conv2d_avg_pools,
    Spec::new(&[
        Layer::conv2d(1, 2, (4, 4), (3, 3), 1, 1),
        Layer::tanh(),
        Layer::avg_pool2d(2, (4, 4), 2, 2),
        Layer::global_avg_pool2d(2, (2, 2)),
        Layer::dense(2, 2),
    ]),
    Config::new(2, Loss::Mse, Optimizer::momentum(0.05, 0.9))
);

#[test]
fn a_backend_without_an_op_the_network_needs_is_refused() {
    // Built for SGD; the network wants Adam's update.
    const SGD: Config = Config::new(4, Loss::SoftmaxCrossEntropy, Optimizer::sgd(0.1));
    const ADAM: Config = Config::new(4, Loss::SoftmaxCrossEntropy, Optimizer::adam(0.01));
    const OPS: u64 = SGD.ops(&MLP).bits();
    let mut arena = vec![0.0f32; ADAM.arena_len(&MLP)];
    let err = Network::new(MLP, CpuBackend::with_ops::<OPS>(&mut arena), ADAM).err();
    assert!(
        matches!(err, Some(Error::MissingOp { op: "adam_step" })),
        "{err:?}"
    );
    assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::Unsupported));
    // A convolution on a backend built for an MLP.
    const CNN: Spec = Spec::new(&[Layer::conv1d(1, 2, 6, 3, 1, 1), Layer::dense(12, 3)]);
    let mut arena = vec![0.0f32; SGD.arena_len(&CNN)];
    let err = Network::new(CNN, CpuBackend::with_ops::<OPS>(&mut arena), SGD).err();
    assert!(
        matches!(err, Some(Error::MissingOp { op: "im2col" })),
        "{err:?}"
    );
    // A relu network on a backend built for the same shapes with tanh: the
    // function is part of the set.
    const RELU: Spec = Spec::new(&[Layer::dense(6, 5), Layer::relu(), Layer::dense(5, 3)]);
    let mut arena = vec![0.0f32; SGD.arena_len(&RELU)];
    let err = Network::new(RELU, CpuBackend::with_ops::<OPS>(&mut arena), SGD).err();
    assert!(
        matches!(err, Some(Error::MissingOp { op: "relu" })),
        "{err:?}"
    );
    // A cross-entropy network on a backend built for MSE: the loss is part of
    // the set too. (So is the count of right answers, which only a loss with
    // labels needs: added here, so that the loss is what is missing.)
    const MSE: Config = Config::new(4, Loss::Mse, Optimizer::sgd(0.1));
    assert!(!MSE.ops(&MLP).contains(OpKind::CountCorrect));
    assert!(SGD.ops(&MLP).contains(OpKind::CountCorrect));
    const MSE_OPS: u64 = MSE.ops(&MLP).with(OpKind::CountCorrect).bits();
    let mut arena = vec![0.0f32; SGD.arena_len(&MLP)];
    let err = Network::new(MLP, CpuBackend::with_ops::<MSE_OPS>(&mut arena), SGD).err();
    assert!(
        matches!(
            err,
            Some(Error::MissingOp {
                op: "softmax_cross_entropy"
            })
        ),
        "{err:?}"
    );
    // The error says which op and where the set comes from.
    let msg = Error::<microprop_cpu::CpuError>::MissingOp { op: "adam_step" }.to_string();
    assert!(
        msg.contains("adam_step") && msg.contains("Config::ops"),
        "{msg}"
    );
}

#[test]
fn features_beyond_the_config_need_their_ops_added() {
    const CFG: Config = Config::new(4, Loss::SoftmaxCrossEntropy, Optimizer::sgd(0.1));
    const BASE: u64 = CFG.ops(&MLP).bits();
    const WITH: u64 = OpSet::from_bits(BASE)
        .with(OpKind::Anchor)
        .with(OpKind::SumSquares)
        .bits();
    // A blob of the network's own initial parameters to anchor to.
    let mut blob = vec![0u8; microprop::blob::blob_len(MLP.param_count())];
    let len = guard::arena_len(&MLP, &CFG);
    let mut arena = vec![0.0f32; len];
    {
        let mut net = Network::new(MLP, CpuBackend::with_ops::<BASE>(&mut arena), CFG).unwrap();
        net.save_blob(&mut blob).unwrap();
        let err = net.set_anchor(&blob, 0.01).err();
        assert!(
            matches!(err, Some(Error::MissingOp { op: "anchor" })),
            "{err:?}"
        );
        assert_eq!(net.anchor(), None, "a refused anchor is not set");
        let err = Guard::new(&mut net, GuardConfig::new()).err();
        assert!(
            matches!(err, Some(Error::MissingOp { op: "sum_squares" })),
            "{err:?}"
        );
    }
    let mut net = Network::new(MLP, CpuBackend::with_ops::<WITH>(&mut arena), CFG).unwrap();
    net.set_anchor(&blob, 0.01).unwrap();
    let x = inputs(4 * 6);
    let mut g = Guard::new(&mut net, GuardConfig::new()).unwrap();
    g.train_step(&x, Targets::Labels(&[0, 1, 2, 0])).unwrap();
}
