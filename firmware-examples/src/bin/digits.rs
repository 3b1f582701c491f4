//! Handwritten digits learned on the device.
//!
//! The UCI digits set (1797 8×8 images, pixels 0..=16) sits in flash as u8,
//! generated from `../data/digits.csv` by `build.rs`. Every fifth image is
//! held out (359 test, 1438 train). The network trains from scratch with
//! softmax cross-entropy, then classifies the held-out images; exit 0 only
//! if test accuracy is at least 0.93.
//!
//! The model is chosen by the board's RAM, and the arena's `const fn` size
//! is checked against it at compile time:
//! - 16 KiB (micro:bit, M0): 64-16-10, batch 1 SGD: 10,672 B arena;
//! - otherwise: 64-32-10, batch 16 Adam: 56,240 B arena.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use microprop::{Config, Layer, Loss, Network, Optimizer, Spec, Targets};
use microprop_cpu::{CpuBackend, FastKernels};
use microprop_firmware::{board, check, hello, take, ConstStaticCell, Meter, Report};

/// A board with this little RAM gets the small model.
const SMALL: bool = board::RAM_BYTES <= 32 * 1024;
const HIDDEN: usize = if SMALL { 16 } else { 32 };
const NET: Spec = Spec::new(&[
    Layer::dense(64, HIDDEN),
    Layer::relu(),
    Layer::dense(HIDDEN, 10),
]);
const CFG: Config = if SMALL {
    Config::new(1, Loss::SoftmaxCrossEntropy, Optimizer::sgd(0.05))
} else {
    Config::new(16, Loss::SoftmaxCrossEntropy, Optimizer::adam(0.005))
}
.with_seed(1);
const BATCH: usize = CFG.batch;
const ARENA_LEN: usize = CFG.arena_len(&NET);
/// The ops this network issues: the backend compiles only their kernels.
const OPS: u64 = CFG.ops(&NET).bits();
const EPOCHS: usize = 10;
const PASS_ACCURACY: f32 = 0.93;

/// RAM the rest of the program needs beside the arena: stack (peak ~2 KiB
/// with batch 1; the batch buffer is on the stack) and other statics.
const RAM_RESERVE: usize = 3 * 1024 + BATCH * 64 * 4;
const _: () = assert!(
    ARENA_LEN * 4 + RAM_RESERVE <= board::RAM_BYTES,
    "the digits model's arena does not fit this board's RAM: shrink HIDDEN or the batch"
);

/// The arena, in .bss; `main` takes it once.
static ARENA: ConstStaticCell<[f32; ARENA_LEN]> = ConstStaticCell::new([0.0; ARENA_LEN]);

/// Pixels, 64 per image, row-major; in flash.
static PIXELS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/digits_x.bin"));
/// Labels 0..=9; in flash.
static LABELS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/digits_y.bin"));

const N: usize = LABELS.len();
const N_TRAIN: usize = N - N_TEST;
const N_TEST: usize = N / 5;

/// Index of the `j`-th training image: every fifth image is held out.
fn train_index(j: usize) -> usize {
    j / 4 * 5 + j % 4
}

/// Index of the `j`-th test image.
fn test_index(j: usize) -> usize {
    j * 5 + 4
}

/// Image `i` scaled to [0, 1] into `x`, label out.
/// (`get`, not indexing: an image index past the data set gives label
/// `usize::MAX`, which `train_step` rejects with a typed error; no panic
/// path.)
fn load(i: usize, x: &mut [f32]) -> usize {
    let (Some(img), Some(&label)) = (PIXELS.get(i * 64..(i + 1) * 64), LABELS.get(i)) else {
        return usize::MAX;
    };
    for (dst, &p) in x.iter_mut().zip(img) {
        *dst = f32::from(p) * (1.0 / 16.0);
    }
    usize::from(label)
}

/// Strides coprime to N_TRAIN (= 2 · 719): epoch `e` visits the training set
/// in the order `(a·k + off) mod N_TRAIN`, a shuffle that needs no RAM.
const STRIDES: [usize; 8] = [7, 11, 13, 17, 19, 23, 29, 31];

#[entry]
fn main() -> ! {
    let cp = microprop_firmware::peripherals();
    let mut meter = Meter::new(cp.SYST);
    hello("digits", &meter);
    defmt::info!(
        "model 64-{=usize}-10 relu, batch {=usize}, {}, {=usize} params; arena {=usize} B; data {=usize} B in flash; {=usize} train / {=usize} test",
        HIDDEN,
        BATCH,
        CFG.optimizer,
        NET.param_count(),
        ARENA_LEN * 4,
        PIXELS.len() + LABELS.len(),
        N_TRAIN,
        N_TEST
    );
    let arena = take(&ARENA, "ARENA");
    let mut net = check(
        Network::new(NET, CpuBackend::with_ops::<OPS>(arena), CFG),
        "Network::new",
    );

    let mut x = [0.0f32; BATCH * 64];
    let mut y = [0usize; BATCH];
    let mut accuracy = 0.0;
    for epoch in 0..EPOCHS {
        let a = STRIDES[epoch % STRIDES.len()];
        let off = epoch * 101;
        let mut loss_sum = 0.0f32;
        let mut k = 0;
        while k < N_TRAIN {
            let rows = BATCH.min(N_TRAIN - k);
            let batch = x.chunks_exact_mut(64).zip(y.iter_mut()).take(rows);
            for (r, (xr, yr)) in batch.enumerate() {
                let i = train_index((a * (k + r) + off) % N_TRAIN);
                *yr = load(i, xr);
            }
            let (xb, yb) = (
                x.get(..rows * 64).unwrap_or(&[]),
                y.get(..rows).unwrap_or(&[]),
            );
            let (loss, _) = meter.measure(|| net.train_step(xb, Targets::Labels(yb)));
            loss_sum += check(loss, "train_step") * rows as f32;
            k += rows;
        }
        accuracy = test_accuracy(&mut net, &mut x, &mut y);
        defmt::info!(
            "epoch {=usize}: train loss {=f32}, test accuracy {=f32}",
            epoch + 1,
            loss_sum / N_TRAIN as f32,
            accuracy
        );
    }
    defmt::info!(
        "test accuracy {=f32} on {=usize} held-out images (pass: >= {=f32})",
        accuracy,
        N_TEST,
        PASS_ACCURACY
    );
    Report {
        example: "digits",
        passed: accuracy >= PASS_ACCURACY,
        check: "test_accuracy",
        value: accuracy,
        arena_bytes: ARENA_LEN * 4,
        batch: BATCH,
        instructions_per_step: meter.mean(),
        steps: meter.count(),
    }
    .finish()
}

/// Fraction of held-out images classified right, `BATCH` at a time.
fn test_accuracy(
    net: &mut Network<'static, CpuBackend<'static, f32, FastKernels, OPS>>,
    x: &mut [f32; BATCH * 64],
    y: &mut [usize; BATCH],
) -> f32 {
    let mut classes = [0usize; BATCH];
    let mut right = 0;
    let mut k = 0;
    while k < N_TEST {
        let rows = BATCH.min(N_TEST - k);
        for r in 0..rows {
            y[r] = load(test_index(k + r), &mut x[r * 64..(r + 1) * 64]);
        }
        check(
            net.classify(&x[..rows * 64], &mut classes[..rows]),
            "classify",
        );
        right += classes[..rows]
            .iter()
            .zip(&y[..rows])
            .filter(|(c, l)| c == l)
            .count();
        k += rows;
    }
    right as f32 / N_TEST as f32
}
