//! Safe splitting of the one arena into an op's disjoint outputs and its
//! inputs, without `unsafe` and without allocation.

use microprop_hal::Span;

/// `M` mutable (output) slices of the arena, and the rest of the arena as
/// shared slices from which input spans are read.
pub(crate) struct Parts<'a, E, const M: usize> {
    /// The output spans, in the order they were requested.
    pub(crate) outs: [&'a mut [E]; M],
    /// `(first index, slice)` of the arena between outputs: before each
    /// output in offset order, then the tail.
    gaps: [(usize, &'a [E]); M],
    tail: (usize, &'a [E]),
}

impl<'a, E, const M: usize> Parts<'a, E, M> {
    /// The input span `s`, or `None` when it is not wholly outside every
    /// output or lies past the arena (which
    /// [`Op::validate`](microprop_hal::Op::validate) rules out).
    pub(crate) fn input(&self, s: Span) -> Option<&'a [E]> {
        if s.len == 0 {
            // Empty, but inside the arena, as `validate` requires.
            let arena_len = self.tail.0 + self.tail.1.len();
            return (s.offset <= arena_len).then_some(&[]);
        }
        // The gaps are disjoint, so at most one holds the whole span: the
        // first whose start is at or before it and whose slice reaches its
        // end (`get` is `None` when the span runs past the gap).
        for &(start, gap) in &self.gaps {
            if let Some(x) = within(start, gap, s) {
                return Some(x);
            }
        }
        within(self.tail.0, self.tail.1, s)
    }
}

/// `s` as a sub-slice of `gap` (which starts at arena index `start`), or
/// `None` when it is not wholly inside.
#[inline(always)]
fn within<E>(start: usize, gap: &[E], s: Span) -> Option<&[E]> {
    let rel = s.offset.checked_sub(start)?;
    gap.get(rel..rel.checked_add(s.len)?)
}

/// Split `arena` into the pairwise disjoint output spans `outs` (any order;
/// empty spans inside the arena get empty slices) and the gaps between
/// them. `None` when the outputs overlap or reach past the arena.
pub(crate) fn split<E, const M: usize>(
    arena: &mut [E],
    outs: [Span; M],
) -> Option<Parts<'_, E, M>> {
    // Output indices sorted by offset (insertion sort: M is at most 3).
    let mut order = [0usize; M];
    for (i, o) in order.iter_mut().enumerate() {
        *o = i;
    }
    for i in 1..M {
        let mut j = i;
        while j > 0 && outs[order[j - 1]].offset > outs[order[j]].offset {
            order.swap(j - 1, j);
            j -= 1;
        }
    }

    let mut slices: [&mut [E]; M] = core::array::from_fn(|_| Default::default());
    let mut gaps: [(usize, &[E]); M] = core::array::from_fn(|_| (0, &[][..]));
    let mut rest: &mut [E] = arena;
    let mut pos = 0usize;
    for (gap_slot, &idx) in gaps.iter_mut().zip(order.iter()) {
        // `get`: idx < M by construction; no bounds-check panic path.
        let s = *outs.get(idx)?;
        if s.len == 0 {
            // Empty, but inside the arena, as `validate` requires.
            if s.offset > pos + rest.len() {
                return None;
            }
            continue;
        }
        let gap_len = s.offset.checked_sub(pos)?;
        let (gap, after) = core::mem::take(&mut rest).split_at_mut_checked(gap_len)?;
        let (mid, after) = after.split_at_mut_checked(s.len)?;
        *gap_slot = (pos, gap);
        *slices.get_mut(idx)? = mid;
        rest = after;
        pos = s.end();
    }
    Some(Parts {
        outs: slices,
        gaps,
        tail: (pos, rest),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_and_inputs_are_the_right_elements() {
        let mut arena: [u32; 10] = core::array::from_fn(|i| i as u32);
        let parts = split(&mut arena, [Span::new(6, 2), Span::new(1, 2)]).expect("disjoint");
        assert_eq!(*parts.outs[0], [6, 7]);
        assert_eq!(*parts.outs[1], [1, 2]);
        assert_eq!(parts.input(Span::new(0, 1)), Some(&[0u32][..]));
        assert_eq!(parts.input(Span::new(3, 3)), Some(&[3u32, 4, 5][..]));
        assert_eq!(parts.input(Span::new(8, 2)), Some(&[8u32, 9][..]));
        assert_eq!(parts.input(Span::new(5, 2)), None);
        assert_eq!(parts.input(Span::new(9, 2)), None);
        assert_eq!(parts.input(Span::new(10, 0)), Some(&[][..]));
        assert_eq!(parts.input(Span::new(11, 0)), None);
    }

    #[test]
    fn overlapping_or_long_outputs_are_refused() {
        let mut arena = [0u8; 10];
        assert!(split(&mut arena, [Span::new(2, 4), Span::new(5, 1)]).is_none());
        assert!(split(&mut arena, [Span::new(8, 3)]).is_none());
        assert!(split(&mut arena, [Span::new(usize::MAX, 1)]).is_none());
        assert!(split(&mut arena, [Span::new(11, 0)]).is_none());
        assert!(split(&mut arena, [Span::new(10, 0)]).is_some());
    }
}
