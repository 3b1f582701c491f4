//! XOR on the device in 16-bit fixed point ([`Q10`]): the `xor` example's
//! network, loss, optimizer and data, with no floating-point arithmetic in
//! a training step.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use microprop::hal::Op;
use microprop::{plan_slot, Element, Network, Q10};
use microprop_cpu::CpuBackend;
use microprop_firmware::xor::{self, ARENA_LEN, CFG, NET, OPS, PLAN_OPS};
use microprop_firmware::{check, hello, take, ConstStaticCell, Meter};

/// The arena, in .bss; `main` takes it once.
static ARENA: ConstStaticCell<[Q10; ARENA_LEN]> = ConstStaticCell::new([Q10::ZERO; ARENA_LEN]);

/// The recorded training step ([`Network::set_plan`]), in .data (an empty
/// `Op<Q10>` is not all zero bytes, so its image is in flash too).
static PLAN: ConstStaticCell<[Op<Q10>; PLAN_OPS]> = ConstStaticCell::new([plan_slot(); PLAN_OPS]);

#[entry]
fn main() -> ! {
    let cp = microprop_firmware::peripherals();
    let mut meter = Meter::new(cp.SYST);
    hello("xor-q", &meter);
    let arena = take(&ARENA, "ARENA");
    let mut net = check(
        Network::new(NET, CpuBackend::with_ops::<OPS>(arena), CFG),
        "Network::new",
    );
    let plan: &mut [Op<Q10>; PLAN_OPS] = take(&PLAN, "PLAN");
    net.set_plan(plan);
    xor::run(&mut net, &mut meter, "xor-q", ARENA_LEN * Q10::BYTES)
}
