//! The `finetune` firmware's fine-tuning, run on the host in f32 (issue 14):
//! the same pretrained blobs, split, shift, visiting order, replay pool and
//! draws, so for replay seed 14 these runs print the accuracies the device
//! prints (`firmware-examples/src/bin/finetune.rs`, docs/finetuning.md).
//!
//! The task: batch-1 SGD on the 180 even-numbered held-out digits shifted
//! one pixel right and one down, visited in the firmware's stride order;
//! tested on the 179 odd-numbered ones shifted (the new task) and on all
//! 359 held-out digits unshifted (the old task: forgetting).
//!
//! Replay, as the firmware keeps it: a [`Replay`] of the *indices* of
//! `STORED` unshifted training images (the split the model was pretrained
//! on; the pixels stay in the data set, as they stay in flash), filled by
//! reservoir sampling; after each shifted step, two distinct stored images
//! are trained on, each as its own batch-1 step.
//!
//! Two recipes, one per model width, each the firmware's default on its
//! boards (replay + L2-SP), checked with both the microprop-pretrained blob
//! and the JAX-pretrained one (`tools/pretrain_digits_jax.py`, converted
//! here with `microprop_cli::import`) over several replay seeds against
//! issue 14's thresholds: 64-16-10 (the micro:bit's) 0.80 shifted and 0.88
//! unshifted, 64-32-10 (the M4F's) 0.85 and 0.90.
//!
//! `cargo test -p host-tests --release --test replay_digits -- --nocapture`
//! prints the tables.

use microprop::replay::Replay;
use microprop::{Config, Element, Layer, Loss, Network, Optimizer, Rng, Spec, Targets, Train, Q10};
use microprop_cpu::{CpuBackend, Float};

const NET16: Spec = Spec::new(&[Layer::dense(64, 16), Layer::relu(), Layer::dense(16, 10)]);
const NET32: Spec = Spec::new(&[Layer::dense(64, 32), Layer::relu(), Layer::dense(32, 10)]);
const LAST: [Train; 3] = [Train::Frozen, Train::Frozen, Train::Full];
const BIAS: [Train; 3] = [Train::BiasOnly, Train::Frozen, Train::BiasOnly];
/// The firmware's visiting order: epoch `e` takes `(STRIDES[e % 8]·k + 37·e) mod 180`.
const STRIDES: [usize; 8] = [7, 11, 13, 17, 19, 23, 29, 31];
const SHIFT: (usize, usize) = (1, 1);
/// Stored originals mixed into each update.
const MIXED: usize = 2;
/// The firmware's replay seed.
const FIRMWARE_SEED: u64 = 14;
/// Seeds checked besides the firmware's.
const OTHER_SEEDS: [u64; 7] = [1, 2, 3, 4, 5, 6, 7];
/// L2-SP strength alone (a reported variant, not the default).
const LAMBDA_ALONE: f64 = 0.01;

static BLOB16: &[u8] = include_bytes!("../../firmware-examples/models/digits-pretrained.mpb");
static BLOB32: &[u8] = include_bytes!("../../firmware-examples/models/digits32-pretrained.mpb");
static JAX16: &[u8] = include_bytes!("../../firmware-examples/models/digits-jax.safetensors");
static JAX32: &[u8] = include_bytes!("../../firmware-examples/models/digits32-jax.safetensors");

/// One model width's fine-tuning recipe, as the firmware sets it.
struct Recipe {
    net: Spec<'static>,
    lr: f64,
    epochs: usize,
    /// Replay + L2-SP's λ (the default variant).
    lambda: f64,
    /// Issue 14's thresholds for the default variant: shifted, unshifted.
    pass: (f64, f64),
}

