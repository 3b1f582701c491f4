#!/usr/bin/env bash
# Peer comparison: training steps per second (forward + softmax CE + backward
# + SGD, f32) for 64-32-10 batch 32, 64-32-10 batch 1, 784-128-10 batch 32
# and the BasicMotions 1-D CNN (6 channels x 100 steps, conv-relu-maxpool-
# conv-relu-global average-dense) at batch 8 and 32, every implementation
# pinned to one core with single-threaded math libraries. Prints a markdown
# table with the ratios microprop / JAX and microprop / best peer.
#
#   bash benches/peers/run.sh            # build (release, target-cpu=native) and measure
#   CORE=0 bash benches/peers/run.sh     # pin to another core
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
trap 'rm -f "$out"' EXIT
for bin in microprop candle burn; do
  if cargo build --release --quiet --bin "$bin" >&2; then
    pin ./target/release/"$bin" >>"$out" || echo "$bin	all	failed" >>"$out"
  else
    echo "$bin	all	build failed" >>"$out"
  fi
done
for py in numpy_step jax_step torch_step; do
  (cd py && pin python3 "$py.py") >>"$out" 2>/dev/null || echo "${py%_step}	all	not installed" >>"$out"
done

python3 - "$out" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
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
print("| impl | " + " | ".join(shapes) + " |")
print("|---|" + "---:|" * len(shapes))
for impl in impls:
    cells = [fmt(rate.get((impl, s), rate.get((impl, "all"), "–"))) for s in shapes]
    print(f"| {impl} | " + " | ".join(cells) + " |")
def num(impl, s):
    try:
        return float(rate[(impl, s)])
    except (KeyError, ValueError):
        return None
def ours(s):
    rates = [r for r in (num(i, s) for i in MICROPROP) if r is not None]
    return max(rates) if rates else None
jax = next((i for i in impls if i.startswith("JAX")), None)
if jax:
    cells = []
    for s in shapes:
        mine, theirs = ours(s), num(jax, s)
        cells.append(f"{mine / theirs:.1f}×" if mine and theirs else "–")
    print("| **microprop (best of SGD, fused SGD) / JAX** | " + " | ".join(cells) + " |")
cells = []
for s in shapes:
    peers = [(r, i) for i in impls if not i.startswith("microprop") for r in [num(i, s)] if r]
    mine = ours(s)
    if mine and peers:
        r, i = max(peers)
        cells.append(f"{mine / r:.1f}× ({i.split(' ')[0]})")
    else:
        cells.append("–")
print("| **microprop (best of SGD, fused SGD) / best peer** | " + " | ".join(cells) + " |")
PY
