//! Training in 16-bit fixed point ([`Q10`], `microprop_hal::Fixed`) on the
//! CPU backend.
//!
//! - The kernels against the `f64` reference kernels on the same inputs
//!   (every input is a Q10 value, so both see the same numbers), within
//!   bounds derived from the format: `u = 2^-10` is one step; a rounding to
//!   nearest is within `u/2`, a stochastic one within `u`; `exp`, `ln` and
//!   the activations are within `u + 2^-13 · m` (`m`: the result's
//!   magnitude rounded up to a power of two), as `microprop-cpu` proves for
//!   every input of the format.
//! - Overflow saturates; Adam is refused with a typed error.
//! - Training converges: XOR, and the digits recipe of the `digits-q`
//!   firmware, which prints the same accuracy (the host runs the same Rust
//!   code, bit for bit).

use microprop::{
    Config, Element, Error, Fixed, Layer, Loss, Network, Optimizer, Spec, Targets, Q10,
};
use microprop_cpu::{reference, CpuBackend, Float};
use microprop_hal::{Activation, LossKind};

/// One step of the format.
const U: f64 = 1.0 / 1024.0;

/// The activations' and `exp`/`ln`'s bound for a result of magnitude `v`.
fn fn_bound(v: f64) -> f64 {
    let m = v.abs().max(U);
    U + 2f64.powi(m.log2().ceil() as i32 - 13)
}

/// A deterministic stream of Q10 values in `[-r, r]`.
struct Values(u64);
impl Values {
    fn next(&mut self, r: f64) -> Q10 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let unit = (self.0 >> 11) as f64 / (1u64 << 53) as f64;
        Q10::from_f64((2.0 * unit - 1.0) * r)
    }
}

fn wide(v: &[Q10]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}

#[test]
fn activations_within_the_format_bound() {
    let acts = [
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::Softplus,
        Activation::LeakyRelu { slope: 0.125 },
        Activation::Elu { alpha: 1.0 },
    ];
    for act in acts {
        let aq = act.map(Q10::from_f64);
        // Parameters that are Q10 values (0.125, 1.0): both see the same.
        for raw in (-12 * 1024..12 * 1024).step_by(7) {
            let x = Q10::from_raw(raw as i16);
            let got = reference::activation(aq, x).to_f64();
            let want = reference::activation(act, x.to_f64());
            assert!(
                (got - want).abs() <= fn_bound(want),
                "{act:?}({}) = {got}, f64 {want}",
                x.to_f64()
            );
        }
    }
}

/// Softmax cross-entropy, loss and gradient. With `C` classes, each
/// `e^(v−max)` is within `δ = u + 2^-13` (its magnitude is at most 1) and
/// `e^0 = 1` exactly, so the exact sum `s ≥ 1` is within `Cδ`; each
/// probability `e/s`, rounded to nearest, is then within `(C+1)δ + u/2`,
/// and so is the gradient `(p − onehot)/rows` (one more `u/2` for
/// `rows > 1`). The loss `max + ln s − truth` per row is within `Cδ`
/// (from `s`) plus `ln`'s bound (`ln s ≤ ln C < 4`), and the mean rounds
/// once more.
#[test]
fn softmax_cross_entropy_within_the_derived_bound() {
    let mut vals = Values(0x1234_5678);
    let delta = U + 2f64.powi(-13);
    for (rows, cols) in [(1, 10), (4, 10), (3, 3), (16, 10)] {
        for _ in 0..50 {
            let pred: Vec<Q10> = (0..rows * cols).map(|_| vals.next(6.0)).collect();
            let labels: Vec<usize> = (0..rows).map(|r| (r * 7 + 3) % cols).collect();
            let tq: Vec<Q10> = labels.iter().map(|&l| Q10::from_index(l as u32)).collect();
            let tf: Vec<f64> = labels.iter().map(|&l| f64::from_index(l as u32)).collect();
            let mut gq = vec![Q10::ZERO; rows * cols];
            let mut gf = vec![0.0; rows * cols];
            let (sq, sf) = (LossKind::SoftmaxCrossEntropy, LossKind::SoftmaxCrossEntropy);
            let lq = reference::loss(sq, rows, cols, &pred, &tq, Some(&mut gq)).unwrap();
            let lf = reference::loss(sf, rows, cols, &wide(&pred), &tf, Some(&mut gf)).unwrap();
            let c = cols as f64;
            let g_bound = (c + 1.0) * delta + U / 2.0 + if rows > 1 { U / 2.0 } else { 0.0 };
            for (q, f) in gq.iter().zip(&gf) {
                assert!(
                    (q.to_f64() - f).abs() <= g_bound,
                    "grad {} vs {f}",
                    q.to_f64()
                );
            }
            let l_bound = c * delta + fn_bound(4.0) + U / 2.0;
            assert!(
                (lq.to_f64() - lf).abs() <= l_bound,
                "loss {} vs {lf}, bound {l_bound}",
                lq.to_f64()
            );
        }
    }
}

