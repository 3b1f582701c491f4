//! Bad input never panics: one test per row of the README's "Bad input"
//! table. Each feeds one kind of bad input, asserts the exact typed error,
//! and, where a model is involved, that the model (parameters, optimizer
//! state, Adam's step count, learning rate) is bit-for-bit what it was, and
//! that it still trains afterwards.
//!
//! The fixture is a 2-3-2 network (tanh, softmax cross-entropy, Adam) that
//! has already taken a step, so the optimizer state is not all zeros.

use microprop::blob::{self, BlobError};
use microprop::{
    Backend, Config, Error, Layer, Loss, Network, Operand, Optimizer, Spec, SpecError, Targets,
};
use microprop_cli::ImportError;
use microprop_cpu::{CpuBackend, CpuError};
use safetensors::tensor::{Dtype, TensorView};

const NET: Spec = Spec::new(&[Layer::dense(2, 3), Layer::tanh(), Layer::dense(3, 2)]);
const CFG: Config = Config::new(2, Loss::SoftmaxCrossEntropy, Optimizer::adam(0.01)).with_seed(3);
/// A regression twin (MSE takes target values).
const REG: Config = Config::new(2, Loss::Mse, Optimizer::adam(0.01)).with_seed(3);
const X: [f32; 4] = [0.5, -0.5, 1.0, 2.0];
const LABELS: [usize; 2] = [0, 1];
const VALUES: [f32; 4] = [0.0, 1.0, 1.0, 0.0];

type Net = Network<'static, CpuBackend<'static, f32>>;
type R<T> = Result<T, Error<CpuError>>;

fn net(cfg: Config) -> Net {
    let arena = Vec::leak(vec![0.0f32; cfg.arena_len(&NET)]);
    let mut net = Network::new(NET, CpuBackend::new(arena), cfg).unwrap();
    if cfg.loss.uses_labels() {
        net.train_step(&X, Targets::Labels(&LABELS)).unwrap();
    } else {
        net.train_step(&X, Targets::Values(&VALUES)).unwrap();
    }
    net
}

/// Everything a rejected call must leave alone, as bits.
#[derive(Debug, PartialEq, Eq)]
struct Model {
    params: Vec<u32>,
    state: Vec<u32>,
    steps: u64,
    lr: u64,
}

fn model(net: &mut Net) -> Model {
    let l = *net.layout();
    let mut p = vec![0.0f32; l.params.len];
    net.parameters(&mut p).unwrap();
    let mut s = vec![0.0f32; l.state.len];
    net.backend_mut().download(l.state.offset, &mut s).unwrap();
    Model {
        params: p.iter().map(|v| v.to_bits()).collect(),
        state: s.iter().map(|v| v.to_bits()).collect(),
        steps: net.steps(),
        lr: net.lr().to_bits(),
    }
}

/// Run `bad` on a trained fixture; assert it returns `want` and changes
/// nothing, then that the model still trains.
#[track_caller]
fn rejected<T: std::fmt::Debug>(
    cfg: Config,
    want: Error<CpuError>,
    bad: impl FnOnce(&mut Net) -> R<T>,
) {
    let mut n = net(cfg);
    let before = model(&mut n);
    let got = bad(&mut n);
    assert_eq!(got.unwrap_err(), want);
    assert_eq!(model(&mut n), before, "a rejected call changed the model");
    let ok = if cfg.loss.uses_labels() {
        n.train_step(&X, Targets::Labels(&LABELS))
    } else {
        n.train_step(&X, Targets::Values(&VALUES))
    };
    assert!(ok.is_ok(), "the model no longer trains: {ok:?}");
}

fn with(v: &[f32], at: usize, x: f32) -> Vec<f32> {
    let mut v = v.to_vec();
    v[at] = x;
    v
}

// ------------------------------------------------------------ batches

#[test]
fn wrong_input_length() {
    rejected(
        CFG,
        Error::Length {
            what: Operand::Input,
            expected: 2,
            got: 3,
        },
        |n| n.train_step(&X[..3], Targets::Labels(&LABELS)),
    );
}

