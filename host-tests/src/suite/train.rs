//! Training end to end, and the API's error behaviour.

use crate::data;
use crate::Harness;
use microprop::{
    Backend, Config, Element, Error, Layer, Loss, Network, Operand, Optimizer, Spec, Targets,
};

fn e<E: Element>(v: &[f64]) -> Vec<E> {
    v.iter().map(|&x| E::from_f64(x)).collect()
}

const XOR: Spec = Spec::new(&[
    Layer::dense(2, 4),
    Layer::tanh(),
    Layer::dense(4, 1),
    Layer::sigmoid(),
]);

pub fn xor_reaches_low_loss<H: Harness>() {
    let cfg = Config::new(4, Loss::Mse, Optimizer::momentum(0.5, 0.9)).with_seed(1);
    let Some(backend) = H::backend(cfg.arena_len(&XOR)) else {
        return;
    };
    let mut net = Network::new(XOR, backend, cfg).unwrap();
    let x = e::<H::E>(&[0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0]);
    let y = e::<H::E>(&[0.0, 1.0, 1.0, 0.0]);
    for _ in 0..1500 {
        net.train_step(&x, Targets::Values(&y)).unwrap();
    }
    let eval = net.evaluate(&x, Targets::Values(&y)).unwrap();
    assert!(eval.loss < 0.01, "{}: XOR loss {}", H::NAME, eval.loss);
    let mut out = vec![H::E::ZERO; 4];
    net.predict(&x, &mut out).unwrap();
    for (o, t) in out.iter().zip([0.0, 1.0, 1.0, 0.0]) {
        assert!((o.to_f64() - t).abs() < 0.25, "{}: {out:?}", H::NAME);
    }
}

/// The digits model of the README: 64-32-10, ReLU, softmax cross-entropy.
pub const DIGITS: Spec = Spec::new(&[Layer::dense(64, 32), Layer::relu(), Layer::dense(32, 10)]);
/// Its training configuration.
pub const DIGITS_CONFIG: Config =
    Config::new(32, Loss::SoftmaxCrossEntropy, Optimizer::adam(2e-3)).with_seed(3);
/// Epochs the suite and the example train for.
pub const DIGITS_EPOCHS: usize = 40;
/// Seed of the 80/20 split.
pub const DIGITS_SPLIT_SEED: u64 = 0;

pub fn digits_reaches_96_percent<H: Harness>() {
    let all = data::digits::<H::E>();
    let (train, test) = all.split(0.2, DIGITS_SPLIT_SEED);
    let Some(backend) = H::backend(DIGITS_CONFIG.arena_len(&DIGITS)) else {
        return;
    };
    let mut net = Network::new(DIGITS, backend, DIGITS_CONFIG).unwrap();
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut rng = microprop::Rng::new(42);
    for _ in 0..DIGITS_EPOCHS {
        rng.shuffle(&mut order);
        for chunk in order.chunks(DIGITS_CONFIG.batch) {
            let b = train.subset(chunk);
            net.train_step(&b.x, Targets::Labels(&b.y)).unwrap();
        }
    }
    let ev = net.evaluate(&test.x, Targets::Labels(&test.y)).unwrap();
    let acc = ev.accuracy.unwrap();
    println!(
        "{}: digits test accuracy {acc:.4} ({} samples), loss {:.4}",
        H::NAME,
        ev.samples,
        ev.loss
    );
    assert_eq!(ev.samples, 359);
    assert!(acc >= 0.96, "{}: digits test accuracy {acc}", H::NAME);
}

fn snapshot<H: Harness>(net: &mut Network<'_, H::B>) -> Vec<f64> {
    let l = *net.layout();
    let mut v = vec![H::E::ZERO; l.params.len + l.state.len];
    net.parameters(&mut v[..l.params.len]).unwrap();
    use microprop::Backend;
    net.backend_mut()
        .download(l.state.offset, &mut v[l.params.len..])
        .unwrap();
    v.iter().map(|x| x.to_f64()).collect()
}

