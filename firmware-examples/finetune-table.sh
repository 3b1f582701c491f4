#!/usr/bin/env bash
# Print docs/finetuning.md's variant table from the `finetune` firmware's
# VARIANT lines (issue 14): one QEMU run per board measures every variant.
#
#   bash firmware-examples/finetune-table.sh              # runs finetune on M4F and M0 first
#   bash firmware-examples/finetune-table.sh --from-logs  # reads target/logs/*-finetune.log (run.sh's)
#
# MICROPROP_PRETRAINED_BLOB=path works as for the firmware (another blob).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"
logs=target/logs
if [[ ${1:-} != --from-logs ]]; then
    mkdir -p "$logs"
    [[ -x target/defmt-decode ]] || bash build-decoder.sh >&2
    for t in thumbv7em-none-eabihf thumbv6m-none-eabi; do
        start=$SECONDS
        cargo run -q --release --target "$t" --bin finetune >"$logs/$t-finetune.log" 2>&1 ||
            { cat "$logs/$t-finetune.log" >&2; echo "finetune-table.sh: finetune failed on $t" >&2; exit 1; }
        echo "finetune on $t: $((SECONDS - start)) s (QEMU, build included)" >&2
    done
fi
shopt -s nullglob
files=("$logs"/*-finetune.log)
((${#files[@]})) || { echo "finetune-table.sh: no $logs/*-finetune.log" >&2; exit 1; }
echo "| board | variant | trained parameters | shifted test | unshifted held-out | arena | static RAM | instructions / step | steps |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
grep -h 'VARIANT finetune ' "${files[@]}" | sed 's/^.*VARIANT finetune //; s/  (.*$//' | awk '
function commas(n,   s) { s = sprintf("%d", n); while (s ~ /[0-9][0-9][0-9][0-9]/) sub(/[0-9][0-9][0-9]($|,)/, ",&", s); return s }
{
    delete f
    for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    border = (f["cpu"] ~ /M4F/ ? 1 : f["cpu"] ~ /M0/ ? 2 : f["cpu"] ~ /M33/ ? 3 : 4)
    name = f["variant"]
    if (f["lambda"] + 0 > 0) name = name " (λ " f["lambda"] + 0 ")"
    printf "%d%02d| %s (%s) | %s | %s | %.3f | %.3f | %s B | %s B | %s | %s |\n", border, NR, f["board"], f["cpu"], name,
        commas(f["trained_params"]), f["shifted"], f["unshifted"], commas(f["arena"]), commas(f["static_ram"]),
        commas(f["instr_per_step"]), commas(f["steps"])
}' | sort | cut -c4-
