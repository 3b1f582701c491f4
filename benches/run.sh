#!/usr/bin/env bash
# Host benches with this machine's vector units (FMA, AVX2/AVX-512): every
# gemm of the three target steps and the steps themselves, fast vs reference
# kernels (and fused SGD), criterion medians.
#
#   bash benches/run.sh                 # all CPU benches
#   bash benches/run.sh train_step      # a criterion filter
#
# Pinned to one core (CORE, default 1) like the peer harness
# (benches/peers/run.sh). Without target-cpu=native x86_64 builds for the
# baseline (SSE2, no FMA) and the fast kernels do a multiply and an add.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="${RUSTFLAGS:--C target-cpu=native}"
exec taskset -c "${CORE:-1}" cargo bench -p benches --bench cpu -- "$@"
