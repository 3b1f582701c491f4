//! A device in a federated fleet: one round of local training for a Flower
//! client (`fleet/`, the `microprop_fleet` ClientApp for devices).
//!
//! The ClientApp writes `fleet-in.bin` into QEMU's working directory and
//! starts this firmware; it reads the file over semihosting:
//!
//! | bytes | field |
//! |---|---|
//! | 0..4 | `MPFL` |
//! | 4..6 | version, 1 (u16, little-endian like the rest) |
//! | 6..8 | `n`: local training steps (u16) |
//! | 8..12 | learning rate (f32) |
//! | 12..16 | FedProx's proximal μ (f32; 0 for FedAvg) |
//! | 16..16+2n | the digits image of each step, in order (u16 indices into the set in flash) |
//! | rest | the global model: a device blob of [`NET`] |
//!
//! On the M4F and M33 it trains in f32 and the blob is f32; on the M0
//! (micro:bit, no FPU, 16 KiB of RAM) in `Q10` and the blob is the
//! fixed-point one (half the size, the values exactly `Q10`'s). It checks
//! the blob in full (magic, version, spec hash, length, CRC-32) before
//! using it: a corrupt global model is refused with a logged error
//! and exit code 1, and no update is written. Otherwise it trains a
//! partial update, the last layer only (`Train::Frozen` for the first:
//! 330 of 2,410 parameters on the 64-32-10 model, so the arena holds no
//! gradient for the rest), batch-1 SGD over the `n` images, with
//! FedProx's term `μ/2·‖w − w_g‖²` as an L2-SP anchor on the global blob
//! when μ > 0. It writes the whole model as a blob (CRC-32 included) to
//! `fleet-out.bin` and its figures to `fleet-stats.bin` (steps, mean
//! instructions per step, mean loss; u32, u32, f32), and exits 0.
//!
//! The data stay on the device: the ClientApp only names which of the
//! images in its flash are this client's and in which order to visit them,
//! which is also what lets the host replay the round bit for bit
//! (`fleet/tests`).
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use microprop::{
    blob, Config, Element, Layer, Loss, Network, OpKind, Optimizer, Spec, Targets, Train,
};
use microprop_cpu::CpuBackend;
use microprop_firmware::hostfile::{self, HostFileError};
use microprop_firmware::{
    board, check, exit, hello, take, Aligned, ConstStaticCell, Memory, Meter,
};

/// The element: f32 on a core with an FPU (M4F, M33); on the M0, which
/// has none, the 16-bit fixed point `Q10`, whose arena and blob are half
/// the size (what lets the fleet's model train in the micro:bit's 16 KiB).
#[cfg(target_abi = "eabihf")]
type E = f32;
#[cfg(not(target_abi = "eabihf"))]
type E = microprop::Q10;
/// Whether this build trains in fixed point (and speaks fixed-point blobs).
const FIXED: bool = !cfg!(target_abi = "eabihf");
/// Fractional bits of `Q10`.
const FRAC: u8 = 10;
/// The fleet's hidden width.
const HIDDEN: usize = 32;
/// The fleet's model.
const NET: Spec = Spec::new(&[
    Layer::dense(64, HIDDEN),
    Layer::relu(),
    Layer::dense(HIDDEN, 10),
]);
/// The partial update: the first layer frozen.
const PARTIAL: Spec = NET.with_training(&[Train::Frozen, Train::Frozen, Train::Full]);
/// Batch-1 SGD; the learning rate comes with each round.
const CFG: Config = Config::new(1, Loss::SoftmaxCrossEntropy, Optimizer::sgd(0.01));
const OPS: u64 = CFG.ops(&PARTIAL).with(OpKind::Anchor).bits();
const ARENA_LEN: usize = CFG.arena_len(&PARTIAL);
/// Most local steps one round may ask for.
const MAX_STEPS: usize = if FIXED { 512 } else { 1024 };
const HEADER: usize = 16;
/// The blob this device receives and returns: f32, or fixed point.
const BLOB_LEN: usize = if FIXED {
    blob::fixed_blob_len(NET.param_count())
} else {
    blob::blob_len(NET.param_count())
};
/// The input file; the update is written over it once training is done.
const IO_LEN: usize = HEADER + 2 * MAX_STEPS + BLOB_LEN;

static ARENA: ConstStaticCell<[E; ARENA_LEN]> = ConstStaticCell::new([E::ZERO; ARENA_LEN]);
static IO: ConstStaticCell<Aligned<[u8; IO_LEN]>> = ConstStaticCell::new(Aligned([0; IO_LEN]));

/// What the input file can get wrong.
#[derive(defmt::Format)]
enum Refused {
    File(HostFileError),
    Header,
    Steps(usize),
    Hyperparameters,
    Image(usize),
}

/// Log why `fleet-in.bin` is refused and exit with failure.
fn refuse(why: Refused) -> ! {
    defmt::error!("fleet-in.bin refused: {}", why);
    exit(false)
}

