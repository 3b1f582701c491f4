//! `digits-q`'s recipe in `f32`: the other side of the fixed-point
//! comparison (same network, data, order, optimizer and seed), on every
//! board.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use microprop::hal::Op;
use microprop::plan_slot;
use microprop_firmware::digits::{run_small, SMALL_ARENA_LEN, SMALL_PLAN_OPS};
use microprop_firmware::{take, ConstStaticCell};

/// The arena, in .bss; `main` takes it once.
static ARENA: ConstStaticCell<[f32; SMALL_ARENA_LEN]> =
    ConstStaticCell::new([0.0; SMALL_ARENA_LEN]);

/// The recorded training step ([`microprop::Network::set_plan`]), in .bss.
static PLAN: ConstStaticCell<[Op<f32>; SMALL_PLAN_OPS]> =
    ConstStaticCell::new([plan_slot(); SMALL_PLAN_OPS]);

#[entry]
fn main() -> ! {
    run_small("digits-f32", take(&ARENA, "ARENA"), take(&PLAN, "PLAN"))
}
