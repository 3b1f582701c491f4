//! Power cuts at random bytes of random flash operations during checkpoint
//! saves, on a simulated NOR flash, and the typed errors of
//! `microprop::checkpoint`.
//!
//! The simulated flash follows NOR rules: erase sets bytes to `0xFF`, a
//! write can only clear bits (`new = old & data`), offsets and lengths must
//! be multiples of the write unit and erases of the erase page. A power cut
//! stops one erase or write at a random byte: the bytes before it are done,
//! the byte at the cut is half done (some of its bits changed), the rest are
//! untouched (erases run forwards or backwards, at random, so either end of
//! a slot can be the part left erased); every later operation fails until
//! the "reboot". After every cut, a fresh network restores from the same
//! flash and must get, bit for bit, either the model of the last completed
//! save or the one whose save was cut, never an error once a save has
//! completed.
//!
//! Read faults during restores: a read that fails, or returns other bytes
//! (one bit flipped, or another slot's checkpoint), at every read of a
//! restore; the model stays bit-identical or gets exactly the other valid
//! checkpoint. And sequence numbers that wrap (no header locks out saves).

use embedded_storage::nor_flash::{
    check_erase, check_read, check_write, ErrorType, NorFlash, NorFlashError, NorFlashErrorKind,
    ReadNorFlash,
};
use microprop::blob::{self, BlobError};
use microprop::checkpoint::{self, CheckpointError, Checkpoints, Geometry, Slot, SlotState};
use microprop::{Config, Layer, Loss, Network, Optimizer, OptimizerKind, Spec, Targets};
use microprop_cpu::CpuBackend;

mod common;
use common::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SimError {
    /// Power is off: the operation did nothing (or, for the cut one, part).
    PowerCut,
    /// An injected read fault.
    ReadFault,
    Kind(NorFlashErrorKind),
}
impl NorFlashError for SimError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            SimError::PowerCut | SimError::ReadFault => NorFlashErrorKind::Other,
            SimError::Kind(k) => *k,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpKind {
    Erase,
    Write,
}

/// A planned cut: at mutating operation `op` (0-based, erases and writes
/// counted together), the byte is chosen when that operation starts.
#[derive(Clone, Copy)]
struct Cut {
    op: usize,
    seed: u64,
}

/// A fault injected into reads `from..until` (0-based, counting every
/// read call).
#[derive(Clone, Copy, Debug)]
struct ReadFault {
    from: usize,
    until: usize,
    kind: FaultKind,
}

#[derive(Clone, Copy, Debug)]
enum FaultKind {
    /// The read returns an error.
    Fail,
    /// The read succeeds but byte `byte` (modulo the read's length) comes
    /// back XOR `mask`; flash itself is unchanged.
    Flip { byte: usize, mask: u8 },
    /// The read succeeds with the bytes `delta` bytes further on.
    Elsewhere { delta: isize },
}

/// A NOR flash in RAM with power cuts. `R`, `W`, `E`: read, write and
/// erase sizes.
#[derive(Clone)]
struct Nor<const R: usize, const W: usize, const E: usize> {
    mem: Vec<u8>,
    cut: Option<Cut>,
    ops: usize,
    off: bool,
    /// What the cut interrupted: kind, op index, op length, byte.
    cut_at: Option<(OpKind, usize, usize, usize)>,
    /// Writes that tried to set a bit (a protocol error: not erased first).
    set_bits: usize,
    /// A faulty device: writes leave this byte offset unprogrammed.
    stuck: Option<usize>,
    /// Read calls so far.
    reads: usize,
    /// A read fault to inject.
    read_fault: Option<ReadFault>,
}

