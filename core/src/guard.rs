//! The divergence guard: an opt-in training wrapper that survives a
//! diverging step.
//!
//! [`Guard::train_step`] runs [`Network::train_step`] and then judges the
//! step. A step *diverged* when
//!
//! - its loss is NaN or ±∞ ([`Divergence::NonFiniteLoss`]),
//! - `Σ w²` over the parameters the step wrote is NaN or ±∞
//!   ([`Divergence::NonFiniteParameters`]: an update that overflowed, a NaN
//!   weight that a ReLU's `max(x, 0)` hides from the loss, or weights so
//!   large their squares overflow), or
//! - after [`GuardConfig::warmup`] good steps, its loss exceeds
//!   [`GuardConfig::explode_factor`] × `max(EMA, `[`GuardConfig::floor`]`)`,
//!   where EMA is the exponential moving average of the accepted losses
//!   ([`Divergence::Exploded`]).
//!
//! Then the guard restores the last **verified** parameters, optimizer state
//! (momentum velocity, Adam's `m` and `v`) and Adam's step count (its bias
//! corrections `1 − βᵗ`), multiplies the learning rate by
//! [`GuardConfig::lr_decay`], and returns [`StepOutcome::Recovered`]. After
//! [`GuardConfig::max_recoveries`] recoveries without progress it restores
//! once more and gives up with [`Error::Diverged`].
//!
//! **What "verified" means.** The loss a step returns is computed at the
//! parameters the step *started* from. So a good loss vouches for those
//! parameters, not for the ones the step just wrote (a finite loss can still
//! come with an overflowing gradient). The guard therefore keeps two
//! snapshot slots: before a step it copies the current parameters and state
//! into the spare slot, and promotes that slot to "verified" only when the
//! step's loss and `Σ w²` pass. A restore goes back to the last parameters
//! that were checked, never to the ones that produced the bad loss.
//!
//! **Never `Ok` with a non-finite parameter.** `Σ w²` is taken over the
//! parameters the step *wrote*, so a step is accepted only if every
//! parameter it leaves is finite (a finite sum of squares has no NaN or ±∞
//! term), whatever the warm-up: the first step at a learning rate that
//! overflows an update is undone like any other. (The parameters a step
//! starts from were the previous step's result, checked then; a NaN
//! written behind the guard's back survives any update and is caught after
//! the next step, which is then undone.)
//!
//! Snapshots live in the same arena, after the network's own spans, and are
//! taken with the backend's `Copy` op: on a recording backend (Vulkan) the
//! snapshot, the check and the training step are one submission, and no
//! parameter crosses to the host. Size the arena with [`arena_len`]:
//!
//! ```
//! use microprop::guard::{self, Guard, GuardConfig, StepOutcome};
//! use microprop::{Config, Layer, Loss, Network, Optimizer, Spec, Targets};
//! use microprop_cpu::CpuBackend;
//!
//! const NET: Spec = Spec::new(&[Layer::dense(2, 8), Layer::tanh(), Layer::dense(8, 1)]);
//! // A learning rate far past stability: the guard halves it until steps hold.
//! const CFG: Config = Config::new(4, Loss::Mse, Optimizer::sgd(1e4)).with_seed(1);
//! let mut arena = [0.0f32; guard::arena_len(&NET, &CFG)];
//! let mut net = Network::new(NET, CpuBackend::new(&mut arena), CFG)?;
//! let cfg = GuardConfig::new().with_max_recoveries(40);
//! let mut guard = Guard::new(&mut net, cfg)?;
//! let x = [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];
//! let y = [0.0, 1.0, 1.0, 0.0];
//! let mut recovered = 0;
//! for _ in 0..3000 {
//!     if let StepOutcome::Recovered { .. } = guard.train_step(&x, Targets::Values(&y))? {
//!         recovered += 1;
//!     }
//! }
//! assert!(recovered > 0 && guard.network().lr() < 1.0);
//! let loss = guard.network().evaluate(&x, Targets::Values(&y))?.loss;
//! assert!(loss < 0.05, "{loss}");
//! # Ok::<(), microprop::Error<microprop_cpu::CpuError>>(())
//! ```

use crate::network::{Network, Result};
use crate::{Config, Error, Spec, Targets};
use microprop_hal::{op, Backend, Element, Op, OpKind, OpSet, Span};

/// Extra arena elements the guard needs after a network's own spans: two
/// snapshot slots of parameters + optimizer state, and one scalar
/// (saturating at `usize::MAX`, which no arena satisfies).
pub const fn extra_len(spec: &Spec, config: &Config) -> usize {
    let p = spec.param_count();
    // Optimizer state covers the trained parameters (`Spec::with_training`).
    let s = spec
        .trained_count()
        .saturating_mul(config.optimizer.kind().state_per_param());
    p.saturating_add(s).saturating_mul(2).saturating_add(1)
}

