//! The fine-tuning run that the `finetune` (f32) and `finetune-q` (16-bit
//! fixed point) examples share: restart from a pretrained blob, fine-tune
//! with batch-1 SGD on the held-out digits shifted by [`SHIFT`], optionally
//! with replay of stored training images and an L2-SP anchor, and measure
//! shifted and unshifted accuracy. See `src/bin/finetune.rs` for the task.

use microprop::replay::Replay;
use microprop::{Config, Element, Network, Rng, Spec, Targets};
use microprop_cpu::{CpuBackend, FastKernels, Float};

use crate::digits::{load_shifted, test_index, train_index, N_TRAIN, STRIDES};
use crate::{check, Meter};

/// Pixels right and down the device's images are moved (zero fill).
pub const SHIFT: (usize, usize) = (1, 1);
/// Held-out images (`i % 5 == 4`): 359.
pub const N_HELD: usize = crate::digits::N_TEST;
/// Fine-tuning images: even-numbered held-out ones.
pub const N_TUNE: usize = N_HELD.div_ceil(2);
/// Shifted test images: odd-numbered held-out ones.
pub const N_TEST: usize = N_HELD / 2;
/// Stored images trained on after each shifted step.
pub const MIXED: usize = 2;

/// Held-out image `i` (an index into the data set), shifted by [`SHIFT`]
/// if `shifted`, into `x`; returns its label.
fn load<E: Element>(i: usize, shifted: bool, x: &mut [E; 64]) -> usize {
    load_shifted(i, if shifted { SHIFT } else { (0, 0) }, x)
}

/// The fine-tuning network in element type `E` with op set `OPS`.
pub type Net<'a, E, const OPS: u64> = Network<'static, CpuBackend<'a, E, FastKernels, OPS>>;

/// Fraction right among `n` held-out images `first, first + step, ...`.
fn accuracy<E: Float, const OPS: u64>(
    net: &mut Net<'_, E, OPS>,
    first: usize,
    step: usize,
    n: usize,
    shifted: bool,
) -> f32 {
    let mut x = [E::ZERO; 64];
    let mut class = [0usize; 1];
    let mut right = 0;
    for k in 0..n {
        let label = load(test_index(first + k * step), shifted, &mut x);
        check(net.classify(&x, &mut class), "classify");
        right += usize::from(class[0] == label);
    }
    right as f32 / n as f32
}

/// Shifted test accuracy and unshifted held-out accuracy.
pub fn measure<E: Float, const OPS: u64>(net: &mut Net<'_, E, OPS>) -> (f32, f32) {
    (
        accuracy(net, 1, 2, N_TEST, true),
        accuracy(net, 0, 1, N_HELD, false),
    )
}

/// One fine-tuning recipe.
pub struct Variant {
    /// Its name in the `VARIANT` lines.
    pub name: &'static str,
    /// The network with its per-layer trainability.
    pub spec: Spec<'static>,
    /// Replay of stored originals after each shifted step.
    pub replay: bool,
    /// L2-SP strength toward the blob's weights (0: off).
    pub lambda: f64,
}

/// What one variant measured.
pub struct Outcome {
    /// Shifted test accuracy.
    pub shifted: f32,
    /// Unshifted held-out accuracy.
    pub unshifted: f32,
    /// Training steps (shifted and replayed).
    pub steps: u64,
    /// Mean instructions per training step.
    pub instr_per_step: u64,
}

/// The replay pool: the indices of `CAP` training images.
pub type Pool<const CAP: usize> = Replay<u8, CAP, 0>;

/// The indices of `CAP` training images, by reservoir sampling with `seed`
/// over the training split (a zero-length sample whose label is the
/// image's index); logs what it kept.
pub fn pool<const CAP: usize>(seed: u64) -> Pool<CAP> {
    let mut pool = Pool::<CAP>::new();
    let mut rng = Rng::new(seed);
    for i in (0..N_TRAIN).map(train_index) {
        let index = u32::try_from(i).unwrap_or(u32::MAX);
        check(pool.offer(&mut rng, &[], index), "replay offer");
    }
    defmt::info!(
        "replay: {=usize} of {=u64} training images kept (indices only), {=usize} mixed into each step",
        pool.len(),
        pool.seen(),
        MIXED
    );
    pool
}

/// Restart from `blob`, fine-tune as `v` says with `cfg` for `epochs`
/// epochs over `arena` (the variant's own arena length), drawing replayed
/// images with `seed`; measure.
#[allow(clippy::too_many_arguments)]
pub fn run_variant<E: Float, const OPS: u64, const CAP: usize>(
    v: &Variant,
    cfg: Config,
    blob: &'static [u8],
    epochs: usize,
    arena: &mut [E],
    pool: &Pool<CAP>,
    seed: u64,
    meter: &mut Meter,
) -> Outcome {
    let mut net: Net<'_, E, OPS> = check(
        Network::new(v.spec, CpuBackend::with_ops::<OPS>(arena), cfg),
        "Network::new",
    );
    check(net.load_blob(blob), "load_blob");
    if v.lambda > 0.0 {
        check(net.set_anchor(blob, v.lambda), "set_anchor");
    }
    let mut mix_rng = Rng::new(seed);
    let mut picked = [0usize; MIXED];
    // Instructions of the training steps alone.
    let (mut step_instr, mut steps) = (0u64, 0u64);
    let mut x = [E::ZERO; 64];
    for e in 0..epochs {
        let a = STRIDES[e % STRIDES.len()];
        for k in 0..N_TUNE {
            let j = 2 * ((a * k + 37 * e) % N_TUNE);
            let label = load(test_index(j), true, &mut x);
            let (loss, n) = meter.measure(|| net.train_step(&x, Targets::Labels(&[label])));
            step_instr += n;
            steps += 1;
            check(loss, "train_step");
            if v.replay {
                check(
                    pool.fill_batch(&mut mix_rng, &mut [], &mut picked),
                    "replay draw",
                );
                for &i in &picked {
                    let label = load(i, false, &mut x);
                    let (loss, n) = meter.measure(|| net.train_step(&x, Targets::Labels(&[label])));
                    step_instr += n;
                    steps += 1;
                    check(loss, "train_step (replay)");
                }
            }
        }
    }
    let (shifted, unshifted) = measure(&mut net);
    Outcome {
        shifted,
        unshifted,
        steps,
        instr_per_step: step_instr / steps.max(1),
    }
}
