"""JAX, the strongest form: the whole training loop inside one jit,
`jax.lax.scan` over K steps of value_and_grad + SGD (the same loss functions,
init and data as jax_step.py), no Python per step. One call runs K steps and
returns the K losses; the call is timed (the final loss read back, which
waits for it) by the shared loop, and steps/s = K x calls/s.

    python3 jax_scan.py           # the five shapes, one result line each
    python3 jax_scan.py --check   # scan losses vs per-step jax_step losses
"""
import functools
import sys

import jax
import jax.numpy as jnp
import numpy as np

from common import CNN_CHANNELS, CNN_CLASSES, CNN_SHAPES, CNN_STEPS, LR, SHAPES, batch, report, steps_per_sec
from jax_step import cnn_loss_fn, cnn_params, cnn_step, loss_fn, mlp_params, step

jax.config.update("jax_platforms", "cpu")

K = 200  # training steps per jitted call


@functools.partial(jax.jit, static_argnames=("loss", "k"))
def train(params, x, y, loss, k):
    """k SGD steps of `loss` on (x, y) in one XLA computation; returns the
    final parameters and the loss of every step."""

    def body(p, _):
        value, grads = jax.value_and_grad(loss)(p, x, y)
        return tuple(pi - LR * gi for pi, gi in zip(p, grads)), value

    return jax.lax.scan(body, params, None, length=k)


def cases():
    """(label, loss function, per-step jitted step, init params, x, y) per shape."""
    for label, (i, h, o), rows in SHAPES:
        x, y = batch(np, rows, i, o)
        yield label, loss_fn, step, mlp_params(i, h, o), jnp.asarray(x), jnp.asarray(y, dtype=jnp.int32)
    for label, rows in CNN_SHAPES:
        x, y = batch(np, rows, CNN_CHANNELS * CNN_STEPS, CNN_CLASSES)
        x = jnp.asarray(x.reshape(rows, CNN_CHANNELS, CNN_STEPS))
        yield label, cnn_loss_fn, cnn_step, cnn_params(), x, jnp.asarray(y, dtype=jnp.int32)


def check(steps=5):
    """The scan runs the same computation as the per-step jit: same losses
    over `steps` steps from the same init, and the same final parameters."""
    worst = 0.0
    for label, loss, one_step, params, x, y in cases():
        p, per_step = params, []
        for _ in range(steps):
            value, p = one_step(p, x, y)
            per_step.append(float(value))
        q, scanned = train(params, x, y, loss, steps)
        dl = float(np.max(np.abs(np.asarray(scanned) - np.asarray(per_step))))
        dp = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(p, q))
        worst = max(worst, dl, dp)
        print(f"{label}: losses {np.asarray(scanned)} vs per-step {np.asarray(per_step)}; "
              f"max |diff| loss {dl:.2e}, params {dp:.2e}")
    print(f"worst |diff| {worst:.2e}")
    return worst < 1e-5


def main():
    name = f"JAX {jax.__version__}, loop in one jit (lax.scan)"
    for label, loss, _, params, x, y in cases():
        state = {"p": params}

        def one():
            state["p"], losses = train(state["p"], x, y, loss, K)
            return float(losses[-1])  # waits for the K steps

        report(name, label, K * steps_per_sec(one))


if __name__ == "__main__":
    if "--check" in sys.argv:
        sys.exit(0 if check() else 1)
    main()
