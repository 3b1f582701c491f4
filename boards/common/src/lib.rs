//! What every board example runs: the UCI digits (in the chip's flash)
//! learned on the device from scratch, checkpointed into the chip's own
//! flash after every epoch through its HAL's
//! [`NorFlash`](embedded_storage::nor_flash::NorFlash), and resumed from
//! the newest checkpoint at boot, so a board that loses power mid-training
//! carries on from its last epoch (and one that finished only evaluates).
//!
//! Logging is `defmt` over RTT (`microprop-runtime`'s `rtt` feature); the
//! run ends with a breakpoint when the held-out accuracy reaches
//! [`PASS`], else with a fault (`probe-rs run` reports either).
#![no_std]

use embedded_storage::nor_flash::NorFlash;
use microprop::checkpoint::Checkpoints;
use microprop::{Config, Layer, Loss, Network, Optimizer, Spec, Targets};
use microprop_cpu::{CpuBackend, Float};
use microprop_digits::{load, test_index, visit, N_TEST, N_TRAIN};
use microprop_runtime::{check, exit, Memory, Meter};

/// The network: 64-16-10 ReLU.
pub const NET: Spec = Spec::new(&[Layer::dense(64, 16), Layer::relu(), Layer::dense(16, 10)]);
/// Batch-1 SGD with momentum (its velocity is checkpointed too).
pub const CFG: Config =
    Config::new(1, Loss::SoftmaxCrossEntropy, Optimizer::momentum(0.01, 0.9)).with_seed(1);
/// Elements of the arena.
pub const ARENA_LEN: usize = CFG.arena_len(&NET);
/// The ops the network issues: the backend compiles only their kernels.
pub const OPS: u64 = CFG.ops(&NET).bits();
/// Epochs.
pub const EPOCHS: u64 = 8;
/// Held-out accuracy to pass.
pub const PASS: f32 = 0.93;

/// Where the checkpoints live: `region` bytes from the flash driver's
/// origin, two slots of `slot` bytes (both multiples of its erase size).
pub struct Region {
    /// Offset of the checkpoint region in the driver's address space.
    pub offset: u32,
    /// Bytes per slot.
    pub slot: u32,
}

/// Train (or resume), checkpoint each epoch, evaluate, end with the
/// verdict. `E` is the element type: `f32` on a core with an FPU, `Q10`
/// (16-bit fixed point) on one without.
pub fn run<E: Float, F: NorFlash>(
    board: &str,
    arena: &mut [E],
    flash: F,
    region: Region,
    meter: &mut Meter,
) -> ! {
    defmt::info!(
        "{=str}: digits 64-16-10 in {=str}, batch-1 {}, arena {=usize} B; checkpoints at flash offset {=u32:#x}, 2 slots of {=u32} B (erase {=usize} B)",
        board,
        E::NAME,
        CFG.optimizer,
        arena.len() * E::BYTES,
        region.offset,
        region.slot,
        F::ERASE_SIZE
    );
    let backend = CpuBackend::with_ops::<OPS>(arena);
    let mut net = check(Network::new(NET, backend, CFG), "Network::new");
    let mut ckpt = flash_ok(
        Checkpoints::new(flash, region.offset, region.slot),
        "Checkpoints::new",
    );
    // The tag is the number of epochs the checkpoint holds.
    let mut epoch = match ckpt.restore(&mut net) {
        Ok(r) => {
            defmt::info!(
                "resumed from checkpoint {=u32} after epoch {=u64}",
                r.seq,
                r.tag
            );
            r.tag
        }
        Err(e) => {
            let e = defmt::Debug2Format(&e);
            defmt::info!("no checkpoint to resume ({}): training from scratch", e);
            0
        }
    };
    let mut x = [E::ZERO; 64];
    while epoch < EPOCHS {
        let mut loss_sum = 0.0f32;
        for k in 0..N_TRAIN {
            let y = load(visit(epoch as usize, k), &mut x);
            let (loss, _) = meter.measure(|| net.train_step(&x, Targets::Labels(&[y])));
            loss_sum += check(loss, "train_step").to_f32();
        }
        epoch += 1;
        let saved = flash_ok(ckpt.save_tagged(&mut net, epoch), "checkpoint save");
        defmt::info!(
            "epoch {=u64}: train loss {=f32}; checkpoint {=u32} in slot {}",
            epoch,
            loss_sum / N_TRAIN as f32,
            saved.seq,
            saved.slot
        );
    }
    let mut right = 0;
    let mut class = [0usize; 1];
    for j in 0..N_TEST {
        let y = load(test_index(j), &mut x);
        check(net.classify(&x, &mut class), "classify");
        right += usize::from(class[0] == y);
    }
    let accuracy = right as f32 / N_TEST as f32;
    let m = Memory::measure();
    defmt::info!(
        "BOARD {=str} elem={=str} test_accuracy={=f32} instr_per_step={=u64} steps={=u64} flash={=u32} static_ram={=u32} stack={=u32} passed={=bool}",
        board,
        E::NAME,
        accuracy,
        meter.mean(),
        meter.count(),
        m.flash,
        m.static_ram,
        m.peak_stack,
        accuracy >= PASS
    );
    exit(accuracy >= PASS)
}

/// [`check`] for results whose error is only `Debug` (a HAL's flash error
/// inside a checkpoint error).
fn flash_ok<T, E: core::fmt::Debug>(r: Result<T, E>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => {
            defmt::error!("{=str} failed: {}", what, defmt::Debug2Format(&e));
            exit(false)
        }
    }
}
