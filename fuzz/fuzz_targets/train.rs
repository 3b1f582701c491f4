//! Training invariants under arbitrary specs (small widths; dense,
//! maxout, convolution, pooling, flatten and every activation), configs
//! (every optimizer; learning rate, momentum, β, ε, L2 from tiny to huge,
//! negative, NaN, ±∞), inputs and targets (NaN, ±∞, labels out of range,
//! wrong lengths) and an arbitrary sequence of API calls (forward, output,
//! loss, backward, backward_with_input_grad, zero_grad, step, train_step,
//! predict, classify, evaluate, gradients, load_parameters, set_lr, reset,
//! save_blob/load_blob, and divergence-guarded training), f32 and f64.
//!
//! Properties, after every call:
//!
//! - nothing panics (arithmetic overflow included: built with `-a`);
//! - an `Err` leaves the parameters, the optimizer state (momentum
//!   velocity, Adam's `m`, `v`), Adam's step count and the learning rate
//!   bit-identical to before the call — except the guard's
//!   `Error::Diverged`, which by its contract restores the last verified
//!   snapshot (then the next property applies);
//! - the divergence guard (`core/src/guard.rs`) promises that an accepted
//!   step never leaves a non-finite parameter, and a recovered step (or a
//!   give-up) restores the last verified parameters. So when the parameters
//!   are all finite as the guard is created (its first verified snapshot),
//!   every guarded `train_step` result — `Ok`, `Recovered` or `Diverged` —
//!   leaves every parameter finite. Plain `Network::train_step` and `step`
//!   make no such promise (a learning rate of 1e30 legitimately overflows
//!   a weight to ±∞), so for them only the `Err` property is checked;
//! - the same calls on the same network with a plan (`Network::set_plan`,
//!   of an arbitrary number of slots, too few included) leave the whole
//!   arena bit-identical after every call, and return the same results:
//!   the recording is issued only where it is what the lowering issues.
#![no_main]

use std::hash::{Hash, Hasher};

use libfuzzer_sys::fuzz_target;
use microprop::guard::{self, Guard, GuardConfig};
use microprop::{Config, Error, Init, Layer, Loss, Network, Optimizer, Spec, Targets};
use microprop_cpu::{CpuBackend, CpuError, Float};
use microprop_fuzz::Bytes;

fuzz_target!(|data: &[u8]| {
    let mut r = Bytes::new(data);
    let f32 = r.bool();
    let slots = r.below(40);
    let mut twin = r.clone();
    if f32 {
        let plain = run::<f32>(&mut r, None);
        assert_eq!(
            plain,
            run::<f32>(&mut twin, Some(slots)),
            "plan changed the run"
        );
    } else {
        let plain = run::<f64>(&mut r, None);
        assert_eq!(
            plain,
            run::<f64>(&mut twin, Some(slots)),
            "plan changed the run"
        );
    }
});

thread_local! {
    /// The results of the calls since the last entry of the trace.
    static RESULTS: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// The arena's bits and the call's results, after each call of a run.
type Trace = Vec<(u64, String)>;

fn arena_hash<E: Float>(net: &Net<E>) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for v in net.backend().arena() {
        v.to_f64().to_bits().hash(&mut h);
    }
    h.finish()
}

/// A hyperparameter: ordinary, tiny, huge, zero, negative, NaN, ±∞.
fn hyper(r: &mut Bytes, ordinary: f64) -> f64 {
    match r.u8() % 24 {
        0 => 0.0,
        1 => 1e-30,
        2 => 1e30,
        3 => 1e300,
        4 => -ordinary,
        5 => f64::NAN,
        6 => f64::INFINITY,
        7 => f64::NEG_INFINITY,
        8 => r.f64_any(),
        9 => 1.0,
        10 => 1e4,
        11 => 1e-3,
        12 => 10.0,
        _ => ordinary,
    }
}

