//! The device blob: a model's parameters in a compact, self-checking binary
//! form that a firmware embeds (`include_bytes!`) or stores in flash.
//!
//! Layout, all little-endian (20-byte header, then the payload):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `b"MPB\x01"` |
//! | 4 | 2 | format version ([`VERSION`]) |
//! | 6 | 1 | element type: `1` = f32, `2` = 16-bit fixed point |
//! | 7 | 1 | f32: reserved, `0`; fixed point: its fractional bits `F` (1..=14) |
//! | 8 | 4 | spec hash ([`Spec::hash`]) |
//! | 12 | 4 | parameter count `n` |
//! | 16 | 4 | CRC-32 (IEEE) of bytes `0..16` followed by the payload |
//! | 20 | 4·n | parameters as f32, in [`Network::parameters`](crate::Network::parameters) order |
//! | 20 | 2·n | or, fixed point: each parameter as the `i16` `round(v · 2^F)` |
//!
//! A fixed-point blob ([`Payload::Fixed16`], written by [`encode_fixed`],
//! e.g. by `microprop quantize`) is half the size; it loads into a network
//! of any element type, exactly into a [`Fixed`](crate::Fixed) network of
//! the same `F`. A network saves f32 ([`encode`]), which holds a 16-bit
//! fixed-point value exactly.
//!
//! [`validate`] checks everything (length, magic, version, element type,
//! reserved byte, spec, count, CRC, finite values) before a loader writes
//! anything, so a rejected blob leaves the arena as it was.
//!
//! ```
//! use microprop::blob;
//! use microprop::{Layer, Spec};
//!
//! const NET: Spec = Spec::new(&[Layer::dense(2, 2), Layer::relu(), Layer::dense(2, 1)]);
//! let params = [0.5f32, -1.0, 2.0, 0.25, 0.0, 0.1, 1.5, -0.5, 0.3];
//! let mut bytes = [0u8; blob::blob_len(NET.param_count())];
//! blob::encode(&NET, &params, &mut bytes).unwrap();
//!
//! let mut back = [0.0f32; 9];
//! blob::decode(&NET, &bytes, &mut back).unwrap();
//! assert_eq!(back, params);
//!
//! bytes[25] ^= 0x01; // one flipped bit in the payload
//! assert!(matches!(
//!     blob::decode(&NET, &bytes, &mut back),
//!     Err(blob::BlobError::Crc { .. })
//! ));
//! ```

use crate::Spec;
use core::fmt;
use microprop_hal::Element;

/// The first four bytes of every blob.
pub const MAGIC: [u8; 4] = *b"MPB\x01";
/// The format version this crate writes and reads.
pub const VERSION: u16 = 1;
/// Element-type tag for little-endian f32.
pub const ELEM_F32: u8 = 1;
/// Element-type tag for little-endian 16-bit fixed point (the next byte
/// holds its fractional bits).
pub const ELEM_FIXED16: u8 = 2;
/// Bytes before the payload.
pub const HEADER_LEN: usize = 20;

/// Bytes of a blob holding `param_count` parameters (use with
/// [`Spec::param_count`] to size a buffer at compile time). Saturates at
/// `usize::MAX` (no buffer is that long) instead of wrapping.
pub const fn blob_len(param_count: usize) -> usize {
    HEADER_LEN.saturating_add(param_count.saturating_mul(4))
}

/// Bytes of a fixed-point blob ([`encode_fixed`]) holding `param_count`
/// parameters.
pub const fn fixed_blob_len(param_count: usize) -> usize {
    HEADER_LEN.saturating_add(param_count.saturating_mul(2))
}

/// What a blob's payload holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Payload {
    /// Little-endian f32 (element type [`ELEM_F32`]).
    F32,
    /// Little-endian `i16`, the value times `2^frac` (element type
    /// [`ELEM_FIXED16`]).
    Fixed16 {
        /// Fractional bits, 1..=14.
        frac: u8,
    },
}

impl Payload {
    /// Bytes per parameter.
    pub const fn bytes(self) -> usize {
        match self {
            Payload::F32 => 4,
            Payload::Fixed16 { .. } => 2,
        }
    }

