//! defmt's global logger: frames written to the host's stdout through
//! semihosting, with no panic path.
//!
//! It replaces `defmt-semihosting`, whose logger panics when a log call
//! nests in another (a fault handler logging while `main` is mid-message):
//! here the nested message is dropped instead, so the `panic-never` build
//! (see `Cargo.toml`) can link. A frame is written with interrupts masked,
//! as there.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use cortex_m::register::primask;
use cortex_m_semihosting::hio::{self, HostStream};

#[defmt::global_logger]
struct Logger;

struct State {
    encoder: defmt::Encoder,
    out: Option<HostStream>,
    /// Whether interrupts were enabled before the frame began.
    restore_interrupts: bool,
}

struct Shared(UnsafeCell<State>);

// SAFETY: `State` is only touched by the holder of `TAKEN`, with interrupts
// masked, on a single core.
unsafe impl Sync for Shared {}

static TAKEN: AtomicBool = AtomicBool::new(false);
/// Log calls nested inside the frame being written (dropped).
static NESTED: AtomicU8 = AtomicU8::new(0);
static STATE: Shared = Shared(UnsafeCell::new(State {
    encoder: defmt::Encoder::new(),
    out: None,
    restore_interrupts: false,
}));

fn emit(out: &mut Option<HostStream>, bytes: &[u8]) {
    if let Some(o) = out.as_mut() {
        // A host that stops reading loses log bytes, nothing else.
        let _ = o.write_all(bytes);
    }
}

// SAFETY: defmt calls acquire/write/release in that order per frame;
// `TAKEN` plus masked interrupts give the frame's writer exclusive access
// to `STATE` (single core: nothing else runs until release).
unsafe impl defmt::Logger for Logger {
    fn acquire() {
        let enabled = primask::read().is_active();
        cortex_m::interrupt::disable();
        if TAKEN.load(Ordering::Relaxed) {
            // Nested in a frame (an exception handler logging): drop it.
            let n = NESTED.load(Ordering::Relaxed);
            NESTED.store(n.saturating_add(1), Ordering::Relaxed);
            return;
        }
        TAKEN.store(true, Ordering::Relaxed);
        // SAFETY: see the impl; this frame holds `TAKEN`.
        let st = unsafe { &mut *STATE.0.get() };
        st.restore_interrupts = enabled;
        if st.out.is_none() {
            st.out = hio::hstdout().ok();
        }
        let State { encoder, out, .. } = st;
        encoder.start_frame(|b| emit(out, b));
    }

    unsafe fn flush() {}

    unsafe fn release() {
        let n = NESTED.load(Ordering::Relaxed);
        if n > 0 {
            NESTED.store(n - 1, Ordering::Relaxed);
            return;
        }
        if !TAKEN.load(Ordering::Relaxed) {
            return;
        }
        // SAFETY: see the impl; this frame holds `TAKEN`.
        let st = unsafe { &mut *STATE.0.get() };
        let State {
            encoder,
            out,
            restore_interrupts,
        } = st;
        encoder.end_frame(|b| emit(out, b));
        let restore = *restore_interrupts;
        TAKEN.store(false, Ordering::Relaxed);
        if restore {
            // SAFETY: interrupts were enabled when this frame began.
            unsafe { cortex_m::interrupt::enable() };
        }
    }

    unsafe fn write(bytes: &[u8]) {
        if NESTED.load(Ordering::Relaxed) > 0 || !TAKEN.load(Ordering::Relaxed) {
            return;
        }
        // SAFETY: see the impl; this frame holds `TAKEN`.
        let st = unsafe { &mut *STATE.0.get() };
        let State { encoder, out, .. } = st;
        encoder.write(bytes, |b| emit(out, b));
    }
}
