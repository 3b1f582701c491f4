//! Fine-tuning with and without replay, on the real digits, exactly as the
//! `finetune` firmware does it (issue 14): the committed pretrained
//! 64-16-10 model (`firmware-examples/models/digits-pretrained.mpb`),
//! batch-1 SGD on the 180 even-numbered held-out images shifted one pixel
//! right and one down, visited in the firmware's stride order, tested on
//! the 179 odd-numbered ones shifted (new task) and on all 359 held-out
//! images unshifted (old task: forgetting).
//!
//! Replay: a [`Replay`] of `CAP` unshifted *training* images (the split
//! the model was pretrained on), as `u8` pixels, filled by reservoir
//! sampling over the 1,438 training images; after each shifted step, two
//! distinct stored originals (`fill_batch_map`) are trained on, each as its
//! own batch-1 step (the firmware's arena stays batch 1).
//!
//! Two recipes, each with all five variants: the (lr 0.05, 128
//! stored, what its numpy simulation ran) and the one the firmware's replay
//! build uses (lr 0.02, 256 stored), which keeps more of the old task.
//!
//! `cargo test -p host-tests --release --test replay_digits -- --nocapture`
//! prints the table that `docs/finetuning.md` shows.

use microprop::replay::Replay;
use microprop::{Config, Layer, Loss, Network, Optimizer, Rng, Spec, Targets, Train};
use microprop_cpu::CpuBackend;

const NET: Spec = Spec::new(&[Layer::dense(64, 16), Layer::relu(), Layer::dense(16, 10)]);
const LAST: [Train; 3] = [Train::Frozen, Train::Frozen, Train::Full];
const BIAS: [Train; 3] = [Train::BiasOnly, Train::Frozen, Train::BiasOnly];
const EPOCHS: usize = 32;
/// The firmware's visiting order: epoch `e` takes `(STRIDES[e % 8]·k + 37·e) mod 180`.
const STRIDES: [usize; 8] = [7, 11, 13, 17, 19, 23, 29, 31];
const SHIFT: (usize, usize) = (1, 1);
/// Stored originals mixed into each update.
const MIXED: usize = 2;
const REPLAY_SEED: u64 = 14;

static BLOB: &[u8] = include_bytes!("../../firmware-examples/models/digits-pretrained.mpb");

struct Data {
    pixels: Vec<u8>,
    labels: Vec<usize>,
}

impl Data {
    fn image(&self, i: usize, shifted: bool) -> [f32; 64] {
        let img = &self.pixels[i * 64..(i + 1) * 64];
        let (dx, dy) = if shifted { SHIFT } else { (0, 0) };
        let mut x = [0.0f32; 64];
        for r in dy..8 {
            for c in dx..8 {
                x[r * 8 + c] = f32::from(img[(r - dy) * 8 + (c - dx)]) / 16.0;
            }
        }
        x
    }
}

#[derive(Debug, Clone, Copy)]
struct Outcome {
    shifted_before: f64,
    shifted: f64,
    unshifted_before: f64,
    unshifted: f64,
}

fn accuracy(
    net: &mut Network<'_, CpuBackend<'_, f32>>,
    d: &Data,
    idx: &[usize],
    shifted: bool,
) -> f64 {
    let mut x = Vec::with_capacity(idx.len() * 64);
    let mut y = Vec::with_capacity(idx.len());
    for &i in idx {
        x.extend(d.image(i, shifted));
        y.push(d.labels[i]);
    }
    net.evaluate(&x, Targets::Labels(&y))
        .unwrap()
        .accuracy
        .unwrap()
}