    /// The parameter stored in `b` (of [`Payload::bytes`] bytes) as an
    /// element (exact for f32 into `f32`/`f64`, and for fixed point into any
    /// type that holds it).
    #[inline]
    pub fn element<E: Element>(self, b: &[u8]) -> E {
        match (self, b) {
            (Payload::F32, [a, b, c, d, ..]) => E::from_f32(f32::from_le_bytes([*a, *b, *c, *d])),
            (Payload::Fixed16 { frac }, [a, b, ..]) => {
                E::from_fixed(i16::from_le_bytes([*a, *b]), u32::from(frac))
            }
            _ => E::ZERO,
        }
    }
}

/// Why a blob was rejected (or could not be written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum BlobError {
    /// Fewer bytes than the header, or than the header's count announces.
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        got: usize,
    },
    /// More bytes than the header's count announces.
    TrailingBytes {
        /// Bytes expected.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// The first four bytes are not [`MAGIC`].
    Magic,
    /// A format version this crate does not read.
    Version {
        /// The version in the blob.
        found: u16,
    },
    /// An element type other than f32 or 16-bit fixed point (or one this
    /// reader does not take: checkpoints hold f32).
    ElementType {
        /// The tag in the blob.
        found: u8,
    },
    /// The reserved header byte is not 0 (a writer of this version always
    /// writes 0; accepting another value would let two different blobs
    /// decode to the same parameters), or a fixed-point blob's fractional
    /// bits are outside 1..=14.
    Reserved {
        /// The byte in the blob.
        found: u8,
    },
    /// The blob was written for another network.
    Spec {
        /// [`Spec::hash`] of the network loading it.
        expected: u32,
        /// The hash stored in the blob.
        found: u32,
    },
    /// The parameter count does not match the network.
    Count {
        /// [`Spec::param_count`] of the network.
        expected: usize,
        /// The count stored in the blob.
        found: usize,
    },
    /// The checksum does not match: the bytes are corrupt.
    Crc {
        /// CRC stored in the header.
        stored: u32,
        /// CRC computed over the bytes.
        computed: u32,
    },
    /// A parameter is NaN or infinite.
    NonFinite {
        /// Its index in the payload.
        index: usize,
    },
    /// The output buffer is too small to write the blob.
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        got: usize,
    },
}

impl fmt::Display for BlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            BlobError::Truncated { needed, got } => {
                write!(f, "blob truncated: {got} bytes, needs {needed}")
            }
            BlobError::TrailingBytes { expected, got } => {
                write!(f, "blob has {got} bytes, its header announces {expected}")
            }
            BlobError::Magic => write!(f, "not a microprop blob (bad magic)"),
            BlobError::Version { found } => {
                write!(f, "blob format version {found}, this build reads {VERSION}")
            }
            BlobError::ElementType { found } => {
                write!(
                    f,
                    "blob element type {found}: f32 ({ELEM_F32}) and 16-bit fixed point ({ELEM_FIXED16}) are supported"
                )
            }
            BlobError::Reserved { found } => {
                write!(
                    f,
                    "blob header byte 7 is {found}: must be 0 (f32) or 1..=14 fractional bits (fixed point)"
                )
            }
            BlobError::Spec { expected, found } => write!(
                f,
                "blob is for another network: spec hash {found:#010x}, this network is {expected:#010x}"
            ),
            BlobError::Count { expected, found } => write!(
                f,
                "blob holds {found} parameters, the network has {expected}"
            ),
            BlobError::Crc { stored, computed } => write!(
                f,
                "blob is corrupt: CRC-32 {computed:#010x}, header says {stored:#010x}"
            ),
            BlobError::NonFinite { index } => {
                write!(f, "blob parameter {index} is NaN or infinite")
            }
            BlobError::BufferTooSmall { needed, got } => {
                write!(f, "buffer of {got} bytes, the blob needs {needed}")
            }
        }
    }
}

/// A parsed header (see the module docs for the layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Header {
    /// Format version.
    pub version: u16,
    /// [`Spec::hash`] of the network that wrote it.
    pub spec_hash: u32,
    /// Number of parameters in the payload.
    pub count: usize,
    /// What the payload holds.
    pub payload: Payload,
    /// The stored CRC-32.
    pub crc: u32,
}

impl Header {
    /// Total bytes of the blob this header describes.
    pub const fn blob_len(&self) -> usize {
        HEADER_LEN.saturating_add(self.count.saturating_mul(self.payload.bytes()))
    }
}

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// An incremental CRC-32 (IEEE 802.3, the one of zlib and PNG).
#[derive(Debug, Clone, Copy)]
pub struct Crc32(u32);

