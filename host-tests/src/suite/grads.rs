//! Gradient checks of every layer × activation × loss, the lecture's worked
//! example, and an independent JAX reference.

use crate::{assert_close, Harness};
use microprop::{Config, Element, Layer, Loss, Network, Optimizer, Rng, Spec, Targets};

fn first_layers() -> [Layer; 2] {
    [Layer::dense(4, 5), Layer::maxout(4, 5, 3)]
}

fn middle_layers() -> [Layer; 7] {
    [
        Layer::sigmoid(),
        Layer::tanh(),
        Layer::relu(),
        Layer::leaky_relu(0.1),
        Layer::elu(1.0),
        Layer::softplus(),
        Layer::softmax(),
    ]
}

fn losses() -> [Loss; 3] {
    [
        Loss::Mse,
        Loss::SoftmaxCrossEntropy,
        Loss::Hinge { margin: 1.0 },
    ]
}

/// Gradient-check `[first, middle, dense(5, 3)]` under `loss` on a random
/// batch of 3; returns the report.
fn check_one<H: Harness>(
    first: Layer,
    middle: Layer,
    loss: Loss,
    l2: f64,
    seed: u64,
) -> Option<microprop::GradCheckReport> {
    let layers = [first, middle, Layer::dense(5, 3)];
    let spec = Spec::try_new(&layers).expect("valid spec");
    let cfg = Config::new(3, loss, Optimizer::sgd(0.1))
        .with_l2(l2)
        .with_seed(seed);
    let backend = H::backend(cfg.arena_len(&spec))?;
    let mut net = Network::new(spec, backend, cfg).expect("network");
    let mut rng = Rng::new(seed ^ 0xabc);
    let x: Vec<H::E> = (0..12)
        .map(|_| H::E::from_f64(rng.uniform(-1.5, 1.5)))
        .collect();
    let values: Vec<H::E> = (0..9)
        .map(|_| H::E::from_f64(rng.uniform(-1.0, 1.0)))
        .collect();
    let labels = [2usize, 0, 1];
    let targets = if loss.uses_labels() {
        Targets::Labels(&labels)
    } else {
        Targets::Values(&values)
    };
    Some(
        net.grad_check(&x, targets, &H::tolerances().gradcheck)
            .expect("grad_check"),
    )
}

pub fn gradcheck_every_layer_activation_loss<H: Harness>() {
    let tol = H::tolerances();
    let mut worst = (0.0f64, String::new());
    for first in first_layers() {
        for middle in middle_layers() {
            for loss in losses() {
                let Some(r) = check_one::<H>(first, middle, loss, 0.0, 7) else {
                    return;
                };
                let what = format!("{first:?} → {middle:?} → dense, {loss:?}");
                assert!(r.checked > 0);
                assert!(
                    r.max_rel_error < tol.gradcheck_max,
                    "{}: {what}: {r:?}",
                    H::NAME
                );
                if r.max_rel_error >= worst.0 {
                    worst = (r.max_rel_error, format!("{what}: {r:?}"));
                }
            }
        }
    }
    println!(
        "{}: worst relative gradient error {:.3e} in {}",
        H::NAME,
        worst.0,
        worst.1
    );
}

pub fn gradcheck_with_l2<H: Harness>() {
    let tol = H::tolerances();
    for first in first_layers() {
        for loss in losses() {
            let Some(r) = check_one::<H>(first, Layer::tanh(), loss, 0.05, 11) else {
                return;
            };
            assert!(
                r.max_rel_error < tol.gradcheck_max,
                "{}: {first:?} {loss:?} + L2: {r:?}",
                H::NAME
            );
        }
    }
}

/// The lecture's 2-layer net `f = W2 · max(0, W1 · x)`, by hand.
pub fn lecture_two_layer_example<H: Harness>() {
    // W1 = [[1, −1], [2, 0.5]], x = [1, 2]: z = W1 x = [−1, 3], h = max(0, z) = [0, 3].
    // W2 = [[1, −2]]: f = W2 h = −6. Loss (f − t)² with t = −6.5, so dL/df = 2·0.5 = 1.
    // dW2 = dD · hᵀ = [0, 3]; db2 = 1.
    // dh = W2ᵀ · dD = [1, −2]; dz = dh ⊙ [z > 0] = [0, −2]; db1 = [0, −2].
    // dW1 = dz · xᵀ = [[0, 0], [−2, −4]].
    // dX = W1ᵀ · dz = [1·0 + 2·(−2), −1·0 + 0.5·(−2)] = [−4, −1].
    const NET: Spec = Spec::new(&[Layer::dense(2, 2), Layer::relu(), Layer::dense(2, 1)]);
    let cfg = Config::new(1, Loss::Mse, Optimizer::sgd(0.1));
    let Some(backend) = H::backend(cfg.arena_len(&NET)) else {
        return;
    };
    let mut net = Network::new(NET, backend, cfg).expect("network");
    let e = |v: &[f64]| v.iter().map(|&x| H::E::from_f64(x)).collect::<Vec<_>>();
    // Layout: W1 (2×2), b1 (2), W2 (1×2), b2 (1).
    net.load_parameters(&e(&[1.0, -1.0, 2.0, 0.5, 0.0, 0.0, 1.0, -2.0, 0.0]))
        .unwrap();
    net.zero_grad().unwrap();
    let mut f = [H::E::ZERO];
    net.predict(&e(&[1.0, 2.0]), &mut f).unwrap();
    assert_close("f", &[f[0].to_f64()], &[-6.0], 1e-6);
    let loss = net.loss(Targets::Values(&e(&[-6.5]))).unwrap();
    assert_close("loss", &[loss.to_f64()], &[0.25], 1e-6);
    let mut dx = [H::E::ZERO; 2];
    net.backward_with_input_grad(&mut dx).unwrap();
    let mut g = vec![H::E::ZERO; 9];
    net.gradients(&mut g).unwrap();
    let g: Vec<f64> = g.iter().map(|v| v.to_f64()).collect();
    assert_close(
        "dW1, db1, dW2, db2",
        &g,
        &[0.0, 0.0, -2.0, -4.0, 0.0, -2.0, 0.0, 3.0, 1.0],
        1e-6,
    );
    let dx: Vec<f64> = dx.iter().map(|v| v.to_f64()).collect();
    assert_close("dX", &dx, &[-4.0, -1.0], 1e-6);
}