/// The firmware's fine-tuning under `train` (per-layer trainability), with
/// `replay` originals mixed into each update when given.
fn finetune<const CAP: usize>(
    d: &Data,
    lr: f64,
    train: &[Train],
    replay: Option<&Replay<u8, CAP, 64>>,
) -> Outcome {
    let spec = NET.with_training(train);
    let cfg = Config::new(1, Loss::SoftmaxCrossEntropy, Optimizer::sgd(lr));
    let mut arena = vec![0.0f32; cfg.arena_len(&spec)];
    let mut net = Network::new(spec, CpuBackend::new(&mut arena), cfg).unwrap();
    net.load_blob(BLOB).unwrap();
    let held: Vec<usize> = (0..d.labels.len())
        .filter(|&i| microprop_data::held_out(i))
        .collect();
    assert_eq!(held.len(), 359);
    let tune: Vec<usize> = held.iter().copied().step_by(2).collect();
    let test: Vec<usize> = held.iter().copied().skip(1).step_by(2).collect();
    let shifted_before = accuracy(&mut net, d, &test, true);
    let unshifted_before = accuracy(&mut net, d, &held, false);
    let mut rng = Rng::new(REPLAY_SEED);
    let (mut rx, mut ry) = ([0.0f32; MIXED * 64], [0usize; MIXED]);
    let n = tune.len();
    for e in 0..EPOCHS {
        let a = STRIDES[e % STRIDES.len()];
        for k in 0..n {
            let i = tune[(a * k + 37 * e) % n];
            net.train_step(&d.image(i, true), Targets::Labels(&[d.labels[i]]))
                .unwrap();
            if let Some(r) = replay {
                r.fill_batch_map(&mut rng, &mut rx, &mut ry, |p| f32::from(p) / 16.0)
                    .unwrap();
                for (x, &y) in rx.chunks_exact(64).zip(&ry) {
                    net.train_step(x, Targets::Labels(&[y])).unwrap();
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

/// The five variants at learning rate `lr` with `CAP` stored originals;
/// prints the table, returns (full update, replay).
fn table<const CAP: usize>(d: &Data, raw: &microprop_data::Digits, lr: f64) -> (Outcome, Outcome) {
    // Reservoir over the training split (the pretraining images, never the
    // held-out ones the fine-tuning and the tests use).
    let mut replay: Replay<u8, CAP, 64> = Replay::new();
    let mut rng = Rng::new(REPLAY_SEED);
    for i in (0..d.labels.len()).filter(|&i| !microprop_data::held_out(i)) {
        replay
            .offer(&mut rng, raw.image(i), u32::from(raw.labels[i]))
            .unwrap();
    }
    assert_eq!((replay.len(), replay.seen()), (CAP, 1438));
    let runs = [
        ("full update", finetune::<CAP>(d, lr, &[], None)),
        ("last layer only", finetune::<CAP>(d, lr, &LAST, None)),
        ("bias-only", finetune::<CAP>(d, lr, &BIAS, None)),
        ("replay", finetune(d, lr, &[], Some(&replay))),
        ("replay + last layer", finetune(d, lr, &LAST, Some(&replay))),
    ];
    println!(
        "\n64-16-10, batch-1 SGD lr {lr}, {EPOCHS} epochs over 180 shifted images; replay: {MIXED} of {CAP} stored originals per update"
    );
    println!(
        "pretrained: shifted test {:.3}, unshifted held-out {:.3}",
        runs[0].1.shifted_before, runs[0].1.unshifted_before
    );
    println!("| variant | shifted test | unshifted held-out |");
    for (name, o) in &runs {
        println!("| {name} | {:.3} | {:.3} |", o.shifted, o.unshifted);
    }
    (runs[0].1, runs[3].1)
}

#[test]
fn replay_keeps_the_unshifted_digits() {
    let raw = microprop_data::Digits::load().unwrap();
    let d = Data {
        pixels: raw.pixels.clone(),
        labels: raw.labels_usize(),
    };
    // Bounds: what holds over replay seeds 1..=8 (lr 0.05) and 1..=16
    // (lr 0.02) (docs/finetuning.md), a little below the worst seed.
    let (full, replayed) = table::<128>(&d, &raw, 0.05);
    // The pretrained model cannot read shifted digits (0.089) and knows the
    // unshifted ones (0.964).
    assert!(full.shifted_before < 0.2 && full.unshifted_before > 0.95);
    // The full update learns the shift (0.899) and forgets (0.320).
    assert!(full.shifted > 0.8 && full.unshifted < 0.5, "{full:?}");
    // Replay learns the shift too (0.838; seeds 1..=8: 0.838..0.883) and
    // keeps the old task (0.852; 0.847..0.914).
    assert!(replayed.shifted >= 0.80, "{replayed:?}");
    assert!(replayed.unshifted >= 0.82, "{replayed:?}");
    assert!(replayed.unshifted > full.unshifted + 0.4, "{replayed:?}");

    let (full, replayed) = table::<256>(&d, &raw, 0.02);
    // Full update 0.905 / 0.448; replay 0.832 / 0.903 (seeds 1..=16:
    // 0.821..0.855 shifted, 0.903..0.928 unshifted).
    assert!(full.shifted > 0.8 && full.unshifted < 0.5, "{full:?}");
    assert!(replayed.shifted >= 0.80, "{replayed:?}");
    assert!(replayed.unshifted >= 0.89, "{replayed:?}");
    assert!(replayed.unshifted > full.unshifted + 0.4, "{replayed:?}");
}
