//! Every op against a hand-derived expectation (worked out in the comments),
//! finite differences, and the CPU reference kernels in f64 on random data.

use super::{assert_matches_reference, at, label, run_ops, ArenaBuilder};
use crate::{assert_close, Harness};
use microprop::hal::{op, Activation, LossKind, Op, Span};
use microprop::{Backend, Rng};

fn tol<H: Harness>() -> (f64, f64) {
    let t = H::tolerances();
    (t.elementwise, t.reduction)
}

pub fn fill_copy_axpy_sum_squares<H: Harness>() {
    let mut a = ArenaBuilder::default();
    let x = a.put(&[1.0, 2.0, 3.0]);
    let y = a.put(&[10.0, 20.0, 30.0]);
    let filled = a.put(&[5.0, 5.0]);
    let copied = a.zeros(3);
    let ss = a.zeros(1);
    let ss_acc = a.put(&[1.0]);
    let ops = [
        Op::Fill(op::Fill {
            dst: filled,
            value: 7.0,
        }),
        Op::Copy(op::Copy {
            src: x,
            dst: copied,
        }),
        Op::Axpy(op::Axpy { x, y, alpha: 2.0 }),
        // 0.5 · (1 + 4 + 9) = 7
        Op::SumSquares(op::SumSquares {
            x,
            out: ss,
            scale: 0.5,
            accumulate: false,
        }),
        // 1 + 7 = 8
        Op::SumSquares(op::SumSquares {
            x,
            out: ss_acc,
            scale: 0.5,
            accumulate: true,
        }),
    ];
    let Some(r) = run_ops::<H>(&a.vals, &ops) else {
        return;
    };
    let (e, red) = tol::<H>();
    assert_close("fill", at(&r, filled), &[7.0, 7.0], e);
    assert_close("copy", at(&r, copied), &[1.0, 2.0, 3.0], e);
    assert_close("axpy", at(&r, y), &[12.0, 24.0, 36.0], e);
    assert_close("sum_squares", at(&r, ss), &[7.0], red);
    assert_close("sum_squares acc", at(&r, ss_acc), &[8.0], red);
}

/// L2-SP's `Anchor` (composite): `d = w₀ − w` over `w₀`, `out += λ·Σd²`,
/// `grad += −2λ·d`, each output optional.
pub fn anchor_by_hand<H: Harness>() {
    let mut a = ArenaBuilder::default();
    let w = a.put(&[0.5, 2.0, 1.0]);
    // w₀ three times: one for each form of the op.
    let both = a.put(&[1.0, 2.0, -1.0]);
    let loss_only = a.put(&[1.0, 2.0, -1.0]);
    let grad_only = a.put(&[1.0, 2.0, -1.0]);
    let out = a.put(&[1.0]);
    let out2 = a.put(&[0.0]);
    let grad = a.put(&[10.0, 20.0, 30.0]);
    let grad2 = a.put(&[0.0, 0.0, 0.0]);
    let (scale, alpha) = (0.1, -0.2);
    let ops = [
        Op::Anchor(op::Anchor {
            anchor: both,
            w,
            grad: Some(grad),
            out: Some(out),
            scale,
            alpha,
        }),
        Op::Anchor(op::Anchor {
            anchor: loss_only,
            w,
            grad: None,
            out: Some(out2),
            scale,
            alpha,
        }),
        Op::Anchor(op::Anchor {
            anchor: grad_only,
            w,
            grad: Some(grad2),
            out: None,
            scale,
            alpha,
        }),
    ];
    let Some(r) = run_ops::<H>(&a.vals, &ops) else {
        return;
    };
    let (e, red) = tol::<H>();
    // d = w₀ − w = [0.5, 0, −2]
    for span in [both, loss_only, grad_only] {
        assert_close("anchor d", at(&r, span), &[0.5, 0.0, -2.0], e);
    }
    // 1 + 0.1 · (0.25 + 0 + 4) = 1.425; alone 0.425
    assert_close("anchor loss", at(&r, out), &[1.425], red);
    assert_close("anchor loss only", at(&r, out2), &[0.425], red);
    // grad + (−0.2) · d = [10 − 0.1, 20, 30 + 0.4]
    assert_close("anchor grad", at(&r, grad), &[9.9, 20.0, 30.4], e);
    assert_close("anchor grad only", at(&r, grad2), &[-0.1, 0.0, 0.4], e);
    assert_close("anchor w unchanged", at(&r, w), &[0.5, 2.0, 1.0], 0.0);
}

fn window(
    (channels, height, width): (usize, usize, usize),
    (kh, kw): (usize, usize),
    stride: usize,
    (pad_h, pad_w): (usize, usize),
) -> op::Window {
    op::Window {
        channels,
        height,
        width,
        kh,
        kw,
        stride,
        pad_h,
        pad_w,
    }
}

