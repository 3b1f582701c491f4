//! Sliding windows for convolution and pooling: im2col and its adjoint,
//! col2im.
//!
//! A convolution is then a gemm over the windows (one per sample, giving
//! channels-first output), max pooling a [`Maxout`](super::Maxout) over them
//! and average pooling a gemm with a constant vector; their backward passes
//! go through [`Col2im`]. Images are channels-first like PyTorch's: sample
//! `r`, channel `c`, row `y`, column `x` is element
//! `((r·channels + c)·height + y)·width + x`; a 1-D signal is an image of
//! height 1.

use super::{dims, Check, OpInfo};
use crate::{OpError, Span};

/// The geometry of a sliding window over a batch of channels-first images:
/// a `kh × kw` window moved by `stride` in both directions over the image
/// with `pad_h` zeros added above and below and `pad_w` left and right.
/// Output positions follow PyTorch: `out_h = (height + 2·pad_h − kh) /
/// stride + 1` (floor), likewise `out_w`. A 1-D signal of length `L` is
/// `height 1, kh 1, pad_h 0, width L`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Window {
    /// Channels of each image.
    pub channels: usize,
    /// Image height (1 for a 1-D signal).
    pub height: usize,
    /// Image width (the length of a 1-D signal).
    pub width: usize,
    /// Window height (1 for 1-D).
    pub kh: usize,
    /// Window width.
    pub kw: usize,
    /// Step between windows, in both directions (at least 1).
    pub stride: usize,
    /// Zero rows added above and below the image.
    pub pad_h: usize,
    /// Zero columns added left and right of the image.
    pub pad_w: usize,
}

impl Window {
    /// Window positions along the height (0 when the window does not fit
    /// or the stride is 0).
    pub const fn out_h(&self) -> usize {
        out_len(self.height, self.kh, self.stride, self.pad_h)
    }

    /// Window positions along the width (0 when the window does not fit
    /// or the stride is 0).
    pub const fn out_w(&self) -> usize {
        out_len(self.width, self.kw, self.stride, self.pad_w)
    }

    /// Window positions per image: `out_h · out_w` (saturating).
    pub const fn positions(&self) -> usize {
        self.out_h().saturating_mul(self.out_w())
    }

    /// Elements of one window over one channel: `kh · kw` (saturating).
    pub const fn window_len(&self) -> usize {
        self.kh.saturating_mul(self.kw)
    }

    /// Elements of one image: `channels · height · width` (saturating).
    pub const fn image_len(&self) -> usize {
        dims(self.channels, dims(self.height, self.width))
    }

    /// Elements of the windows of one image: `positions · channels · kh ·
    /// kw` (saturating).
    pub const fn cols_len(&self) -> usize {
        dims(self.positions(), dims(self.channels, self.window_len()))
    }

    /// Why this geometry is invalid, if it is: a zero size, a zero stride,
    /// or a window larger than the padded image.
    pub const fn problem(&self) -> Option<&'static str> {
        if self.channels == 0 || self.height == 0 || self.width == 0 {
            Some("an image dimension is 0")
        } else if self.kh == 0 || self.kw == 0 {
            Some("a window dimension is 0")
        } else if self.stride == 0 {
            Some("the stride is 0")
        } else if self.kh > self.height.saturating_add(self.pad_h.saturating_mul(2))
            || self.kw > self.width.saturating_add(self.pad_w.saturating_mul(2))
        {
            Some("the window is larger than the padded image")
        } else {
            None
        }
    }

    /// The op-level check of the geometry: [`Window::problem`] as an
    /// [`OpError::Shape`] on the operand `"window"` (expected 1 valid
    /// geometry, got 0).
    fn check(&self, c: &Check, op: &'static str) -> Result<(), OpError> {
        let _ = c;
        match self.problem() {
            None => Ok(()),
            Some(_) => Err(OpError::Shape {
                op,
                operand: "window",
                expected: 1,
                got: 0,
            }),
        }
    }
}

/// `(len + 2·pad − k) / stride + 1`, or 0 when the window does not fit or
/// the stride is 0.
const fn out_len(len: usize, k: usize, stride: usize, pad: usize) -> usize {
    let padded = len.saturating_add(pad.saturating_mul(2));
    if stride == 0 || k == 0 || k > padded {
        0
    } else {
        (padded - k) / stride + 1
    }
}

/// How [`Im2col`] lays out the windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ColLayout {
    /// For a convolution: per sample, one row per window position holding
    /// every channel's window, `cols[r][p][c][i][j]` (a `positions ×
    /// (channels·kh·kw)` matrix per sample).
    Conv,
    /// For pooling: per sample and channel, each window contiguous,
    /// `cols[r][c][p][i][j]` (so a pooled output `(r, c, p)` reads `kh·kw`
    /// adjacent elements, in the channels-first order of the output).
    Pool,
}

impl ColLayout {
    /// Index in `cols` of sample `r`, position `p`, channel `c`, window
    /// element `e` (`i·kw + j`).
    pub const fn index(self, w: &Window, r: usize, p: usize, c: usize, e: usize) -> usize {
        let (pos, ch, k) = (w.positions(), w.channels, w.window_len());
        match self {
            ColLayout::Conv => ((r * pos + p) * ch + c) * k + e,
            ColLayout::Pool => ((r * ch + c) * pos + p) * k + e,
        }
    }
}

/// im2col: copy every window of `rows` channels-first images `x` into
/// `cols`, laid out as `layout` says. Window position `p = oy·out_w + ox`,
/// element `(i, j)` of channel `c` is `x[r][c][oy·stride + i −
/// pad_h][ox·stride + j − pad_w]`, or 0 where that falls in the padding.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Im2col {
    /// `rows × channels × height × width` images.
    pub x: Span,
    /// `rows × positions × channels × kh × kw` windows (overwritten).
    pub cols: Span,
    /// Batch rows.
    pub rows: usize,
    /// The window's geometry.
    pub window: Window,
    /// Order of the windows in `cols`.
    pub layout: ColLayout,
}

impl OpInfo for Im2col {
    const NAME: &'static str = "im2col";
    fn check(&self, c: &Check) -> Result<(), OpError> {
        self.window.check(c, Self::NAME)?;
        c.shape("x", self.x, dims(self.rows, self.window.image_len()))?;
        c.shape("cols", self.cols, dims(self.rows, self.window.cols_len()))?;
        c.disjoint(self.cols, self.x)
    }
}

/// col2im, the adjoint of [`Im2col`]: every element of `cols` is added to
/// the image element it was copied from (`x += im2colᵀ(cols)`; elements of
/// the padding are dropped). Overlapping windows add up. `x` is
/// accumulated into: zero it first for a plain gradient.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Col2im {
    /// `rows × positions × channels × kh × kw` windows (as laid out by
    /// `layout`).
    pub cols: Span,
    /// `rows × channels × height × width` images, accumulated into.
    pub x: Span,
    /// Batch rows.
    pub rows: usize,
    /// The window's geometry.
    pub window: Window,
    /// Order of the windows in `cols`.
    pub layout: ColLayout,
}

impl OpInfo for Col2im {
    const NAME: &'static str = "col2im";
    fn check(&self, c: &Check) -> Result<(), OpError> {
        self.window.check(c, Self::NAME)?;
        c.shape("cols", self.cols, dims(self.rows, self.window.cols_len()))?;
        c.shape("x", self.x, dims(self.rows, self.window.image_len()))?;
        c.disjoint(self.x, self.cols)
    }
}
