//! The backend's error type.

use std::fmt;

use microprop_hal::{ErrorKind, OpError};

/// What went wrong in the Vulkan backend.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// No usable Vulkan device: no loader, no driver (ICD), no device with a
    /// compute queue, or none whose name matched the one asked for.
    NoDevice {
        /// What was looked for, e.g. `any Vulkan device with a compute queue`
        /// or `a Vulkan device whose name contains "llvmpipe"`.
        wanted: String,
        /// Names of the devices that were found (possibly none).
        found: Vec<String>,
        /// Why the search failed, in words (the loader's or driver's error).
        reason: String,
    },
    /// The op was rejected by [`microprop_hal::Op::validate`].
    Op(OpError),
    /// An upload or download range reaches past the arena.
    OutOfBounds {
        /// First element of the range.
        offset: usize,
        /// Elements in the range.
        len: usize,
        /// Arena length in elements.
        arena_len: usize,
    },
    /// A size does not fit this device (the arena beyond the largest storage
    /// buffer, or an op dimension beyond what a dispatch can cover).
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its value.
        value: usize,
        /// The largest value allowed.
        limit: usize,
    },
    /// A Vulkan call failed (device lost, out of memory, driver error, or a
    /// vulkano validation error).
    Vulkan {
        /// What the backend was doing.
        during: &'static str,
        /// The error, in words.
        message: String,
    },
}

impl Error {
    pub(crate) fn vk(during: &'static str, e: impl fmt::Debug) -> Self {
        Error::Vulkan {
            during,
            message: format!("{e:?}"),
        }
    }
}

impl microprop_hal::Error for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::NoDevice { .. } | Error::Vulkan { .. } => ErrorKind::Device,
            Error::Op(e) => e.kind(),
            Error::OutOfBounds { .. } => ErrorKind::OutOfBounds,
            Error::TooLarge { .. } => ErrorKind::Unsupported,
        }
    }
}

impl From<OpError> for Error {
    fn from(e: OpError) -> Self {
        Error::Op(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoDevice {
                wanted,
                found,
                reason,
            } => {
                write!(f, "no Vulkan device: wanted {wanted}; {reason}")?;
                if found.is_empty() {
                    write!(f, " (no devices found)")
                } else {
                    write!(f, " (found: {})", found.join(", "))
                }
            }
            Error::Op(e) => write!(f, "invalid op: {e}"),
            Error::OutOfBounds {
                offset,
                len,
                arena_len,
            } => write!(
                f,
                "range {offset}..{} reaches past the arena of {arena_len} elements",
                offset.saturating_add(*len)
            ),
            Error::TooLarge { what, value, limit } => {
                write!(
                    f,
                    "{what} is {value}, more than this device allows ({limit})"
                )
            }
            Error::Vulkan { during, message } => {
                write!(f, "Vulkan error while {during}: {message}")
            }
        }
    }
}

/// `source()` is the [`OpError`] of [`Error::Op`].
impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Op(e) => Some(e),
            _ => None,
        }
    }
}
