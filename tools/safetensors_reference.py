#!/usr/bin/env python3
"""Cross-framework fixture for microprop's safetensors import (issue 7).

Builds two small MLPs in JAX with PyTorch's nn.Sequential naming and
nn.Linear initialisation (weight and bias ~ U(-1/sqrt(in), 1/sqrt(in))),
saves their f32 weights as safetensors the way PyTorch's
`safetensors.torch.save_file(model.state_dict(), ...)` would name them, and
writes host-tests/fixtures/jax_mlp.json with input rows (the first digits
images, pixels / 16, exact in f32), the JAX logits, the mean softmax
cross-entropy loss and its gradient with respect to every tensor.

  * jax_mlp.safetensors: nn.Sequential(nn.Linear(64,32), nn.ReLU(),
    nn.Linear(32,10)) -> 0.weight [32,64], 0.bias, 2.weight [10,32], 2.bias;
    carries microprop's `microprop.spec` metadata.
  * jax_mlp_tanh.safetensors: Linear(64,16) Tanh Linear(16,12) Sigmoid
    Linear(12,10) -> tensors 0.*, 2.*, 4.*; metadata only {"format": "pt"}
    like a file from PyTorch, so microprop must be told the spec.

The forward pass and gradients are evaluated in float64 (jax_enable_x64) on
the float32 weights and inputs, so the reference carries no f32 rounding of
its own. torch is not needed; with torch installed, `--check-torch` also
loads the files into nn.Sequential and compares its logits.

    python3 tools/safetensors_reference.py [--check-torch]
"""
import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
from safetensors.numpy import save_file

jax.config.update("jax_enable_x64", True)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIXTURES = os.path.join(ROOT, "host-tests", "fixtures")

# (file, spec text, layers, write microprop metadata?)
MODELS = [
    ("jax_mlp.safetensors", "dense(64,32) relu dense(32,10)",
     [("dense", 64, 32), ("relu",), ("dense", 32, 10)], True),
    ("jax_mlp_tanh.safetensors", "dense(64,16) tanh dense(16,12) sigmoid dense(12,10)",
     [("dense", 64, 16), ("tanh",), ("dense", 16, 12), ("sigmoid",), ("dense", 12, 10)], False),
]
ROWS = 8


def init_linear(key, n_in, n_out):
    """PyTorch nn.Linear.reset_parameters: kaiming_uniform(a=sqrt(5)) for the
    weight is U(-1/sqrt(in), 1/sqrt(in)); the bias uses the same bound."""
    kw, kb = jax.random.split(key)
    bound = 1.0 / np.sqrt(n_in)
    w = jax.random.uniform(kw, (n_out, n_in), jnp.float32, -bound, bound)
    b = jax.random.uniform(kb, (n_out,), jnp.float32, -bound, bound)
    return np.asarray(w, np.float32), np.asarray(b, np.float32)


def forward(layers, params, x):
    h = x
    for i, layer in enumerate(layers):
        if layer[0] == "dense":
            h = h @ params[f"{i}.weight"].T + params[f"{i}.bias"]
        elif layer[0] == "relu":
            h = jnp.maximum(h, 0.0)
        elif layer[0] == "tanh":
            h = jnp.tanh(h)
        elif layer[0] == "sigmoid":
            h = jax.nn.sigmoid(h)
        else:
            raise ValueError(layer)
    return h


def ce_loss(layers, params, x, labels):
    logits = forward(layers, params, x)
    rows = logits.shape[0]
    return jnp.mean(jax.nn.logsumexp(logits, axis=1) - logits[jnp.arange(rows), labels])


def main():
    data = np.loadtxt(os.path.join(ROOT, "data", "digits.csv"), delimiter=",")[:ROWS]
    x32 = (data[:, :64] / 16.0).astype(np.float32)
    labels = data[:, 64].astype(np.int64)
    key = jax.random.PRNGKey(7)
    out = {"rows": ROWS, "x": x32.astype(np.float64).ravel().tolist(),
           "labels": labels.tolist(), "models": []}
    for file, spec, layers, with_meta in MODELS:
        params32 = {}
        for i, layer in enumerate(layers):
            if layer[0] == "dense":
                key, sub = jax.random.split(key)
                w, b = init_linear(sub, layer[1], layer[2])
                params32[f"{i}.weight"], params32[f"{i}.bias"] = w, b
        # microprop writes one metadata key; a PyTorch-style file gets torch's.
        meta = {"microprop.spec": spec} if with_meta else {"format": "pt"}
        save_file(params32, os.path.join(FIXTURES, file), metadata=meta)
        p64 = {k: jnp.asarray(v, jnp.float64) for k, v in params32.items()}
        x64 = jnp.asarray(x32, jnp.float64)
        logits = forward(layers, p64, x64)
        loss, grads = jax.value_and_grad(lambda p: ce_loss(layers, p, x64, labels))(p64)
        out["models"].append({
            "file": file,
            "spec": spec,
            "metadata": with_meta,
            "logits": np.asarray(logits).ravel().tolist(),
            "loss": float(loss),
            "grads": {k: np.asarray(g).ravel().tolist() for k, g in sorted(grads.items())},
        })
        print(f"{file}: {spec}, {sum(v.size for v in params32.values())} parameters, "
              f"loss {float(loss):.6f}, {os.path.getsize(os.path.join(FIXTURES, file))} bytes")
    path = os.path.join(FIXTURES, "jax_mlp.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {os.path.relpath(path, ROOT)} (jax {jax.__version__}, numpy {np.__version__})")

    if "--check-torch" in sys.argv:
        import torch  # optional: not needed for the fixture
        from safetensors.torch import load_file
        for (file, _, layers, _), m in zip(MODELS, out["models"]):
            mods = []
            for layer in layers:
                if layer[0] == "dense":
                    mods.append(torch.nn.Linear(layer[1], layer[2]))
                else:
                    mods.append({"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh,
                                 "sigmoid": torch.nn.Sigmoid}[layer[0]]())
            net = torch.nn.Sequential(*mods).double()
            net.load_state_dict({k: v.double() for k, v in load_file(os.path.join(FIXTURES, file)).items()})
            got = net(torch.tensor(x32, dtype=torch.float64)).detach().numpy().ravel()
            diff = np.max(np.abs(got - np.asarray(m["logits"])))
            print(f"torch {file}: max |logit difference| vs JAX = {diff:.3e}")


if __name__ == "__main__":
    main()
