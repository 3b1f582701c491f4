"""A fleet client that is a microcontroller: the ``fleet`` firmware
(``firmware-examples/src/bin/fleet.rs``) under QEMU.

The ClientApp writes ``fleet-in.bin`` (a header, the images to train on in
order, the global model as a device blob) into a fresh directory, starts
QEMU there, and the firmware reads it over semihosting. The firmware
checks the blob (CRC-32 included) before using it, trains its partial
update, and writes the update back as a blob to ``fleet-out.bin``; the
ClientApp checks that blob before the update leaves for the server. A
corrupt blob is refused on both sides: the firmware exits 1 without an
update, the host raises :class:`microprop.CrcError`.
"""

from __future__ import annotations

import dataclasses
import pathlib
import struct
import subprocess
import tempfile

import numpy as np

import microprop

from . import task

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware-examples"
#: The boards a device client can be: (QEMU machine, CPU, rustup target,
#: the element it trains in, the most local steps per round: the
#: firmware's ``E`` and ``MAX_STEPS``).
BOARDS = {
    "m4f": ("mps2-an386", "cortex-m4", "thumbv7em-none-eabihf", "float32", 1024),
    "m33": ("mps2-an505", "cortex-m33", "thumbv8m.main-none-eabihf", "float32", 1024),
    "m0": ("microbit", "cortex-m0", "thumbv6m-none-eabi", "q10", 512),
}


class DeviceError(RuntimeError):
    """The firmware ended with failure (its log says why)."""


def elf(board: str) -> pathlib.Path:
    """The fleet firmware for ``board`` (built by ``build``)."""
    return FIRMWARE / "target" / BOARDS[board][2] / "release" / "fleet"


def build(boards) -> None:
    """Build the fleet firmware for ``boards`` (a no-op when up to date)."""
    for b in sorted(set(boards)):
        subprocess.run(
            ["cargo", "build", "--quiet", "--release", "--bin", "fleet", "--target", BOARDS[b][2]],
            cwd=FIRMWARE,
            check=True,
        )


def dtype(board: str) -> str:
    """The element ``board`` trains in (``"float32"`` or ``"q10"``)."""
    return BOARDS[board][3]


def request(board: str, global_blob: bytes, images: np.ndarray, lr: float, mu: float) -> bytes:
    """The bytes of ``fleet-in.bin`` (layout: ``fleet.rs``)."""
    images = np.asarray(images)
    cap = BOARDS[board][4]
    if len(images) > cap:
        raise ValueError(f"{len(images)} local steps; the fleet firmware on {board} takes at most {cap} per round")
    if len(images) and (images.min() < 0 or images.max() > 0xFFFF):
        raise ValueError("image indices must fit u16")
    head = b"MPFL" + struct.pack("<HHff", 1, len(images), lr, mu)
    return head + images.astype("<u2").tobytes() + global_blob


@dataclasses.dataclass
class Reply:
    """What a device sends back from one round."""

    blob: bytes
    steps: int
    instructions_per_step: int
    mean_loss: float
    log: str


def decode_log(board: str, raw: bytes) -> str:
    """The firmware's defmt log as text (when the decoder is built)."""
    decoder = FIRMWARE / "target" / "defmt-decode"
    if not decoder.exists():
        return f"({len(raw)} bytes of defmt frames; build firmware-examples/build-decoder.sh to read them)"
    r = subprocess.run([str(decoder), str(elf(board))], input=raw, capture_output=True, timeout=60)
    return r.stdout.decode(errors="replace")


def run_round(
    board: str,
    global_blob: bytes,
    images: np.ndarray,
    lr: float,
    mu: float,
    *,
    timeout: float = 120,
    corrupt_update: bool = False,
) -> Reply:
    """One round on a device: send the global model, train, bring the
    update back, CRC-checked. ``corrupt_update`` flips one bit of the
    device's reply before the host checks it (the test of the host side)."""
    machine, cpu = BOARDS[board][:2]
    with tempfile.TemporaryDirectory(prefix="fleet-") as d:
        wd = pathlib.Path(d)
        (wd / "fleet-in.bin").write_bytes(request(board, global_blob, images, lr, mu))
        r = subprocess.run(
            [
                "qemu-system-arm", "-machine", machine, "-cpu", cpu, "-nographic",
                "-monitor", "none", "-serial", "none",
                "-semihosting-config", "enable=on,target=native", "-icount", "shift=0",
                "-kernel", str(elf(board)),
            ],
            cwd=wd,
            capture_output=True,
            timeout=timeout,
        )
        log = decode_log(board, r.stdout)
        if r.returncode != 0:
            raise DeviceError(f"{board} firmware exited {r.returncode}:\n{log}")
        blob = (wd / "fleet-out.bin").read_bytes()
        steps, per_step, loss = struct.unpack("<IIf", (wd / "fleet-stats.bin").read_bytes())
    if corrupt_update:
        b = bytearray(blob)
        b[len(b) // 2] ^= 0x01
        blob = bytes(b)
    # The host side of the CRC check: a corrupt update raises CrcError and
    # never reaches the server.
    microprop.check_blob(task.SPEC, blob)
    return Reply(blob, steps, per_step, loss, log)
