//! # microprop's Python bindings
//!
//! The extension module `microprop._native`, wrapped by the Python package
//! `microprop` (`python/microprop/`): a [`Network`](PyNetwork) built from
//! spec text, trained and evaluated on numpy arrays by the CPU backend's
//! kernels (fast or reference), the same Rust code that trains it on a
//! microcontroller.
//! Parameters go in and out as numpy arrays, safetensors files (PyTorch
//! names) and device blobs. Every refusal raises one of the exception
//! classes of `microprop.errors`, and a refused call changes nothing.
//!
//! Built with maturin (`pip install ./python`); the README's "From
//! Python" section shows it in use.

mod owned;

use microprop::blob::{self, BlobError};
use microprop::{
    Config, Element, Error, ErrorKind, Evaluation, Loss, Optimizer, Targets, Train, Q10,
};
use microprop_cli::{spec_text, tensors};
use microprop_cpu::{CpuError, Kernels};
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use owned::Owned;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

/// An exception of `microprop.errors` named `class`, with `msg`.
fn raise(py: Python<'_>, class: &str, msg: impl Into<String>) -> PyErr {
    let msg = msg.into();
    match py
        .import("microprop.errors")
        .and_then(|m| m.getattr(class))
        .and_then(|c| c.call1((msg.clone(),)))
    {
        Ok(e) => PyErr::from_value(e),
        // Only if the package is broken: still say what went wrong.
        Err(_) => pyo3::exceptions::PyRuntimeError::new_err(format!("{class}: {msg}")),
    }
}

/// The exception for a refused call of the network.
fn net_error(py: Python<'_>, e: Error<CpuError>) -> PyErr {
    let class = match (&e, e.kind()) {
        (Error::Spec(_), _) => "SpecError",
        (Error::Blob(BlobError::Crc { .. }), _) => "CrcError",
        (_, ErrorKind::Input) => "InputError",
        (_, ErrorKind::Model) => "ModelError",
        (_, ErrorKind::Hyperparameter) => "HyperparameterError",
        (_, ErrorKind::Unsupported) => "UnsupportedError",
        (_, ErrorKind::OutOfOrder) => "OutOfOrderError",
        (_, ErrorKind::Blob) => "BlobError",
        (_, ErrorKind::Diverged) => "DivergedError",
        (_, ErrorKind::Backend(_)) => "BackendError",
        _ => "MicropropError",
    };
    raise(py, class, e.to_string())
}

/// The exception for a rejected blob outside a network call.
fn blob_error(py: Python<'_>, e: BlobError) -> PyErr {
    net_error(py, Error::Blob(e))
}

/// `obj` as a C-contiguous numpy array of `dtype` (numpy's own
/// conversion, so lists, other float types and views all work).
fn as_array<'py>(obj: &Bound<'py, PyAny>, dtype: &str) -> PyResult<Bound<'py, PyAny>> {
    let np = obj.py().import("numpy")?;
    np.getattr("ascontiguousarray")?
        .call1((obj, np.getattr(dtype)?))
}

/// `x` as rows of `width` f32 values: a 2-D array `[n, width]`, or one row
/// as a 1-D array of `width`. Returns the values and `n`.
fn rows(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    width: usize,
    what: &str,
) -> PyResult<(Vec<f32>, usize)> {
    let arr = as_array(x, "float32").map_err(|e| {
        raise(
            py,
            "InputError",
            format!("{what}: not convertible to float32: {e}"),
        )
    })?;
    let arr: PyReadonlyArrayDyn<'_, f32> = arr.extract()?;
    let shape = arr.shape().to_vec();
    let n = match shape[..] {
        [n, w] if w == width => n,
        [w] if w == width => 1,
        _ => {
            return Err(raise(
                py,
                "InputError",
                format!("{what} has shape {shape:?}; this network takes rows of {width} (shape [n, {width}])"),
            ))
        }
    };
    let v = arr.as_slice()?.to_vec();
    finite(py, &v, what)?;
    Ok((v, n))
}

