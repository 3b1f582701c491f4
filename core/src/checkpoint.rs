//! Power-safe, resumable checkpoints: a model's parameters, as a device
//! [blob], and its optimizer state, in NOR flash through the
//! `embedded-storage` [`NorFlash`] traits, in two slots (A/B), so that a
//! power cut at any moment of a save leaves either the previous or the new
//! checkpoint restorable, never a broken one, and a device that lost power
//! mid-training resumes bit for bit as if never interrupted.
//!
//! # Layout
//!
//! A region of two equal slots, `slot_len` bytes each (a multiple of the
//! flash's `ERASE_SIZE`; size it with [`slot_len_for`] or [`slot_len`]),
//! at `region_offset` (erase-aligned). Each slot (format 2):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | slot magic [`SLOT_MAGIC_STATE`] `b"MPC2"` |
//! | 4 | 4 | sequence number, u32 LE (1 for the first save) |
//! | 8 | 4 | blob length in bytes, u32 LE |
//! | 12 | 4 | CRC-32 of bytes `0..12` |
//! | `u` | `blob_len` | the device blob (its own header and CRC-32) |
//! | `s = u + ⌈blob_len⌉` | 56 | the optimizer-state header (below) |
//! | `s + ⌈56⌉` | `4 · count` | the optimizer state, f32 LE |
//!
//! where `u` is the slot header rounded up to the flash's write unit
//! (`max(READ_SIZE, WRITE_SIZE)`) and `⌈n⌉` is `n` rounded up to it; every
//! read and write is unit-aligned and a partial last unit is padded with
//! `0xFF`.
//!
//! # Optimizer state: what a save carries
//!
//! Everything the next [`Network::train_step`] reads besides the
//! parameters and the configuration: the state span (momentum's velocity,
//! or Adam's `m` then `v`; none for SGD), Adam's step count `t` and its
//! bias-correction powers `β1ᵗ`, `β2ᵗ` (as f64 bits), the learning rate
//! (as f64 bits: a schedule's or the divergence guard's changes survive),
//! and an application **tag** ([`Checkpoints::save_tagged`], e.g. the next
//! batch's index, saved atomically with the model). The state header
//! (version [`STATE_VERSION`], magic [`STATE_MAGIC`] `b"MPOS"`) holds the
//! optimizer kind, the element count (this spec's parameter count times
//! 0, 1 or 2), `t`, `β1ᵗ`, `β2ᵗ`, the learning rate, the tag, and a CRC-32
//! over itself and the payload. Gradients are not saved (`train_step`
//! zeroes them first), nor the configuration (momentum, β, ε, λ, batch:
//! the firmware's constants), nor a [`Guard`](crate::guard::Guard)'s own
//! statistics (its EMA, snapshots: call [`Guard::resync`](crate::guard::Guard::resync)
//! after a restore). For f32 networks (the blob stores f32) a restore is
//! bit-exact: parameters, state and scalars, so training continues bit for
//! bit.
//!
//! Every save writes format 2. A slot of **format 1** ([`SLOT_MAGIC`]
//! `b"MPCK"`, parameters only, written by earlier versions) still
//! restores: its parameters are applied and the optimizer state, step
//! count and learning rate are kept ([`Restored::state`] is `false`), as
//! are those of a checkpoint saved under another optimizer kind. Any other
//! magic is [`SlotState::BadMagic`]; a state section of another version,
//! count or a broken CRC makes the slot invalid ([`SlotState::State`]).
//!
//! # Why a cut cannot lose the model
//!
//! [`Checkpoints::save`] writes into the slot that does **not** hold the
//! newest valid checkpoint, in this order:
//!
//! 1. read the parameters and the state once to compute their CRCs (and
//!    reject a NaN before flash is touched);
//! 2. erase the target slot (NOR: every byte becomes `0xFF`);
//! 3. write the blob and the state section, then read both back and check
//!    their CRCs;
//! 4. write the slot header **last**: it is the commit.
//!
//! A cut during (2) leaves the target partly erased: its header, its blob
//! or its state no longer checks, or (cut before the first byte changed) it
//! still holds an older checkpoint. A cut during (3) leaves the header
//! erased (`0xFF…`: no magic). A cut during (4) leaves a torn header whose
//! CRC does not match. In every case the other slot, which holds the
//! newest complete checkpoint, was never touched. Only a header whose CRC
//! matches, whose blob length is this network's, whose blob passes every
//! check of [`blob::validate`] (magic, version, spec hash, count, CRC-32,
//! finite values) and (format 2) whose state section passes its own
//! (magic, version, optimizer, count for this spec, CRC-32, finite values
//! and scalars) counts as valid; [`Checkpoints::restore`] loads the newer
//! valid one.
//!
//! # Sequence numbers wrap
//!
//! Sequence numbers are u32 compared in serial-number arithmetic (RFC
//! 1982): `a` is newer than `b` when `a − b` (mod 2³²) lies in `1..2³¹`, so
//! after `u32::MAX` comes 0, which is newer. A save takes one more than the
//! newer of the two intact slot headers (valid blob or not), and so is newer
//! than the slot it keeps; no header, whatever its number, can stop later
//! saves. Two headers exactly 2³¹ apart (never written by this module) are
//! ordered slot A first; should one more than the newer header not be newer
//! than the kept slot's (the headers 2³¹ − 1 apart), a save takes one more
//! than the kept slot's instead.
//!
//! # A restore validates everything before it writes anything
//!
//! [`Checkpoints::restore`] validates both slots completely, then reads the
//! chosen one a second time into a **staging area**, checking it again as
//! it is read (blob header, spec hash, count, finite values, the state
//! header, and CRC-32s equal to the ones the first read validated). Only
//! when everything it will apply (parameters, state, step count, learning
//! rate) has been read and checked is it applied: the learning rate first
//! (refused, nothing changed, unless the element type holds it), then the
//! staged parameters and state by backend `Copy` ops (their bounds lie in
//! the arena, checked at [`Network::new`]; on the CPU backend they cannot
//! fail, on a recording backend they are one submission), then Adam's
//! clock. A flash read that fails, or returns other bytes the second time,
//! at any point leaves the parameters, the optimizer state, the step count
//! and the learning rate bit-identical and returns an error.
//!
//! The staging area must hold `P + S` elements (parameters, then state:
//! [`resume_scratch_len`], `S` = 0, `P` or `2P`), all staged before any is
//! applied; a second read verified piece by piece cannot replace it, since
//! a later piece may still fail after an earlier one was applied. It lies
//! in the arena, in spans that are working space between steps: the
//! network's **gradient span** (`P`; `train_step` zeroes it first), then,
//! for what does not fit there (the state, or everything with fused SGD),
//! the **working space** after the state span (input, activations,
//! scratch, loss scratch, targets, scalars: every forward pass rewrites
//! them). Once staging began `restore` leaves the gradients zero and, if
//! it staged in the working space, no forward pass to read (`output`,
//! `loss` and `backward` need a new `forward`), `Ok` or `Err`. When the
//! two are shorter than `P + S` (a large network at a small batch), the
//! restore fails with [`CheckpointError::Staging`] after the survey and
//! before anything is staged; [`Checkpoints::restore_with`] then stages in
//! a caller's slice of [`resume_scratch_len`] elements (that much RAM,
//! e.g. a `static`; [`restore_scratch_len`], `P`, for SGD and checkpoints
//! without state) and changes nothing but the model, and that only on
//! success.
//!
//! # RAM and flash
//!
//! Parameters and state stream between the backend's arena and flash
//! through the [`BUF_LEN`]-byte buffer a [`Checkpoints`] holds and a
//! 64-element buffer on the stack:
//! no second copy of the model outside the arena (except `restore_with`'s
//! scratch). `save` reads the parameters and state twice (CRC, then write)
//! and the flash once (verify); `restore` reads both slots to validate
//! them, then the chosen one again into the staging area. A slot takes
//! [`slot_len_for`] bytes: the 16-byte header, the blob (`20 + 4P`), the
//! state header (56) and the state (`4S`), each padded to the write unit,
//! rounded up to the erase page; [`slot_len`] is Adam's (`S = 2P`), enough
//! for any optimizer.
//!
//! ```
//! use microprop::checkpoint::{self, Checkpoints, Slot};
//! use microprop::{Config, Layer, Loss, Network, Optimizer, Spec};
//! use microprop_cpu::CpuBackend;
//! # use embedded_storage::nor_flash::{ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash};
//! # /// A RAM-backed NOR flash: erase sets 0xFF, writes clear bits.
//! # struct Ram([u8; 4096]);
//! # impl ErrorType for Ram { type Error = NorFlashErrorKind; }
//! # impl ReadNorFlash for Ram {
//! #     const READ_SIZE: usize = 1;
//! #     fn read(&mut self, at: u32, out: &mut [u8]) -> Result<(), Self::Error> {
//! #         let at = at as usize;
//! #         out.copy_from_slice(self.0.get(at..at + out.len()).ok_or(NorFlashErrorKind::OutOfBounds)?);
//! #         Ok(())
//! #     }
//! #     fn capacity(&self) -> usize { self.0.len() }
//! # }
//! # impl NorFlash for Ram {
//! #     const WRITE_SIZE: usize = 4;
//! #     const ERASE_SIZE: usize = 1024;
//! #     fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
//! #         self.0[from as usize..to as usize].fill(0xFF);
//! #         Ok(())
//! #     }
//! #     fn write(&mut self, at: u32, data: &[u8]) -> Result<(), Self::Error> {
//! #         for (m, d) in self.0[at as usize..].iter_mut().zip(data) { *m &= d; }
//! #         Ok(())
//! #     }
//! # }
//!
//! const NET: Spec = Spec::new(&[Layer::dense(2, 4), Layer::tanh(), Layer::dense(4, 1)]);
//! const CFG: Config = Config::new(4, Loss::Mse, Optimizer::sgd(0.1)).with_seed(7);
//! const SLOT: usize = checkpoint::slot_len::<Ram>(&NET); // one erase page here
//!
//! let mut arena = [0.0f32; CFG.arena_len(&NET)];
//! let mut net = Network::new(NET, CpuBackend::new(&mut arena), CFG).unwrap();
//! let mut ckpt = Checkpoints::new(Ram([0xFF; 4096]), 0, SLOT as u32).unwrap();
//! let saved = ckpt.save(&mut net).unwrap();
//! assert_eq!((saved.seq, saved.slot), (1, Slot::A));
//!
//! let mut fresh = [0.0f32; CFG.arena_len(&NET)];
//! let mut other = Network::new(NET, CpuBackend::new(&mut fresh), CFG.with_seed(8)).unwrap();
//! assert_eq!(ckpt.restore(&mut other).unwrap().seq, 1);
//! let (mut p, mut q) = ([0.0f32; 17], [0.0f32; 17]);
//! net.parameters(&mut p).unwrap();
//! other.parameters(&mut q).unwrap();
//! assert_eq!(p, q);
//!
//! // Restore through a scratch: parameters and state, P + S elements.
//! const ADAM: Config = Config::new(4, Loss::Mse, Optimizer::adam(0.01));
//! let mut arena3 = [0.0f32; ADAM.arena_len(&NET)];
//! let mut third = Network::new(NET, CpuBackend::new(&mut arena3), ADAM).unwrap();
//! third.train_step(&[0.0; 8], microprop::Targets::Values(&[1.0; 4])).unwrap();
//! assert_eq!(ckpt.save_tagged(&mut third, 42).unwrap().seq, 2);
//! let mut arena4 = [0.0f32; ADAM.arena_len(&NET)];
//! let mut fourth = Network::new(NET, CpuBackend::new(&mut arena4), ADAM.with_seed(9)).unwrap();
//! let mut scratch = [0.0f32; checkpoint::resume_scratch_len(&NET, ADAM.optimizer.kind())];
//! let r = ckpt.restore_with(&mut fourth, &mut scratch).unwrap();
//! assert!(r.state && r.tag == 42 && fourth.steps() == 1);
//! ```