/// The micro:bit's: 64-16-10, lr 0.03, 32 epochs, 256 stored.
const RECIPE16: Recipe = Recipe {
    net: NET16,
    lr: 0.03,
    epochs: 32,
    lambda: 0.001,
    pass: (0.80, 0.88),
};
/// The M4F's and M33's: 64-32-10, lr 0.03, 24 epochs, 512 stored.
const RECIPE32: Recipe = Recipe {
    net: NET32,
    lr: 0.03,
    epochs: 24,
    lambda: 0.0005,
    pass: (0.85, 0.90),
};

struct Data {
    pixels: Vec<u8>,
    labels: Vec<usize>,
}

impl Data {
    fn image<E: Element>(&self, i: usize, shifted: bool) -> [E; 64] {
        let img = &self.pixels[i * 64..(i + 1) * 64];
        let (dx, dy) = if shifted { SHIFT } else { (0, 0) };
        let mut x = [E::ZERO; 64];
        for r in dy..8 {
            for c in dx..8 {
                x[r * 8 + c] = E::from_f32(f32::from(img[(r - dy) * 8 + (c - dx)]) / 16.0);
            }
        }
        x
    }
}

/// One variant: which parameters train, replay on or off, L2-SP's λ.
struct Variant {
    name: &'static str,
    train: &'static [Train],
    replay: bool,
    lambda: f64,
}

#[derive(Debug, Clone, Copy)]
struct Outcome {
    shifted_before: f64,
    shifted: f64,
    unshifted_before: f64,
    unshifted: f64,
}

fn accuracy<E: Float>(
    net: &mut Network<'_, CpuBackend<'_, E>>,
    d: &Data,
    idx: &[usize],
    shifted: bool,
) -> f64 {
    let mut x = Vec::with_capacity(idx.len() * 64);
    let mut y = Vec::with_capacity(idx.len());
    for &i in idx {
        x.extend(d.image::<E>(i, shifted));
        y.push(d.labels[i]);
    }
    net.evaluate(&x, Targets::Labels(&y))
        .unwrap()
        .accuracy
        .unwrap()
}

/// The firmware's replay pool: the indices of `CAP` training images, by
/// reservoir sampling with `seed`.
fn pool<const CAP: usize>(d: &Data, seed: u64) -> Replay<u8, CAP, 0> {
    let mut pool = Replay::new();
    let mut rng = Rng::new(seed);
    for i in (0..d.labels.len()).filter(|&i| !microprop_data::held_out(i)) {
        pool.offer(&mut rng, &[], u32::try_from(i).unwrap())
            .unwrap();
    }
    assert_eq!((pool.len(), pool.seen()), (CAP, 1438));
    pool
}

/// The firmware's `run_variant`: restart from `blob`, fine-tune as `v` and
/// `r` say, measure.
fn finetune<const CAP: usize>(
    d: &Data,
    r: &Recipe,
    blob: &[u8],
    v: &Variant,
    pool: &Replay<u8, CAP, 0>,
    seed: u64,
) -> Outcome {
    finetune_in::<f32, CAP>(d, r, blob, v, pool, seed)
}

