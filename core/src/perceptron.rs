//! The perceptron: the classic mistake-driven rule, its pocket variant and the
//! averaged perceptron, run through the [`Backend`] trait from one arena.
//!
//! Labels are `+1` / `-1`. The bias is folded in as a constant input of 1:
//! [`Perceptron::load`] takes the raw features (`rows × features`,
//! row-major) and appends the constant-1 column itself while it uploads the
//! samples, so the arena holds `rows × (features + 1)` values and the weight
//! vector is `features` weights followed by the bias. Weights start at 0; an
//! epoch is one [`Op::PerceptronEpoch`] over the samples in order, and
//! training stops after the first epoch without a mistake or at the epoch
//! limit.
//!
//! Size a `static` arena with [`perceptron_arena_len`]:
//!
//! ```
//! use microprop::{perceptron_arena_len, Perceptron, Variant};
//! use microprop_cpu::CpuBackend;
//! use static_cell::ConstStaticCell;
//!
//! // AND of two inputs, labels ±1.
//! const ROWS: usize = 4;
//! const FEATURES: usize = 2;
//! static ARENA: ConstStaticCell<[f32; perceptron_arena_len(ROWS, FEATURES)]> =
//!     ConstStaticCell::new([0.0; perceptron_arena_len(ROWS, FEATURES)]);
//!
//! // Taken once, at start-up: no `static mut`, no `unsafe`; a second take is `None`.
//! if let Some(arena) = ARENA.try_take() {
//!     let mut p = Perceptron::new(CpuBackend::new(arena), ROWS, FEATURES)?;
//!     p.load(&[0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0], &[-1.0, -1.0, -1.0, 1.0])?;
//!     let report = p.train(Variant::Classic, 100)?;
//!     assert!(report.converged);
//!     assert_eq!(report.training_errors, 0);
//!     assert_eq!(p.predict(&[1.0, 1.0])?, 1);
//!     assert_eq!(p.predict(&[0.0, 1.0])?, -1);
//! }
//! # assert!(ARENA.try_take().is_none());
//! # Ok::<(), microprop::Error<microprop_cpu::CpuError>>(())
//! ```

use crate::network::Result;
use crate::{Error, Operand};
use microprop_hal::{op, Backend, Element, Op, OpKind, OpSet, Span};

/// The ops a [`Perceptron`] issues: for a CPU backend built for it, pass
/// `perceptron::OPS.bits()` as its op set.
pub const OPS: OpSet = OpSet::of(&[
    OpKind::PerceptronEpoch,
    OpKind::PerceptronErrors,
    OpKind::Axpy,
    OpKind::Copy,
    OpKind::Fill,
]);

/// Elements of host-side staging buffers (on the stack).
const CHUNK: usize = 64;

/// Arena elements a perceptron over at most `rows` samples of `features` raw
/// features needs (the bias column is counted here). Saturates at
/// `usize::MAX` on overflow, which no arena can satisfy.
pub const fn perceptron_arena_len(rows: usize, features: usize) -> usize {
    PerceptronLayout::new(rows, features).len
}

/// Where a perceptron's data live in the arena, with `cols = features + 1`:
/// weights, pocket weights, the running sum for averaging (each `cols`), the
/// mistake counter, the error counter (one element each), the samples
/// (`rows × cols`), the labels (`rows`) and the working space of the
/// perceptron ops' reference decompositions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PerceptronLayout {
    /// Row capacity.
    pub rows: usize,
    /// Columns per sample: features plus the bias input.
    pub cols: usize,
    /// Current weights (`cols`, bias last).
    pub weights: Span,
    /// Best weights seen by the pocket variant (`cols`).
    pub pocket: Span,
    /// Running sum of the weights after every row (`cols`).
    pub average: Span,
    /// Mistakes of the current epoch (1).
    pub stats: Span,
    /// Training errors of fixed weights (1).
    pub errors: Span,
    /// Samples with the bias column (`rows × cols`).
    pub samples: Span,
    /// Labels, ±1 (`rows`).
    pub labels: Span,
    /// Working space of the perceptron ops' decompositions
    /// ([`PERCEPTRON_SCRATCH`](microprop_hal::op::PERCEPTRON_SCRATCH)).
    pub scratch: Span,
    /// Total elements.
    pub len: usize,
}

impl PerceptronLayout {
    /// The layout for `rows` samples of `features` raw features.
    pub const fn new(rows: usize, features: usize) -> Self {
        let cols = features.saturating_add(1);
        let weights = Span::new(0, cols);
        let pocket = Span::new(weights.end(), cols);
        let average = Span::new(pocket.end(), cols);
        let stats = Span::new(average.end(), 1);
        let errors = Span::new(stats.end(), 1);
        let samples = Span::new(errors.end(), rows.saturating_mul(cols));
        let labels = Span::new(samples.end(), rows);
        let scratch = Span::new(labels.end(), op::PERCEPTRON_SCRATCH);
        PerceptronLayout {
            rows,
            cols,
            weights,
            pocket,
            average,
            stats,
            errors,
            samples,
            labels,
            scratch,
            len: scratch.end(),
        }
    }
}

