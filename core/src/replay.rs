//! Replay against forgetting: a few samples of the original task, mixed
//! into the device's fine-tuning updates, in a fixed-capacity buffer (no
//! heap, no allocator).
//!
//! A network fine-tuned only on new data forgets the old task: on the
//! shifted digits (the `finetune` firmware on the micro:bit: 64-16-10,
//! batch-1 SGD at lr 0.03, 32 epochs), the full update lifts shifted
//! accuracy from 0.089 to 0.905 and drops unshifted accuracy from 0.964 to
//! 0.429; training, after each update, on two of 256 stored originals gives
//! 0.827 shifted and keeps 0.908 unshifted (`docs/finetuning.md`).
//!
//! - [`Replay`] holds up to `CAP` samples of `DIM` values each with a class
//!   label, in a [`heapless::Vec`] (so it can be a `static` or live on the
//!   stack; nothing is allocated). It is filled either from samples at hand
//!   ([`Replay::push`], [`Replay::extend_from`], e.g. from a `&'static`
//!   slice in flash), or on the device from a stream of samples by
//!   reservoir sampling ([`Replay::offer`], Vitter's Algorithm R: after `n`
//!   offers each of them is stored with probability `CAP / n`).
//! - [`Replay::fill_batch`] (and [`Replay::fill_batch_map`], which converts,
//!   e.g. `u8` pixels to `f32`) copies `k` distinct stored samples, chosen
//!   with the crate's seeded [`Rng`], into caller buffers; the caller trains
//!   on them beside its new samples.
//! - [`pick`] chooses `k` distinct indices out of `n`: with samples that
//!   stay in flash (no RAM copy at all), the caller picks indices with it
//!   and reads the samples itself.
//!
//! Samples carry a `u32` class label, not target values: replay here is for
//! classification (the fine-tuning task), a label costs 4 bytes where a
//! target vector costs one element per class, and the network refuses labels
//! past `u32` anyway ([`ErrorKind::LabelOutOfRange`](crate::ErrorKind)), so
//! `u32` holds every label it accepts. The element type `S` is any `Copy`
//! type: a buffer of `u8` pixels is a quarter of one of `f32`
//! (`Replay<u8, 128, 64>` is 8,712 bytes, `Replay<f32, 128, 64>` 33,280).
//!
//! Wrong lengths are typed errors ([`ReplayError`]); nothing here panics or
//! allocates, and nothing here runs inside
//! [`Network::train_step`](crate::Network::train_step): the per-step cost of
//! training is unchanged.
//!
//! ```
//! use microprop::replay::Replay;
//! use microprop::Rng;
//!
//! // Keep 4 of a stream of 2-value samples (Algorithm R), then draw 2.
//! let mut buf: Replay<f32, 4, 2> = Replay::new();
//! let mut rng = Rng::new(7);
//! for i in 0..100u32 {
//!     let v = i as f32;
//!     buf.offer(&mut rng, &[v, -v], i % 10).unwrap();
//! }
//! assert_eq!(buf.len(), 4);
//! assert_eq!(buf.seen(), 100);
//! let (mut x, mut labels) = ([0.0f32; 2 * 2], [0usize; 2]);
//! buf.fill_batch(&mut rng, &mut x, &mut labels).unwrap();
//! assert_eq!(x[1], -x[0]); // whole samples, with their labels
//! assert_eq!(labels[0], x[0] as usize % 10);
//! ```

use crate::Rng;
use core::fmt;

/// Why a replay call was refused; nothing was changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ReplayError {
    /// A buffer's length is not what the call needs.
    Length {
        /// Which argument.
        what: Operand,
        /// The length the call needs.
        expected: usize,
        /// The length it got.
        got: usize,
    },
    /// Fewer samples than asked for (distinct samples are drawn).
    TooFew {
        /// Samples (or indices) available.
        available: usize,
        /// Samples asked for.
        wanted: usize,
    },
    /// [`Replay::push`] into a full buffer (use [`Replay::offer`] to keep a
    /// uniform sample of a longer stream).
    Full {
        /// The buffer's capacity.
        capacity: usize,
    },
}

