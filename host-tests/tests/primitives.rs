//! The shared suite on a backend that implements only the primitive ops
//! (the CPU reference kernels behind [`host_tests::primitives::PrimitivesOnly`]):
//! every composite runs as its reference decomposition.

use host_tests::primitives::CpuPrimitives;
use host_tests::Suite;

fn main() {
    Suite::new()
        .stamp::<CpuPrimitives<f32>>()
        .stamp::<CpuPrimitives<f64>>()
        .run()
}
