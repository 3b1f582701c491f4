//! Desktop to device: start from a model pretrained on the host, keep
//! learning on the device on data the host never saw.
//!
//! - The model (64-16-10 ReLU, 1,210 parameters) was pretrained on the host
//!   (`cargo run --release --example pretrain`, `examples/pretrain.rs`) on the
//!   *unshifted* training images of the digits split (image `i` is held out
//!   when `i % 5 == 4`), and is embedded here as a device blob
//!   (`models/digits-pretrained.mpb`, 4,860 bytes, `microprop::blob`;
//!   `MICROPROP_PRETRAINED_BLOB=path` at build time embeds another one, e.g.
//!   the JAX-trained model CI converts with `microprop to-blob`).
//!   `Network::load_blob` checks its magic, version, spec hash, length and
//!   CRC-32 before touching the arena; a bad blob is a logged typed error
//!   and exit code 1.
//! - The device sees the digits shifted by [`SHIFT`] (1 pixel right, 1 down,
//!   zero fill), computed at run time from the unshifted pixels in flash
//!   (no extra flash). The held-out images split in two: the even-numbered
//!   180 are fine-tuned on, the odd-numbered 179 test.
//! - It measures accuracy on the shifted test images and on all 359
//!   unshifted held-out images (forgetting), fine-tunes with batch-1 SGD for
//!   [`EPOCHS`] epochs over the shifted fine-tuning images, and measures
//!   again.
//! - Exit 0 only if shifted test accuracy rose by at least [`MARGIN`] and
//!   reached [`PASS_ACCURACY`].
//!
//! - Replay (issue 14), off by default: built with
//!   `MICROPROP_FINETUNE_REPLAY=1`, the device keeps [`STORED`] of the
//!   unshifted *training* images (the pretraining split, in flash) by
//!   reservoir sampling (`microprop::replay`, Algorithm R, seed
//!   [`REPLAY_SEED`]); only their indices are kept in RAM (about 1 KiB on the
//!   stack: a `Replay` of zero-length samples whose label is the image's
//!   index), the pixels stay in flash. After each shifted step it trains on
//!   [`MIXED`] distinct stored images, each as its own batch-1 step (same
//!   arena, same cost per step), at the same lr 0.02 for 32 epochs: the
//!   recipe of `host-tests/tests/replay_digits.rs` (`docs/finetuning.md`),
//!   which keeps the unshifted digits.
//!
//! The same steps run on the host in f32 (`pretrain -- --preview`) and give
//! the same accuracies. Batch 1 SGD is what fits the micro:bit (10.7 KB of
//! arena in 16 KiB of RAM); every board runs the same configuration, so they
//! all print the same numbers.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use microprop::replay::Replay;
use microprop::{Config, Layer, Loss, Network, Optimizer, Rng, Spec, Targets};
use microprop_cpu::CpuBackend;
use microprop_firmware::{board, check, hello, take, ConstStaticCell, Meter, Report};

/// The pretrained model's shape (the blob's spec hash must match it).
const NET: Spec = Spec::new(&[Layer::dense(64, 16), Layer::relu(), Layer::dense(16, 10)]);
/// Replay on (`MICROPROP_FINETUNE_REPLAY` set at build time) or off (the
/// default).
const REPLAY: bool = option_env!("MICROPROP_FINETUNE_REPLAY").is_some();
/// Training images kept for replay (their indices; the pixels stay in flash).
const STORED: usize = 256;
/// Stored images trained on after each shifted step.
const MIXED: usize = 2;
/// Seed of the reservoir and of the draws.
const REPLAY_SEED: u64 = 14;
/// Fine-tuning: batch 1 SGD. The seed's initial weights are replaced by
/// the blob's.
const CFG: Config = Config::new(1, Loss::SoftmaxCrossEntropy, Optimizer::sgd(0.02));
const ARENA_LEN: usize = CFG.arena_len(&NET);
/// Epochs over the 180 shifted fine-tuning images.
const EPOCHS: usize = if REPLAY { 32 } else { 8 };
/// Pixels right and down the device's images are moved (zero fill).
const SHIFT: (usize, usize) = (1, 1);
/// Required rise of the shifted test accuracy.
const MARGIN: f32 = 0.5;
/// Required shifted test accuracy after fine-tuning.
const PASS_ACCURACY: f32 = 0.80;

