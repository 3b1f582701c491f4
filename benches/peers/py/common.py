"""Shared shapes, data and timing loop of the Python peers (mirrors src/lib.rs)."""
import time

SHAPES = [
    ("64-32-10 batch 32", (64, 32, 10), 32),
    ("64-32-10 batch 1", (64, 32, 10), 1),
    ("784-128-10 batch 32", (784, 128, 10), 32),
]
LR = 0.01

# The BasicMotions 1-D CNN step (mirrors CNN_SHAPES in src/lib.rs): input
# batch x 6 channels x 100 steps (channels-first), conv1d(6->8, k 5, pad 2),
# ReLU, MaxPool1d(2, 2), conv1d(8->8, k 5, pad 2), ReLU, global average pool
# over the 50 steps, Linear(8->4), softmax cross-entropy.
CNN_SHAPES = [
    ("BasicMotions CNN batch 8", 8),
    ("BasicMotions CNN batch 32", 32),
]
CNN_CHANNELS, CNN_STEPS, CNN_HIDDEN, CNN_KERNEL, CNN_PAD, CNN_CLASSES = 6, 100, 8, 5, 2, 4


def batch(np, rows, inputs, classes, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.random((rows, inputs), dtype=np.float32)
    y = rng.integers(0, classes, size=rows)
    return x, y


def steps_per_sec(step):
    """Warm up 0.3 s, then the median of 7 rounds of ~0.3 s."""
    t = time.perf_counter()
    n = 0
    while time.perf_counter() - t < 0.3:
        step()
        n += 1
    per_round = max(n, 10)
    rates = []
    for _ in range(7):
        t = time.perf_counter()
        for _ in range(per_round):
            step()
        rates.append(per_round / (time.perf_counter() - t))
    rates.sort()
    return rates[3]


def report(impl, shape, rate):
    print(f"{impl}\t{shape}\t{rate:.0f}", flush=True)
