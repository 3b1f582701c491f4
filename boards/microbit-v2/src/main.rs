//! BBC micro:bit v2 (nRF52833, Cortex-M4F, 512 KiB flash, 128 KiB RAM):
//! reads its on-board LSM303AGR accelerometer through the registry driver
//! (`lsm303agr`, over embassy-nrf's TWIM as an `embedded-hal` 1.0 `I2c`),
//! then learns the digits on the device in `f32`, checkpointed after every
//! epoch into the last 64 KiB of the chip's flash (`Nvmc`, 4 KiB pages)
//! and resumed from there at boot ([`board_common::run`]).
#![no_std]
#![no_main]

use board_common::{run, Region, ARENA_LEN, CFG, NET};
use cortex_m_rt::entry;
use embassy_nrf::nvmc::Nvmc;
use embassy_nrf::{bind_interrupts, peripherals, twim};
use embedded_hal::delay::DelayNs;
use lsm303agr::{AccelMode, AccelOutputDataRate, Lsm303agr};
use microprop::checkpoint;
use microprop_runtime::{check, take, ConstStaticCell, Meter};

/// One checkpoint slot, rounded up to whole 4 KiB pages.
const SLOT: usize = checkpoint::slot_len_for::<Nvmc<'static>>(&NET, CFG.optimizer.kind());
const _: () = assert!(
    2 * SLOT <= 64 * 1024,
    "two slots must fit the 64 KiB region"
);

/// The arena, in .bss; `main` takes it once.
static ARENA: ConstStaticCell<[f32; ARENA_LEN]> = ConstStaticCell::new([0.0; ARENA_LEN]);

bind_interrupts!(struct Irqs {
    TWISPI0 => twim::InterruptHandler<peripherals::TWISPI0>;
});

/// A busy-wait delay at the nRF52833's 64 MHz (SysTick is the meter's).
struct Spin;

impl DelayNs for Spin {
    fn delay_ns(&mut self, ns: u32) {
        cortex_m::asm::delay(ns / 15 + 1);
    }
}

#[entry]
fn main() -> ! {
    let mut meter = Meter::new(microprop_runtime::peripherals().SYST);
    let p = embassy_nrf::init(Default::default());

    // The internal I2C bus: SDA P0.16, SCL P0.08.
    let i2c = twim::Twim::new(
        p.TWISPI0,
        Irqs,
        p.P0_16,
        p.P0_08,
        twim::Config::default(),
        &mut [],
    );
    let mut accel = Lsm303agr::new_with_i2c(i2c);
    let id = check(accel.accelerometer_id().map_err(|_| "I2C"), "LSM303AGR id");
    defmt::info!("LSM303AGR accelerometer id ok: {=bool}", id.is_correct());
    check(accel.init().map_err(|_| "I2C"), "LSM303AGR init");
    check(
        accel
            .set_accel_mode_and_odr(&mut Spin, AccelMode::Normal, AccelOutputDataRate::Hz50)
            .map_err(|_| "I2C"),
        "LSM303AGR mode",
    );
    for _ in 0..5 {
        while !check(accel.accel_status().map_err(|_| "I2C"), "status").xyz_new_data() {}
        let (x, y, z) = check(accel.acceleration().map_err(|_| "I2C"), "acceleration").xyz_mg();
        defmt::info!("acceleration (mg): {=i32} {=i32} {=i32}", x, y, z);
    }

    let region = Region {
        offset: 0x7_0000,
        slot: SLOT as u32,
    };
    let arena = take(&ARENA, "ARENA");
    run("microbit-v2", arena, Nvmc::new(p.NVMC), region, &mut meter)
}