#[test]
fn wrong_target_length() {
    rejected(
        REG,
        Error::Length {
            what: Operand::Target,
            expected: 4,
            got: 3,
        },
        |n| n.train_step(&X, Targets::Values(&VALUES[..3])),
    );
}

#[test]
fn wrong_label_count() {
    rejected(
        CFG,
        Error::Length {
            what: Operand::Target,
            expected: 2,
            got: 1,
        },
        |n| n.train_step(&X, Targets::Labels(&LABELS[..1])),
    );
}

#[test]
fn nan_in_inputs() {
    rejected(
        CFG,
        Error::NonFinite {
            what: Operand::Input,
            index: 2,
        },
        |n| n.train_step(&with(&X, 2, f32::NAN), Targets::Labels(&LABELS)),
    );
}

#[test]
fn inf_in_inputs() {
    rejected(
        CFG,
        Error::NonFinite {
            what: Operand::Input,
            index: 3,
        },
        |n| n.train_step(&with(&X, 3, f32::NEG_INFINITY), Targets::Labels(&LABELS)),
    );
}

#[test]
fn nan_in_targets() {
    rejected(
        REG,
        Error::NonFinite {
            what: Operand::Target,
            index: 1,
        },
        |n| n.train_step(&X, Targets::Values(&with(&VALUES, 1, f32::NAN))),
    );
}

#[test]
fn inf_in_targets() {
    rejected(
        REG,
        Error::NonFinite {
            what: Operand::Target,
            index: 0,
        },
        |n| n.train_step(&X, Targets::Values(&with(&VALUES, 0, f32::INFINITY))),
    );
}

#[test]
fn label_out_of_range() {
    rejected(
        CFG,
        Error::LabelOutOfRange {
            index: 1,
            label: 2,
            classes: 2,
        },
        |n| n.train_step(&X, Targets::Labels(&[0, 2])),
    );
}

#[test]
fn labels_for_a_value_loss() {
    rejected(
        REG,
        Error::TargetKind {
            wants_labels: false,
        },
        |n| n.train_step(&X, Targets::Labels(&LABELS)),
    );
}

#[test]
fn empty_batch() {
    rejected(CFG, Error::EmptyBatch, |n| {
        n.train_step(&[], Targets::Labels(&[]))
    });
}

#[test]
fn batch_over_capacity() {
    rejected(
        CFG,
        Error::BatchTooLarge {
            rows: 3,
            capacity: 2,
        },
        |n| {
            n.train_step(
                &[X, [0.0, 0.0, 0.0, 0.0]].concat()[..6],
                Targets::Labels(&[0, 1, 0]),
            )
        },
    );
}

#[test]
fn nan_in_evaluate_data() {
    rejected(
        CFG,
        Error::NonFinite {
            what: Operand::Input,
            index: 5,
        },
        |n| {
            let big = [X, X].concat();
            n.evaluate(&with(&big, 5, f32::NAN), Targets::Labels(&[0, 1, 0, 1]))
        },
    );
}

#[test]
fn wrong_parameter_length() {
    rejected(
        CFG,
        Error::Length {
            what: Operand::Parameters,
            expected: NET.param_count(),
            got: 3,
        },
        |n| n.load_parameters(&[0.0; 3]),
    );
}

/// A wrong-length buffer the network writes into is named as what it
/// receives (output, classes, input gradient, gradients), never as the
/// target.
#[test]
fn wrong_output_buffer_lengths_name_the_output() {
    let output = |expected, got| Error::Length {
        what: Operand::Output,
        expected,
        got,
    };
    rejected(CFG, output(4, 3), |n| n.output(&mut [0.0; 3]));
    rejected(CFG, output(4, 5), |n| n.predict(&X, &mut [0.0; 5]));
    rejected(CFG, output(2, 1), |n| n.classify(&X, &mut [0; 1]));
    rejected(
        CFG,
        Error::Length {
            what: Operand::InputGradient,
            expected: 4,
            got: 3,
        },
        |n| {
            n.forward(&X)?;
            n.loss(Targets::Labels(&LABELS))?;
            n.backward_with_input_grad(&mut [0.0; 3])
        },
    );
    rejected(
        CFG,
        Error::Length {
            what: Operand::Gradients,
            expected: NET.param_count(),
            got: 3,
        },
        |n| n.gradients(&mut [0.0; 3]),
    );
    assert_eq!(output(4, 3).to_string(), "output has length 3, expected 4");
}

