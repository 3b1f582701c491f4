#!/usr/bin/env bash
# Print the markdown table of flash, static RAM, peak stack and instructions
# per training step for every example × board.
#
#   bash firmware-examples/table.sh              # runs run.sh first (logs to stderr)
#   bash firmware-examples/table.sh --from-logs  # only reads target/logs/*.log
#   ... --write FILE                              # also writes FILE: docs/firmware.md
#
# The numbers come from the firmware itself (its METRIC line): flash and
# static RAM from the linker's symbols, peak stack from the painted stack,
# instructions per step from SysTick under QEMU's -icount shift=0.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
from_logs=0 write=
while (($#)); do
    case $1 in
    --from-logs) from_logs=1 ;;
    --write) write=$2; shift ;;
    *) echo "table.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
if ((!from_logs)); then
    bash "$here/run.sh" >&2
fi
shopt -s nullglob
logs=("$here"/target/logs/*.log)
((${#logs[@]})) || { echo "table.sh: no logs in $here/target/logs: run run.sh" >&2; exit 1; }
table() {
echo "| example | board (CPU) | flash | static RAM B (arena) | peak stack | batch | instructions / step | check |"
echo "|---|---|---:|---:|---:|---:|---:|---|"
grep -h 'METRIC ' "${logs[@]}" | sed 's/^.*METRIC //; s/  (.*$//' | awk '
function commas(n,   s) { s = sprintf("%d", n); while (s ~ /[0-9][0-9][0-9][0-9]/) sub(/[0-9][0-9][0-9]($|,)/, ",&", s); return s }
function kib(n) { return sprintf("%.1f KiB", n / 1024) }
{
    delete f; chk = ""
    for (i = 1; i <= NF; i++) {
        split($i, kv, "="); f[kv[1]] = kv[2]
        if (kv[1] ~ /loss|accuracy|mistakes|saves/) chk = kv[1] " " kv[2]
    }
    e = f["example"]; sub(/-(q|f32)$/, "", e)
    order = (e == "xor" ? 1 : e == "perceptron" ? 2 : e == "digits" ? 3 : e == "sensor" ? 4 : e == "finetune" ? 5 : e == "bench" ? 7 : 6)
    border = (f["cpu"] ~ /M4F/ ? 1 : f["cpu"] ~ /M0/ ? 2 : f["cpu"] ~ /M33/ ? 3 : 4)
    printf "%d%d| %s | %s (%s) | %s | %s (%s) | %s B | %s | %s | %s%s |\n", order, border, f["example"], f["board"], f["cpu"], kib(f["flash"]), \
        commas(f["static_ram"]), commas(f["arena"]), commas(f["stack"]), f["batch"], commas(f["instr_per_step"]), \
        chk, (f["passed"] == "true" ? "" : " **FAILED**")
}' | sort | cut -c3-
}

if [[ -n $write ]]; then
    {
        echo "# Firmware examples: flash, RAM, stack and instructions per step"
        echo
        echo "Written by \`bash firmware-examples/table.sh --write docs/firmware.md\`"
        echo "(every example on every board under QEMU; \`--from-logs\` reuses the logs of"
        echo "the last \`run.sh\`). Flash and static RAM come from the linker's symbols,"
        echo "peak stack from the painted stack, instructions per training step from"
        echo "SysTick under QEMU's \`-icount shift=0\` (SysTick counts in steps of 40"
        echo "instructions, so a per-step mean over few steps moves by a few). How each"
        echo "example is built and checked: [firmware-examples/README.md](../firmware-examples/README.md)."
        echo
        table
    } >"$write"
    echo "table.sh: wrote $write" >&2
fi
table
