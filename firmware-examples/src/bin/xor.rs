//! XOR on the device: a 2-4-1 network (tanh, sigmoid) trained with MSE and
//! momentum on the four points as one batch, until the loss is below 0.01.
//! Exit 0 only if it gets there and every prediction is on the right side
//! of 0.5.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use microprop::{Config, Layer, Loss, Network, Optimizer, Spec, Targets};
use microprop_cpu::CpuBackend;
use microprop_firmware::{check, hello, take, ConstStaticCell, Meter, Report};

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
const MAX_STEPS: u32 = 5000;

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

    let x = [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];
    let y = [0.0, 1.0, 1.0, 0.0];
    let mut loss = f32::INFINITY;
    let mut steps = 0;
    while steps < MAX_STEPS && loss >= 0.01 {
        let (r, _) = meter.measure(|| net.train_step(&x, Targets::Values(&y)));
        loss = check(r, "train_step");
        steps += 1;
        if steps % 100 == 0 {
            defmt::info!("step {=u32}: loss {=f32}", steps, loss);
        }
    }
    defmt::info!("stopped after {=u32} steps at loss {=f32}", steps, loss);

    let mut p = [0.0f32; 4];
    check(net.predict(&x, &mut p), "predict");
    let mut right = true;
    for i in 0..4 {
        let ok = (p[i] > 0.5) == (y[i] > 0.5);
        right &= ok;
        defmt::info!(
            "xor({=f32}, {=f32}) = {=f32} (want {=f32}) {=str}",
            x[2 * i],
            x[2 * i + 1],
            p[i],
            y[i],
            if ok { "ok" } else { "WRONG" }
        );
    }
    Report {
        example: "xor",
        passed: loss < 0.01 && right,
        check: "loss",
        value: loss,
        arena_bytes: ARENA_LEN * 4,
        batch: CFG.batch,
        instructions_per_step: meter.mean(),
        steps: meter.count(),
    }
    .finish()
}