/// `Error::kind` sorts the errors a firmware reacts to differently.
#[test]
fn error_kinds() {
    use microprop::hal::ErrorKind as BackendKind;
    use microprop::ErrorKind;
    let kind = |e: Error<CpuError>| e.kind();
    assert_eq!(kind(Error::EmptyBatch), ErrorKind::Input);
    assert_eq!(
        kind(Error::NonFinite {
            what: Operand::Target,
            index: 0
        }),
        ErrorKind::Input
    );
    assert_eq!(kind(Error::Spec(SpecError::Empty)), ErrorKind::Model);
    assert_eq!(
        kind(Error::Hyperparameter { name: "lr" }),
        ErrorKind::Hyperparameter
    );
    assert_eq!(
        kind(Error::Fused { called: "step" }),
        ErrorKind::Unsupported
    );
    assert_eq!(kind(Error::Blob(BlobError::Magic)), ErrorKind::Blob);
    assert_eq!(kind(Error::Diverged { recoveries: 3 }), ErrorKind::Diverged);
    let oob = CpuError::OutOfBounds {
        offset: 0,
        len: 9,
        arena_len: 4,
    };
    assert_eq!(
        kind(Error::Backend(oob)),
        ErrorKind::Backend(BackendKind::OutOfBounds)
    );
    // A real one: an arena too small for a transfer.
    let mut n = net(CFG);
    let far = n.backend().arena_len();
    let e = n.backend_mut().upload(far, &[0.0]).map_err(Error::Backend);
    assert!(matches!(e.unwrap_err().kind(), ErrorKind::Backend(_)));
}

#[test]
fn nan_in_parameters() {
    rejected(
        CFG,
        Error::NonFinite {
            what: Operand::Parameters,
            index: 4,
        },
        |n| n.load_parameters(&with(&[0.1; 17], 4, f32::NAN)),
    );
}

#[test]
fn backward_before_loss() {
    rejected(
        CFG,
        Error::OutOfOrder {
            called: "backward",
            needs: "loss",
        },
        |n| n.backward(),
    );
}

/// Run `setup` on a trained fixture, then `bad`: it must return `want` and
/// change nothing (model and gradients), and the model must still train.
/// For the stale-stage rows: `setup` moves the parameters (or the
/// activations) after a forward pass, `bad` then reads that pass.
#[track_caller]
fn stale(setup: impl FnOnce(&mut Net), want: Error<CpuError>, bad: impl FnOnce(&mut Net) -> R<()>) {
    let mut n = net(CFG);
    setup(&mut n);
    let before = model(&mut n);
    let mut grads = vec![0.0f32; NET.param_count()];
    n.gradients(&mut grads).unwrap();
    assert_eq!(bad(&mut n).unwrap_err(), want);
    assert_eq!(model(&mut n), before, "a rejected call changed the model");
    let mut after = vec![0.0f32; NET.param_count()];
    n.gradients(&mut after).unwrap();
    assert_eq!(
        after.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        grads.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        "a rejected call changed the gradients"
    );
    // A fresh forward pass makes the sequence valid again.
    n.forward(&X).unwrap();
    n.loss(Targets::Labels(&LABELS)).unwrap();
    n.backward().unwrap();
    assert!(n.train_step(&X, Targets::Labels(&LABELS)).is_ok());
}

const NEEDS_FORWARD: Error<CpuError> = Error::OutOfOrder {
    called: "loss",
    needs: "forward",
};
const NEEDS_LOSS: Error<CpuError> = Error::OutOfOrder {
    called: "backward",
    needs: "loss",
};

