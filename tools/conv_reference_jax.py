#!/usr/bin/env python3
"""Independent JAX reference for microprop's convolution layers (issue 15).

Builds a few small fixed CNNs with PyTorch's conventions, evaluates every
layer's output, the loss and its gradients with respect to every parameter
and to the input by JAX automatic differentiation in float64, checks those
gradients against central finite differences, and writes them to
host-tests/fixtures/conv_reference.json. The shared suite matches microprop's
conv layers against the fixture (1e-5 in f32, 1e-12 in f64).

    pip install jax numpy && python3 tools/conv_reference_jax.py

The output is deterministic (fixed numpy seeds, float64 everywhere, Python's
shortest round-trip float repr): running the script twice gives identical
bytes. CI does not need Python or JAX.

Layout (PyTorch's, channels-first). A batch is its rows one after the other:

  * 1-D row: [C, L] flattened, x[c*L + t];
  * 2-D row: [C, H, W] flattened, x[c*H*W + h*W + w];
  * after global_avg_pool or flatten a row is a plain vector.

Layers, written in the fixture as lists [kind, numbers...]:

  ["conv1d", c_in, c_out, k, stride, pad]
      PyTorch Conv1d (cross-correlation, no dilation, groups 1): pad zeros on
      both ends, L_out = (L + 2*pad - k) // stride + 1,
      y[o, t] = b[o] + sum_{c, j} w[o, c, j] * xpad[c, t*stride + j],
      xpad[c, i] = x[c, i - pad] (0 outside [0, L)).
      Parameters weight [c_out, c_in, k], bias [c_out].
  ["conv2d", c_in, c_out, kh, kw, stride, pad]
      PyTorch Conv2d, same stride and zero padding in both dimensions:
      H_out = (H + 2*pad - kh) // stride + 1 (W likewise with kw),
      y[o, i, j] = b[o] + sum_{c, u, v} w[o, c, u, v]
                                        * xpad[c, i*stride + u, j*stride + v].
      Parameters weight [c_out, c_in, kh, kw], bias [c_out].
  ["maxpool1d", k, stride], ["avgpool1d", k, stride]
      No padding, floor output size like PyTorch: L_out = (L - k) // stride + 1
      (trailing positions that do not fill a window are dropped). Window t of
      channel c covers x[c, t*stride .. t*stride + k). Average = sum / k.
  ["maxpool2d", k, stride], ["avgpool2d", k, stride]
      Square k x k windows, the same stride in both dimensions, no padding,
      floor sizes: H_out = (H - k) // stride + 1, W_out likewise.
      Average = sum / (k*k).
      Max pooling (1-D and 2-D) gives the gradient to the FIRST maximum of
      the window in row-major order (1-D: lowest t; 2-D: lowest row, then
      lowest column), the way this script implements it (argmax, then
      gather). The inputs are drawn so that no window's maximum is tied
      (the top two values of every window differ by at least MARGIN), except
      windows that follow a ReLU and are all exactly 0: there every entry
      comes from a negative pre-activation, so the gradient reaching
      anything with parameters is 0 whichever entry is chosen.
  ["global_avg_pool"]
      Mean over all spatial positions of each channel: [C, L] or [C, H, W]
      -> [C].
  ["flatten"]
      Identity on the flattened channels-first row ([C, L] -> C*L values,
      [C, H, W] -> C*H*W values, in the order above).
  ["relu"], ["tanh"]
      Elementwise max(0, z) and tanh(z). Every ReLU pre-activation is at
      least MARGIN away from 0.
  ["dense", in, out]
      PyTorch Linear: y = x W^T + b, weight [out, in], bias [out].

Losses: "ce" is softmax cross-entropy, mean over rows, labels as integers;
"mse" is the mean over all elements of (output - target)^2. No L2.

Parameters are named like PyTorch's nn.Sequential state_dict: "<i>.weight",
"<i>.bias" with i the layer's position in the layer list, only for layers
with parameters, stored with their PyTorch shape and their values flattened
row-major. They are drawn like PyTorch's default init, U(-1/sqrt(fan_in),
1/sqrt(fan_in)) for weight and bias, fan_in = c_in*k (conv1d), c_in*kh*kw
(conv2d), in (dense); inputs x are U(-1, 1); mse targets are U(-1, 1); labels
uniform over the classes. Each case has its own seed; a draw that breaks the
margins above is discarded and the next one from the same generator is
taken (the number of draws is written as "draws").

Checks made before writing (the script fails otherwise):

  * every layer's output equals a plain numpy loop implementation of the
    formulas above (no JAX) within 1e-12;
  * JAX's gradient matches fourth-order central finite differences
    (f(p-2h) - 8 f(p-h) + 8 f(p+h) - f(p+2h)) / 12h, h = 1e-4, on a few
    coordinates of every parameter and of x (the largest |gradient| and 3
    drawn ones per tensor): |fd - g| / max(|fd|, |g|, 1e-4) < 1e-6, and no
    perturbation changes a ReLU mask or a max-pool choice.

Fixture: a JSON list of cases, each
  {"name", "layers", "loss", "batch", "input_shape" (per row, channels
   first), "draws", "x" (flat), "targets" (ints for ce, floats for mse, flat
   [batch, out]), "params": [{"name", "shape", "values"}...] (in layer order,
   weight before bias), "outputs": [{"layer", "kind", "shape" ([batch, ...]),
   "values"}...] (one per layer, in order), "loss_value",
   "grad_params" (like "params"), "grad_x" (flat, like x)}.
"""
import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