use crate::blob::{self, BlobError, Crc32, HEADER_LEN};
use crate::error::Error;
use crate::network::Network;
use crate::{OptimizerKind, Spec};
use core::fmt;
use embedded_storage::nor_flash::NorFlash;
use microprop_hal::{op, Backend, Element, Op, Span};

/// The first four bytes of a committed slot of format 1: the parameters
/// only (written before optimizer state was saved; still restored).
pub const SLOT_MAGIC: [u8; 4] = *b"MPCK";
/// The first four bytes of a committed slot of format 2: the parameters,
/// then the optimizer-state section. Every save writes this format.
pub const SLOT_MAGIC_STATE: [u8; 4] = *b"MPC2";
/// The first four bytes of the optimizer-state section.
pub const STATE_MAGIC: [u8; 4] = *b"MPOS";
/// The optimizer-state section's format version.
pub const STATE_VERSION: u16 = 1;
/// Bytes of the optimizer-state section's header before padding to the
/// write unit.
pub const STATE_HEADER_LEN: usize = 56;
/// Bytes of the slot header before padding to the write unit.
pub const SLOT_HEADER_LEN: usize = 16;
/// Bytes moved per flash read or write (the buffer a [`Checkpoints`] holds); the flash's
/// `READ_SIZE` and `WRITE_SIZE` must divide it.
pub const BUF_LEN: usize = 256;
/// Parameters moved per backend transfer.
const CHUNK: usize = 64;

/// One of the two slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Slot {
    /// The first slot, at the region's start.
    A,
    /// The second slot, `slot_len` bytes later.
    B,
}

impl Slot {
    fn index(self) -> u32 {
        match self {
            Slot::A => 0,
            Slot::B => 1,
        }
    }
}

/// What [`Checkpoints::inspect`] found in a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SlotState {
    /// A complete checkpoint of this network.
    Valid {
        /// Its sequence number.
        seq: u32,
    },
    /// The slot header is erased (`0xFF`): never written, or a save was cut
    /// before its commit.
    Erased,
    /// The slot header's magic is wrong (garbage, or a torn header).
    BadMagic,
    /// The slot header's CRC does not match (a torn header).
    HeaderCrc,
    /// The header is intact but announces a blob length other than this
    /// network's.
    Length {
        /// The length in the header.
        found: u32,
    },
    /// The header is intact but its blob is rejected (a cut mid-erase, a
    /// checkpoint of another network, bit rot).
    Blob(BlobError),
    /// The blob is valid but the optimizer-state section (format 2) is
    /// rejected: [`BlobError::Magic`], [`BlobError::Version`],
    /// [`BlobError::Reserved`] (an unknown optimizer tag or a reserved byte
    /// not 0), [`BlobError::Count`] (not this spec's count for that
    /// optimizer), [`BlobError::Truncated`] (the section would end beyond
    /// the slot), [`BlobError::Crc`], or [`BlobError::NonFinite`] (`index`
    /// below the count: a state element; the count, +1, +2: β1ᵗ, β2ᵗ, the
    /// learning rate, which must be finite, and the rate non-negative).
    State(BlobError),
}

/// Where a save went or a restore came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Restored {
    /// Sequence number of the checkpoint.
    pub seq: u32,
    /// Its slot.
    pub slot: Slot,
    /// Whether the optimizer state (and step count, learning rate) was
    /// restored with the parameters, or, for a save, written: `false` for a
    /// checkpoint of format 1 (parameters only) or of another optimizer,
    /// whose parameters alone are restored.
    pub state: bool,
    /// The application's tag saved with the state
    /// ([`Checkpoints::save_tagged`]; 0 from [`Checkpoints::save`], and
    /// when `state` is `false`).
    pub tag: u64,
}

/// A save's outcome (same fields as [`Restored`]).
pub type Saved = Restored;

/// A region that cannot hold two slots on this flash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Geometry {
    /// `region_offset` or `slot_len` is not a multiple of `ERASE_SIZE`, or
    /// `slot_len` is 0.
    NotEraseAligned,
    /// The two slots end beyond the flash's capacity.
    OutOfBounds,
    /// `READ_SIZE` or `WRITE_SIZE` is not a power of two dividing
    /// [`BUF_LEN`] and `ERASE_SIZE`.
    Unit,
}

