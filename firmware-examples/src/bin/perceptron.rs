//! The perceptron rule on a linearly separable set, checked against
//! Novikoff's bound: on data with radius R (largest ‖x‖, bias input
//! included) separated with margin γ by some unit vector, the classic rule
//! makes at most (R/γ)² mistakes.
//!
//! The firmware draws 64 points in [-1, 1]², labels them by a known line
//! w* = (1, -2; bias 0.3), and keeps only points at least 0.1 from it, so
//! the set is separable with a known margin. It trains the classic
//! perceptron to convergence and prints the mistakes and the bound. Exit 0
//! only if it converges with zero training errors, mistakes ≤ (R/γ)², and
//! the trained weights classify every point right.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use microprop::{perceptron_arena_len, Perceptron, Variant};
use microprop_cpu::CpuBackend;
use microprop_firmware::{check, hello, take, ConstStaticCell, Meter, Report};

const ROWS: usize = 64;
const FEATURES: usize = 2;
const ARENA_LEN: usize = perceptron_arena_len(ROWS, FEATURES);
/// The perceptron's ops: the backend compiles only their kernels.
const OPS: u64 = microprop::perceptron::OPS.bits();
const MAX_EPOCHS: usize = 1000;
/// The separating line: w*·x + b* = 0.
const W_STAR: [f32; 3] = [1.0, -2.0, 0.3];
/// Points closer than this to the line (in x units) are redrawn.
const MIN_DISTANCE: f32 = 0.1;

/// The arena, in .bss; `main` takes it once.
static ARENA: ConstStaticCell<[f32; ARENA_LEN]> = ConstStaticCell::new([0.0; ARENA_LEN]);

/// xorshift32, uniform in [-1, 1).
fn uniform(state: &mut u32) -> f32 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    (x >> 8) as f32 * (2.0 / 16_777_216.0) - 1.0
}

#[entry]
fn main() -> ! {
    let cp = microprop_firmware::peripherals();
    let mut meter = Meter::new(cp.SYST);
    hello("perceptron", &meter);

    // A separable set with a known margin.
    let mut x = [0.0f32; ROWS * FEATURES];
    let mut y = [0.0f32; ROWS];
    let norm_w = libm::sqrtf(W_STAR[0] * W_STAR[0] + W_STAR[1] * W_STAR[1]);
    let mut rng = 0x1234_5678u32;
    for i in 0..ROWS {
        loop {
            let (a, b) = (uniform(&mut rng), uniform(&mut rng));
            let s = W_STAR[0] * a + W_STAR[1] * b + W_STAR[2];
            if libm::fabsf(s) / norm_w >= MIN_DISTANCE {
                x[2 * i] = a;
                x[2 * i + 1] = b;
                y[i] = if s > 0.0 { 1.0 } else { -1.0 };
                break;
            }
        }
    }
    // Novikoff's bound on the augmented vectors (x, 1), for the unit
    // separator w*/‖w*‖ (bias included in the norm).
    let norm_w_aug = libm::sqrtf(W_STAR.iter().map(|w| w * w).sum());
    let mut r2 = 0.0f32;
    let mut gamma = f32::INFINITY;
    for i in 0..ROWS {
        let (a, b) = (x[2 * i], x[2 * i + 1]);
        r2 = r2.max(a * a + b * b + 1.0);
        gamma = gamma.min(y[i] * (W_STAR[0] * a + W_STAR[1] * b + W_STAR[2]) / norm_w_aug);
    }
    let bound = r2 / (gamma * gamma);
    defmt::info!(
        "{=usize} points, R = {=f32}, margin of w* = {=f32}, Novikoff bound (R/γ)² = {=f32}",
        ROWS,
        libm::sqrtf(r2),
        gamma,
        bound
    );

    let arena = take(&ARENA, "ARENA");
    let mut p = check(
        Perceptron::new(CpuBackend::with_ops::<OPS>(arena), ROWS, FEATURES),
        "Perceptron::new",
    );
    check(p.load(&x, &y), "load");
    let (report, instructions) = meter.measure(|| p.train(Variant::Classic, MAX_EPOCHS));
    let report = check(report, "train");
    let mut w = [0.0f32; FEATURES + 1];
    check(p.weights(&mut w), "weights");
    defmt::info!(
        "{} ; weights {=f32} {=f32} bias {=f32}",
        report,
        w[0],
        w[1],
        w[2]
    );
    let mut all_right = true;
    for i in 0..ROWS {
        let label = check(p.predict(&x[2 * i..2 * i + 2]), "predict");
        all_right &= f32::from(label) == y[i];
    }
    defmt::info!(
        "mistakes {=usize} <= bound {=f32}: {=bool}; every point right: {=bool}",
        report.updates,
        bound,
        report.updates as f32 <= bound,
        all_right
    );
    Report {
        example: "perceptron",
        passed: report.converged
            && report.training_errors == 0
            && report.updates as f32 <= bound
            && all_right,
        check: "mistakes",
        value: report.updates as f32,
        arena_bytes: ARENA_LEN * 4,
        batch: ROWS,
        // One "step" of the perceptron is one epoch over the set.
        instructions_per_step: instructions / report.epochs.max(1) as u64,
        steps: report.epochs as u64,
    }
    .finish()
}