fn loss(n: &mut Net) -> R<()> {
    n.loss(Targets::Labels(&LABELS)).map(|_| ())
}

/// The fixture's last call is `train_step`: its activations belong to the
/// parameters before its update.
#[test]
fn loss_after_train_step() {
    stale(|_| {}, NEEDS_FORWARD, loss);
}

#[test]
fn backward_after_step() {
    stale(
        |n| {
            n.forward(&X).unwrap();
            n.loss(Targets::Labels(&LABELS)).unwrap();
            n.step().unwrap();
        },
        NEEDS_LOSS,
        |n| n.backward(),
    );
}

/// Other parameters than the ones the forward pass ran at.
fn halved(n: &mut Net) -> Vec<f32> {
    let mut p = vec![0.0f32; NET.param_count()];
    n.parameters(&mut p).unwrap();
    p.iter().map(|v| v * 0.5).collect()
}

#[test]
fn loss_after_load_parameters() {
    stale(
        |n| {
            n.forward(&X).unwrap();
            let p = halved(n);
            n.load_parameters(&p).unwrap();
        },
        NEEDS_FORWARD,
        loss,
    );
}

#[test]
fn backward_after_load_blob() {
    stale(
        |n| {
            let p = halved(n);
            let mut other = net(CFG);
            other.load_parameters(&p).unwrap();
            let mut b = vec![0u8; blob::blob_len(NET.param_count())];
            other.save_blob(&mut b).unwrap();
            n.forward(&X).unwrap();
            n.loss(Targets::Labels(&LABELS)).unwrap();
            n.load_blob(&b).unwrap();
        },
        NEEDS_LOSS,
        |n| n.backward(),
    );
}

/// A gradient check overwrites the input and the activations.
#[test]
fn backward_after_grad_check() {
    stale(
        |n| {
            n.forward(&X).unwrap();
            n.loss(Targets::Labels(&LABELS)).unwrap();
            let x = [0.25, 0.75, -1.0, 0.5];
            n.grad_check(
                &x,
                Targets::Labels(&[1, 0]),
                &microprop::GradCheckConfig::F32,
            )
            .unwrap();
        },
        NEEDS_LOSS,
        |n| n.backward(),
    );
}

// ---------------------------------------------------- construction

#[test]
fn arena_too_small() {
    let len = CFG.arena_len(&NET);
    let arena = Vec::leak(vec![0.0f32; len - 1]);
    let got = Network::new(NET, CpuBackend::new(arena), CFG).err();
    assert_eq!(
        got,
        Some(Error::ArenaTooSmall {
            needed: len,
            available: len - 1
        })
    );
}

#[test]
fn spec_that_does_not_chain() {
    let layers = [Layer::dense(2, 3), Layer::tanh(), Layer::dense(4, 2)];
    assert_eq!(
        Spec::try_new(&layers).err(),
        Some(SpecError::Chain {
            layer: 2,
            expected: 4,
            got: 3
        })
    );
}

#[test]
fn spec_with_zero_width() {
    let layers = [Layer::dense(2, 0), Layer::tanh()];
    assert_eq!(
        Spec::try_new(&layers).err(),
        Some(SpecError::ZeroWidth { layer: 0 })
    );
}

#[test]
fn hyperparameter_out_of_range() {
    let new = |cfg: Config| {
        let arena = Vec::leak(vec![0.0f32; cfg.arena_len(&NET)]);
        Network::new(NET, CpuBackend::new(arena), cfg).err()
    };
    let cases = [
        (Optimizer::sgd(f64::NAN), "lr"),
        (Optimizer::sgd(-0.1), "lr"),
        (Optimizer::momentum(0.1, 1.0), "momentum"),
        // Checked at the network's precision (f32 here): 1 − 1e-9 rounds to
        // 1, 1e39 to ∞, 1e-50 to 0.
        (Optimizer::momentum(0.1, 1.0 - 1e-9), "momentum"),
        (Optimizer::sgd(1e39), "lr"),
        (
            Optimizer::Adam {
                lr: 0.1,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-50,
            },
            "eps",
        ),
        (
            Optimizer::Adam {
                lr: 0.1,
                beta1: 0.9,
                beta2: 0.999,
                eps: 0.0,
            },
            "eps",
        ),
    ];
    for (opt, name) in cases {
        let cfg = Config::new(2, Loss::SoftmaxCrossEntropy, opt);
        assert_eq!(new(cfg), Some(Error::Hyperparameter { name }), "{opt:?}");
    }
    assert_eq!(
        new(CFG.with_l2(f64::INFINITY)),
        Some(Error::Hyperparameter { name: "l2" })
    );
    // On a live model: rejected, model unchanged.
    rejected(CFG, Error::Hyperparameter { name: "lr" }, |n| {
        n.set_lr(f64::NAN)
    });
}

