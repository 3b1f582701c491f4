#!/usr/bin/env bash
# Cargo runner: qemu-run.sh MACHINE CPU ELF
#
# Runs a firmware ELF on a QEMU Cortex-M board with semihosting (the
# firmware's exit code becomes QEMU's), `-icount shift=0` (SysTick counts
# executed instructions, deterministically) and a timeout (never hang), and
# decodes its defmt log with defmt-decode (built by build-decoder.sh).
# The exit status is QEMU's: 0 only if the firmware's check held; 124 on
# timeout.
#
# Environment: QEMU_TIMEOUT (seconds, default 300), DEFMT_DECODE (decoder
# binary; default the one build-decoder.sh builds, else defmt-print, else
# build-decoder.sh is run first).
set -euo pipefail
machine=$1 cpu=$2 elf=$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
decoder=${DEFMT_DECODE:-$here/target/defmt-decode}
if [[ -x $decoder ]]; then
    decode=("$decoder" "$elf")
elif command -v defmt-print >/dev/null; then
    decode=(defmt-print -e "$elf")
else
    echo "qemu-run.sh: building the defmt decoder first (once, ~1.5 min)" >&2
    bash "$here/build-decoder.sh"
    decode=("$decoder" "$elf")
fi
echo "qemu-run.sh: $(basename "$elf") on $machine ($cpu)" >&2
timeout --foreground -k 5 "${QEMU_TIMEOUT:-300}" \
    qemu-system-arm -machine "$machine" -cpu "$cpu" -nographic -monitor none -serial none \
        -semihosting-config enable=on,target=native -icount shift=0 \
        -kernel "$elf" \
    | "${decode[@]}"