pub fn rejected_calls_leave_parameters_untouched<H: Harness>() {
    const NET: Spec = Spec::new(&[Layer::dense(3, 4), Layer::relu(), Layer::dense(4, 3)]);
    let cfg = Config::new(2, Loss::SoftmaxCrossEntropy, Optimizer::adam(0.01)).with_seed(5);
    let Some(backend) = H::backend(cfg.arena_len(&NET)) else {
        return;
    };
    let mut net = Network::new(NET, backend, cfg).unwrap();
    let x = e::<H::E>(&[0.1, 0.2, 0.3, -0.1, 0.5, 0.9]);
    net.train_step(&x, Targets::Labels(&[0, 2])).unwrap(); // non-trivial Adam state
    let before = snapshot::<H>(&mut net);
    let mut nan_x = x.clone();
    nan_x[4] = H::E::from_f64(f64::NAN);
    let bad: Vec<(Vec<H::E>, Vec<usize>)> = vec![
        (nan_x, vec![0, 1]),
        (x.clone(), vec![0, 3]),
        (x.clone(), vec![0]),
        (x[..5].to_vec(), vec![0, 1]),
        (vec![], vec![]),
        ([x.clone(), x.clone()].concat(), vec![0, 1, 2, 0]),
    ];
    for (bx, by) in &bad {
        assert!(net.train_step(bx, Targets::Labels(by)).is_err());
    }
    assert!(net.train_step(&x, Targets::Values(&x)).is_err());
    assert!(net.load_parameters(&e::<H::E>(&[1.0; 3])).is_err());
    assert_eq!(
        snapshot::<H>(&mut net),
        before,
        "{}: a rejected call changed the model",
        H::NAME
    );
    // The model still trains after the rejections.
    assert!(net.train_step(&x, Targets::Labels(&[0, 2])).is_ok());
}

pub fn bad_inputs_are_typed_errors<H: Harness>() {
    const NET: Spec = Spec::new(&[Layer::dense(2, 3), Layer::tanh(), Layer::dense(3, 2)]);
    let cfg = Config::new(2, Loss::SoftmaxCrossEntropy, Optimizer::sgd(0.1));
    let len = cfg.arena_len(&NET);
    let Some(small) = H::backend(len - 1) else {
        return;
    };
    assert!(matches!(
        Network::new(NET, small, cfg),
        Err(Error::ArenaTooSmall { needed, available }) if needed == len && available == len - 1
    ));
    let bad_lr = Config::new(2, Loss::SoftmaxCrossEntropy, Optimizer::sgd(f64::NAN));
    assert!(matches!(
        Network::new(NET, H::backend(len).unwrap(), bad_lr),
        Err(Error::Hyperparameter { name: "lr" })
    ));
    let mut net = Network::new(NET, H::backend(len).unwrap(), cfg).unwrap();
    let x = e::<H::E>(&[0.5, -0.5, 1.0, 2.0]);
    let mut nan = x.clone();
    nan[3] = H::E::from_f64(f64::INFINITY);
    let check = |r: microprop::Result<H::E, H::B>, want: &str| {
        let got = format!("{:?}", r.expect_err(want));
        assert!(
            got.starts_with(want),
            "{}: wanted {want}, got {got}",
            H::NAME
        );
    };
    check(
        net.train_step(&nan, Targets::Labels(&[0, 1])),
        "NonFinite { what: Input, index: 3 }",
    );
    check(
        net.train_step(&x, Targets::Labels(&[0, 2])),
        "LabelOutOfRange { index: 1, label: 2, classes: 2 }",
    );
    // Labels travel as u32 (Element::from_index): past u32::MAX is still the
    // same typed error, not a wrapped index.
    check(
        net.train_step(&x, Targets::Labels(&[0, 1 << 32])),
        "LabelOutOfRange { index: 1, label: 4294967296, classes: 2 }",
    );
    check(
        net.train_step(&x, Targets::Labels(&[usize::MAX, 0])),
        &format!(
            "LabelOutOfRange {{ index: 0, label: {}, classes: 2 }}",
            usize::MAX
        ),
    );
    check(
        net.train_step(&x[..3], Targets::Labels(&[0])),
        "Length { what: Input",
    );
    check(net.train_step(&[], Targets::Labels(&[])), "EmptyBatch");
    check(
        net.train_step(
            &[x.clone(), x.clone()].concat(),
            Targets::Labels(&[0, 1, 0, 1]),
        ),
        "BatchTooLarge { rows: 4, capacity: 2 }",
    );
    check(
        net.train_step(&x, Targets::Labels(&[0])),
        "Length { what: Target, expected: 2, got: 1 }",
    );
    check(net.train_step(&x, Targets::Values(&x)), "TargetKind");
    assert!(matches!(
        net.backward(),
        Err(Error::OutOfOrder {
            called: "backward",
            ..
        })
    ));
    assert!(matches!(
        net.set_lr(-1.0),
        Err(Error::Hyperparameter { name: "lr" })
    ));
    let mut wrong = vec![H::E::ZERO; 3];
    assert!(matches!(
        net.parameters(&mut wrong),
        Err(Error::Length {
            what: Operand::Parameters,
            ..
        })
    ));
    // A regression net rejects NaN targets.
    let reg = Config::new(2, Loss::Mse, Optimizer::sgd(0.1));
    let mut net = Network::new(NET, H::backend(len).unwrap(), reg).unwrap();
    let mut t = e::<H::E>(&[0.0; 4]);
    t[2] = H::E::from_f64(f64::NAN);
    check(
        net.train_step(&x, Targets::Values(&t)),
        "NonFinite { what: Target, index: 2 }",
    );
}

