//! Every op against the CPU backend's scalar reference (`microprop-cpu`) on
//! random data, plus recording, replay, submission counting and errors.
//!
//! Outside CI (`CI` unset) with no Vulkan device each test prints a skip line
//! and passes; with `CI=true` a missing device fails the test.

use microprop_cpu::CpuBackend;
use microprop_hal::{op, Activation, Backend, ErrorKind, LossKind, Op, OpError, Span};

use super::*;

/// Relative tolerance for elementwise ops.
const ELEMENTWISE: f64 = 1e-5;
/// Relative tolerance for sums (gemm, reductions, losses).
const SUMS: f64 = 1e-4;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

fn make(len: usize, options: Options) -> Option<VulkanBackend> {
    match VulkanBackend::with_options(len, options) {
        Ok(b) => Some(b),
        Err(e @ Error::NoDevice { .. }) if !in_ci() => {
            // Once per test binary, and past the test harness's capture.
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIP microprop-vulkan tests: no Vulkan device ({e}); \
                     set CI=true to make this a failure"
                );
            });
            None
        }
        Err(e) => panic!("creating the Vulkan backend failed: {e}"),
    }
}

fn backend(len: usize) -> Option<VulkanBackend> {
    make(len, Options::default())
}

/// A small deterministic generator (xorshift), uniform in `lo..hi`.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
    fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.next()
    }
    fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }
}

/// Largest `|a - b| / max(|b|, floor)` over the two arenas; NaN must match NaN.
fn max_rel(a: &[f32], b: &[f32], floor: f64) -> f64 {
    assert_eq!(a.len(), b.len());
    let mut worst = 0.0f64;
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        if x.is_nan() || y.is_nan() {
            assert!(
                x.is_nan() && y.is_nan(),
                "element {i}: vulkan {x} vs cpu {y}"
            );
            continue;
        }
        if x == y {
            continue;
        }
        let (x, y) = (*x as f64, *y as f64);
        let e = (x - y).abs() / y.abs().max(floor);
        if e > worst {
            worst = e;
        }
    }
    worst
}

/// Run `ops` on a CPU arena and a Vulkan arena that start equal (`init`),
/// and compare the whole arenas. Returns the largest relative error seen.
fn check_ops(vk: &mut VulkanBackend, init: &[f32], ops: &[Op<f32>], tol: f64, what: &str) -> f64 {
    let mut cpu_arena = init.to_vec();
    let mut cpu = CpuBackend::reference(&mut cpu_arena);
    vk.upload(0, init).unwrap();
    for op in ops {
        cpu.execute(op).unwrap();
        vk.execute(op).unwrap();
    }
    vk.submit().unwrap();
    let mut got = vec![0.0f32; init.len()];
    vk.download(0, &mut got).unwrap();
    // Errors relative to |reference|, with values below 1e-3 compared
    // absolutely against 1e-3 (a relative error on a value near 0 is noise).
    let err = max_rel(&got, &cpu_arena, 1e-3);
    assert!(err <= tol, "{what}: max relative error {err:e} > {tol:e}");
    err
}

fn report(what: &str, err: f64) {
    eprintln!("{what}: max relative error {err:.3e}");
}