/// Refuse NaN and ±∞ before they are converted: fixed point would
/// saturate them into ordinary values.
fn finite(py: Python<'_>, v: &[f32], what: &str) -> PyResult<()> {
    match v.iter().position(|x| !x.is_finite()) {
        None => Ok(()),
        Some(i) => Err(raise(
            py,
            "InputError",
            format!("{what} holds a non-finite value (NaN or ±∞) at flat index {i}"),
        )),
    }
}

/// `y` as class labels: a 1-D array of integers, none negative.
fn labels(py: Python<'_>, y: &Bound<'_, PyAny>) -> PyResult<Vec<usize>> {
    let np = py.import("numpy")?;
    let arr = np.getattr("asarray")?.call1((y,)).map_err(|e| {
        raise(
            py,
            "InputError",
            format!("labels: not an array of integers: {e}"),
        )
    })?;
    let kind: String = arr.getattr("dtype")?.getattr("kind")?.extract()?;
    if kind != "i" && kind != "u" {
        let dtype = arr.getattr("dtype")?.str()?.to_string();
        return Err(raise(
            py,
            "InputError",
            format!("labels must be integers (class indices), got dtype {dtype}"),
        ));
    }
    let arr = as_array(&arr, "int64")?;
    let arr: PyReadonlyArrayDyn<'_, i64> = arr.extract()?;
    if arr.ndim() != 1 {
        return Err(raise(
            py,
            "InputError",
            format!("labels must be 1-D, got shape {:?}", arr.shape()),
        ));
    }
    arr.as_slice()?
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            usize::try_from(l).map_err(|_| {
                raise(
                    py,
                    "InputError",
                    format!("label {l} at index {i} is negative"),
                )
            })
        })
        .collect()
}

/// The elements the network trains in.
enum Inner {
    F32(Owned<f32>),
    Q10(Owned<Q10>),
}

/// Run `$body` with `$net` bound to the network, whatever its element.
macro_rules! with {
    ($self:expr, $net:ident => $body:expr) => {
        match &mut $self.inner {
            Inner::F32(o) => o.with_net(|$net| $body),
            Inner::Q10(o) => o.with_net(|$net| $body),
        }
    };
}

/// Run `$body` with `$o` bound to the [`Owned`] network.
macro_rules! with_owned {
    ($self:expr, $o:ident => $body:expr) => {
        match &mut $self.inner {
            Inner::F32($o) => $body,
            Inner::Q10($o) => $body,
        }
    };
}

/// Targets of one call, owned: labels, or values in f32.
enum OwnedTargets {
    Labels(Vec<usize>),
    Values(Vec<f32>),
}

