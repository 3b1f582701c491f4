//! Instruction counts of the CPU kernels on the device (SysTick under QEMU
//! `-icount shift=0`), for the performance table:
//!
//! - instructions per multiply-accumulate of the gemm kernels (fast vs
//!   reference) at the shapes of a 64-32-10 network, batch 1 and 16;
//! - a 64-32-10 (ReLU, softmax cross-entropy, SGD) training step split into
//!   forward, loss, backward and optimizer step, in instructions per MAC of
//!   the dense layers (forward: `rows·(64·32 + 32·10)` MACs; backward: the
//!   weight gradients plus the second layer's input gradient,
//!   `rows·(64·32 + 32·10 + 32·10)`), with the fast and the reference
//!   kernels;
//! - the same network with fused SGD at batch 1 (no gradient buffer): its
//!   arena against unfused SGD's, and its instructions per step;
//! - instructions per element of `exp`, `sigmoid` and `tanh` with `libm` and
//!   with `micromath` (what the `fast-math` feature uses).
//!
//! Nothing is asserted about speed: the verdict is that everything ran and
//! trained (the loss fell). On a board with little RAM (micro:bit, 16 KiB)
//! only the fused-SGD part runs: unfused 64-32-10 does not fit there.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use microprop::{Config, Layer, Loss, Network, Optimizer, OptimizerKind, Spec, Targets};
use microprop_cpu::{gemm, reference, CpuBackend, Kernels};
use microprop_firmware::{board, check, hello, take, ConstStaticCell, Meter, Report};

const NET: Spec = Spec::new(&[Layer::dense(64, 32), Layer::relu(), Layer::dense(32, 10)]);
/// Enough RAM for the unfused batch-16 arena and the kernel buffers.
const BIG: bool = board::RAM_BYTES >= 256 * 1024;
const ROWS: usize = 16;
const SGD16: Config = Config::new(ROWS, Loss::SoftmaxCrossEntropy, Optimizer::sgd(0.05));
const FUSED1: Config = Config::new(1, Loss::SoftmaxCrossEntropy, Optimizer::fused_sgd(0.05));
const SGD1_LEN: usize = NET.arena_len(1, OptimizerKind::Sgd);
const FUSED1_LEN: usize = FUSED1.arena_len(&NET);
const BIG_LEN: usize = if BIG { SGD16.arena_len(&NET) } else { 1 };
const MACS_FWD: usize = 64 * 32 + 32 * 10;
const MACS_BWD: usize = 64 * 32 + 32 * 10 + 32 * 10;
/// Gemm operand buffers (only on big boards).
const BUF: usize = if BIG { 64 * 32 } else { 1 };

/// The unfused batch-16 arena (.bss; one element on small boards).
static ARENA: ConstStaticCell<[f32; BIG_LEN]> = ConstStaticCell::new([0.0; BIG_LEN]);
/// The fused-SGD batch-1 arena (.bss).
static FUSED_ARENA: ConstStaticCell<[f32; FUSED1_LEN]> = ConstStaticCell::new([0.0; FUSED1_LEN]);
/// The gemm operand buffers (.bss; one element each on small boards).
static BUFS: ConstStaticCell<[[f32; BUF]; 3]> = ConstStaticCell::new([[0.0; BUF]; 3]);

/// Instructions per MAC ×100, as an integer for the log.
fn per_mac_x100(instr: u64, macs: usize) -> u64 {
    instr * 100 / macs.max(1) as u64
}

/// Deterministic inputs in [0, 1) and labels, into `x` and `y`.
fn data(x: &mut [f32], y: &mut [usize]) {
    let mut s: u32 = 0x1234_5678;
    for v in x.iter_mut() {
        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        *v = (s >> 8) as f32 / (1u32 << 24) as f32;
    }
    for (i, l) in y.iter_mut().enumerate() {
        *l = (i * 7 + 3) % 10;
    }
}

