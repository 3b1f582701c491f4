//! Convolution and pooling layers (issue 15): against an independent JAX
//! reference (`tools/conv_reference_jax.py`, output committed in
//! `fixtures/conv_reference.json`: PyTorch-convention CNNs, float64) and by
//! finite differences ([`Network::grad_check`]) over strides, padding,
//! 1×1 kernels, one channel, odd sizes and batch 1.

use crate::{assert_close, Harness};
use microprop::{Config, Element, Layer, Loss, Network, Optimizer, Rng, Spec, Targets};

/// The shape of one row flowing through a fixture's layers.
#[derive(Clone, Copy)]
enum Shape {
    /// `[channels, len]`.
    OneD(usize, usize),
    /// `[channels, height, width]`.
    TwoD(usize, usize, usize),
    /// Flat features (only dense layers and activations follow).
    Flat,
}

/// `(len + 2·pad − k) / stride + 1`.
fn out_len(len: usize, k: usize, stride: usize, pad: usize) -> usize {
    (len + 2 * pad - k) / stride + 1
}

/// The fixture's layer list as microprop layers, one for one (so
/// parameter names match: `"6.weight"` is layer 6's).
fn layers(case: &serde_json::Value) -> Vec<Layer> {
    let dims: Vec<usize> = case["input_shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let mut shape = match dims[..] {
        [c, l] => Shape::OneD(c, l),
        [c, h, w] => Shape::TwoD(c, h, w),
        _ => panic!("input shape {dims:?}"),
    };
    let mut out = Vec::new();
    for l in case["layers"].as_array().unwrap() {
        let kind = l[0].as_str().unwrap();
        let n = |i: usize| l[i].as_u64().unwrap() as usize;
        let (layer, next) = match (kind, shape) {
            ("conv1d", Shape::OneD(c, len)) => {
                let (co, k, s, p) = (n(2), n(3), n(4), n(5));
                assert_eq!(n(1), c);
                (
                    Some(Layer::conv1d(c, co, len, k, s, p)),
                    Shape::OneD(co, out_len(len, k, s, p)),
                )
            }
            ("conv2d", Shape::TwoD(c, h, w)) => {
                let (co, kh, kw, s, p) = (n(2), n(3), n(4), n(5), n(6));
                assert_eq!(n(1), c);
                (
                    Some(Layer::conv2d(c, co, (h, w), (kh, kw), s, p)),
                    Shape::TwoD(co, out_len(h, kh, s, p), out_len(w, kw, s, p)),
                )
            }
            ("maxpool1d" | "avgpool1d", Shape::OneD(c, len)) => {
                let (k, s) = (n(1), n(2));
                let layer = if kind == "maxpool1d" {
                    Layer::max_pool1d(c, len, k, s)
                } else {
                    Layer::avg_pool1d(c, len, k, s)
                };
                (Some(layer), Shape::OneD(c, out_len(len, k, s, 0)))
            }
            ("maxpool2d" | "avgpool2d", Shape::TwoD(c, h, w)) => {
                let (k, s) = (n(1), n(2));
                let layer = if kind == "maxpool2d" {
                    Layer::max_pool2d(c, (h, w), k, s)
                } else {
                    Layer::avg_pool2d(c, (h, w), k, s)
                };
                (
                    Some(layer),
                    Shape::TwoD(c, out_len(h, k, s, 0), out_len(w, k, s, 0)),
                )
            }
            ("global_avg_pool", Shape::OneD(c, len)) => {
                (Some(Layer::global_avg_pool1d(c, len)), Shape::Flat)
            }
            ("global_avg_pool", Shape::TwoD(c, h, w)) => {
                (Some(Layer::global_avg_pool2d(c, (h, w))), Shape::Flat)
            }
            ("flatten", _) => (Some(Layer::flatten()), Shape::Flat),
            ("relu", s) => (Some(Layer::relu()), s),
            ("tanh", s) => (Some(Layer::tanh()), s),
            ("dense", _) => (Some(Layer::dense(n(1), n(2))), Shape::Flat),
            (other, _) => panic!("unknown layer {other} at this shape"),
        };
        out.extend(layer);
        shape = next;
    }
    out
}