impl Default for Crc32 {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc32 {
    /// A fresh checksum.
    pub const fn new() -> Self {
        Crc32(0xFFFF_FFFF)
    }
    /// Feed `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        let mut c = self.0;
        for &b in bytes {
            c = CRC_TABLE[((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8);
        }
        self.0 = c;
    }
    /// The checksum of everything fed so far.
    pub const fn finish(&self) -> u32 {
        self.0 ^ 0xFFFF_FFFF
    }
}

/// CRC-32 of `bytes` in one call.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut c = Crc32::new();
    c.update(bytes);
    c.finish()
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parse the [`HEADER_LEN`] bytes at the front of `bytes` (magic, version,
/// element type) without looking at the total length: for loaders that
/// stream a blob from storage in pieces (see [`crate::checkpoint`]).
pub fn parse_prefix(bytes: &[u8]) -> core::result::Result<Header, BlobError> {
    if bytes.len() < HEADER_LEN {
        return Err(BlobError::Truncated {
            needed: HEADER_LEN,
            got: bytes.len(),
        });
    }
    if bytes[0..4] != MAGIC {
        return Err(BlobError::Magic);
    }
    let version = u16_at(bytes, 4);
    if version != VERSION {
        return Err(BlobError::Version { found: version });
    }
    let payload = match (bytes[6], bytes[7]) {
        (ELEM_F32, 0) => Payload::F32,
        (ELEM_FIXED16, frac @ 1..=14) => Payload::Fixed16 { frac },
        (ELEM_F32 | ELEM_FIXED16, found) => return Err(BlobError::Reserved { found }),
        (found, _) => return Err(BlobError::ElementType { found }),
    };
    Ok(Header {
        version,
        spec_hash: u32_at(bytes, 8),
        count: u32_at(bytes, 12) as usize,
        crc: u32_at(bytes, 16),
        payload,
    })
}

/// The header of a blob for `spec` whose CRC is `crc`, for writers that
/// stream the payload: start a [`Crc32`] with `header_bytes(spec, 0)?[..16]`,
/// feed the payload, then write `header_bytes(spec, crc.finish())?`.
pub fn header_bytes(
    spec: &Spec<'_>,
    crc: u32,
) -> core::result::Result<[u8; HEADER_LEN], BlobError> {
    header_bytes_for(spec, Payload::F32, crc)
}

/// [`header_bytes`] for a payload of `payload`.
fn header_bytes_for(
    spec: &Spec<'_>,
    payload: Payload,
    crc: u32,
) -> core::result::Result<[u8; HEADER_LEN], BlobError> {
    let count = spec.param_count();
    let count32 = u32::try_from(count).map_err(|_| BlobError::Count {
        expected: u32::MAX as usize,
        found: count,
    })?;
    let mut h = [0u8; HEADER_LEN];
    h[0..4].copy_from_slice(&MAGIC);
    h[4..6].copy_from_slice(&VERSION.to_le_bytes());
    (h[6], h[7]) = match payload {
        Payload::F32 => (ELEM_F32, 0),
        Payload::Fixed16 { frac } => (ELEM_FIXED16, frac),
    };
    h[8..12].copy_from_slice(&spec.hash().to_le_bytes());
    h[12..16].copy_from_slice(&count32.to_le_bytes());
    h[16..20].copy_from_slice(&crc.to_le_bytes());
    Ok(h)
}

/// Parse and check the header and the total length, without the spec, the
/// CRC or the payload (for tools that describe a blob).
pub fn parse_header(bytes: &[u8]) -> core::result::Result<Header, BlobError> {
    let header = parse_prefix(bytes)?;
    let needed = (header.count as u64) * header.payload.bytes() as u64 + HEADER_LEN as u64;
    if (bytes.len() as u64) < needed {
        return Err(BlobError::Truncated {
            needed: usize::try_from(needed).unwrap_or(usize::MAX),
            got: bytes.len(),
        });
    }
    if (bytes.len() as u64) > needed {
        return Err(BlobError::TrailingBytes {
            expected: needed as usize,
            got: bytes.len(),
        });
    }
    Ok(header)
}

/// The parameters of a validated blob, as elements (no copy).
fn payload<E: Element>(bytes: &[u8], p: Payload) -> impl Iterator<Item = E> + '_ {
    // `max(1)`: the compiler sees no chunk size of 0 (no panic path).
    bytes
        .get(HEADER_LEN..)
        .unwrap_or_default()
        .chunks_exact(p.bytes().max(1))
        .map(move |c| p.element(c))
}

/// Check a blob completely against `spec`: header, length, spec hash,
/// parameter count, CRC and finite values. Nothing is written anywhere.
pub fn validate(spec: &Spec<'_>, bytes: &[u8]) -> core::result::Result<Header, BlobError> {
    let header = parse_header(bytes)?;
    let expected = spec.hash();
    if header.spec_hash != expected {
        return Err(BlobError::Spec {
            expected,
            found: header.spec_hash,
        });
    }
    if header.count != spec.param_count() {
        return Err(BlobError::Count {
            expected: spec.param_count(),
            found: header.count,
        });
    }
    // `parse_header` checked the length; `get` keeps a blob in RAM (not a
    // constant) free of a panic path.
    let mut crc = Crc32::new();
    crc.update(bytes.get(..16).unwrap_or_default());
    crc.update(bytes.get(HEADER_LEN..).unwrap_or_default());
    let computed = crc.finish();
    if computed != header.crc {
        return Err(BlobError::Crc {
            stored: header.crc,
            computed,
        });
    }
    if header.payload == Payload::F32 {
        if let Some(index) = payload::<f32>(bytes, Payload::F32).position(|v| !v.is_finite()) {
            return Err(BlobError::NonFinite { index });
        }
    }
    Ok(header)
}

/// Validate `bytes` against `spec`, then write its parameters into `out`
/// (of length [`Spec::param_count`]). On error `out` is untouched.
pub fn decode<E: Element>(
    spec: &Spec<'_>,
    bytes: &[u8],
    out: &mut [E],
) -> core::result::Result<(), BlobError> {
    let header = validate(spec, bytes)?;
    if out.len() != header.count {
        return Err(BlobError::Count {
            expected: out.len(),
            found: header.count,
        });
    }
    for (o, v) in out.iter_mut().zip(payload(bytes, header.payload)) {
        *o = v;
    }
    Ok(())
}

/// What [`encode_fixed`] lost: the parameters against their fixed-point
/// values.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Quantization {
    /// Largest `|v − q(v)|` over the parameters.
    pub max_abs_error: f64,
    /// Root mean square of `v − q(v)`.
    pub rms_error: f64,
    /// Largest `|v|`.
    pub max_abs_value: f64,
    /// Parameters outside the format's range, stored as its end.
    pub saturated: usize,
}

/// Write `params` as a fixed-point blob (element type [`ELEM_FIXED16`],
/// `frac` fractional bits, 1..=14) for `spec` into the front of `out`
/// ([`fixed_blob_len`] bytes): each value rounded to the nearest multiple
/// of `2^−frac`, saturating at the `i16` range. Returns the bytes written
/// and the error that rounding made.
pub fn encode_fixed<E: Element>(
    spec: &Spec<'_>,
    params: &[E],
    frac: u8,
    out: &mut [u8],
) -> core::result::Result<(usize, Quantization), BlobError> {
    if !(1..=14).contains(&frac) {
        return Err(BlobError::Reserved { found: frac });
    }
    if params.len() != spec.param_count() {
        return Err(BlobError::Count {
            expected: spec.param_count(),
            found: params.len(),
        });
    }
    let mut w = Writer::for_payload(spec, Payload::Fixed16 { frac }, out)?;
    let scale = f64::from(1u32 << frac);
    let mut q = Quantization::default();
    let mut squares = 0.0;
    for (i, p) in params.iter().enumerate() {
        let v = p.to_f64();
        if !v.is_finite() {
            return Err(BlobError::NonFinite { index: i });
        }
        let s = v * scale;
        // Round half away from zero; `as` saturates.
        let r = if s >= 0.0 { s + 0.5 } else { s - 0.5 } as i64;
        let raw = r.clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16;
        q.saturated += usize::from(i64::from(raw) != r);
        let err = v - f64::from(raw) / scale;
        q.max_abs_error = q.max_abs_error.max(err.abs());
        q.max_abs_value = q.max_abs_value.max(v.abs());
        squares += err * err;
        w.put(&raw.to_le_bytes());
    }
    if !params.is_empty() {
        q.rms_error = libm::sqrt(squares / params.len() as f64);
    }
    Ok((w.finish()?, q))
}

/// Write `params` (length [`Spec::param_count`], finite) as a blob for
/// `spec` into the front of `out`; returns the bytes written
/// ([`blob_len`]).
pub fn encode<E: Element>(
    spec: &Spec<'_>,
    params: &[E],
    out: &mut [u8],
) -> core::result::Result<usize, BlobError> {
    let mut w = Writer::new(spec, out)?;
    if params.len() != spec.param_count() {
        return Err(BlobError::Count {
            expected: spec.param_count(),
            found: params.len(),
        });
    }
    w.push(params)?;
    w.finish()
}

/// Writes a blob in pieces (so a network can stream its parameters out of a
/// backend through a small stack buffer).
pub(crate) struct Writer<'o> {
    out: &'o mut [u8],
    at: usize,
    len: usize,
    crc: Crc32,
}

