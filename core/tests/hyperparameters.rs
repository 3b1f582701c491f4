//! Hyperparameters reach the backend at the network's element precision: an
//! f64 network trains with `lr = 0.01` and `λ = 0.01` exactly (not with the
//! f32 value 0.009999999776…), and an f32 network with the same f32 values
//! as when the hyperparameters were stored as f32.
//!
//! Each test works one step out by hand in f64. The difference between 0.01
//! and its f32 rounding is 2.2e-10 relative, so a tolerance of 1e-15 tells
//! the two apart by five orders of magnitude.

use microprop::{Config, Element, Layer, Loss, Network, Optimizer, Spec, Targets};
use microprop_cpu::CpuBackend;

const TOL: f64 = 1e-15;

fn close(what: &str, got: f64, want: f64) {
    assert!(
        (got - want).abs() <= TOL,
        "{what}: got {got:e}, want {want:e} (off by {:e})",
        got - want
    );
}

/// One dense unit `p = w·x + b`.
const UNIT: Spec = Spec::new(&[Layer::dense(1, 1)]);

/// One SGD step of `p = w·x + b` under MSE with L2, in f64: lr and λ are
/// used exactly.
#[test]
fn f64_sgd_step_uses_lr_and_l2_exactly() {
    let cfg = Config::new(1, Loss::Mse, Optimizer::sgd(0.01)).with_l2(0.01);
    let mut arena = vec![0.0f64; cfg.arena_len(&UNIT)];
    let mut net = Network::new(UNIT, CpuBackend::new(&mut arena), cfg).unwrap();
    let (w, b, x, y) = (0.5f64, 0.25f64, 2.0f64, 1.0f64);
    net.load_parameters(&[w, b]).unwrap();
    let loss = net.train_step(&[x], Targets::Values(&[y])).unwrap();

    let (lr, l2) = (0.01f64, 0.01f64);
    let p = w * x + b; // 1.25
    close("loss", loss, (p - y) * (p - y) + l2 * w * w);
    let dp = 2.0 * (p - y); // MSE over 1 element
    let dw = dp * x + 2.0 * l2 * w;
    let db = dp;
    let mut after = [0.0f64; 2];
    net.parameters(&mut after).unwrap();
    close("w", after[0], w - lr * dw);
    close("b", after[1], b - lr * db);
    // With the f32 rounding of 0.01 the weight would be off by ~2e-10.
    let lr32 = 0.01f32 as f64;
    assert!((after[0] - (w - lr32 * dw)).abs() > 1e-11);
    assert_eq!(net.lr(), 0.01);
}

/// The same step with fused SGD: the decay `1 − 2·lr·λ` is formed from the
/// exact values.
#[test]
fn f64_fused_sgd_step_uses_lr_and_l2_exactly() {
    let cfg = Config::new(1, Loss::Mse, Optimizer::fused_sgd(0.01)).with_l2(0.01);
    let mut arena = vec![0.0f64; cfg.arena_len(&UNIT)];
    let mut net = Network::new(UNIT, CpuBackend::new(&mut arena), cfg).unwrap();
    let (w, b, x, y) = (0.5f64, 0.25f64, 2.0f64, 1.0f64);
    net.load_parameters(&[w, b]).unwrap();
    net.train_step(&[x], Targets::Values(&[y])).unwrap();
    let (lr, l2) = (0.01f64, 0.01f64);
    let dp = 2.0 * (w * x + b - y);
    let mut after = [0.0f64; 2];
    net.parameters(&mut after).unwrap();
    close("w", after[0], (1.0 - 2.0 * lr * l2) * w - lr * dp * x);
    close("b", after[1], b - lr * dp);
}