/// Everything a checkpoint operation can fail with. `FE` is the flash's
/// error, `BE` the backend's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CheckpointError<FE, BE> {
    /// Neither slot holds a complete checkpoint of this network; why, per
    /// slot. The model is unchanged.
    NoValidCheckpoint {
        /// Slot A.
        a: SlotState,
        /// Slot B.
        b: SlotState,
    },
    /// The region is unusable on this flash ([`Checkpoints::new`]).
    Geometry(Geometry),
    /// A slot is too small for this network's blob.
    SlotTooSmall {
        /// Bytes needed ([`slot_len`]).
        needed: usize,
        /// Bytes per slot.
        slot_len: usize,
    },
    /// A restore has no room to stage the checkpoint before applying it:
    /// [`Checkpoints::restore`] stages in the network's gradient span (none
    /// with fused SGD), [`Checkpoints::restore_with`] in its scratch slice.
    /// Found before flash is read; nothing changed.
    Staging {
        /// Elements needed ([`restore_scratch_len`]).
        needed: usize,
        /// Elements there were.
        available: usize,
    },
    /// The parameters cannot be encoded (a NaN or ∞ parameter); flash is
    /// untouched.
    Blob(BlobError),
    /// The optimizer state cannot be encoded (a NaN or ∞ state element:
    /// [`BlobError::NonFinite`] with its index in the state span); flash
    /// is untouched.
    State(BlobError),
    /// Read-back after writing, or a second read, did not give the bytes
    /// written or validated (failing flash, or parameters that changed under
    /// the save). A slot being written is not committed; a restore changed
    /// no parameter.
    Verify {
        /// The slot being written or restored.
        slot: Slot,
    },
    /// The flash failed.
    Flash(FE),
    /// The network or its backend failed.
    Network(Error<BE>),
}

impl<FE: fmt::Debug, BE: fmt::Display> fmt::Display for CheckpointError<FE, BE> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointError::NoValidCheckpoint { a, b } => {
                write!(f, "no valid checkpoint (slot A: {a:?}, slot B: {b:?})")
            }
            CheckpointError::Geometry(g) => write!(f, "checkpoint region unusable: {g:?}"),
            CheckpointError::SlotTooSmall { needed, slot_len } => write!(
                f,
                "checkpoint slot of {slot_len} bytes, this network needs {needed}"
            ),
            CheckpointError::Staging { needed, available } => write!(
                f,
                "restore needs {needed} elements to stage the checkpoint, has {available}"
            ),
            CheckpointError::Blob(e) => write!(f, "{e}"),
            CheckpointError::State(e) => write!(f, "optimizer state: {e}"),
            CheckpointError::Verify { slot } => {
                write!(f, "checkpoint slot {slot:?} did not read back as written")
            }
            CheckpointError::Flash(e) => write!(f, "flash error: {e:?}"),
            CheckpointError::Network(e) => write!(f, "{e}"),
        }
    }
}

/// `source()` is the wrapped blob or network error (a flash error need only
/// be `Debug`, so it is not a source).
impl<FE: fmt::Debug, BE: core::error::Error + 'static> core::error::Error
    for CheckpointError<FE, BE>
{
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            CheckpointError::Blob(e) | CheckpointError::State(e) => Some(e),
            CheckpointError::Network(e) => Some(e),
            _ => None,
        }
    }
}

/// Result of a checkpoint operation on flash `F` and backend `B`.
pub type Result<T, F, B> = core::result::Result<
    T,
    CheckpointError<<F as embedded_storage::nor_flash::ErrorType>::Error, <B as Backend>::Error>,
>;

const fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// The flash's read/write unit: every offset and length is a multiple.
const fn unit<F: NorFlash>() -> usize {
    max(max(F::READ_SIZE, F::WRITE_SIZE), 1)
}

/// Bytes of the padded slot header (where the blob starts).
const fn header_area<F: NorFlash>() -> usize {
    round_up(SLOT_HEADER_LEN, unit::<F>())
}

/// Bytes of the padded optimizer-state header (where its payload starts,
/// counted from the section's start).
const fn state_header_area<F: NorFlash>() -> usize {
    round_up(STATE_HEADER_LEN, unit::<F>())
}

/// Optimizer-state elements of a network of `spec` under `kind`.
const fn state_count(spec: &Spec<'_>, kind: OptimizerKind) -> usize {
    // The state covers the trained parameters only (`Spec::with_training`).
    spec.trained_count().saturating_mul(kind.state_per_param())
}

/// The smallest slot (a multiple of `F::ERASE_SIZE`) that holds a
/// checkpoint of `spec` trained with optimizer `kind` on flash `F`
/// (parameters and optimizer state); the region needs twice this.
/// Saturates at `usize::MAX` (which no flash satisfies).
pub const fn slot_len_for<F: NorFlash>(spec: &Spec<'_>, kind: OptimizerKind) -> usize {
    let u = unit::<F>();
    let blob = round_up(blob::blob_len(spec.param_count()), u);
    let state = state_count(spec, kind).saturating_mul(4);
    let used = header_area::<F>()
        .saturating_add(blob)
        .saturating_add(state_header_area::<F>())
        .saturating_add(state);
    if used > usize::MAX / 2 {
        return usize::MAX;
    }
    round_up(round_up(used, u), max(F::ERASE_SIZE, 1))
}

/// [`slot_len_for`] the optimizer with the most state (Adam: two moments
/// per parameter), so a slot of this size holds a checkpoint of `spec`
/// whatever the optimizer; [`slot_len_for`] is tighter.
pub const fn slot_len<F: NorFlash>(spec: &Spec<'_>) -> usize {
    slot_len_for::<F>(spec, OptimizerKind::Adam)
}

/// Elements of scratch [`Checkpoints::restore_with`] needs for a network of
/// `spec` whose optimizer keeps no state (SGD, fused SGD), or to restore a
/// checkpoint without state: the parameter count. With momentum or Adam
/// use [`resume_scratch_len`].
pub const fn restore_scratch_len(spec: &Spec<'_>) -> usize {
    spec.param_count()
}

/// Elements of staging a restore needs to apply a checkpoint of `spec`
/// with the optimizer state of `kind`: parameters + state (`P`, `2P`
/// with momentum, `3P` with Adam). [`Checkpoints::restore_with`]'s scratch
/// must be this long; [`Checkpoints::restore`] stages in the gradient span
/// and then the arena's working space, which together must be this long.
pub const fn resume_scratch_len(spec: &Spec<'_>, kind: OptimizerKind) -> usize {
    spec.param_count().saturating_add(state_count(spec, kind))
}

/// Whether sequence number `a` is newer than `b` in serial-number
/// arithmetic (RFC 1982): `a − b` (mod 2³²) lies in `1..2³¹`. Neither of
/// two numbers 2³¹ apart is newer.
pub const fn newer(a: u32, b: u32) -> bool {
    let d = a.wrapping_sub(b);
    d != 0 && d < 1 << 31
}

/// The sequence number of a save into one slot, given the intact header
/// sequence numbers of the slot it keeps and of the one it overwrites: one
/// more than the newer of the two, unless that would not be newer than the
/// kept one (headers 2³¹ − 1 apart), then one more than the kept one.
fn next_seq(kept: Option<u32>, overwritten: Option<u32>) -> u32 {
    let top = match (kept, overwritten) {
        (Some(k), Some(o)) if newer(o, k) => o,
        (Some(k), _) => k,
        (None, Some(o)) => o,
        (None, None) => 0,
    };
    let seq = top.wrapping_add(1);
    match kept {
        Some(k) if !newer(seq, k) => k.wrapping_add(1),
        _ => seq,
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(&[x0, x1, x2, x3]) => u32::from_le_bytes([x0, x1, x2, x3]),
        _ => 0,
    }
}

/// The slot header (format 2) for `seq` and a blob of `len` bytes.
fn slot_header(seq: u32, len: u32) -> [u8; SLOT_HEADER_LEN] {
    let mut h = [0u8; SLOT_HEADER_LEN];
    h[0..4].copy_from_slice(&SLOT_MAGIC_STATE);
    h[4..8].copy_from_slice(&seq.to_le_bytes());
    h[8..12].copy_from_slice(&len.to_le_bytes());
    let crc = blob::crc32(&h[0..12]);
    h[12..16].copy_from_slice(&crc.to_le_bytes());
    h
}

