"""The Flower apps: a ServerApp running FedAvg or FedProx over microprop
models, and a ClientApp that trains a simulated client in-process or hands
the round to a firmware under QEMU."""

from __future__ import annotations

import functools
import time

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg, FedProx

from . import device, task

_DATA = None


def _data():
    """The digits, loaded once per process (a Ray actor keeps it)."""
    global _DATA
    if _DATA is None:
        _DATA = task.data()
    return _DATA


@functools.lru_cache(maxsize=None)
def _shards(num_clients: int) -> list:
    """Every client's rows, computed once per process."""
    return task.partition(_data()[1], num_clients)


def to_arrays(net) -> ArrayRecord:
    """A network's parameters as Flower arrays (one float32 vector, the
    device blob's order)."""
    return ArrayRecord([net.parameters()])


def make_client_app(num_clients: int, devices: dict[int, str], recipe: task.Recipe) -> ClientApp:
    """The ClientApp. ``devices`` maps a partition id to a board
    (``"m4f"``, ``"m33"``, ``"m0"``): that client is a firmware under QEMU."""
    app = ClientApp()

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        pid = int(context.node_config["partition-id"])
        cfg = msg.content["config"]
        rnd = int(cfg["server-round"])
        mu = float(cfg.get("proximal-mu", 0.0))
        x, y, train_index, _, _ = _data()
        rows = _shards(num_clients)[pid]
        order = task.visiting_order(rows, recipe.epochs, recipe.seed, pid, rnd)
        # The global model as the device blob a firmware would get (in
        # fixed point for an M0: rounded to Q10 here, on the host): what a
        # simulated client loads too (checked the same way).
        dtype = device.dtype(devices[pid]) if pid in devices else "float32"
        net = task.new_network(device=pid in devices, seed=recipe.seed, lr=recipe.lr, dtype=dtype)
        net.set_parameters(msg.content["arrays"].to_numpy_ndarrays()[0])
        global_blob = net.to_blob()
        # f32 on both sides: the values the firmware parses from its header.
        lr, mu = float(np.float32(recipe.lr)), float(np.float32(mu))
        # Every reply carries the same keys (Flower aggregates them).
        # "device": 0 for a simulated client, else the board's number in
        # device.BOARDS (1, 2, ...).
        board_no = list(device.BOARDS).index(devices[pid]) + 1 if pid in devices else 0
        metrics = {"num-examples": len(rows), "device": board_no, "instructions-per-step": 0}
        t0 = time.perf_counter()
        if pid in devices:
            reply = device.run_round(devices[pid], global_blob, train_index[order], lr, mu)
            net.load_blob(reply.blob)
            metrics.update(
                {"train-loss": reply.mean_loss, "instructions-per-step": reply.instructions_per_step}
            )
        else:
            net.lr = lr
            metrics["train-loss"] = task.local_round(net, global_blob, x, y, order, mu)
        metrics["seconds"] = time.perf_counter() - t0
        content = RecordDict({"arrays": to_arrays(net), "metrics": MetricRecord(metrics)})
        return Message(content=content, reply_to=msg)

    return app


def _array_bytes(record: ArrayRecord) -> int:
    """Bytes of a record's arrays as Flower carries them (``.npy``)."""
    return sum(len(a.data) for a in record.values())


def _order(m: Message) -> tuple:
    """A reply's place in the aggregation order (failed replies first)."""
    if m.has_error():
        return (0, 0.0, 0)
    met = m.content["metrics"]
    return (1, float(met["train-loss"]), int(met["num-examples"]))


def counting(base):
    """``base`` (a Flower strategy) that also counts the bytes of model
    arrays sent to and received from clients, per round."""

    class Counting(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.traffic: dict[int, dict[str, int]] = {}
            self.device_metrics: dict[int, list[dict]] = {}

        def _count(self, rnd: int, key: str, msgs) -> list:
            msgs = list(msgs)
            t = self.traffic.setdefault(rnd, {"down": 0, "up": 0, "replies": 0, "failures": 0})
            for m in msgs:
                if m.has_error():
                    t["failures"] += 1
                    continue
                if key == "up":
                    t["replies"] += 1
                    met = m.content["metrics"]
                    if met.get("device", 0):
                        self.device_metrics.setdefault(rnd, []).append(dict(met))
                for rec in m.content.array_records.values():
                    t[key] += _array_bytes(rec)
            return msgs

        def configure_train(self, server_round, arrays, config, grid):
            return self._count(server_round, "down", super().configure_train(server_round, arrays, config, grid))

        def aggregate_train(self, server_round, replies):
            # Replies come in the order the clients finish; the weighted
            # mean's float sums would then differ from run to run. In a
            # fixed order (each reply's own loss and size, which depend only
            # on the client and the global model) a run repeats exactly.
            replies = sorted(self._count(server_round, "up", replies), key=_order)
            return super().aggregate_train(server_round, replies)

    return Counting


def make_server_app(num_clients: int, num_rounds: int, strategy: str, recipe: task.Recipe, out: dict) -> ServerApp:
    """The ServerApp: ``strategy`` is ``"fedavg"`` or ``"fedprox"``
    (``recipe.mu``). Every client trains every round; the global model is
    evaluated on the held-out digits after each round. Results go into
    ``out`` (the ServerApp runs in the caller's process)."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        common = dict(
            fraction_train=1.0,
            fraction_evaluate=0.0,
            min_train_nodes=num_clients,
            min_evaluate_nodes=0,
            min_available_nodes=num_clients,
        )
        if strategy == "fedprox":
            s = counting(FedProx)(proximal_mu=recipe.mu, **common)
        else:
            s = counting(FedAvg)(**common)
        _, _, _, xt, yt = task.data()
        evaluator = task.new_network(seed=recipe.seed)
        initial = to_arrays(evaluator)

        def evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord:
            evaluator.set_parameters(arrays.to_numpy_ndarrays()[0])
            e = evaluator.evaluate(xt, yt)
            return MetricRecord({"accuracy": e.accuracy, "loss": e.loss})

        result = s.start(
            grid=grid,
            initial_arrays=initial,
            num_rounds=num_rounds,
            train_config=ConfigRecord({}),
            evaluate_fn=evaluate,
        )
        out["result"] = result
        out["traffic"] = s.traffic
        out["device_metrics"] = s.device_metrics

    return app
