"""The fleet's learning task: the UCI digits split into non-IID shards.

Every client, simulated or device, trains the same microprop model, so a
simulated client and a firmware run the same Rust kernels.
"""

from __future__ import annotations

import dataclasses

import numpy as np

import microprop

#: The fleet's model (2,410 parameters, a 9,660-byte device blob).
SPEC = "dense(64,32) relu dense(32,10)"
#: A device trains the last layer only (a partial update: 330 parameters).
DEVICE_TRAIN = ["frozen", "frozen", "full"]
CLASSES = 10


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How a client trains in one round, and how the fleet is run."""

    #: Local epochs over the client's shard per round.
    epochs: int = 2
    #: Batch-1 SGD, the microcontroller's optimizer, for every client.
    lr: float = 0.05
    #: FedProx's proximal mu (0: FedAvg). The client adds mu/2 * ||w - w_g||^2
    #: to its loss as an L2-SP anchor on the global model's blob (weights,
    #: not biases).
    mu: float = 0.0
    #: Seed of the global model's initialisation and of the visiting order.
    seed: int = 1


def data():
    """``(x_train, y_train, train_index, x_test, y_test)``: the firmware's
    split of the digits (image ``i`` is held out when ``i % 5 == 4``); the
    train index maps a training row back to its image in the device's flash."""
    x, y, held = microprop.digits()
    train_index = np.nonzero(~held)[0]
    return x[~held], y[~held], train_index, x[held], y[held]


def client_classes(num_clients: int) -> list[list[int]]:
    """Each client holds 2 or 3 classes (alternately), dealt in turn around
    the ten classes, so every four clients cover all ten."""
    out, start = [], 0
    for c in range(num_clients):
        k = 2 + c % 2
        out.append([(start + j) % CLASSES for j in range(k)])
        start = (start + k) % CLASSES
    return out


def partition(y_train: np.ndarray, num_clients: int) -> list[np.ndarray]:
    """Rows of the training set per client: each class's images, in order,
    dealt round-robin to the clients holding that class. Disjoint."""
    classes = client_classes(num_clients)
    holders = {k: [c for c in range(num_clients) if k in classes[c]] for k in range(CLASSES)}
    shards: list[list[int]] = [[] for _ in range(num_clients)]
    for k in range(CLASSES):
        if not holders[k]:
            continue
        rows = np.nonzero(y_train == k)[0]
        for j, r in enumerate(rows):
            shards[holders[k][j % len(holders[k])]].append(int(r))
    return [np.array(sorted(s), dtype=np.int64) for s in shards]


def visiting_order(rows: np.ndarray, epochs: int, seed: int, client: int, rnd: int) -> np.ndarray:
    """The client's rows for one round: ``epochs`` shuffled passes."""
    rng = np.random.default_rng([seed, client, rnd])
    return np.concatenate([rng.permutation(rows) for _ in range(epochs)])


def new_network(*, device: bool = False, seed: int = 1, lr: float = 0.05, dtype: str = "float32") -> microprop.Network:
    """The fleet's model for batch-1 SGD. ``device=True``: the partial
    update a device trains, in its element (``dtype``), on the reference
    kernels, whose sums run in the order of the M4F's and M33's FPU kernels
    (the same bits; in ``"q10"`` every target gives the same bits)."""
    if device:
        return microprop.Network(
            SPEC, batch=1, optimizer="sgd", lr=lr, seed=seed, train=DEVICE_TRAIN, kernels="reference", dtype=dtype
        )
    return microprop.Network(SPEC, batch=1, optimizer="sgd", lr=lr, seed=seed)


def sgd(net: microprop.Network, x: np.ndarray, y: np.ndarray, order: np.ndarray) -> list[float]:
    """One batch-1 SGD step per row of ``order``, in order (what every
    client, the devices and the baselines run); the losses."""
    return [net.train_step(x[i : i + 1], y[i : i + 1]) for i in order]


def local_round(
    net: microprop.Network, global_blob: bytes, x: np.ndarray, y: np.ndarray, order: np.ndarray, mu: float
) -> float:
    """One client's round: start from the global model (its blob, CRC
    checked), add FedProx's proximal term when ``mu > 0``, one batch-1 SGD
    step per row of ``order``. Returns the mean training loss."""
    net.load_blob(global_blob)
    if mu > 0:
        net.set_anchor(global_blob, mu / 2)
    else:
        net.clear_anchor()
    losses = sgd(net, x, y, order)
    return float(np.mean(losses)) if losses else 0.0


def train_alone(
    x: np.ndarray, y: np.ndarray, rows: np.ndarray, epochs: int, recipe: Recipe, client: int
) -> microprop.Network:
    """A client's model trained on its own shard only, for ``epochs``
    passes: the local-only baseline."""
    net = new_network(seed=recipe.seed, lr=recipe.lr)
    sgd(net, x, y, visiting_order(rows, epochs, recipe.seed, client, 0))
    return net


def centralized(epochs: int, recipe: Recipe) -> float:
    """Test accuracy of the model trained on all the training data in one
    place, the same recipe (batch-1 SGD), ``epochs`` passes."""
    x, y, _, xt, yt = data()
    net = new_network(seed=recipe.seed, lr=recipe.lr)
    sgd(net, x, y, visiting_order(np.arange(len(y)), epochs, recipe.seed, 10**6, 0))
    return net.evaluate(xt, yt).accuracy
