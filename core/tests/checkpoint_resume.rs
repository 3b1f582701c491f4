//! Resumable training across power cuts: a device trains, checkpoints its
//! parameters **and** optimizer state (momentum velocity or Adam's
//! moments, Adam's step count, the learning rate a schedule changed, and
//! an application tag: the next batch's index) every few steps, and loses
//! power at a chosen byte of a chosen flash erase or write. It reboots: a
//! fresh network from the same spec and seed restores the newest valid
//! checkpoint and trains on from the batch its tag names. At the end its
//! parameters, optimizer state, step count and learning rate must equal,
//! bit for bit, those of a run that was never interrupted.
//!
//! Also the format's typed edges: a checkpoint of format 1 (parameters
//! only) still restores its parameters, a state section of an unknown
//! version or another optimizer is reported, a non-finite state element
//! or a slot too small for the state is refused before flash is touched.

use embedded_storage::nor_flash::{
    check_erase, check_read, check_write, ErrorType, NorFlash, NorFlashError, NorFlashErrorKind,
    ReadNorFlash,
};
use microprop::blob::{self, BlobError};
use microprop::checkpoint::{
    self, CheckpointError, Checkpoints, Restored, Slot, SlotState, STATE_HEADER_LEN,
};
use microprop::{Config, Layer, Loss, Network, Optimizer, OptimizerKind, Spec, Targets};
use microprop_cpu::CpuBackend;

mod common;
use common::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SimError {
    PowerCut,
    Kind(NorFlashErrorKind),
}
impl NorFlashError for SimError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            SimError::PowerCut => NorFlashErrorKind::Other,
            SimError::Kind(k) => *k,
        }
    }
}

/// A NOR flash in RAM (erase sets `0xFF`, writes clear bits) that loses
/// power at the mutating operations (erases and writes, counted from 0
/// over the flash's whole life, across reboots) listed in `cuts`, each at
/// a byte and with half-changed bits drawn from its seed.
#[derive(Clone)]
struct Nor<const R: usize, const W: usize, const E: usize> {
    mem: Vec<u8>,
    ops: usize,
    /// `(op, seed)`, sorted by op.
    cuts: Vec<(usize, u64)>,
    off: bool,
    /// Cuts that happened.
    hit: usize,
}

impl<const R: usize, const W: usize, const E: usize> Nor<R, W, E> {
    fn new(len: usize, cuts: Vec<(usize, u64)>) -> Self {
        Nor {
            mem: vec![0xFF; len],
            ops: 0,
            cuts,
            off: false,
            hit: 0,
        }
    }
    /// At the start of a mutating op of `len` bytes: `Some((byte, rng))`
    /// if power fails in it.
    fn cut_here(&mut self, len: usize) -> Option<(usize, Rng)> {
        let op = self.ops;
        self.ops += 1;
        let &(_, seed) = self.cuts.iter().find(|&&(at, _)| at == op)?;
        let mut rng = Rng(seed);
        self.hit += 1;
        self.off = true;
        Some((rng.below(len.max(1)), rng))
    }
}

impl<const R: usize, const W: usize, const E: usize> ErrorType for Nor<R, W, E> {
    type Error = SimError;
}

impl<const R: usize, const W: usize, const E: usize> ReadNorFlash for Nor<R, W, E> {
    const READ_SIZE: usize = R;
    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), SimError> {
        if self.off {
            return Err(SimError::PowerCut);
        }
        check_read(self, offset, bytes.len()).map_err(SimError::Kind)?;
        let o = offset as usize;
        bytes.copy_from_slice(&self.mem[o..o + bytes.len()]);
        Ok(())
    }
    fn capacity(&self) -> usize {
        self.mem.len()
    }
}

