//! # microprop-data: the vendored data sets, parsed in one place
//!
//! The CSV files next to this crate (`data/`, described in `SOURCES.md`) are
//! read here and nowhere else: by the conformance suite (`host-tests`), the
//! examples (`microprop-examples`), the `microprop eval` CLI and the
//! firmware's build script, which embeds the digits into flash.
//!
//! - [`Digits`]: the UCI digits as stored, 1797 images of 8×8 pixels
//!   `0..=16` and their labels `0..=9`, as bytes. This part has no
//!   dependencies; the firmware build takes it with `default-features =
//!   false`.
//! - [`held_out`]: the firmware's split of the digits (image `i` is held out
//!   when `i % 5 == 4`), shared by the firmware, the `pretrain` example and
//!   `microprop eval`.
//! - `Dataset<E>` (feature `dataset`, on by default): features as microprop
//!   elements (digits pixels / 16), with shuffled splits, subsets and
//!   standardisation.
//! - [`TimeSeries`]: the UEA/UCR time-series sets in `data/timeseries/`
//!   (BasicMotions: 6 channels × 100 steps, 4 classes; GunPoint: 1 × 150, 2
//!   classes), parsed from sktime's `.ts` format into channels-first `[N, C,
//!   L]` f32 values and class indices, with per-channel standardisation
//!   ([`ChannelStats`]) taken from the training split. No dependencies.
//!
//! ```
//! let d = microprop_data::Digits::load()?;
//! assert_eq!((d.len(), d.image(0).len()), (1797, 64));
//! assert!(d.labels.iter().all(|&l| l < 10));
//! # Ok::<(), microprop_data::DataError>(())
//! ```

use std::fmt;

#[cfg(feature = "dataset")]
mod dataset;
#[cfg(feature = "dataset")]
pub use dataset::Dataset;
mod timeseries;
pub use timeseries::{
    ChannelStats, Split, TimeSeries, TimeSeriesSet, BASIC_MOTIONS_TEST_TS, BASIC_MOTIONS_TRAIN_TS,
    GUN_POINT_TEST_TS, GUN_POINT_TRAIN_TS, QUANT_STEPS,
};

/// The raw text of `data/digits.csv`: no header; each row is 64 pixels
/// (integers `0..=16`, row-major 8×8) then the label.
pub const DIGITS_CSV: &str = include_str!("../digits.csv");
/// Pixels per digits image (8×8).
pub const DIGITS_PIXELS: usize = 64;
/// Classes of the digits set (`0..=9`).
pub const DIGITS_CLASSES: usize = 10;
/// Largest pixel value of the digits set.
pub const DIGITS_MAX_PIXEL: u8 = 16;

/// Whether digits image `i` is held out in the firmware's split: `i % 5 ==
/// 4` (1438 training images, 359 held out). The `finetune` firmware, the
/// `pretrain` example, `digits --firmware-split` and `microprop eval` use
/// this split, so the held-out images are ones the embedded model never saw.
pub fn held_out(i: usize) -> bool {
    i % 5 == 4
}

