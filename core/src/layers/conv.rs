//! Convolution and pooling over channels-first images (1-D signals are
//! images of height 1), lowered to sliding windows ([`op::Im2col`],
//! [`op::Col2im`]) and existing ops:
//!
//! - a convolution is, per sample, `y = b·1ᵀ + W · colsᵀ` (two gemms: the
//!   bias broadcast over the positions through a vector of ones, then the
//!   kernel over the windows), which is channels-first `[outputs,
//!   positions]`; its backward recomputes the windows, `dW += dy · cols`,
//!   `db += dy · 1`, and `dx = col2im(dyᵀ · W)`;
//! - max pooling is a [`op::Maxout`] over each channel's windows, average
//!   pooling a gemm with the vector `1/k`; their backward goes through
//!   [`op::MaxoutBackward`] or the transposed gemm, then col2im.
//!
//! Every layer works sample by sample, so the windows of one sample are
//! all the working space it needs, whatever the batch: the arena's `cols`
//! span (`2 · cols_len`: a pooling's windows and their gradient; a
//! convolution reuses one half), the ones and `1/k` in `consts`.

use microprop_hal::op::{ColLayout, Window};
use microprop_hal::{op, Backend, Element, Op, OpKind, OpSet, Span};

use super::dense::chain;
use crate::network::{LayerSpans, Network, Result};
use crate::spec::{mix, mix_width};
use crate::{PoolKind, SpecError};

/// The ops a convolution issues: windows in and out, per-sample gemms, and
/// the constant vector of ones its bias is spread with.
pub(crate) const OPS: OpSet =
    OpSet::of(&[OpKind::Im2col, OpKind::Col2im, OpKind::Gemm, OpKind::Fill]);

/// The ops a pooling layer of `kind` issues: windows in and out, then the
/// max over each window (as maxout) or its mean (a gemm with the constant
/// vector `1/k`).
pub(crate) const fn pool_ops(kind: PoolKind) -> OpSet {
    let windows = OpSet::of(&[OpKind::Im2col, OpKind::Col2im]);
    match kind {
        PoolKind::Max => windows.with(OpKind::Maxout).with(OpKind::MaxoutBackward),
        PoolKind::Avg => windows.with(OpKind::Gemm).with(OpKind::Fill),
    }
}

/// Geometry checks shared by convolution and pooling: the input chains,
/// the window works, and the windows' size is addressable.
const fn check_window(
    layer: usize,
    width: usize,
    w: &Window,
) -> core::result::Result<(), SpecError> {
    if let Some(problem) = w.problem() {
        return Err(SpecError::Geometry { layer, problem });
    }
    // Every size below is a product of these; the saturating helpers cap
    // at usize::MAX, so a product that reaches it is refused.
    if w.image_len() == usize::MAX || w.cols_len() >= usize::MAX / 2 {
        return Err(SpecError::TooLarge);
    }
    chain(layer, width, w.image_len())
}

/// The spec checks of a convolution.
pub(crate) const fn check(
    layer: usize,
    width: usize,
    w: &Window,
    outputs: usize,
) -> core::result::Result<(), SpecError> {
    if let Err(e) = check_window(layer, width, w) {
        return Err(e);
    }
    if outputs == 0 {
        return Err(SpecError::ZeroWidth { layer });
    }
    let fan_in = w.channels.saturating_mul(w.window_len());
    match fan_in.checked_add(1) {
        Some(f) if f.checked_mul(outputs).is_some() => {}
        _ => return Err(SpecError::TooLarge),
    }
    match outputs.checked_mul(w.positions()) {
        Some(_) => Ok(()),
        None => Err(SpecError::TooLarge),
    }
}

/// The spec checks of a pooling layer: no padding (PyTorch pads max
/// pooling with −∞, not zeros; microprop's pools take none).
pub(crate) const fn check_pool(
    layer: usize,
    width: usize,
    w: &Window,
) -> core::result::Result<(), SpecError> {
    if w.pad_h != 0 || w.pad_w != 0 {
        return Err(SpecError::Geometry {
            layer,
            problem: "pooling takes no padding",
        });
    }
    check_window(layer, width, w)
}

/// The window's words in the spec hash.
const fn mix_window(h: u32, w: &Window) -> u32 {
    let h = mix_width(mix_width(mix_width(h, w.channels), w.height), w.width);
    let h = mix_width(mix_width(mix_width(h, w.kh), w.kw), w.stride);
    mix_width(mix_width(h, w.pad_h), w.pad_w)
}

/// The spec hash's words for a convolution: kind 5, its window, its
/// output channels.
pub(crate) const fn mix_hash(h: u32, w: &Window, outputs: usize) -> u32 {
    mix_width(mix_window(mix(h, 5), w), outputs)
}

/// The spec hash's words for pooling: kind 6, its window, max 0 / avg 1.
pub(crate) const fn mix_hash_pool(h: u32, w: &Window, kind: PoolKind) -> u32 {
    mix(
        mix_window(mix(h, 6), w),
        match kind {
            PoolKind::Max => 0,
            PoolKind::Avg => 1,
        },
    )
}

