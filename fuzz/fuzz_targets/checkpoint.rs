//! Checkpoint restore (`core/src/checkpoint.rs`) from arbitrary flash images.
//!
//! Each input picks a network (spec, optimizer), a RAM NOR flash image
//! (erased, or filled with the fuzz bytes), the region and slot length
//! (usually right, sometimes wrong), saves 0–3 checkpoints of different
//! parameters, then damages the flash at fuzz-chosen places (bit flips,
//! bytes overwritten, a page erased or zeroed, a torn write), may arm a
//! failing or a bit-flipping read at a chosen read index, and runs
//! `Checkpoints::inspect`, `restore` and `restore_with` (scratch of a
//! fuzz-chosen length) into a network with other parameters. Properties:
//!
//! - nothing panics;
//! - `save` never changes the network's parameters or optimizer state;
//! - an `Err` from `restore`/`restore_with` leaves the parameters and the
//!   optimizer state bit-identical;
//! - an `Ok(Restored { seq, .. })` leaves parameters bit-identical to those
//!   of the checkpoint saved with that sequence number in this run (the
//!   fuzzer cannot forge the CRCs), all finite;
//! - without injected read faults, a restore that fails with
//!   `NoValidCheckpoint` means `inspect` sees no valid slot, and a
//!   successful one restores the newer valid slot `inspect` reports.
#![no_main]

use embedded_storage::nor_flash::{ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash};
use libfuzzer_sys::fuzz_target;
use microprop::checkpoint::{self, CheckpointError, Checkpoints, SlotState};
use microprop::{Config, Layer, Loss, Network, Optimizer, Spec, Targets};
use microprop_cpu::CpuBackend;
use microprop_fuzz::Bytes;

const ERASE: usize = 256;

/// A RAM NOR flash (writes AND bits in, erase sets 0xFF) whose reads can
/// be made to fail, or to return one flipped bit, at one read index.
struct Ram {
    mem: Vec<u8>,
    reads: u32,
    fail_at: Option<u32>,
    flip_at: Option<(u32, usize, u8)>,
}

impl ErrorType for Ram {
    type Error = NorFlashErrorKind;
}

impl ReadNorFlash for Ram {
    const READ_SIZE: usize = 1;
    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        let at = offset as usize;
        let src = self
            .mem
            .get(at..at + bytes.len())
            .ok_or(NorFlashErrorKind::OutOfBounds)?;
        let n = self.reads;
        self.reads += 1;
        if self.fail_at == Some(n) {
            return Err(NorFlashErrorKind::Other);
        }
        bytes.copy_from_slice(src);
        if let Some((i, pos, bit)) = self.flip_at {
            if i == n && !bytes.is_empty() {
                bytes[pos % bytes.len()] ^= 1 << (bit % 8);
            }
        }
        Ok(())
    }
    fn capacity(&self) -> usize {
        self.mem.len()
    }
}

impl NorFlash for Ram {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = ERASE;
    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        let (from, to) = (from as usize, to as usize);
        if from > to || to > self.mem.len() || from % ERASE != 0 || to % ERASE != 0 {
            return Err(NorFlashErrorKind::OutOfBounds);
        }
        self.mem[from..to].fill(0xFF);
        Ok(())
    }
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        let at = offset as usize;
        let dst = self
            .mem
            .get_mut(at..at + bytes.len())
            .ok_or(NorFlashErrorKind::OutOfBounds)?;
        for (m, d) in dst.iter_mut().zip(bytes) {
            *m &= d;
        }
        Ok(())
    }
}

const SPECS: [Spec; 3] = [
    Spec::new(&[Layer::dense(3, 4), Layer::relu(), Layer::dense(4, 2)]),
    Spec::new(&[Layer::dense(2, 1)]),
    Spec::new(&[Layer::maxout(3, 2, 2), Layer::tanh(), Layer::dense(2, 3)]),
];

fn config(r: &mut Bytes) -> Config {
    let opt = match r.below(4) {
        0 => Optimizer::sgd(0.1),
        1 => Optimizer::fused_sgd(0.1),
        2 => Optimizer::momentum(0.1, 0.9),
        _ => Optimizer::adam(0.01),
    };
    Config::new(2, Loss::Mse, opt).with_seed(r.u64())
}

type Net<'a> = Network<'static, CpuBackend<'a, f32>>;

/// Parameters and optimizer state, as bits.
fn snap(net: &Net) -> (Vec<u32>, Vec<u32>) {
    let l = *net.layout();
    let a = net.backend().arena();
    let bits = |s: microprop::Span| a[s.offset..s.end()].iter().map(|v| v.to_bits()).collect();
    (bits(l.params), bits(l.state))
}

