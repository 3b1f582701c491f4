#!/usr/bin/env python3
"""The polynomial coefficients of microprop-cpu's fixed-point `exp` and `ln`
(backends/cpu/src/fixed.rs: EXP2, LN1P), and their error as that file
evaluates them (rounded Horner steps in Q16 / Q15 integers).

    python3 tools/fixed_coeffs.py

Least-squares fits on 2000 Chebyshev nodes of [0, 1]:
- (2^f - 1) / f, degree 4, coefficients in Q16 (2^f = 1 + f * q(f));
- ln(1 + u) / u, degree 5, coefficients in Q15 (ln(1 + u) = u * r(u)).
Needs numpy.
"""
import numpy as np


def fit(fn, deg, n=2000):
    x = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)
    c, *_ = np.linalg.lstsq(np.vander(x, deg + 1, increasing=True), fn(x), rcond=None)
    return c


def horner(coeffs, x, shift):
    half = 1 << (shift - 1)
    acc = np.full_like(x, coeffs[-1])
    for c in coeffs[-2::-1]:
        acc = c + ((acc * x + half) >> shift)
    return (acc * x + half) >> shift


grid = np.linspace(0, 1, 100001)
with np.errstate(divide="ignore", invalid="ignore"):
    q = fit(lambda f: np.where(f == 0, np.log(2), (2**f - 1) / f), 4)
    r = fit(lambda u: np.where(u == 0, 1.0, np.log1p(u) / u), 5)
exp2 = [int(v) for v in np.round(q * 65536)]
ln1p = [int(v) for v in np.round(r * 32768)]
f = np.minimum(np.floor(grid * 65536).astype(np.int64), 65535)
e = np.max(np.abs((65536 + horner(exp2, f, 16)) / 65536 - 2 ** (f / 65536)))
u = np.floor(grid * 32768).astype(np.int64)
l = np.max(np.abs(horner(ln1p, u, 15) / 32768 - np.log1p(u / 32768)))
print(f"const EXP2: [u32; 5] = {exp2};  // max error {e * 65536:.2f} Q16 units ({e:.2e})")
print(f"const LN1P: [i32; 6] = {ln1p};  // max error {l * 32768:.2f} Q15 units ({l:.2e})")
