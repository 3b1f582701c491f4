//! [`OpSet`]: which ops a backend can run, or a network needs.

use super::{Activation, LossKind, OpKind, ACTIVATION_NAMES, LOSS_NAMES};

/// Bit of the first activation function (bits below are [`OpKind`]s).
const ACT_BASE: u32 = 48;
/// Bit of the first loss (after the activation functions).
const LOSS_BASE: u32 = 56;

/// A set of [`OpKind`]s, [`Activation`] functions and [`LossKind`]s, one
/// bit each.
///
/// The activation functions and losses are in it because each is its own
/// code (the ops [`Activate`](super::Activate),
/// [`BiasActivate`](super::BiasActivate),
/// [`ActivateBackward`](super::ActivateBackward) and [`Loss`](super::Loss)
/// run the function they carry): a backend built for `tanh` and MSE need
/// not hold `elu` or the cross-entropy.
///
/// A network states the ops it issues (`microprop::Spec::ops`), a backend
/// the ops it can run ([`Backend::ops`](crate::Backend::ops)); a network is
/// refused at construction when its backend lacks one. The CPU backend
/// takes its set as a const parameter and compiles only those kernels, so a
/// firmware links only what its model uses.
///
/// ```
/// use microprop_hal::op::{OpKind, OpSet};
///
/// use microprop_hal::Activation;
///
/// let set = OpSet::of(&[OpKind::Gemm, OpKind::Fill]).with_activation(&Activation::<f32>::Tanh);
/// assert!(set.contains(OpKind::Gemm));
/// assert!(!set.contains(OpKind::AdamStep));
/// assert!(set.has_activation(&Activation::<f32>::Tanh));
/// assert!(!set.has_activation(&Activation::<f32>::Relu));
/// assert_eq!(set.missing_from(OpSet::ALL), None);
/// assert_eq!(OpSet::ALL.missing_from(set), Some("copy"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct OpSet(u64);

impl OpSet {
    /// No op.
    pub const EMPTY: OpSet = OpSet(0);
    /// Every op of the vocabulary (and any added later).
    pub const ALL: OpSet = OpSet(u64::MAX);

    /// The set of `kinds`.
    pub const fn of(kinds: &[OpKind]) -> OpSet {
        let mut s = OpSet::EMPTY;
        let mut i = 0;
        while i < kinds.len() {
            s = s.with(kinds[i]);
            i += 1;
        }
        s
    }

    /// This set and `kind`.
    pub const fn with(self, kind: OpKind) -> OpSet {
        OpSet(self.0 | Self::bit(kind))
    }

    /// The ops of either set.
    pub const fn union(self, other: OpSet) -> OpSet {
        OpSet(self.0 | other.0)
    }

    /// `kind` is in the set.
    #[inline(always)]
    pub const fn contains(self, kind: OpKind) -> bool {
        self.0 & Self::bit(kind) != 0
    }

    /// This set and the function of `act` (whatever its parameter).
    pub const fn with_activation<E>(self, act: &Activation<E>) -> OpSet {
        OpSet(self.0 | Self::bit_at(ACT_BASE, act.index()))
    }

    /// The function of `act` is in the set.
    #[inline(always)]
    pub const fn has_activation<E>(self, act: &Activation<E>) -> bool {
        self.0 & Self::bit_at(ACT_BASE, act.index()) != 0
    }

    /// This set and the loss `kind` (whatever its parameter).
    pub const fn with_loss<E>(self, kind: &LossKind<E>) -> OpSet {
        OpSet(self.0 | Self::bit_at(LOSS_BASE, kind.index()))
    }

    /// The loss `kind` is in the set.
    #[inline(always)]
    pub const fn has_loss<E>(self, kind: &LossKind<E>) -> bool {
        self.0 & Self::bit_at(LOSS_BASE, kind.index()) != 0
    }

