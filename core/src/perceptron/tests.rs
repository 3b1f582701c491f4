//! Perceptron tests on the CPU backend: the mistake bound on generated
//! separable sets, XOR, the pocket and averaged variants on real data, and
//! every input error.

use super::*;
use crate::Rng;
use microprop_cpu::{CpuBackend, CpuError};

type E = Error<CpuError>;
type TestResult = core::result::Result<(), E>;

/// A separable set: `rows` points uniform in `[-1, 1]^features`, labelled by
/// a random hyperplane `w*·x + b*`, keeping only points whose (augmented)
/// margin to it is at least `gap`. Returns samples, labels and
/// `w* = [w, b]` (augmented, like the perceptron's weights).
fn separable(seed: u64, rows: usize, features: usize, gap: f64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut rng = Rng::new(seed);
    let mut w: Vec<f64> = (0..features).map(|_| rng.uniform(-1.0, 1.0)).collect();
    w.push(rng.uniform(-0.3, 0.3));
    let norm = w.iter().map(|v| v * v).sum::<f64>().sqrt();
    let (mut x, mut y) = (Vec::new(), Vec::new());
    while y.len() < rows {
        let p: Vec<f64> = (0..features).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let s = p.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() + w[features];
        if s.abs() / norm >= gap {
            x.extend_from_slice(&p);
            y.push(if s > 0.0 { 1.0 } else { -1.0 });
        }
    }
    (x, y, w)
}

/// `(R/γ)²` with `R` the longest augmented sample and `γ` the margin of the
/// known hyperplane `w*` (a lower bound of the best margin, so the bound
/// computed from it is at least the true `(R/γ_best)²`).
fn mistake_bound(x: &[f64], y: &[f64], w: &[f64]) -> (f64, f64, f64) {
    let features = w.len() - 1;
    let norm = w.iter().map(|v| v * v).sum::<f64>().sqrt();
    let mut r2 = 0.0f64;
    let mut gamma = f64::INFINITY;
    for (row, label) in x.chunks(features).zip(y) {
        let n2 = row.iter().map(|v| v * v).sum::<f64>() + 1.0;
        r2 = r2.max(n2);
        let s = row.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() + w[features];
        gamma = gamma.min(label * s / norm);
    }
    assert!(gamma > 0.0);
    (r2.sqrt(), gamma, r2 / (gamma * gamma))
}

#[test]
fn mistakes_within_the_bound_on_separable_sets() -> TestResult {
    for (seed, rows, features, gap) in [
        (1, 100, 2, 0.05),
        (2, 200, 2, 0.01),
        (3, 200, 5, 0.05),
        (4, 300, 10, 0.05),
        (5, 500, 20, 0.02),
    ] {
        let (x, y, w) = separable(seed, rows, features, gap);
        let (r, gamma, bound) = mistake_bound(&x, &y, &w);
        let mut arena = vec![0.0f64; perceptron_arena_len(rows, features)];
        let mut p = Perceptron::new(CpuBackend::new(&mut arena), rows, features)?;
        p.load(&x, &y)?;
        let rep = p.train(Variant::Classic, 10_000)?;
        println!(
            "separable set seed {seed}: {rows}x{features}, R = {r:.3}, gamma >= {gamma:.4}: \
             {} mistakes in {} epochs, bound (R/gamma)^2 = {bound:.0}",
            rep.updates, rep.epochs
        );
        assert!(rep.converged, "{rep:?}");
        assert_eq!(rep.training_errors, 0);
        assert!((rep.updates as f64) <= bound, "{} > {bound}", rep.updates);

        // f32 gives the same run: the updates are sums of the samples.
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let y32: Vec<f32> = y.iter().map(|&v| v as f32).collect();
        let mut arena = vec![0.0f32; perceptron_arena_len(rows, features)];
        let mut p = Perceptron::new(CpuBackend::new(&mut arena), rows, features).unwrap();
        p.load(&x32, &y32).unwrap();
        let rep32 = p.train(Variant::Classic, 10_000).unwrap();
        assert!(rep32.converged);
        assert!((rep32.updates as f64) <= bound);
    }
    Ok(())
}

#[test]
fn xor_stops_at_the_epoch_limit() -> TestResult {
    let x = [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];
    let y = [-1.0, 1.0, 1.0, -1.0];
    let mut arena = [0.0f64; perceptron_arena_len(4, 2)];
    let mut p = Perceptron::new(CpuBackend::new(&mut arena), 4, 2)?;
    p.load(&x, &y)?;
    for variant in [Variant::Classic, Variant::Pocket, Variant::Averaged] {
        let rep = p.train(variant, 37)?;
        assert!(!rep.converged, "{variant:?}");
        assert_eq!(rep.epochs, 37);
        assert!(rep.updates >= 37);
        // No line separates XOR: at least one point stays wrong.
        assert!(rep.training_errors >= 1);
        if variant == Variant::Pocket {
            // In row order the rule cycles (0,0,-1), (0,1,0), (1,1,1), back
            // to 0 every epoch: the last weights get all 4 wrong, the pocket
            // keeps the best of the cycle, 2 wrong.
            assert_eq!(rep.training_errors, 2, "{rep:?}");
        }
    }
    Ok(())
}