/// Networks, data and gradients computed by JAX (`tools/jax_reference.py`,
/// output committed in `fixtures/jax_reference.json`).
pub fn matches_jax_reference<H: Harness>() {
    let text = include_str!("../../fixtures/jax_reference.json");
    let cases: serde_json::Value = serde_json::from_str(text).expect("fixture parses");
    let tol = H::tolerances().reduction.max(H::tolerances().elementwise) * 10.0;
    for case in cases.as_array().expect("array of cases") {
        let name = case["name"].as_str().unwrap();
        let layers: Vec<Layer> = case["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                let kind = l[0].as_str().unwrap();
                let n = |i: usize| l[i].as_u64().unwrap() as usize;
                let f = |i: usize| l[i].as_f64().unwrap();
                match kind {
                    "dense" => Layer::dense(n(1), n(2)),
                    "maxout" => Layer::maxout(n(1), n(2), n(3)),
                    "sigmoid" => Layer::sigmoid(),
                    "tanh" => Layer::tanh(),
                    "relu" => Layer::relu(),
                    "leaky_relu" => Layer::leaky_relu(f(1)),
                    "elu" => Layer::elu(f(1)),
                    "softplus" => Layer::softplus(),
                    "softmax" => Layer::softmax(),
                    other => panic!("unknown layer {other}"),
                }
            })
            .collect();
        let loss = match case["loss"].as_str().unwrap() {
            "mse" => Loss::Mse,
            "ce" => Loss::SoftmaxCrossEntropy,
            "hinge" => Loss::Hinge { margin: 1.0 },
            other => panic!("unknown loss {other}"),
        };
        let nums = |k: &str| -> Vec<f64> {
            case[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        };
        let to_e = |v: &[f64]| v.iter().map(|&x| H::E::from_f64(x)).collect::<Vec<_>>();
        let x = nums("x");
        let rows = case["rows"].as_u64().unwrap() as usize;
        let l2 = case["l2"].as_f64().unwrap();
        let spec = Spec::try_new(&layers).unwrap();
        let cfg = Config::new(rows, loss, Optimizer::sgd(0.1)).with_l2(l2);
        let Some(backend) = H::backend(cfg.arena_len(&spec)) else {
            return;
        };
        let mut net = Network::new(spec, backend, cfg).unwrap();
        net.load_parameters(&to_e(&nums("params"))).unwrap();
        net.zero_grad().unwrap();
        let mut out = vec![H::E::ZERO; rows * spec.outputs()];
        net.predict(&to_e(&x), &mut out).unwrap();
        let out: Vec<f64> = out.iter().map(|v| v.to_f64()).collect();
        assert_close(&format!("{name}: outputs"), &out, &nums("outputs"), tol);
        let labels: Vec<usize> = nums("targets").iter().map(|&v| v as usize).collect();
        let values = to_e(&nums("targets"));
        let t = if loss.uses_labels() {
            Targets::Labels(&labels)
        } else {
            Targets::Values(&values)
        };
        let l = net.loss(t).unwrap().to_f64();
        assert_close(
            &format!("{name}: loss"),
            &[l],
            &[case["loss_value"].as_f64().unwrap()],
            tol,
        );
        let mut dx = vec![H::E::ZERO; x.len()];
        net.backward_with_input_grad(&mut dx).unwrap();
        let mut g = vec![H::E::ZERO; spec.param_count()];
        net.gradients(&mut g).unwrap();
        let g: Vec<f64> = g.iter().map(|v| v.to_f64()).collect();
        let dx: Vec<f64> = dx.iter().map(|v| v.to_f64()).collect();
        assert_close(&format!("{name}: dparams"), &g, &nums("grad_params"), tol);
        assert_close(&format!("{name}: dx"), &dx, &nums("grad_x"), tol);
    }
}
