#!/usr/bin/env python3
"""Independent reference gradients for microprop's shared suite.

Builds a few small fixed networks in JAX (float64), evaluates outputs, the loss
(same definitions as microprop's docs: MSE mean over all elements, softmax
cross-entropy mean over rows, CS231n multiclass hinge with margin 1 mean over
rows, plus lambda * sum of squared weights) and their gradients with respect to
every parameter and every input by automatic differentiation, and writes them
to host-tests/fixtures/jax_reference.json.

Hyperparameters are exactly representable in f32 (microprop's config type).

Parameter layout is microprop's (PyTorch nn.Linear): per layer W [out, in]
row-major then b [out]; maxout's pieces of unit u are rows u*k .. (u+1)*k.

    pip install jax numpy && python3 tools/jax_reference.py
"""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

CASES = [
    ("dense-tanh-dense/mse", [["dense", 3, 4], ["tanh"], ["dense", 4, 2]], "mse", 0.0, 3),
    ("dense-relu-dense/ce+l2", [["dense", 5, 6], ["relu"], ["dense", 6, 4]], "ce", 0.015625, 4),
    ("maxout-sigmoid-dense/hinge", [["maxout", 3, 4, 2], ["sigmoid"], ["dense", 4, 3]], "hinge", 0.0, 2),
    ("elu-softplus-leaky/mse",
     [["dense", 4, 5], ["elu", 1.0], ["dense", 5, 5], ["softplus"], ["dense", 5, 3], ["leaky_relu", 0.25]],
     "mse", 0.0, 3),
    ("dense-softmax/mse", [["dense", 3, 3], ["softmax"]], "mse", 0.0, 2),
    ("deep-relu/ce", [["dense", 6, 8], ["relu"], ["dense", 8, 8], ["relu"], ["dense", 8, 5]], "ce", 0.0, 5),
]


def param_shapes(layers):
    shapes = []
    for l in layers:
        if l[0] == "dense":
            shapes.append(((l[2], l[1]), (l[2],)))
        elif l[0] == "maxout":
            shapes.append(((l[2] * l[3], l[1]), (l[2] * l[3],)))
        else:
            shapes.append(None)
    return shapes


def unflatten(layers, flat):
    out, off = [], 0
    for s in param_shapes(layers):
        if s is None:
            out.append(None)
            continue
        (wo, wi), (bn,) = s
        w = flat[off:off + wo * wi].reshape(wo, wi)
        off += wo * wi
        b = flat[off:off + bn]
        off += bn
        out.append((w, b))
    return out, off


def forward(layers, flat, x):
    params, _ = unflatten(layers, flat)
    h = x
    for l, p in zip(layers, params):
        k = l[0]
        if k == "dense":
            h = h @ p[0].T + p[1]
        elif k == "maxout":
            z = h @ p[0].T + p[1]
            h = z.reshape(z.shape[0], l[2], l[3]).max(axis=2)
        elif k == "sigmoid":
            h = jax.nn.sigmoid(h)
        elif k == "tanh":
            h = jnp.tanh(h)
        elif k == "relu":
            h = jnp.maximum(h, 0.0)
        elif k == "leaky_relu":
            h = jnp.where(h > 0, h, l[1] * h)
        elif k == "elu":
            h = jnp.where(h > 0, h, l[1] * (jnp.exp(h) - 1.0))
        elif k == "softplus":
            h = jnp.logaddexp(h, 0.0)
        elif k == "softmax":
            h = jax.nn.softmax(h, axis=1)
        else:
            raise ValueError(k)
    return h


def loss_fn(layers, loss, l2, flat, x, t):
    out = forward(layers, flat, x)
    rows = out.shape[0]
    if loss == "mse":
        data = jnp.mean((out - t) ** 2)
    elif loss == "ce":
        lab = t.astype(jnp.int32)
        data = jnp.mean(jax.nn.logsumexp(out, axis=1) - out[jnp.arange(rows), lab])
    elif loss == "hinge":
        lab = t.astype(jnp.int32)
        correct = out[jnp.arange(rows), lab][:, None]
        margins = jnp.maximum(0.0, out - correct + 1.0)
        margins = margins.at[jnp.arange(rows), lab].set(0.0)
        data = jnp.mean(jnp.sum(margins, axis=1))
    else:
        raise ValueError(loss)
    params, _ = unflatten(layers, flat)
    reg = sum(jnp.sum(p[0] ** 2) for p in params if p is not None)
    return data + l2 * reg


def main():
    rng = np.random.default_rng(20261122)
    cases = []
    for name, layers, loss, l2, rows in CASES:
        _, n_params = unflatten(layers, np.zeros(100000))
        flat = jnp.asarray(rng.uniform(-1.0, 1.0, n_params))
        n_in = layers[0][1]
        x = jnp.asarray(rng.uniform(-1.5, 1.5, (rows, n_in)))
        out = forward(layers, flat, x)
        n_out = out.shape[1]
        if loss == "mse":
            t = jnp.asarray(rng.uniform(-1.0, 1.0, (rows, n_out)))
        else:
            t = jnp.asarray(rng.integers(0, n_out, rows).astype(np.float64))
        value, (gp, gx) = jax.value_and_grad(
            lambda p, xx: loss_fn(layers, loss, l2, p, xx, t), argnums=(0, 1))(flat, x)
        cases.append({
            "name": name,
            "layers": layers,
            "loss": loss,
            "l2": l2,
            "rows": rows,
            "params": np.asarray(flat).tolist(),
            "x": np.asarray(x).ravel().tolist(),
            "targets": np.asarray(t).ravel().tolist(),
            "outputs": np.asarray(out).ravel().tolist(),
            "loss_value": float(value),
            "grad_params": np.asarray(gp).tolist(),
            "grad_x": np.asarray(gx).ravel().tolist(),
        })
    path = os.path.join(os.path.dirname(__file__), "..", "host-tests", "fixtures", "jax_reference.json")
    with open(path, "w") as f:
        json.dump(cases, f, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {os.path.normpath(path)} (jax {jax.__version__})")


if __name__ == "__main__":
    main()
