//! The tests of this crate that need no Vulkan device.
//!
//! Everything that needs one runs in `host-tests` (`cargo test -p host-tests
//! --features vulkan --test vulkan`), where it is reported as ignored, with
//! the reason, when there is no device and `CI` is not set: the shared
//! suite on this backend (`vulkan_f32::…`: every op against the CPU
//! reference kernels, training, gradient checks) and this backend's own
//! behaviour (`vulkan_backend::…`, in `host-tests/tests/vulkan/backend.rs`:
//! both gemm kernels, one submission per training step and its replay, the
//! staging path, error variants, device picking).

use super::*;

#[test]
fn unknown_device_is_a_typed_error() {
    // With or without a device (or a loader): no device matches the name.
    match VulkanBackend::with_device(4, "no-such-device-0xdeadbeef") {
        Err(Error::NoDevice { wanted, .. }) => {
            assert!(wanted.contains("no-such-device-0xdeadbeef"), "{wanted}");
        }
        Err(e) => panic!("expected NoDevice, got {e}"),
        Ok(_) => panic!("a device matched a made-up name"),
    }
}

#[test]
fn backend_and_error_are_send_and_sync() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<VulkanBackend>();
    send::<Error>();
    sync::<Error>();
}
