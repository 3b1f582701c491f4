//! Plain scalar reference kernels, one per [`Op`](microprop_hal::Op).
//!
//! Each function is the executable form of the doc comment on its op in
//! `microprop-hal`, written as simply as possible: index loops in the order
//! the formula is written, accumulation in the element type. Faster kernels
//! (and other backends) are tested against these.
//!
//! The functions take separate slices; where an op allows an output to be
//! exactly an input, an `_in_place` variant takes one slice for both.
//! Every function checks its slice lengths against its dimensions first and
//! returns [`OpError::Shape`] on a mismatch, before writing anything, so none
//! of them can panic and a rejected call changes nothing.
//!
//! Conventions where the op's formula is undefined:
//! - a mean over zero rows (or, for MSE, zero elements) is `0`;
//! - maxout with `k == 0` pieces outputs `-∞` (the maximum of nothing);
//! - a label that is not an integer in `0..cols` (see [`label`]) contributes
//!   neither loss, gradient nor a correct count, but its row still counts in
//!   the mean.

use microprop_hal::op::{ColLayout, Window};
use microprop_hal::{Activation, LossKind, OpError};

use crate::Float;

/// `Ok` when `got == expected`; `expected == None` means the dimensions
/// overflowed `usize` (which no slice can match).
pub(crate) fn check(
    op: &'static str,
    operand: &'static str,
    got: usize,
    expected: Option<usize>,
) -> Result<(), OpError> {
    match expected {
        Some(e) if e == got => Ok(()),
        _ => Err(OpError::Shape {
            op,
            operand,
            expected: expected.unwrap_or(usize::MAX),
            got,
        }),
    }
}

/// The class index a label element carries ([`Element::to_index`]):
/// `Some(i)` when `i < cols`, `None` otherwise. The element's bits are the
/// index, so every `u32` is exact (no float-to-integer conversion).
///
/// [`Element::to_index`]: microprop_hal::Element::to_index
pub fn label<E: Float>(v: E, cols: usize) -> Option<usize> {
    let i = usize::try_from(v.to_index()?).ok()?;
    if i < cols {
        Some(i)
    } else {
        None
    }
}

/// `dst[i] = value`.
pub fn fill<E: Float>(dst: &mut [E], value: E) {
    if value.to_f64().to_bits() == 0 {
        // +0.0 is all zero bits: written as the constant, the loop becomes
        // a `memset` (zero_grad on a Cortex-M: a word per store-multiple
        // lane instead of a store and a branch per element).
        dst.fill(E::ZERO);
    } else {
        dst.fill(value);
    }
}

/// `dst[i] = src[i]`.
pub fn copy<E: Float>(src: &[E], dst: &mut [E]) -> Result<(), OpError> {
    check("copy", "src", src.len(), Some(dst.len()))?;
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s;
    }
    Ok(())
}

/// `y[i] += alpha · x[i]`: an update of `y`, so the product is
/// [`Float::scale_update`]'s (stochastically rounded in fixed point; fused
/// SGD's bias step is an `axpy`).
pub fn axpy<E: Float>(alpha: E, x: &[E], y: &mut [E]) -> Result<(), OpError> {
    check("axpy", "x", x.len(), Some(y.len()))?;
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += E::scale_update(alpha, *xi, *yi);
    }
    Ok(())
}

/// `scale · Σ x[i]²` (the op adds this to, or writes it into, `out[0]`).
pub fn sum_squares<E: Float>(x: &[E], scale: E) -> E {
    let mut s = E::ACC_ZERO;
    for v in x {
        s = E::acc_mac(s, *v, *v);
    }
    E::acc_finish(s, scale, E::ZERO, E::ZERO)
}

