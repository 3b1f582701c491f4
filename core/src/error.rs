//! Errors, not panics.
//!
//! Every fallible call returns [`Error`]; [`Error::kind`] sorts it into the
//! few [`ErrorKind`]s a firmware reacts to differently (skip the sample,
//! lower the learning rate, reset the device, …) without matching every
//! variant. [`Error`], [`SpecError`], [`BlobError`] and [`GraphError`]
//! implement `Display` and `core::error::Error` (no `std` needed).

use crate::blob::BlobError;
use crate::graph::GraphError;
use crate::SpecError;
use core::fmt;

/// What a piece of data was, in an error about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Operand {
    /// The input batch.
    Input,
    /// The targets.
    Target,
    /// A parameter blob being loaded, or a buffer receiving parameters.
    Parameters,
    /// A buffer receiving the network's outputs (`output`, `predict`) or
    /// its arg-max classes (`classify`).
    Output,
    /// A buffer receiving the gradient with respect to the input batch
    /// (`backward_with_input_grad`).
    InputGradient,
    /// A buffer receiving the parameters' gradients (`gradients`).
    Gradients,
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operand::Input => "input",
            Operand::Target => "target",
            Operand::Parameters => "parameters",
            Operand::Output => "output",
            Operand::InputGradient => "input gradient",
            Operand::Gradients => "gradients",
        })
    }
}

/// Everything that can go wrong in `microprop`. `BE` is the backend's error.
///
/// Match on [`Error::kind`] to react to a class of failures; the variants
/// carry the details (and may grow: the enum is `#[non_exhaustive]`).
///
/// A call that returns an error has not changed the model's parameters or
/// optimizer state: inputs are validated before any op is issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error<BE> {
    /// The layer list does not form a network.
    Spec(SpecError),
    /// The backend's arena is shorter than the layout needs.
    ArenaTooSmall {
        /// Elements the layout needs.
        needed: usize,
        /// Elements the backend has.
        available: usize,
    },
    /// A batch of zero rows.
    EmptyBatch,
    /// More rows than the arena was planned for.
    BatchTooLarge {
        /// Rows given.
        rows: usize,
        /// Planned capacity.
        capacity: usize,
    },
    /// A slice has the wrong length.
    Length {
        /// Which slice.
        what: Operand,
        /// Length required (or a multiple of which, for inputs).
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// A class label is not in `0..classes`.
    LabelOutOfRange {
        /// Position of the label in the batch.
        index: usize,
        /// The label.
        label: usize,
        /// Number of classes.
        classes: usize,
    },
    /// A perceptron label is not `+1` or `-1`.
    SignLabel {
        /// Position of the label.
        index: usize,
    },
    /// NaN or ±∞ in the data.
    NonFinite {
        /// Which slice.
        what: Operand,
        /// Position of the first bad element.
        index: usize,
    },
    /// Labels given to a loss that wants values, or the other way round.
    TargetKind {
        /// `true` if the loss wants class labels.
        wants_labels: bool,
    },
    /// Labels of more classes than the network has outputs (the classification
    /// losses need at least 2 outputs).
    LossWidth {
        /// Output width of the network.
        outputs: usize,
    },
    /// A step needs a preceding call (`backward` needs `loss`, `loss` needs
    /// `forward`).
    OutOfOrder {
        /// What was called.
        called: &'static str,
        /// What must come first.
        needs: &'static str,
    },
    /// A hyperparameter is out of range (negative or non-finite learning
    /// rate, momentum outside `[0, 1)`, …).
    Hyperparameter {
        /// Its name.
        name: &'static str,
    },
    /// A device blob was rejected (see [`crate::blob`]).
    Blob(BlobError),
    /// The divergence guard undid this many diverging steps in a row
    /// without progress and gave up; the model holds its last verified
    /// snapshot (see [`crate::guard`]).
    Diverged {
        /// Recoveries before giving up.
        recoveries: u32,
    },
    /// The call needs a gradient buffer, which a network trained with
    /// [`crate::Optimizer::FusedSgd`] does not have (it applies each layer's
    /// update during backward: use [`crate::Network::train_step`]).
    Fused {
        /// What was called.
        called: &'static str,
    },
    /// The call trains or needs a loss, and the network was built to run
    /// forward only ([`crate::Network::new_inference`]).
    InferenceOnly {
        /// What was called.
        called: &'static str,
    },
    /// The backend cannot run an op this network (or this call) issues: a
    /// backend built for a smaller op set (the CPU backend's `OPS`), see
    /// [`Config::ops`](crate::Config::ops). Nothing was changed.
    MissingOp {
        /// The op's name.
        op: &'static str,
    },
    /// The call needs the gradient with respect to the input, which backward
    /// cannot reach: the arena keeps no activations of the frozen layers
    /// before the first trained one ([`crate::Train`]).
    NoInputGradient {
        /// What was called.
        called: &'static str,
    },
    /// The backend failed.
    Backend(BE),
}

