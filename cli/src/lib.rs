//! # microprop-cli: carry a model from the desktop to the device
//!
//! The host side of microprop's desktop-to-device workflow (std only; the
//! no_std crates never depend on this one):
//!
//! - [`tensors`]: safetensors [`export`] / [`import`] with PyTorch's
//!   `nn.Sequential` of `nn.Linear` names (`0.weight` `[out, in]`,
//!   `0.bias` `[out]`), the spec in the file's metadata;
//! - [`spec_text`]: the one-line spec text (`dense(64,32) relu dense(32,10)`)
//!   used in that metadata and on the command line;
//! - [`to_blob`] / [`from_blob`]: the device blob of [`microprop::blob`];
//!   [`quantize`]: its 16-bit fixed-point form, with the rounding error;
//! - [`summary`]: layers, parameter count, arena bytes for a batch and
//!   optimizer (the same `const fn`s a firmware sizes its `static` with).
//!
//! The `microprop` binary (`microprop --help`) wraps these.
//!
//! ```
//! use microprop_cli::{export, from_blob, import, spec_text, to_blob};
//! let parsed = spec_text::parse_spec("dense(2,2) tanh dense(2,1)").unwrap();
//! let spec = parsed.spec();
//! let params: Vec<f32> = (0..spec.param_count()).map(|i| i as f32 * 0.25).collect();
//! let file = export(&spec, &params).unwrap();
//! assert_eq!(import(&spec, &file).unwrap(), params);
//! let blob = to_blob(&spec, &params).unwrap();
//! assert_eq!(from_blob(&spec, &blob).unwrap(), params);
//! ```

#![deny(missing_docs)]

pub mod spec_text;
pub mod tensors;

pub use tensors::{export, import, ExportError, ImportError};

use microprop::blob::{self, BlobError};
use microprop::{Config, Evaluation, Loss, Network, Optimizer, OptimizerKind, Spec, Targets};
use microprop_cpu::CpuBackend;
use std::fmt::Write as _;

/// Encode `params` ([`microprop::Network::parameters`] order) as a device
/// blob for `spec`.
pub fn to_blob(spec: &Spec<'_>, params: &[f32]) -> Result<Vec<u8>, BlobError> {
    let mut out = vec![0u8; blob::blob_len(params.len())];
    blob::encode(spec, params, &mut out)?;
    Ok(out)
}

/// Round `params` to 16-bit fixed point with `frac` fractional bits (10 for
/// [`microprop::Q10`]) and encode them as a fixed-point device blob for
/// `spec`; also returns the rounding error (see
/// [`microprop::blob::encode_fixed`]).
pub fn quantize(
    spec: &Spec<'_>,
    params: &[f32],
    frac: u8,
) -> Result<(Vec<u8>, blob::Quantization), BlobError> {
    let mut out = vec![0u8; blob::fixed_blob_len(params.len())];
    let (n, q) = blob::encode_fixed(spec, params, frac, &mut out)?;
    out.truncate(n);
    Ok((out, q))
}

/// Decode a device blob (f32 or fixed point) for `spec` (validated in full first, so the
/// allocation is bounded by the blob's own length).
pub fn from_blob(spec: &Spec<'_>, bytes: &[u8]) -> Result<Vec<f32>, BlobError> {
    blob::validate(spec, bytes)?;
    let mut out = vec![0.0f32; spec.param_count()];
    blob::decode(spec, bytes, &mut out)?;
    Ok(out)
}

/// What a model file is, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// Starts with [`blob::MAGIC`].
    Blob,
    /// Anything else is read as safetensors (whose first 8 bytes are a
    /// header length).
    Safetensors,
}

impl FileKind {
    /// Sniff the kind of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        if bytes.starts_with(&blob::MAGIC) {
            FileKind::Blob
        } else {
            FileKind::Safetensors
        }
    }
}

