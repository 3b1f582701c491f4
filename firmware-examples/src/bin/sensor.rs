#![no_std]
#![no_main]
use cortex_m_rt::entry;
#[entry]
fn main() -> ! { microprop_firmware::exit(false) }