impl OwnedTargets {
    /// Run `f` on these targets, values converted to the element `E`.
    fn with<E: Element, R>(&self, f: impl FnOnce(Targets<'_, E>) -> R) -> R {
        match self {
            OwnedTargets::Labels(l) => f(Targets::Labels(l)),
            OwnedTargets::Values(v) => f(Targets::Values(&convert(v))),
        }
    }
}

/// Fractional bits of [`Q10`].
const Q10_FRAC: u8 = 10;

/// f32 values as elements (rounded to nearest for fixed point).
fn convert<E: Element>(v: &[f32]) -> Vec<E> {
    v.iter().map(|&x| E::from_f32(x)).collect()
}

/// A microprop network: layers from spec text, an optimizer, a loss, and
/// an arena sized for `batch` rows, trained by the CPU backend's kernels.
///
/// `Network("dense(64,32) relu dense(32,10)", batch=32, optimizer="momentum", lr=0.05)`
///
/// - `loss`: `"cross_entropy"` (softmax cross-entropy; labels),
///   `"hinge"` (labels) or `"mse"` (values, `[n, outputs]`).
/// - `optimizer`: `"sgd"`, `"momentum"` (`momentum`), `"adam"` (`beta1`,
///   `beta2`, `eps`) or `"fused_sgd"` (SGD applied during backward, no
///   gradient buffer: the batch-1 firmware's choice).
/// - `l2`: weight decay λ (the loss adds λ‖W‖²); `seed`: the weights'
///   initialisation, the same as on a device with that seed.
/// - `train`: one entry per layer, `"full"`, `"bias"` (biases only) or
///   `"frozen"`, for partial updates (fine-tuning the last layer only).
/// - `dtype`: `"float32"`, or `"q10"` for the 16-bit fixed point a
///   microcontroller without an FPU trains in; numpy still sees float32.
#[pyclass(module = "microprop._native", name = "Network")]
pub struct PyNetwork {
    inner: Inner,
    /// The layers as parsed (the network holds its own copy).
    parsed: spec_text::ParsedSpec,
}

fn optimizer(
    py: Python<'_>,
    name: &str,
    lr: f64,
    momentum: f64,
    betas: (f64, f64),
    eps: f64,
) -> PyResult<Optimizer> {
    Ok(match name {
        "sgd" => Optimizer::sgd(lr),
        "fused_sgd" => Optimizer::fused_sgd(lr),
        "momentum" => Optimizer::momentum(lr, momentum),
        "adam" => Optimizer::Adam {
            lr,
            beta1: betas.0,
            beta2: betas.1,
            eps,
        },
        other => {
            return Err(raise(
                py,
                "HyperparameterError",
                format!(
                "unknown optimizer {other:?}: use \"sgd\", \"momentum\", \"adam\" or \"fused_sgd\""
            ),
            ))
        }
    })
}

fn loss(py: Python<'_>, name: &str) -> PyResult<Loss> {
    Ok(match name {
        "cross_entropy" => Loss::SoftmaxCrossEntropy,
        "mse" => Loss::Mse,
        "hinge" => Loss::Hinge { margin: 1.0 },
        other => {
            return Err(raise(
                py,
                "ModelError",
                format!("unknown loss {other:?}: use \"cross_entropy\", \"mse\" or \"hinge\""),
            ))
        }
    })
}

fn train_modes(py: Python<'_>, train: Option<Vec<String>>) -> PyResult<Vec<Train>> {
    train
        .unwrap_or_default()
        .iter()
        .map(|t| match t.as_str() {
            "full" => Ok(Train::Full),
            "bias" => Ok(Train::BiasOnly),
            "frozen" => Ok(Train::Frozen),
            other => Err(raise(
                py,
                "SpecError",
                format!("unknown training mode {other:?}: use \"full\", \"bias\" or \"frozen\""),
            )),
        })
        .collect()
}

/// A zeroed arena of `len` elements, or `MemoryError` instead of an abort.
fn arena<E: Element>(len: usize) -> PyResult<Vec<E>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| {
        pyo3::exceptions::PyMemoryError::new_err(format!(
            "the arena of {len} elements does not fit in memory"
        ))
    })?;
    v.resize(len, E::ZERO);
    Ok(v)
}

impl PyNetwork {
    /// The network's parameters as f32.
    fn params_f32(&mut self, py: Python<'_>) -> PyResult<Vec<f32>> {
        with!(self, net => {
            let mut p = vec![Element::ZERO; net.spec().param_count()];
            net.parameters(&mut p).map_err(|e| net_error(py, e))?;
            Ok(p.into_iter().map(Element::to_f32).collect())
        })
    }
}

