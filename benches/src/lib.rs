//! Shared setup for microprop's criterion benchmarks: the model shapes the
//! performance targets are stated for, and synthetic batches.

use microprop::{Config, Layer, Loss, Optimizer, Rng, Spec};

/// 64-32-10 (the digits model).
pub const SMALL: Spec = Spec::new(&[Layer::dense(64, 32), Layer::relu(), Layer::dense(32, 10)]);
/// 784-128-10 (the MNIST-sized model).
pub const MNIST: Spec = Spec::new(&[Layer::dense(784, 128), Layer::relu(), Layer::dense(128, 10)]);

/// Plain SGD with softmax cross-entropy, as the peer table measures.
pub const fn sgd_config(batch: usize) -> Config {
    Config::new(batch, Loss::SoftmaxCrossEntropy, Optimizer::sgd(0.01))
}

/// A random batch of `rows × inputs` values in [0, 1) and labels below `classes`.
pub fn batch(rows: usize, inputs: usize, classes: usize, seed: u64) -> (Vec<f32>, Vec<usize>) {
    let mut rng = Rng::new(seed);
    let x = (0..rows * inputs).map(|_| rng.next_f64() as f32).collect();
    let y = (0..rows).map(|_| rng.below(classes)).collect();
    (x, y)
}
