//! Fast gemm: register-blocked and cache-blocked kernels for the three
//! transpose cases a network uses, in safe Rust that LLVM vectorises.
//!
//! `c = alpha · op(a) · op(b) + beta · c` with the semantics of
//! [`reference::gemm`] (which stays the ground
//! truth: `beta == 0` ignores `c`, even a NaN in it). Results differ from the
//! reference only by rounding: sums are taken in another order (`nt`) or
//! with fused multiply-adds (`mul_acc`). The crate's tests hold every case to
//! `|fast − ref| ≤ 4·(k+2)·ε·(|α|·Σ|a||b| + |β|·|c|)` elementwise.
//!
//! Two loop shapes, both keeping an `MR × NR` block of accumulators in
//! registers for the whole `k` loop (or one `KC` slice of it):
//!
//! - **broadcast** (`nn`: `dX = dZ·W`; `tn`: `dW = dZᵀ·X`): every step
//!   broadcasts `MR` elements of `op(a)`'s column `p` against `NR`
//!   contiguous elements of `b`'s row `p`; the `NR` loop vectorises without
//!   reassociating anything (the order of the sum over `k` is the
//!   reference's). `k` is cut into slices of `KC` so the `KC × NR` panel of
//!   `b` stays in L1 while all row blocks of `a` pass over it.
//! - **dot** (`nt`: the forward `Y = X·Wᵀ`): both operands are contiguous
//!   in `k`, so each of the `MR × NR` outputs keeps `L` partial sums (one
//!   vector register) that are added together at the end. No packing, so a
//!   batch of 1 pays nothing extra.
//!
//! Tile sizes are chosen per target: on x86_64/aarch64 `4 × 16` (broadcast)
//! and `4 × 4 × 8 lanes` (dot) for `f32` (half the lanes for `f64`), sized
//! for 16–32 vector registers. On a Cortex-M with a single-precision FPU
//! (M4F, M33: `target_abi = "eabihf"`) `4 × 4` scalar blocks over the whole
//! of `k` (module `fpu`): 16 accumulators and 8 operands fit the FPU's 32
//! single registers, every loaded operand is used four times, and the sums
//! run in the reference's order (`vmla` rounds the product and the sum as
//! the reference does), so the results are the reference's bits. On a
//! Cortex-M without an FPU (M0, soft float) `2 × 2` blocks, the shape of
//! CMSIS-DSP's `arm_mat_mult_f32`: every operand loaded is used twice.
//!
//! FMA: Rust never contracts `a * b + c`; [`Float::mul_acc`] is a fused
//! `mul_add` only when the crate's `std` feature is on *and* the build
//! enables the `fma` target feature (e.g. `RUSTFLAGS="-C target-cpu=native"`
//! as the benches document). Otherwise it is a multiply and an add, which
//! on cores with separate add pipes costs little throughput.
//!
//! The transposed-transposed case (`tt`) is not used by any network and runs
//! the reference kernel.

use microprop_hal::OpError;

use crate::{reference, reference::GEMM_INDEX, Float};

/// `k` slice of the broadcast kernel: `KC × NR` elements of `b` stay in L1.
const KC: usize = 256;

/// `c = alpha · op(a) · op(b) + beta · c`, fast. Same checks and errors as
/// [`reference::gemm`].
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
    gemm_shaped(m, n, k, a, trans_a, b, trans_b, c, alpha, beta, SHAPE)
}

/// The loop shapes of one target.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Shape {
    /// Vector tiles for 16–32 vector registers (x86_64, aarch64).
    Host,
    /// `2 × 2` scalar blocks: a Cortex-M without an FPU (M0), whose soft
    /// float calls leave few registers.
    Small,
    /// `4 × 4` scalar blocks (`2 × 2` at the edges): a Cortex-M with a
    /// single-precision FPU (M4F, M33), whose 32 registers hold 16
    /// accumulators and 8 operands; each operand loaded is used four times.
    SmallFpu,
}

/// This target's loop shapes.
const SHAPE: Shape = if !cfg!(target_arch = "arm") {
    Shape::Host
} else if cfg!(target_abi = "eabihf") {
    Shape::SmallFpu
} else {
    Shape::Small
};

/// [`gemm`] with the loop shapes `shape` (the host's tests run the Cortex-M
/// shapes too).
#[allow(clippy::too_many_arguments)]
fn gemm_shaped<E: Float>(
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
    shape: Shape,
) -> Result<(), OpError> {
    reference::check("gemm", "a", a.len(), m.checked_mul(k))?;
    reference::check("gemm", "b", b.len(), k.checked_mul(n))?;
    reference::check("gemm", "c", c.len(), m.checked_mul(n))?;
    if c.is_empty() {
        return Ok(());
    }
    let g = Dims {
        m,
        n,
        k,
        alpha,
        beta,
    };
    if E::WIDE_ACC {
        return wide(g, a, trans_a, b, trans_b, c);
    }
    match (trans_a, trans_b) {
        // a[i][p] = a[i·k + p]
        (false, false) => broadcast(g, a, k, 1, b, c, shape),
        // a[i][p] = a[p·m + i]
        (true, false) => broadcast(g, a, 1, m, b, c, shape),
        (false, true) => dot(g, a, b, c, shape),
        (true, true) => reference::gemm(m, n, k, a, trans_a, b, trans_b, c, alpha, beta),
    }
}