#[pymethods]
impl PyNetwork {
    #[new]
    #[pyo3(signature = (
        spec, *, batch = 32, loss = "cross_entropy", optimizer = "sgd", lr = 0.01,
        momentum = 0.9, betas = (0.9, 0.999), eps = 1e-8, l2 = 0.0, seed = 0,
        train = None, dtype = "float32", kernels = "fast"
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        spec: &str,
        batch: usize,
        loss: &str,
        optimizer: &str,
        lr: f64,
        momentum: f64,
        betas: (f64, f64),
        eps: f64,
        l2: f64,
        seed: u64,
        train: Option<Vec<String>>,
        dtype: &str,
        kernels: &str,
    ) -> PyResult<Self> {
        let parsed =
            spec_text::parse_spec(spec).map_err(|e| raise(py, "SpecError", e.to_string()))?;
        let train = train_modes(py, train)?;
        let kernels = match kernels {
            "fast" => Kernels::Fast,
            "reference" => Kernels::Reference,
            other => {
                return Err(raise(
                    py,
                    "ModelError",
                    format!("unknown kernels {other:?}: use \"fast\" or \"reference\""),
                ))
            }
        };
        let loss = self::loss(py, loss)?;
        let opt = self::optimizer(py, optimizer, lr, momentum, betas, eps)?;
        let config = Config::new(batch, loss, opt).with_l2(l2).with_seed(seed);
        // An arena whose size overflows is the spec's error, before any
        // allocation.
        let s = parsed.spec();
        if let Err(e) = s.try_layout(batch, opt.kind()) {
            return Err(raise(py, "SpecError", e.to_string()));
        }
        let len = config.arena_len(&s);
        let layers = parsed.layers().to_vec();
        let inner = match dtype {
            "float32" | "f32" => Inner::F32(
                Owned::new(layers, train, config, arena(len)?, kernels)
                    .map_err(|e| net_error(py, e))?,
            ),
            "q10" => Inner::Q10(
                Owned::new(layers, train, config, arena(len)?, kernels)
                    .map_err(|e| net_error(py, e))?,
            ),
            other => {
                return Err(raise(
                    py,
                    "ModelError",
                    format!("unknown dtype {other:?}: use \"float32\" or \"q10\""),
                ))
            }
        };
        Ok(PyNetwork { inner, parsed })
    }

    /// One training step on a batch (`x`: `[n, inputs]`, `n ≤ batch`; `y`:
    /// `n` labels, or `[n, outputs]` values for `"mse"`): zero the
    /// gradients, forward, loss, backward, optimizer step. Returns the loss
    /// before the step. A rejected batch raises and changes nothing.
    fn train_step(
        &mut self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        y: &Bound<'_, PyAny>,
    ) -> PyResult<f64> {
        let (x, t) = self.data(py, x, y)?;
        with!(self, net => t.with(|t| net.train_step(&convert(&x), t))
            .map(Element::to_f64)
            .map_err(|e| net_error(py, e)))
    }

    /// Mean data loss and accuracy over a whole data set, in batches of the
    /// network's capacity; parameters are not changed.
    fn evaluate(
        &mut self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        y: &Bound<'_, PyAny>,
    ) -> PyResult<PyEvaluation> {
        let (x, t) = self.data(py, x, y)?;
        with!(self, net => t.with(|t| net.evaluate(&convert(&x), t))
            .map(PyEvaluation::from)
            .map_err(|e| net_error(py, e)))
    }

    /// The outputs for `x` (`[n, inputs]`), as float32 `[n, outputs]`, in
    /// batches of the network's capacity.
    fn predict<'py>(
        &mut self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (inputs, outputs) = self.shape();
        let (x, n) = rows(py, x, inputs, "x")?;
        let cap = self.batch();
        let out: Vec<f32> = with!(self, net => {
            let x = convert(&x);
            let mut out = vec![Element::ZERO; n * outputs];
            for (xs, ys) in x.chunks(cap * inputs).zip(out.chunks_mut(cap * outputs)) {
                net.predict(xs, ys).map_err(|e| net_error(py, e))?;
            }
            PyResult::Ok(out.into_iter().map(Element::to_f32).collect())
        })?;
        PyArray1::from_vec(py, out)
            .reshape([n, outputs])
            .map(Bound::into_any)
    }

    /// Every parameter (layer after layer, weights `[out, in]` row-major,
    /// then biases), as a float32 vector: the order of the device blob.
    fn parameters<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<f32>>> {
        Ok(PyArray1::from_vec(py, self.params_f32(py)?))
    }

    /// Replace every parameter with a 1-D array (the order of
    /// `parameters()`); in `"q10"` each is rounded to nearest and saturates
    /// at ±32, as on the device. A wrong shape or a NaN raises and changes
    /// nothing.
    fn set_parameters(&mut self, py: Python<'_>, params: &Bound<'_, PyAny>) -> PyResult<()> {
        let arr = as_array(params, "float32").map_err(|e| {
            raise(
                py,
                "InputError",
                format!("parameters: not convertible to float32: {e}"),
            )
        })?;
        let arr: PyReadonlyArrayDyn<'_, f32> = arr.extract()?;
        if arr.ndim() != 1 {
            return Err(raise(
                py,
                "InputError",
                format!(
                    "parameters must be 1-D (the order of parameters()), got shape {:?}",
                    arr.shape()
                ),
            ));
        }
        let p = arr.as_slice()?;
        finite(py, p, "parameters")?;
        self.load_parameters(py, p)
    }

    /// The parameters as named tensors with PyTorch's names and shapes
    /// (`"0.weight"` `[out, in]`, `"0.bias"` `[out]`), as float32 arrays.
    fn state_dict<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let p = self.params_f32(py)?;
        let d = PyDict::new(py);
        for slot in tensors::tensor_slots(&self.parsed.spec()) {
            let a = PyArray1::from_slice(py, &p[slot.offset..slot.offset + slot.len])
                .reshape(slot.shape.clone())?;
            d.set_item(slot.name, a)?;
        }
        Ok(d)
    }

    /// The parameters as a device blob (the bytes a firmware embeds or
    /// receives): f32, or 16-bit fixed point for `"q10"`, CRC-checked.
    // Python's name for a conversion to bytes; reading the parameters
    // out of the backend takes `&mut`.
    #[allow(clippy::wrong_self_convention)]
    fn to_blob<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = match &mut self.inner {
            Inner::F32(o) => o.with_net(|net| {
                let mut out = vec![0u8; blob::blob_len(net.spec().param_count())];
                let n = net.save_blob(&mut out).map_err(|e| net_error(py, e))?;
                out.truncate(n);
                PyResult::Ok(out)
            })?,
            // `Network::save_blob` writes f32 whatever the element; the
            // device's fixed-point form is half that. Q10 values are f32
            // values exactly, so this encoding is exact.
            Inner::Q10(_) => {
                let p = self.params_f32(py)?;
                let mut out = vec![0u8; blob::fixed_blob_len(p.len())];
                let (n, _) = blob::encode_fixed(&self.parsed.spec(), &p, Q10_FRAC, &mut out)
                    .map_err(|e| blob_error(py, e))?;
                out.truncate(n);
                out
            }
        };
        Ok(PyBytes::new(py, &bytes))
    }

    /// Replace the parameters with a device blob's (f32 or fixed point).
    /// The blob is checked in full first (magic, version, spec hash,
    /// length, CRC-32): a bad one raises `BlobError` (`CrcError` for a
    /// checksum mismatch) and changes nothing.
    fn load_blob(&mut self, py: Python<'_>, data: &[u8]) -> PyResult<()> {
        with!(self, net => net.load_blob(data).map_err(|e| net_error(py, e)))
    }

    /// Write the parameters to a safetensors file at `path`, with PyTorch's
    /// `nn.Sequential` names and the spec text in its metadata.
    fn save_safetensors(&mut self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        let p = self.params_f32(py)?;
        let bytes = microprop_cli::export(&self.parsed.spec(), &p)
            .map_err(|e| raise(py, "SafetensorsError", e.to_string()))?;
        std::fs::write(&path, bytes)?;
        Ok(())
    }

    /// Replace the parameters with those of a safetensors file (PyTorch
    /// names, f32, f64 or f16 tensors). A missing, extra or misshapen
    /// tensor raises `SafetensorsError` and changes nothing.
    fn load_safetensors(&mut self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        let bytes = std::fs::read(&path)?;
        let p = microprop_cli::import(&self.parsed.spec(), &bytes)
            .map_err(|e| raise(py, "SafetensorsError", format!("{}: {e}", path.display())))?;
        finite(py, &p, "the file's tensors")?;
        self.load_parameters(py, &p)
    }

    /// Pull the trained weights toward those of the device blob `blob`
    /// (L2-SP, and FedProx's proximal term): the training loss becomes
    /// `loss + lam·‖w − w₀‖²`. `lam = 0` changes nothing.
    fn set_anchor(&mut self, py: Python<'_>, blob: &[u8], lam: f64) -> PyResult<()> {
        with_owned!(self, o => o.set_anchor(blob, lam).map_err(|e| net_error(py, e)))
    }

    /// Remove the anchor of `set_anchor`.
    fn clear_anchor(&mut self) {
        with_owned!(self, o => o.clear_anchor())
    }

    /// Re-initialise the weights from `seed`, zero the biases and the
    /// optimizer state.
    fn reset(&mut self, py: Python<'_>, seed: u64) -> PyResult<()> {
        with!(self, net => net.reset(seed).map_err(|e| net_error(py, e)))
    }

    /// The learning rate (settable).
    #[getter]
    fn lr(&mut self) -> f64 {
        with!(self, net => net.lr())
    }

    #[setter]
    fn set_lr(&mut self, py: Python<'_>, lr: f64) -> PyResult<()> {
        with!(self, net => net.set_lr(lr).map_err(|e| net_error(py, e)))
    }

    /// The spec, as canonical text.
    #[getter]
    fn spec(&self) -> String {
        self.parsed.to_string()
    }

    /// `"float32"` or `"q10"`.
    #[getter]
    fn dtype(&self) -> &'static str {
        match self.inner {
            Inner::F32(_) => "float32",
            Inner::Q10(_) => "q10",
        }
    }

    /// The most rows one call handles at once.
    #[getter]
    fn batch(&mut self) -> usize {
        with!(self, net => net.config().batch)
    }

    /// Inputs per row.
    #[getter]
    fn inputs(&mut self) -> usize {
        self.shape().0
    }

    /// Outputs per row.
    #[getter]
    fn outputs(&mut self) -> usize {
        self.shape().1
    }

    /// Number of parameters.
    #[getter]
    fn param_count(&mut self) -> usize {
        with!(self, net => net.spec().param_count())
    }

    /// Trained parameters (fewer than `param_count` with frozen or
    /// bias-only layers).
    #[getter]
    fn trained_count(&mut self) -> usize {
        with!(self, net => net.spec().trained_count())
    }

    fn __repr__(&mut self) -> String {
        let batch = self.batch();
        format!(
            "Network(\"{}\", batch={batch}, dtype=\"{}\")",
            self.parsed,
            self.dtype()
        )
    }
}