/// Arena elements for a guarded network: [`Config::arena_len`] +
/// [`extra_len`]. Use it to size a `static` arena. Saturates at
/// `usize::MAX`, which no arena satisfies.
pub const fn arena_len(spec: &Spec, config: &Config) -> usize {
    config
        .arena_len(spec)
        .saturating_add(extra_len(spec, config))
}

/// The guard's thresholds and reactions. [`GuardConfig::new`] gives the
/// defaults; the `with_*` methods change one each.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GuardConfig {
    /// A loss above `explode_factor × max(EMA, floor)` has exploded
    /// (default 20; `f64::INFINITY` checks finiteness only). Must be ≥ 1.
    pub explode_factor: f64,
    /// Decay of the EMA of accepted losses: `ema = d·ema + (1 − d)·loss`
    /// (default 0.99, a memory of about 100 steps, so a loss that grows
    /// more than ~1.2× per step outruns it). In `[0, 1)`.
    pub ema_decay: f64,
    /// The reference never drops below this (default 0.05), so a model that
    /// fits perfectly (EMA → 0, e.g. hinge loss) does not flag every
    /// non-zero loss: losses under `explode_factor × floor` (1.0 by
    /// default) never count as exploded. ≥ 0.
    pub floor: f64,
    /// Good steps whose loss only feeds the EMA, unchecked against it
    /// (default 1: the first loss seeds the EMA). At least 1.
    pub warmup: u32,
    /// The learning rate is multiplied by this at each recovery (default
    /// 0.5). In `(0, 1)`.
    pub lr_decay: f64,
    /// Recoveries without progress before giving up with
    /// [`Error::Diverged`] (default 10, a 1024× lower learning rate at 0.5).
    /// Progress: a snapshot of parameters that trained at least one step past
    /// the last restore was verified.
    pub max_recoveries: u32,
    /// Take a snapshot every this many good steps (default 1, which always
    /// restores to the parameters one step before the failure; larger
    /// values copy less and may lose up to that many steps). At least 1.
    pub snapshot_every: u32,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl GuardConfig {
    /// The defaults (see each field).
    pub const fn new() -> Self {
        GuardConfig {
            explode_factor: 20.0,
            ema_decay: 0.99,
            floor: 0.05,
            warmup: 1,
            lr_decay: 0.5,
            max_recoveries: 10,
            snapshot_every: 1,
        }
    }
    /// Set [`GuardConfig::explode_factor`].
    pub const fn with_explode_factor(mut self, factor: f64) -> Self {
        self.explode_factor = factor;
        self
    }
    /// Set [`GuardConfig::ema_decay`].
    pub const fn with_ema_decay(mut self, decay: f64) -> Self {
        self.ema_decay = decay;
        self
    }
    /// Set [`GuardConfig::floor`].
    pub const fn with_floor(mut self, floor: f64) -> Self {
        self.floor = floor;
        self
    }
    /// Set [`GuardConfig::warmup`].
    pub const fn with_warmup(mut self, steps: u32) -> Self {
        self.warmup = steps;
        self
    }
    /// Set [`GuardConfig::lr_decay`].
    pub const fn with_lr_decay(mut self, decay: f64) -> Self {
        self.lr_decay = decay;
        self
    }
    /// Set [`GuardConfig::max_recoveries`].
    pub const fn with_max_recoveries(mut self, n: u32) -> Self {
        self.max_recoveries = n;
        self
    }
    /// Set [`GuardConfig::snapshot_every`].
    pub const fn with_snapshot_every(mut self, steps: u32) -> Self {
        self.snapshot_every = steps;
        self
    }

    fn check<BE>(&self) -> core::result::Result<(), Error<BE>> {
        let bad = |name| Err(Error::Hyperparameter { name });
        // Written so that NaN fails each test too.
        if self.explode_factor.is_nan() || self.explode_factor < 1.0 {
            return bad("explode_factor");
        }
        if !(0.0..1.0).contains(&self.ema_decay) {
            return bad("ema_decay");
        }
        if !(self.floor.is_finite() && self.floor >= 0.0) {
            return bad("floor");
        }
        if self.warmup == 0 {
            return bad("warmup");
        }
        if !(self.lr_decay > 0.0 && self.lr_decay < 1.0) {
            return bad("lr_decay");
        }
        if self.snapshot_every == 0 {
            return bad("snapshot_every");
        }
        Ok(())
    }
}