/// A batch's gradient is the mean of its rows' gradients (every loss is a
/// mean over rows), for every batch size up to the capacity.
pub fn batch_sizes_up_to_capacity<H: Harness>() {
    const NET: Spec = Spec::new(&[Layer::dense(3, 4), Layer::sigmoid(), Layer::dense(4, 3)]);
    let cfg = Config::new(5, Loss::SoftmaxCrossEntropy, Optimizer::sgd(0.1)).with_seed(9);
    let Some(backend) = H::backend(cfg.arena_len(&NET)) else {
        return;
    };
    let mut net = Network::new(NET, backend, cfg).unwrap();
    let x = e::<H::E>(&[
        0.1, 0.2, -0.3, 0.4, -0.5, 0.6, 0.7, 0.8, -0.9, -1.0, 1.1, 0.2, 0.3, 0.0, -0.4,
    ]);
    let y = [0usize, 1, 2, 1, 0];
    let p = NET.param_count();
    let grad_of = |net: &mut Network<'_, H::B>, rows: std::ops::Range<usize>| {
        net.zero_grad().unwrap();
        net.forward(&x[rows.start * 3..rows.end * 3]).unwrap();
        net.loss(Targets::Labels(&y[rows.clone()])).unwrap();
        net.backward().unwrap();
        let mut g = vec![H::E::ZERO; p];
        net.gradients(&mut g).unwrap();
        g.iter().map(|v| v.to_f64()).collect::<Vec<_>>()
    };
    for rows in 1..=5 {
        let batch = grad_of(&mut net, 0..rows);
        let mut mean = vec![0.0; p];
        for r in 0..rows {
            for (m, g) in mean.iter_mut().zip(grad_of(&mut net, r..r + 1)) {
                *m += g / rows as f64;
            }
        }
        crate::assert_close(
            &format!("batch of {rows}"),
            &batch,
            &mean,
            H::tolerances().reduction * 10.0,
        );
    }
}

/// Each optimizer lowers the loss on a fixed regression problem, and full
/// batch gradient descent lowers it monotonically for a small step.
pub fn optimizers_decrease_loss<H: Harness>() {
    const NET: Spec = Spec::new(&[Layer::dense(2, 8), Layer::tanh(), Layer::dense(8, 1)]);
    let x = e::<H::E>(&[0.0, 0.1, 0.2, 0.9, 0.5, 0.5, 0.9, 0.3, 0.3, 0.7, 0.8, 0.8]);
    let y = e::<H::E>(&[0.1, 1.1, 1.0, 1.2, 1.0, 1.6]);
    for opt in [
        Optimizer::sgd(0.05),
        Optimizer::momentum(0.05, 0.9),
        Optimizer::adam(0.01),
    ] {
        let cfg = Config::new(6, Loss::Mse, opt).with_seed(2);
        let Some(backend) = H::backend(cfg.arena_len(&NET)) else {
            return;
        };
        let mut net = Network::new(NET, backend, cfg).unwrap();
        let first = net.evaluate(&x, Targets::Values(&y)).unwrap().loss;
        let mut prev = f64::INFINITY;
        for step in 0..200 {
            let l = net.train_step(&x, Targets::Values(&y)).unwrap().to_f64();
            if matches!(opt, Optimizer::Sgd { .. }) {
                assert!(
                    l <= prev + 1e-6,
                    "{}: GD loss rose at step {step}: {prev} → {l}",
                    H::NAME
                );
            }
            prev = l;
        }
        let last = net.evaluate(&x, Targets::Values(&y)).unwrap().loss;
        assert!(last < 0.5 * first, "{}: {opt:?}: {first} → {last}", H::NAME);
    }
}

