//! Unit tests: every op against numbers worked out by hand (in the comments),
//! for `f32` and `f64`, through the [`Backend`] interface.

use microprop_hal::{op, Activation, Backend, Error as _, ErrorKind, LossKind, Op, OpError, Span};

use crate::{CpuBackend, CpuError, Float};

/// Relative-or-absolute tolerance for comparing with hand-derived values.
/// Transcendental results in `f32` with `fast-math` get the approximation
/// tolerance.
fn tol<E: Float>() -> f64 {
    if E::BYTES == 8 {
        1e-12
    } else if cfg!(feature = "fast-math") {
        3e-3
    } else {
        4e-6
    }
}

fn v<E: Float>(x: &[f64]) -> Vec<E> {
    x.iter().map(|&x| E::from_f64(x)).collect()
}

fn s(offset: usize, len: usize) -> Span {
    Span::new(offset, len)
}

#[track_caller]
fn close<E: Float>(got: &[E], want: &[f64]) {
    close_tol(got, want, tol::<E>());
}

#[track_caller]
fn close_tol<E: Float>(got: &[E], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let g = g.to_f64();
        assert!(
            (g - w).abs() <= tol * w.abs().max(1.0),
            "element {i}: got {g}, want {w} ({} tol {tol})",
            E::NAME
        );
    }
}

#[track_caller]
fn exec<E: Float>(arena: &mut [E], op: Op<E>) {
    CpuBackend::new(arena).execute(&op).expect("op is valid");
}

/// Stamp each generic test function out for `f32` and `f64`.
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn f32() {
                    super::$name::<f32>()
                }
                #[test]
                fn f64() {
                    super::$name::<f64>()
                }
            }
        )*
    };
}

both!(
    fill_copy_axpy,
    sum_squares,
    gemm_all_transposes,
    gemm_alpha_beta,
    bias_add_and_grad,
    activations_forward,
    activations_backward,
    activations_in_place,
    activations_extreme_inputs,
    softmax_rows,
    softmax_backward,
    maxout,
    loss_mse,
    loss_cross_entropy,
    loss_cross_entropy_extreme_logits,
    loss_hinge_cs231n,
    loss_invalid_labels_contribute_nothing,
    count_correct,
    sgd_step,
    momentum_two_steps,
    adam_first_step,
    perceptron_epoch,
    perceptron_errors,
    every_op_rejects_spans_past_the_arena,
    partial_overlap_is_rejected,
    upload_download_bounds,
);

fn fill_copy_axpy<E: Float>() {
    let mut a = v::<E>(&[1.0, 2.0, 3.0, 0.0, 0.0, 0.0]);
    exec(
        &mut a,
        Op::Fill(op::Fill {
            dst: s(3, 3),
            value: E::from_f64(0.5),
        }),
    );
    close(&a, &[1.0, 2.0, 3.0, 0.5, 0.5, 0.5]);
    // y = [0.5, 0.5, 0.5] + 2 · [1, 2, 3] = [2.5, 4.5, 6.5]
    exec(
        &mut a,
        Op::Axpy(op::Axpy {
            x: s(0, 3),
            y: s(3, 3),
            alpha: E::from_f64(2.0),
        }),
    );
    close(&a, &[1.0, 2.0, 3.0, 2.5, 4.5, 6.5]);
    exec(
        &mut a,
        Op::Copy(op::Copy {
            src: s(3, 3),
            dst: s(0, 3),
        }),
    );
    close(&a, &[2.5, 4.5, 6.5, 2.5, 4.5, 6.5]);
    // Copy onto itself is allowed and changes nothing.
    exec(
        &mut a,
        Op::Copy(op::Copy {
            src: s(0, 3),
            dst: s(0, 3),
        }),
    );
    close(&a, &[2.5, 4.5, 6.5, 2.5, 4.5, 6.5]);
}

fn sum_squares<E: Float>() {
    // 0.5 · (1 + 4 + 9) = 7; then accumulate: 7 + 7 = 14.
    let mut a = v::<E>(&[1.0, -2.0, 3.0, 100.0]);
    let op = |accumulate| {
        Op::SumSquares(op::SumSquares {
            x: s(0, 3),
            out: s(3, 1),
            scale: E::from_f64(0.5),
            accumulate,
        })
    };
    exec(&mut a, op(false));
    close(&a[3..], &[7.0]);
    exec(&mut a, op(true));
    close(&a[3..], &[14.0]);
}

// A (2×4) = [[1,2,3,4],[5,6,7,8]], B (4×3) = [[1,0,2],[0,1,-1],[1,1,0],[2,0,1]]
// C = A·B:
//   c00 = 1+0+3+8 = 12, c01 = 0+2+3+0 = 5,  c02 = 2-2+0+4 = 4
//   c10 = 5+0+7+16 = 28, c11 = 0+6+7+0 = 13, c12 = 10-6+0+8 = 12
const GEMM_A: [f64; 8] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
// Aᵀ stored 4×2.
const GEMM_AT: [f64; 8] = [1.0, 5.0, 2.0, 6.0, 3.0, 7.0, 4.0, 8.0];
const GEMM_B: [f64; 12] = [1.0, 0.0, 2.0, 0.0, 1.0, -1.0, 1.0, 1.0, 0.0, 2.0, 0.0, 1.0];
// Bᵀ stored 3×4.
const GEMM_BT: [f64; 12] = [1.0, 0.0, 1.0, 2.0, 0.0, 1.0, 1.0, 0.0, 2.0, -1.0, 0.0, 1.0];
const GEMM_C: [f64; 6] = [12.0, 5.0, 4.0, 28.0, 13.0, 12.0];

fn gemm_op<E: Float>(trans_a: bool, trans_b: bool, alpha: f64, beta: f64) -> Op<E> {
    Op::Gemm(op::Gemm {
        m: 2,
        n: 3,
        k: 4,
        a: s(0, 8),
        trans_a,
        b: s(8, 12),
        trans_b,
        c: s(20, 6),
        alpha: E::from_f64(alpha),
        beta: E::from_f64(beta),
    })
}

