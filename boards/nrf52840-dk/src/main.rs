//! nRF52840-DK (Cortex-M4F, 1 MiB flash, 256 KiB RAM): the digits learned
//! on the device in `f32`, checkpointed after every epoch into the last
//! 64 KiB of the chip's flash through embassy-nrf's `Nvmc` (4 KiB pages)
//! and resumed from there at boot ([`board_common::run`]).
#![no_std]
#![no_main]

use board_common::{run, Region, ARENA_LEN, CFG, NET};
use cortex_m_rt::entry;
use embassy_nrf::nvmc::Nvmc;
use microprop::checkpoint;
use microprop_runtime::{peripherals, take, ConstStaticCell, Meter};

/// One checkpoint slot, rounded up to whole 4 KiB pages.
const SLOT: usize = checkpoint::slot_len_for::<Nvmc<'static>>(&NET, CFG.optimizer.kind());
const _: () = assert!(
    2 * SLOT <= 64 * 1024,
    "two slots must fit the 64 KiB region"
);

/// The arena, in .bss; `main` takes it once.
static ARENA: ConstStaticCell<[f32; ARENA_LEN]> = ConstStaticCell::new([0.0; ARENA_LEN]);

#[entry]
fn main() -> ! {
    let mut meter = Meter::new(peripherals().SYST);
    let p = embassy_nrf::init(Default::default());
    let region = Region {
        offset: 0xF_0000,
        slot: SLOT as u32,
    };
    let arena = take(&ARENA, "ARENA");
    run("nrf52840-dk", arena, Nvmc::new(p.NVMC), region, &mut meter)
}
