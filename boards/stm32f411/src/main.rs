//! STM32F411CE (Cortex-M4F, 512 KiB flash, 128 KiB RAM; the WeAct "black
//! pill"): the digits learned on the device in `f32`, checkpointed after
//! every epoch into flash sectors 6 and 7 (128 KiB each, one slot per
//! sector) through stm32f4xx-hal's `UnlockedFlash`, and resumed from there
//! at boot ([`board_common::run`]).
#![no_std]
#![no_main]

use board_common::{run, Region, ARENA_LEN, CFG, NET};
use cortex_m_rt::entry;
use microprop::checkpoint;
use microprop_runtime::{exit, take, ConstStaticCell, Meter};
use stm32f4xx_hal::flash::{FlashExt, LockedFlash, UnlockedFlash};
use stm32f4xx_hal::pac;

/// One checkpoint slot: one 128 KiB sector.
const SLOT: usize = checkpoint::slot_len_for::<UnlockedFlash<'static>>(&NET, CFG.optimizer.kind());
const _: () = assert!(SLOT == 128 * 1024, "one slot per 128 KiB sector");

/// The arena, in .bss; `main` takes it once.
static ARENA: ConstStaticCell<[f32; ARENA_LEN]> = ConstStaticCell::new([0.0; ARENA_LEN]);

#[entry]
fn main() -> ! {
    let mut meter = Meter::new(microprop_runtime::peripherals().SYST);
    let Some(dp) = pac::Peripherals::take() else {
        defmt::error!("device peripherals taken twice");
        exit(false)
    };
    let mut flash = LockedFlash::new(dp.FLASH);
    let region = Region {
        offset: 0x4_0000,
        slot: SLOT as u32,
    };
    let arena = take(&ARENA, "ARENA");
    run("stm32f411", arena, flash.unlocked(), region, &mut meter)
}
