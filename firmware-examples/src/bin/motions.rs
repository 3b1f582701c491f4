//! Activity recognition learned on the device with a 1-D CNN (issue 15).
//!
//! BasicMotions (UEA/UCR archive, `data/timeseries`, see `data/SOURCES.md`):
//! a smart watch's 3-axis accelerometer and 3-axis gyroscope at 10 Hz for
//! 10 s, 6 channels × 100 steps, while standing, running, walking or
//! playing badminton; 40 training and 40 test series. `build.rs`
//! standardises each channel with the training split's statistics and
//! puts both splits in flash as f32, channels first (`[N, C, L]`, what
//! PyTorch's `Conv1d` reads).
//!
//! The network trains from scratch on the device (Adam, batch [`BATCH`],
//! [`EPOCHS`] epochs in a stride order that needs no RAM), then classifies
//! the 40 test series; exit 0 only if test accuracy reaches
//! [`PASS_ACCURACY`]. The same model and recipe run on the host in
//! `examples/timeseries.rs`.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use microprop::{Config, Layer, Loss, Network, Optimizer, Spec, Targets};
use microprop_cpu::CpuBackend;
use microprop_firmware::{board, check, hello, take, ConstStaticCell, Meter, Report};

/// Channels and steps of a series.
const C: usize = 6;
const L: usize = 100;
/// Values per series.
const D: usize = C * L;
/// Activities.
const CLASSES: usize = 4;
/// Feature maps of the convolutions.
const F: usize = 8;
/// conv(6→8, k 5, pad 2) relu maxpool 2 → conv(8→8, k 5, pad 2) relu →
/// global average → dense 8→4.
const NET: Spec = Spec::new(&[
    Layer::conv1d(C, F, L, 5, 1, 2),
    Layer::relu(),
    Layer::max_pool1d(F, L, 2, 2),
    Layer::conv1d(F, F, L / 2, 5, 1, 2),
    Layer::relu(),
    Layer::global_avg_pool1d(F, L / 2),
    Layer::dense(F, CLASSES),
]);
const CFG: Config = Config::new(8, Loss::SoftmaxCrossEntropy, Optimizer::adam(0.01)).with_seed(1);
/// Series per training step.
const BATCH: usize = CFG.batch;
const ARENA_LEN: usize = CFG.arena_len(&NET);
/// Passes over the 40 training series.
const EPOCHS: usize = 60;
/// The verdict: issue 15's bound for the host's mean over seeds.
const PASS_ACCURACY: f32 = 0.975;

/// RAM beside the arena: stack (the batch buffer is on it) and statics.
const RAM_RESERVE: usize = 4 * 1024 + BATCH * D * 4;
const _: () = assert!(
    ARENA_LEN * 4 + RAM_RESERVE <= board::RAM_BYTES,
    "the motions CNN's arena does not fit this board's RAM"
);

/// The arena, in .bss; `main` takes it once.
static ARENA: ConstStaticCell<[f32; ARENA_LEN]> = ConstStaticCell::new([0.0; ARENA_LEN]);

/// Standardised series, little-endian f32, `[N, C, L]`; in flash.
static TRAIN_X: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/motions_train_x.bin"));
static TRAIN_Y: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/motions_train_y.bin"));
static TEST_X: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/motions_test_x.bin"));
static TEST_Y: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/motions_test_y.bin"));

const N_TRAIN: usize = TRAIN_Y.len();
const N_TEST: usize = TEST_Y.len();
const _: () = assert!(TRAIN_X.len() == N_TRAIN * D * 4 && TEST_X.len() == N_TEST * D * 4);

/// Strides coprime to 40: epoch `e` visits series `(STRIDES[e % 6]·k + 7·e)
/// mod 40`, a shuffle that needs no RAM.
const STRIDES: [usize; 6] = [1, 3, 7, 9, 11, 13];