/// [`finetune`] in element type `E`.
fn finetune_in<E: Float, const CAP: usize>(
    d: &Data,
    r: &Recipe,
    blob: &[u8],
    v: &Variant,
    pool: &Replay<u8, CAP, 0>,
    seed: u64,
) -> Outcome {
    let spec = r.net.with_training(v.train);
    let cfg = Config::new(1, Loss::SoftmaxCrossEntropy, Optimizer::sgd(r.lr));
    let mut arena = vec![E::ZERO; cfg.arena_len(&spec)];
    let mut net = Network::new(spec, CpuBackend::new(&mut arena), cfg).unwrap();
    net.load_blob(blob).unwrap();
    if v.lambda > 0.0 {
        net.set_anchor(blob, v.lambda).unwrap();
    }
    let held: Vec<usize> = (0..d.labels.len())
        .filter(|&i| microprop_data::held_out(i))
        .collect();
    assert_eq!(held.len(), 359);
    let tune: Vec<usize> = held.iter().copied().step_by(2).collect();
    let test: Vec<usize> = held.iter().copied().skip(1).step_by(2).collect();
    let shifted_before = accuracy(&mut net, d, &test, true);
    let unshifted_before = accuracy(&mut net, d, &held, false);
    let mut rng = Rng::new(seed);
    let mut picked = [0usize; MIXED];
    let n = tune.len();
    for e in 0..r.epochs {
        let a = STRIDES[e % STRIDES.len()];
        for k in 0..n {
            let i = tune[(a * k + 37 * e) % n];
            net.train_step(&d.image::<E>(i, true), Targets::Labels(&[d.labels[i]]))
                .unwrap();
            if v.replay {
                pool.fill_batch(&mut rng, &mut [], &mut picked).unwrap();
                for &j in &picked {
                    net.train_step(&d.image::<E>(j, false), Targets::Labels(&[d.labels[j]]))
                        .unwrap();
                }
            }
        }
    }
    Outcome {
        shifted_before,
        shifted: accuracy(&mut net, d, &test, true),
        unshifted_before,
        unshifted: accuracy(&mut net, d, &held, false),
    }
}

fn data() -> Data {
    let raw = microprop_data::Digits::load().unwrap();
    Data {
        pixels: raw.pixels.clone(),
        labels: raw.labels_usize(),
    }
}

/// The JAX-pretrained safetensors file as a device blob for `spec`.
fn jax_blob(spec: &Spec<'_>, file: &[u8]) -> Vec<u8> {
    let params = microprop_cli::import(spec, file).unwrap();
    microprop_cli::to_blob(spec, &params).unwrap()
}

/// The default variant (replay + L2-SP) of recipe `r` with `CAP` stored,
/// over the firmware's seed and seven others, for both blobs: every run
/// meets issue 14's thresholds.
fn default_meets_thresholds<const CAP: usize>(r: &Recipe, ours: &[u8], jax: &[u8]) {
    let d = data();
    let v = Variant {
        name: "replay+l2-sp",
        train: &[],
        replay: true,
        lambda: r.lambda,
    };
    let h = r.net.width_before(1);
    println!(
        "\n64-{h}-10, batch-1 SGD lr {}, {} epochs, {MIXED} of {CAP} stored per update, λ {}: {} (pass: {} / {})",
        r.lr, r.epochs, r.lambda, v.name, r.pass.0, r.pass.1
    );
    println!("| blob | replay seed | shifted test | unshifted held-out |");
    for (name, blob) in [("microprop", ours), ("JAX", jax)] {
        for seed in std::iter::once(FIRMWARE_SEED).chain(OTHER_SEEDS) {
            let o = finetune(&d, r, blob, &v, &pool::<CAP>(&d, seed), seed);
            println!(
                "| {name} | {seed} | {:.3} | {:.3} |",
                o.shifted, o.unshifted
            );
            // Pretrained: it cannot read shifted digits and knows the others.
            assert!(o.shifted_before < 0.2 && o.unshifted_before > 0.95, "{o:?}");
            assert!(
                o.shifted >= r.pass.0 && o.unshifted >= r.pass.1,
                "64-{h}-10, {name} blob, seed {seed}: {o:?}"
            );
        }
    }
}

#[test]
fn micro_bit_default_keeps_both_tasks() {
    let jax = jax_blob(&NET16, JAX16);
    default_meets_thresholds::<256>(&RECIPE16, BLOB16, &jax);
}

#[test]
fn m4f_default_keeps_both_tasks() {
    let jax = jax_blob(&NET32, JAX32);
    default_meets_thresholds::<512>(&RECIPE32, BLOB32, &jax);
}

