//! # host-tests: one conformance suite for every backend
//!
//! The suite is written once as generic functions over a [`Harness`] (in
//! [`suite`]) and stamped into `#[test]`s per backend by
//! [`conformance_suite!`], in the style of burn's `testgen`:
//!
//! ```ignore
//! struct CpuF32;
//! impl host_tests::Harness for CpuF32 { /* backend constructor, tolerances */ }
//! host_tests::conformance_suite!(CpuF32);
//! ```
//!
//! Expected values come from hand derivations (written out in comments), from
//! finite differences, from an independent JAX computation committed under
//! `fixtures/` (script in `tools/`), or from real data.

pub mod data;
pub mod suite;

use microprop::{Backend, Element, GradCheckConfig};

/// Tolerances a backend is held to, stated once per harness.
#[derive(Debug, Clone, Copy)]
pub struct Tolerances {
    /// Relative tolerance of elementwise ops against expectations.
    pub elementwise: f64,
    /// Relative tolerance of reductions (gemm sums, losses).
    pub reduction: f64,
    /// Gradient-check settings.
    pub gradcheck: GradCheckConfig,
    /// Largest relative error a gradient check may report.
    pub gradcheck_max: f64,
}

/// How the suite gets a backend to test.
pub trait Harness {
    /// Element type.
    type E: Element;
    /// The backend; it owns (or leaks) its arena.
    type B: Backend<Elem = Self::E>;
    /// A name for messages.
    const NAME: &'static str;
    /// A backend with an arena of `len` zeroed elements, or `None` to skip
    /// (a device backend outside CI with no device: print why).
    fn backend(len: usize) -> Option<Self::B>;
    /// Tolerances for this backend.
    fn tolerances() -> Tolerances;
}

/// Tolerances for f64 on the CPU reference.
pub const F64_TOLERANCES: Tolerances = Tolerances {
    elementwise: 1e-12,
    reduction: 1e-12,
    gradcheck: GradCheckConfig::F64,
    gradcheck_max: 1e-7,
};

/// Tolerances for f32 (CPU reference, fast kernels, Vulkan).
pub const F32_TOLERANCES: Tolerances = Tolerances {
    elementwise: 1e-5,
    reduction: 1e-4,
    gradcheck: GradCheckConfig::F32,
    gradcheck_max: 1e-2,
};

/// `|a - b| <= tol · max(1, |a|, |b|)`: relative for large values, absolute
/// near zero.
pub fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * 1f64.max(a.abs()).max(b.abs())
}

/// Assert two slices are [`close`] element by element, naming the first
/// mismatch.
#[track_caller]
pub fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            close(g, w, tol),
            "{what}[{i}]: got {g}, want {w} (tol {tol})\n got: {got:?}\nwant: {want:?}"
        );
    }
}

/// Stamp the whole conformance suite as `#[test]`s for a [`Harness`].
#[macro_export]
macro_rules! conformance_suite {
    ($h:ty) => {
        $crate::__stamp!($h; ops;
            fill_copy_axpy_sum_squares, gemm_all_transposes, gemm_beta_zero_ignores_nan,
            bias_add_and_grad, bias_activate_matches_bias_add_then_activate,
            activations_forward, activations_backward_match_finite_differences,
            softmax_and_backward, maxout_and_backward_tie_goes_first, mse_loss_by_hand,
            cross_entropy_by_hand, cross_entropy_is_stable_at_1000, hinge_cs231n_example,
            count_correct, sgd_and_momentum_by_hand, adam_first_steps_by_hand,
            perceptron_epoch_by_hand, ops_match_cpu_reference_on_random_data,
            malformed_ops_are_errors
        );
        $crate::__stamp!($h; grads;
            gradcheck_every_layer_activation_loss, gradcheck_with_l2,
            lecture_two_layer_example, matches_jax_reference
        );
        $crate::__stamp!($h; interop; jax_safetensors_same_logits_and_gradients);
        $crate::__stamp!($h; train;
            xor_reaches_low_loss, digits_reaches_96_percent, rejected_calls_leave_parameters_untouched,
            bad_inputs_are_typed_errors, batch_sizes_up_to_capacity, optimizers_decrease_loss,
            lr_schedule_changes_steps, fused_sgd_matches_unfused_sgd,
            fused_sgd_gradient_calls_are_typed_errors
        );
        $crate::__stamp!($h; guard;
            guard_poison_sample_is_undone, guard_absurd_lr_is_lowered_until_stable,
            guard_catches_a_corrupted_weight, guard_gives_up_after_max_recoveries,
            guard_is_transparent_without_divergence, guard_bad_settings_are_typed_errors
        );
        $crate::__stamp!($h; perceptron;
            perceptron_and_by_hand, perceptron_mistakes_within_bound,
            perceptron_xor_stops_at_epoch_limit, perceptron_pocket_and_averaged_on_breast_cancer,
            perceptron_bad_inputs_are_typed_errors
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __stamp {
    ($h:ty; $module:ident; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::suite::$module::$name::<$h>();
            }
        )*
    };
}

/// A harness for the CPU reference backend over a leaked, zeroed arena.
pub struct Cpu<E>(core::marker::PhantomData<E>);

impl Harness for Cpu<f32> {
    type E = f32;
    type B = microprop_cpu::CpuBackend<'static, f32>;
    const NAME: &'static str = "cpu-f32";
    fn backend(len: usize) -> Option<Self::B> {
        Some(microprop_cpu::CpuBackend::new(Vec::leak(vec![0.0; len])))
    }
    fn tolerances() -> Tolerances {
        F32_TOLERANCES
    }
}

impl Harness for Cpu<f64> {
    type E = f64;
    type B = microprop_cpu::CpuBackend<'static, f64>;
    const NAME: &'static str = "cpu-f64";
    fn backend(len: usize) -> Option<Self::B> {
        Some(microprop_cpu::CpuBackend::new(Vec::leak(vec![0.0; len])))
    }
    fn tolerances() -> Tolerances {
        F64_TOLERANCES
    }
}