/// One piece of L2-SP (the `anchor` op) in one pass: `d[i] = anchor[i] −
/// w[i]` is written into `anchor`, `grad[i] += alpha · d[i]` unless `grad`
/// is empty (no gradient wanted); returns `scale · Σ d[i]²` (the op adds it
/// to `out[0]` when it has one). The same arithmetic, in the same order, as
/// the op's decomposition (axpy, sum of squares, axpy).
pub fn anchor<E: Float>(
    w: &[E],
    anchor: &mut [E],
    grad: &mut [E],
    scale: E,
    alpha: E,
) -> Result<E, OpError> {
    check("anchor", "w", w.len(), Some(anchor.len()))?;
    let mut s = E::ACC_ZERO;
    if grad.is_empty() {
        for (a, wi) in anchor.iter_mut().zip(w) {
            let d = *a - *wi;
            *a = d;
            s = E::acc_mac(s, d, d);
        }
    } else {
        check("anchor", "grad", grad.len(), Some(anchor.len()))?;
        for ((a, wi), g) in anchor.iter_mut().zip(w).zip(grad.iter_mut()) {
            let d = *a - *wi;
            *a = d;
            s = E::acc_mac(s, d, d);
            *g += E::scale_update(alpha, d, *g);
        }
    }
    Ok(E::acc_finish(s, scale, E::ZERO, E::ZERO))
}

/// `C = alpha · op(A) · op(B) + beta · C`, row-major; `op(A)` is `m × k`
/// (stored `k × m` when `trans_a`), `op(B)` is `k × n` (stored `n × k` when
/// `trans_b`), `C` is `m × n`. When `beta == 0` the old `C` is not read, so
/// NaN there does not propagate.
#[allow(clippy::too_many_arguments)]
pub fn gemm<E: Float>(
    m: usize,
    n: usize,
    k: usize,
    a: &[E],
    trans_a: bool,
    b: &[E],
    trans_b: bool,
    c: &mut [E],
    alpha: E,
    beta: E,
) -> Result<(), OpError> {
    check("gemm", "a", a.len(), m.checked_mul(k))?;
    check("gemm", "b", b.len(), k.checked_mul(n))?;
    check("gemm", "c", c.len(), m.checked_mul(n))?;
    if c.is_empty() {
        return Ok(());
    }
    // Indexed through `get`, one check per element as `[]` did: the lengths
    // are checked above, so the error is unreachable, but no panic path is
    // left for the firmware's `panic-never` link check.
    for i in 0..m {
        for j in 0..n {
            let mut acc = E::ACC_ZERO;
            for p in 0..k {
                let aip = if trans_a {
                    a.get(p * m + i)
                } else {
                    a.get(i * k + p)
                };
                let bpj = if trans_b {
                    b.get(j * k + p)
                } else {
                    b.get(p * n + j)
                };
                let (Some(x), Some(y)) = (aip, bpj) else {
                    return Err(GEMM_INDEX);
                };
                acc = E::acc_mac(acc, *x, *y);
            }
            let Some(cij) = c.get_mut(i * n + j) else {
                return Err(GEMM_INDEX);
            };
            *cij = E::acc_finish(acc, alpha, beta, *cij);
        }
    }
    Ok(())
}

/// What the gemm kernels return for an index past an operand: unreachable,
/// since `gemm` checks every operand's length first, but returned rather than
/// carrying a panic path that LLVM cannot remove (the firmware's
/// `panic-never` link check). A constant so that the failure branch costs
/// nothing in the loops.
pub(crate) const GEMM_INDEX: OpError = OpError::Shape {
    op: "gemm",
    operand: "index past the checked length",
    expected: 0,
    got: 0,
};

/// `out[r][c] += bias[c]` for a `rows × cols` `out`.
pub fn bias_add<E: Float>(
    rows: usize,
    cols: usize,
    bias: &[E],
    out: &mut [E],
) -> Result<(), OpError> {
    check("bias_add", "bias", bias.len(), Some(cols))?;
    check("bias_add", "out", out.len(), rows.checked_mul(cols))?;
    if cols == 0 {
        return Ok(());
    }
    for row in out.chunks_exact_mut(cols) {
        for (o, b) in row.iter_mut().zip(bias) {
            *o += *b;
        }
    }
    Ok(())
}

/// `dbias[c] += Σ_r dout[r][c]` (accumulates).
pub fn bias_grad<E: Float>(
    rows: usize,
    cols: usize,
    dout: &[E],
    dbias: &mut [E],
) -> Result<(), OpError> {
    check("bias_grad", "dout", dout.len(), rows.checked_mul(cols))?;
    check("bias_grad", "dbias", dbias.len(), Some(cols))?;
    if cols == 0 {
        return Ok(());
    }
    for row in dout.chunks_exact(cols) {
        for (d, g) in dbias.iter_mut().zip(row) {
            *d += *g;
        }
    }
    Ok(())
}