fn spec_layers(r: &mut Bytes) -> Vec<Layer> {
    let n = r.range(1, 4);
    let mut width = r.range(1, 5);
    let mut layers = Vec::new();
    for _ in 0..n {
        let l = match r.u8() % 15 {
            0..=3 => {
                let out = r.range(1, 5);
                let l = Layer::dense(width, out);
                width = out;
                l
            }
            4 => {
                let out = r.range(1, 3);
                let l = Layer::maxout(width, out, r.range(1, 3));
                width = out;
                l
            }
            5 => Layer::sigmoid(),
            6 => Layer::tanh(),
            7 => Layer::relu(),
            8 => Layer::leaky_relu(hyper(r, 0.01)),
            9 => Layer::elu(hyper(r, 1.0)),
            10 => Layer::softplus(),
            // Convolution and pooling over the row as 1 or 2 channels (a
            // zero stride or a window past the padded input is refused by
            // the spec, with the layer named).
            kind @ (12 | 13) => {
                let c = if width % 2 == 0 && r.bool() { 2 } else { 1 };
                let len = width / c;
                let (k, stride) = (r.range(1, len + 1), r.below(3));
                let l = if kind == 12 {
                    Layer::conv1d(c, r.range(1, 3), len, k, stride, r.below(2))
                } else if r.bool() {
                    Layer::max_pool1d(c, len, k, stride)
                } else {
                    Layer::avg_pool1d(c, len, k, stride)
                };
                width = l.output_width(width).max(1);
                l
            }
            14 => Layer::flatten(),
            _ => Layer::softmax(),
        };
        layers.push(l);
    }
    // Sometimes a mismatched or degenerate layer (Spec::try_new rejects it).
    if r.u8() < 8 {
        layers.push(Layer::dense(width + 1, r.below(3)));
    }
    layers
}

fn config(r: &mut Bytes) -> Config {
    let batch = match r.u8() % 8 {
        0 => 0,
        _ => r.range(1, 4),
    };
    let loss = match r.below(3) {
        0 => Loss::Mse,
        1 => Loss::SoftmaxCrossEntropy,
        _ => Loss::Hinge {
            margin: hyper(r, 1.0),
        },
    };
    let optimizer = match r.below(4) {
        0 => Optimizer::sgd(hyper(r, 0.1)),
        1 => Optimizer::fused_sgd(hyper(r, 0.1)),
        2 => Optimizer::momentum(hyper(r, 0.1), hyper(r, 0.9)),
        _ => Optimizer::Adam {
            lr: hyper(r, 0.01),
            beta1: hyper(r, 0.9),
            beta2: hyper(r, 0.999),
            eps: hyper(r, 1e-8),
        },
    };
    let l2 = if r.bool() { 0.0 } else { hyper(r, 1e-4) };
    let init = match r.below(3) {
        0 => Init::Auto,
        1 => Init::He,
        _ => Init::Xavier,
    };
    Config::new(batch, loss, optimizer)
        .with_l2(l2)
        .with_seed(r.u64())
        .with_init(init)
}

/// A value for an input or a target: mostly small, sometimes NaN, ±∞ or huge.
fn value<E: Float>(r: &mut Bytes) -> E {
    if r.u8() < 230 {
        E::from_f64(r.f64_small())
    } else {
        E::from_f64(r.f64_any())
    }
}

/// A length near `n`: mostly `n`, sometimes one off.
fn len_near(r: &mut Bytes, n: usize) -> usize {
    match r.u8() % 32 {
        0 => n + 1,
        1 => n.saturating_sub(1),
        _ => n,
    }
}

struct Batch<E> {
    x: Vec<E>,
    labels: Vec<usize>,
    values: Vec<E>,
}

impl<E: Float> Batch<E> {
    fn new(r: &mut Bytes, spec: &Spec, rows: usize) -> Self {
        let xn = len_near(r, rows * spec.inputs());
        let x = (0..xn).map(|_| value(r)).collect();
        let ln = len_near(r, rows);
        let labels = (0..ln)
            .map(|_| match r.u8() % 16 {
                0 => spec.outputs(),
                1 => usize::MAX,
                _ => r.below(spec.outputs()),
            })
            .collect();
        let vn = len_near(r, rows * spec.outputs());
        let values = (0..vn).map(|_| value(r)).collect();
        Batch { x, labels, values }
    }
    fn targets(&self, r: &mut Bytes, loss: &Loss) -> Targets<'_, E> {
        // Mostly the kind the loss wants, sometimes the other.
        if loss.uses_labels() != (r.u8() < 16) {
            Targets::Labels(&self.labels)
        } else {
            Targets::Values(&self.values)
        }
    }
}