    /// The name of the first op (in [`OpKind::ALL`] order), then activation
    /// function, then loss, of this set that `have` lacks, or `None` when
    /// `have` holds all of them.
    pub const fn missing_from(self, have: OpSet) -> Option<&'static str> {
        let mut i = 0;
        while i < OpKind::ALL.len() {
            let k = OpKind::ALL[i];
            if self.contains(k) && !have.contains(k) {
                return Some(k.name());
            }
            i += 1;
        }
        match self.missing_named(have, ACT_BASE, &ACTIVATION_NAMES) {
            Some(name) => Some(name),
            None => self.missing_named(have, LOSS_BASE, &LOSS_NAMES),
        }
    }

    /// The first of the bits `base ..` named by `names` that this set has
    /// and `have` lacks, by name.
    const fn missing_named(
        self,
        have: OpSet,
        base: u32,
        names: &[&'static str],
    ) -> Option<&'static str> {
        let mut i = 0;
        while i < names.len() {
            let bit = Self::bit_at(base, i as u32);
            if self.0 & bit != 0 && have.0 & bit == 0 {
                return Some(names[i]);
            }
            i += 1;
        }
        None
    }

    /// The set as bits (bit `k` for the kind whose discriminant is `k`): the
    /// form a const parameter takes.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// The set whose [`bits`](Self::bits) are `bits`.
    pub const fn from_bits(bits: u64) -> OpSet {
        OpSet(bits)
    }

    /// Bit `base + index` (an activation function's or a loss's).
    #[inline(always)]
    const fn bit_at(base: u32, index: u32) -> u64 {
        1u64 << ((base + index) % 64)
    }

    #[inline(always)]
    const fn bit(kind: OpKind) -> u64 {
        1u64 << (kind as u8 as u32 % 64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_bit() {
        // The kinds stay below the activation functions' bits.
        assert!(OpKind::ALL.len() <= ACT_BASE as usize);
        assert!(ACT_BASE as usize + ACTIVATION_NAMES.len() <= LOSS_BASE as usize);
        assert!(LOSS_BASE as usize + LOSS_NAMES.len() <= 64);
        for (i, &a) in OpKind::ALL.iter().enumerate() {
            let s = OpSet::EMPTY.with(a);
            for (j, &b) in OpKind::ALL.iter().enumerate() {
                assert_eq!(s.contains(b), i == j, "{} in {{{}}}", b.name(), a.name());
            }
        }
    }

    #[test]
    fn union_and_missing() {
        let a = OpSet::of(&[OpKind::Fill, OpKind::Gemm]);
        let b = OpSet::of(&[OpKind::Loss]);
        let u = a.union(b);
        assert!(u.contains(OpKind::Loss) && u.contains(OpKind::Fill));
        assert_eq!(u.missing_from(a), Some("loss"));
        let t = a.with_activation(&Activation::<f32>::LeakyRelu { slope: 0.1 });
        assert!(t.has_activation(&Activation::<f32>::LeakyRelu { slope: 0.5 }));
        assert!(!t.has_activation(&Activation::<f32>::Elu { alpha: 1.0 }));
        assert_eq!(t.missing_from(a), Some("leaky_relu"));
        assert_eq!(
            OpSet::EMPTY
                .with_activation(&Activation::<f32>::Softplus)
                .missing_from(t),
            Some("softplus")
        );
        let h = t.with_loss(&LossKind::Hinge { margin: 1.0f32 });
        assert!(h.has_loss(&LossKind::Hinge { margin: 2.0f32 }));
        assert!(!h.has_loss(&LossKind::<f32>::Mse));
        assert_eq!(h.missing_from(t), Some("hinge"));
        assert_eq!(
            OpSet::EMPTY
                .with_loss(&LossKind::<f32>::SoftmaxCrossEntropy)
                .missing_from(h),
            Some("softmax_cross_entropy")
        );
        assert_eq!(a.missing_from(u), None);
        assert_eq!(OpSet::EMPTY.missing_from(OpSet::EMPTY), None);
        assert_eq!(OpSet::from_bits(a.bits()), a);
    }

    #[test]
    fn names_are_the_structs_names() {
        assert_eq!(OpKind::Gemm.name(), "gemm");
        assert_eq!(OpKind::AdamStep.name(), "adam_step");
    }
}
