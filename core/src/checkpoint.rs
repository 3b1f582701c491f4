//! Power-safe checkpoints: a model's parameters, as a device
//! [blob], in NOR flash through the `embedded-storage`
//! [`NorFlash`] traits, in two slots (A/B), so that a power cut at any
//! moment of a save leaves either the previous or the new model restorable,
//! never a broken one.
//!
//! # Layout
//!
//! A region of two equal slots, `slot_len` bytes each (a multiple of the
//! flash's `ERASE_SIZE`), at `region_offset` (erase-aligned). Each slot:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | slot magic `b"MPCK"` |
//! | 4 | 4 | sequence number, u32 LE (1 for the first save) |
//! | 8 | 4 | blob length in bytes, u32 LE |
//! | 12 | 4 | CRC-32 of bytes `0..12` |
//! | `u` | `blob_len` | the device blob (its own header and CRC-32) |
//!
//! where `u` is the slot header rounded up to the flash's write unit
//! (`max(READ_SIZE, WRITE_SIZE)`); every read and write is unit-aligned and
//! a partial last unit is padded with `0xFF`.
//!
//! # Why a cut cannot lose the model
//!
//! [`Checkpoints::save`] writes into the slot that does **not** hold the
//! newest valid checkpoint, in this order:
//!
//! 1. read the parameters once to compute the blob's CRC (and reject a NaN
//!    before flash is touched);
//! 2. erase the target slot (NOR: every byte becomes `0xFF`);
//! 3. write the blob, then read it back and check its CRC;
//! 4. write the slot header **last**: it is the commit.
//!
//! A cut during (2) leaves the target partly erased: its header or its blob
//! no longer checks, or (cut before the first byte changed) it still holds
//! an older checkpoint. A cut during (3) leaves the header erased (`0xFF…`:
//! no magic). A cut during (4) leaves a torn header whose CRC does not
//! match. In every case the other slot, which holds the newest complete
//! checkpoint, was never touched. Only a header whose CRC matches, whose
//! blob length is this network's, and whose blob passes every check of
//! [`blob::validate`] (magic, version, spec hash, count, CRC-32, finite
//! values) counts as valid; [`Checkpoints::restore`] loads the newer valid
//! one.
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
//! chosen one a second time into a **staging span**, checking it again as it
//! is read (blob header, spec hash, count, finite values, and a CRC-32 equal
//! to the one the first read validated). Only when the whole payload has
//! been read and checked are the staged parameters applied, by one backend
//! `Copy` op (its bounds are checked before it runs; on the CPU backend it
//! cannot stop halfway). A flash read that fails, or returns other bytes the
//! second time, at any point leaves the parameters and the optimizer state
//! bit-identical and returns an error.
//!
//! The staging span is the network's **gradient span** (no RAM beyond the
//! arena): gradients are working space between steps (`train_step` zeroes
//! them first), and once staging began `restore` leaves them zero, `Ok` or
//! `Err`. A network without one (fused SGD) gets
//! [`CheckpointError::Staging`] and uses [`Checkpoints::restore_with`], which
//! stages into a caller's slice of [`restore_scratch_len`] elements (that
//! many elements of RAM, e.g. a `static`) and changes nothing but the
//! parameters, and those only on success.
//!
//! # RAM
//!
//! Parameters stream between the backend's arena and flash through a
//! [`BUF_LEN`]-byte buffer and a 64-element buffer on the stack: no second
//! copy of the parameters outside the arena (except `restore_with`'s
//! scratch). `save` reads the parameters twice (CRC, then write) and the
//! flash once (verify); `restore` reads both slots to validate them, then
//! the chosen one again into the staging span.
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
//! // Fused SGD keeps no gradients to stage in: restore through a scratch.
//! const FUSED: Config = Config::new(4, Loss::Mse, Optimizer::fused_sgd(0.1));
//! let mut arena3 = [0.0f32; FUSED.arena_len(&NET)];
//! let mut third = Network::new(NET, CpuBackend::new(&mut arena3), FUSED).unwrap();
//! let mut scratch = [0.0f32; checkpoint::restore_scratch_len(&NET)];
//! assert_eq!(ckpt.restore_with(&mut third, &mut scratch).unwrap().seq, 1);
//! third.parameters(&mut q).unwrap();
//! assert_eq!(p, q);
//! ```