/// Why a vendored CSV or `.ts` file could not be read. Lines are numbered
/// from 1.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DataError {
    /// A field is not a number.
    NotANumber {
        /// Line of the file.
        line: usize,
        /// The field as written.
        field: String,
    },
    /// A row has another number of fields than the set's rows have.
    WrongFieldCount {
        /// Line of the file.
        line: usize,
        /// Fields a row of this set has.
        expected: usize,
        /// Fields this row has.
        found: usize,
    },
    /// A value outside its range: a digits pixel not an integer in
    /// `0..=16`, or a label not an integer below the number of classes.
    OutOfRange {
        /// Line of the file.
        line: usize,
        /// What the value is (`"pixel"`, `"label"`).
        what: &'static str,
        /// The value.
        value: f64,
        /// Its allowed range, in words.
        allowed: &'static str,
    },
    /// The file has no rows.
    Empty,
    /// A `.ts` header line that is not understood or not supported.
    BadHeader {
        /// Line of the file.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A `.ts` file ends without a header line it needs.
    MissingHeader {
        /// The tag (`"@data"`, `"@classLabel"`).
        what: &'static str,
    },
    /// A `.ts` row has another number of channels (`:`-separated series)
    /// than the header or the first row says.
    WrongChannelCount {
        /// Line of the file.
        line: usize,
        /// Channels a row of this set has.
        expected: usize,
        /// Channels this row has.
        found: usize,
    },
    /// A `.ts` series has another number of values than `@seriesLength` (or
    /// the first row) says.
    WrongSeriesLength {
        /// Line of the file.
        line: usize,
        /// The channel, from 0.
        channel: usize,
        /// Values a series of this set has.
        expected: usize,
        /// Values this series has.
        found: usize,
    },
    /// A `.ts` row's label is not one of `@classLabel`'s.
    UnknownLabel {
        /// Line of the file.
        line: usize,
        /// The label as written.
        label: String,
    },
    /// Per-channel statistics for another number of channels than the set
    /// they are applied to.
    StatsChannelMismatch {
        /// Channels of the set.
        channels: usize,
        /// Channels of the statistics.
        stats_channels: usize,
    },
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataError::NotANumber { line, field } => {
                write!(f, "line {line}: {field:?} is not a number")
            }
            DataError::WrongFieldCount {
                line,
                expected,
                found,
            } => write!(f, "line {line}: {found} fields, expected {expected}"),
            DataError::OutOfRange {
                line,
                what,
                value,
                allowed,
            } => write!(f, "line {line}: {what} {value} is not {allowed}"),
            DataError::Empty => write!(f, "no rows"),
            DataError::BadHeader { line, reason } => write!(f, "line {line}: {reason}"),
            DataError::MissingHeader { what } => write!(f, "no {what} line"),
            DataError::WrongChannelCount {
                line,
                expected,
                found,
            } => write!(f, "line {line}: {found} channels, expected {expected}"),
            DataError::WrongSeriesLength {
                line,
                channel,
                expected,
                found,
            } => write!(
                f,
                "line {line}: channel {channel} has {found} values, expected {expected}"
            ),
            DataError::UnknownLabel { line, label } => {
                write!(f, "line {line}: label {label:?} is not in @classLabel")
            }
            DataError::StatsChannelMismatch {
                channels,
                stats_channels,
            } => write!(
                f,
                "statistics for {stats_channels} channels applied to {channels}"
            ),
        }
    }
}

impl std::error::Error for DataError {}

/// The UCI digits as stored: `pixels` row-major, [`DIGITS_PIXELS`] bytes
/// per image, each `0..=16`; `labels` one byte per image, each `0..=9`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digits {
    /// Pixels, image after image, row-major 8×8.
    pub pixels: Vec<u8>,
    /// Labels, one per image.
    pub labels: Vec<u8>,
}

impl Digits {
    /// The vendored set, [`DIGITS_CSV`]: 1797 images.
    pub fn load() -> Result<Self, DataError> {
        Self::parse(DIGITS_CSV)
    }

