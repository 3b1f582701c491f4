//! A small LIS3DH-style accelerometer driver, generic over `embedded-hal`
//! 1.0's [`I2c`].
//!
//! On real hardware pass the board HAL's I2C peripheral; under QEMU the
//! `sensor` example passes [`crate::sim::SimAccel`], which implements the
//! same trait. The learning code only sees [`Accel::read_mg`].

use embedded_hal::i2c::{I2c, SevenBitAddress};

/// The usual I2C address (SA0 high).
pub const ADDRESS: SevenBitAddress = 0x19;

/// Register map (the subset this driver uses).
pub mod reg {
    /// Identity register; reads [`super::WHO_AM_I`].
    pub const WHO_AM_I: u8 = 0x0F;
    /// Data rate and axis enables.
    pub const CTRL_REG1: u8 = 0x20;
    /// Full scale and high-resolution mode.
    pub const CTRL_REG4: u8 = 0x23;
    /// First of six output bytes: X low, X high, Y low, Y high, Z low, Z high.
    pub const OUT_X_L: u8 = 0x28;
    /// Set in a register address to read several registers in one go.
    pub const AUTO_INCREMENT: u8 = 0x80;
}

/// What `WHO_AM_I` must read.
pub const WHO_AM_I: u8 = 0x33;
/// CTRL_REG1: 100 Hz, normal power, X, Y, Z enabled.
pub const CTRL_REG1_100HZ_XYZ: u8 = 0x57;
/// CTRL_REG4: ±2 g, high resolution (12-bit, 1 mg per digit).
pub const CTRL_REG4_2G_HR: u8 = 0x08;

/// Driver errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error<E> {
    /// The bus failed.
    I2c(E),
    /// Something answered, but it is not this sensor (its `WHO_AM_I`).
    WrongDevice(u8),
}

impl<E: embedded_hal::i2c::Error> defmt::Format for Error<E> {
    fn format(&self, f: defmt::Formatter) {
        match self {
            Error::I2c(e) => defmt::write!(f, "I2C: {}", e.kind()),
            Error::WrongDevice(id) => defmt::write!(f, "WHO_AM_I {=u8:#04x}, not a LIS3DH", id),
        }
    }
}

/// An accelerometer on an I2C bus.
pub struct Accel<I> {
    i2c: I,
    address: SevenBitAddress,
}

impl<I: I2c> Accel<I> {
    /// Check the device's identity and start it at 100 Hz, ±2 g, 12 bits.
    pub fn new(mut i2c: I, address: SevenBitAddress) -> Result<Self, Error<I::Error>> {
        let mut id = [0u8];
        i2c.write_read(address, &[reg::WHO_AM_I], &mut id)
            .map_err(Error::I2c)?;
        if id[0] != WHO_AM_I {
            return Err(Error::WrongDevice(id[0]));
        }
        i2c.write(address, &[reg::CTRL_REG1, CTRL_REG1_100HZ_XYZ])
            .map_err(Error::I2c)?;
        i2c.write(address, &[reg::CTRL_REG4, CTRL_REG4_2G_HR])
            .map_err(Error::I2c)?;
        Ok(Accel { i2c, address })
    }

    /// One sample: acceleration on X, Y, Z in milli-g.
    pub fn read_mg(&mut self) -> Result<[i16; 3], Error<I::Error>> {
        let mut raw = [0u8; 6];
        self.i2c
            .write_read(
                self.address,
                &[reg::OUT_X_L | reg::AUTO_INCREMENT],
                &mut raw,
            )
            .map_err(Error::I2c)?;
        // Left-justified 12-bit two's complement: 1 mg per digit at ±2 g HR.
        let axis = |i: usize| i16::from_le_bytes([raw[2 * i], raw[2 * i + 1]]) >> 4;
        Ok([axis(0), axis(1), axis(2)])
    }

    /// Give the bus back.
    pub fn release(self) -> I {
        self.i2c
    }
}