/// Flat f64 values of a fixture entry (a list, or a list of named tensors).
fn values(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .flat_map(|e| match e.get("values") {
            Some(vals) => values(vals),
            None => vec![e.as_f64().unwrap()],
        })
        .collect()
}

/// Every case of the JAX fixture: logits, loss, parameter gradients and
/// input gradient within 1e-12 in f64 and 1e-5 in f32 (the bounds).
pub fn conv_layers_match_jax<H: Harness>() {
    let text = include_str!("../../fixtures/conv_reference.json");
    let cases: serde_json::Value = serde_json::from_str(text).expect("fixture parses");
    let tol = if core::mem::size_of::<H::E>() == 8 {
        1e-12
    } else {
        1e-5
    };
    let mut worst = 0.0f64;
    for case in cases.as_array().expect("array of cases") {
        let name = case["name"].as_str().unwrap();
        let layers = layers(case);
        let spec = Spec::try_new(&layers).unwrap_or_else(|e| panic!("{name}: {e}"));
        let loss = match case["loss"].as_str().unwrap() {
            "mse" => Loss::Mse,
            "ce" => Loss::SoftmaxCrossEntropy,
            other => panic!("unknown loss {other}"),
        };
        let rows = case["batch"].as_u64().unwrap() as usize;
        let to_e = |v: &[f64]| v.iter().map(|&x| H::E::from_f64(x)).collect::<Vec<_>>();
        let x = values(&case["x"]);
        let cfg = Config::new(rows, loss, Optimizer::sgd(0.1));
        let Some(backend) = H::backend(cfg.arena_len(&spec)) else {
            return;
        };
        let mut net = Network::new(spec, backend, cfg).unwrap();
        net.load_parameters(&to_e(&values(&case["params"])))
            .unwrap();
        net.zero_grad().unwrap();
        let mut out = vec![H::E::ZERO; rows * spec.outputs()];
        net.predict(&to_e(&x), &mut out).unwrap();
        let out: Vec<f64> = out.iter().map(|v| v.to_f64()).collect();
        let outputs = case["outputs"].as_array().unwrap();
        let logits = values(&outputs.last().unwrap()["values"]);
        let check = |what: &str, got: &[f64], want: &[f64], worst: &mut f64| {
            for (g, w) in got.iter().zip(want) {
                *worst = worst.max((g - w).abs() / w.abs().max(1.0));
            }
            assert_close(&format!("{}: {name}: {what}", H::NAME), got, want, tol);
        };
        check("logits", &out, &logits, &mut worst);
        let targets = values(&case["targets"]);
        let labels: Vec<usize> = targets.iter().map(|&v| v as usize).collect();
        let target_values = to_e(&targets);
        let t = if loss.uses_labels() {
            Targets::Labels(&labels)
        } else {
            Targets::Values(&target_values)
        };
        let l = net.loss(t).unwrap().to_f64();
        check(
            "loss",
            &[l],
            &[case["loss_value"].as_f64().unwrap()],
            &mut worst,
        );
        let mut dx = vec![H::E::ZERO; x.len()];
        net.backward_with_input_grad(&mut dx).unwrap();
        let mut g = vec![H::E::ZERO; spec.param_count()];
        net.gradients(&mut g).unwrap();
        let g: Vec<f64> = g.iter().map(|v| v.to_f64()).collect();
        let dx: Vec<f64> = dx.iter().map(|v| v.to_f64()).collect();
        check("dparams", &g, &values(&case["grad_params"]), &mut worst);
        check("dx", &dx, &values(&case["grad_x"]), &mut worst);
    }
    println!(
        "{}: conv fixture, worst error against JAX {worst:.3e} (relative above 1, absolute below)",
        H::NAME
    );
}

