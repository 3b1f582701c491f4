//! A training step's ops, recorded once and issued again: see
//! `Network::set_plan` (feature `plan`).

use microprop_hal::Backend;
#[cfg(feature = "plan")]
use microprop_hal::{op, Element, Op, Span};

#[cfg(feature = "plan")]
use super::Error;
use super::{Network, Result};

impl<B: Backend> Network<'_, B> {
    /// Zero the gradients (unless `fused`), forward, loss and backward for
    /// `rows` rows, as the lowering issues them. Returns backward's
    /// scratch slot.
    #[inline(always)]
    fn emit_lowered(&mut self, rows: usize, fused: bool) -> Result<usize, B> {
        if !fused {
            self.emit_zero_grad()?;
        }
        self.emit_forward(rows)?;
        // One pass over the L2-SP anchor adds its loss term and gradient.
        self.emit_loss_with(rows, true, true, true)?;
        self.emit_backward_with(rows, false, fused, false)
    }

    /// [`Network::emit_lowered`]: without the `plan` feature there is no
    /// recording to issue.
    #[cfg(not(feature = "plan"))]
    #[inline(always)]
    pub(crate) fn emit_pass(&mut self, rows: usize, fused: bool) -> Result<usize, B> {
        self.emit_lowered(rows, fused)
    }

    /// Without the `plan` feature there is no recording to drop.
    #[cfg(not(feature = "plan"))]
    #[inline(always)]
    pub(crate) fn plan_changed(&mut self) {}
}

#[cfg(feature = "plan")]
/// A slot of the buffer [`Network::set_plan`] records into, to fill it
/// with, also in a `static`: `[plan_slot(); 16]` (an empty fill; the
/// recording overwrites it). For `f32` on the Cortex-M targets its bytes
/// are all zero, so a `static` of them goes to `.bss`; for `Q10` they are
/// not (the enum's tag), so such a `static` also takes its size in flash
/// (the `.data` image: 780 B for XOR's 13 slots).
pub const fn plan_slot<E: Element>() -> Op<E> {
    Op::Fill(op::Fill {
        dst: Span::new(0, 0),
        value: E::ZERO,
    })
}

#[cfg(feature = "plan")]
/// The recorded ops of [`Network::train_step`] from zeroing the gradients
/// to the end of backward, for one batch size.
pub(crate) struct Plan<'p, E> {
    ops: &'p mut [Op<E>],
    /// Ops the last recording issued (more than `ops.len()` when they did
    /// not fit: the plan is then never valid).
    len: usize,
    /// The rows it was recorded for, and backward's last scratch slot.
    rows: usize,
    slot: usize,
    valid: bool,
}

#[cfg(feature = "plan")]
impl<'s, B: Backend> Network<'s, B> {
    /// Record [`Network::train_step`]'s ops in `ops` and issue the recording
    /// on the following steps instead of lowering the layers again (feature
    /// `plan`). The ops are the same, in the same order, so training is bit
    /// for bit what it is without a plan; what goes is the lowering's walk
    /// over the layers on every step, about 1,100 instructions of XOR's
    /// step on a Cortex-M4F (a seventh). It costs `ops.len() ×
    /// size_of::<Op<E>>()` bytes of RAM (64 B per op for `f32` on a
    /// 32-bit target; XOR's step is 13 ops).
    ///
    /// The next `train_step` records (zeroing the gradients, forward, loss
    /// and backward; the optimizer's update, whose Adam clock moves, is
    /// issued as before). A recording is used for steps with as many rows
    /// as it was made with; a step with other rows records again.
    /// [`Network::set_lr`], [`Network::set_anchor`],
    /// [`Network::clear_anchor`] and [`Network::reset`] drop it. While an
    /// L2-SP anchor is set nothing is recorded (the anchor is read from its
    /// blob during the step). When the step needs more ops than `ops`
    /// holds, the steps run as without a plan (each recording again, a call
    /// per op); [`Network::plan_ops`] says how many it needs.
    ///
    /// ```
    /// use microprop::{plan_slot, Config, Layer, Loss, Network, Optimizer, Spec, Targets};
    /// use microprop_cpu::CpuBackend;
    /// const NET: Spec = Spec::new(&[Layer::dense(2, 4), Layer::tanh(), Layer::dense(4, 1)]);
    /// let cfg = Config::new(4, Loss::Mse, Optimizer::sgd(0.1));
    /// let mut arena = [0.0f32; 256];
    /// let mut ops = [plan_slot(); 16];
    /// let mut net = Network::new(NET, CpuBackend::new(&mut arena), cfg).unwrap();
    /// net.set_plan(&mut ops);
    /// let x = [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];
    /// for _ in 0..3 {
    ///     net.train_step(&x, Targets::Values(&[0.0, 1.0, 1.0, 0.0])).unwrap();
    /// }
    /// assert!(net.plan_ops().unwrap() <= 16);
    /// ```
    pub fn set_plan(&mut self, ops: &'s mut [Op<B::Elem>]) {
        self.plan = Some(Plan {
            ops,
            len: 0,
            rows: 0,
            slot: 0,
            valid: false,
        });
    }

