//! The perceptron (classic, pocket, averaged) through each backend: a hand
//! run, the mistake bound on generated separable sets, XOR at the epoch
//! limit, real data, and typed errors.

use crate::data;
use crate::Harness;
use microprop::{perceptron_arena_len, Element, Error, Operand, Perceptron, Rng, Variant};

fn e<E: Element>(v: &[f64]) -> Vec<E> {
    v.iter().map(|&x| E::from_f64(x)).collect()
}

/// A perceptron for `rows × features` on a fresh backend of `H`.
fn perceptron<H: Harness>(rows: usize, features: usize) -> Option<Perceptron<H::B>> {
    let b = H::backend(perceptron_arena_len(rows, features))?;
    Some(Perceptron::new(b, rows, features).unwrap())
}

pub fn perceptron_and_by_hand<H: Harness>() {
    // AND in row order from w = 0 (bias last): mistakes per epoch
    // 2, 3, 3, 2, 2, 3, 2, 1, 0 (18 in all), ending at w = [3, 2, −4].
    // Every value is a small integer, so every backend gets it exactly.
    let Some(mut p) = perceptron::<H>(4, 2) else {
        return;
    };
    let x = e::<H::E>(&[0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0]);
    p.load(&x, &e::<H::E>(&[-1.0, -1.0, -1.0, 1.0])).unwrap();
    let rep = p.train(Variant::Classic, 100).unwrap();
    assert_eq!(
        (rep.updates, rep.epochs, rep.converged, rep.training_errors),
        (18, 9, true, 0),
        "{}",
        H::NAME
    );
    let mut w = vec![H::E::ZERO; 3];
    p.weights(&mut w).unwrap();
    assert_eq!(w, e::<H::E>(&[3.0, 2.0, -4.0]), "{}", H::NAME);
    assert_eq!(p.predict(&e::<H::E>(&[1.0, 1.0])).unwrap(), 1);
    assert_eq!(p.predict(&e::<H::E>(&[1.0, 0.0])).unwrap(), -1);
}

/// `rows` points uniform in `[-1, 1]^features`, labelled by a random
/// hyperplane, kept only where their margin to it is at least `gap`.
/// Returns samples, labels and the augmented hyperplane `[w, b]`.
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

pub fn perceptron_mistakes_within_bound<H: Harness>() {
    // Novikoff: from w = 0, mistakes ≤ (R/γ)², R the longest (augmented)
    // sample, γ the best margin. γ is taken from the generating hyperplane,
    // a lower bound of the best margin, so the bound used is never tighter
    // than the true one.
    for (seed, rows, features, gap) in [(1, 100, 2, 0.05), (3, 200, 5, 0.05), (4, 300, 10, 0.05)] {
        let (x, y, w) = separable(seed, rows, features, gap);
        let norm = w.iter().map(|v| v * v).sum::<f64>().sqrt();
        let mut r2 = 0.0f64;
        let mut gamma = f64::INFINITY;
        for (row, label) in x.chunks(features).zip(&y) {
            r2 = r2.max(row.iter().map(|v| v * v).sum::<f64>() + 1.0);
            let s = row.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() + w[features];
            gamma = gamma.min(label * s / norm);
        }
        let bound = r2 / (gamma * gamma);
        let Some(mut p) = perceptron::<H>(rows, features) else {
            return;
        };
        p.load(&e::<H::E>(&x), &e::<H::E>(&y)).unwrap();
        let rep = p.train(Variant::Classic, 10_000).unwrap();
        println!(
            "{}: separable {rows}x{features} (seed {seed}): {} mistakes in {} epochs, (R/gamma)^2 = {bound:.0}",
            H::NAME,
            rep.updates,
            rep.epochs
        );
        assert!(rep.converged, "{}: {rep:?}", H::NAME);
        assert_eq!(rep.training_errors, 0, "{}", H::NAME);
        assert!(
            rep.updates as f64 <= bound,
            "{}: {} mistakes > bound {bound}",
            H::NAME,
            rep.updates
        );
    }
}