/// Gradient-check `layers` under `loss` on a random batch of `rows`.
fn grad_check<H: Harness>(layers: &[Layer], loss: Loss, rows: usize, seed: u64) -> Option<f64> {
    let spec = Spec::try_new(layers).expect("valid spec");
    let cfg = Config::new(rows, loss, Optimizer::sgd(0.1)).with_seed(seed);
    let backend = H::backend(cfg.arena_len(&spec))?;
    let mut net = Network::new(spec, backend, cfg).expect("network");
    let mut rng = Rng::new(seed ^ 0x15);
    let x: Vec<H::E> = (0..rows * spec.inputs())
        .map(|_| H::E::from_f64(rng.uniform(-1.5, 1.5)))
        .collect();
    let values: Vec<H::E> = (0..rows * spec.outputs())
        .map(|_| H::E::from_f64(rng.uniform(-1.0, 1.0)))
        .collect();
    let labels: Vec<usize> = (0..rows).map(|r| r % spec.outputs()).collect();
    let targets = if loss.uses_labels() {
        Targets::Labels(&labels)
    } else {
        Targets::Values(&values)
    };
    let r = net
        .grad_check(&x, targets, &H::tolerances().gradcheck)
        .expect("grad_check");
    assert!(r.checked > 0);
    Some(r.max_rel_error)
}

/// Finite differences over conv and pooling nets: stride > 1, padding,
/// 1×1 kernels, one channel, odd sizes, rectangular kernels, batch 1.
pub fn gradcheck_conv_and_pool_layers<H: Harness>() {
    let tol = H::tolerances().gradcheck_max;
    let nets: Vec<(&str, Vec<Layer>)> = vec![
        (
            "conv1d pad 1, avg pool, conv1d stride 2",
            vec![
                Layer::conv1d(2, 3, 9, 3, 1, 1),
                Layer::tanh(),
                Layer::avg_pool1d(3, 9, 3, 2),
                Layer::conv1d(3, 2, 4, 2, 2, 0),
                Layer::dense(4, 3),
            ],
        ),
        (
            "one channel, stride 2, pad 2, global average",
            vec![
                Layer::conv1d(1, 2, 11, 5, 2, 2),
                Layer::softplus(),
                Layer::global_avg_pool1d(2, 6),
                Layer::dense(2, 2),
            ],
        ),
        (
            "1x1 conv1d",
            vec![
                Layer::conv1d(3, 2, 4, 1, 1, 0),
                Layer::tanh(),
                Layer::dense(8, 2),
            ],
        ),
        (
            "conv2d odd sizes, rectangular kernel, stride 2",
            vec![
                Layer::conv2d(2, 3, (5, 7), (3, 2), 2, 1),
                Layer::tanh(),
                Layer::avg_pool2d(3, (3, 4), 2, 1),
                Layer::dense(18, 3),
            ],
        ),
        (
            "conv2d 1x1 then global average",
            vec![
                Layer::conv2d(1, 2, (3, 3), (1, 1), 1, 0),
                Layer::sigmoid(),
                Layer::global_avg_pool2d(2, (3, 3)),
                Layer::dense(2, 2),
            ],
        ),
    ];
    let mut worst = 0.0f64;
    for (name, layers) in &nets {
        for (loss, rows) in [(Loss::SoftmaxCrossEntropy, 3), (Loss::Mse, 1)] {
            let Some(e) = grad_check::<H>(layers, loss, rows, 15) else {
                return;
            };
            assert!(
                e < tol,
                "{}: {name}, {loss:?}, batch {rows}: {e:e}",
                H::NAME
            );
            worst = worst.max(e);
        }
    }
    println!(
        "{}: conv gradcheck, worst relative error {worst:.3e}",
        H::NAME
    );
}

