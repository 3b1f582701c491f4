//! The Vulkan backend's own behaviour, beyond the shared suite: both gemm
//! kernels, one queue submission per training step and its replay, the
//! staging-copy path, its error variants, and device picking. Run by
//! `tests/vulkan.rs` as the `vulkan_backend::` group, which is reported as
//! ignored (the reason printed once) where the suite's Vulkan harness is,
//! that is without a device outside CI.
//!
//! Each backend is built with explicit [`Options`] (mapped arena, the
//! default gemm kernel), whatever `MICROPROP_VULKAN_FORCE_STAGING` and
//! `MICROPROP_VULKAN_GEMM` say.

use microprop::hal::{op, Activation, Error as _, ErrorKind, LossKind, Op, OpError, Span};
use microprop::{Backend, Element};
use microprop_cpu::CpuBackend;
use microprop_vulkan::{devices, Error, GemmKernel, Options, VulkanBackend};

/// Relative tolerance for sums (gemm, reductions, losses).
const SUMS: f64 = 1e-4;

/// The tests of this file, for [`host_tests::Suite::tests`].
pub fn tests() -> Vec<(&'static str, fn())> {
    vec![
        (
            "gemm_matches_reference_both_kernels",
            gemm_matches_reference_both_kernels,
        ),
        (
            "a_training_step_is_one_submission_and_replays",
            a_training_step_is_one_submission_and_replays,
        ),
        (
            "staging_path_matches_mapped_path",
            staging_path_matches_mapped_path,
        ),
        (
            "bad_input_is_an_error_with_its_variant_and_not_recorded",
            bad_input_is_an_error_with_its_variant_and_not_recorded,
        ),
        (
            "network_train_step_is_one_submission",
            network_train_step_is_one_submission,
        ),
        (
            "a_device_can_be_picked_by_name",
            a_device_can_be_picked_by_name,
        ),
        (
            "a_rejected_op_drops_its_unit_of_work_but_not_uploads",
            a_rejected_op_drops_its_unit_of_work_but_not_uploads,
        ),
        (
            "a_failed_train_step_leaves_the_parameters_bit_identical",
            a_failed_train_step_leaves_the_parameters_bit_identical,
        ),
    ]
}

fn make(len: usize, options: Options) -> VulkanBackend {
    VulkanBackend::with_options(len, options)
        .unwrap_or_else(|e| panic!("creating the Vulkan backend failed: {e}"))
}