// ------------------------------------------------------------ blobs

fn good_blob() -> Vec<u8> {
    let mut n = net(CFG);
    let mut b = vec![0u8; blob::blob_len(NET.param_count())];
    n.save_blob(&mut b).unwrap();
    b
}

/// Recompute the CRC after an edit, so that only the edited field is wrong.
fn fix_crc(b: &mut [u8]) {
    let mut c = blob::Crc32::new();
    c.update(&b[..16]);
    c.update(&b[blob::HEADER_LEN..]);
    let crc = c.finish().to_le_bytes();
    b[16..20].copy_from_slice(&crc);
}

fn load(bytes: Vec<u8>) -> impl FnOnce(&mut Net) -> R<()> {
    move |n| n.load_blob(&bytes)
}

#[test]
fn blob_with_a_flipped_bit() {
    let mut b = good_blob();
    let stored = u32::from_le_bytes(b[16..20].try_into().unwrap());
    b[30] ^= 0x04;
    let computed = blob::crc32(&[&b[..16], &b[20..]].concat());
    rejected(
        CFG,
        Error::Blob(BlobError::Crc { stored, computed }),
        load(b),
    );
}

#[test]
fn truncated_blob() {
    let b = good_blob();
    let n = b.len();
    rejected(
        CFG,
        Error::Blob(BlobError::Truncated {
            needed: n,
            got: n - 3,
        }),
        load(b[..n - 3].to_vec()),
    );
    rejected(
        CFG,
        Error::Blob(BlobError::Truncated {
            needed: blob::HEADER_LEN,
            got: 7,
        }),
        load(b[..7].to_vec()),
    );
}

#[test]
fn blob_with_trailing_bytes() {
    let mut b = good_blob();
    let n = b.len();
    b.push(0);
    rejected(
        CFG,
        Error::Blob(BlobError::TrailingBytes {
            expected: n,
            got: n + 1,
        }),
        load(b),
    );
}

#[test]
fn blob_for_another_spec() {
    // Same parameter count, another activation: only the hash tells.
    const OTHER: Spec = Spec::new(&[Layer::dense(2, 3), Layer::relu(), Layer::dense(3, 2)]);
    let params: Vec<f32> = (0..OTHER.param_count()).map(|i| i as f32 * 0.1).collect();
    let mut b = vec![0u8; blob::blob_len(OTHER.param_count())];
    blob::encode(&OTHER, &params, &mut b).unwrap();
    rejected(
        CFG,
        Error::Blob(BlobError::Spec {
            expected: NET.hash(),
            found: OTHER.hash(),
        }),
        load(b),
    );
}

#[test]
fn blob_with_another_version() {
    let mut b = good_blob();
    b[4..6].copy_from_slice(&2u16.to_le_bytes());
    fix_crc(&mut b);
    rejected(CFG, Error::Blob(BlobError::Version { found: 2 }), load(b));
}

#[test]
fn blob_with_bad_magic() {
    let mut b = good_blob();
    b[0] = b'X';
    rejected(CFG, Error::Blob(BlobError::Magic), load(b));
}