/// A slot header as read: its state if it is not intact, else its sequence
/// number, blob length, and whether an optimizer-state section follows the
/// blob (format 2).
fn parse_slot_header(h: &[u8]) -> core::result::Result<(u32, u32, bool), SlotState> {
    let Some(h) = h.get(..SLOT_HEADER_LEN) else {
        return Err(SlotState::BadMagic);
    };
    if h.iter().all(|&b| b == 0xFF) {
        return Err(SlotState::Erased);
    }
    let state = match h.get(0..4) {
        Some(m) if m == SLOT_MAGIC => false,
        Some(m) if m == SLOT_MAGIC_STATE => true,
        _ => return Err(SlotState::BadMagic),
    };
    if h.get(..12).map(blob::crc32) != Some(u32_at(h, 12)) {
        return Err(SlotState::HeaderCrc);
    }
    Ok((u32_at(h, 4), u32_at(h, 8), state))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from(u32_at(b, at)) | (u64::from(u32_at(b, at + 4)) << 32)
}

const fn kind_tag(kind: OptimizerKind) -> u8 {
    match kind {
        OptimizerKind::Sgd => 1,
        OptimizerKind::Momentum => 2,
        OptimizerKind::Adam => 3,
        OptimizerKind::FusedSgd => 4,
    }
}

/// The optimizer-state section's header, as parsed.
#[derive(Debug, Clone, Copy, PartialEq)]
struct StateHead {
    kind: OptimizerKind,
    /// State elements in the payload.
    count: usize,
    /// Adam's clock `(t, β1ᵗ, β2ᵗ)` ([`Network::clock`]).
    clock: (u64, f64, f64),
    /// The learning rate ([`Network::lr`]).
    lr: f64,
    /// The application's tag ([`Checkpoints::save_tagged`]).
    tag: u64,
    /// The CRC-32 stored in the header (over its bytes `0..52` and the
    /// payload).
    crc: u32,
}

/// The optimizer-state section's header:
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 4 | magic [`STATE_MAGIC`] |
/// | 4 | 2 | version [`STATE_VERSION`], u16 LE |
/// | 6 | 1 | optimizer: 1 SGD, 2 momentum, 3 Adam, 4 fused SGD |
/// | 7 | 1 | reserved, 0 |
/// | 8 | 4 | state elements, u32 LE |
/// | 12 | 8 | Adam's step count `t`, u64 LE |
/// | 20 | 8 | `β1ᵗ`, f64 LE |
/// | 28 | 8 | `β2ᵗ`, f64 LE |
/// | 36 | 8 | learning rate, f64 LE |
/// | 44 | 8 | the application's tag, u64 LE |
/// | 52 | 4 | CRC-32 of bytes `0..52` and the payload |
fn state_head_bytes(h: &StateHead) -> [u8; STATE_HEADER_LEN] {
    let mut b = [0u8; STATE_HEADER_LEN];
    b[0..4].copy_from_slice(&STATE_MAGIC);
    b[4..6].copy_from_slice(&STATE_VERSION.to_le_bytes());
    b[6] = kind_tag(h.kind);
    b[8..12].copy_from_slice(&(h.count as u32).to_le_bytes());
    b[12..20].copy_from_slice(&h.clock.0.to_le_bytes());
    b[20..28].copy_from_slice(&h.clock.1.to_bits().to_le_bytes());
    b[28..36].copy_from_slice(&h.clock.2.to_bits().to_le_bytes());
    b[36..44].copy_from_slice(&h.lr.to_bits().to_le_bytes());
    b[44..52].copy_from_slice(&h.tag.to_le_bytes());
    b[52..56].copy_from_slice(&h.crc.to_le_bytes());
    b
}

/// Parse and check an optimizer-state header against `spec` (see
/// [`SlotState::State`] for the errors).
fn parse_state_head(spec: &Spec<'_>, b: &[u8]) -> core::result::Result<StateHead, BlobError> {
    let Some(b) = b.get(..STATE_HEADER_LEN) else {
        return Err(BlobError::Truncated {
            needed: STATE_HEADER_LEN,
            got: b.len(),
        });
    };
    if b.get(0..4) != Some(&STATE_MAGIC[..]) {
        return Err(BlobError::Magic);
    }
    let version = (u32_at(b, 4) & 0xFFFF) as u16;
    if version != STATE_VERSION {
        return Err(BlobError::Version { found: version });
    }
    let tag = b.get(6).copied().unwrap_or(0);
    let kind = match tag {
        1 => OptimizerKind::Sgd,
        2 => OptimizerKind::Momentum,
        3 => OptimizerKind::Adam,
        4 => OptimizerKind::FusedSgd,
        found => return Err(BlobError::Reserved { found }),
    };
    let reserved = b.get(7).copied().unwrap_or(0);
    if reserved != 0 {
        return Err(BlobError::Reserved { found: reserved });
    }
    let found = u32_at(b, 8) as usize;
    let count = state_count(spec, kind);
    if found != count {
        return Err(BlobError::Count {
            expected: count,
            found,
        });
    }
    let f = |at| f64::from_bits(u64_at(b, at));
    let (b1, b2, lr) = (f(20), f(28), f(36));
    for (i, ok) in [b1.is_finite(), b2.is_finite(), lr.is_finite() && lr >= 0.0]
        .into_iter()
        .enumerate()
    {
        if !ok {
            return Err(BlobError::NonFinite {
                index: count.saturating_add(i),
            });
        }
    }
    Ok(StateHead {
        kind,
        count,
        clock: (u64_at(b, 12), b1, b2),
        lr,
        tag: u64_at(b, 44),
        crc: u32_at(b, 52),
    })
}

/// The payload bytes of `piece` as f32s.
fn floats(piece: &[u8]) -> impl Iterator<Item = f32> + '_ {
    piece
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
}

/// Checks a blob streamed in pieces, as [`blob::validate`] does whole.
struct Validator {
    count: usize,
    crc: Crc32,
    stored: u32,
    index: usize,
    non_finite: Option<usize>,
}

impl Validator {
    /// Check an optimizer-state section's payload against its header
    /// (the first [`STATE_HEADER_LEN`] bytes of `head`, already parsed).
    fn state(head: &[u8], h: &StateHead) -> Self {
        let mut crc = Crc32::new();
        crc.update(head.get(..STATE_HEADER_LEN - 4).unwrap_or(&[]));
        Validator {
            count: h.count,
            crc,
            stored: h.crc,
            index: 0,
            non_finite: None,
        }
    }

    /// Check the blob's header (the first [`HEADER_LEN`] bytes).
    fn new(spec: &Spec<'_>, head: &[u8]) -> core::result::Result<Self, BlobError> {
        let h = blob::parse_prefix(head)?;
        // A checkpoint's blob is f32 (a network saves f32).
        if h.payload != blob::Payload::F32 {
            return Err(BlobError::ElementType {
                found: blob::ELEM_FIXED16,
            });
        }
        let expected = spec.hash();
        if h.spec_hash != expected {
            return Err(BlobError::Spec {
                expected,
                found: h.spec_hash,
            });
        }
        if h.count != spec.param_count() {
            return Err(BlobError::Count {
                expected: spec.param_count(),
                found: h.count,
            });
        }
        let mut crc = Crc32::new();
        crc.update(head.get(..16).unwrap_or(&[]));
        Ok(Validator {
            count: h.count,
            crc,
            stored: h.crc,
            index: 0,
            non_finite: None,
        })
    }

    fn payload(&mut self, piece: &[u8]) {
        self.crc.update(piece);
        for v in floats(piece) {
            if self.non_finite.is_none() && !v.is_finite() {
                self.non_finite = Some(self.index);
            }
            self.index += 1;
        }
    }

    fn finish(self) -> core::result::Result<u32, BlobError> {
        let computed = self.crc.finish();
        if computed != self.stored {
            return Err(BlobError::Crc {
                stored: self.stored,
                computed,
            });
        }
        if let Some(index) = self.non_finite {
            return Err(BlobError::NonFinite { index });
        }
        if self.index != self.count {
            return Err(BlobError::Truncated {
                needed: self.count.saturating_mul(4),
                got: self.index.saturating_mul(4),
            });
        }
        Ok(computed)
    }
}

/// One slot, read and validated.
struct Checked {
    state: SlotState,
    /// The sequence number of an intact slot header, valid blob or not.
    seq: Option<u32>,
    /// The blob's CRC-32 when the slot is valid.
    crc: u32,
    /// The optimizer-state section's header (its CRC-32 checked) when the
    /// slot is valid and of format 2.
    opt: Option<StateHead>,
}

