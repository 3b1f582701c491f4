//! Depth costs linear time (issue 13, item 8): a 30,000-layer spec (15,000
//! × `dense(4, 4)`, `relu`), built at run time, on the CPU backend with
//! batch 1. Every dense layer holds the identity and a zero bias, so the
//! network computes `relu(x)` and the MSE against `relu(x)` is exactly 0.
//!
//! The time of each phase is printed, never asserted:
//!
//! ```text
//! cargo test --release -p host-tests --test depth -- --nocapture
//! ```

use std::time::Instant;

use microprop::{Config, Layer, Loss, Network, Optimizer, Spec, Targets};
use microprop_cpu::CpuBackend;

const PAIRS: usize = 15_000;
const WIDTH: usize = 4;

#[test]
fn a_30000_layer_spec_evaluates_and_trains() {
    let layers: Vec<Layer> = (0..PAIRS)
        .flat_map(|_| [Layer::dense(WIDTH, WIDTH), Layer::relu()])
        .collect();
    let t = Instant::now();
    let spec = Spec::try_new(&layers).unwrap();
    let checked = t.elapsed();
    let cfg = Config::new(1, Loss::Mse, Optimizer::sgd(0.1));
    let mut arena = vec![0.0f32; cfg.arena_len(&spec)];
    let t = Instant::now();
    let mut net = Network::new(spec, CpuBackend::new(&mut arena), cfg).unwrap();
    let created = t.elapsed();
    // Per dense layer: weights (outputs × inputs), then the bias.
    let per_layer = WIDTH * WIDTH + WIDTH;
    let mut params = vec![0.0f32; spec.param_count()];
    assert_eq!(params.len(), PAIRS * per_layer);
    for layer in params.chunks_exact_mut(per_layer) {
        for i in 0..WIDTH {
            layer[i * WIDTH + i] = 1.0;
        }
    }
    net.load_parameters(&params).unwrap();
    let x = [1.0f32, -2.0, 0.5, 3.0];
    let relu_x = [1.0f32, 0.0, 0.5, 3.0];
    let t = Instant::now();
    let ev = net.evaluate(&x, Targets::Values(&relu_x)).unwrap();
    let evaluated = t.elapsed();
    assert_eq!(ev.loss, 0.0);
    assert_eq!(ev.samples, 1);
    // A training step at a loss of 0 leaves the identity as it was.
    let t = Instant::now();
    let loss = net.train_step(&x, Targets::Values(&relu_x)).unwrap();
    let trained = t.elapsed();
    assert_eq!(loss, 0.0);
    let mut after = vec![0.0f32; params.len()];
    net.parameters(&mut after).unwrap();
    assert_eq!(after, params);
    eprintln!(
        "{} layers, batch 1: Spec::try_new {checked:?}, Network::new {created:?}, \
         evaluate {evaluated:?}, train_step {trained:?}",
        layers.len()
    );
}
