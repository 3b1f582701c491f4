"""Federated learning of the digits with Flower's simulation engine.

    python fleet/run.py                       # 20 clients (3 of them firmware under QEMU), FedAvg and FedProx, 50 rounds
    python fleet/run.py --ci                  # CI's short run: 5 clients, 3 devices, 3 rounds, asserted
    python fleet/run.py --write docs/fleet.md # the full run's tables, written for the docs

Each client holds 2 or 3 of the ten classes. Per round, every client
starts from the global model, trains it with batch-1 SGD on its shard
(the devices: the last layer only, on the M0 in Q10, the M4F and the M33
in f32, under QEMU), and
FedAvg (or FedProx) averages the updates, weighted by shard size. The
global model's accuracy on the held-out digits is measured after every
round, against the same model trained centrally and against each client
trained alone on its own shard.
"""

from __future__ import annotations

import argparse
import logging
import os
import pathlib
import sys
import time

os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from microprop_fleet import apps, device, task  # noqa: E402


def simulate(args, strategy: str, recipe: task.Recipe) -> dict:
    """One federated run in Flower's simulation engine (Ray)."""
    from flwr.simulation import run_simulation

    devices = {i: b for i, b in enumerate(args.devices)}
    out: dict = {}
    t0 = time.perf_counter()
    run_simulation(
        server_app=apps.make_server_app(args.clients, args.rounds, strategy, recipe, out),
        client_app=apps.make_client_app(args.clients, devices, recipe),
        num_supernodes=args.clients,
        backend_config={
            # One client per core: two Ray actors on this 2-core machine.
            "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
            "init_args": {"num_cpus": args.cpus, "num_gpus": 0, "logging_level": "ERROR", "log_to_driver": False},
        },
    )
    out["seconds"] = time.perf_counter() - t0
    if "result" not in out:
        raise SystemExit(f"the {strategy} simulation ended without a result (see Flower's log above)")
    res = out["result"]
    out["accuracy"] = [float(res.evaluate_metrics_serverapp[r]["accuracy"]) for r in range(args.rounds + 1)]
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--devices", nargs="*", default=["m0", "m4f", "m33"], choices=sorted(device.BOARDS),
                   help="boards of the firmware clients (partition 0, 1, ...); none: all simulated")
    p.add_argument("--rounds", type=int, default=50)
    p.add_argument("--strategies", nargs="+", default=["fedavg", "fedprox"], choices=["fedavg", "fedprox"])
    p.add_argument("--mu", type=float, default=0.1, help="FedProx's proximal mu")
    p.add_argument("--epochs", type=int, default=2, help="local epochs per round")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--cpus", type=int, default=os.cpu_count() or 2)
    p.add_argument("--ci", action="store_true", help="5 clients, 3 rounds, and assert the outcome")
    p.add_argument("--write", type=pathlib.Path, help="write the tables to this Markdown file")
    args = p.parse_args()
    if args.ci:
        args.clients, args.rounds, args.strategies = 5, 3, ["fedavg"]
    logging.getLogger("flwr").setLevel(logging.ERROR)
    t_start = time.perf_counter()
    if args.devices:
        device.build(args.devices)

    runs = {}
    for s in args.strategies:
        recipe = task.Recipe(epochs=args.epochs, lr=args.lr, mu=args.mu if s == "fedprox" else 0.0)
        runs[s] = simulate(args, s, recipe)
        print(f"{s}: {args.clients} clients, {args.rounds} rounds in {runs[s]['seconds']:.1f} s; "
              f"global accuracy per round {[round(a, 4) for a in runs[s]['accuracy']]}", flush=True)

    # Baselines, same recipe: all data in one place for as many epochs as a
    # client trains in the whole run; each client alone on its shard.
    recipe = task.Recipe(epochs=args.epochs, lr=args.lr)
    total_epochs = args.rounds * args.epochs
    central = task.centralized(total_epochs, recipe)
    x, y, _, xt, yt = task.data()
    shards = task.partition(y, args.clients)
    local = [task.train_alone(x, y, shards[c], total_epochs, recipe, c).evaluate(xt, yt).accuracy
             for c in range(args.clients)]
    classes = task.client_classes(args.clients)
    print(f"centralized ({total_epochs} epochs): {central:.4f}; local-only: min {min(local):.4f}, "
          f"mean {np.mean(local):.4f}, max {max(local):.4f}")

    text = report(args, runs, central, local, classes, shards)
    print(text)
    if args.write:
        args.write.write_text(
            "# Fleet learning: measured\n\n"
            "Written by `python fleet/run.py --write docs/fleet.md` (Flower "
            "1.42 simulation engine on Ray, this machine's 2 cores); the "
            "README's \"Fleet learning\" section explains the setup.\n\n" + text
        )
    wall = time.perf_counter() - t_start
    print(f"fleet: {wall:.1f} s in all")
    if args.ci:
        return ci_verdict(args, runs["fedavg"], local, wall)
    return 0