/// MSE: the sum of squares is exact (an `i64` of exact products), the mean
/// rounds twice (to `2^-20`, then to `u`); each gradient `2(p − t)/n` is
/// exact before one rounding (no saturation for `|p − t| < 16`).
#[test]
fn mse_within_the_derived_bound() {
    let mut vals = Values(99);
    for n in [1usize, 4, 10, 64] {
        let pred: Vec<Q10> = (0..n).map(|_| vals.next(3.0)).collect();
        let target: Vec<Q10> = (0..n).map(|_| vals.next(3.0)).collect();
        let mut gq = vec![Q10::ZERO; n];
        let mut gf = vec![0.0; n];
        let lq = reference::loss(LossKind::Mse, 1, n, &pred, &target, Some(&mut gq)).unwrap();
        let lf = reference::loss(
            LossKind::Mse,
            1,
            n,
            &wide(&pred),
            &wide(&target),
            Some(&mut gf),
        )
        .unwrap();
        assert!(
            (lq.to_f64() - lf).abs() <= U / 2.0 + 2f64.powi(-21),
            "{} vs {lf}",
            lq.to_f64()
        );
        for (q, f) in gq.iter().zip(&gf) {
            assert!((q.to_f64() - f).abs() <= U / 2.0, "{} vs {f}", q.to_f64());
        }
    }
}

/// SGD and momentum: the update `lr · g` rounds stochastically (within one
/// step, either way), the rest is exact; over many parameters the mean
/// error is near zero (unbiased), where rounding to nearest would lose
/// every update below half a step.
#[test]
fn optimizer_steps_round_stochastically_within_one_step() {
    let mut vals = Values(7);
    let n = 4096;
    let lr = Q10::from_f64(0.03);
    let grad: Vec<Q10> = (0..n).map(|_| vals.next(0.02)).collect();
    let param: Vec<Q10> = (0..n).map(|_| vals.next(1.0)).collect();
    let mut pq = param.clone();
    reference::sgd_step(lr, &mut pq, &grad).unwrap();
    let mut sum_err = 0.0;
    for i in 0..n {
        let want = param[i].to_f64() - lr.to_f64() * grad[i].to_f64();
        let err = pq[i].to_f64() - want;
        assert!(err.abs() < U, "sgd {i}: {err}");
        sum_err += err;
    }
    // Each error is a centered variable within one step: the mean of 4096
    // has a standard deviation below u/64.
    assert!(
        (sum_err / n as f64).abs() < U / 16.0,
        "biased: {}",
        sum_err / n as f64
    );
    let mut pm = param.clone();
    let mut v = vec![Q10::ZERO; n];
    let m = Q10::from_f64(0.5);
    reference::momentum_step(lr, m, &mut pm, &grad, &mut v).unwrap();
    for i in 0..n {
        // v = 0.5·0 + g exactly, then p −= lr·v within one step.
        assert_eq!(v[i], grad[i]);
        let want = param[i].to_f64() - lr.to_f64() * grad[i].to_f64();
        assert!((pm[i].to_f64() - want).abs() < U);
    }
}

const XOR: Spec = Spec::new(&[
    Layer::dense(2, 4),
    Layer::tanh(),
    Layer::dense(4, 1),
    Layer::sigmoid(),
]);

/// A sum past the range saturates at its end, never wraps: 64 inputs of
/// 31 times weights of 31 is 61,504, far past 32.
#[test]
fn overflow_saturates() {
    const NET: Spec = Spec::new(&[Layer::dense(64, 2)]);
    let cfg = Config::new(1, Loss::Mse, Optimizer::sgd(0.01));
    let mut arena = vec![Q10::ZERO; cfg.arena_len(&NET)];
    let mut net = Network::new(NET, CpuBackend::new(&mut arena), cfg).unwrap();
    // Weights 31 into output 0, −31 into output 1; biases 0.
    let mut p = vec![Q10::ZERO; NET.param_count()];
    p[..64].fill(Q10::from_f64(31.0));
    p[64..128].fill(Q10::from_f64(-31.0));
    net.load_parameters(&p).unwrap();
    let mut out = [Q10::ZERO; 2];
    net.predict(&[Q10::from_f64(31.0); 64], &mut out).unwrap();
    assert_eq!(out, [Q10::MAX, Q10::MIN]);
}

