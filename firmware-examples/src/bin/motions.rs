//! Activity recognition learned on the device with a 1-D CNN (issue 15).
//!
//! BasicMotions (UEA/UCR archive, `data/timeseries`, see `data/SOURCES.md`):
//! a smart watch's 3-axis accelerometer and 3-axis gyroscope at 10 Hz for
//! 10 s, 6 channels × 100 steps, while standing, running, walking or
//! playing badminton; 40 training and 40 test series. `build.rs`
//! standardises each channel with the training split's statistics and
//! puts both splits in flash as `i8` sixteenths (48 KB), channels first
//! (`[N, C, L]`, what PyTorch's `Conv1d` reads).
//!
//! Two programs, by the board's RAM:
//!
//! - **M4F and M33** (more RAM): the CNN of `examples/timeseries.rs`,
//!   `conv1d(6→8, k 4, stride 4) relu conv1d(8→8, k 3, pad 1) relu, global
//!   average, dense 8→4` (436 parameters), trains **from scratch** on the
//!   device: Adam (lr 0.005), batch [`BATCH`], [`EPOCHS`] epochs in a
//!   stride order that needs no RAM.
//! - **micro:bit** (M0, 16 KiB of RAM): a smaller CNN pretrained on the host
//!   (`cargo run --release --example pretrain -- --motions`, the committed
//!   `models/motions-m0-pretrained.mpb`) is **fine-tuned with its
//!   convolutions frozen** (`Spec::with_training`: no gradient, no kept
//!   activation and no backward for them): its dense head restarts from
//!   zero and learns, batch 1 SGD, on the pretrained features.
//!
//! Both then classify the 40 test series; exit 0 only if test accuracy
//! reaches [`PASS_ACCURACY`].
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use microprop::{Config, Layer, Loss, Network, Optimizer, Spec, Targets, Train};
use microprop_cpu::{CpuBackend, FastKernels};
use microprop_firmware::{board, check, hello, take, Aligned, ConstStaticCell, Meter, Report};

/// Channels and steps of a series.
const C: usize = 6;
const L: usize = 100;
/// Values per series.
const D: usize = C * L;
/// Activities.
const CLASSES: usize = 4;
/// A board with this little RAM fine-tunes the small pretrained CNN.
const SMALL: bool = board::RAM_BYTES <= 32 * 1024;

/// The host example's CNN (trained from scratch on the big boards).
const SCRATCH_LAYERS: [Layer; 6] = [
    Layer::conv1d(C, 8, L, 4, 4, 0),
    Layer::relu(),
    Layer::conv1d(8, 8, L / 4, 3, 1, 1),
    Layer::relu(),
    Layer::global_avg_pool1d(8, L / 4),
    Layer::dense(8, CLASSES),
];
/// The micro:bit's CNN (`examples/pretrain.rs --motions` trains it):
/// conv(6→4, k 3, stride 2, pad 1) relu maxpool 2 conv(4→4, k 3, pad 1)
/// relu, global average, dense 4→4: 148 parameters.
const SMALL_LAYERS: [Layer; 7] = [
    Layer::conv1d(C, 4, L, 3, 2, 1),
    Layer::relu(),
    Layer::max_pool1d(4, L / 2, 2, 2),
    Layer::conv1d(4, 4, L / 4, 3, 1, 1),
    Layer::relu(),
    Layer::global_avg_pool1d(4, L / 4),
    Layer::dense(4, CLASSES),
];
/// Parameters of the micro:bit's CNN.
const SMALL_PARAMS: usize = Spec::new(&SMALL_LAYERS).param_count();
/// Everything frozen but the dense head.
const HEAD_ONLY: [Train; 7] = {
    use Train::{Frozen as F, Full};
    [F, F, F, F, F, F, Full]
};
const NET: Spec = if SMALL {
    Spec::new(&SMALL_LAYERS).with_training(&HEAD_ONLY)
} else {
    Spec::new(&SCRATCH_LAYERS)
};
const CFG: Config = if SMALL {
    Config::new(1, Loss::SoftmaxCrossEntropy, Optimizer::sgd(0.1))
} else {
    Config::new(8, Loss::SoftmaxCrossEntropy, Optimizer::adam(0.005)).with_seed(1)
};
/// Series per training step.
const BATCH: usize = CFG.batch;
const ARENA_LEN: usize = CFG.arena_len(&NET);
/// The ops this network issues: the backend compiles only their kernels.
const OPS: u64 = CFG.ops(&NET).bits();
/// Passes over the 40 training series.
const EPOCHS: usize = if SMALL { 30 } else { 60 };
/// The verdict. From scratch: 0.95 (38 of 40); this is one run (seed 1),
/// where the host example's seeds 1..=5 give 0.975..1.000, mean 0.995
/// (issue 15's bound, 0.975, is for that mean). The head on frozen
/// pretrained features: 0.9.
const PASS_ACCURACY: f32 = if SMALL { 0.9 } else { 0.95 };
/// Parameters of the dense head (its weights and biases come last).
const HEAD: usize = CLASSES * 4 + CLASSES;