/// `f(x)` for one element.
#[inline(always)]
pub fn activation<E: Float>(act: Activation<E>, x: E) -> E {
    match act {
        Activation::Identity => x,
        Activation::Sigmoid => x.sigmoid(),
        Activation::Tanh => x.tanh(),
        Activation::Relu => {
            if x > E::ZERO {
                x
            } else {
                E::ZERO
            }
        }
        Activation::LeakyRelu { slope } => {
            if x > E::ZERO {
                x
            } else {
                slope * x
            }
        }
        Activation::Elu { alpha } => {
            if x > E::ZERO {
                x
            } else {
                alpha * x.exp_m1()
            }
        }
        Activation::Softplus => x.softplus(),
    }
}

/// `f'(x)` for one element, given `x` and `y = f(x)` (each function uses the
/// form written on [`Activation`]).
#[inline(always)]
pub fn activation_derivative<E: Float>(act: Activation<E>, x: E, y: E) -> E {
    match act {
        Activation::Identity => E::ONE,
        Activation::Sigmoid => y * (E::ONE - y),
        Activation::Tanh => E::ONE - y * y,
        Activation::Relu => {
            if x > E::ZERO {
                E::ONE
            } else {
                E::ZERO
            }
        }
        Activation::LeakyRelu { slope } => {
            if x > E::ZERO {
                E::ONE
            } else {
                slope
            }
        }
        Activation::Elu { alpha } => {
            if x > E::ZERO {
                E::ONE
            } else {
                y + alpha
            }
        }
        Activation::Softplus => x.sigmoid(),
    }
}

/// `y[i] = f(x[i])`.
#[inline(always)]
pub fn activate<E: Float>(act: Activation<E>, x: &[E], y: &mut [E]) -> Result<(), OpError> {
    check("activate", "x", x.len(), Some(y.len()))?;
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi = activation(act, *xi);
    }
    Ok(())
}

/// `xy[i] = f(xy[i])` (the op with `y == x`).
#[inline(always)]
pub fn activate_in_place<E: Float>(act: Activation<E>, xy: &mut [E]) {
    for v in xy.iter_mut() {
        *v = activation(act, *v);
    }
}

/// `x[r][c] += bias[c]`, then `y[r][c] = f(x[r][c])`: the definition of
/// [`Op::BiasActivate`](microprop_hal::Op::BiasActivate), as its two passes
/// [`bias_add`] then [`activate`].
pub fn bias_activate<E: Float>(
    act: Activation<E>,
    rows: usize,
    cols: usize,
    bias: &[E],
    x: &mut [E],
    y: &mut [E],
) -> Result<(), OpError> {
    check("bias_activate", "y", y.len(), rows.checked_mul(cols))?;
    bias_add(rows, cols, bias, x)?;
    activate(act, x, y)
}

/// [`bias_activate`] with `y == x`: `xy[r][c] = f(xy[r][c] + bias[c])`.
pub fn bias_activate_in_place<E: Float>(
    act: Activation<E>,
    rows: usize,
    cols: usize,
    bias: &[E],
    xy: &mut [E],
) -> Result<(), OpError> {
    bias_add(rows, cols, bias, xy)?;
    activate_in_place(act, xy);
    Ok(())
}

/// `dx[i] = f'(x[i]) · dy[i]`.
#[inline(always)]
pub fn activate_backward<E: Float>(
    act: Activation<E>,
    x: &[E],
    y: &[E],
    dy: &[E],
    dx: &mut [E],
) -> Result<(), OpError> {
    check("activate_backward", "x", x.len(), Some(dx.len()))?;
    check("activate_backward", "y", y.len(), Some(dx.len()))?;
    check("activate_backward", "dy", dy.len(), Some(dx.len()))?;
    copy(dy, dx)?;
    activate_backward_in_place(act, x, y, dx)
}

/// `d[i] = f'(x[i]) · d[i]`: the op with `dx == dy`; `d` holds `dy` on entry
/// and `dx` on return.
#[inline(always)]
pub fn activate_backward_in_place<E: Float>(
    act: Activation<E>,
    x: &[E],
    y: &[E],
    d: &mut [E],
) -> Result<(), OpError> {
    check("activate_backward", "x", x.len(), Some(d.len()))?;
    check("activate_backward", "y", y.len(), Some(d.len()))?;
    for ((di, xi), yi) in d.iter_mut().zip(x).zip(y) {
        *di = activation_derivative(act, *xi, *yi) * *di;
    }
    Ok(())
}

