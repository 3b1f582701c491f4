//! Classification sets as microprop elements (feature `dataset`).

use crate::{rows, DataError, Digits, DIGITS_CLASSES, DIGITS_MAX_PIXEL, DIGITS_PIXELS};
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
    /// Digits ([`Digits::load`]): 1797 8×8 images, pixels scaled from 0..16
    /// to 0..1, 10 classes.
    pub fn digits() -> Result<Self, DataError> {
        Ok(Self::from_digits(&Digits::load()?))
    }

    /// `d`'s pixels / 16 as elements (exact in f32 and f64), and its labels.
    pub fn from_digits(d: &Digits) -> Self {
        let scale = 1.0 / f64::from(DIGITS_MAX_PIXEL);
        Dataset {
            features: DIGITS_PIXELS,
            classes: DIGITS_CLASSES,
            x: d.pixels
                .iter()
                .map(|&p| E::from_f64(f64::from(p) * scale))
                .collect(),
            y: d.labels_usize(),
        }
    }

    /// Iris (`data/iris.csv`): 150 × 4, 3 classes (raw features).
    pub fn iris() -> Result<Self, DataError> {
        parse_csv(include_str!("../iris.csv"), 3)
    }

    /// Breast cancer, diagnostic (`data/breast_cancer.csv`): 569 × 30, 2
    /// classes (raw features).
    pub fn breast_cancer() -> Result<Self, DataError> {
        parse_csv(include_str!("../breast_cancer.csv"), 2)
    }

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

/// A CSV with a header line (scikit-learn's form: `n,features,names...`) and
/// rows of features then an integer label below `classes`.
fn parse_csv<E: Element>(text: &str, classes: usize) -> Result<Dataset<E>, DataError> {
    let mut x = Vec::new();
    let mut y = Vec::new();
    let mut features = None;
    for (line, values) in rows(text, true) {
        let values = values?;
        let Some((&label, feats)) = values.split_last() else {
            continue;
        };
        let expected = *features.get_or_insert(feats.len());
        if feats.len() != expected {
            return Err(DataError::WrongFieldCount {
                line,
                expected: expected + 1,
                found: values.len(),
            });
        }
        if label.fract() != 0.0 || !(0.0..classes as f64).contains(&label) {
            return Err(DataError::OutOfRange {
                line,
                what: "label",
                value: label,
                allowed: "an integer below the number of classes",
            });
        }
        x.extend(feats.iter().map(|&v| E::from_f64(v)));
        y.push(label as usize);
    }
    let features = features.ok_or(DataError::Empty)?;
    Ok(Dataset {
        features,
        classes,
        x,
        y,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendored_sets_have_their_published_shapes() {
        let d = Dataset::<f32>::digits().unwrap();
        assert_eq!((d.len(), d.features, d.classes), (1797, 64, 10));
        assert!(d.y.iter().all(|&l| l < 10));
        assert!(d.x.iter().all(|&v| (0.0..=1.0).contains(&v)));
        assert_eq!(d.x, Digits::load().unwrap().pixels_f32());
        let i = Dataset::<f64>::iris().unwrap();
        assert_eq!((i.len(), i.features), (150, 4));
        assert_eq!(i.x[..4], [5.1, 3.5, 1.4, 0.2]);
        let b = Dataset::<f64>::breast_cancer().unwrap();
        assert_eq!((b.len(), b.features), (569, 30));
    }

    #[test]
    fn split_is_disjoint_and_complete() {
        let d = Dataset::<f64>::iris().unwrap();
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

    #[test]
    fn a_label_outside_the_classes_is_an_error() {
        let e = parse_csv::<f64>("2,1,a,b\n0.5,0\n0.5,2\n", 2).unwrap_err();
        assert!(matches!(e, DataError::OutOfRange { line: 3, .. }), "{e}");
        let e = parse_csv::<f64>("2,1,a,b\n0.5,0\n0.5,1,1\n", 2).unwrap_err();
        assert!(
            matches!(e, DataError::WrongFieldCount { line: 3, .. }),
            "{e}"
        );
        assert_eq!(
            parse_csv::<f64>("2,1,a,b\n", 2).unwrap_err(),
            DataError::Empty
        );
    }
}
