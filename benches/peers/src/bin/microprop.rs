//! microprop (CPU backend, fast and reference kernels) through the shared loop.

use microprop::{Config, Layer, Loss, Network, Optimizer, Spec, Targets};
use microprop_cpu::{CpuBackend, Kernels};
use microprop_peers::{batch, report, steps_per_sec, LR, SHAPES};

fn main() {
    for (label, [i, h, o], rows) in SHAPES {
        let layers = [Layer::dense(i, h), Layer::relu(), Layer::dense(h, o)];
        let spec = Spec::try_new(&layers).expect("valid spec");
        let (x, y) = batch(rows, i, o);
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
            let rate = steps_per_sec(|| net.train_step(&x, Targets::Labels(&y)).unwrap());
            report(name, label, rate);
        }
    }
}
