//! Vulkan backend next to the CPU reference: full training steps (forward +
//! softmax CE + backward + SGD) with queue submissions per step, and gemm
//! Gflop/s for both Vulkan gemm kernels (tiled through shared memory, and
//! register-blocked).
//!
//! ```text
//! cargo bench -p benches --features vulkan --bench vulkan
//! ```
//!
//! Criterion reports gemm throughput in elements/s where one element is one
//! flop (2·m·n·k per gemm), so `Gelem/s` reads as Gflop/s. On lavapipe (Mesa's
//! CPU Vulkan driver) these numbers measure a CPU, not a GPU. With no Vulkan
//! device the bench prints a skip line and measures only the CPU.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use benches::{batch, sgd_config, MNIST, SMALL};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use microprop::{Network, Spec, Targets};
use microprop_cpu::{reference, CpuBackend};
use microprop_hal::{op, Backend, Op, Span};
use microprop_vulkan::{GemmKernel, Options, VulkanBackend};

fn vulkan(len: usize, gemm: GemmKernel) -> Option<VulkanBackend> {
    match VulkanBackend::with_options(
        len,
        Options {
            gemm,
            ..Default::default()
        },
    ) {
        Ok(b) => Some(b),
        Err(e) => {
            println!("SKIP vulkan benches: {e}");
            None
        }
    }
}

/// Gemm ops recorded per submission, so the kernel, not the ~50–100 µs of
/// submit and fence wait, dominates.
const GEMMS_PER_SUBMIT: usize = 8;

fn gemm(c: &mut Criterion) {
    let mut g = c.benchmark_group("gemm_f32");
    for &(m, n, k) in &[(32usize, 32usize, 64usize), (32, 128, 784), (128, 128, 128)] {
        let flops = (2 * m * n * k) as u64;
        let id = format!("{m}x{n}x{k}");
        let a = vec![0.5f32; m * k];
        let b = vec![0.25f32; k * n];
        let mut out = vec![0.0f32; m * n];
        g.throughput(Throughput::Elements(flops));
        g.bench_function(BenchmarkId::new("cpu_reference", &id), |bench| {
            bench
                .iter(|| reference::gemm(m, n, k, &a, false, &b, true, &mut out, 1.0, 0.0).unwrap())
        });
        for kernel in [GemmKernel::Tiled, GemmKernel::Blocked] {
            let len = m * k + k * n + m * n;
            let Some(mut vk) = vulkan(len, kernel) else {
                continue;
            };
            let (sa, sb) = (Span::new(0, m * k), Span::new(m * k, k * n));
            let sc = Span::new(sb.end(), m * n);
            vk.upload(0, &a).unwrap();
            vk.upload(sb.offset, &b).unwrap();
            let op = Op::Gemm(op::Gemm {
                m,
                n,
                k,
                a: sa,
                trans_a: false,
                b: sb,
                trans_b: true,
                c: sc,
                alpha: 1.0,
                beta: 0.0,
            });
            g.throughput(Throughput::Elements(flops * GEMMS_PER_SUBMIT as u64));
            let name = format!("vulkan_{kernel:?}_x{GEMMS_PER_SUBMIT}_per_submit").to_lowercase();
            g.bench_function(BenchmarkId::new(name, &id), |bench| {
                bench.iter(|| {
                    for _ in 0..GEMMS_PER_SUBMIT {
                        vk.execute(&op).unwrap();
                    }
                    vk.submit().unwrap();
                })
            });
            g.throughput(Throughput::Elements(flops));
        }
    }
    g.finish();
}

fn step<B: Backend<Elem = f32>>(
    c: &mut Criterion,
    name: &str,
    spec: Spec<'static>,
    rows: usize,
    backend: B,
) -> Network<'static, B>
where
    B::Error: std::fmt::Debug,
{
    let cfg = sgd_config(rows);
    let mut net = Network::new(spec, backend, cfg).unwrap();
    let (x, y) = batch(rows, spec.inputs(), spec.outputs(), 1);
    c.bench_function(name, |b| {
        b.iter(|| net.train_step(&x, Targets::Labels(&y)).unwrap())
    });
    net
}

fn steps(c: &mut Criterion) {
    for (label, spec, rows) in [
        ("64-32-10/batch32", SMALL, 32),
        ("784-128-10/batch32", MNIST, 32),
    ] {
        let cfg = sgd_config(rows);
        let len = cfg.arena_len(&spec);
        let arena: &'static mut [f32] = Vec::leak(vec![0.0f32; len]);
        step(
            c,
            &format!("train_step_f32/cpu_reference/{label}"),
            spec,
            rows,
            CpuBackend::new(arena),
        );
        for kernel in [GemmKernel::Tiled, GemmKernel::Blocked] {
            let Some(vk) = vulkan(len, kernel) else {
                continue;
            };
            let name = format!("train_step_f32/vulkan_{kernel:?}/{label}").to_lowercase();
            let mut net = step(c, &name, spec, rows, vk);
            // Submissions per step, counted over a fresh run of steps.
            let (x, y) = batch(rows, spec.inputs(), spec.outputs(), 2);
            let before = net.backend().submissions();
            let n = 50;
            for _ in 0..n {
                net.train_step(&x, Targets::Labels(&y)).unwrap();
            }
            let per_step = (net.backend().submissions() - before) as f64 / n as f64;
            println!(
                "{name}: {per_step} queue submissions per train_step on {} ({} command buffers recorded in all)",
                net.backend().device().name,
                net.backend().recordings()
            );
        }
    }
}

criterion_group!(benches, gemm, steps);
criterion_main!(benches);
