//! The shared suite on the Vulkan backend (f32), on whatever device
//! `microprop_vulkan::VulkanBackend::new` picks (lavapipe in CI; set
//! `MICROPROP_VULKAN_DEVICE` to choose). Outside CI with no Vulkan device,
//! every test prints one skip line and passes; with `CI=true` they fail.

use host_tests::{Harness, Tolerances, F32_TOLERANCES};
use microprop_vulkan::{Error, VulkanBackend};

struct Vulkan;

impl Harness for Vulkan {
    type E = f32;
    type B = VulkanBackend;
    const NAME: &'static str = "vulkan-f32";

    fn backend(len: usize) -> Option<VulkanBackend> {
        match VulkanBackend::new(len) {
            Ok(b) => Some(b),
            Err(e @ Error::NoDevice { .. }) if !in_ci() => {
                static SAID: std::sync::Once = std::sync::Once::new();
                SAID.call_once(|| {
                    use std::io::Write;
                    // Written past the test harness's capture, once per file.
                    let _ = writeln!(
                        std::io::stderr(),
                        "SKIP host-tests/tests/vulkan.rs: no Vulkan device ({e}); \
                         set CI=true to make this a failure"
                    );
                });
                None
            }
            Err(e) => panic!("creating the Vulkan backend failed: {e}"),
        }
    }

    fn tolerances() -> Tolerances {
        F32_TOLERANCES
    }
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

host_tests::conformance_suite!(Vulkan);