fn gemm_arena<E: Float>(trans_a: bool, trans_b: bool, c: f64) -> Vec<E> {
    let mut a = Vec::new();
    a.extend(v::<E>(if trans_a { &GEMM_AT } else { &GEMM_A }));
    a.extend(v::<E>(if trans_b { &GEMM_BT } else { &GEMM_B }));
    a.extend(v::<E>(&[c; 6]));
    a
}

fn gemm_all_transposes<E: Float>() {
    for ta in [false, true] {
        for tb in [false, true] {
            // beta == 0: old C (NaN) is ignored.
            let mut a = gemm_arena::<E>(ta, tb, f64::NAN);
            exec(&mut a, gemm_op(ta, tb, 1.0, 0.0));
            close(&a[20..], &GEMM_C);
        }
    }
}

fn gemm_alpha_beta<E: Float>() {
    // C = 2 · A·B + 0.5 · 1 = [24.5, 10.5, 8.5, 56.5, 26.5, 24.5]
    for ta in [false, true] {
        for tb in [false, true] {
            let mut a = gemm_arena::<E>(ta, tb, 1.0);
            exec(&mut a, gemm_op(ta, tb, 2.0, 0.5));
            close(&a[20..], &[24.5, 10.5, 8.5, 56.5, 26.5, 24.5]);
        }
    }
    // k == 0: op(A)·op(B) is the zero matrix, C = beta · C = [3; 2].
    let mut a = v::<E>(&[6.0, 6.0]);
    exec(
        &mut a,
        Op::Gemm(op::Gemm {
            m: 1,
            n: 2,
            k: 0,
            a: s(0, 0),
            trans_a: false,
            b: s(0, 0),
            trans_b: false,
            c: s(0, 2),
            alpha: E::ONE,
            beta: E::from_f64(0.5),
        }),
    );
    close(&a, &[3.0, 3.0]);
}