/// im2col and col2im on windows worked out by hand: a padded 1-D signal, a
/// padded strided 2-D image in two samples, two channels in both layouts.
pub fn im2col_and_col2im_by_hand<H: Harness>() {
    use op::ColLayout::{Conv, Pool};
    let mut a = ArenaBuilder::default();
    // 1-D, length 4, k 3, stride 1, pad 1: windows [0,1,2] [1,2,3] [2,3,4]
    // [3,4,0]; each x[i] lies in 2, 3, 3, 2 windows.
    let w1 = window((1, 1, 4), (1, 3), 1, (0, 1));
    let x1 = a.put(&[1.0, 2.0, 3.0, 4.0]);
    let c1 = a.zeros(12);
    let ones1 = a.put(&[1.0; 12]);
    let d1 = a.put(&[0.5, 0.5, 0.5, 0.5]);
    // 2-D 3×3 (values 1..9 row-major), k 2, stride 2, pad 1: positions
    // (0,0) rows −1..0 cols −1..0 → [0,0,0,1]; (0,1) → [0,0,2,3];
    // (1,0) → [0,4,0,7]; (1,1) → [5,6,8,9]. Second sample: the first + 10.
    let w2 = window((1, 3, 3), (2, 2), 2, (1, 1));
    let img: Vec<f64> = (1..=9).map(f64::from).collect();
    let img2: Vec<f64> = img.iter().map(|v| v + 10.0).collect();
    let x2 = a.put(&[img.clone(), img2].concat());
    let c2 = a.zeros(32);
    let back2 = a.zeros(18);
    // Two channels (1..9 and 11..19), k 2, stride 1, no padding: 2×2
    // positions of 4 elements each, per channel.
    let w3 = window((2, 3, 3), (2, 2), 1, (0, 0));
    let x3 = a.put(&[img.clone(), (11..=19).map(f64::from).collect()].concat());
    let conv3 = a.zeros(32);
    let pool3 = a.zeros(32);
    let ops = [
        Op::Im2col(op::Im2col {
            x: x1,
            cols: c1,
            rows: 1,
            window: w1,
            layout: Conv,
        }),
        Op::Col2im(op::Col2im {
            cols: ones1,
            x: d1,
            rows: 1,
            window: w1,
            layout: Conv,
        }),
        Op::Im2col(op::Im2col {
            x: x2,
            cols: c2,
            rows: 2,
            window: w2,
            layout: Conv,
        }),
        // Each image element lies in exactly one window here (stride =
        // window): col2im(im2col(x)) = x.
        Op::Col2im(op::Col2im {
            cols: c2,
            x: back2,
            rows: 2,
            window: w2,
            layout: Pool,
        }),
        Op::Im2col(op::Im2col {
            x: x3,
            cols: conv3,
            rows: 1,
            window: w3,
            layout: Conv,
        }),
        Op::Im2col(op::Im2col {
            x: x3,
            cols: pool3,
            rows: 1,
            window: w3,
            layout: Pool,
        }),
    ];
    let Some(r) = run_ops::<H>(&a.vals, &ops) else {
        return;
    };
    let exact = 0.0;
    assert_close(
        "im2col 1-D",
        at(&r, c1),
        &[0.0, 1.0, 2.0, 1.0, 2.0, 3.0, 2.0, 3.0, 4.0, 3.0, 4.0, 0.0],
        exact,
    );
    assert_close("col2im 1-D", at(&r, d1), &[2.5, 3.5, 3.5, 2.5], exact);
    let first = [
        0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 2.0, 3.0, 0.0, 4.0, 0.0, 7.0, 5.0, 6.0, 8.0, 9.0,
    ];
    let second: Vec<f64> = first
        .iter()
        .map(|&v| if v == 0.0 { 0.0 } else { v + 10.0 })
        .collect();
    assert_close(
        "im2col 2-D",
        at(&r, c2),
        &[&first[..], &second].concat(),
        exact,
    );
    // One channel, so the pool layout is the conv layout: each element
    // back in place once.
    assert_close("col2im 2-D", at(&r, back2), at(&r, x2), exact);
    // Position-major (conv): p0 = c0 [1,2,4,5] then c1 [11,12,14,15], ...
    let win = |c0: f64, p: [f64; 4]| p.map(|v| v + c0);
    let (p0, p1, p2, p3) = (
        [1.0, 2.0, 4.0, 5.0],
        [2.0, 3.0, 5.0, 6.0],
        [4.0, 5.0, 7.0, 8.0],
        [5.0, 6.0, 8.0, 9.0],
    );
    let conv: Vec<f64> = [p0, p1, p2, p3]
        .iter()
        .flat_map(|&p| [win(0.0, p), win(10.0, p)].concat())
        .collect();
    assert_close("im2col conv layout", at(&r, conv3), &conv, exact);
    // Channel-major (pool): c0's four windows, then c1's.
    let pool: Vec<f64> = [0.0, 10.0]
        .iter()
        .flat_map(|&c| {
            [p0, p1, p2, p3]
                .iter()
                .flat_map(move |&p| win(c, p))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_close("im2col pool layout", at(&r, pool3), &pool, exact);
}

pub fn gemm_all_transposes<H: Harness>() {
    // A = [[1,2,3],[4,5,6]], B = [[7,8],[9,10],[11,12]]:
    // AB = [[1·7+2·9+3·11, 1·8+2·10+3·12], [4·7+5·9+6·11, 4·8+5·10+6·12]]
    //    = [[58, 64], [139, 154]].
    // With alpha = 2, beta = 0.5, C0 = [[1,2],[3,4]]:
    // C = [[2·58 + 0.5, 2·64 + 1], [2·139 + 1.5, 2·154 + 2]] = [[116.5, 129], [279.5, 310]].
    let want = [116.5, 129.0, 279.5, 310.0];
    let a_n = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let a_t = [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]; // A stored 3×2
    let b_n = [7.0, 8.0, 9.0, 10.0, 11.0, 12.0];
    let b_t = [7.0, 9.0, 11.0, 8.0, 10.0, 12.0]; // B stored 2×3
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let mut ar = ArenaBuilder::default();
        let a = ar.put(if ta { &a_t } else { &a_n });
        let b = ar.put(if tb { &b_t } else { &b_n });
        let c = ar.put(&[1.0, 2.0, 3.0, 4.0]);
        let op = Op::Gemm(op::Gemm {
            m: 2,
            n: 2,
            k: 3,
            a,
            trans_a: ta,
            b,
            trans_b: tb,
            c,
            alpha: 2.0,
            beta: 0.5,
        });
        let Some(r) = run_ops::<H>(&ar.vals, &[op]) else {
            return;
        };
        assert_close(
            &format!("gemm ta={ta} tb={tb}"),
            at(&r, c),
            &want,
            tol::<H>().1,
        );
    }
}

pub fn gemm_beta_zero_ignores_nan<H: Harness>() {
    // AB = [[58, 64], [139, 154]] (see `gemm_all_transposes`), for every
    // transpose: with beta = 0 the old C (NaN) is not read.
    let a_n = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let a_t = [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]; // A stored 3×2
    let b_n = [7.0, 8.0, 9.0, 10.0, 11.0, 12.0];
    let b_t = [7.0, 9.0, 11.0, 8.0, 10.0, 12.0]; // B stored 2×3
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let mut ar = ArenaBuilder::default();
        let a = ar.put(if ta { &a_t } else { &a_n });
        let b = ar.put(if tb { &b_t } else { &b_n });
        let c = ar.put(&[f64::NAN; 4]);
        let op = Op::Gemm(op::Gemm {
            m: 2,
            n: 2,
            k: 3,
            a,
            trans_a: ta,
            b,
            trans_b: tb,
            c,
            alpha: 1.0,
            beta: 0.0,
        });
        let Some(r) = run_ops::<H>(&ar.vals, &[op]) else {
            return;
        };
        assert_close(
            &format!("gemm beta=0 ta={ta} tb={tb}"),
            at(&r, c),
            &[58.0, 64.0, 139.0, 154.0],
            tol::<H>().1,
        );
    }
}

