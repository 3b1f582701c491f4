//! [`OpSet`]: which ops a backend can run, or a network needs.

use super::OpKind;

/// A set of [`OpKind`]s, one bit each.
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
/// let set = OpSet::of(&[OpKind::Gemm, OpKind::Fill]);
/// assert!(set.contains(OpKind::Gemm));
/// assert!(!set.contains(OpKind::AdamStep));
/// assert_eq!(set.missing_from(OpSet::ALL), None);
/// assert_eq!(OpSet::ALL.missing_from(set), Some(OpKind::Copy));
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

    /// The first kind (in [`OpKind::ALL`] order) of this set that `have`
    /// lacks, or `None` when `have` holds all of them.
    pub const fn missing_from(self, have: OpSet) -> Option<OpKind> {
        let mut i = 0;
        while i < OpKind::ALL.len() {
            let k = OpKind::ALL[i];
            if self.contains(k) && !have.contains(k) {
                return Some(k);
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
        // Fewer than 64 kinds, each alone in its set.
        assert!(OpKind::ALL.len() <= 64);
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
        assert_eq!(u.missing_from(a), Some(OpKind::Loss));
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