/// The micro:bit's pretrained CNN, 4-byte aligned in flash.
static PRETRAINED: &Aligned<[u8]> =
    &Aligned(*include_bytes!("../../models/motions-m0-pretrained.mpb"));

/// RAM beside the arena: stack (peak 6.2 KiB on the micro:bit, the batch
/// buffer included) and statics.
const RAM_RESERVE: usize = 4 * 1024 + BATCH * D * 4;
const _: () = assert!(
    ARENA_LEN * 4 + RAM_RESERVE <= board::RAM_BYTES,
    "the motions CNN's arena does not fit this board's RAM"
);

/// The arena, in .bss; `main` takes it once.
static ARENA: ConstStaticCell<[f32; ARENA_LEN]> = ConstStaticCell::new([0.0; ARENA_LEN]);

/// Standardised series, `i8` sixteenths, `[N, C, L]`; in flash.
static TRAIN_X: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/motions_train_x.bin"));
static TRAIN_Y: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/motions_train_y.bin"));
static TEST_X: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/motions_test_x.bin"));
static TEST_Y: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/motions_test_y.bin"));

const N_TRAIN: usize = TRAIN_Y.len();
const N_TEST: usize = TEST_Y.len();
const _: () = assert!(TRAIN_X.len() == N_TRAIN * D && TEST_X.len() == N_TEST * D);

/// Strides coprime to 40: epoch `e` visits series `(STRIDES[e % 6]·k + 7·e)
/// mod 40`, a shuffle that needs no RAM.
const STRIDES: [usize; 6] = [1, 3, 7, 9, 11, 13];

/// Series `i` of `(x, y)` into `out` (`i8` sixteenths back to f32, as
/// `microprop_data::TimeSeries::dequantized`); returns its class
/// (`usize::MAX`, which the network refuses with a typed error, past the
/// end).
fn load(x: &[u8], y: &[u8], i: usize, out: &mut [f32]) -> usize {
    let (Some(bytes), Some(&label)) = (x.get(i * D..(i + 1) * D), y.get(i)) else {
        return usize::MAX;
    };
    for (o, &q) in out.iter_mut().zip(bytes) {
        *o = f32::from(q as i8) * (1.0 / 16.0);
    }
    usize::from(label)
}

type Net = Network<'static, CpuBackend<'static, f32, FastKernels, OPS>>;

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
        "1-D CNN over {=usize} channels x {=usize} steps, {=usize} params ({=str}); batch {=usize} {}; arena {=usize} B; data {=usize} B in flash; {=usize} train / {=usize} test",
        C,
        L,
        NET.param_count(),
        if SMALL {
            "pretrained, convolutions frozen"
        } else {
            "from scratch"
        },
        BATCH,
        CFG.optimizer,
        ARENA_LEN * 4,
        TRAIN_X.len() + TEST_X.len() + N_TRAIN + N_TEST,
        N_TRAIN,
        N_TEST
    );
    let mut x = [0.0f32; BATCH * D];
    let arena = take(&ARENA, "ARENA");
    let mut net = check(
        Network::new(NET, CpuBackend::with_ops::<OPS>(arena), CFG),
        "Network::new",
    );
    if SMALL {
        // The pretrained features, and a head that starts from zero.
        check(net.load_blob(&PRETRAINED.0), "load_blob");
        let before = test_accuracy(&mut net, &mut x);
        let mut p = [0.0f32; SMALL_PARAMS];
        check(net.parameters(&mut p), "parameters");
        if let Some(head) = p.get_mut(SMALL_PARAMS - HEAD..) {
            head.fill(0.0);
        }
        check(net.load_parameters(&p), "load_parameters");
        defmt::info!(
            "pretrained CNN loaded: test accuracy {=f32} with its own head; head reset to zero, convolutions frozen ({=usize} of {=usize} parameters trained)",
            before,
            NET.trained_count(),
            NET.param_count()
        );
    }
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