/// Row-wise softmax of a `rows × cols` `x` into `y`.
pub fn softmax<E: Float>(rows: usize, cols: usize, x: &[E], y: &mut [E]) -> Result<(), OpError> {
    check("softmax", "x", x.len(), rows.checked_mul(cols))?;
    check("softmax", "y", y.len(), rows.checked_mul(cols))?;
    copy(x, y)?;
    softmax_in_place(rows, cols, y)
}

/// Row-wise softmax in place: the row maximum is subtracted before `exp`, so
/// no logit overflows.
pub fn softmax_in_place<E: Float>(rows: usize, cols: usize, xy: &mut [E]) -> Result<(), OpError> {
    check("softmax", "x", xy.len(), rows.checked_mul(cols))?;
    if cols == 0 {
        return Ok(());
    }
    for row in xy.chunks_exact_mut(cols) {
        let mut max = row[0];
        for v in row.iter() {
            max = max.max(*v);
        }
        let mut sum = E::ACC_ZERO;
        for v in row.iter_mut() {
            *v = (*v - max).exp();
            sum = E::acc_add(sum, *v);
        }
        for v in row.iter_mut() {
            *v = E::acc_div(*v, sum);
        }
    }
    Ok(())
}

/// Row-wise log-softmax: `y = x - m - ln Σ e^(x - m)` with `m` the row
/// maximum, so no logit overflows.
pub fn log_softmax<E: Float>(
    rows: usize,
    cols: usize,
    x: &[E],
    y: &mut [E],
) -> Result<(), OpError> {
    check("log_softmax", "x", x.len(), rows.checked_mul(cols))?;
    check("log_softmax", "y", y.len(), rows.checked_mul(cols))?;
    copy(x, y)?;
    log_softmax_in_place(rows, cols, y)
}

/// Row-wise log-softmax in place.
pub fn log_softmax_in_place<E: Float>(
    rows: usize,
    cols: usize,
    xy: &mut [E],
) -> Result<(), OpError> {
    check("log_softmax", "x", xy.len(), rows.checked_mul(cols))?;
    if cols == 0 {
        return Ok(());
    }
    for row in xy.chunks_exact_mut(cols) {
        let Some(&first) = row.first() else { continue };
        let mut max = first;
        for v in row.iter() {
            max = max.max(*v);
        }
        let mut sum = E::ACC_ZERO;
        for v in row.iter() {
            sum = E::acc_add(sum, (*v - max).exp());
        }
        let lse = E::acc_ln(sum);
        for v in row.iter_mut() {
            *v = *v - max - lse;
        }
    }
    Ok(())
}

/// `y[r][c] = value` where `labels[r]` carries the class `c` (see [`label`]),
/// `0` elsewhere.
pub fn one_hot<E: Float>(
    rows: usize,
    cols: usize,
    labels: &[E],
    y: &mut [E],
    value: E,
) -> Result<(), OpError> {
    check("one_hot", "labels", labels.len(), Some(rows))?;
    check("one_hot", "y", y.len(), rows.checked_mul(cols))?;
    if cols == 0 {
        return Ok(());
    }
    for (row, t) in y.chunks_exact_mut(cols).zip(labels) {
        let t = label(*t, cols);
        for (c, v) in row.iter_mut().enumerate() {
            *v = if Some(c) == t { value } else { E::ZERO };
        }
    }
    Ok(())
}

/// Softmax backward: `dx[r][j] = y[r][j] (dy[r][j] - Σ_i dy[r][i] y[r][i])`.
pub fn softmax_backward<E: Float>(
    rows: usize,
    cols: usize,
    y: &[E],
    dy: &[E],
    dx: &mut [E],
) -> Result<(), OpError> {
    check("softmax_backward", "y", y.len(), rows.checked_mul(cols))?;
    check("softmax_backward", "dy", dy.len(), rows.checked_mul(cols))?;
    check("softmax_backward", "dx", dx.len(), rows.checked_mul(cols))?;
    copy(dy, dx)?;
    softmax_backward_in_place(rows, cols, y, dx)
}

