//! Shared pieces of the fuzz targets: the fixed network every input is
//! checked against.

use microprop::{Layer, Spec};

/// The network the loaders are fuzzed against (26 parameters: two weight
/// matrices and two bias vectors, so the safetensors importer sees four
/// tensors).
pub const NET: Spec = Spec::new(&[Layer::dense(3, 4), Layer::relu(), Layer::dense(4, 2)]);

/// Its parameter count.
pub const PARAMS: usize = NET.param_count();

/// Deterministic, finite, non-trivial parameters for the seed files.
pub fn seed_params() -> Vec<f32> {
    (0..PARAMS)
        .map(|i| ((i as f32) * 0.37).sin() * 1.5)
        .collect()
}
