//! Code-size probe: one small network whose spec and configuration are
//! chosen at compile time by the `SIZE_PROBE` environment variable, so that
//! `size-probe.sh` can measure the flash each layer kind, activation,
//! optimizer and loss adds (docs/code-size.md).
//!
//! The base (`SIZE_PROBE` unset or `base`) is Dense(4, 8) + ReLU +
//! Dense(8, 2), SGD, MSE, batch 1; every other variant changes exactly one
//! thing (see [`Probe`]). The backend compiles only the kernels of
//! `CFG.ops(&NET)`, as a real firmware would. It trains a few passes over
//! four fixed rows, predicts once and reports; it passes if the loss stays
//! finite and its last pass is no worse than its first.
//!
//! ```sh
//! SIZE_PROBE=adam cargo build --release --bin size-probe
//! ```
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use microprop::{Config, Layer, Loss, Network, Optimizer, Spec, Targets, Train};
use microprop_cpu::CpuBackend;
use microprop_firmware::{check, hello, take, ConstStaticCell, Meter, Report};

/// What a variant changes in the base.
#[derive(Clone, Copy)]
enum Probe {
    /// Dense(4, 8) + ReLU + Dense(8, 2), SGD, MSE, batch 1.
    Base,
    /// Tanh instead of ReLU.
    Tanh,
    /// Sigmoid instead of ReLU.
    Sigmoid,
    /// Leaky ReLU instead of ReLU.
    LeakyRelu,
    /// ELU instead of ReLU.
    Elu,
    /// Softplus instead of ReLU.
    Softplus,
    /// A softmax layer after the last dense.
    Softmax,
    /// A Maxout(8, 8, 2) layer after the ReLU.
    Maxout,
    /// Conv1d (1 → 1 channel, 4 steps, kernel 3, pad 1) and a flatten in front.
    Conv1d,
    /// MaxPool1d (2 channels × 4, window 2) after the ReLU; last dense 4 → 2.
    MaxPool1d,
    /// AvgPool1d (2 channels × 4, window 2) after the ReLU; last dense 4 → 2.
    AvgPool1d,
    /// Conv2d (1 → 1 channel, 2 × 2 image, kernel 3 × 3, pad 1) in front.
    Conv2d,
    /// Momentum instead of SGD.
    Momentum,
    /// Adam instead of SGD.
    Adam,
    /// Fused SGD (updates during backward) instead of SGD.
    FusedSgd,
    /// Softmax cross-entropy instead of MSE.
    SoftmaxCe,
    /// Multiclass hinge instead of MSE.
    Hinge,
    /// L2 regularisation (`with_l2`).
    L2,
    /// The first dense layer frozen (`with_training`).
    Frozen,
    /// The first dense layer bias-only (`with_training`).
    BiasOnly,
}

/// Whether two strings are equal, in a `const fn`.
const fn eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The variant named by `name`; an unknown name is a compile error.
const fn probe(name: &str) -> Probe {
    const NAMES: [(&str, Probe); 20] = [
        ("base", Probe::Base),
        ("tanh", Probe::Tanh),
        ("sigmoid", Probe::Sigmoid),
        ("leaky_relu", Probe::LeakyRelu),
        ("elu", Probe::Elu),
        ("softplus", Probe::Softplus),
        ("softmax", Probe::Softmax),
        ("maxout", Probe::Maxout),
        ("conv1d", Probe::Conv1d),
        ("max_pool1d", Probe::MaxPool1d),
        ("avg_pool1d", Probe::AvgPool1d),
        ("conv2d", Probe::Conv2d),
        ("momentum", Probe::Momentum),
        ("adam", Probe::Adam),
        ("fused_sgd", Probe::FusedSgd),
        ("softmax_ce", Probe::SoftmaxCe),
        ("hinge", Probe::Hinge),
        ("l2", Probe::L2),
        ("frozen", Probe::Frozen),
        ("bias_only", Probe::BiasOnly),
    ];
    let mut i = 0;
    while i < NAMES.len() {
        if eq(NAMES[i].0, name) {
            return NAMES[i].1;
        }
        i += 1;
    }
    panic!("SIZE_PROBE: unknown variant (see the names in size-probe.rs)")
}

const PROBE: Probe = probe(match option_env!("SIZE_PROBE") {
    Some(name) => name,
    None => "base",
});

