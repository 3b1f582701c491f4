//! microprop (CPU backend, fast and reference kernels) through the shared loop.

use microprop::{Config, Layer, Loss, Network, Optimizer, Spec, Targets};
use microprop_cpu::{CpuBackend, Kernels};
use microprop_peers::{
    batch, report, steps_per_sec, CNN_CHANNELS, CNN_CLASSES, CNN_HIDDEN, CNN_KERNEL, CNN_PAD,
    CNN_SHAPES, CNN_STEPS, LR, SHAPES,
};

/// The BasicMotions 1-D CNN (benches::MOTIONS, the `motions` firmware's model).
const MOTIONS: [Layer; 7] = [
    Layer::conv1d(CNN_CHANNELS, CNN_HIDDEN, CNN_STEPS, CNN_KERNEL, 1, CNN_PAD),
    Layer::relu(),
    Layer::max_pool1d(CNN_HIDDEN, CNN_STEPS, 2, 2),
    Layer::conv1d(
        CNN_HIDDEN,
        CNN_HIDDEN,
        CNN_STEPS / 2,
        CNN_KERNEL,
        1,
        CNN_PAD,
    ),
    Layer::relu(),
    Layer::global_avg_pool1d(CNN_HIDDEN, CNN_STEPS / 2),
    Layer::dense(CNN_HIDDEN, CNN_CLASSES),
];

/// Time the three microprop variants (SGD, fused SGD, reference kernels) on
/// one spec and batch.
fn measure(label: &str, layers: &[Layer], rows: usize, x: &[f32], y: &[usize]) {
    let spec = Spec::try_new(layers).expect("valid spec");
    for (name, kernels, opt) in [
        ("microprop", Kernels::Fast, Optimizer::sgd(f64::from(LR))),
        (
            "microprop fused SGD",
            Kernels::Fast,
            Optimizer::fused_sgd(f64::from(LR)),
        ),
        (
            "microprop (reference kernels)",
            Kernels::Reference,
            Optimizer::sgd(f64::from(LR)),
        ),
    ] {
        let cfg = Config::new(rows, Loss::SoftmaxCrossEntropy, opt);
        let mut arena = vec![0.0f32; cfg.arena_len(&spec)];
        let backend = CpuBackend::with_kernels(&mut arena, kernels);
        let mut net = Network::new(spec, backend, cfg).expect("arena fits");
        let rate = steps_per_sec(|| net.train_step(x, Targets::Labels(y)).unwrap());
        report(name, label, rate);
    }
}

fn main() {
    for (label, [i, h, o], rows) in SHAPES {
        let layers = [Layer::dense(i, h), Layer::relu(), Layer::dense(h, o)];
        let (x, y) = batch(rows, i, o);
        measure(label, &layers, rows, &x, &y);
    }
    for (label, rows) in CNN_SHAPES {
        // Each sample is 6 channels × 100 steps, channels-first.
        let (x, y) = batch(rows, CNN_CHANNELS * CNN_STEPS, CNN_CLASSES);
        measure(label, &MOTIONS, rows, &x, &y);
    }
}