pub fn perceptron_xor_stops_at_epoch_limit<H: Harness>() {
    let Some(mut p) = perceptron::<H>(4, 2) else {
        return;
    };
    let x = e::<H::E>(&[0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0]);
    p.load(&x, &e::<H::E>(&[-1.0, 1.0, 1.0, -1.0])).unwrap();
    for variant in [Variant::Classic, Variant::Pocket, Variant::Averaged] {
        let rep = p.train(variant, 25).unwrap();
        assert!(!rep.converged, "{}: {variant:?}", H::NAME);
        assert_eq!(rep.epochs, 25, "{}: {variant:?}", H::NAME);
        // In row order the rule returns to w = 0 every epoch (4 updates).
        assert_eq!(rep.updates, 100, "{}: {variant:?}", H::NAME);
        let want = match variant {
            Variant::Classic => 4, // w = 0 gets every row wrong
            Variant::Pocket => 2,  // the best weights of the cycle
            Variant::Averaged => rep.training_errors,
        };
        assert_eq!(rep.training_errors, want, "{}: {variant:?}", H::NAME);
        assert!(
            rep.training_errors >= 1,
            "{}: XOR is not separable",
            H::NAME
        );
    }
}

pub fn perceptron_pocket_and_averaged_on_breast_cancer<H: Harness>() {
    let all = data::breast_cancer::<H::E>();
    let (mut train, mut test) = all.split(0.3, 7);
    let reference = train.clone();
    train.standardize_with(&reference);
    test.standardize_with(&reference);
    let sign = |y: &[usize]| -> Vec<H::E> {
        // Class 0 (malignant) is +1.
        y.iter()
            .map(|&c| H::E::from_f64(if c == 0 { 1.0 } else { -1.0 }))
            .collect()
    };
    let (ytr, yte) = (sign(&train.y), sign(&test.y));
    let f = train.features;
    let Some(mut p) = perceptron::<H>(train.len(), f) else {
        return;
    };
    p.load(&train.x, &ytr).unwrap();
    let mut errors = Vec::new();
    for variant in [Variant::Classic, Variant::Pocket, Variant::Averaged] {
        let rep = p.train(variant, 50).unwrap();
        let mut right = 0;
        for (row, &label) in test.x.chunks(f).zip(&yte) {
            right += usize::from(p.predict(row).unwrap() as f64 == label.to_f64());
        }
        let train_acc = 1.0 - rep.training_errors as f64 / train.len() as f64;
        let test_acc = right as f64 / test.len() as f64;
        println!(
            "{}: breast cancer {variant:?}: {} updates, train {train_acc:.4}, test {test_acc:.4}",
            H::NAME,
            rep.updates
        );
        // The last weights of a non-converged run are noisy; the pocket and
        // the average are the models meant for such data.
        let floor = if variant == Variant::Classic {
            0.95
        } else {
            0.97
        };
        assert!(
            train_acc >= floor,
            "{}: {variant:?} train {train_acc}",
            H::NAME
        );
        assert!(test_acc >= 0.93, "{}: {variant:?} test {test_acc}", H::NAME);
        errors.push(rep.training_errors);
    }
    // The pocket keeps the best weights seen after any update, the last
    // weights included.
    assert!(errors[1] <= errors[0], "{}: pocket {errors:?}", H::NAME);
}

pub fn perceptron_bad_inputs_are_typed_errors<H: Harness>() {
    let Some(small) = H::backend(perceptron_arena_len(4, 2) - 1) else {
        return;
    };
    assert!(matches!(
        Perceptron::new(small, 4, 2),
        Err(Error::ArenaTooSmall { .. })
    ));
    let Some(mut p) = perceptron::<H>(4, 2) else {
        return;
    };
    let x = e::<H::E>(&[0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0]);
    assert!(matches!(
        p.train(Variant::Classic, 5),
        Err(Error::OutOfOrder { .. })
    ));
    assert!(matches!(
        p.load(&x, &e::<H::E>(&[1.0, 0.0, 1.0, 1.0])),
        Err(Error::SignLabel { index: 1 })
    ));
    let mut nan = x.clone();
    nan[3] = H::E::from_f64(f64::NAN);
    assert!(matches!(
        p.load(&nan, &e::<H::E>(&[1.0; 4])),
        Err(Error::NonFinite {
            what: Operand::Input,
            index: 3
        })
    ));
    assert!(matches!(
        p.load(&x[..6], &e::<H::E>(&[1.0; 4])),
        Err(Error::Length { .. })
    ));
    assert!(matches!(
        p.load(
            &[x.clone(), x[..2].to_vec()].concat(),
            &e::<H::E>(&[1.0; 5])
        ),
        Err(Error::BatchTooLarge { .. })
    ));
    p.load(&x, &e::<H::E>(&[-1.0, 1.0, 1.0, 1.0])).unwrap();
    assert!(matches!(
        p.train(Variant::Pocket, 0),
        Err(Error::Hyperparameter { .. })
    ));
    assert!(matches!(
        p.predict(&e::<H::E>(&[1.0])),
        Err(Error::Length { .. })
    ));
    // Still trains after the rejections: OR is separable.
    assert!(p.train(Variant::Classic, 50).unwrap().converged);
}