/// Weights of a convolution: `outputs · channels · kh · kw`.
pub(crate) const fn weight_count(w: &Window, outputs: usize) -> usize {
    outputs * w.channels * w.window_len()
}

/// Parameters: the kernel, then one bias per output channel.
pub(crate) const fn param_count(w: &Window, outputs: usize) -> usize {
    weight_count(w, outputs) + outputs
}

/// Working space: the sliding windows of one sample over all channels,
/// and (pooling) their gradient.
pub(crate) const fn cols_len(w: &Window, pool: bool) -> usize {
    if pool {
        w.cols_len().saturating_mul(2)
    } else {
        w.cols_len()
    }
}

/// Sample `r`'s windows: im2col of its row of `input` into `cols`.
fn sample_windows<B: Backend>(
    net: &mut Network<'_, B>,
    (input, r): (Span, usize),
    cols: Span,
    w: &Window,
    layout: ColLayout,
) -> Result<(), B> {
    let image = w.image_len();
    net.exec(&Op::Im2col(op::Im2col {
        x: input.slice(r * image, image),
        cols,
        rows: 1,
        window: *w,
        layout,
    }))
}

/// Sample `r`'s row of `dx` += col2im(`cols`).
fn sample_unwindow<B: Backend>(
    net: &mut Network<'_, B>,
    cols: Span,
    (dx, r): (Span, usize),
    w: &Window,
    layout: ColLayout,
) -> Result<(), B> {
    let image = w.image_len();
    net.exec(&Op::Col2im(op::Col2im {
        cols,
        x: dx.slice(r * image, image),
        rows: 1,
        window: *w,
        layout,
    }))
}

/// `dst[i] = value`.
fn fill<B: Backend>(net: &mut Network<'_, B>, dst: Span, value: B::Elem) -> Result<(), B> {
    net.exec(&Op::Fill(op::Fill { dst, value }))
}

/// Convolution forward for `rows` rows, sample by sample (so the windows
/// take one sample's room, whatever the batch): windows, the bias
/// broadcast, the kernel gemm into the channels-first output.
pub(crate) fn forward<B: Backend>(
    net: &mut Network<'_, B>,
    s: &LayerSpans,
    rows: usize,
    w: &Window,
    outputs: usize,
) -> Result<(), B> {
    let (pos, fan_in) = (w.positions(), w.channels * w.window_len());
    let cols = net.layout().cols.prefix(pos * fan_in);
    let ones = net.layout().consts.prefix(pos);
    fill(net, ones, B::Elem::ONE)?;
    let out = outputs * pos;
    for r in 0..rows {
        let y = s.output.slice(r * out, out);
        sample_windows(net, (s.input, r), cols, w, ColLayout::Conv)?;
        // y = b · 1ᵀ ([outputs × 1] · [1 × pos]), then y += W · colsᵀ.
        net.exec(&Op::Gemm(op::Gemm {
            m: outputs,
            n: pos,
            k: 1,
            a: s.bias,
            trans_a: false,
            b: ones,
            trans_b: false,
            c: y,
            alpha: B::Elem::ONE,
            beta: B::Elem::ZERO,
        }))?;
        net.exec(&Op::Gemm(op::Gemm {
            m: outputs,
            n: pos,
            k: fan_in,
            a: s.weights,
            trans_a: false,
            b: cols,
            trans_b: true,
            c: y,
            alpha: B::Elem::ONE,
            beta: B::Elem::ONE,
        }))?;
    }
    Ok(())
}

