//! Handwritten digits learned on the device.
//!
//! The UCI digits in flash ([`microprop_firmware::digits`]): the network
//! trains from scratch with softmax cross-entropy for ten epochs, then
//! classifies the held-out images; exit 0 only if test accuracy is at least
//! 0.93. `digits-q` is the same run in 16-bit fixed point.
//!
//! The model is chosen by the board's RAM, and the arena's `const fn` size
//! is checked against it at compile time:
//! - 16 KiB (micro:bit, M0): 64-16-10, batch 1 SGD: 10,672 B arena;
//! - otherwise: 64-32-10, batch 16 Adam: 56,240 B arena.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use microprop::{Config, Layer, Loss, Network, Optimizer, Spec};
use microprop_cpu::CpuBackend;
use microprop_firmware::digits::{self, Run, LABELS, N_TEST, N_TRAIN, PIXELS};
use microprop_firmware::{board, check, hello, take, ConstStaticCell, Meter};

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
    let run = Run {
        example: "digits",
        arena_bytes: ARENA_LEN * 4,
        pass: PASS_ACCURACY,
        plan_slots: 0,
    };
    digits::run(&mut net, &mut meter, &mut x, &mut y, run)
}
