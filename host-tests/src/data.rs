//! The vendored data sets (see `data/SOURCES.md`) for the suite: read by
//! `microprop-data`, the one loader the examples, the CLI and the firmware
//! build use too.

use microprop::Element;
pub use microprop_data::{held_out, DataError, Dataset, Digits, DIGITS_CSV};

/// Digits: 1797 8×8 images, pixels scaled from 0..16 to 0..1, 10 classes.
pub fn digits<E: Element>() -> Dataset<E> {
    Dataset::digits().expect("data/digits.csv is the vendored set")
}

/// Iris: 150 × 4, 3 classes (raw features).
pub fn iris<E: Element>() -> Dataset<E> {
    Dataset::iris().expect("data/iris.csv is the vendored set")
}

/// Breast cancer (diagnostic): 569 × 30, 2 classes (raw features).
pub fn breast_cancer<E: Element>() -> Dataset<E> {
    Dataset::breast_cancer().expect("data/breast_cancer.csv is the vendored set")
}