/// The argument a [`ReplayError::Length`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Operand {
    /// One sample's values (must be `DIM` long).
    Sample,
    /// Several samples' values (`DIM` times the number of samples).
    Samples,
    /// The labels.
    Labels,
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ReplayError::Length {
                what,
                expected,
                got,
            } => write!(f, "replay: {what:?} has length {got}, expected {expected}"),
            ReplayError::TooFew { available, wanted } => write!(
                f,
                "replay: {wanted} distinct samples asked for, {available} available"
            ),
            ReplayError::Full { capacity } => {
                write!(f, "replay: the buffer is full ({capacity} samples)")
            }
        }
    }
}

impl core::error::Error for ReplayError {}

/// One stored sample: `DIM` values and a class label.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample<S, const DIM: usize> {
    /// The input values.
    pub x: [S; DIM],
    /// The class label.
    pub label: u32,
}

/// What [`Replay::offer`] did with a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Offer {
    /// Stored in the free slot `.0` (the buffer was not full yet).
    Stored(usize),
    /// Stored in slot `.0`, replacing the sample that was there.
    Replaced(usize),
    /// Not stored.
    Skipped,
}

/// Up to `CAP` samples of `DIM` values of type `S`, each with a `u32`
/// label, in a fixed-capacity [`heapless::Vec`]: no heap, and `new` is a
/// `const fn`, so a buffer can be a `static`.
///
/// Slots keep insertion order until the buffer is full; then
/// [`offer`](Replay::offer) replaces a uniformly chosen slot (or none).
#[derive(Debug, Clone)]
pub struct Replay<S, const CAP: usize, const DIM: usize> {
    samples: heapless::Vec<Sample<S, DIM>, CAP>,
    seen: u64,
}

impl<S: Copy, const CAP: usize, const DIM: usize> Default for Replay<S, CAP, DIM> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Copy, const CAP: usize, const DIM: usize> Replay<S, CAP, DIM> {
    /// An empty buffer.
    ///
    /// ```
    /// # use microprop::replay::Replay;
    /// // In .bss of a firmware: 8 digits as u8 pixels, 8 · 68 bytes.
    /// static BUF: Replay<u8, 8, 64> = Replay::new();
    /// assert!(BUF.is_empty());
    /// assert_eq!(Replay::<u8, 8, 64>::CAPACITY, 8);
    /// ```
    pub const fn new() -> Self {
        Replay {
            samples: heapless::Vec::new(),
            seen: 0,
        }
    }

    /// The capacity, `CAP`.
    pub const CAPACITY: usize = CAP;

    /// Samples stored.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// No sample stored.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// `CAP` samples stored.
    pub fn is_full(&self) -> bool {
        self.samples.is_full()
    }

    /// Samples offered to [`offer`](Replay::offer) so far (the reservoir's
    /// stream length; [`push`](Replay::push) counts too).
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Stored sample `i` (slots `0..len()`), or `None`.
    ///
    /// ```
    /// # use microprop::replay::Replay;
    /// let mut r: Replay<u8, 2, 3> = Replay::new();
    /// r.push(&[1, 2, 3], 7).unwrap();
    /// let s = r.get(0).unwrap();
    /// assert_eq!((s.x, s.label), ([1, 2, 3], 7));
    /// assert!(r.get(1).is_none());
    /// ```
    pub fn get(&self, i: usize) -> Option<&Sample<S, DIM>> {
        self.samples.get(i)
    }

    /// The stored samples, in slot order.
    pub fn samples(&self) -> &[Sample<S, DIM>] {
        &self.samples
    }

    /// Forget every sample and the stream length.
    pub fn clear(&mut self) {
        self.samples.clear();
        self.seen = 0;
    }

    /// Store a sample in the next free slot (returned);
    /// [`ReplayError::Full`] when all `CAP` are taken, and
    /// [`ReplayError::Length`] unless `x` has `DIM` values.
    ///
    /// ```
    /// # use microprop::replay::{Replay, ReplayError, Operand};
    /// let mut r: Replay<f32, 1, 2> = Replay::new();
    /// assert_eq!(
    ///     r.push(&[1.0], 0),
    ///     Err(ReplayError::Length { what: Operand::Sample, expected: 2, got: 1 })
    /// );
    /// assert_eq!(r.push(&[1.0, 2.0], 0), Ok(0));
    /// assert_eq!(r.push(&[3.0, 4.0], 1), Err(ReplayError::Full { capacity: 1 }));
    /// ```
    pub fn push(&mut self, x: &[S], label: u32) -> Result<usize, ReplayError> {
        let sample = Self::sample(x, label)?;
        let slot = self.samples.len();
        self.samples
            .push(sample)
            .map_err(|_| ReplayError::Full { capacity: CAP })?;
        self.seen = self.seen.saturating_add(1);
        Ok(slot)
    }

