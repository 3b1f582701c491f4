//! Every op against the CPU reference kernels in f64 (the ground truth,
//! [`crate::CpuReference`]) on random data: spans longer than a vector width
//! or a workgroup, gemm shapes from 1×1×1 to 200×199×64 (k = 0 included),
//! activations into their far tails, in-place forms, labels that are not
//! classes, and the perceptron (exact). Each case runs on a fresh backend
//! and the whole arenas are compared ([`assert_matches_reference`]).

use super::{assert_matches_reference, label, ArenaBuilder};
use crate::Harness;
use microprop::hal::{op, Activation, LossKind, Op, Span};
use microprop::Rng;

fn tol<H: Harness>() -> (f64, f64) {
    let t = H::tolerances();
    (t.elementwise, t.reduction)
}

fn rand(rng: &mut Rng, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..n).map(|_| rng.uniform(lo, hi)).collect()
}

pub fn elementwise_ops_match_reference_at_scale<H: Harness>() {
    let n = 1000;
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    let mut init = rand(&mut rng, 4 * n + 8, -3.0, 3.0);
    let s = |i: usize| Span::new(i * n, n);
    let out = Span::new(4 * n, 1);
    let (e, red) = tol::<H>();
    let cases: Vec<(Op<f64>, f64)> = vec![
        (
            Op::Fill(op::Fill {
                dst: s(3),
                value: 0.25,
            }),
            e,
        ),
        (
            Op::Copy(op::Copy {
                src: s(0),
                dst: s(3),
            }),
            e,
        ),
        (
            Op::Axpy(op::Axpy {
                x: s(1),
                y: s(2),
                alpha: -0.7,
            }),
            e,
        ),
        (
            Op::SgdStep(op::SgdStep {
                param: s(0),
                grad: s(1),
                lr: 0.1,
            }),
            e,
        ),
        (
            Op::MomentumStep(op::MomentumStep {
                param: s(0),
                grad: s(1),
                velocity: s(2),
                lr: 0.05,
                momentum: 0.9,
            }),
            e,
        ),
        (
            Op::SumSquares(op::SumSquares {
                x: s(0),
                out,
                scale: 1.0,
                accumulate: false,
            }),
            red,
        ),
        (
            Op::SumSquares(op::SumSquares {
                x: s(0),
                out,
                scale: 0.01,
                accumulate: true,
            }),
            red,
        ),
    ];
    for (op, t) in &cases {
        assert_matches_reference::<H>(op.name(), &init, &[*op], *t);
    }
    // Adam needs v >= 0.
    for v in &mut init[3 * n..4 * n] {
        *v = v.abs();
    }
    let adam = Op::AdamStep(op::AdamStep {
        param: s(0),
        grad: s(1),
        m: s(2),
        v: s(3),
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        bias1: 1.0 - 0.9f64.powi(3),
        bias2: 1.0 - 0.999f64.powi(3),
    });
    assert_matches_reference::<H>("adam_step", &init, &[adam], e);
}

pub fn activations_match_reference_into_the_tails<H: Harness>() {
    use microprop_cpu::reference;
    let n = 2000;
    let mut rng = Rng::new(42);
    // Wide inputs reach the tails (exp under/overflow) of every function,
    // and tiny ones the neighbourhood of 0.
    let mut init = rand(&mut rng, 4 * n, -6.0, 6.0);
    for (i, v) in init[..n].iter_mut().enumerate() {
        if i % 10 == 0 {
            *v *= 15.0;
        }
        if i % 10 == 1 {
            *v *= 1e-4;
        }
    }
    let acts = [
        Activation::Identity,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::LeakyRelu { slope: 0.01 },
        Activation::Elu { alpha: 1.0 },
        Activation::Softplus,
    ];
    let s = |i: usize| Span::new(i * n, n);
    let e = tol::<H>().0;
    for act in acts {
        let name = format!("{act:?}");
        let fwd = Op::Activate(op::Activate {
            act,
            x: s(0),
            y: s(1),
        });
        assert_matches_reference::<H>(&name, &init, &[fwd], e);
        // In place: y == x.
        let in_place = [
            Op::Copy(op::Copy {
                src: s(0),
                dst: s(1),
            }),
            Op::Activate(op::Activate {
                act,
                x: s(1),
                y: s(1),
            }),
        ];
        assert_matches_reference::<H>(&format!("{name} in place"), &init, &in_place, e);
        // The backward op on the reference's own y = f(x), so that it is the
        // backward op that is compared, not the forward one again.
        let mut with_y = init.clone();
        let (x, y) = with_y.split_at_mut(n);
        reference::activate(act, x, &mut y[..n]).expect("activate");
        let bwd = |dx| {
            Op::ActivateBackward(op::ActivateBackward {
                act,
                x: s(0),
                y: s(1),
                dy: s(2),
                dx,
            })
        };
        assert_matches_reference::<H>(&format!("{name} backward"), &with_y, &[bwd(s(3))], e);
        assert_matches_reference::<H>(
            &format!("{name} backward in place"),
            &with_y,
            &[bwd(s(2))],
            e,
        );
    }
}