/// Everything an `Err` must leave as it was.
#[derive(Debug, PartialEq)]
struct Snap {
    params: Vec<u64>,
    state: Vec<u64>,
    steps: u64,
    lr: u64,
}

type Net<'s, 'a, E> = Network<'s, CpuBackend<'a, E>>;

fn snap<E: Float>(net: &Net<E>) -> Snap {
    let l = *net.layout();
    let arena = net.backend().arena();
    let bits = |s: microprop::Span| {
        arena[s.offset..s.end()]
            .iter()
            .map(|v| v.to_f64().to_bits())
            .collect()
    };
    Snap {
        params: bits(l.params),
        state: bits(l.state),
        steps: net.steps(),
        lr: net.lr().to_bits(),
    }
}

fn params_finite<E: Float>(net: &Net<E>) -> bool {
    let p = net.layout().params;
    net.backend().arena()[p.offset..p.end()]
        .iter()
        .all(|v| v.is_finite())
}

/// An `Err` changed nothing.
fn check<E: Float, T: core::fmt::Debug>(
    net: &Net<E>,
    before: &Snap,
    res: &Result<T, Error<CpuError>>,
    call: &str,
) {
    RESULTS.with_borrow_mut(|s| s.push_str(&format!("{call}: {res:?}; ")));
    if let Err(e) = res {
        let _ = e.to_string();
        assert!(
            snap(net) == *before,
            "{call} returned {e:?} but changed the model"
        );
    }
}

/// One run of calls on one network, with a plan of `plan` slots or none.
fn run<E: Float>(r: &mut Bytes, plan: Option<usize>) -> Trace {
    let mut trace = Trace::new();
    let layers = spec_layers(r);
    let Ok(spec) = Spec::try_new(&layers) else {
        return trace;
    };
    let cfg = config(r);
    let len = guard::arena_len(&spec, &cfg);
    if len > 1 << 16 {
        return trace;
    }
    let extra = r.below(3);
    // Sometimes too short for the guard, or for the network.
    let len = match r.u8() % 32 {
        0 => cfg.arena_len(&spec).saturating_sub(1),
        1 => cfg.arena_len(&spec),
        _ => len + extra,
    };
    let mut arena = vec![E::ZERO; len];
    let Ok(mut net) = Network::new(spec, CpuBackend::new(&mut arena), cfg) else {
        return trace;
    };
    let mut slots = vec![microprop::plan_slot::<E>(); plan.unwrap_or(0)];
    if plan.is_some() {
        net.set_plan(&mut slots);
    }
    let batch = cfg.batch;
    let p = spec.param_count();
    for _ in 0..24 {
        if r.exhausted() {
            break;
        }
        let rows = match r.u8() % 8 {
            0 => 0,
            1 => batch + 1,
            _ => r.range(1, batch.max(1)),
        };
        let b = Batch::<E>::new(r, &spec, rows);
        let before = snap(&net);
        match r.u8() % 18 {
            0 => {
                let res = net.forward(&b.x);
                check(&net, &before, &res, "forward");
            }
            1 => {
                let t = b.targets(r, &cfg.loss);
                let res = net.loss(t);
                check(&net, &before, &res, "loss");
            }
            2 => {
                let res = net.backward();
                check(&net, &before, &res, "backward");
            }
            3 => {
                let mut dx = vec![E::ZERO; len_near(r, net.rows() * spec.inputs())];
                let res = net.backward_with_input_grad(&mut dx);
                check(&net, &before, &res, "backward_with_input_grad");
            }
            4 => {
                let res = net.zero_grad();
                check(&net, &before, &res, "zero_grad");
            }
            5 => {
                let res = net.step();
                check(&net, &before, &res, "step");
            }
            6 | 7 => {
                let t = b.targets(r, &cfg.loss);
                let res = net.train_step(&b.x, t);
                check(&net, &before, &res, "train_step");
            }
            8 => {
                let mut out = vec![E::ZERO; len_near(r, rows * spec.outputs())];
                let res = net.predict(&b.x, &mut out);
                check(&net, &before, &res, "predict");
            }
            9 => {
                let mut classes = vec![0usize; len_near(r, rows)];
                let res = net.classify(&b.x, &mut classes);
                check(&net, &before, &res, "classify");
                if res.is_ok() {
                    assert!(classes.iter().all(|&c| c < spec.outputs()));
                }
            }
            10 => {
                // A whole data set: several batches.
                let n = r.below(2 * batch + 2);
                let d = Batch::<E>::new(r, &spec, n);
                let t = d.targets(r, &cfg.loss);
                let res = net.evaluate(&d.x, t);
                check(&net, &before, &res, "evaluate");
                if let Ok(ev) = res {
                    assert_eq!(ev.samples, d.x.len() / spec.inputs());
                    if let Some(a) = ev.accuracy {
                        assert!((0.0..=1.0).contains(&a), "accuracy {a}");
                    }
                }
            }
            11 => {
                let mut g = vec![E::ZERO; len_near(r, p)];
                let res = net.gradients(&mut g);
                check(&net, &before, &res, "gradients");
            }
            12 => {
                let params: Vec<E> = (0..len_near(r, p)).map(|_| value(r)).collect();
                let res = net.load_parameters(&params);
                check(&net, &before, &res, "load_parameters");
                if res.is_ok() {
                    let mut back = vec![E::ZERO; p];
                    net.parameters(&mut back).expect("parameters");
                    assert!(back
                        .iter()
                        .zip(&params)
                        .all(|(a, b)| a.to_f64().to_bits() == b.to_f64().to_bits()));
                }
            }
            13 => {
                let res = net.set_lr(hyper(r, 0.05));
                check(&net, &before, &res, "set_lr");
            }
            14 => {
                let res = net.reset(r.u64());
                check(&net, &before, &res, "reset");
                if res.is_ok() {
                    assert!(params_finite(&net), "reset left a non-finite weight");
                }
            }
            15 => {
                let mut out = vec![E::ZERO; len_near(r, rows * spec.outputs())];
                let res = net.output(&mut out);
                check(&net, &before, &res, "output");
            }
            16 => {
                let mut blob = vec![0u8; microprop::blob::blob_len(p)];
                let res = net.save_blob(&mut blob);
                check(&net, &before, &res, "save_blob");
                if res.is_ok() {
                    if r.bool() {
                        let i = r.below(blob.len());
                        blob[i] ^= 1 << r.below(8);
                    }
                    let before = snap(&net);
                    let res = net.load_blob(&blob);
                    check(&net, &before, &res, "load_blob");
                }
            }
            _ => guarded(r, &mut net, &spec, &cfg),
        }
        trace.push((arena_hash(&net), RESULTS.take()));
    }
    trace
}