pub fn lr_schedule_changes_steps<H: Harness>() {
    let cfg = Config::new(4, Loss::Mse, Optimizer::sgd(0.5)).with_seed(4);
    let Some(backend) = H::backend(cfg.arena_len(&XOR)) else {
        return;
    };
    let mut net = Network::new(XOR, backend, cfg).unwrap();
    let x = e::<H::E>(&[0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0]);
    let y = e::<H::E>(&[0.0, 1.0, 1.0, 0.0]);
    let p = XOR.param_count();
    let params = |net: &mut Network<'_, H::B>| {
        let mut v = vec![H::E::ZERO; p];
        net.parameters(&mut v).unwrap();
        v.iter().map(|x| x.to_f64()).collect::<Vec<_>>()
    };
    // lr = 0: a step changes nothing.
    net.set_lr(0.0).unwrap();
    let before = params(&mut net);
    net.train_step(&x, Targets::Values(&y)).unwrap();
    assert_eq!(params(&mut net), before);
    // SGD: the step is exactly −lr · grad, so doubling lr doubles the step.
    let mut g = vec![H::E::ZERO; p];
    net.gradients(&mut g).unwrap();
    net.set_lr(0.25).unwrap();
    net.train_step(&x, Targets::Values(&y)).unwrap();
    let after = params(&mut net);
    let want: Vec<f64> = before
        .iter()
        .zip(&g)
        .map(|(b, g)| b - 0.25 * g.to_f64())
        .collect();
    crate::assert_close(
        "sgd step with set_lr",
        &after,
        &want,
        H::tolerances().elementwise * 10.0,
    );
    assert_eq!(net.lr(), 0.25);
}

/// Fused SGD (each layer's update applied during backward, no gradient
/// buffer) gives the weights and losses of the unfused SGD step, step after
/// step: dense + tanh with MSE at batch 1, softmax cross-entropy with L2
/// (folded into the gemm's `beta`), maxout at batch 3 (per-row bias
/// updates), and a batch of fewer rows than capacity. Its arena is the
/// unfused one less one gradient per parameter.
pub fn fused_sgd_matches_unfused_sgd<H: Harness>() {
    const TANH: Spec = Spec::new(&[Layer::dense(3, 5), Layer::tanh(), Layer::dense(5, 2)]);
    const MAXOUT: Spec = Spec::new(&[
        Layer::maxout(3, 4, 2),
        Layer::relu(),
        Layer::dense(4, 3),
        Layer::softmax(),
    ]);
    let x = [0.3, -0.7, 0.9, -0.1, 0.5, 0.2, 0.8, -0.4, 0.6];
    let values = [0.2, -0.3, 0.7, 0.1, -0.5, 0.4];
    let labels = [1usize, 0, 1];
    // (spec, loss, l2, capacity, rows used)
    let cases: [(Spec, Loss, f64, usize, usize); 4] = [
        (TANH, Loss::Mse, 0.0, 1, 1),
        (TANH, Loss::SoftmaxCrossEntropy, 0.05, 1, 1),
        (MAXOUT, Loss::SoftmaxCrossEntropy, 0.01, 3, 3),
        (MAXOUT, Loss::Hinge { margin: 1.0 }, 0.0, 4, 2),
    ];
    let tol = H::tolerances().reduction * 10.0;
    for (spec, loss, l2, cap, rows) in cases {
        let plain = Config::new(cap, loss, Optimizer::sgd(0.3))
            .with_l2(l2)
            .with_seed(11);
        let fused = Config {
            optimizer: Optimizer::fused_sgd(0.3),
            ..plain
        };
        assert_eq!(
            fused.arena_len(&spec) + spec.param_count(),
            plain.arena_len(&spec),
            "fused SGD saves exactly the gradient buffer"
        );
        let (Some(b0), Some(b1)) = (
            H::backend(plain.arena_len(&spec)),
            H::backend(fused.arena_len(&spec)),
        ) else {
            return;
        };
        let mut a = Network::new(spec, b0, plain).unwrap();
        let mut f = Network::new(spec, b1, fused).unwrap();
        let xs = e::<H::E>(&x[..rows * 3]);
        let ys = e::<H::E>(&values[..rows * 2]);
        let t = || {
            if loss.uses_labels() {
                Targets::Labels(&labels[..rows])
            } else {
                Targets::Values(&ys)
            }
        };
        let p = spec.param_count();
        let (mut wa, mut wf) = (vec![H::E::ZERO; p], vec![H::E::ZERO; p]);
        for step in 0..6 {
            let la = a.train_step(&xs, t()).unwrap().to_f64();
            let lf = f.train_step(&xs, t()).unwrap().to_f64();
            let what = format!("{}: {loss:?} l2 {l2} step {step}", H::NAME);
            crate::assert_close(&format!("{what} loss"), &[lf], &[la], tol);
            a.parameters(&mut wa).unwrap();
            f.parameters(&mut wf).unwrap();
            let wa: Vec<f64> = wa.iter().map(|v| v.to_f64()).collect();
            let wf: Vec<f64> = wf.iter().map(|v| v.to_f64()).collect();
            crate::assert_close(&format!("{what} weights"), &wf, &wa, tol);
            // The step did something (a vacuous comparison would pass too).
            assert!(step > 0 || la > 0.0, "{what}: zero loss");
        }
    }
}

