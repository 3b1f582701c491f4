//! Power-safe, resumable checkpoints on the device: train, save the model
//! and its optimizer state into flash through `microprop::checkpoint` (two
//! A/B slots, sequence numbers, CRCs), restore it into a fresh network, and
//! check the restored network computes bit-identical outputs and trains on
//! bit for bit as the original does.
//!
//! 1. Train a 2-8-1 network (tanh, sigmoid, momentum) on XOR for
//!    [`STEPS`] steps and save (sequence 1, slot A); train [`STEPS`] more
//!    and save again (sequence 2, slot B). Each save carries the momentum
//!    velocity and the learning rate, and a tag: the steps trained.
//! 2. A second network with other initial weights restores: it must get
//!    sequence 2 from slot B with its state and tag, the same parameters,
//!    predictions, momentum velocity and learning rate bit for bit:
//!    everything the next training step reads, so it would train on as
//!    the original does (the resume of a device that lost power).
//! 3. A flipped bit in slot B's blob (as a cut mid-erase or bit rot would
//!    leave it): the restore must fall back to sequence 1 from slot A, and
//!    its predictions must be those logged at the first save, bit for bit.
//! 4. A third save goes into the damaged slot B with sequence 3.
//!
//! The flash is a `static` buffer with NOR semantics
//! ([`microprop_firmware::flash::RamFlash`]: erase to `0xFF`, writes only
//! clear bits, 4-byte words, 1 KiB pages) because QEMU's boards offer no
//! programmable flash controller; on hardware the same calls take the HAL's
//! `NorFlash`. Instructions per save and per restore are measured with
//! SysTick. Exit 0 only if every check holds.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use microprop::checkpoint::{self, Checkpoints, Restored, Slot};
use microprop::hal::Op;
use microprop::{plan_slot, Config, Layer, Loss, Network, Optimizer, Spec, Targets};
use microprop_cpu::{CpuBackend, FastKernels};
use microprop_firmware::flash::{RamFlash, ERASE_SIZE};
use microprop_firmware::{check, exit, hello, planned, take, ConstStaticCell, Meter, Report};

const NET: Spec = Spec::new(&[
    Layer::dense(2, 8),
    Layer::tanh(),
    Layer::dense(8, 1),
    Layer::sigmoid(),
]);
const P: usize = NET.param_count();
const CFG: Config = Config::new(4, Loss::Mse, Optimizer::momentum(0.5, 0.9)).with_seed(3);
const ARENA_LEN: usize = CFG.arena_len(&NET);
/// The ops this network issues: the backend compiles only their kernels.
const OPS: u64 = CFG.ops(&NET).bits();
/// Training steps before each save.
const STEPS: u32 = 300;
/// One slot: slot header + blob + momentum state, rounded up to the 1 KiB
/// erase page.
const SLOT: usize = checkpoint::slot_len_for::<RamFlash<'static>>(&NET, CFG.optimizer.kind());
/// Two slots after one page that stands for the firmware's own flash.
const REGION: usize = ERASE_SIZE;
const FLASH_LEN: usize = REGION + 2 * SLOT;

/// The trained network's arena (.bss); `main` takes it once.
static ARENA: ConstStaticCell<[f32; ARENA_LEN]> = ConstStaticCell::new([0.0; ARENA_LEN]);
/// The restoring network's arena (.bss); `main` takes it once.
static ARENA2: ConstStaticCell<[f32; ARENA_LEN]> = ConstStaticCell::new([0.0; ARENA_LEN]);
/// Slots of the first network's recorded step: 13 ops from zeroing the
/// gradients to the end of backward.
const PLAN_OPS: usize = 13;
/// The first network's recorded step (.bss); `main` takes it once.
static PLAN: ConstStaticCell<[Op<f32>; PLAN_OPS]> = ConstStaticCell::new([plan_slot(); PLAN_OPS]);
/// The simulated NOR flash, erased (.data); `main` takes it once.
static FLASH: ConstStaticCell<[u8; FLASH_LEN]> = ConstStaticCell::new([0xFF; FLASH_LEN]);