/// Softmax backward with `dx == dy`: `d` holds `dy` on entry and `dx` on
/// return.
pub fn softmax_backward_in_place<E: Float>(
    rows: usize,
    cols: usize,
    y: &[E],
    d: &mut [E],
) -> Result<(), OpError> {
    check("softmax_backward", "y", y.len(), rows.checked_mul(cols))?;
    check("softmax_backward", "dy", d.len(), rows.checked_mul(cols))?;
    if cols == 0 {
        return Ok(());
    }
    for (drow, yrow) in d.chunks_exact_mut(cols).zip(y.chunks_exact(cols)) {
        let mut dot = E::ZERO;
        for (di, yi) in drow.iter().zip(yrow) {
            dot += *di * *yi;
        }
        for (di, yi) in drow.iter_mut().zip(yrow) {
            *di = *yi * (*di - dot);
        }
    }
    Ok(())
}

/// Index (within `0..piece.len()`) of the first maximum of `piece`; `None`
/// when empty.
fn first_argmax<E: Float>(piece: &[E]) -> Option<usize> {
    let mut best: Option<(usize, E)> = None;
    for (j, v) in piece.iter().enumerate() {
        let better = match best {
            None => true,
            Some((_, b)) => *v > b,
        };
        if better {
            best = Some((j, *v));
        }
    }
    best.map(|(j, _)| j)
}

/// Maxout: `y[r][u] = max_j x[r][u·k + j]` for `j < k`.
pub fn maxout<E: Float>(
    rows: usize,
    units: usize,
    k: usize,
    x: &[E],
    y: &mut [E],
) -> Result<(), OpError> {
    // As `Op::validate` computes it (saturating, 0 rows make it 0).
    let xlen = Some(rows.saturating_mul(units.saturating_mul(k)));
    check("maxout", "x", x.len(), xlen)?;
    check("maxout", "y", y.len(), rows.checked_mul(units))?;
    if k == 0 {
        fill(y, E::NEG_INFINITY);
        return Ok(());
    }
    for (yi, piece) in y.iter_mut().zip(x.chunks_exact(k)) {
        *yi = match first_argmax(piece).and_then(|j| piece.get(j)) {
            Some(v) => *v,
            None => E::NEG_INFINITY,
        };
    }
    Ok(())
}

/// Maxout backward: `dx[r][u·k + j] = dy[r][u]` for the first `j` that
/// attains the maximum of the unit's pieces, `0` for the other pieces.
pub fn maxout_backward<E: Float>(
    rows: usize,
    units: usize,
    k: usize,
    x: &[E],
    dy: &[E],
    dx: &mut [E],
) -> Result<(), OpError> {
    // As `Op::validate` computes it (saturating, 0 rows make it 0).
    let xlen = Some(rows.saturating_mul(units.saturating_mul(k)));
    check("maxout_backward", "x", x.len(), xlen)?;
    check("maxout_backward", "dy", dy.len(), rows.checked_mul(units))?;
    check("maxout_backward", "dx", dx.len(), xlen)?;
    if k == 0 {
        return Ok(());
    }
    for ((dpiece, piece), g) in dx.chunks_exact_mut(k).zip(x.chunks_exact(k)).zip(dy) {
        let arg = first_argmax(piece);
        for (j, d) in dpiece.iter_mut().enumerate() {
            *d = if Some(j) == arg { *g } else { E::ZERO };
        }
    }
    Ok(())
}