/// Series `i` of `(x, y)` into `out`; returns its class (`usize::MAX`,
/// which the network refuses with a typed error, past the end).
fn load(x: &[u8], y: &[u8], i: usize, out: &mut [f32]) -> usize {
    let (Some(bytes), Some(&label)) = (x.get(i * D * 4..(i + 1) * D * 4), y.get(i)) else {
        return usize::MAX;
    };
    for (o, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
        if let [a, b, c, d] = *b {
            *o = f32::from_le_bytes([a, b, c, d]);
        }
    }
    usize::from(label)
}

type Net = Network<'static, CpuBackend<'static, f32>>;

/// Fraction of the test series classified right, `BATCH` at a time.
fn test_accuracy(net: &mut Net, x: &mut [f32; BATCH * D]) -> f32 {
    let (mut classes, mut labels) = ([0usize; BATCH], [0usize; BATCH]);
    let (mut right, mut k) = (0, 0);
    while k < N_TEST {
        let rows = BATCH.min(N_TEST - k);
        for (r, (xr, yr)) in x
            .chunks_exact_mut(D)
            .zip(labels.iter_mut())
            .take(rows)
            .enumerate()
        {
            *yr = load(TEST_X, TEST_Y, k + r, xr);
        }
        let (xb, cb) = (
            x.get(..rows * D).unwrap_or(&[]),
            classes.get_mut(..rows).unwrap_or(&mut []),
        );
        check(net.classify(xb, cb), "classify");
        right += cb.iter().zip(&labels).filter(|(c, l)| c == l).count();
        k += rows;
    }
    right as f32 / N_TEST as f32
}

#[entry]
fn main() -> ! {
    let cp = microprop_firmware::peripherals();
    let mut meter = Meter::new(cp.SYST);
    hello("motions", &meter);
    defmt::info!(
        "1-D CNN over {=usize} channels x {=usize} steps, {=usize} params; batch {=usize} {}; arena {=usize} B; data {=usize} B in flash; {=usize} train / {=usize} test",
        C,
        L,
        NET.param_count(),
        BATCH,
        CFG.optimizer,
        ARENA_LEN * 4,
        TRAIN_X.len() + TEST_X.len() + N_TRAIN + N_TEST,
        N_TRAIN,
        N_TEST
    );
    let arena = take(&ARENA, "ARENA");
    let mut net = check(
        Network::new(NET, CpuBackend::new(arena), CFG),
        "Network::new",
    );
    let mut x = [0.0f32; BATCH * D];
    let mut y = [0usize; BATCH];
    let mut accuracy = 0.0;
    for epoch in 0..EPOCHS {
        let a = STRIDES[epoch % STRIDES.len()];
        let mut loss_sum = 0.0f32;
        let mut k = 0;
        while k < N_TRAIN {
            let rows = BATCH.min(N_TRAIN - k);
            for (r, (xr, yr)) in x
                .chunks_exact_mut(D)
                .zip(y.iter_mut())
                .take(rows)
                .enumerate()
            {
                *yr = load(TRAIN_X, TRAIN_Y, (a * (k + r) + 7 * epoch) % N_TRAIN, xr);
            }
            let (xb, yb) = (
                x.get(..rows * D).unwrap_or(&[]),
                y.get(..rows).unwrap_or(&[]),
            );
            let (loss, _) = meter.measure(|| net.train_step(xb, Targets::Labels(yb)));
            loss_sum += check(loss, "train_step") * rows as f32;
            k += rows;
        }
        if (epoch + 1) % 10 == 0 || epoch + 1 == EPOCHS {
            accuracy = test_accuracy(&mut net, &mut x);
            defmt::info!(
                "epoch {=usize}: train loss {=f32}, test accuracy {=f32}",
                epoch + 1,
                loss_sum / N_TRAIN as f32,
                accuracy
            );
        }
    }
    defmt::info!(
        "test accuracy {=f32} on {=usize} series (pass: >= {=f32})",
        accuracy,
        N_TEST,
        PASS_ACCURACY
    );
    Report {
        example: "motions",
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