fn backend(len: usize) -> VulkanBackend {
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

fn gemm_matches_reference_both_kernels() {
    let len = 3 * 200 * 200;
    let mut vk = backend(len);
    let mut rng = Rng(7);
    for kernel in [GemmKernel::Tiled, GemmKernel::Blocked] {
        vk.set_gemm_kernel(kernel);
        let mut worst = 0.0f64;
        for (m, n, k) in host_tests::suite::differential::GEMM_SHAPES {
            worst = worst.max(gemm_case(&mut vk, &mut rng, m, n, k));
        }
        report(&format!("gemm {kernel:?}"), worst);
    }
}

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
    let mut vk = backend(len);
    let mut rng = Rng(11);
    let mut init = rng.vec(len, -1.0, 1.0);
    for r in 0..b {
        init[t.offset + r] = f32::from_index((r % o) as u32);
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
    let mut cpu = CpuBackend::reference(&mut cpu_arena);
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

fn staging_path_matches_mapped_path() {
    let mut vk = make(
        64,
        Options {
            force_staging: true,
            ..Default::default()
        },
    );
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

fn bad_input_is_an_error_with_its_variant_and_not_recorded() {
    let mut vk = backend(10);
    let e = vk.upload(8, &[0.0; 3]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OutOfBounds);
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
    assert_eq!(e.kind(), ErrorKind::Shape);
    assert_eq!(vk.pending(), 0, "rejected ops are not recorded");
}

fn network_train_step_is_one_submission() {
    use microprop::{Config, Layer, Loss, Network, Optimizer, Spec, Targets};
    const SPEC: Spec = Spec::new(&[Layer::dense(64, 32), Layer::relu(), Layer::dense(32, 10)]);
    let cfg = Config::new(32, Loss::SoftmaxCrossEntropy, Optimizer::adam(1e-3));
    let vk = backend(cfg.arena_len(&SPEC));
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

fn a_device_can_be_picked_by_name() {
    let first = backend(1);
    let all = devices().unwrap();
    assert_eq!(all[0], *first.device(), "new() picks the preferred device");
    assert!(all.windows(2).all(|w| w[0].kind <= w[1].kind), "{all:?}");
    let name = &all[all.len() - 1].name;
    let picked = VulkanBackend::with_device(1, &name.to_uppercase()).unwrap();
    assert_eq!(picked.device().name, *name);
}

/// Gemm workgroups are 32 wide and at most 65,535 per dimension: one more
/// column than 32 × 65,535 is a gemm the backend cannot dispatch.
const TOO_WIDE: usize = 32 * 65_535 + 1;

/// Panics with the first differing element (and how many differ) unless
/// `got` and `want` are bit-identical.
fn assert_same_bits(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let differ: Vec<usize> = (0..got.len())
        .filter(|&i| got[i].to_bits() != want[i].to_bits())
        .collect();
    if let Some(&i) = differ.first() {
        panic!(
            "{what}: {} elements differ, the first at {i}: {} instead of {}",
            differ.len(),
            got[i],
            want[i]
        );
    }
}

/// Ops recorded since the last submission (and an upload among them), then
/// a rejected op: the recorded ops never run, the upload does, and the
/// backend keeps working. Rejections: a malformed primitive and a malformed
/// composite (`Op::validate`), and a valid gemm too wide to dispatch
/// (`TooLarge`), on the mapped and the staging path.
fn a_rejected_op_drops_its_unit_of_work_but_not_uploads() {
    let len = 2 * TOO_WIDE + 1;
    let too_wide = Op::Gemm(op::Gemm {
        m: 1,
        n: TOO_WIDE,
        k: 1,
        a: Span::new(0, 1),
        trans_a: false,
        b: Span::new(1, TOO_WIDE),
        trans_b: false,
        c: Span::new(1 + TOO_WIDE, TOO_WIDE),
        alpha: 1.0,
        beta: 0.0,
    });
    let malformed = Op::Fill(op::Fill {
        dst: Span::new(len - 2, 4),
        value: 1.0,
    });
    let composite = Op::BiasActivate(op::BiasActivate {
        act: Activation::Relu,
        bias: Span::new(0, 3),
        x: Span::new(4, 8),
        y: Span::new(12, 8),
        rows: 2,
        cols: 4,
    });
    let rejected = [
        ("a malformed fill", malformed, ErrorKind::OutOfBounds),
        ("a malformed bias + activation", composite, ErrorKind::Shape),
        ("a gemm too wide", too_wide, ErrorKind::Unsupported),
    ];
    for staging in [false, true] {
        let mut vk = make(
            len,
            Options {
                force_staging: staging,
                ..Default::default()
            },
        );
        let start: Vec<f32> = (0..32).map(|v| v as f32).collect();
        vk.upload(0, &start).unwrap();
        vk.submit().unwrap();
        for (what, bad, kind) in &rejected {
            let path = if staging { "staging" } else { "mapped" };
            let mut before = vec![0.0f32; len];
            vk.download(0, &mut before).unwrap();
            vk.execute(&Op::Axpy(op::Axpy {
                x: Span::new(0, 8),
                y: Span::new(8, 8),
                alpha: 2.0,
            }))
            .unwrap();
            vk.upload(16, &[100.0; 4]).unwrap();
            vk.execute(&Op::Fill(op::Fill {
                dst: Span::new(24, 4),
                value: 5.0,
            }))
            .unwrap();
            let e = vk.execute(bad).unwrap_err();
            assert_eq!(e.kind(), *kind, "{path}, {what}: {e}");
            let mut after = vec![0.0f32; len];
            vk.download(0, &mut after).unwrap();
            // Only the upload landed: the axpy and the fill were dropped.
            let mut want = before.clone();
            want[16..20].fill(100.0);
            assert_same_bits(
                &after,
                &want,
                &format!("{path}, {what}: the arena after the rejected op"),
            );
            // The backend keeps working: a new unit runs in full.
            vk.execute(&Op::Axpy(op::Axpy {
                x: Span::new(16, 2),
                y: Span::new(30, 2),
                alpha: 0.5,
            }))
            .unwrap();
            vk.submit().unwrap();
            let mut tail = [0.0f32; 2];
            vk.download(30, &mut tail).unwrap();
            want[30] += 50.0;
            want[31] += 50.0;
            assert_eq!(tail, [want[30], want[31]], "{path}, {what}: the next unit");
        }
    }
}

/// The case: a network whose first layer is too wide for a gemm
/// dispatch in its backward pass, trained with SGD fused into backward, so
/// the last layer's update is recorded before the first layer's gemm is
/// rejected. `train_step` fails, and the parameters stay bit-identical,
/// also after a second failing step, on the mapped and the staging path
/// (where the step's input upload is recorded, and kept).
fn a_failed_train_step_leaves_the_parameters_bit_identical() {
    use microprop::{Config, Layer, Loss, Network, Optimizer, Spec, Targets};
    const SPEC: Spec = Spec::new(&[Layer::dense(TOO_WIDE, 1), Layer::dense(1, 1)]);
    let cfg = Config::new(1, Loss::Mse, Optimizer::fused_sgd(0.1));
    for staging in [false, true] {
        let path = if staging { "staging" } else { "mapped" };
        let vk = make(
            cfg.arena_len(&SPEC),
            Options {
                force_staging: staging,
                ..Default::default()
            },
        );
        let mut net = Network::new(SPEC, vk, cfg).unwrap();
        let mut before = vec![0.0f32; SPEC.param_count()];
        net.parameters(&mut before).unwrap();
        let x = vec![1.0f32; TOO_WIDE];
        for attempt in 0..2 {
            let e = net
                .train_step(&x, Targets::Values(&[100.0]))
                .map(|_| ())
                .unwrap_err();
            assert!(
                matches!(e, microprop::Error::Backend(Error::TooLarge { .. })),
                "{path}, attempt {attempt}: {e}"
            );
            let mut after = vec![0.0f32; SPEC.param_count()];
            net.parameters(&mut after).unwrap();
            assert_same_bits(
                &after,
                &before,
                &format!("{path}, attempt {attempt}: the parameters after a failed train_step"),
            );
        }
    }
}