/// A fused-SGD network has no gradient buffer: the calls that need one are
/// typed errors that change nothing; `train_step` still trains.
pub fn fused_sgd_gradient_calls_are_typed_errors<H: Harness>() {
    let cfg = Config::new(1, Loss::Mse, Optimizer::fused_sgd(0.5)).with_seed(1);
    let Some(backend) = H::backend(cfg.arena_len(&XOR)) else {
        return;
    };
    let mut net = Network::new(XOR, backend, cfg).unwrap();
    let x = e::<H::E>(&[1.0, 0.0]);
    let y = e::<H::E>(&[1.0]);
    let mut g = vec![H::E::ZERO; XOR.param_count()];
    net.forward(&x).unwrap();
    net.loss(Targets::Values(&y)).unwrap();
    assert!(matches!(
        net.backward(),
        Err(Error::Fused { called: "backward" })
    ));
    assert!(matches!(net.step(), Err(Error::Fused { called: "step" })));
    assert!(matches!(
        net.gradients(&mut g),
        Err(Error::Fused {
            called: "gradients"
        })
    ));
    let first = net.train_step(&x, Targets::Values(&y)).unwrap().to_f64();
    let mut last = first;
    for _ in 0..50 {
        last = net.train_step(&x, Targets::Values(&y)).unwrap().to_f64();
    }
    assert!(last < 0.1 * first, "{}: {first} → {last}", H::NAME);
}