    /// Parse digits CSV text: no header, blank lines skipped, each row 64
    /// integer pixels in `0..=16` and an integer label in `0..=9`.
    pub fn parse(text: &str) -> Result<Self, DataError> {
        let mut pixels = Vec::with_capacity(1797 * DIGITS_PIXELS);
        let mut labels = Vec::with_capacity(1797);
        for (line, values) in rows(text, false) {
            let values = values?;
            if values.len() != DIGITS_PIXELS + 1 {
                return Err(DataError::WrongFieldCount {
                    line,
                    expected: DIGITS_PIXELS + 1,
                    found: values.len(),
                });
            }
            for &v in &values[..DIGITS_PIXELS] {
                pixels.push(small_integer(
                    v,
                    DIGITS_MAX_PIXEL,
                    line,
                    "pixel",
                    "an integer in 0..=16",
                )?);
            }
            labels.push(small_integer(
                values[DIGITS_PIXELS],
                DIGITS_CLASSES as u8 - 1,
                line,
                "label",
                "an integer in 0..=9",
            )?);
        }
        if labels.is_empty() {
            return Err(DataError::Empty);
        }
        Ok(Digits { pixels, labels })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// `true` with no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The 64 pixels of image `i` (panics when `i >= len()`, like slice
    /// indexing).
    pub fn image(&self, i: usize) -> &[u8] {
        &self.pixels[i * DIGITS_PIXELS..(i + 1) * DIGITS_PIXELS]
    }

    /// Every pixel divided by 16 (`0.0..=1.0`, exact in f32), row-major:
    /// the features the host models train on.
    pub fn pixels_f32(&self) -> Vec<f32> {
        self.pixels
            .iter()
            .map(|&p| f32::from(p) / f32::from(DIGITS_MAX_PIXEL))
            .collect()
    }

    /// The labels as `usize` (what `Targets::Labels` takes).
    pub fn labels_usize(&self) -> Vec<usize> {
        self.labels.iter().map(|&l| usize::from(l)).collect()
    }
}

/// `v` as a byte when it is an integer in `0..=max`.
fn small_integer(
    v: f64,
    max: u8,
    line: usize,
    what: &'static str,
    allowed: &'static str,
) -> Result<u8, DataError> {
    if v.fract() == 0.0 && (0.0..=f64::from(max)).contains(&v) {
        Ok(v as u8)
    } else {
        Err(DataError::OutOfRange {
            line,
            what,
            value: v,
            allowed,
        })
    }
}

/// The rows of CSV `text` (after a header line when `header`), blank lines
/// skipped: each with its line number (from 1) and its fields as numbers.
fn rows(
    text: &str,
    header: bool,
) -> impl Iterator<Item = (usize, Result<Vec<f64>, DataError>)> + '_ {
    text.lines()
        .enumerate()
        .skip(usize::from(header))
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty())
        .map(|(line, l)| {
            let values = l
                .split(',')
                .map(|f| {
                    f.trim().parse::<f64>().map_err(|_| DataError::NotANumber {
                        line,
                        field: f.to_string(),
                    })
                })
                .collect();
            (line, values)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendored_digits_have_their_published_shape() {
        let d = Digits::load().unwrap();
        assert_eq!(d.len(), 1797);
        assert_eq!(d.pixels.len(), 1797 * 64);
        assert!(d.pixels.iter().all(|&p| p <= 16));
        assert!(d.labels.iter().all(|&l| l < 10));
        // Every class is there (the set is roughly balanced, ~180 each).
        for c in 0..10 {
            let n = d.labels.iter().filter(|&&l| l == c).count();
            assert!((170..=190).contains(&n), "class {c}: {n} images");
        }
        // The first row of the file, as written.
        assert_eq!(&d.image(0)[..8], &[0, 0, 5, 13, 9, 1, 0, 0]);
        assert_eq!(d.labels[0], 0);
        let f = d.pixels_f32();
        assert_eq!(f[2], 5.0 / 16.0);
        assert_eq!(d.labels_usize().len(), 1797);
    }

    #[test]
    fn the_firmware_split_holds_out_every_fifth_image() {
        let held = (0..1797).filter(|&i| held_out(i)).count();
        assert_eq!(held, 359);
        assert!(held_out(4) && held_out(9) && !held_out(0) && !held_out(5));
    }

    #[test]
    fn bad_digits_rows_are_errors_naming_the_line() {
        let row = |last: &str| format!("{}{last}\n", "0,".repeat(64));
        assert_eq!(Digits::parse(""), Err(DataError::Empty));
        let two = format!("{}\n{}", row("3"), row("x"));
        assert_eq!(
            Digits::parse(&two),
            Err(DataError::NotANumber {
                line: 3,
                field: "x".into()
            })
        );
        let e = Digits::parse(&row("10")).unwrap_err();
        assert!(matches!(
            e,
            DataError::OutOfRange {
                line: 1,
                what: "label",
                ..
            }
        ));
        assert_eq!(e.to_string(), "line 1: label 10 is not an integer in 0..=9");
        let e = Digits::parse(&format!("17,{}", row("1"))).unwrap_err();
        assert!(matches!(e, DataError::WrongFieldCount { found: 66, .. }));
        let e = Digits::parse(&format!("17,{}", &row("1")[2..])).unwrap_err();
        assert!(
            matches!(e, DataError::OutOfRange { what: "pixel", .. }),
            "{e}"
        );
        let e = Digits::parse(&format!("0.5,{}", &row("1")[2..])).unwrap_err();
        assert!(
            matches!(e, DataError::OutOfRange { what: "pixel", .. }),
            "{e}"
        );
        // Blank lines and surrounding spaces are fine.
        let d = Digits::parse(&format!("\n {} \n\n", row("7").trim())).unwrap();
        assert_eq!((d.len(), d.labels[0]), (1, 7));
    }
}