/// Parse an optimizer name (`sgd`, `momentum`, `adam`).
pub fn optimizer_kind(name: &str) -> Option<OptimizerKind> {
    match name {
        "sgd" => Some(OptimizerKind::Sgd),
        "momentum" => Some(OptimizerKind::Momentum),
        "adam" => Some(OptimizerKind::Adam),
        _ => None,
    }
}

/// A human-readable summary of `spec`: one line per layer (with its tensors),
/// then parameter count, parameter and blob bytes, and the f32 arena a
/// `Network` needs for `batch` rows under `optimizer`.
pub fn summary(spec: &Spec<'_>, batch: usize, optimizer: OptimizerKind) -> String {
    let mut s = String::new();
    let slots = tensors::tensor_slots(spec);
    let _ = writeln!(s, "spec: {}", spec_text::format(spec.layers()));
    let _ = writeln!(
        s,
        "{:>3}  {:<22} {:>6} {:>6}  tensors",
        "#", "layer", "in", "out"
    );
    for (i, layer) in spec.layers().iter().enumerate() {
        let w_in = spec.width_before(i);
        let w_out = spec.width_before(i + 1);
        let names: Vec<String> = slots
            .iter()
            .filter(|t| t.name.split('.').next() == Some(i.to_string().as_str()))
            .map(|t| format!("{} {:?}", t.name, t.shape))
            .collect();
        let _ = writeln!(
            s,
            "{i:>3}  {:<22} {w_in:>6} {w_out:>6}  {}",
            spec_text::format_layer(layer),
            if names.is_empty() {
                "-".to_string()
            } else {
                names.join(", ")
            }
        );
    }
    let p = spec.param_count();
    // Byte counts in u128: a spec whose parameters fit in usize may still
    // have more bytes than usize counts (4 · p), and is summarised, not
    // wrapped.
    let bytes = |elems: usize| 4 * elems as u128;
    let _ = writeln!(s, "parameters: {p} ({} bytes as f32)", bytes(p));
    let _ = writeln!(s, "spec hash: {:#010x}", spec.hash());
    let _ = writeln!(
        s,
        "device blob: {} bytes ({}-byte header + {} bytes of f32)",
        blob::HEADER_LEN as u128 + bytes(p),
        blob::HEADER_LEN,
        bytes(p)
    );
    match spec.try_layout(batch, optimizer) {
        Ok(layout) => {
            let _ = writeln!(
                s,
                "arena for batch {batch}, {optimizer:?}: {} f32 = {} bytes \
                 (params {}, grads {}, optimizer state {}, input {}, activations {}, scratch {}, loss scratch {}, targets {}, scalars {})",
                layout.len,
                bytes(layout.len),
                layout.params.len,
                layout.grads.len,
                layout.state.len,
                layout.input.len,
                layout.activations.len,
                layout.scratch[0].len + layout.scratch[1].len,
                layout.loss_scratch.len,
                layout.target.len,
                layout.scalars.len,
            );
        }
        Err(e) => {
            let _ = writeln!(
                s,
                "arena for batch {batch}, {optimizer:?}: too large ({e:?}: its length overflows usize)"
            );
        }
    }
    s
}

/// Loss (mean softmax cross-entropy) and accuracy of `params` on `x`, `y`,
/// on the CPU backend.
pub fn evaluate(
    spec: &Spec<'_>,
    params: &[f32],
    x: &[f32],
    y: &[usize],
) -> Result<Evaluation, String> {
    let cfg = Config::new(64, Loss::SoftmaxCrossEntropy, Optimizer::sgd(0.01));
    let mut arena = vec![0.0f32; cfg.arena_len(spec)];
    let mut net =
        Network::new(*spec, CpuBackend::new(&mut arena), cfg).map_err(|e| e.to_string())?;
    net.load_parameters(params).map_err(|e| e.to_string())?;
    net.evaluate(x, Targets::Labels(y))
        .map_err(|e| e.to_string())
}
