//! CPU backend, fast vs reference kernels side by side: each gemm at the
//! shapes the three target networks issue, and full training steps
//! (forward, softmax CE, backward and SGD, f32; also fused SGD) for
//! 64-32-10 batch 32, 64-32-10 batch 1 and 784-128-10 batch 32, and the
//! BasicMotions 1-D CNN (batch 8 and 32) with its sliding-window kernels
//! (im2col, col2im) at its first convolution's shape.
//!
//! Run with the host's vector units enabled (FMA, AVX2/AVX-512):
//! `RUSTFLAGS="-C target-cpu=native" cargo bench -p benches --bench cpu`
//! (`bash benches/run.sh` does that). Without it x86_64 builds for the
//! baseline (SSE2, no FMA).

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::time::Duration;

use benches::{batch, gemm_shapes, sgd_config, MNIST, MOTIONS, SMALL};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use microprop::{Config, Network, Optimizer, Spec, Targets};
use microprop_cpu::{gemm as fast, reference, CpuBackend, Kernels};
use microprop_hal::{op, Activation, Backend, Op, Span};

fn gemm(c: &mut Criterion) {
    let mut g = c.benchmark_group("gemm_f32");
    for (net, shape) in gemm_shapes() {
        let (m, n, k, ta, tb) = (shape.m, shape.n, shape.k, shape.trans_a, shape.trans_b);
        let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.2).collect();
        let mut out = vec![0.0f32; m * n];
        g.throughput(Throughput::Elements((2 * m * n * k) as u64));
        let id = format!("{net}/{}/{m}x{n}x{k}", shape.case());
        g.bench_function(BenchmarkId::new("fast", &id), |bench| {
            bench.iter(|| fast::gemm(m, n, k, &a, ta, &b, tb, &mut out, 1.0, 0.0).unwrap())
        });
        g.bench_function(BenchmarkId::new("reference", &id), |bench| {
            bench.iter(|| reference::gemm(m, n, k, &a, ta, &b, tb, &mut out, 1.0, 0.0).unwrap())
        });
    }
    g.finish();
}

/// The forward bias + ReLU of each target step's hidden layer: the fused
/// `BiasActivate` (one pass, what `core` now emits) against `BiasAdd` then
/// `Activate` (the two passes it replaced), both on the default kernels.
fn bias_activate(c: &mut Criterion) {
    let mut g = c.benchmark_group("bias_relu_f32");
    for (rows, cols) in [(32, 32), (1, 32), (32, 128)] {
        let n = rows * cols;
        let (bias, x, y) = (
            Span::new(0, cols),
            Span::new(cols, n),
            Span::new(cols + n, n),
        );
        let mut arena: Vec<f32> = (0..cols + 2 * n).map(|i| (i % 7) as f32 - 3.0).collect();
        let mut cpu = CpuBackend::new(&mut arena);
        let act = Activation::Relu;
        let id = format!("{rows}x{cols}");
        g.bench_function(BenchmarkId::new("fused", &id), |b| {
            b.iter(|| {
                cpu.execute(&Op::BiasActivate(op::BiasActivate {
                    act,
                    bias,
                    x,
                    y,
                    rows,
                    cols,
                }))
                .unwrap()
            })
        });
        g.bench_function(BenchmarkId::new("bias_add+activate", &id), |b| {
            b.iter(|| {
                cpu.execute(&Op::BiasAdd(op::BiasAdd {
                    bias,
                    out: x,
                    rows,
                    cols,
                }))
                .unwrap();
                cpu.execute(&Op::Activate(op::Activate { act, x, y }))
                    .unwrap()
            })
        });
    }
    g.finish();
}

fn step(c: &mut Criterion, name: &str, spec: Spec<'static>, rows: usize) {
    let cfg = sgd_config(rows);
    let (x, y) = batch(rows, spec.inputs(), spec.outputs(), 1);
    let mut g = c.benchmark_group("train_step_f32");
    let fused = Config {
        optimizer: Optimizer::fused_sgd(0.01),
        ..cfg
    };
    for (label, kernels, cfg) in [
        ("fast", Kernels::Fast, cfg),
        ("fast-fused-sgd", Kernels::Fast, fused),
        ("reference", Kernels::Reference, cfg),
    ] {
        let mut arena = vec![0.0f32; cfg.arena_len(&spec)];
        let backend = CpuBackend::with_kernels(&mut arena, kernels);
        let mut net = Network::new(spec, backend, cfg).unwrap();
        g.bench_function(BenchmarkId::new(label, name), |b| {
            b.iter(|| net.train_step(&x, Targets::Labels(&y)).unwrap())
        });
    }
    g.finish();
}

fn steps(c: &mut Criterion) {
    step(c, "64-32-10/batch32", SMALL, 32);
    step(c, "64-32-10/batch1", SMALL, 1);
    step(c, "784-128-10/batch32", MNIST, 32);
    step(c, "motions-cnn/batch8", MOTIONS, 8);
    step(c, "motions-cnn/batch32", MOTIONS, 32);
}

/// im2col and col2im at the CNN's first convolution (6 channels × 100
/// steps, k 5, pad 2: 100 windows of 30), one sample, as the layer issues
/// them; elements moved per second.
fn windows(c: &mut Criterion) {
    let w = op::Window {
        channels: 6,
        height: 1,
        width: 100,
        kh: 1,
        kw: 5,
        stride: 1,
        pad_h: 0,
        pad_w: 2,
    };
    let (n_x, n_cols) = (w.image_len(), w.cols_len());
    let (x, cols) = (Span::new(0, n_x), Span::new(n_x, n_cols));
    let mut arena: Vec<f32> = (0..n_x + n_cols).map(|i| (i % 7) as f32 - 3.0).collect();
    let mut cpu = CpuBackend::new(&mut arena);
    let mut g = c.benchmark_group("windows_f32");
    g.throughput(Throughput::Elements(n_cols as u64));
    let layout = op::ColLayout::Conv;
    g.bench_function("im2col/6x100-k5-pad2", |b| {
        b.iter(|| {
            cpu.execute(&Op::Im2col(op::Im2col {
                x,
                cols,
                rows: 1,
                window: w,
                layout,
            }))
            .unwrap()
        })
    });
    g.bench_function("col2im/6x100-k5-pad2", |b| {
        b.iter(|| {
            cpu.execute(&Op::Col2im(op::Col2im {
                cols,
                x,
                rows: 1,
                window: w,
                layout,
            }))
            .unwrap()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = gemm, bias_activate, steps, windows
}
criterion_main!(benches);