/// Adam's ε (1e-8) and second moments are below the format's step: the
/// backend leaves it out of its op set, and the network says so.
#[test]
fn adam_is_refused_with_a_typed_error() {
    let cfg = Config::new(4, Loss::Mse, Optimizer::adam(0.01));
    let mut arena = vec![Q10::ZERO; cfg.arena_len(&XOR)];
    match Network::new(XOR, CpuBackend::new(&mut arena), cfg) {
        Err(Error::MissingOp { op }) => assert_eq!(op, "adam_step"),
        other => panic!("{:?}", other.map(|_| ())),
    }
}

/// XOR with the `xor-q` firmware's recipe converges, as in f32.
#[test]
fn xor_converges() {
    let cfg = Config::new(4, Loss::Mse, Optimizer::momentum(0.5, 0.9)).with_seed(1);
    let mut arena = vec![Q10::ZERO; cfg.arena_len(&XOR)];
    let mut net = Network::new(XOR, CpuBackend::new(&mut arena), cfg).unwrap();
    let x = [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0].map(Q10::from_f64);
    let y = [0.0, 1.0, 1.0, 0.0].map(Q10::from_f64);
    let mut steps = 0;
    while net.train_step(&x, Targets::Values(&y)).unwrap().to_f64() >= 0.01 {
        steps += 1;
        assert!(steps < 5000, "no convergence");
    }
    let mut p = [Q10::ZERO; 4];
    net.predict(&x, &mut p).unwrap();
    for (p, y) in p.iter().zip(&y) {
        assert_eq!(p.to_f64() > 0.5, y.to_f64() > 0.5);
    }
    println!("XOR in Q10: loss below 0.01 after {} steps", steps + 1);
}

/// The `digits-q` / `digits-f32` recipe (64-16-10, batch-1 fused SGD 0.02,
/// seed 1, the firmware's visiting order, ten epochs) in both element
/// types: Q10 reaches issue 17's 0.95 on the held-out images.
#[test]
fn digits_from_scratch() {
    let q = digits::<Q10>();
    let f = digits::<f32>();
    println!("digits 64-16-10, 10 epochs: Q10 {q:.4}, f32 {f:.4}");
    assert!(q >= 0.95, "Q10 test accuracy {q}");
}

/// Why 5 integer bits: with 3 (`Fixed<12>`, range ±8) the same recipe
/// diverges. Softmax cross-entropy keeps pushing a confident logit; stuck
/// at the end of the range, it no longer stops the weights behind it from
/// growing, until the outputs saturate.
#[test]
fn three_integer_bits_are_too_few() {
    let q12 = digits::<Fixed<12>>();
    let q10 = digits::<Q10>();
    println!("digits 64-16-10: Fixed<12> {q12:.4}, Q10 {q10:.4}");
    assert!(q12 < 0.5 && q10 >= 0.95, "Fixed<12> {q12}, Q10 {q10}");
}

fn digits<E: Float>() -> f64 {
    const NET: Spec = Spec::new(&[Layer::dense(64, 16), Layer::relu(), Layer::dense(16, 10)]);
    const STRIDES: [usize; 8] = [7, 11, 13, 17, 19, 23, 29, 31];
    let d = microprop_data::Digits::load().unwrap();
    let x: Vec<E> = d
        .pixels
        .iter()
        .map(|&p| E::from_f64(f64::from(p) / 16.0))
        .collect();
    let y = d.labels_usize();
    let n_test = y.len() / 5;
    let n_train = y.len() - n_test;
    let cfg = Config::new(1, Loss::SoftmaxCrossEntropy, Optimizer::fused_sgd(0.02)).with_seed(1);
    let mut arena = vec![E::ZERO; cfg.arena_len(&NET)];
    let mut net = Network::new(NET, CpuBackend::new(&mut arena), cfg).unwrap();
    for epoch in 0..10 {
        let a = STRIDES[epoch % 8];
        for k in 0..n_train {
            let j = (a * k + epoch * 101) % n_train;
            let i = j / 4 * 5 + j % 4;
            net.train_step(&x[i * 64..(i + 1) * 64], Targets::Labels(&[y[i]]))
                .unwrap();
        }
    }
    let test: Vec<usize> = (0..n_test).map(|j| j * 5 + 4).collect();
    let xt: Vec<E> = test
        .iter()
        .flat_map(|&i| x[i * 64..(i + 1) * 64].to_vec())
        .collect();
    let yt: Vec<usize> = test.iter().map(|&i| y[i]).collect();
    net.evaluate(&xt, Targets::Labels(&yt))
        .unwrap()
        .accuracy
        .unwrap()
}