/// The mean loss of `pred` against `target` (see [`LossKind`]); when `grad`
/// is given it is overwritten with `dL/dpred`.
///
/// Softmax cross-entropy uses log-sum-exp (the row maximum is subtracted
/// before `exp`), so logits of any finite size give a finite loss and
/// gradient. The hinge gradient is the CS231n subgradient: `+1/rows` for
/// each class whose margin is positive, minus their count on the true class.
#[inline(always)]
pub fn loss<E: Float>(
    kind: LossKind<E>,
    rows: usize,
    cols: usize,
    pred: &[E],
    target: &[E],
    mut grad: Option<&mut [E]>,
) -> Result<E, OpError> {
    let n = rows.checked_mul(cols);
    check("loss", "pred", pred.len(), n)?;
    let tlen = if kind.uses_labels() { Some(rows) } else { n };
    check("loss", "target", target.len(), tlen)?;
    if let Some(g) = grad.as_deref_mut() {
        check("loss", "grad", g.len(), n)?;
        fill(g, E::ZERO);
    }
    if pred.is_empty() || rows == 0 {
        return Ok(E::ZERO);
    }
    match kind {
        LossKind::Mse => {
            let count = pred.len();
            let two = E::ONE + E::ONE;
            let mut sum = E::ACC_ZERO;
            for (p, t) in pred.iter().zip(target) {
                let d = *p - *t;
                sum = E::acc_mac(sum, d, d);
            }
            if let Some(g) = grad {
                for ((gi, p), t) in g.iter_mut().zip(pred).zip(target) {
                    *gi = (two * (*p - *t)).div_usize(count);
                }
            }
            Ok(E::acc_mean(sum, count))
        }
        LossKind::SoftmaxCrossEntropy => {
            let mut sum = E::ACC_ZERO;
            // `cols >= 1` here (pred is not empty); `max(1)` and `get` keep
            // the firmware free of panic paths without changing a result.
            for (r, (prow, t)) in pred.chunks_exact(cols.max(1)).zip(target).enumerate() {
                let Some(t) = label(*t, cols) else { continue };
                let (Some(&first), Some(&truth)) = (prow.first(), prow.get(t)) else {
                    continue;
                };
                let mut max = first;
                for v in prow {
                    max = max.max(*v);
                }
                let start = r * cols;
                let grow = grad
                    .as_deref_mut()
                    .and_then(|g| g.get_mut(start..start + cols));
                let mut se = E::ACC_ZERO;
                if let Some(grow) = grow {
                    // Each `e^(v − max)` once: kept in the gradient's row
                    // until the sum is known.
                    for (gi, v) in grow.iter_mut().zip(prow) {
                        *gi = (*v - max).exp();
                        se = E::acc_add(se, *gi);
                    }
                    for (j, gi) in grow.iter_mut().enumerate() {
                        let p = E::acc_div(*gi, se);
                        let onehot = if j == t { E::ONE } else { E::ZERO };
                        *gi = (p - onehot).div_usize(rows);
                    }
                } else {
                    for v in prow {
                        se = E::acc_add(se, (*v - max).exp());
                    }
                }
                let lse = max + E::acc_ln(se);
                sum = E::acc_add(sum, lse - truth);
            }
            Ok(E::acc_mean(sum, rows))
        }
        LossKind::Hinge { margin } => {
            let mut sum = E::ACC_ZERO;
            for (r, (prow, t)) in pred.chunks_exact(cols.max(1)).zip(target).enumerate() {
                let Some(t) = label(*t, cols) else { continue };
                let Some(&truth) = prow.get(t) else { continue };
                let mut active = 0usize;
                for (j, v) in prow.iter().enumerate() {
                    if j == t {
                        continue;
                    }
                    let marg = *v - truth + margin;
                    if marg > E::ZERO {
                        sum = E::acc_add(sum, marg);
                        active += 1;
                        if let Some(gi) = grad.as_deref_mut().and_then(|g| g.get_mut(r * cols + j))
                        {
                            *gi = E::ONE.div_usize(rows);
                        }
                    }
                }
                if let Some(gi) = grad.as_deref_mut().and_then(|g| g.get_mut(r * cols + t)) {
                    *gi = (-E::from_usize(active)).div_usize(rows);
                }
            }
            Ok(E::acc_mean(sum, rows))
        }
    }
}

/// `#{r : argmax_j pred[r][j] == target[r]}` with the first maximum on ties
/// (the op adds this to `out[0]`).
pub fn count_correct<E: Float>(
    rows: usize,
    cols: usize,
    pred: &[E],
    target: &[E],
) -> Result<usize, OpError> {
    check("count_correct", "pred", pred.len(), rows.checked_mul(cols))?;
    check("count_correct", "target", target.len(), Some(rows))?;
    if cols == 0 {
        return Ok(0);
    }
    let mut correct = 0;
    for (prow, t) in pred.chunks_exact(cols).zip(target) {
        if let (Some(t), Some(arg)) = (label(*t, cols), first_argmax(prow)) {
            if t == arg {
                correct += 1;
            }
        }
    }
    Ok(correct)
}

/// `param[i] -= lr · grad[i]` (the product by [`Float::scale_update`]).
pub fn sgd_step<E: Float>(lr: E, param: &mut [E], grad: &[E]) -> Result<(), OpError> {
    check("sgd_step", "grad", grad.len(), Some(param.len()))?;
    for (p, g) in param.iter_mut().zip(grad) {
        *p -= E::scale_update(lr, *g, *p);
    }
    Ok(())
}

