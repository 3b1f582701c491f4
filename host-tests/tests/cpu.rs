//! The shared suite on the CPU backend: its fast kernels and its scalar
//! reference kernels, each in f32 and f64 (`cpu_fast_f32::…`,
//! `cpu_reference_f64::…`).

use host_tests::{Cpu, CpuReference, Suite};

fn main() {
    Suite::new()
        .stamp::<Cpu<f32>>()
        .stamp::<Cpu<f64>>()
        .stamp::<CpuReference<f32>>()
        .stamp::<CpuReference<f64>>()
        .run()
}