/// The newer valid checkpoint of a survey.
#[derive(Clone, Copy)]
struct Newest {
    found: Restored,
    /// Its blob's CRC-32.
    crc: u32,
    /// Its optimizer-state header, if it has one.
    opt: Option<StateHead>,
}

/// Both slots, read and validated.
struct Survey {
    /// The newer valid checkpoint.
    newest: Option<Newest>,
    /// Slot A's and slot B's state.
    states: [SlotState; 2],
    /// Slot A's and slot B's intact header sequence numbers.
    seqs: [Option<u32>; 2],
}

/// Where a restore stages the checkpoint before applying it: a sequence of
/// `P` parameters then (when the state is restored) `S` state elements,
/// laid over up to two arena spans one after the other.
#[derive(Clone, Copy)]
struct Staging {
    first: Span,
    second: Span,
}

impl Staging {
    fn len(&self) -> usize {
        self.first.len.saturating_add(self.second.len)
    }

    /// The arena spans holding staged elements `at .. at + len`, in order
    /// (either may be empty).
    fn pieces(&self, at: usize, len: usize) -> [Span; 2] {
        let end = at.saturating_add(len);
        let g = self.first.len;
        let (a0, a1) = (at.min(g), end.min(g));
        let (b0, b1) = (at.max(g) - g, end.max(g) - g);
        [
            Span::new(self.first.offset + a0, a1 - a0),
            Span::new(self.second.offset + b0, b1.saturating_sub(b0)),
        ]
    }
}

/// Two checkpoint slots in a region of a NOR flash (see the module docs).
#[derive(Debug)]
pub struct Checkpoints<F> {
    flash: F,
    base: u32,
    slot_len: u32,
    /// The one buffer every flash read and write goes through (here rather
    /// than on the stack of each nested call).
    buf: [u8; BUF_LEN],
}
impl<F: NorFlash> Checkpoints<F> {
    /// Use `2 · slot_len` bytes of `flash` from `region_offset` (both
    /// multiples of `F::ERASE_SIZE`; size a slot with [`slot_len`]). Nothing
    /// is read or written yet.
    pub fn new(
        flash: F,
        region_offset: u32,
        slot_len: u32,
    ) -> core::result::Result<Self, CheckpointError<F::Error, core::convert::Infallible>> {
        let u = unit::<F>();
        let erase = F::ERASE_SIZE;
        if !u.is_power_of_two()
            || !BUF_LEN.is_multiple_of(u)
            || erase == 0
            || !erase.is_multiple_of(u)
        {
            return Err(CheckpointError::Geometry(Geometry::Unit));
        }
        if slot_len == 0
            || !(region_offset as usize).is_multiple_of(erase)
            || !(slot_len as usize).is_multiple_of(erase)
        {
            return Err(CheckpointError::Geometry(Geometry::NotEraseAligned));
        }
        let end = u64::from(region_offset) + 2 * u64::from(slot_len);
        if end > flash.capacity() as u64 || end > u64::from(u32::MAX) {
            return Err(CheckpointError::Geometry(Geometry::OutOfBounds));
        }
        Ok(Checkpoints {
            flash,
            base: region_offset,
            slot_len,
            buf: [0; BUF_LEN],
        })
    }

    /// Give the flash back.
    pub fn release(self) -> F {
        self.flash
    }

    /// The flash (for reading it or for tests).
    pub fn flash_mut(&mut self) -> &mut F {
        &mut self.flash
    }

    /// Flash offset of `slot`.
    pub fn slot_offset(&self, slot: Slot) -> u32 {
        self.base + slot.index() * self.slot_len
    }

    /// `SlotTooSmall` unless a slot holds `needed` bytes.
    fn check_len<BE>(
        &self,
        needed: usize,
    ) -> core::result::Result<(), CheckpointError<F::Error, BE>> {
        if needed > self.slot_len as usize {
            return Err(CheckpointError::SlotTooSmall {
                needed,
                slot_len: self.slot_len as usize,
            });
        }
        Ok(())
    }

    /// A slot must hold at least a checkpoint of `spec` without state (of
    /// format 1) to be read.
    fn check_fits<BE>(
        &self,
        spec: &Spec<'_>,
    ) -> core::result::Result<(), CheckpointError<F::Error, BE>> {
        let u = unit::<F>();
        let used =
            header_area::<F>().saturating_add(round_up(blob::blob_len(spec.param_count()), u));
        if used > usize::MAX / 2 {
            return self.check_len(usize::MAX);
        }
        self.check_len(round_up(used, max(F::ERASE_SIZE, 1)))
    }

    /// Read `len` bytes of `slot` from `from` (counted from the end of the
    /// slot header's area, a multiple of the write unit) in pieces of at
    /// most [`BUF_LEN`] bytes, giving each piece's offset (from `from`) to
    /// `f`; stops when `f` returns `false`. (Not generic over the callback:
    /// one copy of the code serves every caller.)
    fn stream(
        &mut self,
        slot: Slot,
        from: usize,
        len: usize,
        f: &mut dyn FnMut(usize, &[u8]) -> bool,
    ) -> core::result::Result<(), F::Error> {
        let u = unit::<F>();
        let start = self.slot_offset(slot) + header_area::<F>() as u32 + from as u32;
        let mut at = 0;
        while at < len {
            let n = BUF_LEN.min(len - at);
            let Some(piece) = self.buf.get_mut(..round_up(n, u)) else {
                break;
            };
            self.flash.read(start + at as u32, piece)?;
            if !f(at, piece.get(..n).unwrap_or(&[])) {
                break;
            }
            at += n;
        }
        Ok(())
    }

    /// Where `slot`'s optimizer-state section starts, counted like
    /// [`Checkpoints::stream`]'s `from`, for a network of `spec`.
    fn state_from(spec: &Spec<'_>) -> usize {
        round_up(blob::blob_len(spec.param_count()), unit::<F>())
    }

    /// Read and check `slot`'s optimizer-state section (format 2): its
    /// header (one read), then its payload, handed to `put(byte offset in
    /// the payload, piece)`, which stops the read by returning `false`
    /// (the section then counts as truncated). The inner result is the
    /// header, whose CRC-32 matched, or why the section is rejected.
    fn read_state(
        &mut self,
        spec: &Spec<'_>,
        slot: Slot,
        put: &mut dyn FnMut(usize, &[u8]) -> bool,
    ) -> core::result::Result<core::result::Result<StateHead, BlobError>, F::Error> {
        let from = Self::state_from(spec);
        let area = state_header_area::<F>();
        let data = (self.slot_len as usize).saturating_sub(header_area::<F>());
        let truncated = |needed: usize| BlobError::Truncated {
            needed,
            got: data.saturating_sub(from),
        };
        if from.saturating_add(area) > data {
            return Ok(Err(truncated(area)));
        }
        let start = self.slot_offset(slot) + header_area::<F>() as u32 + from as u32;
        let head = self.buf.get_mut(..area).unwrap_or(&mut []);
        self.flash.read(start, head)?;
        let h = match parse_state_head(spec, head) {
            Ok(h) => h,
            Err(e) => return Ok(Err(e)),
        };
        let payload = h.count.saturating_mul(4);
        if from.saturating_add(area).saturating_add(payload) > data {
            return Ok(Err(truncated(area.saturating_add(payload))));
        }
        let mut v = Validator::state(head, &h);
        self.stream(slot, from + area, payload, &mut |at, piece| {
            v.payload(piece);
            put(at, piece)
        })?;
        Ok(v.finish().map(|_| h))
    }