def ci_verdict(args, run, local, wall) -> int:
    """CI's checks: every client replied every round (none failed, the
    devices among them), the global model beats every client's local-only
    model, and the whole run took at most 2 minutes."""
    failed = []
    final = run["accuracy"][-1]
    if not final > max(local):
        failed.append(f"global accuracy {final:.4f} does not beat the best local-only model {max(local):.4f}")
    for r in range(1, args.rounds + 1):
        t = run["traffic"].get(r, {})
        if t.get("replies") != args.clients or t.get("failures"):
            failed.append(f"round {r}: {t.get('replies')} replies, {t.get('failures')} failures, from {args.clients} clients")
        if len(run["device_metrics"].get(r, [])) != len(args.devices):
            failed.append(f"round {r}: {len(run['device_metrics'].get(r, []))} device replies, {len(args.devices)} devices")
    if wall > 120:
        failed.append(f"the run took {wall:.0f} s, more than 120 s")
    print(f"CI: global {final:.4f}, best local-only {max(local):.4f}; {args.clients} clients "
          f"({len(args.devices)} devices) replied in each of {args.rounds} rounds; {wall:.0f} s (limit 120 s)")
    for f in failed:
        print(f"CI: FAIL: {f}")
    print("CI: PASS" if not failed else "CI: FAILED")
    return 1 if failed else 0


def report(args, runs, central, local, classes, shards) -> str:
    """The Markdown tables."""
    s0 = next(iter(runs.values()))
    devs = ", ".join(f"partition {i}: {b.upper()} ({device.BOARDS[b][0]}, {device.dtype(b)})"
                     for i, b in enumerate(args.devices)) or "none"
    lines = [
        f"- {args.clients} clients, {args.rounds} rounds, every client every round; "
        f"each holds 2 or 3 classes ({', '.join('{' + ','.join(map(str, c)) + '}' for c in classes[:4])}, ... repeating), "
        f"{min(map(len, shards))}–{max(map(len, shards))} training images each.",
        f"- Local training per round: {args.epochs} epochs of batch-1 SGD, lr {args.lr}; "
        f"FedProx μ = {args.mu} (its proximal term as an L2-SP anchor on the global blob).",
        f"- Firmware clients under QEMU: {devs}; they train the last layer only (330 of 2,410 parameters).",
        f"- Centralized, same model and recipe, {args.rounds * args.epochs} epochs on all 1,438 training images: **{central:.4f}**.",
        f"- Each client alone on its own shard for as many epochs: min {min(local):.4f}, "
        f"mean {np.mean(local):.4f}, max {max(local):.4f} (a client only knows its classes).",
        "",
    ]
    def table(rounds):
        out = ["| round | " + " | ".join(f"{s} accuracy" for s in runs) + " | model bytes down | model bytes up |",
               "|" + "---:|" * (3 + len(runs))]
        for r in rounds:
            t = s0["traffic"].get(r, {"down": 0, "up": 0})
            accs = " | ".join(f"{run['accuracy'][r]:.4f}" for run in runs.values())
            out.append(f"| {r} | {accs} | {t['down']:,} | {t['up']:,} |")
        return out

    every = list(range(args.rounds + 1))
    selected = [r for r in every if r <= 10 or r % 5 == 0 or r == args.rounds]
    if selected != every:
        lines += ["Selected rounds:", ""] + table(selected) + ["", "Every round:", ""]
    lines += table(every)
    lines.append("")
    lines.append("Round 0 is the initial model. Bytes are the model arrays Flower carries (`.npy`, float32, "
                 "each way per round, all clients); a device's blob on the semihosting channel is "
                 f"{len(task.new_network().to_blob()):,} bytes each way (f32), "
                 f"{len(task.new_network(device=True, dtype='q10').to_blob()):,} for the M0 (Q10).")
    dm = s0.get("device_metrics", {})
    boards = list(device.BOARDS)
    for no, b in enumerate(boards, 1):
        per = [m["instructions-per-step"] for ms in dm.values() for m in ms if m["device"] == no]
        if per:
            lines.append(f"Device training step on the {b.upper()} ({device.dtype(b)}, batch 1, last layer, under QEMU): "
                         f"{int(np.median(per)):,} instructions (median over {len(per)} rounds).")
    lines.append("Wall time per run: " + ", ".join(f"{s} {run['seconds']:.0f} s" for s, run in runs.items()) + ".")
    lines += ["", "Each client alone (its shard, the same recipe, as many epochs), on the same test set:", "",
              "| client | classes | training images | local-only accuracy |", "|---:|---|---:|---:|"]
    for c, acc in enumerate(local):
        kind = f" ({args.devices[c].upper()})" if c < len(args.devices) else ""
        lines.append(f"| {c}{kind} | {','.join(map(str, classes[c]))} | {len(shards[c])} | {acc:.4f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