impl<const R: usize, const W: usize, const E: usize> NorFlash for Nor<R, W, E> {
    const WRITE_SIZE: usize = W;
    const ERASE_SIZE: usize = E;
    fn erase(&mut self, from: u32, to: u32) -> Result<(), SimError> {
        if self.off {
            return Err(SimError::PowerCut);
        }
        check_erase(self, from, to).map_err(SimError::Kind)?;
        let (from, to) = (from as usize, to as usize);
        match self.cut_here(to - from) {
            None => {
                self.mem[from..to].fill(0xFF);
                Ok(())
            }
            Some((byte, mut rng)) => {
                // Forwards or backwards, `byte` bytes erased, one half.
                let at = if rng.next() & 1 == 1 {
                    self.mem[to - byte..to].fill(0xFF);
                    to - byte - 1
                } else {
                    self.mem[from..from + byte].fill(0xFF);
                    from + byte
                };
                self.mem[at] |= rng.next() as u8;
                Err(SimError::PowerCut)
            }
        }
    }
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), SimError> {
        if self.off {
            return Err(SimError::PowerCut);
        }
        check_write(self, offset, bytes.len()).map_err(SimError::Kind)?;
        let o = offset as usize;
        let cut = self.cut_here(bytes.len());
        let n = cut.as_ref().map_or(bytes.len(), |&(byte, _)| byte);
        for (m, &d) in self.mem[o..o + n].iter_mut().zip(bytes) {
            *m &= d;
        }
        if let Some((byte, mut rng)) = cut {
            self.mem[o + byte] &= bytes[byte] | rng.next() as u8;
            return Err(SimError::PowerCut);
        }
        Ok(())
    }
}

/// 3-5-2 tanh: 32 parameters (a 148-byte blob).
const NET: Spec = Spec::new(&[Layer::dense(3, 5), Layer::tanh(), Layer::dense(5, 2)]);
const P: usize = NET.param_count();
/// Steps of a training run.
const STEPS: u64 = 40;
/// A checkpoint after every this many steps.
const EVERY: u64 = 5;

type Net<'a> = Network<'a, CpuBackend<'a, f32>>;

/// Everything the next `train_step` reads, in bits: parameters, optimizer
/// state, Adam's step count, learning rate.
#[derive(Clone, Debug, PartialEq)]
struct Model {
    params: Vec<u32>,
    state: Vec<u32>,
    steps: u64,
    lr: u64,
}

fn model(net: &Net<'_>) -> Model {
    let l = *net.layout();
    let a = net.backend().arena();
    let bits = |from: usize, to: usize| a[from..to].iter().map(|v| v.to_bits()).collect();
    Model {
        params: bits(l.params.offset, l.params.end()),
        state: bits(l.state.offset, l.state.end()),
        steps: net.steps(),
        lr: net.lr().to_bits(),
    }
}

/// Batch `i` (4 rows): the same on every run.
fn batch(i: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = Rng(0xBA7C_0000 + i);
    let x = (0..12).map(|_| rng.f32()).collect();
    let y = (0..8).map(|_| rng.f32() * 0.5).collect();
    (x, y)
}

/// Step `i` of the training loop: the schedule (halve the learning rate
/// every 8 steps, from the rate the network has), then the step.
fn step(net: &mut Net<'_>, i: u64) {
    if i > 0 && i.is_multiple_of(8) {
        net.set_lr(net.lr() * 0.5).unwrap();
    }
    let (x, y) = batch(i);
    net.train_step(&x, Targets::Values(&y)).unwrap();
}

/// What a device run went through.
#[derive(Default, Debug)]
struct Run {
    /// Power cuts during saves (each followed by a reboot).
    cuts: usize,
    /// Reboots between steps (no flash operation under way).
    idle_reboots: usize,
    /// Reboots that found no checkpoint and started over.
    from_scratch: usize,
}

