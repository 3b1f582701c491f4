//! # host-tests: one conformance suite for every backend
//!
//! The suite is written once as generic functions over a [`Harness`] (in
//! [`suite`]): every `pub fn NAME<H: Harness>()` there is one test, found by
//! `build.rs` (no list of names is kept by hand). A test binary stamps the
//! whole suite for each of its harnesses with [`Suite`], a `libtest-mimic`
//! runner (`harness = false` in `Cargo.toml`), so names, filters, `--list` and
//! the closing `test result:` line are the usual ones (`tests/cpu.rs`):
//!
//! ```no_run
//! use host_tests::{Cpu, CpuReference, Suite};
//!
//! fn main() {
//!     Suite::new()
//!         .stamp::<Cpu<f32>>() // cpu_fast_f32::ops::gemm_all_transposes, ...
//!         .stamp::<CpuReference<f64>>() // cpu_reference_f64::...
//!         .run()
//! }
//! ```
//!
//! A new backend gets a [`Harness`] (its name, a constructor, its
//! tolerances) and one such binary.
//!
//! A harness whose backend cannot run here (no Vulkan device, outside CI)
//! says why in [`Harness::unavailable`]; its tests are reported as ignored,
//! with the reason printed once, never as passed.
//!
//! Expected values come from hand derivations (written out in comments), from
//! finite differences, from an independent JAX computation committed under
//! `fixtures/` (script in `tools/`), or from real data.

pub mod data;
pub mod primitives;
pub mod suite;

use libtest_mimic::{Arguments, Completion, Trial};
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
    /// A name for messages, and the first part of its tests' names
    /// (`cpu_fast_f32::ops::gemm_all_transposes`).
    const NAME: &'static str;
    /// Why this backend cannot run here, or `None` when it can. [`Suite`]
    /// asks once per test binary; when it gets a reason, every test of the
    /// harness is reported as ignored and the reason printed once. A device
    /// backend returns a reason when there is no device and `CI` is not set
    /// ([`in_ci`]); in CI it returns `None`, so its tests run and fail.
    fn unavailable() -> Option<String> {
        None
    }
    /// A backend with an arena of `len` zeroed elements. The harnesses here
    /// always return `Some` and panic, naming the error, when the backend
    /// cannot be created; skipping is [`Harness::unavailable`]'s job (a test
    /// that returned early on `None` would be reported as passed).
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

include!(concat!(env!("OUT_DIR"), "/suite_list.rs"));

/// Whether `CI` is set to something other than empty, `0` or `false`: then a
/// backend that cannot run is a failure, not a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The conformance suite as one test binary's tests (`harness = false`),
/// run by `libtest-mimic`: the whole suite for each stamped [`Harness`],
/// every harness getting the same list.
#[derive(Default)]
pub struct Suite {
    harnesses: Vec<Stamped>,
}

/// One harness's tests, before the run decides whether it can run.
struct Stamped {
    name: &'static str,
    unavailable: fn() -> Option<String>,
    tests: Vec<(&'static str, fn())>,
}

impl Suite {
    /// An empty suite.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stamp every suite test for `H`, named `H::NAME::module::test`.
    pub fn stamp<H: Harness>(mut self) -> Self {
        self.harnesses.push(Stamped {
            name: H::NAME,
            unavailable: H::unavailable,
            tests: suite_tests::<H>(),
        });
        self
    }

    /// Add tests of one backend's own behaviour (not part of the shared
    /// suite) that need `H`'s backend, named `group::test`. Like the suite's
    /// tests they are reported as ignored, with the reason printed once,
    /// when [`Harness::unavailable`] gives one.
    pub fn tests<H: Harness>(
        mut self,
        group: &'static str,
        tests: Vec<(&'static str, fn())>,
    ) -> Self {
        self.harnesses.push(Stamped {
            name: group,
            unavailable: H::unavailable,
            tests,
        });
        self
    }

    /// Parse the test binary's arguments (filters, `--list`, `--exact`,
    /// `--test-threads`, ...), run the selected tests and exit with the
    /// outcome. A harness with a selected test is asked once whether it can
    /// run; if not, the reason is printed once and its tests are reported as
    /// ignored.
    pub fn run(self) -> ! {
        let args = Arguments::from_args();
        let mut trials = Vec::new();
        for h in self.harnesses {
            let named: Vec<(String, fn())> = h
                .tests
                .iter()
                .map(|&(t, f)| (format!("{}::{t}", h.name), f))
                .collect();
            let selected = named
                .iter()
                .filter(|(n, _)| !args.is_filtered_out(&Trial::test(n.clone(), || Ok(()))))
                .count();
            let reason = if selected > 0 && !args.list {
                (h.unavailable)()
            } else {
                None
            };
            if let Some(why) = &reason {
                eprintln!(
                    "note: {}: {selected} tests reported as ignored: {why}",
                    h.name
                );
            }
            for (name, f) in named {
                let skip = reason
                    .as_ref()
                    .map(|_| format!("{} unavailable, see the note above", h.name));
                trials.push(Trial::ignorable_test(name, move || match skip {
                    Some(why) => Ok(Completion::ignored_with(why)),
                    None => {
                        f();
                        Ok(Completion::Completed)
                    }
                }));
            }
        }
        libtest_mimic::run(&args, trials).exit()
    }
}

/// A harness for the CPU backend's fast kernels ([`CpuBackend::new`]) over
/// a leaked, zeroed arena: `cpu_fast_f32`, `cpu_fast_f64`.
///
/// [`CpuBackend::new`]: microprop_cpu::CpuBackend::new
pub struct Cpu<E>(core::marker::PhantomData<E>);

/// A harness for the CPU backend's scalar reference kernels, the ground
/// truth ([`CpuBackend::reference`]), over a leaked, zeroed arena:
/// `cpu_reference_f32`, `cpu_reference_f64`.
///
/// [`CpuBackend::reference`]: microprop_cpu::CpuBackend::reference
pub struct CpuReference<E>(core::marker::PhantomData<E>);

macro_rules! cpu_harness {
    ($harness:ident, $e:ty, $name:literal, $make:ident, $tol:expr) => {
        impl Harness for $harness<$e> {
            type E = $e;
            type B = microprop_cpu::CpuBackend<'static, $e>;
            const NAME: &'static str = $name;
            fn backend(len: usize) -> Option<Self::B> {
                Some(microprop_cpu::CpuBackend::$make(Vec::leak(vec![0.0; len])))
            }
            fn tolerances() -> Tolerances {
                $tol
            }
        }
    };
}

cpu_harness!(Cpu, f32, "cpu_fast_f32", new, F32_TOLERANCES);
cpu_harness!(Cpu, f64, "cpu_fast_f64", new, F64_TOLERANCES);
cpu_harness!(
    CpuReference,
    f32,
    "cpu_reference_f32",
    reference,
    F32_TOLERANCES
);
cpu_harness!(
    CpuReference,
    f64,
    "cpu_reference_f64",
    reference,
    F64_TOLERANCES
);
