//! Errors, not panics.

use crate::blob::BlobError;
use crate::SpecError;
use core::fmt;

/// What a piece of data was, in an error about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Operand {
    /// The input batch.
    Input,
    /// The targets.
    Target,
    /// A parameter blob being loaded.
    Parameters,
}

/// Everything that can go wrong in `microprop`. `BE` is the backend's error.
///
/// A call that returns an error has not changed the model's parameters or
/// optimizer state: inputs are validated before any op is issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
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
    /// The backend failed.
    Backend(BE),
}

impl<BE> From<SpecError> for Error<BE> {
    fn from(e: SpecError) -> Self {
        Error::Spec(e)
    }
}

impl<BE: fmt::Debug> fmt::Display for Error<BE> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Spec(SpecError::Chain {
                layer,
                expected,
                got,
            }) => write!(
                f,
                "layer {layer} expects {expected} inputs but the previous layer gives {got}"
            ),
            Error::Spec(e) => write!(f, "invalid spec: {e:?}"),
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
            } => write!(f, "{what:?} has length {got}, expected {expected}"),
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
                write!(f, "{what:?} element {index} is NaN or infinite")
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
            Error::Backend(e) => write!(f, "backend error: {e:?}"),
        }
    }
}
