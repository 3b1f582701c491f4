//! Time-series classification sets in sktime's `.ts` format (no
//! dependencies: the firmware build can take them too).

use crate::DataError;

/// The raw text of `data/timeseries/BasicMotions_TRAIN.ts`.
pub const BASIC_MOTIONS_TRAIN_TS: &str = include_str!("../timeseries/BasicMotions_TRAIN.ts");
/// The raw text of `data/timeseries/BasicMotions_TEST.ts`.
pub const BASIC_MOTIONS_TEST_TS: &str = include_str!("../timeseries/BasicMotions_TEST.ts");
/// The raw text of `data/timeseries/GunPoint_TRAIN.ts`.
pub const GUN_POINT_TRAIN_TS: &str = include_str!("../timeseries/GunPoint_TRAIN.ts");
/// The raw text of `data/timeseries/GunPoint_TEST.ts`.
pub const GUN_POINT_TEST_TS: &str = include_str!("../timeseries/GunPoint_TEST.ts");

/// A vendored time-series set (see `data/SOURCES.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeSeriesSet {
    /// BasicMotions: 6 channels (3-axis accelerometer, 3-axis gyroscope) ×
    /// 100 steps, 4 classes `Standing Running Walking Badminton`; 40 train,
    /// 40 test.
    BasicMotions,
    /// GunPoint: 1 channel × 150 steps, 2 classes `1 2`; 50 train, 150 test.
    GunPoint,
}

/// Which file of a [`TimeSeriesSet`]: the archive's own train/test split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// The `_TRAIN.ts` file.
    Train,
    /// The `_TEST.ts` file.
    Test,
}

impl TimeSeriesSet {
    /// The embedded text of this set's `split` file.
    pub fn text(self, split: Split) -> &'static str {
        match (self, split) {
            (TimeSeriesSet::BasicMotions, Split::Train) => BASIC_MOTIONS_TRAIN_TS,
            (TimeSeriesSet::BasicMotions, Split::Test) => BASIC_MOTIONS_TEST_TS,
            (TimeSeriesSet::GunPoint, Split::Train) => GUN_POINT_TRAIN_TS,
            (TimeSeriesSet::GunPoint, Split::Test) => GUN_POINT_TEST_TS,
        }
    }
}

/// A classification set of equal-length multichannel series.
///
/// `x` is channels-first per series, PyTorch's `[N, C, L]`: value `t` of
/// channel `c` of series `i` is `x[i * channels * length + c * length + t]`.
/// `labels[i]` indexes `classes`, which keeps the order of the header's
/// `@classLabel` line.
///
/// ```
/// use microprop_data::TimeSeries;
/// let mut train = TimeSeries::basic_motions_train()?;
/// let mut test = TimeSeries::basic_motions_test()?;
/// assert_eq!((train.len(), train.channels, train.length), (40, 6, 100));
/// assert_eq!(train.classes[test.labels[0]], "Standing");
/// // Scale both splits with the training split's numbers.
/// let stats = train.channel_stats();
/// train.standardize(&stats)?;
/// test.standardize(&stats)?;
/// # Ok::<(), microprop_data::DataError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TimeSeries {
    /// The header's `@problemName` (empty when it has none).
    pub name: String,
    /// Channels (the header's dimensions) per series.
    pub channels: usize,
    /// Steps per channel.
    pub length: usize,
    /// Values, `[N, C, L]` row-major.
    pub x: Vec<f32>,
    /// One label per series, an index into `classes`.
    pub labels: Vec<usize>,
    /// The class names, in the header's order.
    pub classes: Vec<String>,
}

/// Per-channel mean and standard deviation (population, over every series
/// and step of the set they were taken from), from
/// [`TimeSeries::channel_stats`]. Take them from the training split and
/// apply the same numbers to both splits with [`TimeSeries::standardize`].
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelStats {
    /// Mean per channel.
    pub mean: Vec<f64>,
    /// Standard deviation per channel; 1.0 for a constant channel, so
    /// standardising only centres it.
    pub std: Vec<f64>,
}