#[test]
fn and_converges_and_predicts() -> TestResult {
    const ROWS: usize = 4;
    static_assertions_len();
    let mut arena = [0.0f32; perceptron_arena_len(ROWS, 2)];
    let mut p = Perceptron::new(CpuBackend::new(&mut arena), ROWS, 2).unwrap();
    p.load(
        &[0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0],
        &[-1.0, -1.0, -1.0, 1.0],
    )
    .unwrap();
    let rep = p.train(Variant::Classic, 100).unwrap();
    assert!(rep.converged);
    let mut w = [0.0f32; 3];
    p.weights(&mut w).unwrap();
    // Hand-run of the rule from w = 0 over AND in row order: mistakes per
    // epoch 2, 3, 3, 2, 2, 3, 2, 1, 0.
    assert_eq!(w, [3.0, 2.0, -4.0]);
    assert_eq!((rep.updates, rep.epochs), (18, 9));
    for (xi, yi) in [
        ([0.0, 0.0], -1),
        ([0.0, 1.0], -1),
        ([1.0, 0.0], -1),
        ([1.0, 1.0], 1),
    ] {
        assert_eq!(p.predict(&xi).unwrap(), yi);
    }
    // set_weights / training_errors round trip.
    p.set_weights(&[0.0, 0.0, 1.0]).unwrap();
    assert_eq!(p.training_errors().unwrap(), 3);
    Ok(())
}

/// The arena length formula: 3 weight vectors, 2 counters, samples, labels,
/// 6 scratch elements for the ops' decompositions.
fn static_assertions_len() {
    assert_eq!(perceptron_arena_len(4, 2), 3 * 3 + 2 + 4 * 3 + 4 + 6);
    assert_eq!(perceptron_arena_len(usize::MAX, 2), usize::MAX);
}

#[test]
fn bad_input_is_an_error_and_changes_nothing() {
    let mut arena = [0.0f64; perceptron_arena_len(4, 2)];
    let mut p = Perceptron::new(CpuBackend::new(&mut arena), 4, 2).unwrap();
    let x = [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];
    assert_eq!(
        p.train(Variant::Classic, 10).unwrap_err(),
        Error::OutOfOrder {
            called: "train",
            needs: "load"
        }
    );
    assert_eq!(
        p.load(&x, &[1.0, -1.0, 0.0, 1.0]),
        Err(Error::SignLabel { index: 2 })
    );
    assert_eq!(
        p.load(&x, &[1.0, -1.0, 2.0, 1.0]),
        Err(Error::SignLabel { index: 2 })
    );
    assert_eq!(
        p.load(&x, &[1.0, f64::NAN, 1.0, 1.0]),
        Err(Error::SignLabel { index: 1 })
    );
    let mut bad = x;
    bad[5] = f64::INFINITY;
    assert_eq!(
        p.load(&bad, &[1.0; 4]),
        Err(Error::NonFinite {
            what: Operand::Input,
            index: 5
        })
    );
    assert_eq!(
        p.load(&x[..7], &[1.0; 4]),
        Err(Error::Length {
            what: Operand::Input,
            expected: 8,
            got: 7
        })
    );
    assert_eq!(p.load(&[], &[]), Err(Error::EmptyBatch));
    assert_eq!(
        p.load(&[0.0; 10], &[1.0; 5]),
        Err(Error::BatchTooLarge {
            rows: 5,
            capacity: 4
        })
    );
    assert_eq!(p.rows(), 0, "nothing was loaded");

    p.load(&x, &[1.0, 1.0, 1.0, -1.0]).unwrap();
    assert_eq!(
        p.train(Variant::Classic, 0),
        Err(Error::Hyperparameter { name: "max_epochs" })
    );
    assert!(matches!(p.predict(&[1.0]), Err(Error::Length { .. })));
    assert!(matches!(
        p.predict(&[1.0, f64::NAN]),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        p.weights(&mut [0.0; 2]),
        Err(Error::Length { .. })
    ));
    assert!(matches!(
        p.set_weights(&[0.0; 4]),
        Err(Error::Length { .. })
    ));
    assert!(matches!(
        p.set_weights(&[0.0, f64::NAN, 0.0]),
        Err(Error::NonFinite { .. })
    ));

    let mut small = [0.0f64; perceptron_arena_len(4, 2) - 1];
    assert!(matches!(
        Perceptron::new(CpuBackend::new(&mut small), 4, 2),
        Err(Error::ArenaTooSmall { .. })
    ));
    let mut none = [0.0f64; 8];
    assert!(matches!(
        Perceptron::new(CpuBackend::new(&mut none), 0, 2),
        Err(Error::EmptyBatch)
    ));
}

/// A vendored UCI set: header `rows,features,class names…`, then rows of
/// features followed by the class index.
fn read_csv(text: &str) -> (usize, Vec<f64>, Vec<usize>) {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let features: usize = header[1].parse().unwrap();
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let v: Vec<f64> = line.split(',').map(|s| s.trim().parse().unwrap()).collect();
        assert_eq!(v.len(), features + 1);
        x.extend_from_slice(&v[..features]);
        y.push(v[features] as usize);
    }
    (features, x, y)
}

