//! The shared suite on the Vulkan backend (f32), on whatever device
//! `microprop_vulkan::VulkanBackend::new` picks (lavapipe in CI; set
//! `MICROPROP_VULKAN_DEVICE` to choose). Built with the `vulkan` feature:
//!
//! ```text
//! cargo test -p host-tests --features vulkan --test vulkan
//! ```
//!
//! With it, the Vulkan backend's own tests (`vulkan_backend::…`, in
//! `tests/vulkan/backend.rs`: gemm kernels, submissions and replay, the
//! staging path, device picking).
//!
//! Outside CI with no Vulkan device every test is reported as ignored, the
//! reason printed once; with `CI=true` they run and fail.

#[path = "vulkan/backend.rs"]
mod backend;

use host_tests::{in_ci, Harness, Suite, Tolerances, F32_TOLERANCES};
use microprop_vulkan::{Error, VulkanBackend};

struct Vulkan;

impl Harness for Vulkan {
    type E = f32;
    type B = VulkanBackend;
    const NAME: &'static str = "vulkan_f32";

    fn unavailable() -> Option<String> {
        if in_ci() {
            return None;
        }
        match VulkanBackend::new(1) {
            Err(e @ Error::NoDevice { .. }) => {
                Some(format!("{e}; set CI=true to make this a failure"))
            }
            // A device, or another error that the tests will report.
            _ => None,
        }
    }

    fn backend(len: usize) -> Option<VulkanBackend> {
        match VulkanBackend::new(len) {
            Ok(b) => Some(b),
            Err(e) => panic!("creating the Vulkan backend failed: {e}"),
        }
    }

    fn tolerances() -> Tolerances {
        F32_TOLERANCES
    }
}

fn main() {
    Suite::new()
        .stamp::<Vulkan>()
        .tests::<Vulkan>("vulkan_backend", backend::tests())
        .run()
}
