//! Raspberry Pi Pico (RP2040, dual Cortex-M0+ with no FPU, 2 MiB flash,
//! 256 KiB RAM): the digits learned on the device in 16-bit fixed point
//! (`Q10`: no floating-point arithmetic in a training step, where every
//! `f32` operation would be a library call), checkpointed after every epoch
//! into the last 64 KiB of the QSPI flash through embassy-rp's blocking
//! `Flash` (4 KiB sectors) and resumed from there at boot
//! ([`board_common::run`]).
#![no_std]
#![no_main]

use board_common::{run, Region, ARENA_LEN, CFG, NET};
use cortex_m_rt::entry;
use embassy_rp::flash::{Blocking, Flash};
use embassy_rp::peripherals::FLASH;
use microprop::checkpoint;
use microprop::{Element, Q10};
use microprop_runtime::{take, ConstStaticCell, Meter};

/// The Pico's flash.
const FLASH_BYTES: usize = 2 * 1024 * 1024;
/// One checkpoint slot, rounded up to whole 4 KiB sectors.
const SLOT: usize = checkpoint::slot_len_for::<Flash<'static, FLASH, Blocking, FLASH_BYTES>>(
    &NET,
    CFG.optimizer.kind(),
);
const _: () = assert!(
    2 * SLOT <= 64 * 1024,
    "two slots must fit the 64 KiB region"
);

/// The arena, in .bss; `main` takes it once.
static ARENA: ConstStaticCell<[Q10; ARENA_LEN]> = ConstStaticCell::new([Q10::ZERO; ARENA_LEN]);

#[entry]
fn main() -> ! {
    let mut meter = Meter::new(microprop_runtime::peripherals().SYST);
    let p = embassy_rp::init(Default::default());
    let flash = Flash::<_, Blocking, FLASH_BYTES>::new_blocking(p.FLASH);
    let region = Region {
        offset: (FLASH_BYTES - 64 * 1024) as u32,
        slot: SLOT as u32,
    };
    let arena = take(&ARENA, "ARENA");
    run("pico", arena, flash, region, &mut meter)
}