const BASE: &[Layer] = &[Layer::dense(4, 8), Layer::relu(), Layer::dense(8, 2)];
const LAYERS: &[Layer] = match PROBE {
    Probe::Tanh => &[Layer::dense(4, 8), Layer::tanh(), Layer::dense(8, 2)],
    Probe::Sigmoid => &[Layer::dense(4, 8), Layer::sigmoid(), Layer::dense(8, 2)],
    Probe::LeakyRelu => &[
        Layer::dense(4, 8),
        Layer::leaky_relu(0.01),
        Layer::dense(8, 2),
    ],
    Probe::Elu => &[Layer::dense(4, 8), Layer::elu(1.0), Layer::dense(8, 2)],
    Probe::Softplus => &[Layer::dense(4, 8), Layer::softplus(), Layer::dense(8, 2)],
    Probe::Softmax => &[
        Layer::dense(4, 8),
        Layer::relu(),
        Layer::dense(8, 2),
        Layer::softmax(),
    ],
    Probe::Maxout => &[
        Layer::dense(4, 8),
        Layer::relu(),
        Layer::maxout(8, 8, 2),
        Layer::dense(8, 2),
    ],
    Probe::Conv1d => &[
        Layer::conv1d(1, 1, 4, 3, 1, 1),
        Layer::flatten(),
        Layer::dense(4, 8),
        Layer::relu(),
        Layer::dense(8, 2),
    ],
    Probe::MaxPool1d => &[
        Layer::dense(4, 8),
        Layer::relu(),
        Layer::max_pool1d(2, 4, 2, 2),
        Layer::dense(4, 2),
    ],
    Probe::AvgPool1d => &[
        Layer::dense(4, 8),
        Layer::relu(),
        Layer::avg_pool1d(2, 4, 2, 2),
        Layer::dense(4, 2),
    ],
    Probe::Conv2d => &[
        Layer::conv2d(1, 1, (2, 2), (3, 3), 1, 1),
        Layer::dense(4, 8),
        Layer::relu(),
        Layer::dense(8, 2),
    ],
    _ => BASE,
};
const NET: Spec = match PROBE {
    Probe::Frozen => Spec::new(LAYERS).with_training(&[Train::Frozen, Train::Full, Train::Full]),
    Probe::BiasOnly => {
        Spec::new(LAYERS).with_training(&[Train::BiasOnly, Train::Full, Train::Full])
    }
    _ => Spec::new(LAYERS),
};

const LR: f64 = 0.05;
const LOSS: Loss = match PROBE {
    Probe::SoftmaxCe => Loss::SoftmaxCrossEntropy,
    Probe::Hinge => Loss::Hinge { margin: 1.0 },
    _ => Loss::Mse,
};
const OPTIMIZER: Optimizer = match PROBE {
    Probe::Momentum => Optimizer::momentum(LR, 0.9),
    Probe::Adam => Optimizer::adam(0.01),
    Probe::FusedSgd => Optimizer::fused_sgd(LR),
    _ => Optimizer::sgd(LR),
};
const CFG: Config = {
    let cfg = Config::new(1, LOSS, OPTIMIZER).with_seed(1);
    match PROBE {
        Probe::L2 => cfg.with_l2(1e-4),
        _ => cfg,
    }
};
/// Class labels as targets (cross-entropy, hinge) rather than values (MSE).
const LABELS: bool = !matches!(LOSS, Loss::Mse);
const ARENA_LEN: usize = CFG.arena_len(&NET);
/// The ops this network issues: the backend compiles only their kernels.
const OPS: u64 = CFG.ops(&NET).bits();
const PASSES: usize = 25;

/// The arena, in .bss; `main` takes it once.
static ARENA: ConstStaticCell<[f32; ARENA_LEN]> = ConstStaticCell::new([0.0; ARENA_LEN]);

/// Four rows of four inputs; class 1 where the first two sum past the last two.
const X: [[f32; 4]; 4] = [
    [1.0, 0.5, 0.0, 0.2],
    [0.1, 0.0, 0.9, 0.7],
    [0.8, 0.9, 0.3, 0.1],
    [0.0, 0.2, 0.6, 1.0],
];
const CLASS: [usize; 4] = [1, 0, 1, 0];

#[entry]
fn main() -> ! {
    let cp = microprop_firmware::peripherals();
    let mut meter = Meter::new(cp.SYST);
    hello("size-probe", &meter);
    let arena = take(&ARENA, "ARENA");
    let mut net = check(
        Network::new(NET, CpuBackend::with_ops::<OPS>(arena), CFG),
        "Network::new",
    );

    let (mut first, mut last) = (0.0f32, 0.0f32);
    for pass in 0..PASSES {
        let mut sum = 0.0f32;
        for (x, &c) in X.iter().zip(CLASS.iter()) {
            let values = if c == 1 { [0.0, 1.0] } else { [1.0, 0.0] };
            let labels = [c];
            let targets = if LABELS {
                Targets::Labels(&labels)
            } else {
                Targets::Values(&values)
            };
            let (r, _) = meter.measure(|| net.train_step(x, targets));
            sum += check(r, "train_step");
        }
        if pass == 0 {
            first = sum;
        }
        last = sum;
    }
    let mut p = [0.0f32; 2];
    check(net.predict(&X[0], &mut p), "predict");
    defmt::info!(
        "loss over a pass: first {=f32}, last {=f32}; predict(x0) = [{=f32}, {=f32}]",
        first,
        last,
        p[0],
        p[1]
    );
    Report {
        example: "size-probe",
        passed: last.is_finite() && last <= first,
        check: "loss",
        value: last,
        arena_bytes: ARENA_LEN * 4,
        batch: CFG.batch,
        instructions_per_step: meter.mean(),
        steps: meter.count(),
    }
    .finish()
}
