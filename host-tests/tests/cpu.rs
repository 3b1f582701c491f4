//! The shared suite on the CPU reference backend, in f32 and f64.

mod cpu_f32 {
    host_tests::conformance_suite!(host_tests::Cpu<f32>);
}

mod cpu_f64 {
    host_tests::conformance_suite!(host_tests::Cpu<f64>);
}