/// What the header says, as far as it is read so far.
#[derive(Default)]
struct Header {
    name: Option<String>,
    univariate: Option<bool>,
    /// `@dimensions` and its line.
    dimensions: Option<(usize, usize)>,
    length: Option<usize>,
    classes: Option<Vec<String>>,
}

impl TimeSeries {
    /// One of the vendored files, parsed from its embedded text (no file
    /// I/O).
    pub fn load(set: TimeSeriesSet, split: Split) -> Result<Self, DataError> {
        Self::parse(set.text(split))
    }

    /// BasicMotions, training split: 40 series × 6 channels × 100 steps.
    pub fn basic_motions_train() -> Result<Self, DataError> {
        Self::load(TimeSeriesSet::BasicMotions, Split::Train)
    }

    /// BasicMotions, test split: 40 series × 6 channels × 100 steps.
    pub fn basic_motions_test() -> Result<Self, DataError> {
        Self::load(TimeSeriesSet::BasicMotions, Split::Test)
    }

    /// GunPoint, training split: 50 series × 1 channel × 150 steps.
    pub fn gun_point_train() -> Result<Self, DataError> {
        Self::load(TimeSeriesSet::GunPoint, Split::Train)
    }

    /// GunPoint, test split: 150 series × 1 channel × 150 steps.
    pub fn gun_point_test() -> Result<Self, DataError> {
        Self::load(TimeSeriesSet::GunPoint, Split::Test)
    }