/// Every variant the firmware measures, on the M4F's model and recipe with
/// the firmware's seed: the full update learns the shift and forgets, the
/// last layer alone and bias-only cannot undo a shift, replay keeps both.
#[test]
fn variants_on_the_m4f_model() {
    let d = data();
    let r = &RECIPE32;
    let pool = pool::<512>(&d, FIRMWARE_SEED);
    let variants = [
        Variant {
            name: "full",
            train: &[],
            replay: false,
            lambda: 0.0,
        },
        Variant {
            name: "last-layer",
            train: &LAST,
            replay: false,
            lambda: 0.0,
        },
        Variant {
            name: "bias-only",
            train: &BIAS,
            replay: false,
            lambda: 0.0,
        },
        Variant {
            name: "replay",
            train: &[],
            replay: true,
            lambda: 0.0,
        },
        Variant {
            name: "l2-sp",
            train: &[],
            replay: false,
            lambda: LAMBDA_ALONE,
        },
    ];
    println!(
        "\n64-32-10, lr {}, {} epochs, seed {FIRMWARE_SEED}",
        r.lr, r.epochs
    );
    println!("| variant | shifted test | unshifted held-out |");
    let o: Vec<Outcome> = variants
        .iter()
        .map(|v| {
            let o = finetune(&d, r, BLOB32, v, &pool, FIRMWARE_SEED);
            println!("| {} | {:.3} | {:.3} |", v.name, o.shifted, o.unshifted);
            o
        })
        .collect();
    let [full, last, bias, replay, l2sp] = [o[0], o[1], o[2], o[3], o[4]];
    // The full update learns the shift and forgets the unshifted digits.
    assert!(full.shifted > 0.85 && full.unshifted < 0.5, "{full:?}");
    // The last layer alone cannot undo a shift (the first layer reads the
    // pixels) and still overwrites the old classes.
    assert!(
        last.shifted < full.shifted && last.unshifted < 0.5,
        "{last:?}"
    );
    // Bias-only learns little of the shift.
    assert!(bias.shifted < 0.5, "{bias:?}");
    // L2-SP alone keeps a little more than the full update, far from replay.
    assert!(l2sp.unshifted < replay.unshifted - 0.3, "{l2sp:?}");
    // Replay keeps both.
    assert!(
        replay.shifted >= 0.85 && replay.unshifted >= 0.90,
        "{replay:?}"
    );
    assert!(replay.unshifted > full.unshifted + 0.4, "{replay:?}");
}

/// The micro:bit's fine-tuning in 16-bit fixed point ([`Q10`]) from the
/// pretrained blob converted by `microprop quantize` (what `finetune-q`
/// embeds), replay without and with L2-SP, over the seeds: each run reaches
/// 0.80 shifted (issue 17) and keeps 0.88 unshifted (the f32 recipe's
/// threshold on the micro:bit).
#[test]
fn fixed_point_finetune_from_the_converted_blob() {
    let d = data();
    let params = microprop_cli::from_blob(&NET16, BLOB16).unwrap();
    let (q, _) = microprop_cli::quantize(&NET16, &params, 10).unwrap();
    println!(
        "\n64-16-10 in Q10 from the quantized blob, lr {}, {} epochs",
        RECIPE16.lr, RECIPE16.epochs
    );
    println!("| variant | replay seed | shifted test | unshifted held-out |");
    for lambda in [0.0, RECIPE16.lambda] {
        let v = Variant {
            name: if lambda > 0.0 {
                "replay+l2-sp"
            } else {
                "replay"
            },
            train: &[],
            replay: true,
            lambda,
        };
        for seed in std::iter::once(FIRMWARE_SEED).chain(OTHER_SEEDS) {
            let o = finetune_in::<Q10, 256>(&d, &RECIPE16, &q, &v, &pool::<256>(&d, seed), seed);
            println!(
                "| {} | {seed} | {:.3} | {:.3} |",
                v.name, o.shifted, o.unshifted
            );
            // Issue 17's 0.80 shifted, and the f32 micro:bit's 0.88
            // unshifted, for every seed.
            assert!(
                o.shifted >= 0.80 && o.unshifted >= 0.88,
                "{}, seed {seed}: {o:?}",
                v.name
            );
        }
    }
}
