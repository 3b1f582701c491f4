//! safetensors import and export with PyTorch's `nn.Sequential` naming.
//!
//! The parameterised layer at index `i` of the spec's layer list owns the
//! tensors `"{i}.weight"` and `"{i}.bias"`, exactly the names
//! `nn.Sequential(...).state_dict()` gives its `nn.Linear` children; the
//! activations between them take an index but own no tensor. For
//! `dense(64,32) relu dense(32,10)`:
//!
//! | tensor | shape | PyTorch |
//! |---|---|---|
//! | `0.weight` | `[32, 64]` | `nn.Linear(64, 32).weight` |
//! | `0.bias` | `[32]` | |
//! | `2.weight` | `[10, 32]` | `nn.Linear(32, 10).weight` |
//! | `2.bias` | `[10]` | |
//!
//! **Maxout** (no PyTorch module of its own) is stored as the `nn.Linear(in,
//! out·pieces)` that computes its pieces: weight `[out·pieces, in]`, bias
//! `[out·pieces]`, the pieces of unit `u` being rows `u·pieces ..
//! (u+1)·pieces` — in PyTorch, `linear(x).view(-1, out, pieces).max(-1)`.
//!
//! **Metadata**: [`export`] writes the spec's text ([`crate::spec_text`])
//! under [`SPEC_KEY`], its only metadata key, so the same parameters always
//! give the same bytes.
//! [`import`] checks it against the spec it is given (shapes alone cannot
//! tell `relu` from `tanh`); files without it (from PyTorch or JAX) import
//! with the spec the caller supplies.
//!
//! **Dtypes**: only `F32` is imported. `F64`, `F16`, `BF16` and the rest are a
//! typed error ([`ImportError::WrongDtype`]) rather than a silent
//! conversion: convert explicitly (`model.float()` in PyTorch,
//! `.astype(np.float32)` in NumPy) so that any rounding is the user's choice.

use crate::spec_text;
use microprop::Spec;
use safetensors::tensor::{Dtype, SafeTensorError, SafeTensors, TensorView};
use std::collections::HashMap;
use std::fmt;

/// Metadata key holding the spec text.
pub const SPEC_KEY: &str = "microprop.spec";

/// One tensor of a model: its name, shape and range in the flat parameter
/// vector ([`microprop::Network::parameters`] order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSlot {
    /// `"{i}.weight"` or `"{i}.bias"`.
    pub name: String,
    /// `[out, in]` for dense and maxout weights, `[out, in, k]` and `[out,
    /// in, kh, kw]` for convolution weights (PyTorch's shapes), `[out]` for
    /// biases.
    pub shape: Vec<usize>,
    /// First parameter index.
    pub offset: usize,
    /// Number of parameters (product of `shape`).
    pub len: usize,
}

/// The tensors of `spec` in parameter order.
pub fn tensor_slots(spec: &Spec<'_>) -> Vec<TensorSlot> {
    let mut slots = Vec::new();
    let mut offset = 0;
    for (i, layer) in spec.layers().iter().enumerate() {
        // PyTorch's weight shape: Linear [out, in]; Conv1d [out, in, k];
        // Conv2d [out, in, kh, kw].
        let shape = match *layer {
            microprop::Layer::Dense { inputs, outputs } => vec![outputs, inputs],
            microprop::Layer::Maxout {
                inputs,
                outputs,
                pieces,
            } => vec![outputs * pieces, inputs],
            microprop::Layer::Conv { window: w, outputs } => {
                if w.height == 1 && w.kh == 1 && w.pad_h == 0 {
                    vec![outputs, w.channels, w.kw]
                } else {
                    vec![outputs, w.channels, w.kh, w.kw]
                }
            }
            _ => continue,
        };
        let rows = shape[0];
        let len: usize = shape.iter().product();
        slots.push(TensorSlot {
            name: format!("{i}.weight"),
            shape,
            offset,
            len,
        });
        offset += len;
        slots.push(TensorSlot {
            name: format!("{i}.bias"),
            shape: vec![rows],
            offset,
            len: rows,
        });
        offset += rows;
    }
    slots
}

/// Why [`export`] refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum ExportError {
    /// `params.len()` is not the spec's parameter count.
    Length {
        /// [`Spec::param_count`].
        expected: usize,
        /// Given.
        got: usize,
    },
    /// A parameter is NaN or infinite.
    NonFinite {
        /// The tensor holding it.
        name: String,
        /// Its index within the tensor (row-major).
        index: usize,
    },
    /// The safetensors crate refused to serialise (not expected).
    Safetensors(SafeTensorError),
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::Length { expected, got } => {
                write!(f, "{got} parameters given, the spec has {expected}")
            }
            ExportError::NonFinite { name, index } => {
                write!(f, "tensor {name} element {index} is not finite")
            }
            ExportError::Safetensors(e) => write!(f, "safetensors: {e}"),
        }
    }
}