#[test]
fn blob_with_another_element_type() {
    let mut b = good_blob();
    b[6] = 3;
    fix_crc(&mut b);
    rejected(
        CFG,
        Error::Blob(BlobError::ElementType { found: 3 }),
        load(b),
    );
    // Fixed point (2) needs its fractional bits in byte 7 (1..=14); and
    // with them, an f32 payload's length is twice what it announces.
    let mut b = good_blob();
    b[6] = 2;
    fix_crc(&mut b);
    rejected(CFG, Error::Blob(BlobError::Reserved { found: 0 }), load(b));
    let mut b = good_blob();
    b[6] = 2;
    b[7] = 10;
    fix_crc(&mut b);
    let n = NET.param_count();
    rejected(
        CFG,
        Error::Blob(BlobError::TrailingBytes {
            expected: blob::HEADER_LEN + 2 * n,
            got: blob::HEADER_LEN + 4 * n,
        }),
        load(b),
    );
}

#[test]
fn blob_with_nan_and_a_valid_crc() {
    let mut b = good_blob();
    let at = blob::HEADER_LEN + 4 * 6;
    b[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    fix_crc(&mut b);
    rejected(CFG, Error::Blob(BlobError::NonFinite { index: 6 }), load(b));
}

#[test]
fn blob_buffer_too_small() {
    let mut n = net(CFG);
    let needed = blob::blob_len(NET.param_count());
    let mut out = vec![0u8; needed - 1];
    assert_eq!(
        n.save_blob(&mut out),
        Err(Error::Blob(BlobError::BufferTooSmall {
            needed,
            got: needed - 1
        }))
    );
}

// ------------------------------------------------------- safetensors

/// Import a file and load it into the model: the model changes only when
/// the import succeeded.
fn import_into(n: &mut Net, bytes: &[u8]) -> Result<(), ImportError> {
    let params = microprop_cli::import(&NET, bytes)?;
    n.load_parameters(&params)
        .expect("an imported file always loads");
    Ok(())
}

/// Run a bad safetensors file through [`import_into`] on a trained fixture:
/// the error must match, and the model must be unchanged.
#[track_caller]
fn rejected_file(bytes: &[u8], want: impl FnOnce(&ImportError) -> bool) {
    let mut n = net(CFG);
    let before = model(&mut n);
    let e = import_into(&mut n, bytes).unwrap_err();
    assert!(want(&e), "unexpected error: {e:?}");
    assert_eq!(model(&mut n), before);
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A safetensors file (no metadata, as PyTorch writes them) from
/// `(name, dtype, shape, data)`.
fn file(tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.to_string(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize(views, None).unwrap()
}

/// The four tensors of `NET` with PyTorch names, one replaced or added.
fn tensors(change: Option<(&'static str, Dtype, Vec<usize>, Vec<u8>)>) -> Vec<u8> {
    let mut t = vec![
        ("0.weight", Dtype::F32, vec![3, 2], f32_bytes(&[0.1; 6])),
        ("0.bias", Dtype::F32, vec![3], f32_bytes(&[0.2; 3])),
        ("2.weight", Dtype::F32, vec![2, 3], f32_bytes(&[0.3; 6])),
        ("2.bias", Dtype::F32, vec![2], f32_bytes(&[0.4; 2])),
    ];
    if let Some(c) = change {
        match t.iter_mut().find(|x| x.0 == c.0) {
            Some(slot) => *slot = c,
            None => t.push(c),
        }
    }
    file(&t)
}

#[test]
fn safetensors_control_file_imports() {
    // The control for the rows below: the unchanged file loads.
    let mut n = net(CFG);
    import_into(&mut n, &tensors(None)).unwrap();
    let mut p = vec![0.0f32; NET.param_count()];
    n.parameters(&mut p).unwrap();
    assert_eq!(p[0], 0.1);
    assert_eq!(p[16], 0.4);
}

#[test]
fn safetensors_wrong_names() {
    // TensorFlow-style names: the first one the spec needs is missing...
    let renamed = file(&[
        ("dense/kernel", Dtype::F32, vec![3, 2], f32_bytes(&[0.1; 6])),
        ("0.bias", Dtype::F32, vec![3], f32_bytes(&[0.2; 3])),
        ("2.weight", Dtype::F32, vec![2, 3], f32_bytes(&[0.3; 6])),
        ("2.bias", Dtype::F32, vec![2], f32_bytes(&[0.4; 2])),
    ]);
    rejected_file(
        &renamed,
        |e| matches!(e, ImportError::UnexpectedTensor { name } if name == "dense/kernel"),
    );
    let missing = file(&[
        ("0.weight", Dtype::F32, vec![3, 2], f32_bytes(&[0.1; 6])),
        ("0.bias", Dtype::F32, vec![3], f32_bytes(&[0.2; 3])),
        ("2.weight", Dtype::F32, vec![2, 3], f32_bytes(&[0.3; 6])),
    ]);
    rejected_file(
        &missing,
        |e| matches!(e, ImportError::MissingTensor { name } if name == "2.bias"),
    );
}

#[test]
fn safetensors_wrong_shapes() {
    // Transposed weight (a JAX/Keras `[in, out]` kernel).
    let f = tensors(Some((
        "2.weight",
        Dtype::F32,
        vec![3, 2],
        f32_bytes(&[0.3; 6]),
    )));
    rejected_file(&f, |e| {
        matches!(e, ImportError::WrongShape { name, expected, found }
            if name == "2.weight" && expected == &[2, 3] && found == &[3, 2])
    });
}

#[test]
fn safetensors_wrong_dtype() {
    let f64s: Vec<u8> = [0.2f64; 3].iter().flat_map(|x| x.to_le_bytes()).collect();
    let f = tensors(Some(("0.bias", Dtype::F64, vec![3], f64s)));
    rejected_file(
        &f,
        |e| matches!(e, ImportError::WrongDtype { name, found: Dtype::F64 } if name == "0.bias"),
    );
    let f16s = vec![0u8; 6];
    let f = tensors(Some(("0.bias", Dtype::F16, vec![3], f16s)));
    rejected_file(&f, |e| {
        matches!(
            e,
            ImportError::WrongDtype {
                found: Dtype::F16,
                ..
            }
        )
    });
}

#[test]
fn safetensors_malformed_bytes() {
    let good = tensors(None);
    // Empty, a header length past the end, a header that is not JSON, and
    // the file cut in the middle of its data.
    let mut not_json = good.clone();
    not_json[8] = b'!';
    for bad in [
        Vec::new(),
        u64::MAX.to_le_bytes().to_vec(),
        not_json,
        good[..good.len() - 5].to_vec(),
    ] {
        rejected_file(&bad, |e| matches!(e, ImportError::Malformed(_)));
    }
}

#[test]
fn safetensors_nan_value() {
    let f = tensors(Some((
        "0.weight",
        Dtype::F32,
        vec![3, 2],
        f32_bytes(&[0.1, 0.1, 0.1, f32::INFINITY, 0.1, 0.1]),
    )));
    rejected_file(
        &f,
        |e| matches!(e, ImportError::NonFinite { name, index: 3 } if name == "0.weight"),
    );
}

#[test]
fn safetensors_for_another_spec() {
    // Exported for the relu twin: the metadata names it.
    const OTHER: Spec = Spec::new(&[Layer::dense(2, 3), Layer::relu(), Layer::dense(3, 2)]);
    let f = microprop_cli::export(&OTHER, &[0.1; 17]).unwrap();
    rejected_file(&f, |e| matches!(e, ImportError::SpecMismatch { .. }));
}

/// Regression (found by `fuzz/` target `blob`, round-trip property): a
/// non-zero reserved byte with a matching CRC used to be accepted, so
/// `encode(decode(x)) != x`.
#[test]
fn blob_with_a_nonzero_reserved_byte() {
    let mut b = good_blob();
    b[7] = 2;
    fix_crc(&mut b);
    rejected(CFG, Error::Blob(BlobError::Reserved { found: 2 }), load(b));
}

// ------------------------------------------------------------ the guard

/// XOR as regression, 2-8-1 tanh, f32, SGD at lr 3e38 (the largest finite
/// f32 is 3.4e38), seed 2: the first step's update of some weight is
/// `lr · g` with `|g| > 1.13`, which overflows to ±∞. It used to be
/// accepted (`Ok`, the warm-up step is not checked against the EMA, and
/// `Σ w²` was taken over the parameters the step started from).
///
/// Now `Σ w²` covers what the step wrote: every step from the initial
/// weights at these rates leaves a weight of at least ~1e19 (`lr ≥ 3e38 /
/// 2¹⁰`, a non-zero gradient), whose square overflows f32, so the guard
/// halves the rate ten times, then gives up with `Diverged` and the initial
/// model, bit for bit; a guard with room for more halvings gets back to
/// finite training. Whenever a step is `Ok`, every parameter is finite.
#[test]
fn guard_first_step_that_overflows_a_weight() {
    use microprop::guard::{self, Divergence, Guard, GuardConfig, StepOutcome};
    const XOR: Spec = Spec::new(&[Layer::dense(2, 8), Layer::tanh(), Layer::dense(8, 1)]);
    const LR: f64 = 3e38;
    let cfg = Config::new(4, Loss::Mse, Optimizer::sgd(LR)).with_seed(2);
    let x = [0.0f32, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];
    let y = [0.0f32, 1.0, 1.0, 0.0];
    let params = |n: &mut Network<'_, CpuBackend<'_, f32>>| {
        let mut p = vec![0.0f32; XOR.param_count()];
        n.parameters(&mut p).unwrap();
        p
    };
    let bits = |p: &[f32]| p.iter().map(|v| v.to_bits()).collect::<Vec<_>>();

    // Default guard: ten recoveries, then Diverged with the initial model.
    let mut arena = vec![0.0f32; guard::arena_len(&XOR, &cfg)];
    let mut net = Network::new(XOR, CpuBackend::new(&mut arena), cfg).unwrap();
    let initial = bits(&params(&mut net));
    let mut g = Guard::new(&mut net, GuardConfig::new()).unwrap();
    for k in 1..=10u32 {
        let out = g.train_step(&x, Targets::Values(&y)).unwrap();
        let StepOutcome::Recovered {
            reason,
            new_lr,
            restored_steps,
            recoveries,
            ..
        } = out
        else {
            let p = params(g.network());
            panic!("step {k} accepted: {out:?}, parameters {p:?}");
        };
        assert_eq!(reason, Divergence::NonFiniteParameters, "step {k}");
        assert_eq!(new_lr, LR * 0.5f64.powi(k as i32), "step {k}");
        assert_eq!((restored_steps, recoveries), (0, k));
        assert_eq!(bits(&params(g.network())), initial, "step {k}");
        // The restore moved the parameters: the step's forward pass is stale.
        assert_eq!(
            g.network().loss(Targets::Values(&y)).unwrap_err(),
            Error::OutOfOrder {
                called: "loss",
                needs: "forward"
            }
        );
    }
    assert_eq!(
        g.train_step(&x, Targets::Values(&y)).unwrap_err(),
        Error::Diverged { recoveries: 10 }
    );
    assert_eq!(bits(&params(g.network())), initial);
    assert_eq!(g.network().lr(), LR * 0.5f64.powi(10));

    // Room for enough halvings: it recovers; every accepted step leaves
    // finite parameters.
    let mut arena = vec![0.0f32; guard::arena_len(&XOR, &cfg)];
    let mut net = Network::new(XOR, CpuBackend::new(&mut arena), cfg).unwrap();
    let mut g = Guard::new(&mut net, GuardConfig::new().with_max_recoveries(300)).unwrap();
    let mut accepted = 0;
    for step in 0..2000 {
        let out = g.train_step(&x, Targets::Values(&y)).unwrap();
        if let StepOutcome::Ok(_) = out {
            accepted += 1;
            let p = params(g.network());
            assert!(p.iter().all(|v| v.is_finite()), "step {step}: {p:?}");
        }
    }
    assert!(accepted > 1000, "{accepted} steps accepted");
    assert!(g.network().lr() < 1.0, "{}", g.network().lr());
}