/// Max pooling by finite differences: a 1×1 convolution from one input
/// channel before it (so that backward reaches the pooling's input: a
/// spec's parameterless first layers are not run backward), on inputs
/// spread 0.1 apart: each pooled channel is `w·x + b`, which keeps the
/// inputs' order (or reverses it), so a step of the check does not reorder
/// a window (a tie's gradient is a choice, not a derivative).
pub fn gradcheck_max_pool<H: Harness>() {
    for (name, layers) in [
        (
            "max_pool1d k 2 stride 2",
            vec![
                Layer::conv1d(1, 2, 6, 1, 1, 0),
                Layer::max_pool1d(2, 6, 2, 2),
                Layer::dense(6, 2),
            ],
        ),
        (
            "max_pool1d overlapping k 3 stride 1",
            vec![
                Layer::conv1d(1, 1, 5, 1, 1, 0),
                Layer::max_pool1d(1, 5, 3, 1),
                Layer::dense(3, 2),
            ],
        ),
        (
            "max_pool2d 2x2 over 3x5 (floor)",
            vec![
                Layer::conv2d(1, 2, (3, 5), (1, 1), 1, 0),
                Layer::max_pool2d(2, (3, 5), 2, 2),
                Layer::dense(4, 2),
            ],
        ),
    ] {
        let spec = Spec::try_new(&layers).expect("valid spec");
        let rows = 2;
        let cfg = Config::new(rows, Loss::SoftmaxCrossEntropy, Optimizer::sgd(0.1)).with_seed(3);
        let Some(backend) = H::backend(cfg.arena_len(&spec)) else {
            return;
        };
        let mut net = Network::new(spec, backend, cfg).expect("network");
        // A permutation of 0.1·k: all distinct.
        let n = rows * spec.inputs();
        let mut order: Vec<usize> = (0..n).collect();
        Rng::new(9).shuffle(&mut order);
        let x: Vec<H::E> = order
            .iter()
            .map(|&k| H::E::from_f64(0.1 * k as f64 - 1.0))
            .collect();
        let r = net
            .grad_check(&x, Targets::Labels(&[1, 0]), &H::tolerances().gradcheck)
            .expect("grad_check");
        assert!(r.checked > 0);
        assert!(
            r.max_rel_error < H::tolerances().gradcheck_max,
            "{}: {name}: {r:?}",
            H::NAME
        );
    }
}

/// Im2col and col2im against the CPU reference kernels in f64 on random
/// images: 1-D and 2-D, strides 1–3, padding 0–2, rectangular windows,
/// several channels and rows, both layouts (im2col copies: exact;
/// col2im sums up to `kh·kw` terms: the reduction tolerance).
pub fn windows_match_reference_on_random_data<H: Harness>() {
    use microprop::hal::op::{ColLayout, Window};
    use microprop::hal::{op, Op, Span};
    let red = H::tolerances().reduction;
    let mut rng = Rng::new(0x1515);
    let windows = [
        // (channels, height, width, kh, kw, stride, pad_h, pad_w)
        (6, 1, 100, 1, 5, 1, 0, 2),
        (3, 1, 37, 1, 4, 3, 0, 1),
        (1, 1, 9, 1, 9, 1, 0, 0),
        (2, 8, 8, 3, 3, 1, 1, 1),
        (4, 5, 7, 3, 2, 2, 1, 0),
        (3, 9, 6, 2, 3, 3, 2, 2),
    ];
    for (c, h, w, kh, kw, stride, pad_h, pad_w) in windows {
        let window = Window {
            channels: c,
            height: h,
            width: w,
            kh,
            kw,
            stride,
            pad_h,
            pad_w,
        };
        for layout in [ColLayout::Conv, ColLayout::Pool] {
            let rows = 2;
            let (n_x, n_cols) = (rows * window.image_len(), rows * window.cols_len());
            let init: Vec<f64> = (0..2 * n_x + n_cols)
                .map(|_| rng.uniform(-2.0, 2.0))
                .collect();
            let (x, cols, dx) = (
                Span::new(0, n_x),
                Span::new(n_x, n_cols),
                Span::new(n_x + n_cols, n_x),
            );
            let ops = [
                Op::Im2col(op::Im2col {
                    x,
                    cols,
                    rows,
                    window,
                    layout,
                }),
                Op::Col2im(op::Col2im {
                    cols,
                    x: dx,
                    rows,
                    window,
                    layout,
                }),
            ];
            super::assert_matches_reference::<H>(
                &format!("windows {window:?} {layout:?}"),
                &init,
                &ops,
                red,
            );
        }
    }
}

