"""microprop from Python: the Rust library that trains neural networks on
microcontrollers, driven from numpy.

A :class:`Network` runs the CPU backend's kernels, the same code a
firmware runs, so training here in ``float32`` or ``"q10"`` gives the
device's results bit for bit (same seed, same data, same order).

>>> import microprop, numpy as np
>>> net = microprop.Network("dense(2,4) tanh dense(4,2)", batch=4, lr=0.5, seed=1)
>>> x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
>>> y = np.array([0, 1, 1, 0])
>>> for _ in range(500):
...     loss = net.train_step(x, y)
>>> net.evaluate(x, y).accuracy
1.0
"""

from . import errors
from ._native import Evaluation, Network, check_blob, digits, safetensors_spec
from .errors import *  # noqa: F401,F403 (the exception classes)

__all__ = [
    "Network",
    "Evaluation",
    "digits",
    "check_blob",
    "safetensors_spec",
    "errors",
] + errors.__all__
