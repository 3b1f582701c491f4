//! Handwritten digits learned on the device in 16-bit fixed point
//! ([`Q10`]): no floating-point arithmetic in a training step, so on a core
//! without an FPU no soft-float routine is called (`callgraph.sh` checks
//! the M0 build).
//!
//! The micro:bit's `digits` network (64-16-10 ReLU, softmax cross-entropy,
//! ten epochs, the same data, split and order) with batch-1 fused SGD
//! ([`microprop_firmware::digits::SMALL_CFG`]), on every board; exit 0 only
//! if the held-out accuracy is at least 0.95. `digits-f32` runs the same
//! recipe in `f32`.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use microprop::hal::Op;
use microprop::{plan_slot, Element, Q10};
use microprop_firmware::digits::{run_small, SMALL_ARENA_LEN, SMALL_PLAN_OPS};
use microprop_firmware::{take, ConstStaticCell};

/// The budget for this arena on the 16 KiB micro:bit.
const _: () = assert!(SMALL_ARENA_LEN * Q10::BYTES <= 6 * 1024);

/// The arena, in .bss; `main` takes it once.
static ARENA: ConstStaticCell<[Q10; SMALL_ARENA_LEN]> =
    ConstStaticCell::new([Q10::ZERO; SMALL_ARENA_LEN]);

/// The recorded training step ([`microprop::Network::set_plan`]), in .data
/// (an empty `Op<Q10>` is not all zero bytes, so its image is in flash too).
static PLAN: ConstStaticCell<[Op<Q10>; SMALL_PLAN_OPS]> =
    ConstStaticCell::new([plan_slot(); SMALL_PLAN_OPS]);

#[entry]
fn main() -> ! {
    run_small("digits-q", take(&ARENA, "ARENA"), take(&PLAN, "PLAN"))
}