    /// Stop using a plan (training goes on as without one).
    pub fn clear_plan(&mut self) {
        self.plan = None;
    }

    /// How many ops the last recorded step issued (the buffer
    /// [`Network::set_plan`] needs), or `None` with no plan or before its
    /// first recording.
    pub fn plan_ops(&self) -> Option<usize> {
        self.plan.as_ref().filter(|p| p.rows > 0).map(|p| p.len)
    }

    /// The recording no longer matches what the lowering would issue.
    pub(crate) fn plan_changed(&mut self) {
        if let Some(p) = &mut self.plan {
            p.valid = false;
        }
    }

    /// Add `op` to the recording under way ([`Network::exec`] calls this
    /// while `recording`). Out of line: only a recording step reaches it.
    #[inline(never)]
    pub(crate) fn record(&mut self, op: &Op<B::Elem>) {
        if let Some(p) = &mut self.plan {
            if let Some(slot) = p.ops.get_mut(p.len) {
                *slot = *op;
            }
            p.len = p.len.saturating_add(1);
        }
    }

    /// Zero the gradients (unless `fused`), forward, loss and backward for
    /// `rows` rows: the plan's ops when it holds them for `rows`, else the
    /// lowering's, recorded when there is a plan (and no anchor). Returns
    /// backward's scratch slot. One call of the lowering, and the plan's
    /// work out of line: a network without a plan pays a test here and one
    /// per op in [`Network::exec`].
    #[inline(always)]
    pub(crate) fn emit_pass(&mut self, rows: usize, fused: bool) -> Result<usize, B> {
        if self.plan.is_some() {
            if let Some(slot) = self.replay(rows) {
                return slot;
            }
        }
        let record = self.plan.is_some() && self.anchor.is_none();
        if record {
            self.start_recording();
        }
        let r = self.emit_lowered(rows, fused);
        if record {
            self.end_recording(rows, &r);
        }
        r
    }

    /// Issue the plan's ops if it holds them for `rows` (`None` if not).
    #[inline(never)]
    fn replay(&mut self, rows: usize) -> Option<Result<usize, B>> {
        let p = self.plan.as_ref().filter(|p| p.valid && p.rows == rows)?;
        for op in p.ops.get(..p.len).unwrap_or_default() {
            if let Err(e) = self.backend.execute(op) {
                return Some(Err(Error::Backend(e)));
            }
        }
        Some(Ok(p.slot))
    }

    /// The recording is complete when the lowering succeeded and it fit.
    #[inline(never)]
    fn end_recording(&mut self, rows: usize, r: &Result<usize, B>) {
        self.recording = false;
        if let (Ok(slot), Some(p)) = (r, &mut self.plan) {
            p.valid = p.len <= p.ops.len();
            p.rows = rows;
            p.slot = *slot;
        }
    }

    /// Start a recording: [`Network::exec`] hands each op to
    /// [`Network::record`] until [`Network::end_recording`].
    #[inline(never)]
    fn start_recording(&mut self) {
        if let Some(p) = &mut self.plan {
            p.len = 0;
            p.valid = false;
            p.rows = 0;
            self.recording = true;
        }
    }
}