/// Gemm kernels alone: instructions per MAC, fast vs reference.
fn kernels(meter: &mut Meter, bufs: &mut [[f32; BUF]; 3]) {
    let [a, b, c] = bufs;
    for (i, v) in a.iter_mut().enumerate() {
        *v = (i % 7) as f32 * 0.1;
    }
    for (i, v) in b.iter_mut().enumerate() {
        *v = (i % 5) as f32 * 0.2;
    }
    // (label, m, n, k, trans_a, trans_b): forward, weight gradient, input gradient.
    let shapes: [(&str, usize, usize, usize, bool, bool); 6] = [
        ("fwd nt 1x32x64", 1, 32, 64, false, true),
        ("fwd nt 16x32x64", 16, 32, 64, false, true),
        ("dW tn 32x64x1", 32, 64, 1, true, false),
        ("dW tn 32x64x16", 32, 64, 16, true, false),
        ("dX nn 1x32x10", 1, 32, 10, false, false),
        ("dX nn 16x32x10", 16, 32, 10, false, false),
    ];
    for (label, m, n, k, ta, tb) in shapes {
        // `get`, not slicing: the bench links with the panic-never handler too.
        let a = check(a.get(..m * k).ok_or("a too short"), "gemm operand");
        let b = check(b.get(..k * n).ok_or("b too short"), "gemm operand");
        let c = check(c.get_mut(..m * n).ok_or("c too short"), "gemm operand");
        let (_, fast) = meter.measure(|| gemm::gemm(m, n, k, a, ta, b, tb, c, 1.0, 0.0));
        let (_, refr) = meter.measure(|| reference::gemm(m, n, k, a, ta, b, tb, c, 1.0, 0.0));
        let macs = m * n * k;
        defmt::info!(
            "gemm {=str}: fast {=u64}.{=u64:02} instr/MAC, reference {=u64}.{=u64:02}",
            label,
            per_mac_x100(fast, macs) / 100,
            per_mac_x100(fast, macs) % 100,
            per_mac_x100(refr, macs) / 100,
            per_mac_x100(refr, macs) % 100
        );
    }
}

/// Forward, loss, backward and step of a batch of `rows`, averaged over
/// `reps` steps. Returns (forward, backward, whole step) instructions and
/// whether the loss fell.
fn phases(
    meter: &mut Meter,
    net: &mut Network<'_, CpuBackend<'_, f32>>,
    rows: usize,
    reps: u64,
) -> (u64, u64, u64, bool) {
    let (mut x, mut y) = ([0.0f32; 64 * ROWS], [0usize; ROWS]);
    let x = check(x.get_mut(..64 * rows).ok_or("rows > ROWS"), "batch");
    let y = check(y.get_mut(..rows).ok_or("rows > ROWS"), "batch");
    data(x, y);
    let (x, y) = (&*x, &*y);
    let (mut f, mut b, mut s) = (0, 0, 0);
    let mut first = None;
    let mut last = 0.0;
    for _ in 0..reps {
        let (r, nf) = meter.measure(|| net.forward(x));
        check(r, "forward");
        let (l, nl) = meter.measure(|| net.loss(Targets::Labels(y)));
        last = check(l, "loss");
        first.get_or_insert(last);
        let (r, nb) = meter.measure(|| net.backward());
        check(r, "backward");
        let (r, ns) = meter.measure(|| net.step());
        check(r, "step");
        let (r, nz) = meter.measure(|| net.zero_grad());
        check(r, "zero_grad");
        f += nf;
        b += nb;
        s += nf + nl + nb + ns + nz;
    }
    (f / reps, b / reps, s / reps, last < first.unwrap_or(0.0))
}

/// Instructions per element of `f` over 256 inputs in [-4, 4).
fn per_element(meter: &mut Meter, f: impl Fn(f32) -> f32) -> u64 {
    let mut acc = 0.0f32;
    let (_, n) = meter.measure(|| {
        for i in 0..256 {
            acc += f(core::hint::black_box(i as f32 / 32.0 - 4.0));
        }
    });
    core::hint::black_box(acc);
    n / 256
}

