//! Input checks: hyperparameters, batches and targets are validated before
//! anything is issued, so that a rejected call leaves the model unchanged.

use microprop_hal::{Backend, Element, LossKind};

use super::{at, Network, Result, Targets};
use crate::{Activation, Config, Error, Layer, Operand, Optimizer, Spec};

/// `v` is finite and non-negative at element precision.
pub(super) fn finite_nonneg<E: Element>(v: f64) -> bool {
    let v = at::<E>(v);
    v.is_finite() && v >= 0.0
}

/// `v` is in `[0, 1)` at element precision.
fn unit_interval<E: Element>(v: f64) -> bool {
    let v = at::<E>(v);
    v.is_finite() && (0.0..1.0).contains(&v)
}

/// Check hyperparameters that would otherwise poison the arena silently, at
/// the precision of element type `E` (a momentum of `1 - 1e-9` is 1 in f32).
pub(super) fn check_config<E: Element, BE>(
    spec: &Spec,
    config: &Config,
) -> core::result::Result<(), Error<BE>> {
    let bad = |name| Err(Error::Hyperparameter { name });
    if !finite_nonneg::<E>(config.optimizer.lr()) {
        return bad("lr");
    }
    match config.optimizer {
        Optimizer::Sgd { .. } | Optimizer::FusedSgd { .. } => {}
        Optimizer::Momentum { momentum, .. } => {
            if !unit_interval::<E>(momentum) {
                return bad("momentum");
            }
        }
        Optimizer::Adam {
            beta1, beta2, eps, ..
        } => {
            if !unit_interval::<E>(beta1) {
                return bad("beta1");
            }
            if !unit_interval::<E>(beta2) {
                return bad("beta2");
            }
            let eps = at::<E>(eps);
            if !(eps.is_finite() && eps > 0.0) {
                return bad("eps");
            }
        }
    }
    if !finite_nonneg::<E>(config.l2) {
        return bad("l2");
    }
    if let LossKind::Hinge { margin } = config.loss {
        if !finite_nonneg::<E>(margin) {
            return bad("margin");
        }
    }
    for layer in spec.layers() {
        if let Layer::Activation(a) = layer {
            match *a {
                Activation::LeakyRelu { slope } if !at::<E>(slope).is_finite() => {
                    return bad("slope")
                }
                Activation::Elu { alpha } if !at::<E>(alpha).is_finite() => return bad("alpha"),
                _ => {}
            }
        }
    }
    if config.loss.uses_labels() && spec.outputs() < 2 {
        return Err(Error::LossWidth {
            outputs: spec.outputs(),
        });
    }
    if config.batch == 0 {
        return Err(Error::EmptyBatch);
    }
    Ok(())
}

impl<'s, B: Backend> Network<'s, B> {
    /// Rows in `x` (any number), or why `x` is not valid input data: empty,
    /// not a whole number of rows, or not finite.
    pub(crate) fn check_rows(&self, x: &[B::Elem]) -> Result<usize, B> {
        let n_in = self.spec.inputs();
        if x.is_empty() {
            return Err(Error::EmptyBatch);
        }
        // `n_in == 0` first: no division by zero (and no panic path).
        if n_in == 0 || x.len() % n_in != 0 {
            return Err(Error::Length {
                what: Operand::Input,
                expected: n_in,
                got: x.len(),
            });
        }
        if let Some(index) = x.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: Operand::Input,
                index,
            });
        }
        Ok(x.len() / n_in)
    }

    /// Rows in `x`, or why `x` is not a valid batch (also: over capacity).
    pub(crate) fn check_input(&self, x: &[B::Elem]) -> Result<usize, B> {
        let rows = self.check_rows(x)?;
        if rows > self.layout.batch {
            return Err(Error::BatchTooLarge {
                rows,
                capacity: self.layout.batch,
            });
        }
        Ok(rows)
    }

    pub(crate) fn check_targets(&self, t: &Targets<'_, B::Elem>, rows: usize) -> Result<(), B> {
        let classes = self.spec.outputs();
        let wants_labels = self.config.loss.uses_labels();
        match *t {
            Targets::Labels(labels) => {
                if !wants_labels {
                    return Err(Error::TargetKind { wants_labels });
                }
                if labels.len() != rows {
                    return Err(Error::Length {
                        what: Operand::Target,
                        expected: rows,
                        got: labels.len(),
                    });
                }
                // A label travels to the backend as a u32 (Element::from_index).
                let fits = |l: usize| l < classes && u32::try_from(l).is_ok();
                if let Some(index) = labels.iter().position(|&l| !fits(l)) {
                    return Err(Error::LabelOutOfRange {
                        index,
                        label: labels[index],
                        classes,
                    });
                }
            }
            Targets::Values(values) => {
                if wants_labels {
                    return Err(Error::TargetKind { wants_labels });
                }
                if values.len() != rows * classes {
                    return Err(Error::Length {
                        what: Operand::Target,
                        expected: rows * classes,
                        got: values.len(),
                    });
                }
                if let Some(index) = values.iter().position(|v| !v.is_finite()) {
                    return Err(Error::NonFinite {
                        what: Operand::Target,
                        index,
                    });
                }
            }
        }
        Ok(())
    }

    /// Validate and upload a batch and its targets without issuing ops.
    pub(crate) fn stage_batch(
        &mut self,
        x: &[B::Elem],
        targets: &Targets<'_, B::Elem>,
    ) -> Result<usize, B> {
        let rows = self.check_input(x)?;
        self.check_targets(targets, rows)?;
        self.backend
            .upload(self.layout.input.offset, x)
            .map_err(Error::Backend)?;
        self.upload_targets(targets)?;
        Ok(rows)
    }

    /// [`Error::Fused`] for a call that needs the gradient buffer a fused-SGD
    /// network does not have.
    /// [`Error::InferenceOnly`] for a forward-only network.
    pub(crate) fn check_trains(&self, called: &'static str) -> Result<(), B> {
        if self.layout.inference {
            Err(Error::InferenceOnly { called })
        } else {
            Ok(())
        }
    }

    /// [`Error::NoInputGradient`] when backward cannot reach the input.
    pub(crate) fn check_input_grad(&self, called: &'static str) -> Result<(), B> {
        self.check_trains(called)?;
        if self.layout.shared > 0 {
            Err(Error::NoInputGradient { called })
        } else {
            Ok(())
        }
    }

    pub(crate) fn check_unfused(&self, called: &'static str) -> Result<(), B> {
        match self.config.optimizer {
            Optimizer::FusedSgd { .. } => Err(Error::Fused { called }),
            _ => Ok(()),
        }
    }
}
