//! Ops at their edges, against values worked out by hand (in the comments):
//! extreme inputs, in-place forms, the derivative conventions at a kink,
//! labels that are not classes, optional outputs, empty sums, and the
//! perceptron's accumulating counters.

use super::{at, label, run_ops, ArenaBuilder};
use crate::{assert_close, Harness};
use microprop::hal::{op, Activation, LossKind, Op, Span};
use microprop::{Backend, Element};

fn tol<H: Harness>() -> (f64, f64) {
    let t = H::tolerances();
    (t.elementwise, t.reduction)
}

pub fn copy_onto_itself_changes_nothing<H: Harness>() {
    let mut ar = ArenaBuilder::default();
    let x = ar.put(&[2.5, -4.5, 6.5]);
    let op = Op::Copy(op::Copy { src: x, dst: x });
    let Some(r) = run_ops::<H>(&ar.vals, &[op]) else {
        return;
    };
    assert_close("copy onto itself", at(&r, x), &[2.5, -4.5, 6.5], 0.0);
}

pub fn gemm_with_k_zero_scales_c<H: Harness>() {
    // k = 0: op(A)·op(B) is the zero matrix, so C = beta · C = 0.5 · [6, 6].
    let mut ar = ArenaBuilder::default();
    let c = ar.put(&[6.0, 6.0]);
    let op = Op::Gemm(op::Gemm {
        m: 1,
        n: 2,
        k: 0,
        a: c.slice(0, 0),
        trans_a: false,
        b: c.slice(0, 0),
        trans_b: false,
        c,
        alpha: 1.0,
        beta: 0.5,
    });
    let Some(r) = run_ops::<H>(&ar.vals, &[op]) else {
        return;
    };
    assert_close("gemm k = 0", at(&r, c), &[3.0, 3.0], tol::<H>().1);
}

const XS: [f64; 3] = [-2.0, 0.0, 1.5];