/// Twenty SGD steps of a 1-D CNN (BasicMotions' shape, shrunk) and a 2-D
/// one on this backend and on the CPU reference kernels in f64, from the
/// same parameters and batches: the parameters after them agree within 20
/// steps' worth of the backend's reduction tolerance (each step's update
/// is a sum of products, off by at most that much relative to its size,
/// and SGD at lr 0.1 does not amplify it over 20 steps of this small net).
/// Prints the worst difference.
pub fn cnn_training_matches_reference<H: Harness>() {
    let nets: [(&str, Vec<Layer>); 2] = [
        (
            "1-D CNN",
            vec![
                Layer::conv1d(3, 4, 20, 5, 1, 2),
                Layer::relu(),
                Layer::max_pool1d(4, 20, 2, 2),
                Layer::conv1d(4, 4, 10, 3, 2, 1),
                Layer::tanh(),
                Layer::global_avg_pool1d(4, 5),
                Layer::dense(4, 3),
            ],
        ),
        (
            "2-D CNN",
            vec![
                Layer::conv2d(1, 3, (6, 6), (3, 3), 1, 1),
                Layer::relu(),
                Layer::avg_pool2d(3, (6, 6), 2, 2),
                Layer::flatten(),
                Layer::dense(27, 3),
            ],
        ),
    ];
    let mut worst = 0.0f64;
    for (name, layers) in &nets {
        let spec = Spec::try_new(layers).expect("valid spec");
        let rows = 4;
        let cfg = Config::new(rows, Loss::SoftmaxCrossEntropy, Optimizer::sgd(0.1)).with_seed(5);
        let Some(backend) = H::backend(cfg.arena_len(&spec)) else {
            return;
        };
        let mut net = Network::new(spec, backend, cfg).expect("network");
        let mut arena = vec![0.0f64; cfg.arena_len(&spec)];
        let mut reference =
            Network::new(spec, microprop_cpu::CpuBackend::reference(&mut arena), cfg)
                .expect("reference");
        // The same starting point: the backend's parameters, exactly.
        let mut p = vec![H::E::ZERO; spec.param_count()];
        net.parameters(&mut p).unwrap();
        let p64: Vec<f64> = p.iter().map(|v| v.to_f64()).collect();
        reference.load_parameters(&p64).unwrap();
        let mut rng = Rng::new(77);
        for _ in 0..20 {
            let x: Vec<f64> = (0..rows * spec.inputs())
                .map(|_| rng.uniform(-1.0, 1.0))
                .collect();
            let y: Vec<usize> = (0..rows).map(|_| rng.below(3)).collect();
            let xe: Vec<H::E> = x.iter().map(|&v| H::E::from_f64(v)).collect();
            net.train_step(&xe, Targets::Labels(&y)).unwrap();
            reference.train_step(&x, Targets::Labels(&y)).unwrap();
        }
        net.parameters(&mut p).unwrap();
        let got: Vec<f64> = p.iter().map(|v| v.to_f64()).collect();
        let mut want = vec![0.0f64; spec.param_count()];
        reference.parameters(&mut want).unwrap();
        for (g, w) in got.iter().zip(&want) {
            worst = worst.max((g - w).abs() / w.abs().max(1.0));
        }
        assert_close(
            &format!("{}: {name} after 20 SGD steps", H::NAME),
            &got,
            &want,
            20.0 * H::tolerances().reduction,
        );
    }
    println!(
        "{}: CNN training against the f64 reference, worst parameter difference {worst:.3e}",
        H::NAME
    );
}