/// Why a step was judged diverged.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Divergence {
    /// The loss was NaN or ±∞.
    NonFiniteLoss,
    /// `Σ w²` over the parameters was NaN or ±∞ while the loss was finite.
    NonFiniteParameters,
    /// The loss exceeded `explode_factor × reference`.
    Exploded {
        /// The loss.
        loss: f64,
        /// `max(EMA of accepted losses, floor)`.
        reference: f64,
    },
}

/// What one guarded step did.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StepOutcome<E> {
    /// The step was accepted; its loss (as [`Network::train_step`]).
    Ok(E),
    /// The step diverged and was undone.
    Recovered {
        /// The rejected step's loss.
        loss: E,
        /// Why it was rejected.
        reason: Divergence,
        /// The learning rate from now on ([`Network::lr`]).
        new_lr: f64,
        /// [`Network::steps`] of the restored snapshot.
        restored_steps: u64,
        /// Recoveries since the last progress (1 for the first).
        recoveries: u32,
    },
}

impl<E: Copy> StepOutcome<E> {
    /// The step's loss, accepted or not.
    pub fn loss(&self) -> E {
        match *self {
            StepOutcome::Ok(loss) | StepOutcome::Recovered { loss, .. } => loss,
        }
    }
    /// Whether the step was undone.
    pub fn recovered(&self) -> bool {
        matches!(self, StepOutcome::Recovered { .. })
    }
}

/// Running totals of a guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GuardStats {
    /// Steps accepted.
    pub good_steps: u64,
    /// Steps undone, in total.
    pub recoveries: u64,
    /// Snapshots promoted to verified.
    pub snapshots: u64,
}

/// One snapshot slot: parameters and optimizer state.
#[derive(Debug, Clone, Copy)]
struct Slot {
    params: Span,
    state: Span,
}

/// The divergence guard around a borrowed [`Network`] (see the module
/// docs). Use [`Guard::network`] for everything but training.
pub struct Guard<'n, 's, B: Backend> {
    net: &'n mut Network<'s, B>,
    config: GuardConfig,
    slots: [Slot; 2],
    /// Scalar receiving `Σ w²`.
    check: Span,
    /// Index of the verified slot.
    verified: usize,
    /// Adam clock of the verified slot.
    verified_clock: (u64, f64, f64),
    ema: f64,
    stats: GuardStats,
    /// Good steps since the last promotion (or restore).
    since_snapshot: u32,
    /// Recoveries since the last progress.
    consecutive: u32,
    /// Good steps since the last restore (saturating).
    since_restore: u32,
}

impl<'n, 's, B: Backend> Guard<'n, 's, B> {
    /// Guard `net`, taking its current parameters and state as the first
    /// verified snapshot. Fails with [`Error::ArenaTooSmall`] when the
    /// backend's arena is shorter than [`arena_len`], and with
    /// [`Error::Hyperparameter`] for a setting out of range.
    pub fn new(net: &'n mut Network<'s, B>, config: GuardConfig) -> Result<Self, B> {
        config.check()?;
        crate::network::need_ops::<B>(
            net.backend(),
            OpSet::of(&[OpKind::Copy, OpKind::SumSquares]),
        )?;
        let layout = *net.layout();
        let p = layout.params.len;
        let s = layout.state.len;
        // p + s ≤ layout.len, which fits; twice that plus the network's own
        // spans may not (a huge arena on a 32-bit target).
        let needed = (p + s)
            .checked_mul(2)
            .and_then(|n| n.checked_add(1))
            .and_then(|n| n.checked_add(layout.len))
            .ok_or(Error::Spec(crate::SpecError::TooLarge))?;
        let available = net.backend().arena_len();
        if available < needed {
            return Err(Error::ArenaTooSmall { needed, available });
        }
        let base = layout.len;
        let slot = |i: usize| Slot {
            params: Span::new(base + i * (p + s), p),
            state: Span::new(base + i * (p + s) + p, s),
        };
        let mut guard = Guard {
            slots: [slot(0), slot(1)],
            check: Span::new(base + 2 * (p + s), 1),
            verified: 0,
            verified_clock: net.clock(),
            net,
            config,
            ema: 0.0,
            stats: GuardStats::default(),
            since_snapshot: 0,
            consecutive: 0,
            since_restore: u32::MAX,
        };
        guard.copy_in(0)?;
        guard.net.backend_mut().submit().map_err(Error::Backend)?;
        Ok(guard)
    }

