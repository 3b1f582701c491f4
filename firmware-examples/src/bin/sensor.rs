//! Online learning from an accelerometer: still or shaking?
//!
//! The firmware reads an accelerometer through the [`Accel`] driver, which is
//! generic over `embedded-hal` 1.0's `I2c`. Under QEMU the bus is
//! [`SimAccel`], a simulated sensor implementing the same trait; on a board
//! pass the HAL's I2C instead: [`learn`] does not change.
//!
//! Every 16 samples (0.16 s at 100 Hz) become one window; its features (per
//! axis: mean and spread, in g) go through a 6-8-2 network. Each window is
//! first classified (scored) and then trained on with its true label, one SGD
//! step: test-then-train, so every score is on a window the network has
//! never seen. Exit 0 only if the last 100 windows score at least 95 %.
#![no_std]
#![no_main]

use core::cell::Cell;

use cortex_m_rt::entry;
use embedded_hal::i2c::I2c;
use microprop::hal::Op;
use microprop::{plan_slot, Config, Layer, Loss, Network, Optimizer, Spec, Targets};
use microprop_cpu::{CpuBackend, FastKernels};
use microprop_firmware::accel::{self, Accel};
use microprop_firmware::sim::{SimAccel, SHAKING};
use microprop_firmware::{check, hello, planned, take, ConstStaticCell, Meter, Report};

const WINDOW: usize = 16;
const FEATURES: usize = 6;
const NET: Spec = Spec::new(&[Layer::dense(FEATURES, 8), Layer::tanh(), Layer::dense(8, 2)]);
const CFG: Config = Config::new(1, Loss::SoftmaxCrossEntropy, Optimizer::sgd(0.1)).with_seed(3);
const ARENA_LEN: usize = CFG.arena_len(&NET);
/// The ops this network issues: the backend compiles only their kernels.
const OPS: u64 = CFG.ops(&NET).bits();
const WINDOWS: usize = 400;
const SCORED: usize = 100;
const PASS_ACCURACY: f32 = 0.95;

/// The arena, in .bss; `main` takes it once.
static ARENA: ConstStaticCell<[f32; ARENA_LEN]> = ConstStaticCell::new([0.0; ARENA_LEN]);
/// Slots of the recorded step ([`Network::set_plan`]): zeroing the
/// gradients, forward, loss and backward.
const PLAN_OPS: usize = 12;
/// The recorded step, in .bss.
static PLAN: ConstStaticCell<[Op<f32>; PLAN_OPS]> = ConstStaticCell::new([plan_slot(); PLAN_OPS]);

#[entry]
fn main() -> ! {
    let cp = microprop_firmware::peripherals();
    let mut meter = Meter::new(cp.SYST);
    hello("sensor", &meter);

    // The simulated sensor publishes the true motion state here; on a real
    // device a button (or a second sensor) would give the label.
    let truth = Cell::new(0);
    let bus = SimAccel::new(&truth, 0x5EED_0001);
    let mut accel = check(Accel::new(bus, accel::ADDRESS), "accelerometer init");

    let arena = take(&ARENA, "ARENA");
    let mut net = check(
        Network::new(NET, CpuBackend::with_ops::<OPS>(arena), CFG),
        "Network::new",
    );
    let plan: &mut [Op<f32>; PLAN_OPS] = take(&PLAN, "PLAN");
    net.set_plan(plan);

    let score = check(
        learn(&mut accel, &mut net, &mut meter, || truth.get()),
        "learning loop",
    );
    defmt::info!(
        "last {=usize} windows: {=f32} right (pass: >= {=f32})",
        SCORED,
        score,
        PASS_ACCURACY
    );
    Report {
        example: "sensor",
        passed: score >= PASS_ACCURACY && planned(&net, PLAN_OPS),
        check: "online_accuracy",
        value: score,
        arena_bytes: ARENA_LEN * 4,
        batch: CFG.batch,
        instructions_per_step: meter.mean(),
        steps: meter.count(),
    }
    .finish()
}

/// Why the learning loop stopped.
#[derive(defmt::Format)]
enum LearnError<E: embedded_hal::i2c::Error> {
    Sensor(accel::Error<E>),
    Net(microprop::Error<microprop_cpu::CpuError>),
}

/// Test-then-train over [`WINDOWS`] windows; the fraction of the last
/// [`SCORED`] windows classified right. Works with any `I2c` bus.
fn learn<I: I2c>(
    accel: &mut Accel<I>,
    net: &mut Network<'static, CpuBackend<'static, f32, FastKernels, OPS>>,
    meter: &mut Meter,
    mut label: impl FnMut() -> usize,
) -> Result<f32, LearnError<I::Error>> {
    let mut right_recent = 0;
    let mut right_block = 0;
    for w in 0..WINDOWS {
        let x = features(accel).map_err(LearnError::Sensor)?;
        let y = label();
        let mut class = [0usize];
        net.classify(&x, &mut class).map_err(LearnError::Net)?;
        let hit = class[0] == y;
        right_block += usize::from(hit);
        if w >= WINDOWS - SCORED {
            right_recent += usize::from(hit);
        }
        let (r, _) = meter.measure(|| net.train_step(&x, Targets::Labels(&[y])));
        let loss = r.map_err(LearnError::Net)?;
        if (w + 1) % 50 == 0 {
            defmt::info!(
                "windows {=usize}..{=usize}: {=usize}/50 right before training on them; last: {=str}, loss {=f32}",
                w - 49,
                w + 1,
                right_block,
                if y == SHAKING { "shaking" } else { "still" },
                loss
            );
            right_block = 0;
        }
    }
    Ok(right_recent as f32 / SCORED as f32)
}

/// One window's features, in g: per axis the mean, then 4 × the standard
/// deviation (so that both are of order 1).
fn features<I: I2c>(accel: &mut Accel<I>) -> Result<[f32; FEATURES], accel::Error<I::Error>> {
    let mut sum = [0.0f32; 3];
    let mut sum2 = [0.0f32; 3];
    for _ in 0..WINDOW {
        let s = accel.read_mg()?;
        for a in 0..3 {
            let g = f32::from(s[a]) * 1e-3;
            sum[a] += g;
            sum2[a] += g * g;
        }
    }
    let mut f = [0.0f32; FEATURES];
    let n = WINDOW as f32;
    for a in 0..3 {
        let mean = sum[a] / n;
        let var = (sum2[a] / n - mean * mean).max(0.0);
        f[a] = mean;
        f[3 + a] = 4.0 * libm::sqrtf(var);
    }
    Ok(f)
}