    /// Parse sktime `.ts` text with class labels and equal-length series.
    ///
    /// Blank lines and `#` comments are skipped. Header tags are read
    /// case-insensitively: `@problemName`, `@timeStamps false`, `@missing`,
    /// `@univariate`, `@dimensions`, `@equalLength true`, `@seriesLength`,
    /// `@classLabel true <names...>` (required), then `@data` (required).
    /// Each data line is one series per channel, separated by `:`, values
    /// separated by `,`, then a label from `@classLabel`. The channel count
    /// comes from `@dimensions` (1 when `@univariate true`, else the first
    /// row's), the length from `@seriesLength` (else the first row's).
    ///
    /// Errors: [`DataError::BadHeader`] for a header line that is not
    /// understood or not supported (time stamps, unequal lengths, no class
    /// labels), [`DataError::MissingHeader`] when `@classLabel` or `@data`
    /// never comes, [`DataError::NotANumber`] for a value that is not a
    /// finite number, [`DataError::WrongChannelCount`],
    /// [`DataError::WrongSeriesLength`], [`DataError::UnknownLabel`] and
    /// [`DataError::Empty`] when there are no rows. Lines are numbered from 1.
    pub fn parse(text: &str) -> Result<Self, DataError> {
        let mut header = Header::default();
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
        // The header, up to `@data`.
        loop {
            let Some((line, l)) = lines.next() else {
                return Err(DataError::MissingHeader { what: "@data" });
            };
            if header_line(&mut header, line, l)? {
                break;
            }
        }
        let classes = header.classes.ok_or(DataError::MissingHeader {
            what: "@classLabel",
        })?;
        let mut channels = header.dimensions.map(|(_, c)| c);
        if header.univariate == Some(true) {
            if let Some((line, c)) = header.dimensions {
                if c != 1 {
                    return Err(DataError::BadHeader {
                        line,
                        reason: "@univariate true with @dimensions other than 1",
                    });
                }
            }
            channels = Some(1);
        }
        let mut length = header.length;
        let mut x = Vec::new();
        let mut labels = Vec::new();
        for (line, l) in lines {
            if l.starts_with('@') {
                return Err(DataError::BadHeader {
                    line,
                    reason: "a header line after @data",
                });
            }
            let mut parts: Vec<&str> = l.split(':').collect();
            // `split` yields at least one part.
            let label = parts.pop().unwrap_or_default().trim();
            if parts.is_empty() {
                return Err(DataError::WrongChannelCount {
                    line,
                    expected: channels.unwrap_or(1),
                    found: 0,
                });
            }
            let c = *channels.get_or_insert(parts.len());
            if parts.len() != c {
                return Err(DataError::WrongChannelCount {
                    line,
                    expected: c,
                    found: parts.len(),
                });
            }
            let class = classes
                .iter()
                .position(|name| name == label)
                .ok_or_else(|| DataError::UnknownLabel {
                    line,
                    label: label.to_string(),
                })?;
            for (channel, series) in parts.iter().enumerate() {
                let before = x.len();
                for field in series.split(',') {
                    let field = field.trim();
                    match field.parse::<f32>() {
                        Ok(v) if v.is_finite() => x.push(v),
                        _ => {
                            return Err(DataError::NotANumber {
                                line,
                                field: field.to_string(),
                            })
                        }
                    }
                }
                let found = x.len() - before;
                let expected = *length.get_or_insert(found);
                if found != expected {
                    return Err(DataError::WrongSeriesLength {
                        line,
                        channel,
                        expected,
                        found,
                    });
                }
            }
            labels.push(class);
        }
        let (Some(channels), Some(length)) = (channels, length) else {
            return Err(DataError::Empty);
        };
        if labels.is_empty() {
            return Err(DataError::Empty);
        }
        Ok(TimeSeries {
            name: header.name.unwrap_or_default(),
            channels,
            length,
            x,
            labels,
            classes,
        })
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// `true` with no series.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values per series, `channels * length`.
    pub fn series_values(&self) -> usize {
        self.channels * self.length
    }

    /// Series `i`, `[C, L]` row-major (panics when `i >= len()`, like slice
    /// indexing).
    pub fn series(&self, i: usize) -> &[f32] {
        let n = self.series_values();
        &self.x[i * n..(i + 1) * n]
    }

    /// How many series each class has, in the order of `classes`.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for &l in &self.labels {
            if let Some(c) = counts.get_mut(l) {
                *c += 1;
            }
        }
        counts
    }

    /// Mean and population standard deviation of each channel over every
    /// series and step (in f64). A constant channel, or a set with no
    /// series, gets standard deviation 1.0 (and mean 0.0 when empty).
    pub fn channel_stats(&self) -> ChannelStats {
        let (c, l) = (self.channels, self.length);
        let mut mean = vec![0.0; c];
        let mut std = vec![1.0; c];
        let count = (self.len() * l) as f64;
        if count == 0.0 {
            return ChannelStats { mean, std };
        }
        let channel = |ch: usize| {
            self.x
                .chunks_exact(c * l)
                .flat_map(move |s| &s[ch * l..(ch + 1) * l])
                .map(|&v| f64::from(v))
        };
        for ch in 0..c {
            let m = channel(ch).sum::<f64>() / count;
            let var = channel(ch).map(|v| (v - m) * (v - m)).sum::<f64>() / count;
            mean[ch] = m;
            if var > 0.0 {
                std[ch] = var.sqrt();
            }
        }
        ChannelStats { mean, std }
    }

    /// Replace every value `v` of channel `c` with `(v - mean[c]) /
    /// std[c]` (in f64, stored as f32). Use the training split's
    /// [`channel_stats`](Self::channel_stats) for both splits, so the test
    /// split never informs the scaling.
    ///
    /// [`DataError::StatsChannelMismatch`] when `stats` is for another
    /// number of channels; the values are then unchanged.
    pub fn standardize(&mut self, stats: &ChannelStats) -> Result<(), DataError> {
        let c = self.channels;
        for stats_channels in [stats.mean.len(), stats.std.len()] {
            if stats_channels != c {
                return Err(DataError::StatsChannelMismatch {
                    channels: c,
                    stats_channels,
                });
            }
        }
        let l = self.length;
        if l == 0 {
            return Ok(());
        }
        for (j, v) in self.x.iter_mut().enumerate() {
            let ch = (j / l) % c;
            *v = ((f64::from(*v) - stats.mean[ch]) / stats.std[ch]) as f32;
        }
        Ok(())
    }
}