/// Which perceptron to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Variant {
    /// The classic rule; the model is the last weights.
    Classic,
    /// The pocket algorithm (Gallant's, with the ratchet): the classic rule,
    /// and after every update the training errors of the new weights are
    /// counted ([`Op::PerceptronErrors`]); when fewer than the best so far,
    /// the weights are copied to the pocket ([`Op::Copy`]). The model is the
    /// pocket: the best weights seen (the zero start counts as every row
    /// wrong). The rule runs one row per op here, because the check follows
    /// each update, and each row reads the mistake counter back: on a
    /// recording backend (Vulkan) that is one submission per row.
    Pocket,
    /// The averaged perceptron: the model is the mean of the weights after
    /// every row of every epoch run (the `average` span of
    /// [`Op::PerceptronEpoch`], scaled on the backend with [`Op::Axpy`]).
    Averaged,
}

/// What a training run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PerceptronReport {
    /// Updates made (= mistakes counted while training, all epochs).
    pub updates: usize,
    /// Epochs run.
    pub epochs: usize,
    /// `true` when the last epoch made no mistake (the data were separated).
    pub converged: bool,
    /// Training samples the final model (last, pocket or averaged weights)
    /// misclassifies, counted with [`Op::PerceptronErrors`].
    pub training_errors: usize,
}

/// A perceptron bound to a backend: weights, samples and labels live in the
/// backend's arena (see [`PerceptronLayout`]).
pub struct Perceptron<B: Backend> {
    backend: B,
    layout: PerceptronLayout,
    features: usize,
    /// Rows loaded (0 before [`Perceptron::load`]).
    rows: usize,
}

impl<B: Backend> Perceptron<B> {
    /// Bind a perceptron for at most `rows` samples of `features` raw features
    /// to `backend`, with all weights 0.
    ///
    /// Fails with [`Error::ArenaTooSmall`] when the arena is shorter than
    /// [`perceptron_arena_len`]`(rows, features)` and [`Error::EmptyBatch`]
    /// when `rows == 0`.
    pub fn new(backend: B, rows: usize, features: usize) -> Result<Self, B> {
        if rows == 0 {
            return Err(Error::EmptyBatch);
        }
        crate::network::need_ops::<B>(&backend, OPS)?;
        let layout = PerceptronLayout::new(rows, features);
        if backend.arena_len() < layout.len {
            return Err(Error::ArenaTooSmall {
                needed: layout.len,
                available: backend.arena_len(),
            });
        }
        let mut p = Perceptron {
            backend,
            layout,
            features,
            rows: 0,
        };
        p.fill(p.layout.weights, B::Elem::ZERO)?;
        Ok(p)
    }

    /// The arena layout.
    pub fn layout(&self) -> &PerceptronLayout {
        &self.layout
    }

    /// Raw features per sample (without the bias input).
    pub fn features(&self) -> usize {
        self.features
    }

