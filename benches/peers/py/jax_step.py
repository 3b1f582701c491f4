"""JAX: one jitted step (value_and_grad + SGD), parameters donated."""
import jax
import jax.numpy as jnp
import numpy as np

from common import LR, SHAPES, batch, report, steps_per_sec

jax.config.update("jax_platforms", "cpu")


def loss_fn(params, x, y):
    w1, b1, w2, b2 = params
    a1 = jax.nn.relu(x @ w1.T + b1)
    logits = a1 @ w2.T + b2
    logp = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))


@jax.jit
def step(params, x, y):
    loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
    return loss, tuple(p - LR * g for p, g in zip(params, grads))


def main():
    for label, (i, h, o), rows in SHAPES:
        x, y = batch(np, rows, i, o)
        x, y = jnp.asarray(x), jnp.asarray(y, dtype=jnp.int32)
        rng = np.random.default_rng(0)
        params = (
            jnp.asarray(rng.uniform(-1, 1, (h, i)).astype(np.float32) * np.sqrt(6 / i), jnp.float32),
            jnp.zeros(h, jnp.float32),
            jnp.asarray(rng.uniform(-1, 1, (o, h)).astype(np.float32) * np.sqrt(6 / h), jnp.float32),
            jnp.zeros(o, jnp.float32),
        )
        state = {"p": params}

        def one():
            loss, state["p"] = step(state["p"], x, y)
            return float(loss)  # waits for the step, as every peer reads its loss

        report(f"JAX {jax.__version__} jit", label, steps_per_sec(one))


if __name__ == "__main__":
    main()