/// A few divergence-guarded steps.
fn guarded<E: Float>(r: &mut Bytes, net: &mut Net<E>, spec: &Spec, cfg: &Config) {
    let gc = GuardConfig::new()
        .with_explode_factor(if r.bool() { 20.0 } else { hyper(r, 20.0) })
        .with_max_recoveries(r.below(12) as u32)
        .with_lr_decay(if r.bool() { 0.5 } else { hyper(r, 0.5) })
        .with_warmup(r.below(4) as u32)
        .with_snapshot_every(r.below(4) as u32);
    let before = snap(net);
    let finite_at_start = params_finite(net);
    let res = Guard::new(net, gc);
    let mut g = match res {
        Ok(g) => g,
        Err(e) => {
            check(net, &before, &Err::<(), _>(e), "Guard::new");
            return;
        }
    };
    for _ in 0..r.range(1, 12) {
        let rows = r.range(1, cfg.batch.max(1));
        let b = Batch::<E>::new(r, spec, rows);
        let t = b.targets(r, &cfg.loss);
        let before = snap(g.network());
        let res = g.train_step(&b.x, t);
        match &res {
            Err(Error::Diverged { .. }) => {}
            _ => check(g.network(), &before, &res, "Guard::train_step"),
        }
        if finite_at_start && !matches!(res, Err(ref e) if !matches!(e, Error::Diverged { .. })) {
            assert!(
                params_finite(g.network()),
                "a guarded step left a non-finite parameter: {res:?}"
            );
        }
        if matches!(res, Err(Error::Diverged { .. })) {
            break;
        }
    }
}