const X: [f32; 8] = [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];
const Y: [f32; 4] = [0.0, 1.0, 1.0, 0.0];

fn bits<const N: usize>(v: &[f32; N]) -> [u32; N] {
    v.map(f32::to_bits)
}

/// The momentum velocity (the optimizer state span), in bits.
fn state_bits(net: &Network<'_, CpuBackend<'_, f32, FastKernels, OPS>>) -> [u32; P] {
    let s = net.layout().state;
    let mut out = [0u32; P];
    let arena = net.backend().arena();
    for (o, v) in out
        .iter_mut()
        .zip(arena.get(s.offset..s.end()).unwrap_or(&[]))
    {
        *o = v.to_bits();
    }
    out
}

#[entry]
fn main() -> ! {
    let cp = microprop_firmware::peripherals();
    let mut meter = Meter::new(cp.SYST);
    hello("checkpoint", &meter);
    let arena = take(&ARENA, "ARENA");
    let arena2 = take(&ARENA2, "ARENA2");
    let flash = take(&FLASH, "FLASH");
    let mut net = check(
        Network::new(NET, CpuBackend::with_ops::<OPS>(arena), CFG),
        "Network::new",
    );
    // The first network issues its recorded step ([`Network::set_plan`]),
    // the restored one lowers every step: they must still train alike.
    let plan: &mut [Op<f32>; PLAN_OPS] = take(&PLAN, "PLAN");
    net.set_plan(plan);
    let Ok(mut ckpt) = Checkpoints::new(RamFlash::new(flash), REGION as u32, SLOT as u32) else {
        defmt::error!("Checkpoints::new: region does not fit the flash");
        exit(false)
    };
    defmt::info!(
        "{=usize} parameters, blob {=usize} B, slot {=usize} B, flash region {=usize} B at {=usize}",
        P,
        microprop::blob::blob_len(P),
        SLOT,
        2 * SLOT,
        REGION
    );

    let mut loss = 0.0;
    let mut save_instr = [0u64; 3];
    // Training steps only (the meter also counts the saves and restores).
    let (mut train_instr, mut train_steps) = (0u64, 0u64);
    let mut train = |net: &mut Network<'_, CpuBackend<'_, f32, FastKernels, OPS>>,
                     meter: &mut Meter| {
        for _ in 0..STEPS {
            let (r, n) = meter.measure(|| net.train_step(&X, Targets::Values(&Y)));
            loss = check(r, "train_step");
            train_instr += n;
            train_steps += 1;
        }
        defmt::info!("trained to loss {=f32}", loss);
    };
    let mut ok = true;
    let mut expect = |what: &str, cond: bool| {
        if !cond {
            defmt::error!("check failed: {=str}", what);
        }
        ok &= cond;
    };

    // 1. Two saves.
    train(&mut net, &mut meter);
    let mut first = [0.0f32; 4];
    check(net.predict(&X, &mut first), "predict");
    let (r, n) = meter.measure(|| ckpt.save_tagged(&mut net, u64::from(STEPS)));
    let saved = check(r, "save 1");
    save_instr[0] = n;
    defmt::info!("save 1: {} in {=u64} instructions", saved, n);
    expect(
        "save 1 is seq 1 in slot A",
        saved
            == Restored {
                seq: 1,
                slot: Slot::A,
                state: true,
                tag: u64::from(STEPS),
            },
    );

    train(&mut net, &mut meter);
    let mut params = [0.0f32; P];
    check(net.parameters(&mut params), "parameters");
    let mut second = [0.0f32; 4];
    check(net.predict(&X, &mut second), "predict");
    let (r, n) = meter.measure(|| ckpt.save_tagged(&mut net, u64::from(2 * STEPS)));
    let saved = check(r, "save 2");
    save_instr[1] = n;
    defmt::info!("save 2: {} in {=u64} instructions", saved, n);
    expect(
        "save 2 is seq 2 in slot B",
        saved
            == Restored {
                seq: 2,
                slot: Slot::B,
                state: true,
                tag: u64::from(2 * STEPS),
            },
    );

    // 2. Restore into a fresh network (other initial weights).
    let mut fresh = check(
        Network::new(NET, CpuBackend::with_ops::<OPS>(arena2), CFG.with_seed(99)),
        "Network::new (fresh)",
    );
    let mut p2 = [0.0f32; P];
    check(fresh.parameters(&mut p2), "parameters");
    expect("fresh weights differ", bits(&p2) != bits(&params));
    let (r, restore_instr) = meter.measure(|| ckpt.restore(&mut fresh));
    let restored = check(r, "restore");
    defmt::info!(
        "restore: {} in {=u64} instructions",
        restored,
        restore_instr
    );
    expect("restore gives seq 2 from slot B", restored == saved);
    check(fresh.parameters(&mut p2), "parameters");
    expect("parameters bit-identical", bits(&p2) == bits(&params));
    let mut out = [0.0f32; 4];
    check(fresh.predict(&X, &mut out), "predict");
    defmt::info!("outputs after restore {} (saved {})", out, second);
    expect("outputs bit-identical", bits(&out) == bits(&second));
    // Everything the next step reads besides the parameters is restored
    // too: the momentum velocity (bit for bit) and the learning rate, so
    // the restored network trains on exactly as the saved one would.
    expect(
        "momentum state bit-identical",
        state_bits(&net) == state_bits(&fresh) && net.lr() == fresh.lr(),
    );

    // 3. Damage the newest slot: the previous checkpoint is restored.
    let b_blob = REGION + SLOT + 16 + 40;
    if let Some(byte) = ckpt.flash_mut().bytes_mut().get_mut(b_blob) {
        *byte ^= 0x04;
    }
    let states = ckpt.inspect(&NET);
    defmt::info!("after a flipped bit in slot B: {}", states.map_err(|_| ()));
    let restored = check(ckpt.restore(&mut fresh), "restore after damage");
    expect(
        "falls back to seq 1 in slot A",
        restored
            == Restored {
                seq: 1,
                slot: Slot::A,
                state: true,
                tag: u64::from(STEPS),
            },
    );
    check(fresh.predict(&X, &mut out), "predict");
    defmt::info!("outputs after fallback {} (first save {})", out, first);
    expect(
        "fallback outputs bit-identical to save 1",
        bits(&out) == bits(&first),
    );

    // 4. The next save repairs slot B with sequence 3.
    let (r, n) = meter.measure(|| ckpt.save_tagged(&mut net, u64::from(2 * STEPS)));
    let saved = check(r, "save 3");
    save_instr[2] = n;
    expect(
        "save 3 is seq 3 in slot B",
        saved
            == Restored {
                seq: 3,
                slot: Slot::B,
                state: true,
                tag: u64::from(2 * STEPS),
            },
    );
    let restored = check(ckpt.restore(&mut fresh), "restore 3");
    check(fresh.predict(&X, &mut out), "predict");
    expect(
        "seq 3 restored bit-identically",
        restored == saved && bits(&out) == bits(&second),
    );

    defmt::info!(
        "CHECKPOINT params={=usize} slot_bytes={=usize} save_instr={=u64} restore_instr={=u64}",
        P,
        SLOT,
        save_instr[1],
        restore_instr
    );
    Report {
        example: "checkpoint",
        passed: ok && loss < 0.05 && planned(&net, PLAN_OPS),
        check: "loss",
        value: loss,
        arena_bytes: 2 * ARENA_LEN * 4,
        batch: CFG.batch,
        instructions_per_step: train_instr.checked_div(train_steps).unwrap_or(0),
        steps: train_steps,
    }
    .finish()
}