/// The kernel of an element with a wide accumulator ([`Float::WIDE_ACC`]:
/// fixed point): each `c[i][j]` is one exact sum of products, rounded once,
/// as in [`reference::gemm`] (so the bits are the reference's), walked with
/// a stride per operand instead of an index computation per element. Rank
/// one (`k = 1`, a batch-1 weight gradient) is an outer product over rows.
fn wide<E: Float>(
    g: Dims<E>,
    a: &[E],
    trans_a: bool,
    b: &[E],
    trans_b: bool,
    c: &mut [E],
) -> Result<(), OpError> {
    let Dims {
        m,
        n,
        k,
        alpha,
        beta,
    } = g;
    // a[i][p] = a[i·ai + p·ap], b[p][j] = b[p·bp + j·bj].
    let (ai, ap) = if trans_a { (1, m) } else { (k, 1) };
    let (bp, bj) = if trans_b { (1, k) } else { (n, 1) };
    let finish = |s: E::Acc, cij: &mut E| *cij = E::acc_finish(s, alpha, beta, *cij);
    for (i, crow) in c.chunks_exact_mut(n.max(1)).enumerate() {
        if k == 1 {
            let (Some(&x), Some(brow)) = (a.get(i * ai), b.get(..n)) else {
                return Err(GEMM_INDEX);
            };
            for (cij, &y) in crow.iter_mut().zip(brow) {
                finish(E::acc_mac(E::ACC_ZERO, x, y), cij);
            }
            continue;
        }
        for (j, cij) in crow.iter_mut().enumerate() {
            let mut acc = E::ACC_ZERO;
            if ap == 1 && bp == 1 {
                let (Some(x), Some(y)) = (a.get(i * k..i * k + k), b.get(j * k..j * k + k)) else {
                    return Err(GEMM_INDEX);
                };
                for (&x, &y) in x.iter().zip(y) {
                    acc = E::acc_mac(acc, x, y);
                }
            } else {
                let (mut x, mut y) = (i * ai, j * bj);
                for _ in 0..k {
                    let (Some(&u), Some(&v)) = (a.get(x), b.get(y)) else {
                        return Err(GEMM_INDEX);
                    };
                    acc = E::acc_mac(acc, u, v);
                    x += ap;
                    y += bp;
                }
            }
            finish(acc, cij);
        }
    }
    Ok(())
}

/// Dimensions and scalars of one gemm.
#[derive(Clone, Copy)]
struct Dims<E> {
    m: usize,
    n: usize,
    k: usize,
    alpha: E,
    beta: E,
}

/// `N` consecutive elements of `s` from `at` (one bounds check).
#[inline(always)]
fn arr<E: Float, const N: usize>(s: &[E], at: usize) -> [E; N] {
    match <&[E; N]>::try_from(&s[at..at + N]) {
        Ok(x) => *x,
        Err(_) => [E::ZERO; N],
    }
}

/// Write an `MR × NR` block: `c = alpha·acc + beta·c` (`beta == 0` ignores `c`).
#[inline(always)]
fn store<E: Float, const MR: usize, const NR: usize>(
    acc: &[[E; NR]; MR],
    c: &mut [E],
    n: usize,
    i0: usize,
    j0: usize,
    alpha: E,
    beta: E,
) {
    for (r, row) in acc.iter().enumerate() {
        let at = (i0 + r) * n + j0;
        let out = &mut c[at..at + NR];
        if beta == E::ZERO {
            for (o, x) in out.iter_mut().zip(row) {
                *o = alpha * *x;
            }
        } else {
            for (o, x) in out.iter_mut().zip(row) {
                *o = alpha * *x + beta * *o;
            }
        }
    }
}

// ------------------------------------------------------------- broadcast

/// One `MR × NR` block of `op(a) · b` over `p0..p1`, `op(a)[i][p] =
/// a[i·rs + p·cs]`, `b` row-major `k × n`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn broadcast_block<E: Float, const MR: usize, const NR: usize>(
    a: &[E],
    rs: usize,
    cs: usize,
    b: &[E],
    n: usize,
    i0: usize,
    j0: usize,
    p0: usize,
    p1: usize,
) -> [[E; NR]; MR] {
    let mut acc = [[E::ZERO; NR]; MR];
    for p in p0..p1 {
        let bp: [E; NR] = arr(b, p * n + j0);
        for (r, acc_r) in acc.iter_mut().enumerate() {
            let ap = a[(i0 + r) * rs + p * cs];
            for (x, bj) in acc_r.iter_mut().zip(bp) {
                *x = ap.mul_acc(bj, *x);
            }
        }
    }
    acc
}