impl PyNetwork {
    /// Load f32 parameters (checked finite) into the network's element.
    fn load_parameters(&mut self, py: Python<'_>, p: &[f32]) -> PyResult<()> {
        with!(self, net => {
            let p: Vec<_> = convert(p);
            net.load_parameters(&p).map_err(|e| net_error(py, e))
        })
    }

    /// One call's data: `x` as rows of the network's inputs, `y` as its
    /// loss's targets (labels, or rows of its outputs), checked, in f32.
    fn data(
        &mut self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        y: &Bound<'_, PyAny>,
    ) -> PyResult<(Vec<f32>, OwnedTargets)> {
        let (inputs, outputs) = self.shape();
        let (x, _) = rows(py, x, inputs, "x")?;
        let uses_labels = with!(self, net => net.config().loss.uses_labels());
        let t = if uses_labels {
            OwnedTargets::Labels(labels(py, y)?)
        } else {
            OwnedTargets::Values(rows(py, y, outputs, "targets")?.0)
        };
        Ok((x, t))
    }

    fn shape(&mut self) -> (usize, usize) {
        with!(self, net => {
            let s = net.spec();
            (s.inputs(), s.outputs())
        })
    }
}

/// Mean data loss and accuracy of `Network.evaluate`.
#[pyclass(module = "microprop._native", name = "Evaluation", frozen, get_all)]
pub struct PyEvaluation {
    /// Mean data loss per sample (without the L2 and L2-SP terms).
    loss: f64,
    /// Fraction of samples whose arg-max output is the label (`None` for
    /// `"mse"`).
    accuracy: Option<f64>,
    /// Samples evaluated.
    samples: usize,
}