/// Gemm shapes `(m, n, k)` that cross tile and block edges: 1, odd sizes,
/// tile ± 1, `k = 0`, and sizes past one tile (the Vulkan backend's own
/// gemm-kernel test uses them too).
pub const GEMM_SHAPES: [(usize, usize, usize); 9] = [
    (1, 1, 1),
    (3, 5, 7),
    (16, 16, 16),
    (17, 33, 15),
    (32, 10, 64),
    (64, 32, 32),
    (5, 3, 0),
    (100, 70, 130),
    (200, 199, 64),
];

pub fn gemm_matches_reference_on_many_shapes<H: Harness>() {
    let mut rng = Rng::new(7);
    let red = tol::<H>().1;
    for (m, n, k) in GEMM_SHAPES {
        for (ta, tb, alpha, beta) in [
            (false, false, 1.0, 0.0),
            (true, false, 0.5, 1.0),
            (false, true, 1.0, -0.5),
            (true, true, 2.0, 0.0),
        ] {
            let mut ar = ArenaBuilder::default();
            let a = ar.put(&rand(&mut rng, m * k, -1.0, 1.0));
            let b = ar.put(&rand(&mut rng, k * n, -1.0, 1.0));
            // beta == 0 ignores the old C, NaN included.
            let c = if beta == 0.0 {
                ar.put(&vec![f64::NAN; m * n])
            } else {
                ar.put(&rand(&mut rng, m * n, -1.0, 1.0))
            };
            let op = Op::Gemm(op::Gemm {
                m,
                n,
                k,
                a,
                trans_a: ta,
                b,
                trans_b: tb,
                c,
                alpha,
                beta,
            });
            let what = format!("gemm {m}×{n}×{k} ta={ta} tb={tb} alpha={alpha} beta={beta}");
            assert_matches_reference::<H>(&what, &ar.vals, &[op], red);
        }
    }
}

