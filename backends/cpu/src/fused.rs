//! The default kernel of [`Op::BiasActivate`](microprop_hal::Op::BiasActivate):
//! bias add and activation in one pass over the layer output.
//!
//! [`crate::reference::bias_activate`] is the definition (two passes: bias add, then
//! activate). Here each element is read once: `z = x + b` is kept in a
//! register, written back to `x` (backward reads the pre-activation) and `f(z)`
//! to `y`. The `match` on the activation is hoisted out of the loop: each arm
//! runs the loop with a closure that calls [`crate::reference::activation`] on a
//! constant variant, so after inlining the loop body has no branch on the
//! activation, and every result is bit-for-bit the reference's.

use microprop_hal::{Activation, OpError};

use crate::math::Float;
use crate::reference::{self, activation};

/// Run `body(f)` with `f = |z| activation(act, z)`, specialised per variant.
macro_rules! per_activation {
    ($act:expr, $body:ident ( $($arg:expr),* )) => {
        match $act {
            Activation::Identity => $body($($arg,)* |z| activation(Activation::Identity, z)),
            Activation::Sigmoid => $body($($arg,)* |z| activation(Activation::Sigmoid, z)),
            Activation::Tanh => $body($($arg,)* |z| activation(Activation::Tanh, z)),
            Activation::Relu => $body($($arg,)* |z| activation(Activation::Relu, z)),
            Activation::LeakyRelu { slope } => {
                $body($($arg,)* move |z| activation(Activation::LeakyRelu { slope }, z))
            }
            Activation::Elu { alpha } => {
                $body($($arg,)* move |z| activation(Activation::Elu { alpha }, z))
            }
            Activation::Softplus => $body($($arg,)* |z| activation(Activation::Softplus, z)),
        }
    };
}

/// `x[r][c] += bias[c]`, `y[r][c] = f(x[r][c])`, in one pass. Inlined, so
/// that a caller with a constant activation keeps only its loop.
#[inline(always)]
pub fn bias_activate<E: Float>(
    act: Activation<E>,
    rows: usize,
    cols: usize,
    bias: &[E],
    x: &mut [E],
    y: &mut [E],
) -> Result<(), OpError> {
    check(rows, cols, bias, x.len())?;
    check(rows, cols, bias, y.len())?;
    if cols == 0 {
        return Ok(());
    }
    per_activation!(act, two(bias, x, y));
    Ok(())
}

/// [`bias_activate`] with `y == x`: `xy[r][c] = f(xy[r][c] + bias[c])`.
#[inline(always)]
pub fn bias_activate_in_place<E: Float>(
    act: Activation<E>,
    rows: usize,
    cols: usize,
    bias: &[E],
    xy: &mut [E],
) -> Result<(), OpError> {
    check(rows, cols, bias, xy.len())?;
    if cols == 0 {
        return Ok(());
    }
    per_activation!(act, one(bias, xy));
    Ok(())
}

fn check<E>(rows: usize, cols: usize, bias: &[E], len: usize) -> Result<(), OpError> {
    reference::check("bias_activate", "bias", bias.len(), Some(cols))?;
    reference::check("bias_activate", "x", len, rows.checked_mul(cols))
}

#[inline(always)]
fn two<E: Float>(bias: &[E], x: &mut [E], y: &mut [E], f: impl Fn(E) -> E) {
    let cols = bias.len();
    // Local zero check, so the optimiser sees `chunks_exact_mut` cannot panic
    // (the firmware links with the panic-never handler).
    if cols == 0 {
        return;
    }
    // `y`'s rows are split off one by one rather than zipped as a second
    // `chunks_exact_mut`: `Zip::new` of two chunk iterators divides by the
    // chunk size in a function LLVM keeps out of line, where the zero check
    // above is not visible, and that division's panic broke the link.
    let mut y_rest = y;
    for xr in x.chunks_exact_mut(cols) {
        let Some((yr, rest)) = core::mem::take(&mut y_rest).split_at_mut_checked(cols) else {
            return;
        };
        y_rest = rest;
        for ((xi, yi), b) in xr.iter_mut().zip(yr.iter_mut()).zip(bias) {
            let z = *xi + *b;
            *xi = z;
            *yi = f(z);
        }
    }
}

#[inline(always)]
fn one<E: Float>(bias: &[E], xy: &mut [E], f: impl Fn(E) -> E) {
    let cols = bias.len();
    if cols == 0 {
        return;
    }
    for row in xy.chunks_exact_mut(cols) {
        for (v, b) in row.iter_mut().zip(bias) {
            *v = f(*v + *b);
        }
    }
}

/// The fast [`Op::AdamStep`](microprop_hal::Op::AdamStep): the reference's
/// formula ([`reference::adam_step`]) with [`Float::sqrt_fast`] for the
/// square root, so each element differs from the reference by at most the
/// rounding of that ulp (on hard-float Arm by nothing). Two parameters per
/// pass: one loop counter and one set of pointer increments per two (the
/// Cortex-M compilers do not unroll it).
pub fn adam_step<E: Float>(
    h: reference::AdamParams<E>,
    param: &mut [E],
    grad: &[E],
    m: &mut [E],
    v: &mut [E],
) -> Result<(), OpError> {
    let n = param.len();
    if grad.len() != n || m.len() != n || v.len() != n {
        // The reference reports which operand is off.
        return reference::adam_step_with(h, param, grad, m, v, E::sqrt_fast);
    }
    let sqrt = E::sqrt_fast;
    let mut p2 = param.chunks_exact_mut(2);
    let mut g2 = grad.chunks_exact(2);
    let mut m2 = m.chunks_exact_mut(2);
    let mut v2 = v.chunks_exact_mut(2);
    for (((p, g), mi), vi) in (&mut p2).zip(&mut g2).zip(&mut m2).zip(&mut v2) {
        if let ([p0, p1], [g0, g1], [m0, m1], [v0, v1]) = (p, g, mi, vi) {
            reference::adam_one(h, p0, *g0, m0, v0, &sqrt);
            reference::adam_one(h, p1, *g1, m1, v1, &sqrt);
        }
    }
    reference::adam_step_with(
        h,
        p2.into_remainder(),
        g2.remainder(),
        m2.into_remainder(),
        v2.into_remainder(),
        sqrt,
    )
}