    /// Push samples `x` (`DIM` values each, concatenated) with `labels`,
    /// e.g. from a `&'static` slice in flash. All or nothing: a length
    /// mismatch or more samples than free slots changes nothing.
    ///
    /// ```
    /// # use microprop::replay::Replay;
    /// static X: [u8; 6] = [1, 2, 3, 4, 5, 6];
    /// static Y: [u32; 3] = [0, 1, 2];
    /// let mut r: Replay<u8, 4, 2> = Replay::new();
    /// r.extend_from(&X, &Y).unwrap();
    /// assert_eq!(r.get(2).unwrap().x, [5, 6]);
    /// assert!(r.extend_from(&X, &Y).is_err()); // 3 more do not fit in 1
    /// assert_eq!(r.len(), 3);
    /// ```
    pub fn extend_from(&mut self, x: &[S], labels: &[u32]) -> Result<(), ReplayError> {
        check_len(Operand::Samples, x.len(), labels.len().checked_mul(DIM))?;
        let free = CAP.saturating_sub(self.samples.len());
        if labels.len() > free {
            return Err(ReplayError::Full { capacity: CAP });
        }
        for (xs, &label) in x.chunks_exact(DIM.max(1)).zip(labels) {
            self.push(xs, label)?;
        }
        if DIM == 0 {
            // chunks_exact(1) of an empty slice yields nothing.
            for &label in labels {
                self.push(&[], label)?;
            }
        }
        Ok(())
    }

    /// Reservoir sampling (Algorithm R): offer the next sample of a stream.
    /// The first `CAP` offers are stored in order; offer number `n > CAP`
    /// replaces slot `j` when `j = rng.below(n)` falls below `CAP`, so after
    /// `n` offers every one of them is in the buffer with probability
    /// `CAP / n`. The same seed and the same stream give the same buffer.
    /// [`ReplayError::Length`] (and nothing changed) unless `x` has `DIM`
    /// values.
    ///
    /// ```
    /// # use microprop::replay::{Offer, Replay};
    /// # use microprop::Rng;
    /// let mut r: Replay<u8, 2, 1> = Replay::new();
    /// let mut rng = Rng::new(1);
    /// assert_eq!(r.offer(&mut rng, &[10], 0), Ok(Offer::Stored(0)));
    /// assert_eq!(r.offer(&mut rng, &[11], 1), Ok(Offer::Stored(1)));
    /// let third = r.offer(&mut rng, &[12], 2).unwrap();
    /// assert!(matches!(third, Offer::Replaced(0 | 1) | Offer::Skipped));
    /// assert_eq!((r.len(), r.seen()), (2, 3));
    /// ```
    pub fn offer(&mut self, rng: &mut Rng, x: &[S], label: u32) -> Result<Offer, ReplayError> {
        let sample = Self::sample(x, label)?;
        self.seen = self.seen.saturating_add(1);
        if !self.samples.is_full() {
            let slot = self.samples.len();
            return Ok(match self.samples.push(sample) {
                Ok(()) => Offer::Stored(slot),
                // Not full, so push succeeds; a zero-capacity buffer lands here.
                Err(_) => Offer::Skipped,
            });
        }
        // Uniform in 0..seen (seen > CAP here, so it fits in usize whenever
        // CAP does; a stream past usize::MAX keeps sampling from usize::MAX).
        let n = usize::try_from(self.seen).unwrap_or(usize::MAX);
        let j = rng.below(n);
        match self.samples.get_mut(j) {
            Some(slot) => {
                *slot = sample;
                Ok(Offer::Replaced(j))
            }
            None => Ok(Offer::Skipped),
        }
    }