/// `source()` is the safetensors crate's error, where there is one.
impl std::error::Error for ExportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExportError::Safetensors(e) => Some(e),
            _ => None,
        }
    }
}

/// Why [`import`] refused a file. Nothing is returned on error, so a caller
/// that loads the result into a network only does so for a good file.
#[derive(Debug)]
#[non_exhaustive]
pub enum ImportError {
    /// Not a safetensors file (bad header, offsets, truncated...): the
    /// safetensors crate's error.
    Malformed(SafeTensorError),
    /// A tensor the spec needs is absent.
    MissingTensor {
        /// Its name.
        name: String,
    },
    /// A tensor has another shape than the spec needs.
    WrongShape {
        /// Its name.
        name: String,
        /// The shape the spec needs.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A tensor is not F32 (see the module docs for why there is no implicit
    /// conversion).
    WrongDtype {
        /// Its name.
        name: String,
        /// Its dtype in the file.
        found: Dtype,
    },
    /// The file holds a tensor the spec has no place for.
    UnexpectedTensor {
        /// Its name.
        name: String,
    },
    /// A value is NaN or infinite.
    NonFinite {
        /// The tensor holding it.
        name: String,
        /// Its index within the tensor (row-major).
        index: usize,
    },
    /// The file's [`SPEC_KEY`] metadata names another network than the spec
    /// given.
    SpecMismatch {
        /// Spec text in the file.
        file: String,
        /// Spec text given.
        given: String,
    },
    /// The file's [`SPEC_KEY`] metadata does not parse.
    BadSpecMetadata {
        /// The text in the file.
        text: String,
        /// Why it does not parse.
        error: spec_text::SpecTextError,
    },
    /// The file has no [`SPEC_KEY`] metadata and no spec was given.
    NoSpec,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportError::Malformed(e) => write!(f, "not a valid safetensors file: {e}"),
            ImportError::MissingTensor { name } => write!(f, "tensor {name} is missing"),
            ImportError::WrongShape {
                name,
                expected,
                found,
            } => write!(
                f,
                "tensor {name} has shape {found:?}, the spec needs {expected:?}"
            ),
            ImportError::WrongDtype { name, found } => write!(
                f,
                "tensor {name} is {found:?}; only F32 is imported (convert it explicitly, \
                 e.g. model.float() in PyTorch)"
            ),
            ImportError::UnexpectedTensor { name } => {
                write!(f, "tensor {name} has no place in the spec")
            }
            ImportError::NonFinite { name, index } => {
                write!(f, "tensor {name} element {index} is not finite")
            }
            ImportError::SpecMismatch { file, given } => write!(
                f,
                "the file was saved for `{file}`, but the spec given is `{given}`"
            ),
            ImportError::BadSpecMetadata { text, error } => {
                write!(
                    f,
                    "the file's {SPEC_KEY} metadata `{text}` is invalid: {error}"
                )
            }
            ImportError::NoSpec => write!(
                f,
                "the file has no {SPEC_KEY} metadata: give the spec (e.g. --spec \
                 \"dense(64,32) relu dense(32,10)\")"
            ),
        }
    }
}

/// `source()` is the safetensors crate's error or the spec text's, where
/// there is one.
impl std::error::Error for ImportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ImportError::Malformed(e) => Some(e),
            ImportError::BadSpecMetadata { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Serialise `params` ([`microprop::Network::parameters`] order) as a
/// safetensors file with PyTorch names and the spec in the metadata.
pub fn export(spec: &Spec<'_>, params: &[f32]) -> Result<Vec<u8>, ExportError> {
    if params.len() != spec.param_count() {
        return Err(ExportError::Length {
            expected: spec.param_count(),
            got: params.len(),
        });
    }
    let slots = tensor_slots(spec);
    let mut bytes: Vec<Vec<u8>> = Vec::with_capacity(slots.len());
    for slot in &slots {
        let values = &params[slot.offset..slot.offset + slot.len];
        if let Some(index) = values.iter().position(|v| !v.is_finite()) {
            return Err(ExportError::NonFinite {
                name: slot.name.clone(),
                index,
            });
        }
        bytes.push(values.iter().flat_map(|v| v.to_le_bytes()).collect());
    }
    let mut views = Vec::with_capacity(slots.len());
    for (slot, data) in slots.iter().zip(&bytes) {
        let view = TensorView::new(Dtype::F32, slot.shape.clone(), data)
            .map_err(ExportError::Safetensors)?;
        views.push((slot.name.clone(), view));
    }
    // One key only: the crate writes metadata from a HashMap, so a second key
    // would make the bytes depend on hash order.
    let metadata = HashMap::from([(SPEC_KEY.to_string(), spec_text::format(spec.layers()))]);
    safetensors::serialize(views, Some(metadata)).map_err(ExportError::Safetensors)
}

/// Refuse, before the safetensors crate sees them, headers whose data
/// offsets point past the end of the file: such values can overflow the
/// crate's own length arithmetic (a panic in debug builds).
fn precheck(bytes: &[u8]) -> Result<(), SafeTensorError> {
    let Some(head) = bytes.get(..8) else {
        return Err(SafeTensorError::HeaderTooSmall);
    };
    let mut n = [0u8; 8];
    n.copy_from_slice(head);
    let n = u64::from_le_bytes(n);
    let header = usize::try_from(n)
        .ok()
        .and_then(|n| n.checked_add(8))
        .and_then(|end| bytes.get(8..end))
        .ok_or(SafeTensorError::InvalidHeaderLength)?;
    let value: serde_json::Value =
        serde_json::from_slice(header).map_err(SafeTensorError::InvalidHeaderDeserialization)?;
    if let serde_json::Value::Object(map) = value {
        for (name, info) in &map {
            if let Some(serde_json::Value::Array(offsets)) = info.get("data_offsets") {
                for o in offsets {
                    match o.as_u64() {
                        Some(o) if o <= bytes.len() as u64 => {}
                        _ => return Err(SafeTensorError::InvalidOffset(name.clone())),
                    }
                }
            }
        }
    }
    Ok(())
}

fn open(bytes: &[u8]) -> Result<SafeTensors<'_>, ImportError> {
    precheck(bytes).map_err(ImportError::Malformed)?;
    SafeTensors::deserialize(bytes).map_err(ImportError::Malformed)
}

