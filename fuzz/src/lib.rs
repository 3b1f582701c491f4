//! Shared pieces of the fuzz targets: the fixed network the loaders are
//! checked against, and a structured reader of the fuzz bytes ([`Bytes`]).

use microprop::{Layer, Spec};

/// The network the loaders are fuzzed against (26 parameters: two weight
/// matrices and two bias vectors, so the safetensors importer sees four
/// tensors).
pub const NET: Spec = Spec::new(&[Layer::dense(3, 4), Layer::relu(), Layer::dense(4, 2)]);

/// Its parameter count.
pub const PARAMS: usize = NET.param_count();

/// Deterministic, finite, non-trivial parameters for the seed files.
pub fn seed_params() -> Vec<f32> {
    (0..PARAMS)
        .map(|i| ((i as f32) * 0.37).sin() * 1.5)
        .collect()
}

/// Structured input for the fuzz targets: reads the fuzz bytes in order and,
/// once they run out, continues with a deterministic generator seeded from
/// them (so a short input still fills a large arena, reproducibly).
#[derive(Clone)]
pub struct Bytes<'a> {
    data: &'a [u8],
    pos: usize,
    rng: u64,
}

impl<'a> Bytes<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        // FNV-1a of the input: the generator's seed.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in data {
            h ^= *b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        Bytes {
            data,
            pos: 0,
            rng: h | 1,
        }
    }

    /// `true` once every input byte has been read.
    pub fn exhausted(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The input bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or(&[])
    }

    /// The next byte.
    pub fn u8(&mut self) -> u8 {
        if let Some(&b) = self.data.get(self.pos) {
            self.pos += 1;
            b
        } else {
            // xorshift64
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            (self.rng >> 32) as u8
        }
    }

    /// The next little-endian `u32`.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// The next little-endian `u64`.
    pub fn u64(&mut self) -> u64 {
        (self.u32() as u64) | ((self.u32() as u64) << 32)
    }

    /// A bool.
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// A number in `0..n` (0 when `n == 0`).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else if n <= 256 {
            self.u8() as usize % n
        } else {
            self.u32() as usize % n
        }
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// An `f64` from a mix of small values, special values and raw bits.
    pub fn f64_any(&mut self) -> f64 {
        match self.u8() % 16 {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => f64::NEG_INFINITY,
            3 => -0.0,
            4 => {
                if self.bool() {
                    1e30
                } else {
                    -3e38
                }
            }
            5 => 1e-40,
            6 => f64::from_bits(self.u64()),
            7 => f32::from_bits(self.u32()) as f64,
            _ => (self.u8() as i8) as f64 / 16.0,
        }
    }

    /// A finite `f64` of moderate size (|x| < 8, multiples of 1/16).
    pub fn f64_small(&mut self) -> f64 {
        (self.u8() as i8) as f64 / 16.0
    }
}