    /// Validate `slot` completely against `spec` (slot header, blob header,
    /// spec hash, count, CRC-32, finite values; and the optimizer-state
    /// section of a format-2 slot).
    fn check_slot(
        &mut self,
        spec: &Spec<'_>,
        slot: Slot,
    ) -> core::result::Result<Checked, F::Error> {
        let area = header_area::<F>();
        let at = self.slot_offset(slot);
        let head = self.buf.get_mut(..area).unwrap_or(&mut []);
        self.flash.read(at, head)?;
        let (seq, len, has_state) = match parse_slot_header(head) {
            Ok(h) => h,
            Err(state) => {
                return Ok(Checked {
                    state,
                    seq: None,
                    crc: 0,
                    opt: None,
                })
            }
        };
        let rejected = |state| Checked {
            state,
            seq: Some(seq),
            crc: 0,
            opt: None,
        };
        let want = blob::blob_len(spec.param_count());
        if len as usize != want {
            return Ok(rejected(SlotState::Length { found: len }));
        }
        let mut v: Option<core::result::Result<Validator, BlobError>> = None;
        self.stream(slot, 0, want, &mut |_, piece| {
            match v.as_mut() {
                None => {
                    let mut val = Validator::new(spec, piece);
                    if let Ok(val) = val.as_mut() {
                        val.payload(piece.get(HEADER_LEN..).unwrap_or(&[]));
                    }
                    v = Some(val);
                }
                Some(Ok(val)) => val.payload(piece),
                Some(Err(_)) => {}
            }
            true
        })?;
        let crc = match v.map(|v| v.and_then(Validator::finish)) {
            Some(Ok(crc)) => crc,
            Some(Err(e)) => return Ok(rejected(SlotState::Blob(e))),
            None => {
                return Ok(rejected(SlotState::Blob(BlobError::Truncated {
                    needed: want,
                    got: 0,
                })))
            }
        };
        let opt = if has_state {
            match self.read_state(spec, slot, &mut |_, _| true)? {
                Ok(h) => Some(h),
                Err(e) => return Ok(rejected(SlotState::State(e))),
            }
        } else {
            None
        };
        Ok(Checked {
            state: SlotState::Valid { seq },
            seq: Some(seq),
            crc,
            opt,
        })
    }

    /// What each slot holds for a network of `spec`, fully validated.
    pub fn inspect(
        &mut self,
        spec: &Spec<'_>,
    ) -> core::result::Result<[SlotState; 2], CheckpointError<F::Error, core::convert::Infallible>>
    {
        self.check_fits(spec)?;
        let a = self
            .check_slot(spec, Slot::A)
            .map_err(CheckpointError::Flash)?;
        let b = self
            .check_slot(spec, Slot::B)
            .map_err(CheckpointError::Flash)?;
        Ok([a.state, b.state])
    }

    /// The newer valid checkpoint for `spec` (slot A when neither is newer),
    /// the states of both slots and their intact header sequence numbers.
    fn survey<BE>(
        &mut self,
        spec: &Spec<'_>,
    ) -> core::result::Result<Survey, CheckpointError<F::Error, BE>> {
        self.check_fits(spec)?;
        let a = self
            .check_slot(spec, Slot::A)
            .map_err(CheckpointError::Flash)?;
        let b = self
            .check_slot(spec, Slot::B)
            .map_err(CheckpointError::Flash)?;
        let at = |seq, slot| {
            let c = if slot == Slot::A { &a } else { &b };
            Some(Newest {
                found: Restored {
                    seq,
                    slot,
                    state: c.opt.is_some(),
                    tag: c.opt.map_or(0, |h| h.tag),
                },
                crc: c.crc,
                opt: c.opt,
            })
        };
        let newest = match (a.state, b.state) {
            (SlotState::Valid { seq: x }, SlotState::Valid { seq: y }) if newer(y, x) => {
                at(y, Slot::B)
            }
            (SlotState::Valid { seq }, _) => at(seq, Slot::A),
            (_, SlotState::Valid { seq }) => at(seq, Slot::B),
            _ => None,
        };
        Ok(Survey {
            newest,
            states: [a.state, b.state],
            seqs: [a.seq, b.seq],
        })
    }

    /// Save `net`'s parameters and optimizer state (momentum velocity or
    /// Adam's moments, Adam's clock, the learning rate) as a new checkpoint
    /// into the slot that does not hold the newest valid one (erase, write
    /// the blob and the state section, verify both, then commit the slot
    /// header). A power cut at any point leaves the previous checkpoint
    /// restorable. On [`CheckpointError::Blob`] / [`CheckpointError::State`]
    /// (a non-finite parameter or state element) and
    /// [`CheckpointError::SlotTooSmall`] (a slot shorter than
    /// [`slot_len_for`] this network's optimizer) flash is untouched. Its
    /// sequence number is newer than the kept slot's (see the module docs):
    /// saves never run out of them.
    pub fn save<B: Backend>(&mut self, net: &mut Network<'_, B>) -> Result<Saved, F, B> {
        self.save_tagged(net, 0)
    }

    /// [`Checkpoints::save`], with `tag`, an application value saved
    /// atomically with the model and returned by the restore as
    /// [`Restored::tag`]: e.g. the index of the next batch, so that a
    /// device that lost power resumes on the same data.
    pub fn save_tagged<B: Backend>(
        &mut self,
        net: &mut Network<'_, B>,
        tag: u64,
    ) -> Result<Saved, F, B> {
        let spec = *net.spec();
        let layout = *net.layout();
        self.check_len(slot_len_for::<F>(&spec, layout.optimizer))?;
        let crc = blob_crc::<F, B>(net)?;
        let mut head = StateHead {
            kind: layout.optimizer,
            count: layout.state.len,
            clock: net.clock(),
            lr: net.lr(),
            tag,
            crc: 0,
        };
        if u32::try_from(head.count).is_err() {
            return Err(CheckpointError::SlotTooSmall {
                needed: usize::MAX,
                slot_len: self.slot_len as usize,
            });
        }
        // The header's own checks (finite β powers and learning rate).
        parse_state_head(&spec, &state_head_bytes(&head)).map_err(CheckpointError::State)?;
        head.crc = state_crc::<F, B>(net, &head)?;
        let Survey {
            newest,
            seqs: [sa, sb],
            ..
        } = self.survey(&spec)?;
        let (slot, seq) = match newest {
            Some(Newest {
                found: Restored { slot: Slot::A, .. },
                ..
            }) => (Slot::B, next_seq(sa, sb)),
            _ => (Slot::A, next_seq(sb, sa)),
        };
        let from = self.slot_offset(slot);
        self.flash
            .erase(from, from + self.slot_len)
            .map_err(CheckpointError::Flash)?;

        // The blob, then the state section, each through one buffer of
        // BUF_LEN bytes.
        let len = blob::blob_len(spec.param_count());
        let start = from + header_area::<F>() as u32;
        let bhead = blob::header_bytes(&spec, crc).map_err(CheckpointError::Blob)?;
        let written = write_section::<F, B>(
            &mut self.flash,
            &mut self.buf,
            start,
            &bhead,
            0,
            bhead.get(..16).unwrap_or(&[]),
            net,
            layout.params,
        )?;
        if written != crc {
            // The parameters changed between the two reads: do not commit.
            return Err(CheckpointError::Verify { slot });
        }
        let shead = state_head_bytes(&head);
        let written = write_section::<F, B>(
            &mut self.flash,
            &mut self.buf,
            start + Self::state_from(&spec) as u32,
            &shead,
            state_header_area::<F>(),
            shead.get(..STATE_HEADER_LEN - 4).unwrap_or(&[]),
            net,
            layout.state,
        )?;
        if written != head.crc {
            return Err(CheckpointError::Verify { slot });
        }

        // Read back what was written before committing.
        let mut back = Crc32::new();
        self.stream(slot, 0, len, &mut |at, piece| {
            if at == 0 {
                back.update(piece.get(..16).unwrap_or(&[]));
                back.update(piece.get(HEADER_LEN..).unwrap_or(&[]));
            } else {
                back.update(piece);
            }
            true
        })
        .map_err(CheckpointError::Flash)?;
        if back.finish() != crc {
            return Err(CheckpointError::Verify { slot });
        }
        match self
            .read_state(&spec, slot, &mut |_, _| true)
            .map_err(CheckpointError::Flash)?
        {
            Ok(h) if h == head => {}
            _ => return Err(CheckpointError::Verify { slot }),
        }

        // Commit: the slot header, written last.
        self.buf = [0xFF; BUF_LEN];
        self.buf[..SLOT_HEADER_LEN].copy_from_slice(&slot_header(seq, len as u32));
        self.flash
            .write(from, self.buf.get(..header_area::<F>()).unwrap_or(&[]))
            .map_err(CheckpointError::Flash)?;
        Ok(Saved {
            seq,
            slot,
            state: true,
            tag,
        })
    }