/// Columns `j0 .. j0 + NR` of every row, `k` slice `p0..p1`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn broadcast_cols<E: Float, const MR: usize, const NR: usize>(
    g: Dims<E>,
    a: &[E],
    rs: usize,
    cs: usize,
    b: &[E],
    c: &mut [E],
    j0: usize,
    p0: usize,
    p1: usize,
    beta: E,
) {
    let mut i0 = 0;
    while i0 + MR <= g.m {
        let acc = broadcast_block::<E, MR, NR>(a, rs, cs, b, g.n, i0, j0, p0, p1);
        store(&acc, c, g.n, i0, j0, g.alpha, beta);
        i0 += MR;
    }
    while i0 < g.m {
        let acc = broadcast_block::<E, 1, NR>(a, rs, cs, b, g.n, i0, j0, p0, p1);
        store(&acc, c, g.n, i0, j0, g.alpha, beta);
        i0 += 1;
    }
}

/// All columns of one `k` slice: full `NR` tiles, then narrower ones.
#[allow(clippy::too_many_arguments)]
fn broadcast_slice<E: Float, const MR: usize, const NR: usize>(
    g: Dims<E>,
    a: &[E],
    rs: usize,
    cs: usize,
    b: &[E],
    c: &mut [E],
    p0: usize,
    p1: usize,
    beta: E,
) {
    let mut j0 = 0;
    while j0 + NR <= g.n {
        broadcast_cols::<E, MR, NR>(g, a, rs, cs, b, c, j0, p0, p1, beta);
        j0 += NR;
    }
    // Remainder columns: 4 at a time, then 1.
    while j0 + 4 <= g.n {
        broadcast_cols::<E, MR, 4>(g, a, rs, cs, b, c, j0, p0, p1, beta);
        j0 += 4;
    }
    while j0 < g.n {
        broadcast_cols::<E, MR, 1>(g, a, rs, cs, b, c, j0, p0, p1, beta);
        j0 += 1;
    }
}

fn broadcast<E: Float>(
    g: Dims<E>,
    a: &[E],
    rs: usize,
    cs: usize,
    b: &[E],
    c: &mut [E],
    shape: Shape,
) -> Result<(), OpError> {
    // The FPU's blocks pay for their stores over `k`: a batch-1 weight
    // gradient (`k = 1`) or a batch-1 input gradient (`m = 1`) runs the
    // row kernel, one multiply-add per element of `c`.
    if shape == Shape::SmallFpu && g.k >= 4 && g.m >= 4 {
        return fpu::broadcast(g, a, rs, cs, b, c);
    }
    // `k == 0` still runs one (empty) slice: `c = beta · c`.
    let mut p0 = 0;
    loop {
        let p1 = g.k.min(p0 + KC);
        let beta = if p0 == 0 { g.beta } else { E::ONE };
        if shape != Shape::Host {
            broadcast_rows(g, a, rs, cs, b, c, p0, p1, beta)?;
        } else if E::BYTES == 4 {
            broadcast_slice::<E, 4, 16>(g, a, rs, cs, b, c, p0, p1, beta);
        } else {
            broadcast_slice::<E, 4, 8>(g, a, rs, cs, b, c, p0, p1, beta);
        }
        p0 = p1;
        if p0 >= g.k {
            return Ok(());
        }
    }
}

/// The Cortex-M broadcast kernel: each row of `c` is scaled by `beta` once,
/// then updated with four rows of `b` per pass
/// (`c[j] += a₀b₀[j] + a₁b₁[j] + a₂b₂[j] + a₃b₃[j]`, `alpha` folded into
/// the `a`s) over zipped
/// iterators: per four multiply-accumulates one load and one store of `c`,
/// four loads of `b`, no bounds checks. A batch-1 weight gradient (`k = 1`)
/// is then one load, one multiply-accumulate and one store per element.
/// Rows of `b` and elements of `a` are taken with `get` (one check each,
/// outside the inner loop, as slicing did) so no panic path is left.
#[allow(clippy::too_many_arguments)]
fn broadcast_rows<E: Float>(
    g: Dims<E>,
    a: &[E],
    rs: usize,
    cs: usize,
    b: &[E],
    c: &mut [E],
    p0: usize,
    p1: usize,
    beta: E,
) -> Result<(), OpError> {
    let n = g.n;
    let brow = |p: usize| b.get(p * n..p * n + n).ok_or(GEMM_INDEX);
    for (i, c_row) in c.chunks_exact_mut(n.max(1)).take(g.m).enumerate() {
        if beta == E::ZERO {
            c_row.iter_mut().for_each(|x| *x = E::ZERO);
        } else if beta != E::ONE {
            c_row.iter_mut().for_each(|x| *x = beta * *x);
        }
        let ai = |p: usize| match a.get(i * rs + p * cs) {
            Some(x) => Ok(g.alpha * *x),
            None => Err(GEMM_INDEX),
        };
        let mut p = p0;
        while p + 4 <= p1 {
            let (a0, a1, a2, a3) = (ai(p)?, ai(p + 1)?, ai(p + 2)?, ai(p + 3)?);
            let rows = brow(p)?
                .iter()
                .zip(brow(p + 1)?)
                .zip(brow(p + 2)?)
                .zip(brow(p + 3)?);
            for (x, (((b0, b1), b2), b3)) in c_row.iter_mut().zip(rows) {
                *x = a3.mul_acc(*b3, a2.mul_acc(*b2, a1.mul_acc(*b1, a0.mul_acc(*b0, *x))));
            }
            p += 4;
        }
        while p < p1 {
            let a0 = ai(p)?;
            for (x, b0) in c_row.iter_mut().zip(brow(p)?) {
                *x = a0.mul_acc(*b0, *x);
            }
            p += 1;
        }
    }
    Ok(())
}