/// Train `STEPS` steps on a device whose flash loses power at the ops in
/// `cuts` and that also reboots before the steps in `reboots`; returns the
/// final model and what happened.
fn device<const R: usize, const W: usize, const E: usize>(
    cfg: Config,
    cuts: Vec<(usize, u64)>,
    reboots: &[u64],
) -> (Model, Run, Nor<R, W, E>) {
    let slot = checkpoint::slot_len_for::<Nor<R, W, E>>(&NET, cfg.optimizer.kind());
    let mut flash = Nor::<R, W, E>::new(E + 2 * slot, cuts);
    let mut run = Run::default();
    let mut pending_reboots: Vec<u64> = reboots.to_vec();
    loop {
        // Boot: a fresh network from the same spec and seed.
        flash.off = false;
        let mut arena = vec![0.0f32; cfg.arena_len(&NET)];
        let mut net = Network::new(NET, CpuBackend::new(&mut arena), cfg).unwrap();
        let mut ck = Checkpoints::new(&mut flash, E as u32, slot as u32).unwrap();
        let start = match ck.restore(&mut net) {
            Ok(r) => {
                assert!(r.state, "{r:?}");
                r.tag
            }
            Err(CheckpointError::NoValidCheckpoint { .. }) => {
                run.from_scratch += 1;
                0
            }
            Err(e) => panic!("restore: {e:?}"),
        };
        let mut rebooted = false;
        for i in start..STEPS {
            if let Some(k) = pending_reboots.iter().position(|&s| s == i) {
                pending_reboots.remove(k);
                run.idle_reboots += 1;
                rebooted = true;
                break;
            }
            step(&mut net, i);
            if (i + 1).is_multiple_of(EVERY) {
                match ck.save_tagged(&mut net, i + 1) {
                    Ok(s) => assert!(s.state && s.tag == i + 1),
                    Err(CheckpointError::Flash(SimError::PowerCut)) => {
                        run.cuts += 1;
                        rebooted = true;
                        break;
                    }
                    Err(e) => panic!("save: {e:?}"),
                }
            }
        }
        if !rebooted {
            let m = model(&net);
            return (m, run, flash);
        }
    }
}

/// Power cuts at every erase and write of a run's saves (several bytes
/// each), and at random ones, several per run, with reboots between steps;
/// every run ends bit-identical to the uninterrupted one. Returns (runs,
/// cuts survived).
fn campaign<const R: usize, const W: usize, const E: usize>(
    cfg: Config,
    seed: u64,
) -> (usize, usize) {
    let (reference, clean, flash) = device::<R, W, E>(cfg, vec![], &[]);
    assert_eq!(clean.cuts + clean.idle_reboots, 0);
    assert_eq!(
        reference.steps,
        if cfg.optimizer.kind() == OptimizerKind::Adam {
            STEPS
        } else {
            0
        }
    );
    // The schedule halved the rate 4 times (before steps 8, 16, 24, 32).
    assert_eq!(f64::from_bits(reference.lr), cfg.optimizer.lr() / 16.0);
    let ops = flash.ops;
    let (mut runs, mut cuts) = (0, 0);
    let mut rng = Rng(seed);
    let mut check = |cut_ops: Vec<(usize, u64)>, reboots: &[u64]| {
        let (got, run, flash) = device::<R, W, E>(cfg, cut_ops.clone(), reboots);
        // The first planned cut always falls within the run; later ones
        // only if the run (with its replays) gets that far.
        assert!(flash.hit >= 1, "{cut_ops:?}");
        assert_eq!(run.cuts, flash.hit);
        assert_eq!(
            got, reference,
            "cuts {cut_ops:?}, reboots {reboots:?}: {run:?}"
        );
        runs += 1;
        cuts += run.cuts;
    };
    // Every op of the run, 6 bytes each.
    for op in 0..ops {
        for _ in 0..6 {
            check(vec![(op, rng.next())], &[]);
        }
    }
    // Several cuts in one run (a cut op counts from the flash's first op,
    // replays included), and reboots between steps.
    for _ in 0..1000 {
        let mut at = 0;
        let mut plan = vec![];
        for _ in 0..1 + rng.below(4) {
            at += 1 + rng.below(ops / 2);
            plan.push((at, rng.next()));
        }
        let reboots: Vec<u64> = (0..rng.below(3))
            .map(|_| rng.below(STEPS as usize) as u64)
            .collect();
        check(plan, &reboots);
    }
    (runs, cuts)
}

