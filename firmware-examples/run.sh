#!/usr/bin/env bash
# Build every example for every board and run each under QEMU.
#
#   bash firmware-examples/run.sh [TARGET...]
#
# Default targets: thumbv7em-none-eabihf (mps2-an386, Cortex-M4F),
# thumbv6m-none-eabi (micro:bit, Cortex-M0, 16 KiB RAM) and
# thumbv8m.main-none-eabihf (mps2-an505, Cortex-M33). Each example must end
# QEMU with exit 0; the crash-* self-tests must end it with exit 1 after
# logging the panic / HardFault. Decoded logs go to stdout and to
# target/logs/<target>-<example>.log (table.sh reads them). Exits 1 if
# anything failed. EXAMPLES="xor digits" runs a subset.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"
if (($#)); then targets=("$@"); else
    targets=(thumbv7em-none-eabihf thumbv6m-none-eabi thumbv8m.main-none-eabihf)
fi
read -r -a examples <<<"${EXAMPLES:-xor xor-q perceptron digits digits-q digits-f32 sensor finetune finetune-q checkpoint bench motions}"
crashes=(crash-panic:'ERROR panic: panicked at' crash-hardfault:'ERROR HardFault: pc=')
logs=target/logs
rm -rf "$logs"
mkdir -p "$logs"
[[ -x target/defmt-decode ]] || bash build-decoder.sh || exit 1

summary=()
failed=0
record() { # target name rc seconds verdict
    summary+=("$(printf '%-26s %-16s rc=%-3s %6ss  %s' "$@")")
    [[ $5 == PASS ]] || failed=1
}
for t in "${targets[@]}"; do
    echo "=== build $t"
    if ! cargo build --release --target "$t" --bins; then
        record "$t" "(build)" - - FAIL
        continue
    fi
    for e in "${examples[@]}"; do
        echo "=== run $e on $t"
        start=$SECONDS
        cargo run -q --release --target "$t" --bin "$e" 2>&1 | tee "$logs/$t-$e.log"
        rc=${PIPESTATUS[0]}
        verdict=FAIL
        ((rc == 0)) && grep -q "^INFO  PASS $e" "$logs/$t-$e.log" && verdict=PASS
        record "$t" "$e" "$rc" $((SECONDS - start)) $verdict
    done
    for c in "${crashes[@]}"; do
        e=${c%%:*} want=${c#*:}
        echo "=== run $e on $t (must fail with exit 1)"
        start=$SECONDS
        cargo run -q --release --target "$t" --bin "$e" 2>&1 | tee "$logs/$t-$e.log"
        rc=${PIPESTATUS[0]}
        verdict=FAIL
        ((rc == 1)) && grep -qF "$want" "$logs/$t-$e.log" && verdict=PASS
        record "$t" "$e" "$rc" $((SECONDS - start)) $verdict
    done
done
echo "=== summary"
printf '%s\n' "${summary[@]}"
if ((failed)); then echo "run.sh: FAILED"; exit 1; fi
echo "run.sh: all passed"
