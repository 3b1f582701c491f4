//! Numerical gradient checking, as a library feature (`no_std`, so it also
//! runs on a device).
//!
//! Central differences `n = (L(θ+h) − L(θ−h)) / 2h` are compared with the
//! analytic gradient `a` by the relative error `|a − n| / max(|a|, |n|, tiny)`.
//! The report names the worst parameter (or input).

/// Settings of a gradient check.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GradCheckConfig {
    /// Step of the central difference (1e-5 suits f64, 1e-3 suits f32).
    pub h: f64,
    /// Floor of the relative error's denominator, so that two gradients that
    /// are both ≈ 0 do not count as a large relative error.
    pub tiny: f64,
    /// Also check the gradient with respect to every input element.
    pub inputs: bool,
}

impl GradCheckConfig {
    /// `h = 1e-5`, `tiny = 1e-3`, inputs checked: for f64. A central
    /// difference of an f64 loss of a few units carries up to ~1e-10 of
    /// rounding noise at this step, so gradients below ~1e-3 are compared
    /// absolutely (an error of 1e-10 there reads as 1e-7).
    pub const F64: Self = GradCheckConfig {
        h: 1e-5,
        tiny: 1e-3,
        inputs: true,
    };
    /// `h = 2e-3`, `tiny = 2e-2`, inputs checked: for f32. An f32 loss of a
    /// few units is good to ~4e-7, so a difference quotient at this step
    /// carries up to ~1e-4 of noise; gradients below 2e-2 are compared
    /// absolutely (an error of 2e-4 there reads as 1e-2). The truncation
    /// error at this step, ~h²·f'''/6, stays below 1e-6; a larger step
    /// crosses ReLU and hinge kinks.
    pub const F32: Self = GradCheckConfig {
        h: 2e-3,
        tiny: 2e-2,
        inputs: true,
    };
}

/// What a checked value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Location {
    /// Weight `index` (row-major `[out, in]`) of spec layer `layer`.
    Weight {
        /// Layer index in the spec.
        layer: usize,
        /// Index within the layer's weights.
        index: usize,
    },
    /// Bias `index` of spec layer `layer`.
    Bias {
        /// Layer index in the spec.
        layer: usize,
        /// Index within the layer's biases.
        index: usize,
    },
    /// Input element `index` of the batch (row-major).
    Input {
        /// Index in the input batch.
        index: usize,
    },
    /// Value `index` of some other differentiable thing (a graph node).
    Value {
        /// Index of the value.
        index: usize,
    },
}

/// The outcome of a gradient check.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GradCheckReport {
    /// Largest relative error seen.
    pub max_rel_error: f64,
    /// Where it was (None if nothing was checked).
    pub worst: Option<Location>,
    /// Analytic gradient at the worst location.
    pub analytic: f64,
    /// Numerical gradient at the worst location.
    pub numeric: f64,
    /// How many values were checked.
    pub checked: usize,
}

/// The relative error `|a − n| / max(|a|, |n|, tiny)` (0 when `a == n`).
pub fn relative_error(analytic: f64, numeric: f64, tiny: f64) -> f64 {
    let diff = libm::fabs(analytic - numeric);
    if diff == 0.0 {
        return 0.0;
    }
    let denom = libm::fabs(analytic).max(libm::fabs(numeric)).max(tiny);
    diff / denom
}

/// Anything whose scalar loss can be evaluated after perturbing one value,
/// and which knows its analytic gradient: a network, a computational graph.
pub trait Differentiable {
    /// The error its evaluations can fail with.
    type Error;
    /// How many values to check.
    fn count(&self) -> usize;
    /// What value `i` is.
    fn location(&self, i: usize) -> Location;
    /// The current value `i`.
    fn value(&mut self, i: usize) -> core::result::Result<f64, Self::Error>;
    /// Set value `i` to `v` and return the value actually stored (after
    /// rounding to the element type).
    fn set_value(&mut self, i: usize, v: f64) -> core::result::Result<f64, Self::Error>;
    /// The scalar loss at the current values.
    fn loss(&mut self) -> core::result::Result<f64, Self::Error>;
    /// The analytic gradient of the loss with respect to value `i` at the
    /// unperturbed point.
    fn analytic(&mut self, i: usize) -> core::result::Result<f64, Self::Error>;
}

/// Check every value of `f` by central differences. Every value is restored
/// afterwards.
pub fn check<D: Differentiable>(
    f: &mut D,
    config: &GradCheckConfig,
) -> core::result::Result<GradCheckReport, D::Error> {
    let mut report = GradCheckReport {
        max_rel_error: 0.0,
        worst: None,
        analytic: 0.0,
        numeric: 0.0,
        checked: 0,
    };
    for i in 0..f.count() {
        let a = f.analytic(i)?;
        let orig = f.value(i)?;
        let plus = f.set_value(i, orig + config.h)?;
        let l_plus = f.loss()?;
        let minus = f.set_value(i, orig - config.h)?;
        let l_minus = f.loss()?;
        f.set_value(i, orig)?;
        // Divide by the step actually taken: in f32 `orig ± h` rounds.
        let step = plus - minus;
        let n = if step != 0.0 {
            (l_plus - l_minus) / step
        } else {
            0.0
        };
        let e = relative_error(a, n, config.tiny);
        if report.worst.is_none() || e > report.max_rel_error {
            report.max_rel_error = e;
            report.worst = Some(f.location(i));
            report.analytic = a;
            report.numeric = n;
        }
        report.checked += 1;
    }
    Ok(report)
}
