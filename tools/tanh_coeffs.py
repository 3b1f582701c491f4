#!/usr/bin/env python3
"""The polynomial coefficients of microprop-cpu's `f32` tanh
(backends/cpu/src/math.rs: `TANH_P`, `EXP_Q`), and its error as that file
evaluates it: every step in float32, in the same order, without fused
multiply-adds.

    python3 tools/tanh_coeffs.py [STEP]

Least-squares fits on 4,000 Chebyshev nodes, weighted by each term's share
of the result (close to minimax):
- |x| < 2^-12: tanh(x) = x (x³/3 is below half an ulp);
- |x| < ln(3)/2: tanh(x) = x + x·z·P(z), z = x², P of degree 5;
- otherwise e^-2|x| = 2^n · (1 + r + r²·Q(r)), |r| ≤ ln(2)/2, Q of degree 4,
  and tanh(|x|) = 1 - 2e / (1 + e).

Then it measures the error in ulps of the exact tanh (float64) on every
STEP-th float32 (default 1: all of them, about a minute) from 2^-14 to
9.5, over both branches and the cut-off at 9. Needs numpy.
"""
import math
import sys

import numpy as np

F32 = np.float32
CUT = math.log(3) / 2  # tanh(CUT) = 1/2, e^-2·CUT = 1/3


def fit(fn, lo, hi, deg, weight, n=4000):
    t = np.cos(np.pi * (np.arange(n) + 0.5) / n)
    x = lo + (hi - lo) * (0.5 - 0.5 * t)
    w = weight(x)
    a = np.vander(x, deg + 1, increasing=True) * w[:, None]
    c, *_ = np.linalg.lstsq(a, fn(x) * w, rcond=None)
    return [F32(v) for v in c]


# P(z) ≈ (tanh(√z)/√z - 1) / z; an error in P moves tanh by x·z·dP, so
# weight by z.
P = fit(lambda z: (np.tanh(np.sqrt(z)) / np.sqrt(z) - 1) / z, 1e-6, CUT * CUT, 5, lambda z: z)
# Q(r) ≈ (e^r - 1 - r) / r²; an error in Q moves e^r by r²·dQ.
Q = fit(lambda r: (np.expm1(r) - r) / (r * r), -math.log(2) / 2, math.log(2) / 2, 4, lambda r: r * r)

LOG2E = F32(1.4426950408889634)
LN2_HI = F32(0.693145751953125)  # 16 significant bits: n·LN2_HI is exact
LN2_LO = F32(math.log(2) - 0.693145751953125)
ROUND = F32(12582912.0)  # 1.5·2^23: adding it rounds to an integer


def tanh32(x):
    """math.rs's `tanh_f32`, step by step in float32."""
    a = np.abs(x)
    z = x * x
    p = np.full_like(x, P[-1])
    for c in P[-2::-1]:
        p = p * z + c
    small = x + (x * z) * p
    y = F32(-2) * a
    t = y * LOG2E + ROUND
    n = t - ROUND
    ni = t.view(np.int32) - 0x4B400000
    r = (y - n * LN2_HI) - n * LN2_LO
    q = np.full_like(x, Q[-1])
    for c in Q[-2::-1]:
        q = q * r + c
    em = F32(1) + ((r * r) * q + r)
    scale = ((np.clip(ni, -126, 127) + 127).astype(np.int32) << 23).view(F32)
    e = em * scale
    large = np.copysign(F32(1) - (e + e) / (F32(1) + e), x)
    large = np.where(a < F32(9), large, np.copysign(F32(1), x))
    small = np.where(a < F32(2.0**-12), x, small)
    return np.where(a < F32(CUT), small, large)


def main():
    step = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    lit = lambda cs: ", ".join(np.format_float_scientific(c, unique=True) for c in cs)
    print(f"const TANH_P: [f32; {len(P)}] = [{lit(P)}];")
    print(f"const EXP_Q: [f32; {len(Q)}] = [{lit(Q)}];")
    print(f"LN2_LO = {lit([LN2_LO])}")
    lo = int(F32(2.0**-14).view(np.int32))
    hi = int(F32(9.5).view(np.int32))
    worst, worst_x, over = 0.0, 0.0, 0
    for s in range(lo, hi, 1 << 24):
        x = np.arange(s, min(s + (1 << 24), hi), step, dtype=np.int32).view(F32)
        want = np.tanh(x.astype(np.float64))
        ulp = np.spacing(np.abs(want.astype(F32))).astype(np.float64)
        err = np.abs(tanh32(x).astype(np.float64) - want) / ulp
        i = int(np.argmax(err))
        if err[i] > worst:
            worst, worst_x = float(err[i]), float(x[i])
        over += int((err > 1).sum())
    print(f"max error {worst:.3f} ulp (at x = {worst_x!r}); {over} of the inputs above 1 ulp")


if __name__ == "__main__":
    main()