use crate::blob::{self, BlobError, Crc32, HEADER_LEN};
use crate::error::Error;
use crate::network::Network;
use crate::Spec;
use core::fmt;
use embedded_storage::nor_flash::NorFlash;
use microprop_hal::{op, Backend, Element, Op};

/// The first four bytes of a committed slot.
pub const SLOT_MAGIC: [u8; 4] = *b"MPCK";
/// Bytes of the slot header before padding to the write unit.
pub const SLOT_HEADER_LEN: usize = 16;
/// Bytes moved per flash read or write (a stack buffer); the flash's
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
}

/// Where a save went or a restore came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Restored {
    /// Sequence number of the checkpoint.
    pub seq: u32,
    /// Its slot.
    pub slot: Slot,
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
            CheckpointError::Blob(e) => Some(e),
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

/// The smallest slot (a multiple of `F::ERASE_SIZE`) that holds a
/// checkpoint of `spec` on flash `F`; the region needs twice this.
pub const fn slot_len<F: NorFlash>(spec: &Spec<'_>) -> usize {
    let u = unit::<F>();
    let used = header_area::<F>() + round_up(blob::blob_len(spec.param_count()), u);
    round_up(used, max(F::ERASE_SIZE, 1))
}

/// Elements of scratch [`Checkpoints::restore_with`] needs for a network of
/// `spec` (its parameter count): size a `static` with it.
pub const fn restore_scratch_len(spec: &Spec<'_>) -> usize {
    spec.param_count()
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

/// The slot header for `seq` and a blob of `len` bytes.
fn slot_header(seq: u32, len: u32) -> [u8; SLOT_HEADER_LEN] {
    let mut h = [0u8; SLOT_HEADER_LEN];
    h[0..4].copy_from_slice(&SLOT_MAGIC);
    h[4..8].copy_from_slice(&seq.to_le_bytes());
    h[8..12].copy_from_slice(&len.to_le_bytes());
    let crc = blob::crc32(&h[0..12]);
    h[12..16].copy_from_slice(&crc.to_le_bytes());
    h
}

/// A slot header as read: its state if it is not intact, else its sequence
/// number and blob length.
fn parse_slot_header(h: &[u8]) -> core::result::Result<(u32, u32), SlotState> {
    let Some(h) = h.get(..SLOT_HEADER_LEN) else {
        return Err(SlotState::BadMagic);
    };
    if h.iter().all(|&b| b == 0xFF) {
        return Err(SlotState::Erased);
    }
    if h.get(0..4) != Some(&SLOT_MAGIC[..]) {
        return Err(SlotState::BadMagic);
    }
    if h.get(..12).map(blob::crc32) != Some(u32_at(h, 12)) {
        return Err(SlotState::HeaderCrc);
    }
    Ok((u32_at(h, 4), u32_at(h, 8)))
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
    /// Check the blob's header (the first [`HEADER_LEN`] bytes).
    fn new(spec: &Spec<'_>, head: &[u8]) -> core::result::Result<Self, BlobError> {
        let h = blob::parse_prefix(head)?;
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
        debug_assert_eq!(self.index, self.count);
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
}

/// Both slots, read and validated.
struct Survey {
    /// The newer valid checkpoint, and its blob's CRC-32.
    newest: Option<(Restored, u32)>,
    /// Slot A's and slot B's state.
    states: [SlotState; 2],
    /// Slot A's and slot B's intact header sequence numbers.
    seqs: [Option<u32>; 2],
}

/// Two checkpoint slots in a region of a NOR flash (see the module docs).
#[derive(Debug)]
pub struct Checkpoints<F> {
    flash: F,
    base: u32,
    slot_len: u32,
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

    fn check_fits<BE>(
        &self,
        spec: &Spec<'_>,
    ) -> core::result::Result<(), CheckpointError<F::Error, BE>> {
        let needed = slot_len::<F>(spec);
        if needed > self.slot_len as usize {
            return Err(CheckpointError::SlotTooSmall {
                needed,
                slot_len: self.slot_len as usize,
            });
        }
        Ok(())
    }

    /// Read the blob stored in `slot` in pieces of at most [`BUF_LEN`]
    /// bytes, giving each piece's offset in the blob to `f`.
    fn stream<X>(
        &mut self,
        slot: Slot,
        len: usize,
        mut f: impl FnMut(usize, &[u8]) -> core::result::Result<(), X>,
        flash_err: impl Fn(F::Error) -> X,
    ) -> core::result::Result<(), X> {
        let u = unit::<F>();
        let start = self.slot_offset(slot) + header_area::<F>() as u32;
        let mut buf = [0u8; BUF_LEN];
        let mut at = 0;
        while at < len {
            let n = BUF_LEN.min(len - at);
            let Some(piece) = buf.get_mut(..round_up(n, u)) else {
                break;
            };
            self.flash
                .read(start + at as u32, piece)
                .map_err(&flash_err)?;
            f(at, piece.get(..n).unwrap_or(&[]))?;
            at += n;
        }
        Ok(())
    }

    /// Validate `slot` completely against `spec` (slot header, blob header,
    /// spec hash, count, CRC-32, finite values).
    fn check_slot(
        &mut self,
        spec: &Spec<'_>,
        slot: Slot,
    ) -> core::result::Result<Checked, F::Error> {
        let mut head = [0u8; BUF_LEN];
        let area = header_area::<F>();
        let head = head.get_mut(..area).unwrap_or(&mut []);
        self.flash.read(self.slot_offset(slot), head)?;
        let (seq, len) = match parse_slot_header(head) {
            Ok(h) => h,
            Err(state) => {
                return Ok(Checked {
                    state,
                    seq: None,
                    crc: 0,
                })
            }
        };
        let want = blob::blob_len(spec.param_count());
        if len as usize != want {
            return Ok(Checked {
                state: SlotState::Length { found: len },
                seq: Some(seq),
                crc: 0,
            });
        }
        let mut v: Option<core::result::Result<Validator, BlobError>> = None;
        self.stream(
            slot,
            want,
            |_, piece| {
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
                Ok(())
            },
            |e| e,
        )?;
        let (state, crc) = match v {
            Some(Ok(val)) => match val.finish() {
                Ok(crc) => (SlotState::Valid { seq }, crc),
                Err(e) => (SlotState::Blob(e), 0),
            },
            Some(Err(e)) => (SlotState::Blob(e), 0),
            None => (
                SlotState::Blob(BlobError::Truncated {
                    needed: want,
                    got: 0,
                }),
                0,
            ),
        };
        Ok(Checked {
            state,
            seq: Some(seq),
            crc,
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
            Some((
                Restored { seq, slot },
                if slot == Slot::A { a.crc } else { b.crc },
            ))
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

    /// Save `net`'s parameters as a new checkpoint into the slot that does
    /// not hold the newest valid one (erase, write the blob, verify it, then
    /// commit the slot header). A power cut at any point leaves the previous
    /// checkpoint restorable. On [`CheckpointError::Blob`] (a non-finite
    /// parameter) and [`CheckpointError::SlotTooSmall`] flash is untouched.
    /// Its sequence number is newer than the kept slot's (see the module
    /// docs): saves never run out of them.
    pub fn save<B: Backend>(&mut self, net: &mut Network<'_, B>) -> Result<Saved, F, B> {
        let spec = *net.spec();
        self.check_fits(&spec)?;
        let crc = blob_crc::<F, B>(net)?;
        let Survey {
            newest,
            seqs: [sa, sb],
            ..
        } = self.survey(&spec)?;
        let (slot, seq) = match newest {
            Some((Restored { slot: Slot::A, .. }, _)) => (Slot::B, next_seq(sa, sb)),
            _ => (Slot::A, next_seq(sb, sa)),
        };
        let from = self.slot_offset(slot);
        self.flash
            .erase(from, from + self.slot_len)
            .map_err(CheckpointError::Flash)?;

        // The blob, through one buffer of BUF_LEN bytes.
        let len = blob::blob_len(spec.param_count());
        let u = unit::<F>();
        let start = from + header_area::<F>() as u32;
        let head = blob::header_bytes(&spec, crc).map_err(CheckpointError::Blob)?;
        let mut buf = [0xFFu8; BUF_LEN];
        let mut fill = HEADER_LEN;
        let mut written = 0usize;
        let mut check = Crc32::new();
        check.update(&head[..16]);
        buf[..HEADER_LEN].copy_from_slice(&head);
        let flash = &mut self.flash;
        net.stream_params(backend_error, |_, piece| {
            for p in piece {
                let b = p.to_f32().to_le_bytes();
                check.update(&b);
                if let Some(dst) = buf.get_mut(fill..fill + 4) {
                    dst.copy_from_slice(&b);
                }
                fill += 4;
                if fill == BUF_LEN {
                    flash
                        .write(start + written as u32, &buf)
                        .map_err(CheckpointError::Flash)?;
                    written += BUF_LEN;
                    fill = 0;
                    buf = [0xFF; BUF_LEN];
                }
            }
            Ok(())
        })?;
        if fill > 0 {
            let piece = buf.get(..round_up(fill, u)).unwrap_or(&[]);
            self.flash
                .write(start + written as u32, piece)
                .map_err(CheckpointError::Flash)?;
        }
        if check.finish() != crc {
            // The parameters changed between the two reads: do not commit.
            return Err(CheckpointError::Verify { slot });
        }

        // Read back what was written before committing.
        let mut back = Crc32::new();
        self.stream(
            slot,
            len,
            |at, piece| {
                if at == 0 {
                    back.update(piece.get(..16).unwrap_or(&[]));
                    back.update(piece.get(HEADER_LEN..).unwrap_or(&[]));
                } else {
                    back.update(piece);
                }
                Ok(())
            },
            CheckpointError::Flash,
        )?;
        if back.finish() != crc {
            return Err(CheckpointError::Verify { slot });
        }

        // Commit: the slot header, written last.
        let mut hdr = [0xFFu8; BUF_LEN];
        hdr[..SLOT_HEADER_LEN].copy_from_slice(&slot_header(seq, len as u32));
        self.flash
            .write(from, hdr.get(..header_area::<F>()).unwrap_or(&[]))
            .map_err(CheckpointError::Flash)?;
        Ok(Saved { seq, slot })
    }

    /// Load the newer valid checkpoint into `net`'s parameters (optimizer
    /// state is kept), staged in the network's gradient span: both slots
    /// are validated completely, the chosen one is read again into the
    /// gradient span and checked again (CRC-32 equal to the one validated,
    /// finite values), and only then copied into the parameters by one
    /// backend `Copy` op. On any error the parameters and optimizer state
    /// are bit-identical; with no valid checkpoint the error says what each
    /// slot held. Once staging began (the error is a flash, verify or
    /// backend error) the gradients are zero, `Ok` or `Err`. After `Ok`,
    /// `loss` and `backward` need a new `forward`, as after
    /// [`Network::load_parameters`].
    ///
    /// A network without a gradient span (fused SGD) gets
    /// [`CheckpointError::Staging`]: use [`Checkpoints::restore_with`].
    pub fn restore<B: Backend>(&mut self, net: &mut Network<'_, B>) -> Result<Restored, F, B> {
        let spec = *net.spec();
        self.check_fits(&spec)?;
        let layout = *net.layout();
        let p = layout.params;
        if layout.grads.len < p.len {
            return Err(CheckpointError::Staging {
                needed: p.len,
                available: layout.grads.len,
            });
        }
        let staging = layout.grads.prefix(p.len);
        let mut staged = false;
        let found = self.read_newest(&spec, |at, piece| {
            staged = true;
            net.backend_mut()
                .upload(staging.offset + at, piece)
                .map_err(backend_error)
        });
        let applied = found.and_then(|found| {
            // `loss` and `backward` need a new forward pass from here on.
            net.params_changed();
            let copy = Op::Copy(op::Copy {
                src: staging,
                dst: p,
            });
            net.backend_mut().execute(&copy).map_err(backend_error)?;
            Ok(found)
        });
        if staged {
            // The staging span held parameters, not gradients.
            let zeroed = net
                .zero_grad()
                .and_then(|()| net.backend_mut().submit().map_err(Error::Backend))
                .map_err(CheckpointError::Network);
            return applied.and_then(|found| zeroed.map(|()| found));
        }
        applied
    }

    /// [`Checkpoints::restore`], staged in `scratch` (at least
    /// [`restore_scratch_len`] elements; a shorter one is
    /// [`CheckpointError::Staging`] before flash is read) instead of the
    /// gradient span: for networks without one (fused SGD), or to keep
    /// accumulated gradients. RAM: `scratch` only. On any error nothing but
    /// `scratch` changed; on success the parameters are written by one
    /// [`Network::load_parameters`].
    pub fn restore_with<B: Backend>(
        &mut self,
        net: &mut Network<'_, B>,
        scratch: &mut [B::Elem],
    ) -> Result<Restored, F, B> {
        let spec = *net.spec();
        self.check_fits(&spec)?;
        let needed = restore_scratch_len(&spec);
        let available = scratch.len();
        let Some(staging) = scratch.get_mut(..needed) else {
            return Err(CheckpointError::Staging { needed, available });
        };
        let found = self.read_newest(&spec, |at, piece| {
            // `read_newest` hands over exactly `needed` elements in order.
            let dst = staging.get_mut(at..).unwrap_or(&mut []);
            for (d, s) in dst.iter_mut().zip(piece) {
                *d = *s;
            }
            Ok(())
        })?;
        net.load_parameters(staging)
            .map_err(CheckpointError::Network)?;
        Ok(found)
    }

    /// Survey both slots, then read the newer valid one again, validating
    /// it as it is read, and hand its parameters to `put(index, piece)` in
    /// order, [`CHUNK`] elements at most at a time. `Ok` only when every
    /// parameter was handed over and the second read passed every check
    /// of the first (blob header, spec hash, count, finite values) with
    /// the same CRC-32; `put` sees nothing unless a slot is valid.
    fn read_newest<E: Element, BE>(
        &mut self,
        spec: &Spec<'_>,
        mut put: impl FnMut(usize, &[E]) -> core::result::Result<(), CheckpointError<F::Error, BE>>,
    ) -> core::result::Result<Restored, CheckpointError<F::Error, BE>> {
        let Survey {
            newest,
            states: [a, b],
            ..
        } = self.survey(spec)?;
        let Some((found, crc)) = newest else {
            return Err(CheckpointError::NoValidCheckpoint { a, b });
        };
        let slot = found.slot;
        let verify = || CheckpointError::Verify { slot };
        let len = blob::blob_len(spec.param_count());
        let mut val: Option<Validator> = None;
        let mut elems = [E::ZERO; CHUNK];
        let mut index = 0usize;
        self.stream(
            found.slot,
            len,
            |at, piece| {
                let payload = if at == 0 {
                    val = Some(Validator::new(spec, piece).map_err(|_| verify())?);
                    piece.get(HEADER_LEN..).unwrap_or(&[])
                } else {
                    piece
                };
                let Some(v) = val.as_mut() else {
                    return Err(verify());
                };
                v.payload(payload);
                for part in payload.chunks(4 * CHUNK) {
                    let mut n = 0;
                    for (o, x) in elems.iter_mut().zip(floats(part)) {
                        *o = E::from_f32(x);
                        n += 1;
                    }
                    put(index, elems.get(..n).unwrap_or(&[]))?;
                    index = index.saturating_add(n);
                }
                Ok(())
            },
            CheckpointError::Flash,
        )?;
        // The second read must be complete, valid, and what the first one
        // validated.
        match val.map(Validator::finish) {
            Some(Ok(again)) if again == crc && index == spec.param_count() => Ok(found),
            _ => Err(verify()),
        }
    }
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

/// A backend error met while streaming parameters.
fn backend_error<FE, BE>(e: BE) -> CheckpointError<FE, BE> {
    CheckpointError::Network(Error::Backend(e))
}
