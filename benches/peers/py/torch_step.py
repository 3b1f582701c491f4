"""PyTorch CPU eager: nn.Linear (and nn.Conv1d, nn.MaxPool1d for the CNN),
cross_entropy, torch.optim.SGD (when installed)."""
import sys

try:
    import torch
except ImportError:
    print("PyTorch\tall\tnot installed", flush=True)
    sys.exit(0)

import numpy as np

from common import (CNN_CHANNELS, CNN_CLASSES, CNN_HIDDEN, CNN_KERNEL, CNN_PAD, CNN_SHAPES,
                    CNN_STEPS, LR, SHAPES, batch, report, steps_per_sec)

torch.set_num_threads(1)


def measure(label, model, x, y):
    opt = torch.optim.SGD(model.parameters(), lr=LR)

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    report(f"PyTorch {torch.__version__}", label, steps_per_sec(step))


def main():
    nn = torch.nn
    for label, (i, h, o), rows in SHAPES:
        x, y = batch(np, rows, i, o)
        x, y = torch.from_numpy(x), torch.from_numpy(y).long()
        measure(label, nn.Sequential(nn.Linear(i, h), nn.ReLU(), nn.Linear(h, o)), x, y)
    for label, rows in CNN_SHAPES:
        x, y = batch(np, rows, CNN_CHANNELS * CNN_STEPS, CNN_CLASSES)
        x = torch.from_numpy(x.reshape(rows, CNN_CHANNELS, CNN_STEPS))
        y = torch.from_numpy(y).long()
        c, h, k, pad = CNN_CHANNELS, CNN_HIDDEN, CNN_KERNEL, CNN_PAD
        model = nn.Sequential(
            nn.Conv1d(c, h, k, stride=1, padding=pad), nn.ReLU(), nn.MaxPool1d(2, 2),
            nn.Conv1d(h, h, k, stride=1, padding=pad), nn.ReLU(),
            nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(h, CNN_CLASSES))
        measure(label, model, x, y)


if __name__ == "__main__":
    main()