/// Convolution backward from `dy` (scratch slot `slot`, `rows × outputs ×
/// positions`), sample by sample: with `want_dx`, `dx = col2im(dyᵀ W)` into
/// the other slot (from the old `W`, before a fused update: every sample's
/// `dx` comes first); then what the layer trains: `dW += dy · cols` (the
/// windows computed again), `db += dy · 1` (fused SGD: applied to `W` and
/// `b`, the decay once). Returns the slot holding the downstream gradient.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward<B: Backend>(
    net: &mut Network<'_, B>,
    s: &LayerSpans,
    dy: Span,
    rows: usize,
    w: &Window,
    outputs: usize,
    slot: usize,
    want_dx: bool,
    fused: bool,
) -> Result<usize, B> {
    let (pos, fan_in, image) = (w.positions(), w.channels * w.window_len(), w.image_len());
    let cols = net.layout().cols.prefix(pos * fan_in);
    let ones = net.layout().consts.prefix(pos);
    let out = outputs * pos;
    let one = B::Elem::ONE;
    if want_dx {
        let dx = net.scratch(1 - slot).prefix(rows * image);
        fill(net, dx, B::Elem::ZERO)?;
        for r in 0..rows {
            // colsᵣ' = dyᵣᵀ · W: [pos × outputs] · [outputs × fan_in].
            net.exec(&Op::Gemm(op::Gemm {
                m: pos,
                n: fan_in,
                k: outputs,
                a: dy.slice(r * out, out),
                trans_a: true,
                b: s.weights,
                trans_b: false,
                c: cols,
                alpha: one,
                beta: B::Elem::ZERO,
            }))?;
            sample_unwindow(net, cols, (dx, r), w, ColLayout::Conv)?;
        }
    }
    let (train_w, train_b) = (s.train.trains_weights(), s.train.trains_biases());
    let done = Ok(if want_dx { 1 - slot } else { slot });
    if !train_b {
        return done;
    }
    fill(net, ones, one)?;
    let neg_lr = net.hyper.neg_lr;
    for r in 0..rows {
        let dyr = dy.slice(r * out, out);
        // Fused SGD: W ← decay·W − lr·Σᵣ dyᵣ colsᵣ, the decay once.
        let (cw, cb, alpha, beta) = if fused {
            let decay = if r == 0 { net.hyper.decay } else { one };
            (s.weights, s.bias, neg_lr, decay)
        } else {
            (s.dweights, s.dbias, one, one)
        };
        if train_w {
            sample_windows(net, (s.input, r), cols, w, ColLayout::Conv)?;
            net.exec(&Op::Gemm(op::Gemm {
                m: outputs,
                n: fan_in,
                k: pos,
                a: dyr,
                trans_a: false,
                b: cols,
                trans_b: false,
                c: cw,
                alpha,
                beta,
            }))?;
        }
        net.exec(&Op::Gemm(op::Gemm {
            m: outputs,
            n: 1,
            k: pos,
            a: dyr,
            trans_a: false,
            b: ones,
            trans_b: false,
            c: cb,
            alpha,
            beta: one,
        }))?;
    }
    done
}

/// Pooling forward for `rows` rows, sample by sample: each channel's
/// windows, then their maximum or mean.
pub(crate) fn pool_forward<B: Backend>(
    net: &mut Network<'_, B>,
    s: &LayerSpans,
    rows: usize,
    w: &Window,
    kind: PoolKind,
) -> Result<(), B> {
    let (units, k) = (w.channels * w.positions(), w.window_len());
    let cols = net.layout().cols.prefix(units * k);
    let mean = net.layout().consts.prefix(k);
    if kind == PoolKind::Avg {
        fill(net, mean, B::Elem::from_f64(1.0 / k as f64))?;
    }
    for r in 0..rows {
        let y = s.output.slice(r * units, units);
        sample_windows(net, (s.input, r), cols, w, ColLayout::Pool)?;
        match kind {
            PoolKind::Max => net.exec(&Op::Maxout(op::Maxout {
                x: cols,
                y,
                rows: 1,
                units,
                k,
            }))?,
            PoolKind::Avg => net.exec(&Op::Gemm(op::Gemm {
                m: units,
                n: 1,
                k,
                a: cols,
                trans_a: false,
                b: mean,
                trans_b: false,
                c: y,
                alpha: B::Elem::ONE,
                beta: B::Elem::ZERO,
            }))?,
        }
    }
    Ok(())
}

/// Pooling backward from `dy` (slot `slot`), sample by sample: with
/// `want_dx`, each window element's gradient (the first maximum's, or `dy
/// / k`), then col2im into the other slot. Returns the slot holding the
/// downstream gradient.
pub(crate) fn pool_backward<B: Backend>(
    net: &mut Network<'_, B>,
    s: &LayerSpans,
    dy: Span,
    rows: usize,
    w: &Window,
    (kind, slot, want_dx): (PoolKind, usize, bool),
) -> Result<usize, B> {
    if !want_dx {
        return Ok(slot);
    }
    let (units, k, image) = (w.channels * w.positions(), w.window_len(), w.image_len());
    let n = units * k;
    let cols = net.layout().cols.prefix(n);
    let dcols = net.layout().cols.slice(n, n);
    let mean = net.layout().consts.prefix(k);
    if kind == PoolKind::Avg {
        fill(net, mean, B::Elem::from_f64(1.0 / k as f64))?;
    }
    let dx = net.scratch(1 - slot).prefix(rows * image);
    fill(net, dx, B::Elem::ZERO)?;
    for r in 0..rows {
        let dyr = dy.slice(r * units, units);
        match kind {
            PoolKind::Max => {
                sample_windows(net, (s.input, r), cols, w, ColLayout::Pool)?;
                net.exec(&Op::MaxoutBackward(op::MaxoutBackward {
                    x: cols,
                    dy: dyr,
                    dx: dcols,
                    rows: 1,
                    units,
                    k,
                }))?;
            }
            // dcols = dy · (1/k)ᵀ: [units × 1] · [1 × k].
            PoolKind::Avg => net.exec(&Op::Gemm(op::Gemm {
                m: units,
                n: k,
                k: 1,
                a: dyr,
                trans_a: false,
                b: mean,
                trans_b: false,
                c: dcols,
                alpha: B::Elem::ONE,
                beta: B::Elem::ZERO,
            }))?,
        }
        sample_unwindow(net, dcols, (dx, r), w, ColLayout::Pool)?;
    }
    Ok(1 - slot)
}
