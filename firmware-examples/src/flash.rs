//! A RAM-backed NOR flash for the `checkpoint` example.
//!
//! QEMU's boards map their "flash" as plain memory that the firmware cannot
//! program through a flash controller, so the example saves its checkpoints
//! into a `static` buffer that behaves like NOR flash: erase sets whole
//! pages to `0xFF`, a write may only clear bits (programming a bit from 0
//! back to 1 is refused with [`FlashError::NotErased`], as a real flash
//! controller would flag it), and offsets and lengths must be multiples of
//! [`WRITE_SIZE`] / [`ERASE_SIZE`]. The geometry is the nRF51's (the
//! micro:bit's): 4-byte words, 1 KiB pages. On a real board the same
//! `microprop::checkpoint` code runs on the HAL's `NorFlash` instead.

use embedded_storage::nor_flash::{
    check_erase, check_read, check_write, ErrorType, NorFlash, NorFlashError, NorFlashErrorKind,
    ReadNorFlash,
};

/// Bytes per program operation.
pub const WRITE_SIZE: usize = 4;
/// Bytes per erase page.
pub const ERASE_SIZE: usize = 1024;

/// What the RAM flash refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, defmt::Format)]
pub enum FlashError {
    /// Offset or length not a multiple of the write or erase unit.
    NotAligned,
    /// Beyond the end of the flash.
    OutOfBounds,
    /// A write would set a bit that is 0 (the page was not erased).
    NotErased,
}

impl NorFlashError for FlashError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            FlashError::NotAligned => NorFlashErrorKind::NotAligned,
            FlashError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            FlashError::NotErased => NorFlashErrorKind::Other,
        }
    }
}

fn kind(k: NorFlashErrorKind) -> FlashError {
    match k {
        NorFlashErrorKind::NotAligned => FlashError::NotAligned,
        _ => FlashError::OutOfBounds,
    }
}

/// NOR flash semantics over a byte buffer.
pub struct RamFlash<'a> {
    mem: &'a mut [u8],
}

impl<'a> RamFlash<'a> {
    /// Use `mem` as flash; its contents are kept (erase it first for a
    /// blank device).
    pub fn new(mem: &'a mut [u8]) -> Self {
        RamFlash { mem }
    }

    /// The raw bytes (to inspect, or to corrupt on purpose).
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        self.mem
    }
}

impl ErrorType for RamFlash<'_> {
    type Error = FlashError;
}

impl ReadNorFlash for RamFlash<'_> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), FlashError> {
        check_read(self, offset, bytes.len()).map_err(kind)?;
        let at = offset as usize;
        let src = self
            .mem
            .get(at..at + bytes.len())
            .ok_or(FlashError::OutOfBounds)?;
        bytes.copy_from_slice(src);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.mem.len()
    }
}

impl NorFlash for RamFlash<'_> {
    const WRITE_SIZE: usize = WRITE_SIZE;
    const ERASE_SIZE: usize = ERASE_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), FlashError> {
        check_erase(self, from, to).map_err(kind)?;
        self.mem
            .get_mut(from as usize..to as usize)
            .ok_or(FlashError::OutOfBounds)?
            .fill(0xFF);
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), FlashError> {
        check_write(self, offset, bytes.len()).map_err(kind)?;
        let at = offset as usize;
        let dst = self
            .mem
            .get_mut(at..at + bytes.len())
            .ok_or(FlashError::OutOfBounds)?;
        if dst.iter().zip(bytes).any(|(&old, &new)| new & !old != 0) {
            return Err(FlashError::NotErased);
        }
        for (m, &d) in dst.iter_mut().zip(bytes) {
            *m &= d;
        }
        Ok(())
    }
}