/// The spec text stored in a file's [`SPEC_KEY`] metadata, if any.
pub fn spec_text_of(bytes: &[u8]) -> Result<Option<String>, ImportError> {
    precheck(bytes).map_err(ImportError::Malformed)?;
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(ImportError::Malformed)?;
    Ok(meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get(SPEC_KEY))
        .cloned())
}

/// The spec a file describes: its [`SPEC_KEY`] metadata, parsed
/// ([`spec_text::parse_spec`]).
pub fn spec_of(bytes: &[u8]) -> Result<spec_text::ParsedSpec, ImportError> {
    let text = spec_text_of(bytes)?.ok_or(ImportError::NoSpec)?;
    spec_text::parse_spec(&text).map_err(|error| ImportError::BadSpecMetadata { text, error })
}

/// Read the parameters of `spec` from a safetensors file, in
/// [`microprop::Network::parameters`] order. Every tensor is checked (name,
/// dtype, shape, finite values, no extras, metadata spec if present) before
/// anything is returned. Never panics, whatever the bytes.
pub fn import(spec: &Spec<'_>, bytes: &[u8]) -> Result<Vec<f32>, ImportError> {
    let st = open(bytes)?;
    if let Some(text) = spec_text_of(bytes)? {
        let given = spec_text::format(spec.layers());
        match spec_text::parse(&text) {
            Ok(layers) if layers.as_slice() == spec.layers() => {}
            Ok(_) => return Err(ImportError::SpecMismatch { file: text, given }),
            Err(error) => return Err(ImportError::BadSpecMetadata { text, error }),
        }
    }
    let slots = tensor_slots(spec);
    let mut names: Vec<&str> = st.names();
    names.sort_unstable();
    if let Some(extra) = names.iter().find(|n| !slots.iter().any(|s| s.name == **n)) {
        return Err(ImportError::UnexpectedTensor {
            name: extra.to_string(),
        });
    }
    // Memory is bounded by the file, not by what its metadata declares: a
    // few hundred bytes may claim dense(100000,100000). Values are kept
    // only after their tensor's shape matched, and each is 4 bytes of it.
    let mut params = Vec::with_capacity(spec.param_count().min(bytes.len() / 4));
    for slot in &slots {
        let view = match st.tensor(&slot.name) {
            Ok(v) => v,
            Err(SafeTensorError::TensorNotFound(_)) => {
                return Err(ImportError::MissingTensor {
                    name: slot.name.clone(),
                })
            }
            Err(e) => return Err(ImportError::Malformed(e)),
        };
        if view.dtype() != Dtype::F32 {
            return Err(ImportError::WrongDtype {
                name: slot.name.clone(),
                found: view.dtype(),
            });
        }
        if view.shape() != slot.shape.as_slice() {
            return Err(ImportError::WrongShape {
                name: slot.name.clone(),
                expected: slot.shape.clone(),
                found: view.shape().to_vec(),
            });
        }
        for (index, chunk) in view.data().chunks_exact(4).enumerate() {
            let v = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            if !v.is_finite() {
                return Err(ImportError::NonFinite {
                    name: slot.name.clone(),
                    index,
                });
            }
            params.push(v);
        }
    }
    if params.len() != spec.param_count() {
        // Unreachable for a valid spec (shapes were checked); kept so that a
        // mismatch can never reach a loader.
        return Err(ImportError::WrongShape {
            name: String::from("(all)"),
            expected: vec![spec.param_count()],
            found: vec![params.len()],
        });
    }
    Ok(params)
}