/// Store a `2 × 2` block whose second row/column may repeat the first (at
/// an odd edge): each element is written once.
fn put<E: Float>(
    c: &mut [E],
    n: usize,
    (i0, i1): (usize, usize),
    (j0, j1): (usize, usize),
    v: [E; 4],
    alpha: E,
    beta: E,
) -> Result<(), OpError> {
    let mut one = |i: usize, j: usize, x: E| {
        let o = c.get_mut(i * n + j).ok_or(GEMM_INDEX)?;
        *o = if beta == E::ZERO {
            alpha * x
        } else {
            alpha * x + beta * *o
        };
        Ok(())
    };
    one(i0, j0, v[0])?;
    if j1 != j0 {
        one(i0, j1, v[1])?;
    }
    if i1 != i0 {
        one(i1, j0, v[2])?;
        if j1 != j0 {
            one(i1, j1, v[3])?;
        }
    }
    Ok(())
}

// ------------------------------------------------------------------- dot

/// The Cortex-M dot kernel (CMSIS-DSP's shape): a `2 × 2` block of outputs
/// from two rows of `a` and two of `b`, zipped so that each step is four
/// loads and four multiply-accumulates, every operand used twice. Rows
/// are taken with `get` (one check per row, as slicing did): no panic path.
fn dot_2x2<E: Float>(g: Dims<E>, a: &[E], b: &[E], c: &mut [E]) -> Result<(), OpError> {
    let (m, n, k) = (g.m, g.n, g.k);
    fn row<E>(s: &[E], i: usize, k: usize) -> Result<&[E], OpError> {
        s.get(i * k..i * k + k).ok_or(GEMM_INDEX)
    }
    let mut i0 = 0;
    while i0 < m {
        let i1 = if i0 + 1 < m { i0 + 1 } else { i0 };
        let (a0, a1) = (row(a, i0, k)?, row(a, i1, k)?);
        let mut j0 = 0;
        while j0 < n {
            let j1 = if j0 + 1 < n { j0 + 1 } else { j0 };
            let (b0, b1) = (row(b, j0, k)?, row(b, j1, k)?);
            let (mut c00, mut c01, mut c10, mut c11) = (E::ZERO, E::ZERO, E::ZERO, E::ZERO);
            for (((x0, x1), y0), y1) in a0.iter().zip(a1).zip(b0).zip(b1) {
                c00 = x0.mul_acc(*y0, c00);
                c01 = x0.mul_acc(*y1, c01);
                c10 = x1.mul_acc(*y0, c10);
                c11 = x1.mul_acc(*y1, c11);
            }
            put(
                c,
                n,
                (i0, i1),
                (j0, j1),
                [c00, c01, c10, c11],
                g.alpha,
                g.beta,
            )?;
            j0 += 2;
        }
        i0 += 2;
    }
    Ok(())
}

/// One `MR × NR` block of `a · bᵀ` (`a` row-major `m × k`, `b` row-major
/// `n × k`), `L` partial sums per output.
#[inline(always)]
fn dot_block<E: Float, const MR: usize, const NR: usize, const L: usize>(
    a: &[E],
    b: &[E],
    k: usize,
    i0: usize,
    j0: usize,
) -> [[E; NR]; MR] {
    let mut acc = [[[E::ZERO; L]; NR]; MR];
    let full = k - k % L;
    let mut p = 0;
    while p < full {
        let mut bv = [[E::ZERO; L]; NR];
        for (j, v) in bv.iter_mut().enumerate() {
            *v = arr(b, (j0 + j) * k + p);
        }
        for (r, acc_r) in acc.iter_mut().enumerate() {
            let av: [E; L] = arr(a, (i0 + r) * k + p);
            for (acc_rj, bj) in acc_r.iter_mut().zip(&bv) {
                for l in 0..L {
                    acc_rj[l] = av[l].mul_acc(bj[l], acc_rj[l]);
                }
            }
        }
        p += L;
    }
    let mut out = [[E::ZERO; NR]; MR];
    for r in 0..MR {
        for j in 0..NR {
            // Pairwise sum of the lanes, then the tail in order.
            let mut lanes = acc[r][j];
            let mut w = L;
            while w > 1 {
                w /= 2;
                for l in 0..w {
                    lanes[l] += lanes[l + w];
                }
            }
            let mut s = lanes[0];
            for q in full..k {
                s = a[(i0 + r) * k + q].mul_acc(b[(j0 + j) * k + q], s);
            }
            out[r][j] = s;
        }
    }
    out
}

/// Columns `j0 .. j0 + NR` of every row.
#[inline(always)]
fn dot_cols<E: Float, const MR: usize, const NR: usize, const L: usize>(
    g: Dims<E>,
    a: &[E],
    b: &[E],
    c: &mut [E],
    j0: usize,
) {
    let mut i0 = 0;
    while i0 + MR <= g.m {
        let acc = dot_block::<E, MR, NR, L>(a, b, g.k, i0, j0);
        store(&acc, c, g.n, i0, j0, g.alpha, g.beta);
        i0 += MR;
    }
    while i0 < g.m {
        let acc = dot_block::<E, 1, NR, L>(a, b, g.k, i0, j0);
        store(&acc, c, g.n, i0, j0, g.alpha, g.beta);
        i0 += 1;
    }
}