#[test]
fn elementwise_ops_match_reference() {
    let n = 1000;
    let Some(mut vk) = backend(4 * n + 8) else {
        return;
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let init = rng.vec(4 * n + 8, -3.0, 3.0);
    let s = |i: usize| Span::new(i * n, n);
    let out = Span::new(4 * n, 1);
    let ops = [
        Op::Fill(op::Fill {
            dst: s(3),
            value: 0.25,
        }),
        Op::Copy(op::Copy {
            src: s(0),
            dst: s(3),
        }),
        Op::Axpy(op::Axpy {
            x: s(1),
            y: s(2),
            alpha: -0.7,
        }),
        Op::SgdStep(op::SgdStep {
            param: s(0),
            grad: s(1),
            lr: 0.1,
        }),
    ];
    for (i, op) in ops.iter().enumerate() {
        let e = check_ops(&mut vk, &init, &[*op], ELEMENTWISE, op.name());
        report(ops[i].name(), e);
    }
    let e = check_ops(
        &mut vk,
        &init,
        &[Op::MomentumStep(op::MomentumStep {
            param: s(0),
            grad: s(1),
            velocity: s(2),
            lr: 0.05,
            momentum: 0.9,
        })],
        ELEMENTWISE,
        "momentum",
    );
    report("momentum_step", e);
    // Adam needs v >= 0.
    let mut adam_init = init.clone();
    for v in &mut adam_init[3 * n..4 * n] {
        *v = v.abs();
    }
    let e = check_ops(
        &mut vk,
        &adam_init,
        &[Op::AdamStep(op::AdamStep {
            param: s(0),
            grad: s(1),
            m: s(2),
            v: s(3),
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            bias1: 1.0 - 0.9f32.powi(3),
            bias2: 1.0 - 0.999f32.powi(3),
        })],
        ELEMENTWISE,
        "adam",
    );
    report("adam_step", e);
    for (scale, acc) in [(1.0, false), (0.01, true)] {
        let e = check_ops(
            &mut vk,
            &init,
            &[Op::SumSquares(op::SumSquares {
                x: s(0),
                out,
                scale,
                accumulate: acc,
            })],
            SUMS,
            "sum_squares",
        );
        report("sum_squares", e);
    }
}

#[test]
fn activations_match_reference() {
    let n = 2000;
    let Some(mut vk) = backend(4 * n) else { return };
    let mut rng = Rng(42);
    // Wide inputs reach the tails (exp under/overflow) of every function.
    let mut init = rng.vec(4 * n, -6.0, 6.0);
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
    for act in acts {
        let fwd = Op::Activate(op::Activate {
            act,
            x: s(0),
            y: s(1),
        });
        let e1 = check_ops(&mut vk, &init, &[fwd], ELEMENTWISE, "activate");
        // The backward op on the reference's own y = f(x): a 1-ulp difference
        // in y is amplified by y(1 - y) or 1 - y² near saturation, which would
        // test the forward op again, not the backward one.
        let mut with_y = init.clone();
        {
            let mut cpu = CpuBackend::new(&mut with_y);
            cpu.execute(&fwd).unwrap();
        }
        let bwd = Op::ActivateBackward(op::ActivateBackward {
            act,
            x: s(0),
            y: s(1),
            dy: s(2),
            dx: s(3),
        });
        let e2 = check_ops(&mut vk, &with_y, &[bwd], ELEMENTWISE, "activate_backward");
        // In place: y == x, dx == dy.
        let e3 = check_ops(
            &mut vk,
            &init,
            &[
                Op::Copy(op::Copy {
                    src: s(0),
                    dst: s(1),
                }),
                Op::Activate(op::Activate {
                    act,
                    x: s(1),
                    y: s(1),
                }),
            ],
            ELEMENTWISE,
            "activate in place",
        );
        let e4 = check_ops(
            &mut vk,
            &with_y,
            &[Op::ActivateBackward(op::ActivateBackward {
                act,
                x: s(0),
                y: s(1),
                dy: s(2),
                dx: s(2),
            })],
            ELEMENTWISE,
            "activate_backward in place",
        );
        let e3 = e3.max(e4);
        report(&format!("{act:?}"), e1.max(e2).max(e3));
    }
}

fn gemm_case(vk: &mut VulkanBackend, rng: &mut Rng, m: usize, n: usize, k: usize) -> f64 {
    let mut worst = 0.0f64;
    for (ta, tb, alpha, beta) in [
        (false, false, 1.0, 0.0),
        (true, false, 0.5, 1.0),
        (false, true, 1.0, -0.5),
        (true, true, 2.0, 0.0),
    ] {
        let a = Span::new(0, m * k);
        let b = Span::new(a.end(), k * n);
        let c = Span::new(b.end(), m * n);
        let mut init = rng.vec(c.end(), -1.0, 1.0);
        if beta == 0.0 {
            // beta == 0 ignores the old C, NaN included.
            for v in &mut init[c.offset..c.end()] {
                *v = f32::NAN;
            }
        }
        let arena_init = {
            let mut v = init.clone();
            v.resize(vk.arena_len(), 0.0);
            v
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
        worst = worst.max(check_ops(vk, &arena_init, &[op], SUMS, "gemm"));
    }
    worst
}

#[test]
fn gemm_matches_reference_both_kernels() {
    let len = 3 * 200 * 200;
    let Some(mut vk) = backend(len) else { return };
    let mut rng = Rng(7);
    for kernel in [GemmKernel::Tiled, GemmKernel::Blocked] {
        vk.set_gemm_kernel(kernel);
        let mut worst = 0.0f64;
        for (m, n, k) in [
            (1, 1, 1),
            (3, 5, 7),
            (16, 16, 16),
            (17, 33, 15),
            (32, 10, 64),
            (64, 32, 32),
            (5, 3, 0),
            (100, 70, 130),
            (200, 199, 64),
        ] {
            worst = worst.max(gemm_case(&mut vk, &mut rng, m, n, k));
        }
        report(&format!("gemm {kernel:?}"), worst);
    }
}

#[test]
fn row_ops_match_reference() {
    let (rows, cols) = (37, 12);
    let rc = rows * cols;
    let Some(mut vk) = backend(6 * rc + 3 * rows + 16) else {
        return;
    };
    let mut rng = Rng(99);
    let mut init = rng.vec(vk.arena_len(), -4.0, 4.0);
    let s = |i: usize| Span::new(i * rc, rc);
    let bias = Span::new(6 * rc, cols);
    let labels = Span::new(6 * rc + 2 * rows, rows);
    // Labels: mostly valid classes, a few out of range or fractional.
    for (r, v) in init[labels.offset..labels.end()].iter_mut().enumerate() {
        *v = match r % 9 {
            7 => cols as f32,
            8 => 1.5,
            _ => (r % cols) as f32,
        };
    }
    let out = Span::new(labels.end(), 1);
    let mut worst = 0.0f64;
    let ops: Vec<(Vec<Op<f32>>, f64)> = vec![
        (
            vec![Op::BiasAdd(op::BiasAdd {
                bias,
                out: s(0),
                rows,
                cols,
            })],
            ELEMENTWISE,
        ),
        (
            vec![Op::BiasGrad(op::BiasGrad {
                dout: s(0),
                dbias: bias,
                rows,
                cols,
            })],
            SUMS,
        ),
        (
            vec![Op::Softmax(op::Softmax {
                x: s(0),
                y: s(1),
                rows,
                cols,
            })],
            SUMS,
        ),
        (
            vec![Op::Softmax(op::Softmax {
                x: s(0),
                y: s(0),
                rows,
                cols,
            })],
            SUMS,
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
            SUMS,
        ),
        (
            vec![
                Op::Maxout(op::Maxout {
                    x: s(0),
                    y: Span::new(s(1).offset, rc / 3),
                    rows,
                    units: cols / 3,
                    k: 3,
                }),
                Op::MaxoutBackward(op::MaxoutBackward {
                    x: s(0),
                    dy: Span::new(s(1).offset, rc / 3),
                    dx: s(2),
                    rows,
                    units: cols / 3,
                    k: 3,
                }),
            ],
            ELEMENTWISE,
        ),
        (
            vec![Op::CountCorrect(op::CountCorrect {
                pred: s(0),
                target: labels,
                rows,
                cols,
                out,
            })],
            ELEMENTWISE,
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
            SUMS,
        ),
    ];
    for (ops, tol) in &ops {
        let e = check_ops(&mut vk, &init, ops, *tol, ops[0].name());
        report(ops[0].name(), e);
        worst = worst.max(e);
    }
    for kind in [
        LossKind::SoftmaxCrossEntropy,
        LossKind::Hinge { margin: 1.0 },
    ] {
        for grad in [None, Some(s(2))] {
            let op = Op::Loss(op::Loss {
                kind,
                pred: s(0),
                target: labels,
                rows,
                cols,
                out,
                grad,
                scratch: s(5),
            });
            let e = check_ops(&mut vk, &init, &[op], SUMS, "loss");
            report(&format!("loss {kind:?}"), e);
        }
    }
}

#[test]
fn cross_entropy_is_finite_for_huge_logits() {
    let Some(mut vk) = backend(32) else { return };
    // Two rows of three logits at ±1000; labels 0 and 2.
    vk.upload(0, &[1000.0, -1000.0, 0.0, -1000.0, 1000.0, 0.0, 0.0, 2.0])
        .unwrap();
    let op = Op::Loss(op::Loss {
        kind: LossKind::SoftmaxCrossEntropy,
        pred: Span::new(0, 6),
        target: Span::new(6, 2),
        rows: 2,
        cols: 3,
        out: Span::new(8, 1),
        grad: Some(Span::new(9, 6)),
        scratch: Span::new(15, 10),
    });
    vk.execute(&op).unwrap();
    let mut got = [0.0f32; 7];
    vk.download(8, &mut got).unwrap();
    assert!(got.iter().all(|v| v.is_finite()), "{got:?}");
    // Row 0 is right (loss 0), row 1 is off by 1000: mean 500.
    assert!((got[0] - 500.0).abs() < 1e-3, "loss {}", got[0]);
    assert_eq!(&got[1..], &[0.0, 0.0, 0.0, 0.0, 0.5, -0.5]);
}

#[test]
fn perceptron_ops_match_reference() {
    let (rows, cols) = (150, 5);
    let Some(mut vk) = backend(rows * cols + rows + 3 * cols + 2 + op::PERCEPTRON_SCRATCH) else {
        return;
    };
    let mut rng = Rng(5);
    let mut init = rng.vec(vk.arena_len(), -2.0, 2.0);
    let samples = Span::new(0, rows * cols);
    let labels = Span::new(samples.end(), rows);
    let weights = Span::new(labels.end(), cols);
    let average = Span::new(weights.end(), cols);
    let stats = Span::new(average.end(), 1);
    let out = Span::new(stats.end(), 1);
    let scratch = Span::new(out.end(), op::PERCEPTRON_SCRATCH);
    let truth = [0.5f32, -1.0, 0.25, 2.0, -0.3];
    for r in 0..rows {
        let x = &init[r * cols..(r + 1) * cols];
        let s: f32 = x.iter().zip(&truth).map(|(a, b)| a * b).sum();
        init[labels.offset + r] = if s > 0.0 { 1.0 } else { -1.0 };
    }
    for v in &mut init[weights.offset..out.end()] {
        *v = 0.0;
    }
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
    // Exact: the GPU walks the rows in the same order with the same sums.
    let e = check_ops(
        &mut vk,
        &init,
        &[
            epoch(Some(average)),
            epoch(None),
            epoch(Some(average)),
            errors,
        ],
        0.0,
        "perceptron",
    );
    report("perceptron", e);
}

#[test]
fn a_training_step_is_one_submission_and_replays() {
    // A 4-3-2 network, batch 5: forward, loss, backward, SGD, as the core
    // lowers it; the step is repeated with a new learning rate every time.
    let (b, i, h, o) = (5, 4, 3, 2);
    let mut off = 0;
    let mut span = |len| {
        let s = Span::new(off, len);
        off += len;
        s
    };
    let (w1, b1, w2, b2) = (span(i * h), span(h), span(h * o), span(o));
    let (gw1, gb1, gw2, gb2) = (span(i * h), span(h), span(h * o), span(o));
    let (x, t, z1, a1, z2, dz2, da1, loss) = (
        span(b * i),
        span(b),
        span(b * h),
        span(b * h),
        span(b * o),
        span(b * o),
        span(b * h),
        span(1),
    );
    let loss_scratch = span(4 * o + 2);
    let len = off;
    let Some(mut vk) = backend(len) else { return };
    let mut rng = Rng(11);
    let mut init = rng.vec(len, -1.0, 1.0);
    for r in 0..b {
        init[t.offset + r] = (r % o) as f32;
    }
    let step = |lr: f32| {
        vec![
            Op::Gemm(op::Gemm {
                m: b,
                n: h,
                k: i,
                a: x,
                trans_a: false,
                b: w1,
                trans_b: false,
                c: z1,
                alpha: 1.0,
                beta: 0.0,
            }),
            Op::BiasAdd(op::BiasAdd {
                bias: b1,
                out: z1,
                rows: b,
                cols: h,
            }),
            Op::Activate(op::Activate {
                act: Activation::Tanh,
                x: z1,
                y: a1,
            }),
            Op::Gemm(op::Gemm {
                m: b,
                n: o,
                k: h,
                a: a1,
                trans_a: false,
                b: w2,
                trans_b: false,
                c: z2,
                alpha: 1.0,
                beta: 0.0,
            }),
            Op::BiasAdd(op::BiasAdd {
                bias: b2,
                out: z2,
                rows: b,
                cols: o,
            }),
            Op::Loss(op::Loss {
                kind: LossKind::SoftmaxCrossEntropy,
                pred: z2,
                target: t,
                rows: b,
                cols: o,
                out: loss,
                grad: Some(dz2),
                scratch: loss_scratch,
            }),
            Op::Fill(op::Fill {
                dst: Span::new(gw1.offset, gb2.end() - gw1.offset),
                value: 0.0,
            }),
            Op::Gemm(op::Gemm {
                m: h,
                n: o,
                k: b,
                a: a1,
                trans_a: true,
                b: dz2,
                trans_b: false,
                c: gw2,
                alpha: 1.0,
                beta: 1.0,
            }),
            Op::BiasGrad(op::BiasGrad {
                dout: dz2,
                dbias: gb2,
                rows: b,
                cols: o,
            }),
            Op::Gemm(op::Gemm {
                m: b,
                n: h,
                k: o,
                a: dz2,
                trans_a: false,
                b: w2,
                trans_b: true,
                c: da1,
                alpha: 1.0,
                beta: 0.0,
            }),
            Op::ActivateBackward(op::ActivateBackward {
                act: Activation::Tanh,
                x: z1,
                y: a1,
                dy: da1,
                dx: da1,
            }),
            Op::Gemm(op::Gemm {
                m: i,
                n: h,
                k: b,
                a: x,
                trans_a: true,
                b: da1,
                trans_b: false,
                c: gw1,
                alpha: 1.0,
                beta: 1.0,
            }),
            Op::BiasGrad(op::BiasGrad {
                dout: da1,
                dbias: gb1,
                rows: b,
                cols: h,
            }),
            Op::SgdStep(op::SgdStep {
                param: Span::new(w1.offset, b2.end()),
                grad: Span::new(gw1.offset, gb2.end() - gw1.offset),
                lr,
            }),
        ]
    };
    let mut cpu_arena = init.clone();
    let mut cpu = CpuBackend::new(&mut cpu_arena);
    vk.upload(0, &init).unwrap();
    let subs0 = vk.submissions();
    let mut losses = Vec::new();
    for s in 0..20 {
        let lr = 0.5 / (1.0 + s as f32);
        for op in step(lr) {
            cpu.execute(&op).unwrap();
            vk.execute(&op).unwrap();
        }
        vk.submit().unwrap();
        assert_eq!(vk.submissions() - subs0, s + 1, "one submission per step");
        let mut l = [0.0f32];
        vk.download(loss.offset, &mut l).unwrap();
        losses.push(l[0]);
        assert_eq!(
            vk.submissions() - subs0,
            s + 1,
            "a download after submit costs no submission when mapped"
        );
    }
    assert_eq!(
        vk.recordings(),
        1,
        "the step was recorded once and replayed"
    );
    let mut got = vec![0.0f32; len];
    vk.download(0, &mut got).unwrap();
    let err = max_rel(&got, cpu.arena(), 1e-3);
    report("20 replayed steps (changing lr)", err);
    assert!(err <= 1e-4, "replayed steps drift from the CPU: {err:e}");
    assert!(
        losses[19] < losses[0],
        "training did not reduce the loss: {losses:?}"
    );
}

#[test]
fn staging_path_matches_mapped_path() {
    let Some(mut vk) = make(
        64,
        Options {
            force_staging: true,
            ..Default::default()
        },
    ) else {
        return;
    };
    assert!(!vk.is_mapped());
    let data: Vec<f32> = (0..64).map(|v| v as f32).collect();
    let s0 = vk.submissions();
    vk.upload(0, &data).unwrap();
    vk.execute(&Op::Axpy(op::Axpy {
        x: Span::new(0, 8),
        y: Span::new(8, 8),
        alpha: 2.0,
    }))
    .unwrap();
    vk.upload(16, &[100.0; 4]).unwrap();
    vk.execute(&Op::Copy(op::Copy {
        src: Span::new(16, 4),
        dst: Span::new(20, 4),
    }))
    .unwrap();
    let mut got = vec![0.0f32; 24];
    vk.download(0, &mut got).unwrap();
    assert_eq!(
        vk.submissions() - s0,
        1,
        "uploads, ops and the readback ride one submission"
    );
    let mut want: Vec<f32> = data[..24].to_vec();
    for j in 0..8 {
        want[8 + j] += 2.0 * want[j];
    }
    want[16..24].fill(100.0);
    assert_eq!(got, want);
    // The same sequence again replays the recorded command buffer.
    let r = vk.recordings();
    vk.upload(0, &data).unwrap();
    vk.execute(&Op::Axpy(op::Axpy {
        x: Span::new(0, 8),
        y: Span::new(8, 8),
        alpha: 3.0,
    }))
    .unwrap();
    vk.upload(16, &[7.0; 4]).unwrap();
    vk.execute(&Op::Copy(op::Copy {
        src: Span::new(16, 4),
        dst: Span::new(20, 4),
    }))
    .unwrap();
    vk.download(0, &mut got).unwrap();
    assert_eq!(vk.recordings(), r);
    assert_eq!(got[8], 8.0);
    assert_eq!(got[23], 7.0);
}

#[test]
fn ops_issued_in_order_see_uploads_in_order() {
    let Some(mut vk) = backend(8) else { return };
    vk.upload(0, &[1.0, 2.0]).unwrap();
    vk.execute(&Op::Copy(op::Copy {
        src: Span::new(0, 2),
        dst: Span::new(2, 2),
    }))
    .unwrap();
    // Pending work: this upload is recorded after the copy, not before it.
    vk.upload(0, &[5.0, 6.0]).unwrap();
    vk.execute(&Op::Copy(op::Copy {
        src: Span::new(0, 2),
        dst: Span::new(4, 2),
    }))
    .unwrap();
    let mut got = [0.0f32; 6];
    vk.download(0, &mut got).unwrap();
    assert_eq!(got, [5.0, 6.0, 1.0, 2.0, 5.0, 6.0]);
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let Some(mut vk) = backend(10) else { return };
    let e = vk.upload(8, &[0.0; 3]).unwrap_err();
    assert_eq!(microprop_hal::Error::kind(&e), ErrorKind::OutOfBounds);
    let e = vk.download(usize::MAX, &mut [0.0; 2]).unwrap_err();
    assert!(matches!(e, Error::OutOfBounds { .. }));
    let e = vk
        .execute(&Op::Fill(op::Fill {
            dst: Span::new(5, 6),
            value: 1.0,
        }))
        .unwrap_err();
    assert!(matches!(e, Error::Op(OpError::OutOfBounds { .. })));
    let e = vk
        .execute(&Op::Gemm(op::Gemm {
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
        }))
        .unwrap_err();
    assert_eq!(microprop_hal::Error::kind(&e), ErrorKind::Shape);
    assert_eq!(vk.pending(), 0, "rejected ops are not recorded");
}

#[test]
fn unknown_device_is_a_typed_error() {
    match VulkanBackend::with_device(4, "no-such-device-0xdeadbeef") {
        Err(Error::NoDevice { wanted, .. }) => {
            assert!(wanted.contains("no-such-device-0xdeadbeef"), "{wanted}");
        }
        Err(e) => panic!("expected NoDevice, got {e}"),
        Ok(_) => panic!("a device matched a made-up name"),
    }
}

#[test]
fn empty_arena_and_empty_ops_work() {
    let Some(mut vk) = backend(0) else { return };
    vk.upload(0, &[]).unwrap();
    vk.execute(&Op::Fill(op::Fill {
        dst: Span::new(0, 0),
        value: 1.0,
    }))
    .unwrap();
    vk.submit().unwrap();
    vk.download(0, &mut []).unwrap();
}

#[test]
fn network_train_step_is_one_submission() {
    use microprop::{Config, Layer, Loss, Network, Optimizer, Spec, Targets};
    const SPEC: Spec = Spec::new(&[Layer::dense(64, 32), Layer::relu(), Layer::dense(32, 10)]);
    let cfg = Config::new(32, Loss::SoftmaxCrossEntropy, Optimizer::adam(1e-3));
    let Some(vk) = backend(cfg.arena_len(&SPEC)) else {
        return;
    };
    let mut net = Network::new(SPEC, vk, cfg).unwrap();
    let mut rng = Rng(3);
    let x = rng.vec(32 * 64, 0.0, 1.0);
    let y: Vec<usize> = (0..32).map(|r| r % 10).collect();
    net.train_step(&x, Targets::Labels(&y)).unwrap();
    let (s0, r0) = (net.backend().submissions(), net.backend().recordings());
    let mut losses = Vec::new();
    for _ in 0..10 {
        losses.push(net.train_step(&x, Targets::Labels(&y)).unwrap());
    }
    // Adam's bias corrections change every step: the replayed command
    // buffer picks them up from the params buffer.
    assert_eq!(
        net.backend().submissions() - s0,
        10,
        "one submission per train_step"
    );
    assert_eq!(
        net.backend().recordings(),
        r0,
        "train_step replays its command buffer"
    );
    assert!(losses[9] < losses[0], "{losses:?}");
}

#[test]
fn backend_and_error_are_send_and_sync() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<VulkanBackend>();
    send::<Error>();
    sync::<Error>();
}

#[test]
fn a_device_can_be_picked_by_name() {
    let Some(first) = backend(1) else { return };
    let all = devices().unwrap();
    assert_eq!(all[0], *first.device(), "new() picks the preferred device");
    assert!(all.windows(2).all(|w| w[0].kind <= w[1].kind), "{all:?}");
    let name = &all[all.len() - 1].name;
    let picked = VulkanBackend::with_device(1, &name.to_uppercase()).unwrap();
    assert_eq!(picked.device().name, *name);
}