fuzz_target!(|data: &[u8]| {
    let mut r = Bytes::new(data);
    let spec = SPECS[r.below(SPECS.len())];
    let cfg = config(&mut r);
    let right = checkpoint::slot_len::<Ram>(&spec);
    let slot_len = match r.u8() % 16 {
        0 => r.below(4) * ERASE,
        1 => right + ERASE,
        2 => r.u32() as usize,
        3 => right.saturating_sub(ERASE),
        _ => right,
    };
    let base = match r.u8() % 16 {
        0 => r.below(3) * ERASE + if r.bool() { 4 } else { 0 },
        1 => r.u32() as usize,
        _ => 0,
    };
    let cap = (base.min(1 << 16) + 2 * slot_len.min(1 << 16) + r.below(2) * ERASE)
        .next_multiple_of(ERASE)
        .min(1 << 17);
    let mem = if r.u8() < 128 {
        vec![0xFF; cap]
    } else {
        (0..cap).map(|_| r.u8()).collect()
    };
    let flash = Ram {
        mem,
        reads: 0,
        fail_at: None,
        flip_at: None,
    };
    let Ok(mut ckpt) = Checkpoints::new(flash, base as u32, slot_len as u32) else {
        return;
    };

    // Save 0-3 checkpoints of different parameters.
    let mut arena = vec![0.0f32; cfg.arena_len(&spec)];
    let mut net = Network::new(spec, CpuBackend::new(&mut arena), cfg).expect("network");
    let p = spec.param_count();
    let mut saved: Vec<(u32, Vec<u32>)> = Vec::new();
    for _ in 0..r.below(4) {
        if r.bool() {
            let params: Vec<f32> = (0..p).map(|_| r.f64_small() as f32).collect();
            net.load_parameters(&params).expect("load");
        } else {
            let x: Vec<f32> = (0..2 * spec.inputs())
                .map(|_| r.f64_small() as f32)
                .collect();
            let y: Vec<f32> = (0..2 * spec.outputs())
                .map(|_| r.f64_small() as f32)
                .collect();
            let _ = net.train_step(&x, Targets::Values(&y));
        }
        let before = snap(&net);
        let res = ckpt.save(&mut net);
        assert!(snap(&net) == before, "save changed the network: {res:?}");
        if let Ok(s) = res {
            saved.push((s.seq, before.0));
        }
    }

    // Damage.
    for _ in 0..r.below(5) {
        let mem = &mut ckpt.flash_mut().mem;
        let len = mem.len();
        let at = r.below(len);
        match r.u8() % 8 {
            0 | 1 => mem[at] ^= 1 << r.below(8),
            2 => mem[at] = r.u8(),
            3 => {
                let page = at / ERASE * ERASE;
                mem[page..(page + ERASE).min(len)].fill(0xFF);
            }
            4 => {
                let page = at / ERASE * ERASE;
                mem[page..(page + ERASE).min(len)].fill(0);
            }
            // A torn write: the rest of a page erased from `at` on.
            5 => {
                let end = (at / ERASE + 1) * ERASE;
                mem[at..end.min(len)].fill(0xFF);
            }
            _ => {
                let n = r.below(16).min(len - at);
                for b in &mut mem[at..at + n] {
                    *b = r.u8();
                }
            }
        }
    }
    let faulty = r.u8() < 64;
    if faulty {
        let f = ckpt.flash_mut();
        f.reads = 0;
        if r.bool() {
            f.fail_at = Some(r.below(64) as u32);
        } else {
            f.flip_at = Some((r.below(64) as u32, r.below(256), r.u8()));
        }
    }

    // Inspect and restore into a network with other parameters.
    let other = if r.u8() < 16 {
        SPECS[r.below(SPECS.len())]
    } else {
        spec
    };
    let states = ckpt.inspect(&other);
    let cfg2 = config(&mut r);
    let mut arena2 = vec![0.0f32; cfg2.arena_len(&other)];
    let mut net2 = Network::new(other, CpuBackend::new(&mut arena2), cfg2).expect("network");
    let before = snap(&net2);
    let with = r.bool();
    let res = if with {
        let n = match r.u8() % 8 {
            0 => p.saturating_sub(1),
            1 => 0,
            2 => 3 * p,
            _ => checkpoint::restore_scratch_len(&other).max(other.param_count() * 3),
        };
        let mut scratch = vec![0.0f32; n];
        ckpt.restore_with(&mut net2, &mut scratch)
    } else {
        ckpt.restore(&mut net2)
    };
    let after = snap(&net2);
    match &res {
        Err(e) => {
            let _ = e.to_string();
            assert!(after == before, "a failed restore changed the model: {e:?}");
            if !faulty && matches!(e, CheckpointError::NoValidCheckpoint { .. }) {
                if let Ok(s) = states {
                    assert!(
                        !s.iter().any(|s| matches!(s, SlotState::Valid { .. })),
                        "restore found no valid checkpoint, inspect did: {s:?}"
                    );
                }
            }
        }
        Ok(restored) => {
            assert!(
                other.hash() == spec.hash(),
                "restored a checkpoint of another network"
            );
            let Some((_, params)) = saved.iter().rev().find(|(s, _)| *s == restored.seq) else {
                panic!(
                    "restored seq {} that was never saved: {saved:?}",
                    restored.seq
                );
            };
            assert!(
                after.0 == *params,
                "restored parameters differ from the saved ones"
            );
            assert!(after.0.iter().all(|b| f32::from_bits(*b).is_finite()));
            if !faulty {
                if let Ok(s) = states {
                    let valid: Vec<u32> = s
                        .iter()
                        .filter_map(|s| match s {
                            SlotState::Valid { seq } => Some(*seq),
                            _ => None,
                        })
                        .collect();
                    assert!(valid.contains(&restored.seq), "{s:?} {restored:?}");
                    assert!(
                        !valid.iter().any(|&v| checkpoint::newer(v, restored.seq)),
                        "restored {restored:?}, but a newer slot is valid: {s:?}"
                    );
                }
            }
        }
    }
});
