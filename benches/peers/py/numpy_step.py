"""numpy, forward and backward written by hand (the same math as microprop);
the CNN's convolutions as im2col + gemm and col2im, also by hand."""
import numpy as np

from common import (CNN_CHANNELS, CNN_CLASSES, CNN_HIDDEN, CNN_KERNEL, CNN_PAD, CNN_SHAPES,
                    CNN_STEPS, LR, SHAPES, batch, report, steps_per_sec)


def cnn_step_fn(rows):
    """One training step of the BasicMotions CNN at batch `rows`, with state.

    Activations after the first convolution are kept time-major (batch, t,
    channels) so that each im2col is one gather and one reshape; weights are
    PyTorch's (out, in, k) for the first convolution and (out, k, in) for the
    second (the layout its time-major columns give)."""
    ci, h, k, pad, o = CNN_CHANNELS, CNN_HIDDEN, CNN_KERNEL, CNN_PAD, CNN_CLASSES
    t1 = CNN_STEPS
    t2 = t1 // 2
    x, y = batch(np, rows, ci * t1, o)
    x = x.reshape(rows, ci, t1)  # channels-first, as given
    rng = np.random.default_rng(0)

    def he(shape, fan_in):
        return rng.uniform(-1, 1, shape).astype(np.float32) * np.float32(np.sqrt(6 / fan_in))

    w1 = he((h, ci * k), ci * k)  # (out, in·k): row-major (out, in, k)
    b1 = np.zeros(h, np.float32)
    w2 = he((h, k * h), h * k)  # (out, k·in)
    b2 = np.zeros(h, np.float32)
    w3 = he((o, h), h)
    b3 = np.zeros(o, np.float32)
    onehot = np.eye(o, dtype=np.float32)[y]
    lr = np.float32(LR)
    win1 = np.arange(t1)[:, None] + np.arange(k)[None, :]  # (t1, k) taps of each output step
    win2 = np.arange(t2)[:, None] + np.arange(k)[None, :]
    xp = np.zeros((rows, ci, t1 + 2 * pad), np.float32)
    pp = np.zeros((rows, t2 + 2 * pad, h), np.float32)
    dpp = np.zeros_like(pp)
    batch_idx = np.arange(rows)

    def step():
        nonlocal w1, b1, w2, b2, w3, b3
        # conv1: zero-pad, im2col (rows·t1, in·k), gemm.
        xp[:, :, pad:pad + t1] = x
        cols1 = xp[:, :, win1].transpose(0, 2, 1, 3).reshape(rows * t1, ci * k)
        z1 = (cols1 @ w1.T + b1).reshape(rows, t2, 2, h)  # time-major
        a1 = np.maximum(z1, 0)
        # max pool 2/2 over time.
        p1 = a1.max(axis=2)
        # conv2: zero-pad, im2col (rows·t2, k·in), gemm.
        pp[:, pad:pad + t2, :] = p1
        cols2 = pp[:, win2, :].reshape(rows * t2, k * h)
        z2 = cols2 @ w2.T + b2
        a2 = np.maximum(z2, 0)
        # global average pool, dense, softmax cross-entropy.
        g = a2.reshape(rows, t2, h).mean(axis=1)
        logits = g @ w3.T + b3
        m = logits.max(axis=1, keepdims=True)
        e = np.exp(logits - m)
        s = e.sum(axis=1, keepdims=True)
        p = e / s
        loss = float(np.mean(np.log(s[:, 0]) + m[:, 0] - logits[batch_idx, y]))
        # backward.
        dlog = (p - onehot) / np.float32(rows)
        dw3 = dlog.T @ g
        db3 = dlog.sum(axis=0)
        dg = dlog @ w3
        dz2 = np.repeat(dg / np.float32(t2), t2, axis=0) * (z2 > 0)  # (rows·t2, h)
        dw2 = dz2.T @ cols2
        db2 = dz2.sum(axis=0)
        # col2im of conv2's input gradient: scatter-add each tap back.
        dcols2 = (dz2 @ w2).reshape(rows, t2, k, h)
        dpp.fill(0)
        for j in range(k):
            dpp[:, j:j + t2, :] += dcols2[:, :, j, :]
        dp1 = dpp[:, pad:pad + t2, :]
        # max pool backward to the maximum (ties only where ReLU's gradient is 0).
        dz1 = (a1 == p1[:, :, None, :]) * dp1[:, :, None, :] * (z1 > 0)
        dz1 = dz1.reshape(rows * t1, h)
        dw1 = dz1.T @ cols1
        db1 = dz1.sum(axis=0)
        w1 -= lr * dw1
        b1 -= lr * db1
        w2 -= lr * dw2
        b2 -= lr * db2
        w3 -= lr * dw3
        b3 -= lr * db3
        return loss

    return step


def main():
    for label, (i, h, o), rows in SHAPES:
        x, y = batch(np, rows, i, o)
        rng = np.random.default_rng(0)
        w1 = rng.uniform(-1, 1, (h, i)).astype(np.float32) * np.float32(np.sqrt(6 / i))
        b1 = np.zeros(h, np.float32)
        w2 = rng.uniform(-1, 1, (o, h)).astype(np.float32) * np.float32(np.sqrt(6 / h))
        b2 = np.zeros(o, np.float32)
        onehot = np.eye(o, dtype=np.float32)[y]
        lr = np.float32(LR)

        def step():
            nonlocal w1, b1, w2, b2
            z1 = x @ w1.T + b1
            a1 = np.maximum(z1, 0)
            logits = a1 @ w2.T + b2
            m = logits.max(axis=1, keepdims=True)
            e = np.exp(logits - m)
            s = e.sum(axis=1, keepdims=True)
            p = e / s
            loss = float(np.mean(np.log(s[:, 0]) + m[:, 0] - logits[np.arange(rows), y]))
            dz2 = (p - onehot) / rows
            dw2 = dz2.T @ a1
            db2 = dz2.sum(axis=0)
            da1 = dz2 @ w2
            dz1 = da1 * (z1 > 0)
            dw1 = dz1.T @ x
            db1 = dz1.sum(axis=0)
            w1 -= lr * dw1
            b1 -= lr * db1
            w2 -= lr * dw2
            b2 -= lr * db2
            return loss

        report("numpy (hand-written)", label, steps_per_sec(step))
    for label, rows in CNN_SHAPES:
        report("numpy (hand-written)", label, steps_per_sec(cnn_step_fn(rows)))


if __name__ == "__main__":
    main()
