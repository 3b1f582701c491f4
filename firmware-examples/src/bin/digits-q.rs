//! Handwritten digits learned on the device in 16-bit fixed point
//! ([`Q10`]: no floating-point arithmetic in a training step; on a core
//! without an FPU no soft-float routine is called, which `callgraph.sh`
//! checks on the M0 build).
//!
//! The same data, split, visiting order and network as `digits` on the
//! micro:bit (64-16-10 ReLU, batch-1 SGD, softmax cross-entropy, ten
//! epochs), on every board; exit 0 only if the held-out accuracy is at
//! least 0.95 (`f32` on the micro:bit: 0.975).
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use microprop::{Config, Element, Layer, Loss, Network, Optimizer, Spec, Q10};
use microprop_cpu::CpuBackend;
use microprop_firmware::digits::{self, Run};
use microprop_firmware::{check, hello, take, ConstStaticCell, Meter};

const NET: Spec = Spec::new(&[Layer::dense(64, 16), Layer::relu(), Layer::dense(16, 10)]);
const CFG: Config =
    Config::new(1, Loss::SoftmaxCrossEntropy, Optimizer::fused_sgd(0.02)).with_seed(1);
const ARENA_LEN: usize = CFG.arena_len(&NET);
/// The ops this network issues: the backend compiles only their kernels.
const OPS: u64 = CFG.ops(&NET).bits();
const PASS_ACCURACY: f32 = 0.95;
/// The budget for this arena on the 16 KiB micro:bit.
const _: () = assert!(ARENA_LEN * Q10::BYTES <= 6 * 1024);

/// The arena, in .bss; `main` takes it once.
static ARENA: ConstStaticCell<[Q10; ARENA_LEN]> = ConstStaticCell::new([Q10::ZERO; ARENA_LEN]);

#[entry]
fn main() -> ! {
    let cp = microprop_firmware::peripherals();
    let mut meter = Meter::new(cp.SYST);
    hello("digits-q", &meter);
    defmt::info!(
        "model 64-16-10 relu in {=str}, batch 1, {}, {=usize} params; arena {=usize} B",
        Q10::NAME,
        CFG.optimizer,
        NET.param_count(),
        ARENA_LEN * Q10::BYTES
    );
    let arena = take(&ARENA, "ARENA");
    let mut net = check(
        Network::new(NET, CpuBackend::with_ops::<OPS>(arena), CFG),
        "Network::new",
    );
    let mut x = [Q10::ZERO; 64];
    let mut y = [0usize; 1];
    let run = Run {
        example: "digits-q",
        arena_bytes: ARENA_LEN * Q10::BYTES,
        pass: PASS_ACCURACY,
    };
    digits::run(&mut net, &mut meter, &mut x, &mut y, run)
}
