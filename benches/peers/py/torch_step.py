"""PyTorch CPU: nn.Linear, cross_entropy, torch.optim.SGD (when installed)."""
import sys

try:
    import torch
except ImportError:
    print("PyTorch\tall\tnot installed", flush=True)
    sys.exit(0)

import numpy as np

from common import LR, SHAPES, batch, report, steps_per_sec

torch.set_num_threads(1)


def main():
    for label, (i, h, o), rows in SHAPES:
        x, y = batch(np, rows, i, o)
        x, y = torch.from_numpy(x), torch.from_numpy(y).long()
        model = torch.nn.Sequential(torch.nn.Linear(i, h), torch.nn.ReLU(), torch.nn.Linear(h, o))
        opt = torch.optim.SGD(model.parameters(), lr=LR)

        def step():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss.item()

        report(f"PyTorch {torch.__version__}", label, steps_per_sec(step))


if __name__ == "__main__":
    main()