/// SGD with momentum, PyTorch's form: `v = momentum · v + g`,
/// `param -= lr · v` (the product by [`Float::scale_update`]).
pub fn momentum_step<E: Float>(
    lr: E,
    momentum: E,
    param: &mut [E],
    grad: &[E],
    velocity: &mut [E],
) -> Result<(), OpError> {
    check("momentum_step", "grad", grad.len(), Some(param.len()))?;
    check(
        "momentum_step",
        "velocity",
        velocity.len(),
        Some(param.len()),
    )?;
    for ((p, g), v) in param.iter_mut().zip(grad).zip(velocity.iter_mut()) {
        *v = momentum * *v + *g;
        *p -= E::scale_update(lr, *v, *p);
    }
    Ok(())
}

/// Adam's hyperparameters for one step (see [`adam_step`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamParams<E> {
    /// Learning rate.
    pub lr: E,
    /// β1.
    pub beta1: E,
    /// β2.
    pub beta2: E,
    /// ε.
    pub eps: E,
    /// `1 - β1^t`.
    pub bias1: E,
    /// `1 - β2^t`.
    pub bias2: E,
}

/// Adam with bias correction: `m = β1 m + (1-β1) g`, `v = β2 v + (1-β2) g²`,
/// `param -= lr · (m / bias1) / (sqrt(v / bias2) + eps)`.
pub fn adam_step<E: Float>(
    h: AdamParams<E>,
    param: &mut [E],
    grad: &[E],
    m: &mut [E],
    v: &mut [E],
) -> Result<(), OpError> {
    adam_step_with(h, param, grad, m, v, E::sqrt)
}

/// [`adam_step`] with the square root `sqrt` (the fast kernel passes
/// [`Float::sqrt_fast`]).
#[inline(always)]
pub(crate) fn adam_step_with<E: Float>(
    h: AdamParams<E>,
    param: &mut [E],
    grad: &[E],
    m: &mut [E],
    v: &mut [E],
    sqrt: impl Fn(E) -> E,
) -> Result<(), OpError> {
    check("adam_step", "grad", grad.len(), Some(param.len()))?;
    check("adam_step", "m", m.len(), Some(param.len()))?;
    check("adam_step", "v", v.len(), Some(param.len()))?;
    let it = param
        .iter_mut()
        .zip(grad)
        .zip(m.iter_mut())
        .zip(v.iter_mut());
    for (((p, g), mi), vi) in it {
        adam_one(h, p, *g, mi, vi, &sqrt);
    }
    Ok(())
}

/// [`adam_step`] on one parameter: the formula every Adam kernel runs.
#[inline(always)]
pub(crate) fn adam_one<E: Float>(
    h: AdamParams<E>,
    p: &mut E,
    g: E,
    mi: &mut E,
    vi: &mut E,
    sqrt: &impl Fn(E) -> E,
) {
    *mi = h.beta1 * *mi + (E::ONE - h.beta1) * g;
    *vi = h.beta2 * *vi + (E::ONE - h.beta2) * g * g;
    let mhat = *mi / h.bias1;
    let vhat = *vi / h.bias2;
    *p -= h.lr * mhat / (sqrt(vhat) + h.eps);
}

fn dot<E: Float>(a: &[E], b: &[E]) -> E {
    let mut s = E::ZERO;
    for (x, y) in a.iter().zip(b) {
        s += *x * *y;
    }
    s
}

/// One epoch of the perceptron rule in row order; returns the number of
/// mistakes (the op adds it to `stats[0]`). For each row `r`: `s = w · x_r`;
/// if `labels[r] · s ≤ 0` then `w += labels[r] · x_r`. When `average` is
/// given, `average += w` after each row.
pub fn perceptron_epoch<E: Float>(
    rows: usize,
    cols: usize,
    weights: &mut [E],
    samples: &[E],
    labels: &[E],
    mut average: Option<&mut [E]>,
) -> Result<usize, OpError> {
    check("perceptron_epoch", "weights", weights.len(), Some(cols))?;
    check(
        "perceptron_epoch",
        "samples",
        samples.len(),
        rows.checked_mul(cols),
    )?;
    check("perceptron_epoch", "labels", labels.len(), Some(rows))?;
    if let Some(avg) = average.as_deref() {
        check("perceptron_epoch", "average", avg.len(), Some(cols))?;
    }
    let mut mistakes = 0;
    for (r, &yl) in labels.iter().enumerate() {
        let Some(x) = samples.get(r * cols..(r + 1) * cols) else {
            break;
        };
        if yl * dot(weights, x) <= E::ZERO {
            for (w, xi) in weights.iter_mut().zip(x) {
                *w += yl * *xi;
            }
            mistakes += 1;
        }
        if let Some(avg) = average.as_deref_mut() {
            for (a, w) in avg.iter_mut().zip(weights.iter()) {
                *a += *w;
            }
        }
    }
    Ok(mistakes)
}