#[entry]
fn main() -> ! {
    let cp = microprop_firmware::peripherals();
    let mut meter = Meter::new(cp.SYST);
    hello("bench", &meter);
    let mut passed = true;

    if BIG {
        kernels(&mut meter, take(&BUFS, "BUFS"));
        // Taken once; each network below borrows it until it is dropped.
        let arena = take(&ARENA, "ARENA");
        for kernels in [Kernels::Fast, Kernels::Reference] {
            let name = if kernels == Kernels::Fast {
                "fast"
            } else {
                "reference"
            };
            for rows in [1, ROWS] {
                let cpu = CpuBackend::with_kernels(&mut arena[..], kernels);
                let mut net = check(Network::new(NET, cpu, SGD16), "Network::new");
                let (f, b, s, fell) = phases(&mut meter, &mut net, rows, 10);
                passed &= fell;
                let (fm, bm) = (MACS_FWD * rows, MACS_BWD * rows);
                defmt::info!(
                    "step 64-32-10 batch {=usize} ({=str}): forward {=u64} instr = {=u64}.{=u64:02}/MAC, backward {=u64} instr = {=u64}.{=u64:02}/MAC, whole step {=u64} instr = {=u64}.{=u64:02}/MAC",
                    rows,
                    name,
                    f,
                    per_mac_x100(f, fm) / 100,
                    per_mac_x100(f, fm) % 100,
                    b,
                    per_mac_x100(b, bm) / 100,
                    per_mac_x100(b, bm) % 100,
                    s,
                    per_mac_x100(s, fm + bm) / 100,
                    per_mac_x100(s, fm + bm) % 100
                );
            }
        }
    }

    // Fused SGD at batch 1: no gradient buffer.
    let arena = take(&FUSED_ARENA, "FUSED_ARENA");
    let mut net = check(
        Network::new(NET, CpuBackend::new(arena), FUSED1),
        "Network::new (fused)",
    );
    let (mut x, mut y) = ([0.0f32; 64], [0usize; 1]);
    data(&mut x, &mut y);
    let mut first = None;
    let mut last = 0.0;
    let mut total = 0u64;
    for _ in 0..20 {
        let (l, n) = meter.measure(|| net.train_step(&x, Targets::Labels(&y)));
        last = check(l, "fused train_step");
        first.get_or_insert(last);
        total += n;
    }
    passed &= last < first.unwrap_or(0.0);
    let step = total / 20;
    defmt::info!(
        "fused SGD 64-32-10 batch 1: arena {=usize} B (unfused SGD {=usize} B, saves {=usize} B), {=u64} instr/step = {=u64}.{=u64:02}/MAC, loss {=f32} -> {=f32}",
        FUSED1_LEN * 4,
        SGD1_LEN * 4,
        (SGD1_LEN - FUSED1_LEN) * 4,
        step,
        per_mac_x100(step, MACS_FWD + MACS_BWD) / 100,
        per_mac_x100(step, MACS_FWD + MACS_BWD) % 100,
        first.unwrap_or(0.0),
        last
    );

    // Activations: libm vs micromath (fast-math), instructions per element.
    use micromath::F32Ext;
    let exp_l = per_element(&mut meter, libm::expf);
    let exp_m = per_element(&mut meter, |x| x.exp());
    let sig_l = per_element(&mut meter, |x| 1.0 / (1.0 + libm::expf(-x)));
    let sig_m = per_element(&mut meter, |x| 1.0 / (1.0 + (-x).exp()));
    let tanh_l = per_element(&mut meter, libm::tanhf);
    let tanh_m = per_element(&mut meter, |x| {
        let e = (-2.0 * x.abs()).exp();
        let t = (1.0 - e) / (1.0 + e);
        if x < 0.0 {
            -t
        } else {
            t
        }
    });
    defmt::info!(
        "activations, instr/element libm vs fast-math: exp {=u64} vs {=u64}, sigmoid {=u64} vs {=u64}, tanh {=u64} vs {=u64}",
        exp_l,
        exp_m,
        sig_l,
        sig_m,
        tanh_l,
        tanh_m
    );

    Report {
        example: "bench",
        passed,
        check: "fused_saves_bytes",
        value: ((SGD1_LEN - FUSED1_LEN) * 4) as f32,
        arena_bytes: FUSED1_LEN * 4,
        batch: 1,
        instructions_per_step: step,
        steps: 20,
    }
    .finish()
}
