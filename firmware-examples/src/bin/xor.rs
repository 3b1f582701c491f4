//! XOR on the device: a 2-4-1 network (tanh, sigmoid) trained with MSE and
//! momentum on the four points as one batch, until the loss is below 0.01
//! ([`microprop_firmware::xor`]). `xor-q` is the same in fixed point.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use microprop::hal::Op;
use microprop::{plan_slot, Network};
use microprop_cpu::CpuBackend;
use microprop_firmware::xor::{self, ARENA_LEN, CFG, NET, OPS, PLAN_OPS};
use microprop_firmware::{check, hello, take, ConstStaticCell, Meter};

/// The arena, in .bss; `main` takes it once.
static ARENA: ConstStaticCell<[f32; ARENA_LEN]> = ConstStaticCell::new([0.0; ARENA_LEN]);

/// The recorded training step ([`Network::set_plan`]), in .bss.
static PLAN: ConstStaticCell<[Op<f32>; PLAN_OPS]> = ConstStaticCell::new([plan_slot(); PLAN_OPS]);

#[entry]
fn main() -> ! {
    let cp = microprop_firmware::peripherals();
    let mut meter = Meter::new(cp.SYST);
    hello("xor", &meter);
    let arena = take(&ARENA, "ARENA");
    let mut net = check(
        Network::new(NET, CpuBackend::with_ops::<OPS>(arena), CFG),
        "Network::new",
    );
    let plan: &mut [Op<f32>; PLAN_OPS] = take(&PLAN, "PLAN");
    net.set_plan(plan);
    xor::run(&mut net, &mut meter, "xor", ARENA_LEN * 4)
}
