//! The runtime every microprop firmware shares, on QEMU and on real boards:
//! one logging and exit layer, picked by feature, not by copying code.
//!
//! | feature | defmt logger | panic | [`exit`] |
//! |---|---|---|---|
//! | `semihosting` (default: QEMU, or a board under a debugger) | frames to the host's stdout through semihosting ([`logger`](self)) | logged, then `exit(false)` | semihosting exit code 0 / 1 |
//! | `rtt` (real boards with a probe: `probe-rs run`) | `defmt-rtt` (never blocks, no debugger needed) | `panic-probe` (`print-defmt`) | breakpoint / undefined instruction |
//!
//! Both: a HardFault and an unexpected interrupt are logged and end the
//! program with failure (never hang); [`check`] logs a failed `Result` and
//! exits; [`Meter`] counts instructions with SysTick; [`Memory`] reads
//! flash, static RAM and peak stack from the linker's symbols and the
//! painted stack; [`take`] hands out a `static` buffer once, with no
//! `static mut`, no `unsafe` and no panic path. On cores without an FPU
//! (M0, M0+, M3) it links `microprop-softfloat`'s `f32` add, subtract and
//! multiply in place of the compiler's generic soft-float routines.
#![no_std]
#![deny(missing_docs)]
// Reading linker symbols, SysTick and the painted stack is inherently unsafe;
// every block says why it is sound.
#![allow(unsafe_code)]

#[cfg(all(feature = "semihosting", feature = "rtt"))]
compile_error!("microprop-runtime: pick one of the features `semihosting` and `rtt`");
#[cfg(not(any(feature = "semihosting", feature = "rtt")))]
compile_error!("microprop-runtime: enable the feature `semihosting` (QEMU) or `rtt` (boards)");

#[cfg(feature = "semihosting")]
mod logger;
#[cfg(feature = "rtt")]
use defmt_rtt as _;
#[cfg(feature = "rtt")]
use panic_probe as _;

// Its EABI symbols are what the compiler's `f32` calls resolve to.
#[cfg(not(target_abi = "eabihf"))]
use microprop_softfloat as _;

use core::num::NonZeroU64;
use core::sync::atomic::{compiler_fence, Ordering};

use cortex_m::peripheral::{syst::SystClkSource, SYST};
use cortex_m_rt::{exception, ExceptionFrame};
pub use static_cell::ConstStaticCell;

/// Bytes (or anything) at a 4-byte aligned address: wrap an
/// `include_bytes!` whose f32 payload is read often (a device blob: its
/// header is 20 bytes, so its parameters are then word-aligned and copies
/// out of it go by words, not bytes):
/// `static BLOB: &Aligned<[u8]> = &Aligned(*include_bytes!("model.mpb"));`
#[repr(C, align(4))]
pub struct Aligned<T: ?Sized>(pub T);

/// End the program with a verdict. With `semihosting`: QEMU (or a
/// debugger) exits with 0 if `passed`, else 1. With `rtt`: a breakpoint if
/// `passed` (`probe-rs run` stops there and exits 0), else an undefined
/// instruction (a fault `probe-rs run` reports as a failure, as
/// panic-probe does); without a probe attached the core stops either way.
pub fn exit(passed: bool) -> ! {
    #[cfg(feature = "semihosting")]
    {
        use cortex_m_semihosting::debug;
        debug::exit(if passed {
            debug::EXIT_SUCCESS
        } else {
            debug::EXIT_FAILURE
        });
    }
    if !passed {
        cortex_m::asm::udf();
    }
    // Not under a semihosting debugger (real hardware without a probe):
    // stop here rather than run on.
    loop {
        cortex_m::asm::bkpt();
    }
}

/// Unwrap a `Result`, or log what failed and exit with failure.
pub fn check<T, E: defmt::Format>(result: Result<T, E>, what: &str) -> T {
    match result {
        Ok(v) => v,
        Err(e) => {
            defmt::error!("{=str} failed: {}", what, e);
            exit(false)
        }
    }
}