#[test]
fn training_resumes_bit_for_bit_after_power_cuts_during_saves() {
    let adam = Config::new(4, Loss::Mse, Optimizer::adam(0.02)).with_seed(5);
    let momentum = Config::new(4, Loss::Mse, Optimizer::momentum(0.1, 0.9)).with_seed(6);
    let sgd = Config::new(4, Loss::Mse, Optimizer::sgd(0.1)).with_seed(7);
    let results = [
        ("adam W4/E1024", campaign::<1, 4, 1024>(adam, 1)),
        ("momentum W4/E1024", campaign::<1, 4, 1024>(momentum, 2)),
        ("adam R4/W16/E256", campaign::<4, 16, 256>(adam, 3)),
        ("momentum R4/W16/E256", campaign::<4, 16, 256>(momentum, 4)),
        ("sgd W4/E1024", campaign::<1, 4, 1024>(sgd, 5)),
    ];
    let (runs, cuts) = results
        .iter()
        .fold((0, 0), |(r, c), (_, (r2, c2))| (r + r2, c + c2));
    println!("resumable training: {runs} interrupted runs, {cuts} power cuts survived, every run bit-identical to the uninterrupted one: {results:?}");
    // Adam on 4-byte writes: 8 saves of 5 ops (erase, blob, state header +
    // moments in 2 writes of 256 bytes, slot header): 40 ops × 6 + 1000.
    assert_eq!(results[0].1 .0, 40 * 6 + 1000);
    // Momentum: the state section (56 + 128 bytes) is one write: 32 ops.
    assert_eq!(results[1].1 .0, 32 * 6 + 1000);
    assert!(cuts > 10_000, "{cuts}");
}

/// The uninterrupted training loop of [`device`], without flash.
fn train(net: &mut Net<'_>, from: u64, to: u64) {
    for i in from..to {
        step(net, i);
    }
}

type Flash = Nor<1, 4, 256>;

#[test]
fn a_resumed_run_needs_the_state_a_parameters_only_restore_diverges() {
    // The control: restoring the parameters alone (optimizer state reset,
    // as a format-1 checkpoint does) does not resume bit for bit.
    let cfg = Config::new(4, Loss::Mse, Optimizer::adam(0.02)).with_seed(5);
    let mut a1 = vec![0.0f32; cfg.arena_len(&NET)];
    let mut full = Network::new(NET, CpuBackend::new(&mut a1), cfg).unwrap();
    train(&mut full, 0, 20);
    let mut p = vec![0.0f32; P];
    let mut a2 = vec![0.0f32; cfg.arena_len(&NET)];
    let mut half = Network::new(NET, CpuBackend::new(&mut a2), cfg).unwrap();
    train(&mut half, 0, 10);
    half.parameters(&mut p).unwrap();
    let mut a3 = vec![0.0f32; cfg.arena_len(&NET)];
    let mut reset = Network::new(NET, CpuBackend::new(&mut a3), cfg).unwrap();
    reset.load_parameters(&p).unwrap();
    reset.set_lr(half.lr()).unwrap();
    train(&mut reset, 10, 20);
    assert_ne!(model(&reset).params, model(&full).params);
    // Through a checkpoint with state: identical.
    let slot = checkpoint::slot_len_for::<Flash>(&NET, OptimizerKind::Adam);
    let mut ck = Checkpoints::new(Flash::new(2 * slot, vec![]), 0, slot as u32).unwrap();
    ck.save(&mut half).unwrap();
    let mut a4 = vec![0.0f32; cfg.arena_len(&NET)];
    let mut resumed = Network::new(NET, CpuBackend::new(&mut a4), cfg.with_seed(99)).unwrap();
    let r = ck.restore(&mut resumed).unwrap();
    assert_eq!(
        r,
        Restored {
            seq: 1,
            slot: Slot::A,
            state: true,
            tag: 0
        }
    );
    assert_eq!(model(&resumed), model(&half));
    train(&mut resumed, 10, 20);
    assert_eq!(model(&resumed), model(&full));
}

/// A slot of format 1 (parameters only), as the previous version wrote it.
fn write_format1(mem: &mut [u8], at: usize, seq: u32, blob: &[u8]) {
    let mut h = [0u8; 16];
    h[..4].copy_from_slice(b"MPCK");
    h[4..8].copy_from_slice(&seq.to_le_bytes());
    h[8..12].copy_from_slice(&(blob.len() as u32).to_le_bytes());
    let crc = blob::crc32(&h[..12]);
    h[12..16].copy_from_slice(&crc.to_le_bytes());
    mem[at..at + 16].copy_from_slice(&h);
    mem[at + 16..at + 16 + blob.len()].copy_from_slice(blob);
}