    /// Load the newer valid checkpoint into `net`: its parameters, and its
    /// optimizer state when it has one for `net`'s optimizer (format 2, same
    /// optimizer kind: the state span, Adam's clock and the learning rate;
    /// [`Restored::state`] says so). Both slots are validated completely,
    /// the chosen one is read again into a **staging** area and checked
    /// again (CRC-32s equal to those validated, finite values), and only
    /// then applied, by backend `Copy` ops. The staging area is the
    /// gradient span, followed, when the state does not fit there, by the
    /// arena's working space (the spans after the optimizer state: input,
    /// activations, scratch, targets, scalars), which every forward pass
    /// rewrites; together they must hold [`resume_scratch_len`] elements
    /// (just the parameter count for a checkpoint without state), else
    /// [`CheckpointError::Staging`] before the chosen slot is read again.
    ///
    /// On any error the parameters, optimizer state, step count and
    /// learning rate are bit-identical; with no valid checkpoint the error
    /// says what each slot held. Once staging began (a flash, verify or
    /// backend error, or `Ok`) the gradients are zero, and if the working
    /// space was used the last forward pass is gone (`output` needs a new
    /// `forward`). After `Ok`, `loss` and `backward` need a new `forward`,
    /// as after [`Network::load_parameters`].
    pub fn restore<B: Backend>(&mut self, net: &mut Network<'_, B>) -> Result<Restored, F, B> {
        let spec = *net.spec();
        self.check_fits(&spec)?;
        let layout = *net.layout();
        let work_from = layout.state.end();
        let staging = Staging {
            first: layout.grads,
            second: Span::new(work_from, layout.len.saturating_sub(work_from)),
        };
        let (mut grads_used, mut work_used) = (false, false);
        let found = self.read_newest(net, staging.len(), |net, at, piece| {
            for (span, part) in staging
                .pieces(at, piece.len())
                .iter()
                .zip(split(piece, staging.first.len.saturating_sub(at)))
            {
                if span.len > 0 {
                    grads_used |= span.offset < staging.second.offset;
                    work_used |= span.offset >= staging.second.offset;
                    net.backend_mut()
                        .upload(span.offset, part)
                        .map_err(backend_error)?;
                }
            }
            Ok(())
        });
        let applied = found.and_then(|(found, opt)| {
            let p = layout.params;
            let (state_src, opt) = match opt {
                Some(h) => (staging.pieces(p.len, h.count), Some(h)),
                None => ([Span::new(0, 0); 2], None),
            };
            apply::<F, B>(net, opt, |net| {
                let mut dst = p;
                for src in staging.pieces(0, p.len) {
                    copy::<F, B>(net, src, &mut dst)?;
                }
                let mut dst = layout.state;
                for src in state_src {
                    copy::<F, B>(net, src, &mut dst)?;
                }
                // On a recording backend the copies run here (a failed
                // submission runs none of them, and the learning rate goes
                // back).
                net.backend_mut().submit().map_err(backend_error)
            })?;
            Ok(found)
        });
        if work_used {
            net.working_space_overwritten();
        }
        if grads_used && layout.grads.len > 0 {
            // The staging span held parameters, not gradients.
            let zeroed = net
                .zero_grad()
                .and_then(|()| net.backend_mut().submit().map_err(Error::Backend))
                .map_err(CheckpointError::Network);
            return applied.and_then(|found| zeroed.map(|()| found));
        }
        applied
    }

    /// [`Checkpoints::restore`], staged in `scratch` instead of the arena:
    /// at least [`restore_scratch_len`] elements (else
    /// [`CheckpointError::Staging`] before flash is read), and
    /// [`resume_scratch_len`] for a checkpoint whose optimizer state is
    /// restored (else [`CheckpointError::Staging`] before the chosen slot
    /// is read again). For networks with little working space, or to keep
    /// accumulated gradients. RAM: `scratch` only. On any error nothing but
    /// `scratch` changed; on success the parameters are written by one
    /// [`Network::load_parameters`], then the state span by one upload.
    pub fn restore_with<B: Backend>(
        &mut self,
        net: &mut Network<'_, B>,
        scratch: &mut [B::Elem],
    ) -> Result<Restored, F, B> {
        let spec = *net.spec();
        self.check_fits(&spec)?;
        let needed = restore_scratch_len(&spec);
        let available = scratch.len();
        if available < needed {
            return Err(CheckpointError::Staging { needed, available });
        }
        let (found, opt) = self.read_newest(net, available, |_, at, piece| {
            // `read_newest` hands over the elements in order, within
            // the capacity given.
            let dst = scratch.get_mut(at..).unwrap_or(&mut []);
            for (d, s) in dst.iter_mut().zip(piece) {
                *d = *s;
            }
            Ok(())
        })?;
        let (params, rest) = scratch.split_at(needed.min(available));
        let state = match opt {
            Some(h) => rest.get(..h.count).unwrap_or(&[]),
            None => &[],
        };
        let state_span = net.layout().state;
        apply::<F, B>(net, opt, |net| {
            net.load_parameters(params)
                .map_err(CheckpointError::Network)?;
            if !state.is_empty() {
                net.backend_mut()
                    .upload(state_span.offset, state)
                    .map_err(backend_error)?;
            }
            Ok(())
        })?;
        Ok(found)
    }

    /// Survey both slots, then read the newer valid one again, validating
    /// it as it is read, and hand its parameters, then (when it has state
    /// for `net`'s optimizer) its state elements, to `put(net, index,
    /// piece)` in order, 16 elements at most at a time, indices
    /// counting on from the parameters into the state. `Ok` with the state
    /// header only when every element was handed over and the second read
    /// passed every check of the first with the same CRC-32s; `put` sees
    /// nothing unless a slot is valid and `capacity` holds what will be
    /// handed over (else [`CheckpointError::Staging`]).
    #[allow(clippy::type_complexity)]
    fn read_newest<B: Backend>(
        &mut self,
        net: &mut Network<'_, B>,
        capacity: usize,
        mut put: impl FnMut(&mut Network<'_, B>, usize, &[B::Elem]) -> Result<(), F, B>,
    ) -> Result<(Restored, Option<StateHead>), F, B> {
        let spec = *net.spec();
        let kind = net.layout().optimizer;
        let Survey {
            newest,
            states: [a, b],
            ..
        } = self.survey(&spec)?;
        let Some(Newest { found, crc, opt }) = newest else {
            return Err(CheckpointError::NoValidCheckpoint { a, b });
        };
        // The state applies only to the optimizer it was saved from.
        let opt = opt.filter(|h| h.kind == kind);
        let p = spec.param_count();
        let needed = p.saturating_add(opt.map_or(0, |h| h.count));
        if capacity < needed {
            return Err(CheckpointError::Staging {
                needed,
                available: capacity,
            });
        }
        let slot = found.slot;
        let verify = || CheckpointError::Verify { slot };
        let len = blob::blob_len(p);
        let mut val: Option<Validator> = None;
        let mut index = 0usize;
        // The first error `put` returned, which stopped the read.
        let mut failed = None;
        self.stream(found.slot, 0, len, &mut |at, piece| {
            let payload = if at == 0 {
                val = Validator::new(&spec, piece).ok();
                piece.get(HEADER_LEN..).unwrap_or(&[])
            } else {
                piece
            };
            let Some(v) = val.as_mut() else {
                return false;
            };
            v.payload(payload);
            match hand_over(net, &mut put, &mut index, payload) {
                Ok(()) => true,
                Err(e) => {
                    failed = Some(e);
                    false
                }
            }
        })
        .map_err(CheckpointError::Flash)?;
        if let Some(e) = failed {
            return Err(e);
        }
        // The second read must be complete, valid, and what the first one
        // validated.
        match val.map(Validator::finish) {
            Some(Ok(again)) if again == crc && index == p => {}
            _ => return Err(verify()),
        }
        let Some(want) = opt else {
            return Ok((
                Restored {
                    state: false,
                    tag: 0,
                    ..found
                },
                None,
            ));
        };
        let again = self
            .read_state(&spec, slot, &mut |_, piece| match hand_over(
                net, &mut put, &mut index, piece,
            ) {
                Ok(()) => true,
                Err(e) => {
                    failed = Some(e);
                    false
                }
            })
            .map_err(CheckpointError::Flash)?;
        if let Some(e) = failed {
            return Err(e);
        }
        match again {
            Ok(h) if h == want && index == needed => Ok((found, Some(h))),
            _ => Err(verify()),
        }
    }
}

/// Convert the f32s of `bytes` to elements and hand them to `put` at
/// `*index` on, 16 at a time.
fn hand_over<N, E: Element, X>(
    net: &mut N,
    put: &mut impl FnMut(&mut N, usize, &[E]) -> core::result::Result<(), X>,
    index: &mut usize,
    bytes: &[u8],
) -> core::result::Result<(), X> {
    let mut elems = [E::ZERO; 16];
    for part in bytes.chunks(4 * 16) {
        let mut n = 0;
        for (o, x) in elems.iter_mut().zip(floats(part)) {
            *o = E::from_f32(x);
            n += 1;
        }
        put(net, *index, elems.get(..n).unwrap_or(&[]))?;
        *index = index.saturating_add(n);
    }
    Ok(())
}

/// `piece` split at `at` (clamped).
fn split<T>(piece: &[T], at: usize) -> [&[T]; 2] {
    let (a, b) = piece.split_at(at.min(piece.len()));
    [a, b]
}

/// Copy `src` into the front of `*dst` and advance `*dst` past it.
fn copy<F: NorFlash, B: Backend>(
    net: &mut Network<'_, B>,
    src: Span,
    dst: &mut Span,
) -> Result<(), F, B> {
    if src.len == 0 {
        return Ok(());
    }
    let to = dst.prefix(src.len.min(dst.len));
    net.backend_mut()
        .execute(&Op::Copy(op::Copy { src, dst: to }))
        .map_err(backend_error)?;
    *dst = Span::new(dst.offset + to.len, dst.len - to.len);
    Ok(())
}

/// Apply a validated, staged checkpoint: the learning rate first (refused,
/// with nothing changed, unless the element type holds it), then `write`
/// (parameters and state), then Adam's clock. Should `write` fail the
/// learning rate goes back.
fn apply<F: NorFlash, B: Backend>(
    net: &mut Network<'_, B>,
    opt: Option<StateHead>,
    write: impl FnOnce(&mut Network<'_, B>) -> Result<(), F, B>,
) -> Result<(), F, B> {
    let old_lr = net.lr();
    if let Some(h) = opt {
        net.set_lr(h.lr).map_err(CheckpointError::Network)?;
    }
    // `loss` and `backward` need a new forward pass from here on.
    net.params_changed();
    if let Err(e) = write(net) {
        // `old_lr` was accepted before: this cannot fail.
        let _ = net.set_lr(old_lr);
        return Err(e);
    }
    if let Some(h) = opt {
        net.set_clock(h.clock);
    }
    Ok(())
}

/// Bytes on their way to flash through one buffer of [`BUF_LEN`] bytes,
/// written whenever it is full.
struct Sink<'b> {
    buf: &'b mut [u8; BUF_LEN],
    fill: usize,
    /// Flash offset of the buffer's first byte.
    at: u32,
}

impl<'b> Sink<'b> {
    fn new(buf: &'b mut [u8; BUF_LEN], at: u32) -> Self {
        *buf = [0xFF; BUF_LEN];
        Sink { buf, fill: 0, at }
    }