impl<const R: usize, const W: usize, const E: usize> Nor<R, W, E> {
    fn new(len: usize) -> Self {
        Nor {
            mem: vec![0xFF; len],
            cut: None,
            ops: 0,
            off: false,
            cut_at: None,
            set_bits: 0,
            stuck: None,
            reads: 0,
            read_fault: None,
        }
    }
    fn reboot(&mut self) {
        self.off = false;
        self.cut = None;
        self.ops = 0;
    }
    /// Called at the start of each mutating op: `Some((byte, rng))` if the
    /// cut falls inside it.
    fn cut_here(&mut self, kind: OpKind, len: usize) -> Option<(usize, Rng)> {
        let op = self.ops;
        self.ops += 1;
        let cut = self.cut?;
        if cut.op != op || len == 0 {
            return None;
        }
        let mut rng = Rng(cut.seed);
        let byte = rng.below(len);
        self.cut_at = Some((kind, op, len, byte));
        Some((byte, rng))
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
        let index = self.reads;
        self.reads += 1;
        let o = offset as usize;
        let fault = self
            .read_fault
            .filter(|f| (f.from..f.until).contains(&index))
            .map(|f| f.kind);
        match fault {
            None => bytes.copy_from_slice(&self.mem[o..o + bytes.len()]),
            Some(FaultKind::Fail) => return Err(SimError::ReadFault),
            Some(FaultKind::Flip { byte, mask }) => {
                bytes.copy_from_slice(&self.mem[o..o + bytes.len()]);
                bytes[byte % bytes.len()] ^= mask;
            }
            Some(FaultKind::Elsewhere { delta }) => {
                let o = o.checked_add_signed(delta).unwrap();
                bytes.copy_from_slice(&self.mem[o..o + bytes.len()]);
            }
        }
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
        match self.cut_here(OpKind::Erase, to - from) {
            None => {
                self.mem[from..to].fill(0xFF);
                Ok(())
            }
            Some((byte, mut rng)) => {
                // Forwards or backwards: `done` bytes erased, one half-erased.
                let backwards = rng.next() & 1 == 1;
                let half = rng.next() as u8;
                let at = if backwards {
                    self.mem[to - byte..to].fill(0xFF);
                    to - byte - 1
                } else {
                    self.mem[from..from + byte].fill(0xFF);
                    from + byte
                };
                self.mem[at] |= half; // some bits went back to 1
                self.off = true;
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
        let cut = self.cut_here(OpKind::Write, bytes.len());
        let n = match cut {
            Some((byte, _)) => byte,
            None => bytes.len(),
        };
        for (i, &d) in bytes.iter().enumerate().take(n) {
            let m = &mut self.mem[o + i];
            if d & !*m != 0 {
                self.set_bits += 1;
            }
            if self.stuck != Some(o + i) {
                *m &= d;
            }
        }
        if let Some((byte, mut rng)) = cut {
            // Some of the bits this byte should clear were cleared.
            let partial = bytes[byte] | rng.next() as u8;
            self.mem[o + byte] &= partial;
            self.off = true;
            return Err(SimError::PowerCut);
        }
        Ok(())
    }
}

/// 6-12-3 tanh: 123 parameters, a 512-byte blob (two full 256-byte
/// buffers, so the blob takes several writes).
const NET: Spec = Spec::new(&[Layer::dense(6, 12), Layer::tanh(), Layer::dense(12, 3)]);
const P: usize = NET.param_count();
const CFG: Config = Config::new(4, Loss::Mse, Optimizer::momentum(0.05, 0.9)).with_seed(11);
const ARENA: usize = CFG.arena_len(&NET);

fn params(net: &mut Network<'_, CpuBackend<'_, f32>>) -> Vec<u32> {
    let mut p = vec![0.0f32; P];
    net.parameters(&mut p).unwrap();
    p.iter().map(|v| v.to_bits()).collect()
}

#[derive(Default, Debug)]
struct Tally {
    cuts: usize,
    erase: usize,
    write_blob: usize,
    write_header: usize,
    first_save: usize,
    later_save: usize,
    got_old: usize,
    got_new: usize,
    got_none: usize,
    completed_saves: usize,
    fresh_devices: usize,
}

/// Run `trials` saves on flash geometry `R/W/E`, cutting most of them.
fn campaign<const R: usize, const W: usize, const E: usize>(seed: u64, trials: usize) -> Tally {
    let slot = checkpoint::slot_len_for::<Nor<R, W, E>>(&NET, OptimizerKind::Momentum);
    // The region does not start at 0, and there is flash on both sides.
    let region = E as u32;
    let cap = E + 2 * slot + E;
    let mut rng = Rng(seed);
    let mut t = Tally::default();

    let mut arena = vec![0.0f32; ARENA];
    let mut net = Network::new(NET, CpuBackend::new(&mut arena), CFG).unwrap();
    let mut restore_arena = vec![0.0f32; ARENA];

    let mut flash = Nor::<R, W, E>::new(cap);
    // The last model whose save completed (or was found on reboot), with
    // its sequence number.
    let mut committed: Option<(u32, Vec<u32>)> = None;

    for trial in 0..trials {
        // A new device now and then: blank or garbage flash, nothing saved.
        if trial == 0 || rng.below(40) == 0 {
            flash = Nor::new(cap);
            if rng.below(2) == 0 {
                flash.mem.iter_mut().for_each(|b| *b = rng.next() as u8);
            }
            committed = None;
            t.fresh_devices += 1;
        }
        // Evolve the model: a training step on a random batch, sometimes a
        // wholly new random model.
        if rng.below(8) == 0 {
            let p: Vec<f32> = (0..P).map(|_| rng.f32()).collect();
            net.load_parameters(&p).unwrap();
        } else {
            let x: Vec<f32> = (0..24).map(|_| rng.f32()).collect();
            let y: Vec<f32> = (0..12).map(|_| rng.f32()).collect();
            net.train_step(&x, Targets::Values(&y)).unwrap();
        }
        let new = params(&mut net);

        // How many mutating ops does this save take? (A dry run on a copy.)
        let mut dry = flash.clone();
        let mut ck = Checkpoints::new(&mut dry, region, slot as u32).unwrap();
        let saved = ck.save(&mut net).unwrap();
        let nops = dry.ops;
        // Erase, the blob's writes, the state section's writes (its
        // 56-byte header, padded to the write unit, and 123 velocities),
        // the slot header.
        let state_bytes = 56usize.next_multiple_of(W.max(R)) + 4 * P;
        assert_eq!(
            nops,
            2 + blob::blob_len(P).div_ceil(checkpoint::BUF_LEN)
                + state_bytes.div_ceil(checkpoint::BUF_LEN)
        );
        assert_eq!(dry.set_bits, 0, "a write over unerased bits");

        // One save in four completes; the others are cut.
        let cut = rng.below(4) != 0;
        flash.cut = cut.then(|| Cut {
            op: rng.below(nops),
            seed: rng.next(),
        });
        flash.cut_at = None;
        let first = committed.is_none();
        let r = Checkpoints::new(&mut flash, region, slot as u32)
            .unwrap()
            .save(&mut net);
        assert_eq!(flash.set_bits, 0, "a write over unerased bits");
        if cut {
            assert_eq!(r, Err(CheckpointError::Flash(SimError::PowerCut)));
            let (kind, op, _, _) = flash.cut_at.unwrap();
            t.cuts += 1;
            match (kind, op) {
                (OpKind::Erase, _) => t.erase += 1,
                (OpKind::Write, op) if op + 1 == nops => t.write_header += 1,
                _ => t.write_blob += 1,
            }
            if first {
                t.first_save += 1;
            } else {
                t.later_save += 1;
            }
        } else {
            assert_eq!(r, Ok(saved), "same flash, same save");
            t.completed_saves += 1;
        }

        // Reboot: a fresh network (other initial weights) restores.
        flash.reboot();
        let mut other = Network::new(
            NET,
            CpuBackend::new(&mut restore_arena),
            CFG.with_seed(trial as u64 + 100),
        )
        .unwrap();
        let before = params(&mut other);
        let mut ck = Checkpoints::new(&mut flash, region, slot as u32).unwrap();
        match ck.restore(&mut other) {
            Ok(got) => {
                let p = params(&mut other);
                if p == new {
                    assert_eq!(got.seq, saved.seq, "trial {trial}");
                    assert_eq!(got.slot, saved.slot, "trial {trial}");
                    t.got_new += 1;
                } else {
                    let (seq, old) = committed
                        .as_ref()
                        .unwrap_or_else(|| panic!("trial {trial}: restored a model never saved"));
                    assert_eq!(&p, old, "trial {trial}: neither the old nor the new model");
                    assert_eq!(got.seq, *seq, "trial {trial}");
                    assert!(cut, "trial {trial}: a completed save was lost");
                    t.got_old += 1;
                }
                committed = Some((got.seq, p));
            }
            Err(CheckpointError::NoValidCheckpoint { .. }) => {
                assert!(
                    committed.is_none(),
                    "trial {trial}: lost the checkpoint of a completed save ({:?})",
                    flash.cut_at
                );
                assert!(cut);
                assert_eq!(
                    params(&mut other),
                    before,
                    "a failed restore changed the model"
                );
                t.got_none += 1;
            }
            Err(e) => panic!("trial {trial}: restore failed: {e:?}"),
        }
        // The device goes on from what it restored.
        if let Some((_, p)) = &committed {
            let p: Vec<f32> = p.iter().map(|&b| f32::from_bits(b)).collect();
            net.load_parameters(&p).unwrap();
        }
    }
    t
}

#[test]
fn ten_thousand_power_cuts_never_lose_or_corrupt_a_model() {
    // Write unit 4, 1 KiB erase pages (nRF51/52-like): one page per slot.
    let a = campaign::<1, 4, 1024>(0x5EED_0001, 30_000);
    // Read unit 4, write unit 16, 256-byte pages: a slot spans 3 pages.
    let b = campaign::<4, 16, 256>(0x5EED_0002, 9_000);
    for (name, t) in [("W4/E1024", &a), ("R4/W16/E256", &b)] {
        println!("{name}: {t:?}");
    }
    let cuts = a.cuts + b.cuts;
    println!(
        "power cuts survived: {cuts} (mid-erase {}, mid-blob-write {}, mid-header-write {}; \
         first save on a blank or garbage flash {}, later saves {}); after reboot: old model {}, \
         new model {}, nothing saved yet {}; completed saves {}",
        a.erase + b.erase,
        a.write_blob + b.write_blob,
        a.write_header + b.write_header,
        a.first_save + b.first_save,
        a.later_save + b.later_save,
        a.got_old + b.got_old,
        a.got_new + b.got_new,
        a.got_none + b.got_none,
        a.completed_saves + b.completed_saves,
    );
    assert!(cuts >= 10_000, "{cuts} cuts");
    for t in [&a, &b] {
        // Every kind of cut happened, on first and on later saves.
        assert!(
            t.erase > 100 && t.write_blob > 100 && t.write_header > 100,
            "{t:?}"
        );
        assert!(t.first_save > 100 && t.later_save > 1000, "{t:?}");
        assert!(t.got_old > 100 && t.got_new > 10, "{t:?}");
    }
}

// ---- typed errors ------------------------------------------------------

type Flash = Nor<1, 4, 1024>;
const SLOT: usize = checkpoint::slot_len::<Flash>(&NET);
const MOMENTUM: OptimizerKind = OptimizerKind::Momentum;

fn setup() -> (Flash, Vec<f32>) {
    (Flash::new(4 * 1024), vec![0.0f32; ARENA])
}

#[test]
fn slot_len_is_page_aligned_and_fits_the_blob_and_the_state() {
    assert_eq!(blob::blob_len(P), 512);
    // 16-byte slot header + 512-byte blob + 56-byte state header + the
    // state (SGD none, momentum 123 × 4 bytes, Adam 246 × 4), rounded up
    // to the 1 KiB page; `slot_len` is Adam's.
    let for_kind = |k| checkpoint::slot_len_for::<Flash>(&NET, k);
    assert_eq!(for_kind(OptimizerKind::Sgd), 1024); // 584
    assert_eq!(for_kind(OptimizerKind::FusedSgd), 1024);
    assert_eq!(for_kind(MOMENTUM), 2048); // 1076
    assert_eq!(for_kind(OptimizerKind::Adam), 2048); // 1568
    assert_eq!(SLOT, 2048);
    // 256-byte pages: 1568 → 7 pages; write unit 16: the state header
    // pads to 64 bytes (1576 → 7 pages).
    assert_eq!(checkpoint::slot_len::<Nor<4, 16, 256>>(&NET), 1792);
    assert_eq!(
        checkpoint::slot_len::<Nor<1, 1, 1>>(&NET),
        16 + 512 + 56 + 984
    );
    assert_eq!(
        checkpoint::resume_scratch_len(&NET, OptimizerKind::Adam),
        369
    );
    assert_eq!(checkpoint::resume_scratch_len(&NET, MOMENTUM), 246);
    assert_eq!(
        checkpoint::resume_scratch_len(&NET, OptimizerKind::Sgd),
        123
    );
}

#[test]
fn blank_flash_has_no_checkpoint_and_the_model_is_unchanged() {
    let (mut flash, mut arena) = setup();
    let mut net = Network::new(NET, CpuBackend::new(&mut arena), CFG).unwrap();
    let before = params(&mut net);
    let mut ck = Checkpoints::new(&mut flash, 0, SLOT as u32).unwrap();
    assert_eq!(
        ck.restore(&mut net),
        Err(CheckpointError::NoValidCheckpoint {
            a: SlotState::Erased,
            b: SlotState::Erased
        })
    );
    assert_eq!(params(&mut net), before);
    ck.flash_mut().mem.fill(0x00);
    assert_eq!(
        ck.restore(&mut net),
        Err(CheckpointError::NoValidCheckpoint {
            a: SlotState::BadMagic,
            b: SlotState::BadMagic
        })
    );
}

#[test]
fn geometry_errors() {
    let (mut flash, _) = setup();
    let e = |g| Err(CheckpointError::Geometry(g));
    assert_eq!(
        Checkpoints::new(&mut flash, 512, 1024).map(|_| ()),
        e(Geometry::NotEraseAligned)
    );
    assert_eq!(
        Checkpoints::new(&mut flash, 0, 1000).map(|_| ()),
        e(Geometry::NotEraseAligned)
    );
    assert_eq!(
        Checkpoints::new(&mut flash, 0, 0).map(|_| ()),
        e(Geometry::NotEraseAligned)
    );
    assert_eq!(
        Checkpoints::new(&mut flash, 3072, 1024).map(|_| ()),
        e(Geometry::OutOfBounds)
    );
    assert!(Checkpoints::new(&mut flash, 2048, 1024).is_ok());
    // A write unit that does not divide the 256-byte buffer.
    let mut odd = Nor::<1, 3, 1024>::new(4096);
    assert_eq!(
        Checkpoints::new(&mut odd, 0, 1024).map(|_| ()),
        e(Geometry::Unit)
    );
    let mut big = Nor::<1, 512, 1024>::new(4096);
    assert_eq!(
        Checkpoints::new(&mut big, 0, 1024).map(|_| ()),
        e(Geometry::Unit)
    );
}

#[test]
fn slot_too_small_touches_nothing() {
    const BIG: Spec = Spec::new(&[Layer::dense(20, 20), Layer::relu(), Layer::dense(20, 20)]);
    const CBIG: Config = Config::new(1, Loss::Mse, Optimizer::sgd(0.1));
    let (mut flash, _) = setup();
    let mut arena = vec![0.0f32; CBIG.arena_len(&BIG)];
    let mut net = Network::new(BIG, CpuBackend::new(&mut arena), CBIG).unwrap();
    let mut ck = Checkpoints::new(&mut flash, 0, 1024).unwrap();
    let needed = checkpoint::slot_len_for::<Flash>(&BIG, OptimizerKind::Sgd);
    // 840 parameters: 16 + 3,380 + 56 bytes, 4 pages (a restore needs a
    // slot of format 1, 16 + 3,380 bytes: 4 pages too).
    assert_eq!(needed, 4096);
    let err = Err(CheckpointError::SlotTooSmall {
        needed,
        slot_len: 1024,
    });
    assert_eq!(ck.save(&mut net).map(|_| ()), err);
    assert_eq!(ck.restore(&mut net).map(|_| ()), err);
    assert!(flash.mem.iter().all(|&b| b == 0xFF));
}

#[test]
fn a_nan_parameter_is_refused_before_flash_is_touched() {
    let (mut flash, mut arena) = setup();
    let mut net = Network::new(NET, CpuBackend::new(&mut arena), CFG).unwrap();
    let mut ck = Checkpoints::new(&mut flash, 0, SLOT as u32).unwrap();
    ck.save(&mut net).unwrap();
    let snapshot = ck.flash_mut().mem.clone();
    let at = net.layout().params.offset + 7;
    microprop::Backend::upload(net.backend_mut(), at, &[f32::NAN]).unwrap();
    assert_eq!(
        ck.save(&mut net),
        Err(CheckpointError::Blob(BlobError::NonFinite { index: 7 }))
    );
    assert_eq!(ck.flash_mut().mem, snapshot);
}

#[test]
fn saves_alternate_slots_and_restore_takes_the_newest_valid() {
    let (mut flash, mut arena) = setup();
    let mut net = Network::new(NET, CpuBackend::new(&mut arena), CFG).unwrap();
    let mut ck = Checkpoints::new(&mut flash, 0, SLOT as u32).unwrap();
    let mut models = vec![];
    for (seq, slot) in [(1, Slot::A), (2, Slot::B), (3, Slot::A)] {
        net.train_step(&[0.5; 24], Targets::Values(&[0.1; 12]))
            .unwrap();
        models.push(params(&mut net));
        assert_eq!(ck.save(&mut net).map(|s| (s.seq, s.slot)), Ok((seq, slot)));
    }
    assert_eq!(
        ck.inspect(&NET),
        Ok([SlotState::Valid { seq: 3 }, SlotState::Valid { seq: 2 }])
    );
    let mut arena2 = vec![0.0f32; ARENA];
    let mut other = Network::new(NET, CpuBackend::new(&mut arena2), CFG.with_seed(5)).unwrap();
    assert_eq!(ck.restore(&mut other).map(|r| r.seq), Ok(3));
    assert_eq!(params(&mut other), models[2]);

    // Bit rot in the newest blob's last payload byte: slot B (seq 2) is used.
    let last = 16 + 512 - 1;
    ck.flash_mut().mem[last] ^= 0x10;
    let [a, b] = ck.inspect(&NET).unwrap();
    assert!(matches!(a, SlotState::Blob(BlobError::Crc { .. })), "{a:?}");
    assert_eq!(b, SlotState::Valid { seq: 2 });
    assert_eq!(ck.restore(&mut other).map(|r| r.seq), Ok(2));
    assert_eq!(params(&mut other), models[1]);
    // The next save goes into the broken slot and takes sequence number 4.
    assert_eq!(ck.save(&mut net).map(|s| (s.seq, s.slot)), Ok((4, Slot::A)));

    // A torn slot header in both: nothing valid, and why.
    ck.flash_mut().mem[5] ^= 0x01;
    ck.flash_mut().mem[SLOT + 9] ^= 0x01;
    let before = params(&mut other);
    assert_eq!(
        ck.restore(&mut other),
        Err(CheckpointError::NoValidCheckpoint {
            a: SlotState::HeaderCrc,
            b: SlotState::HeaderCrc
        })
    );
    assert_eq!(params(&mut other), before);
}

#[test]
fn a_checkpoint_of_another_network_is_not_restored() {
    const OTHER: Spec = Spec::new(&[Layer::dense(6, 12), Layer::relu(), Layer::dense(12, 3)]);
    let (mut flash, mut arena) = setup();
    let mut net = Network::new(OTHER, CpuBackend::new(&mut arena), CFG).unwrap();
    let mut ck = Checkpoints::new(&mut flash, 0, SLOT as u32).unwrap();
    ck.save(&mut net).unwrap();
    let mut arena2 = vec![0.0f32; ARENA];
    let mut mine = Network::new(NET, CpuBackend::new(&mut arena2), CFG).unwrap();
    assert_eq!(
        ck.restore(&mut mine),
        Err(CheckpointError::NoValidCheckpoint {
            a: SlotState::Blob(BlobError::Spec {
                expected: NET.hash(),
                found: OTHER.hash()
            }),
            b: SlotState::Erased
        })
    );
    // A different size is caught by the slot header already.
    const SMALL: Spec = Spec::new(&[Layer::dense(6, 3)]);
    let c = Config::new(1, Loss::Mse, Optimizer::sgd(0.1));
    let mut arena3 = vec![0.0f32; c.arena_len(&SMALL)];
    let mut small = Network::new(SMALL, CpuBackend::new(&mut arena3), c).unwrap();
    assert!(matches!(
        ck.restore(&mut small),
        Err(CheckpointError::NoValidCheckpoint {
            a: SlotState::Length { found: 512 },
            b: SlotState::Erased
        })
    ));
}

/// Rewrite the slot header at `at` with sequence number `seq` (and a
/// matching CRC), for a 512-byte blob.
fn set_seq(mem: &mut [u8], at: usize, seq: u32) {
    let mut h = [0u8; 16];
    h[..4].copy_from_slice(&mem[at..at + 4]);
    h[4..8].copy_from_slice(&seq.to_le_bytes());
    h[8..12].copy_from_slice(&512u32.to_le_bytes());
    let crc = blob::crc32(&h[..12]);
    h[12..16].copy_from_slice(&crc.to_le_bytes());
    mem[at..at + 16].copy_from_slice(&h);
}

#[test]
fn serial_number_comparison() {
    // a is newer than b when a - b (mod 2^32) is in 1..2^31.
    assert!(checkpoint::newer(2, 1));
    assert!(!checkpoint::newer(1, 2));
    assert!(!checkpoint::newer(7, 7));
    assert!(checkpoint::newer(0, u32::MAX)); // 0 - (2^32 - 1) = 1
    assert!(!checkpoint::newer(u32::MAX, 0)); // 2^32 - 1
    assert!(checkpoint::newer(5, u32::MAX - 3)); // 9
    assert!(checkpoint::newer((1 << 31) - 1, 0)); // 2^31 - 1: the farthest
    assert!(!checkpoint::newer(1 << 31, 0)); // 2^31: neither is newer
    assert!(!checkpoint::newer(0, 1 << 31));
}

#[test]
fn a_header_at_the_last_sequence_number_does_not_stop_saves() {
    let (mut flash, mut arena) = setup();
    let mut net = Network::new(NET, CpuBackend::new(&mut arena), CFG).unwrap();
    let mut ck = Checkpoints::new(&mut flash, 0, SLOT as u32).unwrap();
    ck.save(&mut net).unwrap();
    // Slot A's header now says u32::MAX (with a matching CRC).
    set_seq(&mut ck.flash_mut().mem, 0, u32::MAX);
    assert_eq!(
        ck.inspect(&NET).unwrap(),
        [SlotState::Valid { seq: u32::MAX }, SlotState::Erased]
    );
    let mut arena2 = vec![0.0f32; ARENA];
    let mut other = Network::new(NET, CpuBackend::new(&mut arena2), CFG.with_seed(5)).unwrap();
    // After u32::MAX comes 0, then 1, 2, ...; the slots alternate, and each
    // restore gives the model just saved.
    let want = [
        (0, Slot::B),
        (1, Slot::A),
        (2, Slot::B),
        (3, Slot::A),
        (4, Slot::B),
    ];
    for (seq, slot) in want {
        net.train_step(&[0.25; 24], Targets::Values(&[0.5; 12]))
            .unwrap();
        let model = params(&mut net);
        assert_eq!(ck.save(&mut net).map(|s| (s.seq, s.slot)), Ok((seq, slot)));
        assert_eq!(
            ck.restore(&mut other).map(|r| (r.seq, r.slot)),
            Ok((seq, slot))
        );
        assert_eq!(params(&mut other), model, "seq {seq}");
    }
    assert_eq!(
        ck.inspect(&NET).unwrap(),
        [SlotState::Valid { seq: 3 }, SlotState::Valid { seq: 4 }]
    );
}

#[test]
fn headers_far_apart_cannot_hide_a_save() {
    let (mut flash, mut arena) = setup();
    let mut net = Network::new(NET, CpuBackend::new(&mut arena), CFG).unwrap();
    let mut ck = Checkpoints::new(&mut flash, 0, SLOT as u32).unwrap();
    ck.save(&mut net).unwrap();
    let first = params(&mut net);
    ck.save(&mut net).unwrap();
    // Slot A: a valid checkpoint with seq 5. Slot B: an intact header with
    // seq 5 + 2^31 - 1 (newer than 5) over a broken blob.
    set_seq(&mut ck.flash_mut().mem, 0, 5);
    set_seq(&mut ck.flash_mut().mem, SLOT, 5 + (1 << 31) - 1);
    ck.flash_mut().mem[SLOT + 16 + 300] ^= 0x01;
    let [a, b] = ck.inspect(&NET).unwrap();
    assert_eq!(a, SlotState::Valid { seq: 5 });
    assert!(matches!(b, SlotState::Blob(BlobError::Crc { .. })), "{b:?}");
    let mut arena2 = vec![0.0f32; ARENA];
    let mut other = Network::new(NET, CpuBackend::new(&mut arena2), CFG.with_seed(5)).unwrap();
    assert_eq!(ck.restore(&mut other).map(|r| r.seq), Ok(5));
    assert_eq!(params(&mut other), first);
    // One more than B's header would be 5 + 2^31, exactly 2^31 from A's:
    // not newer. The save takes 6, newer than A's 5, and is restored.
    net.train_step(&[0.25; 24], Targets::Values(&[0.5; 12]))
        .unwrap();
    let model = params(&mut net);
    assert_eq!(ck.save(&mut net).map(|s| (s.seq, s.slot)), Ok((6, Slot::B)));
    assert_eq!(
        ck.restore(&mut other).map(|r| (r.seq, r.slot)),
        Ok((6, Slot::B))
    );
    assert_eq!(params(&mut other), model);

    // Two valid checkpoints exactly 2^31 apart: neither is newer, slot A is
    // taken, and the next save (into B) is newer than A's.
    set_seq(&mut ck.flash_mut().mem, SLOT, 5 + (1 << 31));
    assert_eq!(
        ck.restore(&mut other).map(|r| (r.seq, r.slot)),
        Ok((5, Slot::A))
    );
    assert_eq!(params(&mut other), first);
    assert_eq!(ck.save(&mut net).map(|s| (s.seq, s.slot)), Ok((6, Slot::B)));
    assert_eq!(
        ck.restore(&mut other).map(|r| (r.seq, r.slot)),
        Ok((6, Slot::B))
    );
}

#[test]
fn flash_errors_and_failed_verification_are_typed_and_not_committed() {
    let (mut flash, mut arena) = setup();
    let mut net = Network::new(NET, CpuBackend::new(&mut arena), CFG).unwrap();
    flash.off = true;
    let mut ck = Checkpoints::new(&mut flash, 0, SLOT as u32).unwrap();
    assert_eq!(
        ck.save(&mut net),
        Err(CheckpointError::Flash(SimError::PowerCut))
    );
    assert_eq!(
        ck.restore(&mut net),
        Err(CheckpointError::Flash(SimError::PowerCut))
    );
    ck.flash_mut().off = false;
    // A byte of the payload that does not program: read-back catches it.
    ck.flash_mut().stuck = Some(16 + 100);
    assert_eq!(
        ck.save(&mut net),
        Err(CheckpointError::Verify { slot: Slot::A })
    );
    assert_eq!(ck.inspect(&NET).unwrap()[0], SlotState::Erased);
}

// ---- read faults during restore ---------------------------------------

/// How a campaign restores.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Via {
    /// `restore`: staged in the gradient span.
    Restore,
    /// `restore_with`: staged in a scratch slice.
    Scratch,
}

/// What a restore under one fault must do.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Outcome {
    /// Return this error and leave the model bit-identical.
    Err(CheckpointError<SimError, microprop_cpu::CpuError>),
    /// Return no valid checkpoint (the only slot read as broken).
    NoValid,
    /// Restore the checkpoint with this sequence number from this slot.
    Ok(u32, Slot),
}

