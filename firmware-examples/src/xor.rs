//! The XOR run that the `xor` (f32) and `xor-q` (16-bit fixed point)
//! examples share: the four points as one batch, trained until the loss is
//! below 0.01 (at most [`MAX_STEPS`] steps); it passes only if it gets there
//! and every prediction is on the right side of 0.5.

use microprop::{Backend, Config, Element, Layer, Loss, Network, Optimizer, Spec, Targets};

use crate::{check, Meter, Report};

/// The network: 2-4-1, tanh then sigmoid.
pub const NET: Spec = Spec::new(&[
    Layer::dense(2, 4),
    Layer::tanh(),
    Layer::dense(4, 1),
    Layer::sigmoid(),
]);
/// MSE, momentum, the four points as one batch.
pub const CFG: Config = Config::new(4, Loss::Mse, Optimizer::momentum(0.5, 0.9)).with_seed(1);
/// Elements of the arena.
pub const ARENA_LEN: usize = CFG.arena_len(&NET);
/// The ops this network issues: the backend compiles only their kernels.
pub const OPS: u64 = CFG.ops(&NET).bits();

/// Slots of the step's plan ([`Network::set_plan`]): the 13 ops from
/// zeroing the gradients to the end of backward ([`run`] fails when the
/// step needs more).
pub const PLAN_OPS: usize = 13;

/// Steps before giving up.
pub const MAX_STEPS: u32 = 5000;
/// The loss it must get below.
pub const TARGET_LOSS: f32 = 0.01;

/// Train `net` (2 inputs, 1 output, batch 4) on XOR and end with the
/// [`Report`] for `example`.
pub fn run<B: Backend<Error: defmt::Format>>(
    net: &mut Network<'_, B>,
    meter: &mut Meter,
    example: &str,
    arena_bytes: usize,
) -> ! {
    let e = |v: u8| B::Elem::from_usize(usize::from(v));
    let x = [0, 0, 0, 1, 1, 0, 1, 1].map(e);
    let y = [0, 1, 1, 0].map(e);
    let mut loss = f32::INFINITY;
    let mut steps = 0;
    while steps < MAX_STEPS && loss >= TARGET_LOSS {
        let (r, _) = meter.measure(|| net.train_step(&x, Targets::Values(&y)));
        loss = check(r, "train_step").to_f32();
        steps += 1;
        if steps % 100 == 0 {
            defmt::info!("step {=u32}: loss {=f32}", steps, loss);
        }
    }
    defmt::info!("stopped after {=u32} steps at loss {=f32}", steps, loss);
    let planned = crate::planned(net, PLAN_OPS);

    let mut p = [B::Elem::ZERO; 4];
    check(net.predict(&x, &mut p), "predict");
    let mut right = true;
    let half = B::Elem::ONE.div_usize(2);
    for i in 0..4 {
        let ok = (p[i] > half) == (y[i] > half);
        right &= ok;
        defmt::info!(
            "xor({=f32}, {=f32}) = {=f32} (want {=f32}) {=str}",
            x[2 * i].to_f32(),
            x[2 * i + 1].to_f32(),
            p[i].to_f32(),
            y[i].to_f32(),
            if ok { "ok" } else { "WRONG" }
        );
    }
    Report {
        example,
        passed: loss < TARGET_LOSS && right && planned,
        check: "loss",
        value: loss,
        arena_bytes,
        batch: 4,
        instructions_per_step: meter.mean(),
        steps: meter.count(),
    }
    .finish()
}
