//! Self-test of the failure path: a HardFault (here an undefined
//! instruction) must log the faulting PC and end QEMU with exit code 1
//! (never hang). `ci.sh` expects exactly that.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use microprop_firmware as _; // panic and HardFault handlers, defmt logger

#[entry]
fn main() -> ! {
    defmt::info!("crash-hardfault: about to execute an undefined instruction");
    cortex_m::asm::udf()
}