/// Steps per unit of a [`TimeSeries::quantize`]d value: 16 (a resolution
/// of 1/16 of a standard deviation, a range of ±7.9 after
/// standardisation).
pub const QUANT_STEPS: f32 = 16.0;

impl TimeSeries {
    /// The values as `i8`, `round(v · QUANT_STEPS)` clamped to ±127 (for
    /// flash: a quarter of f32's bytes); `q as f32 / QUANT_STEPS` gives
    /// them back ([`TimeSeries::dequantized`]). Meant for standardised
    /// values.
    pub fn quantize(&self) -> Vec<i8> {
        self.x
            .iter()
            .map(|&v| (v * QUANT_STEPS).round().clamp(-127.0, 127.0) as i8)
            .collect()
    }

    /// This set with every value replaced by what its
    /// [`quantize`](Self::quantize)d form gives back: what a device that
    /// keeps the quantized values in flash trains on.
    pub fn dequantized(&self) -> TimeSeries {
        let x = self
            .quantize()
            .iter()
            .map(|&q| f32::from(q) / QUANT_STEPS)
            .collect();
        TimeSeries { x, ..self.clone() }
    }
}

/// Read one header line into `h`; `Ok(true)` at `@data`.
fn header_line(h: &mut Header, line: usize, l: &str) -> Result<bool, DataError> {
    let bad = |reason| DataError::BadHeader { line, reason };
    if !l.starts_with('@') {
        return Err(bad("a data row before @data"));
    }
    let (tag, rest) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
    let rest = rest.trim();
    let flag = |reason| match rest.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad(reason)),
    };
    let count = |reason| match rest.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(bad(reason)),
    };
    match tag.to_ascii_lowercase().as_str() {
        "@data" => return Ok(true),
        "@problemname" => h.name = Some(rest.to_string()),
        "@timestamps" => {
            if flag("@timeStamps needs true or false")? {
                return Err(bad("time stamps are not supported"));
            }
        }
        // Missing values would be `?`, which the values reject.
        "@missing" => {
            flag("@missing needs true or false")?;
        }
        "@univariate" => h.univariate = Some(flag("@univariate needs true or false")?),
        "@dimensions" => {
            h.dimensions = Some((line, count("@dimensions needs a positive integer")?));
        }
        "@equallength" => {
            if !flag("@equalLength needs true or false")? {
                return Err(bad("unequal lengths are not supported"));
            }
        }
        "@serieslength" => h.length = Some(count("@seriesLength needs a positive integer")?),
        "@classlabel" => {
            let mut words = rest.split_whitespace();
            match words.next().map(str::to_ascii_lowercase).as_deref() {
                Some("true") => {}
                Some("false") => return Err(bad("a set without class labels is not supported")),
                _ => return Err(bad("@classLabel needs true or false")),
            }
            let names: Vec<String> = words.map(str::to_string).collect();
            if names.is_empty() {
                return Err(bad("@classLabel true names no classes"));
            }
            if names
                .iter()
                .enumerate()
                .any(|(i, n)| names[..i].contains(n))
            {
                return Err(bad("@classLabel names a class twice"));
            }
            h.classes = Some(names);
        }
        _ => return Err(bad("an unknown header tag")),
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_motions_has_its_published_shape_and_values() {
        let train = TimeSeries::basic_motions_train().unwrap();
        assert_eq!(train.name, "BasicMotions");
        assert_eq!((train.len(), train.channels, train.length), (40, 6, 100));
        assert_eq!(train.x.len(), 40 * 6 * 100);
        assert_eq!(
            train.classes,
            ["Standing", "Running", "Walking", "Badminton"]
        );
        // The file holds 10 of each, in blocks: rows 1-10 Standing, 11-20
        // Running, 21-30 Walking, 31-40 Badminton.
        assert_eq!(train.class_counts(), [10, 10, 10, 10]);
        assert_eq!((train.labels[0], train.labels[10]), (0, 1));
        assert_eq!((train.labels[20], train.labels[39]), (2, 3));
        // First data line, read with awk: channel 0 starts 0.079106 (its
        // last value is -0.20515), channel 1 starts 0.394032, channel 5
        // starts 0.633883 and ends -0.03196.
        let s = train.series(0);
        assert_eq!(s[0], 0.079106);
        assert_eq!(s[99], -0.20515);
        assert_eq!(s[100], 0.394032);
        assert_eq!(s[5 * 100], 0.633883);
        assert_eq!(train.x[5 * 100 + 99], -0.03196);

        let test = TimeSeries::basic_motions_test().unwrap();
        assert_eq!((test.len(), test.channels, test.length), (40, 6, 100));
        assert_eq!(test.classes, train.classes);
        assert_eq!(test.class_counts(), [10, 10, 10, 10]);
        // First line: channel 0 starts -0.740653, channel 5 ends 0.02397.
        assert_eq!(test.x[0], -0.740653);
        assert_eq!(test.x[6 * 100 - 1], 0.02397);
        assert_eq!(test.labels[0], 0);
        assert_eq!(
            test,
            TimeSeries::load(TimeSeriesSet::BasicMotions, Split::Test).unwrap()
        );
    }

    #[test]
    // The values are written as the file writes them, though some have
    // more digits than an f32 keeps.
    #[allow(clippy::excessive_precision)]
    fn gun_point_has_its_published_shape_and_values() {
        let train = TimeSeries::gun_point_train().unwrap();
        assert_eq!(train.name, "GunPoint");
        assert_eq!((train.len(), train.channels, train.length), (50, 1, 150));
        assert_eq!(train.classes, ["1", "2"]);
        // Counted with awk on the label after the last `:`.
        assert_eq!(train.class_counts(), [24, 26]);
        // First line: -0.6478854 ... -0.63865722, label 2.
        assert_eq!(train.x[0], -0.6478854);
        assert_eq!(train.x[149], -0.63865722);
        assert_eq!(train.labels[0], 1);

        let test = TimeSeries::gun_point_test().unwrap();
        assert_eq!((test.len(), test.channels, test.length), (150, 1, 150));
        assert_eq!(test.x.len(), 150 * 150);
        assert_eq!(test.class_counts(), [76, 74]);
        // First line: -1.1250133 ... -1.2184217, label 1.
        assert_eq!(test.x[0], -1.1250133);
        assert_eq!(test.series(0)[149], -1.2184217);
        assert_eq!(test.labels[0], 0);
    }

    /// A two-channel, three-step set with classes `a b`.
    const TINY: &str = "# a comment\n\
        @problemName Tiny\n@timeStamps false\n@missing false\n\
        @univariate false\n@dimensions 2\n@equalLength true\n\
        @seriesLength 3\n@classLabel true a b\n@data\n\
        1,2,3:10,20,30:b\n\
        \n\
        5,6,7:40,50,60:a\n";

    #[test]
    fn a_small_file_lands_channels_first() {
        let t = TimeSeries::parse(TINY).unwrap();
        assert_eq!(t.name, "Tiny");
        assert_eq!((t.len(), t.channels, t.length), (2, 2, 3));
        assert_eq!(t.x, [1., 2., 3., 10., 20., 30., 5., 6., 7., 40., 50., 60.]);
        assert_eq!(t.labels, [1, 0]);
        assert_eq!(t.series(1), [5., 6., 7., 40., 50., 60.]);
        // Without @dimensions and @seriesLength, the first row decides.
        let bare = "@classLabel true a b\n@data\n1,2:3,4:a\n";
        let t = TimeSeries::parse(bare).unwrap();
        assert_eq!((t.channels, t.length, t.name.as_str()), (2, 2, ""));
    }

    #[test]
    fn malformed_files_are_errors_naming_the_line() {
        let header = "@dimensions 2\n@seriesLength 3\n@classLabel true a b\n@data\n";
        let err = |rows: &str| TimeSeries::parse(&format!("{header}{rows}")).unwrap_err();
        // Line 5 is the first row.
        assert_eq!(
            err("1,2,3:4,5:a\n"),
            DataError::WrongSeriesLength {
                line: 5,
                channel: 1,
                expected: 3,
                found: 2
            }
        );
        assert_eq!(
            err("1,2,3:4,5,6:a\n1,2,3,4:4,5,6:a\n"),
            DataError::WrongSeriesLength {
                line: 6,
                channel: 0,
                expected: 3,
                found: 4
            }
        );
        assert_eq!(
            err("1,2,3:a\n"),
            DataError::WrongChannelCount {
                line: 5,
                expected: 2,
                found: 1
            }
        );
        assert_eq!(
            err("1,2,3:4,5,6:c\n"),
            DataError::UnknownLabel {
                line: 5,
                label: "c".into()
            }
        );
        assert_eq!(
            err("1,2,3:4,x,6:a\n"),
            DataError::NotANumber {
                line: 5,
                field: "x".into()
            }
        );
        for bad in ["NaN", "inf", "?", ""] {
            let e = err(&format!("1,2,3:4,{bad},6:a\n"));
            assert!(matches!(e, DataError::NotANumber { line: 5, .. }), "{e}");
        }
        assert_eq!(err(""), DataError::Empty);
        let e = err("1,2,3:4,5,6:a\n@data\n");
        assert!(matches!(e, DataError::BadHeader { line: 6, .. }), "{e}");
        // Unequal lengths without @seriesLength: the first row sets it.
        let e = TimeSeries::parse("@classLabel true a\n@data\n1,2:3,4,5:a\n").unwrap_err();
        assert!(
            matches!(
                e,
                DataError::WrongSeriesLength {
                    line: 3,
                    channel: 1,
                    expected: 2,
                    found: 3
                }
            ),
            "{e}"
        );
        assert_eq!(e.to_string(), "line 3: channel 1 has 3 values, expected 2");
    }

    #[test]
    fn bad_or_missing_headers_are_errors() {
        assert_eq!(
            TimeSeries::parse("@classLabel true a\n1,2:a\n"),
            Err(DataError::BadHeader {
                line: 2,
                reason: "a data row before @data"
            })
        );
        assert_eq!(
            TimeSeries::parse("@classLabel true a b\n"),
            Err(DataError::MissingHeader { what: "@data" })
        );
        assert_eq!(
            TimeSeries::parse("@data\n1,2:a\n"),
            Err(DataError::MissingHeader {
                what: "@classLabel"
            })
        );
        for (head, line) in [
            ("@classLabel false", 1),
            ("@classLabel true", 1),
            ("@classLabel true a a", 1),
            ("@classLabel true a\n@seriesLength x", 2),
            ("@classLabel true a\n@seriesLength 0", 2),
            ("@classLabel true a\n@dimensions -1", 2),
            ("@classLabel true a\n@equalLength false", 2),
            ("@classLabel true a\n@timeStamps true", 2),
            ("@classLabel true a\n@univariate maybe", 2),
            ("@classLabel true a\n@colour blue", 2),
        ] {
            let e = TimeSeries::parse(&format!("{head}\n@data\n1:a\n")).unwrap_err();
            assert!(
                matches!(e, DataError::BadHeader { line: l, .. } if l == line),
                "{head}: {e}"
            );
        }
        let e = TimeSeries::parse("@univariate true\n@dimensions 2\n@classLabel true a\n@data\n")
            .unwrap_err();
        assert!(matches!(e, DataError::BadHeader { line: 2, .. }), "{e}");
        // A row with only a label has no channel.
        let e = TimeSeries::parse("@classLabel true a\n@data\na\n").unwrap_err();
        assert!(
            matches!(
                e,
                DataError::WrongChannelCount {
                    line: 3,
                    found: 0,
                    ..
                }
            ),
            "{e}"
        );
        // `@univariate true` means one channel.
        let e =
            TimeSeries::parse("@univariate true\n@classLabel true a\n@data\n1:2:a\n").unwrap_err();
        assert!(
            matches!(
                e,
                DataError::WrongChannelCount {
                    expected: 1,
                    found: 2,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn standardizing_uses_the_training_statistics_per_channel() {
        // Channel 0 holds 1,2,3 and 5,6,7: mean 4, variance (9+4+1+1+4+9)/6
        // = 14/3. Channel 1 holds 10..60 by 10: mean 35, variance
        // (625+225+25+25+225+625)/6 = 875/3.
        let mut train = TimeSeries::parse(TINY).unwrap();
        let stats = train.channel_stats();
        assert_eq!(stats.mean, [4.0, 35.0]);
        let (sd0, sd1) = ((14.0f64 / 3.0).sqrt(), (875.0f64 / 3.0).sqrt());
        assert!((stats.std[0] - sd0).abs() < 1e-12, "{:?}", stats.std);
        assert!((stats.std[1] - sd1).abs() < 1e-12, "{:?}", stats.std);
        let mut test =
            TimeSeries::parse("@classLabel true a b\n@data\n4,4,4:35,35,95:a\n").unwrap();
        train.standardize(&stats).unwrap();
        test.standardize(&stats).unwrap();
        assert_eq!(train.x[0], (-3.0 / sd0) as f32);
        assert_eq!(train.x[3], (-25.0 / sd1) as f32);
        assert_eq!(train.x[11], (25.0 / sd1) as f32);
        // The test values use the training numbers, not their own.
        assert_eq!(test.x[..5], [0.0; 5]);
        assert_eq!(test.x[5], (60.0 / sd1) as f32);
        // Standardised, the training set has mean 0 and deviation 1.
        let again = train.channel_stats();
        for c in 0..2 {
            assert!(again.mean[c].abs() < 1e-6, "{again:?}");
            assert!((again.std[c] - 1.0).abs() < 1e-6, "{again:?}");
        }
        // A constant channel is centred, not divided by zero.
        let flat = TimeSeries::parse("@classLabel true a\n@data\n2,2:a\n2,2:a\n").unwrap();
        let s = flat.channel_stats();
        assert_eq!((s.mean[0], s.std[0]), (2.0, 1.0));
        // Statistics for another channel count are an error, values kept.
        let before = test.clone();
        let e = test.standardize(&s).unwrap_err();
        assert_eq!(
            e,
            DataError::StatsChannelMismatch {
                channels: 2,
                stats_channels: 1
            }
        );
        assert_eq!(test, before);
    }

    #[test]
    fn quantized_values_are_sixteenths_clamped_to_127() {
        let t =
            TimeSeries::parse("@classLabel true a\n@data\n0.03,-0.03,1.5,-9,9,0.5:a\n").unwrap();
        // 0.03·16 = 0.48 → 0; 1.5·16 = 24; ±9·16 = ±144 → ±127; 0.5·16 = 8.
        assert_eq!(t.quantize(), [0, 0, 24, -127, 127, 8]);
        let d = t.dequantized();
        assert_eq!(d.x, [0.0, 0.0, 1.5, -127.0 / 16.0, 127.0 / 16.0, 0.5]);
        assert_eq!((d.labels, d.channels, d.length), (t.labels, 1, 6));
    }
}