/// Two momentum steps: the second carries `μ·v`, with μ = 0.9 exactly.
#[test]
fn f64_momentum_uses_mu_exactly() {
    let cfg = Config::new(1, Loss::Mse, Optimizer::momentum(0.01, 0.9));
    let mut arena = vec![0.0f64; cfg.arena_len(&UNIT)];
    let mut net = Network::new(UNIT, CpuBackend::new(&mut arena), cfg).unwrap();
    let (mut w, mut b, x, y) = (0.5f64, 0.25f64, 2.0f64, 1.0f64);
    net.load_parameters(&[w, b]).unwrap();
    let (lr, mu) = (0.01f64, 0.9f64);
    let (mut vw, mut vb) = (0.0f64, 0.0f64);
    for _ in 0..2 {
        net.train_step(&[x], Targets::Values(&[y])).unwrap();
        let dp = 2.0 * (w * x + b - y);
        vw = mu * vw + dp * x;
        vb = mu * vb + dp;
        w -= lr * vw;
        b -= lr * vb;
    }
    let mut after = [0.0f64; 2];
    net.parameters(&mut after).unwrap();
    close("w", after[0], w);
    close("b", after[1], b);
}

/// Leaky slope, ELU α and the hinge margin, in f64, exactly.
#[test]
fn f64_activation_and_margin_parameters_are_exact() {
    const LEAKY: Spec = Spec::new(&[Layer::dense(1, 1), Layer::leaky_relu(0.01)]);
    let cfg = Config::new(1, Loss::Mse, Optimizer::sgd(0.1));
    let mut arena = vec![0.0f64; cfg.arena_len(&LEAKY)];
    let mut net = Network::new(LEAKY, CpuBackend::new(&mut arena), cfg).unwrap();
    net.load_parameters(&[1.0, 0.0]).unwrap();
    let mut out = [0.0f64];
    net.predict(&[-3.0], &mut out).unwrap();
    close("leaky_relu(0.01) at -3", out[0], -0.03);

    const ELU: Spec = Spec::new(&[Layer::dense(1, 1), Layer::elu(0.7)]);
    let mut arena = vec![0.0f64; cfg.arena_len(&ELU)];
    let mut net = Network::new(ELU, CpuBackend::new(&mut arena), cfg).unwrap();
    net.load_parameters(&[1.0, 0.0]).unwrap();
    net.predict(&[-1.0], &mut out).unwrap();
    close("elu(0.7) at -1", out[0], 0.7 * ((-1.0f64).exp() - 1.0));

    // Two equal outputs: each wrong class costs exactly the margin.
    const TWO: Spec = Spec::new(&[Layer::dense(1, 2)]);
    let cfg = Config::new(1, Loss::Hinge { margin: 0.1 }, Optimizer::sgd(0.1));
    let mut arena = vec![0.0f64; cfg.arena_len(&TWO)];
    let mut net = Network::new(TWO, CpuBackend::new(&mut arena), cfg).unwrap();
    net.load_parameters(&[0.0; 4]).unwrap();
    let e = net.evaluate(&[1.0], Targets::Labels(&[0])).unwrap();
    close("hinge margin 0.1", e.loss, 0.1);
}

/// An f32 network gets the f32 values of the literals, as before: the
/// same SGD step in f32 arithmetic by hand, bit for bit.
#[test]
fn f32_sgd_step_uses_the_f32_literals() {
    let cfg = Config::new(1, Loss::Mse, Optimizer::sgd(0.01)).with_l2(0.01);
    let mut arena = vec![0.0f32; cfg.arena_len(&UNIT)];
    let mut net = Network::new(UNIT, CpuBackend::new(&mut arena), cfg).unwrap();
    net.load_parameters(&[0.5, 0.25]).unwrap();
    net.train_step(&[2.0], Targets::Values(&[1.0])).unwrap();
    // All of these are exact in f32 except the products with 0.01f32.
    let (lr, l2) = (0.01f32, 0.01f32);
    let dw = 0.5f32 * 2.0 + (2.0 * l2) * 0.5;
    let mut after = [0.0f32; 2];
    net.parameters(&mut after).unwrap();
    assert_eq!(after[0], 0.5 - lr * dw);
    assert_eq!(after[1], 0.25 - lr * 0.5);
    assert_eq!(<f32 as Element>::from_f64(cfg.optimizer.lr()), 0.01f32);
}