    /// Copy `k = labels.len()` distinct stored samples, chosen uniformly
    /// with `rng` ([`pick`]), into `x` (`k · DIM` values, sample after
    /// sample) and `labels`. [`ReplayError::Length`] unless `x.len()` is
    /// `k · DIM`, [`ReplayError::TooFew`] when fewer than `k` are stored;
    /// on an error nothing is written and `rng` is not advanced.
    ///
    /// ```
    /// # use microprop::replay::{Replay, ReplayError, Operand};
    /// # use microprop::Rng;
    /// let mut r: Replay<f32, 4, 1> = Replay::new();
    /// r.extend_from(&[0.0, 1.0, 2.0], &[0, 1, 2]).unwrap();
    /// let mut rng = Rng::new(3);
    /// let (mut x, mut y) = ([0.0f32; 3], [0usize; 3]);
    /// r.fill_batch(&mut rng, &mut x, &mut y).unwrap();
    /// let mut got = y;
    /// got.sort();
    /// assert_eq!(got, [0, 1, 2]); // distinct: all three
    /// assert_eq!(
    ///     r.fill_batch(&mut rng, &mut x[..2], &mut y),
    ///     Err(ReplayError::Length { what: Operand::Samples, expected: 3, got: 2 })
    /// );
    /// assert_eq!(
    ///     r.fill_batch(&mut rng, &mut [0.0; 4], &mut [0; 4]),
    ///     Err(ReplayError::TooFew { available: 3, wanted: 4 })
    /// );
    /// ```
    pub fn fill_batch(
        &self,
        rng: &mut Rng,
        x: &mut [S],
        labels: &mut [usize],
    ) -> Result<(), ReplayError> {
        self.fill_batch_map(rng, x, labels, |v| v)
    }

    /// [`fill_batch`](Replay::fill_batch), converting each value with `f`
    /// (e.g. stored `u8` pixels to the network's `f32`).
    ///
    /// ```
    /// # use microprop::replay::Replay;
    /// # use microprop::Rng;
    /// let mut r: Replay<u8, 1, 2> = Replay::new();
    /// r.push(&[8, 16], 3).unwrap();
    /// let (mut x, mut y) = ([0.0f32; 2], [0usize; 1]);
    /// r.fill_batch_map(&mut Rng::new(0), &mut x, &mut y, |p| f32::from(p) / 16.0).unwrap();
    /// assert_eq!((x, y), ([0.5, 1.0], [3]));
    /// ```
    pub fn fill_batch_map<O>(
        &self,
        rng: &mut Rng,
        x: &mut [O],
        labels: &mut [usize],
        f: impl Fn(S) -> O,
    ) -> Result<(), ReplayError> {
        let k = labels.len();
        check_len(Operand::Samples, x.len(), k.checked_mul(DIM))?;
        // The chosen slots go into `labels` first, then become labels.
        pick(rng, self.samples.len(), labels)?;
        let mut chunks = x.chunks_mut(DIM.max(1));
        for slot in labels.iter_mut() {
            let Some(s) = self.samples.get(*slot) else {
                // pick returns indices below len(): not reached.
                *slot = usize::MAX;
                continue;
            };
            if DIM > 0 {
                if let Some(out) = chunks.next() {
                    for (o, &v) in out.iter_mut().zip(s.x.iter()) {
                        *o = f(v);
                    }
                }
            }
            // A label above usize::MAX (16-bit targets) becomes usize::MAX,
            // which the network refuses with a typed error.
            *slot = usize::try_from(s.label).unwrap_or(usize::MAX);
        }
        Ok(())
    }

    fn sample(x: &[S], label: u32) -> Result<Sample<S, DIM>, ReplayError> {
        match <[S; DIM]>::try_from(x) {
            Ok(x) => Ok(Sample { x, label }),
            Err(_) => Err(ReplayError::Length {
                what: Operand::Sample,
                expected: DIM,
                got: x.len(),
            }),
        }
    }
}

fn check_len(what: Operand, got: usize, expected: Option<usize>) -> Result<(), ReplayError> {
    match expected {
        Some(expected) if expected == got => Ok(()),
        // An overflowing `k · DIM` cannot equal any slice length.
        expected => Err(ReplayError::Length {
            what,
            expected: expected.unwrap_or(usize::MAX),
            got,
        }),
    }
}

