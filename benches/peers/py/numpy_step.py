"""numpy, forward and backward written by hand (the same math as microprop)."""
import numpy as np

from common import LR, SHAPES, batch, report, steps_per_sec


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


if __name__ == "__main__":
    main()
