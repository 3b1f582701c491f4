//! The vendored data sets (see `data/SOURCES.md`), parsed for tests and
//! examples.

use microprop::{Element, Rng};

/// A classification data set: `n × features` row-major values and `n` labels.
#[derive(Debug, Clone)]
pub struct Dataset<E> {
    /// Features per sample.
    pub features: usize,
    /// Number of classes.
    pub classes: usize,
    /// Row-major features.
    pub x: Vec<E>,
    /// Labels.
    pub y: Vec<usize>,
}

impl<E: Element> Dataset<E> {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.y.len()
    }
    /// `true` with no samples.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }
    /// Shuffle with `seed` and split off the last `test_fraction` as a test
    /// set: `(train, test)`.
    pub fn split(&self, test_fraction: f64, seed: u64) -> (Self, Self) {
        let mut idx: Vec<usize> = (0..self.len()).collect();
        Rng::new(seed).shuffle(&mut idx);
        let n_test = (self.len() as f64 * test_fraction).round() as usize;
        let (train, test) = idx.split_at(self.len() - n_test);
        (self.subset(train), self.subset(test))
    }
    /// The samples at `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> Self {
        let f = self.features;
        let mut x = Vec::with_capacity(idx.len() * f);
        let mut y = Vec::with_capacity(idx.len());
        for &i in idx {
            x.extend_from_slice(&self.x[i * f..(i + 1) * f]);
            y.push(self.y[i]);
        }
        Dataset {
            features: f,
            classes: self.classes,
            x,
            y,
        }
    }
    /// Standardise each feature with the mean and standard deviation of
    /// `reference` (the training set), so test data never leaks into it.
    pub fn standardize_with(&mut self, reference: &Self) {
        let f = self.features;
        for j in 0..f {
            let col = || reference.x.iter().skip(j).step_by(f).map(|v| v.to_f64());
            let n = reference.len() as f64;
            let mean = col().sum::<f64>() / n;
            let var = col().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
            let sd = if var > 0.0 { var.sqrt() } else { 1.0 };
            for v in self.x.iter_mut().skip(j).step_by(f) {
                *v = E::from_f64((v.to_f64() - mean) / sd);
            }
        }
    }
}

fn parse_csv<E: Element>(text: &str, header: bool, scale: f64, classes: usize) -> Dataset<E> {
    let mut x = Vec::new();
    let mut y = Vec::new();
    let mut features = 0;
    for line in text.lines().skip(usize::from(header)) {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let vals: Vec<f64> = line
            .split(',')
            .map(|v| v.trim().parse::<f64>().expect("vendored CSV is numeric"))
            .collect();
        let (label, feats) = vals.split_last().expect("non-empty row");
        features = feats.len();
        x.extend(feats.iter().map(|&v| E::from_f64(v * scale)));
        y.push(*label as usize);
    }
    Dataset {
        features,
        classes,
        x,
        y,
    }
}

/// The raw text of `data/digits.csv`.
pub const DIGITS_CSV: &str = include_str!("../../data/digits.csv");

/// Digits: 1797 8×8 images, pixels scaled from 0..16 to 0..1, 10 classes.
pub fn digits<E: Element>() -> Dataset<E> {
    parse_csv(DIGITS_CSV, false, 1.0 / 16.0, 10)
}

/// Iris: 150 × 4, 3 classes (raw features).
pub fn iris<E: Element>() -> Dataset<E> {
    parse_csv(include_str!("../../data/iris.csv"), true, 1.0, 3)
}

/// Breast cancer (diagnostic): 569 × 30, 2 classes (raw features).
pub fn breast_cancer<E: Element>() -> Dataset<E> {
    parse_csv(include_str!("../../data/breast_cancer.csv"), true, 1.0, 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendored_sets_have_their_published_shapes() {
        let d = digits::<f32>();
        assert_eq!((d.len(), d.features), (1797, 64));
        assert!(d.y.iter().all(|&l| l < 10));
        assert!(d.x.iter().all(|&v| (0.0..=1.0).contains(&v)));
        let i = iris::<f64>();
        assert_eq!((i.len(), i.features), (150, 4));
        let b = breast_cancer::<f64>();
        assert_eq!((b.len(), b.features), (569, 30));
    }

    #[test]
    fn split_is_disjoint_and_complete() {
        let d = iris::<f64>();
        let (tr, te) = d.split(0.2, 3);
        assert_eq!((tr.len(), te.len()), (120, 30));
        let mut all: Vec<_> =
            tr.x.chunks(4)
                .chain(te.x.chunks(4))
                .map(|r| r.to_vec())
                .collect();
        let mut orig: Vec<_> = d.x.chunks(4).map(|r| r.to_vec()).collect();
        all.sort_by(|a, b| a.partial_cmp(b).unwrap());
        orig.sort_by(|a, b| a.partial_cmp(b).unwrap());
        assert_eq!(all, orig);
    }
}