/// `#{r : labels[r] · (w · x_r) ≤ 0}`: the perceptron's mistakes for fixed
/// weights.
pub fn perceptron_errors<E: Float>(
    rows: usize,
    cols: usize,
    weights: &[E],
    samples: &[E],
    labels: &[E],
) -> Result<usize, OpError> {
    check("perceptron_errors", "weights", weights.len(), Some(cols))?;
    check(
        "perceptron_errors",
        "samples",
        samples.len(),
        rows.checked_mul(cols),
    )?;
    check("perceptron_errors", "labels", labels.len(), Some(rows))?;
    let mut errors = 0;
    for (r, &yl) in labels.iter().enumerate() {
        let Some(x) = samples.get(r * cols..(r + 1) * cols) else {
            break;
        };
        if yl * dot(weights, x) <= E::ZERO {
            errors += 1;
        }
    }
    Ok(errors)
}

/// Visit every window element of `rows` images: `f(image index, cols
/// index)` for each element inside the image (the image index is `None`
/// for an element of the padding). Indices follow the `Im2col` op's
/// layout; `rows · window.cols_len()` calls in all.
fn windows(w: &Window, layout: ColLayout, rows: usize, mut f: impl FnMut(Option<usize>, usize)) {
    let (out_h, out_w) = (w.out_h(), w.out_w());
    for r in 0..rows {
        for c in 0..w.channels {
            let image = (r * w.channels + c) * w.height;
            for oy in 0..out_h {
                for ox in 0..out_w {
                    let p = oy * out_w + ox;
                    let base = layout.index(w, r, p, c, 0);
                    for i in 0..w.kh {
                        // Row in the padded image, then in the image.
                        let y = (oy * w.stride + i)
                            .checked_sub(w.pad_h)
                            .filter(|&y| y < w.height);
                        for j in 0..w.kw {
                            let x = (ox * w.stride + j)
                                .checked_sub(w.pad_w)
                                .filter(|&x| x < w.width);
                            let at = match (y, x) {
                                (Some(y), Some(x)) => Some((image + y) * w.width + x),
                                _ => None,
                            };
                            f(at, base + i * w.kw + j);
                        }
                    }
                }
            }
        }
    }
}

/// `cols = im2col(x)` over `rows` images (the `Im2col` op): padding
/// elements are 0.
pub fn im2col<E: Float>(
    w: &Window,
    layout: ColLayout,
    rows: usize,
    x: &[E],
    cols: &mut [E],
) -> Result<(), OpError> {
    check(
        "im2col",
        "x",
        x.len(),
        Some(rows.saturating_mul(w.image_len())),
    )?;
    check(
        "im2col",
        "cols",
        cols.len(),
        Some(rows.saturating_mul(w.cols_len())),
    )?;
    windows(w, layout, rows, |at, i| {
        if let Some(o) = cols.get_mut(i) {
            *o = at.and_then(|a| x.get(a)).copied().unwrap_or(E::ZERO);
        }
    });
    Ok(())
}

/// `x += col2im(cols)` over `rows` images (the `Col2im` op): each window
/// element is added to the image element it came from; padding elements
/// are dropped.
pub fn col2im<E: Float>(
    w: &Window,
    layout: ColLayout,
    rows: usize,
    cols: &[E],
    x: &mut [E],
) -> Result<(), OpError> {
    check(
        "col2im",
        "x",
        x.len(),
        Some(rows.saturating_mul(w.image_len())),
    )?;
    check(
        "col2im",
        "cols",
        cols.len(),
        Some(rows.saturating_mul(w.cols_len())),
    )?;
    windows(w, layout, rows, |at, i| {
        if let (Some(a), Some(&v)) = (at, cols.get(i)) {
            if let Some(o) = x.get_mut(a) {
                *o += v;
            }
        }
    });
    Ok(())
}