MARGIN = 1e-3  # min |ReLU pre-activation| and min gap between a window's top two
FD_H = 1e-4
FD_FLOOR = 1e-4
FD_TOL = 1e-6
FD_RANDOM_COORDS = 3

# (name, input shape per row, batch, layers, loss, seed)
CASES = [
    ("conv1d-relu-maxpool-conv1d-gap-dense/ce", (2, 9), 3,
     [["conv1d", 2, 3, 3, 1, 1], ["relu"], ["maxpool1d", 2, 2],
      ["conv1d", 3, 4, 2, 2, 0], ["relu"], ["global_avg_pool"], ["dense", 4, 3]],
     "ce", 15001),
    ("conv1d-stride2-pad2-avgpool-flatten-dense/mse", (1, 11), 2,
     [["conv1d", 1, 2, 5, 2, 2], ["tanh"], ["avgpool1d", 3, 1], ["flatten"],
      ["dense", 8, 2]],
     "mse", 15002),
    ("conv1d-1x1/ce", (3, 4), 1,
     [["conv1d", 3, 2, 1, 1, 0], ["relu"], ["flatten"], ["dense", 8, 2]],
     "ce", 15003),
    ("conv2d-relu-maxpool-dense/ce", (1, 8, 8), 2,
     [["conv2d", 1, 4, 3, 3, 1, 1], ["relu"], ["maxpool2d", 2, 2],
      ["conv2d", 4, 4, 3, 3, 2, 1], ["relu"], ["flatten"], ["dense", 16, 10]],
     "ce", 15004),
    ("conv2d-odd-avgpool-gap/ce", (2, 5, 7), 2,
     [["conv2d", 2, 3, 3, 3, 2, 0], ["tanh"], ["avgpool2d", 2, 1],
      ["global_avg_pool"], ["dense", 3, 3]],
     "ce", 15005),
    # Extra: a rectangular kernel and a 2-D max pool whose floor drops the
    # last row and column, batch 1.
    ("conv2d-rect-kernel-maxpool-floor/ce", (2, 6, 5), 1,
     [["conv2d", 2, 3, 2, 3, 1, 0], ["relu"], ["maxpool2d", 2, 2], ["flatten"],
      ["dense", 6, 3]],
     "ce", 15006),
]


# ---------------------------------------------------------------- shapes