fn dot_tiles<E: Float, const MR: usize, const NR: usize, const L: usize>(
    g: Dims<E>,
    a: &[E],
    b: &[E],
    c: &mut [E],
) {
    let mut j0 = 0;
    while j0 + NR <= g.n {
        dot_cols::<E, MR, NR, L>(g, a, b, c, j0);
        j0 += NR;
    }
    while j0 < g.n {
        dot_cols::<E, MR, 1, L>(g, a, b, c, j0);
        j0 += 1;
    }
}

fn dot<E: Float>(g: Dims<E>, a: &[E], b: &[E], c: &mut [E], shape: Shape) -> Result<(), OpError> {
    if shape == Shape::Small {
        return dot_2x2(g, a, b, c);
    } else if shape == Shape::SmallFpu {
        return fpu::dot(g, a, b, c);
    } else if E::BYTES == 4 {
        dot_tiles::<E, 4, 4, 8>(g, a, b, c);
    } else {
        dot_tiles::<E, 4, 4, 4>(g, a, b, c);
    }
    Ok(())
}

/// The kernels of a Cortex-M with an FPU (M4F, M33): `MR × NR` blocks of
/// scalar accumulators (`4 × 4` inside, narrower at the edges), each summed
/// over the whole of `k` in order and then stored as `alpha · acc + beta ·
/// c`, the reference's order: with the multiply and add of `vmla` (which
/// rounds twice, as the reference does) the results are the reference's,
/// bit for bit. Operands are read through `get` with every bound checked
/// once before the `k` loop (so that the loop has no check left and no
/// panic path).
mod fpu {
    use microprop_hal::OpError;

    use super::{Dims, GEMM_INDEX};
    use crate::Float;

    /// One `MR × NR` block of `c` at `(i0, j0)`.
    trait Block {
        fn block<const MR: usize, const NR: usize>(
            &mut self,
            i0: usize,
            j0: usize,
        ) -> Result<(), OpError>;
    }

    /// Cover `m × n` with `4 × 4` blocks, then `4 × 1`, `1 × 4` and `1 × 1`
    /// at the edges.
    fn tiles<B: Block>(m: usize, n: usize, b: &mut B) -> Result<(), OpError> {
        let mut i0 = 0;
        while i0 + 4 <= m {
            tile_row::<B, 4>(n, b, i0)?;
            i0 += 4;
        }
        while i0 < m {
            tile_row::<B, 1>(n, b, i0)?;
            i0 += 1;
        }
        Ok(())
    }

    #[inline(always)]
    fn tile_row<B: Block, const MR: usize>(n: usize, b: &mut B, i0: usize) -> Result<(), OpError> {
        let mut j0 = 0;
        while j0 + 4 <= n {
            b.block::<MR, 4>(i0, j0)?;
            j0 += 4;
        }
        while j0 < n {
            b.block::<MR, 1>(i0, j0)?;
            j0 += 1;
        }
        Ok(())
    }

