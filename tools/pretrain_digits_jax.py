#!/usr/bin/env python3
"""Pretrain the `finetune` firmware's digits model in JAX (issue 7's round trip).

The start of the chain JAX -> safetensors -> microprop -> blob -> firmware ->
fine-tuned on the device. It trains nn.Sequential(nn.Linear(64,16), nn.ReLU(),
nn.Linear(16,10)) with softmax cross-entropy and Adam (lr 0.005, batch 16,
30 epochs, PyTorch's nn.Linear initialisation) on the *unshifted* training
images of the firmware's split of data/digits.csv (image i is held out when
i % 5 == 4; pixels / 16), and writes:

  * firmware-examples/models/digits-jax.safetensors: the f32 weights with
    PyTorch's names (0.weight [16,64], 0.bias, 2.weight [10,16], 2.bias) and
    only {"format": "pt"} as metadata, like a file from PyTorch: microprop
    must be told the spec (`microprop to-blob --spec ...`);
  * firmware-examples/models/digits-jax.json: what JAX measures on those
    f32 weights (evaluated in float64): accuracy on the 359 unshifted
    held-out images and on the 179 odd-numbered held-out images shifted one
    pixel right and down (zero fill), the two numbers the firmware prints
    "before" fine-tuning. CI (tools/desktop-to-device.sh) requires the
    device to print the same ones.

`--hidden 32` trains the 64-32-10 model the firmware fine-tunes on the boards
with more RAM (M4F, M33) and writes digits32-jax.safetensors and
digits32-jax.json instead (weights [32,64], [32], [10,32], [10]).

Both outputs are committed; CI does not need Python or JAX.

    pip install jax numpy safetensors && python3 tools/pretrain_digits_jax.py
    python3 tools/pretrain_digits_jax.py --hidden 32
"""
import argparse
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from safetensors.numpy import save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MODELS = os.path.join(ROOT, "firmware-examples", "models")
HIDDEN = 16  # set by --hidden: 16 (the M0's model) or 32 (the M4F's)
EPOCHS, BATCH, LR, B1, B2, EPS = 30, 16, 0.005, 0.9, 0.999, 1e-8
SHIFT = (1, 1)  # right, down


def load():
    raw = np.loadtxt(os.path.join(ROOT, "data", "digits.csv"), delimiter=",")
    assert raw.shape == (1797, 65)
    return raw[:, :64] / 16.0, raw[:, 64].astype(np.int64)


def shift(x, dx, dy):
    img = x.reshape(-1, 8, 8)
    out = np.zeros_like(img)
    out[:, dy:, dx:] = img[:, : 8 - dy, : 8 - dx]
    return out.reshape(-1, 64)


def init(key):
    """PyTorch's nn.Linear init: weight and bias ~ U(-1/sqrt(in), 1/sqrt(in))."""
    params = {}
    for name, (fan_in, fan_out) in (("0", (64, HIDDEN)), ("2", (HIDDEN, 10))):
        key, kw, kb = jax.random.split(key, 3)
        bound = 1.0 / np.sqrt(fan_in)
        params[name + ".weight"] = jax.random.uniform(kw, (fan_out, fan_in), jnp.float32, -bound, bound)
        params[name + ".bias"] = jax.random.uniform(kb, (fan_out,), jnp.float32, -bound, bound)
    return params


def logits(p, x):
    h = jax.nn.relu(x @ p["0.weight"].T + p["0.bias"])
    return h @ p["2.weight"].T + p["2.bias"]


def loss(p, x, y):
    z = logits(p, x)
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(z), y[:, None], axis=1))


@jax.jit
def adam_step(p, m, v, t, x, y):
    g = jax.grad(loss)(p, x, y)
    m = jax.tree.map(lambda m, g: B1 * m + (1 - B1) * g, m, g)
    v = jax.tree.map(lambda v, g: B2 * v + (1 - B2) * g * g, v, g)
    c1, c2 = 1 - B1**t, 1 - B2**t
    p = jax.tree.map(lambda p, m, v: p - LR * (m / c1) / (jnp.sqrt(v / c2) + EPS), p, m, v)
    return p, m, v


def right(p64, x, y):
    """Images classified right, in NumPy float64 on the f32 weights."""
    h = np.maximum(x @ p64["0.weight"].T + p64["0.bias"], 0.0)
    z = h @ p64["2.weight"].T + p64["2.bias"]
    return int(np.sum(np.argmax(z, axis=1) == y))


def main():
    global HIDDEN
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hidden", type=int, choices=(16, 32), default=16,
                    help="hidden width: 16 writes digits-jax.*, 32 writes digits32-jax.*")
    HIDDEN = ap.parse_args().hidden
    stem = "digits-jax" if HIDDEN == 16 else f"digits{HIDDEN}-jax"
    spec = f"dense(64,{HIDDEN}) relu dense({HIDDEN},10)"
    x, y = load()
    idx = np.arange(len(y))
    train, held = idx[idx % 5 != 4], idx[idx % 5 == 4]
    xt, yt = jnp.asarray(x[train], jnp.float32), jnp.asarray(y[train])
    p = init(jax.random.PRNGKey(0))
    m = jax.tree.map(jnp.zeros_like, p)
    v = jax.tree.map(jnp.zeros_like, p)
    rng = np.random.default_rng(0)
    t = 0
    for epoch in range(1, EPOCHS + 1):
        order = rng.permutation(len(train))
        for s in range(0, len(order), BATCH):
            b = order[s : s + BATCH]
            t += 1
            p, m, v = adam_step(p, m, v, t, xt[b], yt[b])
        if epoch % 5 == 0:
            print(f"epoch {epoch:3d}  train loss {float(loss(p, xt, yt)):.4f}")

    p32 = {k: np.asarray(w, dtype=np.float32) for k, w in p.items()}
    os.makedirs(MODELS, exist_ok=True)
    save_file(p32, os.path.join(MODELS, stem + ".safetensors"), metadata={"format": "pt"})

    # What the firmware prints before fine-tuning, measured here in float64
    # on the saved f32 weights.
    p64 = {k: w.astype(np.float64) for k, w in p32.items()}
    test = held[1::2]
    xs = shift(x[test], *SHIFT)
    result = {
        "spec": spec,
        "parameters": int(sum(w.size for w in p32.values())),
        "train_accuracy": right(p64, x[train], y[train]) / len(train),
        "unshifted_heldout_right": right(p64, x[held], y[held]),
        "unshifted_heldout_images": int(len(held)),
        "unshifted_heldout_accuracy": right(p64, x[held], y[held]) / len(held),
        "shifted_test_right": right(p64, xs, y[test]),
        "shifted_test_images": int(len(test)),
        "shifted_test_accuracy": right(p64, xs, y[test]) / len(test),
        "shift": list(SHIFT),
    }
    with open(os.path.join(MODELS, stem + ".json"), "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