def out_shape(layer, shape):
    """Per-row output shape of `layer` for per-row input `shape`."""
    k = layer[0]
    if k == "conv1d":
        _, ci, co, kk, s, p = layer
        c, l = shape
        assert c == ci, (layer, shape)
        lo = (l + 2 * p - kk) // s + 1
        assert lo >= 1
        return (co, lo)
    if k == "conv2d":
        _, ci, co, kh, kw, s, p = layer
        c, h, w = shape
        assert c == ci, (layer, shape)
        ho, wo = (h + 2 * p - kh) // s + 1, (w + 2 * p - kw) // s + 1
        assert ho >= 1 and wo >= 1
        return (co, ho, wo)
    if k in ("maxpool1d", "avgpool1d"):
        _, kk, s = layer
        c, l = shape
        assert l >= kk
        return (c, (l - kk) // s + 1)
    if k in ("maxpool2d", "avgpool2d"):
        _, kk, s = layer
        c, h, w = shape
        assert h >= kk and w >= kk
        return (c, (h - kk) // s + 1, (w - kk) // s + 1)
    if k == "global_avg_pool":
        assert len(shape) >= 2
        return (shape[0],)
    if k == "flatten":
        return (int(np.prod(shape)),)
    if k in ("relu", "tanh"):
        return shape
    if k == "dense":
        assert shape == (layer[1],), (layer, shape)
        return (layer[2],)
    raise ValueError(k)


def param_specs(layers):
    """[(name, shape, fan_in)] in layer order, weight before bias."""
    specs = []
    for i, l in enumerate(layers):
        if l[0] == "conv1d":
            _, ci, co, kk, _, _ = l
            fan = ci * kk
            specs += [(f"{i}.weight", (co, ci, kk), fan), (f"{i}.bias", (co,), fan)]
        elif l[0] == "conv2d":
            _, ci, co, kh, kw, _, _ = l
            fan = ci * kh * kw
            specs += [(f"{i}.weight", (co, ci, kh, kw), fan), (f"{i}.bias", (co,), fan)]
        elif l[0] == "dense":
            _, fi, fo = l
            specs += [(f"{i}.weight", (fo, fi), fi), (f"{i}.bias", (fo,), fi)]
    return specs


# ---------------------------------------------------------------- JAX model

def _pool_windows_1d(h, k, s):
    lo = (h.shape[2] - k) // s + 1
    idx = s * np.arange(lo)[:, None] + np.arange(k)[None, :]
    return h[:, :, idx]  # [N, C, lo, k]


def _pool_windows_2d(h, k, s):
    ho = (h.shape[2] - k) // s + 1
    wo = (h.shape[3] - k) // s + 1
    ih = s * np.arange(ho)[:, None] + np.arange(k)[None, :]  # [ho, k]
    iw = s * np.arange(wo)[:, None] + np.arange(k)[None, :]  # [wo, k]
    win = h[:, :, ih[:, None, :, None], iw[None, :, None, :]]  # [N, C, ho, wo, k, k]
    return win.reshape(win.shape[:4] + (k * k,))  # row-major within the window


def _first_max(win):
    """Max over the last axis; the gradient goes to the first maximum only."""
    am = jnp.argmax(win, axis=-1)  # argmax returns the first maximum
    return jnp.take_along_axis(win, am[..., None], axis=-1)[..., 0], am


def forward(layers, params, x, in_shape):
    """Returns (layer outputs [N, ...] per layer, pattern) for flat rows x.

    pattern: the ReLU masks and max-pool choices, used to make sure finite
    differences do not cross a kink."""
    n = x.shape[0]
    h = x.reshape((n,) + tuple(in_shape))
    outs, pattern = [], []
    hp = jax.lax.Precision.HIGHEST
    for i, l in enumerate(layers):
        k = l[0]
        if k == "conv1d":
            _, _, _, _, s, p = l
            w, b = params[f"{i}.weight"], params[f"{i}.bias"]
            h = jax.lax.conv_general_dilated(
                h, w, window_strides=(s,), padding=[(p, p)],
                dimension_numbers=("NCH", "OIH", "NCH"), precision=hp) + b[None, :, None]
        elif k == "conv2d":
            _, _, _, _, _, s, p = l
            w, b = params[f"{i}.weight"], params[f"{i}.bias"]
            h = jax.lax.conv_general_dilated(
                h, w, window_strides=(s, s), padding=[(p, p), (p, p)],
                dimension_numbers=("NCHW", "OIHW", "NCHW"), precision=hp) + b[None, :, None, None]
        elif k == "maxpool1d":
            h, am = _first_max(_pool_windows_1d(h, l[1], l[2]))
            pattern.append(am)
        elif k == "avgpool1d":
            h = jnp.mean(_pool_windows_1d(h, l[1], l[2]), axis=-1)
        elif k == "maxpool2d":
            h, am = _first_max(_pool_windows_2d(h, l[1], l[2]))
            pattern.append(am)
        elif k == "avgpool2d":
            h = jnp.mean(_pool_windows_2d(h, l[1], l[2]), axis=-1)
        elif k == "global_avg_pool":
            h = jnp.mean(h.reshape(h.shape[0], h.shape[1], -1), axis=-1)
        elif k == "flatten":
            h = h.reshape(h.shape[0], -1)
        elif k == "relu":
            pattern.append(h > 0)
            h = jnp.maximum(h, 0.0)
        elif k == "tanh":
            h = jnp.tanh(h)
        elif k == "dense":
            h = h @ params[f"{i}.weight"].T + params[f"{i}.bias"]
        else:
            raise ValueError(k)
        outs.append(h)
    return outs, pattern


def loss_of(loss, out, t):
    if loss == "ce":
        lab = jnp.asarray(t, dtype=jnp.int32)
        rows = out.shape[0]
        return jnp.mean(jax.nn.logsumexp(out, axis=1) - out[jnp.arange(rows), lab])
    if loss == "mse":
        return jnp.mean((out - t) ** 2)
    raise ValueError(loss)


# ---------------------------------------------------------------- numpy loops (independent check)

def naive_forward(layers, params, x, in_shape):
    n = x.shape[0]
    h = np.asarray(x).reshape((n,) + tuple(in_shape))
    outs = []
    for i, l in enumerate(layers):
        k = l[0]
        if k == "conv1d":
            _, ci, co, kk, s, p = l
            w, b = params[f"{i}.weight"], params[f"{i}.bias"]
            L = h.shape[2]
            lo = (L + 2 * p - kk) // s + 1
            y = np.zeros((n, co, lo))
            for r in range(n):
                for o in range(co):
                    for t in range(lo):
                        acc = b[o]
                        for c in range(ci):
                            for j in range(kk):
                                src = t * s + j - p
                                if 0 <= src < L:
                                    acc += w[o, c, j] * h[r, c, src]
                        y[r, o, t] = acc
            h = y
        elif k == "conv2d":
            _, ci, co, kh, kw, s, p = l
            w, b = params[f"{i}.weight"], params[f"{i}.bias"]
            H, W = h.shape[2], h.shape[3]
            ho, wo = (H + 2 * p - kh) // s + 1, (W + 2 * p - kw) // s + 1
            y = np.zeros((n, co, ho, wo))
            for r in range(n):
                for o in range(co):
                    for a in range(ho):
                        for bb in range(wo):
                            acc = b[o]
                            for c in range(ci):
                                for u in range(kh):
                                    for v in range(kw):
                                        sy, sx = a * s + u - p, bb * s + v - p
                                        if 0 <= sy < H and 0 <= sx < W:
                                            acc += w[o, c, u, v] * h[r, c, sy, sx]
                            y[r, o, a, bb] = acc
            h = y
        elif k in ("maxpool1d", "avgpool1d"):
            _, kk, s = l
            lo = (h.shape[2] - kk) // s + 1
            y = np.zeros(h.shape[:2] + (lo,))
            for t in range(lo):
                win = h[:, :, t * s:t * s + kk]
                y[:, :, t] = win.max(axis=2) if k == "maxpool1d" else win.sum(axis=2) / kk
            h = y
        elif k in ("maxpool2d", "avgpool2d"):
            _, kk, s = l
            ho, wo = (h.shape[2] - kk) // s + 1, (h.shape[3] - kk) // s + 1
            y = np.zeros(h.shape[:2] + (ho, wo))
            for a in range(ho):
                for bb in range(wo):
                    win = h[:, :, a * s:a * s + kk, bb * s:bb * s + kk]
                    y[:, :, a, bb] = (win.max(axis=(2, 3)) if k == "maxpool2d"
                                      else win.sum(axis=(2, 3)) / (kk * kk))
            h = y
        elif k == "global_avg_pool":
            h = h.reshape(n, h.shape[1], -1).sum(axis=2) / np.prod(h.shape[2:])
        elif k == "flatten":
            h = h.reshape(n, -1)
        elif k == "relu":
            h = np.maximum(h, 0.0)
        elif k == "tanh":
            h = np.tanh(h)
        elif k == "dense":
            w, b = params[f"{i}.weight"], params[f"{i}.bias"]
            h = np.array([[b[o] + sum(w[o, j] * h[r, j] for j in range(w.shape[1]))
                           for o in range(w.shape[0])] for r in range(n)])
        else:
            raise ValueError(k)
        outs.append(h)
    return outs


# ---------------------------------------------------------------- drawing

def margins_ok(layers, outs, x, in_shape):
    """ReLU pre-activations at least MARGIN from 0; no tied max-pool window."""
    n = x.shape[0]
    prev = np.asarray(x).reshape((n,) + tuple(in_shape))
    prev_kind = None
    for l, o in zip(layers, outs):
        if l[0] == "relu" and np.min(np.abs(prev)) < MARGIN:
            return False
        if l[0] in ("maxpool1d", "maxpool2d"):
            win = (_pool_windows_1d(prev, l[1], l[2]) if l[0] == "maxpool1d"
                   else _pool_windows_2d(prev, l[1], l[2]))
            srt = np.sort(win, axis=-1)
            gap = srt[..., -1] - srt[..., -2]
            all_zero_after_relu = (prev_kind == "relu") & (srt[..., -1] == 0.0)
            if np.any((gap < MARGIN) & ~all_zero_after_relu):
                return False
        prev, prev_kind = np.asarray(o), l[0]
    return True


def draw_case(layers, loss, in_shape, batch, seed):
    rng = np.random.default_rng(seed)
    specs = param_specs(layers)
    for draws in range(1, 10001):
        params = {}
        for name, shape, fan in specs:
            bound = 1.0 / math.sqrt(fan)
            params[name] = rng.uniform(-bound, bound, shape)
        x = rng.uniform(-1.0, 1.0, (batch, int(np.prod(in_shape))))
        n_out = layers[-1][2]
        if loss == "ce":
            t = rng.integers(0, n_out, batch)
        else:
            t = rng.uniform(-1.0, 1.0, (batch, n_out))
        outs, _ = forward(layers, {k: jnp.asarray(v) for k, v in params.items()},
                          jnp.asarray(x), in_shape)
        if margins_ok(layers, [np.asarray(o) for o in outs], x, in_shape):
            return params, x, t, draws
    raise RuntimeError("no draw met the margins")


# ---------------------------------------------------------------- finite differences

def fd_check(name, layers, loss, in_shape, params, x, t, g_params, g_x, rng):
    names = list(params.keys())

    def f(p, xx):
        outs, pat = forward(layers, p, xx, in_shape)
        return loss_of(loss, outs[-1], t), pat

    f_jit = jax.jit(f)
    _, base_pat = f_jit(params, x)
    base_pat = [np.asarray(p) for p in base_pat]

    def value(tensor, coord, delta):
        p = dict(params)
        xx = x
        if tensor == "x":
            xx = x.at[coord].add(delta)
        else:
            p[tensor] = params[tensor].at[coord].add(delta)
        v, pat = f_jit(p, xx)
        for a, b in zip(pat, base_pat):
            assert np.array_equal(np.asarray(a), b), f"{name}: kink crossed at {tensor}{coord}"
        return float(v)

    worst, count = 0.0, 0
    for tensor in names + ["x"]:
        g = np.asarray(g_x if tensor == "x" else g_params[tensor])
        coords = {np.unravel_index(int(np.argmax(np.abs(g))), g.shape)}
        for flat in rng.choice(g.size, size=min(FD_RANDOM_COORDS, g.size), replace=False):
            coords.add(np.unravel_index(int(flat), g.shape))
        for c in sorted(coords):
            c = tuple(int(v) for v in c)
            h = FD_H
            fd = (value(tensor, c, -2 * h) - 8 * value(tensor, c, -h)
                  + 8 * value(tensor, c, h) - value(tensor, c, 2 * h)) / (12 * h)
            a = float(g[c])
            rel = abs(fd - a) / max(abs(fd), abs(a), FD_FLOOR)
            assert rel < FD_TOL, f"{name}: d/d{tensor}{c}: jax {a!r} fd {fd!r} rel {rel:.2e}"
            worst = max(worst, rel)
            count += 1
    return worst, count


# ---------------------------------------------------------------- main

def tensor_entry(name, arr):
    arr = np.asarray(arr, dtype=np.float64)
    return {"name": name, "shape": list(arr.shape), "values": arr.ravel().tolist()}


def main():
    cases = []
    summary = []
    for name, in_shape, batch, layers, loss, seed in CASES:
        shapes = [tuple(in_shape)]
        for l in layers:
            shapes.append(out_shape(l, shapes[-1]))
        params_np, x_np, t_np, draws = draw_case(layers, loss, in_shape, batch, seed)
        params = {k: jnp.asarray(v) for k, v in params_np.items()}
        x = jnp.asarray(x_np)
        t = jnp.asarray(t_np)

        outs, _ = forward(layers, params, x, in_shape)
        for l, o, s in zip(layers, outs, shapes[1:]):
            assert o.shape == (batch,) + s, (name, l, o.shape, s)
        naive = naive_forward(layers, params_np, x_np, in_shape)
        for i, (o, nv) in enumerate(zip(outs, naive)):
            err = np.max(np.abs(np.asarray(o) - nv))
            assert err < 1e-12, f"{name}: layer {i} differs from the numpy loops by {err}"

        def lf(p, xx):
            o, _ = forward(layers, p, xx, in_shape)
            return loss_of(loss, o[-1], t)

        value, (gp, gx) = jax.value_and_grad(lf, argnums=(0, 1))(params, x)
        worst, count = fd_check(name, layers, loss, in_shape, params, x, t, gp, gx,
                                np.random.default_rng(seed + 1000))
        n_params = sum(int(np.prod(v.shape)) for v in params_np.values())
        summary.append((name, shapes, n_params, draws, count, worst))

        cases.append({
            "name": name,
            "layers": layers,
            "loss": loss,
            "batch": batch,
            "input_shape": list(in_shape),
            "draws": draws,
            "x": np.asarray(x).ravel().tolist(),
            "targets": (np.asarray(t_np).astype(int).ravel().tolist() if loss == "ce"
                        else np.asarray(t_np).ravel().tolist()),
            "params": [tensor_entry(k, v) for k, v in params_np.items()],
            "outputs": [{"layer": i, "kind": l[0], "shape": [batch] + list(s),
                         "values": np.asarray(o).ravel().tolist()}
                        for i, (l, o, s) in enumerate(zip(layers, outs, shapes[1:]))],
            "loss_value": float(value),
            "grad_params": [tensor_entry(k, gp[k]) for k in params_np],
            "grad_x": np.asarray(gx).ravel().tolist(),
        })

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "host-tests",
                        "fixtures", "conv_reference.json")
    with open(path, "w") as f:
        json.dump(cases, f, indent=1)
        f.write("\n")
    for name, shapes, n_params, draws, count, worst in summary:
        chain = " -> ".join("x".join(map(str, s)) for s in shapes)
        print(f"{name}: {chain}; {n_params} params; draws {draws}; "
              f"fd {count} coords, worst rel {worst:.1e}")
    print(f"wrote {len(cases)} cases to {os.path.normpath(path)} (jax {jax.__version__})")


if __name__ == "__main__":
    main()