/// `out.len()` distinct indices out of `0..n`, a uniformly random subset
/// (Floyd's algorithm: one [`Rng::below`] per index, no allocation; the
/// order within `out` is not uniform, which mixing samples into updates
/// does not need). [`ReplayError::TooFew`] when `out.len() > n`, and then
/// `out` and `rng` are left as they were. For samples that stay in flash:
/// pick indices, read the samples.
///
/// ```
/// # use microprop::replay::pick;
/// # use microprop::Rng;
/// let mut idx = [0usize; 3];
/// pick(&mut Rng::new(5), 10, &mut idx).unwrap();
/// assert!(idx.iter().all(|&i| i < 10));
/// assert!(idx[0] != idx[1] && idx[0] != idx[2] && idx[1] != idx[2]);
/// assert!(pick(&mut Rng::new(5), 2, &mut idx).is_err());
/// ```
pub fn pick(rng: &mut Rng, n: usize, out: &mut [usize]) -> Result<(), ReplayError> {
    let k = out.len();
    let Some(start) = n.checked_sub(k) else {
        return Err(ReplayError::TooFew {
            available: n,
            wanted: k,
        });
    };
    // Floyd: for j in n-k..n, take t uniform in 0..=j; if t was taken
    // already, take j (which cannot have been).
    for (m, j) in (start..n).enumerate() {
        let t = rng.below(j.saturating_add(1));
        let taken = out.get(..m).is_some_and(|prev| prev.contains(&t));
        if let Some(o) = out.get_mut(m) {
            *o = if taken { j } else { t };
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_and_insertion_order() {
        let mut r: Replay<u8, 3, 2> = Replay::new();
        let mut rng = Rng::new(0);
        // The first CAP offers fill the slots in order, whatever the rng.
        for i in 0..3u8 {
            assert_eq!(
                r.offer(&mut rng, &[i, i + 10], u32::from(i)),
                Ok(Offer::Stored(usize::from(i)))
            );
        }
        assert!(r.is_full());
        for i in 0..3u8 {
            let s = r.get(usize::from(i)).unwrap();
            assert_eq!((s.x, s.label), ([i, i + 10], u32::from(i)));
        }
        // From then on the length stays CAP; seen counts every offer.
        for i in 3..50u8 {
            r.offer(&mut rng, &[i, i + 10], u32::from(i)).unwrap();
            assert_eq!(r.len(), 3);
        }
        assert_eq!(r.seen(), 50);
        // Whole samples move together: x[1] == x[0] + 10 == label + 10.
        for s in r.samples() {
            assert_eq!(u32::from(s.x[0]), s.label);
            assert_eq!(s.x[1], s.x[0] + 10);
        }
        r.clear();
        assert!(r.is_empty() && r.seen() == 0);
    }

    #[test]
    fn wrong_lengths_are_typed_errors_and_change_nothing() {
        let mut r: Replay<f32, 2, 3> = Replay::new();
        let mut rng = Rng::new(9);
        let sample_err = |got| ReplayError::Length {
            what: Operand::Sample,
            expected: 3,
            got,
        };
        assert_eq!(r.offer(&mut rng, &[1.0; 2], 0), Err(sample_err(2)));
        assert_eq!(r.push(&[1.0; 4], 0), Err(sample_err(4)));
        assert_eq!((r.len(), r.seen()), (0, 0));
        assert_eq!(
            r.extend_from(&[1.0; 5], &[0, 1]),
            Err(ReplayError::Length {
                what: Operand::Samples,
                expected: 6,
                got: 5
            })
        );
        assert_eq!(
            r.extend_from(&[1.0; 9], &[0, 1, 2]),
            Err(ReplayError::Full { capacity: 2 })
        );
        assert!(r.is_empty());
        // Empty buffer: nothing to draw.
        assert_eq!(
            r.fill_batch(&mut rng, &mut [0.0; 3], &mut [0; 1]),
            Err(ReplayError::TooFew {
                available: 0,
                wanted: 1
            })
        );
        r.extend_from(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[7, 8])
            .unwrap();
        let before = rng.clone().next_u64();
        let (mut x, mut y) = ([-1.0f32; 6], [99usize; 2]);
        assert_eq!(
            r.fill_batch(&mut rng, &mut x[..5], &mut y),
            Err(ReplayError::Length {
                what: Operand::Samples,
                expected: 6,
                got: 5
            })
        );
        assert_eq!((x, y), ([-1.0; 6], [99; 2]), "nothing written");
        assert_eq!(rng.clone().next_u64(), before, "rng not advanced");
        // k = 0 is a valid, empty draw.
        assert_eq!(r.fill_batch(&mut rng, &mut [], &mut []), Ok(()));
        // Both samples, distinct, each with its own label.
        r.fill_batch(&mut rng, &mut x, &mut y).unwrap();
        let mut got = [(y[0], x[0]), (y[1], x[3])];
        got.sort_by_key(|p| p.0);
        assert_eq!(got, [(7, 1.0), (8, 4.0)]);
    }

    #[test]
    fn reservoir_same_seed_same_buffer() {
        let run = |seed| {
            let mut r: Replay<u32, 5, 1> = Replay::new();
            let mut rng = Rng::new(seed);
            for i in 0..200u32 {
                r.offer(&mut rng, &[i], i).unwrap();
            }
            r.samples().iter().map(|s| s.label).collect::<Vec<_>>()
        };
        assert_eq!(run(4), run(4));
        assert_ne!(run(4), run(5));
    }

    /// Algorithm R keeps each of N offered items with probability CAP/N.
    ///
    /// N = 40 items, CAP = 10, so p = 1/4, over R = 4000 seeded runs. Each
    /// run is independent, so the count c_i of runs that kept item i is
    /// Binomial(R, p): mean R·p = 1000, variance R·p·(1−p) = 750 (sd 27.4).
    ///
    /// - Per item: |c_i − 1000| < 5·27.4 = 137 (a 5-sigma bound; 40 items
    ///   fail it together with probability under 40 · 6e-7).
    /// - All items: X = Σ (c_i − R·p)² / (R·p) has E[X] = N·(1−p) = 30. The
    ///   counts sum to exactly R·CAP, so (Pearson's statistic of a
    ///   multinomial-like count with one constraint) X/(1−p) is close to a
    ///   χ² with N − 1 = 39 degrees of freedom, whose 99.9% quantile is
    ///   72.1; so X < 0.75 · 72.1 = 54. Bound used: X < 54.
    ///
    /// A buffer that kept the first CAP items (or the last) would give
    /// c_i ∈ {0, R}: X = 30·1000 + 10·9000 = 120,000.
    #[test]
    fn reservoir_keeps_each_item_with_probability_cap_over_n() {
        const N: u32 = 40;
        const CAP: usize = 10;
        const R: u64 = 4000;
        let mut count = [0u64; N as usize];
        for seed in 0..R {
            let mut r: Replay<u32, CAP, 0> = Replay::new();
            let mut rng = Rng::new(seed.wrapping_mul(0x9E37_79B9) ^ 0xA5A5);
            for i in 0..N {
                r.offer(&mut rng, &[], i).unwrap();
            }
            assert_eq!(r.len(), CAP);
            for s in r.samples() {
                count[s.label as usize] += 1;
            }
        }
        assert_eq!(count.iter().sum::<u64>(), R * CAP as u64);
        let mean = (R * CAP as u64) as f64 / f64::from(N); // 1000
        assert_eq!(mean, 1000.0);
        let mut chi2 = 0.0;
        for (i, &c) in count.iter().enumerate() {
            let d = c as f64 - mean;
            assert!(d.abs() < 137.0, "item {i} kept {c} times of {R}");
            chi2 += d * d / mean;
        }
        assert!(chi2 < 54.0, "chi-square-style statistic {chi2}");
    }

    /// Floyd's pick draws every k-subset with the same probability: for
    /// n = 5, k = 2 the 10 pairs, over 20,000 seeded draws, each come out
    /// 2,000 times on average (Binomial(20000, 0.1): sd 42.4); bound
    /// |c − 2000| < 5 · 42.4 = 212.
    #[test]
    fn pick_is_uniform_over_subsets() {
        let mut count = [[0u32; 5]; 5];
        let mut rng = Rng::new(21);
        for _ in 0..20_000 {
            let mut idx = [0usize; 2];
            pick(&mut rng, 5, &mut idx).unwrap();
            assert_ne!(idx[0], idx[1]);
            let (a, b) = (idx[0].min(idx[1]), idx[0].max(idx[1]));
            count[a][b] += 1;
        }
        for (a, row) in count.iter().enumerate() {
            for (b, &c) in row.iter().enumerate().skip(a + 1) {
                assert!(c.abs_diff(2000) < 212, "pair ({a},{b}): {c}");
            }
        }
        // k = n takes everything; k > n is refused with out unchanged.
        let mut all = [9usize; 4];
        pick(&mut rng, 4, &mut all).unwrap();
        all.sort();
        assert_eq!(all, [0, 1, 2, 3]);
        let mut five = [9usize; 5];
        assert_eq!(
            pick(&mut rng, 4, &mut five),
            Err(ReplayError::TooFew {
                available: 4,
                wanted: 5
            })
        );
        assert_eq!(five, [9; 5]);
    }
}