impl<'o> Writer<'o> {
    pub(crate) fn new(spec: &Spec<'_>, out: &'o mut [u8]) -> core::result::Result<Self, BlobError> {
        Self::for_payload(spec, Payload::F32, out)
    }

    /// A writer of a `payload` blob (its parameters go in with
    /// [`Writer::put`]).
    fn for_payload(
        spec: &Spec<'_>,
        payload: Payload,
        out: &'o mut [u8],
    ) -> core::result::Result<Self, BlobError> {
        let len = HEADER_LEN.saturating_add(spec.param_count().saturating_mul(payload.bytes()));
        if out.len() < len {
            return Err(BlobError::BufferTooSmall {
                needed: len,
                got: out.len(),
            });
        }
        let header = header_bytes_for(spec, payload, 0)?;
        out[0..16].copy_from_slice(&header[0..16]);
        let mut crc = Crc32::new();
        crc.update(&out[0..16]);
        Ok(Writer {
            out,
            at: HEADER_LEN,
            len,
            crc,
        })
    }

    pub(crate) fn push<E: Element>(&mut self, params: &[E]) -> core::result::Result<(), BlobError> {
        let base = (self.at - HEADER_LEN) / 4;
        for (i, p) in params.iter().enumerate() {
            let v = p.to_f32();
            if !v.is_finite() {
                return Err(BlobError::NonFinite { index: base + i });
            }
            self.put(&v.to_le_bytes());
        }
        Ok(())
    }