    /// `c = alpha · a · bᵀ + beta · c` (`a` row-major `m × k`, `b` row-major
    /// `n × k`): the forward `Y = X · Wᵀ`.
    pub(super) fn dot<E: Float>(g: Dims<E>, a: &[E], b: &[E], c: &mut [E]) -> Result<(), OpError> {
        struct Dot<'s, E> {
            g: Dims<E>,
            a: &'s [E],
            b: &'s [E],
            c: &'s mut [E],
        }
        impl<E: Float> Block for Dot<'_, E> {
            #[inline(always)]
            fn block<const MR: usize, const NR: usize>(
                &mut self,
                i0: usize,
                j0: usize,
            ) -> Result<(), OpError> {
                dot_block::<E, MR, NR>(self.g, self.a, self.b, self.c, i0, j0)
            }
        }
        tiles(g.m, g.n, &mut Dot { g, a, b, c })
    }

    /// `MR` rows of `s` from row `i0`, each `k` long (`get`: the error is
    /// unreachable after gemm's length checks; a slice `k` long lets the
    /// loops below index it without a check).
    #[inline(always)]
    fn rows<E, const MR: usize>(s: &[E], i0: usize, k: usize) -> Result<[&[E]; MR], OpError> {
        let mut out: [&[E]; MR] = [&[]; MR];
        for (r, o) in out.iter_mut().enumerate() {
            let at = (i0 + r) * k;
            *o = s.get(at..at + k).ok_or(GEMM_INDEX)?;
        }
        Ok(out)
    }

    /// Rows `i0 .. i0 + MR` of `a` and `j0 .. j0 + NR` of `b`, each `k`
    /// long.
    #[inline(always)]
    fn dot_block<E: Float, const MR: usize, const NR: usize>(
        g: Dims<E>,
        a: &[E],
        b: &[E],
        c: &mut [E],
        i0: usize,
        j0: usize,
    ) -> Result<(), OpError> {
        let k = g.k;
        let ar = rows::<E, MR>(a, i0, k)?;
        let br = rows::<E, NR>(b, j0, k)?;
        let mut acc = [[E::ZERO; NR]; MR];
        for p in 0..k {
            let x = ar.map(|row| row.get(p).copied().unwrap_or(E::ZERO));
            let y = br.map(|row| row.get(p).copied().unwrap_or(E::ZERO));
            mac(&mut acc, x, y);
        }
        store(g, c, i0, j0, &acc)
    }

    /// `acc[r][j] += x[r] · y[j]`.
    #[inline(always)]
    fn mac<E: Float, const MR: usize, const NR: usize>(
        acc: &mut [[E; NR]; MR],
        x: [E; MR],
        y: [E; NR],
    ) {
        for (acc_r, xr) in acc.iter_mut().zip(x) {
            for (acc_rj, yj) in acc_r.iter_mut().zip(y) {
                *acc_rj = xr.mul_acc(yj, *acc_rj);
            }
        }
    }

    /// `c = alpha · op(a) · b + beta · c` with `op(a)[i][p] = a[i·rs +
    /// p·cs]` and `b` row-major `k × n`: the backward `dX = dZ · W` (`rs =
    /// k`, `cs = 1`) and `dW = dZᵀ · X` (`rs = 1`, `cs = m`).
    pub(super) fn broadcast<E: Float>(
        g: Dims<E>,
        a: &[E],
        rs: usize,
        cs: usize,
        b: &[E],
        c: &mut [E],
    ) -> Result<(), OpError> {
        struct Broadcast<'s, E> {
            g: Dims<E>,
            a: &'s [E],
            strides: (usize, usize),
            b: &'s [E],
            c: &'s mut [E],
        }
        impl<E: Float> Block for Broadcast<'_, E> {
            #[inline(always)]
            fn block<const MR: usize, const NR: usize>(
                &mut self,
                i0: usize,
                j0: usize,
            ) -> Result<(), OpError> {
                broadcast_block::<E, MR, NR>(self.g, self.a, self.strides, self.b, self.c, i0, j0)
            }
        }
        let strides = (rs, cs);
        tiles(
            g.m,
            g.n,
            &mut Broadcast {
                g,
                a,
                strides,
                b,
                c,
            },
        )
    }

    /// Rows `i0 .. i0 + MR` of `op(a)` times columns `j0 .. j0 + NR` of
    /// `b`, walking `b` (and, for `dW = dZᵀ·X`, `a`) one row `p` at a time.
    #[inline(always)]
    fn broadcast_block<E: Float, const MR: usize, const NR: usize>(
        g: Dims<E>,
        a: &[E],
        (rs, cs): (usize, usize),
        b: &[E],
        c: &mut [E],
        i0: usize,
        j0: usize,
    ) -> Result<(), OpError> {
        let (m, n, k) = (g.m, g.n, g.k);
        // The block's bounds, checked once: the loop's `get`s test the same
        // comparisons, which the optimiser then drops.
        let (i1, j1) = (i0 + MR, j0 + NR);
        if i0 > i1 || i1 > m || j0 > j1 || j1 > n || n == 0 || m == 0 {
            return Err(GEMM_INDEX);
        }
        let b_rows = b.chunks_exact(n).take(k);
        let mut acc = [[E::ZERO; NR]; MR];
        if cs == 1 && rs == k {
            // `a` row-major `m × k`: rows `i0 ..` are contiguous in `p`.
            let ar = rows::<E, MR>(a, i0, k)?;
            for (p, bp) in b_rows.enumerate() {
                let x = ar.map(|row| row.get(p).copied().unwrap_or(E::ZERO));
                mac(&mut acc, x, cols::<E, NR>(bp, j0, j1));
            }
        } else {
            // `a` row-major `k × m` (`rs == 1`, `cs == m`): its row `p` holds
            // column `p` of `op(a)`.
            for (ap, bp) in a.chunks_exact(m).zip(b_rows) {
                mac(
                    &mut acc,
                    cols::<E, MR>(ap, i0, i1),
                    cols::<E, NR>(bp, j0, j1),
                );
            }
        }
        store(g, c, i0, j0, &acc)
    }

    /// `row[j0 .. j1]` with `j1 = j0 + N` (checked by the caller, so that
    /// this check folds into that one).
    #[inline(always)]
    fn cols<E: Float, const N: usize>(row: &[E], j0: usize, j1: usize) -> [E; N] {
        match row.get(j0..j1).map(<&[E; N]>::try_from) {
            Some(Ok(x)) => *x,
            _ => [E::ZERO; N],
        }
    }

    /// `c[i0 + r][j0 + j] = alpha · acc[r][j] + beta · c[..]` (`beta == 0`
    /// ignores `c`).
    #[inline(always)]
    fn store<E: Float, const MR: usize, const NR: usize>(
        g: Dims<E>,
        c: &mut [E],
        i0: usize,
        j0: usize,
        acc: &[[E; NR]; MR],
    ) -> Result<(), OpError> {
        for (r, acc_r) in acc.iter().enumerate() {
            let at = (i0 + r) * g.n + j0;
            let out = c.get_mut(at..at + NR).ok_or(GEMM_INDEX)?;
            // `alpha = 1` (with `beta` 0 or 1, the network's gemms) as a
            // copy or an add: `1 · x` and `1 · c` are exact, so the same bits
            // with one multiply less per element.
            let one = g.alpha == E::ONE;
            if g.beta == E::ZERO && one {
                for (o, x) in out.iter_mut().zip(acc_r) {
                    *o = *x;
                }
            } else if g.beta == E::ONE && one {
                for (o, x) in out.iter_mut().zip(acc_r) {
                    *o += *x;
                }
            } else {
                for (o, x) in out.iter_mut().zip(acc_r) {
                    *o = if g.beta == E::ZERO {
                        g.alpha * *x
                    } else {
                        g.alpha * *x + g.beta * *o
                    };
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! The fast gemm against [`reference::gemm`] on random shapes, every
    //! transpose case, several `alpha`/`beta`, `f32` and `f64`.
    //!
    //! Tolerance, elementwise: `|fast − ref| ≤ 4·(k+2)·ε·(|α|·Σ_p|a||b| +
    //! |β|·|c|)`, the classic bound for two ways of rounding one sum of `k`
    //! products (each is within `(k+1)·ε·Σ|terms|` of the exact value).
    use super::*;
    use crate::Float;

    /// `mul_acc` is a fused multiply-add in this build.
    const FUSED: bool = cfg!(all(feature = "std", target_feature = "fma"));

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            // xorshift64*
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn unit(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        }
    }

    /// Sizes that hit every tile edge: 1, odd, just under/over multiples of
    /// 2, 4, 8 and 16, and past the `KC` slice.
    const EDGE: [usize; 16] = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64, 65, 130];

    fn check_case<E: Float>(
        rng: &mut Rng,
        (m, n, k): (usize, usize, usize),
        ta: bool,
        tb: bool,
        alpha: f64,
        beta: f64,
    ) {
        let a: Vec<E> = (0..m * k).map(|_| E::from_f64(rng.unit())).collect();
        let b: Vec<E> = (0..k * n).map(|_| E::from_f64(rng.unit())).collect();
        let c0: Vec<E> = (0..m * n).map(|_| E::from_f64(rng.unit())).collect();
        let (al, be) = (E::from_f64(alpha), E::from_f64(beta));
        let mut want = c0.clone();
        reference::gemm(m, n, k, &a, ta, &b, tb, &mut want, al, be).unwrap();
        for shape in [Shape::Host, Shape::Small, Shape::SmallFpu] {
            let mut got = c0.clone();
            gemm_shaped(m, n, k, &a, ta, &b, tb, &mut got, al, be, shape).unwrap();
            within_bound(&a, &b, &c0, &got, &want, (m, n, k), ta, tb, alpha, beta);
            // The FPU blocks sum in the reference's order (without a fused
            // multiply-add): the reference's bits, wherever they run.
            // The exact-sum kernel (fixed point) sums exactly, as the
            // reference does: the same bits everywhere.
            let blocks = tb || (m >= 4 && k >= 4);
            if E::WIDE_ACC || shape == Shape::SmallFpu && blocks && !FUSED {
                let bits = |v: &[E]| v.iter().map(|x| x.to_f64().to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "m={m} n={n} k={k} ta={ta} tb={tb}");
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn within_bound<E: Float>(
        a: &[E],
        b: &[E],
        c0: &[E],
        got: &[E],
        want: &[E],
        (m, n, k): (usize, usize, usize),
        ta: bool,
        tb: bool,
        alpha: f64,
        beta: f64,
    ) {
        let eps = E::EPSILON.to_f64();
        for i in 0..m {
            for j in 0..n {
                let mut mag = 0.0;
                for p in 0..k {
                    let x = if ta { a[p * m + i] } else { a[i * k + p] };
                    let y = if tb { b[j * k + p] } else { b[p * n + j] };
                    mag += (x.to_f64() * y.to_f64()).abs();
                }
                let bound = 4.0
                    * (k as f64 + 2.0)
                    * eps
                    * (alpha.abs() * mag + beta.abs() * c0[i * n + j].to_f64().abs());
                let (g, w) = (got[i * n + j].to_f64(), want[i * n + j].to_f64());
                assert!(
                    (g - w).abs() <= bound,
                    "{} m={m} n={n} k={k} ta={ta} tb={tb} alpha={alpha} beta={beta} \
                     c[{i}][{j}]: fast {g}, reference {w}, bound {bound}",
                    E::NAME
                );
            }
        }
    }

    fn random_shapes<E: Float>() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let scalars = [
            (1.0, 0.0),
            (1.0, 1.0),
            (-0.01, 0.999),
            (0.5, -2.0),
            (0.0, 1.0),
        ];
        for case in 0..600 {
            let dims = (
                EDGE[rng.below(EDGE.len())],
                EDGE[rng.below(EDGE.len())],
                EDGE[rng.below(EDGE.len())],
            );
            let (ta, tb) = (case % 4 >= 2, case % 2 == 1);
            let (alpha, beta) = scalars[rng.below(scalars.len())];
            check_case::<E>(&mut rng, dims, ta, tb, alpha, beta);
        }
        // The network shapes, every case (k past KC included).
        for dims in [
            (32, 32, 64),
            (32, 128, 784),
            (128, 784, 32),
            (1, 10, 32),
            (10, 32, 1),
        ] {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                check_case::<E>(&mut rng, dims, ta, tb, 1.0, 0.0);
                check_case::<E>(&mut rng, dims, ta, tb, -0.05, 0.98);
            }
        }
    }

    #[test]
    fn matches_reference_f32() {
        random_shapes::<f32>();
    }

    #[test]
    fn matches_reference_f64() {
        random_shapes::<f64>();
    }

    #[test]
    fn matches_reference_q10() {
        random_shapes::<microprop_hal::Q10>();
    }

    /// Fixed point against the exact result, computed in `f64` from the
    /// same elements: one rounding of the exact sum, then `α ·` (one more,
    /// and `|α|` times the first), `β · c` and the saturating add (exact
    /// inside the range); each rounding is within ½ ulp to nearest (`β = 0`)
    /// and 1 ulp stochastic (`β ≠ 0`). Results past the range's ends must be
    /// that end.
    #[test]
    fn q12_within_half_ulps_of_exact() {
        use microprop_hal::{Element, Fixed};
        type Q12 = Fixed<12>;
        let ulp = 1.0 / 4096.0;
        let mut rng = Rng(7);
        for case in 0..400 {
            let (m, n, k) = (1 + rng.below(9), 1 + rng.below(9), 1 + rng.below(70));
            let (ta, tb) = (case % 4 >= 2, case % 2 == 1);
            let q = |r: &mut Rng| Q12::from_f64(r.unit());
            let a: Vec<Q12> = (0..m * k).map(|_| q(&mut rng)).collect();
            let b: Vec<Q12> = (0..k * n).map(|_| q(&mut rng)).collect();
            let c0: Vec<Q12> = (0..m * n).map(|_| q(&mut rng)).collect();
            let (alpha, beta) = [(1.0, 0.0), (1.0, 1.0), (-0.05, 1.0), (0.5, -0.75)][case % 4];
            let (al, be) = (Q12::from_f64(alpha), Q12::from_f64(beta));
            let mut got = c0.clone();
            gemm(m, n, k, &a, ta, &b, tb, &mut got, al, be).unwrap();
            for i in 0..m {
                for j in 0..n {
                    let s: f64 = (0..k)
                        .map(|p| {
                            let x = if ta { a[p * m + i] } else { a[i * k + p] };
                            let y = if tb { b[j * k + p] } else { b[p * n + j] };
                            x.to_f64() * y.to_f64()
                        })
                        .sum();
                    let (al, be) = (al.to_f64(), be.to_f64());
                    let exact = al * s + be * c0[i * n + j].to_f64();
                    let g = got[i * n + j].to_f64();
                    // β = 0: to nearest (½ ulp each rounding); otherwise
                    // stochastic (below 1 ulp each), and β·c exact for β = 1.
                    let r = if be == 0.0 { 0.5 } else { 1.0 };
                    let scaled = if al == 1.0 { 0.0 } else { r + r * al.abs() };
                    let bc = if be == 0.0 || be == 1.0 { 0.0 } else { 0.5 };
                    let bound = ulp * (r + scaled + bc);
                    if exact.abs() < 7.99 && (s.abs() < 7.99) {
                        assert!((g - exact).abs() <= bound, "{g} vs {exact}, bound {bound}");
                    } else if exact >= 8.0 + bound {
                        assert_eq!(got[i * n + j], Q12::MAX);
                    } else if exact <= -8.0 - bound {
                        assert_eq!(got[i * n + j], Q12::MIN);
                    }
                }
            }
        }
    }

    /// `beta == 0` ignores whatever `c` held (NaN included), as the
    /// reference does; `k == 0` gives `beta · c`.
    #[test]
    fn beta_zero_ignores_c_and_empty_k_scales() {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let (a, b) = ([1.0f32, 2.0, 3.0, 4.0], [1.0f32, 0.0, 0.0, 1.0]);
            let mut c = [f32::NAN; 4];
            gemm(2, 2, 2, &a, ta, &b, tb, &mut c, 1.0, 0.0).unwrap();
            let mut want = [0.0f32; 4];
            reference::gemm(2, 2, 2, &a, ta, &b, tb, &mut want, 1.0, 0.0).unwrap();
            assert_eq!(c, want);
            let mut c = [1.0f32, 2.0, 3.0, 4.0];
            gemm(2, 2, 0, &[], ta, &[], tb, &mut c, 1.0, 0.5).unwrap();
            assert_eq!(c, [0.5, 1.0, 1.5, 2.0]);
        }
    }

    /// Wrong lengths are the reference's typed errors.
    #[test]
    fn shape_errors() {
        let mut c = [0.0f64; 4];
        let e = gemm(2, 2, 2, &[0.0; 3], false, &[0.0; 4], true, &mut c, 1.0, 0.0);
        assert!(matches!(e, Err(OpError::Shape { operand: "a", .. })));
        let e = gemm(
            2,
            2,
            2,
            &[0.0; 4],
            false,
            &[0.0; 4],
            true,
            &mut c[..3],
            1.0,
            0.0,
        );
        assert!(matches!(e, Err(OpError::Shape { operand: "c", .. })));
    }
}
