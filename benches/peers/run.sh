#!/usr/bin/env bash
# Peer comparison: training steps per second (forward + softmax CE + backward
# + SGD, f32) for 64-32-10 batch 32, 64-32-10 batch 1, 784-128-10 batch 32
# and the BasicMotions 1-D CNN (6 channels x 100 steps, conv-relu-maxpool-
# conv-relu-global average-dense) at batch 8 and 32, every implementation
# pinned to one core with single-threaded math libraries. Prints a markdown
# table with the ratios microprop / JAX and microprop / best peer, then the
# single-core f32 FMA peak (src/bin/fma_peak.rs) and a second table: each
# shape's flops per training step and each implementation's Gflop/s and % of
# that peak (formulas in README.md).
#
#   bash benches/peers/run.sh            # build (release, target-cpu=native) and measure
#   CORE=0 bash benches/peers/run.sh     # pin to another core
#   TORCH_PYTHON=/work/torchvenv/bin/python bash benches/peers/run.sh
#                                        # PyTorch from another interpreter (a venv)
#
# Not part of the default build or CI: this is its own cargo workspace
# (excluded from the root one) because burn and candle take minutes to build.
set -euo pipefail
cd "$(dirname "$0")"
CORE=${CORE:-1}
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 RAYON_NUM_THREADS=1
export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
export JAX_PLATFORMS=cpu
pin() { taskset -c "$CORE" "$@"; }

out=$(mktemp)
peak=$(mktemp)
trap 'rm -f "$out" "$peak"' EXIT
if cargo build --release --quiet --bin fma_peak >&2; then
  pin ./target/release/fma_peak >"$peak" || true
fi
for bin in microprop candle burn; do
  if cargo build --release --quiet --bin "$bin" >&2; then
    pin ./target/release/"$bin" >>"$out" || echo "$bin	all	failed" >>"$out"
  else
    echo "$bin	all	build failed" >>"$out"
  fi
done
for py in numpy_step jax_step jax_scan; do
  (cd py && pin python3 "$py.py") >>"$out" 2>/dev/null || echo "${py}	all	not installed" >>"$out"
done
(cd py && pin "${TORCH_PYTHON:-python3}" torch_step.py) >>"$out" 2>/dev/null ||
  echo "PyTorch	all	not installed" >>"$out"

python3 - "$out" "$peak" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
peaks = [l.rstrip("\n").split("\t") for l in open(sys.argv[2]) if l.strip()]
shapes = ["64-32-10 batch 32", "64-32-10 batch 1", "784-128-10 batch 32",
          "BasicMotions CNN batch 8", "BasicMotions CNN batch 32"]
MICROPROP = ("microprop", "microprop fused SGD")
impls, rate = [], {}
for impl, shape, r in rows:
    if impl not in impls:
        impls.append(impl)
    rate[(impl, shape)] = r
def fmt(v):
    try:
        return f"{float(v):,.0f}"
    except ValueError:
        return v
def num(impl, s):
    try:
        return float(rate[(impl, s)])
    except (KeyError, ValueError):
        return None
def ours(s):
    rates = [r for r in (num(i, s) for i in MICROPROP) if r is not None]
    return max(rates) if rates else None
def short(impl):
    return "JAX scan" if "lax.scan" in impl else impl.split(" ")[0]
def ratio_rows():
    out = []
    for label, peer in [("JAX jit per step", lambda i: i.startswith("JAX") and "lax.scan" not in i),
                        ("JAX lax.scan", lambda i: "lax.scan" in i)]:
        jax = next((i for i in impls if peer(i)), None)
        if jax:
            cells = []
            for s in shapes:
                mine, theirs = ours(s), num(jax, s)
                cells.append(f"{mine / theirs:.2f}×" if mine and theirs else "–")
            out.append(f"| **microprop (best of SGD, fused SGD) / {label}** | " + " | ".join(cells) + " |")
    cells = []
    for s in shapes:
        peers = [(r, i) for i in impls if not i.startswith("microprop") for r in [num(i, s)] if r]
        mine = ours(s)
        if mine and peers:
            r, i = max(peers)
            cells.append(f"{mine / r:.2f}× ({short(i)})")
        else:
            cells.append("–")
    out.append("| **microprop (best of SGD, fused SGD) / best peer** | " + " | ".join(cells) + " |")
    return out

print("Training steps per second:")
print()
print("| impl | " + " | ".join(shapes) + " |")
print("|---|" + "---:|" * len(shapes))
for impl in impls:
    cells = [fmt(rate.get((impl, s), rate.get((impl, "all"), "–"))) for s in shapes]
    print(f"| {impl} | " + " | ".join(cells) + " |")
for line in ratio_rows():
    print(line)

# Flops of one training step, matrix products only (README.md): a dense
# layer in -> out at batch b costs 2*b*in*out forward, as much again for the
# weight gradient and again for the input gradient, except the first layer's;
# a convolution counts as the gemm 2*b*positions*(c_in*k)*c_out.
def dense_net(b, widths):
    layers = list(zip(widths, widths[1:]))
    return sum((2 if n == 0 else 3) * 2 * b * i * o for n, (i, o) in enumerate(layers))
def cnn(b):
    conv1 = 2 * b * 100 * (6 * 5) * 8     # 6 -> 8 channels, k 5, 100 positions
    conv2 = 2 * b * 50 * (8 * 5) * 8      # 8 -> 8 channels, k 5, 50 positions
    dense = 2 * b * 8 * 4                 # 8 -> 4
    return 2 * conv1 + 3 * conv2 + 3 * dense
flops = {
    "64-32-10 batch 32": dense_net(32, [64, 32, 10]),
    "64-32-10 batch 1": dense_net(1, [64, 32, 10]),
    "784-128-10 batch 32": dense_net(32, [784, 128, 10]),
    "BasicMotions CNN batch 8": cnn(8),
    "BasicMotions CNN batch 32": cnn(32),
}
peak = None
print()
for _, what, gf in peaks:
    print(f"Single-core f32 FMA peak, {what}: {gf} Gflop/s")
    if peak is None:
        try:
            peak = float(gf)
        except ValueError:
            pass
print()
print("Gflop/s (and % of the " + (f"{peak:.1f} Gflop/s ymm FMA peak" if peak else "FMA peak") + "):")
print()
print("| impl | " + " | ".join(shapes) + " |")
print("|---|" + "---:|" * len(shapes))
print("| flops per step | " + " | ".join(f"{flops[s]:,}" for s in shapes) + " |")
for impl in impls:
    cells = []
    for s in shapes:
        r = num(impl, s)
        if r is None:
            cells.append(rate.get((impl, s), rate.get((impl, "all"), "–")))
            continue
        g = r * flops[s] / 1e9
        cells.append(f"{g:.2f} ({100 * g / peak:.1f} %)" if peak else f"{g:.2f}")
    print(f"| {impl} | " + " | ".join(cells) + " |")
for line in ratio_rows()[-1:]:
    print(line)
PY