#[cfg(all(feature = "semihosting", not(feature = "panic-never")))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    defmt::error!("panic: {}", defmt::Display2Format(info));
    exit(false)
}

/// With `panic-never`, the panic handler calls a function that does not
/// exist: if any panic is still reachable after optimisation the link fails
/// with this symbol's name, and `panic-sites.sh` on a normal build shows where
/// (see README.md, "No panic path").
#[cfg(all(feature = "semihosting", feature = "panic-never"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    extern "Rust" {
        #[link_name = "microprop_panic_never: a panic is reachable in this firmware"]
        fn panic_is_reachable() -> !;
    }
    // SAFETY: never runs: the symbol is defined nowhere, so a build where
    // this handler is still referenced does not link.
    unsafe { panic_is_reachable() }
}

#[cfg(feature = "semihosting")]
#[defmt::panic_handler]
fn defmt_panic() -> ! {
    exit(false)
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    defmt::error!(
        "HardFault: pc={=u32:#010x} lr={=u32:#010x} xpsr={=u32:#010x}",
        frame.pc(),
        frame.lr(),
        frame.xpsr()
    );
    exit(false)
}

#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    defmt::error!("unexpected exception or interrupt {=i16}", irqn);
    exit(false)
}

/// SysTick's reload: the full 24 bits.
const RELOAD: u32 = 0x00FF_FFFF;
/// Iterations of the calibration loop (two instructions each).
const CAL_LOOPS: u32 = 1 << 16;

/// Counts executed instructions with SysTick.
///
/// Under QEMU with `-icount shift=0` every instruction takes 1 ns of virtual
/// time, so SysTick (clocked by the core clock) advances one tick per
/// `ns_per_tick` instructions: 40 on the 25 MHz mps2 boards. [`Meter::new`]
/// measures that ratio by timing a loop of known length, so the count is
/// right on any board. Without `-icount` SysTick follows host time and the
/// numbers mean nothing (the firmware still runs and checks).
///
/// One measured interval must stay below 2²⁴ ticks (≈ 670 million
/// instructions at 40 per tick); [`Meter::measure`] is meant for one step.
pub struct Meter {
    _syst: SYST,
    /// Calibration as a ratio: instructions = ticks · num / den.
    num: u64,
    den: NonZeroU64,
    total: u64,
    count: u64,
}

impl Meter {
    /// Start SysTick free-running on the core clock and calibrate it.
    pub fn new(mut syst: SYST) -> Self {
        syst.disable_interrupt();
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(RELOAD);
        syst.clear_current();
        syst.enable_counter();
        let t0 = SYST::get_current();
        calibration_loop(CAL_LOOPS);
        let ticks =
            NonZeroU64::new(u64::from(elapsed(t0, SYST::get_current()))).unwrap_or(NonZeroU64::MIN);
        Meter {
            _syst: syst,
            num: 2 * u64::from(CAL_LOOPS),
            den: ticks,
            total: 0,
            count: 0,
        }
    }

    /// Instructions per SysTick tick, as measured (×100, for logging).
    pub fn instructions_per_tick_x100(&self) -> u64 {
        self.num * 100 / self.den
    }

    /// Run `f`, add its instruction count to the running total, return its
    /// result and its count.
    pub fn measure<R>(&mut self, f: impl FnOnce() -> R) -> (R, u64) {
        compiler_fence(Ordering::SeqCst);
        let t0 = SYST::get_current();
        compiler_fence(Ordering::SeqCst);
        let r = f();
        compiler_fence(Ordering::SeqCst);
        let t1 = SYST::get_current();
        compiler_fence(Ordering::SeqCst);
        let n = u64::from(elapsed(t0, t1)) * self.num / self.den;
        self.total += n;
        self.count += 1;
        (r, n)
    }

    /// Mean instructions per measured call so far (0 if none).
    pub fn mean(&self) -> u64 {
        self.total.checked_div(self.count).unwrap_or(0)
    }

