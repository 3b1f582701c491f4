//! Files on the host, through semihosting (`SYS_OPEN`, `SYS_FLEN`,
//! `SYS_READ`, `SYS_WRITE`, `SYS_CLOSE`): the channel a fleet client
//! (`src/bin/fleet.rs`) receives the global model on and returns its update
//! on. QEMU resolves a relative path against its working directory; under a
//! debugger, against the debugger's.
// Semihosting calls are `unsafe` (they trap into the host); each passes
// pointers and lengths of live buffers only.
#![allow(unsafe_code)]

use cortex_m_semihosting::{nr, syscall};

/// Why a host file operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, defmt::Format)]
pub enum HostFileError {
    /// The host could not open the file.
    Open,
    /// The file is longer than the buffer (its length, the buffer's).
    TooLong(usize, usize),
    /// A read or write stopped short.
    Short,
}

/// Open `path` (NUL-terminated) in `mode` (`nr::open::*`).
fn open(path: &[u8], mode: usize) -> Result<usize, HostFileError> {
    let Some((&0, name)) = path.split_last() else {
        return Err(HostFileError::Open);
    };
    // SAFETY: `path` is a live, NUL-terminated byte string; the host reads
    // `name.len()` bytes of it.
    let fd = unsafe { syscall!(OPEN, path.as_ptr(), mode, name.len()) };
    if fd == usize::MAX {
        Err(HostFileError::Open)
    } else {
        Ok(fd)
    }
}

fn close(fd: usize) {
    // SAFETY: `fd` is a handle this module opened.
    unsafe { syscall!(CLOSE, fd) };
}

/// Read the whole file `path` (NUL-terminated) into the front of `buf`;
/// returns its length.
pub fn read(path: &[u8], buf: &mut [u8]) -> Result<usize, HostFileError> {
    let fd = open(path, nr::open::R_BINARY)?;
    // SAFETY: `fd` is open.
    let len = unsafe { syscall!(FLEN, fd) };
    let r = if len > buf.len() {
        Err(HostFileError::TooLong(len, buf.len()))
    } else {
        // SAFETY: the host writes at most `len` ≤ `buf.len()` bytes into
        // `buf`; it returns the number of bytes it did not read.
        let left = unsafe { syscall!(READ, fd, buf.as_mut_ptr(), len) };
        if left == 0 {
            Ok(len)
        } else {
            Err(HostFileError::Short)
        }
    };
    close(fd);
    r
}

/// Create or replace the file `path` (NUL-terminated) with `data`.
pub fn write(path: &[u8], data: &[u8]) -> Result<(), HostFileError> {
    let fd = open(path, nr::open::W_TRUNC_BINARY)?;
    // SAFETY: the host reads `data.len()` bytes of the live `data`; it
    // returns the number of bytes it did not write.
    let left = unsafe { syscall!(WRITE, fd, data.as_ptr(), data.len()) };
    close(fd);
    if left == 0 {
        Ok(())
    } else {
        Err(HostFileError::Short)
    }
}