    /// Append one parameter's bytes (and add them to the CRC).
    fn put(&mut self, b: &[u8]) {
        // `new` checked that `out` holds the whole blob; `get_mut` and
        // `zip` leave no panic path when `out` is a run-time buffer.
        if let Some(dst) = self.out.get_mut(self.at..) {
            for (d, s) in dst.iter_mut().zip(b) {
                *d = *s;
            }
        }
        self.crc.update(b);
        self.at += b.len();
    }

    pub(crate) fn finish(self) -> core::result::Result<usize, BlobError> {
        debug_assert_eq!(self.at, self.len);
        self.out[16..20].copy_from_slice(&self.crc.finish().to_le_bytes());
        Ok(self.len)
    }
}

/// Elements moved per backend transfer when streaming a blob.
pub(crate) const CHUNK: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Layer;

    const NET: Spec = Spec::new(&[Layer::dense(3, 2), Layer::tanh(), Layer::dense(2, 2)]);

    #[test]
    fn crc32_check_value() {
        // The standard check value of CRC-32/ISO-HDLC.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn header_fields_are_where_the_docs_say() {
        let params: [f32; 14] = core::array::from_fn(|i| i as f32 * 0.5 - 3.0);
        let mut bytes = [0u8; blob_len(14)];
        assert_eq!(encode(&NET, &params, &mut bytes), Ok(76));
        assert_eq!(&bytes[0..4], b"MPB\x01");
        assert_eq!(u16_at(&bytes, 4), 1);
        assert_eq!(bytes[6], 1);
        assert_eq!(u32_at(&bytes, 8), NET.hash());
        assert_eq!(u32_at(&bytes, 12), 14);
        assert_eq!(f32::from_le_bytes(bytes[20..24].try_into().unwrap()), -3.0);
        let mut crc_input = [0u8; 16 + 56];
        crc_input[..16].copy_from_slice(&bytes[..16]);
        crc_input[16..].copy_from_slice(&bytes[20..]);
        assert_eq!(u32_at(&bytes, 16), crc32(&crc_input));
    }

    /// A fixed-point blob: byte 6 is 2, byte 7 the fractional bits, each
    /// parameter the `i16` `round(v · 2^F)` (worked by hand: 0.5 · 1024 =
    /// 512, −3 · 1024 = −3072, 0.1 · 1024 = 102.4 → 102, error 0.4/1024).
    #[test]
    fn fixed_point_blob_layout_rounding_and_round_trip() {
        use crate::{Fixed, Q10};
        let mut params = [0.5f64; 14];
        params[0] = -3.0;
        params[1] = 0.1;
        params[2] = 40.0; // past Q10's end (32): saturates
        let mut bytes = [0u8; fixed_blob_len(14)];
        let (n, q) = encode_fixed(&NET, &params, 10, &mut bytes).unwrap();
        assert_eq!(n, 48);
        assert_eq!((bytes[6], bytes[7]), (2, 10));
        assert_eq!(i16::from_le_bytes([bytes[20], bytes[21]]), -3072);
        assert_eq!(i16::from_le_bytes([bytes[22], bytes[23]]), 102);
        assert_eq!(i16::from_le_bytes([bytes[24], bytes[25]]), i16::MAX);
        assert_eq!(i16::from_le_bytes([bytes[26], bytes[27]]), 512);
        assert_eq!(q.saturated, 1);
        assert_eq!(q.max_abs_value, 40.0);
        assert!((q.max_abs_error - (40.0 - 32767.0 / 1024.0)).abs() < 1e-12);
        let h = validate(&NET, &bytes).unwrap();
        assert_eq!(h.payload, Payload::Fixed16 { frac: 10 });
        assert_eq!(h.blob_len(), 48);
        // Exact into the same format and into f32; rounded into fewer bits.
        let mut q10 = [Q10::ZERO; 14];
        decode(&NET, &bytes, &mut q10).unwrap();
        assert_eq!(q10[1].raw(), 102);
        let mut f = [0.0f32; 14];
        decode(&NET, &bytes, &mut f).unwrap();
        assert_eq!(f[1], 102.0 / 1024.0);
        let mut q8 = [Fixed::<8>::ZERO; 14];
        decode(&NET, &bytes, &mut q8).unwrap();
        assert_eq!(q8[1].raw(), 26, "102 / 4 = 25.5 rounds to 26");
        // Every bit flip is caught; fractional bits outside 1..=14 are refused.
        for bit in 0..bytes.len() * 8 {
            let mut bad = bytes;
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(decode(&NET, &bad, &mut f).is_err(), "bit {bit}");
        }
        for frac in [0u8, 15] {
            let mut bad = bytes;
            bad[7] = frac;
            assert_eq!(parse_prefix(&bad), Err(BlobError::Reserved { found: frac }));
        }
        assert!(matches!(
            encode_fixed(&NET, &params, 15, &mut bytes),
            Err(BlobError::Reserved { found: 15 })
        ));
    }

    /// Within range, rounding to the nearest step is within half a step.
    #[test]
    fn fixed_point_error_is_within_half_a_step() {
        let params: [f64; 14] = core::array::from_fn(|i| (i as f64 * 1.7).sin() * 3.0);
        let mut bytes = [0u8; fixed_blob_len(14)];
        for frac in [4u8, 10, 12] {
            let (_, q) = encode_fixed(&NET, &params, frac, &mut bytes).unwrap();
            assert_eq!(q.saturated, 0);
            assert!(q.max_abs_error <= 0.5 / f64::from(1u32 << frac));
            assert!(q.rms_error <= q.max_abs_error && q.rms_error > 0.0);
        }
    }

    #[test]
    fn every_single_bit_flip_is_rejected_and_out_is_untouched() {
        let params: [f32; 14] = core::array::from_fn(|i| (i as f32).sin());
        let mut bytes = [0u8; blob_len(14)];
        encode(&NET, &params, &mut bytes).unwrap();
        for bit in 0..bytes.len() * 8 {
            let mut bad = bytes;
            bad[bit / 8] ^= 1 << (bit % 8);
            let mut out = [7.0f32; 14];
            assert!(decode(&NET, &bad, &mut out).is_err(), "bit {bit}");
            assert_eq!(out, [7.0; 14]);
        }
    }

    #[test]
    fn a_nan_with_a_valid_crc_is_still_rejected() {
        let mut bytes = [0u8; blob_len(14)];
        encode(&NET, &[1.0f32; 14], &mut bytes).unwrap();
        bytes[20 + 4 * 5..20 + 4 * 6].copy_from_slice(&f32::INFINITY.to_le_bytes());
        let mut crc = Crc32::new();
        crc.update(&bytes[..16]);
        crc.update(&bytes[20..]);
        let c = crc.finish().to_le_bytes();
        bytes[16..20].copy_from_slice(&c);
        let mut out = [0.0f32; 14];
        assert_eq!(
            decode(&NET, &bytes, &mut out),
            Err(BlobError::NonFinite { index: 5 })
        );
        assert_eq!(out, [0.0; 14]);
    }

    #[test]
    fn typed_errors() {
        let params = [0.25f32; 14];
        let mut bytes = [0u8; blob_len(14)];
        encode(&NET, &params, &mut bytes).unwrap();
        let mut out = [0.0f32; 14];
        assert_eq!(
            decode(&NET, &bytes[..10], &mut out),
            Err(BlobError::Truncated {
                needed: 20,
                got: 10
            })
        );
        assert_eq!(
            decode(&NET, &bytes[..75], &mut out),
            Err(BlobError::Truncated {
                needed: 76,
                got: 75
            })
        );
        let mut long = [0u8; 77];
        long[..76].copy_from_slice(&bytes);
        assert_eq!(
            decode(&NET, &long, &mut out),
            Err(BlobError::TrailingBytes {
                expected: 76,
                got: 77
            })
        );
        const OTHER: Spec = Spec::new(&[Layer::dense(3, 2), Layer::relu(), Layer::dense(2, 2)]);
        assert_eq!(OTHER.param_count(), NET.param_count());
        assert!(matches!(
            decode(&OTHER, &bytes, &mut out),
            Err(BlobError::Spec { .. })
        ));
        let mut v2 = bytes;
        v2[4] = 2;
        assert_eq!(
            decode(&NET, &v2, &mut out),
            Err(BlobError::Version { found: 2 })
        );
        let mut nan = params;
        nan[3] = f32::NAN;
        assert_eq!(
            encode(&NET, &nan, &mut bytes),
            Err(BlobError::NonFinite { index: 3 })
        );
        assert_eq!(
            encode(&NET, &params, &mut [0u8; 75]),
            Err(BlobError::BufferTooSmall {
                needed: 76,
                got: 75
            })
        );
    }

    #[test]
    fn network_round_trip_and_a_rejected_blob_leaves_the_model_unchanged() {
        use crate::{Config, Loss, Optimizer};
        use microprop_cpu::CpuBackend;
        // 218 parameters: several streaming chunks, the last one partial.
        const BIG: Spec = Spec::new(&[Layer::dense(9, 18), Layer::relu(), Layer::dense(18, 2)]);
        let cfg = Config::new(1, Loss::Mse, Optimizer::sgd(0.1)).with_seed(3);
        let mut arena = [0.0f32; 1024];
        let mut net = crate::Network::new(BIG, CpuBackend::new(&mut arena), cfg).unwrap();
        let mut bytes = [0u8; blob_len(BIG.param_count())];
        assert_eq!(net.save_blob(&mut bytes), Ok(bytes.len()));
        let mut before = [0.0f32; 218];
        net.parameters(&mut before).unwrap();
        let mut direct = [0.0f32; 218];
        decode(&BIG, &bytes, &mut direct).unwrap();
        assert_eq!(direct, before);

        net.reset(99).unwrap();
        let mut bad = bytes;
        bad[bytes.len() - 1] ^= 0x80;
        let mut reset = [0.0f32; 218];
        net.parameters(&mut reset).unwrap();
        assert!(matches!(
            net.load_blob(&bad),
            Err(crate::Error::Blob(BlobError::Crc { .. }))
        ));
        let mut after = [0.0f32; 218];
        net.parameters(&mut after).unwrap();
        assert_eq!(after, reset);

        net.load_blob(&bytes).unwrap();
        net.parameters(&mut after).unwrap();
        assert_eq!(after, before);
    }
}