    /// Number of measured calls.
    pub fn count(&self) -> u64 {
        self.count
    }
}

/// Ticks between two readings of the down-counting SysTick (one wrap at most).
fn elapsed(t0: u32, t1: u32) -> u32 {
    t0.wrapping_sub(t1) & RELOAD
}

/// Exactly `2 * n` instructions: `subs` and `bne` per iteration.
#[inline(never)]
fn calibration_loop(n: u32) {
    // SAFETY: a register-only countdown loop; touches no memory.
    unsafe {
        core::arch::asm!(
            "2:",
            "subs r0, #1",
            "bne 2b",
            inout("r0") n => _,
            options(nomem, nostack),
        );
    }
}

extern "C" {
    static __vector_table: u32;
    static __sidata: u32;
    static __sdata: u32;
    static __edata: u32;
    static __euninit: u32;
    static _stack_end: u32;
    static _stack_start: u32;
}

/// Memory used by this firmware, from the linker's symbols and the stack
/// paint (`cortex-m-rt`'s `paint-stack` fills the free RAM between the
/// statics and the initial stack pointer with `0xCCCC_CCCC` before `main`).
#[derive(Debug, Clone, Copy, defmt::Format)]
pub struct Memory {
    /// Flash bytes: vector table, code, read-only data and `.data`'s image.
    pub flash: u32,
    /// Static RAM bytes: `.data`, `.bss` and `.uninit` (arena included).
    pub static_ram: u32,
    /// Peak stack bytes so far (deepest word whose paint was scrubbed).
    pub peak_stack: u32,
    /// RAM the stack may grow into (between the statics and the top).
    pub stack_room: u32,
}

impl Memory {
    /// Measure now.
    pub fn measure() -> Self {
        // SAFETY: only the addresses of linker symbols are taken; the words
        // read are in the painted stack region, between `_stack_end` and
        // the current stack pointer's region below `_stack_start`, which is
        // RAM this program owns; volatile reads, never writes.
        unsafe {
            let addr = |s: &u32| s as *const u32 as u32;
            let vt = addr(&__vector_table);
            let sidata = addr(&__sidata);
            let sdata = addr(&__sdata);
            let edata = addr(&__edata);
            let euninit = addr(&__euninit);
            let bottom = addr(&_stack_end);
            let top = addr(&_stack_start);
            let mut p = bottom;
            while p < top
                && core::ptr::read_volatile(p as *const u32) == cortex_m_rt::STACK_PAINT_VALUE
            {
                p += 4;
            }
            Memory {
                flash: sidata + (edata - sdata) - vt,
                static_ram: euninit - sdata,
                peak_stack: top - p,
                stack_room: top - bottom,
            }
        }
    }
}

/// The core peripherals, taken once at the start of `main` (a second take
/// is a bug: logged, exit 1; no panic path).
pub fn peripherals() -> cortex_m::Peripherals {
    match cortex_m::Peripherals::take() {
        Some(p) => p,
        None => {
            defmt::error!("core peripherals taken twice");
            exit(false)
        }
    }
}

/// Hand out a `static` buffer once: the `&'static mut` to what `cell` holds,
/// or, if it was already taken (a bug), log `what` and exit with failure.
///
/// This replaces `static mut` + `unsafe`: the buffer is a
/// [`ConstStaticCell`] in `.bss` (zero-filled, never copied through the
/// stack) and [`ConstStaticCell::try_take`] has no panic path, unlike
/// `take`.
// The `&mut` comes from the cell's interior, handed out once (as
// `ConstStaticCell::try_take` itself does).
#[allow(clippy::mut_from_ref)]
// Out of line: one call at start-up, and `main` (where LTO inlines the
// training loop) keeps the shape it had with `static mut`.
#[inline(never)]
pub fn take<T>(cell: &'static ConstStaticCell<T>, what: &str) -> &'static mut T {
    match cell.try_take() {
        Some(v) => v,
        None => {
            defmt::error!("{=str} taken twice", what);
            exit(false)
        }
    }
}