/// `(activation, f(XS), f'(XS))`, by hand:
/// σ(-2) = 1/(1+e²) = 0.119203, σ(0) = 0.5, σ(1.5) = 0.817574; σ' = σ(1-σ).
/// tanh(-2) = -0.964028, tanh(1.5) = 0.905148; tanh' = 1 - tanh².
/// ELU(α=1.5): 1.5 (e^-2 - 1) = -1.296997; f'(x ≤ 0) = y + α = α e^x, so
/// f'(-2) = 1.5 e^-2 = 0.203003 and f'(0) = α = 1.5 (the left derivative).
/// softplus: ln(1+e^-2) = 0.126928, ln 2 = 0.693147, ln(1+e^1.5) = 1.701413;
/// softplus' = σ.
/// At the kink x = 0 every piecewise function takes its `x ≤ 0` branch:
/// ReLU' = 0, leaky ReLU' = slope, ELU' = α.
fn activation_table() -> Vec<(Activation<f64>, [f64; 3], [f64; 3])> {
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
            Activation::LeakyRelu { slope: 0.1 },
            [-0.2, 0.0, 1.5],
            [0.1, 0.1, 1.0],
        ),
        (
            Activation::Elu { alpha: 1.5 },
            [-1.296997075145081, 0.0, 1.5],
            [0.20300292485491905, 1.5, 1.0],
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

/// Forward in place (`y` is `x`), backward out of place (over a `dx` of
/// NaN) and in place (`dx` is `dy`), at a kink included.
pub fn activations_in_place_and_at_the_kink_by_hand<H: Harness>() {
    // dx = f'(x) · dy with dy = [1, 2, -3].
    let dys = [1.0, 2.0, -3.0];
    let e = tol::<H>().0;
    for (act, ys, ds) in activation_table() {
        let mut ar = ArenaBuilder::default();
        let xy = ar.put(&XS);
        let x = ar.put(&XS);
        let y = ar.put(&ys);
        let dy = ar.put(&dys);
        let dx = ar.put(&[f64::NAN; 3]);
        let dy_in_place = ar.put(&dys);
        let ops = [
            Op::Activate(op::Activate { act, x: xy, y: xy }),
            Op::ActivateBackward(op::ActivateBackward { act, x, y, dy, dx }),
            Op::ActivateBackward(op::ActivateBackward {
                act,
                x,
                y,
                dy: dy_in_place,
                dx: dy_in_place,
            }),
        ];
        let Some(r) = run_ops::<H>(&ar.vals, &ops) else {
            return;
        };
        let want: Vec<f64> = ds.iter().zip(dys).map(|(d, g)| d * g).collect();
        assert_close(&format!("{act:?} in place"), at(&r, xy), &ys, e);
        assert_close(&format!("{act:?} backward"), at(&r, dx), &want, e);
        assert_close(
            &format!("{act:?} backward in place"),
            at(&r, dy_in_place),
            &want,
            e,
        );
        assert_close(&format!("{act:?} dy unchanged"), at(&r, dy), &dys, 0.0);
    }
}

pub fn activations_at_plus_minus_1000_in_place<H: Harness>() {
    // σ(-1000) = 0 (not NaN), σ(1000) = 1; softplus(1000) = 1000,
    // softplus(-1000) = 0; tanh(±1000) = ±1; ELU(-1000) = -α.
    let cases = [
        (Activation::Sigmoid, [0.0, 1.0]),
        (Activation::Softplus, [0.0, 1000.0]),
        (Activation::Tanh, [-1.0, 1.0]),
        (Activation::Elu { alpha: 1.0 }, [-1.0, 1000.0]),
    ];
    for (act, want) in cases {
        let mut ar = ArenaBuilder::default();
        let x = ar.put(&[-1000.0, 1000.0]);
        let Some(r) = run_ops::<H>(&ar.vals, &[Op::Activate(op::Activate { act, x, y: x })]) else {
            return;
        };
        assert!(at(&r, x).iter().all(|v| v.is_finite()), "{act:?}: {r:?}");
        assert_close(&format!("{act:?} at ±1000"), at(&r, x), &want, tol::<H>().0);
    }
}

pub fn softmax_extreme_rows_and_in_place<H: Harness>() {
    // softmax([1,2,3]) = [e, e², e³] / (e + e² + e³)
    //                  = [0.090031, 0.244728, 0.665241];
    // softmax([1000, 1000, 1000]) = [1/3; 3] (the max is subtracted first);
    // softmax([-1000, 0, 1000]) = [0, 0, 1].
    let xs = [1.0, 2.0, 3.0, 1000.0, 1000.0, 1000.0, -1000.0, 0.0, 1000.0];
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
    let mut ar = ArenaBuilder::default();
    let x = ar.put(&xs);
    let y = ar.put(&[f64::NAN; 9]);
    let xy = ar.put(&xs);
    let ops = [
        Op::Softmax(op::Softmax {
            x,
            y,
            rows: 3,
            cols: 3,
        }),
        Op::Softmax(op::Softmax {
            x: xy,
            y: xy,
            rows: 3,
            cols: 3,
        }),
    ];
    let Some(r) = run_ops::<H>(&ar.vals, &ops) else {
        return;
    };
    let e = tol::<H>().0;
    assert_close("softmax", at(&r, y), &want, e);
    assert_close("softmax in place", at(&r, xy), &want, e);
}

pub fn softmax_backward_in_place_by_hand<H: Harness>() {
    // y = [0.2, 0.3, 0.5], dy = [1, 0, 0]: Σ dy·y = 0.2,
    // dx = y (dy - 0.2) = [0.16, -0.06, -0.1] (out of place, and twice in
    // place as a 2-row batch).
    // y = [0.5, 0.5], dy = [2, 2]: Σ = 2, dx = [0, 0] in place (the softmax
    // is shift-invariant, so a uniform upstream gradient has no effect).
    let mut ar = ArenaBuilder::default();
    let y = ar.put(&[0.2, 0.3, 0.5]);
    let dy = ar.put(&[1.0, 0.0, 0.0]);
    let dx = ar.put(&[9.0; 3]);
    let y2 = ar.put(&[0.2, 0.3, 0.5, 0.2, 0.3, 0.5]);
    let dy2 = ar.put(&[1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
    let yu = ar.put(&[0.5, 0.5]);
    let dyu = ar.put(&[2.0, 2.0]);
    let ops = [
        Op::SoftmaxBackward(op::SoftmaxBackward {
            y,
            dy,
            dx,
            rows: 1,
            cols: 3,
        }),
        Op::SoftmaxBackward(op::SoftmaxBackward {
            y: y2,
            dy: dy2,
            dx: dy2,
            rows: 2,
            cols: 3,
        }),
        Op::SoftmaxBackward(op::SoftmaxBackward {
            y: yu,
            dy: dyu,
            dx: dyu,
            rows: 1,
            cols: 2,
        }),
    ];
    let Some(r) = run_ops::<H>(&ar.vals, &ops) else {
        return;
    };
    let e = tol::<H>().0;
    assert_close("softmax backward", at(&r, dx), &[0.16, -0.06, -0.1], e);
    assert_close(
        "softmax backward in place, 2 rows",
        at(&r, dy2),
        &[0.16, -0.06, -0.1, 0.16, -0.06, -0.1],
        e,
    );
    assert_close("uniform dy in place", at(&r, dyu), &[0.0, 0.0], e);
}

pub fn maxout_two_rows_by_hand<H: Harness>() {
    // 2 rows, 2 units, k = 3 pieces each:
    // row 0: unit 0 pieces [1, 3, 3] -> max 3 at j = 1 (the tie goes to the
    //        first), unit 1 pieces [-1, -2, -0.5] -> -0.5 at j = 2;
    // row 1: unit 0 [7, 7, 7] -> 7 at j = 0, unit 1 [0, 5, 1] -> 5 at j = 1.
    // Backward with dy = [10, 20, 30, 40]: the gradient goes to the first
    // maximal piece only; every other element of dx (NaN before) is 0.
    let mut ar = ArenaBuilder::default();
    let x = ar.put(&[
        1.0, 3.0, 3.0, -1.0, -2.0, -0.5, 7.0, 7.0, 7.0, 0.0, 5.0, 1.0,
    ]);
    let y = ar.put(&[f64::NAN; 4]);
    let dy = ar.put(&[10.0, 20.0, 30.0, 40.0]);
    let dx = ar.put(&[f64::NAN; 12]);
    let ops = [
        Op::Maxout(op::Maxout {
            x,
            y,
            rows: 2,
            units: 2,
            k: 3,
        }),
        Op::MaxoutBackward(op::MaxoutBackward {
            x,
            dy,
            dx,
            rows: 2,
            units: 2,
            k: 3,
        }),
    ];
    let Some(r) = run_ops::<H>(&ar.vals, &ops) else {
        return;
    };
    assert_close("maxout", at(&r, y), &[3.0, -0.5, 7.0, 5.0], 0.0);
    assert_close(
        "maxout backward",
        at(&r, dx),
        &[
            0.0, 10.0, 0.0, 0.0, 0.0, 20.0, 30.0, 0.0, 0.0, 0.0, 40.0, 0.0,
        ],
        0.0,
    );
}

/// Without a gradient span a loss writes its value and nothing else.
pub fn loss_without_grad_writes_only_the_loss<H: Harness>() {
    // MSE: diffs [1, 0, -2, 3]: L = (1 + 0 + 4 + 9) / 4 = 3.5.
    // Cross-entropy: logits [1,2,3] label 2: -ln 0.665241 = 0.407606;
    //   [0,0,0] label 0: ln 3 = 1.098612; mean 0.753109.
    // Hinge (CS231n's cat image, margin 1): 2.9.
    let cases = [
        (
            LossKind::Mse,
            vec![1.0, 2.0, 3.0, 4.0],
            vec![0.0, 2.0, 5.0, 1.0],
            2,
            3.5,
        ),
        (
            LossKind::SoftmaxCrossEntropy,
            vec![1.0, 2.0, 3.0, 0.0, 0.0, 0.0],
            vec![label(2), label(0)],
            3,
            0.753109126556245,
        ),
        (
            LossKind::Hinge { margin: 1.0 },
            vec![3.2, 5.1, -1.7],
            vec![label(0)],
            3,
            2.9,
        ),
    ];
    for (kind, pred, target, cols, want) in cases {
        let rows = pred.len() / cols;
        let mut ar = ArenaBuilder::default();
        let p = ar.put(&pred);
        let t = ar.put(&target);
        let out = ar.put(&[123.0]);
        // Where a gradient span would be: left alone.
        let around = ar.put(&[f64::NAN; 4]);
        let scratch = ar.zeros(op::Loss::scratch_len(&kind, cols));
        let op = Op::Loss(op::Loss {
            kind,
            pred: p,
            target: t,
            rows,
            cols,
            out,
            grad: None,
            scratch,
        });
        let Some(r) = run_ops::<H>(&ar.vals, &[op]) else {
            return;
        };
        let (e, red) = tol::<H>();
        assert_close(&format!("{kind:?}"), at(&r, out), &[want], red);
        assert_close(&format!("{kind:?} pred"), at(&r, p), &pred, e);
        assert_close(&format!("{kind:?} target"), at(&r, t), &target, e);
        assert!(at(&r, around).iter().all(|g| g.is_nan()), "{kind:?}");
    }
}

/// Labels that are not classes (an index `>= cols`, an element value where
/// a label element belongs) contribute neither loss nor gradient nor a
/// correct count.
pub fn invalid_labels_contribute_nothing<H: Harness>() {
    // Indices 3 (== cols), 2^24 + 1 and u32::MAX are not classes, nor is the
    // element value 2.0 (a value is no label element: its bits are no index
    // below 3): only row 4 (label 2, logits [1,2,3]) contributes:
    // L = 0.407606 / 5 (the mean is over all rows), and only row 4 has a
    // gradient.
    let mut pred = vec![0.0; 12];
    pred.extend([1.0, 2.0, 3.0]);
    let labels = [
        label(3),
        label((1 << 24) + 1),
        label(u32::MAX),
        2.0,
        label(2),
    ];
    let (e, red) = tol::<H>();
    for kind in [
        LossKind::SoftmaxCrossEntropy,
        LossKind::Hinge { margin: 1.0 },
    ] {
        let mut ar = ArenaBuilder::default();
        let p = ar.put(&pred);
        let t = ar.put(&labels);
        let out = ar.put(&[f64::NAN]);
        let grad = ar.put(&[f64::NAN; 15]);
        let scratch = ar.zeros(op::Loss::scratch_len(&kind, 3));
        let op = Op::Loss(op::Loss {
            kind,
            pred: p,
            target: t,
            rows: 5,
            cols: 3,
            out,
            grad: Some(grad),
            scratch,
        });
        let Some(r) = run_ops::<H>(&ar.vals, &[op]) else {
            return;
        };
        let g = at(&r, grad);
        assert_close(
            &format!("{kind:?} invalid rows' grad"),
            &g[..12],
            &[0.0; 12],
            0.0,
        );
        let (want, want_g) = match kind {
            // Hinge row 4: max(0, 1-3+1) + max(0, 2-3+1) = 0, gradient 0.
            LossKind::Hinge { .. } => (0.0, [0.0; 3]),
            // softmax([1,2,3]) - onehot(2), over 5 rows.
            _ => (
                0.40760596444438013 / 5.0,
                [
                    0.09003057317038046 / 5.0,
                    0.24472847105479767 / 5.0,
                    (0.6652409557748219 - 1.0) / 5.0,
                ],
            ),
        };
        assert_close(&format!("{kind:?}"), at(&r, out), &[want], red);
        assert_close(&format!("{kind:?} row 4 grad"), &g[12..], &want_g, e);
    }
    // count_correct ignores them too: [5, 0, 0, 1] (arg-max 0) with label 4
    // (== cols) and [0, 5, 0, 0] (arg-max 1) with the element value 1.0 are
    // no hits, and the count (7 before) stays 7.
    let mut ar = ArenaBuilder::default();
    let pred = ar.put(&[5.0, 0.0, 0.0, 1.0, 0.0, 5.0, 0.0, 0.0]);
    let target = ar.put(&[label(4), 1.0]);
    let out = ar.put(&[7.0]);
    let op = Op::CountCorrect(op::CountCorrect {
        pred,
        target,
        rows: 2,
        cols: 4,
        out,
    });
    let Some(r) = run_ops::<H>(&ar.vals, &[op]) else {
        return;
    };
    assert_close("count_correct", at(&r, out), &[7.0], 0.0);
}

/// A label carries its class index in its bits, exact for indices an `f32`
/// value cannot hold: with `2^24 + 2` classes, label `2^24 + 1` (as an f32
/// value it would round to `2^24`) one-hots position `2^24 + 1`. One row of
/// `2^24 + 2` elements (64 MiB in f32). (`count_correct` and the losses read
/// labels as one-hot does; the CPU's unit tests check them at this size,
/// which lavapipe's loop limit of 65535 iterations keeps from the Vulkan
/// shaders' one-invocation-per-row loops here.)
pub fn labels_above_2_pow_24_are_exact<H: Harness>() {
    let big: u32 = (1 << 24) + 1;
    let cols = big as usize + 1;
    let t = Span::new(0, 1);
    let y = Span::new(1, cols);
    let Some(mut b) = H::backend(y.end()) else {
        return;
    };
    b.upload(t.offset, &[H::E::from_index(big)])
        .expect("upload");
    let o = Op::OneHot(op::OneHot {
        labels: t,
        y,
        rows: 1,
        cols,
        value: H::E::ONE,
    });
    b.execute(&o)
        .unwrap_or_else(|e| panic!("{}: {o:?}: {e:?}", H::NAME));
    b.submit().expect("submit");
    // y[2^24 - 1 ..= 2^24 + 1] = [0, 0, 1].
    let mut w = [H::E::ZERO; 3];
    b.download(y.offset + cols - 3, &mut w).expect("download");
    let w: Vec<f64> = w.iter().map(|v| v.to_f64()).collect();
    assert_close(
        &format!("{}: one_hot around 2^24", H::NAME),
        &w,
        &[0.0, 0.0, 1.0],
        0.0,
    );
}

/// The perceptron epoch adds its mistakes to `stats` and, without an
/// `average` span, leaves the average alone.
pub fn perceptron_epoch_accumulates_and_average_is_optional<H: Harness>() {
    // cols = 3 (x1, x2, bias input 1), w = 0, stats = 1 (accumulates):
    // r0: x = [1, 2, 1],   y = +1: s = 0, y·s = 0 ≤ 0 -> mistake,
    //     w = [1, 2, 1];          average = [1, 2, 1]
    // r1: x = [2, -1, 1],  y = -1: s = 2 - 2 + 1 = 1, y·s = -1 -> mistake,
    //     w = [1-2, 2+1, 1-1] = [-1, 3, 0]; average = [0, 5, 1]
    // r2: x = [-1, -1, 1], y = -1: s = 1 - 3 + 0 = -2, y·s = 2 > 0 -> correct;
    //     average = [-1, 8, 1]
    // mistakes 2, stats = 1 + 2 = 3.
    // A second epoch from w = [-1, 3, 0] makes no mistake (all y·s > 0:
    // 5, 5, 2), without an average span: nothing changes.
    let mut ar = ArenaBuilder::default();
    let weights = ar.zeros(3);
    let samples = ar.put(&[1.0, 2.0, 1.0, 2.0, -1.0, 1.0, -1.0, -1.0, 1.0]);
    let labels = ar.put(&[1.0, -1.0, -1.0]);
    let average = ar.zeros(3);
    let stats = ar.put(&[1.0]);
    let scratch = ar.put(&[f64::NAN; op::PERCEPTRON_SCRATCH]);
    let epoch = |average| {
        Op::PerceptronEpoch(op::PerceptronEpoch {
            weights,
            samples,
            labels,
            rows: 3,
            cols: 3,
            average,
            stats,
            scratch,
        })
    };
    let Some(r1) = run_ops::<H>(&ar.vals, &[epoch(Some(average))]) else {
        return;
    };
    assert_close("weights", at(&r1, weights), &[-1.0, 3.0, 0.0], 0.0);
    assert_close("average", at(&r1, average), &[-1.0, 8.0, 1.0], 0.0);
    assert_close("stats", at(&r1, stats), &[3.0], 0.0);
    let Some(r2) = run_ops::<H>(&ar.vals, &[epoch(Some(average)), epoch(None)]) else {
        return;
    };
    assert_close("weights", at(&r2, weights), &[-1.0, 3.0, 0.0], 0.0);
    assert_close("average", at(&r2, average), &[-1.0, 8.0, 1.0], 0.0);
    assert_close("stats", at(&r2, stats), &[3.0], 0.0);
}

/// A score of exactly 0 is an error (`y·s ≤ 0`), as in the epoch.
pub fn perceptron_errors_count_a_zero_score<H: Harness>() {
    // Same samples. w = [-1,3,0]: y·s = 5, 5, 2 -> 0 errors.
    // w = [0,0,0]: every y·s = 0 ≤ 0 -> 3 errors.
    // w = [1,0,0]: y·s = 1, -2, 1 -> 1 error.
    for (w, want) in [
        ([-1.0, 3.0, 0.0], 0.0),
        ([0.0, 0.0, 0.0], 3.0),
        ([1.0, 0.0, 0.0], 1.0),
    ] {
        let mut ar = ArenaBuilder::default();
        let weights = ar.put(&w);
        let samples = ar.put(&[1.0, 2.0, 1.0, 2.0, -1.0, 1.0, -1.0, -1.0, 1.0]);
        let labels = ar.put(&[1.0, -1.0, -1.0]);
        let out = ar.put(&[42.0]);
        let scratch = ar.put(&[f64::NAN; op::PERCEPTRON_SCRATCH]);
        let op = Op::PerceptronErrors(op::PerceptronErrors {
            weights,
            samples,
            labels,
            rows: 3,
            cols: 3,
            out,
            scratch,
        });
        let Some(r) = run_ops::<H>(&ar.vals, &[op]) else {
            return;
        };
        assert_close(&format!("errors of {w:?}"), at(&r, out), &[want], 0.0);
    }
}
