//! Single-core f32 FMA peak of this machine: independent chains of fused
//! multiply-adds on whole vector registers (12 chains of 8 f32 lanes on
//! AVX2 ymm registers; also 24 chains of 16 lanes on AVX-512 zmm registers
//! where the CPU has it), timed like every peer (`src/lib.rs`: 0.3 s warm-up,
//! median of 7 rounds of about 0.3 s). Gflop/s = 2 × lanes × chains ×
//! iterations / time. The chains are independent so that the FMA units,
//! not the 4-cycle latency of one chain, bound the rate.
//!
//! Prints `FMA peak<TAB>ymm (AVX2), 12 chains × 8 f32<TAB>Gflop/s` lines,
//! the first of which `run.sh` divides every implementation's Gflop/s by.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// FMAs per chain per timed call (one call is 12 × 8 × 2 × ITERS flops).
const ITERS: u64 = 100_000;

/// Flops per second of `kernel`, which does `flops_per_call` flops per call:
/// warm up 0.3 s, then the median of 7 rounds of about 0.3 s.
fn flops_per_sec(flops_per_call: f64, mut kernel: impl FnMut() -> f32) -> f64 {
    let t = Instant::now();
    let mut n = 0u64;
    let mut sink = 0.0f32;
    while t.elapsed() < Duration::from_millis(300) {
        sink += kernel();
        n += 1;
    }
    let per_round = n.max(10);
    let mut rates = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        for _ in 0..per_round {
            sink += kernel();
        }
        rates.push(per_round as f64 * flops_per_call / t.elapsed().as_secs_f64());
    }
    black_box(sink);
    rates.sort_by(|a, b| a.total_cmp(b));
    rates[3]
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::ITERS;
    use std::arch::x86_64::*;
    use std::hint::black_box;

    /// Chains of the ymm kernel.
    pub const YMM_CHAINS: usize = 12;
    /// Chains of the zmm kernel (32 zmm registers).
    pub const ZMM_CHAINS: usize = 24;

    /// `ITERS` rounds of one `vfmadd` on each of 12 ymm accumulators
    /// (acc = acc × m + a, m just under 1 so nothing overflows).
    #[target_feature(enable = "avx2,fma")]
    pub fn ymm() -> f32 {
        let m = _mm256_set1_ps(black_box(0.999_999));
        let a = _mm256_set1_ps(black_box(1e-7));
        let mut acc = [_mm256_set1_ps(black_box(1.0)); YMM_CHAINS];
        for _ in 0..black_box(ITERS) {
            for c in acc.iter_mut() {
                *c = _mm256_fmadd_ps(*c, m, a);
            }
        }
        let mut s = acc[0];
        for c in &acc[1..] {
            s = _mm256_add_ps(s, *c);
        }
        _mm256_cvtss_f32(s)
    }

    /// The same on 24 zmm accumulators of 16 lanes.
    #[target_feature(enable = "avx512f")]
    pub fn zmm() -> f32 {
        let m = _mm512_set1_ps(black_box(0.999_999));
        let a = _mm512_set1_ps(black_box(1e-7));
        let mut acc = [_mm512_set1_ps(black_box(1.0)); ZMM_CHAINS];
        for _ in 0..black_box(ITERS) {
            for c in acc.iter_mut() {
                *c = _mm512_fmadd_ps(*c, m, a);
            }
        }
        let mut s = acc[0];
        for c in &acc[1..] {
            s = _mm512_add_ps(s, *c);
        }
        _mm512_reduce_add_ps(s)
    }
}

fn main() {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            let flops = (2 * 8 * x86::YMM_CHAINS) as f64 * ITERS as f64;
            // SAFETY: avx2 and fma were detected on this CPU just above.
            let rate = flops_per_sec(flops, || unsafe { x86::ymm() });
            println!(
                "FMA peak\tymm (AVX2), {} chains × 8 f32\t{:.1}",
                x86::YMM_CHAINS,
                rate / 1e9
            );
        } else {
            println!("FMA peak\tymm (AVX2)\tnot available");
        }
        if is_x86_feature_detected!("avx512f") {
            let flops = (2 * 16 * x86::ZMM_CHAINS) as f64 * ITERS as f64;
            // SAFETY: avx512f was detected on this CPU just above.
            let rate = flops_per_sec(flops, || unsafe { x86::zmm() });
            println!(
                "FMA peak\tzmm (AVX-512), {} chains × 16 f32\t{:.1}",
                x86::ZMM_CHAINS,
                rate / 1e9
            );
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    println!("FMA peak\tymm (AVX2)\tnot available");
}