/// The pretrained parameters: `models/digits-pretrained.mpb` as the host's
/// `save_blob` wrote it, or the blob `MICROPROP_PRETRAINED_BLOB` named at
/// build time (`build.rs` copies it into `OUT_DIR`).
static BLOB: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/pretrained.mpb"));

/// RAM beside the arena: stack (peak ~2.5 KiB) and other statics.
const RAM_RESERVE: usize = 4 * 1024;
const _: () = assert!(
    ARENA_LEN * 4 + RAM_RESERVE <= board::RAM_BYTES,
    "the fine-tuning arena does not fit this board's RAM"
);

/// The arena, in .bss; `main` takes it once.
static ARENA: ConstStaticCell<[f32; ARENA_LEN]> = ConstStaticCell::new([0.0; ARENA_LEN]);

/// Pixels 0..=16, 64 per image, row-major; in flash (from `build.rs`).
static PIXELS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/digits_x.bin"));
/// Labels 0..=9; in flash.
static LABELS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/digits_y.bin"));

/// Held-out images (`i % 5 == 4`): 359.
const N_HELD: usize = LABELS.len() / 5;
/// Fine-tuning images: even-numbered held-out ones.
const N_TUNE: usize = N_HELD.div_ceil(2);
/// Shifted test images: odd-numbered held-out ones.
const N_TEST: usize = N_HELD / 2;

/// Strides coprime to N_TUNE (180): epoch `e` visits the fine-tuning images
/// in the order `(STRIDES[e % 8] · k + 37 · e) mod 180`, a shuffle that
/// needs no RAM (the host's `--preview` uses the same order).
const STRIDES: [usize; 8] = [7, 11, 13, 17, 19, 23, 29, 31];

/// Index into the data set of held-out image `j`.
fn held_index(j: usize) -> usize {
    j * 5 + 4
}

/// Image `i`, scaled to [0, 1] and shifted if `shifted`, into `x`; returns
/// its label.
fn load(i: usize, shifted: bool, x: &mut [f32; 64]) -> usize {
    // `get`: an index past the data set gives label `usize::MAX`, which the
    // network rejects with a typed error (no panic path).
    let (Some(img), Some(&label)) = (PIXELS.get(i * 64..(i + 1) * 64), LABELS.get(i)) else {
        return usize::MAX;
    };
    let (dx, dy) = if shifted { SHIFT } else { (0, 0) };
    for r in 0..8 {
        for c in 0..8 {
            x[r * 8 + c] = if r >= dy && c >= dx {
                f32::from(img[(r - dy) * 8 + (c - dx)]) * (1.0 / 16.0)
            } else {
                0.0
            };
        }
    }
    usize::from(label)
}

type Net = Network<'static, CpuBackend<'static, f32>>;

/// Fraction right among `n` held-out images `first, first + step, ...`.
fn accuracy(net: &mut Net, first: usize, step: usize, n: usize, shifted: bool) -> f32 {
    let mut x = [0.0f32; 64];
    let mut class = [0usize; 1];
    let mut right = 0;
    for k in 0..n {
        let label = load(held_index(first + k * step), shifted, &mut x);
        check(net.classify(&x, &mut class), "classify");
        right += usize::from(class[0] == label);
    }
    right as f32 / n as f32
}

/// Shifted test accuracy and unshifted held-out accuracy.
fn measure(net: &mut Net) -> (f32, f32) {
    (
        accuracy(net, 1, 2, N_TEST, true),
        accuracy(net, 0, 1, N_HELD, false),
    )
}