fn u16_at(b: &[u8], at: usize) -> usize {
    b.get(at..at + 2).map_or(usize::MAX, |s| {
        usize::from(u16::from_le_bytes([s[0], s[1]]))
    })
}

fn f32_at(b: &[u8], at: usize) -> f32 {
    b.get(at..at + 4)
        .map_or(f32::NAN, |s| f32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

#[entry]
fn main() -> ! {
    let cp = microprop_firmware::peripherals();
    let mut meter = Meter::new(cp.SYST);
    hello("fleet", &meter);
    let io = &mut take(&IO, "IO").0;
    let len = check(
        hostfile::read(b"fleet-in.bin\0", io).map_err(Refused::File),
        "reading fleet-in.bin",
    );
    let file = &io[..len];
    if file.get(..4) != Some(b"MPFL") || u16_at(file, 4) != 1 {
        refuse(Refused::Header);
    }
    let steps = u16_at(file, 6);
    let (lr, mu) = (f32_at(file, 8), f32_at(file, 12));
    if steps > MAX_STEPS || HEADER + 2 * steps > len {
        refuse(Refused::Steps(steps));
    }
    if !(lr.is_finite() && lr >= 0.0 && mu.is_finite() && mu >= 0.0) {
        refuse(Refused::Hyperparameters);
    }
    // Every image index before any training.
    if let Some(i) = (0..steps)
        .map(|k| u16_at(file, HEADER + 2 * k))
        .find(|&i| i >= microprop_firmware::digits::N)
    {
        refuse(Refused::Image(i));
    }
    let global = &file[HEADER + 2 * steps..];
    defmt::info!(
        "model 64-{=usize}-10 in {=str}, last layer trained ({=usize} of {=usize} parameters), arena {=usize} B; {=usize} steps, lr {=f32}, mu {=f32}; global model {=usize} B",
        HIDDEN,
        if FIXED { "Q10" } else { "f32" },
        PARTIAL.trained_count(),
        NET.param_count(),
        ARENA_LEN * core::mem::size_of::<E>(),
        steps,
        lr,
        mu,
        global.len()
    );
    let arena = take(&ARENA, "ARENA");
    let mut net = check(
        Network::new(PARTIAL, CpuBackend::with_ops::<OPS>(arena), CFG),
        "Network::new",
    );
    // The whole blob is checked before a byte of it is used.
    check(net.load_blob(global), "the global model");
    check(net.set_lr(f64::from(lr)), "set_lr");
    if mu > 0.0 {
        check(
            net.set_anchor(global, f64::from(mu) / 2.0),
            "the proximal term",
        );
    }
    let mut x = [E::ZERO; 64];
    let mut loss_sum = 0.0f32;
    for k in 0..steps {
        let i = u16_at(file, HEADER + 2 * k);
        let label = microprop_firmware::digits::load(i, &mut x);
        if label == usize::MAX {
            refuse(Refused::Image(i));
        }
        let (loss, _) = meter.measure(|| net.train_step(&x, Targets::Labels(&[label])));
        loss_sum += check(loss, "train_step").to_f32();
    }
    let params = net.layout().params;
    // The anchor borrows the input file; hand the arena back, then write
    // the update over the file.
    let arena = net.into_backend().into_arena();
    let Some(trained) = arena.get(params.offset..params.offset + params.len) else {
        defmt::error!("the parameters are not in the arena");
        exit(false)
    };
    let n = check(
        if FIXED {
            blob::encode_fixed(&NET, trained, FRAC, io).map(|(n, _)| n)
        } else {
            blob::encode(&NET, trained, io)
        },
        "encoding the update",
    );
    check(
        hostfile::write(b"fleet-out.bin\0", &io[..n]).map_err(Refused::File),
        "writing fleet-out.bin",
    );
    let mean_loss = if steps > 0 {
        loss_sum / steps as f32
    } else {
        0.0
    };
    let per_step = meter.mean();
    let mut stats = [0u8; 12];
    stats[..4].copy_from_slice(&(steps as u32).to_le_bytes());
    stats[4..8].copy_from_slice(&(per_step.min(u64::from(u32::MAX)) as u32).to_le_bytes());
    stats[8..].copy_from_slice(&mean_loss.to_le_bytes());
    check(
        hostfile::write(b"fleet-stats.bin\0", &stats).map_err(Refused::File),
        "writing fleet-stats.bin",
    );
    let m = Memory::measure();
    defmt::info!(
        "METRIC example=fleet board={=str} cpu={=str} flash={=u32} static_ram={=u32} arena={=usize} stack={=u32} batch=1 instr_per_step={=u64} steps={=usize} mean_loss={=f32} update_bytes={=usize}",
        board::NAME,
        board::CPU,
        m.flash,
        m.static_ram,
        ARENA_LEN * core::mem::size_of::<E>(),
        m.peak_stack,
        per_step,
        steps,
        mean_loss,
        n
    );
    defmt::info!("PASS fleet on {=str}", board::NAME);
    exit(true)
}