/// The forward → loss → backward stages (issue 13, item 5). `loss` and
/// `backward` read the last forward pass's activations, so they are refused
/// (`OutOfOrder`) once the parameters moved (`step`, `train_step`,
/// `load_parameters`) or the activations were overwritten (`predict`,
/// `evaluate`); `zero_grad` and `set_lr` change neither and keep the stage.
/// Accumulation: `loss` then `backward` twice on one forward pass adds the
/// gradient twice. After a refusal, a new forward pass works, and the
/// manual sequence still matches `train_step` bit for bit.
pub fn stale_loss_and_backward_are_refused<H: Harness>() {
    const NET: Spec = Spec::new(&[Layer::dense(2, 3), Layer::tanh(), Layer::dense(3, 2)]);
    let cfg = Config::new(2, Loss::SoftmaxCrossEntropy, Optimizer::momentum(0.1, 0.9)).with_seed(5);
    let len = cfg.arena_len(&NET);
    let (Some(b1), Some(b2)) = (H::backend(len), H::backend(len)) else {
        return;
    };
    let mut net = Network::new(NET, b1, cfg).unwrap();
    let mut twin = Network::new(NET, b2, cfg).unwrap();
    let x = e::<H::E>(&[0.5, -0.5, 1.0, 2.0]);
    let other = e::<H::E>(&[-1.0, 0.25, 0.5, 0.5]);
    let t = Targets::Labels(&[0, 1]);
    let p = NET.param_count();
    let grads = |net: &mut Network<'_, H::B>| {
        let mut g = vec![H::E::ZERO; p];
        net.gradients(&mut g).unwrap();
        g.iter().map(|v| v.to_f64()).collect::<Vec<_>>()
    };
    let params = |net: &mut Network<'_, H::B>| {
        let mut w = vec![H::E::ZERO; p];
        net.parameters(&mut w).unwrap();
        w.iter().map(|v| v.to_f64().to_bits()).collect::<Vec<_>>()
    };
    #[track_caller]
    fn refused<T: std::fmt::Debug, BE: std::fmt::Debug>(
        r: Result<T, Error<BE>>,
        called: &str,
        needs: &str,
    ) {
        match r {
            Err(Error::OutOfOrder {
                called: c,
                needs: n,
            }) if c == called && n == needs => {}
            other => panic!("{called} should need {needs}: {other:?}"),
        }
    }

    refused(net.loss(t), "loss", "forward");
    // One gradient, then the same loss and backward again: twice it.
    net.forward(&x).unwrap();
    net.loss(t).unwrap();
    net.backward().unwrap();
    let g1 = grads(&mut net);
    assert!(g1.iter().any(|&v| v != 0.0));
    refused(net.backward(), "backward", "loss");
    net.loss(t).unwrap();
    net.backward().unwrap();
    let g2 = grads(&mut net);
    for (a, b) in g1.iter().zip(&g2) {
        assert!(
            (b - 2.0 * a).abs() <= 1e-6 * a.abs().max(1e-3),
            "{}: {g1:?} {g2:?}",
            H::NAME
        );
    }
    // zero_grad and set_lr between loss and backward: the same gradient.
    net.zero_grad().unwrap();
    net.forward(&x).unwrap();
    net.loss(t).unwrap();
    net.zero_grad().unwrap();
    net.set_lr(0.2).unwrap();
    net.backward().unwrap();
    assert_eq!(grads(&mut net), g1, "{}", H::NAME);
    net.set_lr(0.1).unwrap();
    // predict and evaluate overwrite the activations.
    net.forward(&x).unwrap();
    net.loss(t).unwrap();
    let mut out = vec![H::E::ZERO; 4];
    net.predict(&other, &mut out).unwrap();
    refused(net.backward(), "backward", "loss");
    net.evaluate(&x, t).unwrap();
    refused(net.loss(t), "loss", "forward");
    // A step: its forward pass no longer matches the parameters.
    net.forward(&x).unwrap();
    net.loss(t).unwrap();
    net.step().unwrap();
    refused(net.backward(), "backward", "loss");
    refused(net.loss(t), "loss", "forward");
    // train_step: the same; its outputs stay readable.
    net.train_step(&x, t).unwrap();
    refused(net.loss(t), "loss", "forward");
    net.output(&mut out).unwrap();
    // load_parameters: the same.
    net.forward(&x).unwrap();
    let w: Vec<H::E> = {
        let mut w = vec![H::E::ZERO; p];
        net.parameters(&mut w).unwrap();
        w
    };
    net.load_parameters(&w).unwrap();
    refused(net.loss(t), "loss", "forward");

    // The manual sequence after all that still equals train_step.
    twin.load_parameters(&w).unwrap();
    let mut state = vec![H::E::ZERO; net.layout().state.len];
    let off = net.layout().state.offset;
    net.backend_mut().download(off, &mut state).unwrap();
    twin.backend_mut().upload(off, &state).unwrap();
    for _ in 0..2 {
        net.zero_grad().unwrap();
        net.forward(&x).unwrap();
        let a = net.loss(t).unwrap();
        net.backward().unwrap();
        net.step().unwrap();
        let b = twin.train_step(&x, t).unwrap();
        assert_eq!(a.to_f64().to_bits(), b.to_f64().to_bits(), "{}", H::NAME);
    }
    assert_eq!(params(&mut net), params(&mut twin), "{}", H::NAME);
}