impl<BE> From<SpecError> for Error<BE> {
    fn from(e: SpecError) -> Self {
        Error::Spec(e)
    }
}

/// What class of failure an [`Error`] is: what a caller (a firmware's
/// training loop) does about it, without matching every variant.
///
/// ```
/// use microprop::{Error, ErrorKind, Operand};
/// let e: Error<microprop_cpu::CpuError> = Error::NonFinite { what: Operand::Input, index: 3 };
/// match e.kind() {
///     ErrorKind::Input => { /* drop this sample, the model is unchanged */ }
///     ErrorKind::Diverged => { /* reload the last checkpoint */ }
///     ErrorKind::Backend(_) => { /* reset the accelerator */ }
///     _ => { /* a bug in the program: spec, configuration, call order */ }
/// }
/// assert_eq!(e.kind(), ErrorKind::Input);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ErrorKind {
    /// The data given to the call is unusable: a wrong length, NaN or ±∞,
    /// a label out of range, labels where values are wanted, an empty or
    /// oversized batch. The model is unchanged; skipping the sample is safe.
    Input,
    /// The spec, the configuration or the arena do not make a model: layers
    /// that do not chain, an arena too small, a loss the output width does
    /// not support ([`Error::Spec`], [`Error::ArenaTooSmall`],
    /// [`Error::LossWidth`]).
    Model,
    /// A hyperparameter is out of range ([`Error::Hyperparameter`]).
    Hyperparameter,
    /// The call is not supported by this network's configuration (a
    /// gradient buffer under fused SGD: [`Error::Fused`]).
    Unsupported,
    /// The call needs another call first ([`Error::OutOfOrder`]).
    OutOfOrder,
    /// A stored model (a device blob) was rejected: corrupt, truncated, or
    /// written for another network ([`Error::Blob`]).
    Blob,
    /// Training diverged and the guard gave up ([`Error::Diverged`]).
    Diverged,
    /// The backend failed; its own kind says how ([`Error::Backend`]).
    Backend(microprop_hal::ErrorKind),
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Input => f.write_str("invalid input"),
            ErrorKind::Model => f.write_str("invalid model"),
            ErrorKind::Hyperparameter => f.write_str("hyperparameter out of range"),
            ErrorKind::Unsupported => f.write_str("unsupported by this configuration"),
            ErrorKind::OutOfOrder => f.write_str("call out of order"),
            ErrorKind::Blob => f.write_str("stored model rejected"),
            ErrorKind::Diverged => f.write_str("training diverged"),
            ErrorKind::Backend(k) => write!(f, "backend: {k}"),
        }
    }
}

impl<BE: microprop_hal::Error> Error<BE> {
    /// The class of this failure (see [`ErrorKind`]); a backend failure
    /// carries the backend's own [`microprop_hal::ErrorKind`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::EmptyBatch
            | Error::BatchTooLarge { .. }
            | Error::Length { .. }
            | Error::LabelOutOfRange { .. }
            | Error::SignLabel { .. }
            | Error::NonFinite { .. }
            | Error::TargetKind { .. } => ErrorKind::Input,
            Error::Spec(_) | Error::ArenaTooSmall { .. } | Error::LossWidth { .. } => {
                ErrorKind::Model
            }
            Error::Hyperparameter { .. } => ErrorKind::Hyperparameter,
            Error::Fused { .. }
            | Error::InferenceOnly { .. }
            | Error::NoInputGradient { .. }
            | Error::MissingOp { .. } => ErrorKind::Unsupported,
            Error::OutOfOrder { .. } => ErrorKind::OutOfOrder,
            Error::Blob(_) => ErrorKind::Blob,
            Error::Diverged { .. } => ErrorKind::Diverged,
            Error::Backend(e) => ErrorKind::Backend(e.kind()),
        }
    }
}

impl<BE: fmt::Display> fmt::Display for Error<BE> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Spec(e) => write!(f, "invalid spec: {e}"),
            Error::ArenaTooSmall { needed, available } => write!(
                f,
                "arena too small: the model needs {needed} elements, the backend has {available}"
            ),
            Error::EmptyBatch => write!(f, "empty batch"),
            Error::BatchTooLarge { rows, capacity } => write!(
                f,
                "batch of {rows} rows exceeds the planned capacity of {capacity}"
            ),
            Error::Length {
                what,
                expected,
                got,
            } => write!(f, "{what} has length {got}, expected {expected}"),
            Error::LabelOutOfRange {
                index,
                label,
                classes,
            } => write!(
                f,
                "label {label} at index {index} is out of range for {classes} classes"
            ),
            Error::SignLabel { index } => {
                write!(f, "label at index {index} is not +1 or -1")
            }
            Error::NonFinite { what, index } => {
                write!(f, "{what} element {index} is NaN or infinite")
            }
            Error::TargetKind { wants_labels: true } => {
                write!(f, "this loss takes class labels, not values")
            }
            Error::TargetKind {
                wants_labels: false,
            } => write!(f, "this loss takes target values, not class labels"),
            Error::LossWidth { outputs } => write!(
                f,
                "a classification loss needs at least 2 outputs, the network has {outputs}"
            ),
            Error::OutOfOrder { called, needs } => {
                write!(f, "`{called}` needs `{needs}` first")
            }
            Error::Hyperparameter { name } => write!(f, "hyperparameter `{name}` is out of range"),
            Error::Blob(e) => write!(f, "{e}"),
            Error::Diverged { recoveries } => write!(
                f,
                "training diverged: gave up after {recoveries} recoveries without progress"
            ),
            Error::Fused { called } => write!(
                f,
                "`{called}` needs a gradient buffer; fused SGD trains only through train_step"
            ),
            Error::InferenceOnly { called } => write!(
                f,
                "`{called}` trains or needs a loss; this network runs forward only"
            ),
            Error::MissingOp { op } => write!(
                f,
                "the backend cannot run `{op}`, which this network needs (a CPU backend's op \
                 set must hold `Config::ops` of the spec, and the ops of the features in use)"
            ),
            Error::NoInputGradient { called } => write!(
                f,
                "`{called}` needs the input gradient, but the frozen layers before the first \
                 trained one keep no activations for backward"
            ),
            Error::Backend(e) => write!(f, "backend error: {e}"),
        }
    }
}