    /// Append `bytes`, or `n` bytes of `0xFF` padding when `bytes` is
    /// `None`. (Not inlined: one copy of the flash write serves all.)
    #[inline(never)]
    fn push<F: NorFlash>(
        &mut self,
        flash: &mut F,
        mut bytes: Option<&[u8]>,
        mut n: usize,
    ) -> core::result::Result<(), F::Error> {
        if let Some(b) = bytes {
            n = b.len();
        }
        while n > 0 {
            let k = n.min(BUF_LEN - self.fill);
            if let (Some(dst), Some(src)) = (self.buf.get_mut(self.fill..self.fill + k), bytes) {
                for (d, b) in dst.iter_mut().zip(src) {
                    *d = *b;
                }
                bytes = src.get(k..);
            }
            self.fill += k;
            n -= k;
            if self.fill == BUF_LEN {
                flash.write(self.at, &self.buf[..])?;
                self.at += BUF_LEN as u32;
                self.fill = 0;
                *self.buf = [0xFF; BUF_LEN];
            }
        }
        Ok(())
    }

    /// Write what is left, its last unit padded with `0xFF`.
    fn finish<F: NorFlash>(self, flash: &mut F) -> core::result::Result<(), F::Error> {
        if self.fill > 0 {
            let piece = self
                .buf
                .get(..round_up(self.fill, unit::<F>()))
                .unwrap_or(&[]);
            flash.write(self.at, piece)?;
        }
        Ok(())
    }
}

/// Write a section at flash offset `start` (unit-aligned): `prefix`,
/// `0xFF` up to `pad_to` bytes, then the f32 LE bytes of `span`'s
/// elements, the last unit padded with `0xFF`. Returns the CRC-32 of
/// `crc_seed` and the payload as written.
#[allow(clippy::too_many_arguments)]
fn write_section<F: NorFlash, B: Backend>(
    flash: &mut F,
    buf: &mut [u8; BUF_LEN],
    start: u32,
    prefix: &[u8],
    pad_to: usize,
    crc_seed: &[u8],
    net: &mut Network<'_, B>,
    span: Span,
) -> Result<u32, F, B> {
    let mut sink = Sink::new(buf, start);
    let mut check = Crc32::new();
    check.update(crc_seed);
    sink.push(flash, Some(prefix), 0)
        .and_then(|()| sink.push(flash, None, pad_to.saturating_sub(prefix.len())))
        .map_err(CheckpointError::Flash)?;
    stream_span::<F, B>(net, span, |piece| {
        for p in piece {
            let bytes = p.to_f32().to_le_bytes();
            check.update(&bytes);
            sink.push(flash, Some(&bytes), 0)
                .map_err(CheckpointError::Flash)?;
        }
        Ok(())
    })?;
    sink.finish(flash).map_err(CheckpointError::Flash)?;
    Ok(check.finish())
}

/// Stream `span` out of the backend, [`CHUNK`] elements at a time.
fn stream_span<F: NorFlash, B: Backend>(
    net: &mut Network<'_, B>,
    span: Span,
    mut f: impl FnMut(&[B::Elem]) -> Result<(), F, B>,
) -> Result<(), F, B> {
    let mut buf = [B::Elem::ZERO; CHUNK];
    let mut done = 0;
    while done < span.len {
        let n = CHUNK.min(span.len - done);
        let piece = buf.get_mut(..n).unwrap_or(&mut []);
        net.backend_mut()
            .download(span.offset + done, piece)
            .map_err(backend_error)?;
        f(piece)?;
        done += n;
    }
    Ok(())
}

/// The CRC-32 of `net`'s parameters as a blob, streamed out of the backend;
/// rejects a non-finite parameter.
fn blob_crc<F: NorFlash, B: Backend>(net: &mut Network<'_, B>) -> Result<u32, F, B> {
    let spec = *net.spec();
    let head = blob::header_bytes(&spec, 0).map_err(CheckpointError::Blob)?;
    let mut crc = Crc32::new();
    crc.update(&head[..16]);
    net.stream_params(backend_error, |done, piece| {
        for (i, p) in piece.iter().enumerate() {
            let v = p.to_f32();
            if !v.is_finite() {
                return Err(CheckpointError::Blob(BlobError::NonFinite {
                    index: done + i,
                }));
            }
            crc.update(&v.to_le_bytes());
        }
        Ok(())
    })?;
    Ok(crc.finish())
}

/// The CRC-32 of the optimizer-state section for `head` (its `crc` field
/// ignored) and `net`'s state span; rejects a non-finite state element.
fn state_crc<F: NorFlash, B: Backend>(
    net: &mut Network<'_, B>,
    head: &StateHead,
) -> Result<u32, F, B> {
    let bytes = state_head_bytes(head);
    let mut crc = Crc32::new();
    crc.update(bytes.get(..STATE_HEADER_LEN - 4).unwrap_or(&[]));
    let mut index = 0usize;
    let span = net.layout().state;
    stream_span::<F, B>(net, span, |piece| {
        for p in piece {
            let v = p.to_f32();
            if !v.is_finite() {
                return Err(CheckpointError::State(BlobError::NonFinite { index }));
            }
            crc.update(&v.to_le_bytes());
            index += 1;
        }
        Ok(())
    })?;
    Ok(crc.finish())
}

/// A backend error met while streaming parameters.
fn backend_error<FE, BE>(e: BE) -> CheckpointError<FE, BE> {
    CheckpointError::Network(Error::Backend(e))
}
