//! A simulated LIS3DH on a simulated I2C bus, for running the `sensor`
//! example under QEMU where there is no accelerometer.
//!
//! [`SimAccel`] implements `embedded-hal` 1.0's [`I2c`] exactly as a board
//! HAL's bus with a real sensor on it would look to the driver: it answers
//! `WHO_AM_I`, accepts the control-register writes, and serves six output
//! bytes per sample. The motion it reports alternates between segments of
//! *still* (gravity in a random orientation, a little noise) and *shaking*
//! (gravity plus a 2–7 Hz oscillation of random strength and direction, and
//! more noise). The true state of each sample is published in a
//! [`Cell`] so the firmware can use it as the label (on a real device a
//! button or a second sensor would give it).

use core::cell::Cell;

use embedded_hal::i2c::{
    ErrorKind, ErrorType, I2c, NoAcknowledgeSource, Operation, SevenBitAddress,
};

use crate::accel::{reg, ADDRESS, WHO_AM_I};

/// Samples per second the simulated sensor produces.
pub const RATE_HZ: f32 = 100.0;

/// The motion state a sample was generated in.
pub const STILL: usize = 0;
/// See [`STILL`].
pub const SHAKING: usize = 1;

/// Bus errors of the simulated device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimError {
    /// Addressed at an address nobody answers.
    Nack,
    /// A register this model does not implement, or a bad transaction shape.
    Unsupported,
}

impl embedded_hal::i2c::Error for SimError {
    fn kind(&self) -> ErrorKind {
        match self {
            SimError::Nack => ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address),
            SimError::Unsupported => ErrorKind::Other,
        }
    }
}

/// xorshift32: deterministic noise without `std`.
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f32 {
        (self.next() >> 8) as f32 * (1.0 / 16_777_216.0)
    }
    /// Uniform in [-1, 1).
    fn signed(&mut self) -> f32 {
        2.0 * self.unit() - 1.0
    }
    /// Roughly normal (sum of three uniforms), unit variance.
    fn normal(&mut self) -> f32 {
        self.signed() + self.signed() + self.signed()
    }
    fn unit_vector(&mut self) -> [f32; 3] {
        loop {
            let v = [self.signed(), self.signed(), self.signed()];
            let n2 = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
            if n2 > 0.05 && n2 <= 1.0 {
                let n = libm::sqrtf(n2);
                return [v[0] / n, v[1] / n, v[2] / n];
            }
        }
    }
}

/// A simulated LIS3DH answering on [`ADDRESS`].
pub struct SimAccel<'a> {
    truth: &'a Cell<usize>,
    rng: Rng,
    ctrl1: u8,
    ctrl4: u8,
    /// Samples produced so far.
    t: u32,
    /// Samples left in the current segment.
    left: u32,
    state: usize,
    gravity: [f32; 3],
    shake_dir: [f32; 3],
    shake_mg: f32,
    shake_hz: f32,
    noise_mg: f32,
}

impl<'a> SimAccel<'a> {
    /// A device whose motion comes from `seed`; the state of the latest
    /// sample is written to `truth`.
    pub fn new(truth: &'a Cell<usize>, seed: u32) -> Self {
        let mut sim = SimAccel {
            truth,
            rng: Rng(seed | 1),
            ctrl1: 0,
            ctrl4: 0,
            t: 0,
            left: 0,
            state: SHAKING,
            gravity: [0.0, 0.0, 1000.0],
            shake_dir: [1.0, 0.0, 0.0],
            shake_mg: 0.0,
            shake_hz: 0.0,
            noise_mg: 0.0,
        };
        sim.new_segment();
        sim
    }

    /// Start a segment of the other state, 0.5–2 s long (a multiple of 16
    /// samples, so windows of 16 never straddle two states).
    fn new_segment(&mut self) {
        self.state = if self.state == STILL { SHAKING } else { STILL };
        self.left = 16 * (3 + self.rng.next() % 10);
        let g = self.rng.unit_vector();
        self.gravity = [g[0] * 1000.0, g[1] * 1000.0, g[2] * 1000.0];
        if self.state == STILL {
            self.noise_mg = 4.0 + 8.0 * self.rng.unit();
            self.shake_mg = 0.0;
        } else {
            self.noise_mg = 15.0 + 30.0 * self.rng.unit();
            self.shake_mg = 120.0 + 700.0 * self.rng.unit();
            self.shake_hz = 2.0 + 5.0 * self.rng.unit();
            self.shake_dir = self.rng.unit_vector();
        }
    }

    /// The next sample in milli-g.
    fn sample(&mut self) -> [f32; 3] {
        if self.left == 0 {
            self.new_segment();
        }
        self.left -= 1;
        self.truth.set(self.state);
        let phase = 2.0 * core::f32::consts::PI * self.shake_hz * self.t as f32 / RATE_HZ;
        self.t = self.t.wrapping_add(1);
        let wobble = self.shake_mg * libm::sinf(phase);
        let mut out = [0.0; 3];
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.gravity[i] + wobble * self.shake_dir[i] + self.noise_mg * self.rng.normal();
        }
        out
    }

    /// Serve a read of `buf.len()` registers from `start`.
    fn read(&mut self, start: u8, buf: &mut [u8]) -> Result<(), SimError> {
        let auto = start & reg::AUTO_INCREMENT != 0;
        let start = start & !reg::AUTO_INCREMENT;
        match (start, buf.len()) {
            (reg::WHO_AM_I, 1) => buf[0] = WHO_AM_I,
            (reg::CTRL_REG1, 1) => buf[0] = self.ctrl1,
            (reg::CTRL_REG4, 1) => buf[0] = self.ctrl4,
            (reg::OUT_X_L, 6) if auto => {
                let s = self.sample();
                for (i, v) in s.iter().enumerate() {
                    // ±2 g, 12-bit left-justified: clamp to ±2047 mg.
                    let mg = (*v as i32).clamp(-2048, 2047) as i16;
                    let raw = (mg << 4).to_le_bytes();
                    buf[2 * i] = raw[0];
                    buf[2 * i + 1] = raw[1];
                }
            }
            _ => return Err(SimError::Unsupported),
        }
        Ok(())
    }
}

impl ErrorType for SimAccel<'_> {
    type Error = SimError;
}

impl I2c<SevenBitAddress> for SimAccel<'_> {
    fn transaction(
        &mut self,
        address: SevenBitAddress,
        operations: &mut [Operation<'_>],
    ) -> Result<(), Self::Error> {
        if address != ADDRESS {
            return Err(SimError::Nack);
        }
        match operations {
            // Register write: [reg, value].
            [Operation::Write(&[r, v])] => match r {
                reg::CTRL_REG1 => self.ctrl1 = v,
                reg::CTRL_REG4 => self.ctrl4 = v,
                _ => return Err(SimError::Unsupported),
            },
            // Register read: write the address, repeated start, read.
            [Operation::Write(&[r]), Operation::Read(buf)] => self.read(r, buf)?,
            _ => return Err(SimError::Unsupported),
        }
        Ok(())
    }
}