    /// Samples currently loaded.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The backend.
    pub fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }

    /// Give the backend back.
    pub fn into_backend(self) -> B {
        self.backend
    }

    /// Upload a training set: `samples` holds `rows × features` raw features
    /// (row-major, without the bias), `labels` one `+1` or `-1` per row. The
    /// constant-1 bias input is appended to every row on the way into the
    /// arena.
    ///
    /// Everything is checked before anything is uploaded: a length that is
    /// not a multiple of `features` or does not match the labels
    /// ([`Error::Length`]), no rows ([`Error::EmptyBatch`]), more rows than
    /// planned ([`Error::BatchTooLarge`]), NaN or ±∞ ([`Error::NonFinite`]),
    /// a label other than ±1 ([`Error::SignLabel`]).
    pub fn load(&mut self, samples: &[B::Elem], labels: &[B::Elem]) -> Result<(), B> {
        let rows = labels.len();
        if rows == 0 {
            return Err(Error::EmptyBatch);
        }
        if rows > self.layout.rows {
            return Err(Error::BatchTooLarge {
                rows,
                capacity: self.layout.rows,
            });
        }
        let expected = rows * self.features;
        if samples.len() != expected {
            return Err(Error::Length {
                what: Operand::Input,
                expected,
                got: samples.len(),
            });
        }
        if let Some(index) = samples.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: Operand::Input,
                index,
            });
        }
        if let Some(index) = labels
            .iter()
            .position(|&l| l != B::Elem::ONE && l != -B::Elem::ONE)
        {
            return Err(Error::SignLabel { index });
        }

        // Stream the rows with the bias column appended through a stack
        // buffer (iterators, no indexing: no panic path).
        let features = self.features;
        let mut values = (0..rows).flat_map(|r| {
            samples
                .get(r * features..(r + 1) * features)
                .unwrap_or(&[])
                .iter()
                .copied()
                .chain(core::iter::once(B::Elem::ONE))
        });
        let mut buf = [B::Elem::ZERO; CHUNK];
        let mut start = 0;
        loop {
            let mut n = 0;
            for (slot, v) in buf.iter_mut().zip(&mut values) {
                *slot = v;
                n += 1;
            }
            if n == 0 {
                break;
            }
            self.backend
                .upload(
                    self.layout.samples.offset + start,
                    buf.get(..n).unwrap_or(&[]),
                )
                .map_err(Error::Backend)?;
            start += n;
        }
        self.backend
            .upload(self.layout.labels.offset, labels)
            .map_err(Error::Backend)?;
        self.rows = rows;
        Ok(())
    }

    /// Train from zero weights on the loaded set: epochs of
    /// [`Op::PerceptronEpoch`] until one makes no mistake or `max_epochs`
    /// have run. The resulting model (last, pocket or averaged weights, see
    /// [`Variant`]) is left in the weight span, where [`Perceptron::predict`]
    /// and [`Perceptron::weights`] read it.
    ///
    /// Fails with [`Error::OutOfOrder`] before [`Perceptron::load`] and with
    /// [`Error::Hyperparameter`] for `max_epochs == 0`.
    pub fn train(&mut self, variant: Variant, max_epochs: usize) -> Result<PerceptronReport, B> {
        if self.rows == 0 {
            return Err(Error::OutOfOrder {
                called: "train",
                needs: "load",
            });
        }
        if max_epochs == 0 {
            return Err(Error::Hyperparameter { name: "max_epochs" });
        }
        let l = self.layout;
        let (rows, cols) = (self.rows, l.cols);
        let samples = l.samples.prefix(rows * cols);
        let labels = l.labels.prefix(rows);
        self.fill(l.weights, B::Elem::ZERO)?;
        let average = match variant {
            Variant::Averaged => {
                self.fill(l.average, B::Elem::ZERO)?;
                Some(l.average)
            }
            _ => None,
        };
        // The zero start misclassifies every row (its score is 0).
        let mut best = rows;
        if variant == Variant::Pocket {
            self.fill(l.pocket, B::Elem::ZERO)?;
        }

        let mut report = PerceptronReport {
            updates: 0,
            epochs: 0,
            converged: false,
            training_errors: rows,
        };
        while report.epochs < max_epochs {
            self.fill(l.stats, B::Elem::ZERO)?;
            let mistakes = if variant == Variant::Pocket {
                self.pocket_epoch(&mut best)?
            } else {
                self.exec(&Op::PerceptronEpoch(op::PerceptronEpoch {
                    weights: l.weights,
                    samples,
                    labels,
                    rows,
                    cols,
                    average,
                    stats: l.stats,
                    scratch: l.scratch,
                }))?;
                self.read_count(l.stats)?
            };
            report.epochs += 1;
            report.updates += mistakes;
            self.backend.submit().map_err(Error::Backend)?;
            if mistakes == 0 {
                report.converged = true;
                break;
            }
        }

        match variant {
            Variant::Classic => {}
            Variant::Pocket => self.exec(&Op::Copy(op::Copy {
                src: l.pocket,
                dst: l.weights,
            }))?,
            Variant::Averaged => {
                // weights = average / (rows · epochs): one mean per row visited.
                let steps = (rows as f64) * (report.epochs as f64);
                self.fill(l.weights, B::Elem::ZERO)?;
                self.exec(&Op::Axpy(op::Axpy {
                    x: l.average,
                    y: l.weights,
                    alpha: B::Elem::from_f64(1.0 / steps),
                }))?;
            }
        }
        report.training_errors = self.count_errors(l.weights)?;
        self.backend.submit().map_err(Error::Backend)?;
        Ok(report)
    }

    /// Training samples the current weights misclassify (score `≤ 0` times
    /// the label), counted on the backend.
    pub fn training_errors(&mut self) -> Result<usize, B> {
        if self.rows == 0 {
            return Err(Error::OutOfOrder {
                called: "training_errors",
                needs: "load",
            });
        }
        self.count_errors(self.layout.weights)
    }

    /// Copy the weights (`features + 1` values, bias last) into `out`.
    pub fn weights(&mut self, out: &mut [B::Elem]) -> Result<(), B> {
        if out.len() != self.layout.cols {
            return Err(Error::Length {
                what: Operand::Parameters,
                expected: self.layout.cols,
                got: out.len(),
            });
        }
        self.backend
            .download(self.layout.weights.offset, out)
            .map_err(Error::Backend)
    }

    /// Replace the weights (`features + 1` values, bias last), e.g. with a
    /// model saved earlier.
    pub fn set_weights(&mut self, w: &[B::Elem]) -> Result<(), B> {
        if w.len() != self.layout.cols {
            return Err(Error::Length {
                what: Operand::Parameters,
                expected: self.layout.cols,
                got: w.len(),
            });
        }
        if let Some(index) = w.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: Operand::Parameters,
                index,
            });
        }
        self.backend
            .upload(self.layout.weights.offset, w)
            .map_err(Error::Backend)
    }

    /// The score `w · [x, 1]` of one sample of raw features.
    pub fn score(&mut self, x: &[B::Elem]) -> Result<f64, B> {
        if x.len() != self.features {
            return Err(Error::Length {
                what: Operand::Input,
                expected: self.features,
                got: x.len(),
            });
        }
        if let Some(index) = x.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: Operand::Input,
                index,
            });
        }
        // Stream the weights through a stack buffer: no heap, any width.
        let mut buf = [B::Elem::ZERO; CHUNK];
        let mut s = 0.0f64;
        let cols = self.layout.cols;
        let mut start = 0;
        while start < cols {
            let n = (cols - start).min(CHUNK);
            self.backend
                .download(self.layout.weights.offset + start, &mut buf[..n])
                .map_err(Error::Backend)?;
            for (k, w) in buf[..n].iter().enumerate() {
                let xi = x.get(start + k).map_or(1.0, |v| v.to_f64());
                s += w.to_f64() * xi;
            }
            start += n;
        }
        Ok(s)
    }

    /// Classify one sample of raw features: `+1` when its score is `> 0`,
    /// else `-1` (a score of exactly 0 is a mistake for either label while
    /// training, and `-1` here).
    pub fn predict(&mut self, x: &[B::Elem]) -> Result<i8, B> {
        Ok(if self.score(x)? > 0.0 { 1 } else { -1 })
    }

    /// One pocket epoch: the rule one row at a time (a one-row
    /// [`Op::PerceptronEpoch`] on a slice of the samples) and, after every
    /// update, the training errors of the new weights; fewer than `best`
    /// copies them to the pocket. Returns the epoch's mistakes (also left in
    /// the stats element).
    fn pocket_epoch(&mut self, best: &mut usize) -> Result<usize, B> {
        let l = self.layout;
        let cols = l.cols;
        let mut mistakes = 0;
        for r in 0..self.rows {
            self.exec(&Op::PerceptronEpoch(op::PerceptronEpoch {
                weights: l.weights,
                samples: l.samples.slice(r * cols, cols),
                labels: l.labels.slice(r, 1),
                rows: 1,
                cols,
                average: None,
                stats: l.stats,
                scratch: l.scratch,
            }))?;
            let total = self.read_count(l.stats)?;
            if total == mistakes {
                continue; // no update: the weights are unchanged
            }
            mistakes = total;
            let errors = self.count_errors(l.weights)?;
            if errors < *best {
                *best = errors;
                self.exec(&Op::Copy(op::Copy {
                    src: l.weights,
                    dst: l.pocket,
                }))?;
            }
        }
        Ok(mistakes)
    }

    fn exec(&mut self, op: &Op<B::Elem>) -> Result<(), B> {
        self.backend.execute(op).map_err(Error::Backend)
    }

    fn fill(&mut self, dst: Span, value: B::Elem) -> Result<(), B> {
        self.exec(&Op::Fill(op::Fill { dst, value }))
    }

    fn read_count(&mut self, span: Span) -> Result<usize, B> {
        let mut v = [B::Elem::ZERO];
        self.backend
            .download(span.offset, &mut v)
            .map_err(Error::Backend)?;
        // Counts are small non-negative integers, exact in f32 below 2^24;
        // f32 arithmetic is the FPU's on a Cortex-M4F (f64 is a library
        // call).
        let c = v[0].to_f32();
        Ok(if c.is_finite() && c > 0.0 {
            (c + 0.5) as usize
        } else {
            0
        })
    }

    fn count_errors(&mut self, weights: Span) -> Result<usize, B> {
        let l = self.layout;
        self.exec(&Op::PerceptronErrors(op::PerceptronErrors {
            weights,
            samples: l.samples.prefix(self.rows * l.cols),
            labels: l.labels.prefix(self.rows),
            rows: self.rows,
            cols: l.cols,
            out: l.errors,
            scratch: l.scratch,
        }))?;
        self.read_count(l.errors)
    }
}

#[cfg(test)]
mod tests;
