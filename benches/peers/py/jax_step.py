"""JAX: one jitted step (value_and_grad + SGD) per call, the loss read back
each step; the MLP and the BasicMotions CNN (lax.conv_general_dilated,
lax.reduce_window max pool)."""
import jax
import jax.numpy as jnp
import numpy as np

from common import (CNN_CHANNELS, CNN_CLASSES, CNN_HIDDEN, CNN_KERNEL, CNN_PAD, CNN_SHAPES,
                    CNN_STEPS, LR, SHAPES, batch, report, steps_per_sec)

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


def conv1d(x, w, b):
    """PyTorch's Conv1d(stride 1, padding CNN_PAD): x (batch, in, t), w (out, in, k)."""
    z = jax.lax.conv_general_dilated(x, w, window_strides=(1,), padding=[(CNN_PAD, CNN_PAD)],
                                     dimension_numbers=("NCH", "OIH", "NCH"))
    return z + b[None, :, None]


def cnn_loss_fn(params, x, y):
    w1, b1, w2, b2, w3, b3 = params
    a1 = jax.nn.relu(conv1d(x, w1, b1))
    p1 = jax.lax.reduce_window(a1, -jnp.inf, jax.lax.max, (1, 1, 2), (1, 1, 2), "VALID")
    a2 = jax.nn.relu(conv1d(p1, w2, b2))
    logits = a2.mean(axis=2) @ w3.T + b3
    logp = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))


@jax.jit
def cnn_step(params, x, y):
    loss, grads = jax.value_and_grad(cnn_loss_fn)(params, x, y)
    return loss, tuple(p - LR * g for p, g in zip(params, grads))


def cnn_params():
    rng = np.random.default_rng(0)
    ci, h, k, o = CNN_CHANNELS, CNN_HIDDEN, CNN_KERNEL, CNN_CLASSES

    def he(shape, fan_in):
        return jnp.asarray(rng.uniform(-1, 1, shape).astype(np.float32) * np.float32(np.sqrt(6 / fan_in)))

    return (he((h, ci, k), ci * k), jnp.zeros(h, jnp.float32),
            he((h, h, k), h * k), jnp.zeros(h, jnp.float32),
            he((o, h), h), jnp.zeros(o, jnp.float32))


def mlp_params(i, h, o):
    rng = np.random.default_rng(0)
    return (
        jnp.asarray(rng.uniform(-1, 1, (h, i)).astype(np.float32) * np.sqrt(6 / i), jnp.float32),
        jnp.zeros(h, jnp.float32),
        jnp.asarray(rng.uniform(-1, 1, (o, h)).astype(np.float32) * np.sqrt(6 / h), jnp.float32),
        jnp.zeros(o, jnp.float32),
    )


def main():
    for label, (i, h, o), rows in SHAPES:
        x, y = batch(np, rows, i, o)
        x, y = jnp.asarray(x), jnp.asarray(y, dtype=jnp.int32)
        state = {"p": mlp_params(i, h, o)}

        def one():
            loss, state["p"] = step(state["p"], x, y)
            return float(loss)  # waits for the step, as every peer reads its loss

        report(f"JAX {jax.__version__} jit", label, steps_per_sec(one))
    for label, rows in CNN_SHAPES:
        x, y = batch(np, rows, CNN_CHANNELS * CNN_STEPS, CNN_CLASSES)
        x = jnp.asarray(x.reshape(rows, CNN_CHANNELS, CNN_STEPS))
        y = jnp.asarray(y, dtype=jnp.int32)
        state = {"p": cnn_params()}

        def one():
            loss, state["p"] = cnn_step(state["p"], x, y)
            return float(loss)

        report(f"JAX {jax.__version__} jit", label, steps_per_sec(one))


if __name__ == "__main__":
    main()