#[entry]
fn main() -> ! {
    let cp = microprop_firmware::peripherals();
    let mut meter = Meter::new(cp.SYST);
    hello("finetune", &meter);
    defmt::info!(
        "model 64-16-10 relu, {=usize} params from a {=usize} B blob; fine-tune batch {=usize} {}; arena {=usize} B; shift ({=usize},{=usize}); {=usize} tune / {=usize} shifted test / {=usize} unshifted test images",
        NET.param_count(),
        BLOB.len(),
        CFG.batch,
        CFG.optimizer,
        ARENA_LEN * 4,
        SHIFT.0,
        SHIFT.1,
        N_TUNE,
        N_TEST,
        N_HELD
    );
    let arena = take(&ARENA, "ARENA");
    let mut net = check(
        Network::new(NET, CpuBackend::new(arena), CFG),
        "Network::new",
    );
    let (loaded, load_instr) = meter.measure(|| net.load_blob(BLOB));
    check(loaded, "load_blob");
    defmt::info!(
        "blob loaded and verified (spec hash, length, CRC-32) in {=u64} instructions",
        load_instr
    );

    let ((shifted_before, plain_before), eval_instr) = meter.measure(|| measure(&mut net));
    defmt::info!(
        "before: shifted test accuracy {=f32}, unshifted held-out accuracy {=f32} ({=u64} instructions to evaluate)",
        shifted_before,
        plain_before,
        eval_instr
    );

    // Replay: the indices of STORED training images, by reservoir sampling
    // over the training split (a zero-length sample whose label is the
    // image's index). Built only with replay on.
    let mut pool: Replay<u8, STORED, 0> = Replay::new();
    let mut mix_rng = Rng::new(REPLAY_SEED);
    let mut picked = [0usize; MIXED];
    if REPLAY {
        let mut rng = Rng::new(REPLAY_SEED);
        for i in (0..LABELS.len()).filter(|&i| i % 5 != 4) {
            let index = u32::try_from(i).unwrap_or(u32::MAX);
            check(pool.offer(&mut rng, &[], index), "replay offer");
        }
        defmt::info!(
            "replay: {=usize} of {=u64} training images kept (indices only), {=usize} mixed into each step, {=usize} epochs",
            pool.len(),
            pool.seen(),
            MIXED,
            EPOCHS
        );
    }

    // Instructions of the training steps alone (the meter's running mean
    // also holds the load and the evaluation).
    let (mut step_instr, mut steps) = (0u64, 0u64);
    let mut x = [0.0f32; 64];
    for e in 0..EPOCHS {
        let a = STRIDES[e % STRIDES.len()];
        let mut loss_sum = 0.0f32;
        for k in 0..N_TUNE {
            let j = 2 * ((a * k + 37 * e) % N_TUNE);
            let label = load(held_index(j), true, &mut x);
            let (loss, n) = meter.measure(|| net.train_step(&x, Targets::Labels(&[label])));
            step_instr += n;
            steps += 1;
            loss_sum += check(loss, "train_step");
            if REPLAY {
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
        defmt::info!(
            "epoch {=usize}: fine-tune loss {=f32}",
            e + 1,
            loss_sum / N_TUNE as f32
        );
    }
    let (shifted_after, plain_after) = measure(&mut net);
    let passed = shifted_after >= shifted_before + MARGIN && shifted_after >= PASS_ACCURACY;
    defmt::info!(
        "after:  shifted test accuracy {=f32}, unshifted held-out accuracy {=f32}",
        shifted_after,
        plain_after
    );
    defmt::info!(
        "FINETUNE board={=str} shifted_before={=f32} shifted_after={=f32} unshifted_before={=f32} unshifted_after={=f32} steps={=u64} instr_per_step={=u64} instr_total={=u64} (pass: shifted rises by >= {=f32} to >= {=f32})",
        board::NAME,
        shifted_before,
        shifted_after,
        plain_before,
        plain_after,
        steps,
        step_instr / steps,
        step_instr,
        MARGIN,
        PASS_ACCURACY
    );
    Report {
        example: "finetune",
        passed,
        check: "shifted_accuracy",
        value: shifted_after,
        arena_bytes: ARENA_LEN * 4,
        batch: CFG.batch,
        instructions_per_step: step_instr / steps,
        steps,
    }
    .finish()
}