pub fn bias_add_and_grad<H: Harness>() {
    let mut ar = ArenaBuilder::default();
    let bias = ar.put(&[1.0, 2.0, 3.0]);
    let out = ar.put(&[1.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
    let dout = ar.put(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let dbias = ar.put(&[1.0, 1.0, 1.0]);
    let ops = [
        Op::BiasAdd(op::BiasAdd {
            bias,
            out,
            rows: 2,
            cols: 3,
        }),
        // column sums 5, 7, 9, added to 1
        Op::BiasGrad(op::BiasGrad {
            dout,
            dbias,
            rows: 2,
            cols: 3,
        }),
    ];
    let Some(r) = run_ops::<H>(&ar.vals, &ops) else {
        return;
    };
    let e = tol::<H>().0;
    assert_close("bias_add", at(&r, out), &[2.0, 3.0, 4.0, 3.0, 4.0, 5.0], e);
    assert_close("bias_grad", at(&r, dbias), &[6.0, 8.0, 10.0], e);
}

/// The activations with their textbook definitions in f64 `std` math, which
/// is independent of the backend's kernels.
/// An activation and its textbook definition.
type ActivationCase = (Activation<f64>, fn(f64) -> f64);

fn activations() -> Vec<ActivationCase> {
    vec![
        (Activation::Identity, |x| x),
        (Activation::Sigmoid, |x| 1.0 / (1.0 + (-x).exp())),
        (Activation::Tanh, f64::tanh),
        (Activation::Relu, |x| x.max(0.0)),
        (Activation::LeakyRelu { slope: 0.1 }, |x| {
            if x > 0.0 {
                x
            } else {
                0.1 * x
            }
        }),
        (Activation::Elu { alpha: 1.5 }, |x| {
            if x > 0.0 {
                x
            } else {
                1.5 * (x.exp() - 1.0)
            }
        }),
        (Activation::Softplus, |x| (1.0 + x.exp()).ln()),
    ]
}

pub fn activations_forward<H: Harness>() {
    let xs = [-3.0, -0.5, 0.0, 0.25, 0.5, 2.0, 7.0];
    for (act, f) in activations() {
        let mut ar = ArenaBuilder::default();
        let x = ar.put(&xs);
        let y = ar.zeros(xs.len());
        let Some(r) = run_ops::<H>(&ar.vals, &[Op::Activate(op::Activate { act, x, y })]) else {
            return;
        };
        let want: Vec<f64> = xs.iter().map(|&v| f(v)).collect();
        assert_close(&format!("{act:?}"), at(&r, y), &want, tol::<H>().0);
    }
    // Far tails stay finite and exact: sigmoid(-1000) = 0, softplus(1000) = 1000.
    let mut ar = ArenaBuilder::default();
    let x = ar.put(&[-1000.0, 1000.0]);
    let s = ar.zeros(2);
    let sp = ar.zeros(2);
    let ops = [
        Op::Activate(op::Activate {
            act: Activation::Sigmoid,
            x,
            y: s,
        }),
        Op::Activate(op::Activate {
            act: Activation::Softplus,
            x,
            y: sp,
        }),
    ];
    let Some(r) = run_ops::<H>(&ar.vals, &ops) else {
        return;
    };
    assert_close("sigmoid tails", at(&r, s), &[0.0, 1.0], tol::<H>().0);
    assert_close("softplus tails", at(&r, sp), &[0.0, 1000.0], tol::<H>().0);
}

/// `BiasActivate` (the fused forward of a dense layer and its activation)
/// against its definition: `microprop_cpu::reference::bias_add` then
/// `reference::activate` run directly in f64 (no backend in between), for
/// every activation, out of place and in place, on a shape whose element
/// count is not a multiple of any vector width or workgroup (3 × 97 = 291);
/// and against `BiasAdd` followed by `Activate` on the same backend.
pub fn bias_activate_matches_bias_add_then_activate<H: Harness>() {
    use microprop_cpu::reference;
    let (rows, cols) = (3, 97);
    let mut rng = Rng::new(0xb1a5);
    let mut rand = |n: usize| -> Vec<f64> { (0..n).map(|_| rng.uniform(-3.0, 3.0)).collect() };
    let (x0, b0, x1) = (rand(rows * cols), rand(cols), rand(rows * cols));
    let e = tol::<H>().0;
    for (act, _) in activations() {
        let mut ar = ArenaBuilder::default();
        let bias = ar.put(&b0);
        let x = ar.put(&x0);
        let y = ar.put(&vec![f64::NAN; rows * cols]);
        let xy = ar.put(&x1);
        let ux = ar.put(&x0);
        let uy = ar.zeros(rows * cols);
        let ops = [
            Op::BiasActivate(op::BiasActivate {
                act,
                bias,
                x,
                y,
                rows,
                cols,
            }),
            Op::BiasActivate(op::BiasActivate {
                act,
                bias,
                x: xy,
                y: xy,
                rows,
                cols,
            }),
            Op::BiasAdd(op::BiasAdd {
                bias,
                out: ux,
                rows,
                cols,
            }),
            Op::Activate(op::Activate { act, x: ux, y: uy }),
        ];
        let Some(r) = run_ops::<H>(&ar.vals, &ops) else {
            return;
        };
        let mut z = x0.clone();
        reference::bias_add(rows, cols, &b0, &mut z).expect("bias_add");
        let mut want_y = vec![0.0; rows * cols];
        reference::activate(act, &z, &mut want_y).expect("activate");
        let mut z1 = x1.clone();
        reference::bias_add(rows, cols, &b0, &mut z1).expect("bias_add");
        let mut want_xy = vec![0.0; rows * cols];
        reference::activate(act, &z1, &mut want_xy).expect("activate");
        let name = format!("bias_activate {act:?}");
        assert_close(&format!("{name} z"), at(&r, x), &z, e);
        assert_close(&format!("{name} y"), at(&r, y), &want_y, e);
        assert_close(&format!("{name} in place"), at(&r, xy), &want_xy, e);
        assert_close(&format!("{name} unfused z"), at(&r, x), at(&r, ux), e);
        assert_close(&format!("{name} unfused y"), at(&r, y), at(&r, uy), e);
        assert_close("bias unchanged", at(&r, bias), &b0, e);
    }
}

pub fn activations_backward_match_finite_differences<H: Harness>() {
    // Away from ReLU's kink at 0.
    let xs = [-2.0, -0.5, 0.3, 0.5, 2.0];
    let dys = [1.0, 2.0, -1.0, 0.5, 3.0];
    for (act, f) in activations() {
        let ys: Vec<f64> = xs.iter().map(|&v| f(v)).collect();
        let mut ar = ArenaBuilder::default();
        let x = ar.put(&xs);
        let y = ar.put(&ys);
        let dy = ar.put(&dys);
        let dx = ar.zeros(xs.len());
        let op = Op::ActivateBackward(op::ActivateBackward { act, x, y, dy, dx });
        let Some(r) = run_ops::<H>(&ar.vals, &[op]) else {
            return;
        };
        let h = 1e-6;
        let want: Vec<f64> = xs
            .iter()
            .zip(&dys)
            .map(|(&v, &d)| d * (f(v + h) - f(v - h)) / (2.0 * h))
            .collect();
        // Finite differences are good to ~1e-9 here.
        let t = tol::<H>().0.max(1e-8);
        assert_close(&format!("{act:?} backward"), at(&r, dx), &want, t);
        // In place: dx may be dy.
        let op = Op::ActivateBackward(op::ActivateBackward {
            act,
            x,
            y,
            dy,
            dx: dy,
        });
        let Some(r) = run_ops::<H>(&ar.vals, &[op]) else {
            return;
        };
        assert_close(&format!("{act:?} backward in place"), at(&r, dy), &want, t);
    }
}

fn softmax_row(x: &[f64]) -> Vec<f64> {
    let e: Vec<f64> = x.iter().map(|v| v.exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

pub fn softmax_and_backward<H: Harness>() {
    let xs = [1.0, 2.0, 3.0, 0.0, 0.0, 0.0];
    let dys = [1.0, 0.0, -1.0, 0.5, -2.0, 1.0];
    let mut ar = ArenaBuilder::default();
    let x = ar.put(&xs);
    let y = ar.zeros(6);
    let dy = ar.put(&dys);
    let dx = ar.zeros(6);
    let ops = [
        Op::Softmax(op::Softmax {
            x,
            y,
            rows: 2,
            cols: 3,
        }),
        Op::SoftmaxBackward(op::SoftmaxBackward {
            y,
            dy,
            dx,
            rows: 2,
            cols: 3,
        }),
    ];
    let Some(r) = run_ops::<H>(&ar.vals, &ops) else {
        return;
    };
    // softmax([1,2,3]) = e^i / (e + e² + e³); softmax(0,0,0) = 1/3 each.
    let mut want = softmax_row(&xs[..3]);
    want.extend(softmax_row(&xs[3..]));
    assert_close("softmax", at(&r, y), &want, tol::<H>().0);
    // Backward against finite differences of the row function.
    let h = 1e-6;
    let mut want_dx = vec![0.0; 6];
    for row in 0..2 {
        for j in 0..3 {
            let mut p = xs[row * 3..row * 3 + 3].to_vec();
            let mut m = p.clone();
            p[j] += h;
            m[j] -= h;
            let (sp, sm) = (softmax_row(&p), softmax_row(&m));
            want_dx[row * 3 + j] = (0..3)
                .map(|i| dys[row * 3 + i] * (sp[i] - sm[i]) / (2.0 * h))
                .sum();
        }
    }
    assert_close(
        "softmax backward",
        at(&r, dx),
        &want_dx,
        tol::<H>().0.max(1e-8),
    );
}

pub fn maxout_and_backward_tie_goes_first<H: Harness>() {
    let mut ar = ArenaBuilder::default();
    // One row, 2 units of 4 pieces: unit 0 has a tie between pieces 1 and 2.
    let x = ar.put(&[1.0, 3.0, 3.0, 2.0, -1.0, -5.0, -2.0, -4.0]);
    let y = ar.zeros(2);
    let dy = ar.put(&[10.0, 20.0]);
    let dx = ar.put(&[9.0; 8]);
    let ops = [
        Op::Maxout(op::Maxout {
            x,
            y,
            rows: 1,
            units: 2,
            k: 4,
        }),
        Op::MaxoutBackward(op::MaxoutBackward {
            x,
            dy,
            dx,
            rows: 1,
            units: 2,
            k: 4,
        }),
    ];
    let Some(r) = run_ops::<H>(&ar.vals, &ops) else {
        return;
    };
    assert_close("maxout", at(&r, y), &[3.0, -1.0], 0.0);
    assert_close(
        "maxout backward",
        at(&r, dx),
        &[0.0, 10.0, 0.0, 0.0, 20.0, 0.0, 0.0, 0.0],
        0.0,
    );
}

fn loss_case<H: Harness>(
    kind: LossKind<f64>,
    pred: &[f64],
    target: &[f64],
    rows: usize,
    cols: usize,
) -> Option<(f64, Vec<f64>)> {
    let mut ar = ArenaBuilder::default();
    let p = ar.put(pred);
    let t = ar.put(target);
    let out = ar.put(&[123.0]);
    let grad = ar.put(&vec![f64::NAN; rows * cols]);
    let scratch = ar.put(&vec![f64::NAN; op::Loss::scratch_len(&kind, cols)]);
    let op = Op::Loss(op::Loss {
        kind,
        pred: p,
        target: t,
        rows,
        cols,
        out,
        grad: Some(grad),
        scratch,
    });
    let r = run_ops::<H>(&ar.vals, &[op])?;
    Some((at(&r, out)[0], at(&r, grad).to_vec()))
}

pub fn mse_loss_by_hand<H: Harness>() {
    // diffs [1, 0, -2, 3]: L = (1 + 0 + 4 + 9) / 4 = 3.5; dL/dp = 2·diff/4.
    let Some((l, g)) = loss_case::<H>(
        LossKind::Mse,
        &[1.0, 2.0, 3.0, 4.0],
        &[0.0, 2.0, 5.0, 1.0],
        2,
        2,
    ) else {
        return;
    };
    let (e, red) = tol::<H>();
    assert_close("mse", &[l], &[3.5], red);
    assert_close("mse grad", &g, &[0.5, 0.0, -1.0, 1.5], e);
}

pub fn cross_entropy_by_hand<H: Harness>() {
    // Row 0: logits [1,2,3], label 2: L0 = ln(e + e² + e³) − 3.
    // Row 1: logits [0,0,0], label 0: L1 = ln 3.
    let l0 = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln() - 3.0;
    let l1 = 3f64.ln();
    let Some((l, g)) = loss_case::<H>(
        LossKind::SoftmaxCrossEntropy,
        &[1.0, 2.0, 3.0, 0.0, 0.0, 0.0],
        &[label(2), label(0)],
        2,
        3,
    ) else {
        return;
    };
    let (e, red) = tol::<H>();
    assert_close("ce", &[l], &[(l0 + l1) / 2.0], red);
    // dL/dz = (softmax − onehot) / rows.
    let s = softmax_row(&[1.0, 2.0, 3.0]);
    let want = [
        s[0] / 2.0,
        s[1] / 2.0,
        (s[2] - 1.0) / 2.0,
        (1.0 / 3.0 - 1.0) / 2.0,
        1.0 / 6.0,
        1.0 / 6.0,
    ];
    assert_close("ce grad", &g, &want, e);
}

pub fn cross_entropy_is_stable_at_1000<H: Harness>() {
    // logsumexp(1000, −1000, 0) = 1000 (+ e^-1000, invisible), label 1:
    // L = 1000 − (−1000) = 2000; softmax = [1, 0, 0], grad = [1, −1, 0].
    let Some((l, g)) = loss_case::<H>(
        LossKind::SoftmaxCrossEntropy,
        &[1000.0, -1000.0, 0.0],
        &[label(1)],
        1,
        3,
    ) else {
        return;
    };
    assert!(
        l.is_finite() && g.iter().all(|v| v.is_finite()),
        "{l} {g:?}"
    );
    let (e, red) = tol::<H>();
    assert_close("ce at ±1000", &[l], &[2000.0], red);
    assert_close("ce grad at ±1000", &g, &[1.0, -1.0, 0.0], e);
    // Two rows: [1000, -1000] label 1 (L = 2000, grad [1, -1]) and
    // [-1000, 1000] label 1, right with certainty (L = 0, grad [0, 0]);
    // the mean halves both.
    let Some((l, g)) = loss_case::<H>(
        LossKind::SoftmaxCrossEntropy,
        &[1000.0, -1000.0, -1000.0, 1000.0],
        &[label(1), label(1)],
        2,
        2,
    ) else {
        return;
    };
    assert_close("ce at ±1000, 2 rows", &[l], &[1000.0], red);
    assert_close("ce grad at ±1000, 2 rows", &g, &[0.5, -0.5, 0.0, 0.0], e);
    // Rows of three at ±1000, labels 0 (right: L = 0) and 2 (the logit 0
    // against 1000: L = 1000, grad [0, 1, -1]): mean 500.
    let Some((l, g)) = loss_case::<H>(
        LossKind::SoftmaxCrossEntropy,
        &[1000.0, -1000.0, 0.0, -1000.0, 1000.0, 0.0],
        &[label(0), label(2)],
        2,
        3,
    ) else {
        return;
    };
    assert_close("ce at ±1000, 2×3", &[l], &[500.0], red);
    assert_close(
        "ce grad at ±1000, 2×3",
        &g,
        &[0.0, 0.0, 0.0, 0.0, 0.5, -0.5],
        e,
    );
}

pub fn hinge_cs231n_example<H: Harness>() {
    // CS231n's three examples: scores (cat, car, frog) with labels cat, car, frog:
    // L = [2.9, 0, 12.9], mean 5.2667.
    let pred = [3.2, 5.1, -1.7, 1.3, 4.9, 2.0, 2.2, 2.5, -3.1];
    let Some((l, g)) = loss_case::<H>(
        LossKind::Hinge { margin: 1.0 },
        &pred,
        &[label(0), label(1), label(2)],
        3,
        3,
    ) else {
        return;
    };
    let (e, red) = tol::<H>();
    assert_close("hinge", &[l], &[(2.9 + 0.0 + 12.9) / 3.0], red);
    // Row 0: only j = 1 violates → [−1, 1, 0]; row 1: none; row 2: both → [1, 1, −2]; all / 3.
    let t = 1.0 / 3.0;
    assert_close(
        "hinge grad",
        &g,
        &[-t, t, 0.0, 0.0, 0.0, 0.0, t, t, -2.0 * t],
        e,
    );
}

pub fn count_correct<H: Harness>() {
    let mut ar = ArenaBuilder::default();
    let pred = ar.put(&[0.1, 0.9, 0.8, 0.2, 0.5, 0.5]);
    let target = ar.put_labels(&[1, 1, 0]);
    let out = ar.put(&[1.0]);
    // Row 0 right, row 1 wrong, row 2 a tie → first → right: 1 + 2 = 3.
    let op = Op::CountCorrect(op::CountCorrect {
        pred,
        target,
        rows: 3,
        cols: 2,
        out,
    });
    let Some(r) = run_ops::<H>(&ar.vals, &[op]) else {
        return;
    };
    assert_close("count_correct", at(&r, out), &[3.0], 0.0);
}

pub fn sgd_and_momentum_by_hand<H: Harness>() {
    let mut ar = ArenaBuilder::default();
    let p = ar.put(&[1.0, 2.0]);
    let g = ar.put(&[0.5, -1.0]);
    let q = ar.put(&[1.0, 2.0]);
    let v = ar.zeros(2);
    let ops = [
        // p − 0.1 g = [0.95, 2.1]
        Op::SgdStep(op::SgdStep {
            param: p,
            grad: g,
            lr: 0.1,
        }),
        // v = g, q = [0.95, 2.1]; then v = 0.9 g + g = [0.95, −1.9], q = [0.855, 2.29]
        Op::MomentumStep(op::MomentumStep {
            param: q,
            grad: g,
            velocity: v,
            lr: 0.1,
            momentum: 0.9,
        }),
        Op::MomentumStep(op::MomentumStep {
            param: q,
            grad: g,
            velocity: v,
            lr: 0.1,
            momentum: 0.9,
        }),
    ];
    let Some(r) = run_ops::<H>(&ar.vals, &ops) else {
        return;
    };
    let e = tol::<H>().0;
    assert_close("sgd", at(&r, p), &[0.95, 2.1], e);
    assert_close("momentum", at(&r, q), &[0.855, 2.29], e);
    assert_close("velocity", at(&r, v), &[0.95, -1.9], e);
}

pub fn adam_first_steps_by_hand<H: Harness>() {
    // With a constant gradient, bias correction makes m̂ = g and v̂ = g² at
    // every step (m_t = (1−β1^t) g, v_t = (1−β2^t) g²), so each step moves by
    // lr · g / (|g| + ε): about lr · sign(g), and 0 where g = 0.
    let (lr, b1, b2, eps) = (0.01, 0.9, 0.999, 1e-8);
    let p0 = [1.0, -1.0, 0.5];
    let gs = [0.1, -3.0, 0.0];
    let mut ar = ArenaBuilder::default();
    let p = ar.put(&p0);
    let g = ar.put(&gs);
    let m = ar.zeros(3);
    let v = ar.zeros(3);
    let step = |t: i32| {
        Op::AdamStep(op::AdamStep {
            param: p,
            grad: g,
            m,
            v,
            lr,
            beta1: b1,
            beta2: b2,
            eps,
            bias1: 1.0 - f64::powi(b1, t),
            bias2: 1.0 - f64::powi(b2, t),
        })
    };
    let Some(r) = run_ops::<H>(&ar.vals, &[step(1), step(2)]) else {
        return;
    };
    let want: Vec<f64> = p0
        .iter()
        .zip(&gs)
        .map(|(&p, &g)| p - 2.0 * lr * g / (g.abs() + eps))
        .collect();
    let e = tol::<H>().0;
    assert_close("adam params", at(&r, p), &want, e);
    // m_2 = (1 − 0.81) g = 0.19 g; v_2 = (1 − 0.998001) g² = 0.001999 g².
    let want_m: Vec<f64> = gs.iter().map(|g| 0.19 * g).collect();
    let want_v: Vec<f64> = gs.iter().map(|g| 0.001999 * g * g).collect();
    assert_close("adam m", at(&r, m), &want_m, e);
    assert_close("adam v", at(&r, v), &want_v, e);
}

pub fn perceptron_epoch_by_hand<H: Harness>() {
    // Samples with the bias column: x1 = [1,1,1] (+1), x2 = [2,−1,1] (−1), x3 = [−1,2,1] (+1).
    // w = 0: x1 scores 0 → mistake, w = [1,1,1]; x2 scores 2 with label −1 →
    // mistake, w = [−1,2,0]; x3 scores 5 → right. 2 mistakes.
    // Average = [1,1,1] + [−1,2,0] + [−1,2,0] = [−1,5,1].
    let mut ar = ArenaBuilder::default();
    let w = ar.zeros(3);
    let samples = ar.put(&[1.0, 1.0, 1.0, 2.0, -1.0, 1.0, -1.0, 2.0, 1.0]);
    let labels = ar.put(&[1.0, -1.0, 1.0]);
    let avg = ar.zeros(3);
    let stats = ar.zeros(1);
    let errs_after = ar.put(&[99.0]);
    let w_first = ar.put(&[1.0, 1.0, 1.0]);
    let errs_first = ar.zeros(1);
    let scratch = ar.zeros(op::PERCEPTRON_SCRATCH);
    let ops = [
        Op::PerceptronEpoch(op::PerceptronEpoch {
            weights: w,
            samples,
            labels,
            rows: 3,
            cols: 3,
            average: Some(avg),
            stats,
            scratch,
        }),
        // w = [−1,2,0] classifies all three: 0 errors.
        Op::PerceptronErrors(op::PerceptronErrors {
            weights: w,
            samples,
            labels,
            rows: 3,
            cols: 3,
            out: errs_after,
            scratch,
        }),
        // w = [1,1,1] gets x2 wrong (score 2, label −1): 1 error.
        Op::PerceptronErrors(op::PerceptronErrors {
            weights: w_first,
            samples,
            labels,
            rows: 3,
            cols: 3,
            out: errs_first,
            scratch,
        }),
    ];
    let Some(r) = run_ops::<H>(&ar.vals, &ops) else {
        return;
    };
    assert_close("perceptron w", at(&r, w), &[-1.0, 2.0, 0.0], 0.0);
    assert_close("perceptron mistakes", at(&r, stats), &[2.0], 0.0);
    assert_close("perceptron average", at(&r, avg), &[-1.0, 5.0, 1.0], 0.0);
    assert_close("perceptron errors", at(&r, errs_after), &[0.0], 0.0);
    assert_close(
        "perceptron errors (first w)",
        at(&r, errs_first),
        &[1.0],
        0.0,
    );
}

/// Random ops of realistic shapes, compared with the CPU reference kernels
/// in f64.
pub fn ops_match_cpu_reference_on_random_data<H: Harness>() {
    let mut rng = Rng::new(0x5eed);
    let mut rand = |n: usize| -> Vec<f64> { (0..n).map(|_| rng.uniform(-2.0, 2.0)).collect() };
    let (m, n, k) = (17, 13, 11);
    let (e, red) = tol::<H>();
    let mut cases: Vec<(Vec<f64>, Vec<Op<f64>>, f64)> = Vec::new();
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let mut ar = ArenaBuilder::default();
        let a = ar.put(&rand(m * k));
        let b = ar.put(&rand(k * n));
        let c = ar.put(&rand(m * n));
        cases.push((
            ar.vals,
            vec![Op::Gemm(op::Gemm {
                m,
                n,
                k,
                a,
                trans_a: ta,
                b,
                trans_b: tb,
                c,
                alpha: 0.7,
                beta: 0.3,
            })],
            red,
        ));
    }
    let (rows, cols) = (6, 5);
    for (act, _) in activations() {
        let mut ar = ArenaBuilder::default();
        let x = ar.put(&rand(257));
        let y = ar.zeros(257);
        let dy = ar.put(&rand(257));
        let dx = ar.zeros(257);
        cases.push((
            ar.vals,
            vec![
                Op::Activate(op::Activate { act, x, y }),
                Op::ActivateBackward(op::ActivateBackward { act, x, y, dy, dx }),
            ],
            e,
        ));
    }
    for kind in [
        LossKind::Mse,
        LossKind::SoftmaxCrossEntropy,
        LossKind::Hinge { margin: 1.0 },
    ] {
        let mut ar = ArenaBuilder::default();
        let pred = ar.put(
            &rand(rows * cols)
                .iter()
                .map(|v| v * 3.0)
                .collect::<Vec<_>>(),
        );
        let t: Vec<f64> = if kind.uses_labels() {
            (0..rows).map(|r| label((r % cols) as u32)).collect()
        } else {
            rand(rows * cols)
        };
        let target = ar.put(&t);
        let out = ar.zeros(1);
        let grad = ar.zeros(rows * cols);
        let correct = ar.zeros(1);
        let scratch = ar.zeros(op::Loss::scratch_len(&kind, cols));
        let mut ops = vec![Op::Loss(op::Loss {
            kind,
            pred,
            target,
            rows,
            cols,
            out,
            grad: Some(grad),
            scratch,
        })];
        if kind.uses_labels() {
            ops.push(Op::CountCorrect(op::CountCorrect {
                pred,
                target,
                rows,
                cols,
                out: correct,
            }));
        }
        cases.push((ar.vals, ops, red));
    }
    {
        let mut ar = ArenaBuilder::default();
        let x = ar.put(&rand(rows * cols));
        let y = ar.zeros(rows * cols);
        let dy = ar.put(&rand(rows * cols));
        let dx = ar.zeros(rows * cols);
        let bias = ar.put(&rand(cols));
        let dbias = ar.put(&rand(cols));
        let pieces = ar.put(&rand(rows * 12));
        let mo = ar.zeros(rows * 4);
        let mdy = ar.put(&rand(rows * 4));
        let mdx = ar.zeros(rows * 12);
        cases.push((
            ar.vals,
            vec![
                Op::Softmax(op::Softmax { x, y, rows, cols }),
                Op::SoftmaxBackward(op::SoftmaxBackward {
                    y,
                    dy,
                    dx,
                    rows,
                    cols,
                }),
                Op::BiasAdd(op::BiasAdd {
                    bias,
                    out: x,
                    rows,
                    cols,
                }),
                Op::BiasGrad(op::BiasGrad {
                    dout: dy,
                    dbias,
                    rows,
                    cols,
                }),
                Op::BiasActivate(op::BiasActivate {
                    act: Activation::Elu { alpha: 0.7 },
                    bias,
                    x: dx,
                    y: dy,
                    rows,
                    cols,
                }),
                Op::Maxout(op::Maxout {
                    x: pieces,
                    y: mo,
                    rows,
                    units: 4,
                    k: 3,
                }),
                Op::MaxoutBackward(op::MaxoutBackward {
                    x: pieces,
                    dy: mdy,
                    dx: mdx,
                    rows,
                    units: 4,
                    k: 3,
                }),
            ],
            e,
        ));
    }
    {
        let p = 50;
        let mut ar = ArenaBuilder::default();
        let param = ar.put(&rand(p));
        let grad = ar.put(&rand(p));
        let m = ar.zeros(p);
        let v = ar.zeros(p);
        let param2 = ar.put(&rand(p));
        let vel = ar.put(&rand(p));
        let mut ops = Vec::new();
        for t in 1..=3 {
            ops.push(Op::AdamStep(op::AdamStep {
                param,
                grad,
                m,
                v,
                lr: 0.01,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                bias1: 1.0 - 0.9f64.powi(t),
                bias2: 1.0 - 0.999f64.powi(t),
            }));
            ops.push(Op::MomentumStep(op::MomentumStep {
                param: param2,
                grad,
                velocity: vel,
                lr: 0.05,
                momentum: 0.9,
            }));
            ops.push(Op::SgdStep(op::SgdStep {
                param: param2,
                grad,
                lr: 0.01,
            }));
        }
        cases.push((ar.vals, ops, e));
    }
    for (i, (init, ops, t)) in cases.iter().enumerate() {
        assert_matches_reference::<H>(&format!("case {i} ({})", ops[0].name()), init, ops, *t);
    }
}

pub fn malformed_ops_are_errors<H: Harness>() {
    let Some(mut b) = H::backend(16) else { return };
    let bad = [
        Op::Fill(op::Fill {
            dst: Span::new(10, 7),
            value: 0.0,
        }),
        Op::Gemm(op::Gemm {
            m: 2,
            n: 2,
            k: 2,
            a: Span::new(0, 4),
            trans_a: false,
            b: Span::new(4, 4),
            trans_b: false,
            c: Span::new(2, 4),
            alpha: 1.0,
            beta: 0.0,
        }),
        Op::Copy(op::Copy {
            src: Span::new(0, 3),
            dst: Span::new(4, 2),
        }),
        Op::Loss(op::Loss {
            kind: LossKind::Mse,
            pred: Span::new(0, 4),
            target: Span::new(4, 3),
            rows: 2,
            cols: 2,
            out: Span::new(12, 1),
            grad: None,
            scratch: Span::new(13, 2),
        }),
        // y partially overlaps x.
        Op::BiasActivate(op::BiasActivate {
            act: Activation::Relu,
            bias: Span::new(0, 2),
            x: Span::new(2, 4),
            y: Span::new(4, 4),
            rows: 2,
            cols: 2,
        }),
    ];
    for op in &bad {
        assert!(
            b.execute(&op.map(<H::E as microprop::Element>::from_f64))
                .is_err(),
            "{}: {op:?} was accepted",
            H::NAME
        );
    }
    // Host copies past the end are errors too.
    let v = vec![<H::E as microprop::Element>::ZERO; 4];
    assert!(b.upload(14, &v).is_err());
    let mut out = vec![<H::E as microprop::Element>::ZERO; 4];
    assert!(b.download(usize::MAX - 1, &mut out).is_err());
}
