//! Spans: ranges of elements in a backend's one flat arena.

/// A range of elements in a backend's arena: `offset .. offset + len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Span {
    /// Index of the first element.
    pub offset: usize,
    /// Number of elements.
    pub len: usize,
}

impl Span {
    /// A span of `len` elements starting at `offset`.
    pub const fn new(offset: usize, len: usize) -> Self {
        Span { offset, len }
    }
    /// One past the last element (saturating, so a huge span never wraps).
    pub const fn end(&self) -> usize {
        self.offset.saturating_add(self.len)
    }
    /// The first `len` elements of this span (clamped to this span).
    pub const fn prefix(&self, len: usize) -> Self {
        let len = if len < self.len { len } else { self.len };
        Span {
            offset: self.offset,
            len,
        }
    }
    /// Elements `start .. start + len` of this span (clamped to this span).
    pub const fn slice(&self, start: usize, len: usize) -> Self {
        let start = if start < self.len { start } else { self.len };
        let room = self.len - start;
        let len = if len < room { len } else { room };
        Span {
            offset: self.offset + start,
            len,
        }
    }
    /// `true` when the two spans share at least one element.
    pub const fn overlaps(&self, other: &Span) -> bool {
        self.len > 0 && other.len > 0 && self.offset < other.end() && other.offset < self.end()
    }
}