#[test]
fn a_format_1_checkpoint_restores_its_parameters_and_keeps_the_state() {
    let cfg = Config::new(4, Loss::Mse, Optimizer::momentum(0.1, 0.9)).with_seed(3);
    let slot = checkpoint::slot_len_for::<Flash>(&NET, OptimizerKind::Momentum);
    // 16 + 148 + 56 + 128 = 348 bytes: two 256-byte pages.
    assert_eq!(slot, 512);
    let mut a1 = vec![0.0f32; cfg.arena_len(&NET)];
    let mut old = Network::new(NET, CpuBackend::new(&mut a1), cfg).unwrap();
    train(&mut old, 0, 3);
    let mut bytes = vec![0u8; blob::blob_len(P)];
    assert_eq!(old.save_blob(&mut bytes).unwrap(), 148);
    let mut flash = Flash::new(2 * slot, vec![]);
    write_format1(&mut flash.mem, 0, 7, &bytes);
    let mut ck = Checkpoints::new(flash, 0, slot as u32).unwrap();
    assert_eq!(
        ck.inspect(&NET).unwrap(),
        [SlotState::Valid { seq: 7 }, SlotState::Erased]
    );

    let mut a2 = vec![0.0f32; cfg.arena_len(&NET)];
    let mut net = Network::new(NET, CpuBackend::new(&mut a2), cfg.with_seed(4)).unwrap();
    train(&mut net, 0, 2);
    net.set_lr(0.03).unwrap();
    let before = model(&net);
    let r = ck.restore(&mut net).unwrap();
    assert_eq!(
        r,
        Restored {
            seq: 7,
            slot: Slot::A,
            state: false,
            tag: 0
        }
    );
    let after = model(&net);
    assert_eq!(after.params, model(&old).params);
    assert_eq!(
        (after.state, after.steps, after.lr),
        (before.state, before.steps, before.lr)
    );
    // The next save (format 2) goes into slot B with seq 8, and wins.
    let s = ck.save(&mut old).unwrap();
    assert_eq!((s.seq, s.slot, s.state), (8, Slot::B, true));
    let r = ck.restore(&mut net).unwrap();
    assert!(r.state);
    assert_eq!(model(&net), model(&old));

    // A slot magic of an unknown format is refused as such.
    let mut flash = ck.release();
    flash.mem[slot..slot + 4].copy_from_slice(b"MPC3");
    let mut ck = Checkpoints::new(flash, 0, slot as u32).unwrap();
    assert_eq!(
        ck.inspect(&NET).unwrap(),
        [SlotState::Valid { seq: 7 }, SlotState::BadMagic]
    );
}

#[test]
fn a_state_section_of_another_version_or_optimizer() {
    let adam = Config::new(4, Loss::Mse, Optimizer::adam(0.02)).with_seed(3);
    let momentum = Config::new(4, Loss::Mse, Optimizer::momentum(0.1, 0.9)).with_seed(4);
    let slot = checkpoint::slot_len::<Flash>(&NET);
    let mut a1 = vec![0.0f32; adam.arena_len(&NET)];
    let mut saver = Network::new(NET, CpuBackend::new(&mut a1), adam).unwrap();
    train(&mut saver, 0, 3);
    let mut ck = Checkpoints::new(Flash::new(2 * slot, vec![]), 0, slot as u32).unwrap();
    ck.save(&mut saver).unwrap();

    // Another optimizer: the parameters are restored, not the state.
    let mut a2 = vec![0.0f32; momentum.arena_len(&NET)];
    let mut net = Network::new(NET, CpuBackend::new(&mut a2), momentum).unwrap();
    train(&mut net, 0, 2);
    let before = model(&net);
    let r = ck.restore(&mut net).unwrap();
    assert!(!r.state);
    let after = model(&net);
    assert_eq!(after.params, model(&saver).params);
    assert_eq!((after.state, after.lr), (before.state, before.lr));

    // The state section starts after the 16-byte slot header and the
    // 148-byte blob; its version (bytes 4..6) set to 2.
    let mut flash = ck.release();
    let at = 16 + 148;
    assert_eq!(&flash.mem[at..at + 4], b"MPOS");
    flash.mem[at + 4] = 2;
    let mut ck = Checkpoints::new(flash, 0, slot as u32).unwrap();
    assert_eq!(
        ck.inspect(&NET).unwrap(),
        [
            SlotState::State(BlobError::Version { found: 2 }),
            SlotState::Erased
        ]
    );
    let mut a3 = vec![0.0f32; adam.arena_len(&NET)];
    let mut other = Network::new(NET, CpuBackend::new(&mut a3), adam).unwrap();
    let before = model(&other);
    assert!(matches!(
        ck.restore(&mut other),
        Err(CheckpointError::NoValidCheckpoint {
            a: SlotState::State(BlobError::Version { found: 2 }),
            b: SlotState::Erased
        })
    ));
    assert_eq!(model(&other), before);
    // A flipped bit in a moment: the section's CRC.
    let mut flash = ck.release();
    flash.mem[at + 4] = 1;
    flash.mem[at + STATE_HEADER_LEN + 100] ^= 0x08;
    let mut ck = Checkpoints::new(flash, 0, slot as u32).unwrap();
    assert!(matches!(
        ck.inspect(&NET).unwrap()[0],
        SlotState::State(BlobError::Crc { .. })
    ));
}