/// A model as a restore must leave it, in bits: parameters, optimizer
/// state, Adam's step count, learning rate.
#[derive(Clone, Debug, PartialEq)]
struct Model {
    params: Vec<u32>,
    state: Vec<u32>,
    steps: u64,
    lr: u64,
}

fn model(net: &Network<'_, CpuBackend<'_, f32>>) -> Model {
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

/// The network a read-fault campaign restores into: other parameters,
/// state, step count and learning rate than any saved, and (unfused)
/// accumulated gradients.
fn target(cfg: Config, arena: &mut [f32]) -> Network<'_, CpuBackend<'_, f32>> {
    let mut net = Network::new(NET, CpuBackend::new(arena), cfg.with_seed(77)).unwrap();
    net.set_lr(0.005).unwrap();
    for i in 0..3 {
        let x: Vec<f32> = (0..24)
            .map(|j| ((i * 24 + j) as f32 * 0.37).sin())
            .collect();
        net.train_step(&x, Targets::Values(&[0.1; 12])).unwrap();
    }
    if cfg.optimizer.kind() != OptimizerKind::FusedSgd {
        // Accumulated gradients, as between `backward` and `step`.
        net.forward(&[0.7; 24]).unwrap();
        net.loss(Targets::Values(&[0.0; 12])).unwrap();
        net.backward().unwrap();
    }
    net
}

/// Restore from flash holding slot A (seq 1, model 1) and, if `both`, slot
/// B (seq 2, model 2), saved with `cfg`'s optimizer (parameters, state,
/// step count, learning rate, tag = seq), into a network `cfg` whose arena
/// holds a third model (other parameters, state, step count and learning
/// rate) and (unfused) accumulated gradients; once cleanly, then with one
/// fault at each read: a failed read, a read with one bit flipped (every
/// meaningful byte of the read in turn), and (with two slots) a second
/// read of slot B that returns slot A's complete, valid checkpoint. After
/// every fault, the outcome derived from where the read falls, and nothing
/// else changed: on an error the parameters, optimizer state, step count
/// and learning rate are bit-identical, and so is the rest of the arena
/// (through `restore`, the gradients are as before or zero and the
/// working space may differ: it staged); on a fallback to the other slot,
/// exactly that slot's model. Returns the number of faults injected.
fn read_fault_campaign<const R: usize, const W: usize, const E: usize>(
    both: bool,
    cfg: Config,
    via: Via,
) -> usize {
    let kind = cfg.optimizer.kind();
    let slot = checkpoint::slot_len_for::<Nor<R, W, E>>(&NET, kind);
    let mut flash = Nor::<R, W, E>::new(2 * slot);
    let mut arena = vec![0.0f32; cfg.arena_len(&NET)];
    let mut saver = Network::new(NET, CpuBackend::new(&mut arena), cfg).unwrap();
    let mut models = vec![];
    let mut ck = Checkpoints::new(&mut flash, 0, slot as u32).unwrap();
    for seq in 1..=if both { 2 } else { 1 } {
        saver.set_lr(0.01 * seq as f64 + 0.01).unwrap();
        saver
            .train_step(&[0.3; 24], Targets::Values(&[-0.2; 12]))
            .unwrap();
        models.push(model(&saver));
        ck.save_tagged(&mut saver, seq).unwrap();
    }
    let newest = if both { Slot::B } else { Slot::A };

    let fused = kind == OptimizerKind::FusedSgd;
    let mut arena2 = vec![0.0f32; cfg.arena_len(&NET)];
    let net = target(cfg, &mut arena2);
    let layout = *net.layout();
    let before: Vec<u32> = net.backend().arena().iter().map(|v| v.to_bits()).collect();
    let before_model = model(&net);
    let (g0, g1) = (layout.grads.offset, layout.grads.end());
    let (s0, s1) = (layout.state.offset, layout.state.end());
    assert!(fused || before[g0..g1].iter().any(|&b| b != 0));
    let mut scratch = vec![0.0f32; checkpoint::resume_scratch_len(&NET, kind)];

    // Reads of a restore, by their meaningful bytes: per slot its header
    // (16 bytes), its blob (512 bytes in 2 reads), its state header (56
    // bytes) and its state (4 bytes per element, in reads of 256); slot
    // B's header only if not written; the chosen slot's blob, state header
    // and state again.
    let pieces = |n: usize| -> Vec<usize> {
        (0..n.div_ceil(256))
            .map(|i| (n - 256 * i).min(256))
            .collect()
    };
    let body: Vec<usize> = [
        pieces(512),
        vec![56],
        pieces(4 * P * kind.state_per_param()),
    ]
    .concat();
    let mut lens = vec![16];
    lens.extend(&body);
    let survey_a = lens.len();
    lens.push(16);
    if both {
        lens.extend(&body);
    }
    let survey = lens.len();
    lens.extend(&body);

    let mut run = |fault: Option<ReadFault>, want: Outcome| {
        let mut arena = vec![0.0f32; cfg.arena_len(&NET)];
        let mut net = target(cfg, &mut arena);
        let net = &mut net;
        let mut f = flash.clone();
        f.read_fault = fault;
        f.reads = 0;
        let mut ck = Checkpoints::new(&mut f, 0, slot as u32).unwrap();
        let r = match via {
            Via::Restore => ck.restore(net),
            Via::Scratch => ck.restore_with(net, &mut scratch),
        };
        let reads = f.reads;
        let after: Vec<u32> = net.backend().arena().iter().map(|v| v.to_bits()).collect();
        let got = model(net);
        let ctx = format!("{fault:?}");
        let grads_zero = after[g0..g1].iter().all(|&b| b == 0);
        let grads_same = after[g0..g1] == before[g0..g1];
        match via {
            // The working space after the state: staging, or untouched.
            Via::Restore => {}
            Via::Scratch => assert_eq!(after[s1..], before[s1..], "{ctx}"),
        }
        match want {
            Outcome::Ok(seq, slot) => {
                assert_eq!(
                    r,
                    Ok(checkpoint::Restored {
                        seq,
                        slot,
                        state: true,
                        tag: seq as u64
                    }),
                    "{ctx}"
                );
                assert_eq!(got, models[seq as usize - 1], "{ctx}");
                match via {
                    Via::Restore => assert!(grads_zero, "{ctx}"),
                    Via::Scratch => assert!(grads_same, "{ctx}"),
                }
            }
            Outcome::Err(_) | Outcome::NoValid => {
                match want {
                    Outcome::Err(e) => assert_eq!(r, Err(e), "{ctx}"),
                    _ => assert!(
                        matches!(r, Err(CheckpointError::NoValidCheckpoint { .. })),
                        "{ctx}: {r:?}"
                    ),
                }
                assert_eq!(got, before_model, "{ctx}");
                assert_eq!(after[..g0], before[..g0], "{ctx}");
                assert_eq!(after[s0..s1], before[s0..s1], "{ctx}");
                match via {
                    Via::Restore => assert!(grads_same || grads_zero, "{ctx}"),
                    Via::Scratch => assert!(grads_same, "{ctx}"),
                }
            }
        }
        reads
    };

    // The clean restore, and how many reads it takes.
    let newest_seq = models.len() as u32;
    assert_eq!(run(None, Outcome::Ok(newest_seq, newest)), lens.len());

    let mut injected = 0;
    let fail: Outcome = Outcome::Err(CheckpointError::Flash(SimError::ReadFault));
    for (k, &len) in lens.iter().enumerate() {
        let at = |kind| {
            Some(ReadFault {
                from: k,
                until: k + 1,
                kind,
            })
        };
        run(at(FaultKind::Fail), fail);
        injected += 1;
        // A flipped bit: in the survey it breaks that slot (the other one,
        // if valid, is restored); in the second read it is caught.
        let flip = if k < survey_a {
            if both {
                Outcome::Ok(2, Slot::B)
            } else {
                Outcome::NoValid
            }
        } else if k < survey {
            Outcome::Ok(1, Slot::A)
        } else {
            Outcome::Err(CheckpointError::Verify { slot: newest })
        };
        for byte in 0..len {
            let mask = 1u8 << ((byte + k) % 8);
            run(at(FaultKind::Flip { byte, mask }), flip);
            injected += 1;
        }
    }
    if both {
        // The second read of slot B returns slot A's valid checkpoint (the
        // same header, blob and state section, seq 1): not what was
        // validated.
        let fault = Some(ReadFault {
            from: survey,
            until: lens.len(),
            kind: FaultKind::Elsewhere {
                delta: -(slot as isize),
            },
        });
        run(
            fault,
            Outcome::Err(CheckpointError::Verify { slot: Slot::B }),
        );
        injected += 1;
    }
    injected
}

#[test]
fn every_failing_or_inconsistent_read_leaves_the_model_bit_identical() {
    let momentum = CFG;
    let adam = Config::new(4, Loss::Mse, Optimizer::adam(0.01));
    let sgd = Config::new(4, Loss::Mse, Optimizer::sgd(0.05));
    let fused = Config::new(4, Loss::Mse, Optimizer::fused_sgd(0.05));
    let counts = [
        read_fault_campaign::<1, 4, 1024>(true, momentum, Via::Restore),
        read_fault_campaign::<1, 4, 1024>(false, momentum, Via::Restore),
        read_fault_campaign::<4, 16, 256>(true, adam, Via::Restore),
        read_fault_campaign::<4, 16, 256>(false, sgd, Via::Restore),
        read_fault_campaign::<1, 4, 1024>(true, fused, Via::Restore),
        read_fault_campaign::<1, 4, 1024>(true, momentum, Via::Scratch),
        read_fault_campaign::<4, 16, 256>(true, adam, Via::Scratch),
        read_fault_campaign::<4, 16, 256>(true, fused, Via::Scratch),
    ];
    let total: usize = counts.iter().sum();
    println!("read faults injected into restores and survived: {total} {counts:?}");
    // Momentum, two slots: 17 reads (per slot: header, blob in 2, state
    // header, 492 bytes of velocities in 2; then B's blob, state header and
    // velocities again), each failed once; each meaningful byte flipped
    // once (per slot 16 + 512 + 56 + 492 bytes, then 512 + 56 + 492 again);
    // one second read of B that returns A.
    assert_eq!(counts[0], 17 + 2 * 1076 + 1060 + 1);
    // One slot: 12 reads (B's erased header only).
    assert_eq!(counts[1], 12 + 1076 + 16 + 1060);
    // Adam, two slots: 984 bytes of moments in 4 reads: 8 reads per slot
    // and 7 again; 2 × 1568 + 1552 bytes.
    assert_eq!(counts[2], 23 + 2 * 1568 + 1552 + 1);
}

#[test]
fn a_restore_without_room_to_stage_is_refused_before_applying() {
    // Adam at batch 1: applying the state needs 123 + 246 staged elements;
    // the gradient span (123) and the working space are shorter.
    let adam1 = Config::new(1, Loss::Mse, Optimizer::adam(0.01));
    let (mut flash, mut arena) = setup();
    let mut net = Network::new(NET, CpuBackend::new(&mut arena), adam1).unwrap();
    net.train_step(&[0.5; 6], Targets::Values(&[0.1; 3]))
        .unwrap();
    let mut ck = Checkpoints::new(&mut flash, 0, SLOT as u32).unwrap();
    ck.save(&mut net).unwrap();
    let saved = model(&net);
    let mut arena2 = vec![0.0f32; adam1.arena_len(&NET)];
    let mut other = Network::new(NET, CpuBackend::new(&mut arena2), adam1.with_seed(9)).unwrap();
    let l = *other.layout();
    let available = l.grads.len + (l.len - l.state.end());
    assert!(available < 369, "{available}");
    let before = other.backend().arena().to_vec();
    assert_eq!(
        ck.restore(&mut other),
        Err(CheckpointError::Staging {
            needed: 369,
            available
        })
    );
    assert_eq!(other.backend().arena(), &before[..]);
    ck.flash_mut().reads = 0;
    let mut short = vec![0.0f32; 122];
    assert_eq!(
        ck.restore_with(&mut other, &mut short),
        Err(CheckpointError::Staging {
            needed: 123,
            available: 122
        })
    );
    assert_eq!(ck.flash_mut().reads, 0);
    // Room for the parameters, not for the state: refused after the
    // survey, before anything is staged.
    let mut params_only = vec![0.0f32; 368];
    assert_eq!(
        ck.restore_with(&mut other, &mut params_only),
        Err(CheckpointError::Staging {
            needed: 369,
            available: 368
        })
    );
    assert!(params_only.iter().all(|&v| v == 0.0));
    assert_eq!(other.backend().arena(), &before[..]);
    // A longer scratch is fine: its first 369 elements are used.
    let mut long = vec![0.0f32; 400];
    let r = ck.restore_with(&mut other, &mut long).unwrap();
    assert!(r.state);
    assert_eq!(model(&other), saved);
}

#[test]
fn a_restore_makes_the_last_forward_pass_stale() {
    let (mut flash, mut arena) = setup();
    let mut net = Network::new(NET, CpuBackend::new(&mut arena), CFG).unwrap();
    let mut ck = Checkpoints::new(&mut flash, 0, SLOT as u32).unwrap();
    ck.save(&mut net).unwrap();
    let stale = Err(microprop::Error::OutOfOrder {
        called: "loss",
        needs: "forward",
    });
    let mut arena2 = vec![0.0f32; ARENA];
    let mut other = Network::new(NET, CpuBackend::new(&mut arena2), CFG.with_seed(5)).unwrap();
    let mut scratch = vec![0.0f32; checkpoint::resume_scratch_len(&NET, MOMENTUM)];
    for via in [Via::Restore, Via::Scratch] {
        // The activations are those of the old parameters.
        other.forward(&[0.5; 24]).unwrap();
        let r = match via {
            Via::Restore => ck.restore(&mut other),
            Via::Scratch => ck.restore_with(&mut other, &mut scratch),
        };
        assert_eq!(r.map(|r| r.seq), Ok(1));
        assert_eq!(other.loss(Targets::Values(&[0.0; 12])), stale, "{via:?}");
        other.forward(&[0.5; 24]).unwrap();
        assert!(other.loss(Targets::Values(&[0.0; 12])).is_ok());
    }
}