impl From<Evaluation> for PyEvaluation {
    fn from(e: Evaluation) -> Self {
        PyEvaluation {
            loss: e.loss,
            accuracy: e.accuracy,
            samples: e.samples,
        }
    }
}

#[pymethods]
impl PyEvaluation {
    fn __repr__(&self) -> String {
        match self.accuracy {
            Some(a) => format!(
                "Evaluation(loss={:.6}, accuracy={a:.4}, samples={})",
                self.loss, self.samples
            ),
            None => format!(
                "Evaluation(loss={:.6}, samples={})",
                self.loss, self.samples
            ),
        }
    }
}

/// `digits()`'s arrays: pixels, labels, the held-out mask.
type DigitsArrays<'py> = (
    Bound<'py, PyAny>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<bool>>,
);

/// The UCI digits the firmware embeds (1797 images of 8×8 pixels): `(x, y,
/// held_out)` with `x` float32 `[1797, 64]` = pixel / 16 (exact, as the
/// device computes it), `y` int64 labels, and `held_out` the firmware's
/// test split (`i % 5 == 4`, 359 images).
#[pyfunction]
fn digits(py: Python<'_>) -> PyResult<DigitsArrays<'_>> {
    let d =
        microprop_data::Digits::load().map_err(|e| raise(py, "MicropropError", e.to_string()))?;
    let n = d.len();
    let x: Vec<f32> = d
        .pixels
        .iter()
        .map(|&p| f32::from_fixed(i16::from(p), 4))
        .collect();
    let y: Vec<i64> = d.labels.iter().map(|&l| i64::from(l)).collect();
    let held: Vec<bool> = (0..n).map(microprop_data::held_out).collect();
    Ok((
        PyArray1::from_vec(py, x)
            .reshape([n, microprop_data::DIGITS_PIXELS])?
            .into_any(),
        PyArray1::from_vec(py, y),
        PyArray1::from_vec(py, held),
    ))
}

/// Check a device blob on its own (magic, version, length, CRC-32), without
/// a network: raises `BlobError` (`CrcError` for a checksum mismatch).
#[pyfunction]
fn check_blob(py: Python<'_>, spec: &str, data: &[u8]) -> PyResult<()> {
    let parsed = spec_text::parse_spec(spec).map_err(|e| raise(py, "SpecError", e.to_string()))?;
    blob::validate(&parsed.spec(), data)
        .map(|_| ())
        .map_err(|e| blob_error(py, e))
}

/// The spec text a safetensors file carries in its metadata (`None` if it
/// has none).
#[pyfunction]
fn safetensors_spec(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Option<String>> {
    let bytes = std::fs::read(&path)?;
    tensors::spec_text_of(&bytes)
        .map_err(|e| raise(py, "SafetensorsError", format!("{}: {e}", path.display())))
}

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyNetwork>()?;
    m.add_class::<PyEvaluation>()?;
    m.add_function(wrap_pyfunction!(digits, m)?)?;
    m.add_function(wrap_pyfunction!(check_blob, m)?)?;
    m.add_function(wrap_pyfunction!(safetensors_spec, m)?)?;
    Ok(())
}
