//! XOR on the device: a 2-4-1 network (tanh, sigmoid) trained with MSE and
//! momentum on the four points as one batch, until the loss is below 0.01
//! ([`microprop_firmware::xor`]). `xor-q` is the same in fixed point.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use microprop::{Config, Layer, Loss, Network, Optimizer, Spec};
use microprop_cpu::CpuBackend;
use microprop_firmware::{check, hello, take, xor, ConstStaticCell, Meter};

const NET: Spec = Spec::new(&[
    Layer::dense(2, 4),
    Layer::tanh(),
    Layer::dense(4, 1),
    Layer::sigmoid(),
]);
const CFG: Config = Config::new(4, Loss::Mse, Optimizer::momentum(0.5, 0.9)).with_seed(1);
const ARENA_LEN: usize = CFG.arena_len(&NET);
/// The ops this network issues: the backend compiles only their kernels.
const OPS: u64 = CFG.ops(&NET).bits();

/// The arena, in .bss; `main` takes it once.
static ARENA: ConstStaticCell<[f32; ARENA_LEN]> = ConstStaticCell::new([0.0; ARENA_LEN]);

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
    xor::run(&mut net, &mut meter, "xor", ARENA_LEN * 4)
}