/// Standardise each feature to zero mean and unit variance (statistics from
/// the training rows only).
fn standardise(x: &mut [f64], features: usize, train_rows: usize) {
    for c in 0..features {
        let col = |r: usize| r * features + c;
        let n = train_rows as f64;
        let mean = (0..train_rows).map(|r| x[col(r)]).sum::<f64>() / n;
        let var = (0..train_rows)
            .map(|r| (x[col(r)] - mean).powi(2))
            .sum::<f64>()
            / n;
        let sd = var.sqrt().max(1e-12);
        for r in 0..x.len() / features {
            x[col(r)] = (x[col(r)] - mean) / sd;
        }
    }
}

/// Train every variant on the first `train` rows (after a seeded shuffle),
/// return (variant, report, train accuracy, held-out accuracy).
fn run_real(
    x: &[f64],
    y: &[f64],
    features: usize,
    train: usize,
    epochs: usize,
) -> Vec<(Variant, PerceptronReport, f64, f64)> {
    let rows = y.len();
    let mut arena = vec![0.0f64; perceptron_arena_len(train, features)];
    let mut p = Perceptron::new(CpuBackend::new(&mut arena), train, features).unwrap();
    p.load(&x[..train * features], &y[..train]).unwrap();
    let mut out = Vec::new();
    for variant in [Variant::Classic, Variant::Pocket, Variant::Averaged] {
        let rep = p.train(variant, epochs).unwrap();
        let train_acc = 1.0 - rep.training_errors as f64 / train as f64;
        let mut right = 0;
        for r in train..rows {
            let pred = p.predict(&x[r * features..(r + 1) * features]).unwrap();
            right += usize::from(pred as f64 == y[r]);
        }
        let test_acc = right as f64 / (rows - train) as f64;
        println!(
            "{variant:?}: {} updates in {} epochs, converged {}, train accuracy {:.4}, \
             held-out accuracy {:.4}",
            rep.updates, rep.epochs, rep.converged, train_acc, test_acc
        );
        out.push((variant, rep, train_acc, test_acc));
    }
    out
}

fn shuffled(seed: u64, features: usize, x: &[f64], y: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let mut order: Vec<usize> = (0..y.len()).collect();
    Rng::new(seed).shuffle(&mut order);
    let xs = order
        .iter()
        .flat_map(|&r| x[r * features..(r + 1) * features].iter().copied())
        .collect();
    let ys = order.iter().map(|&r| y[r]).collect();
    (xs, ys)
}

#[test]
fn pocket_and_averaged_on_breast_cancer() {
    let (features, x, classes) = read_csv(include_str!("../../../data/breast_cancer.csv"));
    assert_eq!((features, classes.len()), (30, 569));
    // Class 0 is malignant: +1, benign: -1.
    let y: Vec<f64> = classes
        .iter()
        .map(|&c| if c == 0 { 1.0 } else { -1.0 })
        .collect();
    let (mut x, y) = shuffled(7, features, &x, &y);
    let train = 400;
    standardise(&mut x, features, train);
    println!(
        "breast cancer: {train} training rows, {} held out",
        y.len() - train
    );
    let res = run_real(&x, &y, features, train, 200);
    let (_, classic, classic_train, _) = res[0];
    let (_, pocket, pocket_train, pocket_test) = res[1];
    let (_, averaged, averaged_train, averaged_test) = res[2];
    // Not separable in 200 epochs.
    assert!(!classic.converged);
    // The pocket holds the best weights seen at an epoch boundary, so at
    // least as good on the training set as the last weights.
    assert!(pocket.training_errors <= classic.training_errors);
    assert!(pocket_train >= 0.98, "{pocket_train}");
    assert!(averaged_train >= 0.97, "{averaged_train}");
    assert!(pocket_test >= 0.93, "{pocket_test}");
    assert!(averaged_test >= 0.94, "{averaged_test}");
    let _ = (classic_train, averaged);
}

#[test]
fn iris_setosa_vs_rest() {
    let (features, x, classes) = read_csv(include_str!("../../../data/iris.csv"));
    assert_eq!((features, classes.len()), (4, 150));
    let y: Vec<f64> = classes
        .iter()
        .map(|&c| if c == 0 { 1.0 } else { -1.0 })
        .collect();
    let (x, y) = shuffled(11, features, &x, &y);
    // Raw features (no scaling): setosa is linearly separable from the rest.
    println!("iris setosa vs rest: 100 training rows, 50 held out");
    let res = run_real(&x, &y, features, 100, 1000);
    for (variant, rep, train_acc, test_acc) in res {
        if variant == Variant::Classic {
            assert!(rep.converged, "{rep:?}");
        }
        assert_eq!(train_acc, 1.0, "{variant:?}");
        assert!(test_acc >= 0.98, "{variant:?}: {test_acc}");
    }
}
