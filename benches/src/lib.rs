//! Shared setup for microprop's criterion benchmarks: the model shapes the
//! performance targets are stated for, and synthetic batches.

use microprop::{Config, Layer, Loss, Optimizer, Rng, Spec};

/// 64-32-10 (the digits model).
pub const SMALL: Spec = Spec::new(&[Layer::dense(64, 32), Layer::relu(), Layer::dense(32, 10)]);
/// 784-128-10 (the MNIST-sized model).
pub const MNIST: Spec = Spec::new(&[Layer::dense(784, 128), Layer::relu(), Layer::dense(128, 10)]);

/// The BasicMotions 1-D CNN (6 channels × 100 steps, 4 classes; the
/// `motions` firmware's model): conv1d(6→8, k 5, pad 2) relu max-pool 2
/// conv1d(8→8, k 5, pad 2) relu global average, dense 8→4.
pub const MOTIONS: Spec = Spec::new(&[
    Layer::conv1d(6, 8, 100, 5, 1, 2),
    Layer::relu(),
    Layer::max_pool1d(8, 100, 2, 2),
    Layer::conv1d(8, 8, 50, 5, 1, 2),
    Layer::relu(),
    Layer::global_avg_pool1d(8, 50),
    Layer::dense(8, 4),
]);

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

/// One gemm a training step issues.
#[derive(Debug, Clone, Copy)]
pub struct GemmShape {
    /// Rows of `c`.
    pub m: usize,
    /// Columns of `c`.
    pub n: usize,
    /// Inner dimension.
    pub k: usize,
    /// `a` is transposed.
    pub trans_a: bool,
    /// `b` is transposed.
    pub trans_b: bool,
}

impl GemmShape {
    /// `nn`, `nt` or `tn`.
    pub fn case(&self) -> &'static str {
        match (self.trans_a, self.trans_b) {
            (false, false) => "nn",
            (false, true) => "nt",
            (true, false) => "tn",
            (true, true) => "tt",
        }
    }
}

/// The gemms of one dense layer `inputs → outputs` at batch `rows`:
/// forward `X·Wᵀ` (nt), weight gradient `dZᵀ·X` (tn), input gradient
/// `dZ·W` (nn, not issued for the first layer).
pub fn layer_gemms(rows: usize, inputs: usize, outputs: usize, first: bool) -> Vec<GemmShape> {
    let g = |m, n, k, trans_a, trans_b| GemmShape {
        m,
        n,
        k,
        trans_a,
        trans_b,
    };
    let mut v = vec![
        g(rows, outputs, inputs, false, true),
        g(outputs, inputs, rows, true, false),
    ];
    if !first {
        v.push(g(rows, inputs, outputs, false, false));
    }
    v
}

/// Every gemm of the three benchmarked steps, labelled by network and batch.
pub fn gemm_shapes() -> Vec<(&'static str, GemmShape)> {
    let mut v = Vec::new();
    for (name, rows, widths) in [
        ("64-32-10-b32", 32, [64, 32, 10]),
        ("64-32-10-b1", 1, [64, 32, 10]),
        ("784-128-10-b32", 32, [784, 128, 10]),
    ] {
        for (l, w) in widths.windows(2).enumerate() {
            for s in layer_gemms(rows, w[0], w[1], l == 0) {
                v.push((name, s));
            }
        }
    }
    v
}