/// `source()` is the wrapped error: the backend's, the spec's or the blob's.
impl<BE: core::error::Error + 'static> core::error::Error for Error<BE> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Error::Backend(e) => Some(e),
            Error::Spec(e) => Some(e),
            Error::Blob(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SpecError::Empty => write!(f, "the spec has no layers"),
            SpecError::NoInputWidth => write!(
                f,
                "the first layer must be Dense, Maxout, Conv or Pool (it gives the input width)"
            ),
            SpecError::Chain {
                layer,
                expected,
                got,
            } => write!(
                f,
                "layer {layer} expects {expected} inputs but the previous layer gives {got}"
            ),
            SpecError::ZeroWidth { layer } => {
                write!(f, "layer {layer} has a zero width or zero maxout pieces")
            }
            SpecError::Geometry { layer, problem } => write!(f, "layer {layer}: {problem}"),
            SpecError::TooLarge => write!(f, "the spec's sizes overflow usize"),
            SpecError::Training { layers, got } => write!(
                f,
                "the trainability list has {got} entries for {layers} layers"
            ),
        }
    }
}

impl core::error::Error for SpecError {}

impl core::error::Error for BlobError {}

impl core::error::Error for GraphError {}

#[cfg(test)]
mod tests {
    use super::*;
    use core::error::Error as _;

    /// A backend error with `Display` and `core::error::Error`.
    #[derive(Debug, PartialEq)]
    struct Lost;

    impl fmt::Display for Lost {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("device lost")
        }
    }

    impl core::error::Error for Lost {}

    impl microprop_hal::Error for Lost {
        fn kind(&self) -> microprop_hal::ErrorKind {
            microprop_hal::ErrorKind::Device
        }
    }

    #[test]
    fn source_is_the_wrapped_error() {
        let e: Error<Lost> = Error::Backend(Lost);
        let source = e.source().expect("a backend error has a source");
        assert_eq!(source.downcast_ref::<Lost>(), Some(&Lost));
        assert_eq!(e.to_string(), "backend error: device lost");
        assert_eq!(
            e.kind(),
            ErrorKind::Backend(microprop_hal::ErrorKind::Device)
        );

        let e: Error<Lost> = Error::Spec(SpecError::ZeroWidth { layer: 2 });
        let source = e.source().expect("a spec error has a source");
        assert_eq!(
            source.downcast_ref::<SpecError>(),
            Some(&SpecError::ZeroWidth { layer: 2 })
        );
        assert_eq!(
            e.to_string(),
            "invalid spec: layer 2 has a zero width or zero maxout pieces"
        );

        let e: Error<Lost> = Error::Blob(BlobError::Magic);
        assert!(e.source().unwrap().is::<BlobError>());
        assert!(Error::<Lost>::EmptyBatch.source().is_none());
    }

    #[test]
    fn every_kind_and_operand_displays() {
        let kinds = [
            ErrorKind::Input,
            ErrorKind::Model,
            ErrorKind::Hyperparameter,
            ErrorKind::Unsupported,
            ErrorKind::OutOfOrder,
            ErrorKind::Blob,
            ErrorKind::Diverged,
            ErrorKind::Backend(microprop_hal::ErrorKind::Device),
        ];
        for k in kinds {
            assert!(!k.to_string().is_empty(), "{k:?}");
        }
        let e: Error<Lost> = Error::Length {
            what: Operand::InputGradient,
            expected: 4,
            got: 3,
        };
        assert_eq!(e.to_string(), "input gradient has length 3, expected 4");
        assert_eq!(e.kind(), ErrorKind::Input);
        assert_eq!(
            SpecError::Chain {
                layer: 1,
                expected: 5,
                got: 4
            }
            .to_string(),
            "layer 1 expects 5 inputs but the previous layer gives 4"
        );
    }
}
