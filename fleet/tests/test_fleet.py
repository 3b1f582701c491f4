"""The fleet's shards, and its device clients against the host.

The device tests run the fleet firmware under QEMU; without
qemu-system-arm or the thumb targets they report themselves skipped (and
fail under CI=true, where they must run)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import pathlib

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import microprop  # noqa: E402
from microprop_fleet import device, task  # noqa: E402


@pytest.mark.parametrize("n", [5, 20])
def test_shards_are_non_iid_disjoint_and_cover(n):
    x, y, _, _, _ = task.data()
    shards = task.partition(y, n)
    rows = np.concatenate(shards)
    assert len(rows) == len(np.unique(rows)) == len(y)
    for c, s in enumerate(shards):
        held = set(y[s].tolist())
        assert 2 <= len(held) <= 3, (c, held)
        assert held == set(task.client_classes(n)[c])


@pytest.fixture(scope="module")
def firmware():
    missing = [t for t in ("qemu-system-arm", "cargo") if shutil.which(t) is None]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the device clients; missing {missing}")
        pytest.skip(f"no {missing}: the device clients cannot run here")
    try:
        device.build(["m4f", "m33", "m0"])
    except subprocess.CalledProcessError as e:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"the fleet firmware does not build here ({e})")


def _round_inputs(seed=3):
    x, y, train_index, _, _ = task.data()
    shard = task.partition(y, 20)[5]
    order = task.visiting_order(shard, 2, seed, 5, 1)
    g = microprop.Network(task.SPEC, batch=32, lr=0.1, seed=seed)
    # A global model that has learned something, so the round moves it.
    for i in range(0, 640, 32):
        g.train_step(x[i : i + 32], y[i : i + 32])
    return x, y, train_index, order, g.to_blob()


def _device_blob(board, blob):
    """The global model as ``board`` receives it: the M0 speaks fixed-point
    blobs (the model rounded to Q10), the others f32."""
    if device.dtype(board) != "q10":
        return blob
    q = task.new_network(device=True, dtype="q10")
    q.load_blob(blob)
    fixed = q.to_blob()
    assert len(fixed) == 20 + 2 * q.param_count
    return fixed


@pytest.mark.parametrize("board", ["m4f", "m33", "m0"])
@pytest.mark.parametrize("mu", [0.0, 0.1])
def test_device_round_is_the_hosts_bit_for_bit(firmware, board, mu):
    x, y, train_index, order, blob = _round_inputs()
    dtype = device.dtype(board)
    blob = _device_blob(board, blob)
    lr = float(np.float32(0.05))
    reply = device.run_round(board, blob, train_index[order], lr, mu)
    assert reply.steps == len(order) > 100
    host = task.new_network(device=True, lr=lr, dtype=dtype)
    loss = task.local_round(host, blob, x, y, order, float(np.float32(mu)))
    assert host.to_blob() == reply.blob
    assert reply.mean_loss == pytest.approx(loss, rel=1e-5)
    assert reply.blob != blob
    # Only the last layer moved (the partial update).
    before, after = task.new_network(), task.new_network()
    before.load_blob(blob)
    after.load_blob(reply.blob)
    first = 64 * 32 + 32
    assert np.array_equal(before.parameters()[:first], after.parameters()[:first])
    assert not np.array_equal(before.parameters()[first:], after.parameters()[first:])


@pytest.mark.parametrize("board", ["m4f", "m0"])
def test_device_refuses_a_corrupt_global_model(firmware, board):
    _, _, train_index, order, blob = _round_inputs()
    bad = bytearray(_device_blob(board, blob))
    bad[100] ^= 0x04
    with pytest.raises(device.DeviceError) as e:
        device.run_round(board, bytes(bad), train_index[order], 0.05, 0.0)
    if (device.FIRMWARE / "target" / "defmt-decode").exists():
        assert "the global model failed" in str(e.value) and "Crc" in str(e.value)


def test_host_refuses_a_corrupt_update(firmware):
    _, _, train_index, order, blob = _round_inputs()
    with pytest.raises(microprop.CrcError):
        device.run_round("m4f", blob, train_index[order[:20]], 0.05, 0.0, corrupt_update=True)
