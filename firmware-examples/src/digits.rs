//! The UCI digits in flash and the training run that the `digits`,
//! `digits-q` (16-bit fixed point) and `digits-f32` (the same recipe in
//! `f32`) examples share.
//!
//! The data, split and visiting order are `microprop-digits`' (shared with
//! the board examples in `boards/`): 1797 8×8 images as u8 in flash, every
//! fifth held out (359 test, 1438 train). The network trains from scratch
//! with softmax cross-entropy for [`EPOCHS`] epochs, then classifies the
//! held-out images.

use microprop::hal::Op;
use microprop::{Backend, Config, Element, Layer, Loss, Network, Optimizer, Spec, Targets};
use microprop_cpu::{CpuBackend, Float};

use crate::{check, hello, Meter, Report};

/// The fixed-point comparison's network: the micro:bit's 64-16-10 ReLU.
pub const SMALL_NET: Spec = Spec::new(&[Layer::dense(64, 16), Layer::relu(), Layer::dense(16, 10)]);
/// Its recipe, the same for both element types: batch-1 fused SGD (the
/// update is applied during backward: no gradient buffers), seed 1.
pub const SMALL_CFG: Config =
    Config::new(1, Loss::SoftmaxCrossEntropy, Optimizer::fused_sgd(0.02)).with_seed(1);
/// Elements of its arena.
pub const SMALL_ARENA_LEN: usize = SMALL_CFG.arena_len(&SMALL_NET);
/// Its ops: the backend compiles only their kernels.
pub const SMALL_OPS: u64 = SMALL_CFG.ops(&SMALL_NET).bits();
/// Slots of its plan ([`Network::set_plan`]): the ops of a fused SGD step
/// (forward, loss, backward with the updates in it).
pub const SMALL_PLAN_OPS: usize = 11;
/// The accuracy `digits-q` and `digits-f32` must reach (`f32` with the
/// micro:bit's `digits` recipe: 0.975).
pub const SMALL_PASS: f32 = 0.95;

/// Train [`SMALL_NET`] with [`SMALL_CFG`] in element type `E` over
/// `arena`, and end with the report for `example`.
pub fn run_small<E: Float>(
    example: &str,
    arena: &'static mut [E; SMALL_ARENA_LEN],
    plan: &'static mut [Op<E>; SMALL_PLAN_OPS],
) -> ! {
    let cp = crate::peripherals();
    let mut meter = Meter::new(cp.SYST);
    hello(example, &meter);
    defmt::info!(
        "model 64-16-10 relu in {=str}, batch 1, {}, {=usize} params; arena {=usize} B",
        E::NAME,
        SMALL_CFG.optimizer,
        SMALL_NET.param_count(),
        SMALL_ARENA_LEN * E::BYTES
    );
    let backend = CpuBackend::with_ops::<SMALL_OPS>(&mut arena[..]);
    let mut net = check(Network::new(SMALL_NET, backend, SMALL_CFG), "Network::new");
    net.set_plan(plan);
    let mut x = [E::ZERO; 64];
    let mut y = [0usize; 1];
    let r = Run {
        example,
        arena_bytes: SMALL_ARENA_LEN * E::BYTES,
        pass: SMALL_PASS,
        plan_slots: SMALL_PLAN_OPS,
    };
    run(&mut net, &mut meter, &mut x, &mut y, r)
}

pub use microprop_digits::{
    load, load_shifted, test_index, train_index, visit, LABELS, N, N_TEST, N_TRAIN, PIXELS, STRIDES,
};

/// Training epochs.
pub const EPOCHS: usize = 10;

/// One training step: its own symbol, so that `callgraph.sh` can list what
/// a step may call (the fixed-point firmware must reach no soft-float
/// routine from here).
#[inline(never)]
pub fn measured_step<B: Backend>(
    net: &mut Network<'_, B>,
    x: &[B::Elem],
    y: &[usize],
) -> microprop::Result<B::Elem, B> {
    net.train_step(x, Targets::Labels(y))
}

/// What [`run`] reports.
pub struct Run<'a> {
    /// Example name (`digits`, `digits-q`).
    pub example: &'a str,
    /// Arena bytes.
    pub arena_bytes: usize,
    /// Test accuracy it must reach.
    pub pass: f32,
    /// Slots of the network's plan ([`Network::set_plan`]); 0: none.
    pub plan_slots: usize,
}

/// Train `net` for [`EPOCHS`] epochs in batches of `x.len() / 64` rows,
/// counting each step's instructions, log the test accuracy per epoch, and
/// end with the [`Report`].
pub fn run<B: Backend<Error: defmt::Format>>(
    net: &mut Network<'_, B>,
    meter: &mut Meter,
    x: &mut [B::Elem],
    y: &mut [usize],
    r: Run<'_>,
) -> ! {
    let batch = y.len();
    let mut accuracy = 0.0;
    for epoch in 0..EPOCHS {
        let mut loss_sum = 0.0f32;
        let mut k = 0;
        while k < N_TRAIN {
            let rows = batch.min(N_TRAIN - k);
            let rows_of = x.chunks_exact_mut(64).zip(y.iter_mut()).take(rows);
            for (j, (xr, yr)) in rows_of.enumerate() {
                *yr = load(visit(epoch, k + j), xr);
            }
            let (xb, yb) = (
                x.get(..rows * 64).unwrap_or(&[]),
                y.get(..rows).unwrap_or(&[]),
            );
            let (loss, _) = meter.measure(|| measured_step(net, xb, yb));
            loss_sum += check(loss, "train_step").to_f32() * rows as f32;
            k += rows;
        }
        accuracy = test_accuracy(net, x, y);
        defmt::info!(
            "epoch {=usize}: train loss {=f32}, test accuracy {=f32}",
            epoch + 1,
            loss_sum / N_TRAIN as f32,
            accuracy
        );
    }
    defmt::info!(
        "test accuracy {=f32} on {=usize} held-out images (pass: >= {=f32})",
        accuracy,
        N_TEST,
        r.pass
    );
    let planned = r.plan_slots == 0 || crate::planned(net, r.plan_slots);
    Report {
        example: r.example,
        passed: accuracy >= r.pass && planned,
        check: "test_accuracy",
        value: accuracy,
        arena_bytes: r.arena_bytes,
        batch,
        instructions_per_step: meter.mean(),
        steps: meter.count(),
    }
    .finish()
}

/// Fraction of held-out images classified right, `y.len()` at a time.
fn test_accuracy<B: Backend<Error: defmt::Format>>(
    net: &mut Network<'_, B>,
    x: &mut [B::Elem],
    y: &mut [usize],
) -> f32 {
    let mut classes = [0usize; 16];
    let batch = y.len().min(classes.len());
    let mut right = 0;
    let mut k = 0;
    while k < N_TEST {
        let rows = batch.min(N_TEST - k);
        let rows_of = x.chunks_exact_mut(64).zip(y.iter_mut()).take(rows);
        for (j, (xr, yr)) in rows_of.enumerate() {
            *yr = load(test_index(k + j), xr);
        }
        let (xb, cb) = (
            x.get(..rows * 64).unwrap_or(&[]),
            classes.get_mut(..rows).unwrap_or(&mut []),
        );
        check(net.classify(xb, cb), "classify");
        right += cb.iter().zip(y.iter()).filter(|(c, l)| c == l).count();
        k += rows;
    }
    right as f32 / N_TEST as f32
}
