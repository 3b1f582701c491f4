//! Self-test of the failure path: a panic must log its message and end QEMU
//! with exit code 1 (never hang). `ci.sh` expects exactly that.
#![no_std]
#![no_main]

use cortex_m_rt::entry;

#[entry]
fn main() -> ! {
    defmt::info!("crash-panic: about to panic on purpose");
    let v = core::hint::black_box(7u32);
    if v == 7 {
        panic!("deliberate panic, value {}", v);
    }
    microprop_firmware::exit(true)
}
