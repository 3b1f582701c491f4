//! CPU backend: reference gemm and full training steps (forward + softmax CE
//! + backward + SGD) for the shapes of the performance targets.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use benches::{batch, sgd_config, MNIST, SMALL};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use microprop::{Network, Spec, Targets};
use microprop_cpu::{reference, CpuBackend};

fn gemm(c: &mut Criterion) {
    let mut g = c.benchmark_group("gemm_reference_f32");
    for &(m, n, k) in &[(32usize, 32usize, 64usize), (32, 128, 784), (128, 128, 128)] {
        let a = vec![0.5f32; m * k];
        let b = vec![0.25f32; k * n];
        let mut out = vec![0.0f32; m * n];
        g.throughput(Throughput::Elements((2 * m * n * k) as u64));
        g.bench_function(
            BenchmarkId::from_parameter(format!("{m}x{n}x{k}")),
            |bench| {
                bench.iter(|| {
                    reference::gemm(m, n, k, &a, false, &b, true, &mut out, 1.0, 0.0).unwrap()
                })
            },
        );
    }
    g.finish();
}

fn step(c: &mut Criterion, name: &str, spec: Spec<'static>, rows: usize) {
    let cfg = sgd_config(rows);
    let mut arena = vec![0.0f32; cfg.arena_len(&spec)];
    let mut net = Network::new(spec, CpuBackend::new(&mut arena), cfg).unwrap();
    let (x, y) = batch(rows, spec.inputs(), spec.outputs(), 1);
    c.bench_function(name, |b| {
        b.iter(|| net.train_step(&x, Targets::Labels(&y)).unwrap())
    });
}

fn steps(c: &mut Criterion) {
    step(
        c,
        "train_step_cpu_reference_f32/64-32-10/batch32",
        SMALL,
        32,
    );
    step(c, "train_step_cpu_reference_f32/64-32-10/batch1", SMALL, 1);
    step(
        c,
        "train_step_cpu_reference_f32/784-128-10/batch32",
        MNIST,
        32,
    );
}

criterion_group!(benches, gemm, steps);
criterion_main!(benches);