fn bias_add_and_grad<E: Float>() {
    // out = [[1,2,3],[4,5,6]] + [10,20,30] = [[11,22,33],[14,25,36]]
    let mut a = v::<E>(&[10.0, 20.0, 30.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    exec(
        &mut a,
        Op::BiasAdd(op::BiasAdd {
            bias: s(0, 3),
            out: s(3, 6),
            rows: 2,
            cols: 3,
        }),
    );
    close(&a[3..], &[11.0, 22.0, 33.0, 14.0, 25.0, 36.0]);
    // dbias = [10,20,30] + column sums [25, 47, 69] = [35, 67, 99]
    exec(
        &mut a,
        Op::BiasGrad(op::BiasGrad {
            dout: s(3, 6),
            dbias: s(0, 3),
            rows: 2,
            cols: 3,
        }),
    );
    close(&a[..3], &[35.0, 67.0, 99.0]);
}

const XS: [f64; 3] = [-2.0, 0.0, 1.5];

/// `(activation, f(XS), f'(XS))`, by hand:
/// σ(-2) = 1/(1+e²) = 0.119203, σ(0) = 0.5, σ(1.5) = 0.817574; σ' = σ(1-σ).
/// tanh(-2) = -0.964028, tanh(1.5) = 0.905148; tanh' = 1 - tanh².
/// ELU(α=1): e^-2 - 1 = -0.864665; f'(x ≤ 0) = y + α, so f'(0) = 1.
/// softplus: ln(1+e^-2) = 0.126928, ln 2 = 0.693147, ln(1+e^1.5) = 1.701413;
/// softplus' = σ.
fn activation_table<E: Float>() -> Vec<(Activation<E>, [f64; 3], [f64; 3])> {
    let sig = [0.11920292202211755, 0.5, 0.8175744761936437];
    vec![
        (Activation::Identity, XS, [1.0, 1.0, 1.0]),
        (
            Activation::Sigmoid,
            sig,
            [0.1049935854035065, 0.25, 0.14914645207033286],
        ),
        (
            Activation::Tanh,
            [-0.9640275800758169, 0.0, 0.9051482536448664],
            [0.07065082485316443, 1.0, 0.18070663892364858],
        ),
        (Activation::Relu, [0.0, 0.0, 1.5], [0.0, 0.0, 1.0]),
        (
            Activation::LeakyRelu {
                slope: E::from_f64(0.1),
            },
            [-0.2, 0.0, 1.5],
            [0.1, 0.1, 1.0],
        ),
        (
            Activation::Elu {
                alpha: E::from_f64(1.0),
            },
            [-0.8646647167633873, 0.0, 1.5],
            [0.1353352832366127, 1.0, 1.0],
        ),
        (
            Activation::Softplus,
            [
                0.1269280110429725,
                core::f64::consts::LN_2,
                1.7014132779827524,
            ],
            sig,
        ),
    ]
}

fn activations_forward<E: Float>() {
    for (act, y, _) in activation_table::<E>() {
        let mut a = v::<E>(&[XS[0], XS[1], XS[2], 9.0, 9.0, 9.0]);
        exec(
            &mut a,
            Op::Activate(op::Activate {
                act,
                x: s(0, 3),
                y: s(3, 3),
            }),
        );
        close(&a[..3], &XS);
        close(&a[3..], &y);
    }
}

fn activations_backward<E: Float>() {
    // dx = f'(x) · dy with dy = [1, 2, -3].
    let dy = [1.0, 2.0, -3.0];
    for (act, y, d) in activation_table::<E>() {
        let want: Vec<f64> = d.iter().zip(dy).map(|(d, g)| d * g).collect();
        let mut arena = Vec::new();
        arena.extend(v::<E>(&XS));
        arena.extend(v::<E>(&y));
        arena.extend(v::<E>(&dy));
        arena.extend(v::<E>(&[f64::NAN; 3]));
        // Out of place: dx is separate (its NaN contents are overwritten).
        exec(
            &mut arena,
            Op::ActivateBackward(op::ActivateBackward {
                act,
                x: s(0, 3),
                y: s(3, 3),
                dy: s(6, 3),
                dx: s(9, 3),
            }),
        );
        close(&arena[9..], &want);
        // In place: dx == dy.
        exec(
            &mut arena,
            Op::ActivateBackward(op::ActivateBackward {
                act,
                x: s(0, 3),
                y: s(3, 3),
                dy: s(6, 3),
                dx: s(6, 3),
            }),
        );
        close(&arena[6..9], &want);
    }
}

fn activations_in_place<E: Float>() {
    for (act, y, _) in activation_table::<E>() {
        let mut a = v::<E>(&XS);
        exec(
            &mut a,
            Op::Activate(op::Activate {
                act,
                x: s(0, 3),
                y: s(0, 3),
            }),
        );
        close(&a, &y);
    }
}

fn activations_extreme_inputs<E: Float>() {
    // σ(-1000) = 0 (not NaN), σ(1000) = 1; softplus(1000) = 1000,
    // softplus(-1000) = 0; tanh(±1000) = ±1; ELU(-1000) = -α.
    let xs = [-1000.0, 1000.0];
    let cases: [(Activation<E>, [f64; 2]); 4] = [
        (Activation::Sigmoid, [0.0, 1.0]),
        (Activation::Softplus, [0.0, 1000.0]),
        (Activation::Tanh, [-1.0, 1.0]),
        (
            Activation::Elu {
                alpha: E::from_f64(1.0),
            },
            [-1.0, 1000.0],
        ),
    ];
    for (act, want) in cases {
        let mut a = v::<E>(&xs);
        exec(
            &mut a,
            Op::Activate(op::Activate {
                act,
                x: s(0, 2),
                y: s(0, 2),
            }),
        );
        close(&a, &want);
    }
}

fn softmax_rows<E: Float>() {
    // softmax([1,2,3]) = [e, e², e³] / (e + e² + e³)
    //                  = [0.090031, 0.244728, 0.665241];
    // softmax([1000, 1000, 1000]) = [1/3; 3] (the max is subtracted first);
    // softmax([-1000, 0, 1000]) = [0, 0, 1].
    let x = [1.0, 2.0, 3.0, 1000.0, 1000.0, 1000.0, -1000.0, 0.0, 1000.0];
    let third = 1.0 / 3.0;
    let want = [
        0.09003057317038046,
        0.24472847105479767,
        0.6652409557748219,
        third,
        third,
        third,
        0.0,
        0.0,
        1.0,
    ];
    let mut a = v::<E>(&x);
    a.extend(v::<E>(&[f64::NAN; 9]));
    exec(
        &mut a,
        Op::Softmax(op::Softmax {
            x: s(0, 9),
            y: s(9, 9),
            rows: 3,
            cols: 3,
        }),
    );
    close(&a[9..], &want);
    exec(
        &mut a,
        Op::Softmax(op::Softmax {
            x: s(0, 9),
            y: s(0, 9),
            rows: 3,
            cols: 3,
        }),
    );
    close(&a[..9], &want);
}

fn softmax_backward<E: Float>() {
    // y = [0.2, 0.3, 0.5], dy = [1, 0, 0]: Σ dy·y = 0.2,
    // dx = y (dy - 0.2) = [0.16, -0.06, -0.1].
    // Row 2: y = [0.5, 0.5], dy = [2, 2]: Σ = 2, dx = [0, 0] (the softmax is
    // shift-invariant, so a uniform upstream gradient has no effect).
    let y = [0.2, 0.3, 0.5, 0.5, 0.5];
    let dy = [1.0, 0.0, 0.0, 2.0, 2.0];
    let mut a = Vec::new();
    a.extend(v::<E>(&[0.2, 0.3, 0.5]));
    a.extend(v::<E>(&[1.0, 0.0, 0.0]));
    a.extend(v::<E>(&[9.0; 3]));
    exec(
        &mut a,
        Op::SoftmaxBackward(op::SoftmaxBackward {
            y: s(0, 3),
            dy: s(3, 3),
            dx: s(6, 3),
            rows: 1,
            cols: 3,
        }),
    );
    close(&a[6..], &[0.16, -0.06, -0.1]);
    // In place: dx == dy.
    let mut b = v::<E>(&y[3..]);
    b.extend(v::<E>(&dy[3..]));
    exec(
        &mut b,
        Op::SoftmaxBackward(op::SoftmaxBackward {
            y: s(0, 2),
            dy: s(2, 2),
            dx: s(2, 2),
            rows: 1,
            cols: 2,
        }),
    );
    close(&b[2..], &[0.0, 0.0]);
    // Two rows at once, in place: [[0.2,0.3,0.5] with dy [1,0,0]] twice.
    let mut c = v::<E>(&[0.2, 0.3, 0.5, 0.2, 0.3, 0.5]);
    c.extend(v::<E>(&[1.0, 0.0, 0.0, 1.0, 0.0, 0.0]));
    exec(
        &mut c,
        Op::SoftmaxBackward(op::SoftmaxBackward {
            y: s(0, 6),
            dy: s(6, 6),
            dx: s(6, 6),
            rows: 2,
            cols: 3,
        }),
    );
    close(&c[6..], &[0.16, -0.06, -0.1, 0.16, -0.06, -0.1]);
}

fn maxout<E: Float>() {
    // 2 rows, 2 units, k = 3 pieces each:
    // row 0: unit 0 pieces [1, 3, 3] -> max 3 at j = 1 (the tie goes to the
    //        first), unit 1 pieces [-1, -2, -0.5] -> -0.5 at j = 2;
    // row 1: unit 0 [7, 7, 7] -> 7 at j = 0, unit 1 [0, 5, 1] -> 5 at j = 1.
    let x = [
        1.0, 3.0, 3.0, -1.0, -2.0, -0.5, 7.0, 7.0, 7.0, 0.0, 5.0, 1.0,
    ];
    let mut a = v::<E>(&x);
    a.extend(v::<E>(&[0.0; 4]));
    exec(
        &mut a,
        Op::Maxout(op::Maxout {
            x: s(0, 12),
            y: s(12, 4),
            rows: 2,
            units: 2,
            k: 3,
        }),
    );
    close(&a[12..], &[3.0, -0.5, 7.0, 5.0]);
    // Backward with dy = [10, 20, 30, 40]: the gradient goes to the first
    // maximal piece only.
    let mut b = v::<E>(&x);
    b.extend(v::<E>(&[10.0, 20.0, 30.0, 40.0]));
    b.extend(v::<E>(&[f64::NAN; 12]));
    exec(
        &mut b,
        Op::MaxoutBackward(op::MaxoutBackward {
            x: s(0, 12),
            dy: s(12, 4),
            dx: s(16, 12),
            rows: 2,
            units: 2,
            k: 3,
        }),
    );
    close(
        &b[16..],
        &[
            0.0, 10.0, 0.0, 0.0, 0.0, 20.0, 30.0, 0.0, 0.0, 0.0, 40.0, 0.0,
        ],
    );
}

fn loss_op<E: Float>(
    kind: LossKind<E>,
    rows: usize,
    cols: usize,
    tlen: usize,
    grad: bool,
) -> Op<E> {
    let n = rows * cols;
    Op::Loss(op::Loss {
        kind,
        pred: s(0, n),
        target: s(n, tlen),
        rows,
        cols,
        out: s(n + tlen, 1),
        grad: grad.then(|| s(n + tlen + 1, n)),
        scratch: Span::default(),
    })
}

/// Run a loss op with its scratch appended past the arena (and dropped
/// again, so the arena's slices keep their meaning).
fn exec_loss<E: Float>(a: &mut Vec<E>, mut op: Op<E>) {
    let n = a.len();
    if let Op::Loss(l) = &mut op {
        l.scratch = s(n, op::Loss::scratch_len(&l.kind, l.cols));
        a.resize(n + l.scratch.len, E::from_f64(f64::NAN));
    }
    exec(a, op);
    a.truncate(n);
}

/// Arena `pred ++ target ++ [out] ++ grad` (out and grad start as NaN).
fn loss_arena<E: Float>(pred: &[f64], target: &[f64]) -> Vec<E> {
    let mut a = v::<E>(pred);
    a.extend(v::<E>(target));
    a.extend(v::<E>(&vec![f64::NAN; pred.len() + 1]));
    a
}

fn loss_mse<E: Float>() {
    // pred [[1,2],[3,4]], target [[1,0],[3,0]]: diffs [0,2,0,4],
    // L = (0+4+0+16)/4 = 5, dL/dp = 2·diff/4 = [0, 1, 0, 2].
    let mut a = loss_arena::<E>(&[1.0, 2.0, 3.0, 4.0], &[1.0, 0.0, 3.0, 0.0]);
    exec_loss(&mut a, loss_op(LossKind::Mse, 2, 2, 4, true));
    close(&a[8..9], &[5.0]);
    close(&a[9..], &[0.0, 1.0, 0.0, 2.0]);
}

fn loss_cross_entropy<E: Float>() {
    // Row 0: logits [1,2,3], label 2: L0 = logsumexp - 3 = -ln 0.665241
    //        = 0.407606; grad0 = softmax - onehot = [0.090031, 0.244728,
    //        -0.334759].
    // Row 1: logits [0,0,0], label 0: L1 = ln 3 = 1.098612;
    //        grad1 = [1/3 - 1, 1/3, 1/3].
    // Mean: L = (0.407606 + 1.098612) / 2 = 0.753109; grads halved.
    let mut a = loss_arena::<E>(&[1.0, 2.0, 3.0, 0.0, 0.0, 0.0], &[2.0, 0.0]);
    exec_loss(
        &mut a,
        loss_op(LossKind::SoftmaxCrossEntropy, 2, 3, 2, true),
    );
    close(&a[8..9], &[0.753109126556245]);
    let t = 1.0 / 3.0;
    close(
        &a[9..],
        &[
            0.09003057317038046 / 2.0,
            0.24472847105479767 / 2.0,
            (0.6652409557748219 - 1.0) / 2.0,
            (t - 1.0) / 2.0,
            t / 2.0,
            t / 2.0,
        ],
    );
    // Without a gradient span only the loss is written.
    let mut b = loss_arena::<E>(&[1.0, 2.0, 3.0, 0.0, 0.0, 0.0], &[2.0, 0.0]);
    exec_loss(
        &mut b,
        loss_op(LossKind::SoftmaxCrossEntropy, 2, 3, 2, false),
    );
    close(&b[8..9], &[0.753109126556245]);
    assert!(b[9..].iter().all(|g| g.to_f64().is_nan()));
}

fn loss_cross_entropy_extreme_logits<E: Float>() {
    // Logits [1000, -1000], label 1: logsumexp = 1000 + ln(1 + e^-2000)
    // = 1000, L = 1000 - (-1000) = 2000; grad = [1 - 0, 0 - 1] = [1, -1].
    // Row 2: [-1000, 1000], label 1: L = 0, grad [0, 0].
    let mut a = loss_arena::<E>(&[1000.0, -1000.0, -1000.0, 1000.0], &[1.0, 1.0]);
    exec_loss(
        &mut a,
        loss_op(LossKind::SoftmaxCrossEntropy, 2, 2, 2, true),
    );
    assert!(a[6..].iter().all(|x| x.is_finite()));
    close(&a[6..7], &[1000.0]);
    close(&a[7..], &[0.5, -0.5, 0.0, 0.0]);
}

fn loss_hinge_cs231n<E: Float>() {
    // CS231n's example, margin 1, classes (cat, car, frog):
    // cat image  [3.2, 5.1, -1.7], label cat:
    //   max(0, 5.1-3.2+1) + max(0, -1.7-3.2+1) = 2.9 + 0 = 2.9
    // car image  [1.3, 4.9, 2.0], label car:
    //   max(0, 1.3-4.9+1) + max(0, 2.0-4.9+1) = 0
    // frog image [2.2, 2.5, -3.1], label frog:
    //   max(0, 2.2+3.1+1) + max(0, 2.5+3.1+1) = 6.3 + 6.6 = 12.9
    // L = (2.9 + 0 + 12.9) / 3 = 5.266667.
    // grad: +1/3 on each class with positive margin, minus their count on the
    // label: row 0 [-1, 1, 0]/3, row 1 0, row 2 [1, 1, -2]/3.
    let pred = [3.2, 5.1, -1.7, 1.3, 4.9, 2.0, 2.2, 2.5, -3.1];
    let margin = E::ONE;
    // The single-row case first: exactly the lecture's 2.9.
    let mut a = loss_arena::<E>(&pred[..3], &[0.0]);
    exec_loss(&mut a, loss_op(LossKind::Hinge { margin }, 1, 3, 1, true));
    close(&a[4..5], &[2.9]);
    close(&a[5..], &[-1.0, 1.0, 0.0]);

    let mut b = loss_arena::<E>(&pred, &[0.0, 1.0, 2.0]);
    exec_loss(&mut b, loss_op(LossKind::Hinge { margin }, 3, 3, 3, true));
    close(&b[12..13], &[15.8 / 3.0]);
    let t = 1.0 / 3.0;
    close(&b[13..], &[-t, t, 0.0, 0.0, 0.0, 0.0, t, t, -2.0 * t]);
}

fn loss_invalid_labels_contribute_nothing<E: Float>() {
    // Labels 3 (== cols), 0.5, -1 and NaN are not classes: only row 4
    // (label 2, logits [1,2,3]) contributes: L = 0.407606 / 5 (mean over all
    // rows), and only row 4 has a gradient.
    let mut pred = vec![0.0; 12];
    pred.extend([1.0, 2.0, 3.0]);
    let labels = [3.0, 0.5, -1.0, f64::NAN, 2.0];
    for kind in [
        LossKind::SoftmaxCrossEntropy,
        LossKind::Hinge { margin: E::ONE },
    ] {
        let mut a = loss_arena::<E>(&pred, &labels);
        exec_loss(&mut a, loss_op(kind, 5, 3, 5, true));
        assert!(a[21..33].iter().all(|g| *g == E::ZERO), "{kind:?}");
        let want = match kind {
            // Hinge row 4: max(0, 1-3+1) + max(0, 2-3+1) = 0.
            LossKind::Hinge { .. } => 0.0,
            _ => 0.40760596444438013 / 5.0,
        };
        close(&a[20..21], &[want]);
    }
    // count_correct ignores them too.
    let mut c = v::<E>(&[5.0, 0.0, 0.0, 1.0]);
    c.extend(v::<E>(&[0.5, 0.0]));
    exec(
        &mut c,
        Op::CountCorrect(op::CountCorrect {
            pred: s(0, 4),
            target: s(4, 1),
            rows: 1,
            cols: 4,
            out: s(5, 1),
        }),
    );
    close(&c[5..], &[0.0]);
}

fn count_correct<E: Float>() {
    // Rows: [1,3,3] label 1 (first maximum is 1: correct), [5,1,0] label 0
    // (correct), [0,0,0] label 2 (argmax 0: wrong). 10 + 2 = 12.
    let mut a = v::<E>(&[1.0, 3.0, 3.0, 5.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
    a.extend(v::<E>(&[1.0, 0.0, 2.0, 10.0]));
    exec(
        &mut a,
        Op::CountCorrect(op::CountCorrect {
            pred: s(0, 9),
            target: s(9, 3),
            rows: 3,
            cols: 3,
            out: s(12, 1),
        }),
    );
    close(&a[12..], &[12.0]);
}

fn sgd_step<E: Float>() {
    // p = [1, 2] - 0.1 · [10, -20] = [0, 4]
    let mut a = v::<E>(&[1.0, 2.0, 10.0, -20.0]);
    exec(
        &mut a,
        Op::SgdStep(op::SgdStep {
            param: s(0, 2),
            grad: s(2, 2),
            lr: E::from_f64(0.1),
        }),
    );
    close(&a[..2], &[0.0, 4.0]);
}

fn momentum_two_steps<E: Float>() {
    // μ = 0.9, lr = 0.1, g = 2 both steps, p0 = 1, v0 = 0:
    // step 1: v = 0.9·0 + 2 = 2,     p = 1 - 0.1·2 = 0.8
    // step 2: v = 0.9·2 + 2 = 3.8,   p = 0.8 - 0.1·3.8 = 0.42
    let mut a = v::<E>(&[1.0, 2.0, 0.0]);
    let op = Op::MomentumStep(op::MomentumStep {
        param: s(0, 1),
        grad: s(1, 1),
        velocity: s(2, 1),
        lr: E::from_f64(0.1),
        momentum: E::from_f64(0.9),
    });
    exec(&mut a, op);
    close(&a, &[0.8, 2.0, 2.0]);
    exec(&mut a, op);
    close(&a, &[0.42, 2.0, 3.8]);
}

fn adam_first_step<E: Float>() {
    // t = 1: m = (1-β1) g, v = (1-β2) g², bias1 = 1-β1, bias2 = 1-β2, so
    // m̂ = g and v̂ = g²: the step is lr · g / (|g| + ε) ≈ lr · sign(g).
    let (lr, b1, b2, eps) = (0.01, 0.9, 0.999, 1e-8);
    let g = [0.5, -3.0, 1e-3];
    let mut a = v::<E>(&[1.0, -2.0, 0.25]);
    a.extend(v::<E>(&g));
    a.extend(v::<E>(&[0.0; 6]));
    exec(
        &mut a,
        Op::AdamStep(op::AdamStep {
            param: s(0, 3),
            grad: s(3, 3),
            m: s(6, 3),
            v: s(9, 3),
            lr: E::from_f64(lr),
            beta1: E::from_f64(b1),
            beta2: E::from_f64(b2),
            eps: E::from_f64(eps),
            bias1: E::from_f64(1.0 - b1),
            bias2: E::from_f64(1.0 - b2),
        }),
    );
    // Each parameter moved by lr against the sign of its gradient (to 1e-5
    // relative: ε/|g| ≤ 1e-5).
    close_tol(&a[..3], &[1.0 - lr, -2.0 + lr, 0.25 - lr], 1e-6);
    close(&a[6..9], &[0.05, -0.3, 1e-4]);
    close(&a[9..], &[0.00025, 0.009, 1e-9]);
}

fn perceptron_epoch<E: Float>() {
    // cols = 3 (x1, x2, bias input 1), w = 0, stats = 1 (accumulates):
    // r0: x = [1, 2, 1],   y = +1: s = 0, y·s = 0 ≤ 0 -> mistake,
    //     w = [1, 2, 1];          average = [1, 2, 1]
    // r1: x = [2, -1, 1],  y = -1: s = 2 - 2 + 1 = 1, y·s = -1 -> mistake,
    //     w = [1-2, 2+1, 1-1] = [-1, 3, 0]; average = [0, 5, 1]
    // r2: x = [-1, -1, 1], y = -1: s = 1 - 3 + 0 = -2, y·s = 2 > 0 -> correct;
    //     average = [-1, 8, 1]
    // mistakes 2, stats = 1 + 2 = 3.
    let mut a = v::<E>(&[0.0, 0.0, 0.0]);
    a.extend(v::<E>(&[1.0, 2.0, 1.0, 2.0, -1.0, 1.0, -1.0, -1.0, 1.0]));
    a.extend(v::<E>(&[1.0, -1.0, -1.0]));
    a.extend(v::<E>(&[0.0, 0.0, 0.0, 1.0]));
    a.extend(v::<E>(&[f64::NAN; op::PERCEPTRON_SCRATCH]));
    let op = |average| {
        Op::PerceptronEpoch(op::PerceptronEpoch {
            weights: s(0, 3),
            samples: s(3, 9),
            labels: s(12, 3),
            rows: 3,
            cols: 3,
            average,
            stats: s(18, 1),
            scratch: s(19, op::PERCEPTRON_SCRATCH),
        })
    };
    exec(&mut a, op(Some(s(15, 3))));
    close(&a[..3], &[-1.0, 3.0, 0.0]);
    close(&a[15..18], &[-1.0, 8.0, 1.0]);
    close(&a[18..19], &[3.0]);
    // A second epoch from w = [-1, 3, 0] makes no mistake (all y·s > 0:
    // 5, 5, 2), without an average span.
    exec(&mut a, op(None));
    close(&a[..3], &[-1.0, 3.0, 0.0]);
    close(&a[15..18], &[-1.0, 8.0, 1.0]);
    close(&a[18..19], &[3.0]);
}

fn perceptron_errors<E: Float>() {
    // Same samples. w = [-1,3,0]: y·s = 5, 5, 2 -> 0 errors.
    // w = [0,0,0]: every y·s = 0 ≤ 0 -> 3 errors.
    // w = [1,0,0]: y·s = 1, -2, 1 -> 1 error.
    for (w, want) in [
        ([-1.0, 3.0, 0.0], 0.0),
        ([0.0, 0.0, 0.0], 3.0),
        ([1.0, 0.0, 0.0], 1.0),
    ] {
        let mut a = v::<E>(&w);
        a.extend(v::<E>(&[1.0, 2.0, 1.0, 2.0, -1.0, 1.0, -1.0, -1.0, 1.0]));
        a.extend(v::<E>(&[1.0, -1.0, -1.0, 42.0]));
        a.extend(v::<E>(&[f64::NAN; op::PERCEPTRON_SCRATCH]));
        exec(
            &mut a,
            Op::PerceptronErrors(op::PerceptronErrors {
                weights: s(0, 3),
                samples: s(3, 9),
                labels: s(12, 3),
                rows: 3,
                cols: 3,
                out: s(15, 1),
                scratch: s(16, op::PERCEPTRON_SCRATCH),
            }),
        );
        close(&a[15..16], &[want]);
    }
}

/// One valid instance of every op (and of every in-place form); each reaches
/// element 33 of the arena.
fn all_ops<E: Float>() -> Vec<Op<E>> {
    let f = E::from_f64;
    vec![
        Op::Fill(op::Fill {
            dst: s(30, 4),
            value: f(1.0),
        }),
        Op::Copy(op::Copy {
            src: s(0, 4),
            dst: s(30, 4),
        }),
        Op::Copy(op::Copy {
            src: s(30, 4),
            dst: s(30, 4),
        }),
        Op::Axpy(op::Axpy {
            x: s(0, 4),
            y: s(30, 4),
            alpha: f(2.0),
        }),
        Op::SumSquares(op::SumSquares {
            x: s(0, 4),
            out: s(33, 1),
            scale: f(1.0),
            accumulate: true,
        }),
        Op::Gemm(op::Gemm {
            m: 2,
            n: 3,
            k: 4,
            a: s(0, 8),
            trans_a: false,
            b: s(8, 12),
            trans_b: true,
            c: s(28, 6),
            alpha: f(1.0),
            beta: f(0.5),
        }),
        Op::BiasAdd(op::BiasAdd {
            bias: s(0, 3),
            out: s(28, 6),
            rows: 2,
            cols: 3,
        }),
        Op::BiasGrad(op::BiasGrad {
            dout: s(0, 6),
            dbias: s(31, 3),
            rows: 2,
            cols: 3,
        }),
        Op::Activate(op::Activate {
            act: Activation::Tanh,
            x: s(0, 6),
            y: s(28, 6),
        }),
        Op::Activate(op::Activate {
            act: Activation::Softplus,
            x: s(28, 6),
            y: s(28, 6),
        }),
        Op::ActivateBackward(op::ActivateBackward {
            act: Activation::Sigmoid,
            x: s(0, 6),
            y: s(6, 6),
            dy: s(12, 6),
            dx: s(28, 6),
        }),
        Op::ActivateBackward(op::ActivateBackward {
            act: Activation::Elu { alpha: f(1.0) },
            x: s(0, 6),
            y: s(6, 6),
            dy: s(28, 6),
            dx: s(28, 6),
        }),
        Op::Softmax(op::Softmax {
            x: s(0, 6),
            y: s(28, 6),
            rows: 2,
            cols: 3,
        }),
        Op::Softmax(op::Softmax {
            x: s(28, 6),
            y: s(28, 6),
            rows: 2,
            cols: 3,
        }),
        Op::SoftmaxBackward(op::SoftmaxBackward {
            y: s(0, 6),
            dy: s(6, 6),
            dx: s(28, 6),
            rows: 2,
            cols: 3,
        }),
        Op::SoftmaxBackward(op::SoftmaxBackward {
            y: s(0, 6),
            dy: s(28, 6),
            dx: s(28, 6),
            rows: 2,
            cols: 3,
        }),
        Op::Maxout(op::Maxout {
            x: s(0, 6),
            y: s(31, 3),
            rows: 1,
            units: 3,
            k: 2,
        }),
        Op::MaxoutBackward(op::MaxoutBackward {
            x: s(0, 6),
            dy: s(6, 3),
            dx: s(28, 6),
            rows: 1,
            units: 3,
            k: 2,
        }),
        Op::Loss(op::Loss {
            kind: LossKind::Mse,
            pred: s(0, 6),
            target: s(6, 6),
            rows: 2,
            cols: 3,
            out: s(33, 1),
            grad: Some(s(27, 6)),
            scratch: s(12, 3),
        }),
        Op::Loss(op::Loss {
            kind: LossKind::SoftmaxCrossEntropy,
            pred: s(0, 6),
            target: s(20, 2),
            rows: 2,
            cols: 3,
            out: s(33, 1),
            grad: Some(s(27, 6)),
            scratch: s(6, 10),
        }),
        Op::Loss(op::Loss {
            kind: LossKind::Hinge { margin: f(1.0) },
            pred: s(0, 6),
            target: s(20, 2),
            rows: 2,
            cols: 3,
            out: s(33, 1),
            grad: None,
            scratch: s(6, 14),
        }),
        Op::CountCorrect(op::CountCorrect {
            pred: s(0, 6),
            target: s(6, 2),
            rows: 2,
            cols: 3,
            out: s(33, 1),
        }),
        Op::SgdStep(op::SgdStep {
            param: s(30, 4),
            grad: s(0, 4),
            lr: f(0.1),
        }),
        Op::MomentumStep(op::MomentumStep {
            param: s(26, 4),
            grad: s(0, 4),
            velocity: s(30, 4),
            lr: f(0.1),
            momentum: f(0.9),
        }),
        Op::AdamStep(op::AdamStep {
            param: s(22, 4),
            grad: s(0, 4),
            m: s(26, 4),
            v: s(30, 4),
            lr: f(0.001),
            beta1: f(0.9),
            beta2: f(0.999),
            eps: f(1e-8),
            bias1: f(0.1),
            bias2: f(0.001),
        }),
        Op::PerceptronEpoch(op::PerceptronEpoch {
            weights: s(24, 3),
            samples: s(0, 6),
            labels: s(6, 2),
            rows: 2,
            cols: 3,
            average: Some(s(28, 3)),
            stats: s(33, 1),
            scratch: s(8, 6),
        }),
        Op::PerceptronErrors(op::PerceptronErrors {
            weights: s(0, 3),
            samples: s(3, 6),
            labels: s(9, 2),
            out: s(33, 1),
            rows: 2,
            cols: 3,
            scratch: s(11, 6),
        }),
    ]
}

fn every_op_rejects_spans_past_the_arena<E: Float>() {
    let ops = all_ops::<E>();
    // Every op variant is covered.
    let mut names: Vec<&str> = ops.iter().map(|o| o.name()).collect();
    names.dedup();
    assert_eq!(names.len(), 20);
    for op in ops {
        for len in 0..=40 {
            let init: Vec<E> = (0..len)
                .map(|i| E::from_f64(0.25 * i as f64 - 3.0))
                .collect();
            let mut arena = init.clone();
            let r = CpuBackend::new(&mut arena).execute(&op);
            if len < 34 {
                let e = r.expect_err("span past the arena");
                assert_eq!(e.kind(), ErrorKind::OutOfBounds, "{op:?} on {len}: {e}");
                assert!(matches!(e, CpuError::Op(OpError::OutOfBounds { .. })));
                // Nothing was written.
                assert_eq!(arena, init, "{}", op.name());
            } else {
                r.unwrap_or_else(|e| panic!("{op:?} on {len}: {e}"));
            }
        }
    }
}

fn partial_overlap_is_rejected<E: Float>() {
    let mut arena = v::<E>(&[0.0; 16]);
    let mut cpu = CpuBackend::new(&mut arena);
    let bad = [
        Op::Activate(op::Activate {
            act: Activation::Relu,
            x: s(0, 4),
            y: s(2, 4),
        }),
        Op::Gemm(op::Gemm {
            m: 2,
            n: 2,
            k: 2,
            a: s(0, 4),
            trans_a: false,
            b: s(4, 4),
            trans_b: false,
            c: s(4, 4),
            alpha: E::ONE,
            beta: E::ZERO,
        }),
        Op::Loss(op::Loss {
            kind: LossKind::Mse,
            pred: s(0, 4),
            target: s(4, 4),
            rows: 2,
            cols: 2,
            out: s(8, 1),
            grad: Some(s(8, 4)),
            scratch: s(12, 2),
        }),
    ];
    for op in bad {
        let e = cpu.execute(&op).expect_err("overlap");
        assert_eq!(e.kind(), ErrorKind::Shape);
    }
    // Shape mismatch.
    let e = cpu
        .execute(&Op::BiasAdd(op::BiasAdd {
            bias: s(0, 2),
            out: s(4, 6),
            rows: 2,
            cols: 3,
        }))
        .expect_err("shape");
    assert_eq!(e.kind(), ErrorKind::Shape);
    assert!(cpu.arena().iter().all(|x| *x == E::ZERO));
}

fn upload_download_bounds<E: Float>() {
    let mut arena = v::<E>(&[0.0; 4]);
    let mut cpu = CpuBackend::new(&mut arena);
    cpu.upload(1, &v::<E>(&[1.0, 2.0, 3.0])).expect("fits");
    let mut out = v::<E>(&[0.0; 2]);
    cpu.download(2, &mut out).expect("fits");
    close(&out, &[2.0, 3.0]);
    assert_eq!(
        cpu.upload(2, &v::<E>(&[1.0, 2.0, 3.0])),
        Err(CpuError::OutOfBounds {
            offset: 2,
            len: 3,
            arena_len: 4
        })
    );
    assert!(cpu.download(3, &mut out).is_err());
    assert!(cpu.download(usize::MAX, &mut out).is_err());
    assert!(cpu.upload(usize::MAX, &[E::ONE]).is_err());
    assert!(cpu.upload(4, &[]).is_ok());
    assert_eq!(cpu.arena_len(), 4);
    close(cpu.arena(), &[0.0, 1.0, 2.0, 3.0]);
    let e = cpu.download(3, &mut out).expect_err("oob");
    assert_eq!(e.kind(), ErrorKind::OutOfBounds);
    assert!(!format!("{e}").is_empty());
}

#[test]
fn error_messages_say_what_is_wrong() {
    let e = CpuError::Op(OpError::Shape {
        op: "gemm",
        operand: "c",
        expected: 6,
        got: 5,
    });
    assert_eq!(
        e.to_string(),
        "gemm: operand `c` has 5 elements, the dimensions need 6"
    );
    let e = CpuError::Op(OpError::OutOfBounds {
        span: s(8, 4),
        arena_len: 10,
    });
    assert_eq!(
        e.to_string(),
        "span 8..12 reaches past the arena of 10 elements"
    );
}

#[test]
fn labels_must_be_exact_integers_in_range() {
    use crate::reference::label;
    assert_eq!(label(2.0f32, 3), Some(2));
    assert_eq!(label(0.0f64, 3), Some(0));
    assert_eq!(label(3.0f32, 3), None);
    assert_eq!(label(1.5f32, 3), None);
    assert_eq!(label(-1.0f64, 3), None);
    assert_eq!(label(f32::NAN, 3), None);
    assert_eq!(label(f64::INFINITY, 3), None);
    assert_eq!(label(0.0f32, 0), None);
}

#[test]
fn reference_kernels_reject_mismatched_slices() {
    use crate::reference;
    // A rejected call writes nothing, even where the kernel would copy first.
    let mut dx = [7.0f64; 3];
    let r =
        reference::activate_backward(Activation::Tanh, &[0.0; 2], &[0.0; 3], &[1.0; 3], &mut dx);
    assert!(r.is_err());
    let r = reference::softmax_backward(1, 3, &[0.0; 2], &[1.0; 3], &mut dx);
    assert!(r.is_err());
    assert_eq!(dx, [7.0; 3]);
    let mut c = [0.0f32; 5];
    let r = reference::gemm(
        2, 3, 1, &[1.0; 2], false, &[1.0; 3], false, &mut c, 1.0, 0.0,
    );
    assert!(matches!(r, Err(OpError::Shape { operand: "c", .. })));
    let r = reference::gemm(
        usize::MAX,
        2,
        2,
        &[],
        false,
        &[0.0f32; 4],
        false,
        &mut [],
        1.0,
        0.0,
    );
    assert!(r.is_err());
    let r = reference::loss(LossKind::Mse, 1, 2, &[0.0f64; 2], &[0.0; 1], None);
    assert!(r.is_err());
    // Degenerate dimensions do not panic and write nothing surprising.
    let mut y = [1.0f32; 2];
    assert!(reference::maxout(1, 2, 0, &[], &mut y).is_ok());
    assert_eq!(y, [f32::NEG_INFINITY; 2]);
    assert_eq!(
        reference::loss(LossKind::Mse, 0, 3, &[0.0f32; 0], &[], None),
        Ok(0.0)
    );
    assert_eq!(
        reference::count_correct(2, 0, &[0.0f32; 0], &[0.0; 2]),
        Ok(0)
    );
    assert!(reference::softmax_in_place(7, 0, &mut [0.0f64; 0]).is_ok());
}

/// The f32 math against f64 libm over a grid. With `fast-math` these are the
/// tolerances documented on [`Float`]; without it, libm's f32 functions are
/// checked to be within a few f32 ulps.
#[test]
fn f32_math_within_stated_tolerance() {
    let fast = cfg!(feature = "fast-math");
    let grid =
        |lo: f64, hi: f64, n: usize| (0..=n).map(move |i| lo + (hi - lo) * i as f64 / n as f64);
    let sig = |x: f64| 1.0 / (1.0 + libm::exp(-x));
    let softplus = |x: f64| x.max(0.0) + libm::log1p(libm::exp(-x.abs()));

    // (name, max abs error, max rel error, tolerance, relative?)
    let mut report = Vec::new();
    let mut measure = |name: &str,
                       xs: &mut dyn Iterator<Item = f64>,
                       f: &dyn Fn(f32) -> f32,
                       want: &dyn Fn(f64) -> f64,
                       tol: f64,
                       relative: bool| {
        let (mut abs, mut rel) = (0.0f64, 0.0f64);
        for x in xs {
            let x = x as f32 as f64;
            let g = f(x as f32) as f64;
            let w = want(x);
            let e = (g - w).abs();
            abs = abs.max(e);
            if w != 0.0 {
                rel = rel.max(e / w.abs());
            }
        }
        let err = if relative { rel } else { abs };
        let ok = if err <= tol { "ok" } else { "OVER" };
        report.push((
            err <= tol,
            format!("{name}: max abs {abs:.3e}, max rel {rel:.3e}, tolerance {tol:.0e} {ok}"),
        ));
    };
    let t = |fast_tol: f64, libm_tol: f64| if fast { fast_tol } else { libm_tol };

    measure(
        "sigmoid",
        &mut grid(-20.0, 20.0, 4000),
        &|x: f32| x.sigmoid(),
        &sig,
        t(1e-3, 2e-7),
        false,
    );
    measure(
        "tanh",
        &mut grid(-20.0, 20.0, 4000),
        &|x: f32| Float::tanh(x),
        &libm::tanh,
        t(2e-3, 2e-7),
        false,
    );
    measure(
        "softplus",
        &mut grid(-20.0, 20.0, 4000),
        &|x: f32| x.softplus(),
        &softplus,
        t(1e-3, 1e-6),
        false,
    );
    measure(
        "softplus (relative)",
        &mut grid(-20.0, 20.0, 4000),
        &|x: f32| x.softplus(),
        &softplus,
        t(4e-3, 3e-7),
        true,
    );
    measure(
        "exp",
        &mut grid(-20.0, 20.0, 4000),
        &|x: f32| Float::exp(x),
        &libm::exp,
        t(3e-3, 3e-7),
        true,
    );
    measure(
        "exp_m1",
        &mut grid(-20.0, 0.0, 2000),
        &|x: f32| Float::exp_m1(x),
        &libm::expm1,
        t(2e-3, 2e-7),
        false,
    );
    measure(
        "ln",
        &mut grid(-3.0, 4.0, 2000).map(|p| libm::pow(10.0, p)),
        &|x: f32| Float::ln(x),
        &libm::log,
        t(1e-4, 1e-6),
        false,
    );
    measure(
        "sqrt",
        &mut grid(0.0, 1e6, 4000),
        &|x: f32| Float::sqrt(x),
        &libm::sqrt,
        t(1e-5, 2e-7),
        true,
    );
    for (_, line) in &report {
        println!("{line}");
    }
    assert!(
        report.iter().all(|(ok, _)| *ok),
        "a function is over its tolerance"
    );
}