/// Row-wise ops and losses on 37 rows of 12, with labels that are mostly
/// classes and sometimes not (index `cols`, the element value 1.5).
pub fn row_ops_match_reference_with_invalid_labels<H: Harness>() {
    let (rows, cols) = (37, 12);
    let rc = rows * cols;
    let mut rng = Rng::new(99);
    let mut init = rand(&mut rng, 6 * rc + 3 * rows + 16, -4.0, 4.0);
    let s = |i: usize| Span::new(i * rc, rc);
    let bias = Span::new(6 * rc, cols);
    let labels = Span::new(6 * rc + 2 * rows, rows);
    for (r, v) in init[labels.offset..labels.end()].iter_mut().enumerate() {
        *v = match r % 9 {
            7 => label(cols as u32),
            8 => 1.5,
            _ => label((r % cols) as u32),
        };
    }
    let out = Span::new(labels.end(), 1);
    let pieces = Span::new(s(1).offset, rc / 3);
    let (e, red) = tol::<H>();
    let mut cases: Vec<(Vec<Op<f64>>, f64)> = vec![
        (
            vec![Op::BiasAdd(op::BiasAdd {
                bias,
                out: s(0),
                rows,
                cols,
            })],
            e,
        ),
        (
            vec![Op::BiasGrad(op::BiasGrad {
                dout: s(0),
                dbias: bias,
                rows,
                cols,
            })],
            red,
        ),
        (
            vec![Op::Softmax(op::Softmax {
                x: s(0),
                y: s(1),
                rows,
                cols,
            })],
            red,
        ),
        (
            vec![Op::Softmax(op::Softmax {
                x: s(0),
                y: s(0),
                rows,
                cols,
            })],
            red,
        ),
        (
            vec![
                Op::Softmax(op::Softmax {
                    x: s(0),
                    y: s(1),
                    rows,
                    cols,
                }),
                Op::SoftmaxBackward(op::SoftmaxBackward {
                    y: s(1),
                    dy: s(2),
                    dx: s(3),
                    rows,
                    cols,
                }),
                Op::SoftmaxBackward(op::SoftmaxBackward {
                    y: s(1),
                    dy: s(4),
                    dx: s(4),
                    rows,
                    cols,
                }),
            ],
            red,
        ),
        (
            vec![
                Op::Maxout(op::Maxout {
                    x: s(0),
                    y: pieces,
                    rows,
                    units: cols / 3,
                    k: 3,
                }),
                Op::MaxoutBackward(op::MaxoutBackward {
                    x: s(0),
                    dy: pieces,
                    dx: s(2),
                    rows,
                    units: cols / 3,
                    k: 3,
                }),
            ],
            e,
        ),
        (
            vec![Op::CountCorrect(op::CountCorrect {
                pred: s(0),
                target: labels,
                rows,
                cols,
                out,
            })],
            e,
        ),
        (
            vec![Op::Loss(op::Loss {
                kind: LossKind::Mse,
                pred: s(0),
                target: s(1),
                rows,
                cols,
                out,
                grad: Some(s(2)),
                scratch: s(5),
            })],
            red,
        ),
    ];
    for kind in [
        LossKind::SoftmaxCrossEntropy,
        LossKind::Hinge { margin: 1.0 },
    ] {
        for grad in [None, Some(s(2))] {
            cases.push((
                vec![Op::Loss(op::Loss {
                    kind,
                    pred: s(0),
                    target: labels,
                    rows,
                    cols,
                    out,
                    grad,
                    scratch: s(5),
                })],
                red,
            ));
        }
    }
    for (i, (ops, t)) in cases.iter().enumerate() {
        let what = format!("case {i} ({})", ops[0].name());
        assert_matches_reference::<H>(&what, &init, ops, *t);
    }
}

/// Three epochs (with, without and with an average) and an error count on
/// 150 rows of 5. Samples are multiples of 1/4 and every sum stays far
/// below 2²⁴ sixteenths, so the arithmetic is exact in f32 as in f64 and
/// the result must match bit for bit.
pub fn perceptron_ops_match_reference_exactly<H: Harness>() {
    let (rows, cols) = (150, 5);
    let mut rng = Rng::new(5);
    let mut ar = ArenaBuilder::default();
    let xs: Vec<f64> = (0..rows * cols)
        .map(|_| (rng.below(17) as f64 - 8.0) * 0.25)
        .collect();
    let truth = [0.5, -1.0, 0.25, 2.0, -0.3];
    let ys: Vec<f64> = xs
        .chunks(cols)
        .map(|x| {
            let s: f64 = x.iter().zip(&truth).map(|(a, b)| a * b).sum();
            if s > 0.0 {
                1.0
            } else {
                -1.0
            }
        })
        .collect();
    let samples = ar.put(&xs);
    let labels = ar.put(&ys);
    let weights = ar.zeros(cols);
    let average = ar.zeros(cols);
    let stats = ar.zeros(1);
    let out = ar.zeros(1);
    let scratch = ar.zeros(op::PERCEPTRON_SCRATCH);
    let epoch = |average| {
        Op::PerceptronEpoch(op::PerceptronEpoch {
            weights,
            samples,
            labels,
            rows,
            cols,
            average,
            stats,
            scratch,
        })
    };
    let errors = Op::PerceptronErrors(op::PerceptronErrors {
        weights,
        samples,
        labels,
        rows,
        cols,
        out,
        scratch,
    });
    let ops = [
        epoch(Some(average)),
        epoch(None),
        epoch(Some(average)),
        errors,
    ];
    assert_matches_reference::<H>("perceptron", &ar.vals, &ops, 0.0);
}