    /// The guarded network.
    pub fn network(&mut self) -> &mut Network<'s, B> {
        self.net
    }

    /// The settings.
    pub fn config(&self) -> &GuardConfig {
        &self.config
    }

    /// Totals so far.
    pub fn stats(&self) -> GuardStats {
        self.stats
    }

    /// The EMA of accepted losses (0 before the first).
    pub fn ema(&self) -> f64 {
        self.ema
    }

    /// Take the network's current parameters and state as verified (after
    /// changing them outside the guard, e.g. with
    /// [`Network::load_parameters`]).
    pub fn resync(&mut self) -> Result<(), B> {
        self.verified_clock = self.net.clock();
        self.since_snapshot = 0;
        self.copy_in(self.verified)?;
        self.net.backend_mut().submit().map_err(Error::Backend)
    }

    /// Issue copies of the live parameters and state into slot `i`.
    fn copy_in(&mut self, i: usize) -> Result<(), B> {
        let l = *self.net.layout();
        let slot = self.slots[i];
        self.copy(l.params, slot.params)?;
        self.copy(l.state, slot.state)
    }

    fn copy(&mut self, src: Span, dst: Span) -> Result<(), B> {
        if src.len == 0 {
            return Ok(());
        }
        self.net.exec(&Op::Copy(op::Copy { src, dst }))
    }

    /// Put the verified snapshot back.
    fn restore(&mut self) -> Result<(), B> {
        let l = *self.net.layout();
        self.net.params_changed();
        let slot = self.slots[self.verified];
        self.copy(slot.params, l.params)?;
        self.copy(slot.state, l.state)?;
        self.net.set_clock(self.verified_clock);
        self.since_snapshot = 0;
        self.since_restore = 0;
        self.net.backend_mut().submit().map_err(Error::Backend)
    }

    /// One guarded training step (see the module docs). A batch that
    /// [`Network::train_step`] rejects is returned as its error and changes
    /// nothing; a diverged step is undone and reported as
    /// [`StepOutcome::Recovered`]; too many recoveries in a row restore the
    /// last verified snapshot and fail with [`Error::Diverged`].
    pub fn train_step(
        &mut self,
        x: &[B::Elem],
        targets: Targets<'_, B::Elem>,
    ) -> Result<StepOutcome<B::Elem>, B> {
        let l = *self.net.layout();
        let snapshot = self.since_snapshot + 1 >= self.config.snapshot_every;
        let pending = 1 - self.verified;
        let pending_clock = self.net.clock();
        let pending_after_restore = self.since_restore;
        if snapshot {
            self.copy_in(pending)?;
        }
        let check = self.check;
        // Σw² over the parameters the step wrote: issued before the loss is
        // read, so that a recording backend runs the snapshot, the step and
        // the check as one submission.
        let loss = self.net.train_step_then(x, targets, |net| {
            net.exec(&Op::SumSquares(op::SumSquares {
                x: l.params,
                out: check,
                scale: B::Elem::ONE,
                accumulate: false,
            }))
        })?;
        let sum = self.net.read_scalar(self.check)?;
        let lf = loss.to_f64();
        let reference = if self.ema > self.config.floor {
            self.ema
        } else {
            self.config.floor
        };
        let verdict = if !lf.is_finite() {
            Some(Divergence::NonFiniteLoss)
        } else if !sum.is_finite() {
            Some(Divergence::NonFiniteParameters)
        } else if self.stats.good_steps >= self.config.warmup as u64
            && lf > self.config.explode_factor * reference
        {
            Some(Divergence::Exploded {
                loss: lf,
                reference,
            })
        } else {
            None
        };
        let Some(reason) = verdict else {
            self.ema = if self.stats.good_steps == 0 {
                lf
            } else {
                self.config.ema_decay * self.ema + (1.0 - self.config.ema_decay) * lf
            };
            self.stats.good_steps += 1;
            self.since_restore = self.since_restore.saturating_add(1);
            if snapshot {
                self.verified = pending;
                self.verified_clock = pending_clock;
                self.since_snapshot = 0;
                self.stats.snapshots += 1;
                if pending_after_restore > 0 {
                    // These parameters trained past the last restore.
                    self.consecutive = 0;
                }
            } else {
                self.since_snapshot += 1;
            }
            return Ok(StepOutcome::Ok(loss));
        };
        self.restore()?;
        if self.consecutive >= self.config.max_recoveries {
            return Err(Error::Diverged {
                recoveries: self.consecutive,
            });
        }
        let new_lr = self.net.lr() * self.config.lr_decay;
        self.net.set_lr(new_lr)?;
        self.consecutive += 1;
        self.stats.recoveries += 1;
        Ok(StepOutcome::Recovered {
            loss,
            reason,
            new_lr,
            restored_steps: self.verified_clock.0,
            recoveries: self.consecutive,
        })
    }
}
