#!/usr/bin/env bash
# The performance table of the `bench` example: instructions per
# multiply-accumulate (gemm kernels, forward, backward), fused SGD's arena,
# and libm vs micromath per element, read from its log.
#
#   bash firmware-examples/bench-table.sh              # runs the bench on M4F first
#   bash firmware-examples/bench-table.sh --from-logs  # only reads target/logs/*-bench.log
#
# Counts come from SysTick under QEMU's -icount shift=0 (see lib.rs Meter);
# nothing here is a pass/fail threshold.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ ${1:-} != --from-logs ]]; then
    EXAMPLES=bench bash "$here/run.sh" thumbv7em-none-eabihf >&2
fi
shopt -s nullglob
for log in "$here"/target/logs/*-bench.log; do
    echo "### $(basename "$log" .log)"
    grep -E 'INFO  (gemm|step|fused|activations)' "$log" | sed 's/^INFO  /- /; s/  (bench.rs.*$//'
done