#[test]
fn a_non_finite_state_or_a_slot_too_small_for_it_leaves_flash_untouched() {
    let cfg = Config::new(4, Loss::Mse, Optimizer::momentum(0.1, 0.9)).with_seed(3);
    let mut arena = vec![0.0f32; cfg.arena_len(&NET)];
    let mut net = Network::new(NET, CpuBackend::new(&mut arena), cfg).unwrap();
    train(&mut net, 0, 2);
    // A slot of one 256-byte page holds the parameters (16 + 148 bytes),
    // not the 56 + 128 bytes of state as well.
    let mut ck = Checkpoints::new(Flash::new(1024, vec![]), 0, 256).unwrap();
    assert_eq!(
        ck.save(&mut net),
        Err(CheckpointError::SlotTooSmall {
            needed: 512,
            slot_len: 256
        })
    );
    assert!(ck.flash_mut().mem.iter().all(|&b| b == 0xFF));
    let mut ck = Checkpoints::new(Flash::new(1024, vec![]), 0, 512).unwrap();
    let v = net.layout().state.offset + 5;
    net.backend_mut().arena_mut()[v] = f32::INFINITY;
    assert_eq!(
        ck.save(&mut net),
        Err(CheckpointError::State(BlobError::NonFinite { index: 5 }))
    );
    assert!(ck.flash_mut().mem.iter().all(|&b| b == 0xFF));
}

#[test]
fn a_partially_trained_network_resumes_bit_for_bit() {
    // Frozen first layer: the gradient and Adam's moments cover only the
    // last layer's parameters, the shared buffers hold the frozen layers'
    // outputs; the checkpoint must carry that shorter state and resume it.
    use microprop::Train;
    let train_list = [Train::Frozen, Train::Frozen, Train::Full];
    let spec = NET.with_training(&train_list);
    assert!(spec.trained_count() < P);
    let cfg = Config::new(4, Loss::Mse, Optimizer::adam(0.02)).with_seed(5);
    let mut a1 = vec![0.0f32; cfg.arena_len(&spec)];
    let mut full = Network::new(spec, CpuBackend::new(&mut a1), cfg).unwrap();
    train(&mut full, 0, 20);
    let mut a2 = vec![0.0f32; cfg.arena_len(&spec)];
    let mut half = Network::new(spec, CpuBackend::new(&mut a2), cfg).unwrap();
    train(&mut half, 0, 10);
    let slot = checkpoint::slot_len_for::<Flash>(&spec, OptimizerKind::Adam);
    let mut ck = Checkpoints::new(Flash::new(2 * slot, vec![]), 0, slot as u32).unwrap();
    ck.save(&mut half).unwrap();
    let mut a3 = vec![0.0f32; cfg.arena_len(&spec)];
    let mut resumed = Network::new(spec, CpuBackend::new(&mut a3), cfg.with_seed(99)).unwrap();
    assert!(ck.restore(&mut resumed).unwrap().state);
    assert_eq!(model(&resumed), model(&half));
    train(&mut resumed, 10, 20);
    assert_eq!(model(&resumed), model(&full));
    // The frozen layer never moved: equal to a fresh network's.
    let mut a4 = vec![0.0f32; cfg.arena_len(&spec)];
    let fresh = Network::new(spec, CpuBackend::new(&mut a4), cfg).unwrap();
    let frozen = NET.param_offset(2);
    assert_eq!(
        model(&resumed).params[..frozen],
        model(&fresh).params[..frozen]
    );
}
